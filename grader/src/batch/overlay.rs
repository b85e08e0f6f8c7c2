//! A submission's work directory: the pristine kit, with the files the student may edit
//! replaced by theirs. Nothing else of the submission is ever copied, so a changed test,
//! rubric or manifest cannot change the grade.

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

/// The rubric's `editable` globs, matched against `/`-separated paths relative to the
/// repository root (`*` stops at `/`, `**` does not).
#[derive(Debug, Clone)]
pub struct Editable {
    set: GlobSet,
}

impl Editable {
    pub fn new(globs: &[String]) -> Result<Editable, String> {
        let mut builder = GlobSetBuilder::new();
        for glob in globs {
            let glob = GlobBuilder::new(glob)
                .literal_separator(true)
                .build()
                .map_err(|e| format!("bad editable glob `{glob}`: {e}"))?;
            builder.add(glob);
        }
        let set = builder.build().map_err(|e| e.to_string())?;
        Ok(Editable { set })
    }

    pub fn matches(&self, path: &str) -> bool {
        self.set.is_match(path)
    }
}

/// Fills `work` (emptied first) with the kit's files, except that `editable` (relative
/// path → contents) is written over them, added where the kit has no such file.
pub fn prepare(
    work: &Path,
    kit: &BTreeMap<String, PathBuf>,
    editable: &BTreeMap<String, Vec<u8>>,
) -> io::Result<()> {
    if work.exists() {
        std::fs::remove_dir_all(work)?;
    }
    std::fs::create_dir_all(work)?;
    for (rel, source) in kit {
        if editable.contains_key(rel) {
            continue;
        }
        let target = destination(work, rel)?;
        std::fs::copy(source, &target)?;
    }
    for (rel, bytes) in editable {
        let target = destination(work, rel)?;
        std::fs::write(&target, bytes)?;
    }
    Ok(())
}

/// `work/rel`, with its folders created; refuses paths that would leave `work`.
fn destination(work: &Path, rel: &str) -> io::Result<PathBuf> {
    let safe = rel
        .split('/')
        .all(|part| !part.is_empty() && part != "." && part != "..");
    if !safe {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("refusing to write {rel:?} outside the work directory"),
        ));
    }
    let target = work.join(rel);
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent)?;
    }
    Ok(target)
}

/// Copies the built executables (part → path in the shared target directory) into `dir`,
/// before the next build overwrites them; returns part → copy.
pub fn keep_executables(
    dir: &Path,
    built: &BTreeMap<String, PathBuf>,
) -> Result<BTreeMap<String, PathBuf>, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let mut exes = BTreeMap::new();
    for (part, source) in built {
        let copy = dir.join(part);
        std::fs::copy(source, &copy).map_err(|e| {
            format!(
                "cannot copy {} to {}: {e}",
                source.display(),
                copy.display()
            )
        })?;
        exes.insert(part.clone(), copy);
    }
    Ok(exes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn editable_globs_cross_folders_only_with_double_star() {
        let editable = Editable::new(&["labs/lab11/src/**".into(), "notes/*.md".into()]).unwrap();
        assert!(editable.matches("labs/lab11/src/bin/pipe.rs"));
        assert!(editable.matches("labs/lab11/src/lib.rs"));
        assert!(!editable.matches("labs/lab11/tests/rubric.rs"));
        assert!(!editable.matches("labs/lab11/rubric.toml"));
        assert!(editable.matches("notes/a.md"));
        assert!(!editable.matches("notes/deep/a.md"));
    }

    #[test]
    fn paths_cannot_leave_the_work_directory() {
        let dir = tempfile::tempdir().unwrap();
        assert!(destination(dir.path(), "../evil").is_err());
        assert!(destination(dir.path(), "a//b").is_err());
        assert!(destination(dir.path(), "a/b.rs").is_ok());
    }
}
