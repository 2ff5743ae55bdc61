//! Attacks on PID 1 (issue 9), each reduced to a size CI can run: graceinit
//! must never die, hang, leak or hurt the app. The full sizes are in
//! `scripts/attack-full.sh` and the `#[ignore]` tests at the end.

use std::os::unix::process::CommandExt;
use std::time::Duration;

use crate::harness::{
    children, example, graceinit, monotonic_ns, print_signals, send, wait_until, whole_machine,
    Running, Setup, TempDir, BUSYBOX, LIMIT,
};

/// Makes the command's stderr a pipe: with `keep_reader` a reader that
/// never reads (a stuck log driver), else one that is already gone.
fn stderr_to_pipe(setup: &mut Setup, keep_reader: bool) {
    // SAFETY: raw pipe/dup2/close between fork and exec.
    unsafe {
        setup.command().pre_exec(move || {
            let mut fds = [0; 2];
            if libc::pipe(fds.as_mut_ptr()) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            libc::dup2(fds[1], libc::STDERR_FILENO);
            libc::close(fds[1]);
            if !keep_reader {
                libc::close(fds[0]);
            }
            // A kept reader stays open without close-on-exec, in every
            // process below, and none of them reads it.
            Ok(())
        });
    }
}

/// #1: a duration too long for the clock. Either refused at start (exit 2)
/// or honoured as "never": SIGTERM still reaches the app. Today's main
/// panics in `Instant + Duration` and exits 139.
#[test]
fn a_duration_past_the_clock_never_panics() {
    let huge = "10000000000000000000";
    for flag in ["--kill-after", "--leftover-grace", "--drain-delay"] {
        let mut run = Setup::print_signals(&[flag, huge], &["--exit-on", "TERM:0"]).start();
        let Some(ready) = run.line_within(|l| l.starts_with("ready "), LIMIT) else {
            assert_eq!(
                run.wait(),
                2,
                "{flag}: neither refused nor started\n{}",
                run.report()
            );
            continue;
        };
        let app_pid: i32 = ready[6..].parse().unwrap();
        run.kill(libc::SIGTERM);
        if flag == "--drain-delay" {
            // The drain lasts for ever; a second SIGTERM means now.
            wait_until("the drain to start", LIMIT, || {
                std::fs::symlink_metadata(run.dir.join("draining")).is_ok()
            });
            run.kill(libc::SIGTERM);
        }
        assert_eq!(run.wait(), 0, "{flag}\n{}", run.report());
        assert_eq!(run.signal_names(app_pid), ["TERM"], "{flag}");
    }
}

/// #2: stderr is a pipe whose reader is gone. A log line raises SIGPIPE on
/// graceinit itself; it is not the app's and must not be forwarded (with
/// `-v` today's main kills the app at start; at the default level the
/// drain's warning does it at SIGTERM).
#[test]
fn graceinit_keeps_its_own_sigpipe() {
    for (flags, drain) in [
        (&["-vv"][..], false),
        (&["--drain-delay", "500ms"][..], true),
    ] {
        let mut setup = Setup::print_signals(flags, &["--exit-on", "TERM:0"]);
        if drain {
            // A marker that cannot be made: the drain warns at the default level.
            setup = setup.env("GRACEINIT_DRAIN_FILE", "/proc/graceinit/no/draining");
        }
        stderr_to_pipe(&mut setup, false);
        let mut run = setup.start();
        let app_pid = run.ready()[0];
        let sent = monotonic_ns();
        run.kill(libc::SIGTERM);
        let term = run.received("TERM", app_pid);
        assert_eq!(run.wait(), 0, "{flags:?}\n{}", run.report());
        assert_eq!(
            run.signal_names(app_pid),
            ["TERM"],
            "{flags:?}\n{}",
            run.report()
        );
        if drain {
            // Drained first: the warning's SIGPIPE did not cut it short.
            let after = Duration::from_nanos(term.at_ns - sent);
            assert!(
                after >= Duration::from_millis(450),
                "SIGTERM after {after:?}"
            );
        }
    }
}

