//! Collecting every exited child, the app and orphans alike, and turning a
//! wait status into the exit code a shell would report.

use std::fmt;

use crate::signals::Sig;

/// How a process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Exited(u8),
    Killed(Sig),
}

impl Status {
    fn from_raw(raw: libc::c_int) -> Self {
        if libc::WIFSIGNALED(raw) {
            Status::Killed(Sig(libc::WTERMSIG(raw)))
        } else {
            // WEXITSTATUS is the low byte; the cast keeps exactly that byte.
            Status::Exited(libc::WEXITSTATUS(raw) as u8)
        }
    }

    /// The shell's convention: the exit code, or 128+N for death by signal N.
    pub fn code(self) -> u8 {
        match self {
            Status::Exited(code) => code,
            Status::Killed(sig) => u8::try_from(128 + sig.0).unwrap_or(u8::MAX),
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Status::Exited(code) => write!(f, "exited with code {code}"),
            Status::Killed(sig) => write!(f, "killed by {sig}"),
        }
    }
}

/// What happened to one child.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    Exited(Status),
    Stopped,
    Continued,
}

impl Change {
    fn from_raw(raw: libc::c_int) -> Self {
        if libc::WIFSTOPPED(raw) {
            Change::Stopped
        } else if libc::WIFCONTINUED(raw) {
            Change::Continued
        } else {
            Change::Exited(Status::from_raw(raw))
        }
    }
}

/// Reaps every child that has exited and reports every stop and continue
/// (the supervisor must know a stopped app cannot act on SIGTERM), calling
/// `on_change` for each. Returns whether any child is still running. Raw
/// `waitpid` because nix's `WaitStatus` cannot represent a death by a
/// real-time signal.
pub fn reap_all(mut on_change: impl FnMut(i32, Change)) -> bool {
    loop {
        let mut raw = 0;
        // SAFETY: waitpid only writes the status integer we own.
        let pid = unsafe {
            libc::waitpid(
                -1,
                &mut raw,
                libc::WNOHANG | libc::WUNTRACED | libc::WCONTINUED,
            )
        };
        match pid {
            0 => return true,
            -1 => match nix::errno::Errno::last() {
                nix::errno::Errno::EINTR => continue,
                // ECHILD: nothing left. Anything else cannot happen with
                // these arguments; treating it as "none left" avoids a spin.
                _ => return false,
            },
            pid => on_change(pid, Change::from_raw(raw)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_follow_the_shell() {
        assert_eq!(Status::Exited(3).code(), 3);
        assert_eq!(Status::Killed(Sig::TERM).code(), 143);
        assert_eq!(Status::Killed(Sig::KILL).code(), 137);
        assert_eq!(Status::from_raw(3 << 8), Status::Exited(3));
        assert_eq!(Status::from_raw(libc::SIGTERM), Status::Killed(Sig::TERM));
        assert_eq!(Change::from_raw(0x137f), Change::Stopped);
        assert_eq!(Change::from_raw(0xffff), Change::Continued);
        assert_eq!(Change::from_raw(3 << 8), Change::Exited(Status::Exited(3)));
    }
}
