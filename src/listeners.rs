//! Listening sockets: bound by the daemon itself when it runs standalone (a laptop, a test).
//!
//! A self-bound unix socket gets its owner and mode before anyone can connect: it is bound inside
//! a private 0700 directory next to its final path, given its owner and mode there, and renamed
//! into place, so there is no window with default permissions. A stale socket file is replaced
//! only when nothing answers on it.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener as StdUnixListener, UnixStream as StdUnixStream};
use std::path::{Path, PathBuf};

use nix::unistd::{chown, Gid, Uid};

use crate::config::{ListenerConfig, TcpConfig, UnixSocketConfig};

/// The protocol a listener speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// Raw protocol on a unix socket.
    Unix,
    /// Raw protocol on TCP.
    Tcp,
    /// HTTP on TCP.
    Http,
}

impl Transport {
    /// The name used in logs and in systemd's FileDescriptorName=.
    pub fn name(self) -> &'static str {
        match self {
            Transport::Unix => "unix",
            Transport::Tcp => "tcp",
            Transport::Http => "http",
        }
    }
}

/// A listening socket of either family, not yet registered with the runtime.
#[derive(Debug)]
pub enum Socket {
    /// A unix stream socket.
    Unix(StdUnixListener),
    /// A TCP socket.
    Tcp(std::net::TcpListener),
}

/// A listener ready to serve: what it speaks, the socket, and what to clean up after it.
#[derive(Debug)]
pub struct Bound {
    /// The protocol spoken on it.
    pub transport: Transport,
    /// The socket, non-blocking.
    pub socket: Socket,
    /// Where it listens, for logs.
    pub label: String,
    /// A socket file this process created and should remove when it stops.
    pub owned_path: Option<PathBuf>,
}

/// Why a listener could not be set up; each names the socket and the fix.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    /// Another process serves on the unix socket path.
    #[error("{path}: another process is listening on this socket; stop it or choose another path with -S/--socket-path")]
    InUse {
        /// The socket path.
        path: PathBuf,
    },
    /// Something that is not a socket is in the way.
    #[error("{path}: exists and is not a socket; remove it or choose another path with -S/--socket-path")]
    NotASocket {
        /// The path.
        path: PathBuf,
    },
    /// A system call failed.
    #[error("{what} {target}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The socket path or address.
        target: String,
        /// The cause.
        source: io::Error,
    },
}

fn io_err(
    what: &'static str,
    target: impl std::fmt::Display,
) -> impl FnOnce(io::Error) -> ListenError {
    let target = target.to_string();
    move |source| ListenError::Io {
        what,
        target,
        source,
    }
}

/// Binds every configured listener (standalone mode).
pub fn bind_all(config: &[ListenerConfig]) -> Result<Vec<Bound>, ListenError> {
    let mut bound = Vec::new();
    for listener in config {
        match listener {
            ListenerConfig::Unix(unix) => bound.push(bind_unix(unix)?),
            ListenerConfig::Tcp(tcp) => bound.extend(bind_tcp(tcp, Transport::Tcp)?),
            ListenerConfig::Http(tcp) => bound.extend(bind_tcp(tcp, Transport::Http)?),
        }
    }
    Ok(bound)
}

/// Binds a unix socket with its final owner and mode, then moves it into place.
pub fn bind_unix(config: &UnixSocketConfig) -> Result<Bound, ListenError> {
    let path = &config.path;
    refuse_live_socket(path)?;
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let file_name = path
        .file_name()
        .ok_or_else(|| ListenError::NotASocket { path: path.clone() })?;
    // The private directory sits next to the final path so that rename() stays on one file system.
    let staging = tempfile::Builder::new()
        .prefix(".cognitod-bind-")
        .permissions(std::fs::Permissions::from_mode(0o700))
        .tempdir_in(&parent)
        .map_err(io_err("creating a private directory in", parent.display()))?;
    let staged = staging.path().join(file_name);
    let listener = StdUnixListener::bind(&staged).map_err(io_err("binding", path.display()))?;
    if config.owner.is_some() || config.group.is_some() {
        chown(
            &staged,
            config.owner.map(Uid::from_raw),
            config.group.map(Gid::from_raw),
        )
        .map_err(|e| ListenError::Io {
            what: "setting the owner of",
            target: path.display().to_string(),
            source: e.into(),
        })?;
    }
    std::fs::set_permissions(&staged, std::fs::Permissions::from_mode(config.mode))
        .map_err(io_err("setting the mode of", path.display()))?;
    std::fs::rename(&staged, path)
        .map_err(io_err("moving the socket into place at", path.display()))?;
    listener
        .set_nonblocking(true)
        .map_err(io_err("configuring", path.display()))?;
    Ok(Bound {
        transport: Transport::Unix,
        socket: Socket::Unix(listener),
        label: path.display().to_string(),
        owned_path: Some(path.clone()),
    })
}

/// Refuses to take over a socket path another process is serving on.
fn refuse_live_socket(path: &Path) -> Result<(), ListenError> {
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err("inspecting", path.display())(e)),
        Ok(meta) if !meta.file_type().is_socket() => Err(ListenError::NotASocket {
            path: path.to_path_buf(),
        }),
        Ok(_) => match StdUnixStream::connect(path) {
            Ok(_) => Err(ListenError::InUse {
                path: path.to_path_buf(),
            }),
            // Nobody listens: a stale file from a process that died; rename() will replace it.
            Err(_) => Ok(()),
        },
    }
}

/// Binds one port on every configured address. When the host was left to the default (both
/// loopbacks) and this machine has no IPv6, ::1 is skipped rather than failing the start.
fn bind_tcp(config: &TcpConfig, transport: Transport) -> Result<Vec<Bound>, ListenError> {
    let mut bound = Vec::new();
    let both_loopbacks = config.addresses.len() > 1;
    for address in &config.addresses {
        let addr = SocketAddr::new(*address, config.port);
        match bind_tcp_address(addr) {
            Ok(listener) => bound.push(Bound {
                transport,
                socket: Socket::Tcp(listener),
                label: addr.to_string(),
                owned_path: None,
            }),
            Err(e)
                if both_loopbacks
                    && address.is_ipv6()
                    && e.kind() == io::ErrorKind::AddrNotAvailable =>
            {
                tracing::warn!(address = %addr, "IPv6 loopback unavailable, listening on IPv4 only");
            }
            Err(e) => return Err(io_err("binding", addr)(e)),
        }
    }
    Ok(bound)
}

fn bind_tcp_address(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    let socket = match addr.ip() {
        IpAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        IpAddr::V6(_) => {
            let socket = tokio::net::TcpSocket::new_v6()?;
            // ::1 and 127.0.0.1 are bound separately on the same port; keep them apart.
            nix::sys::socket::setsockopt(&socket, nix::sys::socket::sockopt::Ipv6V6Only, &true)?;
            socket
        }
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    let listener = socket.listen(1024)?;
    listener.into_std()
}
