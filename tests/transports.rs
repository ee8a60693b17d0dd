//! Every transport: tcp and http beside the unix socket, with and without the shared secret; HTTP
//! status codes and bodies, keep-alive, size caps and timeouts.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

const START: Duration = Duration::from_secs(20);
const SECRET: &str = "s3cret-line-for-tests";

fn write_secret_file(dir: &std::path::Path) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("secret");
    std::fs::write(&path, format!("{SECRET}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

/// A raw-protocol request over TCP.
fn tcp_request(port: u16, send: Option<&[u8]>) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    if let Some(bytes) = send {
        s.write_all(bytes).unwrap();
    }
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

/// One parsed HTTP response.
#[derive(Debug)]
struct HttpResponse {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl HttpResponse {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {:?}", self.body))
    }
}

/// Reads one HTTP/1.1 response (with Content-Length) from a stream.
fn read_response(s: &mut TcpStream) -> Option<HttpResponse> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        match s.read(&mut byte) {
            Ok(0) | Err(_) => return None,
            Ok(_) => buf.push(byte[0]),
        }
    }
    let head = String::from_utf8(buf).unwrap();
    let mut lines = head.split("\r\n");
    let status: u16 = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .map(|(_, v)| v.parse().unwrap())
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    s.read_exact(&mut body).ok()?;
    Some(HttpResponse {
        status,
        headers,
        body: String::from_utf8(body).unwrap(),
    })
}

fn http(port: u16, request: &str) -> HttpResponse {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    read_response(&mut s).expect("a response")
}

fn get(port: u16, path: &str, secret: Option<&str>) -> HttpResponse {
    let key = secret.map_or(String::new(), |s| format!("Cognito-Api-Key: {s}\r\n"));
    http(
        port,
        &format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{key}Connection: close\r\n\r\n"),
    )
}

/// The start-up warning of a daemon that serves tcp/http without a secret by the operator's choice.
const OPTED_IN_WARNING: &str = "allow_no_secret: tcp and http hand credentials to any client";

#[test]
fn unix_tcp_and_http_serve_the_same_credentials_without_a_secret_when_allowed() {
    let emulator = Emulator::shared();
    let pool = Pool::seed(emulator, SeedOptions::default());
    let dir = temp_dir();
    let socket = dir.path().join("c.sock");
    let (tcp, http_port) = (free_port(), free_port());
    // The opt-in as a configuration key (the other tests use the flag).
    let config = dir.path().join("config.json");
    std::fs::write(
        &config,
        format!(
            r#"{{"global": {{"allow_no_secret": true}},
                "server": {{"host": "127.0.0.1", "tcp_port": {tcp}, "http_port": {http_port}}}}}"#
        ),
    )
    .unwrap();
    let daemon = DaemonCommand::serve(
        &emulator.url(),
        &[
            "-e",
            "-c",
            config.to_str().unwrap(),
            "-s",
            "unix",
            "-s",
            "tcp",
            "-s",
            "http",
            "-S",
            socket.to_str().unwrap(),
        ],
    )
    .envs(pool.env())
    .start();
    let from_unix = wait_for_credentials(&socket, None, START);
    let from_tcp: Value = serde_json::from_str(&tcp_request(tcp, None)).unwrap();
    let response = get(http_port, "/", None);
    assert_eq!(response.status, 200, "{response:?}");
    assert_eq!(response.header("content-type"), Some("application/json"));
    let from_http = response.json();
    assert_eq!(from_unix, from_tcp);
    assert_eq!(from_unix, from_http);
    assert!(from_unix["AccessKeyId"].is_string());
    let (status, log) = daemon.stop();
    assert!(status.success(), "{log}");
    assert!(log.contains(OPTED_IN_WARNING), "{log}");
}

