//! Which system calls the tracer stops on: one description, two uses.
//!
//! An [`Interest`] is built from the [`Topic`]s a rubric's checks ask for. It becomes the
//! stopping rules of the run's seccomp program ([`Interest::policy`], installed in the traced
//! program before exec, so untraced calls run at full speed) and it answers, in Rust, "is
//! this call one we record?" in full mode, where the tracer sees everything. Using the same
//! rules for both is what makes a check's verdict the same in filtered and full mode.
//!
//! Fixed rules ([`hardening_policy`]) close the doors a program could use to hide from the
//! tracer: `clone(CLONE_UNTRACED)`, `clone3` (flags in memory, out of a filter's reach; glibc
//! falls back to `clone`) and `io_uring` (I/O without system calls). All of them compile into
//! one program ([`super::filter`]).

use super::filter::{Action, Policy, Test};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use syscalls::Sysno;

/// A family of system calls a check needs to see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Topic {
    /// Write-like calls to fds 0–2 and the dups that could alias them.
    StdoutWrites,
    /// pipe/pipe2 and close.
    Pipes,
    /// Opening, creating and removing files (regular files, FIFOs, /dev/shm objects).
    Files,
    /// System V shared memory: shmget, shmat, shmdt, shmctl.
    SysvShm,
    /// Every other channel a program could use instead: sockets, message queues, semaphores,
    /// shared mappings.
    OtherIpc,
    /// wait4/waitid: who reaped whom.
    Waits,
    /// Sockets used as the channel: socket, socketpair, bind, connect, accept, and the sends
    /// that the kernel's write counters miss (sendto, sendmsg).
    Sockets,
    /// POSIX message queues: mq_open, mq_unlink, and every message sent and received.
    Mqueue,
    /// POSIX shared memory beyond its open and unlink (those are [`Topic::Files`]): the
    /// shared mappings, munmap and ftruncate.
    PosixShm,
    /// Signals: who sent which to whom (kill, tgkill, sigqueue), dispositions (sigaction),
    /// masks (sigprocmask), and the end of each handler (rt_sigreturn), so the tracer knows
    /// which calls a handler made.
    Signals,
    /// The ways to wait: for a signal (sigsuspend, sigtimedwait/sigwaitinfo, pause), or by
    /// polling (the naps of `SLEEP_CALLS`: nanosleep, sched_yield, poll, select, epoll …).
    /// Recorded at entry.
    Waiting,
}

impl Topic {
    pub const ALL: [Topic; 11] = [
        Topic::Signals,
        Topic::Waiting,
        Topic::StdoutWrites,
        Topic::Pipes,
        Topic::Files,
        Topic::SysvShm,
        Topic::OtherIpc,
        Topic::Waits,
        Topic::Sockets,
        Topic::Mqueue,
        Topic::PosixShm,
    ];
}

/// A condition on one argument, as seccomp can test it (on the low 32 bits for descriptors
/// and commands, on all 64 for flags).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgTest {
    /// `(u32)arg <= value`.
    AtMost32(u32),
    /// `(u32)arg == value`.
    Equals32(u32),
    /// `arg & mask != 0`.
    AnyBit(u64),
}

/// The set of calls the tracer stops on and records.
#[derive(Debug, Clone, Default)]
pub struct Interest {
    rules: BTreeMap<Sysno, Vec<Option<(u8, ArgTest)>>>,
}

/// Write-like calls and the index of their destination descriptor.
pub const WRITE_CALLS: &[(Sysno, u8)] = &[
    (Sysno::write, 0),
    (Sysno::writev, 0),
    (Sysno::pwrite64, 0),
    (Sysno::pwritev, 0),
    (Sysno::pwritev2, 0),
    (Sysno::sendfile, 0),
    (Sysno::splice, 2),
    (Sysno::tee, 1),
    (Sysno::vmsplice, 0),
    (Sysno::copy_file_range, 2),
];

/// Socket calls whose result (a descriptor, a bound or connected address) the checks read.
pub const SOCKET_CALLS: &[Sysno] = &[
    Sysno::socket,
    Sysno::socketpair,
    Sysno::bind,
    Sysno::connect,
    Sysno::accept,
    Sysno::accept4,
];

/// Send-like socket calls the kernel's write counter (`wchar`) does not count, and the
/// index of their descriptor argument. Recorded at entry, like writes.
pub const SEND_CALLS: &[(Sysno, u8)] = &[(Sysno::sendto, 0), (Sysno::sendmsg, 0)];

