//! Hostile input on every transport, with a shared secret configured: oversized, malformed and
//! binary input, and HTTP request smuggling. Each gets a clear refusal (the raw protocol's
//! `not authorized`, an HTTP 4xx, or a closed connection) and never a credential, and after each
//! one the daemon still serves a correct client.
//!
//! Every hostile request that can carry the right secret does, so that "no credential" means the
//! daemon refused the input itself, not merely a missing secret.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::*;

const SECRET: &str = "hostile-input-s3cret";
const NOT_AUTHORIZED: &[u8] = b"{\"error\":\"not authorized\"}\n";
/// How long a client waits for the daemon to finish: longer than every daemon timeout a hostile
/// input can run into (2 s secret line, 5 s HTTP head), so a reply cut short by it is a finding.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(15);

/// A daemon serving unix, tcp and http with the shared secret, and the credentials it serves.
struct Served {
    daemon: Daemon,
    socket: PathBuf,
    tcp: u16,
    http: u16,
    /// The key id, secret key and session token being served, looked for in every hostile reply.
    keys: Vec<String>,
    _dir: tempfile::TempDir,
}

fn start() -> Served {
    let emulator = Emulator::shared();
    let pool = Pool::seed(emulator, SeedOptions::default());
    let EveryTransport {
        daemon,
        socket,
        tcp,
        http,
        credentials: doc,
        dir,
        ..
    } = EveryTransport::start(emulator, &pool, SECRET, &[("RUST_LOG", "info")]);
    let keys = ["AccessKeyId", "SecretAccessKey", "SessionToken"]
        .iter()
        .map(|k| doc[k].as_str().unwrap().to_owned())
        .collect();
    let served = Served {
        daemon,
        socket,
        tcp,
        http,
        keys,
        _dir: dir,
    };
    served.assert_serves_everywhere();
    served
}

/// A raw-protocol listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Raw {
    Unix,
    Tcp,
}

/// How reading a reply ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ended {
    /// The daemon closed the connection.
    Closed,
    /// The daemon closed it with our input still unread, and the kernel reported a reset.
    Reset,
    /// Still open after [`CLIENT_TIMEOUT`].
    StillOpen,
    /// Another read error.
    Failed(ErrorKind),
}

/// Everything one connection got back.
#[derive(Debug)]
struct Reply {
    bytes: Vec<u8>,
    ended: Ended,
}

impl Reply {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }
}

/// A connected stream of either family.
trait Duplex: Read + Write + Send {
    fn writer(&self) -> Box<dyn Duplex>;
    fn shut(&self, how: Shutdown);
}

impl Duplex for UnixStream {
    fn writer(&self) -> Box<dyn Duplex> {
        Box::new(self.try_clone().unwrap())
    }
    fn shut(&self, how: Shutdown) {
        let _ = self.shutdown(how);
    }
}

impl Duplex for TcpStream {
    fn writer(&self) -> Box<dyn Duplex> {
        Box::new(self.try_clone().unwrap())
    }
    fn shut(&self, how: Shutdown) {
        let _ = self.shutdown(how);
    }
}

/// Sends `send` (from a thread of its own, so that a daemon which stops reading cannot block us),
/// closes the write side when asked, and reads until the daemon closes.
fn exchange(mut stream: Box<dyn Duplex>, send: &[u8], close_write: bool) -> Reply {
    let mut writer = stream.writer();
    let send = send.to_vec();
    let sender = std::thread::spawn(move || {
        // The daemon may refuse and close before it has read everything: not our concern here.
        let _ = writer.write_all(&send);
        if close_write {
            writer.shut(Shutdown::Write);
        }
    });
    let deadline = Instant::now() + CLIENT_TIMEOUT;
    let mut bytes = Vec::new();
    let mut buf = [0u8; 4096];
    let ended = loop {
        match stream.read(&mut buf) {
            Ok(0) => break Ended::Closed,
            Ok(n) => bytes.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => break Ended::Reset,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                if Instant::now() >= deadline {
                    break Ended::StillOpen;
                }
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => break Ended::Failed(e.kind()),
        }
    };
    // Unblocks the sender should the daemon have stopped reading without closing.
    stream.shut(Shutdown::Both);
    let _ = sender.join();
    Reply { bytes, ended }
}

impl Served {
    fn connect_raw(&self, raw: Raw) -> Box<dyn Duplex> {
        match raw {
            Raw::Unix => {
                let s = UnixStream::connect(&self.socket).unwrap();
                s.set_read_timeout(Some(Duration::from_millis(500)))
                    .unwrap();
                Box::new(s)
            }
            Raw::Tcp => self.connect_tcp(self.tcp),
        }
    }

