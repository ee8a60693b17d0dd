//! Tokens mode (`-C tokens`): the answer's shape, the refresh token kept private unless the config
//! file allows it, and renewal through GetTokensFromRefreshToken (rotating app clients included;
//! REFRESH_TOKEN_AUTH on an endpoint without it) with its fall back to a full sign-in.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

const START: Duration = Duration::from_secs(20);
/// ID and access token lifetime of the short-lived pools: renewal comes ~13 s after sign-in.
const TOKEN_SECONDS: u32 = 20;

fn keys(doc: &Value) -> BTreeSet<&str> {
    doc.as_object()
        .unwrap_or_else(|| panic!("{doc}"))
        .keys()
        .map(String::as_str)
        .collect()
}

/// Starts a tokens-mode daemon for `pool` from the environment.
fn tokens_daemon(emulator: &Emulator, pool: &Pool, socket: &Path) -> Daemon {
    DaemonCommand::serve(
        &emulator.url(),
        &["-e", "-C", "tokens", "-S", socket.to_str().unwrap()],
    )
    .envs(pool.env())
    .start()
}

fn short_lived(client_secret: bool, email_login: bool) -> SeedOptions {
    SeedOptions {
        client_secret,
        email_login,
        token_validity_seconds: Some(TOKEN_SECONDS),
        ..Default::default()
    }
}

fn count(emulator: &Emulator, pool: &Pool, key: &str) -> u64 {
    emulator
        .calls(&pool.user_pool_id)
        .get(key)
        .copied()
        .unwrap_or(0)
}

/// Runs a boto3 snippet against the emulator with the pool's ids in E (EP, R, C, U, UP, CS).
fn boto3(emulator: &Emulator, pool: &Pool, code: &str, extra: &[(&str, &str)]) -> String {
    let url = emulator.url();
    let secret = pool.client_secret.clone().unwrap_or_default();
    let mut env = vec![
        ("EP", url.as_str()),
        ("R", pool.region.as_str()),
        ("C", pool.client_id.as_str()),
        ("U", pool.username.as_str()),
        ("UP", pool.user_pool_id.as_str()),
        ("CS", secret.as_str()),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
    ];
    env.extend_from_slice(extra);
    python_snippet(code, &env)
}

#[test]
fn the_tokens_answer_has_exactly_id_token_access_token_and_token_expires() {
    let emulator = Emulator::shared();
    let pool = Pool::seed(emulator, SeedOptions::default());
    let dir = temp_dir();
    let socket = dir.path().join("t.sock");
    let daemon = tokens_daemon(emulator, &pool, &socket);
    let doc = wait_for_credentials(&socket, None, START);
    assert_eq!(
        keys(&doc),
        BTreeSet::from(["id_token", "access_token", "token_expires"]),
        "{doc}"
    );
    let expires = doc["token_expires"].as_str().unwrap();
    assert!(expires.ends_with('Z'), "{expires}");
    let id = jwt_claims(doc["id_token"].as_str().unwrap());
    let access = jwt_claims(doc["access_token"].as_str().unwrap());
    assert_eq!(id["token_use"], "id", "{id}");
    assert_eq!(access["token_use"], "access", "{access}");
    assert_eq!(id["cognito:username"], pool.username.as_str(), "{id}");
    // token_expires is the tokens' own expiry (default one hour), to the second.
    let exp = id["exp"].as_i64().unwrap();
    assert!(
        (rfc3339(expires).unix_timestamp() - exp).abs() <= 1,
        "{expires} vs exp {exp}"
    );
    assert!(seconds_until(expires) > 3500.0, "{expires}");
    // No identity pool in tokens mode.
    let calls = emulator.calls(&pool.user_pool_id);
    assert_eq!(calls.get("GetId"), None, "{calls:?}");
    assert_eq!(
        calls.get("InitiateAuth:USER_SRP_AUTH"),
        Some(&1),
        "{calls:?}"
    );

    // The access token is a live one: the user pool knows whose it is.
    let code = r#"
import boto3, os
e = os.environ
idp = boto3.client("cognito-idp", endpoint_url=e["EP"], region_name=e["R"])
print(idp.get_user(AccessToken=e["AT"])["Username"])
"#;
    let user = boto3(
        emulator,
        &pool,
        code,
        &[("AT", doc["access_token"].as_str().unwrap())],
    );
    assert_eq!(user.trim(), pool.username);
    drop(daemon);
}

