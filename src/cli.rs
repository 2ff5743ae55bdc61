//! The command line: graceinit's own spellings, tini's and dumb-init's, and
//! the environment fallbacks, turned into a validated [`Config`] or one line
//! of error.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use clap::builder::BoolishValueParser;
use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{ArgAction, Command, CommandFactory, FromArgMatches, Parser};
use log::LevelFilter;

use crate::config::{
    parse_duration, parse_exit_remap, parse_rewrite, parse_signal, Config, ExitRemap, Rewrites,
    DEFAULT_DRAIN_FILE, DEFAULT_LEFTOVER_GRACE,
};
use crate::error::Error;
use crate::health::Probe;
use crate::signals::Sig;

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

const SUBCOMMANDS_HELP: &str = "\
Other commands:
  graceinit health [--http URL] [--tcp HOST:PORT] [--timeout DUR] [--drain-file PATH]
                   exit 0 if healthy, 1 if not (for HEALTHCHECK and exec probes)
  graceinit drain [--undo] [--drain-file PATH]
                   mark this container as draining (or undo)

Durations: 250ms, 10s, 2m or a number of seconds. Signals: TERM, SIGTERM, 15, RTMIN+3.
Every option also reads an environment variable (shown in brackets); a flag beats it.";

const LICENSE: &str = "\
graceinit is released under the MIT License.

Permission is hereby granted, free of charge, to any person obtaining a copy of
this software and associated documentation files, to deal in the Software
without restriction, subject to the following condition: the above copyright
notice and this permission notice shall be included in all copies or substantial
portions of the Software. THE SOFTWARE IS PROVIDED \"AS IS\", WITHOUT WARRANTY OF
ANY KIND.";

#[derive(Parser, Debug)]
#[command(
    name = "graceinit",
    version,
    about = "A tiny PID-1 init for containers: forwards signals, reaps zombies, passes the exit status through, and stops without dropping requests.",
    override_usage = "graceinit [OPTIONS] [--] COMMAND [ARGS...]",
    after_help = SUBCOMMANDS_HELP,
    disable_version_flag = true
)]
struct RunArgs {
    /// Signal only the child, not its process group [also DUMB_INIT_SETSID=0]
    #[arg(short = 'c', long, env = "GRACEINIT_SINGLE_CHILD", value_parser = BoolishValueParser::new(), action = ArgAction::SetTrue)]
    single_child: bool,

    /// Accepted for tini compatibility: the process group is the default target [TINI_KILL_PROCESS_GROUP]
    #[arg(short = 'g', action = ArgAction::SetTrue)]
    kill_group: bool,

    /// Rewrite a received signal before forwarding it; TO=0 drops it (repeatable)
    #[arg(short = 'r', long, value_name = "FROM:TO", env = "GRACEINIT_REWRITE", value_delimiter = ',', value_parser = parse_rewrite)]
    rewrite: Vec<(Sig, Sig)>,

    /// Register as child subreaper (automatic when not PID 1) [also TINI_SUBREAPER]
    #[arg(short = 's', long, env = "GRACEINIT_SUBREAPER", value_parser = BoolishValueParser::new(), action = ArgAction::SetTrue)]
    subreaper: bool,

    /// Signal graceinit receives (and forwards) when its parent dies
    #[arg(short = 'p', long, value_name = "SIG", env = "GRACEINIT_PDEATHSIG", value_parser = parse_signal)]
    pdeathsig: Option<Sig>,

    /// Report exit code CODE as TO (default 0); 143 also covers death by SIGTERM (repeatable)
    #[arg(short = 'e', long, value_name = "CODE[:TO]", env = "GRACEINIT_REMAP_EXIT", value_delimiter = ',', value_parser = parse_exit_remap)]
    remap_exit: Vec<(u8, u8)>,

    /// Report 0 when the app ends because of a stop signal graceinit forwarded
    #[arg(long, env = "GRACEINIT_ZERO_ON_STOP", value_parser = BoolishValueParser::new(), action = ArgAction::SetTrue)]
    zero_on_stop: bool,

    /// Warn for every orphan reaped
    #[arg(short = 'w', long, env = "GRACEINIT_WARN_ON_REAP", value_parser = BoolishValueParser::new(), action = ArgAction::SetTrue)]
    warn_on_reap: bool,

    /// More logging: -v info, -vv debug [GRACEINIT_LOG, TINI_VERBOSITY]
    #[arg(short = 'v', long = "verbose", action = ArgAction::Count)]
    verbose: u8,

    /// Errors only
    #[arg(short = 'q', long, action = ArgAction::SetTrue, conflicts_with = "verbose")]
    quiet: bool,

    /// On SIGTERM, create the drain marker and wait this long before forwarding
    #[arg(long, value_name = "DUR", env = "GRACEINIT_DRAIN_DELAY", value_parser = parse_duration)]
    drain_delay: Option<Duration>,

