//! A lab's rubric: the TOML file beside the lab (`labs/labNN/rubric.toml`), read once and
//! shared by every front end.
//!
//! The rubric names the lab's parts (one binary each), the inputs fed on stdin, and the
//! checks: each with points, a title, a hint, the inputs it runs on, and a `kind` naming a
//! generic check in [`crate::checks`] with its parameters.
//!
//! Loading parses every value into its type and rejects whatever could only fail later, in a
//! run, where an instructor's typo would read as the student's failed check: an unknown
//! kind, input, part or key; a duplicate id; a timeout that is not a positive number of
//! seconds up to [`MAX_TIMEOUT_SECS`]; a hold or a client script that could never go as
//! written (address, hex bytes, signal names, connections, waits of 0 ms or as long as the
//! run); a check of a contract the rubric does not declare. Every error names the file, the
//! line and column, and the input or check it is in.

use crate::checks::CheckKind;
use crate::run::client::{ClientScript, ScriptProblem};
use crate::trace::{HoldRule, Interest, Topic};
use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// The longest wall-clock limit a rubric may give a run (`timeout-secs`): an hour.
pub const MAX_TIMEOUT_SECS: f64 = 3600.0;

/// The least and the most the rubric's wall-clock limits may be scaled by
/// (`--timeout-scale`): a scaled limit is then never below a tenth of a second for a
/// 10-second limit, and never above 100 hours.
pub const TIMEOUT_SCALES: (f64, f64) = (0.01, 100.0);

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
    /// The program contracts the checks hold programs to: a check that judges a contract's
    /// output or protocol must be of one of them, an input with a client script needs
    /// `rpc`, and each of them must be judged by some check.
    pub contract: Contracts,
    #[serde(default)]
    pub defaults: Defaults,
    pub parts: BTreeMap<String, Part>,
    pub inputs: BTreeMap<String, Input>,
    pub checks: Vec<Check>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Defaults {
    /// Wall-clock limit per run (`timeout-secs`).
    #[serde(rename = "timeout-secs", deserialize_with = "timeout")]
    pub timeout: Duration,
}

impl Default for Defaults {
    fn default() -> Self {
        Defaults {
            timeout: Duration::from_secs(10),
        }
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
    /// Overrides the default wall-clock limit for runs on this input (`timeout-secs`).
    #[serde(
        rename = "timeout-secs",
        default,
        deserialize_with = "optional_timeout"
    )]
    pub timeout: Option<Duration>,
    /// A forced ordering: the tracer holds a process at a stop (see `trace::hold`).
    pub hold: Option<HoldRule>,
    /// The grader plays the program's client (see `run::client`).
    pub client: Option<ClientScript>,
}

/// One rubric item. (Serde cannot deny unknown fields across a flatten; loading compares
/// the check's keys with those its kind takes.)
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Check {
    /// Unique id, `<part>.<name>`; the test name in `cargo test` and the JSON key.
    pub id: String,
    pub part: String,
    pub title: String,
    pub points: u32,
    pub hint: String,
    /// The hint for a program that is not Rust (`hint-c`), when `hint` names Rust calls;
    /// [`crate::lang::Language`] tells which a program is.
    #[serde(default)]
    pub hint_c: Option<String>,
    /// Names from [`Rubric::inputs`].
    pub inputs: Vec<String>,
    /// The generic check and its parameters.
    #[serde(flatten)]
    pub kind: CheckKind,
}

/// The keys every check has, besides its kind's parameters.
const CHECK_KEYS: [&str; 8] = [
    "id", "part", "title", "points", "hint", "hint-c", "inputs", "kind",
];

/// A program contract: what a lab's programs read, print or speak, as its handout states it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Contract {
    /// One number on stdin; the prompt, its factors once each, `Finished.` (labs 11, 12, 14).
    Factor,
    /// `P C N [W]` on stdin; `consumed <item> by <c>` for every item, `Finished.` (lab 13).
    Ring,
    /// The framed calls and replies of `run::client`, over a socket (lab 14).
    Rpc,
}

impl Contract {
    const ALL: [Contract; 3] = [Contract::Factor, Contract::Ring, Contract::Rpc];

    /// The name a rubric gives it.
    pub fn name(self) -> &'static str {
        match self {
            Contract::Factor => "factor",
            Contract::Ring => "ring",
            Contract::Rpc => "rpc",
        }
    }

    /// The contract a check of this kind judges, if any: the output of `factor` or `ring`,
    /// the protocol of `rpc`. The other kinds judge what any program does (forks, channels,
    /// cleanup, signals), whatever it prints.
    pub fn judged_by(kind: &CheckKind) -> Option<Contract> {
        match kind {
            CheckKind::Factors | CheckKind::ForcedOrdering => Some(Contract::Factor),
            CheckKind::ExactlyOnce => Some(Contract::Ring),
            CheckKind::ClientScript => Some(Contract::Rpc),
            CheckKind::RejectsBadInput
            | CheckKind::WorkerCount { .. }
            | CheckKind::OnlyParentPrints
            | CheckKind::Channel { .. }
            | CheckKind::ClosesUnusedPipeEnds
            | CheckKind::ReapsChildren
            | CheckKind::ShmDetached
            | CheckKind::ShmRemoved
            | CheckKind::ObjectsRemoved
            | CheckKind::ClosesUnusedSocketEnds
            | CheckKind::PosixShmUnmapped
            | CheckKind::PosixShmUnlinked
            | CheckKind::NoBusyWait { .. }
            | CheckKind::SharedBuffer
            | CheckKind::SignalHandshake
            | CheckKind::HandlersAsyncSignalSafe
            | CheckKind::WaitsForSignals { .. } => None,
        }
    }
}

