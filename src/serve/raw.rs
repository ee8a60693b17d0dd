//! The raw protocol of the unix and tcp listeners, as the original tool spoke it.
//!
//! With a shared secret configured: read one line (at most [`MAX_SECRET_LINE`] bytes; a newline or
//! the end of the stream ends it) within [`SECRET_READ_TIMEOUT`], compare it in constant time, and
//! answer. A client whose bytes so far are exactly the secret is answered at once, without
//! waiting for a newline or the end of its output: a secret file written without a newline (as
//! the SDKs' token files must be) then works with `nc -U sock < file`, which does not half-close.
//! Without a secret: answer at once without reading (tcp only with `allow_no_secret`). The answer
//! is one JSON document and a newline; then the connection is closed.

use std::borrow::Cow;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};

use super::{Context, Outcome};
use crate::credentials::FIRST_ANSWER_WAIT;
use crate::protocol::{unavailable_body, NOT_AUTHORIZED_LINE, NO_SECRET_REFUSAL};
use crate::secret::SharedSecret;
use zeroize::{Zeroize, Zeroizing};

/// Longest secret line accepted, newline excluded; anything longer is refused unread.
pub const MAX_SECRET_LINE: usize = 1024;
/// How long a client has to send its secret line.
pub const SECRET_READ_TIMEOUT: Duration = Duration::from_secs(2);
/// How long writing the answer may take before the client is given up on.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long to wait for the client to close after the answer, so that unread input does not make
/// the kernel reset the connection before the client has read the answer.
const LINGER_TIMEOUT: Duration = Duration::from_secs(1);

/// Why no acceptable secret line was read.
#[derive(Debug, PartialEq, Eq)]
pub enum LineError {
    /// More than [`MAX_SECRET_LINE`] bytes without a newline.
    TooLong,
    /// Nothing complete within [`SECRET_READ_TIMEOUT`].
    Timeout,
    /// The connection failed.
    Io(std::io::ErrorKind),
}

/// The buffer a connection reads its secret line into first; see [`read_secret_line`].
pub const SCRATCH: usize = 256;

/// What a client offered as its secret.
#[derive(Debug, PartialEq, Eq)]
pub enum Offered<'b> {
    /// A line, ended by a newline or the end of the stream; compare it, trimmed.
    Line(Cow<'b, [u8]>),
    /// The bytes received so far are exactly the secret, without a newline and before the end of
    /// the stream: the client may still send a newline, or nothing (`nc -U sock < file` with a
    /// file without one, which does not half-close).
    Secret,
}

/// Reads the secret line: up to a newline or the end of the stream, capped and timed. With
/// `secret`, it also stops as soon as the bytes received are exactly that secret
/// ([`Offered::Secret`]). That check runs only after a read that brought no newline, compares
/// digests in constant time, and can only end the wait early for the right secret: a wrong or
/// partial one waits for its newline, the end of the stream or the timeout, as before, so the
/// time to an answer tells nothing about how close a guess was.
///
/// Into `scratch` first, and the line borrows it when it fits, as any secret of a sensible length
/// does: no allocation then, for a read that happens on every connection. A longer line moves to
/// an allocated buffer. (A buffer of the whole cap on the stack instead would grow the
/// connection's future by a KiB, which is copied when the connection is spawned and costs more
/// than the allocation saved.)
pub async fn read_secret_line<'b, S: AsyncRead + Unpin>(
    stream: &mut S,
    scratch: &'b mut [u8; SCRATCH],
    secret: Option<&SharedSecret>,
) -> Result<Offered<'b>, LineError> {
    let read = async move {
        match scan(stream, scratch, 0, secret).await? {
            Scan::Line(end) => {
                let scratch: &'b [u8] = scratch;
                return Ok(Offered::Line(Cow::Borrowed(&scratch[..end])));
            }
            Scan::Secret => return Ok(Offered::Secret),
            Scan::Full => {}
        }
        // One byte more than the cap: filling it shows the line is too long.
        // Zeroed when dropped: it may hold the secret (the caller zeroes a line it is given).
        let mut line = Zeroizing::new(vec![0u8; MAX_SECRET_LINE + 1]);
        line[..SCRATCH].copy_from_slice(scratch);
        match scan(stream, &mut line, SCRATCH, secret).await? {
            Scan::Line(end) => {
                line.truncate(end);
                Ok(Offered::Line(Cow::Owned(std::mem::take(&mut *line))))
            }
            Scan::Secret => Ok(Offered::Secret),
            Scan::Full => Err(LineError::TooLong),
        }
    };
    tokio::time::timeout(SECRET_READ_TIMEOUT, read)
        .await
        .unwrap_or(Err(LineError::Timeout))
}

