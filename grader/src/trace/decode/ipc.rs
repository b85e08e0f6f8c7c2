//! Decoders of the other channels: sockets (made, bound, connected, accepted, sent on),
//! POSIX message queues, System V segments and ids, shared mappings.

use super::{Context, layout};
use crate::trace::fds::absolute_path;
use crate::trace::mem::Mem;
use crate::trace::model::Event;
use syscalls::Sysno;

/// A call that made a descriptor `ret` (if it succeeded): noted with what /proc says.
fn note_new(ctx: &mut dyn Context, ret: i64) {
    if ret >= 0 {
        let target = ctx.new_fd_target(ret as i32).unwrap_or_default();
        ctx.note_fd(ret as i32, target);
    }
}

/// `socket(domain, …)`.
pub fn socket(args: &[u64; 6], ret: i64, ctx: &mut dyn Context) -> Event {
    note_new(ctx, ret);
    Event::Socket {
        domain: args[0] as i32,
        ret,
    }
}

/// `socketpair(domain, …, fds)`: both descriptors, or `[-1, -1]` if it failed or they
/// cannot be read.
pub fn socket_pair(args: &[u64; 6], ret: i64, mem: &dyn Mem, ctx: &mut dyn Context) -> Event {
    let fds = if ret == 0 {
        layout::fd_pair(mem, args[3]).unwrap_or([-1, -1])
    } else {
        [-1, -1]
    };
    let targets = fds.map(|fd| {
        let target = ctx.new_fd_target(fd).unwrap_or_default();
        if fd >= 0 {
            ctx.note_fd(fd, target.clone());
        }
        target
    });
    Event::SocketPair {
        domain: args[0] as i32,
        fds,
        targets,
        ret,
    }
}

/// `bind`/`connect(fd, address, len)`: a Unix-domain address's path, made absolute (an
/// abstract `@name` stays as it is).
pub fn bind_or_connect(
    sysno: Sysno,
    args: &[u64; 6],
    ret: i64,
    mem: &dyn Mem,
    ctx: &mut dyn Context,
) -> Event {
    let fd = args[0] as i32;
    let path = layout::socket_path(mem, args[1], args[2]);
    let path = if path.starts_with('@') || path.is_empty() {
        path
    } else {
        absolute_path(ctx, libc::AT_FDCWD, path)
    };
    if sysno == Sysno::bind {
        Event::Bind {
            fd,
            target: ctx.fd_target(fd),
            path,
            ret,
        }
    } else {
        Event::Connect { fd, path, ret }
    }
}

/// `accept`/`accept4(fd, …)`: the new connection's descriptor.
pub fn accept(args: &[u64; 6], ret: i64, ctx: &mut dyn Context) -> Event {
    note_new(ctx, ret);
    Event::Accept {
        fd: args[0] as i32,
        ret,
    }
}

/// `sendto`/`sendmsg`, at entry: how many bytes they ask to send.
pub fn send(sysno: Sysno, args: &[u64; 6], mem: &dyn Mem) -> Event {
    Event::Send {
        syscall: sysno.name().to_string(),
        fd: args[0] as i32,
        bytes: layout::send_size(mem, sysno, args),
    }
}

/// A message sent to (`mq_timedsend`) or received from (`mq_timedreceive`) a queue, at
/// entry.
pub fn queue_message(sysno: Sysno, args: &[u64; 6]) -> Event {
    if sysno == Sysno::mq_timedsend {
        Event::MqSend {
            mqd: args[0] as i32,
            bytes: args[2],
            priority: args[3] as u32,
        }
    } else {
        Event::MqReceive {
            mqd: args[0] as i32,
            capacity: args[2],
        }
    }
}

/// `mq_open(name, flags, …)`.
pub fn queue_open(args: &[u64; 6], ret: i64, mem: &dyn Mem, ctx: &mut dyn Context) -> Event {
    note_new(ctx, ret);
    Event::MqOpen {
        name: queue_name(layout::c_string(mem, args[0])),
        flags: args[1] as i32,
        ret,
    }
}

/// `mq_unlink(name)`.
pub fn queue_unlink(args: &[u64; 6], ret: i64, mem: &dyn Mem) -> Event {
    Event::MqUnlink {
        name: queue_name(layout::c_string(mem, args[0])),
        ret,
    }
}

/// A message queue's name with its leading `/`: the C library strips it before the system
/// call, but programs, `mq_unlink` and `/dev/mqueue` listings show it.
pub fn queue_name(name: String) -> String {
    if name.starts_with('/') {
        name
    } else {
        format!("/{name}")
    }
}

