//! Lab 12, part `mqueue`: two workers factor a number and send the factors back to the
//! parent through a POSIX message queue, one message per factor.
//!
//! ```text
//!   parent: mq_open("/lab12-<pid>", O_CREAT | O_EXCL), fork, fork
//!           mq_receive until both workers said "done" ── mq_close, mq_unlink, reap, print
//!                 ▲
//!   queue:  [ 8 | 8 | done | 8 | … ]   at most QUEUE_CAPACITY messages, each kept whole
//!                 │
//!   worker: mq_send each factor (8 bytes, priority 0), then "done" ── exit
//! ```
//!
//! Run it: `printf '60\n' | cargo run -q -p lab12 --bin lab12-mqueue`.
//! Grade it: `cargo test -p lab12 -- mqueue.`; see leftover queues with `ls /dev/mqueue`.

use nix::mqueue::{MQ_OFlag, MqAttr, MqdT, mq_close, mq_open, mq_receive, mq_send, mq_unlink};
use nix::sys::stat::Mode;
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork};
use std::io::{BufRead, BufWriter, Write};
use std::process::ExitCode;

/// Every message goes with this priority. mq_receive returns the oldest message of the
/// highest priority, so with one priority for all the queue is first in, first out.
const PRIORITY: u32 = 0;

fn main() -> ExitCode {
    // Step 1: prompt, read one line, validate it. Bad input: `error: …`, exit status 2,
    // before the queue exists.
    let n = match read_number() {
        Ok(n) => n,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };

    // Step 2: the queue, created BEFORE forking: each worker inherits its descriptor.
    let name = queue_name();
    let queue = create_queue(&name);

    // Step 3: fork the workers. Each sends its factors, then `done` (step 4).
    let workers: Vec<Pid> = (0..lab12::WORKERS)
        .map(|worker| spawn_worker(n, worker, &queue))
        .collect();

    // Step 5: receive while the workers send (the queue holds only QUEUE_CAPACITY
    // messages), until every worker has said `done`.
    let factors = collect_factors(&queue);

    // Step 6: close the queue and remove its name: nothing is left in /dev/mqueue.
    destroy_queue(queue, &name);

    // Step 7: reap both workers, then print.
    reap(&workers);
    print_report(&factors);
    ExitCode::SUCCESS
}

/// Prints the prompt, reads one line from stdin and parses it as a number 1..=u64::MAX.
fn read_number() -> Result<u64, String> {
    let mut stdout = std::io::stdout();
    writeln!(stdout, "Give a number to factor.").map_err(|e| e.to_string())?;
    // Flush now: the prompt must be out before we wait for input (and before any fork).
    stdout.flush().map_err(|e| e.to_string())?;
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| format!("cannot read stdin: {e}"))?;
    let text = line.trim();
    match text.parse::<u64>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!(
            "expected a whole number from 1 to {}, got {text:?}",
            u64::MAX
        )),
    }
}

/// This run's queue name: one slash, then a name unique to the run (the pid), so that two
/// runs at once never share a queue.
fn queue_name() -> String {
    format!("/lab12-{}", std::process::id())
}

/// Creates the queue: new (O_EXCL: an old queue of that name is an error, not reused),
/// for reading and writing, owner only, holding QUEUE_CAPACITY messages of MESSAGE_SIZE.
fn create_queue(name: &str) -> MqdT {
    let attributes = MqAttr::new(0, lab12::QUEUE_CAPACITY, lab12::MESSAGE_SIZE, 0);
    let flags = MQ_OFlag::O_CREAT | MQ_OFlag::O_EXCL | MQ_OFlag::O_RDWR;
    match mq_open(
        name,
        flags,
        Mode::S_IRUSR | Mode::S_IWUSR,
        Some(&attributes),
    ) {
        Ok(queue) => queue,
        Err(e) => fail(&format!("mq_open {name}: {e}")),
    }
}

/// Forks one worker. The child never returns from here; the parent gets its pid.
fn spawn_worker(n: u64, worker: usize, queue: &MqdT) -> Pid {
    // Anything still buffered would be copied into the child and printed twice.
    let _ = std::io::stdout().flush();
    // SAFETY: this program is single-threaded, so the child may call any function after
    // fork (no other thread can hold a lock the child would inherit).
    match unsafe { fork() } {
        Ok(ForkResult::Child) => run_worker(n, worker, queue),
        Ok(ForkResult::Parent { child }) => child,
        Err(e) => fail(&format!("fork: {e}")),
    }
}

/// The worker's whole life: send every divisor as one 8-byte message, then `done`, exit.
fn run_worker(n: u64, worker: usize, queue: &MqdT) -> ! {
    for d in lab12::worker_divisors(n, worker, lab12::WORKERS) {
        // Waits while the queue is full.
        if mq_send(queue, &d.to_le_bytes(), PRIORITY).is_err() {
            std::process::exit(1);
        }
    }
    let code = if mq_send(queue, lab12::DONE, PRIORITY).is_ok() {
        0
    } else {
        1
    };
    // exit, never return: returning would run the parent's code in the worker too. Exiting
    // closes the worker's copy of the queue descriptor.
    std::process::exit(code)
}

/// Receives messages until every worker has sent `done`.
fn collect_factors(queue: &MqdT) -> Vec<u64> {
    let mut factors = Vec::new();
    let mut finished = 0;
    // mq_receive wants room for the largest message the queue accepts.
    let mut message = [0u8; lab12::MESSAGE_SIZE as usize];
    let mut priority = 0;
    while finished < lab12::WORKERS {
        let len = match mq_receive(queue, &mut message, &mut priority) {
            Ok(len) => len,
            Err(e) => fail(&format!("mq_receive: {e}")),
        };
        // Every message arrives whole: its length tells `done` from a factor.
        let received = &message[..len];
        if received == lab12::DONE {
            finished += 1;
        } else if let Ok(record) = <[u8; lab12::RECORD]>::try_from(received) {
            factors.push(u64::from_le_bytes(record));
        } else {
            fail(&format!("unexpected message of {len} bytes"));
        }
    }
    factors
}

/// Closes the parent's descriptor and removes the queue's name.
fn destroy_queue(queue: MqdT, name: &str) {
    if let Err(e) = mq_close(queue) {
        fail(&format!("mq_close: {e}"));
    }
    if let Err(e) = mq_unlink(name) {
        fail(&format!("mq_unlink {name}: {e}"));
    }
}

/// Waits for every worker and checks that it succeeded.
fn reap(workers: &[Pid]) {
    for &pid in workers {
        match waitpid(pid, None) {
            Ok(WaitStatus::Exited(_, 0)) => {}
            Ok(status) => fail(&format!("worker {pid} ended badly: {status:?}")),
            Err(e) => fail(&format!("waitpid({pid}): {e}")),
        }
    }
}

/// Prints one line per factor, then `Finished.`, through one buffer (few write calls).
fn print_report(factors: &[u64]) {
    let mut out = BufWriter::new(std::io::stdout().lock());
    for d in factors {
        let _ = writeln!(out, "{d} is a factor");
    }
    let _ = writeln!(out, "Finished.");
    let _ = out.flush();
}

/// Reports a failed system call and exits with status 1.
fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    std::process::exit(1)
}
