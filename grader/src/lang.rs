//! Which language an executable was written in, as far as hints care: Rust or not.
//!
//! Feedback names calls of the language a student wrote (`process::exit` in Rust, `_exit` in
//! C), so the grader looks at the executable it grades. A Rust program carries its standard
//! library's panic machinery (`rust_begin_unwind`, `rust_panic`) and the compiler's paths
//! (`/rustc/<commit>/library/…`) even when stripped; a program without any of them is taken
//! for C (or C++, or anything else that gets C's advice).

use std::path::Path;

/// The language a hint is written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    Rust,
    C,
}

/// Byte strings only a Rust executable contains.
const RUST_MARKS: [&[u8]; 3] = [b"rust_begin_unwind", b"rust_panic", b"/rustc/"];

impl Language {
    /// The language of the executable at `path`; Rust when it cannot be read (the kit's
    /// own programs are Rust, and a file that cannot be read is not graded anyway).
    pub fn of_executable(path: &Path) -> Language {
        match std::fs::read(path) {
            Ok(bytes) => Language::of_bytes(&bytes),
            Err(_) => Language::Rust,
        }
    }

    fn of_bytes(bytes: &[u8]) -> Language {
        let rust = RUST_MARKS
            .iter()
            .any(|mark| bytes.windows(mark.len()).any(|w| w == *mark));
        if rust { Language::Rust } else { Language::C }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_the_grader_itself_from_a_c_program() {
        let own = std::env::current_exe().unwrap();
        assert_eq!(Language::of_executable(&own), Language::Rust);
        assert_eq!(Language::of_executable(Path::new("/bin/true")), Language::C);
        assert_eq!(
            Language::of_bytes(b"\x7fELF... rust_panic ..."),
            Language::Rust
        );
    }
}
