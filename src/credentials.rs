//! The credential cache, the heart of the daemon: the only owner of credentials and tokens.
//!
//! One background task (the refresher) talks to Cognito; clients only ever read what it last
//! published, so a thousand clients arriving together cause one sign-in (single flight by
//! construction), and a client is answered from memory. The refresher renews ahead of expiry with
//! jitter, retries transient failures with exponential back-off, does not hammer a refusal, and
//! keeps serving still-valid credentials while renewal fails; expired ones are never served.
//!
//! Expiry is decided by the wall clock (see `expiry`): on every request, and by the refresher,
//! which re-reads it while it waits, so that after a suspend it renews within seconds of waking
//! up rather than when the monotonic clock (which stood still) says so.
//!
//! Each answer is rendered once, when the credentials change, into zero-on-drop bytes; serving is a
//! pointer copy and a write.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Notify};
use tokio::time::Instant;
use tracing::{debug, error, info, warn};

use crate::clock;
use crate::cognito::auth::{Tokens, UserPool};
use crate::cognito::identity::IdentityPool;
use crate::cognito::{ClockReading, UpstreamError};
use crate::documents::Documents;
pub use crate::documents::Material;
use crate::expiry::{CutOff, Expiry};
use crate::fd_state::{SignInState, StateKeeper};
use crate::policy::{self, renewal_margin, serve_margin, Failure, BACKOFF_BASE};

/// How long a client that arrives before the first sign-in finished (or while a renewal after a
/// suspend is under way) waits for it: below every SDK's 5 s credential timeout, above a normal
/// Cognito round trip.
pub(crate) const FIRST_ANSWER_WAIT: Duration = Duration::from_secs(3);
/// While waiting to renew, the refresher re-reads the wall clock at least this often, so a
/// suspend, a resume or a clock step is noticed within this long even when no client asks.
///
/// Why slices and not a timerfd on CLOCK_REALTIME with TFD_TIMER_CANCEL_ON_SET (or one on
/// CLOCK_BOOTTIME): a slice notices every way the wall clock can move (a resume, a step, a slew,
/// a faked clock in a container or a test) with the same code and no file descriptor, and it
/// costs one timer wake-up and two clock reads every two seconds; a client that finds the
/// credentials stale in between wakes the refresher at once (`CredentialStore::answer`).
const WALL_CLOCK_CHECK: Duration = Duration::from_secs(2);

/// An answer ready to send, rendered once per renewal in every format a client may ask for.
pub struct Issued {
    /// The documents, zeroed when the last client is done with them.
    pub documents: Documents,
    /// When the material expires.
    pub expiry: Expiry,
    /// Last moment it may be handed out.
    pub serve_until: CutOff,
    /// When the refresher renews it.
    pub renew_at: CutOff,
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
        // The margins scale with the life the credentials have here, by both clocks: a host
        // clock that runs ahead of Cognito's shortens it, and renewing a third before the end of
        // what is left (rather than of the stated lifetime) keeps that from becoming a loop.
        let life_here = expiry.remaining();
        Issued {
            documents: Documents::render(material, expose_refresh_token),
            serve_until: expiry.cut_off(serve_margin(life_here)),
            renew_at: expiry.cut_off(renewal_margin(life_here, &mut rand::thread_rng())),
            expiry,
        }
    }

    /// Renders material a previous process kept. Its margins come from the lifetime it had when
    /// received (as they did in that process), not from the life left: kept credentials close to
    /// their end are renewed (from the kept refresh token) rather than served for their last
    /// seconds.
    pub(crate) fn render_kept(material: &Material, expose_refresh_token: bool) -> Issued {
        let expiry = material.expiry();
        Issued {
            documents: Documents::render(material, expose_refresh_token),
            serve_until: expiry.cut_off(serve_margin(expiry.lifetime)),
            renew_at: expiry.cut_off(renewal_margin(expiry.lifetime, &mut rand::thread_rng())),
            expiry,
        }
    }

    /// Whether it may still be handed out, by the wall clock and the monotonic bound.
    #[inline]
    pub(crate) fn is_servable(&self) -> bool {
        self.serve_until.is_ahead()
    }
}

