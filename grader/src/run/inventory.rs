//! The IPC objects a run left behind: System V segments, /dev/shm objects, and (in the
//! fallback) FIFOs, socket files and POSIX message queues, found after the run, attributed
//! to it, reported and removed.
//!
//! Segments are attributed by creator pid (the `cpid` column of /proc/sysvipc/shm) and by not
//! having existed before the run, so runs graded in parallel never claim each other's
//! segments. POSIX objects have no creator on record; they are attributed through the trace
//! (an `open` with O_CREAT under /dev/shm, a `mknod` of a FIFO, a `bind` to a path, an
//! `mq_open` with O_CREAT, by a process of the run, never undone by `unlink`/`mq_unlink`).
//! In a namespaced run a queue lives in the run's IPC namespace and its FIFOs and socket
//! files in its private /tmp: they vanish with the run, and the checks judge them from the
//! trace alone.

use crate::trace::{Event, Trace};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

/// One System V shared-memory segment, as /proc/sysvipc/shm lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    pub key: i64,
    pub shmid: i64,
    pub size: u64,
    pub cpid: i32,
    pub nattch: u64,
    pub uid: u32,
}

/// An object a run left behind (and the grader then removed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum Leak {
    SysvShm {
        shmid: i64,
        key: i64,
        size: u64,
        cpid: i32,
        nattch: u64,
        /// The grader removed it after reporting it.
        removed: bool,
    },
    PosixShm {
        path: String,
        removed: bool,
    },
    /// A FIFO (named pipe) left in the file system.
    Fifo {
        path: String,
        removed: bool,
    },
    /// The file of a Unix-domain socket bound to a path.
    SocketFile {
        path: String,
        removed: bool,
    },
    /// A POSIX message queue (`name` with its leading `/`).
    MessageQueue {
        name: String,
        removed: bool,
    },
    /// A System V semaphore set.
    SysvSem {
        semid: i64,
        key: i64,
        removed: bool,
    },
    /// A System V message queue.
    SysvMsg {
        msqid: i64,
        key: i64,
        removed: bool,
    },
    /// A file or directory left behind (in /tmp, /var/tmp, or wherever an unprivileged
    /// grader's fallback let the run write).
    File {
        path: String,
        removed: bool,
    },
}

impl Leak {
    /// One line for feedback, with the command a student would use to clean up by hand.
    pub fn describe(&self) -> String {
        match self {
            Leak::SysvShm {
                shmid,
                key,
                size,
                cpid,
                nattch,
                ..
            } => format!(
                "System V segment id {shmid} (key {key:#x}, {size} bytes, created by pid {cpid}, \
                 {nattch} attached) was left behind (by hand: {})",
                SysvKind::Shm.remove_command(*shmid)
            ),
            Leak::PosixShm { path, .. } => format!(
                "shared-memory object {path} was left behind (by hand: {})",
                rm_command(path)
            ),
            Leak::Fifo { path, .. } => format!(
                "the FIFO {path} was left behind (by hand: {})",
                rm_command(path)
            ),
            Leak::SocketFile { path, .. } => format!(
                "the socket file {path} was left behind (by hand: {})",
                rm_command(path)
            ),
            Leak::MessageQueue { name, .. } => format!(
                "the message queue {name} was left behind (by hand: {}, where the mqueue \
                 file system is mounted)",
                rm_command(&format!("/dev/mqueue{name}"))
            ),
            Leak::SysvSem { semid, key, .. } => format!(
                "System V semaphore set id {semid} (key {key:#x}) was left behind (by hand: {})",
                SysvKind::Sem.remove_command(*semid)
            ),
            Leak::SysvMsg { msqid, key, .. } => format!(
                "System V message queue id {msqid} (key {key:#x}) was left behind (by hand: \
                 {})",
                SysvKind::Msg.remove_command(*msqid)
            ),
            Leak::File { path, .. } => {
                format!("{path} was left behind (by hand: {})", rm_command(path))
            }
        }
    }
}

/// The three kinds of System V IPC object, each listed in its own table under /proc/sysvipc.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SysvKind {
    /// Shared-memory segments (`shmget`).
    Shm,
    /// Semaphore sets (`semget`).
    Sem,
    /// Message queues (`msgget`).
    Msg,
}

