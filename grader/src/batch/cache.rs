//! Skipping unchanged submissions: each graded submission leaves a small `cache.json` in its
//! work directory with the key of its inputs and the result. A later run whose key is the
//! same reuses the result instead of building and grading again.
//!
//! The key hashes everything a grade depends on: the submission's editable files, the
//! grader binary (its version, size and modification time), the rubric and the kit files
//! the build reads (the lab's package folder, the workspace manifest and lock, `.cargo/`).

use super::BuildStatus;
use crate::grade::Report;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What `cache.json` holds.
#[derive(Debug, Serialize, Deserialize)]
pub struct Cached {
    pub key: String,
    pub build: BuildStatus,
    pub report: Report,
}

/// The part of the key that is the same for every submission of a run.
pub fn kit_fingerprint(
    lab: &str,
    package_dir: &str,
    kit: &BTreeMap<String, PathBuf>,
) -> std::io::Result<Vec<u8>> {
    let mut hash = Sha256::new();
    frame(&mut hash, b"grader batch cache v1");
    frame(&mut hash, lab.as_bytes());
    frame(&mut hash, env!("CARGO_PKG_VERSION").as_bytes());
    if let Ok(meta) = std::env::current_exe().and_then(std::fs::metadata) {
        let modified = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        frame(&mut hash, format!("{} {modified}", meta.len()).as_bytes());
    }
    let prefix = format!("{package_dir}/");
    for (rel, path) in kit {
        let relevant = rel.starts_with(&prefix)
            || rel.starts_with(".cargo/")
            || matches!(rel.as_str(), "Cargo.toml" | "Cargo.lock");
        if relevant {
            frame(&mut hash, rel.as_bytes());
            frame(&mut hash, &std::fs::read(path)?);
        }
    }
    Ok(hash.finalize().to_vec())
}

/// The key of one submission: the kit's fingerprint and the student's editable files.
pub fn key(kit_fingerprint: &[u8], editable: &BTreeMap<String, Vec<u8>>) -> String {
    let mut hash = Sha256::new();
    frame(&mut hash, kit_fingerprint);
    for (rel, bytes) in editable {
        frame(&mut hash, rel.as_bytes());
        frame(&mut hash, bytes);
    }
    hash.finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Length-prefixed, so that no two different inputs hash the same bytes.
fn frame(hash: &mut Sha256, bytes: &[u8]) {
    hash.update((bytes.len() as u64).to_le_bytes());
    hash.update(bytes);
}

/// The cached result in `path` if its key is `key`.
pub fn load(path: &Path, key: &str) -> Option<Cached> {
    let text = std::fs::read_to_string(path).ok()?;
    let cached: Cached = serde_json::from_str(&text).ok()?;
    (cached.key == key).then_some(cached)
}

pub fn store(path: &Path, cached: &Cached) -> std::io::Result<()> {
    let text = serde_json::to_string_pretty(cached).map_err(std::io::Error::other)?;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(path, text + "\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_changes_with_any_editable_byte_or_name() {
        let files =
            |name: &str, body: &str| BTreeMap::from([(name.to_string(), body.as_bytes().to_vec())]);
        let a = key(b"kit", &files("a.rs", "x"));
        assert_eq!(a, key(b"kit", &files("a.rs", "x")));
        assert_ne!(a, key(b"kit", &files("a.rs", "y")));
        assert_ne!(a, key(b"kit", &files("b.rs", "x")));
        assert_ne!(a, key(b"kit2", &files("a.rs", "x")));
        // Framing: moving bytes between the name and the contents changes the key.
        assert_ne!(key(b"k", &files("ab", "c")), key(b"k", &files("a", "bc")));
    }
}