    #[command(flatten)]
    drain: DrainFile,

    /// SIGKILL the group if the app is still running this long after a stop signal was forwarded
    #[arg(long, value_name = "DUR", env = "GRACEINIT_KILL_AFTER", value_parser = parse_duration)]
    kill_after: Option<Duration>,

    /// After the child exits, how long the rest get between SIGTERM and SIGKILL
    #[arg(long, value_name = "DUR", env = "GRACEINIT_LEFTOVER_GRACE", value_parser = parse_duration)]
    leftover_grace: Option<Duration>,

    /// Print the license and exit
    #[arg(short = 'l', long, action = ArgAction::SetTrue)]
    license: bool,

    /// Print the version and exit
    #[arg(short = 'V', long, action = ArgAction::Version)]
    version: (),

    /// The command to run and its arguments
    #[arg(value_name = "COMMAND", trailing_var_arg = true, value_parser = clap::value_parser!(OsString))]
    command: Vec<OsString>,
}

/// The drain marker's path, shared by run, health and drain.
#[derive(clap::Args, Debug)]
struct DrainFile {
    /// Drain marker path
    #[arg(long = "drain-file", value_name = "PATH", env = "GRACEINIT_DRAIN_FILE", default_value = DEFAULT_DRAIN_FILE)]
    path: PathBuf,
}

#[derive(Parser, Debug)]
#[command(
    name = "graceinit health",
    bin_name = "graceinit health",
    about = "Exit 0 if this container is healthy, 1 if not: drain marker first, then a TCP connect or HTTP GET."
)]
struct HealthArgs {
    /// GET this plain-http URL; 2xx and 3xx are healthy
    #[arg(long, value_name = "URL")]
    http: Option<String>,

    /// Connect to HOST:PORT
    #[arg(long, value_name = "HOST:PORT", conflicts_with = "http")]
    tcp: Option<String>,

    /// Bound for the whole probe
    #[arg(long, value_name = "DUR", default_value = "2s", value_parser = parse_duration)]
    timeout: Duration,

    #[command(flatten)]
    drain: DrainFile,
}

#[derive(Parser, Debug)]
#[command(
    name = "graceinit drain",
    bin_name = "graceinit drain",
    about = "Mark this container as draining: health checks fail from now on, the app keeps running."
)]
struct DrainArgs {
    /// Remove the marker instead
    #[arg(long)]
    undo: bool,

    #[command(flatten)]
    drain: DrainFile,
}

/// Parses the process arguments (including argv[0]).
pub fn parse(args: Vec<OsString>) -> Result<Invocation, Error> {
    let parsed = match args.get(1).and_then(|a| a.to_str()) {
        Some("health") => parse_with_env::<HealthArgs>(&args[1..]).and_then(|health| {
            let probe = Probe::new(health.http, health.tcp, health.timeout, health.drain.path);
            probe.map(Invocation::Health).map_err(ParseError::Usage)
        }),
        Some("drain") => parse_with_env::<DrainArgs>(&args[1..]).map(|drain| Invocation::Drain {
            undo: drain.undo,
            drain_file: drain.drain.path,
        }),
        _ => parse_with_env::<RunArgs>(&args)
            .and_then(|run| run_config(run).map_err(ParseError::Usage)),
    };
    match parsed {
        Ok(invocation) => Ok(invocation),
        Err(ParseError::Print(text)) => Ok(Invocation::Print(text)),
        Err(ParseError::Usage(e)) => Err(e),
    }
}

enum ParseError {
    /// `--help` or `--version`: not an error for the user.
    Print(String),
    Usage(Error),
}

/// Parses with clap, treating an empty environment variable as unset (so
/// `ENV GRACEINIT_REWRITE=` in a Dockerfile switches it off) and saying
/// which variable a bad value came from.
fn parse_with_env<T: CommandFactory + FromArgMatches>(args: &[OsString]) -> Result<T, ParseError> {
    let command = T::command().mut_args(|arg| {
        let empty = arg
            .get_env()
            .and_then(std::env::var_os)
            .is_some_and(|value| value.is_empty());
        if empty {
            arg.env(None)
        } else {
            arg
        }
    });
    command
        .clone()
        .try_get_matches_from(args)
        .and_then(|matches| T::from_arg_matches(&matches))
        .map_err(|e| match e.kind() {
            ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => ParseError::Print(e.to_string()),
            _ => ParseError::Usage(from_clap(&e, &command)),
        })
}

