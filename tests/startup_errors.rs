//! Issue 14, point 7: start-up errors say the cause once and name the fix: a unix socket in a
//! directory that does not exist (no internal temporary name), a port already in use (with the
//! flags and keys that choose another); `cognitod check` flags the unreachable socket directory;
//! `serve` takes `--tcp-port` and `--http-port` as `install` does.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Output};
use std::time::Duration;

use common::*;

/// A complete configuration in the environment; nothing here gets as far as signing in.
fn cognito_env() -> Vec<(String, String)> {
    [
        ("COGNITO_USERNAME", "u"),
        ("COGNITO_PASSWORD", "Not-Used-1"),
        ("COGNITO_USER_POOL_ID", "us-east-1_AbCdEf"),
        ("COGNITO_APP_ID", "app"),
        (
            "COGNITO_IDENTITY_POOL_ID",
            "us-east-1:0e4b1c9a-2f4d-4a8b-9c3d-5e6f7a8b9c0d",
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

fn serve_fails(args: &[&str]) -> String {
    let daemon = DaemonCommand::serve("http://127.0.0.1:1", args)
        .envs(cognito_env())
        .env("RUST_LOG", "warn")
        .start();
    let (status, log) = daemon.wait_exit(Duration::from_secs(10));
    assert!(!status.success(), "{log}");
    log
}

fn check(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cognitod"))
        .arg("check")
        .args(args)
        .env_clear()
        .envs(cognito_env())
        .output()
        .unwrap()
}

#[test]
fn a_socket_in_a_missing_directory_is_named_once_with_the_fix() {
    let dir = temp_dir();
    let socket = dir.path().join("missing/sub/c.sock");
    let log = serve_fails(&["-e", "-S", socket.to_str().unwrap()]);
    let missing = dir.path().join("missing/sub");
    assert!(
        log.contains(&format!("mkdir -p {}", missing.display()))
            && log.contains("-S/--socket-path"),
        "{log}"
    );
    assert_eq!(log.matches("does not exist").count(), 1, "{log}");
    assert!(!log.contains(".cognitod-bind-"), "an internal name: {log}");

    // check agrees: not valid, for the same reason.
    let out = check(&["-e", "-S", socket.to_str().unwrap()]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        said.contains("does not exist") && said.contains("mkdir -p"),
        "{said}"
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("configuration is valid"));
    // A file where the directory should be, too.
    let file = dir.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    let out = check(&["-e", "-S", file.join("c.sock").to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("is not a directory"),
        "{out:?}"
    );
}

#[test]
fn a_port_in_use_names_the_flags_and_keys_that_choose_another() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let log = serve_fails(&[
        "-e",
        "-s",
        "tcp",
        "-H",
        "127.0.0.1",
        "-P",
        &port,
        "--allow-no-secret",
    ]);
    assert!(
        log.contains(&format!("127.0.0.1:{port} is already in use"))
            && log.contains("-P/--port")
            && log.contains("server.port"),
        "{log}"
    );
    assert_eq!(
        log.matches("in use").count(),
        1,
        "said more than once: {log}"
    );
}

#[test]
fn serve_takes_tcp_port_and_http_port() {
    let out = check(&[
        "-e",
        "-s",
        "tcp,http",
        "-H",
        "127.0.0.1",
        "--tcp-port",
        "7101",
        "--http-port",
        "7102",
    ]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("listener: tcp 127.0.0.1:7101"), "{said}");
    assert!(said.contains("listener: http 127.0.0.1:7102"), "{said}");
    // The same port for both is refused, naming the two flags.
    let out = check(&[
        "-e",
        "-s",
        "tcp,http",
        "--tcp-port",
        "7103",
        "--http-port",
        "7103",
    ]);
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("--tcp-port") && said.contains("--http-port"),
        "{said}"
    );

    // And serve listens on them.
    let emulator = Emulator::shared();
    let pool = Pool::seed(emulator, SeedOptions::default());
    let (tcp, http) = (free_port(), free_port());
    let daemon = DaemonCommand::serve(
        &emulator.url(),
        &[
            "-e",
            "-s",
            "tcp,http",
            "-H",
            "127.0.0.1",
            "--tcp-port",
            &tcp.to_string(),
            "--http-port",
            &http.to_string(),
        ],
    )
    .envs(pool.env())
    .start();
    daemon.wait_for_log(&format!("127.0.0.1:{tcp}"), Duration::from_secs(10));
    daemon.wait_for_log(&format!("127.0.0.1:{http}"), Duration::from_secs(10));
    std::net::TcpStream::connect(("127.0.0.1", tcp)).unwrap();
    std::net::TcpStream::connect(("127.0.0.1", http)).unwrap();
}

/// `check` run by someone other than the service's user: a socket directory only that user cannot
/// write to is a warning, not an invalid configuration (the service, or systemd, may write there).
#[test]
fn a_socket_directory_only_this_user_cannot_write_is_a_warning_in_check() {
    let dir = temp_dir();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let socket = dir.path().join("c.sock");
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(env!("CARGO_BIN_EXE_cognitod"))
        .args(["check", "-e", "-S", socket.to_str().unwrap()])
        .env_clear()
        .envs(cognito_env())
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("configuration is valid"), "{said}");
    assert!(
        said.contains("warning: the unix socket") && said.contains("does not let this user"),
        "{said}"
    );
}

/// Under systemd (a credentials directory) a secret file the service's user may not read is named
/// with the fix that works there: pass it as a credential. Run as nobody: root reads anything.
#[test]
fn an_unreadable_secret_file_under_systemd_names_the_credential_to_pass() {
    let dir = temp_dir();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let secret = dir.path().join("auth-secret");
    write_file(&secret, "not-readable-by-nobody", 0o600);
    let credentials = dir.path().join("credentials");
    std::fs::create_dir(&credentials).unwrap();
    let config = credentials.join("config");
    let text = format!(
        r#"{{"global": {{"auth_secret_file": "{}"}}}}"#,
        secret.display()
    );
    write_file(&config, &text, 0o644);
    let mut setpriv = Command::new("setpriv");
    setpriv
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(env!("CARGO_BIN_EXE_cognitod"));
    let mut env: Vec<(&str, &str)> = vec![("CREDENTIALS_DIRECTORY", credentials.to_str().unwrap())];
    let cognito = cognito_env();
    env.extend(cognito.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let out: Output = run_in_clean_env(setpriv, &["check"], &env);
    let said = output_text(&out);
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("Permission denied"), "{said}");
    assert!(
        said.contains(&format!("LoadCredential=auth_secret:{}", secret.display())),
        "{said}"
    );
}
