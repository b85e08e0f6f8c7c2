//! Lab 12, part `socket`: two workers factor a number and send the factors back to the
//! parent through Unix-domain stream sockets: the parent listens on a path, each worker
//! connects to it and gets a connection of its own.
//!
//! ```text
//!   parent: bind + listen on /tmp/lab12-<pid>.sock, fork, fork
//!           accept ── read to end-of-file ─┐ once per worker
//!           close the listener, unlink the path, reap, print
//!   worker: close the inherited listener, connect to the path,
//!           write 8-byte factors ── exit (which ends its connection)
//! ```
//!
//! Run it: `printf '60\n' | cargo run -q -p lab12 --bin lab12-socket`.
//! Grade it: `cargo test -p lab12 -- socket.` (the handout explains every check).

use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork};
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
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

    // Step 2: the listening socket, bound to a path BEFORE forking, so that it exists
    // when a worker connects.
    let path = socket_path();
    let mut listener = listen(&path);

    // Step 3: fork the workers. Each gets the listener (a copy of the descriptor) and
    // hands it back to the parent; the worker closes its copy (step 4).
    let mut workers = Vec::new();
    for worker in 0..lab12::WORKERS {
        let (pid, returned) = spawn_worker(n, worker, listener, &path);
        workers.push(pid);
        listener = returned;
    }

    // Step 5: one connection per worker, each read to its own end-of-file.
    let factors = collect_factors(&listener);

    // Step 6: close the listener and remove the socket file.
    close_listener(listener, &path);

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

/// Where this run's socket file lives; the pid makes it unique to the run.
fn socket_path() -> PathBuf {
    PathBuf::from(format!("/tmp/lab12-{}.sock", std::process::id()))
}

/// Makes a Unix-domain stream socket, binds it to `path` (which creates the socket file)
/// and listens on it.
fn listen(path: &Path) -> UnixListener {
    UnixListener::bind(path).unwrap_or_else(|e| fail(&format!("bind {}: {e}", path.display())))
}

/// Forks one worker. The child never returns from here; the parent gets the worker's pid
/// and the listener back.
fn spawn_worker(n: u64, worker: usize, listener: UnixListener, path: &Path) -> (Pid, UnixListener) {
    // Anything still buffered would be copied into the child and printed twice.
    let _ = std::io::stdout().flush();
    // SAFETY: this program is single-threaded, so the child may call any function after
    // fork (no other thread can hold a lock the child would inherit).
    match unsafe { fork() } {
        Ok(ForkResult::Child) => {
            // Step 4 (in the worker): only the parent accepts; close the copy.
            drop(listener);
            run_worker(n, worker, path)
        }
        Ok(ForkResult::Parent { child }) => (child, listener),
        Err(e) => fail(&format!("fork: {e}")),
    }
}

/// The worker's whole life: connect, write every divisor as 8 bytes, exit.
fn run_worker(n: u64, worker: usize, path: &Path) -> ! {
    let stream = match UnixStream::connect(path) {
        Ok(stream) => stream,
        Err(e) => {
            eprintln!("error: worker {worker}: connect {}: {e}", path.display());
            std::process::exit(1)
        }
    };
    // The connection is this worker's alone: no other bytes can come between ours.
    let mut out = BufWriter::new(stream);
    for d in lab12::worker_divisors(n, worker, lab12::WORKERS) {
        if out.write_all(&d.to_le_bytes()).is_err() {
            std::process::exit(1);
        }
    }
    let code = if out.flush().is_ok() { 0 } else { 1 };
    // exit, never return: returning would run the parent's code in the worker too. Exiting
    // closes the connection: the parent reads end-of-file.
    std::process::exit(code)
}

/// Accepts one connection per worker and reads 8-byte factors from each until its
/// end-of-file.
fn collect_factors(listener: &UnixListener) -> Vec<u64> {
    let mut factors = Vec::new();
    for _ in 0..lab12::WORKERS {
        let stream = match listener.accept() {
            Ok((stream, _)) => stream,
            Err(e) => fail(&format!("accept: {e}")),
        };
        let mut input = BufReader::new(stream);
        let mut record = [0u8; lab12::RECORD];
        loop {
            match input.read_exact(&mut record) {
                Ok(()) => factors.push(u64::from_le_bytes(record)),
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
                Err(e) => fail(&format!("reading a connection: {e}")),
            }
        }
    }
    factors
}

/// Closes the listening socket and removes its file.
fn close_listener(listener: UnixListener, path: &Path) {
    drop(listener);
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
