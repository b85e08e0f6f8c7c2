//! Explaining a hang: which process is blocked in which call, and for pipes, who still
//! holds the other end. Reads the snapshot the watchdog took just before killing the run.
//!
//! The two classic pipe deadlocks get a sentence of their own:
//! - a reader blocked in `read` on a pipe whose write end is still open somewhere (often in
//!   the reader itself), so end-of-file never comes;
//! - writers blocked in `write` on a full pipe while the reader is blocked in `wait4`.
//!
//! The other channels get a sentence each: a full or empty message queue, an `accept` that
//! no connection answers, the `open` of a FIFO whose other side nobody opens.
//!
//! A run cut while a process is still computing is no deadlock: the watchdog samples every
//! process's CPU time twice, [`CPU_LOOK`] apart, before the kill ([`CpuAtCut`]), and a
//! process that used CPU in between is told as "still computing", with the CPU time it had
//! used ([`still_computing`]).

use super::RunOutcome;
use crate::trace::live::ProcessSnapshot;
use crate::trace::procfs;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use syscalls::Sysno;

/// How long before the time limit the watchdog first samples CPU times (at most a quarter
/// of the limit): long enough for a computing process to gain several clock ticks (10 ms
/// each) even on a crowded machine.
pub const CPU_LOOK: Duration = Duration::from_millis(500);

/// CPU time one live process had used when the run was cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuAtCut {
    pub pid: i32,
    /// All it had used, at the kill.
    pub used_ms: u64,
    /// What it used during the watchdog's last look (`look_ms` long).
    pub recent_ms: u64,
    pub look_ms: u64,
}

impl CpuAtCut {
    /// True if it kept computing until the kill: it gained at least two clock ticks of CPU
    /// during the last look. A blocked process gains none; a computing one gains ticks
    /// even when it shares a CPU with a dozen others (a 500 ms look at 2 cores and load 8
    /// gives each some 120 ms).
    pub fn computing(&self) -> bool {
        self.recent_ms >= 20
    }
}

/// The CPU time of each process of a snapshot, now.
pub fn cpu_times(snapshot: &[ProcessSnapshot]) -> Vec<(i32, u64)> {
    snapshot
        .iter()
        .filter_map(|s| Some((s.pid, procfs::cpu_time(s.pid)?.total_ms())))
        .collect()
}

/// Pairs the two samples of [`cpu_times`], `look` apart (a process first seen in the second
/// counts from zero).
pub fn cpu_at_cut(before: &[(i32, u64)], after: &[(i32, u64)], look: Duration) -> Vec<CpuAtCut> {
    after
        .iter()
        .map(|&(pid, used_ms)| {
            let earlier = before
                .iter()
                .find(|(p, _)| *p == pid)
                .map_or(0, |(_, ms)| *ms);
            CpuAtCut {
                pid,
                used_ms,
                recent_ms: used_ms.saturating_sub(earlier),
                look_ms: look.as_millis() as u64,
            }
        })
        .collect()
}

/// The processes that were still computing when the run was cut, with the CPU time each
/// had used, in the trace's order.
pub fn still_computing(run: &RunOutcome) -> Vec<(String, u64)> {
    run.trace
        .processes
        .iter()
        .filter_map(|process| {
            let cpu = run
                .cpu_at_cut
                .iter()
                .find(|c| c.pid == process.pid && c.computing())?;
            Some((process.label.clone(), cpu.used_ms))
        })
        .collect()
}

/// `7.9 s`.
pub fn seconds(ms: u64) -> String {
    format!("{:.1} s", ms as f64 / 1000.0)
}

fn is_computing(run: &RunOutcome, pid: i32) -> bool {
    run.cpu_at_cut.iter().any(|c| c.pid == pid && c.computing())
}

