//! The unix socket's allow-lists: SO_PEERCRED checked on every connection, so only the listed
//! users (or primary groups) get credentials, whatever the socket's mode lets in.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::time::Duration;

use common::*;

/// `nc -U` run as another user (tests run as root).
fn as_user(user: &str, socket: &std::path::Path) -> String {
    let out = Command::new("runuser")
        .args(["-u", user, "--", "nc", "-U", "-N", socket.to_str().unwrap()])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("runuser (util-linux) and nc (netcat-openbsd)");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn only_listed_users_and_groups_are_served() {
    let emulator = Emulator::shared();
    let pool = Pool::seed(emulator, SeedOptions::default());
    let dir = temp_dir();
    // Reachable by everyone, so that only the allow-list decides.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let socket = dir.path().join("c.sock");
    let config = dir.path().join("config.json");
    std::fs::write(&config, r#"{"server": {"permissions": "0666", "allowed_users": ["nobody"], "allowed_groups": [0]}}"#).unwrap();
    let daemon = DaemonCommand::serve(
        &emulator.url(),
        &[
            "-e",
            "-c",
            config.to_str().unwrap(),
            "-S",
            socket.to_str().unwrap(),
        ],
    )
    .envs(pool.env())
    .start();
    // root's primary group is 0: listed.
    wait_for_credentials(&socket, None, Duration::from_secs(20));
    // nobody is listed by name.
    assert!(as_user("nobody", &socket).contains("AccessKeyId"));
    // daemon (uid 1, primary group 1) is on neither list.
    let refused = as_user("daemon", &socket);
    assert_eq!(refused, "{\"error\":\"not authorized\"}\n");
    daemon.wait_for_log("PeerRefused", Duration::from_secs(5));
}