impl SysvKind {
    pub const ALL: [SysvKind; 3] = [SysvKind::Shm, SysvKind::Sem, SysvKind::Msg];

    /// The table that lists the objects of this kind.
    pub fn proc_path(self) -> &'static str {
        match self {
            SysvKind::Shm => "/proc/sysvipc/shm",
            SysvKind::Sem => "/proc/sysvipc/sem",
            SysvKind::Msg => "/proc/sysvipc/msg",
        }
    }

    /// The name of the id column in that table.
    pub fn id_column(self) -> &'static str {
        match self {
            SysvKind::Shm => "shmid",
            SysvKind::Sem => "semid",
            SysvKind::Msg => "msqid",
        }
    }

    /// The command that removes one by hand: `ipcrm -m ID`, `ipcrm -s ID`, `ipcrm -q ID`.
    pub fn remove_command(self, id: i64) -> String {
        let flag = match self {
            SysvKind::Shm => 'm',
            SysvKind::Sem => 's',
            SysvKind::Msg => 'q',
        };
        format!("ipcrm -{flag} {id}")
    }
}

/// The command that removes a file by hand, `rm PATH`, the path quoted for the shell when
/// it needs to be.
pub fn rm_command(path: &str) -> String {
    let plain = !path.is_empty()
        && path
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+,:@%=".contains(c));
    if plain {
        format!("rm {path}")
    } else {
        format!("rm '{}'", path.replace('\'', r"'\''"))
    }
}

/// A table of /proc/sysvipc, read by its header row: the set and order of the columns
/// differ between kernel versions, so fields are only ever looked up by column name.
#[derive(Debug, Clone)]
pub struct SysvTable<'a> {
    columns: Vec<&'a str>,
    rows: Vec<Vec<&'a str>>,
}

impl<'a> SysvTable<'a> {
    /// Splits the text of a table: the first line names the columns, each further non-empty
    /// line is one object. Empty text gives an empty table.
    pub fn parse(text: &'a str) -> Self {
        let mut lines = text.lines();
        let columns = lines
            .next()
            .map(|header| header.split_whitespace().collect())
            .unwrap_or_default();
        let rows = lines
            .map(|line| line.split_whitespace().collect::<Vec<_>>())
            .filter(|fields| !fields.is_empty())
            .collect();
        SysvTable { columns, rows }
    }

    /// Whether this kernel's table has the column.
    pub fn has_column(&self, name: &str) -> bool {
        self.columns.contains(&name)
    }

    /// The rows, one per object.
    pub fn rows(&self) -> impl Iterator<Item = SysvRow<'_>> + '_ {
        self.rows.iter().map(|fields| SysvRow {
            columns: &self.columns,
            fields,
        })
    }
}

/// One row of a [`SysvTable`].
#[derive(Debug, Clone, Copy)]
pub struct SysvRow<'t> {
    columns: &'t [&'t str],
    fields: &'t [&'t str],
}

impl SysvRow<'_> {
    /// The raw text in a column; `None` if this kernel has no such column.
    pub fn text(&self, column: &str) -> Option<&str> {
        let index = self.columns.iter().position(|c| *c == column)?;
        self.fields.get(index).copied()
    }

    /// The field in a column, parsed (decimal, as the kernel prints every number but
    /// `perms`); `None` if the column is missing or the field does not parse.
    pub fn get<T: std::str::FromStr>(&self, column: &str) -> Option<T> {
        self.text(column)?.parse().ok()
    }

    /// The `perms` column, which the kernel prints in octal (mode bits and flags such as
    /// SHM_DEST).
    pub fn perms(&self) -> Option<u32> {
        u32::from_str_radix(self.text("perms")?, 8).ok()
    }
}

/// Reads one of the /proc/sysvipc tables.
pub fn read_sysvipc(kind: SysvKind) -> std::io::Result<String> {
    fs::read_to_string(kind.proc_path())
}

/// The segments listed in the text of /proc/sysvipc/shm (rows missing a needed column are
/// skipped).
pub fn parse_segments(text: &str) -> Vec<Segment> {
    SysvTable::parse(text)
        .rows()
        .filter_map(|row| {
            Some(Segment {
                key: row.get("key")?,
                shmid: row.get("shmid")?,
                size: row.get("size")?,
                cpid: row.get("cpid")?,
                nattch: row.get("nattch")?,
                uid: row.get("uid")?,
            })
        })
        .collect()
}

