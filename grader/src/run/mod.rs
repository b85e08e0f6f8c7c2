//! One traced run of a program: start it under the tracer with its stdin, capture its output,
//! enforce the limits, kill whatever it leaves running, and collect what it leaked.
//!
//! A program's crash, hang, flood or leak is a *result* ([`RunOutcome`]); an `Err` means the
//! grader could not run it at all (missing file, not executable, a tracer failure).

pub mod capture;
pub mod hang;
pub mod inventory;

pub use capture::Captured;
pub use inventory::Leak;

use crate::trace::interest::hardening_filter;
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
            cpu_secs: 60,
            address_space: 4 << 30,
            file_size: 64 << 20,
            open_files: 256,
        }
    }
}

/// What to run.
#[derive(Debug, Clone)]
pub struct RunSpec {
    pub program: PathBuf,
    pub args: Vec<OsString>,
    pub stdin: Vec<u8>,
    pub limits: Limits,
    /// Step every system call instead of filtering (slower; counts everything).
    pub full: bool,
    pub interest: Interest,
    /// Give the program the grader's own stdin, stdout and stderr (for `grader trace`)
    /// instead of feeding `stdin` and capturing the output.
    pub inherit_stdio: bool,
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
    /// IPC objects the run left behind (already removed by the grader).
    pub leaks: Vec<Leak>,
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
    #[error("cannot build the seccomp filter: {0}")]
    Filter(String),
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

/// Runs a program under the tracer. Blocks until every process of the run has ended.
pub fn run(spec: &RunSpec) -> Result<RunOutcome, RunError> {
    check_executable(&spec.program)?;
    let hardening = hardening_filter().map_err(|e| RunError::Filter(e.to_string()))?;
    let interest_filter = if spec.full {
        None
    } else {
        Some(
            spec.interest
                .to_bpf()
                .map_err(|e| RunError::Filter(e.to_string()))?,
        )
    };
    let limits = spec.limits;
    let segments_before = inventory::segment_ids();

    let mut command = Command::new(&spec.program);
    command.args(&spec.args).process_group(0);
    if !spec.inherit_stdio {
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
    }
    // SAFETY: the closure runs in the child between fork and exec, where only
    // async-signal-safe functions may be called (the grader is multi-threaded). It calls
    // only setrlimit, ptrace and prctl/seccomp (raw system calls), and allocates nothing:
    // the filters were built before the fork and are only borrowed here.
    unsafe {
        command.pre_exec(move || {
            set_limit(libc::RLIMIT_CPU, limits.cpu_secs);
            set_limit(libc::RLIMIT_AS, limits.address_space);
            set_limit(libc::RLIMIT_FSIZE, limits.file_size);
            set_limit(libc::RLIMIT_NOFILE, limits.open_files);
            set_limit(libc::RLIMIT_CORE, 0);
            if libc::ptrace(libc::PTRACE_TRACEME, 0, 0usize, 0usize) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            seccompiler::apply_filter(&hardening).map_err(|_| std::io::Error::last_os_error())?;
            if let Some(filter) = &interest_filter
                && !filter.is_empty()
            {
                seccompiler::apply_filter(filter).map_err(|_| std::io::Error::last_os_error())?;
            }
            Ok(())
        });
    }

    let started = Instant::now();
    let mut child = command.spawn().map_err(|source| RunError::Spawn {
        path: spec.program.clone(),
        source,
    })?;
    let pid = child.id() as i32;
    let own_target = |fd: i32| {
        crate::trace::procfs::fd_target(std::process::id() as i32, fd).unwrap_or_default()
    };
    let (stdout_target, stderr_target) = match (&child.stdout, &child.stderr) {
        (Some(out), Some(err)) => (own_target(out.as_raw_fd()), own_target(err.as_raw_fd())),
        _ => (own_target(1), own_target(2)),
    };
    let config = TracerConfig {
        full: spec.full,
        interest: spec.interest.clone(),
        stdout_target,
        stderr_target,
        max_processes: limits.max_processes,
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
        std::thread::spawn(move || match done_rx.recv_timeout(wall) {
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let snapshot = live.snapshot();
                live.kill_all();
                Some(snapshot)
            }
            _ => None,
        })
    };

    let outcome = tracer::follow(pid, &config, &live);
    let _ = done_tx.send(());
    let hang = watchdog.join().unwrap_or(None);
    let wall = started.elapsed();
    // `child` is reaped by the tracer; dropping the handle does not wait.
    drop(child);

    // Every process is gone, so the pipes are closed; the grace period only guards against
    // a writer the tracer could not see.
    let grace = Duration::from_secs(2);
    let stdout = out_rx.recv_timeout(grace).unwrap_or_default();
    let stderr = err_rx.recv_timeout(grace).unwrap_or_default();
    let leaks = inventory::collect_leaks(&outcome.trace, &segments_before);
    let status = if outcome.process_limit_hit {
        RunStatus::ProcessLimit
    } else if hang.is_some() {
        RunStatus::TimedOut
    } else {
        RunStatus::Completed
    };
    Ok(RunOutcome {
        status,
        trace: outcome.trace,
        stdout,
        stderr,
        wall,
        hang: hang.unwrap_or_default(),
        leaks,
    })
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
