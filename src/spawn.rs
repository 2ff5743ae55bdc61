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

use std::ffi::{c_char, c_int, c_void, CString, OsStr, OsString};
use std::io;
use std::mem::MaybeUninit;
use std::os::unix::ffi::OsStrExt;

use crate::error::Error;

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
    let mut shared = Shared {
        plan,
        ignored: ignored_signals(),
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

/// Everything exec needs, as C strings, before the child exists.
struct Plan {
    /// The paths to try in order: the program itself if it names a path,
    /// else each PATH directory joined with it (execvp's search).
    candidates: Vec<CString>,
    _args: Vec<CString>,
    argv: Vec<*const c_char>,
    /// `/bin/sh CANDIDATE ARGS...`, for a file without a `#!` line
    /// (ENOEXEC), as execvp runs it; slot 1 is filled in by the child.
    sh_argv: Vec<*const c_char>,
}

const SH: &std::ffi::CStr = c"/bin/sh";

impl Plan {
    fn new(program: &OsStr, args: &[OsString]) -> io::Result<Plan> {
        let c = |s: &OsStr| {
            CString::new(s.as_bytes()).map_err(|_| {
                io::Error::new(io::ErrorKind::InvalidInput, "argument contains a NUL byte")
            })
        };
        let name = program.as_bytes();
        let candidates = if name.contains(&b'/') {
            vec![c(program)?]
        } else if name.is_empty() {
            Vec::new()
        } else {
            // glibc's default when PATH is unset; an empty entry is ".".
            let path = std::env::var_os("PATH").unwrap_or_else(|| "/bin:/usr/bin".into());
            path.as_bytes()
                .split(|&b| b == b':')
                .map(|dir| {
                    let dir: &[u8] = if dir.is_empty() { b"." } else { dir };
                    let mut joined = Vec::with_capacity(dir.len() + 1 + name.len());
                    joined.extend_from_slice(dir);
                    joined.push(b'/');
                    joined.extend_from_slice(name);
                    c(OsStr::from_bytes(&joined))
                })
                .collect::<io::Result<_>>()?
        };
        let owned = std::iter::once(program)
            .chain(args.iter().map(OsString::as_os_str))
            .map(c)
            .collect::<io::Result<Vec<_>>>()?;
        let argv: Vec<_> = owned
            .iter()
            .map(|a| a.as_ptr())
            .chain([std::ptr::null()])
            .collect();
        let sh_argv = [SH.as_ptr(), std::ptr::null()]
            .into_iter()
            .chain(argv[1..].iter().copied())
            .collect();
        Ok(Plan {
            candidates,
            _args: owned,
            argv,
            sh_argv,
        })
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
            reset_disposition(signal);
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
    let Plan {
        candidates,
        argv,
        sh_argv,
        ..
    } = plan;
    let mut got_eacces = false;
    let mut last = libc::ENOENT;
    for candidate in candidates.iter() {
        libc::execve(candidate.as_ptr(), argv.as_ptr(), environ);
        last = errno();
        if last == libc::ENOEXEC {
            sh_argv[1] = candidate.as_ptr();
            libc::execve(SH.as_ptr(), sh_argv.as_ptr(), environ);
            last = errno();
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
    const KEY: &[u8] = b"\nSigIgn:\t";
    let mut status = MaybeUninit::<[u8; 4096]>::uninit();
    // SAFETY: the kernel writes at most the buffer's size, and only the
    // bytes it wrote are read; memmem gets both lengths.
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
        // glibc's memmem, not a generic slice search: that cost 7,000
        // instructions here, an eighth of graceinit's start-up.
        let at = libc::memmem(text.as_ptr().cast(), len, KEY.as_ptr().cast(), KEY.len());
        if at.is_null() {
            return ALL;
        }
        let start = at as usize - text.as_ptr() as usize + KEY.len();
        text.get(start..start + 16)
            .and_then(parse_hex)
            .unwrap_or(ALL)
    }
}

/// 16 hex digits, as /proc prints a signal mask.
fn parse_hex(digits: &[u8]) -> Option<u64> {
    digits.iter().try_fold(0, |mask, &digit| {
        Some(mask << 4 | u64::from(char::from(digit).to_digit(16)?))
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

/// The kernel's `struct sigaction` on x86_64, for `rt_sigaction(2)`.
#[repr(C)]
struct KernelSigaction {
    handler: libc::sighandler_t,
    flags: libc::c_ulong,
    restorer: usize,
    mask: u64,
}

/// Sets `signal` back to its default action. The raw system call, because
/// glibc's sigaction refuses signals 32 and 33 (its own), which a parent may
/// still have set to ignored. Async-signal-safe.
fn reset_disposition(signal: c_int) {
    let default = KernelSigaction {
        handler: libc::SIG_DFL,
        flags: 0,
        restorer: 0,
        mask: 0,
    };
    // SAFETY: the struct matches the kernel's layout and outlives the call;
    // the old action is not requested.
    unsafe {
        libc::syscall(
            libc::SYS_rt_sigaction,
            signal,
            &default as *const KernelSigaction,
            std::ptr::null_mut::<KernelSigaction>(),
            std::mem::size_of::<u64>(),
        );
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
    fn plan_searches_path_like_execvp() {
        let plan = Plan::new(OsStr::new("app"), &["x".into()]).unwrap();
        let path = std::env::var_os("PATH").unwrap_or_default();
        assert_eq!(
            plan.candidates.len(),
            path.as_bytes().split(|&b| b == b':').count()
        );
        assert!(plan.candidates[0].as_bytes().ends_with(b"/app"));
        assert_eq!(plan.argv.len(), 3);
        assert!(plan.argv[2].is_null() && plan.sh_argv.len() == 4);
        let explicit = Plan::new(OsStr::new("./app"), &[]).unwrap();
        assert_eq!(explicit.candidates, [c"./app".to_owned()]);
        assert!(Plan::new(OsStr::new(""), &[])
            .unwrap()
            .candidates
            .is_empty());
        assert!(Plan::new(OsStr::new("a\0b"), &[]).is_err());
    }
}
