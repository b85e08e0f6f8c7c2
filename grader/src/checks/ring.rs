//! The `ring` contract (producers and consumers over a shared bounded buffer): every item
//! consumed exactly once and in order, no busy-waiting, and the buffer in shared memory.

use super::factors::FINISHED;
use super::{Case, and_list};
use crate::escape::{quoted, visible};
use crate::trace::{Event, Process, Trace};
use std::collections::BTreeMap;

/// Producer `p`'s item `i` is `p * ITEM_STRIDE + i`.
pub const ITEM_STRIDE: u64 = 1_000_000;
/// The most producers, and the most consumers, the contract accepts.
pub const MAX_WORKERS: u64 = 4;
/// The most items per producer the contract accepts.
pub const MAX_ITEMS: u64 = 100_000;
/// The most microseconds of simulated work per item the contract accepts.
pub const MAX_WORK_US: u64 = 100_000;

/// A valid `ring` input line: `P C N [W]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RingInput {
    pub producers: u64,
    pub consumers: u64,
    pub items: u64,
    pub work_us: u64,
}

/// Parses stdin the way the contract does: one line of three or four whitespace-separated
/// decimal numbers, each in its range.
pub fn parse_input(stdin: &str) -> Option<RingInput> {
    let line = stdin.lines().next()?;
    let numbers: Vec<u64> = line
        .split_whitespace()
        .map(|w| w.parse::<u64>().ok())
        .collect::<Option<_>>()?;
    let (producers, consumers, items, work_us) = match numbers[..] {
        [p, c, n] => (p, c, n, 0),
        [p, c, n, w] => (p, c, n, w),
        _ => return None,
    };
    let workers = 1..=MAX_WORKERS;
    (workers.contains(&producers)
        && workers.contains(&consumers)
        && (1..=MAX_ITEMS).contains(&items)
        && work_us <= MAX_WORK_US)
        .then_some(RingInput {
            producers,
            consumers,
            items,
            work_us,
        })
}

pub(super) fn exactly_once(case: &Case<'_>) -> Result<(), String> {
    let input = parse_input(case.stdin).ok_or("the rubric gave this check a bad input")?;
    let run = case.run;
    super::factors::exited_zero_with_all_output(run)?;
    let stdout = run.stdout.text();
    let lines: Vec<&str> = stdout.lines().collect();
    match lines.last() {
        Some(last) if last.trim_end() == FINISHED => {}
        Some(last) => {
            return Err(format!(
                "expected the last line to be {FINISHED:?}, got {}",
                quoted(last)
            ));
        }
        None => return Err("the program printed nothing on stdout".into()),
    }
    let mut seen: BTreeMap<u64, usize> = BTreeMap::new();
    let mut unknown = Vec::new();
    // Per consumer, per producer: the last item of that producer the consumer took.
    let mut last_taken: BTreeMap<(u64, u64), u64> = BTreeMap::new();
    // The first item a consumer took out of its producer's order (told after lost or
    // repeated items, which usually cause it).
    let mut out_of_order: Option<String> = None;
    for line in &lines[..lines.len() - 1] {
        let Some((item, consumer)) = parse_line(line) else {
            return Err(format!(
                "unexpected line {}; every line before {FINISHED:?} must read \
                 `consumed <item> by <consumer>`",
                quoted(line)
            ));
        };
        if consumer >= input.consumers {
            return Err(format!(
                "line {} names consumer {consumer}, but consumers are numbered 0 to {}",
                quoted(line),
                input.consumers - 1
            ));
        }
        let (producer, index) = (item / ITEM_STRIDE, item % ITEM_STRIDE);
        if producer >= input.producers || index >= input.items {
            unknown.push(item);
            continue;
        }
        *seen.entry(item).or_default() += 1;
        let before = last_taken.insert((consumer, producer), item);
        if let Some(before) = before.filter(|before| *before >= item) {
            out_of_order.get_or_insert(format!(
                "consumer {consumer} took {item} after {before}: the items of one producer must \
                 reach each consumer in the order they were produced (the buffer is first in, \
                 first out)"
            ));
        }
    }
    let expected = input.producers * input.items;
    let missing: Vec<u64> = (0..input.producers)
        .flat_map(|p| (0..input.items).map(move |i| p * ITEM_STRIDE + i))
        .filter(|item| !seen.contains_key(item))
        .collect();
    let twice: Vec<u64> = seen
        .iter()
        .filter(|(_, count)| **count > 1)
        .map(|(item, _)| *item)
        .collect();
    let mut problems = Vec::new();
    if !missing.is_empty() {
        problems.push(format!(
            "{} of the {expected} items were never consumed ({})",
            missing.len(),
            sample(&missing)
        ));
    }
    if !twice.is_empty() {
        problems.push(format!(
            "{} items were consumed more than once ({})",
            twice.len(),
            sample(&twice)
        ));
    }
    if !unknown.is_empty() {
        problems.push(format!(
            "{} consumed numbers are no producer's item ({})",
            unknown.len(),
            sample(&unknown)
        ));
    }
    if problems.is_empty() {
        out_of_order.map_or(Ok(()), Err)
    } else {
        Err(format!(
            "{}. Lost or repeated items mean two processes used the buffer's indices at once: \
             hold the mutex while reading and updating them.",
            and_list(&problems)
        ))
    }
}

