//! One log format for every line graceinit writes: `graceinit: level: message`
//! on stderr, no timestamps (Docker and the kubelet add their own).
//!
//! A log line never blocks the loop and never ends graceinit: stderr is
//! often a pipe to a log driver that can stall, and a PID 1 stuck in
//! `write()` reaps nothing and hears no SIGTERM. A line that cannot be
//! written at once is dropped and counted; the next line that gets through
//! says how many were lost.

use std::cell::OnceCell;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::sync::{Mutex, PoisonError};

use log::{Level, LevelFilter, Metadata, Record};

/// `forced` (from -v/-q/TINI_VERBOSITY) beats `filter` (`GRACEINIT_LOG`,
/// as cli.rs read it); the default shows warnings and errors.
pub fn init(forced: Option<LevelFilter>, filter: Option<&str>) {
    let filter = match (forced, filter) {
        (Some(level), _) => Filter::Level(level),
        // cli.rs has checked that the filter parses; modules it does not
        // name keep the default.
        (None, Some(spec)) => match env_filter::Builder::new()
            .filter_level(LevelFilter::Warn)
            .try_parse(spec)
        {
            Ok(builder) => Filter::Modules(builder.build()),
            Err(_) => Filter::Level(LevelFilter::Warn),
        },
        (None, None) => Filter::Level(LevelFilter::Warn),
    };
    log::set_max_level(match &filter {
        Filter::Level(level) => *level,
        Filter::Modules(modules) => modules.filter(),
    });
    let logger = Box::leak(Box::new(Logger {
        filter,
        stderr: Mutex::new(Stderr::open()),
    }));
    // Only fails if a logger is already set, which nothing else does.
    let _ = log::set_logger(logger);
}

/// A level for every line, or `GRACEINIT_LOG`'s per-module filter (env_logger's
/// syntax, kept from when env_logger wrote the lines: its builder cost 1,400
/// instructions of every start and 26 KB for a format and a writer that
/// graceinit replaces anyway).
enum Filter {
    Level(LevelFilter),
    Modules(env_filter::Filter),
}

struct Logger {
    filter: Filter,
    stderr: Mutex<Stderr>,
}

impl log::Log for Logger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        match &self.filter {
            Filter::Level(level) => metadata.level() <= *level,
            Filter::Modules(modules) => modules.enabled(metadata),
        }
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let level = match record.level() {
            Level::Error => "error",
            Level::Warn => "warn",
            Level::Info => "info",
            Level::Debug => "debug",
            Level::Trace => "trace",
        };
        // Formatted whole first: one line is one write.
        let line = format!("graceinit: {level}: {}\n", record.args());
        // graceinit has one thread and aborts on panic: never poisoned.
        let mut stderr = self.stderr.lock().unwrap_or_else(PoisonError::into_inner);
        stderr.write_line(line.as_bytes());
    }

    fn flush(&self) {}
}

/// The largest write a pipe takes whole or not at all (POSIX PIPE_BUF).
const ATOMIC: usize = 4096;

/// stderr, written without ever waiting.
struct Stderr {
    /// How to write stderr without waiting, found at the first line: at the
    /// default level most runs write none.
    sink: OnceCell<Sink>,
    /// fd 2, or -1 when it was closed at start: a descriptor opened later
    /// under that number (a marker file, /proc) must never get log lines.
    stderr: RawFd,
    dropped: u64,
}

impl Stderr {
    fn open() -> Self {
        // SAFETY: F_GETFD only asks whether the descriptor is open.
        let open = unsafe { libc::fcntl(libc::STDERR_FILENO, libc::F_GETFD) } != -1;
        Stderr {
            sink: OnceCell::new(),
            stderr: if open { libc::STDERR_FILENO } else { -1 },
            dropped: 0,
        }
    }

    fn sink(&self) -> &Sink {
        self.sink.get_or_init(|| Sink::of(self.stderr))
    }

