//! Validated settings: what the command line and environment mean once every
//! value has been checked, so nothing after start-up can meet a bad value.

use std::ffi::OsString;
use std::net::Ipv6Addr;
use std::ops::Deref;
use std::path::PathBuf;
use std::time::Duration;

use log::LevelFilter;

use crate::signals::Sig;

pub const DEFAULT_DRAIN_FILE: &str = "/tmp/graceinit/draining";
pub const DEFAULT_LEFTOVER_GRACE: Duration = Duration::from_secs(2);
pub const DEFAULT_PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// The longest duration any option takes: far beyond any sane stop or probe,
/// and far from the limit of `Instant` arithmetic, so a deadline computed
/// from a few of them can never overflow.
pub const MAX_DURATION: Duration = Duration::from_secs(24 * 3600);

/// Everything `graceinit [OPTIONS] COMMAND` needs to run.
#[derive(Debug, Clone)]
pub struct Config {
    pub command: Command,
    /// What the supervisor decides by.
    pub policy: Policy,
    pub subreaper: bool,
    pub pdeathsig: Option<Sig>,
    pub warn_on_reap: bool,
    /// Forced by -v/-q/TINI_VERBOSITY; beats `log_filter`.
    pub log_level: Option<LevelFilter>,
    /// `GRACEINIT_LOG`, a filter in env_logger's syntax (env_filter).
    pub log_filter: Option<String>,
    pub drain_file: PathBuf,
}

/// The program to run and its arguments: never empty, so nothing after
/// parsing has to ask.
#[derive(Debug, Clone, PartialEq)]
pub struct Command(Vec<OsString>);

impl Command {
    pub fn new(program: OsString, args: impl IntoIterator<Item = OsString>) -> Self {
        Command(std::iter::once(program).chain(args).collect())
    }

    /// The program followed by its arguments, as exec wants them.
    pub fn argv(&self) -> &[OsString] {
        &self.0
    }
}

/// `spawn::spawn(&config.command)` takes the argv slice directly.
impl Deref for Command {
    type Target = [OsString];

    fn deref(&self) -> &[OsString] {
        self.argv()
    }
}

/// What `graceinit health` checks, after the drain marker.
#[derive(Debug, Clone, PartialEq)]
pub enum Check {
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
        /// `host[:port]` as written in the URL, for the Host header.
        authority: String,
    },
}

/// Everything `graceinit health` needs.
#[derive(Debug, Clone)]
pub struct Probe {
    pub check: Check,
    pub timeout: Duration,
    pub drain_file: PathBuf,
}

/// The settings the supervisor's decisions depend on.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    pub single_child: bool,
    pub rewrite: Rewrites,
    pub exit_remap: ExitRemap,
    pub zero_on_stop: bool,
    pub drain_delay: Duration,
    pub kill_after: Option<Duration>,
    pub leftover_grace: Duration,
}

/// Parses `250ms`, `10s`, `2m`, `1h` or a bare (possibly fractional) number
/// of seconds, up to [`MAX_DURATION`].
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    const EXPECTED: &str = "expected a duration like 250ms, 10s, 2m or a number of seconds";
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let scale = match unit {
        "ms" => 0.001,
        "" | "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        _ => return Err(EXPECTED.into()),
    };
    let value: f64 = number.parse().map_err(|_| EXPECTED.to_string())?;
    Duration::try_from_secs_f64(value * scale)
        .ok()
        .filter(|duration| *duration <= MAX_DURATION)
        .ok_or_else(|| "longer than the maximum, 24h".to_string())
}

/// Prints a duration the way a user would have typed it.
pub fn format_duration(duration: Duration) -> String {
    let millis = duration.as_millis();
    if millis % 1000 == 0 {
        format!("{}s", millis / 1000)
    } else {
        format!("{millis}ms")
    }
}

/// A short FROM → TO table; for the same FROM the last pair given wins, as
/// with dumb-init's repeated `-r`.
#[derive(Debug, Clone, PartialEq)]
pub struct Remap<T>(Vec<(T, T)>);

impl<T: Copy + PartialEq> Remap<T> {
    pub fn from_pairs(pairs: impl IntoIterator<Item = (T, T)>) -> Self {
        Remap(pairs.into_iter().collect())
    }

    fn get(&self, from: T) -> T {
        self.0
            .iter()
            .rev()
            .find(|(key, _)| *key == from)
            .map_or(from, |(_, to)| *to)
    }
}

impl<T> Default for Remap<T> {
    fn default() -> Self {
        Remap(Vec::new())
    }
}

/// Received signal → forwarded signal; 0 means drop it.
pub type Rewrites = Remap<Sig>;

/// Final exit code remapping (`-e 143`, `-e 3:7`).
pub type ExitRemap = Remap<u8>;

