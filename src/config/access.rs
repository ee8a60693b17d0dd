//! Reading the files the configuration names, with the checks that keep the configuration the
//! administrator's (no one else may change it) and the secrets in it private (no one else may read
//! them).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::error::{ConfigError, Origin};
use crate::secret::{from_file_text, read_capped, FileText, Secret, GROUP_OR_OTHER_READ};

/// Permission bits that let group or others write a file.
const GROUP_OR_OTHER_WRITE: u32 = 0o022;

/// Reads configuration files. Files in the systemd credentials directory are exempt from the mode
/// checks: systemd makes that directory private to the service, and may grant the service user
/// access through an ACL, which shows up as group bits in the mode.
#[derive(Debug, Default)]
pub(super) struct FileAccess {
    /// `$CREDENTIALS_DIRECTORY`, canonical (so `..` and symlinks cannot smuggle another file in).
    private_dir: Option<PathBuf>,
}

impl FileAccess {
    pub(super) fn new(credentials_dir: Option<&Path>) -> Self {
        let private_dir = credentials_dir.and_then(|dir| fs::canonicalize(dir).ok());
        FileAccess { private_dir }
    }

    /// Whether systemd passed the credential `name` (which then overrides the same key in files).
    pub(super) fn has_credential(&self, name: &str) -> bool {
        let dir = self.private_dir.as_ref();
        dir.is_some_and(|dir| dir.join(name).exists())
    }

    /// Reads a whole UTF-8 file; `None` when it does not exist. `fix` names how the file came to be
    /// read. A file that someone but its owner may write, or that belongs to another user than
    /// root when the daemon runs as root, is refused: that user could rewrite the configuration
    /// (drop the shared secret and the allow-lists) without reading it, and the next start or
    /// reload would apply it.
    pub(super) fn read(&self, path: &Path, fix: &str) -> Result<Option<FileText>, ConfigError> {
        let contents = match read_capped(path) {
            Ok(contents) => contents,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
            // Under systemd the service runs as its own (often dynamic) user, which cannot read
            // root's 0600 files: what it needs arrives as a credential instead.
            Err(err)
                if err.kind() == io::ErrorKind::PermissionDenied && self.private_dir.is_some() =>
            {
                let fix = format!(
                    "{fix}; the service's user may not read it: pass it as a systemd credential \
                     (for global.auth_secret_file, a drop-in with LoadCredential=auth_secret:{}, \
                     which cognitod install writes), or make it readable by the service's user",
                    path.display()
                );
                return Err(ConfigError::unreadable(path, err, fix));
            }
            Err(err) => return Err(ConfigError::unreadable(path, err, fix)),
        };
        let (mode, uid) = (contents.mode, contents.uid);
        let (problem, command) = if mode & GROUP_OR_OTHER_WRITE != 0 {
            let problem = format!("its mode {mode:04o} lets group or others write to it, so");
            (
                problem + " another user could rewrite what the daemon reads",
                "chmod go-w",
            )
        } else if nix::unistd::geteuid().is_root() && uid != 0 {
            let problem = format!("it belongs to uid {uid}, and the daemon runs as root: that");
            (
                problem + " user could rewrite what root reads",
                "chown root:",
            )
        } else {
            return Ok(Some(contents));
        };
        match self.is_private(path) {
            true => Ok(Some(contents)),
            false => Err(fix_with(path, problem, command)),
        }
    }

    /// Refuses `contents` of `path` when they hold a secret (`holds`) that group or others may read.
    pub(super) fn refuse_if_exposed(
        &self,
        path: &Path,
        contents: &FileText,
        holds: &str,
    ) -> Result<(), ConfigError> {
        if contents.mode & GROUP_OR_OTHER_READ == 0 || self.is_private(path) {
            return Ok(());
        }
        let mode = contents.mode;
        let problem = format!("holds {holds} but its mode {mode:04o} lets group or others read it");
        Err(fix_with(path, problem, "chmod 600"))
    }

    /// Reads the secret `holds` from a file named by `named_by`: `None` when the file does not
    /// exist. One trailing newline (`echo secret > file`) is not part of the secret; an empty
    /// secret is an error, never "no secret".
    pub(super) fn read_secret(
        &self,
        path: &Path,
        named_by: &Origin,
        holds: &str,
    ) -> Result<Option<Secret>, ConfigError> {
        let Some(mut contents) = self.read(path, &format!("check the file named by {named_by}"))?
        else {
            return Ok(None);
        };
        self.refuse_if_exposed(path, &contents, holds)?;
        let secret = from_file_text(std::mem::take(&mut contents.text)).ok_or_else(|| {
            ConfigError::invalid(
                format!("{} (named by {named_by})", path.display()),
                "the file is empty, and an empty secret is refused",
                "write the secret into the file, or remove the setting",
            )
        })?;
        Ok(Some(secret))
    }

    /// Like [`FileAccess::read_secret`], for a file that was named explicitly and so must exist.
    pub(super) fn require_secret(
        &self,
        path: &Path,
        named_by: &Origin,
        holds: &str,
    ) -> Result<Secret, ConfigError> {
        self.read_secret(path, named_by, holds)?.ok_or_else(|| {
            let fix = format!("create it or correct {named_by}");
            ConfigError::unreadable(path, io::ErrorKind::NotFound.into(), fix)
        })
    }

    /// Whether `path` lies in the systemd credentials directory.
    fn is_private(&self, path: &Path) -> bool {
        match (&self.private_dir, fs::canonicalize(path)) {
            (Some(dir), Ok(path)) => path.starts_with(dir),
            _ => false,
        }
    }
}