    /// Writes one whole line, or drops and counts it; never waits.
    fn write_line(&mut self, line: &[u8]) {
        if self.dropped > 0 {
            let note = format!(
                "graceinit: warn: {} log lines dropped: stderr was not writable\n",
                self.dropped
            );
            if !self.try_write(note.as_bytes()) {
                self.dropped += 1;
                return;
            }
            self.dropped = 0;
        }
        if !self.try_write(shorten(line).as_ref()) {
            self.dropped += 1;
        }
    }

    /// Writes `line` in one go if that cannot block; false if it was not
    /// written whole.
    fn try_write(&self, line: &[u8]) -> bool {
        let (fd, socket) = match self.sink() {
            Sink::Own(own) => (own.as_raw_fd(), false),
            Sink::Socket => (self.stderr, true),
            Sink::Shared => (self.stderr, false),
        };
        let mut poll = libc::pollfd {
            fd,
            events: libc::POLLOUT,
            revents: 0,
        };
        // SAFETY: one pollfd on the stack; zero timeout.
        let ready = unsafe { libc::poll(&mut poll, 1, 0) } == 1
            && poll.revents & (libc::POLLERR | libc::POLLHUP | libc::POLLNVAL) == 0;
        if !ready {
            return false;
        }
        let line = &line[..line.len().min(ATOMIC)];
        // SAFETY: writes from a live slice; fd is stderr or our own copy of it.
        let written = unsafe {
            if socket {
                let flags = libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL;
                libc::send(fd, line.as_ptr().cast(), line.len(), flags)
            } else {
                libc::write(fd, line.as_ptr().cast(), line.len())
            }
        };
        usize::try_from(written).is_ok_and(|n| n == line.len())
    }
}

enum Sink {
    /// A non-blocking description of the same pipe or terminal (a second
    /// open of /proc/self/fd/2), so that O_NONBLOCK never lands on the
    /// description the app shares: the app would get EAGAIN.
    Own(OwnedFd),
    /// A socket (journald's stdout): it cannot be reopened, but each send
    /// can be made non-blocking on its own (MSG_DONTWAIT).
    Socket,
    /// fd 2 itself: a file (never waits for a reader), closed (-1, every
    /// write fails), or a pipe or terminal that could not be reopened (no
    /// /proc), written only when poll says it has room.
    Shared,
}

impl Sink {
    fn of(stderr: RawFd) -> Sink {
        if stderr == -1 {
            return Sink::Shared;
        }
        // SAFETY: fd 2 is open (checked at start); nothing is borrowed
        // beyond this call.
        let borrowed = unsafe { BorrowedFd::borrow_raw(stderr) };
        match nix::sys::stat::fstat(borrowed).map(|s| s.st_mode & libc::S_IFMT) {
            Ok(libc::S_IFSOCK) => Sink::Socket,
            Ok(libc::S_IFIFO | libc::S_IFCHR) => {
                reopen_nonblocking(stderr).map_or(Sink::Shared, Sink::Own)
            }
            _ => Sink::Shared,
        }
    }
}

/// A line longer than a pipe takes atomically, cut with a visible mark.
fn shorten(line: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    if line.len() <= ATOMIC {
        return line.into();
    }
    let mut cut = line[..ATOMIC - 5].to_vec();
    cut.extend_from_slice(b" ...\n");
    cut.into()
}

