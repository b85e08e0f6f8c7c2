//! The grader against hostile submissions (grader/fixtures/hostile): each gets a clear
//! verdict within its time bound, and afterwards no process, segment or /dev/shm object of
//! the run survives — checked by looking for survivors, not by trusting the kill.
//!
//! Every case runs with the machine's best isolation (namespaces where the grader may
//! create them), with the fallback forced, and with unprivileged user namespaces where the
//! machine allows them, so every mode stays tested.

mod common;

use grader::run::{Isolation, Leak, RunOutcome, RunStatus};
use grader::trace::End;
use std::time::Duration;

fn hostile(mode: &str, wall_secs: f64, isolation: Option<Isolation>) -> RunOutcome {
    hostile_with(mode, &[], wall_secs, isolation)
}

fn hostile_with(
    mode: &str,
    args: &[&str],
    wall_secs: f64,
    isolation: Option<Isolation>,
) -> RunOutcome {
    let exe = common::package_bins("hostile")["main"].clone();
    let args: Vec<&str> = std::iter::once(mode).chain(args.iter().copied()).collect();
    let outcome = common::run_isolated(&exe, &args, b"", false, wall_secs, isolation);
    let expected = isolation.unwrap_or_else(|| grader::run::isolation::detect().unwrap());
    assert_eq!(outcome.isolation, expected);
    common::assert_no_survivors(&outcome.trace.pids());
    let pids = outcome.trace.pids();
    let left: Vec<_> = grader::run::inventory::segments()
        .into_iter()
        .filter(|s| pids.contains(&s.cpid))
        .collect();
    assert!(left.is_empty(), "segments survived: {left:?}");
    outcome
}

fn a_fork_flood_is_stopped_at_the_process_limit(isolation: Option<Isolation>) {
    let outcome = hostile("fork-flood", 20.0, isolation);
    assert_eq!(outcome.status, RunStatus::ProcessLimit);
    // The cap is 64 by default; a few more may be born while the kill goes out.
    assert!(
        outcome.trace.processes.len() < 200,
        "{}",
        outcome.trace.processes.len()
    );
    assert!(outcome.wall < Duration::from_secs(15), "{:?}", outcome.wall);
}

fn a_setsid_daemon_holding_stdout_is_killed_when_the_parent_ends(isolation: Option<Isolation>) {
    let outcome = hostile("daemon", 10.0, isolation);
    assert_eq!(outcome.status, RunStatus::Completed);
    assert_eq!(outcome.stdout.text(), "parent done\n");
    let daemon = outcome.trace.processes.last().unwrap();
    assert_eq!(daemon.end, Some(End::Killed));
    assert!(outcome.wall < Duration::from_secs(5), "{:?}", outcome.wall);
}

fn four_gib_of_output_is_counted_and_cut(isolation: Option<Isolation>) {
    let outcome = hostile("output-flood", 60.0, isolation);
    assert_eq!(outcome.status, RunStatus::Completed);
    assert_eq!(outcome.stdout.total, 4 << 30);
    assert!(outcome.stdout.truncated());
    assert_eq!(
        outcome.stdout.head.len() + outcome.stdout.tail.len(),
        1 << 20
    );
    assert!(outcome.stdout.text().contains("bytes not kept"));
}

fn two_hundred_leaked_segments_are_found_and_removed(isolation: Option<Isolation>) {
    let outcome = hostile("leak-segments", 10.0, isolation);
    let removed = outcome
        .leaks
        .iter()
        .filter(|l| matches!(l, Leak::SysvShm { removed: true, .. }))
        .count();
    assert_eq!(removed, 200, "{:?}", outcome.leaks.first());
    assert!(outcome.leaks[0].describe().contains("ipcrm -m"));
}

fn a_leaked_dev_shm_object_is_found_and_removed(isolation: Option<Isolation>) {
    let outcome = hostile("leak-posix-shm", 10.0, isolation);
    let path = outcome.stdout.text().trim().to_string();
    assert!(path.starts_with("/dev/shm/"), "{path}");
    assert_eq!(
        outcome.leaks,
        vec![Leak::PosixShm {
            path: path.clone(),
            removed: true
        }]
    );
    assert!(!std::path::Path::new(&path).exists());
}

