//! What a submission holds: the files of its folder, or of one commit of its git history
//! (`--deadline`), and what git says about it.
//!
//! Paths are relative, `/`-separated strings, the same for the kit, a folder and a commit,
//! so the rubric's globs and the tamper comparison see one spelling.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Lists the regular files under `dir` (relative path → absolute path), skipping `.git`,
/// build output (`target/` at the top or beside a `Cargo.toml`, and any folder tagged with
/// a `CACHEDIR.TAG`, as cargo's target folders and `grader batch`'s outputs are), symbolic
/// links and the folders in `skip`.
pub fn list_files(dir: &Path, skip: &[PathBuf]) -> io::Result<BTreeMap<String, PathBuf>> {
    let skip: Vec<PathBuf> = skip.iter().filter_map(|p| p.canonicalize().ok()).collect();
    let mut files = BTreeMap::new();
    let mut pending = vec![(dir.to_path_buf(), String::new())];
    while let Some((folder, prefix)) = pending.pop() {
        let is_package = folder.join("Cargo.toml").is_file();
        for entry in std::fs::read_dir(&folder)? {
            let entry = entry?;
            let kind = entry.file_type()?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let rel = format!("{prefix}{name}");
            // A worktree's or submodule's `.git` is a file naming the real repository:
            // copied, it would make a folder a clone of that repository.
            if name == ".git" {
                continue;
            }
            if kind.is_dir() {
                let build_output = name == "target" && (prefix.is_empty() || is_package);
                if build_output {
                    continue;
                }
                let path = entry.path();
                if path.join("CACHEDIR.TAG").is_file() {
                    continue;
                }
                if !skip.is_empty()
                    && path
                        .canonicalize()
                        .is_ok_and(|canonical| skip.contains(&canonical))
                {
                    continue;
                }
                pending.push((path, format!("{rel}/")));
            } else if kind.is_file() {
                files.insert(rel, entry.path());
            }
        }
    }
    Ok(files)
}

/// Where a snapshot's file lives.
#[derive(Debug, Clone)]
enum Origin {
    Disk(PathBuf),
    /// A blob id in the snapshot's repository.
    Blob(String),
}

/// The files of a submission at the version being graded.
#[derive(Debug)]
pub struct Snapshot {
    files: BTreeMap<String, Origin>,
    /// The repository blobs are read from (commit snapshots only).
    repo: Option<PathBuf>,
}

impl Snapshot {
    /// The submission's folder as it is on disk.
    pub fn from_dir(dir: &Path) -> io::Result<Snapshot> {
        let files = list_files(dir, &[])?
            .into_iter()
            .map(|(rel, path)| (rel, Origin::Disk(path)))
            .collect();
        Ok(Snapshot { files, repo: None })
    }

    /// The tree of one commit of the repository at `repo` (regular files only).
    pub fn from_commit(repo: &Path, commit: &str) -> Result<Snapshot, String> {
        let listing = git_bytes(repo, &["ls-tree", "-r", "-z", "--full-tree", commit])?;
        let mut files = BTreeMap::new();
        for record in listing.split(|&b| b == 0).filter(|r| !r.is_empty()) {
            // `<mode> SP <type> SP <oid> TAB <path>`
            let record = String::from_utf8_lossy(record);
            let Some((meta, path)) = record.split_once('\t') else {
                continue;
            };
            let meta: Vec<&str> = meta.split(' ').collect();
            let [mode, "blob", oid] = meta[..] else {
                continue; // submodules
            };
            if mode == "120000" {
                continue; // symbolic links, as on disk
            }
            let top = path.split('/').next().unwrap_or("");
            if top == "target" {
                continue;
            }
            files.insert(path.to_string(), Origin::Blob(oid.to_string()));
        }
        Ok(Snapshot {
            files,
            repo: Some(repo.to_path_buf()),
        })
    }

    /// Every file's relative path, sorted.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.files.keys().map(String::as_str)
    }

    pub fn contains(&self, path: &str) -> bool {
        self.files.contains_key(path)
    }

    /// The contents of the given files (paths the snapshot does not hold are left out).
    pub fn read(&self, paths: &[&str]) -> Result<BTreeMap<String, Vec<u8>>, String> {
        let mut contents = BTreeMap::new();
        let mut blobs = Vec::new();
        for &path in paths {
            match self.files.get(path) {
                Some(Origin::Disk(file)) => {
                    let bytes = std::fs::read(file)
                        .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
                    contents.insert(path.to_string(), bytes);
                }
                Some(Origin::Blob(oid)) => blobs.push((path, oid.as_str())),
                None => {}
            }
        }
        if let (false, Some(repo)) = (blobs.is_empty(), &self.repo) {
            let oids: Vec<&str> = blobs.iter().map(|(_, oid)| *oid).collect();
            for ((path, _), bytes) in blobs.iter().zip(cat_blobs(repo, &oids)?) {
                contents.insert(path.to_string(), bytes);
            }
        }
        Ok(contents)
    }
}

/// Whether `dir` is the top of a git work tree of its own (not a folder inside another
/// repository, whose history is not the student's).
pub fn is_repo(dir: &Path) -> bool {
    dir.join(".git").exists()
}

/// A commit's hash and committer time (ISO 8601).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitInfo {
    pub hash: String,
    pub time: String,
}

/// `git log -1 --format='%H %cI' REV`; `None` when there is no such commit (an empty
/// repository).
pub fn commit_info(repo: &Path, rev: &str) -> Option<CommitInfo> {
    let text = git_text(repo, &["log", "-1", "--format=%H %cI", rev, "--"]).ok()?;
    let (hash, time) = text.trim().split_once(' ')?;
    Some(CommitInfo {
        hash: hash.to_string(),
        time: time.to_string(),
    })
}

