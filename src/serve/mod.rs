//! Accept loops: one per listener, all sharing one connection cap, one credential store and one
//! shutdown signal. A failed connection is logged in its own span and never stops a loop; accept
//! errors (EMFILE and friends) are backed off, not spun on.

pub mod guard;
pub mod http;
pub mod imds;
pub mod raw;
mod response;

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, UnixListener};
use tokio::sync::{watch, Semaphore};
use tokio::time::Instant;
use tracing::{debug, info, warn, Instrument};

use crate::credentials::CredentialStore;
use crate::listeners::{Bound, Retirement, Socket};
use crate::secret::SharedSecret;
use crate::transport::Transport;

/// Connections served at once on each listener at most (fewer with few descriptors, see
/// [`connection_cap`]); more wait in the kernel's backlog. Per listener,
/// so that idle connections on a port every local user can reach (tcp, http) cannot hold up the
/// clients of another listener, such as the unix socket only its group can reach.
pub(crate) const MAX_CONNECTIONS: usize = 1024;
/// Descriptors kept out of the connection caps: the listeners, the log, the connections to
/// Cognito, the runtime's own.
const RESERVED_DESCRIPTORS: usize = 64;

/// Connections each of `listeners` may serve at once: [`MAX_CONNECTIONS`], or less when the
/// descriptors the process may still open would not cover every listener's cap, so that one
/// listener can never take them all (accept() would then fail with EMFILE on the others).
pub(crate) fn connection_cap(listeners: usize) -> usize {
    use nix::sys::resource::{getrlimit, Resource};
    let Ok((soft, _)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return MAX_CONNECTIONS;
    };
    let soft = usize::try_from(soft).unwrap_or(usize::MAX);
    let open = std::fs::read_dir("/proc/self/fd").map_or(0, |fds| fds.count());
    let available = soft.saturating_sub(open + RESERVED_DESCRIPTORS.min(soft / 4));
    (available / listeners.max(1)).clamp(1, MAX_CONNECTIONS)
}

/// How long in-flight requests may take to finish after a stop was asked for.
pub(crate) const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest pause after a failed accept() (e.g. out of file descriptors).
const MAX_ACCEPT_BACKOFF: Duration = Duration::from_secs(1);

/// What every connection handler needs.
pub struct Context {
    /// Where the answers come from.
    pub store: CredentialStore,
    /// The shared secret clients must present, if any; digested once, when the context is made.
    pub secret: Option<SharedSecret>,
    /// Whether tcp and http serve credentials when no secret is configured. Off, they refuse
    /// ([`crate::protocol::NO_SECRET_REFUSAL`]): anything that can make a local request, a forged one included
    /// (SSRF), could otherwise take the credentials. The unix socket is not concerned: its owner,
    /// group and mode are its access control.
    pub allow_no_secret: bool,
    /// What the http listener accepts (Host, Origin) and whether it answers as IMDS.
    pub http: guard::HttpPolicy,
    /// Which local users and groups may use the unix socket; `None`: whoever the socket's mode lets in.
    pub peers: Option<guard::PeerPolicy>,
}

impl Context {
    /// Whether a tcp or http client must be refused credentials because no secret is configured
    /// and the operator did not allow that.
    pub(crate) fn refuses_without_secret(&self) -> bool {
        self.secret.is_none() && !self.allow_no_secret
    }
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
    /// A tcp or http client refused because no shared secret is configured (see
    /// [`Context::allow_no_secret`]).
    NoSecretConfigured,
}

