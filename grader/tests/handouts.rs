//! The handouts say what the rubrics and the workspace say.
//!
//! Each lab's handout (`handouts/labNN.md`, named by its rubric) is read as a student reads
//! it and held to its rubric (`labs/labNN/rubric.toml`) and to the workspace:
//!
//! - its rubric table lists every check, in the rubric's order, with the rubric's points,
//!   and says what it asks in the rubric's own title (extras may follow in parentheses), and
//!   the inputs it names in `(inputs …)` are the check's inputs;
//! - the points it gives a part (`### Part `pipe` (20 points)`, `Each part is worth 20
//!   points; the lab, 60`, `40 points: part `signals` 23, …`) are the rubric's sums;
//! - every part it names is a part of the rubric, every check id it quotes is a check;
//! - every command it quotes (`$ …` in a console block, `` `cargo …` `` in the text) names a
//!   workspace package and binary that exist, its test filters match check ids, and every
//!   `grader …` command line parses (the real binary is asked, with `--help`);
//! - every picture it shows exists, every picture in `handouts/img` is shown, and an SVG
//!   carries no script and fetches nothing (no external fonts, images or styles);
//! - a byte-by-byte frame it draws adds up: each field's bytes are its value, the length
//!   field counts the bytes after it, the dump beside the frame is the fields in order;
//! - it links to the shared glossary (`handouts/glossary.md`), and every page it links to
//!   exists; the glossary names only helpers `lab14::signals` has;
//! - its IPC scorecard (the tables headed `mechanism` and `data path`) carries the previous
//!   lab's rows word for word and adds its own, marked with its lab.
//!
//! `mutations_are_caught` proves that each of these can fail, on wrong copies of a handout.

use grader::rubric::Rubric;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the grader crate lives in the workspace")
        .to_path_buf()
}

// ------------------------------------------------------------------ the workspace

/// What a handout may refer to: the workspace's packages and their binaries, and the labs.
struct Workspace {
    /// Package name → names of its binaries.
    packages: BTreeMap<String, BTreeSet<String>>,
    /// Lab name (`lab11`) → its rubric.
    labs: BTreeMap<String, Rubric>,
}

impl Workspace {
    fn load() -> Workspace {
        let root = root();
        let manifest = read_toml(&root.join("Cargo.toml"));
        let members = manifest["workspace"]["members"]
            .as_array()
            .expect("[workspace] members");
        let mut packages = BTreeMap::new();
        for member in members {
            let dir = root.join(member.as_str().expect("a member is a path"));
            let manifest = read_toml(&dir.join("Cargo.toml"));
            let name = manifest["package"]["name"]
                .as_str()
                .expect("[package] name")
                .to_string();
            let mut bins: BTreeSet<String> = manifest
                .get("bin")
                .and_then(|b| b.as_array())
                .into_iter()
                .flatten()
                .filter_map(|bin| bin.get("name")?.as_str().map(str::to_string))
                .collect();
            // Cargo's implicit binary: src/main.rs, named after the package.
            if dir.join("src/main.rs").exists() {
                bins.insert(name.clone());
            }
            packages.insert(name, bins);
        }
        let mut labs = BTreeMap::new();
        for entry in std::fs::read_dir(root.join("labs")).expect("labs/") {
            let path = entry.expect("a directory entry").path().join("rubric.toml");
            if path.exists() {
                let rubric = Rubric::load(&path).unwrap_or_else(|e| panic!("{e}"));
                labs.insert(rubric.lab.clone(), rubric);
            }
        }
        assert!(labs.len() >= 4, "found only {} labs", labs.len());
        Workspace { packages, labs }
    }

    /// The rubric whose student package is `package`.
    fn lab_of_package(&self, package: &str) -> Option<&Rubric> {
        self.labs.values().find(|r| r.package == package)
    }
}