    fn connect_tcp(&self, port: u16) -> Box<dyn Duplex> {
        let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        Box::new(s)
    }

    fn raw(&self, raw: Raw, send: &[u8], close_write: bool) -> Reply {
        exchange(self.connect_raw(raw), send, close_write)
    }

    fn http(&self, send: &[u8], close_write: bool) -> Reply {
        exchange(self.connect_tcp(self.http), send, close_write)
    }

    /// No credential, nor any piece of the ones being served, in `reply`.
    fn assert_no_credential(&self, reply: &Reply, what: &str) {
        let text = reply.text();
        for needle in ["AccessKeyId", "SecretAccessKey", "SessionToken"]
            .iter()
            .copied()
            .chain(self.keys.iter().map(String::as_str))
        {
            assert!(
                !text.contains(needle),
                "{what}: the reply holds {needle:.20}: {text:.300}"
            );
        }
    }

    /// A correct client on one raw listener gets valid credentials.
    fn assert_raw_serves(&self, raw: Raw) {
        let reply = self.raw(raw, format!("{SECRET}\n").as_bytes(), false);
        let doc: serde_json::Value = serde_json::from_slice(&reply.bytes)
            .unwrap_or_else(|e| panic!("{raw:?} after hostile input: {e}: {:?}", reply.text()));
        assert_process_credentials(&doc);
    }

    /// A correct client on the http listener gets valid credentials.
    fn assert_http_serves(&self) {
        let reply = self.http(&good_request("/"), false);
        let (responses, _) = parse_responses(&reply.bytes);
        assert_eq!(responses.len(), 1, "{reply:?}");
        assert_eq!(responses[0].status, 200, "{reply:?}");
        let doc: serde_json::Value = serde_json::from_slice(&responses[0].body).unwrap();
        assert_process_credentials(&doc);
    }

    fn assert_serves_everywhere(&self) {
        self.assert_raw_serves(Raw::Unix);
        self.assert_raw_serves(Raw::Tcp);
        self.assert_http_serves();
    }

    /// Stops the daemon: it exits cleanly and never panicked.
    fn finish(self) {
        let (status, log) = self.daemon.stop();
        assert!(status.success(), "{log}");
        assert!(!log.contains("panicked"), "{log}");
    }
}

/// A correct request (closing the connection after the answer).
fn good_request(path: &str) -> Vec<u8> {
    format!(
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nCognito-Api-Key: {SECRET}\r\nConnection: close\r\n\r\n"
    )
    .into_bytes()
}

/// A request head with the right Host and secret, the given extra header lines (each ending in
/// CRLF), and no Connection: close, so that a daemon fooled into reading a second request could
/// answer it on the same connection.
fn head_with(path: &str, extra: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nCognito-Api-Key: {SECRET}\r\n{extra}\r\n")
}

/// One HTTP response read back.
#[derive(Debug)]
struct Response {
    status: u16,
    head: String,
    body: Vec<u8>,
}

/// Splits a byte stream into the HTTP responses it holds (bodies by Content-Length, as the
/// daemon and hyper's error responses send them); returns them and whatever did not parse.
fn parse_responses(mut bytes: &[u8]) -> (Vec<Response>, Vec<u8>) {
    let mut responses = Vec::new();
    while let Some(end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
        let head = String::from_utf8_lossy(&bytes[..end]).into_owned();
        let Some(status) = head
            .strip_prefix("HTTP/1.")
            .and_then(|rest| rest.get(2..5))
            .and_then(|code| code.parse().ok())
        else {
            break;
        };
        let length: usize = head
            .lines()
            .filter_map(|l| l.split_once(':'))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
            .map_or(0, |(_, v)| v.trim().parse().unwrap());
        let body_start = end + 4;
        let body_end = (body_start + length).min(bytes.len());
        responses.push(Response {
            status,
            head,
            body: bytes[body_start..body_end].to_vec(),
        });
        bytes = &bytes[body_end..];
    }
    (responses, bytes.to_vec())
}