/// One line per live process, the recognised deadlock first.
pub fn explain(run: &RunOutcome) -> Vec<String> {
    let snapshots = &run.hang;
    let name = |pid: i32| {
        run.trace
            .by_pid(pid)
            .map(|id| run.trace.processes[id].name())
            .unwrap_or_else(|| format!("process {pid}"))
    };
    let mut lines = Vec::new();
    let mut deadlocked_writers = Vec::new();
    let mut waiting_reader = None;
    let mut queue_senders = Vec::new();
    for snap in snapshots {
        let who = name(snap.pid);
        if matches!(snap.state, 'T' | 't') {
            lines.push(stopped(run, snap, &who));
            continue;
        }
        if let Some(cpu) = run
            .cpu_at_cut
            .iter()
            .find(|c| c.pid == snap.pid && c.computing())
        {
            lines.push(format!(
                "{who} is still computing: it had used {} of CPU, {} ms of it in the last {} \
                 ms before the kill",
                seconds(cpu.used_ms),
                cpu.recent_ms,
                cpu.look_ms
            ));
            continue;
        }
        let Some(call) = &snap.syscall else {
            lines.push(match snap.state {
                'R' => format!("{who} is running, not waiting for anything: an endless loop?"),
                _ => format!("{who} is alive (state {})", snap.state),
            });
            continue;
        };
        let sysno = Sysno::new(call.nr as usize);
        let call_name = sysno.map(|s| s.name()).unwrap_or("an unknown call");
        let fd = call.args[0] as i32;
        let pipe = pipe_of(snap, fd);
        match (sysno, pipe) {
            (Some(Sysno::read | Sysno::readv | Sysno::pread64), Some(inode)) => {
                let holders = holders(snapshots, &inode, true);
                let own = holders.iter().find(|(pid, _)| *pid == snap.pid);
                lines.push(match own {
                    Some((_, write_fd)) => format!(
                        "{who} is blocked in {call_name}(fd {fd}, …); fd {fd} is a pipe whose \
                         write end it still holds itself (fd {write_fd}): close it before \
                         reading, or end-of-file never comes"
                    ),
                    // Writers still at work: end-of-file comes when they are done.
                    None if !holders.is_empty()
                        && holders.iter().all(|(pid, _)| is_computing(run, *pid)) =>
                    {
                        format!(
                            "{who} is blocked in {call_name}(fd {fd}, …), waiting for the pipe's \
                             writers, {}, who are still computing",
                            list(&holders, &name)
                        )
                    }
                    None if !holders.is_empty() => format!(
                        "{who} is blocked in {call_name}(fd {fd}, …); the pipe's write end is \
                         still open in {}, so end-of-file never comes",
                        list(&holders, &name)
                    ),
                    None => format!("{who} is blocked in {call_name}(fd {fd}, …) on a pipe"),
                });
            }
            (Some(Sysno::write | Sysno::writev | Sysno::pwrite64), Some(inode)) => {
                let readers = holders(snapshots, &inode, false);
                let reader_waiting = readers.iter().find_map(|(pid, _)| {
                    snapshots
                        .iter()
                        .find(|s| s.pid == *pid)
                        .filter(|s| is_wait(s))
                        .map(|s| s.pid)
                });
                if let Some(reader) = reader_waiting {
                    deadlocked_writers.push((who.clone(), fd, call_name));
                    waiting_reader = Some(reader);
                }
                lines.push(format!(
                    "{who} is blocked in {call_name}(fd {fd}, …): the pipe is full (64 KiB) and \
                     nobody is reading it"
                ));
            }
            (Some(Sysno::wait4 | Sysno::waitid), _) => {
                lines.push(format!(
                    "{who} is blocked in {call_name}, waiting for a child that has not exited"
                ));
            }
            (Some(Sysno::mq_timedsend), _) => {
                queue_senders.push(who.clone());
                lines.push(format!(
                    "{who} is blocked in mq_send: the queue is full, and nobody receives from it"
                ));
            }
            (Some(Sysno::mq_timedreceive), _) => lines.push(format!(
                "{who} is blocked in mq_receive: the queue is empty, and nobody sends to it any \
                 more (did every worker send its last message?)"
            )),
            (Some(Sysno::accept | Sysno::accept4), _) => lines.push(format!(
                "{who} is blocked in {call_name}, waiting for a connection that nobody makes"
            )),
            (Some(sysno), _) if crate::trace::interest::SIGNAL_WAIT_CALLS.contains(&sysno) => lines
                .push(format!(
                    "{who} is blocked in {}, waiting for a signal that never comes (was it \
                     sent, and handled or lost, before the wait began?)",
                    signal_wait_name(sysno)
                )),
            (Some(sysno), _) if is_open(sysno) && made_a_fifo(run) => lines.push(format!(
                "{who} is blocked in {call_name}: opening a FIFO waits until some process \
                 opens it from the other side (to write, if this one opens it to read, and the \
                 other way round)"
            )),
            _ => lines.push(format!("{who} is blocked in {call_name}")),
        }
    }
    if let Some(reader) = waiting_reader {
        let writers: Vec<String> = deadlocked_writers
            .iter()
            .map(|(w, _, _)| w.clone())
            .collect();
        let (_, fd, call) = &deadlocked_writers[0];
        let subject = if writers.len() == 2 {
            format!("both {} and {}", writers[0], writers[1])
        } else {
            writers.join(", ")
        };
        let verb = if writers.len() == 1 { "is" } else { "are" };
        lines.insert(
            0,
            format!(
                "deadlock: {subject} {verb} blocked in {call}(fd {fd}, …) to a full pipe while \
                 {} is blocked in wait4: read before you wait",
                name(reader)
            ),
        );
    }
    if let Some(waiter) = snapshots.iter().find(|s| is_wait(s))
        && !queue_senders.is_empty()
    {
        let verb = if queue_senders.len() == 1 {
            "is"
        } else {
            "are"
        };
        lines.insert(
            0,
            format!(
                "deadlock: {} {verb} blocked in mq_send on a full queue while {} is blocked in \
                 wait4: receive before you wait",
                queue_senders.join(" and "),
                name(waiter.pid)
            ),
        );
    }
    lines
}

