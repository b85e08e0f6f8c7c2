//! Which channel carried the results, and whether pipe and socket ends were closed.

use super::{Case, Mechanism};
use crate::escape::visible;
use crate::trace::{Event, Process, Stream, Trace};
use std::collections::BTreeSet;

/// Files a program may open for writing without that being a channel.
const HARMLESS_WRITE_TARGETS: &[&str] = &["/dev/null", "/dev/tty"];

pub(super) fn channel(case: &Case<'_>, mechanism: Mechanism) -> Result<(), String> {
    let trace = &case.run.trace;
    if let Some(refused) = refused_call(trace) {
        return Err(refused);
    }
    if let Some(other) = forbidden_channel(trace, mechanism) {
        return Err(other);
    }
    match mechanism {
        Mechanism::Pipe => pipe_carried_results(trace),
        Mechanism::SysvShm => segment_carried_results(trace),
        Mechanism::Fifo => fifo_carried_results(trace),
        Mechanism::Mqueue => queue_carried_results(trace),
        Mechanism::UnixSocket => socket_carried_results(trace),
        Mechanism::PosixShm => posix_shm_carried_results(trace),
    }
}

/// The first call the tracer refused (see `trace::interest::refusal`): each is a way around
/// the mechanism a lab grades, so no channel check passes a run that tried one.
pub(super) fn refused_call(trace: &Trace) -> Option<String> {
    trace.processes.iter().find_map(|process| {
        process.events.iter().find_map(|event| match event {
            Event::Refused { syscall, reason } => Some(format!(
                "{} called {syscall} ({reason}): no lab allows it, and the grader refused it \
                 (it returned ENOSYS); the results must travel through the lab's mechanism only",
                process.name()
            )),
            _ => None,
        })
    })
}

/// The first use of a channel other than the one the part requires.
fn forbidden_channel(trace: &Trace, mechanism: Mechanism) -> Option<String> {
    let required = match mechanism {
        Mechanism::Pipe => "a pipe",
        Mechanism::SysvShm => "the System V segment",
        Mechanism::Fifo => "a FIFO",
        Mechanism::Mqueue => "a message queue",
        Mechanism::UnixSocket => "Unix-domain sockets",
        Mechanism::PosixShm => "a shared mapping of one /dev/shm object",
    };
    // In the FIFO part, opening the FIFO for writing is the channel, not a file.
    let fifos = if mechanism == Mechanism::Fifo {
        fifos_made(trace)
    } else {
        BTreeSet::new()
    };
    let unix_sockets = mechanism == Mechanism::UnixSocket;
    for process in &trace.processes {
        for event in &process.events {
            let used = match event {
                Event::Open { path, flags, ret } if *ret >= 0 && opens_for_writing(*flags) => {
                    if HARMLESS_WRITE_TARGETS.contains(&path.as_str())
                        || path.starts_with("/dev/pts/")
                        || fifos.contains(path.as_str())
                        || (mechanism == Mechanism::PosixShm && path.starts_with("/dev/shm/"))
                    {
                        continue;
                    }
                    format!("opened {} for writing", visible(path))
                }
                Event::Mknod { path, mode, ret: 0 } => {
                    if !is_fifo(*mode) {
                        format!("made the special file {}", visible(path))
                    } else if mechanism == Mechanism::Fifo {
                        continue;
                    } else {
                        format!("made the FIFO {}", visible(path))
                    }
                }
                Event::Socket { domain, ret } if *ret >= 0 => {
                    if unix_sockets && *domain == libc::AF_UNIX {
                        continue;
                    }
                    format!("opened a socket ({})", family(*domain))
                }
                Event::SocketPair { domain, ret: 0, .. } => {
                    if unix_sockets && *domain == libc::AF_UNIX {
                        continue;
                    }
                    format!("made a socket pair ({})", family(*domain))
                }
                Event::MqOpen { name, ret, .. } if *ret >= 0 => {
                    if mechanism == Mechanism::Mqueue {
                        continue;
                    }
                    format!("opened the message queue {} (mq_open)", visible(name))
                }
                Event::OtherIpc { syscall, ret } if *ret >= 0 => format!("called {syscall}"),
                Event::MmapShared { ret, .. } if *ret >= 0 => {
                    if mechanism == Mechanism::PosixShm {
                        continue; // Which object it maps: posix_shm_carried_results.
                    }
                    "made a shared mapping (mmap MAP_SHARED)".to_string()
                }
                Event::ShmGet { ret, .. } if *ret >= 0 && mechanism != Mechanism::SysvShm => {
                    "created a System V shared-memory segment (shmget)".to_string()
                }
                Event::Pipe { .. } if mechanism != Mechanism::Pipe => {
                    "made a pipe (pipe)".to_string()
                }
                _ => continue,
            };
            return Some(format!(
                "{} {used}; in this part the results travel through {required} only",
                process.name()
            ));
        }
    }
    None
}

