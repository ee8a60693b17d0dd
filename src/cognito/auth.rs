//! User-pool sign-in: USER_SRP_AUTH, USER_PASSWORD_AUTH and REFRESH_TOKEN_AUTH, with SECRET_HASH
//! on every call when the app client has a secret.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_cognitoidentityprovider as idp;
use idp::types::{AuthFlowType, AuthenticationResultType, ChallengeNameType};
use time::OffsetDateTime;
use tracing::info;

use super::srp::{cognito_timestamp, secret_hash, Challenge, SrpClient};
use super::totp::{NotBase32, Totp};
use super::{classify, jwt, Sdk, ServerClock, UpstreamError};
use crate::config::{AuthType, CognitoConfig};
use crate::expiry::Expiry;
use crate::secret::Secret;

/// The tokens of one signed-in session.
#[derive(Debug, Clone)]
pub struct Tokens {
    /// The ID token (what the identity pool takes as a login).
    pub id_token: Secret,
    /// The access token.
    pub access_token: Secret,
    /// The refresh token; kept from the sign-in, since refreshes do not return a new one.
    pub refresh_token: Option<Secret>,
    /// When the ID and access tokens expire.
    pub expiry: Expiry,
    /// The user's internal name: what SECRET_HASH is computed over after sign-in.
    pub user_id: String,
}

/// A user-pool client for one configured user.
#[derive(Clone)]
pub struct UserPool {
    client: idp::Client,
    settings: Arc<CognitoConfig>,
    /// Cognito's clock: SRP's TIMESTAMP is written on it, token lifetimes measured on it.
    server_clock: ServerClock,
    /// Set once the endpoint has said it does not know GetTokensFromRefreshToken.
    without_get_tokens: Arc<AtomicBool>,
    /// Codes for SOFTWARE_TOKEN_MFA, when a TOTP seed is configured (or why the seed is unusable).
    totp: Option<Arc<Result<Totp, NotBase32>>>,
}

/// Error codes of an endpoint that does not know an operation.
const OPERATION_UNKNOWN: &[&str] = &["UnknownOperationException", "InvalidAction"];

impl UserPool {
    /// A user pool client on the given SDK configuration.
    pub fn new(sdk: &Sdk, settings: Arc<CognitoConfig>) -> Self {
        let config = idp::config::Builder::from(&sdk.config)
            .interceptor(sdk.server_clock.clone())
            .build();
        let totp = settings
            .totp_secret
            .as_ref()
            .map(|seed| Arc::new(Totp::new(seed)));
        UserPool {
            client: idp::Client::from_conf(config),
            settings,
            server_clock: sdk.server_clock.clone(),
            without_get_tokens: Arc::default(),
            totp,
        }
    }

    /// Cognito's clock as this pool's answers told it.
    pub fn server_clock(&self) -> &ServerClock {
        &self.server_clock
    }

    /// A full sign-in with the password.
    pub async fn sign_in(&self) -> Result<Tokens, UpstreamError> {
        match self.settings.auth_type {
            AuthType::UserSrp => self.sign_in_srp().await,
            AuthType::UserPassword => self.sign_in_password().await,
            AuthType::UserAuth => self.sign_in_user_auth().await,
        }
    }

