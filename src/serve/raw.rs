//! The raw protocol of the unix and tcp listeners, as the original tool spoke it.
//!
//! With a shared secret configured: read one line (at most [`MAX_SECRET_LINE`] bytes; a newline or
//! the end of the stream ends it) within [`SECRET_READ_TIMEOUT`], compare it in constant time, and
//! answer. Without one: answer at once without reading. The answer is one JSON document and a
//! newline; then the connection is closed.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::{Context, Outcome};
use crate::credentials::FIRST_ANSWER_WAIT;

/// Longest secret line accepted, newline excluded; anything longer is refused unread.
pub const MAX_SECRET_LINE: usize = 1024;
/// How long a client has to send its secret line.
pub const SECRET_READ_TIMEOUT: Duration = Duration::from_secs(2);
/// How long writing the answer may take before the client is given up on.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long to wait for the client to close after the answer, so that unread input does not make
/// the kernel reset the connection before the client has read the answer.
const LINGER_TIMEOUT: Duration = Duration::from_secs(1);

/// The answer to a client that did not present the secret.
pub const NOT_AUTHORIZED: &[u8] = b"{\"error\":\"not authorized\"}\n";

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

/// Reads the secret line: up to a newline or the end of the stream, capped and timed.
pub async fn read_secret_line<S: AsyncRead + Unpin>(stream: &mut S) -> Result<Vec<u8>, LineError> {
    let read = async {
        let mut line = Vec::with_capacity(64);
        let mut buf = [0u8; 256];
        loop {
            let n = stream
                .read(&mut buf)
                .await
                .map_err(|e| LineError::Io(e.kind()))?;
            if n == 0 {
                return Ok(line);
            }
            if let Some(end) = buf[..n].iter().position(|&b| b == b'\n') {
                line.extend_from_slice(&buf[..end]);
                return if line.len() > MAX_SECRET_LINE {
                    Err(LineError::TooLong)
                } else {
                    Ok(line)
                };
            }
            line.extend_from_slice(&buf[..n]);
            if line.len() > MAX_SECRET_LINE {
                return Err(LineError::TooLong);
            }
        }
    };
    tokio::time::timeout(SECRET_READ_TIMEOUT, read)
        .await
        .unwrap_or(Err(LineError::Timeout))
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
    if let Some(secret) = &ctx.secret {
        let refused = match read_secret_line(&mut stream).await {
            Ok(line) if secret.matches(trim(&line)) => None,
            Ok(line) if line.is_empty() => Some(Outcome::MissingSecret),
            Ok(_) => Some(Outcome::WrongSecret),
            Err(LineError::TooLong) => Some(Outcome::OversizedSecret),
            Err(LineError::Timeout) => Some(Outcome::SecretTimeout),
            Err(LineError::Io(_)) => return Outcome::ClientGone,
        };
        if let Some(outcome) = refused {
            finish(&mut stream, NOT_AUTHORIZED).await;
            return outcome;
        }
    }
    match ctx.store.answer(FIRST_ANSWER_WAIT).await {
        Ok(issued) => {
            if finish(&mut stream, &issued.documents.raw).await {
                Outcome::Served
            } else {
                Outcome::ClientGone
            }
        }
        Err(reason) => {
            finish(&mut stream, &super::unavailable_body(&reason)).await;
            Outcome::Unavailable
        }
    }
}

/// Refuses a peer the allow-lists do not name, reading nothing from it.
pub async fn refuse<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S) -> Outcome {
    finish(&mut stream, NOT_AUTHORIZED).await;
    Outcome::PeerRefused
}

/// Writes the answer, closes our side, and lets the client close first. Returns whether the
/// answer was written completely.
async fn finish<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S, answer: &[u8]) -> bool {
    let written = tokio::time::timeout(WRITE_TIMEOUT, async {
        stream.write_all(answer).await?;
        stream.shutdown().await
    })
    .await;
    let ok = matches!(written, Ok(Ok(())));
    if ok {
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
    }
    ok
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::duplex;

    #[tokio::test]
    async fn a_line_ends_at_newline_or_eof() {
        let (mut client, mut server) = duplex(4096);
        client.write_all(b"secret\nmore").await.unwrap();
        assert_eq!(read_secret_line(&mut server).await.unwrap(), b"secret");

        let (mut client, mut server) = duplex(4096);
        client.write_all(b"secret").await.unwrap();
        drop(client);
        assert_eq!(read_secret_line(&mut server).await.unwrap(), b"secret");
    }

    #[tokio::test]
    async fn a_line_of_exactly_the_limit_is_read_and_one_more_byte_is_refused() {
        let (mut client, mut server) = duplex(8192);
        let mut exact = vec![b'a'; MAX_SECRET_LINE];
        exact.push(b'\n');
        client.write_all(&exact).await.unwrap();
        assert_eq!(
            read_secret_line(&mut server).await.unwrap().len(),
            MAX_SECRET_LINE
        );

        let (mut client, mut server) = duplex(8192);
        client
            .write_all(&vec![b'a'; MAX_SECRET_LINE + 1])
            .await
            .unwrap();
        assert_eq!(read_secret_line(&mut server).await, Err(LineError::TooLong));
    }

    #[tokio::test]
    async fn a_very_long_line_is_refused_without_reading_it_all() {
        let (mut client, mut server) = duplex(1 << 20);
        client.write_all(&vec![b'a'; 1 << 20]).await.unwrap();
        assert_eq!(read_secret_line(&mut server).await, Err(LineError::TooLong));
    }

    #[tokio::test(start_paused = true)]
    async fn a_half_sent_line_times_out() {
        let (mut client, mut server) = duplex(4096);
        client.write_all(b"secr").await.unwrap();
        assert_eq!(read_secret_line(&mut server).await, Err(LineError::Timeout));
    }

    #[test]
    fn trims_whitespace_around_the_secret() {
        assert_eq!(trim(b"  s3cret\r"), b"s3cret");
        assert_eq!(trim(b"\r\n"), b"");
        assert_eq!(trim(b""), b"");
    }
}
