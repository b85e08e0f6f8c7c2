//! Lab 12, part `fifo`: two workers factor a number and send the factors back to the
//! parent through a named pipe (a FIFO), which each of them opens by its path.
//!
//! ```text
//!   parent: mkfifo /tmp/lab12-<pid>.fifo, fork, fork
//!           open it to read ─┐ (waits for a first writer)
//!           open it to write ┘ (keep-alive: no end-of-file between two workers)
//!           read 8-byte records until both end markers ── close, unlink, reap, print
//!   worker: open it to write ── write its factors, then END_OF_FACTORS (0) ── exit
//! ```
//!
//! Run it: `printf '60\n' | cargo run -q -p lab12 --bin lab12-fifo`.
//! Grade it: `cargo test -p lab12 -- fifo.` (the handout explains every check).
//!
//! Every `todo!` below is a step of handouts/lab12.md. `main` is complete: it calls the
//! steps in the right order, so you only write function bodies.

use nix::unistd::Pid;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

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

    // Step 2: the FIFO, made BEFORE forking, so that it exists when a worker opens it.
    let path = fifo_path();
    make_fifo(&path);

    // Step 3: fork the workers. Each opens the FIFO by its path and writes (step 4).
    let workers: Vec<Pid> = (0..lab12::WORKERS)
        .map(|worker| spawn_worker(n, worker, &path))
        .collect();

    // Step 5: open the FIFO to read (this waits until a worker opens it to write), then to
    // write as well: while the parent holds a write end, read() never reports end-of-file
    // in the gap between one worker closing and the other opening.
    let (reader, keep_alive) = open_fifo(&path);

    // Step 6: read until every worker has sent its end marker; then close both ends.
    let factors = collect_factors(reader);
    drop(keep_alive);

    // Step 7: remove the FIFO, reap both workers, print.
    remove_fifo(&path);
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

/// Where this run's FIFO lives. The pid makes the name unique: two runs at once (the
/// grader runs several) never share a FIFO. (Given: nothing to do here.)
fn fifo_path() -> PathBuf {
    PathBuf::from(format!("/tmp/lab12-{}.fifo", std::process::id()))
}

/// Makes the FIFO, readable and writable by its owner only.
fn make_fifo(path: &Path) {
    // A FIFO is a file of a special kind: mkfifo creates it, and it stays in the file
    // system until someone removes it (step 7). It fails if the path exists already.
    todo!(
        "step 2: nix::unistd::mkfifo(path, Mode::S_IRUSR | Mode::S_IWUSR) (Mode is \
         nix::sys::stat::Mode); on error, call fail(...)"
    )
}

/// Forks one worker. The child never returns from here; the parent gets its pid.
fn spawn_worker(n: u64, worker: usize, path: &Path) -> Pid {
    // Flush stdout before forking: anything still buffered would be copied into the child
    // and printed twice. fork is `unsafe` because, in a program with threads, the child may
    // only call async-signal-safe functions; this program has one thread, so say so in a
    // `// SAFETY:` comment above the `unsafe` block.
    todo!(
        "step 3: flush stdout, then match unsafe {{ nix::unistd::fork() }}: the Child calls \
         run_worker(n, worker, path); the Parent {{ child }} returns child"
    )
}

/// The worker's whole life: open the FIFO to write, write every divisor as 8 bytes, then
/// the end marker, and exit.
fn run_worker(n: u64, worker: usize, path: &Path) -> ! {
    // Opening a FIFO to write waits until some process opens it to read: that is how the
    // two sides meet. Both workers write into the same FIFO, so make every write() whole:
    // BufWriter::with_capacity(lab12::PIPE_BUF, file) never writes more than PIPE_BUF
    // bytes at once, and the kernel never cuts such a write to slip the other worker's
    // bytes in. End with std::process::exit, never return: returning would run the
    // parent's code in the worker too.
    todo!(
        "step 4: open the path write-only (std::fs::OpenOptions::new().write(true).open), \
         write each of lab12::worker_divisors(n, worker, lab12::WORKERS) as d.to_le_bytes(), \
         then lab12::END_OF_FACTORS the same way, flush, exit(0)"
    )
}

/// Opens the FIFO to read, then to write (the keep-alive end), and returns both.
fn open_fifo(path: &Path) -> (File, File) {
    // The order matters: opening to read waits for a writer (a worker); opening to write
    // then returns at once, because a reader (you) exists.
    todo!(
        "step 5: let reader = File::open(path); let keep_alive = \
         OpenOptions::new().write(true).open(path); call fail(...) on errors; return both"
    )
}

/// Reads 8-byte records until every worker has sent END_OF_FACTORS.
fn collect_factors(reader: File) -> Vec<u64> {
    // Hint: BufReader::new(reader); read_exact into a [u8; lab12::RECORD];
    // u64::from_le_bytes turns it back. Count the END_OF_FACTORS records: when there are
    // lab12::WORKERS of them, every factor has arrived. (Thanks to the keep-alive end,
    // read() cannot report end-of-file before that: if read_exact fails, call fail.)
    todo!("step 6: read records until lab12::WORKERS end markers; keep the others as factors")
}

/// Removes the FIFO's name. (Processes that still have it open could go on using it.)
fn remove_fifo(path: &Path) {
    todo!("step 7: std::fs::remove_file(path) (the unlink system call); on error, call fail")
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