/// #3: stderr is a pipe nobody reads (a stuck log driver) and `-w` logs a
/// warning per orphan. Today's main blocks in write(): zombies pile up and
/// SIGTERM is ignored. Every orphan must still be reaped, and SIGTERM work.
#[test]
fn a_stalled_log_reader_does_not_stop_reaping_or_sigterm() {
    let _alone = whole_machine();
    let script = format!(
        "{} make 3000 --count-zombies --settle 3000; exec {} --exit-on TERM:0",
        example("orphans"),
        print_signals()
    );
    let mut setup = Setup::graceinit(&["-w", "-v", "--", BUSYBOX, "sh", "-c", &script]);
    stderr_to_pipe(&mut setup, true);
    let mut run = setup.start();
    let zombies = run.line(|l| l.starts_with("zombies "), "the zombie count");
    assert_eq!(zombies, "zombies 0", "{}", run.report());
    let app = run.ready()[0];
    run.kill(libc::SIGTERM);
    run.received("TERM", app);
    assert_eq!(run.wait(), 0, "{}", run.report());
}

/// #5: signals 32 and 33 (glibc's own, left out of its full set) killed
/// graceinit when not PID 1 and orphaned the app. They reach the signalfd
/// like any other: rewritten here so the app can show them.
#[test]
fn signals_32_and_33_do_not_kill_graceinit() {
    let app = print_signals();
    let flags = [
        "-r",
        "32:USR1",
        "-r",
        "33:USR2",
        "--",
        &app,
        "--exit-on",
        "TERM:0",
    ];
    let mut run = Setup::not_pid1(&flags).start();
    let app = run.ready()[0];
    run.kill(32);
    run.received("USR1", app);
    run.kill(33);
    run.received("USR2", app);
    run.kill(libc::SIGTERM);
    assert_eq!(run.wait(), 0, "{}", run.report());
}

/// #16: a fault signal sent with kill() is forwarded like any other and
/// does not end graceinit (today's main dies of it when not PID 1).
#[test]
fn a_fault_signal_sent_with_kill_is_forwarded() {
    let mut run = Setup::not_pid1(&["--", &print_signals(), "--exit-on", "TERM:0"]).start();
    let app = run.ready()[0];
    for (sig, name) in [
        (libc::SIGSEGV, "SEGV"),
        (libc::SIGABRT, "ABRT"),
        (libc::SIGBUS, "BUS"),
    ] {
        run.kill(sig);
        run.received(name, app);
    }
    run.kill(libc::SIGTERM);
    assert_eq!(run.wait(), 0, "{}", run.report());
}

/// #6: a FIFO planted at the marker path hung PID 1 in open() at SIGTERM
/// (no reaping, no escalation), and `graceinit drain` on it for ever.
#[test]
fn a_fifo_at_the_marker_path_hangs_nothing() {
    let mut run =
        Setup::print_signals(&["--drain-delay", "300ms"], &["--exit-on", "TERM:0"]).start();
    let app_pid = run.ready()[0];
    // After start-up, which removes a stale marker.
    let marker = run.dir.join("draining");
    nix::unistd::mkfifo(
        marker.as_str(),
        nix::sys::stat::Mode::from_bits_truncate(0o600),
    )
    .unwrap();
    run.kill(libc::SIGTERM);
    run.received("TERM", app_pid);
    assert_eq!(run.wait(), 0, "{}", run.report());
    assert!(
        run.stderr().contains("cannot create drain marker"),
        "{}",
        run.report()
    );
    let mut drain = Setup::plain(&graceinit(), &["drain", "--drain-file", &marker]).start();
    assert_eq!(drain.wait(), 1, "{}", drain.report());
    assert!(drain.stderr().contains("FIFO"), "{}", drain.report());
}

