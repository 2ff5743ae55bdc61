//! A getopt-style reader of the command line, the way tini (getopt) and
//! dumb-init (getopt_long) read theirs: `-vv`, `-e143`, `-e 143`,
//! `--rewrite=15:3`, `--rewrite 15:3`, `--` ends the options, and the first
//! word that is not an option starts the command.

use std::collections::VecDeque;
use std::ffi::OsString;

use crate::error::Error;

#[derive(Debug, PartialEq, Eq)]
pub enum Arg {
    /// `-x` (possibly one of a cluster like `-vvs`).
    Short(char),
    /// `--name` (a `=value` part is kept for [`Args::value`]).
    Long(String),
    /// The first word that is not an option, or the word after `--`.
    Positional(OsString),
}

pub struct Args {
    rest: VecDeque<OsString>,
    /// Unread characters of a short-option cluster (`-vvs` after `-v`).
    cluster: Option<String>,
    /// The `value` of `--name=value`, waiting for [`Args::value`].
    attached: Option<String>,
    /// Set once `--` has been read: everything after it is positional.
    options_done: bool,
}

impl Args {
    /// `args` without the program name.
    pub fn new(args: impl IntoIterator<Item = OsString>) -> Self {
        Args {
            rest: args.into_iter().collect(),
            cluster: None,
            attached: None,
            options_done: false,
        }
    }

    /// The next option or the first positional word; `None` at the end.
    pub fn next(&mut self) -> Result<Option<Arg>, Error> {
        if let Some(value) = self.attached.take() {
            return Err(Error::Usage(format!(
                "unexpected value '{value}' for an option that takes none"
            )));
        }
        if let Some(cluster) = self.cluster.take() {
            return Ok(self.next_short(cluster));
        }
        let Some(word) = self.rest.pop_front() else {
            return Ok(None);
        };
        if self.options_done {
            return Ok(Some(Arg::Positional(word)));
        }
        let Some(text) = word.to_str() else {
            return Ok(Some(Arg::Positional(word)));
        };
        if text == "--" {
            self.options_done = true;
            return Ok(self.rest.pop_front().map(Arg::Positional));
        }
        if let Some(long) = text.strip_prefix("--") {
            let (name, value) = match long.split_once('=') {
                Some((name, value)) => (name, Some(value.to_string())),
                None => (long, None),
            };
            self.attached = value;
            return Ok(Some(Arg::Long(name.to_string())));
        }
        match text.strip_prefix('-') {
            Some(shorts) if !shorts.is_empty() => Ok(self.next_short(shorts.to_string())),
            // "-" alone, or a plain word: the command starts here.
            _ => Ok(Some(Arg::Positional(word))),
        }
    }

    fn next_short(&mut self, mut cluster: String) -> Option<Arg> {
        let first = cluster.remove(0);
        if !cluster.is_empty() {
            self.cluster = Some(cluster);
        }
        Some(Arg::Short(first))
    }

    /// The value of the option just read: `--name=value`, the rest of a
    /// short cluster (`-e143`), or the next word.
    pub fn value(&mut self, flag: &str) -> Result<String, Error> {
        if let Some(value) = self.attached.take().or_else(|| self.cluster.take()) {
            return Ok(value);
        }
        match self.rest.pop_front() {
            Some(word) => word.into_string().map_err(|word| {
                Error::Usage(format!("invalid value {word:?} for {flag}: not UTF-8"))
            }),
            None => Err(Error::Usage(format!("{flag} needs a value"))),
        }
    }

    /// Whatever is left, verbatim: the command's arguments.
    pub fn remaining(self) -> Vec<OsString> {
        self.rest.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&str]) -> Args {
        Args::new(words.iter().map(OsString::from))
    }

    #[test]
    fn clusters_and_attached_values() {
        let mut a = args(&["-vve143", "--rewrite=15:3", "-r", "TERM:QUIT", "node", "-v"]);
        assert_eq!(a.next().unwrap(), Some(Arg::Short('v')));
        assert_eq!(a.next().unwrap(), Some(Arg::Short('v')));
        assert_eq!(a.next().unwrap(), Some(Arg::Short('e')));
        assert_eq!(a.value("-e").unwrap(), "143");
        assert_eq!(a.next().unwrap(), Some(Arg::Long("rewrite".into())));
        assert_eq!(a.value("--rewrite").unwrap(), "15:3");
        assert_eq!(a.next().unwrap(), Some(Arg::Short('r')));
        assert_eq!(a.value("-r").unwrap(), "TERM:QUIT");
        assert_eq!(a.next().unwrap(), Some(Arg::Positional("node".into())));
        assert_eq!(a.remaining(), ["-v"]);
    }

    #[test]
    fn double_dash_ends_options() {
        let mut a = args(&["--", "-x", "--y"]);
        assert_eq!(a.next().unwrap(), Some(Arg::Positional("-x".into())));
        assert_eq!(a.remaining(), ["--y"]);
        assert_eq!(args(&["--"]).next().unwrap(), None);
    }

    #[test]
    fn missing_and_unexpected_values() {
        let mut a = args(&["-p"]);
        a.next().unwrap();
        assert!(a
            .value("-p")
            .unwrap_err()
            .to_string()
            .contains("-p needs a value"));
        let mut a = args(&["--quiet=yes", "x"]);
        a.next().unwrap();
        assert!(a.next().is_err());
    }
}
