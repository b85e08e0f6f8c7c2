//! The `cargo test -p labNN` front end: one libtest test per rubric item.
//!
//! A lab crate's `tests/rubric.rs` (with `harness = false`) calls [`main`] with the lab's
//! name and its binaries. Each rubric item becomes a test named by its id, with its points
//! as the test's kind (`test [4 pts] pipe.factors ... ok`), so the usual filters work
//! (`cargo test -p lab11 -- pipe.`). Failures print the check's feedback and hint; the
//! score over the checks that ran is printed last.

use crate::grade::{GradeOptions, Grading, Status};
use crate::rubric::Rubric;
use libtest_mimic::{Arguments, Failed, Trial};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

/// Runs the rubric of `lab` as tests. `manifest_dir` is the calling crate's
/// `CARGO_MANIFEST_DIR` (the rubric is found from there); `exes` maps each part to the
/// binary `env!("CARGO_BIN_EXE_…")` names.
pub fn main(lab: &str, manifest_dir: &str, exes: &[(&str, &str)]) -> ExitCode {
    let args = Arguments::from_args();
    let rubric = match find_rubric(Path::new(manifest_dir), lab)
        .and_then(|path| Rubric::load(&path).map_err(|e| e.to_string()))
    {
        Ok(rubric) => rubric,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    let exes: BTreeMap<String, PathBuf> = exes
        .iter()
        .map(|(part, path)| (part.to_string(), PathBuf::from(path)))
        .collect();
    let grading = Arc::new(Grading::new(rubric, exes, GradeOptions::default()));
    let trials = grading
        .rubric()
        .checks
        .iter()
        .cloned()
        .map(|check| {
            let grading = grading.clone();
            let unit = if check.points == 1 { "pt" } else { "pts" };
            let kind = format!("{} {unit}", check.points);
            Trial::test(check.id.clone(), move || {
                let result = grading.grade_check(&check);
                match result.status {
                    Status::Passed | Status::Skipped => Ok(()),
                    Status::Failed | Status::Error => {
                        Err(Failed::from(crate::report::plain_feedback(&result)))
                    }
                }
            })
            .with_kind(kind)
        })
        .collect();
    let conclusion = libtest_mimic::run(&args, trials);
    let report = grading.report_so_far();
    if !report.checks.is_empty() && !args.list {
        let scope = if report.checks.len() < grading.rubric().checks.len() {
            " (of the checks that ran)"
        } else {
            ""
        };
        println!(
            "{}: {}/{} points{scope}, {} tracing\n",
            report.lab, report.score, report.max_score, report.tracing
        );
    }
    conclusion.exit_code()
}

/// Finds `labs/<lab>/rubric.toml` in the workspace that holds `start`.
pub fn find_rubric(start: &Path, lab: &str) -> Result<PathBuf, String> {
    start
        .ancestors()
        .map(|dir| Rubric::path_in(dir, lab))
        .find(|path| path.is_file())
        .ok_or_else(|| format!("no labs/{lab}/rubric.toml above {}", start.display()))
}
