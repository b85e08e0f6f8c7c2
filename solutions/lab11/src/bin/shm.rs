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

use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork};
use std::io::{BufRead, BufWriter, Write};
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

/// Creates a private segment big enough for every worker's region and attaches it.
fn create_segment() -> Segment {
    let size = lab11::WORKERS * SLOTS * std::mem::size_of::<u64>();
    // SAFETY: shmget takes only integers; IPC_PRIVATE always makes a new segment.
    let id = unsafe { libc::shmget(libc::IPC_PRIVATE, size, libc::IPC_CREAT | 0o600) };
    if id < 0 {
        fail(&format!("shmget: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: a null address lets the kernel choose where to attach; shmat returns
    // (void *)-1 on failure, checked below before the pointer is used.
    let addr = unsafe { libc::shmat(id, std::ptr::null(), 0) };
    if addr as isize == -1 {
        let error = std::io::Error::last_os_error();
        // SAFETY: IPC_RMID on the id we just created; no buffer is needed.
        unsafe { libc::shmctl(id, libc::IPC_RMID, std::ptr::null_mut()) };
        fail(&format!("shmat: {error}"));
    }
    Segment {
        id,
        addr: addr.cast::<u64>(),
    }
}

/// Forks one worker. The child never returns from here.
fn spawn_worker(n: u64, worker: usize, segment: &Segment) -> Pid {
    // Anything still buffered would be copied into the child and printed twice.
    let _ = std::io::stdout().flush();
    // SAFETY: this program is single-threaded, so the child may call any function after
    // fork (no other thread can hold a lock the child would inherit).
    match unsafe { fork() } {
        Ok(ForkResult::Child) => run_worker(n, worker, segment),
        Ok(ForkResult::Parent { child }) => child,
        Err(e) => fail(&format!("fork: {e}")),
    }
}

/// The worker's whole life: write its count and divisors into its region, detach, exit.
fn run_worker(n: u64, worker: usize, segment: &Segment) -> ! {
    // SAFETY: the segment holds WORKERS * SLOTS u64s and is attached at a page-aligned
    // address; this worker's region is [worker * SLOTS, (worker + 1) * SLOTS), which no
    // other process writes, and the parent reads it only after this process has exited.
    let region = unsafe { std::slice::from_raw_parts_mut(segment.addr.add(worker * SLOTS), SLOTS) };
    let mut count = 0;
    for d in lab11::worker_divisors(n, worker, lab11::WORKERS) {
        count += 1;
        region[count] = d;
    }
    region[0] = count as u64;
    // The attachment was inherited at fork: this process must detach it too.
    // SAFETY: addr is where the segment is attached; the region slice is not used after.
    let code = if unsafe { libc::shmdt(segment.addr.cast()) } == 0 {
        0
    } else {
        1
    };
    // exit, never return: returning would run the parent's code in the worker too.
    std::process::exit(code)
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

/// Reads every worker's region.
fn collect_factors(segment: &Segment) -> Vec<u64> {
    let mut factors = Vec::new();
    for worker in 0..lab11::WORKERS {
        // SAFETY: as in run_worker; every worker has exited, so nothing writes any more.
        let region = unsafe { std::slice::from_raw_parts(segment.addr.add(worker * SLOTS), SLOTS) };
        let count = (region[0] as usize).min(SLOTS - 1);
        factors.extend_from_slice(&region[1..=count]);
    }
    factors
}

/// Detaches the segment and marks it for removal (it goes when nobody is attached).
fn destroy_segment(segment: Segment) {
    // SAFETY: addr is where create_segment attached it, and no slice of it is alive.
    if unsafe { libc::shmdt(segment.addr.cast()) } != 0 {
        fail(&format!("shmdt: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: IPC_RMID takes no buffer; the id is our segment's.
    if unsafe { libc::shmctl(segment.id, libc::IPC_RMID, std::ptr::null_mut()) } != 0 {
        fail(&format!(
            "shmctl IPC_RMID: {}",
            std::io::Error::last_os_error()
        ));
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
