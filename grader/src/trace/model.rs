//! The trace as data: processes, the IPC-relevant system calls they made, and how they ended.
//!
//! Everything here is plain data (serde-serializable), produced by [`super::tracer`] and
//! read by the checks. Nothing in this module touches the kernel, so checks can be tested on
//! hand-built traces.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Index of a process in [`Trace::processes`]. Stable for the whole run, unlike pids, which
/// the kernel may reuse.
pub type ProcId = usize;

/// Everything the tracer saw in one run.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Trace {
    /// Every process of the run, in order of creation; index 0 is the program started.
    pub processes: Vec<Process>,
    /// True when the tracer stepped every system call (`grader trace`'s full mode); false when a
    /// seccomp filter stopped only the calls of interest.
    pub full: bool,
    /// A counter the tracer advances at every event that carries an `at` (signals, holds,
    /// ends): the order of those events across processes, which per-process lists lose.
    #[serde(default)]
    pub clock: u64,
}

/// One process (thread group) of the run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Process {
    pub pid: i32,
    /// The process that forked this one; `None` for the program started by the grader.
    pub parent: Option<ProcId>,
    /// Human name: `parent`, `worker 1`, `worker 2`, … (children of the parent, in fork
    /// order), or `process <pid>` for anything deeper.
    pub label: String,
    /// Executables this process ran (`execve`), in order.
    pub execs: Vec<String>,
    /// The IPC-relevant system calls, decoded, in the order they completed.
    pub events: Vec<Event>,
    /// How the process ended, if the tracer saw it end.
    pub end: Option<End>,
    /// Open file descriptors just before the process exited (from /proc at the exit stop).
    pub fds_at_exit: Vec<OpenFd>,
    /// The kernel's I/O counters just before exit (/proc/PID/io).
    pub io_at_exit: Option<IoCounters>,
    /// CPU time the process used, just before exit (/proc/PID/stat).
    #[serde(default)]
    pub cpu_at_exit: Option<CpuTime>,
    /// Number of threads this process started (besides its main thread).
    pub threads: usize,
    /// System call counts by name. In filtered mode only the calls the filter stopped.
    pub syscall_counts: BTreeMap<String, SyscallCount>,
    /// True if the tracer switched this process to stepping every call, because it made an
    /// alias of stdout or stderr (dup) that a filter on fd numbers could not follow.
    pub stepped: bool,
    /// When the process ended, on the trace's clock (see [`Trace::clock`]).
    #[serde(default)]
    pub ended_at: Option<u64>,
}

/// How often a system call was made, and how often it failed.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct SyscallCount {
    pub calls: u64,
    pub errors: u64,
}

/// How a process ended.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum End {
    /// `exit(code)` or a return from main.
    Exited { code: i32 },
    /// Killed by a signal the program did not handle (the grader's own kills are `Killed`).
    Signaled { signal: i32, core_dumped: bool },
    /// Killed by the grader: the run timed out, or the process outlived the parent.
    Killed,
}

/// An open file descriptor, as /proc shows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct OpenFd {
    pub fd: i32,
    /// `readlink /proc/PID/fd/N`, e.g. `pipe:[1234]` or a path.
    pub target: String,
    /// The open flags (O_ACCMODE tells a pipe's read end, 0, from its write end, 1).
    pub flags: u32,
}

impl OpenFd {
    /// True if this is the write end of a pipe (or a write-only descriptor).
    pub fn is_write_end(&self) -> bool {
        self.flags & libc::O_ACCMODE as u32 == libc::O_WRONLY as u32
    }
}

/// /proc/PID/io: bytes and calls of every read- and write-like system call, traced or not.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct IoCounters {
    pub rchar: u64,
    pub wchar: u64,
    pub syscr: u64,
    pub syscw: u64,
}

/// CPU time a process used (utime and stime of /proc/PID/stat), in milliseconds.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct CpuTime {
    pub user_ms: u64,
    pub system_ms: u64,
}

impl CpuTime {
    pub fn total_ms(&self) -> u64 {
        self.user_ms + self.system_ms
    }
}

/// Where a write went, judged by the file behind the descriptor, not by its number.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Stream {
    /// The run's stdout (the pipe the grader reads).
    Stdout,
    /// The run's stderr.
    Stderr,
    /// Anything else, named by its /proc target.
    Other(String),
}

