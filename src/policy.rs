//! When the refresher acts: how long before expiry it renews and stops serving, and how long it
//! waits after a failure. Pure functions of the lifetime, the failure and the attempt (randomness
//! comes from the caller), so that what the daemon does can be reasoned about, tested on its own,
//! and run unchanged by a simulation of many hosts.

use std::time::Duration;

use rand::Rng;

/// Renewal starts when this much (or a third of the lifetime, if less) remains.
const MAX_REFRESH_MARGIN: Duration = Duration::from_secs(20 * 60);
/// Credentials are withdrawn this long (or a tenth of their lifetime, if less) before they expire,
/// so a client never receives something that dies in its hands.
const MAX_SERVE_MARGIN: Duration = Duration::from_secs(60);
/// First retry delay after a transient failure; doubles per attempt. Also the least time between
/// two renewals, so material that arrives nearly expired cannot make the refresher spin.
pub const BACKOFF_BASE: Duration = Duration::from_secs(1);
/// Longest delay between retries of a transient failure (the rate limit once retries go on).
const BACKOFF_CAP: Duration = Duration::from_secs(30);
/// Longest delay between retries while Cognito throttles. Longer than for a network failure:
/// throttling means the account's quota (shared by every host of a fleet) is spent, and
/// retrying sooner only spends it again.
const THROTTLED_CAP: Duration = Duration::from_secs(5 * 60);
/// Delay before asking again after Cognito refused us (wrong password, missing role...): slow
/// enough not to hammer the pool, fast enough to recover once someone fixes the other side.
const REFUSED_RETRY: Duration = Duration::from_secs(15 * 60);

/// How an attempt failed, as far as waiting is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The network, a timeout, an answer that could not be used, an error on Cognito's side.
    Transient,
    /// Cognito's quota is spent (TooManyRequestsException, LimitExceededException).
    Throttled,
    /// Cognito refused: someone has to change something first.
    Refused,
}

/// The refresher's record of its attempts: how many failed in a row, and whether any ever
/// succeeded, from which the next delay and the readiness report follow.
#[derive(Debug, Clone, Default)]
pub struct Attempts {
    failures: u32,
    ever_succeeded: bool,
}

/// What follows a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    /// How long to wait before the next attempt.
    pub delay: Duration,
    /// Failures in a row, this one included.
    pub attempt: u32,
    /// Whether the failure is worth reporting as final (someone must act, or the first sign-in
    /// ran out of the attempts it was given before readiness is reported).
    pub definitive: bool,
    /// Whether no attempt has ever succeeded.
    pub never_succeeded: bool,
}

impl Attempts {
    /// Records a success.
    pub fn succeeded(&mut self) {
        self.failures = 0;
        self.ever_succeeded = true;
    }

    /// Records a failure; `first_attempts` is how many the first sign-in gets before its failure
    /// is reported as definitive.
    pub fn failed(&mut self, failure: Failure, first_attempts: u32, rng: &mut impl Rng) -> Retry {
        self.failures = self.failures.saturating_add(1);
        Retry {
            delay: retry_delay(failure, self.failures, rng),
            attempt: self.failures,
            definitive: failure == Failure::Refused
                || (!self.ever_succeeded && self.failures >= first_attempts),
            never_succeeded: !self.ever_succeeded,
        }
    }
}

/// Whether user-pool tokens are still good enough to exchange at the identity pool, rather than
/// refreshed first: while the ID token has a quarter of its life left, or five minutes if less.
pub fn tokens_still_usable(remaining: Duration, lifetime: Duration) -> bool {
    remaining > (lifetime / 4).min(Duration::from_secs(300))
}

/// How long before expiry credentials are withdrawn: a minute, or a tenth of their life if less.
pub fn serve_margin(life: Duration) -> Duration {
    MAX_SERVE_MARGIN.min(life / 10)
}

/// How long before expiry renewal starts: min(20 min, life / 3), plus up to a fifth of that again
/// at random, so that a fleet started together spreads its calls on Cognito's quota.
pub fn renewal_margin(life: Duration, rng: &mut impl Rng) -> Duration {
    let margin = MAX_REFRESH_MARGIN.min(life / 3);
    margin + margin.mul_f64(rng.gen_range(0.0..0.2))
}

/// How long to wait after the `attempt`-th consecutive failure (from 1).
///
/// - transient: exponential from 1 s to 30 s, half of it fixed and half at random, so one host
///   recovers quickly from a blip;
/// - throttled: "full jitter" (anywhere between zero and an exponential bound, up to 5 min), which
///   spreads the retries of many hosts evenly instead of sending them back in waves;
/// - refused: every 15 minutes.
pub(crate) fn retry_delay(failure: Failure, attempt: u32, rng: &mut impl Rng) -> Duration {
    let exponential = |cap: Duration| {
        BACKOFF_BASE
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
            .min(cap)
    };
    match failure {
        Failure::Transient => {
            let nominal = exponential(BACKOFF_CAP);
            nominal / 2 + nominal.mul_f64(rng.gen_range(0.0..0.5))
        }
        Failure::Throttled => exponential(THROTTLED_CAP).mul_f64(rng.gen_range(0.0..1.0)),
        Failure::Refused => REFUSED_RETRY,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    #[test]
    fn margins_scale_with_short_lifetimes_and_stop_at_their_caps() {
        let mut rng = StdRng::seed_from_u64(1);
        assert_eq!(
            serve_margin(Duration::from_secs(90)),
            Duration::from_secs(9)
        );
        assert_eq!(
            serve_margin(Duration::from_secs(3600)),
            Duration::from_secs(60)
        );
        for _ in 0..1000 {
            let short = renewal_margin(Duration::from_secs(90), &mut rng);
            assert!((Duration::from_secs(30)..Duration::from_secs(36)).contains(&short));
            let long = renewal_margin(Duration::from_secs(3600), &mut rng);
            assert!((Duration::from_secs(1200)..Duration::from_secs(1440)).contains(&long));
        }
    }

    #[test]
    fn transient_failures_back_off_to_30_s_never_below_half() {
        let mut rng = StdRng::seed_from_u64(2);
        for attempt in 1..40 {
            let nominal = Duration::from_secs(1 << (attempt - 1).min(16)).min(BACKOFF_CAP);
            let delay = retry_delay(Failure::Transient, attempt, &mut rng);
            assert!(
                delay >= nominal / 2 && delay <= nominal,
                "{attempt}: {delay:?}"
            );
        }
    }

    #[test]
    fn throttling_spreads_retries_over_the_whole_window_up_to_5_minutes() {
        let mut rng = StdRng::seed_from_u64(3);
        let delays: Vec<_> = (0..10_000)
            .map(|_| retry_delay(Failure::Throttled, 20, &mut rng).as_secs_f64())
            .collect();
        assert!(delays.iter().all(|d| *d < 300.0));
        let mean = delays.iter().sum::<f64>() / delays.len() as f64;
        assert!((140.0..160.0).contains(&mean), "mean {mean}");
        // Full jitter: as many early retries as late ones.
        let early = delays.iter().filter(|d| **d < 30.0).count();
        assert!(
            (800..1200).contains(&early),
            "{early} of 10,000 within 30 s"
        );
        assert!(retry_delay(Failure::Throttled, 1, &mut rng) < Duration::from_secs(1));
    }

    #[test]
    fn refusals_wait_a_quarter_of_an_hour() {
        let mut rng = StdRng::seed_from_u64(4);
        assert_eq!(
            retry_delay(Failure::Refused, 1, &mut rng),
            Duration::from_secs(900)
        );
    }
}
