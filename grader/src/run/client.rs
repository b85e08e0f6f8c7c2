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
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// What the grader does as the client, as a rubric input declares it. Its values are
/// parsed as the rubric loads (the address's form, hex bytes, signal names) and
/// [`ClientScript::check`] finds the steps that could never go as written, so that a typo
/// in the rubric fails the rubric, not the student's check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ClientScript {
    /// `unix:PATH` or `tcp:IP:PORT`; `{dir}` and `{port}` are the run's own (filled in by
    /// [`expand`] when the run starts).
    #[serde(deserialize_with = "address_text")]
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
        /// How long the reply must take at least: a `sleep` answered sooner than it asks
        /// was not slept (0: no lower bound).
        #[serde(default)]
        not_before_ms: u64,
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
        /// As for `call`, counted from the call's `start-call`.
        #[serde(default)]
        not_before_ms: u64,
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
    SendRaw { conn: String, hex: HexBytes },
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
    /// Send a signal (`SIGTERM`, `SIGINT`, `SIGHUP`) to the program's first process.
    Signal { signal: SignalName },
    /// Expect the program's first process to end within the time.
    #[serde(rename_all = "kebab-case")]
    WaitExit { within_ms: u64 },
}

fn default_reply_ms() -> u64 {
    2000
}

impl Step {
    /// The connection the step uses, if any.
    fn conn(&self) -> Option<&str> {
        match self {
            Step::Connect { conn }
            | Step::Call { conn, .. }
            | Step::StartCall { conn, .. }
            | Step::FinishCall { conn, .. }
            | Step::SendPartial { conn, .. }
            | Step::SendRaw { conn, .. }
            | Step::ExpectStatusOrClose { conn, .. }
            | Step::ShutdownWrite { conn }
            | Step::Close { conn } => Some(conn),
            Step::Pause { .. } | Step::NoZombies | Step::Signal { .. } | Step::WaitExit { .. } => {
                None
            }
        }
    }

    /// How long the step waits at most (or, for `pause`, waits), in milliseconds, and the
    /// rubric key that says so.
    pub fn wait_ms(&self) -> Option<(&'static str, u64)> {
        match *self {
            Step::Call { within_ms, .. }
            | Step::FinishCall { within_ms, .. }
            | Step::ExpectStatusOrClose { within_ms, .. }
            | Step::WaitExit { within_ms } => Some(("within-ms", within_ms)),
            Step::Pause { ms } => Some(("ms", ms)),
            _ => None,
        }
    }

    /// The step's `do`, as the rubric spells it.
    pub fn name(&self) -> &'static str {
        match self {
            Step::Connect { .. } => "connect",
            Step::Call { .. } => "call",
            Step::StartCall { .. } => "start-call",
            Step::FinishCall { .. } => "finish-call",
            Step::SendPartial { .. } => "send-partial",
            Step::SendRaw { .. } => "send-raw",
            Step::ExpectStatusOrClose { .. } => "expect-status-or-close",
            Step::ShutdownWrite { .. } => "shutdown-write",
            Step::Close { .. } => "close",
            Step::Pause { .. } => "pause",
            Step::NoZombies => "no-zombies",
            Step::Signal { .. } => "signal",
            Step::WaitExit { .. } => "wait-exit",
        }
    }
}

/// Bytes a rubric gives in hex (`"00000004 00000001"`, whitespace allowed), parsed when the
/// rubric loads and shown as written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct HexBytes {
    text: String,
    bytes: Vec<u8>,
}

impl HexBytes {
    /// The bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

impl TryFrom<String> for HexBytes {
    type Error = String;

    fn try_from(text: String) -> Result<HexBytes, String> {
        let bytes = parse_hex(&text)?;
        Ok(HexBytes { text, bytes })
    }
}

impl From<HexBytes> for String {
    fn from(hex: HexBytes) -> String {
        hex.text
    }
}

impl std::fmt::Display for HexBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// A signal the client can send to the server, by the name a rubric gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SignalName {
    #[serde(rename = "SIGTERM")]
    Term,
    #[serde(rename = "SIGINT")]
    Int,
    #[serde(rename = "SIGHUP")]
    Hup,
}

