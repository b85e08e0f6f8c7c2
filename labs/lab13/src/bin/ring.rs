//! Lab 13, part `ring`: P producers and C consumers, each its own process, pass items through
//! a bounded buffer of SLOTS slots in shared memory, synchronised with three process-shared
//! semaphores. Only the parent prints.
//!
//! ```text
//!   parent: read "P C N [W]", mmap(MAP_SHARED) the region, sem_init ×3 (pshared = 1),
//!           fork P producers and C consumers, reap the producers, put C poisons,
//!           reap the consumers, print the log, sem_destroy ×3, munmap, Finished.
//!
//!   region: [ empty | full | mutex | slots[8] | next_in | next_out | logged ][ log … ]
//!
//!   producer p: for i in 0..N: wait(empty) wait(mutex) put item(p, i) post(mutex) post(full)
//!   consumer c: loop: wait(full) wait(mutex) take; log (item, c) post(mutex) post(empty)
//!               stop at the poison; otherwise sleep W µs
//! ```
//!
//! Run it: `printf '2 2 10\n' | cargo run -q -p lab13 --bin lab13-ring`.
//! Grade it: `cargo test -p lab13`.
//!
//! Every `todo!` below is a step of handouts/lab13.md. `main` is complete: it calls the
//! steps in the right order, so you only write function bodies. The calls you need are
//! `nix::sys::mman::{mmap_anonymous, munmap}`, `libc::{sem_init, sem_wait, sem_post,
//! sem_destroy}`, `nix::unistd::fork` and `nix::sys::wait::waitpid`.

use lab13::{Config, Entry, POISON, Ring, SLOTS};
use nix::errno::Errno;
use nix::sys::mman::{MapFlags, ProtFlags, mmap_anonymous, munmap};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork};
use std::io::{BufWriter, Write};
use std::num::NonZeroUsize;
use std::process::ExitCode;
use std::ptr::NonNull;
use std::time::Duration;

/// The shared region as this process sees it. Children inherit the mapping at fork: the same
/// physical pages, at the same address.
struct Region {
    ring: *mut Ring,
    len: usize,
}

/// What a forked process does.
#[derive(Clone, Copy)]
enum Role {
    Producer(usize),
    Consumer(usize),
}

fn main() -> ExitCode {
    // Step 1: read and validate the line before creating anything.
    let config = match read_config() {
        Ok(config) => config,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };

    // Step 2: the region and its semaphores, BEFORE forking: children inherit the mapping.
    let region = create_region(&config);

    // Step 3: fork the producers (step 4), then the consumers (step 5).
    let producers: Vec<Pid> = (0..config.producers)
        .map(|p| spawn(&region, &config, Role::Producer(p)))
        .collect();
    let consumers: Vec<Pid> = (0..config.consumers)
        .map(|c| spawn(&region, &config, Role::Consumer(c)))
        .collect();

    // Step 6: once every producer is done, one poison per consumer; then every consumer ends.
    reap(&producers);
    for _ in 0..config.consumers {
        put(&region, POISON);
    }
    reap(&consumers);

    // Step 7: copy the log out, destroy the semaphores, unmap, print.
    let log = read_log(&region);
    destroy_region(region);
    print_report(&log);
    ExitCode::SUCCESS
}

/// Reads one line from stdin and parses it with `lab13::parse_config`.
fn read_config() -> Result<Config, String> {
    todo!(
        "step 1: read one line with std::io::stdin().read_line and return \
         lab13::parse_config(&line) (its Err is the explanation for the `error:` line)"
    )
}

/// Maps the region (shared, anonymous, zero-filled) and initialises the three semaphores in it.
fn create_region(config: &Config) -> Region {
    // The region: lab13::region_size(config) bytes, mapped with
    // nix::sys::mman::mmap_anonymous(None, size, PROT_READ | PROT_WRITE, MAP_SHARED).
    // MAP_SHARED, not MAP_PRIVATE: after fork, a private mapping is copied and every process
    // would fill and empty its own buffer. The mapping starts zero-filled; cast its address
    // to *mut Ring. mmap_anonymous is `unsafe`: say in a `// SAFETY:` comment why this call
    // is sound (a new mapping at an address the kernel picks overlaps nothing).
    //
    // Then libc::sem_init(sem(ring, Sem::Empty), 1, SLOTS as u32), Full at 0, Mutex at 1.
    // The 1 is `pshared`: the semaphore lives in shared memory and is used by several
    // processes (with 0, only the threads of one process may use it).
    todo!(
        "step 2: mmap_anonymous the region MAP_SHARED, then sem_init empty = SLOTS, full = 0, \
         mutex = 1, each with pshared = 1; call fail(...) on errors; return Region {{ ring, len }}"
    )
}

/// One of the three semaphores.
#[derive(Clone, Copy)]
enum Sem {
    Empty,
    Full,
    Mutex,
}