    /// New ID and access tokens from the refresh token, and a new refresh token when the app
    /// client rotates them (it replaces the old one at once). A `Refused` error means the refresh
    /// token is no longer accepted and a full sign-in is needed.
    ///
    /// GetTokensFromRefreshToken works on every app client, rotating or not, and is the only
    /// way on a rotating one (which refuses REFRESH_TOKEN_AUTH); REFRESH_TOKEN_AUTH remains for
    /// an endpoint that does not know the operation yet (one that predates it, 2025).
    pub async fn refresh(&self, previous: &Tokens) -> Result<Tokens, UpstreamError> {
        let refresh_token = previous.refresh_token.as_ref().ok_or_else(|| {
            UpstreamError::bad_response("InitiateAuth", "no refresh token to refresh with")
        })?;
        if !self.without_get_tokens.load(Ordering::Relaxed) {
            match self
                .get_tokens_from_refresh_token(previous, refresh_token)
                .await
            {
                Err(UpstreamError::Refused { code, .. })
                    if OPERATION_UNKNOWN.contains(&code.as_str()) =>
                {
                    info!(
                        event = "refresh_flow",
                        "the endpoint does not know GetTokensFromRefreshToken: refreshing with \
                         InitiateAuth(REFRESH_TOKEN_AUTH) from now on"
                    );
                    self.without_get_tokens.store(true, Ordering::Relaxed);
                }
                done => return done,
            }
        }
        self.refresh_token_auth(previous, refresh_token).await
    }

    async fn get_tokens_from_refresh_token(
        &self,
        previous: &Tokens,
        refresh_token: &Secret,
    ) -> Result<Tokens, UpstreamError> {
        const CALL: &str = "GetTokensFromRefreshToken";
        // The SDK takes plain Strings; these copies live until the call returns.
        let out = self
            .client
            .get_tokens_from_refresh_token()
            .client_id(&self.settings.app_id)
            .set_client_secret(
                self.settings
                    .client_secret
                    .as_ref()
                    .map(|s| s.expose().to_owned()),
            )
            .refresh_token(refresh_token.expose())
            .set_client_metadata(self.metadata())
            .send()
            .await
            .map_err(|e| classify(CALL, e))?;
        let result = out
            .authentication_result
            .ok_or_else(|| UpstreamError::bad_response(CALL, "no tokens in the answer"))?;
        tokens_from(
            result,
            Some(refresh_token.clone()),
            &previous.user_id,
            &self.server_clock,
        )
    }

    async fn refresh_token_auth(
        &self,
        previous: &Tokens,
        refresh_token: &Secret,
    ) -> Result<Tokens, UpstreamError> {
        let mut params = HashMap::from([(
            "REFRESH_TOKEN".to_owned(),
            refresh_token.expose().to_owned(),
        )]);
        self.add_secret_hash(&mut params, &previous.user_id);
        let out = self
            .client
            .initiate_auth()
            .auth_flow(AuthFlowType::RefreshTokenAuth)
            .client_id(&self.settings.app_id)
            .set_auth_parameters(Some(params))
            .set_client_metadata(self.metadata())
            .send()
            .await
            .map_err(|e| classify("InitiateAuth(REFRESH_TOKEN_AUTH)", e))?;
        let result = out.authentication_result.ok_or_else(|| {
            UpstreamError::bad_response(
                "InitiateAuth(REFRESH_TOKEN_AUTH)",
                "no tokens in the answer",
            )
        })?;
        // Cognito returns a new refresh token only when rotation is on; otherwise keep ours.
        tokens_from(
            result,
            Some(refresh_token.clone()),
            &previous.user_id,
            &self.server_clock,
        )
    }

    async fn sign_in_password(&self) -> Result<Tokens, UpstreamError> {
        let mut params = HashMap::from([
            ("USERNAME".to_owned(), self.settings.username.clone()),
            (
                "PASSWORD".to_owned(),
                self.settings.password.expose().to_owned(),
            ),
        ]);
        self.add_secret_hash(&mut params, &self.settings.username);
        let out = self
            .client
            .initiate_auth()
            .auth_flow(AuthFlowType::UserPasswordAuth)
            .client_id(&self.settings.app_id)
            .set_auth_parameters(Some(params))
            .set_client_metadata(self.metadata())
            .send()
            .await
            .map_err(|e| classify("InitiateAuth(USER_PASSWORD_AUTH)", e))?;
        match out.authentication_result {
            Some(result) => tokens_from(result, None, &self.settings.username, &self.server_clock),
            None => {
                self.answer_mfa(
                    out.challenge_name,
                    out.session,
                    out.challenge_parameters,
                    &self.settings.username,
                )
                .await
            }
        }
    }