/// The error for a file whose mode or owner `command` fixes.
fn fix_with(path: &Path, problem: String, command: &str) -> ConfigError {
    let shown = path.display();
    ConfigError::invalid(&shown, problem, format!("fix it with: {command} {shown}"))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;
    use crate::secret::MAX_FILE_SIZE;

    fn write(dir: &Path, name: &str, text: &str, mode: u32) -> PathBuf {
        let path = dir.join(name);
        fs::write(&path, text).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    fn flag() -> Origin {
        Origin::Flag {
            name: "--auth-secret-file",
        }
    }

    #[test]
    fn secret_file_loses_one_trailing_newline() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "s", "s3cret\r\n", 0o600);
        let secret = FileAccess::default()
            .require_secret(&path, &flag(), "the shared secret")
            .unwrap();
        assert_eq!(secret.expose(), "s3cret");
        let path = write(dir.path(), "t", "two\n\n", 0o600);
        let secret = FileAccess::default()
            .require_secret(&path, &flag(), "the shared secret")
            .unwrap();
        assert_eq!(secret.expose(), "two\n");
    }

    #[test]
    fn a_file_over_the_size_cap_is_refused_but_one_at_it_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let at_cap = "x".repeat(MAX_FILE_SIZE as usize);
        let path = write(dir.path(), "at", &at_cap, 0o600);
        let read = FileAccess::default().read(&path, "fix").unwrap().unwrap();
        assert_eq!(read.text.len() as u64, MAX_FILE_SIZE);
        let path = write(dir.path(), "over", &format!("{at_cap}x"), 0o600);
        // Not a regular file with an end (/dev/zero): read up to the cap, then refused too.
        for path in [path.as_path(), Path::new("/dev/zero")] {
            let Err(err) = FileAccess::default().read(path, "fix") else {
                panic!("{} was read", path.display());
            };
            assert!(err.to_string().contains("larger than 1 MiB"), "{err}");
        }
    }

    #[test]
    fn empty_secret_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "s", "\n", 0o600);
        let err = FileAccess::default()
            .require_secret(&path, &flag(), "the shared secret")
            .unwrap_err();
        let err = err.to_string();
        assert!(err.contains(&path.display().to_string()), "{err}");
        assert!(
            err.contains("--auth-secret-file") && err.contains("empty"),
            "{err}"
        );
    }

    #[test]
    fn group_readable_secret_file_is_refused_with_the_chmod_fix() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "s", "hunter2\n", 0o640);
        let err = FileAccess::default()
            .require_secret(&path, &flag(), "the shared secret")
            .unwrap_err();
        let err = err.to_string();
        assert!(
            err.contains(&format!("chmod 600 {}", path.display())),
            "{err}"
        );
        assert!(err.contains("0640"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn credentials_directory_is_exempt_from_the_mode_check() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "password", "hunter2", 0o440);
        let access = FileAccess::new(Some(dir.path()));
        let secret = access.require_secret(
            &path,
            &Origin::Credential { path: path.clone() },
            "a password",
        );
        assert_eq!(secret.unwrap().expose(), "hunter2");
    }

    #[test]
    fn missing_file_is_named() {
        let err = FileAccess::default()
            .require_secret(
                Path::new("/nonexistent/secret"),
                &flag(),
                "the shared secret",
            )
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("/nonexistent/secret: cannot read it"),
            "{err}"
        );
        assert!(err.contains("--auth-secret-file"), "{err}");
    }

    /// Issue 15, point 4: a file others may write is refused whatever it holds (0602, 0620,
    /// 0622 and the like), with the chmod that fixes it; one only others may read but not write
    /// is read.
    #[test]
    fn a_file_group_or_others_can_write_is_refused_with_the_chmod_fix() {
        let dir = tempfile::tempdir().unwrap();
        for mode in [0o602, 0o620, 0o622, 0o660, 0o666, 0o646] {
            let path = write(dir.path(), &format!("f{mode:o}"), "{}", mode);
            let Err(err) = FileAccess::default().read(&path, "fix") else {
                panic!("{mode:04o} was read");
            };
            let err = err.to_string();
            assert!(err.contains(&format!("its mode {mode:04o}")), "{err}");
            assert!(
                err.contains(&format!("chmod go-w {}", path.display())),
                "{err}"
            );
            let Err(err) =
                FileAccess::default().require_secret(&path, &flag(), "the shared secret")
            else {
                panic!("{mode:04o} was read as a secret");
            };
            assert!(err.to_string().contains("write to it"), "{err}");
        }
        let path = write(dir.path(), "readable", "{}", 0o644);
        assert!(FileAccess::default().read(&path, "fix").unwrap().is_some());
        // systemd's credential copies are the service's own.
        let path = write(dir.path(), "credential", "hunter2", 0o660);
        let access = FileAccess::new(Some(dir.path()));
        assert!(access.read(&path, "fix").unwrap().is_some());
    }

    /// When the daemon runs as root, a file of another user is refused, with the chown that
    /// fixes it.
    #[test]
    fn as_root_a_file_of_another_user_is_refused_with_the_chown_fix() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: needs root");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "config.json", "{}", 0o600);
        nix::unistd::chown(&path, Some(65534.into()), None).unwrap();
        let Err(err) = FileAccess::default().read(&path, "fix") else {
            panic!("a file of uid 65534 was read by root");
        };
        let err = err.to_string();
        assert!(err.contains("belongs to uid 65534"), "{err}");
        assert!(
            err.contains(&format!("chown root: {}", path.display())),
            "{err}"
        );
    }
}
