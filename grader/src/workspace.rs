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

/// Why a lab could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("cannot run cargo: {0}")]
    Cargo(std::io::Error),
    /// The code does not compile: a graded result, not a grader failure.
    #[error("{0}")]
    Compile(String),
    /// The build ran past [`BuildOptions::timeout`] and was killed: a graded result too.
    #[error("the build took longer than {} s and was stopped", .0.as_secs())]
    TimedOut(Duration),
}

/// The repository root above `start`: the first directory with a `Cargo.toml` and `labs/`.
pub fn find_root(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .find(|dir| dir.join("Cargo.toml").is_file() && dir.join("labs").is_dir())
        .map(Path::to_path_buf)
}

#[derive(Deserialize)]
struct Message {
    reason: String,
    target: Option<Target>,
    executable: Option<PathBuf>,
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

/// Builds a package's binaries; returns source stem (`pipe`) → executable.
pub fn build_bins(root: &Path, package: &str) -> Result<BTreeMap<String, PathBuf>, BuildError> {
    build_bins_with(root, package, &BuildOptions::default())
}

/// [`build_bins`] with a target directory, offline mode or a time limit.
pub fn build_bins_with(
    root: &Path,
    package: &str,
    options: &BuildOptions,
) -> Result<BTreeMap<String, PathBuf>, BuildError> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(root)
        .args([
            "build",
            "--quiet",
            "--bins",
            "--message-format=json-render-diagnostics",
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
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(40).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        return Err(BuildError::Compile(tail.join("\n")));
    }
    let mut bins = BTreeMap::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let Ok(message) = serde_json::from_str::<Message>(line) else {
            continue;
        };
        if message.reason != "compiler-artifact" {
            continue;
        }
        if let (Some(target), Some(exe)) = (message.target, message.executable)
            && target.kind.iter().any(|k| k == "bin")
            && let Some(stem) = target.src_path.file_stem()
        {
            bins.insert(stem.to_string_lossy().into_owned(), exe);
        }
    }
    Ok(bins)
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
