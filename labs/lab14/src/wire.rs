//! The RPC service's wire format: how a call and its reply travel as bytes on a stream socket,
//! and the addresses the service listens on. Given: the protocol is the contract between
//! `rpc serve` and `rpc call` (and the grader, which plays the client); the processes —
//! listening, forking, reaping, shutting down — are yours, in `src/bin/rpc.rs`.
//!
//! ```text
//!   request:  ┌──────────┬──────────┬───────────┬──────────────────────┐
//!             │ length   │ call_id  │ procedure │ args: argc × u64     │
//!             └──────────┴──────────┴───────────┴──────────────────────┘
//!   reply:    ┌──────────┬──────────┬───────────┬──────────────────────┐
//!             │ length   │ call_id  │ status    │ results: count × u64 │
//!             └──────────┴──────────┴───────────┴──────────────────────┘
//!              u32         u32        u32
//!   every integer big-endian ("network byte order"); length counts the bytes after itself
//! ```
//!
//! A stream socket delivers bytes, not messages: one `read` may return half a frame, or the
//! end of one and the start of the next. The length prefix is what lets the reader find the
//! frames again, which is why a frame with a bad length ends the connection: after it, no
//! byte can be trusted to start a frame.
//!
//! ```
//! use lab14::wire::{self, Reply, Request};
//!
//! let call = Request { call_id: 7, procedure: wire::GCD, args: vec![84, 36] };
//! let bytes = wire::encode_request(&call);
//! assert_eq!(bytes.len(), 4 + 8 + 2 * 8);
//! assert_eq!(wire::read_request(&mut &bytes[..]).unwrap(), Some(call));
//!
//! let answer = Reply { call_id: 7, status: wire::OK, results: vec![12] };
//! let bytes = wire::encode_reply(&answer);
//! assert_eq!(wire::read_reply(&mut &bytes[..]).unwrap(), answer);
//! ```

use std::fmt;
use std::io::{self, Read};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::PathBuf;

/// The most arguments one request may carry.
pub const MAX_ARGS: usize = 16;

/// The largest valid request `length` (call id, procedure and [`MAX_ARGS`] arguments).
pub const MAX_REQUEST: u32 = 8 + 8 * MAX_ARGS as u32;

/// The largest reply `length` [`read_reply`] accepts: room for every divisor a `u64` can have.
pub const MAX_REPLY: u32 = 8 + 8 * crate::MAX_DIVISORS as u32;

/// Status: the call was carried out; the results follow.
pub const OK: u32 = 0;
/// Status: no procedure has this number.
pub const UNKNOWN_PROCEDURE: u32 = 1;
/// Status: the procedure exists, but not for these arguments (their count or their values).
pub const BAD_ARGUMENTS: u32 = 2;
/// Status: the request's length was invalid. Its call id is 0 (the request's was never
/// trusted), and the server closes the connection after it.
pub const BAD_FRAME: u32 = 3;

/// Procedure `FACTOR(n)`, n ≥ 1: every divisor `d` of `n` with `2 <= d <= n / 2`, ascending.
pub const FACTOR: u32 = 1;
/// Procedure `GCD(a, b)`: one result, the greatest common divisor of `a` and `b`.
pub const GCD: u32 = 2;
/// Procedure `SLEEP(ms)`, ms ≤ [`MAX_SLEEP_MS`]: waits `ms` milliseconds, then returns `[ms]`.
/// A slow call, to have calls in flight.
pub const SLEEP: u32 = 3;

/// The longest `SLEEP` the server agrees to, in milliseconds.
pub const MAX_SLEEP_MS: u64 = 10_000;

/// One call: which procedure, with which arguments. `call_id` is the client's label; the
/// reply carries it back so the client can tell which call it answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub call_id: u32,
    pub procedure: u32,
    pub args: Vec<u64>,
}

