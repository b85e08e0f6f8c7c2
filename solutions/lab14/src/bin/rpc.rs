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
    let mut mask = SigSet::empty();
    mask.add(Signal::SIGCHLD);
    mask.add(Signal::SIGTERM);
    mask.add(Signal::SIGINT);
    if let Err(e) = sigprocmask(SigmaskHow::SIG_BLOCK, Some(&mask), None) {
        fail(&format!("sigprocmask: {e}"));
    }
    mask
}

/// Binds and listens on `address`, then prints `serving on <ADDR>` (flushed). The error
/// explains why not, for an `error:` line (exit status 2).
fn listen(address: &Address) -> Result<Listener, String> {
    let (listener, bound) = match address {
        Address::Unix(path) => {
            remove_stale_socket(path)?;
            let listener =
                UnixListener::bind(path).map_err(|e| format!("cannot listen on {address}: {e}"))?;
            (Listener::Unix(listener), address.clone())
        }
        Address::Tcp(socket) => {
            let listener = TcpListener::bind(socket)
                .map_err(|e| format!("cannot listen on {address}: {e}"))?;
            // Port 0 asks the kernel for a free port: announce the one it chose.
            let bound = match listener.local_addr() {
                Ok(std::net::SocketAddr::V4(socket)) => Address::Tcp(socket),
                _ => address.clone(),
            };
            (Listener::Tcp(listener), bound)
        }
    };
    let mut stdout = io::stdout();
    let _ = writeln!(stdout, "serving on {bound}");
    // Flush now: whoever started us waits for this line, and a child must not inherit it
    // still buffered.
    let _ = stdout.flush();
    Ok(listener)
}

/// A socket file left at `path` by a server that did not clean up would make bind fail with
/// EADDRINUSE. Remove it, but only if nobody listens on it any more (and only a socket).
fn remove_stale_socket(path: &Path) -> Result<(), String> {
    let metadata = match std::fs::symlink_metadata(path) {
        Ok(metadata) => metadata,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    if !metadata.file_type().is_socket() {
        return Err(format!("{} exists and is not a socket", path.display()));
    }
    if UnixStream::connect(path).is_ok() {
        return Err(format!(
            "{} exists: another server is listening on it",
            path.display()
        ));
    }
    std::fs::remove_file(path).map_err(|e| format!("cannot remove {}: {e}", path.display()))
}

/// A descriptor that becomes readable when one of `mask`'s (blocked) signals is pending.
fn open_signalfd(mask: &SigSet) -> SignalFd {
    // Non-blocking, so that read_signals can read until nothing is left; close-on-exec
    // because no program we might exec has any use for it.
    match SignalFd::with_flags(mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC) {
        Ok(signals) => signals,
        Err(e) => fail(&format!("signalfd: {e}")),
    }
}

/// Sleeps in poll until the listener has a connection waiting or the signalfd a signal.
fn wait_for_event(server: &Server) -> Ready {
    loop {
        let mut fds = [
            PollFd::new(server.listener.as_fd(), PollFlags::POLLIN),
            PollFd::new(server.signals.as_fd(), PollFlags::POLLIN),
        ];
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) => {
                return Ready {
                    connection: fds[0].any().unwrap_or(false),
                    signals: fds[1].any().unwrap_or(false),
                };
            }
            // Our signals are blocked, but a stop and continue (SIGSTOP, SIGCONT) may still
            // interrupt poll: poll again.
            Err(Errno::EINTR) => continue,
            Err(e) => fail(&format!("poll: {e}")),
        }
    }
}

/// Reads every pending signal from the signalfd (it is non-blocking: until EAGAIN).
fn read_signals(signals: &SignalFd) -> Received {
    let mut received = Received::default();
    loop {
        match signals.read_signal() {
            Ok(Some(info)) => match Signal::try_from(info.ssi_signo as i32) {
                Ok(Signal::SIGCHLD) => received.child_ended = true,
                Ok(Signal::SIGTERM | Signal::SIGINT) => received.stop = true,
                _ => {}
            },
            Ok(None) => return received,
            Err(Errno::EINTR) => continue,
            Err(e) => fail(&format!("read signalfd: {e}")),
        }
    }
}

/// Reaps every child that has ended, without waiting for those still serving.
fn reap_finished() {
    // One SIGCHLD may stand for several children (a pending signal is pending once), so
    // reap until none is left: WNOHANG returns StillAlive instead of waiting.
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => return,
            Ok(_) | Err(Errno::EINTR) => continue,
            Err(e) => fail(&format!("waitpid: {e}")),
        }
    }
}

