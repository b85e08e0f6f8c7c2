//! JUnit XML: one test suite per part, one test case per rubric item, for CI systems and
//! test dashboards.
//!
//! JUnit has no points, so each case carries its points as properties, and a check of a part
//! given no executable is a `skipped` case (not left out as in the point-adding formats):
//! a dashboard then shows that the part exists and was not graded.
//!
//! quick-junit writes the XML (escaping `<`, `&`, quotes) and drops what XML 1.0 does not
//! allow (the C0 controls but tab, line feed and carriage return, and ANSI sequences). The
//! text it is given has none of those left anyway: program text was escaped by the checks
//! ([`crate::escape`]), and [`feedback`] and the message line show any stray control as an
//! escape, so a carriage return reaches no attribute and nothing is dropped silently.

use super::feedback;
use crate::escape::stray_controls;
use crate::grade::{Report, Status};
use quick_junit::{NonSuccessKind, Property, TestCase, TestCaseStatus, TestSuite};

/// The report as a JUnit XML document.
pub fn render(report: &Report) -> String {
    let mut junit = quick_junit::Report::new(report.lab.as_str());
    let mut suites: Vec<TestSuite> = Vec::new();
    for check in &report.checks {
        let classname = format!("{}.{}", report.lab, check.part);
        let index = match suites.iter().position(|s| s.name.as_str() == classname) {
            Some(index) => index,
            None => {
                suites.push(TestSuite::new(classname.as_str()));
                suites.len() - 1
            }
        };
        let status = match check.status {
            Status::Passed => TestCaseStatus::success(),
            Status::Failed | Status::Error => {
                let kind = if check.status == Status::Failed {
                    NonSuccessKind::Failure
                } else {
                    NonSuccessKind::Error
                };
                let mut status = TestCaseStatus::non_success(kind);
                // The attribute is the one line dashboards show; the text is everything.
                let text = feedback(check);
                let first = stray_controls(check.message.lines().next().unwrap_or("")).into_owned();
                status
                    .set_message(first)
                    .set_type(if kind == NonSuccessKind::Failure {
                        "failed"
                    } else {
                        "grader error"
                    })
                    .set_description(text);
                status
            }
            Status::Skipped => {
                let mut status = TestCaseStatus::skipped();
                status.set_message(format!("no executable was given for part `{}`", check.part));
                status
            }
        };
        let mut case = TestCase::new(check.id.as_str(), status);
        case.set_classname(classname.as_str()).add_properties([
            Property::new("title", check.title.as_str()),
            Property::new("points", check.points.to_string()),
            Property::new("max_points", check.max_points.to_string()),
        ]);
        suites[index].add_test_case(case);
    }
    junit.add_test_suites(suites);
    junit
        .to_string()
        .expect("writing XML to memory cannot fail")
}