/// Every segment in this IPC namespace.
pub fn segments() -> Vec<Segment> {
    read_sysvipc(SysvKind::Shm)
        .map(|text| parse_segments(&text))
        .unwrap_or_default()
}

/// The ids of the segments that exist now.
pub fn segment_ids() -> BTreeSet<i64> {
    segments().into_iter().map(|s| s.shmid).collect()
}

/// Finds what the run left behind, removes it, and says what it was. `dev_shm` is where the
/// run's `/dev/shm` is seen from here (the machine's, or a private one held open).
pub fn collect_leaks(trace: &Trace, segments_before: &BTreeSet<i64>, dev_shm: &Path) -> Vec<Leak> {
    let mut leaks = collect_segment_leaks(trace, segments_before);
    leaks.extend(collect_dev_shm_leaks(trace, dev_shm));
    leaks.extend(collect_named_leaks(trace));
    leaks
}

/// The FIFOs, socket files and message queues the run created (by the trace) and never
/// removed, in this mount and IPC namespace: only for runs that share them with the grader
/// (the fallback). A file is removed only if it still is a FIFO or a socket.
pub fn collect_named_leaks(trace: &Trace) -> Vec<Leak> {
    use std::os::unix::fs::FileTypeExt;
    let events = || trace.processes.iter().flat_map(|p| &p.events);
    let unlinked: BTreeSet<&str> = events()
        .filter_map(|e| match e {
            Event::Unlink { path, ret: 0 } => Some(path.as_str()),
            Event::MqUnlink { name, ret: 0 } => Some(name.as_str()),
            _ => None,
        })
        .collect();
    let mut files = BTreeSet::new();
    let mut queues = BTreeSet::new();
    for event in events() {
        match event {
            Event::Mknod { path, mode, ret: 0 } if mode & libc::S_IFMT == libc::S_IFIFO => {
                files.insert((path.as_str(), true));
            }
            Event::Bind { path, ret: 0, .. } if path.starts_with('/') => {
                files.insert((path.as_str(), false));
            }
            Event::MqOpen { name, flags, ret } if *ret >= 0 && flags & libc::O_CREAT != 0 => {
                queues.insert(name.as_str());
            }
            _ => {}
        }
    }
    let mut leaks = Vec::new();
    for (path, fifo) in files {
        if unlinked.contains(path) {
            continue;
        }
        let Ok(meta) = fs::symlink_metadata(path) else {
            continue;
        };
        let kind = meta.file_type();
        let removed = || fs::remove_file(path).is_ok();
        if fifo && kind.is_fifo() {
            leaks.push(Leak::Fifo {
                path: path.to_string(),
                removed: removed(),
            });
        } else if !fifo && kind.is_socket() {
            leaks.push(Leak::SocketFile {
                path: path.to_string(),
                removed: removed(),
            });
        }
    }
    for name in queues {
        if unlinked.contains(name) {
            continue;
        }
        let Ok(c_name) = std::ffi::CString::new(name) else {
            continue;
        };
        // SAFETY: mq_unlink reads a NUL-terminated name we own; it touches no other memory.
        if unsafe { libc::mq_unlink(c_name.as_ptr()) } == 0 {
            leaks.push(Leak::MessageQueue {
                name: name.to_string(),
                removed: true,
            });
        }
    }
    leaks
}

/// The System V segments of this IPC namespace that the run created and left.
pub fn collect_segment_leaks(trace: &Trace, segments_before: &BTreeSet<i64>) -> Vec<Leak> {
    let pids: BTreeSet<i32> = trace.pids().into_iter().collect();
    segments()
        .into_iter()
        .filter(|s| !segments_before.contains(&s.shmid) && pids.contains(&s.cpid))
        .map(|segment| Leak::SysvShm {
            shmid: segment.shmid,
            key: segment.key,
            size: segment.size,
            cpid: segment.cpid,
            nattch: segment.nattch,
            removed: remove_segment(segment.shmid),
        })
        .collect()
}

