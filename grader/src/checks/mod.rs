//! The generic checks a rubric can name, each a pure function of the runs it is given.
//!
//! A check sees only [`Case`]s: the input fed and the [`RunOutcome`] (trace, output, leaks,
//! hang snapshot). It never runs anything itself, so checks can be tested on recorded or
//! hand-made traces, and every front end gets the same verdict from the same runs.
//!
//! # What a check needs of a run
//!
//! A run may not finish as a program should: the grader cuts it (time limit, process or
//! task limit), or it ends by a panic or a signal ([`unfinished`]). What that costs depends
//! on the facts a check judges, declared by [`CheckKind::needs`] (the rubric declares
//! nothing for it):
//!
//! - [`Needs::Prefix`]: facts that a prefix of the trace settles (a third fork, a worker
//!   writing to stdout, the channel used, an unused end still open). On an unfinished run
//!   the check judges what the trace shows and says that the run did not finish. A failure
//!   seen is a failure. A pass must be one the prefix settles (`judge_prefix` says when).
//! - [`Needs::End`]: facts only the end shows (all the output, the exit status, reaping,
//!   removal at exit). An unfinished run fails the check, for that reason.
//! - [`Needs::Itself`]: the check explains an unfinished run in its own terms.
//!
//! Whatever the need, a check's own logic looks for the structure it judges (a check about
//! pipes fails a program that made no pipe: no points for doing nothing).

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

/// What a check needs of a run to judge it (see the module's documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    /// Facts a prefix of the trace settles: judged on an unfinished run too.
    Prefix,
    /// Facts only the run's end shows: an unfinished run fails the check.
    End,
    /// The check judges an unfinished run itself, in its own terms.
    Itself,
}

impl CheckKind {
    /// What this check needs of a run: the one place that says which checks an unfinished
    /// run fails.
    pub fn needs(&self) -> Needs {
        match self {
            // All the output, and the exit status.
            CheckKind::Factors | CheckKind::ExactlyOnce => Needs::End,
            // The exit status and the one stderr line; nothing left at the end.
            CheckKind::RejectsBadInput => Needs::End,
            // A fork beyond the count, a worker that forks, a worker that crashed; a pass
            // also needs the parent past forking (`settles_pass`).
            CheckKind::WorkerCount { .. } => Needs::Prefix,
            // A worker's write to stdout.
            CheckKind::OnlyParentPrints => Needs::Prefix,
            // The channel made before the first fork, held by the workers; another used.
            CheckKind::Channel { .. } | CheckKind::SharedBuffer => Needs::Prefix,
            // An unused end still open where the run stopped (a reader blocked on a pipe
            // whose write end it holds itself is the classic).
            CheckKind::ClosesUnusedPipeEnds | CheckKind::ClosesUnusedSocketEnds => Needs::Prefix,
            // Reaping, detaching, unmapping and removing happen at the end.
            CheckKind::ReapsChildren
            | CheckKind::ShmDetached
            | CheckKind::ShmRemoved
            | CheckKind::ObjectsRemoved
            | CheckKind::PosixShmUnmapped
            | CheckKind::PosixShmUnlinked => Needs::End,
            // CPU time only grows: too much so far is settled, a pass is not
            // (`settles_pass`).
            CheckKind::NoBusyWait { .. } => Needs::Prefix,
            // A worker exits only after the acknowledgement: its exit is the fact.
            CheckKind::SignalHandshake => Needs::End,
            // A write in a handler; naps beside the signal waits.
            CheckKind::HandlersAsyncSignalSafe | CheckKind::WaitsForSignals { .. } => Needs::Prefix,
            CheckKind::ForcedOrdering | CheckKind::ClientScript => Needs::Itself,
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
    /// On a pass judged on an unfinished run: which run, and that it did not finish.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
    /// The unfinished run the message tells of, if any (see [`RunFailure`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_failure: Option<RunFailure>,
}

impl Verdict {
    pub fn pass() -> Verdict {
        Verdict {
            passed: true,
            message: String::new(),
            note: String::new(),
            run_failure: None,
        }
    }

    pub fn fail(message: impl Into<String>) -> Verdict {
        Verdict {
            passed: false,
            message: message.into(),
            note: String::new(),
            run_failure: None,
        }
    }
}

/// Why a run did not finish as a program should ([`unfinished`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unfinished {
    /// One clause, after "the program": `did not finish within 8 s and was killed`,
    /// `panicked: not yet implemented: read a line`.
    pub summary: String,
    /// How it stopped, in a few words after "it": `was cut after 8 s`, `panicked`.
    pub stopped: String,
    /// The lines that explain it (the hang diagnosis), if any.
    pub story: Vec<String>,
    /// True if the grader cut the run (time limit, process or task limit), so processes
    /// were stopped in the middle of what they did; false if the program ended by itself
    /// (a panic, a signal).
    pub cut: bool,
}

/// An unfinished run as a failed check's message tells it: the input, the summary and the
/// story. The report tells the story once, under the first check that fails on that run,
/// and refers to it from the others ([`crate::grade::Report::new`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunFailure {
    pub input: String,
    pub summary: String,
    pub story: Vec<String>,
    /// The message without the story, used when the story is told elsewhere.
    #[serde(skip)]
    pub without_story: String,
}

