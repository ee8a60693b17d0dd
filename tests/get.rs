//! `cognitod get`, the credential_process client: the same credentials over the unix socket, TCP
//! and HTTP, the secret from a file or COGNITOD_SECRET, and each failure a non-zero exit with one
//! line that names the cause and the fix.

mod common;

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

const SECRET: &str = "get-test-secret";

fn get(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cognitod"))
        .arg("get")
        .args(args)
        .env_remove("COGNITOD_SECRET")
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

/// The one stderr line of a failed `get`.
fn failure(out: &Output) -> String {
    assert!(
        !out.status.success(),
        "succeeded: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(out.stdout.is_empty(), "printed something on failure");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err:?}");
    err
}

#[test]
fn get_prints_the_same_credentials_over_every_transport() {
    let emulator = Emulator::shared();
    let pool = Pool::seed(emulator, SeedOptions::default());
    let EveryTransport {
        daemon: _daemon,
        socket,
        secret_file,
        tcp,
        http,
        credentials: expected,
        dir: _dir,
    } = EveryTransport::start(emulator, &pool, SECRET, &[]);

    let secret_path = secret_file.to_str().unwrap();
    let url = format!("http://127.0.0.1:{http}/");
    let tcp_address = format!("127.0.0.1:{tcp}");
    for (args, env) in [
        (
            vec![
                "--socket",
                socket.to_str().unwrap(),
                "--secret-file",
                secret_path,
            ],
            vec![],
        ),
        (
            vec!["--socket", socket.to_str().unwrap()],
            vec![("COGNITOD_SECRET", SECRET)],
        ),
        (
            vec!["--tcp", tcp_address.as_str(), "--secret-file", secret_path],
            vec![],
        ),
        (
            vec!["--url", url.as_str()],
            vec![("COGNITOD_SECRET", SECRET)],
        ),
    ] {
        let started = Instant::now();
        let out = get(&args, &env);
        let took = started.elapsed();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(doc, expected, "{args:?}");
        println!("cognitod get {args:?}: {took:?}");
    }

    // The wrong secret: refused, and said so.
    let err = failure(&get(
        &["--socket", socket.to_str().unwrap()],
        &[("COGNITOD_SECRET", "nope")],
    ));
    assert!(
        err.contains("refused the shared secret") && err.contains("--secret-file"),
        "{err}"
    );
    let err = failure(&get(&["--url", &url], &[]));
    assert!(err.contains("refused the shared secret"), "{err}");
}

#[test]
fn get_failures_name_the_cause_and_the_fix() {
    let dir = temp_dir();
    // Daemon down: no socket file.
    let missing = dir.path().join("none.sock");
    let err = failure(&get(&["--socket", missing.to_str().unwrap()], &[]));
    assert!(
        err.contains("No such file") && err.contains("systemctl enable --now cognitod.socket"),
        "{err}"
    );

    // Refused: a stale socket file nobody listens on.
    let stale = dir.path().join("stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
    let err = failure(&get(&["--socket", stale.to_str().unwrap()], &[]));
    assert!(
        err.contains("refused") && err.contains("start cognitod"),
        "{err}"
    );
    let err = failure(&get(&["--tcp", &format!("127.0.0.1:{}", free_port())], &[]));
    assert!(err.contains("refused"), "{err}");

    // Malformed: something else answers.
    let other = dir.path().join("other.sock");
    let listener = std::os::unix::net::UnixListener::bind(&other).unwrap();
    let server = std::thread::spawn(move || {
        use std::io::Write;
        let (mut s, _) = listener.accept().unwrap();
        s.write_all(b"hello, I am not cognitod\n").unwrap();
    });
    let err = failure(&get(&["--socket", other.to_str().unwrap()], &[]));
    assert!(err.contains("unexpected answer"), "{err}");
    server.join().unwrap();

    // A daemon that never answers: cut off by the read timeout, well under the SDKs' 5 s.
    let silent = dir.path().join("silent.sock");
    let listener = std::os::unix::net::UnixListener::bind(&silent).unwrap();
    let hold = std::thread::spawn(move || {
        let (s, _) = listener.accept().unwrap();
        std::thread::sleep(Duration::from_secs(6));
        drop(s);
    });
    let started = Instant::now();
    let err = failure(&get(&["--socket", silent.to_str().unwrap()], &[]));
    let waited = started.elapsed();
    assert!(err.contains("did not answer"), "{err}");
    assert!(waited < Duration::from_millis(4500), "waited {waited:?}");
    hold.join().unwrap();
}

#[test]
fn get_reports_a_daemon_without_credentials() {
    let emulator = Emulator::shared();
    let pool = Pool::seed(emulator, SeedOptions::default());
    let dir = temp_dir();
    let socket = dir.path().join("c.sock");
    let daemon = DaemonCommand::serve(&emulator.url(), &["-e", "-S", socket.to_str().unwrap()])
        .envs(pool.env())
        .env("COGNITO_PASSWORD", "Wrong-Password-5")
        .start();
    daemon.wait_for_log("NotAuthorizedException", Duration::from_secs(20));
    let err = failure(&get(&["--socket", socket.to_str().unwrap()], &[]));
    assert!(
        err.contains("cognitod has no credentials") && err.contains("NotAuthorizedException"),
        "{err}"
    );
    assert!(!err.contains("Wrong-Password-5"));
}

/// A proxy that records every byte clients send it and tunnels CONNECT requests to their
/// target, as a proxy a hostile user set up (or a corporate one) would.
struct LoggingProxy {
    port: u16,
    seen: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
}

impl LoggingProxy {
    fn start() -> LoggingProxy {
        use std::io::{BufRead, BufReader, Read, Write};
        use std::net::{TcpListener, TcpStream};
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let log = log.clone();
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(client.try_clone().unwrap());
                    let mut head = String::new();
                    while reader.read_line(&mut head).unwrap_or(0) > 2 {}
                    log.lock().unwrap().extend_from_slice(head.as_bytes());
                    let target = head
                        .strip_prefix("CONNECT ")
                        .and_then(|rest| rest.split_whitespace().next())
                        .and_then(|target| TcpStream::connect(target).ok());
                    let mut client = client;
                    let Some(upstream) = target else {
                        let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n");
                        return;
                    };
                    let _ = client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n");
                    let mut down = upstream.try_clone().unwrap();
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut down, &mut client);
                    });
                    let mut up = upstream;
                    let mut buf = [0u8; 4096];
                    while let Ok(n) = reader.read(&mut buf) {
                        if n == 0 || up.write_all(&buf[..n]).is_err() {
                            break;
                        }
                        log.lock().unwrap().extend_from_slice(&buf[..n]);
                    }
                });
            }
        });
        LoggingProxy { port, seen }
    }
}

