//! Proof that lab 13's rubric grades what it claims: the reference solution gets full marks,
//! the untouched stub gets zero with its `todo!` messages, and each deliberately broken
//! submission fails exactly the checks it breaks.
//!
//! Every submission here is graded twice, with seccomp-filtered tracing and with full
//! tracing (every call stopped), and every check must give the same verdict in both: the
//! filter is an optimisation, never a change in what is graded.

#[macro_use]
mod common;

use common::proof::Lab;

const LAB: Lab = Lab("lab13");

#[test]
fn solutions_score_full_marks() {
    LAB.assert_solutions_score_full_marks(22);
}

#[test]
fn stubs_score_zero_and_show_their_todo_messages() {
    LAB.assert_stubs_score_zero("not yet implemented: step 1:");
}

/// Grades one binary of lab13-broken as `part`; see [`Lab::assert_fixture_fails`].
fn fixture_fails(bin: &str, part: &str, expected: &[&str], saying: &[&str]) {
    LAB.assert_fixture_fails("lab13-broken", bin, part, expected, saying);
}

fixtures! {
    fixture_fails;
    fixture_ring_ok: "ring-ok" as "ring" fails [];
    fixture_ring_no_mutex: "ring-no-mutex" as "ring" fails [
        "ring.exactly-once", "ring.every-run",
    ] saying ["consumed more than once", "hold the mutex"];
    fixture_ring_busy_wait: "ring-busy-wait" as "ring" fails ["ring.no-busy-wait"]
        saying ["ms of CPU time in a run of", "Wait in a call that sleeps"];
    // Everyone blocked on a private copy: the trace settles the count and who printed.
    fixture_ring_private_map: "ring-private-map" as "ring" fails [
        "ring.exactly-once", "ring.every-run", "ring.shared-buffer", "ring.reaps-children",
        "ring.no-busy-wait",
    ] saying ["did not finish within", "is blocked in"];
    fixture_ring_workers_print: "ring-workers-print" as "ring" fails ["ring.only-parent-prints"]
        saying ["wrote \"consumed "];
    fixture_ring_no_reap: "ring-no-reap" as "ring" fails ["ring.reaps-children"]
        saying ["never called wait/waitpid"];
}