/// Judges a check on its cases: the first case that fails decides, and its message names
/// the input. What an unfinished case costs depends on [`CheckKind::needs`].
pub fn evaluate(kind: &CheckKind, cases: &[Case<'_>]) -> Verdict {
    let mut notes = Vec::new();
    // A pass on a run cut while some process was still running its own code is only
    // tentative: it counts if some case of the check ran to its end and passed.
    let mut tentative: Option<(String, String)> = None;
    let mut finished_pass = false;
    for case in cases {
        let why = unfinished(case.run);
        let result = match (kind.needs(), &why) {
            (Needs::Itself, _) => match kind {
                CheckKind::ForcedOrdering => signals::forced_ordering(case),
                _ => service::client_script(case),
            },
            (_, None) => {
                let judged = evaluate_completed(kind, case);
                finished_pass |= judged.is_ok();
                judged
            }
            (Needs::End, Some(why)) => {
                return failed_on(case, why, format!("the program {}.", why.summary));
            }
            (Needs::Prefix, Some(why)) => match judge_prefix(kind, case, why) {
                Ok(Settled::Firm) => {
                    notes.push(prefix_note(case, why));
                    Ok(())
                }
                Ok(Settled::Tentative(running)) => {
                    notes.push(prefix_note(case, why));
                    tentative.get_or_insert((case.describe(), running));
                    Ok(())
                }
                Err(message) => {
                    return failed_on(
                        case,
                        why,
                        format!(
                            "{message} (judged on what the run did until it stopped: the \
                             program {})",
                            why.summary
                        ),
                    );
                }
            },
        };
        if let Err(message) = result {
            // A cap the run hit is the likeliest cause of what went wrong after it.
            let mut message = format!("on {}: {message}", case.describe());
            for place in &case.run.filled {
                message.push_str(&format!(" ({})", place.describe()));
            }
            return Verdict::fail(message);
        }
    }
    if let Some((input, running)) = tentative
        && !finished_pass
    {
        return Verdict::fail(format!(
            "on {input}: the run was cut while {running} still running, not waiting for \
             anything, and no other input of this check ran to its end: what the program would \
             have done next is not known"
        ));
    }
    Verdict {
        note: notes.join("; "),
        ..Verdict::pass()
    }
}

/// A failed verdict on an unfinished run: `message` about it, then the run's story.
fn failed_on(case: &Case<'_>, why: &Unfinished, message: String) -> Verdict {
    let without_story = format!("on {}: {message}", case.describe());
    let mut full = without_story.clone();
    for line in &why.story {
        full.push_str("\n  ");
        full.push_str(line);
    }
    Verdict {
        run_failure: Some(RunFailure {
            input: case.input.to_string(),
            summary: why.summary.clone(),
            story: why.story.clone(),
            without_story,
        }),
        ..Verdict::fail(full)
    }
}

fn prefix_note(case: &Case<'_>, why: &Unfinished) -> String {
    format!(
        "judged on what the run on `{}` did before it {}",
        case.input, why.stopped
    )
}

/// How firmly a prefix settles a pass.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Settled {
    /// Nothing the program could still do would change the verdict: every process had
    /// ended, or was blocked (not napping) when the run was cut, so nothing could wake it.
    Firm,
    /// Some process (named) was cut while running its own code.
    Tentative(String),
}

