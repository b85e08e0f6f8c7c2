//! A thin safe layer over the signal calls that nix does not wrap for real-time signals.
//!
//! nix's `Signal` enum stops at the classic signals (SIGUSR1, SIGCHLD, …): it has no
//! SIGRTMIN + k, so `nix::sys::signal::{sigprocmask, sigqueue, …}` cannot name them. This
//! module owns exactly that gap, and nothing about *when* to call what: signals are plain
//! `i32` numbers here, [`SignalSet`] wraps a `libc::sigset_t`, and every function is one
//! system call (plus the EINTR retry where it says so) with the error turned into an
//! [`io::Error`].
//!
//! Why real-time signals for notification: a classic signal is one pending *bit*: two
//! SIGUSR1s sent while the first is still pending merge into one, and a count of deliveries
//! comes out short. Real-time signals *queue*: two sent are two received, each with the
//! sender's pid and a small value (`sigqueue`).
//!
//! ```
//! use lab14::signals::{SignalSet, ack_signal, notify_signal};
//!
//! let set = SignalSet::of(&[notify_signal(), ack_signal()]);
//! assert!(set.contains(notify_signal()) && set.contains(ack_signal()));
//! assert!(!set.contains(libc::SIGUSR1));
//! assert_eq!(ack_signal(), notify_signal() + 1);
//! ```

use std::fmt;
use std::io;
use std::mem::MaybeUninit;

/// The signal a worker sends its parent when its results are stored: SIGRTMIN.
///
/// A function, not a constant: the C library reserves the first few real-time signals for
/// itself and decides SIGRTMIN at run time (34 with glibc on Linux).
pub fn notify_signal() -> i32 {
    libc::SIGRTMIN()
}

/// The signal the parent sends a worker once it has read its results: SIGRTMIN + 1.
pub fn ack_signal() -> i32 {
    libc::SIGRTMIN() + 1
}

/// A set of signals (`sigset_t`): what to block, or what to wait for.
///
/// ```
/// use lab14::signals::SignalSet;
///
/// let mut set = SignalSet::empty();
/// assert!(!set.contains(libc::SIGUSR1));
/// set.add(libc::SIGUSR1);
/// assert!(set.contains(libc::SIGUSR1));
/// assert_eq!(set, SignalSet::of(&[libc::SIGUSR1]));
/// assert_eq!(format!("{set:?}"), format!("SignalSet {{{}}}", libc::SIGUSR1));
/// ```
#[derive(Clone, Copy)]
pub struct SignalSet(libc::sigset_t);

impl SignalSet {
    /// The set with no signal in it.
    pub fn empty() -> SignalSet {
        let mut raw = MaybeUninit::<libc::sigset_t>::uninit();
        // SAFETY: sigemptyset initialises the whole sigset_t it is given; it cannot fail
        // with a valid pointer.
        unsafe {
            libc::sigemptyset(raw.as_mut_ptr());
            SignalSet(raw.assume_init())
        }
    }

    /// The set of these signals.
    ///
    /// # Panics
    /// If one of them is not a signal number (see [`SignalSet::add`]).
    pub fn of(signals: &[i32]) -> SignalSet {
        let mut set = SignalSet::empty();
        for &signal in signals {
            set.add(signal);
        }
        set
    }

    /// Adds `signal` to the set.
    ///
    /// # Panics
    /// If `signal` is not a signal number (below 1 or above SIGRTMAX): that is a bug in the
    /// caller, not a condition to handle.
    pub fn add(&mut self, signal: i32) {
        // SAFETY: self.0 is an initialised sigset_t; sigaddset checks the number itself.
        if unsafe { libc::sigaddset(&mut self.0, signal) } != 0 {
            panic!("{signal} is not a signal number");
        }
    }

    /// Whether `signal` is in the set (false for a number that is not a signal).
    pub fn contains(&self, signal: i32) -> bool {
        // SAFETY: self.0 is an initialised sigset_t; sigismember only reads it.
        unsafe { libc::sigismember(&self.0, signal) == 1 }
    }

    /// The signal numbers in the set, ascending.
    fn members(&self) -> impl Iterator<Item = i32> + '_ {
        (1..=libc::SIGRTMAX()).filter(|&signal| self.contains(signal))
    }
}