/// Deterministic pseudo-random bytes (xorshift), so a failure can be replayed.
fn garbage(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// The first bytes of a TLS ClientHello: what a client configured for https sends.
const TLS_HELLO: &[u8] = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\x00\x01\x02\x03\x04\x05";

/// Asserts the raw-protocol refusal: exactly `not authorized`, then the daemon closed. `lenient`
/// allows, for inputs far past the cap, a reset (our input left unread) that may cost the client
/// the refusal text.
fn assert_raw_refused(served: &Served, raw: Raw, reply: &Reply, what: &str, lenient: bool) {
    served.assert_no_credential(reply, what);
    if lenient && reply.ended == Ended::Reset {
        assert!(
            NOT_AUTHORIZED.starts_with(&reply.bytes),
            "{raw:?} {what}: {reply:?}"
        );
    } else {
        assert_eq!(
            reply.text(),
            String::from_utf8_lossy(NOT_AUTHORIZED),
            "{raw:?} {what}"
        );
        assert_eq!(reply.ended, Ended::Closed, "{raw:?} {what}");
    }
}

/// Secret lines past the 1 KiB cap, even ones that start with the secret or would be the secret
/// once trimmed, are refused on the unix socket and on tcp.
#[test]
fn overlong_secret_lines_are_refused_on_unix_and_tcp() {
    let served = start();
    let mut just_over = vec![b'a'; 1025];
    just_over.push(b'\n');
    let mut starts_with_secret = SECRET.as_bytes().to_vec();
    starts_with_secret.resize(2048, b'a');
    starts_with_secret.push(b'\n');
    // Trimming whitespace would leave exactly the secret: only the cap stops it.
    let padded = format!("{SECRET}{}\n", " ".repeat(1100)).into_bytes();
    let leading = format!("{}{SECRET}\n", " ".repeat(1100)).into_bytes();
    let no_newline = vec![b'a'; 4096];
    let mebibyte = vec![b'a'; 1 << 20];
    let cases: [(&str, &[u8], bool); 6] = [
        ("1025 bytes", &just_over, false),
        ("2 KiB starting with the secret", &starts_with_secret, false),
        ("the secret then 1100 spaces", &padded, false),
        ("1100 spaces then the secret", &leading, false),
        ("4 KiB without a newline", &no_newline, false),
        ("1 MiB without a newline", &mebibyte, true),
    ];
    for raw in [Raw::Unix, Raw::Tcp] {
        for (what, send, lenient) in cases {
            for close_write in [false, true] {
                let reply = served.raw(raw, send, close_write);
                println!(
                    "{raw:?} {what} (close write: {close_write}): {:?}, {:?}",
                    reply.text(),
                    reply.ended
                );
                assert_raw_refused(&served, raw, &reply, what, lenient);
                served.assert_raw_serves(raw);
            }
        }
    }
    served.assert_serves_everywhere();
    served.finish();
}

/// Invalid UTF-8, NUL bytes, binary garbage, a TLS handshake and an HTTP request in place of the
/// secret line are all refused with `not authorized`.
#[test]
fn invalid_utf8_and_binary_garbage_in_the_secret_line_are_refused() {
    let served = start();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("invalid UTF-8", b"\xff\xfe\xfd\xc3\x28\n".to_vec()),
        (
            "the secret then invalid UTF-8",
            [SECRET.as_bytes(), b"\xff\n"].concat(),
        ),
        (
            "invalid UTF-8 then the secret",
            [b"\xc0\xaf".as_slice(), SECRET.as_bytes(), b"\n"].concat(),
        ),
        (
            "the secret with a NUL inside",
            format!("{}\0{}\n", &SECRET[..4], &SECRET[4..]).into_bytes(),
        ),
        ("the secret then NUL", [SECRET.as_bytes(), b"\0\n"].concat()),
        ("a NUL line", b"\0\0\0\0\n".to_vec()),
        ("1000 bytes of garbage", garbage(1, 1000)),
        (
            "garbage without a newline",
            garbage(2, 900)
                .into_iter()
                .filter(|&b| b != b'\n')
                .collect(),
        ),
        ("a TLS ClientHello", TLS_HELLO.to_vec()),
        ("an HTTP request with the secret header", good_request("/")),
        (
            "the secret in UTF-16",
            SECRET
                .bytes()
                .flat_map(|b| [b, 0])
                .chain([b'\n', 0])
                .collect(),
        ),
    ];
    for raw in [Raw::Unix, Raw::Tcp] {
        for (what, send) in &cases {
            for close_write in [false, true] {
                let reply = served.raw(raw, send, close_write);
                assert_raw_refused(&served, raw, &reply, what, false);
            }
            served.assert_raw_serves(raw);
        }
    }
    served.assert_serves_everywhere();
    served.finish();
}

/// What the daemon should do with one hostile HTTP input.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// Exactly one response with this status, then the connection closes.
    Status(u16),
    /// One response with one of these statuses, or none at all; then the connection closes.
    RefusedOrClosed(&'static [u16]),
}

