//! The `grader` command: `check` grades a lab, `trace` summarises a program's system calls.
//!
//! Only argument handling and dispatch live here; the work is in the library. Errors of the
//! grader itself (bad arguments, unusable executable, unknown lab) exit 2 with one line;
//! grading that ran exits 0 whatever the score.

use anyhow::{Context, Result, anyhow, bail};
use clap::{Parser, Subcommand, ValueEnum};
use grader::grade::{GradeOptions, Grading, Report};
use grader::rubric::Rubric;
use grader::run::{self, Limits, RunSpec};
use grader::trace::{End, Interest};
use grader::{formats, report, workspace};
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "grader",
    version,
    about = "Grades IPC lab programs by tracing their system calls"
)]
struct Cli {
    #[command(subcommand)]
    command: Commands,
}

#[derive(Subcommand)]
enum Commands {
    /// Build a lab in this repository and grade it against its rubric.
    Check(CheckArgs),
    /// Run a program under the tracer and print a per-process system-call summary
    /// (like `strace -c -f`) on stderr.
    Trace(TraceArgs),
    /// Grade a folder of submissions (one clone of the kit per subfolder) into a gradebook:
    /// grades.csv, grades.json, feedback/<student>.md, report.html.
    Batch(BatchArgs),
    /// Write the repository students clone: the kit without the solutions, the grader's
    /// own tests and fixtures, and the kit's CI.
    ExportTemplate(ExportTemplateArgs),
    /// List the IPC objects you left on this machine (System V segments, semaphore sets and
    /// message queues, files in /dev/shm and /dev/mqueue), and whether their processes live.
    Leaks(LeaksArgs),
}

#[derive(clap::Args)]
struct CheckArgs {
    /// The lab to grade, e.g. lab11.
    lab: String,
    /// Grade the reference solutions instead of the student crate.
    #[arg(long, conflicts_with = "exe")]
    solutions: bool,
    /// Grade this executable for a part instead of building (repeatable), e.g.
    /// `--exe pipe=./a.out`. Parts given no executable are skipped.
    #[arg(long, value_name = "PART=PATH")]
    exe: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
    /// With --format classroom50: fill in the Classroom 50 variables that are not set (a
    /// local dry run) instead of failing.
    #[arg(long)]
    placeholders: bool,
    /// With --format summary: also write one `::error` workflow command per failed check
    /// to FILE.
    #[arg(long, value_name = "FILE")]
    annotations: Option<PathBuf>,
    /// Step every system call instead of filtering with seccomp (slower; same verdicts).
    #[arg(long)]
    full_trace: bool,
    /// Also write the report as one offline HTML page to FILE, with the timeline of the run
    /// each failed check judged and of each part's run.
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
    /// The kit's repository (default: found above the current directory).
    #[arg(long, value_name = "DIR")]
    root: Option<PathBuf>,
    /// Runs at a time (default: the number of CPUs).
    #[arg(long, value_name = "N")]
    jobs: Option<usize>,
    /// Multiply the rubric's wall-clock limits (e.g. 2 on a slow machine).
    #[arg(long, value_name = "FACTOR", default_value_t = 1.0,
          value_parser = timeout_scale)]
    timeout_scale: f64,
    #[command(flatten)]
    limits: LimitArgs,
}

/// Limits of every run, beyond wall-clock time (defaults: `run::Limits::default()`).
#[derive(clap::Args)]
#[command(next_help_heading = "Limits of each run")]
struct LimitArgs {
    /// CPU time, in seconds [default: 60].
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..u64::MAX))]
    cpu_secs: Option<u64>,
    /// Address space, in MiB [default: 4096].
    #[arg(long, value_name = "MIB", value_parser = clap::value_parser!(u64).range(1..=MAX_MIB))]
    max_memory_mib: Option<u64>,
    /// Size of any file written, in MiB [default: 64].
    #[arg(long, value_name = "MIB", value_parser = clap::value_parser!(u64).range(1..=MAX_MIB))]
    max_file_mib: Option<u64>,
    /// Open descriptors per process [default: 256].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(8..))]
    max_open_files: Option<u64>,
    /// Output kept per stream (head and tail), in KiB [default: 1024].
    #[arg(long, value_name = "KIB", value_parser = clap::value_parser!(u64).range(1..=MAX_KIB))]
    max_output_kib: Option<u64>,
    /// Processes a run may create, counted by the tracer [default: 64].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    max_processes: Option<u64>,
    /// Tasks (processes and threads) a run may create [default: 256].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=100_000))]
    max_tasks: Option<u64>,
}

