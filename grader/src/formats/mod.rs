//! Reports for other systems: Classroom 50, plain GitHub Actions (a job summary and
//! annotations), Gradescope, JUnit XML, and the discontinued GitHub Classroom's reporter.
//!
//! Every renderer is a pure function of one [`Report`] (and of a [`Context`]: when and where
//! it was graded, how long each run took), like `report::human` and `report::json`, so all
//! front ends agree on the verdicts and the points. What the formats share lives here: which
//! checks they list, the feedback text of one check, and the caps on that text.
//!
//! # Caps
//!
//! A check's message can quote whatever a program printed: a panic message of 164 KB, a
//! compiler's output. Each consumer has a limit (an environment variable of 128 KiB for the
//! old Classroom reporter, 1 MiB for a job summary, 10 MiB for a Classroom 50 result), and a
//! result over it is lost whole. So every format clips each check's feedback with [`clip`]
//! (head and tail kept, the cut counted in a line between them) to a budget: at most
//! `per_check` bytes, and `total` bytes shared by all the checks that have feedback. The
//! numbers are each format's [`Caps`] constant, listed in the README.

pub mod classroom;
pub mod classroom50;
pub mod gradescope;
pub mod html;
pub mod junit;
pub mod markdown;
pub mod summary;

use crate::grade::{CheckResult, Grading, Report, Status};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

/// The checks that count: skipped ones (parts given no executable) are in neither the score
/// nor the maximum, so the formats that add points up must not see them.
pub fn counted(report: &Report) -> impl Iterator<Item = &CheckResult> {
    report
        .checks
        .iter()
        .filter(|check| check.status != Status::Skipped)
}

/// What a student reads under a check: the verdict's explanation and the hint, or a note that
/// the grader itself failed (an `Error` is not the student's fault, and says so).
pub fn feedback(check: &CheckResult) -> String {
    match check.status {
        Status::Passed | Status::Skipped => String::new(),
        Status::Failed => crate::report::plain_feedback(check),
        Status::Error => format!(
            "the grader could not run this check (not a verdict on your program; tell your \
             instructor):\n{}",
            crate::report::plain_feedback(check)
        ),
    }
}

/// A check's name as people read it in another system's list: the id finds it in the
/// handout and in `cargo test`, the title says what it asks.
pub fn display_name(check: &CheckResult) -> String {
    format!("{}: {}", check.id, check.title)
}

// ------------------------------------------------------------------ caps

/// How much feedback text a format carries: at most `per_check` bytes for one check, and
/// `total` bytes for all of them together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    pub per_check: usize,
    pub total: usize,
}

impl Caps {
    /// The bytes each check's feedback may keep in `report`: the total shared evenly among
    /// the checks that have feedback, never more than `per_check`.
    pub fn limit(&self, report: &Report) -> usize {
        let with_feedback = counted(report)
            .filter(|c| matches!(c.status, Status::Failed | Status::Error))
            .count()
            .max(1);
        self.per_check.min(self.total / with_feedback)
    }
}

/// [`feedback`] clipped to `limit` bytes with [`clip`].
pub fn feedback_within(check: &CheckResult, limit: usize) -> String {
    let text = feedback(check);
    match clip(&text, limit) {
        Cow::Borrowed(_) => text,
        Cow::Owned(clipped) => clipped,
    }
}

/// The shortest a clipped text can be: below this, [`clip`] keeps only its note.
const CLIP_FLOOR: usize = 160;

