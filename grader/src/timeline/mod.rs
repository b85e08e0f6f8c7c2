//! The timeline of one run: a lane per process, a band per channel object, and the marks
//! between them (forks, uses, closes, signals, holds, exits, reaps, a hang's frozen end),
//! laid out on one order of steps.
//!
//! [`Timeline::of`] is a pure function of a [`RunOutcome`] (its trace and its hang
//! snapshot); [`svg`], [`mermaid`] and [`perfetto`] only draw it, so the three pictures tell
//! the same story.
//!
//! **Time** is the order of events, not their duration. The trace stamps signals, holds
//! and ends with a run-wide clock (`at`); every other event is known only by its place in
//! its own process's list. The steps are one order consistent with all of that: a child's
//! events after its fork, a reap after the child's end, clocked events in clock order.
//!
//! **Long runs compress**: consecutive events of one kind on one channel become one mark
//! with a count (thousands of writes, one band "write ×2000"); a lane with still too many
//! marks merges its ordinary calls further, keeping forks, reaps, holds and the end.
//!
//! Program-controlled text (paths, names, executables) is made [`visible`] here; each
//! renderer escapes for its own syntax.

pub mod mermaid;
pub mod perfetto;
pub mod svg;

use crate::checks::signal_name;
use crate::escape::visible;
use crate::run::{RunOutcome, RunStatus};
use crate::trace::model::{Disposition, End, Event, ProcId, Stream};
use std::collections::{BTreeMap, BTreeSet};

/// Marks a lane may keep before its ordinary calls are merged (see the module doc).
const LANE_MARKS: usize = 60;

/// Marks the whole timeline may keep: the lanes share them.
const TOTAL_MARKS: usize = 600;

/// Channel bands at most; the channels past them share the last one.
const BANDS: usize = 24;

/// A run, drawn.
#[derive(Debug, Clone, PartialEq)]
pub struct Timeline {
    /// One per process, in the trace's order (index 0 is the program started).
    pub lanes: Vec<Lane>,
    /// Pipes, FIFOs, sockets, queues, segments, shared objects and the output streams, in
    /// order of first use.
    pub channels: Vec<Channel>,
    /// Every mark, in step order.
    pub marks: Vec<Mark>,
    /// Signals from a sender's mark to the receiver's delivery mark (indices in `marks`).
    pub signals: Vec<(usize, usize)>,
    /// Steps `0..steps`; the frozen end, if any, is the last.
    pub steps: usize,
    /// The step at which a hang froze every process (the watchdog's snapshot).
    pub frozen: Option<usize>,
    /// How the run ended, in words: `completed`, `timed out`, ….
    pub status: &'static str,
    /// What the hang report says (`run::hang::explain`), one sentence each.
    pub notes: Vec<String>,
}

/// A process's lane.
#[derive(Debug, Clone, PartialEq)]
pub struct Lane {
    /// As the report names it ([`crate::trace::Process::name`]): `worker 1 (pid 4242)`.
    pub name: String,
    pub pid: i32,
    /// The last executable it ran, made visible.
    pub exe: String,
    /// The step of its first mark and of its last.
    pub start: usize,
    pub end: usize,
}

/// What a channel object is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ChannelKind {
    Pipe,
    Fifo,
    Socket,
    Queue,
    SysvSegment,
    PosixShm,
    SharedMapping,
    Output,
}

/// A channel object's band.
#[derive(Debug, Clone, PartialEq)]
pub struct Channel {
    pub kind: ChannelKind,
    /// `pipe 1`, `FIFO /tmp/f`, `queue /q`, `segment id 5`, `stdout`, made visible.
    pub name: String,
    /// The steps of its first mark and its last.
    pub start: usize,
    pub end: usize,
    /// True once some process removed it (unlink, IPC_RMID, mq_unlink).
    pub removed: bool,
}

/// One mark on a lane, over the steps `step..=until` (a single step for most).
#[derive(Debug, Clone, PartialEq)]
pub struct Mark {
    pub lane: usize,
    pub step: usize,
    pub until: usize,
    pub kind: MarkKind,
    /// Short, for the picture: `write ×40`, `close w`, `exit 0`.
    pub label: String,
    /// Everything known, for a tooltip: `40 writes to stdout, 480 bytes`.
    pub detail: String,
    /// The channel used, if any (index in [`Timeline::channels`]).
    pub channel: Option<usize>,
    /// Evidence of a failure: a blocked call, an end held open at a hang, a crash.
    pub alert: bool,
}

/// What a mark stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkKind {
    /// A fork; the child's lane.
    Fork { child: usize },
    /// A channel made (pipe, mkfifo, shmget, mq_open with O_CREAT, …).
    Create,
    /// A channel used: a write, a send, an attach, a map.
    Use,
    /// One end of a channel closed, a segment detached, a mapping unmapped.
    Close,
    /// A channel removed by name (unlink, IPC_RMID, mq_unlink).
    Remove,
    /// Signal work that is neither a send nor a delivery (sigaction, sigprocmask, waits).
    SignalSetup,
    /// A signal sent, to the lane it names (if it is one of the run's).
    SignalSent { signal: i32, to: Option<usize> },
    /// A signal delivered; `handled` if a handler ran for it.
    SignalDelivered { signal: i32, handled: bool },
    /// The grader held the process stopped (the input's `hold`).
    Held,
    /// The process reaped a child (its lane).
    Reap { child: usize },
    /// How the process ended.
    Exit,
    /// The call the process was blocked in when the run froze.
    Blocked,
    /// A channel end the process still held when the run froze.
    Holds,
    /// Anything else worth a mark (a refused call, a thread, other IPC).
    Other,
}

