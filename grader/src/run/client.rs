//! The grader as the client of a server under test: a scripted conversation, run on its own
//! thread while the tracer follows the server.
//!
//! A rubric input may carry a [`ClientScript`]: an address and steps (connect, call, send
//! raw bytes, stall, close, look for zombies, send a signal, wait for the exit). The steps
//! run in order; each records a [`StepOutcome`], and the first that fails ends the script.
//! Checks judge the outcomes with the trace, like any other part of a run.
//!
//! Requests and replies are the `rpc` contract's frames (all integers big-endian):
//! a request is `length: u32, call_id: u32, procedure: u32, args: [u64]` and a reply
//! `length: u32, call_id: u32, status: u32, results: [u64]`, `length` counting the bytes
//! after it.

use crate::trace::live::LiveSet;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// What the grader does as the client, as a rubric input declares it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ClientScript {
    /// `unix:PATH` or `tcp:127.0.0.1:PORT`; `{dir}` and `{port}` are the run's own.
    pub address: String,
    pub steps: Vec<Step>,
}

/// One step of a script.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "do", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Step {
    /// Open connection `conn`, retrying while the server is not listening yet.
    Connect { conn: String },
    /// Send a request on `conn` and check the reply's call id, status and results.
    #[serde(rename_all = "kebab-case")]
    Call {
        conn: String,
        procedure: u32,
        #[serde(default)]
        args: Vec<u64>,
        status: u32,
        results: Option<Vec<u64>>,
        /// How long the reply may take.
        #[serde(default = "default_reply_ms")]
        within_ms: u64,
    },
    /// Send a request on `conn` without waiting for its reply (see `finish-call`).
    StartCall {
        conn: String,
        procedure: u32,
        #[serde(default)]
        args: Vec<u64>,
    },
    /// Read the reply to the call started last on `conn`.
    #[serde(rename_all = "kebab-case")]
    FinishCall {
        conn: String,
        status: u32,
        results: Option<Vec<u64>>,
        #[serde(default = "default_reply_ms")]
        within_ms: u64,
    },
    /// Send the first `bytes` bytes of a request and nothing more: a client that stalls.
    SendPartial {
        conn: String,
        procedure: u32,
        #[serde(default)]
        args: Vec<u64>,
        bytes: usize,
    },
    /// Send these bytes (hex, spaces allowed) as they are: a malformed frame.
    SendRaw { conn: String, hex: String },
    /// Expect either a reply with this status or the connection closed; no reply at all
    /// within the time is a failure (the server hangs on it).
    #[serde(rename_all = "kebab-case")]
    ExpectStatusOrClose {
        conn: String,
        status: u32,
        #[serde(default = "default_reply_ms")]
        within_ms: u64,
    },
    /// Close the write side of `conn` (the server reads end-of-file).
    ShutdownWrite { conn: String },
    /// Close `conn`.
    Close { conn: String },
    /// Wait.
    Pause { ms: u64 },
    /// No child of the server is a zombie (ended but not reaped).
    NoZombies,
    /// Send a signal (`SIGTERM`, `SIGINT`) to the program's first process.
    Signal { signal: String },
    /// Expect the program's first process to end within the time.
    #[serde(rename_all = "kebab-case")]
    WaitExit { within_ms: u64 },
}

fn default_reply_ms() -> u64 {
    2000
}

/// What one step did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepOutcome {
    /// The step, in words: `call 1 (60) on connection a`.
    pub step: String,
    pub ok: bool,
    /// What went wrong (empty when ok).
    pub detail: String,
    /// The step waited for the program to exit (`wait-exit`): its exit status is then
    /// part of the verdict.
    #[serde(default)]
    pub awaited_exit: bool,
}

/// How long `connect` keeps retrying while the server gets ready.
const CONNECT_PATIENCE: Duration = Duration::from_secs(3);

/// Where the server listens, once `{dir}` and `{port}` are filled in.
#[derive(Debug, Clone)]
enum Address {
    Unix(PathBuf),
    Tcp(String),
}

