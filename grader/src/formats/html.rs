//! `grader check --html FILE`: one page a student opens offline. The score, every check
//! with its evidence and hint, and for each failed check the timeline of the run it judged
//! (an inline SVG from [`crate::timeline`]); then how each part ran, so a page with
//! nothing failed still shows the clean runs.
//!
//! The page is self-contained: no script, no external style, font or image, and a content
//! security policy that forbids them, so it opens the same from a mail attachment or a CI
//! artifact. Every text of the report is escaped ([`crate::batch::html::escape`]); the
//! timelines escape their own.

use super::{Caps, clip};
use crate::batch::html::escape;
use crate::checks::Case;
use crate::escape::stray_controls;
use crate::grade::{CheckResult, Grading, Report, Status};
use crate::timeline::{Timeline, svg};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// The page's feedback text: generous, since a browser has no limit that loses it.
pub const CAPS: Caps = Caps {
    per_check: 64 * 1024,
    total: 4 << 20,
};

/// A run drawn for the page.
#[derive(Debug, Clone, PartialEq)]
pub struct RunPicture {
    pub part: String,
    /// How feedback names the case ([`Case::describe`]): ``input `small` ("60")``.
    pub described: String,
    /// The timeline, as SVG.
    pub svg: String,
}

/// The runs a page shows: the one each failed check judged, and one per part.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Pictures {
    pub runs: Vec<RunPicture>,
    /// Check id → the run it judged (an index in `runs`).
    pub judged: BTreeMap<String, usize>,
    /// Each part (in the rubric's order) and the run that shows how it went: the first
    /// input of its first check.
    pub parts: Vec<(String, usize)>,
}

impl Pictures {
    /// Draws the runs the page needs (already made by grading; each drawn once).
    pub fn gather(grading: &Grading, report: &Report) -> Pictures {
        let mut pictures = Pictures::default();
        let mut drawn: BTreeMap<(String, String), usize> = BTreeMap::new();
        let mut index = |pictures: &mut Pictures, part: &str, case: &Case<'_>| {
            *drawn
                .entry((part.to_string(), case.input.to_string()))
                .or_insert_with(|| {
                    pictures.runs.push(RunPicture {
                        part: part.to_string(),
                        described: case.describe(),
                        svg: svg::render(&Timeline::of(case.run)),
                    });
                    pictures.runs.len() - 1
                })
        };
        let rubric = grading.rubric();
        let spec_of = |id: &str| rubric.checks.iter().find(|c| c.id == id);
        for result in &report.checks {
            if result.status != Status::Failed {
                continue;
            }
            if let Some(spec) = spec_of(&result.id)
                && let Some(case) = grading.judged_case(spec)
            {
                let i = index(&mut pictures, &spec.part, &case);
                pictures.judged.insert(result.id.clone(), i);
            }
        }
        for result in report
            .checks
            .iter()
            .filter(|c| !matches!(c.status, Status::Skipped | Status::Error))
        {
            let Some(spec) = spec_of(&result.id) else {
                continue;
            };
            if pictures.parts.iter().any(|(part, _)| *part == spec.part) {
                continue;
            }
            if let Some(case) = spec.inputs.first().and_then(|i| grading.case(spec, i)) {
                let i = index(&mut pictures, &spec.part, &case);
                pictures.parts.push((spec.part.clone(), i));
            }
        }
        pictures
    }
}

const STYLE: &str = "\
body{font-family:sans-serif;margin:24px auto;max-width:1200px;padding:0 16px;color:#222}\
h1{font-size:22px;margin-bottom:4px}\
.score{font-size:28px;font-weight:bold;margin:8px 0}\
.full{color:#1b7f3b}.partial{color:#a4161a}\
.meta{color:#666;font-size:13px}.note{color:#666;font-size:12px}\
table{border-collapse:collapse;margin:16px 0;font-size:14px}\
td,th{padding:4px 10px;border-bottom:1px solid #ddd;text-align:left}\
td.points{text-align:right;font-variant-numeric:tabular-nums}\
.passed .mark{color:#1b7f3b}.failed .mark,.error .mark{color:#a4161a}.skipped .mark{color:#999}\
section.check{border-left:4px solid #a4161a;padding:4px 16px;margin:24px 0}\
section.check h3{margin:8px 0}\
pre{white-space:pre-wrap;background:#f6f6f6;padding:8px;font-size:13px}\
.hint{background:#fff8e1;padding:6px 8px}\
figure{margin:12px 0}figcaption{font-size:13px;color:#555;margin-bottom:4px}\
.scroll{overflow-x:auto;border:1px solid #ddd}\
.scroll svg{display:block}";

