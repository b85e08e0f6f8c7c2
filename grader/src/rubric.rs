//! A lab's rubric: the TOML file beside the lab (`labs/labNN/rubric.toml`), read once and
//! shared by every front end.
//!
//! The rubric names the lab's parts (one binary each), the inputs fed on stdin, and the
//! checks: each with points, a title, a hint, the inputs it runs on, and a `kind` naming a
//! generic check in [`crate::checks`] with its parameters. Loading validates everything a
//! typo could break (unknown kind, input or part; duplicate id), with the file and line.

use crate::checks::CheckKind;
use crate::run::client::ClientScript;
use crate::trace::{HoldRule, Interest, Topic};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A parsed, validated rubric.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Rubric {
    /// The lab's name, e.g. `lab11`.
    pub lab: String,
    pub title: String,
    /// Path of the handout, relative to the repository root.
    pub handout: Option<String>,
    /// The student crate's package name.
    pub package: String,
    /// The reference solutions' package name.
    pub solution_package: String,
    /// Globs (relative to the repository root) of the files a student may edit.
    pub editable: Vec<String>,
    /// The program contract the output checks hold programs to (`factor`, `ring`).
    pub contract: String,
    #[serde(default)]
    pub defaults: Defaults,
    pub parts: BTreeMap<String, Part>,
    pub inputs: BTreeMap<String, Input>,
    pub checks: Vec<Check>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Defaults {
    /// Wall-clock seconds per run.
    pub timeout_secs: f64,
}

impl Default for Defaults {
    fn default() -> Self {
        Defaults { timeout_secs: 10.0 }
    }
}

/// One part of a lab: one program.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Part {
    pub title: String,
    /// The binary's source file stem (`src/bin/<bin>.rs`), in the student crate and the
    /// solutions alike.
    pub bin: String,
}

/// One input: what the program is given, and how the grader runs it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Input {
    /// Fed on stdin.
    #[serde(default)]
    pub stdin: String,
    /// Command-line arguments; `{dir}` is a scratch directory of the run's own and
    /// `{port}` a free TCP port.
    #[serde(default)]
    pub args: Vec<String>,
    /// Overrides the default wall-clock limit for runs on this input.
    pub timeout_secs: Option<f64>,
    /// A forced ordering: the tracer holds a process at a stop (see `trace::hold`).
    pub hold: Option<HoldRule>,
    /// The grader plays the program's client (see `run::client`).
    pub client: Option<ClientScript>,
}

/// One rubric item. (Unknown fields are caught by the flattened kind's own parameters;
/// serde cannot deny them across a flatten.)
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Check {
    /// Unique id, `<part>.<name>`; the test name in `cargo test` and the JSON key.
    pub id: String,
    pub part: String,
    pub title: String,
    pub points: u32,
    pub hint: String,
    /// Names from [`Rubric::inputs`].
    pub inputs: Vec<String>,
    /// The generic check and its parameters.
    #[serde(flatten)]
    pub kind: CheckKind,
}

/// Why a rubric could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum RubricError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

impl Rubric {
    /// Reads and validates a rubric file.
    pub fn load(path: &Path) -> Result<Rubric, RubricError> {
        let text = std::fs::read_to_string(path).map_err(|source| RubricError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Rubric::parse(&text).map_err(|message| RubricError::Invalid {
            path: path.to_path_buf(),
            message,
        })
    }

    /// Parses and validates rubric text.
    pub fn parse(text: &str) -> Result<Rubric, String> {
        let rubric: Rubric = toml::from_str(text).map_err(|e| e.to_string())?;
        rubric.validate()?;
        Ok(rubric)
    }

    fn validate(&self) -> Result<(), String> {
        let mut seen = std::collections::BTreeSet::new();
        for check in &self.checks {
            if !seen.insert(&check.id) {
                return Err(format!("check id `{}` is used twice", check.id));
            }
            if !self.parts.contains_key(&check.part) {
                return Err(format!(
                    "check `{}` names part `{}`, which [parts] does not declare",
                    check.id, check.part
                ));
            }
            if check.inputs.is_empty() {
                return Err(format!("check `{}` runs on no input", check.id));
            }
            for input in &check.inputs {
                if !self.inputs.contains_key(input) {
                    return Err(format!(
                        "check `{}` names input `{input}`, which [inputs] does not declare",
                        check.id
                    ));
                }
            }
        }
        if !["factor", "ring", "factor-and-rpc"].contains(&self.contract.as_str()) {
            return Err(format!("unknown contract `{}`", self.contract));
        }
        Ok(())
    }

    /// The lab's total points.
    pub fn max_points(&self) -> u32 {
        self.checks.iter().map(|c| c.points).sum()
    }

    /// The system calls this rubric's checks need to see; the tracer's filter is built from
    /// this, so the rubric is the only list of them.
    pub fn interest(&self) -> Interest {
        Interest::for_topics(self.topics())
    }

    fn topics(&self) -> Vec<Topic> {
        self.checks.iter().flat_map(|c| c.kind.topics()).collect()
    }

    /// The wall-clock limit for runs on an input.
    pub fn timeout(&self, input: &str) -> Duration {
        let secs = self
            .inputs
            .get(input)
            .and_then(|i| i.timeout_secs)
            .unwrap_or(self.defaults.timeout_secs);
        Duration::from_secs_f64(secs)
    }

    /// Finds `labs/<lab>/rubric.toml` under a repository root.
    pub fn path_in(root: &Path, lab: &str) -> PathBuf {
        root.join("labs").join(lab).join("rubric.toml")
    }
}
