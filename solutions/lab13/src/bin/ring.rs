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
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| format!("cannot read stdin: {e}"))?;
    lab13::parse_config(&line)
}

/// Maps the region (shared, anonymous, zero-filled) and initialises the three semaphores in it.
fn create_region(config: &Config) -> Region {
    let len = lab13::region_size(config);
    let size = NonZeroUsize::new(len).expect("the region holds at least the ring");
    // SAFETY: a new anonymous mapping at an address the kernel chooses overlaps nothing
    // this program uses.
    let mapped = unsafe {
        mmap_anonymous(
            None,
            size,
            ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
            MapFlags::MAP_SHARED,
        )
    };
    let ring: *mut Ring = match mapped {
        Ok(address) => address.as_ptr().cast(),
        Err(e) => fail(&format!("mmap: {e}")),
    };
    let initial = [
        (sem(ring, Sem::Empty), SLOTS as u32),
        (sem(ring, Sem::Full), 0),
        (sem(ring, Sem::Mutex), 1),
    ];
    for (semaphore, value) in initial {
        // SAFETY: `semaphore` points into the mapping just made, aligned for a sem_t (the
        // mapping is page-aligned and Ring is repr(C)); pshared = 1 because the semaphore
        // lives in memory shared between processes.
        if unsafe { libc::sem_init(semaphore, 1, value) } != 0 {
            fail(&format!("sem_init: {}", Errno::last()));
        }
    }
    Region { ring, len }
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
    loop {
        // SAFETY: the semaphore was initialised by sem_init before any fork and is destroyed
        // only after every other process has ended.
        if unsafe { libc::sem_wait(sem(region.ring, which)) } == 0 {
            return;
        }
        match Errno::last() {
            Errno::EINTR => continue,
            e => fail(&format!("sem_wait: {e}")),
        }
    }
}

/// sem_post: increments the value, waking one process asleep in sem_wait.
fn post(region: &Region, which: Sem) {
    // SAFETY: as in `wait`.
    if unsafe { libc::sem_post(sem(region.ring, which)) } != 0 {
        fail(&format!("sem_post: {}", Errno::last()));
    }
}

/// Puts one item into the ring, waiting while it is full.
fn put(region: &Region, item: u64) {
    wait(region, Sem::Empty);
    wait(region, Sem::Mutex);
    let ring = region.ring;
    // SAFETY: we hold the mutex, so no other process reads or writes the slots or the
    // indices now; the pointer is into the live mapping, and next_in < SLOTS.
    unsafe {
        let at = (*ring).next_in;
        (*ring).slots[at] = item;
        (*ring).next_in = (at + 1) % SLOTS;
    }
    post(region, Sem::Mutex);
    post(region, Sem::Full);
}

/// Forks one producer or consumer. The child never returns from here; the parent gets its pid.
fn spawn(region: &Region, config: &Config, role: Role) -> Pid {
    // Anything still buffered would be copied into the child and printed twice.
    let _ = std::io::stdout().flush();
    // SAFETY: this program is single-threaded, so the child may call any function after
    // fork (no other thread can hold a lock the child would inherit).
    match unsafe { fork() } {
        Ok(ForkResult::Child) => match role {
            Role::Producer(p) => run_producer(region, p, config.items),
            Role::Consumer(c) => run_consumer(region, c, config),
        },
        Ok(ForkResult::Parent { child }) => child,
        Err(e) => fail(&format!("fork: {e}")),
    }
}

/// A producer's life: its N items, in order, then exit.
fn run_producer(region: &Region, producer: usize, items: u64) -> ! {
    for i in 0..items {
        put(region, lab13::item(producer, i));
    }
    std::process::exit(0)
}

/// A consumer's life: take items and log them until the poison, then exit.
fn run_consumer(region: &Region, consumer: usize, config: &Config) -> ! {
    let ring = region.ring;
    let log = lab13::log_of(ring);
    loop {
        wait(region, Sem::Full);
        wait(region, Sem::Mutex);
        // SAFETY: we hold the mutex, so we alone use the slots, the indices and the log; the
        // log has room for total_items entries, and each real item is logged once.
        let item = unsafe {
            let at = (*ring).next_out;
            let item = (*ring).slots[at];
            (*ring).next_out = (at + 1) % SLOTS;
            let logged = (*ring).logged;
            if item != POISON && logged < config.total_items() {
                log.add(logged).write(Entry {
                    item,
                    consumer: consumer as u64,
                });
                (*ring).logged = logged + 1;
            }
            item
        };
        post(region, Sem::Mutex);
        post(region, Sem::Empty);
        if item == POISON {
            std::process::exit(0);
        }
        // The work, outside the mutex: the others go on meanwhile.
        std::thread::sleep(Duration::from_micros(config.work_us));
    }
}

/// Waits for every child and checks that it succeeded.
fn reap(children: &[Pid]) {
    for &pid in children {
        match waitpid(pid, None) {
            Ok(WaitStatus::Exited(_, 0)) => {}
            Ok(status) => fail(&format!("child {pid} ended badly: {status:?}")),
            Err(e) => fail(&format!("waitpid({pid}): {e}")),
        }
    }
}

/// Copies the log out of the region (every consumer has ended: nobody writes it any more).
fn read_log(region: &Region) -> Vec<Entry> {
    let ring = region.ring;
    // SAFETY: every child has been reaped, so this process alone uses the region; `logged`
    // entries were written, and the log has room for at least that many.
    unsafe {
        let logged = (*ring).logged;
        std::slice::from_raw_parts(lab13::log_of(ring), logged).to_vec()
    }
}

/// Destroys the semaphores and unmaps the region.
fn destroy_region(region: Region) {
    for which in [Sem::Empty, Sem::Full, Sem::Mutex] {
        // SAFETY: nobody waits on the semaphore any more (every child has ended).
        if unsafe { libc::sem_destroy(sem(region.ring, which)) } != 0 {
            fail(&format!("sem_destroy: {}", Errno::last()));
        }
    }
    let address = NonNull::new(region.ring.cast()).expect("mmap never returns null");
    // SAFETY: the mapping is ours, of this length, and no pointer into it is used after this.
    if let Err(e) = unsafe { munmap(address, region.len) } {
        fail(&format!("munmap: {e}"));
    }
}

/// Prints one line per logged item, then `Finished.`, through one buffer.
fn print_report(log: &[Entry]) {
    let mut out = BufWriter::new(std::io::stdout().lock());
    for entry in log {
        let _ = writeln!(out, "consumed {} by {}", entry.item, entry.consumer);
    }
    let _ = writeln!(out, "Finished.");
    let _ = out.flush();
}

/// Reports a failed system call and exits with status 1.
fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    std::process::exit(1)
}
