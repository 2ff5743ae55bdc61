//! Signal forwarding (SPEC §4): what reaches the app, behind a wrapper,
//! across its process group or not, rewritten, real-time, from a terminal,
//! and when graceinit's parent dies.

use std::io::Write;
use std::os::unix::process::CommandExt;

use crate::harness::{print_signals, send, Setup, BUSYBOX};
use crate::signals;

/// `graceinit FLAGS -- print_signals ARGS`.
fn start(flags: &[&str], args: &[&str]) -> Setup {
    Setup::print_signals(flags, args)
}

/// `CMD npm start` style: the app runs under a shell that does not forward.
/// What the user needs is that the app hears SIGTERM at all (a bare shell
/// as PID 1 drops it, tini without -g kills the shell only and exits); the
/// group test below checks the route.
#[test]
fn sigterm_reaches_the_app_behind_a_sh_c_wrapper() {
    let script = format!("{} --exit-on TERM:0; echo wrapper done", print_signals());
    let mut run = Setup::graceinit(&["--", BUSYBOX, "sh", "-c", &script]).start();
    let app = run.ready()[0];
    run.kill(libc::SIGTERM);
    run.received("TERM", app);
    run.wait();
}

/// The grandchild shares the app's process group: by default it gets the
/// forwarded signal; with `-c` (and its variables) only the child does.
#[test]
fn group_delivery_by_default_child_only_with_c() {
    for (flags, env, group) in [
        (&[][..], None, true),
        (&["-g"][..], None, true),
        (&["-c"][..], None, false),
        (&["--single-child"][..], None, false),
        (&[][..], Some(("GRACEINIT_SINGLE_CHILD", "1")), false),
        (&[][..], Some(("DUMB_INIT_SETSID", "0")), false),
    ] {
        let mut setup = start(flags, &["--grandchild", "--exit-on", "TERM:0"]);
        if let Some((name, value)) = env {
            setup = setup.env(name, value);
        }
        let mut run = setup.start();
        let pids = run.ready();
        let (child, grandchild) = (pids[0], pids[1]);
        run.kill(libc::SIGUSR1);
        run.received("USR1", child);
        // A sentinel sent to the grandchild directly: a forwarded USR1 (lower
        // number, sent earlier) would be printed before it.
        send(run.host_pid(grandchild), libc::SIGUSR2);
        run.received("USR2", grandchild);
        let expected: &[&str] = if group { &["USR1", "USR2"] } else { &["USR2"] };
        assert_eq!(
            run.signal_names(grandchild),
            expected,
            "{flags:?} {env:?}\n{}",
            run.report()
        );
        run.kill(libc::SIGTERM);
        assert_eq!(run.wait(), 0, "{flags:?} {env:?}\n{}", run.report());
        assert_eq!(
            run.signal_names(child),
            ["USR1", "TERM"],
            "{flags:?} {env:?}"
        );
    }
}

/// One rewrite case: signals sent to graceinit, and what the app must see.
struct Rewrite {
    flags: &'static [&'static str],
    env: Option<&'static str>,
    sent: &'static [i32],
    seen: &'static [&'static str],
}

/// dumb-init's parametrised rewrite tests: exact sequences seen by the app.
#[test]
fn rewrites_give_exact_signal_sequences() {
    // The app exits on TERM, QUIT or INT, so the last signal sent must end up as one.
    let cases = [
        Rewrite {
            flags: &["-r", "TERM:QUIT"],
            env: None,
            sent: &[libc::SIGUSR2, libc::SIGTERM],
            seen: &["USR2", "QUIT"],
        },
        Rewrite {
            flags: &["-r", "15:3"],
            env: None,
            sent: &[libc::SIGTERM],
            seen: &["QUIT"],
        },
        Rewrite {
            flags: &["--rewrite", "sigterm:SIGQUIT"],
            env: None,
            sent: &[libc::SIGTERM],
            seen: &["QUIT"],
        },
        Rewrite {
            flags: &["-r", "USR1:0"],
            env: None,
            sent: &[libc::SIGUSR1, libc::SIGUSR2, libc::SIGTERM],
            seen: &["USR2", "TERM"],
        },
        Rewrite {
            flags: &[],
            env: Some("TERM:QUIT,USR1:0"),
            sent: &[libc::SIGUSR1, libc::SIGUSR2, libc::SIGTERM],
            seen: &["USR2", "QUIT"],
        },
        // A flag beats its variable.
        Rewrite {
            flags: &["-r", "TERM:INT"],
            env: Some("TERM:QUIT"),
            sent: &[libc::SIGTERM],
            seen: &["INT"],
        },
    ];
    for Rewrite {
        flags,
        env,
        sent,
        seen: expected,
    } in cases
    {
        let mut setup = start(
            flags,
            &[
                "--exit-on",
                "TERM:0",
                "--exit-on",
                "QUIT:0",
                "--exit-on",
                "INT:0",
            ],
        );
        if let Some(value) = env {
            setup = setup.env("GRACEINIT_REWRITE", value);
        }
        let mut run = setup.start();
        let app = run.ready()[0];
        // One at a time, waiting for each expected line, so the order the
        // app sees is the order sent. A dropped signal has no line to wait
        // for; the next line proves it was not forwarded, since it would
        // have arrived first.
        let mut seen = 0;
        for &sig in sent {
            run.kill(sig);
            if seen < expected.len() && !drops(flags, env, sig) {
                run.received(expected[seen], app);
                seen += 1;
            }
        }
        assert_eq!(run.wait(), 0, "{flags:?} {env:?}\n{}", run.report());
        assert_eq!(
            run.signal_names(app),
            expected,
            "{flags:?} {env:?}\n{}",
            run.report()
        );
    }
}

