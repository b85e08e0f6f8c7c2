//! The IPC objects a run left behind: System V segments and /dev/shm objects, found after
//! the run, attributed to it, reported and removed.
//!
//! Segments are attributed by creator pid (the `cpid` column of /proc/sysvipc/shm) and by not
//! having existed before the run, so runs graded in parallel never claim each other's
//! segments. POSIX objects have no creator on record; they are attributed through the trace
//! (an `open` with O_CREAT under /dev/shm by a process of the run).

use crate::trace::{Event, Trace};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

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
                 {nattch} attached) was left behind (by hand: ipcrm -m {shmid})"
            ),
            Leak::PosixShm { path, .. } => {
                format!("shared-memory object {path} was left behind (by hand: rm {path})")
            }
        }
    }
}

/// Every segment in this IPC namespace.
pub fn segments() -> Vec<Segment> {
    let Ok(text) = fs::read_to_string("/proc/sysvipc/shm") else {
        return Vec::new();
    };
    let mut lines = text.lines();
    let Some(header) = lines.next() else {
        return Vec::new();
    };
    // Parse by the header row: the column set differs between kernel versions.
    let columns: Vec<&str> = header.split_whitespace().collect();
    let col = |name: &str| columns.iter().position(|c| *c == name);
    let (Some(key), Some(shmid), Some(size), Some(cpid), Some(nattch), Some(uid)) = (
        col("key"),
        col("shmid"),
        col("size"),
        col("cpid"),
        col("nattch"),
        col("uid"),
    ) else {
        return Vec::new();
    };
    lines
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            Some(Segment {
                key: f.get(key)?.parse().ok()?,
                shmid: f.get(shmid)?.parse().ok()?,
                size: f.get(size)?.parse().ok()?,
                cpid: f.get(cpid)?.parse().ok()?,
                nattch: f.get(nattch)?.parse().ok()?,
                uid: f.get(uid)?.parse().ok()?,
            })
        })
        .collect()
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

/// Marks a segment for removal; it goes once nobody is attached (everyone is dead by now).
fn remove_segment(shmid: i64) -> bool {
    // SAFETY: IPC_RMID takes no buffer (a null pointer is allowed); the id is a plain integer.
    unsafe { libc::shmctl(shmid as i32, libc::IPC_RMID, std::ptr::null_mut()) == 0 }
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
}
