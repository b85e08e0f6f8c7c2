//! The autograder formats (`grader check --format classroom|gradescope|junit`): their shapes
//! are what GitHub Classroom's reporter, Gradescope and JUnit readers expect, their totals
//! agree with the report, and student text cannot issue workflow commands in the Actions log.
//!
//! Reports are built by hand (no program runs) except in the one end-to-end test of the CLI.

use base64::Engine as _;
use grader::formats::{classroom, gradescope, junit};
use grader::grade::{CheckResult, Report, Status};
use serde_json::Value;
use std::collections::BTreeSet;

// ------------------------------------------------------------------ sample reports

fn check(id: &str, points: u32, max_points: u32, status: Status, message: &str) -> CheckResult {
    CheckResult {
        id: id.to_string(),
        part: id.split('.').next().unwrap().to_string(),
        title: format!("the {id} check"),
        points,
        max_points,
        status,
        message: message.to_string(),
        hint: if message.is_empty() {
            String::new()
        } else {
            format!("a hint for {id}")
        },
    }
}

/// Totals the way `Report::new` does: skipped checks count in neither.
fn report(checks: Vec<CheckResult>) -> Report {
    let counted = || checks.iter().filter(|c| c.status != Status::Skipped);
    Report {
        lab: "lab11".to_string(),
        title: "Fork to factor".to_string(),
        score: counted().map(|c| c.points).sum(),
        max_score: counted().map(|c| c.max_points).sum(),
        tracing: "filtered".to_string(),
        isolation: "fallback".to_string(),
        checks,
    }
}

fn all_pass() -> Report {
    report(vec![
        check("pipe.factors", 4, 4, Status::Passed, ""),
        check("pipe.uses-pipe", 3, 3, Status::Passed, ""),
        check("shm.factors", 4, 4, Status::Passed, ""),
        check("shm.removes-segment", 2, 2, Status::Passed, ""),
    ])
}

/// What the untouched stubs get: every check fails on the first `todo!`.
fn stubs() -> Report {
    let todo = |step: &str| {
        format!(
            "on input `small` (\"60\"): the program panicked: not yet implemented: {step}\n\
             (exit status 101)"
        )
    };
    report(vec![
        check(
            "pipe.factors",
            0,
            4,
            Status::Failed,
            &todo("read the number"),
        ),
        check(
            "pipe.uses-pipe",
            0,
            3,
            Status::Failed,
            &todo("create the pipe"),
        ),
        check(
            "shm.factors",
            0,
            4,
            Status::Failed,
            &todo("read the number"),
        ),
        check(
            "shm.removes-segment",
            0,
            2,
            Status::Failed,
            &todo("create the segment"),
        ),
    ])
}

/// Part `pipe` graded (a pass, a failure with student output in it, a grader error), part
/// `shm` given no executable.
fn partial() -> Report {
    report(vec![
        check("pipe.factors", 4, 4, Status::Passed, ""),
        check(
            "pipe.only-parent-prints",
            0,
            2,
            Status::Failed,
            "a worker (pid 2) wrote to stdout:\n  \"2 is a factor <&>\"\n::warning::forged",
        ),
        check(
            "pipe.uses-pipe",
            0,
            3,
            Status::Error,
            "cannot trace: operation not permitted",
        ),
        check("shm.factors", 0, 4, Status::Skipped, ""),
        check("shm.removes-segment", 0, 2, Status::Skipped, ""),
    ])
}

