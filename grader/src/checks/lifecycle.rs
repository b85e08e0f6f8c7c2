//! The lifecycle of IPC objects: the System V segment (attached, detached, removed) and
//! the named objects — FIFOs, message queues, socket files — that outlive their program
//! unless it removes them.

use super::Case;
use crate::escape::visible;
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
            super::leak_text(leak)
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
        let (Named::Fifo(raw) | Named::Queue(raw) | Named::SocketFile(raw)) = object;
        let shown = visible(raw);
        return Err(match object {
            Named::Fifo(_) => format!(
                "the FIFO {shown} (made by {by}) was never removed: a FIFO is a file, and it \
                 stays in the file system after the program ends (by hand: rm {shown}); \
                 unlink it (std::fs::remove_file) once every process has opened it"
            ),
            Named::Queue(_) => format!(
                "the message queue {shown} (created by {by}) was never removed: a queue lives \
                 in the kernel until it is unlinked or the machine reboots (by hand: rm \
                 /dev/mqueue{shown}, where the mqueue file system is mounted); call \
                 mq_unlink(\"{shown}\") once the last message is received"
            ),
            Named::SocketFile(_) => format!(
                "the socket file {shown} (made by bind in {by}) was never removed: it stays \
                 after the program ends, and the next bind to that path fails with \
                 EADDRINUSE (by hand: rm {shown}); remove it (std::fs::remove_file) once \
                 nobody needs to connect any more (every worker has connected, or the server \
                 is shutting down)"
            ),
        });
    }
    // Removed by every name the trace saw, and still there: a FIFO given a second name by
    // link() and then unlinked is still a FIFO in the file system.
    if let Some(leak) = case.run.leaks.iter().find(|l| {
        matches!(
            l,
            Leak::Fifo { .. } | Leak::SocketFile { .. } | Leak::MessageQueue { .. }
        )
    }) {
        return Err(format!(
            "{}; remove every name you give it (std::fs::remove_file, mq_unlink) once it is \
             no longer needed",
            super::leak_text(leak)
        ));
    }
    Ok(())
}

/// Where POSIX shared-memory objects live: `shm_open("/name")` opens `/dev/shm/name`.
const DEV_SHM: &str = "/dev/shm/";

/// Page size for rounding mapping lengths (munmap works on whole pages).
const PAGE: u64 = 4096;

/// A range of a process's memory that maps a /dev/shm object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Mapped {
    /// The object, `/dev/shm/name`.
    pub path: String,
    pub start: u64,
    pub end: u64,
    /// Inherited from the parent at fork rather than mapped by this process.
    pub inherited: bool,
}

/// A process's shared mappings, replayed from its mmap and munmap calls.
#[derive(Debug, Clone, Default)]
pub(super) struct Mappings {
    /// Mappings of /dev/shm objects it inherited at fork (fork copies mappings).
    pub inherited: Vec<Mapped>,
    /// Mappings of /dev/shm objects still there when it exited.
    pub at_exit: Vec<Mapped>,
    /// The /dev/shm objects it had mapped at some point, inherited or by mmap, in order.
    pub ever: Vec<String>,
    /// Its own MAP_SHARED mappings of anything else (anonymous memory, other files).
    pub others: Vec<String>,
    /// Descriptors of /dev/shm objects it opened (or inherited), by number.
    fds: BTreeMap<i32, String>,
}

/// The /dev/shm objects the run created (shm_open with O_CREAT), with their creator.
pub(super) fn shm_objects(trace: &Trace) -> BTreeMap<&str, ProcId> {
    let mut created = BTreeMap::new();
    for (id, process) in trace.processes.iter().enumerate() {
        for event in &process.events {
            if let Event::Open { path, flags, ret } = event
                && *ret >= 0
                && flags & libc::O_CREAT != 0
                && path.starts_with(DEV_SHM)
            {
                created.entry(path.as_str()).or_insert(id);
            }
        }
    }
    created
}

