//! The raw protocol of the unix and tcp listeners: `serve::raw::read_secret_line` on its own, then a
//! whole connection through `serve::raw::handle`, over an in-memory duplex on paused time.
//!
//! Input: one flags byte, then what the client sends.
//! - bit 0: a shared secret is configured ([`SHARED_SECRET`]);
//! - bit 1: the client keeps its side open after sending (else it half-closes, as `nc -N` does);
//! - bits 2..7: the duplex buffer size, so the daemon's reads split the input in varying places.
//!
//! Checked: the line read is exactly the first line (or a refusal for an overlong or unfinished
//! one); credentials are sent if and only if no secret is configured, or that line, trimmed, is
//! the secret, or the input begins with the secret (answered as soon as exactly the secret has
//! arrived, which depends on where the reads split it); every other answer is the fixed refusal; and the connection ends within the sum of
//! the protocol's timeouts, whatever the client does.

#![no_main]

use std::time::Duration;

use cognitod::protocol::NOT_AUTHORIZED_LINE as NOT_AUTHORIZED;
use cognitod::serve::raw::{
    handle, read_secret_line, LineError, Offered, MAX_SECRET_LINE, SCRATCH, SECRET_READ_TIMEOUT,
    WRITE_TIMEOUT,
};
use cognitod::serve::Outcome;
use cognitod_fuzz::{contains, context, paused_runtime, Setup, CREDENTIAL_DOCUMENT, SHARED_SECRET};
use libfuzzer_sys::fuzz_target;
use tokio::io::{duplex, AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::time::Instant;

/// The raw protocol's linger after answering (private in serve/raw.rs; one second there).
const LINGER_BOUND: Duration = Duration::from_secs(1);

/// What the daemon should make of the client's bytes: the line it reads, or why it reads none.
fn expected_line(sent: &[u8], closes: bool) -> Result<&[u8], LineError> {
    match sent.iter().position(|&b| b == b'\n') {
        Some(end) if end > MAX_SECRET_LINE => Err(LineError::TooLong),
        Some(end) => Ok(&sent[..end]),
        None if sent.len() > MAX_SECRET_LINE => Err(LineError::TooLong),
        None if closes => Ok(sent),
        None => Err(LineError::Timeout),
    }
}

/// Writes what the client sends, half-closes if it does, and hands the stream back so that a
/// client that keeps its side open does so until the exchange is over.
async fn client_writes(mut client: DuplexStream, sent: &[u8], closes: bool) -> DuplexStream {
    // A daemon that stops reading and closes makes this fail with BrokenPipe: that is fine.
    if client.write_all(sent).await.is_ok() && closes {
        let _ = client.shutdown().await;
    }
    client
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, sent)) = data.split_first() else {
        return;
    };
    let with_secret = flags & 1 == 1;
    let closes = flags & 2 == 0;
    let capacity = 1 + usize::from(flags >> 2) * 5;
    let expected = expected_line(sent, closes);

    paused_runtime().block_on(async {
        // The line reader alone.
        let (client, mut server) = duplex(capacity);
        let read = async move {
            let mut scratch = [0u8; SCRATCH];
            let line = read_secret_line(&mut server, &mut scratch, None)
                .await
                .map(|offered| match offered {
                    Offered::Line(line) => line.into_owned(),
                    Offered::Secret => unreachable!("no secret was given to stop at"),
                });
            drop(server);
            line
        };
        let (_client, line) = tokio::join!(client_writes(client, sent, closes), read);
        match (&line, &expected) {
            (Ok(got), Ok(want)) => assert_eq!(got.as_slice(), *want),
            (Err(got), Err(want)) => assert_eq!(got, want),
            _ => panic!("read {line:?}, expected {expected:?}"),
        }

        // A whole connection.
        let ctx = context(Setup {
            secret: with_secret,
            imds: false,
        })
        .await;
        let (client, server) = duplex(capacity);
        let (mut from_daemon, to_daemon) = tokio::io::split(client);
        let started = Instant::now();
        let serve = async {
            let outcome = handle(server, &ctx).await;
            (outcome, started.elapsed())
        };
        let write = async {
            let mut to_daemon = to_daemon;
            if to_daemon.write_all(sent).await.is_ok() && closes {
                let _ = to_daemon.shutdown().await;
            }
            to_daemon
        };
        let read = async {
            let mut answer = Vec::new();
            let _ = from_daemon.read_to_end(&mut answer).await;
            answer
        };
        let ((outcome, took), _to_daemon, answer) = tokio::join!(serve, write, read);

        if cognitod_fuzz::debug() {
            eprintln!("{outcome:?} after {took:?}");
        }
        let limit = SECRET_READ_TIMEOUT + WRITE_TIMEOUT + LINGER_BOUND;
        assert!(
            took <= limit,
            "the connection lasted {took:?}, over {limit:?}"
        );

        let served_expected = match (&expected, with_secret) {
            (_, false) => Outcome::Served,
            (Ok(line), true) if trim(line) == SHARED_SECRET.as_bytes() => Outcome::Served,
            (Ok([]), true) => Outcome::MissingSecret,
            (Ok(_), true) => Outcome::WrongSecret,
            (Err(LineError::TooLong), true) => Outcome::OversizedSecret,
            (Err(LineError::Timeout), true) => Outcome::SecretTimeout,
            (Err(LineError::Io(_)), true) => unreachable!("the oracle never expects an I/O error"),
        };
        // Bytes that begin with the secret may be answered as soon as exactly the secret has
        // arrived, before whatever follows it: where the reads split the input decides.
        let answered_early = with_secret
            && outcome == Outcome::Served
            && sent.starts_with(SHARED_SECRET.as_bytes());
        if !answered_early {
            assert_eq!(outcome, served_expected, "sent {sent:?}");
        }
        let has_credentials = contains(&answer, CREDENTIAL_DOCUMENT.as_bytes());
        if outcome == Outcome::Served {
            assert!(has_credentials, "served without credentials: {answer:?}");
            assert_eq!(answer.last(), Some(&b'\n'));
        } else {
            assert!(!has_credentials, "credentials sent on {outcome:?}");
            assert_eq!(answer, NOT_AUTHORIZED);
        }
    });
});

/// Surrounding ASCII whitespace removed, as the daemon compares the line. Written out here on
/// purpose rather than calling `serve::raw`'s: the oracle must not share the code it checks.
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
