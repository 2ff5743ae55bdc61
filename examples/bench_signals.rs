//! Benchmark workload: the app whose receipt times measure an init's signal
//! forwarding. Prints `ready`, then `NAME NANOS` for every SIGUSR1, SIGUSR2,
//! SIGHUP or SIGTERM it gets (NANOS: CLOCK_MONOTONIC, the clock the harness
//! stamps the send with), and exits 0 right after SIGTERM.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark workload: any failure should end it loudly"
)]

#[path = "support/signals.rs"]
mod signals;

use std::io::Write;

use nix::sys::signal::{SigSet, SigmaskHow, Signal};

fn main() {
    let mut watched = SigSet::empty();
    for sig in [
        Signal::SIGUSR1,
        Signal::SIGUSR2,
        Signal::SIGHUP,
        Signal::SIGTERM,
    ] {
        watched.add(sig);
    }
    // Blocked and taken with sigwait: the receipt is stamped the moment the
    // kernel hands the signal over, with no handler or stdio in between.
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&watched), None).unwrap();
    let mut out = std::io::stdout().lock();
    writeln!(out, "ready").unwrap();
    out.flush().unwrap();
    loop {
        let sig = watched.wait().unwrap();
        let nanos = monotonic_nanos();
        writeln!(out, "{} {nanos}", signals::short_name(sig as i32)).unwrap();
        out.flush().unwrap();
        if sig == Signal::SIGTERM {
            return;
        }
    }
}

/// CLOCK_MONOTONIC in nanoseconds, as Python's `time.monotonic_ns()` reads it.
fn monotonic_nanos() -> i64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime only writes the timespec we own.
    let result = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
    assert_eq!(result, 0, "clock_gettime failed");
    now.tv_sec * 1_000_000_000 + now.tv_nsec
}
