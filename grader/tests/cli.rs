//! The `grader` command as a user meets it: bad arguments exit 2 with one line, grading
//! exits 0, reports keep their shape (insta snapshots with pids and addresses redacted).

mod common;

use assert_cmd::Command;
use predicates::prelude::*;

fn grader() -> Command {
    let mut cmd = Command::cargo_bin("grader").expect("the grader binary is built");
    cmd.current_dir(common::root())
        .timeout(std::time::Duration::from_secs(120));
    cmd
}

/// One line on stderr, starting `grader: error:`, and exit status 2.
fn assert_usage_error(args: &[&str], needle: &str) {
    let output = grader().args(args).output().unwrap();
    assert_eq!(output.status.code(), Some(2), "{args:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
    assert!(stderr.starts_with("grader: error: "), "{stderr}");
    assert!(stderr.contains(needle), "{args:?}: {stderr}");
}

#[test]
fn bad_arguments_exit_2_with_one_line() {
    assert_usage_error(&["check", "lab99"], "unknown lab `lab99`");
    assert_usage_error(&["check", "lab11", "--exe", "pipe"], "PART=PATH");
    assert_usage_error(
        &["check", "lab11", "--exe", "sockets=/bin/true"],
        "no part `sockets`",
    );
    assert_usage_error(
        &["check", "lab11", "--exe", "pipe=/no/such/file"],
        "no such file",
    );
    assert_usage_error(
        &["check", "lab11", "--exe", "pipe=/etc/passwd"],
        "not executable",
    );
    assert_usage_error(
        &["check", "lab11", "--exe", "pipe=/tmp"],
        "not a regular file",
    );
    let text = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(text.path(), "just text\n").unwrap();
    std::fs::set_permissions(
        text.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let arg = format!("pipe={}", text.path().display());
    assert_usage_error(&["check", "lab11", "--exe", &arg], "not a program");
    assert_usage_error(
        &[
            "check",
            "lab11",
            "--exe",
            "pipe=/bin/true",
            "--exe",
            "pipe=/bin/true",
        ],
        "twice",
    );
    assert_usage_error(&["trace", "--", "/no/such/program"], "no such file");
    assert_usage_error(
        &["trace", "--", "no-such-command-anywhere"],
        "command not found",
    );
    assert_usage_error(&["check", "lab11", "--root", "/"], "not inside the lab kit");
}

#[test]
fn clap_usage_errors_exit_2() {
    grader().assert().code(2); // a bare `grader` prints its help
    assert_usage_error(&["check"], "required");
    assert_usage_error(&["check", "lab11", "--format", "xml"], "xml");
    assert_usage_error(&["bogus"], "unrecognized subcommand");
    assert_usage_error(
        &["check", "lab11", "--max-processes", "0"],
        "--max-processes",
    );
    assert_usage_error(&["check", "lab11", "--timeout-scale=-1"], "not a positive");
    assert_usage_error(&["trace", "--timeout", "0", "--", "true"], "not a positive");
}

#[test]
fn limit_flags_reach_the_runs() {
    let solution = common::package_bins("lab11-solution")["pipe"].clone();
    let graded = |extra: &[&str]| -> serde_json::Value {
        let output = grader()
            .args(["check", "lab11", "--format", "json", "--exe"])
            .arg(format!("pipe={}", solution.display()))
            .args(extra)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(0));
        serde_json::from_slice(&output.stdout).unwrap()
    };
    assert_eq!(graded(&[])["score"], 20);
    // The parent and two workers are three processes: a cap of two stops every good run.
    let capped = graded(&["--max-processes", "2"]);
    assert_eq!(capped["score"], 2, "only rejecting bad input still passes");
    let factors = &capped["checks"][0];
    assert_eq!(factors["id"], "pipe.factors");
    assert!(
        factors["message"]
            .as_str()
            .unwrap()
            .contains("more than the limit"),
        "{factors}"
    );
}

#[test]
fn grading_a_program_that_does_nothing_exits_0_with_zero_points() {
    let output = grader()
        .args([
            "check",
            "lab11",
            "--exe",
            "pipe=/bin/true",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    // The isolation depends on the machine (namespaces as root, fallback elsewhere).
    assert!(["namespaces", "fallback"].contains(&report["isolation"].as_str().unwrap()));
    insta::assert_json_snapshot!("json_report_bin_true", report, {
        ".isolation" => "[isolation]",
    });
}

#[test]
fn human_report_of_workers_that_print() {
    let exe = common::compile_c(
        &common::root().join("grader/fixtures/c/pipe-workers-print.c"),
        &[],
    );
    let output = grader()
        .args(["check", "lab11", "--exe"])
        .arg(format!("pipe={}", exe.display()))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    let text = String::from_utf8_lossy(&output.stdout);
    insta::with_settings!({filters => vec![
        (r"pid \d+", "pid [PID]"),
        (r"isolation: (namespaces|fallback)", "isolation: [ISOLATION]"),
        (r"×\d+", "×[N]"),
    ]}, {
        insta::assert_snapshot!("human_report_workers_print", text);
    });
}

#[test]
fn trace_prints_a_summary_and_passes_the_exit_status_through() {
    grader()
        .args(["trace", "--", "sh", "-c", "echo hi; exit 3"])
        .assert()
        .code(3)
        .stdout("hi\n")
        .stderr(predicate::str::contains("grader trace: 1 process, full"))
        .stderr(predicate::str::contains("exit_group"));
    grader()
        .args(["trace", "--filtered", "--", "sh", "-c", "echo hi"])
        .assert()
        .code(0)
        .stderr(predicate::str::contains("filtered"));
}

#[test]
fn numeric_flags_out_of_range_exit_2_with_one_line() {
    // Every scale that is not a number from 0.01 to 100 (a larger one overflowed a
    // Duration, and panicked).
    for (scale, why) in [
        ("1e308", "is more than 100"),
        ("inf", "is more than 100"),
        ("101", "is more than 100"),
        ("NaN", "not a positive number"),
        ("0", "not a positive number"),
        ("-0.5", "not a positive number"),
        ("0.001", "is less than 0.01"),
        ("twice", "not a positive number"),
    ] {
        let arg = format!("--timeout-scale={scale}");
        assert_usage_error(&["check", "lab11", &arg], why);
        assert_usage_error(&["batch", "lab11", "/no/such/folder", &arg], why);
    }
    // `grader trace --timeout`: positive seconds, at most a day.
    for (secs, why) in [
        ("1e308", "is more than 86400"),
        ("86401", "is more than 86400"),
        ("nan", "not a positive number"),
        ("-1", "not a positive number"),
    ] {
        assert_usage_error(&["trace", "--timeout", secs, "--", "true"], why);
    }
    // Sizes whose byte count would wrap around to a tiny limit, and the CPU time that
    // would mean no limit at all.
    for (flag, value) in [
        ("--max-memory-mib", "17592186044416"),
        ("--max-file-mib", "17592186044416"),
        ("--max-output-kib", "18014398509481984"),
        ("--cpu-secs", "18446744073709551615"),
    ] {
        assert_usage_error(&["check", "lab11", flag, value], flag);
        assert_usage_error(&["trace", flag, value, "--", "true"], flag);
    }
}

#[test]
fn numeric_flags_at_their_bounds_are_taken() {
    grader()
        .args([
            "trace",
            "--timeout",
            "86400",
            "--max-memory-mib",
            "17592186044415",
        ])
        .args(["--cpu-secs", "18446744073709551614", "--", "true"])
        .assert()
        .code(0);
}

#[test]
fn a_bad_rubric_is_one_line_naming_the_file_the_line_and_the_input() {
    let kit = tempfile::tempdir().unwrap();
    std::fs::write(kit.path().join("Cargo.toml"), "[workspace]\n").unwrap();
    let lab = kit.path().join("labs/lab99");
    std::fs::create_dir_all(&lab).unwrap();
    let rubric = common::root().join("labs/lab11/rubric.toml");
    let text = std::fs::read_to_string(rubric)
        .unwrap()
        .replace("lab = \"lab11\"", "lab = \"lab99\"");
    let broken = text.replace(
        "large = { stdin = \"97821761637600\\n\", timeout-secs = 20 }",
        "large = { stdin = \"97821761637600\\n\", timeout-secs = -20 }",
    );
    assert_ne!(broken, text, "the rubric has a `large` input");
    std::fs::write(lab.join("rubric.toml"), &broken).unwrap();
    let line = broken[..broken.find("large = {").unwrap()]
        .matches('\n')
        .count()
        + 1;
    let path = lab.join("rubric.toml");
    let root = kit.path().to_str().unwrap();
    assert_usage_error(
        &["check", "lab99", "--root", root, "--exe", "pipe=/bin/true"],
        &format!("{}:{line}:", path.display()),
    );
    assert_usage_error(
        &["check", "lab99", "--root", root, "--exe", "pipe=/bin/true"],
        "input `large`: timeout-secs `-20` is not a positive number",
    );
}
