//! The one loop of a running graceinit: sleep in `poll` until a signal
//! arrives or the supervisor's next deadline passes, then carry out what the
//! supervisor decided. No deadline means no timeout: an idle graceinit never
//! wakes up.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use log::{debug, info, warn, Level, LevelFilter};
use nix::errno::Errno;

use crate::config::{format_duration, Config};
use crate::drain::{self, Marked};
use crate::error::Error;
use crate::logging;
use crate::reaper::{self, Change};
use crate::signals::{self, Sig};
use crate::spawn;
use crate::supervisor::{Action, ChildEvent, KillReason, Supervisor, Target};

/// Sets graceinit up, starts the child and supervises it. Errors before the
/// child runs end graceinit; after that, nothing does but the child's end.
pub fn run(config: Config) -> Result<u8, Error> {
    let signalfd = signals::signalfd(signals::routed_mask())
        .map_err(|e| Error::system("create signalfd", e))?;
    let signalfd = above_stdio(signalfd);
    // After the signalfd: the logger's own copy of stderr (opened at its
    // first line) is the one descriptor graceinit can do without when the
    // limit is tight.
    logging::init(config.log_level, config.log_filter.as_deref());
    let own_pid = std::process::id();
    let is_pid1 = own_pid == 1;
    if config.subreaper || !is_pid1 {
        // Without this, orphans would go to the real init and never come back here.
        nix::sys::prctl::set_child_subreaper(true)
            .map_err(|e| Error::system("register as child subreaper", e))?;
        debug!("registered as child subreaper");
    }
    if let Some(sig) = config.pdeathsig {
        // SAFETY: prctl with integer arguments only.
        if unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, sig.0 as libc::c_ulong) } == -1 {
            return Err(Error::system(
                "set the parent death signal",
                std::io::Error::last_os_error(),
            ));
        }
    }
    let started = SystemTime::now();
    // A restarted container must not start out unhealthy.
    if let Err(e) = drain::unmark(&config.drain_file) {
        warn!(
            "cannot remove stale drain marker {}: {e}",
            config.drain_file.display()
        );
    }
    let child = spawn::spawn(&config.command)?;
    info!("child started (pid {child})");
    // Keep no directory busy (an unmountable volume, a deleted directory);
    // the child keeps its own.
    if let Err(e) = nix::unistd::chdir("/") {
        debug!("cannot change to /: {e}");
    }
    let Config {
        policy,
        warn_on_reap,
        drain_file,
        ..
    } = config;
    Ok(EventLoop {
        signalfd,
        own_pid,
        child,
        orphan_level: if warn_on_reap {
            Level::Warn
        } else {
            Level::Debug
        },
        drain_file,
        started,
        supervisor: Supervisor::new(policy, child, is_pid1),
        batch: Vec::with_capacity(BATCH),
        signals: Vec::with_capacity(BATCH),
        actions: Vec::with_capacity(4),
    }
    .run())
}

/// A new descriptor takes the lowest free number, so a signalfd below 3
/// means graceinit was started with stdin, stdout or stderr closed (never by
/// Docker, sometimes by a hand-written service). The app would then start
/// with that number closed, and its first `open()` would become, say, its
/// stderr. Move the signalfd up and fill the gaps with /dev/null, as a
/// shell or daemon(3) would; this costs nothing when 0-2 are open.
fn above_stdio(signalfd: OwnedFd) -> OwnedFd {
    if signalfd.as_raw_fd() > libc::STDERR_FILENO {
        return signalfd;
    }
    // SAFETY: F_DUPFD_CLOEXEC returns a new descriptor we then own alone.
    let moved = unsafe { libc::fcntl(signalfd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 3) };
    if moved == -1 {
        return signalfd;
    }
    drop(signalfd);
    // SAFETY: `moved` is a fresh descriptor nothing else owns.
    let moved = unsafe { OwnedFd::from_raw_fd(moved) };
    loop {
        // SAFETY: open of a constant path; the result is closed or kept as stdio.
        let null = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) };
        if null == -1 {
            break;
        }
        if null > libc::STDERR_FILENO {
            // SAFETY: the descriptor just opened, and only ours.
            unsafe { libc::close(null) };
            break;
        }
    }
    moved
}

