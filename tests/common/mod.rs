//! Shared test support: the Cognito emulator (moto, made strict by tests/emulator/cognito_strict.py),
//! seeded pools, a switchable proxy in front of the emulator, and the daemon as a child process.
//!
//! Everything is real: the emulator is a separate process speaking the AWS wire protocol, the
//! daemon is the built binary, clients talk to it over real sockets.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use serde::Deserialize;

mod notify;
#[allow(unused_imports)] // not every test binary uses it
pub use notify::NotifySocket;

/// The built `cognitod` with ARGS in an environment holding only PATH and ENV, so no variable
/// of the test runner's (AWS_*, COGNITO_*) reaches it.
pub fn cognitod_clean_env(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    run_in_clean_env(Command::new(env!("CARGO_BIN_EXE_cognitod")), args, env)
}

/// COMMAND with ARGS appended, run to its end with only PATH and ENV in its environment.
pub fn run_in_clean_env(
    mut command: Command,
    args: &[&str],
    env: &[(&str, &str)],
) -> std::process::Output {
    command
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap())
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

/// What a finished command said, standard output then standard error.
pub fn output_text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A file's permission bits.
pub fn permission_bits(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The Python of the test venv, created by tests/emulator/setup-venv.sh when missing.
pub fn python() -> PathBuf {
    static VENV: OnceLock<PathBuf> = OnceLock::new();
    VENV.get_or_init(|| {
        let venv = std::env::var_os("COGNITOD_VENV")
            .map(PathBuf::from)
            .unwrap_or_else(|| repo().join(".venv"));
        let status = Command::new("bash")
            .arg(repo().join("tests/emulator/setup-venv.sh"))
            .env("COGNITOD_VENV", &venv)
            .status()
            .expect("running tests/emulator/setup-venv.sh");
        assert!(status.success(), "tests/emulator/setup-venv.sh failed");
        venv.join("bin/python")
    })
    .clone()
}

/// The emulator process; it exits when its stdin closes, i.e. when the test process ends.
pub struct Emulator {
    /// Its port on 127.0.0.1.
    pub port: u16,
    _child: Mutex<Child>,
    _stdin: Mutex<ChildStdin>,
}

impl Emulator {
    /// The emulator shared by all tests of this test binary (each test seeds its own pool).
    pub fn shared() -> &'static Emulator {
        static EMULATOR: OnceLock<Emulator> = OnceLock::new();
        EMULATOR.get_or_init(Emulator::start)
    }

    /// A new emulator of its own (for tests that count calls or stop it).
    pub fn start() -> Emulator {
        Emulator::start_with_env(&[])
    }

    /// A new emulator of its own with extra environment variables (e.g. a faked clock).
    pub fn start_with_env(env: &[(&str, &str)]) -> Emulator {
        let mut child = Command::new(python())
            .envs(env.iter().copied())
            .arg(repo().join("tests/emulator/server.py"))
            .args(["--host", "127.0.0.1", "--port", "0", "--exit-on-stdin-eof"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting the emulator");
        let stdin = child.stdin.take().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .expect("reading the emulator's port");
        #[derive(Deserialize)]
        struct Ready {
            port: u16,
        }
        let ready: Ready =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("emulator said {line:?}: {e}"));
        Emulator {
            port: ready.port,
            _child: Mutex::new(child),
            _stdin: Mutex::new(stdin),
        }
    }

    /// Its base URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Upstream calls counted by the emulator for one user pool, by operation.
    pub fn calls(&self, user_pool_id: &str) -> BTreeMap<String, u64> {
        let body = http_get(
            self.port,
            &format!("/_test/calls?user_pool_id={user_pool_id}"),
        );
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("calls: {body}: {e}"))
    }

    /// Upstream calls counted by the emulator for all pools together (STS calls count only here).
    pub fn calls_total(&self) -> BTreeMap<String, u64> {
        let body = http_get(self.port, "/_test/calls");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("calls: {body}: {e}"))
    }

    /// Forgets the calls counted for one user pool (e.g. those seed.py made).
    pub fn reset_calls(&self, user_pool_id: &str) {
        http_request(
            self.port,
            "POST",
            &format!("/_test/calls/reset?user_pool_id={user_pool_id}"),
        );
    }

    /// Answers every call of one user pool (and of identity pools logging in with it) with
    /// TooManyRequestsException for `seconds`; counted as `<operation>:throttled` too.
    pub fn throttle(&self, user_pool_id: &str, seconds: f64) {
        http_get(
            self.port,
            &format!("/_test/throttle?user_pool_id={user_pool_id}&seconds={seconds}"),
        );
    }

    /// Holds the calls of `operation` of one user pool, once counted, until [`Emulator::release`]
    /// (at most 8 s): the test acts at a known point between two calls of a client.
    pub fn hold(&self, user_pool_id: &str, operation: &str) {
        http_get(
            self.port,
            &format!("/_test/hold?user_pool_id={user_pool_id}&operation={operation}"),
        );
    }

    /// Lets the held calls of one user pool go on.
    pub fn release(&self, user_pool_id: &str) {
        http_get(
            self.port,
            &format!("/_test/release?user_pool_id={user_pool_id}"),
        );
    }

    /// Sets the lifetime of identity-pool credentials for one identity pool.
    pub fn set_identity_ttl(&self, identity_pool_id: &str, seconds: u64) {
        http_get(
            self.port,
            &format!("/_test/identity-ttl?seconds={seconds}&identity_pool_id={identity_pool_id}"),
        );
    }
}

