//! Capturing a run's stdout and stderr with a size cap that keeps the head and the tail.

use serde::{Deserialize, Serialize};
use std::io::Read;

/// What a program wrote to one stream, possibly cut in the middle.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Captured {
    /// The first bytes written.
    pub head: Vec<u8>,
    /// The last bytes written, when the stream was longer than the cap.
    pub tail: Vec<u8>,
    /// Every byte written, kept or not.
    pub total: u64,
}

impl Captured {
    /// True if bytes were dropped between head and tail.
    pub fn truncated(&self) -> bool {
        self.total > (self.head.len() + self.tail.len()) as u64
    }

    /// The kept text; a cut is marked with how much was dropped.
    pub fn text(&self) -> String {
        let mut text = String::from_utf8_lossy(&self.head).into_owned();
        if self.truncated() {
            let dropped = self.total - (self.head.len() + self.tail.len()) as u64;
            text.push_str(&format!("\n[… {dropped} bytes not kept …]\n"));
        }
        text.push_str(&String::from_utf8_lossy(&self.tail));
        text
    }

    /// Reads a stream to its end, keeping at most `limit` bytes (half head, half tail).
    pub fn read_all(mut reader: impl Read, limit: usize) -> Captured {
        let head_limit = limit / 2;
        let tail_limit = limit - head_limit;
        let mut captured = Captured::default();
        let mut tail = std::collections::VecDeque::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            };
            captured.total += n as u64;
            let mut chunk = &buf[..n];
            let room = head_limit - captured.head.len();
            if room > 0 {
                let take = room.min(chunk.len());
                captured.head.extend_from_slice(&chunk[..take]);
                chunk = &chunk[take..];
            }
            tail.extend(chunk.iter().copied());
            if tail.len() > tail_limit {
                tail.drain(..tail.len() - tail_limit);
            }
        }
        captured.tail = tail.into_iter().collect();
        captured
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_output_is_kept_whole() {
        let c = Captured::read_all(&b"hello\n"[..], 100);
        assert_eq!(c.text(), "hello\n");
        assert!(!c.truncated());
    }

    #[test]
    fn long_output_keeps_head_and_tail() {
        let data: Vec<u8> = (0..1000u32).map(|i| b'a' + (i % 26) as u8).collect();
        let c = Captured::read_all(&data[..], 100);
        assert_eq!(c.total, 1000);
        assert!(c.truncated());
        assert_eq!(c.head, &data[..50]);
        assert_eq!(c.tail, &data[950..]);
        assert!(c.text().contains("900 bytes not kept"));
    }
}
