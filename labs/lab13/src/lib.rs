//! Lab 13's given pieces: the input's grammar, the items, and the layout of the shared region.
//!
//! Everything about processes — mapping the region, initialising the semaphores, forking
//! the producers and consumers, waiting and posting, reaping, printing, cleaning up — is
//! yours, in `src/bin/ring.rs`.
//!
//! ```
//! let config = lab13::parse_config("2 3 100\n").unwrap();
//! assert_eq!((config.producers, config.consumers, config.items), (2, 3, 100));
//! assert_eq!(lab13::item(1, 42), 1_000_042);
//! // The region holds the ring and room to log every item once.
//! assert!(lab13::region_size(&config) >= std::mem::size_of::<lab13::Ring>() + 200 * 16);
//! ```

use std::mem::size_of;

/// Slots in the ring buffer. Far fewer than the items, so producers must wait for room.
pub const SLOTS: usize = 8;

/// The most producers, and the most consumers, a run may ask for.
pub const MAX_WORKERS: usize = 4;

/// The most items one producer may be asked to make.
pub const MAX_ITEMS: u64 = 100_000;

/// The most microseconds of simulated work a consumer may be asked to do per item.
pub const MAX_WORK_US: u64 = 100_000;

/// Producer `p`'s items are `p * ITEM_STRIDE + i`: the item says who made it.
pub const ITEM_STRIDE: u64 = 1_000_000;

/// The item that tells a consumer to stop. No producer ever makes it.
pub const POISON: u64 = u64::MAX;

/// What one run is asked to do: the input line `P C N [W]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// Producer processes, 1 to [`MAX_WORKERS`].
    pub producers: usize,
    /// Consumer processes, 1 to [`MAX_WORKERS`].
    pub consumers: usize,
    /// Items each producer makes, 1 to [`MAX_ITEMS`].
    pub items: u64,
    /// Microseconds a consumer sleeps after taking an item (simulated work), 0 to
    /// [`MAX_WORK_US`]; 0 when the line has three numbers.
    pub work_us: u64,
}

impl Config {
    /// Items made by all producers together: the entries the log must hold.
    pub fn total_items(&self) -> usize {
        self.producers * self.items as usize
    }
}

/// Parses the input line: three or four whitespace-separated whole numbers, each in its range.
/// The error explains what is wrong, for an `error:` line.
pub fn parse_config(line: &str) -> Result<Config, String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    if words.len() != 3 && words.len() != 4 {
        return Err(format!(
            "expected `P C N` or `P C N W` (three or four numbers), got {:?}",
            line.trim()
        ));
    }
    let number =
        |word: &str, what: &str, range: std::ops::RangeInclusive<u64>| match word.parse::<u64>() {
            Ok(n) if range.contains(&n) => Ok(n),
            _ => Err(format!(
                "{what} must be a whole number from {} to {}, got {word:?}",
                range.start(),
                range.end()
            )),
        };
    let workers = 1..=MAX_WORKERS as u64;
    Ok(Config {
        producers: number(words[0], "P (producers)", workers.clone())? as usize,
        consumers: number(words[1], "C (consumers)", workers)? as usize,
        items: number(words[2], "N (items per producer)", 1..=MAX_ITEMS)?,
        work_us: match words.get(3) {
            Some(word) => number(word, "W (microseconds of work)", 0..=MAX_WORK_US)?,
            None => 0,
        },
    })
}

/// Producer `producer`'s item number `i`.
pub fn item(producer: usize, i: u64) -> u64 {
    producer as u64 * ITEM_STRIDE + i
}

/// The start of the shared region: three semaphores and the ring. The log of consumed items,
/// [`Config::total_items`] [`Entry`]s, follows it in the same region.
///
/// `#[repr(C)]` fixes the layout, so every process finds each field at the same offset.
/// Nothing here is ever moved or copied: processes reach it through a pointer into the
/// shared mapping, and the semaphores must stay where `sem_init` put them.
#[repr(C)]
pub struct Ring {
    /// Free slots: starts at [`SLOTS`]; a producer waits on it before putting an item.
    pub empty: libc::sem_t,
    /// Filled slots: starts at 0; a consumer waits on it before taking an item.
    pub full: libc::sem_t,
    /// Starts at 1: whoever holds it alone reads and updates the indices, the slots and the log.
    pub mutex: libc::sem_t,
    /// The items in the buffer.
    pub slots: [u64; SLOTS],
    /// The slot the next item goes into.
    pub next_in: usize,
    /// The slot the next item is taken from.
    pub next_out: usize,
    /// Entries written to the log so far.
    pub logged: usize,
}

/// One line of the parent's report: which consumer took which item.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub item: u64,
    pub consumer: u64,
}

/// Bytes to map: the [`Ring`], then one [`Entry`] per item.
pub fn region_size(config: &Config) -> usize {
    size_of::<Ring>() + config.total_items() * size_of::<Entry>()
}

/// Where the log starts in a region that begins at `ring`: right after the [`Ring`].
/// (Only an address computation; nothing is read.)
pub fn log_of(ring: *mut Ring) -> *mut Entry {
    ring.wrapping_add(1).cast()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_contract() {
        assert_eq!(
            parse_config(" 4 1\t100000 100000\n"),
            Ok(Config {
                producers: 4,
                consumers: 1,
                items: 100_000,
                work_us: 100_000
            })
        );
        for bad in [
            "",
            "1 1",
            "0 1 1",
            "5 1 1",
            "1 0 1",
            "1 5 1",
            "1 1 0",
            "1 1 100001",
            "1 1 1 100001",
            "1 1 1 1 1",
            "-1 1 1",
            "one 1 1",
            "1 1 1x",
        ] {
            assert!(parse_config(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_log_follows_the_ring_aligned() {
        assert_eq!(size_of::<Ring>() % align_of::<Entry>(), 0);
        assert_ne!(POISON, item(MAX_WORKERS - 1, MAX_ITEMS - 1));
        const { assert!(MAX_ITEMS < ITEM_STRIDE) };
    }
}
