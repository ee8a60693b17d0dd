//! What the fuzz targets share: a tokio runtime on paused time, a credential store fed by a fake
//! upstream whose credentials are easy to spot in any output, and the shared secret the listeners
//! are configured with.
//!
//! Every target drives the daemon's own code through its public API; nothing here re-implements a
//! parser. The few independent re-statements of a rule (what line the raw protocol reads, which
//! header lines carry the secret) exist only to check the daemon's answer against them.

use std::sync::Arc;
use std::time::Duration;

use cognitod::cognito::identity::AwsCredentials;
use cognitod::cognito::UpstreamError;
use cognitod::credentials::{self, Material, RefreshPolicy, Upstream};
use cognitod::expiry::Expiry;
use cognitod::secret::{Secret, SharedSecret};
use cognitod::serve::guard::HttpPolicy;
use cognitod::serve::imds::Imds;
use cognitod::serve::Context;

/// The shared secret of every target that configures one.
pub const SHARED_SECRET: &str = "fuzz-shared-secret-7Qx";
/// The secret access key the fake upstream hands out: its presence in an answer means
/// credentials were served.
pub const CREDENTIAL_MARKER: &str = "FUZZSECRETACCESSKEYzV3rM";
/// What only a credential document holds: the marked secret as its `SecretAccessKey` value (every
/// format has that key). The marker alone is not proof: an answer may quote the request (the 403
/// quotes a refused Host), and the fuzzer soon learns to put the marker there; a quote is
/// escaped, so the unescaped `"SecretAccessKey":"..."` cannot come from one.
pub const CREDENTIAL_DOCUMENT: &str = "\"SecretAccessKey\":\"FUZZSECRETACCESSKEYzV3rM\"";
/// The access key id that goes with it.
pub const ACCESS_KEY_ID: &str = "ASIAFUZZACCESSKEY0001";
/// The session token that goes with it.
pub const SESSION_TOKEN: &str = "FUZZSESSIONTOKENq8Lw";

/// A current-thread runtime on paused time: every timeout the daemon sets passes instantly once
/// nothing else can run, so a target can check that a connection ends within its limits without
/// waiting for them, and runs are deterministic.
pub fn paused_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a current-thread runtime builds")
}

/// An upstream that always succeeds at once with the marked credentials.
pub struct FakeUpstream;

impl Upstream for FakeUpstream {
    async fn obtain(&mut self) -> Result<Material, UpstreamError> {
        Ok(Material::Iam(AwsCredentials {
            access_key_id: ACCESS_KEY_ID.into(),
            secret_access_key: Secret::new(CREDENTIAL_MARKER.into()),
            session_token: Secret::new(SESSION_TOKEN.into()),
            expiry: Expiry::after(Duration::from_secs(3600)),
            account_id: Some("123456789012".into()),
            role_arn: Some("arn:aws:iam::123456789012:role/Fuzz".into()),
        }))
    }
}

/// How the listener under test is configured.
#[derive(Debug, Clone, Copy)]
pub struct Setup {
    /// Whether clients must present [`SHARED_SECRET`].
    pub secret: bool,
    /// Whether the http listener answers as IMDSv2 (the configuration refuses it with a secret).
    pub imds: bool,
}

/// A connection context as the daemon builds it, with credentials already available. Must be
/// called inside the runtime (it starts the refresher task).
pub async fn context(setup: Setup) -> Arc<Context> {
    let (store, _refresher) = credentials::start(
        FakeUpstream,
        RefreshPolicy {
            first_attempts: 1,
            expose_refresh_token: false,
        },
    );
    store.settled().await;
    Arc::new(Context {
        store,
        secret: setup
            .secret
            .then(|| SharedSecret::new(&Secret::new(SHARED_SECRET.into()))),
        // The fuzzers reach the credentials without a secret too, as before the opt-in existed.
        allow_no_secret: true,
        http: HttpPolicy {
            allowed_hosts: vec!["creds.internal".into()],
            imds: setup
                .imds
                .then(|| Imds::new(Some("arn:aws:iam::123456789012:role/Fuzz"), "eu-west-1")),
        },
        peers: None,
    })
}

/// Whether `haystack` contains `needle`.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

pub mod config_support;

/// Whether COGNITOD_FUZZ_DEBUG is set: the targets then say what each input did, which is how
/// to check that a seed reaches what it is meant to (run the target on the seed with -runs=0).
pub fn debug() -> bool {
    static DEBUG: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *DEBUG.get_or_init(|| std::env::var_os("COGNITOD_FUZZ_DEBUG").is_some())
}