fn opens_for_writing(flags: i32) -> bool {
    flags & libc::O_ACCMODE != libc::O_RDONLY || flags & libc::O_CREAT != 0
}

fn is_fifo(mode: u32) -> bool {
    mode & libc::S_IFMT == libc::S_IFIFO
}

/// `AF_UNIX`, `AF_INET`, …: how feedback names a socket family.
fn family(domain: i32) -> String {
    match domain {
        libc::AF_UNIX => "AF_UNIX".to_string(),
        libc::AF_INET => "AF_INET".to_string(),
        libc::AF_INET6 => "AF_INET6".to_string(),
        libc::AF_NETLINK => "AF_NETLINK".to_string(),
        other => format!("family {other}"),
    }
}

/// The paths of the FIFOs the run made (mknod/mkfifo that succeeded).
fn fifos_made(trace: &Trace) -> BTreeSet<&str> {
    trace
        .processes
        .iter()
        .flat_map(|p| &p.events)
        .filter_map(|e| match e {
            Event::Mknod { path, mode, ret: 0 } if is_fifo(*mode) => Some(path.as_str()),
            _ => None,
        })
        .collect()
}

/// The parent's events before its first fork, and whether it forked at all.
fn before_first_fork(root: &Process) -> (&[Event], bool) {
    match root
        .events
        .iter()
        .position(|e| matches!(e, Event::Spawn { thread: false, .. }))
    {
        Some(at) => (&root.events[..at], true),
        None => (&root.events, false),
    }
}

/// Fails if no worker sent anything except to stdout/stderr.
fn some_worker_sent(trace: &Trace, through: &str) -> Result<(), String> {
    let workers: Vec<&Process> = trace.children_of(0).map(|(_, p)| p).collect();
    // A worker cut short while it computed may not have sent anything yet.
    let silent: Vec<String> = workers
        .iter()
        .filter(|w| bytes_sent_elsewhere(w) == Some(0) && !super::cut_short(trace, w))
        .map(|w| w.name())
        .collect();
    if !workers.is_empty() && silent.len() == workers.len() {
        return Err(format!(
            "{} wrote nothing except to stdout/stderr: no factor travelled through {through}",
            super::and_list(&silent)
        ));
    }
    Ok(())
}

/// The parent made a FIFO before forking, every worker opened it for writing, the parent
/// opened it for reading, and the workers wrote bytes somewhere other than stdout/stderr.
fn fifo_carried_results(trace: &Trace) -> Result<(), String> {
    let root = trace.root().expect("a completed run has a root");
    let (before, forked) = before_first_fork(root);
    let made_before_fork = before
        .iter()
        .any(|e| matches!(e, Event::Mknod { mode, ret: 0, .. } if is_fifo(*mode)));
    let fifos = fifos_made(trace);
    if !made_before_fork {
        return Err(if !forked {
            "the parent forked no worker".to_string()
        } else if fifos.is_empty() {
            "no process made a FIFO (mkfifo)".to_string()
        } else {
            "the FIFO was made after forking, or by a worker: make it in the parent before \
             fork(), so that it exists when a worker opens it"
                .to_string()
        });
    }
    let shown = visible(fifos.iter().next().copied().unwrap_or_default());
    for (_, worker) in trace.children_of(0) {
        if !had_fifo_open(worker, &fifos, true) {
            return Err(format!(
                "{} never opened the FIFO {shown} for writing: a worker opens it by its path \
                 (write only) and writes its factors there",
                worker.name()
            ));
        }
    }
    if !had_fifo_open(root, &fifos, false) {
        return Err(format!(
            "the parent never opened the FIFO {shown} for reading, so it read no factor from it"
        ));
    }
    some_worker_sent(trace, "the FIFO")
}

