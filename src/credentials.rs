//! The credential cache, the heart of the daemon: the only owner of credentials and tokens.
//!
//! One background task (the refresher) talks to Cognito; clients only ever read what it last
//! published, so a thousand clients arriving together cause one sign-in (single flight by
//! construction), and a client is answered from memory. The refresher renews ahead of expiry with
//! jitter, retries transient failures with exponential back-off, does not hammer a refusal, and
//! keeps serving still-valid credentials while renewal fails; expired ones are never served.
//!
//! Each answer is rendered once, when the credentials change, into zero-on-drop bytes; serving is a
//! pointer copy and a write.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{debug, error, info, warn};

use crate::cognito::auth::{Tokens, UserPool};
use crate::cognito::identity::{AwsCredentials, IdentityPool};
use crate::cognito::UpstreamError;
use crate::documents::Documents;
use crate::expiry::Expiry;

/// How long a client that arrives before the first sign-in finished waits for it: below every
/// SDK's 5 s credential timeout, above a normal Cognito round trip.
pub const FIRST_ANSWER_WAIT: Duration = Duration::from_secs(3);
/// Renewal starts when this much (or a third of the lifetime, if less) remains.
const MAX_REFRESH_MARGIN: Duration = Duration::from_secs(20 * 60);
/// Credentials are withdrawn this long (or a tenth of their lifetime, if less) before they expire,
/// so a client never receives something that dies in its hands.
const MAX_SERVE_MARGIN: Duration = Duration::from_secs(60);
/// First retry delay after a transient failure; doubles per attempt.
const BACKOFF_BASE: Duration = Duration::from_secs(1);
/// Longest delay between retries of a transient failure (the rate limit once retries go on).
const BACKOFF_CAP: Duration = Duration::from_secs(30);
/// Delay before asking again after Cognito refused us (wrong password, missing role...): slow
/// enough not to hammer the pool, fast enough to recover once someone fixes the other side.
const REFUSED_RETRY: Duration = Duration::from_secs(15 * 60);

/// What the refresher obtains: IAM credentials or the user-pool tokens.
#[derive(Debug, Clone)]
pub enum Material {
    /// Identity-pool credentials.
    Iam(AwsCredentials),
    /// User-pool tokens.
    Tokens(Tokens),
}

impl Material {
    fn expiry(&self) -> Expiry {
        match self {
            Material::Iam(c) => c.expiry,
            Material::Tokens(t) => t.expiry,
        }
    }
}

/// An answer ready to send, rendered once per renewal in every format a client may ask for.
pub struct Issued {
    /// The documents, zeroed when the last client is done with them.
    pub documents: Documents,
    /// When the material expires.
    pub expiry: Expiry,
    /// Last moment it may be handed out.
    pub serve_until: Instant,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued")
            .field("expires", &self.expiry.rfc3339())
            .finish_non_exhaustive()
    }
}

impl Issued {
    /// Renders the answers for new material.
    pub fn render(material: &Material, expose_refresh_token: bool) -> Issued {
        let expiry = material.expiry();
        let serve_margin = MAX_SERVE_MARGIN.min(expiry.lifetime / 10);
        Issued {
            documents: Documents::render(material, expose_refresh_token),
            serve_until: expiry
                .deadline
                .checked_sub(serve_margin)
                .unwrap_or(expiry.deadline),
            expiry,
        }
    }

    /// Whether it may still be handed out.
    pub fn is_servable(&self) -> bool {
        Instant::now() < self.serve_until
    }
}

/// Where the daemon stands with Cognito.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    /// The first sign-in is still being tried.
    Starting,
    /// The last attempt succeeded.
    Serving,
    /// The last attempt failed; `definitive` when retrying soon will not help or the first
    /// sign-in ran out of attempts.
    Failing {
        /// Whether the failure needs someone to act (or the attempts of the first sign-in are spent).
        definitive: bool,
    },
}

