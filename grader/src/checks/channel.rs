//! Which channel carried the results, and whether pipe ends were closed.

use super::{Case, Mechanism};
use crate::trace::{Event, Process, Stream, Trace};
use std::collections::BTreeSet;

/// Files a program may open for writing without that being a channel.
const HARMLESS_WRITE_TARGETS: &[&str] = &["/dev/null", "/dev/tty"];

pub(super) fn channel(case: &Case<'_>, mechanism: Mechanism) -> Result<(), String> {
    let trace = &case.run.trace;
    if let Some(other) = forbidden_channel(trace, mechanism) {
        return Err(other);
    }
    match mechanism {
        Mechanism::Pipe => pipe_carried_results(trace),
        Mechanism::SysvShm => segment_carried_results(trace),
    }
}

/// The first use of a channel other than the one the part requires.
fn forbidden_channel(trace: &Trace, mechanism: Mechanism) -> Option<String> {
    let required = match mechanism {
        Mechanism::Pipe => "a pipe",
        Mechanism::SysvShm => "the System V segment",
    };
    for process in &trace.processes {
        for event in &process.events {
            let used = match event {
                Event::Open { path, flags, ret } if *ret >= 0 && opens_for_writing(*flags) => {
                    if HARMLESS_WRITE_TARGETS.contains(&path.as_str())
                        || path.starts_with("/dev/pts/")
                    {
                        continue;
                    }
                    format!("opened {path} for writing")
                }
                Event::Mknod { path, ret: 0, .. } => format!("made the FIFO {path}"),
                Event::Socket { ret, .. } if *ret >= 0 => "opened a socket".to_string(),
                Event::OtherIpc { syscall, ret } if *ret >= 0 => format!("called {syscall}"),
                Event::MmapShared { ret, .. } if *ret >= 0 => {
                    "made a shared mapping (mmap MAP_SHARED)".to_string()
                }
                Event::ShmGet { ret, .. } if *ret >= 0 && mechanism != Mechanism::SysvShm => {
                    "created a System V shared-memory segment (shmget)".to_string()
                }
                Event::Pipe { .. } if mechanism != Mechanism::Pipe => {
                    "made a pipe (pipe)".to_string()
                }
                _ => continue,
            };
            return Some(format!(
                "{} {used}; in this part the results travel through {required} only",
                process.name()
            ));
        }
    }
    None
}

fn opens_for_writing(flags: i32) -> bool {
    flags & libc::O_ACCMODE != libc::O_RDONLY || flags & libc::O_CREAT != 0
}

/// The parent made a pipe before forking, every worker inherited its write end, and the
/// workers wrote bytes somewhere other than stdout/stderr.
fn pipe_carried_results(trace: &Trace) -> Result<(), String> {
    let root = trace.root().expect("a completed run has a root");
    let first_fork = root
        .events
        .iter()
        .position(|e| matches!(e, Event::Spawn { thread: false, .. }));
    let pipes_before_fork: Vec<&str> = root.events[..first_fork.unwrap_or(root.events.len())]
        .iter()
        .filter_map(|e| match e {
            Event::Pipe { inode, .. } => Some(inode.as_str()),
            _ => None,
        })
        .collect();
    if pipes_before_fork.is_empty() {
        return Err(if first_fork.is_none() {
            "the parent forked no worker".to_string()
        } else {
            "the parent made no pipe before forking, so the workers share no pipe with it \
             (call pipe() before fork())"
                .to_string()
        });
    }
    let mut silent = Vec::new();
    for (_, worker) in trace.children_of(0) {
        if !holds_or_closed(worker, &pipes_before_fork, true) {
            return Err(format!(
                "{} never had the pipe's write end (it neither closed it nor held it at exit)",
                worker.name()
            ));
        }
        if bytes_sent_elsewhere(worker) == Some(0) {
            silent.push(worker.name());
        }
    }
    let workers = trace.children_of(0).count();
    if workers > 0 && silent.len() == workers {
        return Err(format!(
            "{} wrote nothing except to stdout/stderr: no factor travelled through the pipe",
            super::and_list(&silent)
        ));
    }
    Ok(())
}

/// Bytes a process wrote through any descriptor other than the run's stdout and stderr
/// (kernel counter at exit, minus the traced writes to the standard streams).
fn bytes_sent_elsewhere(process: &Process) -> Option<u64> {
    let io = process.io_at_exit?;
    let standard: u64 = process
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Write {
                stream: Stream::Stdout | Stream::Stderr,
                bytes,
                ..
            } => Some(*bytes),
            _ => None,
        })
        .sum();
    Some(io.wchar.saturating_sub(standard))
}

/// True if the process held (at exit) or closed an end of one of these pipes; `write_end`
/// picks which end.
fn holds_or_closed(process: &Process, inodes: &[&str], write_end: bool) -> bool {
    let held = process
        .fds_at_exit
        .iter()
        .any(|fd| inodes.contains(&fd.target.as_str()) && fd.is_write_end() == write_end);
    // A close names the pipe but not the end; any close of the pipe counts.
    let closed = process
        .events
        .iter()
        .any(|e| matches!(e, Event::Close { target, .. } if inodes.contains(&target.as_str())));
    held || closed
}

/// One System V segment, created before forking, attached in every worker.
fn segment_carried_results(trace: &Trace) -> Result<(), String> {
    let ids: BTreeSet<i64> = trace
        .processes
        .iter()
        .flat_map(|p| &p.events)
        .filter_map(|e| match e {
            Event::ShmGet { ret, .. } if *ret >= 0 => Some(*ret),
            _ => None,
        })
        .collect();
    match ids.len() {
        0 => {
            return Err("no process created a System V segment (shmget)".to_string());
        }
        1 => {}
        n => {
            return Err(format!(
                "the program used {n} System V segments; one is enough (and each must be removed)"
            ));
        }
    }
    let attachments = super::lifecycle::attachments(trace);
    for (id, worker) in trace.children_of(0) {
        if !attachments[id].ever_attached {
            return Err(format!(
                "{} never had the segment attached: it could not have stored its factors there \
                 (shmat before fork, or in the worker)",
                worker.name()
            ));
        }
    }
    Ok(())
}

pub(super) fn closes_unused_pipe_ends(case: &Case<'_>) -> Result<(), String> {
    let trace = &case.run.trace;
    let pipes: Vec<&str> = trace
        .processes
        .iter()
        .flat_map(|p| &p.events)
        .filter_map(|e| match e {
            Event::Pipe { inode, .. } => Some(inode.as_str()),
            _ => None,
        })
        .collect();
    if pipes.is_empty() {
        return Err("the program made no pipe".to_string());
    }
    for (id, process) in trace.processes.iter().enumerate() {
        // Workers only write and the parent only reads: each must close the other end.
        let (unused_is_write, role, why) = if id == 0 {
            (
                true,
                "write",
                "close it before reading, or read() never sees end-of-file",
            )
        } else {
            (false, "read", "close it right after fork")
        };
        if let Some(fd) = process
            .fds_at_exit
            .iter()
            .find(|fd| pipes.contains(&fd.target.as_str()) && fd.is_write_end() == unused_is_write)
        {
            return Err(format!(
                "{} never closed fd {}, the {role} end of the pipe it does not use: {why}",
                process.name(),
                fd.fd
            ));
        }
    }
    Ok(())
}
