//! Configuration end to end: the JSON file, the profile file, the environment and the flags stacked
//! in that order, key by key; a config file holding a password that others can read; an unknown key.

mod common;

use std::os::unix::fs::MetadataExt;
use std::time::Duration;

use common::*;

const START: Duration = Duration::from_secs(20);

#[test]
fn file_then_profile_then_environment_then_flags_each_override_key_by_key() {
    let emulator = Emulator::shared();
    let pool = Pool::seed(emulator, SeedOptions::default());
    let dir = temp_dir();
    let file_socket = dir.path().join("from-file.sock");
    let flag_socket = dir.path().join("from-flag.sock");

    // The file: every id, a wrong username (the profile fixes it), a wrong region (the profile
    // overrides it, then the environment again), its own socket path (the flag overrides it) and
    // a socket mode nothing overrides.
    let config = dir.path().join("cognitod.json");
    let text = serde_json::json!({
        "global": { "server_type": "unix" },
        "server": { "socket_path": file_socket, "permissions": "0600" },
        "cognito": {
            "username": "no-such-user-in-file",
            "password": pool.password,
            "app_id": pool.client_id,
            "user_pool_id": pool.user_pool_id,
            "identity_pool_id": pool.identity_pool_id,
            "region": "eu-west-3",
        }
    });
    write_file(&config, &text.to_string(), 0o600);

    // The profile `work` (-p) of the profile file (-f): the right username, a wrong password (the
    // environment fixes it), another wrong region. `default` must not be read.
    let profile = dir.path().join("cognito_credentials");
    write_file(
        &profile,
        &format!(
            "[default]\nusername = no-such-user-in-default\n\n\
             [profile work]\nusername = {}\npassword = wrong-profile-password\nregion = us-west-2\n",
            pool.username
        ),
        0o600,
    );

    let daemon = DaemonCommand::serve(
        &emulator.url(),
        &[
            "-c",
            config.to_str().unwrap(),
            "-f",
            profile.to_str().unwrap(),
            "-p",
            "work",
            "-S",
            flag_socket.to_str().unwrap(),
        ],
    )
    .env("COGNITO_PASSWORD", &pool.password)
    .env("COGNITO_REGION", &pool.region)
    .start();

    // Served on the flag's path, not the file's.
    let doc = wait_for_credentials(&flag_socket, None, START);
    assert_process_credentials(&doc);
    assert!(!file_socket.exists(), "the file's socket path was used");
    // The file's mode, which nothing overrode.
    let meta = std::fs::symlink_metadata(&flag_socket).unwrap();
    assert_eq!(meta.mode() & 0o7777, 0o600);
    // The first sign-in succeeded: the profile's username and the environment's password.
    let calls = emulator.calls(&pool.user_pool_id);
    assert_eq!(
        calls.get("InitiateAuth:USER_SRP_AUTH"),
        Some(&1),
        "{calls:?}"
    );
    assert_eq!(calls.get("RespondToAuthChallenge"), Some(&1), "{calls:?}");
    let log = daemon.plain_log();
    assert!(log.contains(&format!("user: {} ", pool.username)), "{log}");
    // The environment's region, so no warning about a region that differs from the pools'.
    assert!(log.contains(&format!("region: {};", pool.region)), "{log}");
    assert!(
        !log.contains("eu-west-3") && !log.contains("us-west-2"),
        "{log}"
    );
    assert!(!log.contains("wrong-profile-password"), "{log}");
}

#[test]
fn a_config_file_with_a_password_that_others_can_read_is_refused_with_the_chmod_fix() {
    let emulator = Emulator::shared();
    let pool = Pool::seed(emulator, SeedOptions::default());
    let dir = temp_dir();
    let socket = dir.path().join("c.sock");
    let config = dir.path().join("cognitod.json");
    let text = serde_json::json!({
        "server": { "socket_path": socket },
        "cognito": {
            "username": pool.username, "password": pool.password, "app_id": pool.client_id,
            "user_pool_id": pool.user_pool_id, "identity_pool_id": pool.identity_pool_id,
        }
    });
    write_file(&config, &text.to_string(), 0o640);
    let daemon = DaemonCommand::serve(&emulator.url(), &["-c", config.to_str().unwrap()]).start();
    let (status, log) = daemon.wait_exit(Duration::from_secs(10));
    assert!(!status.success(), "{log}");
    assert!(
        log.contains(&format!("chmod 600 {}", config.display())),
        "{log}"
    );
    assert!(log.contains("0640"), "{log}");
    assert!(!log.contains(&pool.password), "{log}");
    assert!(!socket.exists());
    let calls = emulator.calls(&pool.user_pool_id);
    assert_eq!(calls.get("InitiateAuth"), None, "{calls:?}");

    // The same file made private is accepted.
    write_file(&config, &text.to_string(), 0o600);
    let _daemon = DaemonCommand::serve(&emulator.url(), &["-c", config.to_str().unwrap()]).start();
    wait_for_credentials(&socket, None, START);
}

