//! The wall clock, as the daemon reads it.
//!
//! Expiry is decided by the wall clock, because that is what Cognito, STS and every SDK compare an
//! `Expiration` against; the monotonic clock (tokio's `Instant`) only paces retries and bounds how
//! long something received may be used, whatever the wall clock does afterwards.
//!
//! In the crate's unit tests the wall clock is simulated: it follows tokio's (paused) clock from a
//! fixed start, plus an offset a test can step, so that a suspend (the wall clock jumps while the
//! monotonic clock stands still) and clock steps forwards and backwards can be played out
//! deterministically. The simulation is per thread, which is per test with tokio's default
//! current-thread test runtime, so tests running side by side do not see each other's steps.

use std::time::SystemTime;

use time::OffsetDateTime;

/// The wall clock now: one `clock_gettime(CLOCK_REALTIME)`.
#[cfg(not(test))]
#[inline]
pub(crate) fn wall_now() -> SystemTime {
    SystemTime::now()
}

/// The wall clock now (simulated in unit tests).
#[cfg(test)]
pub fn wall_now() -> SystemTime {
    simulated::now()
}

/// The wall clock now, as a date.
pub(crate) fn wall_date() -> OffsetDateTime {
    OffsetDateTime::from(wall_now())
}

#[cfg(test)]
pub use simulated::step_wall_clock;

#[cfg(test)]
mod simulated {
    use std::cell::Cell;
    use std::time::{Duration, SystemTime};

    use tokio::time::Instant;

    thread_local! {
        /// The monotonic instant the simulated wall clock started at, and its offset since.
        static START: Cell<Option<Instant>> = const { Cell::new(None) };
        static OFFSET_NS: Cell<i128> = const { Cell::new(0) };
    }

    /// A fixed, recognisable start: 2026-01-01T00:00:00Z.
    const EPOCH_START: Duration = Duration::from_secs(1_767_225_600);

    pub fn now() -> SystemTime {
        let start = START.with(|s| match s.get() {
            Some(start) => start,
            None => {
                let start = Instant::now();
                s.set(Some(start));
                start
            }
        });
        let elapsed = Instant::now().saturating_duration_since(start).as_nanos() as i128;
        let since_epoch = EPOCH_START.as_nanos() as i128 + elapsed + OFFSET_NS.with(Cell::get);
        SystemTime::UNIX_EPOCH + Duration::from_nanos(since_epoch.max(0) as u64)
    }

    /// Moves the simulated wall clock of this thread by `by` without moving the monotonic clock:
    /// forwards is what a suspend or a forward step looks like, backwards an NTP correction.
    pub fn step_wall_clock(by: time::Duration) {
        now(); // fix the start first, so the step is relative to the clock as it reads now
        OFFSET_NS.with(|o| o.set(o.get() + by.whole_nanoseconds()));
    }
}
