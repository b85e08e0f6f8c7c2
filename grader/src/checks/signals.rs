//! Signals as event notification: who signalled whom, what the handlers did, how the parent
//! waited, and whether the program survives the orderings the tracer forces.

use super::{Case, completed, factors};
use crate::escape::{quoted, visible};
use crate::run::{RunOutcome, RunStatus, hang};
use crate::trace::interest::SLEEP_CALLS;
use crate::trace::{End, Event, ProcId, Trace};

use super::signal_name as signal_label;

/// Each worker notifies the parent with a signal, the parent signals each worker back, and
/// each worker exits only after that acknowledgement: the parent learns of a worker's
/// completion from its signal, not from `wait`.
pub(super) fn signal_handshake(case: &Case<'_>) -> Result<(), String> {
    let trace = &case.run.trace;
    let parent = trace.root().expect("checked by completed()");
    let workers: Vec<(ProcId, &crate::trace::Process)> = trace.children_of(0).collect();
    if workers.is_empty() {
        return Err("the parent forked no worker: nobody to exchange signals with".to_string());
    }
    for (id, worker) in workers {
        let Some((_, notify, notified_at)) = worker.signals_sent().find(|(to, ..)| *to == Some(0))
        else {
            let elsewhere: Vec<String> = worker
                .signals_sent()
                .map(|(to, signal, _)| {
                    let target = to.map_or("a process outside the run".to_string(), |t| {
                        trace.processes[t].name()
                    });
                    format!("{} to {target}", signal_label(signal))
                })
                .collect();
            return Err(if elsewhere.is_empty() {
                format!(
                    "{} never signalled the parent: it must notify the parent (kill or \
                     sigqueue with the parent's pid) once its factors are in shared memory",
                    worker.name()
                )
            } else {
                format!(
                    "{} never signalled the parent; it sent {}",
                    worker.name(),
                    elsewhere.join(", ")
                )
            });
        };
        let ack = parent
            .signals_sent()
            .find(|(to, _, at)| *to == Some(id) && *at > notified_at);
        let Some((_, ack_signal, acked_at)) = ack else {
            return Err(format!(
                "the parent never signalled {} back after its {}: it must acknowledge each \
                 notification, and the worker wait for that acknowledgement before exiting",
                worker.name(),
                signal_label(notify)
            ));
        };
        if let Some(ended_at) = worker.ended_at
            && ended_at < acked_at
        {
            return Err(format!(
                "{} exited before the parent's acknowledgement ({}) reached it: a worker must \
                 wait for the acknowledgement (sigwaitinfo or sigsuspend) before exiting, so \
                 that the parent learns of its completion from the signal, not from wait",
                worker.name(),
                signal_label(ack_signal)
            ));
        }
    }
    Ok(())
}

/// No write to stdout or stderr from inside a signal handler (println!, eprintln!, printf
/// take locks the interrupted code may hold). The run must have used signals at all.
pub(super) fn handlers_async_signal_safe(case: &Case<'_>) -> Result<(), String> {
    let trace = &case.run.trace;
    if !trace
        .processes
        .iter()
        .any(|p| p.signals_sent().next().is_some())
    {
        return Err("no process signalled another: there is nothing to judge".to_string());
    }
    for process in &trace.processes {
        for event in &process.events {
            if let Event::Write {
                syscall,
                stream,
                sample,
                in_handler: Some(signal),
                ..
            } = event
            {
                let stream = match stream {
                    crate::trace::Stream::Stdout => "stdout".to_string(),
                    crate::trace::Stream::Stderr => "stderr".to_string(),
                    crate::trace::Stream::Other(target) => visible(target).into_owned(),
                };
                return Err(format!(
                    "{} called {syscall} on {stream} ({}) from inside its {} handler: \
                     println!, eprintln! and printf are not async-signal-safe (they lock the \
                     stream the interrupted code may be holding)",
                    process.name(),
                    quoted(sample),
                    signal_label(*signal)
                ));
            }
        }
    }
    Ok(())
}

