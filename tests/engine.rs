//! The credential engine end to end: the built daemon, signing in to the strict Cognito emulator
//! with each flow, serving over its unix socket.

mod common;

use std::time::Duration;

use common::*;
use serde_json::Value;

const START: Duration = Duration::from_secs(20);

/// The identity pool's credentials for a user, fetched independently with boto3.
fn identity_pool_credentials(emulator: &Emulator, pool: &Pool) -> Value {
    let code = r#"
import base64, boto3, hashlib, hmac, json, os
e = os.environ
idp = boto3.client("cognito-idp", endpoint_url=e["EP"], region_name=e["R"])
params = {"USERNAME": e["U"], "PASSWORD": e["P"]}
if e.get("CS"):
    mac = hmac.new(e["CS"].encode(), (e["U"] + e["C"]).encode(), hashlib.sha256).digest()
    params["SECRET_HASH"] = base64.b64encode(mac).decode()
tok = idp.initiate_auth(ClientId=e["C"], AuthFlow="USER_PASSWORD_AUTH",
    AuthParameters=params)["AuthenticationResult"]["IdToken"]
ci = boto3.client("cognito-identity", endpoint_url=e["EP"], region_name=e["R"])
logins = {"cognito-idp.%s.amazonaws.com/%s" % (e["R"], e["UP"]): tok}
iid = ci.get_id(IdentityPoolId=e["IP"], Logins=logins)["IdentityId"]
c = ci.get_credentials_for_identity(IdentityId=iid, Logins=logins)["Credentials"]
print(json.dumps({"AccessKeyId": c["AccessKeyId"], "SecretAccessKey": c["SecretKey"], "SessionToken": c["SessionToken"]}))
"#;
    let url = emulator.url();
    let client_secret = pool.client_secret.clone().unwrap_or_default();
    let out = python_snippet(
        code,
        &[
            ("CS", &client_secret),
            ("EP", &url),
            ("R", &pool.region),
            ("C", &pool.client_id),
            ("U", &pool.username),
            ("P", &pool.password),
            ("UP", &pool.user_pool_id),
            ("IP", &pool.identity_pool_id),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
        ],
    );
    serde_json::from_str(&out).unwrap()
}

#[test]
fn srp_sign_in_serves_the_identity_pool_credentials_on_the_unix_socket() {
    let emulator = Emulator::shared();
    let pool = Pool::seed(emulator, SeedOptions::default());
    let dir = temp_dir();
    let socket = dir.path().join("c.sock");
    let daemon = DaemonCommand::serve(
        &emulator.url(),
        &["-e", "-s", "unix", "-S", socket.to_str().unwrap()],
    )
    .envs(pool.env())
    .start();
    let doc = wait_for_credentials(&socket, None, START);
    assert_process_credentials(&doc);
    let expected = identity_pool_credentials(emulator, &pool);
    for key in ["AccessKeyId", "SecretAccessKey", "SessionToken"] {
        assert_eq!(doc[key], expected[key], "{key}");
    }
    let calls = emulator.calls(&pool.user_pool_id);
    assert_eq!(
        calls.get("InitiateAuth:USER_SRP_AUTH"),
        Some(&1),
        "{calls:?}"
    );
    assert_eq!(
        calls
            .get("RespondToAuthChallenge:PASSWORD_VERIFIER")
            .or(calls.get("RespondToAuthChallenge")),
        Some(&1),
        "{calls:?}"
    );
    let (status, log) = daemon.stop();
    assert!(status.success(), "{log}");
}

#[test]
fn a_wrong_password_is_refused_through_srp_with_a_clear_error() {
    let emulator = Emulator::shared();
    let pool = Pool::seed(emulator, SeedOptions::default());
    let dir = temp_dir();
    let socket = dir.path().join("c.sock");
    let daemon = DaemonCommand::serve(&emulator.url(), &["-e", "-S", socket.to_str().unwrap()])
        .envs(pool.env())
        .env("COGNITO_PASSWORD", "Wrong-Password-1!")
        .start();
    daemon.wait_for_log("NotAuthorizedException", START);
    wait_for_socket(&socket, START);
    let answer: Value = serde_json::from_str(&unix_request(&socket, None)).unwrap();
    let error = answer["error"].as_str().unwrap();
    assert!(error.starts_with("credentials unavailable: "), "{error}");
    assert!(error.contains("NotAuthorizedException"), "{error}");
    assert!(error.contains("check the password"), "{error}");
    assert!(!error.contains("Wrong-Password-1!"), "{error}");
    let calls = emulator.calls(&pool.user_pool_id);
    // The signature was checked (and refused) by the strict emulator, not skipped.
    assert_eq!(
        calls.get("InitiateAuth:USER_SRP_AUTH"),
        Some(&1),
        "{calls:?}"
    );
}