impl Timeline {
    /// The timeline of a run.
    pub fn of(run: &RunOutcome) -> Timeline {
        let trace = &run.trace;
        let fifos = fifo_paths(run);
        let mut channels = Channels::default();
        // Each process's entries, built in creation order so that a child starts from the
        // descriptor table its parent had at the fork.
        let mut tables: Vec<Option<Table>> = vec![None; trace.processes.len()];
        let mut entries: Vec<Vec<Entry>> = Vec::with_capacity(trace.processes.len());
        let hung = !run.hang.is_empty();
        for (id, process) in trace.processes.iter().enumerate() {
            let mut table = tables[id].take().unwrap_or_default();
            let mut list = Vec::new();
            for event in &process.events {
                if let Event::Spawn {
                    child,
                    thread: false,
                } = event
                    && *child < tables.len()
                {
                    tables[*child] = Some(table.clone());
                }
                if let Some(entry) = describe(event, &mut table, &mut channels, &fifos) {
                    list.push(entry);
                }
            }
            match process.end {
                // The grader's kill after a hang is drawn at the frozen end.
                Some(End::Killed) if hung => {}
                Some(end) => {
                    let mut entry = Entry::new(
                        process.ended_at,
                        MarkKind::Exit,
                        None,
                        end_words(end),
                        !matches!(end, End::Exited { code: 0 }),
                    );
                    let open: Vec<String> = process
                        .fds_at_exit
                        .iter()
                        .filter_map(|fd| {
                            let channel = channels.keys.iter().position(|k| *k == fd.target)?;
                            let end = if fd.is_write_end() { "write" } else { "read" };
                            Some(format!(
                                "the {end} end of {} (fd {})",
                                channels.names[channel].1, fd.fd
                            ))
                        })
                        .collect();
                    if !open.is_empty() {
                        entry.detail.push_str(&format!(
                            "; still open when it ended (closed by the exit): {}",
                            open.join(", ")
                        ));
                    }
                    // Pipe traffic is not traced call by call: the kernel's counters say it.
                    if let Some(io) = process.io_at_exit {
                        entry.detail.push_str(&format!(
                            "; in all it read {} and wrote {} (/proc counters, every \
                             descriptor)",
                            size(io.rchar),
                            size(io.wchar)
                        ));
                    }
                    list.push(entry);
                }
                None => {}
            }
            entries.push(list);
        }
        let budget = (TOTAL_MARKS / trace.processes.len().max(1)).clamp(8, LANE_MARKS);
        for list in &mut entries {
            compress(list, budget);
        }
        let placed = schedule(run, &entries);
        build(run, entries, placed, channels)
    }
}

/// The words for how a process ended.
fn end_words(end: End) -> String {
    match end {
        End::Exited { code } => format!("exit {code}"),
        End::Signaled { signal, .. } => format!("killed by {}", signal_name(signal)),
        End::Killed => "killed by the grader".to_string(),
    }
}

/// Every path some process made a FIFO at.
fn fifo_paths(run: &RunOutcome) -> BTreeSet<String> {
    run.trace
        .processes
        .iter()
        .flat_map(|p| &p.events)
        .filter_map(|e| match e {
            Event::Mknod { path, mode, ret: 0 } if mode & libc::S_IFMT == libc::S_IFIFO => {
                Some(path.clone())
            }
            _ => None,
        })
        .collect()
}

/// The channels seen so far, by a key of their own (`pipe:[N]`, `fifo:PATH`, …).
#[derive(Debug, Default)]
struct Channels {
    keys: Vec<String>,
    names: Vec<(ChannelKind, String)>,
    pipes: usize,
}

impl Channels {
    fn get(&mut self, key: &str, kind: ChannelKind, name: impl FnOnce(usize) -> String) -> usize {
        if let Some(i) = self.keys.iter().position(|k| k == key) {
            return i;
        }
        if kind == ChannelKind::Pipe {
            self.pipes += 1;
        }
        self.keys.push(key.to_string());
        self.names.push((kind, name(self.pipes)));
        self.keys.len() - 1
    }

    fn pipe(&mut self, target: &str) -> usize {
        self.get(target, ChannelKind::Pipe, |n| format!("pipe {n}"))
    }

    fn output(&mut self, stream: &Stream) -> Option<usize> {
        match stream {
            Stream::Stdout => Some(self.get("stdout", ChannelKind::Output, |_| "stdout".into())),
            Stream::Stderr => Some(self.get("stderr", ChannelKind::Output, |_| "stderr".into())),
            Stream::Other(_) => None,
        }
    }
}

/// What a descriptor refers to, as far as the timeline cares: a channel, and for a pipe
/// which end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FdRef {
    channel: usize,
    end: Option<PipeEnd>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PipeEnd {
    Read,
    Write,
}

