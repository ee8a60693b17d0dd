//! Floods, on every transport with a shared secret configured: 10,000 connections in one burst;
//! the daemon held to 256 file descriptors under a flood several times that; and 1,000 idle or
//! half-sent connections per transport held open while real clients are served. The daemon
//! survives each and serves normally afterwards. The figures are printed (`--nocapture`).

mod common;

use std::collections::BTreeMap;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::task::JoinSet;

const SECRET: &str = "floods-s3cret";
const NOT_AUTHORIZED: &[u8] = b"{\"error\":\"not authorized\"}\n";
/// What an SDK waits for credentials before it gives up; a real client must be answered sooner.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);
/// The daemon's cap on connections served at once (src/serve/mod.rs).
const MAX_CONNECTIONS: usize = 1024;
/// How long a flood client waits for its answer before it counts as timed out.
const FLOOD_CLIENT_TIMEOUT: Duration = Duration::from_secs(60);

/// One of the daemon's listeners.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Transport {
    Unix,
    Tcp,
    Http,
}

const TRANSPORTS: [Transport; 3] = [Transport::Unix, Transport::Tcp, Transport::Http];

/// A daemon serving unix, tcp and http with the shared secret.
struct Served {
    daemon: Daemon,
    socket: PathBuf,
    tcp: u16,
    http: u16,
    _dir: tempfile::TempDir,
}

/// Starts the daemon on all three transports; `nofile` caps its descriptors once it runs.
fn start(nofile: Option<u32>) -> Served {
    let emulator = Emulator::shared();
    let pool = Pool::seed(emulator, SeedOptions::default());
    let EveryTransport {
        daemon,
        socket,
        tcp,
        http,
        dir,
        ..
    } = EveryTransport::start(emulator, &pool, SECRET, &[("RUST_LOG", "info")]);
    if let Some(n) = nofile {
        let limited = Command::new("prlimit")
            .args([
                &format!("--nofile={n}:{n}"),
                "--pid",
                &daemon.pid().to_string(),
            ])
            .status()
            .expect("prlimit (util-linux)");
        assert!(limited.success());
    }
    let served = Served {
        daemon,
        socket,
        tcp,
        http,
        _dir: dir,
    };
    for transport in TRANSPORTS {
        served.real_client(transport);
    }
    served
}

/// Raises this process's soft limit on open files to its hard limit (the floods hold thousands
/// of connections at once); returns the new limit.
fn raise_own_fd_limit() -> u64 {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    let hard: u64 = line.split_whitespace().nth(4).unwrap().parse().unwrap();
    let raised = Command::new("prlimit")
        .args([
            &format!("--nofile={hard}:{hard}"),
            "--pid",
            &std::process::id().to_string(),
        ])
        .status()
        .expect("prlimit (util-linux)");
    assert!(raised.success());
    hard
}

/// The request a real client of each transport sends.
fn request(transport: Transport) -> Vec<u8> {
    match transport {
        Transport::Unix | Transport::Tcp => format!("{SECRET}\n").into_bytes(),
        Transport::Http => format!(
            "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nCognito-Api-Key: {SECRET}\r\nConnection: close\r\n\r\n"
        )
        .into_bytes(),
    }
}

/// What a reply was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Verdict {
    /// A complete credential document.
    Credentials,
    /// A well-formed refusal: the raw protocol's JSON error, or an HTTP error status.
    Refused,
    /// Anything else (empty, cut short, not JSON).
    Garbled,
}

/// Judges a complete reply of `transport`.
fn verdict(transport: Transport, reply: &[u8]) -> Verdict {
    let body = match transport {
        Transport::Unix | Transport::Tcp => reply,
        Transport::Http => {
            let Some(end) = reply.windows(4).position(|w| w == b"\r\n\r\n") else {
                return Verdict::Garbled;
            };
            let head = String::from_utf8_lossy(&reply[..end]);
            let body = &reply[end + 4..];
            if !head.starts_with("HTTP/1.1 200 ") {
                return if head.starts_with("HTTP/1.1 4") || head.starts_with("HTTP/1.1 5") {
                    Verdict::Refused
                } else {
                    Verdict::Garbled
                };
            }
            body
        }
    };
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(doc) if doc["AccessKeyId"].is_string() && doc["SessionToken"].is_string() => {
            Verdict::Credentials
        }
        Ok(doc) if doc["error"].is_string() => Verdict::Refused,
        _ => Verdict::Garbled,
    }
}

