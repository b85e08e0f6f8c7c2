//! Finding the kit's repository and building a lab's binaries with cargo.
//!
//! Binaries are matched to a rubric's parts by their source file (`src/bin/<part>.rs`), not
//! by name, so the student crate and the solutions (whose binaries must be named apart to
//! share one target directory) map the same way.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Why a lab could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("cannot run cargo: {0}")]
    Cargo(std::io::Error),
    /// The code does not compile: a graded result, not a grader failure.
    #[error("{0}")]
    Compile(String),
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

/// Builds a package's binaries; returns source stem (`pipe`) → executable.
pub fn build_bins(root: &Path, package: &str) -> Result<BTreeMap<String, PathBuf>, BuildError> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .current_dir(root)
        .args([
            "build",
            "--quiet",
            "--bins",
            "--message-format=json-render-diagnostics",
        ])
        .args(["-p", package])
        .stdin(Stdio::null())
        .output()
        .map_err(BuildError::Cargo)?;
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
