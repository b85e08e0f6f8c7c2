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

use nix::sys::stat::Mode;
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
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

/// Where this run's FIFO lives. The pid makes the name unique: two runs at once (the
/// grader runs several) never share a FIFO.
fn fifo_path() -> PathBuf {
    PathBuf::from(format!("/tmp/lab12-{}.fifo", std::process::id()))
}

/// Makes the FIFO, readable and writable by its owner only.
fn make_fifo(path: &Path) {
    if let Err(e) = nix::unistd::mkfifo(path, Mode::S_IRUSR | Mode::S_IWUSR) {
        fail(&format!("mkfifo {}: {e}", path.display()));
    }
}

/// Forks one worker. The child never returns from here; the parent gets its pid.
fn spawn_worker(n: u64, worker: usize, path: &Path) -> Pid {
    // Anything still buffered would be copied into the child and printed twice.
    let _ = std::io::stdout().flush();
    // SAFETY: this program is single-threaded, so the child may call any function after
    // fork (no other thread can hold a lock the child would inherit).
    match unsafe { fork() } {
        Ok(ForkResult::Child) => run_worker(n, worker, path),
        Ok(ForkResult::Parent { child }) => child,
        Err(e) => fail(&format!("fork: {e}")),
    }
}

/// The worker's whole life: open the FIFO to write, write every divisor as 8 bytes, then
/// the end marker, and exit.
fn run_worker(n: u64, worker: usize, path: &Path) -> ! {
    // Opening a FIFO to write waits until some process has it open to read.
    let fifo = match OpenOptions::new().write(true).open(path) {
        Ok(fifo) => fifo,
        Err(e) => {
            eprintln!("error: worker {worker}: open {}: {e}", path.display());
            std::process::exit(1)
        }
    };
    // Two workers write into one FIFO: a buffer of PIPE_BUF bytes makes every write() at
    // most PIPE_BUF long, and so whole — never cut and mixed with the other worker's bytes.
    let mut out = BufWriter::with_capacity(lab12::PIPE_BUF, fifo);
    let records = lab12::worker_divisors(n, worker, lab12::WORKERS)
        .chain(std::iter::once(lab12::END_OF_FACTORS));
    for d in records {
        if out.write_all(&d.to_le_bytes()).is_err() {
            std::process::exit(1);
        }
    }
    let code = if out.flush().is_ok() { 0 } else { 1 };
    // exit, never return: returning would run the parent's code in the worker too.
    std::process::exit(code)
}

/// Opens the FIFO to read, then to write (the keep-alive end), and returns both.
fn open_fifo(path: &Path) -> (File, File) {
    // Waits until a worker has opened the FIFO to write.
    let reader =
        File::open(path).unwrap_or_else(|e| fail(&format!("open {}: {e}", path.display())));
    // Does not wait: a reader (the line above) exists.
    let keep_alive = OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap_or_else(|e| fail(&format!("open {}: {e}", path.display())));
    (reader, keep_alive)
}

/// Reads 8-byte records until every worker has sent END_OF_FACTORS.
fn collect_factors(reader: File) -> Vec<u64> {
    let mut input = BufReader::new(reader);
    let mut factors = Vec::new();
    let mut finished = 0;
    let mut record = [0u8; lab12::RECORD];
    while finished < lab12::WORKERS {
        if let Err(e) = input.read_exact(&mut record) {
            fail(&format!("reading the FIFO: {e}"));
        }
        match u64::from_le_bytes(record) {
            lab12::END_OF_FACTORS => finished += 1,
            d => factors.push(d),
        }
    }
    factors
}

/// Removes the FIFO's name. (Processes that still have it open could go on using it.)
fn remove_fifo(path: &Path) {
    if let Err(e) = std::fs::remove_file(path) {
        fail(&format!("unlink {}: {e}", path.display()));
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
