//! `grader leaks` on real objects: a segment, a semaphore set, a message queue, a /dev/shm
//! file (and a POSIX queue where /dev/mqueue is mounted) created by a child that then
//! exits are listed with their process gone and removed by `--remove`; a segment whose
//! creator (this test) lives is kept. Plus the table's shape on made-up listings (insta).
//!
//! Other tests create segments at the same time: these tests only ever name their own
//! objects (`--only`) when removing, and a guard removes whatever they created, even when
//! an assertion fails.

use assert_cmd::Command;
use grader::leaks::{self, Action, Entry, Kind, Listing, Liveness, Object, PidRole, Unit};
use grader::run::inventory::{SysvKind, SysvTable};
use serde_json::Value;
use std::ffi::CString;
use std::io::Read;
use std::os::fd::FromRawFd;

fn grader() -> Command {
    let mut cmd = Command::cargo_bin("grader").expect("the grader binary is built");
    cmd.timeout(std::time::Duration::from_secs(60));
    cmd
}

/// Everything a test created, removed on drop whatever happened.
#[derive(Default)]
struct Guard {
    sysv: Vec<(SysvKind, i32)>,
    files: Vec<String>,
    queues: Vec<CString>,
}

impl Guard {
    /// Stops tracking an object the test saw removed (its id could be handed out again).
    fn forget(&mut self, kind: SysvKind, id: i32) {
        self.sysv.retain(|o| *o != (kind, id));
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        for &(kind, id) in &self.sysv {
            // SAFETY: IPC_RMID takes no buffer; a stale id only makes the call fail.
            unsafe {
                match kind {
                    SysvKind::Shm => libc::shmctl(id, libc::IPC_RMID, std::ptr::null_mut()),
                    SysvKind::Sem => libc::semctl(id, 0, libc::IPC_RMID),
                    SysvKind::Msg => libc::msgctl(id, libc::IPC_RMID, std::ptr::null_mut()),
                };
            }
        }
        for path in &self.files {
            let _ = std::fs::remove_file(path);
        }
        for name in &self.queues {
            // SAFETY: mq_unlink reads a NUL-terminated name we own.
            unsafe { libc::mq_unlink(name.as_ptr()) };
        }
    }
}

/// What the child created.
struct Created {
    pid: i32,
    shm: i32,
    sem: i32,
    msg: i32,
    queue: bool,
}

#[repr(C)]
struct Message {
    mtype: libc::c_long,
    mtext: [u8; 8],
}

