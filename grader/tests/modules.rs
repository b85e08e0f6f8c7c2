//! Every module of the grader opens with a doc line that says what it owns (the
//! `missing_docs` lint would ask for docs on every public item too; this asks only for that
//! line, and that it is a sentence, not a placeholder).

use std::path::{Path, PathBuf};

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable source directory") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_module_says_what_it_owns_first() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&root, &mut files);
    assert!(files.len() > 20, "found the sources: {}", files.len());
    let undocumented: Vec<String> = files
        .iter()
        .filter(|path| {
            let text = std::fs::read_to_string(path).expect("readable source");
            let first = text.lines().next().unwrap_or_default();
            let line = first.strip_prefix("//! ").unwrap_or_default();
            line.split_whitespace().count() < 3
        })
        .map(|path| {
            path.strip_prefix(&root)
                .unwrap_or(path)
                .display()
                .to_string()
        })
        .collect();
    assert!(
        undocumented.is_empty(),
        "modules whose first line is not a `//!` line saying what they own: {undocumented:?}"
    );
}
