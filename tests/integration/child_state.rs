//! What the app starts with (SPEC §3) and what an idle graceinit costs
//! (§4): no leaked descriptor, a clean signal state, zero wakeups.

use std::os::unix::process::CommandExt;
use std::time::Duration;

use crate::harness::{example, print_signals, status_number, wait_until, Setup, BUSYBOX, LIMIT};

#[test]
fn child_sees_only_fds_0_1_2() {
    for flags in [&[][..], &["-vv", "--drain-delay", "1s", "-s"][..]] {
        let mut args = flags.to_vec();
        let app = example("list_fds");
        args.extend(["--", &app]);
        let mut run = Setup::graceinit(&args).run();
        assert_eq!(run.code(), 0, "{}", run.report());
        assert_eq!(run.stdout(), "fds 0 1 2", "{flags:?}\n{}", run.report());
    }
}

/// graceinit blocks every signal for its signalfd, and may be started with
/// signals ignored (nohup, a shell's `trap '' HUP`): none of it may reach
/// the app, which would then never hear SIGTERM (tini's sigconf test).
#[test]
fn child_starts_with_empty_sigblk_and_sigign() {
    let app = print_signals();
    let start = |mut setup: Setup| {
        // SAFETY: raw signal calls between fork and exec.
        unsafe {
            setup.command().pre_exec(|| {
                libc::signal(libc::SIGHUP, libc::SIG_IGN);
                libc::signal(libc::SIGUSR2, libc::SIG_IGN);
                // glibc's signal() refuses its reserved 32 and 33, but a
                // parent can still leave them ignored (the Rust test runner
                // does): set 32 with the raw system call.
                let ignore: [libc::c_ulong; 4] = [libc::SIG_IGN as libc::c_ulong, 0, 0, 0];
                libc::syscall(
                    libc::SYS_rt_sigaction,
                    32,
                    ignore.as_ptr(),
                    std::ptr::null::<u8>(),
                    8,
                );
                let mut set = std::mem::zeroed::<libc::sigset_t>();
                libc::sigemptyset(&mut set);
                libc::sigaddset(&mut set, libc::SIGUSR1);
                libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
                Ok(())
            });
        }
        let run = setup.start();
        run.ready();
        let field = |name: &str| {
            let line = run.line(|l| l.starts_with(name), name);
            u64::from_str_radix(line[name.len()..].trim(), 16).unwrap()
        };
        let masks = (field("SigBlk:"), field("SigIgn:"));
        drop(run);
        masks
    };
    // The control: without an init in between, the injected state shows.
    let (blocked, ignored) = start(Setup::pid1(&app, &["--mask"]));
    let injected_blocked = 1 << (libc::SIGUSR1 - 1);
    let injected_ignored = 1 << (libc::SIGHUP - 1) | 1 << (libc::SIGUSR2 - 1) | 1 << 31;
    assert_eq!(
        blocked & injected_blocked,
        injected_blocked,
        "SigBlk {blocked:x}"
    );
    assert_eq!(
        ignored & injected_ignored,
        injected_ignored,
        "SigIgn {ignored:x}"
    );
    for flags in [&[][..], &["-c"][..]] {
        let mut args = flags.to_vec();
        args.extend(["--", &app, "--mask"]);
        let (blocked, ignored) = start(Setup::graceinit(&args));
        assert_eq!(
            (blocked, ignored),
            (0, 0),
            "{flags:?}: SigBlk {blocked:x}, SigIgn {ignored:x}"
        );
    }
}

/// tini wakes up every second; graceinit sleeps in poll() with no timeout
/// until something happens. Alone, so that nothing else in the suite
/// signals or loads it.
#[test]
fn idle_graceinit_makes_no_context_switches() {
    let _alone = crate::harness::whole_machine();
    let run = Setup::graceinit(&["--", BUSYBOX, "sleep", "30"]).start();
    // busybox's applets keep its name.
    wait_until("the child to run sleep", LIMIT, || {
        run.tree().iter().any(|p| p.name == "busybox")
    });
    let pid1 = run.pid1();
    let switches = || {
        status_number(pid1, "voluntary_ctxt_switches:")
            + status_number(pid1, "nonvoluntary_ctxt_switches:")
    };
    // Start-up (the exec handshake, the first log line) has its own wakeups:
    // measure from when two reads 100 ms apart agree and graceinit sleeps
    // (on a starved machine a runnable graceinit can keep still for 100 ms).
    let mut before = switches();
    wait_until("graceinit to settle", LIMIT, || {
        std::thread::sleep(Duration::from_millis(100));
        let now = switches();
        std::mem::replace(&mut before, now) == now && run.state(pid1) == Some('S')
    });
    // A measurement window, not a wait for a condition.
    std::thread::sleep(Duration::from_secs(2));
    let after = switches();
    assert_eq!(
        after - before,
        0,
        "graceinit woke up {} times in 2 s",
        after - before
    );
}
