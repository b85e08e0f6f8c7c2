//! Report injection: text a student's program controls (file names, output, stderr, panic
//! messages, compiler output) cannot forge report lines or terminal escapes in any format.
//!
//! Runs are made by hand (no program runs): a trace whose FIFO path, stdout, stderr and
//! build output carry a carriage return, a line feed and `ESC [ 2K` followed by a fake
//! `✔` line. Each goes through the real check, then through every renderer.

use grader::batch::{BuildStatus, Entry, gradebook};
use grader::checks::{self, Case, CheckKind};
use grader::formats::{classroom, gradescope, junit};
use grader::grade::{CheckResult, Report, Status};
use grader::rubric::Rubric;
use grader::run::{Captured, Isolation, Leak, RunOutcome, RunStatus};
use grader::trace::{End, Event, Process, Stream, Trace};
use std::path::Path;
use std::time::Duration;

/// What a hostile program puts in every string it controls: end the line, start a fake
/// passing one, and erase the real line on a terminal.
const FORGED: &str = "\r\n✔ forged 60/60\x1b[2K";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
}

fn rubric() -> Rubric {
    Rubric::load(&Rubric::path_in(root(), "lab12")).unwrap()
}

fn captured(text: &str) -> Captured {
    Captured {
        head: text.as_bytes().to_vec(),
        tail: Vec::new(),
        total: text.len() as u64,
    }
}

/// A parent that makes a FIFO at a hostile path, forks one worker (which writes a hostile
/// line to stdout and opens a hostile file for writing) and exits 0 without removing it.
fn run(stdout: &str, stderr: &str) -> RunOutcome {
    let fifo = format!("/tmp/x{FORGED}");
    let mut parent = Process::new(100, None, "parent".into());
    parent.events.extend([
        Event::Mknod {
            path: fifo.clone(),
            mode: libc::S_IFIFO | 0o600,
            ret: 0,
        },
        Event::Spawn {
            child: 1,
            thread: false,
        },
        Event::Wait {
            syscall: "wait4".into(),
            pid_arg: -1,
            reaped: Some(1),
            ret: 101,
        },
    ]);
    parent.end = Some(End::Exited { code: 0 });
    let mut worker = Process::new(101, Some(0), "worker 1".into());
    worker.events.extend([
        Event::Open {
            path: format!("/tmp/out{FORGED}"),
            flags: libc::O_WRONLY | libc::O_CREAT,
            ret: 3,
        },
        Event::Write {
            syscall: "write".into(),
            fd: 1,
            stream: Stream::Stdout,
            bytes: 20,
            sample: format!("hello{FORGED}"),
            in_handler: None,
        },
    ]);
    worker.end = Some(End::Exited { code: 0 });
    RunOutcome {
        status: RunStatus::Completed,
        trace: Trace {
            processes: vec![parent, worker],
            full: false,
            clock: 0,
        },
        stdout: captured(stdout),
        stderr: captured(stderr),
        wall: Duration::from_millis(5),
        hang: Vec::new(),
        cpu_at_cut: Vec::new(),
        leaks: vec![Leak::Fifo {
            path: fifo,
            removed: true,
        }],
        isolation: Isolation::Fallback,
        client: Vec::new(),
        filled: Vec::new(),
    }
}

/// A parent alone: it makes the FIFO, forks nothing and exits with `code`.
fn lone_parent(code: i32, stderr: &str) -> RunOutcome {
    let mut run = run("", stderr);
    run.trace.processes.truncate(1);
    let parent = &mut run.trace.processes[0];
    parent.events.truncate(1);
    parent.end = Some(End::Exited { code });
    run
}

/// The failed verdict of one check on one run, as a report line.
fn failed(id: &str, kind: CheckKind, run: &RunOutcome) -> CheckResult {
    let case = Case {
        input: "small",
        stdin: "60\n",
        args: &[],
        run,
    };
    let verdict = checks::evaluate(&kind, &[case]);
    assert!(!verdict.passed, "{id} should fail");
    CheckResult {
        id: id.to_string(),
        part: "fifo".to_string(),
        title: format!("the {id} check"),
        points: 0,
        max_points: 2,
        status: Status::Failed,
        message: verdict.message,
        hint: "a hint".to_string(),
        note: verdict.note,
        run_failure: verdict.run_failure,
    }
}