    async fn sign_in_srp(&self) -> Result<Tokens, UpstreamError> {
        const CALL: &str = "InitiateAuth(USER_SRP_AUTH)";
        let srp = SrpClient::new();
        let mut params = HashMap::from([
            ("USERNAME".to_owned(), self.settings.username.clone()),
            ("SRP_A".to_owned(), srp.public_a_hex()),
        ]);
        self.add_secret_hash(&mut params, &self.settings.username);
        let out = self
            .client
            .initiate_auth()
            .auth_flow(AuthFlowType::UserSrpAuth)
            .client_id(&self.settings.app_id)
            .set_auth_parameters(Some(params))
            .set_client_metadata(self.metadata())
            .send()
            .await
            .map_err(|e| classify(CALL, e))?;
        if out.challenge_name != Some(ChallengeNameType::PasswordVerifier) {
            return Err(challenge_error(out.challenge_name.as_ref()));
        }
        self.answer_password_verifier(&srp, CALL, out.challenge_parameters, out.session)
            .await
    }

    /// Choice-based sign-in (USER_AUTH, `ALLOW_USER_AUTH` on the app client): asks for
    /// PASSWORD_SRP at once; when Cognito answers SELECT_CHALLENGE instead, picks PASSWORD_SRP, or
    /// PASSWORD when that is all the pool offers. Passwordless factors need a person.
    async fn sign_in_user_auth(&self) -> Result<Tokens, UpstreamError> {
        const CALL: &str = "InitiateAuth(USER_AUTH)";
        let srp = SrpClient::new();
        let mut params = HashMap::from([
            ("USERNAME".to_owned(), self.settings.username.clone()),
            ("PREFERRED_CHALLENGE".to_owned(), "PASSWORD_SRP".to_owned()),
            ("SRP_A".to_owned(), srp.public_a_hex()),
        ]);
        self.add_secret_hash(&mut params, &self.settings.username);
        let out = self
            .client
            .initiate_auth()
            .auth_flow(AuthFlowType::UserAuth)
            .client_id(&self.settings.app_id)
            .set_auth_parameters(Some(params))
            .set_client_metadata(self.metadata())
            .send()
            .await
            .map_err(|e| classify(CALL, e))?;
        if let Some(result) = out.authentication_result {
            return tokens_from(result, None, &self.settings.username, &self.server_clock);
        }
        match out.challenge_name {
            Some(ChallengeNameType::PasswordVerifier) => {
                self.answer_password_verifier(&srp, CALL, out.challenge_parameters, out.session)
                    .await
            }
            Some(ChallengeNameType::SelectChallenge) => {
                self.select_challenge(
                    &srp,
                    out.available_challenges.unwrap_or_default(),
                    out.session,
                )
                .await
            }
            other => Err(challenge_error(other.as_ref())),
        }
    }

