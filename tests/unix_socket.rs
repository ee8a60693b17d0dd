//! The unix socket listener: the shared secret (right, wrong, missing, late, oversized), answering
//! at once without one, the socket's owner and mode from the first moment it exists, and what
//! happens to a socket file already at the path.

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::Shutdown;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

const START: Duration = Duration::from_secs(20);
const NOT_AUTHORIZED: &str = "{\"error\":\"not authorized\"}\n";

/// Connects, writes `send`, optionally closes the write side, and reads the whole answer; returns
/// it with the time it took.
fn exchange(socket: &Path, send: &[u8], close_write: bool) -> (String, Duration) {
    let started = Instant::now();
    let mut s = UnixStream::connect(socket).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(send).unwrap();
    if close_write {
        s.shutdown(Shutdown::Write).unwrap();
    }
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    (out, started.elapsed())
}

fn assert_credentials(answer: &str) -> Value {
    let doc: Value = serde_json::from_str(answer).unwrap_or_else(|e| panic!("{e}: {answer:?}"));
    assert_process_credentials(&doc);
    doc
}

#[test]
fn a_shared_secret_from_a_file_is_required_and_checked() {
    let emulator = Emulator::shared();
    let pool = Pool::seed(emulator, SeedOptions::default());
    let dir = temp_dir();
    let socket = dir.path().join("c.sock");
    let secret = format!("s3cret-{}", pool.password.len() * 7919);
    let secret_file = dir.path().join("secret");
    write_file(&secret_file, &format!("{secret}\n"), 0o600);
    let daemon = DaemonCommand::serve(
        &emulator.url(),
        &[
            "-e",
            "-S",
            socket.to_str().unwrap(),
            "--auth-secret-file",
            secret_file.to_str().unwrap(),
        ],
    )
    .envs(pool.env())
    .start();
    let line = format!("{secret}\n");
    wait_for_credentials(&socket, Some(line.as_bytes()), START);

    // The right secret, as a line, or without newline at the end of the client's output.
    let (answer, _) = exchange(&socket, line.as_bytes(), false);
    assert_credentials(&answer);
    let (answer, _) = exchange(&socket, secret.as_bytes(), true);
    assert_credentials(&answer);

    // A wrong secret, or one that only starts like the right one.
    for wrong in [
        "wrong\n".to_owned(),
        format!("{secret}x\n"),
        "s3cret\n".into(),
    ] {
        let (answer, _) = exchange(&socket, wrong.as_bytes(), false);
        assert_eq!(answer, NOT_AUTHORIZED, "for {wrong:?}");
    }

    // Nothing at all: the client closes its side at once.
    let (answer, took) = exchange(&socket, b"", true);
    assert_eq!(answer, NOT_AUTHORIZED);
    assert!(took < Duration::from_secs(1), "{took:?}");

    // Nothing, and the connection kept open: refused after the 2 s the secret may take.
    let (answer, took) = exchange(&socket, b"", false);
    assert_eq!(answer, NOT_AUTHORIZED);
    assert!(
        took >= Duration::from_millis(1900) && took < Duration::from_secs(4),
        "{took:?}"
    );

    // A 2 KiB line (the limit is 1 KiB), even one that starts with the secret.
    let mut long = secret.clone().into_bytes();
    long.resize(2048, b'a');
    long.push(b'\n');
    let (answer, _) = exchange(&socket, &long, false);
    assert_eq!(answer, NOT_AUTHORIZED);

    // All those clients, one sign-in.
    let calls = emulator.calls(&pool.user_pool_id);
    assert_eq!(
        calls.get("InitiateAuth:USER_SRP_AUTH"),
        Some(&1),
        "{calls:?}"
    );
    let (status, log) = daemon.stop();
    assert!(status.success(), "{log}");
    let log = strip_ansi(&log);
    for outcome in [
        "WrongSecret",
        "MissingSecret",
        "SecretTimeout",
        "OversizedSecret",
    ] {
        assert!(log.contains(outcome), "{outcome} not logged:\n{log}");
    }
}

#[test]
fn without_a_secret_the_answer_comes_without_the_client_sending_anything() {
    let emulator = Emulator::shared();
    let pool = Pool::seed(emulator, SeedOptions::default());
    let dir = temp_dir();
    let socket = dir.path().join("c.sock");
    let _daemon = DaemonCommand::serve(&emulator.url(), &["-e", "-S", socket.to_str().unwrap()])
        .envs(pool.env())
        .start();
    wait_for_credentials(&socket, None, START);
    // Connect, send nothing, keep the write side open: the answer comes at once anyway.
    let (answer, took) = exchange(&socket, b"", false);
    assert_credentials(&answer);
    assert!(took < Duration::from_secs(1), "{took:?}");
}