impl LimitArgs {
    fn apply(&self, limits: Limits) -> Limits {
        Limits {
            cpu_secs: self.cpu_secs.unwrap_or(limits.cpu_secs),
            address_space: self
                .max_memory_mib
                .map_or(limits.address_space, |m| m << 20),
            file_size: self.max_file_mib.map_or(limits.file_size, |m| m << 20),
            open_files: self.max_open_files.unwrap_or(limits.open_files),
            output_bytes: self
                .max_output_kib
                .map_or(limits.output_bytes, |k| (k as usize) << 10),
            max_processes: self
                .max_processes
                .map_or(limits.max_processes, |n| n as usize),
            max_tasks: self.max_tasks.map_or(limits.max_tasks, |n| n as usize),
            ..limits
        }
    }
}

/// The most MiB whose count of bytes fits in a u64 (and is not RLIM_INFINITY); the same for
/// KiB in a usize. Larger values would wrap around to a tiny limit.
const MAX_MIB: u64 = u64::MAX >> 20;
const MAX_KIB: u64 = (usize::MAX >> 10) as u64;

/// The longest `grader trace --timeout`: a day.
const MAX_TRACE_SECS: f64 = 86_400.0;

/// `--timeout-scale`: within `rubric::TIMEOUT_SCALES`, so that no scaled limit overflows.
fn timeout_scale(text: &str) -> Result<f64, String> {
    let (least, most) = grader::rubric::TIMEOUT_SCALES;
    number_in(text, least, most)
}

/// `grader trace --timeout`: positive seconds, at most [`MAX_TRACE_SECS`].
fn trace_timeout(text: &str) -> Result<f64, String> {
    number_in(text, 0.0, MAX_TRACE_SECS)
}

/// A number checked as the rubric's are (`rubric::number_in`).
fn number_in(text: &str, least: f64, most: f64) -> Result<f64, String> {
    let value = text
        .parse::<f64>()
        .map_err(|_| format!("`{text}` is not a positive number"))?;
    grader::rubric::number_in(value, least, most).map_err(|why| format!("`{text}` {why}"))
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    /// For people: aligned, coloured on a terminal.
    Human,
    /// The report as JSON.
    Json,
    /// GitHub Classroom's runner result on stdout; with GITHUB_OUTPUT set, also appends
    /// `result=<base64>` there for the grading reporter, and logs the human report on
    /// stderr with workflow commands turned off.
    Classroom,
    /// Classroom 50: writes result.json and release-body.md in the current directory
    /// (identity from the runner's environment), the report fenced on stdout.
    Classroom50,
    /// Markdown for a GitHub Actions job summary (check, points, status; failures in
    /// <details>), under 1 MiB.
    Summary,
    /// Gradescope's results.json.
    Gradescope,
    /// JUnit XML: one test case per rubric item.
    Junit,
}

#[derive(clap::Args)]
struct TraceArgs {
    /// Stop only at the calls the graders look at (seccomp filter) instead of every call.
    #[arg(long)]
    filtered: bool,
    /// Kill the program after this many seconds.
    #[arg(long, default_value_t = 60.0, value_name = "SECS", value_parser = trace_timeout)]
    timeout: f64,
    /// Also draw the run's timeline (processes, channels, signals, a hang) as SVG to FILE.
    #[arg(long, value_name = "FILE")]
    timeline: Option<PathBuf>,
    /// Also write the timeline as a Mermaid sequence diagram to FILE.
    #[arg(long, value_name = "FILE")]
    mermaid: Option<PathBuf>,
    /// Also write the run as Chrome trace-event JSON to FILE, for ui.perfetto.dev or
    /// chrome://tracing.
    #[arg(long, value_name = "FILE")]
    perfetto: Option<PathBuf>,
    #[command(flatten)]
    limits: LimitArgs,
    /// The program and its arguments.
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<OsString>,
}

