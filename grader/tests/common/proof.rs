//! The shape every lab's proof shares (`grader/tests/labNN.rs`): grade a package or a fixture
//! binary with the lab's rubric, in filtered **and** full tracing with the same verdict per
//! check, and compare the failed checks with the expected ones.

use grader::grade::{GradeOptions, Grading, Report, Status};
use grader::rubric::Rubric;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

/// One lab of the kit, named as under `labs/`.
pub struct Lab(pub &'static str);

impl Lab {
    pub fn rubric(&self) -> Rubric {
        let path = super::root().join(format!("labs/{}/rubric.toml", self.0));
        Rubric::load(&path).unwrap_or_else(|e| panic!("{}'s rubric does not load: {e}", self.0))
    }

    pub fn grade(&self, exes: BTreeMap<String, PathBuf>, full: bool, scale: f64) -> Report {
        let options = GradeOptions {
            full,
            timeout_scale: scale,
            ..GradeOptions::default()
        };
        Grading::new(self.rubric(), exes, options).grade_all(2)
    }

    /// Grades in filtered and in full tracing, asserts that every check has the same verdict
    /// in both, and returns the filtered report.
    pub fn grade_both(&self, exes: BTreeMap<String, PathBuf>, scale: f64) -> Report {
        let filtered = self.grade(exes.clone(), false, scale);
        let full = self.grade(exes, true, scale);
        assert_eq!(filtered.tracing, "filtered");
        assert_eq!(full.tracing, "full");
        let verdicts = |report: &Report| -> Vec<(String, Status)> {
            report
                .checks
                .iter()
                .map(|c| (c.id.clone(), c.status))
                .collect()
        };
        assert_eq!(
            verdicts(&filtered),
            verdicts(&full),
            "filtered and full tracing disagree\n--- filtered\n{}\n--- full\n{}",
            explain(&filtered),
            explain(&full)
        );
        filtered
    }

    /// The reference solutions (package `labNN-solution`) get full marks, in both tracing
    /// modes, and the rubric is worth `max_score`.
    pub fn assert_solutions_score_full_marks(&self, max_score: u32) {
        let report = self.grade_both(self.package_exes(&format!("{}-solution", self.0)), 1.0);
        assert_eq!(report.score, report.max_score, "{}", explain(&report));
        assert_eq!(report.max_score, max_score);
    }

    /// The untouched stubs (package `labNN`) get zero: every check fails, and its message
    /// shows the `todo!` the run stopped at (it contains `saying`).
    pub fn assert_stubs_score_zero(&self, saying: &str) {
        let report = self.grade_both(self.package_exes(self.0), 1.0);
        assert_eq!(report.score, 0, "{}", explain(&report));
        for check in &report.checks {
            assert_eq!(check.status, Status::Failed, "{}", check.id);
            assert!(
                check.message.contains(saying),
                "{}: {}",
                check.id,
                check.message
            );
        }
    }

    /// Part name → executable, from a package's `src/bin/<part>.rs`.
    pub fn package_exes(&self, package: &str) -> BTreeMap<String, PathBuf> {
        let bins = super::package_bins(package);
        self.rubric()
            .parts
            .iter()
            .map(|(part, spec)| (part.clone(), bins[&spec.bin].clone()))
            .collect()
    }

    /// Grades one binary of a fixture package as `part` (both tracing modes, shortened
    /// time limits), asserts that exactly `expected` failed, that the other parts were
    /// skipped, and that each phrase of `saying` is in some failure message.
    pub fn assert_fixture_fails(
        &self,
        package: &str,
        bin: &str,
        part: &str,
        expected: &[&str],
        saying: &[&str],
    ) -> Report {
        let exe = super::package_bins(package)
            .get(bin)
            .unwrap_or_else(|| panic!("{package} has no binary {bin}"))
            .clone();
        // Hanging fixtures fail faster with shorter limits; passing runs take well under them.
        let report = self.grade_both(BTreeMap::from([(part.to_string(), exe)]), 0.4);
        let expected: BTreeSet<String> = expected.iter().map(|s| s.to_string()).collect();
        assert_eq!(failed(&report), expected, "{}", explain(&report));
        for check in &report.checks {
            if check.part != part {
                assert_eq!(check.status, Status::Skipped, "{}", check.id);
            }
        }
        for phrase in saying {
            assert!(
                report.checks.iter().any(|c| c.message.contains(phrase)),
                "no failure message says {phrase:?}:\n{}",
                explain(&report)
            );
        }
        report
    }
}

/// The checks that did not pass (and were not skipped).
pub fn failed(report: &Report) -> BTreeSet<String> {
    report
        .checks
        .iter()
        .filter(|c| c.status != Status::Passed && c.status != Status::Skipped)
        .map(|c| c.id.clone())
        .collect()
}

/// The report as a student reads it, for assertion messages.
pub fn explain(report: &Report) -> String {
    grader::report::human(report)
}

/// One test per broken fixture: `name: "bin" as "part" fails ["check", …] saying ["…"];`,
/// each calling `$check(bin, part, expected, saying)` (a lab's own wrapper around
/// [`Lab::assert_fixture_fails`]).
#[allow(unused_macros)] // Only the lab proofs use it.
macro_rules! fixtures {
    ($check:path; $($name:ident: $bin:literal as $part:literal
        fails [$($failed:literal),* $(,)?] $(saying [$($phrase:literal),* $(,)?])?;)*) => {
        $(
            #[test]
            fn $name() {
                $check($bin, $part, &[$($failed),*], &[$($($phrase),*)?]);
            }
        )*
    };
}
