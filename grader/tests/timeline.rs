//! The timeline as a person sees it: its SVG's structure (insta snapshots of the elements,
//! classes and texts, coordinates left out), well-formed XML (roxmltree, and xmllint where
//! installed), program-chosen names that cannot break out of the markup, a size bound on
//! long runs, the Mermaid diagram from the same model, Perfetto's required fields, and
//! `grader trace --timeline` on real programs: a pipe deadlock and its correct twin.
//!
//! Runs are built by hand (no program runs) except in the end-to-end tests of the CLI.

mod common;

use grader::run::{Captured, Isolation, RunOutcome, RunStatus};
use grader::timeline::{MarkKind, Timeline, mermaid, perfetto, svg};
use grader::trace::live::{BlockedCall, ProcessSnapshot};
use grader::trace::model::OpenFd;
use grader::trace::{Disposition, End, Event, Process, Stream, Trace};
use std::process::Command;
use std::time::Duration;

// ------------------------------------------------------------------ hand-built runs

fn run_of(processes: Vec<Process>, status: RunStatus, hang: Vec<ProcessSnapshot>) -> RunOutcome {
    RunOutcome {
        status,
        trace: Trace {
            processes,
            full: false,
            clock: 10,
        },
        stdout: Captured::default(),
        stderr: Captured::default(),
        wall: Duration::from_millis(200),
        hang,
        cpu_at_cut: Vec::new(),
        leaks: Vec::new(),
        isolation: Isolation::Fallback,
        client: Vec::new(),
        filled: Vec::new(),
    }
}

fn process(pid: i32, parent: Option<usize>, label: &str, events: Vec<Event>) -> Process {
    let mut p = Process::new(pid, parent, label.into());
    p.execs.push("/kit/target/debug/pipe".into());
    p.events = events;
    p
}

fn stdout(bytes: u64) -> Event {
    Event::Write {
        syscall: "write".into(),
        fd: 1,
        stream: Stream::Stdout,
        bytes,
        sample: String::new(),
        in_handler: None,
    }
}

fn close(fd: i32) -> Event {
    Event::Close {
        fd,
        target: "pipe:[77]".into(),
    }
}

fn ended(mut p: Process, end: End, at: u64) -> Process {
    p.end = Some(end);
    p.ended_at = Some(at);
    p
}

/// lab 11's pipe part with the parent's write end kept open: the workers send and exit,
/// the parent blocks in read forever, and the watchdog's snapshot says so.
fn deadlock() -> RunOutcome {
    let pipe = Event::Pipe {
        read_fd: 3,
        write_fd: 4,
        inode: "pipe:[77]".into(),
    };
    let parent = process(
        100,
        None,
        "parent",
        vec![
            stdout(25),
            pipe,
            Event::Spawn {
                child: 1,
                thread: false,
            },
            Event::Spawn {
                child: 2,
                thread: false,
            },
        ],
    );
    let worker = |pid, label| {
        ended(
            process(pid, Some(0), label, vec![close(3), close(4)]),
            End::Exited { code: 0 },
            pid as u64 - 100,
        )
    };
    let parent = ended(parent, End::Killed, 3);
    let fd = |fd, flags| OpenFd {
        fd,
        target: "pipe:[77]".into(),
        flags,
    };
    let hang = vec![ProcessSnapshot {
        pid: 100,
        state: 'S',
        syscall: Some(BlockedCall {
            nr: libc::SYS_read,
            args: [3, 0, 4096, 0, 0, 0],
        }),
        fds: vec![fd(3, 0), fd(4, libc::O_WRONLY as u32)],
    }];
    run_of(
        vec![parent, worker(101, "worker 1"), worker(102, "worker 2")],
        RunStatus::TimedOut,
        hang,
    )
}