/// System V segments and ids, `memfd_create`, shared mappings and `ftruncate`: arguments
/// and result only.
pub fn memory(sysno: Sysno, args: &[u64; 6], ret: i64) -> Option<Event> {
    Some(match sysno {
        Sysno::shmget => Event::ShmGet {
            key: args[0] as i32 as i64,
            size: args[1],
            flags: args[2] as i32,
            ret,
        },
        Sysno::shmat => Event::ShmAt {
            shmid: args[0] as i32 as i64,
            ret,
        },
        Sysno::shmdt => Event::ShmDt { addr: args[0], ret },
        Sysno::shmctl => Event::ShmCtl {
            shmid: args[0] as i32 as i64,
            cmd: args[1] as i32,
            ret,
        },
        Sysno::msgget | Sysno::semget | Sysno::memfd_create => Event::OtherIpc {
            syscall: sysno.name().to_string(),
            ret,
        },
        Sysno::mmap => Event::MmapShared {
            len: args[1],
            fd: args[4] as i32,
            ret,
        },
        Sysno::munmap => Event::Munmap {
            addr: args[0],
            len: args[1],
            ret,
        },
        Sysno::ftruncate => Event::Ftruncate {
            fd: args[0] as i32,
            len: args[1],
            ret,
        },
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::super::test_context::{Fake, call};
    use super::super::{at_entry, at_exit};
    use super::*;
    use crate::trace::mem::{Buffer, bytes_of};

    fn unix_address(path: &[u8]) -> Vec<u8> {
        [&(libc::AF_UNIX as u16).to_ne_bytes()[..], path].concat()
    }

    #[test]
    fn bind_and_connect_resolve_named_addresses_only() {
        let named = unix_address(b"srv.sock\0");
        let abstract_name = unix_address(b"\0lab14");
        let mem = Buffer::new()
            .with(0x1000, &named)
            .with(0x2000, &abstract_name)
            .with(0x3000, [0u8; 1]);
        let mut ctx = Fake::new();
        ctx.fds.insert(3, "socket:[9]".into());
        let bind = at_exit(
            &call(Sysno::bind, &[3, 0x1000, named.len() as u64]),
            0,
            &mem,
            &mut ctx,
        );
        let expected = Event::Bind {
            fd: 3,
            target: "socket:[9]".into(),
            path: "/tmp/run/srv.sock".into(),
            ret: 0,
        };
        assert_eq!(bind, Some(expected));
        let len = abstract_name.len() as u64;
        let connect = at_exit(
            &call(Sysno::connect, &[3, 0x2000, len]),
            -111,
            &mem,
            &mut ctx,
        );
        let expected = Event::Connect {
            fd: 3,
            path: "@lab14".into(),
            ret: -111,
        };
        assert_eq!(connect, Some(expected));
        // A truncated address, one pointing nowhere, and a huge length: no path.
        for (addr, len) in [(0x3000, 1), (0x9000, 16), (0x3000, 1 << 40)] {
            let connect = at_exit(&call(Sysno::connect, &[3, addr, len]), -22, &mem, &mut ctx);
            assert!(matches!(connect, Some(Event::Connect { path, .. }) if path.is_empty()));
        }
    }

    #[test]
    fn new_sockets_are_noted() {
        let mut ctx = Fake::new();
        ctx.fresh.insert(4, "socket:[5]".into());
        let mem = Buffer::new();
        let socket = at_exit(
            &call(Sysno::socket, &[libc::AF_UNIX as u64]),
            4,
            &mem,
            &mut ctx,
        );
        let expected = Event::Socket {
            domain: libc::AF_UNIX,
            ret: 4,
        };
        assert_eq!(socket, Some(expected));
        assert_eq!(ctx.fds[&4], "socket:[5]");
        let accepted = at_exit(&call(Sysno::accept4, &[4]), -11, &mem, &mut ctx);
        assert_eq!(accepted, Some(Event::Accept { fd: 4, ret: -11 }));
    }

    #[test]
    fn socket_pairs_read_both_descriptors_or_none() {
        let pair = [bytes_of(&5i32), bytes_of(&6i32)].concat();
        let mem = Buffer::new().with(0x1000, &pair).with(0x2000, &pair[..4]);
        let mut ctx = Fake::new();
        ctx.fresh.insert(5, "socket:[1]".into());
        ctx.fresh.insert(6, "socket:[2]".into());
        let domain = libc::AF_UNIX as u64;
        let event = at_exit(
            &call(Sysno::socketpair, &[domain, 1, 0, 0x1000]),
            0,
            &mem,
            &mut ctx,
        );
        let Some(Event::SocketPair { fds, targets, .. }) = event else {
            panic!("a socketpair is a socketpair");
        };
        assert_eq!((fds, targets[1].as_str()), ([5, 6], "socket:[2]"));
        let event = at_exit(
            &call(Sysno::socketpair, &[domain, 1, 0, 0x2000]),
            0,
            &mem,
            &mut ctx,
        );
        assert!(matches!(
            event,
            Some(Event::SocketPair { fds: [-1, -1], .. })
        ));
    }

    #[test]
    fn sendmsg_and_queue_messages_are_decoded_at_entry() {
        let mut ctx = Fake::new();
        let mem = Buffer::new();
        let send = at_entry(&call(Sysno::sendmsg, &[3, 0x9000]), &mem, &mut ctx);
        let expected = Event::Send {
            syscall: "sendmsg".into(),
            fd: 3,
            bytes: 0,
        };
        assert_eq!(send, Some(expected), "a msghdr pointing nowhere");
        let sent = at_entry(&call(Sysno::mq_timedsend, &[3, 0, 16, 2]), &mem, &mut ctx);
        let expected = Event::MqSend {
            mqd: 3,
            bytes: 16,
            priority: 2,
        };
        assert_eq!(sent, Some(expected));
        let received = at_entry(&call(Sysno::mq_timedreceive, &[3, 0, 64]), &mem, &mut ctx);
        let expected = Event::MqReceive {
            mqd: 3,
            capacity: 64,
        };
        assert_eq!(received, Some(expected));
    }

    #[test]
    fn queue_names_get_their_slash() {
        let mem = Buffer::new()
            .with(0x1000, b"lab12-7\0")
            .with(0x2000, b"/q\0");
        let mut ctx = Fake::new();
        let opened = at_exit(&call(Sysno::mq_open, &[0x1000, 0o100]), 3, &mem, &mut ctx);
        let expected = Event::MqOpen {
            name: "/lab12-7".into(),
            flags: 0o100,
            ret: 3,
        };
        assert_eq!(opened, Some(expected));
        let unlinked = at_exit(&call(Sysno::mq_unlink, &[0x2000]), 0, &mem, &mut ctx);
        let expected = Event::MqUnlink {
            name: "/q".into(),
            ret: 0,
        };
        assert_eq!(unlinked, Some(expected));
        let nowhere = at_exit(&call(Sysno::mq_unlink, &[0]), -14, &mem, &mut ctx);
        let expected = Event::MqUnlink {
            name: "/".into(),
            ret: -14,
        };
        assert_eq!(nowhere, Some(expected));
    }

    #[test]
    fn segments_keep_their_signed_ids() {
        let mut ctx = Fake::new();
        let mem = Buffer::new();
        let private = libc::IPC_PRIVATE as u32 as u64;
        let got = at_exit(
            &call(Sysno::shmget, &[private, 4096, 0o1600]),
            7,
            &mem,
            &mut ctx,
        );
        let expected = Event::ShmGet {
            key: 0,
            size: 4096,
            flags: 0o1600,
            ret: 7,
        };
        assert_eq!(got, Some(expected));
        let ctl = at_exit(
            &call(Sysno::shmctl, &[u32::MAX as u64, 0]),
            -22,
            &mem,
            &mut ctx,
        );
        let expected = Event::ShmCtl {
            shmid: -1,
            cmd: 0,
            ret: -22,
        };
        assert_eq!(ctl, Some(expected));
        let map = at_exit(
            &call(Sysno::mmap, &[0, 64, 3, 1, u64::MAX]),
            0x7000,
            &mem,
            &mut ctx,
        );
        let expected = Event::MmapShared {
            len: 64,
            fd: -1,
            ret: 0x7000,
        };
        assert_eq!(map, Some(expected));
    }

    #[test]
    fn the_other_memory_calls_keep_their_arguments_and_result() {
        let mut ctx = Fake::new();
        let mem = Buffer::new();
        let mut exit =
            |sysno, first: &[u64], ret| at_exit(&call(sysno, first), ret, &mem, &mut ctx);
        let attached = exit(Sysno::shmat, &[7], 0x7f00);
        let expected = Event::ShmAt {
            shmid: 7,
            ret: 0x7f00,
        };
        assert_eq!(attached, Some(expected));
        let detached = exit(Sysno::shmdt, &[0x7f00], 0);
        let expected = Event::ShmDt {
            addr: 0x7f00,
            ret: 0,
        };
        assert_eq!(detached, Some(expected));
        let queue = exit(Sysno::msgget, &[0, 0o1600], 3);
        let expected = Event::OtherIpc {
            syscall: "msgget".into(),
            ret: 3,
        };
        assert_eq!(queue, Some(expected));
        let unmapped = exit(Sysno::munmap, &[0x7000, 64], 0);
        let expected = Event::Munmap {
            addr: 0x7000,
            len: 64,
            ret: 0,
        };
        assert_eq!(unmapped, Some(expected));
        let truncated = exit(Sysno::ftruncate, &[4, 1 << 40], -27);
        let expected = Event::Ftruncate {
            fd: 4,
            len: 1 << 40,
            ret: -27,
        };
        assert_eq!(truncated, Some(expected));
        assert_eq!(exit(Sysno::getpid, &[], 1), None, "a call no decoder knows");
        assert_eq!(memory(Sysno::getpid, &[0; 6], 1), None);
    }
}
