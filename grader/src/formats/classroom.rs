//! GitHub Classroom (discontinued on 2026-08-28; Classroom 50 is its successor, see
//! [`super::classroom50`]): the runner result that `autograding-grading-reporter@v1` reads,
//! the `result=` line that hands it over through `$GITHUB_OUTPUT`, and the guard that keeps
//! student text in the Actions log from issuing workflow commands. Kept for repositories
//! that still run the old reporter.
//!
//! The reporter reads the result from an environment variable, and Linux refuses to start a
//! program with one variable over 128 KiB (`MAX_ARG_STRLEN`): the reporter would not even
//! run. So feedback is capped by [`CAPS`]: with every check failing and every quoted byte
//! doubled by JSON's escaping, the base64 line stays far below that (a test measures it with
//! a 164 KB panic message).
//!
//! The reporter adds up two different things, so partial credit shows in one place only:
//! the points it sends to Classroom are `Σ tests[].score` against the top-level `max_score`
//! (right, with partial credit and weighted checks), while its console line for a runner is
//! `passed tests / all tests × max_score`, which ignores the weights (4-point and 1-point
//! checks count alike). Classroom's dashboard is right; the console total is approximate.

use super::{Caps, Context, counted, display_name, feedback_within};
use crate::grade::{Report, Status};
use base64::Engine as _;
use serde::Serialize;
use std::fmt::Write as _;
use std::fs::OpenOptions;
use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::path::Path;

/// One runner's result, as `classroom-resources/autograding-command-grader@v1` writes it;
/// the reporter reads no other fields.
#[derive(Serialize)]
struct RunnerResult {
    version: u32,
    status: &'static str,
    max_score: u32,
    tests: Vec<Test>,
}

#[derive(Serialize)]
struct Test {
    name: String,
    status: &'static str,
    score: u32,
    message: String,
    /// The reporter prints it as "Test code:": the command that replays this one check.
    test_code: String,
    filename: String,
    /// 0 means "no line": the reporter then prints none.
    line_no: u32,
    /// Milliseconds: the wall time of the runs the check read (the reporter only shows it).
    duration: u64,
}

/// Feedback kept in a runner result: 4 KiB per check, 24 KiB in all.
pub const CAPS: Caps = Caps {
    per_check: 4 * 1024,
    total: 24 * 1024,
};

fn result(report: &Report, context: &Context) -> RunnerResult {
    let limit = CAPS.limit(report);
    let tests: Vec<Test> = counted(report)
        .map(|check| Test {
            name: display_name(check),
            status: status(check.status),
            score: check.points,
            message: feedback_within(check, limit),
            // By the kit's convention the student package is named after its lab, and the
            // harness names each test by its check id.
            test_code: format!("cargo test -p {} -- --exact {}", report.lab, check.id),
            filename: String::new(),
            line_no: 0,
            duration: context.check_time(&check.id).as_millis() as u64,
        })
        .collect();
    // The reporter fails the job on `fail` or `error`; an error (the grader could not run a
    // check) outranks a failure so that the log says whose fault it was.
    let overall = if tests.iter().any(|t| t.status == "error") {
        "error"
    } else if tests.iter().any(|t| t.status == "fail") {
        "fail"
    } else {
        "pass"
    };
    RunnerResult {
        version: 1,
        status: overall,
        max_score: report.max_score,
        tests,
    }
}

fn status(status: Status) -> &'static str {
    match status {
        Status::Passed => "pass",
        // A check with partial credit is still not passed; its score carries the points.
        Status::Failed => "fail",
        Status::Error => "error",
        Status::Skipped => unreachable!("counted() leaves skipped checks out"),
    }
}

/// The runner result as indented JSON (what `--format classroom` prints on stdout).
pub fn render(report: &Report) -> String {
    render_with(report, &Context::now())
}

/// [`render`] with the runs' timings.
pub fn render_with(report: &Report, context: &Context) -> String {
    serde_json::to_string_pretty(&result(report, context))
        .expect("a runner result always serializes")
}

/// The line to append to `$GITHUB_OUTPUT`: `result=` and the base64 of the compact JSON,
/// which the workflow hands to the reporter as `steps.<id>.outputs.result`. Base64 has no
/// newline, so the one-line `name=value` form cannot be broken by student text.
pub fn github_output(report: &Report) -> String {
    github_output_with(report, &Context::now())
}