/// Where the daemon stands with Cognito.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Phase {
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
pub(crate) struct Snapshot {
    /// The latest answer, possibly no longer servable.
    pub issued: Option<Arc<Issued>>,
    /// Where things stand.
    pub phase: Phase,
    /// The last failure, for status and health reports (never holds a secret).
    pub last_error: Option<String>,
    /// The host clock and Cognito's, when they disagree by more than a minute: it explains
    /// refusals that otherwise look like a wrong password.
    pub clock_skew: Option<ClockReading>,
}

impl Snapshot {
    fn starting() -> Self {
        Snapshot {
            issued: None,
            phase: Phase::Starting,
            last_error: None,
            clock_skew: None,
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

    /// Whether a client waiting for an answer should take this one: credentials to hand out, or
    /// a failure to report. Not while the first sign-in is still being tried, nor while the last
    /// renewal succeeded but the clock has since made its credentials stale (a renewal is due).
    fn worth_answering(&self) -> bool {
        match self.phase {
            Phase::Starting => self.last_error.is_some(),
            Phase::Serving => self.issued.as_ref().is_some_and(|i| i.is_servable()),
            Phase::Failing { .. } => true,
        }
    }
}

/// The read side of the cache, cloned into every connection handler.
#[derive(Clone)]
pub struct CredentialStore {
    published: watch::Receiver<Arc<Snapshot>>,
    /// Wakes the refresher when a client finds the credentials stale before the refresher did.
    stale: Arc<Notify>,
}

impl CredentialStore {
    /// What the refresher last published.
    pub(crate) fn snapshot(&self) -> Arc<Snapshot> {
        self.published.borrow().clone()
    }

    /// The answer to hand out. Before the first sign-in has finished, or when the wall clock has
    /// jumped past the credentials (a suspend, a clock step) and they are being renewed, waits
    /// for new ones up to `wait`: the client gets fresh credentials or an error, never expired
    /// ones. Credentials that simply ran out while renewal is slow or failing are not waited for
    /// (the client gets the error at once).
    pub async fn answer(&self, wait: Duration) -> Result<Arc<Issued>, String> {
        let snapshot = self.snapshot();
        if let Some(issued) = snapshot.issued.as_ref().filter(|i| i.is_servable()) {
            return Ok(issued.clone());
        }
        if snapshot.worth_answering() {
            return snapshot.answer();
        }
        if let Some(issued) = &snapshot.issued {
            if !issued.serve_until.passed_by_wall_clock_alone() {
                return snapshot.answer();
            }
            self.stale.notify_one();
        }
        let mut published = self.published.clone();
        let waited = tokio::time::timeout(wait, published.wait_for(|s| s.worth_answering())).await;
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
    pub(crate) fn subscribe(&self) -> watch::Receiver<Arc<Snapshot>> {
        self.published.clone()
    }
}

/// Where renewed material comes from; Cognito in the daemon, a scripted fake in tests.
pub trait Upstream: Send + 'static {
    /// Obtains fresh material (signing in, refreshing tokens, exchanging them, as needed).
    fn obtain(&mut self) -> impl Future<Output = Result<Material, UpstreamError>> + Send;

    /// The host's and Cognito's clocks, when they disagree by more than a minute.
    fn clock_skew(&self) -> Option<ClockReading> {
        None
    }

    /// Material a previous process of the service kept (systemd's FD store), asked once before
    /// the first call: when still servable, it is served at once and renewed when due.
    fn restored(&mut self) -> Option<Material> {
        None
    }
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
    let stale = Arc::new(Notify::new());
    let task = tokio::spawn(refresh_loop(upstream, policy, publish, stale.clone()));
    (CredentialStore { published, stale }, task)
}

/// When the refresher next calls upstream.
#[derive(Debug, Clone, Copy)]
enum NextAttempt {
    /// Renew when the credentials reach their renewal margin, by either clock, but not before
    /// `not_before` (material that arrived nearly expired must not make it spin).
    Renewal { due: CutOff, not_before: Instant },
    /// Retry after a failure, paced by the monotonic clock alone: a clock step or a client must
    /// not make it hammer Cognito during an outage.
    Retry { at: Instant },
}

impl NextAttempt {
    fn time_left(&self) -> Duration {
        match self {
            NextAttempt::Renewal { due, not_before } => due
                .time_left()
                .max(not_before.saturating_duration_since(Instant::now())),
            NextAttempt::Retry { at } => at.saturating_duration_since(Instant::now()),
        }
    }
}

/// Sleeps until the next attempt is due; false when the daemon is shutting down.
async fn wait_for(
    next: NextAttempt,
    publish: &watch::Sender<Arc<Snapshot>>,
    stale: &Notify,
) -> bool {
    loop {
        let left = next.time_left();
        if left.is_zero() {
            return true;
        }
        match next {
            NextAttempt::Renewal { .. } => tokio::select! {
                _ = tokio::time::sleep(left.min(WALL_CLOCK_CHECK)) => {}
                // A client found the credentials stale: look at the clocks again now.
                _ = stale.notified() => {}
                _ = publish.closed() => return false,
            },
            NextAttempt::Retry { .. } => tokio::select! {
                _ = tokio::time::sleep(left) => {}
                _ = publish.closed() => return false,
            },
        }
    }
}

/// Material that is already too close to expiry by the host clock when it arrives: the host
/// clock is ahead of Cognito's by more than the credentials live. Retried with back-off, not in a
/// loop, with the reason in the error.
fn arrived_stale(issued: &Issued, skew: Option<ClockReading>) -> UpstreamError {
    let clock = match skew {
        Some(reading) => reading.to_string(),
        None => format!(
            "the host clock reads {}; check it (timedatectl)",
            crate::expiry::rfc3339(clock::wall_date())
        ),
    };
    UpstreamError::bad_response(
        "the renewal",
        format!(
            "the new credentials expire at {}, too soon to hand out by this host's clock: {clock}",
            issued.expiry.rfc3339()
        ),
    )
}

async fn refresh_loop<U: Upstream>(
    mut upstream: U,
    policy: RefreshPolicy,
    publish: watch::Sender<Arc<Snapshot>>,
    stale: Arc<Notify>,
) {
    let mut attempts = policy::Attempts::default();
    let mut restored = upstream
        .restored()
        .map(|material| Issued::render_kept(&material, policy.expose_refresh_token))
        .filter(Issued::is_servable);
    if restored.is_none() {
        debug!("nothing servable was kept: obtaining credentials");
    }
    loop {
        let started = Instant::now();
        let from_kept_state = restored.is_some();
        let outcome = match restored.take() {
            Some(issued) => Ok(issued),
            None => upstream.obtain().await.and_then(|material| {
                let issued = Issued::render(&material, policy.expose_refresh_token);
                if issued.is_servable() {
                    Ok(issued)
                } else {
                    Err(arrived_stale(&issued, upstream.clock_skew()))
                }
            }),
        };
        let took = started.elapsed();
        let clock_skew = upstream.clock_skew();
        let previous = publish.borrow().issued.clone();
        let next_attempt = match outcome {
            Ok(issued) => {
                let issued = Arc::new(issued);
                if from_kept_state {
                    info!(
                        event = "restored",
                        valid_until = %issued.expiry.rfc3339(),
                        next_renewal_in_s = issued.renew_at.time_left().as_secs(),
                        "credentials restored from the state systemd kept: serving without \
                         signing in"
                    );
                } else {
                    info!(
                        event = "renewed",
                        valid_until = %issued.expiry.rfc3339(),
                        lifetime_s = issued.expiry.lifetime.as_secs(),
                        next_renewal_in_s = issued.renew_at.time_left().as_secs(),
                        took_ms = took.as_millis() as u64,
                        "credentials obtained"
                    );
                }
                let due = issued.renew_at;
                publish.send_replace(Arc::new(Snapshot {
                    issued: Some(issued),
                    phase: Phase::Serving,
                    last_error: None,
                    clock_skew,
                }));
                attempts.succeeded();
                NextAttempt::Renewal {
                    due,
                    not_before: Instant::now() + BACKOFF_BASE,
                }
            }
            Err(err) => {
                let transient = err.is_transient();
                let failure = err.failure();
                let retry =
                    attempts.failed(failure, policy.first_attempts, &mut rand::thread_rng());
                let phase = if retry.never_succeeded && !retry.definitive {
                    Phase::Starting
                } else {
                    Phase::Failing {
                        definitive: retry.definitive,
                    }
                };
                let delay = retry.delay;
                let still_valid = previous.as_ref().is_some_and(|i| i.is_servable());
                if failure == Failure::Throttled {
                    warn!(
                        event = "renewal_throttled",
                        error = %err,
                        attempt = retry.attempt,
                        retry_in_s = delay.as_secs(),
                        still_serving = still_valid,
                        "throttled by Cognito, backing off"
                    );
                } else if transient {
                    warn!(
                        event = "renewal_failed",
                        error = %err,
                        attempt = retry.attempt,
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
                    clock_skew,
                }));
                NextAttempt::Retry {
                    at: Instant::now() + delay,
                }
            }
        };
        debug!(
            in_s = next_attempt.time_left().as_secs(),
            "next renewal scheduled"
        );
        if !wait_for(next_attempt, &publish, &stale).await {
            return;
        }
    }
}

/// The real upstream: the user pool, and the identity pool in IAM mode.
pub struct CognitoUpstream {
    pool: UserPool,
    identity: Option<IdentityPool>,
    tokens: Option<Tokens>,
    /// Hands the sign-in state to systemd after each renewal, under a service manager.
    keeper: Option<StateKeeper>,
    /// What a previous process kept, until the refresher takes it.
    restored: Option<Material>,
}

impl CognitoUpstream {
    /// IAM mode when `identity` is given, tokens mode otherwise.
    pub fn new(pool: UserPool, identity: Option<IdentityPool>) -> Self {
        CognitoUpstream {
            pool,
            identity,
            tokens: None,
            keeper: None,
            restored: None,
        }
    }

