//! Proof that lab 12's rubric grades what it claims: the reference solutions get full marks,
//! the untouched stubs get zero with their `todo!` messages, and each deliberately broken
//! submission fails exactly the checks it breaks.
//!
//! Every submission here is graded twice, with seccomp-filtered tracing and with full
//! tracing (every call stopped), and every check must give the same verdict in both: the
//! filter is an optimisation, never a change in what is graded.

#[macro_use]
mod common;

use common::proof::Lab;
use grader::run::{Isolation, Leak};
use std::path::Path;

const LAB: Lab = Lab("lab12");

#[test]
fn solutions_score_full_marks() {
    LAB.assert_solutions_score_full_marks(60);
}

#[test]
fn stubs_score_zero_and_show_their_todo_messages() {
    LAB.assert_stubs_score_zero("not yet implemented: step 1:");
}

/// Grades one binary of lab12-broken as `part`; see [`Lab::assert_fixture_fails`].
fn fixture_fails(bin: &str, part: &str, expected: &[&str], saying: &[&str]) {
    LAB.assert_fixture_fails("lab12-broken", bin, part, expected, saying);
}

fixtures! {
    fixture_fails;
    fixture_fifo_ok: "fifo-ok" as "fifo" fails [];
    fixture_mqueue_ok: "mqueue-ok" as "mqueue" fails [];
    fixture_socket_ok: "socket-ok" as "socket" fails [];
    fixture_fifo_not_removed: "fifo-not-removed" as "fifo" fails ["fifo.removes-fifo"] saying [
        "was never removed: a FIFO is a file",
        "(by hand: rm /tmp/lab12-broken-",
    ];
    fixture_fifo_linked: "fifo-linked" as "fifo" fails ["fifo.removes-fifo"] saying [
        "was left behind",
    ];
    fixture_fifo_uses_plain_pipe: "fifo-uses-plain-pipe" as "fifo" fails [
        "fifo.uses-fifo", "fifo.removes-fifo",
    ] saying [
        "made a pipe (pipe); in this part the results travel through a FIFO only",
        "the program created no named IPC object",
    ];
    // Deadlocked: the trace settles two-workers and only-parent-prints (passed); the
    // workers never got the FIFO open, which uses-fifo judges.
    fixture_fifo_waits_before_opening: "fifo-waits-before-opening" as "fifo" fails [
        "fifo.factors", "fifo.uses-fifo", "fifo.removes-fifo", "fifo.reaps-workers",
        "fifo.no-deadlock",
    ] saying [
        "opening a FIFO waits until some process opens it from the other side",
    ];
    fixture_mqueue_not_unlinked: "mqueue-not-unlinked" as "mqueue" fails [
        "mqueue.removes-queue",
    ] saying [
        "the message queue /lab12-broken-",
        "call mq_unlink(",
    ];
    fixture_mqueue_three_workers: "mqueue-three-workers" as "mqueue" fails [
        "mqueue.two-workers",
    ];
    fixture_mqueue_creates_before_validating: "mqueue-creates-before-validating" as "mqueue"
        fails ["mqueue.rejects-bad-input"] saying ["validate before creating anything"];
    fixture_mqueue_waits_before_receiving: "mqueue-waits-before-receiving" as "mqueue" fails [
        "mqueue.factors", "mqueue.uses-mqueue", "mqueue.removes-queue", "mqueue.reaps-workers",
        "mqueue.large",
    ] saying [
        "is blocked in mq_send: the queue is full, and nobody receives from it",
        "blocked in mq_send on a full queue while parent (pid ",
        "is blocked in wait4: receive before you wait",
    ];
    fixture_mqueue_uses_fifo: "mqueue-uses-fifo" as "mqueue" fails ["mqueue.uses-mqueue"]
        saying ["in this part the results travel through a message queue only"];
    fixture_socket_workers_print: "socket-workers-print" as "socket" fails [
        "socket.only-parent-prints", "socket.uses-socket",
    ] saying ["no factor travelled through the sockets"];
    fixture_socket_keeps_listener: "socket-keeps-listener" as "socket" fails [
        "socket.closes-unused-ends",
    ] saying ["the listening socket (fd "];
    fixture_socket_not_removed: "socket-not-removed" as "socket" fails [
        "socket.removes-socket-file",
    ] saying ["EADDRINUSE"];
    fixture_socket_uses_mqueue: "socket-uses-mqueue" as "socket" fails [
        "socket.uses-socket", "socket.closes-unused-ends",
    ] saying ["opened the message queue /lab12-broken-"];
}

/// Where runs share the machine's /tmp and IPC namespace (the fallback), what a run leaves
/// is reported from the trace and removed: the FIFO, the socket file, the queue.
#[test]
fn the_fallback_removes_the_named_objects_a_run_leaves() {
    // Binary, and the name of what it leaves around its pid.
    let cases = [
        ("fifo-not-removed", "/tmp/lab12-broken-", ".fifo"),
        ("socket-not-removed", "/tmp/lab12-broken-", ".sock"),
        ("mqueue-not-unlinked", "/lab12-broken-", ""),
    ];
    for (bin, prefix, suffix) in cases {
        let run = common::run_isolated(
            &common::package_bins("lab12-broken")[bin],
            &[],
            b"60\n",
            false,
            10.0,
            Some(Isolation::Fallback),
        );
        let pid = run.trace.root().expect("the run started").pid;
        let name = format!("{prefix}{pid}{suffix}");
        let reported = run.leaks.iter().any(|leak| match leak {
            Leak::Fifo { path, removed } | Leak::SocketFile { path, removed } => {
                *path == name && *removed
            }
            Leak::MessageQueue {
                name: queue,
                removed,
            } => *queue == name && *removed,
            _ => false,
        });
        assert!(reported, "{bin}: {name} not reported: {:?}", run.leaks);
        if name.starts_with("/tmp/") {
            assert!(!Path::new(&name).exists(), "{bin}: {name} is still there");
        } else {
            let queue = std::ffi::CString::new(name.clone()).unwrap();
            // SAFETY: mq_unlink reads a NUL-terminated name we own.
            let unlinked = unsafe { libc::mq_unlink(queue.as_ptr()) };
            assert_eq!(unlinked, -1, "{bin}: the queue {name} was still there");
        }
    }
}