/// Sends one hostile HTTP input and checks the outcome: the expected refusal, no credential, no
/// second response, the connection closed; then a correct client is still served.
fn check_http(served: &Served, what: &str, send: &[u8], expect: Expect) {
    let reply = served.http(send, false);
    let (responses, rest) = parse_responses(&reply.bytes);
    let statuses: Vec<u16> = responses.iter().map(|r| r.status).collect();
    println!(
        "http {what}: statuses {statuses:?}, {:?}, {} unparsed bytes",
        reply.ended,
        rest.len()
    );
    served.assert_no_credential(&reply, what);
    assert!(rest.is_empty(), "{what}: unparsed reply {:?}", reply.text());
    assert!(
        matches!(reply.ended, Ended::Closed | Ended::Reset),
        "{what}: connection {:?} after {statuses:?}",
        reply.ended
    );
    match expect {
        Expect::Status(status) => assert_eq!(statuses, [status], "{what}: {reply:?}"),
        Expect::RefusedOrClosed(allowed) => assert!(
            statuses.is_empty() || (statuses.len() == 1 && allowed.contains(&statuses[0])),
            "{what}: {statuses:?} {reply:?}"
        ),
    }
    // The daemon's own refusals say why, as JSON; hyper's parse errors have no body.
    for response in &responses {
        if !response.body.is_empty() {
            let doc: serde_json::Value = serde_json::from_slice(&response.body)
                .unwrap_or_else(|e| panic!("{what}: {e}: {:?}", response.head));
            assert!(doc["error"].is_string(), "{what}: {doc}");
        }
    }
    served.assert_http_serves();
}

/// Heads, paths and bodies past the caps: 431 for a head over 8 KiB (or too many headers), a
/// refusal for an overlong path, 413 for any body on GET however it is announced.
#[test]
fn oversized_http_heads_paths_and_bodies_are_refused() {
    let served = start();
    let big_header = head_with("/", &format!("X-Big: {}\r\n", "a".repeat(9 * 1024)));
    check_http(
        &served,
        "a 9 KiB header",
        big_header.as_bytes(),
        Expect::Status(431),
    );
    let huge_header = head_with("/", &format!("X-Big: {}\r\n", "a".repeat(1 << 20)));
    check_http(
        &served,
        "a 1 MiB header",
        huge_header.as_bytes(),
        Expect::RefusedOrClosed(&[431]),
    );
    let many: String = (0..100).map(|i| format!("X-H{i}: v\r\n")).collect();
    check_http(
        &served,
        "100 headers",
        head_with("/", &many).as_bytes(),
        Expect::Status(431),
    );
    let long_path = format!("/{}", "p".repeat(9 * 1024));
    check_http(
        &served,
        "a 9 KiB path",
        head_with(&long_path, "").as_bytes(),
        Expect::RefusedOrClosed(&[414, 431]),
    );
    let longer_path = format!("/{}", "p".repeat(70 * 1024));
    check_http(
        &served,
        "a 70 KiB path",
        head_with(&longer_path, "").as_bytes(),
        Expect::RefusedOrClosed(&[414, 431]),
    );
    // Long but within the head cap: an unknown route.
    let path = format!("/{}", "p".repeat(6 * 1024));
    check_http(
        &served,
        "a 6 KiB path",
        head_with(&path, "").as_bytes(),
        Expect::Status(404),
    );

    let with_body = format!("{}hello", head_with("/", "Content-Length: 5\r\n"));
    check_http(
        &served,
        "a body on GET",
        with_body.as_bytes(),
        Expect::Status(413),
    );
    let ecs_body = "GET /ecs HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: hostile-input-s3cret\r\nContent-Length: 5\r\n\r\nhello";
    check_http(
        &served,
        "a body on GET /ecs",
        ecs_body.as_bytes(),
        Expect::Status(413),
    );
    let announced = head_with("/", "Content-Length: 1000000000000000000\r\n");
    check_http(
        &served,
        "Content-Length 10^18, no body sent",
        announced.as_bytes(),
        Expect::Status(413),
    );
    let mut streamed = head_with("/", "Content-Length: 16777216\r\n").into_bytes();
    streamed.extend(vec![b'b'; 1 << 20]);
    check_http(
        &served,
        "Content-Length 16 MiB, 1 MiB of it sent",
        &streamed,
        Expect::Status(413),
    );
    let overflow = head_with("/", "Content-Length: 99999999999999999999999\r\n");
    check_http(
        &served,
        "Content-Length beyond u64",
        overflow.as_bytes(),
        Expect::Status(400),
    );
    let negative = head_with("/", "Content-Length: -1\r\n");
    check_http(
        &served,
        "Content-Length -1",
        negative.as_bytes(),
        Expect::Status(400),
    );
    let chunked = format!(
        "{}5\r\nhello\r\n0\r\n\r\n",
        head_with("/", "Transfer-Encoding: chunked\r\n")
    );
    check_http(
        &served,
        "a chunked body on GET",
        chunked.as_bytes(),
        Expect::Status(413),
    );
    served.finish();
}