/// #9: a symlink planted at the marker path was followed and its target
/// overwritten, as root.
#[test]
fn a_symlink_at_the_marker_path_is_not_followed() {
    let mut run =
        Setup::print_signals(&["--drain-delay", "200ms"], &["--exit-on", "TERM:0"]).start();
    let app_pid = run.ready()[0];
    let victim = run.dir.join("victim");
    std::fs::write(&victim, "secret\n").unwrap();
    let marker = run.dir.join("draining");
    std::os::unix::fs::symlink(&victim, &marker).unwrap();
    run.kill(libc::SIGTERM);
    run.received("TERM", app_pid);
    assert_eq!(run.wait(), 0, "{}", run.report());
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "secret\n");
    let mut drain = Setup::plain(&graceinit(), &["drain", "--drain-file", &marker]).run();
    assert_eq!(drain.code(), 1, "{}", drain.report());
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "secret\n");
}

/// #10: a directory at the marker path made health say "draining" for
/// ever; it is not a marker, and health says what is wrong.
#[test]
fn a_directory_at_the_marker_path_is_named_not_a_drain() {
    let dir = TempDir::new();
    let marker = dir.join("draining");
    std::fs::create_dir(&marker).unwrap();
    let mut health = Setup::plain(&graceinit(), &["health", "--drain-file", &marker]).run();
    assert_eq!(health.code(), 1, "{}", health.report());
    assert!(
        health.stdout().contains("directory") && !health.stdout().contains("draining ("),
        "{}",
        health.report()
    );
}

/// `graceinit drain` with stdout a pipe nobody reads any more must not
/// panic (134); the marker is made either way.
#[test]
fn drain_with_a_broken_stdout_does_not_panic() {
    let dir = TempDir::new();
    let marker = dir.join("draining");
    let mut setup = Setup::plain(&graceinit(), &["drain", "--drain-file", &marker]);
    // SAFETY: raw pipe/dup2/close between fork and exec.
    unsafe {
        setup.command().pre_exec(|| {
            let mut fds = [0; 2];
            libc::pipe(fds.as_mut_ptr());
            libc::dup2(fds[1], libc::STDOUT_FILENO);
            libc::close(fds[0]);
            libc::close(fds[1]);
            Ok(())
        });
    }
    let mut run = setup.run();
    assert_ne!(run.code(), 134, "{}", run.report());
    assert!(std::fs::metadata(&marker).is_ok_and(|m| m.is_file()));
}

/// #7: a stopped app never saw the forwarded SIGTERM (it stays pending
/// while the process is stopped); graceinit follows it with SIGCONT.
#[test]
fn a_stopped_app_still_stops() {
    let mut run =
        Setup::graceinit(&["--", BUSYBOX, "sh", "-c", "kill -STOP $$; busybox sleep 30"]).start();
    // The app is the first process graceinit starts.
    run.wait_stopped(run.host_pid(2));
    run.kill(libc::SIGTERM);
    assert_eq!(run.wait(), 143, "{}", run.report());
}