/// Accepts one connection and forks a child to serve it. Takes the server by value because
/// the child must close (drop) its copies of the listener and the signalfd; the parent gets
/// it back.
fn spawn_connection(server: Server) -> Server {
    let stream = match server.listener.accept() {
        Ok(stream) => stream,
        // The client may have given up between poll and accept: nothing to serve.
        Err(e) => {
            eprintln!("warning: accept: {e}");
            return server;
        }
    };
    // Anything still buffered would be copied into the child and printed twice.
    let _ = io::stdout().flush();
    // SAFETY: this program is single-threaded, so the child may call any function after
    // fork (no other thread can hold a lock the child would inherit).
    match unsafe { fork() } {
        Ok(ForkResult::Child) => {
            // The child has copies of every descriptor. Keeping the listener would keep the
            // address alive after the server closed it; keeping the signalfd, nothing good.
            let Server { listener, signals } = server;
            drop(listener);
            drop(signals);
            serve_connection(stream)
        }
        Ok(ForkResult::Parent { .. }) => {
            // The parent's copy of the connection: only the child's must stay open, or the
            // client would never see the connection end.
            drop(stream);
            server
        }
        Err(e) => {
            // Refuse this client (it sees the connection close) but keep serving others.
            eprintln!("warning: fork: {e}");
            drop(stream);
            server
        }
    }
}

/// The child's whole life: serve calls in sequence until the client closes, then exit.
fn serve_connection(mut stream: Stream) -> ! {
    loop {
        let request = match wire::read_request(&mut stream) {
            Ok(Some(request)) => request,
            // The client closed its end (between calls, or in the middle of one): done.
            Ok(None) | Err(FrameError::Truncated) => std::process::exit(0),
            // The length is wrong, so nothing after it can be found again: say so, and close.
            Err(FrameError::BadLength(_)) => {
                let reply = Reply::error(0, wire::BAD_FRAME);
                let _ = stream.write_all(&wire::encode_reply(&reply));
                std::process::exit(0)
            }
            Err(FrameError::Io(_)) => std::process::exit(1),
        };
        let reply = dispatch(&request);
        // A client that has gone away makes this fail (EPIPE: Rust ignores SIGPIPE).
        if stream.write_all(&wire::encode_reply(&reply)).is_err() {
            std::process::exit(1);
        }
    }
}

/// Carries out one call.
fn dispatch(request: &Request) -> Reply {
    let results = match (request.procedure, request.args.as_slice()) {
        (wire::FACTOR, &[n]) if n >= 1 => factor(n),
        (wire::GCD, &[a, b]) => vec![gcd(a, b)],
        (wire::SLEEP, &[ms]) if ms <= wire::MAX_SLEEP_MS => {
            std::thread::sleep(Duration::from_millis(ms));
            vec![ms]
        }
        (wire::FACTOR | wire::GCD | wire::SLEEP, _) => {
            return Reply::error(request.call_id, wire::BAD_ARGUMENTS);
        }
        _ => return Reply::error(request.call_id, wire::UNKNOWN_PROCEDURE),
    };
    Reply {
        call_id: request.call_id,
        status: wire::OK,
        results,
    }
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
    let Server { listener, signals } = server;
    // Closing the listener refuses new clients; the connections already accepted belong to
    // the children and stay open.
    drop(listener);
    // Nobody else removes the socket file: it outlives every process that had it open.
    if let Address::Unix(path) = address
        && let Err(e) = std::fs::remove_file(path)
    {
        eprintln!("warning: cannot remove {}: {e}", path.display());
    }
    drop(signals);
    // Block in waitpid until no child is left (ECHILD): the calls in flight finish.
    loop {
        match waitpid(None, None) {
            Ok(_) | Err(Errno::EINTR) => continue,
            Err(Errno::ECHILD) => return,
            Err(e) => fail(&format!("waitpid: {e}")),
        }
    }
}

/// The client: one request, one reply, the results on one line.
fn call(address: &Address, request: &Request) -> ExitCode {
    let connected = match address {
        Address::Unix(path) => UnixStream::connect(path).map(Stream::Unix),
        Address::Tcp(socket) => TcpStream::connect(socket).map(Stream::Tcp),
    };
    let mut stream = match connected {
        Ok(stream) => stream,
        Err(e) => return error(&format!("cannot connect to {address}: {e}")),
    };
    if let Err(e) = stream.write_all(&wire::encode_request(request)) {
        return error(&format!("cannot send the request: {e}"));
    }
    let reply = match wire::read_reply(&mut stream) {
        Ok(reply) => reply,
        Err(e) => return error(&format!("no reply: {e}")),
    };
    if reply.call_id != request.call_id {
        return error(&format!(
            "the reply is for call {}, not {}",
            reply.call_id, request.call_id
        ));
    }
    if reply.status != wire::OK {
        return error(wire::status_text(reply.status));
    }
    let line: Vec<String> = reply.results.iter().map(u64::to_string).collect();
    let mut stdout = io::stdout().lock();
    let _ = writeln!(stdout, "{}", line.join(" "));
    let _ = stdout.flush();
    ExitCode::SUCCESS
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