/// Calls that send a signal to a process or thread.
pub const SIGNAL_SEND_CALLS: &[Sysno] = &[
    Sysno::kill,
    Sysno::tkill,
    Sysno::tgkill,
    Sysno::rt_sigqueueinfo,
    Sysno::rt_tgsigqueueinfo,
];

/// Calls that sleep until a signal arrives.
#[cfg(target_arch = "x86_64")]
pub const SIGNAL_WAIT_CALLS: &[Sysno] =
    &[Sysno::rt_sigsuspend, Sysno::rt_sigtimedwait, Sysno::pause];
#[cfg(not(target_arch = "x86_64"))]
pub const SIGNAL_WAIT_CALLS: &[Sysno] = &[Sysno::rt_sigsuspend, Sysno::rt_sigtimedwait];

/// Calls a polling loop makes between looks at a flag: the sleeps, and every call that can
/// serve as one (a poll, select or epoll wait with a timeout and nothing to watch naps as
/// well as nanosleep does).
#[cfg(target_arch = "x86_64")]
pub const SLEEP_CALLS: &[Sysno] = &[
    Sysno::nanosleep,
    Sysno::clock_nanosleep,
    Sysno::sched_yield,
    Sysno::poll,
    Sysno::ppoll,
    Sysno::select,
    Sysno::pselect6,
    Sysno::epoll_wait,
    Sysno::epoll_pwait,
    Sysno::epoll_pwait2,
];
#[cfg(not(target_arch = "x86_64"))]
pub const SLEEP_CALLS: &[Sysno] = &[
    Sysno::nanosleep,
    Sysno::clock_nanosleep,
    Sysno::sched_yield,
    Sysno::ppoll,
    Sysno::pselect6,
    Sysno::epoll_pwait,
    Sysno::epoll_pwait2,
];

/// Calls that make a new descriptor refer to an existing file.
#[cfg(target_arch = "x86_64")]
pub const DUP_CALLS: &[Sysno] = &[Sysno::dup, Sysno::dup2, Sysno::dup3];
#[cfg(not(target_arch = "x86_64"))]
pub const DUP_CALLS: &[Sysno] = &[Sysno::dup, Sysno::dup3];

impl Interest {
    /// The calls needed by these topics.
    pub fn for_topics(topics: impl IntoIterator<Item = Topic>) -> Interest {
        let mut interest = Interest::default();
        let topics: BTreeSet<Topic> = topics.into_iter().collect();
        for topic in topics {
            interest.add_topic(topic);
        }
        interest
    }

    /// These calls and the creation of System V semaphore sets and message queues, which
    /// the grader itself needs to see: a queue or set left behind can be found from the
    /// trace's ids where nothing else tells whose it is (an unprivileged grader's fallback).
    /// Rare calls, so no cost; every isolation traces them, so verdicts cannot differ.
    ///
    /// And every call that can give a file a name (a creating open, mknod, mkdir, link,
    /// symlink, rename, bind): the names a run made and left are how an unprivileged
    /// grader's fallback, which shares its uid and directories with the run, finds what to
    /// remove. Opens that create nothing are not stopped for.
    pub fn with_leak_tracking(mut self) -> Interest {
        self.add(Sysno::semget, None);
        self.add(Sysno::msgget, None);
        let creating = ArgTest::AnyBit(libc::O_CREAT as u64);
        #[cfg(target_arch = "x86_64")]
        {
            self.add(Sysno::open, Some((1, creating)));
            for sysno in [
                Sysno::creat,
                Sysno::mknod,
                Sysno::mkdir,
                Sysno::link,
                Sysno::symlink,
                Sysno::rename,
            ] {
                self.add(sysno, None);
            }
        }
        self.add(Sysno::openat, Some((2, creating)));
        for sysno in [
            // Its flags are in a struct the filter cannot read; it is rare.
            Sysno::openat2,
            Sysno::mknodat,
            Sysno::mkdirat,
            Sysno::linkat,
            Sysno::symlinkat,
            Sysno::renameat,
            Sysno::renameat2,
            Sysno::bind,
        ] {
            self.add(sysno, None);
        }
        self
    }

    /// Everything any check can ask for.
    pub fn all() -> Interest {
        Interest::for_topics(Topic::ALL)
    }

    fn add(&mut self, sysno: Sysno, test: Option<(u8, ArgTest)>) {
        let alternatives = self.rules.entry(sysno).or_default();
        if !alternatives.contains(&test) {
            alternatives.push(test);
        }
    }

