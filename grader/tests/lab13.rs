//! Proof that lab 13's rubric grades what it claims: the reference solution gets full marks,
//! the untouched stub gets zero with its `todo!` messages, and each deliberately broken
//! submission fails exactly the checks it breaks.
//!
//! Every submission here is graded twice, with seccomp-filtered tracing and with full
//! tracing (every call stopped), and every check must give the same verdict in both: the
//! filter is an optimisation, never a change in what is graded.

mod common;

use grader::grade::{GradeOptions, Grading, Report, Status};
use grader::rubric::Rubric;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

fn rubric() -> Rubric {
    Rubric::load(&common::root().join("labs/lab13/rubric.toml")).expect("lab13's rubric loads")
}

fn grade(exes: BTreeMap<String, PathBuf>, full: bool, timeout_scale: f64) -> Report {
    let options = GradeOptions {
        full,
        timeout_scale,
        ..GradeOptions::default()
    };
    Grading::new(rubric(), exes, options).grade_all(2)
}

/// Grades in filtered and in full tracing, asserts that every check has the same verdict in
/// both, and returns the filtered report.
fn grade_both(exes: BTreeMap<String, PathBuf>, timeout_scale: f64) -> Report {
    let filtered = grade(exes.clone(), false, timeout_scale);
    let full = grade(exes, true, timeout_scale);
    assert_eq!(filtered.tracing, "filtered");
    assert_eq!(full.tracing, "full");
    let verdicts = |report: &Report| -> Vec<(String, Status)> {
        report
            .checks
            .iter()
            .map(|c| (c.id.clone(), c.status))
            .collect()
    };
    assert_eq!(
        verdicts(&filtered),
        verdicts(&full),
        "filtered and full tracing disagree\n--- filtered\n{}\n--- full\n{}",
        explain(&filtered),
        explain(&full)
    );
    filtered
}

/// Part name → executable, from a package's `src/bin/<part>.rs`.
fn package_exes(package: &str) -> BTreeMap<String, PathBuf> {
    let bins = common::package_bins(package);
    rubric()
        .parts
        .iter()
        .map(|(part, spec)| (part.clone(), bins[&spec.bin].clone()))
        .collect()
}

fn failed(report: &Report) -> BTreeSet<String> {
    report
        .checks
        .iter()
        .filter(|c| c.status != Status::Passed && c.status != Status::Skipped)
        .map(|c| c.id.clone())
        .collect()
}

fn explain(report: &Report) -> String {
    grader::report::human(report)
}

#[test]
fn solutions_score_full_marks() {
    let report = grade_both(package_exes("lab13-solution"), 1.0);
    assert_eq!(report.score, report.max_score, "{}", explain(&report));
    assert_eq!(report.max_score, 22);
}

#[test]
fn stubs_score_zero_and_show_their_todo_messages() {
    let report = grade_both(package_exes("lab13"), 1.0);
    assert_eq!(report.score, 0, "{}", explain(&report));
    for check in &report.checks {
        assert_eq!(check.status, Status::Failed, "{}", check.id);
        assert!(
            check.message.contains("not yet implemented: step 1:"),
            "{}: {}",
            check.id,
            check.message
        );
    }
}

fn fixture(bin: &str) -> PathBuf {
    common::package_bins("lab13-broken")
        .get(bin)
        .unwrap_or_else(|| panic!("lab13-broken has no binary {bin}"))
        .clone()
}

/// Grades one fixture binary of the lab13-broken crate as its part, compares the failed
/// checks with the expected ones, and looks for each expected phrase in some failure message.
fn assert_fixture_fails(bin: &str, part: &str, expected: &[&str], saying: &[&str]) {
    let exes = BTreeMap::from([(part.to_string(), fixture(bin))]);
    let report = grade_both(exes, 0.4);
    let expected: BTreeSet<String> = expected.iter().map(|s| s.to_string()).collect();
    assert_eq!(failed(&report), expected, "{}", explain(&report));
    for check in &report.checks {
        if check.part != part {
            assert_eq!(check.status, Status::Skipped, "{}", check.id);
        }
    }
    for phrase in saying {
        assert!(
            report.checks.iter().any(|c| c.message.contains(phrase)),
            "no failure message says {phrase:?}:\n{}",
            explain(&report)
        );
    }
}

macro_rules! fixtures {
    ($($name:ident: $bin:literal as $part:literal fails [$($check:literal),* $(,)?]
        $(saying [$($phrase:literal),* $(,)?])?;)*) => {
        $(
            #[test]
            fn $name() {
                assert_fixture_fails($bin, $part, &[$($check),*], &[$($($phrase),*)?]);
            }
        )*
    };
}

fixtures! {
    fixture_ring_ok: "ring-ok" as "ring" fails [];
    fixture_ring_no_mutex: "ring-no-mutex" as "ring" fails [
        "ring.exactly-once", "ring.every-run",
    ] saying ["consumed more than once", "hold the mutex"];
    fixture_ring_busy_wait: "ring-busy-wait" as "ring" fails ["ring.no-busy-wait"]
        saying ["ms of CPU time in a run of", "Wait in sem_wait"];
    fixture_ring_private_map: "ring-private-map" as "ring" fails [
        "ring.exactly-once", "ring.every-run", "ring.process-count", "ring.only-parent-prints",
        "ring.shared-buffer", "ring.reaps-children", "ring.no-busy-wait",
    ] saying ["did not finish within", "is blocked in"];
    fixture_ring_workers_print: "ring-workers-print" as "ring" fails ["ring.only-parent-prints"]
        saying ["wrote \"consumed "];
    fixture_ring_no_reap: "ring-no-reap" as "ring" fails ["ring.reaps-children"]
        saying ["never called wait/waitpid"];
}