/// True if the process opened one of these FIFOs for writing (`write`) or reading, or held
/// or closed a descriptor of one (inherited at fork).
fn had_fifo_open(process: &Process, fifos: &BTreeSet<&str>, write: bool) -> bool {
    let is_fifo_target =
        |target: &str| fifos.contains(target.strip_suffix(" (deleted)").unwrap_or(target));
    let opened = process.events.iter().any(|e| match e {
        Event::Open { path, flags, ret } if *ret >= 0 && fifos.contains(path.as_str()) => {
            let mode = flags & libc::O_ACCMODE;
            if write {
                mode != libc::O_RDONLY
            } else {
                mode != libc::O_WRONLY
            }
        }
        _ => false,
    });
    let held = process.fds_at_exit.iter().any(|fd| {
        let mode = fd.flags as i32 & libc::O_ACCMODE;
        is_fifo_target(&fd.target) && (mode == libc::O_RDWR || (mode == libc::O_WRONLY) == write)
    });
    let closed = process
        .events
        .iter()
        .any(|e| matches!(e, Event::Close { target, .. } if is_fifo_target(target)));
    opened || held || closed
}

/// The parent created a message queue before forking, every worker sent messages to it,
/// and the parent received from it.
fn queue_carried_results(trace: &Trace) -> Result<(), String> {
    let root = trace.root().expect("a completed run has a root");
    let (before, forked) = before_first_fork(root);
    let creates = |e: &Event| matches!(e, Event::MqOpen { flags, ret, .. } if *ret >= 0 && flags & libc::O_CREAT != 0);
    if !before.iter().any(creates) {
        let anywhere = trace.processes.iter().flat_map(|p| &p.events).any(creates);
        return Err(if !forked {
            "the parent forked no worker".to_string()
        } else if !anywhere {
            "no process created a message queue (mq_open with O_CREAT)".to_string()
        } else {
            "the queue was created after forking, or by a worker: create it in the parent \
             before fork(), so that every worker can send to it"
                .to_string()
        });
    }
    for (_, worker) in trace.children_of(0) {
        if !worker
            .events
            .iter()
            .any(|e| matches!(e, Event::MqSend { .. }))
        {
            return Err(format!(
                "{} sent no message to the queue (mq_send): the workers send their factors \
                 as messages",
                worker.name()
            ));
        }
    }
    if !root
        .events
        .iter()
        .any(|e| matches!(e, Event::MqReceive { .. }))
    {
        return Err("the parent never received a message from the queue (mq_receive)".to_string());
    }
    Ok(())
}

/// The parent made Unix-domain sockets before forking — a socket pair, or a socket bound to
/// a path — every worker used one (held an end of the pair, or connected to the path), and
/// the workers wrote bytes somewhere other than stdout/stderr.
fn socket_carried_results(trace: &Trace) -> Result<(), String> {
    let root = trace.root().expect("a completed run has a root");
    let (before, forked) = before_first_fork(root);
    let (pairs, listeners) = parent_sockets(before);
    if pairs.is_empty() && listeners.is_empty() {
        return Err(if !forked {
            "the parent forked no worker".to_string()
        } else {
            "the parent made no Unix-domain socket before forking: make a socket pair \
             (socketpair), or bind a socket to a path and listen on it, before fork()"
                .to_string()
        });
    }
    let paths: Vec<&str> = listeners.iter().map(|l| l.path).collect();
    let mut connected = false;
    for (_, worker) in trace.children_of(0) {
        let via_path = worker.events.iter().any(
            |e| matches!(e, Event::Connect { path, ret: 0, .. } if paths.contains(&path.as_str())),
        );
        let via_pair = pairs.iter().any(|pair| {
            pair.targets
                .iter()
                .any(|t| holds_or_closed_target(worker, t))
        });
        if !via_path && !via_pair {
            let how = match paths.first() {
                Some(path) => format!("it never connected to {}", visible(path)),
                None => "it never had an end of the socket pair".to_string(),
            };
            return Err(format!(
                "{} did not talk to the parent through a socket: {how}",
                worker.name()
            ));
        }
        connected |= via_path;
    }
    if connected
        && !root
            .events
            .iter()
            .any(|e| matches!(e, Event::Accept { ret, .. } if *ret >= 0))
    {
        return Err(
            "the workers connected, but the parent never accepted a connection (accept)"
                .to_string(),
        );
    }
    some_worker_sent(trace, "the sockets")
}