/// True if the snapshot taken when the run was cut shows this process blocked in a system
/// call that waits for another process (a read, a wait, a receive, a lock), not napping
/// (nanosleep, poll with a timeout …: it wakes by itself) and not running its own code.
/// A process blocked this way does nothing more unless another process acts.
pub fn was_blocked(run: &RunOutcome, pid: i32) -> bool {
    run.hang.iter().any(|snap| {
        snap.pid == pid
            && matches!(snap.state, 'S' | 'D')
            && snap.syscall.as_ref().is_some_and(|call| {
                Sysno::new(call.nr as usize)
                    .is_some_and(|sysno| !crate::trace::interest::SLEEP_CALLS.contains(&sysno))
            })
    })
}

/// Signals whose default action stops a process (a job-control stop).
const STOP_SIGNALS: [i32; 4] = [libc::SIGSTOP, libc::SIGTSTP, libc::SIGTTIN, libc::SIGTTOU];

/// Why a process is stopped. /proc says `T` for a job-control stop and `t` for a tracing
/// stop, but every process of a run is traced, and a traced process that a stop signal
/// stops is in a tracing stop too (`t`): what tells the two apart is the trace, which
/// records the stop signal delivered. Without one, it is the grader that holds it (a
/// forced ordering holds a process until its condition or its time bound, or the tracer
/// was at one of its stops when the time ran out).
fn stopped(run: &RunOutcome, snap: &ProcessSnapshot, who: &str) -> String {
    let events = run
        .trace
        .by_pid(snap.pid)
        .map_or(&[][..], |id| run.trace.processes[id].events.as_slice());
    // The last stop signal or SIGCONT it received: `Some(None)` if SIGCONT came last.
    let last_stop = events.iter().rev().find_map(|e| match e {
        crate::trace::Event::Signal { signal, .. } if *signal == libc::SIGCONT => Some(None),
        crate::trace::Event::Signal {
            signal,
            handled: false,
            ..
        } if STOP_SIGNALS.contains(signal) => Some(Some(*signal)),
        _ => None,
    });
    match (last_stop.flatten(), snap.state) {
        (Some(signal), _) => format!(
            "{who} is stopped by {} (a job-control stop), and nothing resumed it with SIGCONT",
            crate::checks::signal_name(signal)
        ),
        (None, 'T') => format!(
            "{who} is stopped (a job-control stop: SIGSTOP, SIGTSTP, SIGTTIN or SIGTTOU), and \
             nothing resumed it with SIGCONT"
        ),
        (None, _) => format!(
            "{who} is held in a tracing stop by the grader, not stopped by a signal of its \
             own (a forced ordering holds a process until its condition comes or its time \
             bound passes; the time limit came first)"
        ),
    }
}