/// lab 14's handshake: the parent blocks the signal and forks; the worker is held, then
/// signals the parent, which answers; the parent reaps.
fn handshake() -> RunOutcome {
    let usr1 = libc::SIGUSR1;
    let parent = process(
        200,
        None,
        "parent",
        vec![
            Event::SignalMask {
                how: libc::SIG_BLOCK,
                signals: vec![usr1],
                ret: 0,
                at: 1,
            },
            Event::Spawn {
                child: 1,
                thread: false,
            },
            Event::SignalWait {
                syscall: "rt_sigtimedwait".into(),
                signals: vec![usr1],
                at: 2,
            },
            Event::Signal {
                signal: usr1,
                handled: false,
                at: 5,
            },
            Event::SignalSent {
                syscall: "kill".into(),
                to_pid: 201,
                to: Some(1),
                signal: usr1,
                value: None,
                ret: 0,
                at: 6,
            },
            Event::Wait {
                syscall: "wait4".into(),
                pid_arg: -1,
                reaped: Some(1),
                ret: 201,
            },
            stdout(40),
        ],
    );
    let worker = process(
        201,
        Some(0),
        "worker 1",
        vec![
            Event::SignalAction {
                signal: usr1,
                disposition: Disposition::Handler,
                ret: 0,
                at: 3,
            },
            Event::Held {
                point: "before it signals the parent".into(),
                until: "until the parent sleeps in a wait".into(),
                met: true,
                waited_ms: 12,
                at: 3,
            },
            Event::SignalSent {
                syscall: "kill".into(),
                to_pid: 200,
                to: Some(0),
                signal: usr1,
                value: None,
                ret: 0,
                at: 4,
            },
            Event::Signal {
                signal: usr1,
                handled: true,
                at: 7,
            },
        ],
    );
    run_of(
        vec![
            ended(parent, End::Exited { code: 0 }, 9),
            ended(worker, End::Exited { code: 0 }, 8),
        ],
        RunStatus::Completed,
        Vec::new(),
    )
}

// ------------------------------------------------------------------ the SVG's structure

/// The SVG as an outline: each group, title and text with its class and words, in
/// document order, without coordinates. What a snapshot should pin down.
fn outline(svg_text: &str) -> String {
    let doc = roxmltree::Document::parse(svg_text).expect("the SVG is well-formed XML");
    let mut out = String::new();
    fn walk(node: roxmltree::Node, depth: usize, out: &mut String) {
        for child in node.children().filter(|n| n.is_element()) {
            let tag = child.tag_name().name();
            if !matches!(tag, "svg" | "g" | "title" | "text") && !child.has_attribute("class") {
                continue;
            }
            let class = child
                .attribute("class")
                .map(|c| format!(".{}", c.replace(' ', ".")))
                .unwrap_or_default();
            let words: String = child
                .children()
                .filter(|n| n.is_text())
                .filter_map(|n| n.text())
                .collect();
            let words = if words.is_empty() {
                String::new()
            } else {
                format!(" {words:?}")
            };
            out.push_str(&format!("{}{tag}{class}{words}\n", "  ".repeat(depth)));
            walk(child, depth + 1, out);
        }
    }
    walk(doc.root(), 0, &mut out);
    out
}

#[test]
fn a_deadlock_shows_the_held_write_end_and_the_blocked_read() {
    let timeline = Timeline::of(&deadlock());
    assert_eq!(timeline.status, "timed out");
    let frozen = timeline.frozen.expect("a hang freezes the end");
    assert_eq!(frozen, timeline.steps - 1);
    let at_end: Vec<(&str, MarkKind, bool)> = timeline
        .marks
        .iter()
        .filter(|m| m.step == frozen)
        .map(|m| (m.label.as_str(), m.kind, m.alert))
        .collect();
    assert_eq!(
        at_end,
        [
            ("in read(fd 3)", MarkKind::Blocked, true),
            ("holds w (fd 4)", MarkKind::Holds, true),
            ("killed", MarkKind::Exit, true),
        ]
    );
    // The workers closed both ends; the parent closed none.
    let closes = |lane| {
        timeline
            .marks
            .iter()
            .filter(|m| m.lane == lane && m.kind == MarkKind::Close)
            .map(|m| m.label.as_str())
            .collect::<Vec<_>>()
    };
    assert_eq!(closes(0), Vec::<&str>::new());
    assert_eq!(closes(1), ["close r", "close w"]);
    let svg_text = svg::render(&timeline);
    insta::assert_snapshot!("timeline_deadlock_svg", outline(&svg_text));
    insta::assert_snapshot!("timeline_deadlock_mermaid", mermaid::render(&timeline));
    validate_with_xmllint(&svg_text);
}

