//! The decisions of an init, kept apart from the system calls that carry them
//! out: events (a signal, the child's exit, a deadline) go in, actions come
//! out. Time is passed in, so every timeline is testable with fake instants.

use std::fmt;
use std::time::{Duration, Instant};

use crate::config::Policy;
use crate::reaper::Status;
use crate::signals::{Sig, SigMask};

/// Who a signal goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    Process(i32),
    Group(i32),
    /// Every process graceinit can signal: as PID 1, the whole container.
    Everyone,
}

impl Target {
    /// The pid argument of `kill(2)` that reaches this target.
    pub fn kill_arg(self) -> i32 {
        match self {
            Target::Process(pid) => pid,
            Target::Group(pgid) => -pgid,
            Target::Everyone => -1,
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Process(pid) => write!(f, "process {pid}"),
            Target::Group(pgid) => write!(f, "group {pgid}"),
            Target::Everyone => write!(f, "every process"),
        }
    }
}

/// Why graceinit is killing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KillReason {
    /// `--kill-after` ran out after a stop signal was forwarded.
    StopTimeout(Duration),
    /// The child is gone and the rest did not leave within this grace.
    LeftoverGrace(Duration),
}

/// What became of the main child since the last look.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChildEvent {
    Exited(Status),
    Stopped,
    Continued,
}

/// One thing for the event loop to do. Each carries what its log line
/// needs, so the loop words it without reading the settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Forward {
        received: Sig,
        sent: Sig,
        target: Target,
    },
    /// Rewritten to 0.
    Drop(Sig),
    /// SIGCONT, so that a stopped target acts on the signal just sent (a
    /// stopped process keeps it pending until it runs again).
    Continue(Target),
    /// Create the drain marker; the drain lasts `delay` from the marker's
    /// creation (`on_marker_age` tells when that was).
    StartDrain(Duration),
    /// The drain ended, after `elapsed`, on time or cut short by a signal.
    EndDrain {
        elapsed: Duration,
    },
    /// Stop graceinit itself after a job-control stop, like a shell.
    StopSelf,
    /// The child is gone: ask what remains to leave within `grace`, with
    /// SIGTERM, or with the stop signal already forwarded (as rewritten:
    /// php-fpm stopping on SIGQUIT must not get SIGTERM, its fast stop).
    TermLeftovers {
        target: Target,
        signal: Sig,
        grace: Duration,
    },
    /// A stop signal other than SIGTERM came while `--drain-delay` is set:
    /// forwarded at once, without the drain (which waits for SIGTERM).
    NoDrainFor(Sig),
    Kill {
        target: Target,
        reason: KillReason,
    },
    Exit(u8),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Running,
    /// `forward_at` None: a delay too long for the clock, so never.
    Draining {
        started: Instant,
        forward_at: Option<Instant>,
    },
    /// A stop signal has been forwarded (`sent`, as rewritten, the first
    /// one); the app is expected to leave.
    Stopping {
        kill_at: Option<Instant>,
        sent: Sig,
    },
    /// The child has exited with `code`; waiting for the rest, until
    /// `kill_at` for `reason`.
    Leftovers {
        code: u8,
        kill_at: Option<Instant>,
        reason: KillReason,
    },
    Done,
}

pub struct Supervisor {
    policy: Policy,
    child: i32,
    is_pid1: bool,
    phase: Phase,
    /// Stop signals sent to the app, as sent (after rewriting): an exit by
    /// one of these is a clean stop for `--zero-on-stop`. A set, so that
    /// millions of forwarded stops cost no memory.
    stops_sent: SigMask,
    /// Whether the child was last seen stopped (SIGSTOP, a debugger).
    child_stopped: bool,
}

/// `now + delay`, or None (never) when that is past what the clock holds.
fn deadline(now: Instant, delay: Duration) -> Option<Instant> {
    now.checked_add(delay)
}

/// Whether deadline `a` comes before `b` (None is never).
fn sooner(a: Option<Instant>, b: Option<Instant>) -> bool {
    a.is_some_and(|a| b.map_or(true, |b| a < b))
}