#[derive(clap::Args)]
struct BatchArgs {
    /// The lab to grade, e.g. lab11.
    lab: String,
    /// The folder of submissions: one subfolder (a clone of the kit) per student, named
    /// after the student.
    submissions: PathBuf,
    /// Where the gradebook, the work folders and the shared build folder go.
    #[arg(long, value_name = "DIR", default_value = "grades")]
    out: PathBuf,
    /// Submissions graded at a time (default: the number of CPUs); builds run one at a time.
    #[arg(long, value_name = "N")]
    jobs: Option<usize>,
    /// Grade every submission again, even those whose files did not change.
    #[arg(long)]
    force: bool,
    /// Grade each git submission's last commit before this time (RFC 3339, e.g.
    /// 2025-05-01T23:59:00+02:00) and count the commits made after it.
    #[arg(long, value_name = "TIME")]
    deadline: Option<String>,
    /// Stop a submission's build after this many seconds (it is graded as not building).
    #[arg(long, value_name = "SECS", default_value_t = 600)]
    build_timeout: u64,
    /// Multiply the rubric's wall-clock limits (e.g. 2 on a slow machine).
    #[arg(long, value_name = "FACTOR", default_value_t = 1.0, value_parser = timeout_scale)]
    timeout_scale: f64,
    /// The kit's repository (default: found above the current directory).
    #[arg(long, value_name = "DIR")]
    root: Option<PathBuf>,
}

#[derive(clap::Args)]
struct ExportTemplateArgs {
    /// The folder to write (must be empty or not exist).
    dir: PathBuf,
    /// Only this lab (one assignment): the other labs are left out and the workflow grades
    /// this one.
    #[arg(long, value_name = "LAB")]
    lab: Option<String>,
    /// What grades the students' pushes: `actions` ships a workflow that grades every push
    /// and writes a job summary; `classroom50` and `none` ship no workflow (Classroom 50
    /// installs its own).
    #[arg(long = "for", value_enum, value_name = "PLATFORM",
          default_value_t = grader::template::Target::default())]
    target: grader::template::Target,
    /// The kit's repository (default: found above the current directory).
    #[arg(long, value_name = "DIR")]
    root: Option<PathBuf>,
}

#[derive(clap::Args)]
struct LeaksArgs {
    /// Remove the stale ones: process gone and, for a segment, nobody attached. Objects in
    /// use are kept and listed with the reason. Exits 1 if a removal failed.
    #[arg(long)]
    remove: bool,
    /// Everyone's objects, not only yours (as root, --remove then removes anyone's).
    #[arg(long)]
    all_users: bool,
    /// Only this object (repeatable): shm:ID, sem:ID, msg:ID, /dev/shm/NAME or
    /// /dev/mqueue/NAME.
    #[arg(long, value_name = "OBJECT")]
    only: Vec<grader::leaks::Selector>,
    /// Output format: a table for people, or JSON for scripts.
    #[arg(long, value_enum, default_value_t = LeaksFormat::Human)]
    format: LeaksFormat,
}

/// How `grader leaks` prints its listing.
#[derive(Clone, Copy, ValueEnum)]
enum LeaksFormat {
    /// An aligned table.
    Human,
    /// One JSON document.
    Json,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // --help, --version, and the help a bare `grader` prints (exit status 2).
        Err(e)
            if !e.use_stderr()
                || e.kind() == clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand =>
        {
            e.exit()
        }
        Err(e) => {
            // One line, like every other error of the grader's own.
            let text = e.to_string();
            let first = text.lines().next().unwrap_or_default();
            eprintln!(
                "grader: error: {} (see --help)",
                first.trim_start_matches("error: ")
            );
            return ExitCode::from(2);
        }
    };
    let result = match cli.command {
        Commands::Check(args) => check(args),
        Commands::Trace(args) => trace(args),
        Commands::Batch(args) => batch(args),
        Commands::ExportTemplate(args) => export_template(args),
        Commands::Leaks(args) => leaks(args),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            let mut message = error.to_string();
            for cause in error.chain().skip(1) {
                message.push_str(&format!(": {cause}"));
            }
            eprintln!("grader: error: {message}");
            ExitCode::from(2)
        }
    }
}

