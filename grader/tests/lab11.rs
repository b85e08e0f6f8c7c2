//! Proof that lab 11's rubric grades what it claims: the reference solutions get full marks,
//! the untouched stubs get zero with their `todo!` messages, and each deliberately broken
//! submission fails exactly the checks it breaks.
//!
//! Every submission here is graded twice, with seccomp-filtered tracing and with full
//! tracing (every call stopped), and every check must give the same verdict in both: the
//! filter is an optimisation, never a change in what is graded.

#[macro_use]
mod common;

use common::proof::{Lab, explain, failed};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

const LAB: Lab = Lab("lab11");

#[test]
fn solutions_score_full_marks() {
    LAB.assert_solutions_score_full_marks(60);
}

#[test]
fn stubs_score_zero_and_show_their_todo_messages() {
    LAB.assert_stubs_score_zero("not yet implemented");
}

/// Grades one binary of lab11-broken as `part` (see [`Lab::assert_fixture_fails`]), and
/// snapshots the diagnosis of the two classic pipe deadlocks: what a student reads first.
fn fixture_fails(bin: &str, part: &str, expected: &[&str], saying: &[&str]) {
    let report = LAB.assert_fixture_fails("lab11-broken", bin, part, expected, saying);
    if bin == "pipe-slow-workers" {
        assert_prefix_passes_say_so(&report);
        assert_hint(&report, "pipe.two-workers", "call process::exit");
    }
    // The verdict and the diagnosis (the first two lines); the per-process lines after
    // them, and which workers were still writing, vary with scheduling (a worker whose
    // share fits in the pipe finishes).
    if matches!(bin, "pipe-keeps-write-end" | "pipe-waits-before-reading") {
        // The story of the run on `large` is told once, under the first check that fails on
        // it; the others refer to it.
        let tells = |c: &&grader::grade::CheckResult| {
            c.run_failure.as_ref().is_some_and(|f| f.input == "large")
                && !c.message.contains("; see ")
        };
        let check = report.checks.iter().find(tells);
        let message = &check.expect("a check tells the story of `large`").message;
        let head: Vec<&str> = message.lines().take(2).collect();
        insta::with_settings!({filters => vec![
            (r"pid \d+", "pid [PID]"),
            (
                r"(both )?worker \d \(pid \[PID\]\)( and worker \d \(pid \[PID\]\))? (is|are)",
                "[WORKERS] are",
            ),
        ]}, {
            insta::assert_snapshot!(format!("hang_{bin}"), head.join("\n"));
        });
    }
}

fixtures! {
    fixture_fails;
    fixture_pipe_ok: "pipe-ok" as "pipe" fails [];
    fixture_shm_ok: "shm-ok" as "shm" fails [];
    fixture_pipe_workers_print: "pipe-workers-print" as "pipe" fails [
        "pipe.only-parent-prints", "pipe.uses-pipe",
    ];
    fixture_pipe_takes_parents_stdout: "pipe-takes-parents-stdout" as "pipe" fails [
        "pipe.uses-pipe",
    ] saying ["called pidfd_getfd (taking another process's descriptors)"];
    fixture_pipe_worker_crashes: "pipe-worker-crashes" as "pipe" fails [
        "pipe.factors", "pipe.two-workers", "pipe.reaps-workers", "pipe.no-deadlock",
    ] saying ["worker 2 (pid ", "was killed by signal 11 (SIGSEGV)"];
    // Deadlocked everywhere: the workers ended and the parent is blocked for good, so the
    // trace settles two-workers, only-parent-prints and uses-pipe (passed); the write end
    // the parent holds while it reads is its own failure.
    fixture_pipe_keeps_write_end: "pipe-keeps-write-end" as "pipe" fails [
        "pipe.factors", "pipe.closes-unused-ends", "pipe.reaps-workers", "pipe.no-deadlock",
    ] saying [
        "parent (pid ",
        "is a pipe whose write end it still holds itself (fd ",
        "still held fd 4, the write end of the pipe it does not use, when the run was cut",
    ];
    // A deadlock on `large` costs what needs that run's end: reaping and the factors.
    fixture_pipe_waits_before_reading: "pipe-waits-before-reading" as "pipe" fails [
        "pipe.reaps-workers", "pipe.no-deadlock",
    ] saying [
        "to a full pipe while parent (pid ",
        "is blocked in wait4: read before you wait",
        "; see pipe.reaps-workers for why",
    ];
    // Right but too slow for `large`: still computing when the run is cut.
    fixture_pipe_slow_workers: "pipe-slow-workers" as "pipe" fails [
        "pipe.reaps-workers", "pipe.no-deadlock",
    ] saying [
        "the program was still computing after ",
        "worker 1 had used ",
        "is still computing: it had used ",
    ];
    fixture_pipe_wrong_factors: "pipe-wrong-factors" as "pipe" fails [
        "pipe.factors", "pipe.no-deadlock",
    ];
    fixture_pipe_three_workers: "pipe-three-workers" as "pipe" fails ["pipe.two-workers"];
    fixture_pipe_no_wait: "pipe-no-wait" as "pipe" fails ["pipe.reaps-workers"];
    fixture_pipe_tempfile: "pipe-tempfile" as "pipe" fails [
        "pipe.uses-pipe", "pipe.closes-unused-ends",
    ];
    fixture_pipe_no_validate: "pipe-no-validate" as "pipe" fails ["pipe.rejects-bad-input"];
    fixture_pipe_leaks_read_end: "pipe-leaks-read-end" as "pipe" fails ["pipe.closes-unused-ends"];
    fixture_shm_no_shmdt: "shm-no-shmdt" as "shm" fails ["shm.detaches"];
    fixture_shm_no_rmid: "shm-no-rmid" as "shm" fails ["shm.removes-segment"];
    fixture_shm_workers_print: "shm-workers-print" as "shm" fails ["shm.only-parent-prints"];
    fixture_shm_uses_pipe: "shm-uses-pipe" as "shm" fails [
        "shm.uses-sysv-shm", "shm.detaches", "shm.removes-segment",
    ];
    fixture_shm_no_wait: "shm-no-wait" as "shm" fails ["shm.reaps-workers"];
    fixture_posix_ok: "posix-ok" as "posix" fails [];
    fixture_posix_no_unlink: "posix-no-unlink" as "posix" fails ["posix.unlinks"] saying [
        "was left behind (by hand: rm /dev/shm/",
    ];
    fixture_posix_private_map: "posix-private-map" as "posix" fails [
        "posix.factors", "posix.uses-posix-shm", "posix.unmaps", "posix.large",
    ] saying ["with MAP_SHARED"];
    fixture_posix_no_munmap: "posix-no-munmap" as "posix" fails ["posix.unmaps"] saying [
        "still mapped at",
    ];
    fixture_posix_workers_print: "posix-workers-print" as "posix" fails [
        "posix.only-parent-prints",
    ];
}

