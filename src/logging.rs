//! Logging through `tracing`: human-readable lines on stderr.
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

/// Installs the stderr subscriber.
pub fn init() {
    tracing_subscriber::fmt()
        .with_env_filter(filter())
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}
