//! Socket activation: the listening sockets systemd passes, taken by their names.
//!
//! Of the three crates of the design card that read LISTEN_FDS, `sd-notify` is used: `listenfd`
//! has no names (and systemd does not keep the order of several socket units, so positions cannot
//! be trusted), and `libsystemd` duplicates what `sd-notify` does with a much larger dependency
//! tree. `sd-notify` also sends the readiness messages, so one small crate covers both.
//!
//! The environment is read in the synchronous `main`, before the runtime starts any thread,
//! because unsetting LISTEN_* (so no child inherits them) is only sound while single-threaded.

use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;

use nix::sys::socket::{
    getsockname, getsockopt, sockopt, AddressFamily, SockType, SockaddrLike, SockaddrStorage,
};

use crate::listeners::{Bound, Socket};
use crate::transport::Transport;

/// What is wrong with what systemd passed, and what to change in the unit files.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ActivationError {
    /// LISTEN_FDS/LISTEN_FDNAMES are inconsistent or unreadable.
    #[error("socket activation: {0}; run cognitod from its .socket units (each with FileDescriptorName=unix, tcp or http)")]
    Environment(String),
    /// A descriptor has a name cognitod does not know.
    #[error("socket activation: a socket is named {name:?}; cognitod takes only unix, tcp and http: set FileDescriptorName= in that .socket unit to one of them")]
    UnknownName {
        /// The name from LISTEN_FDNAMES.
        name: String,
    },
    /// A descriptor is not the kind of socket its name says.
    #[error("socket activation: the socket named {name:?} is {found}; {fix}")]
    WrongKind {
        /// The name from LISTEN_FDNAMES.
        name: String,
        /// What it actually is.
        found: String,
        /// What the unit must change.
        fix: &'static str,
    },
    /// systemd said there were sockets but passed none that can be used.
    #[error("socket activation: LISTEN_FDS is set but no socket was passed; check the .socket units' ListenStream= lines")]
    NoSockets,
}

/// The transport a FileDescriptorName= stands for.
pub fn transport_for_name(name: &str) -> Result<Transport, ActivationError> {
    name.parse().map_err(|_| ActivationError::UnknownName {
        name: name.chars().take(64).collect(),
    })
}

/// What systemd passed: the listening sockets, and the state the previous process of the service
/// left in the file descriptor store.
#[derive(Default)]
pub(crate) struct Passed {
    /// The sockets; `None` when none were passed (not socket-activated: the daemon binds its own).
    pub sockets: Option<Vec<Bound>>,
    /// The descriptor named `state` (see `fd_state`), when the store held one.
    pub kept_state: Option<OwnedFd>,
}

/// Takes the sockets (and the kept state) systemd passed, if any, and removes LISTEN_* from the
/// environment.
///
/// Must be called before any thread is started.
#[allow(unsafe_code)]
pub(crate) fn take_from_environment() -> Result<Passed, ActivationError> {
    if std::env::var_os("LISTEN_FDS").is_none() {
        return Ok(Passed::default());
    }
    // SAFETY: called from the synchronous main before the runtime or any other thread exists, so
    // nothing reads the environment concurrently while LISTEN_* are removed.
    let passed = unsafe { sd_notify::listen_fds_with_names_and_unset_env() }
        .map_err(|e| ActivationError::Environment(e.to_string()))?;
    let passed: Vec<(RawFd, String)> = passed.collect();
    let mut sockets = Vec::with_capacity(passed.len());
    let mut kept_state = None;
    for (fd, name) in passed {
        // SAFETY: systemd passes these descriptors to this process (LISTEN_PID was checked by
        // sd-notify) and nothing else in the process has taken ownership of them.
        let owned = unsafe { OwnedFd::from_raw_fd(fd) };
        if name == crate::fd_state::FD_NAME {
            // A second one (FileDescriptorStoreMax= above 1 and a replacement cut short) is
            // dropped: the later one is the newer.
            kept_state = Some(owned);
        } else {
            sockets.push((owned, name));
        }
    }
    let sockets = if sockets.is_empty() {
        // LISTEN_PID named another process, or only the kept state came (the service started
        // without its sockets): the daemon binds its own listeners.
        None
    } else {
        Some(assign(sockets)?)
    };
    Ok(Passed {
        sockets,
        kept_state,
    })
}