/// What the refresher last published.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The latest answer, possibly no longer servable.
    pub issued: Option<Arc<Issued>>,
    /// Where things stand.
    pub phase: Phase,
    /// The last failure, for status and health reports (never holds a secret).
    pub last_error: Option<String>,
}

impl Snapshot {
    fn starting() -> Self {
        Snapshot {
            issued: None,
            phase: Phase::Starting,
            last_error: None,
        }
    }

    /// The answer to hand out now, or why there is none.
    pub fn answer(&self) -> Result<Arc<Issued>, String> {
        match &self.issued {
            Some(issued) if issued.is_servable() => Ok(issued.clone()),
            // Withdrawn a little before they expire, so the time may still be ahead.
            Some(issued) => Err(match &self.last_error {
                Some(err) => format!(
                    "credentials expire at {} (too soon to hand out) and could not be renewed: {err}",
                    issued.expiry.rfc3339()
                ),
                None => format!(
                    "credentials expire at {} (too soon to hand out), renewing",
                    issued.expiry.rfc3339()
                ),
            }),
            None => Err(match &self.last_error {
                Some(err) => err.clone(),
                None => "signing in to Cognito, try again in a moment".to_owned(),
            }),
        }
    }

    /// Whether the first sign-in has succeeded or definitively failed (time to report readiness).
    pub fn settled(&self) -> bool {
        !matches!(self.phase, Phase::Starting)
    }
}

/// The read side of the cache, cloned into every connection handler.
#[derive(Clone)]
pub struct CredentialStore {
    published: watch::Receiver<Arc<Snapshot>>,
}

impl CredentialStore {
    /// What the refresher last published.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.published.borrow().clone()
    }

    /// The answer to hand out; before the first sign-in has finished, waits for it up to `wait`.
    pub async fn answer(&self, wait: Duration) -> Result<Arc<Issued>, String> {
        let snapshot = self.snapshot();
        if snapshot.phase != Phase::Starting || snapshot.issued.is_some() {
            return snapshot.answer();
        }
        let mut published = self.published.clone();
        let waited = tokio::time::timeout(
            wait,
            published.wait_for(|s| s.phase != Phase::Starting || s.last_error.is_some()),
        )
        .await;
        match waited {
            Ok(Ok(snapshot)) => snapshot.answer(),
            // Timed out, or the refresher is gone (shutting down): say why there is nothing.
            _ => self.snapshot().answer(),
        }
    }

    /// Waits until the first sign-in has succeeded or definitively failed.
    pub async fn settled(&self) {
        let mut published = self.published.clone();
        let _ = published.wait_for(|s| s.settled()).await;
    }

    /// Changes to the published state, for status reporting.
    pub fn subscribe(&self) -> watch::Receiver<Arc<Snapshot>> {
        self.published.clone()
    }
}

/// Where renewed material comes from; Cognito in the daemon, a scripted fake in tests.
pub trait Upstream: Send + 'static {
    /// Obtains fresh material (signing in, refreshing tokens, exchanging them, as needed).
    fn obtain(&mut self) -> impl Future<Output = Result<Material, UpstreamError>> + Send;
}

/// How hard the refresher tries.
#[derive(Debug, Clone)]
pub struct RefreshPolicy {
    /// Attempts of the first sign-in before failure is reported as definitive.
    pub first_attempts: u32,
    /// Whether tokens mode hands out the refresh token.
    pub expose_refresh_token: bool,
}

/// Starts the refresher task; returns the read side and the task.
pub fn start<U: Upstream>(
    upstream: U,
    policy: RefreshPolicy,
) -> (CredentialStore, tokio::task::JoinHandle<()>) {
    let (publish, published) = watch::channel(Arc::new(Snapshot::starting()));
    let task = tokio::spawn(refresh_loop(upstream, policy, publish));
    (CredentialStore { published }, task)
}