/// Starts the daemon for `pool` (plus `extra` environment), waits for credentials, checks them and
/// returns the pool's upstream call counts, read before anything else talks to the pool.
fn serve_and_count(
    emulator: &Emulator,
    pool: &Pool,
    extra: &[(&str, &str)],
) -> (std::collections::BTreeMap<String, u64>, String) {
    let dir = temp_dir();
    let socket = dir.path().join("c.sock");
    let mut command =
        DaemonCommand::serve(&emulator.url(), &["-e", "-S", socket.to_str().unwrap()])
            .envs(pool.env());
    for (k, v) in extra {
        command = command.env(k, v);
    }
    let daemon = command.start();
    let doc = wait_for_credentials(&socket, None, START);
    assert_process_credentials(&doc);
    let calls = emulator.calls(&pool.user_pool_id);
    // The ID token was exchanged at this pool's identity pool (the Logins key names the pool).
    assert_eq!(calls.get("GetId"), Some(&1), "{calls:?}");
    assert_eq!(
        calls.get("GetCredentialsForIdentity"),
        Some(&1),
        "{calls:?}"
    );
    let expected = identity_pool_credentials(emulator, pool);
    for key in ["AccessKeyId", "SecretAccessKey", "SessionToken"] {
        assert_eq!(doc[key], expected[key], "{key}");
    }
    let (status, log) = daemon.stop();
    assert!(status.success(), "{log}");
    (calls, log)
}

fn assert_srp_once(calls: &std::collections::BTreeMap<String, u64>) {
    assert_eq!(calls.get("InitiateAuth"), Some(&1), "{calls:?}");
    assert_eq!(
        calls.get("InitiateAuth:USER_SRP_AUTH"),
        Some(&1),
        "{calls:?}"
    );
    assert_eq!(calls.get("RespondToAuthChallenge"), Some(&1), "{calls:?}");
}

fn assert_password_once(calls: &std::collections::BTreeMap<String, u64>) {
    assert_eq!(calls.get("InitiateAuth"), Some(&1), "{calls:?}");
    assert_eq!(
        calls.get("InitiateAuth:USER_PASSWORD_AUTH"),
        Some(&1),
        "{calls:?}"
    );
    assert_eq!(calls.get("InitiateAuth:USER_SRP_AUTH"), None, "{calls:?}");
    assert_eq!(calls.get("RespondToAuthChallenge"), None, "{calls:?}");
}

#[test]
fn user_password_auth_serves_credentials_through_the_password_flow() {
    let emulator = Emulator::shared();
    let pool = Pool::seed(emulator, SeedOptions::default());
    let (calls, _) = serve_and_count(emulator, &pool, &[("COGNITO_AUTH_TYPE", "user_password")]);
    assert_password_once(&calls);
}

#[test]
fn srp_with_an_app_client_secret_sends_the_right_secret_hashes() {
    let emulator = Emulator::shared();
    let options = SeedOptions {
        client_secret: true,
        ..Default::default()
    };
    let pool = Pool::seed(emulator, options);
    assert!(pool.client_secret.is_some());
    // The strict emulator checks SECRET_HASH on InitiateAuth and on the PASSWORD_VERIFIER answer.
    let (calls, _) = serve_and_count(emulator, &pool, &[]);
    assert_srp_once(&calls);
}

#[test]
fn password_auth_with_an_app_client_secret_sends_the_right_secret_hash() {
    let emulator = Emulator::shared();
    let options = SeedOptions {
        client_secret: true,
        ..Default::default()
    };
    let pool = Pool::seed(emulator, options);
    let (calls, _) = serve_and_count(emulator, &pool, &[("COGNITO_AUTH_TYPE", "user_password")]);
    assert_password_once(&calls);
}

#[test]
fn srp_with_email_login_and_a_client_secret_answers_as_user_id_for_srp() {
    let emulator = Emulator::shared();
    let options = SeedOptions {
        client_secret: true,
        email_login: true,
        ..Default::default()
    };
    let pool = Pool::seed(emulator, options);
    // The login name is the e-mail; the internal name (USER_ID_FOR_SRP) is the sub. The strict
    // emulator refuses an answer whose USERNAME or SECRET_HASH uses the e-mail.
    assert!(pool.username.contains('@'), "{pool:?}");
    assert_ne!(pool.username, pool.user_sub);
    let (calls, log) = serve_and_count(emulator, &pool, &[]);
    assert_srp_once(&calls);
    assert!(
        strip_ansi(&log).contains(&format!("user={}", pool.user_sub)),
        "the daemon should know the user by the internal name:\n{log}"
    );
}

