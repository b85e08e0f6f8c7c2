//! `grader batch`: grades a folder of submissions, one student's clone of the kit per
//! subfolder, into a gradebook.
//!
//! For each submission: take the files the rubric lets a student edit (from the folder, or
//! from the last commit before `--deadline`), lay them over a pristine copy of the kit in
//! `OUT/work/<student>/kit` ([`overlay`]), note which protected files the student changed
//! ([`tamper`]; graded anyway, with the kit's versions), build, grade, and write the
//! gradebook ([`gradebook`], [`html`]).
//!
//! Builds run one at a time on one thread, all into one shared target directory
//! (`OUT/target`), so the dependencies compile once; each submission's executables are
//! copied out before the next build overwrites them. Grading of built submissions runs
//! meanwhile on `--jobs` threads. A submission that does not build, hangs or crashes is a
//! graded result; an `Err` from [`run`] means the batch itself could not run.

pub mod cache;
pub mod gradebook;
pub mod html;
pub mod overlay;
pub mod snapshot;
pub mod tamper;

use crate::escape::visible;
use crate::grade::{CheckResult, GradeOptions, Grading, Report, Status};
use crate::rubric::Rubric;
use crate::workspace::{self, BuildError, BuildOptions, NotBuilt};
use anyhow::{Context, Result, anyhow, bail};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::{Deserialize, Serialize};
use snapshot::{CommitInfo, Snapshot};
use std::collections::{BTreeMap, BTreeSet};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

/// What to grade and where to put the results.
#[derive(Debug, Clone)]
pub struct Options {
    /// The kit's repository: the pristine files every submission is laid over.
    pub kit: PathBuf,
    pub lab: String,
    /// One subfolder per student (hidden folders are ignored).
    pub submissions: PathBuf,
    pub out: PathBuf,
    /// Submissions graded at a time.
    pub jobs: usize,
    /// Grade again even submissions whose inputs did not change.
    pub force: bool,
    /// RFC 3339: grade each git submission's last commit before this time.
    pub deadline: Option<String>,
    /// Longest a submission's build may take.
    pub build_timeout: Duration,
    /// Multiplies the rubric's wall-clock limits (a slow machine may need more than 1).
    pub timeout_scale: f64,
}

/// Whether a submission built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BuildStatus {
    Ok,
    /// Some parts' programs did not compile (the reason is in their checks); the others
    /// were graded.
    Partial,
    /// Did not compile, or the build ran out of time (the reason is in every check).
    Failed,
    /// There was nothing to build (no commit before the deadline, unreadable folder).
    None,
}

impl BuildStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            BuildStatus::Ok => "ok",
            BuildStatus::Partial => "partial",
            BuildStatus::Failed => "failed",
            BuildStatus::None => "none",
        }
    }
}

/// One student's line of the gradebook.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    /// The submission folder's name.
    pub student: String,
    pub build: BuildStatus,
    /// Protected files changed (`modified PATH`) or added (`added PATH`); empty if none.
    pub tampered: Vec<String>,
    /// The graded commit (HEAD, or the last one before the deadline) of a git submission.
    pub commit: Option<String>,
    pub commit_time: Option<String>,
    /// With `--deadline`: commits made after the graded one (after the deadline).
    pub late_commits: Option<u32>,
    /// The result was reused from an earlier run: the inputs had not changed.
    pub cached: bool,
    pub report: Report,
}

/// `grades.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Gradebook {
    pub lab: String,
    pub title: String,
    pub max_score: u32,
    pub deadline: Option<String>,
    /// Sorted by student.
    pub submissions: Vec<Entry>,
}

/// What a batch did, for the closing line.
#[derive(Debug, Clone)]
pub struct Summary {
    pub submissions: usize,
    pub graded: usize,
    pub unchanged: usize,
    pub build_failed: usize,
    pub tampered: usize,
    pub out: PathBuf,
}

