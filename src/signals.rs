//! Signal numbers and names (including the real-time range, which nix's
//! `Signal` enum cannot represent), and the mask that routes every signal to
//! the event loop.

use std::fmt;

use nix::sys::signal::{SigSet, SigmaskHow, Signal};

/// A signal number, real-time ones included.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Sig(pub i32);

/// Signals that describe a fault in graceinit itself. They stay unblocked so
/// a crash of graceinit is a crash, not a signal forwarded to the child.
const FAULT_SIGNALS: [Signal; 7] = [
    Signal::SIGSEGV,
    Signal::SIGBUS,
    Signal::SIGFPE,
    Signal::SIGILL,
    Signal::SIGTRAP,
    Signal::SIGSYS,
    Signal::SIGABRT,
];

const NAMED: [(&str, i32); 31] = [
    ("HUP", libc::SIGHUP),
    ("INT", libc::SIGINT),
    ("QUIT", libc::SIGQUIT),
    ("ILL", libc::SIGILL),
    ("TRAP", libc::SIGTRAP),
    ("ABRT", libc::SIGABRT),
    ("BUS", libc::SIGBUS),
    ("FPE", libc::SIGFPE),
    ("KILL", libc::SIGKILL),
    ("USR1", libc::SIGUSR1),
    ("SEGV", libc::SIGSEGV),
    ("USR2", libc::SIGUSR2),
    ("PIPE", libc::SIGPIPE),
    ("ALRM", libc::SIGALRM),
    ("TERM", libc::SIGTERM),
    ("STKFLT", libc::SIGSTKFLT),
    ("CHLD", libc::SIGCHLD),
    ("CONT", libc::SIGCONT),
    ("STOP", libc::SIGSTOP),
    ("TSTP", libc::SIGTSTP),
    ("TTIN", libc::SIGTTIN),
    ("TTOU", libc::SIGTTOU),
    ("URG", libc::SIGURG),
    ("XCPU", libc::SIGXCPU),
    ("XFSZ", libc::SIGXFSZ),
    ("VTALRM", libc::SIGVTALRM),
    ("PROF", libc::SIGPROF),
    ("WINCH", libc::SIGWINCH),
    ("IO", libc::SIGIO),
    ("PWR", libc::SIGPWR),
    ("SYS", libc::SIGSYS),
];

/// Aliases accepted on input only.
const ALIASES: [(&str, i32); 3] = [
    ("POLL", libc::SIGIO),
    ("IOT", libc::SIGABRT),
    ("CLD", libc::SIGCHLD),
];

fn rt_min() -> i32 {
    libc::SIGRTMIN()
}

fn rt_max() -> i32 {
    libc::SIGRTMAX()
}

impl Sig {
    pub const INT: Sig = Sig(libc::SIGINT);
    pub const QUIT: Sig = Sig(libc::SIGQUIT);
    pub const KILL: Sig = Sig(libc::SIGKILL);
    pub const TERM: Sig = Sig(libc::SIGTERM);
    pub const CHLD: Sig = Sig(libc::SIGCHLD);
    pub const TSTP: Sig = Sig(libc::SIGTSTP);
    pub const TTIN: Sig = Sig(libc::SIGTTIN);
    pub const TTOU: Sig = Sig(libc::SIGTTOU);

    /// Parses `TERM`, `SIGTERM`, `sigterm`, `15`, `RTMIN+3`, `SIGRTMAX-1`.
    /// `0` is accepted here only where the caller allows it (rewrite targets).
    pub fn parse(text: &str) -> Option<Sig> {
        let text = text.trim();
        if let Ok(number) = text.parse::<i32>() {
            return (0..=rt_max()).contains(&number).then_some(Sig(number));
        }
        let upper = text.to_ascii_uppercase();
        let name = upper.strip_prefix("SIG").unwrap_or(&upper);
        if let Some(&(_, number)) = NAMED.iter().chain(&ALIASES).find(|(n, _)| *n == name) {
            return Some(Sig(number));
        }
        let realtime = |base: i32, rest: &str| -> Option<Sig> {
            let number = match rest.as_bytes().first() {
                None => base,
                Some(b'+') => base.checked_add(rest[1..].parse::<i32>().ok()?)?,
                Some(b'-') => base.checked_sub(rest[1..].parse::<i32>().ok()?)?,
                Some(_) => return None,
            };
            (rt_min()..=rt_max())
                .contains(&number)
                .then_some(Sig(number))
        };
        if let Some(rest) = name.strip_prefix("RTMIN") {
            return realtime(rt_min(), rest);
        }
        if let Some(rest) = name.strip_prefix("RTMAX") {
            return realtime(rt_max(), rest);
        }
        None
    }

