//! `grader leaks`: the IPC objects a user has left on this machine, whether the processes
//! behind them still live, their rendering (a table, JSON), and the removal of stale ones.
//!
//! Objects are System V segments, semaphore sets and message queues (the tables of
//! /proc/sysvipc, read by column name through [`inventory::SysvTable`]) and POSIX objects
//! (the files of /dev/shm and /dev/mqueue). Gathering them ([`gather`]) and removing them
//! ([`remove_stale`]) touch the machine; deciding what may go ([`keep_reason`]) and
//! rendering ([`human`], [`json`]) are pure functions of a [`Listing`].
//!
//! Which process is shown: the kernel records who created a segment (`cpid`) but not who
//! created a semaphore set or a queue; for those the pid is the last process that operated
//! on it (a semaphore's `sempid`, a queue's `lspid` or `lrpid`). A pid can be reused: where
//! the table has the time of what that pid did, a process that started later is another
//! process, and the pid counts as gone. POSIX objects have no creator on record; for them the
//! processes that hold them open or mapped are found in /proc/*/fd and /proc/*/maps.

use crate::run::inventory::{self, SysvKind, SysvRow, SysvTable};
use anstyle::{AnsiColor, Style};
use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::io::ErrorKind;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

const HEAD: Style = Style::new().bold();
const DIM: Style = Style::new().dimmed();
const GONE: Style = AnsiColor::Red.on_default().bold();
const ALIVE: Style = AnsiColor::Green.on_default();
const KEPT: Style = AnsiColor::Yellow.on_default();
const REMOVED: Style = AnsiColor::Green.on_default().bold();
const FAILED: Style = AnsiColor::Red.on_default().bold();

/// A process that started this many seconds after the time on record is taken for another
/// process with the same pid (the clocks compared have a second's resolution and can drift).
const REUSE_SLACK_SECS: i64 = 2;

/// What sort of object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// A System V shared-memory segment.
    Shm,
    /// A System V semaphore set.
    Sem,
    /// A System V message queue.
    Msg,
    /// A POSIX shared-memory object (`shm_open`), a file in /dev/shm.
    PosixShm,
    /// A POSIX named semaphore (`sem_open`), a `sem.NAME` file in /dev/shm.
    PosixSem,
    /// A POSIX message queue (`mq_open`), a file in /dev/mqueue.
    Mqueue,
}

impl Kind {
    /// The name in the table's KIND column (as in JSON).
    pub fn label(self) -> &'static str {
        match self {
            Kind::Shm => "shm",
            Kind::Sem => "sem",
            Kind::Msg => "msg",
            Kind::PosixShm => "posix-shm",
            Kind::PosixSem => "posix-sem",
            Kind::Mqueue => "mqueue",
        }
    }

    fn sysv(self) -> Option<SysvKind> {
        match self {
            Kind::Shm => Some(SysvKind::Shm),
            Kind::Sem => Some(SysvKind::Sem),
            Kind::Msg => Some(SysvKind::Msg),
            Kind::PosixShm | Kind::PosixSem | Kind::Mqueue => None,
        }
    }
}

impl From<SysvKind> for Kind {
    fn from(kind: SysvKind) -> Self {
        match kind {
            SysvKind::Shm => Kind::Shm,
            SysvKind::Sem => Kind::Sem,
            SysvKind::Msg => Kind::Msg,
        }
    }
}

/// What the `size` of an object counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Unit {
    Bytes,
    Semaphores,
    Messages,
}

/// What the recorded pid did to the object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PidRole {
    /// Created it (a segment's `cpid`).
    Creator,
    /// Last changed or waited on one of its semaphores (`sempid`).
    LastOperation,
    /// Last sent a message to it (`lspid`).
    LastSend,
    /// Last received a message from it (`lrpid`).
    LastReceive,
}

/// Whether the process behind an object still lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Liveness {
    /// A process with that pid is alive (and, where the times allow the check, it started
    /// before the object's recorded activity).
    Alive,
    /// No such process, or only a newer one that reuses the pid (`pid_reused`).
    Gone,
    /// No pid on record.
    Unknown,
}