impl Served {
    /// A real client, with blocking sockets as SDKs use: answered with credentials within
    /// [`CLIENT_TIMEOUT`]; returns how long it waited.
    fn real_client(&self, transport: Transport) -> Duration {
        self.try_real_client(transport, CLIENT_TIMEOUT)
            .unwrap_or_else(|e| panic!("{transport:?}: {e}"))
    }

    /// A real client that waits up to `timeout`: how long it waited, or why it was not served.
    fn try_real_client(&self, transport: Transport, timeout: Duration) -> Result<Duration, String> {
        let started = Instant::now();
        let mut reply = Vec::new();
        let result = match transport {
            Transport::Unix => std::os::unix::net::UnixStream::connect(&self.socket)
                .and_then(|s| talk(s, &request(transport), &mut reply, timeout)),
            Transport::Tcp | Transport::Http => {
                TcpStream::connect(("127.0.0.1", self.port(transport)))
                    .and_then(|s| talk(s, &request(transport), &mut reply, timeout))
            }
        };
        let waited = started.elapsed();
        if let Err(e) = result {
            return Err(format!("the real client failed after {waited:?}: {e}"));
        }
        match verdict(transport, &reply) {
            Verdict::Credentials => Ok(waited),
            other => Err(format!(
                "{other:?} after {waited:?}: {}",
                String::from_utf8_lossy(&reply)
            )),
        }
    }

    fn port(&self, transport: Transport) -> u16 {
        match transport {
            Transport::Tcp => self.tcp,
            Transport::Http => self.http,
            Transport::Unix => unreachable!("the unix socket has no port"),
        }
    }

    /// Connects asynchronously (for the floods); the stream is boxed so all transports share
    /// one client.
    async fn connect(&self, transport: Transport) -> std::io::Result<Box<dyn AsyncStream>> {
        Ok(match transport {
            Transport::Unix => Box::new(tokio::net::UnixStream::connect(&self.socket).await?),
            _ => {
                Box::new(tokio::net::TcpStream::connect(("127.0.0.1", self.port(transport))).await?)
            }
        })
    }

    /// The daemon is still running.
    fn assert_alive(&mut self) {
        assert_eq!(self.daemon.exited(), None, "{}", self.daemon.log());
    }

    fn pid(&self) -> u32 {
        self.daemon.pid()
    }

    /// Stops the daemon: it exits cleanly and never panicked.
    fn finish(self) {
        let (status, log) = self.daemon.stop();
        assert!(status.success(), "{log}");
        assert!(!log.contains("panicked"), "{log}");
    }
}

/// Writes the request and reads the whole answer, within `timeout`.
fn talk<S: Read + Write + Timeouts>(
    mut s: S,
    send: &[u8],
    reply: &mut Vec<u8>,
    timeout: Duration,
) -> std::io::Result<()> {
    s.timeouts(timeout)?;
    s.write_all(send)?;
    let deadline = Instant::now() + timeout;
    let mut buf = [0u8; 4096];
    loop {
        let n = match s.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if n == 0 {
            return Ok(());
        }
        reply.extend_from_slice(&buf[..n]);
        if Instant::now() > deadline {
            return Err(ErrorKind::TimedOut.into());
        }
    }
}

/// Read and write timeouts on a blocking stream of either family.
trait Timeouts {
    fn timeouts(&self, timeout: Duration) -> std::io::Result<()>;
}

