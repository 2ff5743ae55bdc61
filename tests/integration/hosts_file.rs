//! Host names in `graceinit health` (SPEC §6): IP literals, `localhost` and
//! names in /etc/hosts, which graceinit reads itself (no resolver, no DNS).
//! The probe runs in a private mount namespace where /etc/hosts is the
//! test's.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use crate::harness::{graceinit, Running, Setup, TempDir, BUSYBOX};

/// `graceinit health ARGS` with the given hosts file.
fn health(hosts: impl AsRef<[u8]>, args: &[&str]) -> Running {
    let dir = TempDir::new();
    let hosts_file = dir.join("hosts");
    std::fs::write(&hosts_file, hosts).unwrap();
    health_with(&hosts_file, args)
}

/// `graceinit health ARGS` with `hosts_file`, whatever it is, at /etc/hosts.
fn health_with(hosts_file: &str, args: &[&str]) -> Running {
    let script = "mount --bind \"$1\" /etc/hosts && shift && exec \"$@\"";
    let graceinit = graceinit();
    let mut all = vec![
        "--mount",
        "--propagation",
        "private",
        "--",
        BUSYBOX,
        "sh",
        "-c",
        script,
        "sh",
        hosts_file,
        &graceinit,
        "health",
    ];
    all.extend(args);
    let mut run = Setup::plain("unshare", &all).run();
    run.code();
    run
}

/// A local HTTP server answering 200 to one request.
fn http_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        if let Ok((mut stream, _)) = listener.accept() {
            let mut buffer = [0; 1024];
            let _ = stream.read(&mut buffer);
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
        }
    });
    port
}

/// Any name of a line, any case, comments ignored: what Docker's
/// `--add-host` and Kubernetes' `hostAliases` write.
#[test]
fn a_name_from_the_hosts_file() {
    for name in ["app.hosts", "APP.hosts", "other"] {
        let port = http_server();
        let url = format!("http://{name}:{port}/health");
        let mut run = health(
            "127.0.0.1 localhost\n# 10.9.9.9 app.hosts\n127.0.0.1 other app.hosts # test\n",
            &["--http", &url],
        );
        assert_eq!(run.code(), 0, "{name}\n{}", run.report());
        assert!(run.stdout().starts_with("ok:"), "{}", run.report());
    }
}

/// A name that is not in /etc/hosts fails at once with one line saying
/// what the probe accepts, instead of waiting for a resolver.
#[test]
fn any_other_name_says_what_is_accepted() {
    let started = Instant::now();
    let mut run = health(
        "127.0.0.1 localhost\n",
        &["--http", "http://missing.test/health", "--timeout", "5s"],
    );
    assert_eq!(run.code(), 1, "{}", run.report());
    let stdout = run.stdout();
    assert_eq!(stdout.lines().count(), 1, "{}", run.report());
    assert!(
        stdout.contains("missing.test") && stdout.contains("/etc/hosts"),
        "{}",
        run.report()
    );
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "took {:?}",
        started.elapsed()
    );
}

/// One line that is not UTF-8 (a Latin-1 name) hides no other line.
#[test]
fn a_line_that_is_not_utf8_hides_no_other() {
    let port = http_server();
    let url = format!("http://app.hosts:{port}/health");
    let mut run = health(
        b"127.0.0.1 localhost\n10.9.9.9 caf\xe9\n127.0.0.1 app.hosts\n",
        &["--http", &url],
    );
    assert_eq!(run.code(), 0, "{}", run.report());
}

/// A FIFO at /etc/hosts (nobody writes to it) does not hang the probe: it
/// is not a hosts file, so the name is not found, at once.
#[test]
fn a_fifo_at_etc_hosts_does_not_hang_the_probe() {
    let dir = TempDir::new();
    let fifo = dir.join("hosts");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let started = Instant::now();
    let mut run = health_with(
        &fifo,
        &["--http", "http://app.hosts:1/health", "--timeout", "20s"],
    );
    assert_eq!(run.code(), 1, "{}", run.report());
    assert!(run.stdout().contains("/etc/hosts"), "{}", run.report());
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "took {:?}",
        started.elapsed()
    );
}