/// The C library's name for a signal wait: sigwaitinfo and sigwait are rt_sigtimedwait.
fn signal_wait_name(sysno: Sysno) -> &'static str {
    match sysno {
        Sysno::rt_sigsuspend => "sigsuspend",
        Sysno::rt_sigtimedwait => "sigwaitinfo (rt_sigtimedwait)",
        other => other.name(),
    }
}

fn is_open(sysno: Sysno) -> bool {
    #[cfg(target_arch = "x86_64")]
    if sysno == Sysno::open {
        return true;
    }
    matches!(sysno, Sysno::openat | Sysno::openat2)
}

/// True if some process of the run made a FIFO.
fn made_a_fifo(run: &RunOutcome) -> bool {
    run.trace.processes.iter().flat_map(|p| &p.events).any(|e| {
        matches!(e, crate::trace::Event::Mknod { mode, ret: 0, .. }
            if mode & libc::S_IFMT == libc::S_IFIFO)
    })
}

fn is_wait(snapshot: &ProcessSnapshot) -> bool {
    snapshot.syscall.as_ref().is_some_and(|c| {
        matches!(
            Sysno::new(c.nr as usize),
            Some(Sysno::wait4 | Sysno::waitid)
        )
    })
}

/// The pipe (`pipe:[inode]`) behind a descriptor, if it is one.
fn pipe_of(snapshot: &ProcessSnapshot, fd: i32) -> Option<String> {
    snapshot
        .fds
        .iter()
        .find(|f| f.fd == fd && f.target.starts_with("pipe:"))
        .map(|f| f.target.clone())
}

/// (pid, fd) of every live process holding the write end (`write`) or read end of a pipe.
fn holders(snapshots: &[ProcessSnapshot], inode: &str, write: bool) -> Vec<(i32, i32)> {
    snapshots
        .iter()
        .flat_map(|s| {
            s.fds
                .iter()
                .filter(move |f| f.target == inode && f.is_write_end() == write)
                .map(move |f| (s.pid, f.fd))
        })
        .collect()
}

