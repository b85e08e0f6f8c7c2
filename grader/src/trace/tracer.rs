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
//! Waiting uses `waitpid(-1, __WALL | __WNOTHREAD)`: several runs may be traced at once by
//! different threads of one process (the test harness), and `__WNOTHREAD` keeps each tracer
//! thread to its own tracees. The wait and restart steps use libc directly because nix's
//! `Signal` cannot carry real-time signals, and a signal the tracer cannot re-inject is lost.

use super::decode::layout;
use super::hold::{HoldPoint, HoldRule};
use super::interest::{
    Interest, Refusal, SEND_CALLS, SIGNAL_SEND_CALLS, SIGNAL_WAIT_CALLS, needs_exit_stop, refusal,
    write_fd_arg,
};
use super::live::LiveSet;
use super::mem::{Mem, Tracee};
use super::model::{Disposition, End, Event, ProcId, Process, Stream, Trace};
use super::procfs;
use nix::sys::ptrace;
use nix::unistd::Pid;
use std::collections::{HashMap, HashSet};
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

/// A thread the tracer follows.
struct Task {
    proc: ProcId,
    /// A call seen at entry whose exit the tracer waits for.
    pending: Option<Pending>,
    /// The signals whose handlers are running on this thread, innermost last: pushed at the
    /// delivery of a handled signal, popped at the handler's `rt_sigreturn`.
    handlers: Vec<i32>,
}

impl Task {
    fn of(proc: ProcId) -> Task {
        Task {
            proc,
            pending: None,
            handlers: Vec::new(),
        }
    }
}

struct Pending {
    sysno: Sysno,
    args: [u64; 6],
    /// The call is in the interest set (or an alias write): decode it at exit.
    record: bool,
    /// The trace clock at entry: a signal is sent *during* the call, so its receiver may
    /// react (and even exit) before the sender's exit stop is seen; entry comes first.
    entered_at: u64,
}

/// Tracer-side state of a process that the model does not keep.
#[derive(Default)]
struct ProcState {
    /// What each descriptor refers to, kept up to date from traced calls; a miss is read
    /// from /proc.
    fds: HashMap<i32, String>,
    stepping: bool,
    live_tasks: usize,
    /// Signals this process has set a disposition for (inherited at fork; handlers reset
    /// to the default at exec).
    dispositions: HashMap<i32, Disposition>,
}

struct Tracer<'a> {
    config: &'a TracerConfig,
    live: &'a LiveSet,
    trace: Trace,
    procs: Vec<ProcState>,
    tasks: HashMap<i32, Task>,
    /// New tasks whose first stop arrived before their creator's fork event, and when. A
    /// creator killed mid-clone never reports the event: such a task is adopted (or let
    /// go) after [`EARLY_STOP_PATIENCE`], never left stopped.
    early_stops: HashMap<i32, Instant>,
    /// New tasks announced by a fork event whose first stop has not arrived.
    awaiting_first_stop: HashSet<i32>,
    root_pid: i32,
    root_started: bool,
    /// The shims that live (see [`TracerConfig::shims`]).
    shims: HashSet<i32>,
    /// Shims not yet born.
    shims_to_come: usize,
    /// In a PID namespace, the pids the program sees → its processes (latest wins, as pids
    /// are reused).
    ns_pids: HashMap<i32, ProcId>,
    process_limit_hit: bool,
    task_limit_hit: bool,
    workers: usize,
    /// Threads held stopped by the forced ordering ([`TracerConfig::hold`]).
    held: HashMap<i32, Held>,
    /// Processes already held once (a rule holds each at its first matching stop).
    held_once: HashSet<ProcId>,
    /// The interest sees both sigaction and rt_sigreturn, so handler runs can be followed.
    track_handlers: bool,
}

/// A thread held stopped.
struct Held {
    proc: ProcId,
    since: Instant,
}