impl Supervisor {
    pub fn new(policy: Policy, child: i32, is_pid1: bool) -> Self {
        Supervisor {
            policy,
            child,
            is_pid1,
            phase: Phase::Running,
            stops_sent: SigMask::default(),
            child_stopped: false,
        }
    }

    /// When the loop must wake up even if no signal arrives.
    pub fn next_deadline(&self) -> Option<Instant> {
        match self.phase {
            Phase::Draining { forward_at, .. } => forward_at,
            Phase::Stopping { kill_at, .. } | Phase::Leftovers { kill_at, .. } => kill_at,
            Phase::Running | Phase::Done => None,
        }
    }

    /// A signal arrived (never SIGCHLD: that is the reaper's).
    pub fn on_signal(&mut self, sig: Sig, now: Instant) -> Vec<Action> {
        if !sig.is_forwardable() {
            return Vec::new();
        }
        let drains = !self.policy.drain_delay.is_zero();
        // A SIGTERM rewritten to 0 asks for nothing: no drain for it.
        let term_dropped = self.policy.rewrite.apply(Sig::TERM).is_none();
        match self.phase {
            Phase::Running if sig == Sig::TERM && drains && !term_dropped => {
                self.phase = Phase::Draining {
                    started: now,
                    forward_at: deadline(now, self.policy.drain_delay),
                };
                vec![Action::StartDrain(self.policy.drain_delay)]
            }
            // `STOPSIGNAL SIGQUIT` (the official nginx and php-fpm images)
            // or SIGINT: said, because the drain the user set is skipped.
            Phase::Running if sig.is_stop_request() && drains && !term_dropped => {
                let mut actions = vec![Action::NoDrainFor(sig)];
                actions.extend(self.forward(sig, now));
                actions
            }
            // A second SIGTERM, or a Ctrl-C, means "now"; one rewritten to 0
            // was asked to be ignored, and the drain goes on.
            Phase::Draining { started, .. }
                if sig.is_stop_request() && self.policy.rewrite.apply(sig).is_some() =>
            {
                let mut actions = vec![Action::EndDrain {
                    elapsed: now.saturating_duration_since(started),
                }];
                actions.extend(self.forward(sig, now));
                actions
            }
            Phase::Leftovers { .. } => self.forward_to_leftovers(sig, now),
            Phase::Done => Vec::new(),
            _ => self.forward(sig, now),
        }
    }

    /// The drain marker was found already there, made `age` ago (by an
    /// outer graceinit of the same container, or by `graceinit drain`):
    /// the drain lasts from then, so nested inits do not drain twice.
    pub fn on_marker_age(&mut self, age: Duration) {
        if let Phase::Draining {
            started,
            forward_at: Some(_),
        } = self.phase
        {
            let remaining = self.policy.drain_delay.saturating_sub(age);
            self.phase = Phase::Draining {
                started,
                forward_at: deadline(started, remaining),
            };
        }
    }

    /// Children were reaped or changed state: `child` is what became of
    /// the main child (None: nothing), `others_alive` whether anything
    /// graceinit would wait for after it is still alive.
    pub fn on_reaped(
        &mut self,
        child: Option<ChildEvent>,
        others_alive: bool,
        now: Instant,
    ) -> Vec<Action> {
        match child {
            Some(ChildEvent::Exited(status)) => {
                return self.on_child_exit(status, others_alive, now)
            }
            // Stopped after the stop signal was sent (or while it was on
            // its way): it can only act on it once running again.
            Some(ChildEvent::Stopped) if matches!(self.phase, Phase::Stopping { .. }) => {
                return vec![Action::Continue(self.forward_target())];
            }
            Some(ChildEvent::Stopped) => self.child_stopped = true,
            Some(ChildEvent::Continued) => self.child_stopped = false,
            None => {}
        }
        match self.phase {
            Phase::Leftovers { code, .. } if !others_alive => {
                self.phase = Phase::Done;
                vec![Action::Exit(code)]
            }
            _ => Vec::new(),
        }
    }