#[test]
fn the_refresh_token_is_handed_out_only_when_the_config_file_allows_it() {
    let emulator = Emulator::shared();
    let pool = Pool::seed(emulator, SeedOptions::default());
    let dir = temp_dir();
    let config = |expose: Option<bool>, socket: &Path| {
        let mut global = serde_json::json!({ "credential_type": "tokens" });
        if let Some(expose) = expose {
            global["expose_refresh_token"] = expose.into();
        }
        serde_json::json!({
            "global": global,
            "server": { "socket_path": socket },
            "cognito": {
                "username": pool.username, "password": pool.password, "app_id": pool.client_id,
                "user_pool_id": pool.user_pool_id, "region": pool.region,
            }
        })
        .to_string()
    };
    let mut docs = Vec::new();
    for (name, expose) in [("on", Some(true)), ("off", Some(false)), ("unset", None)] {
        let socket = dir.path().join(format!("{name}.sock"));
        let file = dir.path().join(format!("{name}.json"));
        write_file(&file, &config(expose, &socket), 0o600);
        let daemon = DaemonCommand::serve(&emulator.url(), &["-c", file.to_str().unwrap()]).start();
        docs.push((name, wait_for_credentials(&socket, None, START), daemon));
    }
    for (name, doc, _) in &docs[1..] {
        assert_eq!(
            keys(doc),
            BTreeSet::from(["id_token", "access_token", "token_expires"]),
            "{name}: {doc}"
        );
    }
    let exposed = &docs[0].1;
    assert_eq!(
        keys(exposed),
        BTreeSet::from(["id_token", "access_token", "token_expires", "refresh_token"]),
        "{exposed}"
    );
    // It is the real refresh token: the user pool takes it.
    let code = r#"
import boto3, os
e = os.environ
idp = boto3.client("cognito-idp", endpoint_url=e["EP"], region_name=e["R"])
r = idp.initiate_auth(ClientId=e["C"], AuthFlow="REFRESH_TOKEN_AUTH",
    AuthParameters={"REFRESH_TOKEN": e["RT"]})
print("IdToken" in r["AuthenticationResult"])
"#;
    let out = boto3(
        emulator,
        &pool,
        code,
        &[("RT", exposed["refresh_token"].as_str().unwrap())],
    );
    assert_eq!(out.trim(), "True");
}

