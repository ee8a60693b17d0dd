//! When credentials or tokens expire, and how much of their life is left.
//!
//! The wall clock decides, because that is what Cognito, STS and every SDK compare an `Expiration`
//! against: after a suspend the monotonic clock has stood still while the credentials aged. The
//! monotonic clock bounds it from the other side: what was received with a lifetime of an hour is
//! never used for more than an hour of the daemon's own running time, whatever the wall clock
//! does (an NTP correction stepping it back must not make credentials look younger).

use std::time::{Duration, SystemTime};

use time::OffsetDateTime;
use tokio::time::Instant;

use crate::clock;

/// An expiry read off an upstream answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expiry {
    /// Wall-clock expiry, as the upstream stated it (what clients are told).
    pub at: OffsetDateTime,
    /// The latest moment on the monotonic clock it may count as valid: the moment it was received
    /// plus the lifetime the upstream gave it.
    pub deadline: Instant,
    /// How long it was valid when received, by the upstream's clock.
    pub lifetime: Duration,
}

impl Expiry {
    /// An expiry `lifetime` from now (an upstream that states a relative lifetime).
    pub fn after(lifetime: Duration) -> Self {
        Expiry {
            at: clock::wall_date() + lifetime,
            deadline: Instant::now() + lifetime,
            lifetime,
        }
    }

    /// An expiry at a wall-clock time the upstream stated, when the upstream's clock reads
    /// `upstream_ahead_by` more than this host's (see `cognito::ServerClock`). The lifetime is
    /// measured on the upstream's clock, so a host clock that is behind cannot stretch it; a time
    /// already past gives a zero lifetime.
    pub(crate) fn at_wall_time(at: OffsetDateTime, upstream_ahead_by: time::Duration) -> Self {
        let upstream_now = clock::wall_date() + upstream_ahead_by;
        let lifetime = Duration::try_from(at - upstream_now).unwrap_or(Duration::ZERO);
        Expiry {
            at,
            deadline: Instant::now() + lifetime,
            lifetime,
        }
    }

    /// An expiry kept by a previous process (see `fd_state`): the wall-clock time it stated, and
    /// the lifetime it had when received. The monotonic bound starts again from the wall clock,
    /// since the previous process's monotonic readings mean nothing here.
    pub fn restored(at: OffsetDateTime, lifetime: Duration) -> Self {
        let left = Duration::try_from(at - clock::wall_date()).unwrap_or(Duration::ZERO);
        Expiry {
            at,
            deadline: Instant::now() + left,
            lifetime,
        }
    }

    /// The earlier of two expiries, on each clock.
    pub fn min(self, other: Expiry) -> Expiry {
        Expiry {
            at: self.at.min(other.at),
            deadline: self.deadline.min(other.deadline),
            lifetime: self.lifetime.min(other.lifetime),
        }
    }

    /// Time left now: the lesser of what the wall clock and the monotonic bound say.
    pub fn remaining(&self) -> Duration {
        let by_wall = SystemTime::from(self.at)
            .duration_since(clock::wall_now())
            .unwrap_or(Duration::ZERO);
        by_wall.min(self.deadline.saturating_duration_since(Instant::now()))
    }

    /// The moment, on both clocks, when only `margin` is left.
    pub(crate) fn cut_off(&self, margin: Duration) -> CutOff {
        CutOff {
            wall: SystemTime::from(self.at)
                .checked_sub(margin)
                .unwrap_or(SystemTime::UNIX_EPOCH),
            monotonic: self.deadline.checked_sub(margin).unwrap_or(self.deadline),
        }
    }

    /// RFC 3339 in UTC without fractions, e.g. `2026-11-28T10:41:08Z`, as strict parsers want.
    pub fn rfc3339(&self) -> String {
        rfc3339(self.at)
    }
}

/// A moment on both clocks; it has passed when either clock has reached it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CutOff {
    wall: SystemTime,
    monotonic: Instant,
}