/// One IPC object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Object {
    pub kind: Kind,
    /// The System V id (`None` for POSIX objects).
    pub id: Option<i64>,
    /// The file of a POSIX object: /dev/shm/NAME or /dev/mqueue/NAME.
    pub path: Option<String>,
    /// The System V key (0 is IPC_PRIVATE).
    pub key: Option<i64>,
    /// The owner's uid.
    pub owner_uid: u32,
    /// Bytes for segments and POSIX objects (a queue's: bytes queued), semaphores for a set,
    /// messages for a queue.
    pub size: u64,
    pub unit: Unit,
    /// Bytes queued in a System V message queue.
    pub bytes: Option<u64>,
    pub pid: Option<i32>,
    pub pid_role: Option<PidRole>,
    pub process: Liveness,
    /// The pid belongs to a process that started after the recorded activity.
    pub pid_reused: bool,
    /// Processes attached (a segment's `nattch`; for a POSIX object, the processes seen to
    /// hold it open or mapped). `None` where the kernel does not count them.
    pub attached: Option<u64>,
    /// For a POSIX object, the pids that hold it open or mapped.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<i32>,
    /// A segment already removed with IPC_RMID that lives on until its last detach.
    pub marked_for_removal: bool,
    /// The command that removes it by hand (`None` if it is already on its way out).
    pub remove_command: Option<String>,
}

/// What `--remove` did to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    Removed,
    Kept,
    Failed,
}

/// An object in a listing, with what `--remove` did to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    #[serde(flatten)]
    pub object: Object,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<Action>,
    /// Why it was kept, or why its removal failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// What `grader leaks` found (and did): the `--format json` contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listing {
    /// Whose objects: the effective uid of the grader.
    pub uid: u32,
    /// Everyone's objects were listed (`--all-users`).
    pub all_users: bool,
    /// `--remove` ran.
    pub removing: bool,
    pub objects: Vec<Entry>,
    /// What could not be looked at, e.g. /dev/mqueue not mounted.
    pub notes: Vec<String>,
}

impl Listing {
    /// How many objects had the given action.
    pub fn count(&self, action: Action) -> usize {
        self.objects
            .iter()
            .filter(|e| e.action == Some(action))
            .count()
    }
}

/// An object named on the command line: `shm:ID`, `sem:ID`, `msg:ID`, or a /dev/shm or
/// /dev/mqueue path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    Sysv(SysvKind, i64),
    Path(String),
}

impl std::str::FromStr for Selector {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let bad =
            || format!("`{text}` is not shm:ID, sem:ID, msg:ID or a /dev/shm or /dev/mqueue path");
        if let Some((kind, id)) = text.split_once(':') {
            let kind = match kind {
                "shm" => SysvKind::Shm,
                "sem" => SysvKind::Sem,
                "msg" => SysvKind::Msg,
                _ => return Err(bad()),
            };
            return id
                .parse()
                .map(|id| Selector::Sysv(kind, id))
                .map_err(|_| bad());
        }
        let name = text
            .strip_prefix("/dev/shm/")
            .or_else(|| text.strip_prefix("/dev/mqueue/"));
        match name {
            Some(name) if !name.is_empty() && !name.contains('/') => {
                Ok(Selector::Path(text.to_string()))
            }
            _ => Err(bad()),
        }
    }
}

impl Selector {
    fn matches(&self, object: &Object) -> bool {
        match self {
            Selector::Sysv(kind, id) => object.kind == Kind::from(*kind) && object.id == Some(*id),
            Selector::Path(path) => object.path.as_deref() == Some(path.as_str()),
        }
    }
}

/// What to list.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Everyone's objects, not only the effective user's.
    pub all_users: bool,
    /// Only these objects (all of them when empty).
    pub only: Vec<Selector>,
}

/// Why `--remove` must keep an object, or `None` when it is stale and may go.
pub fn keep_reason(object: &Object, uid: u32, all_users: bool) -> Option<String> {
    if object.marked_for_removal {
        return Some("already removed; it goes when the last process detaches".into());
    }
    if object.owner_uid != uid && !(all_users && uid == 0) {
        return Some(format!("owned by uid {}, not by you", object.owner_uid));
    }
    if object.kind == Kind::Shm && object.attached.unwrap_or(0) > 0 {
        let n = object.attached.unwrap_or(0);
        let s = if n == 1 {
            "process is"
        } else {
            "processes are"
        };
        return Some(format!("{n} {s} attached"));
    }
    if let Some(first) = object.users.first() {
        return Some(format!("open or mapped by pid {first}"));
    }
    match (object.process, object.pid, object.pid_role) {
        (Liveness::Alive, Some(pid), Some(role)) => Some(match role {
            PidRole::Creator => format!("its creator, pid {pid}, is alive"),
            _ => format!("pid {pid}, the last process to use it, is alive"),
        }),
        (Liveness::Alive, ..) => Some("a process using it is alive".into()),
        // The kernel keeps no creator for these, and nothing has used them yet: a program
        // may have just created one and be about to use it.
        (Liveness::Unknown, ..) if object.kind.sysv().is_some() => {
            Some("no process on record (never used); remove it by hand if it is yours".into())
        }
        _ => None,
    }
}

