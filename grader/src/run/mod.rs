//! One traced run of a program: start it under the tracer with its stdin, capture its output,
//! enforce the limits, kill whatever it leaves running, and collect what it leaked.
//!
//! A program's crash, hang, flood or leak is a *result* ([`RunOutcome`]); an `Err` means the
//! grader could not run it at all (missing file, not executable, a tracer failure).

pub mod capture;
pub mod client;
pub mod hang;
pub mod inventory;
pub mod isolation;

pub use capture::Captured;
pub use inventory::Leak;
pub use isolation::Isolation;

use crate::trace::HoldRule;
use crate::trace::filter::Policy;
use crate::trace::interest::{hardening_policy, shield_policy};
use crate::trace::live::{LiveSet, ProcessSnapshot};
use crate::trace::tracer::{self, TracerConfig};
use crate::trace::{Interest, Trace};
use serde::{Deserialize, Serialize};
use std::ffi::OsString;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Limits of one run. Defaults suit the labs: generous for a correct program, small enough
/// that a runaway one cannot hurt the machine.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Limits {
    /// Wall-clock time before every process of the run is killed.
    pub wall: Duration,
    /// Bytes kept per output stream (head and tail; the rest is counted).
    pub output_bytes: usize,
    /// Processes the run may create, counted by the tracer.
    pub max_processes: usize,
    /// Tasks (processes and threads) the run may create, counted by the tracer (and by
    /// RLIMIT_NPROC where the run has a uid of its own).
    #[serde(default = "default_max_tasks")]
    pub max_tasks: usize,
    /// RLIMIT_CPU, seconds.
    pub cpu_secs: u64,
    /// RLIMIT_AS, bytes.
    pub address_space: u64,
    /// RLIMIT_FSIZE, bytes.
    pub file_size: u64,
    /// RLIMIT_NOFILE.
    pub open_files: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            wall: Duration::from_secs(10),
            output_bytes: 1 << 20,
            max_processes: 64,
            max_tasks: default_max_tasks(),
            cpu_secs: 60,
            address_space: 4 << 30,
            file_size: 64 << 20,
            open_files: 256,
        }
    }
}

fn default_max_tasks() -> usize {
    256
}

/// What to run.
#[derive(Debug, Clone)]
pub struct RunSpec {
    pub program: PathBuf,
    /// Arguments; `{dir}` becomes a scratch directory of the run's own (removed after it)
    /// and `{port}` a free TCP port, here and in the client script's address.
    pub args: Vec<OsString>,
    pub stdin: Vec<u8>,
    pub limits: Limits,
    /// Step every system call instead of filtering (slower; counts everything).
    pub full: bool,
    pub interest: Interest,
    /// Give the program the grader's own stdin, stdout and stderr (for `grader trace`)
    /// instead of feeding `stdin` and capturing the output.
    pub inherit_stdio: bool,
    /// Force an isolation instead of the machine's best ([`isolation::detect`]).
    pub isolation: Option<Isolation>,
    /// A forced ordering for the tracer to impose.
    pub hold: Option<HoldRule>,
    /// A conversation the grader holds with the program as its client, while it runs.
    pub client: Option<client::ClientScript>,
}

/// How a run ended, as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunStatus {
    /// The program's first process ended by itself.
    Completed,
    /// The wall-clock limit passed; every process was killed.
    TimedOut,
    /// It created more processes than allowed; every process was killed.
    ProcessLimit,
    /// It created more tasks (threads included) than allowed; every process was killed.
    TaskLimit,
}

/// Everything one run produced.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunOutcome {
    pub status: RunStatus,
    pub trace: Trace,
    pub stdout: Captured,
    pub stderr: Captured,
    pub wall: Duration,
    /// When the run timed out: what each live process was blocked in.
    pub hang: Vec<ProcessSnapshot>,
    /// When the run timed out: the CPU time each live process had used, and how much of it
    /// in the watchdog's last look before the kill (a process still computing uses it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cpu_at_cut: Vec<hang::CpuAtCut>,
    /// IPC objects the run left behind (already removed by the grader).
    pub leaks: Vec<Leak>,
    /// How the run was fenced off from the machine.
    pub isolation: Isolation,
    /// What each step of the client script did (empty without a script).
    #[serde(default)]
    pub client: Vec<client::StepOutcome>,
    /// The private file systems the run filled to their cap (its writes past it failed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub filled: Vec<FilledPlace>,
}

