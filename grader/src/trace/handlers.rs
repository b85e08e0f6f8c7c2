//! Signal-handler tracking: what each process does with each signal (from its `sigaction`
//! calls) and which handlers each thread is running, so a write made inside a handler is
//! marked `in_handler`.
//!
//! A signal delivered to a process with a handler pushes onto its thread's stack until the
//! handler's `rt_sigreturn`; exec resets handlers (code of the old program) to the default
//! action; children inherit their parent's dispositions.

use super::model::Disposition;
use std::collections::HashMap;

/// A process's dispositions: the signals it has set one for.
#[derive(Debug, Clone, Default)]
pub struct Dispositions(HashMap<i32, Disposition>);

impl Dispositions {
    /// Records what a successful `sigaction` set.
    pub fn set(&mut self, signal: i32, disposition: Disposition) {
        self.0.insert(signal, disposition);
    }

    /// True if a delivery of `signal` runs a handler.
    pub fn is_handled(&self, signal: i32) -> bool {
        self.0.get(&signal) == Some(&Disposition::Handler)
    }

    /// After an exec: handlers are gone (ignored signals stay ignored).
    pub fn reset_at_exec(&mut self) {
        for disposition in self.0.values_mut() {
            if *disposition == Disposition::Handler {
                *disposition = Disposition::Default;
            }
        }
    }
}

/// The signals whose handlers are running on one thread, innermost last.
#[derive(Debug, Clone, Default)]
pub struct Running(Vec<i32>);

impl Running {
    /// A handled signal was delivered: its handler runs now.
    pub fn enter(&mut self, signal: i32) {
        self.0.push(signal);
    }

    /// The innermost handler returned (`rt_sigreturn`).
    pub fn leave(&mut self) {
        self.0.pop();
    }

    /// The signal whose handler the thread is in, innermost, if any.
    pub fn innermost(&self) -> Option<i32> {
        self.0.last().copied()
    }

    /// After an exec: no handler of the old program runs.
    pub fn clear(&mut self) {
        self.0.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_resets_handlers_but_not_ignored_signals() {
        let mut dispositions = Dispositions::default();
        dispositions.set(libc::SIGUSR1, Disposition::Handler);
        dispositions.set(libc::SIGPIPE, Disposition::Ignore);
        assert!(dispositions.is_handled(libc::SIGUSR1));
        dispositions.reset_at_exec();
        assert!(!dispositions.is_handled(libc::SIGUSR1));
        assert_eq!(dispositions.0[&libc::SIGPIPE], Disposition::Ignore);
    }

    #[test]
    fn nested_handlers_unwind_innermost_first() {
        let mut running = Running::default();
        running.enter(libc::SIGUSR1);
        running.enter(libc::SIGUSR2);
        assert_eq!(running.innermost(), Some(libc::SIGUSR2));
        running.leave();
        assert_eq!(running.innermost(), Some(libc::SIGUSR1));
        running.leave();
        running.leave(); // A stray rt_sigreturn (a program may call it itself).
        assert_eq!(running.innermost(), None);
    }
}
