//! The daemon under systemd's protocols without a running systemd: sockets passed by
//! `systemd-socket-activate` (by name, in any order), sd_notify messages captured on a datagram
//! socket of our own, SIGHUP reloads and a SIGTERM with requests in flight.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use nix::sys::signal::Signal;
use serde_json::Value;

const START: Duration = Duration::from_secs(20);

/// `systemd-socket-activate` running cognitod on the given listeners and names.
struct Activated {
    child: Child,
    log: Arc<Mutex<Vec<u8>>>,
}

impl Activated {
    fn start(listen: &[&str], names: &str, env: &[(String, String)], args: &[&str]) -> Activated {
        let mut cmd = Command::new("systemd-socket-activate");
        for l in listen {
            cmd.args(["-l", l]);
        }
        cmd.arg(format!("--fdname={names}"));
        for (k, v) in env {
            cmd.arg(format!("-E{k}={v}"));
        }
        cmd.arg(env!("CARGO_BIN_EXE_cognitod"))
            .arg("serve")
            .args(args);
        let mut child = cmd
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("systemd-socket-activate (package systemd)");
        let log = Arc::new(Mutex::new(Vec::new()));
        let sink = log.clone();
        let mut stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stderr.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        Activated { child, log }
    }

    fn log(&self) -> String {
        String::from_utf8_lossy(&self.log.lock().unwrap()).into_owned()
    }
}

impl Drop for Activated {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            Signal::SIGTERM,
        );
        let _ = self.child.wait();
    }
}

fn env_for(pool: &Pool) -> Vec<(String, String)> {
    let mut env = pool.env();
    env.push(("AWS_ENDPOINT_URL".into(), Emulator::shared().url()));
    env.push(("RUST_LOG".into(), "debug".into()));
    env
}