    async fn select_challenge(
        &self,
        srp: &SrpClient,
        available: Vec<ChallengeNameType>,
        session: Option<String>,
    ) -> Result<Tokens, UpstreamError> {
        const CALL: &str = "RespondToAuthChallenge(SELECT_CHALLENGE)";
        let username = &self.settings.username;
        let mut responses = HashMap::from([("USERNAME".to_owned(), username.clone())]);
        if available.contains(&ChallengeNameType::PasswordSrp) {
            responses.insert("ANSWER".to_owned(), "PASSWORD_SRP".to_owned());
            responses.insert("SRP_A".to_owned(), srp.public_a_hex());
        } else if available.contains(&ChallengeNameType::Password) {
            responses.insert("ANSWER".to_owned(), "PASSWORD".to_owned());
            // The SDK takes plain Strings; this copy lives until the call returns.
            responses.insert(
                "PASSWORD".to_owned(),
                self.settings.password.expose().to_owned(),
            );
        } else {
            let offered: Vec<_> = available.iter().map(ChallengeNameType::as_str).collect();
            return Err(UpstreamError::ChallengeRequired {
                challenge: format!("SELECT_CHALLENGE (offering only {})", offered.join(", ")),
                action: "the pool offers this user only passwordless sign-in (codes by e-mail or \
                         SMS, passkeys), which needs a person: allow PASSWORD among the user \
                         pool's first authentication factors, or use an app client with \
                         ALLOW_USER_SRP_AUTH and auth_type user_srp",
            });
        }
        self.add_secret_hash(&mut responses, username);
        let out = self
            .client
            .respond_to_auth_challenge()
            .client_id(&self.settings.app_id)
            .challenge_name(ChallengeNameType::SelectChallenge)
            .set_challenge_responses(Some(responses))
            .set_session(session)
            .set_client_metadata(self.metadata())
            .send()
            .await
            .map_err(|e| classify(CALL, e))?;
        if let Some(result) = out.authentication_result {
            return tokens_from(result, None, username, &self.server_clock);
        }
        if out.challenge_name != Some(ChallengeNameType::PasswordVerifier) {
            return self
                .answer_mfa(
                    out.challenge_name,
                    out.session,
                    out.challenge_parameters,
                    username,
                )
                .await;
        }
        self.answer_password_verifier(srp, CALL, out.challenge_parameters, out.session)
            .await
    }

