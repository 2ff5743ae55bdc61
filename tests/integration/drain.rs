//! The zero-downtime stop (SPEC §5, §7): on SIGTERM the marker appears and
//! the app hears nothing until the drain is over; a second stop cuts it
//! short; `--kill-after` escalates over the whole tree.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::harness::{
    example, graceinit, monotonic_ns, print_signals, wait_until, Running, Setup, BUSYBOX, LIMIT,
    NO_ARGS,
};

const SECOND: u64 = 1_000_000_000;

/// `graceinit --drain-file MARKER FLAGS -- print_signals ARGS`; the marker
/// sits in directories that do not exist yet.
fn start(flags: &[&str], args: &[&str]) -> (Running, String) {
    start_with_env(None, flags, args)
}

fn start_with_env(env: Option<(&str, &str)>, flags: &[&str], args: &[&str]) -> (Running, String) {
    let mut setup = Setup::graceinit(NO_ARGS);
    if let Some((name, value)) = env {
        setup = setup.env(name, value);
    }
    let marker = setup.dir.join("run/graceinit/draining");
    let app = print_signals();
    setup
        .command()
        .args(["--drain-file", &marker])
        .args(flags)
        .arg("--")
        .arg(&app)
        .args(args);
    (setup.start(), marker)
}

fn wait_for_marker(marker: &str) {
    wait_until("the drain marker", Duration::from_secs(1), || {
        Path::new(marker).exists()
    });
}

fn health(marker: &str) -> (i32, String) {
    let mut run = Setup::plain(&graceinit(), &["health", "--drain-file", marker]).run();
    (run.code(), run.stdout())
}

#[test]
fn sigterm_drains_then_forwards_after_the_delay() {
    let (mut run, marker) = start(&["--drain-delay", "2s"], &["--exit-on", "TERM:0"]);
    let app = run.ready()[0];
    assert!(!Path::new(&marker).exists());
    let t0 = monotonic_ns();
    run.kill(libc::SIGTERM);
    wait_for_marker(&marker);
    let (code, stdout) = health(&marker);
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("draining"), "{stdout}");
    let term = run.received("TERM", app);
    let after = term.at_ns.saturating_sub(t0);
    assert!(
        after >= 19 * SECOND / 10,
        "SIGTERM forwarded {after} ns after it arrived"
    );
    assert!(
        after <= 35 * SECOND / 10,
        "SIGTERM forwarded {after} ns after it arrived"
    );
    assert_eq!(run.wait(), 0, "{}", run.report());
    assert_eq!(
        run.signals().len(),
        1,
        "the app heard something during the drain\n{}",
        run.report()
    );
}

/// A second SIGTERM, or a SIGINT (or SIGQUIT, the other stop signal),
/// means "now".
#[test]
fn a_second_sigterm_or_a_sigint_cuts_the_drain_short() {
    for (second, heard) in [
        (libc::SIGTERM, "TERM"),
        (libc::SIGINT, "INT"),
        (libc::SIGQUIT, "QUIT"),
    ] {
        let (mut run, marker) = start(
            &["--drain-delay", "10s"],
            &[
                "--exit-on",
                "TERM:0",
                "--exit-on",
                "INT:0",
                "--exit-on",
                "QUIT:0",
            ],
        );
        let app = run.ready()[0];
        run.kill(libc::SIGTERM);
        wait_for_marker(&marker);
        let t1 = monotonic_ns();
        run.kill(second);
        let got = run.received(heard, app);
        let after = got.at_ns.saturating_sub(t1);
        assert!(
            after < 2 * SECOND,
            "SIG{heard} forwarded {after} ns after the second signal"
        );
        assert_eq!(run.wait(), 0, "{}", run.report());
        let names: Vec<String> = run.signals().into_iter().map(|r| r.name).collect();
        assert_eq!(names, [heard], "{}", run.report());
    }
}

/// The app leaves by itself during the drain: graceinit does not sit out
/// the rest of the delay.
#[test]
fn app_exiting_during_the_drain_ends_graceinit_at_once() {
    // The delay from the environment this time.
    let (mut run, marker) = start_with_env(
        Some(("GRACEINIT_DRAIN_DELAY", "10s")),
        &[],
        &["--exit-on", "USR1:5"],
    );
    let app = run.ready()[0];
    run.kill(libc::SIGTERM);
    wait_for_marker(&marker);
    let sent = Instant::now();
    // Other signals are forwarded as usual during the drain.
    run.kill(libc::SIGUSR1);
    run.received("USR1", app);
    assert_eq!(run.wait(), 5, "{}", run.report());
    assert!(
        sent.elapsed() < Duration::from_secs(3),
        "took {:?}",
        sent.elapsed()
    );
}

