//! Program-controlled text, made safe to print.
//!
//! A student's program chooses much of what the grader reports: file, FIFO, socket and
//! queue names, the bytes it writes, its stderr and panic messages. Printed as they are, a
//! line feed or carriage return in such a string forges report lines when the report is
//! piped, and on a terminal an escape sequence (`ESC [ 2K`, …) erases a real `✘` line and
//! draws a `✔` in its place. So every such string goes through [`visible`] (or [`quoted`],
//! [`quoted_lines`]) where it is interpolated into a message, and every renderer passes the
//! finished text through [`stray_controls`] as a last fence.
//!
//! What is escaped, and how (`\\` is a backslash itself, so every escape reads one way):
//! - `\n`, `\r`, `\t` by name;
//! - other C0 controls and DEL as `\xNN` (`\x1b` is ESC, `\x00` NUL);
//! - C1 controls (U+0080–U+009F: a terminal takes U+009B for `ESC [`) as `\u{NN}`;
//! - every other character that Rust's `{:?}` does not print as it is, as `\u{…}`: what
//!   reorders a line or breaks it without being a control (the bidirectional overrides and
//!   isolates such as U+202E, the line separator U+2028), what cannot be seen (U+200B, the
//!   soft hyphen, U+FEFF), the noncharacters U+FFFE and U+FFFF (not allowed in XML), the
//!   private-use and unassigned code points.
//!
//! Everything else, accents and symbols included (`é`, a combining accent after its
//! letter, `✔`), is kept as it is.

use std::borrow::Cow;
use std::fmt::Write as _;

/// How much of the text [`escape`] rewrites.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Program text on one line of a message: every control and backslashes.
    Line,
    /// The same inside double quotes: also `"`.
    Quoted,
    /// Report text already built: controls other than `\n`; backslashes are left alone
    /// (they are the escapes [`Mode::Line`] made).
    Stray,
}

/// Program-controlled text for one line of a report: every character of the module's list
/// becomes a visible escape and a backslash becomes `\\`. Borrowed when there is nothing to
/// escape.
///
/// ```
/// # use grader::escape::visible;
/// assert_eq!(visible("/tmp/x\r\n✔ 60/60\x1b[2K"), r"/tmp/x\r\n✔ 60/60\x1b[2K");
/// ```
pub fn visible(text: &str) -> Cow<'_, str> {
    escape(text, Mode::Line)
}

/// [`visible`] inside double quotes, with `"` escaped too: how messages quote a line the
/// program printed (`got "Give a number"`). Ordinary text reads as Rust's `{:?}` would
/// show it.
pub fn quoted(text: &str) -> String {
    format!("\"{}\"", escape(text, Mode::Quoted))
}

/// Program-controlled text of several lines (a compiler's output, say), quoted as a block:
/// each line escaped as by [`visible`] and prefixed with `prefix`, so that no line of it
/// can pass for a line of the report. Lines are joined with `\n`, without a last one.
pub fn quoted_lines(text: &str, prefix: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for (i, line) in text.lines().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(prefix);
        out.push_str(&visible(line));
    }
    out
}

/// The last fence before a terminal or a file: any control character still in report text,
/// other than its line breaks, made visible as [`visible`] would. Text a check built has
/// none (program text was escaped where it was interpolated); this catches a forgotten
/// place, or a report read back from an older grader's cache. Backslashes are left as they
/// are, or the escapes already made would be doubled.
pub fn stray_controls(text: &str) -> Cow<'_, str> {
    escape(text, Mode::Stray)
}

/// True if `c` is rewritten in every mode: the controls, and what Rust's table of
/// printable characters leaves out.
fn is_special(c: char) -> bool {
    c.is_control() || (!c.is_ascii() && !printable(c))
}

/// Rust's own judgement (`str::escape_debug`, the table behind `{:?}`), asked about `c`
/// after a letter: there a combining accent is printable, as it is in running text.
fn printable(c: char) -> bool {
    let mut buf = [0u8; 5];
    buf[0] = b'a';
    let len = 1 + c.encode_utf8(&mut buf[1..]).len();
    let pair = std::str::from_utf8(&buf[..len]).expect("a letter and one character");
    pair.escape_debug().count() == 2
}

