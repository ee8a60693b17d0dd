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
    // A refused code is tried once more with the next step's (another process may have used
    // this step's), so the refusal comes within one 30 s step more.
    daemon.wait_for_log("totp_code_refused", START);
    daemon.wait_for_log("renewal_refused", START + Duration::from_secs(31));
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

/// `cognitod configure` or `check --login` signed in moments before with the same seed: the
/// daemon's first code is then refused as used, and the next step's is accepted.
#[test]
fn a_code_used_by_another_process_is_followed_by_the_next_step_s() {
    let emulator = Emulator::shared();
    let pool = totp_pool(emulator);
    let seed = pool.totp_secret.clone().unwrap();
    let env: Vec<(String, String)> = pool
        .env()
        .into_iter()
        .chain([
            ("COGNITO_TOTP_SECRET".to_owned(), seed.clone()),
            ("AWS_ENDPOINT_URL".to_owned(), emulator.url()),
            ("PATH".to_owned(), std::env::var("PATH").unwrap()),
        ])
        .collect();
    // Early enough in its step that the daemon below starts in the same one.
    let left = 30
        - std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            % 30;
    if left < 10 {
        std::thread::sleep(Duration::from_secs(left + 1));
    }
    let checked = std::process::Command::new(env!("CARGO_BIN_EXE_cognitod"))
        .args(["check", "-e", "--login"])
        .env_clear()
        .envs(env)
        .output()
        .unwrap();
    assert!(checked.status.success(), "{checked:?}");
    emulator.reset_calls(&pool.user_pool_id);
    let dir = temp_dir();
    let socket = dir.path().join("c.sock");
    let daemon = DaemonCommand::serve(&emulator.url(), &["-e", "-S", socket.to_str().unwrap()])
        .envs(pool.env())
        .env("COGNITO_TOTP_SECRET", &seed)
        .start();
    let doc = wait_for_credentials(&socket, None, START + Duration::from_secs(31));
    assert_process_credentials(&doc);
    let calls = emulator.calls(&pool.user_pool_id);
    assert_eq!(
        calls.get("RespondToAuthChallenge:SOFTWARE_TOKEN_MFA"),
        Some(&2),
        "{calls:?}"
    );
    let (status, log) = daemon.stop();
    assert!(status.success(), "{log}");
    assert!(log.contains("totp_code_refused"), "{log}");
    assert!(!log.contains(&seed), "the seed is never logged");
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
