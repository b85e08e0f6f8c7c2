//! Reports for other systems' autograders: GitHub Classroom, Gradescope and JUnit XML.
//!
//! Every renderer is a pure function of one [`Report`], like `report::human` and
//! `report::json`, so all front ends agree on the verdicts and the points. What the formats
//! share lives here: which checks they list, and the feedback text of one check.

pub mod classroom;
pub mod gradescope;
pub mod junit;

use crate::grade::{CheckResult, Report, Status};

/// The checks that count: skipped ones (parts given no executable) are in neither the score
/// nor the maximum, so Classroom and Gradescope, which add points up, must not see them.
pub fn counted(report: &Report) -> impl Iterator<Item = &CheckResult> {
    report
        .checks
        .iter()
        .filter(|check| check.status != Status::Skipped)
}

/// What a student reads under a check: the verdict's explanation and the hint, or a note that
/// the grader itself failed (an `Error` is not the student's fault, and says so).
pub fn feedback(check: &CheckResult) -> String {
    match check.status {
        Status::Passed | Status::Skipped => String::new(),
        Status::Failed => crate::report::plain_feedback(check),
        Status::Error => format!(
            "the grader could not run this check (not a verdict on your program; tell your \
             instructor):\n{}",
            crate::report::plain_feedback(check)
        ),
    }
}

/// A check's name as people read it in another system's list: the id finds it in the
/// handout and in `cargo test`, the title says what it asks.
pub fn display_name(check: &CheckResult) -> String {
    format!("{}: {}", check.id, check.title)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(status: Status) -> CheckResult {
        CheckResult {
            id: "pipe.x".into(),
            part: "pipe".into(),
            title: "t".into(),
            points: 0,
            max_points: 1,
            status,
            message: "why".into(),
            hint: "how".into(),
        }
    }

    #[test]
    fn feedback_is_empty_on_a_pass_and_blames_the_grader_on_an_error() {
        assert_eq!(feedback(&check(Status::Passed)), "");
        assert_eq!(feedback(&check(Status::Failed)), "why\nhint: how");
        let error = feedback(&check(Status::Error));
        assert!(error.starts_with("the grader could not run this check"));
        assert!(error.ends_with("why\nhint: how"));
    }
}
