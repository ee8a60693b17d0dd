//! The AWS account the served credentials belong to, for the `AccountId` newer SDKs read (they
//! use it for account-based endpoints): taken from the configured role ARN when there is one,
//! else learned once per identity with STS GetCallerIdentity, signed by those credentials
//! themselves. The one signed call the daemon makes; it needs no permission (GetCallerIdentity
//! is allowed to every principal) and its failure only leaves `AccountId` out.

use std::time::Duration;

use aws_sdk_sts as sts;
use tokio::sync::Mutex;
use tracing::instrument::WithSubscriber;

use super::{classify, UpstreamError};

/// How long the lookup may take: it runs before fresh credentials are served, so it is kept
/// short; a slow STS costs at most this once per renewal until the account is known.
pub(crate) const LOOKUP_TIMEOUT: Duration = Duration::from_secs(2);

/// The account field of an ARN (`arn:aws:iam::123456789012:role/Name` -> `123456789012`).
pub(crate) fn account_of_arn(arn: &str) -> Option<&str> {
    arn.split(':')
        .nth(4)
        .filter(|a| a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit()))
}

/// The account of one identity, looked up at most once successfully.
#[derive(Default)]
pub(crate) struct AccountCache(Mutex<Option<String>>);

impl AccountCache {
    /// The account of the credentials `signing` gives: from `role_arn` when given, else cached,
    /// else asked of STS (`None`, and asked again next time, when that fails). `signing` is only
    /// called for that call, so the SDK's plain-`String` copy of the secrets is made only then.
    pub(crate) async fn account_id(
        &self,
        sts: &sts::Client,
        role_arn: Option<&str>,
        signing: impl FnOnce() -> sts::config::Credentials,
    ) -> Option<String> {
        if let Some(account) = role_arn.and_then(account_of_arn) {
            return Some(account.to_owned());
        }
        let mut cached = self.0.lock().await;
        if cached.is_none() {
            match tokio::time::timeout(LOOKUP_TIMEOUT, caller_account(sts, signing())).await {
                Ok(Ok(account)) => *cached = Some(account),
                Ok(Err(e)) => {
                    tracing::info!(error = %e, "AccountId left out: GetCallerIdentity failed")
                }
                Err(_) => tracing::info!(
                    timeout_s = LOOKUP_TIMEOUT.as_secs(),
                    "AccountId left out: GetCallerIdentity did not answer in time"
                ),
            }
        }
        cached.clone()
    }

    /// Forgets the account (the identity changed).
    pub(crate) async fn forget(&self) {
        *self.0.lock().await = None;
    }
}

/// STS GetCallerIdentity, signed with `signing`.
async fn caller_account(
    sts: &sts::Client,
    signing: sts::config::Credentials,
) -> Result<String, UpstreamError> {
    const CALL: &str = "GetCallerIdentity";
    let config = sts
        .config()
        .to_builder()
        .credentials_provider(signing)
        .build();
    // The only signed call: the signer's trace events (aws_sigv4, which the log filter does not
    // cap) print the signing identity with its access key id. Nothing of this call is logged;
    // its failure is, by the caller, without them.
    let out = sts::Client::from_conf(config)
        .get_caller_identity()
        .send()
        .with_subscriber(tracing::subscriber::NoSubscriber::default())
        .await
        .map_err(|e| classify(CALL, e))?;
    out.account
        .filter(|a| !a.is_empty())
        .ok_or_else(|| UpstreamError::bad_response(CALL, "no Account in the answer"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_account_is_the_fifth_field_of_an_arn() {
        assert_eq!(
            account_of_arn("arn:aws:iam::123456789012:role/path/Dev"),
            Some("123456789012")
        );
        assert_eq!(
            account_of_arn("arn:aws:sts::210987654321:assumed-role/Dev/s"),
            Some("210987654321")
        );
        assert_eq!(account_of_arn("arn:aws:iam:::role/NoAccount"), None);
        assert_eq!(account_of_arn("not an arn"), None);
    }
}
