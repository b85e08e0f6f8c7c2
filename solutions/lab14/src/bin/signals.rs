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

/// Blocks the notification and acknowledgement signals in this process (and so in every
/// child forked after this).
fn block_signals() {
    let both = SignalSet::of(&[signals::notify_signal(), signals::ack_signal()]);
    // The old mask is not needed: the signals stay blocked until the process ends.
    if let Err(e) = signals::block(&both) {
        fail(&format!("sigprocmask: {e}"));
    }
}

/// Maps a shared, anonymous, zero-filled region with one area per worker.
fn create_region() -> Region {
    let len = lab14::WORKERS * SLOTS * size_of::<u64>();
    let size = NonZeroUsize::new(len).expect("the region holds at least the counts");
    // SAFETY: a new anonymous mapping at an address the kernel chooses overlaps nothing
    // this program uses. MAP_SHARED: after fork, parent and workers see the same pages.
    let mapped = unsafe {
        mmap_anonymous(
            None,
            size,
            ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
            MapFlags::MAP_SHARED,
        )
    };
    match mapped {
        Ok(address) => Region {
            base: address.as_ptr().cast(),
            len,
        },
        Err(e) => fail(&format!("mmap: {e}")),
    }
}

/// Forks one worker. The child never returns from here.
fn spawn_worker(n: u64, worker: usize, parent: Pid, region: &Region) -> Pid {
    // Anything still buffered would be copied into the child and printed twice.
    let _ = std::io::stdout().flush();
    // SAFETY: this program is single-threaded, so the child may call any function after
    // fork (no other thread can hold a lock the child would inherit).
    match unsafe { fork() } {
        Ok(ForkResult::Child) => run_worker(n, worker, parent, region),
        Ok(ForkResult::Parent { child }) => child,
        Err(e) => fail(&format!("fork: {e}")),
    }
}

/// The worker's whole life: store its divisors, notify the parent, wait to be let go, exit.
fn run_worker(n: u64, worker: usize, parent: Pid, region: &Region) -> ! {
    // SAFETY: the region holds WORKERS * SLOTS u64s at a page-aligned address; this
    // worker's area is [worker * SLOTS, (worker + 1) * SLOTS), which no other process
    // writes, and the parent reads it only after the notification below.
    let area = unsafe { std::slice::from_raw_parts_mut(region.base.add(worker * SLOTS), SLOTS) };
    let mut count = 0;
    for d in lab14::worker_divisors(n, worker, lab14::WORKERS) {
        count += 1;
        area[count] = d;
    }
    area[0] = count as u64;

    // The value tells the parent which worker this is; the signal queues even if the
    // other worker's is still pending.
    let value = worker as i32;
    if let Err(e) = signals::send_queued(parent.as_raw(), signals::notify_signal(), value) {
        eprintln!("error: worker {worker}: sigqueue: {e}");
        std::process::exit(1);
    }
    // ACK has been blocked since before the fork: if the parent answers before we get
    // here, the acknowledgement waits, pending, and sigwaitinfo takes it at once.
    if let Err(e) = signals::wait_info(&SignalSet::of(&[signals::ack_signal()])) {
        eprintln!("error: worker {worker}: sigwaitinfo: {e}");
        std::process::exit(1);
    }
    // exit, never return: returning would run the parent's code in the worker too.
    std::process::exit(0)
}

/// Takes one notification per worker, checking that each came from the worker it names.
fn await_notifications(workers: &[Pid]) {
    let notify = SignalSet::of(&[signals::notify_signal()]);
    let mut notified = vec![false; workers.len()];
    while notified.contains(&false) {
        // Sleeps in the kernel until a NOTIFY is pending (at once if one already is).
        let received = match signals::wait_info(&notify) {
            Ok(received) => received,
            Err(e) => fail(&format!("sigwaitinfo: {e}")),
        };
        let worker = usize::try_from(received.value)
            .ok()
            .filter(|&w| w < workers.len() && workers[w].as_raw() == received.sender);
        match worker {
            Some(w) if !notified[w] => notified[w] = true,
            _ => fail(&format!(
                "unexpected notification {} from pid {}",
                received.value, received.sender
            )),
        }
    }
}

/// Reads every worker's area.
fn collect_factors(region: &Region) -> Vec<u64> {
    let mut factors = Vec::new();
    for worker in 0..lab14::WORKERS {
        // SAFETY: as in run_worker; every worker has notified, so nothing writes any more.
        let area = unsafe { std::slice::from_raw_parts(region.base.add(worker * SLOTS), SLOTS) };
        let count = (area[0] as usize).min(SLOTS - 1);
        factors.extend_from_slice(&area[1..=count]);
    }
    factors
}

/// Tells each worker that its results have been read, so it may exit.
fn acknowledge(workers: &[Pid]) {
    for &pid in workers {
        if let Err(e) = signals::send_queued(pid.as_raw(), signals::ack_signal(), 0) {
            fail(&format!("sigqueue to worker {pid}: {e}"));
        }
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

/// Unmaps the region.
fn destroy_region(region: Region) {
    let address = NonNull::new(region.base.cast()).expect("mmap never returns null");
    // SAFETY: the mapping is ours, of this length, and no slice of it is alive.
    if let Err(e) = unsafe { munmap(address, region.len) } {
        fail(&format!("munmap: {e}"));
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
