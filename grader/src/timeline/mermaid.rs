//! A [`Timeline`] as a Mermaid sequence diagram, for the places that render Mermaid and
//! not SVG (a GitHub job summary, Markdown feedback): the same story, coarser.
//!
//! Processes and channels are participants; forks, creations, closes, removals, signals
//! and reaps are messages; holds, ends and the frozen end are notes. Consecutive uses of
//! one channel by one process become one message with a count, and ordinary calls that
//! touch no channel (sigaction, waits that reaped nothing) are left to the SVG. Every text
//! is written in Mermaid's entity codes (`#59;`) beyond a small safe set, so no name a
//! program chose can end a statement or open markup.

use super::{Mark, MarkKind, Timeline};
use std::fmt::Write as _;

/// Messages and notes at most; the rest is counted in a last note.
const MAX_LINES: usize = 150;

/// The diagram, without the Markdown fence.
pub fn render(timeline: &Timeline) -> String {
    let mut out = String::from("sequenceDiagram\n");
    for (i, lane) in timeline.lanes.iter().enumerate() {
        let _ = writeln!(out, "    participant P{i} as {}", text(&lane.name));
    }
    for (i, channel) in timeline.channels.iter().enumerate() {
        let _ = writeln!(out, "    participant C{i} as {}", text(&channel.name));
    }
    let mut lines: Vec<String> = Vec::new();
    let mut frozen_said = false;
    let mut i = 0;
    while i < timeline.marks.len() {
        let mark = &timeline.marks[i];
        // A run of uses of one channel by one process, in the diagram's order.
        let mut j = i + 1;
        if mark.kind == MarkKind::Use {
            while j < timeline.marks.len()
                && timeline.marks[j].kind == MarkKind::Use
                && timeline.marks[j].lane == mark.lane
                && timeline.marks[j].channel == mark.channel
            {
                j += 1;
            }
        }
        if Some(mark.step) == timeline.frozen && !frozen_said {
            frozen_said = true;
            let last = timeline.lanes.len().saturating_sub(1);
            lines.push(format!(
                "Note over P0,P{last}: {}",
                text(&format!("frozen: the run {}", timeline.status))
            ));
        }
        if let Some(line) = statement(timeline, &timeline.marks[i..j]) {
            lines.push(line);
        }
        i = j;
    }
    let shown = lines.len().min(MAX_LINES);
    for line in &lines[..shown] {
        let _ = writeln!(out, "    {line}");
    }
    if lines.len() > shown {
        let _ = writeln!(
            out,
            "    Note over P0: {}",
            text(&format!(
                "{} more events: see the SVG timeline",
                lines.len() - shown
            ))
        );
    }
    out
}

/// The statement for a mark, or for a run of uses (`marks.len() > 1`).
fn statement(timeline: &Timeline, marks: &[Mark]) -> Option<String> {
    let mark = &marks[0];
    let lane = mark.lane;
    let channel = mark.channel;
    let label = if marks.len() > 1 {
        let calls: usize = marks.len();
        format!("{} (+{} more marks)", mark.label, calls - 1)
    } else {
        mark.label.clone()
    };
    let to_channel = |arrow: &str| channel.map(|c| format!("P{lane}{arrow}C{c}: {}", text(&label)));
    let note = |words: &str| format!("Note over P{lane}: {}", text(words));
    Some(match mark.kind {
        MarkKind::Fork { child } => format!("P{lane}->>P{child}: fork"),
        MarkKind::Reap { child } => format!("P{child}-->>P{lane}: {}", text("reaped")),
        MarkKind::Create | MarkKind::Use => to_channel("->>")?,
        MarkKind::Close | MarkKind::Remove => to_channel("--x")?,
        MarkKind::SignalSent { to, .. } => match to {
            Some(to) => format!("P{lane}-)P{to}: {}", text(&mark.label)),
            None => note(&mark.label),
        },
        MarkKind::SignalDelivered { handled, .. } => {
            // The send's arrow says it, unless nobody in the run sent it.
            let paired = timeline
                .signals
                .iter()
                .any(|&(_, d)| std::ptr::eq(&timeline.marks[d], mark));
            match (paired, handled) {
                (true, false) => return None,
                (true, true) => note(&format!("its handler runs ({})", mark.label)),
                (false, _) => note(&format!(
                    "{}{}",
                    mark.label,
                    if handled { " (handler)" } else { "" }
                )),
            }
        }
        // An end's detail goes on with the I/O counters: the diagram keeps the verdict.
        MarkKind::Exit => note(mark.detail.split("; ").next().unwrap_or(&mark.label)),
        MarkKind::Held | MarkKind::Blocked => note(&mark.detail),
        MarkKind::Holds => to_channel("--)")?,
        MarkKind::SignalSetup | MarkKind::Other if mark.alert => note(&mark.detail),
        MarkKind::SignalSetup | MarkKind::Other => return None,
    })
}

/// Text as Mermaid shows it: letters, digits and plain punctuation as they are, anything
/// else as an entity code (`#35;` for `#`), so no text ends a statement.
pub fn text(words: &str) -> String {
    let mut out = String::with_capacity(words.len());
    for c in crate::escape::stray_controls(words).chars() {
        if c.is_ascii_alphanumeric() || " ._-/()[]'+=@,×…→".contains(c) {
            out.push(c);
        } else {
            let _ = write!(out, "#{};", c as u32);
        }
    }
    out
}
