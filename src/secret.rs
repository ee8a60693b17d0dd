//! Secret values: the only type that holds passwords, client secrets, the shared secret and
//! tokens. It redacts itself in `Debug`, has no `Display`, zeroes its memory on drop, and compares
//! in constant time, so a secret cannot leak through a log line or a timing difference by accident.

use std::fmt;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use base64::Engine as _;
use rand::RngCore;

use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

/// A secret string. Clones share the one zero-on-drop allocation (the configuration, a reload's
/// snapshot of the environment and the sign-in engine each hold the password, and memory holds
/// it once: tests/secrets_in_memory.rs).
#[derive(Clone)]
pub struct Secret(Arc<SecretString>);

impl Secret {
    /// Wraps a secret. The value is copied into an exact-size allocation and the original is
    /// zeroed, so no unzeroed copy is left behind (turning a `String` with spare capacity into a
    /// boxed `str` may otherwise reallocate and free the old buffer as it is).
    pub fn new(mut value: String) -> Self {
        let exact: Box<str> = Box::from(value.as_str());
        value.zeroize();
        Secret(Arc::new(SecretString::new(exact)))
    }

    /// The secret itself, for the few places that must send it (upstream calls, answers).
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// Compares with what a client sent, in time independent of where they differ and of the
    /// length of either: both sides are hashed first, so only fixed-size digests are compared.
    /// A secret compared on every request should be a [`SharedSecret`], which hashes itself once.
    pub fn matches(&self, candidate: &[u8]) -> bool {
        SharedSecret::new(self).matches(candidate)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        self.matches(other.expose().as_bytes())
    }
}

/// The shared secret clients present, kept as its SHA-256 digest only. The digest is taken once,
/// when the configuration is loaded, so that checking a request costs one hash (of what the
/// client offered) instead of two; it is zeroed on drop, as a short secret could be found again
/// from its digest by trying candidates.
#[derive(Clone)]
pub struct SharedSecret(Zeroizing<[u8; 32]>);

impl SharedSecret {
    /// Digests the configured secret.
    pub fn new(secret: &Secret) -> Self {
        SharedSecret(digest(secret.expose().as_bytes()))
    }

    /// Compares with what a client sent, in time independent of where they differ and of the
    /// length of either: the offered bytes are hashed, so only fixed-size digests are compared,
    /// and in constant time.
    pub fn matches(&self, candidate: &[u8]) -> bool {
        let offered = digest(candidate);
        self.0.as_slice().ct_eq(offered.as_slice()).into()
    }
}

/// The stack a SHA-256 of a secret may write to. Found with tests/secrets_in_memory.rs, whose
/// client sends the shared secret with every request, in the debug build (whose frames are the
/// larger): at 4 KiB the secret's tail was still 5 to 7 times in the stack after serving, at
/// 8 KiB once (its one copy).
const DIGEST_STACK: usize = 8192;

/// SHA-256 of a secret, leaving no copy behind: the hasher (sha2 0.10 has no zeroize) keeps the
/// last partial block, the secret itself, in its buffer on the stack.
fn digest(secret: &[u8]) -> Zeroizing<[u8; 32]> {
    scrubbed_to::<DIGEST_STACK, _>(|| {
        let mut out = Zeroizing::new([0u8; 32]);
        out.copy_from_slice(&Sha256::digest(secret));
        out
    })
}

/// Runs `work`, which handles a secret, in frames below this one, then overwrites the stack those
/// frames used, where copies of what they handled stay (a hasher's buffer, an HMAC's key block):
/// the stack is never zeroed by itself, and what is written deep in it once may stay for the life
/// of the thread.
#[inline(never)]
pub(crate) fn scrubbed<T>(work: impl FnOnce() -> T) -> T {
    scrubbed_to::<{ 16 * 1024 }, T>(work)
}

/// [`scrubbed`] for work known to stay within `DEPTH` bytes of stack: the shared secret's
/// check runs on every request, where 16 KiB of zeros cost almost as much as the rest of the
/// request (callgrind: 36k instructions per request against 19k before the scrub).
#[inline(never)]
pub(crate) fn scrubbed_to<const DEPTH: usize, T>(work: impl FnOnce() -> T) -> T {
    let out = below(work);
    scrub_stack::<DEPTH>();
    out
}

/// Runs `work` in a frame of its own, so that its locals lie below the caller's frame.
#[inline(never)]
fn below<T>(work: impl FnOnce() -> T) -> T {
    work()
}

