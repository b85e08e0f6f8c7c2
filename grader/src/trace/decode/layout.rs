//! What the C structures a decoded call points at hold: iovecs, `msghdr`, `siginfo_t`,
//! signal sets, `sockaddr_un`, `open_how`, the kernel's `struct sigaction`, descriptor pairs.
//!
//! Layouts come from `libc`'s types (read whole through `read_struct`, fields by name
//! or `offset_of!`), never from byte offsets written here. Every count the program gives is
//! bounded before it sizes a read, and every sum of its lengths saturates.

use crate::trace::mem::{self, MAX_C_STRING, Mem};
use crate::trace::model::Disposition;
use std::mem::{offset_of, size_of};
use syscalls::Sysno;

/// At most this many iovecs of one call are read (the kernel allows 1024; the checks need
/// the size and the first bytes, and a hostile count must not size a read).
pub const MAX_IOVECS: usize = 64;

/// How many bytes of a write are kept as its sample.
pub const SAMPLE: usize = 80;

/// The `(base, length)` of up to `count` (at most [`MAX_IOVECS`]) iovecs at `addr`: as many
/// whole ones as can be read.
pub fn iovecs(mem: &dyn Mem, addr: u64, count: u64) -> Vec<(u64, u64)> {
    let count = count.min(MAX_IOVECS as u64) as usize;
    let size = size_of::<libc::iovec>();
    mem.read(addr, count * size)
        .unwrap_or_default()
        .chunks_exact(size)
        .filter_map(mem::from_bytes::<libc::iovec>)
        .map(|iov| (iov.iov_base as u64, iov.iov_len as u64))
        .collect()
}

/// The total length of iovecs, saturating (the kernel refuses a total above `SSIZE_MAX`,
/// but the call is decoded before it can).
fn total_len(iovecs: &[(u64, u64)]) -> u64 {
    iovecs
        .iter()
        .fold(0, |sum, (_, len)| sum.saturating_add(*len))
}

/// How many bytes a send-like call asks to send: `sendto`'s length, or the sum of the
/// iovecs `sendmsg`'s `struct msghdr` names (0 when it cannot be read).
pub fn send_size(mem: &dyn Mem, sysno: Sysno, args: &[u64; 6]) -> u64 {
    match sysno {
        Sysno::sendto => args[2],
        Sysno::sendmsg => mem
            .read_struct::<libc::msghdr>(args[1])
            .map(|header| {
                total_len(&iovecs(
                    mem,
                    header.msg_iov as u64,
                    header.msg_iovlen as u64,
                ))
            })
            .unwrap_or(0),
        _ => 0,
    }
}

/// How many bytes a write-like call asks to write, and the start of them (up to
/// [`SAMPLE`] bytes) as text; the sample is empty for calls that copy between descriptors.
pub fn write_size_and_sample(mem: &dyn Mem, sysno: Sysno, args: &[u64; 6]) -> (u64, String) {
    let (bytes, buffer) = match sysno {
        Sysno::write | Sysno::pwrite64 => (args[2], Some(args[1])),
        Sysno::writev | Sysno::pwritev | Sysno::pwritev2 | Sysno::vmsplice => {
            let iovecs = iovecs(mem, args[1], args[2]);
            let first = iovecs
                .iter()
                .find(|(_, len)| *len > 0)
                .map(|(base, _)| *base);
            (total_len(&iovecs), first)
        }
        Sysno::sendfile => (args[3], None),
        Sysno::splice | Sysno::copy_file_range => (args[4], None),
        Sysno::tee => (args[2], None),
        _ => (0, None),
    };
    let sample = buffer
        .and_then(|addr| mem.read(addr, bytes.min(SAMPLE as u64) as usize))
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    (bytes, sample)
}

/// The signals in the kernel's signal set at `addr` (64 bits, signal n is bit n − 1; not
/// glibc's 1024-bit `sigset_t`); none when it cannot be read.
pub fn sigset(mem: &dyn Mem, addr: u64) -> Vec<i32> {
    let Some(bits) = mem.read_struct::<u64>(addr) else {
        return Vec::new();
    };
    (1..=64).filter(|n| bits & (1 << (n - 1)) != 0).collect()
}