impl Timeouts for TcpStream {
    fn timeouts(&self, timeout: Duration) -> std::io::Result<()> {
        self.set_read_timeout(Some(timeout))?;
        self.set_write_timeout(Some(timeout))
    }
}

impl Timeouts for std::os::unix::net::UnixStream {
    fn timeouts(&self, timeout: Duration) -> std::io::Result<()> {
        self.set_read_timeout(Some(timeout))?;
        self.set_write_timeout(Some(timeout))
    }
}

trait AsyncStream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> AsyncStream for T {}

/// How one flood client fared.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Fate {
    Answered(Verdict),
    ConnectFailed(String),
    Failed(String),
    TimedOut,
}

fn error_name(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(code) => format!("{:?}", nix::errno::Errno::from_raw(code)),
        None => format!("{:?}", e.kind()),
    }
}

/// One flood client: connect, send the real request, read the answer.
async fn flood_client(served: Arc<Served>, transport: Transport) -> Fate {
    let attempt = async {
        let mut s = match served.connect(transport).await {
            Ok(s) => s,
            Err(e) => return Fate::ConnectFailed(error_name(&e)),
        };
        let mut reply = Vec::new();
        let io = async {
            s.write_all(&request(transport)).await?;
            s.read_to_end(&mut reply).await
        };
        match io.await {
            Ok(_) => Fate::Answered(verdict(transport, &reply)),
            Err(e) => Fate::Failed(error_name(&e)),
        }
    };
    tokio::time::timeout(FLOOD_CLIENT_TIMEOUT, attempt)
        .await
        .unwrap_or(Fate::TimedOut)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// 10,000 clients with the right secret connect at once on each transport in turn (all
/// connects started together, as fast as the test can open them). The daemon survives every
/// burst, every answer it gives is either complete credentials or a well-formed refusal, and a
/// real client is served after each burst. Non-blocking unix connects that find the backlog
/// full fail at once (EAGAIN), where a blocking client would wait; they are counted.
#[test]
fn a_burst_of_10000_connections_on_each_transport_is_survived() {
    const BURST: usize = 10_000;
    let limit = raise_own_fd_limit();
    assert!(
        limit as usize > BURST + 100,
        "open-file limit {limit} too low for the burst"
    );
    let served = Arc::new(start(None));
    let rt = runtime();
    for transport in TRANSPORTS {
        let started = Instant::now();
        let fates: Vec<Fate> = rt.block_on(async {
            let mut clients = JoinSet::new();
            for _ in 0..BURST {
                clients.spawn(flood_client(served.clone(), transport));
            }
            clients.join_all().await
        });
        let took = started.elapsed();
        let mut tally: BTreeMap<Fate, usize> = BTreeMap::new();
        for fate in fates {
            *tally.entry(fate).or_default() += 1;
        }
        let answered = tally
            .get(&Fate::Answered(Verdict::Credentials))
            .copied()
            .unwrap_or(0);
        println!(
            "burst {transport:?}: {BURST} clients in {:.2} s: {answered} answered with credentials; all fates: {tally:?}",
            took.as_secs_f64()
        );
        assert_eq!(
            tally.get(&Fate::Answered(Verdict::Garbled)),
            None,
            "{transport:?}: an answer was neither credentials nor a refusal: {tally:?}"
        );
        assert!(answered > 0, "{transport:?}: {tally:?}");
        let waited = served.real_client(transport);
        println!(
            "burst {transport:?}: a real client afterwards waited {:.1} ms",
            waited.as_secs_f64() * 1e3
        );
    }
    for transport in TRANSPORTS {
        served.real_client(transport);
    }
    let mut served = Arc::into_inner(served).expect("every client finished");
    served.assert_alive();
    println!("burst: daemon peak RSS {} KiB", vm_hwm_kib(served.pid()));
    served.finish();
}

/// CPU time (user + system) a process has used so far.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after "pid (comm)": utime and stime are the 12th and 13th.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    let per_second = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .unwrap()
        .unwrap() as u64;
    Duration::from_millis(ticks * 1000 / per_second)
}