/// A second, non-blocking open of `fd` (a pipe, a FIFO or a terminal), or
/// None without /proc.
fn reopen_nonblocking(fd: RawFd) -> Option<OwnedFd> {
    let path = format!("/proc/self/fd/{fd}\0");
    // SAFETY: a NUL-terminated path; the new descriptor is ours alone.
    let own = unsafe {
        libc::open(
            path.as_ptr().cast(),
            // O_NOCTTY: graceinit leads a session, and opening a terminal
            // would make it graceinit's controlling terminal.
            libc::O_WRONLY | libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC,
        )
    };
    // SAFETY: a new descriptor that nothing else owns.
    (own >= 0).then(|| unsafe { OwnedFd::from_raw_fd(own) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pipe() -> (OwnedFd, OwnedFd) {
        let (read, write) = nix::unistd::pipe().unwrap();
        (read, write)
    }

    /// The logger's writer on `fd`, as if it were stderr.
    fn unread(fd: RawFd) -> Stderr {
        Stderr {
            sink: OnceCell::from(Sink::of(fd)),
            stderr: fd,
            dropped: 0,
        }
    }

    /// 2 MB of log lines into `out`, whose reader reads nothing: each
    /// returns (a blocking write would hang the test), some are dropped.
    fn flood(out: &mut Stderr) {
        let line = [b'x'; 1000];
        for _ in 0..2000 {
            out.write_line(&line);
        }
        assert!(out.dropped > 0);
    }

    /// `docker run -t`: stderr is a terminal, and a terminal's reader can
    /// stall like a log driver.
    #[test]
    fn a_terminal_nobody_reads_drops_lines() {
        let pty = nix::pty::openpty(None, None).unwrap();
        let mut out = unread(pty.slave.as_raw_fd());
        assert!(matches!(out.sink(), Sink::Own(_)));
        flood(&mut out);
    }

    /// journald (and some log drivers) give a socket as stderr.
    #[test]
    fn a_socket_nobody_reads_drops_lines() {
        let (mine, _peer) = std::os::unix::net::UnixStream::pair().unwrap();
        let mut out = unread(mine.as_raw_fd());
        assert!(matches!(out.sink(), Sink::Socket));
        flood(&mut out);
        // The app's description is untouched: still blocking.
        let flags = nix::fcntl::fcntl(&mine, nix::fcntl::FcntlArg::F_GETFL).unwrap();
        assert_eq!(flags & libc::O_NONBLOCK, 0);
    }

    #[test]
    fn a_full_pipe_drops_lines_and_says_so_later() {
        let (read, write) = pipe();
        let mut out = unread(write.as_raw_fd());
        assert!(matches!(out.sink(), Sink::Own(_)));
        let line = [b'x'; 1000];
        // Fill the pipe: every write returns, whatever fits.
        for _ in 0..200 {
            out.write_line(&line);
        }
        assert!(out.dropped > 0);
        let dropped = out.dropped;
        let mut buf = vec![0u8; 1 << 20];
        let _ = nix::unistd::read(&read, &mut buf).unwrap();
        out.write_line(b"after\n");
        assert_eq!(out.dropped, 0);
        let mut rest = Vec::new();
        nix::fcntl::fcntl(
            &read,
            nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
        )
        .unwrap();
        while let Ok(n) = nix::unistd::read(&read, &mut buf) {
            if n == 0 {
                break;
            }
            rest.extend_from_slice(&buf[..n]);
        }
        let text = String::from_utf8_lossy(&rest);
        assert!(
            text.contains(&format!("{dropped} log lines dropped")),
            "{dropped}"
        );
        assert!(text.ends_with("after\n"));
    }

    #[test]
    fn a_pipe_without_reader_is_not_written() {
        let (read, write) = pipe();
        drop(read);
        // Through the shared descriptor (no reopen), as without /proc.
        let mut out = Stderr {
            sink: OnceCell::from(Sink::Shared),
            stderr: write.as_raw_fd(),
            dropped: 0,
        };
        out.write_line(b"lost\n");
        assert_eq!(out.dropped, 1);
        // A closed stderr drops too.
        out.stderr = -1;
        out.write_line(b"lost\n");
        assert_eq!(out.dropped, 2);
    }

    #[test]
    fn long_lines_are_cut_to_one_atomic_write() {
        let long = vec![b'y'; 10_000];
        let cut = shorten(&long);
        assert_eq!(cut.len(), ATOMIC);
        assert!(cut.ends_with(b" ...\n"));
        assert_eq!(shorten(b"short\n").as_ref(), b"short\n");
    }
}