/// The sender (`kill`, `sigqueue`) or child (`waitid`) pid in the `siginfo_t` at `addr`.
pub fn siginfo_pid(mem: &dyn Mem, addr: u64) -> Option<i32> {
    let info = mem.read_struct::<libc::siginfo_t>(addr)?;
    // SAFETY: reads the pid of the kill/rt/child members, which share its place; whichever
    // the kernel or the caller filled, any bit pattern is a valid int.
    Some(unsafe { info.si_pid() })
}

/// The integer of the value a queued signal carries (`sigqueue`'s `sival_int`), from the
/// `siginfo_t` at `addr`.
pub fn siginfo_value(mem: &dyn Mem, addr: u64) -> Option<i32> {
    let info = mem.read_struct::<libc::siginfo_t>(addr)?;
    // SAFETY: reads the int of the rt member's `si_value`, which the caller of
    // rt_sigqueueinfo filled; any bit pattern is a valid int.
    Some(unsafe { info.si_int() })
}

/// The disposition the kernel's `struct sigaction` at `addr` sets: it starts with the
/// handler (`SIG_DFL`, `SIG_IGN` or a function's address). Only the handler is read: the
/// kernel's struct is not glibc's `libc::sigaction`, whose mask comes before the flags.
pub fn disposition(mem: &dyn Mem, addr: u64) -> Option<Disposition> {
    match mem.read_struct::<u64>(addr)? as libc::sighandler_t {
        libc::SIG_DFL => Some(Disposition::Default),
        libc::SIG_IGN => Some(Disposition::Ignore),
        _ => Some(Disposition::Handler),
    }
}

/// The two descriptors `pipe` or `socketpair` wrote at `addr`.
pub fn fd_pair(mem: &dyn Mem, addr: u64) -> Option<[i32; 2]> {
    mem.read_struct::<[libc::c_int; 2]>(addr)
}

/// The flags of an `open` call: an argument, `struct open_how`'s `flags` for `openat2`, or
/// `creat`'s implied ones.
pub fn open_flags(mem: &dyn Mem, sysno: Sysno, args: &[u64; 6]) -> i32 {
    match sysno {
        Sysno::openat => args[2] as i32,
        Sysno::openat2 => mem
            .read_struct::<libc::open_how>(args[2])
            .map_or(0, |how| how.flags as i32),
        #[cfg(target_arch = "x86_64")]
        Sysno::creat => libc::O_CREAT | libc::O_WRONLY | libc::O_TRUNC,
        _ => args[1] as i32,
    }
}

/// The path named by the socket address (`addrlen` bytes at `addr`) of a `bind` or
/// `connect`: see [`unix_socket_path`].
pub fn socket_path(mem: &dyn Mem, addr: u64, addrlen: u64) -> String {
    let len = addrlen.min(size_of::<libc::sockaddr_storage>() as u64) as usize;
    unix_socket_path(&mem.read(addr, len).unwrap_or_default())
}

/// The path of a Unix-domain socket address (`struct sockaddr_un`): the socket file, or
/// `@name` for an abstract address (which starts with a NUL byte); empty for an unnamed
/// address or another family.
pub fn unix_socket_path(address: &[u8]) -> String {
    let family_at = offset_of!(libc::sockaddr_un, sun_family);
    let Some(family) = address
        .get(family_at..family_at + size_of::<libc::sa_family_t>())
        .and_then(|b| b.try_into().ok())
        .map(libc::sa_family_t::from_ne_bytes)
    else {
        return String::new();
    };
    let path = address
        .get(offset_of!(libc::sockaddr_un, sun_path)..)
        .unwrap_or_default();
    if family != libc::AF_UNIX as libc::sa_family_t || path.is_empty() {
        return String::new();
    }
    if let Some(abstract_name) = path.strip_prefix(b"\0") {
        let shown: String = String::from_utf8_lossy(abstract_name).replace('\0', "@");
        return format!("@{shown}");
    }
    let end = path.iter().position(|&b| b == 0).unwrap_or(path.len());
    String::from_utf8_lossy(&path[..end]).into_owned()
}

