//! The one loop of a running graceinit: sleep in `poll` until a signal
//! arrives or the supervisor's next deadline passes, then carry out what the
//! supervisor decided. No deadline means no timeout: an idle graceinit never
//! wakes up.

use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use log::{debug, info, warn};
use nix::errno::Errno;
use nix::sys::signalfd::{SfdFlags, SignalFd};

use crate::config::{format_duration, Config};
use crate::drain;
use crate::error::Error;
use crate::reaper;
use crate::signals::{self, Sig};
use crate::spawn;
use crate::supervisor::{Action, KillReason, Supervisor, Target};

/// Sets graceinit up, starts the child and supervises it. Errors before the
/// child runs end graceinit; after that, nothing does but the child's end.
pub fn run(config: Config) -> Result<u8, Error> {
    let signalfd = SignalFd::with_flags(&signals::routed_mask(), SfdFlags::SFD_CLOEXEC)
        .map_err(|e| Error::system("create signalfd", e))?;
    let is_pid1 = std::process::id() == 1;
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
    // A restarted container must not start out unhealthy.
    if let Err(e) = drain::unmark(&config.drain_file) {
        warn!(
            "cannot remove stale drain marker {}: {e}",
            config.drain_file.display()
        );
    }
    let child = spawn::spawn(&config.command)?;
    info!("child started (pid {child})");
    let supervisor = Supervisor::new(config.policy.clone(), child, is_pid1);
    Ok(EventLoop {
        config,
        signalfd,
        child,
        supervisor,
        // SAFETY: signalfd_siginfo is plain integers; all zeroes is valid.
        batch: Box::new(unsafe { std::mem::zeroed() }),
        signals: Vec::with_capacity(BATCH),
        actions: Vec::with_capacity(4),
    }
    .run())
}

struct EventLoop {
    config: Config,
    signalfd: SignalFd,
    child: i32,
    supervisor: Supervisor,
    /// Kept across wake-ups: zeroing 2 KiB and allocating on every signal
    /// cost more instructions than the rest of the forward.
    batch: Box<[libc::signalfd_siginfo; BATCH]>,
    signals: Vec<Sig>,
    actions: Vec<Action>,
}

