//! Tracing overhead, measured: `cargo bench -p grader --bench overhead`.
//!
//! Workloads — (a) the pipe solution of lab 11 on the 17278-factor input, (b) two workers
//! making 200,000 eight-byte pipe writes, (c) the same through a socket pair, (d) 600,000
//! calls no check watches (getpid, read of /dev/zero), (e) `/bin/true`, whose time is the
//! fixed cost of a run — each run:
//! - untraced;
//! - under a seccomp program that allows everything, with no tracer: the kernel's own cost
//!   of having a filter at all (every call takes the slow system-call entry), the floor any
//!   seccomp-based tracer stands on;
//! - under a *bare* tracer written here: `PTRACE_TRACEME`, the smallest filter a stdout check
//!   needs (stop at `write` to fds 0–2), `PTRACE_CONT` for everything: the cheapest ptrace +
//!   seccomp tracer of the same program;
//! - under the grader's filtered and full tracing (in the machine's best isolation), and under
//!   `strace -f -c` when installed.
//!
//! Modes are interleaved round by round so that a noisy neighbour affects them alike; the
//! report gives medians of wall-clock time and of CPU time (the program's and the tracer's
//! together), with ratios to the untraced median of the same run, then a breakdown of the
//! grader's cost into a fixed part (from `/bin/true`) and a part per system call.
//!
//! `BENCH_ROUNDS` sets the number of rounds (default 11).

use grader::run::{Limits, RunSpec, RunStatus};
use grader::trace::Interest;
use grader::trace::filter::{Action, Policy, Test};
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Untraced,
    SeccompFloor,
    BareTracer,
    Filtered,
    Full,
    Strace,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Untraced => "untraced",
            Mode::SeccompFloor => "seccomp allow-all, no tracer",
            Mode::BareTracer => "bare ptrace+seccomp tracer",
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
    /// About how many system calls it makes, for the cost per call.
    calls: Option<u64>,
}

