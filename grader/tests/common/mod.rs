//! Helpers shared by the grader's integration tests: compiling C fixtures, building the
//! workspace's lab packages, running programs under the tracer, looking for survivors.
#![allow(dead_code)] // Each test binary uses its own subset.

#[macro_use]
pub mod proof;

use grader::run::{Limits, RunOutcome, RunSpec};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Compiles a C file once per test binary; returns the executable.
pub fn compile_c(source: &Path, extra: &[&str]) -> PathBuf {
    static BUILT: OnceLock<Mutex<BTreeMap<PathBuf, PathBuf>>> = OnceLock::new();
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    let dir = DIR.get_or_init(|| tempfile::tempdir().expect("temp dir"));
    let mut built = BUILT
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(exe) = built.get(source) {
        return exe.clone();
    }
    let exe = dir.path().join(source.file_stem().unwrap());
    let output = Command::new("cc")
        .args(["-O2", "-Wall", "-Wextra", "-o"])
        .arg(&exe)
        .arg(source)
        .args(extra)
        .output()
        .expect("a C compiler (cc) is installed: .ci/run installs gcc");
    assert!(
        output.status.success(),
        "cc {} failed:\n{}",
        source.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    built.insert(source.to_path_buf(), exe.clone());
    exe
}

/// The tracer's test program.
pub fn tracee() -> PathBuf {
    compile_c(
        &root().join("grader/tests/programs/tracee.c"),
        &["-pthread"],
    )
}

/// Builds a workspace package's binaries (once per test binary); source stem → executable.
pub fn package_bins(package: &str) -> BTreeMap<String, PathBuf> {
    static BUILT: OnceLock<Mutex<BTreeMap<String, BTreeMap<String, PathBuf>>>> = OnceLock::new();
    let mut built = BUILT
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    built
        .entry(package.to_string())
        .or_insert_with(|| {
            let build = grader::workspace::build_bins(&root(), package)
                .unwrap_or_else(|e| panic!("cannot build {package}: {e}"));
            assert!(build.is_complete(), "cannot build {package}: {build:?}");
            build.bins
        })
        .clone()
}

/// Runs a program under the tracer with every topic of interest.
pub fn run_program(
    program: &Path,
    args: &[&str],
    stdin: &[u8],
    full: bool,
    wall_secs: f64,
) -> RunOutcome {
    run_isolated(program, args, stdin, full, wall_secs, None)
}

/// [`run_program`] with a forced isolation (`None`: the machine's best).
pub fn run_isolated(
    program: &Path,
    args: &[&str],
    stdin: &[u8],
    full: bool,
    wall_secs: f64,
    isolation: Option<grader::run::Isolation>,
) -> RunOutcome {
    let spec = RunSpec {
        program: program.to_path_buf(),
        args: args.iter().map(Into::into).collect(),
        stdin: stdin.to_vec(),
        limits: Limits {
            wall: Duration::from_secs_f64(wall_secs),
            ..Limits::default()
        },
        full,
        interest: grader::trace::Interest::all(),
        inherit_stdio: false,
        isolation,
        hold: None,
        client: None,
    };
    grader::run::run(&spec).expect("the program runs")
}

/// Fails if any of these processes still exists (and is not a zombie being reaped).
pub fn assert_no_survivors(pids: &[i32]) {
    // Killed processes may take a moment to be reaped by init.
    for _ in 0..50 {
        let alive: Vec<i32> = pids
            .iter()
            .copied()
            .filter(|pid| {
                std::fs::read_to_string(format!("/proc/{pid}/stat"))
                    .map(|s| {
                        let state = s
                            .rsplit_once(')')
                            .map(|(_, r)| r.trim_start().chars().next());
                        !matches!(state, Some(Some('Z' | 'X')))
                    })
                    .unwrap_or(false)
            })
            .collect();
        if alive.is_empty() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("processes survived the run: {pids:?}");
}