/// Facts about a submission found before grading.
#[derive(Debug, Clone, Default)]
struct Facts {
    tampered: Vec<String>,
    commit: Option<CommitInfo>,
    late_commits: Option<u32>,
}

/// A submission, read and compared, ready to build (or already decided).
struct Prepared {
    student: String,
    /// `OUT/work/<student>`.
    work: PathBuf,
    facts: Facts,
    plan: Plan,
}

enum Plan {
    /// Build and grade these editable files; cache the result under `key`.
    Build {
        key: String,
        editable: BTreeMap<String, Vec<u8>>,
    },
    /// Nothing to build: the result is known.
    Known {
        build: BuildStatus,
        report: Report,
        cached: bool,
    },
}

/// A submission built, waiting for a grading thread.
struct Built {
    prepared: Prepared,
    key: String,
    /// `Ok`, or `Partial`/`Failed` when some or all parts' programs did not compile.
    build: BuildStatus,
    exes: BTreeMap<String, PathBuf>,
    /// Part → why its program was not built.
    not_built: BTreeMap<String, NotBuilt>,
}

/// Everything the threads share.
struct Batch<'a> {
    options: &'a Options,
    rubric: Rubric,
    /// Part → source stem of its binary.
    parts: BTreeMap<String, String>,
    /// The kit's files (relative path → absolute path).
    kit: BTreeMap<String, PathBuf>,
    editable: overlay::Editable,
    /// Accepted other versions of kit files (the student template's manifests).
    alternatives: BTreeMap<String, Vec<Vec<u8>>>,
    /// The cache key's part common to every submission.
    fingerprint: Vec<u8>,
    deadline: Option<i64>,
    progress: Progress,
    entries: Mutex<Vec<Entry>>,
}