/// A rubric's `contract`: one contract, or several joined by `-and-` (`factor-and-rpc`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Contracts(Vec<Contract>);

impl Contracts {
    /// True if the rubric declares this contract.
    pub fn includes(&self, contract: Contract) -> bool {
        self.0.contains(&contract)
    }

    /// The contracts declared, in the order given.
    pub fn iter(&self) -> impl Iterator<Item = Contract> + '_ {
        self.0.iter().copied()
    }
}

impl TryFrom<String> for Contracts {
    type Error = String;

    fn try_from(text: String) -> Result<Contracts, String> {
        let mut contracts = Vec::new();
        for name in text.split("-and-") {
            let Some(contract) = Contract::ALL.into_iter().find(|c| c.name() == name) else {
                let known: Vec<String> = Contract::ALL
                    .iter()
                    .map(|c| format!("`{}`", c.name()))
                    .collect();
                return Err(format!(
                    "unknown contract `{name}`: a contract is one of {} (or several joined \
                     by `-and-`, like `factor-and-rpc`)",
                    known.join(", ")
                ));
            };
            if contracts.contains(&contract) {
                return Err(format!("contract `{text}` names `{name}` twice"));
            }
            contracts.push(contract);
        }
        Ok(Contracts(contracts))
    }
}

impl std::fmt::Display for Contracts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.iter().map(Contract::name).collect();
        f.write_str(&names.join("-and-"))
    }
}

/// Where in a rubric's text: 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

/// What is wrong in a rubric's text, and where (when toml's spans say).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub at: Option<Position>,
    /// One line; names the input or check (and step) it is in.
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(Position { line, column }) = self.at {
            write!(f, "line {line}, column {column}: ")?;
        }
        f.write_str(&self.message)
    }
}

/// Why a rubric could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum RubricError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Shown as `labs/lab14/rubric.toml:116:5: input `bad-frames`, step 2 (send-raw): …`.
    #[error("{}", located(.path, .problem))]
    Invalid { path: PathBuf, problem: Problem },
}

fn located(path: &Path, problem: &Problem) -> String {
    match problem.at {
        Some(Position { line, column }) => {
            format!("{}:{line}:{column}: {}", path.display(), problem.message)
        }
        None => format!("{}: {}", path.display(), problem.message),
    }
}

/// `value` if it is more than 0, at least `least` and at most `most`; else what is wrong
/// with it, to follow the value in a message (`is not a positive number`). Every number of
/// seconds or factor the grader makes a [`Duration`] of passes here first, so none can be
/// negative, NaN, infinite or too large for one.
pub fn number_in(value: f64, least: f64, most: f64) -> Result<f64, String> {
    if value.is_nan() || value <= 0.0 {
        Err("is not a positive number".to_string())
    } else if value < least {
        Err(format!("is less than {least}, the least allowed"))
    } else if value > most {
        Err(format!("is more than {most}, the most allowed"))
    } else {
        Ok(value)
    }
}

/// A rubric's `timeout-secs` as a [`Duration`].
pub fn timeout_secs(secs: f64) -> Result<Duration, String> {
    number_in(secs, 0.0, MAX_TIMEOUT_SECS)
        .map(Duration::from_secs_f64)
        .map_err(|why| format!("timeout-secs `{}` {why}", shown(secs)))
}

/// A wall-clock limit multiplied by a timeout scale (`--timeout-scale`), if the scale is in
/// [`TIMEOUT_SCALES`].
pub fn scaled(timeout: Duration, scale: f64) -> Result<Duration, String> {
    let (least, most) = TIMEOUT_SCALES;
    let scale = number_in(scale, least, most)
        .map_err(|why| format!("the timeout scale `{}` {why}", shown(scale)))?;
    Ok(timeout.mul_f64(scale))
}

/// A number as a person wrote it: `1e308`, not three hundred digits.
fn shown(value: f64) -> String {
    if value.is_finite() && value != 0.0 && !(1e-4..1e15).contains(&value.abs()) {
        format!("{value:e}")
    } else {
        format!("{value}")
    }
}

fn timeout<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    timeout_secs(f64::deserialize(deserializer)?).map_err(serde::de::Error::custom)
}

fn optional_timeout<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Duration>, D::Error> {
    timeout(deserializer).map(Some)
}