/// The segments the trace shows created (shmget) and never removed (shmctl IPC_RMID), for
/// a run whose IPC namespace the grader cannot enter. They die with that namespace, so they
/// count as removed; how many processes were attached is not known.
pub fn segment_leaks_from_trace(trace: &Trace) -> Vec<Leak> {
    let events = || {
        trace
            .processes
            .iter()
            .flat_map(|p| p.events.iter().map(move |e| (p, e)))
    };
    let removed: BTreeSet<i64> = events()
        .filter_map(|(_, e)| match e {
            Event::ShmCtl { shmid, cmd, ret: 0 } if *cmd == libc::IPC_RMID => Some(*shmid),
            _ => None,
        })
        .collect();
    let leaked: std::collections::BTreeMap<i64, Leak> = events()
        .filter_map(|(process, e)| match e {
            // shmget on an existing key returns the same id again: one leak per segment.
            Event::ShmGet { key, size, ret, .. } if *ret >= 0 && !removed.contains(ret) => {
                let leak = Leak::SysvShm {
                    shmid: *ret,
                    key: *key,
                    size: *size,
                    cpid: process.pid,
                    nattch: 0,
                    removed: true,
                };
                Some((*ret, leak))
            }
            _ => None,
        })
        .collect();
    leaked.into_values().collect()
}

/// The /dev/shm objects the run created (by the trace) and left, seen through `dev_shm`.
pub fn collect_dev_shm_leaks(trace: &Trace, dev_shm: &Path) -> Vec<Leak> {
    let created: BTreeSet<&str> = trace
        .processes
        .iter()
        .flat_map(|p| &p.events)
        .filter_map(|e| match e {
            Event::Open { path, flags, ret } if *ret >= 0 && flags & libc::O_CREAT != 0 => {
                path.strip_prefix("/dev/shm/").map(|_| path.as_str())
            }
            _ => None,
        })
        .collect();
    let mut leaks = Vec::new();
    for path in created {
        let Some(name) = path.strip_prefix("/dev/shm/") else {
            continue;
        };
        let here = dev_shm.join(name);
        if fs::symlink_metadata(&here).is_ok() {
            leaks.push(Leak::PosixShm {
                path: path.to_string(),
                removed: fs::remove_file(&here).is_ok(),
            });
        }
    }
    leaks
}

/// Where a run's processes can leave files: the world-writable places, as the program
/// names them. Anything there owned by a run's own uid is the run's.
pub const WRITABLE_PLACES: [&str; 4] = ["/tmp", "/var/tmp", "/dev/shm", "/dev/mqueue"];

/// Everything a run with a uid of its own left, found by owner rather than by the names
/// the trace saw (a `link` to a second name, a file made by a call no filter watched):
/// with `sysv`, the System V segments, semaphore sets and message queues of this IPC
/// namespace whose owner or creator is `uid`; and the entries of each place in `places`
/// (as the program names it, and where the grader sees it) that `uid` owns, with whatever
/// they hold, but for those in `keep` (as the program names them: the run's scratch
/// directory, the grader's to remove; the directories a namespaced run has bound back).
/// Nothing on another file system is touched: a bind mount still attached is skipped, not
/// emptied.
/// Each is removed, then reported.
pub fn collect_owned_leaks(
    uid: u32,
    sysv: bool,
    places: &[(&str, PathBuf)],
    keep: &[PathBuf],
) -> Vec<Leak> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let mut leaks = Vec::new();
    for kind in SysvKind::ALL.into_iter().filter(|_| sysv) {
        let Ok(text) = read_sysvipc(kind) else {
            continue;
        };
        let table = SysvTable::parse(&text);
        for row in table.rows() {
            let owned = |column| row.get::<u32>(column) == Some(uid);
            if owned("uid") || owned("cuid") {
                leaks.extend(remove_row(kind, &row));
            }
        }
    }
    for (shown, here) in places {
        let Ok(device) = fs::metadata(here).map(|m| m.dev()) else {
            continue;
        };
        let Ok(entries) = fs::read_dir(here) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(meta) = entry.path().symlink_metadata() else {
                continue;
            };
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = format!("{shown}/{name}");
            if meta.uid() != uid
                || meta.dev() != device
                || keep.iter().any(|k| *k == Path::new(&path))
            {
                continue;
            }
            let removed = remove_tree_on(device, &entry.path());
            let kind = meta.file_type();
            leaks.push(match *shown {
                "/dev/shm" => Leak::PosixShm { path, removed },
                "/dev/mqueue" => Leak::MessageQueue {
                    name: format!("/{name}"),
                    removed,
                },
                _ if kind.is_fifo() => Leak::Fifo { path, removed },
                _ if kind.is_socket() => Leak::SocketFile { path, removed },
                _ => Leak::File { path, removed },
            });
        }
    }
    leaks
}

