//! What the two configuration targets share: a private directory for the file under test, and the
//! checks every loading result must pass.

use std::path::PathBuf;
use std::sync::OnceLock;

use cognitod::cli::ServeArgs;
use cognitod::config::{self, Environment};

/// Put inside secret values by the seeds; it must never come out in a message, a warning or the
/// configuration's `Display`/`Debug`.
pub const CANARY: &str = "zQ7canary";

/// A directory of this process's own, kept for its lifetime.
fn directory() -> &'static tempfile::TempDir {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().expect("a temporary directory"))
}

/// Writes `contents` to `name` in the private directory, mode 0600 (so that a file holding a
/// secret is not refused for its mode), and returns its path.
pub fn private_file(name: &str, contents: &[u8]) -> PathBuf {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let path = directory().path().join(name);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)
        .expect("the private file opens");
    file.write_all(contents)
        .expect("the private file is written");
    path
}

/// Loads the configuration as `cognitod serve` would with these flags and an empty environment,
/// and checks the result: every error is one line, and when the canary was only ever inside
/// secret values (`canary_only_in_secrets`), nothing shown contains it.
pub fn load_and_check(args: &ServeArgs, canary_only_in_secrets: bool) {
    let env = Environment::from_pairs(std::iter::empty::<(String, String)>());
    let shown = match config::load(args, &env) {
        Ok(config) => {
            let mut shown = vec![format!("{config}"), format!("{config:?}")];
            shown.extend(config.warnings.iter().cloned());
            shown
        }
        Err(err) => {
            let message = err.to_string();
            assert!(
                !message.contains(['\n', '\r']),
                "a configuration error is more than one line: {message:?}"
            );
            vec![message, format!("{err:?}")]
        }
    };
    if crate::debug() {
        eprintln!("{} (canary check: {canary_only_in_secrets})", shown[0]);
    }
    if canary_only_in_secrets {
        for text in shown {
            assert!(!text.contains(CANARY), "a secret is shown: {text:?}");
        }
    }
}
