//! Lab 14, part `signals`: two workers factor a number into shared memory and tell the
//! parent they are done with a signal; the parent answers each with a signal of its own.
//!
//! ```text
//!   parent                                      worker w (w = 0, 1)
//!   block {NOTIFY, ACK}, mmap(MAP_SHARED)
//!   fork ×2 ──────────────────────────────────► inherits the mask and the mapping
//!                                               store count + divisors in region w
//!   sigwaitinfo({NOTIFY}) ×2  ◄──────────────── sigqueue(parent, NOTIFY, value = w)
//!   read both regions                           sigwaitinfo({ACK})
//!   sigqueue(worker, ACK, 0) ×2 ──────────────► exit(0)
//!   waitpid ×2, munmap, print
//!
//!   NOTIFY = SIGRTMIN, ACK = SIGRTMIN + 1: real-time signals queue, so two notifications
//!   sent at once are two received (two SIGUSR1s pending at once would merge into one)
//!
//!   region: ┌───────┬──────────────────────────┬───────┬──────────────────────────┐
//!           │count 0│ factors of worker 0 …    │count 1│ factors of worker 1 …    │
//!           └───────┴──────────────────────────┴───────┴──────────────────────────┘
//! ```
//!
//! Run it: `printf '60\n' | cargo run -q -p lab14 --bin lab14-signals`.
//! Grade it: `cargo test -p lab14 -- signals.`.
//!
//! Every `todo!` below is a step of handouts/lab14.md. `main` is complete: it calls the
//! steps in the right order, so you only write function bodies. nix's `Signal` enum has no
//! real-time signals, so for those use the given `lab14::signals` module (`notify_signal`,
//! `ack_signal`, `SignalSet`, `block`, `wait_info`, `send_queued`); for the rest,
//! `nix::sys::mman::{mmap_anonymous, munmap}`, `nix::unistd::fork` and
//! `nix::sys::wait::waitpid`, as in labs 11 and 13.
//!
//! Why no handler, no `pause`, no polling? A handler runs in the middle of whatever the
//! program was doing (it may only touch an atomic), and a signal that arrives just before
//! `pause` is missed: `pause` then sleeps for ever. A *blocked* signal cannot be missed: it
//! waits, pending, until `sigwaitinfo` takes it, with who sent it and the value they sent.

use lab14::signals::{self, SignalSet};
use nix::sys::mman::{MapFlags, ProtFlags, mmap_anonymous, munmap};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork, getpid};
use std::io::{BufRead, BufWriter, Write};
use std::num::NonZeroUsize;
use std::process::ExitCode;
use std::ptr::NonNull;

/// u64 slots per worker: a count, then room for every divisor a u64 can have.
const SLOTS: usize = 1 + lab14::MAX_DIVISORS;

/// The shared region as this process sees it; children inherit the mapping at fork.
struct Region {
    base: *mut u64,
    len: usize,
}

