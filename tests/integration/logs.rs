//! Logging (SPEC §8): stderr only, `graceinit: <level>: ` lines, warnings
//! by default, the stable info lines with `-v`.

use crate::harness::{example, send, Running, Setup, BUSYBOX, LIMIT};

#[test]
fn verbose_logs_name_the_child_the_drain_and_the_rewrite() {
    let mut run = Setup::print_signals(
        &["-v", "-r", "TERM:QUIT", "--drain-delay", "300ms"],
        &["--exit-on", "QUIT:0"],
    )
    .start();
    let pid = run.ready()[0];
    run.kill(libc::SIGTERM);
    assert_eq!(run.wait(), 0, "{}", run.report());
    let stderr = run.stderr();
    for line in stderr.lines() {
        assert!(line.starts_with("graceinit: "), "{line}");
    }
    for expected in [
        format!("graceinit: info: child started (pid {pid})"),
        "graceinit: info: draining for 300ms".to_string(),
        format!("graceinit: info: forwarded SIGTERM as SIGQUIT to group {pid}"),
    ] {
        assert!(
            stderr.lines().any(|l| l.starts_with(&expected)),
            "no `{expected}`\n{}",
            run.report()
        );
    }
    // stdout is the app's alone.
    assert!(
        run.stdout().lines().all(|l| !l.contains("graceinit")),
        "{}",
        run.report()
    );
}

#[test]
fn default_level_is_quiet_when_nothing_goes_wrong() {
    let mut run = Setup::graceinit(&["--", BUSYBOX, "sh", "-c", "(busybox true &); exit 0"]).run();
    assert_eq!(run.code(), 0, "{}", run.report());
    assert_eq!(run.stderr(), "", "{}", run.report());
}

#[test]
fn warn_on_reap_and_tini_verbosity() {
    // The orphan outlives its parent, so it is graceinit's to reap, not the
    // subshell's.
    let script = "(busybox sleep 0.1 & echo orphan $!); busybox sleep 0.5";
    let mut run = Setup::graceinit(&["-w", "--", BUSYBOX, "sh", "-c", script]).run();
    assert_eq!(run.code(), 0, "{}", run.report());
    let orphan = run.line(|l| l.starts_with("orphan "), "orphan pid");
    let orphan = orphan.strip_prefix("orphan ").unwrap();
    let stderr = run.stderr();
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with("graceinit: warn: ") && l.contains(orphan)),
        "{}",
        run.report()
    );
    assert_logs_info(&[], ("TINI_VERBOSITY", "2"));
}

/// `-q` leaves errors only: not even the forced-kill warning.
#[test]
fn quiet_hides_warnings_and_graceinit_log_sets_the_level() {
    let mut run = Setup::graceinit(&[
        "-q",
        "--leftover-grace",
        "200ms",
        "--",
        &example("ignore_term"),
        "--children",
        "1",
        "--exit-after-ready",
        "0",
    ])
    .run();
    assert_eq!(run.code(), 0, "{}", run.report());
    assert_eq!(run.stderr(), "", "{}", run.report());
    assert_logs_info(&[], ("GRACEINIT_LOG", "info"));
}

/// A flag beats its variable, even a module filter of `GRACEINIT_LOG`.
#[test]
fn quiet_and_verbose_beat_module_filters_of_graceinit_log() {
    let run = run_true(&["-q"], ("GRACEINIT_LOG", "graceinit=debug"));
    assert_eq!(run.stderr(), "", "{}", run.report());
    assert_logs_info(&["-v"], ("GRACEINIT_LOG", "graceinit=off"));
}

/// `graceinit FLAGS -- true` with one variable set, which must succeed.
fn run_true(flags: &[&str], (name, value): (&str, &str)) -> Running {
    let mut setup = Setup::graceinit(flags).env(name, value);
    setup.command().args(["--", BUSYBOX, "true"]);
    let mut run = setup.run();
    assert_eq!(run.code(), 0, "{}", run.report());
    run
}

/// The same, logging its info lines.
fn assert_logs_info(flags: &[&str], variable: (&str, &str)) {
    let run = run_true(flags, variable);
    assert!(
        run.stderr().contains("graceinit: info: child started"),
        "{}",
        run.report()
    );
}

/// A filter that does not parse is a usage error like any bad value,
/// not env_filter's own unprefixed warning (which panics on a broken
/// stderr) and a start without it.
#[test]
fn a_bad_graceinit_log_filter_is_a_usage_error() {
    let mut run = Setup::graceinit(&["--", BUSYBOX, "true"])
        .env("GRACEINIT_LOG", "a=b=c")
        .run();
    assert_eq!(run.code(), 2, "{}", run.report());
    let stderr = run.stderr();
    assert!(
        stderr.starts_with("graceinit: invalid value 'a=b=c' for GRACEINIT_LOG")
            && stderr.lines().count() == 1,
        "{}",
        run.report()
    );
}

/// `docker run -t` with a log reader that falls behind: stderr is a
/// terminal nobody reads. A flood of logged signals (real-time ones queue,
/// so each is forwarded and logged) must not block PID 1 in write(): it
/// still stops at SIGTERM.
#[test]
fn a_terminal_nobody_reads_does_not_block_pid1() {
    let pty = nix::pty::openpty(None, None).unwrap();
    let mut setup = Setup::print_signals(&["-vv"], &["--exit-on", "TERM:0"]);
    setup.command().stderr(pty.slave.try_clone().unwrap());
    let mut run = setup.start();
    run.ready();
    let pid1 = run.pid1();
    for _ in 0..3000 {
        send(pid1, libc::SIGRTMIN() + 1);
    }
    send(pid1, libc::SIGTERM);
    let code = run.wait_within(LIMIT);
    drop(pty);
    assert_eq!(
        code,
        Some(0),
        "PID 1 did not stop at SIGTERM: blocked writing its log?"
    );
}
