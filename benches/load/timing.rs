//! Whether a wrong shared secret answers in the same time as the right one (issue 8, point 8):
//! many tries of the right secret and of wrong ones of the same length (every byte wrong, only
//! the first byte wrong, only the last byte wrong), interleaved in a shuffled order so that drift
//! on the shared machine hits them alike, timed from the client and reported as ratios of
//! medians. Measured, never asserted: a timing on a shared VM is evidence, not proof; the
//! comparison is constant-time by construction (`SharedSecret::matches`: SHA-256, then `subtle`).
//!
//! Only tries that follow a wrong one are counted: cognitod logs a refusal (at info) once the
//! client has closed, so the try after a refused one starts while that line is being written, and
//! in shuffled rounds the right secret follows a wrong one more often than a wrong one does (15
//! times in 16 against 11 in 16); counted regardless, the right secret measured 3-4 % slower on
//! the unix socket, an effect that vanished with RUST_LOG=warn.
//!
//! Blocking sockets on the bench's own thread, one request at a time: the least noise a client
//! can add. Raw transports: a connection per try, timed from connect to the end of the answer.
//! HTTP: one keep-alive connection, each request timed from its write to the end of its body.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use rand::seq::SliceRandom;
use rand::SeedableRng;

use crate::generator::{check_document, Target};
use crate::limit::NOT_AUTHORIZED;

/// The right secret and three wrong ones of its length: every byte wrong, the first byte wrong,
/// the last byte wrong.
fn candidates(secret: &str) -> [Vec<u8>; 4] {
    let other = |b: u8| if b == b'x' { b'y' } else { b'x' };
    let right = secret.as_bytes().to_vec();
    let every: Vec<u8> = right.iter().map(|&b| other(b)).collect();
    let mut first = right.clone();
    first[0] = other(first[0]);
    let mut last = right.clone();
    let end = last.len() - 1;
    last[end] = other(last[end]);
    [right, every, first, last]
}

/// What one (server, transport) measured.
#[derive(Debug, Default)]
pub struct Timing {
    /// Tries counted for the candidate counted least (each counts those following a wrong try).
    pub tries: usize,
    /// Median time of each candidate, in the order of [`candidates`].
    pub medians: [Duration; 4],
    /// The right secret's median over odd rounds divided by its median over even rounds: how
    /// far apart two identical sets of tries come out, the noise to read the other ratios by.
    pub right_a_a: f64,
    /// Answers that were not what the candidate should get, and failed connections.
    pub errors: usize,
    /// The first of those, to say what went wrong.
    pub first_error: Option<String>,
}

/// `rounds` rounds (after `warmup` uncounted ones), each sending every candidate once in a
/// shuffled order.
pub fn measure(target: &Target, secret: &str, warmup: usize, rounds: usize) -> Timing {
    let candidates = candidates(secret);
    let mut client = Client::new(target);
    let mut samples: [Vec<Duration>; 4] = Default::default();
    let mut right_by_parity: [Vec<Duration>; 2] = Default::default();
    let mut timing = Timing::default();
    // A fixed seed: the same orders in every run, so two runs differ only by the machine.
    let mut rng = rand::rngs::StdRng::seed_from_u64(8);
    let mut order = [0usize, 1, 2, 3];
    let mut after_wrong = false;
    for round in 0..warmup + rounds {
        order.shuffle(&mut rng);
        for &which in &order {
            match client.ask(&candidates[which], which == 0) {
                Ok(took) if round >= warmup && after_wrong => {
                    samples[which].push(took);
                    if which == 0 {
                        right_by_parity[round % 2].push(took);
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    timing.errors += 1;
                    timing.first_error.get_or_insert(e);
                    client.http = None;
                }
            }
            after_wrong = which != 0;
        }
    }
    timing.tries = samples.iter().map(Vec::len).min().unwrap_or(0);
    for (median, samples) in timing.medians.iter_mut().zip(&mut samples) {
        *median = median_of(samples);
    }
    let [odd, even] = right_by_parity.map(|mut s| median_of(&mut s));
    timing.right_a_a = ratio(odd, even);
    timing
}

/// `a / b`, 0 when `b` is 0.
pub fn ratio(a: Duration, b: Duration) -> f64 {
    if b.is_zero() {
        0.0
    } else {
        a.as_secs_f64() / b.as_secs_f64()
    }
}

fn median_of(samples: &mut [Duration]) -> Duration {
    if samples.is_empty() {
        return Duration::ZERO;
    }
    samples.sort_unstable();
    samples[samples.len() / 2]
}

/// A blocking client; HTTP keeps its connection.
struct Client<'t> {
    target: &'t Target,
    http: Option<TcpStream>,
    buffer: Vec<u8>,
}

