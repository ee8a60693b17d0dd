//! Cognito's clock, as its answers' `Date` headers tell it, beside this host's.
//!
//! Everything time-bound in a sign-in depends on the host clock agreeing with Cognito's: SRP's
//! TIMESTAMP (Cognito refuses one that is minutes off, which looks like a wrong password), and
//! every `Expiration` (Cognito states them on its clock; clients compare them with the host's).
//! An SDK interceptor reads the `Date` header of every answer, so the daemon knows the difference,
//! warns about it once, reports it in the service status, and measures lifetimes on Cognito's clock.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeDeserializationInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use aws_smithy_types::date_time::{DateTime, Format};
use time::OffsetDateTime;
use tracing::{info, warn};

use crate::clock;

/// Beyond this difference the host clock is reported as wrong: SRP sign-in starts failing at
/// about five minutes, and credentials look a minute shorter or longer to every client.
pub(crate) const SKEW_WORTH_REPORTING: time::Duration = time::Duration::minutes(1);
/// `Date` has whole seconds and arrives after a round trip, so a difference below this is noise
/// and counts as none.
const DATE_RESOLUTION: time::Duration = time::Duration::seconds(2);

/// One reading: Cognito's `Date` and the host's clock when the answer arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockReading {
    /// The host's wall clock when the answer arrived.
    pub host: OffsetDateTime,
    /// Cognito's clock, from the `Date` header.
    pub cognito: OffsetDateTime,
}

impl ClockReading {
    /// How far Cognito's clock is ahead of the host's (negative: behind); zero within the
    /// header's resolution.
    pub(crate) fn cognito_ahead_by(&self) -> time::Duration {
        let difference = self.cognito - self.host;
        if difference.abs() < DATE_RESOLUTION {
            time::Duration::ZERO
        } else {
            difference
        }
    }

    /// Whether the difference is large enough to explain refusals and to report.
    pub(crate) fn is_skewed(&self) -> bool {
        self.cognito_ahead_by().abs() > SKEW_WORTH_REPORTING
    }
}

impl std::fmt::Display for ClockReading {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ahead = self.cognito_ahead_by();
        let direction = if ahead.is_positive() {
            "behind"
        } else {
            "ahead of"
        };
        write!(
            f,
            "host clock {} s {direction} Cognito's (host {}, Cognito {}): fix time synchronisation \
             (timedatectl, chrony)",
            ahead.whole_seconds().abs(),
            crate::expiry::rfc3339(self.host),
            crate::expiry::rfc3339(self.cognito),
        )
    }
}

/// The latest reading, shared by every SDK client made for one configuration; an interceptor.
#[derive(Debug, Clone, Default)]
pub struct ServerClock {
    latest: Arc<Mutex<Option<ClockReading>>>,
    /// Whether the current skew was already logged (logged again only after it went away).
    reported: Arc<AtomicBool>,
}

impl ServerClock {
    /// The latest reading, if any answer had a `Date`.
    pub fn latest(&self) -> Option<ClockReading> {
        *self.latest.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How far Cognito's clock is ahead of the host's, as last seen (zero when unknown).
    pub(crate) fn cognito_ahead_by(&self) -> time::Duration {
        self.latest()
            .map_or(time::Duration::ZERO, |r| r.cognito_ahead_by())
    }

    /// The host clock now, corrected to Cognito's.
    pub(crate) fn cognito_now(&self) -> OffsetDateTime {
        clock::wall_date() + self.cognito_ahead_by()
    }

    /// The latest reading when it shows a skew worth reporting.
    pub(crate) fn skew(&self) -> Option<ClockReading> {
        self.latest().filter(ClockReading::is_skewed)
    }

    /// Records a reading; logs once when the clocks start or stop disagreeing.
    pub(crate) fn observe(&self, reading: ClockReading) {
        *self.latest.lock().unwrap_or_else(|e| e.into_inner()) = Some(reading);
        let skewed = reading.is_skewed();
        if skewed != self.reported.swap(skewed, Ordering::Relaxed) {
            if skewed {
                warn!(
                    event = "clock_skew",
                    host_time = %crate::expiry::rfc3339(reading.host),
                    cognito_time = %crate::expiry::rfc3339(reading.cognito),
                    "{reading}"
                );
            } else {
                info!(
                    event = "clock_in_sync",
                    "the host clock agrees with Cognito's again"
                );
            }
        }
    }
}

impl Intercept for ServerClock {
    fn name(&self) -> &'static str {
        "ServerClock"
    }

    fn read_before_deserialization(
        &self,
        context: &BeforeDeserializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let host = clock::wall_date();
        let cognito = context
            .response()
            .headers()
            .get("date")
            .and_then(|date| DateTime::from_str(date, Format::HttpDate).ok())
            .and_then(|date| OffsetDateTime::from_unix_timestamp(date.secs()).ok());
        if let Some(cognito) = cognito {
            self.observe(ClockReading { host, cognito });
        }
        // Reading the clock never fails the call.
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn reading(ahead_s: i64) -> ClockReading {
        let host = datetime!(2026-12-04 12:00:00 UTC);
        ClockReading {
            host,
            cognito: host + time::Duration::seconds(ahead_s),
        }
    }

    #[test]
    fn a_second_or_so_is_the_headers_resolution_not_a_skew() {
        assert_eq!(reading(1).cognito_ahead_by(), time::Duration::ZERO);
        assert_eq!(reading(-1).cognito_ahead_by(), time::Duration::ZERO);
        assert_eq!(reading(5).cognito_ahead_by(), time::Duration::seconds(5));
        assert!(!reading(60).is_skewed());
        assert!(reading(61).is_skewed());
        assert!(reading(-300).is_skewed());
    }

    #[test]
    fn the_report_names_both_times_the_direction_and_the_fix() {
        let text = reading(-300).to_string();
        assert!(text.contains("300 s ahead of Cognito's"), "{text}");
        assert!(text.contains("host 2026-12-04T12:00:00Z"), "{text}");
        assert!(text.contains("Cognito 2026-12-04T11:55:00Z"), "{text}");
        assert!(text.contains("timedatectl"), "{text}");
        assert!(reading(120).to_string().contains("120 s behind"));
    }

    #[test]
    fn skew_is_reported_only_when_worth_it() {
        let clock = ServerClock::default();
        assert_eq!(clock.skew(), None);
        clock.observe(reading(30));
        assert_eq!(clock.skew(), None);
        assert_eq!(clock.cognito_ahead_by(), time::Duration::seconds(30));
        clock.observe(reading(-600));
        assert_eq!(clock.skew(), Some(reading(-600)));
    }
}