fn samples() -> [(&'static str, Report); 3] {
    [
        ("all_pass", all_pass()),
        ("stubs", stubs()),
        ("partial", partial()),
    ]
}

fn count(report: &Report, status: Status) -> usize {
    report.checks.iter().filter(|c| c.status == status).count()
}

fn keys(value: &Value) -> BTreeSet<&str> {
    value
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect()
}

// ------------------------------------------------------------------ shape checks

/// The reporter's contract: version 1, a status, the maximum at the top, and per test the
/// eight fields the command grader writes; skipped checks are left out.
fn assert_classroom_shape(report: &Report, json: &Value) {
    assert_eq!(
        keys(json),
        BTreeSet::from(["version", "status", "max_score", "tests"])
    );
    assert_eq!(json["version"], 1);
    let expected_status = if count(report, Status::Error) > 0 {
        "error"
    } else if count(report, Status::Failed) > 0 {
        "fail"
    } else {
        "pass"
    };
    assert_eq!(json["status"], expected_status);
    assert_eq!(json["max_score"].as_u64(), Some(report.max_score.into()));
    let tests = json["tests"].as_array().expect("tests is an array");
    assert_eq!(
        tests.len(),
        report.checks.len() - count(report, Status::Skipped)
    );
    let mut sum = 0;
    for test in tests {
        assert_eq!(
            keys(test),
            BTreeSet::from([
                "name",
                "status",
                "score",
                "message",
                "test_code",
                "filename",
                "line_no",
                "duration"
            ])
        );
        assert!(test["name"].is_string() && test["message"].is_string());
        assert!(test["test_code"].is_string() && test["filename"].is_string());
        assert!(test["line_no"].is_u64() && test["duration"].is_u64());
        assert!(["pass", "fail", "error"].contains(&test["status"].as_str().unwrap()));
        sum += test["score"].as_u64().expect("score is a number");
    }
    // Classroom's points are Σ tests[].score over max_score: they must be the report's.
    assert_eq!(sum, u64::from(report.score));
    let from_json: Value = serde_json::from_str(&grader::report::json(report)).unwrap();
    assert_eq!(json["max_score"], from_json["max_score"]);
    assert_eq!(sum, from_json["score"].as_u64().unwrap());
}

fn assert_gradescope_shape(report: &Report, json: &Value) {
    assert_eq!(
        keys(json),
        BTreeSet::from([
            "score",
            "output",
            "output_format",
            "test_output_format",
            "tests"
        ])
    );
    assert_eq!(json["score"].as_u64(), Some(report.score.into()));
    assert_eq!(json["output_format"], "md");
    assert_eq!(json["test_output_format"], "text");
    let tests = json["tests"].as_array().unwrap();
    assert_eq!(
        tests.len(),
        report.checks.len() - count(report, Status::Skipped)
    );
    let (mut sum, mut max) = (0, 0);
    let mut numbers = BTreeSet::new();
    for test in tests {
        assert_eq!(
            keys(test),
            BTreeSet::from([
                "name",
                "number",
                "score",
                "max_score",
                "status",
                "output",
                "visibility"
            ])
        );
        let status = test["status"].as_str().unwrap();
        assert!(status == "passed" || status == "failed", "{status}");
        assert_eq!(test["visibility"], "visible");
        assert!(numbers.insert(test["number"].as_str().unwrap().to_string()));
        sum += test["score"].as_u64().unwrap();
        max += test["max_score"].as_u64().unwrap();
    }
    assert_eq!(sum, u64::from(report.score));
    assert_eq!(max, u64::from(report.max_score));
}

/// (testcases, failures, errors, skipped), counted in the elements and checked against the
/// totals the root element declares.
fn junit_counts(xml: &str) -> (usize, usize, usize, usize) {
    let doc = roxmltree::Document::parse(xml).expect("well-formed XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    let cases: Vec<_> = root
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    let with = |tag: &str| {
        cases
            .iter()
            .filter(|case| case.children().any(|n| n.has_tag_name(tag)))
            .count()
    };
    let counts = (cases.len(), with("failure"), with("error"), with("skipped"));
    let attr = |name: &str| root.attribute(name).unwrap().parse::<usize>().unwrap();
    assert_eq!(
        (
            attr("tests"),
            attr("failures"),
            attr("errors"),
            attr("skipped")
        ),
        counts
    );
    for case in &cases {
        let id = case.attribute("name").unwrap();
        let part = id.split('.').next().unwrap();
        assert_eq!(
            case.attribute("classname"),
            Some(format!("lab11.{part}").as_str())
        );
    }
    counts
}

#[test]
fn classroom_results_have_the_reporters_shape_and_the_reports_totals() {
    for (name, report) in samples() {
        let json: Value = serde_json::from_str(&classroom::render(&report)).unwrap();
        assert_classroom_shape(&report, &json);
        // The same result, compact and base64'd, on one `result=` line.
        let line = classroom::github_output(&report);
        let encoded = line
            .strip_prefix("result=")
            .and_then(|rest| rest.strip_suffix('\n'))
            .unwrap_or_else(|| panic!("{name}: not a result= line: {line:?}"));
        assert!(!encoded.contains('\n'), "{name}");
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .unwrap();
        let decoded: Value = serde_json::from_slice(&decoded).unwrap();
        assert_eq!(decoded, json, "{name}");
    }
    let partial: Value = serde_json::from_str(&classroom::render(&partial())).unwrap();
    assert_eq!(partial["status"], "error");
    assert_eq!(partial["max_score"], 9);
    let statuses: Vec<&str> = partial["tests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["pass", "fail", "error"]);
    assert_eq!(
        partial["tests"][0]["test_code"],
        "cargo test -p lab11 -- --exact pipe.factors"
    );
    let stubs: Value = serde_json::from_str(&classroom::render(&stubs())).unwrap();
    assert_eq!(stubs["status"], "fail");
    assert!(
        stubs["tests"][1]["message"]
            .as_str()
            .unwrap()
            .contains("not yet implemented: create the pipe")
    );
}

#[test]
fn gradescope_results_have_the_specs_shape_and_the_reports_totals() {
    for (_, report) in samples() {
        let json: Value = serde_json::from_str(&gradescope::render(&report)).unwrap();
        assert_gradescope_shape(&report, &json);
    }
    let json: Value = serde_json::from_str(&gradescope::render(&partial())).unwrap();
    assert_eq!(json["score"], 4);
    let numbers: Vec<&str> = json["tests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["number"].as_str().unwrap())
        .collect();
    assert_eq!(numbers, ["1.1", "1.2", "1.3"]);
    // A grader error is failed with 0 points and says it is not the student's doing.
    assert_eq!(json["tests"][2]["status"], "failed");
    assert!(
        json["tests"][2]["output"]
            .as_str()
            .unwrap()
            .contains("not a verdict on your program")
    );
    assert!(json["output"].as_str().unwrap().contains("`shm`"));
}

#[test]
fn junit_has_one_case_per_item_with_failures_errors_and_skips() {
    assert_eq!(junit_counts(&junit::render(&all_pass())), (4, 0, 0, 0));
    assert_eq!(junit_counts(&junit::render(&stubs())), (4, 4, 0, 0));
    assert_eq!(junit_counts(&junit::render(&partial())), (5, 1, 1, 2));
    // The failure keeps the student's text intact through XML escaping.
    let xml = junit::render(&partial());
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let failure = doc
        .descendants()
        .find(|n| n.has_tag_name("failure"))
        .unwrap();
    assert_eq!(
        failure.attribute("message"),
        Some("a worker (pid 2) wrote to stdout:")
    );
    assert!(failure.text().unwrap().contains("\"2 is a factor <&>\""));
    assert!(failure.text().unwrap().contains("hint: a hint for"));
}

#[test]
fn snapshots() {
    for (name, report) in samples() {
        insta::assert_snapshot!(format!("classroom_{name}"), classroom::render(&report));
        insta::assert_snapshot!(format!("gradescope_{name}"), gradescope::render(&report));
        insta::assert_snapshot!(format!("junit_{name}"), junit::render(&report));
    }
}

// ------------------------------------------------------------------ the log guard

#[test]
fn guard_log_neutralizes_forged_workflow_commands() {
    let token = "0123456789abcdef0123456789abcdef";
    let forged = concat!(
        "a worker wrote:\n",
        "::notice title=Autograding report::{\"totalPoints\":40,\"maxPoints\":40}\n",
        "   ::notice title=Autograding complete::Points 40/40\n",
        "\x1b[1m::set-output name=result::eyJ9\x1b[0m\n",
        "progress\r::warning::carriage return\n",
        "##[error]old syntax\n",
        "::0123456789abcdef0123456789abcdef::\n",
        "lab11::worker_divisors is fine mid-line\n",
    );
    let guarded = classroom::guard_log(forged, token);
    let lines: Vec<&str> = guarded.lines().collect();
    assert_eq!(
        lines.first(),
        Some(&"::stop-commands::0123456789abcdef0123456789abcdef")
    );
    assert_eq!(lines.last(), Some(&"::0123456789abcdef0123456789abcdef::"));
    let inner = &lines[1..lines.len() - 1];
    // Nothing between the fences reads as a command, even after the blanks the runner skips;
    // the forged end token cannot close the pause early.
    for line in inner {
        let visible = line.trim_start();
        assert!(
            !visible.starts_with("::") && !visible.starts_with("##["),
            "{line:?}"
        );
        assert!(!line.contains('\r') && !line.contains('\x1b'), "{line:?}");
    }
    assert_eq!(
        guarded
            .matches("::0123456789abcdef0123456789abcdef::")
            .count(),
        2,
        "the forged closing line is kept but neutralized"
    );
    // The student still sees what was printed.
    assert!(
        inner.contains(
            &"| ::notice title=Autograding report::{\"totalPoints\":40,\"maxPoints\":40}"
        )
    );
    assert!(inner.contains(&"progress"));
    assert!(inner.contains(&"| ::warning::carriage return"));
    assert!(inner.contains(&"lab11::worker_divisors is fine mid-line"));
    assert_eq!(inner.len(), 9);
}

#[test]
fn tokens_are_random_hex() {
    let (a, b) = (classroom::random_token(), classroom::random_token());
    assert_eq!(a.len(), 32);
    assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
    assert_ne!(a, b);
}

// ------------------------------------------------------------------ the command

fn grader() -> assert_cmd::Command {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf();
    let mut cmd = assert_cmd::Command::cargo_bin("grader").expect("the grader binary is built");
    cmd.current_dir(root)
        .env_remove("GITHUB_OUTPUT")
        .timeout(std::time::Duration::from_secs(120));
    cmd
}

/// Grades `/bin/true` as part `pipe` (it prints nothing, so every pipe check fails and the
/// shm and posix checks are skipped) in the given format; returns stdout.
fn check_bin_true(format: &str) -> String {
    let output = grader()
        .args([
            "check",
            "lab11",
            "--exe",
            "pipe=/bin/true",
            "--format",
            format,
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{format}: {output:?}");
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn cli_formats_agree_with_the_json_report() {
    let reference: Value = serde_json::from_str(&check_bin_true("json")).unwrap();
    let report: Report = serde_json::from_value(reference.clone()).unwrap();
    assert!(report.max_score > 0 && count(&report, Status::Skipped) > 0);

    // classroom: the `result=` line is appended (earlier lines kept) and decodes to the
    // result printed on stdout, whose points are the JSON report's.
    let github_output = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(github_output.path(), "earlier=kept\n").unwrap();
    let output = grader()
        .env("GITHUB_OUTPUT", github_output.path())
        .args(["check", "lab11", "--exe", "pipe=/bin/true"])
        .args(["--format", "classroom"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let written = std::fs::read_to_string(github_output.path()).unwrap();
    let lines: Vec<&str> = written.lines().collect();
    assert_eq!(lines.len(), 2, "{written}");
    assert_eq!(lines[0], "earlier=kept");
    let encoded = lines[1].strip_prefix("result=").expect("a result= line");
    let decoded: Value = serde_json::from_slice(
        &base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .unwrap(),
    )
    .unwrap();
    let sum: u64 = decoded["tests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["score"].as_u64().unwrap())
        .sum();
    assert_eq!(sum, reference["score"].as_u64().unwrap());
    assert_eq!(decoded["max_score"], reference["max_score"]);
    assert_classroom_shape(&report, &decoded);
    let stdout: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(stdout, decoded);
    // The human report went to the log fenced by a stop-commands token.
    let stderr = String::from_utf8(output.stderr).unwrap();
    let first = stderr.lines().next().unwrap();
    let token = first.strip_prefix("::stop-commands::").expect(&stderr);
    assert_eq!(stderr.lines().last(), Some(format!("::{token}::").as_str()));
    assert!(stderr.contains("pipe.factors"));

    // gradescope: same total, one test per graded check.
    let gradescope: Value = serde_json::from_str(&check_bin_true("gradescope")).unwrap();
    assert_eq!(gradescope["score"], reference["score"]);
    assert_gradescope_shape(&report, &gradescope);

    // junit: one case per rubric item, skipped parts as skipped cases.
    let (cases, failures, errors, skipped) = junit_counts(&check_bin_true("junit"));
    assert_eq!(cases, report.checks.len());
    assert_eq!(failures, count(&report, Status::Failed));
    assert_eq!(errors, count(&report, Status::Error));
    assert_eq!(skipped, count(&report, Status::Skipped));
    assert!(failures > 0);
}