fn parse_address(text: &str) -> Result<Address, String> {
    if let Some(path) = text.strip_prefix("unix:") {
        Ok(Address::Unix(PathBuf::from(path)))
    } else if let Some(addr) = text.strip_prefix("tcp:") {
        Ok(Address::Tcp(addr.to_string()))
    } else {
        Err(format!(
            "the rubric gave an address the grader cannot use: {text:?}"
        ))
    }
}

/// An open connection.
enum Conn {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl Conn {
    fn set_read_timeout(&self, timeout: Duration) {
        let _ = match self {
            Conn::Unix(s) => s.set_read_timeout(Some(timeout)),
            Conn::Tcp(s) => s.set_read_timeout(Some(timeout)),
        };
    }

    fn shutdown_write(&self) {
        let _ = match self {
            Conn::Unix(s) => s.shutdown(Shutdown::Write),
            Conn::Tcp(s) => s.shutdown(Shutdown::Write),
        };
    }

    fn stream(&mut self) -> &mut dyn ReadWrite {
        match self {
            Conn::Unix(s) => s,
            Conn::Tcp(s) => s,
        }
    }
}

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

/// Runs a script against the run's program, on the calling thread (one of its own).
/// `enter_netns`: the run has a network namespace of its own, which the thread enters to
/// reach a TCP address on the program's loopback.
pub fn run_script(script: &ClientScript, live: &LiveSet, enter_netns: bool) -> Vec<StepOutcome> {
    let mut client = Client {
        live,
        conns: BTreeMap::new(),
        started_calls: BTreeMap::new(),
        next_call_id: 1,
    };
    let mut outcomes = Vec::new();
    let address = match parse_address(&script.address) {
        Ok(address) => address,
        Err(e) => {
            outcomes.push(StepOutcome {
                step: "read the rubric's address".to_string(),
                ok: false,
                detail: e,
                awaited_exit: false,
            });
            return outcomes;
        }
    };
    // The program's first process appears once the tracer has seen it (after any shims).
    let started = Instant::now();
    while live.root().is_none() && started.elapsed() < CONNECT_PATIENCE {
        std::thread::sleep(Duration::from_millis(2));
    }
    let netns = match (&address, live.root()) {
        (Address::Tcp(_), Some(root)) if enter_netns => {
            std::fs::File::open(format!("/proc/{root}/ns/net")).ok()
        }
        _ => None,
    };
    if let Some(netns) = netns {
        use std::os::fd::AsRawFd;
        // SAFETY: setns takes a descriptor we hold open; it moves only this thread (a thread
        // of its own, spawned for the script) into the run's network namespace.
        if unsafe { libc::setns(netns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            outcomes.push(StepOutcome {
                step: "enter the run's network namespace".to_string(),
                ok: false,
                detail: format!(
                    "the grader cannot reach the program's loopback: {}",
                    std::io::Error::last_os_error()
                ),
                awaited_exit: false,
            });
            return outcomes;
        }
    }
    for step in &script.steps {
        let outcome = client.run(step, &address);
        let failed = !outcome.ok;
        outcomes.push(outcome);
        if failed {
            break;
        }
    }
    outcomes
}

struct Client<'a> {
    live: &'a LiveSet,
    conns: BTreeMap<String, Conn>,
    /// The call id of the call started last on each connection (`start-call`).
    started_calls: BTreeMap<String, u32>,
    next_call_id: u32,
}

impl Client<'_> {
    fn run(&mut self, step: &Step, address: &Address) -> StepOutcome {
        let (described, result) = match step {
            Step::Connect { conn } => (format!("connect ({conn})"), self.connect(conn, address)),
            Step::Call {
                conn,
                procedure,
                args,
                status,
                results,
                within_ms,
            } => (
                format!("call {} on connection {conn}", call_text(*procedure, args)),
                self.send_call(conn, *procedure, args).and_then(|id| {
                    self.expect_reply(conn, id, *status, results.as_deref(), *within_ms)
                }),
            ),
            Step::StartCall {
                conn,
                procedure,
                args,
            } => (
                format!(
                    "start call {} on connection {conn}",
                    call_text(*procedure, args)
                ),
                self.send_call(conn, *procedure, args).map(|id| {
                    self.started_calls.insert(conn.clone(), id);
                }),
            ),
            Step::FinishCall {
                conn,
                status,
                results,
                within_ms,
            } => (
                format!("read the reply to the call started on connection {conn}"),
                match self.started_calls.get(conn).copied() {
                    Some(id) => {
                        self.expect_reply(conn, id, *status, results.as_deref(), *within_ms)
                    }
                    None => Err("the rubric finishes a call it never started".to_string()),
                },
            ),
            Step::SendPartial {
                conn,
                procedure,
                args,
                bytes,
            } => {
                let frame = encode_request(0, *procedure, args);
                let part = &frame[..(*bytes).min(frame.len())];
                (
                    format!(
                        "send the first {} bytes of a {}-byte request on connection {conn}, then stall",
                        part.len(),
                        frame.len()
                    ),
                    self.send(conn, part),
                )
            }
            Step::SendRaw { conn, hex } => (
                format!("send the bytes {hex} on connection {conn}"),
                parse_hex(hex).and_then(|bytes| self.send(conn, &bytes)),
            ),
            Step::ExpectStatusOrClose {
                conn,
                status,
                within_ms,
            } => (
                format!(
                    "expect a reply with status {} or the connection closed, on connection {conn}",
                    status_text(*status)
                ),
                self.expect_status_or_close(conn, *status, *within_ms),
            ),
            Step::ShutdownWrite { conn } => (
                format!("close the write side of connection {conn}"),
                self.conn(conn).map(|c| c.shutdown_write()),
            ),
            Step::Close { conn } => (format!("close connection {conn}"), {
                self.conns.remove(conn);
                Ok(())
            }),
            Step::Pause { ms } => (format!("wait {ms} ms"), {
                std::thread::sleep(Duration::from_millis(*ms));
                Ok(())
            }),
            Step::NoZombies => (
                "look for zombie children of the server".to_string(),
                self.no_zombies(),
            ),
            Step::Signal { signal } => {
                (format!("send {signal} to the server"), self.signal(signal))
            }
            Step::WaitExit { within_ms } => (
                format!("wait up to {within_ms} ms for the server to exit"),
                self.wait_exit(*within_ms),
            ),
        };
        StepOutcome {
            step: described,
            ok: result.is_ok(),
            detail: result.err().unwrap_or_default(),
            awaited_exit: matches!(step, Step::WaitExit { .. }),
        }
    }