/// `consumed <item> by <consumer>`.
fn parse_line(line: &str) -> Option<(u64, u64)> {
    let rest = line.trim_end().strip_prefix("consumed ")?;
    let (item, consumer) = rest.split_once(" by ")?;
    Some((item.parse().ok()?, consumer.parse().ok()?))
}

pub(super) fn no_busy_wait(case: &Case<'_>, max_cpu_ms: u64) -> Result<(), String> {
    let trace = &case.run.trace;
    if trace.descendants().next().is_none() {
        return Err("the parent forked no process, so nobody waited for anybody".into());
    }
    let mut used: Vec<(String, u64)> = trace
        .processes
        .iter()
        .filter_map(|p| Some((p.name(), p.cpu_at_exit?.total_ms())))
        .collect();
    let total: u64 = used.iter().map(|(_, ms)| ms).sum();
    if total <= max_cpu_ms {
        return Ok(());
    }
    used.sort_by_key(|(_, ms)| std::cmp::Reverse(*ms));
    let busiest: Vec<String> = used
        .iter()
        .take(3)
        .map(|(name, ms)| format!("{name} {ms} ms"))
        .collect();
    Err(format!(
        "the processes used {total} ms of CPU time in a run of {} ms, more than the {max_cpu_ms} \
         ms allowed ({}): a process that waits by looping (checking a counter or a flag, \
         sem_trywait, sched_yield) burns a CPU while it waits. Wait in a call that sleeps \
         (sem_wait, sigwaitinfo, sigsuspend): the kernel wakes the process when its turn comes.",
        case.run.wall.as_millis(),
        and_list(&busiest)
    ))
}

pub(super) fn shared_buffer(case: &Case<'_>) -> Result<(), String> {
    let trace = &case.run.trace;
    let root = trace.root().expect("checked by completed()");
    if trace.children_of(0).next().is_none() {
        return Err("the parent forked no producer or consumer".into());
    }
    if let Some(refused) = super::channel::refused_call(trace) {
        return Err(refused);
    }
    if let Some(other) = other_channel(trace) {
        return Err(other);
    }
    let first_fork = root
        .events
        .iter()
        .position(|e| matches!(e, Event::Spawn { thread: false, .. }))
        .unwrap_or(root.events.len());
    if shares_memory(&root.events[..first_fork]) {
        return Ok(());
    }
    let later: Vec<String> = trace
        .processes
        .iter()
        .filter(|p| shares_memory(&p.events))
        .map(Process::name)
        .collect();
    Err(if later.is_empty() {
        "no process made a shared mapping (mmap with MAP_SHARED) or a System V segment: a \
         MAP_PRIVATE mapping is copied at fork, so each process fills and empties its own \
         buffer and nobody sees the others' items"
            .to_string()
    } else {
        format!(
            "the shared region was mapped after forking, by {}: map it in the parent before \
             fork() so that every child inherits the same pages",
            and_list(&later)
        )
    })
}