/// Parses one `FROM:TO` pair; `TO` may be 0 (drop). `FROM` must be a
/// signal graceinit can receive and forward: not KILL or STOP (never
/// delivered to a handler), CHLD (graceinit's own) or a fault signal (SPEC
/// §2: one that describes a crash is no signal to rewrite).
pub fn parse_rewrite(pair: &str) -> Result<(Sig, Sig), String> {
    let (from, to) = pair
        .split_once(':')
        .ok_or_else(|| "expected FROM:TO, e.g. TERM:QUIT or 15:3".to_string())?;
    let from_sig = Sig::parse(from)
        .filter(|s| s.0 != 0)
        .ok_or_else(|| format!("unknown signal '{from}'"))?;
    if matches!(from_sig.0, libc::SIGKILL | libc::SIGSTOP)
        || !from_sig.is_forwardable()
        || from_sig.is_fault()
    {
        return Err(format!(
            "{from_sig} cannot be rewritten (KILL, STOP, CHLD and the fault signals)"
        ));
    }
    let to_sig = Sig::parse(to).ok_or_else(|| format!("unknown signal '{to}'"))?;
    Ok((from_sig, to_sig))
}

/// Parses `-p`: the signal graceinit gets when its parent dies. KILL is
/// fine (tini's documented use: graceinit dies, the kernel kills the
/// rest); STOP would stop graceinit, CHLD would pass for a child's exit, and
/// a fault signal would crash it.
pub fn parse_pdeathsig(text: &str) -> Result<Sig, String> {
    let sig = Sig::parse(text)
        .filter(|s| s.0 != 0)
        .ok_or_else(|| format!("unknown signal '{text}'"))?;
    if sig.0 == libc::SIGSTOP || !sig.is_forwardable() || sig.is_fault() {
        return Err(format!(
            "{sig} cannot be the parent-death signal (STOP, CHLD and the fault signals)"
        ));
    }
    Ok(sig)
}

impl Remap<Sig> {
    /// What to forward for a received signal; `None` when it is dropped.
    pub fn apply(&self, received: Sig) -> Option<Sig> {
        let to = self.get(received);
        (to.0 != 0).then_some(to)
    }
}

/// Parses `CODE` (meaning `CODE:0`, as tini's `-e`) or `CODE:TO`.
pub fn parse_exit_remap(spec: &str) -> Result<(u8, u8), String> {
    let (from, to) = spec.split_once(':').unwrap_or((spec, "0"));
    let code = |text: &str| {
        text.trim()
            .parse::<u8>()
            .map_err(|_| format!("exit code '{text}' is not in 0..=255"))
    };
    Ok((code(from)?, code(to)?))
}

impl Remap<u8> {
    pub fn apply(&self, code: u8) -> u8 {
        self.get(code)
    }
}

/// Parses `--http`: `http://HOST[:PORT][/PATH][?QUERY]`.
pub fn parse_url(url: &str) -> Result<Check, String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or("only plain http:// URLs are supported")?;
    // The fragment is the client's, never sent (RFC 9110 §4.2.4).
    let rest = rest.split('#').next().unwrap_or(rest);
    let (authority, path) = match rest.find(['/', '?']) {
        Some(at) if rest.as_bytes()[at] == b'?' => (&rest[..at], format!("/{}", &rest[at..])),
        Some(at) => (&rest[..at], rest[at..].to_string()),
        None => (rest, "/".to_string()),
    };
    if authority.contains('@') {
        return Err("credentials in the URL are not supported".into());
    }
    if path.contains(|c: char| c == ' ' || c.is_control()) {
        return Err("a space or control character in the path: percent-encode it (%20)".into());
    }
    let (host, port) = split_host_port(authority, Some(80))?;
    Ok(Check::Http {
        host,
        port,
        path,
        authority: authority.to_string(),
    })
}

/// Parses `--tcp`: `HOST:PORT` or `[V6]:PORT`.
pub fn parse_tcp(address: &str) -> Result<Check, String> {
    let (host, port) = split_host_port(address, None)?;
    Ok(Check::Tcp { host, port })
}