impl<'t> Client<'t> {
    fn new(target: &'t Target) -> Client<'t> {
        Client {
            target,
            http: None,
            buffer: Vec::with_capacity(4096),
        }
    }

    /// Sends `secret`, reads the whole answer, checks it is what `right` says it should be, and
    /// returns how long that took.
    fn ask(&mut self, secret: &[u8], right: bool) -> Result<Duration, String> {
        let io = |what: &'static str| move |e: std::io::Error| format!("{what}: {e}");
        self.buffer.clear();
        match self.target {
            Target::Unix(path) => {
                let line = [secret, b"\n"].concat();
                let started = Instant::now();
                let mut s = UnixStream::connect(path).map_err(io("connect"))?;
                s.write_all(&line).map_err(io("write"))?;
                s.read_to_end(&mut self.buffer).map_err(io("read"))?;
                let took = started.elapsed();
                raw_answer(&self.buffer, right).map(|()| took)
            }
            Target::Tcp(address) => {
                let line = [secret, b"\n"].concat();
                let started = Instant::now();
                let mut s = TcpStream::connect(address).map_err(io("connect"))?;
                s.set_nodelay(true).map_err(io("nodelay"))?;
                s.write_all(&line).map_err(io("write"))?;
                s.read_to_end(&mut self.buffer).map_err(io("read"))?;
                let took = started.elapsed();
                raw_answer(&self.buffer, right).map(|()| took)
            }
            Target::Http(address) => {
                if self.http.is_none() {
                    let s = TcpStream::connect(address).map_err(io("connect"))?;
                    s.set_nodelay(true).map_err(io("nodelay"))?;
                    s.set_read_timeout(Some(Duration::from_secs(5)))
                        .map_err(io("timeout"))?;
                    self.http = Some(s);
                }
                let s = self.http.as_mut().expect("just connected");
                let request = [
                    &b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nCognito-Api-Key: "[..],
                    secret,
                    b"\r\n\r\n",
                ]
                .concat();
                let started = Instant::now();
                s.write_all(&request).map_err(io("write"))?;
                let (status, body) = read_response(s, &mut self.buffer)?;
                let took = started.elapsed();
                match (right, status) {
                    (true, 200) => check_document(body).map(|()| took),
                    (false, 401) => Ok(took),
                    _ => Err(format!(
                        "status {status} for {} secret",
                        if right { "the right" } else { "a wrong" }
                    )),
                }
            }
        }
    }
}

fn raw_answer(answer: &[u8], right: bool) -> Result<(), String> {
    if right {
        check_document(answer)
    } else if answer == NOT_AUTHORIZED {
        Ok(())
    } else {
        Err(format!(
            "a wrong secret got {:?}",
            String::from_utf8_lossy(&answer[..answer.len().min(80)])
        ))
    }
}

/// Reads one response framed by Content-Length; returns its status and body.
fn read_response<'b>(
    s: &mut TcpStream,
    buffer: &'b mut Vec<u8>,
) -> Result<(u16, &'b [u8]), String> {
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let n = s.read(&mut chunk).map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            return Err("closed inside the response head".into());
        }
        buffer.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("no status in {head:?}"))?;
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .ok_or("no Content-Length")?;
    while buffer.len() < head_end + length {
        let n = s.read(&mut chunk).map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            return Err("closed inside the body".into());
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
    Ok((status, &buffer[head_end..head_end + length]))
}
