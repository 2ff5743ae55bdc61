//! `graceinit health` (SPEC §6) against real local servers run in test
//! threads: the verdicts, the one overall timeout, and the drain marker
//! checked before any connection.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::harness::{graceinit, Running, Setup, TempDir};

#[derive(Clone, Copy)]
enum Behaviour {
    Status(u16),
    /// Accepts and never answers.
    Silent,
    /// A 200 response, one byte every 200 ms.
    Trickle,
}

/// A local HTTP server in a thread, stopped on drop.
struct Server {
    addr: SocketAddr,
    connections: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl Server {
    fn start(bind: &str, behaviour: Behaviour) -> Server {
        let listener = TcpListener::bind(bind).unwrap();
        let addr = listener.local_addr().unwrap();
        let connections = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (count, stopped) = (Arc::clone(&connections), Arc::clone(&stop));
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopped.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                count.fetch_add(1, Ordering::SeqCst);
                let stopped = Arc::clone(&stopped);
                std::thread::spawn(move || serve(stream, behaviour, &stopped));
            }
        });
        Server {
            addr,
            connections,
            stop,
        }
    }

    fn url(&self) -> String {
        format!("http://{}/health", self.addr)
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
    }
}

fn serve(mut stream: TcpStream, behaviour: Behaviour, stop: &AtomicBool) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut request = Vec::new();
    let mut buffer = [0; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&buffer[..n]),
        }
    }
    match behaviour {
        Behaviour::Status(code) => {
            let response = format!(
                "HTTP/1.1 {code} Whatever\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
            );
            let _ = stream.write_all(response.as_bytes());
        }
        Behaviour::Silent => {
            while !stop.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        Behaviour::Trickle => {
            let response = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
            for byte in response {
                if stop.load(Ordering::SeqCst) || stream.write_all(&[*byte]).is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }
}

/// `graceinit health ARGS` with its own (absent) drain marker.
fn health(args: &[&str]) -> (Running, Duration) {
    let mut all = vec!["health"];
    all.extend(args);
    let started = Instant::now();
    let run = Setup::plain(&graceinit(), &all).run();
    (run, started.elapsed())
}

fn verdict(args: &[&str]) -> (i32, String) {
    let (mut run, _) = health(args);
    let code = run.code();
    let lines = run.out.lines();
    assert_eq!(lines.len(), 1, "one line on stdout\n{}", run.report());
    (code, lines[0].clone())
}

#[test]
fn http_status_decides() {
    for (status, healthy) in [
        (200, true),
        (204, true),
        (301, true),
        (404, false),
        (500, false),
    ] {
        let server = Server::start("127.0.0.1:0", Behaviour::Status(status));
        let (code, line) = verdict(&["--http", &server.url()]);
        if healthy {
            assert_eq!(code, 0, "HTTP {status}: {line}");
            assert!(line.starts_with("ok:"), "HTTP {status}: {line}");
        } else {
            assert_eq!(code, 1, "HTTP {status}: {line}");
            assert!(line.contains(&status.to_string()), "HTTP {status}: {line}");
        }
        assert_eq!(server.connections(), 1);
    }
}

#[test]
fn http_over_ipv6_and_a_host_name() {
    let server = Server::start("[::1]:0", Behaviour::Status(200));
    let (code, line) = verdict(&["--http", &server.url()]);
    assert_eq!((code, line.starts_with("ok:")), (0, true), "{line}");
    let server = Server::start("127.0.0.1:0", Behaviour::Status(200));
    let url = format!("http://localhost:{}/health", server.addr.port());
    let (code, line) = verdict(&["--http", &url]);
    assert_eq!((code, line.starts_with("ok:")), (0, true), "{line}");
}

/// A port nobody listens on: bind one, then let it go.
fn refused_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn refused_connection_is_unhealthy() {
    let url = format!("http://127.0.0.1:{}/health", refused_port());
    let (code, line) = verdict(&["--http", &url]);
    assert_eq!(code, 1, "{line}");
}

/// The whole probe ends within `--timeout`, whatever the server does.
#[test]
fn a_server_that_never_answers_or_trickles_fails_within_the_timeout() {
    for behaviour in [Behaviour::Silent, Behaviour::Trickle] {
        let server = Server::start("127.0.0.1:0", behaviour);
        let (mut run, took) = health(&["--http", &server.url(), "--timeout", "1s"]);
        assert_eq!(run.code(), 1, "{}", run.report());
        assert!(took < Duration::from_millis(2500), "probe took {took:?}");
        assert_eq!(server.connections(), 1);
    }
}

/// A name the probe cannot look up (not in /etc/hosts) ends it within the
/// timeout, as unhealthy.
#[test]
fn an_unresolvable_host_fails_within_the_timeout() {
    let (mut run, took) = health(&[
        "--http",
        "http://graceinit-test.invalid/",
        "--timeout",
        "1s",
    ]);
    assert_eq!(run.code(), 1, "{}", run.report());
    assert!(took < Duration::from_millis(2500), "probe took {took:?}");
}

#[test]
fn tcp_probe() {
    let server = Server::start("127.0.0.1:0", Behaviour::Silent);
    let (code, line) = verdict(&["--tcp", &server.addr.to_string()]);
    assert_eq!((code, line.starts_with("ok:")), (0, true), "{line}");
    let (code, line) = verdict(&["--tcp", &format!("127.0.0.1:{}", refused_port())]);
    assert_eq!(code, 1, "{line}");
}

/// The marker is checked first, without touching the network, so a
/// draining container fails even while the app still says 200.
#[test]
fn the_drain_marker_fails_the_probe_before_any_connection() {
    let server = Server::start("127.0.0.1:0", Behaviour::Status(200));
    let dir = crate::harness::TempDir::new();
    let marker = dir.join("draining");
    std::fs::write(&marker, "").unwrap();
    for args in [
        &["--http", &server.url()][..],
        &["--tcp", &server.addr.to_string()][..],
        &[][..],
    ] {
        let mut all = args.to_vec();
        all.extend(["--drain-file", &marker]);
        let (code, line) = verdict(&all);
        assert_eq!(code, 1, "{args:?}: {line}");
        assert!(line.contains("draining"), "{args:?}: {line}");
    }
    assert_eq!(server.connections(), 0);
    std::fs::remove_file(&marker).unwrap();
    let (code, line) = verdict(&["--http", &server.url(), "--drain-file", &marker]);
    assert_eq!(code, 0, "{line}");
    assert_eq!(server.connections(), 1);
}

#[test]
fn health_usage_errors_exit_2() {
    for args in [
        &["--http", "ftp://127.0.0.1/"][..],
        &["--timeout", "ten"][..],
        &["--bogus"][..],
        &["--tcp", "no-port"][..],
    ] {
        let (mut run, _) = health(args);
        assert_eq!(run.code(), 2, "{args:?}\n{}", run.report());
        let stderr = run.stderr();
        assert!(
            stderr.lines().count() == 1 && stderr.starts_with("graceinit: "),
            "{args:?}\n{}",
            run.report()
        );
    }
}

/// A path with a line break still gives one line from `drain` and
/// `health` (SPEC §6, §7), escaped.
#[test]
fn a_line_break_in_the_marker_path_stays_on_one_line() {
    let dir = TempDir::new();
    let marker = dir.join("a\nb");
    for command in ["drain", "health"] {
        let run = Setup::plain(&graceinit(), &[command, "--drain-file", &marker]).run();
        let out = run.stdout();
        assert_eq!(
            out.lines().count(),
            1,
            "{command}: {out:?}\n{}",
            run.report()
        );
        assert!(out.contains("a\\nb"), "{command}: {out:?}");
    }
}