/// [`github_output`] with the runs' timings.
pub fn github_output_with(report: &Report, context: &Context) -> String {
    let json =
        serde_json::to_string(&result(report, context)).expect("a runner result always serializes");
    format!(
        "result={}\n",
        base64::engine::general_purpose::STANDARD.encode(json)
    )
}

/// Appends [`github_output`]'s line to the file `$GITHUB_OUTPUT` names.
///
/// Student programs inherit that variable and may have written to the file first. The
/// grader writes last (their processes are gone by then), and if they left a line unfinished
/// ours starts on a new one, so the file's last line is always the grader's whole `result=`.
pub fn append_github_output(
    path: &Path,
    report: &Report,
    context: &Context,
) -> std::io::Result<()> {
    let mut file = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(path)?;
    let mut line = github_output_with(report, context);
    if file.metadata()?.len() > 0 {
        let mut last = [0u8; 1];
        file.seek(SeekFrom::End(-1))?;
        file.read_exact(&mut last)?;
        if last[0] != b'\n' {
            line.insert(0, '\n');
        }
    }
    file.write_all(line.as_bytes())
}

/// Wraps text for the Actions log so that nothing in it is run as a workflow command.
///
/// `::stop-commands::TOKEN` makes the runner ignore commands until a line `::TOKEN::`; the
/// token must be unguessable (see [`random_token`]) or student output could end the pause.
/// As a second fence, any line that would still read as a command (`::…` or the older
/// `##[…]`, after the leading blanks the runner skips) gets a visible `| ` in front. ANSI
/// styles are removed first: a log viewer may hide them, and they could hide a `::`.
/// Lone carriage returns end lines too, as they do for the runner.
pub fn guard_log(text: &str, token: &str) -> String {
    let plain = anstream::adapter::strip_str(text).to_string();
    let plain = plain.replace("\r\n", "\n");
    let mut out = String::with_capacity(plain.len() + 2 * token.len() + 40);
    let _ = writeln!(out, "::stop-commands::{token}");
    let body = plain.strip_suffix('\n').unwrap_or(&plain);
    for line in body.split(['\n', '\r']) {
        let visible = line.trim_start_matches(|c: char| {
            c.is_whitespace() || c.is_control() || matches!(c, '\u{200b}'..='\u{200d}' | '\u{feff}')
        });
        if visible.starts_with("::") || visible.starts_with("##[") {
            out.push_str("| ");
        }
        out.push_str(line);
        out.push('\n');
    }
    let _ = writeln!(out, "::{token}::");
    out
}

/// 128 random bits as hex, for [`guard_log`]. The token is printed only after the student's
/// programs have finished, so they cannot learn it in time to close the pause early.
pub fn random_token() -> String {
    let mut bytes = [0u8; 16];
    let from_os = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes));
    if from_os.is_err() {
        // std seeds every RandomState from the operating system's generator.
        use std::hash::{BuildHasher, Hasher};
        for chunk in bytes.chunks_mut(8) {
            let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
            hasher.write_usize(chunk.as_ptr() as usize);
            chunk.copy_from_slice(&hasher.finish().to_le_bytes());
        }
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::{append_github_output, github_output, guard_log};
    use crate::grade::Report;

    #[test]
    fn the_graders_result_line_stays_last_after_an_unfinished_forged_line() {
        let report = Report {
            lab: "lab11".into(),
            title: "t".into(),
            score: 0,
            max_score: 0,
            tracing: "filtered".into(),
            isolation: "fallback".into(),
            checks: Vec::new(),
        };
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), "result=FORGED\nX").unwrap();
        append_github_output(file.path(), &report, &super::Context::now()).unwrap();
        let text = std::fs::read_to_string(file.path()).unwrap();
        assert_eq!(
            text,
            format!("result=FORGED\nX\n{}", github_output(&report))
        );
        assert!(text.ends_with('\n'));
    }

    #[test]
    fn guard_log_fences_even_empty_text_and_keeps_ordinary_lines() {
        assert_eq!(guard_log("", "t0k"), "::stop-commands::t0k\n\n::t0k::\n");
        assert_eq!(
            guard_log("ok\r\n  x::y\n", "t0k"),
            "::stop-commands::t0k\nok\n  x::y\n::t0k::\n"
        );
    }

    #[test]
    fn guard_log_sees_through_invisible_prefixes() {
        let guarded = guard_log("\u{feff}\u{200b}\t::error::x", "t0k");
        assert!(
            guarded.contains("| \u{feff}\u{200b}\t::error::x\n"),
            "{guarded:?}"
        );
    }
}