/// The System V semaphore sets and message queues the trace shows created (semget, msgget)
/// that still exist, owned by this user: removed, then reported. For a run that shares the
/// grader's uid and IPC namespace, where no owner or creator column tells whose they are.
pub fn sysv_leaks_from_trace(trace: &Trace) -> Vec<Leak> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    let mut leaks = Vec::new();
    for (kind, call) in [(SysvKind::Sem, "semget"), (SysvKind::Msg, "msgget")] {
        let created: BTreeSet<i64> = trace
            .processes
            .iter()
            .flat_map(|p| &p.events)
            .filter_map(|e| match e {
                Event::OtherIpc { syscall, ret } if syscall == call && *ret >= 0 => Some(*ret),
                _ => None,
            })
            .collect();
        if created.is_empty() {
            continue;
        }
        let Ok(text) = read_sysvipc(kind) else {
            continue;
        };
        let table = SysvTable::parse(&text);
        for row in table.rows() {
            let made_here = row
                .get::<i64>(kind.id_column())
                .is_some_and(|id| created.contains(&id));
            if made_here && row.get::<u32>("cuid") == Some(me) {
                leaks.extend(remove_row(kind, &row));
            }
        }
    }
    leaks
}

/// Every name the trace shows the run giving a file (a creating open, mknod, mkdir, link,
/// symlink, rename, bind) that is still there, owned by this user and born after `started`:
/// removed (a directory with what it holds), then reported. For a run that shares the
/// grader's uid and directories (an unprivileged grader's fallback), where no owner tells
/// whose a file is: the birth time keeps a file that existed before the run (opened with
/// O_CREAT, or renamed over) from being taken for the run's, and where the file system
/// keeps no birth time nothing is removed. Run after [`collect_leaks`], which removes the
/// names it knows first.
pub fn names_left_from_trace(trace: &Trace, started: std::time::SystemTime) -> Vec<Leak> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    let named: BTreeSet<&str> = trace
        .processes
        .iter()
        .flat_map(|p| &p.events)
        .filter_map(|e| match e {
            Event::Open { path, flags, ret } if *ret >= 0 && flags & libc::O_CREAT != 0 => {
                Some(path.as_str())
            }
            Event::Mknod { path, ret: 0, .. }
            | Event::Name { path, ret: 0, .. }
            | Event::Bind { path, ret: 0, .. } => Some(path.as_str()),
            _ => None,
        })
        .filter(|path| path.starts_with('/') && *path != "/")
        .collect();
    let mut leaks = Vec::new();
    for path in named {
        let Ok(meta) = Path::new(path).symlink_metadata() else {
            continue; // Removed by the run, or by collect_leaks.
        };
        let born_in_run = meta.created().is_ok_and(|born| born >= started);
        if meta.uid() != me || !born_in_run {
            continue;
        }
        let removed = remove_tree_on(meta.dev(), Path::new(path));
        let path = path.to_string();
        let kind = meta.file_type();
        leaks.push(match () {
            _ if path.starts_with("/dev/shm/") => Leak::PosixShm { path, removed },
            _ if kind.is_fifo() => Leak::Fifo { path, removed },
            _ if kind.is_socket() => Leak::SocketFile { path, removed },
            _ => Leak::File { path, removed },
        });
    }
    leaks
}

/// Removes `path` and, if it is a directory, everything in it, on file system `device`
/// only: a symlink is removed, never followed, and an entry on another file system (a
/// mount inside) is left, so the removal fails and says so.
fn remove_tree_on(device: u64, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = path.symlink_metadata() else {
        return false;
    };
    if meta.dev() != device {
        return false;
    }
    if !meta.is_dir() {
        return fs::remove_file(path).is_ok();
    }
    let emptied = fs::read_dir(path).is_ok_and(|entries| {
        // Every entry is tried, even after one fails: the rest still go.
        entries
            .flatten()
            .map(|entry| remove_tree_on(device, &entry.path()))
            .filter(|removed| !removed)
            .count()
            == 0
    });
    emptied && fs::remove_dir(path).is_ok()
}