/// A process's descriptors and mappings, copied into each child at its fork.
#[derive(Debug, Clone, Default)]
struct Table {
    fds: BTreeMap<i32, FdRef>,
    /// Queue descriptors (a separate number space in principle; Linux uses fds).
    mqds: BTreeMap<i32, usize>,
    /// Attached segments and shared mappings by address.
    maps: BTreeMap<u64, usize>,
    /// System V segments by id.
    segments: BTreeMap<i64, usize>,
}

/// One mark before it has a step: what [`describe`] makes of an event, then merged.
#[derive(Debug, Clone)]
struct Entry {
    /// The trace clock, for the events that carry it.
    at: Option<u64>,
    kind: MarkKind,
    channel: Option<usize>,
    /// What was done, by verb (`write`, `close w`), with how often: one verb unless merged.
    verbs: BTreeMap<String, u64>,
    /// Bytes moved, if the calls say.
    bytes: Option<u64>,
    /// A sentence, kept for a single event.
    detail: String,
    alert: bool,
    /// For a sent signal: whom to, and which; for a delivery, which.
    signal: Option<(Option<ProcId>, i32)>,
    /// For a fork or a reap: the other process.
    other: Option<ProcId>,
}

impl Entry {
    fn new(
        at: Option<u64>,
        kind: MarkKind,
        channel: Option<usize>,
        verb: String,
        alert: bool,
    ) -> Entry {
        Entry {
            at,
            kind,
            channel,
            detail: verb.clone(),
            verbs: BTreeMap::from([(verb, 1)]),
            bytes: None,
            alert,
            signal: None,
            other: None,
        }
    }

    fn bytes(mut self, bytes: u64) -> Entry {
        self.bytes = Some(bytes);
        self
    }

    fn detail(mut self, detail: String) -> Entry {
        self.detail = detail;
        self
    }

    fn count(&self) -> u64 {
        self.verbs.values().sum()
    }

    /// Entries that stay marks of their own however long the lane.
    fn is_structural(&self) -> bool {
        matches!(
            self.kind,
            MarkKind::Fork { .. } | MarkKind::Reap { .. } | MarkKind::Exit | MarkKind::Held
        )
    }
}