/// Turns named descriptors into listeners, checking each is the kind of socket its name says.
pub fn assign(passed: Vec<(OwnedFd, String)>) -> Result<Vec<Bound>, ActivationError> {
    if passed.is_empty() {
        return Err(ActivationError::NoSockets);
    }
    let mut bound = Vec::with_capacity(passed.len());
    for (fd, name) in passed {
        let transport = transport_for_name(&name)?;
        let kind = SocketKind::of(&fd);
        let fix = match transport {
            Transport::Unix => {
                "the .socket unit with FileDescriptorName=unix must have ListenStream=/path/to.sock (and no Accept=yes)"
            }
            Transport::Tcp | Transport::Http => {
                "the .socket unit with FileDescriptorName=tcp or http must have ListenStream=ADDRESS:PORT (and no Accept=yes)"
            }
        };
        let wrong = |found: String| ActivationError::WrongKind {
            name: name.clone(),
            found,
            fix,
        };
        if !kind.stream {
            return Err(wrong("not a stream socket".into()));
        }
        if !kind.listening {
            return Err(wrong("not listening".into()));
        }
        let label = kind.address.clone();
        let socket = match (transport, kind.family) {
            (Transport::Unix, Some(AddressFamily::Unix)) => Socket::Unix(UnixListener::from(fd)),
            (
                Transport::Tcp | Transport::Http,
                Some(AddressFamily::Inet | AddressFamily::Inet6),
            ) => Socket::Tcp(std::net::TcpListener::from(fd)),
            (_, family) => {
                return Err(wrong(match family {
                    Some(AddressFamily::Unix) => "a unix socket".into(),
                    Some(AddressFamily::Inet) => "an IPv4 socket".into(),
                    Some(AddressFamily::Inet6) => "an IPv6 socket".into(),
                    _ => "not a unix or IP socket".into(),
                }))
            }
        };
        bound.push(Bound {
            transport,
            socket,
            label: format!("{label} (from systemd)"),
            owned_path: None,
            from: None,
            retirement: crate::listeners::Retirement::never(),
        });
    }
    Ok(bound)
}

/// What a passed descriptor turned out to be.
struct SocketKind {
    family: Option<AddressFamily>,
    stream: bool,
    listening: bool,
    address: String,
}

impl SocketKind {
    fn of(fd: &OwnedFd) -> SocketKind {
        let stream = getsockopt(fd, sockopt::SockType).is_ok_and(|t| t == SockType::Stream);
        let listening = getsockopt(fd, sockopt::AcceptConn).unwrap_or(false);
        let name = getsockname::<SockaddrStorage>(std::os::fd::AsRawFd::as_raw_fd(fd)).ok();
        let family = name.as_ref().and_then(|n| n.family());
        let address = match &name {
            Some(n) => n
                .as_unix_addr()
                .and_then(|u| u.path().map(|p| p.display().to_string()))
                .unwrap_or_else(|| n.to_string()),
            None => "unknown".into(),
        };
        SocketKind {
            family,
            stream,
            listening,
            address,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unix_listener(dir: &tempfile::TempDir) -> OwnedFd {
        OwnedFd::from(UnixListener::bind(dir.path().join("s.sock")).unwrap())
    }

    fn tcp_listener() -> OwnedFd {
        OwnedFd::from(std::net::TcpListener::bind("127.0.0.1:0").unwrap())
    }

    #[test]
    fn takes_sockets_by_name_whatever_their_order() {
        let dir = tempfile::tempdir().unwrap();
        let bound = assign(vec![
            (tcp_listener(), "http".into()),
            (unix_listener(&dir), "unix".into()),
            (tcp_listener(), "tcp".into()),
        ])
        .unwrap();
        let transports: Vec<_> = bound.iter().map(|b| b.transport).collect();
        assert_eq!(
            transports,
            [Transport::Http, Transport::Unix, Transport::Tcp]
        );
        assert!(matches!(bound[1].socket, Socket::Unix(_)));
        assert!(bound[1].label.contains("s.sock"));
    }

    #[test]
    fn an_unknown_name_says_what_to_set() {
        let err = assign(vec![(tcp_listener(), "web".into())]).unwrap_err();
        assert!(err.to_string().contains("FileDescriptorName="), "{err}");
        assert!(err.to_string().contains("\"web\""), "{err}");
    }

    #[test]
    fn a_unix_socket_named_tcp_is_refused_with_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let err = assign(vec![(unix_listener(&dir), "tcp".into())]).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("is a unix socket"), "{text}");
        assert!(text.contains("ListenStream=ADDRESS:PORT"), "{text}");
    }

    #[test]
    fn a_tcp_socket_named_unix_is_refused() {
        let err = assign(vec![(tcp_listener(), "unix".into())]).unwrap_err();
        assert!(err.to_string().contains("an IPv4 socket"), "{err}");
    }

    #[test]
    fn a_socket_that_is_not_listening_is_refused() {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let err = assign(vec![(OwnedFd::from(socket), "tcp".into())]).unwrap_err();
        assert!(err.to_string().contains("not a stream socket"), "{err}");
    }

    #[test]
    fn nothing_passed_is_an_error() {
        assert_eq!(assign(vec![]).unwrap_err(), ActivationError::NoSockets);
    }
}
