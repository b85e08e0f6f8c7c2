//! A [`Timeline`] in the Chrome trace-event format (JSON), which ui.perfetto.dev and
//! chrome://tracing load: for zooming into a run the SVG shows whole.
//!
//! Each process is a trace process (its pid; a pid the run reused gets a number of its own
//! above every real one) with one thread; each channel is a process of its own whose one
//! slice is the channel's life. Every mark is a complete slice (`ph: "X"`) named by its
//! label, its detail in `args`; forks, signals and reaps are flows (`ph: "s"` / `"f"`)
//! between the slices they join. One step of the timeline is one millisecond, since the
//! steps are an order, not a duration.

use super::{MarkKind, Timeline};
use serde_json::{Value, json};
use std::collections::BTreeSet;

/// One step, in the format's microseconds.
const STEP_US: u64 = 1000;
/// A mark's slice: most of a step, so consecutive ones do not touch.
const MARK_US: u64 = 800;
/// Where channel tracks' numbers start, above any pid.
const CHANNEL_PIDS: u64 = 1 << 22;

/// The trace-event document.
pub fn render(timeline: &Timeline) -> String {
    let pids = pids(timeline);
    let mut events: Vec<Value> = Vec::new();
    for (lane, pid) in timeline.lanes.iter().zip(&pids) {
        events.push(metadata("process_name", *pid, json!({ "name": lane.name })));
        events.push(metadata(
            "thread_name",
            *pid,
            json!({ "name": if lane.exe.is_empty() { lane.name.clone() } else { lane.exe.clone() } }),
        ));
    }
    for (i, channel) in timeline.channels.iter().enumerate() {
        let pid = CHANNEL_PIDS + i as u64;
        events.push(metadata(
            "process_name",
            pid,
            json!({ "name": channel.name }),
        ));
        events.push(json!({
            "name": channel.name,
            "cat": "channel",
            "ph": "X",
            "ts": channel.start as u64 * STEP_US,
            "dur": (channel.end - channel.start) as u64 * STEP_US + MARK_US,
            "pid": pid,
            "tid": pid,
            "args": { "removed": channel.removed },
        }));
    }
    for mark in &timeline.marks {
        let pid = pids[mark.lane];
        let mut args = json!({ "detail": mark.detail });
        if let Some(channel) = mark.channel.and_then(|c| timeline.channels.get(c)) {
            args["channel"] = json!(channel.name);
        }
        events.push(json!({
            "name": mark.label,
            "cat": category(mark.kind),
            "ph": "X",
            "ts": mark.step as u64 * STEP_US,
            "dur": (mark.until - mark.step) as u64 * STEP_US + MARK_US,
            "pid": pid,
            "tid": pid,
            "args": args,
        }));
    }
    // Flows: a fork to the child's first mark, a signal to its delivery, an exit to its
    // reap. Each flow's ends sit inside the slices they join.
    let mut flow = 0u64;
    let mut link = |events: &mut Vec<Value>, name: &str, from: (u64, usize), to: (u64, usize)| {
        flow += 1;
        for (ph, (pid, step)) in [("s", from), ("f", to)] {
            let mut event = json!({
                "name": name,
                "cat": name,
                "ph": ph,
                "id": flow,
                "ts": step as u64 * STEP_US + MARK_US / 2,
                "pid": pid,
                "tid": pid,
            });
            if ph == "f" {
                event["bp"] = json!("e");
            }
            events.push(event);
        }
    };
    for mark in &timeline.marks {
        match mark.kind {
            MarkKind::Fork { child } if child < timeline.lanes.len() => {
                let first = timeline.marks.iter().find(|m| m.lane == child);
                if let Some(first) = first {
                    link(
                        &mut events,
                        "fork",
                        (pids[mark.lane], mark.step),
                        (pids[child], first.step),
                    );
                }
            }
            MarkKind::Reap { child } if child < timeline.lanes.len() => {
                let exit = timeline
                    .marks
                    .iter()
                    .find(|m| m.lane == child && m.kind == MarkKind::Exit);
                if let Some(exit) = exit {
                    link(
                        &mut events,
                        "reap",
                        (pids[child], exit.step),
                        (pids[mark.lane], mark.step),
                    );
                }
            }
            _ => {}
        }
    }
    for &(sent, delivered) in &timeline.signals {
        let (from, to) = (&timeline.marks[sent], &timeline.marks[delivered]);
        link(
            &mut events,
            "signal",
            (pids[from.lane], from.step),
            (pids[to.lane], to.step),
        );
    }
    let document = json!({
        "traceEvents": events,
        "displayTimeUnit": "ms",
        "otherData": {
            "source": "grader trace",
            "status": timeline.status,
            "notes": timeline.notes,
            "time": "one millisecond per step: the order of events, not their duration",
        },
    });
    serde_json::to_string(&document).expect("a trace-event document always serializes")
}

/// Each lane's pid in the document: its own, unless an earlier lane had it.
fn pids(timeline: &Timeline) -> Vec<u64> {
    let mut seen = BTreeSet::new();
    let mut spare = CHANNEL_PIDS / 2;
    timeline
        .lanes
        .iter()
        .map(|lane| {
            let pid = u64::try_from(lane.pid).unwrap_or(0);
            if pid > 0 && pid < CHANNEL_PIDS / 2 && seen.insert(pid) {
                pid
            } else {
                spare += 1;
                spare
            }
        })
        .collect()
}

fn metadata(name: &str, pid: u64, args: Value) -> Value {
    json!({ "name": name, "ph": "M", "ts": 0, "pid": pid, "tid": pid, "args": args })
}

fn category(kind: MarkKind) -> &'static str {
    match kind {
        MarkKind::Fork { .. } | MarkKind::Reap { .. } | MarkKind::Exit => "process",
        MarkKind::Create | MarkKind::Use | MarkKind::Close | MarkKind::Remove => "channel",
        MarkKind::SignalSetup | MarkKind::SignalSent { .. } | MarkKind::SignalDelivered { .. } => {
            "signal"
        }
        MarkKind::Held => "hold",
        MarkKind::Blocked | MarkKind::Holds => "hang",
        MarkKind::Other => "call",
    }
}