/// `text` in at most `limit` bytes (but never less than the note itself): its head and its
/// tail, cut at line breaks where one is near, with a line between them that says how much
/// was cut. Borrowed when it fits.
///
/// ```
/// # use grader::formats::clip;
/// let text = "a".repeat(10_000);
/// let clipped = clip(&text, 1_000);
/// assert!(clipped.len() <= 1_000);
/// assert!(clipped.contains("bytes cut"));
/// assert_eq!(clip("short", 1_000), "short");
/// ```
pub fn clip(text: &str, limit: usize) -> Cow<'_, str> {
    if text.len() <= limit {
        return Cow::Borrowed(text);
    }
    let limit = limit.max(CLIP_FLOOR);
    // The note's length depends on the numbers in it; 20 digits each is the most.
    let note_for = |cut: usize| {
        format!(
            "\n[… {cut} bytes cut here, of {}: the start and the end are kept …]\n",
            text.len()
        )
    };
    let room = limit.saturating_sub(note_for(text.len()).len());
    let head_room = room * 2 / 3;
    let tail_room = room - head_room;
    let mut head = floor_boundary(text, head_room);
    // Prefer to end the head at a line break in its last quarter.
    if let Some(at) = text[..head].rfind('\n')
        && at >= head * 3 / 4
    {
        head = at;
    }
    let mut tail = ceil_boundary(text, text.len() - tail_room);
    if let Some(at) = text[tail..].find('\n')
        && at <= tail_room / 4
    {
        tail += at + 1;
    }
    let tail = tail.max(head);
    let note = note_for(tail - head);
    let mut out = String::with_capacity(head + note.len() + text.len() - tail);
    out.push_str(&text[..head]);
    out.push_str(&note);
    out.push_str(&text[tail..]);
    Cow::Owned(out)
}

fn floor_boundary(text: &str, mut at: usize) -> usize {
    at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn ceil_boundary(text: &str, mut at: usize) -> usize {
    at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at += 1;
    }
    at
}

/// Writes a file through a new name in its folder and renames it over `path`: whatever a
/// program left at `path` (a symbolic link, a file it keeps open) is replaced, not written
/// through.
pub fn replace_file(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let _ = std::fs::remove_file(&temp);
    std::fs::write(&temp, bytes)?;
    std::fs::rename(&temp, path)
}

// ------------------------------------------------------------------ context

/// What a report does not say but some formats need: when grading started, how long it took,
/// on which machine, and how long the runs behind each check took.
#[derive(Debug, Clone)]
pub struct Context {
    pub started: SystemTime,
    /// The whole grading's wall time (builds included).
    pub elapsed: Duration,
    pub hostname: String,
    /// Check id → the wall time of the runs it read (runs shared by several checks count in
    /// each, as each check's verdict needed them).
    pub check_times: BTreeMap<String, Duration>,
    /// Part → the wall time of its runs, each counted once.
    pub part_times: BTreeMap<String, Duration>,
}

impl Context {
    /// Graded now, on this machine, with no runs timed (a report that did not build, or one
    /// read back from a file).
    pub fn now() -> Context {
        Context::started(SystemTime::now(), Duration::ZERO)
    }

    /// Graded from `started` for `elapsed`, on this machine, with no runs timed yet.
    pub fn started(started: SystemTime, elapsed: Duration) -> Context {
        Context {
            started,
            elapsed,
            hostname: hostname(),
            check_times: BTreeMap::new(),
            part_times: BTreeMap::new(),
        }
    }

    /// Adds the wall time of every run `grading` made for the checks of `report` (nothing
    /// runs again; a part that was not built has no runs).
    pub fn with_runs(mut self, grading: &Grading, report: &Report) -> Context {
        let rubric = grading.rubric();
        for check in counted(report) {
            let Some(spec) = rubric.checks.iter().find(|c| c.id == check.id) else {
                continue;
            };
            let mut total = Duration::ZERO;
            for input in &spec.inputs {
                if let Some(run) = grading.finished_run(&spec.part, input) {
                    total += run.wall;
                }
            }
            self.check_times.insert(check.id.clone(), total);
        }
        let mut seen = std::collections::BTreeSet::new();
        for spec in &rubric.checks {
            if !self.check_times.contains_key(&spec.id) {
                continue;
            }
            for input in &spec.inputs {
                if seen.insert((spec.part.clone(), input.clone()))
                    && let Some(run) = grading.finished_run(&spec.part, input)
                {
                    *self.part_times.entry(spec.part.clone()).or_default() += run.wall;
                }
            }
        }
        self
    }

