//! Keeps tracing from turning a signal the program ignores into `EINTR`.
//!
//! Untraced, a signal the program ignores (SIGCHLD, SIGURG, SIGWINCH and SIGCONT by default,
//! or any set to SIG_IGN) is dropped when it is sent and wakes no one. Traced, the kernel
//! queues it anyway so that the tracer can see it (`sig_ignored` in kernel/signal.c), and
//! it wakes the task from whatever it was blocked in. Most calls then restart by themselves
//! (they return an internal `ERESTART*` code), but some return `EINTR` outright — `semop`,
//! `semtimedop`, `sigtimedwait`, `epoll_wait`, `mq_timedreceive` among them — so a worker's
//! exit made a C parent's `semop` fail under the grader and never without it.
//!
//! At the signal-delivery stop the tracer can tell: the signal is one the program ignores, no
//! other signal is pending that it does not, and the task stopped right after a system call
//! instruction that returned `-EINTR`. Then the call is made again, as the kernel does for
//! `ERESTARTNOINTR`: the call number goes back into the return register and the instruction
//! pointer back onto the `syscall` instruction. Its timeout (if any) starts afresh: tracing
//! changes timing, never behaviour.

#[cfg(target_arch = "x86_64")]
use super::mem::{Mem, Tracee};
use super::procfs;

/// The signals whose default action is to ignore them (`sig_kernel_ignore`).
const IGNORED_BY_DEFAULT: [i32; 4] = [libc::SIGCHLD, libc::SIGURG, libc::SIGWINCH, libc::SIGCONT];

/// A task's signal masks (from /proc/TID/status), one bit per signal (bit `n - 1` for `n`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SignalMasks {
    pub pending: u64,
    pub blocked: u64,
    pub ignored: u64,
    pub caught: u64,
}

impl SignalMasks {
    /// From the text of /proc/TID/status (`SigPnd` and `ShdPnd` together are pending).
    pub fn parse(status: &str) -> Option<SignalMasks> {
        let mut masks = SignalMasks::default();
        let mut seen = 0;
        for line in status.lines() {
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            let Ok(value) = u64::from_str_radix(value.trim(), 16) else {
                continue;
            };
            match key {
                "SigPnd" | "ShdPnd" => masks.pending |= value,
                "SigBlk" => masks.blocked = value,
                "SigIgn" => masks.ignored = value,
                "SigCgt" => masks.caught = value,
                _ => continue,
            }
            seen += 1;
        }
        (seen == 5).then_some(masks)
    }

    /// True if an untraced task with these masks would drop `sig` unseen.
    pub fn drops(&self, sig: i32) -> bool {
        let Some(bit) = bit(sig) else { return false };
        if self.blocked & bit != 0 {
            return false; // Blocked signals stay pending; they are never dropped.
        }
        self.ignored & bit != 0 || (IGNORED_BY_DEFAULT.contains(&sig) && self.caught & bit == 0)
    }

    /// True if the call's `EINTR` came from `sig` alone: `sig` is one the task drops, and
    /// every other signal pending and unblocked is one it drops too.
    pub fn only_dropped_signals(&self, sig: i32) -> bool {
        if !self.drops(sig) {
            return false;
        }
        let others = self.pending & !self.blocked;
        (1..=64).all(|other| bit(other).is_some_and(|b| others & b == 0) || self.drops(other))
    }
}

fn bit(sig: i32) -> Option<u64> {
    (1..=64).contains(&sig).then(|| 1u64 << (sig - 1))
}

/// At a signal-delivery stop of `tid` for `sig`: if `sig` woke it from a call that then
/// failed with `EINTR`, which it never would have untraced, rewinds the task to make the call
/// again and returns the call's number.
pub fn undo_spurious_eintr(tid: i32, sig: i32) -> Option<u64> {
    let masks = procfs::read_status(tid).and_then(|s| SignalMasks::parse(&s))?;
    if !masks.only_dropped_signals(sig) {
        return None;
    }
    rewind_interrupted_call(tid)
}

