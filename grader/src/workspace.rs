//! Finding the kit's repository and building a lab's binaries with cargo.
//!
//! Binaries are matched to a rubric's parts by their source file (`src/bin/<part>.rs`), not
//! by name, so the student crate and the solutions (whose binaries must be named apart to
//! share one target directory) map the same way.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Why cargo gave no answer on a lab (its code not compiling is an answer: [`Build`]).
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("cannot run cargo: {0}")]
    Cargo(std::io::Error),
    /// The build ran past [`BuildOptions::timeout`] and was killed: a graded result.
    #[error("the build took longer than {} s and was stopped", .0.as_secs())]
    TimedOut(Duration),
}

/// What building a package's binaries gave. Cargo runs with `--keep-going`, so one binary
/// that does not compile costs only itself: the others are built in the same run (no
/// second build, no extra time), and a rubric part is lost only when its own program, or
/// something it needs (the library), does not compile.
#[derive(Debug, Clone, Default)]
pub struct Build {
    /// Source stem (`pipe`) → executable, for every binary that compiled.
    pub bins: BTreeMap<String, PathBuf>,
    /// Source stem → why a binary whose own source did not compile was not built
    /// (always [`NotBuilt::Compile`]).
    own_errors: BTreeMap<String, NotBuilt>,
    /// What kept the binaries without errors of their own from building (a library or build
    /// script that did not compile, a manifest cargo could not read); `None` when cargo
    /// succeeded.
    blocker: Option<NotBuilt>,
}

/// A [`Build`] seen by a rubric's parts ([`Build::by_part`]).
#[derive(Debug, Clone, Default)]
pub struct PartBuilds {
    /// Part → executable.
    pub exes: BTreeMap<String, PathBuf>,
    /// Part → why its binary was not built.
    pub not_built: BTreeMap<String, NotBuilt>,
}

/// Why one binary was not built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotBuilt {
    /// A crate target did not compile: its own source, or the library a binary needs.
    Compile(CompileErrors),
    /// Cargo failed without a compiler error to show (its output's last lines).
    Cargo(String),
}

/// The compiler errors of one target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompileErrors {
    /// The target's source file, relative to the repository root
    /// (`labs/lab11/src/bin/shm.rs`).
    pub path: String,
    /// Whether the target is a binary (otherwise the library, or a build script, that every
    /// binary needs).
    pub is_bin: bool,
    /// How many errors rustc reported.
    pub count: usize,
    /// The first error as rustc renders it (program-controlled text: the student's source).
    pub first: String,
}

impl Build {
    /// Why the binary built from `src/bin/<stem>.rs` is missing; `None` when it was built,
    /// or when cargo succeeded (a binary that does not exist is no compile error).
    pub fn not_built(&self, stem: &str) -> Option<&NotBuilt> {
        if self.bins.contains_key(stem) {
            return None;
        }
        self.own_errors.get(stem).or(self.blocker.as_ref())
    }

    /// Splits parts (part → source stem of its binary) into those built (part →
    /// executable) and those not (part → why). `Err` names a binary that is missing although
    /// nothing failed to compile: the kit and its rubric disagree.
    pub fn by_part<'a>(
        &self,
        parts: impl IntoIterator<Item = (&'a String, &'a String)>,
    ) -> Result<PartBuilds, String> {
        let mut split = PartBuilds::default();
        for (part, stem) in parts {
            if let Some(exe) = self.bins.get(stem) {
                split.exes.insert(part.clone(), exe.clone());
            } else if let Some(why) = self.not_built(stem) {
                split.not_built.insert(part.clone(), why.clone());
            } else {
                return Err(format!("no binary was built from src/bin/{stem}.rs"));
            }
        }
        Ok(split)
    }

    /// Whether cargo built everything it was asked to.
    pub fn is_complete(&self) -> bool {
        self.blocker.is_none() && self.own_errors.is_empty()
    }
}

/// The repository root above `start`: the first directory with a `Cargo.toml` and `labs/`.
pub fn find_root(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .find(|dir| dir.join("Cargo.toml").is_file() && dir.join("labs").is_dir())
        .map(Path::to_path_buf)
}

/// One line of cargo's `--message-format=json` output (the fields read here).
#[derive(Deserialize)]
struct Message {
    reason: String,
    target: Option<Target>,
    executable: Option<PathBuf>,
    /// A `compiler-message`'s diagnostic.
    message: Option<Diagnostic>,
}

#[derive(Deserialize)]
struct Diagnostic {
    level: String,
    message: String,
    rendered: Option<String>,
}

#[derive(Deserialize)]
struct Target {
    kind: Vec<String>,
    src_path: PathBuf,
}

/// Where and how [`build_bins_with`] builds.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// `--target-dir` (default: cargo's, i.e. `CARGO_TARGET_DIR` or `<root>/target`).
    pub target_dir: Option<PathBuf>,
    /// `--offline`: use only crates already downloaded.
    pub offline: bool,
    /// Kill the build (cargo and every compiler it started) after this long.
    pub timeout: Option<Duration>,
}

