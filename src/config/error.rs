//! The one error type of configuration loading, and where a value came from. Every message is one
//! line that says where the bad value came from, what is wrong and how to fix it: the reader is an
//! operator looking at the journal, who should not need the source code to act on it. Secret
//! values never appear in a message: the checks that see one say "the value" instead.

use std::borrow::Cow;
use std::fmt::{self, Display};
use std::io;
use std::path::{Path, PathBuf};

/// Why the configuration could not be loaded. Whatever the cause, the caller does one thing: fix
/// the configuration before starting again (retrying cannot help), so one type carries them all.
/// A cause (`io::Error`, a parser's message) is rendered into the message, not also returned by
/// `source()`, which `{err:#}` would print twice.
#[derive(Debug, thiserror::Error)]
#[error("{at}{problem}; {fix}")]
pub struct ConfigError {
    /// Where, followed by ": " (empty for keys set nowhere).
    at: String,
    problem: String,
    fix: String,
}

impl ConfigError {
    /// A bad value set at `at` (an `Origin`, a path or a short description of a source).
    pub(super) fn invalid(
        at: impl Display,
        problem: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        let (problem, fix) = (problem.into(), fix.into());
        ConfigError {
            at: format!("{at}: "),
            problem,
            fix,
        }
    }

    /// A file that could not be read.
    pub(super) fn unreadable(path: &Path, cause: io::Error, fix: impl Into<String>) -> Self {
        Self::invalid(path.display(), format!("cannot read it ({cause})"), fix)
    }

    /// A malformed JSON or INI file, or a key in it that does not exist.
    pub(super) fn syntax(
        path: &Path,
        (line, column): (usize, usize),
        problem: &str,
        fix: &str,
    ) -> Self {
        let at = format!("{}: line {line} column {column}", path.display());
        Self::invalid(at, one_line(problem), fix)
    }

    /// Required keys that no source set.
    pub(super) fn missing(problem: String, fix: String) -> Self {
        ConfigError {
            at: String::new(),
            problem,
            fix,
        }
    }
}

/// `text` with its control characters escaped (`\n`, `\u{1b}`), so that a name taken from a file
/// (which a parser may let run over a line break) keeps the message on one line and cannot drive
/// the operator's terminal.
pub(super) fn one_line(text: &str) -> Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return Cow::Borrowed(text);
    }
    let escape = |c: char| match c.is_control() {
        true => c.escape_default().to_string(),
        false => c.to_string(),
    };
    Cow::Owned(text.chars().map(escape).collect())
}

/// Where a setting came from, with the key's name as that source spells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Origin {
    /// A key of the JSON config file, as a dotted path (`cognito.region`).
    File { path: PathBuf, key: &'static str },
    /// A key of one section (header without brackets: `profile dev`) of the INI profile file.
    Profile {
        path: PathBuf,
        section: String,
        key: String,
    },
    /// A file in the systemd credentials directory.
    Credential { path: PathBuf },
    /// An environment variable.
    Env { name: &'static str },
    /// A command-line flag, short and long (`-P/--port`).
    Flag { name: &'static str },
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

/// A value, already checked on its own (format, range), and where it was set, for the errors
/// that only later checks find.
#[derive(Debug, Clone)]
pub(super) struct Setting<T> {
    pub value: T,
    pub origin: Origin,
}