/// The peak resident set size of a process (VmHWM), in KiB.
fn vm_hwm_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// The number of open descriptors of a process.
fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Opens `count` connections to `transport` that send `send` and then nothing more; they stay
/// open (unread) until dropped.
fn hold_open(
    served: &Served,
    transport: Transport,
    count: usize,
    send: &[u8],
) -> Vec<Box<dyn Write>> {
    let mut held: Vec<Box<dyn Write>> = Vec::with_capacity(count);
    for _ in 0..count {
        let mut s: Box<dyn Write> = match transport {
            Transport::Unix => match std::os::unix::net::UnixStream::connect(&served.socket) {
                Ok(s) => Box::new(s),
                Err(_) => continue,
            },
            _ => match TcpStream::connect(("127.0.0.1", served.port(transport))) {
                Ok(s) => Box::new(s),
                Err(_) => continue,
            },
        };
        let _ = s.write_all(send);
        held.push(s);
    }
    held
}

/// The daemon held to 256 descriptors and flooded with 1,800 connections (600 per transport)
/// that send nothing: accept() fails with EMFILE, the accept loops back off instead of spinning
/// (the EMFILE warnings per second and the CPU time used during the flood stay low), and once
/// the flood is gone every transport is served normally.
#[test]
fn a_flood_past_a_256_descriptor_limit_is_backed_off_and_survived() {
    const PER_TRANSPORT: usize = 600;
    const WINDOW: Duration = Duration::from_secs(8);
    raise_own_fd_limit();
    let mut served = start(Some(256));
    let pid = served.pid();
    let log_before = served.daemon.plain_log().len();
    let cpu_before = cpu_time(pid);
    let started = Instant::now();
    let mut flood = Vec::new();
    for transport in TRANSPORTS {
        flood.extend(hold_open(&served, transport, PER_TRANSPORT, b""));
    }
    let opened = flood.len();
    let mut peak_fds = 0;
    while started.elapsed() < WINDOW {
        peak_fds = peak_fds.max(open_fds(pid));
        std::thread::sleep(Duration::from_millis(100));
    }
    let window = started.elapsed();
    let cpu = cpu_time(pid) - cpu_before;
    let log = served.daemon.plain_log();
    let during = &log[log_before..];
    let emfile = during
        .lines()
        .filter(|l| l.contains("accept failed") && l.contains("Too many open files"))
        .count();
    let other_failures = during
        .lines()
        .filter(|l| l.contains("accept failed") && !l.contains("Too many open files"))
        .count();
    let per_second = emfile as f64 / window.as_secs_f64();
    let cpu_share = cpu.as_secs_f64() / window.as_secs_f64();
    println!(
        "emfile: {opened} connections opened against 256 descriptors; over {:.1} s: {emfile} EMFILE warnings ({per_second:.1}/s), {other_failures} other accept failures, daemon CPU {:.0} ms ({:.1} % of one core), peak {peak_fds} open descriptors",
        window.as_secs_f64(),
        cpu.as_secs_f64() * 1e3,
        cpu_share * 100.0
    );
    served.assert_alive();
    assert!(
        emfile > 0,
        "the flood never exhausted the descriptors:\n{during}"
    );
    // Backed off (5 ms doubling to 1 s per listener, restarting after each success): tens a
    // second at most; a loop spinning on EMFILE logs thousands.
    assert!(
        per_second < 50.0,
        "{per_second:.1} EMFILE warnings a second: spinning"
    );
    // A spinning accept loop burns a whole core; this flood needs a few percent.
    assert!(
        cpu_share < 0.5,
        "the daemon used {:.0} % of a core",
        cpu_share * 100.0
    );

    drop(flood);
    let recovered = Instant::now();
    for transport in TRANSPORTS {
        wait_until(
            &format!("{transport:?} served after the flood"),
            Duration::from_secs(30),
            || served.try_real_client(transport, CLIENT_TIMEOUT).is_ok(),
        );
    }
    println!(
        "emfile: every transport served {:.2} s after the flood was dropped",
        recovered.elapsed().as_secs_f64()
    );
    served.assert_alive();
    served.finish();
}