/// Grades every submission and writes the gradebook into `options.out`.
pub fn run(options: &Options) -> Result<Summary> {
    let rubric_path = Rubric::path_in(&options.kit, &options.lab);
    if !rubric_path.is_file() {
        bail!(
            "unknown lab `{}`: there is no {}",
            options.lab,
            rubric_path.display()
        );
    }
    let rubric = Rubric::load(&rubric_path)?;
    let deadline = match &options.deadline {
        Some(text) => Some(snapshot::parse_rfc3339(text).ok_or_else(|| {
            anyhow!(
                "--deadline takes an RFC 3339 time such as 2025-05-01T23:59:00+02:00, got `{text}`"
            )
        })?),
        None => None,
    };
    if options.jobs == 0 {
        bail!("--jobs must be at least 1");
    }
    let students = list_students(&options.submissions, &options.out)?;
    std::fs::create_dir_all(&options.out)
        .with_context(|| format!("cannot create {}", options.out.display()))?;
    let out = options
        .out
        .canonicalize()
        .with_context(|| format!("cannot find {}", options.out.display()))?;
    let overlaps = |dir: &Path| dir.canonicalize().is_ok_and(|dir| dir.starts_with(&out));
    if overlaps(&options.kit) || overlaps(&options.submissions) {
        bail!(
            "--out {} would hold the kit or the submissions; choose a folder of its own",
            options.out.display()
        );
    }
    for dir in ["work", "feedback", "target"] {
        let path = options.out.join(dir);
        std::fs::create_dir_all(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
    }
    // Students' work must never be committed to, or exported with, the kit it sits in.
    let tags = [
        (
            ".gitignore",
            "# Written by `grader batch`: students' work, never to commit.\n*\n",
        ),
        (
            "CACHEDIR.TAG",
            "Signature: 8a477f597d28d172789f06886806bc55\n# Written by `grader batch`.\n",
        ),
    ];
    for (name, text) in tags {
        let path = options.out.join(name);
        if !path.exists() {
            std::fs::write(&path, text)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
    }
    let kit = snapshot::list_files(
        &options.kit,
        &[options.out.clone(), options.submissions.clone()],
    )
    .with_context(|| format!("cannot read the kit at {}", options.kit.display()))?;
    let editable = overlay::Editable::new(&rubric.editable).map_err(|e| anyhow!(e))?;
    // A clone of the student template (of every lab, or of this one) holds the template's
    // manifests: not tampering.
    let mut alternatives: BTreeMap<String, Vec<Vec<u8>>> = BTreeMap::new();
    for lab in [None, Some(rubric.lab.as_str())] {
        let rewritten = crate::template::rewritten(&options.kit, lab).unwrap_or_default();
        for (rel, bytes) in rewritten {
            alternatives.entry(rel).or_default().push(bytes);
        }
    }
    let package_dir = rubric_path
        .parent()
        .and_then(|dir| dir.strip_prefix(&options.kit).ok())
        .map(|dir| dir.to_string_lossy().into_owned())
        .unwrap_or_default();
    let fingerprint =
        cache::kit_fingerprint(&rubric.lab, &package_dir, &kit).context("cannot read the kit")?;

    let batch = Batch {
        options,
        parts: rubric
            .parts
            .iter()
            .map(|(part, spec)| (part.clone(), spec.bin.clone()))
            .collect(),
        rubric,
        kit,
        editable,
        alternatives,
        fingerprint,
        deadline,
        progress: Progress::new(students.len()),
        entries: Mutex::new(Vec::new()),
    };
    let mut to_build = Vec::new();
    for (student, dir) in &students {
        let prepared = batch.prepare(student, dir);
        match prepared.plan {
            Plan::Known { .. } => batch.finish_known(prepared),
            Plan::Build { .. } => to_build.push(prepared),
        }
    }
    batch.pipeline(to_build);
    batch.progress.bar.finish_and_clear();

    let mut entries = batch
        .entries
        .into_inner()
        .unwrap_or_else(|e| e.into_inner());
    entries.sort_by(|a, b| a.student.cmp(&b.student));
    let book = Gradebook {
        lab: batch.rubric.lab.clone(),
        title: batch.rubric.title.clone(),
        max_score: batch.rubric.max_points(),
        deadline: options.deadline.clone(),
        submissions: entries,
    };
    gradebook::write_all(&options.out, &batch.rubric, &book)?;
    let count = |keep: fn(&Entry) -> bool| book.submissions.iter().filter(|e| keep(e)).count();
    Ok(Summary {
        submissions: book.submissions.len(),
        graded: count(|e| !e.cached),
        unchanged: count(|e| e.cached),
        build_failed: count(|e| e.build != BuildStatus::Ok),
        tampered: count(|e| !e.tampered.is_empty()),
        out: options.out.clone(),
    })
}

/// The submission folders: every subfolder that is not hidden and is not `out`.
fn list_students(dir: &Path, out: &Path) -> Result<Vec<(String, PathBuf)>> {
    let entries = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read the submissions folder {}", dir.display()))?;
    let out = out.canonicalize().ok();
    let mut students = Vec::new();
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot read {}", dir.display()))?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || !path.is_dir() {
            continue;
        }
        if out.is_some() && path.canonicalize().ok() == out {
            continue;
        }
        students.push((name, path));
    }
    students.sort();
    if students.is_empty() {
        bail!(
            "{} holds no submission folders (one subfolder per student)",
            dir.display()
        );
    }
    Ok(students)
}