fn main() -> ExitCode {
    // Step 1: prompt, read one line, validate it. Bad input: `error: …`, exit status 2,
    // before anything is created or forked.
    let n = match read_number() {
        Ok(n) => n,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };

    // Step 2: block NOTIFY and ACK BEFORE forking: a signal sent early then waits, pending,
    // instead of killing its receiver (the default action of a real-time signal).
    block_signals();

    // Step 3: the shared region, BEFORE forking: children inherit the mapping.
    let region = create_region();

    // Step 4: fork the workers; each stores its divisors, notifies, waits for its
    // acknowledgement and exits (step 5).
    let parent = getpid();
    let workers: Vec<Pid> = (0..lab14::WORKERS)
        .map(|worker| spawn_worker(n, worker, parent, &region))
        .collect();

    // Step 6: sleep until both workers have said their results are stored.
    await_notifications(&workers);

    // Step 7: read the results (every worker has notified: its region is complete).
    let factors = collect_factors(&region);

    // Step 8: let each worker go, then reap it.
    acknowledge(&workers);
    reap(&workers);

    // Step 9: unmap, print.
    destroy_region(region);
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

/// Blocks the notification and acknowledgement signals in this process (and so in every
/// child forked after this).
fn block_signals() {
    // A blocked signal is not lost: it stays pending until sigwaitinfo takes it. Unblocked,
    // a real-time signal with no handler kills its receiver: a worker that finishes before
    // the parent is ready would kill it. Block before the first fork, and the children
    // inherit the mask: the same holds for an ACK that reaches a worker early.
    todo!(
        "step 2: signals::block(&SignalSet::of(&[signals::notify_signal(), \
         signals::ack_signal()])); on Err call fail(...) (the old mask it returns is not needed)"
    )
}

/// Maps a shared, anonymous, zero-filled region with one area per worker.
fn create_region() -> Region {
    // Size: lab14::WORKERS * SLOTS * size_of::<u64>() bytes, mapped with
    // nix::sys::mman::mmap_anonymous(None, size, PROT_READ | PROT_WRITE, MAP_SHARED) (size
    // is a NonZeroUsize). MAP_SHARED, not MAP_PRIVATE: after fork a private mapping is
    // copied, and the parent would never see what a worker wrote. mmap_anonymous is
    // `unsafe`: say in a `// SAFETY:` comment why this call is sound.
    todo!(
        "step 3: mmap_anonymous the region MAP_SHARED; call fail(...) on Err; return \
         Region {{ base: address.as_ptr().cast(), len }}"
    )
}

/// Forks one worker. The child never returns from here.
fn spawn_worker(n: u64, worker: usize, parent: Pid, region: &Region) -> Pid {
    // Flush stdout before forking: anything still buffered would be copied into the child
    // and printed twice. This program has one thread, so the child may call any function
    // after fork: say so in a `// SAFETY:` comment above `unsafe { fork() }`.
    todo!(
        "step 4: flush stdout, then match unsafe {{ fork() }}: the Child calls \
         run_worker(n, worker, parent, region); the Parent {{ child }} returns child"
    )
}

/// The worker's whole life: store its divisors, notify the parent, wait to be let go, exit.
fn run_worker(n: u64, worker: usize, parent: Pid, region: &Region) -> ! {
    // This worker's area starts at region.base.add(worker * SLOTS) and is SLOTS long:
    // std::slice::from_raw_parts_mut makes a slice of it (unsafe: explain in a SAFETY
    // comment why no other process writes it). Store the divisors of
    // lab14::worker_divisors(n, worker, lab14::WORKERS) in area[1..] and their count in
    // area[0], BEFORE notifying: the notification says "my results are complete".
    //
    // Notify with signals::send_queued(parent.as_raw(), signals::notify_signal(), worker as
    // i32): the value tells the parent which worker this is. Then wait for the
    // acknowledgement with signals::wait_info(&SignalSet::of(&[signals::ack_signal()])):
    // ACK is blocked (inherited mask), so an ACK that came before this call is pending and
    // taken at once. On an error, print `error: …` to stderr and exit(1). End with
    // std::process::exit(0), never return.
    todo!(
        "step 5: store the count and divisors in this worker's area, send_queued NOTIFY to \
         the parent with value = worker, wait_info for ACK, then exit(0)"
    )
}

/// Takes one notification per worker, checking that each came from the worker it names.
fn await_notifications(workers: &[Pid]) {
    // signals::wait_info(&SignalSet::of(&[signals::notify_signal()])) sleeps in the kernel
    // until a NOTIFY is pending (returns at once if one already is) and gives a Received
    // { signal, sender, value }. No busy loop, no sleep-and-check, no pause. Both workers
    // may notify at about the same time: NOTIFY is a real-time signal, so the two queue
    // and you take them one after the other.
    todo!(
        "step 6: call wait_info until every worker has notified once: value is the worker's \
         number, sender must be workers[value]; anything else is an error (call fail)"
    )
}

/// Reads every worker's area.
fn collect_factors(region: &Region) -> Vec<u64> {
    todo!(
        "step 7: for each worker, read its count and that many factors from its area \
         (std::slice::from_raw_parts, with a SAFETY comment: why does nobody write it now?)"
    )
}

/// Tells each worker that its results have been read, so it may exit.
fn acknowledge(workers: &[Pid]) {
    todo!(
        "step 8: signals::send_queued(pid.as_raw(), signals::ack_signal(), 0) to every \
         worker; on Err call fail(...)"
    )
}

/// Waits for every worker and checks that it succeeded.
fn reap(workers: &[Pid]) {
    todo!(
        "step 8: nix::sys::wait::waitpid(pid, None) for every worker; anything but \
         WaitStatus::Exited(_, 0) is an error (call fail)"
    )
}

/// Unmaps the region.
fn destroy_region(region: Region) {
    todo!(
        "step 9: munmap(NonNull::new(region.base.cast()).unwrap(), region.len), with a \
         SAFETY comment; call fail on Err"
    )
}

/// Prints one line per factor, then `Finished.`, through one buffer (few write calls).
fn print_report(factors: &[u64]) {
    todo!(
        "step 9: print `<d> is a factor` for every factor, then `Finished.`, through \
         BufWriter::new(std::io::stdout().lock()), and flush it"
    )
}

/// Reports a failed system call and exits with status 1.
fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    std::process::exit(1)
}
