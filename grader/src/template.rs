//! `grader export-template DIR`: the repository students clone.
//!
//! It is the kit minus what students must not have or cannot build without: the reference
//! solutions (`solutions/`), the grader's own tests, fixtures and benches (they grade the
//! solutions and the broken fixtures), the kit's CI (`.ci/`, `.github/workflows/ci.yml`).
//!
//! What grades the students' pushes depends on where the course runs (`--for`):
//! - `actions` (the default): the kit's `.github/workflows/grade.yml`, which grades each lab
//!   of the template on every push and writes the report to the job summary, with one
//!   error annotation per failed check; it needs nothing but GitHub Actions;
//! - `classroom50`: no workflow at all. Classroom 50 installs its own
//!   `.github/workflows/autograde.yaml` when a student accepts, and grades with the
//!   teacher's `autograder.py` (`grader/autograders/classroom50/`); a second workflow would
//!   only grade every push again, billed and read by nobody;
//! - `none`: no workflow (grading by `grader batch` or Gradescope).
//!
//! No template ever ships `.github/workflows/autograde.yaml`: Classroom 50 overwrites that
//! file at accept and at every submit. The discontinued GitHub Classroom's workflow is kept
//! in `grader/autograders/github-classroom/` for repositories that still run it; it is not
//! exported.
//!
//! The manifests are rewritten so the workspace builds as is: the root
//! `Cargo.toml` lists only the members left, and no longer keeps the student crates out of
//! `default-members` (there every member is a default one, so `cargo test` runs the
//! student's rubric tests); a package loses the `[[bench]]`/`[[test]]`/`[[example]]`
//! targets whose files were left out.
//!
//! `--lab LAB` makes a template for one assignment: the other labs' crates and handouts
//! are left out, and the workflow's matrix lists only LAB.

use crate::batch::snapshot::list_files;
use anyhow::{Context, Result, anyhow, bail};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use toml_edit::DocumentMut;

/// Folders of the kit left out of the template.
const LEFT_OUT_FOLDERS: &[&str] = &[
    "solutions/",
    "grader/fixtures/",
    "grader/tests/",
    "grader/benches/",
    ".ci/",
];

/// Files of the kit left out of the template: its CI, and the name Classroom 50 gives the
/// workflow it installs (a template's own copy would be overwritten at accept).
const LEFT_OUT_FILES: &[&str] = &[
    ".github/workflows/ci.yml",
    ".github/workflows/autograde.yaml",
    ".github/workflows/autograde.yml",
];

/// What will grade the students' pushes, and so which workflow the template carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Target {
    /// Classroom 50: no workflow (it installs its own `autograde.yaml`).
    Classroom50,
    /// Plain GitHub Actions: `.github/workflows/grade.yml`, a job summary per lab.
    #[default]
    Actions,
    /// No workflow.
    None,
}

/// The template's files: relative path → where its contents come from.
#[derive(Debug)]
pub struct Template {
    pub files: BTreeMap<String, Contents>,
}

#[derive(Debug)]
pub enum Contents {
    /// The kit's file, unchanged.
    Kit(PathBuf),
    /// Rewritten for the template (a manifest).
    Rewritten(Vec<u8>),
}

/// The kit's README speaks to instructors; the template gets one written for students.
const README: &str = "README.md";

/// The plain-Actions workflow; its matrix lists the labs to grade.
const ACTIONS_WORKFLOW: &str = ".github/workflows/grade.yml";

/// Whether the kit file `rel` goes into the template (any target).
pub fn kept(rel: &str) -> bool {
    !LEFT_OUT_FOLDERS
        .iter()
        .any(|folder| rel.starts_with(folder))
        && !LEFT_OUT_FILES.contains(&rel)
}

/// Whether the kit file `rel` goes into a template for `target`: the Actions workflow only
/// when Actions grades.
pub fn kept_for_target(rel: &str, target: Target) -> bool {
    kept(rel) && (rel != ACTIONS_WORKFLOW || target == Target::Actions)
}