/// A run's private tmpfs (see [`isolation::PRIVATE_TMPFS`]) found full after the run: the
/// cap on what a run may write cut it, and its writes past the cap failed with ENOSPC.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct FilledPlace {
    /// As the program names it (`/tmp`).
    pub path: String,
    pub cap_bytes: u64,
}

impl FilledPlace {
    /// One line for feedback.
    pub fn describe(&self) -> String {
        format!(
            "{} was full: the run filled its {} MiB cap there, and writes past it failed \
             (ENOSPC, \"No space left on device\")",
            self.path,
            self.cap_bytes / (1024 * 1024)
        )
    }

    /// `Some` if the file system of `dir` (a descriptor on a run's private directory) has
    /// no block or no inode left.
    fn of(path: &str, dir: &std::fs::File) -> Option<FilledPlace> {
        let mut stats = std::mem::MaybeUninit::<libc::statvfs>::uninit();
        // SAFETY: fstatvfs writes one statvfs into the buffer we own, for a descriptor we
        // hold open; the buffer is read only if it succeeded.
        let stats = unsafe {
            if libc::fstatvfs(dir.as_raw_fd(), stats.as_mut_ptr()) != 0 {
                return None;
            }
            stats.assume_init()
        };
        let full = stats.f_bavail == 0 || stats.f_favail == 0;
        full.then(|| FilledPlace {
            path: path.to_string(),
            cap_bytes: stats.f_blocks * stats.f_frsize,
        })
    }
}

/// Why the grader could not run a program.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{0}: no such file")]
    NotFound(PathBuf),
    #[error("{0}: not a regular file")]
    NotAFile(PathBuf),
    #[error("{0}: not executable (chmod +x?)")]
    NotExecutable(PathBuf),
    #[error("{0}: not a program (neither an ELF executable nor a #! script)")]
    NotAProgram(PathBuf),
    #[error("cannot start {path}: {source}")]
    Spawn {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot isolate the run: {0}")]
    Isolation(String),
}

/// Checks that a path names a program the grader can run, with a clear reason if not.
pub fn check_executable(path: &Path) -> Result<(), RunError> {
    let meta = std::fs::metadata(path).map_err(|_| RunError::NotFound(path.to_path_buf()))?;
    if !meta.is_file() {
        return Err(RunError::NotAFile(path.to_path_buf()));
    }
    if meta.permissions().mode() & 0o111 == 0 {
        return Err(RunError::NotExecutable(path.to_path_buf()));
    }
    let mut magic = [0u8; 4];
    let read = std::fs::File::open(path).and_then(|mut f| {
        use std::io::Read;
        f.read(&mut magic)
    });
    match read {
        Ok(n) if magic[..n].starts_with(b"\x7fELF") || magic[..n].starts_with(b"#!") => Ok(()),
        // Unreadable but executable (mode --x): let exec decide.
        Err(_) => Ok(()),
        Ok(_) => Err(RunError::NotAProgram(path.to_path_buf())),
    }
}

