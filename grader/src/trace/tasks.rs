//! The tracer's table of who is who: each thread (`Task`) and process (`ProcState`) it
//! follows, how they come (fork, clone, a task whose first stop beats its creator's event)
//! and go (exit, exec by a non-leader thread), the shims that stand before the program, and
//! the pids the program sees inside a PID namespace (`NSpid`).
//!
//! *Shims are invisible*: in namespaces the tracer follows each shim only to catch its one
//! fork; the program's first process is the trace's `parent`, the shim is never in the
//! trace, and the pids the program sees (wait4's result) are mapped back through `NSpid`.

use super::decode::Call;
use super::fds::FdTable;
use super::handlers::{Dispositions, Running};
use super::hold::HoldPoint;
use super::model::{End, Event, ProcId, Process};
use super::procfs;
use super::tracer::Tracer;
use super::wait::{Resume, Stop, restart, set_options};
use nix::sys::ptrace;
use nix::unistd::Pid;
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

/// How long a new task's first stop waits for its creator's fork or clone event before the
/// tracer adopts it from /proc (or lets it go): the event normally follows within
/// microseconds, and never comes when the creator was killed in the middle of the call.
pub const EARLY_STOP_PATIENCE: Duration = Duration::from_millis(50);

/// A thread the tracer follows.
pub struct Task {
    pub proc: ProcId,
    /// A call seen at entry whose exit the tracer waits for.
    pub pending: Option<Pending>,
    /// The signal handlers running on this thread.
    pub handlers: Running,
    /// The call this thread was rewound to make again after an EINTR that only tracing
    /// caused (`restart`): its next entry is the same call, already counted.
    pub remade_call: Option<u64>,
}

impl Task {
    fn of(proc: ProcId) -> Task {
        Task {
            proc,
            pending: None,
            handlers: Running::default(),
            remade_call: None,
        }
    }
}

/// A call seen at entry whose exit stop is awaited.
pub struct Pending {
    pub call: Call,
    /// The call is in the interest set (or an alias write): decode it at exit.
    pub record: bool,
}

/// Tracer-side state of a process that the model does not keep.
#[derive(Default)]
pub struct ProcState {
    /// What each descriptor refers to, kept up to date from traced calls.
    pub fds: FdTable,
    /// Every call of the process stops (it aliased stdout above fd 2); children inherit it.
    pub stepping: bool,
    pub live_tasks: usize,
    /// Inherited at fork; handlers reset to the default at exec.
    pub dispositions: Dispositions,
}

/// The threads followed, and those about to be.
pub struct Tasks {
    by_tid: HashMap<i32, Task>,
    /// New tasks whose first stop arrived before their creator's fork event, and when. A
    /// creator killed mid-clone never reports the event: such a task is adopted (or let
    /// go) after [`EARLY_STOP_PATIENCE`], never left stopped.
    early_stops: HashMap<i32, Instant>,
    /// New tasks announced by a fork event whose first stop has not arrived.
    awaiting_first_stop: HashSet<i32>,
    root_pid: i32,
    root_started: bool,
    /// The shims that live (see [`TracerConfig::shims`](super::tracer::TracerConfig)).
    shims: HashSet<i32>,
    /// Shims not yet born.
    shims_to_come: usize,
    /// The run is in a PID namespace: the pids the program sees are not the tracer's.
    namespaced: bool,
    /// In a PID namespace, the pids the program sees → its processes (latest wins, as pids
    /// are reused).
    ns_pids: HashMap<i32, ProcId>,
}

impl Tasks {
    /// The table at the start: `root` is the program's first process, or with `shims`, the
    /// first shim.
    pub fn new(root: i32, shims: usize) -> Tasks {
        Tasks {
            by_tid: HashMap::new(),
            early_stops: HashMap::new(),
            awaiting_first_stop: HashSet::new(),
            root_pid: root,
            root_started: false,
            shims: if shims > 0 {
                HashSet::from([root])
            } else {
                HashSet::new()
            },
            shims_to_come: shims.saturating_sub(1),
            namespaced: shims > 0,
            ns_pids: HashMap::new(),
        }
    }

    /// True once nothing is left to wait for: no task, no early stop, no shim.
    pub fn all_gone(&self) -> bool {
        self.by_tid.is_empty() && self.early_stops.is_empty() && self.shims.is_empty()
    }

    /// True while a new task waits for its creator's event (due at once).
    pub fn awaits_creator(&self) -> bool {
        !self.early_stops.is_empty()
    }

