//! Lab 11, part `posix`: two workers factor a number and leave the factors in one POSIX
//! shared-memory object, mapped MAP_SHARED in every process; the parent reads it after both
//! have exited.
//!
//! ```text
//!   /dev/shm/lab11-<pid> (shm_open + ftruncate, mapped with mmap MAP_SHARED before forking)
//!   ┌───────┬──────────────────────────┬───────┬──────────────────────────┐
//!   │count 0│ factors of worker 0 …    │count 1│ factors of worker 1 …    │
//!   └───────┴──────────────────────────┴───────┴──────────────────────────┘
//!    each region holds 1 + MAX_DIVISORS u64s; each worker writes only its own
//! ```
//!
//! Run it: `printf '60\n' | cargo run -q -p lab11 --bin lab11-posix`.
//! Grade it: `cargo test -p lab11 -- posix.`; see leftovers with `ls /dev/shm`.

use nix::fcntl::OFlag;
use nix::sys::mman::{MapFlags, ProtFlags, mmap, munmap, shm_open, shm_unlink};
use nix::sys::stat::Mode;
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork, ftruncate};
use std::ffi::c_void;
use std::io::{BufRead, BufWriter, Write};
use std::num::NonZeroUsize;
use std::process::ExitCode;
use std::ptr::NonNull;

/// u64 slots per worker: a count, then room for every divisor a u64 can have.
const SLOTS: usize = 1 + lab11::MAX_DIVISORS;

/// The shared object: its name (to unlink it) and where it is mapped in this process.
struct SharedObject {
    name: String,
    addr: NonNull<c_void>,
    len: usize,
}

fn main() -> ExitCode {
    // Step 1: prompt, read one line, validate it. Bad input: `error: …`, exit status 2,
    // before the object exists.
    let n = match read_number() {
        Ok(n) => n,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };

    // Step 2: one object, created, sized and mapped BEFORE forking: children inherit the
    // mapping.
    let object = create_object();

    // Step 3: fork the workers; each fills its own region (step 4) and unmaps.
    let workers: Vec<Pid> = (0..lab11::WORKERS)
        .map(|worker| spawn_worker(n, worker, &object))
        .collect();

    // Step 5: the results are complete only when both workers have exited.
    reap(&workers);

    // Step 6: read the results, then unmap and unlink the object.
    let factors = collect_factors(&object);
    destroy_object(object);

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

/// Creates a new shared-memory object big enough for every worker's region and maps it.
fn create_object() -> SharedObject {
    let name = format!("/lab11-{}", std::process::id());
    let len = lab11::WORKERS * SLOTS * std::mem::size_of::<u64>();
    let fd = shm_open(
        name.as_str(),
        OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_RDWR,
        Mode::S_IRUSR | Mode::S_IWUSR,
    )
    .unwrap_or_else(|e| fail(&format!("shm_open({name}): {e}")));
    // A new object is empty: give it its size before mapping it.
    if let Err(e) = ftruncate(&fd, len as i64) {
        let _ = shm_unlink(name.as_str());
        fail(&format!("ftruncate: {e}"));
    }
    let length = NonZeroUsize::new(len).expect("the object is not empty");
    // SAFETY: a new mapping chosen by the kernel (no address given) over an object of
    // exactly `len` bytes; it overlaps no Rust value, and it is accessed only through the
    // raw pointer returned.
    let mapped = unsafe {
        mmap(
            None,
            length,
            ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
            MapFlags::MAP_SHARED,
            &fd,
            0,
        )
    };
    // The mapping keeps the object alive; the descriptor is no longer needed (drop closes it).
    drop(fd);
    match mapped {
        Ok(addr) => SharedObject { name, addr, len },
        Err(e) => {
            let _ = shm_unlink(name.as_str());
            fail(&format!("mmap: {e}"))
        }
    }
}

/// Forks one worker. The child never returns from here.
fn spawn_worker(n: u64, worker: usize, object: &SharedObject) -> Pid {
    // Anything still buffered would be copied into the child and printed twice.
    let _ = std::io::stdout().flush();
    // SAFETY: this program is single-threaded, so the child may call any function after
    // fork (no other thread can hold a lock the child would inherit).
    match unsafe { fork() } {
        Ok(ForkResult::Child) => run_worker(n, worker, object),
        Ok(ForkResult::Parent { child }) => child,
        Err(e) => fail(&format!("fork: {e}")),
    }
}

/// The worker's whole life: write its count and divisors into its region, unmap, exit.
fn run_worker(n: u64, worker: usize, object: &SharedObject) -> ! {
    let base = object.addr.cast::<u64>().as_ptr();
    // SAFETY: the mapping holds WORKERS * SLOTS u64s at a page-aligned address; this
    // worker's region is [worker * SLOTS, (worker + 1) * SLOTS), which no other process
    // writes, and the parent reads it only after this process has exited.
    let region = unsafe { std::slice::from_raw_parts_mut(base.add(worker * SLOTS), SLOTS) };
    let mut count = 0;
    for d in lab11::worker_divisors(n, worker, lab11::WORKERS) {
        count += 1;
        region[count] = d;
    }
    region[0] = count as u64;
    // The mapping was inherited at fork: this process must unmap it too.
    // SAFETY: addr and len are the mapping's; the region slice is not used after this.
    let code = match unsafe { munmap(object.addr, object.len) } {
        Ok(()) => 0,
        Err(_) => 1,
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
fn collect_factors(object: &SharedObject) -> Vec<u64> {
    let base = object.addr.cast::<u64>().as_ptr();
    let mut factors = Vec::new();
    for worker in 0..lab11::WORKERS {
        // SAFETY: as in run_worker; every worker has exited, so nothing writes any more.
        let region = unsafe { std::slice::from_raw_parts(base.add(worker * SLOTS), SLOTS) };
        let count = (region[0] as usize).min(SLOTS - 1);
        factors.extend_from_slice(&region[1..=count]);
    }
    factors
}

/// Unmaps the object and removes its name (the memory goes when nobody maps it).
fn destroy_object(object: SharedObject) {
    // SAFETY: addr and len are what create_object mapped, and no slice of it is alive.
    if let Err(e) = unsafe { munmap(object.addr, object.len) } {
        fail(&format!("munmap: {e}"));
    }
    if let Err(e) = shm_unlink(object.name.as_str()) {
        fail(&format!("shm_unlink({}): {e}", object.name));
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
