//! Identity pool: the user-pool ID token exchanged for temporary AWS credentials, in the enhanced
//! flow (GetCredentialsForIdentity) or the classic one (GetOpenIdToken + STS).

use std::collections::HashMap;
use std::sync::Arc;

use aws_sdk_cognitoidentity as cid;
use aws_sdk_sts as sts;
use time::OffsetDateTime;
use tokio::sync::Mutex;

use super::kept_identity::KeptIdentity;
use super::{classify, Sdk, ServerClock, UpstreamError};
use crate::config::{CognitoConfig, IdentityFlow};
use crate::expiry::Expiry;
use crate::secret::Secret;

/// Temporary AWS credentials.
#[derive(Debug, Clone)]
pub struct AwsCredentials {
    /// Access key id (not secret on its own, but never logged either).
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: Secret,
    /// Session token.
    pub session_token: Secret,
    /// When they expire.
    pub expiry: Expiry,
    /// The AWS account, when known: the classic flow's assumed-role ARN, the configured role
    /// ARN, or STS GetCallerIdentity (see `caller`).
    pub account_id: Option<String>,
    /// The role asked for, when configured (`RoleArn` of the container answer).
    pub role_arn: Option<String>,
}

impl AwsCredentials {
    /// The credentials as the SDK signs with them. The SDK takes plain `String`s: the copies
    /// live as long as the one signed call (see `caller`).
    pub(crate) fn signing(&self) -> sts::config::Credentials {
        sts::config::Credentials::new(
            &self.access_key_id,
            self.secret_access_key.expose(),
            Some(self.session_token.expose().to_owned()),
            None,
            "cognitod",
        )
    }
}

/// An identity-pool client for one configured pool and user.
pub struct IdentityPool {
    cognito: cid::Client,
    sts: sts::Client,
    /// Cognito's clock: credential lifetimes are measured on it.
    server_clock: ServerClock,
    settings: Arc<CognitoConfig>,
    /// The identity id never changes for a user, so GetId runs once per process...
    identity_id: Mutex<Option<String>>,
    /// ...and, with a state directory, once per user: kept across restarts and reboots.
    kept: KeptIdentity,
    /// Its AWS account, learned once (`AccountId` in the answers).
    account: super::caller::AccountCache,
}

impl IdentityPool {
    /// An identity-pool client on the given SDK configuration.
    pub fn new(sdk: &Sdk, settings: Arc<CognitoConfig>) -> Self {
        let clock = &sdk.server_clock;
        let kept = KeptIdentity::for_settings(&settings);
        IdentityPool {
            cognito: cid::Client::from_conf(
                cid::config::Builder::from(&sdk.config)
                    .interceptor(clock.clone())
                    .build(),
            ),
            sts: sts::Client::from_conf(
                sts::config::Builder::from(&sdk.config)
                    .interceptor(clock.clone())
                    .build(),
            ),
            server_clock: clock.clone(),
            settings,
            identity_id: Mutex::new(kept.load()),
            kept,
            account: Default::default(),
        }
    }

    /// The identity id, once GetId (or a previous process) told it.
    pub(crate) async fn known_identity_id(&self) -> Option<String> {
        self.identity_id.lock().await.clone()
    }

    /// Takes back the identity id a previous process of the service kept.
    pub(crate) fn remember_identity_id(&self, id: String) {
        if let Ok(mut cached) = self.identity_id.try_lock() {
            *cached = Some(id);
        }
    }

    /// Credentials for the user whose ID token this is.
    pub async fn credentials(&self, id_token: &Secret) -> Result<AwsCredentials, UpstreamError> {
        let identity_id = self.identity_id(id_token).await?;
        let result = match self.settings.auth_flow {
            IdentityFlow::Enhanced => self.enhanced(&identity_id, id_token).await,
            IdentityFlow::Classic => self.classic(&identity_id, id_token).await,
        };
        if let Err(UpstreamError::Refused { code, .. }) = &result {
            if code == "ResourceNotFoundException" {
                // The identity may have been deleted: look it up afresh next time.
                *self.identity_id.lock().await = None;
                self.kept.forget();
                self.account.forget().await;
            }
        }
        let mut credentials = result?;
        let role_arn = self.settings.role_arn.as_deref();
        if credentials.account_id.is_none() {
            credentials.account_id = self
                .account
                .account_id(&self.sts, role_arn, || credentials.signing())
                .await;
        }
        credentials.role_arn = role_arn.map(str::to_owned);
        Ok(credentials)
    }

    fn logins(&self, id_token: &Secret) -> HashMap<String, String> {
        let provider = format!(
            "cognito-idp.{}.amazonaws.com/{}",
            self.settings.region, self.settings.user_pool_id
        );
        HashMap::from([(provider, id_token.expose().to_owned())])
    }