#[test]
fn a_handshake_shows_signals_as_arrows_and_the_hold_as_a_span() {
    let timeline = Timeline::of(&handshake());
    assert_eq!(timeline.frozen, None);
    let arrows: Vec<(usize, usize)> = timeline
        .signals
        .iter()
        .map(|&(s, d)| (timeline.marks[s].lane, timeline.marks[d].lane))
        .collect();
    assert_eq!(arrows, [(1, 0), (0, 1)], "worker → parent, then the answer");
    // Each arrow goes forward in time, and the reply follows the request.
    for &(s, d) in &timeline.signals {
        assert!(timeline.marks[s].step <= timeline.marks[d].step);
    }
    let held = timeline
        .marks
        .iter()
        .find(|m| m.kind == MarkKind::Held)
        .unwrap();
    assert!(held.until >= held.step);
    // The reap comes after the worker's exit.
    let exit = timeline
        .marks
        .iter()
        .find(|m| m.lane == 1 && m.kind == MarkKind::Exit)
        .unwrap();
    let reap = timeline
        .marks
        .iter()
        .find(|m| m.kind == MarkKind::Reap { child: 1 })
        .unwrap();
    assert!(reap.step > exit.step, "{reap:?} {exit:?}");
    let svg_text = svg::render(&timeline);
    insta::assert_snapshot!("timeline_handshake_svg", outline(&svg_text));
    insta::assert_snapshot!("timeline_handshake_mermaid", mermaid::render(&timeline));
    validate_with_xmllint(&svg_text);
}

#[test]
fn a_childs_marks_come_after_its_fork_and_side_by_side_with_its_parent() {
    let timeline = Timeline::of(&deadlock());
    let fork = |child| {
        timeline
            .marks
            .iter()
            .find(|m| m.kind == MarkKind::Fork { child })
            .unwrap()
            .step
    };
    for child in [1, 2] {
        let first = timeline
            .marks
            .iter()
            .filter(|m| m.lane == child)
            .map(|m| m.step)
            .min()
            .unwrap();
        assert!(first > fork(child), "{child}");
        assert_eq!(timeline.lanes[child].start, fork(child));
    }
    // Worker 1 closes its ends while the parent forks worker 2: one step holds both.
    let step_of_worker_close = timeline
        .marks
        .iter()
        .find(|m| m.lane == 1 && m.kind == MarkKind::Close)
        .unwrap()
        .step;
    assert_eq!(step_of_worker_close, fork(2));
    assert_eq!(timeline.lanes[1].name, "worker 1 (pid 101)");
}

// ------------------------------------------------------------------ hostile and long runs

#[test]
fn names_a_program_chose_cannot_break_out_of_the_markup() {
    let evil = "/tmp/</text><script>alert(1)</script>&\"'\u{1b}[2K\u{202e}\n]]>";
    let mknod = Event::Mknod {
        path: evil.into(),
        mode: libc::S_IFIFO | 0o600,
        ret: 0,
    };
    let open = Event::Open {
        path: evil.into(),
        flags: libc::O_WRONLY,
        ret: 5,
    };
    let mut parent = process(300, None, "parent", vec![mknod, open]);
    parent.execs = vec![evil.into()];
    let run = run_of(
        vec![ended(parent, End::Exited { code: 0 }, 1)],
        RunStatus::Completed,
        Vec::new(),
    );
    let timeline = Timeline::of(&run);
    let svg_text = svg::render(&timeline);
    let doc = roxmltree::Document::parse(&svg_text).expect("well-formed");
    assert!(
        doc.descendants()
            .all(|n| !matches!(n.tag_name().name(), "script" | "foreignObject")),
        "{svg_text}"
    );
    assert!(!svg_text.contains('\u{1b}') && !svg_text.contains('\u{202e}'));
    let shown: String = doc
        .descendants()
        .filter_map(|n| n.text())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(shown.contains(r"\x1b[2K"), "{shown}");
    validate_with_xmllint(&svg_text);
    let diagram = mermaid::render(&timeline);
    for line in diagram.lines().skip(1) {
        // Past the statement's own syntax, only entity codes (`#60;`) may hold `#` or `;`.
        let words = line.split_once(" as ").map_or(line, |(_, w)| w);
        let words = words.split_once(": ").map_or(words, |(_, w)| w);
        let bare = regex_free_entities(words);
        assert!(
            !bare.contains(['<', '>', ';', '#', '"', '\u{1b}', '\n']),
            "{line}"
        );
    }
    assert_eq!(diagram.lines().count(), 1 + 2 + 3, "{diagram}");
}