fn list(holders: &[(i32, i32)], name: &dyn Fn(i32) -> String) -> String {
    holders
        .iter()
        .map(|(pid, fd)| format!("{} (fd {fd})", name(*pid)))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::{Captured, Isolation, RunStatus};
    use crate::trace::{Event, Process, Trace};
    use std::time::Duration;

    /// A timed-out run of one process (pid 100) in `state`, which received `signals`.
    fn stopped_run(state: char, signals: &[i32]) -> RunOutcome {
        let mut parent = Process::new(100, None, "parent".into());
        parent
            .events
            .extend(signals.iter().map(|&signal| Event::Signal {
                signal,
                handled: false,
                at: 0,
            }));
        RunOutcome {
            status: RunStatus::TimedOut,
            trace: Trace {
                processes: vec![parent],
                full: false,
                clock: 0,
            },
            stdout: Captured::default(),
            stderr: Captured::default(),
            wall: Duration::from_secs(1),
            hang: vec![ProcessSnapshot {
                pid: 100,
                state,
                syscall: None,
                fds: Vec::new(),
            }],
            cpu_at_cut: Vec::new(),
            leaks: Vec::new(),
            isolation: Isolation::Fallback,
            client: Vec::new(),
            filled: Vec::new(),
        }
    }

    /// A timed-out pipe run: the parent (pid 100) blocked in read on the pipe's read end,
    /// two workers holding its write end, running; `recent_ms` is the CPU each gained in
    /// the watchdog's last look.
    fn pipe_run(recent_ms: u64) -> RunOutcome {
        use crate::trace::live::BlockedCall;
        use crate::trace::model::OpenFd;
        let end = |fd: i32, flags: i32| OpenFd {
            fd,
            target: "pipe:[7]".into(),
            flags: flags as u32,
        };
        let mut processes = vec![Process::new(100, None, "parent".into())];
        let mut hang = vec![ProcessSnapshot {
            pid: 100,
            state: 'S',
            syscall: Some(BlockedCall {
                nr: libc::SYS_read,
                args: [3, 0, 4096, 0, 0, 0],
            }),
            fds: vec![end(3, libc::O_RDONLY)],
        }];
        let mut cpu_at_cut = vec![CpuAtCut {
            pid: 100,
            used_ms: 0,
            recent_ms: 0,
            look_ms: 500,
        }];
        for pid in [101, 102] {
            processes.push(Process::new(pid, Some(0), format!("worker {}", pid - 100)));
            hang.push(ProcessSnapshot {
                pid,
                state: 'R',
                syscall: None,
                fds: vec![end(4, libc::O_WRONLY)],
            });
            cpu_at_cut.push(CpuAtCut {
                pid,
                used_ms: 19_800 - (pid as u64 - 101) * 100,
                recent_ms,
                look_ms: 500,
            });
        }
        RunOutcome {
            status: RunStatus::TimedOut,
            trace: Trace {
                processes,
                full: false,
                clock: 0,
            },
            stdout: Captured::default(),
            stderr: Captured::default(),
            wall: Duration::from_secs(20),
            hang,
            cpu_at_cut,
            leaks: Vec::new(),
            isolation: Isolation::Fallback,
            client: Vec::new(),
            filled: Vec::new(),
        }
    }

    #[test]
    fn workers_still_computing_are_no_deadlock() {
        let computing = pipe_run(480);
        assert_eq!(
            still_computing(&computing),
            [
                ("worker 1".to_string(), 19_800),
                ("worker 2".to_string(), 19_700)
            ]
        );
        // The run's one-line summary says so first.
        let summary = crate::checks::unfinished(&computing).unwrap().summary;
        let told = format!("the program {summary}.\n{}", explain(&computing).join("\n"));
        insta::assert_snapshot!("still_computing", told);
        // The same state with no CPU gained keeps the old diagnosis: nothing is at work, so
        // end-of-file never comes.
        let stuck = pipe_run(0);
        assert!(still_computing(&stuck).is_empty());
        let summary = crate::checks::unfinished(&stuck).unwrap().summary;
        let told = format!("the program {summary}.\n{}", explain(&stuck).join("\n"));
        insta::assert_snapshot!("not_computing", told);
    }

    #[test]
    fn a_tracing_stop_is_the_graders_hold_unless_a_stop_signal_came() {
        let held = explain(&stopped_run('t', &[]));
        assert!(
            held[0].starts_with("parent (pid 100) is held in a tracing stop by the grader"),
            "{held:?}"
        );
        assert!(!held[0].contains("SIGSTOP"), "{held:?}");
        // A traced process that a stop signal stops is in a tracing stop too.
        let signalled = explain(&stopped_run('t', &[libc::SIGTSTP]));
        assert_eq!(
            signalled,
            [
                "parent (pid 100) is stopped by SIGTSTP (a job-control stop), and nothing \
              resumed it with SIGCONT"
            ]
        );
        // Resumed since: the stop is not the signal's.
        let resumed = explain(&stopped_run('t', &[libc::SIGSTOP, libc::SIGCONT]));
        assert!(resumed[0].contains("held in a tracing stop"), "{resumed:?}");
        let job = explain(&stopped_run('T', &[]));
        assert!(job[0].contains("is stopped (a job-control stop"), "{job:?}");
    }
}
