//! Hardening, end to end in a real systemd (issue 8): a clean `systemctl restart` under load
//! refuses nobody and answers what the old process had accepted; the unix socket's allow-lists
//! with real users; no secret on any disk the service can write nor in the journal, across every
//! transport and refusal path at RUST_LOG=trace; the running service can be neither dumped nor
//! traced.
//!
//! Each test boots its own box (tests/systemd_box), installs the built binary with
//! `cognitod install --enable` and points it at the shared Cognito emulator on the host's
//! loopback. What runs inside the box is a few Python scripts below (the box has python3, and no
//! network to install anything else). Needs root.

mod common;
mod systemd_box;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::Path;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use cognitod::protocol::NOT_AUTHORIZED_LINE as NOT_AUTHORIZED;
use cognitod::serve::raw::{MAX_SECRET_LINE, SECRET_READ_TIMEOUT};
use common::*;
use serde_json::{json, Value};
use systemd_box::SystemdBox;

const SOCKET: &str = "/run/cognitod.sock";
const UNIT: &str = "cognitod.service";
/// Where the scripts go inside the box: outside /root and /home, which the service's sandbox hides
/// (the scanner also runs in the service's mount namespace), and readable by every user.
const SCRIPTS: &str = "/usr/local/lib/cognitod-test";
/// How long a freshly activated service may take to sign in.
const SIGN_IN: Duration = Duration::from_secs(30);

/// The restart test measures what clients wait for: it runs alone, the others side by side.
static TIMING: RwLock<()> = RwLock::new(());

/// One raw-protocol request from inside the box, so that the peer is a real local process.
const ASK_PY: &str = r#"
"""One raw-protocol request on a unix socket: send stdin's bytes, then close our writing
side ("close") or keep it open ("open", so the daemon has to time out), and print the answer.

    python3 ask.py SOCKET close|open
"""
import socket
import sys

s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(20)
s.connect(sys.argv[1])
data = sys.stdin.buffer.read()
if data:
    s.sendall(data)
if sys.argv[2] == "close":
    s.shutdown(socket.SHUT_WR)
answer = b""
try:
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        answer += chunk
except ConnectionResetError:
    answer += b"<reset>"
sys.stdout.buffer.write(answer)
"#;

/// Clients that keep asking for the whole run; records how every attempt ended.
const LOAD_PY: &str = r#"
"""N clients keep asking a unix socket (with the shared secret) for S seconds.

    python3 load.py SOCKET CLIENTS SECONDS SECRET

Prints JSON: attempts, outcomes (served / refused: nobody listening / reset / no_answer: the
connection closed or timed out with nothing sent back / error_answer / garbled), the error
answers' texts, and the longest attempt in ms.
"""
import collections
import json
import socket
import sys
import threading
import time


def attempt(path, secret):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(20)
    try:
        s.connect(path)
    except (ConnectionRefusedError, FileNotFoundError):
        return "refused", None
    except OSError as e:
        return "connect_errno_%d" % e.errno, None
    data = b""
    try:
        s.sendall(secret + b"\n")
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except (ConnectionResetError, BrokenPipeError):
        return "reset", None
    except socket.timeout:
        return "no_answer", None
    finally:
        s.close()
    if not data:
        return "no_answer", None
    try:
        doc = json.loads(data)
    except ValueError:
        return "garbled", None
    if "AccessKeyId" in doc:
        return "served", None
    return "error_answer", str(doc.get("error"))


def main():
    path, clients, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    secret = sys.argv[4].encode()
    outcomes, errors = collections.Counter(), collections.Counter()
    longest = [0.0]
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client():
        while time.monotonic() < deadline:
            started = time.monotonic()
            outcome, error = attempt(path, secret)
            took = time.monotonic() - started
            with lock:
                outcomes[outcome] += 1
                if error:
                    errors[error] += 1
                longest[0] = max(longest[0], took)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(json.dumps({"attempts": sum(outcomes.values()), "outcomes": outcomes,
                      "errors": errors, "longest_ms": round(longest[0] * 1000)}))


main()
"#;

/// Connections the old process has accepted, completed only once it has begun to stop.
const STRAGGLERS_PY: &str = r#"
"""Opens COUNT connections of each kind (unix, tcp, http), waits until the running daemon
has accepted every one (ss shows their server ends open in its process), starts
`systemctl restart`, waits until the old process has logged that it is stopping, and only then
sends the requests. The new process cannot answer a connection the old one accepted: an answer
proves the old one drained it.

    python3 stragglers.py SOCKET TCP_PORT HTTP_PORT SECRET COUNT KINDS (e.g. unix,tcp,http)

Prints JSON.
"""
import json
import os
import socket
import subprocess
import sys
import time

UNIT = "cognitod.service"


def run(*cmd):
    return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout


def main_pid():
    return int(run("systemctl", "show", "-p", "MainPID", "--value", UNIT).strip())


def server_ends(pid):
    """The client ends (socket inode for unix, port for tcp) of the connections pid holds."""
    ends = set()
    for line in run("ss", "-xtnpH").splitlines():
        f = line.split()
        if "pid=%d," % pid not in line or len(f) < 6:
            continue
        if f[0] == "u_str" and len(f) >= 8:
            ends.add("unix:" + f[7])
        elif f[0] == "tcp":
            ends.add("tcp:" + f[5].rsplit(":", 1)[1])
    return ends


def connect(kind, path, ports):
    if kind == "unix":
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(path)
        end = "unix:%d" % os.fstat(s.fileno()).st_ino
    else:
        s = socket.create_connection(("127.0.0.1", ports[kind]))
        end = "tcp:%d" % s.getsockname()[1]
    s.settimeout(20)
    return s, end


def request(kind, secret):
    if kind == "http":
        return (b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nCognito-Api-Key: " + secret
                + b"\r\nConnection: close\r\n\r\n")
    return secret + b"\n"


def answer(s):
    data = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except ConnectionResetError:
        return "reset"
    except socket.timeout:
        return "timeout"
    if not data:
        return "no_answer"
    if b"AccessKeyId" in data:
        return "served"
    return "other: " + data[-300:].decode("utf-8", "replace")