/// A decoded system call. Return values are those the kernel gave; `ret < 0` is `-errno`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case", tag = "call")]
pub enum Event {
    /// A new process (or thread) was created by fork, vfork or clone.
    Spawn { child: ProcId, thread: bool },
    /// A call no program may make (`trace::interest::refusal`): the tracer skipped it, and
    /// it returned ENOSYS.
    Refused { syscall: String, reason: String },
    /// pipe/pipe2: the read and write ends, and the kernel's id for the pipe.
    Pipe {
        read_fd: i32,
        write_fd: i32,
        inode: String,
    },
    /// close(fd): what the descriptor referred to at the time.
    Close { fd: i32, target: String },
    /// dup/dup2/dup3/fcntl(F_DUPFD): `new` now refers to the same file as `old`.
    Dup { old: i32, new: i32, target: String },
    /// A write-like call to stdout, stderr or an alias of them.
    Write {
        syscall: String,
        fd: i32,
        stream: Stream,
        bytes: u64,
        sample: String,
        /// The signal whose handler was running when the write was made, if any: a
        /// handler that writes (println!, eprintln!) takes locks a signal can interrupt.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        in_handler: Option<i32>,
    },
    /// open/openat/creat. A relative `path` is made absolute (from the working directory, or
    /// the directory descriptor of `openat`) when the tracer can tell where it points.
    Open { path: String, flags: i32, ret: i64 },
    /// unlink/unlinkat (path made absolute like [`Event::Open`]'s).
    Unlink { path: String, ret: i64 },
    /// mknod/mknodat (mkfifo), path made absolute like [`Event::Open`]'s.
    Mknod { path: String, mode: u32, ret: i64 },
    /// A call that gave a file a new name: link, symlink, rename (the name it moved to) or
    /// mkdir; `path` is that name, made absolute like [`Event::Open`]'s. The grader's own
    /// clean-up needs these where nothing else tells what a run left (a second name of a
    /// FIFO or a shared-memory object outlives the first one's removal).
    Name {
        syscall: String,
        path: String,
        ret: i64,
    },
    /// socket(domain, …) = descriptor.
    Socket { domain: i32, ret: i64 },
    /// socketpair(domain, …): the two descriptors and the kernel's names for them
    /// (`socket:[N]`; the two ends of a pair are two sockets, with two names).
    SocketPair {
        domain: i32,
        fds: [i32; 2],
        targets: [String; 2],
        ret: i64,
    },
    /// bind(fd, address). `target` names the socket (`socket:[N]`); `path` is the socket
    /// file of a Unix-domain address (absolute), `@name` for an abstract one, empty for other
    /// families.
    Bind {
        fd: i32,
        target: String,
        path: String,
        ret: i64,
    },
    /// connect(fd, address), `path` as in [`Event::Bind`].
    Connect { fd: i32, path: String, ret: i64 },
    /// accept/accept4(fd) = the new connection's descriptor.
    Accept { fd: i32, ret: i64 },
    /// sendto/sendmsg, recorded at entry (like writes): the bytes asked to be sent. Plain
    /// `write`s to a socket are counted by the kernel's I/O counters instead.
    Send {
        syscall: String,
        fd: i32,
        bytes: u64,
    },
    /// mq_open(name, flags) = queue descriptor. `name` as the program wrote it, with its
    /// leading `/` (the C library strips it before the system call).
    MqOpen { name: String, flags: i32, ret: i64 },
    /// mq_unlink(name), `name` with its leading `/`.
    MqUnlink { name: String, ret: i64 },
    /// mq_timedsend (mq_send), recorded at entry: the message's size and priority.
    MqSend { mqd: i32, bytes: u64, priority: u32 },
    /// mq_timedreceive (mq_receive), recorded at entry: the size of the buffer offered.
    MqReceive { mqd: i32, capacity: u64 },
    /// shmget(key, size, flags) = id.
    ShmGet {
        key: i64,
        size: u64,
        flags: i32,
        ret: i64,
    },
    /// shmat(id, …) = address.
    ShmAt { shmid: i64, ret: i64 },
    /// shmdt(address).
    ShmDt { addr: u64, ret: i64 },
    /// shmctl(id, cmd).
    ShmCtl { shmid: i64, cmd: i32, ret: i64 },
    /// msgget/semget/memfd_create: other System V or POSIX IPC objects.
    OtherIpc { syscall: String, ret: i64 },
    /// mmap with MAP_SHARED.
    MmapShared { len: u64, fd: i32, ret: i64 },
    /// munmap(addr, len): the pages in `[addr, addr + len)` are no longer mapped.
    Munmap { addr: u64, len: u64, ret: i64 },
    /// ftruncate(fd, len): how a shared-memory object gets its size.
    Ftruncate { fd: i32, len: u64, ret: i64 },
    /// wait4/waitid: `reaped` is the child collected, if any.
    Wait {
        syscall: String,
        pid_arg: i64,
        reaped: Option<ProcId>,
        ret: i64,
    },
    /// A signal delivered to the process (forwarded by the tracer). `handled`: the process
    /// had a handler installed for it, which runs now (until its `rt_sigreturn`).
    Signal {
        signal: i32,
        #[serde(default)]
        handled: bool,
        #[serde(default)]
        at: u64,
    },
    /// kill/tkill/tgkill/sigqueue (rt_sigqueueinfo): a signal sent. `to` is the run's
    /// process the target pid named (as the sender saw it, so through its PID namespace);
    /// `value` is a queued signal's `si_value` (`sival_int`), when there was one.
    SignalSent {
        syscall: String,
        to_pid: i64,
        to: Option<ProcId>,
        signal: i32,
        value: Option<i32>,
        ret: i64,
        at: u64,
    },
    /// rt_sigaction that changed a disposition (`sigaction`, `signal`).
    SignalAction {
        signal: i32,
        disposition: Disposition,
        ret: i64,
        at: u64,
    },
    /// rt_sigprocmask (sigprocmask, pthread_sigmask): `how` is SIG_BLOCK, SIG_UNBLOCK or
    /// SIG_SETMASK, `signals` the set passed (empty when none was).
    SignalMask {
        how: i32,
        signals: Vec<i32>,
        ret: i64,
        at: u64,
    },
    /// A call that sleeps until a signal comes (rt_sigsuspend, rt_sigtimedwait, pause), seen
    /// at entry: `signals` is the set waited for (sigtimedwait) or the mask during the wait
    /// (sigsuspend).
    SignalWait {
        syscall: String,
        signals: Vec<i32>,
        at: u64,
    },
    /// The grader held this process stopped to force an order of events (the input's
    /// `hold`), and let it go.
    Held {
        /// Where it was held, in words: `after its fork 2`.
        point: String,
        /// What it waited for, in words: `until both workers had signalled it`.
        until: String,
        /// True if that happened; false if the time bound passed first.
        met: bool,
        waited_ms: u64,
        at: u64,
    },
}

