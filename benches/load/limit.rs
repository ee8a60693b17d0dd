//! The machine's limit: the least a server can do to speak cognitod's protocol. It runs as a child
//! process of the bench (the bench binary started again with `--limit-server`), on the same
//! sockets handed over the same way (descriptors 3, 4, 5: unix, tcp, http), with the same runtime
//! (tokio, multi-threaded, one worker per core), and answers with the same bytes cognitod
//! answered, from memory. Whatever cognitod does beyond this is its own cost.
//!
//! Raw transports: read the secret line, compare it, write the document, close. HTTP: hyper,
//! `GET /` with the `Cognito-Api-Key` header, keep-alive, the same Content-Type.

use std::convert::Infallible;
use std::os::fd::FromRawFd;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, UnixListener};

/// The refusal, as cognitod words it.
pub const NOT_AUTHORIZED: &[u8] = b"{\"error\":\"not authorized\"}\n";
/// The longest secret line read.
const MAX_LINE: usize = 1024;

/// What every connection needs.
struct Answer {
    document: Bytes,
    secret: Vec<u8>,
}

/// Serves on descriptors 3 (unix), 4 (tcp raw) and 5 (http) until killed.
pub fn serve(document: &Path, secret: &Path) -> std::process::ExitCode {
    let document = Bytes::from(std::fs::read(document).expect("reading the document"));
    let secret = std::fs::read_to_string(secret).expect("reading the secret");
    let answer = Arc::new(Answer {
        document,
        secret: secret.trim_end().as_bytes().to_vec(),
    });
    // SAFETY: the bench passed these three listening sockets, and nothing else owns them.
    #[allow(unsafe_code)]
    let (unix, tcp, http) = unsafe {
        (
            std::os::unix::net::UnixListener::from_raw_fd(3),
            std::net::TcpListener::from_raw_fd(4),
            std::net::TcpListener::from_raw_fd(5),
        )
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("starting the runtime");
    runtime.block_on(async move {
        for s in [&tcp, &http] {
            s.set_nonblocking(true).expect("non-blocking");
        }
        unix.set_nonblocking(true).expect("non-blocking");
        let unix = UnixListener::from_std(unix).expect("registering the unix socket");
        let tcp = TcpListener::from_std(tcp).expect("registering the tcp socket");
        let http = TcpListener::from_std(http).expect("registering the http socket");
        let a = answer.clone();
        tokio::spawn(async move {
            loop {
                if let Ok((s, _)) = unix.accept().await {
                    let a = a.clone();
                    tokio::spawn(async move { raw(s, &a).await });
                }
            }
        });
        let a = answer.clone();
        tokio::spawn(async move {
            loop {
                if let Ok((s, _)) = tcp.accept().await {
                    let _ = s.set_nodelay(true);
                    let a = a.clone();
                    tokio::spawn(async move { raw(s, &a).await });
                }
            }
        });
        loop {
            if let Ok((s, _)) = http.accept().await {
                let _ = s.set_nodelay(true);
                let a = answer.clone();
                tokio::spawn(async move { serve_http(s, a).await });
            }
        }
    })
}

async fn raw<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, answer: &Answer) {
    let mut line = [0u8; MAX_LINE + 2];
    let mut len = 0;
    let end = loop {
        let Ok(n) = stream.read(&mut line[len..]).await else {
            return;
        };
        if n == 0 {
            break len;
        }
        if let Some(at) = line[len..len + n].iter().position(|&b| b == b'\n') {
            break len + at;
        }
        len += n;
        if len > MAX_LINE {
            return;
        }
    };
    let reply: &[u8] = if line[..end] == answer.secret[..] {
        &answer.document
    } else {
        NOT_AUTHORIZED
    };
    if stream.write_all(reply).await.is_ok() {
        let _ = stream.shutdown().await;
    }
}

async fn serve_http(stream: tokio::net::TcpStream, answer: Arc<Answer>) {
    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
        let allowed = request.uri().path() == "/"
            && request
                .headers()
                .get("cognito-api-key")
                .is_some_and(|v| v.as_bytes() == answer.secret);
        let (status, body) = if allowed {
            (StatusCode::OK, answer.document.clone())
        } else {
            (StatusCode::UNAUTHORIZED, Bytes::from_static(NOT_AUTHORIZED))
        };
        let mut response = Response::new(Full::new(body));
        *response.status_mut() = status;
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        async move { Ok::<_, Infallible>(response) }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .serve_connection(TokioIo::new(stream), service)
        .await;
}
