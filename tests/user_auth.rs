//! Choice-based sign-in (`auth_type = user_auth`, InitiateAuth USER_AUTH) against the strict
//! emulator's model of it: PASSWORD_SRP asked for at once, SELECT_CHALLENGE answered with
//! PASSWORD when that is all the client offers, passwordless-only pools refused with the fix.

mod common;

use std::time::Duration;

use common::*;

const START: Duration = Duration::from_secs(20);

fn user_auth_daemon(emulator: &Emulator, pool: &Pool, socket: &std::path::Path) -> Daemon {
    user_auth_command(emulator, pool, socket).start()
}

fn user_auth_command(emulator: &Emulator, pool: &Pool, socket: &std::path::Path) -> DaemonCommand {
    DaemonCommand::serve(&emulator.url(), &["-e", "-S", socket.to_str().unwrap()])
        .envs(pool.env())
        .env("COGNITO_AUTH_TYPE", "user_auth")
}

#[test]
fn user_auth_signs_in_with_password_srp_asked_for_at_once() {
    let emulator = Emulator::shared();
    let pool = Pool::seed(
        emulator,
        SeedOptions {
            user_auth: true,
            client_secret: true,
            ..Default::default()
        },
    );
    let dir = temp_dir();
    let socket = dir.path().join("c.sock");
    let daemon = user_auth_daemon(emulator, &pool, &socket);
    let doc = wait_for_credentials(&socket, None, START);
    assert_process_credentials(&doc);
    let calls = emulator.calls(&pool.user_pool_id);
    assert_eq!(calls.get("InitiateAuth:USER_AUTH"), Some(&1), "{calls:?}");
    assert_eq!(calls.get("InitiateAuth:USER_SRP_AUTH"), None, "{calls:?}");
    // The PASSWORD_VERIFIER answer, checked against the password by real SRP arithmetic.
    assert_eq!(calls.get("RespondToAuthChallenge"), Some(&1), "{calls:?}");
    let (status, log) = daemon.stop();
    assert!(status.success(), "{log}");
}

#[test]
fn user_auth_with_a_wrong_password_is_refused_as_such() {
    let emulator = Emulator::shared();
    let pool = Pool::seed(
        emulator,
        SeedOptions {
            user_auth: true,
            ..Default::default()
        },
    );
    let dir = temp_dir();
    let socket = dir.path().join("c.sock");
    let daemon = user_auth_command(emulator, &pool, &socket)
        .env("COGNITO_PASSWORD", "Wrong-Password-0")
        .start();
    daemon.wait_for_log("renewal_refused", START);
    let doc = unix_json(&socket, None);
    let error = doc["error"].as_str().unwrap_or_default();
    assert!(error.contains("NotAuthorizedException"), "{doc}");
    assert!(error.contains("check the password"), "{doc}");
}

#[test]
fn user_auth_answers_select_challenge_with_password_when_srp_is_not_offered() {
    let emulator = Emulator::shared();
    let pool = Pool::seed(
        emulator,
        SeedOptions {
            user_auth: true,
            without_srp: true,
            ..Default::default()
        },
    );
    let dir = temp_dir();
    let socket = dir.path().join("c.sock");
    let daemon = user_auth_daemon(emulator, &pool, &socket);
    let doc = wait_for_credentials(&socket, None, START);
    assert_process_credentials(&doc);
    let calls = emulator.calls(&pool.user_pool_id);
    assert_eq!(calls.get("InitiateAuth:USER_AUTH"), Some(&1), "{calls:?}");
    // SELECT_CHALLENGE answered with PASSWORD: one answer, tokens at once.
    assert_eq!(calls.get("RespondToAuthChallenge"), Some(&1), "{calls:?}");
    let (status, log) = daemon.stop();
    assert!(status.success(), "{log}");
}

#[test]
fn a_passwordless_only_pool_is_refused_with_what_the_administrator_can_do() {
    let emulator = Emulator::shared();
    let pool = Pool::seed(
        emulator,
        SeedOptions {
            user_auth: true,
            first_auth_factors: Some("EMAIL_OTP"),
            ..Default::default()
        },
    );
    let dir = temp_dir();
    let socket = dir.path().join("c.sock");
    let daemon = user_auth_daemon(emulator, &pool, &socket);
    daemon.wait_for_log("renewal_refused", START);
    let doc = unix_json(&socket, None);
    let error = doc["error"].as_str().unwrap_or_default();
    assert!(error.contains("offering only EMAIL_OTP"), "{doc}");
    assert!(error.contains("passwordless"), "{doc}");
    assert!(error.contains("allow PASSWORD"), "{doc}");
    // Refused once, not retried in a loop.
    let calls = emulator.calls(&pool.user_pool_id);
    assert_eq!(calls.get("InitiateAuth:USER_AUTH"), Some(&1), "{calls:?}");
}