/// Issue 14, point 1: without a shared secret, and without the opt-in, tcp and http refuse every
/// request for credentials, so that a request forged through a local application (SSRF) gets
/// none: a plain `GET /` or `GET /ecs`, and the bytes of an HTTP request sent to the raw tcp
/// port. Each refusal names the opt-in and the better fix. IMDSv2 still answers (its PUT token
/// is its defence), and the unix socket serves as before (its mode is its access control).
#[test]
fn without_a_secret_tcp_and_http_refuse_forged_requests_unless_allowed() {
    let emulator = Emulator::shared();
    let pool = Pool::seed(emulator, SeedOptions::default());
    let dir = temp_dir();
    let socket = dir.path().join("c.sock");
    let (config, tcp, http_port) = loopback_ports_config(dir.path());
    let daemon = DaemonCommand::serve(
        &emulator.url(),
        &[
            "-e",
            "-c",
            config.to_str().unwrap(),
            "-s",
            "unix,tcp,http",
            "-S",
            socket.to_str().unwrap(),
            "--imds",
        ],
    )
    .envs(pool.env())
    .start();
    let from_unix = wait_for_credentials(&socket, None, START);
    let names_both_fixes = |text: &str| {
        text.contains("--allow-no-secret")
            && text.contains("global.allow_no_secret")
            && text.contains("--auth-secret-file")
    };

    // A forged plain GET, as a URL-fetching bug sends it.
    for path in ["/", "/ecs"] {
        let response = get(http_port, path, None);
        assert_eq!(response.status, 401, "{path}: {response:?}");
        assert!(!response.body.contains("AccessKeyId"), "{response:?}");
        assert!(response.body.ends_with('\n'), "{response:?}");
        let body = response.json();
        let message = if path == "/ecs" {
            assert_eq!(body["Code"], "AccessDenied", "{body}");
            body["Message"].as_str().unwrap().to_owned()
        } else {
            body["error"].as_str().unwrap().to_owned()
        };
        assert!(names_both_fixes(&message), "{path}: {message}");
    }
    // The same request's bytes on the raw tcp port, and a client that sends nothing.
    for sent in [
        &b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"[..],
        b"",
    ] {
        let answer = tcp_request(tcp, Some(sent));
        assert!(!answer.contains("AccessKeyId"), "{answer}");
        assert!(answer.ends_with('\n'), "{answer:?}");
        let error: Value = serde_json::from_str(&answer).unwrap();
        let error = error["error"].as_str().unwrap();
        assert!(error.starts_with("not authorized: "), "{error}");
        assert!(names_both_fixes(error), "{error}");
    }
    // `cognitod get` passes the refusal on in one line.
    let got = std::process::Command::new(env!("CARGO_BIN_EXE_cognitod"))
        .args(["get", "--tcp", &format!("127.0.0.1:{tcp}")])
        .env_remove("COGNITOD_SECRET")
        .output()
        .unwrap();
    assert!(!got.status.success());
    let said = String::from_utf8_lossy(&got.stderr);
    assert!(
        said.contains("cognitod refused") && said.contains("--allow-no-secret"),
        "{said}"
    );

    // IMDSv2 needs no secret: a PUT for a session token, then the credentials.
    let token = http(
        http_port,
        "PUT /latest/api/token HTTP/1.1\r\nHost: 169.254.169.254\r\n\
         X-aws-ec2-metadata-token-ttl-seconds: 60\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(token.status, 200, "{token:?}");
    let role = http(
        http_port,
        &format!(
            "GET /latest/meta-data/iam/security-credentials/ HTTP/1.1\r\nHost: 169.254.169.254\r\n\
             X-aws-ec2-metadata-token: {}\r\nConnection: close\r\n\r\n",
            token.body
        ),
    );
    let imds = http(
        http_port,
        &format!(
            "GET /latest/meta-data/iam/security-credentials/{} HTTP/1.1\r\nHost: 169.254.169.254\r\n\
             X-aws-ec2-metadata-token: {}\r\nConnection: close\r\n\r\n",
            role.body, token.body
        ),
    );
    assert_eq!(imds.status, 200, "{imds:?}");
    assert_eq!(imds.json()["AccessKeyId"], from_unix["AccessKeyId"]);
    assert!(imds.body.ends_with('\n'), "{imds:?}");
    // Point 12: the two paths IMDS documents as absent say so, and what to read instead.
    for (path, instead) in [
        ("placement/availability-zone/", "placement/region"),
        ("iam/info", "security-credentials"),
    ] {
        let absent = http(
            http_port,
            &format!(
                "GET /latest/meta-data/{path} HTTP/1.1\r\nHost: 169.254.169.254\r\n\
                 X-aws-ec2-metadata-token: {}\r\nConnection: close\r\n\r\n",
                token.body
            ),
        );
        assert_eq!(absent.status, 404, "{path}: {absent:?}");
        assert!(
            absent.json()["error"].as_str().unwrap().contains(instead),
            "{path}: {absent:?}"
        );
    }

    let (status, log) = daemon.stop();
    assert!(status.success(), "{log}");
    assert!(
        log.contains("no shared secret is configured: this listener refuses credentials"),
        "{log}"
    );
    assert!(!log.contains(OPTED_IN_WARNING), "{log}");
}

#[test]
fn tcp_with_a_secret_right_wrong_missing() {
    let emulator = Emulator::shared();
    let pool = Pool::seed(emulator, SeedOptions::default());
    let dir = temp_dir();
    let secret_file = write_secret_file(dir.path());
    let port = free_port();
    let daemon = DaemonCommand::serve(
        &emulator.url(),
        &[
            "-e",
            "-s",
            "tcp",
            "-H",
            "127.0.0.1",
            "-P",
            &port.to_string(),
            "--auth-secret-file",
            secret_file.to_str().unwrap(),
        ],
    )
    .envs(pool.env())
    .start();
    let deadline = Instant::now() + START;
    let right = loop {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            let answer = tcp_request(port, Some(format!("{SECRET}\n").as_bytes()));
            if answer.contains("AccessKeyId") {
                break answer;
            }
        }
        assert!(Instant::now() < deadline, "no credentials over tcp");
        std::thread::sleep(Duration::from_millis(50));
    };
    let right: Value = serde_json::from_str(&right).unwrap();
    assert_eq!(right["Version"], 1);
    assert_eq!(
        tcp_request(port, Some(b"wrong\n")),
        "{\"error\":\"not authorized\"}\n"
    );
    // Missing: the client closes its side without sending anything.
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert_eq!(out, "{\"error\":\"not authorized\"}\n");
    drop(daemon);
}