/// A minimal HTTP/1.0 GET for the emulator's test endpoints.
fn http_get(port: u16, path: &str) -> String {
    http_request(port, "GET", path)
}

/// A minimal HTTP/1.0 request without a body; returns the response body.
fn http_request(port: u16, method: &str, path: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out.split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default()
}

/// Options for seeding a pool.
#[derive(Default, Clone)]
pub struct SeedOptions {
    /// App client with a secret.
    pub client_secret: bool,
    /// Sign in by e-mail (alias), so USER_ID_FOR_SRP differs from the login name.
    pub email_login: bool,
    /// Leave the user needing a new password.
    pub force_change_password: bool,
    /// Token lifetime.
    pub token_validity_seconds: Option<u32>,
    /// Require TOTP MFA.
    pub mfa_totp: bool,
    /// The pool's MFA without enrolling the user: "ON" (sign-in answers MFA_SETUP) or
    /// "OPTIONAL" (TOTP allowed, the user may enrol).
    pub mfa: Option<&'static str>,
    /// An app client rotating refresh tokens, with this grace period in seconds.
    pub refresh_token_rotation: Option<u32>,
    /// An app client allowing choice-based sign-in (ALLOW_USER_AUTH).
    pub user_auth: bool,
    /// The pool's first authentication factors (AllowedFirstAuthFactors), e.g. "EMAIL_OTP".
    pub first_auth_factors: Option<&'static str>,
    /// An app client without ALLOW_USER_SRP_AUTH.
    pub without_srp: bool,
    /// A pool remembering devices: "always" or "on-prompt".
    pub device_tracking: Option<&'static str>,
}

/// A seeded user pool, app client, user, identity pool and role.
#[derive(Debug, Clone, Deserialize)]
pub struct Pool {
    pub region: String,
    pub user_pool_id: String,
    pub client_id: String,
    pub client_secret: Option<String>,
    pub identity_pool_id: String,
    pub username: String,
    pub password: String,
    pub role_arn: String,
    /// The TOTP seed, with `mfa_totp`.
    pub totp_secret: Option<String>,
    pub user_sub: String,
}

static SEED_COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

