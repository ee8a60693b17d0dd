//! Talking to Cognito: the user pool (sign-in, refresh) and the identity pool (AWS credentials).
//!
//! Every call the daemon makes is unsigned (InitiateAuth, RespondToAuthChallenge, GetId,
//! GetCredentialsForIdentity, GetOpenIdToken, AssumeRoleWithWebIdentity), so the SDK clients are
//! built without any AWS credentials of their own.

pub mod auth;
pub mod caller;
pub mod identity;
mod jwt;
pub mod srp;

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_cognitoidentityprovider::error::ProvideErrorMetadata;
use aws_sdk_cognitoidentityprovider::error::SdkError;
use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};

/// How long one upstream call may take, connection included: well under the time a refresh has
/// before the credentials it replaces expire, and short enough that a hung upstream is noticed.
pub const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(10);
/// Connecting to Cognito's endpoint.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Why an upstream call failed, named for what the caller does next.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// Cognito could not be reached, timed out, throttled us or failed on its side: retry later.
    #[error("{call} failed: {detail}")]
    Unreachable {
        /// The API call.
        call: &'static str,
        /// What went wrong, with its causes.
        detail: String,
    },
    /// Cognito refused the request: retrying will not help until the configuration changes.
    #[error("{call} refused: {code}: {message}; {hint}")]
    Refused {
        /// The API call.
        call: &'static str,
        /// Cognito's error code, e.g. NotAuthorizedException.
        code: String,
        /// Cognito's message.
        message: String,
        /// What the operator should check.
        hint: &'static str,
    },
    /// Cognito asks for something only a person can give (new password, MFA code).
    #[error("sign-in needs the {challenge} challenge, which a daemon cannot answer: {action}")]
    ChallengeRequired {
        /// The challenge name.
        challenge: String,
        /// What the user must do.
        action: &'static str,
    },
    /// Cognito answered something the daemon cannot use: retry later, it may be passing.
    #[error("{call} gave an unusable answer: {detail}")]
    BadResponse {
        /// The API call.
        call: &'static str,
        /// What was wrong with it.
        detail: String,
    },
}

impl UpstreamError {
    /// Whether trying again later may succeed without anyone changing anything.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            UpstreamError::Unreachable { .. } | UpstreamError::BadResponse { .. }
        )
    }

    /// A short cause for the one-line service status, e.g. `NotAuthorizedException, check the password`.
    pub fn status_summary(&self) -> String {
        match self {
            UpstreamError::Unreachable { call, .. } => format!("{call} unreachable, retrying"),
            UpstreamError::Refused { code, hint, .. } => format!("{code}, {hint}"),
            UpstreamError::ChallengeRequired { challenge, .. } => {
                format!("{challenge} challenge required")
            }
            UpstreamError::BadResponse { call, .. } => format!("{call} answer unusable, retrying"),
        }
    }

    pub(crate) fn bad_response(call: &'static str, detail: impl Into<String>) -> Self {
        UpstreamError::BadResponse {
            call,
            detail: detail.into(),
        }
    }
}

/// Error codes that mean "try again later" rather than "you are wrong".
const TRANSIENT_CODES: &[&str] = &[
    "TooManyRequestsException",
    "LimitExceededException",
    "InternalErrorException",
    "InternalFailure",
    "ServiceUnavailable",
    "ThrottlingException",
    "Throttling",
    "RequestTimeout",
];

/// Sorts an SDK error into retry-later or fix-the-configuration, keeping Cognito's own words.
pub(crate) fn classify<E, R>(call: &'static str, err: SdkError<E, R>) -> UpstreamError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + 'static,
{
    if let SdkError::ServiceError(context) = &err {
        let code = context.err().code().unwrap_or("UnknownError").to_owned();
        let message = context.err().message().unwrap_or("").to_owned();
        if TRANSIENT_CODES.contains(&code.as_str()) {
            return UpstreamError::Unreachable {
                call,
                detail: format!("{code}: {message}"),
            };
        }
        if code == "UnknownError" {
            // No modelled code: an HTTP failure without a Cognito error body (a proxy, a 5xx).
            return UpstreamError::Unreachable {
                call,
                detail: causes(&err),
            };
        }
        let hint = hint_for(call, &code);
        return UpstreamError::Refused {
            call,
            code,
            message,
            hint,
        };
    }
    UpstreamError::Unreachable {
        call,
        detail: causes(&err),
    }
}

/// An error and its causes, each by its Display, joined: "dispatch failure: io error: Connection
/// refused". (The SDK's own DisplayErrorContext appends a Debug dump, which is noise in a status
/// line or a client's error.)
fn causes(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let line = cause.to_string();
        if !text.ends_with(&line) {
            text.push_str(": ");
            text.push_str(&line);
        }
        source = cause.source();
    }
    text
}

/// What the operator should check for a refusal.
fn hint_for(call: &str, code: &str) -> &'static str {
    if call.contains("REFRESH_TOKEN") && code == "NotAuthorizedException" {
        return "the refresh token was revoked or expired; signing in with the password again";
    }
    match code {
        "NotAuthorizedException" => {
            "check the password and, if the app client has one, the client secret"
        }
        "UserNotFoundException" => "check the username",
        "UserNotConfirmedException" => "the user must be confirmed in the user pool first",
        "PasswordResetRequiredException" => "the user's password must be reset first",
        "ResourceNotFoundException" => "check the user pool id, app client id, identity pool id and region",
        "InvalidParameterException" => {
            "check that the app client allows this auth flow (ExplicitAuthFlows) and the ids are right"
        }
        "InvalidIdentityPoolConfigurationException" => {
            "check the identity pool's roles and their trust policies"
        }
        "AccessDenied" | "AccessDeniedException" => {
            "check the role ARN and its trust policy for this identity pool"
        }
        _ => "check the cognito settings",
    }
}

/// The SDK configuration shared by the user-pool, identity-pool and STS clients.
///
/// No credentials (the calls are unsigned) and no SDK retries: the credential cache owns retrying,
/// with jitter and rate limits, so that one refresh is one upstream call and can be counted.
/// Endpoint overrides (AWS_ENDPOINT_URL and the per-service variables) are honoured, which is how
/// tests and private endpoints reach a Cognito emulator.
///
/// HTTPS goes through rustls with ring rather than the SDK's default aws-lc: the same TLS for the
/// few unsigned calls the daemon makes, but ring builds in seconds where aws-lc's C build takes
/// minutes (the first build is what someone trying cognitod waits for) and it makes the binary
/// smaller.
pub async fn sdk_config(region: &str) -> SdkConfig {
    let https = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(https)
        .region(Region::new(region.to_owned()))
        .no_credentials()
        .retry_config(RetryConfig::disabled())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .operation_attempt_timeout(UPSTREAM_TIMEOUT)
                .operation_timeout(UPSTREAM_TIMEOUT)
                .build(),
        )
        .load()
        .await
}
