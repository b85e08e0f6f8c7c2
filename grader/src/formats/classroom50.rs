//! Classroom 50 (GitHub Classroom's successor): the `result.json` its runner collects
//! (`classroom50/result/v1`) and the `release-body.md` it publishes with the Release.
//!
//! The runner (`runner.py` in foundation50/classroom50) runs a teacher's `autograder.py` in
//! the student's checkout, then reads `./result.json`, stamps `owner`, `assignment_type`,
//! `datetime`, `graded_at` and `submitted_by` over whatever is there, and validates it. The
//! rules, restated (the schema is `schemas/result-v1.schema.json` there):
//! - the top level is closed: exactly the keys below, nothing else;
//! - `schema` is `classroom50/result/v1`; `classroom` and `assignment` equal the runner's
//!   `CLASSROOM` and `ASSIGNMENT`; `submission` starts with `submit/` (`SUBMISSION_TAG`);
//!   `commit`, `release`, `review` are non-empty (`COMMIT_URL`, `RELEASE_URL`, `REVIEW_URL`);
//! - `score` and `max-score` are integers ≥ 0 (never fractions or booleans), score ≤ max;
//! - each test has a non-empty `test-name`, a boolean `passed`, integer `score` ≤
//!   `max-score`; other keys in a test are kept verbatim (here: `id`, `part`, `message`).
//!
//! We write the stamped fields too (from `OWNER`/`USERNAME`, `ASSIGNMENT_TYPE`, the grading
//! time), so that the file is valid against the schema as it stands; the runner replaces
//! them. One test per graded rubric check (parts given no program are left out, as they
//! count in neither total), `score` the sum of the tests' scores.
//!
//! The identity comes from the environment the runner gives `autograder.py`; outside
//! Classroom 50 it is missing, which is an error unless placeholders are asked for (a local
//! dry run).
//!
//! `release-body.md` replaces the runner's own body (which has no messages): the score, the
//! table of checks with points, each failure's message and hint, within
//! [`RELEASE_BODY_MAX`] bytes (the runner also copies it to the run's Summary page).

use super::markdown::{self, Bounds};
use super::{Caps, Context, counted, display_name, feedback_within, replace_file};
use crate::grade::{Report, Status};
use serde::Serialize;
use std::path::Path;

/// The one schema this writes.
pub const SCHEMA: &str = "classroom50/result/v1";

/// Feedback kept in `result.json` (the runner and the collector read up to 10 MiB).
pub const RESULT_CAPS: Caps = Caps {
    per_check: 8 * 1024,
    total: 256 * 1024,
};

/// `release-body.md`'s size limit, in bytes: well under GitHub's limit on a Release body
/// (125,000 characters, as its API reports).
pub const RELEASE_BODY_MAX: usize = 60_000;

/// One failure's feedback in `release-body.md`, in bytes (the runner clips the output of
/// its own declarative tests to 2,000 characters there).
pub const RELEASE_BODY_PER_CHECK: usize = 2_000;

/// The variables the runner sets for `autograder.py`, and the field each fills.
pub const REQUIRED_ENV: [&str; 6] = [
    "CLASSROOM",
    "ASSIGNMENT",
    "SUBMISSION_TAG",
    "COMMIT_URL",
    "RELEASE_URL",
    "REVIEW_URL",
];

/// Who and what was graded, as the runner tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub classroom: String,
    pub assignment: String,
    pub submission: String,
    pub commit: String,
    pub release: String,
    pub review: String,
    /// The repository's owner (`OWNER`, else `USERNAME`); the runner stamps its own.
    pub owner: String,
    /// `individual`, `group` or `team` (`ASSIGNMENT_TYPE`); the runner stamps its own.
    pub assignment_type: String,
}

