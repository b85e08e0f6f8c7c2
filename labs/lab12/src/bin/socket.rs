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
//!
//! Every `todo!` below is a step of handouts/lab12.md. `main` is complete: it calls the
//! steps in the right order, so you only write function bodies. The socket types are
//! std::os::unix::net::UnixListener and UnixStream.

use nix::unistd::Pid;
use std::os::unix::net::UnixListener;
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
    todo!(
        "step 1: print \"Give a number to factor.\" and flush stdout, read one line with \
         std::io::stdin().read_line, trim it and parse it as u64; return Err(explanation) \
         for anything that is not a number from 1 to u64::MAX"
    )
}

/// Where this run's socket file lives; the pid makes it unique to the run. (Given.)
fn socket_path() -> PathBuf {
    PathBuf::from(format!("/tmp/lab12-{}.sock", std::process::id()))
}

/// Makes a Unix-domain stream socket, binds it to `path` (which creates the socket file)
/// and listens on it.
fn listen(path: &Path) -> UnixListener {
    // UnixListener::bind does socket(AF_UNIX, SOCK_STREAM), bind and listen in one call.
    // It fails with "address in use" if the file exists already, even with nobody
    // listening: that is why the file must be removed after use (step 6).
    todo!("step 2: UnixListener::bind(path); on error, call fail(...)")
}

/// Forks one worker. The child never returns from here; the parent gets the worker's pid
/// and the listener back.
fn spawn_worker(n: u64, worker: usize, listener: UnixListener, path: &Path) -> (Pid, UnixListener) {
    // Flush stdout before forking: anything still buffered would be copied into the child
    // and printed twice. This program has one thread, so the child may call any function
    // after fork: say so in a `// SAFETY:` comment above `unsafe { nix::unistd::fork() }`.
    todo!(
        "step 3: flush stdout, then match unsafe {{ fork() }}: in the Child, drop(listener) \
         (step 4: only the parent accepts) and call run_worker(n, worker, path); in the \
         Parent {{ child }}, return (child, listener)"
    )
}

/// The worker's whole life: connect, write every divisor as 8 bytes, exit.
fn run_worker(n: u64, worker: usize, path: &Path) -> ! {
    // The connection is this worker's alone, so no other bytes come between its own: any
    // buffer size will do (a BufWriter saves system calls). Exiting closes the connection,
    // and the parent reads end-of-file. End with std::process::exit, never return.
    todo!(
        "step 4: UnixStream::connect(path), then write each of lab12::worker_divisors(n, \
         worker, lab12::WORKERS) as d.to_le_bytes(), flush, exit(0)"
    )
}

/// Accepts one connection per worker and reads 8-byte factors from each until its
/// end-of-file.
fn collect_factors(listener: &UnixListener) -> Vec<u64> {
    // listener.accept() waits for the next worker to connect and returns (stream, address).
    // Read each stream like lab 11's pipe: read_exact into [u8; lab12::RECORD] until it
    // fails with ErrorKind::UnexpectedEof. One connection at a time is fine: the other
    // worker waits in the queue of pending connections, its bytes in its socket's buffer.
    todo!("step 5: lab12::WORKERS times: accept, read 8-byte records until end-of-file")
}

/// Closes the listening socket and removes its file.
fn close_listener(listener: UnixListener, path: &Path) {
    todo!(
        "step 6: drop(listener), then std::fs::remove_file(path) (the unlink system call); \
         on error, call fail"
    )
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