#[cfg(target_arch = "x86_64")]
fn rewind_interrupted_call(tid: i32) -> Option<u64> {
    /// `syscall` (0f 05), as it lies in memory.
    const SYSCALL_INSTRUCTION: [u8; 2] = [0x0f, 0x05];
    let mut regs = std::mem::MaybeUninit::<libc::user_regs_struct>::uninit();
    // SAFETY: GETREGS writes one user_regs_struct into the buffer we own; it is read only
    // if the call succeeded.
    let mut regs = unsafe {
        if libc::ptrace(libc::PTRACE_GETREGS, tid, 0usize, regs.as_mut_ptr()) != 0 {
            return None;
        }
        regs.assume_init()
    };
    let in_call = (regs.orig_rax as i64) >= 0;
    if !in_call || regs.rax as i64 != -(libc::EINTR as i64) {
        return None;
    }
    // Where a handler's frame was set up (or the task was elsewhere), the instruction
    // before the instruction pointer is not a `syscall`.
    let mem: &dyn Mem = &Tracee(tid);
    let before = mem.read_exact(regs.rip.wrapping_sub(2), 2)?;
    if before != SYSCALL_INSTRUCTION {
        return None;
    }
    regs.rax = regs.orig_rax;
    regs.rip -= 2;
    // SAFETY: SETREGS reads one user_regs_struct from our buffer into the stopped tracee's
    // saved registers.
    let set = unsafe { libc::ptrace(libc::PTRACE_SETREGS, tid, 0usize, &raw const regs) };
    (set == 0).then_some(regs.orig_rax)
}

/// aarch64 keeps the call's first argument (`orig_x0`) where ptrace cannot put it back: the
/// call is left to fail as the kernel made it.
#[cfg(not(target_arch = "x86_64"))]
fn rewind_interrupted_call(_tid: i32) -> Option<u64> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn masks(pending: u64, blocked: u64, ignored: u64, caught: u64) -> SignalMasks {
        SignalMasks {
            pending,
            blocked,
            ignored,
            caught,
        }
    }

    const CHLD: u64 = 1 << (libc::SIGCHLD - 1);
    const USR1: u64 = 1 << (libc::SIGUSR1 - 1);

    #[test]
    fn reads_the_masks_of_proc_status() {
        let status = "Name:\tprobe\nSigQ:\t0/1\nSigPnd:\t0000000000000001\n\
                      ShdPnd:\t0000000000000200\nSigBlk:\t0000000000000002\n\
                      SigIgn:\t0000000000001000\nSigCgt:\t0000000180000000\n";
        assert_eq!(
            SignalMasks::parse(status),
            Some(masks(0x201, 0x2, 0x1000, 0x1_8000_0000))
        );
        assert_eq!(SignalMasks::parse("SigPnd:\t0\n"), None);
        assert_eq!(SignalMasks::parse("SigPnd:\tzz\nShdPnd:\t0\n"), None);
        let own = procfs::read_status(std::process::id() as i32).unwrap();
        assert!(SignalMasks::parse(&own).is_some());
    }

    #[test]
    fn a_default_sigchld_is_dropped_a_caught_or_blocked_one_is_not() {
        assert!(masks(0, 0, 0, 0).drops(libc::SIGCHLD));
        assert!(!masks(0, 0, 0, CHLD).drops(libc::SIGCHLD));
        assert!(!masks(0, CHLD, 0, 0).drops(libc::SIGCHLD));
        assert!(!masks(0, 0, 0, 0).drops(libc::SIGUSR1));
        assert!(masks(0, 0, USR1, 0).drops(libc::SIGUSR1));
        assert!(!masks(0, 0, 0, 0).drops(0));
        assert!(!masks(0, 0, 0, 0).drops(65));
    }

    #[test]
    fn another_pending_signal_the_task_takes_makes_the_eintr_genuine() {
        assert!(masks(0, 0, 0, 0).only_dropped_signals(libc::SIGCHLD));
        assert!(!masks(USR1, 0, 0, USR1).only_dropped_signals(libc::SIGCHLD));
        assert!(masks(USR1, USR1, 0, USR1).only_dropped_signals(libc::SIGCHLD));
        assert!(masks(USR1, 0, USR1, 0).only_dropped_signals(libc::SIGCHLD));
    }
}