// ----------------------------------------------------------------------------------------
// Rendering
// ----------------------------------------------------------------------------------------

/// The listing as JSON (the `--format json` contract).
pub fn json(listing: &Listing) -> String {
    serde_json::to_string_pretty(listing).expect("a listing always serializes")
}

/// The listing as an aligned table with ANSI styles and a summary line; print it through
/// anstream, which strips the styles when stdout is not a terminal.
pub fn human(listing: &Listing) -> String {
    let mut out = String::new();
    if listing.objects.is_empty() {
        let _ = writeln!(out, "no IPC objects left");
        write_notes(&mut out, listing);
        return out;
    }
    let with_owner = listing.all_users;
    let with_result = listing.removing;
    let mut header = vec!["KIND", "ID/NAME"];
    if with_owner {
        header.push("OWNER");
    }
    header.extend([
        "KEY",
        "SIZE",
        "PID",
        "PROCESS",
        "ATTACHED",
        "REMOVE BY HAND",
    ]);
    if with_result {
        header.push("RESULT");
    }
    // Each cell: its text and its style.
    let rows: Vec<Vec<(String, Style)>> = listing
        .objects
        .iter()
        .map(|entry| row(entry, with_owner, with_result))
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (width, (text, _)) in widths.iter_mut().zip(row) {
            *width = (*width).max(text.chars().count());
        }
    }
    let last = header.len() - 1;
    let mut line = String::new();
    for (i, title) in header.iter().enumerate() {
        let gap = if i == last {
            0
        } else {
            widths[i] - title.len() + 2
        };
        let _ = write!(line, "{HEAD}{title}{HEAD:#}{}", " ".repeat(gap));
    }
    let _ = writeln!(out, "{line}");
    for row in &rows {
        let mut line = String::new();
        for (i, (text, style)) in row.iter().enumerate() {
            let gap = if i == last {
                0
            } else {
                widths[i] - text.chars().count() + 2
            };
            let _ = write!(line, "{style}{text}{style:#}{}", " ".repeat(gap));
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
    let _ = writeln!(out);
    write_legend(&mut out, listing);
    let _ = writeln!(out, "{}", summary(listing));
    write_notes(&mut out, listing);
    out
}

fn row(entry: &Entry, with_owner: bool, with_result: bool) -> Vec<(String, Style)> {
    let plain = Style::new();
    let object = &entry.object;
    let name = match (&object.path, object.id) {
        // Programs name their objects: shown escaped, like every program text.
        (Some(path), _) => crate::escape::visible(path).into_owned(),
        (None, Some(id)) => id.to_string(),
        (None, None) => "?".into(),
    };
    let mut cells = vec![(object.kind.label().to_string(), plain), (name, plain)];
    if with_owner {
        cells.push((object.owner_uid.to_string(), plain));
    }
    let key = object
        .key
        .map_or("-".into(), |key| format!("{:#010x}", key as i32 as u32));
    let size = match object.unit {
        Unit::Bytes => format!("{} B", object.size),
        Unit::Semaphores => format!("{} sem{}", object.size, plural(object.size)),
        Unit::Messages => format!("{} msg{}", object.size, plural(object.size)),
    };
    let pid = object.pid.map_or("-".into(), |pid| pid.to_string());
    let process = match object.process {
        Liveness::Alive => ("alive".to_string(), ALIVE),
        Liveness::Gone if object.pid_reused => ("gone (pid reused)".to_string(), GONE),
        Liveness::Gone => ("gone".to_string(), GONE),
        Liveness::Unknown => ("unknown".to_string(), DIM),
    };
    let attached = object.attached.map_or("-".into(), |n| n.to_string());
    let command = match &object.remove_command {
        // A command to paste: its backslashes are the shell's, so only controls are shown.
        Some(command) => (crate::escape::stray_controls(command).into_owned(), plain),
        None => ("(goes at last detach)".to_string(), DIM),
    };
    cells.extend([
        (key, plain),
        (size, plain),
        (pid, plain),
        process,
        (attached, plain),
        command,
    ]);
    if with_result {
        let reason = entry.reason.as_deref().unwrap_or("");
        cells.push(match entry.action {
            Some(Action::Removed) => ("removed".into(), REMOVED),
            Some(Action::Kept) => (format!("kept: {reason}"), KEPT),
            Some(Action::Failed) => (format!("failed: {reason}"), FAILED),
            None => (String::new(), plain),
        });
    }
    cells
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// What the PID and ATTACHED columns mean, for the kinds present.
fn write_legend(out: &mut String, listing: &Listing) {
    let has = |f: fn(Kind) -> bool| listing.objects.iter().any(|e| f(e.object.kind));
    if has(|k| matches!(k, Kind::Sem | Kind::Msg)) {
        let _ = writeln!(
            out,
            "{DIM}PID: a segment's creator; for semaphore sets and message queues (no creator \
             on record), the last process that used them.{DIM:#}"
        );
    }
    if has(|k| k.sysv().is_none()) {
        let _ = writeln!(
            out,
            "{DIM}POSIX objects have no creator on record; ATTACHED: the processes seen holding \
             them open or mapped.{DIM:#}"
        );
    }
}

/// The last line: how many of what, and what `--remove` did or would do.
fn summary(listing: &Listing) -> String {
    let total = listing.objects.len();
    let objects = |n: usize| format!("{n} IPC object{}", if n == 1 { "" } else { "s" });
    if listing.removing {
        let removed = listing.count(Action::Removed);
        let kept = listing.count(Action::Kept);
        let failed = listing.count(Action::Failed);
        let mut text = format!(
            "{REMOVED}removed {}{REMOVED:#}, kept {kept}",
            objects(removed)
        );
        if failed > 0 {
            let _ = write!(text, "; {FAILED}{failed} could not be removed{FAILED:#}");
        }
        return text;
    }
    let stale = listing
        .objects
        .iter()
        .filter(|e| keep_reason(&e.object, listing.uid, listing.all_users).is_none())
        .count();
    let advice = if stale > 0 {
        "; `grader leaks --remove` removes the stale ones"
    } else {
        ""
    };
    format!(
        "{HEAD}{} left{HEAD:#}: {stale} stale, {} to keep{advice}",
        objects(total),
        total - stale
    )
}

fn write_notes(out: &mut String, listing: &Listing) {
    for note in &listing.notes {
        let _ = writeln!(out, "{DIM}note: {note}{DIM:#}");
    }
}

// ----------------------------------------------------------------------------------------
// Gathering and removing
// ----------------------------------------------------------------------------------------

/// Lists the objects of the effective user (everyone's with `all_users`), filtered by
/// `only`, with the state of the processes behind them.
pub fn gather(options: &Options) -> Result<Listing> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let uid = unsafe { libc::geteuid() };
    let clock = Clock::read();
    let mut notes = Vec::new();
    let mut objects = Vec::new();
    for kind in SysvKind::ALL {
        match inventory::read_sysvipc(kind) {
            Ok(text) => objects.extend(sysv_objects(kind, &text, clock.as_ref())),
            Err(e) if e.kind() == ErrorKind::NotFound => notes.push(format!(
                "{} does not exist: this kernel has no System V IPC, or /proc is not mounted",
                kind.proc_path()
            )),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", kind.proc_path())),
        }
    }
    for (dir, mount) in [("/dev/shm", "tmpfs"), ("/dev/mqueue", "mqueue")] {
        match posix_objects(Path::new(dir)) {
            Ok(found) => objects.extend(found),
            Err(e) if e.kind() == ErrorKind::NotFound => notes.push(format!(
                "{dir} is not there, so its objects are not listed (mount -t {mount} none {dir})"
            )),
            Err(e) => return Err(e).with_context(|| format!("cannot list {dir}")),
        }
    }
    objects.retain(|o| {
        (options.all_users || o.owner_uid == uid)
            && (options.only.is_empty() || options.only.iter().any(|s| s.matches(o)))
    });
    find_users(&mut objects);
    objects.sort_by(|a, b| (a.kind, a.id, &a.path).cmp(&(b.kind, b.id, &b.path)));
    Ok(Listing {
        uid,
        all_users: options.all_users,
        removing: false,
        objects: objects
            .into_iter()
            .map(|object| Entry {
                object,
                action: None,
                reason: None,
            })
            .collect(),
        notes,
    })
}

/// Removes every object of the listing that [`keep_reason`] lets go, and records for each
/// object what was done.
pub fn remove_stale(listing: &mut Listing) {
    listing.removing = true;
    for entry in &mut listing.objects {
        match keep_reason(&entry.object, listing.uid, listing.all_users) {
            Some(reason) => {
                entry.action = Some(Action::Kept);
                entry.reason = Some(reason);
            }
            None => match remove(&entry.object) {
                Ok(()) => entry.action = Some(Action::Removed),
                Err(error) => {
                    entry.action = Some(Action::Failed);
                    entry.reason = Some(error.to_string());
                }
            },
        }
    }
}

fn remove(object: &Object) -> Result<()> {
    if let Some(path) = &object.path {
        return fs::remove_file(path).with_context(|| format!("cannot remove {path}"));
    }
    let (Some(kind), Some(id)) = (object.kind.sysv(), object.id) else {
        bail!("nothing to remove");
    };
    let Ok(id) = i32::try_from(id) else {
        bail!("id {id} is out of range");
    };
    let status = match kind {
        // SAFETY: IPC_RMID takes no buffer (a null pointer is allowed); the id is an integer.
        SysvKind::Shm => unsafe { libc::shmctl(id, libc::IPC_RMID, std::ptr::null_mut()) },
        // SAFETY: IPC_RMID on a set reads no further argument; the id is an integer.
        SysvKind::Sem => unsafe { libc::semctl(id, 0, libc::IPC_RMID) },
        // SAFETY: IPC_RMID takes no buffer (a null pointer is allowed); the id is an integer.
        SysvKind::Msg => unsafe { libc::msgctl(id, libc::IPC_RMID, std::ptr::null_mut()) },
    };
    if status != 0 {
        let error = std::io::Error::last_os_error();
        bail!("{}: {error}", kind.remove_command(i64::from(id)));
    }
    Ok(())
}

/// The objects of one /proc/sysvipc table, with the state of their processes.
fn sysv_objects(kind: SysvKind, text: &str, clock: Option<&Clock>) -> Vec<Object> {
    let table = SysvTable::parse(text);
    table
        .rows()
        .filter_map(|row| sysv_object(kind, &row, clock))
        .collect()
}

fn sysv_object(kind: SysvKind, row: &SysvRow<'_>, clock: Option<&Clock>) -> Option<Object> {
    let id: i64 = row.get(kind.id_column())?;
    let perms = row.perms().unwrap_or(0);
    let time = |column: &str| row.get::<i64>(column).filter(|t| *t > 0);
    let mut object = Object {
        kind: kind.into(),
        id: Some(id),
        path: None,
        key: row.get("key"),
        owner_uid: row.get("uid")?,
        size: 0,
        unit: Unit::Bytes,
        bytes: None,
        pid: None,
        pid_role: None,
        process: Liveness::Unknown,
        pid_reused: false,
        attached: None,
        users: Vec::new(),
        marked_for_removal: false,
        remove_command: Some(kind.remove_command(id)),
    };
    // Each candidate: a pid, what it did, and the latest time it can have done it.
    let candidates: Vec<(i32, PidRole, Option<i64>)> = match kind {
        SysvKind::Shm => {
            object.size = row.get("size")?;
            object.attached = row.get("nattch");
            // SHM_DEST: IPC_RMID was called while processes were attached.
            object.marked_for_removal = perms & 0o1000 != 0;
            if object.marked_for_removal {
                object.remove_command = None;
            }
            vec![(row.get("cpid")?, PidRole::Creator, time("ctime"))]
        }
        SysvKind::Sem => {
            object.size = row.get("nsems")?;
            object.unit = Unit::Semaphores;
            // SETVAL/SETALL change ctime, semop otime: the later is the last operation.
            let last = time("otime").max(time("ctime"));
            semaphore_pids(id, object.size)
                .into_iter()
                .map(|pid| (pid, PidRole::LastOperation, last))
                .collect()
        }
        SysvKind::Msg => {
            object.size = row.get("qnum")?;
            object.unit = Unit::Messages;
            object.bytes = row.get("cbytes");
            let mut both = vec![
                (row.get("lspid")?, PidRole::LastSend, time("stime")),
                (row.get("lrpid")?, PidRole::LastReceive, time("rtime")),
            ];
            // The most recent first.
            both.sort_by_key(|(_, _, time)| std::cmp::Reverse(*time));
            both
        }
    };
    let candidates = candidates.into_iter().filter(|(pid, ..)| *pid > 0);
    let mut shown = None;
    for (pid, role, not_after) in candidates {
        let (state, reused) = liveness(pid, not_after, clock);
        // An alive process wins; otherwise the first (most recent) pid is shown.
        if shown.is_none() || state == Liveness::Alive {
            shown = Some((pid, role, state, reused));
        }
        if state == Liveness::Alive {
            break;
        }
    }
    if let Some((pid, role, state, reused)) = shown {
        object.pid = Some(pid);
        object.pid_role = Some(role);
        object.process = state;
        object.pid_reused = reused;
    }
    Some(object)
}

/// The distinct pids of the last operation on each semaphore of a set (`GETPID`), those
/// on record (0 means none yet). Empty if the set cannot be read.
fn semaphore_pids(semid: i64, nsems: u64) -> Vec<i32> {
    let Ok(semid) = i32::try_from(semid) else {
        return Vec::new();
    };
    let mut pids = Vec::new();
    // The kernel caps a set at SEMMSL semaphores (32000 by default).
    for semnum in 0..nsems.min(32_000) as i32 {
        // SAFETY: GETPID reads no fourth argument and writes no memory of ours.
        let pid = unsafe { libc::semctl(semid, semnum, libc::GETPID) };
        if pid < 0 {
            break;
        }
        if pid > 0 && !pids.contains(&pid) {
            pids.push(pid);
        }
    }
    pids
}

/// The files of /dev/shm or /dev/mqueue.
fn posix_objects(dir: &Path) -> std::io::Result<Vec<Object>> {
    let queues = dir == Path::new("/dev/mqueue");
    let mut objects = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let Ok(meta) = entry.metadata() else {
            continue; // removed meanwhile
        };
        if !meta.is_file() {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = format!("{}/{name}", dir.display());
        let (kind, size) = if queues {
            (Kind::Mqueue, queued_bytes(&entry.path()))
        } else if name.starts_with("sem.") {
            (Kind::PosixSem, meta.len())
        } else {
            (Kind::PosixShm, meta.len())
        };
        objects.push(Object {
            kind,
            id: None,
            remove_command: Some(inventory::rm_command(&path)),
            path: Some(path),
            key: None,
            owner_uid: meta.uid(),
            size,
            unit: Unit::Bytes,
            bytes: None,
            pid: None,
            pid_role: None,
            process: Liveness::Unknown,
            pid_reused: false,
            attached: Some(0),
            users: Vec::new(),
            marked_for_removal: false,
        });
    }
    Ok(objects)
}

/// The bytes queued in a POSIX message queue: the QSIZE its file in /dev/mqueue reports.
fn queued_bytes(path: &Path) -> u64 {
    fs::read_to_string(path)
        .ok()
        .and_then(|text| {
            let rest = text.split("QSIZE:").nth(1)?;
            rest.split_whitespace().next()?.parse().ok()
        })
        .unwrap_or(0)
}

/// Fills in, for each POSIX object, the processes that hold it open (/proc/PID/fd) or mapped
/// (/proc/PID/maps), among those this user may look at. Files are matched by device and
/// inode, not by path, so that other mount namespaces are seen too.
fn find_users(objects: &mut [Object]) {
    let mut wanted: BTreeMap<(u64, u64), usize> = BTreeMap::new();
    for (index, object) in objects.iter().enumerate() {
        if let Some(meta) = object.path.as_ref().and_then(|p| fs::metadata(p).ok()) {
            wanted.insert((meta.dev(), meta.ino()), index);
        }
    }
    if wanted.is_empty() {
        return;
    }
    let by_numbers: BTreeMap<(u32, u32, u64), usize> = wanted
        .iter()
        .map(|(&(dev, ino), &i)| ((libc::major(dev), libc::minor(dev), ino), i))
        .collect();
    let me = std::process::id() as i32;
    let Ok(proc) = fs::read_dir("/proc") else {
        return;
    };
    for entry in proc.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        if pid == me {
            continue;
        }
        let mut found = Vec::new();
        if let Ok(fds) = fs::read_dir(entry.path().join("fd")) {
            for fd in fds.flatten() {
                let file = fs::metadata(fd.path()).map(|m| (m.dev(), m.ino()));
                if let Some(&i) = file.ok().and_then(|file| wanted.get(&file)) {
                    found.push(i);
                }
            }
        }
        if let Ok(maps) = fs::read_to_string(entry.path().join("maps")) {
            for line in maps.lines() {
                if let Some(i) = maps_line_file(line).and_then(|n| by_numbers.get(&n)) {
                    found.push(*i);
                }
            }
        }
        for i in found {
            let users = &mut objects[i].users;
            if !users.contains(&pid) {
                users.push(pid);
            }
        }
    }
    for object in objects.iter_mut() {
        if object.path.is_some() {
            object.users.sort_unstable();
            object.attached = Some(object.users.len() as u64);
        }
    }
}

