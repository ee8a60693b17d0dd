//! Remembered devices: a pool with device tracking and TOTP MFA. The first sign-in answers MFA
//! and confirms this host as a device; refreshes carry its key; a later sign-in proves the device
//! (DEVICE_SRP_AUTH, DEVICE_PASSWORD_VERIFIER, checked by the emulator with real SRP arithmetic
//! against the verifier ConfirmDevice stored) and answers no MFA code.

mod common;

use std::time::Duration;

use common::*;

const START: Duration = Duration::from_secs(20);

fn count(emulator: &Emulator, pool: &Pool, key: &str) -> u64 {
    emulator
        .calls(&pool.user_pool_id)
        .get(key)
        .copied()
        .unwrap_or(0)
}

fn device_test(tracking: &'static str) {
    let emulator = Emulator::shared();
    let pool = Pool::seed(
        emulator,
        SeedOptions {
            mfa_totp: true,
            device_tracking: Some(tracking),
            token_validity_seconds: Some(20),
            ..Default::default()
        },
    );
    emulator.reset_calls(&pool.user_pool_id);
    let dir = temp_dir();
    let socket = dir.path().join("c.sock");
    let daemon = DaemonCommand::serve(
        &emulator.url(),
        &["-e", "-C", "tokens", "-S", socket.to_str().unwrap()],
    )
    .envs(pool.env())
    .env("COGNITO_TOTP_SECRET", pool.totp_secret.as_deref().unwrap())
    .start();
    wait_for_credentials(&socket, None, START);
    daemon.wait_for_log("device_remembered", START);
    assert_eq!(count(emulator, &pool, "ConfirmDevice"), 1);
    let on_prompt = u64::from(tracking == "on-prompt");
    assert_eq!(count(emulator, &pool, "UpdateDeviceStatus"), on_prompt);
    assert_eq!(
        count(emulator, &pool, "RespondToAuthChallenge:SOFTWARE_TOKEN_MFA"),
        1
    );

    // Refreshes carry the device key (the emulator refuses them without it).
    wait_until("a refresh", Duration::from_secs(30), || {
        count(emulator, &pool, "GetTokensFromRefreshToken") >= 1
    });
    // Sign the user out everywhere: the next renewal needs a full sign-in, as the device.
    let out = python_snippet(
        r#"
import boto3, os
e = os.environ
idp = boto3.client("cognito-idp", endpoint_url=e["EP"], region_name=e["R"],
                   aws_access_key_id="testing", aws_secret_access_key="testing")
idp.admin_user_global_sign_out(UserPoolId=e["UP"], Username=e["U"])
print("signed out")
"#,
        &[
            ("EP", &emulator.url()),
            ("R", &pool.region),
            ("UP", &pool.user_pool_id),
            ("U", &pool.username),
        ],
    );
    assert_eq!(out.trim(), "signed out");
    wait_until(
        "a sign-in as the remembered device",
        Duration::from_secs(40),
        || {
            count(
                emulator,
                &pool,
                "RespondToAuthChallenge:DEVICE_PASSWORD_VERIFIER",
            ) >= 1
        },
    );
    let doc = wait_for_credentials(&socket, None, START);
    assert!(doc["id_token"].is_string(), "{doc}");
    let calls = emulator.calls(&pool.user_pool_id);
    assert_eq!(
        calls.get("InitiateAuth:USER_SRP_AUTH"),
        Some(&2),
        "{calls:?}"
    );
    assert_eq!(
        calls.get("RespondToAuthChallenge:DEVICE_SRP_AUTH"),
        Some(&1),
        "{calls:?}"
    );
    // No second MFA code: the device stood in for it. Nor a second device.
    assert_eq!(
        calls.get("RespondToAuthChallenge:SOFTWARE_TOKEN_MFA"),
        Some(&1),
        "{calls:?}"
    );
    assert_eq!(calls.get("ConfirmDevice"), Some(&1), "{calls:?}");
    let log = daemon.plain_log();
    assert!(!log.contains("device_forgotten"), "{log}");
    assert!(!log.contains("device_not_remembered"), "{log}");
    let (status, log) = daemon.stop();
    assert!(status.success(), "{log}");
}

#[test]
fn a_remembered_device_signs_in_again_without_an_mfa_code() {
    device_test("always");
}

#[test]
fn a_pool_remembering_devices_on_prompt_gets_update_device_status() {
    device_test("on-prompt");
}