#[test]
fn a_secret_on_the_command_line_works_but_is_warned_about() {
    let emulator = Emulator::shared();
    let pool = Pool::seed(emulator, SeedOptions::default());
    let dir = temp_dir();
    let socket = dir.path().join("c.sock");
    let daemon = DaemonCommand::serve(
        &emulator.url(),
        &["-e", "-S", socket.to_str().unwrap(), "-a", "cmdline-secret"],
    )
    .envs(pool.env())
    .start();
    wait_for_credentials(&socket, Some(b"cmdline-secret\n"), START);
    let (answer, _) = exchange(&socket, b"other\n", false);
    assert_eq!(answer, NOT_AUTHORIZED);
    let (answer, _) = exchange(&socket, b"", true);
    assert_eq!(answer, NOT_AUTHORIZED);
    let log = daemon.plain_log();
    assert!(log.contains("visible to every local user"), "{log}");
    assert!(log.contains("--auth-secret-file"), "{log}");
}

/// What a stat of the socket path showed: type, mode, owner, group.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Seen {
    socket: bool,
    mode: u32,
    uid: u32,
    gid: u32,
}

#[test]
fn the_socket_has_its_owner_and_mode_from_the_moment_it_appears() {
    let nobody = nix::unistd::User::from_name("nobody").unwrap().unwrap();
    let nogroup = nix::unistd::Group::from_name("nogroup").unwrap().unwrap();
    let expected = Seen {
        socket: true,
        mode: 0o640,
        uid: nobody.uid.as_raw(),
        gid: nogroup.gid.as_raw(),
    };
    let emulator = Emulator::shared();
    let pool = Pool::seed(emulator, SeedOptions::default());
    let dir = temp_dir();
    let socket = dir.path().join("c.sock");
    // Several starts, each watched from before the daemon exists by inotify (a chmod or chown
    // of the socket once it is at its path is an ATTRIB event, however short the window) and by
    // a tight stat loop.
    for round in 0..3 {
        let mut watcher = Command::new(python())
            .arg(repo().join("tests/emulator/watch_name.py"))
            .arg(dir.path())
            .arg("c.sock")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut watcher_out = BufReader::new(watcher.stdout.take().unwrap());
        let mut ready = String::new();
        watcher_out.read_line(&mut ready).unwrap();
        assert_eq!(ready.trim(), "ready");
        let mut seen = BTreeSet::new();
        let mut stats = 0u64;
        let daemon = DaemonCommand::serve(
            &emulator.url(),
            &[
                "-e",
                "-S",
                socket.to_str().unwrap(),
                "-u",
                "nobody",
                "-g",
                "nogroup",
                "--permissions",
                "0640",
            ],
        )
        .envs(pool.env())
        .start();
        let deadline = Instant::now() + START;
        let mut first_seen: Option<Instant> = None;
        while first_seen.is_none_or(|t| t.elapsed() < Duration::from_millis(300)) {
            assert!(Instant::now() < deadline, "round {round}: no socket");
            if let Ok(meta) = std::fs::symlink_metadata(&socket) {
                stats += 1;
                first_seen.get_or_insert_with(Instant::now);
                seen.insert(Seen {
                    socket: meta.file_type().is_socket(),
                    mode: meta.mode() & 0o7777,
                    uid: meta.uid(),
                    gid: meta.gid(),
                });
            }
        }
        assert_eq!(
            seen,
            BTreeSet::from([expected.clone()]),
            "round {round}: every stat ({stats}) must show the final owner and mode"
        );
        wait_for_credentials(&socket, None, START);
        drop(watcher.stdin.take());
        let mut events = String::new();
        watcher_out.read_line(&mut events).unwrap();
        watcher.wait().unwrap();
        let events: Vec<String> = serde_json::from_str(&events).unwrap();
        assert!(
            matches!(
                events.first().map(String::as_str),
                Some("MOVED_TO" | "CREATE")
            ),
            "round {round}: {events:?}"
        );
        assert!(
            !events.iter().any(|e| e == "ATTRIB"),
            "round {round}: the socket's owner or mode changed after it appeared: {events:?}"
        );
        // The private directory the socket was prepared in is gone.
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|name| name != "c.sock")
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
        let (status, log) = daemon.stop();
        assert!(status.success(), "{log}");
        assert!(!socket.exists(), "the socket file is removed at stop");
    }
}