#[test]
fn password_auth_with_email_login_and_a_client_secret_signs_in() {
    let emulator = Emulator::shared();
    let options = SeedOptions {
        client_secret: true,
        email_login: true,
        ..Default::default()
    };
    let pool = Pool::seed(emulator, options);
    let (calls, _) = serve_and_count(emulator, &pool, &[("COGNITO_AUTH_TYPE", "user_password")]);
    assert_password_once(&calls);
}

#[test]
fn a_wrong_client_secret_is_refused_with_a_hint_at_the_client_secret() {
    let emulator = Emulator::shared();
    let options = SeedOptions {
        client_secret: true,
        ..Default::default()
    };
    let pool = Pool::seed(emulator, options);
    let dir = temp_dir();
    let socket = dir.path().join("c.sock");
    let daemon = DaemonCommand::serve(&emulator.url(), &["-e", "-S", socket.to_str().unwrap()])
        .envs(pool.env())
        .env("COGNITO_CLIENT_SECRET", "not-the-client-secret-0123456789")
        .start();
    daemon.wait_for_log("NotAuthorizedException", START);
    let answer = unix_json(&socket, None);
    let error = answer["error"].as_str().unwrap();
    assert!(error.starts_with("credentials unavailable: "), "{error}");
    assert!(error.contains("Unable to verify secret hash"), "{error}");
    assert!(error.contains("client secret"), "{error}");
    assert!(!error.contains("not-the-client-secret"), "{error}");
}

/// A sign-in that ends in a challenge only a person can answer: a clear error on the socket, one
/// attempt only (no retry loop), and the daemon stays up.
fn challenge_is_reported_once(options: SeedOptions, challenge: &str, must_say: &[&str]) {
    let emulator = Emulator::shared();
    let pool = Pool::seed(emulator, options);
    // seed.py itself signed in to enrol the TOTP device; count only the daemon's calls.
    emulator.reset_calls(&pool.user_pool_id);
    let dir = temp_dir();
    let socket = dir.path().join("c.sock");
    let mut daemon = DaemonCommand::serve(&emulator.url(), &["-e", "-S", socket.to_str().unwrap()])
        .envs(pool.env())
        .start();
    daemon.wait_for_log(challenge, START);
    wait_for_socket(&socket, START);
    let first = unix_json(&socket, None);
    let error = first["error"].as_str().unwrap_or_else(|| panic!("{first}"));
    assert!(error.starts_with("credentials unavailable: "), "{error}");
    assert!(error.contains(challenge), "{error}");
    for words in must_say {
        assert!(error.contains(words), "{error:?} should say {words:?}");
    }
    assert!(!error.contains(&pool.password), "{error}");

    // A few seconds later: still running, still the same answer, and no second attempt.
    std::thread::sleep(Duration::from_secs(5));
    assert!(daemon.exited().is_none(), "{}", daemon.log());
    assert_eq!(unix_json(&socket, None), first);
    let calls = emulator.calls(&pool.user_pool_id);
    assert_eq!(calls.get("InitiateAuth"), Some(&1), "{calls:?}");
    assert_eq!(
        calls.get("InitiateAuth:USER_SRP_AUTH"),
        Some(&1),
        "{calls:?}"
    );
    // The password was proven once; the challenge that followed was not answered.
    assert_eq!(calls.get("RespondToAuthChallenge"), Some(&1), "{calls:?}");
    let (status, log) = daemon.stop();
    assert!(status.success(), "{log}");
}

#[test]
fn new_password_required_ends_in_a_clear_error_without_retrying() {
    challenge_is_reported_once(
        SeedOptions {
            force_change_password: true,
            ..Default::default()
        },
        "NEW_PASSWORD_REQUIRED",
        &["permanent password", "admin-set-user-password"],
    );
}

#[test]
fn totp_mfa_without_a_seed_ends_in_a_clear_error_without_retrying() {
    challenge_is_reported_once(
        SeedOptions {
            mfa_totp: true,
            ..Default::default()
        },
        "SOFTWARE_TOKEN_MFA",
        &[
            "TOTP MFA",
            "COGNITO_TOTP_SECRET",
            "remembered device",
            "without MFA",
        ],
    );
}

#[test]
fn mfa_setup_ends_in_a_clear_error_naming_configure_s_enrolment() {
    challenge_is_reported_once(
        SeedOptions {
            mfa: Some("ON"),
            ..Default::default()
        },
        "MFA_SETUP",
        &["requires MFA", "cognitod configure", "--enrol-totp"],
    );
}
