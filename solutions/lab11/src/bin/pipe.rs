//! Lab 11, part `pipe`: two workers factor a number and send the factors back to the
//! parent through a pipe.
//!
//! ```text
//!            fork            ┌──────────┐  write(8-byte factors)
//!   parent ─────────────────►│ worker 0 │──────────┐
//!     │  ▲       fork        ├──────────┤          ▼
//!     │  └───────────────────│ worker 1 │───►  [  pipe  ]  ───► parent reads until EOF,
//!     │                      └──────────┘                       reaps, prints
//! ```
//!
//! Run it: `printf '60\n' | cargo run -q -p lab11 --bin lab11-pipe`.
//! Grade it: `cargo test -p lab11 -- pipe.` (the handout explains every check).

use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork};
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::os::fd::OwnedFd;
use std::process::ExitCode;

/// The two ends of the pipe that carries factors from the workers to the parent.
struct Pipe {
    read_end: OwnedFd,
    write_end: OwnedFd,
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

    // Step 2: the pipe, made BEFORE forking so that every worker inherits both ends.
    let mut pipe = make_pipe();

    // Step 3: fork the workers. Each gets the pipe and hands it back to the parent.
    let mut workers = Vec::new();
    for worker in 0..lab11::WORKERS {
        let (pid, returned) = spawn_worker(n, worker, pipe);
        workers.push(pid);
        pipe = returned;
    }

    // Step 5: the parent only reads. It closes its copy of the write end first: read()
    // reports end-of-file only once every write end, in every process, is closed.
    let read_end = close_write_end(pipe);

    // Step 6: read while the workers write (a pipe holds only 64 KiB), until end-of-file.
    let factors = collect_factors(read_end);

    // Step 7: reap both workers, then print.
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

/// Creates the pipe.
fn make_pipe() -> Pipe {
    match nix::unistd::pipe() {
        Ok((read_end, write_end)) => Pipe {
            read_end,
            write_end,
        },
        Err(e) => fail(&format!("pipe: {e}")),
    }
}

/// Forks one worker. The child never returns from here; the parent gets the worker's pid
/// and the pipe back.
fn spawn_worker(n: u64, worker: usize, pipe: Pipe) -> (Pid, Pipe) {
    // Anything still buffered would be copied into the child and printed twice.
    let _ = std::io::stdout().flush();
    // SAFETY: this program is single-threaded, so the child may call any function after
    // fork (no other thread can hold a lock the child would inherit).
    match unsafe { fork() } {
        Ok(ForkResult::Child) => {
            // Step 4 (in the worker): close the end it does not use, then work.
            drop(pipe.read_end);
            run_worker(n, worker, pipe.write_end)
        }
        Ok(ForkResult::Parent { child }) => (child, pipe),
        Err(e) => fail(&format!("fork: {e}")),
    }
}

/// The worker's whole life: find its divisors, write each as 8 bytes to the pipe, exit.
fn run_worker(n: u64, worker: usize, write_end: OwnedFd) -> ! {
    // Writes of at most PIPE_BUF bytes are atomic: the two workers' records never mix.
    let mut out = BufWriter::with_capacity(libc::PIPE_BUF, File::from(write_end));
    for d in lab11::worker_divisors(n, worker, lab11::WORKERS) {
        if out.write_all(&d.to_le_bytes()).is_err() {
            std::process::exit(1);
        }
    }
    let code = if out.flush().is_ok() { 0 } else { 1 };
    // exit, never return: returning would run the parent's code in the worker too.
    std::process::exit(code)
}

/// Closes the parent's copy of the write end and keeps the read end.
fn close_write_end(pipe: Pipe) -> OwnedFd {
    drop(pipe.write_end);
    pipe.read_end
}

/// Reads 8-byte factors until end-of-file.
fn collect_factors(read_end: OwnedFd) -> Vec<u64> {
    let mut input = BufReader::new(File::from(read_end));
    let mut factors = Vec::new();
    let mut record = [0u8; 8];
    loop {
        match input.read_exact(&mut record) {
            Ok(()) => factors.push(u64::from_le_bytes(record)),
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return factors,
            Err(e) => fail(&format!("reading the pipe: {e}")),
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
