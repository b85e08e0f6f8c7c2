//! Decoders of signals and waits: signals sent (and to whom), dispositions set, masks
//! changed, sleeps until a signal, and children reaped.

use super::{Call, Context, layout};
use crate::trace::mem::Mem;
use crate::trace::model::{Event, ProcId};
use syscalls::Sysno;

/// The run's process a signal-sending call targets (a positive pid, as the sender sees
/// pids; a thread id for `tkill`); `None` for a group, everyone, or a process outside the
/// run.
pub fn target(sysno: Sysno, args: &[u64; 6], ctx: &dyn Context) -> Option<ProcId> {
    let pid = args[0] as i32;
    if pid <= 0 {
        return None;
    }
    ctx.process_seen_as(pid, sysno == Sysno::tkill)
}

/// A signal-sending call (`kill`, `tkill`, `tgkill`, `rt_sigqueueinfo`,
/// `rt_tgsigqueueinfo`), stamped with the clock at its entry.
pub fn sent(call: &Call, ret: i64, mem: &dyn Mem, ctx: &dyn Context) -> Event {
    let (s, args) = (call.sysno, &call.args);
    let (to_pid, signal, info) = match s {
        Sysno::kill | Sysno::tkill => (args[0], args[1], None),
        Sysno::tgkill => (args[0], args[2], None),
        Sysno::rt_sigqueueinfo => (args[0], args[1], Some(args[2])),
        _ => (args[0], args[2], Some(args[3])), // rt_tgsigqueueinfo
    };
    Event::SignalSent {
        syscall: s.name().to_string(),
        to_pid: to_pid as i32 as i64,
        to: target(s, args, ctx),
        signal: signal as i32,
        value: info.and_then(|addr| layout::siginfo_value(mem, addr)),
        ret,
        at: call.entered_at,
    }
}

/// `rt_sigaction(signal, new, …)`: the disposition set; nothing for a call that only asks
/// for the current one, or whose new one cannot be read.
pub fn action(args: &[u64; 6], ret: i64, mem: &dyn Mem, ctx: &mut dyn Context) -> Option<Event> {
    if args[1] == 0 {
        return None;
    }
    let disposition = layout::disposition(mem, args[1])?;
    Some(Event::SignalAction {
        signal: args[0] as i32,
        disposition,
        ret,
        at: ctx.tick(),
    })
}

/// `rt_sigprocmask(how, set, …)`: the signals a change names; nothing for a call that only
/// reads the mask.
pub fn mask(args: &[u64; 6], ret: i64, mem: &dyn Mem, ctx: &mut dyn Context) -> Option<Event> {
    if args[1] == 0 {
        return None;
    }
    Some(Event::SignalMask {
        how: args[0] as i32,
        signals: layout::sigset(mem, args[1]),
        ret,
        at: ctx.tick(),
    })
}

/// A call that sleeps until a signal (`rt_sigsuspend`, `rt_sigtimedwait`, `pause`), at
/// entry: the set it names (the mask it sleeps with, or the signals it waits for).
pub fn wait_for_signal(
    sysno: Sysno,
    args: &[u64; 6],
    mem: &dyn Mem,
    ctx: &mut dyn Context,
) -> Event {
    let signals = match sysno {
        Sysno::rt_sigsuspend | Sysno::rt_sigtimedwait => layout::sigset(mem, args[0]),
        _ => Vec::new(),
    };
    Event::SignalWait {
        syscall: sysno.name().to_string(),
        signals,
        at: ctx.tick(),
    }
}

