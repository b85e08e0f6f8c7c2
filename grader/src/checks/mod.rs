//! The generic checks a rubric can name, each a pure function of the runs it is given.
//!
//! A check sees only [`Case`]s: the input fed and the [`RunOutcome`] (trace, output, leaks,
//! hang snapshot). It never runs anything itself, so checks can be tested on recorded or
//! hand-made traces, and every front end gets the same verdict from the same runs.
//!
//! Every check first asks [`completed`] whether the run can be judged at all (it did not
//! hang, panic or get killed); its own logic then looks for the structure it judges (a check
//! about pipes fails a program that made no pipe: no points for doing nothing).

mod channel;
mod factors;
mod lifecycle;
mod processes;
mod ring;
mod service;
pub mod signals;

use crate::escape::visible;
use crate::run::{Leak, RunOutcome, RunStatus, hang};
use crate::trace::{End, Topic};
use serde::{Deserialize, Serialize};

/// A generic check and its parameters, as a rubric names it (`kind = "..."`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum CheckKind {
    /// The output is exactly the contract's for the input (prompt, factors once, Finished.).
    Factors,
    /// Bad input: `error:` line on stderr, exit status 2, no fork, nothing left behind.
    RejectsBadInput,
    /// The parent forks exactly `workers` processes; workers fork none.
    WorkerCount { workers: usize },
    /// Only the first process writes to stdout.
    OnlyParentPrints,
    /// Results travel from the workers to the parent through `mechanism`, and nothing else.
    Channel { mechanism: Mechanism },
    /// Every process closes the pipe ends it does not use (workers write, the parent reads).
    ClosesUnusedPipeEnds,
    /// The parent reaps every child before its last output.
    ReapsChildren,
    /// Every process that had a System V segment attached detaches it.
    ShmDetached,
    /// The parent removes every segment (IPC_RMID); none is left behind.
    ShmRemoved,
    /// Every named IPC object the run created — a FIFO, a message queue, a socket file — is
    /// removed before the program ends; the run must have created one.
    ObjectsRemoved,
    /// Every process closes the sockets it does not use: workers the parent's listening
    /// socket (or the parent's end of a socket pair), the parent the workers' end of a pair.
    ClosesUnusedSocketEnds,
    /// Every process that had a shared mapping of a /dev/shm object (mapped or inherited at
    /// fork) unmaps it (munmap) before exiting.
    PosixShmUnmapped,
    /// The parent unlinks every /dev/shm object the run created (shm_unlink); none is left.
    PosixShmUnlinked,
    /// The `ring` contract's output: every item consumed exactly once, each producer's items
    /// in order in what each consumer took, then Finished.
    ExactlyOnce,
    /// The run's processes together used at most `max-cpu-ms` of CPU time: waiting blocks
    /// (sem_wait) instead of spinning.
    #[serde(rename_all = "kebab-case")]
    NoBusyWait { max_cpu_ms: u64 },
    /// The parent maps a shared region (mmap MAP_SHARED, or a System V segment) before
    /// forking, and no other channel (pipe, socket, queue, FIFO, file) is used.
    SharedBuffer,
    /// Each worker signals the parent, the parent signals it back, and the worker exits only
    /// after that acknowledgement.
    SignalHandshake,
    /// No handler writes to stdout or stderr (not async-signal-safe); signals were used.
    HandlersAsyncSignalSafe,
    /// The parent waits in sigsuspend, sigwaitinfo or pause, with at most `max-naps` calls
    /// of nanosleep, clock_nanosleep or sched_yield (a polling loop makes many).
    #[serde(rename_all = "kebab-case")]
    WaitsForSignals { max_naps: u64 },
    /// The `factor` contract holds on a run whose input forces an order of events (`hold`);
    /// a failure is explained as what the forced order did.
    ForcedOrdering,
    /// Every step of the input's client script went as expected (the grader plays the
    /// client of a server), and a server told to stop exited with status 0.
    ClientScript,
}