/// What a process does with a signal, as set by `sigaction`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Disposition {
    Default,
    Ignore,
    Handler,
}

impl Trace {
    /// The program the grader started.
    pub fn root(&self) -> Option<&Process> {
        self.processes.first()
    }

    /// Processes (not threads) whose parent is `id`, in fork order.
    pub fn children_of(&self, id: ProcId) -> impl Iterator<Item = (ProcId, &Process)> {
        self.processes
            .iter()
            .enumerate()
            .filter(move |(_, p)| p.parent == Some(id))
    }

    /// Every process except the root.
    pub fn descendants(&self) -> impl Iterator<Item = (ProcId, &Process)> {
        self.processes.iter().enumerate().skip(1)
    }

    /// All pids the run used, for attributing kernel objects by creator pid.
    pub fn pids(&self) -> Vec<i32> {
        self.processes.iter().map(|p| p.pid).collect()
    }

    /// The process with this pid that was alive last (pids can be reused within a run).
    pub fn by_pid(&self, pid: i32) -> Option<ProcId> {
        self.processes.iter().rposition(|p| p.pid == pid)
    }
}

impl Process {
    /// A process record for a pid just seen.
    pub fn new(pid: i32, parent: Option<ProcId>, label: String) -> Self {
        Process {
            pid,
            parent,
            label,
            execs: Vec::new(),
            events: Vec::new(),
            end: None,
            fds_at_exit: Vec::new(),
            io_at_exit: None,
            cpu_at_exit: None,
            threads: 0,
            syscall_counts: BTreeMap::new(),
            stepped: false,
            ended_at: None,
        }
    }

    /// `worker 1 (pid 4242)`: how feedback names a process.
    pub fn name(&self) -> String {
        format!("{} (pid {})", self.label, self.pid)
    }

    /// The signals it sent, with their target and the trace clock.
    pub fn signals_sent(&self) -> impl Iterator<Item = (Option<ProcId>, i32, u64)> + '_ {
        self.events.iter().filter_map(|e| match e {
            Event::SignalSent {
                to,
                signal,
                ret,
                at,
                ..
            } if *ret == 0 => Some((*to, *signal, *at)),
            _ => None,
        })
    }

    /// Bytes this process wrote to the run's stdout.
    pub fn stdout_writes(&self) -> impl Iterator<Item = &Event> {
        self.events.iter().filter(|e| {
            matches!(
                e,
                Event::Write {
                    stream: Stream::Stdout,
                    ..
                }
            )
        })
    }
}
