//! The report as GitHub-flavoured Markdown, bounded in size: the body of a Classroom 50
//! Release (`release-body.md`) and a GitHub Actions job summary (`--format summary`).
//!
//! Layout: a heading with the score, a table (check, points, status), then each failed
//! check in a `<details>` block with its message and hint. Rubric text (ids, titles) is
//! escaped for a table cell and for HTML; feedback, which quotes program output, sits in a
//! code fence longer than any run of backticks in it, where neither Markdown nor HTML is
//! interpreted.
//!
//! The document never exceeds its `max_bytes`: each failure's text is clipped to its share
//! of what the table leaves (at most `per_check`), and failures that would not fit even so
//! are left out with a line that says how many.

use super::{clip, counted, display_name, feedback};
use crate::grade::{CheckResult, Report, Status};
use std::fmt::Write as _;

/// How big a rendering may be.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    /// The whole document, in bytes.
    pub max_bytes: usize,
    /// One failure's feedback, in bytes.
    pub per_check: usize,
}

/// The report as Markdown within `bounds`; `heading` starts the first line (`###`, say).
pub fn render(report: &Report, heading: &str, bounds: Bounds) -> String {
    let mut head = String::new();
    let _ = writeln!(
        head,
        "{heading} {} — {}: {}/{}\n",
        cell(&report.lab),
        cell(&report.title),
        report.score,
        report.max_score
    );
    let graded = counted(report).count();
    let passed = counted(report)
        .filter(|c| c.status == Status::Passed)
        .count();
    let _ = writeln!(head, "{passed} of {graded} checks passed.\n");
    head.push_str("| check | points | status |\n|---|---:|---|\n");
    for check in &report.checks {
        let (points, status) = match check.status {
            Status::Passed => (
                format!("{}/{}", check.points, check.max_points),
                "✅ passed".to_string(),
            ),
            Status::Failed => (
                format!("{}/{}", check.points, check.max_points),
                "❌ failed".to_string(),
            ),
            Status::Error => (
                format!("{}/{}", check.points, check.max_points),
                "⚠️ grader error".to_string(),
            ),
            Status::Skipped => (
                "–".to_string(),
                format!("skipped (no program for `{}`)", cell(&check.part)),
            ),
        };
        let _ = writeln!(
            head,
            "| `{}` {} | {points} | {status} |",
            cell(&check.id),
            cell(&check.title)
        );
    }
    let mut foot = String::new();
    let _ = writeln!(
        foot,
        "\nGraded with {} tracing (isolation: {}). Run `cargo test -p {} -- <check id>` to \
         try one check again.",
        cell(&report.tracing),
        cell(&report.isolation),
        cell(&report.lab)
    );

    let failures: Vec<&CheckResult> = counted(report)
        .filter(|c| c.status != Status::Passed)
        .collect();
    let mut out = head;
    if !failures.is_empty() {
        out.push_str("\n#### What failed\n\n");
    }
    // What each failure's block costs besides its text, and the note for those left out.
    const BLOCK: usize = 200;
    const LEFT_OUT: usize = 160;
    let fixed = out.len() + foot.len() + LEFT_OUT;
    let room = bounds.max_bytes.saturating_sub(fixed);
    let share = failures
        .iter()
        .map(|c| BLOCK + 2 * display_name(c).len())
        .sum::<usize>();
    let per_check = bounds
        .per_check
        .min(room.saturating_sub(share) / failures.len().max(1));
    let mut shown = 0;
    for check in &failures {
        let block = details(check, per_check);
        if out.len() + block.len() + foot.len() + LEFT_OUT > bounds.max_bytes {
            break;
        }
        out.push_str(&block);
        shown += 1;
    }
    if shown < failures.len() {
        let _ = writeln!(
            out,
            "_{} more failed check{} not shown here: this page is limited to {} bytes. \
             `cargo test -p {}` shows every one._",
            failures.len() - shown,
            if failures.len() - shown == 1 {
                " is"
            } else {
                "s are"
            },
            bounds.max_bytes,
            cell(&report.lab)
        );
    }
    out.push_str(&foot);
    out
}

/// One failed check: its name and points as the summary line, its feedback fenced.
fn details(check: &CheckResult, limit: usize) -> String {
    let text = feedback(check);
    let text = clip(&text, limit);
    let fence = fence_for(&text);
    format!(
        "<details><summary><code>{}</code> {} ({}/{})</summary>\n\n{fence}text\n{}\n{fence}\n\n</details>\n\n",
        html(&check.id),
        html(&check.title),
        check.points,
        check.max_points,
        text.trim_end_matches('\n'),
    )
}

/// A fence of backticks longer than any run of them in `text` (at least three).
pub fn fence_for(text: &str) -> String {
    let mut longest = 0;
    let mut run = 0;
    for c in text.chars() {
        if c == '`' {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    "`".repeat((longest + 1).max(3))
}

/// Text for a table cell: `|` escaped, line breaks as spaces, HTML made inert.
pub fn cell(text: &str) -> String {
    html(text).replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// `<`, `>` and `&` as entities, so rubric text cannot open a tag.
pub fn html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fence_is_longer_than_any_backtick_run() {
        assert_eq!(fence_for("plain"), "```");
        assert_eq!(fence_for("a ``` b"), "````");
        assert_eq!(fence_for("`````"), "``````");
    }

    #[test]
    fn cells_cannot_break_the_table_or_open_tags() {
        assert_eq!(cell("a|b\n<c>&"), "a\\|b &lt;c&gt;&amp;");
    }
}
