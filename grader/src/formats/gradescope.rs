//! Gradescope: the `results.json` that an autograder's `run_autograder` leaves in
//! `/autograder/results/` (see `grader/autograders/gradescope`).
//!
//! Gradescope has no "error" status and no top-level maximum (the assignment's total is set
//! on its site), so a check the grader could not run is `failed`, with 0 points and a note
//! that it is not the student's fault, and the total is the one `score`.

use super::{counted, display_name, feedback};
use crate::grade::{Report, Status};
use serde::Serialize;
use std::fmt::Write as _;

#[derive(Serialize)]
struct Results {
    /// Overrides the sum of the tests' scores; the same number, stated once.
    score: u32,
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
    /// "part.check", both counted from 1 in rubric order, as Gradescope sorts by it.
    number: String,
    score: u32,
    max_score: u32,
    status: &'static str,
    output: String,
    visibility: &'static str,
}

/// The report as Gradescope's `results.json`.
pub fn render(report: &Report) -> String {
    let mut tests = Vec::new();
    // (part, checks numbered so far) in order of first appearance.
    let mut parts: Vec<(&str, usize)> = Vec::new();
    for check in counted(report) {
        let index = match parts.iter().position(|(part, _)| *part == check.part) {
            Some(index) => index,
            None => {
                parts.push((&check.part, 0));
                parts.len() - 1
            }
        };
        parts[index].1 += 1;
        tests.push(Test {
            name: display_name(check),
            number: format!("{}.{}", index + 1, parts[index].1),
            score: check.points,
            max_score: check.max_points,
            status: if check.status == Status::Passed {
                "passed"
            } else {
                "failed"
            },
            output: feedback(check),
            visibility: "visible",
        });
    }
    let results = Results {
        score: report.score,
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