#[test]
fn an_unknown_key_is_named_with_its_file() {
    let emulator = Emulator::shared();
    let dir = temp_dir();
    let socket = dir.path().join("c.sock");

    let config = dir.path().join("cognitod.json");
    write_file(
        &config,
        r#"{"cognito": {"username": "u", "usernmae": "typo"}}"#,
        0o600,
    );
    let daemon = DaemonCommand::serve(
        &emulator.url(),
        &[
            "-c",
            config.to_str().unwrap(),
            "-S",
            socket.to_str().unwrap(),
        ],
    )
    .start();
    let (status, log) = daemon.wait_exit(Duration::from_secs(10));
    assert!(!status.success(), "{log}");
    assert!(log.contains("usernmae"), "{log}");
    assert!(log.contains(config.to_str().unwrap()), "{log}");

    // In the profile file too.
    let profile = dir.path().join("cognito_credentials");
    write_file(
        &profile,
        "[default]\nusername = u\nregoin = us-east-1\n",
        0o600,
    );
    let daemon = DaemonCommand::serve(
        &emulator.url(),
        &[
            "-f",
            profile.to_str().unwrap(),
            "-S",
            socket.to_str().unwrap(),
        ],
    )
    .start();
    let (status, log) = daemon.wait_exit(Duration::from_secs(10));
    assert!(!status.success(), "{log}");
    assert!(log.contains("regoin"), "{log}");
    assert!(log.contains(profile.to_str().unwrap()), "{log}");
    assert!(!socket.exists());
}

/// Issue 15, point 4: a configuration file group or others may write is refused at start and
/// on reload, naming the chmod that fixes it. Before the fix, a user who could write it (0622)
/// dropped the shared secret without reading the file, and the next SIGHUP applied that.
#[test]
fn a_config_file_others_can_write_is_refused_at_start_and_on_reload() {
    let emulator = Emulator::shared();
    let pool = Pool::seed(emulator, SeedOptions::default());
    let dir = temp_dir();
    let socket = dir.path().join("c.sock");
    let secret_file = dir.path().join("secret");
    write_file(&secret_file, "config-s3cret\n", 0o600);
    let config = dir.path().join("cognitod.json");
    let guarded = serde_json::json!({
        "global": { "auth_secret_file": secret_file },
        "server": { "socket_path": socket },
    });
    write_file(&config, &guarded.to_string(), 0o600);
    let daemon = DaemonCommand::serve(&emulator.url(), &["-e", "-c", config.to_str().unwrap()])
        .envs(pool.env())
        .start();
    wait_for_credentials(&socket, Some(b"config-s3cret\n"), START);

    // The file becomes writable by others, and one of them drops the secret.
    let open = serde_json::json!({ "server": { "socket_path": socket } });
    write_file(&config, &open.to_string(), 0o622);
    daemon.signal(nix::sys::signal::Signal::SIGHUP);
    daemon.wait_for_log("reload refused", START);
    let log = daemon.plain_log();
    assert!(
        log.contains(&format!("chmod go-w {}", config.display())) && log.contains("0622"),
        "{log}"
    );
    assert_eq!(
        unix_request(&socket, None),
        "{\"error\":\"not authorized\"}\n",
        "the secret must still be required"
    );
    let (status, log) = daemon.stop();
    assert!(status.success(), "{log}");

    // At start, for each way of letting others write.
    for mode in [0o602, 0o620, 0o622] {
        write_file(&config, &open.to_string(), mode);
        let daemon = DaemonCommand::serve(&emulator.url(), &["-e", "-c", config.to_str().unwrap()])
            .envs(pool.env())
            .start();
        let (status, log) = daemon.wait_exit(Duration::from_secs(10));
        assert!(!status.success(), "{mode:04o}: {log}");
        assert!(log.contains(&format!("its mode {mode:04o}")), "{log}");
        assert!(!socket.exists(), "{mode:04o}: it listened");
    }
}