impl Pool {
    /// Seeds a fresh pool on the emulator; the password is unique per pool.
    pub fn seed(emulator: &Emulator, options: SeedOptions) -> Pool {
        let n = SEED_COUNTER.fetch_add(1, Ordering::SeqCst);
        let username = format!("user{}x{n}", std::process::id());
        let password = format!("Pw-{:x}-{n}-Zz9!", rand_u64());
        let mut cmd = Command::new(python());
        cmd.arg(repo().join("tests/emulator/seed.py")).args([
            "--endpoint",
            &emulator.url(),
            "--username",
            &username,
            "--password",
            &password,
        ]);
        if options.client_secret {
            cmd.arg("--client-secret");
        }
        if options.email_login {
            cmd.arg("--email-login");
        }
        if options.force_change_password {
            cmd.arg("--force-change-password");
        }
        if let Some(s) = options.token_validity_seconds {
            cmd.args(["--token-validity-seconds", &s.to_string()]);
        }
        if options.user_auth {
            cmd.arg("--user-auth");
        }
        if options.without_srp {
            cmd.arg("--without-srp");
        }
        if let Some(tracking) = options.device_tracking {
            cmd.args(["--device-tracking", tracking]);
        }
        if let Some(factors) = options.first_auth_factors {
            cmd.args(["--first-auth-factors", factors]);
        }
        if let Some(grace) = options.refresh_token_rotation {
            cmd.args(["--refresh-token-rotation", &grace.to_string()]);
        }
        if options.mfa_totp {
            cmd.arg("--mfa-totp");
        }
        match options.mfa {
            Some("ON") => cmd.arg("--mfa-required"),
            Some("OPTIONAL") => cmd.arg("--mfa-optional"),
            Some(other) => panic!("SeedOptions::mfa is ON or OPTIONAL, not {other}"),
            None => &mut cmd,
        };
        let out = cmd
            .stderr(Stdio::inherit())
            .output()
            .expect("running seed.py");
        assert!(out.status.success(), "seed.py failed");
        serde_json::from_slice(&out.stdout).expect("seed.py prints JSON")
    }

    /// The COGNITO_* environment for this pool.
    pub fn env(&self) -> Vec<(String, String)> {
        let mut env = vec![
            ("COGNITO_USERNAME".into(), self.username.clone()),
            ("COGNITO_PASSWORD".into(), self.password.clone()),
            ("COGNITO_USER_POOL_ID".into(), self.user_pool_id.clone()),
            (
                "COGNITO_IDENTITY_POOL_ID".into(),
                self.identity_pool_id.clone(),
            ),
            ("COGNITO_APP_ID".into(), self.client_id.clone()),
            ("COGNITO_REGION".into(), self.region.clone()),
        ];
        if let Some(secret) = &self.client_secret {
            env.push(("COGNITO_CLIENT_SECRET".into(), secret.clone()));
        }
        env
    }
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(Instant::now().elapsed().as_nanos());
    h.finish()
}

/// A free TCP port on 127.0.0.1 (bound and released at once: good enough for tests).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A temporary directory for sockets and files of one test.
pub fn temp_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("cognitod-test-")
        .tempdir()
        .unwrap()
}

/// The daemon under test, stopped (SIGTERM) when dropped.
pub struct Daemon {
    child: Option<Child>,
    /// Everything it wrote to stderr, collected by a thread.
    log: Arc<Mutex<Vec<u8>>>,
    log_thread: Option<thread::JoinHandle<()>>,
}

/// How to start the daemon.
pub struct DaemonCommand {
    command: Command,
}

impl DaemonCommand {
    /// `cognitod serve ARGS`, with an environment holding only PATH and the emulator endpoint.
    pub fn serve(endpoint: &str, args: &[&str]) -> DaemonCommand {
        DaemonCommand::serve_under(&[], endpoint, args)
    }

