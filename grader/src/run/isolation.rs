//! How a run is fenced off from the machine: fresh namespaces where the grader may create
//! them, the creator-pid inventory (and, as root, an unprivileged uid) everywhere else.
//!
//! **Namespaces** (the grader has CAP_SYS_ADMIN, e.g. root on a CI machine): each run gets a
//! new PID namespace (a `kill(-1, …)` stays inside; when the program's first process ends,
//! the kernel kills everything left in it), a new IPC namespace (leaked segments are counted
//! there and die with it), a mount namespace with private `/dev/shm` and `/tmp`, and an empty
//! network namespace. The namespace's pid 1 is a tiny init (the *shim*, see
//! [`shim_main`]) that forks the program and reaps orphans, so the program itself is an
//! ordinary process: signals, `getppid` and `wait` behave as they do outside.
//!
//! **User namespaces** (not root, but unprivileged user namespaces allowed, as on most
//! desktop distributions): the same namespaces, made by the run's first process itself
//! inside a new user namespace where it maps only the grader's own uid. Reports call this
//! `namespaces` too. Two shims stand before the program: the first makes the namespaces and
//! forks the second, which is pid 1 of the new PID namespace.
//!
//! **Fallback** (no CAP_SYS_ADMIN, e.g. GitHub's Ubuntu runners, which also restrict
//! unprivileged user namespaces): leaks are attributed by creator pid and removed, the
//! process tree is killed through pidfds. A grader running as root in fallback drops the
//! program to the unprivileged `nobody` uid, so a `kill(-1, SIGKILL)` cannot take the machine
//! down.
//!
//! `GRADER_ISOLATION=fallback` forces the fallback and `user-namespaces` the unprivileged
//! flavour (the tests run the hostile corpus every way the machine allows);
//! `GRADER_ISOLATION=namespaces` insists on namespaces and fails if they are missing.

use serde::{Deserialize, Serialize};
use std::sync::OnceLock;

/// The isolation a run had; named in every report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Isolation {
    /// Made by the grader with CAP_SYS_ADMIN.
    Namespaces,
    /// Made inside a new user namespace, without privileges.
    UserNamespaces,
    Fallback,
}

impl Isolation {
    /// The name reports use: both flavours of namespaces isolate the same way.
    pub fn name(self) -> &'static str {
        match self {
            Isolation::Namespaces | Isolation::UserNamespaces => "namespaces",
            Isolation::Fallback => "fallback",
        }
    }

    /// How many shims stand between the grader and the program (see the module doc).
    pub fn shims(self) -> usize {
        match self {
            Isolation::Namespaces => 1,
            Isolation::UserNamespaces => 2,
            Isolation::Fallback => 0,
        }
    }
}

/// The uid and gid of `nobody`, which runs student code when the grader is root without
/// namespaces.
pub const NOBODY: u32 = 65534;

/// The isolation runs get on this machine (probed once per process, honouring
/// `GRADER_ISOLATION`).
pub fn detect() -> Result<Isolation, String> {
    static DETECTED: OnceLock<Result<Isolation, String>> = OnceLock::new();
    DETECTED
        .get_or_init(|| {
            let wanted = std::env::var("GRADER_ISOLATION").unwrap_or_default();
            let best = || {
                if probe_namespaces() {
                    Some(Isolation::Namespaces)
                } else if user_namespaces_work() {
                    Some(Isolation::UserNamespaces)
                } else {
                    None
                }
            };
            match wanted.as_str() {
                "fallback" => Ok(Isolation::Fallback),
                "user-namespaces" if user_namespaces_work() => Ok(Isolation::UserNamespaces),
                "user-namespaces" => Err("GRADER_ISOLATION=user-namespaces, but this machine \
                                          does not let the grader create user namespaces"
                    .to_string()),
                "namespaces" => best().ok_or_else(|| {
                    "GRADER_ISOLATION=namespaces, but this grader can create no namespaces \
                     (it needs CAP_SYS_ADMIN or unprivileged user namespaces)"
                        .to_string()
                }),
                "" | "auto" => Ok(best().unwrap_or(Isolation::Fallback)),
                other => Err(format!(
                    "GRADER_ISOLATION={other}: expected auto, namespaces, user-namespaces or \
                     fallback"
                )),
            }
        })
        .clone()
}

/// True if the grader is root, and so must not run student code as itself without a PID
/// namespace.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Tries, in a throwaway thread and child, exactly what a namespaced run does.
fn probe_namespaces() -> bool {
    std::thread::spawn(|| {
        let Ok(_pid_namespace) = PidNamespaceForChildren::new() else {
            return false;
        };
        child_succeeds(|| enter_private_namespaces(false).is_ok())
    })
    .join()
    .unwrap_or(false)
}

/// Whether a child of this process can make the unprivileged flavour's namespaces (probed
/// once).
pub fn user_namespaces_work() -> bool {
    static WORKS: OnceLock<bool> = OnceLock::new();
    *WORKS.get_or_init(|| {
        let maps = UserMaps::for_this_user();
        child_succeeds(|| enter_user_namespaces(&maps, false, true).is_ok())
    })
}