/// Whether `rel` goes into a template of `lab` only: no other lab's crate or handout.
fn kept_for(rel: &str, lab: Option<&str>) -> bool {
    let Some(lab) = lab else {
        return kept(rel);
    };
    let other_lab = |folder: &str| {
        rel.strip_prefix(folder)
            .and_then(|rest| rest.split(['/', '.']).next())
            .is_some_and(|name| name.starts_with("lab") && name != lab)
    };
    kept(rel) && !other_lab("labs/") && !other_lab("handouts/")
}

/// Works out the template of the kit at `kit`, with every lab or only `lab`, for the
/// default target.
pub fn plan(kit: &Path, lab: Option<&str>) -> Result<Template> {
    plan_for(kit, lab, Target::default())
}

/// [`plan`] for `target`.
pub fn plan_for(kit: &Path, lab: Option<&str>, target: Target) -> Result<Template> {
    if let Some(lab) = lab
        && !kit.join("labs").join(lab).join("rubric.toml").is_file()
    {
        bail!("unknown lab `{lab}`: there is no labs/{lab}/rubric.toml");
    }
    let all = list_files(kit, &[]).with_context(|| format!("cannot read {}", kit.display()))?;
    let mut files: BTreeMap<String, Contents> = all
        .into_iter()
        .filter(|(rel, _)| kept_for(rel, lab) && kept_for_target(rel, target))
        .map(|(rel, path)| (rel, Contents::Kit(path)))
        .collect();
    let names: Vec<String> = files.keys().cloned().collect();
    for (rel, bytes) in generated(kit, &names)? {
        files.insert(rel, Contents::Rewritten(bytes));
    }
    Ok(Template { files })
}

/// The files the template writes itself, given the kit files it keeps: the rewritten
/// manifests, the students' README, and the Actions workflow's list of labs.
fn generated(kit: &Path, names: &[String]) -> Result<BTreeMap<String, Vec<u8>>> {
    let mut out = rewrite_manifests(kit, names)?;
    let labs: Vec<String> = names
        .iter()
        .filter_map(|rel| rel.strip_prefix("labs/")?.strip_suffix("/rubric.toml"))
        .map(str::to_string)
        .collect();
    let has_workflow = names.iter().any(|n| n == ACTIONS_WORKFLOW);
    out.insert(
        README.to_string(),
        student_readme(&labs, has_workflow).into_bytes(),
    );
    if has_workflow {
        let path = kit.join(ACTIONS_WORKFLOW);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let rewritten = workflow_for(&text, &labs)?;
        if rewritten != text {
            out.insert(ACTIONS_WORKFLOW.to_string(), rewritten.into_bytes());
        }
    }
    Ok(out)
}

/// The template's README: where to start and the commands a student uses, for each lab;
/// with `graded_on_push`, where the Actions workflow's report is.
pub fn student_readme(labs: &[String], graded_on_push: bool) -> String {
    let mut text = String::from(
        "# IPC labs\n\n\
         Each lab is a small program you complete: the steps are the `todo!`s in \
         `labs/<lab>/src/bin/`, and the handout explains the background, the tasks and \
         every graded check. The grader runs your binaries under a tracer and judges how \
         they communicate, not only what they print.\n\n\
         | lab | handout | your code |\n|---|---|---|\n",
    );
    for lab in labs {
        text.push_str(&format!(
            "| {lab} | [handouts/{lab}.md](handouts/{lab}.md) | `labs/{lab}/src/` |\n"
        ));
    }
    let first = labs.first().map_or("lab11", String::as_str);
    text.push_str(&format!(
        "\n## Commands\n\n\
         ```sh\n\
         cargo test -p {first}                         # one test per graded check, with points\n\
         cargo test -p {first} -- <part>.              # only one part\n\
         cargo run -p grader -- check {first}          # the same verdicts as one report\n\
         cargo build -p {first}\n\
         cargo run -q -p grader -- trace -- target/debug/{first}-<part>   # its system calls\n\
         cargo run -q -p grader -- leaks             # IPC objects you left on this machine\n\
         ```\n\n\
         Edit only `labs/<lab>/src/`: the tests, the rubric and the grader decide your \
         grade, and a change to them is reported to your instructor.\n"
    ));
    if graded_on_push {
        text.push_str(
            "\nEvery push is graded by GitHub Actions (workflow `Grade`): open the run in the \
             **Actions** tab to see the score, every check with its points, and for each \
             failure the message and a hint. The run is red while a check fails.\n",
        );
    }
    text
}