fn needs_escape(c: char, mode: Mode) -> bool {
    match mode {
        Mode::Line => c == '\\' || is_special(c),
        Mode::Quoted => c == '\\' || c == '"' || is_special(c),
        Mode::Stray => c != '\n' && is_special(c),
    }
}

fn escape(text: &str, mode: Mode) -> Cow<'_, str> {
    let Some(first) = text.find(|c| needs_escape(c, mode)) else {
        return Cow::Borrowed(text);
    };
    let mut out = String::with_capacity(text.len() + 16);
    out.push_str(&text[..first]);
    for c in text[first..].chars() {
        if !needs_escape(c, mode) {
            out.push(c);
            continue;
        }
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\0'..='\x1f' | '\x7f' => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            _ => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_breaks_and_tabs_are_named() {
        assert_eq!(visible("a\r\nb\tc"), r"a\r\nb\tc");
        assert_eq!(visible("\n"), r"\n");
    }

    #[test]
    fn escape_sequences_lose_their_escape() {
        assert_eq!(visible("\x1b[2K\x1b[1G✔ 60/60"), r"\x1b[2K\x1b[1G✔ 60/60");
        // The one-character CSI of the C1 set, and the other C1 controls.
        assert_eq!(visible("\u{9b}2K"), r"\u{9b}2K");
        assert_eq!(visible("\u{85}\u{80}\u{9f}"), r"\u{85}\u{80}\u{9f}");
    }

    #[test]
    fn nul_del_and_other_c0_controls_are_hex() {
        assert_eq!(visible("a\0b"), r"a\x00b");
        assert_eq!(visible("\x7f"), r"\x7f");
        assert_eq!(visible("\x07\x08\x0b\x0c\x1f"), r"\x07\x08\x0b\x0c\x1f");
    }

    #[test]
    fn a_backslash_is_doubled_so_escapes_read_one_way() {
        assert_eq!(visible(r"C:\x1b"), r"C:\\x1b");
        assert_ne!(visible(r"\x1b"), visible("\x1b"));
        assert_eq!(visible("\\"), r"\\");
    }

    #[test]
    fn text_that_reorders_breaks_or_hides_is_escaped() {
        assert_eq!(visible("a\u{202e}b\u{2066}c"), r"a\u{202e}b\u{2066}c");
        assert_eq!(visible("a\u{2028}b\u{2029}"), r"a\u{2028}b\u{2029}");
        assert_eq!(visible("\u{fffe}\u{ffff}"), r"\u{fffe}\u{ffff}");
        assert_eq!(
            visible("Give\u{200b}\u{ad}\u{feff}"),
            r"Give\u{200b}\u{ad}\u{feff}"
        );
    }

    #[test]
    fn printable_text_is_kept_and_borrowed() {
        let decomposed = "cafe\u{301}";
        for text in [
            "",
            "/tmp/lab12-fifo",
            "é ✔ ✘ — 因数 🦀",
            "a 'b' \"c\" `d`",
            decomposed,
        ] {
            assert_eq!(visible(text), text);
            assert!(matches!(visible(text), Cow::Borrowed(_)), "{text}");
        }
    }

    #[test]
    fn quoted_reads_like_debug_for_ordinary_text() {
        for text in [
            "Give a number to factor.",
            "say \"hi\"",
            "a\\b",
            "60\n",
            "é✔",
        ] {
            assert_eq!(quoted(text), format!("{text:?}"));
        }
        assert_eq!(quoted("\x1b[2K"), r#""\x1b[2K""#);
    }

    #[test]
    fn quoted_lines_mark_every_line_and_escape_inside_each() {
        assert_eq!(
            quoted_lines("error: x\r\n\x1b[2K✔ forged\n\nend", "│ "),
            "│ error: x\n│ \\x1b[2K✔ forged\n│ \n│ end"
        );
        assert_eq!(quoted_lines("", "│ "), "");
    }

    #[test]
    fn stray_controls_keep_line_breaks_and_backslashes() {
        assert_eq!(stray_controls("a\nb"), "a\nb");
        assert_eq!(
            stray_controls(r"already \\ and \x1b"),
            r"already \\ and \x1b"
        );
        assert_eq!(
            stray_controls("x\r\x1b[2K\u{9b}\ty"),
            r"x\r\x1b[2K\u{9b}\ty"
        );
    }
}
