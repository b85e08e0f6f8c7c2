//! Grading: a rubric plus one executable per part, turned into a [`Report`].
//!
//! [`Grading`] owns the runs. Each (part, input) pair is run once, lazily, by whoever asks
//! first (a `cargo test` trial, or [`Grading::grade_all`]'s worker threads), and every check
//! naming that pair reads the same run. Checks are then pure functions of those runs.

use crate::checks::{self, Case};
use crate::lang::Language;
use crate::rubric::{self, Check, Rubric};
use crate::run::{self, Limits, RunOutcome, RunSpec};
use crate::trace::Interest;
use crate::workspace::NotBuilt;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

/// How to grade.
#[derive(Debug, Clone)]
pub struct GradeOptions {
    /// Step every system call instead of filtering; verdicts must not change.
    pub full: bool,
    /// Limits per run; the wall-clock limit comes from the rubric's inputs.
    pub limits: Limits,
    /// Multiplies the rubric's wall-clock limits (tests of hanging programs use less than
    /// 1 to fail faster; a slow machine may need more); within [`rubric::TIMEOUT_SCALES`],
    /// or every run is an error.
    pub timeout_scale: f64,
    /// Force an isolation instead of the machine's best (the proofs grade in each).
    pub isolation: Option<crate::run::Isolation>,
}

impl Default for GradeOptions {
    fn default() -> Self {
        GradeOptions {
            full: std::env::var_os("GRADER_FULL_TRACE").is_some_and(|v| v != "0"),
            limits: Limits::default(),
            timeout_scale: 1.0,
            isolation: None,
        }
    }
}

/// The verdict on one rubric item, as every front end reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckResult {
    pub id: String,
    pub part: String,
    pub title: String,
    pub points: u32,
    pub max_points: u32,
    pub status: Status,
    /// What was expected and what the trace showed; empty when passed. A run's hang,
    /// crash or kill is told under the first check that fails on it; the others refer to
    /// it in one line ([`Report::new`]), and `run_failure` keeps the whole story in each.
    pub message: String,
    pub hint: String,
    /// On a pass judged on a run that did not finish: which run, and how it ended.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
    /// The unfinished run the message is about, with its whole story.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_failure: Option<checks::RunFailure>,
}

/// A check's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Passed,
    Failed,
    /// No executable was given for the check's part; left out of score and max_score.
    Skipped,
    /// The grader could not run the program (not the student's fault).
    Error,
}

/// A graded lab.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub lab: String,
    pub title: String,
    pub score: u32,
    pub max_score: u32,
    /// `filtered` (seccomp stops only the calls of interest) or `full` (every call).
    pub tracing: String,
    /// `namespaces` or `fallback`: how the runs were fenced off (see `run::isolation`).
    pub isolation: String,
    pub checks: Vec<CheckResult>,
}

impl Report {
    /// Builds a report from check results; skipped checks count in neither total. A run's
    /// failure is told once: under the first check (in rubric order) that fails on it; the
    /// others that fail on the same run say so in one line instead of its story.
    pub fn new(rubric: &Rubric, full: bool, checks: Vec<CheckResult>) -> Report {
        let isolation = crate::run::isolation::detect().map_or("unavailable", |i| i.name());
        Report::with_isolation(rubric, full, isolation, checks)
    }

    /// [`Report::new`] for runs fenced off as `isolation` says (the runs', which a forced
    /// isolation makes differ from the machine's best).
    pub fn with_isolation(
        rubric: &Rubric,
        full: bool,
        isolation: &str,
        mut checks: Vec<CheckResult>,
    ) -> Report {
        explain_failures_once(&mut checks);
        let counted = || checks.iter().filter(|c| c.status != Status::Skipped);
        Report {
            lab: rubric.lab.clone(),
            title: rubric.title.clone(),
            score: counted().map(|c| c.points).sum(),
            max_score: counted().map(|c| c.max_points).sum(),
            tracing: if full { "full" } else { "filtered" }.to_string(),
            isolation: isolation.to_string(),
            checks,
        }
    }

    /// Every check of the given parts failed because the program could not be built (the
    /// build as a whole failed: it ran out of time, or its executables could not be kept).
    pub fn build_failed(rubric: &Rubric, parts: &[String], why: &str) -> Report {
        let message = not_built_message(&NotBuilt::Cargo(why.to_string()));
        let checks = rubric
            .checks
            .iter()
            .map(|check| {
                if parts.contains(&check.part) {
                    result_for(check, Status::Failed, message.clone())
                } else {
                    result_for(check, Status::Skipped, String::new())
                }
            })
            .collect();
        Report::new(rubric, false, checks)
    }
}