/// Removes `[start, end)` from every mapping, splitting those it cuts in two.
fn unmap(mapped: &mut Vec<Mapped>, start: u64, end: u64) {
    let mut kept = Vec::with_capacity(mapped.len());
    for m in mapped.drain(..) {
        if m.end <= start || end <= m.start {
            kept.push(m);
            continue;
        }
        if m.start < start {
            kept.push(Mapped {
                end: start,
                ..m.clone()
            });
        }
        if end < m.end {
            kept.push(Mapped { start: end, ..m });
        }
    }
    *mapped = kept;
}

/// Replays every process's opens of /dev/shm objects, its MAP_SHARED mmaps and its munmaps,
/// passing mappings and descriptors from parent to child at fork.
pub(super) fn mappings(trace: &Trace) -> Vec<Mappings> {
    let mut result = vec![Mappings::default(); trace.processes.len()];
    for (id, process) in trace.processes.iter().enumerate() {
        let mut mapped = result[id].inherited.clone();
        let mut fds = std::mem::take(&mut result[id].fds);
        let mut ever: Vec<String> = Vec::new();
        let mut others = Vec::new();
        let note = |ever: &mut Vec<String>, path: &str| {
            if !ever.iter().any(|p| p == path) {
                ever.push(path.to_string());
            }
        };
        for m in &mapped {
            note(&mut ever, &m.path);
        }
        for event in &process.events {
            match event {
                Event::Open { path, ret, .. } if *ret >= 0 => {
                    if path.starts_with(DEV_SHM) {
                        fds.insert(*ret as i32, path.clone());
                    } else {
                        fds.remove(&(*ret as i32));
                    }
                }
                Event::MmapShared { len, fd, ret } if *ret >= 0 => match fds.get(fd) {
                    Some(path) => {
                        let start = *ret as u64;
                        mapped.push(Mapped {
                            path: path.clone(),
                            start,
                            end: start + len.div_ceil(PAGE) * PAGE,
                            inherited: false,
                        });
                        note(&mut ever, path);
                    }
                    None if *fd < 0 => others.push("anonymous shared memory".to_string()),
                    None => others.push(format!("fd {fd}, which is no /dev/shm object")),
                },
                Event::Munmap { addr, len, ret: 0 } => {
                    unmap(&mut mapped, *addr, addr + len.div_ceil(PAGE) * PAGE);
                }
                Event::Spawn {
                    child,
                    thread: false,
                } if *child < result.len() => {
                    result[*child].inherited = mapped
                        .iter()
                        .map(|m| Mapped {
                            inherited: true,
                            ..m.clone()
                        })
                        .collect();
                    result[*child].fds = fds.clone();
                }
                _ => {}
            }
        }
        let this = &mut result[id];
        this.at_exit = mapped;
        this.ever = ever;
        this.others = others;
        this.fds = fds;
    }
    result
}

pub(super) fn posix_shm_unmapped(case: &Case<'_>) -> Result<(), String> {
    let trace = &case.run.trace;
    let objects = shm_objects(trace);
    let Some(first) = objects.keys().next() else {
        return Err(
            "the program created no POSIX shared-memory object (shm_open with O_CREAT)".to_string(),
        );
    };
    let mappings = mappings(trace);
    if mappings.iter().all(|m| m.ever.is_empty()) {
        return Err(format!(
            "no process mapped {} with MAP_SHARED, so there was nothing to unmap (a \
             MAP_PRIVATE mapping is each process's own copy: the parent never sees what a \
             worker writes there)",
            visible(first)
        ));
    }
    for (process, mapped) in trace.processes.iter().zip(&mappings) {
        if let Some(m) = mapped.at_exit.first() {
            let how = if m.inherited {
                "inherited from its parent at fork"
            } else {
                "mapped with mmap"
            };
            return Err(format!(
                "{} exited with {} still mapped at {:#x} ({how}): call munmap before exiting \
                 (process::exit runs no destructors)",
                process.name(),
                visible(&m.path),
                m.start
            ));
        }
    }
    Ok(())
}

