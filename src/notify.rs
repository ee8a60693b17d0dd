//! The service manager protocol: READY, STATUS, RELOADING, STOPPING and WATCHDOG messages.
//! Without NOTIFY_SOCKET every call is a no-op (sd-notify checks), so a laptop run is unaffected.

use std::sync::Arc;
use std::time::Duration;

use sd_notify::NotifyState;
use tracing::debug;

use crate::credentials::{CredentialStore, Phase, Snapshot};

/// Sends one set of states; a failure to notify is logged, never fatal.
fn send(states: &[NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(states) {
        debug!(error = %e, "could not notify the service manager");
    }
}

/// Readiness, with the status line.
pub(crate) fn ready(status: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// The one-line status.
pub(crate) fn status(status: &str) {
    send(&[NotifyState::Status(status)]);
}

/// A reload has begun (systemd wants the monotonic time with it, for Type=notify-reload).
pub(crate) fn reloading() {
    match NotifyState::monotonic_usec_now() {
        Ok(now) => send(&[
            NotifyState::Reloading,
            now,
            NotifyState::Status("reloading the configuration"),
        ]),
        Err(_) => send(&[NotifyState::Reloading]),
    }
}

/// Shutdown has begun.
pub(crate) fn stopping() {
    send(&[
        NotifyState::Stopping,
        NotifyState::Status("stopping: finishing requests in flight"),
    ]);
}

/// Keep-alive for WatchdogSec=.
pub(crate) fn watchdog() {
    send(&[NotifyState::Watchdog]);
}

/// How often to send WATCHDOG=1: half the interval systemd set, or `None` without a watchdog.
pub(crate) fn watchdog_period() -> Option<Duration> {
    sd_notify::watchdog_enabled().map(|interval| interval / 2)
}

/// The status line for a snapshot, e.g. `serving on unix, tcp; credentials valid until 12:34:56Z`.
pub(crate) fn status_line(snapshot: &Snapshot, transports: &str) -> String {
    let valid = snapshot
        .issued
        .as_ref()
        .filter(|i| i.is_servable())
        .map(|i| i.expiry.rfc3339());
    let line = match (&snapshot.phase, valid, &snapshot.last_error) {
        (Phase::Starting, _, None) => format!("signing in to Cognito; listening on {transports}"),
        (Phase::Starting, _, Some(err)) => format!("signing in to Cognito (retrying: {err})"),
        (_, Some(until), None) => {
            format!("serving on {transports}; credentials valid until {until}")
        }
        (_, Some(until), Some(err)) => format!(
            "serving on {transports}; credentials valid until {until}; renewal failing: {err}"
        ),
        (_, None, Some(err)) => format!("sign-in failed: {err}"),
        (_, None, None) => format!("renewing credentials; listening on {transports}"),
    };
    match &snapshot.clock_skew {
        Some(reading) => format!("{line}; {reading}"),
        None => line,
    }
}

/// Keeps STATUS= in step with the credential store; sends READY=1 once the first sign-in has
/// succeeded or definitively failed.
pub(crate) async fn follow(store: CredentialStore, transports: String, ready_sent: bool) {
    let mut updates = store.subscribe();
    let mut ready_sent = ready_sent;
    loop {
        let snapshot: Arc<Snapshot> = updates.borrow_and_update().clone();
        let line = status_line(&snapshot, &transports);
        if !ready_sent && snapshot.settled() {
            ready(&line);
            ready_sent = true;
        } else {
            status(&line);
        }
        if updates.changed().await.is_err() {
            return;
        }
    }
}
