//! Descriptors and paths: what each of a process's descriptors refers to (kept up to date
//! from the traced calls, a miss read from /proc), which of them alias the run's stdout or
//! stderr, and relative paths made absolute as the kernel resolved them.
//!
//! Relative paths (`open`, `unlink`, `mknod`, `bind`, `connect`, …) are made absolute from
//! the working directory or the `*at` call's directory descriptor, so a FIFO made as `fifo`
//! and removed as `/tmp/run/fifo` is one object to the checks.

use super::interest::write_fd_arg;
use super::model::Stream;
use super::procfs;
use std::collections::HashMap;
use syscalls::Sysno;

/// What each descriptor of one process refers to (a path, `pipe:[N]`, `socket:[N]`, …).
#[derive(Debug, Clone, Default)]
pub struct FdTable(HashMap<i32, String>);

impl FdTable {
    /// The table of a process as /proc shows it now (at exec: close-on-exec ones are gone).
    pub fn read(tid: i32) -> FdTable {
        FdTable(
            procfs::open_fds(tid)
                .into_iter()
                .map(|f| (f.fd, f.target))
                .collect(),
        )
    }

    /// What `fd` refers to: the table's entry, else what /proc says (remembered), else "".
    pub fn target(&mut self, tid: i32, fd: i32) -> String {
        if let Some(target) = self.0.get(&fd) {
            return target.clone();
        }
        let target = procfs::fd_target(tid, fd).unwrap_or_default();
        self.0.insert(fd, target.clone());
        target
    }

    /// What `fd` refers to, if the table knows.
    pub fn get(&self, fd: i32) -> Option<&str> {
        self.0.get(&fd).map(String::as_str)
    }

    /// `fd` refers to `target` from now on.
    pub fn insert(&mut self, fd: i32, target: String) {
        self.0.insert(fd, target);
    }

    /// `fd` is closed: what it referred to, if the table knew.
    pub fn remove(&mut self, fd: i32) -> Option<String> {
        self.0.remove(&fd)
    }
}

/// The `/proc` targets of the run's stdout and stderr pipes, to recognise writes to them
/// through any descriptor.
#[derive(Debug, Clone, Default)]
pub struct StdTargets {
    pub stdout: String,
    pub stderr: String,
}

impl StdTargets {
    /// Which stream a write to `target` goes to.
    pub fn stream(&self, target: String) -> Stream {
        if target == self.stdout {
            Stream::Stdout
        } else if target == self.stderr {
            Stream::Stderr
        } else {
            Stream::Other(target)
        }
    }

    /// True if descriptor `fd`, referring to `target`, is an alias of stdout or stderr above
    /// 2: a filter on descriptor numbers cannot follow it, so its process is stepped.
    pub fn is_alias(&self, fd: i32, target: &str) -> bool {
        fd > 2 && (target == self.stdout || target == self.stderr)
    }

    /// True if this is a write-like call to a descriptor above 2 that aliases stdout/stderr.
    pub fn is_alias_write(&self, fds: &FdTable, sysno: Sysno, args: &[u64; 6]) -> bool {
        let Some(fd_arg) = write_fd_arg(sysno) else {
            return false;
        };
        let fd = args[fd_arg] as i32;
        fds.get(fd).is_some_and(|target| self.is_alias(fd, target))
    }
}

/// What a relative path is resolved against, for the calling process.
pub trait Paths {
    /// Its working directory, if /proc can tell.
    fn cwd(&mut self) -> Option<String>;
    /// What its descriptor `fd` refers to ("" if unknown).
    fn fd_target(&mut self, fd: i32) -> String;
}

/// `path` as an absolute path: relative ones are resolved against the directory descriptor
/// `dirfd` (or the working directory for `AT_FDCWD`), as the kernel did. Left as given when
/// that cannot be told (the process is gone, the descriptor is not a directory's). Only
/// lexical: `.` and `..` are folded, links are not followed.
pub fn absolute_path(paths: &mut (impl Paths + ?Sized), dirfd: i32, path: String) -> String {
    if path.starts_with('/') || path.is_empty() {
        return path;
    }
    let base = if dirfd == libc::AT_FDCWD {
        paths.cwd()
    } else {
        Some(paths.fd_target(dirfd)).filter(|t| t.starts_with('/'))
    };
    match base {
        Some(base) => join_lexically(&base, &path),
        None => path,
    }
}

/// `dir/path`, with `.` and `..` folded (`..` at the root stays at the root).
pub fn join_lexically(dir: &str, path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in dir.split('/').chain(path.split('/')) {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    format!("/{}", parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct At {
        cwd: Option<&'static str>,
        dir_fd: (i32, &'static str),
    }

    impl Paths for At {
        fn cwd(&mut self) -> Option<String> {
            self.cwd.map(str::to_string)
        }
        fn fd_target(&mut self, fd: i32) -> String {
            if fd == self.dir_fd.0 {
                self.dir_fd.1.to_string()
            } else {
                String::new()
            }
        }
    }

    #[test]
    fn relative_paths_join_lexically() {
        assert_eq!(join_lexically("/tmp/run", "fifo"), "/tmp/run/fifo");
        assert_eq!(join_lexically("/tmp/run", "./a/../b"), "/tmp/run/b");
        assert_eq!(join_lexically("/", "../../x"), "/x");
        assert_eq!(join_lexically("/tmp", "a//b/"), "/tmp/a/b");
    }

    #[test]
    fn paths_resolve_against_the_cwd_or_the_directory_descriptor() {
        let mut at = At {
            cwd: Some("/tmp/run"),
            dir_fd: (5, "/var/tmp/d"),
        };
        let abs = |at: &mut At, dirfd, path: &str| absolute_path(at, dirfd, path.to_string());
        assert_eq!(abs(&mut at, libc::AT_FDCWD, "fifo"), "/tmp/run/fifo");
        assert_eq!(abs(&mut at, 5, "../x"), "/var/tmp/x");
        assert_eq!(
            abs(&mut at, 5, "/abs"),
            "/abs",
            "absolute paths ignore dirfd"
        );
        assert_eq!(abs(&mut at, 7, "fifo"), "fifo", "an unknown descriptor");
        assert_eq!(abs(&mut at, libc::AT_FDCWD, ""), "");
        at.dir_fd = (5, "pipe:[42]");
        assert_eq!(abs(&mut at, 5, "fifo"), "fifo", "not a directory");
        at.cwd = None;
        assert_eq!(
            abs(&mut at, libc::AT_FDCWD, "fifo"),
            "fifo",
            "the process is gone"
        );
    }

    #[test]
    fn aliases_are_above_2_and_name_a_std_stream() {
        let std = StdTargets {
            stdout: "pipe:[1]".into(),
            stderr: "pipe:[2]".into(),
        };
        assert!(std.is_alias(3, "pipe:[1]"));
        assert!(std.is_alias(9, "pipe:[2]"));
        assert!(!std.is_alias(1, "pipe:[1]"));
        assert!(!std.is_alias(3, "pipe:[3]"));
        let mut fds = FdTable::default();
        fds.insert(4, "pipe:[1]".into());
        let mut args = [0u64; 6];
        args[0] = 4;
        assert!(std.is_alias_write(&fds, Sysno::write, &args));
        assert!(!std.is_alias_write(&fds, Sysno::read, &args));
        assert_eq!(std.stream("pipe:[2]".into()), Stream::Stderr);
        assert_eq!(std.stream("x".into()), Stream::Other("x".into()));
    }
}