    /// True if `tid` is a shim.
    pub fn is_shim(&self, tid: i32) -> bool {
        self.shims.contains(&tid)
    }

    /// True if this stop of `tid` is the program's first (the SIGTRAP of its exec).
    pub fn is_root_exec(&self, tid: i32) -> bool {
        !self.root_started && tid == self.root_pid
    }

    /// The task `tid`, if it is followed.
    pub fn get(&self, tid: i32) -> Option<&Task> {
        self.by_tid.get(&tid)
    }

    /// The task `tid`, known to the caller.
    pub fn task_mut(&mut self, tid: i32) -> &mut Task {
        self.by_tid.get_mut(&tid).expect("known task")
    }

    /// The process of task `tid`, known to the caller.
    pub fn proc_of(&self, tid: i32) -> ProcId {
        self.by_tid[&tid].proc
    }

    /// How many tasks (threads included) are followed now.
    pub fn count(&self) -> usize {
        self.by_tid.len()
    }

    /// The process a pid *as the program sees it* names (wait4's result, say); with
    /// `thread`, a thread id (tkill's target), which outside namespaces is the tracer's.
    pub fn seen_as(&self, trace: &super::model::Trace, pid: i32, thread: bool) -> Option<ProcId> {
        let process = if self.namespaced {
            self.ns_pids.get(&pid).copied()
        } else {
            trace.by_pid(pid)
        };
        process.or_else(|| {
            (thread && !self.namespaced)
                .then(|| self.by_tid.get(&pid).map(|t| t.proc))
                .flatten()
        })
    }

    fn note_ns_pid(&mut self, pid: i32, proc: ProcId) {
        if self.namespaced
            && let Some(ns_pid) = procfs::ns_pid(pid)
        {
            self.ns_pids.insert(ns_pid, proc);
        }
    }

    /// New tasks that waited for their creator's event long enough (any, when `killing`).
    fn stale_early_stops(&mut self, killing: bool) -> Vec<i32> {
        let now = Instant::now();
        let stale: Vec<i32> = self
            .early_stops
            .iter()
            .filter(|(_, since)| killing || now.duration_since(**since) >= EARLY_STOP_PATIENCE)
            .map(|(&tid, _)| tid)
            .collect();
        for tid in &stale {
            self.early_stops.remove(tid);
        }
        stale
    }

    /// A task of a thread of `proc`, not announced by an event: counts as one more thread.
    fn some_task_of(&self, proc: ProcId) -> Option<i32> {
        self.by_tid
            .iter()
            .find(|(_, task)| task.proc == proc)
            .map(|(tid, _)| *tid)
    }
}

