//! Reading a tracee's memory: the [`Mem`] trait, its live implementation ([`Tracee`]) and,
//! for tests, a byte-buffer one.
//!
//! Every address a decoder reads comes from the traced program, so any of them may be null,
//! unmapped, at the very end of the address space, or point at a string with no NUL: every
//! read here is bounded and returns what was readable, never panics.

use nix::sys::ptrace;
use nix::sys::uio::{RemoteIoVec, process_vm_readv};
use nix::unistd::Pid;
use std::io::IoSliceMut;
use std::mem::size_of;

/// The longest C string read from a tracee (`PATH_MAX`): a name without a NUL byte is cut
/// there.
pub const MAX_C_STRING: usize = libc::PATH_MAX as usize;

/// Memory of a traced process (or a stand-in), read at addresses the process gave.
pub trait Mem {
    /// Up to `len` bytes at `addr`: fewer when the readable memory ends sooner, `None` when
    /// nothing is readable there (or `addr` is null, or `len` is 0).
    fn read(&self, addr: u64, len: usize) -> Option<Vec<u8>>;
}

impl dyn Mem + '_ {
    /// Exactly `len` bytes at `addr`, or `None`.
    pub fn read_exact(&self, addr: u64, len: usize) -> Option<Vec<u8>> {
        self.read(addr, len).filter(|bytes| bytes.len() == len)
    }

    /// A plain C struct (or number, or array of them) at `addr`, or `None` if any of its bytes
    /// cannot be read.
    pub fn read_struct<T: Plain>(&self, addr: u64) -> Option<T> {
        from_bytes(&self.read_exact(addr, size_of::<T>())?)
    }

    /// The NUL-terminated string at `addr`, at most `max` bytes of it (lossily decoded): what
    /// could be read when it runs into unreadable memory or the bound first; empty when
    /// nothing can be read.
    pub fn read_c_string(&self, addr: u64, max: usize) -> String {
        const PAGE: u64 = 4096;
        const CHUNK: u64 = 256;
        let mut out = Vec::new();
        let mut at = addr;
        while out.len() < max {
            // Never read across a page boundary, so a string that ends just before an
            // unmapped page still reads.
            let chunk = (PAGE - at % PAGE).min(CHUNK).min((max - out.len()) as u64) as usize;
            let Some(bytes) = self.read(at, chunk) else {
                break;
            };
            if let Some(end) = bytes.iter().position(|&b| b == 0) {
                out.extend_from_slice(&bytes[..end]);
                break;
            }
            out.extend_from_slice(&bytes);
            match at.checked_add(bytes.len() as u64) {
                Some(next) if bytes.len() == chunk => at = next,
                _ => break, // Cut short by unreadable memory, or the end of the address space.
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }
}

/// A C type every bit pattern of which is a valid value (integers, arrays of them, and
/// `repr(C)` structs of integers and raw pointers), so it can be made from bytes a tracee
/// wrote.
///
/// # Safety
/// Implement only for `Copy` types with no invalid bit patterns: no references, `bool`s,
/// `char`s, enums or `NonNull`s, at any depth.
pub unsafe trait Plain: Copy {}

// SAFETY: integers and arrays of them have no invalid bit patterns.
unsafe impl Plain for u64 {}
// SAFETY: as above.
unsafe impl Plain for libc::c_int {}
// SAFETY: as above.
unsafe impl Plain for [libc::c_int; 2] {}
// SAFETY: a pointer and a length; a raw pointer may hold any address.
unsafe impl Plain for libc::iovec {}
// SAFETY: integers, raw pointers and padding.
unsafe impl Plain for libc::msghdr {}
// SAFETY: three u64s.
unsafe impl Plain for libc::open_how {}
// SAFETY: integers, raw pointers and padding, in unions whose every member is such.
unsafe impl Plain for libc::siginfo_t {}

/// A `T` from the start of `bytes`, or `None` if there are fewer than `size_of::<T>()`.
pub fn from_bytes<T: Plain>(bytes: &[u8]) -> Option<T> {
    if bytes.len() < size_of::<T>() {
        return None;
    }
    // SAFETY: `bytes` holds at least size_of::<T>() initialised bytes, read_unaligned needs
    // no alignment, and `T: Plain` makes any bit pattern a valid `T`.
    Some(unsafe { bytes.as_ptr().cast::<T>().read_unaligned() })
}

/// A live tracee's memory, read with `process_vm_readv` (one call for the whole range), or
/// with `PTRACE_PEEKDATA` word by word where that call is not allowed (a seccomp profile
/// may forbid it; ptrace works wherever the tracer does).
#[derive(Debug, Clone, Copy)]
pub struct Tracee(pub i32);

impl Mem for Tracee {
    fn read(&self, addr: u64, len: usize) -> Option<Vec<u8>> {
        if addr == 0 || len == 0 {
            return None;
        }
        let mut buf = vec![0u8; len];
        let remote = [RemoteIoVec {
            base: addr as usize,
            len,
        }];
        match process_vm_readv(
            Pid::from_raw(self.0),
            &mut [IoSliceMut::new(&mut buf)],
            &remote,
        ) {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some(buf)
            }
            Err(nix::errno::Errno::ENOSYS | nix::errno::Errno::EPERM) => {
                peek(Pid::from_raw(self.0), addr, len)
            }
            Err(_) => None, // EFAULT (unmapped), ESRCH (gone): PEEKDATA would fail too.
        }
    }
}