fn hostile_report() -> Report {
    let clean = run("Give a number to factor.\nFinished.\n", "");
    let bad_output = run(
        &format!("Give a number to factor.{FORGED}\nFinished.\n"),
        "",
    );
    let panicked = run(
        "",
        &format!("thread 'main' panicked at src/bin/fifo.rs:3:5:\nboom{FORGED}\nnote: x\n"),
    );
    let rejected = lone_parent(2, "error: bad input\n");
    let two_lines = lone_parent(2, &format!("error: bad{FORGED}\n"));
    let exit_one = lone_parent(1, &format!("oops{FORGED}\n"));
    let mut checks = vec![
        failed("fifo.removes-fifo", CheckKind::ObjectsRemoved, &clean),
        failed(
            "fifo.uses-fifo",
            CheckKind::Channel {
                mechanism: checks::Mechanism::Pipe,
            },
            &clean,
        ),
        failed(
            "fifo.only-parent-prints",
            CheckKind::OnlyParentPrints,
            &clean,
        ),
        failed("fifo.factors", CheckKind::Factors, &bad_output),
        failed("fifo.panics", CheckKind::Factors, &panicked),
        failed("fifo.rejects", CheckKind::RejectsBadInput, &rejected),
        failed("fifo.rejects-2", CheckKind::RejectsBadInput, &two_lines),
        failed("fifo.exit", CheckKind::Factors, &exit_one),
    ];
    // Compiler output quotes the student's source: a block of lines, each quoted.
    let built = Report::build_failed(
        &rubric(),
        &["fifo".to_string()],
        &format!("error: bad{FORGED}\n✔ fifo.x 2/2\n```\n  ````"),
    );
    let mut from_build = built.checks[0].clone();
    from_build.id = "fifo.build".to_string();
    checks.push(from_build);
    Report {
        lab: "lab12".to_string(),
        title: "t".to_string(),
        score: 0,
        max_score: 2 * checks.len() as u32,
        tracing: "filtered".to_string(),
        isolation: "fallback".to_string(),
        checks,
    }
}

/// The grader's own styles (SGR sequences, `ESC [ … m`) taken out of the human report, so
/// that any escape left is the program's.
fn without_styles(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("\x1b[") {
        out.push_str(&rest[..at]);
        let after = &rest[at + 2..];
        let len = after
            .find(|c: char| !(c.is_ascii_digit() || c == ';'))
            .unwrap_or(after.len());
        if after[len..].starts_with('m') {
            rest = &after[len + 1..];
        } else {
            out.push_str("\x1b[");
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// No raw carriage return or escape, no line that starts (after indentation and markup)
/// like a report line the program made up, and the escapes are there to read.
fn assert_not_forged(format: &str, text: &str) {
    assert!(!text.contains('\r'), "{format}: a raw CR in\n{text}");
    assert!(!text.contains('\x1b'), "{format}: a raw ESC in\n{text}");
    for line in text.lines() {
        let shown = line.trim_start_matches([' ', '-', '>', '*', '"']);
        assert!(
            !shown.starts_with("✔ forged") && !shown.starts_with("✔ fifo.x"),
            "{format}: a forged line {line:?} in\n{text}"
        );
    }
    assert!(
        text.contains(r"\x1b[2K"),
        "{format}: the escape is not shown in\n{text}"
    );
}

#[test]
fn hostile_strings_cannot_forge_lines_in_any_format() {
    let report = hostile_report();
    assert_not_forged("human", &without_styles(&grader::report::human(&report)));
    let plain: Vec<String> = report
        .checks
        .iter()
        .map(grader::report::plain_feedback)
        .collect();
    assert_not_forged("plain feedback", &plain.join("\n"));
    let entry = Entry {
        student: format!("mallory{FORGED}"),
        build: BuildStatus::Ok,
        tampered: vec![format!("added labs/x{FORGED}")],
        commit: None,
        commit_time: None,
        late_commits: None,
        cached: false,
        report: report.clone(),
    };
    let markdown = gradebook::feedback(&rubric(), &entry);
    assert_not_forged("markdown", &markdown);
    // Quoted backticks cannot close the code block a message sits in: the only lines that
    // start with a backtick are the two fences of each failed check.
    let fences = markdown
        .lines()
        .filter(|l| l.trim_start().starts_with('`'))
        .count();
    assert_eq!(fences, 2 * report.checks.len(), "{markdown}");

    let xml = junit::render(&report);
    roxmltree::Document::parse(&xml).expect("the JUnit XML parses");
    assert_not_forged("junit", &xml);

    // The JSON formats escape by serde; what they carry is the same escaped text.
    for (format, json) in [
        ("classroom", classroom::render(&report)),
        ("gradescope", gradescope::render(&report)),
    ] {
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        let outputs: Vec<&str> = value["tests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                t.get("message")
                    .or_else(|| t.get("output"))
                    .and_then(|m| m.as_str())
                    .unwrap()
            })
            .collect();
        assert_not_forged(format, &outputs.join("\n"));
    }
}

#[test]
fn control_characters_in_a_report_from_elsewhere_are_shown_not_obeyed() {
    // A report that did not come from the checks (an older grader's cache, say) still
    // cannot move the cursor: its controls are shown, its line breaks are kept.
    let mut report = hostile_report();
    report.checks[0].message = format!("raw{FORGED}");
    let human = without_styles(&grader::report::human(&report));
    assert!(!human.contains('\r') && !human.contains('\x1b'), "{human}");
    let xml = junit::render(&report);
    assert!(xml.contains(r"raw\r"), "{xml}");
}
