//! The load generator: N concurrent clients, each asking again as soon as it has its answer, for
//! a fixed time. Only complete and correct answers count (the JSON is parsed and its fields
//! checked); errors and timeouts are counted apart. The same code drives cognitod and the limit
//! server, so whatever the generator costs is paid equally by both.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Deserialize;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UnixStream};

/// Longest a request may take before it counts as a timeout (the SDKs give up after 5 s too).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest answer read (credentials are a few KiB).
const MAX_ANSWER: usize = 64 * 1024;

/// Where the clients go, and how they talk.
#[derive(Debug, Clone)]
pub enum Target {
    /// Raw protocol on a unix socket: a connection per request.
    Unix(PathBuf),
    /// Raw protocol on TCP: a connection per request.
    Tcp(SocketAddr),
    /// `GET /` over HTTP/1.1, one keep-alive connection per client.
    Http(SocketAddr),
}

impl Target {
    /// The transport's name, as cognitod names it.
    pub fn name(&self) -> &'static str {
        match self {
            Target::Unix(_) => "unix",
            Target::Tcp(_) => "tcp",
            Target::Http(_) => "http",
        }
    }
}

/// One measurement.
#[derive(Debug, Clone)]
pub struct Run {
    /// The clients at once.
    pub clients: usize,
    /// Time before counting starts (connections opened, caches warm).
    pub warmup: Duration,
    /// Time counted.
    pub duration: Duration,
    /// The shared secret (sent as a line, or in `Cognito-Api-Key`).
    pub secret: Arc<str>,
}

/// What a run measured.
#[derive(Debug, Default, Clone)]
pub struct Outcome {
    /// Complete and correct answers within the counted time.
    pub ok: u64,
    /// Wrong, incomplete or refused answers, and failed connections.
    pub errors: u64,
    /// Requests that took longer than [`REQUEST_TIMEOUT`].
    pub timeouts: u64,
    /// Latency of every correct answer, in nanoseconds.
    pub latencies_ns: Vec<u64>,
    /// The counted time.
    pub elapsed: Duration,
    /// The first error seen, to say what went wrong.
    pub first_error: Option<String>,
}