/// Runs `attempt` in a forked child and says whether it returned true. `attempt` must be
/// async-signal-safe (raw system calls on memory made before the fork): the grader may have
/// threads.
fn child_succeeds(attempt: impl FnOnce() -> bool) -> bool {
    // SAFETY: the child only runs `attempt`, async-signal-safe by this function's contract,
    // then _exit; the parent only waits for it.
    let pid = unsafe { libc::fork() };
    match pid {
        -1 => false,
        0 => {
            let ok = attempt();
            // SAFETY: _exit is async-signal-safe and ends the child at once.
            unsafe { libc::_exit(if ok { 0 } else { 1 }) }
        }
        child => {
            let mut status = 0;
            // SAFETY: waits for our own child; `status` is a valid out pointer.
            let waited = unsafe { libc::waitpid(child, &mut status, 0) };
            waited == child && libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0
        }
    }
}

/// The uid and gid maps a new user namespace gets: root inside is the grader's own uid and
/// gid outside, and nothing else. Formatted before the fork (no allocation after it).
pub struct UserMaps {
    uid_map: Vec<u8>,
    gid_map: Vec<u8>,
}

impl UserMaps {
    pub fn for_this_user() -> UserMaps {
        // SAFETY: geteuid/getegid have no preconditions and cannot fail.
        let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
        UserMaps {
            uid_map: format!("0 {uid} 1\n").into_bytes(),
            gid_map: format!("0 {gid} 1\n").into_bytes(),
        }
    }
}

