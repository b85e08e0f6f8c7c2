//! The tracer on small C programs (tests/programs/tracee.c): fork/exec following, decoding,
//! processes vanishing mid-trace, signal forwarding, hiding attempts, and cleanup. Every test
//! runs in both modes, filtered and full, and expects the same record.

mod common;

use grader::run::{RunOutcome, RunStatus};
use grader::trace::{End, Event, Stream};

fn run(mode: &str, full: bool) -> RunOutcome {
    common::run_program(&common::tracee(), &[mode], b"", full, 5.0)
}

fn both(mode: &str) -> [RunOutcome; 2] {
    [run(mode, false), run(mode, true)]
}

#[test]
fn decodes_pipe_fork_and_shared_memory() {
    for outcome in both("ipc") {
        assert_eq!(outcome.status, RunStatus::Completed);
        assert_eq!(outcome.stdout.text(), "shared\n");
        let trace = &outcome.trace;
        assert_eq!(trace.processes.len(), 2, "{trace:#?}");
        let parent = &trace.processes[0];
        let child = &trace.processes[1];
        assert_eq!(child.parent, Some(0));
        assert_eq!(child.label, "worker 1");
        let events = &parent.events;
        let pipe = events
            .iter()
            .find_map(|e| match e {
                Event::Pipe {
                    read_fd,
                    write_fd,
                    inode,
                } => Some((*read_fd, *write_fd, inode.clone())),
                _ => None,
            })
            .expect("pipe recorded");
        assert!(pipe.2.starts_with("pipe:["));
        let shmid = events
            .iter()
            .find_map(|e| match e {
                Event::ShmGet {
                    size: 4096, ret, ..
                } => Some(*ret),
                _ => None,
            })
            .expect("shmget recorded");
        assert!(
            events
                .iter()
                .any(|e| matches!(e, Event::ShmAt { shmid: id, ret } if *id == shmid && *ret > 0))
        );
        assert!(events.iter().any(|e| matches!(
            e,
            Event::Spawn {
                child: 1,
                thread: false
            }
        )));
        assert!(events.iter().any(
            |e| matches!(e, Event::Close { fd, target } if *fd == pipe.1 && *target == pipe.2)
        ));
        assert!(events.iter().any(|e| matches!(
            e,
            Event::Wait {
                reaped: Some(1),
                ..
            }
        )));
        assert!(
            events
                .iter()
                .any(|e| matches!(e, Event::ShmCtl { shmid: id, cmd: 0, ret: 0 } if *id == shmid))
        );
        assert!(
            child
                .events
                .iter()
                .any(|e| matches!(e, Event::ShmDt { ret: 0, .. }))
        );
        assert!(
            child
                .events
                .iter()
                .any(|e| matches!(e, Event::Close { fd, .. } if *fd == pipe.0))
        );
        // The worker's 8 bytes went to the pipe: counted at exit, not traced.
        assert_eq!(child.io_at_exit.map(|io| io.wchar), Some(8));
        assert_eq!(parent.end, Some(End::Exited { code: 0 }));
        assert!(outcome.leaks.is_empty());
    }
}

#[test]
fn follows_exec_in_a_child() {
    for outcome in both("exec") {
        assert_eq!(outcome.stdout.text(), "from-exec\n");
        let child = &outcome.trace.processes[1];
        assert!(
            child.execs.iter().any(|e| e.ends_with("/echo")),
            "{:?}",
            child.execs
        );
        // echo's own write to stdout is attributed to the child.
        assert!(child.stdout_writes().next().is_some());
    }
}

#[test]
fn forwards_standard_and_real_time_signals() {
    for outcome in both("signals") {
        assert_eq!(outcome.stdout.text(), "both handled\n");
        let signals: Vec<i32> = outcome.trace.processes[0]
            .events
            .iter()
            .filter_map(|e| match e {
                Event::Signal { signal, .. } => Some(*signal),
                _ => None,
            })
            .collect();
        assert!(signals.contains(&libc::SIGUSR1), "{signals:?}");
        assert!(signals.contains(&(libc::SIGRTMIN() + 1)), "{signals:?}");
    }
}

#[test]
fn survives_a_process_killed_mid_trace() {
    for outcome in both("vanish") {
        assert_eq!(outcome.status, RunStatus::Completed);
        assert_eq!(outcome.stdout.text(), "child killed\n");
        assert_eq!(
            outcome.trace.processes[1].end,
            Some(End::Signaled {
                signal: libc::SIGKILL,
                core_dumped: false
            })
        );
    }
}