/// Malformed requests: invalid UTF-8 in the path or in header values, NUL bytes, binary garbage,
/// a TLS handshake, the raw protocol's secret line, HTTP/2 and unknown versions on the http port.
#[test]
fn malformed_http_requests_are_refused() {
    let served = start();
    let bad_path = [
        b"GET /\xff\xfe HTTP/1.1\r\nHost: 127.0.0.1\r\nCognito-Api-Key: ".as_slice(),
        SECRET.as_bytes(),
        b"\r\n\r\n",
    ]
    .concat();
    check_http(
        &served,
        "invalid UTF-8 in the path",
        &bad_path,
        Expect::RefusedOrClosed(&[400]),
    );
    let bad_secret = [head_with("/", "").trim_end().as_bytes(), b"\xff\r\n\r\n"].concat();
    check_http(
        &served,
        "invalid UTF-8 after the secret",
        &bad_secret,
        Expect::Status(401),
    );
    let bad_host = [
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1\xff\r\nCognito-Api-Key: ".as_slice(),
        SECRET.as_bytes(),
        b"\r\n\r\n",
    ]
    .concat();
    check_http(
        &served,
        "invalid UTF-8 in Host",
        &bad_host,
        Expect::Status(403),
    );
    let bad_name = [
        head_with("/", "").trim_end().as_bytes(),
        b"\r\nX-\xff: v\r\n\r\n",
    ]
    .concat();
    check_http(
        &served,
        "invalid UTF-8 in a header name",
        &bad_name,
        Expect::RefusedOrClosed(&[400]),
    );
    let nul = [
        head_with("/", "").trim_end().as_bytes(),
        b"\r\nX-A: a\0b\r\n\r\n",
    ]
    .concat();
    check_http(
        &served,
        "NUL in a header value",
        &nul,
        Expect::RefusedOrClosed(&[400]),
    );
    let no_colon = head_with("/", "Not a header line\r\n");
    check_http(
        &served,
        "a header without colon",
        no_colon.as_bytes(),
        Expect::RefusedOrClosed(&[400]),
    );
    check_http(
        &served,
        "1000 bytes of garbage",
        &garbage(3, 1000),
        Expect::RefusedOrClosed(&[400]),
    );
    let mut garbage_head = garbage(4, 2000);
    garbage_head.extend_from_slice(b"\r\n\r\n");
    check_http(
        &served,
        "garbage ending like a head",
        &garbage_head,
        Expect::RefusedOrClosed(&[400]),
    );
    check_http(
        &served,
        "a TLS ClientHello",
        TLS_HELLO,
        Expect::RefusedOrClosed(&[400]),
    );
    check_http(
        &served,
        "the raw protocol's secret line",
        format!("{SECRET}\n").as_bytes(),
        Expect::RefusedOrClosed(&[400]),
    );
    check_http(
        &served,
        "the HTTP/2 preface",
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00",
        Expect::RefusedOrClosed(&[400, 505]),
    );
    let future = format!("GET / HTTP/9.9\r\nHost: 127.0.0.1\r\nCognito-Api-Key: {SECRET}\r\n\r\n");
    check_http(
        &served,
        "HTTP/9.9",
        future.as_bytes(),
        Expect::RefusedOrClosed(&[400, 505]),
    );
    check_http(
        &served,
        "HTTP/0.9",
        b"GET /\r\n\r\n",
        Expect::RefusedOrClosed(&[400]),
    );
    let lowercase =
        format!("get / HTTP/1.1\r\nHost: 127.0.0.1\r\nCognito-Api-Key: {SECRET}\r\n\r\n");
    check_http(
        &served,
        "a lowercase method",
        lowercase.as_bytes(),
        Expect::Status(405),
    );
    served.assert_serves_everywhere();
    served.finish();
}

/// A complete request with the secret, to hide where a fooled parser would find a second request.
fn hidden_request() -> String {
    head_with("/", "")
}