/// What an idle client sends before it falls silent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Idle {
    Nothing,
    /// Part of the secret line, no newline.
    HalfLine,
    /// Part of an HTTP request head, no blank line.
    HalfHead,
}

impl Idle {
    fn bytes(self) -> Vec<u8> {
        match self {
            Idle::Nothing => Vec::new(),
            Idle::HalfLine => SECRET.as_bytes()[..6].to_vec(),
            Idle::HalfHead => {
                format!("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nCognito-Api-Key: {SECRET}\r\n")
                    .into_bytes()
            }
        }
    }
}

/// How the daemon ended one idle connection.
#[derive(Debug)]
struct CutOff {
    transport: Transport,
    idle: Idle,
    /// From the end of what the client sent to the daemon's close.
    after: Duration,
    reply: Vec<u8>,
    /// The daemon closed it (rather than the client giving up).
    closed: bool,
}

/// One idle client: connects, sends its part, and waits (up to 2 minutes) for the daemon to cut
/// it off. Counts itself in `connected` once its part is sent.
async fn idle_client(
    served: Arc<Served>,
    transport: Transport,
    idle: Idle,
    connected: Arc<std::sync::atomic::AtomicUsize>,
) -> Option<CutOff> {
    let mut s = served.connect(transport).await.ok()?;
    s.write_all(&idle.bytes()).await.ok()?;
    let sent = Instant::now();
    connected.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let mut reply = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(120), s.read_to_end(&mut reply)).await;
    Some(CutOff {
        transport,
        idle,
        after: sent.elapsed(),
        reply,
        closed: matches!(read, Ok(Ok(_))),
    })
}

/// Min, median and max of some durations, in seconds.
fn spread(mut times: Vec<Duration>) -> String {
    times.sort();
    if times.is_empty() {
        return "none".into();
    }
    format!(
        "min {:.2} s, median {:.2} s, max {:.2} s",
        times[0].as_secs_f64(),
        times[times.len() / 2].as_secs_f64(),
        times[times.len() - 1].as_secs_f64()
    )
}

/// Real clients sent one after the other on each transport while an idle flood is open: the
/// first may find a slot its listener's accept loop took before the flood, the next ones not.
const REAL_CLIENTS: usize = 3;

/// What an idle flood showed.
struct IdleFlood {
    /// Each real client, sent once the flood was open: how long it waited, or why it was not
    /// served (it waits up to a minute).
    waits: Vec<(Transport, Result<Duration, String>)>,
    /// The daemon's peak RSS, KiB.
    hwm_kib: u64,
}