/// A socket pair the parent made: its descriptors and their /proc names.
struct PairMade<'a> {
    fds: [i32; 2],
    targets: &'a [String; 2],
}

/// A socket the parent bound to a path (named or abstract).
struct ListenerMade<'a> {
    fd: i32,
    target: &'a str,
    path: &'a str,
}

/// The Unix-domain socket pairs and bound sockets among these events.
fn parent_sockets(events: &[Event]) -> (Vec<PairMade<'_>>, Vec<ListenerMade<'_>>) {
    let mut pairs = Vec::new();
    let mut listeners = Vec::new();
    for event in events {
        match event {
            Event::SocketPair {
                domain,
                fds,
                targets,
                ret: 0,
            } if *domain == libc::AF_UNIX => pairs.push(PairMade { fds: *fds, targets }),
            Event::Bind {
                fd,
                target,
                path,
                ret: 0,
            } if !path.is_empty() => listeners.push(ListenerMade {
                fd: *fd,
                target,
                path,
            }),
            _ => {}
        }
    }
    (pairs, listeners)
}

/// True if the process held (at exit) or closed a descriptor with this /proc target.
fn holds_or_closed_target(process: &Process, target: &str) -> bool {
    process.fds_at_exit.iter().any(|fd| fd.target == target)
        || process
            .events
            .iter()
            .any(|e| matches!(e, Event::Close { target: t, .. } if t == target))
}

pub(super) fn closes_unused_socket_ends(case: &Case<'_>) -> Result<(), String> {
    let trace = &case.run.trace;
    let root = trace.root().expect("a completed run has a root");
    let (before, _) = before_first_fork(root);
    let (pairs, listeners) = parent_sockets(before);
    if pairs.is_empty() && listeners.is_empty() {
        return Err(
            "the parent made no socket before forking (neither a socket pair nor a socket \
             bound to a path)"
                .to_string(),
        );
    }
    for listener in &listeners {
        for (_, worker) in trace.children_of(0) {
            if let Some(fd) = worker
                .fds_at_exit
                .iter()
                .find(|fd| fd.target == listener.target)
            {
                return Err(format!(
                    "{} never closed fd {}, the listening socket (fd {} of the parent, bound \
                     to {}) it inherited: only the parent accepts connections, so a worker \
                     closes it right after fork",
                    worker.name(),
                    fd.fd,
                    listener.fd,
                    visible(listener.path)
                ));
            }
        }
    }
    for pair in &pairs {
        // The parent keeps the end it does not close; the workers' end is the other.
        let closed_at = |target: &String| {
            root.events
                .iter()
                .rposition(|e| matches!(e, Event::Close { target: t, .. } if t == target))
        };
        let closes = [closed_at(&pair.targets[0]), closed_at(&pair.targets[1])];
        let parent_end = match closes {
            [None, None] => {
                return Err(format!(
                    "the parent never closed either end of the socket pair (fds {} and {}): \
                     it reads from one, so it closes the other, the workers' end, before \
                     reading, or read() never sees end-of-file",
                    pair.fds[0], pair.fds[1]
                ));
            }
            [Some(_), None] => 1,
            [None, Some(_)] => 0,
            // Both closed: the one closed last is the one it read from.
            [Some(a), Some(b)] => usize::from(b > a),
        };
        for (_, worker) in trace.children_of(0) {
            if let Some(fd) = worker
                .fds_at_exit
                .iter()
                .find(|fd| fd.target == pair.targets[parent_end])
            {
                return Err(format!(
                    "{} never closed fd {}, the parent's end of the socket pair: a worker \
                     closes it right after fork",
                    worker.name(),
                    fd.fd
                ));
            }
        }
    }
    Ok(())
}