/// The kit's Actions workflow made to grade `labs`: its matrix line (`lab: [...]`, the one
/// line of that shape) lists them.
pub fn workflow_for(text: &str, labs: &[String]) -> Result<String> {
    let mut found = 0;
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let body = line.trim_end_matches('\n');
        let indent = &body[..body.len() - body.trim_start().len()];
        if body.trim_start().starts_with("lab: [") && body.ends_with(']') {
            found += 1;
            out.push_str(&format!("{indent}lab: [{}]", labs.join(", ")));
            out.push_str(&line[body.len()..]);
        } else {
            out.push_str(line);
        }
    }
    if found != 1 {
        bail!("{ACTIONS_WORKFLOW} must have one matrix line `lab: [...]`, it has {found}");
    }
    Ok(out)
}

/// Only the files the template writes itself (manifests, README, workflow), for a template
/// of every lab or of `lab` only: a clone of the template differs from the kit in these.
/// (Every target's: they differ only in which files they leave out.)
pub fn rewritten(kit: &Path, lab: Option<&str>) -> Result<BTreeMap<String, Vec<u8>>> {
    let names: Vec<String> = list_files(kit, &[])
        .with_context(|| format!("cannot read {}", kit.display()))?
        .into_keys()
        .filter(|rel| kept_for(rel, lab))
        .collect();
    generated(kit, &names)
}

/// Rewrites the root manifest and every member manifest that needs it, given the relative
/// paths of the files the template keeps.
fn rewrite_manifests(kit: &Path, names: &[String]) -> Result<BTreeMap<String, Vec<u8>>> {
    let has = |rel: &str| names.binary_search_by(|n| n.as_str().cmp(rel)).is_ok();
    let mut out = BTreeMap::new();
    let root_text = std::fs::read_to_string(kit.join("Cargo.toml"))
        .with_context(|| format!("cannot read {}", kit.join("Cargo.toml").display()))?;
    let (root, members) = rewrite_workspace(&root_text, &has)?;
    if root != root_text {
        out.insert("Cargo.toml".to_string(), root.into_bytes());
    }
    for member in members {
        let rel = format!("{member}/Cargo.toml");
        let text = std::fs::read_to_string(kit.join(&rel))
            .with_context(|| format!("cannot read {}", kit.join(&rel).display()))?;
        let rewritten =
            drop_missing_targets(&text, &member, &has).map_err(|e| anyhow!("{rel}: {e}"))?;
        if rewritten != text {
            out.insert(rel, rewritten.into_bytes());
        }
    }
    Ok(out)
}

/// The root manifest without the members the template leaves out and without
/// `default-members`; also returns the members kept.
pub fn rewrite_workspace(text: &str, has: &dyn Fn(&str) -> bool) -> Result<(String, Vec<String>)> {
    let mut doc: DocumentMut = text.parse().context("the root Cargo.toml does not parse")?;
    let Some(workspace) = doc.get_mut("workspace").and_then(|w| w.as_table_mut()) else {
        bail!("the root Cargo.toml has no [workspace]");
    };
    let mut kept_members = Vec::new();
    if let Some(members) = workspace.get_mut("members").and_then(|m| m.as_array_mut()) {
        members.retain(|member| {
            member
                .as_str()
                .is_some_and(|path| has(&format!("{path}/Cargo.toml")))
        });
        kept_members = members
            .iter()
            .filter_map(|m| m.as_str().map(str::to_string))
            .collect();
    }
    workspace.remove("default-members");
    Ok((doc.to_string(), kept_members))
}

