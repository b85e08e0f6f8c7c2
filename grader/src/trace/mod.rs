//! Syscall tracing: follow every process of a run with ptrace and record what it did.
//!
//! - [`tracer`]: the ptrace loop, producing a [`model::Trace`], one stop at a time;
//! - [`wait`]: waiting for stops, telling their kinds apart, restarting;
//! - [`tasks`]: the threads and processes followed, their births and ends, shims, NSpid;
//! - [`decode`]: what a call's arguments and the memory they point at mean;
//! - [`fds`]: what each descriptor refers to, stdout aliases, paths made absolute;
//! - [`handlers`]: dispositions and the signal handlers each thread is running;
//! - [`hold`]: forced orderings, a process held at a stop until a condition or a bound;
//! - [`interest`]: which calls to stop on, as a seccomp filter and as a Rust predicate;
//! - [`filter`]: the one seccomp program a run gets;
//! - [`live`]: the live processes, held by pidfd, killed on timeout or when the parent ends;
//! - [`procfs`]: reading descriptors, counters and blocked calls from /proc;
//! - [`mem`]: reading a tracee's memory, live or (in tests) from byte buffers;
//! - [`model`]: the trace as plain data, the only thing checks see.
//!
//! This module knows nothing about labs or rubrics.

pub mod decode;
pub mod fds;
pub mod filter;
pub mod handlers;
pub mod hold;
pub mod interest;
pub mod live;
pub mod mem;
pub mod model;
pub mod procfs;
pub mod restart;
pub mod tasks;
pub mod tracer;
pub mod wait;

pub use hold::HoldRule;
pub use interest::{Interest, Topic};
pub use model::{Disposition, End, Event, ProcId, Process, Stream, Trace};
