//! `docker stop` reaches the app: behind a `sh -c` wrapper (what `npm start`
//! does), and as SIGQUIT for an app whose graceful stop is SIGQUIT (php-fpm).

use std::thread;
use std::time::{Duration, Instant};

use crate::harness::{docker, docker_ok, http_get, shared_machine, Container};

/// The shell stays PID 1 (or graceinit's child) because of the `echo` after
/// the app: busybox sh would `exec` a lone command.
const WRAPPED: &str = "/app/http_server; echo wrapper: app exited";

/// `docker stop -t 3`: how long it took and what the container logged.
fn stop(c: &Container) -> (Duration, String) {
    c.wait_for_log("listening on");
    let start = Instant::now();
    docker_ok(&["stop", "-t", "3", &c.name]);
    (start.elapsed(), c.logs())
}

#[test]
fn docker_stop_reaches_an_app_behind_sh_c() {
    let Some(images) = docker() else { return };
    let _machine = shared_machine();

    let without = Container::run("stop-noinit", &[&images.noinit, "sh", "-c", WRAPPED]);
    let (took, logs) = stop(&without);
    assert!(
        took >= Duration::from_secs(3) && !logs.contains("got SIGTERM"),
        "without graceinit the wrapper should swallow SIGTERM; took {took:?}, logs:\n{logs}"
    );
    assert_eq!(without.wait(), 137, "Docker's SIGKILL after the timeout");

    let with = Container::run(
        "stop",
        &[&images.noinit, "graceinit", "--", "sh", "-c", WRAPPED],
    );
    let (took, logs) = stop(&with);
    println!("docker stop with graceinit took {took:?}");
    assert!(
        took < Duration::from_secs(2),
        "docker stop took {took:?}; logs:\n{logs}"
    );
    assert!(logs.contains("http_server: got SIGTERM"), "{logs}");
    assert!(logs.contains("all requests finished"), "{logs}");
    // The wrapper shell, killed by the forwarded SIGTERM too, is the child.
    assert_eq!(with.wait(), 143);
}

/// A request in flight when `docker stop` arrives: does it complete?
fn in_flight_request_survives_stop(c: &Container) -> bool {
    c.wait_for_log("listening on");
    let ip = c.ip();
    let request = thread::spawn(move || http_get(&ip, 8080, "/slow/1500"));
    c.wait_for_log("/slow/1500: started");
    docker_ok(&["stop", "-t", "10", &c.name]);
    request.join().unwrap() == Some(200)
}

#[test]
fn rewrite_term_to_quit_lets_a_php_fpm_like_app_finish_requests() {
    let Some(images) = docker() else { return };
    let _machine = shared_machine();
    let app = "/app/quit_only_server";

    let plain = Container::run("quit-plain", &[&images.noinit, "graceinit", "--", app]);
    assert!(
        !in_flight_request_survives_stop(&plain),
        "SIGTERM should drop the request, so this test could not fail"
    );
    assert_eq!(plain.wait(), 143);

    let rewritten = Container::run(
        "quit-rewrite",
        &[&images.noinit, "graceinit", "-r", "TERM:QUIT", "--", app],
    );
    assert!(
        in_flight_request_survives_stop(&rewritten),
        "{}",
        rewritten.logs()
    );
    assert_eq!(rewritten.wait(), 0, "{}", rewritten.logs());
}