/// A prefix-settled check on an unfinished run.
///
/// The check's own logic judges the trace as recorded (the tracer records each killed
/// process's descriptors and counters at its exit stop, so "at exit" means "where the run
/// was cut"). A failure it finds is a failure. A pass must be one the prefix settles, which
/// is what an instructor can defend to a student:
/// - The check's own condition (`settles_pass`): `worker-count` passes only if the parent
///   had forked exactly the workers and could fork no more (it had ended, or was blocked
///   waiting for them in a call that is not a nap); `no-busy-wait` never passes on a run
///   that did not finish, since CPU time only grows.
/// - The run's state: if every process had ended or was blocked when the run was cut, the
///   trace is all the program would ever do, and the pass is firm. If some process was
///   still running its own code (a worker computing), it might yet do what the check
///   forbids; the pass then counts only if another input of the same check ran to its end
///   and passed, so that the program's whole path was seen at least once ([`evaluate`]).
fn judge_prefix(kind: &CheckKind, case: &Case<'_>, why: &Unfinished) -> Result<Settled, String> {
    if case.run.trace.root().is_none() {
        return Err("the program did not start".to_string());
    }
    evaluate_completed(kind, case)?;
    settles_pass(kind, case)?;
    if !why.cut {
        return Ok(Settled::Firm);
    }
    let running: Vec<String> = case
        .run
        .trace
        .processes
        .iter()
        .filter(|p| p.end == Some(End::Killed) && !hang::was_blocked(case.run, p.pid))
        .map(|p| p.name())
        .collect();
    Ok(match running.len() {
        0 => Settled::Firm,
        1 => Settled::Tentative(format!("{} was", running[0])),
        _ => Settled::Tentative(format!("{} were", and_list(&running))),
    })
}