/// One measurement: wall-clock time, and CPU time of the program and its tracer.
#[derive(Clone, Copy)]
struct Sample {
    wall: Duration,
    cpu: Duration,
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
    let compile = |name: &str| {
        let exe = scratch.path().join(name);
        let status = Command::new("cc")
            .args(["-O2", "-o"])
            .arg(&exe)
            .arg(root.join(format!("grader/benches/programs/{name}.c")))
            .status()
            .expect("cc runs");
        assert!(status.success(), "cc failed on {name}.c");
        exe
    };
    let rubric = grader::rubric::Rubric::load(&root.join("labs/lab11/rubric.toml")).unwrap();
    let interest = rubric.interest();
    let workloads = [
        Workload {
            name: "(a) lab11 pipe solution, 17278 factors",
            program: solution,
            stdin: b"97821761637600\n",
            calls: None,
        },
        Workload {
            name: "(b) 200,000 small pipe writes from two workers",
            program: compile("flood"),
            stdin: b"",
            calls: Some(400_000),
        },
        Workload {
            name: "(c) 200,000 small socket sends from two workers",
            program: compile("socket_flood"),
            stdin: b"",
            calls: Some(400_000),
        },
        Workload {
            name: "(d) 600,000 unwatched calls (getpid, read)",
            program: compile("getpid_loop"),
            stdin: b"",
            calls: Some(600_000),
        },
        Workload {
            name: "(e) /bin/true: the fixed cost of a run",
            program: PathBuf::from("/bin/true"),
            stdin: b"",
            calls: None,
        },
    ];
    let strace = Command::new("strace").arg("-V").output().is_ok();
    let mut modes = vec![
        Mode::Untraced,
        Mode::SeccompFloor,
        Mode::BareTracer,
        Mode::Filtered,
        Mode::Full,
    ];
    if strace {
        modes.push(Mode::Strace);
    } else {
        println!("strace is not installed: its row is left out");
    }
    println!(
        "{rounds} interleaved rounds per workload; medians; isolation: {}\n",
        grader::run::isolation::detect()
            .map(|i| i.name())
            .unwrap_or("unknown")
    );
    let mut fixed: Option<(Duration, Duration)> = None;
    for workload in &workloads {
        let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); modes.len()];
        for _ in 0..rounds {
            for (i, mode) in modes.iter().enumerate() {
                samples[i].push(time_once(*mode, workload, &interest));
            }
        }
        let medians: Vec<Sample> = samples.iter_mut().map(|s| median(s)).collect();
        println!("{}", workload.name);
        println!(
            "  {:<30} {:>9}  {:>6}   {:>9}  {:>6}",
            "", "wall ms", "ratio", "cpu ms", "ratio"
        );
        for (mode, m) in modes.iter().zip(&medians) {
            println!(
                "  {:<30} {:>9.1}  {:>5.2}×   {:>9.1}  {:>5.2}×",
                mode.name(),
                ms(m.wall),
                m.wall.as_secs_f64() / medians[0].wall.as_secs_f64(),
                ms(m.cpu),
                m.cpu.as_secs_f64() / medians[0].cpu.as_secs_f64().max(1e-9)
            );
        }
        let at = |mode: Mode| medians[modes.iter().position(|m| *m == mode).unwrap()];
        if workload.calls.is_none() && workload.program == Path::new("/bin/true") {
            fixed = Some((at(Mode::Filtered).wall, at(Mode::Untraced).wall));
        }
        if let Some(calls) = workload.calls {
            let per_call = |mode: Mode| {
                (at(mode).cpu.as_secs_f64() - at(Mode::Untraced).cpu.as_secs_f64()) * 1e9
                    / calls as f64
            };
            println!(
                "  extra CPU per call: seccomp floor {:.0} ns, bare tracer {:.0} ns, \
                 grader filtered {:.0} ns",
                per_call(Mode::SeccompFloor),
                per_call(Mode::BareTracer),
                per_call(Mode::Filtered)
            );
        }
        println!();
    }
    if let Some((traced, untraced)) = fixed {
        println!(
            "fixed cost of a filtered run: {:.1} ms (untraced spawn {:.1} ms): isolation, \
             filter, tracer start and teardown",
            ms(traced),
            ms(untraced)
        );
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// CPU time used so far by this process and by its reaped descendants.
fn cpu_so_far() -> Duration {
    let usage = |who: i32| {
        let mut usage = std::mem::MaybeUninit::<libc::rusage>::uninit();
        // SAFETY: getrusage writes one rusage into the buffer we own, read only on success.
        let usage = unsafe {
            assert_eq!(libc::getrusage(who, usage.as_mut_ptr()), 0);
            usage.assume_init()
        };
        let time = |t: libc::timeval| {
            Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
        };
        time(usage.ru_utime) + time(usage.ru_stime)
    };
    usage(libc::RUSAGE_SELF) + usage(libc::RUSAGE_CHILDREN)
}

fn time_once(mode: Mode, workload: &Workload, interest: &Interest) -> Sample {
    let cpu_before = cpu_so_far();
    let started = Instant::now();
    match mode {
        Mode::Untraced | Mode::Strace | Mode::SeccompFloor => {
            let mut command = if mode == Mode::Strace {
                let mut c = Command::new("strace");
                c.args(["-f", "-c", "-o", "/dev/null"])
                    .arg(&workload.program);
                c
            } else {
                Command::new(&workload.program)
            };
            if mode == Mode::SeccompFloor {
                let filter = Policy::default().compile();
                // SAFETY: between fork and exec the closure makes only raw system calls
                // (prctl, seccomp) on a program built before the fork.
                unsafe {
                    command.pre_exec(move || {
                        seccompiler::apply_filter(&filter)
                            .map_err(|_| std::io::Error::last_os_error())
                    });
                }
            }
            run_to_end(command, workload);
        }
        Mode::BareTracer => bare_trace(workload),
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
    Sample {
        wall: started.elapsed(),
        cpu: cpu_so_far() - cpu_before,
    }
}

/// Spawns `command` with the workload's stdin, reads its stdout, and checks it succeeded.
fn run_to_end(mut command: Command, workload: &Workload) {
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

/// The cheapest tracer that can still see a program's stdout: `PTRACE_TRACEME`, a filter
/// stopping only at `write` to fds 0–2, and `PTRACE_CONT` on every stop (signals forwarded,
/// new tasks followed through fork, vfork and clone).
fn bare_trace(workload: &Workload) {
    let mut policy = Policy::default();
    policy.push(
        libc::SYS_write as u32,
        Test::LowAtMost { arg: 0, limit: 2 },
        Action::Trace(0),
    );
    let filter = policy.compile();
    let mut command = Command::new(&workload.program);
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    // SAFETY: between fork and exec the closure makes only raw system calls (ptrace,
    // prctl, seccomp) on a program built before the fork.
    unsafe {
        command.pre_exec(move || {
            if libc::ptrace(libc::PTRACE_TRACEME, 0, 0usize, 0usize) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            seccompiler::apply_filter(&filter).map_err(|_| std::io::Error::last_os_error())
        });
    }
    let mut child = command.spawn().expect("the workload starts");
    let mut stdin = child.stdin.take().unwrap();
    let input = workload.stdin.to_vec();
    let feeder = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        let _ = stdout.read_to_end(&mut out);
        out
    });
    let main = child.id() as libc::pid_t;
    let options = libc::PTRACE_O_EXITKILL
        | libc::PTRACE_O_TRACESECCOMP
        | libc::PTRACE_O_TRACEFORK
        | libc::PTRACE_O_TRACEVFORK
        | libc::PTRACE_O_TRACECLONE
        | libc::PTRACE_O_TRACEEXEC;
    let mut main_status = None;
    let mut live = 1usize;
    let mut started = std::collections::HashSet::new();
    while live > 0 {
        let mut status = 0;
        // SAFETY: waitpid writes the status into an integer we own.
        let tid = unsafe { libc::waitpid(-1, &mut status, libc::__WALL) };
        assert!(tid > 0, "waitpid: {}", std::io::Error::last_os_error());
        if libc::WIFEXITED(status) || libc::WIFSIGNALED(status) {
            live -= 1;
            if tid == main {
                main_status = Some(status);
            }
            continue;
        }
        let signal = libc::WSTOPSIG(status);
        let event = status >> 16;
        let forward = if started.insert(tid) {
            // The first stop of a task (the exec stop of the first, SIGSTOP of the others):
            // set the options once, count it, and let it go.
            // SAFETY: PTRACE_SETOPTIONS takes integers; the task is in a ptrace stop.
            unsafe { libc::ptrace(libc::PTRACE_SETOPTIONS, tid, 0usize, options as usize) };
            if tid != main {
                live += 1;
            }
            0
        } else if event != 0 || signal == libc::SIGTRAP {
            0
        } else {
            signal
        };
        // SAFETY: PTRACE_CONT takes integers; the task is in a ptrace stop (or has just
        // died, which makes the call fail harmlessly).
        unsafe { libc::ptrace(libc::PTRACE_CONT, tid, 0usize, forward as usize) };
    }
    let _ = feeder.join();
    let out = reader.join().unwrap();
    let status = main_status.expect("the main task ended");
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "{} failed under the bare tracer: {}",
        workload.name,
        String::from_utf8_lossy(&out)
    );
    // Reap the direct child's zombie, already waited for above.
    let _ = child.try_wait();
}

fn median(samples: &mut [Sample]) -> Sample {
    let mut walls: Vec<Duration> = samples.iter().map(|s| s.wall).collect();
    let mut cpus: Vec<Duration> = samples.iter().map(|s| s.cpu).collect();
    walls.sort();
    cpus.sort();
    Sample {
        wall: walls[walls.len() / 2],
        cpu: cpus[cpus.len() / 2],
    }
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
