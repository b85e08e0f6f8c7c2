//! The batch's outputs: `grades.csv` (one row per student), `grades.json` (every report),
//! `feedback/<student>.md` (what the student sees, in Markdown) and `report.html`.

use super::{Entry, Gradebook};
use crate::escape::{stray_controls, visible};
use crate::grade::{CheckResult, Status};
use crate::rubric::Rubric;
use anyhow::{Context, Result};
use std::fmt::Write as _;
use std::path::Path;

/// Writes every output into `out`.
pub fn write_all(out: &Path, rubric: &Rubric, book: &Gradebook) -> Result<()> {
    let write = |name: &str, text: String| {
        let path = out.join(name);
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))
    };
    write("grades.csv", csv(rubric, book)?)?;
    write(
        "grades.json",
        serde_json::to_string_pretty(book).context("cannot serialize the gradebook")? + "\n",
    )?;
    for entry in &book.submissions {
        write(
            &format!("feedback/{}.md", entry.student),
            feedback(rubric, entry),
        )?;
    }
    write("report.html", super::html::render(rubric, book))?;
    Ok(())
}

/// `grades.csv`: student, score, max_score, one column per check (its points; empty when
/// skipped), build, tampered, tampered_files, commit, commit_time, late_commits.
pub fn csv(rubric: &Rubric, book: &Gradebook) -> Result<String> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let mut header = vec!["student", "score", "max_score"];
    header.extend(rubric.checks.iter().map(|c| c.id.as_str()));
    header.extend([
        "build",
        "tampered",
        "tampered_files",
        "commit",
        "commit_time",
        "late_commits",
    ]);
    writer.write_record(&header)?;
    for entry in &book.submissions {
        let report = &entry.report;
        let mut row = vec![
            cell(&entry.student),
            report.score.to_string(),
            report.max_score.to_string(),
        ];
        for check in &rubric.checks {
            let points = report
                .checks
                .iter()
                .find(|c| c.id == check.id)
                .filter(|c| c.status != Status::Skipped)
                .map(|c| c.points.to_string())
                .unwrap_or_default();
            row.push(points);
        }
        row.push(entry.build.as_str().to_string());
        row.push(
            if entry.tampered.is_empty() {
                "no"
            } else {
                "yes"
            }
            .to_string(),
        );
        row.push(cell(&entry.tampered.join("; ")));
        row.push(entry.commit.clone().unwrap_or_default());
        row.push(entry.commit_time.clone().unwrap_or_default());
        row.push(
            entry
                .late_commits
                .map(|n| n.to_string())
                .unwrap_or_default(),
        );
        writer.write_record(&row)?;
    }
    let bytes = writer.into_inner().context("cannot write the CSV")?;
    Ok(String::from_utf8(bytes).expect("the CSV is built from strings"))
}

/// Text a spreadsheet would take for a formula (`=…`, `+…`, `-…`, `@…`) is prefixed with
/// `'` so that opening the gradebook cannot run what a student named a file.
fn cell(text: &str) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_string()
    }
}

/// The student's feedback in Markdown: every check with ✔/✘, its points, and for failures
/// the message and the hint (the same explanations `grader check` prints).
pub fn feedback(rubric: &Rubric, entry: &Entry) -> String {
    let report = &entry.report;
    let mut out = String::new();
    let _ = writeln!(out, "# {} — {}\n", report.lab, report.title);
    let _ = writeln!(out, "**Submission:** {}  ", inline(&entry.student));
    let _ = writeln!(out, "**Score:** {}/{}  ", report.score, report.max_score);
    if let (Some(commit), Some(time)) = (&entry.commit, &entry.commit_time) {
        let _ = writeln!(out, "**Graded commit:** `{commit}` ({time})  ");
    }
    if let Some(late) = entry.late_commits {
        let _ = writeln!(out, "**Commits after the deadline (not graded):** {late}  ");
    }
    if !entry.tampered.is_empty() {
        let _ = writeln!(
            out,
            "\n> **Note:** files you may not edit differ from the kit; they were ignored \
             (the kit's versions were used) and reported to your instructor:"
        );
        for finding in &entry.tampered {
            let _ = writeln!(out, "> - {}", inline(finding));
        }
    }
    let mut part = None;
    for check in &report.checks {
        if part != Some(&check.part) {
            part = Some(&check.part);
            let title = rubric
                .parts
                .get(&check.part)
                .map(|p| format!(" — {}", p.title))
                .unwrap_or_default();
            let _ = writeln!(out, "\n## {}{title}\n", check.part);
        }
        write_check(&mut out, check);
    }
    out
}

fn write_check(out: &mut String, check: &CheckResult) {
    let (mark, points) = match check.status {
        Status::Passed => ("✔", format!("{}/{}", check.points, check.max_points)),
        Status::Failed => ("✘", format!("{}/{}", check.points, check.max_points)),
        Status::Error => (
            "!",
            format!("{}/{} (grader error)", check.points, check.max_points),
        ),
        Status::Skipped => ("–", "skipped".to_string()),
    };
    let _ = writeln!(
        out,
        "- {mark} **{}** — {} ({points})",
        check.id,
        one_line(&check.title)
    );
    if matches!(check.status, Status::Failed | Status::Error) {
        if !check.message.is_empty() {
            let _ = writeln!(out);
            let fence = fence_for(&check.message);
            let _ = writeln!(out, "  {fence}text");
            for line in check.message.lines() {
                let _ = writeln!(out, "  {}", stray_controls(line));
            }
            let _ = writeln!(out, "  {fence}\n");
        }
        if !check.hint.is_empty() {
            let _ = writeln!(out, "  *Hint:* {}\n", one_line(&check.hint));
        }
    }
}

/// A code fence longer than any run of backticks in `text`, so the text cannot close it.
fn fence_for(text: &str) -> String {
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    "`".repeat(longest.max(2) + 1)
}

/// The rubric's own text (titles, hints: Markdown already) on one line.
fn one_line(text: &str) -> String {
    stray_controls(&text.replace(['\n', '\r'], " ")).into_owned()
}

/// Untrusted text (names, paths) for one Markdown line: control characters made visible
/// ([`visible`]: a line break shows as `\n`) and markup characters escaped (so the
/// backslash of `\n` is written `\\`, which Markdown shows as one).
fn inline(text: &str) -> String {
    let text = visible(text);
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '#' | '|' => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn student_text_cannot_escape_its_markup() {
        assert_eq!(fence_for("no ticks"), "```");
        assert_eq!(fence_for("a ```` b"), "`````");
        assert_eq!(inline("a*b\n<x>"), "a\\*b\\\\n\\<x\\>");
        assert_eq!(inline("x\x1b[2K"), "x\\\\x1b\\[2K");
        assert_eq!(cell("=HYPERLINK()"), "'=HYPERLINK()");
        assert_eq!(cell("alice"), "alice");
    }
}
