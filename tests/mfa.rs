//! TOTP MFA, unattended: the daemon answers SOFTWARE_TOKEN_MFA with a code from the user's seed
//! (checked by the emulator against the seed, and refused when reused within its step).

mod common;

use std::time::Duration;

use common::*;

const START: Duration = Duration::from_secs(20);

fn totp_pool(emulator: &Emulator) -> Pool {
    Pool::seed(
        emulator,
        SeedOptions {
            mfa_totp: true,
            ..Default::default()
        },
    )
}

#[test]
fn a_pool_requiring_totp_serves_credentials_with_the_seed() {
    let emulator = Emulator::shared();
    let pool = totp_pool(emulator);
    let seed = pool.totp_secret.clone().expect("the seeded user has TOTP");
    emulator.reset_calls(&pool.user_pool_id);
    let dir = temp_dir();
    let socket = dir.path().join("c.sock");
    let daemon = DaemonCommand::serve(&emulator.url(), &["-e", "-S", socket.to_str().unwrap()])
        .envs(pool.env())
        .env("COGNITO_TOTP_SECRET", &seed)
        .start();
    let doc = wait_for_credentials(&socket, None, START);
    assert_process_credentials(&doc);
    let calls = emulator.calls(&pool.user_pool_id);
    // PASSWORD_VERIFIER, then SOFTWARE_TOKEN_MFA.
    assert_eq!(calls.get("RespondToAuthChallenge"), Some(&2), "{calls:?}");
    let (status, log) = daemon.stop();
    assert!(status.success(), "{log}");
    assert!(!log.contains(&seed), "the seed is never logged");
}

#[test]
fn a_wrong_seed_is_refused_with_a_message_naming_mfa() {
    let emulator = Emulator::shared();
    let pool = totp_pool(emulator);
    let dir = temp_dir();
    let socket = dir.path().join("c.sock");
    let wrong = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
    let daemon = DaemonCommand::serve(&emulator.url(), &["-e", "-S", socket.to_str().unwrap()])
        .envs(pool.env())
        .env("COGNITO_TOTP_SECRET", wrong)
        .start();
    daemon.wait_for_log("renewal_refused", START);
    let doc = unix_json(&socket, None);
    let error = doc["error"].as_str().unwrap_or_default();
    assert!(error.contains("CodeMismatchException"), "{doc}");
    assert!(error.contains("MFA code"), "{doc}");
    assert!(error.contains("TOTP seed"), "{doc}");
    assert!(!daemon.log().contains(wrong), "the seed is never logged");
}

#[test]
fn a_seed_that_is_not_base32_is_a_configuration_error_that_does_not_show_it() {
    let emulator = Emulator::shared();
    let pool = totp_pool(emulator);
    let dir = temp_dir();
    let socket = dir.path().join("c.sock");
    let mut daemon = DaemonCommand::serve(&emulator.url(), &["-e", "-S", socket.to_str().unwrap()])
        .envs(pool.env())
        .env("COGNITO_TOTP_SECRET", "not-a-seed-0189")
        .start();
    wait_until("the daemon refuses to start", START, || {
        daemon.exited().is_some()
    });
    let log = daemon.plain_log();
    assert!(log.contains("COGNITO_TOTP_SECRET"), "{log}");
    assert!(log.contains("not a base32 TOTP seed"), "{log}");
    assert!(!log.contains("not-a-seed-0189"), "{log}");
}

#[test]
fn a_reload_right_after_a_sign_in_does_not_send_the_same_code_twice() {
    let emulator = Emulator::shared();
    let pool = totp_pool(emulator);
    let seed = pool.totp_secret.clone().unwrap();
    let dir = temp_dir();
    let socket = dir.path().join("c.sock");
    let daemon = DaemonCommand::serve(&emulator.url(), &["-e", "-S", socket.to_str().unwrap()])
        .envs(pool.env())
        .env("COGNITO_TOTP_SECRET", &seed)
        .start();
    wait_for_credentials(&socket, None, START);
    // A reload signs in again at once, most likely within the same 30 s step, whose code the
    // emulator (like Cognito) refuses a second time.
    daemon.signal(nix::sys::signal::Signal::SIGHUP);
    daemon.wait_for_log("configuration reloaded", Duration::from_secs(40));
    wait_until("a second sign-in", Duration::from_secs(40), || {
        emulator
            .calls(&pool.user_pool_id)
            .get("RespondToAuthChallenge")
            .copied()
            .unwrap_or(0)
            >= 4
    });
    let doc = wait_for_credentials(&socket, None, START);
    assert_process_credentials(&doc);
    let log = daemon.plain_log();
    assert!(!log.contains("CodeMismatchException"), "{log}");
    let (status, log) = daemon.stop();
    assert!(status.success(), "{log}");
}
