//! JUnit XML: one test suite per part, one test case per rubric item, for CI systems and
//! test dashboards. It is valid against the Jenkins xunit plugin's `junit-10.xsd` (the
//! strictest of the common JUnit schemas; a copy is in `grader/tests/schemas/`, and a test
//! checks every sample with `xmllint --schema`), and reads in junitparser:
//! - `<testsuites>` has only `name`, `tests`, `failures`, `errors`, `time` (no `skipped`);
//! - each `<testsuite>` has its counts, `skipped`, `time`, `timestamp` (UTC, ISO 8601
//!   without a zone, the form Ant writes) and `hostname`, and its `<properties>`;
//! - each `<testcase>` has `name`, `classname` and `time`: the wall time of the runs its
//!   verdict read (shared runs count in every case that read them, so the cases of a suite
//!   can add up to more than the suite's `time`, which counts each run once);
//! - `<testcase>` may not hold properties, so a case's points are in its `<system-out>`
//!   (`points: 3/4`) and in its suite's properties (`points.<check id>`).
//!
//! JUnit has no points of its own. A check of a part given no executable is a `skipped` case
//! (not left out as in the point-adding formats): a dashboard then shows that the part
//! exists and was not graded.
//!
//! The XML is written here, escaped for XML 1.0 (`&`, `<`, `>`, quotes; line breaks in
//! attributes as character references). Program text was escaped by the checks
//! ([`crate::escape`]) and goes through [`stray_controls`] again, so no character XML 1.0
//! forbids is left; any that still is (from a report made elsewhere) is shown as an escape,
//! never dropped silently. Feedback is capped by [`CAPS`].

use super::{Caps, Context, feedback_within};
use crate::escape::{stray_controls, visible};
use crate::grade::{CheckResult, Report, Status};
use std::fmt::Write as _;
use std::time::Duration;

/// Feedback kept in the XML: 16 KiB per check, 1 MiB in all.
pub const CAPS: Caps = Caps {
    per_check: 16 * 1024,
    total: 1024 * 1024,
};

/// The one-line `message` attribute of a failure, in bytes (the whole text is the element's).
pub const MESSAGE_ATTRIBUTE_MAX: usize = 512;

/// The report as a JUnit XML document, graded now on this machine (no timings).
pub fn render(report: &Report) -> String {
    render_with(report, &Context::now())
}

