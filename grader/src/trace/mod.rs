//! Syscall tracing: follow every process of a run with ptrace and record what it did.
//!
//! - [`decode`]: what a call's arguments and the memory they point at mean;
//! - [`hold`]: forced orderings, a process held at a stop until a condition or a bound;
//! - [`interest`]: which calls to stop on, as a seccomp filter and as a Rust predicate;
//! - [`tracer`]: the ptrace loop, producing a [`model::Trace`];
//! - [`live`]: the live processes, held by pidfd, killed on timeout or when the parent ends;
//! - [`procfs`]: reading descriptors, counters and blocked calls from /proc;
//! - [`mem`]: reading a tracee's memory, live or (in tests) from byte buffers;
//! - [`model`]: the trace as plain data, the only thing checks see.
//!
//! This module knows nothing about labs or rubrics.

pub mod decode;
pub mod filter;
pub mod hold;
pub mod interest;
pub mod live;
pub mod mem;
pub mod model;
pub mod procfs;
pub mod tracer;

pub use hold::HoldRule;
pub use interest::{Interest, Topic};
pub use model::{Disposition, End, Event, ProcId, Process, Stream, Trace};
