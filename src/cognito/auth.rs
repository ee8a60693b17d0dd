//! User-pool sign-in: USER_SRP_AUTH, USER_PASSWORD_AUTH and REFRESH_TOKEN_AUTH, with SECRET_HASH
//! on every call when the app client has a secret.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_cognitoidentityprovider as idp;
use idp::operation::associate_software_token::AssociateSoftwareTokenOutput;
use idp::operation::initiate_auth::InitiateAuthOutput;
use idp::types::{
    AuthFlowType, AuthenticationResultType, ChallengeNameType, DeviceRememberedStatusType,
    DeviceSecretVerifierConfigType, SoftwareTokenMfaSettingsType, VerifySoftwareTokenResponseType,
};
use time::OffsetDateTime;
use tracing::{info, warn};

use super::device::{device_name, Device};
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

/// TOTP enrolment during a sign-in, for `cognitod configure`: answers MFA_SETUP with a new
/// authenticator, or enrols one after a sign-in (`UserPool::enrol_totp`). The person is shown
/// the otpauth URI, and may be asked for a code of the authenticator the user already has.
pub(crate) struct Enrolment {
    /// Shows the `otpauth://` URI of the new seed to the person (it holds the seed).
    show: Box<dyn Fn(&Secret) + Send + Sync>,
    /// Asks the person for a current code of the user's present authenticator, when sign-in
    /// needs one and no seed is configured (re-enrolment); None when nobody can be asked.
    ask_code: Option<Box<dyn Fn() -> Option<String> + Send + Sync>>,
    /// The new seed, once VerifySoftwareToken accepted a code made from it.
    seed: Mutex<Option<Secret>>,
}

impl Enrolment {
    /// An enrolment showing the URI with `show`, and asking codes with `ask_code` if given.
    pub fn new(
        show: impl Fn(&Secret) + Send + Sync + 'static,
        ask_code: Option<Box<dyn Fn() -> Option<String> + Send + Sync>>,
    ) -> Self {
        Enrolment {
            show: Box::new(show),
            ask_code,
            seed: Mutex::new(None),
        }
    }