/// The device (major, minor) and inode of the file a /proc/PID/maps line maps, if any.
fn maps_line_file(line: &str) -> Option<(u32, u32, u64)> {
    let mut fields = line.split_whitespace();
    let dev = fields.nth(3)?;
    let inode: u64 = fields.next()?.parse().ok()?;
    let (major, minor) = dev.split_once(':')?;
    let major = u32::from_str_radix(major, 16).ok()?;
    let minor = u32::from_str_radix(minor, 16).ok()?;
    (inode != 0).then_some((major, minor, inode))
}

/// What is needed to turn a process's start time into seconds since the epoch.
#[derive(Debug, Clone, Copy)]
struct Clock {
    /// The boot time (`btime` in /proc/stat), in seconds since the epoch.
    boot: i64,
    /// Clock ticks per second (the unit of /proc/PID/stat's start time).
    ticks: i64,
}

impl Clock {
    fn read() -> Option<Clock> {
        let stat = fs::read_to_string("/proc/stat").ok()?;
        let boot = stat
            .lines()
            .find_map(|line| line.strip_prefix("btime "))?
            .trim()
            .parse()
            .ok()?;
        // SAFETY: sysconf only reads a configuration value.
        let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        (ticks > 0).then_some(Clock {
            boot,
            ticks: ticks as i64,
        })
    }
}

