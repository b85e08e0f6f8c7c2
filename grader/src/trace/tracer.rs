//! The ptrace loop: follows every process of a run and turns its stops into a [`Trace`].
//!
//! The traced program starts with `PTRACE_TRACEME` and two seccomp filters (see
//! [`crate::run::run`]). Its first stop is the SIGTRAP of its exec; there the tracer sets its
//! options, which every child inherits. From then on:
//!
//! - in **filtered** mode a process runs with `PTRACE_CONT` and stops only at the calls the
//!   filter returns `SECCOMP_RET_TRACE` for; a call whose result matters (a new fd, an id, a
//!   reaped pid) is resumed with `PTRACE_SYSCALL` once, to see its exit;
//! - in **full** mode every process runs with `PTRACE_SYSCALL` and every call is counted;
//! - a process that makes an alias of stdout (`dup(1)`) is switched to stepping every call,
//!   because a filter on fd numbers cannot follow the alias. Its children inherit that.
//!
//! Entry, exit and seccomp stops are told apart by `PTRACE_GET_SYSCALL_INFO`, never by a
//! toggled flag (restarted calls make two exits in a row look like entry/exit).
//!
//! This file is the story of one stop (`Tracer::on_stop`); the rooms it walks through:
//! [`wait`](super::wait) (waiting, restarting), [`tasks`](super::tasks) (who each task is,
//! births, deaths, shims), [`decode`] (what a call means),
//! [`fds`](super::fds) (descriptors and paths), [`handlers`](super::handlers) (signal
//! handlers running), [`hold`](super::hold) (forced orderings).

use super::decode::{self, Call};
use super::fds::{Paths, StdTargets};
use super::hold::{HoldPoint, HoldRule, Holds};
use super::interest::{Interest, Refusal, SIGNAL_SEND_CALLS, needs_exit_stop, refusal};
use super::live::LiveSet;
use super::mem::Tracee;
use super::model::{Event, ProcId, Stream, Trace};
use super::procfs;
use super::tasks::{Pending, ProcState, Tasks};
use super::wait::{Resume, Stop, Wait, Waited, restart, skip_syscall, wait_any};
use nix::sys::ptrace;
use nix::unistd::Pid;
use std::time::{Duration, Instant};
use syscalls::Sysno;

/// What the tracer needs to know about a run.
#[derive(Debug, Clone)]
pub struct TracerConfig {
    /// Step every call of every process (`strace -f -c`-like) instead of filtering.
    pub full: bool,
    /// The calls to record (and, in filtered mode, the filter's rules).
    pub interest: Interest,
    /// `/proc` targets of the run's stdout and stderr pipes, to recognise writes to them
    /// through any descriptor.
    pub stdout_target: String,
    pub stderr_target: String,
    /// More processes than this and the run is stopped (RLIMIT_NPROC does not bind root).
    pub max_processes: usize,
    /// More tasks alive at once (processes and threads) than this and the run is stopped:
    /// a thread flood would otherwise exhaust the machine's pids.
    pub max_tasks: usize,
    /// How many generations of shims stand before the program: 0, or 1 (the pid given to
    /// [`follow`] is a namespace's init, whose first fork child is the program), or 2 (it
    /// makes the namespaces and forks the init, which forks the program). Shims are followed
    /// only for those forks and left out of the trace (see `run::isolation`).
    pub shims: usize,
    /// A forced ordering: which process to hold stopped, where, and until when.
    pub hold: Option<HoldRule>,
}

/// What the loop produced.
#[derive(Debug, Default)]
pub struct TraceOutcome {
    pub trace: Trace,
    /// The run created more than `max_processes` processes and was killed.
    pub process_limit_hit: bool,
    /// The run created more than `max_tasks` tasks (threads included) and was killed.
    pub task_limit_hit: bool,
}