/// Thousands of writes and sends in one run: the picture stays small and counts them.
#[test]
fn long_runs_compress_into_counted_marks_within_a_size_bound() {
    let mut events = vec![
        Event::MqOpen {
            name: "/q".into(),
            flags: libc::O_CREAT | libc::O_RDWR,
            ret: 3,
        },
        Event::Spawn {
            child: 1,
            thread: false,
        },
    ];
    events.extend((0..5000).map(|_| stdout(12)));
    // Alternating calls do not form runs of one kind: the lane's budget merges them.
    for i in 0..3000 {
        events.push(if i % 2 == 0 {
            Event::MqSend {
                mqd: 3,
                bytes: 8,
                priority: 0,
            }
        } else {
            stdout(1)
        });
    }
    events.push(Event::Wait {
        syscall: "wait4".into(),
        pid_arg: -1,
        reaped: Some(1),
        ret: 401,
    });
    let parent = ended(
        process(400, None, "parent", events),
        End::Exited { code: 0 },
        2,
    );
    let worker = ended(
        process(
            401,
            Some(0),
            "worker 1",
            (0..4000)
                .map(|_| Event::MqReceive {
                    mqd: 3,
                    capacity: 8,
                })
                .collect(),
        ),
        End::Exited { code: 0 },
        1,
    );
    let run = run_of(vec![parent, worker], RunStatus::Completed, Vec::new());
    let timeline = Timeline::of(&run);
    assert!(timeline.marks.len() <= 2 * 60, "{}", timeline.marks.len());
    let labels: Vec<&str> = timeline.marks.iter().map(|m| m.label.as_str()).collect();
    assert!(labels.contains(&"write ×5000 58 KiB"), "{labels:?}");
    assert!(labels.contains(&"receive ×4000"), "{labels:?}");
    // Every call is still counted somewhere.
    let svg_text = svg::render(&timeline);
    assert!(svg_text.len() < 64 * 1024, "{} bytes", svg_text.len());
    roxmltree::Document::parse(&svg_text).expect("well-formed");
    let diagram = mermaid::render(&timeline);
    assert!(diagram.len() < 16 * 1024, "{}", diagram.len());
}

// ------------------------------------------------------------------ Perfetto

/// Every event has the trace-event format's required fields, each of its type; flows pair
/// up; slices have durations.
fn assert_trace_events(json: &str) -> Vec<serde_json::Value> {
    let doc: serde_json::Value = serde_json::from_str(json).expect("valid JSON");
    let events = doc["traceEvents"].as_array().expect("traceEvents").clone();
    assert!(!events.is_empty());
    let mut flows = std::collections::BTreeMap::<u64, Vec<String>>::new();
    for event in &events {
        let ph = event["ph"].as_str().expect("ph is a string");
        assert!(event["name"].is_string(), "{event}");
        assert!(event["pid"].is_u64(), "{event}");
        assert!(event["tid"].is_u64(), "{event}");
        assert!(event["ts"].is_u64(), "{event}");
        match ph {
            "X" => assert!(event["dur"].is_u64(), "{event}"),
            "M" => assert!(event["args"]["name"].is_string(), "{event}"),
            "s" | "f" => flows
                .entry(event["id"].as_u64().expect("flow id"))
                .or_default()
                .push(ph.to_string()),
            other => panic!("unexpected phase {other}: {event}"),
        }
    }
    for (id, phases) in flows {
        assert_eq!(phases, ["s", "f"], "flow {id}");
    }
    events
}

