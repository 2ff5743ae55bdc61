//! The zero-downtime experiment, shortened: scripts/rolling-update.sh updates
//! two replicas behind HAProxy under `ab` load, with graceinit's drain and
//! with the app as PID 1; graceinit must lose no request, and fewer than
//! without it.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use crate::harness::{docker, docker_out, have_tool, script, unique, whole_machine};

/// The script's process, stopped and cleaned up after if the test fails.
struct Rollout {
    child: Child,
    name: String,
}

impl Drop for Rollout {
    fn drop(&mut self) {
        // SIGTERM runs the script's own cleanup; what a SIGKILLed script left
        // behind is found by the names it derives from ours.
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .stderr(Stdio::null())
            .status();
        let _ = self.child.wait();
        let project: String = self
            .name
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect();
        let label = format!("label=com.docker.compose.project={project}");
        let ids = docker_out(&["ps", "-aq", "-f", &label]);
        for id in String::from_utf8_lossy(&ids.stdout).split_whitespace() {
            let _ = docker_out(&["rm", "-f", id]);
        }
        let _ = docker_out(&["network", "rm", &format!("{project}_default")]);
        for tag in ["graceinit", "tini", "noinit"] {
            let _ = docker_out(&["rmi", &format!("{}:{tag}", self.name)]);
        }
    }
}

/// `(requests sent, failed + non-2xx)` of one row of the script's table.
fn row(table: &str, init: &str) -> (u64, u64) {
    let line = table
        .lines()
        .find(|l| l.starts_with(&format!("| {init} |")))
        .unwrap_or_else(|| panic!("no row for {init} in:\n{table}"));
    let cells: Vec<u64> = line
        .split('|')
        .skip(2)
        .take(3)
        .map(|c| c.trim().parse().unwrap())
        .collect();
    (cells[0], cells[1] + cells[2])
}

#[test]
fn rolling_update_loses_no_request_with_graceinit() {
    if docker().is_none()
        || !["haproxy", "docker-compose", "ab"]
            .iter()
            .all(|t| have_tool(t))
    {
        return;
    }
    let _machine = whole_machine();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let name = unique("rollout");
    let start = Instant::now();
    let child = Command::new(script("rolling-update.sh"))
        .args([
            "--inits",
            "graceinit noinit",
            "--port",
            &port.to_string(),
            "--name",
            &name,
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut rollout = Rollout { child, name };
    let mut table = String::new();
    std::io::Read::read_to_string(rollout.child.stdout.as_mut().unwrap(), &mut table).unwrap();
    assert!(
        rollout.child.wait().unwrap().success(),
        "rolling-update.sh failed"
    );
    println!("{table}(took {:?})", start.elapsed());

    let (sent, lost) = row(&table, "graceinit");
    let (sent_noinit, lost_noinit) = row(&table, "noinit");
    assert!(sent > 0 && sent_noinit > 0, "no load ran:\n{table}");
    assert_eq!(lost, 0, "graceinit lost requests:\n{table}");
    assert!(
        lost_noinit > 0,
        "no request lost without an init, so this test could not fail:\n{table}"
    );
}