    /// Signals that graceinit handles itself instead of forwarding.
    pub fn is_forwardable(self) -> bool {
        self != Sig::CHLD && !FAULT_SIGNALS.iter().any(|s| *s as i32 == self.0)
    }

    /// Signals that ask the app to stop: these start kill escalation and
    /// count for `--zero-on-stop`.
    pub fn is_stop_request(self) -> bool {
        matches!(self, Sig::TERM | Sig::INT | Sig::QUIT)
    }

    /// Job-control stops, after which graceinit stops itself like a shell.
    pub fn is_job_control_stop(self) -> bool {
        matches!(self, Sig::TSTP | Sig::TTIN | Sig::TTOU)
    }
}

impl fmt::Display for Sig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some((name, _)) = NAMED.iter().find(|(_, n)| *n == self.0) {
            return write!(f, "SIG{name}");
        }
        let (min, max) = (rt_min(), rt_max());
        match self.0 {
            n if n == min => write!(f, "SIGRTMIN"),
            n if n == max => write!(f, "SIGRTMAX"),
            n if n > min && n < max && n - min <= max - n => write!(f, "SIGRTMIN+{}", n - min),
            n if n > min && n < max => write!(f, "SIGRTMAX-{}", max - n),
            n => write!(f, "signal {n}"),
        }
    }
}

/// Every signal but the fault ones. Blocked signals queue in the signalfd
/// instead of running a default action, which matters doubly for PID 1: the
/// kernel drops signals with a default disposition sent to a namespace's init,
/// so only a blocked (or handled) signal ever reaches it.
pub fn routed_mask() -> SigSet {
    let mut mask = SigSet::all();
    for fault in FAULT_SIGNALS {
        mask.remove(fault);
    }
    mask
}

/// Blocks the routed signals in the calling (only) thread.
pub fn block_routed() -> nix::Result<()> {
    routed_mask().thread_set_mask()?;
    Ok(())
}

/// For the child, just before exec: unblock everything. Async-signal-safe.
pub fn unblock_all() -> nix::Result<()> {
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_numbers_and_realtime() {
        assert_eq!(Sig::parse("TERM"), Some(Sig::TERM));
        assert_eq!(Sig::parse("sigterm"), Some(Sig::TERM));
        assert_eq!(Sig::parse("SIGQUIT"), Some(Sig::QUIT));
        assert_eq!(Sig::parse("15"), Some(Sig::TERM));
        assert_eq!(Sig::parse("0"), Some(Sig(0)));
        assert_eq!(Sig::parse("RTMIN+3"), Some(Sig(libc::SIGRTMIN() + 3)));
        assert_eq!(Sig::parse("SIGRTMAX-1"), Some(Sig(libc::SIGRTMAX() - 1)));
        assert_eq!(Sig::parse("poll"), Some(Sig(libc::SIGIO)));
    }

    #[test]
    fn rejects_unknown_and_out_of_range() {
        for bad in [
            "BOGUS", "", "-1", "65", "RTMIN+40", "RTMAX+1", "RTMIN3", "SIG",
        ] {
            assert_eq!(Sig::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn names_round_trip() {
        for number in 1..=libc::SIGRTMAX() {
            let name = Sig(number).to_string();
            if name.starts_with("signal") {
                continue; // 32 and 33 belong to glibc and have no name
            }
            assert_eq!(Sig::parse(&name), Some(Sig(number)), "{name}");
        }
    }

    #[test]
    fn chld_and_faults_are_not_forwarded() {
        assert!(!Sig::CHLD.is_forwardable());
        assert!(!Sig(libc::SIGSEGV).is_forwardable());
        assert!(Sig::TERM.is_forwardable());
        assert!(Sig(libc::SIGRTMIN()).is_forwardable());
    }
}
