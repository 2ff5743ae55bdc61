//! graceinit as the daemon's init: `docker run --init` on a private second
//! dockerd (scripts/private-dockerd.sh: `--init-path` set to the static
//! graceinit, its own data root, exec root and socket, its own network
//! namespace, so it cannot touch the host's docker0 or iptables).

use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::harness::{docker, have_tool, repo_root, script, shared_machine, unique, wait_until};

/// A running private daemon, stopped and its state removed when dropped.
struct PrivateDaemon {
    dir: String,
    host: String,
}

impl PrivateDaemon {
    /// Starts it with `init` as `--init-path` and loads `images` into it.
    fn start(images: &[&str]) -> PrivateDaemon {
        // Short: the exec root below it holds unix sockets (108-byte paths).
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = format!(
            "/tmp/gi-e2e-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        let init = repo_root().join("target/x86_64-unknown-linux-gnu/release/graceinit");
        let out = Command::new(script("private-dockerd.sh"))
            .args(["start", &dir])
            .arg(&init)
            .output()
            .unwrap();
        let daemon = PrivateDaemon {
            dir,
            host: String::from_utf8_lossy(&out.stdout).trim().to_string(),
        };
        assert!(
            out.status.success(),
            "private-dockerd.sh start failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let load = Command::new(script("private-dockerd.sh"))
            .args(["load", &daemon.dir])
            .args(images)
            .output()
            .unwrap();
        assert!(
            load.status.success(),
            "loading {images:?} failed:\n{}",
            String::from_utf8_lossy(&load.stderr)
        );
        daemon
    }

    fn docker(&self, args: &[&str]) -> Output {
        Command::new("docker")
            .arg("-H")
            .arg(&self.host)
            .args(args)
            .output()
            .unwrap()
    }

    fn docker_ok(&self, args: &[&str]) -> String {
        let out = self.docker(args);
        assert!(
            out.status.success(),
            "docker -H {} {} failed: {}",
            self.host,
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// `docker run -d --init --network none ARGS` (there is no bridge); the
    /// container's name.
    fn run(&self, args: &[&str]) -> String {
        let name = unique("init");
        let mut full = vec!["run", "-d", "--network", "none", "--name", &name];
        full.extend_from_slice(args);
        self.docker_ok(&full);
        name
    }

    /// How long `docker stop -t 30` takes, and the container's exit code.
    fn stop(&self, name: &str) -> (Duration, i32) {
        let start = Instant::now();
        self.docker_ok(&["stop", "-t", "30", name]);
        let took = start.elapsed();
        let code = self.docker_ok(&["inspect", "-f", "{{.State.ExitCode}}", name]);
        (took, code.parse().unwrap())
    }

    fn logs(&self, name: &str) -> String {
        let out = self.docker(&["logs", name]);
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
    }
}

impl Drop for PrivateDaemon {
    fn drop(&mut self) {
        let _ = Command::new(script("private-dockerd.sh"))
            .args(["stop", &self.dir])
            .status();
    }
}

fn available() -> bool {
    docker().is_some() && ["dockerd", "unshare"].iter().all(|t| have_tool(t))
}

/// Waits until the app in `name` listens, so a stop cannot race its start.
fn wait_listening(daemon: &PrivateDaemon, name: &str) {
    assert!(
        wait_until(Duration::from_secs(20), || daemon
            .logs(name)
            .contains("listening on")),
        "{name} never listened:\n{}",
        daemon.logs(name)
    );
}

#[test]
fn docker_run_init_runs_graceinit_as_pid_1_and_forwards_docker_stop() {
    if !available() {
        return;
    }
    let images = docker().unwrap();
    let _machine = shared_machine();
    let daemon = PrivateDaemon::start(&[&images.noinit]);
    let name = daemon.run(&["--init", "-e", "GRACEINIT_LOG=info", &images.noinit]);
    wait_listening(&daemon, &name);
    // Docker mounts the init at /sbin/docker-init; ask the binary itself.
    let pid1 = daemon.docker_ok(&["exec", &name, "/proc/1/exe", "--version"]);
    assert!(
        pid1.starts_with("graceinit"),
        "PID 1 is not graceinit: `/proc/1/exe --version` says {pid1:?}"
    );
    let (took, code) = daemon.stop(&name);
    let logs = daemon.logs(&name);
    assert!(
        logs.contains("http_server: got SIGTERM"),
        "the app never got SIGTERM:\n{logs}"
    );
    assert_eq!(code, 0, "docker stop: exit code {code}:\n{logs}");
    // Not forwarded, the stop would take its whole 30 s timeout and end 137.
    assert!(
        took < Duration::from_secs(8),
        "docker stop took {took:?}:\n{logs}"
    );
}

#[test]
fn docker_info_reports_graceinits_version() {
    if !available() {
        return;
    }
    let images = docker().unwrap();
    let _machine = shared_machine();
    let daemon = PrivateDaemon::start(&[&images.noinit]);
    let binary = repo_root().join("target/x86_64-unknown-linux-gnu/release/graceinit");
    let version = Command::new(&binary).arg("--version").output().unwrap();
    let version = String::from_utf8_lossy(&version.stdout).trim().to_string();
    // moby's parseInitVersion reads tini's `tini version X - git.COMMIT`;
    // anything else is `init version: N/A` and `unknown output format` in
    // dockerd's log.
    let info = daemon.docker_ok(&["info", "-f", "{{.InitBinary}} {{.InitCommit.ID}}"]);
    let commit = info.rsplit(' ').next().unwrap_or("");
    assert!(
        !commit.is_empty() && commit != "N/A",
        "docker info reports no init version (`{info}`) for `{version}`"
    );
    assert!(
        version.ends_with(&format!("git.{commit}")),
        "docker info reports init version {commit:?}, not the one of `{version}`"
    );
}

#[test]
fn nested_graceinit_under_docker_run_init_drains_once() {
    if !available() {
        return;
    }
    let images = docker().unwrap();
    let _machine = shared_machine();
    let daemon = PrivateDaemon::start(&[&images.graceinit]);
    // Control: the image alone (ENTRYPOINT graceinit, GRACEINIT_DRAIN_DELAY=5s)
    // stops after its one drain, so the bound below is reachable and the drain
    // is real.
    let alone = daemon.run(&[&images.graceinit]);
    wait_listening(&daemon, &alone);
    let (alone_took, alone_code) = daemon.stop(&alone);
    assert!(
        alone_took >= Duration::from_secs(4),
        "without --init the image stopped in {alone_took:?}: its drain did not run, \
         so this test could not fail"
    );
    assert_eq!(alone_code, 0, "{}", daemon.logs(&alone));
    // With --init, the daemon's graceinit is PID 1 above the image's graceinit,
    // and both see GRACEINIT_DRAIN_DELAY=5s: one drain must be all (two would
    // be 10 s, past Docker's default stop timeout).
    let nested = daemon.run(&["--init", &images.graceinit]);
    wait_listening(&daemon, &nested);
    let (took, code) = daemon.stop(&nested);
    let logs = daemon.logs(&nested);
    println!("docker stop: {alone_took:?} alone, {took:?} with --init");
    assert!(
        took < Duration::from_secs(8),
        "docker run --init on graceinit's image stopped in {took:?} (alone: {alone_took:?}): \
         it drained twice:\n{logs}"
    );
    assert_eq!(code, 0, "{logs}");
}