/// A package manifest without the bench, test and example targets whose files are gone.
fn drop_missing_targets(
    text: &str,
    package_dir: &str,
    has: &dyn Fn(&str) -> bool,
) -> Result<String, String> {
    let mut doc: DocumentMut = text.parse().map_err(|e| format!("does not parse: {e}"))?;
    for (kind, folder) in [
        ("bench", "benches"),
        ("test", "tests"),
        ("example", "examples"),
    ] {
        let Some(targets) = doc.get_mut(kind).and_then(|t| t.as_array_of_tables_mut()) else {
            continue;
        };
        targets.retain(|target| {
            let name = target.get("name").and_then(|n| n.as_str()).unwrap_or("");
            match target.get("path").and_then(|p| p.as_str()) {
                Some(path) => has(&format!("{package_dir}/{path}")),
                None => {
                    has(&format!("{package_dir}/{folder}/{name}.rs"))
                        || has(&format!("{package_dir}/{folder}/{name}/main.rs"))
                }
            }
        });
        if targets.is_empty() {
            doc.remove(kind);
        }
    }
    Ok(doc.to_string())
}

/// Writes the template of `kit` into `dir` (which must be empty or not exist), then has
/// cargo resolve the new workspace (`cargo update --workspace --offline`: no dependency
/// changes version), which proves it loads and prunes `Cargo.lock` of the packages left
/// out, so that a student's first build does not change it. Returns how many files were
/// written.
pub fn export(kit: &Path, dir: &Path, lab: Option<&str>) -> Result<usize> {
    export_for(kit, dir, lab, Target::default())
}