impl Batch<'_> {
    fn reference(&self) -> tamper::Reference<'_> {
        tamper::Reference {
            kit: &self.kit,
            alternatives: &self.alternatives,
            editable: &self.editable,
        }
    }

    /// Reads a submission, compares it with the kit and decides whether to build it.
    fn prepare(&self, student: &str, dir: &Path) -> Prepared {
        self.progress
            .activity(Some(&format!("reading {student}")), None);
        let work = self.options.out.join("work").join(student);
        let mut facts = Facts::default();
        let mut plan = self
            .read_submission(dir, &mut facts)
            .unwrap_or_else(|why| Plan::Known {
                build: BuildStatus::None,
                report: uniform_report(
                    &self.rubric,
                    Status::Error,
                    &format!(
                        "the grader could not read the submission: {}",
                        visible(&why)
                    ),
                ),
                cached: false,
            });
        if let Plan::Build { key, .. } = &plan
            && !self.options.force
            && let Some(cached) = cache::load(&work.join("cache.json"), key)
        {
            plan = Plan::Known {
                build: cached.build,
                report: cached.report,
                cached: true,
            };
        }
        Prepared {
            student: student.to_string(),
            work,
            facts,
            plan,
        }
    }

    /// Takes the graded version of a submission: its folder, or with a deadline and a git
    /// history, the last commit before the deadline. Fills in the facts (commit, lateness,
    /// tampering) and returns the plan; `Err` when the submission cannot be read.
    fn read_submission(&self, dir: &Path, facts: &mut Facts) -> Result<Plan, String> {
        let git = snapshot::is_repo(dir);
        let snapshot = match self.deadline {
            Some(epoch) if git => match snapshot::last_commit_before(dir, epoch)? {
                Some(commit) => {
                    facts.commit = snapshot::commit_info(dir, &commit);
                    let after = format!("{commit}..HEAD");
                    facts.late_commits = Some(snapshot::count_commits(dir, &after)?);
                    Snapshot::from_commit(dir, &commit)?
                }
                None => {
                    facts.late_commits = Some(snapshot::count_commits(dir, "HEAD").unwrap_or(0));
                    let why = format!(
                        "nothing to grade: no commit was made before the deadline ({})",
                        self.options.deadline.as_deref().unwrap_or_default()
                    );
                    return Ok(Plan::Known {
                        build: BuildStatus::None,
                        report: uniform_report(&self.rubric, Status::Failed, &why),
                        cached: false,
                    });
                }
            },
            _ => {
                if git {
                    facts.commit = snapshot::commit_info(dir, "HEAD");
                }
                Snapshot::from_dir(dir)
                    .map_err(|e| format!("cannot read {}: {e}", dir.display()))?
            }
        };
        let reference = self.reference();
        facts.tampered = tamper::inspect(&reference, &snapshot)?
            .iter()
            .map(ToString::to_string)
            .collect();
        let paths: Vec<&str> = snapshot
            .paths()
            .filter(|path| self.editable.matches(path))
            .collect();
        let editable = snapshot.read(&paths)?;
        Ok(Plan::Build {
            key: cache::key(&self.fingerprint, &editable),
            editable,
        })
    }

    /// Records a submission whose result is known without building.
    fn finish_known(&self, prepared: Prepared) {
        if let Plan::Known {
            build,
            report,
            cached,
        } = prepared.plan
        {
            self.finish(&prepared.student, prepared.facts, build, report, cached);
        }
    }

    /// Builds on this thread while up to `jobs` threads grade what is built.
    fn pipeline(&self, to_build: Vec<Prepared>) {
        if to_build.is_empty() {
            return;
        }
        let (sender, receiver) = std::sync::mpsc::channel::<Built>();
        let receiver = Mutex::new(receiver);
        std::thread::scope(|scope| {
            for _ in 0..self.options.jobs.min(to_build.len()) {
                scope.spawn(|| {
                    loop {
                        let next = receiver.lock().unwrap_or_else(|e| e.into_inner()).recv();
                        let Ok(built) = next else { break };
                        self.grade(built);
                    }
                });
            }
            for prepared in to_build {
                let now = format!("building {}", prepared.student);
                self.progress.activity(Some(&now), None);
                if let Some(built) = self.build(prepared) {
                    // The grading threads hold the receiver until the sender is dropped.
                    let _ = sender.send(built);
                }
            }
            self.progress.done_building();
            drop(sender);
        });
    }

    /// Lays the submission over the kit and builds it into the shared target directory;
    /// a submission that does not build is finished here.
    fn build(&self, prepared: Prepared) -> Option<Built> {
        let Plan::Build { key, editable } = &prepared.plan else {
            return None;
        };
        let key = key.clone();
        let kit_dir = prepared.work.join("kit");
        if let Err(e) = overlay::prepare(&kit_dir, &self.kit, editable) {
            let why = format!("the grader could not prepare {}: {e}", kit_dir.display());
            self.give_up(prepared, BuildStatus::None, Status::Error, &why, None);
            return None;
        }
        let options = BuildOptions {
            target_dir: Some(self.options.out.join("target")),
            offline: true,
            timeout: Some(self.options.build_timeout),
        };
        let failure = match workspace::build_bins_with(&kit_dir, &self.rubric.package, &options) {
            Ok(build) => match build.by_part(&self.parts).and_then(|split| {
                // Copied now: the next build overwrites the shared target directory's binaries.
                let exes = overlay::keep_executables(&prepared.work.join("bin"), &split.exes)?;
                Ok((exes, split.not_built))
            }) {
                Ok((exes, not_built)) => {
                    let build = if not_built.is_empty() {
                        BuildStatus::Ok
                    } else if exes.is_empty() {
                        BuildStatus::Failed
                    } else {
                        BuildStatus::Partial
                    };
                    return Some(Built {
                        prepared,
                        key,
                        build,
                        exes,
                        not_built,
                    });
                }
                Err(why) => (BuildStatus::Failed, Status::Failed, why, Some(key)),
            },
            // Not cached: a slow build may be the machine's fault, not the submission's.
            Err(e @ BuildError::TimedOut(_)) => {
                (BuildStatus::Failed, Status::Failed, e.to_string(), None)
            }
            Err(e) => (
                BuildStatus::None,
                Status::Error,
                format!("the grader could not build: {e}"),
                None,
            ),
        };
        let (build, status, why, key) = failure;
        self.give_up(prepared, build, status, &why, key);
        None
    }

    /// Finishes a submission that could not be built: every check gets the reason. Results
    /// that the submission itself caused are cached (under `key`); the grader's own
    /// failures are not.
    fn give_up(
        &self,
        prepared: Prepared,
        build: BuildStatus,
        status: Status,
        why: &str,
        key: Option<String>,
    ) {
        let parts: Vec<String> = self.rubric.parts.keys().cloned().collect();
        let report = if status == Status::Failed {
            Report::build_failed(&self.rubric, &parts, why)
        } else {
            uniform_report(&self.rubric, status, why)
        };
        if let Some(key) = key {
            self.remember(&prepared.work, key, build, &report);
        }
        self.finish(&prepared.student, prepared.facts, build, report, false);
    }

    /// Grades a built submission; a panic in the grader is the submission's result too
    /// (every check in error), never the end of the batch.
    fn grade(&self, built: Built) {
        let student = built.prepared.student.clone();
        self.progress.activity(None, Some((&student, true)));
        let rubric = self.rubric.clone();
        let (exes, not_built) = (built.exes, built.not_built);
        let graded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let options = GradeOptions {
                timeout_scale: self.options.timeout_scale,
                ..GradeOptions::default()
            };
            Grading::new(rubric, exes, options)
                .with_not_built(&not_built)
                .grade_all(1)
        }));
        let report = match graded {
            Ok(report) => {
                self.remember(&built.prepared.work, built.key, built.build, &report);
                report
            }
            Err(panic) => {
                let what = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "unknown panic".to_string());
                let why = format!("the grader crashed while grading: {what}");
                uniform_report(&self.rubric, Status::Error, &why)
            }
        };
        self.progress.activity(None, Some((&student, false)));
        self.finish(&student, built.prepared.facts, built.build, report, false);
    }

    /// Writes `cache.json` (a failure to write only costs a rebuild next time).
    fn remember(&self, work: &Path, key: String, build: BuildStatus, report: &Report) {
        let cached = cache::Cached {
            key,
            build,
            report: report.clone(),
        };
        if let Err(e) = cache::store(&work.join("cache.json"), &cached) {
            self.progress.say(&format!(
                "warning: cannot write {}: {e}",
                work.join("cache.json").display()
            ));
        }
    }

    fn finish(
        &self,
        student: &str,
        facts: Facts,
        build: BuildStatus,
        report: Report,
        cached: bool,
    ) {
        let mut notes = Vec::new();
        if cached {
            notes.push("unchanged, skipped".to_string());
        }
        if build != BuildStatus::Ok {
            notes.push(format!("build {}", build.as_str()));
        }
        if !facts.tampered.is_empty() {
            notes.push(format!("tampered: {}", visible(&facts.tampered.join(", "))));
        }
        if let Some(late) = facts.late_commits.filter(|&n| n > 0) {
            notes.push(format!(
                "{late} late commit{}",
                if late == 1 { "" } else { "s" }
            ));
        }
        let notes = if notes.is_empty() {
            String::new()
        } else {
            format!(" ({})", notes.join("; "))
        };
        self.progress.say(&format!(
            "{}: {}/{}{notes}",
            visible(student),
            report.score,
            report.max_score
        ));
        let (commit, commit_time) = match facts.commit {
            Some(info) => (Some(info.hash), Some(info.time)),
            None => (None, None),
        };
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Entry {
                student: student.to_string(),
                build,
                tampered: facts.tampered,
                commit,
                commit_time,
                late_commits: facts.late_commits,
                cached,
                report,
            });
        self.progress.bar.inc(1);
    }
}