    /// Answers a PASSWORD_VERIFIER challenge with the SRP proof of the password.
    async fn answer_password_verifier(
        &self,
        srp: &SrpClient,
        call: &'static str,
        challenge_parameters: Option<HashMap<String, String>>,
        session: Option<String>,
    ) -> Result<Tokens, UpstreamError> {
        let params = challenge_parameters.unwrap_or_default();
        let field = |name: &'static str| {
            params.get(name).map(String::as_str).ok_or_else(|| {
                UpstreamError::bad_response(
                    call,
                    format!("the PASSWORD_VERIFIER challenge has no {name}"),
                )
            })
        };
        let challenge = Challenge {
            salt_hex: field("SALT")?,
            b_hex: field("SRP_B")?,
            secret_block_b64: field("SECRET_BLOCK")?,
            user_id_for_srp: field("USER_ID_FOR_SRP")?,
        };
        // On Cognito's clock (known from the InitiateAuth answer just received): Cognito refuses
        // a TIMESTAMP minutes off its own, so a skewed host clock still signs in.
        let timestamp = cognito_timestamp(self.server_clock.cognito_now());
        let signature = srp
            .password_claim_signature(
                &self.settings.user_pool_id,
                &challenge,
                self.settings.password.expose(),
                &timestamp,
            )
            .map_err(|e| UpstreamError::bad_response(call, e.to_string()))?;
        // With alias sign-in (e-mail) the internal id differs from the login name; the answer's
        // USERNAME and its SECRET_HASH must both use the internal id.
        let user_id = challenge.user_id_for_srp.to_owned();
        let mut responses = HashMap::from([
            ("USERNAME".to_owned(), user_id.clone()),
            ("TIMESTAMP".to_owned(), timestamp),
            (
                "PASSWORD_CLAIM_SECRET_BLOCK".to_owned(),
                challenge.secret_block_b64.to_owned(),
            ),
            ("PASSWORD_CLAIM_SIGNATURE".to_owned(), signature),
        ]);
        self.add_secret_hash(&mut responses, &user_id);
        let answer = self
            .client
            .respond_to_auth_challenge()
            .client_id(&self.settings.app_id)
            .challenge_name(ChallengeNameType::PasswordVerifier)
            .set_challenge_responses(Some(responses))
            .set_session(session)
            .set_client_metadata(self.metadata())
            .send()
            .await
            .map_err(|e| classify("RespondToAuthChallenge(PASSWORD_VERIFIER)", e))?;
        match answer.authentication_result {
            Some(result) => tokens_from(result, None, &user_id, &self.server_clock),
            None => {
                self.answer_mfa(
                    answer.challenge_name,
                    answer.session,
                    answer.challenge_parameters,
                    &user_id,
                )
                .await
            }
        }
    }

    /// Answers the MFA challenges that follow a correct password: SELECT_MFA_TYPE with TOTP and
    /// SOFTWARE_TOKEN_MFA with a code from the configured seed. Any other challenge, or MFA
    /// without a seed, ends in an error that says what the administrator can do.
    async fn answer_mfa(
        &self,
        mut challenge: Option<ChallengeNameType>,
        mut session: Option<String>,
        mut parameters: Option<HashMap<String, String>>,
        user_id: &str,
    ) -> Result<Tokens, UpstreamError> {
        // Cognito names the internal user in the challenge (alias sign-in), and that is what
        // the answer's USERNAME and SECRET_HASH use.
        let mut user_id = user_id.to_owned();
        // SELECT_MFA_TYPE, then SOFTWARE_TOKEN_MFA: never more than two rounds.
        for _ in 0..2 {
            if let Some(id) = parameters.as_ref().and_then(|p| p.get("USER_ID_FOR_SRP")) {
                user_id.clone_from(id);
            }
            let totp = match (&challenge, &self.totp) {
                (
                    Some(ChallengeNameType::SoftwareTokenMfa | ChallengeNameType::SelectMfaType),
                    Some(totp),
                ) => match &**totp {
                    Ok(totp) => totp,
                    Err(e) => {
                        return Err(UpstreamError::Refused {
                            call: "the TOTP seed",
                            code: "InvalidTotpSeed".into(),
                            message: e.to_string(),
                            hint: "give the SecretCode that AssociateSoftwareToken returned, or \
                                   enrol a new one with cognitod configure",
                        })
                    }
                },
                _ => return Err(challenge_error(challenge.as_ref())),
            };
            let (call, mut responses) = if challenge == Some(ChallengeNameType::SelectMfaType) {
                (
                    "RespondToAuthChallenge(SELECT_MFA_TYPE)",
                    HashMap::from([("ANSWER".to_owned(), "SOFTWARE_TOKEN_MFA".to_owned())]),
                )
            } else {
                (
                    "RespondToAuthChallenge(SOFTWARE_TOKEN_MFA)",
                    HashMap::from([(
                        "SOFTWARE_TOKEN_MFA_CODE".to_owned(),
                        self.totp_code(totp).await,
                    )]),
                )
            };
            responses.insert("USERNAME".to_owned(), user_id.clone());
            self.add_secret_hash(&mut responses, &user_id);
            let out = self
                .client
                .respond_to_auth_challenge()
                .client_id(&self.settings.app_id)
                .set_challenge_name(challenge.clone())
                .set_challenge_responses(Some(responses))
                .set_session(session)
                .set_client_metadata(self.metadata())
                .send()
                .await
                .map_err(|e| classify(call, e))?;
            if let Some(result) = out.authentication_result {
                return tokens_from(result, None, &user_id, &self.server_clock);
            }
            (challenge, session, parameters) =
                (out.challenge_name, out.session, out.challenge_parameters);
        }
        Err(challenge_error(challenge.as_ref()))
    }

    /// The current TOTP code on Cognito's clock; when this step's code was already sent (a
    /// sign-in moments ago), waits for the next step, since Cognito refuses a code twice.
    async fn totp_code(&self, totp: &Totp) -> String {
        loop {
            let now = u64::try_from(self.server_clock.cognito_now().unix_timestamp()).unwrap_or(0);
            match totp.code_at(now) {
                Ok(code) => return code,
                Err(wait) => {
                    info!(
                        event = "totp_wait",
                        wait_s = wait.as_secs(),
                        "this step's TOTP code was already used; waiting for the next step"
                    );
                    tokio::time::sleep(wait + Duration::from_millis(200)).await;
                }
            }
        }
    }

    fn add_secret_hash(&self, params: &mut HashMap<String, String>, username: &str) {
        if let Some(secret) = &self.settings.client_secret {
            params.insert(
                "SECRET_HASH".to_owned(),
                secret_hash(secret.expose(), username, &self.settings.app_id),
            );
        }
    }

    fn metadata(&self) -> Option<HashMap<String, String>> {
        (!self.settings.metadata.is_empty()).then(|| {
            self.settings
                .metadata
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
    }
}

/// Tokens from an AuthenticationResult; the expiry is the earlier of ExpiresIn and the ID token's
/// own `exp`, since the identity pool checks the latter.
fn tokens_from(
    result: AuthenticationResultType,
    refresh_token: Option<Secret>,
    fallback_user_id: &str,
    server_clock: &ServerClock,
) -> Result<Tokens, UpstreamError> {
    const CALL: &str = "InitiateAuth";
    let id_token = result
        .id_token
        .ok_or_else(|| UpstreamError::bad_response(CALL, "no ID token in the answer"))?;
    let access_token = result
        .access_token
        .ok_or_else(|| UpstreamError::bad_response(CALL, "no access token in the answer"))?;
    let expires_in = u64::try_from(result.expires_in)
        .ok()
        .filter(|s| *s > 0)
        .ok_or_else(|| UpstreamError::bad_response(CALL, "ExpiresIn is not positive"))?;
    let mut expiry = Expiry::after(Duration::from_secs(expires_in));
    let claims = jwt::claims(&id_token).unwrap_or_default();
    if let Some(exp) = claims
        .exp
        .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
    {
        expiry = expiry.min(Expiry::at_wall_time(exp, server_clock.cognito_ahead_by()));
    }
    let user_id = claims
        .username
        .unwrap_or_else(|| fallback_user_id.to_owned());
    Ok(Tokens {
        id_token: Secret::new(id_token),
        access_token: Secret::new(access_token),
        refresh_token: result.refresh_token.map(Secret::new).or(refresh_token),
        expiry,
        user_id,
    })
}

/// A challenge the daemon cannot answer, with what the user must do about it.
fn challenge_error(challenge: Option<&ChallengeNameType>) -> UpstreamError {
    let Some(challenge) = challenge else {
        return UpstreamError::bad_response("InitiateAuth", "neither tokens nor a challenge");
    };
    let action = match challenge {
        ChallengeNameType::NewPasswordRequired => {
            "the user must choose a permanent password first (sign in once interactively, or \
             an administrator runs `aws cognito-idp admin-set-user-password --permanent`), \
             then reload cognitod"
        }
        ChallengeNameType::SoftwareTokenMfa | ChallengeNameType::SelectMfaType => {
            "the user has TOTP MFA: give cognitod the user's TOTP seed (cognito.totp_secret in \
             the config file, COGNITO_TOTP_SECRET, the systemd credential totp_secret or \
             --totp-secret-file), or let this host be a remembered device, or use an app client \
             or user without MFA"
        }
        ChallengeNameType::MfaSetup => {
            "the user pool requires MFA and the user has none: enrol TOTP with `cognitod \
             configure` (it stores the seed like the password), or use a user or pool without \
             required MFA"
        }
        ChallengeNameType::SmsMfa => {
            "cognitod signs in unattended and cannot receive SMS codes: have an administrator \
             switch this user to TOTP MFA (`cognitod configure` enrols it), let this host be a \
             remembered device, or use an app client or user without MFA"
        }
        _ if matches!(challenge.as_str(), "EMAIL_OTP" | "EMAIL_MFA") => {
            "cognitod signs in unattended and cannot receive e-mailed codes: have an \
             administrator switch this user to TOTP MFA (`cognitod configure` enrols it), let \
             this host be a remembered device, or use an app client or user without MFA"
        }
        _ => "this challenge is not supported; use a user that signs in with the password alone",
    };
    UpstreamError::ChallengeRequired {
        challenge: challenge.as_str().to_owned(),
        action,
    }
}
