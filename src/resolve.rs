//! Host names for `graceinit health`, without glibc's resolver: the hosts
//! file, then DNS over UDP to the name servers of resolv.conf, all under the
//! probe's deadline. glibc's getaddrinfo has no timeout (the probe needed a
//! thread to abandon it) and adds 190 KB to a static binary; the files+dns
//! path below is what a container's nsswitch does anyway.

use std::fs;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

const HOSTS: &str = "/etc/hosts";
const RESOLV_CONF: &str = "/etc/resolv.conf";
/// One name server gets at most this long before the next is asked.
const PER_SERVER: Duration = Duration::from_millis(1500);
/// Once one address family has answered, how long the other may still take.
const SECOND_FAMILY_GRACE: Duration = Duration::from_millis(50);
const TYPE_A: u16 = 1;
const TYPE_AAAA: u16 = 28;

/// Resolves `host` to socket addresses, IPv4 first (containers rarely have
/// IPv6 routes, and a refused v6 connect would only cost time).
pub fn resolve(host: &str, port: u16, deadline: Instant) -> Result<Vec<SocketAddr>, String> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let name = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
    let mut ips = fs::read_to_string(HOSTS)
        .map(|hosts| hosts_lookup(&hosts, &name))
        .unwrap_or_default();
    // RFC 6761: localhost is loopback even where no hosts file says so.
    if ips.is_empty() && (name == "localhost" || name.ends_with(".localhost")) {
        ips = vec![Ipv4Addr::LOCALHOST.into(), Ipv6Addr::LOCALHOST.into()];
    }
    if ips.is_empty() {
        let conf = ResolvConf::parse(&fs::read_to_string(RESOLV_CONF).unwrap_or_default());
        ips = dns_lookup(&conf, host, deadline)?;
    }
    ips.sort_by_key(IpAddr::is_ipv6);
    Ok(ips
        .into_iter()
        .map(|ip| SocketAddr::new(ip, port))
        .collect())
}

fn hosts_lookup(hosts: &str, name: &str) -> Vec<IpAddr> {
    hosts
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

#[derive(Debug, Default, PartialEq)]
struct ResolvConf {
    servers: Vec<IpAddr>,
    search: Vec<String>,
    ndots: usize,
}

impl ResolvConf {
    fn parse(text: &str) -> Self {
        let mut conf = ResolvConf {
            ndots: 1,
            ..ResolvConf::default()
        };
        for line in text.lines() {
            let mut words = line
                .split(['#', ';'])
                .next()
                .unwrap_or("")
                .split_whitespace();
            match words.next() {
                Some("nameserver") => conf
                    .servers
                    .extend(words.next().and_then(|w| w.parse::<IpAddr>().ok())),
                Some("search" | "domain") => conf.search = words.map(str::to_string).collect(),
                Some("options") => {
                    for option in words {
                        if let Some(n) = option.strip_prefix("ndots:").and_then(|n| n.parse().ok())
                        {
                            conf.ndots = n;
                        }
                    }
                }
                _ => {}
            }
        }
        // resolv.conf(5): no name server means the local one.
        if conf.servers.is_empty() {
            conf.servers.push(Ipv4Addr::LOCALHOST.into());
        }
        conf
    }

    /// The names to ask for, in resolver order: with fewer dots than
    /// `ndots` the search domains come first (Kubernetes' `ndots:5`).
    fn candidates(&self, host: &str) -> Vec<String> {
        if let Some(absolute) = host.strip_suffix('.') {
            return vec![absolute.to_string()];
        }
        let searched = self.search.iter().map(|domain| format!("{host}.{domain}"));
        if host.matches('.').count() >= self.ndots {
            std::iter::once(host.to_string()).chain(searched).collect()
        } else {
            searched.chain(std::iter::once(host.to_string())).collect()
        }
    }
}

fn dns_lookup(conf: &ResolvConf, host: &str, deadline: Instant) -> Result<Vec<IpAddr>, String> {
    let mut last_error = format!("cannot resolve {host}");
    for name in conf.candidates(host) {
        let Some(question) = Question::new(&name) else {
            return Err(format!("'{host}' is not a valid host name"));
        };
        for server in &conf.servers {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(format!("resolving {host} timed out"));
            }
            match ask(
                SocketAddr::new(*server, 53),
                &question,
                left.min(PER_SERVER),
            ) {
                Ok(Answer::Found(ips)) => return Ok(ips),
                // An authoritative "no such name": the next candidate, not the next server.
                Ok(Answer::NoSuchName) => {
                    last_error = format!("no such host: {host}");
                    break;
                }
                Err(why) => last_error = format!("cannot resolve {host}: {why}"),
            }
        }
    }
    Err(last_error)
}

struct Question {
    /// The encoded name: length-prefixed labels and a zero byte.
    name: Vec<u8>,
}