/// Where [`scan`] stopped.
enum Scan {
    /// A newline or the end of the stream: the line is `buf[..end]`.
    Line(usize),
    /// What was read is exactly the secret.
    Secret,
    /// The buffer filled up first.
    Full,
}

/// Reads into `buf` after its first `len` bytes until a newline, the end of the stream, the
/// bytes read being exactly `secret`, or the buffer is full.
async fn scan<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut [u8],
    mut len: usize,
    secret: Option<&SharedSecret>,
) -> Result<Scan, LineError> {
    loop {
        // Checked before reading: a read into an empty slice returns 0, which means the end of
        // the stream.
        if len == buf.len() {
            return Ok(Scan::Full);
        }
        let n = stream
            .read(&mut buf[len..])
            .await
            .map_err(|e| LineError::Io(e.kind()))?;
        if n == 0 {
            return Ok(Scan::Line(len));
        }
        if let Some(end) = buf[len..len + n].iter().position(|&b| b == b'\n') {
            return Ok(Scan::Line(len + end));
        }
        len += n;
        if secret.is_some_and(|s| s.matches(&buf[..len])) {
            return Ok(Scan::Secret);
        }
    }
}

/// Strips surrounding whitespace (`nc <<< secret` sends a newline, Windows tools a CR).
fn trim(line: &[u8]) -> &[u8] {
    let start = line
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(line.len());
    let end = line
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &line[start..end]
}

/// Serves one raw-protocol connection.
pub async fn handle<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, ctx: &Context) -> Outcome {
    // Without a secret nothing is read, so whatever the client sends is still unread at the end.
    let mut then = Then::AwaitClientClose;
    if let Some(secret) = &ctx.secret {
        // What the client sent is the secret itself when it is right, and the task's memory,
        // where `scratch` lives, is freed as it is when the connection ends: zeroed on every path.
        let mut scratch = Zeroizing::new([0u8; SCRATCH]);
        let refused = match read_secret_line(&mut stream, &mut scratch, Some(secret)).await {
            // The client may still send a newline, or nothing until we close: wait for it to
            // close after the answer, so that its late bytes cannot reset the connection.
            Ok(Offered::Secret) => None,
            Ok(Offered::Line(mut line)) => {
                // The whole line is read: the client has said all the protocol lets it say.
                then = Then::CloseUnlessMoreArrived;
                let refused = if secret.matches(trim(&line)) {
                    None
                } else if line.is_empty() {
                    Some(Outcome::MissingSecret)
                } else {
                    Some(Outcome::WrongSecret)
                };
                if let Cow::Owned(long) = &mut line {
                    long.zeroize();
                }
                refused
            }
            Err(LineError::TooLong) => Some(Outcome::OversizedSecret),
            Err(LineError::Timeout) => Some(Outcome::SecretTimeout),
            Err(LineError::Io(_)) => return Outcome::ClientGone,
        };
        if let Some(outcome) = refused {
            finish(&mut stream, NOT_AUTHORIZED_LINE, then).await;
            return outcome;
        }
    }
    match ctx.store.answer(FIRST_ANSWER_WAIT).await {
        Ok(issued) => {
            if finish(&mut stream, &issued.documents.raw, then).await {
                Outcome::Served
            } else {
                Outcome::ClientGone
            }
        }
        Err(reason) => {
            finish(&mut stream, &unavailable_body(&reason), then).await;
            Outcome::Unavailable
        }
    }
}

