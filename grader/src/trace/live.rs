//! The processes of a run that are still alive, held by pidfd so they can be killed from
//! another thread without pid-reuse races.
//!
//! The tracer thread adds a process as soon as it learns of it and removes it only after
//! reaping it; the watchdog thread kills them all when the run's time is up. A pidfd names
//! the process itself, not its number, so a kill can never hit an unrelated process that
//! reused the pid.

use super::procfs;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::Mutex;

/// The live processes of one run.
#[derive(Default)]
pub struct LiveSet {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    pidfds: BTreeMap<i32, OwnedFd>,
    /// Set once the run is over: any process added later is killed on arrival.
    killing: bool,
    /// Processes the grader killed (their end is reported as `Killed`, not as a crash).
    killed: BTreeSet<i32>,
    /// The program's first process (after any shims), once the tracer knows it.
    root: Option<i32>,
}

impl LiveSet {
    /// Starts holding a process. Kills it at once if the run is already being torn down.
    pub fn add(&self, pid: i32) {
        let mut inner = self.lock();
        let Some(pidfd) = pidfd_open(pid) else {
            return; // Already gone: nothing to hold.
        };
        if inner.killing {
            send_kill(&pidfd);
            inner.killed.insert(pid);
        }
        inner.pidfds.insert(pid, pidfd);
    }

    /// Kills a task the tracer could not place in the run (its creator vanished before
    /// telling who it is), through a pidfd, and counts it as killed.
    pub fn kill_stray(&self, pid: i32) {
        let mut inner = self.lock();
        if let Some(pidfd) = pidfd_open(pid) {
            send_kill(&pidfd);
            inner.killed.insert(pid);
        }
    }

    /// Stops holding a process the tracer has reaped.
    pub fn remove(&self, pid: i32) {
        self.lock().pidfds.remove(&pid);
    }

    /// Kills every live process with SIGKILL, and any that arrives later.
    pub fn kill_all(&self) {
        let mut inner = self.lock();
        inner.killing = true;
        let Inner { pidfds, killed, .. } = &mut *inner;
        for (pid, pidfd) in pidfds.iter() {
            send_kill(pidfd);
            killed.insert(*pid);
        }
    }

    /// Notes the program's first process, for [`LiveSet::root`] and [`LiveSet::signal_root`].
    pub fn set_root(&self, pid: i32) {
        self.lock().root = Some(pid);
    }

    /// The program's first process, if the tracer has seen it and it lives.
    pub fn root(&self) -> Option<i32> {
        let inner = self.lock();
        inner.root.filter(|pid| inner.pidfds.contains_key(pid))
    }

    /// Sends `signal` to the program's first process (through its pidfd, so never to a
    /// process that reused its pid). False if it is gone.
    pub fn signal_root(&self, signal: i32) -> bool {
        let inner = self.lock();
        let Some(pidfd) = inner.root.and_then(|pid| inner.pidfds.get(&pid)) else {
            return false;
        };
        send_signal(pidfd, signal)
    }

    /// True if the grader killed this process.
    pub fn was_killed(&self, pid: i32) -> bool {
        self.lock().killed.contains(&pid)
    }

    /// True once [`LiveSet::kill_all`] was called.
    pub fn is_killing(&self) -> bool {
        self.lock().killing
    }

    /// What every live process is doing right now, for diagnosing a hang.
    pub fn snapshot(&self) -> Vec<ProcessSnapshot> {
        let pids: Vec<i32> = self.lock().pidfds.keys().copied().collect();
        pids.into_iter()
            .map(|pid| ProcessSnapshot {
                pid,
                state: procfs::state(pid).unwrap_or('?'),
                syscall: procfs::blocked_syscall(pid).map(|(nr, args)| BlockedCall { nr, args }),
                fds: procfs::open_fds(pid),
            })
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A poisoned lock only means another thread panicked while holding it; the data (a
        // map of descriptors) is still consistent.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A live process at the moment a run timed out.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProcessSnapshot {
    pub pid: i32,
    /// Scheduler state: S (sleeping in a call), R (running), T/t (stopped), Z (zombie).
    pub state: char,
    /// The call it is blocked in, if any.
    pub syscall: Option<BlockedCall>,
    pub fds: Vec<super::model::OpenFd>,
}

/// A system call a process is blocked in.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BlockedCall {
    pub nr: i64,
    pub args: [u64; 6],
}

fn pidfd_open(pid: i32) -> Option<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1; no memory
    // is passed.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return None;
    }
    // SAFETY: the kernel just returned this descriptor to us; nothing else owns it.
    Some(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

fn send_kill(pidfd: &OwnedFd) {
    // Failure (the process already exited) is harmless.
    send_signal(pidfd, libc::SIGKILL);
}

fn send_signal(pidfd: &OwnedFd, signal: i32) -> bool {
    // SAFETY: pidfd_send_signal with a valid pidfd, a signal number, a null siginfo (the
    // kernel fills one in) and no flags.
    unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            signal,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        ) == 0
    }
}
