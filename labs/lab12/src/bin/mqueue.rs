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
//!
//! Every `todo!` below is a step of handouts/lab12.md. `main` is complete: it calls the
//! steps in the right order, so you only write function bodies. The queue calls are in
//! `nix::mqueue`: mq_open, mq_send, mq_receive, mq_close, mq_unlink, MqAttr, MQ_OFlag.

use nix::mqueue::MqdT;
use nix::unistd::Pid;
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
    todo!(
        "step 1: print \"Give a number to factor.\" and flush stdout, read one line with \
         std::io::stdin().read_line, trim it and parse it as u64; return Err(explanation) \
         for anything that is not a number from 1 to u64::MAX"
    )
}

/// This run's queue name: one slash, then a name unique to the run (the pid), so that two
/// runs at once never share a queue. (Given: nothing to do here.)
fn queue_name() -> String {
    format!("/lab12-{}", std::process::id())
}

/// Creates the queue: new (O_EXCL: an old queue of that name is an error, not reused),
/// for reading and writing, owner only, holding QUEUE_CAPACITY messages of MESSAGE_SIZE.
fn create_queue(name: &str) -> MqdT {
    // MqAttr::new(flags, capacity, message size, current count): flags 0 (blocking),
    // lab12::QUEUE_CAPACITY, lab12::MESSAGE_SIZE, 0. The mode is
    // nix::sys::stat::Mode::S_IRUSR | Mode::S_IWUSR.
    todo!(
        "step 2: mq_open(name, MQ_OFlag::O_CREAT | MQ_OFlag::O_EXCL | MQ_OFlag::O_RDWR, mode, \
         Some(&attributes)); on error, call fail(...)"
    )
}

/// Forks one worker. The child never returns from here; the parent gets its pid.
fn spawn_worker(n: u64, worker: usize, queue: &MqdT) -> Pid {
    // Flush stdout before forking: anything still buffered would be copied into the child
    // and printed twice. This program has one thread, so the child may call any function
    // after fork: say so in a `// SAFETY:` comment above `unsafe { nix::unistd::fork() }`.
    // The child gets a copy of the queue descriptor, as it does of every open file.
    todo!(
        "step 3: flush stdout, then match unsafe {{ fork() }}: the Child calls \
         run_worker(n, worker, queue); the Parent {{ child }} returns child"
    )
}

/// The worker's whole life: send every divisor as one 8-byte message, then `done`, exit.
fn run_worker(n: u64, worker: usize, queue: &MqdT) -> ! {
    // mq_send waits while the queue is full: that is what keeps a worker from running
    // ahead of the parent. End with std::process::exit, never return.
    todo!(
        "step 4: mq_send(queue, &d.to_le_bytes(), PRIORITY) for each of \
         lab12::worker_divisors(n, worker, lab12::WORKERS), then mq_send(queue, lab12::DONE, \
         PRIORITY); exit(0), or exit(1) if a send failed"
    )
}

/// Receives messages until every worker has sent `done`.
fn collect_factors(queue: &MqdT) -> Vec<u64> {
    // mq_receive(queue, &mut buffer, &mut priority) returns the message's length; the
    // buffer must hold the largest message the queue accepts ([0u8; MESSAGE_SIZE as
    // usize]). A queue keeps messages whole and apart: `&buffer[..len] == lab12::DONE` is a
    // worker saying it is done; 8 bytes (<[u8; 8]>::try_from) are a factor.
    todo!("step 5: receive until lab12::WORKERS `done` messages; keep the factors")
}

/// Closes the parent's descriptor and removes the queue's name.
fn destroy_queue(queue: MqdT, name: &str) {
    // A queue outlives every process: without mq_unlink it stays in the kernel (and in
    // `ls /dev/mqueue`) until the machine reboots.
    todo!("step 6: mq_close(queue), then mq_unlink(name); check both (call fail on errors)")
}

/// Waits for every worker and checks that it succeeded.
fn reap(workers: &[Pid]) {
    todo!(
        "step 7: nix::sys::wait::waitpid(pid, None) for every worker; anything but \
         WaitStatus::Exited(_, 0) is an error (call fail)"
    )
}

/// Prints one line per factor, then `Finished.`, through one buffer (few write calls).
fn print_report(factors: &[u64]) {
    todo!(
        "step 7: print `<d> is a factor` for every factor, then `Finished.`, through \
         BufWriter::new(std::io::stdout().lock()), and flush it"
    )
}

/// Reports a failed system call and exits with status 1.
fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    std::process::exit(1)
}