/// Sends `count` signals, cycling through `sigs`, to host pid `pid`.
fn storm(pid: i32, sigs: &[i32], count: usize) {
    for i in 0..count {
        // SAFETY: kill with plain integers. EAGAIN (a full real-time
        // queue) is retried after letting the receiver catch up.
        while unsafe { libc::kill(pid, sigs[i % sigs.len()]) } == -1 {
            assert_eq!(
                std::io::Error::last_os_error().raw_os_error(),
                Some(libc::EAGAIN)
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// Like `storm`, but each signal is sent only once graceinit has taken the
/// previous one of its kind: ordinary signals coalesce while pending, and
/// each of these must be forwarded on its own.
fn storm_one_for_one(pid: i32, sigs: &[i32], count: usize) {
    let pending = |sig: i32| {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let mask = status
            .lines()
            .find_map(|l| l.strip_prefix("ShdPnd:"))
            .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
            .expect("ShdPnd in status");
        mask & (1 << (sig - 1)) != 0
    };
    for i in 0..count {
        let sig = sigs[i % sigs.len()];
        let deadline = std::time::Instant::now() + LIMIT;
        while pending(sig) {
            assert!(
                std::time::Instant::now() < deadline,
                "signal {sig} stays pending"
            );
            std::thread::yield_now();
        }
        send(pid, sig);
    }
}

/// VmRSS of host pid `pid` in kB.
fn rss_now(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no VmRSS in /proc/{pid}/status"))
}

/// VmRSS of host pid `pid` in kB, once graceinit has caught up: two reads
/// 50 ms apart agree.
fn settled_rss(pid: i32) -> u64 {
    let read = || rss_now(pid);
    let mut before = read();
    let mut rss = before;
    wait_until("graceinit's memory to settle", LIMIT, || {
        std::thread::sleep(Duration::from_millis(50));
        rss = read();
        std::mem::replace(&mut before, rss) == rss
    });
    rss
}

/// #8: memory grew with every forwarded stop signal (a Vec push each).
/// 50,000 SIGINT/SIGQUIT, each forwarded, to an app that ignores them:
/// VmRSS stays flat (today's main: about 4 bytes a signal, 200 kB).
#[test]
fn memory_stays_flat_under_a_stop_signal_storm() {
    let _alone = whole_machine();
    memory_flat_under_stop_signals(50_000, true, 64);
}

fn memory_flat_under_stop_signals(count: usize, one_for_one: bool, bound_kb: u64) {
    let mut run = Setup::graceinit(&[
        "--",
        BUSYBOX,
        "sh",
        "-c",
        "trap '' INT QUIT; echo ready $$; exec busybox sleep 1000",
    ])
    .start();
    run.ready();
    let pid1 = run.pid1();
    // First the code and stack pages a forward touches, which count in RSS.
    storm(pid1, &[libc::SIGINT, libc::SIGQUIT], 1_000);
    let before = settled_rss(pid1);
    let started = std::time::Instant::now();
    if one_for_one {
        storm_one_for_one(pid1, &[libc::SIGINT, libc::SIGQUIT], count);
    } else {
        storm(pid1, &[libc::SIGINT, libc::SIGQUIT], count);
    }
    eprintln!("sent in {:?}", started.elapsed());
    let after = settled_rss(pid1);
    eprintln!("{count} stop signals: VmRSS {before} kB -> {after} kB");
    assert!(
        after <= before + bound_kb,
        "VmRSS {before} kB -> {after} kB after {count} SIGINT/SIGQUIT"
    );
    run.kill(libc::SIGKILL);
    run.wait();
}

/// #13: with no /proc (or the host's), the kill warning cannot know the
/// survivors: it says "unknown", not "none" and not the host's pids.
#[test]
fn survivors_are_unknown_without_our_own_proc() {
    let app = example("ignore_term");
    let args = ["--kill-after", "300ms", "--", app.as_str()];
    // An empty tmpfs over the namespace's /proc (unmounting it would
    // uncover the host's below).
    let no_proc = format!(
        "busybox mount -t tmpfs none /proc && exec {} {}",
        graceinit(),
        args.join(" ")
    );
    let hidden = Setup::pid1(BUSYBOX, &["sh", "-c", &no_proc]);
    let mut host_proc = Setup::plain(
        "unshare",
        &["--pid", "--fork", "--kill-child", "--", &graceinit()],
    );
    host_proc.command().args(args);
    for (what, setup) in [("no /proc", hidden), ("the host's /proc", host_proc)] {
        let mut run = setup.start();
        run.ready();
        // graceinit is PID 1 of the namespace in both.
        send(run.host_pid(1), libc::SIGTERM);
        let code = run.wait();
        let warning = run
            .stderr()
            .lines()
            .find(|l| l.contains("survivors:"))
            .map(str::to_string)
            .unwrap_or_else(|| panic!("{what}: no kill warning\n{}", run.report()));
        assert!(warning.ends_with("survivors: unknown"), "{what}: {warning}");
        assert_eq!(code, 137, "{what}\n{}", run.report());
    }
}

/// #15: Ctrl-Z (`kill -TSTP` to a graceinit in a shell's job) stops the
/// app too: the app leads its own session, where the kernel drops TSTP
/// for it, so graceinit sends SIGSTOP, then stops itself.
#[test]
fn ctrl_z_stops_the_app_and_graceinit() {
    let mut run = Setup::not_pid1(&["--", BUSYBOX, "sleep", "30"]).start();
    let graceinit = run.under_test();
    let mut sleep = None;
    wait_until("sleep to run", LIMIT, || {
        sleep = children(graceinit).first().copied();
        sleep.is_some()
    });
    let sleep = sleep.expect("waited for it");
    run.kill(libc::SIGTSTP);
    run.wait_stopped(sleep);
    run.wait_stopped(graceinit);
    run.kill(libc::SIGCONT);
    run.wait_resumed(graceinit);
    run.wait_resumed(sleep);
    run.kill(libc::SIGTERM);
    assert_eq!(run.wait(), 143, "{}", run.report());
}

/// #16: graceinit keeps no directory busy; the app keeps the one it was
/// started in.
#[test]
fn graceinit_leaves_its_directory_the_app_keeps_it() {
    let mut setup = Setup::print_signals(&[], &["--exit-on", "TERM:0"]);
    let dir = setup.dir.path().to_path_buf();
    setup.command().current_dir(&dir);
    let mut run = setup.start();
    let app_pid = run.ready()[0];
    let cwd = |host: i32| std::fs::read_link(format!("/proc/{host}/cwd")).unwrap();
    assert_eq!(cwd(run.host_pid(app_pid)), dir);
    wait_until("graceinit to leave its directory", LIMIT, || {
        cwd(run.pid1()) == std::path::Path::new("/")
    });
    run.kill(libc::SIGTERM);
    assert_eq!(run.wait(), 0, "{}", run.report());
}

/// issue 8: graceinit as PID 1 running graceinit (an image's ENTRYPOINT
/// under `docker run --init`), both draining 2 s: the drain lasts 2 s from
/// the marker's creation, not 2 s + 2 s.
#[test]
fn nested_graceinits_drain_once() {
    let inner = graceinit();
    let outer = ["--drain-delay", "2s", "--", &inner, "--drain-delay", "2s"];
    let mut run = Setup::print_signals(&outer, &["--exit-on", "TERM:0"]).start();
    let app_pid = run.ready()[0];
    let sent = monotonic_ns();
    run.kill(libc::SIGTERM);
    let term = run.received("TERM", app_pid);
    let after = Duration::from_nanos(term.at_ns - sent);
    assert!(
        after >= Duration::from_millis(1900),
        "SIGTERM after {after:?}"
    );
    assert!(
        after < Duration::from_millis(3500),
        "SIGTERM reached the app {after:?} after docker stop: drained twice?"
    );
    assert_eq!(run.wait(), 0, "{}", run.report());
}

/// A signal storm while orphans are made: every real-time signal reaches
/// the app, no zombie is left, memory stays flat.
#[test]
fn a_signal_storm_during_double_forks() {
    let _alone = whole_machine();
    signal_storm_during_double_forks(50_000, 2_000, 64);
}

fn signal_storm_during_double_forks(signals: usize, orphans: usize, bound_kb: u64) {
    let script = format!(
        "{} make {orphans} > /dev/null & exec {} --exit-on RTMIN+2:0",
        example("orphans"),
        print_signals()
    );
    // -c: the signals are for the app, not for the orphan maker in its group.
    let mut run = Setup::graceinit(&["-c", "--", BUSYBOX, "sh", "-c", &script]).start();
    let app = run.ready()[0];
    let pid1 = run.pid1();
    let before = settled_rss(pid1);
    let rt = libc::SIGRTMIN() + 1;
    // Within the real-time queue limit (RLIMIT_SIGPENDING, per user).
    let chunk = 10_000;
    let mut sent = 0;
    let delivered = |run: &Running| {
        run.out
            .lines()
            .iter()
            .filter(|l| l.starts_with("SIGRTMIN+1 "))
            .count()
    };
    while sent < signals {
        let now = chunk.min(signals - sent);
        // Real-time signals among ordinary ones, which coalesce.
        storm(pid1, &[rt, libc::SIGUSR1, rt, libc::SIGHUP, rt], now);
        sent += now;
        let expected = (0..sent).filter(|i| i % 5 % 2 == 0).count();
        wait_until("the real-time signals to arrive", LIMIT, || {
            delivered(&run) == expected
        });
    }
    wait_until("no zombie left", LIMIT, || {
        run.tree().iter().all(|p| p.state != 'Z')
    });
    let after = settled_rss(pid1);
    eprintln!("{signals} signals during {orphans} orphans: VmRSS {before} kB -> {after} kB");
    assert!(
        after <= before + bound_kb,
        "VmRSS {before} kB -> {after} kB"
    );
    let stop = std::time::Instant::now();
    run.kill(libc::SIGRTMIN() + 2);
    assert_eq!(run.wait(), 0, "{}", run.report());
    eprintln!("stop in {:?}, zombies left 0", stop.elapsed());
    assert!(run.signal_names(app).iter().any(|n| n == "RTMIN+1"));
}

/// Closed stdin, stdout and stderr, with logging on: graceinit still runs
/// the app, forwards and exits with its code.
#[test]
fn closed_stdio_changes_nothing() {
    let mut setup = Setup::graceinit(&["-vv", "--", BUSYBOX, "sleep", "30"]);
    // SAFETY: raw close between fork and exec.
    unsafe {
        setup.command().pre_exec(|| {
            for fd in 0..3 {
                libc::close(fd);
            }
            Ok(())
        });
    }
    let mut run = setup.start();
    wait_until("sleep to run", LIMIT, || {
        run.tree().iter().any(|p| p.name == "busybox")
    });
    run.kill(libc::SIGTERM);
    assert_eq!(run.wait(), 143);
}

/// Started with stdin and stderr closed, the app still gets them open (on
/// /dev/null): otherwise graceinit's signalfd would have taken number 0 or
/// 2, and the app's first open() would become its stdin or stderr.
#[test]
fn the_app_never_starts_with_stdio_closed() {
    let dir = crate::harness::TempDir::new();
    let report = dir.join("stdio");
    let script = format!(
        "if [ -e /proc/$$/fd/0 ] && [ -e /proc/$$/fd/2 ]; then echo open > {report}; else echo closed > {report}; fi"
    );
    let mut setup = Setup::graceinit(&["--", BUSYBOX, "sh", "-c", &script]);
    // SAFETY: raw close between fork and exec.
    unsafe {
        setup.command().pre_exec(|| {
            libc::close(0);
            libc::close(2);
            Ok(())
        });
    }
    let mut run = setup.run();
    assert_eq!(run.code(), 0, "{}", run.report());
    assert_eq!(std::fs::read_to_string(&report).unwrap(), "open\n");
}

/// Full size: 10 million stop signals (scripts/attack-full.sh).
#[test]
#[ignore = "full-size attack: minutes of CPU"]
fn full_memory_flat_under_ten_million_stop_signals() {
    let _alone = whole_machine();
    memory_flat_under_stop_signals(10_000_000, false, 64);
}

/// Full size: 500,000 signals during 10,000 double-forks.
#[test]
#[ignore = "full-size attack: minutes of CPU"]
fn full_signal_storm_during_double_forks() {
    let _alone = whole_machine();
    signal_storm_during_double_forks(500_000, 10_000, 64);
}

/// Full size: 200,000 orphans, no zombie left.
#[test]
#[ignore = "full-size attack: minutes of CPU"]
fn full_two_hundred_thousand_orphans() {
    let _alone = whole_machine();
    let started = std::time::Instant::now();
    let mut run = Setup::graceinit(&[
        "--",
        &example("orphans"),
        "make",
        "200000",
        "--count-zombies",
        "--settle",
        "20000",
    ])
    .start();
    let pid1 = run.pid1();
    let before = rss_now(pid1);
    let limit = Duration::from_secs(600);
    run.line_within(|l| l == "created 200000", limit)
        .unwrap_or_else(|| panic!("orphans not made\n{}", run.report()));
    let after = rss_now(pid1);
    let zombies = run
        .line_within(|l| l.starts_with("zombies "), limit)
        .unwrap_or_else(|| panic!("no zombie count\n{}", run.report()));
    eprintln!(
        "200000 orphans in {:?}: {zombies}, VmRSS {before} kB -> {after} kB",
        started.elapsed()
    );
    assert_eq!(zombies, "zombies 0");
    assert_eq!(run.wait(), 0, "{}", run.report());
}
