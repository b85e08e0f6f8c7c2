//! Tracing overhead, measured: `cargo bench -p grader --bench overhead`.
//!
//! Two workloads — (a) the pipe solution of lab 11 on the 17278-factor input, (b) a program
//! whose two workers make 200,000 small pipe writes — each run untraced, under the grader's
//! filtered tracing, under its full tracing, and under `strace -f -c` when installed. The modes
//! are interleaved round by round so that a noisy neighbour affects them alike; the report
//! gives medians and ratios to the untraced median of the same run.
//!
//! `BENCH_ROUNDS` sets the number of rounds (default 11).

use grader::run::{Limits, RunSpec, RunStatus};
use grader::trace::Interest;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Untraced,
    Filtered,
    Full,
    Strace,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Untraced => "untraced",
            Mode::Filtered => "grader, filtered",
            Mode::Full => "grader, full",
            Mode::Strace => "strace -f -c",
        }
    }
}

struct Workload {
    name: &'static str,
    program: PathBuf,
    stdin: &'static [u8],
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf();
    let rounds: usize = std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(11);
    let scratch = tempfile::tempdir().expect("temp dir");
    let solution = build_release_solution(&root);
    let flood = scratch.path().join("flood");
    let status = Command::new("cc")
        .args(["-O2", "-o"])
        .arg(&flood)
        .arg(root.join("grader/benches/programs/flood.c"))
        .status()
        .expect("cc runs");
    assert!(status.success(), "cc failed");
    let rubric = grader::rubric::Rubric::load(&root.join("labs/lab11/rubric.toml")).unwrap();
    let interest = rubric.interest();
    let workloads = [
        Workload {
            name: "(a) lab11 pipe solution, 17278 factors",
            program: solution,
            stdin: b"97821761637600\n",
        },
        Workload {
            name: "(b) 200,000 small pipe writes from two workers",
            program: flood,
            stdin: b"",
        },
    ];
    let strace = Command::new("strace").arg("-V").output().is_ok();
    let mut modes = vec![Mode::Untraced, Mode::Filtered, Mode::Full];
    if strace {
        modes.push(Mode::Strace);
    } else {
        println!("strace is not installed: its row is left out");
    }
    println!("{rounds} interleaved rounds per workload; medians of wall-clock time\n");
    for workload in &workloads {
        let mut times: Vec<Vec<Duration>> = vec![Vec::new(); modes.len()];
        for _ in 0..rounds {
            for (i, mode) in modes.iter().enumerate() {
                times[i].push(time_once(*mode, workload, &interest));
            }
        }
        let medians: Vec<Duration> = times.iter_mut().map(|t| median(t)).collect();
        println!("{}", workload.name);
        for (mode, median) in modes.iter().zip(&medians) {
            println!(
                "  {:<18} {:>9.1} ms   {:>6.2}× untraced",
                mode.name(),
                median.as_secs_f64() * 1e3,
                median.as_secs_f64() / medians[0].as_secs_f64()
            );
        }
        println!();
    }
}

fn time_once(mode: Mode, workload: &Workload, interest: &Interest) -> Duration {
    let started = Instant::now();
    match mode {
        Mode::Untraced | Mode::Strace => {
            let mut command = if mode == Mode::Strace {
                let mut c = Command::new("strace");
                c.args(["-f", "-c", "-o", "/dev/null"])
                    .arg(&workload.program);
                c
            } else {
                Command::new(&workload.program)
            };
            let mut child = command
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .expect("the workload starts");
            child
                .stdin
                .take()
                .unwrap()
                .write_all(workload.stdin)
                .unwrap();
            let output = child.wait_with_output().unwrap();
            assert!(output.status.success(), "{} failed", workload.name);
        }
        Mode::Filtered | Mode::Full => {
            let spec = RunSpec {
                program: workload.program.clone(),
                args: Vec::new(),
                stdin: workload.stdin.to_vec(),
                limits: Limits {
                    wall: Duration::from_secs(120),
                    ..Limits::default()
                },
                full: mode == Mode::Full,
                interest: interest.clone(),
                inherit_stdio: false,
                isolation: None,
                hold: None,
                client: None,
            };
            let outcome = grader::run::run(&spec).expect("the workload runs");
            assert_eq!(outcome.status, RunStatus::Completed, "{}", workload.name);
        }
    }
    started.elapsed()
}

fn median(times: &mut [Duration]) -> Duration {
    times.sort();
    times[times.len() / 2]
}

/// The pipe solution built with the release profile, as a student's optimised build.
fn build_release_solution(root: &Path) -> PathBuf {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(root)
        .args(["build", "--quiet", "--release", "-p", "lab11-solution"])
        .status()
        .expect("cargo runs");
    assert!(status.success(), "cannot build the solutions");
    root.join("target/release/lab11-solution-pipe")
}
