//! Accept loops: one per listener, all sharing one connection cap, one credential store and one
//! shutdown signal. A failed connection is logged in its own span and never stops a loop; accept
//! errors (EMFILE and friends) are backed off, not spun on.

pub mod guard;
pub mod http;
pub mod imds;
pub mod raw;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, UnixListener};
use tokio::sync::{watch, Semaphore};
use tokio::time::Instant;
use tracing::{debug, info, warn, Instrument};

use crate::credentials::CredentialStore;
use crate::listeners::{Bound, Socket, Transport};
use crate::secret::SharedSecret;

/// Connections served at once, across all listeners; more wait in the kernel's backlog.
pub const MAX_CONNECTIONS: usize = 1024;
/// How long in-flight requests may take to finish after a stop was asked for.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest pause after a failed accept() (e.g. out of file descriptors).
const MAX_ACCEPT_BACKOFF: Duration = Duration::from_secs(1);

/// What every connection handler needs.
pub struct Context {
    /// Where the answers come from.
    pub store: CredentialStore,
    /// The shared secret clients must present, if any; digested once, when the context is made.
    pub secret: Option<SharedSecret>,
    /// What the http listener accepts (Host, Origin) and whether it answers as IMDS.
    pub http: guard::HttpPolicy,
    /// Which local users and groups may use the unix socket; `None`: whoever the socket's mode lets in.
    pub peers: Option<crate::config::PeerPolicy>,
}

/// How a connection ended, for the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Credentials (or tokens) were sent.
    Served,
    /// None were available; the client got the reason.
    Unavailable,
    /// No secret was sent.
    MissingSecret,
    /// The wrong secret was sent.
    WrongSecret,
    /// The secret line was too long.
    OversizedSecret,
    /// The secret did not arrive in time.
    SecretTimeout,
    /// The client went away before the answer was complete.
    ClientGone,
    /// The health document was served.
    Health,
    /// An HTTP request for a path that does not exist.
    NotFound,
    /// An HTTP request the daemon does not take (method, body).
    Malformed,
    /// An HTTP request refused for its Host, Origin or X-Forwarded-For.
    Forbidden,
    /// A unix-socket peer not on the allow-lists.
    PeerRefused,
}

/// `{"error":"credentials unavailable: <reason>"}` and a newline.
pub fn unavailable_body(reason: &str) -> Vec<u8> {
    let mut body = serde_json::to_vec(&serde_json::json!({
        "error": format!("credentials unavailable: {reason}")
    }))
    .expect("a JSON object of strings serializes");
    body.push(b'\n');
    body
}

/// Serves on every listener until `shutdown` completes, then stops accepting and gives in-flight
/// connections up to [`DRAIN_TIMEOUT`] to finish.
/// `contexts` holds the current configuration's context; a reload replaces it, and each new
/// connection takes the one current when it is accepted.
pub async fn run(
    listeners: Vec<Bound>,
    contexts: watch::Receiver<Arc<Context>>,
    shutdown: impl Future<Output = ()>,
) {
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let (stop, stopped) = watch::channel(false);
    let mut loops = Vec::new();
    for bound in listeners {
        let label = bound.label.clone();
        let transport = bound.transport;
        let socket = match register(bound.socket) {
            Ok(socket) => socket,
            Err(e) => {
                warn!(listener = %label, error = %e, "cannot use listener");
                continue;
            }
        };
        info!(listener = %label, transport = transport.name(), "listening");
        loops.push(tokio::spawn(accept_loop(
            socket,
            transport,
            label,
            contexts.clone(),
            permits.clone(),
            stopped.clone(),
        )));
    }
    shutdown.await;
    let _ = stop.send(true);
    for accept in loops {
        let _ = accept.await;
    }
    let drained =
        tokio::time::timeout(DRAIN_TIMEOUT, permits.acquire_many(MAX_CONNECTIONS as u32)).await;
    match drained {
        Ok(_) => info!("all connections finished"),
        Err(_) => warn!(
            still_open = MAX_CONNECTIONS - permits.available_permits(),
            "connections still open after the drain timeout, closing them"
        ),
    }
}

/// A listener registered with the runtime.
enum Listener {
    Unix(UnixListener),
    Tcp(TcpListener),
}

