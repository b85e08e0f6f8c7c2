//! Decoding system calls into [`Event`]s: what a call's arguments, its result and the memory
//! they point at mean, as pure functions of the call, a [`Mem`] and a [`Context`] (the
//! calling process's descriptors, working directory and pids).
//!
//! - [`layout`]: the C structures calls point at, read through [`Mem`];
//! - [`kinds`]: which call is which (the open-like, unlink-like, … families);
//! - [`files`]: descriptors, writes and the calls that name files;
//! - [`ipc`]: sockets, message queues, System V segments, shared mappings;
//! - [`signals`]: signals sent, dispositions, masks, waits for signals and children.
//!
//! [`at_entry`] decodes the calls recorded at entry (writes and sends, whose bytes are in
//! the caller's memory now; queue messages, one stop each; close, whose descriptor still
//! names its file; waits, which block), [`at_exit`] those whose result matters.

pub mod files;
pub mod ipc;
pub mod kinds;
pub mod layout;
pub mod signals;

use super::fds::Paths;
use super::interest::{SEND_CALLS, SIGNAL_SEND_CALLS, SIGNAL_WAIT_CALLS};
use super::mem::Mem;
use super::model::{Event, ProcId, Stream};
use syscalls::Sysno;

/// A system call as seen at its entry.
#[derive(Debug, Clone)]
pub struct Call {
    pub sysno: Sysno,
    pub args: [u64; 6],
    /// The trace clock at entry: a signal is sent *during* the call, so its receiver may
    /// react (and even exit) before the sender's exit stop is seen; entry comes first.
    pub entered_at: u64,
}

/// What a decoder needs to know about the calling process besides its memory, and the
/// descriptor changes it reports back.
pub trait Context: Paths {
    /// What a descriptor the call just made refers to, as /proc tells it now.
    fn new_fd_target(&mut self, fd: i32) -> Option<String>;
    /// Descriptor `fd` refers to `target` from now on.
    fn note_fd(&mut self, fd: i32, target: String);
    /// Descriptor `fd` is being closed: what it referred to ("" if unknown).
    fn close_fd(&mut self, fd: i32) -> String;
    /// Which of the run's streams a write to `target` goes to.
    fn stream(&self, target: String) -> Stream;
    /// The run's process that `pid`, as the caller sees pids, names; a thread id if
    /// `thread`.
    fn process_seen_as(&self, pid: i32, thread: bool) -> Option<ProcId>;
    /// The signal whose handler the calling thread is running, innermost, if any.
    fn in_handler(&self) -> Option<i32>;
    /// The next tick of the trace-wide clock.
    fn tick(&mut self) -> u64;
}

/// The event a call recorded at entry makes, if any.
pub fn at_entry(call: &Call, mem: &dyn Mem, ctx: &mut dyn Context) -> Option<Event> {
    let (sysno, args) = (call.sysno, &call.args);
    match sysno {
        Sysno::mq_timedsend | Sysno::mq_timedreceive => Some(ipc::queue_message(sysno, args)),
        s if SEND_CALLS.iter().any(|&(call, _)| call == s) => Some(ipc::send(s, args, mem)),
        s if SIGNAL_WAIT_CALLS.contains(&s) => Some(signals::wait_for_signal(s, args, mem, ctx)),
        Sysno::close => Some(files::close(args, ctx)),
        s => files::write(s, args, mem, ctx),
    }
}

