//! Forced orderings: the tracer holds a process at a stop while the others run, so the order
//! of events that breaks a racy program happens on every run, not by luck.
//!
//! A held process is simply not restarted: it sits in its ptrace stop (signals sent to it
//! stay pending) until the rule's condition holds or its time bound passes. This module owns
//! the rules, who is held ([`Holds`]), and decides, from the trace so far, when a hold ends;
//! the tracer tells it where each thread stops and does the restarting.

use super::interest::SIGNAL_WAIT_CALLS;
use super::model::{Event, ProcId, Trace};
use super::procfs;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};
use syscalls::Sysno;

/// Which process to hold, where, and until when. Named in a rubric input's `hold`;
/// [`HoldRule::check`] rejects, as the rubric loads, a rule that could never hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "rule", rename_all = "kebab-case", deny_unknown_fields)]
pub enum HoldRule {
    /// Hold the program's first process just after its `forks`-th fork, until every child
    /// it forked has sent it a signal (or ended): the children's signals arrive before the
    /// parent can be ready for them, unless it got ready before forking.
    #[serde(rename_all = "kebab-case")]
    ParentAfterForks { forks: usize, max_ms: u64 },
    /// Hold each child of the first process as it is about to send its first signal to the
    /// first process, until the first process is blocked waiting (sigsuspend, sigwaitinfo,
    /// pause, wait) or ends: a parent that never blocks spins for the whole bound.
    #[serde(rename_all = "kebab-case")]
    ChildrenBeforeSignalling { max_ms: u64 },
    /// Hold each child of the first process just after its first signal to the first
    /// process, until the first process has signalled it back (or ended): the
    /// acknowledgement arrives before the child can be waiting for it, unless it got ready
    /// before signalling.
    #[serde(rename_all = "kebab-case")]
    ChildrenAfterSignalling { max_ms: u64 },
}

/// Where a process is held, as [`HoldRule`]s name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldPoint {
    /// The first process's fork number `n` (1-based) just returned.
    AfterFork(usize),
    /// A child of the first process is at the entry of a call that signals the first one.
    BeforeSignallingParent,
    /// A child of the first process has just signalled the first one.
    AfterSignallingParent,
}

impl HoldRule {
    /// Finds a rule that could never hold anything: no fork 0 (forks count from 1), no
    /// bound of 0 ms. The rubric key at fault, and why.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if let HoldRule::ParentAfterForks { forks: 0, .. } = self {
            return Err((
                "forks",
                "`forks = 0`: forks count from 1 (hold after the first fork: 1)".to_string(),
            ));
        }
        if self.max().is_zero() {
            return Err((
                "max-ms",
                "`max-ms = 0`: a hold must last at least 1 ms".to_string(),
            ));
        }
        Ok(())
    }

    /// The time bound after which a held process goes on regardless.
    pub fn max(&self) -> Duration {
        let ms = match *self {
            HoldRule::ParentAfterForks { max_ms, .. }
            | HoldRule::ChildrenBeforeSignalling { max_ms }
            | HoldRule::ChildrenAfterSignalling { max_ms } => max_ms,
        };
        Duration::from_millis(ms)
    }

    /// True if a process at this point is one the rule holds.
    pub fn holds_at(&self, point: HoldPoint) -> bool {
        match (*self, point) {
            (HoldRule::ParentAfterForks { forks, .. }, HoldPoint::AfterFork(n)) => n == forks,
            (HoldRule::ChildrenBeforeSignalling { .. }, HoldPoint::BeforeSignallingParent) => true,
            (HoldRule::ChildrenAfterSignalling { .. }, HoldPoint::AfterSignallingParent) => true,
            _ => false,
        }
    }

    /// Where the rule holds, in words, for feedback: `right after its fork 2`.
    pub fn point_text(&self) -> String {
        match *self {
            HoldRule::ParentAfterForks { forks, .. } => format!("right after its fork {forks}"),
            HoldRule::ChildrenBeforeSignalling { .. } => {
                "as it was about to signal the parent".to_string()
            }
            HoldRule::ChildrenAfterSignalling { .. } => {
                "right after it had signalled the parent".to_string()
            }
        }
    }

    /// What the rule waits for, in words: `until every worker had signalled it`.
    pub fn until_text(&self) -> String {
        match *self {
            HoldRule::ParentAfterForks { .. } => "until every worker had signalled it".to_string(),
            HoldRule::ChildrenBeforeSignalling { .. } => {
                "until the parent was blocked waiting".to_string()
            }
            HoldRule::ChildrenAfterSignalling { .. } => {
                "until the parent had signalled it back".to_string()
            }
        }
    }

    /// True once the condition that ends holding `held` is met, judged from the trace so far.
    /// `parent_waiting`: the first process is asleep in a wait (or at its entry) right now.
    pub fn is_met(&self, trace: &Trace, held: ProcId, parent_waiting: bool) -> bool {
        let Some(parent) = trace.processes.first() else {
            return true;
        };
        if parent.end.is_some() {
            return true;
        }
        match self {
            HoldRule::ParentAfterForks { .. } => trace.children_of(0).all(|(_, child)| {
                child.end.is_some() || child.signals_sent().any(|(to, _, _)| to == Some(0))
            }),
            HoldRule::ChildrenBeforeSignalling { .. } => parent_waiting,
            HoldRule::ChildrenAfterSignalling { .. } => {
                parent.signals_sent().any(|(to, _, _)| to == Some(held))
            }
        }
    }
}