fn an_endless_loop_times_out_and_is_explained(isolation: Option<Isolation>) {
    let outcome = hostile("spin", 1.0, isolation);
    assert_eq!(outcome.status, RunStatus::TimedOut);
    // The report comes within the limit plus the documented teardown grace.
    let bound = Duration::from_secs(1) + grader::trace::tracer::TEARDOWN_GRACE;
    assert!(outcome.wall < bound, "{:?}", outcome.wall);
    let explained = grader::run::hang::explain(&outcome).join("\n");
    // It spins: the CPU it kept using tells it from a deadlock.
    assert!(
        explained.contains("is still computing: it had used "),
        "{explained}"
    );
}

fn a_self_stopped_program_times_out(isolation: Option<Isolation>) {
    let outcome = hostile("self-stop", 1.0, isolation);
    assert_eq!(outcome.status, RunStatus::TimedOut);
    assert_eq!(outcome.stdout.text(), "");
}

fn a_closed_stdout_is_just_a_result(isolation: Option<Isolation>) {
    let outcome = hostile("closed-stdout", 10.0, isolation);
    assert_eq!(outcome.status, RunStatus::Completed);
    assert_eq!(outcome.stdout.total, 0);
    assert!(outcome.stderr.text().contains("closed stdout"));
}

fn binary_garbage_on_stdout_is_kept_and_shown_lossily(isolation: Option<Isolation>) {
    let outcome = hostile("garbage", 10.0, isolation);
    assert_eq!(outcome.stdout.total, 64 * 1024);
    assert!(outcome.stdout.text().contains('\u{fffd}'));
}

fn a_program_that_ptraces_itself_is_refused_by_the_kernel(isolation: Option<Isolation>) {
    let outcome = hostile("trace-self", 10.0, isolation);
    assert_eq!(outcome.stdout.text(), "traceme returned -1\n");
}

/// Tasks born while their group exits (their first stop is their exit, or their creator's
/// clone event never comes) never wedge the tracer: every run ends by itself, in both
/// tracing modes, many times over.
fn threads_born_while_their_group_exits_never_hang_the_tracer(isolation: Option<Isolation>) {
    let exe = common::package_bins("hostile")["main"].clone();
    for full in [false, true] {
        for _ in 0..4 {
            let outcome =
                common::run_isolated(&exe, &["thread-exit-race"], b"", full, 20.0, isolation);
            assert_eq!(outcome.status, RunStatus::Completed, "full: {full}");
            assert_eq!(outcome.stdout.text(), "survived 40 rounds\n");
            common::assert_no_survivors(&outcome.trace.pids());
        }
    }
}

fn a_thread_flood_is_stopped_at_the_task_limit(isolation: Option<Isolation>) {
    for full in [false, true] {
        let exe = common::package_bins("hostile")["main"].clone();
        let outcome = common::run_isolated(&exe, &["thread-flood"], b"", full, 20.0, isolation);
        assert_eq!(outcome.status, RunStatus::TaskLimit, "full: {full}");
        let threads: usize = outcome.trace.processes.iter().map(|p| p.threads).sum();
        // The cap is 256 tasks; a few more may be born while the kill goes out.
        assert!((255..400).contains(&threads), "{threads} threads");
        assert!(outcome.wall < Duration::from_secs(15), "{:?}", outcome.wall);
        common::assert_no_survivors(&outcome.trace.pids());
    }
}

