//! Keeping IAM credentials fresh against the emulator, in real time: renewal ahead of expiry with
//! clients never handed expired credentials, and an upstream outage (the emulator unreachable
//! behind a proxy) with still-valid credentials served, then a clear error, then recovery.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::*;

const START: Duration = Duration::from_secs(20);

fn get_credentials_count(emulator: &Emulator, pool: &Pool) -> u64 {
    emulator
        .calls(&pool.user_pool_id)
        .get("GetCredentialsForIdentity")
        .copied()
        .unwrap_or(0)
}

#[test]
fn credentials_are_renewed_before_expiry_and_never_served_expired() {
    const TTL: u64 = 30;
    let emulator = Emulator::shared();
    let pool = Pool::seed(emulator, SeedOptions::default());
    emulator.set_identity_ttl(&pool.identity_pool_id, TTL);
    let dir = temp_dir();
    let socket = dir.path().join("c.sock");
    let daemon = DaemonCommand::serve(&emulator.url(), &["-e", "-S", socket.to_str().unwrap()])
        .envs(pool.env())
        .start();
    let first = wait_for_credentials(&socket, None, START);
    assert!(seconds_until(first["Expiration"].as_str().unwrap()) <= TTL as f64 + 1.0);

    let started = Instant::now();
    let mut answers = 0;
    let mut least_left = f64::MAX;
    let mut expirations = BTreeSet::new();
    while started.elapsed() < Duration::from_secs(70) {
        let doc = unix_json(&socket, None);
        assert!(
            doc.get("error").is_none(),
            "after {:?}: {doc}",
            started.elapsed()
        );
        assert_process_credentials(&doc);
        let expiration = doc["Expiration"].as_str().unwrap().to_owned();
        let left = seconds_until(&expiration);
        // Withdrawn a tenth of the lifetime (3 s) before expiry; the Expiration is rounded down
        // to the second, so nearly 2 s must be left whenever a client gets them.
        assert!(left >= 1.5, "served with {left:.1} s left: {doc}");
        least_left = least_left.min(left);
        expirations.insert(expiration);
        answers += 1;
        std::thread::sleep(Duration::from_millis(100));
    }
    // 70 s of 30 s credentials renewed at 18..20 s of their life: at least three renewals.
    let renewals = get_credentials_count(emulator, &pool);
    assert!(renewals >= 4, "GetCredentialsForIdentity {renewals} times");
    assert!(renewals <= 6, "renewed too often: {renewals}");
    assert!(expirations.len() >= 4, "{expirations:?}");
    // The renewal ran well ahead of the serving cut-off, so clients never saw less than ~8 s.
    assert!(least_left >= 5.0, "least time left {least_left:.1} s");
    // Only the identity-pool credentials were renewed; the one-hour tokens were kept.
    let calls = emulator.calls(&pool.user_pool_id);
    assert_eq!(calls.get("InitiateAuth"), Some(&1), "{calls:?}");
    eprintln!(
        "{answers} answers, {renewals} GetCredentialsForIdentity, least left {least_left:.1} s"
    );
    let (status, log) = daemon.stop();
    assert!(status.success(), "{log}");
}

#[test]
fn an_unreachable_emulator_serves_valid_credentials_then_a_clear_error_then_recovers() {
    const TTL: u64 = 20;
    let emulator = Emulator::shared();
    let pool = Pool::seed(emulator, SeedOptions::default());
    emulator.set_identity_ttl(&pool.identity_pool_id, TTL);
    let proxy = Proxy::start(emulator.port);
    let dir = temp_dir();
    let socket = dir.path().join("c.sock");
    let daemon = DaemonCommand::serve(&proxy.url(), &["-e", "-S", socket.to_str().unwrap()])
        .envs(pool.env())
        .start();
    let first = wait_for_credentials(&socket, None, START);
    let first_expiration = first["Expiration"].as_str().unwrap().to_owned();
    let before_outage = get_credentials_count(emulator, &pool);
    assert_eq!(before_outage, 1);

    proxy.down();
    // Until the renewal has failed and the credentials near their end, they are still served.
    let mut served_while_failing = false;
    let error = loop {
        let doc = unix_json(&socket, None);
        if let Some(error) = doc.get("error") {
            break error.as_str().unwrap().to_owned();
        }
        assert_eq!(
            doc, first,
            "nothing new can come while the emulator is unreachable"
        );
        assert!(
            seconds_until(&first_expiration) >= 0.5,
            "served expired: {doc}"
        );
        if daemon.plain_log().contains("renewal_failed") {
            served_while_failing = true;
        }
        assert!(
            seconds_until(&first_expiration) > -5.0,
            "still serving after expiry"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(served_while_failing, "{}", daemon.plain_log());
    // No call got through the proxy.
    assert_eq!(get_credentials_count(emulator, &pool), before_outage);
    eprintln!("while unreachable: {error}");
    assert!(error.starts_with("credentials unavailable: "), "{error}");
    assert!(error.contains("could not be renewed"), "{error}");
    assert!(error.contains("GetCredentialsForIdentity"), "{error}");
    assert!(
        error.to_lowercase().contains("connection refused")
            || error.to_lowercase().contains("connect"),
        "the error should say what failed: {error}"
    );
    // The error came near the end of the credentials' life, not long before.
    let left = seconds_until(&first_expiration);
    assert!(left < 4.0, "withdrawn with {left:.1} s left");

    // Still an error a little later, never the expired credentials.
    std::thread::sleep(Duration::from_secs(3));
    let doc = unix_json(&socket, None);
    assert!(doc.get("error").is_some(), "{doc}");

    proxy.up(emulator.port);
    let back = Instant::now();
    let doc = wait_for_credentials(&socket, None, Duration::from_secs(40));
    let took = back.elapsed();
    assert!(took <= Duration::from_secs(33), "recovered after {took:?}");
    assert_process_credentials(&doc);
    assert_ne!(doc["Expiration"], first["Expiration"]);
    assert!(seconds_until(doc["Expiration"].as_str().unwrap()) > 10.0);
    assert!(get_credentials_count(emulator, &pool) > before_outage);
    eprintln!("recovered {took:?} after the emulator came back");
    let (status, log) = daemon.stop();
    assert!(status.success(), "{log}");
}