/// A check's own condition for a pass on an unfinished run (see [`judge_prefix`]).
fn settles_pass(kind: &CheckKind, case: &Case<'_>) -> Result<(), String> {
    let run = case.run;
    match kind {
        CheckKind::WorkerCount { workers } => {
            let root = run.trace.root().expect("checked by judge_prefix");
            if root.end == Some(End::Killed) && !hang::was_blocked(run, root.pid) {
                return Err(format!(
                    "the parent had forked {workers} workers, but the run was cut while it was \
                     still running its own code, so it could have forked more: the count is \
                     not known"
                ));
            }
            Ok(())
        }
        CheckKind::NoBusyWait { .. } => Err(
            "the run did not finish, so the CPU time it would have used is not known".to_string(),
        ),
        _ => Ok(()),
    }
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

/// Can this run be judged as a whole? Not if it hung, forked without end, panicked or
/// crashed: the message says which, with the hang diagnosis.
pub fn completed(case: &Case<'_>) -> Result<(), String> {
    match unfinished(case.run) {
        None => Ok(()),
        Some(why) => {
            let mut message = format!("the program {}.", why.summary);
            for line in &why.story {
                message.push_str("\n  ");
                message.push_str(line);
            }
            Err(message)
        }
    }
}

/// Why the run did not finish as a program should, or `None` if it did: it ended by itself,
/// without a panic, and its first process was not killed by a signal.
pub fn unfinished(run: &RunOutcome) -> Option<Unfinished> {
    let cut = |stopped: String, summary: String, story: Vec<String>| {
        Some(Unfinished {
            summary,
            stopped,
            story,
            cut: true,
        })
    };
    match run.status {
        RunStatus::TimedOut => {
            let limit = run.wall.as_secs_f64().floor();
            // Still computing is not a deadlock: say who, and how much CPU it had used.
            let computing: Vec<String> = hang::still_computing(run)
                .into_iter()
                .map(|(who, ms)| format!("{who} had used {} of CPU", hang::seconds(ms)))
                .collect();
            let summary = if computing.is_empty() {
                format!("did not finish within {limit:.0} s and was killed")
            } else {
                format!(
                    "was still computing after {limit:.0} s and was killed: {}",
                    and_list(&computing)
                )
            };
            return cut(
                format!("was cut after {limit:.0} s"),
                summary,
                hang::explain(run),
            );
        }
        RunStatus::ProcessLimit => {
            return cut(
                "was cut at the process limit".to_string(),
                format!(
                    "created {} processes, more than the limit, and was killed (a fork inside a \
                     loop, or a worker that returns into the parent's code?)",
                    run.trace.processes.len()
                ),
                Vec::new(),
            );
        }
        RunStatus::TaskLimit => {
            let threads: usize = run.trace.processes.iter().map(|p| p.threads).sum();
            return cut(
                "was cut at the task limit".to_string(),
                format!(
                    "created {} processes and {threads} threads, more tasks than the limit, and \
                     was killed (threads started inside a loop?)",
                    run.trace.processes.len()
                ),
                Vec::new(),
            );
        }
        RunStatus::Completed => {}
    }
    let ended = |stopped: String, summary: String| {
        Some(Unfinished {
            summary,
            stopped,
            story: Vec::new(),
            cut: false,
        })
    };
    if let Some(panic) = panic_message(&run.stderr.text()) {
        return ended(
            "panicked".to_string(),
            format!("panicked: {}", visible(&panic)),
        );
    }
    let Some(root) = run.trace.root() else {
        return ended("did not start".to_string(), "did not start".to_string());
    };
    match root.end {
        Some(End::Signaled { signal, .. }) => ended(
            format!("was killed by {}", signal_name(signal)),
            format!("was killed by signal {} ({})", signal, signal_name(signal)),
        ),
        _ => None,
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

/// True if the grader cut this process short: it was killed with the whole run (the run's
/// first process was killed too: a time or process limit), not because it outlived the
/// parent. What it had not done yet, it might still have done.
fn cut_short(trace: &crate::trace::Trace, process: &crate::trace::Process) -> bool {
    process.end == Some(End::Killed) && trace.root().is_some_and(|r| r.end == Some(End::Killed))
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
    use crate::run::{Captured, Isolation};
    use crate::trace::live::{BlockedCall, ProcessSnapshot};
    use crate::trace::{Event, Process, Trace};
    use std::time::Duration;

    /// What a process was doing when a run was cut.
    #[derive(Clone, Copy)]
    enum At {
        /// Blocked in this call.
        Blocked(syscalls::Sysno),
        Running,
        /// Ended by itself before the cut.
        Exited,
    }

    /// A parent that forked two workers, each in the state given; `None` for the parent
    /// means the run completed (everyone exited 0).
    fn run(parent: Option<At>, workers: [At; 2]) -> RunOutcome {
        let mut root = Process::new(100, None, "parent".into());
        for child in [1, 2] {
            root.events.push(Event::Spawn {
                child,
                thread: false,
            });
        }
        let mut processes = vec![root];
        for pid in [101, 102] {
            processes.push(Process::new(pid, Some(0), format!("worker {}", pid - 100)));
        }
        let states = [parent.unwrap_or(At::Exited), workers[0], workers[1]];
        let mut hang = Vec::new();
        for (process, at) in processes.iter_mut().zip(states) {
            process.end = Some(match at {
                At::Exited => End::Exited { code: 0 },
                _ => End::Killed,
            });
            let (state, syscall) = match at {
                At::Blocked(sysno) => (
                    'S',
                    Some(BlockedCall {
                        nr: sysno.id() as i64,
                        args: [3, 0, 0, 0, 0, 0],
                    }),
                ),
                At::Running => ('R', None),
                At::Exited => continue,
            };
            hang.push(ProcessSnapshot {
                pid: process.pid,
                state,
                syscall,
                fds: Vec::new(),
            });
        }
        RunOutcome {
            status: if parent.is_some() {
                RunStatus::TimedOut
            } else {
                RunStatus::Completed
            },
            trace: Trace {
                processes,
                full: false,
                clock: 0,
            },
            stdout: Captured::default(),
            stderr: Captured::default(),
            wall: Duration::from_secs(8),
            hang,
            cpu_at_cut: Vec::new(),
            leaks: Vec::new(),
            filled: Vec::new(),
            isolation: Isolation::Fallback,
            client: Vec::new(),
        }
    }

    fn case<'a>(input: &'a str, run: &'a RunOutcome) -> Case<'a> {
        Case {
            input,
            stdin: "60\n",
            args: &[],
            run,
        }
    }

    const TWO: CheckKind = CheckKind::WorkerCount { workers: 2 };

    /// A run that filled its private /tmp and then failed a check is told so, in the
    /// failure's message: the cap is the likeliest cause.
    #[test]
    fn a_filled_tmpfs_is_named_in_the_failure() {
        let mut full = run(None, [At::Exited, At::Exited]);
        full.filled.push(crate::run::FilledPlace {
            path: "/tmp".to_string(),
            cap_bytes: 128 << 20,
        });
        let verdict = evaluate(&CheckKind::Factors, &[case("small", &full)]);
        assert!(!verdict.passed, "{verdict:?}");
        assert!(
            verdict.message.ends_with(
                "(/tmp was full: the run filled its 128 MiB cap there, and writes \
                    past it failed (ENOSPC, \"No space left on device\"))"
            ),
            "{}",
            verdict.message
        );
    }

    #[test]
    fn a_deadlock_settles_what_its_trace_shows() {
        // Everyone blocked: nothing could change, so the trace alone settles the count.
        let read = At::Blocked(syscalls::Sysno::read);
        let write = At::Blocked(syscalls::Sysno::write);
        let stuck = run(Some(read), [write, At::Exited]);
        let verdict = evaluate(&TWO, &[case("large", &stuck)]);
        assert!(verdict.passed, "{verdict:?}");
        assert_eq!(
            verdict.note,
            "judged on what the run on `large` did before it was cut after 8 s"
        );
        // What needs the end fails, for that reason.
        let reaped = evaluate(&CheckKind::ReapsChildren, &[case("large", &stuck)]);
        assert!(!reaped.passed);
        assert!(
            reaped.message.starts_with(
                "on input `large` (\"60\"): the program did not finish within 8 s and was killed."
            ),
            "{}",
            reaped.message
        );
        assert_eq!(reaped.run_failure.unwrap().input, "large");
    }

    #[test]
    fn a_pass_while_workers_compute_needs_a_finished_run_beside_it() {
        let computing = run(
            Some(At::Blocked(syscalls::Sysno::read)),
            [At::Running, At::Running],
        );
        let alone = evaluate(&TWO, &[case("large", &computing)]);
        assert!(!alone.passed);
        assert!(
            alone.message.contains(
                "cut while worker 1 (pid 101) and worker 2 (pid 102) were still running, not \
                 waiting for anything, and no other input of this check ran to its end"
            ),
            "{}",
            alone.message
        );
        let finished = run(None, [At::Exited, At::Exited]);
        let both = evaluate(&TWO, &[case("small", &finished), case("large", &computing)]);
        assert!(both.passed, "{both:?}");
        assert!(
            both.note.contains("the run on `large` did"),
            "{}",
            both.note
        );
    }

    #[test]
    fn the_count_is_not_settled_while_the_parent_could_still_fork() {
        let finished = run(None, [At::Exited, At::Exited]);
        for parent in [At::Running, At::Blocked(syscalls::Sysno::nanosleep)] {
            let busy = run(Some(parent), [At::Exited, At::Exited]);
            let verdict = evaluate(&TWO, &[case("small", &finished), case("large", &busy)]);
            assert!(!verdict.passed);
            assert!(
                verdict.message.contains("could have forked more"),
                "{}",
                verdict.message
            );
        }
        // A failure the prefix shows is a failure, with the run named.
        let three = evaluate(
            &CheckKind::WorkerCount { workers: 3 },
            &[case(
                "large",
                &run(Some(At::Running), [At::Exited, At::Exited]),
            )],
        );
        assert!(
            three.message.contains("the parent forked 2 processes")
                && three
                    .message
                    .contains("(judged on what the run did until it stopped: the program did not"),
            "{}",
            three.message
        );
    }

    #[test]
    fn cpu_time_to_the_end_is_not_known_on_a_cut_run() {
        let stuck = run(
            Some(At::Blocked(syscalls::Sysno::wait4)),
            [At::Exited, At::Exited],
        );
        let verdict = evaluate(
            &CheckKind::NoBusyWait { max_cpu_ms: 100 },
            &[case("large", &stuck)],
        );
        assert!(!verdict.passed);
        assert!(verdict.message.contains("CPU time"), "{}", verdict.message);
    }

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
