//! Rendering a [`Report`] for people (aligned, coloured when the terminal allows) and for
//! programs (JSON).
//!
//! Colour goes through anstream, which strips it when stdout is not a terminal or when
//! NO_COLOR is set, so the same rendering serves terminals, files and CI logs.

use crate::escape::{stray_controls, visible};
use crate::grade::{CheckResult, Report, Status};
use anstyle::{AnsiColor, Style};
use std::fmt::Write as _;

const PASS: Style = AnsiColor::Green.on_default().bold();
const FAIL: Style = AnsiColor::Red.on_default().bold();
const SKIP: Style = AnsiColor::Yellow.on_default();
const DIM: Style = Style::new().dimmed();
const HEAD: Style = Style::new().bold();

/// The report as JSON (the `--format json` contract).
pub fn json(report: &Report) -> String {
    serde_json::to_string_pretty(report).expect("a report always serializes")
}

/// The report as text with ANSI styles; print it through anstream to degrade without a TTY.
pub fn human(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{HEAD}{} — {}{HEAD:#}", report.lab, report.title);
    let id_width = report.checks.iter().map(|c| c.id.len()).max().unwrap_or(0);
    let title_width = report
        .checks
        .iter()
        .map(|c| c.title.chars().count())
        .max()
        .unwrap_or(0);
    let mut part = None;
    for check in &report.checks {
        if part != Some(&check.part) {
            part = Some(&check.part);
            let _ = writeln!(out);
        }
        let (mark, style) = match check.status {
            Status::Passed => ("✔", PASS),
            Status::Failed => ("✘", FAIL),
            Status::Skipped => ("-", SKIP),
            Status::Error => ("!", FAIL),
        };
        let points = match check.status {
            Status::Skipped => "skipped".to_string(),
            _ => format!("{}/{}", check.points, check.max_points),
        };
        let _ = writeln!(
            out,
            "  {style}{mark}{style:#} {:<id_width$}  {}  {style}{points:>7}{style:#}",
            check.id,
            pad(&check.title, title_width),
        );
        if matches!(check.status, Status::Failed | Status::Error) {
            write_feedback(&mut out, check);
        } else if !check.note.is_empty() {
            // A pass judged on a run that did not finish says so.
            let _ = writeln!(
                out,
                "      {DIM}note: {}{DIM:#}",
                stray_controls(&check.note)
            );
        }
    }
    let _ = writeln!(out);
    let style = if report.score == report.max_score {
        PASS
    } else {
        FAIL
    };
    let _ = writeln!(
        out,
        "{HEAD}Score:{HEAD:#} {style}{}/{}{style:#}  {DIM}({} tracing, isolation: {}){DIM:#}",
        report.score, report.max_score, report.tracing, report.isolation
    );
    out
}

/// The explanation under a failed check: the message, indented, then the hint.
///
/// Program text in a message was escaped where the check quoted it
/// ([`crate::escape`]); control characters left over (from a report made elsewhere) are
/// shown, not sent to the terminal.
pub fn write_feedback(out: &mut String, check: &CheckResult) {
    for line in check.message.lines() {
        let _ = writeln!(out, "      {}", stray_controls(line));
    }
    if !check.hint.is_empty() {
        let _ = writeln!(
            out,
            "      {DIM}hint: {}{DIM:#}",
            stray_controls(&check.hint)
        );
    }
}

/// The feedback of a failed check as plain text (for test harness output, and the text
/// every other format carries), control characters shown as in [`write_feedback`].
pub fn plain_feedback(check: &CheckResult) -> String {
    let mut text = check.message.clone();
    if !check.hint.is_empty() {
        text.push_str("\nhint: ");
        text.push_str(&check.hint);
    }
    stray_controls(&text).into_owned()
}

/// `format!("{:<w$}")` counts bytes in some places; pad by characters so titles with
/// non-ASCII text still align.
fn pad(text: &str, width: usize) -> String {
    let len = text.chars().count();
    format!("{text}{}", " ".repeat(width.saturating_sub(len)))
}

/// `grader trace`'s summary: per process, then in total, the calls made and how many failed
/// (like `strace -c -f`, without the timing columns).
pub fn trace_summary(outcome: &crate::run::RunOutcome) -> String {
    use crate::trace::model::SyscallCount;
    use std::collections::BTreeMap;
    let trace = &outcome.trace;
    let mut out = String::new();
    let status = match outcome.status {
        crate::run::RunStatus::Completed => "completed",
        crate::run::RunStatus::TimedOut => "timed out",
        crate::run::RunStatus::ProcessLimit => "stopped at the process limit",
        crate::run::RunStatus::TaskLimit => "stopped at the task (thread) limit",
    };
    let _ = writeln!(
        out,
        "\n{HEAD}grader trace:{HEAD:#} {} process{}, {} tracing, {:.3} s, {status}, \
         isolation: {}",
        trace.processes.len(),
        if trace.processes.len() == 1 { "" } else { "es" },
        if trace.full {
            "full (every system call)"
        } else {
            "filtered (only the calls graders look at)"
        },
        outcome.wall.as_secs_f64(),
        outcome.isolation.name()
    );
    let table = |out: &mut String, counts: &BTreeMap<String, SyscallCount>| {
        let mut rows: Vec<(&String, &SyscallCount)> = counts.iter().collect();
        rows.sort_by(|a, b| b.1.calls.cmp(&a.1.calls).then(a.0.cmp(b.0)));
        let _ = writeln!(out, "  {DIM}{:>9} {:>7}  syscall{DIM:#}", "calls", "errors");
        for (name, count) in rows {
            let _ = writeln!(out, "  {:>9} {:>7}  {name}", count.calls, count.errors);
        }
    };
    let mut total: BTreeMap<String, SyscallCount> = BTreeMap::new();
    for process in &trace.processes {
        let end = match process.end {
            Some(crate::trace::End::Exited { code }) => format!("exited {code}"),
            Some(crate::trace::End::Signaled { signal, .. }) => {
                format!("killed by {}", crate::checks::signal_name(signal))
            }
            Some(crate::trace::End::Killed) => "killed by the grader".to_string(),
            None => "still running".to_string(),
        };
        let exe = visible(process.execs.last().map(String::as_str).unwrap_or(""));
        let _ = writeln!(out, "\n{HEAD}{}{HEAD:#} {exe} — {end}", process.name());
        table(&mut out, &process.syscall_counts);
        for (name, count) in &process.syscall_counts {
            let entry = total.entry(name.clone()).or_default();
            entry.calls += count.calls;
            entry.errors += count.errors;
        }
    }
    if trace.processes.len() > 1 {
        let _ = writeln!(out, "\n{HEAD}total{HEAD:#}");
        table(&mut out, &total);
    }
    for line in crate::run::hang::explain(outcome) {
        let _ = writeln!(out, "{FAIL}hang:{FAIL:#} {line}");
    }
    for place in &outcome.filled {
        let _ = writeln!(out, "{FAIL}full:{FAIL:#} {}", place.describe());
    }
    for leak in &outcome.leaks {
        let _ = writeln!(
            out,
            "{FAIL}left behind:{FAIL:#} {}",
            crate::checks::leak_text(leak)
        );
    }
    out
}
