//! Lab 14's given pieces: the factoring arithmetic of lab 11, a thin safe layer over the
//! signal calls nix does not wrap ([`signals`]), and the RPC service's wire format ([`wire`]).
//!
//! Everything about processes — which signals to block and when, who signals whom, how to
//! wait, how the server accepts, forks, reaps and shuts down — is yours, in
//! `src/bin/signals.rs` and `src/bin/rpc.rs`.
//!
//! ```
//! let mut all: Vec<u64> = (0..lab14::WORKERS)
//!     .flat_map(|w| lab14::worker_divisors(60, w, lab14::WORKERS))
//!     .collect();
//! all.sort();
//! assert_eq!(all, [2, 3, 4, 5, 6, 10, 12, 15, 20, 30]);
//! ```

pub mod signals;
pub mod wire;

/// Number of worker processes the contract requires.
pub const WORKERS: usize = 2;

/// No `u64` has more divisors than this (use it to size shared memory).
pub const MAX_DIVISORS: usize = 103_680;

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