fn check(args: CheckArgs) -> Result<ExitCode> {
    let root = kit_root(args.root.clone())?;
    let rubric_path = Rubric::path_in(&root, &args.lab);
    if !rubric_path.is_file() {
        bail!(
            "unknown lab `{}`: there is no {}",
            args.lab,
            rubric_path.display()
        );
    }
    let rubric = Rubric::load(&rubric_path)?;
    let started = (std::time::SystemTime::now(), std::time::Instant::now());
    let mut output = Output {
        format: args.format,
        // Checked before grading: a missing variable costs no build.
        identity: match args.format {
            Format::Classroom50 => Some(
                formats::classroom50::Identity::from_env(
                    |name| std::env::var(name).ok(),
                    &args.lab,
                    args.placeholders,
                )
                .map_err(|e| anyhow!(e))?,
            ),
            _ => None,
        },
        annotations: args.annotations.clone(),
        failing_run: None,
    };
    let (exes, not_built) = if args.exe.is_empty() {
        let package = if args.solutions {
            &rubric.solution_package
        } else {
            &rubric.package
        };
        let parts = rubric.parts.iter().map(|(part, spec)| (part, &spec.bin));
        let split = workspace::build_bins(&root, package)?
            .by_part(parts)
            .map_err(|e| anyhow!("package `{package}`: {e}"))?;
        (split.exes, split.not_built)
    } else {
        (parse_exes(&rubric, &args.exe)?, BTreeMap::new())
    };
    let options = GradeOptions {
        full: args.full_trace || GradeOptions::default().full,
        limits: args.limits.apply(Limits::default()),
        timeout_scale: args.timeout_scale,
        isolation: None,
    };
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let grading = Grading::new(rubric, exes, options).with_not_built(&not_built);
    let report = grading.grade_all(jobs);
    let context =
        formats::Context::started(started.0, started.1.elapsed()).with_runs(&grading, &report);
    if let Some(path) = &args.html {
        let pictures = formats::html::Pictures::gather(&grading, &report);
        let page = formats::html::render(&report, &pictures);
        formats::replace_file(path, page.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if matches!(output.format, Format::Summary) {
        output.failing_run = formats::summary::FailingRun::find(&grading, &report);
    }
    print_report(&report, &output, &context)?;
    Ok(ExitCode::SUCCESS)
}

/// Where and how `grader check` reports.
struct Output {
    format: Format,
    identity: Option<formats::classroom50::Identity>,
    annotations: Option<PathBuf>,
    /// With --format summary: the first failing run, drawn for the summary.
    failing_run: Option<formats::summary::FailingRun>,
}

fn print_report(report: &Report, output: &Output, context: &formats::Context) -> Result<()> {
    let text = match output.format {
        Format::Human => report::human(report),
        Format::Json => report::json(report) + "\n",
        Format::Classroom => {
            // The Actions log shows stderr: the feedback for the student, fenced so that
            // student output quoted in it cannot issue workflow commands.
            let token = formats::classroom::random_token();
            let log = formats::classroom::guard_log(&report::human(report), &token);
            let _ = std::io::stderr().write_all(log.as_bytes());
            if let Some(path) = std::env::var_os("GITHUB_OUTPUT").filter(|p| !p.is_empty()) {
                // Without this line the reporter has nothing to read: a grader failure.
                let path = PathBuf::from(path);
                formats::classroom::append_github_output(&path, report, context).with_context(
                    || format!("cannot append to GITHUB_OUTPUT ({})", path.display()),
                )?;
            }
            formats::classroom::render_with(report, context) + "\n"
        }
        Format::Classroom50 => {
            let identity = output.identity.as_ref().expect("resolved before grading");
            let dir = std::env::current_dir().context("cannot read the current directory")?;
            // Written last, after every student program has ended.
            formats::classroom50::write(&dir, report, identity, context)
                .with_context(|| format!("cannot write result.json in {}", dir.display()))?;
            // The runner's log shows stdout: the report, fenced against workflow commands.
            let token = formats::classroom::random_token();
            formats::classroom::guard_log(&report::human(report), &token)
        }
        Format::Summary => {
            if let Some(path) = &output.annotations {
                formats::replace_file(path, formats::summary::annotations(report).as_bytes())
                    .with_context(|| format!("cannot write {}", path.display()))?;
            }
            formats::summary::render_with_run(report, output.failing_run.as_ref())
        }
        Format::Gradescope => formats::gradescope::render_with(report, context) + "\n",
        Format::Junit => formats::junit::render_with(report, context),
    };
    let mut out = anstream::stdout();
    // A closed stdout (`grader check … | head`) is not worth an error message.
    let _ = out.write_all(text.as_bytes());
    Ok(())
}

fn parse_exes(rubric: &Rubric, given: &[String]) -> Result<BTreeMap<String, PathBuf>> {
    let mut exes = BTreeMap::new();
    for item in given {
        let (part, path) = item
            .split_once('=')
            .ok_or_else(|| anyhow!("--exe takes PART=PATH, got `{item}`"))?;
        if !rubric.parts.contains_key(part) {
            let known: Vec<&str> = rubric.parts.keys().map(String::as_str).collect();
            bail!(
                "{} has no part `{part}` (parts: {})",
                rubric.lab,
                known.join(", ")
            );
        }
        let path = PathBuf::from(path);
        run::check_executable(&path)?;
        if exes.insert(part.to_string(), path).is_some() {
            bail!("--exe gives part `{part}` twice");
        }
    }
    Ok(exes)
}

fn trace(args: TraceArgs) -> Result<ExitCode> {
    let program = PathBuf::from(&args.command[0]);
    let program = if program.components().count() == 1 && !program.exists() {
        which(&program).ok_or_else(|| anyhow!("{}: command not found", program.display()))?
    } else {
        program
    };
    let spec = RunSpec {
        program,
        args: args.command[1..].to_vec(),
        stdin: Vec::new(),
        limits: Limits {
            wall: std::time::Duration::from_secs_f64(args.timeout),
            ..args.limits.apply(Limits::default())
        },
        full: !args.filtered,
        interest: Interest::all(),
        inherit_stdio: true,
        isolation: None,
        hold: None,
        client: None,
    };
    let outcome = run::run(&spec)?;
    let mut err = anstream::stderr();
    let _ = err.write_all(report::trace_summary(&outcome).as_bytes());
    write_timelines(&outcome, &args)?;
    let code = match outcome.trace.root().and_then(|p| p.end) {
        Some(End::Exited { code }) => code as u8,
        Some(End::Signaled { signal, .. }) => 128u8.wrapping_add(signal as u8),
        _ => 1,
    };
    Ok(ExitCode::from(code))
}

/// `grader trace --timeline/--mermaid/--perfetto`: the pictures of the run, one model.
fn write_timelines(outcome: &run::RunOutcome, args: &TraceArgs) -> Result<()> {
    use grader::timeline::{Timeline, mermaid, perfetto, svg};
    type Render = fn(&Timeline) -> String;
    let renderers: [(&Option<PathBuf>, Render); 3] = [
        (&args.timeline, svg::render),
        (&args.mermaid, mermaid::render),
        (&args.perfetto, perfetto::render),
    ];
    let mut timeline = None;
    for (path, render) in renderers {
        if let Some(path) = path {
            let timeline = timeline.get_or_insert_with(|| Timeline::of(outcome));
            formats::replace_file(path, render(timeline).as_bytes())
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
    }
    Ok(())
}

/// Finds a bare command name on PATH.
fn which(name: &std::path::Path) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|candidate| run::check_executable(candidate).is_ok())
    })
}