def main():
    path, secret, count = sys.argv[1], sys.argv[4].encode(), int(sys.argv[5])
    ports = {"tcp": int(sys.argv[2]), "http": int(sys.argv[3])}
    old = main_pid()
    conns = []
    for kind in sys.argv[6].split(","):
        for _ in range(count):
            s, end = connect(kind, path, ports)
            conns.append((kind, s, end))
    connected = time.monotonic()
    wanted = {end for _, _, end in conns}
    held = set()
    while time.monotonic() - connected < 5:
        held = server_ends(old) & wanted
        if held == wanted:
            break
        time.sleep(0.02)

    began = time.monotonic()
    restart = subprocess.Popen(["systemctl", "restart", UNIT])
    stopping_after = None
    while time.monotonic() - began < 5:
        log = run("journalctl", "--no-pager", "-o", "cat", "_PID=%d" % old)
        if "stopping: no new connections" in log:
            stopping_after = time.monotonic() - began
            break
        time.sleep(0.01)
    sent_after = time.monotonic() - connected
    answers = {}
    sendable = []
    for kind, s, _ in conns:
        try:
            s.sendall(request(kind, secret))
            sendable.append((kind, s))
        except OSError as e:
            answers.setdefault(kind, []).append("send failed: %s" % e)
    for kind, s in sendable:
        answers.setdefault(kind, []).append(answer(s))
        s.close()
    restart.wait()
    print(json.dumps({
        "old_pid": old, "new_pid": main_pid(), "restart_exit": restart.returncode,
        "connections": len(conns), "accepted_by_old": len(held),
        "stopping_logged_after_s": stopping_after, "sent_after_connect_s": round(sent_after, 3),
        "restart_s": round(time.monotonic() - began, 3), "answers": answers,
    }))


main()
"#;

/// The raw-byte scanner for secrets on disk.
const SCAN_PY: &str = r#"
"""Looks for secrets, as raw bytes, in every regular file under the given roots (symlinks
not followed; /proc and /sys skipped), and with --journal in the whole journal as
`journalctl -o export` prints it (fields decompressed). The secrets come on stdin as JSON
{name: value}, so that they are never written to a file here.

    python3 scan.py [--journal] ROOT...

Prints JSON: files and bytes scanned, files that could not be read, and [name, where] found.
"""
import json
import os
import stat
import subprocess
import sys

SKIP = {"/proc", "/sys"}
secrets = {name: value.encode() for name, value in json.load(sys.stdin).items()}
overlap = max(len(v) for v in secrets.values())
found = set()
totals = {"files": 0, "bytes": 0}
unreadable = []


def scan_bytes(data, where):
    for name, value in secrets.items():
        if value in data:
            found.add((name, where))


def scan_file(path):
    try:
        with open(path, "rb") as f:
            tail = b""
            while True:
                chunk = f.read(1 << 22)
                if not chunk:
                    break
                scan_bytes(tail + chunk, path)
                totals["bytes"] += len(chunk)
                tail = (tail + chunk)[-overlap:]
        totals["files"] += 1
    except OSError as e:
        unreadable.append("%s: %s" % (path, e.strerror))


args = sys.argv[1:]
for root in [a for a in args if a != "--journal"]:
    for directory, subdirs, files in os.walk(root):
        subdirs[:] = [d for d in subdirs if os.path.join(directory, d) not in SKIP]
        for name in files:
            path = os.path.join(directory, name)
            try:
                mode = os.lstat(path).st_mode
            except OSError:
                continue
            if stat.S_ISREG(mode):
                scan_file(path)
if "--journal" in args:
    for fmt in ("export", "json"):
        out = subprocess.run(["journalctl", "--no-pager", "-o", fmt],
                             capture_output=True, check=True).stdout
        totals["bytes"] += len(out)
        scan_bytes(out, "journalctl -o " + fmt)
print(json.dumps({**totals, "unreadable": unreadable, "found": sorted(found)}))
"#;

/// ptrace(PTRACE_ATTACH) through ctypes: no gdb in the box, and this is exactly the call a
/// debugger makes.
const PTRACE_PY: &str = r#"
"""Tries PTRACE_ATTACH on each pid; detaches again when it worked. With "child", first
forks a child and attaches to it (a control: ptrace works for this user at all).

    python3 ptrace.py [child] PID...

Prints JSON {pid or "child": 0 when attached, else the errno name}.
"""
import ctypes
import errno
import json
import os
import signal
import sys
import time

PTRACE_ATTACH, PTRACE_DETACH = 16, 17
libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]


def attach(pid):
    if libc.ptrace(PTRACE_ATTACH, pid, None, None) != 0:
        return errno.errorcode[ctypes.get_errno()]
    os.waitpid(pid, 0x40000000)  # __WALL: wait for the attach stop, then let it go
    libc.ptrace(PTRACE_DETACH, pid, None, None)
    return 0


results = {}
args = sys.argv[1:]
if args and args[0] == "child":
    args = args[1:]
    child = os.fork()
    if child == 0:
        time.sleep(30)
        os._exit(0)
    results["child"] = attach(child)
    os.kill(child, signal.SIGKILL)
    os.waitpid(child, 0)
for pid in args:
    results[pid] = attach(int(pid))
print(json.dumps(results))
"#;

const SCRIPT_FILES: &[(&str, &str)] = &[
    ("ask.py", ASK_PY),
    ("load.py", LOAD_PY),
    ("stragglers.py", STRAGGLERS_PY),
    ("scan.py", SCAN_PY),
    ("ptrace.py", PTRACE_PY),
];

fn script(name: &str) -> String {
    format!("{SCRIPTS}/{name}")
}

fn json(text: &str) -> Value {
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("{e}: {text:?}"))
}

/// A random secret of this test run, recognisable in a failure message by its `what`.
fn random_secret(what: &str) -> String {
    format!(
        "{what}-{:016x}{:016x}",
        rand::random::<u64>(),
        rand::random::<u64>()
    )
}

/// A configuration file for `pool`, signing in with `password`.
fn config(pool: &Pool, password: &str, global: Value, server: Value) -> Value {
    let mut cognito = json!({
        "username": pool.username,
        "password": password,
        "app_id": pool.client_id,
        "user_pool_id": pool.user_pool_id,
        "identity_pool_id": pool.identity_pool_id,
        "region": pool.region,
    });
    if let Some(secret) = &pool.client_secret {
        cognito["client_secret"] = json!(secret);
    }
    json!({ "global": global, "server": server, "cognito": cognito })
}