/// Overwrites the stack below the caller's frame: a plain array of zeros that the optimiser must
/// write because `black_box` may read it.
#[inline(never)]
fn scrub_stack<const DEPTH: usize>() {
    let mut zeros = [0u8; DEPTH];
    std::hint::black_box(&mut zeros);
}

impl fmt::Debug for SharedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SharedSecret([redacted])")
    }
}

/// Zeroes every string of a JSON document (a configuration, which holds secrets) before it is
/// dropped: serde_json's values do not zero themselves.
pub(crate) fn zeroize_json(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::String(text) => text.zeroize(),
        Value::Array(items) => items.iter_mut().for_each(zeroize_json),
        Value::Object(map) => map.values_mut().for_each(zeroize_json),
        _ => {}
    }
}

/// This process's own memory, opened by `serve` while the process is dumpable: an undumpable
/// process's /proc/self files are root's, and a daemon that is not root (a user's `serve -e`, the
/// service's dynamic user) could not open /proc/self/mem to overwrite its environment block.
/// Taken (and closed) by the overwrite.
static OWN_MEMORY: std::sync::Mutex<Option<File>> = std::sync::Mutex::new(None);

/// Opens /proc/self/mem for [`overwrite_in_environment_block`]; call it while the process is
/// dumpable. Best effort, like the overwrite.
pub(crate) fn open_own_memory() {
    let mem = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/proc/self/mem");
    if let (Ok(mem), Ok(mut slot)) = (mem, OWN_MEMORY.lock()) {
        *slot = Some(mem);
    }
}

/// Overwrites the values of `names` with zeros where the kernel put the environment at exec (the
/// range /proc/self/stat gives as env_start..env_end, which /proc/PID/environ shows), through
/// /proc/self/mem: no unsafe code, and no pointer into the C library's `environ`. Called by
/// `config::load` once it has read them: at start, while the process has one thread (a reload
/// finds nothing left to overwrite). Best effort: where /proc is not mounted, or a process that is
/// not root is undumpable and [`open_own_memory`] did not run, the copy stays, as it always did.
/// Afterwards `std::env::var` sees these variables empty.
pub(crate) fn overwrite_in_environment_block(names: &[&str]) {
    use std::os::unix::fs::FileExt;
    // Closed when this returns, whatever it finds: the descriptor is needed once.
    let opened_early = OWN_MEMORY.lock().ok().and_then(|mut slot| slot.take());
    if names.is_empty() {
        return;
    }
    let range = || -> Option<(u64, u64)> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        // Fields after the command name, which may hold spaces, start with field 3 (state).
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        Some((fields.get(47)?.parse().ok()?, fields.get(48)?.parse().ok()?))
    };
    let Some((start, end)) = range() else { return };
    // Opened now only where main did not (a test, a root process: root may open it anyway).
    let mem = opened_early.map(Ok).unwrap_or_else(|| {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/proc/self/mem")
    });
    let Ok(mem) = mem else {
        return;
    };
    let mut block = zeroize::Zeroizing::new(vec![0u8; end.saturating_sub(start) as usize]);
    if mem.read_exact_at(&mut block, start).is_err() {
        return;
    }
    let mut at = 0;
    for entry in block.split(|b| *b == 0) {
        let value_at = names.iter().find_map(|name| {
            let prefix = [name.as_bytes(), b"="].concat();
            entry.starts_with(&prefix).then_some(prefix.len())
        });
        if let Some(value_at) = value_at {
            let zeros = vec![0u8; entry.len() - value_at];
            let _ = mem.write_all_at(&zeros, start + (at + value_at) as u64);
        }
        at += entry.len() + 1;
    }
}

/// The largest file read as configuration or secret; real ones are a few hundred bytes, and
/// `-c /dev/zero`, or a log file named by mistake, must not eat the memory.
pub(crate) const MAX_FILE_SIZE: u64 = 1 << 20;

/// Permission bits that let group or others read a file.
pub(crate) const GROUP_OR_OTHER_READ: u32 = 0o044;

/// A file's text, with the mode and owner it had when it was opened (from the open handle, so a
/// rename cannot swap it). The text is zeroed when dropped: a configuration file holds secrets.
pub(crate) struct FileText {
    /// The text.
    pub text: String,
    /// Permission bits.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
}

impl Drop for FileText {
    fn drop(&mut self) {
        self.text.zeroize();
    }
}