/// `-r TERM:QUIT` (php-fpm, nginx) applies to the signal sent after the drain.
#[test]
fn rewrite_applies_after_the_drain() {
    let (mut run, _marker) = start(
        &["--drain-delay", "1s", "-r", "TERM:QUIT"],
        &["--exit-on", "QUIT:0", "--exit-on", "TERM:1"],
    );
    let app = run.ready()[0];
    let t0 = monotonic_ns();
    run.kill(libc::SIGTERM);
    let quit = run.received("QUIT", app);
    assert!(
        quit.at_ns.saturating_sub(t0) >= 9 * SECOND / 10,
        "{}",
        run.report()
    );
    assert_eq!(run.wait(), 0, "{}", run.report());
    assert_eq!(run.signals().len(), 1, "{}", run.report());
}

/// The app ignores SIGTERM, and so do its children: after the drain and
/// `--kill-after` everything is SIGKILLed, the warning lists who survived,
/// and graceinit exits 137.
#[test]
fn kill_after_escalates_to_the_whole_tree_and_exits_137() {
    let setup = Setup::graceinit(&[
        "--drain-delay",
        "300ms",
        "--kill-after",
        "500ms",
        "--",
        &example("ignore_term"),
        "--children",
        "2",
    ]);
    let mut run = setup.start();
    let pids = run.ready();
    let sent = Instant::now();
    run.kill(libc::SIGTERM);
    assert_eq!(run.wait(), 137, "{}", run.report());
    assert!(
        sent.elapsed() >= Duration::from_millis(750),
        "took {:?}",
        sent.elapsed()
    );
    assert_survivors_listed(&run, &pids);
}

fn assert_survivors_listed(run: &Running, pids: &[i32]) {
    let listed = run.survivors();
    for pid in pids {
        assert!(
            listed.contains(pid),
            "{pid} not in: {listed:?}\n{}",
            run.report()
        );
    }
}

/// Not PID 1, nothing kills the tree after graceinit exits: the escalation
/// alone must leave no process of the app alive.
#[test]
fn kill_after_kills_grandchildren_when_not_pid1() {
    let app = example("ignore_term");
    let mut run =
        Setup::not_pid1(&["--kill-after", "500ms", "--", &app, "--children", "2"]).start();
    let pids = run.ready();
    run.kill(libc::SIGTERM);
    assert_eq!(run.code(), 137, "graceinit's exit code\n{}", run.report());
    wait_until("the app's processes to die", LIMIT, || {
        !run.tree()
            .iter()
            .any(|p| pids.contains(&p.pid) && p.state != 'Z')
    });
    assert_survivors_listed(&run, &pids);
}

/// A restarted container must not start out unhealthy.
#[test]
fn a_stale_marker_is_removed_at_start_up() {
    for by_flag in [true, false] {
        let mut setup = Setup::graceinit(NO_ARGS);
        let marker = setup.dir.join("draining");
        std::fs::write(&marker, "left over\n").unwrap();
        if by_flag {
            // The variable set by the harness points elsewhere; the flag wins.
            let elsewhere = setup.dir.join("elsewhere");
            setup = setup.env("GRACEINIT_DRAIN_FILE", elsewhere);
            setup.command().args(["--drain-file", &marker]);
        }
        setup.command().args(["--", &print_signals()]);
        let run = setup.start();
        run.ready();
        assert!(
            !Path::new(&marker).exists(),
            "marker kept (by flag: {by_flag})"
        );
        assert_eq!(health(&marker).0, 0);
    }
}

#[test]
fn drain_command_creates_and_undo_removes_the_marker() {
    let dir = crate::harness::TempDir::new();
    let marker = dir.join("a/b/draining");
    let drain = |args: &[&str]| {
        let mut all = vec!["drain"];
        all.extend(args);
        let mut run = Setup::plain(&graceinit(), &all).run();
        assert_eq!(run.code(), 0, "{args:?}\n{}", run.report());
        assert!(!run.stdout().is_empty());
    };
    drain(&["--drain-file", &marker]);
    assert!(Path::new(&marker).exists());
    drain(&["--drain-file", &marker]);
    assert!(Path::new(&marker).exists());
    assert_eq!(health(&marker).0, 1);
    drain(&["--undo", "--drain-file", &marker]);
    assert!(!Path::new(&marker).exists());
    drain(&["--undo", "--drain-file", &marker]);
    assert_eq!(health(&marker).0, 0);
    // A marker that cannot be made is an error the operator must see.
    let not_a_dir = dir.join("file");
    std::fs::write(&not_a_dir, "").unwrap();
    let mut run = Setup::plain(
        &graceinit(),
        &["drain", "--drain-file", &format!("{not_a_dir}/x")],
    )
    .run();
    assert_eq!(run.code(), 1, "{}", run.report());
    assert!(run.stderr().starts_with("graceinit: "), "{}", run.report());
    // GRACEINIT_DRAIN_FILE, as the harness sets it, is honoured too.
    let mut run = Setup::plain(&graceinit(), &["drain"]).run();
    assert_eq!(run.code(), 0, "{}", run.report());
    assert!(run.dir.path().join("draining").exists(), "{}", run.report());
}