    fn pool_id(&self) -> Result<&str, UpstreamError> {
        self.settings
            .identity_pool_id
            .as_deref()
            .ok_or_else(|| UpstreamError::bad_response("GetId", "no identity pool is configured"))
    }

    async fn identity_id(&self, id_token: &Secret) -> Result<String, UpstreamError> {
        let mut cached = self.identity_id.lock().await;
        if let Some(id) = cached.as_ref() {
            return Ok(id.clone());
        }
        let out = self
            .cognito
            .get_id()
            .identity_pool_id(self.pool_id()?)
            .set_logins(Some(self.logins(id_token)))
            .send()
            .await
            .map_err(|e| classify("GetId", e))?;
        let id = out
            .identity_id
            .ok_or_else(|| UpstreamError::bad_response("GetId", "no IdentityId in the answer"))?;
        self.kept.store(&id);
        *cached = Some(id.clone());
        Ok(id)
    }

    async fn enhanced(
        &self,
        identity_id: &str,
        id_token: &Secret,
    ) -> Result<AwsCredentials, UpstreamError> {
        const CALL: &str = "GetCredentialsForIdentity";
        let out = self
            .cognito
            .get_credentials_for_identity()
            .identity_id(identity_id)
            .set_logins(Some(self.logins(id_token)))
            .set_custom_role_arn(self.settings.role_arn.clone())
            .send()
            .await
            .map_err(|e| classify(CALL, e))?;
        let c = out
            .credentials
            .ok_or_else(|| UpstreamError::bad_response(CALL, "no Credentials in the answer"))?;
        credentials(
            CALL,
            self.server_clock.cognito_ahead_by(),
            c.access_key_id,
            c.secret_key,
            c.session_token,
            c.expiration,
            None,
        )
    }

    async fn classic(
        &self,
        identity_id: &str,
        id_token: &Secret,
    ) -> Result<AwsCredentials, UpstreamError> {
        let out = self
            .cognito
            .get_open_id_token()
            .identity_id(identity_id)
            .set_logins(Some(self.logins(id_token)))
            .send()
            .await
            .map_err(|e| classify("GetOpenIdToken", e))?;
        let token = out.token.map(Secret::new).ok_or_else(|| {
            UpstreamError::bad_response("GetOpenIdToken", "no Token in the answer")
        })?;
        const CALL: &str = "AssumeRoleWithWebIdentity";
        let role_arn = self.settings.role_arn.as_deref().ok_or_else(|| {
            UpstreamError::bad_response(CALL, "the classic flow needs a role ARN")
        })?;
        let duration = i32::try_from(self.settings.role_expiry_time.as_secs()).unwrap_or(3600);
        let out = self
            .sts
            .assume_role_with_web_identity()
            .role_arn(role_arn)
            .role_session_name(&self.settings.role_session_name)
            .web_identity_token(token.expose())
            .duration_seconds(duration)
            .send()
            .await
            .map_err(|e| classify(CALL, e))?;
        let account_id = out
            .assumed_role_user
            .as_ref()
            .and_then(|u| u.arn.split(':').nth(4))
            .filter(|a| !a.is_empty())
            .map(str::to_owned);
        let c = out
            .credentials
            .ok_or_else(|| UpstreamError::bad_response(CALL, "no Credentials in the answer"))?;
        credentials(
            CALL,
            self.server_clock.cognito_ahead_by(),
            Some(c.access_key_id),
            Some(c.secret_access_key),
            Some(c.session_token),
            Some(c.expiration),
            account_id,
        )
    }
}

fn credentials(
    call: &'static str,
    cognito_ahead_by: time::Duration,
    access_key_id: Option<String>,
    secret_access_key: Option<String>,
    session_token: Option<String>,
    expiration: Option<aws_smithy_types::DateTime>,
    account_id: Option<String>,
) -> Result<AwsCredentials, UpstreamError> {
    let missing =
        |what: &str| UpstreamError::bad_response(call, format!("no {what} in the answer"));
    let expiration = expiration.ok_or_else(|| missing("Expiration"))?;
    let at = OffsetDateTime::from_unix_timestamp_nanos(expiration.as_nanos())
        .map_err(|_| missing("valid Expiration"))?;
    Ok(AwsCredentials {
        access_key_id: access_key_id.ok_or_else(|| missing("AccessKeyId"))?,
        secret_access_key: Secret::new(secret_access_key.ok_or_else(|| missing("SecretKey"))?),
        session_token: Secret::new(session_token.ok_or_else(|| missing("SessionToken"))?),
        expiry: Expiry::at_wall_time(at, cognito_ahead_by),
        account_id,
        role_arn: None,
    })
}
