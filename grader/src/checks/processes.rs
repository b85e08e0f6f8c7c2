//! Checks on the process tree: how many workers, who printed, who reaped whom.

use super::{Case, and_list};
use crate::trace::{Event, ProcId, Stream};

pub(super) fn worker_count(case: &Case<'_>, workers: usize) -> Result<(), String> {
    let trace = &case.run.trace;
    let children: Vec<(ProcId, String)> =
        trace.children_of(0).map(|(id, p)| (id, p.name())).collect();
    if children.len() != workers {
        let names: Vec<String> = children.iter().map(|(_, n)| n.clone()).collect();
        return Err(if children.is_empty() {
            format!("the parent forked no process; expected exactly {workers} workers")
        } else {
            format!(
                "the parent forked {} processes ({}); expected exactly {workers}",
                children.len(),
                and_list(&names)
            )
        });
    }
    let crashed = super::crashed_workers(trace);
    if !crashed.is_empty() {
        return Err(format!(
            "{}: a worker must do its share and end with exit status 0",
            and_list(&crashed)
        ));
    }
    for (id, process) in trace.descendants() {
        let grandchildren: Vec<String> = trace.children_of(id).map(|(_, p)| p.name()).collect();
        if !grandchildren.is_empty() {
            return Err(format!(
                "{} forked {}: a worker must not fork (does it return into the parent's code \
                 instead of calling process::exit?)",
                process.name(),
                and_list(&grandchildren)
            ));
        }
    }
    Ok(())
}

pub(super) fn only_parent_prints(case: &Case<'_>) -> Result<(), String> {
    let trace = &case.run.trace;
    if trace.descendants().next().is_none() {
        return Err("the parent forked no worker, so nothing was computed by workers".into());
    }
    for (_, process) in trace.descendants() {
        let writes: Vec<&Event> = process.stdout_writes().collect();
        let Some(Event::Write {
            syscall,
            fd,
            sample,
            ..
        }) = writes.first()
        else {
            continue;
        };
        let what = if sample.contains("is a factor") {
            "'is a factor' lines".to_string()
        } else {
            crate::escape::quoted(first_line(sample))
        };
        return Err(format!(
            "{} wrote {what} to stdout itself ({syscall}({fd}, …) ×{}); in this lab only the \
             parent prints",
            process.name(),
            writes.len()
        ));
    }
    Ok(())
}

pub(super) fn reaps_children(case: &Case<'_>) -> Result<(), String> {
    let trace = &case.run.trace;
    let Some(root) = trace.root() else {
        return Err("the program did not start".into());
    };
    let children: Vec<ProcId> = trace.children_of(0).map(|(id, _)| id).collect();
    if children.is_empty() {
        return Err("the parent forked no worker to reap".into());
    }
    let crashed = super::crashed_workers(trace);
    if !crashed.is_empty() {
        return Err(format!(
            "{}: reaping a worker that failed is not a finished job (look at wait's status: \
             WIFSIGNALED, WEXITSTATUS)",
            and_list(&crashed)
        ));
    }
    // Where each child was reaped, and where the parent wrote its last output.
    let reaped_at = |child: ProcId| {
        root.events
            .iter()
            .position(|e| matches!(e, Event::Wait { reaped: Some(id), .. } if *id == child))
    };
    let last_print = root.events.iter().rposition(|e| {
        matches!(
            e,
            Event::Write {
                stream: Stream::Stdout,
                ..
            }
        )
    });
    for child in children {
        let name = trace.processes[child].name();
        match reaped_at(child) {
            None => {
                let waits = root
                    .events
                    .iter()
                    .filter(|e| matches!(e, Event::Wait { .. }))
                    .count();
                return Err(if waits == 0 {
                    format!("the parent never called wait/waitpid, so {name} was never reaped")
                } else {
                    format!("the parent called wait {waits} times but never reaped {name}")
                });
            }
            Some(at) if last_print.is_some_and(|p| at > p) => {
                return Err(format!(
                    "the parent reaped {name} only after printing its last line; reap every \
                     worker before printing Finished."
                ));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or(text)
}