/// The report as a JUnit XML document with the given timings.
pub fn render_with(report: &Report, context: &Context) -> String {
    let limit = CAPS.limit(report);
    // Parts in order of first appearance, each with its checks.
    let mut parts: Vec<(&str, Vec<&CheckResult>)> = Vec::new();
    for check in &report.checks {
        match parts.iter_mut().find(|(part, _)| *part == check.part) {
            Some((_, checks)) => checks.push(check),
            None => parts.push((&check.part, vec![check])),
        }
    }
    let count = |checks: &[&CheckResult], status: Status| {
        checks.iter().filter(|c| c.status == status).count()
    };
    let all: Vec<&CheckResult> = report.checks.iter().collect();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" time=\"{}\">",
        attr(&report.lab),
        all.len(),
        count(&all, Status::Failed),
        count(&all, Status::Error),
        seconds(context.elapsed),
    );
    let timestamp = context.timestamp();
    let timestamp = timestamp.trim_end_matches('Z');
    for (part, checks) in &parts {
        let part_score: u32 = checks.iter().map(|c| c.points).sum();
        let part_max: u32 = checks
            .iter()
            .filter(|c| c.status != Status::Skipped)
            .map(|c| c.max_points)
            .sum();
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" \
             time=\"{}\" timestamp=\"{timestamp}\" hostname=\"{}\">",
            attr(&format!("{}.{part}", report.lab)),
            checks.len(),
            count(checks, Status::Failed),
            count(checks, Status::Error),
            count(checks, Status::Skipped),
            seconds(context.part_times.get(*part).copied().unwrap_or_default()),
            attr(&context.hostname),
        );
        out.push_str("    <properties>\n");
        let mut property = |name: &str, value: &str| {
            let _ = writeln!(
                out,
                "      <property name=\"{}\" value=\"{}\"/>",
                attr(name),
                attr(value)
            );
        };
        property("lab", &report.lab);
        property("part", part);
        property("score", &part_score.to_string());
        property("max_score", &part_max.to_string());
        property("tracing", &report.tracing);
        property("isolation", &report.isolation);
        for check in checks {
            if check.status != Status::Skipped {
                property(
                    &format!("points.{}", check.id),
                    &format!("{}/{}", check.points, check.max_points),
                );
            }
        }
        out.push_str("    </properties>\n");
        for check in checks {
            testcase(&mut out, report, check, context, limit);
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

fn testcase(
    out: &mut String,
    report: &Report,
    check: &CheckResult,
    context: &Context,
    limit: usize,
) {
    let _ = writeln!(
        out,
        "    <testcase name=\"{}\" classname=\"{}\" time=\"{}\">",
        attr(&check.id),
        attr(&format!("{}.{}", report.lab, check.part)),
        seconds(context.check_time(&check.id)),
    );
    match check.status {
        Status::Passed => {}
        Status::Failed | Status::Error => {
            let (tag, kind) = if check.status == Status::Failed {
                ("failure", "failed")
            } else {
                ("error", "grader error")
            };
            // The attribute is the one line dashboards show; the text is everything.
            let first = check.message.lines().next().unwrap_or("");
            let first = super::clip(first, MESSAGE_ATTRIBUTE_MAX);
            let _ = writeln!(
                out,
                "      <{tag} message=\"{}\" type=\"{kind}\">{}</{tag}>",
                attr(&first),
                text(&feedback_within(check, limit)),
            );
        }
        Status::Skipped => {
            let _ = writeln!(
                out,
                "      <skipped message=\"{}\"/>",
                attr(&format!(
                    "no executable was given for part `{}`",
                    check.part
                ))
            );
        }
    }
    let points = match check.status {
        Status::Skipped => "skipped".to_string(),
        _ => format!("{}/{}", check.points, check.max_points),
    };
    let _ = writeln!(
        out,
        "      <system-out>{}</system-out>",
        text(&format!("{}\npoints: {points}", check.title))
    );
    out.push_str("    </testcase>\n");
}

/// Seconds with three decimals, the form `junit-10.xsd`'s `SUREFIRE_TIME` allows.
fn seconds(duration: Duration) -> String {
    format!("{:.3}", duration.as_secs_f64())
}

/// Element text: `&`, `<`, `>` escaped; line breaks kept.
fn text(raw: &str) -> String {
    escape(raw, false)
}

/// An attribute value: also quotes, and line breaks and tabs as character references (an
/// XML reader would turn them into spaces otherwise).
fn attr(raw: &str) -> String {
    escape(raw, true)
}

fn escape(raw: &str, attribute: bool) -> String {
    let shown = stray_controls(raw);
    let mut out = String::with_capacity(shown.len() + 16);
    for c in shown.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if attribute => out.push_str("&quot;"),
            '\'' if attribute => out.push_str("&apos;"),
            '\n' if attribute => out.push_str("&#10;"),
            '\n' => out.push('\n'),
            // Not allowed in XML 1.0 at all: shown as the escape module would show it.
            c if !allowed_in_xml(c) => out.push_str(&visible(&c.to_string())),
            c => out.push(c),
        }
    }
    out
}

/// XML 1.0's `Char` production.
fn allowed_in_xml(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' | '\u{10000}'..)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_markup_quotes_breaks_and_forbidden_characters() {
        assert_eq!(attr("a<b>&\"'\nc"), "a&lt;b&gt;&amp;&quot;&apos;&#10;c");
        assert_eq!(text("a<b\nc"), "a&lt;b\nc");
        assert_eq!(text("x\u{0}\u{fffe}"), "x\\x00\\u{fffe}");
    }

    #[test]
    fn times_have_three_decimals() {
        assert_eq!(seconds(Duration::from_millis(1234)), "1.234");
        assert_eq!(seconds(Duration::ZERO), "0.000");
    }
}