    /// The same, started through `wrapper` (a command that execs the rest, such as
    /// `prlimit --nofile=1024:1024 --`).
    pub fn serve_under(wrapper: &[&str], endpoint: &str, args: &[&str]) -> DaemonCommand {
        let mut command = match wrapper.split_first() {
            Some((program, rest)) => {
                let mut command = Command::new(program);
                command.args(rest).arg(env!("CARGO_BIN_EXE_cognitod"));
                command
            }
            None => Command::new(env!("CARGO_BIN_EXE_cognitod")),
        };
        command
            .arg("serve")
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", "/nonexistent")
            .env("AWS_ENDPOINT_URL", endpoint)
            .env("RUST_LOG", "debug")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        DaemonCommand { command }
    }

    /// Adds environment variables.
    pub fn envs(mut self, vars: impl IntoIterator<Item = (String, String)>) -> Self {
        self.command.envs(vars);
        self
    }

    /// Adds one environment variable.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.command.env(key, value);
        self
    }

    /// Starts it.
    pub fn start(mut self) -> Daemon {
        let mut child = self.command.spawn().expect("starting cognitod");
        let log = Arc::new(Mutex::new(Vec::new()));
        let sink = log.clone();
        let mut stderr = child.stderr.take().unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let sink2 = log.clone();
        thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = stdout.read_to_end(&mut buf);
            sink2.lock().unwrap().extend_from_slice(&buf);
        });
        let log_thread = thread::spawn(move || {
            let mut buf = [0u8; 4096];
            loop {
                match stderr.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => sink.lock().unwrap().extend_from_slice(&buf[..n]),
                }
            }
        });
        Daemon {
            child: Some(child),
            log,
            log_thread: Some(log_thread),
        }
    }
}

impl Daemon {
    /// The log so far.
    pub fn log(&self) -> String {
        String::from_utf8_lossy(&self.log.lock().unwrap()).into_owned()
    }

    /// The log so far without terminal colour codes, for matching `key=value` fields.
    pub fn plain_log(&self) -> String {
        strip_ansi(&self.log())
    }

    /// Waits until the log contains `needle`.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.log().contains(needle) {
                return;
            }
            thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "{needle:?} not in the log after {timeout:?}:\n{}",
            self.log()
        );
    }

    /// Its exit status if it has exited, `None` while it runs.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.as_mut().unwrap().try_wait().unwrap()
    }

    /// Its pid.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// Sends a signal.
    pub fn signal(&self, signal: nix::sys::signal::Signal) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid() as i32), signal).unwrap();
    }

    /// Stops it with SIGTERM and returns its exit status and full log.
    pub fn stop(mut self) -> (std::process::ExitStatus, String) {
        let status = self.terminate();
        (status, self.log())
    }

    /// Waits for it to exit by itself (e.g. a start-up error).
    pub fn wait_exit(mut self, timeout: Duration) -> (std::process::ExitStatus, String) {
        let mut child = self.child.take().unwrap();
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                if let Some(t) = self.log_thread.take() {
                    let _ = t.join();
                }
                return (status, self.log());
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("cognitod did not exit within {timeout:?}:\n{}", self.log());
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    fn terminate(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("running");
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                break child.wait().unwrap();
            }
            thread::sleep(Duration::from_millis(20));
        };
        if let Some(t) = self.log_thread.take() {
            let _ = t.join();
        }
        status
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.child.is_some() {
            self.terminate();
        }
    }
}

/// Connects to a unix socket, sends `send` (if any) and reads the whole answer.
pub fn unix_request(path: &Path, send: Option<&[u8]>) -> String {
    let mut s =
        UnixStream::connect(path).unwrap_or_else(|e| panic!("connect {}: {e}", path.display()));
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    if let Some(bytes) = send {
        s.write_all(bytes).unwrap();
    }
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

/// Waits until the unix socket answers with credentials (not an error) and returns the JSON.
pub fn wait_for_credentials(
    path: &Path,
    send: Option<&[u8]>,
    timeout: Duration,
) -> serde_json::Value {
    let deadline = Instant::now() + timeout;
    let mut last = String::new();
    while Instant::now() < deadline {
        if UnixStream::connect(path).is_ok() {
            last = unix_request(path, send);
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&last) {
                if v.get("error").is_none() {
                    return v;
                }
            }
        }
        thread::sleep(Duration::from_millis(50));
    }
    panic!(
        "no credentials from {} within {timeout:?}; last answer {last:?}",
        path.display()
    );
}

