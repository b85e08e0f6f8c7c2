//! Proof that lab 14's rubric grades what it claims: the reference solutions get full marks,
//! the untouched stubs get zero with their `todo!` messages, each deliberately broken
//! submission fails exactly the checks it breaks, and the racy ones fail the forced-ordering
//! checks on every run, not by luck.
//!
//! Every submission here is graded twice, with seccomp-filtered tracing and with full
//! tracing (every call stopped), and every check must give the same verdict in both.

#[macro_use]
mod common;

use common::proof::{Lab, explain};
use grader::grade::{GradeOptions, Grading, Status};
use std::collections::BTreeMap;

const LAB: Lab = Lab("lab14");

#[test]
fn solutions_score_full_marks() {
    LAB.assert_solutions_score_full_marks(40);
}

#[test]
fn stubs_score_zero_and_show_their_todo_messages() {
    LAB.assert_stubs_score_zero("not yet implemented: step 1:");
}

/// The grader reaches the server over TCP however the run is fenced off: in a network
/// namespace of the run's own (entered by the client thread, as root), on the machine's
/// loopback (user namespaces, where the grader cannot enter the run's namespace; and the
/// fallback).
#[test]
fn the_rpc_solution_scores_full_marks_in_every_isolation() {
    use grader::run::Isolation;
    let mut modes = vec![Isolation::Fallback];
    if grader::run::isolation::user_namespaces_work() {
        modes.push(Isolation::UserNamespaces);
    } else {
        eprintln!("skipped user namespaces: this machine does not allow them");
    }
    let exes = BTreeMap::from([(
        "rpc".to_string(),
        LAB.package_exes("lab14-solution")["rpc"].clone(),
    )]);
    for isolation in modes {
        let options = GradeOptions {
            isolation: Some(isolation),
            ..GradeOptions::default()
        };
        let report = Grading::new(LAB.rubric(), exes.clone(), options).grade_all(2);
        assert_eq!(
            report.score,
            report.max_score,
            "{isolation:?}\n{}",
            explain(&report)
        );
    }
}

/// Grades one binary of lab14-broken as `part`; see [`Lab::assert_fixture_fails`].
fn fixture_fails(bin: &str, part: &str, expected: &[&str], saying: &[&str]) {
    LAB.assert_fixture_fails("lab14-broken", bin, part, expected, saying);
}

fixtures! {
    fixture_fails;
    fixture_signals_ok: "signals-ok" as "signals" fails [];
    fixture_signals_pause_unblocked: "signals-pause-unblocked" as "signals" fails [
        "signals.early-notifications",
    ] saying ["the grader held parent", "never finished", "blocked in pause"];
    fixture_signals_handler_after_fork: "signals-handler-after-fork" as "signals" fails [
        "signals.early-notifications",
    ] saying ["was killed by SIGUSR1"];
    fixture_signals_print_in_handler: "signals-print-in-handler" as "signals" fails [
        "signals.handlers-are-safe",
    ] saying ["from inside its SIGRTMIN handler"];
    // Its handler counts deliveries, so the two SIGUSR1s that merge while the parent is
    // held leave it spinning for ever too.
    fixture_signals_busy_wait: "signals-busy-wait" as "signals" fails [
        "signals.waits-for-signals", "signals.no-busy-wait", "signals.early-notifications",
    ] saying ["ms of CPU time", "never waited for a signal"];
    fixture_signals_sleep_poll: "signals-sleep-poll" as "signals" fails [
        "signals.waits-for-signals", "signals.early-notifications",
    ] saying ["nanosleep"];
    fixture_signals_poll_nap: "signals-poll-nap" as "signals" fails [
        "signals.waits-for-signals", "signals.early-notifications",
    ] saying ["poll"];
    fixture_signals_no_ack: "signals-no-ack" as "signals" fails ["signals.handshake"]
        saying ["never signalled worker 1"];
    fixture_signals_worker_pause: "signals-worker-pause" as "signals" fails [
        "signals.early-acks",
    ] saying ["the grader held worker", "blocked in pause"];
    fixture_rpc_ok: "rpc-ok" as "rpc" fails [];
    fixture_rpc_dies_on_bad_frame: "rpc-dies-on-bad-frame" as "rpc" fails ["rpc.bad-frames"]
        saying ["the server is not running"];
    fixture_rpc_serial: "rpc-serial" as "rpc" fails [
        "rpc.replies", "rpc.concurrent", "rpc.bad-frames",
    ] saying ["no reply within"];
    fixture_rpc_no_sleep: "rpc-no-sleep" as "rpc" fails [
        "rpc.replies", "rpc.concurrent", "rpc.shutdown",
    ] saying ["a sleep answered at once did not sleep"];
    fixture_rpc_keeps_socket_file: "rpc-keeps-socket-file" as "rpc" fails [
        "rpc.removes-socket-file",
    ] saying ["rpc.sock"];
    fixture_rpc_zombies: "rpc-zombies" as "rpc" fails ["rpc.no-zombies"] saying ["zombies"];
    fixture_rpc_dies_on_sigterm: "rpc-dies-on-sigterm" as "rpc" fails [
        "rpc.shutdown", "rpc.removes-socket-file",
    ];
    fixture_rpc_wrong_call_id: "rpc-wrong-call-id" as "rpc" fails [
        "rpc.replies", "rpc.concurrent", "rpc.bad-frames", "rpc.no-zombies", "rpc.shutdown",
        "rpc.removes-socket-file",
    ] saying ["call id 0"];
    fixture_rpc_no_reply_to_unknown: "rpc-no-reply-to-unknown" as "rpc" fails [
        "rpc.replies", "rpc.bad-frames",
    ] saying ["closed the connection without replying"];
}

/// The racy fixtures pass ordinary runs by luck (their workers take 100 ms, so the parent is
/// usually ready in time); the forced orderings make them fail on every run. Graded many
/// times over, the forced-ordering check fails every time, and the solution passes it
/// every time.
#[test]
fn forced_orderings_fail_racy_programs_on_every_run() {
    const RUNS: usize = 6;
    let fixtures = [
        ("signals-pause-unblocked", "signals.early-notifications"),
        ("signals-handler-after-fork", "signals.early-notifications"),
        ("signals-worker-pause", "signals.early-acks"),
    ];
    let fixture_bins = common::package_bins("lab14-broken");
    let solution = LAB.package_exes("lab14-solution")["signals"].clone();
    for (bin, check_id) in fixtures {
        for (exe, must_pass) in [(&fixture_bins[bin], false), (&solution, true)] {
            let rubric = LAB.rubric();
            let check = rubric
                .checks
                .iter()
                .find(|c| c.id == check_id)
                .expect("the rubric has the check")
                .clone();
            for run in 0..RUNS {
                let options = GradeOptions {
                    timeout_scale: 0.4,
                    ..GradeOptions::default()
                };
                let exes = BTreeMap::from([("signals".to_string(), exe.clone())]);
                let grading = Grading::new(rubric.clone(), exes, options);
                let result = grading.grade_check(&check);
                let passed = result.status == Status::Passed;
                assert_eq!(
                    passed,
                    must_pass,
                    "{} on run {run} of {RUNS}: {check_id} {}: {}",
                    exe.display(),
                    if must_pass { "failed" } else { "passed" },
                    result.message
                );
            }
        }
    }
}