/// How a box is set up.
struct Setup {
    seed: SeedOptions,
    /// Shell commands run before the install (users and groups).
    users: &'static str,
    /// SocketMode= of the unix socket.
    socket_mode: &'static str,
    /// RUST_LOG of the service (through a drop-in, as an administrator would set it).
    rust_log: &'static str,
}

/// cognitod installed and enabled (socket-activated on unix, tcp and http) in a fresh box.
struct Service {
    b: SystemdBox,
    pool: Pool,
    tcp: u16,
    http: u16,
}

impl Service {
    /// Boots a box, creates the users, writes the configuration `config(pool)` and installs.
    fn install(setup: Setup, config: impl FnOnce(&Pool) -> Value) -> Service {
        let emulator = Emulator::shared();
        let pool = Pool::seed(emulator, setup.seed);
        let (tcp, http) = (free_port(), free_port());
        let b = SystemdBox::boot();
        b.copy_in(
            Path::new(env!("CARGO_BIN_EXE_cognitod")),
            "/usr/bin/cognitod",
            0o755,
        );
        for (name, text) in SCRIPT_FILES {
            b.write_file(&script(name), text.as_bytes(), 0o644);
        }
        if !setup.users.is_empty() {
            b.sh_ok(setup.users);
        }
        b.write_file(
            "/etc/systemd/system/cognitod.service.d/test.conf",
            format!(
                "[Service]\nEnvironment=AWS_ENDPOINT_URL={} RUST_LOG={}\n",
                emulator.url(),
                setup.rust_log
            )
            .as_bytes(),
            0o644,
        );
        let service = Service { b, pool, tcp, http };
        service.write_config(&config(&service.pool));
        let installed = service.b.exec_ok(&[
            "cognitod",
            "install",
            "--enable",
            "-s",
            "unix,tcp,http",
            "-H",
            "127.0.0.1",
            "--tcp-port",
            &tcp.to_string(),
            "--http-port",
            &http.to_string(),
            "--permissions",
            setup.socket_mode,
            // The tests' configurations say themselves whether there is a shared secret.
            "--allow-no-secret",
        ]);
        assert!(installed.contains("enabled and started"), "{installed}");
        service
    }

    /// Replaces /etc/cognitod/config.json (root:root 0600, as cognitod requires of a file with a
    /// password); the service sees it at its next start.
    fn write_config(&self, config: &Value) {
        self.b.write_file(
            "/etc/cognitod/config.json",
            config.to_string().as_bytes(),
            0o600,
        );
    }

    fn main_pid(&self) -> u32 {
        let pid = self
            .b
            .exec_ok(&["systemctl", "show", "-p", "MainPID", "--value", UNIT]);
        pid.trim()
            .parse()
            .unwrap_or_else(|e| panic!("{e}: {pid:?}"))
    }