struct EventLoop {
    signalfd: OwnedFd,
    own_pid: u32,
    child: i32,
    /// How an orphan's reaping is logged (`-w`: warn).
    orphan_level: Level,
    drain_file: PathBuf,
    /// A drain marker older than this is stale, not an outer drain.
    started: SystemTime,
    supervisor: Supervisor,
    /// Kept across wake-ups: zeroing 2 KiB and allocating on every signal
    /// cost more instructions than the rest of the forward. Never zeroed
    /// at all: the kernel fills what is read.
    batch: Vec<libc::signalfd_siginfo>,
    signals: Vec<Sig>,
    actions: Vec<Action>,
}

const BATCH: usize = 16;

/// What carrying out an action gave, for its log line.
#[derive(Debug, PartialEq)]
enum Outcome {
    Nothing,
    Sent(Result<(), Errno>),
    Marked(Result<Marked, String>),
    Killed {
        /// The pids the kill hit; None when /proc cannot tell.
        survivors: Option<Vec<i32>>,
        result: Result<(), Errno>,
    },
}

impl EventLoop {
    fn run(mut self) -> u8 {
        loop {
            let mut signals = std::mem::take(&mut self.signals);
            let mut actions = std::mem::take(&mut self.actions);
            signals.clear();
            if self.wait() {
                self.pending_signals(&mut signals);
            }
            let now = Instant::now();
            // Reaped first: a signal of the same batch is decided knowing
            // whether the child has just stopped or exited.
            if signals.contains(&Sig::CHLD) {
                actions.extend(self.reap(now));
            }
            for &sig in &signals {
                if sig != Sig::CHLD {
                    info!("received {sig}");
                    actions.extend(self.supervisor.on_signal(sig, now));
                }
            }
            actions.extend(self.supervisor.on_time(Instant::now()));
            for action in actions.drain(..) {
                if let Some(code) = self.execute(action) {
                    // The process exits next, which releases all of it:
                    // closing the signalfd and freeing the loop's memory
                    // here would cost a system call and 300 instructions.
                    std::mem::forget(self);
                    return code;
                }
            }
            self.signals = signals;
            self.actions = actions;
        }
    }

    /// Up to a batch of the signals queued on the signalfd, in arrival
    /// order, but those graceinit raised on itself. One read per wake-up:
    /// a burst is taken a batch at a time, so the signals and actions of
    /// one turn never outgrow the batch (thousands of queued real-time
    /// signals would otherwise grow both Vecs for good).
    fn pending_signals(&mut self, signals: &mut Vec<Sig>) {
        self.batch.clear();
        let room = self.batch.spare_capacity_mut();
        let read = loop {
            // SAFETY: the kernel writes whole siginfo records into `room`,
            // at most its size.
            let read = unsafe {
                libc::read(
                    self.signalfd.as_raw_fd(),
                    room.as_mut_ptr().cast(),
                    std::mem::size_of_val(room),
                )
            };
            if read != -1 || Errno::last() != Errno::EINTR {
                break read;
            }
        };
        let Ok(bytes) = usize::try_from(read) else {
            let e = Errno::last();
            if e != Errno::EAGAIN {
                warn!("cannot read signalfd: {e}");
            }
            return;
        };
        let count = bytes / std::mem::size_of::<libc::signalfd_siginfo>();
        // SAFETY: the kernel wrote `count` whole records (a signalfd read
        // returns a multiple of the record size) into the spare capacity.
        unsafe { self.batch.set_len(count) };
        let own_pid = self.own_pid;
        // Not logged: a SIGPIPE from a log line would log again.
        signals.extend(
            self.batch
                .iter()
                .filter(|info| !signals::raised_by_self(info, own_pid))
                .map(|info| Sig(info.ssi_signo as i32)),
        );
    }

    /// Sleeps until a signal is pending or the next deadline has passed;
    /// true when signals are pending. Without a deadline the blocking read in
    /// `pending_signals` is the sleep: one system call per wake-up, like
    /// tini's sigtimedwait, instead of a poll and then a read.
    fn wait(&self) -> bool {
        match self.supervisor.next_deadline() {
            None => true,
            Some(deadline) => self.poll_for(deadline.saturating_duration_since(Instant::now())),
        }
    }

