//! Lab 12's computation and the constants of its three protocols, given to you.
//!
//! This library does the arithmetic and names the agreed-upon values. Everything about
//! processes — reading the number, forking the workers, sending the factors back through a
//! FIFO, a message queue or a socket, printing, cleaning up — is yours, in `src/bin/fifo.rs`,
//! `src/bin/mqueue.rs` and `src/bin/socket.rs`.
//!
//! The arithmetic is lab 11's (`lab11::worker_divisors`), copied rather than shared: each lab
//! crate stands alone, so that what you change in one lab never breaks the build of another.
//!
//! ```
//! // Two workers share the work of factoring 60 between them.
//! let mut all: Vec<u64> = (0..lab12::WORKERS)
//!     .flat_map(|w| lab12::worker_divisors(60, w, lab12::WORKERS))
//!     .collect();
//! all.sort();
//! assert_eq!(all, [2, 3, 4, 5, 6, 10, 12, 15, 20, 30]);
//! ```

/// Number of worker processes the contract requires.
pub const WORKERS: usize = 2;

/// Bytes in one factor as the workers send it: a `u64`, `d.to_le_bytes()`.
pub const RECORD: usize = std::mem::size_of::<u64>();

/// Part `fifo`: the record a worker writes after its last factor. A FIFO is a byte stream
/// with no end-of-message marks, so the marker must be a record like the others; 0 is never
/// a factor, so it cannot be mistaken for one.
pub const END_OF_FACTORS: u64 = 0;

/// Part `fifo`: the most bytes one `write` puts into a pipe or FIFO in one piece (POSIX's
/// `PIPE_BUF`, 4096 on Linux). A longer write may be cut, and the other worker's bytes
/// slipped in between the pieces; a shorter one never is.
pub const PIPE_BUF: usize = libc::PIPE_BUF;

/// Part `mqueue`: the message a worker sends after its last factor. A queue keeps every
/// message whole and apart, so a 4-byte `done` can never be confused with an 8-byte factor.
pub const DONE: &[u8] = b"done";

/// Part `mqueue`: the most messages the queue holds. 10 is the most an ordinary user may ask
/// for unless an administrator raised `/proc/sys/fs/mqueue/msg_max` (a process with
/// CAP_SYS_RESOURCE, such as root, may ask for more); a sender waits while the queue is full.
pub const QUEUE_CAPACITY: libc::c_long = 10;

/// Part `mqueue`: the largest message the queue accepts, in bytes (a factor is the largest).
pub const MESSAGE_SIZE: libc::c_long = RECORD as libc::c_long;

/// The divisors `d` of `n` with `2 <= d <= n / 2` that worker `worker` (counting from 0) of
/// `workers` is responsible for.
///
/// Trial division: the candidates `2..=√n` are dealt out round-robin, and every candidate
/// `i` that divides `n` gives two divisors, `i` and `n / i` (once if they are equal). Over
/// all workers, every divisor in range comes out exactly once.
pub fn worker_divisors(n: u64, worker: usize, workers: usize) -> impl Iterator<Item = u64> {
    assert!(worker < workers, "worker {worker} of {workers}");
    (2..=n.isqrt())
        .skip(worker)
        .step_by(workers)
        .filter(move |i| n.is_multiple_of(*i))
        .flat_map(move |i| {
            let pair = n / i;
            std::iter::once(i).chain((pair != i).then_some(pair))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn brute_force(n: u64) -> BTreeSet<u64> {
        (2..=n / 2).filter(|d| n.is_multiple_of(*d)).collect()
    }

    fn all_workers(n: u64, workers: usize) -> Vec<u64> {
        (0..workers)
            .flat_map(|w| worker_divisors(n, w, workers))
            .collect()
    }

    #[test]
    fn workers_together_find_every_divisor_once() {
        for n in 1..=2000 {
            for workers in 1..=3 {
                let found = all_workers(n, workers);
                let unique: BTreeSet<u64> = found.iter().copied().collect();
                assert_eq!(found.len(), unique.len(), "n = {n}: a divisor found twice");
                assert_eq!(unique, brute_force(n), "n = {n}, {workers} workers");
            }
        }
    }

    #[test]
    fn large_input() {
        assert_eq!(all_workers(97_821_761_637_600, WORKERS).len(), 17278);
    }

    #[test]
    fn the_end_markers_are_never_factors() {
        assert!((1..=2000).all(|n| !all_workers(n, WORKERS).contains(&END_OF_FACTORS)));
        assert_ne!(DONE.len(), RECORD);
        assert_eq!(PIPE_BUF % RECORD, 0, "a full buffer holds whole records");
    }
}