/// Runs a program under the tracer, isolated as well as this machine allows (see
/// [`isolation`]). Blocks until every process of the run has ended.
pub fn run(spec: &RunSpec) -> Result<RunOutcome, RunError> {
    check_executable(&spec.program)?;
    let isolation = match spec.isolation {
        Some(forced) => forced,
        None => isolation::detect().map_err(RunError::Isolation)?,
    };
    // Namespaces made by the grader (privileged) or by the child itself (user namespaces).
    let privileged = isolation == Isolation::Namespaces;
    let user_namespaces = isolation == Isolation::UserNamespaces;
    let namespaces = privileged || user_namespaces;
    let shims = isolation.shims();
    // A root grader never runs student code as root: the run gets a uid of its own. A
    // grader that is not root cannot give it another uid; in user namespaces the run is
    // root of its own namespace only, and gives up even that before exec.
    let run_user = isolation::is_root().then(isolation::RunUser::next);
    let user_maps = isolation::UserMaps::for_user(run_user);
    // The program runs from a copy when its uid could not reach it, or when it sits right
    // in /tmp or /var/tmp, which a namespaced run sees as fresh directories of its own.
    let staged = stage(&spec.program, run_user.is_some(), namespaces)?;
    let program = staged
        .as_ref()
        .map_or(spec.program.as_path(), |s| s.program.as_path());
    let interest = spec.interest.clone().with_leak_tracking();
    let limits = spec.limits;
    let segments_before = inventory::segment_ids();

    // A grader-side TCP client reaches a run in user namespaces only on the machine's own
    // loopback (see enter_user_namespaces); `{port}` is then free there.
    let tcp_client = spec
        .client
        .as_ref()
        .is_some_and(|c| c.address.starts_with("tcp:"));
    // `{dir}` and `{port}`: outside /tmp, which a namespaced run sees privately.
    let scratch = Scratch::for_spec(spec, run_user)?;
    let mounts = if namespaces {
        let program_dir = program
            .canonicalize()
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf));
        let scratch_dir = scratch
            .dir
            .as_ref()
            .and_then(|d| d.path().canonicalize().ok());
        isolation::PrivateMounts::plan(program_dir.as_deref(), scratch_dir.as_deref())
            .map_err(RunError::Isolation)?
    } else {
        isolation::PrivateMounts::none()
    };
    let made_by_mounts = mounts.made_entries();
    // The program may signal none of the grader's processes: a root grader's runs have
    // another uid (or live in a PID namespace) for that; an unprivileged grader in the
    // fallback refuses those calls with a filter.
    // One seccomp program holds the run's whole policy, most restrictive rules first: the
    // shield, then the refused calls, then (filtered tracing) the calls to stop on.
    let mut policy = Policy::default();
    if !namespaces && run_user.is_none() {
        policy = policy.then(&shield_policy(std::process::id() as i32));
    }
    policy = policy.then(&hardening_policy());
    if !spec.full {
        policy = policy.then(&interest.policy());
    }
    let filter = policy.compile();
    let mut command = Command::new(program);
    command
        .arg0(&spec.program)
        .args(spec.args.iter().map(|arg| scratch.expand_os(arg)));
    if !spec.inherit_stdio {
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // A graded run must not depend on the grader's shell; and a panicking stub
            // that symbolises a backtrace takes ~100 ms, which made `cargo test -p lab11`
            // on the stubs 8× slower when RUST_BACKTRACE was set.
            .env_remove("RUST_BACKTRACE")
            .env_remove("RUST_LIB_BACKTRACE");
    }
    // SAFETY: the closure runs in the child between fork and exec, where only
    // async-signal-safe functions may be called (the grader is multi-threaded). It calls
    // only setsid, setrlimit, unshare, mount, mkdir, setresuid, capset, ptrace, fork,
    // waitpid, close_range and prctl/seccomp (raw system calls), and allocates nothing: the
    // filter and mount plan were built before the fork and are only borrowed here.
    unsafe {
        command.pre_exec(move || {
            // A session of its own: no controlling terminal, so /dev/tty cannot be opened
            // and TIOCSTI reaches no one.
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            set_limit(libc::RLIMIT_CPU, limits.cpu_secs);
            set_limit(libc::RLIMIT_AS, limits.address_space);
            set_limit(libc::RLIMIT_FSIZE, limits.file_size);
            set_limit(libc::RLIMIT_NOFILE, limits.open_files);
            set_limit(libc::RLIMIT_CORE, 0);
            if run_user.is_some() {
                // Counted per uid: with a uid of its own, it counts this run alone (a
                // little above the tracer's task cap, which speaks first).
                set_limit(libc::RLIMIT_NPROC, limits.max_tasks as u64 + 16);
            }
            if privileged {
                isolation::enter_private_namespaces(&mounts)?;
            }
            if let Some(user) = run_user
                && user_namespaces
            {
                // Before a user namespace is made, so that its root maps to this uid.
                isolation::become_run_user(user)?;
            }
            if user_namespaces {
                isolation::enter_user_namespaces(&user_maps, &mounts, !tcp_client)?;
            }
            if !namespaces {
                isolation::give_up_privileges(run_user)?;
            }
            if libc::ptrace(libc::PTRACE_TRACEME, 0, 0usize, 0usize) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if namespaces {
                // This process becomes a shim (the namespace's init, or the one that made
                // the namespaces); only the last generation goes on to exec the program,
                // without the privileges the shims needed.
                isolation::shim_main(shims)?;
                // In user namespaces it already is the run's user.
                isolation::give_up_privileges(run_user.filter(|_| privileged))?;
            }
            isolation::close_inherited_descriptors();
            seccompiler::apply_filter(&filter).map_err(|_| std::io::Error::last_os_error())?;
            Ok(())
        });
    }

    let started = Instant::now();
    // On the file systems' clock, which is coarse (a timestamp can lag the real time by a
    // clock tick): what was born after it is the run's.
    let started_at = std::time::SystemTime::now() - Duration::from_millis(50);
    // The child (the shim) is made pid 1 of a new PID namespace; the guard puts this
    // thread's own namespace back for its later children and threads.
    let pid_namespace = if privileged {
        Some(isolation::PidNamespaceForChildren::new().map_err(RunError::Isolation)?)
    } else {
        None
    };
    let spawned = command.spawn();
    drop(pid_namespace);
    let mut child = spawned.map_err(|source| RunError::Spawn {
        path: spec.program.clone(),
        source,
    })?;
    let pid = child.id() as i32;
    // Hold the run's IPC namespace and /dev/shm open, to count what it leaked after every
    // process in them is gone (the shim is stopped, alive, at this point).
    let namespace_handles = namespaces.then(|| NamespaceHandles::open(pid));
    let own_target = |fd: i32| {
        crate::trace::procfs::fd_target(std::process::id() as i32, fd).unwrap_or_default()
    };
    let (stdout_target, stderr_target) = match (&child.stdout, &child.stderr) {
        (Some(out), Some(err)) => (own_target(out.as_raw_fd()), own_target(err.as_raw_fd())),
        _ => (own_target(1), own_target(2)),
    };
    let config = TracerConfig {
        full: spec.full,
        interest: interest.clone(),
        stdout_target,
        stderr_target,
        max_processes: limits.max_processes,
        max_tasks: limits.max_tasks,
        shims,
        hold: spec.hold,
    };

    if let Some(mut stdin) = child.stdin.take() {
        let input = spec.stdin.clone();
        std::thread::spawn(move || {
            // A program that exits without reading gives EPIPE: not an error of the grader.
            let _ = stdin.write_all(&input);
        });
    }
    let output_limit = limits.output_bytes;
    let capture = |stream: Option<Box<dyn std::io::Read + Send>>| {
        let (tx, rx) = mpsc::channel();
        if let Some(stream) = stream {
            std::thread::spawn(move || {
                let _ = tx.send(Captured::read_all(stream, output_limit));
            });
        }
        rx
    };
    let out_rx = capture(child.stdout.take().map(|s| Box::new(s) as _));
    let err_rx = capture(child.stderr.take().map(|s| Box::new(s) as _));

    let live = std::sync::Arc::new(LiveSet::default());
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let watchdog = {
        let live = live.clone();
        let wall = limits.wall;
        // CPU time is sampled a little before the limit and again at it, so that a hang
        // report can tell a process still computing from one stuck (the kill stays at the
        // limit).
        let look = hang::CPU_LOOK.min(wall / 4);
        std::thread::spawn(move || {
            if done_rx.recv_timeout(wall - look) != Err(mpsc::RecvTimeoutError::Timeout) {
                return None;
            }
            let before = hang::cpu_times(&live.snapshot());
            if done_rx.recv_timeout(look) != Err(mpsc::RecvTimeoutError::Timeout) {
                return None;
            }
            let snapshot = live.snapshot();
            let cpu = hang::cpu_at_cut(&before, &hang::cpu_times(&snapshot), look);
            live.kill_all();
            Some((snapshot, cpu))
        })
    };

    // The grader as the program's client: when the script is done, the run is (a server
    // left running is the grader's to stop, not a hang).
    let client = spec.client.as_ref().map(|script| {
        let script = client::ClientScript {
            address: scratch.expand(&script.address),
            steps: script.steps.clone(),
        };
        let live = live.clone();
        std::thread::spawn(move || {
            let outcomes = client::run_script(&script, &live, privileged);
            live.kill_all();
            outcomes
        })
    });

    let outcome = tracer::follow(pid, &config, &live);
    let _ = done_tx.send(());
    let client = client
        .map(|thread| {
            thread.join().unwrap_or_else(|_| {
                vec![client::StepOutcome {
                    step: "run the client script".to_string(),
                    ok: false,
                    detail: "the grader's client failed".to_string(),
                    awaited_exit: false,
                }]
            })
        })
        .unwrap_or_default();
    let hang = watchdog.join().unwrap_or(None);
    let wall = started.elapsed();
    // `child` is reaped by the tracer; dropping the handle does not wait.
    drop(child);

    // Every process is gone, so the pipes are closed; the grace period only guards against
    // a writer the tracer could not see.
    let grace = Duration::from_secs(2);
    let stdout = out_rx.recv_timeout(grace).unwrap_or_default();
    let stderr = err_rx.recv_timeout(grace).unwrap_or_default();
    // Entering the run's IPC namespace costs milliseconds (setns waits for RCU); when every
    // shmget was traced and none succeeded, there is no segment to look for.
    let no_segments = spec.interest.names(syscalls::Sysno::shmget)
        && !outcome
            .trace
            .processes
            .iter()
            .flat_map(|p| &p.events)
            .any(|e| matches!(e, crate::trace::Event::ShmGet { ret, .. } if *ret >= 0));
    let filled = match &namespace_handles {
        Some(Ok(handles)) => handles.filled(),
        _ => Vec::new(),
    };
    let mut leaks = match namespace_handles {
        Some(Ok(handles)) => {
            handles.collect_leaks(&outcome.trace, !no_segments, run_user, &made_by_mounts)
        }
        Some(Err(e)) => return Err(RunError::Isolation(e)),
        None => inventory::collect_leaks(&outcome.trace, &segments_before, Path::new("/dev/shm")),
    };
    if let Some(user) = run_user
        && !namespaces
    {
        // What the names in the trace missed: everything else the run's uid owns.
        let places: Vec<(&str, PathBuf)> = inventory::WRITABLE_PLACES
            .iter()
            .map(|place| (*place, PathBuf::from(place)))
            .collect();
        let keep: Vec<PathBuf> = scratch.dir.iter().map(|d| d.path().to_path_buf()).collect();
        leaks.extend(inventory::collect_owned_leaks(
            user.uid, true, &places, &keep,
        ));
    } else if !namespaces {
        // Same uid as the grader: the run's semaphore sets and queues are the ids its
        // trace shows created, its files the names it made.
        leaks.extend(inventory::sysv_leaks_from_trace(&outcome.trace));
        leaks.extend(inventory::names_left_from_trace(&outcome.trace, started_at));
    }
    let status = if outcome.process_limit_hit {
        RunStatus::ProcessLimit
    } else if outcome.task_limit_hit {
        RunStatus::TaskLimit
    } else if hang.is_some() {
        RunStatus::TimedOut
    } else {
        RunStatus::Completed
    };
    // The shim is not the program's: leave it out of the explanation.
    let (hang, cpu_at_cut) = hang.unwrap_or_default();
    let hang = hang
        .into_iter()
        .filter(|snapshot| outcome.trace.by_pid(snapshot.pid).is_some())
        .collect();
    let cpu_at_cut = cpu_at_cut
        .into_iter()
        .filter(|cpu: &hang::CpuAtCut| outcome.trace.by_pid(cpu.pid).is_some())
        .collect();
    Ok(RunOutcome {
        status,
        trace: outcome.trace,
        stdout,
        stderr,
        wall,
        hang,
        cpu_at_cut,
        leaks,
        isolation,
        client,
        filled,
    })
}

