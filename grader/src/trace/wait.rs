//! Waiting for the tracees' stops and restarting them: `waitpid`, what kind of stop a wait
//! status is, `PTRACE_CONT`/`PTRACE_SYSCALL` with the signal to deliver, skipping a refused
//! call, and the ptrace options every tracee inherits.
//!
//! Waiting uses `waitpid(-1, __WALL | __WNOTHREAD)`: several runs may be traced at once by
//! different threads of one process (the test harness), and `__WNOTHREAD` keeps each tracer
//! thread to its own tracees. The wait and restart steps use libc directly because nix's
//! `Signal` cannot carry real-time signals, and a signal the tracer cannot re-inject is lost.

use nix::sys::ptrace;
use nix::unistd::Pid;
use std::time::Duration;

/// The options set at the first stop; every child inherits them.
const OPTIONS: ptrace::Options = ptrace::Options::PTRACE_O_TRACESYSGOOD
    .union(ptrace::Options::PTRACE_O_TRACEFORK)
    .union(ptrace::Options::PTRACE_O_TRACEVFORK)
    .union(ptrace::Options::PTRACE_O_TRACECLONE)
    .union(ptrace::Options::PTRACE_O_TRACEEXEC)
    .union(ptrace::Options::PTRACE_O_TRACEEXIT)
    .union(ptrace::Options::PTRACE_O_TRACESECCOMP)
    .union(ptrace::Options::PTRACE_O_EXITKILL);

/// Sets the tracer's options on the first tracee (at its first stop).
pub fn set_options(tid: i32) {
    // Fails only if the tracee vanished, whose exit report follows.
    let _ = ptrace::setoptions(Pid::from_raw(tid), OPTIONS);
}

/// What a wait status says happened to a tracee.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// It exited or was killed (the wait status, for its [`End`](super::model::End)).
    Ended(i32),
    /// A system call stop (`PTRACE_O_TRACESYSGOOD`'s SIGTRAP | 0x80): an entry or an exit.
    Syscall,
    /// A ptrace event (`PTRACE_EVENT_FORK`, `…_EXEC`, `…_SECCOMP`, …).
    Event(i32),
    /// A signal about to be delivered, or a group-stop (told apart by `PTRACE_GETSIGINFO`).
    Signal(i32),
}

impl Stop {
    /// The stop a wait status reports; `None` for anything else (a continued process).
    pub fn of(status: i32) -> Option<Stop> {
        if libc::WIFEXITED(status) || libc::WIFSIGNALED(status) {
            return Some(Stop::Ended(status));
        }
        if !libc::WIFSTOPPED(status) {
            return None;
        }
        let sig = libc::WSTOPSIG(status);
        let event = status >> 16;
        Some(if sig == libc::SIGTRAP | 0x80 {
            Stop::Syscall
        } else if sig == libc::SIGTRAP && event != 0 {
            Stop::Event(event)
        } else {
            Stop::Signal(sig)
        })
    }
}

/// What waiting for the tracees gave.
pub enum Waited {
    /// A tracee stopped or ended: its tid and wait status.
    Stop(i32, i32),
    /// Nothing happened for a moment (only when polling).
    Idle,
    /// No tracee is left (ECHILD).
    NoTracees,
}

/// How to wait for the next stop.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// Until something happens.
    Block,
    /// Give up after about a millisecond (holds are rare and short, and a blocking wait
    /// cannot time out).
    Poll,
    /// Give up after yielding the CPU once: what is awaited is due at once.
    PollBriefly,
}

/// Waits for any stop or exit of this thread's tracees, as `how` says.
pub fn wait_any(how: Wait) -> Waited {
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

/// How a stopped tracee goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resume {
    /// Until the next stop the filter asks for (or an event, or a signal).
    Continue,
    /// Until the next system call entry or exit.
    Step,
}

/// Restarts a stopped tracee, delivering `sig` (0: none).
pub fn restart(tid: i32, how: Resume, sig: i32) {
    let request = match how {
        Resume::Continue => libc::PTRACE_CONT,
        Resume::Step => libc::PTRACE_SYSCALL,
    };
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
pub fn skip_syscall(tid: i32) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_statuses_read_as_stops() {
        // Encoded as the kernel does: exit code << 8; signal; 0x7f | sig << 8 | event << 16.
        let stopped = |sig: i32, event: i32| 0x7f | (sig << 8) | (event << 16);
        assert_eq!(Stop::of(3 << 8), Some(Stop::Ended(3 << 8)));
        assert_eq!(Stop::of(libc::SIGKILL), Some(Stop::Ended(libc::SIGKILL)));
        assert_eq!(
            Stop::of(stopped(libc::SIGTRAP | 0x80, 0)),
            Some(Stop::Syscall)
        );
        assert_eq!(
            Stop::of(stopped(libc::SIGTRAP, libc::PTRACE_EVENT_FORK)),
            Some(Stop::Event(libc::PTRACE_EVENT_FORK))
        );
        assert_eq!(
            Stop::of(stopped(libc::SIGTRAP, 0)),
            Some(Stop::Signal(libc::SIGTRAP))
        );
        assert_eq!(
            Stop::of(stopped(libc::SIGUSR1, 0)),
            Some(Stop::Signal(libc::SIGUSR1))
        );
        assert_eq!(Stop::of(0xffff), None, "continued");
    }
}
