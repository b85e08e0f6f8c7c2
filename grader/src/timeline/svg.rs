//! A [`Timeline`] as one self-contained SVG: no script, no external font or image, every
//! text escaped, so it reads the same in a browser, a Markdown viewer and a PDF.
//!
//! Lanes are rows (process names in the left gutter), steps are columns; channels are
//! bands under the lanes, each use a dotted line from the lane down to its band. Every
//! mark carries a `<title>` (the tooltip) with all it stands for; the label under it is
//! short. Elements carry classes (`lane`, `band`, `mark fork`, `signal`, `frozen`) so tests
//! and style sheets can find them.

use super::{ChannelKind, Mark, MarkKind, Timeline};
use std::fmt::Write as _;

const GUTTER: usize = 190;
const STEP: usize = 92;
const LANE: usize = 64;
const BAND: usize = 30;
const TOP: usize = 56;
const NOTE_LINE: usize = 15;
const MIN_WIDTH: usize = 640;
/// Characters of a label under a mark (the tooltip has the rest).
const LABEL_CHARS: usize = 15;
/// Characters of a note's line before it wraps.
const NOTE_CHARS: usize = 130;

/// The SVG document (no XML declaration, so it can be inlined in HTML as it is).
pub fn render(timeline: &Timeline) -> String {
    let lanes = timeline.lanes.len();
    let bands_top = TOP + lanes * LANE + 8;
    let notes_top = bands_top + timeline.channels.len() * BAND + 24;
    let notes: Vec<String> = timeline.notes.iter().flat_map(|n| wrap(n)).collect();
    // Wide enough for the caption however few the steps.
    let width = (GUTTER + timeline.steps.max(1) * STEP + 24).max(MIN_WIDTH);
    let height = notes_top + notes.len() * NOTE_LINE + 28;
    let lane_y = |lane: usize| TOP + lane * LANE + LANE / 2 - 8;
    let band_y = |channel: usize| bands_top + channel * BAND + BAND / 2;
    let x = |step: usize| GUTTER + step * STEP + STEP / 2;
    let mut svg = String::with_capacity(4096 + timeline.marks.len() * 400);
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="timeline" role="img" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">"#
    );
    let _ = write!(
        svg,
        "<title>{}</title>",
        xml(&format!(
            "Timeline of a run ({}): {} process{}",
            timeline.status,
            lanes,
            if lanes == 1 { "" } else { "es" }
        ))
    );
    svg.push_str(concat!(
        "<defs>",
        r##"<marker id="tl-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0L10,5L0,10z" fill="#1f4e8c"/></marker>"##,
        r##"<marker id="tl-signal" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0L10,5L0,10z" fill="#c0392b"/></marker>"##,
        r##"<marker id="tl-reap" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" markerHeight="6" orient="auto-start-reverse"><path d="M0,0L10,5L0,10z" fill="#777"/></marker>"##,
        r##"<pattern id="tl-hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#fdecea"/><line x1="0" y1="0" x2="0" y2="6" stroke="#e6a19a" stroke-width="2"/></pattern>"##,
        "</defs>"
    ));
    let _ = write!(
        svg,
        r##"<rect class="background" width="{width}" height="{height}" fill="#ffffff"/>"##
    );
    let _ = write!(
        svg,
        r##"<text x="12" y="20" font-size="14" font-weight="bold">{}</text><text x="12" y="38" fill="#555">{}</text>"##,
        xml(&format!("Run {}", timeline.status)),
        xml(
            "Left to right: the order of events on the trace clock, not their duration. \
             Hover a mark for details."
        )
    );
    // The frozen end, behind everything.
    if let Some(step) = timeline.frozen {
        let _ = write!(
            svg,
            r##"<g class="frozen"><rect x="{}" y="{}" width="{STEP}" height="{}" fill="url(#tl-hatch)"/><text x="{}" y="{}" text-anchor="middle" fill="#c0392b" font-weight="bold">frozen</text></g>"##,
            GUTTER + step * STEP,
            TOP - 4,
            bands_top + timeline.channels.len() * BAND - TOP + 4,
            x(step),
            TOP - 8
        );
    }
    // Lanes: the name in the gutter, a line from the first mark to the last.
    svg.push_str(r#"<g class="lanes">"#);
    for (i, lane) in timeline.lanes.iter().enumerate() {
        let y = lane_y(i);
        let _ = write!(
            svg,
            r##"<g class="lane"><title>{}</title><text x="12" y="{}" font-weight="bold">{}</text><text x="12" y="{}" fill="#777" font-size="10">{}</text><line x1="{}" y1="{y}" x2="{}" y2="{y}" stroke="#333" stroke-width="2"/></g>"##,
            xml(&format!("{}: {}", lane.name, lane.exe)),
            y + 4,
            xml(&lane.name),
            y + 17,
            xml(&clip(base_name(&lane.exe), 30)),
            x(lane.start) - STEP / 3,
            x(lane.end) + STEP / 3,
        );
    }
    svg.push_str("</g>");
    // Channel bands.
    svg.push_str(r#"<g class="bands">"#);
    for (i, channel) in timeline.channels.iter().enumerate() {
        let y = band_y(i);
        let colour = colour(channel.kind);
        let left = x(channel.start) - STEP / 3;
        let right = x(channel.end) + STEP / 3;
        let _ = write!(
            svg,
            r##"<g class="band"><title>{}</title><text x="12" y="{}" fill="{colour}" font-weight="bold">{}</text><rect x="{left}" y="{}" width="{}" height="{}" rx="4" fill="{colour}" fill-opacity="0.18" stroke="{colour}"/>"##,
            xml(&format!(
                "{}{}",
                channel.name,
                if channel.removed { " (removed)" } else { "" }
            )),
            y + 4,
            xml(&clip(&channel.name, 28)),
            y - BAND / 2 + 5,
            right - left,
            BAND - 10,
        );
        if channel.removed {
            let _ = write!(
                svg,
                r##"<text x="{}" y="{}" fill="{colour}" font-size="10">removed</text>"##,
                right + 4,
                y + 4
            );
        }
        svg.push_str("</g>");
    }
    svg.push_str("</g>");
    // Forks, reaps and signals, under the marks.
    svg.push_str(r#"<g class="arrows">"#);
    for mark in &timeline.marks {
        match mark.kind {
            MarkKind::Fork { child } if child < lanes => {
                let _ = write!(
                    svg,
                    r##"<line class="fork" x1="{0}" y1="{1}" x2="{0}" y2="{2}" stroke="#1f4e8c" stroke-width="1.5" marker-end="url(#tl-arrow)"/>"##,
                    x(mark.step),
                    lane_y(mark.lane),
                    short_of(lane_y(child), lane_y(mark.lane)),
                );
            }
            MarkKind::Reap { child } if child < lanes => {
                let exit = timeline
                    .marks
                    .iter()
                    .find(|m| m.lane == child && m.kind == MarkKind::Exit);
                if let Some(exit) = exit {
                    let _ = write!(
                        svg,
                        r##"<line class="reap" x1="{}" y1="{}" x2="{}" y2="{}" stroke="#777" stroke-dasharray="3 3" marker-end="url(#tl-reap)"/>"##,
                        x(exit.step),
                        lane_y(child),
                        x(mark.step),
                        short_of(lane_y(mark.lane), lane_y(child)),
                    );
                }
            }
            _ => {}
        }
    }
    for &(sent, delivered) in &timeline.signals {
        let (from, to) = (&timeline.marks[sent], &timeline.marks[delivered]);
        let (x1, y1, x2, y2) = (x(from.step), lane_y(from.lane), x(to.step), lane_y(to.lane));
        let _ = write!(
            svg,
            r##"<g class="signal"><title>{}</title><line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" stroke="#c0392b" stroke-width="1.5" marker-end="url(#tl-signal)"/></g>"##,
            xml(&format!("{} → {}", from.detail, to.detail)),
        );
    }
    // A signal taken by a wait (sigwaitinfo, sigsuspend) is never delivered as such: its
    // arrow ends on the receiver's lane, at the send.
    for (i, mark) in timeline.marks.iter().enumerate() {
        if let MarkKind::SignalSent { to: Some(to), .. } = mark.kind
            && to < lanes
            && to != mark.lane
            && !timeline.signals.iter().any(|&(s, _)| s == i)
        {
            let (x1, y1) = (x(mark.step), lane_y(mark.lane));
            let _ = write!(
                svg,
                r##"<g class="signal"><title>{}</title><line x1="{x1}" y1="{y1}" x2="{}" y2="{}" stroke="#c0392b" stroke-width="1.5" stroke-dasharray="5 2" marker-end="url(#tl-signal)"/></g>"##,
                xml(&format!(
                    "{} → {} (taken by a wait, or still pending)",
                    mark.detail, timeline.lanes[to].name
                )),
                x1 + STEP / 4,
                short_of(lane_y(to), y1),
            );
        }
    }
    svg.push_str("</g>");
    // Marks, and each use's line down to its band.
    svg.push_str(r#"<g class="marks">"#);
    let mut stacked: std::collections::BTreeMap<(usize, usize), usize> = Default::default();
    for mark in &timeline.marks {
        let row = stacked.entry((mark.lane, mark.step)).or_default();
        let (cx, cy) = (x(mark.step), lane_y(mark.lane));
        let label_y = cy + 16 + *row * 12;
        *row += 1;
        let _ = write!(
            svg,
            r#"<g class="mark {}"><title>{}</title>"#,
            class(mark),
            xml(&format!(
                "{}: {}",
                timeline
                    .lanes
                    .get(mark.lane)
                    .map_or("", |l| l.name.as_str()),
                mark.detail
            ))
        );
        if let Some(channel) = mark.channel.filter(|&c| c < timeline.channels.len()) {
            let colour = colour(timeline.channels[channel].kind);
            // Lanes sharing a step draw their lines side by side, not on top of each other.
            let cx = cx - 8 + (mark.lane % 5) * 4;
            let _ = write!(
                svg,
                r##"<line x1="{cx}" y1="{}" x2="{cx}" y2="{}" stroke="{colour}" stroke-dasharray="1 3" stroke-opacity="0.8"/><rect x="{}" y="{}" width="6" height="12" fill="{}"/>"##,
                cy + 6,
                band_y(channel) - 6,
                cx - 3,
                band_y(channel) - 6,
                if mark.alert { "#c0392b" } else { colour },
            );
        }
        svg.push_str(&shape(mark, cx, cy));
        let _ = write!(
            svg,
            r##"<text x="{cx}" y="{label_y}" text-anchor="middle" font-size="10"{}>{}</text></g>"##,
            if mark.alert {
                r##" fill="#c0392b" font-weight="bold""##
            } else {
                ""
            },
            xml(&clip(&mark.label, LABEL_CHARS)),
        );
    }
    svg.push_str("</g>");
    if !notes.is_empty() {
        let _ = write!(svg, r##"<g class="notes" fill="#c0392b">"##);
        for (i, line) in notes.iter().enumerate() {
            let _ = write!(
                svg,
                r#"<text x="12" y="{}">{}</text>"#,
                notes_top + i * NOTE_LINE,
                xml(line)
            );
        }
        svg.push_str("</g>");
    }
    svg.push_str("</svg>");
    svg
}

/// The class of a mark's group, after its kind.
fn class(mark: &Mark) -> &'static str {
    match mark.kind {
        MarkKind::Fork { .. } => "fork",
        MarkKind::Create => "create",
        MarkKind::Use => "use",
        MarkKind::Close => "close",
        MarkKind::Remove => "remove",
        MarkKind::SignalSetup => "signal-setup",
        MarkKind::SignalSent { .. } => "signal-sent",
        MarkKind::SignalDelivered { .. } => "signal-delivered",
        MarkKind::Held => "held",
        MarkKind::Reap { .. } => "reap",
        MarkKind::Exit => "exit",
        MarkKind::Blocked => "blocked",
        MarkKind::Holds => "holds",
        MarkKind::Other => "other",
    }
}

/// The mark's shape at (cx, cy).
fn shape(mark: &Mark, cx: usize, cy: usize) -> String {
    let stroke = if mark.alert { "#c0392b" } else { "#333" };
    match mark.kind {
        MarkKind::Held => format!(
            r##"<rect x="{}" y="{}" width="{}" height="14" fill="#999" fill-opacity="0.35" stroke="#777"/>"##,
            GUTTER + mark.step * STEP + 4,
            cy - 7,
            (mark.until - mark.step + 1) * STEP - 8,
        ),
        MarkKind::Exit => format!(
            r##"<rect x="{}" y="{}" width="10" height="10" fill="{stroke}"/>"##,
            cx - 5,
            cy - 5
        ),
        MarkKind::Blocked | MarkKind::Holds => format!(
            r##"<rect x="{}" y="{}" width="12" height="12" fill="#fdecea" stroke="#c0392b" stroke-width="2"/>"##,
            cx - 6,
            cy - 6
        ),
        MarkKind::SignalSent { .. } | MarkKind::SignalDelivered { .. } => format!(
            r##"<path d="M{cx},{}l6,6l-6,6l-6,-6z" fill="{}" stroke="#c0392b"/>"##,
            cy - 6,
            if matches!(mark.kind, MarkKind::SignalDelivered { handled: true, .. }) {
                "#c0392b"
            } else {
                "#ffffff"
            }
        ),
        MarkKind::Close | MarkKind::Remove => format!(
            r##"<path d="M{},{}l8,8m0,-8l-8,8" stroke="{stroke}" stroke-width="2"/>"##,
            cx - 4,
            cy - 4
        ),
        MarkKind::Fork { .. } => {
            format!(r##"<circle cx="{cx}" cy="{cy}" r="5" fill="#1f4e8c" stroke="{stroke}"/>"##)
        }
        _ => format!(
            r##"<circle cx="{cx}" cy="{cy}" r="4.5" fill="#ffffff" stroke="{stroke}" stroke-width="1.5"/>"##
        ),
    }
}

/// A band's colour, by what the channel is.
fn colour(kind: ChannelKind) -> &'static str {
    match kind {
        ChannelKind::Pipe => "#2f6fbf",
        ChannelKind::Fifo => "#1e8c7e",
        ChannelKind::Socket => "#7b57b0",
        ChannelKind::Queue => "#d35f3d",
        ChannelKind::SysvSegment => "#a8860b",
        ChannelKind::PosixShm => "#9a5a1f",
        ChannelKind::SharedMapping => "#4f7f3a",
        ChannelKind::Output => "#666666",
    }
}

/// An arrow's end at height `to`, stopped short of the mark there, coming from `from`.
fn short_of(to: usize, from: usize) -> usize {
    if to > from { to - 7 } else { to + 7 }
}

/// The text for XML content or an attribute: markup characters as entities, and any
/// control character left (a timeline made elsewhere) made visible.
pub fn xml(text: &str) -> String {
    crate::batch::html::escape(&crate::escape::stray_controls(text))
}

/// At most `max` characters, the cut shown with `…`.
fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max - 1).collect();
    out.push('…');
    out
}

fn base_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// A note cut into lines of at most [`NOTE_CHARS`] characters, at spaces.
fn wrap(note: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in note.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > NOTE_CHARS {
            lines.push(std::mem::take(&mut line));
            line.push_str("    ");
        }
        if !line.trim().is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.trim().is_empty() {
        lines.push(line);
    }
    lines
}