    /// Whether a signal arrives within `timeout`. ppoll counts nanoseconds:
    /// no rounding to milliseconds, so a drain ends on time, not up to 1 ms late.
    fn poll_for(&self, timeout: Duration) -> bool {
        let timeout = libc::timespec {
            tv_sec: libc::time_t::try_from(timeout.as_secs()).unwrap_or(libc::time_t::MAX),
            tv_nsec: libc::c_long::from(timeout.subsec_nanos()),
        };
        let mut fd = libc::pollfd {
            fd: self.signalfd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one pollfd and one timespec that outlive the call; no mask change.
        match unsafe { libc::ppoll(&mut fd, 1, &timeout, std::ptr::null()) } {
            0 => false,
            n if n > 0 => true,
            _ => {
                let e = Errno::last();
                if e != Errno::EINTR {
                    // Cannot happen with one valid fd; back off rather than spin.
                    warn!("poll failed: {e}");
                    std::thread::sleep(Duration::from_millis(100));
                }
                false
            }
        }
    }

    fn reap(&mut self, now: Instant) -> Vec<Action> {
        let mut child_event = None;
        let (child, orphan_level) = (self.child, self.orphan_level);
        let any_left = reaper::reap_all(|pid, change| match change {
            Change::Exited(status) if pid == child => {
                info!("child {child} {status}");
                child_event = Some(ChildEvent::Exited(status));
            }
            Change::Exited(status) => log::log!(orphan_level, "reaped orphan {pid} ({status})"),
            Change::Stopped | Change::Continued if pid == child => {
                // Once it has exited, a late stop report cannot undo that.
                if !matches!(child_event, Some(ChildEvent::Exited(_))) {
                    debug!("child {child} {change:?}");
                    child_event = Some(if change == Change::Stopped {
                        ChildEvent::Stopped
                    } else {
                        ChildEvent::Continued
                    });
                }
            }
            Change::Stopped | Change::Continued => {}
        });
        let alive = self.still_alive(any_left);
        self.supervisor.on_reaped(child_event, alive, now)
    }

    /// Whether anything graceinit waits for after the child is still alive:
    /// with the whole container as the target, any descendant (orphans all
    /// come back here, so "no children" means none); otherwise what is
    /// left of the child's process group.
    fn still_alive(&self, any_children: bool) -> bool {
        match self.supervisor.leftover_target() {
            _ if !any_children => false,
            Target::Everyone => true,
            // EPERM: alive, only not ours to signal (a set-uid leftover).
            target => !matches!(send(target, Sig(0)), Err(Errno::ESRCH)),
        }
    }

    /// Carries out one action; returns the exit code when it is time to go.
    fn execute(&mut self, action: Action) -> Option<u8> {
        let outcome = match action {
            Action::Forward { sent, target, .. } => Outcome::Sent(send(target, sent)),
            Action::Continue(target) => Outcome::Sent(send(target, Sig::CONT)),
            Action::TermLeftovers { target, signal, .. } => Outcome::Sent(send(target, signal)),
            Action::StartDrain(_) => {
                let marked = drain::mark(&self.drain_file, self.started).map_err(|e| e.to_string());
                if let Ok(Marked { age: Some(age), .. }) = marked {
                    self.supervisor.on_marker_age(age);
                }
                Outcome::Marked(marked)
            }
            Action::StopSelf => {
                // SIGSTOP cannot be blocked; SIGCONT resumes graceinit.
                let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGSTOP);
                Outcome::Nothing
            }
            Action::Kill { target, .. } => Outcome::Killed {
                survivors: survivors(target),
                result: send(target, Sig::KILL),
            },
            Action::Drop(_) | Action::EndDrain { .. } | Action::NoDrainFor(_) | Action::Exit(_) => {
                Outcome::Nothing
            }
        };
        for (level, line) in log_lines(&action, &outcome, &self.drain_file, log::max_level()) {
            log::log!(level, "{line}");
        }
        match action {
            Action::Exit(code) => Some(code),
            _ => None,
        }
    }
}