/// Whether a process with this pid lives, and whether it is a newer process reusing the pid
/// (it started after `not_after`, the latest time the recorded process acted).
fn liveness(pid: i32, not_after: Option<i64>, clock: Option<&Clock>) -> (Liveness, bool) {
    let stat = match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat,
        Err(e) if e.kind() == ErrorKind::NotFound => return (Liveness::Gone, false),
        // Cannot tell: assume it lives, which keeps its objects.
        Err(_) => return (Liveness::Alive, false),
    };
    let Some((_, after_name)) = stat.rsplit_once(')') else {
        return (Liveness::Alive, false);
    };
    // Fields from the third on: state is the 3rd, starttime the 22nd.
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    if fields.first() == Some(&"Z") && threads(pid) <= 1 {
        return (Liveness::Gone, false); // exited, waiting to be reaped
    }
    let started = fields.get(19).and_then(|t| t.parse::<i64>().ok());
    if let (Some(started), Some(not_after), Some(clock)) = (started, not_after, clock) {
        let started = clock.boot + started / clock.ticks;
        if started > not_after + REUSE_SLACK_SECS {
            return (Liveness::Gone, true);
        }
    }
    (Liveness::Alive, false)
}

/// The live threads of a process (a zombie leader can have some).
fn threads(pid: i32) -> u64 {
    crate::trace::procfs::status_field(pid, "Threads")
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(id: i64, nattch: u64, process: Liveness) -> Object {
        Object {
            kind: Kind::Shm,
            id: Some(id),
            path: None,
            key: Some(0),
            owner_uid: 1000,
            size: 4096,
            unit: Unit::Bytes,
            bytes: None,
            pid: Some(4242),
            pid_role: Some(PidRole::Creator),
            process,
            pid_reused: false,
            attached: Some(nattch),
            users: Vec::new(),
            marked_for_removal: false,
            remove_command: Some(SysvKind::Shm.remove_command(id)),
        }
    }

    #[test]
    fn only_stale_objects_of_ones_own_may_go() {
        assert_eq!(
            keep_reason(&segment(1, 0, Liveness::Gone), 1000, false),
            None
        );
        let alive = keep_reason(&segment(1, 0, Liveness::Alive), 1000, false);
        assert_eq!(alive.as_deref(), Some("its creator, pid 4242, is alive"));
        let attached = keep_reason(&segment(1, 2, Liveness::Gone), 1000, false);
        assert_eq!(attached.as_deref(), Some("2 processes are attached"));
        // Another user's: never, not even for root, unless root asks for everyone's.
        let theirs = keep_reason(&segment(1, 0, Liveness::Gone), 0, false);
        assert_eq!(theirs.as_deref(), Some("owned by uid 1000, not by you"));
        assert!(keep_reason(&segment(1, 0, Liveness::Gone), 1001, true).is_some());
        assert_eq!(keep_reason(&segment(1, 0, Liveness::Gone), 0, true), None);
        let mut dying = segment(1, 1, Liveness::Gone);
        dying.marked_for_removal = true;
        assert!(keep_reason(&dying, 1000, false).is_some());
    }

    #[test]
    fn unused_sysv_objects_are_kept_posix_ones_without_users_go() {
        let mut set = segment(3, 0, Liveness::Unknown);
        set.kind = Kind::Sem;
        set.attached = None;
        set.pid = None;
        assert!(keep_reason(&set, 1000, false).is_some());
        let mut file = segment(0, 0, Liveness::Unknown);
        file.kind = Kind::PosixShm;
        file.id = None;
        file.path = Some("/dev/shm/x".into());
        assert_eq!(keep_reason(&file, 1000, false), None);
        file.users = vec![77];
        assert_eq!(
            keep_reason(&file, 1000, false).as_deref(),
            Some("open or mapped by pid 77")
        );
    }

    #[test]
    fn selectors_parse() {
        assert_eq!("shm:5".parse(), Ok(Selector::Sysv(SysvKind::Shm, 5)));
        assert_eq!("msg:0".parse(), Ok(Selector::Sysv(SysvKind::Msg, 0)));
        assert_eq!(
            "/dev/shm/a.b".parse(),
            Ok(Selector::Path("/dev/shm/a.b".into()))
        );
        for bad in [
            "shm:x",
            "pipe:1",
            "/tmp/x",
            "/dev/shm/",
            "/dev/shm/a/b",
            "5",
        ] {
            assert!(bad.parse::<Selector>().is_err(), "{bad}");
        }
    }

    #[test]
    fn maps_lines_give_device_and_inode() {
        let line = "7f0000000000-7f0000001000 rw-s 00000000 00:1a 12345   /dev/shm/seg (deleted)";
        assert_eq!(maps_line_file(line), Some((0, 0x1a, 12345)));
        let anon = "7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0          [stack]";
        assert_eq!(maps_line_file(anon), None);
    }

    #[test]
    fn a_process_started_after_the_activity_is_another_one() {
        let me = std::process::id() as i32;
        let clock = Clock::read().expect("/proc/stat has btime");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        assert_eq!(
            liveness(me, Some(now), Some(&clock)),
            (Liveness::Alive, false)
        );
        assert_eq!(liveness(me, None, None), (Liveness::Alive, false));
        // Activity long before this process started: the pid was reused.
        assert_eq!(
            liveness(me, Some(clock.boot - 1000), Some(&clock)),
            (Liveness::Gone, true)
        );
    }

    #[test]
    fn sysv_rows_become_objects() {
        let msg = "key msqid perms cbytes qnum lspid lrpid uid gid cuid cgid stime rtime ctime
1 9 600 24 3 0 0 1000 1000 1000 1000 0 0 1700000150
";
        let objects = sysv_objects(SysvKind::Msg, msg, None);
        assert_eq!(objects.len(), 1);
        let queue = &objects[0];
        assert_eq!((queue.kind, queue.id, queue.size), (Kind::Msg, Some(9), 3));
        assert_eq!(queue.bytes, Some(24));
        assert_eq!(queue.process, Liveness::Unknown);
        assert_eq!(queue.remove_command.as_deref(), Some("ipcrm -q 9"));
        let shm = "key shmid perms size cpid lpid nattch uid gid cuid cgid atime dtime ctime
0 7 1600 4096 1 0 1 1000 1000 1000 1000 0 0 1700000000
";
        let objects = sysv_objects(SysvKind::Shm, shm, None);
        assert!(objects[0].marked_for_removal);
        assert_eq!(objects[0].remove_command, None);
        assert_eq!(objects[0].pid_role, Some(PidRole::Creator));
    }
}