/// Two sets are equal when they hold the same signals (the bytes of a `sigset_t` beyond
/// the signals the kernel knows are not compared).
impl PartialEq for SignalSet {
    fn eq(&self, other: &SignalSet) -> bool {
        (1..=libc::SIGRTMAX()).all(|signal| self.contains(signal) == other.contains(signal))
    }
}

impl Eq for SignalSet {}

/// `SignalSet {10, 34}`: the signal numbers in the set.
impl fmt::Debug for SignalSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SignalSet ")?;
        f.debug_set().entries(self.members()).finish()
    }
}

/// One signal taken by [`wait_info`]: which, from whom, with what.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Received {
    /// The signal number (`si_signo`).
    pub signal: i32,
    /// The pid of the process that sent it (`si_pid`).
    pub sender: i32,
    /// The value given to [`send_queued`] (`si_value.sival_int`); 0 for a signal sent with
    /// [`send`] (`kill`), which carries none.
    pub value: i32,
}

/// Adds `signals` to this thread's mask of blocked signals (`sigprocmask(SIG_BLOCK)`) and
/// returns the mask as it was before, to restore it later with [`set_mask`].
///
/// A blocked signal that arrives is not lost and does not interrupt anything: it stays
/// *pending* until it is unblocked (then delivered) or taken by [`wait_info`]. Blocked
/// signals stay blocked across `fork` (the child inherits the mask) and `exec`.
///
/// ```
/// use lab14::signals::{SignalSet, block, set_mask};
///
/// let before = block(&SignalSet::of(&[libc::SIGUSR2])).unwrap();
/// let during = block(&SignalSet::empty()).unwrap(); // adds nothing: reads the mask
/// assert!(during.contains(libc::SIGUSR2));
/// set_mask(&before).unwrap();
/// ```
pub fn block(signals: &SignalSet) -> io::Result<SignalSet> {
    change_mask(libc::SIG_BLOCK, signals)
}

/// Replaces this thread's mask of blocked signals by `mask` (`sigprocmask(SIG_SETMASK)`) and
/// returns the mask as it was before.
pub fn set_mask(mask: &SignalSet) -> io::Result<SignalSet> {
    change_mask(libc::SIG_SETMASK, mask)
}

