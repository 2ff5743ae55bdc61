//! Ctrl-C in `docker run -it` reaches the app. python3's pty module gives the
//! docker client the terminal it needs for `-t`.

use std::process::Command;

use crate::harness::{docker, have_tool, shared_machine, unique};

/// argv: SECONDS_TO_WAIT_FOR_EXIT CONTAINER docker ARGS... Waits for "ready"
/// and for `sleep` in the container (the shell before it may catch SIGINT),
/// types Ctrl-C, prints the docker client's exit code or "still running".
const TYPE_CTRL_C: &str = r#"
import os, pty, select, subprocess, sys, time
wait_exit, container = float(sys.argv[1]), sys.argv[2]
pid, fd = pty.fork()
if pid == 0:
    os.execvp(sys.argv[3], sys.argv[3:])
def read(seconds):
    r, _, _ = select.select([fd], [], [], seconds)
    try:
        return os.read(fd, 4096) if r else b""
    except OSError:
        return b""
out, deadline = b"", time.time() + 30
while b"ready" not in out and time.time() < deadline:
    out += read(0.2)
def sleeping():
    ps = ["docker", "exec", container, "ps", "-o", "comm"]
    return "sleep" in subprocess.run(ps, capture_output=True, text=True).stdout.split()
while not sleeping() and time.time() < deadline:
    out += read(0.1)
os.write(fd, b"\x03")
deadline = time.time() + wait_exit
while time.time() < deadline:
    out += read(0.1)
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        print("exit", os.waitstatus_to_exitcode(status))
        break
else:
    print("still running")
    os.kill(pid, 9)
    os.waitpid(pid, 0)
print(out.decode(errors="replace"))
"#;

/// What happened after Ctrl-C: "exit N" or "still running", then the output.
fn ctrl_c(wait_exit: &str, command: &[&str], image: &str) -> String {
    let name = unique("tty");
    let mut args = vec![
        "-c",
        TYPE_CTRL_C,
        wait_exit,
        &name,
        "docker",
        "run",
        "-it",
        "--rm",
        "--name",
        &name,
    ];
    args.push(image);
    args.extend_from_slice(command);
    let out = Command::new("python3").args(&args).output().unwrap();
    // The docker client was killed if the container ignored Ctrl-C.
    let _ = Command::new("docker").args(["rm", "-f", &name]).output();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn ctrl_c_in_docker_run_it_reaches_the_app() {
    let Some(images) = docker() else { return };
    if !have_tool("python3") {
        return;
    }
    let _machine = shared_machine();
    let app = ["sh", "-c", "echo ready; exec sleep 60"];

    // `sleep` as PID 1 has no SIGINT handler, so the kernel drops Ctrl-C.
    let without = ctrl_c("3", &app, &images.noinit);
    assert!(without.starts_with("still running"), "{without}");

    let mut with = vec!["graceinit", "--"];
    with.extend_from_slice(&app);
    let with = ctrl_c("15", &with, &images.noinit);
    assert!(with.starts_with("exit 130"), "{with}");
}
