//! Starting the child: its own session, the terminal, a clean signal state,
//! and graceinit's environment.
//!
//! The child is started like `posix_spawn` starts one: `clone(CLONE_VM |
//! CLONE_VFORK)` on a small stack of its own, so nothing of graceinit's
//! memory is copied, and graceinit sleeps until the child has exec'd or
//! given up. Sharing the memory is what makes it cheap and what makes it
//! delicate: the child may only make raw system calls on what the parent
//! prepared (no allocation, no locks, no logging), and it reports an exec
//! failure by writing the errno into the parent's memory, so no pipe is
//! needed. The costs measured: docs/benchmarks-notes.md.

use std::ffi::{c_char, c_int, c_void, OsStr, OsString};
use std::io;
use std::mem::MaybeUninit;
use std::os::unix::ffi::OsStrExt;

use crate::error::Error;
use crate::signals;

extern "C" {
    /// glibc's environment block, which `std::env` reads and writes too.
    static environ: *const *const c_char;
}

/// Forks and execs `command`; returns the child's pid.
pub fn spawn(command: &[OsString]) -> Result<i32, Error> {
    let (program, args) = command
        .split_first()
        .ok_or_else(|| Error::Usage("missing COMMAND to run".into()))?;
    let exec_error = |source| Error::Exec {
        program: program.to_string_lossy().into_owned(),
        source,
    };
    let plan = Plan::new(program, args).map_err(exec_error)?;
    release_terminal();
    let ignored = ignored_signals();
    if ignored & 1 << (libc::SIGCHLD - 1) != 0 {
        // Ignored SIGCHLD (left by whoever exec'd graceinit) makes the
        // kernel reap every child itself and say nothing: graceinit would
        // never learn that the app exited, and would never stop.
        signals::reset_disposition(libc::SIGCHLD);
    }
    let mut shared = Shared {
        plan,
        ignored,
        failure: None,
    };
    let mut stack = [MaybeUninit::<u128>::uninit(); STACK_WORDS];
    // SAFETY: the stack grows down from its end, which is 16-byte aligned
    // (u128); the child only touches `shared` and its own stack, and with
    // CLONE_VFORK this frame (both of them) outlives it: clone returns once
    // the child has exec'd or exited.
    let pid = unsafe {
        libc::clone(
            child,
            stack.as_mut_ptr().add(STACK_WORDS).cast(),
            libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
            std::ptr::addr_of_mut!(shared).cast(),
        )
    };
    if pid == -1 {
        return Err(Error::system("start the child", io::Error::last_os_error()));
    }
    match shared.failure {
        None => Ok(pid),
        // The child has exited already; the reaper collects it.
        Some((Step::Exec, errno)) => Err(exec_error(not_found_on_path(
            program,
            io::Error::from_raw_os_error(errno),
        ))),
        Some((Step::Session, errno)) => Err(Error::system(
            "start the child's session",
            io::Error::from_raw_os_error(errno),
        )),
        Some((Step::Mask, errno)) => Err(Error::system(
            "clear the child's signal mask",
            io::Error::from_raw_os_error(errno),
        )),
    }
}

/// The child's stack: it runs a few libc system call wrappers and nothing else.
const STACK_WORDS: usize = 16 * 1024 / 16;

/// What the parent prepares and the child reads (and answers in `failure`).
struct Shared {
    plan: Plan,
    /// Dispositions to reset: only SIG_IGN survives exec (handlers are reset
    /// by the kernel, and graceinit installs none).
    ignored: u64,
    failure: Option<(Step, c_int)>,
}

#[derive(Clone, Copy)]
enum Step {
    Session,
    Mask,
    Exec,
}

/// Everything exec needs, as C strings, before the child exists: one
/// buffer of NUL-terminated strings and one array of pointers into it
/// (two allocations, whatever the number of arguments).
struct Plan {
    _strings: Vec<u8>,
    /// `argv` (NULL-terminated), then `/bin/sh CANDIDATE ARGS... NULL` for a
    /// file without a `#!` line (ENOEXEC), as execvp runs it (slot 1 is
    /// filled in by the child), then the paths to try in order: the program
    /// itself if it names a path, else each PATH directory joined with it.
    pointers: Vec<*const c_char>,
    args: usize,
}

const SH: &std::ffi::CStr = c"/bin/sh";