/// Renew when less than min(20 min, lifetime / 3) remains, minus up to a fifth of that again at
/// random, so that a fleet started together spreads its calls on Cognito's per-pool quota.
pub fn renewal_time(expiry: &Expiry) -> Instant {
    let margin = MAX_REFRESH_MARGIN.min(expiry.lifetime / 3);
    let jitter = margin.mul_f64(rand::thread_rng().gen_range(0.0..0.2));
    expiry
        .deadline
        .checked_sub(margin + jitter)
        .unwrap_or(expiry.deadline)
}

/// Full-jitter exponential back-off: half the nominal delay, plus up to half again at random.
fn backoff(attempt: u32) -> Duration {
    let nominal = BACKOFF_BASE
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
        .min(BACKOFF_CAP);
    nominal / 2 + nominal.mul_f64(rand::thread_rng().gen_range(0.0..0.5))
}

async fn refresh_loop<U: Upstream>(
    mut upstream: U,
    policy: RefreshPolicy,
    publish: watch::Sender<Arc<Snapshot>>,
) {
    let mut failures: u32 = 0;
    let mut ever_succeeded = false;
    loop {
        let started = Instant::now();
        let outcome = upstream.obtain().await;
        let took = started.elapsed();
        let previous = publish.borrow().issued.clone();
        let next_attempt = match outcome {
            Ok(material) => {
                let issued = Arc::new(Issued::render(&material, policy.expose_refresh_token));
                let renew_at = renewal_time(&issued.expiry);
                info!(
                    event = "renewed",
                    valid_until = %issued.expiry.rfc3339(),
                    lifetime_s = issued.expiry.lifetime.as_secs(),
                    next_renewal_in_s = renew_at.saturating_duration_since(Instant::now()).as_secs(),
                    took_ms = took.as_millis() as u64,
                    "credentials obtained"
                );
                publish.send_replace(Arc::new(Snapshot {
                    issued: Some(issued),
                    phase: Phase::Serving,
                    last_error: None,
                }));
                failures = 0;
                ever_succeeded = true;
                // Never spin, even on material that arrived (nearly) expired.
                renew_at.max(Instant::now() + BACKOFF_BASE)
            }
            Err(err) => {
                failures += 1;
                let transient = err.is_transient();
                let definitive =
                    !transient || (!ever_succeeded && failures >= policy.first_attempts);
                let phase = if !ever_succeeded && !definitive {
                    Phase::Starting
                } else {
                    Phase::Failing { definitive }
                };
                let delay = if transient {
                    backoff(failures)
                } else {
                    REFUSED_RETRY
                };
                let still_valid = previous.as_ref().is_some_and(|i| i.is_servable());
                if transient {
                    warn!(
                        event = "renewal_failed",
                        error = %err,
                        attempt = failures,
                        retry_in_s = delay.as_secs(),
                        still_serving = still_valid,
                        "could not reach Cognito, retrying"
                    );
                } else {
                    error!(
                        event = "renewal_refused",
                        error = %err,
                        retry_in_s = delay.as_secs(),
                        still_serving = still_valid,
                        "Cognito refused the sign-in; fix the configuration and reload"
                    );
                }
                publish.send_replace(Arc::new(Snapshot {
                    issued: previous,
                    phase,
                    last_error: Some(err.to_string()),
                }));
                Instant::now() + delay
            }
        };
        debug!(
            in_s = next_attempt
                .saturating_duration_since(Instant::now())
                .as_secs(),
            "next renewal scheduled"
        );
        tokio::select! {
            _ = tokio::time::sleep_until(next_attempt) => {}
            _ = publish.closed() => return,
        }
    }
}

/// The real upstream: the user pool, and the identity pool in IAM mode.
pub struct CognitoUpstream {
    pool: UserPool,
    identity: Option<IdentityPool>,
    tokens: Option<Tokens>,
}

impl CognitoUpstream {
    /// IAM mode when `identity` is given, tokens mode otherwise.
    pub fn new(pool: UserPool, identity: Option<IdentityPool>) -> Self {
        CognitoUpstream {
            pool,
            identity,
            tokens: None,
        }
    }

