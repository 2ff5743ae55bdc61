//! `graceinit health`: a probe for HEALTHCHECK and exec probes in images with
//! no curl and no shell. The drain marker is checked first, then a TCP
//! connect or an HTTP GET, all under one deadline.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::drain;
use crate::error::Error;
use crate::resolve;

/// A response larger than this without a complete header block is not a
/// health endpoint worth waiting for.
const MAX_HEAD: usize = 16 * 1024;

#[derive(Debug, Clone, PartialEq)]
enum Check {
    /// Only the drain marker.
    Marker,
    Tcp {
        host: String,
        port: u16,
    },
    Http {
        host: String,
        port: u16,
        path: String,
        authority: String,
    },
}

#[derive(Debug, Clone)]
pub struct Probe {
    check: Check,
    timeout: Duration,
    drain_file: PathBuf,
}

impl Probe {
    pub fn new(
        http: Option<String>,
        tcp: Option<String>,
        timeout: Duration,
        drain_file: PathBuf,
    ) -> Result<Self, Error> {
        let check = match (http, tcp) {
            (Some(url), _) => parse_url(&url).map_err(|why| {
                Error::Usage(format!("invalid value '{url}' for '--http <URL>': {why}"))
            })?,
            (None, Some(address)) => {
                let (host, port) = split_host_port(&address, None).map_err(|why| {
                    Error::Usage(format!(
                        "invalid value '{address}' for '--tcp <HOST:PORT>': {why}"
                    ))
                })?;
                Check::Tcp { host, port }
            }
            (None, None) => Check::Marker,
        };
        Ok(Probe {
            check,
            timeout,
            drain_file,
        })
    }
}

/// Runs the probe, prints one line, returns 0 (healthy) or 1.
pub fn run(probe: &Probe) -> u8 {
    let start = Instant::now();
    let deadline = start + probe.timeout;
    let verdict = check(probe, deadline);
    let took = start.elapsed().as_millis();
    match verdict {
        Ok(what) => {
            println!("ok: {what} in {took} ms");
            0
        }
        Err(why) => {
            println!("unhealthy: {why} (after {took} ms)");
            1
        }
    }
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
    let addresses = resolve::resolve(host, port, deadline)?;
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
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut response = httparse::Response::new(&mut headers);
        match response.parse(&head) {
            Ok(httparse::Status::Complete(_)) => {
                return response
                    .code
                    .ok_or_else(|| "response without a status".into())
            }
            // The status is known even when the headers overflow our table.
            Err(httparse::Error::TooManyHeaders) => {
                return response
                    .code
                    .ok_or_else(|| "response without a status".into())
            }
            Err(e) => return Err(format!("not an HTTP response: {e}")),
            Ok(httparse::Status::Partial) if head.len() > MAX_HEAD => {
                return Err("response headers too large".into())
            }
            Ok(httparse::Status::Partial) => {}
        }
    }
}

fn parse_url(url: &str) -> Result<Check, String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or("only plain http:// URLs are supported")?;
    let (authority, path) = match rest.find(['/', '?']) {
        Some(at) if rest.as_bytes()[at] == b'?' => (&rest[..at], format!("/{}", &rest[at..])),
        Some(at) => (&rest[..at], rest[at..].to_string()),
        None => (rest, "/".to_string()),
    };
    if authority.contains('@') {
        return Err("credentials in the URL are not supported".into());
    }
    let (host, port) = split_host_port(authority, Some(80))?;
    Ok(Check::Http {
        host,
        port,
        path,
        authority: authority.to_string(),
    })
}

/// Splits `host:port`, `[v6]:port` (or, with a default port, `host`, `[v6]`).
fn split_host_port(text: &str, default_port: Option<u16>) -> Result<(String, u16), String> {
    let (host, port) = if let Some(bracketed) = text.strip_prefix('[') {
        let (host, after) = bracketed
            .split_once(']')
            .ok_or("unclosed '[' in the address")?;
        host.parse::<std::net::Ipv6Addr>()
            .map_err(|_| format!("'{host}' is not an IPv6 address"))?;
        match after.strip_prefix(':') {
            Some(port) => (host, Some(port)),
            None if after.is_empty() => (host, None),
            None => return Err("unexpected text after ']'".into()),
        }
    } else {
        match text.rsplit_once(':') {
            Some((host, _)) if host.contains(':') => {
                return Err("write IPv6 addresses in brackets, e.g. [::1]:8080".into())
            }
            Some((host, port)) => (host, Some(port)),
            None => (text, None),
        }
    };
    if host.is_empty() {
        return Err("missing host".into());
    }
    let port = match (port, default_port) {
        (Some(port), _) => port
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| format!("'{port}' is not a port number"))?,
        (None, Some(default)) => default,
        (None, None) => return Err("missing port".into()),
    };
    Ok((host.to_string(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http(host: &str, port: u16, path: &str, authority: &str) -> Check {
        Check::Http {
            host: host.into(),
            port,
            path: path.into(),
            authority: authority.into(),
        }
    }

    #[test]
    fn urls() {
        assert_eq!(
            parse_url("http://127.0.0.1:3000/health"),
            Ok(http("127.0.0.1", 3000, "/health", "127.0.0.1:3000"))
        );
        assert_eq!(
            parse_url("http://[::1]:8080"),
            Ok(http("::1", 8080, "/", "[::1]:8080"))
        );
        assert_eq!(
            parse_url("http://web/x?y=1"),
            Ok(http("web", 80, "/x?y=1", "web"))
        );
        assert_eq!(
            parse_url("http://web?y=1"),
            Ok(http("web", 80, "/?y=1", "web"))
        );
        for bad in [
            "https://x/",
            "x:80",
            "http://",
            "http://:80/",
            "http://h:0/",
            "http://h:99999/",
            "http://::1/",
            "http://[::1/",
            "http://u@h/",
        ] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tcp_addresses() {
        assert_eq!(split_host_port("db:5432", None), Ok(("db".into(), 5432)));
        assert_eq!(split_host_port("[::1]:80", None), Ok(("::1".into(), 80)));
        assert!(split_host_port("db", None).is_err());
        assert!(split_host_port("[::1]", None).is_err());
    }
}