    /// The wall time of a check's runs (zero if it ran nothing).
    pub fn check_time(&self, id: &str) -> Duration {
        self.check_times.get(id).copied().unwrap_or_default()
    }

    /// `started` as `YYYY-MM-DDTHH:MM:SSZ`.
    pub fn timestamp(&self) -> String {
        utc_timestamp(self.started)
    }
}

/// This machine's name (from the kernel), or `localhost`.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|name| name.trim().to_string())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

/// A time as `YYYY-MM-DDTHH:MM:SSZ` (UTC, whole seconds).
pub fn utc_timestamp(time: SystemTime) -> String {
    let secs = time
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days as i64);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(status: Status) -> CheckResult {
        CheckResult {
            id: "pipe.x".into(),
            part: "pipe".into(),
            title: "t".into(),
            points: 0,
            max_points: 1,
            status,
            message: "why".into(),
            hint: "how".into(),
            note: String::new(),
            run_failure: None,
        }
    }

    #[test]
    fn feedback_is_empty_on_a_pass_and_blames_the_grader_on_an_error() {
        assert_eq!(feedback(&check(Status::Passed)), "");
        assert_eq!(feedback(&check(Status::Failed)), "why\nhint: how");
        let error = feedback(&check(Status::Error));
        assert!(error.starts_with("the grader could not run this check"));
        assert!(error.ends_with("why\nhint: how"));
    }

    #[test]
    fn clip_keeps_head_and_tail_within_the_limit_and_counts_the_cut() {
        let text: String = (0..20_000).map(|i| format!("line {i}\n")).collect();
        for limit in [200, 1_000, 4_096, 100_000] {
            let clipped = clip(&text, limit);
            assert!(clipped.len() <= limit.max(text.len().min(limit)), "{limit}");
            if limit < text.len() {
                assert!(clipped.starts_with("line 0\n"), "{limit}");
                assert!(clipped.ends_with("line 19999\n"), "{limit}");
                let cut: usize = clipped
                    .split("[… ")
                    .nth(1)
                    .and_then(|rest| rest.split(' ').next())
                    .and_then(|n| n.parse().ok())
                    .unwrap();
                let note = clipped.len() - (text.len() - cut);
                assert!(note < 120, "the cut is counted exactly: {note}");
            }
        }
    }

    #[test]
    fn clip_never_splits_a_character_and_has_a_floor() {
        let text = "é✔🦀".repeat(5_000);
        let clipped = clip(&text, 1_001);
        assert!(clipped.len() <= 1_001);
        let tiny = clip(&text, 3);
        assert!(tiny.len() <= CLIP_FLOOR, "{}", tiny.len());
        assert!(tiny.contains("bytes cut"));
    }

    #[test]
    fn caps_share_the_total_among_the_checks_with_feedback() {
        let caps = Caps {
            per_check: 4_000,
            total: 10_000,
        };
        let report = |n: usize| Report {
            lab: "l".into(),
            title: "t".into(),
            score: 0,
            max_score: n as u32,
            tracing: "filtered".into(),
            isolation: "fallback".into(),
            checks: (0..n).map(|_| check(Status::Failed)).collect(),
        };
        assert_eq!(caps.limit(&report(1)), 4_000);
        assert_eq!(caps.limit(&report(5)), 2_000);
        assert_eq!(caps.limit(&report(0)), 4_000);
    }

    #[test]
    fn timestamps_are_utc() {
        assert_eq!(
            utc_timestamp(SystemTime::UNIX_EPOCH),
            "1970-01-01T00:00:00Z"
        );
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_790_932_500);
        assert_eq!(utc_timestamp(t), "2026-10-02T09:15:00Z");
        let leap = SystemTime::UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(utc_timestamp(leap), "2000-02-29T00:00:00Z");
    }
}