/// The address of a semaphore in the region (no access, only arithmetic).
fn sem(ring: *mut Ring, which: Sem) -> *mut libc::sem_t {
    // SAFETY: `ring` points to the start of the live shared mapping; taking a field's
    // address reads nothing and creates no reference.
    unsafe {
        match which {
            Sem::Empty => &raw mut (*ring).empty,
            Sem::Full => &raw mut (*ring).full,
            Sem::Mutex => &raw mut (*ring).mutex,
        }
    }
}

/// sem_wait: sleeps in the kernel until the value is above zero, then decrements it.
fn wait(region: &Region, which: Sem) {
    // libc::sem_wait(sem(region.ring, which)) returns 0, or -1 with errno set
    // (Errno::last()); EINTR (a signal handler ran while it waited) means: try again.
    todo!("step 4: sem_wait, retried on EINTR; any other error calls fail(...)")
}

/// sem_post: increments the value, waking one process asleep in sem_wait.
fn post(region: &Region, which: Sem) {
    todo!("step 4: libc::sem_post(sem(region.ring, which)); on -1 call fail(...)")
}

/// Puts one item into the ring, waiting while it is full.
fn put(region: &Region, item: u64) {
    // wait(empty) first, then wait(mutex): the other way round, a producer would sleep on a
    // full buffer while holding the mutex, and no consumer could ever take an item.
    // Between wait(mutex) and post(mutex), through raw pointers (`(*ring).slots[at] = item`,
    // never a `&mut Ring`: other processes use the same memory): store the item at next_in,
    // advance next_in modulo SLOTS. Then post(mutex), post(full).
    todo!(
        "step 4: wait(Empty), wait(Mutex), slots[next_in] = item, next_in = (next_in + 1) % \
         SLOTS, post(Mutex), post(Full); one unsafe block with a SAFETY comment"
    )
}

/// Forks one producer or consumer. The child never returns from here; the parent gets its pid.
fn spawn(region: &Region, config: &Config, role: Role) -> Pid {
    // Flush stdout before forking: anything still buffered would be copied into the child
    // and printed twice. This program has one thread, so the child may call any function
    // after fork: say so in a `// SAFETY:` comment above `unsafe { fork() }`.
    // The child inherits the MAP_SHARED region: the same pages, at the same address.
    todo!(
        "step 3: flush stdout, then match unsafe {{ fork() }}: the Child runs run_producer or \
         run_consumer by its role; the Parent {{ child }} returns child"
    )
}

/// A producer's life: its N items, in order, then exit.
fn run_producer(region: &Region, producer: usize, items: u64) -> ! {
    todo!(
        "step 4: put(region, lab13::item(producer, i)) for i in 0..items, in order; then \
         std::process::exit(0) (never return into the parent's code)"
    )
}

/// A consumer's life: take items and log them until the poison, then exit.
fn run_consumer(region: &Region, consumer: usize, config: &Config) -> ! {
    // The log starts at lab13::log_of(ring); entry number (*ring).logged is the next free one.
    // Write it under the mutex too: two consumers must never get the same entry.
    todo!(
        "step 5: loop {{ wait(Full), wait(Mutex), take slots[next_out] and advance next_out; \
         if it is not POISON, log Entry {{ item, consumer }} and add 1 to logged; post(Mutex), \
         post(Empty); exit(0) on POISON, else sleep config.work_us microseconds }}"
    )
}

/// Waits for every child and checks that it succeeded.
fn reap(children: &[Pid]) {
    todo!(
        "step 6: nix::sys::wait::waitpid(pid, None) for every child; anything but \
         WaitStatus::Exited(_, 0) is an error (call fail)"
    )
}

/// Copies the log out of the region (every consumer has ended: nobody writes it any more).
fn read_log(region: &Region) -> Vec<Entry> {
    todo!(
        "step 7: (*ring).logged entries from lab13::log_of(ring), copied into a Vec \
         (std::slice::from_raw_parts(...).to_vec()); every child has ended, so nobody writes now"
    )
}

/// Destroys the semaphores and unmaps the region.
fn destroy_region(region: Region) {
    // sem_destroy each semaphore (nobody waits on them any more), then munmap the region:
    // nix::sys::mman::munmap(NonNull::new(region.ring.cast()).unwrap(), region.len).
    todo!("step 7: sem_destroy empty, full and mutex, then munmap; call fail on errors")
}

/// Prints one line per logged item, then `Finished.`, through one buffer.
fn print_report(log: &[Entry]) {
    todo!(
        "step 7: print `consumed <item> by <consumer>` for every entry, then `Finished.`, \
         through BufWriter::new(std::io::stdout().lock()), and flush it"
    )
}

/// Reports a failed system call and exits with status 1.
fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    std::process::exit(1)
}