/// Serves on every listener until `shutdown` completes, then stops accepting and gives in-flight
/// connections up to [`DRAIN_TIMEOUT`] to finish.
/// `contexts` holds the current configuration's context; a reload replaces it, and each new
/// connection takes the one current when it is accepted.
pub(crate) async fn run(
    listeners: Vec<Bound>,
    contexts: watch::Receiver<Arc<Context>>,
    shutdown: impl Future<Output = ()>,
) {
    let (stop, stopped) = watch::channel(false);
    let mut loops = Vec::new();
    let mut caps = Vec::new();
    let cap = connection_cap(listeners.len());
    if cap < MAX_CONNECTIONS {
        info!(
            per_listener = cap,
            "few descriptors: fewer connections served at once on each listener"
        );
    }
    for bound in listeners {
        let label = bound.label.clone();
        let transport = bound.transport;
        let retirement = bound.retirement;
        let socket = match register(bound.socket) {
            Ok(socket) => socket,
            Err(e) => {
                warn!(listener = %label, error = %e, "cannot use listener");
                continue;
            }
        };
        info!(listener = %label, transport = transport.as_str(), "listening");
        let permits = Arc::new(Semaphore::new(cap));
        caps.push(permits.clone());
        loops.push(tokio::spawn(accept_loop(
            socket,
            transport,
            label,
            contexts.clone(),
            permits,
            stopped.clone(),
            retirement,
        )));
    }
    shutdown.await;
    let _ = stop.send(true);
    for accept in loops {
        let _ = accept.await;
    }
    let drained = tokio::time::timeout(DRAIN_TIMEOUT, async {
        for permits in &caps {
            let _ = permits.acquire_many(cap as u32).await;
        }
    })
    .await;
    match drained {
        Ok(()) => info!("all connections finished"),
        Err(_) => warn!(
            still_open = caps
                .iter()
                .map(|p| cap - p.available_permits())
                .sum::<usize>(),
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
    mut retirement: Retirement,
) {
    let mut backoff = Duration::from_millis(5);
    loop {
        // Take a slot first, so that past the cap connections wait in the backlog, unaccepted.
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
            _ = stopped.wait_for(|s| *s) => return,
            _ = retirement.wait() => return,
        };
        let accepted = tokio::select! {
            accepted = accept(&listener) => accepted,
            _ = stopped.wait_for(|s| *s) => return,
            _ = retirement.wait() => return,
        };
        let (connection, peer) = match accepted {
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
        // Debug level: a served request logs nothing at the default level, and an enabled span
        // would format its fields for every connection. The events logged at the default level
        // (refused, unavailable) carry the listener and the peer themselves.
        let span = tracing::debug_span!("connection", listener = transport.as_str(), %peer);
        let context = contexts.borrow().clone();
        let stopping = stopped.clone();
        tokio::spawn(
            async move {
                let started = Instant::now();
                let refused_peer = match (&context.peers, peer.ids()) {
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
                    (Connection::Tcp(s), _) if context.refuses_without_secret() => {
                        raw::refuse_without_secret(s).await
                    }
                    (Connection::Tcp(s), _) => raw::handle(s, &context).await,
                };
                log_outcome(outcome, started.elapsed(), transport, &peer);
                drop(permit);
            }
            .instrument(span),
        );
    }
}

fn log_outcome(outcome: Outcome, took: Duration, transport: Transport, peer: &Peer) {
    let took_us = took.as_micros() as u64;
    let listener = transport.as_str();
    match outcome {
        Outcome::Served | Outcome::Health => debug!(outcome = ?outcome, took_us, "request"),
        Outcome::ClientGone => debug!(outcome = "client_gone", took_us, "request"),
        // Logged at the default level, where the debug-level connection span is off: these
        // events say themselves where the request came from.
        Outcome::Unavailable => {
            warn!(listener, %peer, outcome = "unavailable", took_us, "request")
        }
        refused => info!(listener, %peer, outcome = ?refused, took_us, "request refused"),
    }
}

enum Connection {
    Unix(tokio::net::UnixStream),
    Tcp(tokio::net::TcpStream),
}

/// Who is at the other end of a connection, kept as numbers and formatted only if a log line
/// that names it is written.
#[derive(Debug, Clone, Copy)]
enum Peer {
    /// A unix-socket peer, from SO_PEERCRED; the pid is absent when the kernel does not say.
    Unix {
        uid: u32,
        gid: u32,
        pid: Option<i32>,
    },
    /// A unix-socket peer whose credentials could not be read.
    UnknownUnix,
    /// A TCP peer's address.
    Tcp(SocketAddr),
}

impl Peer {
    /// The uid and gid the allow-lists check (unix sockets only).
    fn ids(&self) -> Option<(u32, u32)> {
        match *self {
            Peer::Unix { uid, gid, .. } => Some((uid, gid)),
            Peer::UnknownUnix | Peer::Tcp(_) => None,
        }
    }
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Peer::Unix {
                uid,
                pid: Some(pid),
                ..
            } => write!(f, "uid={uid} pid={pid}"),
            Peer::Unix { uid, pid: None, .. } => write!(f, "uid={uid} pid=?"),
            Peer::UnknownUnix => f.write_str("unknown"),
            Peer::Tcp(addr) => write!(f, "{addr}"),
        }
    }
}

/// Accepts one connection and says who its peer is.
async fn accept(listener: &Listener) -> std::io::Result<(Connection, Peer)> {
    match listener {
        Listener::Unix(l) => {
            let (stream, _) = l.accept().await?;
            let peer = match stream.peer_cred() {
                Ok(cred) => Peer::Unix {
                    uid: cred.uid(),
                    gid: cred.gid(),
                    pid: cred.pid(),
                },
                Err(_) => Peer::UnknownUnix,
            };
            Ok((Connection::Unix(stream), peer))
        }
        Listener::Tcp(l) => {
            let (stream, addr) = l.accept().await?;
            let _ = stream.set_nodelay(true);
            Ok((Connection::Tcp(stream), Peer::Tcp(addr)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peer_is_named_as_before() {
        let unix = Peer::Unix {
            uid: 1000,
            gid: 100,
            pid: Some(42),
        };
        assert_eq!(unix.to_string(), "uid=1000 pid=42");
        assert_eq!(unix.ids(), Some((1000, 100)));
        let no_pid = Peer::Unix {
            uid: 0,
            gid: 0,
            pid: None,
        };
        assert_eq!(no_pid.to_string(), "uid=0 pid=?");
        assert_eq!(Peer::UnknownUnix.to_string(), "unknown");
        assert_eq!(Peer::UnknownUnix.ids(), None);
        let tcp = Peer::Tcp("127.0.0.1:4242".parse().unwrap());
        assert_eq!(tcp.to_string(), "127.0.0.1:4242");
        assert_eq!(tcp.ids(), None);
    }
}