/// The page.
pub fn render(report: &Report, pictures: &Pictures) -> String {
    let text = |s: &str| escape(&stray_controls(s));
    let mut page = String::with_capacity(16 * 1024 + pictures.runs.len() * 16 * 1024);
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; \
         style-src 'unsafe-inline'\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} — {}/{}</title><style>{STYLE}</style></head><body>",
        text(&report.lab),
        report.score,
        report.max_score
    );
    let _ = write!(
        page,
        "<h1>{} — {}</h1><p class=\"score {}\">Score {}/{}</p>\
         <p class=\"meta\">{} tracing, isolation: {}</p>",
        text(&report.lab),
        text(&report.title),
        if report.score == report.max_score {
            "full"
        } else {
            "partial"
        },
        report.score,
        report.max_score,
        text(&report.tracing),
        text(&report.isolation)
    );
    // Every check, one row.
    page.push_str("<table class=\"checks\"><tr><th></th><th>check</th><th>what it asks</th><th>points</th></tr>");
    for check in &report.checks {
        let (mark, class) = status_mark(check.status);
        let id = if matches!(check.status, Status::Failed | Status::Error) {
            format!("<a href=\"#{}\">{}</a>", anchor(&check.id), text(&check.id))
        } else {
            text(&check.id)
        };
        let points = match check.status {
            Status::Skipped => "skipped".to_string(),
            _ => format!("{}/{}", check.points, check.max_points),
        };
        // A pass judged on a run that did not finish says so.
        let note = if check.note.is_empty() {
            String::new()
        } else {
            format!(
                "<br><span class=\"note\">note: {}</span>",
                text(&check.note)
            )
        };
        let _ = write!(
            page,
            "<tr class=\"{class}\"><td class=\"mark\">{mark}</td><td>{id}</td><td>{}{note}</td>\
             <td class=\"points\">{points}</td></tr>",
            text(&check.title)
        );
    }
    page.push_str("</table>");
    // What failed, with the evidence and the run it judged.
    let limit = CAPS.limit(report);
    let mut shown = vec![false; pictures.runs.len()];
    let failed: Vec<&CheckResult> = report
        .checks
        .iter()
        .filter(|c| matches!(c.status, Status::Failed | Status::Error))
        .collect();
    if !failed.is_empty() {
        page.push_str("<h2>What to fix</h2>");
    }
    for check in failed {
        let (mark, class) = status_mark(check.status);
        let _ = write!(
            page,
            "<section class=\"check {class}\" id=\"{}\"><h3><span class=\"mark\">{mark}</span> \
             {} — {} ({}/{})</h3>",
            anchor(&check.id),
            text(&check.id),
            text(&check.title),
            check.points,
            check.max_points
        );
        let message = if check.status == Status::Error {
            format!(
                "the grader could not run this check (not a verdict on your program; tell \
                 your instructor):\n{}",
                check.message
            )
        } else {
            check.message.clone()
        };
        let _ = write!(
            page,
            "<pre class=\"evidence\">{}</pre>",
            text(&clip(&message, limit))
        );
        if !check.hint.is_empty() {
            let _ = write!(
                page,
                "<p class=\"hint\"><b>Hint:</b> {}</p>",
                text(&check.hint)
            );
        }
        if let Some(&run) = pictures.judged.get(&check.id) {
            figure(
                &mut page,
                pictures,
                run,
                &mut shown,
                "The run this check judged",
            );
        }
        page.push_str("</section>");
    }
    if !pictures.parts.is_empty() {
        page.push_str("<h2>How each part ran</h2>");
        for (part, run) in &pictures.parts {
            let run = *run;
            let _ = write!(page, "<h3>Part {}</h3>", text(part));
            figure(&mut page, pictures, run, &mut shown, "Its run");
        }
        page.push_str(
            "<h2>How to read a timeline</h2><p>Each row is a process (the parent, then its \
             workers in fork order); under them, each band is a channel (a pipe, a FIFO, a \
             queue, a segment, the output). Left to right is the order of events, not their \
             duration. A blue arrow is a fork, a red one a signal, a dashed line a reap; a \
             dotted line drops from a mark to the channel it used; ✕ is a close or a \
             removal, a square the end of a process. A hatched <b>frozen</b> column is where \
             the run hung: each process's blocked call, and the ends it still held. Hover a \
             mark for everything it stands for.</p>",
        );
    }
    page.push_str("</body></html>\n");
    page
}

/// A run's figure the first time the page shows it, a link to it after that.
fn figure(page: &mut String, pictures: &Pictures, run: usize, shown: &mut [bool], caption: &str) {
    let Some(picture) = pictures.runs.get(run) else {
        return;
    };
    let what = format!(
        "part `{}` on {}",
        escape(&stray_controls(&picture.part)),
        escape(&stray_controls(&picture.described))
    );
    if shown[run] {
        let _ = write!(
            page,
            "<p class=\"see\">{caption}: {what}, <a href=\"#run-{run}\">its timeline above</a>.</p>"
        );
        return;
    }
    shown[run] = true;
    let _ = write!(
        page,
        "<figure class=\"timeline\" id=\"run-{run}\"><figcaption>{caption}: {what}</figcaption>\
         <div class=\"scroll\">{}</div></figure>",
        picture.svg
    );
}

fn status_mark(status: Status) -> (&'static str, &'static str) {
    match status {
        Status::Passed => ("✔", "passed"),
        Status::Failed => ("✘", "failed"),
        Status::Skipped => ("–", "skipped"),
        Status::Error => ("!", "error"),
    }
}

/// A check id as an element id: `check-` and the id with anything but letters, digits,
/// `-` and `.` replaced.
fn anchor(id: &str) -> String {
    let safe: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("check-{safe}")
}