/// Follows `root` (a child of the calling thread that called `PTRACE_TRACEME` and exec'd,
/// or with [`TracerConfig::shims`], the shim that forks it) and everything it creates, until
/// every one of them has ended.
pub fn follow(root: i32, config: &TracerConfig, live: &LiveSet) -> TraceOutcome {
    let trace = Trace {
        full: config.full,
        ..Trace::default()
    };
    live.add(root);
    let mut tracer = Tracer {
        config,
        live,
        trace,
        procs: Vec::new(),
        tasks: HashMap::new(),
        early_stops: HashMap::new(),
        awaiting_first_stop: HashSet::new(),
        root_pid: root,
        root_started: false,
        shims: if config.shims > 0 {
            HashSet::from([root])
        } else {
            HashSet::new()
        },
        shims_to_come: config.shims.saturating_sub(1),
        ns_pids: HashMap::new(),
        process_limit_hit: false,
        task_limit_hit: false,
        workers: 0,
        held: HashMap::new(),
        held_once: HashSet::new(),
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

/// How long a new task's first stop waits for its creator's fork or clone event before the
/// tracer adopts it from /proc (or lets it go): the event normally follows within
/// microseconds, and never comes when the creator was killed in the middle of the call.
const EARLY_STOP_PATIENCE: Duration = Duration::from_millis(50);

/// After the run is torn down (every process sent SIGKILL), how long the tracer waits for
/// the last exits before it gives up on them, so a run always ends (see `run::run`).
pub const TEARDOWN_GRACE: Duration = Duration::from_secs(3);

const OPTIONS: ptrace::Options = ptrace::Options::PTRACE_O_TRACESYSGOOD
    .union(ptrace::Options::PTRACE_O_TRACEFORK)
    .union(ptrace::Options::PTRACE_O_TRACEVFORK)
    .union(ptrace::Options::PTRACE_O_TRACECLONE)
    .union(ptrace::Options::PTRACE_O_TRACEEXEC)
    .union(ptrace::Options::PTRACE_O_TRACEEXIT)
    .union(ptrace::Options::PTRACE_O_TRACESECCOMP)
    .union(ptrace::Options::PTRACE_O_EXITKILL);

impl Tracer<'_> {
    /// Starts the trace with the program's first process, `parent`.
    fn add_root(&mut self, pid: i32) {
        self.trace
            .processes
            .push(Process::new(pid, None, "parent".to_string()));
        self.procs.push(ProcState {
            live_tasks: 1,
            ..ProcState::default()
        });
        self.tasks.insert(pid, Task::of(0));
        self.root_pid = pid;
        self.live.set_root(pid);
        self.note_ns_pid(pid, 0);
    }

    fn note_ns_pid(&mut self, pid: i32, proc: ProcId) {
        if self.config.shims > 0
            && let Some(ns_pid) = procfs::ns_pid(pid)
        {
            self.ns_pids.insert(ns_pid, proc);
        }
    }

    /// The process a pid *as the program sees it* names (wait4's result, say).
    fn proc_seen_as(&self, pid: i32) -> Option<ProcId> {
        if self.config.shims > 0 {
            self.ns_pids.get(&pid).copied()
        } else {
            self.trace.by_pid(pid)
        }
    }

    fn run(&mut self) {
        let mut teardown_since: Option<Instant> = None;
        while !self.tasks.is_empty() || !self.early_stops.is_empty() || !self.shims.is_empty() {
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
            let how = if !self.held.is_empty() || teardown_since.is_some() {
                Wait::Poll
            } else if !self.early_stops.is_empty() {
                Wait::PollBriefly
            } else {
                Wait::Block
            };
            let (tid, status) = match wait_any(how) {
                Waited::Stop(tid, status) => (tid, status),
                Waited::Idle => {
                    self.after_stop();
                    continue;
                }
                Waited::NoTracees => break,
            };
            self.on_wait_status(tid, status);
            self.after_stop();
        }
    }

    /// What time alone decides: holds whose bound passed, new tasks whose creator's event
    /// never came; and during teardown, nothing stays stopped.
    fn after_stop(&mut self) {
        if !self.held.is_empty() {
            if self.live.is_killing() {
                // Killed processes must run to die.
                let held: Vec<i32> = self.held.drain().map(|(tid, _)| tid).collect();
                for tid in held {
                    restart(tid, libc::PTRACE_CONT, 0);
                }
            } else {
                self.release_holds();
            }
        }
        if !self.early_stops.is_empty() {
            let now = Instant::now();
            let stale: Vec<i32> = self
                .early_stops
                .iter()
                .filter(|(_, since)| {
                    self.live.is_killing() || now.duration_since(**since) >= EARLY_STOP_PATIENCE
                })
                .map(|(&tid, _)| tid)
                .collect();
            for tid in stale {
                self.early_stops.remove(&tid);
                self.adopt(tid);
            }
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
            self.tasks.insert(tid, Task::of(proc));
            return self.resume(tid, 0);
        }
        if let Some(parent) = known(procfs::ppid(tid)).filter(|_| !self.live.is_killing())
            && let Some(&parent_tid) = self
                .tasks
                .iter()
                .find(|(_, task)| task.proc == parent)
                .map(|(tid, _)| tid)
        {
            // As if the event had come: on_spawn finds the task waiting and resumes it.
            self.early_stops.insert(tid, Instant::now());
            return self.on_spawn(parent_tid, tid, false);
        }
        self.live.kill_stray(tid);
        restart(tid, libc::PTRACE_CONT, 0);
    }

    fn on_wait_status(&mut self, tid: i32, status: i32) {
        if self.shims.contains(&tid) {
            self.on_shim_stop(tid, status);
        } else if libc::WIFEXITED(status) || libc::WIFSIGNALED(status) {
            self.on_gone(tid, status);
        } else if libc::WIFSTOPPED(status) {
            let sig = libc::WSTOPSIG(status);
            let event = status >> 16;
            if !self.tasks.contains_key(&tid) {
                self.on_unknown_stop(tid, event);
            } else if !self.root_started && tid == self.root_pid {
                self.on_root_exec(tid);
            } else if sig == libc::SIGTRAP | 0x80 {
                self.on_syscall_stop(tid);
            } else if sig == libc::SIGTRAP && event != 0 {
                self.on_event(tid, event);
            } else {
                self.on_signal(tid, sig);
            }
        }
    }

    fn tick(&mut self) -> u64 {
        self.trace.clock += 1;
        self.trace.clock
    }

    /// Holds `tid` (of `proc`) at this stop if the rule says so: it is not restarted until
    /// [`Tracer::release_holds`] lets it go.
    fn maybe_hold(&mut self, tid: i32, proc: ProcId, point: HoldPoint) {
        let Some(rule) = self.config.hold else {
            return;
        };
        if rule.holds_at(point) && self.held_once.insert(proc) {
            self.held.insert(
                tid,
                Held {
                    proc,
                    since: Instant::now(),
                },
            );
        }
    }

    /// Restarts every held thread whose condition is met or whose time bound has passed,
    /// noting in its process's events how long it was held and why it went on.
    fn release_holds(&mut self) {
        let Some(rule) = self.config.hold else {
            return;
        };
        let now = Instant::now();
        let parent_waiting =
            matches!(rule, HoldRule::ChildrenBeforeSignalling { .. }) && self.parent_is_waiting();
        let ready: Vec<(i32, bool)> = self
            .held
            .iter()
            .filter_map(|(&tid, held)| {
                let met = rule.is_met(&self.trace, held.proc, parent_waiting);
                (met || now >= held.since + rule.max()).then_some((tid, met))
            })
            .collect();
        for (tid, met) in ready {
            let held = self.held.remove(&tid).expect("just found");
            let at = self.tick();
            self.trace.processes[held.proc].events.push(Event::Held {
                point: rule.point_text(),
                until: rule.until_text(),
                met,
                waited_ms: now.duration_since(held.since).as_millis() as u64,
                at,
            });
            self.resume(tid, 0);
        }
    }

    /// True if the program's first process is in (or stopped at the entry of) a call that
    /// sleeps until a signal or a child's end, as /proc shows it now.
    fn parent_is_waiting(&self) -> bool {
        let Some(parent) = self.trace.processes.first() else {
            return false;
        };
        procfs::blocked_syscall(parent.pid)
            .and_then(|(nr, _)| Sysno::new(nr as usize))
            .is_some_and(is_blocking_wait)
    }

    /// A stop of a shim. It is never stepped (its `waitpid` loop is not the program's); its
    /// one fork creates the next shim or the program's first process.
    fn on_shim_stop(&mut self, tid: i32, status: i32) {
        if libc::WIFEXITED(status) || libc::WIFSIGNALED(status) {
            self.shims.remove(&tid);
            self.live.remove(tid);
            return;
        }
        if !libc::WIFSTOPPED(status) {
            return;
        }
        let mut forward = 0;
        if self.awaiting_first_stop.remove(&tid) {
            // A later shim's first stop, the SIGSTOP of its auto-attach: ours, swallowed.
        } else if !self.root_started {
            // Its first stop (the SIGSTOP it raised): set the options every child inherits.
            self.root_started = true;
            let _ = ptrace::setoptions(Pid::from_raw(tid), OPTIONS);
        } else if libc::WSTOPSIG(status) == libc::SIGTRAP && status >> 16 != 0 {
            let event = status >> 16;
            if matches!(event, libc::PTRACE_EVENT_FORK | libc::PTRACE_EVENT_VFORK)
                && self.tasks.is_empty()
                && let Ok(child) = ptrace::getevent(Pid::from_raw(tid))
            {
                let child = child as i32;
                self.live.add(child);
                let next_is_shim = self.shims_to_come > 0;
                if next_is_shim {
                    self.shims_to_come -= 1;
                    self.shims.insert(child);
                } else {
                    self.add_root(child);
                }
                if self.early_stops.remove(&child).is_none() {
                    self.awaiting_first_stop.insert(child);
                } else if next_is_shim {
                    restart(child, libc::PTRACE_CONT, 0); // Waiting at its first stop.
                } else {
                    self.resume(child, 0);
                }
            }
        } else if ptrace::getsiginfo(Pid::from_raw(tid)).is_ok() {
            forward = libc::WSTOPSIG(status); // SIGCHLD of an orphan it reaps, for one.
        }
        restart(tid, libc::PTRACE_CONT, forward);
    }

    /// The root's first stop: the SIGTRAP of its exec. Set the options every child inherits.
    fn on_root_exec(&mut self, tid: i32) {
        self.root_started = true;
        let _ = ptrace::setoptions(Pid::from_raw(tid), OPTIONS);
        if let Some(exe) = procfs::exe(tid) {
            self.trace.processes[0].execs.push(exe);
        }
        self.reload_fds(0, tid);
        self.resume(tid, 0);
    }

    fn on_unknown_stop(&mut self, tid: i32, event: i32) {
        if event == libc::PTRACE_EVENT_EXIT {
            // A task born while its group exits: its first stop is its exit. Nothing of it
            // is left to trace, and waiting for the creator's event could wait forever.
            return restart(tid, libc::PTRACE_CONT, 0);
        }
        // A new child stopped before its creator's fork event told us who it is. Hold it
        // until the event arrives (briefly: see `after_stop`), so it inherits the right mode.
        self.early_stops.entry(tid).or_insert_with(Instant::now);
    }

    fn on_gone(&mut self, tid: i32, status: i32) {
        self.early_stops.remove(&tid);
        self.awaiting_first_stop.remove(&tid);
        self.held.remove(&tid);
        let Some(task) = self.tasks.remove(&tid) else {
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

    /// A new task, from its creator's fork (`cloned` false) or clone event.
    fn on_spawn(&mut self, parent_tid: i32, child: i32, cloned: bool) {
        let parent = self.tasks[&parent_tid].proc;
        let parent_pid = self.trace.processes[parent].pid;
        // A clone already gone has no /proc entry to tell its kind: it is taken for a
        // thread, so a task that vanished at once is never counted as a worker.
        let thread = cloned && procfs::tgid(child).is_none_or(|tgid| tgid == parent_pid);
        let proc = if thread {
            self.trace.processes[parent].threads += 1;
            self.procs[parent].live_tasks += 1;
            parent
        } else {
            let label = if parent == 0 {
                self.workers += 1;
                format!("worker {}", self.workers)
            } else {
                format!("process {child}")
            };
            self.trace
                .processes
                .push(Process::new(child, Some(parent), label));
            let stepping = self.procs[parent].stepping;
            self.trace
                .processes
                .last_mut()
                .expect("just pushed")
                .stepped = stepping;
            self.procs.push(ProcState {
                fds: self.procs[parent].fds.clone(),
                stepping,
                live_tasks: 1,
                dispositions: self.procs[parent].dispositions.clone(),
            });
            self.live.add(child);
            self.note_ns_pid(child, self.trace.processes.len() - 1);
            if self.trace.processes.len() > self.config.max_processes {
                self.process_limit_hit = true;
                self.live.kill_all();
            }
            self.trace.processes.len() - 1
        };
        self.trace.processes[parent].events.push(Event::Spawn {
            child: proc,
            thread,
        });
        self.tasks.insert(child, Task::of(proc));
        if self.tasks.len() > self.config.max_tasks && !self.task_limit_hit {
            self.task_limit_hit = true;
            self.live.kill_all();
        }
        if self.early_stops.remove(&child).is_some() {
            self.resume(child, 0);
        } else {
            self.awaiting_first_stop.insert(child);
        }
        if parent == 0 && !thread {
            self.maybe_hold(parent_tid, 0, HoldPoint::AfterFork(self.workers));
        }
    }

    fn on_exec(&mut self, tid: i32) {
        // A non-leader thread that execs takes over the leader's pid; its old tid is gone.
        if let Ok(former) = ptrace::getevent(Pid::from_raw(tid))
            && former as i32 != tid
            && let Some(task) = self.tasks.remove(&(former as i32))
        {
            let state = &mut self.procs[task.proc];
            state.live_tasks = state.live_tasks.saturating_sub(1);
        }
        let proc = self.tasks[&tid].proc;
        let task = self.tasks.get_mut(&tid).expect("known task");
        task.pending = None;
        task.handlers.clear();
        // Handlers are code of the old program: exec resets them to the default action.
        for disposition in self.procs[proc].dispositions.values_mut() {
            if *disposition == Disposition::Handler {
                *disposition = Disposition::Default;
            }
        }
        if let Some(exe) = procfs::exe(tid) {
            self.trace.processes[proc].execs.push(exe);
        }
        // Close-on-exec descriptors are gone now.
        self.reload_fds(proc, tid);
    }

    /// The process is about to exit: its descriptors and counters are still there to read.
    fn on_exit_stop(&mut self, tid: i32) {
        let proc = self.tasks[&tid].proc;
        if self.trace.processes[proc].pid == tid {
            let process = &mut self.trace.processes[proc];
            process.fds_at_exit = procfs::open_fds(tid);
            process.io_at_exit = procfs::io_counters(tid);
            process.cpu_at_exit = procfs::cpu_time(tid);
        }
    }

    fn on_signal(&mut self, tid: i32, sig: i32) {
        if self.awaiting_first_stop.remove(&tid) {
            // The SIGSTOP every auto-attached child starts with: swallow it, it was ours.
            return self.resume(tid, 0);
        }
        if ptrace::getsiginfo(Pid::from_raw(tid)).is_err() {
            // A group-stop (the process was stopped by SIGSTOP/SIGTSTP): leave it stopped, as
            // it would be untraced. The run's end or its timeout kills it.
            return;
        }
        let proc = self.tasks[&tid].proc;
        let handled = self.track_handlers
            && self.procs[proc].dispositions.get(&sig) == Some(&Disposition::Handler);
        if handled {
            // Its handler runs now, until its rt_sigreturn.
            self.tasks
                .get_mut(&tid)
                .expect("known task")
                .handlers
                .push(sig);
        }
        if sig != libc::SIGCHLD {
            let at = self.tick();
            self.trace.processes[proc].events.push(Event::Signal {
                signal: sig,
                handled,
                at,
            });
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

    fn on_entry(&mut self, tid: i32, nr: u64, args: [u64; 6]) {
        let Some(sysno) = Sysno::new(nr as usize) else {
            return;
        };
        let task = self.tasks.get_mut(&tid).expect("known task");
        if task.pending.as_ref().is_some_and(|p| p.sysno == sysno) {
            return; // The seccomp stop that follows a stepping process's entry stop.
        }
        match refusal(sysno, &args) {
            Refusal::No => {}
            Refusal::Quietly => return skip_syscall(tid),
            Refusal::Because(reason) => {
                let proc = task.proc;
                skip_syscall(tid);
                self.trace.processes[proc].events.push(Event::Refused {
                    syscall: sysno.name().to_string(),
                    reason: reason.to_string(),
                });
                return;
            }
        }
        let proc = task.proc;
        if sysno == Sysno::rt_sigreturn {
            task.handlers.pop();
        }
        let count = self.trace.processes[proc]
            .syscall_counts
            .entry(sysno.name().to_string())
            .or_default();
        count.calls += 1;
        let record =
            self.config.interest.matches(sysno, &args) || self.is_alias_write(proc, sysno, &args);
        if record {
            self.decode_entry(tid, proc, sysno, &args);
        }
        if record
            && SIGNAL_SEND_CALLS.contains(&sysno)
            && self.is_worker_to_parent(proc, self.signal_target(sysno, &args))
        {
            self.maybe_hold(tid, proc, HoldPoint::BeforeSignallingParent);
        }
        let stepping = self.config.full || self.procs[proc].stepping;
        if (record && needs_exit_stop(sysno)) || stepping {
            let entered_at = if record && SIGNAL_SEND_CALLS.contains(&sysno) {
                self.tick()
            } else {
                self.trace.clock
            };
            self.tasks.get_mut(&tid).expect("known task").pending = Some(Pending {
                sysno,
                args,
                record,
                entered_at,
            });
        }
    }

    fn on_syscall_exit(&mut self, tid: i32, ret: i64, is_error: bool) {
        let task = self.tasks.get_mut(&tid).expect("known task");
        let Some(pending) = task.pending.take() else {
            return;
        };
        let proc = task.proc;
        if is_error
            && let Some(count) = self.trace.processes[proc]
                .syscall_counts
                .get_mut(pending.sysno.name())
        {
            count.errors += 1;
        }
        if pending.record {
            self.decode_exit(tid, proc, &pending, ret);
        }
    }

    /// True if this is a write-like call to a descriptor above 2 that aliases stdout/stderr.
    fn is_alias_write(&self, proc: ProcId, sysno: Sysno, args: &[u64; 6]) -> bool {
        let Some(fd_arg) = write_fd_arg(sysno) else {
            return false;
        };
        let fd = args[fd_arg] as i32;
        fd > 2
            && self.procs[proc]
                .fds
                .get(&fd)
                .is_some_and(|t| *t == self.config.stdout_target || *t == self.config.stderr_target)
    }

    /// Calls recorded at entry: writes and sends (the bytes are in the caller's memory now),
    /// messages sent to or received from a queue (one stop each, not two), and close (the
    /// descriptor still names its file now).
    fn decode_entry(&mut self, tid: i32, proc: ProcId, sysno: Sysno, args: &[u64; 6]) {
        let mem: &dyn Mem = &Tracee(tid);
        let message = match sysno {
            Sysno::mq_timedsend => Some(Event::MqSend {
                mqd: args[0] as i32,
                bytes: args[2],
                priority: args[3] as u32,
            }),
            Sysno::mq_timedreceive => Some(Event::MqReceive {
                mqd: args[0] as i32,
                capacity: args[2],
            }),
            s if SEND_CALLS.iter().any(|&(call, _)| call == s) => Some(Event::Send {
                syscall: s.name().to_string(),
                fd: args[0] as i32,
                bytes: layout::send_size(mem, s, args),
            }),
            _ => None,
        };
        if let Some(event) = message {
            self.trace.processes[proc].events.push(event);
            return;
        }
        if SIGNAL_WAIT_CALLS.contains(&sysno) {
            let signals = match sysno {
                Sysno::rt_sigsuspend | Sysno::rt_sigtimedwait => layout::sigset(mem, args[0]),
                _ => Vec::new(),
            };
            let at = self.tick();
            self.trace.processes[proc].events.push(Event::SignalWait {
                syscall: sysno.name().to_string(),
                signals,
                at,
            });
            return;
        }
        if sysno == Sysno::close {
            let fd = args[0] as i32;
            let target = self.procs[proc]
                .fds
                .remove(&fd)
                .or_else(|| procfs::fd_target(tid, fd))
                .unwrap_or_default();
            self.trace.processes[proc]
                .events
                .push(Event::Close { fd, target });
            return;
        }
        let Some(fd_arg) = write_fd_arg(sysno) else {
            return;
        };
        let fd = args[fd_arg] as i32;
        let target = self.fd_target(proc, tid, fd);
        let stream = if target == self.config.stdout_target {
            Stream::Stdout
        } else if target == self.config.stderr_target {
            Stream::Stderr
        } else {
            Stream::Other(target)
        };
        let (bytes, sample) = layout::write_size_and_sample(mem, sysno, args);
        let in_handler = self
            .tasks
            .get(&tid)
            .and_then(|t| t.handlers.last().copied());
        self.trace.processes[proc].events.push(Event::Write {
            syscall: sysno.name().to_string(),
            fd,
            stream,
            bytes,
            sample,
            in_handler,
        });
    }

    fn decode_exit(&mut self, tid: i32, proc: ProcId, call: &Pending, ret: i64) {
        let (sysno, args) = (call.sysno, &call.args);
        let mem: &dyn Mem = &Tracee(tid);
        let event = match sysno {
            s if is_pipe(s) => {
                if ret != 0 {
                    return;
                }
                let Some([read_fd, write_fd]) = layout::fd_pair(mem, args[0]) else {
                    return;
                };
                let inode = procfs::fd_target(tid, read_fd).unwrap_or_default();
                let fds = &mut self.procs[proc].fds;
                fds.insert(read_fd, inode.clone());
                fds.insert(write_fd, inode.clone());
                Event::Pipe {
                    read_fd,
                    write_fd,
                    inode,
                }
            }
            s if is_dup(s) => {
                if ret < 0 {
                    return;
                }
                let old = args[0] as i32;
                let new = ret as i32;
                let target = self.fd_target(proc, tid, old);
                self.note_new_fd(proc, new, target.clone());
                Event::Dup { old, new, target }
            }
            s if is_open(s) => {
                let (dirfd, path_arg) = if s == Sysno::openat || s == Sysno::openat2 {
                    (args[0] as i32, args[1])
                } else {
                    (libc::AT_FDCWD, args[0])
                };
                let path = self.absolute_path(proc, tid, dirfd, layout::c_string(mem, path_arg));
                let flags = layout::open_flags(mem, s, args);
                if ret >= 0 {
                    let target = procfs::fd_target(tid, ret as i32).unwrap_or(path.clone());
                    self.note_new_fd(proc, ret as i32, target);
                }
                Event::Open { path, flags, ret }
            }
            s if is_unlink(s) => {
                let (dirfd, path_arg) = if s == Sysno::unlinkat {
                    (args[0] as i32, args[1])
                } else {
                    (libc::AT_FDCWD, args[0])
                };
                Event::Unlink {
                    path: self.absolute_path(proc, tid, dirfd, layout::c_string(mem, path_arg)),
                    ret,
                }
            }
            s if is_mknod(s) => {
                let (dirfd, path_arg, mode_arg) = if s == Sysno::mknodat {
                    (args[0] as i32, args[1], args[2])
                } else {
                    (libc::AT_FDCWD, args[0], args[1])
                };
                Event::Mknod {
                    path: self.absolute_path(proc, tid, dirfd, layout::c_string(mem, path_arg)),
                    mode: mode_arg as u32,
                    ret,
                }
            }
            s if new_name_arg(s).is_some() => {
                let (dirfd_arg, path_arg) = new_name_arg(s).expect("checked by the guard");
                let dirfd = dirfd_arg.map_or(libc::AT_FDCWD, |arg| args[arg] as i32);
                let path = layout::c_string(mem, args[path_arg]);
                Event::Name {
                    syscall: s.name().to_string(),
                    path: self.absolute_path(proc, tid, dirfd, path),
                    ret,
                }
            }
            Sysno::socket => {
                if ret >= 0 {
                    let target = procfs::fd_target(tid, ret as i32).unwrap_or_default();
                    self.note_new_fd(proc, ret as i32, target);
                }
                Event::Socket {
                    domain: args[0] as i32,
                    ret,
                }
            }
            Sysno::socketpair => {
                let fds = if ret == 0 {
                    layout::fd_pair(mem, args[3]).unwrap_or([-1, -1])
                } else {
                    [-1, -1]
                };
                let targets = fds.map(|fd| {
                    let target = procfs::fd_target(tid, fd).unwrap_or_default();
                    if fd >= 0 {
                        self.procs[proc].fds.insert(fd, target.clone());
                    }
                    target
                });
                Event::SocketPair {
                    domain: args[0] as i32,
                    fds,
                    targets,
                    ret,
                }
            }
            Sysno::bind | Sysno::connect => {
                let fd = args[0] as i32;
                let path = layout::socket_path(mem, args[1], args[2]);
                let path = if path.starts_with('@') || path.is_empty() {
                    path
                } else {
                    self.absolute_path(proc, tid, libc::AT_FDCWD, path)
                };
                if sysno == Sysno::bind {
                    Event::Bind {
                        fd,
                        target: self.fd_target(proc, tid, fd),
                        path,
                        ret,
                    }
                } else {
                    Event::Connect { fd, path, ret }
                }
            }
            Sysno::accept | Sysno::accept4 => {
                if ret >= 0 {
                    let target = procfs::fd_target(tid, ret as i32).unwrap_or_default();
                    self.note_new_fd(proc, ret as i32, target);
                }
                Event::Accept {
                    fd: args[0] as i32,
                    ret,
                }
            }
            Sysno::mq_open => {
                if ret >= 0 {
                    let target = procfs::fd_target(tid, ret as i32).unwrap_or_default();
                    self.note_new_fd(proc, ret as i32, target);
                }
                Event::MqOpen {
                    name: queue_name(layout::c_string(mem, args[0])),
                    flags: args[1] as i32,
                    ret,
                }
            }
            Sysno::mq_unlink => Event::MqUnlink {
                name: queue_name(layout::c_string(mem, args[0])),
                ret,
            },
            Sysno::shmget => Event::ShmGet {
                key: args[0] as i32 as i64,
                size: args[1],
                flags: args[2] as i32,
                ret,
            },
            Sysno::shmat => Event::ShmAt {
                shmid: args[0] as i32 as i64,
                ret,
            },
            Sysno::shmdt => Event::ShmDt { addr: args[0], ret },
            Sysno::shmctl => Event::ShmCtl {
                shmid: args[0] as i32 as i64,
                cmd: args[1] as i32,
                ret,
            },
            Sysno::msgget | Sysno::semget | Sysno::memfd_create => Event::OtherIpc {
                syscall: sysno.name().to_string(),
                ret,
            },
            Sysno::mmap => Event::MmapShared {
                len: args[1],
                fd: args[4] as i32,
                ret,
            },
            Sysno::munmap => Event::Munmap {
                addr: args[0],
                len: args[1],
                ret,
            },
            Sysno::ftruncate => Event::Ftruncate {
                fd: args[0] as i32,
                len: args[1],
                ret,
            },
            Sysno::wait4 => Event::Wait {
                syscall: "wait4".to_string(),
                pid_arg: args[0] as i32 as i64,
                reaped: if ret > 0 {
                    self.proc_seen_as(ret as i32)
                } else {
                    None
                },
                ret,
            },
            Sysno::waitid => {
                // The reaped child's pid is in the siginfo the caller passed.
                let reaped = (ret == 0)
                    .then(|| layout::siginfo_pid(mem, args[2]))
                    .flatten()
                    .filter(|pid| *pid > 0)
                    .and_then(|pid| self.proc_seen_as(pid));
                Event::Wait {
                    syscall: "waitid".to_string(),
                    pid_arg: args[1] as i32 as i64,
                    reaped,
                    ret,
                }
            }
            s if SIGNAL_SEND_CALLS.contains(&s) => {
                let (to_pid, signal, info) = match s {
                    Sysno::kill | Sysno::tkill => (args[0], args[1], None),
                    Sysno::tgkill => (args[0], args[2], None),
                    Sysno::rt_sigqueueinfo => (args[0], args[1], Some(args[2])),
                    _ => (args[0], args[2], Some(args[3])), // rt_tgsigqueueinfo
                };
                let value = info.and_then(|addr| layout::siginfo_value(mem, addr));
                let to = self.signal_target(s, args);
                let event = Event::SignalSent {
                    syscall: s.name().to_string(),
                    to_pid: to_pid as i32 as i64,
                    to,
                    signal: signal as i32,
                    value,
                    ret,
                    at: call.entered_at,
                };
                self.trace.processes[proc].events.push(event);
                if ret == 0 && self.is_worker_to_parent(proc, to) {
                    self.maybe_hold(tid, proc, HoldPoint::AfterSignallingParent);
                }
                return;
            }
            Sysno::rt_sigaction => {
                if args[1] == 0 {
                    return; // Only asked for the current disposition.
                }
                let Some(disposition) = layout::disposition(mem, args[1]) else {
                    return;
                };
                let signal = args[0] as i32;
                if ret == 0 {
                    self.procs[proc].dispositions.insert(signal, disposition);
                }
                Event::SignalAction {
                    signal,
                    disposition,
                    ret,
                    at: self.tick(),
                }
            }
            Sysno::rt_sigprocmask => {
                if args[1] == 0 {
                    return; // Only read the mask.
                }
                Event::SignalMask {
                    how: args[0] as i32,
                    signals: layout::sigset(mem, args[1]),
                    ret,
                    at: self.tick(),
                }
            }
            _ => return,
        };
        self.trace.processes[proc].events.push(event);
    }

    /// True if `proc` is a child of the program's first process and `to` is that process:
    /// the signals the forced orderings hold around.
    fn is_worker_to_parent(&self, proc: ProcId, to: Option<ProcId>) -> bool {
        self.trace.processes[proc].parent == Some(0) && to == Some(0)
    }

    /// The run's process a signal-sending call targets (a positive pid, as the sender sees
    /// pids); `None` for a group, everyone, or a process outside the run.
    fn signal_target(&self, sysno: Sysno, args: &[u64; 6]) -> Option<ProcId> {
        let pid = args[0] as i32;
        if pid <= 0 {
            return None;
        }
        match sysno {
            // A thread id: the process whose thread it is.
            Sysno::tkill => self.proc_seen_as(pid).or_else(|| {
                (self.config.shims == 0)
                    .then(|| self.tasks.get(&pid).map(|t| t.proc))
                    .flatten()
            }),
            _ => self.proc_seen_as(pid),
        }
    }

    /// Records a new descriptor; an alias of stdout/stderr above 2 switches the process to
    /// stepping, so writes through it are seen in filtered mode too.
    fn note_new_fd(&mut self, proc: ProcId, fd: i32, target: String) {
        let aliases_std =
            fd > 2 && (target == self.config.stdout_target || target == self.config.stderr_target);
        self.procs[proc].fds.insert(fd, target);
        if aliases_std && !self.procs[proc].stepping {
            self.procs[proc].stepping = true;
            self.trace.processes[proc].stepped = true;
        }
    }

    /// `path` as an absolute path: relative ones are resolved against the directory
    /// descriptor (`dirfd`) or the working directory, as the kernel did. Left as given when
    /// /proc cannot tell (the process is gone). Only lexical: `.` and `..` are folded, links
    /// are not followed.
    fn absolute_path(&mut self, proc: ProcId, tid: i32, dirfd: i32, path: String) -> String {
        if path.starts_with('/') || path.is_empty() {
            return path;
        }
        let base = if dirfd == libc::AT_FDCWD {
            procfs::cwd(tid)
        } else {
            Some(self.fd_target(proc, tid, dirfd)).filter(|t| t.starts_with('/'))
        };
        match base {
            Some(base) => join_lexically(&base, &path),
            None => path,
        }
    }

    fn fd_target(&mut self, proc: ProcId, tid: i32, fd: i32) -> String {
        if let Some(target) = self.procs[proc].fds.get(&fd) {
            return target.clone();
        }
        let target = procfs::fd_target(tid, fd).unwrap_or_default();
        self.procs[proc].fds.insert(fd, target.clone());
        target
    }

    fn reload_fds(&mut self, proc: ProcId, tid: i32) {
        self.procs[proc].fds = procfs::open_fds(tid)
            .into_iter()
            .map(|f| (f.fd, f.target))
            .collect();
    }

    fn resume(&self, tid: i32, sig: i32) {
        if self.held.contains_key(&tid) {
            return; // Held for a forced ordering: release_holds restarts it.
        }
        let Some(task) = self.tasks.get(&tid) else {
            return;
        };
        let step = self.config.full || self.procs[task.proc].stepping || task.pending.is_some();
        let request = if step {
            libc::PTRACE_SYSCALL
        } else {
            libc::PTRACE_CONT
        };
        restart(tid, request, sig);
    }
}

/// Restarts a stopped tracee with PTRACE_CONT or PTRACE_SYSCALL, delivering `sig` (0: none).
fn restart(tid: i32, request: libc::c_uint, sig: i32) {
    // SAFETY: PTRACE_CONT/PTRACE_SYSCALL take no pointers; `data` is a signal number.
    // ESRCH (the tracee vanished, e.g. killed) is expected and harmless: its exit report
    // follows.
    unsafe {
        libc::ptrace(request, tid, 0usize, sig as libc::c_long);
    }
}

/// Makes a tracee stopped at a call's entry (or its seccomp stop) skip the call: its number
/// becomes -1, and the call returns -ENOSYS, which the kernel put in the return register at
/// entry.
fn skip_syscall(tid: i32) {
    #[cfg(target_arch = "x86_64")]
    {
        let orig_rax = std::mem::offset_of!(libc::user_regs_struct, orig_rax);
        // SAFETY: POKEUSER writes one word of the stopped tracee's saved registers at an
        // offset inside struct user_regs_struct; no memory of ours is involved.
        unsafe {
            libc::ptrace(libc::PTRACE_POKEUSER, tid, orig_rax, -1i64);
        }
    }
    #[cfg(target_arch = "aarch64")]
    {
        const NT_ARM_SYSTEM_CALL: usize = 0x404;
        let mut number: i32 = -1;
        let mut iov = libc::iovec {
            iov_base: (&raw mut number).cast(),
            iov_len: std::mem::size_of::<i32>(),
        };
        // SAFETY: SETREGSET reads `iov`, which points at a local int that outlives the call.
        unsafe {
            libc::ptrace(
                libc::PTRACE_SETREGSET,
                tid,
                NT_ARM_SYSTEM_CALL,
                &raw mut iov,
            );
        }
    }
}

/// What waiting for the tracees gave.
enum Waited {
    /// A tracee stopped or ended: its tid and wait status.
    Stop(i32, i32),
    /// Nothing happened for a moment (only when polling).
    Idle,
    /// No tracee is left (ECHILD).
    NoTracees,
}

/// How to wait for the next stop.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Wait {
    /// Until something happens.
    Block,
    /// Give up after about a millisecond (holds are rare and short, and a blocking wait
    /// cannot time out).
    Poll,
    /// Give up after yielding the CPU once: what is awaited is due at once.
    PollBriefly,
}

/// Waits for any stop or exit of this thread's tracees, as `how` says.
fn wait_any(how: Wait) -> Waited {
    let poll = how != Wait::Block;
    let flags = libc::__WALL | libc::__WNOTHREAD | if poll { libc::WNOHANG } else { 0 };
    loop {
        let mut status = 0;
        // SAFETY: waitpid writes the status into a valid local; no other memory is involved.
        let pid = unsafe { libc::waitpid(-1, &mut status, flags) };
        if pid > 0 {
            return Waited::Stop(pid, status);
        }
        if pid == 0 {
            // WNOHANG and nothing yet.
            if how == Wait::PollBriefly {
                std::thread::yield_now();
            } else {
                std::thread::sleep(Duration::from_millis(1));
            }
            return Waited::Idle;
        }
        if std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return Waited::NoTracees;
        }
    }
}

/// Calls in which a process sleeps until something happens to it.
fn is_blocking_wait(sysno: Sysno) -> bool {
    SIGNAL_WAIT_CALLS.contains(&sysno) || sysno == Sysno::wait4 || sysno == Sysno::waitid
}

fn is_pipe(s: Sysno) -> bool {
    #[cfg(target_arch = "x86_64")]
    if s == Sysno::pipe {
        return true;
    }
    s == Sysno::pipe2
}

fn is_dup(s: Sysno) -> bool {
    super::interest::DUP_CALLS.contains(&s) || s == Sysno::fcntl
}

fn is_open(s: Sysno) -> bool {
    #[cfg(target_arch = "x86_64")]
    if s == Sysno::open || s == Sysno::creat {
        return true;
    }
    s == Sysno::openat || s == Sysno::openat2
}

fn is_unlink(s: Sysno) -> bool {
    #[cfg(target_arch = "x86_64")]
    if s == Sysno::unlink {
        return true;
    }
    s == Sysno::unlinkat
}

fn is_mknod(s: Sysno) -> bool {
    #[cfg(target_arch = "x86_64")]
    if s == Sysno::mknod {
        return true;
    }
    s == Sysno::mknodat
}

/// For a call that gives a file a new name ([`Event::Name`]): which argument holds the
/// directory descriptor the name is relative to (none: the working directory) and which
/// the name.
fn new_name_arg(s: Sysno) -> Option<(Option<usize>, usize)> {
    #[cfg(target_arch = "x86_64")]
    match s {
        Sysno::link | Sysno::symlink | Sysno::rename => return Some((None, 1)),
        Sysno::mkdir => return Some((None, 0)),
        _ => {}
    }
    match s {
        Sysno::linkat | Sysno::renameat | Sysno::renameat2 => Some((Some(2), 3)),
        Sysno::symlinkat => Some((Some(1), 2)),
        Sysno::mkdirat => Some((Some(0), 1)),
        _ => None,
    }
}

/// `dir/path`, with `.` and `..` folded (`..` at the root stays at the root).
fn join_lexically(dir: &str, path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in dir.split('/').chain(path.split('/')) {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    format!("/{}", parts.join("/"))
}

/// A message queue's name with its leading `/`: the C library strips it before the system
/// call, but programs, `mq_unlink` and `/dev/mqueue` listings show it.
fn queue_name(name: String) -> String {
    if name.starts_with('/') {
        name
    } else {
        format!("/{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_join_lexically() {
        assert_eq!(join_lexically("/tmp/run", "fifo"), "/tmp/run/fifo");
        assert_eq!(join_lexically("/tmp/run", "./a/../b"), "/tmp/run/b");
        assert_eq!(join_lexically("/", "../../x"), "/x");
    }

    #[test]
    fn queue_names_get_their_slash() {
        assert_eq!(queue_name("lab12-7".into()), "/lab12-7");
        assert_eq!(queue_name("/lab12-7".into()), "/lab12-7");
    }
}
