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
//!
//! Every `todo!` below is a step of handouts/lab11.md. `main` is complete: it calls the
//! steps in the right order, so you only write function bodies.
//!
//! The object is a file in a memory-only file system (/dev/shm): shm_open opens it by name,
//! ftruncate gives it a size, mmap with MAP_SHARED makes its pages part of this process's
//! memory, and a child forked afterwards inherits that same mapping. Writes through a
//! MAP_SHARED mapping go to the object, so every process mapping it sees them; with
//! MAP_PRIVATE (or an anonymous private map) each process gets its own copy on its first
//! write, and the parent would read nothing but zeros. Why nix::sys::mman and not memmap2?
//! `memmap2::MmapOptions::new().len(n).map_mut(&file)` is a MAP_SHARED map too, but it
//! unmaps only when dropped, and a worker ends with `process::exit`, which drops nothing:
//! here every process calls munmap itself, like shmdt in part `shm`.

use nix::unistd::Pid;
use std::ffi::c_void;
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
    todo!(
        "step 1: print \"Give a number to factor.\" and flush stdout, read one line with \
         std::io::stdin().read_line, trim it and parse it as u64; return Err(explanation) \
         for anything that is not a number from 1 to u64::MAX"
    )
}

/// Creates a new shared-memory object big enough for every worker's region and maps it.
fn create_object() -> SharedObject {
    // Name: "/lab11-" followed by std::process::id(), so that two runs never share an
    // object. Size: lab11::WORKERS * SLOTS * size_of::<u64>() bytes. O_EXCL makes shm_open
    // fail rather than reuse an object someone left behind. nix::sys::mman::mmap is
    // `unsafe`: write a `// SAFETY:` comment saying why the call is sound (the kernel picks
    // a fresh address, so the mapping overlaps nothing Rust owns). Once mapped, the
    // descriptor can be closed (drop it): the mapping keeps the object's memory alive.
    todo!(
        "step 2: fd = nix::sys::mman::shm_open(name, O_CREAT | O_EXCL | O_RDWR, \
         S_IRUSR | S_IWUSR), then nix::unistd::ftruncate(&fd, size), then addr = \
         mmap(None, size, PROT_READ | PROT_WRITE, MapFlags::MAP_SHARED, &fd, 0); on any \
         error shm_unlink what you created and call fail; return SharedObject {{ name, addr, \
         len: size }}"
    )
}

/// Forks one worker. The child never returns from here.
fn spawn_worker(n: u64, worker: usize, object: &SharedObject) -> Pid {
    // Flush stdout before forking: anything still buffered would be copied into the child
    // and printed twice. This program has one thread, so the child may call any function
    // after fork: say so in a `// SAFETY:` comment above `unsafe { nix::unistd::fork() }`.
    todo!(
        "step 3: flush stdout, then match unsafe {{ fork() }}: the Child calls \
         run_worker(n, worker, object); the Parent {{ child }} returns child"
    )
}

/// The worker's whole life: write its count and divisors into its region, unmap, exit.
fn run_worker(n: u64, worker: usize, object: &SharedObject) -> ! {
    // This worker's region starts at object.addr.cast::<u64>().as_ptr().add(worker * SLOTS)
    // and is SLOTS long: std::slice::from_raw_parts_mut makes a slice of it (unsafe: explain
    // in a SAFETY comment why no other process writes it). The mapping was inherited at
    // fork, so the worker must munmap it too. End with std::process::exit, never return.
    todo!(
        "step 4: store this worker's divisors in region[1..] and their count in region[0], \
         then nix::sys::mman::munmap(object.addr, object.len) and exit(0)"
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
fn collect_factors(object: &SharedObject) -> Vec<u64> {
    todo!(
        "step 6: for each worker, read its count and that many factors from its region \
         (std::slice::from_raw_parts, with a SAFETY comment)"
    )
}

/// Unmaps the object and removes its name (the memory goes when nobody maps it).
fn destroy_object(object: SharedObject) {
    // Until it is unlinked, the object stays in /dev/shm after the program ends (`ls
    // /dev/shm` shows it), whether or not anyone maps it.
    todo!(
        "step 6: nix::sys::mman::munmap(object.addr, object.len), then \
         nix::sys::mman::shm_unlink(object.name.as_str()); check both results"
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
