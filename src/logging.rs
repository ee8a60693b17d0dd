//! Logging through `tracing`: to the journal, with structured fields, when stderr is connected to
//! it (systemd sets JOURNAL_STREAM to stderr's device and inode); human-readable lines on stderr
//! otherwise.
//!
//! The AWS SDK and HTTP crates are capped at `warn` whatever RUST_LOG says: their debug and trace
//! output can include request bodies, and request bodies carry passwords and tokens.

use tracing_subscriber::filter::{FilterExt, LevelFilter, Targets};
use tracing_subscriber::layer::Filter;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::{EnvFilter, Layer};

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

/// The filter: `directives` (RUST_LOG's value; `info` when unset or invalid), and after them the
/// cap that holds the capped crates at `warn`.
///
/// The cap is a filter of its own that every event must also pass, not one more directive: among
/// directives the most specific wins, so `aws_smithy_runtime::client::orchestrator=trace` (or a
/// span directive such as `[try_attempt]=trace`) beat `aws_smithy_runtime=warn` and printed the
/// identity pool's answer, session token included.
pub(crate) fn filter<S>(directives: Option<&str>) -> impl Filter<S>
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    let wanted = directives
        .and_then(|d| EnvFilter::try_new(d).ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    let cap = Targets::new()
        .with_default(LevelFilter::TRACE)
        .with_targets(CAPPED.iter().map(|target| (*target, LevelFilter::WARN)));
    wanted.and(cap)
}

/// Whether `journal_stream` (JOURNAL_STREAM's value, `DEVICE:INODE`) names the file stderr is,
/// as systemd.exec(5) says to check: a service's stderr passed on to a child is not the journal's.
pub(crate) fn stderr_is_journal(journal_stream: Option<&str>) -> bool {
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

/// The journal's SYSLOG_IDENTIFIER: the service's unit name without `.service`, read from the
/// process's cgroup (`/proc/self/cgroup`), where systemd puts every service. `cognitod` for the
/// plain service, `cognitod@alice` for an instance of the template units, so the instances'
/// lines tell apart in a merged journal (`journalctl -u 'cognitod@*'`); `cognitod` elsewhere.
pub(crate) fn syslog_identifier(cgroup: Option<&str>) -> String {
    cgroup
        .and_then(|text| {
            text.lines()
                .find_map(|line| line.rsplit('/').next()?.strip_suffix(".service"))
        })
        .filter(|name| {
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "@-_.".contains(c))
        })
        .unwrap_or("cognitod")
        .to_owned()
}

/// Where log lines went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Destination {
    /// The systemd journal, with structured fields.
    Journal,
    /// Human-readable lines on stderr.
    Stderr,
}