/// Refuses a tcp client because no shared secret is configured and the operator did not allow
/// that ([`super::Context::allow_no_secret`]), reading nothing from it: whatever it sent, an HTTP
/// request forged through some local application included, gets the refusal and no credentials.
pub(crate) async fn refuse_without_secret<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
) -> Outcome {
    let mut answer = serde_json::to_vec(&serde_json::json!({ "error": NO_SECRET_REFUSAL }))
        .expect("a JSON object of strings serializes");
    answer.push(b'\n');
    finish(&mut stream, &answer, Then::AwaitClientClose).await;
    Outcome::NoSecretConfigured
}

/// Refuses a peer the allow-lists do not name, reading nothing from it.
pub(crate) async fn refuse<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S) -> Outcome {
    finish(&mut stream, NOT_AUTHORIZED_LINE, Then::AwaitClientClose).await;
    Outcome::PeerRefused
}

/// How a connection ends once the answer is written and our side is shut down.
///
/// Closing a socket whose input is unread makes the kernel reset the connection (TCP sends a
/// reset, which can cost the client the answer still in flight; a unix socket reports
/// `ECONNRESET` to the client after the answer). Waiting for the client to close avoids that, at
/// the price of one more wake-up and a timer per connection: the largest part of the 64-client
/// tail latency in BENCHMARKS.md. So it is done only when the client's input is not known to be
/// complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Then {
    /// The client's line was read to its newline or end: close at once, unless more input has
    /// already arrived (a client sending past its line), in which case wait as below.
    CloseUnlessMoreArrived,
    /// Read what the client still sends until it closes, bounded in time and size: no secret
    /// line was read (none configured, or a peer refused unread), or it was cut off (too long,
    /// too slow).
    AwaitClientClose,
}

/// Writes the answer, closes our side, and ends the connection as `then` says. Returns whether
/// the answer was written completely.
async fn finish<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    answer: &[u8],
    then: Then,
) -> bool {
    let written = tokio::time::timeout(WRITE_TIMEOUT, async {
        stream.write_all(answer).await?;
        stream.shutdown().await
    })
    .await;
    let ok = matches!(written, Ok(Ok(())));
    if !ok || (then == Then::CloseUnlessMoreArrived && !more_input_arrived(stream).await) {
        return ok;
    }
    // Drain what the client still sends until it closes; bounded in time and size.
    let _ = tokio::time::timeout(LINGER_TIMEOUT, async {
        let mut sink = [0u8; 512];
        let mut left = 16 * 1024;
        while left > 0 {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(n) => left -= n.min(left),
            }
        }
    })
    .await;
    ok
}

