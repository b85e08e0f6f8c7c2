//! Lab 14, part `rpc`: a small RPC service. `rpc serve` listens on a Unix-domain or TCP
//! socket and forks one child per connection; `rpc call` makes one call and prints the answer.
//! The bytes on the wire are `lab14::wire`'s.
//!
//! ```text
//!   serve:  block SIGCHLD, SIGTERM, SIGINT; bind + listen; signalfd for those three
//!           loop: poll(listener, signalfd)
//!             a signal     → read them all: SIGCHLD → waitpid(-1, WNOHANG) until none is left
//!                                           SIGTERM or SIGINT → leave the loop
//!             a connection → accept, fork ──► child: close the listener and the signalfd,
//!                                                read_request → dispatch → write the reply,
//!                                                … until end of file, exit
//!           close the listener, unlink the socket file, waitpid every child, exit 0
//!   call:   connect, write one request, read one reply, print its results
//! ```
//!
//! Run it: `cargo run -q -p lab14 --bin lab14-rpc -- serve --listen unix:/tmp/rpc.sock &`
//! then `cargo run -q -p lab14 --bin lab14-rpc -- call --connect unix:/tmp/rpc.sock factor 60`;
//! stop the server with `kill -TERM %1`.
//! Grade it: `cargo test -p lab14 -- rpc.`.
//!
//! Every `todo!` below is a step of handouts/lab14.md. `main`, the command line and `serve`
//! are complete: `serve` calls the steps in the right order, so you only write function
//! bodies. `Listener` and `Stream` are given: one type over the Unix-domain and the TCP
//! socket, which std treats alike (bind, listen, accept, read, write).

use lab14::wire::{self, Address, FrameError, Reply, Request};
use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigSet, SigmaskHow, Signal, sigprocmask};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{ForkResult, fork};
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

/// The call id `rpc call` puts on its request. One call per connection, so any id would do;
/// what matters is that the reply carries it back.
const CALL_ID: u32 = 1;

/// What the command line asks for.
enum Command {
    Serve(Address),
    Call { address: Address, request: Request },
}

/// A listening socket of either family. No `Drop` of ours: a child drops its inherited copy,
/// and that must close the descriptor, never remove the server's socket file.
enum Listener {
    Unix(UnixListener),
    Tcp(TcpListener),
}

impl Listener {
    /// Takes the next connection off the queue (blocks if there is none: poll first).
    fn accept(&self) -> io::Result<Stream> {
        match self {
            Listener::Unix(listener) => listener.accept().map(|(s, _)| Stream::Unix(s)),
            Listener::Tcp(listener) => listener.accept().map(|(s, _)| Stream::Tcp(s)),
        }
    }
}

impl AsFd for Listener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Listener::Unix(listener) => listener.as_fd(),
            Listener::Tcp(listener) => listener.as_fd(),
        }
    }
}