/// Removes the object a row of a /proc/sysvipc table lists, and says what it was (`None`
/// for a row without an id or key).
fn remove_row(kind: SysvKind, row: &SysvRow<'_>) -> Option<Leak> {
    let id = row.get::<i64>(kind.id_column())?;
    let key = row.get::<i64>("key")?;
    let removed = remove_sysv(kind, id);
    Some(match kind {
        SysvKind::Shm => Leak::SysvShm {
            shmid: id,
            key,
            size: row.get("size").unwrap_or(0),
            cpid: row.get("cpid").unwrap_or(0),
            nattch: row.get("nattch").unwrap_or(0),
            removed,
        },
        SysvKind::Sem => Leak::SysvSem {
            semid: id,
            key,
            removed,
        },
        SysvKind::Msg => Leak::SysvMsg {
            msqid: id,
            key,
            removed,
        },
    })
}

/// Removes a System V object of any kind (a segment goes once nobody is attached).
fn remove_sysv(kind: SysvKind, id: i64) -> bool {
    // SAFETY: IPC_RMID takes no buffer (a null pointer is allowed for shmctl and msgctl,
    // and semctl's fourth argument is not read); the id is a plain integer.
    unsafe {
        match kind {
            SysvKind::Shm => libc::shmctl(id as i32, libc::IPC_RMID, std::ptr::null_mut()) == 0,
            SysvKind::Sem => libc::semctl(id as i32, 0, libc::IPC_RMID) == 0,
            SysvKind::Msg => libc::msgctl(id as i32, libc::IPC_RMID, std::ptr::null_mut()) == 0,
        }
    }
}