/// The parent waits for signals by sleeping in the kernel (sigsuspend, sigwaitinfo, pause),
/// not by polling a flag between naps (any of `SLEEP_CALLS`: nanosleep, sched_yield, a
/// poll or select with a timeout …).
pub(super) fn waits_for_signals(case: &Case<'_>, max_naps: u64) -> Result<(), String> {
    let parent = case.run.trace.root().expect("checked by completed()");
    let waits = parent
        .events
        .iter()
        .filter(|e| matches!(e, Event::SignalWait { .. }))
        .count();
    let naps: Vec<(String, u64)> = SLEEP_CALLS
        .iter()
        .filter_map(|call| {
            let name = call.name();
            let calls = parent.syscall_counts.get(name).map_or(0, |c| c.calls);
            (calls > 0).then(|| (name.to_string(), calls))
        })
        .collect();
    let total: u64 = naps.iter().map(|(_, calls)| calls).sum();
    if total > max_naps {
        let list: Vec<String> = naps
            .iter()
            .map(|(name, calls)| format!("{name} {calls} times"))
            .collect();
        return Err(format!(
            "{} called {}: a loop that naps and looks at a flag, not a wait for the signal",
            parent.name(),
            list.join(" and ")
        ));
    }
    if waits == 0 {
        return Err(format!(
            "{} never waited for a signal (sigsuspend, sigwaitinfo or pause)",
            parent.name()
        ));
    }
    Ok(())
}

/// The factor contract on a run where the tracer forced an order of events (the input's
/// `hold`); a failure is told as the story of that order.
pub(super) fn forced_ordering(case: &Case<'_>) -> Result<(), String> {
    let run = case.run;
    let held = held_events(&run.trace);
    let judged = completed(case).and_then(|()| factors::factors(case));
    let Err(problem) = judged else {
        return if held.is_empty() {
            Err(never_forced(&run.trace))
        } else {
            Ok(())
        };
    };
    if held.is_empty() {
        return Err(problem);
    }
    let story = held
        .iter()
        .map(|(who, point, until, met, waited_ms)| {
            format!(
                "the grader held {who} {point} {until}{} ({waited_ms} ms)",
                if *met { "" } else { ", which never happened" }
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    Err(format!(
        "{story}. {}",
        diagnose(run).unwrap_or_else(|| format!("Then: {problem}"))
    ))
}

/// The holds that happened: who, where, until what, whether it came, how long.
fn held_events(trace: &Trace) -> Vec<(String, String, String, bool, u64)> {
    trace
        .processes
        .iter()
        .flat_map(|p| {
            p.events.iter().filter_map(move |e| match e {
                Event::Held {
                    point,
                    until,
                    met,
                    waited_ms,
                    ..
                } => Some((p.name(), point.clone(), until.clone(), *met, *waited_ms)),
                _ => None,
            })
        })
        .collect()
}

fn never_forced(trace: &Trace) -> String {
    let signals = trace
        .descendants()
        .any(|(_, p)| p.signals_sent().any(|(to, ..)| to == Some(0)));
    if signals {
        "the order this check forces never came about (the parent did not fork as many \
         workers as expected)"
            .to_string()
    } else {
        "the order this check forces never came about: no worker signalled the parent".to_string()
    }
}

/// What the forced order did to the program, when it is one of the classic outcomes.
fn diagnose(run: &RunOutcome) -> Option<String> {
    let trace = &run.trace;
    // Killed by a signal's default action: it arrived before a handler was installed.
    for process in &trace.processes {
        if let Some(End::Signaled { signal, .. }) = process.end {
            let delivered = process
                .events
                .iter()
                .any(|e| matches!(e, Event::Signal { signal: s, .. } if *s == signal));
            if delivered {
                return Some(format!(
                    "Then {} was killed by {}: the signal arrived before it had installed a \
                     handler or blocked it, and its default action ends the process. Block \
                     the signal (or install the handler) before forking.",
                    process.name(),
                    signal_label(signal)
                ));
            }
        }
    }
    if run.status == RunStatus::TimedOut {
        let mut message = "Then the program never finished: a signal came before the process \
                           waiting for it was ready, was handled (or merged with another of \
                           its kind) before the wait began, and nothing else will come. A \
                           signal sent early stays pending only if it is blocked: block it \
                           before forking and wait with sigwaitinfo or sigsuspend."
            .to_string();
        for line in hang::explain(run) {
            message.push_str("\n  ");
            message.push_str(&line);
        }
        return Some(message);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_time_signals_are_named_from_sigrtmin() {
        // nix's Signal has no real-time signals; the names count from SIGRTMIN.
        assert_eq!(signal_label(libc::SIGRTMIN()), "SIGRTMIN");
        assert_eq!(signal_label(libc::SIGRTMIN() + 1), "SIGRTMIN+1");
        assert_eq!(signal_label(libc::SIGUSR1), "SIGUSR1");
    }
}