    fn on_child_exit(&mut self, status: Status, others_alive: bool, now: Instant) -> Vec<Action> {
        let code = self.exit_code(status);
        let grace = self.policy.leftover_grace;
        if !others_alive || self.policy.single_child || grace.is_zero() {
            self.phase = Phase::Done;
            return vec![Action::Exit(code)];
        }
        let (mut kill_at, mut reason) = (deadline(now, grace), KillReason::LeftoverGrace(grace));
        let mut signal = Sig::TERM;
        if let Phase::Stopping {
            kill_at: stop,
            sent,
        } = self.phase
        {
            // What was left of the group got the stop signal already, as
            // the user rewrote it: the same again, never a SIGTERM that
            // turns php-fpm's graceful SIGQUIT stop into a fast one.
            if sent != Sig::STOP {
                signal = sent;
            }
            // Once a stop was forwarded, the stop deadline bounds everything.
            if sooner(stop, kill_at) {
                kill_at = stop;
                reason = KillReason::StopTimeout(self.policy.kill_after.unwrap_or_default());
            }
        }
        self.phase = Phase::Leftovers {
            code,
            kill_at,
            reason,
        };
        let target = self.leftover_target();
        // Their state is unknown: a stopped one would sit on the signal for ever.
        vec![
            Action::TermLeftovers {
                target,
                signal,
                grace,
            },
            Action::Continue(target),
        ]
    }

    /// A signal after the child exited goes to what is left; a stop request
    /// (`docker stop` after the app ended by itself) also brings the
    /// deadline in to `--kill-after`, as for a stop while the app ran.
    fn forward_to_leftovers(&mut self, sig: Sig, now: Instant) -> Vec<Action> {
        let Some(sent) = self.policy.rewrite.apply(sig) else {
            return vec![Action::Drop(sig)];
        };
        if let Phase::Leftovers {
            kill_at, reason, ..
        } = &mut self.phase
        {
            if let Some(after) = self.policy.kill_after.filter(|_| sig.is_stop_request()) {
                if sooner(deadline(now, after), *kill_at) {
                    *kill_at = deadline(now, after);
                    *reason = KillReason::StopTimeout(after);
                }
            }
        }
        vec![Action::Forward {
            received: sig,
            sent,
            target: self.leftover_target(),
        }]
    }

    /// Time passed; act on a deadline that is due.
    pub fn on_time(&mut self, now: Instant) -> Vec<Action> {
        let due = |at: Option<Instant>| at.is_some_and(|at| now >= at);
        match self.phase {
            Phase::Draining {
                started,
                forward_at,
            } if due(forward_at) => {
                let mut actions = vec![Action::EndDrain {
                    elapsed: now.saturating_duration_since(started),
                }];
                actions.extend(self.forward(Sig::TERM, now));
                actions
            }
            Phase::Stopping { kill_at, .. } if due(kill_at) => {
                self.phase = Phase::Done;
                let timeout = self.policy.kill_after.unwrap_or_default();
                vec![
                    Action::Kill {
                        target: self.escalation_target(),
                        reason: KillReason::StopTimeout(timeout),
                    },
                    Action::Exit(
                        self.policy
                            .exit_remap
                            .apply(Status::Killed(Sig::KILL).code()),
                    ),
                ]
            }
            Phase::Leftovers {
                code,
                kill_at,
                reason,
            } if due(kill_at) => {
                self.phase = Phase::Done;
                vec![
                    Action::Kill {
                        target: self.leftover_target(),
                        reason,
                    },
                    Action::Exit(code),
                ]
            }
            _ => Vec::new(),
        }
    }

    fn forward(&mut self, received: Sig, now: Instant) -> Vec<Action> {
        let Some(mut sent) = self.policy.rewrite.apply(received) else {
            return vec![Action::Drop(received)];
        };
        if sent.is_job_control_stop() {
            // The child leads its own session, where the kernel drops these
            // for a process without a handler: only SIGSTOP stops it.
            sent = Sig::STOP;
        }
        let target = self.forward_target();
        let mut actions = vec![Action::Forward {
            received,
            sent,
            target,
        }];
        if received.is_stop_request() {
            self.stops_sent.insert(sent);
            if self.child_stopped {
                self.child_stopped = false;
                actions.push(Action::Continue(target));
            }
            self.phase = match self.phase {
                // The first forwarded stop starts the clock; later ones do not reset it.
                Phase::Stopping { kill_at, sent } => Phase::Stopping { kill_at, sent },
                _ => Phase::Stopping {
                    kill_at: self.policy.kill_after.and_then(|k| deadline(now, k)),
                    sent,
                },
            };
        }
        if received.is_job_control_stop() && !self.is_pid1 {
            actions.push(Action::StopSelf);
        }
        actions
    }

