//! What remains after the app exits (SPEC §4): SIGTERM and time to finish,
//! SIGKILL after `--leftover-grace`, nothing to wait for when nothing is left.

use std::time::{Duration, Instant};

use crate::harness::{example, print_signals, send, Setup, BUSYBOX};

/// The child exits; its background grandchild takes 300 ms to finish its
/// SIGTERM handler and write a file. tini and dumb-init exit at once and
/// the kernel kills the grandchild mid-handler: no file.
#[test]
fn leftovers_get_sigterm_and_time_to_finish() {
    let mut setup = Setup::print_signals(&[], &[]);
    let done = setup.dir.join("done");
    setup.command().args([
        "--grandchild",
        "--exit-on",
        "TERM:0",
        "--linger",
        "300",
        "--done-file",
        &done,
        "--exit-after-ready",
        "5",
    ]);
    let mut run = setup.start();
    let grandchild = run.ready()[1];
    assert_eq!(run.wait(), 5, "{}", run.report());
    run.received("TERM", grandchild);
    let written = std::fs::read_to_string(&done).unwrap_or_default();
    assert_eq!(written.trim(), grandchild.to_string(), "{}", run.report());
}

/// A leftover that ignores SIGTERM is killed once the grace runs out, and
/// the warning names it.
#[test]
fn a_leftover_that_ignores_sigterm_is_killed_after_the_grace() {
    let mut run = Setup::graceinit(&[
        "--leftover-grace",
        "500ms",
        "--",
        &example("ignore_term"),
        "--children",
        "2",
        "--exit-after-ready",
        "4",
    ])
    .start();
    let pids = run.ready();
    let seen = Instant::now();
    assert_eq!(run.wait(), 4, "{}", run.report());
    let waited = seen.elapsed();
    assert!(
        waited >= Duration::from_millis(400),
        "exited after {waited:?}"
    );
    let survivors = run.survivors();
    for child in &pids[1..] {
        assert!(survivors.contains(child), "{child} not in {survivors:?}");
    }
}

/// Nothing left: no reason to wait for the default 2 s grace.
#[test]
fn no_leftovers_means_exit_at_once() {
    let started = Instant::now();
    let mut run = Setup::graceinit(&["--", BUSYBOX, "true"]).run();
    assert_eq!(run.code(), 0, "{}", run.report());
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "took {:?}",
        started.elapsed()
    );
}

/// With `-c` graceinit leaves the rest alone (the kernel kills them when
/// PID 1 exits): the grandchild never sees a SIGTERM.
#[test]
fn single_child_sends_nothing_to_leftovers() {
    let mut run = Setup::print_signals(
        &["-c"],
        &[
            "--grandchild",
            "--exit-on",
            "TERM:0",
            "--exit-after-ready",
            "6",
        ],
    )
    .start();
    let started = Instant::now();
    run.ready();
    assert_eq!(run.wait(), 6, "{}", run.report());
    assert!(run.signals().is_empty(), "{}", run.report());
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "took {:?}",
        started.elapsed()
    );
}

/// `--leftover-grace 0`: exit at once, as tini does.
#[test]
fn zero_leftover_grace_exits_at_once() {
    let mut run = Setup::graceinit(&[
        "--leftover-grace",
        "0",
        "--",
        &example("ignore_term"),
        "--children",
        "1",
        "--exit-after-ready",
        "4",
    ])
    .start();
    run.ready();
    let seen = Instant::now();
    assert_eq!(run.wait(), 4, "{}", run.report());
    assert!(
        seen.elapsed() < Duration::from_millis(1500),
        "took {:?}",
        seen.elapsed()
    );
}

/// A leftover that is stopped (SIGSTOP, a debugger, Ctrl-Z) cannot act on
/// SIGTERM until it runs again: graceinit follows SIGTERM with SIGCONT.
#[test]
fn a_stopped_leftover_is_continued_to_handle_sigterm() {
    let mut setup = Setup::print_signals(&[], &[]);
    let done = setup.dir.join("done");
    setup.command().args([
        "--grandchild",
        "--exit-on",
        "USR1:5",
        "--exit-on",
        "TERM:0",
        "--linger",
        "100",
        "--done-file",
        &done,
    ]);
    let mut run = setup.start();
    let pids = run.ready();
    let (child, grandchild) = (pids[0], pids[1]);
    let host = run.host_pid(grandchild);
    send(host, libc::SIGSTOP);
    run.wait_stopped(host);
    // Only the child can act on USR1 now; it exits 5 without lingering.
    send(run.host_pid(child), libc::SIGUSR1);
    assert_eq!(run.wait(), 5, "{}", run.report());
    let written = std::fs::read_to_string(&done).unwrap_or_default();
    assert!(
        written.lines().any(|l| l == grandchild.to_string()),
        "the stopped grandchild never finished\n{}",
        run.report()
    );
}

/// `-r TERM:QUIT` behind a wrapper that dies of the forwarded SIGQUIT
/// (`sh -c`, an entrypoint script without `exec`, `npm start`): what is
/// left is stopping gracefully already, and gets SIGQUIT again, never the
/// SIGTERM that is php-fpm's and nginx's fast stop.
#[test]
fn leftovers_of_a_rewritten_stop_get_the_rewritten_signal() {
    let app = print_signals();
    let mut run = Setup::graceinit(&[
        "-v",
        "-r",
        "TERM:QUIT",
        "--leftover-grace",
        "1s",
        "--",
        BUSYBOX,
        "sh",
        "-c",
        "trap 'exit 3' QUIT; \"$0\" --exit-on TERM:1 & wait",
        &app,
    ])
    .start();
    let pid = run.ready()[0];
    run.kill(libc::SIGTERM);
    // The wrapper ended on SIGQUIT; the app was killed after the grace.
    assert_eq!(run.wait(), 3, "{}", run.report());
    // Two SIGQUITs may arrive as one (a standard signal is pending once).
    let heard = run.signal_names(pid);
    assert!(
        !heard.iter().any(|s| s == "TERM") && heard.iter().any(|s| s == "QUIT"),
        "the app heard {heard:?}\n{}",
        run.report()
    );
    assert!(
        run.stderr()
            .contains("sent SIGQUIT to every process, the processes left"),
        "{}",
        run.report()
    );
}
