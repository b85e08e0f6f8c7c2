//! `grader batch` and `grader export-template` as an instructor meets them: a folder of
//! synthetic submissions graded into a gradebook (real scores, a build failure, tampering,
//! a leak, a deadline), a second run that skips everything, and the student template.

use assert_cmd::Command;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn kit() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn grader() -> Command {
    let mut cmd = Command::cargo_bin("grader").expect("the grader binary is built");
    cmd.current_dir(kit()).timeout(Duration::from_secs(900));
    cmd
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// A submission holding only the student crate's sources (what the batch overlays).
fn stub_submission(dir: &Path) {
    copy_dir(&kit().join("labs/lab11/src"), &dir.join("labs/lab11/src"));
}

/// The reference solutions copied over the stubs.
fn solve(dir: &Path) {
    for part in ["pipe", "shm", "posix"] {
        std::fs::copy(
            kit().join(format!("solutions/lab11/src/bin/{part}.rs")),
            dir.join(format!("labs/lab11/src/bin/{part}.rs")),
        )
        .unwrap();
    }
}

fn git(dir: &Path, args: &[&str], date: &str) {
    let status = std::process::Command::new("git")
        .args([
            "-c",
            "user.name=Student",
            "-c",
            "user.email=student@example.org",
        ])
        .args([
            "-c",
            "commit.gpgsign=false",
            "-c",
            "init.defaultBranch=main",
        ])
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_AUTHOR_DATE", date)
        .env("GIT_COMMITTER_DATE", date)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("git runs");
    assert!(status.success(), "git {args:?}");
}

/// Six submissions:
/// - `a-template`: a full clone of the exported student template, solved (60, not tampered);
/// - `b-git`: a git history, solved before the deadline, broken by a later commit (60, 1 late);
/// - `c-stub`: the stubs untouched (0);
/// - `d-broken`: solved, except that shm.rs does not compile (40: pipe and posix score);
/// - `e-tampered`: solved, but edits the rubric test and adds a test file (60, tampered);
/// - `f-leaky`: solved, except that shm never removes its segment.
/// - `g-hangs`: solved, except that the pipe part's parent keeps the write end and hangs.
fn make_submissions(root: &Path) -> PathBuf {
    let subs = root.join("subs");

    let a = subs.join("a-template");
    grader()
        .args(["export-template"])
        .arg(&a)
        .assert()
        .success();
    solve(&a);

    let b = subs.join("b-git");
    stub_submission(&b);
    solve(&b);
    git(&b, &["init", "-q"], "2024-01-01T10:00:00Z");
    git(&b, &["add", "-A"], "2024-01-01T10:00:00Z");
    git(
        &b,
        &["commit", "-q", "-m", "solved"],
        "2024-01-01T10:00:00Z",
    );
    write(
        &b.join("labs/lab11/src/bin/pipe.rs"),
        "fn main() { oops }\n",
    );
    git(
        &b,
        &["commit", "-q", "-am", "late and broken"],
        "2024-03-01T10:00:00Z",
    );

    stub_submission(&subs.join("c-stub"));

    let d = subs.join("d-broken");
    stub_submission(&d);
    solve(&d);
    write(
        &d.join("labs/lab11/src/bin/shm.rs"),
        "fn main() { let n: u32 = \"not a number\"; }\n",
    );

    let e = subs.join("e-tampered");
    stub_submission(&e);
    solve(&e);
    let rubric_test = std::fs::read_to_string(kit().join("labs/lab11/tests/rubric.rs")).unwrap();
    write(
        &e.join("labs/lab11/tests/rubric.rs"),
        &format!("{rubric_test}\n// every test passes, promise\n"),
    );
    write(
        &e.join("labs/lab11/tests/<img src=x onerror=alert(1)>.rs"),
        "fn main() {}\n",
    );

    let f = subs.join("f-leaky");
    stub_submission(&f);
    solve(&f);
    let shm = f.join("labs/lab11/src/bin/shm.rs");
    let source = std::fs::read_to_string(&shm).unwrap();
    let removal = "libc::shmctl(segment.id, libc::IPC_RMID, std::ptr::null_mut())";
    assert_eq!(
        source.matches(removal).count(),
        1,
        "the solution removes its segment once"
    );
    std::fs::write(&shm, source.replace(removal, "0")).unwrap();

    let g = subs.join("g-hangs");
    stub_submission(&g);
    solve(&g);
    let pipe = g.join("labs/lab11/src/bin/pipe.rs");
    let source = std::fs::read_to_string(&pipe).unwrap();
    let close = "drop(pipe.write_end);";
    assert_eq!(
        source.matches(close).count(),
        1,
        "the solution closes it once"
    );
    // The parent keeps its write end: it never sees end-of-file, every good run hangs.
    std::fs::write(
        &pipe,
        source.replace(close, "std::mem::forget(pipe.write_end);"),
    )
    .unwrap();
    subs
}

/// The CSV with the commit columns redacted (hashes and times are not the point).
fn redact_csv(text: &str) -> String {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let headers = reader.headers().unwrap().clone();
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(&headers).unwrap();
    for row in reader.records() {
        let row = row.unwrap();
        let fields: Vec<String> = headers
            .iter()
            .zip(row.iter())
            .map(|(column, value)| match column {
                "commit" | "commit_time" if !value.is_empty() => format!("[{column}]"),
                _ => value.to_string(),
            })
            .collect();
        writer.write_record(&fields).unwrap();
    }
    String::from_utf8(writer.into_inner().unwrap()).unwrap()
}

fn rows(csv_text: &str) -> Vec<std::collections::BTreeMap<String, String>> {
    let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
    let headers = reader.headers().unwrap().clone();
    reader
        .records()
        .map(|row| {
            let row = row.unwrap();
            headers
                .iter()
                .zip(row.iter())
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

#[test]
fn batch_grades_every_submission_then_skips_the_unchanged() {
    let temp = tempfile::tempdir().unwrap();
    let subs = make_submissions(temp.path());
    let out = temp.path().join("grades");
    let args = |cmd: &mut Command| {
        cmd.args(["batch", "lab11"])
            .arg(&subs)
            .arg("--out")
            .arg(&out)
            .args(["--jobs", "2", "--deadline", "2024-02-01T00:00:00+00:00"])
            // The hanging submission fails in 2 s per run instead of 10.
            .args(["--timeout-scale", "0.2"]);
    };

    let mut first = grader();
    args(&mut first);
    let output = first.output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("7 submissions: 7 graded, 0 unchanged"),
        "{stderr}"
    );

    let csv_text = std::fs::read_to_string(out.join("grades.csv")).unwrap();
    let rows = rows(&csv_text);
    let row = |student: &str| rows.iter().find(|r| r["student"] == student).unwrap();
    assert_eq!(rows.len(), 7);
    for solved in ["a-template", "b-git", "e-tampered"] {
        assert_eq!(row(solved)["score"], "60", "{solved}: {csv_text}");
        assert_eq!(row(solved)["build"], "ok");
    }
    assert_eq!(
        row("a-template")["tampered"],
        "no",
        "a template clone is not tampering"
    );
    assert_eq!(row("b-git")["late_commits"], "1");
    assert_eq!(row("b-git")["commit"].len(), 40);
    assert!(row("b-git")["commit_time"].starts_with("2024-01-01T10:00:00"));
    assert_eq!(row("a-template")["commit"], "");
    assert_eq!(row("c-stub")["score"], "0");
    assert_eq!(row("c-stub")["build"], "ok");
    // One part that does not compile costs only its own points.
    assert_eq!(row("d-broken")["score"], "40", "{csv_text}");
    assert_eq!(row("d-broken")["build"], "partial");
    assert_eq!(
        row("d-broken")["pipe.factors"],
        row("a-template")["pipe.factors"]
    );
    assert_eq!(row("d-broken")["shm.factors"], "0");
    assert_eq!(row("e-tampered")["tampered"], "yes");
    assert!(
        row("e-tampered")["tampered_files"].contains("modified labs/lab11/tests/rubric.rs"),
        "{csv_text}"
    );
    for clean in [
        "a-template",
        "b-git",
        "c-stub",
        "d-broken",
        "f-leaky",
        "g-hangs",
    ] {
        assert_eq!(row(clean)["tampered"], "no", "{clean}");
    }
    // The twin without tampering gets exactly the same points, check by check.
    let checks: Vec<&String> = rows[0]
        .keys()
        .filter(|k| k.starts_with("pipe.") || k.starts_with("shm.") || k.starts_with("posix."))
        .collect();
    assert_eq!(checks.len(), 26);
    for check in &checks {
        assert_eq!(
            row("e-tampered")[*check],
            row("a-template")[*check],
            "{check}"
        );
    }
    assert_eq!(row("f-leaky")["shm.removes-segment"], "0");
    assert_eq!(row("f-leaky")["pipe.factors"], "4");
    assert_eq!(row("f-leaky")["score"], "58");
    // A hang is a graded result: the pipe part's good runs time out, and cost what needs
    // their end and the write end the parent kept; what the trace settles still scores.
    assert_eq!(row("g-hangs")["build"], "ok");
    assert_eq!(row("g-hangs")["pipe.factors"], "0");
    assert_eq!(row("g-hangs")["pipe.closes-unused-ends"], "0");
    assert_eq!(row("g-hangs")["pipe.rejects-bad-input"], "2");
    assert_eq!(row("g-hangs")["pipe.two-workers"], "2");
    assert_eq!(row("g-hangs")["pipe.uses-pipe"], "3");
    assert_eq!(row("g-hangs")["score"], "49");

    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("grades.json")).unwrap()).unwrap();
    let submissions = json["submissions"].as_array().unwrap();
    assert_eq!(submissions.len(), 7);
    let hung = submissions
        .iter()
        .find(|s| s["student"] == "g-hangs")
        .unwrap();
    let message = hung["report"]["checks"][0]["message"].as_str().unwrap();
    assert!(message.contains("did not finish within 2 s"), "{message}");
    assert!(submissions.iter().all(|s| s["cached"] == false));
    let broken = submissions
        .iter()
        .find(|s| s["student"] == "d-broken")
        .unwrap();
    for check in broken["report"]["checks"].as_array().unwrap() {
        let message = check["message"].as_str().unwrap();
        if check["part"] == "shm" {
            // The file, the first error, rustc's own lines marked as quoted.
            assert!(
                message.starts_with("labs/lab11/src/bin/shm.rs did not compile (1 error):\n│ ")
                    && message.contains("error[E0308]: mismatched types"),
                "{message}"
            );
        } else {
            assert_eq!(check["status"], "passed", "{check}");
        }
    }
    let stub = submissions
        .iter()
        .find(|s| s["student"] == "c-stub")
        .unwrap();
    assert!(
        stub["report"]["checks"][0]["message"]
            .as_str()
            .unwrap()
            .contains("not yet implemented")
    );

    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("<svg"), "an inline histogram");
    assert!(
        !html.contains("<script") && !html.contains("<img"),
        "student text is escaped"
    );
    assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;"));
    assert!(html.contains("shm.removes-segment"));

    let feedback = std::fs::read_to_string(out.join("feedback/e-tampered.md")).unwrap();
    insta::assert_snapshot!("feedback_tampered", feedback);
    insta::assert_snapshot!("grades_csv", redact_csv(&csv_text));

    // Nothing changed: nothing is built or graded again, and the gradebook is the same.
    let mut second = grader();
    args(&mut second);
    let output = second.output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("7 submissions: 0 graded, 7 unchanged since the last run (skipped)"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(out.join("grades.csv")).unwrap(),
        csv_text
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("grades.json")).unwrap()).unwrap();
    assert!(
        json["submissions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["cached"] == true)
    );
}

