//! Issue 14, point 3: the one shared-secret file `cognitod configure` generates works unchanged
//! with every client recipe the README gives: `nc -U sock < file` (Debian's nc, without -N: it
//! neither ends the line nor half-closes), `cognitod get --secret-file`, and
//! AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE in botocore and in the AWS SDK for JavaScript v3 (both
//! send the file verbatim and refuse a trailing newline).

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use serde_json::Value;

/// botocore's container provider, from the environment alone.
const BOTOCORE: &str = r#"
import json, os, botocore.session
session = botocore.session.get_session()
c = session.get_credentials().get_frozen_credentials()
sts = session.create_client("sts", endpoint_url=os.environ["EMULATOR"], region_name="us-east-1")
arn = sts.get_caller_identity()["Arn"]
print(json.dumps({"AccessKeyId": c.access_key, "SecretAccessKey": c.secret_key, "SessionToken": c.token, "Arn": arn}))
"#;

#[test]
fn the_generated_secret_file_works_with_nc_cognitod_get_botocore_and_the_js_sdk() {
    let emulator = Emulator::shared();
    let pool = Pool::seed(emulator, SeedOptions::default());
    let dir = temp_dir();
    let password = dir.path().join("pw");
    write_file(&password, &pool.password, 0o600);
    let config = dir.path().join("config.json");
    let secret = dir.path().join("auth-secret");
    let socket = dir.path().join("c.sock");
    let configured = Command::new(env!("CARGO_BIN_EXE_cognitod"))
        .args(["configure", "--non-interactive", "-s", "unix,http"])
        .args(["-o", config.to_str().unwrap()])
        .args(["--shared-secret-file", secret.to_str().unwrap()])
        .args(["-S", socket.to_str().unwrap(), "--permissions", "0600"])
        .args(["--username", &pool.username])
        .args(["--password-file", password.to_str().unwrap()])
        .args(["--app-id", &pool.client_id])
        .args(["--user-pool-id", &pool.user_pool_id])
        .args(["--identity-pool-id", &pool.identity_pool_id])
        .output()
        .unwrap();
    assert!(
        configured.status.success(),
        "{}",
        String::from_utf8_lossy(&configured.stderr)
    );
    let shared = std::fs::read_to_string(&secret).unwrap();
    assert!(
        !shared.ends_with('\n'),
        "the generated file ends with a newline"
    );
    // The test's own port for the http listener; nothing else in the file is touched.
    let http = free_port();
    let mut doc: Value = serde_json::from_str(&std::fs::read_to_string(&config).unwrap()).unwrap();
    doc["server"]["host"] = "127.0.0.1".into();
    doc["server"]["http_port"] = http.into();
    write_file(&config, &doc.to_string(), 0o600);

    let _daemon = DaemonCommand::serve(&emulator.url(), &["-c", config.to_str().unwrap()]).start();
    let expected = wait_for_credentials(&socket, Some(shared.as_bytes()), Duration::from_secs(20));
    let same = |label: &str, got: &Value| {
        for key in ["AccessKeyId", "SecretAccessKey", "SessionToken"] {
            assert_eq!(got[key], expected[key], "{label}: {key}: {got}");
        }
    };

    // 1. nc -U sock < file, as the README writes it: no -N, so nc keeps its side open.
    let nc = Command::new("sh")
        .arg("-c")
        .arg(r#"nc -U "$1" < "$2""#)
        .args(["sh", socket.to_str().unwrap(), secret.to_str().unwrap()])
        .stderr(Stdio::inherit())
        .output()
        .expect("nc (apt install netcat-openbsd)");
    let answer = String::from_utf8_lossy(&nc.stdout);
    assert!(nc.status.success(), "nc: {answer}");
    same("nc -U < file", &serde_json::from_str(&answer).unwrap());

    // 2. cognitod get --secret-file, over the socket and over http.
    let url = format!("http://127.0.0.1:{http}/");
    for target in [["--socket", socket.to_str().unwrap()], ["--url", &url]] {
        let got = Command::new(env!("CARGO_BIN_EXE_cognitod"))
            .arg("get")
            .args(target)
            .args(["--secret-file", secret.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(
            got.status.success(),
            "cognitod get {target:?}: {}",
            String::from_utf8_lossy(&got.stderr)
        );
        same(
            &format!("cognitod get {}", target[0]),
            &serde_json::from_slice(&got.stdout).unwrap(),
        );
    }

    // 3. botocore's container provider with the file as AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE.
    let full_uri = format!("http://127.0.0.1:{http}/ecs");
    let emulator_url = emulator.url();
    let container_env = [
        ("AWS_CONTAINER_CREDENTIALS_FULL_URI", full_uri.as_str()),
        (
            "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
            secret.to_str().unwrap(),
        ),
        ("EMULATOR", emulator_url.as_str()),
    ];
    let botocore = Command::new(python())
        .args(["-c", BOTOCORE])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap())
        .env("HOME", dir.path())
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .envs(container_env)
        .output()
        .unwrap();
    assert!(
        botocore.status.success(),
        "botocore: {}",
        String::from_utf8_lossy(&botocore.stderr)
    );
    let got: Value = serde_json::from_slice(&botocore.stdout).unwrap();
    same("botocore", &got);
    assert!(
        got["Arn"].as_str().unwrap().starts_with("arn:aws:"),
        "{got}"
    );

    // 4. The JS SDK's fromHttp, and its default chain, with the same variables.
    for provider in ["http", "chain"] {
        let got =
            js_sdk(provider, &container_env).unwrap_or_else(|e| panic!("JS SDK {provider}: {e}"));
        same(&format!("JS SDK {provider}"), &got);
        assert!(
            got["Arn"].as_str().unwrap().starts_with("arn:aws:"),
            "{got}"
        );
    }

    // Point 10: the JS SDK's credential_process provider, through `cognitod get` with the same
    // file, takes the AccountId the document now carries.
    let aws_config = dir.path().join("aws-config");
    write_file(
        &aws_config,
        &format!(
            "[profile cognitod]\ncredential_process = {} get --socket {} --secret-file {}\n",
            env!("CARGO_BIN_EXE_cognitod"),
            socket.display(),
            secret.display()
        ),
        0o600,
    );
    let got = js_sdk(
        "process",
        &[
            ("AWS_CONFIG_FILE", aws_config.to_str().unwrap()),
            ("PROFILE", "cognitod"),
            ("EMULATOR", emulator_url.as_str()),
        ],
    )
    .unwrap_or_else(|e| panic!("JS SDK process: {e}"));
    same("JS SDK process", &got);
    assert_eq!(got["AccountId"], "123456789012", "{got}");

    // Point 11: a refusal reaches the JS SDK's error whole: it copies the body's `Code` and
    // `Message` (lower-case keys came out undefined).
    let wrong = dir.path().join("wrong-token");
    write_file(&wrong, "not-the-secret", 0o600);
    let refused = js_sdk(
        "http",
        &[
            ("AWS_CONTAINER_CREDENTIALS_FULL_URI", full_uri.as_str()),
            (
                "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
                wrong.to_str().unwrap(),
            ),
        ],
    )
    .expect_err("a wrong token was accepted");
    assert_eq!(refused["Code"], "AccessDenied", "{refused}");
    assert!(
        refused["Message"]
            .as_str()
            .is_some_and(|m| m.contains("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")),
        "{refused}"
    );
}