/// What every check of a part whose program was not built says: the file that did not
/// compile and its first error (escaped, each line marked), or cargo's last lines.
pub fn not_built_message(why: &NotBuilt) -> String {
    match why {
        NotBuilt::Compile(errors) => {
            let count = match errors.count {
                1 => "1 error".to_string(),
                n => format!("{n} errors, the first"),
            };
            let needed = if errors.is_bin {
                ""
            } else {
                ", and every program of the lab needs it"
            };
            format!(
                "{} did not compile{needed} ({count}):\n{}",
                crate::escape::visible(&errors.path),
                crate::escape::quoted_lines(&errors.first, QUOTE)
            )
        }
        NotBuilt::Cargo(tail) => format!(
            "the program does not build:\n{}",
            crate::escape::quoted_lines(tail, QUOTE)
        ),
    }
}

/// Keeps the story of each unfinished run (part, input) in the first failed check that
/// tells it, and replaces it in the later ones by a line that names that check.
fn explain_failures_once(checks: &mut [CheckResult]) {
    let mut told: BTreeMap<(String, String), String> = BTreeMap::new();
    for check in checks.iter_mut() {
        let Some(failure) = &check.run_failure else {
            continue;
        };
        if check.status != Status::Failed || failure.without_story.is_empty() {
            continue;
        }
        let key = (check.part.clone(), failure.input.clone());
        match told.get(&key) {
            None => {
                told.insert(key, check.id.clone());
            }
            Some(first) if !failure.story.is_empty() => {
                check.message = format!(
                    "{}; see {first} for why",
                    failure.without_story.trim_end_matches('.')
                );
            }
            // A failure without a story (a panic's message) is its own one line.
            Some(_) => {}
        }
    }
}

/// What marks each line of program output that a message quotes as a block (see
/// [`crate::escape::quoted_lines`]): a line of it cannot pass for a line of the report.
pub const QUOTE: &str = "│ ";

/// Grades one submission against one rubric.
pub struct Grading {
    rubric: Rubric,
    exes: BTreeMap<String, PathBuf>,
    /// Part → what its checks say: the parts whose program did not compile.
    not_built: BTreeMap<String, String>,
    /// Part → the language of its executable, for the hint that fits it.
    languages: BTreeMap<String, Language>,
    options: GradeOptions,
    interest: Interest,
    runs: BTreeMap<(String, String), OnceLock<Result<RunOutcome, String>>>,
    /// Results of the checks graded so far, in the order they finished.
    finished: Mutex<Vec<CheckResult>>,
}

impl Grading {
    /// Prepares to grade `exes` (part name → executable). Nothing runs yet.
    pub fn new(rubric: Rubric, exes: BTreeMap<String, PathBuf>, options: GradeOptions) -> Self {
        let mut runs = BTreeMap::new();
        for check in &rubric.checks {
            if exes.contains_key(&check.part) {
                for input in &check.inputs {
                    runs.insert((check.part.clone(), input.clone()), OnceLock::new());
                }
            }
        }
        let languages = exes
            .iter()
            .map(|(part, exe)| (part.clone(), Language::of_executable(exe)))
            .collect();
        Grading {
            interest: rubric.interest(),
            rubric,
            exes,
            languages,
            not_built: BTreeMap::new(),
            options,
            runs,
            finished: Mutex::new(Vec::new()),
        }
    }

    /// Marks parts whose program was not built (part → why): their checks fail with the
    /// reason instead of being skipped. A part with an executable is graded all the same.
    pub fn with_not_built(mut self, not_built: &BTreeMap<String, NotBuilt>) -> Self {
        self.not_built = not_built
            .iter()
            .map(|(part, why)| (part.clone(), not_built_message(why)))
            .collect();
        self
    }

    pub fn rubric(&self) -> &Rubric {
        &self.rubric
    }

