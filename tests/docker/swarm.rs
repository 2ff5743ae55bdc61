//! A Swarm rolling update, shortened: scripts/swarm-update.sh runs
//! `docker service update --force` (start-first, dnsrr) three times in a row
//! under `ab` load behind an HAProxy that re-resolves `tasks.SERVICE` every
//! 6 s, as a slow Swarm-aware balancer does. Swarm takes an old task out of
//! its DNS 2 s before it signals it; a balancer that looks only every 6 s
//! still routes there after the signal, unless its look happens to fall into
//! those 2 s (about 1 in 3 for each task). graceinit's drain (5 s) keeps the
//! task serving until the balancer has moved on, so it must lose nothing in
//! six task replacements; with the app as PID 1 requests must be lost, or
//! the test could not fail (by chance in about 1 of 9^3 runs).
//!
//! CI runs the FROM-scratch `http_server` images (`--app static`): the
//! express service of the README table needs the Debian base and takes
//! minutes longer, and npm as PID 1 takes up to a second to die, which
//! widens the chance that the control loses nothing.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use crate::harness::{docker, docker_out, have_tool, script, unique, whole_machine};

/// The script's process; on drop it is stopped (its trap cleans up), and
/// whatever a killed script left behind is removed by the names it derives
/// from ours.
struct SwarmRun {
    child: Child,
    name: String,
}

impl Drop for SwarmRun {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .stderr(Stdio::null())
            .status();
        let _ = self.child.wait();
        let service = format!("{}-web", self.name);
        let network = format!("{}-net", self.name);
        // The script's cleanup removes the network last before it leaves the
        // swarm, so a network still here means the swarm is ours too.
        let ours = docker_out(&["network", "inspect", &network])
            .status
            .success();
        let _ = docker_out(&["service", "rm", &service]);
        let _ = docker_out(&["rm", "-f", &format!("{}-lb", self.name)]);
        let tasks = docker_out(&[
            "ps",
            "-aq",
            "-f",
            &format!("label=com.docker.swarm.service.name={service}"),
        ]);
        for id in String::from_utf8_lossy(&tasks.stdout).split_whitespace() {
            let _ = docker_out(&["rm", "-f", id]);
        }
        let _ = docker_out(&["network", "rm", &network]);
        if ours {
            let _ = docker_out(&["swarm", "leave", "--force"]);
            // Fails harmlessly while any container still uses it.
            let _ = docker_out(&["network", "rm", "docker_gwbridge"]);
        }
        for tag in ["graceinit", "tini", "noinit", "dumb-init", "express", "php"] {
            let _ = docker_out(&["rmi", &format!("{}:{tag}", self.name)]);
        }
        let _ = docker_out(&["rmi", &format!("{}-lb:latest", self.name)]);
    }
}

/// `(requests sent, failed + non-2xx, errors the balancer logged)` of the row
/// for `every` and `init`.
fn row(table: &str, every: &str, init: &str) -> (u64, u64, u64) {
    let line = table
        .lines()
        .find(|l| l.starts_with(&format!("| {every} | {init} |")))
        .unwrap_or_else(|| panic!("no row for {every}, {init} in:\n{table}"));
    let cells: Vec<u64> = line
        .split('|')
        .skip(3)
        .take(4)
        .map(|c| c.trim().parse().unwrap())
        .collect();
    (cells[0], cells[1] + cells[2], cells[3])
}

#[test]
fn swarm_update_behind_a_slow_balancer_loses_no_request_with_graceinit() {
    if docker().is_none() || !["haproxy", "ab", "dumb-init"].iter().all(|t| have_tool(t)) {
        return;
    }
    let swarm = docker_out(&["info", "-f", "{{.Swarm.LocalNodeState}}"]);
    if String::from_utf8_lossy(&swarm.stdout).trim() != "inactive" {
        // Never join, change or leave a swarm that is not ours.
        assert!(
            !std::env::var("CI").is_ok_and(|v| v == "true"),
            "CI=true and this Docker daemon is already in a swarm"
        );
        eprintln!("docker e2e test skipped: this Docker daemon is already in a swarm");
        return;
    }
    let _machine = whole_machine();
    let port = {
        // Two ports: the balancer's and, one above, its stats page.
        let mut port;
        loop {
            port = TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            if port < u16::MAX && TcpListener::bind(("127.0.0.1", port + 1)).is_ok() {
                break port;
            }
        }
    };
    let start = Instant::now();
    let table = swarm_update(port, "graceinit noinit");
    println!("{table}(took {:?})", start.elapsed());
    let (sent, lost, lb_errors) = row(&table, "6s", "graceinit");
    let (sent_noinit, lost_noinit, lb_errors_noinit) = row(&table, "6s", "noinit");
    assert!(sent > 0 && sent_noinit > 0, "no load ran:\n{table}");
    assert_eq!(
        (lost, lb_errors),
        (0, 0),
        "graceinit lost requests:\n{table}"
    );
    assert!(
        lost_noinit + lb_errors_noinit > 0,
        "no request lost without an init in three updates: the control did not reproduce \
         the problem, so this test could not fail:\n{table}"
    );
}

/// Runs scripts/swarm-update.sh for `inits` behind the 6 s balancer; its table.
fn swarm_update(port: u16, inits: &str) -> String {
    let name = unique("swarm");
    let port = port.to_string();
    let child = Command::new(script("swarm-update.sh"))
        .args(["--app", "static", "--updates", "3", "--inits", inits])
        .args(["--resolve", "6s", "--port", &port, "--name", &name])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut run = SwarmRun { child, name };
    let mut table = String::new();
    std::io::Read::read_to_string(run.child.stdout.as_mut().unwrap(), &mut table).unwrap();
    assert!(
        run.child.wait().unwrap().success(),
        "swarm-update.sh failed:\n{table}"
    );
    table
}
