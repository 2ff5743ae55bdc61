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
        // One line, whatever the input held: an option, a value or a program
        // name may contain any bytes, line breaks included.
        for c in text.chars() {
            if c.is_control() {
                write!(f, "{}", c.escape_default())?;
            } else {
                write!(f, "{c}")?;
            }
        }
        Ok(())
    }
}

impl From<lexopt::Error> for Error {
    fn from(e: lexopt::Error) -> Self {
        Error::Usage(format!("{e} (see graceinit --help)"))
    }
}