/// Follows a tokens-mode daemon until `done` holds, asserting that every answer along the way
/// carries tokens that have not expired (never an error); returns an answer taken after `done`.
fn follow(socket: &Path, timeout: Duration, mut done: impl FnMut() -> bool) -> Value {
    let deadline = Instant::now() + timeout;
    let valid = || {
        let doc = unix_json(socket, None);
        assert!(doc.get("error").is_none(), "a client got {doc}");
        let left = seconds_until(doc["token_expires"].as_str().unwrap());
        assert!(left > 0.0, "expired tokens served: {doc}");
        doc
    };
    loop {
        valid();
        if done() {
            return valid();
        }
        assert!(Instant::now() < deadline, "not done within {timeout:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn tokens_are_renewed_with_the_refresh_token_before_they_expire() {
    let emulator = Emulator::shared();
    let pool = Pool::seed(emulator, short_lived(false, false));
    let dir = temp_dir();
    let socket = dir.path().join("t.sock");
    let daemon = tokens_daemon(emulator, &pool, &socket);
    let first = wait_for_credentials(&socket, None, START);
    let left = seconds_until(first["token_expires"].as_str().unwrap());
    assert!(
        (10.0..=f64::from(TOKEN_SECONDS) + 1.0).contains(&left),
        "{first}"
    );

    // The call is counted when it arrives; the new tokens are served once it has answered.
    let renewed = follow(&socket, Duration::from_secs(30), || {
        count(emulator, &pool, "GetTokensFromRefreshToken") >= 1
            && unix_json(&socket, None)["id_token"] != first["id_token"]
    });
    assert_ne!(renewed["id_token"], first["id_token"]);
    assert_ne!(renewed["access_token"], first["access_token"]);
    assert!(
        rfc3339(renewed["token_expires"].as_str().unwrap())
            > rfc3339(first["token_expires"].as_str().unwrap()),
        "{first} then {renewed}"
    );
    let calls = emulator.calls(&pool.user_pool_id);
    // Renewed by the refresh token, not by signing in again.
    assert_eq!(
        calls.get("InitiateAuth:USER_SRP_AUTH"),
        Some(&1),
        "{calls:?}"
    );
    assert_eq!(calls.get("RespondToAuthChallenge"), Some(&1), "{calls:?}");
    assert_eq!(
        calls.get("GetTokensFromRefreshToken"),
        Some(&1),
        "{calls:?}"
    );
    assert_eq!(
        calls.get("InitiateAuth:REFRESH_TOKEN_AUTH"),
        None,
        "{calls:?}"
    );
    assert!(daemon.plain_log().contains("tokens_refreshed"));
}

#[test]
fn a_revoked_refresh_token_falls_back_to_a_full_sign_in() {
    let emulator = Emulator::shared();
    let pool = Pool::seed(emulator, short_lived(false, false));
    let dir = temp_dir();
    let socket = dir.path().join("t.sock");
    let daemon = tokens_daemon(emulator, &pool, &socket);
    let first = wait_for_credentials(&socket, None, START);
    assert_eq!(count(emulator, &pool, "InitiateAuth:USER_SRP_AUTH"), 1);

    // Sign the user out everywhere: moto then answers "Refresh Token has been revoked".
    let code = r#"
import boto3, os
e = os.environ
idp = boto3.client("cognito-idp", endpoint_url=e["EP"], region_name=e["R"])
idp.admin_user_global_sign_out(UserPoolId=e["UP"], Username=e["U"])
"#;
    boto3(emulator, &pool, code, &[]);

    // Clients keep getting valid tokens while the daemon finds out and signs in again.
    let renewed = follow(&socket, Duration::from_secs(30), || {
        count(emulator, &pool, "InitiateAuth:USER_SRP_AUTH") >= 2
            && unix_json(&socket, None)["id_token"] != first["id_token"]
    });
    assert_ne!(renewed["id_token"], first["id_token"]);
    assert!(
        rfc3339(renewed["token_expires"].as_str().unwrap())
            > rfc3339(first["token_expires"].as_str().unwrap())
    );
    let calls = emulator.calls(&pool.user_pool_id);
    assert_eq!(
        calls.get("GetTokensFromRefreshToken"),
        Some(&1),
        "{calls:?}"
    );
    assert_eq!(
        calls.get("InitiateAuth:USER_SRP_AUTH"),
        Some(&2),
        "{calls:?}"
    );
    assert_eq!(calls.get("RespondToAuthChallenge"), Some(&2), "{calls:?}");
    let log = daemon.plain_log();
    assert!(log.contains("refresh_refused"), "{log}");
    assert!(log.contains("revoked"), "{log}");
}

#[test]
fn refresh_with_email_login_and_a_client_secret_sends_the_client_secret() {
    let emulator = Emulator::shared();
    let pool = Pool::seed(emulator, short_lived(true, true));
    let dir = temp_dir();
    let socket = dir.path().join("t.sock");
    let daemon = tokens_daemon(emulator, &pool, &socket);
    let first = wait_for_credentials(&socket, None, START);
    // GetTokensFromRefreshToken takes the client secret itself (the strict emulator checks it);
    // a missing or wrong one is refused and would force a new sign-in.
    let renewed = follow(&socket, Duration::from_secs(30), || {
        count(emulator, &pool, "GetTokensFromRefreshToken") >= 1
            && unix_json(&socket, None)["id_token"] != first["id_token"]
    });
    assert_ne!(renewed["id_token"], first["id_token"]);
    let calls = emulator.calls(&pool.user_pool_id);
    assert_eq!(
        calls.get("InitiateAuth:USER_SRP_AUTH"),
        Some(&1),
        "{calls:?}"
    );
    let log = daemon.plain_log();
    assert!(!log.contains("refresh_refused"), "{log}");
}

#[test]
fn an_endpoint_without_get_tokens_from_refresh_token_is_refreshed_with_refresh_token_auth() {
    // An endpoint that predates GetTokensFromRefreshToken; with e-mail login and a client
    // secret, the refresh SECRET_HASH must be over the internal name (the sub), not the e-mail.
    let emulator =
        Emulator::start_with_env(&[("COGNITO_EMULATOR_WITHOUT", "GetTokensFromRefreshToken")]);
    let pool = Pool::seed(&emulator, short_lived(true, true));
    let dir = temp_dir();
    let socket = dir.path().join("t.sock");
    let daemon = tokens_daemon(&emulator, &pool, &socket);
    let first = wait_for_credentials(&socket, None, START);
    let renewed = follow(&socket, Duration::from_secs(30), || {
        count(&emulator, &pool, "InitiateAuth:REFRESH_TOKEN_AUTH") >= 1
            && unix_json(&socket, None)["id_token"] != first["id_token"]
    });
    assert_ne!(renewed["id_token"], first["id_token"]);
    let calls = emulator.calls(&pool.user_pool_id);
    assert_eq!(
        calls.get("InitiateAuth:USER_SRP_AUTH"),
        Some(&1),
        "{calls:?}"
    );
    // Asked once, told the operation is unknown, not asked again.
    assert_eq!(
        calls.get("GetTokensFromRefreshToken"),
        Some(&1),
        "{calls:?}"
    );
    assert_eq!(
        calls.get("InitiateAuth:REFRESH_TOKEN_AUTH"),
        Some(&1),
        "{calls:?}"
    );
    let log = daemon.plain_log();
    assert!(!log.contains("refresh_refused"), "{log}");
    assert!(log.contains("refresh_flow"), "{log}");
}

#[test]
fn a_rotating_app_client_renews_with_each_new_refresh_token_and_never_signs_in_again() {
    let emulator = Emulator::shared();
    // No grace period: a refresh token works once, so any renewal with an old one would be
    // refused and end in a password sign-in.
    let pool = Pool::seed(
        emulator,
        SeedOptions {
            refresh_token_rotation: Some(0),
            ..short_lived(true, false)
        },
    );
    let dir = temp_dir();
    let socket = dir.path().join("t.sock");
    let daemon = tokens_daemon(emulator, &pool, &socket);
    wait_for_credentials(&socket, None, START);
    follow(&socket, Duration::from_secs(60), || {
        count(emulator, &pool, "GetTokensFromRefreshToken") >= 3
    });
    let calls = emulator.calls(&pool.user_pool_id);
    assert_eq!(
        calls.get("InitiateAuth:USER_SRP_AUTH"),
        Some(&1),
        "no password sign-in after the first: {calls:?}"
    );
    assert_eq!(
        calls.get("InitiateAuth:REFRESH_TOKEN_AUTH"),
        None,
        "{calls:?}"
    );
    let log = daemon.plain_log();
    assert!(!log.contains("refresh_refused"), "{log}");
    // The emulator really rotates: REFRESH_TOKEN_AUTH is refused on this client, and a rotated
    // token is refused after the grace period (the emulator's self-test checks it too).
    let out = boto3(
        emulator,
        &pool,
        r#"
import boto3, os
from botocore.exceptions import ClientError
e = os.environ
idp = boto3.client("cognito-idp", endpoint_url=e["EP"], region_name=e["R"])
try:
    idp.initiate_auth(ClientId=e["C"], AuthFlow="REFRESH_TOKEN_AUTH", AuthParameters={"REFRESH_TOKEN": "x"})
    print("accepted")
except ClientError as err:
    print(err.response["Error"]["Code"])
"#,
        &[],
    );
    assert_eq!(out.trim(), "InvalidParameterException");
}
