//! The errors that end graceinit before the child runs, each with the exit
//! code a user or orchestrator can act on.

use std::fmt;
use std::io;

#[derive(Debug)]
pub enum Error {
    /// Bad command line or environment: exit 2, nothing started.
    Usage(String),
    /// The command could not be executed: 127 when not found, 126 otherwise.
    Exec { program: String, source: io::Error },
    /// A system call graceinit needs failed: exit 1.
    System {
        what: &'static str,
        source: io::Error,
    },
}

impl Error {
    pub fn system(what: &'static str, source: impl Into<io::Error>) -> Self {
        Error::System {
            what,
            source: source.into(),
        }
    }

    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Usage(_) => 2,
            Error::Exec { source, .. } if source.kind() == io::ErrorKind::NotFound => 127,
            Error::Exec { .. } => 126,
            Error::System { .. } => 1,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            Error::Usage(message) => message.clone(),
            Error::Exec { program, source } => format!("cannot run '{program}': {source}"),
            Error::System { what, source } => format!("unable to {what}: {source}"),
        };
        write!(f, "{}", one_line(&text))
    }
}

/// `text` with control characters escaped: one line, whatever it holds (an
/// option, a value, a path or a program name may contain any bytes, line
/// breaks included).
pub fn one_line(text: &str) -> String {
    let mut line = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            line.extend(c.escape_default());
        } else {
            line.push(c);
        }
    }
    line
}

impl From<lexopt::Error> for Error {
    fn from(e: lexopt::Error) -> Self {
        Error::Usage(format!("{e} (see graceinit --help)"))
    }
}