/// Request smuggling: a request hidden in a body, behind conflicting lengths, a junk chunked
/// body or a folded header is never parsed, let alone answered; each input gets one refusal and
/// the connection is closed.
#[test]
fn http_request_smuggling_is_refused() {
    let served = start();
    let hidden = hidden_request();

    // The harness sees a second answer when there is one: two pipelined requests, both answered.
    let pipelined = format!(
        "{}{}",
        hidden,
        String::from_utf8(good_request("/")).unwrap()
    );
    let reply = served.http(pipelined.as_bytes(), false);
    let (responses, rest) = parse_responses(&reply.bytes);
    assert_eq!(
        responses.iter().map(|r| r.status).collect::<Vec<_>>(),
        [200, 200],
        "{reply:?}"
    );
    assert!(rest.is_empty() && reply.ended == Ended::Closed, "{reply:?}");

    let cl_te = format!(
        "{}0\r\n\r\n{hidden}",
        head_with("/", "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n")
    );
    check_http(
        &served,
        "Content-Length then Transfer-Encoding",
        cl_te.as_bytes(),
        Expect::RefusedOrClosed(&[400, 413]),
    );
    let te_cl = format!(
        "{}0\r\n\r\n{hidden}",
        head_with("/", "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n")
    );
    check_http(
        &served,
        "Transfer-Encoding then Content-Length",
        te_cl.as_bytes(),
        Expect::RefusedOrClosed(&[400, 413]),
    );
    let two_lengths = format!(
        "{}{hidden}",
        head_with(
            "/",
            &format!("Content-Length: 0\r\nContent-Length: {}\r\n", hidden.len())
        )
    );
    check_http(
        &served,
        "two different Content-Lengths",
        two_lengths.as_bytes(),
        Expect::RefusedOrClosed(&[400]),
    );
    let two_lengths_reversed = format!(
        "{}{hidden}",
        head_with(
            "/",
            &format!("Content-Length: {}\r\nContent-Length: 0\r\n", hidden.len())
        )
    );
    check_http(
        &served,
        "two different Content-Lengths, longer first",
        two_lengths_reversed.as_bytes(),
        Expect::RefusedOrClosed(&[400]),
    );
    let length_list = format!(
        "{}{hidden}",
        head_with("/", &format!("Content-Length: 0, {}\r\n", hidden.len()))
    );
    check_http(
        &served,
        "a Content-Length list",
        length_list.as_bytes(),
        Expect::RefusedOrClosed(&[400]),
    );
    let junk_chunks = format!(
        "{}zz\r\njunk\r\n0\r\n\r\n{hidden}",
        head_with("/", "Transfer-Encoding: chunked\r\n")
    );
    check_http(
        &served,
        "chunked with a junk chunk size",
        junk_chunks.as_bytes(),
        Expect::RefusedOrClosed(&[400, 413]),
    );
    let empty_chunked = format!(
        "{}0\r\n\r\n{hidden}",
        head_with("/", "Transfer-Encoding: chunked\r\n")
    );
    check_http(
        &served,
        "chunked, an empty body, then a request",
        empty_chunked.as_bytes(),
        Expect::RefusedOrClosed(&[400, 413]),
    );
    for te in [
        "chunked, identity",
        "identity",
        "xchunked",
        "chunked\r\nTransfer-Encoding: identity",
        "\tchunked",
    ] {
        let send = format!(
            "{}0\r\n\r\n{hidden}",
            head_with("/", &format!("Transfer-Encoding: {te}\r\n"))
        );
        check_http(
            &served,
            &format!("Transfer-Encoding: {te:?}"),
            send.as_bytes(),
            Expect::RefusedOrClosed(&[400, 413]),
        );
    }
    let space_before_colon = format!(
        "{}0\r\n\r\n{hidden}",
        head_with("/", "Transfer-Encoding : chunked\r\n")
    );
    check_http(
        &served,
        "Transfer-Encoding with a space before the colon",
        space_before_colon.as_bytes(),
        Expect::RefusedOrClosed(&[400]),
    );
    let folded = head_with("/", "X-Folded: a\r\n b\r\n");
    check_http(
        &served,
        "an obsolete folded header",
        folded.as_bytes(),
        Expect::RefusedOrClosed(&[400]),
    );
    let folded_te = format!(
        "{}0\r\n\r\n{hidden}",
        head_with("/", "Transfer-Encoding: identity\r\n chunked\r\n")
    );
    check_http(
        &served,
        "a folded Transfer-Encoding",
        folded_te.as_bytes(),
        Expect::RefusedOrClosed(&[400, 413]),
    );
    let folded_length = format!(
        "{}{hidden}",
        head_with("/", &format!("Content-Length: 0\r\n {}\r\n", hidden.len()))
    );
    check_http(
        &served,
        "a folded Content-Length",
        folded_length.as_bytes(),
        Expect::RefusedOrClosed(&[400]),
    );
    let in_body = format!(
        "{}{hidden}",
        head_with("/", &format!("Content-Length: {}\r\n", hidden.len()))
    );
    check_http(
        &served,
        "a request hidden in a body",
        in_body.as_bytes(),
        Expect::Status(413),
    );
    let post_body = format!(
        "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nCognito-Api-Key: {SECRET}\r\nContent-Length: {}\r\n\r\n{hidden}",
        hidden.len()
    );
    check_http(
        &served,
        "a request hidden in a POST body",
        post_body.as_bytes(),
        Expect::Status(413),
    );
    let bare_cr = format!("GET / HTTP/1.1\r\nHost: 127.0.0.1\rCognito-Api-Key: {SECRET}\r\n\r\n");
    check_http(
        &served,
        "a bare CR in the head",
        bare_cr.as_bytes(),
        Expect::RefusedOrClosed(&[400]),
    );
    served.assert_serves_everywhere();
    served.finish();
}