impl SignalName {
    /// The signal's number.
    pub fn number(self) -> libc::c_int {
        match self {
            SignalName::Term => libc::SIGTERM,
            SignalName::Int => libc::SIGINT,
            SignalName::Hup => libc::SIGHUP,
        }
    }

    /// `SIGTERM`.
    pub fn name(self) -> &'static str {
        match self {
            SignalName::Term => "SIGTERM",
            SignalName::Int => "SIGINT",
            SignalName::Hup => "SIGHUP",
        }
    }
}

impl std::fmt::Display for SignalName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A step that could never go as written, found when the rubric loads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptProblem {
    /// Which step (0-based), if one.
    pub step: Option<usize>,
    /// The rubric key at fault (`conn`, `bytes`, `within-ms`, `steps`).
    pub key: &'static str,
    pub message: String,
}

impl ClientScript {
    /// Finds what would fail on every run, whatever the server does: no steps, a step on a
    /// connection no earlier step opened (or one closed since), a `finish-call` with no
    /// `start-call` before it, a wait of 0 ms, a `send-partial` that sends no byte or the
    /// whole request.
    pub fn check(&self) -> Result<(), ScriptProblem> {
        if self.steps.is_empty() {
            return Err(ScriptProblem {
                step: None,
                key: "steps",
                message: "the client script has no steps".to_string(),
            });
        }
        let mut open: BTreeSet<&str> = BTreeSet::new();
        let mut closed: BTreeMap<&str, usize> = BTreeMap::new();
        let mut started: BTreeSet<&str> = BTreeSet::new();
        for (i, step) in self.steps.iter().enumerate() {
            let problem = |key, message| ScriptProblem {
                step: Some(i),
                key,
                message,
            };
            if let Some((key, 0)) = step.wait_ms() {
                return Err(problem(
                    key,
                    format!("`{key} = 0`: a wait must be at least 1 ms"),
                ));
            }
            // (A finish-call's bounds have different origins: `within-ms` from the step,
            // `not-before-ms` from its start-call.)
            if let Step::Call {
                within_ms,
                not_before_ms,
                ..
            } = step
                && not_before_ms >= within_ms
            {
                return Err(problem(
                    "not-before-ms",
                    format!(
                        "`not-before-ms = {not_before_ms}` is not below `within-ms = \
                         {within_ms}`: no reply could be on time"
                    ),
                ));
            }
            if let Step::Connect { conn } = step {
                open.insert(conn.as_str());
                started.remove(conn.as_str());
                continue;
            }
            let Some(conn) = step.conn() else {
                continue;
            };
            if !open.contains(conn) {
                let why = match closed.get(conn) {
                    Some(at) => format!("step {} closed it", at + 1),
                    None => "no `connect` step before opens it".to_string(),
                };
                return Err(problem(
                    "conn",
                    format!("connection `{conn}` is not open here: {why}"),
                ));
            }
            match step {
                Step::Close { .. } => {
                    open.remove(conn);
                    started.remove(conn);
                    closed.insert(conn, i);
                }
                Step::StartCall { .. } => {
                    started.insert(conn);
                }
                Step::FinishCall { .. } if !started.contains(conn) => {
                    return Err(problem(
                        "conn",
                        format!("no `start-call` on connection `{conn}` came before"),
                    ));
                }
                Step::SendPartial {
                    procedure,
                    args,
                    bytes,
                    ..
                } => {
                    let whole = encode_request(0, *procedure, args).len();
                    if *bytes == 0 || *bytes >= whole {
                        return Err(problem(
                            "bytes",
                            format!(
                                "`bytes = {bytes}`: the request is {whole} bytes, so a part of it \
                                 is 1 to {} bytes",
                                whole - 1
                            ),
                        ));
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }
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

/// Checks a rubric's address before any run: `unix:PATH` or `tcp:IP:PORT`, with `{dir}`
/// and `{port}` the only things to fill in.
pub fn check_address(text: &str) -> Result<(), String> {
    let bare = text.replace("{dir}", "").replace("{port}", "");
    if bare.contains(['{', '}']) {
        return Err(format!(
            "address `{text}`: only {{dir}} and {{port}} are filled in"
        ));
    }
    if let Some(path) = text.strip_prefix("unix:") {
        if path.is_empty() {
            return Err(format!("address `{text}` names no socket path"));
        }
        Ok(())
    } else if let Some(addr) = text.strip_prefix("tcp:") {
        match addr.replace("{port}", "1").parse::<std::net::SocketAddr>() {
            Ok(socket) if socket.port() == 0 => {
                Err(format!("address `{text}`: port 0 is no port to connect to"))
            }
            Ok(_) => Ok(()),
            Err(_) => Err(format!(
                "address `{text}` is not `tcp:IP:PORT` (e.g. `tcp:127.0.0.1:{{port}}`)"
            )),
        }
    } else {
        Err(format!(
            "address `{text}` is neither `unix:PATH` nor `tcp:IP:PORT`"
        ))
    }
}

fn address_text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let text = String::deserialize(deserializer)?;
    check_address(&text).map_err(serde::de::Error::custom)?;
    Ok(text)
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
        reply_too_soon: false,
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
        client.reply_too_soon = false;
        let outcome = client.run(step, &address);
        // A reply that came too soon was still read whole: the conversation can go on,
        // and the later steps judge the rest of the server (its shutdown, its socket file).
        let failed = !outcome.ok && !client.reply_too_soon;
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
    /// The call id of the call started last on each connection (`start-call`), and when.
    started_calls: BTreeMap<String, (u32, Instant)>,
    next_call_id: u32,
    /// The step failed only because its reply came too soon (see `not-before-ms`).
    reply_too_soon: bool,
}

impl Client<'_> {
    /// A reply that came sooner than `not_before_ms` after its request did not do the work.
    fn not_too_soon(&mut self, sent: Instant, not_before_ms: u64) -> Result<(), String> {
        let took = sent.elapsed().as_millis() as u64;
        if took < not_before_ms {
            self.reply_too_soon = true;
            return Err(format!(
                "the reply came after {took} ms, sooner than the {not_before_ms} ms the call takes \
                 when its work is done (a sleep answered at once did not sleep)"
            ));
        }
        Ok(())
    }

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
                not_before_ms,
            } => (
                format!("call {} on connection {conn}", call_text(*procedure, args)),
                self.send_call(conn, *procedure, args).and_then(|id| {
                    let sent = Instant::now();
                    self.expect_reply(conn, id, *status, results.as_deref(), *within_ms)?;
                    self.not_too_soon(sent, *not_before_ms)
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
                    self.started_calls
                        .insert(conn.clone(), (id, Instant::now()));
                }),
            ),
            Step::FinishCall {
                conn,
                status,
                results,
                within_ms,
                not_before_ms,
            } => (
                format!("read the reply to the call started on connection {conn}"),
                match self.started_calls.get(conn).copied() {
                    Some((id, sent)) => self
                        .expect_reply(conn, id, *status, results.as_deref(), *within_ms)
                        .and_then(|()| self.not_too_soon(sent, *not_before_ms)),
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
                self.send(conn, hex.bytes()),
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
                (format!("send {signal} to the server"), self.signal(*signal))
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

    fn signal(&self, signal: SignalName) -> Result<(), String> {
        if self.live.signal_root(signal.number()) {
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

/// Hex digits, two a byte, whitespace anywhere between them.
fn parse_hex(text: &str) -> Result<Vec<u8>, String> {
    let digits: Vec<u8> = text
        .chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| {
            c.to_digit(16)
                .map(|d| d as u8)
                .ok_or_else(|| format!("hex `{text}`: {c:?} is not a hex digit"))
        })
        .collect::<Result<_, _>>()?;
    if digits.is_empty() {
        return Err(format!("hex `{text}` gives no bytes"));
    }
    if !digits.len().is_multiple_of(2) {
        return Err(format!(
            "hex `{text}` has an odd number of digits (two make a byte)"
        ));
    }
    Ok(digits
        .chunks(2)
        .map(|pair| pair[0] << 4 | pair[1])
        .collect())
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

    #[test]
    fn values_are_parsed_when_the_script_is_read() {
        let script: ClientScript = toml::from_str(
            r#"
            address = "tcp:127.0.0.1:{port}"
            steps = [
                { do = "connect", conn = "a" },
                { do = "send-raw", conn = "a", hex = "0000000C 00000001" },
                { do = "signal", signal = "SIGHUP" },
            ]
            "#,
        )
        .unwrap();
        let Step::SendRaw { hex, .. } = &script.steps[1] else {
            panic!("{:?}", script.steps[1]);
        };
        assert_eq!(hex.bytes(), [0, 0, 0, 12, 0, 0, 0, 1]);
        // Feedback shows the bytes as the rubric wrote them.
        assert_eq!(hex.to_string(), "0000000C 00000001");
        assert_eq!(
            script.steps[2],
            Step::Signal {
                signal: SignalName::Hup
            }
        );
        assert_eq!(SignalName::Hup.number(), libc::SIGHUP);
        assert_eq!(script.check(), Ok(()));
        let bad = |text: &str| {
            toml::from_str::<ClientScript>(text)
                .unwrap_err()
                .to_string()
        };
        assert!(
            bad("address = \"unix:x\"\nsteps = [{ do = \"signal\", signal = \"TERM\" }]")
                .contains("unknown variant `TERM`")
        );
        assert!(bad("address = \"x\"\nsteps = []").contains("neither `unix:PATH`"));
    }

    #[test]
    fn hex_is_digits_in_pairs_and_never_panics() {
        assert_eq!(parse_hex(" A b\n0 1 ").unwrap(), [0xab, 0x01]);
        for bad in ["aé0", "+f", "0x00", "", "   ", "abc"] {
            assert!(parse_hex(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_step_on_a_connection_that_is_not_open_is_found() {
        let script = |steps: Vec<Step>| ClientScript {
            address: "unix:/s".into(),
            steps,
        };
        let conn = |c: &str| c.to_string();
        let problem = script(vec![
            Step::Connect { conn: conn("a") },
            Step::Close { conn: conn("a") },
            Step::Close { conn: conn("a") },
        ])
        .check()
        .unwrap_err();
        assert_eq!((problem.step, problem.key), (Some(2), "conn"));
        assert!(problem.message.contains("step 2 closed it"), "{problem:?}");
        // A call started before a reconnect is not the new connection's to finish.
        let problem = script(vec![
            Step::Connect { conn: conn("a") },
            Step::StartCall {
                conn: conn("a"),
                procedure: 3,
                args: vec![10],
            },
            Step::Connect { conn: conn("a") },
            Step::FinishCall {
                conn: conn("a"),
                status: 0,
                results: None,
                within_ms: 100,
                not_before_ms: 0,
            },
        ])
        .check()
        .unwrap_err();
        assert_eq!(problem.step, Some(3));
        assert_eq!(script(vec![]).check().unwrap_err().key, "steps");
        assert_eq!(
            script(vec![Step::Pause { ms: 0 }]).check().unwrap_err().key,
            "ms"
        );
        // A call whose reply must come later than it may come.
        let call = |within_ms, not_before_ms| Step::Call {
            conn: conn("a"),
            procedure: 3,
            args: vec![100],
            status: 0,
            results: None,
            within_ms,
            not_before_ms,
        };
        let connect = || Step::Connect { conn: conn("a") };
        let problem = script(vec![connect(), call(100, 100)]).check().unwrap_err();
        assert_eq!((problem.step, problem.key), (Some(1), "not-before-ms"));
        assert!(script(vec![connect(), call(200, 90)]).check().is_ok());
    }
}