/// The entry for one event, updating the process's table; `None` for events not drawn.
fn describe(
    event: &Event,
    table: &mut Table,
    channels: &mut Channels,
    fifos: &BTreeSet<String>,
) -> Option<Entry> {
    let plain =
        |kind, channel, verb: &str| Entry::new(None, kind, channel, verb.to_string(), false);
    Some(match event {
        Event::Spawn { child, thread } => {
            if *thread {
                return Some(plain(MarkKind::Other, None, "thread"));
            }
            let mut entry = plain(MarkKind::Fork { child: 0 }, None, "fork");
            entry.other = Some(*child);
            entry
        }
        Event::Refused { syscall, reason } => Entry::new(
            None,
            MarkKind::Other,
            None,
            format!("refused {}", visible(syscall)),
            true,
        )
        .detail(format!("{} refused: {}", visible(syscall), visible(reason))),
        Event::Pipe {
            read_fd,
            write_fd,
            inode,
        } => {
            let channel = channels.pipe(inode);
            let fd = |end| FdRef {
                channel,
                end: Some(end),
            };
            table.fds.insert(*read_fd, fd(PipeEnd::Read));
            table.fds.insert(*write_fd, fd(PipeEnd::Write));
            plain(MarkKind::Create, Some(channel), "pipe").detail(format!(
                "pipe(): read end fd {read_fd}, write end fd {write_fd}"
            ))
        }
        Event::Close { fd, target } => {
            let known = table.fds.remove(fd);
            let fd_ref = match known {
                Some(r) => r,
                None if target.starts_with("pipe:") => FdRef {
                    channel: channels.pipe(target),
                    end: None,
                },
                None => return None,
            };
            let verb = match fd_ref.end {
                Some(PipeEnd::Read) => "close r",
                Some(PipeEnd::Write) => "close w",
                None => "close",
            };
            let end = match fd_ref.end {
                Some(PipeEnd::Read) => "read end",
                Some(PipeEnd::Write) => "write end",
                None => "descriptor",
            };
            plain(MarkKind::Close, Some(fd_ref.channel), verb)
                .detail(format!("close(fd {fd}): the {end}"))
        }
        Event::Dup { old, new, .. } => {
            let fd_ref = *table.fds.get(old)?;
            table.fds.insert(*new, fd_ref);
            plain(MarkKind::Use, Some(fd_ref.channel), "dup")
                .detail(format!("dup: fd {new} is now fd {old}"))
        }
        Event::Write {
            syscall,
            stream,
            bytes,
            in_handler,
            ..
        } => {
            let channel = channels.output(stream)?;
            let mut entry = Entry::new(
                None,
                MarkKind::Use,
                Some(channel),
                "write".into(),
                in_handler.is_some(),
            )
            .bytes(*bytes)
            .detail(format!("{syscall}: {bytes} bytes"));
            if let Some(signal) = in_handler {
                entry
                    .detail
                    .push_str(&format!(", inside the {} handler", signal_name(*signal)));
            }
            entry
        }
        Event::Open { path, flags, ret } if *ret >= 0 => {
            let (key, kind, name) = if path.starts_with("/dev/shm/") {
                (
                    format!("posix:{path}"),
                    ChannelKind::PosixShm,
                    visible(path).into_owned(),
                )
            } else if fifos.contains(path) {
                (
                    format!("fifo:{path}"),
                    ChannelKind::Fifo,
                    format!("FIFO {}", visible(path)),
                )
            } else {
                return None;
            };
            let channel = channels.get(&key, kind, |_| name);
            let end = match flags & libc::O_ACCMODE {
                libc::O_RDONLY => Some(PipeEnd::Read),
                libc::O_WRONLY => Some(PipeEnd::Write),
                _ => None,
            };
            table.fds.insert(*ret as i32, FdRef { channel, end });
            let verb = match (kind, end) {
                (ChannelKind::Fifo, Some(PipeEnd::Read)) => "open r",
                (ChannelKind::Fifo, Some(PipeEnd::Write)) => "open w",
                _ => "open",
            };
            plain(MarkKind::Use, Some(channel), verb)
                .detail(format!("open({}) = fd {ret}", visible(path)))
        }
        Event::Unlink { path, ret: 0 } => {
            let key = if path.starts_with("/dev/shm/") {
                format!("posix:{path}")
            } else if fifos.contains(path) {
                format!("fifo:{path}")
            } else {
                format!("socket:{path}")
            };
            let channel = channels.keys.iter().position(|k| *k == key)?;
            plain(MarkKind::Remove, Some(channel), "unlink")
                .detail(format!("unlink({})", visible(path)))
        }
        Event::Mknod { path, ret: 0, .. } if fifos.contains(path) => {
            let channel = channels.get(&format!("fifo:{path}"), ChannelKind::Fifo, |_| {
                format!("FIFO {}", visible(path))
            });
            plain(MarkKind::Create, Some(channel), "mkfifo")
                .detail(format!("mkfifo({})", visible(path)))
        }
        Event::SocketPair {
            fds,
            targets,
            ret: 0,
            ..
        } => {
            let channel = channels.get(&targets[0], ChannelKind::Socket, |_| {
                format!("socket pair ({})", visible(&targets[0]))
            });
            for fd in fds {
                table.fds.insert(*fd, FdRef { channel, end: None });
            }
            plain(MarkKind::Create, Some(channel), "socketpair")
        }
        Event::Bind {
            fd, path, ret: 0, ..
        }
        | Event::Connect { fd, path, ret: 0 }
            if !path.is_empty() =>
        {
            let channel = channels.get(&format!("socket:{path}"), ChannelKind::Socket, |_| {
                format!("socket {}", visible(path))
            });
            table.fds.insert(*fd, FdRef { channel, end: None });
            let (kind, verb) = match event {
                Event::Bind { .. } => (MarkKind::Create, "bind"),
                _ => (MarkKind::Use, "connect"),
            };
            plain(kind, Some(channel), verb).detail(format!("{verb}({})", visible(path)))
        }
        Event::Accept { fd, ret } if *ret >= 0 => {
            let fd_ref = *table.fds.get(fd)?;
            table.fds.insert(*ret as i32, fd_ref);
            plain(MarkKind::Use, Some(fd_ref.channel), "accept")
        }
        Event::Send { syscall, fd, bytes } => {
            let fd_ref = *table.fds.get(fd)?;
            plain(MarkKind::Use, Some(fd_ref.channel), "send")
                .bytes(*bytes)
                .detail(format!("{syscall}: {bytes} bytes"))
        }
        Event::MqOpen { name, flags, ret } if *ret >= 0 => {
            let channel = channels.get(&format!("mq:{name}"), ChannelKind::Queue, |_| {
                format!("queue {}", visible(name))
            });
            table.mqds.insert(*ret as i32, channel);
            let kind = if flags & libc::O_CREAT != 0 {
                MarkKind::Create
            } else {
                MarkKind::Use
            };
            plain(kind, Some(channel), "mq_open")
                .detail(format!("mq_open({}) = {ret}", visible(name)))
        }
        Event::MqUnlink { name, ret: 0 } => {
            let channel = channels
                .keys
                .iter()
                .position(|k| *k == format!("mq:{name}"))?;
            plain(MarkKind::Remove, Some(channel), "mq_unlink")
        }
        Event::MqSend { mqd, bytes, .. } => {
            let channel = *table.mqds.get(mqd)?;
            plain(MarkKind::Use, Some(channel), "send")
                .bytes(*bytes)
                .detail(format!("mq_send: {bytes} bytes"))
        }
        Event::MqReceive { mqd, .. } => {
            let channel = *table.mqds.get(mqd)?;
            plain(MarkKind::Use, Some(channel), "receive")
        }
        Event::ShmGet { size, ret, .. } if *ret >= 0 => {
            let channel = channels.get(&format!("sysv:{ret}"), ChannelKind::SysvSegment, |_| {
                format!("segment id {ret}")
            });
            table.segments.insert(*ret, channel);
            plain(MarkKind::Create, Some(channel), "shmget")
                .detail(format!("shmget: {size} bytes, id {ret}"))
        }
        Event::ShmAt { shmid, ret } if *ret >= 0 => {
            let channel = channels.get(&format!("sysv:{shmid}"), ChannelKind::SysvSegment, |_| {
                format!("segment id {shmid}")
            });
            table.maps.insert(*ret as u64, channel);
            plain(MarkKind::Use, Some(channel), "shmat")
        }
        Event::ShmDt { addr, ret: 0 } => {
            let channel = table.maps.remove(addr)?;
            plain(MarkKind::Close, Some(channel), "shmdt")
        }
        Event::ShmCtl { shmid, cmd, ret: 0 } if *cmd == libc::IPC_RMID => {
            let channel = channels.get(&format!("sysv:{shmid}"), ChannelKind::SysvSegment, |_| {
                format!("segment id {shmid}")
            });
            plain(MarkKind::Remove, Some(channel), "IPC_RMID")
                .detail(format!("shmctl({shmid}, IPC_RMID)"))
        }
        Event::OtherIpc { syscall, ret } => {
            plain(MarkKind::Other, None, syscall).detail(format!("{} = {ret}", visible(syscall)))
        }
        Event::MmapShared { len, fd, ret } if *ret >= 0 => {
            let channel = match table.fds.get(fd) {
                Some(fd_ref) if *fd >= 0 => fd_ref.channel,
                _ => channels.get(
                    &format!("mapping:{}:{ret}", channels.keys.len()),
                    ChannelKind::SharedMapping,
                    |_| format!("shared mapping ({len} bytes)"),
                ),
            };
            table.maps.insert(*ret as u64, channel);
            plain(MarkKind::Use, Some(channel), "mmap")
                .detail(format!("mmap(MAP_SHARED, {len} bytes)"))
        }
        Event::Munmap { addr, ret: 0, .. } => {
            let channel = table.maps.remove(addr)?;
            plain(MarkKind::Close, Some(channel), "munmap")
        }
        Event::Ftruncate { fd, len, ret: 0 } => {
            let fd_ref = *table.fds.get(fd)?;
            plain(MarkKind::Use, Some(fd_ref.channel), "ftruncate")
                .detail(format!("ftruncate: {len} bytes"))
        }
        Event::Wait {
            syscall, reaped, ..
        } => match reaped {
            Some(child) => {
                let mut entry = plain(MarkKind::Reap { child: 0 }, None, "reap");
                entry.other = Some(*child);
                entry.detail = format!("{syscall} reaped it");
                entry
            }
            None => plain(MarkKind::Other, None, syscall),
        },
        Event::Signal {
            signal,
            handled,
            at,
        } => {
            let name = signal_name(*signal);
            let mut entry = Entry::new(
                Some(*at),
                MarkKind::SignalDelivered {
                    signal: *signal,
                    handled: *handled,
                },
                None,
                format!("got {name}"),
                false,
            )
            .detail(if *handled {
                format!("{name} delivered; its handler ran")
            } else {
                format!("{name} delivered")
            });
            entry.signal = Some((None, *signal));
            entry
        }
        Event::SignalSent {
            syscall,
            to,
            signal,
            ret: 0,
            at,
            value,
            ..
        } => {
            let name = signal_name(*signal);
            let mut entry = Entry::new(
                Some(*at),
                MarkKind::SignalSent {
                    signal: *signal,
                    to: *to,
                },
                None,
                format!("send {name}"),
                false,
            )
            .detail(match value {
                Some(v) => format!("{syscall}: {name}, value {v}"),
                None => format!("{syscall}: {name}"),
            });
            entry.signal = Some((*to, *signal));
            entry
        }
        Event::SignalAction {
            signal,
            disposition,
            ret: 0,
            at,
        } => {
            let what = match disposition {
                Disposition::Default => "default",
                Disposition::Ignore => "ignore",
                Disposition::Handler => "handler",
            };
            Entry::new(
                Some(*at),
                MarkKind::SignalSetup,
                None,
                format!("{what} {}", signal_name(*signal)),
                false,
            )
        }
        Event::SignalMask {
            how,
            signals,
            ret: 0,
            at,
        } if !signals.is_empty() => {
            let verb = match *how {
                libc::SIG_BLOCK => "block",
                libc::SIG_UNBLOCK => "unblock",
                _ => "mask",
            };
            let names: Vec<String> = signals.iter().map(|s| signal_name(*s)).collect();
            Entry::new(
                Some(*at),
                MarkKind::SignalSetup,
                None,
                verb.to_string(),
                false,
            )
            .detail(format!("{verb} {}", names.join(", ")))
        }
        Event::SignalWait { syscall, at, .. } => Entry::new(
            Some(*at),
            MarkKind::SignalSetup,
            None,
            syscall.trim_start_matches("rt_").to_string(),
            false,
        ),
        Event::Held {
            point,
            until,
            met,
            waited_ms,
            at,
        } => Entry::new(Some(*at), MarkKind::Held, None, "held".into(), false).detail(format!(
            "held by the grader {point}, {until}: {} after {waited_ms} ms",
            if *met { "released" } else { "let go" }
        )),
        _ => return None,
    })
}