fn read_toml(path: &Path) -> toml::Table {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.parse()
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

// ------------------------------------------------------------------ reading Markdown

/// A fenced block: its info string (`console`, `text`, `rust`) and its lines.
struct Block {
    info: String,
    lines: Vec<String>,
}

/// The handout split into prose lines (outside fences) and fenced blocks.
struct Handout {
    prose: Vec<String>,
    blocks: Vec<Block>,
}

impl Handout {
    fn parse(text: &str) -> Handout {
        let mut prose = Vec::new();
        let mut blocks = Vec::new();
        let mut open: Option<Block> = None;
        for line in text.lines() {
            let fence = line.trim_start().starts_with("```");
            match &mut open {
                Some(_) if fence => blocks.extend(open.take()),
                Some(block) => block.lines.push(line.to_string()),
                None if fence => {
                    open = Some(Block {
                        info: line.trim_start().trim_start_matches('`').trim().to_string(),
                        lines: Vec::new(),
                    })
                }
                None => prose.push(line.to_string()),
            }
        }
        Handout { prose, blocks }
    }

    /// The prose, paragraphs joined into single lines (table rows and headings stay apart),
    /// so that an inline code span broken across two lines is whole.
    fn paragraphs(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let mut current = String::new();
        for line in &self.prose {
            let alone = line.starts_with('|') || line.starts_with('#') || line.trim().is_empty();
            if alone {
                if !current.is_empty() {
                    out.push(std::mem::take(&mut current));
                }
                if !line.trim().is_empty() {
                    out.push(line.clone());
                }
            } else {
                if !current.is_empty() {
                    current.push(' ');
                }
                current.push_str(line.trim());
            }
        }
        if !current.is_empty() {
            out.push(current);
        }
        out
    }

    /// The rows of the first table whose header's first cell is `first`, as cells.
    fn table(&self, first: &str) -> Option<Vec<Vec<String>>> {
        let start = self.prose.iter().position(|l| {
            l.starts_with('|') && cells(l).first().map(String::as_str) == Some(first)
        })?;
        Some(
            self.prose[start + 2..]
                .iter()
                .take_while(|l| l.starts_with('|'))
                .map(|l| cells(l))
                .collect(),
        )
    }
}

/// The cells of a table row. (`\|` inside a cell is an escaped bar, not a border.)
fn cells(row: &str) -> Vec<String> {
    let inner = row.trim().trim_start_matches('|').trim_end_matches('|');
    inner
        .replace("\\|", "\u{0}")
        .split('|')
        .map(|c| c.trim().replace('\u{0}', "|"))
        .collect()
}

/// The inline code spans of a line of prose.
fn code_spans(line: &str) -> Vec<String> {
    line.split('`')
        .enumerate()
        .filter(|(i, _)| i % 2 == 1)
        .map(|(_, span)| span.to_string())
        .collect()
}

/// Whether a code span looks like a check id: `part.name-with-dashes` (not a file name,
/// `mqueue.rs`).
fn looks_like_check_id(span: &str) -> bool {
    let Some((part, name)) = span.split_once('.') else {
        return false;
    };
    let file = [
        "rs", "toml", "md", "txt", "svg", "png", "sock", "fifo", "c", "h",
    ];
    !part.is_empty()
        && !file.contains(&name)
        && part.chars().all(|c| c.is_ascii_lowercase())
        && !name.is_empty()
        && name.chars().all(|c| c.is_ascii_lowercase() || c == '-')
}

/// The whole number right after `after` in `text`, if there is one.
fn number_after(text: &str, after: &str) -> Option<u32> {
    let rest = &text[text.find(after)? + after.len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// The words of `text`, one space apart.
fn words(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// What the cells of a table say, without Markdown's code marks.
fn plain(cell: &str) -> String {
    cell.replace('`', "")
}

// ------------------------------------------------------------------ the checks

/// Everything in one handout that disagrees with its rubric or the workspace, one line
/// each. `grader_lines` collects the `grader …` command lines, to be parsed by the binary.
fn problems(
    text: &str,
    rubric: &Rubric,
    workspace: &Workspace,
    grader_lines: &mut BTreeSet<Vec<String>>,
) -> Vec<String> {
    let handout = Handout::parse(text);
    let mut problems = Vec::new();
    rubric_table(&handout, rubric, &mut problems);
    points(&handout, rubric, &mut problems);
    names(&handout, rubric, &mut problems);
    for command in commands(&handout) {
        check_command(&command, workspace, grader_lines, &mut problems);
    }
    frames(&handout, &mut problems);
    links(text, &mut problems);
    modes(&handout, &mut problems);
    problems
}

/// One notation for file modes, Rust's: `0o600` in quoted code, never C's `0600` (the
/// glossary says how C writes it).
fn modes(handout: &Handout, problems: &mut Vec<String>) {
    for paragraph in handout.paragraphs() {
        for span in code_spans(&paragraph) {
            let c_style = span.split(|c: char| !c.is_ascii_alphanumeric()).find(|t| {
                t.len() == 4 && t.starts_with('0') && t.bytes().all(|b| (b'0'..=b'7').contains(&b))
            });
            if let Some(mode) = c_style {
                problems.push(format!(
                    "`{span}` writes the mode {mode} as C does: write 0o{} (see the glossary)",
                    &mode[1..]
                ));
            }
        }
    }
}

/// The relative `.md` links of a page: each must exist beside the handouts, and a lab's
/// handout must link to the glossary.
fn links(text: &str, problems: &mut Vec<String>) {
    let mut targets = Vec::new();
    for (i, _) in text.match_indices("](") {
        let rest = &text[i + 2..];
        let target = rest.split(')').next().unwrap_or_default();
        if target.ends_with(".md") && !target.contains("://") {
            targets.push(target.to_string());
        }
    }
    if !targets.iter().any(|t| t == GLOSSARY) {
        problems.push(format!("no link to the glossary ({GLOSSARY})"));
    }
    for target in targets {
        if !root().join("handouts").join(&target).is_file() {
            problems.push(format!("links to {target}, which does not exist"));
        }
    }
}

/// The page every handout shares, beside them in `handouts/`.
const GLOSSARY: &str = "glossary.md";

/// The scorecard's two tables in one handout: each row's cells, first the mechanism.
fn scorecard(handout: &Handout) -> [Option<Vec<Vec<String>>>; 2] {
    [handout.table("mechanism"), handout.table("data path")]
}

/// Holds the handouts' scorecards to one another, in lab order: each carries the rows of the
/// one before word for word, then adds rows of its own lab (`… (lab NN)`), the same
/// mechanisms in the same order in both tables.
fn scorecard_problems(handouts: &[(&str, String)]) -> Vec<String> {
    let mut problems = Vec::new();
    let mut before: [Vec<Vec<String>>; 2] = [Vec::new(), Vec::new()];
    for (lab, text) in handouts {
        let number = lab.trim_start_matches("lab");
        let tables = scorecard(&Handout::parse(text));
        let mut names: Vec<Vec<String>> = Vec::new();
        for (which, table) in tables.into_iter().enumerate() {
            let earlier = &before[which];
            let title = ["mechanism", "data path"][which];
            let Some(rows) = table else {
                problems.push(format!("{lab}: no scorecard table headed `| {title} |`"));
                continue;
            };
            if rows.len() <= earlier.len() || rows[..earlier.len()] != earlier[..] {
                problems.push(format!(
                    "{lab}: the scorecard's `{title}` table does not begin with the previous \
                     lab's {} rows, word for word, and add its own",
                    earlier.len()
                ));
            }
            for row in rows.iter().skip(earlier.len()) {
                if !row[0].ends_with(&format!("(lab {number})")) {
                    problems.push(format!(
                        "{lab}: the scorecard's new row `{}` is not marked (lab {number})",
                        row[0]
                    ));
                }
            }
            names.push(rows.iter().map(|r| r[0].clone()).collect());
            before[which] = rows;
        }
        if names.len() == 2 && names[0] != names[1] {
            problems.push(format!(
                "{lab}: the scorecard's two tables list different mechanisms: {:?} and {:?}",
                names[0], names[1]
            ));
        }
    }
    problems
}

/// The glossary's own problems: its links, and every `lab14::signals::NAME` it quotes is a
/// public function of `labs/lab14/src/signals.rs`.
fn glossary_problems(glossary: &str, signals_rs: &str) -> Vec<String> {
    let mut problems = Vec::new();
    links(glossary, &mut problems);
    problems.retain(|p| !p.starts_with("no link to the glossary"));
    for (i, _) in glossary.match_indices("lab14::signals::") {
        let name: String = glossary[i + "lab14::signals::".len()..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if !signals_rs.contains(&format!("pub fn {name}(")) {
            problems.push(format!(
                "the glossary names lab14::signals::{name}, which labs/lab14/src/signals.rs \
                 does not have"
            ));
        }
    }
    problems
}

fn part_points(rubric: &Rubric, part: &str) -> u32 {
    rubric
        .checks
        .iter()
        .filter(|c| c.part == part)
        .map(|c| c.points)
        .sum()
}

fn rubric_table(handout: &Handout, rubric: &Rubric, problems: &mut Vec<String>) {
    let Some(rows) = handout.table("check") else {
        problems
            .push("no rubric table (a table headed `| check | points | what it asks |`)".into());
        return;
    };
    let listed: Vec<String> = rows.iter().map(|r| plain(&r[0])).collect();
    let ids: Vec<String> = rubric.checks.iter().map(|c| c.id.clone()).collect();
    if listed != ids {
        let missing: Vec<&String> = ids.iter().filter(|id| !listed.contains(id)).collect();
        let unknown: Vec<&String> = listed.iter().filter(|id| !ids.contains(id)).collect();
        problems.push(format!(
            "the rubric table lists {listed:?}, the rubric {ids:?} (missing {missing:?}, not in \
             the rubric {unknown:?}; or the order differs)"
        ));
    }
    for row in &rows {
        let id = plain(&row[0]);
        let Some(check) = rubric.checks.iter().find(|c| c.id == id) else {
            continue;
        };
        if row.len() != 3 {
            problems.push(format!("the row of `{id}` has {} cells, not 3", row.len()));
            continue;
        }
        match row[1].parse::<u32>() {
            Ok(points) if points == check.points => {}
            _ => problems.push(format!(
                "`{id}` is worth {} points in the rubric, {:?} in the handout",
                check.points, row[1]
            )),
        }
        let asks = plain(&row[2]);
        let rest = asks.strip_prefix(check.title.as_str());
        if !matches!(rest, Some(r) if r.is_empty() || r.starts_with(" (") || r.starts_with("; ")) {
            problems.push(format!(
                "the row of `{id}` says {asks:?}: it must start with the rubric's title {:?} \
                 (extras after it in parentheses or after `; `)",
                check.title
            ));
        }
        if let Some(listed) = row[2].split("(inputs ").nth(1) {
            let listed: BTreeSet<String> = listed
                .split(')')
                .next()
                .unwrap_or_default()
                .split(',')
                .flat_map(|item| item.split(" and "))
                .map(|item| words(&item.replace('`', "")))
                .filter(|item| !item.is_empty())
                .collect();
            let inputs: BTreeSet<String> = check
                .inputs
                .iter()
                .filter_map(|name| rubric.inputs.get(name))
                .map(|input| words(&input.stdin))
                .collect();
            if listed != inputs {
                problems.push(format!(
                    "the row of `{id}` names the inputs {listed:?}; the check runs on {inputs:?}"
                ));
            }
        }
    }
}

fn points(handout: &Handout, rubric: &Rubric, problems: &mut Vec<String>) {
    let total = rubric.max_points();
    // `### Part `pipe` (20 points)`
    for line in handout.prose.iter().filter(|l| l.starts_with("### Part `")) {
        let part = line["### Part `".len()..]
            .split('`')
            .next()
            .unwrap_or_default();
        if !rubric.parts.contains_key(part) {
            problems.push(format!("{line:?}: the rubric has no part `{part}`"));
        } else if let Some(points) = number_after(line, "` (")
            && points != part_points(rubric, part)
        {
            problems.push(format!(
                "{line:?}: part `{part}` is worth {} points in the rubric",
                part_points(rubric, part)
            ));
        }
    }
    // The rubric section: `Each part is worth 20 points; the lab, 60.`, `22 points; …`,
    // `40 points: part `signals` 23, part `rpc` 17.`
    let paragraphs = handout.paragraphs();
    let Some(start) = paragraphs
        .iter()
        .position(|p| p.starts_with("## ") && p.contains("The rubric"))
    else {
        problems.push("no section `## N. The rubric`".into());
        return;
    };
    let Some(intro) = paragraphs.get(start + 1) else {
        problems.push("the rubric section is empty".into());
        return;
    };
    let mut said = false;
    if let Some(each) = number_after(intro, "Each part is worth ") {
        said = true;
        for part in rubric.parts.keys() {
            if part_points(rubric, part) != each {
                problems.push(format!(
                    "{intro:?}: part `{part}` is worth {} points in the rubric",
                    part_points(rubric, part)
                ));
            }
        }
    }
    let stated_total = number_after(intro, "the lab, ").or_else(|| number_after(intro, ""));
    if let Some(stated) = stated_total {
        said = true;
        if stated != total {
            problems.push(format!("{intro:?}: the rubric's total is {total} points"));
        }
    }
    for (i, _) in intro.match_indices("part `") {
        let rest = &intro[i + "part `".len()..];
        let part = rest.split('`').next().unwrap_or_default();
        if let Some(points) = number_after(rest, &format!("{part}` ")) {
            said = true;
            if points != part_points(rubric, part) {
                problems.push(format!(
                    "{intro:?}: part `{part}` is worth {} points in the rubric",
                    part_points(rubric, part)
                ));
            }
        }
    }
    if !said {
        problems.push(format!(
            "the rubric section's first paragraph ({intro:?}) says no points"
        ));
    }
}

fn names(handout: &Handout, rubric: &Rubric, problems: &mut Vec<String>) {
    let ids: BTreeSet<&str> = rubric.checks.iter().map(|c| c.id.as_str()).collect();
    let parts: BTreeSet<&str> = rubric.parts.keys().map(String::as_str).collect();
    // The table of parts at the top, when there is one.
    if let Some(rows) = handout.table("part") {
        let listed: BTreeSet<String> = rows.iter().map(|r| plain(&r[0])).collect();
        let declared: BTreeSet<String> = parts.iter().map(|p| p.to_string()).collect();
        if listed != declared {
            problems.push(format!(
                "the table of parts lists {listed:?}, the rubric declares {declared:?}"
            ));
        }
    }
    let mut spans: Vec<String> = handout
        .paragraphs()
        .iter()
        .flat_map(|p| code_spans(p))
        .collect();
    // Parts named in the prose: "part `fifo`", "Part `rpc`".
    for paragraph in handout.paragraphs() {
        for mention in ["part `", "Part `"] {
            for (i, _) in paragraph.match_indices(mention) {
                let name = paragraph[i + mention.len()..]
                    .split('`')
                    .next()
                    .unwrap_or_default();
                if !parts.contains(name) {
                    problems.push(format!(
                        "the handout names part `{name}`, which the rubric does not declare"
                    ));
                }
            }
        }
    }
    // Check ids quoted in the prose, and in the `---- id ----` headers of quoted failures.
    for block in &handout.blocks {
        for line in &block.lines {
            if let Some(id) = line
                .trim()
                .strip_prefix("---- ")
                .and_then(|l| l.strip_suffix(" ----"))
            {
                spans.push(id.to_string());
            }
        }
    }
    for span in spans {
        if looks_like_check_id(&span) {
            let part = span.split('.').next().unwrap_or_default();
            if parts.contains(part) && !ids.contains(span.as_str()) {
                problems.push(format!(
                    "the handout quotes `{span}`, which is not a check of the rubric"
                ));
            }
        }
    }
}

/// One command line a handout quotes, with where it was found.
struct Quoted {
    line: String,
    words: Vec<Vec<String>>,
}

/// Every command line the handout quotes: `$ …` lines of console blocks, and inline code
/// spans that are a command (`cargo … -p PACKAGE …`, `grader …`; a bare `cargo run` in a
/// sentence is a mention). Each is split into its pipeline's commands.
fn commands(handout: &Handout) -> Vec<Quoted> {
    let mut lines: Vec<String> = handout
        .blocks
        .iter()
        .filter(|b| b.info == "console")
        .flat_map(|b| b.lines.iter())
        .filter_map(|l| l.strip_prefix("$ "))
        .map(str::to_string)
        .collect();
    lines.extend(
        handout
            .paragraphs()
            .iter()
            .flat_map(|p| code_spans(p))
            .filter(|s| {
                (s.starts_with("cargo ") && s.contains(" -p ")) || s.starts_with("grader ")
            }),
    );
    lines
        .into_iter()
        .map(|line| Quoted {
            words: shell_commands(&line),
            line,
        })
        .collect()
}

/// Ends the word being read, if any: it joins the current command, unless it is the target
/// of a redirection.
fn end_word(
    word: &mut String,
    in_word: &mut bool,
    redirect: &mut bool,
    commands: &mut [Vec<String>],
) {
    if *in_word {
        if !*redirect {
            commands.last_mut().unwrap().push(std::mem::take(word));
        }
        word.clear();
        *redirect = false;
    }
    *in_word = false;
}

/// A shell line as its simple commands (split at `|`, `&&`, `;` and `&`), each as words;
/// quotes are removed, a `#` comment and redirections are dropped.
fn shell_commands(line: &str) -> Vec<Vec<String>> {
    let mut commands = vec![Vec::new()];
    let mut word = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = line.chars().peekable();
    let mut redirect = false;
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                in_word = true;
            }
            (None, '#') if !in_word => break,
            (None, ' ' | '\t') => end_word(&mut word, &mut in_word, &mut redirect, &mut commands),
            (None, '|' | ';' | '&') => {
                end_word(&mut word, &mut in_word, &mut redirect, &mut commands);
                if chars.peek() == Some(&c) {
                    chars.next();
                }
                commands.push(Vec::new());
            }
            (None, '>' | '<') => {
                end_word(&mut word, &mut in_word, &mut redirect, &mut commands);
                redirect = true;
            }
            (None, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    end_word(&mut word, &mut in_word, &mut redirect, &mut commands);
    commands.retain(|c| !c.is_empty());
    commands
}

fn check_command(
    quoted: &Quoted,
    workspace: &Workspace,
    grader_lines: &mut BTreeSet<Vec<String>>,
    problems: &mut Vec<String>,
) {
    let line = &quoted.line;
    for words in &quoted.words {
        match words[0].as_str() {
            "cargo" => check_cargo(line, &words[1..], workspace, grader_lines, problems),
            "grader" => check_grader(line, &words[1..], workspace, grader_lines, problems),
            program if program.starts_with("target/debug/") => {
                check_program(line, program, workspace, problems)
            }
            _ => {}
        }
    }
}

fn check_cargo(
    line: &str,
    words: &[String],
    workspace: &Workspace,
    grader_lines: &mut BTreeSet<Vec<String>>,
    problems: &mut Vec<String>,
) {
    let Some(subcommand) = words.first() else {
        problems.push(format!("`{line}`: cargo with no subcommand"));
        return;
    };
    if !["test", "run", "build"].contains(&subcommand.as_str()) {
        problems.push(format!(
            "`{line}`: cargo {subcommand}? (expected test, run or build)"
        ));
        return;
    }
    let mut package = None;
    let mut bin = None;
    let mut rest: Option<&[String]> = None;
    let mut i = 1;
    while i < words.len() {
        match words[i].as_str() {
            "-q" | "--quiet" => {}
            "-p" | "--package" => {
                i += 1;
                package = words.get(i).cloned();
            }
            "--bin" => {
                i += 1;
                bin = words.get(i).cloned();
            }
            "--" => {
                rest = Some(&words[i + 1..]);
                break;
            }
            other => {
                problems.push(format!(
                    "`{line}`: unexpected word {other:?} for cargo {subcommand}"
                ));
                return;
            }
        }
        i += 1;
    }
    let Some(package) = package else {
        problems.push(format!("`{line}`: no `-p PACKAGE`: the workspace has many"));
        return;
    };
    let Some(bins) = workspace.packages.get(&package) else {
        problems.push(format!("`{line}`: no package `{package}` in the workspace"));
        return;
    };
    match (subcommand.as_str(), &bin) {
        (_, Some(bin)) if !bins.contains(bin) => problems.push(format!(
            "`{line}`: package `{package}` has no binary `{bin}` (it has {bins:?})"
        )),
        ("run", None) if bins.len() != 1 => problems.push(format!(
            "`{line}`: package `{package}` has {} binaries: say which with --bin",
            bins.len()
        )),
        _ => {}
    }
    let rest = rest.unwrap_or_default();
    match subcommand.as_str() {
        "test" => {
            let Some(rubric) = workspace.lab_of_package(&package) else {
                return;
            };
            for filter in rest.iter().filter(|w| !w.starts_with('-')) {
                let ids: Vec<&str> = rubric.checks.iter().map(|c| c.id.as_str()).collect();
                let whole = filter.contains('.') && !filter.ends_with('.');
                let matched = if whole {
                    ids.contains(&filter.as_str())
                } else {
                    ids.iter().any(|id| id.contains(filter.as_str()))
                };
                if !matched {
                    problems.push(format!(
                        "`{line}`: the filter {filter:?} matches no check of {} (tests are named \
                         by check id)",
                        rubric.lab
                    ));
                }
            }
        }
        "run" if package == "grader" => check_grader(line, rest, workspace, grader_lines, problems),
        _ => {}
    }
}

fn check_grader(
    line: &str,
    words: &[String],
    workspace: &Workspace,
    grader_lines: &mut BTreeSet<Vec<String>>,
    problems: &mut Vec<String>,
) {
    let own: Vec<String> = words.iter().take_while(|w| *w != "--").cloned().collect();
    match own.first().map(String::as_str) {
        Some("check") => {
            if let Some(lab) = own.iter().skip(1).find(|w| !w.starts_with('-'))
                && !workspace.labs.contains_key(lab)
            {
                problems.push(format!(
                    "`{line}`: there is no lab `{lab}` (labs/{lab}/rubric.toml)"
                ));
            }
        }
        Some("trace") => match words.iter().position(|w| w == "--") {
            Some(at) => match words.get(at + 1) {
                Some(program) if program.starts_with("target/debug/") => {
                    check_program(line, program, workspace, problems)
                }
                Some(_) => {}
                None => problems.push(format!("`{line}`: trace with no program after `--`")),
            },
            None => problems.push(format!("`{line}`: trace needs `-- PROGRAM`")),
        },
        Some(_) => {}
        None => problems.push(format!("`{line}`: grader with no subcommand")),
    }
    if !own.is_empty() {
        grader_lines.insert(own);
    }
}

fn check_program(line: &str, program: &str, workspace: &Workspace, problems: &mut Vec<String>) {
    let name = program.trim_start_matches("target/debug/");
    if !workspace.packages.values().any(|bins| bins.contains(name)) {
        problems.push(format!(
            "`{line}`: no package of the workspace builds `{name}`"
        ));
    }
}

/// Byte-by-byte frames in text blocks: a header `…: N bytes   00 01 …` (the dump may go on
/// over the next lines), then one line per field, `00 00 00 18   length = 24 …`.
fn frames(handout: &Handout, problems: &mut Vec<String>) {
    fn hex_run(text: &str) -> Option<Vec<u8>> {
        let words: Vec<&str> = text.split_whitespace().collect();
        if words.is_empty() || !words.iter().all(|w| w.len() == 2) {
            return None;
        }
        words
            .iter()
            .map(|w| u8::from_str_radix(w, 16).ok())
            .collect()
    }
    struct Frame {
        header: String,
        size: usize,
        dump: Vec<u8>,
        fields: Vec<(String, Vec<u8>, u64)>,
    }
    for block in handout.blocks.iter().filter(|b| b.info == "text") {
        let mut frames: Vec<Frame> = Vec::new();
        for line in &block.lines {
            if let Some((head, dump)) = line.split_once(" bytes ")
                && let Some(dump) = hex_run(dump)
                && let Some(size) = head.rsplit(' ').next().and_then(|n| n.parse().ok())
            {
                frames.push(Frame {
                    header: line.trim().to_string(),
                    size,
                    dump,
                    fields: Vec::new(),
                });
                continue;
            }
            let Some(frame) = frames.last_mut() else {
                continue;
            };
            if frame.fields.is_empty()
                && let Some(more) = hex_run(line)
            {
                frame.dump.extend(more);
                continue;
            }
            // A field: hex bytes, two spaces or more, a name, `=`, a number.
            let trimmed = line.trim_start();
            let Some(gap) = trimmed.find("   ") else {
                continue;
            };
            let (bytes, described) = trimmed.split_at(gap);
            let (Some(bytes), Some((name, value))) = (hex_run(bytes), described.split_once('='))
            else {
                continue;
            };
            let digits: String = value
                .trim()
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            let Ok(value) = digits.parse::<u64>() else {
                continue;
            };
            frame.fields.push((name.trim().to_string(), bytes, value));
        }
        for frame in frames {
            let header = &frame.header;
            let bytes: Vec<u8> = frame
                .fields
                .iter()
                .flat_map(|(_, b, _)| b.clone())
                .collect();
            for (name, field, value) in &frame.fields {
                let big_endian = field.iter().fold(0u64, |n, b| n << 8 | u64::from(*b));
                if big_endian != *value {
                    problems.push(format!(
                        "{header:?}: field {name} is {field:02x?}, which is {big_endian}, not {value}"
                    ));
                }
            }
            if bytes.len() != frame.size || frame.dump.len() != frame.size {
                problems.push(format!(
                    "{header:?}: says {} bytes; its fields have {}, its dump {}",
                    frame.size,
                    bytes.len(),
                    frame.dump.len()
                ));
            }
            if bytes != frame.dump {
                problems.push(format!("{header:?}: the dump is not the fields in order"));
            }
            match frame.fields.first() {
                Some((name, _, length)) if name == "length" => {
                    if *length as usize + 4 != bytes.len() {
                        problems.push(format!(
                            "{header:?}: length {length}, but {} bytes follow it",
                            bytes.len().saturating_sub(4)
                        ));
                    }
                }
                _ => problems.push(format!("{header:?}: the first field is not `length`")),
            }
        }
    }
}

// ------------------------------------------------------------------ pictures

/// Images a handout shows: `![alt](img/NAME)`, as (alt, path).
fn images(text: &str) -> Vec<(String, String)> {
    text.match_indices("![")
        .filter_map(|(i, _)| {
            let rest = &text[i + 2..];
            let (alt, rest) = rest.split_once("](")?;
            let (path, _) = rest.split_once(')')?;
            Some((alt.to_string(), path.to_string()))
        })
        .collect()
}

/// Why an SVG would not render the same everywhere (offline, on GitHub, in a viewer that
/// runs no script), if it would not.
fn svg_problems(name: &str, svg: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let lower = svg.to_lowercase();
    if !lower.trim_start().starts_with("<svg")
        || !svg.contains("xmlns=\"http://www.w3.org/2000/svg\"")
    {
        problems.push(format!(
            "{name}: not a standalone SVG (<svg xmlns=…> first)"
        ));
    }
    for banned in [
        "<script",
        "javascript:",
        "onload=",
        "onclick=",
        "@import",
        "@font-face",
        "<foreignobject",
        "<image",
        "url(http",
        "href=\"http",
        "href='http",
        "<!doctype",
        "<!entity",
    ] {
        if lower.contains(banned) {
            problems.push(format!(
                "{name}: contains {banned:?} (no scripts, nothing fetched)"
            ));
        }
    }
    if !lower.contains("<title>") {
        problems.push(format!("{name}: no <title> (what a screen reader says)"));
    }
    if !lower.contains("viewbox=") {
        problems.push(format!("{name}: no viewBox (it would not scale)"));
    }
    problems
}

// ------------------------------------------------------------------ the tests

fn handout_of(rubric: &Rubric) -> (PathBuf, String) {
    let relative = rubric
        .handout
        .as_deref()
        .unwrap_or_else(|| panic!("{}: the rubric names no handout", rubric.lab));
    let path = root().join(relative);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (path, text)
}

/// Parses every collected `grader …` command line with the real binary: each, given
/// `--help`, prints help and exits 0 (a command line clap rejects exits 2).
fn grader_parse_problems(lines: &BTreeSet<Vec<String>>) -> Vec<String> {
    lines
        .iter()
        .filter_map(|args| {
            let output = Command::new(env!("CARGO_BIN_EXE_grader"))
                .args(args)
                .arg("--help")
                .output()
                .expect("the grader binary runs");
            (!output.status.success()).then(|| {
                format!(
                    "`grader {}` does not parse: {}",
                    args.join(" "),
                    String::from_utf8_lossy(&output.stderr).trim()
                )
            })
        })
        .collect()
}

#[test]
fn every_handout_agrees_with_its_rubric_and_the_workspace() {
    let workspace = Workspace::load();
    let mut all = Vec::new();
    let mut grader_lines = BTreeSet::new();
    for rubric in workspace.labs.values() {
        let (path, text) = handout_of(rubric);
        for problem in problems(&text, rubric, &workspace, &mut grader_lines) {
            all.push(format!("{}: {problem}", path.display()));
        }
    }
    assert!(
        grader_lines.iter().any(|l| l[0] == "check")
            && grader_lines.iter().any(|l| l[0] == "trace"),
        "the handouts quote `grader check` and `grader trace`: {grader_lines:?}"
    );
    all.extend(grader_parse_problems(&grader_lines));
    assert!(
        all.is_empty(),
        "{} problems:\n{}",
        all.len(),
        all.join("\n")
    );
}

#[test]
fn every_picture_is_shown_exists_and_is_self_contained() {
    let workspace = Workspace::load();
    let img = root().join("handouts/img");
    let mut shown = BTreeSet::new();
    let mut problems = Vec::new();
    for rubric in workspace.labs.values() {
        let (path, text) = handout_of(rubric);
        for (alt, image) in images(&text) {
            let file = path.parent().unwrap().join(&image);
            if alt.trim().is_empty() {
                problems.push(format!("{}: {image} has no alt text", path.display()));
            }
            if !file.exists() {
                problems.push(format!(
                    "{}: shows {image}, which does not exist",
                    path.display()
                ));
            }
            shown.insert(file.canonicalize().unwrap_or(file));
        }
    }
    let mut pictures = 0;
    for entry in std::fs::read_dir(&img).expect("handouts/img") {
        let file = entry.unwrap().path();
        let name = file.display().to_string();
        pictures += 1;
        if !shown.contains(&file.canonicalize().unwrap()) {
            problems.push(format!("{name} is shown by no handout"));
        }
        if file.extension().is_some_and(|e| e == "svg") {
            let svg = std::fs::read_to_string(&file).unwrap();
            problems.extend(svg_problems(&name, &svg));
        }
    }
    assert!(
        pictures >= 4,
        "only {pictures} pictures in {}",
        img.display()
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The handouts in lab order, as (lab, text).
fn handouts_in_order(workspace: &Workspace) -> Vec<(&str, String)> {
    workspace
        .labs
        .values()
        .map(|rubric| (rubric.lab.as_str(), handout_of(rubric).1))
        .collect()
}

#[test]
fn the_scorecard_carries_from_lab_to_lab_and_the_glossary_is_true() {
    let workspace = Workspace::load();
    let handouts = handouts_in_order(&workspace);
    assert_eq!(handouts.len(), 4, "labs 11 to 14, in order");
    assert!(handouts.windows(2).all(|w| w[0].0 < w[1].0));
    let glossary = std::fs::read_to_string(root().join("handouts").join(GLOSSARY)).unwrap();
    let signals_rs = std::fs::read_to_string(root().join("labs/lab14/src/signals.rs")).unwrap();
    let mut problems = scorecard_problems(&handouts);
    problems.extend(glossary_problems(&glossary, &signals_rs));
    assert!(problems.is_empty(), "{}", problems.join("\n"));

    // Each can fail: a row worded differently in a later lab, a row dropped, a new row not
    // marked with its lab, the two tables out of step, a glossary helper that does not exist.
    let wrong = |lab: usize, from: &str, to: &str| {
        let mut copy = handouts.clone();
        assert!(copy[lab].1.contains(from), "{}: {from}", copy[lab].0);
        copy[lab].1 = copy[lab].1.replacen(from, to, 1);
        scorecard_problems(&copy).join("\n")
    };
    let pipe_row = "| pipe (lab 11) | no name";
    assert!(
        wrong(2, pipe_row, "| pipe (lab 11) | unnamed")
            .contains("lab13: the scorecard's `mechanism` table does not begin")
    );
    let first_data_row = handouts[1]
        .1
        .lines()
        .find(|l| l.starts_with("| pipe (lab 11) | none, a byte stream"))
        .unwrap()
        .to_string();
    assert!(
        wrong(1, &format!("{first_data_row}\n"), "")
            .contains("lab12: the scorecard's `data path` table")
    );
    assert!(
        wrong(
            3,
            "| RPC over a stream socket (lab 14) | an address",
            "| RPC over a stream socket | an address"
        )
        .contains("not marked (lab 14)")
    );
    assert!(
        wrong(
            3,
            "| RPC over a stream socket (lab 14) | none on the wire",
            "| RPC (lab 14) | none on the wire"
        )
        .contains("different mechanisms")
    );
    assert!(
        glossary_problems(
            &glossary.replace("signals::wait_info", "signals::wait_for"),
            &signals_rs
        )
        .join("\n")
        .contains("lab14::signals::wait_for")
    );
    assert!(
        glossary_problems(&glossary.replace("(lab12.md)", "(lab21.md)"), &signals_rs)
            .join("\n")
            .contains("lab21.md, which does not exist")
    );
}

/// Wrong copies of a handout, each with one mistake, and the words its problem must say.
#[test]
fn mutations_are_caught() {
    let workspace = Workspace::load();
    let lab11 = &workspace.labs["lab11"];
    let lab14 = &workspace.labs["lab14"];
    let (_, text11) = handout_of(lab11);
    let (_, text14) = handout_of(lab14);
    let mut grader_lines = BTreeSet::new();
    assert_eq!(
        problems(&text11, lab11, &workspace, &mut grader_lines),
        Vec::<String>::new()
    );
    let cases: [(&Rubric, &str, &str, &str, &str); 18] = [
        (
            lab11,
            &text11,
            "and mode `0o600`",
            "and mode `0600`",
            "write 0o600",
        ),
        (
            lab11,
            &text11,
            "[glossary](glossary.md)",
            "glossary",
            "no link to the glossary",
        ),
        (
            lab11,
            &text11,
            "| `pipe.uses-pipe` | 3 |",
            "| `pipe.uses-pipe` | 4 |",
            "worth 3 points",
        ),
        (
            lab11,
            &text11,
            "| `shm.detaches` |",
            "| `shm.detach` |",
            "shm.detach",
        ),
        (
            lab11,
            &text11,
            "| `posix.large` | 1 | 17278 factors fit in the object |\n",
            "",
            "missing",
        ),
        (
            lab11,
            &text11,
            "| forks exactly two worker processes |",
            "| forks two workers |",
            "rubric's title",
        ),
        (
            lab11,
            &text11,
            "(inputs 60, 97, 49, 1,",
            "(inputs 60, 98, 49, 1,",
            "inputs",
        ),
        (
            lab11,
            &text11,
            "### Part `shm` (20 points)",
            "### Part `shm` (25 points)",
            "worth 20 points",
        ),
        (
            lab11,
            &text11,
            "### Part `posix` (20 points)",
            "### Part `mmap` (20 points)",
            "no part `mmap`",
        ),
        (
            lab11,
            &text11,
            "the lab, 60.",
            "the lab, 66.",
            "total is 60",
        ),
        (
            lab11,
            &text11,
            "-- shm.detaches #",
            "-- shm.detached #",
            "matches no check",
        ),
        (
            lab11,
            &text11,
            "-- pipe.        #",
            "-- pipes.       #",
            "matches no check",
        ),
        (
            lab11,
            &text11,
            "--bin lab11-pipe\n",
            "--bin lab11-pipes\n",
            "no binary `lab11-pipes`",
        ),
        (
            lab11,
            &text11,
            "cargo build -p lab11`",
            "cargo build -p lab-11`",
            "no package `lab-11`",
        ),
        (
            lab11,
            &text11,
            "-- check lab11",
            "-- check lab19",
            "no lab `lab19`",
        ),
        (
            lab11,
            &text11,
            "trace -- target/debug/lab11-pipe",
            "trace -- target/debug/lab11-pipe2",
            "builds `lab11-pipe2`",
        ),
        (
            lab14,
            &text14,
            "00 00 00 10               length",
            "00 00 00 11               length",
            "length",
        ),
        (
            lab14,
            &text14,
            "`signals.early-notifications` catches",
            "`signals.early-notification` catches",
            "not a check",
        ),
    ];
    for (rubric, text, from, to, says) in cases {
        assert!(
            text.contains(from),
            "the handout no longer has {from:?}: update this test"
        );
        let wrong = text.replacen(from, to, 1);
        let found = problems(&wrong, rubric, &workspace, &mut grader_lines);
        assert!(
            found.iter().any(|p| p.contains(says)),
            "{from:?} → {to:?} should be caught (a problem saying {says:?}); found {found:#?}"
        );
    }
    // A command line the grader's own parser rejects.
    let bad = BTreeSet::from([vec!["leaks".to_string(), "--purge".to_string()]]);
    assert_eq!(grader_parse_problems(&bad).len(), 1);
    // Pictures: a script, an external font, a missing title.
    let svg = r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 1 1"><title>t</title></svg>"#;
    assert!(svg_problems("ok.svg", svg).is_empty());
    let scripted = svg.replace("</svg>", "<script>alert(1)</script></svg>");
    assert!(svg_problems("x.svg", &scripted)[0].contains("<script"));
    let font = svg.replace(
        "<title>",
        "<style>@font-face { src: url(https://x/f.woff) }</style><title>",
    );
    assert!(!svg_problems("x.svg", &font).is_empty());
    assert!(!svg_problems("x.svg", &svg.replace("<title>t</title>", "")).is_empty());
}

#[test]
fn shell_lines_split_into_commands() {
    assert_eq!(
        shell_commands("printf '60\\n' | cargo run -q -p grader -- trace -- target/debug/x # c"),
        [
            vec!["printf", "60\\n"],
            vec![
                "cargo",
                "run",
                "-q",
                "-p",
                "grader",
                "--",
                "trace",
                "--",
                "target/debug/x"
            ]
        ]
    );
    assert_eq!(
        shell_commands("cargo run -q -p lab13 --bin lab13-ring > out.txt && cat out.txt &"),
        [
            vec!["cargo", "run", "-q", "-p", "lab13", "--bin", "lab13-ring"],
            vec!["cat", "out.txt"]
        ]
    );
    assert_eq!(
        shell_commands("awk '/^consumed/ {print $2}' out.txt"),
        [vec!["awk", "/^consumed/ {print $2}", "out.txt"]]
    );
}