impl Tracer<'_> {
    /// Starts the trace with the program's first process, `parent`.
    pub(super) fn add_root(&mut self, pid: i32) {
        self.trace
            .processes
            .push(Process::new(pid, None, "parent".to_string()));
        self.procs.push(ProcState {
            live_tasks: 1,
            ..ProcState::default()
        });
        self.tasks.by_tid.insert(pid, Task::of(0));
        self.tasks.root_pid = pid;
        self.live.set_root(pid);
        self.tasks.note_ns_pid(pid, 0);
    }

    /// New tasks whose creator's event never came in time are adopted or let go.
    pub(super) fn adopt_stale(&mut self) {
        if !self.tasks.awaits_creator() {
            return;
        }
        for tid in self.tasks.stale_early_stops(self.live.is_killing()) {
            self.adopt(tid);
        }
    }

    /// A task whose creator's fork or clone event never came: a thread of a known process
    /// joins it; a process whose parent is known joins as its child; anything else is
    /// killed. Either way it is restarted, never left stopped.
    fn adopt(&mut self, tid: i32) {
        let known = |pid: Option<i32>| pid.and_then(|pid| self.trace.by_pid(pid));
        if let Some(proc) = known(procfs::tgid(tid)).filter(|_| !self.live.is_killing()) {
            self.procs[proc].live_tasks += 1;
            self.trace.processes[proc].threads += 1;
            self.tasks.by_tid.insert(tid, Task::of(proc));
            return self.resume(tid, 0);
        }
        if let Some(parent) = known(procfs::ppid(tid)).filter(|_| !self.live.is_killing())
            && let Some(parent_tid) = self.tasks.some_task_of(parent)
        {
            // As if the event had come: on_spawn finds the task waiting and resumes it.
            self.tasks.early_stops.insert(tid, Instant::now());
            return self.on_spawn(parent_tid, tid, false);
        }
        self.live.kill_stray(tid);
        restart(tid, Resume::Continue, 0);
    }

    /// A stop of a shim. It is never stepped (its `waitpid` loop is not the program's); its
    /// one fork creates the next shim or the program's first process.
    pub(super) fn on_shim_stop(&mut self, tid: i32, stop: Stop) {
        if let Stop::Ended(_) = stop {
            self.tasks.shims.remove(&tid);
            self.live.remove(tid);
            return;
        }
        let mut forward = 0;
        if self.tasks.awaiting_first_stop.remove(&tid) {
            // A later shim's first stop, the SIGSTOP of its auto-attach: ours, swallowed.
        } else if !self.tasks.root_started {
            // Its first stop (the SIGSTOP it raised): set the options every child inherits.
            self.tasks.root_started = true;
            set_options(tid);
        } else if let Stop::Event(event) = stop {
            if matches!(event, libc::PTRACE_EVENT_FORK | libc::PTRACE_EVENT_VFORK)
                && self.tasks.by_tid.is_empty()
                && let Ok(child) = ptrace::getevent(Pid::from_raw(tid))
            {
                self.on_shim_fork(child as i32);
            }
        } else if let Stop::Signal(sig) = stop
            && ptrace::getsiginfo(Pid::from_raw(tid)).is_ok()
        {
            forward = sig; // SIGCHLD of an orphan it reaps, for one.
        }
        restart(tid, Resume::Continue, forward);
    }

    /// A shim forked `child`: the next shim, or the program's first process.
    fn on_shim_fork(&mut self, child: i32) {
        self.live.add(child);
        let next_is_shim = self.tasks.shims_to_come > 0;
        if next_is_shim {
            self.tasks.shims_to_come -= 1;
            self.tasks.shims.insert(child);
        } else {
            self.add_root(child);
        }
        if self.tasks.early_stops.remove(&child).is_none() {
            self.tasks.awaiting_first_stop.insert(child);
        } else if next_is_shim {
            restart(child, Resume::Continue, 0); // Waiting at its first stop.
        } else {
            self.resume(child, 0);
        }
    }

    /// The root's first stop: the SIGTRAP of its exec. Set the options every child inherits.
    pub(super) fn on_root_exec(&mut self, tid: i32) {
        self.tasks.root_started = true;
        set_options(tid);
        if let Some(exe) = procfs::exe(tid) {
            self.trace.processes[0].execs.push(exe);
        }
        self.procs[0].fds = FdTable::read(tid);
        self.resume(tid, 0);
    }

    /// A stop of a task no event has announced yet.
    pub(super) fn on_unknown_stop(&mut self, tid: i32, stop: Stop) {
        if stop == Stop::Event(libc::PTRACE_EVENT_EXIT) {
            // A task born while its group exits: its first stop is its exit. Nothing of it
            // is left to trace, and waiting for the creator's event could wait forever.
            return restart(tid, Resume::Continue, 0);
        }
        // A new child stopped before its creator's fork event told us who it is. Hold it
        // until the event arrives (briefly: see `adopt_stale`), so it inherits the right
        // mode.
        self.tasks
            .early_stops
            .entry(tid)
            .or_insert_with(Instant::now);
    }

    /// The first stop of a task announced by its creator's event: the SIGSTOP every
    /// auto-attached child starts with, ours, swallowed. False for any other stop.
    pub(super) fn on_first_stop(&mut self, tid: i32) -> bool {
        if !self.tasks.awaiting_first_stop.remove(&tid) {
            return false;
        }
        self.resume(tid, 0);
        true
    }

    /// `tid` exited or was killed (wait `status`); the process ends with its leader or its
    /// last thread.
    pub(super) fn on_gone(&mut self, tid: i32, status: i32) {
        self.tasks.early_stops.remove(&tid);
        self.tasks.awaiting_first_stop.remove(&tid);
        self.holds.forget(tid);
        let Some(task) = self.tasks.by_tid.remove(&tid) else {
            return;
        };
        let proc = task.proc;
        let state = &mut self.procs[proc];
        state.live_tasks = state.live_tasks.saturating_sub(1);
        let pid = self.trace.processes[proc].pid;
        if tid == pid || state.live_tasks == 0 {
            let end = if self.live.was_killed(pid) {
                End::Killed
            } else if libc::WIFEXITED(status) {
                End::Exited {
                    code: libc::WEXITSTATUS(status),
                }
            } else {
                End::Signaled {
                    signal: libc::WTERMSIG(status),
                    core_dumped: libc::WCOREDUMP(status),
                }
            };
            if self.trace.processes[proc].end.is_none() {
                let at = self.tick();
                self.trace.processes[proc].end = Some(end);
                self.trace.processes[proc].ended_at = Some(at);
            }
            self.live.remove(pid);
            if proc == 0 {
                // The parent is done: anything it left running is killed, never waited for.
                self.live.kill_all();
            }
        }
    }

    /// A new task, from its creator's fork (`cloned` false) or clone event.
    pub(super) fn on_spawn(&mut self, parent_tid: i32, child: i32, cloned: bool) {
        let parent = self.tasks.proc_of(parent_tid);
        let parent_pid = self.trace.processes[parent].pid;
        // A clone already gone has no /proc entry to tell its kind: it is taken for a
        // thread, so a task that vanished at once is never counted as a worker.
        let thread = cloned && procfs::tgid(child).is_none_or(|tgid| tgid == parent_pid);
        let proc = if thread {
            self.trace.processes[parent].threads += 1;
            self.procs[parent].live_tasks += 1;
            parent
        } else {
            self.add_child(parent, child)
        };
        self.trace.processes[parent].events.push(Event::Spawn {
            child: proc,
            thread,
        });
        self.tasks.by_tid.insert(child, Task::of(proc));
        if self.tasks.count() > self.config.max_tasks && !self.task_limit_hit {
            self.task_limit_hit = true;
            self.live.kill_all();
        }
        if self.tasks.early_stops.remove(&child).is_some() {
            self.resume(child, 0);
        } else {
            self.tasks.awaiting_first_stop.insert(child);
        }
        if parent == 0 && !thread {
            self.holds
                .reach(parent_tid, 0, HoldPoint::AfterFork(self.workers));
        }
    }

    /// A new process `child` of `parent`: it inherits descriptors, stepping and
    /// dispositions.
    fn add_child(&mut self, parent: ProcId, child: i32) -> ProcId {
        let label = if parent == 0 {
            self.workers += 1;
            format!("worker {}", self.workers)
        } else {
            format!("process {child}")
        };
        let stepping = self.procs[parent].stepping;
        let mut process = Process::new(child, Some(parent), label);
        process.stepped = stepping;
        self.trace.processes.push(process);
        self.procs.push(ProcState {
            fds: self.procs[parent].fds.clone(),
            stepping,
            live_tasks: 1,
            dispositions: self.procs[parent].dispositions.clone(),
        });
        self.live.add(child);
        let proc = self.trace.processes.len() - 1;
        self.tasks.note_ns_pid(child, proc);
        if self.trace.processes.len() > self.config.max_processes {
            self.process_limit_hit = true;
            self.live.kill_all();
        }
        proc
    }

    /// `tid` exec'd: a new program, with the descriptors that survive and no handlers.
    pub(super) fn on_exec(&mut self, tid: i32) {
        // A non-leader thread that execs takes over the leader's pid; its old tid is gone.
        if let Ok(former) = ptrace::getevent(Pid::from_raw(tid))
            && former as i32 != tid
            && let Some(task) = self.tasks.by_tid.remove(&(former as i32))
        {
            let state = &mut self.procs[task.proc];
            state.live_tasks = state.live_tasks.saturating_sub(1);
        }
        let task = self.tasks.task_mut(tid);
        task.pending = None;
        task.handlers.clear();
        let proc = task.proc;
        self.procs[proc].dispositions.reset_at_exec();
        if let Some(exe) = procfs::exe(tid) {
            self.trace.processes[proc].execs.push(exe);
        }
        // Close-on-exec descriptors are gone now.
        self.procs[proc].fds = FdTable::read(tid);
    }

    /// The process is about to exit: its descriptors and counters are still there to read.
    pub(super) fn on_exit_stop(&mut self, tid: i32) {
        let proc = self.tasks.proc_of(tid);
        if self.trace.processes[proc].pid == tid {
            let process = &mut self.trace.processes[proc];
            process.fds_at_exit = procfs::open_fds(tid);
            process.io_at_exit = procfs::io_counters(tid);
            process.cpu_at_exit = procfs::cpu_time(tid);
        }
    }
}