impl Plan {
    fn new(program: &OsStr, args: &[OsString]) -> io::Result<Plan> {
        const NULL: usize = usize::MAX;
        let name = program.as_bytes();
        let argv = std::iter::once(name).chain(args.iter().map(|a| a.as_bytes()));
        if argv.clone().any(|arg| arg.contains(&0)) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "argument contains a NUL byte",
            ));
        }
        // glibc's default when PATH is unset; an empty entry is ".".
        // SAFETY: getenv's result is a C string that nothing changes while
        // graceinit is single-threaded.
        let path = unsafe { libc::getenv(c"PATH".as_ptr()) };
        let path = match path.is_null() {
            true => &b"/bin:/usr/bin"[..],
            false => unsafe { std::ffi::CStr::from_ptr(path) }.to_bytes(),
        };
        let searched = !name.is_empty() && !name.contains(&b'/');
        let dirs = searched.then(|| path.split(|&b| b == b':'));
        let candidates = dirs
            .clone()
            .map_or(usize::from(!name.is_empty()), Iterator::count);
        let size = argv.clone().map(|a| a.len() + 1).sum::<usize>()
            + SH.to_bytes_with_nul().len()
            + path.len()
            + candidates * (name.len() + 3);
        let mut strings = Vec::with_capacity(size);
        // Offsets into `strings` first, pointers once it no longer moves:
        // argv and its NULL, /bin/sh's argv, the candidates.
        let mut slots = Vec::with_capacity(2 * args.len() + 5 + candidates);
        for arg in argv {
            slots.push(strings.len());
            strings.extend_from_slice(arg);
            strings.push(0);
        }
        slots.extend([NULL, strings.len(), NULL]);
        strings.extend_from_slice(SH.to_bytes_with_nul());
        slots.extend_from_within(1..=args.len());
        slots.push(NULL);
        match dirs {
            Some(dirs) => {
                for dir in dirs {
                    slots.push(strings.len());
                    strings.extend_from_slice(if dir.is_empty() { b"." } else { dir });
                    strings.push(b'/');
                    strings.extend_from_slice(name);
                    strings.push(0);
                }
            }
            // An explicit path is the only candidate (an empty name: none).
            None if candidates == 1 => slots.push(0),
            None => {}
        }
        let base = strings.as_ptr().cast::<c_char>();
        let pointers = slots
            .into_iter()
            // SAFETY: every offset but NULL is inside `strings`.
            .map(|o| match o {
                NULL => std::ptr::null(),
                o => unsafe { base.add(o) },
            })
            .collect();
        Ok(Plan {
            _strings: strings,
            pointers,
            args: args.len() + 1,
        })
    }

    fn argv(&self) -> *const *const c_char {
        self.pointers.as_ptr()
    }

    /// The `/bin/sh` argv, whose slot 1 the child sets.
    fn sh_argv(&mut self) -> &mut [*const c_char] {
        &mut self.pointers[self.args + 1..2 * self.args + 3]
    }

    fn candidates(&self) -> &[*const c_char] {
        &self.pointers[2 * self.args + 3..]
    }
}

/// The child, between clone and exec. It shares graceinit's memory (and
/// thread pointer: libc's errno is the parent's, which sleeps), so: raw
/// system calls on prepared data only.
extern "C" fn child(shared: *mut c_void) -> c_int {
    let shared = shared.cast::<Shared>();
    // SAFETY: `shared` points to the parent's live `Shared`; the parent is
    // suspended until this child execs or exits, so nothing else touches it.
    unsafe {
        // Own session and process group, so a group signal reaches the
        // whole app and nothing of graceinit.
        if libc::setsid() == -1 {
            fail(shared, Step::Session, errno());
        }
        // A terminal that graceinit let go of, or that was nobody's: the new
        // session takes it, which also makes the app its foreground group
        // (`docker run -it`: job control, Ctrl-C straight to the app). It
        // fails harmlessly on anything else (ENOTTY, or EPERM for a
        // terminal that another session holds).
        libc::ioctl(libc::STDIN_FILENO, libc::TIOCSCTTY, 0);
        let mut ignored = (*shared).ignored;
        while ignored != 0 {
            let signal = ignored.trailing_zeros() as c_int + 1;
            ignored &= ignored - 1;
            signals::reset_disposition(signal);
        }
        // The app must not inherit graceinit's blocked mask (it would never
        // see SIGTERM). All zeroes is the empty set.
        let empty = MaybeUninit::<libc::sigset_t>::zeroed().assume_init();
        if libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut()) == -1 {
            fail(shared, Step::Mask, errno());
        }
        fail(shared, Step::Exec, exec_search(&mut (*shared).plan))
    }
}

/// Tells the parent what failed, and ends the child.
///
/// # Safety
/// Only in the child, with the parent's `Shared`.
unsafe fn fail(shared: *mut Shared, step: Step, errno: c_int) -> ! {
    (*shared).failure = Some((step, errno));
    libc::_exit(127)
}