/// Builds a package's binaries: each one that compiles, and why the others did not.
pub fn build_bins(root: &Path, package: &str) -> Result<Build, BuildError> {
    build_bins_with(root, package, &BuildOptions::default())
}

/// [`build_bins`] with a target directory, offline mode or a time limit.
pub fn build_bins_with(
    root: &Path,
    package: &str,
    options: &BuildOptions,
) -> Result<Build, BuildError> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(root)
        .args([
            "build",
            "--quiet",
            "--bins",
            // A binary that does not compile must not stop the others (each is a part).
            "--keep-going",
            // Diagnostics as JSON, each with its target: errors are told apart by binary.
            "--message-format=json",
            // Its errors are quoted in reports, where an escape sequence is shown as text
            // (CARGO_TERM_COLOR=always, as CI sets it, would fill them with `\x1b[…m`).
            "--color=never",
        ])
        .args(["-p", package]);
    if let Some(dir) = &options.target_dir {
        command.arg("--target-dir").arg(dir);
    }
    if options.offline {
        command.arg("--offline");
    }
    let output = match options.timeout {
        None => command
            .stdin(Stdio::null())
            .output()
            .map_err(BuildError::Cargo)?,
        Some(limit) => output_within(command, limit)?,
    };
    Ok(read_build(
        root,
        &String::from_utf8_lossy(&output.stdout),
        output.status.success(),
        &String::from_utf8_lossy(&output.stderr),
    ))
}

/// How many of cargo's last stderr lines explain a failure that no compiler error does.
const CARGO_TAIL_LINES: usize = 40;

/// Turns cargo's JSON messages into a [`Build`]; `succeeded` is cargo's exit status and
/// `stderr` what it printed (read only when no compiler error explains a failure).
fn read_build(root: &Path, stdout: &str, succeeded: bool, stderr: &str) -> Build {
    let mut build = Build::default();
    // Per target source: (is a binary, errors rendered in rustc's order).
    let mut errors: BTreeMap<PathBuf, (bool, Vec<String>)> = BTreeMap::new();
    for line in stdout.lines() {
        let Ok(message) = serde_json::from_str::<Message>(line) else {
            continue;
        };
        let Some(target) = message.target else {
            continue;
        };
        let is_bin = target.kind.iter().any(|k| k == "bin");
        match message.reason.as_str() {
            "compiler-artifact" => {
                if let (true, Some(exe), Some(stem)) =
                    (is_bin, message.executable, target.src_path.file_stem())
                {
                    build.bins.insert(stem.to_string_lossy().into_owned(), exe);
                }
            }
            "compiler-message" => {
                let Some(diagnostic) = message.message else {
                    continue;
                };
                // rustc's closing "aborting due to N previous errors" is no error of its own.
                if diagnostic.level == "error" && !diagnostic.message.starts_with("aborting due to")
                {
                    let rendered = diagnostic.rendered.unwrap_or(diagnostic.message);
                    let entry = errors
                        .entry(target.src_path)
                        .or_insert((is_bin, Vec::new()));
                    entry.1.push(rendered.trim_end().to_string());
                }
            }
            _ => {}
        }
    }
    if succeeded {
        return build;
    }
    // Cargo may name sources by the root's real path (a root reached through a link).
    let real_root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    for (src_path, (is_bin, rendered)) in errors {
        let relative = src_path
            .strip_prefix(root)
            .or_else(|_| src_path.strip_prefix(&real_root))
            .unwrap_or(&src_path);
        let compile = NotBuilt::Compile(CompileErrors {
            path: relative.to_string_lossy().into_owned(),
            is_bin,
            count: rendered.len(),
            first: rendered.into_iter().next().unwrap_or_default(),
        });
        match src_path.file_stem() {
            Some(stem) if is_bin => {
                build
                    .own_errors
                    .insert(stem.to_string_lossy().into_owned(), compile);
            }
            // The first target every binary needs that did not compile.
            _ => {
                build.blocker.get_or_insert(compile);
            }
        }
    }
    if build.blocker.is_none() {
        let tail: Vec<&str> = stderr.lines().rev().take(CARGO_TAIL_LINES).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        build.blocker = Some(NotBuilt::Cargo(tail.join("\n")));
    }
    build
}

/// Runs `command` like [`Command::output`], killing its whole process group (cargo and the
/// compilers it started) once `limit` has passed.
fn output_within(mut command: Command, limit: Duration) -> Result<Output, BuildError> {
    use std::os::unix::process::CommandExt;
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(BuildError::Cargo)?;
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().map_err(BuildError::Cargo)? {
            break status;
        }
        if started.elapsed() >= limit {
            let group = nix::unistd::Pid::from_raw(child.id() as i32);
            let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL);
            let _ = child.wait();
            // Not joined: a process that left the group could hold the pipes open.
            drop((stdout, stderr));
            return Err(BuildError::TimedOut(limit));
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Ok(Output {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    })
}