#[test]
fn a_stale_socket_file_is_replaced() {
    let emulator = Emulator::shared();
    let pool = Pool::seed(emulator, SeedOptions::default());
    let dir = temp_dir();
    let socket = dir.path().join("c.sock");
    drop(UnixListener::bind(&socket).unwrap());
    assert!(std::fs::symlink_metadata(&socket)
        .unwrap()
        .file_type()
        .is_socket());
    assert!(UnixStream::connect(&socket).is_err(), "nobody listens");
    let _daemon = DaemonCommand::serve(&emulator.url(), &["-e", "-S", socket.to_str().unwrap()])
        .envs(pool.env())
        .start();
    let doc = wait_for_credentials(&socket, None, START);
    assert_process_credentials(&doc);
}

#[test]
fn a_live_socket_is_left_alone_and_the_daemon_exits_naming_it() {
    let emulator = Emulator::shared();
    let pool = Pool::seed(emulator, SeedOptions::default());
    let dir = temp_dir();
    let socket = dir.path().join("c.sock");
    let listener = UnixListener::bind(&socket).unwrap();
    let daemon = DaemonCommand::serve(&emulator.url(), &["-e", "-S", socket.to_str().unwrap()])
        .envs(pool.env())
        .start();
    let (status, log) = daemon.wait_exit(Duration::from_secs(10));
    assert!(!status.success(), "{log}");
    assert!(log.contains(socket.to_str().unwrap()), "{log}");
    assert!(log.contains("another process is listening"), "{log}");
    // The other process still owns the path: a client reaches it, not a daemon.
    listener.set_nonblocking(true).unwrap();
    let _client = UnixStream::connect(&socket).unwrap();
    let mut accepted = false;
    for _ in 0..100 {
        if listener.accept().is_ok() {
            accepted = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        accepted,
        "the original listener no longer gets the connections"
    );
    // It never signed in.
    let calls = emulator.calls(&pool.user_pool_id);
    assert_eq!(calls.get("InitiateAuth"), None, "{calls:?}");
}

/// Compiles tests/swapper/swap.c into `dir`, runnable by every user.
fn build_swapper(dir: &Path) -> std::path::PathBuf {
    let swap = dir.join("swap");
    let built = Command::new("cc")
        .args(["-O2", "-o"])
        .arg(&swap)
        .arg(repo().join("tests/swapper/swap.c"))
        .status()
        .expect("cc, to build the renameat2 swapper");
    assert!(built.success());
    swap
}

/// Owner, group and mode of a file.
fn ownership(path: &Path) -> (u32, u32, u32) {
    let meta = std::fs::symlink_metadata(path).unwrap();
    (meta.uid(), meta.gid(), meta.mode() & 0o7777)
}

/// Starts the daemon on `socket` and waits until it listens or exits; returns its log and
/// whether it was listening.
fn start_on(socket: &Path, pool: &Pool, extra: &[&str]) -> (bool, String) {
    let mut args = vec!["-e", "-S", socket.to_str().unwrap()];
    args.extend_from_slice(extra);
    let mut daemon = DaemonCommand::serve(&Emulator::shared().url(), &args)
        .envs(pool.env())
        .start();
    let deadline = Instant::now() + START;
    loop {
        if daemon.exited().is_some() {
            let (_, log) = daemon.wait_exit(Duration::from_secs(5));
            return (false, log);
        }
        if daemon.log().contains("listening") {
            let (status, log) = daemon.stop();
            assert!(status.success(), "{log}");
            return (true, log);
        }
        assert!(Instant::now() < deadline, "neither listening nor gone");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Issue 15, point 1: an unprivileged user who can write the socket's directory swaps the
/// daemon's private staging directory for one of its own, holding a symlink named like the
/// socket that points at a root-only file, with renameat2(RENAME_EXCHANGE) as fast as it can from
/// the moment the staging directory appears (tests/swapper/swap.c, run as `nobody`). Before the
/// fix, root's chown and chmod followed the symlink in some starts (the file became
/// root:nogroup 0660; 2 of 100 starts here, 12 of 30 in the review). Now such a directory is refused, naming the fix; and the steps that
/// follow work on directory descriptors, never on paths (the unit tests of src/listeners.rs).
#[test]
fn a_user_who_can_write_the_socket_directory_cannot_steer_roots_chown_and_chmod() {
    assert!(nix::unistd::geteuid().is_root(), "this test runs as root");
    let nobody = nix::unistd::User::from_name("nobody").unwrap().unwrap();
    let emulator = Emulator::shared();
    let pool = Pool::seed(emulator, SeedOptions::default());
    let dir = temp_dir();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let swap = build_swapper(dir.path());
    let target = dir.path().join("root-only");
    write_file(&target, "root's alone\n", 0o600);
    let before = ownership(&target);
    // On tmpfs where there is one (renames there take about a microsecond, as fast as the
    // daemon's steps between bind and chmod), which makes the race easy to win.
    let fast = tempfile::Builder::new()
        .prefix("cognitod-test-")
        .tempdir_in("/dev/shm")
        .unwrap_or_else(|_| temp_dir());
    std::fs::set_permissions(fast.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let shared = fast.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    nix::unistd::chown(&shared, Some(nobody.uid), Some(nobody.gid)).unwrap();
    let socket = shared.join("x.sock");

    const STARTS: usize = 100;
    let (mut steered, mut swapped) = (0, 0);
    let mut refusals = Vec::new();
    for start in 0..STARTS {
        let decoy = shared.join(format!("decoy-{start}"));
        let mut swapper = Command::new("runuser")
            .args(["-u", "nobody", "--", "sh", "-c"])
            .arg(r#"mkdir "$1" && ln -s "$2" "$1/x.sock" && exec "$3" "$4" "$1" .cognitod-bind-"#)
            .arg("sh")
            .args([&decoy, &target, &swap, &shared])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut said = BufReader::new(swapper.stdout.take().unwrap());
        let mut line = String::new();
        said.read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "ready");
        let (listening, log) = start_on(&socket, &pool, &["-g", "nogroup"]);
        drop(swapper.stdin.take());
        let mut rest = String::new();
        said.read_to_string(&mut rest).unwrap();
        swapper.wait().unwrap();
        swapped += rest.lines().filter(|l| l.starts_with("swapped")).count();
        if ownership(&target) != before {
            steered += 1;
            nix::unistd::chown(&target, Some(0.into()), Some(0.into())).unwrap();
            std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        if !listening {
            refusals.push(strip_ansi(&log));
        }
        let _ = std::fs::remove_file(&socket);
    }
    println!(
        "{STARTS} starts: {steered} steered, {} refused, {swapped} swapped",
        refusals.len()
    );
    assert_eq!(
        steered, 0,
        "root's chown/chmod was steered in {steered} of {STARTS} starts"
    );
    assert_eq!(
        refusals.len(),
        STARTS,
        "a directory nobody owns must be refused"
    );
    let why = format!("{}: it belongs to uid {}", shared.display(), nobody.uid);
    for log in refusals {
        assert!(log.contains(&why) && log.contains("chmod go-w"), "{log}");
    }
}

/// The socket's directory must be one only root or the daemon's user can change: a group- or
/// world-writable one is refused, a sticky one (like /tmp) is fine while the socket's name is
/// free, and refused when a file of another user holds the name.
#[test]
fn a_socket_directory_others_can_change_is_refused_and_a_sticky_one_is_used() {
    let nobody = nix::unistd::User::from_name("nobody").unwrap().unwrap();
    let emulator = Emulator::shared();
    let pool = Pool::seed(emulator, SeedOptions::default());
    let dir = temp_dir();
    let group_writable = dir.path().join("group");
    std::fs::create_dir(&group_writable).unwrap();
    std::fs::set_permissions(&group_writable, std::fs::Permissions::from_mode(0o775)).unwrap();
    let (listening, log) = start_on(&group_writable.join("c.sock"), &pool, &[]);
    assert!(!listening, "{log}");
    assert!(
        log.contains("its mode 0775 lets group or others write to it") && log.contains("go-w"),
        "{log}"
    );
    // Below a directory another user owns, even a private directory of root's is refused:
    // that user could move it away and put another in its place.
    let theirs = dir.path().join("theirs");
    std::fs::create_dir_all(theirs.join("private")).unwrap();
    nix::unistd::chown(&theirs, Some(nobody.uid), None).unwrap();
    let (listening, log) = start_on(&theirs.join("private/c.sock"), &pool, &[]);
    assert!(!listening, "{log}");
    assert!(
        log.contains(&format!("{}: it belongs to uid", theirs.display())),
        "{log}"
    );

    let sticky = dir.path().join("sticky");
    std::fs::create_dir(&sticky).unwrap();
    std::fs::set_permissions(&sticky, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let socket = sticky.join("c.sock");
    let (listening, log) = start_on(&socket, &pool, &[]);
    assert!(listening, "{log}");
    std::fs::write(&socket, "").unwrap();
    nix::unistd::chown(&socket, Some(nobody.uid), None).unwrap();
    let (listening, log) = start_on(&socket, &pool, &[]);
    assert!(!listening, "{log}");
    assert!(
        log.contains(&format!(
            "{}: belongs to uid {}",
            socket.display(),
            nobody.uid
        )),
        "{log}"
    );
}