/// The threads held now, and the processes a rule has held (it holds each once, at its
/// first matching stop). The tracer tells it where threads are ([`Holds::reach`]) and asks
/// which may go on ([`Holds::due`]); it does the stopping and restarting.
#[derive(Debug, Default)]
pub struct Holds {
    rule: Option<HoldRule>,
    held: HashMap<i32, Held>,
    held_once: HashSet<ProcId>,
}

/// A thread held stopped.
#[derive(Debug)]
struct Held {
    proc: ProcId,
    since: Instant,
}

/// A held thread let go: which, and the [`Event::Held`] its process records.
pub struct Release {
    pub tid: i32,
    pub proc: ProcId,
    met: bool,
    waited_ms: u64,
}

impl Holds {
    /// Holds for `rule` (none: nothing is ever held).
    pub fn new(rule: Option<HoldRule>) -> Holds {
        Holds {
            rule,
            ..Holds::default()
        }
    }

    /// True if no thread is held now.
    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    /// True if `tid` is held: it must not be restarted.
    pub fn is_held(&self, tid: i32) -> bool {
        self.held.contains_key(&tid)
    }

    /// Thread `tid` of `proc` is stopped at `point`: held from now on if the rule holds
    /// there and has not held this process yet.
    pub fn reach(&mut self, tid: i32, proc: ProcId, point: HoldPoint) {
        let Some(rule) = self.rule else {
            return;
        };
        if rule.holds_at(point) && self.held_once.insert(proc) {
            let since = Instant::now();
            self.held.insert(tid, Held { proc, since });
        }
    }

    /// `tid` is gone.
    pub fn forget(&mut self, tid: i32) {
        self.held.remove(&tid);
    }

    /// Lets every held thread go (the run is being killed, and killed processes must run
    /// to die): their tids.
    pub fn release_all(&mut self) -> Vec<i32> {
        self.held.drain().map(|(tid, _)| tid).collect()
    }

    /// Lets go every held thread whose condition is met (judged from `trace` and, for
    /// [`HoldRule::ChildrenBeforeSignalling`], from what the first process is doing now) or
    /// whose time bound has passed.
    pub fn due(&mut self, trace: &Trace, now: Instant) -> Vec<Release> {
        let Some(rule) = self.rule else {
            return Vec::new();
        };
        let parent_waiting = matches!(rule, HoldRule::ChildrenBeforeSignalling { .. })
            && !self.held.is_empty()
            && parent_is_waiting(trace);
        let ready: Vec<(i32, bool)> = self
            .held
            .iter()
            .filter_map(|(&tid, held)| {
                let met = rule.is_met(trace, held.proc, parent_waiting);
                (met || now >= held.since + rule.max()).then_some((tid, met))
            })
            .collect();
        ready
            .into_iter()
            .map(|(tid, met)| {
                let held = self.held.remove(&tid).expect("just found");
                Release {
                    tid,
                    proc: held.proc,
                    met,
                    waited_ms: now.duration_since(held.since).as_millis() as u64,
                }
            })
            .collect()
    }

