//! Logging through `tracing`: to the journal, with structured fields, when stderr is connected to
//! it (systemd sets JOURNAL_STREAM to stderr's device and inode); human-readable lines on stderr
//! otherwise.
//!
//! The AWS SDK and HTTP crates are capped at `warn` whatever RUST_LOG says: their debug and trace
//! output can include request bodies, and request bodies carry passwords and tokens.

use tracing_subscriber::EnvFilter;

/// Crates whose verbose output may contain request or response bodies.
const CAPPED: &[&str] = &[
    "aws_config",
    "aws_runtime",
    "aws_sdk_cognitoidentity",
    "aws_sdk_cognitoidentityprovider",
    "aws_sdk_sts",
    "aws_smithy_runtime",
    "aws_smithy_runtime_api",
    "aws_smithy_http_client",
    "aws_smithy_types",
    "hyper",
    "hyper_util",
    "rustls",
    "h2",
];

/// The filter: RUST_LOG (default `info`), with the capped crates held at `warn`.
pub fn filter() -> EnvFilter {
    let mut filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    for target in CAPPED {
        let directive = format!("{target}=warn")
            .parse()
            .expect("a static directive parses");
        filter = filter.add_directive(directive);
    }
    filter
}

/// Whether `journal_stream` (JOURNAL_STREAM's value, `DEVICE:INODE`) names the file stderr is,
/// as systemd.exec(5) says to check: a service's stderr passed on to a child is not the journal's.
pub fn stderr_is_journal(journal_stream: Option<&str>) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Some((dev, ino)) = journal_stream.and_then(|v| v.split_once(':')) else {
        return false;
    };
    let (Ok(dev), Ok(ino)) = (dev.parse::<u64>(), ino.parse::<u64>()) else {
        return false;
    };
    let Ok(stderr) = std::fs::metadata("/proc/self/fd/2") else {
        return false;
    };
    stderr.dev() == dev && stderr.ino() == ino
}

/// Where log lines went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    /// The systemd journal, with structured fields.
    Journal,
    /// Human-readable lines on stderr.
    Stderr,
}

/// Installs the subscriber: the journal when stderr is connected to it, stderr otherwise.
pub fn init() -> Destination {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let journal_stream = std::env::var("JOURNAL_STREAM").ok();
    if stderr_is_journal(journal_stream.as_deref()) {
        if let Ok(journal) = tracing_journald::layer() {
            tracing_subscriber::registry()
                .with(filter())
                .with(
                    journal
                        .with_syslog_identifier("cognitod".into())
                        // Plain field names (EVENT, OUTCOME, LISTENER, PEER) for journalctl queries.
                        .with_field_prefix(None),
                )
                .init();
            return Destination::Journal;
        }
    }
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_env_filter(filter())
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
    Destination::Stderr
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn journal_only_when_the_stream_matches_stderr() {
        let stderr = std::fs::metadata("/proc/self/fd/2").unwrap();
        let matching = format!("{}:{}", stderr.dev(), stderr.ino());
        assert!(stderr_is_journal(Some(&matching)));
        let other = format!("{}:{}", stderr.dev(), stderr.ino() + 1);
        assert!(!stderr_is_journal(Some(&other)));
        assert!(!stderr_is_journal(Some("garbage")));
        assert!(!stderr_is_journal(None));
    }
}
