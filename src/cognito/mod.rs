//! Talking to Cognito: the user pool (sign-in, refresh) and the identity pool (AWS credentials).
//!
//! Every call the daemon makes is unsigned (InitiateAuth, RespondToAuthChallenge, GetId,
//! GetCredentialsForIdentity, GetOpenIdToken, AssumeRoleWithWebIdentity), so the SDK clients are
//! built without any AWS credentials of their own.

pub mod auth;
pub mod caller;
pub mod device;
pub mod identity;
mod jwt;
pub mod kept_identity;
pub mod server_clock;
pub mod srp;
pub mod totp;

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_cognitoidentityprovider::error::ProvideErrorMetadata;
use aws_sdk_cognitoidentityprovider::error::SdkError;
use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};

pub use server_clock::{ClockReading, ServerClock};

use crate::policy::Failure;

/// How long one upstream call may take, connection included: well under the time a refresh has
/// before the credentials it replaces expire, and short enough that a hung upstream is noticed.
pub(crate) const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(10);
/// Connecting to Cognito's endpoint.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

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
    /// Cognito's quota for the account is spent: retry later, and not soon (other hosts share it).
    #[error("{call} throttled by Cognito ({code}: {message}); backing off")]
    Throttled {
        /// The API call.
        call: &'static str,
        /// Cognito's error code, e.g. TooManyRequestsException.
        code: String,
        /// Cognito's message.
        message: String,
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
    pub(crate) fn is_transient(&self) -> bool {
        self.failure() != Failure::Refused
    }

    /// What kind of failure it is, for how long to wait before the next attempt.
    pub fn failure(&self) -> Failure {
        match self {
            UpstreamError::Unreachable { .. } | UpstreamError::BadResponse { .. } => {
                Failure::Transient
            }
            UpstreamError::Throttled { .. } => Failure::Throttled,
            UpstreamError::Refused { .. } | UpstreamError::ChallengeRequired { .. } => {
                Failure::Refused
            }
        }
    }

    pub(crate) fn bad_response(call: &'static str, detail: impl Into<String>) -> Self {
        UpstreamError::BadResponse {
            call,
            detail: detail.into(),
        }
    }
}

/// Error codes that mean the account's quota is spent: try again later, not soon.
const THROTTLING_CODES: &[&str] = &[
    "TooManyRequestsException",
    "LimitExceededException",
    "ThrottlingException",
    "Throttling",
];

