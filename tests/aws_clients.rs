//! The issue's "done when": AWS's own clients use the daemon as their `credential_process`, from a
//! profile in an AWS config file: boto3 gets exactly the daemon's keys, and the AWS CLI calls STS
//! with them.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::*;
use serde_json::Value;

const START: Duration = Duration::from_secs(20);

/// Runs `program` with only the AWS files of the test (no keys, no profile from the environment).
fn run_aws_client(program: &Path, args: &[&str], home: &Path, endpoint: &str) -> Output {
    Command::new(program)
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("AWS_CONFIG_FILE", home.join("config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.join("credentials"))
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn served_count(daemon: &Daemon) -> usize {
    daemon.plain_log().matches("outcome=Served").count()
}

const BOTO3: &str = r#"
import boto3, json, sys
c = boto3.Session(profile_name=sys.argv[1]).get_credentials().get_frozen_credentials()
print(json.dumps({"AccessKeyId": c.access_key, "SecretAccessKey": c.secret_key, "SessionToken": c.token}))
"#;

#[test]
fn boto3_and_the_aws_cli_use_the_daemon_as_credential_process() {
    let nc = Command::new("sh")
        .args(["-c", "command -v nc"])
        .output()
        .unwrap();
    assert!(
        nc.status.success(),
        "nc (netcat-openbsd) is missing: run tests/setup.sh"
    );
    let emulator = Emulator::shared();
    let dir = temp_dir();
    let home = dir.path();

    // The default setup: enhanced flow, no shared secret.
    let pool = Pool::seed(emulator, SeedOptions::default());
    let plain_socket = home.join("plain.sock");
    let plain = DaemonCommand::serve(
        &emulator.url(),
        &["-e", "-S", plain_socket.to_str().unwrap()],
    )
    .envs(pool.env())
    .start();

    // With a shared secret, and the classic flow, whose keys STS knows as the assumed role.
    let classic_pool = Pool::seed(emulator, SeedOptions::default());
    let secret_socket = home.join("secret.sock");
    let secret_file = home.join("client-secret");
    write_file(&secret_file, "Profile-Secret-3f9a\n", 0o600);
    let with_secret = DaemonCommand::serve(
        &emulator.url(),
        &[
            "-e",
            "-S",
            secret_socket.to_str().unwrap(),
            "--auth-secret-file",
            secret_file.to_str().unwrap(),
        ],
    )
    .envs(classic_pool.env())
    .env("COGNITO_AUTH_FLOW", "classic")
    .env("COGNITO_ROLE_ARN", &classic_pool.role_arn)
    .start();

    write_file(
        &home.join("config"),
        &format!(
            "[profile cognito]\nregion = us-east-1\n\
             credential_process = sh -c \"nc -U {}\"\n\n\
             [profile cognito-secret]\nregion = us-east-1\n\
             credential_process = sh -c \"nc -U {} < {}\"\n",
            plain_socket.display(),
            secret_socket.display(),
            secret_file.display()
        ),
        0o600,
    );
    write_file(&home.join("credentials"), "", 0o600);

    let direct_plain = wait_for_credentials(&plain_socket, None, START);
    let direct_secret = wait_for_credentials(&secret_socket, Some(b"Profile-Secret-3f9a\n"), START);
    assert_ne!(direct_plain["AccessKeyId"], direct_secret["AccessKeyId"]);

    let python = python();
    let aws = python.with_file_name("aws");
    for (profile, daemon, direct) in [
        ("cognito", &plain, &direct_plain),
        ("cognito-secret", &with_secret, &direct_secret),
    ] {
        // boto3: exactly the daemon's keys. (An answer is logged once the client has closed.)
        std::thread::sleep(Duration::from_millis(500));
        let before = served_count(daemon);
        let out = run_aws_client(&python, &["-c", BOTO3, profile], home, &emulator.url());
        assert!(
            out.status.success(),
            "boto3 {profile}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let got: Value = serde_json::from_slice(&out.stdout).unwrap();
        for key in ["AccessKeyId", "SecretAccessKey", "SessionToken"] {
            assert_eq!(got[key], direct[key], "{profile}: {key}");
        }
        wait_until(&format!("{profile}: boto3's request logged"), START, || {
            served_count(daemon) > before
        });

        // The AWS CLI v1: sts get-caller-identity against the emulator, signed with those keys.
        std::thread::sleep(Duration::from_millis(500));
        let before = served_count(daemon);
        let out = run_aws_client(
            &aws,
            &[
                "sts",
                "get-caller-identity",
                "--profile",
                profile,
                "--output",
                "json",
            ],
            home,
            &emulator.url(),
        );
        assert!(
            out.status.success(),
            "aws {profile}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let identity: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(identity["Account"], "123456789012", "{identity}");
        wait_until(
            &format!("{profile}: the CLI's request logged"),
            START,
            || served_count(daemon) > before,
        );
        if profile == "cognito-secret" {
            let role_name = classic_pool.role_arn.rsplit('/').next().unwrap();
            assert_eq!(
                identity["Arn"],
                format!("arn:aws:sts::123456789012:assumed-role/{role_name}/cognitod"),
                "the CLI signed with the daemon's assumed-role keys"
            );
        }
    }
}
