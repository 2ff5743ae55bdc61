//! Exit codes as Docker reports them (`docker wait`, `docker inspect`), with
//! graceinit as PID 1 and with the command itself as PID 1.

use std::time::{Duration, Instant};

use crate::harness::{docker, docker_ok, shared_machine, Container};

/// (graceinit flags, `sh -c` script, code with graceinit, code with the
/// shell itself as PID 1; `None` where a graceinit flag has no equivalent).
type Case = (&'static [&'static str], &'static str, i32, Option<i32>);

#[rustfmt::skip]
const CASES: &[Case] = &[
    (&[], "exit 0", 0, Some(0)),
    (&[], "exit 3", 3, Some(3)),
    // As PID 1 the shell cannot even kill itself: the kernel drops signals
    // that PID 1 has no handler for, SIGKILL included, and the script goes on.
    (&[], "kill -KILL $$; exit 0", 137, Some(0)),
    (&[], "kill -TERM $$; exit 0", 143, Some(0)),
    // tini's -e: a JVM's exit on SIGTERM is a clean stop.
    (&["-e", "143"], "kill -TERM $$", 0, None),
    // --zero-on-stop forgives only a stop that graceinit forwarded.
    (&["--zero-on-stop"], "kill -TERM $$", 143, None),
];

fn exit_code(image: &str, command: &[&str]) -> i32 {
    let mut args = vec![image];
    args.extend_from_slice(command);
    Container::run("exit", &args).wait()
}

#[test]
fn exit_codes_pass_through_docker() {
    let Some(images) = docker() else { return };
    let _machine = shared_machine();
    for &(flags, script, with, without) in CASES {
        let mut command = vec!["graceinit"];
        command.extend_from_slice(flags);
        command.extend(["--", "sh", "-c", script]);
        assert_eq!(exit_code(&images.noinit, &command), with, "{command:?}");
        if let Some(without) = without {
            let bare = ["sh", "-c", script];
            assert_eq!(exit_code(&images.noinit, &bare), without, "{bare:?}");
        }
    }
}

/// An app that ignores SIGTERM: `--kill-after` ends it with 137 long before
/// Docker's own timeout would.
#[test]
fn kill_after_escalates_to_137_before_dockers_timeout() {
    let Some(images) = docker() else { return };
    let _machine = shared_machine();
    let stubborn = "trap '' TERM; echo ready; sleep 60 & wait";
    let c = Container::run(
        "kill-after",
        &[
            &images.noinit,
            "graceinit",
            "--kill-after",
            "1s",
            "--",
            "sh",
            "-c",
            stubborn,
        ],
    );
    c.wait_for_log("ready");
    let start = Instant::now();
    docker_ok(&["stop", "-t", "30", &c.name]);
    let took = start.elapsed();
    assert_eq!(c.wait(), 137);
    assert!(took < Duration::from_secs(10), "docker stop took {took:?}");
    assert!(
        c.logs().contains("survivors"),
        "no survivors warning:\n{}",
        c.logs()
    );
}

/// `docker stop` of an app that dies of SIGTERM: 143, or 0 with
/// `--zero-on-stop` (the stop was graceinit's to forward).
#[test]
fn docker_stop_exit_code_with_and_without_zero_on_stop() {
    let Some(images) = docker() else { return };
    let _machine = shared_machine();
    for (flags, expected) in [(&[][..], 143), (&["--zero-on-stop"][..], 0)] {
        let mut args = vec![images.noinit.as_str(), "graceinit"];
        args.extend_from_slice(flags);
        args.extend(["--", "sh", "-c", "echo ready; exec sleep 60"]);
        let c = Container::run("stop-code", &args);
        c.wait_for_log("ready");
        docker_ok(&["stop", "-t", "10", &c.name]);
        assert_eq!(c.wait(), expected, "{flags:?}");
    }
}