/// Issue 15, point 2: `cognitod get --url` talks to a daemon on this host and never through a
/// proxy, whatever the proxy variables say: before the fix it sent the shared secret (and got
/// the credentials back) through HTTP_PROXY/HTTPS_PROXY/ALL_PROXY.
#[test]
fn get_over_http_ignores_every_proxy_variable() {
    let emulator = Emulator::shared();
    let pool = Pool::seed(emulator, SeedOptions::default());
    let served = EveryTransport::start(emulator, &pool, SECRET, &[]);
    let proxy = LoggingProxy::start();
    let proxy_url = format!("http://127.0.0.1:{}", proxy.port);
    let url = format!("http://127.0.0.1:{}/", served.http);
    let variables = [
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "ALL_PROXY",
        "all_proxy",
    ];
    for variable in variables {
        let out = Command::new(env!("CARGO_BIN_EXE_cognitod"))
            .args(["get", "--url", &url])
            .env_remove("NO_PROXY")
            .env_remove("no_proxy")
            .env("COGNITOD_SECRET", SECRET)
            .env(variable, &proxy_url)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{variable}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(doc, served.credentials, "{variable}");
        let seen = String::from_utf8_lossy(&proxy.seen.lock().unwrap()).into_owned();
        assert!(
            seen.is_empty(),
            "with {variable} set, the proxy saw: {seen:?}"
        );
    }
}

/// Owner of /proc/PID/environ: the process's user while it is dumpable, root once it is not.
fn proc_owner(pid: u32) -> u32 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(format!("/proc/{pid}/environ"))
        .unwrap()
        .uid()
}

/// Issue 15, point 8: the process marks itself undumpable (no core dumps, no ptrace attach by
/// the same user) as the first thing in main, before the arguments are parsed, so every
/// subcommand is covered, `get` (which holds the shared secret and the credentials) included.
/// Before the fix only `serve` did, after its start-up. Seen from outside as the kernel shows
/// it: /proc/PID/environ of an undumpable process belongs to root, not to the process's user.
#[test]
fn get_is_undumpable_while_it_waits_for_the_daemon() {
    use std::os::unix::fs::PermissionsExt;
    let dir = temp_dir();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let socket = dir.path().join("silent.sock");
    let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o666)).unwrap();
    let as_nobody = ["--reuid=65534", "--regid=65534", "--clear-groups", "--"];

    // The control: a process of nobody that never asks is dumpable, and /proc shows it.
    let mut control = Command::new("setpriv")
        .args(as_nobody)
        .args(["sleep", "30"])
        .spawn()
        .expect("setpriv (util-linux)");
    wait_until("the control runs as nobody", Duration::from_secs(5), || {
        proc_owner(control.id()) == 65534
    });
    control.kill().unwrap();
    control.wait().unwrap();

    let mut get = Command::new("setpriv")
        .args(as_nobody)
        .arg(env!("CARGO_BIN_EXE_cognitod"))
        .args(["get", "--socket", socket.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Once it has connected it waits for an answer that never comes.
    let (_held, _) = listener.accept().unwrap();
    let status = std::fs::read_to_string(format!("/proc/{}/status", get.id())).unwrap();
    assert!(
        status.lines().any(|l| l.starts_with("Uid:\t65534")),
        "not running as nobody: {status}"
    );
    assert_eq!(proc_owner(get.id()), 0, "cognitod get is dumpable");
    get.kill().unwrap();
    get.wait().unwrap();
}
