//! Listening sockets: bound by the daemon itself when it runs standalone (a laptop, a test).
//!
//! A self-bound unix socket gets its owner and mode before anyone can connect: it is bound inside
//! a private 0700 directory next to its final path, given its owner and mode there, and renamed
//! into place, so there is no window with default permissions. A stale socket file is replaced
//! only when nothing answers on it.

use std::fs::File;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::os::unix::net::{UnixListener as StdUnixListener, UnixStream as StdUnixStream};
use std::path::{Path, PathBuf};

use nix::fcntl::AtFlags;
use nix::fcntl::{renameat, OFlag};
use nix::sys::stat::{fchmodat, fstatat, mkdirat, FchmodatFlags, Mode, SFlag};
use nix::unistd::{fchownat, unlinkat, Gid, Uid, UnlinkatFlags};

use crate::config::{ListenerConfig, TcpConfig, UnixSocketConfig};
use crate::transport::Transport;

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
    /// The configured listener it was bound for (self-bound only), so a reload can tell what
    /// changed.
    pub from: Option<ListenerConfig>,
    /// Closes this listener alone when the daemon says so (a reload removed it).
    pub retirement: Retirement,
}

/// The signal that closes one listener while the others keep serving.
#[derive(Debug, Clone)]
pub struct Retirement(tokio::sync::watch::Receiver<bool>);

impl Retirement {
    /// A listener the daemon can close by sending `true`.
    pub fn channel() -> (tokio::sync::watch::Sender<bool>, Retirement) {
        let (retire, retired) = tokio::sync::watch::channel(false);
        (retire, Retirement(retired))
    }

    /// A listener that is never closed alone (systemd's sockets, until the daemon claims it).
    pub fn never() -> Retirement {
        Retirement::channel().1
    }

