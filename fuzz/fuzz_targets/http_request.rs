//! The http listener: raw bytes fed to `serve::http::handle`, i.e. hyper's HTTP/1 server with the
//! daemon's own service (`serve::http::handle` and the IMDS routes), over an in-memory duplex on
//! paused time. The bytes may hold several pipelined requests, smuggling attempts, garbage.
//!
//! Input: one flags byte, then what the client sends.
//! - bits 0..1: 0 or 3: a shared secret is required; 1: no secret, IMDS on; 2: neither;
//! - bit 2: the client half-closes after sending (else it keeps its side open, as HTTP clients do;
//!   hyper drops a request whose client half-closed before the answer, so this case mostly tests
//!   that such connections end);
//! - bits 3..7: the duplex buffer size.
//!
//! Checked: with a secret configured, credentials appear in the output only if the input holds a
//! header line `Cognito-Api-Key: <secret>` or `Authorization: <secret>`; with IMDS on, the IMDS
//! credential document never appears (its session tokens are random, so no input can hold one);
//! and the connection ends within its lifetime plus one header timeout, whatever the client does.

#![no_main]

use std::time::Duration;

use cognitod::serve::http::{handle, CONNECTION_LIFETIME, HEADER_READ_TIMEOUT};
use cognitod_fuzz::{contains, context, paused_runtime, Setup, CREDENTIAL_DOCUMENT, SHARED_SECRET};
use libfuzzer_sys::fuzz_target;
use tokio::io::{duplex, AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;
use tokio::time::Instant;

/// Whether some line of the input is a header carrying the shared secret (as the daemon accepts
/// it: Cognito-Api-Key on `/`, Authorization on `/ecs`). Deliberately lenient about whitespace,
/// so that it can only err towards allowing.
fn carries_secret(sent: &[u8]) -> bool {
    sent.split(|&b| b == b'\n').any(|line| {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            return false;
        };
        let (name, value) = (&line[..colon], &line[colon + 1..]);
        let named = name.eq_ignore_ascii_case(b"cognito-api-key")
            || name.eq_ignore_ascii_case(b"authorization");
        let is_space = |b: &u8| matches!(b, b' ' | b'\t' | b'\r');
        let start = value
            .iter()
            .position(|b| !is_space(b))
            .unwrap_or(value.len());
        let end = value
            .iter()
            .rposition(|b| !is_space(b))
            .map_or(start, |e| e + 1);
        named && &value[start..end] == SHARED_SECRET.as_bytes()
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, sent)) = data.split_first() else {
        return;
    };
    let setup = match flags & 3 {
        1 => Setup {
            secret: false,
            imds: true,
        },
        2 => Setup {
            secret: false,
            imds: false,
        },
        _ => Setup {
            secret: true,
            imds: false,
        },
    };
    let closes = flags & 4 != 0;
    let capacity = 1 + usize::from(flags >> 3) * 64;

    paused_runtime().block_on(async {
        let ctx = context(setup).await;
        let (_stop, stopping) = watch::channel(false);
        let (client, server) = duplex(capacity);
        let (mut from_daemon, to_daemon) = tokio::io::split(client);
        let started = Instant::now();
        let serve = async {
            handle(server, ctx.clone(), stopping).await;
            started.elapsed()
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
        let (took, _to_daemon, answer) = tokio::join!(serve, write, read);

        if cognitod_fuzz::debug() {
            let statuses: Vec<_> = answer
                .split(|&b| b == b'\n')
                .filter(|l| l.starts_with(b"HTTP/1."))
                .map(String::from_utf8_lossy)
                .collect();
            eprintln!(
                "{took:?} {statuses:?} credentials: {}",
                contains(&answer, CREDENTIAL_DOCUMENT.as_bytes())
            );
        }
        let limit = CONNECTION_LIFETIME + HEADER_READ_TIMEOUT + Duration::from_secs(1);
        assert!(
            took <= limit,
            "the connection lasted {took:?}, over {limit:?}"
        );

        if contains(&answer, CREDENTIAL_DOCUMENT.as_bytes()) {
            if setup.secret {
                assert!(
                    carries_secret(sent),
                    "credentials served without the secret:\n{}\n---\n{}",
                    String::from_utf8_lossy(sent),
                    String::from_utf8_lossy(&answer)
                );
            }
            if setup.imds {
                assert!(
                    !contains(&answer, br#""Code":"Success""#),
                    "IMDS credentials served without a session token:\n{}",
                    String::from_utf8_lossy(sent)
                );
            }
        }
    });
});
