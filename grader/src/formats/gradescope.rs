//! Gradescope: the `results.json` that an autograder's `run_autograder` leaves in
//! `/autograder/results/` (see `grader/autograders/gradescope`).
//!
//! Gradescope has no "error" status and no top-level maximum (the assignment's total is set
//! on its site), so a check the grader could not run is `failed`, with 0 points and a note
//! that it is not the student's fault, and the total is the one `score`.
//!
//! Tests carry no `number`: Gradescope then lists them in the order given (rubric order),
//! where numbers such as `1.10` could sort as decimals before `1.2`. Feedback is capped by
//! [`CAPS`]; `execution_time` is the grading's wall time in whole seconds.

use super::{Caps, Context, counted, display_name, feedback_within};
use crate::grade::{Report, Status};
use serde::Serialize;
use std::fmt::Write as _;

#[derive(Serialize)]
struct Results {
    /// Overrides the sum of the tests' scores; the same number, stated once.
    score: u32,
    /// Seconds, rounded up.
    execution_time: u64,
    output: String,
    /// The summary is ours (Markdown); the tests' output quotes student programs, so it is
    /// shown as plain text, never rendered.
    output_format: &'static str,
    test_output_format: &'static str,
    tests: Vec<Test>,
}

#[derive(Serialize)]
struct Test {
    name: String,
    score: u32,
    max_score: u32,
    status: &'static str,
    output: String,
    visibility: &'static str,
}

/// Feedback kept in `results.json`: 16 KiB per check, 512 KiB in all.
pub const CAPS: Caps = Caps {
    per_check: 16 * 1024,
    total: 512 * 1024,
};

/// The report as Gradescope's `results.json`.
pub fn render(report: &Report) -> String {
    render_with(report, &Context::now())
}

/// [`render`] with the grading's wall time.
pub fn render_with(report: &Report, context: &Context) -> String {
    let limit = CAPS.limit(report);
    let mut tests = Vec::new();
    for check in counted(report) {
        tests.push(Test {
            name: display_name(check),
            score: check.points,
            max_score: check.max_points,
            status: if check.status == Status::Passed {
                "passed"
            } else {
                "failed"
            },
            output: feedback_within(check, limit),
            visibility: "visible",
        });
    }
    let results = Results {
        score: report.score,
        execution_time: context.elapsed.as_secs() + u64::from(context.elapsed.subsec_nanos() > 0),
        output: summary(report),
        output_format: "md",
        test_output_format: "text",
        tests,
    };
    serde_json::to_string_pretty(&results).expect("results always serialize")
}

/// The text above the tests: the lab, the total, and which parts were not graded. Only
/// rubric text goes in here (never student output), because it is rendered as Markdown.
fn summary(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "**{} — {}**\n", report.lab, report.title);
    let _ = write!(
        out,
        "Score: {}/{} ({} tracing).",
        report.score, report.max_score, report.tracing
    );
    let mut skipped: Vec<&str> = Vec::new();
    for check in &report.checks {
        if check.status == Status::Skipped && !skipped.contains(&check.part.as_str()) {
            skipped.push(&check.part);
        }
    }
    if !skipped.is_empty() {
        let _ = write!(
            out,
            " Not graded (no program for): {}.",
            skipped
                .iter()
                .map(|part| format!("`{part}`"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    out
}