/// Merges consecutive entries until the lane keeps at most `budget` (see the module doc):
/// first those of one kind, verb and channel; then ordinary single calls (a long run of
/// one kind keeps its mark); then any ordinary ones; then all but the structural ones.
fn compress(list: &mut Vec<Entry>, budget: usize) {
    merge_runs(list, |a, b| {
        a.kind == b.kind
            && a.channel == b.channel
            // Signal set-up (the runtime's own sigactions, a mask) reads as one mark.
            && (a.verbs.keys().eq(b.verbs.keys()) || a.kind == MarkKind::SignalSetup)
            && a.signal == b.signal
            && a.alert == b.alert
            && !a.is_structural()
            && !matches!(a.kind, MarkKind::Create | MarkKind::Remove)
    });
    let ordinary = |e: &Entry| {
        matches!(
            e.kind,
            MarkKind::Use | MarkKind::Other | MarkKind::SignalSetup | MarkKind::Close
        ) && !e.alert
    };
    // Single calls first, so that a long run of one kind keeps its own mark.
    if list.len() > budget {
        merge_runs(list, |a, b| {
            ordinary(a) && ordinary(b) && a.count() == 1 && b.count() == 1
                || ordinary(a) && a.verbs.len() > 1 && b.count() == 1
        });
    }
    if list.len() > budget {
        merge_runs(list, |a, b| ordinary(a) && ordinary(b));
    }
    if list.len() > budget {
        merge_runs(list, |a, b| !a.is_structural() && !b.is_structural());
    }
}