/// A run's own scratch directory and TCP port, made only when its arguments or client
/// script ask for them (`{dir}`, `{port}`).
struct Scratch {
    dir: Option<tempfile::TempDir>,
    port: u16,
}

impl Scratch {
    fn for_spec(spec: &RunSpec, run_user: Option<isolation::RunUser>) -> Result<Scratch, RunError> {
        let texts = || {
            spec.args
                .iter()
                .map(|a| a.to_string_lossy().into_owned())
                .chain(spec.client.iter().map(|c| c.address.clone()))
        };
        let io = |source| RunError::Spawn {
            path: spec.program.clone(),
            source,
        };
        let dir = if texts().any(|t| t.contains("{dir}")) {
            // Not under /tmp: a namespaced run has a private /tmp, and the grader must see
            // the same directory the program does.
            let base = Path::new("/var/tmp");
            let base = if base.is_dir() {
                base.to_path_buf()
            } else {
                std::env::temp_dir()
            };
            let dir = tempfile::Builder::new()
                .prefix("grader-run-")
                .tempdir_in(base)
                .map_err(io)?;
            if let Some(user) = run_user {
                std::os::unix::fs::chown(dir.path(), Some(user.uid), Some(user.uid)).map_err(io)?;
            }
            Some(dir)
        } else {
            None
        };
        let port = if texts().any(|t| t.contains("{port}")) {
            // A port free on this machine now; in a network namespace of its own, any is.
            std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .map_err(io)?
                .port()
        } else {
            0
        };
        Ok(Scratch { dir, port })
    }