/// The answer to one call: its `call_id`, a status ([`OK`], [`UNKNOWN_PROCEDURE`],
/// [`BAD_ARGUMENTS`], [`BAD_FRAME`]) and the results (empty unless the status is [`OK`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub call_id: u32,
    pub status: u32,
    pub results: Vec<u64>,
}

impl Reply {
    /// A reply with `status` and no results.
    pub fn error(call_id: u32, status: u32) -> Reply {
        Reply {
            call_id,
            status,
            results: Vec::new(),
        }
    }
}

/// What a status means, in a few words (for `error: <status text>`).
///
/// ```
/// assert_eq!(lab14::wire::status_text(lab14::wire::UNKNOWN_PROCEDURE), "unknown procedure");
/// ```
pub fn status_text(status: u32) -> &'static str {
    match status {
        OK => "ok",
        UNKNOWN_PROCEDURE => "unknown procedure",
        BAD_ARGUMENTS => "bad arguments",
        BAD_FRAME => "bad frame",
        _ => "unknown status",
    }
}

/// Why [`read_request`] found no request where one had begun.
#[derive(Debug)]
pub enum FrameError {
    /// The stream ended in the middle of a frame (after its first byte, before its last).
    Truncated,
    /// The length field is below 8, above [`MAX_REQUEST`], or not 8 plus a multiple of 8.
    BadLength(u32),
    /// The read itself failed.
    Io(io::Error),
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::Truncated => write!(f, "the stream ended in the middle of a frame"),
            FrameError::BadLength(length) => write!(f, "bad frame length {length}"),
            FrameError::Io(e) => write!(f, "read failed: {e}"),
        }
    }
}

impl std::error::Error for FrameError {}

/// Whether `length` is a valid request length field.
pub fn valid_request_length(length: u32) -> bool {
    (8..=MAX_REQUEST).contains(&length) && (length - 8).is_multiple_of(8)
}

/// The bytes of one request frame, length prefix included.
///
/// Nothing is checked: more than [`MAX_ARGS`] arguments make a frame the server rejects as
/// [`BAD_FRAME`] (which is how a test builds an oversized frame).
pub fn encode_request(request: &Request) -> Vec<u8> {
    encode(request.call_id, request.procedure, &request.args)
}

/// The bytes of one reply frame, length prefix included.
pub fn encode_reply(reply: &Reply) -> Vec<u8> {
    encode(reply.call_id, reply.status, &reply.results)
}

/// Both frames have the same shape: length, two u32s, then u64s.
fn encode(first: u32, second: u32, values: &[u64]) -> Vec<u8> {
    let length = u32::try_from(8 + 8 * values.len()).expect("a frame's length fits in a u32");
    let mut bytes = Vec::with_capacity(4 + length as usize);
    bytes.extend_from_slice(&length.to_be_bytes());
    bytes.extend_from_slice(&first.to_be_bytes());
    bytes.extend_from_slice(&second.to_be_bytes());
    for value in values {
        bytes.extend_from_slice(&value.to_be_bytes());
    }
    bytes
}

/// Reads one request frame, and not one byte more (the next frame stays in the stream).
///
/// `Ok(None)`: the stream ended cleanly, before the first byte of a frame (the client has
/// closed its end: no more calls). A bad length is reported as soon as the 4-byte prefix is
/// read, without reading (or waiting for) the rest.
///
/// ```
/// use lab14::wire::{self, FrameError};
///
/// assert!(matches!(wire::read_request(&mut &[][..]), Ok(None)));
/// assert!(matches!(wire::read_request(&mut &[0, 0][..]), Err(FrameError::Truncated)));
/// assert!(matches!(
///     wire::read_request(&mut &[0, 0, 0, 9][..]),
///     Err(FrameError::BadLength(9))
/// ));
/// ```
pub fn read_request(stream: &mut impl Read) -> Result<Option<Request>, FrameError> {
    let mut prefix = [0; 4];
    match read_full(stream, &mut prefix).map_err(FrameError::Io)? {
        0 => return Ok(None),
        4 => {}
        _ => return Err(FrameError::Truncated),
    }
    let length = u32::from_be_bytes(prefix);
    if !valid_request_length(length) {
        return Err(FrameError::BadLength(length));
    }
    let mut body = vec![0; length as usize];
    if read_full(stream, &mut body).map_err(FrameError::Io)? < body.len() {
        return Err(FrameError::Truncated);
    }
    let (call_id, procedure, args) = decode(&body);
    Ok(Some(Request {
        call_id,
        procedure,
        args,
    }))
}

