//! The command line (SPEC §1–§3): usage errors, exec failures, `--`, and
//! the tini and dumb-init spellings that make graceinit a drop-in.

use std::os::unix::fs::PermissionsExt;

use crate::harness::{Setup, TempDir, BUSYBOX, NO_ARGS};

/// Exactly one stderr line, `graceinit: ...`.
fn one_error_line(stderr: &str) -> &str {
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "expected one line on stderr, got:\n{stderr}"
    );
    assert!(lines[0].starts_with("graceinit: "), "{}", lines[0]);
    lines[0]
}

#[test]
fn usage_errors_exit_2_with_one_line_naming_flag_and_value() {
    let cases: [(&[&str], &str, &str); 12] = [
        (&["--bogus"], "--bogus", "--bogus"),
        (&["-r", "15"], "--rewrite", "15"),
        (&["-r", "TERM:BOGUS"], "--rewrite", "TERM:BOGUS"),
        (
            &["-r", "TERM:QUIT", "-r", "BOGUS:0"],
            "--rewrite",
            "BOGUS:0",
        ),
        (&["--drain-delay", "ten"], "--drain-delay", "ten"),
        (&["--kill-after=-1s"], "--kill-after", "-1s"),
        (&["-e", "300"], "--remap-exit", "300"),
        (&["-e", "3:256"], "--remap-exit", "3:256"),
        (&["-p", "NOPE"], "--pdeathsig", "NOPE"),
        (&["--drain-file", ""], "--drain-file", "''"),
        // A line break in an option stays on the one line, escaped.
        (&["--x\ny"], "--x\\ny", "--x"),
        (&["-r", "TERM:QU\nIT"], "--rewrite", "TERM:QU\\nIT"),
    ];
    for (flags, flag, value) in cases {
        let mut setup = Setup::graceinit(NO_ARGS);
        let started = setup.dir.join("started");
        setup
            .command()
            .args(flags)
            .args(["--", BUSYBOX, "touch", &started]);
        let mut run = setup.run();
        assert_eq!(run.code(), 2, "{flags:?}\n{}", run.report());
        let line = one_error_line(&run.stderr()).to_string();
        assert!(
            line.contains(flag) && line.contains(value),
            "{flags:?}: {line}"
        );
        assert!(
            !std::path::Path::new(&started).exists(),
            "{flags:?} started the command"
        );
    }
}

/// A bad value from the environment is a usage error too, and says where
/// it came from.
#[test]
fn usage_error_from_the_environment_names_the_variable() {
    let setup = Setup::graceinit(&["--", BUSYBOX, "true"]).env("GRACEINIT_DRAIN_DELAY", "ten");
    let mut run = setup.run();
    assert_eq!(run.code(), 2, "{}", run.report());
    let line = one_error_line(&run.stderr()).to_string();
    assert!(
        line.contains("GRACEINIT_DRAIN_DELAY") && line.contains("ten"),
        "{line}"
    );
}

#[test]
fn missing_command_exits_2_with_one_line() {
    for args in [
        &[][..],
        &["-v"][..],
        &["--"][..],
        &["-c", "-r", "15:3", "--"][..],
    ] {
        let mut run = Setup::graceinit(args).run();
        assert_eq!(run.code(), 2, "{args:?}\n{}", run.report());
        one_error_line(&run.stderr());
    }
}

#[test]
fn exec_failures_exit_127_and_126() {
    let dir = TempDir::new();
    let not_executable = dir.join("not-executable");
    std::fs::write(&not_executable, "#!/bin/sh\necho should not run\n").unwrap();
    let directory = dir.path().to_string_lossy().into_owned();
    for (command, code) in [
        ("/nonexistent/app", 127),
        ("graceinit-test-no-such-command", 127),
        (not_executable.as_str(), 126),
        (directory.as_str(), 126),
    ] {
        // A PATH entry the user cannot search turns "not found" into EACCES
        // for execvp; keep to directories anyone can read.
        let mut run = Setup::graceinit(&["--", command])
            .env("PATH", "/usr/bin:/bin")
            .run();
        assert_eq!(run.code(), code, "{command}\n{}", run.report());
        let line = one_error_line(&run.stderr()).to_string();
        assert!(
            line.starts_with(&format!("graceinit: cannot run '{command}': ")),
            "{line}"
        );
        assert!(run.stdout().is_empty(), "{}", run.report());
    }
}