fn register(socket: Socket) -> std::io::Result<Listener> {
    Ok(match socket {
        Socket::Unix(s) => {
            s.set_nonblocking(true)?;
            Listener::Unix(UnixListener::from_std(s)?)
        }
        Socket::Tcp(s) => {
            s.set_nonblocking(true)?;
            Listener::Tcp(TcpListener::from_std(s)?)
        }
    })
}

async fn accept_loop(
    listener: Listener,
    transport: Transport,
    label: String,
    contexts: watch::Receiver<Arc<Context>>,
    permits: Arc<Semaphore>,
    mut stopped: watch::Receiver<bool>,
) {
    let mut backoff = Duration::from_millis(5);
    loop {
        // Take a slot first, so that past the cap connections wait in the backlog, unaccepted.
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
            _ = stopped.wait_for(|s| *s) => return,
        };
        let accepted = tokio::select! {
            accepted = accept(&listener) => accepted,
            _ = stopped.wait_for(|s| *s) => return,
        };
        let (connection, peer, ids) = match accepted {
            Ok(pair) => {
                backoff = Duration::from_millis(5);
                pair
            }
            Err(e) => {
                warn!(listener = %label, error = %e, pause_ms = backoff.as_millis() as u64, "accept failed");
                drop(permit);
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = stopped.wait_for(|s| *s) => return,
                }
                backoff = (backoff * 2).min(MAX_ACCEPT_BACKOFF);
                continue;
            }
        };
        let span = tracing::info_span!("connection", listener = transport.name(), peer = %peer);
        let context = contexts.borrow().clone();
        let stopping = stopped.clone();
        tokio::spawn(
            async move {
                let started = Instant::now();
                let refused_peer = match (&context.peers, ids) {
                    (Some(policy), Some((uid, gid))) => !policy.allows(uid, gid),
                    // An allow-list and a peer whose ids cannot be read: refuse.
                    (Some(_), None) => matches!(connection, Connection::Unix(_)),
                    (None, _) => false,
                };
                let outcome = match (connection, transport) {
                    (Connection::Unix(s), _) if refused_peer => raw::refuse(s).await,
                    (Connection::Tcp(s), Transport::Http) => {
                        http::handle(s, context, stopping).await
                    }
                    (Connection::Unix(s), Transport::Http) => {
                        http::handle(s, context, stopping).await
                    }
                    (Connection::Unix(s), _) => raw::handle(s, &context).await,
                    (Connection::Tcp(s), _) => raw::handle(s, &context).await,
                };
                log_outcome(outcome, started.elapsed());
                drop(permit);
            }
            .instrument(span),
        );
    }
}

fn log_outcome(outcome: Outcome, took: Duration) {
    let took_us = took.as_micros() as u64;
    match outcome {
        Outcome::Served | Outcome::Health => debug!(outcome = ?outcome, took_us, "request"),
        Outcome::ClientGone => debug!(outcome = "client_gone", took_us, "request"),
        Outcome::Unavailable => warn!(outcome = "unavailable", took_us, "request"),
        refused => info!(outcome = ?refused, took_us, "request refused"),
    }
}

enum Connection {
    Unix(tokio::net::UnixStream),
    Tcp(tokio::net::TcpStream),
}

/// A peer's uid and gid, from SO_PEERCRED (unix sockets only).
type PeerIds = Option<(u32, u32)>;

/// Accepts one connection and names its peer: uid and pid for unix sockets, address for TCP.
async fn accept(listener: &Listener) -> std::io::Result<(Connection, String, PeerIds)> {
    match listener {
        Listener::Unix(l) => {
            let (stream, _) = l.accept().await?;
            let (peer, ids) = match stream.peer_cred() {
                Ok(cred) => (
                    format!(
                        "uid={} pid={}",
                        cred.uid(),
                        cred.pid().map_or("?".into(), |p| p.to_string())
                    ),
                    Some((cred.uid(), cred.gid())),
                ),
                Err(_) => ("unknown".into(), None),
            };
            Ok((Connection::Unix(stream), peer, ids))
        }
        Listener::Tcp(l) => {
            let (stream, addr) = l.accept().await?;
            let _ = stream.set_nodelay(true);
            Ok((Connection::Tcp(stream), addr.to_string(), None))
        }
    }
}
