//! Exit codes as Docker reports them (`docker wait`, `docker inspect`), with
//! graceinit as PID 1 and with the command itself as PID 1.

use std::time::{Duration, Instant};

use crate::harness::{docker, docker_ok, shared_machine, Container};

struct Case {
    graceinit_args: &'static [&'static str],
    script: &'static str,
    with: i32,
    /// Without an init: `None` when there is no equivalent (a graceinit flag).
    without: Option<i32>,
}

const CASES: &[Case] = &[
    Case {
        graceinit_args: &[],
        script: "exit 0",
        with: 0,
        without: Some(0),
    },
    Case {
        graceinit_args: &[],
        script: "exit 3",
        with: 3,
        without: Some(3),
    },
    // As PID 1 the shell cannot even kill itself: the kernel drops signals
    // that PID 1 has no handler for, SIGKILL included, and the script goes on.
    Case {
        graceinit_args: &[],
        script: "kill -KILL $$; exit 0",
        with: 137,
        without: Some(0),
    },
    Case {
        graceinit_args: &[],
        script: "kill -TERM $$; exit 0",
        with: 143,
        without: Some(0),
    },
    // tini's -e: a JVM's exit on SIGTERM is a clean stop.
    Case {
        graceinit_args: &["-e", "143"],
        script: "kill -TERM $$",
        with: 0,
        without: None,
    },
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
    for case in CASES {
        let mut with = vec!["graceinit"];
        with.extend_from_slice(case.graceinit_args);
        with.extend(["--", "sh", "-c", case.script]);
        assert_eq!(exit_code(&images.noinit, &with), case.with, "{:?}", with);
        if let Some(without) = case.without {
            let bare = ["sh", "-c", case.script];
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
