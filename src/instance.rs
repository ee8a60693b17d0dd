//! Template instances (`cognitod@NAME`): one host serving several Cognito users side by side,
//! each as its own service with its own configuration, socket, dynamic user and journal.
//!
//! An instance name becomes a unit instance (`cognitod@NAME.service`), a file name
//! (`/etc/cognitod/NAME.json`, `/run/cognitod/NAME.sock`), a directory name (its state
//! directory) and part of a user name (`cognitod-NAME`, the service's dynamic user). The names
//! accepted are the ones that are valid, and mean the same thing, in all of those places:
//! letters, digits, `-` and `_`, so `systemd-escape` leaves them as they are apart from `-`,
//! which the units only ever use through `%i` (the instance as written), never `%I`; and not
//! the names whose files would be the plain service's (`config`, `auth-secret`).

use std::fmt;
use std::path::PathBuf;

/// Where an instance's configuration lives: `/etc/cognitod/NAME.json`.
pub(crate) const CONFIG_DIR: &str = "/etc/cognitod";
/// Where an instance's unix socket lives: `/run/cognitod/NAME.sock`.
pub(crate) const SOCKET_DIR: &str = "/run/cognitod";
/// Longest instance name: the dynamic user is `cognitod-NAME`, and systemd refuses user names
/// longer than 31 characters (`cognitod-` takes 9).
pub(crate) const MAX_LEN: usize = 31 - "cognitod-".len();
/// Names whose files would be the plain service's, each with the file it would share.
pub(crate) const RESERVED: &[(&str, &str)] = &[
    // configure --instance config would replace the plain configuration, and cognitod@config
    // would serve the plain service's user.
    (
        "config",
        "its configuration would be /etc/cognitod/config.json, the plain cognitod.service's",
    ),
    // Not the same file, but written through the same temporary file (secret::write_private
    // writes PATH through PATH.with_extension("cognitod-new")).
    (
        "auth-secret",
        "its configuration /etc/cognitod/auth-secret.json would be written through \
         auth-secret.cognitod-new, the temporary file of the plain cognitod.service's shared \
         secret /etc/cognitod/auth-secret",
    ),
];

/// A checked instance name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance(String);

/// Why a name cannot be an instance name; each says what to type instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstanceNameError {
    /// Nothing was given.
    Empty,
    /// A path separator or `..`: the name would leave /etc/cognitod and /run/cognitod.
    Path(String),
    /// Too long for the dynamic user's name.
    TooLong {
        /// The name.
        name: String,
        /// Its length, in characters.
        len: usize,
    },
    /// A name whose files are the plain service's (`RESERVED`).
    Reserved(String),
    /// A character a unit instance, a file name or a user name would not take as it is.
    Character {
        /// The name.
        name: String,
        /// The first character refused.
        bad: char,
    },
}

// By hand rather than with thiserror: build.rs compiles this file too (for the man pages), and
// its dependencies are clap's only.
impl fmt::Display for InstanceNameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InstanceNameError::Empty => {
                f.write_str("an instance name cannot be empty; give one such as alice")
            }
            InstanceNameError::Path(name) => write!(
                f,
                "{name:?} is a path, not an instance name: it may not contain '/' or '..' (it \
                 names {CONFIG_DIR}/NAME.json and {SOCKET_DIR}/NAME.sock)"
            ),
            InstanceNameError::TooLong { name, len } => write!(
                f,
                "{name:?} is {len} characters long; an instance name has at most {MAX_LEN} (the \
                 service runs as the user cognitod-NAME, and user names have at most 31)"
            ),
            InstanceNameError::Reserved(name) => write!(
                f,
                "{name:?} is reserved: {}; for the plain service leave out --instance, for an \
                 instance choose another name (such as {name}2 or the user's name)",
                RESERVED
                    .iter()
                    .find(|(reserved, _)| reserved == name)
                    .map_or("its files would be the plain service's", |(_, why)| why)
            ),
            InstanceNameError::Character { name, bad } => write!(
                f,
                "{name:?} contains {bad:?}; an instance name takes letters, digits, '-' and '_' \
                 only, and does not start with '-' (it becomes the unit cognitod@NAME, the files \
                 NAME.json and NAME.sock and the user cognitod-NAME)"
            ),
        }
    }
}

impl std::error::Error for InstanceNameError {}

impl Instance {
    /// Checks `name`; the error says what is wrong and what is accepted.
    pub fn new(name: &str) -> Result<Instance, InstanceNameError> {
        if name.is_empty() {
            return Err(InstanceNameError::Empty);
        }
        if name.contains('/') || name.contains("..") {
            return Err(InstanceNameError::Path(name.to_owned()));
        }
        let len = name.chars().count();
        if len > MAX_LEN {
            return Err(InstanceNameError::TooLong {
                name: name.to_owned(),
                len,
            });
        }
        let bad = name
            .chars()
            .enumerate()
            .find(|&(i, c)| !(c.is_ascii_alphanumeric() || c == '_' || (c == '-' && i > 0)));
        if let Some((_, bad)) = bad {
            return Err(InstanceNameError::Character {
                name: name.to_owned(),
                bad,
            });
        }
        if RESERVED.iter().any(|(reserved, _)| *reserved == name) {
            return Err(InstanceNameError::Reserved(name.to_owned()));
        }
        Ok(Instance(name.to_owned()))
    }