/// The parent made a pipe before forking, every worker inherited its write end, and the
/// workers wrote bytes somewhere other than stdout/stderr.
fn pipe_carried_results(trace: &Trace) -> Result<(), String> {
    let root = trace.root().expect("a completed run has a root");
    let first_fork = root
        .events
        .iter()
        .position(|e| matches!(e, Event::Spawn { thread: false, .. }));
    let pipes_before_fork: Vec<&str> = root.events[..first_fork.unwrap_or(root.events.len())]
        .iter()
        .filter_map(|e| match e {
            Event::Pipe { inode, .. } => Some(inode.as_str()),
            _ => None,
        })
        .collect();
    if pipes_before_fork.is_empty() {
        return Err(if first_fork.is_none() {
            "the parent forked no worker".to_string()
        } else {
            "the parent made no pipe before forking, so the workers share no pipe with it \
             (call pipe() before fork())"
                .to_string()
        });
    }
    for (_, worker) in trace.children_of(0) {
        if !holds_or_closed(worker, &pipes_before_fork, true) {
            return Err(format!(
                "{} never had the pipe's write end (it neither closed it nor held it at exit)",
                worker.name()
            ));
        }
    }
    some_worker_sent(trace, "the pipe")
}

/// Bytes a process wrote through any descriptor other than the run's stdout and stderr
/// (kernel counter at exit, minus the traced writes to the standard streams), plus the
/// bytes it sent with sendto/sendmsg, which that counter misses.
fn bytes_sent_elsewhere(process: &Process) -> Option<u64> {
    let io = process.io_at_exit?;
    let standard: u64 = process
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Write {
                stream: Stream::Stdout | Stream::Stderr,
                bytes,
                ..
            } => Some(*bytes),
            _ => None,
        })
        .sum();
    let sent: u64 = process
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Send { bytes, .. } => Some(*bytes),
            _ => None,
        })
        .sum();
    Some(io.wchar.saturating_sub(standard) + sent)
}

/// True if the process held (at exit) or closed an end of one of these pipes; `write_end`
/// picks which end.
fn holds_or_closed(process: &Process, inodes: &[&str], write_end: bool) -> bool {
    let held = process
        .fds_at_exit
        .iter()
        .any(|fd| inodes.contains(&fd.target.as_str()) && fd.is_write_end() == write_end);
    // A close names the pipe but not the end; any close of the pipe counts.
    let closed = process
        .events
        .iter()
        .any(|e| matches!(e, Event::Close { target, .. } if inodes.contains(&target.as_str())));
    held || closed
}

/// One System V segment, created before forking, attached in every worker.
fn segment_carried_results(trace: &Trace) -> Result<(), String> {
    let ids: BTreeSet<i64> = trace
        .processes
        .iter()
        .flat_map(|p| &p.events)
        .filter_map(|e| match e {
            Event::ShmGet { ret, .. } if *ret >= 0 => Some(*ret),
            _ => None,
        })
        .collect();
    match ids.len() {
        0 => {
            return Err("no process created a System V segment (shmget)".to_string());
        }
        1 => {}
        n => {
            return Err(format!(
                "the program used {n} System V segments; one is enough (and each must be removed)"
            ));
        }
    }
    let attachments = super::lifecycle::attachments(trace);
    for (id, worker) in trace.children_of(0) {
        if !attachments[id].ever_attached {
            return Err(format!(
                "{} never had the segment attached: it could not have stored its factors there \
                 (shmat before fork, or in the worker)",
                worker.name()
            ));
        }
    }
    Ok(())
}