    fn add_topic(&mut self, topic: Topic) {
        match topic {
            Topic::StdoutWrites => {
                for &(sysno, fd_arg) in WRITE_CALLS {
                    self.add(sysno, Some((fd_arg, ArgTest::AtMost32(2))));
                }
                // An alias of stdout made by dup escapes a filter on fd numbers; the tracer
                // watches dups and steps any process that makes one.
                for &sysno in DUP_CALLS {
                    self.add(sysno, None);
                }
                self.add(
                    Sysno::fcntl,
                    Some((1, ArgTest::Equals32(libc::F_DUPFD as u32))),
                );
                self.add(
                    Sysno::fcntl,
                    Some((1, ArgTest::Equals32(libc::F_DUPFD_CLOEXEC as u32))),
                );
                self.add(Sysno::close, None);
            }
            Topic::Pipes => {
                #[cfg(target_arch = "x86_64")]
                self.add(Sysno::pipe, None);
                self.add(Sysno::pipe2, None);
                self.add(Sysno::close, None);
            }
            Topic::Files => {
                #[cfg(target_arch = "x86_64")]
                for sysno in [Sysno::open, Sysno::creat, Sysno::unlink, Sysno::mknod] {
                    self.add(sysno, None);
                }
                for sysno in [
                    Sysno::openat,
                    Sysno::openat2,
                    Sysno::unlinkat,
                    Sysno::mknodat,
                ] {
                    self.add(sysno, None);
                }
            }
            Topic::SysvShm => {
                for sysno in [Sysno::shmget, Sysno::shmat, Sysno::shmdt, Sysno::shmctl] {
                    self.add(sysno, None);
                }
            }
            Topic::OtherIpc => {
                for sysno in [
                    Sysno::socket,
                    Sysno::socketpair,
                    Sysno::msgget,
                    Sysno::semget,
                    Sysno::mq_open,
                    Sysno::memfd_create,
                ] {
                    self.add(sysno, None);
                }
                self.add(
                    Sysno::mmap,
                    Some((3, ArgTest::AnyBit(libc::MAP_SHARED as u64))),
                );
            }
            Topic::Waits => {
                self.add(Sysno::wait4, None);
                self.add(Sysno::waitid, None);
            }
            Topic::Sockets => {
                for sysno in SOCKET_CALLS {
                    self.add(*sysno, None);
                }
                for &(sysno, _) in SEND_CALLS {
                    self.add(sysno, None);
                }
            }
            Topic::Mqueue => {
                for sysno in [
                    Sysno::mq_open,
                    Sysno::mq_unlink,
                    Sysno::mq_timedsend,
                    Sysno::mq_timedreceive,
                ] {
                    self.add(sysno, None);
                }
            }
            Topic::Signals => {
                for sysno in SIGNAL_SEND_CALLS {
                    self.add(*sysno, None);
                }
                for sysno in [
                    Sysno::rt_sigaction,
                    Sysno::rt_sigprocmask,
                    Sysno::rt_sigreturn,
                ] {
                    self.add(sysno, None);
                }
            }
            Topic::Waiting => {
                for sysno in SIGNAL_WAIT_CALLS.iter().chain(SLEEP_CALLS) {
                    self.add(*sysno, None);
                }
            }
            Topic::PosixShm => {
                self.add(
                    Sysno::mmap,
                    Some((3, ArgTest::AnyBit(libc::MAP_SHARED as u64))),
                );
                self.add(Sysno::munmap, None);
                self.add(Sysno::ftruncate, None);
            }
        }
    }

    /// True if a call with these arguments is one this interest records.
    pub fn matches(&self, sysno: Sysno, args: &[u64; 6]) -> bool {
        let Some(alternatives) = self.rules.get(&sysno) else {
            return false;
        };
        alternatives.iter().any(|test| match test {
            None => true,
            Some((arg, test)) => {
                let value = args[*arg as usize];
                match *test {
                    ArgTest::AtMost32(limit) => (value as u32) <= limit,
                    ArgTest::Equals32(expected) => value as u32 == expected,
                    ArgTest::AnyBit(mask) => value & mask != 0,
                }
            }
        })
    }

    /// True if any rule names this call (whatever its arguments).
    pub fn names(&self, sysno: Sysno) -> bool {
        self.rules.contains_key(&sysno)
    }

