//! The lifecycle of IPC objects: the System V segment (attached, detached, removed) and
//! the named objects — FIFOs, message queues, socket files — that outlive their program
//! unless it removes them.

use super::Case;
use crate::run::Leak;
use crate::trace::{Event, ProcId, Trace};
use std::collections::{BTreeMap, BTreeSet};

/// Which segment addresses a process had attached.
#[derive(Debug, Clone, Default)]
pub(super) struct Attachments {
    /// Addresses it inherited from its parent at fork (fork copies attachments).
    pub inherited: BTreeSet<u64>,
    /// Addresses still attached when it exited.
    pub at_exit: BTreeSet<u64>,
    /// It had the segment attached at some point, inherited or by shmat.
    pub ever_attached: bool,
}

/// Replays every process's shmat/shmdt, passing attachments from parent to child at fork.
pub(super) fn attachments(trace: &Trace) -> Vec<Attachments> {
    let mut result = vec![Attachments::default(); trace.processes.len()];
    for (id, process) in trace.processes.iter().enumerate() {
        let mut attached = result[id].inherited.clone();
        let mut ever = !attached.is_empty();
        for event in &process.events {
            match event {
                Event::ShmAt { ret, .. } if *ret > 0 => {
                    attached.insert(*ret as u64);
                    ever = true;
                }
                Event::ShmDt { addr, ret: 0 } => {
                    attached.remove(addr);
                }
                Event::Spawn {
                    child,
                    thread: false,
                } if *child < result.len() => {
                    result[*child].inherited = attached.clone();
                }
                _ => {}
            }
        }
        result[id].at_exit = attached;
        result[id].ever_attached = ever;
    }
    result
}

fn segments_created(trace: &Trace) -> BTreeSet<i64> {
    trace
        .processes
        .iter()
        .flat_map(|p| &p.events)
        .filter_map(|e| match e {
            Event::ShmGet { ret, .. } if *ret >= 0 => Some(*ret),
            _ => None,
        })
        .collect()
}

pub(super) fn shm_detached(case: &Case<'_>) -> Result<(), String> {
    let trace = &case.run.trace;
    if segments_created(trace).is_empty() {
        return Err("the program created no System V segment (shmget)".to_string());
    }
    let attachments = attachments(trace);
    for (process, attached) in trace.processes.iter().zip(&attachments) {
        if let Some(addr) = attached.at_exit.first() {
            let how = if attached.inherited.contains(addr) {
                "inherited from its parent at fork"
            } else {
                "attached with shmat"
            };
            return Err(format!(
                "{} exited with the segment still attached at {addr:#x} ({how}): call shmdt \
                 before exiting",
                process.name()
            ));
        }
    }
    Ok(())
}

pub(super) fn shm_removed(case: &Case<'_>) -> Result<(), String> {
    let run = case.run;
    let trace = &run.trace;
    let created = segments_created(trace);
    if created.is_empty() {
        return Err("the program created no System V segment (shmget)".to_string());
    }
    if let Some(leak) = run.leaks.iter().find(|l| matches!(l, Leak::SysvShm { .. })) {
        return Err(format!(
            "{}; the parent must call shmctl(id, IPC_RMID, NULL) after reaping the workers",
            leak.describe()
        ));
    }
    for id in created {
        let remover = trace.processes.iter().position(|p| {
            p.events.iter().any(|e| {
                matches!(e, Event::ShmCtl { shmid, cmd, ret: 0 }
                    if *shmid == id && *cmd == libc::IPC_RMID)
            })
        });
        match remover {
            Some(0) => {}
            Some(other) => {
                return Err(format!(
                    "segment {id} was removed by {}, not by the parent: a worker cannot know \
                     that the parent is done with it",
                    trace.processes[other].name()
                ));
            }
            None => {
                return Err(format!(
                    "nobody called shmctl({id}, IPC_RMID): the segment outlives the program"
                ));
            }
        }
    }
    Ok(())
}

/// An IPC object with a name in the file system or the kernel: it exists until removed,
/// whether or not any process still uses it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Named {
    /// A FIFO made with mknod/mkfifo, by absolute path.
    Fifo(String),
    /// A POSIX message queue created by mq_open(O_CREAT), by name (`/name`).
    Queue(String),
    /// The file of a Unix-domain socket bound to a path.
    SocketFile(String),
}

/// Every named object the run created, with the first process that created it.
pub(super) fn named_objects(trace: &Trace) -> BTreeMap<Named, ProcId> {
    let mut created = BTreeMap::new();
    for (id, process) in trace.processes.iter().enumerate() {
        for event in &process.events {
            let object = match event {
                Event::Mknod { path, mode, ret: 0 } if mode & libc::S_IFMT == libc::S_IFIFO => {
                    Named::Fifo(path.clone())
                }
                Event::MqOpen { name, flags, ret } if *ret >= 0 && flags & libc::O_CREAT != 0 => {
                    Named::Queue(name.clone())
                }
                Event::Bind { path, ret: 0, .. } if path.starts_with('/') => {
                    Named::SocketFile(path.clone())
                }
                _ => continue,
            };
            created.entry(object).or_insert(id);
        }
    }
    created
}

/// True if some process of the run removed the object successfully.
fn removed(trace: &Trace, object: &Named) -> bool {
    trace
        .processes
        .iter()
        .flat_map(|p| &p.events)
        .any(|event| match (event, object) {
            (Event::Unlink { path, ret: 0 }, Named::Fifo(p) | Named::SocketFile(p)) => path == p,
            (Event::MqUnlink { name, ret: 0 }, Named::Queue(n)) => name == n,
            _ => false,
        })
}

pub(super) fn objects_removed(case: &Case<'_>) -> Result<(), String> {
    let trace = &case.run.trace;
    let created = named_objects(trace);
    if created.is_empty() {
        return Err(
            "the program created no named IPC object (no FIFO, message queue or \
                    socket file), so there was nothing to remove"
                .to_string(),
        );
    }
    for (object, creator) in &created {
        if removed(trace, object) {
            continue;
        }
        let by = trace.processes[*creator].name();
        return Err(match object {
            Named::Fifo(path) => format!(
                "the FIFO {path} (made by {by}) was never removed: a FIFO is a file, and it \
                 stays in the file system after the program ends (by hand: rm {path}); \
                 unlink it (std::fs::remove_file) once every process has opened it"
            ),
            Named::Queue(name) => format!(
                "the message queue {name} (created by {by}) was never removed: a queue lives \
                 in the kernel until it is unlinked or the machine reboots (by hand: rm \
                 /dev/mqueue{name}, where the mqueue file system is mounted); call \
                 mq_unlink(\"{name}\") once the last message is received"
            ),
            Named::SocketFile(path) => format!(
                "the socket file {path} (made by bind in {by}) was never removed: it stays \
                 after the program ends, and the next bind to that path fails with \
                 EADDRINUSE (by hand: rm {path}); remove it (std::fs::remove_file) once \
                 every worker has connected"
            ),
        });
    }
    Ok(())
}