impl Identity {
    /// The identity from the variables `get` reads (`std::env::var`, say). With
    /// `placeholders`, a missing one is filled in (for a local dry run) instead of failing;
    /// the error names every missing variable.
    pub fn from_env(
        get: impl Fn(&str) -> Option<String>,
        lab: &str,
        placeholders: bool,
    ) -> Result<Identity, String> {
        let get = |name: &str| {
            get(name)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let missing: Vec<&str> = REQUIRED_ENV
            .iter()
            .copied()
            .filter(|name| get(name).is_none())
            .collect();
        if !missing.is_empty() && !placeholders {
            return Err(format!(
                "--format classroom50 needs the Classroom 50 runner's environment, and {} \
                 {} not set (outside Classroom 50, add --placeholders for a dry run)",
                missing.join(", "),
                if missing.len() == 1 { "is" } else { "are" }
            ));
        }
        let local = "https://example.invalid/classroom50-dry-run";
        let or = |name: &str, placeholder: String| get(name).unwrap_or(placeholder);
        let identity = Identity {
            classroom: or("CLASSROOM", "local".into()),
            assignment: or("ASSIGNMENT", lab.into()),
            submission: or("SUBMISSION_TAG", "submit/local-dry-run".into()),
            commit: or("COMMIT_URL", format!("{local}/commit")),
            release: or("RELEASE_URL", format!("{local}/release")),
            review: or("REVIEW_URL", format!("{local}/review")),
            owner: get("OWNER")
                .or_else(|| get("USERNAME"))
                .or_else(|| get("GITHUB_ACTOR"))
                .unwrap_or_else(|| "local".into()),
            assignment_type: get("ASSIGNMENT_TYPE")
                .filter(|t| matches!(t.as_str(), "individual" | "group" | "team"))
                .unwrap_or_else(|| "individual".into()),
        };
        if !identity.submission.starts_with("submit/") {
            return Err(format!(
                "SUBMISSION_TAG must start with submit/ (Classroom 50 rejects any other), got `{}`",
                crate::escape::visible(&identity.submission)
            ));
        }
        Ok(identity)
    }
}

/// `result.json`, field for field (the top level is closed: add nothing here).
#[derive(Serialize)]
struct ResultV1 {
    schema: &'static str,
    classroom: String,
    assignment: String,
    assignment_type: String,
    owner: String,
    submission: String,
    commit: String,
    release: String,
    review: String,
    datetime: String,
    graded_at: String,
    score: u32,
    #[serde(rename = "max-score")]
    max_score: u32,
    tests: Vec<TestV1>,
}

#[derive(Serialize)]
struct TestV1 {
    #[serde(rename = "test-name")]
    test_name: String,
    passed: bool,
    score: u32,
    #[serde(rename = "max-score")]
    max_score: u32,
    // Extra keys, kept verbatim by the runner and the collector.
    id: String,
    part: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    message: String,
}

/// `result.json` as indented JSON.
pub fn render(report: &Report, identity: &Identity, context: &Context) -> String {
    let limit = RESULT_CAPS.limit(report);
    let tests: Vec<TestV1> = counted(report)
        .map(|check| TestV1 {
            test_name: display_name(check),
            passed: check.status == Status::Passed,
            score: check.points,
            max_score: check.max_points,
            id: check.id.clone(),
            part: check.part.clone(),
            message: feedback_within(check, limit),
        })
        .collect();
    let when = context.timestamp();
    let result = ResultV1 {
        schema: SCHEMA,
        classroom: identity.classroom.clone(),
        assignment: identity.assignment.clone(),
        assignment_type: identity.assignment_type.clone(),
        owner: identity.owner.clone(),
        submission: identity.submission.clone(),
        commit: identity.commit.clone(),
        release: identity.release.clone(),
        review: identity.review.clone(),
        datetime: when.clone(),
        graded_at: when,
        // By definition the sum of the tests' scores; `Report` totals the same checks.
        score: tests.iter().map(|t| t.score).sum(),
        max_score: tests.iter().map(|t| t.max_score).sum(),
        tests,
    };
    serde_json::to_string_pretty(&result).expect("a result always serializes") + "\n"
}

/// `release-body.md`: the score, every check with its points, each failure's message and
/// hint; at most [`RELEASE_BODY_MAX`] bytes.
pub fn release_body(report: &Report) -> String {
    markdown::render(
        report,
        "### classroom50 autograde:",
        Bounds {
            max_bytes: RELEASE_BODY_MAX,
            per_check: RELEASE_BODY_PER_CHECK,
        },
    )
}

/// Writes `result.json` and `release-body.md` into `dir` (the checkout, where the runner
/// looks). The body goes first: a `result.json` is the runner's sign that grading ended.
pub fn write(
    dir: &Path,
    report: &Report,
    identity: &Identity,
    context: &Context,
) -> std::io::Result<()> {
    replace_file(
        &dir.join("release-body.md"),
        release_body(report).as_bytes(),
    )?;
    replace_file(
        &dir.join("result.json"),
        render(report, identity, context).as_bytes(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn missing_identity_is_one_line_naming_every_variable() {
        let error = Identity::from_env(env(&[("CLASSROOM", "os")]), "lab11", false).unwrap_err();
        assert!(!error.contains('\n'));
        for name in &REQUIRED_ENV[1..] {
            assert!(error.contains(name), "{error}");
        }
        assert!(!error.contains("CLASSROOM,"), "{error}");
        assert!(error.contains("--placeholders"), "{error}");
    }

    #[test]
    fn placeholders_fill_only_what_is_missing() {
        let id = Identity::from_env(env(&[("CLASSROOM", "os-fall")]), "lab12", true).unwrap();
        assert_eq!(id.classroom, "os-fall");
        assert_eq!(id.assignment, "lab12");
        assert!(id.submission.starts_with("submit/"));
        assert_eq!(id.assignment_type, "individual");
    }

    #[test]
    fn a_submission_tag_outside_submit_is_refused() {
        let all: Vec<(&str, &str)> = REQUIRED_ENV
            .iter()
            .map(|n| (*n, if *n == "SUBMISSION_TAG" { "v1.0" } else { "x" }))
            .collect();
        let error = Identity::from_env(env(&all), "lab11", false).unwrap_err();
        assert!(error.contains("submit/"), "{error}");
    }
}
