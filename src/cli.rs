//! The command line: graceinit's own spellings, tini's and dumb-init's, and
//! the environment fallbacks, turned into a validated [`Config`] or one line
//! of error. lexopt reads getopt's forms (which the peers' users already
//! type: `-vv`, `-e143`, `--rewrite=15:3`, `--`); the help text is
//! hand-written, and clap's 220 KB stay out of a binary every container
//! carries.

use std::ffi::{CStr, OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::time::Duration;

use log::LevelFilter;

use lexopt::prelude::*;
use lexopt::Parser;

use crate::config::{
    parse_duration, parse_exit_remap, parse_pdeathsig, parse_rewrite, parse_tcp, parse_url, Check,
    Command, Config, ExitRemap, Policy, Probe, Rewrites, DEFAULT_DRAIN_FILE,
    DEFAULT_LEFTOVER_GRACE, DEFAULT_PROBE_TIMEOUT,
};
use crate::error::Error;

/// What the command line asks for.
pub enum Invocation {
    Run(Config),
    Health(Probe),
    Drain {
        undo: bool,
        drain_file: PathBuf,
    },
    /// `--help`, `--version`, `--license`: print and exit 0.
    Print(String),
}

const HELP: &str = "\
graceinit: a tiny PID-1 init for containers. It forwards signals, reaps zombies,
passes the exit status through, and stops without dropping requests.

Usage: graceinit [OPTIONS] [--] COMMAND [ARGS...]
       graceinit health [--http URL] [--tcp HOST:PORT] [--timeout DUR] [--drain-file PATH]
       graceinit drain [--undo] [--drain-file PATH]

Options (each also read from the environment variable in brackets; a flag beats it):
  -c, --single-child         signal only the child, not its process group
                             [GRACEINIT_SINGLE_CHILD=1, DUMB_INIT_SETSID=0]
  -g                         accepted for tini; the process group is the default target
  -r, --rewrite FROM:TO      rewrite a received signal before forwarding; TO=0 drops it;
                             repeatable [GRACEINIT_REWRITE=TERM:QUIT,USR1:0]
  -s, --subreaper            register as child subreaper (automatic when not PID 1)
                             [GRACEINIT_SUBREAPER=1, TINI_SUBREAPER]
  -p, --pdeathsig SIG        signal to receive (and forward) when graceinit's parent dies
                             [GRACEINIT_PDEATHSIG]
  -e, --remap-exit CODE[:TO] report exit code CODE as TO (default 0); 143 also matches
                             death by SIGTERM; repeatable [GRACEINIT_REMAP_EXIT=143:0]
      --zero-on-stop         report 0 when the app ends because of a stop signal graceinit
                             forwarded; crashes keep their codes [GRACEINIT_ZERO_ON_STOP=1]
  -w, --warn-on-reap         warn for every orphan reaped [GRACEINIT_WARN_ON_REAP=1]
  -v, --verbose              more logging: -v info, -vv debug [GRACEINIT_LOG, TINI_VERBOSITY]
  -q, --quiet                errors only
      --drain-delay DUR      on SIGTERM, create the drain marker and wait DUR before
                             forwarding it [GRACEINIT_DRAIN_DELAY]
      --drain-file PATH      drain marker [GRACEINIT_DRAIN_FILE] (/tmp/graceinit/draining)
      --kill-after DUR       SIGKILL everything if the app still runs DUR after a stop
                             signal was forwarded; exit 137; 0 is off [GRACEINIT_KILL_AFTER]
      --leftover-grace DUR   after the app exits, time the rest get between SIGTERM and
                             SIGKILL; 0 exits at once [GRACEINIT_LEFTOVER_GRACE] (2s)
  -l, --license              print the license
  -V, --version              print the version
  -h, --help                 print this help

Durations: 250ms, 10s, 2m, or a number of seconds. Signals: TERM, SIGTERM, 15, RTMIN+3.
Health: exit 0 if healthy, 1 if not (draining, no connection, HTTP status not 2xx/3xx),
within --timeout (2s). Drain: make health fail from now on; --undo takes it back.
";

const LICENSE: &str = "\
graceinit is free software under the MIT License: use, copy, modify and distribute
it freely, keeping the copyright notice. It comes with no warranty of any kind.
";

/// Parses the process arguments (including `argv[0]`) and environment.
pub fn parse(args: Vec<OsString>) -> Result<Invocation, Error> {
    parse_with(args, &Env::of_process())
}

/// [`parse`] with the environment given, so tests need not change the
/// process's own.
fn parse_with(args: Vec<OsString>, env: &Env) -> Result<Invocation, Error> {
    let mut words = args.into_iter().skip(1).peekable();
    match words.peek().and_then(|w| w.to_str()) {
        Some("health") => parse_health(Parser::from_args(words.skip(1)), env),
        Some("drain") => parse_drain(Parser::from_args(words.skip(1)), env),
        _ => parse_run(Parser::from_args(words), env),
    }
}

/// Options as given on the command line; `None` means "not given", so the
/// environment may fill it in.
#[derive(Default)]
struct RunFlags {
    single_child: bool,
    subreaper: bool,
    zero_on_stop: bool,
    warn_on_reap: bool,
    verbose: u8,
    quiet: bool,
    rewrite: Option<Vec<String>>,
    remap_exit: Option<Vec<String>>,
    pdeathsig: Option<String>,
    drain_delay: Option<String>,
    drain_file: Option<String>,
    kill_after: Option<String>,
    leftover_grace: Option<String>,
}

/// The run command's long options. dumb-init reads its own with
/// getopt_long, which takes any unique prefix (`--single` for
/// `--single-child`), so graceinit does too.
const RUN_LONG_OPTIONS: [&str; 16] = [
    "help",
    "version",
    "license",
    "single-child",
    "subreaper",
    "zero-on-stop",
    "warn-on-reap",
    "verbose",
    "quiet",
    "rewrite",
    "remap-exit",
    "pdeathsig",
    "drain-delay",
    "drain-file",
    "kill-after",
    "leftover-grace",
];

/// The long option `name` is or abbreviates uniquely; else `name` itself,
/// which is then refused as unknown (getopt_long calls a prefix of two
/// options ambiguous).
fn expand_long<'a>(name: &'a str, options: &[&'static str]) -> &'a str {
    if options.contains(&name) || name.is_empty() {
        return name;
    }
    let mut matching = options.iter().filter(|option| option.starts_with(name));
    match (matching.next(), matching.next()) {
        (Some(&only), None) => only,
        _ => name,
    }
}

fn parse_run(mut parser: Parser, env: &Env) -> Result<Invocation, Error> {
    let mut flags = RunFlags::default();
    let first_word = loop {
        let Some(arg) = parser.next()? else {
            break None;
        };
        let arg = match arg {
            Long(name) => Long(expand_long(name, &RUN_LONG_OPTIONS)),
            other => other,
        };
        match arg {
            Short('h') | Long("help") => return Ok(Invocation::Print(HELP.into())),
            Short('V') | Long("version") => return Ok(Invocation::Print(version())),
            Short('l') | Long("license") => return Ok(Invocation::Print(LICENSE.into())),
            Short('c') | Long("single-child") => flags.single_child = true,
            Short('g') => {} // group delivery is the default already
            Short('s') | Long("subreaper") => flags.subreaper = true,
            Long("zero-on-stop") => flags.zero_on_stop = true,
            Short('w') | Long("warn-on-reap") => flags.warn_on_reap = true,
            Short('v') | Long("verbose") => flags.verbose = flags.verbose.saturating_add(1),
            Short('q') | Long("quiet") => flags.quiet = true,
            Short('r') | Long("rewrite") => {
                push(&mut flags.rewrite, value(&mut parser, "-r/--rewrite")?)
            }
            Short('e') | Long("remap-exit") => push(
                &mut flags.remap_exit,
                value(&mut parser, "-e/--remap-exit")?,
            ),
            Short('p') | Long("pdeathsig") => {
                flags.pdeathsig = Some(value(&mut parser, "-p/--pdeathsig")?)
            }
            Long("drain-delay") => flags.drain_delay = Some(value(&mut parser, "--drain-delay")?),
            Long("drain-file") => flags.drain_file = Some(value(&mut parser, "--drain-file")?),
            Long("kill-after") => flags.kill_after = Some(value(&mut parser, "--kill-after")?),
            Long("leftover-grace") => {
                flags.leftover_grace = Some(value(&mut parser, "--leftover-grace")?)
            }
            // The command starts here; what follows is its own, verbatim.
            Value(word) => break Some(word),
            _ => return Err(arg.unexpected().into()),
        }
    };
    let Some(program) = first_word else {
        return Err(Error::Usage(
            "missing COMMAND to run (see graceinit --help)".into(),
        ));
    };
    let command = Command::new(program, parser.raw_args()?);
    run_config(flags, command, env).map(Invocation::Run)
}

fn run_config(flags: RunFlags, command: Command, env: &Env) -> Result<Config, Error> {
    // The peers' variables, read the way the peers read them: tini tests for
    // presence, dumb-init for "0".
    let single_child = env.switch(flags.single_child, "GRACEINIT_SINGLE_CHILD")?
        || env.text("DUMB_INIT_SETSID")? == Some("0");
    let subreaper =
        env.switch(flags.subreaper, "GRACEINIT_SUBREAPER")? || env.is_set("TINI_SUBREAPER")?;
    let rewrite = env.list(
        "-r/--rewrite",
        flags.rewrite,
        "GRACEINIT_REWRITE",
        parse_rewrite,
    )?;
    let remap_exit = env.list(
        "-e/--remap-exit",
        flags.remap_exit,
        "GRACEINIT_REMAP_EXIT",
        parse_exit_remap,
    )?;
    let policy = Policy {
        single_child,
        rewrite: Rewrites::from_pairs(rewrite),
        exit_remap: ExitRemap::from_pairs(remap_exit),
        zero_on_stop: env.switch(flags.zero_on_stop, "GRACEINIT_ZERO_ON_STOP")?,
        drain_delay: env
            .one(
                "--drain-delay",
                flags.drain_delay,
                "GRACEINIT_DRAIN_DELAY",
                parse_duration,
            )?
            .unwrap_or(Duration::ZERO),
        // 0 is off, like a drain delay of 0, not a SIGKILL in the same
        // instant as the stop signal.
        kill_after: env
            .one(
                "--kill-after",
                flags.kill_after,
                "GRACEINIT_KILL_AFTER",
                parse_duration,
            )?
            .filter(|after| !after.is_zero()),
        leftover_grace: env
            .one(
                "--leftover-grace",
                flags.leftover_grace,
                "GRACEINIT_LEFTOVER_GRACE",
                parse_duration,
            )?
            .unwrap_or(DEFAULT_LEFTOVER_GRACE),
    };
    Ok(Config {
        command,
        policy,
        subreaper,
        pdeathsig: env.one(
            "-p/--pdeathsig",
            flags.pdeathsig,
            "GRACEINIT_PDEATHSIG",
            parse_pdeathsig,
        )?,
        warn_on_reap: env.switch(flags.warn_on_reap, "GRACEINIT_WARN_ON_REAP")?,
        log_level: env.log_level(flags.verbose, flags.quiet)?,
        log_filter: env.log_filter()?,
        drain_file: env.drain_file(flags.drain_file)?,
    })
}

fn parse_health(mut parser: Parser, env: &Env) -> Result<Invocation, Error> {
    let (mut http, mut tcp, mut timeout, mut drain) = (None, None, None, None);
    while let Some(arg) = parser.next()? {
        match arg {
            Short('h') | Long("help") => return Ok(Invocation::Print(HELP.into())),
            Long("http") => http = Some(value(&mut parser, "--http")?),
            Long("tcp") => tcp = Some(value(&mut parser, "--tcp")?),
            Long("timeout") => timeout = Some(value(&mut parser, "--timeout")?),
            Long("drain-file") => drain = Some(value(&mut parser, "--drain-file")?),
            _ => return Err(arg.unexpected().into()),
        }
    }
    if http.is_some() && tcp.is_some() {
        return Err(Error::Usage("--http and --tcp cannot be combined".into()));
    }
    let check = match (http, tcp) {
        (Some(url), _) => parse_url(&url).map_err(|why| invalid(&url, "--http", &why))?,
        (None, Some(address)) => {
            parse_tcp(&address).map_err(|why| invalid(&address, "--tcp", &why))?
        }
        (None, None) => Check::Marker,
    };
    let timeout = match timeout {
        Some(text) => parse_duration(&text).map_err(|why| invalid(&text, "--timeout", &why))?,
        None => DEFAULT_PROBE_TIMEOUT,
    };
    Ok(Invocation::Health(Probe {
        check,
        timeout,
        drain_file: env.drain_file(drain)?,
    }))
}

fn parse_drain(mut parser: Parser, env: &Env) -> Result<Invocation, Error> {
    let (mut undo, mut drain) = (false, None);
    while let Some(arg) = parser.next()? {
        match arg {
            Short('h') | Long("help") => return Ok(Invocation::Print(HELP.into())),
            Long("undo") => undo = true,
            Long("drain-file") => drain = Some(value(&mut parser, "--drain-file")?),
            _ => return Err(arg.unexpected().into()),
        }
    }
    Ok(Invocation::Drain {
        undo,
        drain_file: env.drain_file(drain)?,
    })
}

/// The value of the option just read: `--name=value`, `-e143` or the next word.
fn value(parser: &mut Parser, flag: &str) -> Result<String, Error> {
    parser
        .value()?
        .into_string()
        .map_err(|word| Error::Usage(format!("invalid value {word:?} for {flag}: not UTF-8")))
}

/// dockerd runs its `init-path` with `--version` and parses tini's
/// `tini version X - git.COMMIT`; the same shape with graceinit's own name
/// gives `docker info` the commit without claiming to be tini.
fn version() -> String {
    format!(
        "graceinit version {} - git.{}\n",
        env!("CARGO_PKG_VERSION"),
        env!("GRACEINIT_COMMIT")
    )
}

fn push(list: &mut Option<Vec<String>>, value: String) {
    list.get_or_insert_with(Vec::new).push(value);
}

/// A bad value (Error's Display keeps it on one line, whatever it holds).
fn invalid(value: &str, source: &str, why: &str) -> Error {
    Error::Usage(format!("invalid value '{value}' for {source}: {why}"))
}

/// The variables graceinit reads, as (name, value): a small table the
/// parsers look up, so the environment is scanned once.
#[derive(Default)]
struct Env<'a>(Vec<(&'a [u8], &'a [u8])>);

impl Env<'static> {
    /// The process's `GRACEINIT_*`, `TINI_*` and `DUMB_INIT_*` variables.
    /// Read from `environ` directly: 15 `std::env::var_os` calls made a C
    /// string, took a lock and scanned it all each time, and `vars_os`
    /// copies every variable; each cost more than the rest of the parse.
    fn of_process() -> Self {
        let mut ours = Env::default();
        // SAFETY: `environ` is NULL or glibc's NULL-terminated array of C
        // strings; graceinit has one thread and never changes its
        // environment, so neither the array nor its strings change while
        // the process lives.
        unsafe {
            let mut entry = libc::environ.cast_const();
            while !entry.is_null() && !(*entry).is_null() {
                // Most variables are not ours, and their first byte says so.
                if matches!(*(*entry).cast::<u8>(), b'G' | b'T' | b'D') {
                    ours.add(CStr::from_ptr(*entry).to_bytes());
                }
                entry = entry.add(1);
            }
        }
        ours
    }
}

impl<'a> Env<'a> {
    /// Keeps `NAME=value` if `NAME` is one of ours.
    fn add(&mut self, text: &'a [u8]) {
        if !["GRACEINIT_", "TINI_", "DUMB_INIT_"]
            .iter()
            .any(|prefix| text.starts_with(prefix.as_bytes()))
        {
            return;
        }
        if let Some(at) = text.iter().position(|&b| b == b'=') {
            self.0.push((&text[..at], &text[at + 1..]));
        }
    }

    /// A variable's value; one that is not UTF-8 is a usage error rather
    /// than silently unset.
    fn raw(&self, name: &str) -> Result<Option<&'a str>, Error> {
        let Some(&(_, value)) = self.0.iter().find(|(n, _)| *n == name.as_bytes()) else {
            return Ok(None);
        };
        std::str::from_utf8(value).map(Some).map_err(|_| {
            let value = OsStr::from_bytes(value);
            Error::Usage(format!("invalid value {value:?} for {name}: not UTF-8"))
        })
    }

    /// Set at all, even to "" (tini's test for its variables).
    fn is_set(&self, name: &str) -> Result<bool, Error> {
        Ok(self.raw(name)?.is_some())
    }

    /// A variable's value; empty counts as unset, so
    /// `ENV GRACEINIT_REWRITE=` in a Dockerfile switches a setting off.
    fn text(&self, name: &str) -> Result<Option<&'a str>, Error> {
        Ok(self.raw(name)?.filter(|value| !value.is_empty()))
    }

    /// One value: from the flag, else from the variable; an error names the one used.
    fn one<T>(
        &self,
        flag: &str,
        given: Option<String>,
        variable: &str,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<Option<T>, Error> {
        let (text, source) = match given.as_deref() {
            Some(text) => (text, flag),
            None => match self.text(variable)? {
                Some(text) => (text, variable),
                None => return Ok(None),
            },
        };
        parse(text)
            .map(Some)
            .map_err(|why| invalid(text, source, &why))
    }

    /// A repeatable value: the flags, else the variable's comma-separated list.
    fn list<T>(
        &self,
        flag: &str,
        given: Option<Vec<String>>,
        variable: &str,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<Vec<T>, Error> {
        let (items, source): (Vec<&str>, _) = match &given {
            Some(items) => (items.iter().map(String::as_str).collect(), flag),
            None => match self.text(variable)? {
                Some(text) => (text.split(',').collect(), variable),
                None => return Ok(Vec::new()),
            },
        };
        items
            .iter()
            .map(|item| parse(item).map_err(|why| invalid(item, source, &why)))
            .collect()
    }

    /// A switch: set by the flag, else by a boolean variable.
    fn switch(&self, given: bool, variable: &str) -> Result<bool, Error> {
        if given {
            return Ok(true);
        }
        match self.text(variable)? {
            None => Ok(false),
            Some(text) => match text.to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" | "on" | "y" => Ok(true),
                "0" | "false" | "no" | "off" | "n" => Ok(false),
                _ => Err(invalid(
                    text,
                    variable,
                    "expected 1/0, true/false, yes/no or on/off",
                )),
            },
        }
    }

    /// The drain marker's path, made absolute: graceinit leaves its working
    /// directory once the app runs (chdir "/"), so a relative marker would
    /// be made under / and not where `graceinit health`, started in the
    /// container's WORKDIR, looks for it.
    fn drain_file(&self, given: Option<String>) -> Result<PathBuf, Error> {
        let (path, source) = match given {
            Some(path) => (path, "--drain-file"),
            None => match self.text("GRACEINIT_DRAIN_FILE")? {
                Some(path) => (path.to_string(), "GRACEINIT_DRAIN_FILE"),
                None => return Ok(DEFAULT_DRAIN_FILE.into()),
            },
        };
        if path.is_empty() {
            return Err(invalid(&path, source, "expected the marker file's path"));
        }
        let absolute = PathBuf::from(&path);
        if absolute.is_absolute() {
            return Ok(absolute);
        }
        std::env::current_dir()
            .map(|cwd| cwd.join(&path))
            .map_err(|e| {
                invalid(
                    &path,
                    source,
                    &format!("relative to an unknown directory: {e}"),
                )
            })
    }

    /// `GRACEINIT_LOG`, checked here, so a filter that does not parse is a
    /// usage error and not a start without it.
    fn log_filter(&self) -> Result<Option<String>, Error> {
        let Some(text) = self.text("GRACEINIT_LOG")? else {
            return Ok(None);
        };
        env_filter::Builder::new()
            .try_parse(text)
            .map_err(|e| invalid(text, "GRACEINIT_LOG", &e.to_string()))?;
        Ok(Some(text.to_string()))
    }

    /// The level forced by flags or `TINI_VERBOSITY`; `None` leaves it to
    /// `GRACEINIT_LOG` (or the default, warnings).
    fn log_level(&self, verbose: u8, quiet: bool) -> Result<Option<LevelFilter>, Error> {
        if quiet && verbose > 0 {
            return Err(Error::Usage(
                "-q/--quiet and -v/--verbose cannot be combined".into(),
            ));
        }
        // Read even when a flag wins: a value that cannot be read must not
        // be ignored silently.
        let filter = self.text("GRACEINIT_LOG")?;
        if quiet {
            return Ok(Some(LevelFilter::Error));
        }
        let level = match verbose {
            0 => None,
            1 => Some(LevelFilter::Info),
            2 => Some(LevelFilter::Debug),
            _ => Some(LevelFilter::Trace),
        };
        if level.is_some() || filter.is_some() {
            return Ok(level);
        }
        let Some(text) = self.text("TINI_VERBOSITY")? else {
            return Ok(None);
        };
        // tini: 0 silent, 1 warnings (its default), 2 info, 3 debug.
        match text.trim().parse::<u8>() {
            Ok(0) => Ok(Some(LevelFilter::Error)),
            Ok(1) => Ok(Some(LevelFilter::Warn)),
            Ok(2) => Ok(Some(LevelFilter::Info)),
            Ok(_) => Ok(Some(LevelFilter::Debug)),
            Err(_) => Err(invalid(
                text,
                "TINI_VERBOSITY",
                "expected a number: 0 to 3 (above 3 counts as 3)",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signals::Sig;

    use proptest::prelude::*;
    use std::os::unix::ffi::{OsStrExt, OsStringExt};

    /// `graceinit ARGS` with only the variables in `vars` set.
    fn run_env(args: &[&str], vars: &[(&str, OsString)]) -> Result<Config, String> {
        let mut argv = vec![OsString::from("graceinit")];
        argv.extend(args.iter().map(OsString::from));
        match parse_with(argv, &table(vars)) {
            Ok(Invocation::Run(config)) => Ok(config),
            Ok(_) => Err("not a run".into()),
            Err(e) => Err(e.to_string()),
        }
    }

    /// The environment table with exactly `vars`.
    fn table<'a>(vars: &'a [(&str, OsString)]) -> Env<'a> {
        Env(vars
            .iter()
            .map(|(name, value)| (name.as_bytes(), value.as_bytes()))
            .collect())
    }

    #[test]
    fn the_table_keeps_our_variables_split_at_the_first_equals_sign() {
        let mut env = Env::default();
        for text in [
            &b"PATH=/bin"[..],
            b"GRACEINIT_LOG=info,x=debug",
            b"TINI_SUBREAPER=",
            b"DUMB_INIT_SETSID=0",
            b"GRACEINIT_NO_EQUALS_SIGN",
            b"XGRACEINIT_LOG=1",
            b"=GRACEINIT_LOG",
        ] {
            env.add(text);
        }
        assert_eq!(env.raw("GRACEINIT_LOG").unwrap(), Some("info,x=debug"));
        assert_eq!(env.raw("TINI_SUBREAPER").unwrap(), Some(""));
        assert_eq!(env.raw("DUMB_INIT_SETSID").unwrap(), Some("0"));
        assert_eq!(env.0.len(), 3);
    }

    fn run(args: &[&str]) -> Result<Config, String> {
        run_env(args, &[])
    }

    /// Every variable the parser reads (checked against the code by
    /// `help_names_every_flag_and_variable`).
    const VARIABLES: [&str; 15] = [
        "GRACEINIT_SINGLE_CHILD",
        "DUMB_INIT_SETSID",
        "GRACEINIT_SUBREAPER",
        "TINI_SUBREAPER",
        "GRACEINIT_REWRITE",
        "GRACEINIT_REMAP_EXIT",
        "GRACEINIT_ZERO_ON_STOP",
        "GRACEINIT_DRAIN_DELAY",
        "GRACEINIT_KILL_AFTER",
        "GRACEINIT_LEFTOVER_GRACE",
        "GRACEINIT_PDEATHSIG",
        "GRACEINIT_WARN_ON_REAP",
        "GRACEINIT_DRAIN_FILE",
        "GRACEINIT_LOG",
        "TINI_VERBOSITY",
    ];

    #[test]
    fn a_value_that_is_not_utf8_is_an_error_naming_the_variable() {
        for name in VARIABLES {
            let error =
                run_env(&["x"], &[(name, OsString::from_vec(b"1\xff".to_vec()))]).unwrap_err();
            assert!(error.contains(name) && !error.contains('\n'), "{error}");
        }
        for word in [&b"-\xff"[..], b"--\xff", b"-v\xff"] {
            let argv = vec![
                "graceinit".into(),
                OsString::from_vec(word.to_vec()),
                "x".into(),
            ];
            assert!(parse_with(argv, &Env::default()).is_err(), "{word:?}");
        }
    }

    /// Any bytes as a word: a value or one clean error.
    fn word() -> impl Strategy<Value = OsString> {
        let option_like = prop_oneof![
            Just("-"),
            Just("--"),
            Just("-v"),
            Just("-e"),
            Just("-r"),
            Just("-p"),
            Just("--rewrite="),
            Just("--drain-delay"),
            Just("--kill-after="),
            Just("health"),
            Just("drain"),
            Just("--http"),
            Just("--timeout"),
            Just("-c"),
            Just("15:3"),
            Just("143"),
            Just("10000000000000000000"),
        ];
        prop_oneof![
            option_like.prop_map(OsString::from),
            prop::collection::vec(any::<u8>(), 0..12).prop_map(OsString::from_vec),
            "-{1,2}[a-z-]{0,14}(=.{0,8})?".prop_map(OsString::from),
        ]
    }

    fn one_line_or_value(result: Result<Invocation, Error>) -> Result<(), TestCaseError> {
        if let Err(e) = result {
            let text = e.to_string();
            prop_assert!(!text.is_empty() && !text.contains('\n'), "{text:?}");
            prop_assert_eq!(e.exit_code(), 2);
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn any_command_line_gives_a_value_or_one_line(words in prop::collection::vec(word(), 0..8)) {
            let mut argv = vec![OsString::from("graceinit")];
            argv.extend(words);
            one_line_or_value(parse_with(argv, &Env::default()))?;
        }

        #[test]
        fn any_environment_gives_a_value_or_one_line(
            values in prop::collection::vec(
                (prop::sample::select(&VARIABLES[..]), prop::collection::vec(any::<u8>(), 0..16)),
                0..6,
            ),
            subcommand in prop::sample::select(&["", "health", "drain"][..]),
        ) {
            let vars: Vec<(&str, OsString)> =
                values.into_iter().map(|(n, v)| (n, OsString::from_vec(v))).collect();
            let mut argv = vec![OsString::from("graceinit")];
            argv.extend((!subcommand.is_empty()).then(|| subcommand.into()));
            argv.push("x".into());
            if subcommand == "health" {
                argv.pop();
            }
            one_line_or_value(parse_with(argv, &table(&vars)))?;
        }
    }

    #[test]
    fn first_word_starts_the_command() {
        let config = run(&["-c", "node", "-v", "server.js"]).unwrap();
        assert!(config.policy.single_child);
        assert_eq!(config.command.argv(), ["node", "-v", "server.js"]);
        assert_eq!(config.log_level, None);
    }

    #[test]
    fn getopt_forms() {
        let config = run(&[
            "-vve143",
            "--rewrite=15:3",
            "-e",
            "3:7",
            "-r",
            "USR1:0",
            "node",
            "-v",
        ])
        .unwrap();
        assert_eq!(config.log_level, Some(LevelFilter::Debug));
        assert_eq!(config.policy.exit_remap.apply(143), 0);
        assert_eq!(config.policy.exit_remap.apply(3), 7);
        assert_eq!(config.policy.rewrite.apply(Sig::TERM), Some(Sig::QUIT));
        assert_eq!(config.policy.rewrite.apply(Sig(libc::SIGUSR1)), None);
        assert_eq!(config.command.argv(), ["node", "-v"]);
        let config = run(&["--", "-x", "--y"]).unwrap();
        assert_eq!(config.command.argv(), ["-x", "--y"]);
        let config = run(&["-", "x"]).unwrap();
        assert_eq!(config.command.argv(), ["-", "x"]);
        for bad in [
            &["--quiet=yes", "x"][..],
            &["-p"],
            &["--kill-after"],
            &["--"],
        ] {
            let error = run(bad).unwrap_err();
            assert!(!error.contains('\n'), "{bad:?}: {error}");
        }
    }

    #[test]
    fn double_dash_protects_subcommand_names() {
        let config = run(&["--", "health", "--http", "x"]).unwrap();
        assert_eq!(config.command.argv(), ["health", "--http", "x"]);
    }

    #[test]
    fn peer_spellings() {
        let config = run(&[
            "-s", "-g", "-v", "-w", "-e", "143", "-p", "SIGKILL", "--", "x",
        ])
        .unwrap();
        assert!(config.subreaper && config.warn_on_reap);
        assert_eq!(config.policy.exit_remap.apply(143), 0);
        assert_eq!(config.pdeathsig, Some(Sig::KILL));
        let config = run(&["-r", "15:3", "-r", "10:0", "x"]).unwrap();
        assert_eq!(config.policy.rewrite.apply(Sig::TERM), Some(Sig::QUIT));
        assert_eq!(config.policy.rewrite.apply(Sig(10)), None);
    }

    /// `word` occurs in `text` as a word of its own (`-c` does not count
    /// inside `--single-child`).
    fn mentions(text: &str, word: &str) -> bool {
        let part_of_word =
            |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || "-_".contains(c));
        text.match_indices(word).any(|(at, _)| {
            !part_of_word(text[..at].chars().next_back())
                && !part_of_word(text[at + word.len()..].chars().next())
        })
    }

    /// The flags and variables this file's code reads, from its own match
    /// arms and lookups.
    fn names_read() -> (Vec<String>, Vec<String>) {
        let source = include_str!("cli.rs");
        let code = &source[..source.find("#[cfg(test)]").unwrap()];
        let mut flags = Vec::new();
        for (open, close, prefix) in [("Short('", "')", "-"), ("Long(\"", "\")", "--")] {
            for piece in code.split(open).skip(1) {
                flags.push(format!("{prefix}{}", &piece[..piece.find(close).unwrap()]));
            }
        }
        let mut variables = Vec::new();
        for prefix in ["\"GRACEINIT_", "\"TINI_", "\"DUMB_INIT_"] {
            for (at, _) in code.match_indices(prefix) {
                // env!(...) is read at build time, not from the user.
                if code[..at].ends_with("env!(") {
                    continue;
                }
                let name = &code[at + 1..];
                let name = &name[..name.find('"').unwrap()];
                // The bare prefixes are what the environment table keeps.
                if !name.ends_with('_') {
                    variables.push(name.to_string());
                }
            }
        }
        (flags, variables)
    }

    /// dumb-init's getopt_long takes unique prefixes; so does graceinit,
    /// for every long option of the run command (and only those).
    #[test]
    fn long_options_may_be_abbreviated_when_unique() {
        let config = run(&["--single", "--rew=15:3", "--verb", "--kill-a", "5s", "x"]).unwrap();
        assert!(config.policy.single_child);
        assert_eq!(config.policy.kill_after, Some(Duration::from_secs(5)));
        assert_eq!(config.log_level, Some(LevelFilter::Info));
        // `--drain` is --drain-delay or --drain-file; `--ver` --verbose or --version.
        for ambiguous in ["--drain", "--ver", "--bogus"] {
            let error = run(&[ambiguous, "x"]).unwrap_err();
            assert!(error.contains(ambiguous), "{error}");
        }
        let source = include_str!("cli.rs");
        let start = source.find("fn parse_run(").unwrap();
        let body = &source[start..source[start..].find("\n}\n").unwrap() + start];
        for piece in body.split("Long(\"").skip(1) {
            let name = &piece[..piece.find('"').unwrap()];
            assert!(
                RUN_LONG_OPTIONS.contains(&name),
                "--{name} is not in RUN_LONG_OPTIONS"
            );
        }
    }

    /// Every flag and variable the parser reads is documented in `--help`
    /// (and every variable is in the tests' list).
    #[test]
    fn help_names_every_flag_and_variable() {
        let (flags, variables) = names_read();
        assert!(
            flags.len() > 25 && variables.len() > 10,
            "{flags:?} {variables:?}"
        );
        for name in flags.iter().chain(&variables) {
            assert!(mentions(HELP, name), "--help does not mention {name}");
        }
        for name in &variables {
            assert!(
                VARIABLES.contains(&name.as_str()),
                "{name} is not in VARIABLES"
            );
        }
    }

    /// moby's `parseInitVersion` (daemon/info_unix.go), in Rust: the
    /// version after `tini version `, the commit after ` - git.`; an error
    /// only when both are missing.
    fn docker_parse_init_version(output: &str) -> Result<(String, String), String> {
        let parts: Vec<&str> = output.split(" - ").collect();
        let mut commit = String::new();
        if let Some(git) = parts.get(1) {
            let git: Vec<&str> = git.trim().split('.').collect();
            if git.len() == 2 && git[0] == "git" {
                commit = git[1].to_string();
            }
        }
        let version = parts[0].trim().strip_prefix("tini version ").unwrap_or("");
        if version.is_empty() && commit.is_empty() {
            return Err(format!("unknown output format: {output}"));
        }
        Ok((version.to_string(), commit))
    }

    #[test]
    fn version_is_what_docker_parses_as_an_init_version() {
        // moby's own cases, to show the copy reads like the original.
        assert_eq!(
            docker_parse_init_version("tini version 0.13.0 - git.949e6fa"),
            Ok(("0.13.0".into(), "949e6fa".into()))
        );
        assert_eq!(
            docker_parse_init_version(" - git.949e6fa"),
            Ok((String::new(), "949e6fa".into()))
        );
        assert!(docker_parse_init_version("tini version0.13.2").is_err());
        assert!(
            docker_parse_init_version(&format!("graceinit {}\n", env!("CARGO_PKG_VERSION")))
                .is_err()
        );

        let printed = version();
        assert!(printed.starts_with("graceinit version "), "{printed}");
        assert_eq!(printed.lines().count(), 1, "{printed}");
        let (_, commit) = docker_parse_init_version(&printed).unwrap();
        assert_eq!(commit, env!("GRACEINIT_COMMIT"));
        // Older dockerd slices its 7-character commit to this length.
        assert!((1..=7).contains(&commit.len()), "{commit}");
    }

    /// proptest found `GRACEINIT_REWRITE=$'\n'` printing a two-line error.
    #[test]
    fn a_line_break_in_a_value_stays_on_one_line() {
        for value in ["\n", "15:\n"] {
            let error = run_env(&["x"], &[("GRACEINIT_REWRITE", value.into())]).unwrap_err();
            assert!(!error.contains(['\n', '\r']), "{error}");
            assert!(error.contains("\\n"), "{error}");
        }
        let error = run(&["--drain-delay", "1\ns", "x"]).unwrap_err();
        assert!(error.contains("'1\\ns'"), "{error}");
    }

    #[test]
    fn usage_errors_are_one_line_naming_flag_and_value() {
        for (args, flag, value) in [
            (&["-r", "15", "x"][..], "--rewrite", "15"),
            (&["--drain-delay", "ten", "x"][..], "--drain-delay", "ten"),
            (&["-e", "300", "x"][..], "--remap-exit", "300"),
            (&["-p", "NOPE", "x"][..], "--pdeathsig", "NOPE"),
            (&["--bogus", "x"][..], "--bogus", "--bogus"),
        ] {
            let error = run(args).unwrap_err();
            assert!(!error.contains('\n'), "{error}");
            assert!(error.contains(flag) && error.contains(value), "{error}");
        }
        assert!(run(&[]).unwrap_err().contains("missing COMMAND"));
    }
}