    /// The same, starting from tokens already obtained (configure's enrolling sign-in), so the
    /// first `obtain` does not sign in again.
    pub(crate) fn with_tokens(mut self, tokens: Tokens) -> Self {
        self.tokens = Some(tokens);
        self
    }

    /// Keeps the sign-in state with `keeper` from now on, and starts from what a previous process
    /// kept in `kept` when it belongs to this configuration: its tokens (so a renewal refreshes
    /// rather than signing in with the password), identity id, device, and its credentials
    /// (served at once while still valid).
    pub(crate) fn keeping_state(
        mut self,
        keeper: Option<StateKeeper>,
        kept: Option<std::os::fd::OwnedFd>,
        role_arn: Option<&str>,
    ) -> Self {
        let restored = match (&keeper, kept) {
            (Some(keeper), Some(fd)) => keeper.take_back(fd, role_arn),
            _ => None,
        };
        self.keeper = keeper;
        let Some(restored) = restored else {
            return self;
        };
        if let Some(device) = restored.device {
            self.pool.remember_device(device);
        }
        if let (Some(identity), Some(id)) = (&self.identity, restored.identity_id) {
            identity.remember_identity_id(id);
        }
        self.restored = match (&self.identity, restored.credentials, &restored.tokens) {
            (Some(_), Some(credentials), _) => Some(Material::Iam(credentials)),
            (None, _, Some(tokens)) => Some(Material::Tokens(tokens.clone())),
            _ => None,
        };
        self.tokens = restored.tokens;
        info!(
            event = "kept_state_taken",
            refresh_token = self
                .tokens
                .as_ref()
                .is_some_and(|t| t.refresh_token.is_some()),
            "took back the sign-in state systemd kept"
        );
        self
    }