/// The C string (a path, a queue's name) at `addr`, cut at [`MAX_C_STRING`].
pub fn c_string(mem: &dyn Mem, addr: u64) -> String {
    mem.read_c_string(addr, MAX_C_STRING)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::mem::{Buffer, bytes_of};

    fn zeroed<T: crate::trace::mem::Plain>() -> T {
        // SAFETY: `Plain` types are valid for every bit pattern, all zeros included.
        unsafe { std::mem::zeroed() }
    }

    fn iovec(base: u64, len: u64) -> libc::iovec {
        libc::iovec {
            iov_base: base as *mut libc::c_void,
            iov_len: len as usize,
        }
    }

    fn iovec_bytes(list: &[libc::iovec]) -> Vec<u8> {
        list.iter().flat_map(bytes_of).collect()
    }

    fn msghdr(iov: u64, count: usize) -> libc::msghdr {
        let mut header: libc::msghdr = zeroed();
        header.msg_iov = iov as *mut libc::iovec;
        header.msg_iovlen = count as _;
        header
    }

    fn args(values: &[u64]) -> [u64; 6] {
        let mut args = [0; 6];
        args[..values.len()].copy_from_slice(values);
        args
    }

    #[test]
    fn writev_sums_its_iovecs_and_samples_the_first_nonempty_one() {
        let mem = Buffer::new()
            .with(
                0x1000,
                iovec_bytes(&[iovec(0x2000, 0), iovec(0x3000, 5), iovec(0, 7)]),
            )
            .with(0x3000, b"hello world");
        let (bytes, sample) = write_size_and_sample(&mem, Sysno::writev, &args(&[1, 0x1000, 3]));
        // The sample is read from the first non-empty iovec's base, up to the total.
        assert_eq!((bytes, sample.as_str()), (12, "hello world"));
    }

    #[test]
    fn a_write_samples_at_most_its_length_and_the_sample_bound() {
        let text = vec![b'y'; 500];
        let mem = Buffer::new().with(0x1000, &text);
        let (bytes, sample) = write_size_and_sample(&mem, Sysno::write, &args(&[1, 0x1000, 3]));
        assert_eq!((bytes, sample.as_str()), (3, "yyy"));
        let (bytes, sample) =
            write_size_and_sample(&mem, Sysno::write, &args(&[1, 0x1000, 1 << 40]));
        assert_eq!((bytes, sample.len()), (1 << 40, SAMPLE));
        // A buffer pointing nowhere: the size the call asked for, no sample.
        let (bytes, sample) = write_size_and_sample(&mem, Sysno::write, &args(&[1, 0x9000, 4]));
        assert_eq!((bytes, sample.as_str()), (4, ""));
        let (bytes, sample) =
            write_size_and_sample(&mem, Sysno::splice, &args(&[3, 0, 1, 0, 4096]));
        assert_eq!((bytes, sample.as_str()), (4096, ""));
    }

    #[test]
    fn hostile_iovec_counts_and_lengths_are_bounded() {
        let many: Vec<libc::iovec> = (0..100).map(|_| iovec(0x5000, 1)).collect();
        let mem = Buffer::new()
            .with(0x1000, iovec_bytes(&many))
            .with(
                0x2000,
                iovec_bytes(&[iovec(0, u64::MAX), iovec(0, u64::MAX)]),
            )
            .with(
                0x3000,
                &iovec_bytes(&[iovec(0x5000, 1), iovec(0x5000, 1)])[..24],
            );
        // A count of 2^31: only the first MAX_IOVECS are read.
        let (bytes, _) = write_size_and_sample(&mem, Sysno::writev, &args(&[1, 0x1000, 1 << 31]));
        assert_eq!(bytes, MAX_IOVECS as u64);
        // Lengths whose sum overflows: saturated, not a panic.
        let (bytes, _) = write_size_and_sample(&mem, Sysno::writev, &args(&[1, 0x2000, 2]));
        assert_eq!(bytes, u64::MAX);
        // A truncated array: only the whole iovecs count.
        assert_eq!(iovecs(&mem, 0x3000, 2), vec![(0x5000, 1)]);
        assert_eq!(iovecs(&mem, 0x9000, 2), vec![]);
    }

    #[test]
    fn sendmsg_reads_its_msghdr_and_iovecs() {
        let mem = Buffer::new()
            .with_struct(0x1000, &msghdr(0x2000, 2))
            .with(0x2000, iovec_bytes(&[iovec(0x3000, 10), iovec(0x3000, 6)]))
            .with_struct(0x4000, &msghdr(0x9000, 2))
            .with_struct(0x5000, &msghdr(0x2000, 1 << 31))
            .with(0x6000, &bytes_of(&msghdr(0x2000, 2))[..20]);
        assert_eq!(send_size(&mem, Sysno::sendmsg, &args(&[3, 0x1000])), 16);
        assert_eq!(
            send_size(&mem, Sysno::sendmsg, &args(&[3, 0x4000])),
            0,
            "iovecs nowhere"
        );
        assert_eq!(
            send_size(&mem, Sysno::sendmsg, &args(&[3, 0x5000])),
            16,
            "a count of 2^31 reads what is there"
        );
        assert_eq!(
            send_size(&mem, Sysno::sendmsg, &args(&[3, 0x6000])),
            0,
            "truncated"
        );
        assert_eq!(
            send_size(&mem, Sysno::sendmsg, &args(&[3, 0x9000])),
            0,
            "nowhere"
        );
        assert_eq!(send_size(&mem, Sysno::sendmsg, &args(&[3, 0])), 0, "null");
        assert_eq!(send_size(&mem, Sysno::sendto, &args(&[3, 0, 42])), 42);
    }

    #[test]
    fn signal_sets_are_the_kernels_64_bits() {
        let bits: u64 = (1 << (libc::SIGUSR1 - 1)) | (1 << (libc::SIGRTMIN() - 1)) | (1 << 63);
        let mem = Buffer::new()
            .with(0x1000, bits.to_ne_bytes())
            .with(0x2000, [0xff; 4]);
        assert_eq!(
            sigset(&mem, 0x1000),
            vec![libc::SIGUSR1, libc::SIGRTMIN(), 64]
        );
        assert_eq!(sigset(&mem, 0x2000), Vec::<i32>::new(), "truncated");
        assert_eq!(sigset(&mem, 0x9000), Vec::<i32>::new(), "nowhere");
    }

    #[test]
    fn siginfo_gives_the_pid_and_the_queued_value() {
        // What sigqueue(pid, sig, value 42) passes, as glibc fills it.
        let mut bytes = vec![0u8; size_of::<libc::siginfo_t>()];
        let fields = offset_of!(libc::siginfo_t, si_code) + size_of::<libc::c_int>();
        let fields = fields.next_multiple_of(std::mem::align_of::<libc::siginfo_t>());
        bytes[fields..fields + 4].copy_from_slice(&1234i32.to_ne_bytes());
        let value_at = fields + size_of::<libc::pid_t>() + size_of::<libc::uid_t>();
        bytes[value_at..value_at + 4].copy_from_slice(&42i32.to_ne_bytes());
        let mem = Buffer::new()
            .with(0x1000, &bytes)
            .with(0x2000, &bytes[..100])
            .with(u64::MAX - 7, [0u8; 8]);
        assert_eq!(siginfo_pid(&mem, 0x1000), Some(1234));
        assert_eq!(siginfo_value(&mem, 0x1000), Some(42));
        assert_eq!(siginfo_pid(&mem, 0x2000), None, "truncated");
        assert_eq!(
            siginfo_value(&mem, u64::MAX - 7),
            None,
            "at the top of memory"
        );
    }

    #[test]
    fn sigaction_handlers_read_as_dispositions() {
        let mem = Buffer::new()
            .with(0x1000, (libc::SIG_DFL as u64).to_ne_bytes())
            .with(0x2000, (libc::SIG_IGN as u64).to_ne_bytes())
            .with(0x3000, 0x5555_1234u64.to_ne_bytes())
            .with(0x4000, [1, 0, 0]);
        assert_eq!(disposition(&mem, 0x1000), Some(Disposition::Default));
        assert_eq!(disposition(&mem, 0x2000), Some(Disposition::Ignore));
        assert_eq!(disposition(&mem, 0x3000), Some(Disposition::Handler));
        assert_eq!(disposition(&mem, 0x4000), None, "truncated");
        assert_eq!(disposition(&mem, 0), None, "null");
    }

    #[test]
    fn descriptor_pairs_need_both() {
        let pair = [bytes_of(&3i32), bytes_of(&4i32)].concat();
        let mem = Buffer::new().with(0x1000, &pair).with(0x2000, &pair[..6]);
        assert_eq!(fd_pair(&mem, 0x1000), Some([3, 4]));
        assert_eq!(fd_pair(&mem, 0x2000), None);
        assert_eq!(fd_pair(&mem, 0x3000), None);
    }

    #[test]
    fn open_flags_come_from_the_argument_or_open_how() {
        let mut how: libc::open_how = zeroed();
        how.flags = (libc::O_CREAT | libc::O_RDWR) as u64;
        let mem = Buffer::new()
            .with_struct(0x1000, &how)
            .with(0x2000, &bytes_of(&how)[..8]);
        let openat2 = |at| open_flags(&mem, Sysno::openat2, &args(&[0, 0, at, 24]));
        assert_eq!(openat2(0x1000), libc::O_CREAT | libc::O_RDWR);
        assert_eq!(openat2(0x2000), 0, "a truncated open_how");
        assert_eq!(openat2(0), 0);
        let openat = open_flags(&mem, Sysno::openat, &args(&[0, 0, libc::O_EXCL as u64]));
        assert_eq!(openat, libc::O_EXCL);
    }

    #[test]
    fn unix_addresses_read_as_paths() {
        let family = (libc::AF_UNIX as u16).to_ne_bytes();
        let named = [&family[..], b"/tmp/s.sock\0\0\0"].concat();
        assert_eq!(unix_socket_path(&named), "/tmp/s.sock");
        let abstract_name = [&family[..], b"\0grader\0x"].concat();
        assert_eq!(unix_socket_path(&abstract_name), "@grader@x");
        assert_eq!(unix_socket_path(&family), "", "unnamed");
        assert_eq!(unix_socket_path(&family[..1]), "", "truncated family");
        let inet = (libc::AF_INET as u16).to_ne_bytes();
        assert_eq!(unix_socket_path(&[&inet[..], b"\x1f\x90"].concat()), "");
    }

    #[test]
    fn socket_addresses_are_read_within_their_length_and_sockaddr_storage() {
        let family = (libc::AF_UNIX as u16).to_ne_bytes();
        let no_nul = [&family[..], &[b'a'; 300][..]].concat();
        let mem = Buffer::new()
            .with(0x1000, [&family[..], b"/tmp/sock\0"].concat())
            .with(0x2000, &no_nul);
        assert_eq!(socket_path(&mem, 0x1000, 6), "/tmp", "cut at its length");
        assert_eq!(socket_path(&mem, 0x1000, 110), "/tmp/sock");
        let cut = size_of::<libc::sockaddr_storage>() - family.len();
        assert_eq!(
            socket_path(&mem, 0x2000, 1 << 31).len(),
            cut,
            "no NUL, huge length"
        );
        assert_eq!(socket_path(&mem, 0x9000, 16), "", "nowhere");
    }

    #[test]
    fn paths_are_cut_at_path_max() {
        let mem = Buffer::new().with(0x1000, vec![b'p'; 3 * MAX_C_STRING]);
        assert_eq!(c_string(&mem, 0x1000).len(), MAX_C_STRING);
    }
}