    /// What `release`'s process records, at trace time `at`.
    pub fn event(&self, release: &Release, at: u64) -> Event {
        let rule = self.rule.expect("only a rule releases");
        Event::Held {
            point: rule.point_text(),
            until: rule.until_text(),
            met: release.met,
            waited_ms: release.waited_ms,
            at,
        }
    }
}

/// True if the program's first process is in (or stopped at the entry of) a call that
/// sleeps until a signal or a child's end, as /proc shows it now.
fn parent_is_waiting(trace: &Trace) -> bool {
    let Some(parent) = trace.processes.first() else {
        return false;
    };
    procfs::blocked_syscall(parent.pid)
        .and_then(|(nr, _)| Sysno::new(nr as usize))
        .is_some_and(is_blocking_wait)
}

/// Calls in which a process sleeps until something happens to it.
fn is_blocking_wait(sysno: Sysno) -> bool {
    SIGNAL_WAIT_CALLS.contains(&sysno) || sysno == Sysno::wait4 || sysno == Sysno::waitid
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::model::{Event, Process};

    fn sent(to: ProcId) -> Event {
        Event::SignalSent {
            syscall: "kill".into(),
            to_pid: 1,
            to: Some(to),
            signal: libc::SIGUSR1,
            value: None,
            ret: 0,
            at: 1,
        }
    }

    fn family() -> Trace {
        let mut trace = Trace::default();
        trace
            .processes
            .push(Process::new(10, None, "parent".into()));
        trace
            .processes
            .push(Process::new(11, Some(0), "worker 1".into()));
        trace
            .processes
            .push(Process::new(12, Some(0), "worker 2".into()));
        trace
    }

    #[test]
    fn parent_is_released_when_every_worker_signalled_or_ended() {
        let rule = HoldRule::ParentAfterForks {
            forks: 2,
            max_ms: 100,
        };
        assert!(rule.holds_at(HoldPoint::AfterFork(2)));
        assert!(!rule.holds_at(HoldPoint::AfterFork(1)));
        let mut trace = family();
        assert!(!rule.is_met(&trace, 0, false));
        trace.processes[1].events.push(sent(0));
        assert!(!rule.is_met(&trace, 0, false));
        trace.processes[2].end = Some(crate::trace::End::Exited { code: 0 });
        assert!(rule.is_met(&trace, 0, false));
    }

    #[test]
    fn workers_are_released_by_the_parent() {
        let before = HoldRule::ChildrenBeforeSignalling { max_ms: 100 };
        let trace = family();
        assert!(!before.is_met(&trace, 1, false));
        assert!(before.is_met(&trace, 1, true));
        let after = HoldRule::ChildrenAfterSignalling { max_ms: 100 };
        let mut trace = family();
        trace.processes[0].events.push(sent(2));
        assert!(!after.is_met(&trace, 1, false));
        assert!(after.is_met(&trace, 2, false));
    }

    #[test]
    fn rules_read_from_a_rubric() {
        let rule: HoldRule =
            toml::from_str("rule = \"parent-after-forks\"\nforks = 2\nmax-ms = 500").unwrap();
        assert_eq!(rule.max(), Duration::from_millis(500));
        assert!(toml::from_str::<HoldRule>("rule = \"parent-after-forks\"\nmax-ms = 5").is_err());
    }

    #[test]
    fn rules_that_could_never_hold_are_found() {
        let after = |forks, max_ms| HoldRule::ParentAfterForks { forks, max_ms };
        assert_eq!(after(2, 500).check(), Ok(()));
        assert_eq!(after(0, 500).check().unwrap_err().0, "forks");
        assert_eq!(after(1, 0).check().unwrap_err().0, "max-ms");
        let before = HoldRule::ChildrenBeforeSignalling { max_ms: 0 };
        assert_eq!(before.check().unwrap_err().0, "max-ms");
    }
}