/// Whether a case's rewrite table drops `sig`.
fn drops(flags: &[&str], env: Option<&str>, sig: i32) -> bool {
    sig == libc::SIGUSR1 && (flags.contains(&"USR1:0") || env.is_some_and(|e| e.contains("USR1:0")))
}

/// Every catchable signal but CHLD is forwarded, the real-time range
/// included, and the fault signals when sent with kill (SPEC §4).
#[test]
fn every_forwardable_signal_reaches_the_app() {
    // TSTP/TTIN/TTOU reach the app as SIGSTOP (hostile.rs checks that).
    let skipped = [
        libc::SIGKILL,
        libc::SIGSTOP,
        libc::SIGCHLD,
        libc::SIGTERM,
        libc::SIGTSTP,
        libc::SIGTTIN,
        libc::SIGTTOU,
    ];
    let mut run = start(&[], &["--exit-on", "TERM:0"]).start();
    let app = run.ready()[0];
    // One at a time, so each line is awaited before the next is sent.
    for sig in (1..32).chain(libc::SIGRTMIN()..=libc::SIGRTMAX()) {
        if !skipped.contains(&sig) {
            run.kill(sig);
            run.received(&signals::short_name(sig), app);
        }
    }
    run.kill(libc::SIGTERM);
    assert_eq!(run.wait(), 0, "{}", run.report());
}

#[test]
fn realtime_signal_is_forwarded() {
    let mut run = start(&[], &["--exit-on", "RTMIN+3:0"]).start();
    let app = run.ready()[0];
    run.kill(libc::SIGRTMIN() + 3);
    run.received("RTMIN+3", app);
    assert_eq!(run.wait(), 0, "{}", run.report());
    assert_eq!(run.signal_names(app), ["RTMIN+3"]);
}

/// Real-time signals queue instead of coalescing: a burst sent to
/// graceinit reaches the app one for one.
#[test]
fn a_burst_of_realtime_signals_arrives_one_for_one() {
    let mut run = start(&[], &["--exit-on", "RTMIN+2:0"]).start();
    let app = run.ready()[0];
    for _ in 0..300 {
        run.kill(libc::SIGRTMIN() + 1);
    }
    // Lower real-time signals are delivered first, at graceinit and at the
    // app alike, so the sentinel comes after the whole burst.
    run.kill(libc::SIGRTMIN() + 2);
    assert_eq!(run.wait(), 0, "{}", run.report());
    let burst = run
        .signal_names(app)
        .iter()
        .filter(|n| *n == "RTMIN+1")
        .count();
    assert_eq!(burst, 300, "{}", run.report());
}

/// Ctrl-C in `docker run -it`: the terminal is graceinit's controlling
/// terminal, its session's foreground group gets SIGINT, and graceinit
/// forwards it. Also the case where the terminal is nobody's yet and the
/// child takes it. Either way the app sees SIGINT exactly once.
#[test]
fn ctrl_c_in_a_terminal_reaches_the_app_once() {
    for graceinit_owns_terminal in [true, false] {
        let pty = nix::pty::openpty(None, None).unwrap();
        let mut setup = start(&[], &["--exit-on", "TERM:0"]);
        setup.command().stdin(pty.slave.try_clone().unwrap());
        // SAFETY: raw setsid/ioctl between fork and exec.
        unsafe {
            setup.command().pre_exec(move || {
                libc::setsid();
                if graceinit_owns_terminal {
                    libc::ioctl(libc::STDIN_FILENO, libc::TIOCSCTTY, 0);
                }
                Ok(())
            });
        }
        let mut run = setup.start();
        let app = run.ready()[0];
        let mut master = std::fs::File::from(pty.master);
        master.write_all(b"\x03").unwrap();
        run.received("INT", app);
        run.kill(libc::SIGTERM);
        assert_eq!(run.wait(), 0, "{}", run.report());
        assert_eq!(
            run.signal_names(app),
            ["INT", "TERM"],
            "terminal owned by graceinit: {graceinit_owns_terminal}\n{}",
            run.report()
        );
    }
}

/// `-p SIG`: graceinit gets SIG when its parent dies, and forwards it.
#[test]
fn pdeathsig_is_forwarded_when_the_parent_dies() {
    // PID 1 is a shell; an intermediate shell is graceinit's parent.
    let app = print_signals();
    let run = Setup::not_pid1(&["-p", "USR1", "--", &app, "--exit-on", "TERM:0"]).start();
    let app = run.ready()[0];
    send(run.parent(), libc::SIGKILL);
    run.received("USR1", app);
}

/// Not PID 1, graceinit behaves like dumb-init on a job-control stop: it
/// stops the app with SIGSTOP (the app leads its own session, where the
/// kernel drops SIGTSTP for a process without a handler), then stops
/// itself; SIGCONT resumes both.
#[test]
fn job_control_stop_is_forwarded_then_graceinit_stops_when_not_pid1() {
    let mut run = Setup::not_pid1(&["--", &print_signals(), "--exit-on", "TERM:0"]).start();
    let app = run.ready()[0];
    let graceinit = run.under_test();
    let app_host = run.host_pid(app);
    send(graceinit, libc::SIGTSTP);
    run.wait_stopped(graceinit);
    run.wait_stopped(app_host);
    send(graceinit, libc::SIGCONT);
    run.received("CONT", app);
    run.wait_resumed(graceinit);
    run.kill(libc::SIGTERM);
    assert_eq!(run.code(), 0, "graceinit's exit\n{}", run.report());
}