/// In the run's first process, between fork and exec, without privileges: a new user
/// namespace (mapping root to the grader's uid), then new PID (for its children), IPC,
/// mount and network namespaces and the private mounts of [`enter_private_namespaces`].
/// Only raw system calls on buffers made before the fork: async-signal-safe.
///
/// `own_network`: false keeps the machine's network namespace, for a run whose grader-side
/// client must reach it over TCP: without privileges the grader cannot enter a network
/// namespace owned by another user namespace (setns needs CAP_SYS_ADMIN in its own).
pub fn enter_user_namespaces(
    maps: &UserMaps,
    keep_tmp: bool,
    own_network: bool,
) -> std::io::Result<()> {
    let mut flags =
        libc::CLONE_NEWUSER | libc::CLONE_NEWPID | libc::CLONE_NEWIPC | libc::CLONE_NEWNS;
    if own_network {
        flags |= libc::CLONE_NEWNET;
    }
    // SAFETY: unshare takes flags only.
    if unsafe { libc::unshare(flags) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    write_proc_self(c"/proc/self/setgroups", b"deny")?;
    write_proc_self(c"/proc/self/uid_map", &maps.uid_map)?;
    write_proc_self(c"/proc/self/gid_map", &maps.gid_map)?;
    if own_network {
        loopback_up()?;
    }
    private_mounts(keep_tmp)
}

/// open + write + close of a /proc file; async-signal-safe.
fn write_proc_self(path: &std::ffi::CStr, bytes: &[u8]) -> std::io::Result<()> {
    // SAFETY: a NUL-terminated path and a buffer we own; the descriptor is closed below.
    unsafe {
        let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let written = libc::write(fd, bytes.as_ptr().cast(), bytes.len());
        libc::close(fd);
        if written != bytes.len() as isize {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// While alive, the calling thread's next child is the first process (pid 1) of a new PID
/// namespace. Dropping it puts the thread's own namespace back: until then the thread can
/// start no threads (the kernel refuses threads across PID namespaces).
pub struct PidNamespaceForChildren {
    own: std::fs::File,
}

impl PidNamespaceForChildren {
    pub fn new() -> Result<Self, String> {
        let own = std::fs::File::open("/proc/thread-self/ns/pid")
            .map_err(|e| format!("cannot open /proc/thread-self/ns/pid: {e}"))?;
        // SAFETY: unshare takes flags only; CLONE_NEWPID changes only where this thread's
        // future children live, not the thread itself.
        if unsafe { libc::unshare(libc::CLONE_NEWPID) } != 0 {
            return Err(format!(
                "cannot create a PID namespace: {}",
                std::io::Error::last_os_error()
            ));
        }
        Ok(PidNamespaceForChildren { own })
    }
}

impl Drop for PidNamespaceForChildren {
    fn drop(&mut self) {
        use std::os::fd::AsRawFd;
        // SAFETY: setns takes a descriptor we hold open; going back to the thread's own
        // (active) PID namespace is always allowed.
        unsafe {
            libc::setns(self.own.as_raw_fd(), libc::CLONE_NEWPID);
        }
    }
}

/// In the run's first process, between fork and exec: new IPC, mount and network
/// namespaces, a private tmpfs on /dev/shm (and on /tmp unless `keep_tmp`). Only raw system
/// calls, with static strings: async-signal-safe.
pub fn enter_private_namespaces(keep_tmp: bool) -> std::io::Result<()> {
    // SAFETY: unshare takes flags only.
    if unsafe { libc::unshare(libc::CLONE_NEWIPC | libc::CLONE_NEWNS | libc::CLONE_NEWNET) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    loopback_up()?;
    private_mounts(keep_tmp)
}

/// Brings up `lo` in a new network namespace (it starts down), so a server under test can
/// listen on 127.0.0.1 and the grader reach it. socket + ioctl + close: async-signal-safe.
fn loopback_up() -> std::io::Result<()> {
    // struct ifreq: the interface name (16 bytes), then a union whose first short is the
    // flags; 40 bytes on 64-bit Linux.
    let mut request = [0u8; 40];
    request[..2].copy_from_slice(b"lo");
    let flags = (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
    request[16..18].copy_from_slice(&flags.to_ne_bytes());
    // SAFETY: socket takes integers; ioctl(SIOCSIFFLAGS) reads a 40-byte ifreq we own; the
    // descriptor is closed before returning.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let result = libc::ioctl(fd, libc::SIOCSIFFLAGS, request.as_mut_ptr());
        let error = std::io::Error::last_os_error();
        libc::close(fd);
        if result != 0 {
            return Err(error);
        }
    }
    Ok(())
}

/// In a new mount namespace: nothing propagates back, and /dev/shm (and /tmp unless
/// `keep_tmp`) are fresh tmpfs. Async-signal-safe.
fn private_mounts(keep_tmp: bool) -> std::io::Result<()> {
    let fail = || Err(std::io::Error::last_os_error());
    // SAFETY: every call below takes flags and NUL-terminated static strings; none touches
    // memory of ours beyond those.
    unsafe {
        // Mounts made below must not propagate back to the machine's namespace.
        if libc::mount(
            std::ptr::null(),
            c"/".as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        ) != 0
        {
            return fail();
        }
        let tmpfs = c"tmpfs".as_ptr();
        let flags = libc::MS_NOSUID | libc::MS_NODEV;
        if libc::mount(
            tmpfs,
            c"/dev/shm".as_ptr(),
            tmpfs,
            flags,
            c"size=256m,mode=1777".as_ptr().cast(),
        ) != 0
        {
            return fail();
        }
        if !keep_tmp
            && libc::mount(
                tmpfs,
                c"/tmp".as_ptr(),
                tmpfs,
                flags,
                c"size=256m,mode=1777".as_ptr().cast(),
            ) != 0
        {
            return fail();
        }
    }
    Ok(())
}

/// The namespace's pid 1, between fork and exec of the run's first process: stop so the
/// tracer can set its options, fork the program (the child returns `Ok` and goes on to
/// exec), then reap everything until the program's process exits, and exit with it. Its
/// exit makes the kernel kill whatever the run left in the namespace.
///
/// Async-signal-safe: close_range, raise, fork, waitpid, _exit.
pub fn shim_main(levels: usize) -> std::io::Result<()> {
    // SAFETY: raw system calls with integer arguments and a local out pointer; the child
    // returns to the caller (which execs), a shim never returns.
    unsafe {
        // Drop every descriptor but stdio: above all the pipe through which the spawning
        // thread waits for exec, which the shim never does.
        libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32);
        // A traced stop: the tracer sets its options (follow forks) before we fork.
        libc::raise(libc::SIGSTOP);
        for _ in 0..levels {
            let next = libc::fork();
            if next == -1 {
                return Err(std::io::Error::last_os_error());
            }
            if next == 0 {
                continue; // The next shim, or after the last level the program.
            }
            // A shim holds no pipe ends: without stdio, it can never keep a reader waiting.
            for fd in 0..3 {
                libc::close(fd);
            }
            loop {
                let mut status = 0;
                let reaped = libc::waitpid(-1, &mut status, 0);
                if reaped == next || (reaped == -1 && *libc::__errno_location() != libc::EINTR) {
                    libc::_exit(0);
                }
            }
        }
    }
    Ok(())
}

/// Drops the calling process (a child between fork and exec) to `nobody`. Raw system calls:
/// glibc's wrappers would try to signal other threads, which a forked child does not have.
pub fn drop_to_nobody() -> std::io::Result<()> {
    // SAFETY: raw setgroups/setgid/setuid with integer arguments and a null list.
    unsafe {
        if libc::syscall(libc::SYS_setgroups, 0usize, std::ptr::null::<libc::gid_t>()) != 0
            || libc::syscall(libc::SYS_setgid, NOBODY) != 0
            || libc::syscall(libc::SYS_setuid, NOBODY) != 0
        {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// True if a user other than the owner (`nobody`) can reach and execute `program`: every
/// directory above it searchable by others, the file executable (and, for scripts,
/// readable) by others.
pub fn others_can_execute(program: &std::path::Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let Ok(program) = program.canonicalize() else {
        return false;
    };
    let mode = |p: &std::path::Path| std::fs::metadata(p).map(|m| m.permissions().mode());
    let dirs_ok = program
        .ancestors()
        .skip(1)
        .all(|dir| mode(dir).is_ok_and(|m| m & 0o001 != 0));
    dirs_ok && mode(&program).is_ok_and(|m| m & 0o005 == 0o005)
}
