//! Limits that keep one bad client from hurting others: more idle clients than the connection cap,
//! and running out of file descriptors; the accept loop survives both and serves afterwards.

mod common;

use std::io::Read;
use std::os::unix::net::UnixStream;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

const START: Duration = Duration::from_secs(20);

fn secret_file(dir: &std::path::Path) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("secret");
    std::fs::write(&path, "limits-secret\n").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

/// 1,100 clients that connect and send nothing (more than the 1,024-connection cap): each is cut
/// off by the 2 s secret timeout, and a real client behind them is answered well within an SDK's
/// 5 s credential timeout.
#[test]
fn idle_clients_beyond_the_cap_do_not_lock_out_a_real_one() {
    let emulator = Emulator::shared();
    let pool = Pool::seed(emulator, SeedOptions::default());
    let dir = temp_dir();
    let socket = dir.path().join("c.sock");
    let secret = secret_file(dir.path());
    let daemon = DaemonCommand::serve(
        &emulator.url(),
        &[
            "-e",
            "-S",
            socket.to_str().unwrap(),
            "--auth-secret-file",
            secret.to_str().unwrap(),
        ],
    )
    .envs(pool.env())
    .env("RUST_LOG", "info")
    .start();
    wait_for_credentials(&socket, Some(b"limits-secret\n"), START);

    let idle: Vec<UnixStream> = (0..1100)
        .map(|_| UnixStream::connect(&socket).unwrap())
        .collect();
    let started = Instant::now();
    let answer = unix_request(&socket, Some(b"limits-secret\n"));
    let waited = started.elapsed();
    assert!(answer.contains("AccessKeyId"), "{answer}");
    assert!(
        waited < Duration::from_secs(5),
        "a real client waited {waited:?}"
    );
    // Every idle client got its refusal once its time was up.
    for mut s in idle {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        assert_eq!(out, "{\"error\":\"not authorized\"}\n");
    }
    drop(daemon);
}

/// The daemon run with 64 file descriptors and flooded: accept() fails with EMFILE, the loop backs
/// off instead of spinning, and once the flood is gone it serves normally.
#[test]
fn running_out_of_descriptors_is_backed_off_and_survived() {
    let emulator = Emulator::shared();
    let pool = Pool::seed(emulator, SeedOptions::default());
    let dir = temp_dir();
    let socket = dir.path().join("c.sock");
    let secret = secret_file(dir.path());
    let daemon = DaemonCommand::serve(
        &emulator.url(),
        &[
            "-e",
            "-S",
            socket.to_str().unwrap(),
            "--auth-secret-file",
            secret.to_str().unwrap(),
        ],
    )
    .envs(pool.env())
    .env("RUST_LOG", "info")
    .start();
    // Lowered once the daemon listens: it sizes its connection caps from the limit it starts
    // with (so that, started with 64, it would never run out); this is the limit lowered under it.
    daemon.wait_for_log("listening", START);
    let limited = Command::new("prlimit")
        .args(["--nofile=64:64", "--pid", &daemon.pid().to_string()])
        .status()
        .expect("prlimit (util-linux)");
    assert!(limited.success());
    wait_for_credentials(&socket, Some(b"limits-secret\n"), START);

    // 300 clients hold connections open without a secret: far past 64 descriptors.
    let flood: Vec<UnixStream> = (0..300)
        .filter_map(|_| UnixStream::connect(&socket).ok())
        .collect();
    std::thread::sleep(Duration::from_secs(1));
    let log = daemon.log();
    let failures = log.matches("accept failed").count();
    assert!(
        failures > 0,
        "the flood never exhausted the descriptors:\n{log}"
    );
    // Backed off (5 ms doubling to 1 s), not spinning: a handful per second, not thousands.
    assert!(
        failures < 40,
        "{failures} accept failures in about a second: spinning"
    );
    drop(flood);

    // Served normally afterwards.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let answer = unix_request(&socket, Some(b"limits-secret\n"));
        if answer.contains("AccessKeyId") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not serving after the flood: {answer}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let (status, log) = daemon.stop();
    assert!(status.success(), "{log}");
}