#[test]
fn sees_writes_through_an_alias_of_stdout() {
    for outcome in both("alias") {
        assert_eq!(outcome.stdout.text(), "via alias\n");
        let child = &outcome.trace.processes[1];
        let writes: Vec<&Event> = child.stdout_writes().collect();
        assert_eq!(writes.len(), 1, "{:#?}", child.events);
        assert!(matches!(
            writes[0],
            Event::Write {
                fd: 20,
                stream: Stream::Stdout,
                ..
            }
        ));
        if !outcome.trace.full {
            assert!(child.stepped, "the alias switches the process to stepping");
        }
    }
}

#[test]
fn refuses_untraced_clones() {
    for outcome in both("untraced") {
        assert_eq!(outcome.stdout.text(), "refused\n");
        assert_eq!(outcome.trace.processes.len(), 1);
    }
}

#[test]
fn counts_threads_in_their_process() {
    for outcome in both("threads") {
        assert_eq!(outcome.stdout.text(), "joined\n");
        assert_eq!(outcome.trace.processes.len(), 1);
        assert_eq!(outcome.trace.processes[0].threads, 1);
    }
}

#[test]
fn kills_a_setsid_daemon_when_the_parent_ends() {
    for outcome in both("daemon") {
        assert_eq!(outcome.status, RunStatus::Completed);
        let trace = &outcome.trace;
        assert_eq!(trace.processes.len(), 3, "{trace:#?}");
        let daemon = &trace.processes[2];
        assert_eq!(daemon.end, Some(End::Killed));
        common::assert_no_survivors(&trace.pids());
    }
}

#[test]
fn a_self_stopped_process_times_out_and_is_killed() {
    let outcome = common::run_program(&common::tracee(), &["stop"], b"", false, 1.0);
    assert_eq!(outcome.status, RunStatus::TimedOut);
    assert_eq!(outcome.stdout.text(), "");
    let explained = grader::run::hang::explain(&outcome).join("\n");
    assert!(explained.contains("is stopped"), "{explained}");
    common::assert_no_survivors(&outcome.trace.pids());
}

#[test]
fn a_hang_names_the_blocked_call_and_the_open_write_end() {
    let outcome = common::run_program(&common::tracee(), &["hang"], b"", false, 1.0);
    assert_eq!(outcome.status, RunStatus::TimedOut);
    let explained = grader::run::hang::explain(&outcome).join("\n");
    assert!(
        explained.contains(
            "blocked in read(fd 3, …); fd 3 is a pipe whose write end it still holds itself"
        ),
        "{explained}"
    );
    common::assert_no_survivors(&outcome.trace.pids());
}

#[test]
fn unusable_programs_are_errors_not_runs() {
    use grader::run::{RunError, RunSpec};
    let spec = |program: &str| RunSpec {
        program: program.into(),
        args: vec![],
        stdin: vec![],
        limits: Default::default(),
        full: false,
        interest: grader::trace::Interest::all(),
        inherit_stdio: false,
        isolation: None,
        hold: None,
        client: None,
    };
    assert!(matches!(
        grader::run::run(&spec("/no/such/file")),
        Err(RunError::NotFound(_))
    ));
    assert!(matches!(
        grader::run::run(&spec("/etc/passwd")),
        Err(RunError::NotExecutable(_))
    ));
    assert!(matches!(
        grader::run::run(&spec("/tmp")),
        Err(RunError::NotAFile(_))
    ));
}

/// Tracing changes timing, never behaviour: a SIGCHLD the program leaves at its default
/// wakes a traced parent from semtimedop and sigtimedwait (the kernel queues even ignored
/// signals for a tracer), and those calls fail with EINTR where untraced they never do. The
/// tracer makes such a call again; a SIGCHLD with a handler still interrupts, as untraced.
#[test]
fn an_ignored_signal_never_causes_eintr_under_tracing() {
    let probe = common::compile_c(&common::root().join("grader/fixtures/c/eintr-probe.c"), &[]);
    let untraced = |args: &[&str]| {
        let output = std::process::Command::new(&probe)
            .args(args)
            .output()
            .unwrap();
        String::from_utf8(output.stdout).unwrap()
    };
    let never = "semtimedop EINTR 0/10, sigtimedwait EINTR 0/10\n";
    let always = "semtimedop EINTR 10/10, sigtimedwait EINTR 10/10\n";
    assert_eq!(untraced(&[]), never);
    assert_eq!(untraced(&["handled"]), always);
    for isolation in [None, Some(grader::run::Isolation::Fallback)] {
        for full in [false, true] {
            for (args, expected) in [(&[][..], never), (&["handled"][..], always)] {
                let outcome = common::run_isolated(&probe, args, b"", full, 20.0, isolation);
                assert_eq!(
                    outcome.stdout.text(),
                    expected,
                    "{args:?}, full: {full}, {isolation:?}"
                );
            }
        }
    }
}