/// An IPC mechanism a part must use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mechanism {
    /// An anonymous pipe, `pipe(2)`.
    Pipe,
    /// One System V shared-memory segment.
    SysvShm,
    /// A named pipe made with `mkfifo`, opened by path.
    Fifo,
    /// A POSIX message queue, `mq_open`.
    Mqueue,
    /// Unix-domain stream sockets: a `socketpair`, or a socket bound to a path that the
    /// workers connect to.
    UnixSocket,
    /// A POSIX shared-memory object (`shm_open`, a file under /dev/shm) mapped with
    /// MAP_SHARED before forking.
    PosixShm,
}

impl Mechanism {
    /// The calls, besides the common ones, that show this mechanism at work.
    fn topics(self) -> Vec<Topic> {
        match self {
            Mechanism::Pipe | Mechanism::SysvShm | Mechanism::Fifo => vec![],
            Mechanism::Mqueue => vec![Topic::Mqueue],
            Mechanism::UnixSocket => vec![Topic::Sockets],
            Mechanism::PosixShm => vec![Topic::PosixShm],
        }
    }
}

impl CheckKind {
    /// The system calls this check needs the tracer to record.
    pub fn topics(&self) -> Vec<Topic> {
        match self {
            CheckKind::Factors => vec![],
            // Anything created before validating: segments, FIFOs, queues, socket files.
            CheckKind::RejectsBadInput => vec![
                Topic::SysvShm,
                Topic::Files,
                Topic::OtherIpc,
                Topic::Sockets,
            ],
            CheckKind::WorkerCount { .. } => vec![],
            CheckKind::OnlyParentPrints => vec![Topic::StdoutWrites],
            CheckKind::Channel { mechanism } => {
                let mut topics = vec![
                    Topic::StdoutWrites,
                    Topic::Pipes,
                    Topic::Files,
                    Topic::SysvShm,
                    Topic::OtherIpc,
                ];
                topics.extend(mechanism.topics());
                topics
            }
            CheckKind::ClosesUnusedPipeEnds => vec![Topic::Pipes],
            CheckKind::ReapsChildren => vec![Topic::Waits, Topic::StdoutWrites],
            CheckKind::ShmDetached => vec![Topic::SysvShm],
            CheckKind::ShmRemoved => vec![Topic::SysvShm],
            CheckKind::ObjectsRemoved => vec![Topic::Files, Topic::Mqueue, Topic::Sockets],
            CheckKind::ClosesUnusedSocketEnds => vec![Topic::Sockets, Topic::Pipes],
            CheckKind::PosixShmUnmapped => vec![Topic::Files, Topic::PosixShm],
            CheckKind::PosixShmUnlinked => vec![Topic::Files],
            CheckKind::ExactlyOnce => vec![],
            // CPU times are read at every exit stop, whatever the filter.
            CheckKind::NoBusyWait { .. } => vec![],
            CheckKind::SharedBuffer => vec![
                Topic::OtherIpc,
                Topic::SysvShm,
                Topic::Pipes,
                Topic::Files,
                Topic::Sockets,
                Topic::Mqueue,
            ],
            CheckKind::SignalHandshake => vec![Topic::Signals],
            CheckKind::HandlersAsyncSignalSafe => vec![Topic::Signals, Topic::StdoutWrites],
            CheckKind::WaitsForSignals { .. } => vec![Topic::Waiting],
            // The holds are released by signals sent and by the parent's waits.
            CheckKind::ForcedOrdering => vec![Topic::Signals, Topic::Waiting, Topic::Waits],
            CheckKind::ClientScript => vec![],
        }
    }
}

/// One run a check judges: which input, and what happened.
#[derive(Debug, Clone, Copy)]
pub struct Case<'a> {
    pub input: &'a str,
    pub stdin: &'a str,
    pub args: &'a [String],
    pub run: &'a RunOutcome,
}

impl Case<'_> {
    /// `input "small" (60)`: how feedback names the case (by its arguments when it has
    /// no stdin).
    pub fn describe(&self) -> String {
        let shown = self.stdin.trim_end_matches('\n');
        if shown.is_empty() && !self.args.is_empty() {
            format!("input `{}` (`{}`)", self.input, self.args.join(" "))
        } else if shown.is_empty() {
            format!("input `{}` (empty)", self.input)
        } else {
            format!("input `{}` ({shown:?})", self.input)
        }
    }
}