/// Installs the subscriber: the journal when stderr is connected to it, stderr otherwise.
pub(crate) fn init() -> Destination {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let directives = std::env::var("RUST_LOG").ok();
    let journal_stream = std::env::var("JOURNAL_STREAM").ok();
    if stderr_is_journal(journal_stream.as_deref()) {
        if let Ok(journal) = tracing_journald::layer() {
            tracing_subscriber::registry()
                .with(
                    journal
                        .with_syslog_identifier(syslog_identifier(
                            std::fs::read_to_string("/proc/self/cgroup").ok().as_deref(),
                        ))
                        // Plain field names (EVENT, OUTCOME, LISTENER, PEER) for journalctl queries.
                        .with_field_prefix(None)
                        .with_filter(filter(directives.as_deref())),
                )
                .init();
            return Destination::Journal;
        }
    }
    use std::io::IsTerminal;
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(std::io::stderr().is_terminal())
                .with_target(false)
                .with_filter(filter(directives.as_deref())),
        )
        .init();
    Destination::Stderr
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_identifier_is_the_service_unit() {
        let instance = "0::/system.slice/system-cognitod.slice/cognitod@alice.service\n";
        assert_eq!(syslog_identifier(Some(instance)), "cognitod@alice");
        let plain = "0::/system.slice/cognitod.service\n";
        assert_eq!(syslog_identifier(Some(plain)), "cognitod");
        for elsewhere in [
            None,
            Some(""),
            Some("0::/user.slice/user-0.slice/session-1.scope\n"),
            Some("0::/system.slice/x\\x2dy.service\n"),
        ] {
            assert_eq!(syslog_identifier(elsewhere), "cognitod", "{elsewhere:?}");
        }
    }
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

    /// Issue 15, point 3: whatever RUST_LOG says, nothing of the capped crates below `warn` is
    /// written: not with a directive more specific than the cap, not with span directives, not
    /// with a global `trace`. The daemon's own lines still follow the directives.
    #[test]
    fn no_directive_lets_a_capped_crate_log_below_warn() {
        use std::sync::{Arc, Mutex};
        use tracing_subscriber::layer::SubscriberExt;
        for directives in [
            "trace",
            "aws_smithy_runtime::client::orchestrator=trace",
            "aws_smithy_runtime::client=debug,aws_sdk_cognitoidentity::operation=trace",
            "[try_attempt]=trace",
            "[try_attempt{attempt=1}]=trace,cognitod=trace",
            "aws_smithy_runtime_api::client=trace,aws_smithy_http_client::hyper=trace",
            "hyper::proto::h1=trace,hyper_util::client=trace,rustls::client=trace,h2::codec=trace",
            "aws_config::imds=trace,aws_runtime::env_config=trace,aws_smithy_types::body=trace",
        ] {
            let written = Arc::new(Mutex::new(Vec::<u8>::new()));
            let sink = written.clone();
            let layer = tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(move || Writer(sink.clone()))
                .with_filter(filter(Some(directives)));
            let subscriber = tracing_subscriber::registry().with(layer);
            tracing::subscriber::with_default(subscriber, || {
                let span = tracing::span!(
                    target: "aws_smithy_runtime::client::orchestrator",
                    tracing::Level::DEBUG,
                    "try_attempt",
                    attempt = 1
                );
                let _inside = span.enter();
                tracing::trace!(target: "aws_smithy_runtime::client::orchestrator", "LEAK orchestrator");
                tracing::debug!(target: "aws_sdk_cognitoidentity::operation::get_credentials_for_identity", "LEAK operation");
                tracing::trace!(target: "aws_smithy_runtime_api::client::interceptors", "LEAK api");
                tracing::trace!(target: "aws_smithy_http_client::hyper_impl", "LEAK client");
                tracing::trace!(target: "hyper::proto::h1::io", "LEAK hyper");
                tracing::trace!(target: "hyper_util::client::legacy", "LEAK hyper_util");
                tracing::trace!(target: "rustls::client::hs", "LEAK rustls");
                tracing::trace!(target: "h2::codec::framed_read", "LEAK h2");
                tracing::info!(target: "aws_config::imds::client", "LEAK config");
                tracing::debug!(target: "aws_runtime::env_config", "LEAK runtime");
                tracing::trace!(target: "aws_smithy_types::body", "LEAK types");
                tracing::warn!(target: "aws_smithy_runtime::client::orchestrator", "warning kept");
                tracing::trace!(target: "cognitod::serve", "own trace line");
            });
            let written = String::from_utf8(written.lock().unwrap().clone()).unwrap();
            assert!(!written.contains("LEAK"), "{directives}: {written}");
            // Warnings of those crates still pass where the directives ask for them.
            if directives == "trace" || directives.starts_with("aws_smithy_runtime::client") {
                assert!(written.contains("warning kept"), "{directives}: {written}");
            }
            let own_trace = directives == "trace" || directives.contains("cognitod=trace");
            assert_eq!(
                written.contains("own trace line"),
                own_trace,
                "{directives}: {written}"
            );
        }
    }

    /// A `MakeWriter` into a shared buffer.
    struct Writer(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Writer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
}