/// After the run is torn down (every process sent SIGKILL), how long the tracer waits for
/// the last exits before it gives up on them, so a run always ends (see `run::run`).
pub const TEARDOWN_GRACE: Duration = Duration::from_secs(3);

/// The state of one run's tracing; its parts live in the modules named at the top.
pub(super) struct Tracer<'a> {
    pub(super) config: &'a TracerConfig,
    pub(super) live: &'a LiveSet,
    pub(super) trace: Trace,
    /// Per process, indexed like `trace.processes`.
    pub(super) procs: Vec<ProcState>,
    pub(super) tasks: Tasks,
    pub(super) holds: Holds,
    std: StdTargets,
    pub(super) process_limit_hit: bool,
    pub(super) task_limit_hit: bool,
    /// Children of the first process so far (they are labelled `worker N`).
    pub(super) workers: usize,
    /// The interest sees both sigaction and rt_sigreturn, so handler runs can be followed.
    track_handlers: bool,
}

/// Follows `root` (a child of the calling thread that called `PTRACE_TRACEME` and exec'd,
/// or with [`TracerConfig::shims`], the shim that forks it) and everything it creates, until
/// every one of them has ended.
pub fn follow(root: i32, config: &TracerConfig, live: &LiveSet) -> TraceOutcome {
    live.add(root);
    let mut tracer = Tracer {
        config,
        live,
        trace: Trace {
            full: config.full,
            ..Trace::default()
        },
        procs: Vec::new(),
        tasks: Tasks::new(root, config.shims),
        holds: Holds::new(config.hold),
        std: StdTargets {
            stdout: config.stdout_target.clone(),
            stderr: config.stderr_target.clone(),
        },
        process_limit_hit: false,
        task_limit_hit: false,
        workers: 0,
        track_handlers: config.interest.names(Sysno::rt_sigaction)
            && config.interest.names(Sysno::rt_sigreturn),
    };
    if config.shims == 0 {
        tracer.add_root(root);
    }
    tracer.run();
    TraceOutcome {
        trace: tracer.trace,
        process_limit_hit: tracer.process_limit_hit,
        task_limit_hit: tracer.task_limit_hit,
    }
}