/// How an action and what came of it are told in the log: the lines at
/// `max` or more important. Lines past `max` are not even formatted, which
/// would cost more than the forward itself.
fn log_lines(
    action: &Action,
    outcome: &Outcome,
    drain_file: &std::path::Path,
    max: LevelFilter,
) -> Vec<(Level, String)> {
    let mut lines = Vec::new();
    let mut say = |level: Level, text: std::fmt::Arguments<'_>| {
        if level <= max {
            lines.push((level, text.to_string()));
        }
    };
    let file = drain_file.display();
    match (*action, outcome) {
        // The group can be gone a moment before its SIGCHLD arrives.
        (Action::Forward { sent, target, .. }, Outcome::Sent(Err(Errno::ESRCH))) => say(
            Level::Debug,
            format_args!("{sent} not forwarded: {target} is gone"),
        ),
        (Action::Forward { sent, target, .. }, Outcome::Sent(Err(e))) => say(
            Level::Warn,
            format_args!("cannot forward {sent} to {target}: {e}"),
        ),
        (
            Action::Forward {
                received,
                sent,
                target,
            },
            _,
        ) if received == sent => say(Level::Info, format_args!("forwarded {sent} to {target}")),
        (
            Action::Forward {
                received,
                sent,
                target,
            },
            _,
        ) => say(
            Level::Info,
            format_args!("forwarded {received} as {sent} to {target}"),
        ),
        (Action::Continue(target), Outcome::Sent(Ok(()))) => say(
            Level::Debug,
            format_args!("sent SIGCONT to {target}, so a stopped process acts on the signal"),
        ),
        (Action::Continue(target), Outcome::Sent(Err(e))) => say(
            Level::Debug,
            format_args!("cannot send SIGCONT to {target}: {e}"),
        ),
        (Action::Drop(sig), _) => say(Level::Info, format_args!("dropped {sig} (rewritten to 0)")),
        (Action::StartDrain(delay), Outcome::Marked(marked)) => {
            let delay = format_duration(delay);
            match marked {
                Err(e) => say(
                    Level::Warn,
                    format_args!(
                        "cannot create drain marker {file}: {e}; health checks will not see \
                         the drain (mount a tmpfs there)"
                    ),
                ),
                Ok(Marked {
                    warning: Some(warning),
                    ..
                }) => say(Level::Warn, format_args!("{warning}")),
                Ok(_) => {}
            }
            match marked {
                Ok(Marked { age: Some(age), .. }) => say(
                    Level::Info,
                    format_args!(
                        "drain marker {file} made {} ago: draining for what remains of {delay} \
                         before forwarding SIGTERM",
                        format_duration(*age)
                    ),
                ),
                _ => say(
                    Level::Info,
                    format_args!("draining for {delay} before forwarding SIGTERM"),
                ),
            }
        }
        (Action::EndDrain { elapsed }, _) => say(
            Level::Info,
            format_args!("drain over after {}", format_duration(elapsed)),
        ),
        (
            Action::TermLeftovers {
                target,
                signal,
                grace,
            },
            Outcome::Sent(Ok(())),
        ) => say(
            Level::Info,
            format_args!(
                "sent {signal} to {target}, the processes left after the child; waiting up to {}",
                format_duration(grace)
            ),
        ),
        (Action::TermLeftovers { target, signal, .. }, Outcome::Sent(Err(e))) => say(
            Level::Debug,
            format_args!("cannot send {signal} to {target}: {e}"),
        ),
        (Action::NoDrainFor(sig), _) => say(
            Level::Warn,
            format_args!(
                "{sig} forwarded at once: the drain waits for SIGTERM only (set STOPSIGNAL SIGTERM \
                 in the image)"
            ),
        ),
        (Action::Kill { target, reason }, Outcome::Killed { survivors, result }) => {
            if let Err(e) = result {
                say(Level::Debug, format_args!("cannot kill {target}: {e}"));
            }
            let list = match survivors {
                None => "unknown".to_string(),
                Some(pids) if pids.is_empty() => "none".to_string(),
                Some(pids) => pids
                    .iter()
                    .map(i32::to_string)
                    .collect::<Vec<_>>()
                    .join(" "),
            };
            match reason {
                KillReason::StopTimeout(after) => say(
                    Level::Warn,
                    format_args!(
                        "app still running {} after the stop signal: killed {target}; \
                         survivors: {list}",
                        format_duration(after)
                    ),
                ),
                KillReason::LeftoverGrace(grace) => say(
                    Level::Warn,
                    format_args!(
                        "processes left after the child did not exit within {}: killed \
                         {target}; survivors: {list}",
                        format_duration(grace)
                    ),
                ),
            }
        }
        (Action::Exit(code), _) => say(Level::Info, format_args!("exiting with code {code}")),
        _ => {}
    }
    lines
}