fn read_all(mut s: impl Read) -> String {
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn three_sockets_passed_by_name_in_another_order_all_answer_the_same() {
    let emulator = Emulator::shared();
    let pool = Pool::seed(emulator, SeedOptions::default());
    let dir = temp_dir();
    let socket = dir.path().join("c.sock");
    let (tcp, http) = (free_port(), free_port());
    let tcp_addr = format!("127.0.0.1:{tcp}");
    let http_addr = format!("127.0.0.1:{http}");
    // Listeners given http, unix, tcp; named accordingly: never matched by position.
    let activated = Activated::start(
        &[&http_addr, socket.to_str().unwrap(), &tcp_addr],
        "http:unix:tcp",
        &env_for(&pool),
        // Listener flags that would clash with systemd's sockets: ignored, with one log line.
        &["-e", "-s", "tcp", "-P", "1", "--allow-no-secret"],
    );
    // The first connection starts the daemon.
    let deadline = Instant::now() + START;
    let from_unix: Value = loop {
        if let Ok(s) = UnixStream::connect(&socket) {
            let answer = read_all(s);
            if answer.contains("AccessKeyId") {
                break serde_json::from_str(&answer).unwrap();
            }
        }
        assert!(
            Instant::now() < deadline,
            "no answer on the unix socket:\n{}",
            activated.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let from_tcp: Value =
        serde_json::from_str(&read_all(TcpStream::connect(&tcp_addr).unwrap())).unwrap();
    let mut s = TcpStream::connect(&http_addr).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .unwrap();
    let response = read_all(s);
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let from_http: Value =
        serde_json::from_str(response.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(from_unix, from_tcp);
    assert_eq!(from_unix, from_http);
    let log = activated.log();
    assert!(log.contains("socket-activated"), "{log}");
    assert!(log.contains("ignored"), "{log}");
    // It bound nothing itself: the socket file is systemd-socket-activate's.
    assert!(!log.contains("binding"), "{log}");
}

#[test]
fn a_misnamed_socket_is_a_startup_error_saying_what_to_change() {
    let dir = temp_dir();
    let socket = dir.path().join("c.sock");
    let pool = Pool::seed(Emulator::shared(), SeedOptions::default());
    for (names, expected) in [("web", "FileDescriptorName="), ("tcp", "is a unix socket")] {
        let mut activated =
            Activated::start(&[socket.to_str().unwrap()], names, &env_for(&pool), &["-e"]);
        // Trigger the start once the socket listens; the daemon refuses and exits.
        let deadline = Instant::now() + START;
        while UnixStream::connect(&socket).is_err() {
            assert!(
                Instant::now() < deadline,
                "socket never listened:\n{}",
                activated.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let status = loop {
            if let Some(status) = activated.child.try_wait().unwrap() {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "did not exit:\n{}",
                activated.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        std::thread::sleep(Duration::from_millis(100));
        assert!(!status.success());
        let log = activated.log();
        assert!(log.contains(expected), "{names}: {log}");
        let _ = std::fs::remove_file(&socket);
    }
}

#[test]
fn notify_ready_status_watchdog_reload_and_stopping() {
    let emulator = Emulator::shared();
    let pool = Pool::seed(emulator, SeedOptions::default());
    let dir = temp_dir();
    let notify = NotifySocket::bind(dir.path());
    let socket = dir.path().join("c.sock");
    let config = dir.path().join("config.json");
    let write_config = |mode: &str| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::write(
            &config,
            format!(r#"{{"server": {{"permissions": "{mode}"}}}}"#),
        )
        .unwrap();
        std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600)).unwrap();
    };
    write_config("0600");
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
    .env("NOTIFY_SOCKET", notify.path.to_str().unwrap())
    .env("WATCHDOG_USEC", "400000")
    .start();

    let ready = notify.wait_for("READY=1", 0, |m| m.contains("READY=1"));
    let message = &notify.all()[ready];
    assert!(
        message.contains("STATUS=serving on unix; credentials valid until "),
        "{message}"
    );
    wait_for_credentials(&socket, None, START);
    notify.wait_for("WATCHDOG=1", 0, |m| m.contains("WATCHDOG=1"));

    // A changed configuration: RELOADING=1 with MONOTONIC_USEC, then READY=1 again.
    write_config("0640");
    daemon.signal(Signal::SIGHUP);
    let reloading = notify.wait_for("RELOADING=1", ready + 1, |m| m.contains("RELOADING=1"));
    assert!(
        notify.all()[reloading].contains("MONOTONIC_USEC="),
        "{:?}",
        notify.all()
    );
    notify.wait_for("READY=1 after reload", reloading + 1, |m| {
        m.contains("READY=1")
    });
    daemon.wait_for_log("configuration reloaded", START);

    // A broken configuration: kept the old one, said why, still serving.
    std::fs::write(&config, r#"{"server": {"permissions": "rwx"}}"#).unwrap();
    let before = notify.all().len();
    daemon.signal(Signal::SIGHUP);
    let refused = notify.wait_for("READY=1 after a refused reload", before, |m| {
        m.contains("READY=1") && m.contains("reload failed")
    });
    let message = &notify.all()[refused];
    assert!(message.contains("server.permissions"), "{message}");
    assert!(message.contains("previous configuration"), "{message}");
    assert!(wait_for_credentials(&socket, None, START)["AccessKeyId"].is_string());

    let (status, log) = daemon.stop();
    assert!(status.success(), "{log}");
    assert!(
        notify.all().iter().any(|m| m.contains("STOPPING=1")),
        "{:?}",
        notify.all()
    );
    // Each message is one line per field; the STATUS is one line.
    for m in notify.all() {
        for field in m.lines() {
            assert!(
                field.contains('='),
                "malformed notify field {field:?} in {m:?}"
            );
        }
    }
}

#[test]
fn sigterm_lets_requests_in_flight_finish_and_refuses_new_ones() {
    let emulator = Emulator::shared();
    let pool = Pool::seed(emulator, SeedOptions::default());
    let dir = temp_dir();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, "in-flight-secret\n").unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let socket = dir.path().join("c.sock");
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
    .start();
    wait_for_credentials(&socket, Some(b"in-flight-secret\n"), START);
    // Three clients connected, their secret not yet sent: requests in flight.
    let mut in_flight: Vec<UnixStream> = (0..3)
        .map(|_| UnixStream::connect(&socket).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    daemon.signal(Signal::SIGTERM);
    daemon.wait_for_log("stopping", START);
    // New connections are refused once the listener is closed and its file removed.
    let deadline = Instant::now() + Duration::from_secs(5);
    while UnixStream::connect(&socket).is_ok() {
        assert!(Instant::now() < deadline, "still accepting after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
    // The ones in flight finish normally.
    for s in &mut in_flight {
        s.write_all(b"in-flight-secret\n").unwrap();
        let answer: Value = serde_json::from_str(&read_all(&*s)).unwrap();
        assert!(answer["AccessKeyId"].is_string(), "{answer}");
    }
    let (status, log) = daemon.wait_exit(Duration::from_secs(10));
    assert!(status.success(), "exit {status:?}:\n{log}");
    assert!(log.contains("all connections finished"), "{log}");
    assert!(!socket.exists());
}

/// The issue's acceptance check with the real tools: `nc -U`, `nc HOST PORT` and `curl`, behind a
/// shared secret, against sockets passed by systemd-socket-activate.
#[test]
fn nc_and_curl_get_the_same_credentials_from_activated_sockets() {
    let emulator = Emulator::shared();
    let pool = Pool::seed(emulator, SeedOptions::default());
    let dir = temp_dir();
    let socket = dir.path().join("c.sock");
    let secret = dir.path().join("secret");
    std::fs::write(&secret, "nc-and-curl-secret\n").unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let (tcp, http) = (free_port(), free_port());
    let tcp_addr = format!("127.0.0.1:{tcp}");
    let http_addr = format!("127.0.0.1:{http}");
    let activated = Activated::start(
        &[socket.to_str().unwrap(), &tcp_addr, &http_addr],
        "unix:tcp:http",
        &env_for(&pool),
        &["-e", "--auth-secret-file", secret.to_str().unwrap()],
    );
    let run = |program: &str, args: &[&str], stdin: Option<&Path>| -> String {
        let mut cmd = Command::new(program);
        cmd.args(args);
        cmd.stdin(match stdin {
            Some(path) => Stdio::from(std::fs::File::open(path).unwrap()),
            None => Stdio::null(),
        });
        let out = cmd.output().unwrap_or_else(|e| panic!("{program}: {e}"));
        String::from_utf8(out.stdout).unwrap()
    };
    let deadline = Instant::now() + START;
    let from_unix: Value = loop {
        if socket.exists() {
            let answer = run("nc", &["-U", socket.to_str().unwrap()], Some(&secret));
            if answer.contains("AccessKeyId") {
                break serde_json::from_str(&answer).unwrap();
            }
        }
        assert!(
            Instant::now() < deadline,
            "nc -U got nothing:\n{}",
            activated.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let from_tcp: Value =
        serde_json::from_str(&run("nc", &["127.0.0.1", &tcp.to_string()], Some(&secret))).unwrap();
    let url = format!("http://{http_addr}/");
    let from_curl: Value = serde_json::from_str(&run(
        "curl",
        &["-sS", "-H", "Cognito-Api-Key: nc-and-curl-secret", &url],
        None,
    ))
    .unwrap();
    assert_eq!(from_unix, from_tcp);
    assert_eq!(from_unix, from_curl);
    let unauthorized = run(
        "curl",
        &["-s", "-o", "/dev/null", "-w", "%{http_code}", &url],
        None,
    );
    assert_eq!(unauthorized, "401");
}

/// LISTEN_FDS promising descriptors that are not there, or more than LISTEN_FDNAMES names: a
/// start-up error that says how to run it, never a guess by position.
#[test]
fn missing_descriptors_are_a_clear_startup_error() {
    let pool = Pool::seed(Emulator::shared(), SeedOptions::default());
    let bin = env!("CARGO_BIN_EXE_cognitod");
    for (fds, names) in [("2", "unix"), ("1", "unix")] {
        // exec keeps the shell's pid, so LISTEN_PID=$$ names cognitod; fd 3 is not open.
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "LISTEN_PID=$$ LISTEN_FDS={fds} LISTEN_FDNAMES={names} exec {bin} serve -e"
            ))
            .envs(pool.env())
            .env("AWS_ENDPOINT_URL", Emulator::shared().url())
            .output()
            .unwrap();
        assert!(
            !out.status.success(),
            "LISTEN_FDS={fds} LISTEN_FDNAMES={names} accepted"
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("socket activation:"), "{err}");
        assert!(err.contains(".socket units"), "{err}");
    }
}

/// A sign-in that fails for good still makes the service ready, with the cause in STATUS=.
#[test]
fn notify_status_names_a_failed_sign_in() {
    let emulator = Emulator::shared();
    let pool = Pool::seed(emulator, SeedOptions::default());
    let dir = temp_dir();
    let notify = NotifySocket::bind(dir.path());
    let socket = dir.path().join("c.sock");
    let daemon = DaemonCommand::serve(&emulator.url(), &["-e", "-S", socket.to_str().unwrap()])
        .envs(pool.env())
        .env("COGNITO_PASSWORD", "Wrong-Password-0")
        .env("NOTIFY_SOCKET", notify.path.to_str().unwrap())
        .start();
    let ready = notify.wait_for("READY=1", 0, |m| m.contains("READY=1"));
    let message = &notify.all()[ready];
    assert!(message.contains("STATUS=sign-in failed: "), "{message}");
    assert!(message.contains("NotAuthorizedException"), "{message}");
    assert!(message.contains("check the password"), "{message}");
    assert!(!message.contains("Wrong-Password-0"));
    drop(daemon);
}
