//! Decoding system calls into [`Event`](super::model::Event)s: what a call's arguments,
//! result and the memory they point at mean.
//!
//! - [`layout`]: the C structures calls point at, read through [`Mem`](super::mem::Mem).

pub mod layout;