/// Reads a whole UTF-8 file of at most [`MAX_FILE_SIZE`]: the one reader of every file that may
/// hold a secret (the configuration's files, `configure`'s and `get`'s secret files). The bytes
/// go straight into one buffer sized from the file's length (a larger one, zeroing the smaller,
/// only if the file grows meanwhile or has no length, as a pipe): `read_to_string` would pass
/// them through a stack buffer and leave the old buffers of each growth in freed memory.
pub(crate) fn read_capped(path: &Path) -> io::Result<FileText> {
    let mut file = File::open(path)?;
    let meta = file.metadata()?;
    // One byte more than the cap: filling it shows the file is too large.
    let cap = MAX_FILE_SIZE as usize + 1;
    let mut buffer = Zeroizing::new(vec![0u8; (meta.len() as usize).min(cap - 1) + 1]);
    let mut filled = 0;
    loop {
        if filled == buffer.len() {
            if filled == cap {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "it is larger than 1 MiB, which no configuration or secret file is",
                ));
            }
            let mut larger = Zeroizing::new(vec![0u8; (filled * 2).clamp(4096, cap)]);
            larger[..filled].copy_from_slice(&buffer[..filled]);
            buffer = larger;
        }
        match file.read(&mut buffer[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let text = std::str::from_utf8(&buffer[..filled]).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            "stream did not contain valid UTF-8",
        )
    })?;
    let mode = meta.permissions().mode() & 0o7777;
    Ok(FileText {
        text: text.to_owned(),
        mode,
        uid: meta.uid(),
    })
}

/// The secret a secret file's text holds: one trailing newline (`echo secret > file`, CRLF
/// too) is not part of it. `None` when nothing is left, which is never "no secret".
pub(crate) fn from_file_text(mut text: String) -> Option<Secret> {
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    (!text.is_empty()).then(|| Secret::new(text))
}

/// Why a secret file given to `cognitod configure` or `cognitod get` was not read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SecretFileError {
    /// It could not be read (missing, unreadable, too large, not UTF-8).
    #[error("{0}")]
    Unreadable(io::Error),
    /// Group or others may read it (a secret of cognitod's own).
    #[error("its mode {0:04o} lets group or others read it; make it private with chmod 600")]
    Exposed(u32),
    /// Others may read it (a shared secret a client reads: its group may share it).
    #[error("its mode {0:04o} lets every user read it; chmod o-rwx (its group may read it, to share it with the clients that need it)")]
    ExposedToAll(u32),
    /// It holds nothing but a newline.
    #[error("the file is empty, and an empty secret is refused")]
    Empty,
}

/// Who besides its owner may read a secret file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Readers {
    /// No one: a secret of cognitod's own (a password, a client secret for `configure`).
    OwnerOnly,
    /// Its group too: the shared secret as a client reads it, which an administrator shares
    /// with the clients' group (mode 0640); never every user.
    OwnerAndGroup,
}

/// Reads a secret file named on the command line, with the checks the daemon applies to its own:
/// size cap, mode (private, or readable by its group where `readers` allows), one trailing
/// newline, not empty.
pub(crate) fn read_file(path: &Path, readers: Readers) -> Result<Secret, SecretFileError> {
    let mut file = read_capped(path).map_err(SecretFileError::Unreadable)?;
    let refused = match readers {
        Readers::OwnerOnly if file.mode & GROUP_OR_OTHER_READ != 0 => {
            Some(SecretFileError::Exposed(file.mode))
        }
        Readers::OwnerAndGroup if file.mode & 0o004 != 0 => {
            Some(SecretFileError::ExposedToAll(file.mode))
        }
        _ => None,
    };
    if let Some(refused) = refused {
        return Err(refused);
    }
    from_file_text(std::mem::take(&mut file.text)).ok_or(SecretFileError::Empty)
}

/// A random shared secret: 32 bytes, URL-safe base64, no padding (safe on a command line and in
/// a header).
pub(crate) fn generate_secret() -> Secret {
    let mut bytes = zeroize::Zeroizing::new([0u8; 32]);
    rand::thread_rng().fill_bytes(bytes.as_mut());
    Secret::new(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes.as_ref()))
}

/// Mode of the directories created for the configuration and secrets, as the package's
/// /etc/cognitod: root reads them, the group may look, others nothing.
const PRIVATE_DIR_MODE: u32 = 0o750;