    fn exit_code(&self, status: Status) -> u8 {
        let stopped_by_us = match status {
            Status::Killed(sig) => self.stops_sent.contains(sig),
            Status::Exited(code) => self.stops_sent.iter().any(|s| 128 + s.0 == i32::from(code)),
        };
        let code = if self.policy.zero_on_stop && stopped_by_us {
            0
        } else {
            status.code()
        };
        self.policy.exit_remap.apply(code)
    }

    fn forward_target(&self) -> Target {
        if self.policy.single_child {
            Target::Process(self.child)
        } else {
            Target::Group(self.child)
        }
    }

    /// After the child is gone: as PID 1 the whole container, otherwise what
    /// is left of the child's group.
    pub fn leftover_target(&self) -> Target {
        if self.is_pid1 {
            Target::Everyone
        } else {
            Target::Group(self.child)
        }
    }

    fn escalation_target(&self) -> Target {
        match (self.is_pid1, self.policy.single_child) {
            (true, _) => Target::Everyone,
            (false, true) => Target::Process(self.child),
            (false, false) => Target::Group(self.child),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ExitRemap, Rewrites};

    const CHILD: i32 = 7;

    fn policy() -> Policy {
        Policy {
            single_child: false,
            rewrite: Rewrites::default(),
            exit_remap: ExitRemap::default(),
            zero_on_stop: false,
            drain_delay: Duration::ZERO,
            kill_after: None,
            leftover_grace: Duration::from_secs(2),
        }
    }

    /// A supervisor running as PID 1, the usual case in a container.
    fn pid1(policy: Policy) -> Supervisor {
        Supervisor::new(policy, CHILD, true)
    }

    fn forward(received: Sig, sent: Sig) -> Action {
        Action::Forward {
            received,
            sent,
            target: Target::Group(CHILD),
        }
    }

    #[test]
    fn forwards_to_the_group_or_the_child() {
        let t0 = Instant::now();
        let mut sup = pid1(policy());
        assert_eq!(
            sup.on_signal(Sig(libc::SIGHUP), t0),
            [forward(Sig(libc::SIGHUP), Sig(libc::SIGHUP))]
        );
        assert_eq!(sup.on_signal(Sig::CHLD, t0), []);
        let mut single = pid1(Policy {
            single_child: true,
            ..policy()
        });
        assert_eq!(
            single.on_signal(Sig::TERM, t0),
            [Action::Forward {
                received: Sig::TERM,
                sent: Sig::TERM,
                target: Target::Process(CHILD)
            }]
        );
    }

    #[test]
    fn rewrites_and_drops() {
        let t0 = Instant::now();
        let rewrite = Rewrites::from_pairs([(Sig::TERM, Sig::QUIT), (Sig(libc::SIGHUP), Sig(0))]);
        let mut sup = pid1(Policy {
            rewrite,
            ..policy()
        });
        assert_eq!(
            sup.on_signal(Sig::TERM, t0),
            [forward(Sig::TERM, Sig::QUIT)]
        );
        assert_eq!(
            sup.on_signal(Sig(libc::SIGHUP), t0),
            [Action::Drop(Sig(libc::SIGHUP))]
        );
    }

    #[test]
    fn drain_holds_the_signal_until_its_deadline() {
        let t0 = Instant::now();
        let delay = Duration::from_secs(5);
        let mut sup = pid1(Policy {
            drain_delay: delay,
            ..policy()
        });
        assert_eq!(sup.on_signal(Sig::TERM, t0), [Action::StartDrain(delay)]);
        assert_eq!(sup.next_deadline(), Some(t0 + delay));
        assert_eq!(sup.on_time(t0 + Duration::from_millis(4999)), []);
        // Other signals are not held back by the drain.
        assert_eq!(
            sup.on_signal(Sig(libc::SIGHUP), t0),
            [forward(Sig(libc::SIGHUP), Sig(libc::SIGHUP))]
        );
        assert_eq!(
            sup.on_time(t0 + delay),
            [
                Action::EndDrain { elapsed: delay },
                forward(Sig::TERM, Sig::TERM)
            ]
        );
        assert_eq!(sup.next_deadline(), None);
    }

    #[test]
    fn a_dropped_signal_does_not_cancel_the_drain() {
        let t0 = Instant::now();
        let delay = Duration::from_secs(5);
        let mut sup = pid1(Policy {
            drain_delay: delay,
            rewrite: Rewrites::from_pairs([(Sig(libc::SIGHUP), Sig(0))]),
            ..policy()
        });
        sup.on_signal(Sig::TERM, t0);
        assert_eq!(
            sup.on_signal(Sig(libc::SIGHUP), t0 + Duration::from_secs(1)),
            [Action::Drop(Sig(libc::SIGHUP))]
        );
        assert_eq!(
            sup.on_time(t0 + delay),
            [
                Action::EndDrain { elapsed: delay },
                forward(Sig::TERM, Sig::TERM)
            ]
        );
    }

    #[test]
    fn second_term_or_int_cuts_the_drain_short() {
        let t0 = Instant::now();
        let t1 = t0 + Duration::from_secs(1);
        for second in [Sig::TERM, Sig::INT] {
            let mut sup = pid1(Policy {
                drain_delay: Duration::from_secs(5),
                ..policy()
            });
            sup.on_signal(Sig::TERM, t0);
            assert_eq!(
                sup.on_signal(second, t1),
                [
                    Action::EndDrain {
                        elapsed: Duration::from_secs(1)
                    },
                    forward(second, second)
                ]
            );
            assert_eq!(sup.on_time(t0 + Duration::from_secs(6)), []);
        }
    }

    #[test]
    fn kill_after_counts_from_the_forward() {
        let t0 = Instant::now();
        let policy = Policy {
            drain_delay: Duration::from_secs(3),
            kill_after: Some(Duration::from_secs(10)),
            ..policy()
        };
        let mut sup = Supervisor::new(policy, CHILD, false);
        sup.on_signal(Sig::TERM, t0);
        sup.on_time(t0 + Duration::from_secs(3));
        assert_eq!(sup.next_deadline(), Some(t0 + Duration::from_secs(13)));
        // A later stop signal does not push the deadline back.
        sup.on_signal(Sig::TERM, t0 + Duration::from_secs(5));
        assert_eq!(sup.next_deadline(), Some(t0 + Duration::from_secs(13)));
        assert_eq!(
            sup.on_time(t0 + Duration::from_secs(13)),
            [
                Action::Kill {
                    target: Target::Group(CHILD),
                    reason: KillReason::StopTimeout(Duration::from_secs(10))
                },
                Action::Exit(137)
            ]
        );
    }

    #[test]
    fn exit_during_drain_is_immediate() {
        let t0 = Instant::now();
        let mut sup = pid1(Policy {
            drain_delay: Duration::from_secs(5),
            ..policy()
        });
        sup.on_signal(Sig::TERM, t0);
        assert_eq!(
            sup.on_reaped(Some(ChildEvent::Exited(Status::Exited(3))), false, t0),
            [Action::Exit(3)]
        );
        assert_eq!(sup.on_time(t0 + Duration::from_secs(6)), []);
    }

    #[test]
    fn leftovers_get_term_then_kill() {
        let t0 = Instant::now();
        let mut sup = pid1(policy());
        assert_eq!(
            sup.on_reaped(Some(ChildEvent::Exited(Status::Exited(4))), true, t0),
            [
                Action::TermLeftovers {
                    target: Target::Everyone,
                    signal: Sig::TERM,
                    grace: Duration::from_secs(2)
                },
                Action::Continue(Target::Everyone)
            ]
        );
        assert_eq!(sup.next_deadline(), Some(t0 + Duration::from_secs(2)));
        assert_eq!(
            sup.on_time(t0 + Duration::from_secs(2)),
            [
                Action::Kill {
                    target: Target::Everyone,
                    reason: KillReason::LeftoverGrace(Duration::from_secs(2))
                },
                Action::Exit(4)
            ]
        );
        let mut sup = Supervisor::new(policy(), CHILD, false);
        assert_eq!(
            sup.on_reaped(Some(ChildEvent::Exited(Status::Exited(4))), true, t0),
            [
                Action::TermLeftovers {
                    target: Target::Group(CHILD),
                    signal: Sig::TERM,
                    grace: Duration::from_secs(2)
                },
                Action::Continue(Target::Group(CHILD))
            ]
        );
        assert_eq!(sup.on_reaped(None, false, t0), [Action::Exit(4)]);
    }

    #[test]
    fn leftover_grace_ends_by_the_stop_deadline() {
        let t0 = Instant::now();
        let policy = Policy {
            kill_after: Some(Duration::from_secs(1)),
            leftover_grace: Duration::from_secs(30),
            ..policy()
        };
        let mut sup = pid1(policy);
        sup.on_signal(Sig::TERM, t0);
        sup.on_reaped(
            Some(ChildEvent::Exited(Status::Killed(Sig::TERM))),
            true,
            t0 + Duration::from_millis(100),
        );
        assert_eq!(sup.next_deadline(), Some(t0 + Duration::from_secs(1)));
    }

    #[test]
    fn no_waiting_without_leftovers_or_with_single_child() {
        let t0 = Instant::now();
        let mut sup = pid1(Policy {
            single_child: true,
            ..policy()
        });
        assert_eq!(
            sup.on_reaped(Some(ChildEvent::Exited(Status::Exited(0))), true, t0),
            [Action::Exit(0)]
        );
        let mut sup = pid1(Policy {
            leftover_grace: Duration::ZERO,
            ..policy()
        });
        assert_eq!(
            sup.on_reaped(Some(ChildEvent::Exited(Status::Exited(0))), true, t0),
            [Action::Exit(0)]
        );
    }

    #[test]
    fn zero_on_stop_only_for_the_stop_we_sent() {
        let t0 = Instant::now();
        let rewrite = Rewrites::from_pairs([(Sig::TERM, Sig::QUIT)]);
        let policy = Policy {
            zero_on_stop: true,
            rewrite,
            ..policy()
        };
        for (status, code) in [
            (Status::Killed(Sig::QUIT), 0),
            (Status::Exited(128 + 3), 0),
            (Status::Killed(Sig::TERM), 143),
            (Status::Killed(Sig(libc::SIGSEGV)), 139),
            (Status::Exited(1), 1),
        ] {
            let mut sup = pid1(policy.clone());
            sup.on_signal(Sig::TERM, t0);
            assert_eq!(
                sup.on_reaped(Some(ChildEvent::Exited(status)), false, t0),
                [Action::Exit(code)],
                "{status}"
            );
        }
        // Without a forwarded stop, a SIGQUIT death is a failure.
        let mut sup = pid1(policy);
        assert_eq!(
            sup.on_reaped(
                Some(ChildEvent::Exited(Status::Killed(Sig::QUIT))),
                false,
                t0
            ),
            [Action::Exit(131)]
        );
    }

    #[test]
    fn remap_applies_to_signal_deaths() {
        let t0 = Instant::now();
        let exit_remap = ExitRemap::from_pairs([(143, 0), (3, 7)]);
        let mut sup = pid1(Policy {
            exit_remap: exit_remap.clone(),
            ..policy()
        });
        assert_eq!(
            sup.on_reaped(
                Some(ChildEvent::Exited(Status::Killed(Sig::TERM))),
                false,
                t0
            ),
            [Action::Exit(0)]
        );
        let mut sup = pid1(Policy {
            exit_remap,
            ..policy()
        });
        assert_eq!(
            sup.on_reaped(Some(ChildEvent::Exited(Status::Exited(3))), false, t0),
            [Action::Exit(7)]
        );
    }

    #[test]
    fn job_control_stops_graceinit_unless_pid1() {
        let t0 = Instant::now();
        let mut sup = Supervisor::new(policy(), CHILD, false);
        assert_eq!(
            sup.on_signal(Sig::TSTP, t0),
            [forward(Sig::TSTP, Sig::STOP), Action::StopSelf]
        );
        let mut sup = pid1(policy());
        assert_eq!(
            sup.on_signal(Sig::TSTP, t0),
            [forward(Sig::TSTP, Sig::STOP)]
        );
    }

    #[test]
    fn durations_past_the_clock_mean_never() {
        let t0 = Instant::now();
        let huge = Duration::from_secs(u64::MAX);
        let mut sup = pid1(Policy {
            drain_delay: huge,
            kill_after: Some(huge),
            leftover_grace: huge,
            ..policy()
        });
        assert_eq!(sup.on_signal(Sig::TERM, t0), [Action::StartDrain(huge)]);
        assert_eq!(sup.next_deadline(), None);
        assert_eq!(sup.on_time(t0 + Duration::from_secs(1 << 40)), []);
        // A second SIGTERM still forwards; the kill never comes.
        sup.on_signal(Sig::TERM, t0);
        assert_eq!(sup.next_deadline(), None);
        sup.on_reaped(Some(ChildEvent::Exited(Status::Exited(0))), true, t0);
        assert_eq!(sup.next_deadline(), None);
        assert_eq!(sup.on_reaped(None, false, t0), [Action::Exit(0)]);
    }

    #[test]
    fn a_stop_request_to_a_stopped_child_also_continues_it() {
        let t0 = Instant::now();
        let mut sup = pid1(policy());
        sup.on_reaped(Some(ChildEvent::Stopped), false, t0);
        assert_eq!(
            sup.on_signal(Sig::TERM, t0),
            [
                forward(Sig::TERM, Sig::TERM),
                Action::Continue(Target::Group(CHILD))
            ]
        );
        // A running child gets the signal alone.
        let mut sup = pid1(policy());
        sup.on_reaped(Some(ChildEvent::Stopped), false, t0);
        sup.on_reaped(Some(ChildEvent::Continued), false, t0);
        assert_eq!(sup.on_signal(Sig::INT, t0), [forward(Sig::INT, Sig::INT)]);
        // Stopped just after the stop signal went out: continued then.
        let mut sup = pid1(policy());
        sup.on_signal(Sig::TERM, t0);
        assert_eq!(
            sup.on_reaped(Some(ChildEvent::Stopped), false, t0),
            [Action::Continue(Target::Group(CHILD))]
        );
        // Other signals stay pending like in any shell.
        let mut sup = pid1(policy());
        sup.on_reaped(Some(ChildEvent::Stopped), false, t0);
        assert_eq!(
            sup.on_signal(Sig(libc::SIGHUP), t0),
            [forward(Sig(libc::SIGHUP), Sig(libc::SIGHUP))]
        );
    }

    #[test]
    fn a_marker_made_earlier_shortens_the_drain() {
        let t0 = Instant::now();
        let delay = Duration::from_secs(5);
        let mut sup = pid1(Policy {
            drain_delay: delay,
            ..policy()
        });
        sup.on_signal(Sig::TERM, t0);
        sup.on_marker_age(Duration::from_secs(2));
        assert_eq!(sup.next_deadline(), Some(t0 + Duration::from_secs(3)));
        // Made longer ago than the drain: forward at once.
        let mut sup = pid1(Policy {
            drain_delay: delay,
            ..policy()
        });
        sup.on_signal(Sig::TERM, t0);
        sup.on_marker_age(Duration::from_secs(60));
        assert_eq!(sup.next_deadline(), Some(t0));
        assert_eq!(
            sup.on_time(t0),
            [
                Action::EndDrain {
                    elapsed: Duration::ZERO
                },
                forward(Sig::TERM, Sig::TERM)
            ]
        );
    }

    #[test]
    fn a_rewrite_to_a_job_control_stop_sends_sigstop() {
        let t0 = Instant::now();
        let rewrite = Rewrites::from_pairs([(Sig(libc::SIGUSR1), Sig::TTIN)]);
        let mut sup = pid1(Policy {
            rewrite,
            ..policy()
        });
        assert_eq!(
            sup.on_signal(Sig(libc::SIGUSR1), t0),
            [forward(Sig(libc::SIGUSR1), Sig::STOP)]
        );
    }

    /// A wrapper (`sh -c`, `npm start`) that dies of the forwarded SIGQUIT
    /// leaves php-fpm behind: it gets SIGQUIT again, not SIGTERM, its fast
    /// stop.
    #[test]
    fn leftovers_after_a_stop_get_the_stop_signal_as_rewritten() {
        let t0 = Instant::now();
        let mut sup = pid1(Policy {
            rewrite: Rewrites::from_pairs([(Sig::TERM, Sig::QUIT)]),
            ..policy()
        });
        sup.on_signal(Sig::TERM, t0);
        assert_eq!(
            sup.on_reaped(
                Some(ChildEvent::Exited(Status::Killed(Sig::QUIT))),
                true,
                t0
            ),
            [
                Action::TermLeftovers {
                    target: Target::Everyone,
                    signal: Sig::QUIT,
                    grace: Duration::from_secs(2)
                },
                Action::Continue(Target::Everyone)
            ]
        );
    }

    #[test]
    fn a_stop_signal_other_than_term_says_the_drain_is_skipped() {
        let t0 = Instant::now();
        let mut sup = pid1(Policy {
            drain_delay: Duration::from_secs(5),
            ..policy()
        });
        let actions = sup.on_signal(Sig::QUIT, t0);
        assert_eq!(actions[0], Action::NoDrainFor(Sig::QUIT));
        assert!(matches!(
            actions[1],
            Action::Forward {
                sent: Sig::QUIT,
                ..
            }
        ));
    }

    /// `docker stop` after the app ended by itself: the leftovers' grace
    /// is cut to `--kill-after`, as for a stop while the app ran.
    #[test]
    fn a_stop_while_waiting_for_leftovers_brings_in_the_kill_deadline() {
        let t0 = Instant::now();
        let second = Duration::from_secs(1);
        let mut sup = pid1(Policy {
            kill_after: Some(second),
            leftover_grace: Duration::from_secs(10),
            ..policy()
        });
        sup.on_reaped(Some(ChildEvent::Exited(Status::Exited(3))), true, t0);
        assert_eq!(sup.next_deadline(), Some(t0 + 10 * second));
        sup.on_signal(Sig::TERM, t0 + second);
        assert_eq!(sup.next_deadline(), Some(t0 + 2 * second));
        assert_eq!(
            sup.on_time(t0 + 2 * second),
            [
                Action::Kill {
                    target: Target::Everyone,
                    reason: KillReason::StopTimeout(second)
                },
                Action::Exit(3)
            ]
        );
    }

    /// `-r INT:0`: a SIGINT during the drain is ignored as asked, and the
    /// drain's SIGTERM still goes out; `-r TERM:0` asks for no drain.
    #[test]
    fn a_stop_signal_rewritten_to_0_neither_ends_nor_starts_a_drain() {
        let t0 = Instant::now();
        let drain = Duration::from_secs(2);
        let mut sup = pid1(Policy {
            drain_delay: drain,
            rewrite: Rewrites::from_pairs([(Sig::INT, Sig(0))]),
            ..policy()
        });
        sup.on_signal(Sig::TERM, t0);
        assert_eq!(
            sup.on_signal(Sig::INT, t0 + drain / 4),
            [Action::Drop(Sig::INT)]
        );
        assert_eq!(sup.next_deadline(), Some(t0 + drain));
        let actions = sup.on_time(t0 + drain);
        assert!(matches!(
            actions[1],
            Action::Forward {
                sent: Sig::TERM,
                ..
            }
        ));

        let mut sup = pid1(Policy {
            drain_delay: drain,
            rewrite: Rewrites::from_pairs([(Sig::TERM, Sig(0))]),
            ..policy()
        });
        assert_eq!(sup.on_signal(Sig::TERM, t0), [Action::Drop(Sig::TERM)]);
        assert_eq!(sup.next_deadline(), None);
    }
}
