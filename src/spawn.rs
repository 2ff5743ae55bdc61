//! Starting the child: its own session, the terminal's foreground, a clean
//! signal state, and graceinit's environment. Exec failures come back to the
//! parent as an error, which makes tini's 127/126 convention easy.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::process::Command;

use crate::error::Error;

/// Forks and execs `command`; returns the child's pid.
pub fn spawn(command: &[OsString]) -> Result<i32, Error> {
    let (program, args) = command
        .split_first()
        .ok_or_else(|| Error::Usage("missing COMMAND to run".into()))?;
    let mut child = Command::new(program);
    child.args(args);
    // SAFETY: the closure runs between fork and exec, so it only makes raw
    // async-signal-safe calls: no allocation, no locks, no logging.
    unsafe {
        child.pre_exec(|| {
            // Own session and process group, so a group signal reaches the
            // whole app and nothing of graceinit.
            if libc::setsid() == -1 {
                return Err(std::io::Error::last_os_error());
            }
            // `docker run -it`: take the terminal and its foreground so the
            // line discipline's Ctrl-C goes straight to the app. When the
            // terminal belongs to graceinit's session this fails, and Ctrl-C
            // reaches the app through graceinit's forwarding instead.
            if libc::isatty(libc::STDIN_FILENO) == 1
                && libc::ioctl(libc::STDIN_FILENO, libc::TIOCSCTTY, 0) == 0
            {
                libc::tcsetpgrp(libc::STDIN_FILENO, libc::getpid());
            }
            // The app must not inherit graceinit's blocked mask (it would
            // never see SIGTERM) nor any ignored signal from graceinit's parent.
            for signal in 1..=libc::SIGRTMAX() {
                if signal != libc::SIGKILL && signal != libc::SIGSTOP {
                    reset_disposition(signal);
                }
            }
            let mut empty = std::mem::zeroed::<libc::sigset_t>();
            libc::sigemptyset(&mut empty);
            if libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut()) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let handle = child.spawn().map_err(|source| Error::Exec {
        program: program.to_string_lossy().into_owned(),
        source: not_found_on_path(program, source),
    })?;
    // The std handle is dropped without waiting: the reaper owns every exit.
    i32::try_from(handle.id())
        .map_err(|_| Error::system("read the child's pid", std::io::ErrorKind::InvalidData))
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
fn reset_disposition(signal: libc::c_int) {
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
}