impl Rubric {
    /// Reads and validates a rubric file.
    pub fn load(path: &Path) -> Result<Rubric, RubricError> {
        let text = std::fs::read_to_string(path).map_err(|source| RubricError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Rubric::parse(&text).map_err(|problem| RubricError::Invalid {
            path: path.to_path_buf(),
            problem,
        })
    }

    /// Parses and validates rubric text.
    pub fn parse(text: &str) -> Result<Rubric, Problem> {
        let doc = Doc::parse(text)?;
        let rubric = Rubric::deserialize(toml::de::Deserializer::from(doc.root.clone()))
            .map_err(|e| doc.deserialize_problem(&e))?;
        rubric.validate(&doc)?;
        Ok(rubric)
    }

    fn validate(&self, doc: &Doc<'_>) -> Result<(), Problem> {
        let mut first_with_id: BTreeMap<&str, usize> = BTreeMap::new();
        for (i, check) in self.checks.iter().enumerate() {
            let earlier = first_with_id.insert(&check.id, i);
            self.validate_check(doc, i, check, earlier)?;
        }
        for (name, input) in &self.inputs {
            self.validate_input(doc, name, input)?;
        }
        for contract in self.contract.iter() {
            if !self
                .checks
                .iter()
                .any(|c| Contract::judged_by(&c.kind) == Some(contract))
            {
                return Err(doc.problem(
                    &[Key::Name("contract")],
                    format!(
                        "the rubric declares the `{}` contract, but no check judges it",
                        contract.name()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Check `i`: its id unique (`earlier`: the check that had it first), its part and
    /// inputs declared, its inputs what its kind needs, its keys those its kind takes, its
    /// contract the rubric's.
    fn validate_check(
        &self,
        doc: &Doc<'_>,
        i: usize,
        check: &Check,
        earlier: Option<usize>,
    ) -> Result<(), Problem> {
        use Key::{Index, Name};
        let at = |path: &[Key<'_>], message: String| {
            let mut full = vec![Name("checks"), Index(i)];
            full.extend_from_slice(path);
            doc.problem(&full, format!("check `{}`: {message}", check.id))
        };
        let kind = kind_name(&check.kind);
        if let Some(earlier) = earlier {
            let line = doc
                .position(&[Name("checks"), Index(earlier)])
                .map_or(String::new(), |p| format!(" (line {})", p.line));
            return Err(at(
                &[Name("id")],
                format!("the id is used twice: an earlier check{line} has it"),
            ));
        }
        if !self.parts.contains_key(&check.part) {
            return Err(at(
                &[Name("part")],
                format!(
                    "names part `{}`, which [parts] does not declare",
                    check.part
                ),
            ));
        }
        if check.inputs.is_empty() {
            return Err(at(&[Name("inputs")], "runs on no input".to_string()));
        }
        for (j, name) in check.inputs.iter().enumerate() {
            let Some(input) = self.inputs.get(name) else {
                return Err(at(
                    &[Name("inputs"), Index(j)],
                    format!("names input `{name}`, which [inputs] does not declare"),
                ));
            };
            let lacks = match check.kind {
                CheckKind::ClientScript if input.client.is_none() => Some("client script"),
                CheckKind::ForcedOrdering if input.hold.is_none() => Some("hold"),
                _ => None,
            };
            if let Some(lacks) = lacks {
                return Err(at(
                    &[Name("inputs"), Index(j)],
                    format!("a `{kind}` check runs on input `{name}`, which has no {lacks}"),
                ));
            }
        }
        let takes = kind_keys(&check.kind);
        for key in doc.keys(&[Name("checks"), Index(i)]) {
            if !CHECK_KEYS.contains(&key) && !takes.iter().any(|k| k == key) {
                let known: Vec<&str> = CHECK_KEYS
                    .iter()
                    .copied()
                    .filter(|k| *k != "kind")
                    .chain(takes.iter().map(String::as_str))
                    .collect();
                return Err(at(
                    &[Name(key)],
                    format!(
                        "unknown key `{key}` for a `{kind}` check (its keys: {})",
                        known.join(", ")
                    ),
                ));
            }
        }
        if let Some(contract) = Contract::judged_by(&check.kind)
            && !self.contract.includes(contract)
        {
            return Err(at(
                &[Name("kind")],
                format!(
                    "a `{kind}` check judges the `{}` contract, which the rubric's contract \
                     `{}` does not include",
                    contract.name(),
                    self.contract
                ),
            ));
        }
        Ok(())
    }

    /// An input's hold and client script: each could hold or go as written, and every wait
    /// in them is shorter than the input's wall-clock limit (a longer one is cut short by
    /// the time-out, and the check reads a time-out instead of what the wait was for).
    fn validate_input(&self, doc: &Doc<'_>, name: &str, input: &Input) -> Result<(), Problem> {
        use Key::{Index, Name};
        let at = |path: &[Key<'_>], message: String| {
            let mut full = vec![Name("inputs"), Name(name)];
            full.extend_from_slice(path);
            doc.problem(&full, format!("input `{name}`: {message}"))
        };
        let limit = self.timeout(name);
        let shorter = |ms: u64| Duration::from_millis(ms) < limit;
        let limit_text = format!("the input's wall-clock limit ({} s)", limit.as_secs_f64());
        if let Some(hold) = &input.hold {
            if let Err((key, message)) = hold.check() {
                return Err(at(&[Name("hold"), Name(key)], message));
            }
            let max_ms = hold.max().as_millis() as u64;
            if !shorter(max_ms) {
                return Err(at(
                    &[Name("hold"), Name("max-ms")],
                    format!(
                        "`max-ms = {max_ms}` is not shorter than {limit_text}: the run would \
                         time out while held"
                    ),
                ));
            }
        }
        let Some(client) = &input.client else {
            return Ok(());
        };
        if !self.contract.includes(Contract::Rpc) {
            return Err(at(
                &[Name("client")],
                format!(
                    "a client script speaks the `rpc` contract, which the rubric's contract \
                     `{}` does not include",
                    self.contract
                ),
            ));
        }
        let at_step = |step: usize, key: &str, message: String| {
            let path = [
                Name("inputs"),
                Name(name),
                Name("client"),
                Name("steps"),
                Index(step),
                Name(key),
            ];
            let what = client.steps[step].name();
            let message = format!("input `{name}`, step {} ({what}): {message}", step + 1);
            doc.problem(&path, message)
        };
        if let Err(ScriptProblem { step, key, message }) = client.check() {
            return Err(match step {
                Some(step) => at_step(step, key, message),
                None => at(&[Name("client"), Name(key)], message),
            });
        }
        for (i, step) in client.steps.iter().enumerate() {
            if let Some((key, ms)) = step.wait_ms()
                && !shorter(ms)
            {
                return Err(at_step(
                    i,
                    key,
                    format!("`{key} = {ms}` is not shorter than {limit_text}: the run ends first"),
                ));
            }
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
        self.inputs
            .get(input)
            .and_then(|i| i.timeout)
            .unwrap_or(self.defaults.timeout)
    }

    /// Finds `labs/<lab>/rubric.toml` under a repository root.
    pub fn path_in(root: &Path, lab: &str) -> PathBuf {
        root.join("labs").join(lab).join("rubric.toml")
    }
}

/// A check's kind as the rubric spells it (`client-script`).
fn kind_name(kind: &CheckKind) -> String {
    kind_table(kind)
        .get("kind")
        .and_then(|k| k.as_str())
        .unwrap_or_default()
        .to_string()
}

/// The parameters a check's kind takes (`workers`, `max-naps`), as the rubric spells them.
fn kind_keys(kind: &CheckKind) -> Vec<String> {
    kind_table(kind)
        .keys()
        .filter(|k| *k != "kind")
        .cloned()
        .collect()
}

fn kind_table(kind: &CheckKind) -> toml::Table {
    toml::Table::try_from(kind).unwrap_or_default()
}

/// One step of a path into the rubric's tables: a key or an array index.
#[derive(Debug, Clone, Copy)]
enum Key<'k> {
    Name(&'k str),
    Index(usize),
}

/// The rubric's text as toml parsed it, with the span of every key and value: what puts a
/// line and column on every error, and names the input or check it is in.
struct Doc<'a> {
    text: &'a str,
    root: Spanned<DeTable<'a>>,
}

impl<'a> Doc<'a> {
    fn parse(text: &'a str) -> Result<Doc<'a>, Problem> {
        let root = DeTable::parse(text).map_err(|e| Problem {
            at: e.span().map(|s| position_at(text, s.start)),
            message: one_line(e.message()),
        })?;
        Ok(Doc { text, root })
    }

    /// Follows `path` as far as it exists: the span of the last part found (a key's own
    /// span for a key, an element's for an index), and the value there if the whole path
    /// exists.
    fn lookup(&self, path: &[Key<'_>]) -> (Option<Range<usize>>, Option<&DeValue<'a>>) {
        let mut span = None;
        let mut table = Some(self.root.get_ref());
        let mut value: Option<&DeValue<'a>> = None;
        for key in path {
            let found = match (key, table, value) {
                (Key::Name(name), Some(t), _) => t
                    .iter()
                    .find(|(k, _)| k.get_ref() == name)
                    .map(|(k, v)| (k.span(), v)),
                (Key::Index(i), _, Some(DeValue::Array(items))) => {
                    items.get(*i).map(|v| (v.span(), v))
                }
                _ => None,
            };
            let Some((at, next)) = found else {
                return (span, None);
            };
            span = Some(at);
            value = Some(next.get_ref());
            table = match next.get_ref() {
                DeValue::Table(t) => Some(t),
                _ => None,
            };
        }
        (span, value)
    }

    fn position(&self, path: &[Key<'_>]) -> Option<Position> {
        self.lookup(path).0.map(|s| position_at(self.text, s.start))
    }

    /// A problem at what `path` leads to.
    fn problem(&self, path: &[Key<'_>], message: String) -> Problem {
        Problem {
            at: self.position(path),
            message,
        }
    }

    /// The keys of the table `path` leads to.
    fn keys(&self, path: &[Key<'_>]) -> Vec<&str> {
        match self.lookup(path).1 {
            Some(DeValue::Table(t)) => t.iter().map(|(k, _)| k.get_ref().as_ref()).collect(),
            _ => Vec::new(),
        }
    }

    /// A problem toml's deserializer found, placed by its span and named by the input or
    /// check (and step) around it.
    fn deserialize_problem(&self, error: &toml::de::Error) -> Problem {
        let message = one_line(error.message());
        let Some(span) = error.span() else {
            return Problem { at: None, message };
        };
        // A client script's steps are read through a buffer (they are tagged by `do`), so
        // their errors carry the span of the whole script: find the step that fails alone.
        let offset = self
            .failing_step(span.start, error.message())
            .unwrap_or(span.start);
        let message = match self.context(offset) {
            Some(context) => format!("{context}: {message}"),
            None => message,
        };
        Problem {
            at: Some(position_at(self.text, offset)),
            message,
        }
    }

    /// Where the step is, in the input around `offset`, that fails to read with this message.
    fn failing_step(&self, offset: usize, message: &str) -> Option<usize> {
        let (_, Some(DeValue::Table(inputs))) = self.lookup(&[Key::Name("inputs")]) else {
            return None;
        };
        let (name, _) = inputs
            .iter()
            .find(|(name, input)| extent(name.span(), input).contains(&offset))?;
        let path = [
            Key::Name("inputs"),
            Key::Name(name.get_ref()),
            Key::Name("client"),
            Key::Name("steps"),
        ];
        let (_, Some(DeValue::Array(steps))) = self.lookup(&path) else {
            return None;
        };
        steps
            .iter()
            .map(|step| step.span())
            .find(|span| {
                let source = &self.text[span.clone()];
                toml::de::ValueDeserializer::parse(source)
                    .and_then(crate::run::client::Step::deserialize)
                    .is_err_and(|e| e.message() == message)
            })
            .map(|span| span.start)
    }

    /// `input `bad-frames`, step 2 (send-raw)` or `check `pipe.factors``: what `offset` is in.
    fn context(&self, offset: usize) -> Option<String> {
        let root = self.root.get_ref();
        let entry = |name: &str| root.iter().find(|(k, _)| k.get_ref() == name);
        if let Some((_, inputs)) = entry("inputs")
            && let DeValue::Table(inputs) = inputs.get_ref()
        {
            for (name, input) in inputs.iter() {
                if !extent(name.span(), input).contains(&offset) {
                    continue;
                }
                let mut context = format!("input `{}`", name.get_ref());
                let steps = match input.get_ref() {
                    DeValue::Table(t) => t
                        .iter()
                        .find(|(k, _)| k.get_ref() == "client")
                        .and_then(|(_, c)| match c.get_ref() {
                            DeValue::Table(c) => c.iter().find(|(k, _)| k.get_ref() == "steps"),
                            _ => None,
                        })
                        .map(|(_, steps)| steps),
                    _ => None,
                };
                if let Some(steps) = steps
                    && let DeValue::Array(steps) = steps.get_ref()
                    && let Some((i, step)) = steps
                        .iter()
                        .enumerate()
                        .find(|(_, s)| s.span().contains(&offset))
                {
                    context.push_str(&format!(", step {}", i + 1));
                    if let DeValue::Table(t) = step.get_ref()
                        && let Some((_, what)) = t.iter().find(|(k, _)| k.get_ref() == "do")
                        && let Some(what) = what.get_ref().as_str()
                    {
                        context.push_str(&format!(" ({what})"));
                    }
                }
                return Some(context);
            }
        }
        if let Some((_, checks)) = entry("checks")
            && let DeValue::Array(checks) = checks.get_ref()
        {
            for (i, check) in checks.iter().enumerate() {
                if !extent(check.span(), check).contains(&offset) {
                    continue;
                }
                let id = match check.get_ref() {
                    DeValue::Table(t) => t
                        .iter()
                        .find(|(k, _)| k.get_ref() == "id")
                        .and_then(|(_, id)| id.get_ref().as_str()),
                    _ => None,
                };
                return Some(match id {
                    Some(id) => format!("check `{id}`"),
                    None => format!("check {} (no id)", i + 1),
                });
            }
        }
        None
    }
}

/// From the start of `first` to the end of the last span under `value`: a table written
/// with a header (`[inputs.replies]`, `[[checks]]`) has a span of the header only.
fn extent(first: Range<usize>, value: &Spanned<DeValue<'_>>) -> Range<usize> {
    fn widen(range: &mut Range<usize>, value: &Spanned<DeValue<'_>>) {
        let span = value.span();
        range.start = range.start.min(span.start);
        range.end = range.end.max(span.end);
        match value.get_ref() {
            DeValue::Table(t) => {
                for (k, v) in t.iter() {
                    let key = k.span();
                    range.start = range.start.min(key.start);
                    range.end = range.end.max(key.end);
                    widen(range, v);
                }
            }
            DeValue::Array(items) => items.iter().for_each(|v| widen(range, v)),
            _ => {}
        }
    }
    let mut range = first;
    widen(&mut range, value);
    range
}

/// A message of toml's on one line.
fn one_line(message: &str) -> String {
    message.trim_end().replace('\n', "; ")
}

/// The 1-based line and column of a byte offset.
fn position_at(text: &str, offset: usize) -> Position {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    Position {
        line: before.matches('\n').count() + 1,
        column: before[line_start..].chars().count() + 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small rubric with one check of each contract, a hold and a client script.
    const BASE: &str = r#"
lab = "lab99"
title = "A rubric for tests"
package = "lab99"
solution-package = "lab99-solution"
editable = ["labs/lab99/src/**"]
contract = "factor-and-rpc"

[defaults]
timeout-secs = 10

[parts.a]
title = "Part a"
bin = "a"

[inputs]
small = { stdin = "60\n" }
held = { stdin = "60\n", timeout-secs = 6, hold = { rule = "parent-after-forks", forks = 2, max-ms = 2000 } }

[inputs.serve]
args = ["serve", "--listen", "unix:{dir}/rpc.sock"]
client.address = "unix:{dir}/rpc.sock"
client.steps = [
    { do = "connect", conn = "a" },
    { do = "call", conn = "a", procedure = 2, args = [84, 36], status = 0, results = [12] },
    { do = "start-call", conn = "a", procedure = 3, args = [30] },
    { do = "signal", signal = "SIGTERM" },
    { do = "finish-call", conn = "a", status = 0, within-ms = 3000 },
    { do = "send-raw", conn = "a", hex = "00000004 00000001" },
    { do = "send-partial", conn = "a", procedure = 1, args = [60], bytes = 10 },
    { do = "close", conn = "a" },
    { do = "wait-exit", within-ms = 3000 },
]

[[checks]]
id = "a.factors"
part = "a"
kind = "factors"
title = "factors"
points = 2
inputs = ["small"]
hint = "hint"

[[checks]]
id = "a.forced"
part = "a"
kind = "forced-ordering"
title = "forced"
points = 1
inputs = ["held"]
hint = "hint"

[[checks]]
id = "a.workers"
part = "a"
kind = "worker-count"
workers = 2
title = "workers"
points = 1
inputs = ["small"]
hint = "hint"

[[checks]]
id = "a.rpc"
part = "a"
kind = "client-script"
title = "rpc"
points = 3
inputs = ["serve"]
hint = "hint"
"#;

    /// `BASE` with `from` (which must occur once) replaced by `to`.
    fn edited(from: &str, to: &str) -> String {
        assert_eq!(BASE.matches(from).count(), 1, "{from}");
        BASE.replace(from, to)
    }

    /// The 1-based line of the first `needle` in `text`.
    fn line_of(text: &str, needle: &str) -> usize {
        let at = text.find(needle).unwrap_or_else(|| panic!("no {needle}"));
        text[..at].matches('\n').count() + 1
    }

    /// `text` is rejected, on the line where `at` is, with a message containing `needles`.
    #[track_caller]
    fn rejected(text: &str, at: &str, needles: &[&str]) -> Problem {
        let problem = Rubric::parse(text).expect_err("the rubric should be rejected");
        assert_eq!(
            problem.at.map(|p| p.line),
            Some(line_of(text, at)),
            "{problem}"
        );
        for needle in needles {
            assert!(
                problem.message.contains(needle),
                "{problem}\nlacks: {needle}"
            );
        }
        assert!(!problem.message.contains('\n'), "one line: {problem}");
        problem
    }

    #[test]
    fn the_base_rubric_loads_with_typed_values() {
        let rubric = Rubric::parse(BASE).unwrap();
        assert_eq!(rubric.timeout("small"), Duration::from_secs(10));
        assert_eq!(rubric.timeout("held"), Duration::from_secs(6));
        assert_eq!(rubric.contract.to_string(), "factor-and-rpc");
        assert!(rubric.contract.includes(Contract::Rpc));
        assert!(!rubric.contract.includes(Contract::Ring));
        assert_eq!(rubric.max_points(), 7);
    }

    #[test]
    fn every_lab_rubric_loads() {
        let labs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../labs");
        let mut loaded = 0;
        for lab in std::fs::read_dir(&labs).unwrap() {
            let path = lab.unwrap().path().join("rubric.toml");
            if path.is_file() {
                Rubric::load(&path).unwrap_or_else(|e| panic!("{e}"));
                loaded += 1;
            }
        }
        assert!(loaded >= 4, "{loaded} rubrics");
    }

    #[test]
    fn timeouts_are_positive_finite_and_at_most_an_hour() {
        for bad in ["-1", "0", "nan", "-inf", "inf", "1e308", "3600.5"] {
            let text = edited("timeout-secs = 6,", &format!("timeout-secs = {bad},"));
            rejected(&text, "held =", &["input `held`", "timeout-secs `"]);
        }
        let text = edited("timeout-secs = 6,", "timeout-secs = -1,");
        let problem = rejected(&text, "held =", &["is not a positive number"]);
        assert!(problem.message.contains("`-1`"), "{problem}");
        let text = edited("timeout-secs = 6,", "timeout-secs = 1e308,");
        rejected(&text, "held =", &["`1e308` is more than 3600"]);
        let text = edited("timeout-secs = 10\n", "timeout-secs = nan\n");
        rejected(
            &text,
            "timeout-secs = nan",
            &["`NaN` is not a positive number"],
        );
        let text = edited("timeout-secs = 6,", "timeout-secs = \"6\",");
        rejected(&text, "held =", &["input `held`"]);
        // Whole seconds and fractions are fine.
        let text = edited("timeout-secs = 6,", "timeout-secs = 2.5,");
        let rubric = Rubric::parse(&text).unwrap();
        assert_eq!(rubric.timeout("held"), Duration::from_millis(2500));
    }

    #[test]
    fn scaled_timeouts_never_overflow() {
        let ten = Duration::from_secs(10);
        assert_eq!(scaled(ten, 0.4).unwrap(), Duration::from_secs(4));
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e308, 0.001, 101.0] {
            let e = scaled(ten, bad).unwrap_err();
            assert!(e.starts_with("the timeout scale `"), "{e}");
        }
        assert!(scaled(Duration::from_secs_f64(MAX_TIMEOUT_SECS), TIMEOUT_SCALES.1).is_ok());
    }

    #[test]
    fn contracts_are_known_and_each_is_judged() {
        let text = edited(r#"contract = "factor-and-rpc""#, r#"contract = "factors""#);
        rejected(
            &text,
            "contract =",
            &["unknown contract `factors`", "`ring`"],
        );
        let text = edited(
            r#"contract = "factor-and-rpc""#,
            r#"contract = "rpc-and-rpc""#,
        );
        rejected(&text, "contract =", &["names `rpc` twice"]);
        // A check of a contract the rubric does not declare.
        let text = edited(
            "kind = \"factors\"\ntitle = \"factors\"",
            "kind = \"exactly-once\"\ntitle = \"factors\"",
        );
        rejected(
            &text,
            "kind = \"exactly-once\"",
            &["check `a.factors`", "`exactly-once`", "`ring` contract"],
        );
        // A declared contract no check judges.
        let text = BASE.replace(
            r#"contract = "factor-and-rpc""#,
            r#"contract = "factor-and-ring-and-rpc""#,
        );
        rejected(
            &text,
            "contract =",
            &["declares the `ring` contract, but no check"],
        );
        // A check of rpc in a rubric of factor only.
        let text = edited(r#"contract = "factor-and-rpc""#, r#"contract = "factor""#);
        rejected(
            &text,
            "kind = \"client-script\"",
            &[
                "check `a.rpc`",
                "`rpc` contract",
                "contract `factor` does not include",
            ],
        );
        // A client script speaks rpc, whatever checks its input.
        let text = text.replace("kind = \"client-script\"", "kind = \"objects-removed\"");
        rejected(
            &text,
            "client.address",
            &["input `serve`", "`rpc` contract"],
        );
    }

    #[test]
    fn addresses_are_checked_at_load() {
        for (bad, why) in [
            ("udp:127.0.0.1:9", "neither `unix:PATH` nor `tcp:IP:PORT`"),
            ("unix:{dri}/rpc.sock", "only {dir} and {port}"),
            ("unix:", "no socket path"),
            ("tcp:localhost:{port}", "not `tcp:IP:PORT`"),
            ("tcp:127.0.0.1", "not `tcp:IP:PORT`"),
            ("tcp:127.0.0.1:{dir}", "not `tcp:IP:PORT`"),
            ("tcp:127.0.0.1:0", "port 0"),
        ] {
            let text = edited(
                r#"client.address = "unix:{dir}/rpc.sock""#,
                &format!("client.address = \"{bad}\""),
            );
            rejected(&text, "client.address", &["input `serve`", why]);
        }
        for good in ["tcp:127.0.0.1:{port}", "tcp:[::1]:8080", "unix:/tmp/x.sock"] {
            let text = edited(
                r#"client.address = "unix:{dir}/rpc.sock""#,
                &format!("client.address = \"{good}\""),
            );
            Rubric::parse(&text).unwrap_or_else(|e| panic!("{good}: {e}"));
        }
    }

    #[test]
    fn hex_bytes_and_signal_names_are_parsed_at_load() {
        for (bad, why) in [
            ("0000000", "odd number of digits"),
            ("00 0g", "'g' is not a hex digit"),
            ("aé0", "'é' is not a hex digit"),
            ("+f", "'+' is not a hex digit"),
            ("  ", "gives no bytes"),
        ] {
            let text = edited("hex = \"00000004 00000001\"", &format!("hex = \"{bad}\""));
            rejected(
                &text,
                "do = \"send-raw\"",
                &["input `serve`, step 6 (send-raw)", why],
            );
        }
        let text = edited("signal = \"SIGTERM\"", "signal = \"SIGKILL\"");
        rejected(
            &text,
            "signal = \"SIGKILL\"",
            &["input `serve`, step 4 (signal)", "`SIGKILL`", "`SIGTERM`"],
        );
        let text = edited("signal = \"SIGTERM\"", "signal = \"sigterm\"");
        rejected(&text, "signal = \"sigterm\"", &["step 4"]);
    }

    #[test]
    fn scripts_that_could_never_go_as_written_are_rejected() {
        // A step on a connection no step opened.
        let text = edited(
            "{ do = \"call\", conn = \"a\"",
            "{ do = \"call\", conn = \"b\"",
        );
        rejected(
            &text,
            "conn = \"b\"",
            &[
                "input `serve`, step 2 (call)",
                "connection `b` is not open",
                "no `connect`",
            ],
        );
        // ... or one closed before.
        let text = edited(
            "    { do = \"wait-exit\", within-ms = 3000 },\n",
            "    { do = \"shutdown-write\", conn = \"a\" },\n",
        );
        rejected(
            &text,
            "do = \"shutdown-write\"",
            &["step 9 (shutdown-write)", "step 8 closed it"],
        );
        // A finish-call with no start-call before it.
        let text = edited(
            "{ do = \"start-call\", conn = \"a\", procedure = 3, args = [30] },",
            "{ do = \"pause\", ms = 10 },",
        );
        rejected(
            &text,
            "do = \"finish-call\"",
            &["step 5 (finish-call)", "no `start-call`"],
        );
        // A part of a request that is none of it, or all of it (a 20-byte request).
        for bytes in ["0", "20", "99"] {
            let text = edited("bytes = 10", &format!("bytes = {bytes}"));
            rejected(
                &text,
                "do = \"send-partial\"",
                &["step 7 (send-partial)", "1 to 19 bytes"],
            );
        }
        // Waits of 0 ms, or as long as the run.
        let text = edited(
            "{ do = \"wait-exit\", within-ms = 3000 }",
            "{ do = \"wait-exit\", within-ms = 0 }",
        );
        rejected(
            &text,
            "within-ms = 0",
            &["step 9 (wait-exit)", "at least 1 ms"],
        );
        let text = edited(
            "{ do = \"wait-exit\", within-ms = 3000 }",
            "{ do = \"wait-exit\", within-ms = 18446744073709551615 }",
        );
        rejected(
            &text,
            "do = \"wait-exit\"",
            &[
                "step 9 (wait-exit)",
                "not shorter than the input's wall-clock limit (10 s)",
            ],
        );
        // No steps at all.
        let start = BASE.find("client.steps = [").unwrap();
        let end = start + BASE[start..].find("]\n\n").unwrap() + 1;
        let text = format!("{}client.steps = []{}", &BASE[..start], &BASE[end..]);
        rejected(&text, "client.steps", &["input `serve`", "no steps"]);
        // An unknown step, or a step with a key it does not take.
        let text = edited("{ do = \"signal\",", "{ do = \"signl\",");
        rejected(
            &text,
            "do = \"signl\"",
            &["input `serve`, step 4", "`signl`"],
        );
        let text = edited(
            "{ do = \"signal\", signal = \"SIGTERM\" }",
            "{ do = \"signal\", signal = \"SIGTERM\", conn = \"a\" }",
        );
        rejected(&text, "do = \"signal\"", &["step 4", "`conn`"]);
    }

    #[test]
    fn holds_that_could_never_hold_are_rejected() {
        let text = edited("forks = 2,", "forks = 0,");
        rejected(&text, "held =", &["input `held`", "`forks = 0`"]);
        let text = edited("max-ms = 2000", "max-ms = 0");
        rejected(&text, "held =", &["input `held`", "`max-ms = 0`"]);
        for long in ["6000", "18446744073709551615"] {
            let text = edited("max-ms = 2000", &format!("max-ms = {long}"));
            rejected(
                &text,
                "held =",
                &[
                    "input `held`",
                    "not shorter than the input's wall-clock limit (6 s)",
                ],
            );
        }
        let text = edited("forks = 2,", "forks = -2,");
        rejected(&text, "held =", &["input `held`"]);
        let text = edited(
            "rule = \"parent-after-forks\"",
            "rule = \"parent-before-forks\"",
        );
        rejected(&text, "held =", &["input `held`", "`parent-before-forks`"]);
    }

    #[test]
    fn checks_name_what_exists_and_what_their_kind_needs() {
        let text = edited("id = \"a.forced\"", "id = \"a.factors\"");
        let problem = rejected(
            &text,
            "id = \"a.factors\"\npart = \"a\"\nkind = \"forced",
            &["check `a.factors`", "used twice"],
        );
        let first = line_of(&text, "[[checks]]");
        assert!(
            problem.message.contains(&format!("(line {first})")),
            "{problem}"
        );
        let text = edited("kind = \"factors\"", "kind = \"factors\"\npart-typo = 1");
        rejected(
            &text,
            "part-typo",
            &["check `a.factors`", "unknown key `part-typo`", "`factors`"],
        );
        let text = edited("workers = 2", "workers = 2\nmax-naps = 2");
        rejected(
            &text,
            "max-naps",
            &[
                "check `a.workers`",
                "its keys: id, part, title, points, hint, hint-c, inputs, workers",
            ],
        );
        let text = edited("inputs = [\"held\"]", "inputs = [\"small\"]");
        rejected(
            &text,
            "inputs = [\"small\"]\nhint = \"hint\"\n\n[[checks]]\nid = \"a.workers\"",
            &["check `a.forced`", "input `small`, which has no hold"],
        );
        let text = edited("inputs = [\"serve\"]", "inputs = [\"small\"]");
        let last = text.rfind("inputs = [\"small\"]").unwrap();
        let problem = Rubric::parse(&text).unwrap_err();
        let line = text[..last].matches('\n').count() + 1;
        assert_eq!(problem.at.map(|p| p.line), Some(line), "{problem}");
        for needle in ["check `a.rpc`", "`client-script` check", "no client script"] {
            assert!(problem.message.contains(needle), "{problem}");
        }
        let text = edited("inputs = [\"serve\"]", "inputs = [\"serve\", \"smal\"]");
        rejected(
            &text,
            "\"smal\"",
            &["check `a.rpc`", "input `smal`, which [inputs]"],
        );
        let text = edited("inputs = [\"serve\"]", "inputs = []");
        rejected(&text, "inputs = []", &["check `a.rpc`", "runs on no input"]);
        let text = edited(
            "bin = \"a\"",
            "bin = \"a\"\n[parts.b]\ntitle = \"b\"\nbin = \"b\"",
        )
        .replace(
            "id = \"a.rpc\"\npart = \"a\"",
            "id = \"a.rpc\"\npart = \"c\"",
        );
        rejected(&text, "part = \"c\"", &["check `a.rpc`", "part `c`"]);
        let text = edited("points = 3", "points = -3");
        rejected(&text, "points = -3", &["check `a.rpc`"]);
        // A check without its hint: placed at its header.
        let last = BASE.rfind("hint = \"hint\"\n").unwrap();
        let text = format!(
            "{}{}",
            &BASE[..last],
            &BASE[last + "hint = \"hint\"\n".len()..]
        );
        let header = text.rfind("[[checks]]").unwrap();
        let problem = Rubric::parse(&text).unwrap_err();
        let line = text[..header].matches('\n').count() + 1;
        assert_eq!(problem.at.map(|p| p.line), Some(line), "{problem}");
        assert!(problem.message.contains("check `a.rpc`"), "{problem}");
        assert!(
            problem.message.contains("missing field `hint`"),
            "{problem}"
        );
    }

    #[test]
    fn syntax_errors_have_a_line_and_one_line_of_message() {
        let text = edited("points = 3", "points = = 3");
        rejected(&text, "points = = 3", &[]);
        let error = RubricError::Invalid {
            path: PathBuf::from("labs/lab99/rubric.toml"),
            problem: Rubric::parse(&text).unwrap_err(),
        };
        let shown = error.to_string();
        let line = line_of(&text, "points = = 3");
        assert!(
            shown.starts_with(&format!("labs/lab99/rubric.toml:{line}:")),
            "{shown}"
        );
        assert_eq!(shown.lines().count(), 1, "{shown}");
    }
}