/// The kit's repository: `--root`, or found above the current directory.
fn kit_root(root: Option<PathBuf>) -> Result<PathBuf> {
    let start = match root {
        Some(root) => root,
        None => std::env::current_dir().context("cannot read the current directory")?,
    };
    workspace::find_root(&start).ok_or_else(|| {
        anyhow!(
            "{} is not inside the lab kit (no Cargo.toml with a labs/ folder above it); use --root",
            start.display()
        )
    })
}

fn batch(args: BatchArgs) -> Result<ExitCode> {
    let kit = kit_root(args.root)?;
    if !args.submissions.is_dir() {
        bail!(
            "the submissions folder {} does not exist",
            args.submissions.display()
        );
    }
    let options = grader::batch::Options {
        kit,
        lab: args.lab,
        submissions: args.submissions,
        out: args.out,
        jobs: args
            .jobs
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get())),
        force: args.force,
        deadline: args.deadline,
        build_timeout: std::time::Duration::from_secs(args.build_timeout),
        timeout_scale: args.timeout_scale,
    };
    let summary = grader::batch::run(&options)?;
    eprintln!(
        "grader batch: {} submission{}: {} graded, {} unchanged since the last run (skipped), \
         {} did not build, {} tampered; gradebook in {}",
        summary.submissions,
        if summary.submissions == 1 { "" } else { "s" },
        summary.graded,
        summary.unchanged,
        summary.build_failed,
        summary.tampered,
        summary.out.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn export_template(args: ExportTemplateArgs) -> Result<ExitCode> {
    let kit = kit_root(args.root)?;
    let files = grader::template::export_for(&kit, &args.dir, args.lab.as_deref(), args.target)?;
    eprintln!(
        "grader export-template: wrote {files} files to {}",
        args.dir.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn leaks(args: LeaksArgs) -> Result<ExitCode> {
    use grader::leaks;
    let options = leaks::Options {
        all_users: args.all_users,
        only: args.only,
    };
    let mut listing = leaks::gather(&options)?;
    if args.remove {
        leaks::remove_stale(&mut listing);
    }
    let text = match args.format {
        LeaksFormat::Json => leaks::json(&listing) + "\n",
        LeaksFormat::Human => leaks::human(&listing),
    };
    let _ = anstream::stdout().write_all(text.as_bytes());
    Ok(match listing.count(leaks::Action::Failed) {
        0 => ExitCode::SUCCESS,
        _ => ExitCode::from(1),
    })
}