/// The parent created one /dev/shm object (shm_open) and mapped it MAP_SHARED before
/// forking, every worker had that mapping, and nothing else was mapped shared.
fn posix_shm_carried_results(trace: &Trace) -> Result<(), String> {
    let root = trace.root().expect("a completed run has a root");
    let (before, forked) = before_first_fork(root);
    let objects = super::lifecycle::shm_objects(trace);
    let created_before_fork: Vec<&str> = before
        .iter()
        .filter_map(|e| match e {
            Event::Open { path, ret, .. } if *ret >= 0 && objects.contains_key(path.as_str()) => {
                Some(path.as_str())
            }
            _ => None,
        })
        .collect();
    let Some(&raw_object) = created_before_fork.first() else {
        return Err(if !forked {
            "the parent forked no worker".to_string()
        } else if objects.is_empty() {
            "no process created a POSIX shared-memory object (shm_open with O_CREAT, a file \
             under /dev/shm)"
                .to_string()
        } else {
            "the object was created after forking, or by a worker: shm_open it in the parent \
             before fork(), so that every worker inherits its mapping"
                .to_string()
        });
    };
    if objects.len() > 1 {
        return Err(format!(
            "the program created {} shared-memory objects; one is enough (and each must be \
             unlinked)",
            objects.len()
        ));
    }
    let mappings = super::lifecycle::mappings(trace);
    let object = visible(raw_object);
    for (process, mapped) in trace.processes.iter().zip(&mappings) {
        if let Some(other) = mapped.others.first() {
            return Err(format!(
                "{} made a shared mapping (mmap MAP_SHARED) of {other}; in this part the \
                 results travel through a shared mapping of {object} only",
                process.name()
            ));
        }
    }
    if !mappings[0].ever.iter().any(|p| p == raw_object) {
        return Err(format!(
            "the parent never mapped {object} with MAP_SHARED: without it, what a worker \
             writes stays in that worker (a MAP_PRIVATE mapping, or anonymous memory, is each \
             process's own copy after fork)"
        ));
    }
    for (id, worker) in trace.children_of(0) {
        if !mappings[id].ever.iter().any(|p| p == raw_object) {
            return Err(format!(
                "{} never had {object} mapped MAP_SHARED: it could not have stored its factors \
                 there (mmap before fork, so that the worker inherits the mapping)",
                worker.name()
            ));
        }
    }
    Ok(())
}

