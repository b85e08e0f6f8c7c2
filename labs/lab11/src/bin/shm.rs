//! Lab 11, part `shm`: two workers factor a number and leave the factors in one System V
//! shared-memory segment, which the parent reads after both have exited.
//!
//! ```text
//!   segment (shmget, attached with shmat before forking, so every worker inherits it)
//!   ┌───────┬──────────────────────────┬───────┬──────────────────────────┐
//!   │count 0│ factors of worker 0 …    │count 1│ factors of worker 1 …    │
//!   └───────┴──────────────────────────┴───────┴──────────────────────────┘
//!    each region holds 1 + MAX_DIVISORS u64s; each worker writes only its own
//! ```
//!
//! Run it: `printf '60\n' | cargo run -q -p lab11 --bin lab11-shm`.
//! Grade it: `cargo test -p lab11 -- shm.`; see leftovers with `ipcs -m`.
//!
//! Every `todo!` below is a step of handouts/lab11.md. `main` is complete: it calls the
//! steps in the right order, so you only write function bodies. Why not memmap2? Its
//! anonymous maps are MAP_PRIVATE: after fork each process has its own copy, so the parent
//! would never see what a worker wrote. A System V segment is the same memory everywhere.

use nix::unistd::Pid;
use std::process::ExitCode;

/// u64 slots per worker: a count, then room for every divisor a u64 can have.
const SLOTS: usize = 1 + lab11::MAX_DIVISORS;

/// The shared segment: its id (to remove it) and where it is attached in this process.
struct Segment {
    id: i32,
    addr: *mut u64,
}

fn main() -> ExitCode {
    // Step 1: prompt, read one line, validate it. Bad input: `error: …`, exit status 2,
    // before the segment exists.
    let n = match read_number() {
        Ok(n) => n,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };

    // Step 2: one segment, created and attached BEFORE forking: children inherit it.
    let segment = create_segment();

    // Step 3: fork the workers; each fills its own region (step 4) and detaches.
    let workers: Vec<Pid> = (0..lab11::WORKERS)
        .map(|worker| spawn_worker(n, worker, &segment))
        .collect();

    // Step 5: the results are complete only when both workers have exited.
    reap(&workers);

    // Step 6: read the results, then detach and remove the segment.
    let factors = collect_factors(&segment);
    destroy_segment(segment);

    // Step 7: print.
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

/// Creates a private segment big enough for every worker's region and attaches it.
fn create_segment() -> Segment {
    // Size: lab11::WORKERS * SLOTS * size_of::<u64>() bytes. libc::shmget and libc::shmat
    // are `unsafe`: write a `// SAFETY:` comment saying why each call is sound. shmat
    // returns (void *)-1 on failure: check before using the pointer.
    todo!(
        "step 2: id = libc::shmget(libc::IPC_PRIVATE, size, libc::IPC_CREAT | 0o600), then \
         addr = libc::shmat(id, null, 0); check both; return Segment {{ id, addr: addr.cast() }}"
    )
}

/// Forks one worker. The child never returns from here.
fn spawn_worker(n: u64, worker: usize, segment: &Segment) -> Pid {
    // Flush stdout before forking: anything still buffered would be copied into the child
    // and printed twice. This program has one thread, so the child may call any function
    // after fork: say so in a `// SAFETY:` comment above `unsafe { nix::unistd::fork() }`.
    todo!(
        "step 3: flush stdout, then match unsafe {{ fork() }}: the Child calls \
         run_worker(n, worker, segment); the Parent {{ child }} returns child"
    )
}

/// The worker's whole life: write its count and divisors into its region, detach, exit.
fn run_worker(n: u64, worker: usize, segment: &Segment) -> ! {
    // This worker's region starts at segment.addr.add(worker * SLOTS) and is SLOTS long:
    // std::slice::from_raw_parts_mut makes a slice of it (unsafe: explain in a SAFETY
    // comment why no other process writes it). The attachment was inherited at fork, so
    // the worker must shmdt it too. End with std::process::exit, never return.
    todo!(
        "step 4: store this worker's divisors in region[1..] and their count in region[0], \
         then libc::shmdt(segment.addr.cast()) and exit(0)"
    )
}

/// Waits for every worker and checks that it succeeded.
fn reap(workers: &[Pid]) {
    todo!(
        "step 5: nix::sys::wait::waitpid(pid, None) for every worker; anything but \
         WaitStatus::Exited(_, 0) is an error (call fail)"
    )
}

/// Reads every worker's region.
fn collect_factors(segment: &Segment) -> Vec<u64> {
    todo!(
        "step 6: for each worker, read its count and that many factors from its region \
         (std::slice::from_raw_parts, with a SAFETY comment)"
    )
}

/// Detaches the segment and marks it for removal (it goes when nobody is attached).
fn destroy_segment(segment: Segment) {
    todo!(
        "step 6: libc::shmdt(segment.addr.cast()), then libc::shmctl(segment.id, \
         libc::IPC_RMID, std::ptr::null_mut()); check both results"
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
