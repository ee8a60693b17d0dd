//! When credentials or tokens expire, on both clocks: the wall-clock time clients are told, and a
//! monotonic deadline the daemon decides by (so a clock step, or tokio's paused clock in tests,
//! cannot make it serve something expired).

use std::time::Duration;

use time::OffsetDateTime;
use tokio::time::Instant;

/// An expiry read off an upstream answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expiry {
    /// Wall-clock expiry, as the upstream stated it.
    pub at: OffsetDateTime,
    /// The same moment on the monotonic clock.
    pub deadline: Instant,
    /// How long it was valid when received.
    pub lifetime: Duration,
}

impl Expiry {
    /// An expiry `lifetime` from now.
    pub fn after(lifetime: Duration) -> Self {
        Expiry {
            at: OffsetDateTime::now_utc() + lifetime,
            deadline: Instant::now() + lifetime,
            lifetime,
        }
    }

    /// An expiry at a wall-clock time; a time already past gives a zero lifetime.
    pub fn at_wall_time(at: OffsetDateTime) -> Self {
        let left = at - OffsetDateTime::now_utc();
        let lifetime = Duration::try_from(left).unwrap_or(Duration::ZERO);
        Expiry {
            at,
            deadline: Instant::now() + lifetime,
            lifetime,
        }
    }

    /// The earlier of two expiries.
    pub fn min(self, other: Expiry) -> Expiry {
        if other.deadline < self.deadline {
            other
        } else {
            self
        }
    }

    /// Time left now.
    pub fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    /// RFC 3339 in UTC without fractions, e.g. `2026-11-28T10:41:08Z`, as strict parsers want.
    pub fn rfc3339(&self) -> String {
        rfc3339(self.at)
    }
}

/// A time as RFC 3339 in UTC without fractions, e.g. `2026-11-28T10:41:08Z`.
pub fn rfc3339(at: OffsetDateTime) -> String {
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
    use time::macros::datetime;

    #[tokio::test]
    async fn formats_rfc3339_utc_without_fraction() {
        let mut e = Expiry::after(Duration::from_secs(60));
        e.at = datetime!(2026-11-28 10:41:08.448710 +01:00);
        assert_eq!(e.rfc3339(), "2026-11-28T09:41:08Z");
    }

    #[tokio::test(start_paused = true)]
    async fn remaining_follows_the_monotonic_clock() {
        let e = Expiry::after(Duration::from_secs(90));
        tokio::time::advance(Duration::from_secs(60)).await;
        assert_eq!(e.remaining(), Duration::from_secs(30));
        tokio::time::advance(Duration::from_secs(60)).await;
        assert_eq!(e.remaining(), Duration::ZERO);
    }
}