/// Everything after `--` is the command, even when it is named like a
/// subcommand.
#[test]
fn double_dash_runs_a_program_named_health() {
    let setup = Setup::graceinit(&["--", "health", "--http", "x"]);
    let bin = setup.dir.join("bin");
    std::fs::create_dir(&bin).unwrap();
    let program = format!("{bin}/health");
    std::fs::write(&program, "#!/bin/busybox sh\necho ran health \"$@\"\n").unwrap();
    std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{bin}:{}", std::env::var("PATH").unwrap_or_default());
    let mut run = setup.env("PATH", path).run();
    assert_eq!(run.code(), 0, "{}", run.report());
    assert_eq!(run.stdout(), "ran health --http x");
}

/// dumb-init style: the first word that is not an option starts the
/// command; options after it are the command's.
#[test]
fn first_non_option_word_starts_the_command() {
    let mut run = Setup::graceinit(&[BUSYBOX, "echo", "-v", "-c", "--drain-delay"]).run();
    assert_eq!(run.code(), 0, "{}", run.report());
    assert_eq!(run.stdout(), "-v -c --drain-delay");
    let mut run = Setup::graceinit(&["-c", BUSYBOX, "sh", "-c", "exit 3"]).run();
    assert_eq!(run.code(), 3, "{}", run.report());
}

/// `ENTRYPOINT ["tini", "-s", "-g", "-v", "-w", "-e", "143", "--"]` keeps
/// working with the first word changed.
#[test]
fn tini_spellings_are_accepted() {
    let mut run = Setup::graceinit(&[
        "-s",
        "-g",
        "-v",
        "-w",
        "-e",
        "143",
        "-p",
        "SIGKILL",
        "--",
        BUSYBOX,
        "sh",
        "-c",
        "kill -TERM $$",
    ])
    .run();
    // 0 proves `-e 143` took effect, not just that it parsed.
    assert_eq!(run.code(), 0, "{}", run.report());
    let mut run = Setup::graceinit(&["-vv", "--", BUSYBOX, "true"]).run();
    assert_eq!(run.code(), 0, "{}", run.report());
    let mut run = Setup::graceinit(&["-l"]).run();
    assert_eq!(run.code(), 0, "{}", run.report());
    assert!(!run.stdout().is_empty(), "-l printed nothing");
}

/// `ENTRYPOINT ["dumb-init", "-c", "-r", "15:3", "--"]` likewise.
#[test]
fn dumb_init_spellings_are_accepted() {
    let mut run = Setup::print_signals(
        &["-c", "-r", "15:3", "-r", "10:0", "-v"],
        &["--exit-on", "QUIT:0"],
    )
    .start();
    let pid = run.ready()[0];
    // USR2 is a sentinel: a forwarded USR1 (lower number) would come first.
    run.kill(libc::SIGUSR1);
    run.kill(libc::SIGUSR2);
    run.received("USR2", pid);
    run.kill(libc::SIGTERM);
    run.received("QUIT", pid);
    assert_eq!(run.wait(), 0, "{}", run.report());
    let names: Vec<String> = run.signals().into_iter().map(|r| r.name).collect();
    assert_eq!(names, ["USR2", "QUIT"], "{}", run.report());
    for flag in ["-V", "--version"] {
        let mut run = Setup::graceinit(&[flag]).run();
        assert_eq!(run.code(), 0, "{}", run.report());
        // dockerd parses `X version V - git.COMMIT` from its init.
        let expected = format!("graceinit version {} - git.", env!("CARGO_PKG_VERSION"));
        assert!(run.stdout().starts_with(&expected), "{}", run.report());
    }
    let mut run = Setup::graceinit(&["-h"]).run();
    assert_eq!(run.code(), 0, "{}", run.report());
    assert!(run.stdout().contains("--drain-delay"), "{}", run.report());
}

/// `ENV GRACEINIT_REWRITE=` in a Dockerfile switches a setting off; it is
/// not a malformed value.
#[test]
fn empty_environment_variables_count_as_unset() {
    let mut setup = Setup::graceinit(&["--", BUSYBOX, "sh", "-c", "exit 3"]);
    for name in [
        "GRACEINIT_REWRITE",
        "GRACEINIT_DRAIN_DELAY",
        "GRACEINIT_KILL_AFTER",
        "GRACEINIT_REMAP_EXIT",
        "GRACEINIT_PDEATHSIG",
        "GRACEINIT_LEFTOVER_GRACE",
        "GRACEINIT_SINGLE_CHILD",
    ] {
        setup = setup.env(name, "");
    }
    let mut run = setup.run();
    assert_eq!(run.code(), 3, "{}", run.report());
}