/// The lines `attempt: result` the `escape` mode printed.
fn attempts(outcome: &RunOutcome) -> std::collections::BTreeMap<String, String> {
    outcome
        .stdout
        .text()
        .lines()
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Every way out of a run a submission could try, in every isolation: never root, no
/// capabilities, no controlling terminal, no inherited descriptor, no way to signal the
/// grader, read its /proc or enter its namespaces; as root, no write to a directory only
/// root may write to.
fn no_way_out(isolation: Option<Isolation>) {
    let closed = tempfile::tempdir_in(common::root().join("target")).unwrap();
    let grader_pid = std::process::id().to_string();
    let closed_path = closed.path().to_str().unwrap();
    let outcome = hostile_with("escape", &[&grader_pid, closed_path], 10.0, isolation);
    let chosen = outcome.isolation;
    let tried = attempts(&outcome);
    let root = grader::run::isolation::is_root();
    assert_ne!(tried["Uid"], "", "{tried:?}");
    // In a user namespace it is root there (and no one outside): its uid inside says
    // nothing; the write it could not make does.
    if root && chosen != Isolation::UserNamespaces {
        assert!(
            tried["Uid"].parse::<u32>().unwrap() >= grader::run::isolation::RUN_UID_BASE,
            "{tried:?}"
        );
    }
    for set in ["CapEff", "CapPrm", "CapBnd", "CapAmb"] {
        assert_eq!(tried[set], "0000000000000000", "{set}: {tried:?}");
    }
    assert_eq!(tried["NoNewPrivs"], "1", "{tried:?}");
    for attempt in ["grader-exe", "grader-netns", "signal-grader", "dev-tty"] {
        assert!(
            tried[attempt].starts_with("refused"),
            "{attempt}: {tried:?}"
        );
    }
    if chosen == Isolation::Fallback {
        // Its parent is the grader itself.
        assert!(tried["signal-parent"].starts_with("refused"), "{tried:?}");
    } else {
        // Its own /proc shows the run alone (the namespace's init and the program).
        assert!(
            tried["visible-processes"].parse::<u32>().unwrap() <= 2,
            "{tried:?}"
        );
    }
    assert_eq!(tried["session-leader"], "true", "{tried:?}");
    assert_eq!(tried["tty"], "0", "{tried:?}");
    assert_eq!(tried["descriptors"], "3", "{tried:?}");
    assert_eq!(std::fs::read_dir(closed.path()).unwrap().count(), 0);
}

/// Files in every writable place, a FIFO and a shm object given a second name by `link`, a
/// semaphore set and a message queue: none survives the run, and each file is reported as
/// left behind.
fn nothing_is_left_behind(isolation: Option<Isolation>) {
    let outcome = hostile("litter", 10.0, isolation);
    let made: Vec<String> = outcome.stdout.text().lines().map(str::to_string).collect();
    assert!(made.len() >= 7, "{made:?}");
    let reported: Vec<String> = outcome.leaks.iter().map(|l| l.describe()).collect();
    let owner_known = grader::run::isolation::is_root();
    let fallback = outcome.isolation == Isolation::Fallback;
    for thing in &made {
        if let Some(path) = thing.strip_prefix('/').map(|_| thing.as_str()) {
            // Found by owner, in a private tmpfs, or (same uid as the grader, no
            // namespaces) by the names the trace shows the run made.
            assert!(!std::path::Path::new(path).exists(), "{path} survived");
            assert!(
                reported.iter().any(|r| r.contains(path)),
                "{path} not reported: {reported:?}"
            );
        } else if let Some((kind, id)) = thing.split_once(' ') {
            if !fallback || !owner_known {
                continue; // In its own IPC namespace, it died with the namespace.
            }
            let table = std::fs::read_to_string(format!("/proc/sysvipc/{kind}")).unwrap();
            let alive = table
                .lines()
                .skip(1)
                .any(|row| row.split_whitespace().nth(1) == Some(id));
            assert!(!alive, "{kind} {id} survived");
            let command = if kind == "sem" {
                "ipcrm -s"
            } else {
                "ipcrm -q"
            };
            assert!(
                reported
                    .iter()
                    .any(|r| r.contains(&format!("{command} {id}"))),
                "{kind} {id} not reported: {reported:?}"
            );
        }
    }
}

/// Two runs at once of a program that lives under /tmp (as a C fixture compiled in a temp
/// directory does) each have a /tmp of their own: the same name made with O_EXCL never
/// collides. (Before, a program under /tmp kept the machine's /tmp.)
fn runs_under_tmp_do_not_collide(isolation: Option<Isolation>) {
    let chosen = isolation.unwrap_or_else(|| grader::run::isolation::detect().unwrap());
    if chosen == Isolation::Fallback {
        eprintln!("skipped: the fallback shares the machine's /tmp");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    assert!(dir.path().starts_with("/tmp"));
    let exe = dir.path().join("hostile");
    std::fs::copy(&common::package_bins("hostile")["main"], &exe).unwrap();
    let runs: Vec<_> = (0..2)
        .map(|_| {
            let exe = exe.clone();
            std::thread::spawn(move || {
                common::run_isolated(&exe, &["exclusive-tmp"], b"", false, 10.0, isolation)
            })
        })
        .collect();
    for run in runs {
        let outcome = run.join().unwrap();
        assert_eq!(outcome.stdout.text(), "made /tmp/lab-kit-exclusive\n");
        // The directory bound back for the program is the grader's: neither a leak nor
        // emptied by the clean-up.
        assert_eq!(outcome.leaks, vec![], "{:?}", outcome.isolation);
    }
    assert!(exe.exists(), "the program's own directory was emptied");
}

/// A program that kills its parent: in the fallback that is the grader, which survives
/// (the call is refused) and reports; in a namespace it is the shim, and the run ends.
fn killing_the_grader_is_refused(isolation: Option<Isolation>) {
    let outcome = hostile("kill-grader", 10.0, isolation);
    if outcome.isolation == Isolation::Fallback {
        assert_eq!(
            outcome.stdout.text(),
            "kill(getppid(), SIGKILL) returned -1\n"
        );
    }
    assert_eq!(outcome.status, RunStatus::Completed);
}

/// Every call that would move data past a lab's mechanism (another process's memory or
/// descriptors, a child sharing memory or descriptors, Linux AIO, a seccomp listener that
/// outranks the tracer, ptrace) is refused with ENOSYS and recorded, in both tracing modes.
fn the_forbidden_calls_are_refused_and_recorded(isolation: Option<Isolation>) {
    let exe = common::package_bins("hostile")["main"].clone();
    for full in [false, true] {
        let outcome = common::run_isolated(&exe, &["forbidden"], b"", full, 10.0, isolation);
        let tried = attempts(&outcome);
        assert_eq!(tried.len(), 8, "{tried:?}");
        for (call, errno) in &tried {
            assert_eq!(
                errno, "38",
                "full: {full}, {call} was not refused: {tried:?}"
            );
        }
        let refused: Vec<&str> = outcome.trace.processes[0]
            .events
            .iter()
            .filter_map(|e| match e {
                grader::trace::Event::Refused { syscall, .. } => Some(syscall.as_str()),
                _ => None,
            })
            .collect();
        let expected = [
            "pidfd_getfd",
            "process_vm_writev",
            "process_vm_readv",
            "io_setup",
            "clone",
            "clone",
            "seccomp",
            "ptrace",
        ];
        assert_eq!(refused, expected, "full: {full}");
    }
}

/// `grader trace` gives the program the operator's terminal as its stdin and stdout; run
/// under `script`, which makes a pseudo-terminal the grader's controlling terminal, the
/// program can neither push keystrokes into it (TIOCSTI) nor open /dev/tty: it is in a
/// session of its own. Needs no isolation: every mode runs it the same way.
#[test]
fn the_operators_terminal_is_out_of_reach() {
    if std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("skipped: no script(1) to make a terminal");
        return;
    }
    let exe = common::package_bins("hostile")["main"].clone();
    for isolation in ["fallback", "auto"] {
        let command = format!(
            "{} trace --filtered --timeout 10 -- {} tiocsti; read -t 1 line; echo \"read: $line\"",
            env!("CARGO_BIN_EXE_grader"),
            exe.display()
        );
        let output = std::process::Command::new("script")
            .args(["-qec", &command, "/dev/null"])
            .env("GRADER_ISOLATION", isolation)
            .stdin(std::process::Stdio::null())
            .output()
            .expect("script runs");
        let text = String::from_utf8_lossy(&output.stdout);
        assert!(
            text.contains("tiocsti pushed 0 bytes; /dev/tty written: false"),
            "{isolation}: {text}"
        );
        assert!(!text.contains("read: echo INJECTED"), "{isolation}: {text}");
    }
}

/// `kill(-1, SIGKILL)` reaches nothing outside the run, in every isolation: a process of the
/// grader's own outlives it. In a PID namespace it reaches the run alone; in the fallback a
/// root grader's run has a uid of its own, and an unprivileged grader's run is refused the
/// call (see the shield filter).
fn kill_everyone(isolation: Option<Isolation>) {
    let mut sentinel = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .expect("sleep starts");
    let outcome = hostile("kill-everyone", 10.0, isolation);
    let alive = sentinel
        .try_wait()
        .expect("the sentinel can be waited for")
        .is_none();
    let _ = sentinel.kill();
    let _ = sentinel.wait();
    assert!(alive, "kill(-1) inside the run killed a process outside it");
    assert_eq!(outcome.status, RunStatus::Completed);
    // It returns -1 (ESRCH) when the namespace holds nobody it may signal but itself.
    assert!(
        outcome
            .stdout
            .text()
            .starts_with("kill(-1, SIGKILL) returned"),
        "{}",
        outcome.stdout.text()
    );
}

/// A run may write four files of 48 MiB, each under the file size limit: in namespaces its
/// private /tmp (128 MiB) fills first, the write fails with ENOSPC and the outcome says
/// which place was full; in the fallback nothing caps the total, and the owner sweep (a
/// root grader) or the names in the trace (an unprivileged one) remove every file.
fn a_full_private_tmp_cuts_the_run_and_says_so(isolation: Option<Isolation>) {
    let outcome = hostile("fill-tmp", 20.0, isolation);
    let stdout = outcome.stdout.text();
    let files: Vec<&str> = stdout.lines().filter(|l| l.starts_with('/')).collect();
    assert!(!files.is_empty(), "{stdout}");
    for file in &files {
        assert!(!std::path::Path::new(file).exists(), "{file} survived");
    }
    if outcome.isolation == Isolation::Fallback {
        assert!(stdout.ends_with("wrote 192 MiB\n"), "{stdout}");
        assert!(outcome.filled.is_empty(), "{:?}", outcome.filled);
        return;
    }
    assert!(stdout.contains("No space left on device"), "{stdout}");
    let written: u64 = stdout
        .lines()
        .last()
        .and_then(|l| l.strip_prefix("wrote "))
        .and_then(|l| l.strip_suffix(" MiB"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(written <= 128, "{stdout}");
    assert_eq!(outcome.filled.len(), 1, "{:?}", outcome.filled);
    let place = &outcome.filled[0];
    assert_eq!(place.path, "/tmp");
    assert_eq!(
        place.describe(),
        "/tmp was full: the run filled its 128 MiB cap there, and writes past it failed \
         (ENOSPC, \"No space left on device\")"
    );
}

/// A call of the x32 ABI carries a number no rule of the run's filter names: it is refused
/// with ENOSYS in filtered and in full tracing, so nothing reaches stdout that way. (On a
/// kernel built without x32, as this machine's, the kernel refuses it too: the filter's own
/// decision is proven in `trace::filter`'s tests.)
fn a_call_of_the_x32_abi_is_refused(isolation: Option<Isolation>) {
    let exe = common::package_bins("hostile")["main"].clone();
    for full in [false, true] {
        let outcome = common::run_isolated(&exe, &["x32-write"], b"", full, 10.0, isolation);
        let stdout = outcome.stdout.text();
        assert_eq!(
            stdout,
            format!("x32 write returned -1 (errno {})\n", libc::ENOSYS),
            "full: {full}"
        );
    }
}

/// One test per case and isolation: `namespaces::…` (the machine's best) and `fallback::…`.
macro_rules! in_both_isolations {
    ($($case:ident),* $(,)?) => {
        mod best {
            $(#[test] fn $case() { super::$case(None) })*
        }
        mod fallback {
            use grader::run::Isolation;
            $(#[test] fn $case() { super::$case(Some(Isolation::Fallback)) })*
        }
        /// The unprivileged flavour, where this machine allows user namespaces (not on
        /// GitHub's Ubuntu runners, which restrict them: there these pass as skipped).
        mod user_namespaces {
            use grader::run::Isolation;
            $(#[test] fn $case() {
                if !grader::run::isolation::user_namespaces_work() {
                    eprintln!("skipped: this machine does not allow user namespaces");
                    return;
                }
                super::$case(Some(Isolation::UserNamespaces))
            })*
        }
    };
}

in_both_isolations!(
    no_way_out,
    the_forbidden_calls_are_refused_and_recorded,
    runs_under_tmp_do_not_collide,
    killing_the_grader_is_refused,
    nothing_is_left_behind,
    a_full_private_tmp_cuts_the_run_and_says_so,
    a_call_of_the_x32_abi_is_refused,
    kill_everyone,
    threads_born_while_their_group_exits_never_hang_the_tracer,
    a_thread_flood_is_stopped_at_the_task_limit,
    a_fork_flood_is_stopped_at_the_process_limit,
    a_setsid_daemon_holding_stdout_is_killed_when_the_parent_ends,
    four_gib_of_output_is_counted_and_cut,
    two_hundred_leaked_segments_are_found_and_removed,
    a_leaked_dev_shm_object_is_found_and_removed,
    an_endless_loop_times_out_and_is_explained,
    a_self_stopped_program_times_out,
    a_closed_stdout_is_just_a_result,
    binary_garbage_on_stdout_is_kept_and_shown_lossily,
    a_program_that_ptraces_itself_is_refused_by_the_kernel
);
