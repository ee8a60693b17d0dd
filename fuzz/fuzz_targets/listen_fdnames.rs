//! Socket activation's names: LISTEN_FDNAMES split on `:` as sd-notify splits it, each name given
//! to `cognitod::activation::transport_for_name`, and the list with real descriptors to
//! `cognitod::activation::assign`, which checks each against the kind of socket its name says.
//!
//! Input: LISTEN_FDNAMES as UTF-8. A name may end in `@K` to pick the descriptor passed with it
//! (otherwise the right kind for the name): `u` unix listener, `t` IPv4 listener, `6` IPv6
//! listener, `d` UDP socket, `s` connected unix stream, `x` unix datagram socket, `f` a file.
//! The descriptors are duplicates of a few made once, so a run costs a `dup` per name.
//!
//! Checked: no panic; `assign` succeeds exactly when every name is unix, tcp or http and its
//! descriptor is a listening stream socket of the matching family, and otherwise fails on the
//! first bad one with the error that names it; every message is one line.

#![no_main]

use std::os::fd::OwnedFd;
use std::sync::OnceLock;

use cognitod::activation::{assign, transport_for_name, ActivationError};
use cognitod::transport::Transport;
use libfuzzer_sys::fuzz_target;

/// More names than any unit file has; keeps a run's descriptors bounded.
const MAX_NAMES: usize = 64;

/// One descriptor of each kind, made once.
struct Pool {
    _dir: tempfile::TempDir,
    fds: Vec<(char, OwnedFd)>,
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let unix = std::os::unix::net::UnixListener::bind(dir.path().join("l.sock"))
            .expect("a unix listener");
        let mut fds = vec![
            ('u', OwnedFd::from(unix)),
            (
                't',
                OwnedFd::from(std::net::TcpListener::bind("127.0.0.1:0").expect("a tcp listener")),
            ),
            (
                'd',
                OwnedFd::from(std::net::UdpSocket::bind("127.0.0.1:0").expect("a udp socket")),
            ),
            (
                's',
                OwnedFd::from(
                    std::os::unix::net::UnixStream::pair()
                        .expect("a socket pair")
                        .0,
                ),
            ),
            (
                'x',
                OwnedFd::from(
                    std::os::unix::net::UnixDatagram::unbound().expect("a datagram socket"),
                ),
            ),
            (
                'f',
                OwnedFd::from(std::fs::File::open("/dev/null").expect("/dev/null opens")),
            ),
        ];
        // Not every machine has IPv6 on loopback.
        if let Ok(v6) = std::net::TcpListener::bind("[::1]:0") {
            fds.push(('6', OwnedFd::from(v6)));
        }
        Pool { _dir: dir, fds }
    })
}

/// What `assign` should say about one name passed with a descriptor of `kind`.
fn verdict(name: &str, kind: char) -> Result<Transport, &'static str> {
    let transport = match name {
        "unix" => Transport::Unix,
        "tcp" => Transport::Tcp,
        "http" => Transport::Http,
        _ => return Err("unknown name"),
    };
    match (transport, kind) {
        (Transport::Unix, 'u') | (Transport::Tcp | Transport::Http, 't' | '6') => Ok(transport),
        _ => Err("wrong kind"),
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(names) = std::str::from_utf8(data) else {
        return;
    };
    if names.is_empty() {
        assert_eq!(assign(Vec::new()).unwrap_err(), ActivationError::NoSockets);
        return;
    }
    let pool = pool();
    let mut passed = Vec::new();
    let mut expected = Vec::new();
    for entry in names.split(':').take(MAX_NAMES) {
        let (name, kind) = match entry.rsplit_once('@') {
            Some((name, k)) if k.len() == 1 && pool.fds.iter().any(|(c, _)| k.starts_with(*c)) => {
                (name, k.chars().next().expect("one char"))
            }
            _ => (entry, if entry == "unix" { 'u' } else { 't' }),
        };
        let fd = pool
            .fds
            .iter()
            .find(|(c, _)| *c == kind)
            .map(|(_, fd)| fd.try_clone().expect("dup"))
            .expect("the kind exists");

        let by_name = transport_for_name(name);
        match (&by_name, verdict(name, 'u').or_else(|_| verdict(name, 't'))) {
            (Ok(t), Ok(want)) => assert_eq!(*t, want),
            (Err(ActivationError::UnknownName { name: shown }), Err(_)) => {
                assert_eq!(*shown, name.chars().take(64).collect::<String>());
            }
            (got, want) => panic!("{name:?}: got {got:?}, expected {want:?}"),
        }
        if let Err(err) = &by_name {
            assert!(!err.to_string().contains(['\n', '\r']), "{err}");
        }
        expected.push(verdict(name, kind));
        passed.push((fd, name.to_owned()));
    }

    let names: Vec<String> = passed.iter().map(|(_, n)| n.clone()).collect();
    let assigned = assign(passed);
    if cognitod_fuzz::debug() {
        match &assigned {
            Ok(bound) => eprintln!(
                "{:?}",
                bound.iter().map(|b| b.transport).collect::<Vec<_>>()
            ),
            Err(err) => eprintln!("{err}"),
        }
    }
    match (assigned, expected.iter().position(Result::is_err)) {
        (Ok(bound), None) => {
            assert_eq!(bound.len(), expected.len());
            for (b, want) in bound.iter().zip(&expected) {
                assert_eq!(Ok(b.transport), *want);
            }
        }
        (Err(err), Some(first_bad)) => {
            let message = err.to_string();
            assert!(!message.contains(['\n', '\r']), "{message:?}");
            let name = &names[first_bad];
            match (err, expected[first_bad]) {
                (ActivationError::UnknownName { name: shown }, Err("unknown name")) => {
                    assert_eq!(shown, name.chars().take(64).collect::<String>());
                }
                (ActivationError::WrongKind { name: shown, .. }, Err("wrong kind")) => {
                    assert_eq!(shown, *name);
                }
                (err, want) => panic!("{name:?}: got {err:?}, expected {want:?}"),
            }
        }
        (got, first_bad) => panic!("{names:?}: got {got:?}, first bad name at {first_bad:?}"),
    }
});