/// A read-only root or no /tmp: the marker cannot be made, but the delay
/// still holds (the balancer may watch something else), with a warning.
#[test]
fn drain_delay_holds_even_when_the_marker_cannot_be_created() {
    let mut setup = Setup::graceinit(NO_ARGS);
    let not_a_dir = setup.dir.join("file");
    std::fs::write(&not_a_dir, "").unwrap();
    let marker = format!("{not_a_dir}/draining");
    setup.command().args([
        "--drain-delay",
        "500ms",
        "--drain-file",
        &marker,
        "--",
        &print_signals(),
        "--exit-on",
        "TERM:0",
    ]);
    let mut run = setup.start();
    let app = run.ready()[0];
    let t0 = monotonic_ns();
    run.kill(libc::SIGTERM);
    let term = run.received("TERM", app);
    assert!(
        term.at_ns.saturating_sub(t0) >= 45 * SECOND / 100,
        "{}",
        run.report()
    );
    assert_eq!(run.wait(), 0, "{}", run.report());
    assert!(
        run.stderr()
            .lines()
            .any(|l| l.starts_with("graceinit: warn: ")),
        "{}",
        run.report()
    );
}

/// Once a stop was forwarded, `--kill-after` also bounds the leftovers'
/// grace: a grandchild that ignores SIGTERM does not get the full 10 s.
#[test]
fn kill_after_bounds_the_leftovers_grace() {
    let script = format!(
        "{} --children 1 --exit-after-ready 0; exec {} --exit-on TERM:3",
        example("ignore_term"),
        print_signals()
    );
    let mut run = Setup::graceinit(&[
        "--kill-after",
        "500ms",
        "--leftover-grace",
        "10s",
        "--",
        BUSYBOX,
        "sh",
        "-c",
        &script,
    ])
    .start();
    // ignore_term's line has two pids, print_signals' one.
    let stubborn: i32 = run
        .line(
            |l| l.starts_with("ready ") && l.split(' ').count() == 3,
            "ignore_term ready",
        )
        .rsplit(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    run.line(
        |l| l.starts_with("ready ") && l.split(' ').count() == 2,
        "print_signals ready",
    );
    let sent = Instant::now();
    run.kill(libc::SIGTERM);
    assert_eq!(run.wait(), 3, "the app's code\n{}", run.report());
    assert!(
        sent.elapsed() < Duration::from_secs(4),
        "took {:?}",
        sent.elapsed()
    );
    assert_survivors_listed(&run, &[stubborn]);
}

/// A relative marker path is taken from the directory graceinit starts in
/// (the image's WORKDIR, where `graceinit health` runs too), although
/// graceinit leaves that directory once the app runs.
#[test]
fn a_relative_marker_is_made_where_graceinit_started() {
    let mut setup = Setup::graceinit(NO_ARGS);
    let dir = setup.dir.path().to_path_buf();
    let app = print_signals();
    setup.command().current_dir(&dir).args([
        "--drain-delay",
        "10s",
        "--drain-file",
        "graceinit-relative/draining",
        "--",
        &app,
        "--exit-on",
        "TERM:0",
    ]);
    let mut run = setup.start();
    run.ready();
    run.kill(libc::SIGTERM);
    let marker = dir.join("graceinit-relative/draining");
    wait_until("the drain marker", LIMIT, || marker.exists());
    let mut health = Setup::plain(
        &graceinit(),
        &["health", "--drain-file", "graceinit-relative/draining"],
    );
    health.command().current_dir(&dir);
    let mut health = health.run();
    assert_eq!(health.code(), 1, "{}", health.report());
    assert!(health.stdout().contains("draining"), "{}", health.report());
    // A second SIGTERM ends the drain.
    run.kill(libc::SIGTERM);
    assert_eq!(run.wait(), 0, "{}", run.report());
}

/// A kill-after of 0 is off, like a drain delay of 0: the app gets its
/// stop signal and the time it needs, not a SIGKILL in the same instant.
#[test]
fn kill_after_zero_is_off() {
    for env in [None, Some(("GRACEINIT_KILL_AFTER", "0"))] {
        let flags: &[&str] = if env.is_some() {
            &[]
        } else {
            &["--kill-after", "0"]
        };
        let (mut run, _marker) = start_with_env(env, flags, &["--exit-on", "TERM:0"]);
        let app = run.ready()[0];
        run.kill(libc::SIGTERM);
        assert_eq!(run.wait(), 0, "{env:?}\n{}", run.report());
        run.received("TERM", app);
    }
}