/// Whether input has arrived past what was read (reading and dropping a little of it), checked
/// without waiting: input the runtime already knows of. Input that arrives later finds the
/// connection closed; the client has its answer by then.
async fn more_input_arrived<S: AsyncRead + Unpin>(stream: &mut S) -> bool {
    let mut sink = [0u8; 64];
    std::future::poll_fn(|cx| {
        let mut unread = ReadBuf::new(&mut sink);
        Poll::Ready(match Pin::new(&mut *stream).poll_read(cx, &mut unread) {
            Poll::Ready(Ok(())) => !unread.filled().is_empty(),
            // The end of the stream (nothing can follow), a failed connection, or nothing yet.
            Poll::Ready(Err(_)) | Poll::Pending => false,
        })
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;
    use tokio::io::{duplex, DuplexStream};

    /// The line reader without a secret to stop at.
    async fn read_line<'b>(
        stream: &mut DuplexStream,
        buf: &'b mut [u8; SCRATCH],
    ) -> Result<Cow<'b, [u8]>, LineError> {
        match read_secret_line(stream, buf, None).await? {
            Offered::Line(line) => Ok(line),
            Offered::Secret => panic!("no secret was given to stop at"),
        }
    }

    fn shared(secret: &str) -> SharedSecret {
        SharedSecret::new(&Secret::new(secret.into()))
    }

    #[tokio::test(start_paused = true)]
    async fn the_exact_secret_is_answered_at_once_without_newline_or_close() {
        let secret = shared("s3cret");
        let mut buf = [0u8; SCRATCH];
        // All at once, and a byte at a time (duplex(1)), the client keeping its side open.
        for capacity in [4096, 1] {
            let (mut client, mut server) = duplex(capacity);
            let writer = tokio::spawn(async move {
                client.write_all(b"s3cret").await.unwrap();
                client
            });
            let started = tokio::time::Instant::now();
            assert_eq!(
                read_secret_line(&mut server, &mut buf, Some(&secret)).await,
                Ok(Offered::Secret),
                "{capacity}"
            );
            assert_eq!(started.elapsed(), Duration::ZERO);
            drop(writer.await.unwrap());
        }
        // A longer secret, past the scratch buffer.
        let long = "x".repeat(SCRATCH + 10);
        let (mut client, mut server) = duplex(64);
        let sent = long.clone();
        let writer = tokio::spawn(async move {
            client.write_all(sent.as_bytes()).await.unwrap();
            client
        });
        assert_eq!(
            read_secret_line(&mut server, &mut buf, Some(&shared(&long))).await,
            Ok(Offered::Secret)
        );
        drop(writer.await.unwrap());
    }

    #[tokio::test(start_paused = true)]
    async fn a_wrong_prefix_or_longer_guess_without_newline_waits_for_the_timeout_as_before() {
        let secret = shared("s3cret");
        for sent in [&b"s3cre"[..], b"s3cretX", b"S3cret", b"wrong", b" s3cret"] {
            let mut buf = [0u8; SCRATCH];
            let (mut client, mut server) = duplex(4096);
            client.write_all(sent).await.unwrap();
            let started = tokio::time::Instant::now();
            assert_eq!(
                read_secret_line(&mut server, &mut buf, Some(&secret)).await,
                Err(LineError::Timeout),
                "{sent:?}"
            );
            assert_eq!(started.elapsed(), SECRET_READ_TIMEOUT, "{sent:?}");
            drop(client);
        }
        // With a newline, the secret is read as a line, as before (compared trimmed by handle).
        let mut buf = [0u8; SCRATCH];
        let (mut client, mut server) = duplex(4096);
        client.write_all(b"s3cret\n").await.unwrap();
        assert_eq!(
            read_secret_line(&mut server, &mut buf, Some(&secret)).await,
            Ok(Offered::Line(Cow::Borrowed(&b"s3cret"[..])))
        );
    }

    #[tokio::test]
    async fn a_line_ends_at_newline_or_eof() {
        let mut buf = [0u8; SCRATCH];
        let (mut client, mut server) = duplex(4096);
        client.write_all(b"secret\nmore").await.unwrap();
        let line = read_line(&mut server, &mut buf).await.unwrap();
        assert_eq!(&*line, b"secret");
        assert!(
            matches!(line, Cow::Borrowed(_)),
            "a short line is not copied"
        );

        let (mut client, mut server) = duplex(4096);
        client.write_all(b"secret").await.unwrap();
        drop(client);
        assert_eq!(&*read_line(&mut server, &mut buf).await.unwrap(), b"secret");

        // Longer than the scratch buffer, and the newline just past it.
        for len in [SCRATCH - 1, SCRATCH, SCRATCH + 1, 700] {
            let (mut client, mut server) = duplex(4096);
            let mut sent: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
            sent.extend_from_slice(b"\nmore");
            client.write_all(&sent).await.unwrap();
            let line = read_line(&mut server, &mut buf).await.unwrap();
            assert_eq!(&*line, &sent[..len], "{len}");
        }
    }

    #[tokio::test]
    async fn a_line_of_exactly_the_limit_is_read_and_one_more_byte_is_refused() {
        let mut buf = [0u8; SCRATCH];
        let (mut client, mut server) = duplex(8192);
        let mut exact = vec![b'a'; MAX_SECRET_LINE];
        exact.push(b'\n');
        client.write_all(&exact).await.unwrap();
        assert_eq!(
            read_line(&mut server, &mut buf).await.unwrap().len(),
            MAX_SECRET_LINE
        );

        // The same line arriving a few bytes at a time.
        let (mut client, mut server) = duplex(7);
        let writer = tokio::spawn(async move { client.write_all(&exact).await });
        assert_eq!(
            read_line(&mut server, &mut buf).await.unwrap().len(),
            MAX_SECRET_LINE
        );
        writer.await.unwrap().unwrap();

        let (mut client, mut server) = duplex(8192);
        client
            .write_all(&vec![b'a'; MAX_SECRET_LINE + 1])
            .await
            .unwrap();
        assert_eq!(
            read_line(&mut server, &mut buf).await,
            Err(LineError::TooLong)
        );
    }

    #[tokio::test]
    async fn a_very_long_line_is_refused_without_reading_it_all() {
        let (mut client, mut server) = duplex(1 << 20);
        client.write_all(&vec![b'a'; 1 << 20]).await.unwrap();
        let mut buf = [0u8; SCRATCH];
        assert_eq!(
            read_line(&mut server, &mut buf).await,
            Err(LineError::TooLong)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_half_sent_line_times_out() {
        let (mut client, mut server) = duplex(4096);
        client.write_all(b"secr").await.unwrap();
        let mut buf = [0u8; SCRATCH];
        assert_eq!(
            read_line(&mut server, &mut buf).await,
            Err(LineError::Timeout)
        );
    }

    /// Runs `finish` on the server end of a duplex whose client end stays open, and says how long
    /// it took on the paused clock and what the client received.
    async fn finish_with_open_client(sent_after_line: &[u8], then: Then) -> (Duration, Vec<u8>) {
        let (mut client, mut server) = duplex(4096);
        client.write_all(sent_after_line).await.unwrap();
        let started = tokio::time::Instant::now();
        assert!(finish(&mut server, b"answer\n", then).await);
        let took = started.elapsed();
        drop(server);
        let mut received = Vec::new();
        client.read_to_end(&mut received).await.unwrap();
        (took, received)
    }

    #[tokio::test(start_paused = true)]
    async fn after_a_whole_line_the_connection_closes_without_waiting_for_the_client() {
        let (took, received) = finish_with_open_client(b"", Then::CloseUnlessMoreArrived).await;
        assert_eq!(took, Duration::ZERO);
        assert_eq!(received, b"answer\n");
    }

    #[tokio::test(start_paused = true)]
    async fn input_past_the_line_or_unread_input_makes_it_wait_for_the_client() {
        // More than the line arrived: wait (here the client never closes, so the whole linger).
        let (took, received) = finish_with_open_client(b"more", Then::CloseUnlessMoreArrived).await;
        assert_eq!(took, LINGER_TIMEOUT);
        assert_eq!(received, b"answer\n");
        // Nothing was read (no secret configured): wait, whether or not anything arrived.
        for sent in [&b""[..], b"anything"] {
            let (took, received) = finish_with_open_client(sent, Then::AwaitClientClose).await;
            assert_eq!(took, LINGER_TIMEOUT, "{sent:?}");
            assert_eq!(received, b"answer\n");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_that_closes_ends_the_wait_at_once() {
        let (mut client, mut server) = duplex(4096);
        client.write_all(b"more").await.unwrap();
        client.shutdown().await.unwrap();
        let started = tokio::time::Instant::now();
        assert!(finish(&mut server, b"answer\n", Then::AwaitClientClose).await);
        assert_eq!(started.elapsed(), Duration::ZERO);
    }

    #[test]
    fn trims_whitespace_around_the_secret() {
        assert_eq!(trim(b"  s3cret\r"), b"s3cret");
        assert_eq!(trim(b"\r\n"), b"");
        assert_eq!(trim(b""), b"");
    }
}