    /// The seed of the authenticator enrolled, if one was.
    pub fn seed(&self) -> Option<Secret> {
        self.seed.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
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
    /// This host as a remembered device of the pool, once a sign-in made it one.
    device: Arc<Mutex<Option<Device>>>,
    /// TOTP enrolment, in `cognitod configure` only: the daemon never enrols.
    enrolment: Option<Arc<Enrolment>>,
}

/// The call that answers SOFTWARE_TOKEN_MFA with a code, as errors name it.
const SOFTWARE_TOKEN_MFA_CALL: &str = "RespondToAuthChallenge(SOFTWARE_TOKEN_MFA)";

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
            device: Arc::default(),
            enrolment: None,
        }
    }

    /// The same client, enrolling TOTP when sign-in answers MFA_SETUP (and asking the person for
    /// a code, if the enrolment can, when the user has TOTP and no seed is configured).
    pub(crate) fn with_enrolment(mut self, enrolment: Arc<Enrolment>) -> Self {
        self.enrolment = Some(enrolment);
        self
    }

    /// Enrols a new TOTP authenticator for a signed-in user and makes TOTP the user's preferred
    /// MFA: AssociateSoftwareToken with the access token, VerifySoftwareToken with a code from
    /// the new seed, SetUserMFAPreference. It replaces any authenticator the user had.
    pub async fn enrol_totp(&self, tokens: &Tokens) -> Result<(), UpstreamError> {
        const CALL: &str = "AssociateSoftwareToken";
        let enrolment = self.enrolment.as_ref().ok_or_else(|| {
            UpstreamError::bad_response(CALL, "no enrolment was asked for this sign-in")
        })?;
        // The SDK takes plain Strings; this copy lives until the calls return.
        let access_token = tokens.access_token.expose();
        let out = self
            .client
            .associate_software_token()
            .access_token(access_token)
            .send()
            .await
            .map_err(|e| classify(CALL, e))?;
        let (seed, _) = associated_seed(out)?;
        self.verify_seed(enrolment, seed, Some(access_token), None)
            .await?;
        let settings = SoftwareTokenMfaSettingsType::builder()
            .enabled(true)
            .preferred_mfa(true)
            .build();
        self.client
            .set_user_mfa_preference()
            .access_token(access_token)
            .software_token_mfa_settings(settings)
            .send()
            .await
            .map_err(|e| classify("SetUserMFAPreference", e))?;
        Ok(())
    }

    /// MFA_SETUP: AssociateSoftwareToken with the challenge's session, then VerifySoftwareToken;
    /// returns the session that completes the challenge.
    async fn enrol_in_setup(
        &self,
        enrolment: &Enrolment,
        session: Option<String>,
        params: &HashMap<String, String>,
    ) -> Result<Option<String>, UpstreamError> {
        const CALL: &str = "AssociateSoftwareToken";
        // A JSON list inside a string: ["SOFTWARE_TOKEN_MFA","SMS_MFA"].
        if let Some(can) = params.get("MFAS_CAN_SETUP") {
            if !can.contains("SOFTWARE_TOKEN_MFA") {
                return Err(UpstreamError::ChallengeRequired {
                    challenge: format!("MFA_SETUP (offering {can})"),
                    action: "the user pool does not offer TOTP (software token) MFA, the only \
                             kind cognitod can set up: turn it on in the pool's MFA settings",
                });
            }
        }
        let out = self
            .client
            .associate_software_token()
            .set_session(session)
            .send()
            .await
            .map_err(|e| classify(CALL, e))?;
        let (seed, session) = associated_seed(out)?;
        self.verify_seed(enrolment, seed, None, session).await
    }

    /// VerifySoftwareToken with the new seed's current code (authorised by the access token or
    /// the session); once Cognito accepted it, shows the seed's URI and keeps the seed.
    async fn verify_seed(
        &self,
        enrolment: &Enrolment,
        seed: Secret,
        access_token: Option<&str>,
        session: Option<String>,
    ) -> Result<Option<String>, UpstreamError> {
        const CALL: &str = "VerifySoftwareToken";
        let unusable = |_| UpstreamError::bad_response(CALL, "the SecretCode is not base32");
        let totp = Totp::new(&seed).map_err(unusable)?;
        let issuer = format!("Cognito {}", self.settings.user_pool_id);
        let uri =
            super::totp::otpauth_uri(&seed, &self.settings.username, &issuer).map_err(unusable)?;
        // A code sent in the last moment of its step may arrive in the next one.
        let now = || u64::try_from(self.server_clock.cognito_now().unix_timestamp()).unwrap_or(0);
        let left = Totp::step_left(now());
        if left < Duration::from_secs(2) {
            tokio::time::sleep(left + Duration::from_millis(100)).await;
        }
        let out = self
            .client
            .verify_software_token()
            .set_access_token(access_token.map(str::to_owned))
            .set_session(session)
            .user_code(self.totp_code(&totp).await)
            .friendly_device_name(device_name())
            .send()
            .await
            .map_err(|e| classify(CALL, e))?;
        if out.status != Some(VerifySoftwareTokenResponseType::Success) {
            return Err(UpstreamError::Refused {
                call: CALL,
                code: "VerifySoftwareTokenError".into(),
                message: format!("status {:?}", out.status.as_ref().map(|s| s.as_str())),
                hint: "Cognito did not accept the code made from the new seed: check the host \
                       clock, then run cognitod configure again",
            });
        }
        // Shown once Cognito accepted it: a URI shown before could name an authenticator that
        // never came to be.
        (enrolment.show)(&uri);
        *enrolment.seed.lock().unwrap_or_else(|e| e.into_inner()) = Some(seed);
        Ok(out.session)
    }

    /// Cognito's clock as this pool's answers told it.
    pub fn server_clock(&self) -> &ServerClock {
        &self.server_clock
    }

    /// A full sign-in with the password (and this host's device, once it is a remembered one).
    pub async fn sign_in(&self) -> Result<Tokens, UpstreamError> {
        let result = self.sign_in_with_device().await;
        let code_refused = matches!(&result, Err(UpstreamError::Refused { call, code, .. })
            if *call == SOFTWARE_TOKEN_MFA_CALL && code == "CodeMismatchException");
        if code_refused && self.totp.is_some() {
            // Cognito takes a code once: another process with the same seed (`cognitod
            // configure` or `check --login` moments ago, a restart) may have used this step's.
            // The next step's code tells that apart from a wrong seed; it is waited for.
            info!(
                event = "totp_code_refused",
                "Cognito refused this step's TOTP code (used already by another process, or \
                 the seed is wrong); signing in again with the next step's"
            );
            return self.sign_in_with_device().await;
        }
        result
    }

    async fn sign_in_with_device(&self) -> Result<Tokens, UpstreamError> {
        let result = self.sign_in_once().await;
        let device_refused =
            matches!(&result, Err(UpstreamError::Refused { call, .. }) if call.contains("DEVICE_"));
        if device_refused && self.device_key().is_some() {
            // The pool forgot the device (an administrator, or its limit): sign in as a new one.
            warn!(
                event = "device_forgotten",
                "the user pool refused this host's device; signing in without it"
            );
            *self.device.lock().unwrap_or_else(|e| e.into_inner()) = None;
            return self.sign_in_once().await;
        }
        result
    }

    async fn sign_in_once(&self) -> Result<Tokens, UpstreamError> {
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
            .set_device_key(self.device_key())
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
        // The SDK forces a plain String (see sign_in_password); dropped when the call returns.
        let params = HashMap::from([(
            "REFRESH_TOKEN".to_owned(),
            refresh_token.expose().to_owned(),
        )]);
        let out = self
            .initiate_auth(
                AuthFlowType::RefreshTokenAuth,
                params,
                &previous.user_id,
                "InitiateAuth(REFRESH_TOKEN_AUTH)",
            )
            .await?;
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
        // The SDK forces a plain String here: its parameter map takes Strings by value, and it
        // serialises them into a request body of its own. This copy and the SDK's are dropped
        // (not zeroed) when the call returns; SRP, the default, sends no password at all.
        let params = HashMap::from([
            ("USERNAME".to_owned(), self.settings.username.clone()),
            (
                "PASSWORD".to_owned(),
                self.settings.password.expose().to_owned(),
            ),
        ]);
        let out = self
            .initiate_auth(
                AuthFlowType::UserPasswordAuth,
                params,
                &self.settings.username,
                "InitiateAuth(USER_PASSWORD_AUTH)",
            )
            .await?;
        match out.authentication_result {
            Some(result) => self.signed_in(result, &self.settings.username).await,
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
        let params = HashMap::from([
            ("USERNAME".to_owned(), self.settings.username.clone()),
            ("SRP_A".to_owned(), srp.public_a_hex()),
        ]);
        let out = self
            .initiate_auth(
                AuthFlowType::UserSrpAuth,
                params,
                &self.settings.username,
                CALL,
            )
            .await?;
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
        let params = HashMap::from([
            ("USERNAME".to_owned(), self.settings.username.clone()),
            ("PREFERRED_CHALLENGE".to_owned(), "PASSWORD_SRP".to_owned()),
            ("SRP_A".to_owned(), srp.public_a_hex()),
        ]);
        let out = self
            .initiate_auth(
                AuthFlowType::UserAuth,
                params,
                &self.settings.username,
                CALL,
            )
            .await?;
        if let Some(result) = out.authentication_result {
            return self.signed_in(result, &self.settings.username).await;
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
            // The SDK forces a plain String (see sign_in_password); dropped when the call returns.
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
            return self.signed_in(result, username).await;
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
        self.add_device_key(&mut responses);
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
            Some(result) => self.signed_in(result, &user_id).await,
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

    /// Answers the challenges that follow a correct password: a remembered device's proof
    /// (DEVICE_SRP_AUTH, DEVICE_PASSWORD_VERIFIER), or MFA by TOTP (SELECT_MFA_TYPE,
    /// SOFTWARE_TOKEN_MFA) from the configured seed; with an enrolment (configure), MFA_SETUP
    /// by enrolling, and TOTP by a code the person types. Any other challenge, or MFA without a
    /// seed, ends in an error that says what the administrator can do.
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
        // The device's SRP exchange spans its two challenges.
        let mut device_srp = None;
        // Two challenges at most follow the password (type, then code; or the device's two).
        for _ in 0..2 {
            let params = parameters.unwrap_or_default();
            if let Some(id) = params.get("USER_ID_FOR_SRP") {
                user_id.clone_from(id);
            }
            if let (Some(ChallengeNameType::MfaSetup), Some(enrolment)) =
                (&challenge, &self.enrolment)
            {
                session = self.enrol_in_setup(enrolment, session, &params).await?;
            }
            let (call, mut responses) = self
                .answer_for(challenge.as_ref(), &params, &mut device_srp)
                .await?;
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
                return self.signed_in(result, &user_id).await;
            }
            (challenge, session, parameters) =
                (out.challenge_name, out.session, out.challenge_parameters);
        }
        Err(challenge_error(challenge.as_ref()))
    }

    /// The call name and the responses (without USERNAME and SECRET_HASH) for one challenge.
    async fn answer_for(
        &self,
        challenge: Option<&ChallengeNameType>,
        params: &HashMap<String, String>,
        device_srp: &mut Option<SrpClient>,
    ) -> Result<(&'static str, HashMap<String, String>), UpstreamError> {
        let device = self
            .device
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        match (challenge, device) {
            (Some(ChallengeNameType::DeviceSrpAuth), Some(device)) => {
                let srp = SrpClient::new();
                let responses = HashMap::from([
                    ("SRP_A".to_owned(), srp.public_a_hex()),
                    ("DEVICE_KEY".to_owned(), device.key),
                ]);
                *device_srp = Some(srp);
                return Ok(("RespondToAuthChallenge(DEVICE_SRP_AUTH)", responses));
            }
            (Some(ChallengeNameType::DevicePasswordVerifier), Some(device)) => {
                const CALL: &str = "RespondToAuthChallenge(DEVICE_PASSWORD_VERIFIER)";
                let srp = device_srp.as_ref().ok_or_else(|| {
                    UpstreamError::bad_response(
                        CALL,
                        "DEVICE_PASSWORD_VERIFIER before DEVICE_SRP_AUTH",
                    )
                })?;
                let field = |name: &'static str| {
                    params.get(name).map(String::as_str).ok_or_else(|| {
                        UpstreamError::bad_response(
                            CALL,
                            format!("the DEVICE_PASSWORD_VERIFIER challenge has no {name}"),
                        )
                    })
                };
                let challenge = Challenge {
                    salt_hex: field("SALT")?,
                    b_hex: field("SRP_B")?,
                    secret_block_b64: field("SECRET_BLOCK")?,
                    user_id_for_srp: &device.key,
                };
                let timestamp = cognito_timestamp(self.server_clock.cognito_now());
                let signature = srp
                    .device_claim_signature(
                        &device.group_key,
                        &challenge,
                        device.password.expose(),
                        &timestamp,
                    )
                    .map_err(|e| UpstreamError::bad_response(CALL, e.to_string()))?;
                let responses = HashMap::from([
                    ("TIMESTAMP".to_owned(), timestamp),
                    (
                        "PASSWORD_CLAIM_SECRET_BLOCK".to_owned(),
                        challenge.secret_block_b64.to_owned(),
                    ),
                    ("PASSWORD_CLAIM_SIGNATURE".to_owned(), signature),
                    ("DEVICE_KEY".to_owned(), device.key.clone()),
                ]);
                return Ok((CALL, responses));
            }
            _ => {}
        }
        if challenge == Some(&ChallengeNameType::MfaSetup) && self.enrolment.is_some() {
            // The session from VerifySoftwareToken completes it.
            return Ok(("RespondToAuthChallenge(MFA_SETUP)", HashMap::new()));
        }
        let typed_code = self
            .enrolment
            .as_ref()
            .and_then(|e| e.ask_code.as_ref())
            .filter(|_| self.totp.is_none());
        if let (Some(ask), Some(ChallengeNameType::SoftwareTokenMfa)) = (typed_code, challenge) {
            // Re-enrolment: the person types a code of the user's present authenticator.
            let code = ask().ok_or_else(|| challenge_error(challenge))?;
            return Ok((
                SOFTWARE_TOKEN_MFA_CALL,
                HashMap::from([("SOFTWARE_TOKEN_MFA_CODE".to_owned(), code)]),
            ));
        }
        let totp = match (challenge, &self.totp) {
            (Some(ChallengeNameType::SelectMfaType), None) if typed_code.is_some() => {
                return Ok((
                    "RespondToAuthChallenge(SELECT_MFA_TYPE)",
                    HashMap::from([("ANSWER".to_owned(), "SOFTWARE_TOKEN_MFA".to_owned())]),
                ))
            }
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
                        hint: "give the SecretCode that AssociateSoftwareToken returned when \
                               the user enrolled TOTP",
                    })
                }
            },
            _ => return Err(challenge_error(challenge)),
        };
        Ok(if challenge == Some(&ChallengeNameType::SelectMfaType) {
            (
                "RespondToAuthChallenge(SELECT_MFA_TYPE)",
                HashMap::from([("ANSWER".to_owned(), "SOFTWARE_TOKEN_MFA".to_owned())]),
            )
        } else {
            (
                SOFTWARE_TOKEN_MFA_CALL,
                HashMap::from([(
                    "SOFTWARE_TOKEN_MFA_CODE".to_owned(),
                    self.totp_code(totp).await,
                )]),
            )
        })
    }

    /// Tokens from a completed sign-in; when Cognito sent `NewDeviceMetadata` (the pool
    /// remembers devices), confirms this host as a device first, so the next sign-in can prove
    /// the device instead of answering MFA. A device that cannot be confirmed is logged and
    /// forgotten; the sign-in still counts.
    async fn signed_in(
        &self,
        result: AuthenticationResultType,
        user_id: &str,
    ) -> Result<Tokens, UpstreamError> {
        if let (Some(metadata), Some(access_token)) =
            (&result.new_device_metadata, &result.access_token)
        {
            if let (Some(key), Some(group_key)) = (&metadata.device_key, &metadata.device_group_key)
            {
                match self.confirm_device(access_token, key, group_key).await {
                    Ok(device) => {
                        info!(
                            event = "device_remembered",
                            "this host is now a remembered device of the user pool"
                        );
                        *self.device.lock().unwrap_or_else(|e| e.into_inner()) = Some(device);
                    }
                    Err(err) => warn!(
                        event = "device_not_remembered",
                        error = %err,
                        "could not confirm this host as a device; signing in without one"
                    ),
                }
            }
        }
        tokens_from(result, None, user_id, &self.server_clock)
    }

    /// ConfirmDevice with a fresh device password's verifier, and UpdateDeviceStatus when the
    /// pool remembers devices only on the user's say-so.
    async fn confirm_device(
        &self,
        access_token: &str,
        key: &str,
        group_key: &str,
    ) -> Result<Device, UpstreamError> {
        let (device, verifier) = Device::new(key.to_owned(), group_key.to_owned());
        let config = DeviceSecretVerifierConfigType::builder()
            .password_verifier(verifier.password_verifier_b64)
            .salt(verifier.salt_b64)
            .build();
        let out = self
            .client
            .confirm_device()
            .access_token(access_token)
            .device_key(key)
            .device_secret_verifier_config(config)
            .device_name(device_name())
            .send()
            .await
            .map_err(|e| classify("ConfirmDevice", e))?;
        if out.user_confirmation_necessary {
            self.client
                .update_device_status()
                .access_token(access_token)
                .device_key(key)
                .device_remembered_status(DeviceRememberedStatusType::Remembered)
                .send()
                .await
                .map_err(|e| classify("UpdateDeviceStatus", e))?;
        }
        Ok(device)
    }

    /// InitiateAuth with SECRET_HASH (over `hashed_user`) and DEVICE_KEY added to `params`.
    async fn initiate_auth(
        &self,
        flow: AuthFlowType,
        mut params: HashMap<String, String>,
        hashed_user: &str,
        call: &'static str,
    ) -> Result<InitiateAuthOutput, UpstreamError> {
        self.add_secret_hash(&mut params, hashed_user);
        self.add_device_key(&mut params);
        self.client
            .initiate_auth()
            .auth_flow(flow)
            .client_id(&self.settings.app_id)
            .set_auth_parameters(Some(params))
            .set_client_metadata(self.metadata())
            .send()
            .await
            .map_err(|e| classify(call, e))
    }

    /// DEVICE_KEY for sign-ins and refreshes, once this host is a remembered device.
    /// This host's device, when the pool remembers it (kept across restarts by `fd_state`).
    pub(crate) fn remembered_device(&self) -> Option<Device> {
        self.device
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Takes back a device a previous process of the service had confirmed.
    pub(crate) fn remember_device(&self, device: Device) {
        *self.device.lock().unwrap_or_else(|e| e.into_inner()) = Some(device);
    }

    fn device_key(&self) -> Option<String> {
        self.device
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|d| d.key.clone())
    }

    fn add_device_key(&self, params: &mut HashMap<String, String>) {
        if let Some(key) = self.device_key() {
            params.insert("DEVICE_KEY".to_owned(), key);
        }
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

/// The new seed that AssociateSoftwareToken answered, as a secret, and the session to go on
/// with when the call was made with one.
fn associated_seed(
    out: AssociateSoftwareTokenOutput,
) -> Result<(Secret, Option<String>), UpstreamError> {
    let seed = out.secret_code.ok_or_else(|| {
        UpstreamError::bad_response("AssociateSoftwareToken", "no SecretCode in the answer")
    })?;
    Ok((Secret::new(seed), out.session))
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
             --totp-secret-file; `cognitod configure --totp-secret-file FILE` stores it), or \
             enrol a new authenticator whose seed cognitod keeps with `cognitod configure \
             --enrol-totp` (it replaces the user's present one), or let this host be a \
             remembered device, or use an app client or user without MFA"
        }
        ChallengeNameType::MfaSetup => {
            "the user pool requires MFA and the user has none: run `cognitod configure`, which \
             enrols a TOTP authenticator (asking first, or at once with --enrol-totp) and stores \
             its seed as cognito.totp_secret, or use a user or pool without required MFA"
        }
        ChallengeNameType::SmsMfa => {
            "cognitod signs in unattended and cannot receive SMS codes: have an administrator \
             switch this user to TOTP MFA and give cognitod the seed (cognito.totp_secret), let \
             this host be a remembered device, or use an app client or user without MFA"
        }
        _ if matches!(challenge.as_str(), "EMAIL_OTP" | "EMAIL_MFA") => {
            "cognitod signs in unattended and cannot receive e-mailed codes: have an \
             administrator switch this user to TOTP MFA and give cognitod the seed \
             (cognito.totp_secret), let this host be a remembered device, or use an app client \
             or user without MFA"
        }
        _ => "this challenge is not supported; use a user that signs in with the password alone",
    };
    UpstreamError::ChallengeRequired {
        challenge: challenge.as_str().to_owned(),
        action,
    }
}
