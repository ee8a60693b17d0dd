//! Cognito throttling the account: the daemon backs off with full jitter (not a retry every
//! second), says "throttled by Cognito" in its status, and recovers once the quota is back.

mod common;

use std::time::{Duration, Instant};

use common::*;

#[test]
fn throttled_at_start_backs_off_reports_it_and_recovers() {
    const THROTTLED_S: u64 = 10;
    let emulator = Emulator::shared();
    let pool = Pool::seed(emulator, SeedOptions::default());
    emulator.reset_calls(&pool.user_pool_id);
    emulator.throttle(&pool.user_pool_id, THROTTLED_S as f64);
    let throttled_since = Instant::now();
    let dir = temp_dir();
    let notify = NotifySocket::bind(dir.path());
    let socket = dir.path().join("c.sock");
    let daemon = DaemonCommand::serve(&emulator.url(), &["-e", "-S", socket.to_str().unwrap()])
        .envs(pool.env())
        .env("NOTIFY_SOCKET", notify.path.to_str().unwrap())
        .start();

    notify.wait_for("a status naming the throttling", 0, |m| {
        m.contains("STATUS=") && m.contains("throttled by Cognito")
    });
    let doc = unix_json(&socket, None);
    let error = doc["error"].as_str().unwrap_or_default().to_owned();
    assert!(error.contains("throttled by Cognito"), "{doc}");
    assert!(error.contains("TooManyRequestsException"), "{doc}");

    // Recovers after the throttling ends (the last full-jitter delay is at most 16 s here).
    let doc = wait_for_credentials(&socket, None, Duration::from_secs(THROTTLED_S + 40));
    assert_process_credentials(&doc);
    let recovered_after = throttled_since.elapsed();
    let calls = emulator.calls(&pool.user_pool_id);
    let throttled = calls.get("InitiateAuth:throttled").copied().unwrap_or(0);
    eprintln!("{throttled} throttled sign-in attempts in {THROTTLED_S} s, credentials after {recovered_after:?}: {calls:?}");
    // Exponential full jitter from 1 s: a handful of attempts in 10 s, never one a second.
    assert!(
        (2..=9).contains(&throttled),
        "{throttled} throttled attempts: {calls:?}"
    );
    let log = daemon.plain_log();
    assert!(log.contains("throttled by Cognito, backing off"), "{log}");
    let (status, log) = daemon.stop();
    assert!(status.success(), "{log}");
}