fn send(target: Target, sig: Sig) -> Result<(), Errno> {
    // SAFETY: kill takes plain integers. Raw because nix's Signal cannot name
    // the real-time signals.
    let result = unsafe { libc::kill(target.kill_arg(), sig.0) };
    Errno::result(result).map(drop)
}

/// The pids a kill of `target` will hit, for the log: read from /proc.
/// None when /proc cannot be read or is not this PID namespace's (a host's
/// /proc would list the host's processes).
fn survivors(target: Target) -> Option<Vec<i32>> {
    let own = std::process::id();
    let own_in_proc = std::fs::read_link("/proc/self").ok()?;
    if own_in_proc.to_str()?.parse::<u32>().ok()? != own {
        return None;
    }
    let entries = std::fs::read_dir("/proc").ok()?;
    let mut pids: Vec<i32> = entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| u32::try_from(pid).is_ok_and(|pid| pid != own))
        .filter(|&pid| match target {
            Target::Process(only) => pid == only,
            Target::Group(pgid) => process_group(pid) == Some(pgid),
            Target::Everyone => true,
        })
        .collect();
    pids.sort_unstable();
    Some(pids)
}

/// Field 5 of /proc/PID/stat; the command name before it may hold spaces
/// and parentheses, so parse after the last ')'.
fn process_group(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(2)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(action: Action, outcome: Outcome) -> Vec<(Level, String)> {
        log_lines(
            &action,
            &outcome,
            std::path::Path::new("/tmp/m"),
            LevelFilter::Trace,
        )
    }

    #[test]
    fn forwards_are_worded_by_what_happened() {
        let forward = Action::Forward {
            received: Sig::TSTP,
            sent: Sig::STOP,
            target: Target::Group(7),
        };
        assert_eq!(
            lines(forward, Outcome::Sent(Ok(()))),
            [(
                Level::Info,
                "forwarded SIGTSTP as SIGSTOP to group 7".to_string()
            )]
        );
        assert_eq!(
            lines(forward, Outcome::Sent(Err(Errno::ESRCH)))[0].0,
            Level::Debug
        );
        assert_eq!(
            lines(forward, Outcome::Sent(Err(Errno::EPERM)))[0].0,
            Level::Warn
        );
    }

    #[test]
    fn survivors_say_unknown_when_proc_cannot_tell() {
        let kill = Action::Kill {
            target: Target::Everyone,
            reason: KillReason::LeftoverGrace(Duration::from_secs(2)),
        };
        let warn = |survivors| {
            lines(
                kill,
                Outcome::Killed {
                    survivors,
                    result: Ok(()),
                },
            )[0]
            .1
            .clone()
        };
        assert_eq!(
            warn(None),
            "processes left after the child did not exit within 2s: killed every process; survivors: unknown"
        );
        assert!(warn(Some(Vec::new())).ends_with("survivors: none"));
        assert!(warn(Some(vec![3, 9])).ends_with("survivors: 3 9"));
    }

    #[test]
    fn a_drain_tells_an_existing_marker_and_a_shared_directory() {
        let marked = Marked {
            age: Some(Duration::from_millis(1500)),
            warning: Some("drain marker directory /tmp is writable by others".into()),
        };
        let said = lines(
            Action::StartDrain(Duration::from_secs(2)),
            Outcome::Marked(Ok(marked)),
        );
        assert_eq!(said[0].0, Level::Warn);
        assert_eq!(
            said[1].1,
            "drain marker /tmp/m made 1500ms ago: draining for what remains of 2s before forwarding SIGTERM"
        );
        let failed = lines(
            Action::StartDrain(Duration::from_secs(2)),
            Outcome::Marked(Err("a FIFO is in the way".into())),
        );
        assert!(failed[0]
            .1
            .starts_with("cannot create drain marker /tmp/m: a FIFO"));
        assert_eq!(failed[1].1, "draining for 2s before forwarding SIGTERM");
    }

    #[test]
    fn survivors_are_listed_from_our_own_proc() {
        // The test runner's /proc is its own: a process's own pid is found.
        let own = i32::try_from(std::process::id()).unwrap();
        assert_eq!(survivors(Target::Process(own)), Some(Vec::new()));
    }

    #[test]
    fn reads_own_process_group() {
        let own = i32::try_from(std::process::id()).unwrap();
        assert_eq!(process_group(own), Some(nix::unistd::getpgrp().as_raw()));
    }
}