/// Creates or replaces a file with mode 0600 from the start (no window with a wider mode), in a
/// directory created 0750 when it does not exist yet. The text goes to a temporary file of a
/// name of its own beside `path`, renamed over it once whole: a reader sees the old file or the
/// new one, and a temporary file left by a run that was killed never stands in the way.
pub(crate) fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    let dir = private_dir(path)
        .with_context(|| format!("creating the directory of {}", path.display()))?;
    let mut file = private_temp_file(&dir, path).with_context(|| {
        format!(
            "creating a temporary file in {} for {}",
            dir.display(),
            path.display()
        )
    })?;
    file.write_all(text.as_bytes())
        .and_then(|_| file.as_file().sync_all())
        .with_context(|| format!("writing {}", file.path().display()))?;
    // On an error the temporary file is removed as it is dropped.
    file.persist(path)
        .map_err(|e| e.error)
        .with_context(|| format!("renaming the new file to {}", path.display()))?;
    Ok(())
}

/// Checks, before anything depends on it, that [`write_private`] could write `path`: creates the
/// directory as it would, then a temporary file in it, removed at once. Nothing else is touched.
pub(crate) fn check_writable(path: &Path) -> io::Result<()> {
    if path.is_dir() {
        return Err(io::Error::other("it is a directory"));
    }
    let dir = private_dir(path)?;
    private_temp_file(&dir, path).map(drop)
}

/// Writes `text` to a new 0600 file in `dir`, named `prefix`, a few random characters and
/// `suffix`: never over another file. Returns its path.
pub(crate) fn write_private_new(
    dir: &Path,
    prefix: &str,
    suffix: &str,
    text: &str,
) -> io::Result<std::path::PathBuf> {
    let mut file = tempfile::Builder::new()
        .prefix(prefix)
        .suffix(suffix)
        .permissions(std::fs::Permissions::from_mode(0o600))
        .tempfile_in(dir)?;
    file.as_file()
        .set_permissions(std::fs::Permissions::from_mode(0o600))?;
    file.write_all(text.as_bytes())?;
    file.as_file().sync_all()?;
    let (_, path) = file.keep().map_err(|e| e.error)?;
    Ok(path)
}

/// The directory `path` goes in, created 0750 (with its parents) when missing.
fn private_dir(path: &Path) -> io::Result<std::path::PathBuf> {
    match path.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(dir) => {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(PRIVATE_DIR_MODE)
                .create(dir)?;
            Ok(dir.to_path_buf())
        }
        None => Ok(".".into()),
    }
}

/// A new empty file in `dir`, mode 0600 from its creation (the umask may only narrow that, and
/// the mode is then set exactly), named after `path`: `.NAME.RANDOM.cognitod-new`.
fn private_temp_file(dir: &Path, path: &Path) -> io::Result<tempfile::NamedTempFile> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let file = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".cognitod-new")
        .permissions(std::fs::Permissions::from_mode(0o600))
        .tempfile_in(dir)
        .map_err(without_temporary_path)?;
    file.as_file()
        .set_permissions(std::fs::Permissions::from_mode(0o600))?;
    Ok(file)
}