/// The last commit on HEAD's history made before `epoch` (seconds), if any.
pub fn last_commit_before(repo: &Path, epoch: i64) -> Result<Option<String>, String> {
    let before = format!("--before=@{epoch}");
    let text = git_text(repo, &["rev-list", "-1", &before, "HEAD", "--"])?;
    let hash = text.trim();
    Ok((!hash.is_empty()).then(|| hash.to_string()))
}

/// How many commits `git rev-list --count RANGE` counts (e.g. `GRADED..HEAD`: the commits
/// made after the graded one).
pub fn count_commits(repo: &Path, range: &str) -> Result<u32, String> {
    let text = git_text(repo, &["rev-list", "--count", range, "--"])?;
    text.trim()
        .parse()
        .map_err(|_| format!("git rev-list --count printed {text:?}"))
}

fn git_command(repo: &Path) -> Command {
    let mut command = Command::new("git");
    // A student's folder belongs to whoever unpacked it; git would otherwise refuse it.
    let safe = format!("safe.directory={}", repo.display());
    command
        .arg("-c")
        .arg(safe)
        .arg("-C")
        .arg(repo)
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE")
        .stdin(Stdio::null());
    command
}

fn git_bytes(repo: &Path, args: &[&str]) -> Result<Vec<u8>, String> {
    let output = git_command(repo)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run git: {e}"))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let first = stderr.lines().next().unwrap_or("").trim();
        return Err(format!("git {} failed: {first}", args.join(" ")));
    }
    Ok(output.stdout)
}

fn git_text(repo: &Path, args: &[&str]) -> Result<String, String> {
    git_bytes(repo, args).map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
}

/// Reads blobs through one `git cat-file --batch`.
fn cat_blobs(repo: &Path, oids: &[&str]) -> Result<Vec<Vec<u8>>, String> {
    let mut child = git_command(repo)
        .args(["cat-file", "--batch"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run git: {e}"))?;
    let request: String = oids.iter().map(|oid| format!("{oid}\n")).collect();
    let mut stdin = child.stdin.take().expect("stdin is piped");
    // Written from a thread: git answers while it reads, and would block on a full pipe.
    let writer = std::thread::spawn(move || stdin.write_all(request.as_bytes()));
    let mut out = Vec::new();
    let read = child
        .stdout
        .take()
        .expect("stdout is piped")
        .read_to_end(&mut out);
    let _ = writer.join();
    let status = child.wait().map_err(|e| e.to_string())?;
    read.map_err(|e| format!("cannot read from git cat-file: {e}"))?;
    if !status.success() {
        return Err("git cat-file --batch failed".to_string());
    }
    let mut blobs = Vec::with_capacity(oids.len());
    let mut rest = &out[..];
    for oid in oids {
        let end = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or("git cat-file: truncated answer")?;
        let header = String::from_utf8_lossy(&rest[..end]).into_owned();
        let size: usize = header
            .rsplit(' ')
            .next()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("git cat-file: no blob {oid} ({header})"))?;
        let body = rest
            .get(end + 1..end + 1 + size)
            .ok_or("git cat-file: truncated blob")?;
        blobs.push(body.to_vec());
        rest = rest.get(end + 2 + size..).unwrap_or(&[]);
    }
    Ok(blobs)
}

/// Parses an RFC 3339 time (`2025-05-01T23:59:00+02:00`, `…Z`, optional fraction) into
/// seconds since the Unix epoch; `None` if it is not one.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = text.get(range)?;
        (!part.is_empty() && part.bytes().all(|c| c.is_ascii_digit()))
            .then(|| part.parse().ok())
            .flatten()
    };
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    if !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let (year, month, day) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
    let (hour, minute, second) = (digits(11..13)?, digits(14..16)?, digits(17..19)?);
    let mut i = 19;
    if b[i] == b'.' {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return None;
        }
    }
    let offset = match b.get(i)? {
        b'Z' | b'z' if i + 1 == b.len() => 0,
        sign @ (b'+' | b'-') if i + 6 == b.len() && b[i + 3] == b':' => {
            let minutes = digits(i + 1..i + 3)? * 60 + digits(i + 4..i + 6)?;
            if *sign == b'+' { minutes } else { -minutes }
        }
        _ => return None,
    };
    let leap = |y: i64| (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let month_days = [
        31,
        if leap(year) { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1..=12).contains(&month)
        || day < 1
        || day > month_days[(month - 1) as usize]
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    Some(
        days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second
            - offset * 60,
    )
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listing_skips_git_whether_a_folder_or_a_worktrees_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(".git"),
            "gitdir: /elsewhere/.git/worktrees/x\n",
        )
        .unwrap();
        std::fs::create_dir_all(dir.path().join("sub/.git")).unwrap();
        std::fs::write(dir.path().join("sub/.git/HEAD"), "ref: refs/heads/main\n").unwrap();
        std::fs::write(dir.path().join("sub/kept.rs"), "").unwrap();
        let files = list_files(dir.path(), &[]).unwrap();
        assert_eq!(files.keys().collect::<Vec<_>>(), ["sub/kept.rs"]);
    }

    #[test]
    fn rfc3339_times() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339("2024-02-01T00:00:00Z"), Some(1_706_745_600));
        assert_eq!(
            parse_rfc3339("2024-02-01T02:00:00+02:00"),
            Some(1_706_745_600)
        );
        assert_eq!(
            parse_rfc3339("2024-01-31T23:30:00.25-00:30"),
            Some(1_706_745_600)
        );
        for bad in [
            "2024-02-01",
            "2024-02-30T00:00:00Z",
            "2024-02-01T00:00:00",
            "2024-02-01T24:00:00Z",
            "2024-02-01T00:00:00+0200",
            "tomorrow",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }
}