/// Up to `len` bytes at `addr` through `PTRACE_PEEKDATA`, one aligned word at a time (an
/// aligned word never straddles a page, so bytes just before an unmapped page still read).
fn peek(pid: Pid, addr: u64, len: usize) -> Option<Vec<u8>> {
    const WORD: u64 = size_of::<libc::c_long>() as u64;
    let mut out = Vec::with_capacity(len);
    let mut word_at = addr - addr % WORD;
    let mut skip = (addr - word_at) as usize;
    while out.len() < len {
        let Ok(word) = ptrace::read(pid, word_at as ptrace::AddressType) else {
            break;
        };
        let bytes = word.to_ne_bytes();
        let take = (bytes.len() - skip).min(len - out.len());
        out.extend_from_slice(&bytes[skip..skip + take]);
        skip = 0;
        let Some(next) = word_at.checked_add(WORD) else {
            break;
        };
        word_at = next;
    }
    (!out.is_empty()).then_some(out)
}

/// A made-up address space for tests: byte strings placed at chosen addresses, everything
/// else unreadable.
#[cfg(test)]
#[derive(Debug, Default)]
pub struct Buffer {
    regions: Vec<(u64, Vec<u8>)>,
}

#[cfg(test)]
impl Buffer {
    /// An address space in which nothing is readable.
    pub fn new() -> Buffer {
        Buffer::default()
    }

    /// Makes `bytes` readable at `addr` (regions must not overlap).
    pub fn with(mut self, addr: u64, bytes: impl AsRef<[u8]>) -> Buffer {
        self.regions.push((addr, bytes.as_ref().to_vec()));
        self
    }

    /// Makes the bytes of a plain value readable at `addr`.
    pub fn with_struct<T: Plain>(self, addr: u64, value: &T) -> Buffer {
        self.with(addr, bytes_of(value))
    }
}

/// The bytes of a plain value, as a tracee would have written it.
#[cfg(test)]
pub fn bytes_of<T: Plain>(value: &T) -> Vec<u8> {
    // SAFETY: `value` is a valid, initialised `T` of size_of::<T>() bytes, alive for this
    // call; its padding bytes, if any, are copied as whatever they hold (tests build their
    // values from zeroed memory).
    unsafe { std::slice::from_raw_parts((value as *const T).cast::<u8>(), size_of::<T>()) }.to_vec()
}