fn change_mask(how: i32, set: &SignalSet) -> io::Result<SignalSet> {
    let mut old = SignalSet::empty();
    // SAFETY: both pointers are to initialised sigset_ts that live across the call.
    if unsafe { libc::sigprocmask(how, &set.0, &mut old.0) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(old)
}

/// Sleeps until one of `signals` is pending, takes it (it is not delivered to a handler) and
/// says what it was (`sigwaitinfo`). A signal already pending is taken at once, so nothing
/// sent between blocking and waiting is lost.
///
/// The signals must be blocked (see [`block`]): an unblocked one may be delivered the
/// ordinary way (handler or default action) before it can be waited for. Real-time signals
/// come out in order, lowest number first, and each one sent is taken once. Retried when
/// another signal's handler interrupts the wait (EINTR).
///
/// ```
/// use lab14::signals::{SignalSet, block, send_queued, set_mask, wait_info};
///
/// let notify = lab14::signals::notify_signal();
/// let set = SignalSet::of(&[notify]);
/// let before = block(&set).unwrap();
/// // Two sent while blocked: both stay pending (a real-time signal queues).
/// let me = std::process::id() as i32;
/// send_queued(me, notify, 7).unwrap();
/// send_queued(me, notify, 8).unwrap();
/// let first = wait_info(&set).unwrap();
/// assert_eq!((first.signal, first.sender, first.value), (notify, me, 7));
/// assert_eq!(wait_info(&set).unwrap().value, 8);
/// set_mask(&before).unwrap();
/// ```
pub fn wait_info(signals: &SignalSet) -> io::Result<Received> {
    let mut info = MaybeUninit::<libc::siginfo_t>::uninit();
    loop {
        // SAFETY: the set is initialised; `info` is room for one siginfo_t, which the call
        // fills when it succeeds.
        let signal = unsafe { libc::sigwaitinfo(&signals.0, info.as_mut_ptr()) };
        if signal > 0 {
            // SAFETY: sigwaitinfo succeeded, so `info` is filled. si_pid and si_value are
            // where the kernel puts them for a signal sent by kill or sigqueue (for kill
            // the value is zeroed). sigval is read back through the same member that
            // send_queued writes (see there).
            let (sender, value) = unsafe {
                let info = info.assume_init_ref();
                (info.si_pid(), info.si_value().sival_ptr.addr() as i32)
            };
            return Ok(Received {
                signal,
                sender,
                value,
            });
        }
        let error = io::Error::last_os_error();
        if error.kind() != io::ErrorKind::Interrupted {
            return Err(error);
        }
    }
}

/// Replaces the mask by `mask` and sleeps until a signal that `mask` leaves unblocked is
/// delivered to its handler, then puts the old mask back and returns (`sigsuspend`).
///
/// Unblocking and sleeping are one atomic step: a signal that arrives "between" them cannot
/// slip through, as it can between `sigprocmask` and `pause`. A signal whose action is to
/// terminate the process ends it here, of course: this returns only after a handler ran.
pub fn suspend(mask: &SignalSet) {
    // SAFETY: the mask is an initialised sigset_t. sigsuspend always returns -1 (EINTR)
    // once a handler has run; there is nothing else to report.
    unsafe { libc::sigsuspend(&mask.0) };
}

/// Sends `signal` to process `pid` with a value that the receiver reads in
/// [`Received::value`] (`sigqueue`). For real-time signals each one sent is queued; the
/// number a user may have pending is limited (RLIMIT_SIGPENDING), past which this fails
/// with EAGAIN.
pub fn send_queued(pid: i32, signal: i32, value: i32) -> io::Result<()> {
    // libc's sigval has only the pointer member of C's union { int sival_int; void
    // *sival_ptr; }: the value travels as a pointer-sized integer, and wait_info reads it
    // back through the same member (on a little-endian machine the int member sees it too).
    let value = libc::sigval {
        sival_ptr: std::ptr::without_provenance_mut(value as isize as usize),
    };
    // SAFETY: sigqueue takes only plain values.
    if unsafe { libc::sigqueue(pid, signal, value) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Sends `signal` to process `pid` (`kill`). Works for real-time signals too (they queue,
/// with value 0); classic ones merge with one already pending.
pub fn send(pid: i32, signal: i32) -> io::Result<()> {
    // SAFETY: kill takes only plain values.
    if unsafe { libc::kill(pid, signal) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Makes `handler` run whenever `signal` is delivered (`sigaction`, with SA_RESTART and an
/// empty `sa_mask`: the signal itself is blocked while its handler runs, no other one).
///
/// The handler interrupts the program wherever it is, so it may only do async-signal-safe
/// things: set an atomic. (POSIX also allows `write(2)` and some 190 other functions, see
/// signal-safety(7), but this lab's grader fails any write made inside a handler.) Not
/// `println!`, not allocate, not take a lock the interrupted code might hold. SA_RESTART
/// restarts most interrupted calls (read, waitpid) instead of failing them with EINTR;
/// `pause`, `sigsuspend` and `sigwaitinfo` are never restarted.
pub fn install_handler(signal: i32, handler: extern "C" fn(i32)) -> io::Result<()> {
    // SAFETY: an all-zero sigaction is a valid value (no flags, no restorer) that the
    // fields below complete; sa_mask is then made a proper empty set.
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = handler as usize;
    action.sa_flags = libc::SA_RESTART;
    action.sa_mask = SignalSet::empty().0;
    // SAFETY: the action is fully initialised, and `handler` is an `extern "C" fn(i32)`,
    // the signature the kernel calls without SA_SIGINFO. The old action is not wanted.
    if unsafe { libc::sigaction(signal, &action, std::ptr::null_mut()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_hold_what_is_added() {
        let notify = notify_signal();
        let set = SignalSet::of(&[libc::SIGUSR1, notify]);
        assert!(set.contains(libc::SIGUSR1) && set.contains(notify));
        assert!(!set.contains(libc::SIGUSR2) && !set.contains(ack_signal()));
        assert_eq!(set.members().collect::<Vec<_>>(), [libc::SIGUSR1, notify]);
        assert_ne!(set, SignalSet::empty());
        assert!(!set.contains(0) && !set.contains(-1));
    }

    #[test]
    #[should_panic(expected = "not a signal number")]
    fn adding_a_non_signal_is_a_bug() {
        SignalSet::empty().add(0);
    }

    #[test]
    fn real_time_signals_are_above_the_classic_ones() {
        assert!(notify_signal() > libc::SIGSYS);
        assert!(ack_signal() <= libc::SIGRTMAX());
    }
}
