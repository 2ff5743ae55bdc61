//! The tiny HTTP server behind the example apps, so that the well-behaved one and
//! the php-fpm-like one differ only in how they treat stop signals.
//!
//! Routes: `/` (names the host and `$APP_VERSION`, so a load balancer's spread
//! shows), `/health`, `/slow/MS` (answers after MS milliseconds, to hold a
//! request in flight across a stop). HTTP/1.0 and 1.1 with keep-alive, one
//! thread per connection. Listens on `0.0.0.0:$PORT` (default 8080).
//! std, plus nix and libc (already graceinit's dependencies) for the two calls
//! std has no word for: waiting for a signal and shutting a listener down.

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use nix::sys::signal::{SigSet, Signal};

/// `eprintln!` on unbuffered stderr writes a line in pieces, and graceinit's
/// own lines on the same pipe land between them ("http_servergraceinit: …"),
/// which a test grepping the log then misses. One write(2) of at most
/// PIPE_BUF bytes is never interleaved.
macro_rules! say {
    ($($arg:tt)*) => {{
        let line = format!("{}\n", format_args!($($arg)*));
        let _ = io::stderr().write_all(line.as_bytes());
    }};
}

static STOPPING: AtomicBool = AtomicBool::new(false);
static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);

/// Serves until a signal arrives. A `graceful` signal stops accepting, lets
/// every accepted connection finish its current request, and exits 0. An
/// `abrupt` one exits at once with 128+N, dropping whatever is in flight.
pub fn run(name: &'static str, graceful: &'static [Signal], abrupt: &'static [Signal]) -> ! {
    match serve(name, graceful, abrupt) {
        Ok(()) => {
            say!("{name}: all requests finished, exiting 0");
            std::process::exit(0)
        }
        Err(e) => {
            say!("{name}: {e}");
            std::process::exit(1)
        }
    }
}

fn serve(
    name: &'static str,
    graceful: &'static [Signal],
    abrupt: &'static [Signal],
) -> io::Result<()> {
    let mut signals = SigSet::empty();
    graceful.iter().chain(abrupt).for_each(|&s| signals.add(s));
    // Blocked before any thread starts, so every thread inherits the mask and
    // the signals queue for the waiting thread (PID 1 included: a blocked
    // signal is never dropped).
    signals.thread_block().map_err(io::Error::from)?;

    let port = std::env::var("PORT").unwrap_or_else(|_| "8080".into());
    let listener = TcpListener::bind(format!("0.0.0.0:{port}"))?;
    say!("{name}: listening on {}", listener.local_addr()?);

    let listener_fd = listener.as_raw_fd();
    thread::spawn(move || loop {
        let Ok(signal) = signals.wait() else { continue };
        let in_flight = IN_FLIGHT.load(Ordering::SeqCst);
        if abrupt.contains(&signal) {
            say!("{name}: got {signal}, exiting at once, dropping {in_flight} in-flight requests");
            std::process::exit(128 + signal as i32);
        }
        say!("{name}: got {signal}, no longer accepting, finishing {in_flight} in-flight requests");
        STOPPING.store(true, Ordering::SeqCst);
        // SAFETY: plain system call on a descriptor the listener owns for the
        // whole process lifetime; on Linux it wakes the blocked accept() with
        // EINVAL and refuses further connections.
        unsafe { libc::shutdown(listener_fd, libc::SHUT_RD) };
    });

    thread::scope(|scope| {
        for conn in listener.incoming() {
            match conn {
                Ok(stream) => {
                    scope.spawn(move || {
                        let _ = serve_connection(stream);
                    });
                }
                Err(_) if STOPPING.load(Ordering::SeqCst) => break,
                Err(e) => say!("{name}: accept: {e}"),
            }
        }
    });
    Ok(())
}

fn serve_connection(mut stream: TcpStream) -> io::Result<()> {
    // Wake up now and then, so an idle keep-alive connection notices the stop.
    stream.set_read_timeout(Some(Duration::from_millis(100)))?;
    let mut pending = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&pending[..end]).into_owned();
            pending.drain(..end + 4);
            IN_FLIGHT.fetch_add(1, Ordering::SeqCst);
            let (status, body) = answer(&head);
            let keep_alive = wants_keep_alive(&head) && !STOPPING.load(Ordering::SeqCst);
            // One write per response: several small ones meet Nagle and
            // delayed ACKs and cost 40 ms each on a keep-alive connection.
            let response = format!(
                "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: {}\r\n\r\n{body}",
                body.len(),
                if keep_alive { "keep-alive" } else { "close" },
            );
            let written = stream.write_all(response.as_bytes());
            IN_FLIGHT.fetch_sub(1, Ordering::SeqCst);
            written?;
            if !keep_alive {
                return Ok(());
            }
        }
        match stream.read(&mut chunk) {
            Ok(0) => return Ok(()),
            Ok(n) => pending.extend_from_slice(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                if pending.is_empty() && STOPPING.load(Ordering::SeqCst) {
                    return Ok(());
                }
            }
            Err(e) => return Err(e),
        }
    }
}

fn answer(head: &str) -> (&'static str, String) {
    let path = head.split_whitespace().nth(1).unwrap_or("/");
    if path == "/" {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "localhost".into());
        let version = std::env::var("APP_VERSION").unwrap_or_else(|_| "1".into());
        return ("200 OK", format!("hello from {host}, version {version}\n"));
    }
    if path == "/health" {
        return ("200 OK", "ok\n".into());
    }
    if let Some(Ok(ms)) = path.strip_prefix("/slow/").map(str::parse::<u64>) {
        // Logged, so a test knows when the request is in flight.
        say!("{path}: started");
        thread::sleep(Duration::from_millis(ms));
        return ("200 OK", format!("slept {ms} ms\n"));
    }
    ("404 Not Found", "not found\n".into())
}

fn wants_keep_alive(head: &str) -> bool {
    let lower = head.to_ascii_lowercase();
    let http10 = lower
        .lines()
        .next()
        .is_some_and(|l| l.ends_with("http/1.0"));
    if lower.contains("connection: close") {
        return false;
    }
    !http10 || lower.contains("connection: keep-alive")
}
