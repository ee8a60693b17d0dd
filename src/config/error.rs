//! The one error type of configuration loading. Every message is a single line that says where the
//! bad value came from (file and key, profile section, environment variable, flag or systemd
//! credential), what is wrong and how to fix it: the reader is an operator looking at the journal,
//! who should not need the source code to act on it.
//!
//! Secret values never appear in a message: the checks that see a password or a shared secret say
//! "the value" instead.

use std::borrow::Cow;
use std::fmt::{self, Display};
use std::io;
use std::path::PathBuf;

use thiserror::Error;

/// Why the configuration could not be loaded. Every variant means the same thing to the caller: the
/// configuration must be fixed before starting again (retrying cannot help), so the variants differ
/// only in what their message has to carry.
///
/// Causes (`io::Error`, parser messages) are kept in the variant and rendered into the one-line
/// message. They are deliberately not returned by `source()` as well: `{err:#}` would print them
/// twice.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// A file that the configuration names could not be read.
    #[error("{}: cannot read it ({cause}); {fix}", path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        cause: io::Error,
        /// What to do about it, including how the file came to be read.
        fix: String,
    },

    /// A JSON or INI file is malformed, or names a key that does not exist.
    #[error("{}: line {line} column {column}: {problem}; {fix}", path.display())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// Line of the problem, from 1.
        line: usize,
        /// Column of the problem, from 1.
        column: usize,
        /// The parser's description.
        problem: String,
        /// What to do about it.
        fix: String,
    },

    /// A file holds a secret but other users may read it.
    #[error(
        "{}: holds {holds} but its mode {mode:04o} lets group or others read it; \
         fix it with: chmod 600 {}",
        path.display(),
        path.display()
    )]
    Exposed {
        /// The file.
        path: PathBuf,
        /// Which kind of secret it holds ("a password", "the shared secret").
        holds: &'static str,
        /// Its permission bits.
        mode: u32,
    },

    /// A setting has a value that cannot be used, or contradicts another setting.
    #[error("{at}: {problem}; {fix}")]
    Invalid {
        /// Where the value was set: file and key, profile section and key, variable or flag.
        at: String,
        /// What is wrong with it.
        problem: String,
        /// What to do about it.
        fix: String,
    },

    /// Settings without a default were set nowhere.
    #[error("{problem}; {fix}")]
    Missing {
        /// Which settings are missing.
        problem: String,
        /// Where each of them can be set.
        fix: String,
    },
}

impl ConfigError {
    /// A bad value set at `at` (an `Origin`, a path or a short description of a source).
    pub(super) fn invalid(
        at: impl Display,
        problem: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        ConfigError::Invalid {
            at: at.to_string(),
            problem: problem.into(),
            fix: fix.into(),
        }
    }

    /// A file that could not be read.
    pub(super) fn unreadable(
        path: impl Into<PathBuf>,
        cause: io::Error,
        fix: impl Into<String>,
    ) -> Self {
        ConfigError::Unreadable {
            path: path.into(),
            cause,
            fix: fix.into(),
        }
    }
}

/// `text` with its control characters escaped (`\n`, `\u{1b}`), so that a name taken from a file
/// (a JSON key, an INI section or key, which a parser may let run over a line break) keeps the
/// message on one line and cannot drive the operator's terminal.
pub(super) fn one_line(text: &str) -> Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.chars()
            .map(|c| {
                if c.is_control() {
                    c.escape_default().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect(),
    )
}

/// Where a setting came from, with the key's name as that source spells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Origin {
    /// A key of the JSON config file, as a dotted path (`cognito.region`).
    File {
        /// The config file.
        path: PathBuf,
        /// The dotted key.
        key: &'static str,
    },
    /// A key of one section of the INI profile file.
    Profile {
        /// The profile file.
        path: PathBuf,
        /// The section header as written, without brackets (`profile dev`).
        section: String,
        /// The key.
        key: String,
    },
    /// A file in the systemd credentials directory.
    Credential {
        /// The credential file.
        path: PathBuf,
    },
    /// An environment variable.
    Env {
        /// Its name.
        name: &'static str,
    },
    /// A command-line flag.
    Flag {
        /// Its spelling, short and long (`-P/--port`).
        name: &'static str,
    },
}

impl Origin {
    /// Precedence of the source, higher wins. Only needed where two different keys compete for one
    /// value (`server.port` against `server.tcp_port`); elsewhere stacking order decides.
    pub(super) fn rank(&self) -> u8 {
        match self {
            Origin::File { .. } => 1,
            Origin::Profile { .. } => 2,
            Origin::Credential { .. } => 3,
            Origin::Env { .. } => 4,
            Origin::Flag { .. } => 5,
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File { path, key } => write!(f, "{}: {key}", path.display()),
            Origin::Profile { path, section, key } => {
                let (section, key) = (one_line(section), one_line(key));
                write!(f, "{}: [{section}] {key}", path.display())
            }
            Origin::Credential { path } => write!(f, "systemd credential {}", path.display()),
            Origin::Env { name } => write!(f, "environment variable {name}"),
            Origin::Flag { name } => write!(f, "flag {name}"),
        }
    }
}

/// A value and where it was set.
#[derive(Debug, Clone)]
pub(super) struct Setting<T> {
    /// The value, already checked on its own (format, range).
    pub value: T,
    /// Where it was set, for errors that only later checks find.
    pub origin: Origin,
}
