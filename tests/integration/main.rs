//! The PID-1 integration suite: the real graceinit binary as the real PID 1
//! of a fresh PID namespace (`unshare --pid --fork --mount-proc`), driving
//! the workloads in `examples/`. One module per area of the SPEC.
//!
//! Needs root (or `unshare --user --map-root-user`), util-linux `unshare`
//! and a static busybox at /bin/busybox. `GRACEINIT_UNDER_TEST=PATH` runs
//! the suite against another init (tini, dumb-init) to see what it catches.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failed expectation is a failed test"
)]

mod child_state;
mod cli;
mod drain;
mod exit_codes;
mod forwarding;
mod harness;
mod health;
mod hostile;
mod hostile_input;
mod hosts_file;
mod leftovers;
mod logs;
mod reaping;
/// The workloads' signal names, to read what they print.
#[path = "../../examples/support/signals.rs"]
mod signals;
mod spawning;