    fn expand(&self, text: &str) -> String {
        let dir = self
            .dir
            .as_ref()
            .map(|d| d.path().display().to_string())
            .unwrap_or_default();
        client::expand(text, &dir, self.port)
    }

    fn expand_os(&self, arg: &OsString) -> OsString {
        match arg.to_str() {
            Some(text) if text.contains('{') => self.expand(text).into(),
            _ => arg.clone(),
        }
    }
}

/// What keeps a finished run's namespaces readable: its IPC namespace and its private
/// /dev/shm, opened while the run's init shim was alive.
struct NamespaceHandles {
    ipc: std::fs::File,
    dev_shm: std::fs::File,
    /// The run's private /tmp and /var/tmp, where they exist.
    tmp: Vec<(&'static str, std::fs::File)>,
}

impl NamespaceHandles {
    fn open(shim: i32) -> Result<Self, String> {
        let open = |path: String| {
            std::fs::File::open(&path).map_err(|e| format!("cannot open {path}: {e}"))
        };
        Ok(NamespaceHandles {
            ipc: open(format!("/proc/{shim}/ns/ipc"))?,
            dev_shm: open(format!("/proc/{shim}/root/dev/shm"))?,
            tmp: ["/tmp", "/var/tmp"]
                .into_iter()
                .filter(|dir| Path::new(dir).is_dir())
                .map(|dir| Ok((dir, open(format!("/proc/{shim}/root{dir}"))?)))
                .collect::<Result<_, String>>()?,
        })
    }

