//! `graceinit health`: a probe for HEALTHCHECK and exec probes in images with
//! no curl and no shell. The drain marker is checked first, then a TCP
//! connect or an HTTP GET, all under one deadline.

use std::fs;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::os::unix::fs::OpenOptionsExt;
use std::time::{Duration, Instant};

use crate::config::{Check, Probe};
use crate::drain;
use crate::error::one_line;
use crate::http_head;

/// Where Docker and Kubernetes put the container's own names. The probe
/// reads it itself: static glibc's getaddrinfo has no timeout and adds
/// 190 KB, and a DNS client is not worth its code for a local probe.
const HOSTS: &str = "/etc/hosts";

/// Runs the probe, prints one line, returns 0 (healthy) or 1.
pub fn run(probe: &Probe) -> u8 {
    let start = Instant::now();
    let deadline = start + probe.timeout;
    let verdict = check(probe, deadline);
    let took = start.elapsed().as_millis();
    let (line, code) = match verdict {
        Ok(what) => (format!("ok: {} in {took} ms\n", one_line(&what)), 0),
        Err(why) => (
            format!("unhealthy: {} (after {took} ms)\n", one_line(&why)),
            1,
        ),
    };
    // The verdict is the exit code; a closed or gone stdout must not change it.
    let mut stdout = std::io::stdout();
    let _ = stdout
        .write_all(line.as_bytes())
        .and_then(|()| stdout.flush());
    code
}

fn check(probe: &Probe, deadline: Instant) -> Result<String, String> {
    if drain::is_marked(&probe.drain_file)? {
        return Err(format!("draining (marker {})", probe.drain_file.display()));
    }
    match &probe.check {
        Check::Marker => Ok("not draining".into()),
        Check::Tcp { host, port } => {
            connect(host, *port, deadline)?;
            Ok(format!("TCP connect to {host}:{port}"))
        }
        Check::Http {
            host,
            port,
            path,
            authority,
        } => {
            let mut stream = connect(host, *port, deadline)?;
            let request = format!(
                "GET {path} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: graceinit-health\r\nAccept: */*\r\nConnection: close\r\n\r\n"
            );
            stream
                .set_write_timeout(Some(remaining(deadline)?))
                .and_then(|()| stream.write_all(request.as_bytes()))
                .map_err(|e| format!("sending the request failed: {e}"))?;
            let status = read_status(&mut stream, deadline)?;
            if (200..400).contains(&status) {
                Ok(format!("HTTP {status}"))
            } else {
                Err(format!("HTTP {status}"))
            }
        }
    }
}

/// Time left before the deadline; an error once it has passed.
fn remaining(deadline: Instant) -> Result<Duration, String> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        Err("no answer within the timeout".into())
    } else {
        Ok(left)
    }
}

fn connect(host: &str, port: u16, deadline: Instant) -> Result<TcpStream, String> {
    let addresses = addresses(host, port)?;
    let mut last_error = format!("{host} has no address");
    for address in addresses {
        match TcpStream::connect_timeout(&address, remaining(deadline)?) {
            Ok(stream) => return Ok(stream),
            Err(e) => last_error = format!("cannot connect to {address}: {e}"),
        }
    }
    Err(last_error)
}

/// Reads until the status line and headers are complete, never past the
/// deadline, however slowly the server trickles bytes.
fn read_status(stream: &mut TcpStream, deadline: Instant) -> Result<u16, String> {
    let mut head = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        stream
            .set_read_timeout(Some(remaining(deadline)?))
            .map_err(|e| format!("cannot set a read timeout: {e}"))?;
        let read = match stream.read(&mut chunk) {
            Ok(0) => return Err("the server closed the connection without a response".into()),
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Err("timed out waiting for the response".into())
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(format!("reading the response failed: {e}")),
        };
        head.extend_from_slice(&chunk[..read]);
        if let Some(status) = http_head::final_status(&head)? {
            return Ok(status);
        }
    }
}

/// `host`'s addresses, IPv4 first (containers rarely have IPv6 routes, and a
/// refused v6 connect would only cost time).
fn addresses(host: &str, port: u16) -> Result<Vec<SocketAddr>, String> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let name = host.strip_suffix('.').unwrap_or(host);
    let mut ips = hosts_lookup(&read_hosts(), name);
    // RFC 6761: localhost is loopback even where no hosts file says so.
    let localhost =
        name.eq_ignore_ascii_case("localhost") || name.to_ascii_lowercase().ends_with(".localhost");
    if ips.is_empty() && localhost {
        ips = vec![Ipv4Addr::LOCALHOST.into(), Ipv6Addr::LOCALHOST.into()];
    }
    if ips.is_empty() {
        return Err(format!(
            "'{host}' is not in {HOSTS}; --http and --tcp take an IPv4 or [IPv6] address, localhost or a name from {HOSTS}"
        ));
    }
    ips.sort_by_key(IpAddr::is_ipv6);
    Ok(ips
        .into_iter()
        .map(|ip| SocketAddr::new(ip, port))
        .collect())
}

/// The hosts file, if it is a regular file: a FIFO planted there must not
/// hang the probe past its deadline, nor a huge file fill memory.
fn read_hosts() -> Vec<u8> {
    let mut hosts = Vec::new();
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(HOSTS);
    if let Ok(file) = file {
        if file.metadata().is_ok_and(|m| m.is_file()) {
            let _ = file.take(1 << 20).read_to_end(&mut hosts);
        }
    }
    hosts
}

/// The addresses a hosts file gives `name` (any of a line's names, any case).
/// Read lossily: one line with a byte that is not UTF-8 must not hide the
/// others.
fn hosts_lookup(hosts: &[u8], name: &str) -> Vec<IpAddr> {
    String::from_utf8_lossy(hosts)
        .lines()
        .filter_map(|line| {
            let mut words = line.split('#').next()?.split_whitespace();
            let ip = words.next()?.parse::<IpAddr>().ok()?;
            words
                .any(|alias| alias.eq_ignore_ascii_case(name))
                .then_some(ip)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_file() {
        let hosts = b"127.0.0.1 localhost\n::1 localhost ip6-localhost\n# 10.0.0.1 web\n10.0.0.9 caf\xe9\n172.17.0.2 Web web.local # container\n";
        assert_eq!(hosts_lookup(hosts, "web"), [IpAddr::from([172, 17, 0, 2])]);
        assert_eq!(hosts_lookup(hosts, "localhost").len(), 2);
        assert!(hosts_lookup(hosts, "db").is_empty());
        assert!(hosts_lookup(hosts, "10.0.0.1").is_empty());
    }

    #[test]
    fn literals_and_localhost_need_no_file() {
        assert_eq!(
            addresses("::1", 80),
            Ok(vec![SocketAddr::from((Ipv6Addr::LOCALHOST, 80))])
        );
        let local = addresses("localhost", 80).unwrap();
        assert!(local.iter().all(|a| a.ip().is_loopback()), "{local:?}");
        let error = addresses("graceinit-test.invalid", 80).unwrap_err();
        assert!(
            error.contains("/etc/hosts") && !error.contains('\n'),
            "{error}"
        );
    }
}