/// [`export`] for `target`.
pub fn export_for(kit: &Path, dir: &Path, lab: Option<&str>, target: Target) -> Result<usize> {
    if let Some(lab) = lab
        && !kit.join("labs").join(lab).join("rubric.toml").is_file()
    {
        bail!("unknown lab `{lab}`: there is no labs/{lab}/rubric.toml");
    }
    if dir.exists() {
        let mut entries =
            std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?;
        if entries.next().is_some() {
            bail!("{} is not empty", dir.display());
        }
    }
    let kit = kit
        .canonicalize()
        .with_context(|| format!("cannot find {}", kit.display()))?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let dir_canonical = dir.canonicalize()?;
    if dir_canonical.starts_with(&kit) {
        bail!(
            "{} is inside the kit; export the template elsewhere",
            dir.display()
        );
    }
    let template = plan_for(&kit, lab, target)?;
    for (rel, contents) in &template.files {
        let target = dir.join(rel);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        match contents {
            Contents::Kit(source) => std::fs::copy(source, &target).map(drop),
            Contents::Rewritten(bytes) => std::fs::write(&target, bytes),
        }
        .with_context(|| format!("cannot write {}", target.display()))?;
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = std::process::Command::new(cargo)
        .args([
            "update",
            "--workspace",
            "--offline",
            "--quiet",
            "--manifest-path",
        ])
        .arg(dir.join("Cargo.toml"))
        .stdin(std::process::Stdio::null())
        .output()
        .context("cannot run cargo")?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let first = stderr.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
        bail!("the exported workspace does not load: {first}");
    }
    Ok(template.files.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOT: &str = r#"[workspace]
resolver = "3"
members = [
    "grader",
    "labs/lab11",
    "solutions/lab11",
    "grader/fixtures/hostile",
]
# Not the stubs.
default-members = [
    "grader",
    "solutions/lab11",
]

[workspace.package]
edition = "2024"
"#;

    #[test]
    fn the_workspace_keeps_only_the_members_left() {
        let has = |rel: &str| matches!(rel, "grader/Cargo.toml" | "labs/lab11/Cargo.toml");
        let (text, members) = rewrite_workspace(ROOT, &has).unwrap();
        assert_eq!(members, ["grader", "labs/lab11"]);
        assert!(!text.contains("default-members"), "{text}");
        assert!(!text.contains("solutions"), "{text}");
        assert!(!text.contains("Not the stubs"), "{text}");
        assert!(
            text.contains("[workspace.package]\nedition = \"2024\""),
            "{text}"
        );
    }

    #[test]
    fn targets_whose_files_are_gone_are_dropped() {
        let manifest = "[package]\nname = \"g\"\n\n# The bench.\n[[bench]]\nname = \"overhead\"\nharness = false\n\n[[test]]\nname = \"kept\"\npath = \"t/kept.rs\"\n";
        let has = |rel: &str| rel == "g/t/kept.rs";
        let text = drop_missing_targets(manifest, "g", &has).unwrap();
        assert!(!text.contains("bench"), "{text}");
        assert!(text.contains("[[test]]\nname = \"kept\""), "{text}");
        assert!(kept("labs/lab11/src/lib.rs"));
        assert!(kept(".github/workflows/grade.yml"));
        assert!(!kept(".github/workflows/ci.yml"));
        assert!(
            !kept(".github/workflows/autograde.yaml"),
            "Classroom 50's own name"
        );
        assert!(kept_for_target(
            ".github/workflows/grade.yml",
            Target::Actions
        ));
        assert!(!kept_for_target(
            ".github/workflows/grade.yml",
            Target::Classroom50
        ));
        assert!(!kept_for_target(
            ".github/workflows/grade.yml",
            Target::None
        ));
        assert!(!kept("solutions/lab11/Cargo.toml"));
    }

    #[test]
    fn students_get_a_readme_of_their_own() {
        let text = student_readme(&["lab12".to_string()], true);
        assert!(text.contains("Actions"), "{text}");
        assert!(!student_readme(&["lab12".to_string()], false).contains("Actions"));
        assert!(
            text.contains("[handouts/lab12.md](handouts/lab12.md)"),
            "{text}"
        );
        assert!(text.contains("cargo test -p lab12 "), "{text}");
        assert!(!text.contains("solutions"), "{text}");
    }

    #[test]
    fn a_one_lab_template_leaves_the_other_labs_out() {
        assert!(kept_for("labs/lab12/src/lib.rs", None));
        assert!(kept_for("labs/lab12/src/lib.rs", Some("lab12")));
        assert!(!kept_for("labs/lab11/src/lib.rs", Some("lab12")));
        assert!(!kept_for("handouts/lab11.md", Some("lab12")));
        assert!(kept_for("handouts/lab12.md", Some("lab12")));
        assert!(kept_for("handouts/pictures/pipe.svg", Some("lab12")));
        assert!(kept_for("grader/src/main.rs", Some("lab12")));
        assert!(!kept_for("solutions/lab12/Cargo.toml", Some("lab12")));
    }

    #[test]
    fn the_actions_workflow_grades_the_labs_of_the_template() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let kit = std::fs::read_to_string(root.join(ACTIONS_WORKFLOW)).unwrap();
        let for_lab12 = workflow_for(&kit, &["lab12".to_string()]).unwrap();
        assert!(for_lab12.contains("        lab: [lab12]\n"), "{for_lab12}");
        assert!(!for_lab12.contains("lab11"), "{for_lab12}");
        assert!(for_lab12.contains("check \"$LAB\" --format summary"));
        assert!(for_lab12.contains("cat \"$private/summary.md\" >>\"$GITHUB_STEP_SUMMARY\""));
        // Every lab of the kit is in the kit's own matrix.
        let mut labs: Vec<String> = std::fs::read_dir(root.join("labs"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| root.join("labs").join(name).join("rubric.toml").is_file())
            .collect();
        labs.sort();
        assert_eq!(workflow_for(&kit, &labs).unwrap(), kit);
        assert!(workflow_for("jobs: {}\n", &labs).is_err());
    }
}