/// Waits until the unix socket exists and accepts connections.
pub fn wait_for_socket(path: &Path, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if UnixStream::connect(path).is_ok() {
            return;
        }
        thread::sleep(Duration::from_millis(20));
    }
    panic!("{} not accepting within {timeout:?}", path.display());
}

/// A TCP proxy in front of the emulator that can be taken down (connections refused, as when the
/// emulator is stopped) and brought back on the same port.
pub struct Proxy {
    /// The port clients use.
    pub port: u16,
    up: Arc<AtomicBool>,
    /// What the proxy does to new connections.
    fault: Arc<Mutex<Fault>>,
    /// Both ends of every forwarded connection, so that `down` can cut them: a stopped emulator
    /// also ends the keep-alive connections a client holds.
    connections: Arc<Mutex<Vec<TcpStream>>>,
}

impl Proxy {
    /// Starts forwarding 127.0.0.1:<new port> to 127.0.0.1:`upstream`.
    pub fn start(upstream: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(AtomicBool::new(true));
        let proxy = Proxy {
            port,
            up,
            fault: Arc::new(Mutex::new(Fault::None)),
            connections: Arc::default(),
        };
        proxy.serve(listener, upstream);
        proxy
    }

    fn serve(&self, listener: TcpListener, upstream: u16) {
        let up = self.up.clone();
        let fault = self.fault.clone();
        let connections = self.connections.clone();
        listener.set_nonblocking(true).unwrap();
        thread::spawn(move || loop {
            if !up.load(Ordering::SeqCst) {
                // Closing the listener makes new connections fail with "connection refused".
                drop(listener);
                return;
            }
            match listener.accept() {
                Ok((client, _)) => {
                    client.set_nonblocking(false).unwrap();
                    let fault = *fault.lock().unwrap();
                    if fault == Fault::Reset {
                        // Linger 0: close() sends RST, as a crashing upstream or a firewall does.
                        let _ = nix::sys::socket::setsockopt(
                            &client,
                            nix::sys::socket::sockopt::Linger,
                            &nix::libc::linger {
                                l_onoff: 1,
                                l_linger: 0,
                            },
                        );
                        drop(client);
                        continue;
                    }
                    let connections = connections.clone();
                    thread::spawn(move || {
                        if let Fault::Delay(delay) = fault {
                            // Hold the request unanswered, as an overloaded upstream does.
                            thread::sleep(delay);
                        }
                        if let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) {
                            let mut open = connections.lock().unwrap();
                            open.push(client.try_clone().unwrap());
                            open.push(server.try_clone().unwrap());
                            drop(open);
                            pipe(client, server);
                        }
                    });
                }
                Err(_) => thread::sleep(Duration::from_millis(5)),
            }
        });
    }

    /// Changes what happens to new connections (open ones are cut, so clients reconnect).
    pub fn set_fault(&self, fault: Fault) {
        *self.fault.lock().unwrap() = fault;
        for connection in self.connections.lock().unwrap().drain(..) {
            let _ = connection.shutdown(Shutdown::Both);
        }
    }

    /// Its URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Stops accepting: new connections are refused, and open ones are cut.
    pub fn down(&self) {
        self.up.store(false, Ordering::SeqCst);
        // Wait until the port refuses.
        let deadline = Instant::now() + Duration::from_secs(5);
        while TcpStream::connect(("127.0.0.1", self.port)).is_ok() && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(10));
        }
        for connection in self.connections.lock().unwrap().drain(..) {
            let _ = connection.shutdown(Shutdown::Both);
        }
    }

    /// Listens again on the same port.
    pub fn up(&self, upstream: u16) {
        self.up.store(true, Ordering::SeqCst);
        let listener =
            TcpListener::bind(("127.0.0.1", self.port)).expect("rebinding the proxy port");
        self.serve(listener, upstream);
    }
}