#[test]
fn a_build_out_of_time_is_a_graded_failure_and_is_tried_again() {
    let temp = tempfile::tempdir().unwrap();
    let subs = temp.path().join("subs");
    stub_submission(&subs.join("slow"));
    let out = temp.path().join("out");
    for _ in 0..2 {
        let output = grader()
            .args(["batch", "lab11"])
            .arg(&subs)
            .arg("--out")
            .arg(&out)
            .args(["--build-timeout", "0"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{stderr}");
        assert!(
            stderr.contains("1 submission: 1 graded, 0 unchanged"),
            "{stderr}"
        );
        let csv_text = std::fs::read_to_string(out.join("grades.csv")).unwrap();
        let row = &rows(&csv_text)[0];
        assert_eq!(
            (row["build"].as_str(), row["score"].as_str()),
            ("failed", "0")
        );
        let feedback = std::fs::read_to_string(out.join("feedback/slow.md")).unwrap();
        assert!(
            feedback.contains("the build took longer than 0 s and was stopped"),
            "{feedback}"
        );
    }
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
fn batch_errors_of_the_grader_exit_2_with_one_line() {
    let temp = tempfile::tempdir().unwrap();
    let subs = temp.path().join("subs");
    stub_submission(&subs.join("someone"));
    let out = temp.path().join("out");
    let (subs, out) = (subs.to_str().unwrap(), out.to_str().unwrap());
    assert_usage_error(
        &["batch", "lab99", subs, "--out", out],
        "unknown lab `lab99`",
    );
    assert_usage_error(
        &["batch", "lab11", "/no/such/folder", "--out", out],
        "does not exist",
    );
    assert_usage_error(
        &["batch", "lab11", subs, "--out", out, "--deadline", "friday"],
        "RFC 3339",
    );
    assert_usage_error(
        &["batch", "lab11", subs, "--out", out, "--jobs", "0"],
        "--jobs",
    );
    let empty = temp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    assert_usage_error(
        &["batch", "lab11", empty.to_str().unwrap(), "--out", out],
        "no submission folders",
    );
    assert_usage_error(
        &["batch", "lab11", subs, "--out", "/"],
        "choose a folder of its own",
    );
    assert_usage_error(
        &["export-template", temp.path().to_str().unwrap()],
        "is not empty",
    );
}

#[test]
fn export_template_leaves_out_the_solutions_and_keeps_a_loadable_workspace() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("template");
    grader()
        .args(["export-template"])
        .arg(&dir)
        .assert()
        .success();
    assert!(!dir.join("solutions").exists());
    assert!(!dir.join("grader/fixtures").exists());
    assert!(!dir.join("grader/tests").exists());
    assert!(!dir.join(".github/workflows/ci.yml").exists());
    assert!(dir.join("labs/lab11/src/bin/pipe.rs").is_file());
    assert!(dir.join("labs/lab11/rubric.toml").is_file());
    assert!(dir.join("grader/src/harness.rs").is_file());
    assert_eq!(
        std::fs::read(dir.join("labs/lab11/src/bin/shm.rs")).unwrap(),
        std::fs::read(kit().join("labs/lab11/src/bin/shm.rs")).unwrap(),
        "the stubs, not the solutions"
    );
    if kit().join(".github/workflows/classroom.yml").is_file() {
        assert!(dir.join(".github/workflows/classroom.yml").is_file());
    }

    let manifest: toml::Table =
        toml::from_str(&std::fs::read_to_string(dir.join("Cargo.toml")).unwrap()).unwrap();
    let workspace = manifest["workspace"].as_table().unwrap();
    let members: Vec<&str> = workspace["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap())
        .collect();
    assert!(members.contains(&"labs/lab11"), "{members:?}");
    assert!(members.contains(&"grader"), "{members:?}");
    assert!(
        members
            .iter()
            .all(|m| !m.starts_with("solutions") && !m.contains("fixtures")),
        "{members:?}"
    );
    assert!(!workspace.contains_key("default-members"));
    let grader_manifest = std::fs::read_to_string(dir.join("grader/Cargo.toml")).unwrap();
    assert!(!grader_manifest.contains("[[bench]]"), "{grader_manifest}");
    let lock = std::fs::read_to_string(dir.join("Cargo.lock")).unwrap();
    assert!(
        !lock.contains("name = \"lab11-solution\""),
        "cargo pruned the lock file"
    );
}

/// Slow (compiles the grader library in the template; about a minute on two cores): the
/// template builds as it is, and its own tests fail only with the stubs' `todo!`s.
#[test]
fn slow_exported_template_fails_only_with_the_stubs_todos() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("template");
    grader()
        .args(["export-template"])
        .arg(&dir)
        .assert()
        .success();
    // This test's own target directory: the dependencies are already built there.
    let target = Path::new(env!("CARGO_BIN_EXE_grader"))
        .ancestors()
        .nth(2)
        .unwrap()
        .to_path_buf();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = std::process::Command::new(cargo)
        .args(["test", "--offline", "-p", "lab11"])
        .current_dir(&dir)
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "the stubs cannot pass:\n{stdout}");
    assert!(
        !stderr.contains("error[E") && !stderr.contains("could not compile"),
        "the template compiles:\n{stderr}"
    );
    assert!(stdout.contains("not yet implemented"), "{stdout}\n{stderr}");
    let failures: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("test ") && l.ends_with("FAILED"))
        .collect();
    assert!(!failures.is_empty(), "{stdout}");
    // Every failing rubric test explains itself with a todo! message.
    let explained = stdout.matches("not yet implemented").count();
    assert!(explained >= failures.len(), "{stdout}");
    assert!(stdout.contains("lab11: 0/60 points"), "{stdout}");
}