    /// The run of a part on an input, started now if nobody has started it.
    pub fn run(&self, part: &str, input: &str) -> &Result<RunOutcome, String> {
        let cell = self
            .runs
            .get(&(part.to_string(), input.to_string()))
            .expect("every (part, input) of the rubric has a cell");
        cell.get_or_init(|| {
            let given = &self.rubric.inputs[input];
            // The rubric's limit is checked at load; a scale out of range (a library caller's:
            // the CLI checks its own) is the grader's error, not a panic.
            let wall = rubric::scaled(self.rubric.timeout(input), self.options.timeout_scale)?;
            let spec = RunSpec {
                program: self.exes[part].clone(),
                args: given.args.iter().map(Into::into).collect(),
                stdin: given.stdin.clone().into_bytes(),
                limits: Limits {
                    wall,
                    ..self.options.limits
                },
                full: self.options.full,
                interest: self.interest.clone(),
                inherit_stdio: false,
                isolation: self.options.isolation,
                hold: given.hold,
                client: given.client.clone(),
            };
            run::run(&spec).map_err(|e| e.to_string())
        })
    }

    /// The run of a part on an input if it was made and succeeded; never starts one (a part
    /// that was not built has none).
    pub fn finished_run(&self, part: &str, input: &str) -> Option<&RunOutcome> {
        let cell = self.runs.get(&(part.to_string(), input.to_string()))?;
        cell.get()?.as_ref().ok()
    }

    /// Grades one check, running what it needs.
    pub fn grade_check(&self, check: &Check) -> CheckResult {
        let result = self.evaluate(check);
        self.finished
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(result.clone());
        result
    }

    fn evaluate(&self, check: &Check) -> CheckResult {
        if !self.exes.contains_key(&check.part) {
            return match self.not_built.get(&check.part) {
                Some(why) => result_for(check, Status::Failed, why.clone()),
                None => result_for(check, Status::Skipped, String::new()),
            };
        }
        let mut cases = Vec::new();
        for input in &check.inputs {
            match self.run(&check.part, input) {
                Ok(run) => cases.push(Case {
                    input,
                    stdin: &self.rubric.inputs[input].stdin,
                    args: &self.rubric.inputs[input].args,
                    run,
                }),
                Err(why) => {
                    return result_for(check, Status::Error, format!("cannot run: {why}"));
                }
            }
        }
        let verdict = checks::evaluate(&check.kind, &cases);
        let status = if verdict.passed {
            Status::Passed
        } else {
            Status::Failed
        };
        let hint = match (self.languages.get(&check.part), &check.hint_c) {
            (Some(Language::C), Some(hint_c)) => hint_c.clone(),
            _ => check.hint.clone(),
        };
        CheckResult {
            note: verdict.note,
            run_failure: verdict.run_failure,
            hint,
            ..result_for(check, status, verdict.message)
        }
    }

    /// A check's case on one of its inputs (the run made now if nobody has made it);
    /// `None` if the part has no executable or the run could not be made.
    pub fn case<'a>(&'a self, check: &'a Check, input: &'a str) -> Option<Case<'a>> {
        if !self.exes.contains_key(&check.part) {
            return None;
        }
        let run = self.run(&check.part, input).as_ref().ok()?;
        Some(Case {
            input,
            stdin: &self.rubric.inputs[input].stdin,
            args: &self.rubric.inputs[input].args,
            run,
        })
    }

    /// The case a failed check judged: the first of its inputs on which the check fails
    /// by itself (a check stops at its first failing case). `None` if it passes on each.
    pub fn judged_case<'a>(&'a self, check: &'a Check) -> Option<Case<'a>> {
        check
            .inputs
            .iter()
            .filter_map(|input| self.case(check, input))
            .find(|case| !checks::evaluate(&check.kind, std::slice::from_ref(case)).passed)
    }

    /// Runs everything (up to `jobs` runs at a time) and grades every check.
    pub fn grade_all(&self, jobs: usize) -> Report {
        let keys: Vec<&(String, String)> = self.runs.keys().collect();
        let next = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for _ in 0..jobs.max(1).min(keys.len().max(1)) {
                scope.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some((part, input)) = keys.get(i) else {
                            break;
                        };
                        self.run(part, input);
                    }
                });
            }
        });
        let checks = self
            .rubric
            .checks
            .iter()
            .map(|c| self.grade_check(c))
            .collect();
        self.report(checks)
    }

    /// The report of these checks, naming the isolation the runs had (the machine's best
    /// when nothing ran).
    fn report(&self, checks: Vec<CheckResult>) -> Report {
        let ran: BTreeSet<&'static str> = self
            .runs
            .values()
            .filter_map(|run| run.get()?.as_ref().ok())
            .map(|outcome| outcome.isolation.name())
            .collect();
        if ran.is_empty() {
            return Report::new(&self.rubric, self.options.full, checks);
        }
        let isolation = ran.into_iter().collect::<Vec<_>>().join(", ");
        Report::with_isolation(&self.rubric, self.options.full, &isolation, checks)
    }

    /// The report over the checks graded so far (the `cargo test` harness grades them one
    /// trial at a time).
    pub fn report_so_far(&self) -> Report {
        let finished = self.finished.lock().unwrap_or_else(|e| e.into_inner());
        let mut checks: Vec<CheckResult> = finished.clone();
        let order = |id: &str| self.rubric.checks.iter().position(|c| c.id == id);
        checks.sort_by_key(|c| order(&c.id));
        self.report(checks)
    }
}