    /// A raw request on the unix socket from inside the box, as root or as `user`.
    fn ask_unix(&self, user: Option<&str>, send: &[u8], close: bool) -> String {
        let ask = script("ask.py");
        let mut cmd = match user {
            Some(user) => vec!["runuser", "-u", user, "--"],
            None => vec![],
        };
        cmd.extend([
            "python3",
            &ask,
            SOCKET,
            if close { "close" } else { "open" },
        ]);
        let out = self.b.exec_stdin(&cmd, send);
        assert!(out.status.success(), "{cmd:?}: {out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A raw request on the tcp socket (the box shares the host's loopback).
    fn ask_tcp(&self, send: &[u8], close: bool) -> String {
        let mut s = TcpStream::connect(("127.0.0.1", self.tcp)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        s.write_all(send).unwrap();
        if close {
            s.shutdown(Shutdown::Write).unwrap();
        }
        let mut answer = Vec::new();
        if let Err(e) = s.read_to_end(&mut answer) {
            answer.extend_from_slice(format!("<{e}>").as_bytes());
        }
        String::from_utf8_lossy(&answer).into_owned()
    }

    /// An HTTP request as given (it should say `Connection: close`); the status and the body.
    fn ask_http(&self, request: &[u8]) -> (u16, String) {
        let mut s = TcpStream::connect(("127.0.0.1", self.http)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        // The daemon may answer and close before it has read all of an oversized request.
        let _ = s.write_all(request);
        let mut answer = Vec::new();
        let _ = s.read_to_end(&mut answer);
        let text = String::from_utf8_lossy(&answer).into_owned();
        let status = text
            .strip_prefix("HTTP/1.1 ")
            .and_then(|rest| rest.get(..3))
            .and_then(|code| code.parse().ok())
            .unwrap_or(0);
        let body = text
            .split_once("\r\n\r\n")
            .map(|(_, body)| body.to_owned())
            .unwrap_or(text);
        (status, body)
    }

    /// Asks on the unix socket (sending `send`) until credentials come, starting the service.
    fn wait_served(&self, send: &[u8], key: &str) -> Value {
        let deadline = Instant::now() + SIGN_IN;
        loop {
            let answer = self.ask_unix(None, send, true);
            if let Ok(doc) = serde_json::from_str::<Value>(&answer) {
                if doc[key].is_string() {
                    return doc;
                }
            }
            assert!(
                Instant::now() < deadline,
                "no {key} within {SIGN_IN:?}: {answer:?}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The service's journal entries, every field, as `journalctl -o json` gives them.
    fn journal_entries(&self) -> Vec<Value> {
        self.b
            .exec_ok(&["journalctl", "--no-pager", "-o", "json", "-u", UNIT])
            .lines()
            .map(json)
            .collect()
    }

    /// Runs the scanner over `roots` (in the box's mount namespace, or with `in_service` in the
    /// running service's); what it found, and the whole report.
    fn scan(
        &self,
        secrets: &BTreeMap<String, String>,
        roots: &[&str],
        in_service: bool,
    ) -> (BTreeSet<(String, String)>, Value) {
        let pid = self.main_pid().to_string();
        let scan = script("scan.py");
        let mut cmd = if in_service {
            vec!["nsenter", "--target", &pid, "--mount"]
        } else {
            vec![]
        };
        cmd.extend(["python3", &scan]);
        cmd.extend_from_slice(roots);
        let input = serde_json::to_vec(secrets).unwrap();
        let out = self.b.exec_stdin(&cmd, &input);
        assert!(out.status.success(), "{cmd:?}: {out:?}");
        let report = json(&String::from_utf8_lossy(&out.stdout));
        let found = report["found"]
            .as_array()
            .unwrap()
            .iter()
            .map(|pair| {
                (
                    pair[0].as_str().unwrap().to_owned(),
                    pair[1].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        (found, report)
    }
}

/// The values of a served document, by key, for the secret lists.
fn values_of(doc: &Value, keys: &[&str]) -> Vec<(String, String)> {
    keys.iter()
        .map(|key| {
            let value = doc[*key]
                .as_str()
                .unwrap_or_else(|| panic!("{key} missing from {doc}"));
            (key.to_string(), value.to_owned())
        })
        .collect()
}

/// Runs the stragglers script: connections of each of `kinds` that the running process has
/// accepted, then a `systemctl restart`, then their requests; checks the restart and the drain
/// bookkeeping, and returns the script's report (the answers are the caller's to judge).
fn restart_with_stragglers(service: &Service, secret: &str, kinds: &str) -> Value {
    let b = &service.b;
    let old_pid = service.main_pid();
    let stragglers = json(&b.exec_ok(&[
        "python3",
        &script("stragglers.py"),
        SOCKET,
        &service.tcp.to_string(),
        &service.http.to_string(),
        secret,
        "5",
        kinds,
    ]));
    println!(
        "connections accepted before `systemctl restart`, requests sent after the stop began: \
         {stragglers}"
    );
    // The restart happened, cleanly.
    assert_eq!(stragglers["old_pid"], old_pid, "{stragglers}");
    assert_eq!(stragglers["restart_exit"], 0, "{stragglers}");
    let new_pid = service.main_pid();
    assert_ne!(new_pid, old_pid, "the service was not restarted");
    assert_eq!(stragglers["new_pid"], new_pid, "{stragglers}");
    assert_eq!(
        b.exec_ok(&["systemctl", "show", "-p", "Result", "--value", UNIT])
            .trim(),
        "success"
    );
    // Every straggler was held by the old process, and the stop had begun before its request
    // went out (soon enough for the raw protocol's secret timeout, so "not authorized" cannot
    // stand in for an answer).
    let connections = stragglers["connections"].as_u64().unwrap();
    assert_eq!(
        stragglers["accepted_by_old"].as_u64(),
        Some(connections),
        "{stragglers}"
    );
    assert!(
        stragglers["stopping_logged_after_s"].is_number(),
        "the old process never logged that it was stopping: {stragglers}"
    );
    assert!(
        stragglers["sent_after_connect_s"].as_f64().unwrap() < SECRET_READ_TIMEOUT.as_secs_f64(),
        "too slow to test the drain: the requests went out after the secret timeout: {stragglers}"
    );
    // The old process drained, rather than being cut off at its drain timeout.
    let old = b.exec_ok(&[
        "journalctl",
        "--no-pager",
        "-o",
        "cat",
        &format!("_PID={old_pid}"),
    ]);
    assert!(old.contains("all connections finished"), "{old}");
    stragglers
}

/// Asserts that every straggler got credentials.
fn assert_stragglers_served(stragglers: &Value) {
    for (kind, answers) in stragglers["answers"].as_object().unwrap() {
        for answer in answers.as_array().unwrap() {
            assert_eq!(
                answer, "served",
                "a {kind} connection accepted before the stop was not answered: {stragglers}"
            );
        }
    }
}

/// An installed service with a shared secret, signed in.
fn service_with_secret(secret: &str) -> Service {
    let service = Service::install(
        Setup {
            seed: SeedOptions::default(),
            users: "",
            socket_mode: "0660",
            rust_log: "info",
        },
        |pool| {
            config(
                pool,
                &pool.password,
                json!({ "auth_secret": secret }),
                json!({}),
            )
        },
    );
    service.wait_served(format!("{secret}\n").as_bytes(), "AccessKeyId");
    service
}

/// `systemctl restart` while 50 clients keep asking on the unix socket: the socket stays with
/// systemd, so nobody is refused and nobody goes unanswered; the old process stops accepting
/// and answers the raw-protocol connections it had accepted (unix and tcp), the rest wait in the
/// backlog for the new process.
#[test]
fn a_restart_under_load_refuses_nobody_and_answers_every_accepted_connection() {
    let _alone = TIMING.write().unwrap_or_else(|e| e.into_inner());
    let secret = random_secret("shared");
    let service = service_with_secret(&secret);
    let b = &service.b;

    let (load, stragglers) = std::thread::scope(|scope| {
        let load =
            scope.spawn(|| b.exec_ok(&["python3", &script("load.py"), SOCKET, "50", "8", &secret]));
        std::thread::sleep(Duration::from_secs(3));
        let stragglers = restart_with_stragglers(&service, &secret, "unix,tcp");
        (json(&load.join().unwrap()), stragglers)
    });
    println!("50 clients for 8 s over the unix socket, `systemctl restart` at 3 s: {load}");

    // Under load: nobody refused, nobody cut off, every attempt answered with credentials.
    let outcomes = load["outcomes"].as_object().unwrap();
    let attempts = load["attempts"].as_u64().unwrap();
    assert_eq!(outcomes.get("refused"), None, "{load}");
    assert_eq!(outcomes.get("reset"), None, "{load}");
    assert_eq!(outcomes.get("no_answer"), None, "{load}");
    assert_eq!(outcomes["served"].as_u64(), Some(attempts), "{load}");
    assert_stragglers_served(&stragglers);
}

/// The restart test for http: a connection the old process accepted before the stop, whose
/// request comes after it, is answered.
#[test]
fn a_restart_answers_http_connections_accepted_before_the_stop() {
    let _shared = TIMING.read().unwrap_or_else(|e| e.into_inner());
    let secret = random_secret("shared");
    let service = service_with_secret(&secret);
    let stragglers = restart_with_stragglers(&service, &secret, "http");
    assert_stragglers_served(&stragglers);
}

/// Allow-lists with real users: the socket lets everyone in (0666), cognitod serves only the
/// listed user and primary group, refuses the others with "not authorized", and logs each
/// refusal with the peer's uid.
#[test]
fn allow_lists_serve_the_listed_users_and_refuse_the_others_by_uid() {
    let _shared = TIMING.read().unwrap_or_else(|e| e.into_inner());
    let service = Service::install(
        Setup {
            seed: SeedOptions::default(),
            // mallory is in auditors only as a supplementary group: the list names primary groups.
            users: "groupadd auditors && useradd -m alice && useradd -m -g auditors olivia \
                    && useradd -m -G auditors mallory",
            socket_mode: "0666",
            rust_log: "debug",
        },
        |pool| {
            config(
                pool,
                &pool.password,
                json!({}),
                json!({ "allowed_users": ["alice"], "allowed_groups": ["auditors"] }),
            )
        },
    );
    let b = &service.b;
    let uid = |user: &str| -> u32 { b.exec_ok(&["id", "-u", user]).trim().parse().unwrap() };

    // root is on neither list; its connection starts the service all the same.
    let not_authorized = String::from_utf8_lossy(NOT_AUTHORIZED).into_owned();
    assert_eq!(service.ask_unix(None, b"", true), not_authorized);
    b.wait_for_journal(UNIT, "credentials obtained", SIGN_IN);
    assert_eq!(
        b.exec_ok(&["stat", "-c", "%a", SOCKET]).trim(),
        "666",
        "the kernel must let every user connect, so that only the allow-list decides"
    );

    let alice = service.ask_unix(Some("alice"), b"", true);
    let olivia = service.ask_unix(Some("olivia"), b"", true);
    let mallory = service.ask_unix(Some("mallory"), b"", true);
    let entries = service.journal_entries();
    let peers_with = |outcome: &str| -> Vec<String> {
        entries
            .iter()
            .filter(|e| e["OUTCOME"] == outcome)
            .map(|e| e["PEER"].as_str().unwrap_or("(no PEER field)").to_owned())
            .collect()
    };
    let seen = format!(
        "daemon saw served peers {:?}, refused peers {:?}; uids: alice {}, olivia {}, mallory {}",
        peers_with("Served"),
        peers_with("PeerRefused"),
        uid("alice"),
        uid("olivia"),
        uid("mallory")
    );
    let served = |answer: &str| {
        serde_json::from_str::<Value>(answer).is_ok_and(|doc| doc["AccessKeyId"].is_string())
    };
    assert!(
        served(&alice),
        "alice (allowed_users) got {alice:?}; {seen}"
    );
    assert!(
        served(&olivia),
        "olivia (allowed_groups) got {olivia:?}; {seen}"
    );
    assert_eq!(mallory, not_authorized, "mallory; {seen}");

    // The journal: each refusal with the peer's uid, the served ones too.
    let has_peer = |outcome: &str, user: &str| {
        let prefix = format!("uid={} ", uid(user));
        peers_with(outcome).iter().any(|p| p.starts_with(&prefix))
    };
    assert!(has_peer("PeerRefused", "mallory"), "{seen}");
    assert!(has_peer("PeerRefused", "root"), "{seen}");
    assert!(has_peer("Served", "alice"), "{seen}");
    assert!(has_peer("Served", "olivia"), "{seen}");
    let doc: Value = serde_json::from_str(&alice).unwrap();
    let journal = serde_json::to_string(&entries).unwrap();
    for (what, value) in values_of(&doc, &["SecretAccessKey", "SessionToken"])
        .into_iter()
        .chain([("password".to_owned(), service.pool.password.clone())])
    {
        assert!(!journal.contains(&value), "the {what} is in the journal");
    }

    // Only `nobody` listed: nobody is served, and mallory is still refused. (A daemon that sees
    // every unmapped peer as the overflow uid 65534, nobody's, would let everyone in here.)
    service.write_config(&config(
        &service.pool,
        &service.pool.password,
        json!({}),
        json!({ "allowed_users": ["nobody"] }),
    ));
    b.exec_ok(&["systemctl", "restart", UNIT]);
    let nobody = service.ask_unix(Some("nobody"), b"", true);
    assert!(served(&nobody), "nobody (allowed_users) got {nobody:?}");
    let mallory = service.ask_unix(Some("mallory"), b"", true);
    assert_eq!(mallory, not_authorized, "mallory, with only nobody listed");

    // An administrator's drop-in puts the service back in a private user namespace (the unit
    // once had PrivateUsers=yes, which is how the bug this test found came about): every peer
    // but root now shows up as the overflow uid, nobody's. The daemon notices, says so, and
    // lets no one in by that uid, so listing nobody does not open the socket to every user.
    b.write_file(
        "/etc/systemd/system/cognitod.service.d/private-users.conf",
        b"[Service]\nPrivateUsers=yes\n",
        0o644,
    );
    b.exec_ok(&["systemctl", "daemon-reload"]);
    b.exec_ok(&["systemctl", "restart", UNIT]);
    for user in ["mallory", "nobody", "alice"] {
        let answer = service.ask_unix(Some(user), b"", true);
        assert_eq!(answer, not_authorized, "{user} under PrivateUsers=yes");
    }
    b.wait_for_journal(UNIT, "does not map every user", SIGN_IN);
}

/// Nothing secret on disk: after signing in and serving tokens, then IAM credentials, no file
/// anywhere in the box (the service's private /tmp and /var/tmp, /run, /var, /dev/shm, the
/// journal files, all of it), seen from the box and from the service's own mount namespace,
/// holds a credential or token; the password and the secrets only in the files the
/// administrator wrote and systemd's credential copy. The journal, decoded, holds none of them.
#[test]
fn no_credential_token_or_secret_is_written_to_any_file() {
    let _shared = TIMING.read().unwrap_or_else(|e| e.into_inner());
    let shared_secret = random_secret("shared");
    let tokens_config = |pool: &Pool| {
        config(
            pool,
            &pool.password,
            json!({
                "credential_type": "tokens",
                "expose_refresh_token": true,
                "auth_secret": shared_secret,
            }),
            json!({}),
        )
    };
    let service = Service::install(
        Setup {
            seed: SeedOptions {
                client_secret: true,
                ..Default::default()
            },
            users: "",
            socket_mode: "0660",
            rust_log: "debug",
        },
        tokens_config,
    );
    let pool = &service.pool;
    let b = &service.b;
    let line = format!("{shared_secret}\n");
    let get = format!(
        "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nCognito-Api-Key: {shared_secret}\r\n\
         Connection: close\r\n\r\n"
    );

    let mut secrets = BTreeMap::new();
    secrets.insert("password".to_owned(), pool.password.clone());
    secrets.insert(
        "client secret".to_owned(),
        pool.client_secret.clone().unwrap(),
    );
    secrets.insert("shared secret".to_owned(), shared_secret.clone());

    // Tokens, over every transport.
    let tokens = service.wait_served(line.as_bytes(), "id_token");
    let over_tcp = json(&service.ask_tcp(line.as_bytes(), true));
    let (status, over_http) = service.ask_http(get.as_bytes());
    assert_eq!(status, 200, "{over_http}");
    assert_eq!(over_tcp["id_token"], tokens["id_token"]);
    assert_eq!(json(&over_http)["id_token"], tokens["id_token"]);
    secrets.extend(values_of(
        &tokens,
        &["id_token", "access_token", "refresh_token"],
    ));
    let tokens_pid = service.main_pid();
    let mut reports = vec![check_scan(&service, &secrets, "tokens")];

    // IAM credentials: a new configuration, a restart.
    service.write_config(&config(
        pool,
        &pool.password,
        json!({ "auth_secret": shared_secret }),
        json!({}),
    ));
    b.exec_ok(&["systemctl", "restart", UNIT]);
    let credentials = service.wait_served(line.as_bytes(), "AccessKeyId");
    assert_ne!(service.main_pid(), tokens_pid);
    assert_eq!(json(&service.ask_tcp(line.as_bytes(), true)), credentials);
    let (status, over_http) = service.ask_http(get.as_bytes());
    assert_eq!(status, 200, "{over_http}");
    assert_eq!(json(&over_http), credentials);
    secrets.extend(values_of(
        &credentials,
        &["AccessKeyId", "SecretAccessKey", "SessionToken"],
    ));
    reports.push(check_scan(&service, &secrets, "iam"));
    println!("secret scans: {}", reports.join("; "));
}

/// Scans the box (and the journal) and the running service's mount namespace; asserts that
/// served values are nowhere and that the configured secrets are only where the administrator
/// and systemd put them (and are found there: the scanner sees what is on disk). Returns a
/// summary.
fn check_scan(service: &Service, secrets: &BTreeMap<String, String>, phase: &str) -> String {
    let started = Instant::now();
    let pid = service.main_pid().to_string();
    // Canaries where the service can write, put there through its own mount namespace: the scan
    // must find them, or it does not look where the service could have written.
    let canary = random_secret("canary");
    let writable = ["/tmp", "/var/tmp", "/dev/shm"];
    let plant = writable
        .iter()
        .map(|dir| format!("echo {canary} > {dir}/cognitod-canary"))
        .collect::<Vec<_>>()
        .join(" && ");
    service
        .b
        .exec_ok(&["nsenter", "--target", &pid, "--mount", "sh", "-c", &plant]);
    let mut secrets = secrets.clone();
    secrets.insert("canary".to_owned(), canary);

    let credentials_copy = format!("/run/credentials/{UNIT}/config");
    // The configuration the administrator wrote, and systemd's copy handed to the service.
    let expected: BTreeSet<&str> = ["/etc/cognitod/config.json", credentials_copy.as_str()].into();
    let configured = ["password", "client secret", "shared secret"];
    let mut summary = Vec::new();
    for (view, roots, in_service) in [
        ("box", vec!["--journal", "/"], false),
        ("service", vec!["/"], true),
    ] {
        let (found, report) = service.scan(&secrets, &roots, in_service);
        assert_eq!(
            report["unreadable"].as_array().map(Vec::len),
            Some(0),
            "{phase}, {view}: {report}"
        );
        let (canaries, found): (BTreeSet<_>, BTreeSet<_>) =
            found.into_iter().partition(|(name, _)| name == "canary");
        let canaries: BTreeSet<String> = canaries.into_iter().map(|(_, place)| place).collect();
        for (name, place) in &found {
            assert!(
                configured.contains(&name.as_str()) && expected.contains(place.as_str()),
                "{phase}, {view} view: the {name} was found in {place} (all found: {found:?})"
            );
        }
        for name in configured {
            for place in &expected {
                assert!(
                    found.contains(&(name.to_owned(), place.to_string())),
                    "{phase}, {view} view: the {name} is not in {place}: the scan cannot see \
                     it ({found:?})"
                );
            }
        }
        // Seen from the service, the canaries are where it put them; seen from the box, its
        // private /tmp and /var/tmp are directories of the box's own.
        let in_private_tmp = |dir: &str| {
            canaries.iter().any(|place| {
                place.starts_with(&format!("{dir}/systemd-private-"))
                    && place.ends_with("/tmp/cognitod-canary")
            })
        };
        if in_service {
            let planted: BTreeSet<String> = writable
                .iter()
                .map(|dir| format!("{dir}/cognitod-canary"))
                .collect();
            assert_eq!(canaries, planted, "{phase}, {view} view");
        } else {
            assert!(
                in_private_tmp("/tmp") && in_private_tmp("/var/tmp"),
                "{phase}, {view} view: the service's private /tmp and /var/tmp were not \
                 scanned; canaries found: {canaries:?}"
            );
        }
        summary.push(format!(
            "{view}: {} files, {} MB, canaries found in {canaries:?}",
            report["files"],
            report["bytes"].as_u64().unwrap() / 1_000_000
        ));
    }
    format!(
        "{phase} (pid {pid}): {} in {:?}",
        summary.join("; "),
        started.elapsed()
    )
}

/// Nothing secret in the journal at RUST_LOG=trace, whatever the clients send on unix, tcp and
/// http (right, wrong, missing, oversized, half-sent secrets, garbage, unknown paths, a bad Host,
/// a body) and when Cognito refuses the sign-in.
#[test]
fn the_journal_holds_no_secret_on_any_transport_or_error_path_at_trace() {
    let _shared = TIMING.read().unwrap_or_else(|e| e.into_inner());
    let shared = random_secret("shared");
    let wrong_shared = random_secret("guessed");
    let wrong_password = random_secret("Wrong-Pw");
    let service = Service::install(
        Setup {
            seed: SeedOptions {
                client_secret: true,
                ..Default::default()
            },
            users: "",
            socket_mode: "0660",
            rust_log: "trace",
        },
        |pool| {
            config(
                pool,
                &pool.password,
                json!({ "auth_secret": shared }),
                json!({}),
            )
        },
    );
    let pool = service.pool.clone();
    let b = &service.b;
    let not_authorized = String::from_utf8_lossy(NOT_AUTHORIZED).into_owned();
    let right = format!("{shared}\n");
    let wrong = format!("{wrong_shared}\n");
    let mut oversized = shared.clone().into_bytes();
    oversized.resize(MAX_SECRET_LINE * 2, b'x');
    let half = &shared[..shared.len() / 2];
    let garbage: Vec<u8> = (0..=255u8).rev().chain(*b"\n").collect();

    let served = service.wait_served(right.as_bytes(), "AccessKeyId");
    assert_process_credentials(&served);

    // The raw protocol, on unix and tcp alike.
    type Ask<'a> = Box<dyn Fn(&[u8], bool) -> String + 'a>;
    let raw: [(&str, Ask); 2] = [
        (
            "unix",
            Box::new(|send, close| service.ask_unix(None, send, close)),
        ),
        ("tcp", Box::new(|send, close| service.ask_tcp(send, close))),
    ];
    for (transport, ask) in &raw {
        assert_eq!(json(&ask(right.as_bytes(), true)), served, "{transport}");
        for (case, send, close) in [
            ("wrong secret", wrong.as_bytes(), true),
            ("wrong secret, no newline", wrong_shared.as_bytes(), true),
            ("missing secret", b"".as_slice(), true),
            ("oversized line", oversized.as_slice(), false),
            ("garbage", garbage.as_slice(), true),
            ("half a secret, then silence", half.as_bytes(), false),
        ] {
            assert_eq!(ask(send, close), not_authorized, "{transport}: {case}");
        }
    }

    // HTTP.
    let request = |path: &str, headers: &str| {
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}Connection: close\r\n\r\n")
    };
    let key = |secret: &str| format!("Cognito-Api-Key: {secret}\r\n");
    let (status, body) = service.ask_http(request("/", &key(&shared)).as_bytes());
    assert_eq!((status, json(&body)), (200, served.clone()));
    let (status, body) =
        service.ask_http(request("/ecs", &format!("Authorization: {shared}\r\n")).as_bytes());
    assert_eq!(status, 200, "{body}");
    let big_header = format!(
        "X-Filler: {}\r\n{}",
        "y".repeat(cognitod::serve::http::MAX_HEADER_BYTES),
        key(&shared)
    );
    let bad_host = format!(
        "GET / HTTP/1.1\r\nHost: evil.example\r\n{}Connection: close\r\n\r\n",
        key(&shared)
    );
    let with_body = format!(
        "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\n{}Content-Length: {}\r\n\
         Connection: close\r\n\r\n{shared}",
        key(&shared),
        shared.len()
    );
    for (case, send, expected) in [
        (
            "wrong secret",
            request("/", &key(&wrong_shared)).into_bytes(),
            401,
        ),
        ("missing secret", request("/", "").into_bytes(), 401),
        (
            "wrong Authorization on /ecs",
            request("/ecs", &format!("Authorization: {wrong_shared}\r\n")).into_bytes(),
            401,
        ),
        (
            "unknown path",
            request("/nope", &key(&shared)).into_bytes(),
            404,
        ),
        (
            "oversized head",
            request("/", &big_header).into_bytes(),
            431,
        ),
        ("foreign Host", bad_host.into_bytes(), 403),
        ("a body", with_body.into_bytes(), 413),
        ("garbage", garbage.clone(), 400),
    ] {
        let (status, body) = service.ask_http(&send);
        assert_eq!(status, expected, "http: {case}: {body}");
    }

    // Cognito refuses the sign-in: a wrong password in the configuration.
    service.write_config(&config(
        &pool,
        &wrong_password,
        json!({ "auth_secret": shared }),
        json!({}),
    ));
    b.exec_ok(&["systemctl", "restart", UNIT]);
    let refused = service.ask_unix(None, right.as_bytes(), true);
    assert!(
        json(&refused)["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("credentials unavailable")),
        "{refused}"
    );
    wait_until("the refusal in the journal", SIGN_IN, || {
        service
            .journal_entries()
            .iter()
            .any(|e| e["EVENT"] == "renewal_refused")
    });

    // Every field of every entry of the whole journal (systemd's lines about the unit included).
    let export = b.exec(&["journalctl", "--no-pager", "-o", "export"]).stdout;
    let entries = service.journal_entries();
    let outcomes: BTreeSet<&str> = entries
        .iter()
        .filter_map(|e| e["OUTCOME"].as_str())
        .collect();
    let levels: BTreeSet<&str> = entries
        .iter()
        .filter(|e| e["SYSLOG_IDENTIFIER"] == "cognitod")
        .filter_map(|e| e["PRIORITY"].as_str())
        .collect();
    println!(
        "journal: {} bytes exported, {} entries of {UNIT}, outcomes {outcomes:?}, \
         priorities {levels:?}",
        export.len(),
        entries.len()
    );
    // The run was as verbose as it gets (tracing-journald logs DEBUG at priority 6 and TRACE at
    // 7; cognitod has no trace events of its own) and went through every path it meant to.
    let environment = b.exec_ok(&["systemctl", "show", "-p", "Environment", "--value", UNIT]);
    assert!(environment.contains("RUST_LOG=trace"), "{environment}");
    assert!(levels.contains("6"), "no debug entries: {levels:?}");
    for outcome in [
        "Served",
        "WrongSecret",
        "MissingSecret",
        "OversizedSecret",
        "SecretTimeout",
        "NotFound",
        "Forbidden",
        "Malformed",
        "unavailable",
    ] {
        assert!(outcomes.contains(outcome), "no {outcome} in {outcomes:?}");
    }
    let mut secrets = values_of(&served, &["AccessKeyId", "SecretAccessKey", "SessionToken"]);
    for (what, value) in [
        ("password", &pool.password),
        ("wrong password", &wrong_password),
        ("client secret", pool.client_secret.as_ref().unwrap()),
        ("shared secret", &shared),
        ("wrong shared secret", &wrong_shared),
    ] {
        secrets.push((what.to_owned(), value.clone()));
    }
    secrets.push(("half the shared secret".to_owned(), half.to_owned()));
    for (what, value) in &secrets {
        assert!(
            !contains(&export, value.as_bytes()),
            "the {what} is in the journal"
        );
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The running service is not dumpable: its /proc files belong to root, its own user and any
/// other can neither attach with ptrace nor read its environment or memory, and core dumps are
/// limited to 0 bytes.
#[test]
fn the_running_service_cannot_be_traced_read_or_dumped() {
    let _shared = TIMING.read().unwrap_or_else(|e| e.into_inner());
    let service = Service::install(
        Setup {
            seed: SeedOptions::default(),
            users: "useradd -m mallory",
            socket_mode: "0660",
            rust_log: "info",
        },
        |pool| config(pool, &pool.password, json!({}), json!({})),
    );
    let b = &service.b;
    service.wait_served(b"", "AccessKeyId");
    let pid = service.main_pid();
    let proc_dir = format!("/proc/{pid}");
    let status = b.read_file(&format!("{proc_dir}/status"));
    let ids = |key: &str| -> u32 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|id| id.parse().ok())
            .unwrap_or_else(|| panic!("no {key} in {status}"))
    };
    let (service_uid, service_gid) = (ids("Uid:"), ids("Gid:"));
    assert_ne!(service_uid, 0, "DynamicUser: not root");

    // A control of the same dynamic user, dumpable: owns its /proc files, its environment is
    // readable by that user, and it can be attached to.
    let as_service = format!("setpriv --reuid={service_uid} --regid={service_gid} --clear-groups");
    // `$!` is the control: setpriv and env exec, so sleep keeps setpriv's pid.
    let control: u32 = b
        .sh_ok(&format!(
            "{as_service} env CONTROL=1 sleep 120 </dev/null >/dev/null 2>&1 & echo $!"
        ))
        .trim()
        .parse()
        .unwrap();
    wait_until("the control runs sleep", Duration::from_secs(10), || {
        b.sh(&format!("cat /proc/{control}/comm")).stdout == b"sleep\n"
    });
    let owner = |dir: &str| b.exec_ok(&["stat", "-c", "%u:%g", dir]).trim().to_owned();
    assert_eq!(
        owner(&format!("/proc/{control}/status")),
        format!("{service_uid}:{service_gid}")
    );
    // Not dumpable: the kernel hands the /proc/PID files of such a process (not the directory
    // itself, which `ps` stats for the owner) to root (proc(5)).
    assert_eq!(
        owner(&format!("{proc_dir}/status")),
        "0:0",
        "cognitod's /proc files are not root's: it is dumpable; its journal:\n{}",
        b.journal(UNIT)
    );

    let environ_as = |who: &str, target: u32| -> std::process::Output {
        b.sh(&format!("{who} cat /proc/{target}/environ"))
    };
    let control_env = environ_as(&as_service, control);
    assert!(
        String::from_utf8_lossy(&control_env.stdout).contains("CONTROL=1"),
        "the control's environment is not readable by its own user: {control_env:?}"
    );
    let mem_as = |who: &str, target: u32| -> std::process::Output {
        b.sh(&format!(
            "{who} python3 -c 'open(\"/proc/{target}/mem\", \"rb\")'"
        ))
    };
    assert!(mem_as(&as_service, control).status.success());
    for (who, user) in [
        (as_service.as_str(), "its own user"),
        ("runuser -u mallory --", "another user"),
    ] {
        let environ = environ_as(who, pid);
        assert!(
            !environ.status.success()
                && String::from_utf8_lossy(&environ.stderr).contains("Permission denied"),
            "{user} read cognitod's environment: {environ:?}"
        );
        let mem = mem_as(who, pid);
        assert!(
            !mem.status.success()
                && String::from_utf8_lossy(&mem.stderr).contains("PermissionError"),
            "{user} opened cognitod's memory: {mem:?}"
        );
    }

    // ptrace: the same user attaches to the control (and to a child of its own), not to cognitod.
    let ptrace = script("ptrace.py");
    let as_self = json(&b.sh_ok(&format!(
        "{as_service} python3 {ptrace} child {control} {pid}"
    )));
    println!("PTRACE_ATTACH as cognitod's own uid {service_uid}: {as_self}");
    assert_eq!(
        as_self["child"], 0,
        "ptrace does not work here at all: {as_self}"
    );
    assert_eq!(as_self[control.to_string()], 0, "{as_self}");
    assert_eq!(as_self[pid.to_string()], "EPERM", "{as_self}");
    let as_mallory = json(&b.exec_ok(&[
        "runuser",
        "-u",
        "mallory",
        "--",
        "python3",
        &ptrace,
        "child",
        &pid.to_string(),
    ]));
    println!("PTRACE_ATTACH as mallory: {as_mallory}");
    assert_eq!(as_mallory["child"], 0, "{as_mallory}");
    assert_eq!(as_mallory[pid.to_string()], "EPERM", "{as_mallory}");

    // LimitCORE=0, in effect.
    let limits = b.read_file(&format!("{proc_dir}/limits"));
    let core: Vec<&str> = limits
        .lines()
        .find_map(|l| l.strip_prefix("Max core file size"))
        .unwrap_or_else(|| panic!("{limits}"))
        .split_whitespace()
        .collect();
    assert_eq!(core[..2], ["0", "0"], "soft and hard core limits: {limits}");

    // The service survived all that.
    assert!(service.wait_served(b"", "AccessKeyId")["AccessKeyId"].is_string());
    assert_eq!(service.main_pid(), pid);
    b.sh_ok(&format!("kill {control}"));
}