impl Question {
    fn new(name: &str) -> Option<Self> {
        let mut encoded = Vec::with_capacity(name.len() + 2);
        for label in name.split('.') {
            let length = u8::try_from(label.len())
                .ok()
                .filter(|n| (1..=63).contains(n))?;
            encoded.push(length);
            encoded.extend_from_slice(label.as_bytes());
        }
        encoded.push(0);
        (encoded.len() <= 255).then_some(Question { name: encoded })
    }

    fn packet(&self, id: u16, record_type: u16) -> Vec<u8> {
        let mut packet = Vec::with_capacity(12 + self.name.len() + 4);
        packet.extend_from_slice(&id.to_be_bytes());
        packet.extend_from_slice(&[0x01, 0x00]); // recursion desired
        packet.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]); // one question
        packet.extend_from_slice(&self.name);
        packet.extend_from_slice(&record_type.to_be_bytes());
        packet.extend_from_slice(&[0, 1]); // class IN
        packet
    }
}

#[derive(Debug, PartialEq)]
enum Answer {
    Found(Vec<IpAddr>),
    NoSuchName,
}

/// Asks one server for A and AAAA at once and waits for both answers.
fn ask(server: SocketAddr, question: &Question, timeout: Duration) -> Result<Answer, String> {
    let mut deadline = Instant::now() + timeout;
    let local: SocketAddr = if server.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = UdpSocket::bind(local).map_err(|e| e.to_string())?;
    socket.connect(server).map_err(|e| e.to_string())?;
    let id = random_id();
    let ids = [id, id.wrapping_add(1)];
    for (query_id, record_type) in ids.iter().zip([TYPE_A, TYPE_AAAA]) {
        socket
            .send(&question.packet(*query_id, record_type))
            .map_err(|e| e.to_string())?;
    }
    let mut ips = Vec::new();
    let mut pending = ids.to_vec();
    let mut no_such_name = 0;
    let mut buffer = [0u8; 1500];
    while !pending.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        socket
            .set_read_timeout(Some(left))
            .map_err(|e| e.to_string())?;
        let length = match socket.recv(&mut buffer) {
            Ok(length) => length,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                break
            }
            Err(e) => return Err(format!("{server}: {e}")),
        };
        let Some(reply) = parse_reply(&buffer[..length]) else {
            continue; // not a DNS reply: ignore, as resolvers do
        };
        if !pending.contains(&reply.id) {
            continue;
        }
        pending.retain(|pending_id| *pending_id != reply.id);
        match reply.rcode {
            0 if !reply.addresses.is_empty() => {
                ips.extend(reply.addresses);
                // Some servers never answer AAAA; one family is enough to probe.
                deadline = deadline.min(Instant::now() + SECOND_FAMILY_GRACE);
            }
            0 => {}
            3 => no_such_name += 1,
            code => return Err(format!("{server} answered with error code {code}")),
        }
    }
    match (ips.is_empty(), pending.is_empty(), no_such_name) {
        (false, _, _) => Ok(Answer::Found(ips)),
        (true, true, n) if n > 0 => Ok(Answer::NoSuchName),
        (true, true, _) => Err(format!("{server} knows no address for it")),
        (true, false, _) => Err(format!("{server} did not answer in time")),
    }
}

fn random_id() -> u16 {
    let mut bytes = [0u8; 2];
    // SAFETY: getrandom writes at most `bytes.len()` bytes into the buffer.
    let filled = unsafe { libc::getrandom(bytes.as_mut_ptr().cast(), bytes.len(), 0) };
    if filled != 2 {
        // Only the reply matching matters here, not unpredictability.
        return u16::try_from(std::process::id() & 0xffff).unwrap_or(0x1234);
    }
    u16::from_be_bytes(bytes)
}

struct Reply {
    id: u16,
    rcode: u8,
    addresses: Vec<IpAddr>,
}

/// Reads the header and every A/AAAA record of the answer section (a
/// recursive server puts the CNAME chain's final addresses there too).
fn parse_reply(packet: &[u8]) -> Option<Reply> {
    let header = packet.get(..12)?;
    let id = u16::from_be_bytes([header[0], header[1]]);
    if header[2] & 0x80 == 0 {
        return None; // a query, not a response
    }
    let rcode = header[3] & 0x0f;
    let questions = u16::from_be_bytes([header[4], header[5]]);
    let answers = u16::from_be_bytes([header[6], header[7]]);
    let mut at = 12;
    for _ in 0..questions {
        at = skip_name(packet, at)? + 4;
    }
    let mut addresses = Vec::new();
    for _ in 0..answers {
        at = skip_name(packet, at)?;
        let fixed = packet.get(at..at + 10)?;
        let record_type = u16::from_be_bytes([fixed[0], fixed[1]]);
        let length = usize::from(u16::from_be_bytes([fixed[8], fixed[9]]));
        let data = packet.get(at + 10..at + 10 + length)?;
        match (record_type, data.len()) {
            (TYPE_A, 4) => addresses.push(IpAddr::from(<[u8; 4]>::try_from(data).ok()?)),
            (TYPE_AAAA, 16) => addresses.push(IpAddr::from(<[u8; 16]>::try_from(data).ok()?)),
            _ => {}
        }
        at += 10 + length;
    }
    Some(Reply {
        id,
        rcode,
        addresses,
    })
}