/// A check's verdict on its runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    pub passed: bool,
    /// What was expected and what the trace showed; empty on a pass.
    pub message: String,
}

impl Verdict {
    pub fn pass() -> Verdict {
        Verdict {
            passed: true,
            message: String::new(),
        }
    }

    pub fn fail(message: impl Into<String>) -> Verdict {
        Verdict {
            passed: false,
            message: message.into(),
        }
    }
}

/// Judges a check on its cases: the first case that fails decides, and its message names
/// the input.
pub fn evaluate(kind: &CheckKind, cases: &[Case<'_>]) -> Verdict {
    for case in cases {
        let result = match kind {
            CheckKind::RejectsBadInput => factors::rejects_bad_input(case),
            // These explain an incomplete run themselves, in their own terms.
            CheckKind::ForcedOrdering => signals::forced_ordering(case),
            CheckKind::ClientScript => service::client_script(case),
            _ => completed(case).and_then(|()| evaluate_completed(kind, case)),
        };
        if let Err(message) = result {
            return Verdict::fail(format!("on {}: {message}", case.describe()));
        }
    }
    Verdict::pass()
}

fn evaluate_completed(kind: &CheckKind, case: &Case<'_>) -> Result<(), String> {
    match kind {
        CheckKind::Factors => factors::factors(case),
        CheckKind::RejectsBadInput => factors::rejects_bad_input(case),
        CheckKind::WorkerCount { workers } => processes::worker_count(case, *workers),
        CheckKind::OnlyParentPrints => processes::only_parent_prints(case),
        CheckKind::Channel { mechanism } => channel::channel(case, *mechanism),
        CheckKind::ClosesUnusedPipeEnds => channel::closes_unused_pipe_ends(case),
        CheckKind::ReapsChildren => processes::reaps_children(case),
        CheckKind::ShmDetached => lifecycle::shm_detached(case),
        CheckKind::ShmRemoved => lifecycle::shm_removed(case),
        CheckKind::ObjectsRemoved => lifecycle::objects_removed(case),
        CheckKind::ClosesUnusedSocketEnds => channel::closes_unused_socket_ends(case),
        CheckKind::PosixShmUnmapped => lifecycle::posix_shm_unmapped(case),
        CheckKind::PosixShmUnlinked => lifecycle::posix_shm_unlinked(case),
        CheckKind::ExactlyOnce => ring::exactly_once(case),
        CheckKind::NoBusyWait { max_cpu_ms } => ring::no_busy_wait(case, *max_cpu_ms),
        CheckKind::SharedBuffer => ring::shared_buffer(case),
        CheckKind::SignalHandshake => signals::signal_handshake(case),
        CheckKind::HandlersAsyncSignalSafe => signals::handlers_async_signal_safe(case),
        CheckKind::WaitsForSignals { max_naps } => signals::waits_for_signals(case, *max_naps),
        CheckKind::ForcedOrdering => signals::forced_ordering(case),
        CheckKind::ClientScript => service::client_script(case),
    }
}

/// Can this run be judged? Not if it hung, forked without end, panicked or crashed.
pub fn completed(case: &Case<'_>) -> Result<(), String> {
    let run = case.run;
    match run.status {
        RunStatus::TimedOut => {
            let mut message = format!(
                "the program did not finish within {:.0} s and was killed.",
                run.wall.as_secs_f64().floor()
            );
            for line in hang::explain(run) {
                message.push_str("\n  ");
                message.push_str(&line);
            }
            return Err(message);
        }
        RunStatus::ProcessLimit => {
            return Err(format!(
                "the program created {} processes, more than the limit; it was killed (a fork \
                 inside a loop, or a worker that returns into the parent's code?)",
                run.trace.processes.len()
            ));
        }
        RunStatus::TaskLimit => {
            let threads: usize = run.trace.processes.iter().map(|p| p.threads).sum();
            return Err(format!(
                "the program created {} processes and {threads} threads, more tasks than the \
                 limit; it was killed (threads started inside a loop?)",
                run.trace.processes.len()
            ));
        }
        RunStatus::Completed => {}
    }
    if let Some(panic) = panic_message(&run.stderr.text()) {
        return Err(format!("the program panicked: {}", visible(&panic)));
    }
    let Some(root) = run.trace.root() else {
        return Err("the program did not start".to_string());
    };
    match root.end {
        Some(End::Signaled { signal, .. }) => Err(format!(
            "the program was killed by signal {} ({})",
            signal,
            signal_name(signal)
        )),
        _ => Ok(()),
    }
}

/// The message of a Rust panic (e.g. a stub's `todo!`), from stderr.
pub fn panic_message(stderr: &str) -> Option<String> {
    let mut lines = stderr.lines();
    lines.find(|l| l.contains("panicked at"))?;
    let message: Vec<&str> = lines
        .take_while(|l| !l.starts_with("note:") && !l.starts_with("stack backtrace:"))
        .collect();
    Some(message.join(" ").trim().to_string())
}

/// The name of a signal number (`SIGSEGV`, `SIGRTMIN+1`), for messages. (nix names only
/// the classic signals.)
pub fn signal_name(signal: i32) -> String {
    let rtmin = libc::SIGRTMIN();
    if (rtmin..=libc::SIGRTMAX()).contains(&signal) {
        return match signal - rtmin {
            0 => "SIGRTMIN".to_string(),
            n => format!("SIGRTMIN+{n}"),
        };
    }
    nix::sys::signal::Signal::try_from(signal)
        .map(|s| s.as_str().to_string())
        .unwrap_or_else(|_| format!("signal {signal}"))
}

/// A leak in one line of feedback ([`Leak::describe`]), its path or name escaped: the
/// program chose it. (The `rm` command then names the escaped path, which is safe to show
/// but, for a name with control characters, not one to paste.)
pub fn leak_text(leak: &Leak) -> String {
    let mut leak = leak.clone();
    match &mut leak {
        Leak::PosixShm { path, .. }
        | Leak::Fifo { path, .. }
        | Leak::SocketFile { path, .. }
        | Leak::File { path, .. } => {
            *path = visible(path).into_owned();
        }
        Leak::MessageQueue { name, .. } => *name = visible(name).into_owned(),
        Leak::SysvShm { .. } | Leak::SysvSem { .. } | Leak::SysvMsg { .. } => {}
    }
    leak.describe()
}

/// Joins names as `a, b and c`.
/// The program's processes other than the first that ended badly, one phrase each:
/// "worker 2 (pid 812) was killed by signal 11 (SIGSEGV)", "worker 1 (pid 811) exited with
/// status 1". A process the grader killed (it outlived the parent, or the run timed out) is
/// not among them: that was not its own doing.
fn crashed_workers(trace: &crate::trace::Trace) -> Vec<String> {
    trace
        .descendants()
        .filter_map(|(_, process)| match process.end {
            Some(End::Signaled { signal, .. }) => Some(format!(
                "{} was killed by signal {signal} ({})",
                process.name(),
                signal_name(signal)
            )),
            Some(End::Exited { code }) if code != 0 => {
                Some(format!("{} exited with status {code}", process.name()))
            }
            _ => None,
        })
        .collect()
}

fn and_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_todo_message() {
        let stderr = "Give a number\nthread 'main' panicked at labs/lab11/src/bin/pipe.rs:10:5:\nnot yet implemented: read a line\nnote: run with `RUST_BACKTRACE=1`\n";
        assert_eq!(
            panic_message(stderr).as_deref(),
            Some("not yet implemented: read a line")
        );
        assert_eq!(panic_message("error: bad input\n"), None);
    }

    #[test]
    fn lists_read_naturally() {
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(and_list(&names(&["a"])), "a");
        assert_eq!(and_list(&names(&["a", "b", "c"])), "a, b and c");
    }
}