/// execvp's search over the prepared candidates; returns its errno.
///
/// # Safety
/// Only in the child: it writes into the plan's `sh_argv`.
unsafe fn exec_search(plan: &mut Plan) -> c_int {
    let mut got_eacces = false;
    let mut last = libc::ENOENT;
    for i in 0..plan.candidates().len() {
        let candidate = plan.candidates()[i];
        libc::execve(candidate, plan.argv(), environ);
        last = errno();
        if last == libc::ENOEXEC {
            let sh_argv = plan.sh_argv();
            sh_argv[1] = candidate;
            libc::execve(SH.as_ptr(), sh_argv.as_ptr(), environ);
            // No /bin/sh (a FROM scratch image): the file exists but cannot
            // be run, which is 126 "Exec format error", not 127.
            if errno() != libc::ENOENT {
                last = errno();
            }
        }
        match last {
            libc::EACCES => got_eacces = true,
            // Not here: try the next directory, as execvp does.
            libc::ENOENT | libc::ESTALE | libc::ENOTDIR | libc::ENODEV | libc::ETIMEDOUT => {}
            _ => return last,
        }
    }
    if got_eacces {
        libc::EACCES
    } else {
        last
    }
}

fn errno() -> c_int {
    io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EINVAL)
}

/// Gives up graceinit's controlling terminal, if it has one, so the child
/// can take it. As a session leader graceinit
/// makes the kernel send SIGHUP and SIGCONT to its foreground group, that
/// is to graceinit itself: they are blocked, and consumed here, so they
/// are not forwarded to the app as if someone had sent them.
fn release_terminal() {
    // SAFETY: ioctl and getters without pointers.
    unsafe {
        if libc::ioctl(libc::STDIN_FILENO, libc::TIOCNOTTY) == -1 {
            return; // no terminal, or not graceinit's
        }
        // Not a session leader (started from a shell's job): graceinit has
        // let go, no signal was sent, and the terminal stays with the
        // shell's session.
        if libc::getsid(0) != libc::getpid() {
            return;
        }
    }
    for signal in [libc::SIGHUP, libc::SIGCONT] {
        consume_own(signal);
    }
}

/// Takes `signal` off graceinit's pending set if graceinit itself sent it
/// (what the kernel does for TIOCNOTTY); one from anyone else is put back.
fn consume_own(signal: c_int) {
    // SAFETY: sigset and siginfo are plain data, initialised by the calls;
    // rt_sigqueueinfo to ourselves with the info we received is allowed.
    unsafe {
        let mut set = MaybeUninit::<libc::sigset_t>::zeroed().assume_init();
        libc::sigaddset(&mut set, signal);
        let mut info = MaybeUninit::<libc::siginfo_t>::zeroed().assume_init();
        let zero = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        if libc::sigtimedwait(&set, &mut info, &zero) != signal {
            return;
        }
        let own = libc::getpid();
        if info.si_code != libc::SI_USER || info.si_pid() != own {
            libc::syscall(libc::SYS_rt_sigqueueinfo, own, signal, &info);
        }
    }
}

/// The signals set to SIG_IGN now, inherited from whoever started
/// graceinit: one read of /proc/self/status (3.5 µs) instead of asking 62
/// times (7 µs). Without /proc (or with no fd left), every disposition is
/// reset.
fn ignored_signals() -> u64 {
    const ALL: u64 = !(1 << (libc::SIGKILL - 1) | 1 << (libc::SIGSTOP - 1));
    let mut status = MaybeUninit::<[u8; 4096]>::uninit();
    // SAFETY: the kernel writes at most the buffer's size, and only the
    // bytes it wrote are read.
    unsafe {
        let fd = libc::open(
            c"/proc/self/status".as_ptr(),
            libc::O_RDONLY | libc::O_CLOEXEC,
        );
        if fd == -1 {
            return ALL;
        }
        let read = libc::read(fd, status.as_mut_ptr().cast(), 4096);
        libc::close(fd);
        let Ok(len) = usize::try_from(read) else {
            return ALL;
        };
        let text = std::slice::from_raw_parts(status.as_ptr().cast::<u8>(), len);
        sig_ign(text).unwrap_or(ALL)
    }
}

/// The hex digits of the `SigIgn:` line. An upper-case I is rare in
/// /proc/self/status, so glibc's memchr for it jumps straight there: a
/// generic substring search over the 1.4 KB cost 1,500 instructions, a
/// line-by-line split 7,000, this about 200.
fn sig_ign(mut text: &[u8]) -> Option<u64> {
    loop {
        // SAFETY: memchr reads at most `text.len()` bytes of `text`.
        let at = unsafe { libc::memchr(text.as_ptr().cast(), c_int::from(b'I'), text.len()) };
        if at.is_null() {
            return None;
        }
        let i = at as usize - text.as_ptr() as usize;
        if text[..i].ends_with(b"\nSig") && text[i..].starts_with(b"Ign:\t") {
            return text.get(i + 5..i + 21).and_then(parse_hex);
        }
        text = &text[i + 1..];
    }
}