/// Merges each run of consecutive entries that `same` says belong together.
fn merge_runs(list: &mut Vec<Entry>, same: impl Fn(&Entry, &Entry) -> bool) {
    let mut merged: Vec<Entry> = Vec::with_capacity(list.len());
    for entry in list.drain(..) {
        match merged.last_mut() {
            Some(last) if same(last, &entry) => {
                for (verb, n) in entry.verbs {
                    *last.verbs.entry(verb).or_default() += n;
                }
                last.bytes = match (last.bytes, entry.bytes) {
                    (None, None) => None,
                    (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
                };
                if last.kind != entry.kind {
                    last.kind = MarkKind::Other;
                }
                if last.channel != entry.channel {
                    last.channel = None;
                }
                if last.signal != entry.signal {
                    last.signal = None;
                    last.kind = MarkKind::Other;
                }
                last.at = last.at.or(entry.at);
                last.alert |= entry.alert;
            }
            _ => merged.push(entry),
        }
    }
    *list = merged;
}

/// The step of every entry (`placed[process][entry]`), one order consistent with forks,
/// reaps and the trace clock; the frozen end (if any) comes after them all.
fn schedule(run: &RunOutcome, entries: &[Vec<Entry>]) -> Vec<Vec<usize>> {
    let trace = &run.trace;
    let n = entries.len();
    // The clock of the next clocked entry at or after each one: an unclocked entry
    // happened before it.
    let keys: Vec<Vec<u64>> = entries
        .iter()
        .map(|list| {
            let mut next = u64::MAX;
            let mut keys = vec![0; list.len()];
            for (i, entry) in list.iter().enumerate().rev() {
                next = entry.at.unwrap_or(next);
                keys[i] = next;
            }
            keys
        })
        .collect();
    let mut head = vec![0usize; n];
    let mut started: Vec<bool> = (0..n)
        .map(|id| trace.processes[id].parent.is_none() || !forked_by_parent(run, id))
        .collect();
    let mut order: Vec<(ProcId, usize)> = Vec::new();
    let total: usize = entries.iter().map(Vec::len).sum();
    for _ in 0..total {
        let finished = |id: ProcId, head: &[usize]| id >= n || head[id] == entries[id].len();
        let candidates = (0..n).filter(|&p| head[p] < entries[p].len());
        let ready = |p: &usize| {
            let entry = &entries[*p][head[*p]];
            started[*p]
                && match (entry.kind, entry.other) {
                    (MarkKind::Reap { .. }, Some(child)) => finished(child, &head),
                    _ => true,
                }
        };
        let pick = candidates
            .clone()
            .filter(ready)
            .min_by_key(|&p| (keys[p][head[p]], p))
            // Nothing is ready only if the trace contradicts itself: go on in clock order.
            .or_else(|| candidates.min_by_key(|&p| (!started[p], keys[p][head[p]], p)));
        let Some(p) = pick else { break };
        let entry = &entries[p][head[p]];
        if let (MarkKind::Fork { .. }, Some(child)) = (entry.kind, entry.other)
            && child < n
        {
            started[child] = true;
        }
        order.push((p, head[p]));
        head[p] += 1;
    }
    columns(entries, &order)
}

/// The step of each entry, given one order of them all: as early as what it follows allows
/// (the lane's previous entry, the fork for a child's first, the child's end for a reap,
/// the previous clocked entry for a clocked one), so that what happened side by side in
/// two processes shares a step.
fn columns(entries: &[Vec<Entry>], order: &[(ProcId, usize)]) -> Vec<Vec<usize>> {
    let mut placed: Vec<Vec<Option<usize>>> = entries.iter().map(|l| vec![None; l.len()]).collect();
    let mut fork_step: BTreeMap<ProcId, usize> = BTreeMap::new();
    let mut last_clocked: Option<usize> = None;
    for &(p, i) in order {
        let entry = &entries[p][i];
        let mut step = 0;
        let after = |s: Option<usize>, step: &mut usize| {
            if let Some(s) = s {
                *step = (*step).max(s + 1);
            }
        };
        if i > 0 {
            after(placed[p][i - 1], &mut step);
        } else {
            after(fork_step.get(&p).copied(), &mut step);
        }
        if let (MarkKind::Reap { .. }, Some(child)) = (entry.kind, entry.other)
            && let Some(last) = placed.get(child).and_then(|l| l.last().copied().flatten())
        {
            after(Some(last), &mut step);
        }
        if entry.at.is_some() {
            after(last_clocked, &mut step);
            last_clocked = Some(last_clocked.map_or(step, |l| l.max(step)));
        }
        if let (MarkKind::Fork { .. }, Some(child)) = (entry.kind, entry.other) {
            fork_step.insert(child, step);
        }
        placed[p][i] = Some(step);
    }
    placed
        .into_iter()
        .map(|l| l.into_iter().map(|s| s.unwrap_or(0)).collect())
        .collect()
}

/// True if the process's parent's events record the fork that made it.
fn forked_by_parent(run: &RunOutcome, id: ProcId) -> bool {
    let Some(parent) = run.trace.processes[id].parent else {
        return false;
    };
    run.trace.processes[parent]
        .events
        .iter()
        .any(|e| matches!(e, Event::Spawn { child, thread: false } if *child == id))
}

/// Steps given, the marks, lanes, channels and the frozen end.
fn build(
    run: &RunOutcome,
    entries: Vec<Vec<Entry>>,
    placed: Vec<Vec<usize>>,
    mut channels: Channels,
) -> Timeline {
    let trace = &run.trace;
    let mut steps: usize = placed.iter().flatten().map(|s| s + 1).max().unwrap_or(0);
    let mut marks: Vec<Mark> = Vec::new();
    for (lane, list) in entries.into_iter().enumerate() {
        for (entry, step) in list.into_iter().zip(&placed[lane]) {
            let kind = match (entry.kind, entry.other) {
                (MarkKind::Fork { .. }, Some(child)) => MarkKind::Fork { child },
                (MarkKind::Reap { .. }, Some(child)) => MarkKind::Reap { child },
                (kind, _) => kind,
            };
            let label = label_of(&entry, kind, trace);
            let detail = if entry.count() == 1 {
                entry.detail.clone()
            } else {
                detail_of(&entry, &channels)
            };
            marks.push(Mark {
                lane,
                step: *step,
                until: *step,
                kind,
                label,
                detail,
                channel: entry.channel,
                alert: entry.alert,
            });
        }
    }
    // A hold spans the steps since the lane's previous mark.
    for i in 0..marks.len() {
        if marks[i].kind == MarkKind::Held {
            let before = marks
                .iter()
                .filter(|m| m.lane == marks[i].lane && m.step < marks[i].step)
                .map(|m| m.step + 1)
                .max()
                .unwrap_or(marks[i].step);
            marks[i].until = marks[i].step;
            marks[i].step = before.min(marks[i].step);
        }
    }
    let frozen = (!run.hang.is_empty()).then(|| {
        let at = steps;
        steps += 1;
        freeze(run, at, &mut marks, &mut channels);
        at
    });
    marks.sort_by_key(|m| (m.step, m.lane));
    let signals = pair_signals(&marks);
    let lanes = trace
        .processes
        .iter()
        .enumerate()
        .map(|(id, process)| {
            let own = marks.iter().filter(|m| m.lane == id);
            let start = own.clone().map(|m| m.step).min();
            let end = own.map(|m| m.until).max();
            // A child starts at its fork, even before a mark of its own.
            let forked = marks
                .iter()
                .find(|m| m.kind == MarkKind::Fork { child: id })
                .map(|m| m.step);
            let start = forked.or(start).unwrap_or(0);
            Lane {
                name: process.name(),
                pid: process.pid,
                exe: visible(process.execs.last().map(String::as_str).unwrap_or("")).into_owned(),
                start,
                end: end.unwrap_or(start).max(start),
            }
        })
        .collect();
    // Bands for the channels some mark still names (merging may have taken the others'
    // marks), in order of first use; past `BANDS`, the rest share one band.
    let mut order: Vec<usize> = Vec::new();
    for mark in &marks {
        if let Some(c) = mark.channel
            && !order.contains(&c)
        {
            order.push(c);
        }
    }
    let shared = order.len() > BANDS;
    let band_of = |c: usize| {
        let at = order.iter().position(|&o| o == c).expect("listed above");
        at.min(BANDS - 1)
    };
    for mark in &mut marks {
        mark.channel = mark.channel.map(band_of);
    }
    let channels = (0..order.len().min(BANDS))
        .map(|band| {
            let own = marks.iter().filter(|m| m.channel == Some(band));
            let (kind, name) = if shared && band == BANDS - 1 {
                let (kind, _) = channels.names[order[band]];
                (kind, format!("{} more channels", order.len() - band))
            } else {
                channels.names[order[band]].clone()
            };
            Channel {
                kind,
                name,
                start: own.clone().map(|m| m.step).min().unwrap_or(0),
                end: own.clone().map(|m| m.until).max().unwrap_or(0),
                removed: own.clone().any(|m| m.kind == MarkKind::Remove),
            }
        })
        .collect();
    Timeline {
        lanes,
        channels,
        marks,
        signals,
        steps,
        frozen,
        status: match run.status {
            RunStatus::Completed => "completed",
            RunStatus::TimedOut => "timed out",
            RunStatus::ProcessLimit => "stopped at the process limit",
            RunStatus::TaskLimit => "stopped at the task limit",
        },
        notes: crate::run::hang::explain(run),
    }
}

/// The short label of a mark.
fn label_of(entry: &Entry, kind: MarkKind, trace: &crate::trace::Trace) -> String {
    let count = entry.count();
    let verb = match (entry.verbs.len(), entry.verbs.keys().next()) {
        (1, Some(verb)) => verb.clone(),
        _ if kind == MarkKind::SignalSetup => "sig setup".to_string(),
        _ => "calls".to_string(),
    };
    let mut label = match kind {
        MarkKind::Reap { child } => format!(
            "reap {}",
            trace.processes.get(child).map_or("?", |p| p.label.as_str())
        ),
        _ if count > 1 => format!("{verb} ×{count}"),
        _ => verb,
    };
    if let Some(bytes) = entry.bytes {
        label.push_str(&format!(" {}", size(bytes)));
    }
    label
}

/// The tooltip of a merged mark: each verb with its count, the bytes, the channel.
fn detail_of(entry: &Entry, channels: &Channels) -> String {
    let verbs: Vec<String> = entry
        .verbs
        .iter()
        .map(|(verb, n)| format!("{verb} ×{n}"))
        .collect();
    let mut text = verbs.join(", ");
    if let Some(bytes) = entry.bytes {
        text.push_str(&format!(", {bytes} bytes"));
    }
    if let Some(channel) = entry.channel {
        text.push_str(&format!(", on {}", channels.names[channel].1));
    }
    text
}

/// `480 B`, `18 KiB`, `3.2 MiB`.
pub fn size(bytes: u64) -> String {
    match bytes {
        0..1024 => format!("{bytes} B"),
        1024..1_048_576 => format!("{} KiB", bytes / 1024),
        _ => format!("{:.1} MiB", bytes as f64 / 1_048_576.0),
    }
}

/// The frozen end: each live process's blocked call, and the pipe ends held open that
/// keep a blocked reader or writer waiting, then the grader's kill.
fn freeze(run: &RunOutcome, at: usize, marks: &mut Vec<Mark>, channels: &mut Channels) {
    let trace = &run.trace;
    let mut waited_on: BTreeSet<(String, bool)> = BTreeSet::new();
    for snap in &run.hang {
        let Some(lane) = trace.by_pid(snap.pid) else {
            continue;
        };
        let (label, detail, channel) = match &snap.syscall {
            Some(call) => {
                let name = syscalls::Sysno::new(call.nr as usize).map_or("a call", |s| s.name());
                let fd = call.args[0] as i32;
                let target = snap.fds.iter().find(|f| f.fd == fd).map(|f| &f.target);
                let pipe = target.filter(|t| t.starts_with("pipe:"));
                let channel = pipe.map(|t| channels.pipe(t));
                if let Some(t) = pipe {
                    let reading = matches!(name, "read" | "readv" | "pread64");
                    // A blocked reader waits on the write ends; a blocked writer on readers.
                    waited_on.insert((t.clone(), reading));
                }
                let on = channel.map_or(String::new(), |c| format!(" on {}", channels.names[c].1));
                let label =
                    if pipe.is_some() || name.starts_with("read") || name.starts_with("write") {
                        format!("in {name}(fd {fd})")
                    } else {
                        format!("in {name}")
                    };
                (label.clone(), format!("blocked {label}{on}"), channel)
            }
            None if snap.state == 'R' => ("running".into(), "running, not waiting".into(), None),
            None => (
                format!("state {}", snap.state),
                format!("state {}", snap.state),
                None,
            ),
        };
        marks.push(Mark {
            lane,
            step: at,
            until: at,
            kind: MarkKind::Blocked,
            label,
            detail,
            channel,
            alert: true,
        });
    }
    for (target, write_end) in &waited_on {
        let channel = channels.pipe(target);
        for snap in &run.hang {
            let Some(lane) = trace.by_pid(snap.pid) else {
                continue;
            };
            for fd in snap.fds.iter().filter(|f| f.target == *target) {
                if fd.is_write_end() != *write_end {
                    continue;
                }
                let end = if *write_end { "w" } else { "r" };
                let words = if *write_end { "write" } else { "read" };
                marks.push(Mark {
                    lane,
                    step: at,
                    until: at,
                    kind: MarkKind::Holds,
                    label: format!("holds {end} (fd {})", fd.fd),
                    detail: format!(
                        "still holds the {words} end of {} (fd {})",
                        channels.names[channel].1, fd.fd
                    ),
                    channel: Some(channel),
                    alert: true,
                });
            }
        }
    }
    for (lane, process) in trace.processes.iter().enumerate() {
        if process.end == Some(End::Killed) {
            marks.push(Mark {
                lane,
                step: at,
                until: at,
                kind: MarkKind::Exit,
                label: "killed".into(),
                detail: end_words(End::Killed),
                channel: None,
                alert: true,
            });
        }
    }
}

/// Each delivery's sender: the latest send of that signal to that lane, at or before its
/// step, not yet paired.
fn pair_signals(marks: &[Mark]) -> Vec<(usize, usize)> {
    let mut pairs = Vec::new();
    let mut used = BTreeSet::new();
    for (d, delivery) in marks.iter().enumerate() {
        let MarkKind::SignalDelivered { signal, .. } = delivery.kind else {
            continue;
        };
        let sender = marks[..d]
            .iter()
            .enumerate()
            .filter(|(s, m)| {
                m.kind
                    == MarkKind::SignalSent {
                        signal,
                        to: Some(delivery.lane),
                    }
                    && !used.contains(s)
            })
            .map(|(s, _)| s)
            .next_back();
        if let Some(s) = sender {
            used.insert(s);
            pairs.push((s, d));
        }
    }
    pairs
}
