//! The grader run as an unprivileged user (`setpriv --reuid=65534`), as on GitHub's runners
//! and in a pod without capabilities: in the fallback, and in user namespaces where the
//! machine allows them, a hostile submission still cannot signal the grader, reach the
//! terminal, inherit the grader's descriptors, or kill other processes of the same user.
//!
//! Each test starts `grader trace` under setpriv and reads what the program printed (it
//! inherits the grader's stdout). They need root to drop to `nobody`; otherwise they pass
//! as skipped.

mod common;

use std::os::unix::process::CommandExt;
use std::process::{Command, Output, Stdio};

const NOBODY: &str = "65534";

/// `grader trace -- hostile MODE ARGS` as `nobody`, with `GRADER_ISOLATION=isolation`, and
/// a descriptor 7 left open (not close-on-exec) as a CI runner's log would be.
fn grader_as_nobody(isolation: &str, mode: &str, args: &[&str]) -> Option<Output> {
    grader_as_nobody_tracing(isolation, &["--filtered"], mode, args)
}

/// [`grader_as_nobody`] with the tracing mode given: `["--filtered"]`, or none for full
/// tracing (`grader trace`'s default).
fn grader_as_nobody_tracing(
    isolation: &str,
    tracing: &[&str],
    mode: &str,
    args: &[&str],
) -> Option<Output> {
    if !grader::run::isolation::is_root() || Command::new("setpriv").arg("--help").output().is_err()
    {
        eprintln!("skipped: needs root and setpriv to become nobody");
        return None;
    }
    let hostile = common::package_bins("hostile")["main"].clone();
    let inherited = std::fs::File::open("/dev/null").unwrap();
    let mut command = Command::new("setpriv");
    command
        .args(["--reuid", NOBODY, "--regid", NOBODY, "--clear-groups", "--"])
        .arg(env!("CARGO_BIN_EXE_grader"))
        .arg("trace")
        .args(tracing)
        .args(["--timeout", "10", "--"])
        .arg(hostile)
        .arg(mode)
        .args(args)
        .env("GRADER_ISOLATION", isolation)
        .stdin(Stdio::null());
    use std::os::fd::AsRawFd;
    let fd = inherited.as_raw_fd();
    // SAFETY: dup2 is async-signal-safe and touches no memory.
    unsafe {
        command.pre_exec(move || {
            if libc::dup2(fd, 7) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let output = command.output().expect("setpriv runs");
    Some(output)
}

/// The isolations an unprivileged grader may have here.
fn unprivileged_isolations() -> Vec<&'static str> {
    let mut modes = vec!["fallback"];
    let probe = grader_as_nobody("user-namespaces", "garbage", &[]);
    if probe.is_some_and(|o| o.status.success()) {
        modes.push("user-namespaces");
    } else {
        eprintln!("user namespaces: not allowed for nobody here");
    }
    modes
}

fn lines(output: &Output) -> std::collections::BTreeMap<String, String> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn an_unprivileged_graders_run_cannot_reach_the_grader_or_the_terminal() {
    for isolation in unprivileged_isolations() {
        let Some(output) = grader_as_nobody(isolation, "escape", &["parent", "/"]) else {
            return;
        };
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{isolation}: {stderr}");
        let tried = lines(&output);
        // The bounding set needs CAP_SETPCAP to shrink, which an unprivileged grader's
        // fallback lacks; with nothing permitted and no_new_privs, it grants nothing.
        let sets: &[&str] = if isolation == "fallback" {
            &["CapEff", "CapPrm", "CapAmb"]
        } else {
            &["CapEff", "CapPrm", "CapBnd", "CapAmb"]
        };
        for set in sets {
            assert_eq!(
                tried[*set], "0000000000000000",
                "{isolation} {set}: {tried:?}"
            );
        }
        assert_eq!(tried["NoNewPrivs"], "1", "{isolation}: {tried:?}");
        // In the fallback its parent is the grader; in a namespace, the run's own init.
        let parent_is_grader = isolation == "fallback";
        let mut refused = vec!["dev-tty", "grader-netns", "write-closed-dir"];
        refused.extend(parent_is_grader.then_some("signal-parent"));
        for attempt in refused {
            assert!(
                tried[attempt].starts_with("refused"),
                "{isolation} {attempt}: {tried:?}"
            );
        }
        assert_eq!(tried["tty"], "0", "{isolation}: {tried:?}");
        // 0, 1, 2: the grader's descriptor 7 did not reach it.
        assert_eq!(tried["descriptors"], "3", "{isolation}: {tried:?}");
    }
}

#[test]
fn an_unprivileged_grader_survives_its_tracee_killing_it() {
    for isolation in unprivileged_isolations() {
        let Some(output) = grader_as_nobody(isolation, "kill-grader", &[]) else {
            return;
        };
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{isolation}: {stderr}");
        assert!(
            stdout.contains("kill(getppid(), SIGKILL) returned"),
            "{stdout}"
        );
        assert!(
            stdout.contains("grader trace: 1 process")
                || stderr.contains("grader trace: 1 process"),
            "{isolation}: {stdout}{stderr}"
        );
    }
}

#[test]
fn kill_minus_one_spares_the_other_processes_of_the_same_user() {
    for isolation in unprivileged_isolations() {
        let Ok(mut sentinel) = Command::new("setpriv")
            .args(["--reuid", NOBODY, "--regid", NOBODY, "--clear-groups", "--"])
            .args(["sleep", "30"])
            .spawn()
        else {
            return;
        };
        let output = grader_as_nobody(isolation, "kill-everyone", &[]);
        let alive = sentinel.try_wait().unwrap().is_none();
        let _ = sentinel.kill();
        let _ = sentinel.wait();
        let Some(output) = output else { return };
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{isolation}: {stdout}");
        assert!(
            alive,
            "{isolation}: kill(-1) killed another process of nobody"
        );
        assert!(stdout.contains("kill(-1, SIGKILL) returned"), "{stdout}");
    }
}

/// An unprivileged grader's fallback shares its uid, IPC namespace and directories with
/// the run: the semaphore sets and message queues the run leaves are found through the
/// trace's ids, its files through the names it made, and all are gone after the run.
#[test]
fn an_unprivileged_graders_fallback_leaves_nothing_behind() {
    for tracing in [&["--filtered"][..], &[]] {
        let Some(output) = grader_as_nobody_tracing("fallback", tracing, "litter", &[]) else {
            return;
        };
        litter_is_gone(&output);
    }
}

fn litter_is_gone(output: &Output) {
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    let mut seen = 0;
    for line in stdout.lines() {
        let Some((kind, id)) = line.split_once(' ') else {
            continue;
        };
        if !matches!(kind, "sem" | "msg") {
            continue;
        }
        seen += 1;
        let table = std::fs::read_to_string(format!("/proc/sysvipc/{kind}")).unwrap();
        let alive = table
            .lines()
            .skip(1)
            .any(|row| row.split_whitespace().nth(1) == Some(id));
        assert!(!alive, "{kind} {id} survived the run");
    }
    assert_eq!(seen, 2, "{stdout}");
    // The files too, found by the names the trace shows the run made: the plain files in
    // /tmp, /var/tmp and /dev/shm, and the second names of a FIFO and a shm object.
    let files: Vec<&str> = stdout.lines().filter(|l| l.starts_with('/')).collect();
    assert!(files.len() >= 5, "{stdout}");
    for file in files {
        assert!(
            !std::path::Path::new(file).exists(),
            "{file} survived the run"
        );
    }
}