/// One connection, of either family: both are byte streams, read and written alike.
enum Stream {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Unix(stream) => stream.read(buf),
            Stream::Tcp(stream) => stream.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Unix(stream) => stream.write(buf),
            Stream::Tcp(stream) => stream.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// What the server process owns: the descriptors a connection's child must close.
struct Server {
    listener: Listener,
    signals: SignalFd,
}

/// Which of the polled descriptors have something for us.
struct Ready {
    connection: bool,
    signals: bool,
}

/// What the signalfd held since it was last read.
#[derive(Default)]
struct Received {
    /// At least one SIGCHLD: one or more children have ended (pending signals merge, so one
    /// SIGCHLD may stand for several children).
    child_ended: bool,
    /// SIGTERM or SIGINT: time to shut down.
    stop: bool,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match parse_command_line(&args) {
        Ok(Command::Serve(address)) => serve(&address),
        Ok(Command::Call { address, request }) => call(&address, &request),
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}

/// `serve --listen ADDR` or `call --connect ADDR PROCEDURE ARG…`.
fn parse_command_line(args: &[String]) -> Result<Command, String> {
    const USAGE: &str = "usage: rpc serve --listen ADDR | rpc call --connect ADDR PROCEDURE ARG… \
                         (ADDR: unix:PATH or tcp:127.0.0.1:PORT; PROCEDURE: factor, gcd, sleep \
                         or a number)";
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    match words.as_slice() {
        ["serve", "--listen", address] => Ok(Command::Serve(wire::parse_address(address)?)),
        ["call", "--connect", address, procedure, args @ ..] => {
            let address = wire::parse_address(address)?;
            let procedure = match *procedure {
                "factor" => wire::FACTOR,
                "gcd" => wire::GCD,
                "sleep" => wire::SLEEP,
                number => number.parse().map_err(|_| {
                    format!("unknown procedure {number:?}: factor, gcd, sleep or a number")
                })?,
            };
            if args.len() > wire::MAX_ARGS {
                return Err(format!("at most {} arguments", wire::MAX_ARGS));
            }
            let args = args
                .iter()
                .map(|arg| {
                    arg.parse::<u64>()
                        .map_err(|_| format!("arguments are whole numbers, got {arg:?}"))
                })
                .collect::<Result<Vec<u64>, String>>()?;
            let request = Request {
                call_id: CALL_ID,
                procedure,
                args,
            };
            Ok(Command::Call { address, request })
        }
        _ => Err(USAGE.to_string()),
    }
}

/// The server: everything from blocking the signals to the last child reaped.
fn serve(address: &Address) -> ExitCode {
    // Step 1: block SIGCHLD, SIGTERM and SIGINT before anything else: from now on they stay
    // pending until we read them from the signalfd, and every child inherits the mask.
    let mask = block_signals();

    // Step 2: bind and listen, then announce it.
    let listener = match listen(address) {
        Ok(listener) => listener,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };

    // Step 3: the blocked signals become readable on a descriptor, so one poll waits for both.
    let mut server = Server {
        listener,
        signals: open_signalfd(&mask),
    };

    loop {
        // Step 4: sleep until a client connects or a signal arrives.
        let ready = wait_for_event(&server);
        if ready.signals {
            // Step 5: what arrived?
            let received = read_signals(&server.signals);
            if received.child_ended {
                // Step 6: reap every child that has ended: no zombies.
                reap_finished();
            }
            if received.stop {
                break;
            }
        }
        if ready.connection {
            // Step 7: accept and fork; the child serves the connection (steps 8 and 9).
            server = spawn_connection(server);
        }
    }

    // Step 10: stop accepting, remove the socket file, let the calls in flight finish.
    shutdown(server, address);
    ExitCode::SUCCESS
}

/// Blocks SIGCHLD, SIGTERM and SIGINT; returns that set (the signalfd's mask too).
fn block_signals() -> SigSet {
    // SigSet::empty(), then add Signal::SIGCHLD, SIGTERM and SIGINT, then
    // nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&mask), None).
    // Blocked, not ignored and not handled: a blocked signal stays pending until the signalfd
    // (step 3) reads it, so none is lost and none interrupts a system call. Do it first: a
    // SIGTERM arriving before would kill the server with its default action. Children
    // forked later inherit the mask, so a Ctrl-C to the whole group cannot cut a call short.
    todo!(
        "step 1: block SIGCHLD, SIGTERM and SIGINT with sigprocmask(SIG_BLOCK); call fail on \
         error; return the set"
    )
}

/// Binds and listens on `address`, then prints `serving on <ADDR>` (flushed). The error
/// explains why not, for an `error:` line (exit status 2).
fn listen(address: &Address) -> Result<Listener, String> {
    // Unix: remove_stale_socket(path)? first (bind fails with EADDRINUSE if the file
    // exists), then std::os::unix::net::UnixListener::bind(path). TCP:
    // std::net::TcpListener::bind(socket). Both bind, listen and return a listening socket;
    // wrap it in a Listener. Errors become Err("cannot listen on <address>: <error>").
    // Then print `serving on <address>` and flush stdout: whoever started the server waits
    // for that line, and a child must not inherit it still buffered. (Port 0 asks the kernel
    // for a free port: print the one it chose, listener.local_addr().)
    todo!(
        "step 2: bind a UnixListener or a TcpListener by the address, print `serving on \
         <address>` and flush; return the Listener"
    )
}

/// A socket file left at `path` by a server that did not clean up would make bind fail with
/// EADDRINUSE. Remove it, but only if nobody listens on it any more (and only a socket).
fn remove_stale_socket(path: &Path) -> Result<(), String> {
    // std::fs::symlink_metadata(path): NotFound → Ok(()). Anything but a socket
    // (metadata.file_type().is_socket(), from std::os::unix::fs::FileTypeExt) → Err: it is
    // not ours to remove. A socket: if UnixStream::connect(path) succeeds, a live server is
    // behind it → Err("<path> exists: another server is listening on it"); if it fails, the
    // file was left by a server that did not clean up → std::fs::remove_file(path).
    todo!("step 2: remove the socket file at `path` only if nobody listens on it any more")
}

/// A descriptor that becomes readable when one of `mask`'s (blocked) signals is pending.
fn open_signalfd(mask: &SigSet) -> SignalFd {
    // nix::sys::signalfd::SignalFd::with_flags(mask, SFD_NONBLOCK | SFD_CLOEXEC). Its
    // descriptor becomes readable while one of the mask's signals is pending, so poll can
    // wait for signals and connections at once (no handler, nothing async). The signals must
    // be blocked (step 1), or their default action would run instead. Non-blocking, so
    // that step 5 can read until nothing is left.
    todo!("step 3: SignalFd::with_flags(mask, SFD_NONBLOCK | SFD_CLOEXEC); call fail on error")
}

/// Sleeps in poll until the listener has a connection waiting or the signalfd a signal.
fn wait_for_event(server: &Server) -> Ready {
    // nix::poll::poll over two PollFds: PollFd::new(server.listener.as_fd(), POLLIN) and
    // PollFd::new(server.signals.as_fd(), POLLIN), with PollTimeout::NONE (sleep as long as
    // it takes: no timeout, no busy loop). Afterwards fds[i].any() says whether descriptor i
    // is ready: a connection waits to be accepted, a signal to be read. EINTR: poll again.
    todo!(
        "step 4: poll the listener and the signalfd for POLLIN, no timeout; return which are \
         ready (retry on EINTR, call fail on other errors)"
    )
}

/// Reads every pending signal from the signalfd (it is non-blocking: until EAGAIN).
fn read_signals(signals: &SignalFd) -> Received {
    // signals.read_signal() gives Ok(Some(info)) per pending signal (info.ssi_signo is its
    // number: Signal::try_from(info.ssi_signo as i32)) and Ok(None) once none is left (the
    // descriptor is non-blocking). Read them all: poll would wake again at once for any
    // left behind.
    todo!(
        "step 5: read_signal until Ok(None); SIGCHLD sets child_ended, SIGTERM or SIGINT sets \
         stop; call fail on errors other than EINTR"
    )
}

/// Reaps every child that has ended, without waiting for those still serving.
fn reap_finished() {
    // waitpid(None, Some(WaitPidFlag::WNOHANG)) reaps one ended child (None means any
    // child, pid -1) or returns WaitStatus::StillAlive if every child is still serving
    // (WNOHANG: never wait). One SIGCHLD may stand for several children (a pending signal is
    // pending once), so loop until StillAlive or Err(ECHILD) (no child at all).
    todo!(
        "step 6: loop waitpid(None, Some(WNOHANG)) until StillAlive or ECHILD; call fail on \
         other errors"
    )
}

/// Accepts one connection and forks a child to serve it. Takes the server by value because
/// the child must close (drop) its copies of the listener and the signalfd; the parent gets
/// it back.
fn spawn_connection(server: Server) -> Server {
    // server.listener.accept() (poll said a connection waits, so it does not block); on
    // error print a warning and return the server: the server must not die of one client.
    // Flush stdout before forking. This program has one thread, so the child may call any
    // function after fork: say so in a `// SAFETY:` comment above `unsafe { fork() }`.
    // The child has copies of every descriptor: it drops (closes) the listener and the
    // signalfd (`let Server { listener, signals } = server;`), then serve_connection(stream),
    // which never returns. The parent drops its copy of the stream, or the connection would
    // never end for the client, and returns the server. A failed fork: drop the stream,
    // warn, keep serving.
    todo!(
        "step 7: accept, then fork: the Child drops the listener and the signalfd and calls \
         serve_connection(stream); the Parent drops the stream and returns the server"
    )
}

/// The child's whole life: serve calls in sequence until the client closes, then exit.
fn serve_connection(stream: Stream) -> ! {
    // Reading and writing need `&mut stream`: make the parameter `mut stream`.
    // Loop over wire::read_request(&mut stream): Ok(Some(request)) → write_all the
    // wire::encode_reply of dispatch(&request) (step 9), and go on with the next call;
    // Ok(None) (the client closed) or Err(Truncated) → exit(0);
    // Err(BadLength) → one reply Reply::error(0, wire::BAD_FRAME), then exit: after a bad
    // length the next frame cannot be found. A failed read or write (the client went away)
    // → exit(1). Always std::process::exit, never return: returning would run the server's
    // loop in the child too.
    todo!(
        "step 8: serve calls in sequence until end of file, then std::process::exit(0); a bad \
         frame gets a BAD_FRAME reply with call id 0, then exit"
    )
}

/// Carries out one call.
fn dispatch(request: &Request) -> Reply {
    // match (request.procedure, request.args.as_slice()):
    //   (wire::FACTOR, &[n]) if n >= 1 → factor(n)
    //   (wire::GCD, &[a, b])           → vec![gcd(a, b)]
    //   (wire::SLEEP, &[ms]) if ms <= wire::MAX_SLEEP_MS
    //                                  → std::thread::sleep(ms milliseconds), then vec![ms]
    //   a known procedure, other args  → Reply::error(call_id, wire::BAD_ARGUMENTS)
    //   any other procedure            → Reply::error(call_id, wire::UNKNOWN_PROCEDURE)
    // Every reply carries the request's call_id: that is how a client matches it to its call.
    todo!("step 9: compute the reply: status OK and the results, or an error status")
}

/// Every divisor `d` of `n` with `2 <= d <= n / 2`, ascending.
fn factor(n: u64) -> Vec<u64> {
    let mut divisors: Vec<u64> = lab14::worker_divisors(n, 0, 1).collect();
    divisors.sort_unstable();
    divisors
}

/// The greatest common divisor (Euclid).
fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Stops accepting, removes the socket file, and waits for every child to finish its calls.
fn shutdown(server: Server, address: &Address) {
    // Drop the listener (`let Server { listener, signals } = server;`): new clients are
    // refused; the connections already accepted belong to the children and stay open.
    // For a unix address, std::fs::remove_file(path): the file outlives every process that
    // had it open, and nobody else removes it. Then wait for every child: waitpid(None, None)
    // in a loop (blocking) until Err(ECHILD): the calls in flight finish before we exit.
    todo!(
        "step 10: drop the listener, remove the unix socket file, waitpid(None, None) until \
         ECHILD"
    )
}

/// The client: one request, one reply, the results on one line.
fn call(address: &Address, request: &Request) -> ExitCode {
    // Connect: UnixStream::connect(path) or TcpStream::connect(socket), wrapped in a Stream.
    // write_all(&wire::encode_request(request)), then wire::read_reply(&mut stream).
    // Check the reply: its call_id must be the request's; a status other than wire::OK
    // prints `error: <wire::status_text(status)>` and exits 1 (use `error`). Success: the
    // results on one line, separated by single spaces, exit 0. Any failure: `error`.
    todo!(
        "step 11: connect, send the request, read the reply, check its call id and status, \
         print the results on one line"
    )
}

/// Prints `error: <message>`; exit status 1.
fn error(message: &str) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(1)
}

/// Reports a failed system call and exits with status 1.
fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    std::process::exit(1)
}
