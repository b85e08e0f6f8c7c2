//! Reading a traced process's state from /proc: open descriptors, I/O counters, the system
//! call it is blocked in.
//!
//! Every reader returns `None` or an empty list when the process is gone: processes vanish at
//! any moment (killed, exited), and that is never an error for the grader.

use super::model::{CpuTime, IoCounters, OpenFd};
use std::fs;

/// The target of one descriptor (`pipe:[123]`, a path, `socket:[456]`).
pub fn fd_target(pid: i32, fd: i32) -> Option<String> {
    fs::read_link(format!("/proc/{pid}/fd/{fd}"))
        .ok()
        .map(|p| p.to_string_lossy().into_owned())
}

/// The open flags of one descriptor, from /proc/PID/fdinfo/N (octal `flags:` line).
pub fn fd_flags(pid: i32, fd: i32) -> Option<u32> {
    let info = fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}")).ok()?;
    info.lines()
        .find_map(|l| l.strip_prefix("flags:"))
        .and_then(|v| u32::from_str_radix(v.trim(), 8).ok())
}

/// Every open descriptor of a process, sorted by number.
pub fn open_fds(pid: i32) -> Vec<OpenFd> {
    let Ok(dir) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        return Vec::new();
    };
    let mut fds: Vec<OpenFd> = dir
        .filter_map(|entry| {
            let fd: i32 = entry.ok()?.file_name().to_str()?.parse().ok()?;
            Some(OpenFd {
                fd,
                target: fd_target(pid, fd)?,
                flags: fd_flags(pid, fd).unwrap_or(0),
            })
        })
        .collect();
    fds.sort_by_key(|f| f.fd);
    fds
}

/// /proc/PID/io.
pub fn io_counters(pid: i32) -> Option<IoCounters> {
    let text = fs::read_to_string(format!("/proc/{pid}/io")).ok()?;
    let mut io = IoCounters::default();
    for line in text.lines() {
        let (key, value) = line.split_once(':')?;
        let value: u64 = value.trim().parse().ok()?;
        match key {
            "rchar" => io.rchar = value,
            "wchar" => io.wchar = value,
            "syscr" => io.syscr = value,
            "syscw" => io.syscw = value,
            _ => {}
        }
    }
    Some(io)
}

/// The CPU time a process (all its threads) used so far, from /proc/PID/stat.
pub fn cpu_time(pid: i32) -> Option<CpuTime> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_cpu_time(&stat)
}

/// utime and stime are fields 14 and 15 of /proc/PID/stat, in clock ticks of USER_HZ, which
/// the kernel's /proc interface fixes at 100 per second.
fn parse_cpu_time(stat: &str) -> Option<CpuTime> {
    const MS_PER_TICK: u64 = 10;
    // The command name is in parentheses and may contain spaces: count after the last ')'.
    let mut fields = stat.rsplit_once(')')?.1.split_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some(CpuTime {
        user_ms: user * MS_PER_TICK,
        system_ms: system * MS_PER_TICK,
    })
}

/// The whole of /proc/TID/status.
pub fn read_status(tid: i32) -> Option<String> {
    fs::read_to_string(format!("/proc/{tid}/status")).ok()
}

/// The value of one `Name:` line of /proc/TID/status, trimmed.
pub fn status_field(tid: i32, name: &str) -> Option<String> {
    let status = fs::read_to_string(format!("/proc/{tid}/status")).ok()?;
    status.lines().find_map(|line| {
        let value = line.strip_prefix(name)?.strip_prefix(':')?;
        Some(value.trim().to_string())
    })
}

/// The thread group (process) a task belongs to.
pub fn tgid(tid: i32) -> Option<i32> {
    status_field(tid, "Tgid")?.parse().ok()
}

/// A task's parent process.
pub fn ppid(tid: i32) -> Option<i32> {
    status_field(tid, "PPid")?.parse().ok()
}

/// A task's pid as seen inside its own (innermost) PID namespace: what the program's own
/// calls (`wait4`'s result, `getpid`) use.
pub fn ns_pid(tid: i32) -> Option<i32> {
    status_field(tid, "NSpid")?
        .split_whitespace()
        .last()?
        .parse()
        .ok()
}

/// A process's working directory.
pub fn cwd(pid: i32) -> Option<String> {
    fs::read_link(format!("/proc/{pid}/cwd"))
        .ok()
        .map(|p| p.to_string_lossy().into_owned())
}

/// The executable a process runs.
pub fn exe(pid: i32) -> Option<String> {
    fs::read_link(format!("/proc/{pid}/exe"))
        .ok()
        .map(|p| p.to_string_lossy().into_owned())
}

/// The scheduler state letter (R, S, D, T, t, Z) from /proc/PID/stat.
pub fn state(pid: i32) -> Option<char> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may contain spaces: skip past the last ')'.
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

/// The system call a blocked process is in, from /proc/PID/syscall: number and arguments.
/// `None` when the process is running, gone, or not in a call.
pub fn blocked_syscall(pid: i32) -> Option<(i64, [u64; 6])> {
    let text = fs::read_to_string(format!("/proc/{pid}/syscall")).ok()?;
    let mut words = text.split_whitespace();
    let nr: i64 = words.next()?.parse().ok()?;
    if nr < 0 {
        return None;
    }
    let mut args = [0u64; 6];
    for arg in &mut args {
        *arg = u64::from_str_radix(words.next()?.trim_start_matches("0x"), 16).ok()?;
    }
    Some((nr, args))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_process() {
        let me = std::process::id() as i32;
        assert_eq!(tgid(me), Some(me));
        assert!(io_counters(me).is_some());
        assert!(
            open_fds(me)
                .iter()
                .any(|f| f.fd == 0 || f.fd == 1 || f.fd == 2)
        );
        assert!(matches!(state(me), Some('R' | 'S')));
        assert!(cpu_time(me).is_some());
    }

    #[test]
    fn reads_cpu_time_past_a_name_with_spaces() {
        let stat = "42 (a (b) c) S 1 42 42 0 -1 4194560 100 0 0 0 7 3 0 0 20 0 1 0 5";
        assert_eq!(
            parse_cpu_time(stat),
            Some(CpuTime {
                user_ms: 70,
                system_ms: 30
            })
        );
    }

    #[test]
    fn vanished_process_reads_as_nothing() {
        // Pid numbers above pid_max never exist.
        assert!(open_fds(i32::MAX).is_empty());
        assert!(io_counters(i32::MAX).is_none());
        assert!(cpu_time(i32::MAX).is_none());
        assert!(blocked_syscall(i32::MAX).is_none());
    }
}