pub(super) fn closes_unused_pipe_ends(case: &Case<'_>) -> Result<(), String> {
    let trace = &case.run.trace;
    let pipes: Vec<&str> = trace
        .processes
        .iter()
        .flat_map(|p| &p.events)
        .filter_map(|e| match e {
            Event::Pipe { inode, .. } => Some(inode.as_str()),
            _ => None,
        })
        .collect();
    if pipes.is_empty() {
        return Err("the program made no pipe".to_string());
    }
    for (id, process) in trace.processes.iter().enumerate() {
        // Workers only write and the parent only reads: each must close the other end.
        let (unused_is_write, role, why) = if id == 0 {
            (
                true,
                "write",
                "close it before reading, or read() never sees end-of-file",
            )
        } else {
            (false, "read", "close it right after fork")
        };
        if let Some(fd) = process
            .fds_at_exit
            .iter()
            .find(|fd| pipes.contains(&fd.target.as_str()) && fd.is_write_end() == unused_is_write)
        {
            // Descriptors are read at the exit stop, so for a process killed with the run
            // they are those it held where the run was cut.
            let (held, when) = if super::cut_short(trace, process) {
                ("still held", ", when the run was cut")
            } else {
                ("never closed", "")
            };
            return Err(format!(
                "{} {held} fd {}, the {role} end of the pipe it does not use{when}: {why}",
                process.name(),
                fd.fd
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::{Captured, Isolation, RunOutcome, RunStatus};
    use crate::trace::model::{IoCounters, OpenFd};
    use std::time::Duration;

    const PARENT_END: &str = "socket:[10]";
    const WORKER_END: &str = "socket:[11]";

    fn held(fd: i32, target: &str) -> OpenFd {
        OpenFd {
            fd,
            target: target.to_string(),
            flags: libc::O_RDWR as u32,
        }
    }

    /// A parent that makes a socket pair (fds 3 and 4) and forks two workers that write to
    /// fd 4; `parent_closes` and `workers_close` say which ends each closes.
    fn socket_pair_run(parent_closes: &[(i32, &str)], workers_close: &[(i32, &str)]) -> RunOutcome {
        let mut parent = Process::new(100, None, "parent".into());
        parent.events.push(Event::SocketPair {
            domain: libc::AF_UNIX,
            fds: [3, 4],
            targets: [PARENT_END.to_string(), WORKER_END.to_string()],
            ret: 0,
        });
        for child in [1, 2] {
            parent.events.push(Event::Spawn {
                child,
                thread: false,
            });
        }
        let close = |&(fd, target): &(i32, &str)| Event::Close {
            fd,
            target: target.to_string(),
        };
        parent.events.extend(parent_closes.iter().map(close));
        let mut processes = vec![parent];
        for (pid, label) in [(101, "worker 1"), (102, "worker 2")] {
            let mut worker = Process::new(pid, Some(0), label.into());
            worker.events.extend(workers_close.iter().map(close));
            let closed = |target: &str| workers_close.iter().any(|(_, t)| *t == target);
            worker.fds_at_exit = [(3, PARENT_END), (4, WORKER_END)]
                .into_iter()
                .filter(|(_, target)| !closed(target))
                .map(|(fd, target)| held(fd, target))
                .collect();
            worker.io_at_exit = Some(IoCounters {
                wchar: 80,
                ..IoCounters::default()
            });
            processes.push(worker);
        }
        RunOutcome {
            status: RunStatus::Completed,
            trace: Trace {
                processes,
                full: false,
                clock: 0,
            },
            stdout: Captured::default(),
            stderr: Captured::default(),
            wall: Duration::ZERO,
            hang: Vec::new(),
            cpu_at_cut: Vec::new(),
            leaks: Vec::new(),
            isolation: Isolation::Fallback,
            client: Vec::new(),
            filled: Vec::new(),
        }
    }

    fn case(run: &RunOutcome) -> Case<'_> {
        Case {
            input: "small",
            stdin: "60\n",
            args: &[],
            run,
        }
    }

    #[test]
    fn a_socket_pair_used_like_a_pipe_passes() {
        let run = socket_pair_run(&[(4, WORKER_END)], &[(3, PARENT_END)]);
        assert_eq!(closes_unused_socket_ends(&case(&run)), Ok(()));
        assert_eq!(channel(&case(&run), Mechanism::UnixSocket), Ok(()));
        let message = channel(&case(&run), Mechanism::Pipe).unwrap_err();
        assert!(
            message.contains("made a socket pair (AF_UNIX)"),
            "{message}"
        );
    }

    #[test]
    fn a_parent_that_keeps_both_ends_fails() {
        let run = socket_pair_run(&[], &[(3, PARENT_END)]);
        let message = closes_unused_socket_ends(&case(&run)).unwrap_err();
        assert!(message.contains("never closed either end"), "{message}");
    }

    #[test]
    fn a_worker_that_keeps_the_parents_end_fails() {
        let run = socket_pair_run(&[(4, WORKER_END)], &[]);
        let message = closes_unused_socket_ends(&case(&run)).unwrap_err();
        assert!(
            message.starts_with("worker 1 (pid 101) never closed fd 3, the parent's end"),
            "{message}"
        );
    }

    #[test]
    fn workers_that_close_both_ends_used_the_pair_and_a_late_pair_is_none() {
        // The workers closed both ends at once: they had them, so they count as users.
        let run = socket_pair_run(&[(4, WORKER_END)], &[(3, PARENT_END), (4, WORKER_END)]);
        assert_eq!(channel(&case(&run), Mechanism::UnixSocket), Ok(()));
        // A pair made after forking is no channel to the workers.
        let mut run = socket_pair_run(&[(4, WORKER_END)], &[(3, PARENT_END)]);
        run.trace.processes[0].events.rotate_left(1);
        let message = channel(&case(&run), Mechanism::UnixSocket).unwrap_err();
        assert!(
            message.contains("made no Unix-domain socket before forking"),
            "{message}"
        );
    }
}
