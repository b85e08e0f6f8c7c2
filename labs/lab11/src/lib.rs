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
///
/// The record holder is 18401055938125660800 = 2^7 · 3^4 · 5^2 · 7^2 · 11 · 13 · 17 · 19 · 23 ·
/// 29 · 31 · 37 · 41 < 2^64, with 8 · 5 · 3 · 3 · 2^9 = 184,320 divisors: the largest highly
/// composite number below 2^64 (OEIS A002182). One worker alone may find most of them
/// (153,410 of its 184,318 divisors in `2..=n/2` go to worker 0), so a region of
/// `1 + MAX_DIVISORS` slots per worker is needed, and enough.
pub const MAX_DIVISORS: usize = 184_320;

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

    /// 18401055938125660800, the `u64` with the most divisors, as (prime, exponent).
    const RECORD: u64 = 18_401_055_938_125_660_800;
    const RECORD_FACTORS: [(u64, u32); 13] = [
        (2, 7),
        (3, 4),
        (5, 2),
        (7, 2),
        (11, 1),
        (13, 1),
        (17, 1),
        (19, 1),
        (23, 1),
        (29, 1),
        (31, 1),
        (37, 1),
        (41, 1),
    ];

    /// Every divisor of the number with this factorisation, 1 and itself included.
    fn divisors_from(factors: &[(u64, u32)]) -> Vec<u64> {
        let mut divisors = vec![1u64];
        for &(p, e) in factors {
            divisors = divisors
                .iter()
                .flat_map(|&d| (0..=e).map(move |k| d * p.pow(k)))
                .collect();
        }
        divisors
    }

    /// What `worker_divisors(n, w, workers)` yields, for each `w`, computed from the divisors
    /// of `n` instead of by trial division: candidate `i <= √n` belongs to worker
    /// `(i - 2) % workers` and brings `i` and `n / i`.
    fn split_from(n: u64, divisors: &[u64], workers: usize) -> Vec<BTreeSet<u64>> {
        let mut split = vec![BTreeSet::new(); workers];
        for &i in divisors.iter().filter(|&&i| 2 <= i && i <= n.isqrt()) {
            let mine = &mut split[(i - 2) as usize % workers];
            mine.insert(i);
            mine.insert(n / i);
        }
        split
    }

    #[test]
    fn the_split_model_matches_worker_divisors() {
        // 97821761637600 = 2^5 · 3^4 · 5^2 · 7^2 · 11 · 13 · 17 · 19 · 23 · 29 (17280
        // divisors) is quick to factor by trial division; the record holder (√n ≈ 4.3e9) is not.
        let n = 97_821_761_637_600;
        let factors = [
            (2, 5),
            (3, 4),
            (5, 2),
            (7, 2),
            (11, 1),
            (13, 1),
            (17, 1),
            (19, 1),
            (23, 1),
            (29, 1),
        ];
        let divisors = divisors_from(&factors);
        assert_eq!(divisors.iter().max(), Some(&n));
        assert_eq!(divisors.len(), 17_280);
        let split = split_from(n, &divisors, WORKERS);
        for (w, expected) in split.iter().enumerate() {
            let found: Vec<u64> = worker_divisors(n, w, WORKERS).collect();
            let unique: BTreeSet<u64> = found.iter().copied().collect();
            assert_eq!(found.len(), unique.len(), "worker {w}: a divisor twice");
            assert_eq!(&unique, expected, "worker {w}");
        }
    }

    #[test]
    fn the_record_holders_divisors_fit_each_workers_region() {
        let divisors = divisors_from(&RECORD_FACTORS);
        assert_eq!(divisors.iter().max(), Some(&RECORD));
        let all: BTreeSet<u64> = divisors.iter().copied().collect();
        assert_eq!(all.len(), 184_320);
        assert_eq!(all.len(), MAX_DIVISORS);
        let split = split_from(RECORD, &divisors, WORKERS);
        let counts: Vec<usize> = split.iter().map(BTreeSet::len).collect();
        assert_eq!(counts, [153_410, 30_908]);
        assert!(counts.iter().all(|&c| c <= MAX_DIVISORS), "{counts:?}");
        // Together the workers find every divisor but 1 and n, each once.
        let union: BTreeSet<u64> = split.iter().flatten().copied().collect();
        assert_eq!(union.len(), counts.iter().sum::<usize>());
        assert_eq!(union.len(), 184_320 - 2);
        assert!(!union.contains(&1) && !union.contains(&RECORD));
    }

    #[test]
    fn no_u64_has_more_than_max_divisors() {
        // A number's divisor count depends only on its exponents; putting them in
        // non-increasing order on the smallest primes keeps the count and does not make the
        // number larger. So searching those numbers below 2^64 finds the maximum.
        const PRIMES: [u128; 16] = [2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53];
        fn most(i: usize, n: u128, max_exponent: u32, count: usize) -> (usize, u128) {
            let mut best = (count, n);
            if i == PRIMES.len() {
                return best;
            }
            let mut m = n;
            for e in 1..=max_exponent {
                m *= PRIMES[i];
                if m > u128::from(u64::MAX) {
                    break;
                }
                best = best.max(most(i + 1, m, e, count * (e as usize + 1)));
            }
            best
        }
        assert_eq!(most(0, 1, 63, 1), (MAX_DIVISORS, u128::from(RECORD)));
    }
}