/// A fault the proxy injects into new connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Forward faithfully.
    None,
    /// Hold each new connection this long before forwarding it.
    Delay(Duration),
    /// Reset each new connection at once.
    Reset,
}

fn pipe(client: TcpStream, server: TcpStream) {
    let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
    thread::spawn(move || copy_then_close(client, server));
    thread::spawn(move || copy_then_close(s2, c2));
}

fn copy_then_close(mut from: TcpStream, mut to: TcpStream) {
    let _ = std::io::copy(&mut from, &mut to);
    let _ = to.shutdown(Shutdown::Write);
}

/// Runs a Python snippet in the test venv with the given environment; returns stdout.
pub fn python_snippet(code: &str, env: &[(&str, &str)]) -> String {
    let out = Command::new(python())
        .args(["-c", code])
        .env_remove("AWS_PROFILE")
        .envs(env.iter().copied())
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    assert!(out.status.success(), "python snippet failed: {code}");
    String::from_utf8(out.stdout).unwrap()
}

/// Polls `condition` every 50 ms until it holds; panics with `what` after `timeout`.
pub fn wait_until(what: &str, timeout: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if condition() {
            return;
        }
        thread::sleep(Duration::from_millis(50));
    }
    panic!("{what}: not within {timeout:?}");
}

/// A JSON answer of the raw protocol, parsed (panics on anything else).
pub fn unix_json(path: &Path, send: Option<&[u8]>) -> serde_json::Value {
    let answer = unix_request(path, send);
    assert!(answer.ends_with('\n'), "answer without newline: {answer:?}");
    serde_json::from_str(&answer).unwrap_or_else(|e| panic!("not JSON ({e}): {answer:?}"))
}

/// Parses an RFC 3339 time such as an `Expiration`.
pub fn rfc3339(text: &str) -> time::OffsetDateTime {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|e| panic!("{text:?} is not RFC 3339: {e}"))
}

/// Seconds from now until an RFC 3339 time (negative when it has passed).
pub fn seconds_until(text: &str) -> f64 {
    (rfc3339(text) - time::OffsetDateTime::now_utc()).as_seconds_f64()
}

/// The claims of a JWT, decoded without checking the signature.
pub fn jwt_claims(token: &str) -> serde_json::Value {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).expect("a JWT has three parts");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .expect("the JWT payload is base64url");
    serde_json::from_slice(&bytes).expect("the JWT payload is JSON")
}