/// Issue 15, point 5: a reload applies what it can in place and says what it cannot. Before the
/// fix, tightening the socket's mode from 0666 to 0600 and removing the http listener, then
/// SIGHUP, logged "configuration reloaded" with the new mode while the socket kept 0666 and the
/// http listener kept serving.
#[test]
fn a_reload_applies_the_socket_mode_closes_removed_listeners_and_names_what_needs_a_restart() {
    let emulator = Emulator::shared();
    let pool = Pool::seed(emulator, SeedOptions::default());
    let dir = temp_dir();
    let socket = dir.path().join("c.sock");
    let (tcp, http) = (free_port(), free_port());
    let config = dir.path().join("cognitod.json");
    let write_config = |types: &[&str], mode: &str, tcp: u16| {
        let text = serde_json::json!({
            "global": { "server_type": types },
            "server": {
                "socket_path": socket, "permissions": mode,
                "host": "127.0.0.1", "tcp_port": tcp, "http_port": http,
            },
        });
        write_file(&config, &text.to_string(), 0o600);
    };
    let mode_of = |path: &std::path::Path| std::fs::metadata(path).unwrap().mode() & 0o7777;
    write_config(&["unix", "tcp", "http"], "0666", tcp);
    let daemon = DaemonCommand::serve(&emulator.url(), &["-e", "-c", config.to_str().unwrap()])
        .envs(pool.env())
        .start();
    wait_for_credentials(&socket, None, START);
    assert_eq!(mode_of(&socket), 0o666);
    assert!(std::net::TcpStream::connect(("127.0.0.1", http)).is_ok());

    // Tighter mode, no http: both applied.
    write_config(&["unix", "tcp"], "0600", tcp);
    daemon.signal(nix::sys::signal::Signal::SIGHUP);
    daemon.wait_for_log("configuration reloaded", START);
    assert_eq!(mode_of(&socket), 0o600, "the socket kept its old mode");
    wait_until("the http listener closes", START, || {
        std::net::TcpStream::connect(("127.0.0.1", http)).is_err()
    });
    assert!(wait_for_credentials(&socket, None, START)["AccessKeyId"].is_string());
    assert!(std::net::TcpStream::connect(("127.0.0.1", tcp)).is_ok());

    // A new port cannot be applied in place: the log says so, the old one keeps serving.
    let moved = free_port();
    write_config(&["unix", "tcp"], "0600", moved);
    daemon.signal(nix::sys::signal::Signal::SIGHUP);
    wait_until("the second reload", START, || {
        daemon.log().matches("configuration reloaded").count() == 2
    });
    let log = daemon.plain_log();
    assert!(
        log.contains("apply only after a restart")
            && log.contains(&format!("tcp 127.0.0.1:{moved}")),
        "{log}"
    );
    assert!(std::net::TcpStream::connect(("127.0.0.1", tcp)).is_ok());
    let (status, log) = daemon.stop();
    assert!(status.success(), "{log}");
    assert!(!socket.exists());
}

/// An empty endpoint variable (`AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER=`, as a shell or a
/// systemd drop-in clears a variable) is unset, as every other empty variable is: the general
/// AWS_ENDPOINT_URL is used and credentials served. The SDK took the empty value for an endpoint
/// and panicked in the refresher, which left the daemon running without ever signing in.
#[test]
fn an_empty_endpoint_variable_counts_as_unset() {
    let emulator = Emulator::shared();
    let pool = Pool::seed(emulator, SeedOptions::default());
    let dir = temp_dir();
    let socket = dir.path().join("s.sock");
    let args = ["-e", "-s", "unix", "-S", socket.to_str().unwrap()];
    let cleared = [
        "AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER",
        "AWS_ENDPOINT_URL_COGNITO_IDENTITY",
        "AWS_ENDPOINT_URL_STS",
    ];
    let daemon = DaemonCommand::serve(&emulator.url(), &args)
        .envs(pool.env())
        .envs(cleared.map(|name| (name.to_owned(), String::new())))
        .start();
    let answer = wait_for_credentials(&socket, None, START);
    assert_process_credentials(&answer);
    let calls = emulator.calls(&pool.user_pool_id);
    assert_eq!(
        calls.get("InitiateAuth:USER_SRP_AUTH"),
        Some(&1),
        "{calls:?}"
    );
    let (_, log) = daemon.stop();
    assert!(!log.contains("panicked"), "{log}");
}