impl Outcome {
    /// Correct answers per second.
    pub fn per_second(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Folds another run of the same cell in (its latencies pooled).
    pub fn absorb(&mut self, other: Outcome) {
        self.ok += other.ok;
        self.errors += other.errors;
        self.timeouts += other.timeouts;
        self.latencies_ns.extend(other.latencies_ns);
        self.elapsed += other.elapsed;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }
}

/// Latency percentiles of a set of samples.
#[derive(Debug, Clone, Copy, Default)]
pub struct Percentiles {
    /// Median.
    pub p50: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// 99.9th percentile.
    pub p999: Duration,
}

/// Nearest-rank percentiles (sorts the samples in place).
pub fn percentiles(samples: &mut [u64]) -> Percentiles {
    if samples.is_empty() {
        return Percentiles::default();
    }
    samples.sort_unstable();
    let rank = |p: f64| {
        let index = ((p * samples.len() as f64).ceil() as usize).clamp(1, samples.len()) - 1;
        Duration::from_nanos(samples[index])
    };
    Percentiles {
        p50: rank(0.50),
        p99: rank(0.99),
        p999: rank(0.999),
    }
}

/// Drives `run.clients` clients against `target` and measures.
pub async fn drive(target: &Target, run: &Run) -> Outcome {
    let start = Instant::now();
    let counted_from = start + run.warmup;
    let end = counted_from + run.duration;
    let clients: Vec<_> = (0..run.clients)
        .map(|_| {
            let target = target.clone();
            let secret = run.secret.clone();
            tokio::spawn(async move { client(target, secret, counted_from, end).await })
        })
        .collect();
    let mut total = Outcome::default();
    for client in clients {
        total.absorb(client.await.expect("a client task panicked"));
    }
    total.elapsed = run.duration;
    total
}

/// One client's connection state: HTTP keeps its connection between requests.
struct Client {
    target: Target,
    /// The bytes sent per request (the secret line, or the HTTP request).
    request: Vec<u8>,
    /// Reused across requests, so the generator allocates nothing per request once warm.
    buffer: Vec<u8>,
    http: Option<TcpStream>,
}

async fn client(target: Target, secret: Arc<str>, counted_from: Instant, end: Instant) -> Outcome {
    let mut client = Client::new(target, &secret);
    let mut outcome = Outcome::default();
    loop {
        let started = Instant::now();
        if started >= end {
            break;
        }
        let result = tokio::time::timeout(REQUEST_TIMEOUT, client.request()).await;
        let finished = Instant::now();
        let counted = started >= counted_from && finished <= end;
        match result {
            Ok(Ok(())) => {
                if counted {
                    outcome.ok += 1;
                    outcome
                        .latencies_ns
                        .push((finished - started).as_nanos() as u64);
                }
            }
            // Failures count wherever they happen, warm-up included.
            Ok(Err(error)) => {
                client.http = None;
                outcome.errors += 1;
                outcome.first_error.get_or_insert(error);
                // A refused connection must not turn into a busy loop.
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            Err(_) => {
                client.http = None;
                outcome.timeouts += 1;
            }
        }
    }
    outcome
}

impl Client {
    fn new(target: Target, secret: &str) -> Client {
        let request = match target {
            Target::Http(_) => {
                format!("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nCognito-Api-Key: {secret}\r\n\r\n")
                    .into_bytes()
            }
            _ => format!("{secret}\n").into_bytes(),
        };
        Client {
            target,
            request,
            buffer: Vec::with_capacity(8 * 1024),
            http: None,
        }
    }

    async fn request(&mut self) -> Result<(), String> {
        match &self.target {
            Target::Unix(path) => {
                let stream = UnixStream::connect(path)
                    .await
                    .map_err(|e| format!("connect: {e}"))?;
                raw_exchange(stream, &self.request, &mut self.buffer).await
            }
            Target::Tcp(address) => {
                let stream = TcpStream::connect(address)
                    .await
                    .map_err(|e| format!("connect: {e}"))?;
                stream.set_nodelay(true).map_err(|e| e.to_string())?;
                raw_exchange(stream, &self.request, &mut self.buffer).await
            }
            Target::Http(address) => {
                let address = *address;
                // A keep-alive connection the server closed between requests is not an error of
                // the request: reconnect once.
                for attempt in 0..2 {
                    let reused = self.http.is_some();
                    if self.http.is_none() {
                        let stream = TcpStream::connect(address)
                            .await
                            .map_err(|e| format!("connect: {e}"))?;
                        stream.set_nodelay(true).map_err(|e| e.to_string())?;
                        self.http = Some(stream);
                    }
                    let stream = self.http.as_mut().expect("just connected");
                    match http_exchange(stream, &self.request, &mut self.buffer).await {
                        Ok(keep) => {
                            if !keep {
                                self.http = None;
                            }
                            return Ok(());
                        }
                        Err(HttpError::ClosedBeforeAnswer) if reused && attempt == 0 => {
                            self.http = None;
                        }
                        Err(HttpError::ClosedBeforeAnswer) => {
                            return Err("connection closed before the answer".into())
                        }
                        Err(HttpError::Other(e)) => return Err(e),
                    }
                }
                Err("connection closed twice".into())
            }
        }
    }
}

/// Sends the secret line, reads the answer to the end of the stream, checks it.
async fn raw_exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    request: &[u8],
    buffer: &mut Vec<u8>,
) -> Result<(), String> {
    stream
        .write_all(request)
        .await
        .map_err(|e| format!("write: {e}"))?;
    buffer.clear();
    (&mut stream)
        .take(MAX_ANSWER as u64)
        .read_to_end(buffer)
        .await
        .map_err(|e| format!("read: {e}"))?;
    if buffer.last() != Some(&b'\n') {
        return Err(format!(
            "answer without its newline ({} bytes)",
            buffer.len()
        ));
    }
    check_document(buffer)
}

enum HttpError {
    ClosedBeforeAnswer,
    Other(String),
}

/// Sends one request on a keep-alive connection and reads one response (Content-Length framed).
/// Returns whether the connection may be used again.
async fn http_exchange(
    stream: &mut TcpStream,
    request: &[u8],
    buffer: &mut Vec<u8>,
) -> Result<bool, HttpError> {
    let other = |e: String| HttpError::Other(e);
    stream
        .write_all(request)
        .await
        .map_err(|e| other(format!("write: {e}")))?;
    buffer.clear();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(end) = find(buffer, b"\r\n\r\n") {
            break end + 4;
        }
        if buffer.len() > MAX_ANSWER {
            return Err(other("response head too long".into()));
        }
        let n = stream.read(&mut chunk).await.map_err(|e| {
            if buffer.is_empty() && e.kind() == std::io::ErrorKind::ConnectionReset {
                HttpError::ClosedBeforeAnswer
            } else {
                other(format!("read: {e}"))
            }
        })?;
        if n == 0 {
            return Err(if buffer.is_empty() {
                HttpError::ClosedBeforeAnswer
            } else {
                other("connection closed inside the response head".into())
            });
        }
        buffer.extend_from_slice(&chunk[..n]);
    };
    let head = std::str::from_utf8(&buffer[..head_end])
        .map_err(|_| other("response head is not UTF-8".into()))?;
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap_or("");
    if !status.starts_with("HTTP/1.1 200 ") {
        return Err(other(format!("status line {status:?}")));
    }
    let mut length = None;
    let mut keep = true;
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                length = value.parse::<usize>().ok();
            } else if name.eq_ignore_ascii_case("connection") && value.eq_ignore_ascii_case("close")
            {
                keep = false;
            }
        }
    }
    let length = length.ok_or_else(|| other("no Content-Length".into()))?;
    if length > MAX_ANSWER {
        return Err(other(format!("Content-Length {length}")));
    }
    while buffer.len() < head_end + length {
        let n = stream
            .read(&mut chunk)
            .await
            .map_err(|e| other(format!("read: {e}")))?;
        if n == 0 {
            return Err(other("connection closed inside the body".into()));
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
    if buffer.len() != head_end + length {
        return Err(other("bytes after the response".into()));
    }
    check_document(&buffer[head_end..]).map_err(other)?;
    Ok(keep)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The credential_process document, as a client reads it.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Document<'a> {
    version: u8,
    #[serde(borrow)]
    access_key_id: Cow<'a, str>,
    #[serde(borrow)]
    secret_access_key: Cow<'a, str>,
    #[serde(borrow)]
    session_token: Cow<'a, str>,
    #[serde(borrow)]
    expiration: Cow<'a, str>,
}

/// Parses a credential_process document and checks its fields: Version 1, the three credentials
/// present, an RFC 3339 UTC Expiration.
pub fn check_document(bytes: &[u8]) -> Result<(), String> {
    let doc: Document = serde_json::from_slice(bytes).map_err(|e| {
        format!(
            "not a credential_process document ({e}): {:?}",
            String::from_utf8_lossy(&bytes[..bytes.len().min(120)])
        )
    })?;
    let complete = doc.version == 1
        && doc.access_key_id.len() >= 16
        && !doc.secret_access_key.is_empty()
        && !doc.session_token.is_empty()
        && doc.expiration.len() == 20
        && doc.expiration.ends_with('Z');
    if complete {
        Ok(())
    } else {
        Err("credential_process document with missing or malformed fields".into())
    }
}

/// `n` requests one after the other from one client; returns how many were answered correctly.
pub async fn repeat(target: &Target, secret: &str, n: usize) -> usize {
    let mut client = Client::new(target.clone(), secret);
    let mut ok = 0;
    for _ in 0..n {
        if let Ok(Ok(())) = tokio::time::timeout(REQUEST_TIMEOUT * 4, client.request()).await {
            ok += 1;
        } else {
            client.http = None;
        }
    }
    ok
}

/// A request sent on a connection opened before the server started; [`Pending::finish`] reads
/// and checks its answer.
pub struct Pending {
    client: Client,
    raw: Option<Box<dyn RawStream>>,
}

/// A raw-protocol connection of either family.
trait RawStream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> RawStream for T {}

impl Pending {
    /// Connects and sends the request (the secret line, or the HTTP request).
    pub async fn open(target: Target, secret: &str) -> Pending {
        let mut client = Client::new(target, secret);
        let mut raw: Option<Box<dyn RawStream>> = None;
        match &client.target {
            Target::Unix(path) => {
                let mut s = UnixStream::connect(path).await.expect("connecting");
                s.write_all(&client.request).await.expect("sending");
                raw = Some(Box::new(s));
            }
            Target::Tcp(address) => {
                let mut s = TcpStream::connect(address).await.expect("connecting");
                s.write_all(&client.request).await.expect("sending");
                raw = Some(Box::new(s));
            }
            Target::Http(address) => {
                let mut s = TcpStream::connect(address).await.expect("connecting");
                s.write_all(&client.request).await.expect("sending");
                client.http = Some(s);
            }
        }
        Pending { client, raw }
    }

    /// Reads the answer and checks it.
    pub async fn finish(mut self) -> Result<(), String> {
        let read = async {
            match self.raw.as_mut() {
                Some(stream) => {
                    let buffer = &mut self.client.buffer;
                    (&mut *stream)
                        .take(MAX_ANSWER as u64)
                        .read_to_end(buffer)
                        .await
                        .map_err(|e| format!("read: {e}"))?;
                    check_document(buffer)
                }
                None => {
                    let stream = self.client.http.as_mut().expect("an http connection");
                    http_exchange(stream, &[], &mut self.client.buffer)
                        .await
                        .map(|_| ())
                        .map_err(|e| match e {
                            HttpError::ClosedBeforeAnswer => "closed before the answer".into(),
                            HttpError::Other(e) => e,
                        })
                }
            }
        };
        tokio::time::timeout(REQUEST_TIMEOUT * 2, read)
            .await
            .unwrap_or_else(|_| Err("timed out".into()))
    }
}