    /// The run's private directories it filled to their cap.
    fn filled(&self) -> Vec<FilledPlace> {
        self.tmp
            .iter()
            .map(|(dir, file)| (*dir, file))
            .chain([("/dev/shm", &self.dev_shm)])
            .filter_map(|(dir, file)| FilledPlace::of(dir, file))
            .collect()
    }

    /// The segments (if `segments`) and /dev/shm objects the run left. Everything in its
    /// namespaces is its own; they die with the handles, but the report says what was left.
    ///
    /// With a uid of its own (`run_user`), whatever that uid owns in its private /tmp,
    /// /var/tmp and /dev/shm is reported too, however it got there (a second name made by
    /// `link`, a file no traced call made).
    fn collect_leaks(
        self,
        trace: &Trace,
        segments: bool,
        run_user: Option<isolation::RunUser>,
        made_by_mounts: &[PathBuf],
    ) -> Vec<Leak> {
        let dev_shm = PathBuf::from(format!("/proc/self/fd/{}", self.dev_shm.as_raw_fd()));
        let mut leaks = if segments {
            // setns moves only the calling thread: do it on a thread of its own.
            std::thread::scope(|scope| {
                scope
                    .spawn(|| {
                        // SAFETY: setns takes a descriptor we hold open and a namespace type.
                        if unsafe { libc::setns(self.ipc.as_raw_fd(), libc::CLONE_NEWIPC) } != 0 {
                            // Without CAP_SYS_ADMIN (user namespaces), the kernel's list
                            // is out of reach: judge from the trace instead.
                            return inventory::segment_leaks_from_trace(trace);
                        }
                        inventory::collect_segment_leaks(trace, &Default::default())
                    })
                    .join()
                    .unwrap_or_default()
            })
        } else {
            Vec::new()
        };
        leaks.extend(inventory::collect_dev_shm_leaks(trace, &dev_shm));
        if let Some(user) = run_user {
            let seen =
                |file: &std::fs::File| PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd()));
            let mut places: Vec<(&str, PathBuf)> = self
                .tmp
                .iter()
                .map(|(dir, file)| (*dir, seen(file)))
                .collect();
            places.push(("/dev/shm", dev_shm.clone()));
            leaks.extend(inventory::collect_owned_leaks(
                user.uid,
                false,
                &places,
                made_by_mounts,
            ));
        }
        leaks
    }
}