/// Marks a segment for removal; it goes once nobody is attached (everyone is dead by now).
fn remove_segment(shmid: i64) -> bool {
    remove_sysv(SysvKind::Shm, shmid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sees_a_segment_it_created_and_removes_it() {
        // SAFETY: shmget with IPC_PRIVATE creates a fresh segment; no memory is passed.
        let id = unsafe { libc::shmget(libc::IPC_PRIVATE, 4096, libc::IPC_CREAT | 0o600) };
        assert!(id >= 0);
        let found = segments().into_iter().find(|s| s.shmid == id as i64);
        let found = found.expect("the new segment is listed");
        assert_eq!(found.size, 4096);
        assert_eq!(found.cpid, std::process::id() as i32);
        assert!(remove_segment(id as i64));
        assert!(!segment_ids().contains(&(id as i64)));
    }

    #[test]
    fn named_objects_left_behind_are_removed() {
        use crate::trace::Process;
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("left.fifo");
        let gone = dir.path().join("gone.fifo");
        let c = |p: &Path| std::ffi::CString::new(p.to_str().unwrap()).unwrap();
        for path in [&fifo, &gone] {
            // SAFETY: mkfifo reads a NUL-terminated path we own.
            assert_eq!(unsafe { libc::mkfifo(c(path).as_ptr(), 0o600) }, 0);
        }
        let mut process = Process::new(std::process::id() as i32, None, "parent".into());
        let path_of = |p: &Path| p.to_str().unwrap().to_string();
        process.events = vec![
            Event::Mknod {
                path: path_of(&fifo),
                mode: libc::S_IFIFO | 0o600,
                ret: 0,
            },
            Event::Mknod {
                path: path_of(&gone),
                mode: libc::S_IFIFO | 0o600,
                ret: 0,
            },
            // The trace says this one was removed: it is not the grader's to touch.
            Event::Unlink {
                path: path_of(&gone),
                ret: 0,
            },
        ];
        let trace = Trace {
            processes: vec![process],
            full: false,
            clock: 0,
        };
        let leaks = collect_named_leaks(&trace);
        assert_eq!(
            leaks,
            [Leak::Fifo {
                path: path_of(&fifo),
                removed: true
            }]
        );
        assert!(!fifo.exists());
        assert!(gone.exists());
    }

    /// /proc/sysvipc/shm as a 6.x kernel prints it (with `rss` and `swap`), one segment
    /// marked for removal (perms 1600: SHM_DEST) and one still attached.
    const SHM_6X: &str = "       key      shmid perms                  size  cpid  lpid nattch   uid   gid  cuid  cgid      atime      dtime      ctime                   rss                  swap
         0      32769  1600                  4096  4242  4243      1  1000  1000  1000  1000 1700000010 1700000020 1700000000                  4096                     0
 305419896      32770   600                 65536  4250     0      0  1000  1000  1000  1000          0          0 1700000100                     0                     0
";

    #[test]
    fn shm_table_is_read_by_its_header() {
        let segments = parse_segments(SHM_6X);
        assert_eq!(
            segments,
            [
                Segment {
                    key: 0,
                    shmid: 32769,
                    size: 4096,
                    cpid: 4242,
                    nattch: 1,
                    uid: 1000
                },
                Segment {
                    key: 0x1234_5678,
                    shmid: 32770,
                    size: 65536,
                    cpid: 4250,
                    nattch: 0,
                    uid: 1000
                },
            ]
        );
        let table = SysvTable::parse(SHM_6X);
        let first = table.rows().next().unwrap();
        assert_eq!(first.perms(), Some(0o1600));
        assert_eq!(first.get::<i64>("ctime"), Some(1_700_000_000));
        assert_eq!(first.get::<u64>("rss"), Some(4096));
        assert_eq!(first.get::<u64>("no-such-column"), None);
    }

    #[test]
    fn columns_in_another_order_or_missing_are_found_by_name() {
        // An older kernel: no rss/swap, and (made up) `uid` before `nattch`.
        let old = "key shmid perms size cpid lpid uid nattch gid cuid cgid atime dtime ctime
7 3 644 100 10 11 500 2 500 500 500 0 0 99
";
        assert_eq!(
            parse_segments(old),
            [Segment {
                key: 7,
                shmid: 3,
                size: 100,
                cpid: 10,
                nattch: 2,
                uid: 500
            }]
        );
        assert!(!SysvTable::parse(old).has_column("rss"));
        // A table without a needed column yields no segments rather than wrong ones.
        assert_eq!(parse_segments("key shmid size\n1 2 3\n"), []);
        assert_eq!(parse_segments(""), []);
    }

    #[test]
    fn sem_and_msg_tables_parse_with_the_same_reader() {
        let sem =
            "       key      semid perms      nsems   uid   gid  cuid  cgid      otime      ctime
         0          5   600          2  1000  1000  1000  1000          0 1700000000
";
        let msg = "       key      msqid perms      cbytes       qnum lspid lrpid   uid   gid  cuid  cgid      stime      rtime      ctime
    -12345          9   666          24          3  4300     0     0     0     0     0 1700000200          0 1700000150
";
        let sem = SysvTable::parse(sem);
        let row = sem.rows().next().unwrap();
        assert_eq!(row.get::<i64>(SysvKind::Sem.id_column()), Some(5));
        assert_eq!(row.get::<u64>("nsems"), Some(2));
        assert_eq!(row.get::<i64>("otime"), Some(0));
        let msg = SysvTable::parse(msg);
        let row = msg.rows().next().unwrap();
        assert_eq!(row.get::<i64>(SysvKind::Msg.id_column()), Some(9));
        assert_eq!(row.get::<i64>("key"), Some(-12345));
        assert_eq!(row.get::<u64>("qnum"), Some(3));
        assert_eq!(row.get::<i32>("lspid"), Some(4300));
        assert_eq!(row.perms(), Some(0o666));
    }

    #[test]
    fn removal_commands_match_ipcrm_and_quote_odd_paths() {
        assert_eq!(SysvKind::Shm.remove_command(32769), "ipcrm -m 32769");
        assert_eq!(SysvKind::Sem.remove_command(3), "ipcrm -s 3");
        assert_eq!(SysvKind::Msg.remove_command(0), "ipcrm -q 0");
        assert_eq!(
            rm_command("/dev/shm/lab11.seg-1"),
            "rm /dev/shm/lab11.seg-1"
        );
        assert_eq!(
            rm_command("/dev/shm/it's mine"),
            r"rm '/dev/shm/it'\''s mine'"
        );
        let leak = Leak::SysvShm {
            shmid: 32769,
            key: 0,
            size: 4096,
            cpid: 1,
            nattch: 0,
            removed: true,
        };
        assert!(leak.describe().ends_with("(by hand: ipcrm -m 32769)"));
    }
}
