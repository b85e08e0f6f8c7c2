//! Which call is which: the families of calls the decoders tell apart (the open-like, the
//! unlink-like, …), across the architectures' spellings.

use crate::trace::interest::DUP_CALLS;
use syscalls::Sysno;

/// `pipe`, `pipe2`.
pub fn is_pipe(s: Sysno) -> bool {
    #[cfg(target_arch = "x86_64")]
    if s == Sysno::pipe {
        return true;
    }
    s == Sysno::pipe2
}

/// The `dup` calls, and `fcntl` (whose `F_DUPFD` is one; the filter stops only at that).
pub fn is_dup(s: Sysno) -> bool {
    DUP_CALLS.contains(&s) || s == Sysno::fcntl
}

/// `open`, `creat`, `openat`, `openat2`.
pub fn is_open(s: Sysno) -> bool {
    #[cfg(target_arch = "x86_64")]
    if s == Sysno::open || s == Sysno::creat {
        return true;
    }
    s == Sysno::openat || s == Sysno::openat2
}

/// `unlink`, `unlinkat`.
pub fn is_unlink(s: Sysno) -> bool {
    #[cfg(target_arch = "x86_64")]
    if s == Sysno::unlink {
        return true;
    }
    s == Sysno::unlinkat
}

/// `mknod`, `mknodat`.
pub fn is_mknod(s: Sysno) -> bool {
    #[cfg(target_arch = "x86_64")]
    if s == Sysno::mknod {
        return true;
    }
    s == Sysno::mknodat
}

/// For a call that gives a file a new name ([`Event::Name`](crate::trace::Event::Name)):
/// which argument holds the directory descriptor the name is relative to (none: the working
/// directory) and which the name.
pub fn new_name_arg(s: Sysno) -> Option<(Option<usize>, usize)> {
    #[cfg(target_arch = "x86_64")]
    match s {
        Sysno::link | Sysno::symlink | Sysno::rename => return Some((None, 1)),
        Sysno::mkdir => return Some((None, 0)),
        _ => {}
    }
    match s {
        Sysno::linkat | Sysno::renameat | Sysno::renameat2 => Some((Some(2), 3)),
        Sysno::symlinkat => Some((Some(1), 2)),
        Sysno::mkdirat => Some((Some(0), 1)),
        _ => None,
    }
}
