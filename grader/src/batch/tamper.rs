//! The tamper report: files a student may not edit that differ from the kit.
//!
//! Protected means every file of the kit that the rubric's `editable` globs do not match
//! (tests, rubric, grader, workflows, manifests, `Cargo.lock`). A submission is flagged for
//! each protected file whose contents differ, and for each file it adds where a student has
//! no business adding one (inside a folder of the kit, `.cargo/`, a toolchain file). Missing
//! files are not tampering. Grading never reads these files anyway: it uses the kit's.
//!
//! Two files may differ without tampering: the manifests the student template rewrites
//! (a clone of `grader export-template`'s output holds those versions), and `Cargo.lock`
//! as long as every package it locks is locked the same way in the kit's (cargo prunes the
//! lock file of packages the template left out).

use super::overlay::Editable;
use super::snapshot::Snapshot;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

/// One flagged file.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Finding {
    Modified(String),
    Added(String),
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Finding::Modified(path) => write!(f, "modified {path}"),
            Finding::Added(path) => write!(f, "added {path}"),
        }
    }
}

/// What a submission is compared with.
pub struct Reference<'a> {
    /// The kit's files (relative path → absolute path).
    pub kit: &'a BTreeMap<String, PathBuf>,
    /// Other accepted contents of some kit files (the student template's manifests).
    pub alternatives: &'a BTreeMap<String, Vec<Vec<u8>>>,
    pub editable: &'a Editable,
}

impl Reference<'_> {
    /// The top-level folders of the kit: adding a file in one of them is flagged.
    fn protected_folders(&self) -> BTreeSet<&str> {
        self.kit
            .keys()
            .filter_map(|rel| rel.split_once('/').map(|(top, _)| top))
            .chain([".cargo"])
            .collect()
    }
}

/// Compares a submission with the kit.
pub fn inspect(reference: &Reference, submission: &Snapshot) -> Result<Vec<Finding>, String> {
    let folders = reference.protected_folders();
    let mut findings = Vec::new();
    let mut compare = Vec::new();
    for path in submission.paths() {
        if reference.editable.matches(path) {
            continue;
        }
        if reference.kit.contains_key(path) {
            compare.push(path);
        } else {
            let top = path.split_once('/').map(|(top, _)| top);
            let toolchain = matches!(path, "rust-toolchain" | "rust-toolchain.toml");
            if toolchain || top.is_some_and(|top| folders.contains(top)) {
                findings.push(Finding::Added(path.to_string()));
            }
        }
    }
    let theirs = submission.read(&compare)?;
    for (path, bytes) in &theirs {
        let kit_path = &reference.kit[path];
        let ours = std::fs::read(kit_path)
            .map_err(|e| format!("cannot read {}: {e}", kit_path.display()))?;
        if *bytes == ours
            || reference
                .alternatives
                .get(path)
                .is_some_and(|alternatives| alternatives.contains(bytes))
        {
            continue;
        }
        if path == "Cargo.lock" && lock_is_subset(bytes, &ours) {
            continue;
        }
        findings.push(Finding::Modified(path.clone()));
    }
    findings.sort();
    Ok(findings)
}

/// Whether every `[[package]]` of lock file `theirs` appears, identical, in `ours`.
fn lock_is_subset(theirs: &[u8], ours: &[u8]) -> bool {
    fn parse(bytes: &[u8]) -> Option<(Option<toml::Value>, Vec<toml::Value>)> {
        let table: toml::Table = toml::from_str(std::str::from_utf8(bytes).ok()?).ok()?;
        let packages = match table.get("package") {
            Some(toml::Value::Array(packages)) => packages.clone(),
            None => Vec::new(),
            Some(_) => return None,
        };
        Some((table.get("version").cloned(), packages))
    }
    match (parse(theirs), parse(ours)) {
        (Some((their_version, their_packages)), Some((our_version, our_packages))) => {
            their_version == our_version && their_packages.iter().all(|p| our_packages.contains(p))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCK: &str = r#"
version = 4

[[package]]
name = "a"
version = "1.0.0"

[[package]]
name = "b"
version = "2.0.0"
dependencies = ["a"]
"#;

    #[test]
    fn a_pruned_lock_file_is_not_tampering() {
        let pruned = "version = 4\n\n[[package]]\nname = \"a\"\nversion = \"1.0.0\"\n";
        assert!(lock_is_subset(pruned.as_bytes(), LOCK.as_bytes()));
        assert!(lock_is_subset(LOCK.as_bytes(), LOCK.as_bytes()));
        let bumped = LOCK.replace("2.0.0", "2.0.1");
        assert!(!lock_is_subset(bumped.as_bytes(), LOCK.as_bytes()));
        let extra = format!("{LOCK}\n[[package]]\nname = \"evil\"\nversion = \"0.1.0\"\n");
        assert!(!lock_is_subset(extra.as_bytes(), LOCK.as_bytes()));
        assert!(!lock_is_subset(b"not toml [", LOCK.as_bytes()));
    }
}