/// Writes a file with the given mode.
pub fn write_file(path: &Path, text: &str, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Checks a credential_process document: Version 1, the four keys, an RFC 3339 UTC Expiration
/// that has not passed.
pub fn assert_process_credentials(doc: &serde_json::Value) {
    assert_eq!(doc["Version"], 1, "{doc}");
    for key in [
        "AccessKeyId",
        "SecretAccessKey",
        "SessionToken",
        "Expiration",
    ] {
        assert!(
            doc[key].as_str().is_some_and(|v| !v.is_empty()),
            "{key} missing: {doc}"
        );
    }
    let expiration = doc["Expiration"].as_str().unwrap();
    let at = rfc3339(expiration);
    assert!(expiration.ends_with('Z'), "{expiration} is not UTC");
    assert!(
        at > time::OffsetDateTime::now_utc(),
        "{expiration} already passed"
    );
}

/// Removes ANSI escape sequences (`ESC [ ... letter`), which the log has when colours are on.
pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            chars.next();
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A daemon on all three transports (unix socket, tcp, http on 127.0.0.1) behind a shared
/// secret read from a 0600 file, started against a seeded pool and already serving.
pub struct EveryTransport {
    pub daemon: Daemon,
    pub socket: PathBuf,
    pub secret_file: PathBuf,
    pub tcp: u16,
    pub http: u16,
    /// What the unix socket answered first: the credentials being served.
    pub credentials: serde_json::Value,
    pub dir: tempfile::TempDir,
}

/// Writes `DIR/config.json` putting the tcp and http listeners on two free loopback ports;
/// returns its path and the two ports.
pub fn loopback_ports_config(dir: &Path) -> (PathBuf, u16, u16) {
    let (tcp, http) = (free_port(), free_port());
    let config = dir.join("config.json");
    std::fs::write(
        &config,
        format!(r#"{{"server": {{"host": "127.0.0.1", "tcp_port": {tcp}, "http_port": {http}}}}}"#),
    )
    .unwrap();
    (config, tcp, http)
}

impl EveryTransport {
    /// Starts it with `secret`, the daemon's environment extended by `env`.
    pub fn start(emulator: &Emulator, pool: &Pool, secret: &str, env: &[(&str, &str)]) -> Self {
        Self::start_under(&[], emulator, pool, secret, env)
    }

    /// The same, the daemon started through `wrapper` (see [`DaemonCommand::serve_under`]).
    pub fn start_under(
        wrapper: &[&str],
        emulator: &Emulator,
        pool: &Pool,
        secret: &str,
        env: &[(&str, &str)],
    ) -> Self {
        let dir = temp_dir();
        let socket = dir.path().join("c.sock");
        let secret_file = dir.path().join("secret");
        write_file(&secret_file, &format!("{secret}\n"), 0o600);
        let (config, tcp, http) = loopback_ports_config(dir.path());
        let mut command = DaemonCommand::serve_under(
            wrapper,
            &emulator.url(),
            &[
                "-e",
                "-c",
                config.to_str().unwrap(),
                "-s",
                "unix,tcp,http",
                "-S",
                socket.to_str().unwrap(),
                "--auth-secret-file",
                secret_file.to_str().unwrap(),
            ],
        )
        .envs(pool.env());
        for (key, value) in env {
            command = command.env(key, value);
        }
        let daemon = command.start();
        let credentials = wait_for_credentials(
            &socket,
            Some(format!("{secret}\n").as_bytes()),
            Duration::from_secs(20),
        );
        EveryTransport {
            daemon,
            socket,
            secret_file,
            tcp,
            http,
            credentials,
            dir,
        }
    }
}

/// Runs tests/node/credentials.mjs (the AWS SDK for JavaScript v3) with `provider` (`http`,
/// `chain`, `imds`) and a clean environment holding only `env`; installs the SDK packages first
/// (tests/node/setup.sh) when they are missing. Ok: the credentials and the caller's ARN; Err:
/// the SDK's error as `{"error","message"}`.
pub fn js_sdk(
    provider: &str,
    env: &[(&str, &str)],
) -> Result<serde_json::Value, serde_json::Value> {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let status = Command::new("bash")
            .arg(repo().join("tests/node/setup.sh"))
            .status()
            .expect("running tests/node/setup.sh (needs node and npm: bash tests/setup.sh)");
        assert!(status.success(), "tests/node/setup.sh failed");
    });
    let home = temp_dir();
    let out = Command::new("node")
        .arg(repo().join("tests/node/credentials.mjs"))
        .arg(provider)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home.path())
        // The SDK's notice about future node versions, on every run.
        .env("NODE_NO_WARNINGS", "1")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .envs(env.iter().copied())
        .stderr(Stdio::inherit())
        .output()
        .expect("running node");
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "credentials.mjs printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    if out.status.success() {
        Ok(value)
    } else {
        Err(value)
    }
}
