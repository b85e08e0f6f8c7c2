//! The System V segment's lifecycle: attached, detached, removed.

use super::Case;
use crate::run::Leak;
use crate::trace::{Event, Trace};
use std::collections::BTreeSet;

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