    /// The calls this interest names, for reports.
    pub fn syscall_names(&self) -> Vec<&'static str> {
        self.rules.keys().map(|s| s.name()).collect()
    }

    /// The rules that stop the traced program on exactly these calls
    /// (`SECCOMP_RET_TRACE`) and let everything else run.
    pub fn policy(&self) -> Policy {
        let mut policy = Policy::default();
        for (sysno, alternatives) in &self.rules {
            let nr = sysno.id() as u32;
            for alternative in alternatives {
                let test = match *alternative {
                    None => Test::Always,
                    Some((arg, ArgTest::AtMost32(limit))) => Test::LowAtMost { arg, limit },
                    Some((arg, ArgTest::Equals32(value))) => Test::LowEquals { arg, value },
                    Some((arg, ArgTest::AnyBit(bits))) => Test::AnyBit { arg, bits },
                };
                policy.push(nr, test, Action::Trace(0));
            }
        }
        policy
    }
}

/// Calls no program may make, whatever the lab: each would let it leave the tracer's sight
/// or move data past the mechanism a lab grades. The hardening filter stops at them
/// (`SECCOMP_RET_TRACE`, or `ENOSYS` with no tracer), and the tracer refuses them: the call
/// is skipped, returns ENOSYS (so glibc falls back from clone3 to clone), and is recorded
/// as [`Event::Refused`](super::model::Event::Refused) with this reason. [`refusal`] and
/// [`hardening_policy`] are both made from this one list, so filtered and full tracing
/// refuse the same calls.
const REFUSED: &[(Sysno, Refused, &str)] = &[
    (
        Sysno::clone,
        Refused::FlagsSet(libc::CLONE_UNTRACED as u64),
        "a child the tracer cannot follow (CLONE_UNTRACED)",
    ),
    (
        Sysno::clone,
        Refused::FlagsExactly {
            mask: (libc::CLONE_VM | libc::CLONE_THREAD | libc::CLONE_VFORK) as u64,
            value: libc::CLONE_VM as u64,
        },
        "a process sharing another's memory (CLONE_VM without CLONE_THREAD)",
    ),
    (
        Sysno::clone,
        Refused::FlagsExactly {
            mask: (libc::CLONE_FILES | libc::CLONE_THREAD) as u64,
            value: libc::CLONE_FILES as u64,
        },
        "a process sharing another's descriptors (CLONE_FILES without CLONE_THREAD)",
    ),
    (
        Sysno::clone3,
        Refused::Always,
        "clone3, whose flags a filter cannot read",
    ),
    (
        Sysno::io_uring_setup,
        Refused::Always,
        "io_uring, whose calls the tracer cannot see",
    ),
    (
        Sysno::io_uring_enter,
        Refused::Always,
        "io_uring, whose calls the tracer cannot see",
    ),
    (
        Sysno::io_uring_register,
        Refused::Always,
        "io_uring, whose calls the tracer cannot see",
    ),
    (
        Sysno::io_setup,
        Refused::Always,
        "Linux AIO, whose writes the tracer cannot see",
    ),
    (
        Sysno::io_submit,
        Refused::Always,
        "Linux AIO, whose writes the tracer cannot see",
    ),
    (
        Sysno::pidfd_getfd,
        Refused::Always,
        "taking another process's descriptors",
    ),
    (
        Sysno::process_vm_readv,
        Refused::Always,
        "reading another process's memory",
    ),
    (
        Sysno::process_vm_writev,
        Refused::Always,
        "writing another process's memory",
    ),
    (Sysno::ptrace, Refused::Always, "tracing a process"),
    (
        Sysno::seccomp,
        Refused::ArgFlagsSet {
            arg: 1,
            flags: SECCOMP_FILTER_FLAG_NEW_LISTENER,
        },
        "a seccomp filter that answers calls itself (user notification)",
    ),
];

/// `SECCOMP_FILTER_FLAG_NEW_LISTENER` (linux/seccomp.h): the filter gets a listener that
/// answers its `SECCOMP_RET_USER_NOTIF` calls, which outranks the grader's `RET_TRACE`.
const SECCOMP_FILTER_FLAG_NEW_LISTENER: u64 = 1 << 3;

/// When a call of [`REFUSED`] is refused.
#[derive(Clone, Copy)]
enum Refused {
    Always,
    /// Any of these bits set in the first argument (clone's flags).
    FlagsSet(u64),
    /// The first argument, masked, equals `value`.
    FlagsExactly {
        mask: u64,
        value: u64,
    },
    /// Any of these bits set in argument `arg`.
    ArgFlagsSet {
        arg: usize,
        flags: u64,
    },
}