/// Legitimate but unusual clients, noted: an HTTP/1.0 request (without Host) is answered and
/// closed; a client that shuts down its write side after a complete head gets either the whole
/// answer or none (see the next test), one that shuts down in the middle of the head gets none.
/// On the raw listeners a secret ended by the end of the stream instead of a newline is
/// answered, part of one is refused.
#[test]
fn http_1_0_and_half_closed_requests() {
    let served = start();
    let http_1_0 = format!("GET / HTTP/1.0\r\nCognito-Api-Key: {SECRET}\r\n\r\n");
    let reply = served.http(http_1_0.as_bytes(), false);
    let (responses, _) = parse_responses(&reply.bytes);
    println!(
        "http HTTP/1.0 without Host: {:?}, {:?}",
        responses.iter().map(|r| &r.head).collect::<Vec<_>>(),
        reply.ended
    );
    assert_eq!(responses.len(), 1, "{reply:?}");
    assert!(responses[0].head.starts_with("HTTP/1.0 200"), "{reply:?}");
    assert_process_credentials(&serde_json::from_slice(&responses[0].body).unwrap());
    assert_eq!(reply.ended, Ended::Closed, "HTTP/1.0 is not kept alive");

    let reply = served.http(b"GET / HTTP/1.0\r\n\r\n", false);
    let (responses, _) = parse_responses(&reply.bytes);
    assert_eq!(
        responses.iter().map(|r| r.status).collect::<Vec<_>>(),
        [401],
        "{reply:?}"
    );
    served.assert_no_credential(&reply, "HTTP/1.0 without the secret");

    let (answered, dropped) = half_close_after_the_head(&served, 20);
    println!("http head then write side shut: {answered} of 20 answered, {dropped} dropped");

    let half = format!("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nCognito-Api-Key: {SECRET}\r\n");
    let reply = served.http(half.as_bytes(), true);
    println!(
        "http half a head then write side shut: {:?}, {:?}",
        reply.text(),
        reply.ended
    );
    served.assert_no_credential(&reply, "half a head, then EOF");
    assert!(
        matches!(reply.ended, Ended::Closed | Ended::Reset),
        "{reply:?}"
    );

    for raw in [Raw::Unix, Raw::Tcp] {
        let reply = served.raw(raw, SECRET.as_bytes(), true);
        assert_process_credentials(&serde_json::from_slice(&reply.bytes).unwrap());
        let reply = served.raw(raw, &SECRET.as_bytes()[..5], true);
        assert_raw_refused(&served, raw, &reply, "part of the secret, then EOF", false);
    }
    served.assert_serves_everywhere();
    served.finish();
}

/// Sends a complete request and shuts down the write side at once, `times` times; every reply
/// must be either the whole answer or nothing. Returns how many were answered and dropped.
fn half_close_after_the_head(served: &Served, times: usize) -> (usize, usize) {
    let (mut answered, mut dropped) = (0, 0);
    for _ in 0..times {
        let reply = served.http(hidden_request().as_bytes(), true);
        let (responses, rest) = parse_responses(&reply.bytes);
        assert!(rest.is_empty(), "{reply:?}");
        assert!(matches!(reply.ended, Ended::Closed), "{reply:?}");
        match responses.iter().map(|r| r.status).collect::<Vec<_>>()[..] {
            [] => dropped += 1,
            [200] => {
                assert_process_credentials(&serde_json::from_slice(&responses[0].body).unwrap());
                answered += 1;
            }
            _ => panic!("{reply:?}"),
        }
    }
    (answered, dropped)
}

