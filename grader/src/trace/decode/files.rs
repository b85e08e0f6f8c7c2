//! Decoders of descriptors, writes and the calls that name files: pipes, dups, close,
//! write-like calls, open, unlink, mknod and the calls that give a file a new name.

use super::kinds::new_name_arg;
use super::{Context, layout};
use crate::trace::fds::absolute_path;
use crate::trace::interest::write_fd_arg;
use crate::trace::mem::Mem;
use crate::trace::model::Event;
use syscalls::Sysno;

/// `pipe`/`pipe2` wrote two descriptors, both ends of one pipe.
pub fn pipe(args: &[u64; 6], ret: i64, mem: &dyn Mem, ctx: &mut dyn Context) -> Option<Event> {
    if ret != 0 {
        return None;
    }
    let [read_fd, write_fd] = layout::fd_pair(mem, args[0])?;
    let inode = ctx.new_fd_target(read_fd).unwrap_or_default();
    ctx.note_fd(read_fd, inode.clone());
    ctx.note_fd(write_fd, inode.clone());
    Some(Event::Pipe {
        read_fd,
        write_fd,
        inode,
    })
}

/// A `dup` (or `fcntl(F_DUPFD)`) made descriptor `ret` refer to what `args[0]` does.
pub fn dup(args: &[u64; 6], ret: i64, ctx: &mut dyn Context) -> Option<Event> {
    if ret < 0 {
        return None;
    }
    let old = args[0] as i32;
    let new = ret as i32;
    let target = ctx.fd_target(old);
    ctx.note_fd(new, target.clone());
    Some(Event::Dup { old, new, target })
}

/// `close(fd)`, at entry, while the descriptor still names its file.
pub fn close(args: &[u64; 6], ctx: &mut dyn Context) -> Event {
    let fd = args[0] as i32;
    Event::Close {
        fd,
        target: ctx.close_fd(fd),
    }
}

/// A write-like call, at entry: where it goes, how many bytes, and the first of them.
pub fn write(sysno: Sysno, args: &[u64; 6], mem: &dyn Mem, ctx: &mut dyn Context) -> Option<Event> {
    let fd = args[write_fd_arg(sysno)?] as i32;
    let target = ctx.fd_target(fd);
    let (bytes, sample) = layout::write_size_and_sample(mem, sysno, args);
    Some(Event::Write {
        syscall: sysno.name().to_string(),
        fd,
        stream: ctx.stream(target),
        bytes,
        sample,
        in_handler: ctx.in_handler(),
    })
}

/// The directory descriptor and the path argument of a call that takes a path, `*at` or
/// not.
fn at_path(args: &[u64; 6], is_at: bool) -> (i32, u64) {
    if is_at {
        (args[0] as i32, args[1])
    } else {
        (libc::AT_FDCWD, args[0])
    }
}

/// The absolute form of the path at `addr`, relative to `dirfd`.
fn path_at(mem: &dyn Mem, ctx: &mut dyn Context, dirfd: i32, addr: u64) -> String {
    let path = layout::c_string(mem, addr);
    absolute_path(ctx, dirfd, path)
}

/// An open-like call; a new descriptor is noted with what /proc says it is.
pub fn open(s: Sysno, args: &[u64; 6], ret: i64, mem: &dyn Mem, ctx: &mut dyn Context) -> Event {
    let (dirfd, path_arg) = at_path(args, s == Sysno::openat || s == Sysno::openat2);
    let path = path_at(mem, ctx, dirfd, path_arg);
    let flags = layout::open_flags(mem, s, args);
    if ret >= 0 {
        let target = ctx.new_fd_target(ret as i32).unwrap_or(path.clone());
        ctx.note_fd(ret as i32, target);
    }
    Event::Open { path, flags, ret }
}

/// `unlink`/`unlinkat`.
pub fn unlink(s: Sysno, args: &[u64; 6], ret: i64, mem: &dyn Mem, ctx: &mut dyn Context) -> Event {
    let (dirfd, path_arg) = at_path(args, s == Sysno::unlinkat);
    Event::Unlink {
        path: path_at(mem, ctx, dirfd, path_arg),
        ret,
    }
}