impl Refused {
    fn matches(self, args: &[u64; 6]) -> bool {
        match self {
            Refused::Always => true,
            Refused::FlagsSet(bits) => args[0] & bits != 0,
            Refused::FlagsExactly { mask, value } => args[0] & mask == value,
            Refused::ArgFlagsSet { arg, flags } => args[arg] & flags != 0,
        }
    }

    /// The same condition, for the run's seccomp program.
    fn test(self) -> Test {
        match self {
            Refused::Always => Test::Always,
            Refused::FlagsSet(bits) => Test::AnyBit { arg: 0, bits },
            Refused::FlagsExactly { mask, value } => Test::Masked {
                arg: 0,
                mask,
                value,
            },
            Refused::ArgFlagsSet { arg, flags } => Test::AnyBit {
                arg: arg as u8,
                bits: flags,
            },
        }
    }
}

/// Whether a call is refused (see `REFUSED`).
pub enum Refusal {
    /// It may go ahead.
    No,
    /// It is refused without a word: clone3, which glibc tries first and falls back from.
    Quietly,
    /// It is refused, and recorded with this reason.
    Because(&'static str),
}

/// Whether, and why, a call is refused (see `REFUSED`).
pub fn refusal(sysno: Sysno, args: &[u64; 6]) -> Refusal {
    match REFUSED
        .iter()
        .find(|(call, when, _)| *call == sysno && when.matches(args))
    {
        None => Refusal::No,
        Some((Sysno::clone3, ..)) => Refusal::Quietly,
        Some((_, _, reason)) => Refusal::Because(reason),
    }
}

/// The rules that stop at the calls of `REFUSED` for the tracer to refuse.
pub fn hardening_policy() -> Policy {
    let mut policy = Policy::default();
    for (sysno, when, _) in REFUSED {
        policy.push(sysno.id() as u32, when.test(), Action::Trace(REFUSED_MARK));
    }
    policy
}

/// The data the hardening rules' stops carry (telling them apart is the tracer's
/// [`refusal`] check; the mark only makes them recognisable in a debugger).
const REFUSED_MARK: u16 = 0x7e5e;

/// The rules that keep a run of an unprivileged grader without namespaces (same uid, same
/// PID namespace) from reaching the grader: signals to the grader's process or process
/// group or to everyone (`kill(-1)`), signals by thread id (which could name a grader
/// thread), a pidfd of the grader. Each fails with EPERM, as it would for a process of
/// another user, whatever the tracer does.
pub fn shield_policy(grader_pid: i32) -> Policy {
    let mut policy = Policy::default();
    let refuse = |policy: &mut Policy, sysno: Sysno, test: Test| {
        policy.push(sysno.id() as u32, test, Action::Errno(libc::EPERM as u16));
    };
    let pid = |value: i32| Test::LowEquals {
        arg: 0,
        value: value as u32,
    };
    for value in [grader_pid, -grader_pid, -1] {
        refuse(&mut policy, Sysno::kill, pid(value));
    }
    for sysno in [
        Sysno::tgkill,
        Sysno::rt_sigqueueinfo,
        Sysno::rt_tgsigqueueinfo,
        Sysno::pidfd_open,
    ] {
        refuse(&mut policy, sysno, pid(grader_pid));
    }
    // tkill names a thread by its id alone, which may be one of the grader's. (Tracing and
    // other processes' memory are refused for every run by the hardening rules.)
    refuse(&mut policy, Sysno::tkill, Test::Always);
    policy
}

/// True for calls whose result the tracer must see (a new fd, an id, a reaped pid): it
/// resumes them with PTRACE_SYSCALL to get the exit stop.
pub fn needs_exit_stop(sysno: Sysno) -> bool {
    !(WRITE_CALLS.iter().any(|&(s, _)| s == sysno)
        || SEND_CALLS.iter().any(|&(s, _)| s == sysno)
        || is_entry_only(sysno)
        || sysno == Sysno::close)
}

/// Calls recorded at entry only, besides writes, sends and close: one message each, sent or
/// received many thousand times by a large run, so a second stop per call would double
/// the cost of tracing them and tell the checks nothing they use.
///
/// The waits and sleeps are recorded at entry too: they block, and what they return tells
/// the checks nothing. rt_sigreturn never returns to its caller.
fn is_entry_only(sysno: Sysno) -> bool {
    [
        Sysno::mq_timedsend,
        Sysno::mq_timedreceive,
        Sysno::rt_sigreturn,
    ]
    .contains(&sysno)
        || SIGNAL_WAIT_CALLS.contains(&sysno)
        || SLEEP_CALLS.contains(&sysno)
}

/// Which argument of a write-like call is the destination descriptor.
pub fn write_fd_arg(sysno: Sysno) -> Option<usize> {
    WRITE_CALLS
        .iter()
        .find(|&&(s, _)| s == sysno)
        .map(|&(_, arg)| arg as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stdout_writes_match_low_fds_only() {
        let interest = Interest::for_topics([Topic::StdoutWrites]);
        let mut args = [0u64; 6];
        args[0] = 1;
        assert!(interest.matches(Sysno::write, &args));
        args[0] = 4;
        assert!(!interest.matches(Sysno::write, &args));
        args[0] = u64::MAX; // fd -1
        assert!(!interest.matches(Sysno::write, &args));
        assert!(!interest.matches(Sysno::read, &args));
    }

    #[test]
    fn fcntl_matches_only_dupfd() {
        let interest = Interest::for_topics([Topic::StdoutWrites]);
        let mut args = [0u64; 6];
        args[1] = libc::F_GETFL as u64;
        assert!(!interest.matches(Sysno::fcntl, &args));
        args[1] = libc::F_DUPFD_CLOEXEC as u64;
        assert!(interest.matches(Sysno::fcntl, &args));
    }

    #[test]
    fn shared_mmap_only() {
        let interest = Interest::for_topics([Topic::OtherIpc]);
        let mut args = [0u64; 6];
        args[3] = (libc::MAP_PRIVATE | libc::MAP_ANONYMOUS) as u64;
        assert!(!interest.matches(Sysno::mmap, &args));
        args[3] = libc::MAP_SHARED as u64;
        assert!(interest.matches(Sysno::mmap, &args));
    }

    #[test]
    fn message_calls_stop_only_at_entry() {
        assert!(!needs_exit_stop(Sysno::mq_timedsend));
        assert!(!needs_exit_stop(Sysno::mq_timedreceive));
        assert!(!needs_exit_stop(Sysno::sendto));
        assert!(needs_exit_stop(Sysno::mq_open));
        assert!(needs_exit_stop(Sysno::accept4));
        let interest = Interest::for_topics([Topic::Mqueue, Topic::Sockets]);
        let args = [0u64; 6];
        for sysno in [
            Sysno::mq_unlink,
            Sysno::bind,
            Sysno::connect,
            Sysno::sendmsg,
        ] {
            assert!(interest.matches(sysno, &args), "{sysno}");
        }
        assert!(!interest.matches(Sysno::recvfrom, &args));
    }

    /// The run's program stops on exactly the calls the tracer's own reading records, and
    /// refuses exactly those `refusal` names: the two uses of one description agree, for
    /// every call the kernel knows and arguments drawn to hit each test's edges.
    #[test]
    fn the_compiled_program_agrees_with_the_tracers_reading() {
        use crate::trace::filter::tests::{decoded, run};
        use crate::trace::filter::{Action, Decision};
        let interest = Interest::all().with_leak_tracking();
        let program = hardening_policy().then(&interest.policy()).compile();
        let edges = [
            0,
            1,
            2,
            3,
            u32::MAX as u64,
            u64::MAX,
            0x40,
            1 << 23,
            0x100,
            1 << 3,
        ];
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for sysno in Sysno::iter() {
            for round in 0..64 {
                let mut args = [0u64; 6];
                for (i, arg) in args.iter_mut().enumerate() {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    *arg = if round % 2 == 0 {
                        edges[(seed as usize + i) % edges.len()]
                    } else {
                        seed
                    };
                }
                let got = decoded(run(
                    &program,
                    sysno.id() as u32,
                    crate::trace::filter::AUDIT_ARCH,
                    &args,
                ));
                let expected = if !matches!(refusal(sysno, &args), Refusal::No) {
                    Decision::Act(Action::Trace(REFUSED_MARK))
                } else if interest.matches(sysno, &args) {
                    Decision::Act(Action::Trace(0))
                } else {
                    Decision::Allow
                };
                assert_eq!(got, expected, "{sysno} {args:x?}");
            }
        }
    }

    #[test]
    fn filters_compile() {
        assert!(!Interest::all().policy().compile().is_empty());
        assert!(!hardening_policy().compile().is_empty());
    }
}