/// Opens `per_transport` idle connections on each of `transports` (half of them send nothing,
/// half send part of a secret line or of an HTTP head), sends [`REAL_CLIENTS`] real clients per
/// transport while they are open, then waits for the daemon to cut every idle one off. Checks each cut-off
/// (raw: exactly `not authorized`; http: closed, at most a 408, never a credential), prints when
/// they came, and stops the daemon.
fn idle_flood(served: Served, per_transport: usize, transports: &[Transport]) -> IdleFlood {
    let served = Arc::new(served);
    let pid = served.pid();
    let rt = runtime();
    let connected = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut holders = JoinSet::new();
    let opened = Instant::now();
    for &transport in transports {
        let variants = match transport {
            Transport::Http => [Idle::Nothing, Idle::HalfHead],
            _ => [Idle::Nothing, Idle::HalfLine],
        };
        for i in 0..per_transport {
            holders.spawn_on(
                idle_client(
                    served.clone(),
                    transport,
                    variants[i % 2],
                    connected.clone(),
                ),
                rt.handle(),
            );
        }
    }
    let total = per_transport * transports.len();
    wait_until(
        "the idle clients connected",
        Duration::from_secs(30),
        || connected.load(std::sync::atomic::Ordering::SeqCst) == total,
    );
    // The real clients come once the daemon has taken in as many idle ones as it will (its
    // descriptor count has stopped growing): they are then behind them, not racing them.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut last = (0, Instant::now());
    loop {
        let now = open_fds(pid);
        if now != last.0 {
            last = (now, Instant::now());
        } else if now >= total.min(MAX_CONNECTIONS) && last.1.elapsed() > Duration::from_millis(300)
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the daemon never took the idle clients in: {now} descriptors"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    println!(
        "idle: {total} connections open after {:.2} s; the daemon holds {} descriptors",
        opened.elapsed().as_secs_f64(),
        open_fds(pid)
    );

    // Real clients on every transport at once, one after the other on each, while all of
    // those are open.
    let waits: Vec<(Transport, Result<Duration, String>)> = std::thread::scope(|scope| {
        let clients: Vec<_> = TRANSPORTS
            .iter()
            .map(|&t| {
                let served = &served;
                scope.spawn(move || {
                    (0..REAL_CLIENTS)
                        .map(|_| (t, served.try_real_client(t, Duration::from_secs(60))))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        clients
            .into_iter()
            .flat_map(|c| c.join().unwrap())
            .collect()
    });
    for transport in TRANSPORTS {
        let of_it: Vec<String> = waits
            .iter()
            .filter(|(t, _)| *t == transport)
            .map(|(_, w)| match w {
                Ok(d) => format!("{:.3} s", d.as_secs_f64()),
                Err(e) => e.clone(),
            })
            .collect();
        println!(
            "idle: real {transport:?} clients waited: {}",
            of_it.join(", ")
        );
    }

    let cut_offs: Vec<CutOff> = rt
        .block_on(holders.join_all())
        .into_iter()
        .flatten()
        .collect();
    assert_eq!(cut_offs.len(), total, "some idle clients could not connect");
    let mut by_kind: BTreeMap<(Transport, Idle), Vec<Duration>> = BTreeMap::new();
    for cut in &cut_offs {
        let what = format!("{:?}/{:?}", cut.transport, cut.idle);
        assert!(cut.closed, "{what}: never closed by the daemon");
        let text = String::from_utf8_lossy(&cut.reply);
        match cut.transport {
            Transport::Unix | Transport::Tcp => {
                assert_eq!(cut.reply, NOT_AUTHORIZED, "{what}: {text:?}")
            }
            Transport::Http => assert!(
                text.is_empty() || text.starts_with("HTTP/1.1 408 "),
                "{what}: {text:?}"
            ),
        }
        by_kind
            .entry((cut.transport, cut.idle))
            .or_default()
            .push(cut.after);
    }
    for ((transport, idle), times) in by_kind {
        println!(
            "idle: {transport:?}/{idle:?} cut off after: {}",
            spread(times)
        );
    }
    let hwm_kib = vm_hwm_kib(pid);
    println!("idle: daemon peak RSS (VmHWM) {hwm_kib} KiB");
    let mut served = Arc::into_inner(served).expect("every client finished");
    for transport in TRANSPORTS {
        served.real_client(transport);
    }
    served.assert_alive();
    served.finish();
    IdleFlood { waits, hwm_kib }
}

/// 1,000 connections on each transport (3,000 in all) connect and send nothing, half a secret
/// line or half an HTTP head, and stay open. Every one is cut off by the daemon's timeouts (raw:
/// `not authorized` after the 2 s secret timeout; http: closed by the 5 s header timeout), the
/// real clients sent meanwhile are served (their wait is printed; the next test bounds it), and
/// the daemon's peak memory stays small.
#[test]
fn a_thousand_idle_connections_per_transport_are_cut_off_by_the_timeouts() {
    raise_own_fd_limit();
    let flood = idle_flood(start(None), 1000, &TRANSPORTS);
    for (transport, waited) in flood.waits {
        waited.unwrap_or_else(|e| panic!("{transport:?}: {e}"));
    }
    assert!(flood.hwm_kib < 64 * 1024, "peak RSS {} KiB", flood.hwm_kib);
}

/// The same flood: real clients on each transport are answered within an SDK's 5 s timeout
/// while the 3,000 idle connections are open.
#[test]
fn a_thousand_idle_connections_per_transport_do_not_hold_up_real_clients() {
    raise_own_fd_limit();
    let flood = idle_flood(start(None), 1000, &TRANSPORTS);
    for (transport, waited) in flood.waits {
        let waited = waited.unwrap_or_else(|e| panic!("{transport:?}: {e}"));
        assert!(waited < CLIENT_TIMEOUT, "{transport:?} waited {waited:?}");
    }
}

/// Idle connections on the http port, which every local user can reach, do not hold up the
/// clients of the unix socket, which only its group can reach: with 1,100 of them open (more
/// than the connection cap), unix clients are answered long before their 5 s header timeout.
#[test]
fn idle_connections_on_http_do_not_hold_up_the_unix_socket() {
    raise_own_fd_limit();
    let flood = idle_flood(start(None), 1100, &[Transport::Http]);
    for (transport, waited) in flood.waits {
        let waited = waited.unwrap_or_else(|e| panic!("{transport:?}: {e}"));
        if transport == Transport::Unix {
            assert!(
                waited < Duration::from_millis(2500),
                "a unix client waited {waited:?}"
            );
        }
    }
}

/// Issue 15, point 6: standalone under the common soft limit of 1,024 descriptors, one user's
/// idle http connections no longer starve the unix socket. The daemon raises its soft limit to
/// the hard one at start, and sizes each listener's cap from the descriptors it has, so that the
/// listeners together can never run it out of them. Before the fix, with soft = hard = 1,024,
/// 1,100 idle http connections made accept() fail with EMFILE on every listener, unix included.
#[test]
fn under_a_1024_descriptor_limit_idle_http_connections_do_not_starve_the_unix_socket() {
    raise_own_fd_limit();
    let emulator = Emulator::shared();
    let pool = Pool::seed(emulator, SeedOptions::default());

    // Soft 1,024 under a higher hard limit: raised at start.
    let raised = EveryTransport::start_under(
        &["prlimit", "--nofile=1024:8192", "--"],
        emulator,
        &pool,
        SECRET,
        &[("RUST_LOG", "info")],
    );
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", raised.daemon.pid())).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    assert_eq!(
        line.split_whitespace().skip(3).take(2).collect::<Vec<_>>(),
        ["8192", "8192"],
        "{line}"
    );
    drop(raised);

    // Soft and hard 1,024: the caps share what there is.
    let EveryTransport {
        daemon,
        socket,
        tcp,
        http,
        dir,
        ..
    } = EveryTransport::start_under(
        &["prlimit", "--nofile=1024:1024", "--"],
        emulator,
        &pool,
        SECRET,
        &[("RUST_LOG", "info")],
    );
    let served = Served {
        daemon,
        socket,
        tcp,
        http,
        _dir: dir,
    };
    let pid = served.pid();
    let idle: Vec<TcpStream> = (0..1100)
        .map(|_| TcpStream::connect(("127.0.0.1", http)).unwrap())
        .collect();
    // Until the daemon has taken in as many as it will (its descriptor count stops growing).
    let mut last = (0, Instant::now());
    while last.0 == 0 || last.1.elapsed() < Duration::from_millis(500) {
        let now = open_fds(pid);
        if now != last.0 {
            last = (now, Instant::now());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    println!(
        "1,100 idle http connections: the daemon holds {} descriptors",
        last.0
    );
    for _ in 0..REAL_CLIENTS {
        served
            .try_real_client(Transport::Unix, Duration::from_secs(60))
            .unwrap_or_else(|e| panic!("a unix client with idle http connections open: {e}"));
    }
    let log = served.daemon.plain_log();
    assert!(!log.contains("accept failed"), "{log}");
    assert!(log.contains("fewer connections served at once"), "{log}");
    drop(idle);
    served.finish();
}