#[cfg(test)]
impl Mem for Buffer {
    fn read(&self, addr: u64, len: usize) -> Option<Vec<u8>> {
        if addr == 0 || len == 0 {
            return None;
        }
        self.regions.iter().find_map(|(start, bytes)| {
            let offset = usize::try_from(addr.checked_sub(*start)?).ok()?;
            let rest = bytes.get(offset..).filter(|rest| !rest.is_empty())?;
            Some(rest[..rest.len().min(len)].to_vec())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mem(buffer: &Buffer) -> &dyn Mem {
        buffer
    }

    #[test]
    fn reads_stop_where_the_readable_memory_ends() {
        let buffer = Buffer::new().with(0x1000, b"abcdef");
        let m = mem(&buffer);
        assert_eq!(m.read(0x1002, 10).as_deref(), Some(&b"cdef"[..]));
        assert_eq!(m.read_exact(0x1002, 10), None);
        assert_eq!(m.read_exact(0x1002, 4).as_deref(), Some(&b"cdef"[..]));
        assert_eq!(m.read(0x1006, 1), None, "just past the end");
        assert_eq!(m.read(0x0fff, 1), None, "just before the start");
        assert_eq!(m.read(0, 8), None, "null");
        assert_eq!(m.read(0x1000, 0), None, "nothing asked");
    }

    #[test]
    fn c_strings_end_at_nul_at_the_bound_or_at_unreadable_memory() {
        let buffer = Buffer::new()
            .with(0x1000, b"/tmp/fifo\0junk")
            .with(0x2000, b"no terminator")
            .with(0x3000, vec![b'a'; 10_000])
            .with(0x10000, b"\xffbad\xfe\0");
        let m = mem(&buffer);
        assert_eq!(m.read_c_string(0x1000, MAX_C_STRING), "/tmp/fifo");
        assert_eq!(m.read_c_string(0x2000, MAX_C_STRING), "no terminator");
        assert_eq!(m.read_c_string(0x3000, MAX_C_STRING).len(), MAX_C_STRING);
        assert_eq!(m.read_c_string(0x3000, 5), "aaaaa");
        assert_eq!(
            m.read_c_string(0x10000, MAX_C_STRING),
            "\u{fffd}bad\u{fffd}"
        );
        assert_eq!(m.read_c_string(0x9000, MAX_C_STRING), "", "unmapped");
        assert_eq!(m.read_c_string(0, MAX_C_STRING), "", "null");
    }

    #[test]
    fn a_string_at_the_top_of_the_address_space_does_not_wrap() {
        let top = u64::MAX - 3;
        let buffer = Buffer::new().with(top, b"abcd");
        assert_eq!(mem(&buffer).read_c_string(top, MAX_C_STRING), "abcd");
    }

    #[test]
    fn a_string_across_chunks_and_pages_reads_whole() {
        let mut text = vec![b'x'; 700];
        text.push(0);
        let buffer = Buffer::new().with(0x1f00, &text);
        assert_eq!(mem(&buffer).read_c_string(0x1f00, MAX_C_STRING).len(), 700);
    }

    #[test]
    fn structs_need_all_their_bytes() {
        let buffer = Buffer::new()
            .with(0x1000, 7u64.to_ne_bytes())
            .with(0x2000, [1, 2, 3]);
        let m = mem(&buffer);
        assert_eq!(m.read_struct::<u64>(0x1000), Some(7));
        assert_eq!(m.read_struct::<u64>(0x2000), None);
        assert_eq!(m.read_struct::<u64>(0x1004), None);
        assert_eq!(from_bytes::<libc::c_int>(&[1, 0]), None);
    }

    #[test]
    fn a_live_process_reads_its_own_memory() {
        // process_vm_readv on oneself needs no ptrace relation.
        let text = *b"hello\0";
        let me = Tracee(std::process::id() as i32);
        let m: &dyn Mem = &me;
        assert_eq!(m.read_c_string(text.as_ptr() as u64, MAX_C_STRING), "hello");
        assert_eq!(m.read(0, 4), None);
    }
}