    /// Hands the state after a renewal to systemd (see `fd_state`).
    async fn keep(&self, material: &Material) {
        let Some(keeper) = &self.keeper else {
            return;
        };
        let identity_id = match &self.identity {
            Some(identity) => identity.known_identity_id().await,
            None => None,
        };
        let credentials = match material {
            Material::Iam(credentials) => Some(credentials),
            Material::Tokens(_) => None,
        };
        keeper.keep(SignInState {
            identity_id,
            tokens: self.tokens.as_ref(),
            credentials,
            device: self.pool.remembered_device(),
        });
    }

    /// Tokens good enough for the next step: in tokens mode always new ones (that is what is being
    /// renewed); in IAM mode the current ones while the ID token has a quarter of its life left.
    async fn fresh_tokens(&mut self) -> Result<Tokens, UpstreamError> {
        let renew_tokens = self.identity.is_none();
        if let Some(current) = &self.tokens {
            let usable =
                policy::tokens_still_usable(current.expiry.remaining(), current.expiry.lifetime);
            if !renew_tokens && usable {
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
    fn clock_skew(&self) -> Option<ClockReading> {
        self.pool.server_clock().skew()
    }

    fn restored(&mut self) -> Option<Material> {
        self.restored.take()
    }

    async fn obtain(&mut self) -> Result<Material, UpstreamError> {
        let material = self.obtain_material().await?;
        self.keep(&material).await;
        Ok(material)
    }
}

impl CognitoUpstream {
    async fn obtain_material(&mut self) -> Result<Material, UpstreamError> {
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
    use crate::cognito::identity::AwsCredentials;
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
        /// How far the fake Cognito's clock is ahead of the host's. It states expiries on its
        /// own clock, and the daemon learns the difference (as from the `Date` header).
        upstream_ahead_by: Arc<Mutex<time::Duration>>,
        /// Credentials a previous process kept, as `restored` gives them (expiring this long
        /// from now).
        kept: Option<Duration>,
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
                upstream_ahead_by: Arc::default(),
                kept: None,
            }
        }
    }

    impl Upstream for Fake {
        fn restored(&mut self) -> Option<Material> {
            let left = self.kept.take()?;
            Some(Material::Iam(AwsCredentials {
                access_key_id: "AKIAKEPT".into(),
                secret_access_key: Secret::new("kept-secret".into()),
                session_token: Secret::new("kept-token".into()),
                expiry: Expiry::restored(clock::wall_date() + left, self.lifetime),
                account_id: None,
                role_arn: None,
            }))
        }

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
                expiry: {
                    let ahead = *self.upstream_ahead_by.lock().unwrap();
                    let upstream_now = clock::wall_date() + ahead;
                    Expiry::at_wall_time(upstream_now + self.lifetime, ahead)
                },
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
    async fn kept_credentials_are_served_at_once_and_renewed_when_due_not_before() {
        let mut fake = Fake::new(Duration::from_secs(3600));
        fake.kept = Some(Duration::from_secs(3000));
        let calls = fake.calls.clone();
        let (store, _task) = start(fake, policy(3));
        let first = store.answer(FIRST_ANSWER_WAIT).await.unwrap();
        assert_eq!(parse(&first)["AccessKeyId"], "AKIAKEPT");
        assert!(store.snapshot().settled(), "READY waits for nothing");
        pass(Duration::from_secs(60)).await;
        assert_eq!(calls.load(Ordering::SeqCst), 0, "no upstream call on start");
        // Renewed ahead of the kept credentials' expiry, like any others.
        pass(Duration::from_secs(3000)).await;
        assert!(calls.load(Ordering::SeqCst) >= 1);
        let later = store.answer(Duration::ZERO).await.unwrap();
        assert_ne!(parse(&later)["AccessKeyId"], "AKIAKEPT");
    }

    #[tokio::test(start_paused = true)]
    async fn kept_credentials_past_their_margin_are_never_served() {
        let mut fake = Fake::new(Duration::from_secs(3600));
        // Within the serve margin of one-hour credentials (a minute): a restart after a long
        // stop, or a clock that moved.
        fake.kept = Some(Duration::from_secs(30));
        let calls = fake.calls.clone();
        let (store, _task) = start(fake, policy(3));
        let first = store.answer(FIRST_ANSWER_WAIT).await.unwrap();
        assert_ne!(parse(&first)["AccessKeyId"], "AKIAKEPT");
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn kept_credentials_due_for_renewal_are_served_while_renewed_at_once() {
        let mut fake = Fake::new(Duration::from_secs(3600));
        // Past the renewal margin of one-hour credentials (20 min), well before the serve margin.
        fake.kept = Some(Duration::from_secs(900));
        let calls = fake.calls.clone();
        let (store, _task) = start(fake, policy(3));
        let first = store.answer(FIRST_ANSWER_WAIT).await.unwrap();
        assert_eq!(parse(&first)["AccessKeyId"], "AKIAKEPT");
        pass(Duration::from_secs(3)).await;
        assert_eq!(calls.load(Ordering::SeqCst), 1, "renewed within seconds");
        let renewed = store.answer(Duration::ZERO).await.unwrap();
        assert_ne!(parse(&renewed)["AccessKeyId"], "AKIAKEPT");
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
    /// The fake Cognito's clock, on which its expiries are stated: the truth clients are judged by.
    fn upstream_now(fake_ahead: &Mutex<time::Duration>) -> time::OffsetDateTime {
        clock::wall_date() + *fake_ahead.lock().unwrap()
    }

    /// Serves every 100 ms for `total`, asserting that no answer has expired by the upstream's
    /// clock or comes within `min_left` of it; returns how many answers were errors.
    async fn serve_for(
        store: &CredentialStore,
        fake_ahead: &Mutex<time::Duration>,
        total: Duration,
        min_left: Duration,
    ) -> u32 {
        let mut errors = 0;
        let mut passed = Duration::ZERO;
        while passed < total {
            match store.answer(FIRST_ANSWER_WAIT).await {
                Ok(issued) => {
                    let left = issued.expiry.at - upstream_now(fake_ahead);
                    assert!(
                        left >= min_left,
                        "served {issued:?} with {left} left after {passed:?}"
                    );
                }
                Err(_) => errors += 1,
            }
            tokio::time::advance(Duration::from_millis(100)).await;
            tokio::task::yield_now().await;
            passed += Duration::from_millis(100);
        }
        errors
    }

    #[tokio::test(start_paused = true)]
    async fn after_a_suspend_a_client_gets_fresh_credentials_never_the_expired_ones() {
        let fake = Fake::new(Duration::from_secs(3600));
        let calls = fake.calls.clone();
        let (store, _task) = start(fake, policy(3));
        store.settled().await;
        let before = store.answer(FIRST_ANSWER_WAIT).await.unwrap();
        pass(Duration::from_secs(600)).await;
        // An hour asleep: the wall clock jumps, the monotonic clock stood still.
        clock::step_wall_clock(time::Duration::hours(1));
        assert!(!before.is_servable());
        let started = Instant::now();
        let after = store
            .answer(FIRST_ANSWER_WAIT)
            .await
            .expect("fresh credentials");
        // The client woke the refresher: one upstream round trip, not a two-second slice.
        assert!(
            started.elapsed() < Duration::from_millis(100),
            "{:?}",
            started.elapsed()
        );
        assert!(!Arc::ptr_eq(&before, &after));
        assert!(after.expiry.remaining() > Duration::from_secs(3500));
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn the_refresher_notices_a_suspend_within_seconds_without_any_client() {
        let fake = Fake::new(Duration::from_secs(3600));
        let calls = fake.calls.clone();
        let (store, _task) = start(fake, policy(3));
        store.settled().await;
        pass(Duration::from_secs(60)).await;
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        clock::step_wall_clock(time::Duration::minutes(50));
        pass(WALL_CLOCK_CHECK + Duration::from_millis(200)).await;
        assert_eq!(
            calls.load(Ordering::SeqCst),
            2,
            "renewed at once after waking"
        );
        assert!(store.snapshot().issued.as_ref().unwrap().is_servable());
        // And then not again until the new credentials are due.
        pass(Duration::from_secs(600)).await;
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_suspend_shorter_than_the_margin_changes_nothing() {
        let fake = Fake::new(Duration::from_secs(3600));
        let calls = fake.calls.clone();
        let (store, _task) = start(fake, policy(3));
        store.settled().await;
        let before = store.answer(FIRST_ANSWER_WAIT).await.unwrap();
        clock::step_wall_clock(time::Duration::minutes(10));
        pass(Duration::from_secs(10)).await;
        let after = store.answer(FIRST_ANSWER_WAIT).await.unwrap();
        assert!(Arc::ptr_eq(&before, &after));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn while_the_renewal_after_a_suspend_is_slow_clients_get_an_error_not_expired_ones() {
        // Every call takes 8 s: longer than a client waits.
        let mut fake = Fake::new(Duration::from_secs(3600));
        let ahead = fake.upstream_ahead_by.clone();
        let calls = fake.calls.clone();
        fake.latency = Duration::from_secs(8);
        let (store, _task) = start(fake, policy(3));
        store.settled().await;
        clock::step_wall_clock(time::Duration::hours(2));
        // Every answer in the next 15 s: an error while the renewal runs, then fresh ones.
        let started = Instant::now();
        let err = store.answer(FIRST_ANSWER_WAIT).await.unwrap_err();
        assert_eq!(
            started.elapsed(),
            FIRST_ANSWER_WAIT,
            "the client waited for the renewal"
        );
        assert!(err.contains("too soon to hand out), renewing"), "{err}");
        let errors = serve_for(
            &store,
            &ahead,
            Duration::from_secs(15),
            Duration::from_secs(60),
        )
        .await;
        assert!(errors >= 1, "answers while the renewal ran");
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        let fresh = store.answer(FIRST_ANSWER_WAIT).await.unwrap();
        assert!(fresh.expiry.remaining() > Duration::from_secs(3500));
    }

    #[tokio::test(start_paused = true)]
    async fn credentials_that_run_out_during_a_slow_renewal_are_not_waited_for() {
        // 90 s credentials, renewed at 54..60 s by a call that takes 40 s: they run out (at 81 s)
        // while the renewal hangs. That is no clock jump: clients get the error at once.
        let mut fake = Fake::new(Duration::from_secs(90));
        fake.latency = Duration::from_secs(40);
        let (store, _task) = start(fake, policy(3));
        store.settled().await;
        pass(Duration::from_secs(45)).await;
        assert!(store.answer(FIRST_ANSWER_WAIT).await.is_ok());
        pass(Duration::from_secs(40)).await;
        let started = Instant::now();
        let err = store.answer(FIRST_ANSWER_WAIT).await.unwrap_err();
        assert_eq!(
            started.elapsed(),
            Duration::ZERO,
            "the client was kept waiting"
        );
        assert!(err.contains("too soon to hand out), renewing"), "{err}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_backwards_step_neither_loops_nor_serves_longer_than_the_credentials_live() {
        let fake = Fake::new(Duration::from_secs(3600));
        let calls = fake.calls.clone();
        let ahead = fake.upstream_ahead_by.clone();
        let (store, _task) = start(fake, policy(3));
        store.settled().await;
        pass(Duration::from_secs(300)).await;
        // NTP corrects a fast host clock by an hour; Cognito's clock did not move.
        clock::step_wall_clock(-time::Duration::hours(1));
        *ahead.lock().unwrap() += time::Duration::hours(1);
        // Three hours of one-hour credentials: never served past their real expiry (minus the
        // serving margin), and renewed as usual, about every 40-44 minutes.
        let errors = serve_for(
            &store,
            &ahead,
            Duration::from_secs(3 * 3600),
            Duration::from_secs(59),
        )
        .await;
        assert_eq!(errors, 0);
        let renewals = calls.load(Ordering::SeqCst);
        assert!((4..=6).contains(&renewals), "{renewals} calls in 3 h 5 min");
    }

    #[tokio::test(start_paused = true)]
    async fn a_forward_step_renews_at_once_and_then_as_usual() {
        // A host clock 45 minutes slow, stepped right by NTP five minutes after the start.
        let fake = Fake::new(Duration::from_secs(3600));
        let calls = fake.calls.clone();
        let ahead = fake.upstream_ahead_by.clone();
        *ahead.lock().unwrap() = time::Duration::minutes(45);
        let (store, _task) = start(fake, policy(3));
        store.settled().await;
        pass(Duration::from_secs(300)).await;
        clock::step_wall_clock(time::Duration::minutes(45));
        *ahead.lock().unwrap() = time::Duration::ZERO;
        let errors = serve_for(
            &store,
            &ahead,
            Duration::from_secs(2 * 3600),
            Duration::from_secs(59),
        )
        .await;
        assert_eq!(errors, 0);
        let renewals = calls.load(Ordering::SeqCst);
        assert!((3..=5).contains(&renewals), "{renewals} calls in 2 h 5 min");
    }

    #[tokio::test(start_paused = true)]
    async fn a_host_clock_far_ahead_of_cognitos_is_an_error_with_back_off_not_a_loop() {
        let fake = Fake::new(Duration::from_secs(3600));
        let calls = fake.calls.clone();
        *fake.upstream_ahead_by.lock().unwrap() = -time::Duration::hours(2);
        let (store, _task) = start(fake, policy(3));
        store.settled().await;
        let err = store.answer(FIRST_ANSWER_WAIT).await.unwrap_err();
        assert!(
            err.contains("too soon to hand out by this host's clock"),
            "{err}"
        );
        assert!(err.contains("timedatectl"), "{err}");
        pass(Duration::from_secs(120)).await;
        // Exponential back-off up to 30 s (a loop would be one a second).
        let attempts = calls.load(Ordering::SeqCst);
        assert!(
            (3..=12).contains(&attempts),
            "{attempts} attempts in 2 minutes"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_host_clock_ahead_by_most_of_the_lifetime_renews_early_but_never_in_a_loop() {
        // 45 minutes fast: one-hour credentials look like 15-minute ones to every client here.
        let fake = Fake::new(Duration::from_secs(3600));
        let calls = fake.calls.clone();
        let ahead = fake.upstream_ahead_by.clone();
        *ahead.lock().unwrap() = -time::Duration::minutes(45);
        let (store, _task) = start(fake, policy(3));
        store.settled().await;
        let errors = serve_for(
            &store,
            &ahead,
            Duration::from_secs(3600),
            Duration::from_secs(59),
        )
        .await;
        assert_eq!(errors, 0);
        // Renewed when a third of the 15 minutes is left: about every 10 minutes.
        let renewals = calls.load(Ordering::SeqCst);
        assert!((6..=9).contains(&renewals), "{renewals} calls in an hour");
    }
}