    /// Completes once the listener is to close; never, when nobody can close it any more.
    pub async fn wait(&mut self) {
        if self.0.wait_for(|retired| *retired).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Why a listener could not be set up; each names the socket and the fix.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ListenError {
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
    /// Another user could change the socket's directory, or one above it.
    #[error("{}: {why}, so another user could put their own socket in place of this one; use a directory that only root or this daemon's user can write to (chown root and chmod go-w it, or choose e.g. -S /run/cognitod.sock)", dir.display())]
    UnsafeDirectory {
        /// The directory.
        dir: PathBuf,
        /// What makes it unsafe.
        why: String,
    },
    /// In a directory every user can write to (sticky, like /tmp), the socket's name is taken
    /// by a file of another user.
    #[error("{path}: belongs to uid {uid} in a directory every user can write to; remove it, or choose another path with -S/--socket-path")]
    TakenInSharedDirectory {
        /// The socket path.
        path: PathBuf,
        /// The owner of what is there.
        uid: u32,
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
pub(crate) fn bind_all(config: &[ListenerConfig]) -> Result<Vec<Bound>, ListenError> {
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
///
/// The directory is checked first (see [`check_directory`]). Every later step works relative to
/// descriptors of the directory and of the private staging directory, never by path: a user who
/// could rename entries of the directory still could not steer the owner and mode meant for the
/// socket onto another file.
pub(crate) fn bind_unix(config: &UnixSocketConfig) -> Result<Bound, ListenError> {
    let path = &config.path;
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let file_name = path
        .file_name()
        .ok_or_else(|| ListenError::NotASocket { path: path.clone() })?;
    let dir = open_directory(&parent)
        .map_err(io_err("opening the socket's directory", parent.display()))?;
    check_directory(path, &parent, &dir, file_name)?;
    refuse_live_socket(path)?;
    let staging = Staging::create(&dir)
        .map_err(io_err("creating a private directory in", parent.display()))?;
    // bind() takes no directory descriptor; the /proc link names the staging directory itself,
    // whatever its name in the parent has become since.
    let listener = StdUnixListener::bind(staging.proc_path().join(file_name))
        .map_err(io_err("binding", path.display()))?;
    let staged = fstatat(Some(staging.fd()), file_name, AtFlags::AT_SYMLINK_NOFOLLOW)
        .map_err(|e| io_err("inspecting", path.display())(e.into()))?;
    if staged.st_mode & SFlag::S_IFMT.bits() != SFlag::S_IFSOCK.bits() {
        return Err(ListenError::NotASocket { path: path.clone() });
    }
    if config.owner.is_some() || config.group.is_some() {
        fchownat(
            Some(staging.fd()),
            file_name,
            config.owner.map(Uid::from_raw),
            config.group.map(Gid::from_raw),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .map_err(|e| io_err("setting the owner of", path.display())(e.into()))?;
    }
    // Following is safe here: the entry was just seen to be the socket, and the staging
    // directory is this user's, mode 0700, so nobody else can have replaced it (Linux has no
    // fchmodat that refuses symlinks before 6.6).
    fchmodat(
        Some(staging.fd()),
        file_name,
        Mode::from_bits_truncate(config.mode),
        FchmodatFlags::FollowSymlink,
    )
    .map_err(|e| io_err("setting the mode of", path.display())(e.into()))?;
    renameat(
        Some(staging.fd()),
        file_name,
        Some(dir.as_raw_fd()),
        file_name,
    )
    .map_err(|e| io_err("moving the socket into place at", path.display())(e.into()))?;
    drop(staging);
    listener
        .set_nonblocking(true)
        .map_err(io_err("configuring", path.display()))?;
    Ok(Bound {
        transport: Transport::Unix,
        socket: Socket::Unix(listener),
        label: path.display().to_string(),
        owned_path: Some(path.clone()),
        from: Some(ListenerConfig::Unix(config.clone())),
        retirement: Retirement::never(),
    })
}

/// Gives a self-bound unix socket the owner, group and mode of `config` in place (a reload that
/// changed them). Like binding, relative to the directory's descriptor; the directory was checked
/// when the socket was bound there.
pub(crate) fn set_owner_and_mode(config: &UnixSocketConfig) -> Result<(), ListenError> {
    let path = &config.path;
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let file_name = path
        .file_name()
        .ok_or_else(|| ListenError::NotASocket { path: path.clone() })?;
    let dir = open_directory(&parent)
        .map_err(io_err("opening the socket's directory", parent.display()))?;
    let fd = Some(dir.as_raw_fd());
    let seen = fstatat(fd, file_name, AtFlags::AT_SYMLINK_NOFOLLOW)
        .map_err(|e| io_err("inspecting", path.display())(e.into()))?;
    if seen.st_mode & SFlag::S_IFMT.bits() != SFlag::S_IFSOCK.bits() {
        return Err(ListenError::NotASocket { path: path.clone() });
    }
    // Narrow first, then change hands: at no moment does the socket let in more than either the
    // old or the new settings do.
    let narrowest = Mode::from_bits_truncate(config.mode & seen.st_mode & 0o7777);
    fchmodat(fd, file_name, narrowest, FchmodatFlags::FollowSymlink)
        .map_err(|e| io_err("setting the mode of", path.display())(e.into()))?;
    if config.owner.is_some() || config.group.is_some() {
        fchownat(
            fd,
            file_name,
            config.owner.map(Uid::from_raw),
            config.group.map(Gid::from_raw),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .map_err(|e| io_err("setting the owner of", path.display())(e.into()))?;
    }
    fchmodat(
        fd,
        file_name,
        Mode::from_bits_truncate(config.mode),
        FchmodatFlags::FollowSymlink,
    )
    .map_err(|e| io_err("setting the mode of", path.display())(e.into()))?;
    Ok(())
}

/// Opens a directory for the `*at` calls.
fn open_directory(path: &Path) -> io::Result<File> {
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(OFlag::O_DIRECTORY.bits() | OFlag::O_CLOEXEC.bits())
        .open(path)
}

/// Whether `uid` is root or this process's user, the only owners a socket's directory may have.
fn trusted_owner(uid: u32) -> bool {
    uid == 0 || uid == Uid::effective().as_raw()
}

/// Refuses a socket directory that another user could change, the way OpenSSH refuses unsafe
/// paths to its keys: whoever can rename entries of the directory, or of one above it, can put
/// their own socket where clients connect (and read the shared secret they send). The
/// directory and every one above it (as written and as resolved) must belong to root or this
/// process's user and be writable by nobody else, except sticky directories such as /tmp, where
/// others cannot touch what is not theirs: there, the socket's name must not belong to another
/// user already.
fn check_directory(
    path: &Path,
    parent: &Path,
    dir: &File,
    file_name: &std::ffi::OsStr,
) -> Result<(), ListenError> {
    let unsafe_dir = |dir: &Path, why: String| ListenError::UnsafeDirectory {
        dir: dir.to_path_buf(),
        why,
    };
    let judge = |shown: &Path, meta: &std::fs::Metadata| -> Result<bool, ListenError> {
        let mode = meta.mode() & 0o7777;
        if !meta.is_dir() {
            return Err(unsafe_dir(shown, "it is not a directory".into()));
        }
        if !trusted_owner(meta.uid()) {
            return Err(unsafe_dir(
                shown,
                format!("it belongs to uid {}", meta.uid()),
            ));
        }
        let shared = mode & 0o022 != 0;
        if shared && mode & 0o1000 == 0 {
            return Err(unsafe_dir(
                shown,
                format!("its mode {mode:04o} lets group or others write to it"),
            ));
        }
        Ok(shared)
    };
    let meta = dir
        .metadata()
        .map_err(io_err("inspecting", parent.display()))?;
    if judge(parent, &meta)? {
        // Sticky and shared: the name must be free, or this user's (a stale socket of ours).
        match fstatat(
            Some(dir.as_raw_fd()),
            file_name,
            AtFlags::AT_SYMLINK_NOFOLLOW,
        ) {
            Ok(taken) if !trusted_owner(taken.st_uid) => {
                return Err(ListenError::TakenInSharedDirectory {
                    path: path.to_path_buf(),
                    uid: taken.st_uid,
                })
            }
            Ok(_) | Err(nix::errno::Errno::ENOENT) => {}
            Err(e) => return Err(io_err("inspecting", path.display())(e.into())),
        }
    }
    let written = std::path::absolute(parent).map_err(io_err("resolving", parent.display()))?;
    let resolved = std::fs::canonicalize(parent).map_err(io_err("resolving", parent.display()))?;
    for above in written
        .ancestors()
        .skip(1)
        .chain(resolved.ancestors().skip(1))
    {
        let meta = std::fs::metadata(above).map_err(io_err("inspecting", above.display()))?;
        judge(above, &meta)?;
    }
    Ok(())
}

/// A private directory (mode 0700, this user's) next to the socket's final path, so that the
/// socket gets its owner and mode where nobody can connect yet and rename() stays on one file
/// system. Removed when dropped.
struct Staging<'a> {
    /// The directory the socket goes to.
    parent: &'a File,
    /// Its name in `parent` when it was made.
    name: String,
    /// The staging directory itself, opened right after it was made and checked to be ours.
    dir: File,
}

impl<'a> Staging<'a> {
    fn create(parent: &'a File) -> io::Result<Staging<'a>> {
        use rand::Rng as _;
        let mut attempts = 0;
        let name = loop {
            let name = format!(".cognitod-bind-{:016x}", rand::thread_rng().gen::<u64>());
            match mkdirat(Some(parent.as_raw_fd()), name.as_str(), Mode::S_IRWXU) {
                Ok(()) => break name,
                Err(nix::errno::Errno::EEXIST) if attempts < 8 => attempts += 1,
                Err(e) => return Err(e.into()),
            }
        };
        let mut staging = Staging {
            parent,
            name,
            dir: parent.try_clone()?,
        };
        // Opened through the parent's descriptor, not following a symlink; then checked to be
        // the directory this process made, not one another user renamed into its place.
        staging.dir = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(
                OFlag::O_DIRECTORY.bits() | OFlag::O_NOFOLLOW.bits() | OFlag::O_CLOEXEC.bits(),
            )
            .open(proc_path(parent).join(&staging.name))?;
        let meta = staging.dir.metadata()?;
        if meta.uid() != Uid::effective().as_raw() || meta.mode() & 0o077 != 0 {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "the private directory was replaced by another user's",
            ));
        }
        Ok(staging)
    }

    fn fd(&self) -> std::os::fd::RawFd {
        self.dir.as_raw_fd()
    }

    fn proc_path(&self) -> PathBuf {
        proc_path(&self.dir)
    }
}

impl Drop for Staging<'_> {
    fn drop(&mut self) {
        // Empty unless a step failed after bind(); the socket file is never followed.
        let _ = std::fs::read_dir(self.proc_path()).map(|entries| {
            for entry in entries.flatten() {
                let _ = unlinkat(
                    Some(self.fd()),
                    entry.file_name().as_os_str(),
                    UnlinkatFlags::NoRemoveDir,
                );
            }
        });
        let _ = unlinkat(
            Some(self.parent.as_raw_fd()),
            self.name.as_str(),
            UnlinkatFlags::RemoveDir,
        );
    }
}

/// The path under /proc that names the directory open as `dir` (the kernel resolves it to that
/// very directory, whatever has been renamed since).
fn proc_path(dir: &File) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", dir.as_raw_fd()))
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
            Ok(listener) => {
                if !address.is_loopback() {
                    tracing::warn!(
                        address = %addr,
                        "listening on an address that is not a loopback one: whoever can reach \
                         it over the network can ask for the credentials, in plain text; unless \
                         that network is trusted and a shared secret is set, listen on \
                         127.0.0.1 (-H)"
                    );
                }
                bound.push(Bound {
                    transport,
                    socket: Socket::Tcp(listener),
                    label: addr.to_string(),
                    owned_path: None,
                    from: Some(match transport {
                        Transport::Http => ListenerConfig::Http(config.clone()),
                        _ => ListenerConfig::Tcp(config.clone()),
                    }),
                    retirement: Retirement::never(),
                });
            }
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