/// Reads a child's pipe to the end on a thread of its own (so neither pipe can fill up and
/// block the child while the other is read).
fn drain<R: std::io::Read + Send + 'static>(pipe: Option<R>) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut bytes);
        }
        bytes
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A line of cargo's JSON output: an artifact (with an executable for a binary).
    fn artifact(kind: &str, src: &str, exe: Option<&str>) -> String {
        serde_json::json!({
            "reason": "compiler-artifact",
            "target": { "kind": [kind], "src_path": src },
            "executable": exe,
        })
        .to_string()
    }

    /// A line of cargo's JSON output: a diagnostic about a target.
    fn diagnostic(kind: &str, src: &str, level: &str, message: &str) -> String {
        serde_json::json!({
            "reason": "compiler-message",
            "target": { "kind": [kind], "src_path": src },
            "message": { "level": level, "message": message, "rendered": format!("{level}: {message}\n --> here\n\n") },
        })
        .to_string()
    }

    #[test]
    fn a_binary_that_does_not_compile_costs_only_itself() {
        let stdout = [
            artifact("lib", "/kit/labs/lab11/src/lib.rs", None),
            diagnostic(
                "bin",
                "/kit/labs/lab11/src/bin/shm.rs",
                "warning",
                "unused variable",
            ),
            diagnostic(
                "bin",
                "/kit/labs/lab11/src/bin/shm.rs",
                "error",
                "mismatched types",
            ),
            diagnostic(
                "bin",
                "/kit/labs/lab11/src/bin/shm.rs",
                "error",
                "cannot find `x`",
            ),
            diagnostic(
                "bin",
                "/kit/labs/lab11/src/bin/shm.rs",
                "error",
                "aborting due to 2 previous errors",
            ),
            diagnostic(
                "bin",
                "/kit/labs/lab11/src/bin/shm.rs",
                "failure-note",
                "try rustc --explain",
            ),
            artifact(
                "bin",
                "/kit/labs/lab11/src/bin/pipe.rs",
                Some("/t/debug/pipe"),
            ),
            artifact(
                "bin",
                "/kit/labs/lab11/src/bin/posix.rs",
                Some("/t/debug/posix"),
            ),
            r#"{"reason":"build-finished","success":false}"#.to_string(),
        ]
        .join("\n");
        let build = read_build(
            Path::new("/kit"),
            &stdout,
            false,
            "error: could not compile",
        );
        assert_eq!(build.bins.keys().collect::<Vec<_>>(), ["pipe", "posix"]);
        assert!(!build.is_complete());
        assert_eq!(build.not_built("pipe"), None);
        assert_eq!(
            build.not_built("shm"),
            Some(&NotBuilt::Compile(CompileErrors {
                path: "labs/lab11/src/bin/shm.rs".into(),
                is_bin: true,
                count: 2,
                first: "error: mismatched types\n --> here".into(),
            }))
        );
    }

    #[test]
    fn a_library_that_does_not_compile_costs_every_binary() {
        let stdout = [
            diagnostic(
                "lib",
                "/kit/labs/lab11/src/lib.rs",
                "error",
                "cannot find `nope`",
            ),
            r#"{"reason":"build-finished","success":false}"#.to_string(),
        ]
        .join("\n");
        let build = read_build(Path::new("/kit"), &stdout, false, "");
        assert!(build.bins.is_empty());
        for stem in ["pipe", "shm"] {
            let Some(NotBuilt::Compile(errors)) = build.not_built(stem) else {
                panic!("{stem}: {:?}", build.not_built(stem));
            };
            assert_eq!(errors.path, "labs/lab11/src/lib.rs");
            assert!(!errors.is_bin);
            assert_eq!(errors.count, 1);
        }
    }

    #[test]
    fn a_failure_without_compiler_errors_quotes_cargo() {
        let stderr: String = (1..=50).map(|i| format!("line {i}\n")).collect();
        let build = read_build(Path::new("/kit"), "", false, &stderr);
        let Some(NotBuilt::Cargo(tail)) = build.not_built("pipe") else {
            panic!("{:?}", build.not_built("pipe"));
        };
        assert_eq!(tail.lines().count(), CARGO_TAIL_LINES);
        assert!(tail.ends_with("line 50"), "{tail}");
    }

    #[test]
    fn a_successful_build_misses_nothing() {
        let stdout = artifact("bin", "/kit/labs/lab11/src/bin/pipe.rs", Some("/t/pipe"));
        let build = read_build(Path::new("/kit"), &stdout, true, "");
        assert!(build.is_complete());
        assert_eq!(build.not_built("pipe"), None);
        assert_eq!(build.not_built("absent"), None, "not a compile error");
    }
}