fn result_for(check: &Check, status: Status, message: String) -> CheckResult {
    CheckResult {
        id: check.id.clone(),
        part: check.part.clone(),
        title: check.title.clone(),
        points: if status == Status::Passed {
            check.points
        } else {
            0
        },
        max_points: check.points,
        status,
        message,
        hint: check.hint.clone(),
        note: String::new(),
        run_failure: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_program_that_is_not_rust_gets_the_c_hint() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../labs/lab11/rubric.toml");
        let rubric = Rubric::load(&path).unwrap();
        let exes = BTreeMap::from([("pipe".to_string(), PathBuf::from("/bin/true"))]);
        let grading = Grading::new(rubric.clone(), exes, GradeOptions::default());
        let check = rubric.checks.iter().find(|c| c.id == "pipe.two-workers");
        let check = check.unwrap();
        let result = grading.grade_check(check);
        assert_eq!(result.status, Status::Failed);
        assert_eq!(Some(&result.hint), check.hint_c.as_ref());
        assert!(result.hint.contains("_exit(0)"), "{}", result.hint);
    }

    #[test]
    fn a_timeout_scale_out_of_range_is_the_graders_error_not_a_panic() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../labs/lab11/rubric.toml");
        let rubric = Rubric::load(&path).unwrap();
        let exes = BTreeMap::from([("pipe".to_string(), PathBuf::from("/bin/true"))]);
        for scale in [f64::NAN, -1.0, 1e308, f64::INFINITY] {
            let options = GradeOptions {
                timeout_scale: scale,
                ..GradeOptions::default()
            };
            let grading = Grading::new(rubric.clone(), exes.clone(), options);
            let result = grading.grade_check(&rubric.checks[0]);
            assert_eq!(result.status, Status::Error, "{scale}");
            assert!(
                result
                    .message
                    .starts_with("cannot run: the timeout scale `"),
                "{}",
                result.message
            );
        }
    }

    #[test]
    fn a_part_not_built_fails_with_its_file_and_first_error_escaped() {
        use crate::workspace::CompileErrors;
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../labs/lab11/rubric.toml");
        let rubric = Rubric::load(&path).unwrap();
        let errors = |path: &str, is_bin, count| {
            NotBuilt::Compile(CompileErrors {
                path: path.into(),
                is_bin,
                count,
                first: "error[E0308]: mismatched types\n1 | let n: u32 = \"\x1b[2K\";".into(),
            })
        };
        let not_built = BTreeMap::from([
            (
                "shm".to_string(),
                errors("labs/lab11/src/bin/shm.rs", true, 1),
            ),
            (
                "posix".to_string(),
                errors("labs/lab11/src/lib.rs", false, 3),
            ),
        ]);
        let grading = Grading::new(rubric.clone(), BTreeMap::new(), GradeOptions::default())
            .with_not_built(&not_built);
        for check in &rubric.checks {
            let result = grading.grade_check(check);
            match check.part.as_str() {
                "shm" => {
                    assert_eq!(result.status, Status::Failed);
                    assert_eq!(
                        result.message,
                        "labs/lab11/src/bin/shm.rs did not compile (1 error):\n\
                         │ error[E0308]: mismatched types\n\
                         │ 1 | let n: u32 = \"\\x1b[2K\";"
                    );
                }
                "posix" => {
                    assert_eq!(result.status, Status::Failed);
                    assert!(
                        result.message.starts_with(
                            "labs/lab11/src/lib.rs did not compile, and every program of the \
                             lab needs it (3 errors, the first):\n│ error[E0308]"
                        ),
                        "{}",
                        result.message
                    );
                }
                _ => assert_eq!(result.status, Status::Skipped, "{}", check.id),
            }
        }
        let report = grading.report_so_far();
        assert_eq!(report.score, 0);
        assert_eq!(
            report.max_score,
            rubric.max_points() - 20,
            "pipe is skipped"
        );
    }
}