/// 16 hex digits, as /proc prints a signal mask.
fn parse_hex(digits: &[u8]) -> Option<u64> {
    digits.iter().try_fold(0, |mask, &digit| {
        let value = match digit {
            b'0'..=b'9' => digit - b'0',
            b'a'..=b'f' => digit - b'a' + 10,
            _ => return None,
        };
        Some(mask << 4 | u64::from(value))
    })
}

/// execvp reports EACCES when some PATH directory cannot be searched, even
/// if the command exists nowhere (`docker run --user` with root's PATH). A
/// shell says "not found" (127) then, and so does graceinit.
fn not_found_on_path(program: &OsStr, error: io::Error) -> io::Error {
    let searched_path = !program.as_bytes().contains(&b'/');
    let exists_on_path = || {
        std::env::var_os("PATH")
            .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).exists()))
    };
    if error.kind() == io::ErrorKind::PermissionDenied && searched_path && !exists_on_path() {
        io::Error::new(io::ErrorKind::NotFound, "not found on PATH")
    } else {
        error
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eacces_for_a_command_on_no_path_dir_is_not_found() {
        let denied = || io::Error::from(io::ErrorKind::PermissionDenied);
        let missing = not_found_on_path(OsStr::new("graceinit-no-such-command"), denied());
        assert_eq!(missing.kind(), io::ErrorKind::NotFound);
        // Found on PATH (sh is everywhere tests run) but not executable: 126 stays.
        assert_eq!(
            not_found_on_path(OsStr::new("sh"), denied()).kind(),
            io::ErrorKind::PermissionDenied
        );
        // An explicit path is not searched on PATH.
        let explicit = not_found_on_path(OsStr::new("./graceinit-no-such-command"), denied());
        assert_eq!(explicit.kind(), io::ErrorKind::PermissionDenied);
    }

    #[test]
    fn reads_the_ignored_mask() {
        assert_eq!(parse_hex(b"0000000000001001"), Some(0x1001));
        assert_eq!(parse_hex(b"00000000000010x1"), None);
        // SAFETY: a plain signal() on the test thread, restored at once.
        let ignored = unsafe {
            let old = libc::signal(libc::SIGWINCH, libc::SIG_IGN);
            let ignored = ignored_signals();
            libc::signal(libc::SIGWINCH, old);
            ignored
        };
        assert_ne!(ignored & 1 << (libc::SIGWINCH - 1), 0, "{ignored:x}");
        assert_eq!(ignored & 1 << (libc::SIGKILL - 1), 0, "{ignored:x}");
    }

    #[test]
    fn finds_sig_ign_among_other_lines() {
        let status = b"Name:\tInit\nSigBlk:\t0000000000000000\nSigIgn:\t0000000000001000\nX: I\n";
        assert_eq!(sig_ign(status), Some(0x1000));
        assert_eq!(sig_ign(b"Name:\tI\nSigIgn:\t00"), None);
        assert_eq!(sig_ign(b"Name:\tx\n"), None);
    }

    #[test]
    fn plan_searches_path_like_execvp() {
        let text = |p: *const c_char| unsafe { std::ffi::CStr::from_ptr(p) }.to_bytes();
        let plan = Plan::new(OsStr::new("app"), &["x".into()]).unwrap();
        let path = std::env::var_os("PATH").unwrap_or_default();
        let dirs = path.as_bytes().split(|&b| b == b':').count();
        assert_eq!(plan.candidates().len(), dirs);
        assert!(text(plan.candidates()[0]).ends_with(b"/app"));
        // SAFETY: argv is NULL-terminated, two words long.
        let argv = unsafe { std::slice::from_raw_parts(plan.argv(), 3) };
        assert_eq!((text(argv[0]), text(argv[1])), (&b"app"[..], &b"x"[..]));
        assert!(argv[2].is_null());
        let mut plan = plan;
        let sh = plan.sh_argv();
        assert_eq!(sh.len(), 4);
        assert!(text(sh[0]) == b"/bin/sh" && text(sh[2]) == b"x" && sh[3].is_null());
        let explicit = Plan::new(OsStr::new("./app"), &[]).unwrap();
        assert_eq!(explicit.candidates().len(), 1);
        assert_eq!(text(explicit.candidates()[0]), b"./app");
        assert!(Plan::new(OsStr::new(""), &[])
            .unwrap()
            .candidates()
            .is_empty());
        assert!(Plan::new(OsStr::new("a\0b"), &[]).is_err());
    }
}