/// Splits `host:port`, `[v6]:port` (or, with a default port, `host`, `[v6]`).
fn split_host_port(text: &str, default_port: Option<u16>) -> Result<(String, u16), String> {
    let (host, port) = if let Some(bracketed) = text.strip_prefix('[') {
        let (host, after) = bracketed
            .split_once(']')
            .ok_or("unclosed '[' in the address")?;
        host.parse::<Ipv6Addr>()
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

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_duration("0.5"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("24h"), Ok(MAX_DURATION));
        for bad in [
            "ten",
            "",
            "s",
            "10x",
            "-1",
            "1e3",
            "..",
            "5 s",
            "86401",
            "24.1h",
            "10000000000000000000",
            "1e400",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        // Drain, kill-after and leftover grace at their maximum, on one clock.
        assert!(std::time::Instant::now()
            .checked_add(MAX_DURATION * 3)
            .is_some());
        assert_eq!(format_duration(Duration::from_millis(1500)), "1500ms");
        assert_eq!(format_duration(Duration::from_secs(2)), "2s");
    }

    #[test]
    fn rewrites() {
        let table = Rewrites::from_pairs([
            parse_rewrite("TERM:QUIT").unwrap(),
            parse_rewrite("10:0").unwrap(),
        ]);
        assert_eq!(table.apply(Sig::TERM), Some(Sig::QUIT));
        assert_eq!(table.apply(Sig(libc::SIGUSR1)), None);
        assert_eq!(table.apply(Sig(libc::SIGHUP)), Some(Sig(libc::SIGHUP)));
        for bad in ["15", "TERM:BOGUS", "0:1", ":", "TERM:"] {
            assert!(parse_rewrite(bad).is_err(), "{bad}");
        }
        for never in [
            "KILL", "STOP", "CHLD", "SEGV", "BUS", "FPE", "ILL", "TRAP", "SYS", "ABRT", "31",
        ] {
            assert!(parse_rewrite(&format!("{never}:1")).is_err(), "{never}");
        }
        assert!(parse_rewrite("TERM:KILL").is_ok());
    }

    #[test]
    fn pdeath_signals() {
        assert_eq!(parse_pdeathsig("SIGKILL"), Ok(Sig::KILL));
        assert_eq!(parse_pdeathsig("term"), Ok(Sig::TERM));
        for bad in ["STOP", "CHLD", "SEGV", "ABRT", "0", "NOPE"] {
            assert!(parse_pdeathsig(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn exit_remaps() {
        let remap = ExitRemap::from_pairs([
            parse_exit_remap("143").unwrap(),
            parse_exit_remap("3:7").unwrap(),
        ]);
        assert_eq!(remap.apply(143), 0);
        assert_eq!(remap.apply(3), 7);
        assert_eq!(remap.apply(1), 1);
        for bad in ["300", "-1", "x", "3:256", ""] {
            assert!(parse_exit_remap(bad).is_err(), "{bad}");
        }
    }

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
        // The fragment stays with the client.
        assert_eq!(
            parse_url("http://web:81/h?x#top"),
            Ok(http("web", 81, "/h?x", "web:81"))
        );
        assert_eq!(parse_url("http://web#top"), Ok(http("web", 80, "/", "web")));
        for bad in [
            "http://h/a b",
            "http://h/a\r\nX: y",
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
        let tcp = |host: &str, port| {
            Ok(Check::Tcp {
                host: host.into(),
                port,
            })
        };
        assert_eq!(parse_tcp("db:5432"), tcp("db", 5432));
        assert_eq!(parse_tcp("[::1]:80"), tcp("::1", 80));
        assert!(parse_tcp("db").is_err());
        assert!(parse_tcp("[::1]").is_err());
    }

    #[test]
    fn a_command_is_never_empty() {
        let command = Command::new("node".into(), ["-v".into()]);
        assert_eq!(command.argv(), ["node", "-v"]);
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// Text near the grammar: digits, units, signs, signal words.
        fn text() -> impl Strategy<Value = String> {
            prop_oneof![
                ".{0,24}",
                "[0-9.:+-]{0,24}(ms|s|m|h|)?",
                "(SIG)?(TERM|KILL|STOP|RTMIN|RTMAX|[0-9]{1,20})([+-][0-9]{1,12})?(:(SIG)?(QUIT|0|[0-9]{1,20}))?",
            ]
        }

        fn one_line<T>(result: Result<T, String>) -> Result<(), TestCaseError> {
            if let Err(why) = result {
                prop_assert!(!why.is_empty() && !why.contains('\n'), "{why:?}");
            }
            Ok(())
        }

        proptest! {
            #[test]
            fn durations_are_bounded_or_one_line(text in text()) {
                match parse_duration(&text) {
                    Ok(duration) => prop_assert!(duration <= MAX_DURATION),
                    Err(why) => one_line::<()>(Err(why))?,
                }
            }

            #[test]
            fn signals_rewrites_and_exit_codes_give_a_value_or_one_line(text in text()) {
                one_line(parse_pdeathsig(&text))?;
                one_line(parse_rewrite(&text))?;
                one_line(parse_exit_remap(&text))?;
                one_line(parse_url(&text))?;
                one_line(parse_tcp(&text))?;
                if let Ok((from, _)) = parse_rewrite(&text) {
                    prop_assert!(from.is_forwardable() && from != Sig::KILL);
                }
            }
        }
    }
}
