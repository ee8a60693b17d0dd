//! Upstream failure beyond a stopped emulator: a proxy in front of it that holds every answer for
//! 10 s, then one that resets every connection. No client waits past its timeout (they are
//! answered from memory), valid credentials keep being served, a clear error once they expire,
//! recovery when upstream returns, and no retry storm (the emulator counts the calls).

mod common;

use std::time::{Duration, Instant};

use common::*;

fn credentials_calls(emulator: &Emulator, pool: &Pool) -> u64 {
    emulator
        .calls(&pool.user_pool_id)
        .get("GetCredentialsForIdentity")
        .copied()
        .unwrap_or(0)
}

/// Polls the socket for `period`; returns (answers with credentials, errors, slowest answer).
fn poll(socket: &std::path::Path, period: Duration) -> (u32, Vec<String>, Duration) {
    let (mut served, mut errors, mut slowest) = (0, Vec::new(), Duration::ZERO);
    let end = Instant::now() + period;
    while Instant::now() < end {
        let started = Instant::now();
        let answer = unix_request(socket, None);
        slowest = slowest.max(started.elapsed());
        let doc: serde_json::Value = serde_json::from_str(&answer).unwrap();
        if doc["AccessKeyId"].is_string() {
            let left = seconds_until(doc["Expiration"].as_str().unwrap());
            assert!(left > 0.0, "served expired credentials: {doc}");
            served += 1;
        } else {
            errors.push(doc["error"].as_str().unwrap().to_owned());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    (served, errors, slowest)
}

#[test]
fn a_slow_then_resetting_upstream_never_makes_clients_wait_and_is_not_stormed() {
    let emulator = Emulator::shared();
    let pool = Pool::seed(emulator, SeedOptions::default());
    emulator.set_identity_ttl(&pool.identity_pool_id, 20);
    let proxy = Proxy::start(emulator.port);
    let dir = temp_dir();
    let socket = dir.path().join("c.sock");
    let daemon = DaemonCommand::serve(&proxy.url(), &["-e", "-S", socket.to_str().unwrap()])
        .envs(pool.env())
        .start();
    wait_for_credentials(&socket, None, Duration::from_secs(20));
    let before = credentials_calls(emulator, &pool);

    // Every answer held 10 s: renewal attempts time out; clients are answered from memory.
    proxy.set_fault(Fault::Delay(Duration::from_secs(10)));
    let (served, errors, slowest) = poll(&socket, Duration::from_secs(28));
    assert!(
        served > 0,
        "valid credentials were not served during the slow phase"
    );
    assert!(
        slowest < Duration::from_secs(1),
        "a client waited {slowest:?}"
    );
    let last = errors
        .last()
        .expect("no error once the credentials ran out");
    assert!(last.starts_with("credentials unavailable: "), "{last}");
    assert!(last.contains("could not be renewed"), "{last}");
    let slow_calls = credentials_calls(emulator, &pool) - before;
    println!("slow upstream, 28 s: {served} served, {} errors, slowest {slowest:?}, {slow_calls} upstream calls", errors.len());

    // Every connection reset: back-off, not a storm.
    let before = credentials_calls(emulator, &pool);
    proxy.set_fault(Fault::Reset);
    let (_, errors, slowest) = poll(&socket, Duration::from_secs(15));
    assert!(
        slowest < Duration::from_secs(1),
        "a client waited {slowest:?}"
    );
    assert!(
        errors
            .iter()
            .all(|e| e.starts_with("credentials unavailable: ")),
        "{errors:?}"
    );
    let reset_calls = credentials_calls(emulator, &pool) - before;
    assert!(
        reset_calls <= 2,
        "{reset_calls} calls reached the emulator through resets"
    );
    // The attempts themselves are counted in the daemon's log: doubling back-off, capped at 30 s.
    let attempts = daemon.log().matches("could not reach Cognito").count();
    println!("slow + resetting upstream: {attempts} failed attempts logged");
    assert!(
        attempts <= 14,
        "{attempts} attempts in ~43 s: a retry storm"
    );

    // Upstream returns: served again within one back-off period.
    proxy.set_fault(Fault::None);
    let recovered = Instant::now();
    wait_for_credentials(&socket, None, Duration::from_secs(35));
    println!(
        "recovered {:?} after upstream returned",
        recovered.elapsed()
    );
    drop(daemon);
}
