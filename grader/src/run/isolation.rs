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
use std::path::Path;
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
        let Ok(mounts) = PrivateMounts::plan(None, None) else {
            return false;
        };
        let Ok(_pid_namespace) = PidNamespaceForChildren::new() else {
            return false;
        };
        child_succeeds(|| enter_private_namespaces(&mounts).is_ok())
    })
    .join()
    .unwrap_or(false)
}

/// Whether a child of this process can make the unprivileged flavour's namespaces (probed
/// once).
pub fn user_namespaces_work() -> bool {
    static WORKS: OnceLock<bool> = OnceLock::new();
    *WORKS.get_or_init(|| {
        let maps = UserMaps::for_user(None);
        let Ok(mounts) = PrivateMounts::plan(None, None) else {
            return false;
        };
        child_succeeds(|| enter_user_namespaces(&maps, &mounts, true).is_ok())
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
    /// Maps root inside to `user` (whom the process becomes before it makes the
    /// namespace), or without one to the grader's own uid and gid.
    pub fn for_user(user: Option<RunUser>) -> UserMaps {
        // SAFETY: geteuid/getegid have no preconditions and cannot fail.
        let (uid, gid) = user.map_or_else(
            || unsafe { (libc::geteuid(), libc::getegid()) },
            |user| (user.uid, user.uid),
        );
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
    mounts: &PrivateMounts,
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
    mounts.apply()
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
/// namespaces and the private mounts of `mounts`. Only raw system calls on memory made
/// before the fork: async-signal-safe.
pub fn enter_private_namespaces(mounts: &PrivateMounts) -> std::io::Result<()> {
    // SAFETY: unshare takes flags only.
    if unsafe { libc::unshare(libc::CLONE_NEWIPC | libc::CLONE_NEWNS | libc::CLONE_NEWNET) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    loopback_up()?;
    mounts.apply()
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

/// The directories a namespaced run gets as fresh tmpfs of its own, with their size caps:
/// together the most a run can write to disk (beyond its scratch directory, whose files
/// RLIMIT_FSIZE bounds one by one).
pub const PRIVATE_TMPFS: [(&str, &std::ffi::CStr); 3] = [
    ("/tmp", c"size=128m,mode=1777"),
    ("/var/tmp", c"size=128m,mode=1777"),
    ("/dev/shm", c"size=256m,mode=1777"),
];

/// What a namespaced run's mount namespace looks like, prepared before the fork (the child
/// may only make raw system calls on memory that already exists): the whole tree private,
/// a fresh tmpfs on each of [`PRIVATE_TMPFS`] that exists here, and bound back into them
/// at the same paths the program's own directory (read-only) and its scratch directory,
/// when they live under one of them.
pub struct PrivateMounts {
    tmpfs: Vec<(std::ffi::CString, &'static std::ffi::CStr)>,
    binds: Vec<Bind>,
}

/// A host directory that stays visible at its own path inside a private tmpfs.
struct Bind {
    /// The directory, opened by the child in its new mount namespace before the tmpfs
    /// covers it and bound back through `/proc/self/fd/N` (the kernel binds only mounts of
    /// the caller's own namespace, so the grader cannot open it beforehand).
    source: std::ffi::CString,
    /// The directories to make inside the tmpfs, outermost first; the last is the target.
    make: Vec<std::ffi::CString>,
    read_only: bool,
}

impl PrivateMounts {
    /// The entries of the private tmpfs that the binds made (the outermost directory of
    /// each): the grader's, not the run's, whoever owns them.
    pub fn made_entries(&self) -> Vec<std::path::PathBuf> {
        use std::os::unix::ffi::OsStrExt;
        self.binds
            .iter()
            .filter_map(|bind| bind.make.first())
            .map(|dir| std::ffi::OsStr::from_bytes(dir.as_bytes()).into())
            .collect()
    }

    /// No mounts (a run without namespaces).
    pub fn none() -> Self {
        PrivateMounts {
            tmpfs: Vec::new(),
            binds: Vec::new(),
        }
    }

    /// Plans the mounts for a run of the program in `program_dir`, with `scratch` (both
    /// canonical paths; `None`: nothing to keep).
    pub fn plan(program_dir: Option<&Path>, scratch: Option<&Path>) -> Result<Self, String> {
        use std::ffi::CString;
        use std::os::unix::ffi::OsStrExt;
        let c = |text: &[u8]| CString::new(text).map_err(|_| "a path with a NUL byte".to_string());
        let mut tmpfs = Vec::new();
        for (dir, options) in PRIVATE_TMPFS {
            if Path::new(dir).is_dir() {
                tmpfs.push((c(dir.as_bytes())?, options));
            }
        }
        // Two at most: `apply` keeps their descriptors in a fixed array.
        let mut binds = Vec::new();
        for (dir, read_only) in [(program_dir, true), (scratch, false)] {
            let Some(dir) = dir else { continue };
            let Some(root) = PRIVATE_TMPFS
                .iter()
                .map(|(root, _)| Path::new(root))
                .find(|root| dir.starts_with(root) && dir != *root)
            else {
                continue;
            };
            let source = c(dir.as_os_str().as_bytes())?;
            let mut make = Vec::new();
            let mut at = root.to_path_buf();
            for part in dir.strip_prefix(root).expect("under root").components() {
                at.push(part);
                make.push(c(at.as_os_str().as_bytes())?);
            }
            binds.push(Bind {
                source,
                make,
                read_only,
            });
        }
        Ok(PrivateMounts { tmpfs, binds })
    }

    /// In a new mount namespace: nothing propagates back, every directory of the plan is a
    /// fresh tmpfs, and the kept directories are bound back. Async-signal-safe.
    fn apply(&self) -> std::io::Result<()> {
        let fail = || Err(std::io::Error::last_os_error());
        // SAFETY: every call below takes flags and NUL-terminated strings made before the
        // fork (or static); none touches other memory of ours.
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
            // At most two binds (the program's directory, the scratch directory).
            let mut sources = [-1; 2];
            for (fd, bind) in sources.iter_mut().zip(&self.binds) {
                *fd = libc::open(
                    bind.source.as_ptr(),
                    libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
                );
                if *fd < 0 {
                    return fail();
                }
            }
            let tmpfs = c"tmpfs".as_ptr();
            for (dir, options) in &self.tmpfs {
                let flags = libc::MS_NOSUID | libc::MS_NODEV;
                if libc::mount(tmpfs, dir.as_ptr(), tmpfs, flags, options.as_ptr().cast()) != 0 {
                    return fail();
                }
            }
            for (&fd, bind) in sources.iter().zip(&self.binds) {
                for dir in &bind.make {
                    if libc::mkdir(dir.as_ptr(), 0o755) != 0
                        && *libc::__errno_location() != libc::EEXIST
                    {
                        return fail();
                    }
                }
                let target = bind.make.last().expect("at least the target").as_ptr();
                let flags = libc::MS_BIND | libc::MS_REC;
                let source = ProcFdPath::of(fd);
                if libc::mount(
                    source.as_ptr(),
                    target,
                    std::ptr::null(),
                    flags,
                    std::ptr::null(),
                ) != 0
                {
                    return fail();
                }
                libc::close(fd);
                if bind.read_only {
                    // Best effort: in a user namespace the kernel may refuse to change a
                    // locked mount's flags; the directory is still not the run's to write.
                    let flags = libc::MS_BIND
                        | libc::MS_REMOUNT
                        | libc::MS_RDONLY
                        | libc::MS_NOSUID
                        | libc::MS_NODEV;
                    libc::mount(
                        std::ptr::null(),
                        target,
                        std::ptr::null(),
                        flags,
                        std::ptr::null(),
                    );
                }
            }
        }
        Ok(())
    }
}

/// `/proc/self/fd/N` as a C string, made without allocating (between fork and exec).
struct ProcFdPath {
    bytes: [u8; 32],
}

impl ProcFdPath {
    fn of(fd: i32) -> ProcFdPath {
        let mut bytes = [0u8; 32];
        let prefix = b"/proc/self/fd/";
        bytes[..prefix.len()].copy_from_slice(prefix);
        let mut digits = [0u8; 10];
        let mut n = fd.max(0) as u32;
        let mut count = 0;
        loop {
            digits[count] = b'0' + (n % 10) as u8;
            count += 1;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        for (i, digit) in digits[..count].iter().rev().enumerate() {
            bytes[prefix.len() + i] = *digit;
        }
        ProcFdPath { bytes }
    }

    fn as_ptr(&self) -> *const libc::c_char {
        self.bytes.as_ptr().cast()
    }
}

/// Mounts a `/proc` of the calling process's PID namespace over the machine's, so the run
/// sees only its own processes (never the grader's `/proc/PID/exe`, `ns/`, or `fd/`). Called
/// by the namespace's pid 1; async-signal-safe.
fn mount_own_proc() -> std::io::Result<()> {
    let flags = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
    // SAFETY: static NUL-terminated strings and flags.
    if unsafe {
        libc::mount(
            c"proc".as_ptr(),
            c"/proc".as_ptr(),
            c"proc".as_ptr(),
            flags,
            std::ptr::null(),
        )
    } != 0
    {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// The namespace's pid 1, between fork and exec of the run's first process: stop so the
/// tracer can set its options, fork the program (the child returns `Ok` and goes on to
/// exec), then reap everything until the program's process exits, and exit with it. Its
/// exit makes the kernel kill whatever the run left in the namespace.
///
/// Async-signal-safe: close_range, raise, mount, fork, waitpid, _exit.
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
            if libc::syscall(libc::SYS_getpid) == 1 {
                // The namespace's init: the run's /proc is made here, where it shows the
                // run's PID namespace.
                mount_own_proc()?;
            }
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
        // The program: a session of its own, so it has no controlling terminal either.
        libc::setsid();
    }
    Ok(())
}

/// The unprivileged uid (and gid, the same number) a run's processes get when the grader
/// is root: one of their own per run, never root and never any real user's. A uid of its own
/// makes the run's processes unable to signal or trace anyone else's (the grader's, another
/// run's), makes RLIMIT_NPROC count the run alone, and lets what the run left (files, System
/// V objects) be found by owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunUser {
    pub uid: u32,
}

/// Where run uids start: above the ranges distributions and container engines hand out
/// (systemd gives containers 524288–1879048191), below 2^31 (tools that read uids as signed
/// numbers).
pub const RUN_UID_BASE: u32 = 1_900_000_000;

impl RunUser {
    /// A uid no other run alive on this machine has: the grader's pid picks a block of
    /// 1000, a counter the uid within it (1000 concurrent runs per grader).
    pub fn next() -> RunUser {
        static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let run = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % 1000;
        let block = std::process::id() % 200_000;
        RunUser {
            uid: RUN_UID_BASE + block * 1000 + run,
        }
    }
}

/// Makes the calling process (a child between fork and exec) the run's own user: no
/// supplementary groups, the run's uid and gid as real, effective and saved ids, which also
/// empties its permitted and effective capabilities. Raw system calls only: glibc's setuid
/// would try to signal other threads, which a forked child does not have.
pub fn become_run_user(user: RunUser) -> std::io::Result<()> {
    // SAFETY: setgroups/setresgid/setresuid with integer arguments and a null list.
    unsafe {
        if libc::syscall(libc::SYS_setgroups, 0usize, std::ptr::null::<libc::gid_t>()) != 0
            || libc::syscall(libc::SYS_setresgid, user.uid, user.uid, user.uid) != 0
            || libc::syscall(libc::SYS_setresuid, user.uid, user.uid, user.uid) != 0
            // A change of uid makes the process undumpable, its /proc files root's: it
            // could not write its own uid_map, nor its tracer read its descriptors.
            || libc::prctl(libc::PR_SET_DUMPABLE, 1, 0, 0, 0) != 0
        {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// In the program's process, just before exec: gives up every privilege for good. No new
/// privileges (setuid binaries and file capabilities do nothing), the bounding and ambient
/// sets emptied (while CAP_SETPCAP allows it), then with `user` the run's own uid (see
/// [`become_run_user`]), and the permitted, effective and inheritable sets cleared (they
/// are full for the root of a user namespace). Raw system calls only: async-signal-safe.
pub fn give_up_privileges(user: Option<RunUser>) -> std::io::Result<()> {
    let fail = || Err(std::io::Error::last_os_error());
    // SAFETY: prctl and capset with integer arguments and local arrays that outlive the
    // calls.
    unsafe {
        if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
            return fail();
        }
        // Every capability number the kernel may know (EINVAL past the last one).
        for cap in 0..64 {
            libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0);
        }
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL,
            0,
            0,
            0,
        );
    }
    if let Some(user) = user {
        become_run_user(user)?;
    }
    // SAFETY: as above.
    unsafe {
        // struct __user_cap_header_struct { version 3, pid 0 (self) } and two
        // __user_cap_data_struct { effective, permitted, inheritable }, all zero.
        let mut header = [0x2008_0522u32, 0];
        let data = [0u32; 6];
        if libc::syscall(libc::SYS_capset, header.as_mut_ptr(), data.as_ptr()) != 0 {
            return fail();
        }
    }
    Ok(())
}

/// Marks every descriptor above stderr close-on-exec, so the program inherits none of the
/// grader's (a CI runner's log, another run's pipe). Marked, not closed: the spawning
/// thread still waits on its own close-on-exec pipe for the exec. Async-signal-safe.
pub fn close_inherited_descriptors() {
    const CLOSE_RANGE_CLOEXEC: u32 = 1 << 2;
    // SAFETY: close_range and fcntl take integers only.
    unsafe {
        if libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, CLOSE_RANGE_CLOEXEC) == 0 {
            return;
        }
        // Kernels before 5.11: one by one, as far as descriptors may go.
        for fd in 3..65_536 {
            libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
        }
    }
}

/// True if a user other than the owner can reach and execute `program`: every directory
/// above it searchable by others, the file executable (and, for scripts, readable) by
/// others.
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
