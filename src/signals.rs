//! Signal numbers and names (including the real-time range, which nix's
//! `Signal` enum cannot represent), and the mask that routes every signal to
//! the event loop.

use std::fmt;
use std::os::fd::{FromRawFd, OwnedFd};

/// A signal number, real-time ones included.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Sig(pub i32);

/// The highest signal number on Linux (SIGRTMAX as the kernel counts it).
const LAST: i32 = 64;

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
    pub const CONT: Sig = Sig(libc::SIGCONT);
    pub const STOP: Sig = Sig(libc::SIGSTOP);
    pub const TSTP: Sig = Sig(libc::SIGTSTP);
    pub const TTIN: Sig = Sig(libc::SIGTTIN);
    pub const TTOU: Sig = Sig(libc::SIGTTOU);

    /// Parses `TERM`, `SIGTERM`, `sigterm`, `15`, `RTMIN+3`, `SIGRTMAX-1`.
    /// `0` is accepted here only where the caller allows it (rewrite targets).
    pub fn parse(text: &str) -> Option<Sig> {
        let text = text.trim();
        // Digits only: `str::parse` would also take `+15` and `RTMIN++2`.
        let digits = |text: &str| -> Option<i32> {
            let all_digits = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
            all_digits.then(|| text.parse().ok()).flatten()
        };
        if text.starts_with(|c: char| c.is_ascii_digit()) {
            let number = digits(text)?;
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
                Some(b'+') => base.checked_add(digits(&rest[1..])?)?,
                Some(b'-') => base.checked_sub(digits(&rest[1..])?)?,
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

    /// Signals that graceinit handles itself instead of forwarding. A fault
    /// signal (SEGV, BUS, ...) read from the signalfd was sent with kill():
    /// a real fault is forced through the block and ends graceinit.
    pub fn is_forwardable(self) -> bool {
        self != Sig::CHLD
    }

    /// Signals the kernel raises for a fault of the process itself. One sent
    /// with kill() is forwarded, but a rewrite or parent-death signal of
    /// this kind would be read as a crash, so the command line refuses them.
    pub fn is_fault(self) -> bool {
        matches!(
            self.0,
            libc::SIGSEGV
                | libc::SIGBUS
                | libc::SIGFPE
                | libc::SIGILL
                | libc::SIGTRAP
                | libc::SIGSYS
                | libc::SIGABRT
        )
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

/// A set of signals 1..=64 as the kernel's 64-bit mask: fixed size, so
/// remembering any number of signals costs no memory.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SigMask(pub u64);

impl SigMask {
    pub fn insert(&mut self, sig: Sig) {
        if (1..=LAST).contains(&sig.0) {
            self.0 |= 1 << (sig.0 - 1);
        }
    }

    pub fn contains(self, sig: Sig) -> bool {
        (1..=LAST).contains(&sig.0) && self.0 & (1 << (sig.0 - 1)) != 0
    }

    pub fn iter(self) -> impl Iterator<Item = Sig> {
        (1..=LAST).map(Sig).filter(move |&sig| self.contains(sig))
    }
}

/// Every signal, the fault ones and glibc's reserved 32 and 33 included.
/// Blocked signals queue in the signalfd instead of running a default
/// action, which matters doubly for PID 1: the kernel drops signals with a
/// default disposition sent to a namespace's init, so only a blocked (or
/// handled) signal ever reaches it. A real fault (a bad pointer, not a
/// kill) is forced through the block by the kernel and still ends
/// graceinit; 32 and 33 would kill it when not PID 1. KILL and STOP cannot
/// be blocked; the kernel ignores them in the mask.
pub fn routed_mask() -> SigMask {
    SigMask(u64::MAX)
}

/// Blocks the routed signals in the calling (only) thread. The raw system
/// call, because glibc's sigprocmask silently leaves out 32 and 33.
pub fn block_routed() -> std::io::Result<()> {
    set_mask(routed_mask())
}

/// For the child, just before exec: unblock everything. Async-signal-safe.
pub fn unblock_all() -> std::io::Result<()> {
    set_mask(SigMask(0))
}

fn set_mask(mask: SigMask) -> std::io::Result<()> {
    // SAFETY: the kernel reads one 64-bit mask that outlives the call.
    let result = unsafe {
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK,
            &mask.0 as *const u64,
            std::ptr::null_mut::<u64>(),
            std::mem::size_of::<u64>(),
        )
    };
    if result == -1 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// A close-on-exec signalfd for `mask`. The raw system call, because
/// glibc's sigset_t helpers refuse 32 and 33.
pub fn signalfd(mask: SigMask) -> std::io::Result<OwnedFd> {
    // SAFETY: the kernel reads one 64-bit mask that outlives the call.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_signalfd4,
            -1,
            &mask.0 as *const u64,
            std::mem::size_of::<u64>(),
            libc::SFD_CLOEXEC,
        )
    };
    let fd = i32::try_from(fd).map_err(|_| std::io::Error::last_os_error())?;
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Whether graceinit raised this signal on itself (the SIGPIPE of a write
/// to a log reader that is gone): sent by its own pid with kill/tkill, or
/// by the kernel on a write, which also reports SI_USER. Such a signal is
/// not the app's business.
pub fn raised_by_self(info: &libc::signalfd_siginfo, own_pid: u32) -> bool {
    info.ssi_pid == own_pid && (info.ssi_code == libc::SI_USER || info.ssi_code == libc::SI_TKILL)
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
pub fn reset_disposition(signal: libc::c_int) {
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
            "BOGUS", "", "-1", "65", "RTMIN+40", "RTMAX+1", "RTMIN3", "SIG", "+15", "RTMIN++2",
            "RTMIN+-0", "RTMAX--1", "RTMAX-+1", "RTMIN+", "1 5",
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
    fn only_chld_is_not_forwarded() {
        assert!(!Sig::CHLD.is_forwardable());
        // A fault signal that reaches the signalfd was sent, not a fault.
        assert!(Sig(libc::SIGSEGV).is_forwardable());
        assert!(Sig::TERM.is_forwardable());
        assert!(Sig(32).is_forwardable());
        assert!(Sig(libc::SIGRTMIN()).is_forwardable());
    }

    #[test]
    fn the_routed_mask_holds_faults_and_glibcs_own_signals() {
        let mask = routed_mask();
        for sig in [libc::SIGSEGV, libc::SIGABRT, 32, 33, libc::SIGTERM, 64] {
            assert!(mask.contains(Sig(sig)), "{sig}");
        }
    }

    #[test]
    fn sig_mask_is_a_set() {
        let mut set = SigMask::default();
        set.insert(Sig::TERM);
        set.insert(Sig::TERM);
        set.insert(Sig(64));
        set.insert(Sig(0));
        set.insert(Sig(65));
        assert!(set.contains(Sig::TERM) && set.contains(Sig(64)));
        assert!(!set.contains(Sig::QUIT) && !set.contains(Sig(0)));
        assert_eq!(set.iter().collect::<Vec<_>>(), [Sig::TERM, Sig(64)]);
    }

    #[test]
    fn own_sigpipe_is_recognised() {
        // SAFETY: plain integers; all zeroes is valid.
        let mut info: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
        info.ssi_signo = libc::SIGPIPE as u32;
        info.ssi_pid = 42;
        info.ssi_code = libc::SI_USER;
        assert!(raised_by_self(&info, 42));
        assert!(!raised_by_self(&info, 1));
        info.ssi_code = libc::SI_QUEUE;
        assert!(!raised_by_self(&info, 42));
    }
}