/// True if these events map shared memory: mmap(MAP_SHARED), or shmget and shmat.
fn shares_memory(events: &[Event]) -> bool {
    events.iter().any(|e| match e {
        Event::MmapShared { ret, .. } => *ret >= 0,
        Event::ShmAt { ret, .. } => *ret >= 0,
        _ => false,
    })
}

/// The first channel other than shared memory that some process used.
fn other_channel(trace: &Trace) -> Option<String> {
    for process in &trace.processes {
        for event in &process.events {
            let used = match event {
                Event::Pipe { .. } => "made a pipe (pipe)".to_string(),
                Event::Socket { ret, .. } if *ret >= 0 => "opened a socket".to_string(),
                Event::SocketPair { ret: 0, .. } => "made a socket pair".to_string(),
                Event::MqOpen { name, ret, .. } if *ret >= 0 => {
                    format!("opened the message queue {}", visible(name))
                }
                Event::Mknod { path, ret: 0, .. } => {
                    format!("made the special file {}", visible(path))
                }
                Event::OtherIpc { syscall, ret } if *ret >= 0 && syscall != "semget" => {
                    format!("called {syscall}")
                }
                Event::Open { path, flags, ret }
                    if *ret >= 0
                        && (flags & libc::O_ACCMODE != libc::O_RDONLY
                            || flags & libc::O_CREAT != 0)
                        && !path.starts_with("/dev/shm/")
                        && !path.starts_with("/dev/pts/")
                        && !["/dev/null", "/dev/tty"].contains(&path.as_str()) =>
                {
                    format!("opened {} for writing", visible(path))
                }
                _ => continue,
            };
            return Some(format!(
                "{} {used}; in this lab items travel only through the shared buffer, and the \
                 consumers record them in shared memory for the parent",
                process.name()
            ));
        }
    }
    None
}

/// Up to five numbers, then `…`.
fn sample(numbers: &[u64]) -> String {
    let shown: Vec<String> = numbers.iter().take(5).map(u64::to_string).collect();
    if numbers.len() > 5 {
        format!("{}, …", shown.join(", "))
    } else {
        shown.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_like_the_contract() {
        assert_eq!(
            parse_input(" 2 3\t100 \n"),
            Some(RingInput {
                producers: 2,
                consumers: 3,
                items: 100,
                work_us: 0
            })
        );
        assert_eq!(parse_input("1 1 5 2000\n").map(|i| i.work_us), Some(2000));
        for bad in [
            "",
            "\n",
            "1 1\n",
            "0 1 1\n",
            "5 1 1\n",
            "1 5 1\n",
            "1 1 0\n",
            "1 1 100001\n",
            "1 1 1 100001\n",
            "1 1 1 1 1\n",
            "-1 1 1\n",
            "a b c\n",
        ] {
            assert_eq!(parse_input(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn reads_consumed_lines() {
        assert_eq!(parse_line("consumed 1000007 by 2"), Some((1_000_007, 2)));
        assert_eq!(parse_line("consumed 7 by"), None);
        assert_eq!(parse_line("took 7 by 1"), None);
    }

    #[test]
    fn shared_memory_is_an_mmap_or_an_attach() {
        let mapped = Event::MmapShared {
            len: 4096,
            fd: -1,
            ret: 0x7f00_0000_0000,
        };
        let failed = Event::MmapShared {
            len: 4096,
            fd: -1,
            ret: -12,
        };
        assert!(shares_memory(&[mapped]));
        assert!(!shares_memory(&[failed]));
        assert!(shares_memory(&[Event::ShmAt {
            shmid: 3,
            ret: 0x7f00_0000_0000
        }]));
    }
}