/// Error codes that mean "try again later" rather than "you are wrong".
const TRANSIENT_CODES: &[&str] = &[
    "InternalErrorException",
    "InternalFailure",
    "ServiceUnavailable",
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
        if THROTTLING_CODES.contains(&code.as_str()) {
            return UpstreamError::Throttled {
                call,
                code,
                message,
            };
        }
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

/// What the operator should check for a refusal, for every error the API reference documents
/// for the calls the daemon makes (InitiateAuth, RespondToAuthChallenge,
/// GetTokensFromRefreshToken, GetId, GetCredentialsForIdentity, GetOpenIdToken,
/// AssumeRoleWithWebIdentity) and configure's TOTP enrolment makes (AssociateSoftwareToken,
/// VerifySoftwareToken, SetUserMFAPreference) that retrying cannot cure.
fn hint_for(call: &str, code: &str) -> &'static str {
    let refreshing = call.contains("REFRESH_TOKEN") || call == "GetTokensFromRefreshToken";
    if refreshing && code == "NotAuthorizedException" {
        return "the refresh token was revoked or expired; signing in with the password again";
    }
    if call == "SetUserMFAPreference" && code == "InvalidParameterException" {
        return "the user pool does not allow TOTP MFA: turn on software token (TOTP) MFA in its \
                MFA settings (optional or required), then run cognitod configure again";
    }
    if call == "VerifySoftwareToken" && code == "CodeMismatchException" {
        return hint_for(call, "EnableSoftwareTokenMFAException");
    }
    if call.contains("USER_AUTH") && code == "InvalidParameterException" {
        return "check that the app client allows choice-based sign-in (ALLOW_USER_AUTH in \
                ExplicitAuthFlows), or use auth_type user_srp";
    }
    match code {
        "NotAuthorizedException" => {
            "check the password and, if the app client has one, the client secret; if they are \
             right, check the host clock (Cognito refuses a sign-in minutes off its own)"
        }
        "UserNotFoundException" => "check the username",
        "UserNotConfirmedException" => {
            "the user must be confirmed in the user pool first (aws cognito-idp \
             admin-confirm-sign-up)"
        }
        "PasswordResetRequiredException" => {
            "the user's password must be reset first (aws cognito-idp admin-set-user-password \
             --permanent), then put the new one in cognitod's configuration"
        }
        "RefreshTokenReuseException" => {
            "the refresh token was rotated out (used by another process with the same refresh \
             token, or after the app client's grace period); signing in again"
        }
        "ResourceNotFoundException" => {
            "check the user pool id, app client id, identity pool id and region"
        }
        "InvalidParameterException" => {
            "check that the app client allows this auth flow (ExplicitAuthFlows) and the ids are \
             right"
        }
        "UnsupportedOperationException" => {
            "the user pool does not support this sign-in flow (its feature plan or settings); \
             choose another auth_type"
        }
        "CodeMismatchException" | "ExpiredCodeException" => {
            "the MFA code was refused: check the TOTP seed and the host clock"
        }
        "SoftwareTokenMFANotFoundException" | "MFAMethodNotFoundException" => {
            "the user has no TOTP authenticator enrolled: enrol one with `cognitod configure \
             --enrol-totp` (it stores the seed), or turn MFA off for this user"
        }
        "EnableSoftwareTokenMFAException" => {
            "Cognito did not accept the code made from the new TOTP seed (a code mismatch): \
             check the host clock (codes change every 30 s), then run cognitod configure again; \
             nothing was enrolled"
        }
        "InvalidUserPoolConfigurationException" => {
            "the user pool's configuration does not allow this sign-in; check its MFA and \
             sign-in settings"
        }
        "UserLambdaValidationException"
        | "InvalidLambdaResponseException"
        | "UnexpectedLambdaException" => {
            "a Lambda trigger of the user pool refused or failed this sign-in; check the \
             trigger's logs and the client metadata cognitod sends"
        }
        "InvalidSmsRoleAccessPolicyException"
        | "InvalidSmsRoleTrustRelationshipException"
        | "InvalidEmailRoleAccessPolicyException" => {
            "the user pool cannot send SMS or e-mail with its configured role; fix the pool's \
             messaging role, or use TOTP or a user without MFA"
        }
        "ForbiddenException" => {
            "the user pool's web ACL (AWS WAF) blocked the request; allow this host"
        }
        "InvalidIdentityPoolConfigurationException" => {
            "check the identity pool's roles and their trust policies"
        }
        "ExternalServiceException" => {
            "the identity pool could not verify the login with the user pool; check the \
             identity pool's authentication provider (user pool id and app client id)"
        }
        "ResourceConflictException" => {
            "the identity is linked to another login; check the identity pool's providers"
        }
        "AccessDenied" | "AccessDeniedException" => {
            "check the role ARN and its trust policy for this identity pool"
        }
        "InvalidIdentityToken" | "IDPRejectedClaim" | "ExpiredTokenException" => {
            "STS refused the identity pool's token; check the role's trust policy (its \
             cognito-identity.amazonaws.com:aud condition names this identity pool)"
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
pub async fn sdk(region: &str) -> Sdk {
    Sdk {
        config: sdk_config(region).await,
        server_clock: ServerClock::default(),
    }
}

/// Removes the endpoint variables (AWS_ENDPOINT_URL and its per-service forms such as
/// AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER) that are set but empty. `VAR=` is how a shell or a
/// systemd drop-in (`Environment=AWS_ENDPOINT_URL=`) clears a variable, and cognitod reads every
/// other empty variable as unset; the SDK instead takes an empty one for an endpoint and panics
/// on it ("URL was unset") in the credential refresher, which then never signs in. Call it before
/// any thread exists: the environment is the process's.
pub fn drop_empty_endpoint_variables() {
    let empty: Vec<std::ffi::OsString> = std::env::vars_os()
        .filter(|(name, value)| {
            value.is_empty()
                && name
                    .to_str()
                    .is_some_and(|n| n.starts_with("AWS_ENDPOINT_URL"))
        })
        .map(|(name, _)| name)
        .collect();
    for name in empty {
        std::env::remove_var(name);
    }
}

/// What every Cognito client of one configuration is built from.
#[derive(Clone)]
pub struct Sdk {
    /// Region, endpoints, HTTP client, timeouts.
    pub config: SdkConfig,
    /// Cognito's clock as its answers tell it; every client made from this reports to it.
    pub server_clock: ServerClock,
}

async fn sdk_config(region: &str) -> SdkConfig {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_refusal_names_its_own_fix() {
        // The errors of the API reference for the daemon's calls that retrying cannot cure.
        let documented = [
            "NotAuthorizedException",
            "UserNotFoundException",
            "UserNotConfirmedException",
            "PasswordResetRequiredException",
            "RefreshTokenReuseException",
            "ResourceNotFoundException",
            "InvalidParameterException",
            "UnsupportedOperationException",
            "CodeMismatchException",
            "ExpiredCodeException",
            "SoftwareTokenMFANotFoundException",
            "MFAMethodNotFoundException",
            "EnableSoftwareTokenMFAException",
            "InvalidUserPoolConfigurationException",
            "UserLambdaValidationException",
            "InvalidLambdaResponseException",
            "UnexpectedLambdaException",
            "InvalidSmsRoleAccessPolicyException",
            "InvalidSmsRoleTrustRelationshipException",
            "InvalidEmailRoleAccessPolicyException",
            "ForbiddenException",
            "InvalidIdentityPoolConfigurationException",
            "ExternalServiceException",
            "ResourceConflictException",
            "AccessDeniedException",
            "InvalidIdentityToken",
            "IDPRejectedClaim",
        ];
        let fallback = hint_for("InitiateAuth", "SomethingNew");
        for code in documented {
            assert_ne!(hint_for("InitiateAuth", code), fallback, "{code}");
        }
        assert!(
            hint_for("GetTokensFromRefreshToken", "NotAuthorizedException")
                .contains("signing in with the password again")
        );
        assert!(
            hint_for("InitiateAuth(USER_AUTH)", "InvalidParameterException")
                .contains("ALLOW_USER_AUTH")
        );
        // configure's enrolment: a refused code names the clock and that nothing was enrolled.
        for code in ["EnableSoftwareTokenMFAException", "CodeMismatchException"] {
            let hint = hint_for("VerifySoftwareToken", code);
            assert!(
                hint.contains("host clock") && hint.contains("nothing was enrolled"),
                "{code}: {hint}"
            );
        }
    }

    #[test]
    fn throttling_codes_are_their_own_failure_and_transient() {
        let throttled = UpstreamError::Throttled {
            call: "GetId",
            code: "LimitExceededException".into(),
            message: "Rate exceeded".into(),
        };
        assert_eq!(throttled.failure(), Failure::Throttled);
        assert!(throttled.is_transient());
        assert!(throttled.to_string().contains("throttled by Cognito"));
        for code in THROTTLING_CODES {
            assert!(!TRANSIENT_CODES.contains(code));
        }
    }
}
