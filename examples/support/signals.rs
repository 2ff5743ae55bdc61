//! Signal names as graceinit's logs spell them (`SIGTERM`, `SIGRTMIN+3`):
//! the one table behind the workloads that print signals and the tests that
//! read what they printed. Included with `#[path]` by each user.
#![allow(dead_code, reason = "each user takes the part it needs")]

/// Signals 1 to 31 on Linux, without the `SIG` prefix.
pub const NAMES: [&str; 31] = [
    "HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "BUS", "FPE", "KILL", "USR1", "SEGV", "USR2",
    "PIPE", "ALRM", "TERM", "STKFLT", "CHLD", "CONT", "STOP", "TSTP", "TTIN", "TTOU", "URG",
    "XCPU", "XFSZ", "VTALRM", "PROF", "WINCH", "IO", "PWR", "SYS",
];

/// `TERM`, `RTMIN`, `RTMIN+3`; a number nobody named stays a number.
pub fn short_name(sig: i32) -> String {
    let rtmin = libc::SIGRTMIN();
    match usize::try_from(sig) {
        Ok(n @ 1..=31) => NAMES[n - 1].to_string(),
        _ if sig == rtmin => "RTMIN".to_string(),
        _ if sig > rtmin => format!("RTMIN+{}", sig - rtmin),
        _ => sig.to_string(),
    }
}

/// `SIGTERM`, `SIGRTMIN+3`.
pub fn name(sig: i32) -> String {
    format!("SIG{}", short_name(sig))
}

/// `TERM`, `sigterm`, `RTMIN+3` or a number; None for anything else.
pub fn parse(text: &str) -> Option<i32> {
    if let Ok(number) = text.parse() {
        return Some(number);
    }
    let upper = text.to_ascii_uppercase();
    let bare = upper.strip_prefix("SIG").unwrap_or(&upper);
    if let Some(offset) = bare.strip_prefix("RTMIN") {
        let offset = match offset.strip_prefix('+') {
            Some(n) => n.parse().ok()?,
            None if offset.is_empty() => 0,
            None => return None,
        };
        return Some(libc::SIGRTMIN() + offset);
    }
    let index = NAMES.iter().position(|n| *n == bare)?;
    i32::try_from(index + 1).ok()
}