impl Tracer<'_> {
    fn run(&mut self) {
        let mut teardown_since: Option<Instant> = None;
        while !self.tasks.all_gone() {
            if teardown_since.is_none() && self.live.is_killing() {
                teardown_since = Some(Instant::now());
            }
            if teardown_since.is_some_and(|since| since.elapsed() > TEARDOWN_GRACE) {
                // Every process was sent SIGKILL long ago; whatever the kernel still holds
                // back must not hold the grader (the report says the run was killed).
                break;
            }
            // Poll while a process is held (its condition may come true without any stop,
            // and its time bound passes silently) and during teardown, which is bounded;
            // while a new task waits for its creator's event, which is due at once, poll
            // without sleeping (a thread-spawning program has one waiting most of the time).
            let how = if !self.holds.is_empty() || teardown_since.is_some() {
                Wait::Poll
            } else if self.tasks.awaits_creator() {
                Wait::PollBriefly
            } else {
                Wait::Block
            };
            match wait_any(how) {
                Waited::Stop(tid, status) => self.on_stop(tid, status),
                Waited::Idle => {}
                Waited::NoTracees => break,
            }
            self.after_stop();
        }
    }

    /// One stop: whose it is and what kind decide who handles it.
    fn on_stop(&mut self, tid: i32, status: i32) {
        let Some(stop) = Stop::of(status) else {
            return;
        };
        if self.tasks.is_shim(tid) {
            return self.on_shim_stop(tid, stop);
        }
        match stop {
            Stop::Ended(status) => self.on_gone(tid, status),
            _ if self.tasks.get(tid).is_none() => self.on_unknown_stop(tid, stop),
            _ if self.tasks.is_root_exec(tid) => self.on_root_exec(tid),
            Stop::Syscall => self.on_syscall_stop(tid),
            Stop::Event(event) => self.on_event(tid, event),
            Stop::Signal(sig) => self.on_signal(tid, sig),
        }
    }

    /// What time alone decides: holds whose bound passed, new tasks whose creator's event
    /// never came; and during teardown, nothing stays stopped.
    fn after_stop(&mut self) {
        if !self.holds.is_empty() {
            if self.live.is_killing() {
                // Killed processes must run to die.
                for tid in self.holds.release_all() {
                    restart(tid, Resume::Continue, 0);
                }
            } else {
                self.release_holds();
            }
        }
        self.adopt_stale();
    }

    /// Restarts every held thread whose condition is met or whose time bound has passed,
    /// noting in its process's events how long it was held and why it went on.
    fn release_holds(&mut self) {
        for release in self.holds.due(&self.trace, Instant::now()) {
            let at = self.tick();
            let event = self.holds.event(&release, at);
            self.trace.processes[release.proc].events.push(event);
            self.resume(release.tid, 0);
        }
    }

    fn on_event(&mut self, tid: i32, event: i32) {
        match event {
            libc::PTRACE_EVENT_FORK | libc::PTRACE_EVENT_VFORK | libc::PTRACE_EVENT_CLONE => {
                if let Ok(child) = ptrace::getevent(Pid::from_raw(tid)) {
                    self.on_spawn(tid, child as i32, event == libc::PTRACE_EVENT_CLONE);
                }
            }
            libc::PTRACE_EVENT_EXEC => self.on_exec(tid),
            libc::PTRACE_EVENT_EXIT => self.on_exit_stop(tid),
            libc::PTRACE_EVENT_SECCOMP => return self.on_syscall_stop(tid),
            _ => {}
        }
        self.resume(tid, 0);
    }

    /// A signal about to be delivered (recorded, and forwarded), or a group-stop (left).
    fn on_signal(&mut self, tid: i32, sig: i32) {
        if self.on_first_stop(tid) {
            return;
        }
        if ptrace::getsiginfo(Pid::from_raw(tid)).is_err() {
            // A group-stop (the process was stopped by SIGSTOP/SIGTSTP): leave it stopped, as
            // it would be untraced. The run's end or its timeout kills it.
            return;
        }
        let proc = self.tasks.proc_of(tid);
        let handled = self.track_handlers && self.procs[proc].dispositions.is_handled(sig);
        if handled {
            // Its handler runs now, until its rt_sigreturn.
            self.tasks.task_mut(tid).handlers.enter(sig);
        }
        if sig != libc::SIGCHLD {
            let at = self.tick();
            self.trace.processes[proc].events.push(Event::Signal {
                signal: sig,
                handled,
                at,
            });
        }
        // A signal the program ignores woke it only because it is traced: the call it
        // interrupted with EINTR is made again (see `restart`), and not counted twice.
        if let Some(nr) = super::restart::undo_spurious_eintr(tid, sig) {
            self.tasks.task_mut(tid).remade_call = Some(nr);
        }
        // Forward the signal: a tracer that swallows signals changes the program.
        self.resume(tid, sig);
    }

    fn on_syscall_stop(&mut self, tid: i32) {
        let Ok(info) = ptrace::syscall_info(Pid::from_raw(tid)) else {
            return self.resume(tid, 0); // Vanished mid-stop, or not a syscall stop after all.
        };
        match info.op {
            libc::PTRACE_SYSCALL_INFO_ENTRY | libc::PTRACE_SYSCALL_INFO_SECCOMP => {
                // SAFETY: for ENTRY and SECCOMP stops the kernel fills the `entry` or
                // `seccomp` member, which share the layout of `nr` and `args`.
                let (nr, args) = unsafe {
                    if info.op == libc::PTRACE_SYSCALL_INFO_ENTRY {
                        (info.u.entry.nr, info.u.entry.args)
                    } else {
                        (info.u.seccomp.nr, info.u.seccomp.args)
                    }
                };
                self.on_entry(tid, nr, args);
            }
            libc::PTRACE_SYSCALL_INFO_EXIT => {
                // SAFETY: for EXIT stops the kernel fills the `exit` member.
                let (ret, is_error) = unsafe { (info.u.exit.sval, info.u.exit.is_error != 0) };
                self.on_syscall_exit(tid, ret, is_error);
            }
            _ => {}
        }
        self.resume(tid, 0);
    }

    /// A call's entry (or its seccomp stop): refused, counted, decoded if recorded at
    /// entry, held before a signal to the parent, and awaited at exit if its result matters.
    fn on_entry(&mut self, tid: i32, nr: u64, args: [u64; 6]) {
        let Some(sysno) = Sysno::new(nr as usize) else {
            return;
        };
        let task = self.tasks.task_mut(tid);
        if task.pending.as_ref().is_some_and(|p| p.call.sysno == sysno) {
            return; // The seccomp stop that follows a stepping process's entry stop.
        }
        if task.remade_call.take() == Some(nr) && !needs_exit_stop(sysno) {
            // Counted and recorded at its first entry; the program made it once. (A call
            // decoded at exit is recorded again: its first exit said EINTR.)
            return;
        }
        let proc = task.proc;
        match refusal(sysno, &args) {
            Refusal::No => {}
            Refusal::Quietly => return skip_syscall(tid),
            Refusal::Because(reason) => {
                skip_syscall(tid);
                self.trace.processes[proc].events.push(Event::Refused {
                    syscall: sysno.name().to_string(),
                    reason: reason.to_string(),
                });
                return;
            }
        }
        if sysno == Sysno::rt_sigreturn {
            task.handlers.leave();
        }
        let count = self.trace.processes[proc]
            .syscall_counts
            .entry(sysno.name().to_string())
            .or_default();
        count.calls += 1;
        let record = self.config.interest.matches(sysno, &args)
            || self.std.is_alias_write(&self.procs[proc].fds, sysno, &args);
        let mut call = Call {
            sysno,
            args,
            entered_at: 0,
        };
        if record && let Some(event) = decode::at_entry(&call, &Tracee(tid), &mut self.scene(tid)) {
            self.record(tid, proc, event);
        }
        let sends_signal = record && SIGNAL_SEND_CALLS.contains(&sysno);
        if sends_signal {
            let to = decode::signal_target(sysno, &args, &self.scene(tid));
            if self.is_worker_to_parent(proc, to) {
                self.holds
                    .reach(tid, proc, HoldPoint::BeforeSignallingParent);
            }
        }
        let stepping = self.config.full || self.procs[proc].stepping;
        if (record && needs_exit_stop(sysno)) || stepping {
            // A signal is stamped at entry (see `Call::entered_at`).
            call.entered_at = if sends_signal {
                self.tick()
            } else {
                self.trace.clock
            };
            self.tasks.task_mut(tid).pending = Some(Pending { call, record });
        }
    }

    /// A call's exit: an error counted, and the call decoded if it was recorded.
    fn on_syscall_exit(&mut self, tid: i32, ret: i64, is_error: bool) {
        let task = self.tasks.task_mut(tid);
        let Some(pending) = task.pending.take() else {
            return;
        };
        let proc = task.proc;
        if is_error
            && let Some(count) = self.trace.processes[proc]
                .syscall_counts
                .get_mut(pending.call.sysno.name())
        {
            count.errors += 1;
        }
        if pending.record
            && let Some(event) =
                decode::at_exit(&pending.call, ret, &Tracee(tid), &mut self.scene(tid))
        {
            self.record(tid, proc, event);
        }
    }

    /// Adds a decoded event to `proc`'s, after those who watch the stream have seen it:
    /// a disposition set is remembered, a worker that signalled the parent may be held.
    fn record(&mut self, tid: i32, proc: ProcId, event: Event) {
        match event {
            Event::SignalAction {
                signal,
                disposition,
                ret: 0,
                ..
            } => self.procs[proc].dispositions.set(signal, disposition),
            Event::SignalSent { to, ret: 0, .. } if self.is_worker_to_parent(proc, to) => {
                self.holds
                    .reach(tid, proc, HoldPoint::AfterSignallingParent);
            }
            _ => {}
        }
        self.trace.processes[proc].events.push(event);
    }

    /// True if `proc` is a child of the program's first process and `to` is that process:
    /// the signals the forced orderings hold around.
    fn is_worker_to_parent(&self, proc: ProcId, to: Option<ProcId>) -> bool {
        self.trace.processes[proc].parent == Some(0) && to == Some(0)
    }

    /// Records a new descriptor; an alias of stdout/stderr above 2 switches the process to
    /// stepping, so writes through it are seen in filtered mode too.
    fn note_new_fd(&mut self, proc: ProcId, fd: i32, target: String) {
        let aliases_std = self.std.is_alias(fd, &target);
        self.procs[proc].fds.insert(fd, target);
        if aliases_std && !self.procs[proc].stepping {
            self.procs[proc].stepping = true;
            self.trace.processes[proc].stepped = true;
        }
    }

    pub(super) fn tick(&mut self) -> u64 {
        self.trace.clock += 1;
        self.trace.clock
    }

    /// Restarts `tid` from its stop, delivering `sig`: stepping to the next call when its
    /// process is stepped or a call's exit is awaited. A held thread stays stopped.
    pub(super) fn resume(&self, tid: i32, sig: i32) {
        if self.holds.is_held(tid) {
            return; // Held for a forced ordering: release_holds restarts it.
        }
        let Some(task) = self.tasks.get(tid) else {
            return;
        };
        let step = self.config.full || self.procs[task.proc].stepping || task.pending.is_some();
        let how = if step { Resume::Step } else { Resume::Continue };
        restart(tid, how, sig);
    }
}