#[test]
fn http_routes_status_codes_and_json_bodies() {
    let emulator = Emulator::shared();
    let pool = Pool::seed(emulator, SeedOptions::default());
    let dir = temp_dir();
    let secret_file = write_secret_file(dir.path());
    let port = free_port();
    let daemon = DaemonCommand::serve(
        &emulator.url(),
        &[
            "-e",
            "-s",
            "http",
            "-H",
            "127.0.0.1",
            "-P",
            &port.to_string(),
            "--auth-secret-file",
            secret_file.to_str().unwrap(),
        ],
    )
    .envs(pool.env())
    .start();
    let deadline = Instant::now() + START;
    while get_ok(port).is_none() {
        assert!(
            Instant::now() < deadline,
            "http listener never answered:\n{}",
            daemon.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let ok = get(port, "/", Some(SECRET));
    assert_eq!(ok.status, 200, "{ok:?}");
    assert_eq!(ok.json()["Version"], 1);

    for (response, status) in [
        (get(port, "/", None), 401),
        (get(port, "/", Some("wrong")), 401),
        (get(port, "/nope", Some(SECRET)), 404),
        (
            http(
                port,
                "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            ),
            405,
        ),
        (
            http(
                port,
                "DELETE /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
            ),
            405,
        ),
        (
            http(
                port,
                "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
            ),
            413,
        ),
    ] {
        assert_eq!(response.status, status, "{response:?}");
        assert_eq!(
            response.header("content-type"),
            Some("application/json"),
            "{response:?}"
        );
        assert!(response.json()["error"].is_string(), "{response:?}");
    }
    assert_eq!(get(port, "/", None).json()["error"], "not authorized");

    // Health needs no secret and shows none.
    let health = get(port, "/healthz", None);
    assert_eq!(health.status, 200, "{health:?}");
    let doc = health.json();
    assert_eq!(doc["state"], "serving");
    assert!(doc["expires_in_s"].as_u64().unwrap() > 0);
    let creds = ok.json();
    for key in ["AccessKeyId", "SecretAccessKey", "SessionToken"] {
        assert!(
            !health.body.contains(creds[key].as_str().unwrap()),
            "health leaks {key}"
        );
    }
    drop(daemon);
}

fn get_ok(port: u16) -> Option<HttpResponse> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.write_all(
        format!(
            "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nCognito-Api-Key: {SECRET}\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
    )
    .ok()?;
    read_response(&mut s).filter(|r| r.status == 200)
}

#[test]
fn http_credentials_unavailable_is_503_with_the_reason() {
    let emulator = Emulator::shared();
    let pool = Pool::seed(emulator, SeedOptions::default());
    let port = free_port();
    let daemon = DaemonCommand::serve(
        &emulator.url(),
        &[
            "-e",
            "-s",
            "http",
            "-H",
            "127.0.0.1",
            "-P",
            &port.to_string(),
            "--allow-no-secret",
        ],
    )
    .envs(pool.env())
    .env("COGNITO_PASSWORD", "not-the-password-1")
    .start();
    daemon.wait_for_log("NotAuthorizedException", START);
    let response = get(port, "/", None);
    assert_eq!(response.status, 503, "{response:?}");
    let error = response.json()["error"].as_str().unwrap().to_owned();
    assert!(
        error.starts_with("credentials unavailable: ") && error.contains("NotAuthorizedException"),
        "{error}"
    );
    let health = get(port, "/healthz", None);
    assert_eq!(health.status, 503);
    assert_eq!(health.json()["state"], "unavailable");
    assert!(health.json()["last_error"]
        .as_str()
        .unwrap()
        .contains("NotAuthorizedException"));
}

#[test]
fn http_keep_alive_caps_and_timeouts() {
    let emulator = Emulator::shared();
    let pool = Pool::seed(emulator, SeedOptions::default());
    let port = free_port();
    let daemon = DaemonCommand::serve(
        &emulator.url(),
        &[
            "-e",
            "-s",
            "http",
            "-H",
            "127.0.0.1",
            "-P",
            &port.to_string(),
            "--allow-no-secret",
        ],
    )
    .envs(pool.env())
    .start();
    let deadline = Instant::now() + START;
    loop {
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
            s.write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                .unwrap();
            if read_response(&mut s).is_some_and(|r| r.status == 200) {
                break;
            }
        }
        assert!(Instant::now() < deadline, "never ready:\n{}", daemon.log());
        std::thread::sleep(Duration::from_millis(50));
    }

    // Keep-alive: three requests on one connection.
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    for _ in 0..3 {
        s.write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            .unwrap();
        let response = read_response(&mut s).expect("keep-alive response");
        assert_eq!(response.status, 200);
    }

    // An oversized request head is refused.
    let big = format!(
        "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: {}\r\n\r\n",
        "a".repeat(64 * 1024)
    );
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = s.write_all(big.as_bytes());
    let response = read_response(&mut s).expect("a 431 response");
    assert_eq!(response.status, 431, "{response:?}");

    // A client that sends half a request head is cut off by the header timeout.
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .unwrap();
    let started = Instant::now();
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(4) && waited < Duration::from_secs(12),
        "cut off after {waited:?}"
    );
    assert!(!String::from_utf8_lossy(&rest).contains("AccessKeyId"));
    drop(daemon);
}

#[test]
fn localhost_listens_on_both_loopbacks() {
    let emulator = Emulator::shared();
    let pool = Pool::seed(emulator, SeedOptions::default());
    let port = free_port();
    let daemon = DaemonCommand::serve(
        &emulator.url(),
        &[
            "-e",
            "-s",
            "tcp",
            "-H",
            "localhost",
            "-P",
            &port.to_string(),
            "--allow-no-secret",
        ],
    )
    .envs(pool.env())
    .start();
    let deadline = Instant::now() + START;
    for address in ["127.0.0.1", "::1"] {
        loop {
            if let Ok(mut s) = TcpStream::connect((address, port)) {
                let mut out = String::new();
                s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                s.read_to_string(&mut out).unwrap();
                if out.contains("AccessKeyId") {
                    break;
                }
            }
            assert!(
                Instant::now() < deadline,
                "nothing on {address}:{port}:\n{}",
                daemon.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    drop(daemon);
}

/// Issue 15, point 9: listening on an address that is not a loopback one is warned about at
/// start, with the fix; the default loopback addresses are not.
#[test]
fn a_non_loopback_host_is_warned_about_at_start() {
    let emulator = Emulator::shared();
    let pool = Pool::seed(emulator, SeedOptions::default());
    let warning = "not a loopback one";
    for (host, warned) in [("0.0.0.0", true), ("127.0.0.1", false)] {
        let port = free_port();
        let daemon = DaemonCommand::serve(
            &emulator.url(),
            &["-e", "-s", "tcp", "-H", host, "-P", &port.to_string()],
        )
        .envs(pool.env())
        .start();
        daemon.wait_for_log("listening", Duration::from_secs(20));
        let (status, log) = daemon.stop();
        assert!(status.success(), "{log}");
        let log = strip_ansi(&log);
        assert_eq!(log.contains(warning), warned, "{host}: {log}");
        if warned {
            assert!(log.contains("listen on 127.0.0.1 (-H)"), "{log}");
        }
    }
}