pub(super) fn posix_shm_unlinked(case: &Case<'_>) -> Result<(), String> {
    let run = case.run;
    let trace = &run.trace;
    let objects = shm_objects(trace);
    if objects.is_empty() {
        return Err(
            "the program created no POSIX shared-memory object (shm_open with O_CREAT)".to_string(),
        );
    }
    if let Some(leak) = run
        .leaks
        .iter()
        .find(|l| matches!(l, Leak::PosixShm { .. }))
    {
        return Err(format!(
            "{}; the parent must call shm_unlink(name) after reaping the workers",
            super::leak_text(leak)
        ));
    }
    for path in objects.keys() {
        let remover = trace.processes.iter().position(|p| {
            p.events
                .iter()
                .any(|e| matches!(e, Event::Unlink { path: p, ret: 0 } if p == path))
        });
        let name = visible(&path[DEV_SHM.len() - 1..]);
        let path = visible(path);
        match remover {
            Some(0) => {}
            Some(other) => {
                return Err(format!(
                    "{path} was unlinked by {}, not by the parent: a worker cannot know that \
                     the parent is done with it",
                    trace.processes[other].name()
                ));
            }
            None => {
                return Err(format!(
                    "nobody called shm_unlink(\"{name}\"): {path} stays in /dev/shm after the \
                     program ends (by hand: rm {path})"
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod posix_tests {
    use super::*;
    use crate::trace::Process;

    const OBJECT: &str = "/dev/shm/lab11-7";

    /// A parent that opens the object as fd 3, maps 3 pages of it at 0x10000 and forks two
    /// workers; `worker_unmaps` is each worker's munmap range, if any.
    fn trace(worker_unmaps: Option<(u64, u64)>) -> Trace {
        let mut parent = Process::new(100, None, "parent".into());
        parent.events.extend([
            Event::Open {
                path: OBJECT.into(),
                flags: libc::O_CREAT | libc::O_RDWR,
                ret: 3,
            },
            Event::MmapShared {
                len: 3 * PAGE - 100,
                fd: 3,
                ret: 0x10000,
            },
            Event::Spawn {
                child: 1,
                thread: false,
            },
            Event::Spawn {
                child: 2,
                thread: false,
            },
            Event::Munmap {
                addr: 0x10000,
                len: 3 * PAGE,
                ret: 0,
            },
        ]);
        let mut processes = vec![parent];
        for pid in [101, 102] {
            let mut worker = Process::new(pid, Some(0), format!("worker {}", pid - 100));
            if let Some((addr, len)) = worker_unmaps {
                worker.events.push(Event::Munmap { addr, len, ret: 0 });
            }
            processes.push(worker);
        }
        Trace {
            processes,
            full: false,
            clock: 0,
        }
    }

    #[test]
    fn mappings_are_inherited_at_fork_and_unmapped_by_range() {
        let all = mappings(&trace(Some((0x10000, 3 * PAGE))));
        assert!(all.iter().all(|m| m.at_exit.is_empty()));
        assert_eq!(all[1].ever, [OBJECT]);
        assert!(all[1].inherited[0].inherited);

        // A worker that unmaps only the middle page keeps the first and the last.
        let partial = mappings(&trace(Some((0x10000 + PAGE, 1))));
        let left: Vec<(u64, u64)> = partial[1]
            .at_exit
            .iter()
            .map(|m| (m.start, m.end))
            .collect();
        assert_eq!(
            left,
            [
                (0x10000, 0x10000 + PAGE),
                (0x10000 + 2 * PAGE, 0x10000 + 3 * PAGE)
            ]
        );

        let none = mappings(&trace(None));
        assert_eq!(none[2].at_exit.len(), 1);
        assert!(none[0].at_exit.is_empty());
    }

    #[test]
    fn anonymous_shared_memory_is_not_the_object() {
        let mut t = trace(Some((0x10000, 3 * PAGE)));
        t.processes[0].events.push(Event::MmapShared {
            len: PAGE,
            fd: -1,
            ret: 0x90000,
        });
        let all = mappings(&t);
        assert_eq!(all[0].others, ["anonymous shared memory"]);
    }
}