/// A client that shuts down its write side once its request is sent (`nc -N`, socat, scripts
/// calling shutdown(SHUT_WR)) is answered, as the raw listeners answer it.
#[test]
fn an_http_request_followed_by_a_half_close_is_answered() {
    let served = start();
    let (answered, dropped) = half_close_after_the_head(&served, 50);
    assert_eq!((answered, dropped), (50, 0));
    served.finish();
}

/// The Host check cannot be sidestepped: a second Host header (RFC 9112 3.2: a request with
/// more than one is refused) or an absolute request target naming another host (whose authority
/// replaces Host, RFC 9112 3.2.2) is refused like a foreign Host.
#[test]
fn a_second_host_or_a_foreign_absolute_target_is_refused() {
    let served = start();
    let cases = [
        (
            "a foreign second Host",
            head_with("/", "Host: evil.example\r\n"),
        ),
        (
            "an absolute target naming another host",
            format!(
                "GET http://evil.example/ HTTP/1.1\r\nHost: 127.0.0.1\r\nCognito-Api-Key: {SECRET}\r\n\r\n"
            ),
        ),
    ];
    for (what, send) in cases {
        check_http(
            &served,
            what,
            send.as_bytes(),
            Expect::RefusedOrClosed(&[400, 403]),
        );
    }
    served.finish();
}

/// Whether /proc/net/tcp lists an established IPv4 connection from port `local` to port `remote`.
fn established(local: u16, remote: u16) -> bool {
    let port =
        |address: &str| u16::from_str_radix(address.rsplit(':').next().unwrap(), 16).unwrap();
    std::fs::read_to_string("/proc/net/tcp")
        .unwrap()
        .lines()
        .skip(1)
        .any(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            port(fields[1]) == local && port(fields[2]) == remote && fields[3] == "01"
        })
}

/// Issue 15, point 7: a client that pipelines requests and never reads the answers is cut off
/// when the connection's 60 s lifetime ends, like any other. Before the fix the daemon began a
/// graceful close at 60 s that waited for a write that could never finish: the connection was
/// still established at 67 s, and would have stayed so.
#[test]
fn an_http_client_that_never_reads_is_cut_off_when_the_lifetime_ends() {
    let served = start();
    let mut s = TcpStream::connect(("127.0.0.1", served.http)).unwrap();
    let opened = Instant::now();
    let client_port = s.local_addr().unwrap().port();
    s.set_write_timeout(Some(Duration::from_secs(1))).unwrap();
    let request = format!("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nCognito-Api-Key: {SECRET}\r\n\r\n");
    // Until both directions are full: the daemon can write no more answers, so reads no more.
    let mut sent = 0u64;
    while s.write_all(request.as_bytes()).is_ok() {
        sent += 1;
        assert!(
            sent < 10_000_000,
            "the daemon never stopped taking requests"
        );
    }
    println!("{sent} requests sent before the connection filled up");
    assert!(established(served.http, client_port));
    let limit = Duration::from_secs(60);
    let deadline = opened + limit + Duration::from_secs(10);
    while established(served.http, client_port) {
        assert!(
            Instant::now() < deadline,
            "still established {:?} after it opened",
            opened.elapsed()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let closed_after = opened.elapsed();
    println!("closed by the daemon {closed_after:?} after it opened");
    assert!(
        closed_after >= limit - Duration::from_secs(5),
        "{closed_after:?}"
    );
    drop(s);
    served.assert_serves_everywhere();
}

/// Issue 15, point 9: an HTTP/1.1 request without a Host header gets the 400 RFC 9112 requires
/// (before the fix it was served); HTTP/1.0, where Host is optional, is still answered.
#[test]
fn an_http_1_1_request_without_host_is_refused_with_400() {
    let served = start();
    for close_write in [false, true] {
        let request =
            format!("GET / HTTP/1.1\r\nCognito-Api-Key: {SECRET}\r\nConnection: close\r\n\r\n");
        let reply = served.http(request.as_bytes(), close_write);
        let text = reply.text();
        assert!(text.starts_with("HTTP/1.1 400 "), "{text}");
        assert!(text.contains("Host header"), "{text}");
        served.assert_no_credential(&reply, "HTTP/1.1 without Host");
    }
    let reply = served.http(
        format!("GET / HTTP/1.0\r\nCognito-Api-Key: {SECRET}\r\n\r\n").as_bytes(),
        false,
    );
    assert!(reply.text().contains("SessionToken"), "{}", reply.text());
    served.assert_serves_everywhere();
}