/// The offset just past a (possibly compressed) name.
fn skip_name(packet: &[u8], mut at: usize) -> Option<usize> {
    loop {
        let length = *packet.get(at)?;
        match length {
            0 => return Some(at + 1),
            // A compression pointer ends the name.
            l if l & 0xc0 == 0xc0 => return Some(at + 2),
            l => at += 1 + usize::from(l),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_file() {
        let hosts = "127.0.0.1 localhost\n::1 localhost ip6-localhost\n# 10.0.0.1 web\n172.17.0.2 Web web.local # container\n";
        assert_eq!(hosts_lookup(hosts, "web"), [IpAddr::from([172, 17, 0, 2])]);
        assert_eq!(hosts_lookup(hosts, "localhost").len(), 2);
        assert!(hosts_lookup(hosts, "db").is_empty());
    }

    #[test]
    fn resolv_conf_and_search_order() {
        let conf = ResolvConf::parse(
            "# kubernetes\nnameserver 10.96.0.10\nsearch default.svc.cluster.local svc.cluster.local\noptions ndots:5\n",
        );
        assert_eq!(conf.servers, [IpAddr::from([10, 96, 0, 10])]);
        assert_eq!(
            conf.candidates("db"),
            ["db.default.svc.cluster.local", "db.svc.cluster.local", "db"]
        );
        assert_eq!(conf.candidates("db.example.")[..], ["db.example"]);
        let plain = ResolvConf::parse("");
        assert_eq!(plain.servers, [IpAddr::from([127, 0, 0, 1])]);
        assert_eq!(plain.candidates("a.b"), ["a.b"]);
    }

    #[test]
    fn invalid_names_are_refused() {
        assert!(Question::new("a..b").is_none());
        assert!(Question::new(&"x".repeat(64)).is_none());
        assert!(Question::new("web").is_some());
    }

    /// A reply as a recursive server sends it: the question echoed, a CNAME,
    /// then the address, with compressed names.
    fn reply_packet(id: u16, rcode: u8) -> Vec<u8> {
        let question = Question::new("web").unwrap();
        let mut packet = question.packet(id, TYPE_A);
        packet[2] = 0x81;
        packet[3] = 0x80 | rcode;
        if rcode != 0 {
            return packet;
        }
        packet[7] = 2; // two answers
        packet.extend_from_slice(&[0xc0, 12, 0, 5, 0, 1, 0, 0, 0, 60, 0, 2, 0xc0, 12]); // CNAME
        packet.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 0, 0, 7]); // A
        packet
    }

    #[test]
    fn parses_compressed_replies() {
        let reply = parse_reply(&reply_packet(7, 0)).unwrap();
        assert_eq!((reply.id, reply.rcode), (7, 0));
        assert_eq!(reply.addresses, [IpAddr::from([10, 0, 0, 7])]);
        assert!(
            parse_reply(&reply_packet(7, 0)[..30]).is_none(),
            "truncated"
        );
        assert!(
            parse_reply(&Question::new("web").unwrap().packet(1, TYPE_A)).is_none(),
            "a query"
        );
    }

    /// A name server on loopback that answers the two queries of one
    /// lookup: A with 10.0.0.7, AAAA with "no such name" or not at all.
    fn fake_server(answers_aaaa: bool) -> (SocketAddr, std::thread::JoinHandle<()>) {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let address = server.local_addr().unwrap();
        let responder = std::thread::spawn(move || {
            let mut buffer = [0u8; 512];
            for _ in 0..2 {
                let (_, from) = server.recv_from(&mut buffer).unwrap();
                let id = u16::from_be_bytes([buffer[0], buffer[1]]);
                // The question "web" ends at byte 16; its type follows.
                let is_a = u16::from_be_bytes([buffer[17], buffer[18]]) == TYPE_A;
                if is_a || answers_aaaa {
                    let rcode = if is_a { 0 } else { 3 };
                    server.send_to(&reply_packet(id, rcode), from).unwrap();
                }
            }
        });
        (address, responder)
    }

    /// A real UDP exchange with a fake server on loopback.
    #[test]
    fn asks_a_server_and_stops_at_the_timeout() {
        let question = Question::new("web").unwrap();
        let found = Ok(Answer::Found(vec![IpAddr::from([10, 0, 0, 7])]));
        let (address, responder) = fake_server(true);
        assert_eq!(ask(address, &question, Duration::from_secs(5)), found);
        responder.join().unwrap();

        // A server that answers A and never AAAA costs little more than one answer.
        let (address, responder) = fake_server(false);
        let start = Instant::now();
        assert_eq!(ask(address, &question, Duration::from_secs(5)), found);
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "{:?}",
            start.elapsed()
        );
        responder.join().unwrap();

        let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
        let start = Instant::now();
        let result = ask(
            silent.local_addr().unwrap(),
            &question,
            Duration::from_millis(300),
        );
        assert!(result.is_err());
        assert!(start.elapsed() < Duration::from_secs(2));
    }
}