/// `wait4`/`waitid`: the child reaped (from the result, or the `siginfo_t` waitid filled),
/// as the run's process.
pub fn wait_for_child(
    sysno: Sysno,
    args: &[u64; 6],
    ret: i64,
    mem: &dyn Mem,
    ctx: &mut dyn Context,
) -> Event {
    if sysno == Sysno::wait4 {
        return Event::Wait {
            syscall: "wait4".to_string(),
            pid_arg: args[0] as i32 as i64,
            reaped: (ret > 0)
                .then(|| ctx.process_seen_as(ret as i32, false))
                .flatten(),
            ret,
        };
    }
    let reaped = (ret == 0)
        .then(|| layout::siginfo_pid(mem, args[2]))
        .flatten()
        .filter(|pid| *pid > 0)
        .and_then(|pid| ctx.process_seen_as(pid, false));
    Event::Wait {
        syscall: "waitid".to_string(),
        pid_arg: args[1] as i32 as i64,
        reaped,
        ret,
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_context::{Fake, call};
    use super::super::{at_entry, at_exit};
    use crate::trace::mem::Buffer;
    use crate::trace::model::{Disposition, Event};
    use std::mem::size_of;
    use syscalls::Sysno;

    /// A `siginfo_t` with `pid` and `value` where the kernel's kill/rt/child members put
    /// them (after three ints, at the union's pointer alignment; then uid, then the value).
    fn siginfo(pid: i32, value: i32) -> Vec<u8> {
        let mut bytes = vec![0u8; size_of::<libc::siginfo_t>()];
        let fields = (3 * size_of::<libc::c_int>()).next_multiple_of(size_of::<usize>());
        bytes[fields..fields + 4].copy_from_slice(&pid.to_ne_bytes());
        let value_at = fields + size_of::<libc::pid_t>() + size_of::<libc::uid_t>();
        bytes[value_at..value_at + 4].copy_from_slice(&value.to_ne_bytes());
        bytes
    }

    #[test]
    fn signals_sent_name_their_target_value_and_entry_time() {
        let info = siginfo(0, 42);
        let mem = Buffer::new().with(0x1000, &info).with(0x2000, &info[..64]);
        let mut ctx = Fake::new();
        ctx.pids.insert(100, 0);
        ctx.threads.insert(101, 0);
        let mut queued = call(
            Sysno::rt_sigqueueinfo,
            &[100, libc::SIGRTMIN() as u64, 0x1000],
        );
        queued.entered_at = 7;
        let expected = Event::SignalSent {
            syscall: "rt_sigqueueinfo".into(),
            to_pid: 100,
            to: Some(0),
            signal: libc::SIGRTMIN(),
            value: Some(42),
            ret: 0,
            at: 7,
        };
        assert_eq!(at_exit(&queued, 0, &mem, &mut ctx), Some(expected));
        // A truncated siginfo, one at the top of memory: no value.
        for addr in [0x2000, u64::MAX - 3] {
            let queued = call(Sysno::rt_sigqueueinfo, &[100, 10, addr]);
            let event = at_exit(&queued, -14, &mem, &mut ctx);
            assert!(matches!(event, Some(Event::SignalSent { value: None, .. })));
        }
        // A thread id names its process for tkill only; a group or everyone, nobody.
        let tkill = at_exit(&call(Sysno::tkill, &[101, 10]), 0, &mem, &mut ctx);
        assert!(matches!(tkill, Some(Event::SignalSent { to: Some(0), .. })));
        let kill = at_exit(&call(Sysno::kill, &[101, 10]), 0, &mem, &mut ctx);
        assert!(matches!(kill, Some(Event::SignalSent { to: None, .. })));
        let group = at_exit(
            &call(Sysno::kill, &[(-100i64) as u64, 15]),
            0,
            &mem,
            &mut ctx,
        );
        assert!(matches!(
            group,
            Some(Event::SignalSent {
                to: None,
                to_pid: -100,
                ..
            })
        ));
        let tgkill = at_exit(&call(Sysno::tgkill, &[100, 101, 12]), 0, &mem, &mut ctx);
        assert!(matches!(
            tgkill,
            Some(Event::SignalSent {
                signal: 12,
                to: Some(0),
                ..
            })
        ));
    }

    #[test]
    fn sigaction_records_set_dispositions_only() {
        let mem = Buffer::new()
            .with(0x1000, 0x4000_1000u64.to_ne_bytes())
            .with(0x2000, [0u8; 3]);
        let mut ctx = Fake::new();
        let usr1 = libc::SIGUSR1 as u64;
        let set = at_exit(
            &call(Sysno::rt_sigaction, &[usr1, 0x1000, 0, 8]),
            0,
            &mem,
            &mut ctx,
        );
        let expected = Event::SignalAction {
            signal: libc::SIGUSR1,
            disposition: Disposition::Handler,
            ret: 0,
            at: 1,
        };
        assert_eq!(set, Some(expected));
        let query = at_exit(
            &call(Sysno::rt_sigaction, &[usr1, 0, 0x3000, 8]),
            0,
            &mem,
            &mut ctx,
        );
        assert_eq!(query, None);
        let cut = at_exit(
            &call(Sysno::rt_sigaction, &[usr1, 0x2000, 0, 8]),
            -14,
            &mem,
            &mut ctx,
        );
        assert_eq!(cut, None, "a truncated struct sigaction");
        assert_eq!(ctx.clock, 1, "only a recorded event ticks");
    }

    #[test]
    fn sigprocmask_records_changes_only() {
        let set = 1u64 << (libc::SIGUSR2 - 1);
        let mem = Buffer::new().with(0x1000, set.to_ne_bytes());
        let mut ctx = Fake::new();
        let block = libc::SIG_BLOCK as u64;
        let event = at_exit(
            &call(Sysno::rt_sigprocmask, &[block, 0x1000, 0, 8]),
            0,
            &mem,
            &mut ctx,
        );
        let expected = Event::SignalMask {
            how: libc::SIG_BLOCK,
            signals: vec![libc::SIGUSR2],
            ret: 0,
            at: 1,
        };
        assert_eq!(event, Some(expected));
        let read = at_exit(
            &call(Sysno::rt_sigprocmask, &[0, 0, 0x2000, 8]),
            0,
            &mem,
            &mut ctx,
        );
        assert_eq!(read, None);
        let nowhere = at_exit(
            &call(Sysno::rt_sigprocmask, &[block, 0x9000]),
            -14,
            &mem,
            &mut ctx,
        );
        assert!(matches!(nowhere, Some(Event::SignalMask { signals, .. }) if signals.is_empty()));
    }

    #[test]
    fn waits_for_signals_name_their_set() {
        let set = 1u64 << (libc::SIGCHLD - 1);
        let mem = Buffer::new().with(0x1000, set.to_ne_bytes());
        let mut ctx = Fake::new();
        let event = at_entry(&call(Sysno::rt_sigsuspend, &[0x1000, 8]), &mem, &mut ctx);
        let expected = Event::SignalWait {
            syscall: "rt_sigsuspend".into(),
            signals: vec![libc::SIGCHLD],
            at: 1,
        };
        assert_eq!(event, Some(expected));
        let event = at_entry(&call(Sysno::rt_sigtimedwait, &[0, 0, 0, 8]), &mem, &mut ctx);
        assert!(
            matches!(event, Some(Event::SignalWait { signals, at: 2, .. }) if signals.is_empty())
        );
    }

    #[test]
    fn reaped_children_are_mapped_from_the_result_or_the_siginfo() {
        let mem = Buffer::new()
            .with(0x1000, siginfo(200, 0))
            .with(0x2000, siginfo(999, 0))
            .with(0x3000, &siginfo(200, 0)[..20]);
        let mut ctx = Fake::new();
        ctx.pids.insert(200, 2);
        let wait4 = at_exit(&call(Sysno::wait4, &[u64::MAX]), 200, &mem, &mut ctx);
        let expected = Event::Wait {
            syscall: "wait4".into(),
            pid_arg: -1,
            reaped: Some(2),
            ret: 200,
        };
        assert_eq!(wait4, Some(expected));
        let none = at_exit(&call(Sysno::wait4, &[u64::MAX]), -10, &mem, &mut ctx);
        assert!(matches!(none, Some(Event::Wait { reaped: None, .. })));
        let waitid = |addr, ret, ctx: &mut Fake| {
            let call = call(Sysno::waitid, &[libc::P_ALL as u64, 0, addr, 4]);
            match at_exit(&call, ret, &mem, ctx) {
                Some(Event::Wait { reaped, .. }) => reaped,
                other => panic!("a waitid is a wait: {other:?}"),
            }
        };
        assert_eq!(waitid(0x1000, 0, &mut ctx), Some(2));
        assert_eq!(
            waitid(0x2000, 0, &mut ctx),
            None,
            "not a process of the run"
        );
        assert_eq!(waitid(0x3000, 0, &mut ctx), None, "a truncated siginfo");
        assert_eq!(waitid(0x1000, -10, &mut ctx), None, "failed");
        assert_eq!(waitid(0, 0, &mut ctx), None, "no siginfo");
    }
}
