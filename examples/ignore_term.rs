//! A workload that ignores SIGTERM, like a stuck app or a daemon that only
//! stops on SIGKILL: what `--kill-after` and `--leftover-grace` exist for.
//!
//! ```text
//! ignore_term [--children N] [--exit-after-ready CODE]
//! ```
//!
//! Ignores SIGTERM, forks N children that inherit the ignored disposition
//! (and stay in its process group), prints `ready <pid> <child pids...>` and
//! waits forever. `--exit-after-ready` exits with CODE right after `ready`,
//! leaving the children behind for the init to deal with.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test workload: a bad argument should stop it loudly"
)]

use std::io::Write;

fn main() {
    let mut children = 0;
    let mut exit_after_ready = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next().expect("option needs a value");
        match arg.as_str() {
            "--children" => children = value.parse().unwrap(),
            "--exit-after-ready" => exit_after_ready = Some(value.parse::<i32>().unwrap()),
            other => panic!("unknown argument {other}"),
        }
    }
    // Before the forks, so no child ever runs with SIGTERM's default action.
    // SAFETY: setting a disposition to SIG_IGN.
    unsafe { libc::signal(libc::SIGTERM, libc::SIG_IGN) };
    let mut line = format!("ready {}", std::process::id());
    for _ in 0..children {
        // SAFETY: single-threaded, so the child may run Rust code.
        match unsafe { libc::fork() } {
            -1 => panic!("fork: {}", std::io::Error::last_os_error()),
            0 => wait_forever(),
            child => line.push_str(&format!(" {child}")),
        }
    }
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
    drop(out);
    if let Some(code) = exit_after_ready {
        std::process::exit(code);
    }
    wait_forever()
}

fn wait_forever() -> ! {
    loop {
        // SAFETY: pause only waits for a signal.
        unsafe { libc::pause() };
    }
}
