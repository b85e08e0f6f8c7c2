//! Lab 11's computation, given to you: which divisors each worker looks for.
//!
//! This library does the arithmetic only. Everything about processes — reading the number,
//! forking the workers, sending the factors back, printing, cleaning up — is yours, in
//! `src/bin/pipe.rs`, `src/bin/shm.rs` and `src/bin/posix.rs`.
//!
//! ```
//! // Two workers share the work of factoring 60 between them.
//! let mut all: Vec<u64> = (0..lab11::WORKERS)
//!     .flat_map(|w| lab11::worker_divisors(60, w, lab11::WORKERS))
//!     .collect();
//! all.sort();
//! assert_eq!(all, [2, 3, 4, 5, 6, 10, 12, 15, 20, 30]);
//! ```

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
    fn large_inputs() {
        assert_eq!(all_workers(97_821_761_637_600, WORKERS).len(), 17278);
        // A prime near 2^32 squared would take long; a product of two primes is quick.
        let mut found = all_workers(1_000_003 * 999_983, WORKERS);
        found.sort();
        assert_eq!(found, [999_983, 1_000_003]);
    }

    #[test]
    fn one_has_no_factors_in_range() {
        assert_eq!(all_workers(1, WORKERS), Vec::<u64>::new());
    }
}
