//! `report.html`: one self-contained page (no script, no network) with the score
//! histogram as inline SVG, each check's pass rate and the students' table. Every piece of
//! text is escaped: student names, file names and messages are the students' to choose.

use super::{BuildStatus, Gradebook};
use crate::escape::visible;
use crate::grade::Status;
use crate::rubric::Rubric;
use std::fmt::Write as _;

/// Escapes text for HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Percent-encodes a path segment for an `href`.
fn url_segment(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

/// Score buckets: `(low, high, count)`, about ten of them; the last ends at the full score.
pub fn histogram(scores: &[u32], max: u32) -> Vec<(u32, u32, usize)> {
    let width = max.div_ceil(10).max(1);
    let buckets = max / width + 1;
    (0..buckets)
        .map(|i| {
            let low = i * width;
            let high = if i + 1 == buckets {
                max.max(low)
            } else {
                low + width - 1
            };
            let count = scores
                .iter()
                .filter(|&&s| s.min(max) >= low && s.min(max) <= high)
                .count();
            (low, high, count)
        })
        .collect()
}

fn histogram_svg(scores: &[u32], max: u32) -> String {
    let buckets = histogram(scores, max);
    let tallest = buckets.iter().map(|b| b.2).max().unwrap_or(0).max(1);
    let (bar, gap, height, top, bottom) = (44u32, 8u32, 160u32, 20u32, 36u32);
    let width = buckets.len() as u32 * (bar + gap) + gap;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{}" viewBox="0 0 {width} {}"><title>Score histogram</title>"#,
        height + top + bottom,
        height + top + bottom
    );
    let _ = write!(
        svg,
        r##"<line x1="0" y1="{0}" x2="{width}" y2="{0}" stroke="#888"/>"##,
        top + height
    );
    for (i, (low, high, count)) in buckets.iter().enumerate() {
        let x = gap + i as u32 * (bar + gap);
        let h = (*count as u32 * height) / tallest as u32;
        let y = top + height - h;
        let label = if low == high {
            low.to_string()
        } else {
            format!("{low}–{high}")
        };
        let _ = write!(
            svg,
            r##"<rect x="{x}" y="{y}" width="{bar}" height="{h}" fill="#4a7bd0"><title>{label}: {count}</title></rect>"##
        );
        let middle = x + bar / 2;
        if *count > 0 {
            let _ = write!(
                svg,
                r#"<text x="{middle}" y="{}" text-anchor="middle" font-size="12">{count}</text>"#,
                y - 4
            );
        }
        let _ = write!(
            svg,
            r#"<text x="{middle}" y="{}" text-anchor="middle" font-size="11">{label}</text>"#,
            top + height + 16
        );
    }
    svg.push_str("</svg>");
    svg
}

/// The whole page.
pub fn render(rubric: &Rubric, book: &Gradebook) -> String {
    let entries = &book.submissions;
    let scores: Vec<u32> = entries.iter().map(|e| e.report.score).collect();
    let mean = if scores.is_empty() {
        0.0
    } else {
        scores.iter().map(|&s| f64::from(s)).sum::<f64>() / scores.len() as f64
    };
    let mut html = String::new();
    let title = format!("{} — {}: grades", book.lab, book.title);
    let _ = write!(
        html,
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; margin: 1em 0; }}
th, td {{ border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }}
td.num {{ text-align: right; }}
.rate {{ display: inline-block; height: 0.8em; background: #4a7bd0; }}
.bad {{ color: #b00; }}
</style></head><body>
<h1>{}</h1>
"#,
        escape(&title),
        escape(&title)
    );
    let _ = writeln!(
        html,
        "<p>{} submissions, maximum {} points, mean {mean:.1}.{}</p>",
        entries.len(),
        book.max_score,
        book.deadline
            .as_deref()
            .map(|d| format!(" Deadline: {}.", escape(d)))
            .unwrap_or_default()
    );
    let _ = writeln!(
        html,
        "<h2>Scores</h2>\n{}",
        histogram_svg(&scores, book.max_score)
    );

    let _ = writeln!(
        html,
        "<h2>Checks</h2>\n<table><tr><th>check</th><th>title</th><th>points</th><th>passed</th><th>pass rate</th></tr>"
    );
    for check in &rubric.checks {
        let graded: Vec<Status> = entries
            .iter()
            .filter_map(|e| e.report.checks.iter().find(|c| c.id == check.id))
            .map(|c| c.status)
            .filter(|s| *s != Status::Skipped)
            .collect();
        let passed = graded.iter().filter(|s| **s == Status::Passed).count();
        let rate = if graded.is_empty() {
            0.0
        } else {
            passed as f64 * 100.0 / graded.len() as f64
        };
        let _ = writeln!(
            html,
            r#"<tr><td>{}</td><td>{}</td><td class="num">{}</td><td class="num">{passed}/{}</td><td><span class="rate" style="width:{:.0}px"></span> {rate:.0}%</td></tr>"#,
            escape(&check.id),
            escape(&check.title),
            check.points,
            graded.len(),
            rate * 1.5
        );
    }
    html.push_str("</table>\n");

    let _ = writeln!(
        html,
        "<h2>Students</h2>\n<table><tr><th>student</th><th>score</th><th>build</th><th>tampered</th><th>commit</th><th>late commits</th></tr>"
    );
    for entry in entries {
        let build = match entry.build {
            BuildStatus::Ok => "ok".to_string(),
            other => format!(r#"<span class="bad">{}</span>"#, other.as_str()),
        };
        let tampered = if entry.tampered.is_empty() {
            "no".to_string()
        } else {
            format!(
                r#"<span class="bad">yes</span>: {}"#,
                entry
                    .tampered
                    .iter()
                    .map(|t| escape(&visible(t)))
                    .collect::<Vec<_>>()
                    .join("<br>")
            )
        };
        let commit = entry
            .commit
            .as_deref()
            .map(|c| escape(&c[..c.len().min(12)]))
            .unwrap_or_default();
        let _ = writeln!(
            html,
            r#"<tr><td><a href="feedback/{}.md">{}</a></td><td class="num">{}/{}</td><td>{build}</td><td>{tampered}</td><td><code>{commit}</code></td><td class="num">{}</td></tr>"#,
            url_segment(&entry.student),
            escape(&visible(&entry.student)),
            entry.report.score,
            entry.report.max_score,
            entry
                .late_commits
                .map(|n| n.to_string())
                .unwrap_or_default()
        );
    }
    html.push_str("</table>\n</body></html>\n");
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_every_score_once() {
        let buckets = histogram(&[0, 3, 4, 39, 40, 40], 40);
        assert_eq!(buckets.len(), 11);
        assert_eq!(buckets[0], (0, 3, 2));
        assert_eq!(buckets[1], (4, 7, 1));
        assert_eq!(buckets[9], (36, 39, 1));
        assert_eq!(buckets[10], (40, 40, 2));
        assert_eq!(
            histogram(&[0, 1, 2], 2),
            vec![(0, 0, 1), (1, 1, 1), (2, 2, 1)]
        );
        assert_eq!(histogram(&[0], 0), vec![(0, 0, 1)]);
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            escape(r#"<script>"x" & 'y'</script>"#),
            "&lt;script&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/script&gt;"
        );
        assert_eq!(url_segment("a b/<c>"), "a%20b%2F%3Cc%3E");
    }
}