/// The event a call decoded at its exit makes, given its result `ret`, if any.
pub fn at_exit(call: &Call, ret: i64, mem: &dyn Mem, ctx: &mut dyn Context) -> Option<Event> {
    let (sysno, args) = (call.sysno, &call.args);
    match sysno {
        s if kinds::is_pipe(s) => files::pipe(args, ret, mem, ctx),
        s if kinds::is_dup(s) => files::dup(args, ret, ctx),
        s if kinds::is_open(s) => Some(files::open(s, args, ret, mem, ctx)),
        s if kinds::is_unlink(s) => Some(files::unlink(s, args, ret, mem, ctx)),
        s if kinds::is_mknod(s) => Some(files::mknod(s, args, ret, mem, ctx)),
        s if kinds::new_name_arg(s).is_some() => Some(files::new_name(s, args, ret, mem, ctx)),
        Sysno::socket => Some(ipc::socket(args, ret, ctx)),
        Sysno::socketpair => Some(ipc::socket_pair(args, ret, mem, ctx)),
        Sysno::bind | Sysno::connect => Some(ipc::bind_or_connect(sysno, args, ret, mem, ctx)),
        Sysno::accept | Sysno::accept4 => Some(ipc::accept(args, ret, ctx)),
        Sysno::mq_open => Some(ipc::queue_open(args, ret, mem, ctx)),
        Sysno::mq_unlink => Some(ipc::queue_unlink(args, ret, mem)),
        Sysno::shmget
        | Sysno::shmat
        | Sysno::shmdt
        | Sysno::shmctl
        | Sysno::msgget
        | Sysno::semget
        | Sysno::memfd_create
        | Sysno::mmap
        | Sysno::munmap
        | Sysno::ftruncate => ipc::memory(sysno, args, ret),
        Sysno::wait4 | Sysno::waitid => Some(signals::wait_for_child(sysno, args, ret, mem, ctx)),
        s if SIGNAL_SEND_CALLS.contains(&s) => Some(signals::sent(call, ret, mem, &*ctx)),
        Sysno::rt_sigaction => signals::action(args, ret, mem, ctx),
        Sysno::rt_sigprocmask => signals::mask(args, ret, mem, ctx),
        _ => None,
    }
}

pub use signals::target as signal_target;

#[cfg(test)]
pub(crate) mod test_context {
    //! A made-up calling process for the decoders' tests.

    use super::*;
    use std::collections::HashMap;

    /// A process with a table of descriptors, a working directory and the pids it sees.
    #[derive(Debug, Default)]
    pub struct Fake {
        pub cwd: Option<String>,
        pub fds: HashMap<i32, String>,
        /// What /proc would say of descriptors made by the call.
        pub fresh: HashMap<i32, String>,
        pub pids: HashMap<i32, ProcId>,
        pub threads: HashMap<i32, ProcId>,
        pub handler: Option<i32>,
        pub clock: u64,
    }

    impl Fake {
        pub fn new() -> Fake {
            Fake {
                cwd: Some("/tmp/run".into()),
                ..Fake::default()
            }
        }
    }

    impl Paths for Fake {
        fn cwd(&mut self) -> Option<String> {
            self.cwd.clone()
        }
        fn fd_target(&mut self, fd: i32) -> String {
            self.fds.get(&fd).cloned().unwrap_or_default()
        }
    }

    impl Context for Fake {
        fn new_fd_target(&mut self, fd: i32) -> Option<String> {
            self.fresh.get(&fd).cloned()
        }
        fn note_fd(&mut self, fd: i32, target: String) {
            self.fds.insert(fd, target);
        }
        fn close_fd(&mut self, fd: i32) -> String {
            self.fds.remove(&fd).unwrap_or_default()
        }
        fn stream(&self, target: String) -> Stream {
            match target.as_str() {
                "pipe:[1]" => Stream::Stdout,
                "pipe:[2]" => Stream::Stderr,
                _ => Stream::Other(target),
            }
        }
        fn process_seen_as(&self, pid: i32, thread: bool) -> Option<ProcId> {
            self.pids
                .get(&pid)
                .or_else(|| thread.then(|| self.threads.get(&pid)).flatten())
                .copied()
        }
        fn in_handler(&self) -> Option<i32> {
            self.handler
        }
        fn tick(&mut self) -> u64 {
            self.clock += 1;
            self.clock
        }
    }

    /// A call with these first arguments (the rest 0), entered at clock 0.
    pub fn call(sysno: Sysno, first: &[u64]) -> Call {
        let mut args = [0; 6];
        args[..first.len()].copy_from_slice(first);
        Call {
            sysno,
            args,
            entered_at: 0,
        }
    }
}