/// A report in which every check has the same status and message (nothing could be run).
pub fn uniform_report(rubric: &Rubric, status: Status, message: &str) -> Report {
    let checks = rubric
        .checks
        .iter()
        .map(|check| CheckResult {
            id: check.id.clone(),
            part: check.part.clone(),
            title: check.title.clone(),
            points: 0,
            max_points: check.points,
            status,
            message: message.to_string(),
            hint: check.hint.clone(),
            note: String::new(),
            run_failure: None,
        })
        .collect();
    Report::new(rubric, GradeOptions::default().full, checks)
}

/// The progress bar (on stderr, only when it is a terminal) and the per-submission lines.
struct Progress {
    bar: ProgressBar,
    terminal: bool,
    doing: Mutex<(Option<String>, BTreeSet<String>)>,
}

impl Progress {
    fn new(len: usize) -> Progress {
        let terminal = std::io::stderr().is_terminal();
        let target = if terminal {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let bar = ProgressBar::with_draw_target(Some(len as u64), target);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] [{bar:30}] {pos}/{len} ETA {eta} {wide_msg}",
            )
            .expect("a valid progress template")
            .progress_chars("=> "),
        );
        if terminal {
            bar.enable_steady_tick(Duration::from_millis(200));
        }
        Progress {
            bar,
            terminal,
            doing: Mutex::new((None, BTreeSet::new())),
        }
    }

    /// Records what is happening: what the main thread does `now` (reading or building a
    /// submission), and/or a student whose grading started (`true`) or ended.
    fn activity(&self, now: Option<&str>, grading: Option<(&str, bool)>) {
        let mut doing = self.doing.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(now) = now {
            doing.0 = Some(now.to_string());
        }
        if let Some((student, started)) = grading {
            if started {
                doing.1.insert(student.to_string());
            } else {
                doing.1.remove(student);
            }
        }
        let mut message = Vec::new();
        if let Some(now) = &doing.0 {
            message.push(now.clone());
        }
        if !doing.1.is_empty() {
            let list: Vec<&str> = doing.1.iter().map(String::as_str).collect();
            message.push(format!("grading {}", list.join(", ")));
        }
        self.bar.set_message(message.join("; "));
    }

    fn done_building(&self) {
        let mut doing = self.doing.lock().unwrap_or_else(|e| e.into_inner());
        doing.0 = None;
    }

    /// One line per finished submission: above the bar on a terminal, else on stderr.
    fn say(&self, line: &str) {
        if self.terminal {
            self.bar.println(line);
        } else {
            eprintln!("{line}");
        }
    }
}
