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
import boto3, json, os
e = os.environ
idp = boto3.client("cognito-idp", endpoint_url=e["EP"], region_name=e["R"])
tok = idp.initiate_auth(ClientId=e["C"], AuthFlow="USER_PASSWORD_AUTH",
    AuthParameters={"USERNAME": e["U"], "PASSWORD": e["P"]})["AuthenticationResult"]["IdToken"]
ci = boto3.client("cognito-identity", endpoint_url=e["EP"], region_name=e["R"])
logins = {"cognito-idp.%s.amazonaws.com/%s" % (e["R"], e["UP"]): tok}
iid = ci.get_id(IdentityPoolId=e["IP"], Logins=logins)["IdentityId"]
c = ci.get_credentials_for_identity(IdentityId=iid, Logins=logins)["Credentials"]
print(json.dumps({"AccessKeyId": c["AccessKeyId"], "SecretAccessKey": c["SecretKey"], "SessionToken": c["SessionToken"]}))
"#;
    let url = emulator.url();
    let out = python_snippet(
        code,
        &[
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

fn assert_process_credentials(doc: &Value) {
    assert_eq!(doc["Version"], 1, "{doc}");
    for key in [
        "AccessKeyId",
        "SecretAccessKey",
        "SessionToken",
        "Expiration",
    ] {
        assert!(
            doc[key].as_str().is_some_and(|v| !v.is_empty()),
            "{key} missing: {doc}"
        );
    }
    let expiration = doc["Expiration"].as_str().unwrap();
    let at =
        time::OffsetDateTime::parse(expiration, &time::format_description::well_known::Rfc3339)
            .unwrap_or_else(|e| panic!("Expiration {expiration:?} is not RFC 3339: {e}"));
    assert!(expiration.ends_with('Z'), "{expiration} is not UTC");
    assert!(
        at > time::OffsetDateTime::now_utc(),
        "{expiration} already passed"
    );
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