    /// Tokens good enough for the next step: in tokens mode always new ones (that is what is being
    /// renewed); in IAM mode the current ones while the ID token has a quarter of its life left.
    async fn fresh_tokens(&mut self) -> Result<Tokens, UpstreamError> {
        let renew_tokens = self.identity.is_none();
        if let Some(current) = &self.tokens {
            let keep = current.expiry.lifetime / 4;
            if !renew_tokens && current.expiry.remaining() > keep.min(Duration::from_secs(300)) {
                return Ok(current.clone());
            }
            if current.refresh_token.is_some() {
                match self.pool.refresh(current).await {
                    Ok(tokens) => {
                        info!(event = "tokens_refreshed", "user-pool tokens refreshed");
                        self.tokens = Some(tokens.clone());
                        return Ok(tokens);
                    }
                    Err(err @ UpstreamError::Refused { .. }) => {
                        warn!(event = "refresh_refused", error = %err, "refresh token refused, signing in again");
                        self.tokens = None;
                    }
                    Err(err) => return Err(err),
                }
            }
        }
        let tokens = self.pool.sign_in().await?;
        info!(event = "signed_in", user = %tokens.user_id, "signed in to the user pool");
        self.tokens = Some(tokens.clone());
        Ok(tokens)
    }
}

impl Upstream for CognitoUpstream {
    async fn obtain(&mut self) -> Result<Material, UpstreamError> {
        let tokens = self.fresh_tokens().await?;
        let Some(identity) = &self.identity else {
            return Ok(Material::Tokens(tokens));
        };
        match identity.credentials(&tokens.id_token).await {
            Ok(credentials) => Ok(Material::Iam(credentials)),
            Err(err) => {
                if matches!(&err, UpstreamError::Refused { code, .. } if code == "NotAuthorizedException")
                {
                    // The identity pool refused the ID token: get new tokens next time.
                    self.tokens = None;
                }
                Err(err)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Mutex;

    use crate::secret::Secret;
    use tokio::time::sleep;

    /// A scripted upstream: each call takes `latency`, then pops the next scripted outcome (or
    /// repeats the default), and counts calls.
    struct Fake {
        calls: Arc<AtomicU32>,
        latency: Duration,
        lifetime: Duration,
        script: Arc<Mutex<VecDeque<Option<UpstreamError>>>>,
        failing: Arc<Mutex<Option<MakeError>>>,
    }

    /// Makes the error a failing fake upstream returns.
    type MakeError = fn() -> UpstreamError;

    fn unreachable() -> UpstreamError {
        UpstreamError::Unreachable {
            call: "InitiateAuth",
            detail: "connection refused".into(),
        }
    }

    fn refused() -> UpstreamError {
        UpstreamError::Refused {
            call: "InitiateAuth",
            code: "NotAuthorizedException".into(),
            message: "Incorrect username or password.".into(),
            hint: "check the password",
        }
    }

    impl Fake {
        fn new(lifetime: Duration) -> Self {
            Fake {
                calls: Arc::default(),
                latency: Duration::from_millis(20),
                lifetime,
                script: Arc::default(),
                failing: Arc::default(),
            }
        }
    }

    impl Upstream for Fake {
        async fn obtain(&mut self) -> Result<Material, UpstreamError> {
            let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
            sleep(self.latency).await;
            if let Some(scripted) = self.script.lock().unwrap().pop_front() {
                if let Some(err) = scripted {
                    return Err(err);
                }
            } else if let Some(fail) = *self.failing.lock().unwrap() {
                return Err(fail());
            }
            Ok(Material::Iam(AwsCredentials {
                access_key_id: format!("AKIA{n}"),
                secret_access_key: Secret::new(format!("secret{n}")),
                session_token: Secret::new(format!("token{n}")),
                expiry: Expiry::after(self.lifetime),
                account_id: None,
                role_arn: None,
            }))
        }
    }

    fn policy(first_attempts: u32) -> RefreshPolicy {
        RefreshPolicy {
            first_attempts,
            expose_refresh_token: false,
        }
    }

    /// Lets paused time pass in small steps, so the refresher runs as it would in real time.
    async fn pass(total: Duration) {
        let step = Duration::from_millis(100);
        let mut passed = Duration::ZERO;
        while passed < total {
            tokio::time::advance(step).await;
            tokio::task::yield_now().await;
            passed += step;
        }
    }

    fn parse(issued: &Issued) -> serde_json::Value {
        serde_json::from_slice(&issued.documents.raw).unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn a_thousand_clients_at_a_cold_start_cause_one_sign_in() {
        let fake = Fake::new(Duration::from_secs(3600));
        let calls = fake.calls.clone();
        let (store, _task) = start(fake, policy(3));
        let clients: Vec<_> = (0..1000)
            .map(|_| {
                let store = store.clone();
                tokio::spawn(async move { store.answer(FIRST_ANSWER_WAIT).await })
            })
            .collect();
        for client in clients {
            let issued = client
                .await
                .unwrap()
                .expect("every client gets credentials");
            assert_eq!(parse(&issued)["AccessKeyId"], "AKIA1");
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn renews_ahead_of_expiry_and_never_serves_expired_credentials() {
        // The emulator's 90-second credentials, followed over an hour of (paused) time.
        let fake = Fake::new(Duration::from_secs(90));
        let calls = fake.calls.clone();
        let (store, _task) = start(fake, policy(3));
        store.settled().await;
        let mut served = 0;
        let mut keys = std::collections::BTreeSet::new();
        for _ in 0..36_000 {
            let issued = store
                .answer(FIRST_ANSWER_WAIT)
                .await
                .expect("always servable");
            assert!(issued.expiry.remaining() > Duration::ZERO);
            // Renewal starts when a third of the lifetime is left, so well over that remains
            // minus the time a renewal takes.
            assert!(
                issued.expiry.remaining() >= Duration::from_secs(29),
                "{issued:?}"
            );
            keys.insert(parse(&issued)["AccessKeyId"].as_str().unwrap().to_owned());
            served += 1;
            tokio::time::advance(Duration::from_millis(100)).await;
        }
        assert_eq!(served, 36_000);
        let renewals = calls.load(Ordering::SeqCst);
        // An hour of 90 s credentials renewed at 54..60 s: 60..67 calls, never a storm.
        assert!((60..=68).contains(&renewals), "{renewals} renewals");
        assert_eq!(keys.len() as u32, renewals);
    }

    #[tokio::test(start_paused = true)]
    async fn keeps_serving_valid_credentials_while_upstream_is_down_then_errs_then_recovers() {
        let fake = Fake::new(Duration::from_secs(90));
        let calls = fake.calls.clone();
        let failing = fake.failing.clone();
        let (store, _task) = start(fake, policy(3));
        store.settled().await;
        let first = store.answer(FIRST_ANSWER_WAIT).await.unwrap();
        *failing.lock().unwrap() = Some(unreachable);

        // Until 9 s before expiry (a tenth of the lifetime), the old credentials are served.
        pass(Duration::from_secs(80)).await;
        let still = store.answer(FIRST_ANSWER_WAIT).await.unwrap();
        assert!(Arc::ptr_eq(&first, &still));
        // Then a clear error, never the expired credentials.
        pass(Duration::from_secs(2)).await;
        let err = store.answer(FIRST_ANSWER_WAIT).await.unwrap_err();
        assert!(err.contains("could not be renewed"), "{err}");
        assert!(err.contains("connection refused"), "{err}");
        pass(Duration::from_secs(120)).await;
        assert!(store.answer(FIRST_ANSWER_WAIT).await.is_err());

        // Retries were rate-limited: back-off doubles up to 30 s.
        let during_outage = calls.load(Ordering::SeqCst) - 1;
        assert!(
            (4..=20).contains(&during_outage),
            "{during_outage} retries in ~170 s"
        );

        // Upstream returns: recovery within one back-off period (at most 30 s), so the new 90 s
        // credentials were obtained during these 31 s and have at least 90 - 31 s left. (Not
        // "more than 60 s": the jittered retry may land in the first second.)
        *failing.lock().unwrap() = None;
        pass(Duration::from_secs(31)).await;
        let recovered = store.answer(FIRST_ANSWER_WAIT).await.unwrap();
        assert!(!Arc::ptr_eq(&first, &recovered));
        assert!(recovered.expiry.remaining() >= Duration::from_secs(59));
    }

    #[tokio::test(start_paused = true)]
    async fn a_refusal_is_not_hammered() {
        let fake = Fake::new(Duration::from_secs(3600));
        let calls = fake.calls.clone();
        *fake.failing.lock().unwrap() = Some(refused);
        let (store, _task) = start(fake, policy(5));
        store.settled().await;
        let snapshot = store.snapshot();
        assert_eq!(snapshot.phase, Phase::Failing { definitive: true });
        let err = store.answer(FIRST_ANSWER_WAIT).await.unwrap_err();
        assert!(err.contains("NotAuthorizedException"), "{err}");
        pass(Duration::from_secs(3590)).await;
        // One call, then one every 15 minutes: not a retry storm.
        assert_eq!(calls.load(Ordering::SeqCst), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn first_sign_in_is_settled_after_the_configured_attempts() {
        let fake = Fake::new(Duration::from_secs(3600));
        let calls = fake.calls.clone();
        *fake.failing.lock().unwrap() = Some(unreachable);
        let (store, _task) = start(fake, policy(3));
        store.settled().await;
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        assert_eq!(store.snapshot().phase, Phase::Failing { definitive: true });
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_during_a_slow_start_gets_a_clear_error_not_a_hang() {
        let mut fake = Fake::new(Duration::from_secs(3600));
        fake.latency = Duration::from_secs(20);
        let (store, _task) = start(fake, policy(3));
        let before = Instant::now();
        let err = store.answer(FIRST_ANSWER_WAIT).await.unwrap_err();
        assert_eq!(before.elapsed(), FIRST_ANSWER_WAIT);
        assert!(err.contains("signing in"), "{err}");
    }

    #[tokio::test]
    async fn renders_the_credential_process_document() {
        let material = Material::Iam(AwsCredentials {
            access_key_id: "AKIAX".into(),
            secret_access_key: Secret::new("sk".into()),
            session_token: Secret::new("st".into()),
            expiry: Expiry::after(Duration::from_secs(3600)),
            account_id: None,
            role_arn: None,
        });
        let issued = Issued::render(&material, false);
        assert_eq!(issued.documents.raw.last(), Some(&b'\n'));
        let doc = parse(&issued);
        assert_eq!(doc["Version"], 1);
        assert_eq!(doc["AccessKeyId"], "AKIAX");
        assert_eq!(doc["SecretAccessKey"], "sk");
        assert_eq!(doc["SessionToken"], "st");
        let expiration = doc["Expiration"].as_str().unwrap();
        assert!(
            expiration.ends_with('Z') && expiration.contains('T'),
            "{expiration}"
        );
        assert_eq!(doc.as_object().unwrap().len(), 5);
    }

    #[tokio::test]
    async fn tokens_document_shows_the_refresh_token_only_when_allowed() {
        let tokens = Tokens {
            id_token: Secret::new("id".into()),
            access_token: Secret::new("access".into()),
            refresh_token: Some(Secret::new("refresh".into())),
            expiry: Expiry::after(Duration::from_secs(3600)),
            user_id: "u".into(),
        };
        let material = Material::Tokens(tokens);
        let hidden = parse(&Issued::render(&material, false));
        assert_eq!(hidden["id_token"], "id");
        assert_eq!(hidden["access_token"], "access");
        assert!(hidden["token_expires"].is_string());
        assert!(hidden.get("refresh_token").is_none());
        let shown = parse(&Issued::render(&material, true));
        assert_eq!(shown["refresh_token"], "refresh");
    }
}