/// `mknod`/`mknodat` (`mkfifo`).
pub fn mknod(s: Sysno, args: &[u64; 6], ret: i64, mem: &dyn Mem, ctx: &mut dyn Context) -> Event {
    let is_at = s == Sysno::mknodat;
    let (dirfd, path_arg) = at_path(args, is_at);
    let mode = if is_at { args[2] } else { args[1] };
    Event::Mknod {
        path: path_at(mem, ctx, dirfd, path_arg),
        mode: mode as u32,
        ret,
    }
}

/// A call that gives a file a new name (`link`, `symlink`, `rename`, `mkdir`, their `*at`s).
pub fn new_name(
    s: Sysno,
    args: &[u64; 6],
    ret: i64,
    mem: &dyn Mem,
    ctx: &mut dyn Context,
) -> Event {
    let (dirfd_arg, path_arg) = new_name_arg(s).expect("called for new-name calls only");
    let dirfd = dirfd_arg.map_or(libc::AT_FDCWD, |arg| args[arg] as i32);
    Event::Name {
        syscall: s.name().to_string(),
        path: path_at(mem, ctx, dirfd, args[path_arg]),
        ret,
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_context::{Fake, call};
    use super::super::{at_entry, at_exit};
    use crate::trace::mem::Buffer;
    use crate::trace::model::{Event, Stream};
    use syscalls::Sysno;

    #[test]
    fn a_pipe_notes_both_ends_as_its_inode() {
        let mem = Buffer::new().with(0x1000, [3i32.to_ne_bytes(), 4i32.to_ne_bytes()].concat());
        let mut ctx = Fake::new();
        ctx.fresh.insert(3, "pipe:[77]".into());
        let event = at_exit(&call(Sysno::pipe2, &[0x1000]), 0, &mem, &mut ctx);
        assert_eq!(
            event,
            Some(Event::Pipe {
                read_fd: 3,
                write_fd: 4,
                inode: "pipe:[77]".into()
            })
        );
        assert_eq!(ctx.fds[&4], "pipe:[77]");
        // Failed, or the pair unreadable: nothing.
        assert_eq!(
            at_exit(&call(Sysno::pipe2, &[0x1000]), -24, &mem, &mut ctx),
            None
        );
        assert_eq!(
            at_exit(&call(Sysno::pipe2, &[0x9000]), 0, &mem, &mut ctx),
            None
        );
        assert_eq!(
            at_exit(&call(Sysno::pipe2, &[0x1004]), 0, &mem, &mut ctx),
            None
        );
    }

    #[test]
    fn a_dup_copies_the_target() {
        let mut ctx = Fake::new();
        ctx.fds.insert(1, "pipe:[1]".into());
        let event = at_exit(&call(Sysno::dup, &[1]), 5, &Buffer::new(), &mut ctx);
        assert_eq!(
            event,
            Some(Event::Dup {
                old: 1,
                new: 5,
                target: "pipe:[1]".into()
            })
        );
        assert_eq!(ctx.fds[&5], "pipe:[1]");
        assert_eq!(
            at_exit(&call(Sysno::dup, &[9]), -9, &Buffer::new(), &mut ctx),
            None
        );
    }

    #[test]
    fn writes_name_their_stream_size_sample_and_handler() {
        let mem = Buffer::new().with(0x1000, b"12\n");
        let mut ctx = Fake::new();
        ctx.fds.insert(4, "pipe:[1]".into());
        ctx.handler = Some(libc::SIGUSR1);
        let event = at_entry(&call(Sysno::write, &[4, 0x1000, 3]), &mem, &mut ctx);
        assert_eq!(
            event,
            Some(Event::Write {
                syscall: "write".into(),
                fd: 4,
                stream: Stream::Stdout,
                bytes: 3,
                sample: "12\n".into(),
                in_handler: Some(libc::SIGUSR1),
            })
        );
        // A write to an unknown descriptor from a buffer pointing nowhere.
        let Some(Event::Write { stream, sample, .. }) = at_entry(
            &call(Sysno::write, &[9, 0xdead_0000, 1 << 20]),
            &mem,
            &mut ctx,
        ) else {
            panic!("a write is a write");
        };
        assert_eq!(
            (stream, sample.as_str()),
            (Stream::Other(String::new()), "")
        );
        assert_eq!(at_entry(&call(Sysno::read, &[0]), &mem, &mut ctx), None);
    }

    #[test]
    fn close_gives_what_the_descriptor_was() {
        let mut ctx = Fake::new();
        ctx.fds.insert(3, "/tmp/f".into());
        let event = at_entry(&call(Sysno::close, &[3]), &Buffer::new(), &mut ctx);
        let expected = Event::Close {
            fd: 3,
            target: "/tmp/f".into(),
        };
        assert_eq!(event, Some(expected));
        assert!(!ctx.fds.contains_key(&3));
        let unknown = at_entry(&call(Sysno::close, &[u64::MAX]), &Buffer::new(), &mut ctx);
        let expected = Event::Close {
            fd: -1,
            target: String::new(),
        };
        assert_eq!(unknown, Some(expected));
    }

    #[test]
    fn opens_resolve_relative_paths_and_note_the_descriptor() {
        let mem = Buffer::new()
            .with(0x1000, b"fifo\0")
            .with(0x2000, b"../x/./y\0")
            .with(0x3000, vec![b'a'; 5000]);
        let mut ctx = Fake::new();
        ctx.fds.insert(7, "/var/tmp/d".into());
        let flags = libc::O_WRONLY as u64;
        let at_cwd = libc::AT_FDCWD as u32 as u64;
        let event = at_exit(
            &call(Sysno::openat, &[at_cwd, 0x1000, flags]),
            3,
            &mem,
            &mut ctx,
        );
        assert_eq!(
            event,
            Some(Event::Open {
                path: "/tmp/run/fifo".into(),
                flags: libc::O_WRONLY,
                ret: 3
            })
        );
        assert_eq!(
            ctx.fds[&3], "/tmp/run/fifo",
            "what /proc could not tell: the path"
        );
        let Some(Event::Open { path, .. }) =
            at_exit(&call(Sysno::openat, &[7, 0x2000, 0]), -2, &mem, &mut ctx)
        else {
            panic!("an open is an open");
        };
        assert_eq!(path, "/var/tmp/x/y");
        assert!(!ctx.fds.contains_key(&-2));
        // A path with no NUL: cut at PATH_MAX, still relative to the cwd.
        let Some(Event::Open { path, .. }) = at_exit(
            &call(Sysno::openat, &[at_cwd, 0x3000, 0]),
            -36,
            &mem,
            &mut ctx,
        ) else {
            panic!("an open is an open");
        };
        assert_eq!(
            path.len(),
            "/tmp/run/".len() + crate::trace::mem::MAX_C_STRING
        );
        // A path pointing nowhere.
        let Some(Event::Open { path, .. }) = at_exit(
            &call(Sysno::openat, &[at_cwd, 0x9000, 0]),
            -14,
            &mem,
            &mut ctx,
        ) else {
            panic!("an open is an open");
        };
        assert_eq!(path, "");
    }

    #[test]
    fn unlink_mknod_and_new_names_are_absolute() {
        let mem = Buffer::new()
            .with(0x1000, b"fifo\0")
            .with(0x2000, b"/abs\0");
        let mut ctx = Fake::new();
        ctx.fds.insert(5, "/srv".into());
        let event = at_exit(&call(Sysno::unlinkat, &[5, 0x1000, 0]), 0, &mem, &mut ctx);
        let expected = Event::Unlink {
            path: "/srv/fifo".into(),
            ret: 0,
        };
        assert_eq!(event, Some(expected));
        let mode = (libc::S_IFIFO | 0o600) as u64;
        let event = at_exit(
            &call(Sysno::mknodat, &[5, 0x2000, mode]),
            -17,
            &mem,
            &mut ctx,
        );
        let expected = Event::Mknod {
            path: "/abs".into(),
            mode: mode as u32,
            ret: -17,
        };
        assert_eq!(event, Some(expected));
        let event = at_exit(
            &call(Sysno::renameat2, &[0, 0, 5, 0x1000]),
            0,
            &mem,
            &mut ctx,
        );
        let expected = Event::Name {
            syscall: "renameat2".into(),
            path: "/srv/fifo".into(),
            ret: 0,
        };
        assert_eq!(event, Some(expected));
        let event = at_exit(&call(Sysno::mkdirat, &[5, 0x1000]), 0, &mem, &mut ctx);
        assert!(matches!(event, Some(Event::Name { path, .. }) if path == "/srv/fifo"));
    }
}