/// A copy of the program, where the run could not execute the original.
struct Staged {
    program: PathBuf,
    _dir: tempfile::TempDir,
}

/// Copies the program into a directory of its own when a run with another uid
/// (`other_uid`) could not reach it, or when a namespaced run would not see it: right in
/// /tmp or /var/tmp, which it gets as fresh directories (a program deeper inside them is
/// bound back at its own path, see [`isolation::PrivateMounts`]).
fn stage(program: &Path, other_uid: bool, namespaces: bool) -> Result<Option<Staged>, RunError> {
    let in_private_root = program
        .canonicalize()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .is_some_and(|dir| {
            isolation::PRIVATE_TMPFS
                .iter()
                .any(|(root, _)| dir == Path::new(root))
        });
    let unreachable = other_uid && !isolation::others_can_execute(program);
    let hidden = namespaces && in_private_root;
    if !(unreachable || hidden) {
        return Ok(None);
    }
    let io = |source| RunError::Spawn {
        path: program.to_path_buf(),
        source,
    };
    let dir = tempfile::Builder::new()
        .prefix("grader-run-")
        .tempdir()
        .map_err(io)?;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).map_err(io)?;
    let name = program
        .file_name()
        .unwrap_or(std::ffi::OsStr::new("program"));
    let copy = dir.path().join(name);
    std::fs::copy(program, &copy).map_err(io)?;
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).map_err(io)?;
    Ok(Some(Staged {
        program: copy,
        _dir: dir,
    }))
}

/// setrlimit for both soft and hard limits. Async-signal-safe.
fn set_limit(resource: libc::__rlimit_resource_t, value: u64) {
    let limit = libc::rlimit {
        rlim_cur: value,
        rlim_max: value,
    };
    // SAFETY: setrlimit reads a valid local struct; failure leaves the old limit in place.
    unsafe {
        libc::setrlimit(resource, &limit);
    }
}
