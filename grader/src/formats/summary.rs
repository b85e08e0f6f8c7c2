//! Plain GitHub Actions, no Classroom: the job summary (`--format summary`, Markdown for
//! `$GITHUB_STEP_SUMMARY`) and one `::error` annotation per failed check.
//!
//! GitHub refuses a step summary over 1 MiB (and then shows nothing of it), so the summary
//! is kept within [`SUMMARY_MAX`] bytes; annotations are short by design (the check, its
//! points and the start of its feedback, [`ANNOTATION_MAX`] bytes at most), and the full
//! text is in the summary. Both are written only after every student program has ended,
//! and the workflow (`.github/workflows/grade.yml`) reads them from files the programs were
//! never told about.

use super::markdown::{self, Bounds};
use super::{clip, counted, feedback};
use crate::grade::{Report, Status};

/// The summary's size limit: below GitHub's 1 MiB (1,048,576 bytes) per step.
pub const SUMMARY_MAX: usize = 1_000_000;

/// One failed check's feedback in the summary.
pub const SUMMARY_PER_CHECK: usize = 16 * 1024;

/// One annotation's message, before the workflow-command escaping.
pub const ANNOTATION_MAX: usize = 1024;

/// The job summary: the score, a table of every check and each failure in `<details>`.
pub fn render(report: &Report) -> String {
    markdown::render(
        report,
        "###",
        Bounds {
            max_bytes: SUMMARY_MAX,
            per_check: SUMMARY_PER_CHECK,
        },
    )
}

/// The run the first failed check judged, drawn as a Mermaid diagram (GitHub renders it in
/// a job summary).
#[derive(Debug, Clone, PartialEq)]
pub struct FailingRun {
    pub check: String,
    /// How feedback names the case: ``input `small` ("60")``.
    pub described: String,
    /// [`crate::timeline::mermaid::render`] of its timeline.
    pub diagram: String,
}

impl FailingRun {
    /// The first failed check's run, if a failed check judged one.
    pub fn find(grading: &crate::grade::Grading, report: &Report) -> Option<FailingRun> {
        report
            .checks
            .iter()
            .filter(|c| c.status == Status::Failed)
            .find_map(|result| {
                let spec = grading.rubric().checks.iter().find(|c| c.id == result.id)?;
                let case = grading.judged_case(spec)?;
                let timeline = crate::timeline::Timeline::of(case.run);
                Some(FailingRun {
                    check: result.id.clone(),
                    described: case.describe(),
                    diagram: crate::timeline::mermaid::render(&timeline),
                })
            })
    }
}

/// [`render`], then the first failing run's diagram in a `<details>` block, if the summary
/// stays within [`SUMMARY_MAX`] with it (its fence is longer than any run of backticks in
/// it; the diagram's own text is in Mermaid's entity codes, which have none).
pub fn render_with_run(report: &Report, run: Option<&FailingRun>) -> String {
    let mut summary = render(report);
    if let Some(run) = run {
        let fence = markdown::fence_for(&run.diagram);
        let text = |t: &str| markdown::html(&crate::escape::stray_controls(t));
        let section = format!(
            "\n<details><summary>Timeline of the run <code>{}</code> judged: {} (left to right, \
             the order of events)</summary>\n\n{fence}mermaid\n{}{fence}\n\n</details>\n",
            text(&run.check),
            text(&run.described),
            run.diagram
        );
        if summary.len() + section.len() <= SUMMARY_MAX {
            summary.push_str(&section);
        }
    }
    summary
}

/// One `::error title=…::…` line per failed check (and per check the grader could not
/// run), escaped so that no text of the program's ends the command early or starts another.
pub fn annotations(report: &Report) -> String {
    let mut out = String::new();
    for check in counted(report).filter(|c| c.status != Status::Passed) {
        let title = format!(
            "{} ({}/{} points)",
            check.id, check.points, check.max_points
        );
        let text = format!("{}\n{}", check.title, feedback(check));
        let text = clip(&text, ANNOTATION_MAX);
        out.push_str("::error title=");
        out.push_str(&escape_property(&title));
        out.push_str("::");
        out.push_str(&escape_data(&text));
        out.push('\n');
    }
    out
}

/// A workflow command's message: `%`, carriage return and line feed encoded, as the
/// runner decodes them.
pub fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// A workflow command's property value: also `:` and `,`, which end a property.
pub fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_are_the_runners() {
        assert_eq!(escape_data("50% done\r\n::x"), "50%25 done%0D%0A::x");
        assert_eq!(escape_property("a: b, c"), "a%3A b%2C c");
    }
}