/// Forks a child that creates a segment, a semaphore set (and sets a value, so its pid is
/// on record), a message queue (and sends to it), the file `shm_path` and, if asked, the
/// POSIX queue `queue`, reports the ids through a pipe and exits. Everything is prepared
/// before the fork: the child only makes system calls.
fn create_in_child(shm_path: &CString, queue: Option<&CString>, guard: &mut Guard) -> Created {
    let message = Message {
        mtype: 1,
        mtext: *b"leftover",
    };
    let mut fds = [0; 2];
    // SAFETY: pipe writes two descriptors into the array we pass.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: the child makes only async-signal-safe system calls on data prepared before
    // the fork, then _exits; the parent goes on as usual.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        // SAFETY: the whole child: raw system calls on memory owned by this frame.
        unsafe {
            let shm = libc::shmget(libc::IPC_PRIVATE, 4096, libc::IPC_CREAT | 0o600);
            let sem = libc::semget(libc::IPC_PRIVATE, 2, libc::IPC_CREAT | 0o600);
            if sem >= 0 {
                libc::semctl(sem, 0, libc::SETVAL, 1);
            }
            let msg = libc::msgget(libc::IPC_PRIVATE, libc::IPC_CREAT | 0o600);
            if msg >= 0 {
                let ptr = (&raw const message).cast();
                libc::msgsnd(msg, ptr, message.mtext.len(), libc::IPC_NOWAIT);
            }
            let fd = libc::open(
                shm_path.as_ptr(),
                libc::O_CREAT | libc::O_EXCL | libc::O_RDWR,
                0o600,
            );
            if fd >= 0 {
                libc::ftruncate(fd, 100);
                libc::close(fd);
            }
            let mut queued = 0;
            if let Some(queue) = queue {
                let null: *mut libc::mq_attr = std::ptr::null_mut();
                let mq = libc::mq_open(queue.as_ptr(), libc::O_CREAT | libc::O_RDWR, 0o600, null);
                if mq >= 0 {
                    queued = 1;
                    libc::mq_close(mq);
                }
            }
            let ids = [shm, sem, msg, queued];
            libc::write(fds[1], ids.as_ptr().cast(), size_of_val(&ids));
            libc::_exit(0);
        }
    }
    // SAFETY: the write end is ours and closed once.
    unsafe { libc::close(fds[1]) };
    // SAFETY: the read end is ours; the File owns it from now on.
    let mut reader = unsafe { std::fs::File::from_raw_fd(fds[0]) };
    let mut bytes = [0u8; 16];
    let read = reader.read_exact(&mut bytes);
    let mut status = 0;
    // SAFETY: waits for our own child; status is a local.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    let id = |i: usize| i32::from_ne_bytes(bytes[i * 4..i * 4 + 4].try_into().unwrap());
    // Track everything before asserting anything.
    guard.files.push(shm_path.to_str().unwrap().to_string());
    if let Some(queue) = queue {
        guard.queues.push(queue.clone());
    }
    read.expect("the child reports its ids");
    let created = Created {
        pid,
        shm: id(0),
        sem: id(1),
        msg: id(2),
        queue: id(3) == 1,
    };
    for (kind, id) in [
        (SysvKind::Shm, created.shm),
        (SysvKind::Sem, created.sem),
        (SysvKind::Msg, created.msg),
    ] {
        if id >= 0 {
            guard.sysv.push((kind, id));
        }
    }
    assert!(created.shm >= 0 && created.sem >= 0 && created.msg >= 0);
    assert!(std::path::Path::new(shm_path.to_str().unwrap()).exists());
    created
}

fn run_json(args: &[&str]) -> Value {
    let output = grader().arg("leaks").args(args).output().unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("JSON on stdout")
}

fn find<'a>(listing: &'a Value, kind: &str, id: Option<i32>, path: Option<&str>) -> &'a Value {
    listing["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| {
            o["kind"] == kind
                && id.is_none_or(|id| o["id"] == id)
                && path.is_none_or(|p| o["path"] == p)
        })
        .unwrap_or_else(|| panic!("no {kind} {id:?} {path:?} in {listing:#}"))
}

fn exists(kind: SysvKind, id: i32) -> bool {
    let text = std::fs::read_to_string(kind.proc_path()).unwrap();
    let table = SysvTable::parse(&text);
    table
        .rows()
        .any(|row| row.get::<i32>(kind.id_column()) == Some(id))
}