const BATCH: usize = 16;

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
            let mut child_may_have_exited = false;
            for &sig in &signals {
                if sig == Sig::CHLD {
                    child_may_have_exited = true;
                } else {
                    info!("received {sig}");
                    actions.extend(self.supervisor.on_signal(sig, now));
                }
            }
            if child_may_have_exited {
                actions.extend(self.reap(now));
            }
            actions.extend(self.supervisor.on_time(Instant::now()));
            for action in actions.drain(..) {
                if let Some(code) = self.execute(action) {
                    return code;
                }
            }
            self.signals = signals;
            self.actions = actions;
        }
    }

    /// Every signal queued on the signalfd, in arrival order. One read takes
    /// up to a batch, so the usual wake-up costs one system call, not a
    /// second one that only learns the queue is empty.
    fn pending_signals(&mut self, signals: &mut Vec<Sig>) {
        loop {
            // SAFETY: the kernel writes whole siginfo records into `batch`,
            // at most its size.
            let read = unsafe {
                libc::read(
                    self.signalfd.as_raw_fd(),
                    self.batch.as_mut_ptr().cast(),
                    std::mem::size_of_val(&*self.batch),
                )
            };
            let Ok(bytes) = usize::try_from(read) else {
                match Errno::last() {
                    Errno::EAGAIN => {}
                    Errno::EINTR => continue,
                    e => warn!("cannot read signalfd: {e}"),
                }
                return;
            };
            let count = bytes / std::mem::size_of::<libc::signalfd_siginfo>();
            signals.extend(
                self.batch[..count]
                    .iter()
                    .map(|info| Sig(info.ssi_signo as i32)),
            );
            // The fd blocks: read on only when more is surely queued.
            if count < BATCH || !self.poll_for(Duration::ZERO) {
                return;
            }
        }
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
        let mut child_status = None;
        let (child, warn_on_reap) = (self.child, self.config.warn_on_reap);
        let any_left = reaper::reap_all(|pid, status| {
            if pid == child {
                child_status = Some(status);
            } else if warn_on_reap {
                warn!("reaped orphan {pid} ({status})");
            } else {
                debug!("reaped orphan {pid} ({status})");
            }
        });
        let mut actions = Vec::new();
        if let Some(status) = child_status {
            info!("child {child} {status}");
            actions.extend(self.supervisor.on_child_exit(
                status,
                self.leftovers_remain(any_left),
                now,
            ));
        } else if self.supervisor.awaits_leftovers() && !self.leftovers_remain(any_left) {
            actions.extend(self.supervisor.on_leftovers_gone());
        }
        actions
    }

    /// Whether anything graceinit waits for after the child is still alive:
    /// as PID 1 any descendant (orphans all come back here, so "no children"
    /// means none); otherwise what is left of the child's process group.
    fn leftovers_remain(&self, any_children: bool) -> bool {
        if std::process::id() == 1 || !any_children {
            return any_children;
        }
        send(Target::Group(self.child), Sig(0)).is_ok()
    }

    /// Carries out one action; returns the exit code when it is time to go.
    fn execute(&mut self, action: Action) -> Option<u8> {
        match action {
            Action::Forward {
                received,
                sent,
                target,
            } => {
                match send(target, sent) {
                    Ok(()) if received == sent => info!("forwarded {sent} to {target}"),
                    Ok(()) => info!("forwarded {received} as {sent} to {target}"),
                    // The group can be gone a moment before its SIGCHLD arrives.
                    Err(Errno::ESRCH) => debug!("{sent} not forwarded: {target} is gone"),
                    Err(e) => warn!("cannot forward {sent} to {target}: {e}"),
                }
                None
            }
            Action::Drop(sig) => {
                info!("dropped {sig} (rewritten to 0)");
                None
            }
            Action::StartDrain(delay) => {
                if let Err(e) = drain::mark(&self.config.drain_file) {
                    warn!(
                        "cannot create drain marker {}: {e}; health checks will not see the drain (mount a tmpfs there)",
                        self.config.drain_file.display()
                    );
                }
                info!(
                    "draining for {} before forwarding SIGTERM",
                    format_duration(delay)
                );
                None
            }
            Action::EndDrain { elapsed } => {
                info!("drain over after {}", format_duration(elapsed));
                None
            }
            Action::StopSelf => {
                // SIGSTOP cannot be blocked; SIGCONT resumes graceinit.
                let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGSTOP);
                None
            }
            Action::TermLeftovers(target) => {
                // A stopped process keeps SIGTERM pending until it runs again.
                let result =
                    send(target, Sig::TERM).and_then(|()| send(target, Sig(libc::SIGCONT)));
                match result {
                    Ok(()) => info!(
                        "sent SIGTERM to {target}, the processes left after the child; waiting up to {}",
                        format_duration(self.config.policy.leftover_grace)
                    ),
                    Err(e) => debug!("cannot send SIGTERM to {target}: {e}"),
                }
                None
            }
            Action::Kill { target, reason } => {
                let survivors = survivors(target);
                if let Err(e) = send(target, Sig::KILL) {
                    debug!("cannot kill {target}: {e}");
                }
                let list = if survivors.is_empty() {
                    "none".to_string()
                } else {
                    survivors
                        .iter()
                        .map(i32::to_string)
                        .collect::<Vec<_>>()
                        .join(" ")
                };
                match reason {
                    KillReason::StopTimeout(after) => warn!(
                        "app still running {} after the stop signal: killed {target}; survivors: {list}",
                        format_duration(after)
                    ),
                    KillReason::LeftoverGrace => warn!(
                        "processes left after the child did not exit within {}: killed {target}; survivors: {list}",
                        format_duration(self.config.policy.leftover_grace)
                    ),
                }
                None
            }
            Action::Exit(code) => {
                info!("exiting with code {code}");
                Some(code)
            }
        }
    }
}

fn send(target: Target, sig: Sig) -> Result<(), Errno> {
    // SAFETY: kill takes plain integers. Raw because nix's Signal cannot name
    // the real-time signals.
    let result = unsafe { libc::kill(target.kill_arg(), sig.0) };
    Errno::result(result).map(drop)
}

/// The pids a kill of `target` will hit, for the log: read from /proc.
fn survivors(target: Target) -> Vec<i32> {
    let own = std::process::id();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
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
    pids
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

    #[test]
    fn reads_own_process_group() {
        let own = i32::try_from(std::process::id()).unwrap();
        assert_eq!(process_group(own), Some(nix::unistd::getpgrp().as_raw()));
    }
}