    fn connect(&mut self, name: &str, address: &Address) -> Result<(), String> {
        let started = Instant::now();
        loop {
            let attempt = match address {
                Address::Unix(path) => UnixStream::connect(path).map(Conn::Unix),
                Address::Tcp(addr) => TcpStream::connect(addr.as_str()).map(Conn::Tcp),
            };
            match attempt {
                Ok(conn) => {
                    self.conns.insert(name.to_string(), conn);
                    return Ok(());
                }
                Err(e) => {
                    if self.live.root().is_none() && started.elapsed() > Duration::from_millis(200)
                    {
                        return Err(format!("the server is not running ({e})"));
                    }
                    if started.elapsed() > CONNECT_PATIENCE {
                        return Err(format!(
                            "nothing accepted a connection within {} s: {e}",
                            CONNECT_PATIENCE.as_secs()
                        ));
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
        }
    }

    fn conn(&mut self, name: &str) -> Result<&mut Conn, String> {
        self.conns
            .get_mut(name)
            .ok_or_else(|| format!("connection {name} is not open"))
    }

    fn send(&mut self, name: &str, bytes: &[u8]) -> Result<(), String> {
        self.conn(name)?
            .stream()
            .write_all(bytes)
            .map_err(|e| format!("the server did not take the bytes: {e}"))
    }

    fn send_call(&mut self, name: &str, procedure: u32, args: &[u64]) -> Result<u32, String> {
        let id = self.next_call_id;
        self.next_call_id += 1;
        self.send(name, &encode_request(id, procedure, args))?;
        Ok(id)
    }

    fn expect_reply(
        &mut self,
        name: &str,
        call_id: u32,
        status: u32,
        results: Option<&[u64]>,
        within_ms: u64,
    ) -> Result<(), String> {
        let reply = match self.read_reply(name, within_ms)? {
            Some(reply) => reply,
            None => return Err("the server closed the connection without replying".to_string()),
        };
        if reply.call_id != call_id {
            return Err(format!(
                "the reply carries call id {}, the request had {call_id}",
                reply.call_id
            ));
        }
        if reply.status != status {
            return Err(format!(
                "expected status {}, got {}",
                status_text(status),
                status_text(reply.status)
            ));
        }
        if let Some(expected) = results
            && reply.results != expected
        {
            return Err(format!(
                "expected the results {}, got {}",
                list_text(expected),
                list_text(&reply.results)
            ));
        }
        Ok(())
    }

    fn expect_status_or_close(
        &mut self,
        name: &str,
        status: u32,
        within_ms: u64,
    ) -> Result<(), String> {
        match self.read_reply(name, within_ms) {
            Ok(None) => Ok(()),
            Ok(Some(reply)) if reply.status == status => Ok(()),
            Ok(Some(reply)) => Err(format!(
                "expected status {} or a closed connection, got a reply with status {}",
                status_text(status),
                status_text(reply.status)
            )),
            // A reset connection is a closed one.
            Err(e) if e.contains("reset") => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Reads one reply; `None` if the server closed the connection first.
    fn read_reply(&mut self, name: &str, within_ms: u64) -> Result<Option<Reply>, String> {
        let conn = self.conn(name)?;
        conn.set_read_timeout(Duration::from_millis(within_ms));
        let stream = conn.stream();
        let mut header = [0u8; 4];
        match read_full(stream, &mut header) {
            Ok(0) => return Ok(None),
            Ok(4) => {}
            Ok(_) => return Err("the server closed the connection in the middle of a reply".into()),
            Err(e) => return Err(read_error(e, within_ms)),
        }
        let length = u32::from_be_bytes(header) as usize;
        if !(8..=MAX_REPLY).contains(&length) || !(length - 8).is_multiple_of(8) {
            return Err(format!(
                "the reply's length field says {length}: not 8 + 8·n"
            ));
        }
        let mut body = vec![0u8; length];
        match read_full(stream, &mut body) {
            Ok(n) if n == length => {}
            Ok(_) => return Err("the server closed the connection in the middle of a reply".into()),
            Err(e) => return Err(read_error(e, within_ms)),
        }
        let word = |at: usize| u32::from_be_bytes(body[at..at + 4].try_into().expect("4 bytes"));
        Ok(Some(Reply {
            call_id: word(0),
            status: word(4),
            results: body[8..]
                .chunks_exact(8)
                .map(|c| u64::from_be_bytes(c.try_into().expect("8 bytes")))
                .collect(),
        }))
    }

    fn no_zombies(&self) -> Result<(), String> {
        let Some(root) = self.live.root() else {
            return Err("the server is not running".to_string());
        };
        let children = std::fs::read_to_string(format!("/proc/{root}/task/{root}/children"))
            .unwrap_or_default();
        let zombies: Vec<String> = children
            .split_whitespace()
            .filter(|pid| crate::trace::procfs::state(pid.parse().unwrap_or(0)) == Some('Z'))
            .map(str::to_string)
            .collect();
        if zombies.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "{} child process(es) of the server ended and were never reaped (zombies: pid {})",
                zombies.len(),
                zombies.join(", ")
            ))
        }
    }

    fn signal(&self, name: &str) -> Result<(), String> {
        let signal = match name {
            "SIGTERM" => libc::SIGTERM,
            "SIGINT" => libc::SIGINT,
            "SIGHUP" => libc::SIGHUP,
            other => {
                return Err(format!(
                    "the rubric names a signal the grader does not send: {other}"
                ));
            }
        };
        if self.live.signal_root(signal) {
            Ok(())
        } else {
            Err("the server was no longer running".to_string())
        }
    }

    fn wait_exit(&self, within_ms: u64) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_millis(within_ms);
        while self.live.root().is_some() {
            if Instant::now() >= deadline {
                return Err(format!("the server was still running {within_ms} ms later"));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        Ok(())
    }
}

/// The largest reply the grader reads: more than any factor list needs (no u64 has more than
/// 184,320 divisors, `lab14::MAX_DIVISORS`; lab14's `wire::MAX_REPLY` is 8 + 8 · 184,320).
const MAX_REPLY: usize = 8 + 8 * 200_000;

struct Reply {
    call_id: u32,
    status: u32,
    results: Vec<u64>,
}

fn encode_request(call_id: u32, procedure: u32, args: &[u64]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(12 + 8 * args.len());
    frame.extend_from_slice(&(8 + 8 * args.len() as u32).to_be_bytes());
    frame.extend_from_slice(&call_id.to_be_bytes());
    frame.extend_from_slice(&procedure.to_be_bytes());
    for arg in args {
        frame.extend_from_slice(&arg.to_be_bytes());
    }
    frame
}

/// Reads until `buf` is full or end-of-file; the count read.
fn read_full(stream: &mut dyn ReadWrite, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match stream.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

fn read_error(error: std::io::Error, within_ms: u64) -> String {
    match error.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
            format!("no reply within {within_ms} ms")
        }
        std::io::ErrorKind::ConnectionReset => "the connection was reset".to_string(),
        _ => format!("reading the reply failed: {error}"),
    }
}

fn parse_hex(text: &str) -> Result<Vec<u8>, String> {
    let digits: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    if !digits.len().is_multiple_of(2) {
        return Err(format!(
            "the rubric's hex bytes are odd in number: {text:?}"
        ));
    }
    (0..digits.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&digits[i..i + 2], 16))
        .collect::<Result<_, _>>()
        .map_err(|e| format!("the rubric's hex bytes do not parse: {e}"))
}

/// `1 (60)`: a call as feedback shows it.
fn call_text(procedure: u32, args: &[u64]) -> String {
    let args: Vec<String> = args.iter().map(u64::to_string).collect();
    format!("{}({})", procedure_text(procedure), args.join(", "))
}

fn procedure_text(procedure: u32) -> String {
    match procedure {
        1 => "factor".to_string(),
        2 => "gcd".to_string(),
        3 => "sleep".to_string(),
        other => format!("procedure {other}"),
    }
}

/// The contract's status names.
pub fn status_text(status: u32) -> String {
    match status {
        0 => "0 (ok)".to_string(),
        1 => "1 (unknown procedure)".to_string(),
        2 => "2 (bad arguments)".to_string(),
        3 => "3 (bad frame)".to_string(),
        other => other.to_string(),
    }
}

fn list_text(items: &[u64]) -> String {
    const SHOWN: usize = 12;
    let shown: Vec<String> = items.iter().take(SHOWN).map(u64::to_string).collect();
    let more = items.len().saturating_sub(SHOWN);
    if more > 0 {
        format!("[{}, … {more} more]", shown.join(", "))
    } else {
        format!("[{}]", shown.join(", "))
    }
}

/// Fills in the run's own `{dir}` and `{port}`.
pub fn expand(text: &str, dir: &str, port: u16) -> String {
    text.replace("{dir}", dir)
        .replace("{port}", &port.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_big_endian_frames() {
        let frame = encode_request(7, 1, &[60]);
        assert_eq!(
            frame,
            [0, 0, 0, 16, 0, 0, 0, 7, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 60]
        );
    }

    #[test]
    fn scripts_read_from_a_rubric() {
        let script: ClientScript = toml::from_str(
            r#"
            address = "unix:{dir}/rpc.sock"
            steps = [
                { do = "connect", conn = "a" },
                { do = "call", conn = "a", procedure = 2, args = [84, 36], status = 0, results = [12] },
                { do = "send-raw", conn = "a", hex = "ff ff ff ff" },
                { do = "wait-exit", within-ms = 100 },
            ]
            "#,
        )
        .unwrap();
        assert_eq!(script.steps.len(), 4);
        assert!(matches!(
            script.steps[1],
            Step::Call {
                within_ms: 2000,
                ..
            }
        ));
        assert_eq!(parse_hex("ff 00 0a").unwrap(), [255, 0, 10]);
        assert!(parse_hex("f").is_err());
        assert_eq!(expand("unix:{dir}/s:{port}", "/d", 9), "unix:/d/s:9");
    }
}