    /// For clap's `value_parser`: the error is printed after "invalid value for --instance".
    pub fn parse(name: &str) -> Result<Instance, String> {
        Instance::new(name).map_err(|e| e.to_string())
    }

    /// The name, as given.
    pub fn name(&self) -> &str {
        &self.0
    }

    /// `/etc/cognitod/NAME.json`: what `configure --instance` writes and the template service
    /// loads (`LoadCredential=config:/etc/cognitod/%i.json`).
    pub(crate) fn config_path(&self) -> PathBuf {
        PathBuf::from(format!("{CONFIG_DIR}/{}.json", self.0))
    }

    /// `/etc/cognitod/NAME.auth-secret`: the instance's shared secret for tcp and http, when it
    /// has one (each instance its own, so one instance's clients cannot ask another).
    pub fn secret_path(&self) -> PathBuf {
        PathBuf::from(format!("{CONFIG_DIR}/{}.auth-secret", self.0))
    }

    /// `/run/cognitod/NAME.sock`: where `cognitod@NAME.socket` listens and `get --instance`
    /// connects.
    pub fn socket_path(&self) -> PathBuf {
        PathBuf::from(format!("{SOCKET_DIR}/{}.sock", self.0))
    }
}

impl fmt::Display for Instance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names_are_accepted_and_name_their_files() {
        for name in ["alice", "bob", "Team_1", "a", "eu-west-1", "_x", "9lives"] {
            assert_eq!(Instance::new(name).unwrap().name(), name);
        }
        let alice = Instance::new("alice").unwrap();
        assert_eq!(
            alice.config_path(),
            PathBuf::from("/etc/cognitod/alice.json")
        );
        assert_eq!(
            alice.socket_path(),
            PathBuf::from("/run/cognitod/alice.sock")
        );
        assert_eq!(
            alice.secret_path(),
            PathBuf::from("/etc/cognitod/alice.auth-secret")
        );
        let longest = "a".repeat(MAX_LEN);
        assert!(Instance::new(&longest).is_ok());
        assert_eq!(format!("cognitod-{longest}").len(), 31);
    }

    #[test]
    fn paths_empty_long_and_escaped_names_are_refused_with_what_to_type() {
        assert_eq!(Instance::new(""), Err(InstanceNameError::Empty));
        for path in ["../etc", "..", "a/b", "/alice", "a..b", "alice/"] {
            let err = Instance::new(path).unwrap_err();
            assert_eq!(err, InstanceNameError::Path(path.into()), "{path}");
            assert!(err.to_string().contains("'/' or '..'"), "{err}");
        }
        let long = "a".repeat(MAX_LEN + 1);
        let err = Instance::new(&long).unwrap_err();
        assert!(
            matches!(err, InstanceNameError::TooLong { len, .. } if len == MAX_LEN + 1),
            "{err}"
        );
        assert!(err.to_string().contains("at most 22"), "{err}");
        // systemd-escape's output (\x2d, \x20), a unit suffix, specifiers, spaces, a leading dash.
        for (name, bad) in [
            ("a\\x2db", '\\'),
            ("alice.socket", '.'),
            ("a%i", '%'),
            ("al ice", ' '),
            ("-alice", '-'),
            ("alice@bob", '@'),
            ("zoë", 'ë'),
            ("a\nb", '\n'),
        ] {
            let err = Instance::new(name).unwrap_err();
            assert_eq!(
                err,
                InstanceNameError::Character {
                    name: name.into(),
                    bad
                },
                "{name:?}"
            );
            assert!(err.to_string().contains("letters, digits"), "{err}");
        }
    }

    #[test]
    fn names_whose_files_are_the_plain_services_are_refused_with_why() {
        let plain_files = [
            PathBuf::from("/etc/cognitod/config.json"),
            PathBuf::from("/etc/cognitod/auth-secret"),
        ];
        for (name, _) in RESERVED {
            let err = Instance::new(name).unwrap_err();
            assert_eq!(err, InstanceNameError::Reserved((*name).into()));
            let said = err.to_string();
            assert!(
                said.contains("reserved")
                    && said.contains("plain cognitod.service's")
                    && said.contains("leave out --instance")
                    && said.contains(&format!("{name}2")),
                "{said}"
            );
        }
        assert!(Instance::new("config")
            .unwrap_err()
            .to_string()
            .contains("/etc/cognitod/config.json, the plain"));
        assert!(Instance::parse("auth-secret")
            .unwrap_err()
            .contains("auth-secret.cognitod-new"));
        // Every accepted name's files are its own, apart from the plain service's.
        for name in ["configs", "Config", "config_2", "auth", "secret", "alice"] {
            let instance = Instance::new(name).unwrap();
            for path in [instance.config_path(), instance.secret_path()] {
                assert!(!plain_files.contains(&path), "{}", path.display());
            }
        }
    }

    #[test]
    fn clap_gets_the_message() {
        assert_eq!(Instance::parse("bob").unwrap().name(), "bob");
        assert!(Instance::parse("a/b").unwrap_err().contains("a path"));
    }
}