impl<'a> Tracer<'a> {
    /// The calling thread `tid`, as the decoders see it.
    fn scene(&mut self, tid: i32) -> Scene<'_, 'a> {
        let proc = self.tasks.proc_of(tid);
        Scene {
            tracer: self,
            tid,
            proc,
        }
    }
}

/// A stopped thread as the decoders see it: its process's descriptors, working directory
/// and pids, through the tracer's tables.
struct Scene<'t, 'a> {
    tracer: &'t mut Tracer<'a>,
    tid: i32,
    proc: ProcId,
}

impl Paths for Scene<'_, '_> {
    fn cwd(&mut self) -> Option<String> {
        procfs::cwd(self.tid)
    }

    fn fd_target(&mut self, fd: i32) -> String {
        self.tracer.procs[self.proc].fds.target(self.tid, fd)
    }
}

impl decode::Context for Scene<'_, '_> {
    fn new_fd_target(&mut self, fd: i32) -> Option<String> {
        procfs::fd_target(self.tid, fd)
    }

    fn note_fd(&mut self, fd: i32, target: String) {
        self.tracer.note_new_fd(self.proc, fd, target);
    }

    fn close_fd(&mut self, fd: i32) -> String {
        self.tracer.procs[self.proc]
            .fds
            .remove(fd)
            .or_else(|| procfs::fd_target(self.tid, fd))
            .unwrap_or_default()
    }

    fn stream(&self, target: String) -> Stream {
        self.tracer.std.stream(target)
    }

    fn process_seen_as(&self, pid: i32, thread: bool) -> Option<ProcId> {
        self.tracer.tasks.seen_as(&self.tracer.trace, pid, thread)
    }

    fn in_handler(&self) -> Option<i32> {
        self.tracer.tasks.get(self.tid)?.handlers.innermost()
    }

    fn tick(&mut self) -> u64 {
        self.tracer.tick()
    }
}