fn run_config(run: RunArgs) -> Result<Invocation, Error> {
    if run.license {
        return Ok(Invocation::Print(format!("{LICENSE}\n")));
    }
    if run.command.is_empty() {
        return Err(Error::Usage(
            "missing COMMAND to run (see graceinit --help)".into(),
        ));
    }
    let env_is = |name: &str, value: &str| std::env::var(name).is_ok_and(|v| v == value);
    // The peers' variables, read the way the peers read them: tini tests for
    // presence, dumb-init for "0".
    let single_child = run.single_child || env_is("DUMB_INIT_SETSID", "0");
    let subreaper = run.subreaper || std::env::var_os("TINI_SUBREAPER").is_some();
    let _ = run.kill_group; // group delivery is the default already
    Ok(Invocation::Run(Config {
        command: run.command,
        single_child,
        subreaper,
        pdeathsig: run.pdeathsig,
        rewrite: Rewrites::from_pairs(run.rewrite),
        exit_remap: ExitRemap::from_pairs(run.remap_exit),
        zero_on_stop: run.zero_on_stop,
        warn_on_reap: run.warn_on_reap,
        log_level: log_level(run.verbose, run.quiet)?,
        drain_delay: run.drain_delay.unwrap_or(Duration::ZERO),
        drain_file: run.drain.path,
        kill_after: run.kill_after,
        leftover_grace: run.leftover_grace.unwrap_or(DEFAULT_LEFTOVER_GRACE),
    }))
}

/// The level forced by flags or `TINI_VERBOSITY`; `None` leaves it to
/// `GRACEINIT_LOG` (or the default, warnings).
fn log_level(verbose: u8, quiet: bool) -> Result<Option<LevelFilter>, Error> {
    if quiet {
        return Ok(Some(LevelFilter::Error));
    }
    let level = match verbose {
        0 => None,
        1 => Some(LevelFilter::Info),
        2 => Some(LevelFilter::Debug),
        _ => Some(LevelFilter::Trace),
    };
    if level.is_some() || std::env::var_os("GRACEINIT_LOG").is_some() {
        return Ok(level);
    }
    match std::env::var("TINI_VERBOSITY") {
        // tini: 0 silent, 1 warnings (default), 2 info, 3 debug.
        Ok(text) => match text.trim().parse::<u8>() {
            Ok(0) => Ok(Some(LevelFilter::Error)),
            Ok(1) => Ok(Some(LevelFilter::Warn)),
            Ok(2) => Ok(Some(LevelFilter::Info)),
            Ok(_) => Ok(Some(LevelFilter::Debug)),
            Err(_) => Err(Error::Usage(format!(
                "invalid value '{text}' for TINI_VERBOSITY: expected a number"
            ))),
        },
        Err(_) => Ok(None),
    }
}

/// clap's errors span several lines; a usage error here is one line.
fn from_clap(error: &clap::Error, command: &Command) -> Error {
    let rendered = error.to_string();
    let first = rendered.lines().next().unwrap_or("invalid arguments");
    let first = first.strip_prefix("error: ").unwrap_or(first);
    match env_source(error, command) {
        Some(variable) => Error::Usage(format!("{first} (from {variable})")),
        None => Error::Usage(first.to_string()),
    }
}

/// The environment variable a rejected value came from, if it did.
fn env_source(error: &clap::Error, command: &Command) -> Option<String> {
    let Some(ContextValue::String(value)) = error.get(ContextKind::InvalidValue) else {
        return None;
    };
    command.get_arguments().find_map(|arg| {
        let name = arg.get_env()?;
        let set = std::env::var(name).ok()?;
        set.split(',')
            .any(|part| part == value)
            .then(|| name.to_string_lossy().into_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<Config, String> {
        let mut argv = vec![OsString::from("graceinit")];
        argv.extend(args.iter().map(OsString::from));
        match parse(argv) {
            Ok(Invocation::Run(config)) => Ok(config),
            Ok(_) => Err("not a run".into()),
            Err(e) => Err(e.to_string()),
        }
    }

    #[test]
    fn first_word_starts_the_command() {
        let config = run(&["-c", "node", "-v", "server.js"]).unwrap();
        assert!(config.single_child);
        assert_eq!(config.command, ["node", "-v", "server.js"]);
        assert_eq!(config.log_level, None);
    }

    #[test]
    fn double_dash_protects_subcommand_names() {
        let config = run(&["--", "health", "--http", "x"]).unwrap();
        assert_eq!(config.command, ["health", "--http", "x"]);
    }

    #[test]
    fn peer_spellings() {
        let config = run(&[
            "-s", "-g", "-v", "-w", "-e", "143", "-p", "SIGKILL", "--", "x",
        ])
        .unwrap();
        assert!(config.subreaper && config.warn_on_reap);
        assert_eq!(config.exit_remap.apply(143), 0);
        assert_eq!(config.pdeathsig, Some(Sig::KILL));
        let config = run(&["-r", "15:3", "-r", "10:0", "x"]).unwrap();
        assert_eq!(config.rewrite.apply(Sig::TERM), Some(Sig::QUIT));
        assert_eq!(config.rewrite.apply(Sig(10)), None);
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