/// Reads one reply frame. A stream that ends before the whole frame is an
/// [`io::ErrorKind::UnexpectedEof`] error, a bad length an [`io::ErrorKind::InvalidData`] one.
pub fn read_reply(stream: &mut impl Read) -> io::Result<Reply> {
    let mut prefix = [0; 4];
    stream.read_exact(&mut prefix)?;
    let length = u32::from_be_bytes(prefix);
    if !(8..=MAX_REPLY).contains(&length) || !(length - 8).is_multiple_of(8) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("bad reply length {length}"),
        ));
    }
    let mut body = vec![0; length as usize];
    stream.read_exact(&mut body)?;
    let (call_id, status, results) = decode(&body);
    Ok(Reply {
        call_id,
        status,
        results,
    })
}

/// Splits a frame's body (everything after the length: 8 + 8k bytes) into its fields.
fn decode(body: &[u8]) -> (u32, u32, Vec<u64>) {
    let word = |at: usize| u32::from_be_bytes(body[at..at + 4].try_into().unwrap());
    let values = body[8..]
        .chunks_exact(8)
        .map(|chunk| u64::from_be_bytes(chunk.try_into().unwrap()))
        .collect();
    (word(0), word(4), values)
}

/// Reads until `buf` is full or the stream ends; returns how many bytes were read. Unlike
/// `read_exact`, it tells "nothing at all" (a clean end) from "part of it" (a cut frame).
fn read_full(stream: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match stream.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            // A signal interrupted the read before any data came: just read again.
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Where the service listens: a Unix-domain socket's path, or a TCP port on 127.0.0.1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    Unix(PathBuf),
    Tcp(SocketAddrV4),
}

impl fmt::Display for Address {
    /// The same syntax [`parse_address`] reads: `unix:PATH` or `tcp:127.0.0.1:PORT`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Unix(path) => write!(f, "unix:{}", path.display()),
            Address::Tcp(address) => write!(f, "tcp:{address}"),
        }
    }
}