/// The cause alone of a tempfile error, which adds the name of a temporary file the person
/// never asked for to the one they did.
fn without_temporary_path(err: io::Error) -> io::Error {
    let code = err
        .get_ref()
        .and_then(|e| e.source())
        .and_then(|cause| cause.downcast_ref::<io::Error>())
        .and_then(io::Error::raw_os_error);
    code.map_or(err, io::Error::from_raw_os_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clients_secret_file_may_be_shared_with_its_group_but_not_with_everyone() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        std::fs::write(&path, "s3cret\n").unwrap();
        let read = |mode: u32, readers: Readers| {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            read_file(&path, readers)
        };
        assert_eq!(read(0o600, Readers::OwnerOnly).unwrap().expose(), "s3cret");
        assert!(matches!(
            read(0o640, Readers::OwnerOnly),
            Err(SecretFileError::Exposed(0o640))
        ));
        assert_eq!(
            read(0o640, Readers::OwnerAndGroup).unwrap().expose(),
            "s3cret"
        );
        let err = read(0o644, Readers::OwnerAndGroup).unwrap_err();
        assert!(matches!(err, SecretFileError::ExposedToAll(0o644)));
        assert!(err.to_string().contains("chmod o-rwx"), "{err}");
    }

    #[test]
    fn debug_never_shows_the_value() {
        let secret = Secret::new("hunter2".into());
        assert_eq!(format!("{secret:?}"), "Secret([redacted])");
    }

    #[test]
    fn matches_only_the_exact_bytes() {
        let secret = Secret::new("hunter2".into());
        assert!(secret.matches(b"hunter2"));
        assert!(!secret.matches(b"hunter3"));
        assert!(!secret.matches(b"hunter2 "));
        assert!(!secret.matches(b""));
    }

    #[test]
    fn a_shared_secret_matches_as_the_secret_does() {
        let shared = SharedSecret::new(&Secret::new("hunter2".into()));
        assert!(shared.matches(b"hunter2"));
        for wrong in [&b"hunter3"[..], b"Hunter2", b"hunter2 ", b"hunter", b""] {
            assert!(!shared.matches(wrong), "{wrong:?}");
        }
        assert_eq!(format!("{shared:?}"), "SharedSecret([redacted])");
    }

    #[test]
    fn a_secret_file_loses_one_newline_and_must_be_private_and_filled() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        let write = |text: &str, mode| {
            std::fs::write(&path, text).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        };
        write("s3cret\r\n", 0o600);
        assert_eq!(
            read_file(&path, Readers::OwnerOnly).unwrap().expose(),
            "s3cret"
        );
        write("s3cret\n\n", 0o600);
        assert_eq!(
            read_file(&path, Readers::OwnerOnly).unwrap().expose(),
            "s3cret\n"
        );
        write("\n", 0o600);
        assert!(matches!(
            read_file(&path, Readers::OwnerOnly),
            Err(SecretFileError::Empty)
        ));
        write("s3cret", 0o640);
        let err = read_file(&path, Readers::OwnerOnly).unwrap_err();
        assert!(matches!(err, SecretFileError::Exposed(0o640)), "{err}");
        write(&"x".repeat(MAX_FILE_SIZE as usize + 1), 0o600);
        assert!(matches!(
            read_file(&path, Readers::OwnerOnly),
            Err(SecretFileError::Unreadable(_))
        ));
    }

    #[test]
    fn a_pipe_is_read_whole_up_to_the_cap_and_refused_past_it() {
        let dir = tempfile::tempdir().unwrap();
        for (len, refused) in [
            (5000, false),
            (MAX_FILE_SIZE as usize, false),
            (1 << 21, true),
        ] {
            let fifo = dir.path().join(format!("fifo{len}"));
            nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
            let path = fifo.clone();
            // A pipe has no length: the buffer grows as it fills.
            let writer = std::thread::spawn(move || {
                let _ = std::fs::write(path, "x".repeat(len));
            });
            let read = read_capped(&fifo);
            if let Ok(file) = &read {
                assert_eq!(file.text.len(), len);
            }
            assert_eq!(read.is_err(), refused, "{len} bytes");
            writer.join().unwrap();
        }
    }

    #[test]
    fn generated_secrets_are_long_and_different() {
        let (a, b) = (generate_secret(), generate_secret());
        assert_eq!(a.expose().len(), 43);
        assert_ne!(a.expose(), b.expose());
    }

    #[test]
    fn private_files_are_0600_and_replace_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/config.json");
        write_private(&path, "one").unwrap();
        write_private(&path, "two").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "two");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(
            std::fs::read_dir(path.parent().unwrap()).unwrap().count(),
            1
        );
    }

    #[test]
    fn a_temporary_file_left_by_a_killed_run_does_not_stop_a_write() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        // The name the temporary file had before it was made unique, and the present kind.
        for stale in ["config.cognitod-new", ".config.json.AbC123.cognitod-new"] {
            std::fs::write(dir.path().join(stale), "left by a killed run").unwrap();
        }
        check_writable(&path).unwrap();
        write_private(&path, "new").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 3);
    }

    #[test]
    fn a_place_that_cannot_be_written_is_found_before_anything_is_written() {
        let dir = tempfile::tempdir().unwrap();
        check_writable(&dir.path().join("new/sub/config.json")).unwrap();
        let mode = std::fs::metadata(dir.path().join("new/sub"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o750);
        assert_eq!(
            std::fs::read_dir(dir.path().join("new/sub"))
                .unwrap()
                .count(),
            0
        );
        let err = check_writable(dir.path()).unwrap_err();
        assert!(err.to_string().contains("directory"), "{err}");
        let file = dir.path().join("file");
        std::fs::write(&file, "").unwrap();
        assert!(check_writable(&file.join("config.json")).is_err());
    }

    #[test]
    fn a_new_private_file_never_replaces_another() {
        let dir = tempfile::tempdir().unwrap();
        let one = write_private_new(dir.path(), "kept-", ".json", "one").unwrap();
        let two = write_private_new(dir.path(), "kept-", ".json", "two").unwrap();
        assert_ne!(one, two);
        assert_eq!(std::fs::read_to_string(&one).unwrap(), "one");
        let mode = std::fs::metadata(&two).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}