/// A check's hint names the calls of the program's language (`hint-c` for C).
fn assert_hint(report: &grader::grade::Report, id: &str, saying: &str) {
    let check = report.checks.iter().find(|c| c.id == id).unwrap();
    assert!(check.hint.contains(saying), "{id}: {}", check.hint);
}

/// The checks a program too slow for `large` keeps are the ones its trace settles, and each
/// says it was judged on a run that did not finish.
fn assert_prefix_passes_say_so(report: &grader::grade::Report) {
    for id in [
        "pipe.two-workers",
        "pipe.only-parent-prints",
        "pipe.uses-pipe",
        "pipe.closes-unused-ends",
    ] {
        let check = report.checks.iter().find(|c| c.id == id).unwrap();
        assert!(
            check
                .note
                .starts_with("judged on what the run on `large` did before it was cut after "),
            "{id}: {:?}",
            check.note
        );
    }
}

fn c_fixture(name: &str) -> PathBuf {
    common::compile_c(
        &common::root().join(format!("grader/fixtures/c/{name}.c")),
        &[],
    )
}

#[test]
fn c_programs_written_to_the_contract_score_full_marks() {
    let exes = BTreeMap::from([
        ("pipe".to_string(), c_fixture("pipe")),
        ("shm".to_string(), c_fixture("shm")),
    ]);
    let report = LAB.grade_both(exes, 1.0);
    assert_eq!(report.score, 40, "{}", explain(&report));
}

#[test]
fn broken_c_programs_fail_their_checks() {
    let exes = BTreeMap::from([
        ("pipe".to_string(), c_fixture("pipe-workers-print")),
        ("shm".to_string(), c_fixture("shm-no-rmid")),
    ]);
    let report = LAB.grade_both(exes, 1.0);
    let expected: BTreeSet<String> = [
        "pipe.only-parent-prints",
        "pipe.uses-pipe",
        "shm.removes-segment",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(failed(&report), expected, "{}", explain(&report));
}

/// The activity's own first loop (`i <= n/2`), in C: the IPC is right, the workers are too
/// slow for `large` and still writing as they find factors when the run is cut. It loses the
/// points of what needs that run's end, nothing else.
#[test]
fn a_slow_c_program_loses_only_end_dependent_points() {
    let exes = BTreeMap::from([("pipe".to_string(), c_fixture("pipe-slow"))]);
    let report = LAB.grade_both(exes, 0.4);
    let expected: BTreeSet<String> = ["pipe.reaps-workers", "pipe.no-deadlock"]
        .into_iter()
        .map(String::from)
        .collect();
    assert_eq!(failed(&report), expected, "{}", explain(&report));
    assert_prefix_passes_say_so(&report);
    assert_hint(&report, "pipe.two-workers", "with _exit(0)");
    // Not a deadlock: the parent waits for writers that are still at work.
    let reaps = report.checks.iter().find(|c| c.id == "pipe.reaps-workers");
    let message = &reaps.unwrap().message;
    assert!(
        message.contains("waiting for the pipe's writers, worker 1 (pid ")
            && message.contains("who are still computing")
            && !message.contains("end-of-file never comes"),
        "{message}"
    );
}

/// A report names the isolation its runs had, not the machine's best: grading forced into
/// the fallback says `fallback` even where namespaces are available.
#[test]
fn the_report_names_the_isolation_its_runs_had() {
    use grader::grade::{GradeOptions, Grading};
    let lab = Lab("lab11");
    let exes = lab.package_exes("lab11-solution");
    let pipe = BTreeMap::from([("pipe".to_string(), exes["pipe"].clone())]);
    let options = GradeOptions {
        isolation: Some(grader::run::Isolation::Fallback),
        ..GradeOptions::default()
    };
    let report = Grading::new(lab.rubric(), pipe, options).grade_all(2);
    assert_eq!(report.isolation, "fallback", "{}", explain(&report));
    assert_eq!(report.score, report.max_score, "{}", explain(&report));
}
