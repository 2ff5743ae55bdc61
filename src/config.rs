//! Validated settings: what the command line and environment mean once every
//! value has been checked, so nothing after start-up can meet a bad value.

use std::path::PathBuf;
use std::time::Duration;

use log::LevelFilter;

use crate::signals::Sig;

pub const DEFAULT_DRAIN_FILE: &str = "/tmp/graceinit/draining";
pub const DEFAULT_LEFTOVER_GRACE: Duration = Duration::from_secs(2);

/// Everything `graceinit [OPTIONS] COMMAND` needs to run.
#[derive(Debug, Clone)]
pub struct Config {
    pub command: Vec<std::ffi::OsString>,
    /// What the supervisor decides by.
    pub policy: Policy,
    pub subreaper: bool,
    pub pdeathsig: Option<Sig>,
    pub warn_on_reap: bool,
    pub log_level: Option<LevelFilter>,
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

/// Parses `250ms`, `10s`, `2m`, `1h` or a bare (possibly fractional) number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
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
        _ => return Err("expected a duration like 250ms, 10s, 2m or a number of seconds".into()),
    };
    let value: f64 = number.parse().map_err(|_| {
        "expected a duration like 250ms, 10s, 2m or a number of seconds".to_string()
    })?;
    Duration::try_from_secs_f64(value * scale).map_err(|_| "duration out of range".to_string())
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

/// Parses one `FROM:TO` pair; `TO` may be 0 (drop).
pub fn parse_rewrite(pair: &str) -> Result<(Sig, Sig), String> {
    let (from, to) = pair
        .split_once(':')
        .ok_or_else(|| "expected FROM:TO, e.g. TERM:QUIT or 15:3".to_string())?;
    let from_sig = Sig::parse(from)
        .filter(|s| s.0 != 0)
        .ok_or_else(|| format!("unknown signal '{from}'"))?;
    let to_sig = Sig::parse(to).ok_or_else(|| format!("unknown signal '{to}'"))?;
    Ok((from_sig, to_sig))
}

/// Parses a signal to be sent (never 0).
pub fn parse_signal(text: &str) -> Result<Sig, String> {
    Sig::parse(text)
        .filter(|s| s.0 != 0)
        .ok_or_else(|| format!("unknown signal '{text}'"))
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
        for bad in ["ten", "", "s", "10x", "-1", "1e3", "..", "5 s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
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
}