#[test]
fn perfetto_export_has_the_required_fields_and_fork_flows() {
    for run in [deadlock(), handshake()] {
        let events = assert_trace_events(&perfetto::render(&Timeline::of(&run)));
        let names: Vec<&str> = events
            .iter()
            .filter(|e| e["ph"] == "M" && e["name"] == "process_name")
            .filter_map(|e| e["args"]["name"].as_str())
            .collect();
        assert!(names.contains(&"parent (pid 100)") || names.contains(&"parent (pid 200)"));
        assert!(events.iter().any(|e| e["ph"] == "s" && e["cat"] == "fork"));
    }
}

// ------------------------------------------------------------------ the CLI on real runs

/// `grader trace --timeline --mermaid --perfetto` on one of lab 11's pipe programs, with
/// the filter (`--filtered`) or stepping every call.
fn trace_pictures(bin: &str, timeout: &str, mode: &str) -> (String, String, String, String) {
    let bins = common::package_bins("lab11-broken");
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name);
    let output = assert_cmd::Command::cargo_bin("grader")
        .unwrap()
        .arg("trace")
        .args((mode == "filtered").then_some("--filtered"))
        .args(["--timeout", timeout, "--timeline"])
        .arg(path("t.svg"))
        .arg("--mermaid")
        .arg(path("t.mmd"))
        .arg("--perfetto")
        .arg(path("t.json"))
        .arg("--")
        .arg(&bins[bin])
        .write_stdin("60\n")
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    let read = |name: &str| std::fs::read_to_string(path(name)).unwrap();
    (
        read("t.svg"),
        read("t.mmd"),
        read("t.json"),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn trace_draws_the_deadlock_of_a_kept_write_end_and_the_clean_run_of_its_twin() {
    for mode in ["filtered", "full"] {
        let (svg_text, diagram, json, stderr) = trace_pictures("pipe-keeps-write-end", "2", mode);
        assert!(stderr.contains("hang:"), "{stderr}");
        let doc = roxmltree::Document::parse(&svg_text).expect("well-formed");
        let texts: Vec<&str> = doc.descendants().filter_map(|n| n.text()).collect();
        for needle in ["frozen", "in read(fd 3)", "holds w (fd 4)", "pipe 1"] {
            assert!(texts.contains(&needle), "{needle}: {texts:?}");
        }
        assert!(
            diagram.contains("Note over P0: blocked in read(fd 3) on pipe 1"),
            "{diagram}"
        );
        assert_trace_events(&json);
        validate_with_xmllint(&svg_text);

        let (svg_text, diagram, json, _) = trace_pictures("pipe-ok", "20", mode);
        let doc = roxmltree::Document::parse(&svg_text).expect("well-formed");
        let texts: Vec<&str> = doc.descendants().filter_map(|n| n.text()).collect();
        assert!(!texts.contains(&"frozen"), "{texts:?}");
        assert!(texts.contains(&"Run completed"), "{texts:?}");
        // Every process closes the ends it does not use, and the parent reaps both workers.
        let closes = texts.iter().filter(|t| t.starts_with("close ")).count();
        assert!(closes >= 6, "{texts:?}");
        for reap in ["reap worker 1", "reap worker 2"] {
            assert!(texts.contains(&reap), "{reap}: {texts:?}");
        }
        assert!(diagram.contains("P0->>P1: fork"), "{diagram}");
        assert_trace_events(&json);
    }
}

// ------------------------------------------------------------------ helpers

/// The text with every Mermaid entity code (`#` digits `;`) taken out.
fn regex_free_entities(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find('#') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let digits = after.chars().take_while(char::is_ascii_digit).count();
        if digits > 0 && after[digits..].starts_with(';') {
            rest = &after[digits + 1..];
        } else {
            out.push('#');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// `xmllint --noout` on the document; skipped (with a message) where xmllint is absent.
fn validate_with_xmllint(document: &str) {
    if Command::new("xmllint").arg("--version").output().is_err() {
        eprintln!("SKIPPED: xmllint is not installed (.ci/run installs libxml2-utils)");
        return;
    }
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), document).unwrap();
    let output = Command::new("xmllint")
        .arg("--noout")
        .arg(file.path())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "not well-formed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

// ------------------------------------------------------------------ the HTML report

/// `grader check lab11 --exe pipe=BIN --html FILE`: the page, and the human report.
fn html_report(package: &str, bin: &str) -> (String, String, tempfile::TempDir) {
    let bins = common::package_bins(package);
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("r.html");
    let output = assert_cmd::Command::cargo_bin("grader")
        .unwrap()
        .current_dir(common::root())
        .args(["check", "lab11", "--timeout-scale", "0.2", "--exe"])
        .arg(format!("pipe={}", bins[bin].display()))
        .arg("--html")
        .arg(&page)
        .timeout(Duration::from_secs(240))
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let text = std::fs::read_to_string(&page).unwrap();
    (
        text,
        String::from_utf8_lossy(&output.stdout).into_owned(),
        dir,
    )
}

/// `2/20` from the human report's `Score: 2/20` line.
fn score_of(human: &str) -> String {
    let line = human
        .lines()
        .find(|l| l.starts_with("Score: "))
        .expect("a score line");
    line["Score: ".len()..]
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// The part of the page from an element's id to the end of its section.
fn section<'a>(page: &'a str, id: &str) -> &'a str {
    let start = page
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no {id}"));
    let end = page[start..]
        .find("</section>")
        .map_or(page.len(), |e| start + e);
    &page[start..end]
}

#[test]
fn the_html_report_shows_the_deadlock_under_the_check_it_failed_and_the_clean_run() {
    let (page, human, _dir) = html_report("lab11-broken", "pipe-keeps-write-end");
    // The deadlock costs what needs the run's end and the write end kept; the trace settles
    // two-workers, only-parent-prints and uses-pipe.
    assert_eq!(score_of(&human), "9/20", "{human}");
    assert!(page.contains("Score 9/20"));
    assert!(!page.contains("<script"), "no script in the page");
    // The first failed check carries the timeline of the run it judged: the parent blocked
    // in read on the pipe whose write end it still holds.
    let failed: Vec<&str> = page
        .match_indices("<section class=\"check failed\" id=\"")
        .map(|(at, _)| {
            let id = page[at..].split('"').nth(3).unwrap();
            section(&page, id)
        })
        .collect();
    assert!(failed.len() >= 2, "{human}");
    assert!(
        failed[0].contains("id=\"check-pipe.factors\""),
        "{}",
        failed[0]
    );
    for needle in [
        "class=\"timeline\"",
        "frozen",
        "in read(fd 3)",
        "holds w (fd 4)",
        "still holds the write end of pipe 1",
        "Hint:",
    ] {
        assert!(failed[0].contains(needle), "{needle}: {}", failed[0]);
    }
    // The other checks that judged the same run link to it instead of repeating it.
    let linked = failed[1..]
        .iter()
        .filter(|s| s.contains("its timeline above") && !s.contains("<svg"))
        .count();
    assert!(linked >= 1, "{failed:?}");
    // A passing check has no section of its own.
    assert!(!page.contains("id=\"check-pipe.rejects-bad-input\""));

    let (page, human, _dir) = html_report("lab11-solution", "pipe");
    assert_eq!(score_of(&human), "20/20", "{human}");
    assert!(page.contains("Score 20/20") && !page.contains("What to fix"));
    let ran = &page[page.find("How each part ran").expect("the runs section")..];
    let ran = &ran[..ran.find("</figure>").expect("a figure")];
    for needle in [
        "class=\"timeline\"",
        "Run completed",
        "reap worker 1",
        "reap worker 2",
        "close w",
    ] {
        assert!(ran.contains(needle), "{needle}");
    }
    assert!(!ran.contains(">frozen<"));
}

#[test]
fn the_html_report_escapes_what_a_program_chose() {
    use grader::formats::html::{Pictures, render};
    use grader::grade::{CheckResult, Report, Status};
    let evil = "<script>alert(1)</script>&\u{1b}[2K";
    let report = Report {
        lab: "lab11".into(),
        title: evil.into(),
        score: 0,
        max_score: 2,
        tracing: "filtered".into(),
        isolation: "fallback".into(),
        checks: vec![CheckResult {
            id: "pipe.x\"><b>".into(),
            part: "pipe".into(),
            title: evil.into(),
            points: 0,
            max_points: 2,
            status: Status::Failed,
            message: format!("got {evil}"),
            hint: evil.into(),
            note: String::new(),
            run_failure: None,
        }],
    };
    let page = render(&report, &Pictures::default());
    assert!(
        !page.contains("<script") && !page.contains("x\"><b>"),
        "{page}"
    );
    assert!(!page.contains('\u{1b}'));
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;&amp;\\x1b[2K"));
    assert!(page.contains("id=\"check-pipe.x___b_\""), "{page}");
}

/// Headless Chromium opens the deadlock's page and takes a screenshot: the page rendered,
/// and the timeline's own colours (the pipe's band, the fork arrows, the frozen column's
/// hatching) cover an area the size of a timeline. No console message (a blocked resource
/// would log one). Skipped, saying so, where no Chromium is installed (.ci/run installs it).
#[test]
fn chromium_renders_the_html_report_with_its_timeline() {
    let Some(browser) = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|b| {
            Command::new(b)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
    else {
        eprintln!("SKIPPED: no Chromium to open the HTML report (.ci/run installs chromium)");
        return;
    };
    let (page, _, dir) = html_report("lab11-broken", "pipe-keeps-write-end");
    let html = dir.path().join("r.html");
    assert!(page.contains("<svg"));
    let shot = dir.path().join("shot.png");
    let profile = dir.path().join("profile");
    let output = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
            "--enable-logging=stderr",
            "--v=0",
            "--window-size=1300,2400",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", html.display()))
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(shot.exists(), "no screenshot: {log}");
    assert!(!log.contains(":CONSOLE("), "console messages: {log}");
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&shot).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut pixels).unwrap();
    let channels = info.color_type.samples();
    assert!(info.bit_depth == png::BitDepth::Eight && channels >= 3);
    let (width, height) = (info.width as usize, info.height as usize);
    let near = |p: &[u8], c: [u8; 3]| (0..3).all(|i| p[i].abs_diff(c[i]) <= 12);
    // The pipe's band and ticks, the fork arrows, the frozen hatching: colours the page's
    // own style does not use.
    let palette = [[0x2f, 0x6f, 0xbf], [0x1f, 0x4e, 0x8c], [0xe6, 0xa1, 0x9a]];
    let (mut count, mut left, mut right, mut top, mut bottom) = (0, width, 0, height, 0);
    let mut blank = true;
    for y in 0..height {
        for x in 0..width {
            let p = &pixels[(y * width + x) * channels..][..3];
            blank &= p == [255, 255, 255];
            if palette.iter().any(|&c| near(p, c)) {
                count += 1;
                (left, right) = (left.min(x), right.max(x));
                (top, bottom) = (top.min(y), bottom.max(y));
            }
        }
    }
    assert!(!blank, "the screenshot is blank");
    assert!(count > 500, "{count} pixels of the timeline's colours");
    assert!(
        right - left > 300 && bottom - top > 100,
        "the timeline covers only x {left}..{right}, y {top}..{bottom}"
    );
}

/// A signal a wait took (sigwaitinfo) is never delivered as such: its arrow still goes
/// from the sender to the receiver's row.
#[test]
fn a_signal_taken_by_a_wait_still_has_its_arrow() {
    let mut run = handshake();
    for process in &mut run.trace.processes {
        process
            .events
            .retain(|e| !matches!(e, Event::Signal { .. }));
    }
    let timeline = Timeline::of(&run);
    assert!(timeline.signals.is_empty());
    let svg_text = svg::render(&timeline);
    let doc = roxmltree::Document::parse(&svg_text).unwrap();
    let pending: Vec<&str> = doc
        .descendants()
        .filter(|n| n.attribute("class") == Some("signal"))
        .filter_map(|n| n.children().find(|c| c.has_tag_name("title")))
        .filter_map(|t| t.text())
        .collect();
    assert_eq!(
        pending,
        [
            "kill: SIGUSR1 → parent (pid 200) (taken by a wait, or still pending)",
            "kill: SIGUSR1 → worker 1 (pid 201) (taken by a wait, or still pending)"
        ]
    );
}

// ------------------------------------------------------------------ the job summary

#[test]
fn the_job_summary_ends_with_the_first_failing_runs_diagram() {
    let bins = common::package_bins("lab11-broken");
    let output = assert_cmd::Command::cargo_bin("grader")
        .unwrap()
        .current_dir(common::root())
        .args([
            "check",
            "lab11",
            "--timeout-scale",
            "0.2",
            "--format",
            "summary",
        ])
        .arg("--exe")
        .arg(format!("pipe={}", bins["pipe-keeps-write-end"].display()))
        .timeout(Duration::from_secs(240))
        .output()
        .unwrap();
    let summary = String::from_utf8_lossy(&output.stdout);
    let at = summary.find("```mermaid\n").expect("a Mermaid block");
    let block = &summary[at..];
    assert!(
        block.starts_with("```mermaid\nsequenceDiagram\n"),
        "{block}"
    );
    assert!(
        block.contains("Note over P0: blocked in read(fd 3) on pipe 1"),
        "{block}"
    );
    assert!(summary[..at].contains("Timeline of the run <code>pipe.factors</code> judged"));
    assert!(summary.trim_end().ends_with("</details>"), "{summary}");
}

#[test]
fn the_diagram_is_left_out_of_a_summary_it_would_push_over_githubs_limit() {
    use grader::formats::summary::{FailingRun, SUMMARY_MAX, render, render_with_run};
    use grader::grade::Report;
    let report = Report {
        lab: "lab11".into(),
        title: "t".into(),
        score: 0,
        max_score: 0,
        tracing: "filtered".into(),
        isolation: "fallback".into(),
        checks: Vec::new(),
    };
    let run = |size: usize| FailingRun {
        check: "pipe.factors".into(),
        described: "input `small` (\"60\")".into(),
        diagram: format!(
            "sequenceDiagram\n{}\n",
            "    Note over P0: x\n".repeat(size / 20)
        ),
    };
    let small = render_with_run(&report, Some(&run(1000)));
    assert!(small.contains("```mermaid"), "{small}");
    let huge = render_with_run(&report, Some(&run(SUMMARY_MAX)));
    assert_eq!(huge, render(&report));
    assert!(huge.len() <= SUMMARY_MAX);
}

/// Many channels: the bands stop at a bound and the last one counts the rest.
#[test]
fn channels_past_the_bound_share_one_band() {
    let events = (0..30)
        .map(|id| Event::ShmGet {
            key: 0,
            size: 64,
            flags: 0,
            ret: id,
        })
        .collect();
    let parent = ended(
        process(500, None, "parent", events),
        End::Exited { code: 0 },
        1,
    );
    let timeline = Timeline::of(&run_of(vec![parent], RunStatus::Completed, Vec::new()));
    assert_eq!(timeline.channels.len(), 24);
    assert_eq!(timeline.channels[0].name, "segment id 0");
    assert_eq!(timeline.channels[23].name, "7 more channels");
    assert!(
        timeline
            .marks
            .iter()
            .all(|m| m.channel.is_none_or(|c| c < 24))
    );
    roxmltree::Document::parse(&svg::render(&timeline)).expect("well-formed");
}
