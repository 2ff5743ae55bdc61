//! Exit status (SPEC §4, `-e`, `--zero-on-stop`): graceinit exits as the
//! app did, as a shell would report it, after the remaps asked for.

use crate::harness::{send, Setup, BUSYBOX};

/// `graceinit FLAGS -- sh -c SCRIPT`: the app ends by itself.
#[test]
fn exit_code_table() {
    let cases: [(&[&str], &str, i32); 12] = [
        (&[], "exit 0", 0),
        (&[], "exit 3", 3),
        (&[], "exit 255", 255),
        (&[], "kill -KILL $$", 137),
        (&[], "kill -SEGV $$", 139),
        (&[], "kill -TERM $$", 143),
        (&["-e", "143"], "kill -TERM $$", 0),
        (&["-e", "143"], "exit 143", 0),
        (&["-e", "3:7"], "exit 3", 7),
        (&["-e", "3:7", "-e", "4:8"], "exit 4", 8),
        (&["--remap-exit", "3:7"], "exit 5", 5),
        // Not a stop graceinit forwarded: a crash, whatever its signal.
        (&["--zero-on-stop"], "kill -TERM $$", 143),
    ];
    for (flags, script, expected) in cases {
        let script = format!("ulimit -c 0; {script}");
        let mut args: Vec<&str> = flags.to_vec();
        args.extend(["--", BUSYBOX, "sh", "-c", &script]);
        let mut run = Setup::graceinit(&args).run();
        assert_eq!(run.code(), expected, "{flags:?} {script}\n{}", run.report());
    }
}

/// The remap also works from the environment.
#[test]
fn remap_exit_from_the_environment() {
    let mut run = Setup::graceinit(&["--", BUSYBOX, "sh", "-c", "exit 143"])
        .env("GRACEINIT_REMAP_EXIT", "143:0")
        .run();
    assert_eq!(run.code(), 0, "{}", run.report());
}

/// The app stops because of the SIGTERM graceinit forwarded: 143, or 0
/// with `--zero-on-stop` / `-e 143`, whether it dies from the signal or
/// exits 128+15 itself. A crash keeps its code under `--zero-on-stop`.
#[test]
fn a_forwarded_stop_and_zero_on_stop() {
    let cases: [(&[&str], &[&str], i32, i32); 6] = [
        (&[], &["--die-on", "TERM"], libc::SIGTERM, 143),
        (&["--zero-on-stop"], &["--die-on", "TERM"], libc::SIGTERM, 0),
        (
            &["--zero-on-stop"],
            &["--exit-on", "TERM:143"],
            libc::SIGTERM,
            0,
        ),
        (&["-e", "143"], &["--die-on", "TERM"], libc::SIGTERM, 0),
        // The stop signal as rewritten is what counts.
        (
            &["--zero-on-stop", "-r", "TERM:QUIT"],
            &["--die-on", "QUIT"],
            libc::SIGTERM,
            0,
        ),
        // A signal that is not a stop request: the crash is reported.
        (
            &["--zero-on-stop"],
            &["--die-on", "SEGV"],
            libc::SIGSEGV,
            139,
        ),
    ];
    for (flags, app_args, sig, expected) in cases {
        let mut run = Setup::print_signals(flags, app_args).start();
        let pid = run.ready()[0];
        if sig == libc::SIGSEGV {
            // Faults are never forwarded: deliver it to the app directly.
            send(run.host_pid(pid), sig);
        } else {
            run.kill(sig);
        }
        assert_eq!(
            run.wait(),
            expected,
            "{flags:?} {app_args:?}\n{}",
            run.report()
        );
    }
}

/// A child that is stopped and continued has not exited: graceinit keeps
/// waiting and later reports the real exit.
#[test]
fn a_stopped_child_is_not_an_exit() {
    let mut run = Setup::print_signals(&[], &["--exit-on", "TERM:9"]).start();
    let app = run.ready()[0];
    let host = run.host_pid(app);
    send(host, libc::SIGSTOP);
    run.wait_stopped(host);
    send(host, libc::SIGCONT);
    run.received("CONT", app);
    run.kill(libc::SIGTERM);
    assert_eq!(run.wait(), 9, "{}", run.report());
}

/// A file without `#!` in an image with no /bin/sh (FROM scratch): it exists
/// but cannot be run, so 126 "Exec format error", not 127 "not found" from
/// the missing shell that execvp would have tried.
#[test]
fn a_script_with_no_shell_to_run_it_is_126() {
    let dir = crate::harness::TempDir::new();
    let script = dir.join("no-shebang");
    std::fs::write(&script, "echo hi\n").unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    // /bin is /usr/bin on Debian: hide both under a tmpfs in the namespace.
    let hide_shell = format!(
        "{BUSYBOX} mount -t tmpfs none /usr/bin && exec {} {script}",
        crate::harness::graceinit()
    );
    let mut run = Setup::pid1(BUSYBOX, &["sh", "-c", &hide_shell]).run();
    assert_eq!(run.code(), 126, "{}", run.report());
    assert!(
        run.stderr().contains("Exec format error"),
        "{}",
        run.report()
    );
}
