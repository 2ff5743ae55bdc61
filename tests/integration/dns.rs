//! Host names in `graceinit health` (SPEC §6), which graceinit resolves
//! itself (hosts file, then DNS over UDP): the probe runs in a private
//! mount namespace where /etc/hosts and /etc/resolv.conf are the test's,
//! and the name server is a thread of the test.

use std::net::{Ipv4Addr, TcpListener, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::harness::{graceinit, Running, Setup, TempDir, BUSYBOX};

/// A name server on its own loopback address (port 53 is fixed by
/// resolv.conf), answering A queries from a table; stopped on drop.
struct NameServer {
    ip: Ipv4Addr,
    queries: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl NameServer {
    /// `answer`: false makes a server that never replies.
    fn start(records: &'static [(&'static str, [u8; 4])], answer: bool) -> NameServer {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        let ip = Ipv4Addr::new(127, 100 + (pid % 100) as u8, (n % 250) as u8, 53);
        let socket = UdpSocket::bind((ip, 53)).expect("bind a name server (needs root)");
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let queries = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (count, stopped) = (Arc::clone(&queries), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut buffer = [0u8; 512];
            while !stopped.load(Ordering::SeqCst) {
                let Ok((length, from)) = socket.recv_from(&mut buffer) else {
                    continue;
                };
                count.fetch_add(1, Ordering::SeqCst);
                if answer {
                    if let Some(reply) = reply(&buffer[..length], records) {
                        let _ = socket.send_to(&reply, from);
                    }
                }
            }
        });
        NameServer { ip, queries, stop }
    }

    fn queries(&self) -> usize {
        self.queries.load(Ordering::SeqCst)
    }
}

impl Drop for NameServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// The reply to one query: A records from the table, no data for other
/// types of a known name, NXDOMAIN for an unknown one.
fn reply(query: &[u8], records: &[(&str, [u8; 4])]) -> Option<Vec<u8>> {
    let mut at = 12;
    let mut labels = Vec::new();
    loop {
        let length = usize::from(*query.get(at)?);
        at += 1;
        if length == 0 {
            break;
        }
        labels.push(String::from_utf8_lossy(query.get(at..at + length)?).to_lowercase());
        at += length;
    }
    let question = query.get(12..at + 4)?;
    let record_type = u16::from_be_bytes([query[at], query[at + 1]]);
    let name = labels.join(".");
    let known = records.iter().find(|(n, _)| *n == name);
    let mut packet = query[..2].to_vec();
    let rcode = if known.is_some() { 0 } else { 3 };
    let answers = u8::from(known.is_some() && record_type == 1);
    packet.extend_from_slice(&[0x81, 0x80 | rcode, 0, 1, 0, answers, 0, 0, 0, 0]);
    packet.extend_from_slice(question);
    if let (Some((_, ip)), 1) = (known, answers) {
        // Name by pointer to the question, type A, class IN, TTL 60, 4 bytes.
        packet.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4]);
        packet.extend_from_slice(ip);
    }
    Some(packet)
}

/// `graceinit health ARGS` with the given hosts file and resolv.conf.
fn health(hosts: &str, resolv_conf: &str, args: &[&str]) -> Running {
    let dir = TempDir::new();
    let (hosts_file, resolv_file) = (dir.join("hosts"), dir.join("resolv.conf"));
    std::fs::write(&hosts_file, hosts).unwrap();
    std::fs::write(&resolv_file, resolv_conf).unwrap();
    let script = "mount --bind \"$1\" /etc/hosts && mount --bind \"$2\" /etc/resolv.conf \
                  && shift 2 && exec \"$@\"";
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
        &hosts_file,
        &resolv_file,
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

const RECORDS: &[(&str, [u8; 4])] = &[
    ("app.dns.test", [127, 0, 0, 1]),
    ("web.corp.test", [127, 0, 0, 1]),
];

#[test]
fn a_name_from_the_hosts_file_needs_no_dns() {
    let server = NameServer::start(RECORDS, true);
    let port = http_server();
    let url = format!("http://app.hosts:{port}/health");
    let mut run = health(
        "127.0.0.1 localhost\n127.0.0.1 other app.hosts # test\n",
        &format!("nameserver {}\n", server.ip),
        &["--http", &url],
    );
    assert_eq!(run.code(), 0, "{}", run.report());
    assert_eq!(server.queries(), 0);
}

#[test]
fn a_name_from_dns_and_through_a_search_domain() {
    let server = NameServer::start(RECORDS, true);
    for (host, conf) in [
        ("app.dns.test", String::new()),
        ("web", "search corp.test\n".to_string()),
        // Kubernetes' resolv.conf: search domains first for short names.
        (
            "web",
            "search ns.svc.test corp.test\noptions ndots:5\n".to_string(),
        ),
    ] {
        let port = http_server();
        let url = format!("http://{host}:{port}/health");
        let conf = format!("nameserver {}\n{conf}", server.ip);
        let mut run = health("127.0.0.1 localhost\n", &conf, &["--http", &url]);
        assert_eq!(run.code(), 0, "{host} with {conf:?}\n{}", run.report());
        assert!(run.stdout().starts_with("ok:"), "{}", run.report());
    }
    assert!(server.queries() > 0);
}

#[test]
fn an_unknown_name_is_unhealthy_at_once() {
    let server = NameServer::start(RECORDS, true);
    let started = std::time::Instant::now();
    let mut run = health(
        "127.0.0.1 localhost\n",
        &format!("nameserver {}\n", server.ip),
        &[
            "--http",
            "http://missing.dns.test/health",
            "--timeout",
            "5s",
        ],
    );
    assert_eq!(run.code(), 1, "{}", run.report());
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
}

/// The probe's one deadline covers resolution too.
#[test]
fn a_silent_name_server_fails_within_the_timeout() {
    let server = NameServer::start(RECORDS, false);
    let started = std::time::Instant::now();
    let mut run = health(
        "127.0.0.1 localhost\n",
        &format!("nameserver {}\n", server.ip),
        &["--http", "http://app.dns.test/health", "--timeout", "1s"],
    );
    assert_eq!(run.code(), 1, "{}", run.report());
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "took {:?}",
        started.elapsed()
    );
    assert!(server.queries() > 0);
}
