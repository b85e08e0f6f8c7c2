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
//!
//! Every `todo!` below is a step of handouts/lab11.md. `main` is complete: it calls the
//! steps in the right order, so you only write function bodies.

use nix::unistd::Pid;
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
    todo!(
        "step 1: print \"Give a number to factor.\" and flush stdout, read one line with \
         std::io::stdin().read_line, trim it and parse it as u64; return Err(explanation) \
         for anything that is not a number from 1 to u64::MAX"
    )
}

/// Creates the pipe.
fn make_pipe() -> Pipe {
    todo!(
        "step 2: call nix::unistd::pipe() and return Pipe {{ read_end, write_end }}; on \
         error, call fail(...)"
    )
}

/// Forks one worker. The child never returns from here; the parent gets the worker's pid
/// and the pipe back.
fn spawn_worker(n: u64, worker: usize, pipe: Pipe) -> (Pid, Pipe) {
    // Flush stdout before forking: anything still buffered would be copied into the child
    // and printed twice. fork is `unsafe` because, in a program with threads, the child may
    // only call async-signal-safe functions; this program has one thread, so say so in a
    // `// SAFETY:` comment above the `unsafe` block.
    todo!(
        "step 3: flush stdout, then match unsafe {{ fork() }}: in the Child, drop the read \
         end (step 4) and call run_worker(n, worker, pipe.write_end); in the Parent {{ child \
         }}, return (child, pipe)"
    )
}

/// The worker's whole life: find its divisors, write each as 8 bytes to the pipe, exit.
fn run_worker(n: u64, worker: usize, write_end: OwnedFd) -> ! {
    // Hint: File::from(write_end) gives a writer; BufWriter::with_capacity(libc::PIPE_BUF,
    // …) around it saves system calls and keeps every write whole (both workers write into
    // this pipe, and only a write of at most PIPE_BUF bytes is sure never to be split and
    // mixed with the other worker's bytes); lab11::worker_divisors(n, worker,
    // lab11::WORKERS) gives the divisors; d.to_le_bytes() gives the 8 bytes of one. End
    // with std::process::exit, never return: returning would run the parent's code in the
    // worker too.
    todo!("step 4: write every divisor of this worker to the pipe as 8 bytes, flush, exit(0)")
}

/// Closes the parent's copy of the write end and keeps the read end.
fn close_write_end(pipe: Pipe) -> OwnedFd {
    todo!(
        "step 5: drop(pipe.write_end) — an OwnedFd closes its descriptor when dropped — and \
         return pipe.read_end"
    )
}

/// Reads 8-byte factors until end-of-file.
fn collect_factors(read_end: OwnedFd) -> Vec<u64> {
    // Hint: BufReader::new(File::from(read_end)); read_exact into a [u8; 8] until it fails
    // with ErrorKind::UnexpectedEof (end-of-file); u64::from_le_bytes turns it back.
    todo!("step 6: read 8-byte records from the pipe until end-of-file")
}

/// Waits for every worker and checks that it succeeded.
fn reap(workers: &[Pid]) {
    todo!(
        "step 7: waitpid(pid, None) for every worker; anything but WaitStatus::Exited(_, 0) \
         is an error (call fail)"
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