impl CutOff {
    /// Whether it is still ahead: two clock reads and two comparisons, cheap enough for every
    /// request.
    #[inline]
    pub(crate) fn is_ahead(&self) -> bool {
        Instant::now() < self.monotonic && clock::wall_now() < self.wall
    }

    /// Whether the wall clock has passed it while the monotonic clock has not: the mark of a
    /// suspend or a forward clock step, rather than of time simply running out.
    pub(crate) fn passed_by_wall_clock_alone(&self) -> bool {
        clock::wall_now() >= self.wall && Instant::now() < self.monotonic
    }

    /// How long until it passes (zero once it has).
    pub(crate) fn time_left(&self) -> Duration {
        let by_wall = self
            .wall
            .duration_since(clock::wall_now())
            .unwrap_or(Duration::ZERO);
        by_wall.min(self.monotonic.saturating_duration_since(Instant::now()))
    }
}

/// A time as RFC 3339 in UTC without fractions, e.g. `2026-11-28T10:41:08Z`.
pub(crate) fn rfc3339(at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::step_wall_clock;
    use time::macros::datetime;

    #[tokio::test]
    async fn formats_rfc3339_utc_without_fraction() {
        let mut e = Expiry::after(Duration::from_secs(60));
        e.at = datetime!(2026-11-28 10:41:08.448710 +01:00);
        assert_eq!(e.rfc3339(), "2026-11-28T09:41:08Z");
    }

    #[tokio::test(start_paused = true)]
    async fn remaining_follows_time_passing() {
        let e = Expiry::after(Duration::from_secs(90));
        tokio::time::advance(Duration::from_secs(60)).await;
        assert_eq!(e.remaining(), Duration::from_secs(30));
        tokio::time::advance(Duration::from_secs(60)).await;
        assert_eq!(e.remaining(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn a_suspend_uses_up_the_lifetime_although_the_monotonic_clock_stood_still() {
        let e = Expiry::after(Duration::from_secs(3600));
        let cut_off = e.cut_off(Duration::from_secs(60));
        assert!(cut_off.is_ahead());
        step_wall_clock(time::Duration::minutes(59) + time::Duration::seconds(30));
        assert_eq!(e.remaining(), Duration::from_secs(30));
        assert!(!cut_off.is_ahead());
        assert_eq!(cut_off.time_left(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn a_backwards_step_does_not_make_it_last_longer() {
        let e = Expiry::after(Duration::from_secs(3600));
        let cut_off = e.cut_off(Duration::from_secs(60));
        step_wall_clock(-time::Duration::hours(1));
        tokio::time::advance(Duration::from_secs(3500)).await;
        assert_eq!(e.remaining(), Duration::from_secs(100));
        assert_eq!(cut_off.time_left(), Duration::from_secs(40));
        tokio::time::advance(Duration::from_secs(40)).await;
        assert!(!cut_off.is_ahead());
    }

    #[tokio::test(start_paused = true)]
    async fn the_lifetime_is_measured_on_the_upstreams_clock() {
        // The host clock is an hour behind the upstream's: an hour's credentials look like two
        // hours' by the host clock, but count for one.
        let upstream_now = clock::wall_date() + time::Duration::hours(1);
        let e = Expiry::at_wall_time(
            upstream_now + time::Duration::hours(1),
            time::Duration::hours(1),
        );
        assert_eq!(e.lifetime, Duration::from_secs(3600));
        assert_eq!(e.remaining(), Duration::from_secs(3600));
        // Without knowing the skew, the host clock is all there is.
        let naive = Expiry::at_wall_time(
            upstream_now + time::Duration::hours(1),
            time::Duration::ZERO,
        );
        assert_eq!(naive.lifetime, Duration::from_secs(7200));
    }

    #[tokio::test(start_paused = true)]
    async fn min_takes_the_earlier_on_each_clock() {
        let a = Expiry::after(Duration::from_secs(100));
        let b = Expiry::at_wall_time(a.at - time::Duration::seconds(10), time::Duration::ZERO);
        let m = a.min(b);
        assert_eq!(m.at, b.at);
        assert_eq!(m.remaining(), Duration::from_secs(90));
    }
}