/// Parses `unix:PATH` (any non-empty path) or `tcp:127.0.0.1:PORT`. Only 127.0.0.1 is
/// accepted: the service has no authentication, so it must not be reachable from elsewhere.
/// The error explains what is wrong, for an `error:` line.
///
/// ```
/// use lab14::wire::{Address, parse_address};
///
/// assert_eq!(parse_address("unix:/tmp/rpc.sock"), Ok(Address::Unix("/tmp/rpc.sock".into())));
/// assert_eq!(
///     parse_address("tcp:127.0.0.1:7000"),
///     Ok(Address::Tcp("127.0.0.1:7000".parse().unwrap()))
/// );
/// assert!(parse_address("tcp:0.0.0.0:7000").is_err());
/// ```
pub fn parse_address(text: &str) -> Result<Address, String> {
    if let Some(path) = text.strip_prefix("unix:") {
        if path.is_empty() {
            return Err("`unix:` needs a path, as in unix:/tmp/rpc.sock".to_string());
        }
        return Ok(Address::Unix(PathBuf::from(path)));
    }
    if let Some(rest) = text.strip_prefix("tcp:") {
        let address: SocketAddrV4 = rest
            .parse()
            .map_err(|_| format!("expected tcp:127.0.0.1:PORT, got {text:?}"))?;
        if *address.ip() != Ipv4Addr::LOCALHOST {
            return Err(format!("only 127.0.0.1 is accepted, got {}", address.ip()));
        }
        return Ok(Address::Tcp(address));
    }
    Err(format!(
        "expected unix:PATH or tcp:127.0.0.1:PORT, got {text:?}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request_frame(length: u32, rest: &[u8]) -> Vec<u8> {
        let mut bytes = length.to_be_bytes().to_vec();
        bytes.extend_from_slice(rest);
        bytes
    }

    #[test]
    fn requests_round_trip() {
        for argc in 0..=MAX_ARGS {
            let request = Request {
                call_id: 0xdead_beef,
                procedure: 0x0102_0304,
                args: (0..argc as u64).map(|i| u64::MAX - i).collect(),
            };
            let bytes = encode_request(&request);
            assert_eq!(bytes.len(), 4 + 8 + 8 * argc);
            let mut stream = &bytes[..];
            assert_eq!(read_request(&mut stream).unwrap(), Some(request));
            assert!(stream.is_empty(), "read more than one frame");
        }
    }

    #[test]
    fn requests_are_big_endian() {
        let request = Request {
            call_id: 1,
            procedure: FACTOR,
            args: vec![60],
        };
        assert_eq!(
            encode_request(&request),
            [
                0, 0, 0, 16, // length
                0, 0, 0, 1, // call id
                0, 0, 0, 1, // procedure
                0, 0, 0, 0, 0, 0, 0, 60, // n
            ]
        );
    }

    #[test]
    fn frames_in_sequence_are_read_one_at_a_time() {
        let first = Request {
            call_id: 1,
            procedure: GCD,
            args: vec![84, 36],
        };
        let second = Request {
            call_id: 2,
            procedure: SLEEP,
            args: vec![5],
        };
        let mut bytes = encode_request(&first);
        bytes.extend(encode_request(&second));
        let mut stream = &bytes[..];
        assert_eq!(read_request(&mut stream).unwrap(), Some(first));
        assert_eq!(read_request(&mut stream).unwrap(), Some(second));
        assert!(matches!(read_request(&mut stream), Ok(None)));
    }

    #[test]
    fn replies_round_trip() {
        for results in [vec![], vec![12], (2..=30).collect::<Vec<u64>>()] {
            let reply = Reply {
                call_id: 42,
                status: OK,
                results,
            };
            let bytes = encode_reply(&reply);
            assert_eq!(bytes.len(), 4 + 8 + 8 * reply.results.len());
            let mut stream = &bytes[..];
            assert_eq!(read_reply(&mut stream).unwrap(), reply);
            assert!(stream.is_empty());
        }
        let error = Reply::error(0, BAD_FRAME);
        assert_eq!(encode_reply(&error), [0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 3]);
    }

    #[test]
    fn short_lengths_are_bad_frames() {
        for length in 0..8 {
            let bytes = request_frame(length, &[0; 16]);
            assert!(
                matches!(read_request(&mut &bytes[..]), Err(FrameError::BadLength(l)) if l == length),
                "length {length}"
            );
        }
    }

    #[test]
    fn lengths_between_whole_arguments_are_bad_frames() {
        for length in [9, 12, 15, 17, 23, 135] {
            let bytes = request_frame(length, &[0; 200]);
            assert!(
                matches!(read_request(&mut &bytes[..]), Err(FrameError::BadLength(l)) if l == length),
                "length {length}"
            );
        }
    }

    #[test]
    fn oversized_lengths_are_bad_frames() {
        for length in [MAX_REQUEST + 8, MAX_REQUEST + 1, 1 << 20, u32::MAX] {
            // Not followed by that many bytes: the length alone condemns the frame.
            let bytes = request_frame(length, &[0; 8]);
            assert!(
                matches!(read_request(&mut &bytes[..]), Err(FrameError::BadLength(l)) if l == length),
                "length {length}"
            );
        }
        let too_many = Request {
            call_id: 1,
            procedure: GCD,
            args: vec![1; MAX_ARGS + 1],
        };
        assert!(matches!(
            read_request(&mut &encode_request(&too_many)[..]),
            Err(FrameError::BadLength(l)) if l == MAX_REQUEST + 8
        ));
    }

    #[test]
    fn every_valid_length_is_accepted() {
        let valid: Vec<u32> = (0..=MAX_REQUEST + 8)
            .filter(|&l| valid_request_length(l))
            .collect();
        let expected: Vec<u32> = (0..=MAX_ARGS as u32).map(|argc| 8 + 8 * argc).collect();
        assert_eq!(valid, expected);
    }

    #[test]
    fn cut_frames_are_truncated() {
        let bytes = encode_request(&Request {
            call_id: 3,
            procedure: FACTOR,
            args: vec![60],
        });
        assert!(matches!(read_request(&mut &bytes[..0]), Ok(None)));
        for cut in 1..bytes.len() {
            assert!(
                matches!(read_request(&mut &bytes[..cut]), Err(FrameError::Truncated)),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn bad_replies_are_errors() {
        let bytes = encode_reply(&Reply {
            call_id: 1,
            status: OK,
            results: vec![1, 2],
        });
        for cut in 0..bytes.len() {
            let error = read_reply(&mut &bytes[..cut]).unwrap_err();
            assert_eq!(error.kind(), io::ErrorKind::UnexpectedEof, "cut at {cut}");
        }
        for length in [0, 7, 9, MAX_REPLY + 8] {
            let error = read_reply(&mut &request_frame(length, &[0; 16])[..]).unwrap_err();
            assert_eq!(error.kind(), io::ErrorKind::InvalidData, "length {length}");
        }
    }

    #[test]
    fn interrupted_reads_are_retried() {
        /// Fails every other read with EINTR, and gives one byte at a time otherwise.
        struct Jumpy<'a> {
            bytes: &'a [u8],
            interrupt: bool,
        }
        impl Read for Jumpy<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                self.interrupt = !self.interrupt;
                if self.interrupt {
                    return Err(io::ErrorKind::Interrupted.into());
                }
                let one = buf.len().min(1);
                (&mut self.bytes).read(&mut buf[..one])
            }
        }
        let request = Request {
            call_id: 9,
            procedure: 77,
            args: vec![1, 2, 3],
        };
        let bytes = encode_request(&request);
        let mut stream = Jumpy {
            bytes: &bytes,
            interrupt: false,
        };
        assert_eq!(read_request(&mut stream).unwrap(), Some(request));
        assert!(matches!(read_request(&mut stream), Ok(None)));
    }

    #[test]
    fn status_texts() {
        assert_eq!(status_text(OK), "ok");
        assert_eq!(status_text(UNKNOWN_PROCEDURE), "unknown procedure");
        assert_eq!(status_text(BAD_ARGUMENTS), "bad arguments");
        assert_eq!(status_text(BAD_FRAME), "bad frame");
        assert_eq!(status_text(99), "unknown status");
    }

    #[test]
    fn addresses() {
        assert_eq!(
            parse_address("unix:rel/a.sock"),
            Ok(Address::Unix(PathBuf::from("rel/a.sock")))
        );
        let tcp = parse_address("tcp:127.0.0.1:65535").unwrap();
        assert_eq!(tcp.to_string(), "tcp:127.0.0.1:65535");
        assert_eq!(
            parse_address("unix:/tmp/x").unwrap().to_string(),
            "unix:/tmp/x"
        );
        for bad in [
            "",
            "unix:",
            "/tmp/x.sock",
            "tcp:",
            "tcp:127.0.0.1",
            "tcp:127.0.0.1:",
            "tcp:127.0.0.1:65536",
            "tcp:127.0.0.1:port",
            "tcp:localhost:7000",
            "tcp:10.0.0.1:7000",
            "tcp:[::1]:7000",
            "udp:127.0.0.1:7000",
        ] {
            assert!(parse_address(bad).is_err(), "{bad:?}");
        }
    }
}