#[test]
fn objects_whose_creator_is_gone_are_listed_and_removed_the_others_kept() {
    let mut guard = Guard::default();
    let tag = format!("grader-leaks-test-{}", std::process::id());
    let shm_path = CString::new(format!("/dev/shm/{tag}")).unwrap();
    let queue_name = CString::new(format!("/{tag}")).unwrap();
    let mqueue_mounted = std::path::Path::new("/dev/mqueue").is_dir()
        && std::fs::read_to_string("/proc/self/mounts").is_ok_and(|m| {
            m.lines()
                .any(|l| l.split(' ').nth(1) == Some("/dev/mqueue"))
        });
    let created = create_in_child(&shm_path, mqueue_mounted.then_some(&queue_name), &mut guard);
    // A segment whose creator, this test, is alive.
    // SAFETY: shmget creates a fresh segment; no memory is passed.
    let alive = unsafe { libc::shmget(libc::IPC_PRIVATE, 4096, libc::IPC_CREAT | 0o600) };
    assert!(alive >= 0);
    guard.sysv.push((SysvKind::Shm, alive));
    let shm_file = shm_path.to_str().unwrap();
    let queue_file = format!("/dev/mqueue/{tag}");

    // Listed, with the child gone.
    let listing = run_json(&["--format", "json"]);
    let segment = find(&listing, "shm", Some(created.shm), None);
    assert_eq!(segment["pid"], created.pid);
    assert_eq!(segment["pid_role"], "creator");
    assert_eq!(segment["process"], "gone");
    assert_eq!(segment["size"], 4096);
    assert_eq!(segment["attached"], 0);
    let command = format!("ipcrm -m {}", created.shm);
    assert_eq!(segment["remove_command"], command.as_str());
    let set = find(&listing, "sem", Some(created.sem), None);
    assert_eq!(
        (&set["pid"], &set["process"], &set["size"]),
        (
            &Value::from(created.pid),
            &Value::from("gone"),
            &Value::from(2)
        )
    );
    assert_eq!(
        set["remove_command"],
        format!("ipcrm -s {}", created.sem).as_str()
    );
    let queue = find(&listing, "msg", Some(created.msg), None);
    assert_eq!(
        (&queue["pid"], &queue["process"], &queue["size"]),
        (
            &Value::from(created.pid),
            &Value::from("gone"),
            &Value::from(1)
        )
    );
    assert_eq!(
        queue["remove_command"],
        format!("ipcrm -q {}", created.msg).as_str()
    );
    let file = find(&listing, "posix-shm", None, Some(shm_file));
    assert_eq!(
        (&file["process"], &file["size"]),
        (&Value::from("unknown"), &Value::from(100))
    );
    assert_eq!(file["remove_command"], format!("rm {shm_file}").as_str());
    if created.queue {
        find(&listing, "mqueue", None, Some(&queue_file));
    }
    let mine = find(&listing, "shm", Some(alive), None);
    assert_eq!(mine["process"], "alive");
    assert_eq!(mine["pid"], std::process::id());

    // The human table, without a terminal: no colour, one row with the command.
    let output = grader()
        .args(["leaks", "--only"])
        .arg(format!("shm:{}", created.shm))
        .output()
        .unwrap();
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(!text.contains('\x1b'), "{text}");
    let row = text.lines().find(|l| l.starts_with("shm ")).expect(&text);
    assert!(row.contains(" gone ") && row.ends_with(&command), "{text}");
    assert!(text.contains("1 IPC object left"), "{text}");

    // --remove, on these objects only.
    let mut args = vec!["--remove".to_string(), "--format".into(), "json".into()];
    for only in [
        format!("shm:{}", created.shm),
        format!("sem:{}", created.sem),
        format!("msg:{}", created.msg),
        format!("shm:{alive}"),
        shm_file.to_string(),
    ]
    .into_iter()
    .chain(created.queue.then(|| queue_file.clone()))
    {
        args.extend(["--only".to_string(), only]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = run_json(&args);
    assert_eq!(result["removing"], true);
    let count = 5 + usize::from(created.queue);
    assert_eq!(
        result["objects"].as_array().unwrap().len(),
        count,
        "{result:#}"
    );
    for (kind, id) in [
        ("shm", created.shm),
        ("sem", created.sem),
        ("msg", created.msg),
    ] {
        assert_eq!(find(&result, kind, Some(id), None)["action"], "removed");
    }
    assert_eq!(
        find(&result, "posix-shm", None, Some(shm_file))["action"],
        "removed"
    );
    let kept = find(&result, "shm", Some(alive), None);
    assert_eq!(kept["action"], "kept");
    let reason = format!("its creator, pid {}, is alive", std::process::id());
    assert_eq!(kept["reason"], reason.as_str());

    // Gone from the kernel and the file system; the live one is still there.
    for (kind, id) in [
        (SysvKind::Shm, created.shm),
        (SysvKind::Sem, created.sem),
        (SysvKind::Msg, created.msg),
    ] {
        assert!(!exists(kind, id), "{kind:?} {id} is still there");
        guard.forget(kind, id);
    }
    assert!(!std::path::Path::new(shm_file).exists());
    if created.queue {
        assert!(!std::path::Path::new(&queue_file).exists());
    }
    assert!(exists(SysvKind::Shm, alive));
}

#[test]
fn a_bad_object_name_exits_2_with_one_line() {
    let output = grader()
        .args(["leaks", "--only", "pipe:3"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("grader: error: "), "{stderr}");
    assert!(stderr.contains("`pipe:3` is not shm:ID"), "{stderr}");
}

fn object(kind: Kind, id: Option<i64>, path: Option<&str>) -> Object {
    let sysv = match kind {
        Kind::Shm => Some(SysvKind::Shm),
        Kind::Sem => Some(SysvKind::Sem),
        Kind::Msg => Some(SysvKind::Msg),
        _ => None,
    };
    Object {
        kind,
        id,
        path: path.map(str::to_string),
        key: sysv.map(|_| 0),
        owner_uid: 1000,
        size: 4096,
        unit: Unit::Bytes,
        bytes: None,
        pid: None,
        pid_role: None,
        process: Liveness::Unknown,
        pid_reused: false,
        attached: None,
        users: Vec::new(),
        marked_for_removal: false,
        remove_command: Some(match (sysv, id, path) {
            (Some(kind), Some(id), _) => kind.remove_command(id),
            (_, _, Some(path)) => grader::run::inventory::rm_command(path),
            _ => unreachable!(),
        }),
    }
}

/// One object of each kind, in every state the table shows.
fn sample() -> Listing {
    let mut shm = object(Kind::Shm, Some(32769), None);
    shm.pid = Some(4242);
    shm.pid_role = Some(PidRole::Creator);
    shm.process = Liveness::Gone;
    shm.attached = Some(0);
    let mut busy = object(Kind::Shm, Some(32770), None);
    busy.key = Some(0x1234);
    busy.size = 65536;
    busy.pid = Some(4300);
    busy.pid_role = Some(PidRole::Creator);
    busy.process = Liveness::Alive;
    busy.attached = Some(2);
    let mut sem = object(Kind::Sem, Some(3), None);
    sem.size = 2;
    sem.unit = Unit::Semaphores;
    sem.pid = Some(4250);
    sem.pid_role = Some(PidRole::LastOperation);
    sem.process = Liveness::Gone;
    sem.pid_reused = true;
    let mut msg = object(Kind::Msg, Some(0), None);
    msg.key = Some(-1);
    msg.size = 1;
    msg.unit = Unit::Messages;
    msg.bytes = Some(8);
    let mut file = object(Kind::PosixShm, None, Some("/dev/shm/lab11-seg"));
    file.size = 100;
    file.attached = Some(0);
    let mut queue = object(Kind::Mqueue, None, Some("/dev/mqueue/jobs"));
    queue.size = 0;
    queue.attached = Some(1);
    queue.users = vec![4400];
    let entries = [shm, busy, sem, msg, file, queue].map(|object| Entry {
        object,
        action: None,
        reason: None,
    });
    Listing {
        uid: 1000,
        all_users: false,
        removing: false,
        objects: entries.to_vec(),
        notes: vec!["/dev/mqueue is not there, so its objects are not listed".into()],
    }
}

#[test]
fn the_table_lists_each_object_with_its_command() {
    let listing = sample();
    let styled = leaks::human(&listing);
    assert!(styled.contains("\x1b["), "styled for a terminal");
    insta::assert_snapshot!("table", anstream::adapter::strip_str(&styled).to_string());
}

#[test]
fn after_remove_the_table_says_what_was_done() {
    let mut listing = sample();
    listing.removing = true;
    listing.all_users = true;
    for entry in &mut listing.objects {
        let reason = leaks::keep_reason(&entry.object, listing.uid, false);
        entry.action = Some(if reason.is_some() {
            Action::Kept
        } else {
            Action::Removed
        });
        entry.reason = reason;
    }
    listing.objects[4].action = Some(Action::Failed);
    listing.objects[4].reason = Some("cannot remove /dev/shm/lab11-seg: Permission denied".into());
    let text = leaks::human(&listing);
    insta::assert_snapshot!(
        "table_after_remove",
        anstream::adapter::strip_str(&text).to_string()
    );
    assert_eq!(listing.count(Action::Removed), 2);
}

#[test]
fn nothing_left_is_one_line_and_json_has_the_same_objects() {
    let mut listing = sample();
    listing.objects.clear();
    listing.notes.clear();
    assert_eq!(leaks::human(&listing), "no IPC objects left\n");
    let listing = sample();
    let json: Value = serde_json::from_str(&leaks::json(&listing)).unwrap();
    assert_eq!(json["objects"].as_array().unwrap().len(), 6);
    assert_eq!(json["objects"][2]["pid_reused"], true);
    assert_eq!(json["objects"][5]["users"], serde_json::json!([4400]));
    let back: Listing = serde_json::from_value(json).unwrap();
    assert_eq!(back, listing);
}
