//! Dockerfile.example's HEALTHCHECK (`graceinit health`) and drain: healthy
//! after start; on `docker stop` unhealthy while the app still serves, so a
//! balancer moves away before the app closes; then the container exits. And
//! a restarted container does not inherit the drain of its previous run.

use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use crate::harness::{docker, docker_ok, http_get, shared_machine, wait_until, Container};

struct Stopped {
    unhealthy_while_serving: bool,
    took: Duration,
    exit_code: i32,
}

fn health(c: &Container) -> String {
    c.inspect("{{.State.Health.Status}}")
}

fn start_healthy(c: &Container) {
    assert_eq!(health(c), "starting");
    assert!(
        wait_until(Duration::from_secs(30), || health(c) == "healthy"),
        "never healthy: {}\n{}",
        health(c),
        c.logs()
    );
}

/// `docker stop`, watching health and the app until it returns.
fn stop_and_watch(c: &Container) -> Stopped {
    let ip = c.ip();
    let name = c.name.clone();
    // Timed in its own thread: the probes below may block for a while once
    // the container's address is gone.
    let stop = thread::spawn(move || {
        let start = Instant::now();
        let ok = Command::new("docker")
            .args(["stop", "-t", "20", &name])
            .status()
            .unwrap()
            .success();
        (ok, start.elapsed())
    });
    let mut unhealthy_while_serving = false;
    let stopped = wait_until(Duration::from_secs(30), || {
        if stop.is_finished() {
            return true;
        }
        if c.inspect("{{.State.Running}} {{.State.Health.Status}}") == "true unhealthy"
            && http_get(&ip, 8080, "/") == Some(200)
        {
            unhealthy_while_serving = true;
        }
        false
    });
    assert!(stopped, "docker stop hung");
    let (ok, took) = stop.join().unwrap();
    assert!(ok, "docker stop failed");
    Stopped {
        unhealthy_while_serving,
        took,
        exit_code: c.wait(),
    }
}

#[test]
fn stop_turns_unhealthy_while_the_app_still_serves() {
    let Some(images) = docker() else { return };
    let _machine = shared_machine();

    // The same image with the app as PID 1: it closes at once on SIGTERM.
    let without = Container::run(
        "health-noinit",
        &["--entrypoint", "/app/http_server", &images.graceinit],
    );
    start_healthy(&without);
    let s = stop_and_watch(&without);
    assert!(
        !s.unhealthy_while_serving && s.took < Duration::from_secs(3),
        "without graceinit the app should close before any probe fails, so this test could not fail"
    );

    let with = Container::run("health", &[&images.graceinit]);
    start_healthy(&with);
    let s = stop_and_watch(&with);
    println!("docker stop with the image's 5 s drain took {:?}", s.took);
    assert!(
        s.unhealthy_while_serving,
        "never unhealthy while serving:\n{}",
        with.logs()
    );
    assert_eq!(s.exit_code, 0, "{}", with.logs());
    // GRACEINIT_DRAIN_DELAY=5s in the image; well below the -t 20 of the stop.
    assert!(
        s.took >= Duration::from_secs(4) && s.took < Duration::from_secs(15),
        "docker stop took {:?}",
        s.took
    );
    assert!(
        with.logs().contains("http_server: got SIGTERM"),
        "{}",
        with.logs()
    );
}

/// Health right after `graceinit drain` and `docker restart`: the restart
/// keeps the container's filesystem, and with it the drain marker.
fn health_after_drain_and_restart(c: &Container) -> String {
    start_healthy(c);
    c.exec(&["graceinit", "drain"]);
    docker_ok(&["restart", "-t", "10", &c.name]);
    let settled = wait_until(Duration::from_secs(30), || health(c) != "starting");
    assert!(settled, "health never left starting after restart");
    health(c)
}

#[test]
fn restarted_container_does_not_stay_draining() {
    let Some(images) = docker() else { return };
    let _machine = shared_machine();

    let without = Container::run(
        "restart-noinit",
        &["--entrypoint", "/app/http_server", &images.graceinit],
    );
    assert_eq!(
        health_after_drain_and_restart(&without),
        "unhealthy",
        "without graceinit the stale marker should remain, so this test could not fail"
    );

    let with = Container::run("restart", &[&images.graceinit]);
    assert_eq!(
        health_after_drain_and_restart(&with),
        "healthy",
        "{}",
        with.logs()
    );
}
