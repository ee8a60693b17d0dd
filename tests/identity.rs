//! Identity-pool flows end to end: the enhanced flow (GetCredentialsForIdentity, with or without a
//! role ARN) and the classic one (GetOpenIdToken + STS AssumeRoleWithWebIdentity), checked by the
//! calls the emulator counted and by the credentials served.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;
use serde_json::Value;

const START: Duration = Duration::from_secs(20);

/// Runs the daemon on `emulator` for `pool` with extra environment until it serves credentials;
/// returns the document and the pool's call counts at that moment.
fn serve(
    emulator: &Emulator,
    pool: &Pool,
    extra: &[(&str, &str)],
) -> (Value, BTreeMap<String, u64>) {
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
    let (status, log) = daemon.stop();
    assert!(status.success(), "{log}");
    (doc, calls)
}

fn role_asked_for(calls: &BTreeMap<String, u64>) -> Vec<(&str, u64)> {
    calls
        .iter()
        .filter_map(|(k, v)| {
            k.strip_prefix("GetCredentialsForIdentity:CustomRoleArn=")
                .map(|arn| (arn, *v))
        })
        .collect()
}

fn assert_enhanced_once(calls: &BTreeMap<String, u64>) {
    assert_eq!(calls.get("GetId"), Some(&1), "{calls:?}");
    assert_eq!(
        calls.get("GetCredentialsForIdentity"),
        Some(&1),
        "{calls:?}"
    );
    assert_eq!(calls.get("GetOpenIdToken"), None, "{calls:?}");
}

#[test]
fn enhanced_flow_without_a_role_arn_leaves_the_role_to_the_pool() {
    let emulator = Emulator::shared();
    let pool = Pool::seed(emulator, SeedOptions::default());
    // A lifetime of its own, so the served Expiration shows it came from this identity pool.
    emulator.set_identity_ttl(&pool.identity_pool_id, 1234);
    let (doc, calls) = serve(emulator, &pool, &[]);
    assert_enhanced_once(&calls);
    assert_eq!(role_asked_for(&calls), vec![], "{calls:?}");
    let left = seconds_until(doc["Expiration"].as_str().unwrap());
    assert!((1200.0..=1235.0).contains(&left), "{doc}: {left} s left");
}

#[test]
fn enhanced_flow_with_cognito_role_arn_asks_for_that_role() {
    let emulator = Emulator::shared();
    let pool = Pool::seed(emulator, SeedOptions::default());
    let (_, calls) = serve(emulator, &pool, &[("COGNITO_ROLE_ARN", &pool.role_arn)]);
    assert_enhanced_once(&calls);
    assert_eq!(
        role_asked_for(&calls),
        vec![(pool.role_arn.as_str(), 1)],
        "{calls:?}"
    );
}

#[test]
fn enhanced_flow_with_aws_role_arn_asks_for_that_role() {
    let emulator = Emulator::shared();
    let pool = Pool::seed(emulator, SeedOptions::default());
    let (_, calls) = serve(emulator, &pool, &[("AWS_ROLE_ARN", &pool.role_arn)]);
    assert_enhanced_once(&calls);
    assert_eq!(
        role_asked_for(&calls),
        vec![(pool.role_arn.as_str(), 1)],
        "{calls:?}"
    );
}

#[test]
fn cognito_role_arn_wins_over_aws_role_arn() {
    let emulator = Emulator::shared();
    let pool = Pool::seed(emulator, SeedOptions::default());
    let other = "arn:aws:iam::123456789012:role/not-this-one";
    let (_, calls) = serve(
        emulator,
        &pool,
        &[
            ("AWS_ROLE_ARN", other),
            ("COGNITO_ROLE_ARN", &pool.role_arn),
        ],
    );
    assert_eq!(
        role_asked_for(&calls),
        vec![(pool.role_arn.as_str(), 1)],
        "{calls:?}"
    );
}

#[test]
fn classic_flow_assumes_the_role_with_the_open_id_token() {
    // STS calls are only counted globally: an emulator of its own.
    let emulator = Emulator::start();
    let pool = Pool::seed(&emulator, SeedOptions::default());
    let session_name = "cognitod-classic-test";
    let (doc, calls) = serve(
        &emulator,
        &pool,
        &[
            ("COGNITO_AUTH_FLOW", "classic"),
            ("COGNITO_ROLE_ARN", &pool.role_arn),
            ("COGNITO_ROLE_SESSION_NAME", session_name),
            ("COGNITO_ROLE_EXPIRY_TIME", "1800"),
        ],
    );
    assert_eq!(calls.get("GetId"), Some(&1), "{calls:?}");
    assert_eq!(calls.get("GetOpenIdToken"), Some(&1), "{calls:?}");
    assert_eq!(calls.get("GetCredentialsForIdentity"), None, "{calls:?}");
    let total = emulator.calls_total();
    assert_eq!(
        total.get("AssumeRoleWithWebIdentity"),
        Some(&1),
        "{total:?}"
    );
    assert_eq!(total.get("GetCredentialsForIdentity"), None, "{total:?}");

    // The lifetime asked for (COGNITO_ROLE_EXPIRY_TIME) is the one served.
    let left = seconds_until(doc["Expiration"].as_str().unwrap());
    assert!((1770.0..=1801.0).contains(&left), "{doc}: {left} s left");
    // The classic flow reveals the account (from the assumed-role ARN).
    assert_eq!(doc["AccountId"], "123456789012", "{doc}");

    // The served keys are the assumed role's: STS knows them as that role and session.
    let role_name = pool.role_arn.rsplit('/').next().unwrap();
    let code = r#"
import boto3, os
e = os.environ
sts = boto3.client("sts", endpoint_url=e["EP"], region_name="us-east-1",
    aws_access_key_id=e["K"], aws_secret_access_key=e["S"], aws_session_token=e["T"])
print(sts.get_caller_identity()["Arn"])
"#;
    let url = emulator.url();
    let arn = python_snippet(
        code,
        &[
            ("EP", &url),
            ("K", doc["AccessKeyId"].as_str().unwrap()),
            ("S", doc["SecretAccessKey"].as_str().unwrap()),
            ("T", doc["SessionToken"].as_str().unwrap()),
        ],
    );
    assert_eq!(
        arn.trim(),
        format!("arn:aws:sts::123456789012:assumed-role/{role_name}/{session_name}")
    );
}

#[test]
fn classic_flow_without_a_role_arn_is_a_configuration_error() {
    let emulator = Emulator::shared();
    let pool = Pool::seed(emulator, SeedOptions::default());
    let dir = temp_dir();
    let socket = dir.path().join("c.sock");
    let daemon = DaemonCommand::serve(&emulator.url(), &["-e", "-S", socket.to_str().unwrap()])
        .envs(pool.env())
        .env("COGNITO_AUTH_FLOW", "classic")
        .start();
    let (status, log) = daemon.wait_exit(Duration::from_secs(10));
    assert!(!status.success(), "{log}");
    assert!(log.contains("COGNITO_AUTH_FLOW"), "{log}");
    assert!(log.to_lowercase().contains("role"), "{log}");
    let calls = emulator.calls(&pool.user_pool_id);
    assert_eq!(calls.get("InitiateAuth"), None, "{calls:?}");
}

#[test]
fn the_identity_id_is_kept_in_the_state_directory_across_restarts() {
    let emulator = Emulator::shared();
    let pool = Pool::seed(emulator, SeedOptions::default());
    let state = temp_dir();
    let state_dir = state.path().to_str().unwrap();
    // First start: GetId, and the id is kept.
    let (_, calls) = serve(emulator, &pool, &[("STATE_DIRECTORY", state_dir)]);
    assert_eq!(calls.get("GetId"), Some(&1), "{calls:?}");
    let kept: Value = serde_json::from_str(
        &std::fs::read_to_string(state.path().join("identity-id.json")).unwrap(),
    )
    .unwrap();
    assert!(
        kept["identity_id"].as_str().unwrap().contains(':'),
        "{kept}"
    );
    assert_eq!(kept["username"], pool.username.as_str());
    // Restarts (and reboots: the directory is on disk) sign in but skip GetId.
    let (doc, calls) = serve(emulator, &pool, &[("STATE_DIRECTORY", state_dir)]);
    assert_process_credentials(&doc);
    assert_eq!(calls.get("GetId"), Some(&1), "{calls:?}");
    assert_eq!(
        calls.get("GetCredentialsForIdentity"),
        Some(&2),
        "{calls:?}"
    );

    // Another user's daemon with the same state directory does not take it.
    let other = Pool::seed(emulator, SeedOptions::default());
    let (_, calls) = serve(emulator, &other, &[("STATE_DIRECTORY", state_dir)]);
    assert_eq!(calls.get("GetId"), Some(&1), "{calls:?}");
    let kept: Value = serde_json::from_str(
        &std::fs::read_to_string(state.path().join("identity-id.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(kept["username"], other.username.as_str());
}

/// GET `path` on 127.0.0.1:`port` with extra `headers`; the status and the body.
fn http_get(port: u16, path: &str, headers: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 169.254.169.254\r\n{headers}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out.split(' ').nth(1).unwrap().parse().unwrap();
    (status, out.split_once("\r\n\r\n").unwrap().1.to_owned())
}

/// Issue 14, point 10: `AccountId` in the credential_process document, the `/ecs` answer and the
/// IMDS answers (plain and extended) when it is known: learned once with a signed STS
/// GetCallerIdentity when no role ARN is configured, taken from the role ARN (no STS call) when
/// one is; `RoleArn` in the `/ecs` answer when a role ARN is configured.
#[test]
fn account_id_and_role_arn_reach_every_answer() {
    // STS calls are only counted globally: an emulator of its own.
    let emulator = Emulator::start();
    let pool = Pool::seed(&emulator, SeedOptions::default());
    for role_arn in [None, Some(pool.role_arn.as_str())] {
        let before = emulator
            .calls_total()
            .get("GetCallerIdentity")
            .copied()
            .unwrap_or(0);
        let dir = temp_dir();
        let socket = dir.path().join("c.sock");
        let port = free_port();
        let mut command = DaemonCommand::serve(
            &emulator.url(),
            &[
                "-e",
                "-s",
                "unix,http",
                "-S",
                socket.to_str().unwrap(),
                "-H",
                "127.0.0.1",
                "-P",
                &port.to_string(),
                "--imds",
                "--allow-no-secret",
            ],
        )
        .envs(pool.env());
        if let Some(arn) = role_arn {
            command = command.env("COGNITO_ROLE_ARN", arn);
        }
        let daemon = command.start();
        let raw = wait_for_credentials(&socket, None, START);
        assert_eq!(raw["AccountId"], "123456789012", "{role_arn:?}: {raw}");

        let (status, ecs) = http_get(port, "/ecs", "");
        assert_eq!(status, 200, "{ecs}");
        let ecs: Value = serde_json::from_str(&ecs).unwrap();
        assert_eq!(ecs["AccountId"], "123456789012", "{ecs}");
        match role_arn {
            Some(arn) => assert_eq!(ecs["RoleArn"], arn, "{ecs}"),
            None => assert!(ecs.get("RoleArn").is_none(), "{ecs}"),
        }

        let token = {
            use std::io::{Read, Write};
            let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
            s.write_all(
                b"PUT /latest/api/token HTTP/1.1\r\nHost: 169.254.169.254\r\n\
                  X-aws-ec2-metadata-token-ttl-seconds: 60\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            )
            .unwrap();
            let mut out = String::new();
            s.read_to_string(&mut out).unwrap();
            out.split_once("\r\n\r\n").unwrap().1.to_owned()
        };
        let header = format!("X-aws-ec2-metadata-token: {token}\r\n");
        let (_, role) = http_get(port, "/latest/meta-data/iam/security-credentials/", &header);
        for base in ["security-credentials", "security-credentials-extended"] {
            let (status, body) = http_get(
                port,
                &format!("/latest/meta-data/iam/{base}/{role}"),
                &header,
            );
            assert_eq!(status, 200, "{base}: {body}");
            let doc: Value = serde_json::from_str(&body).unwrap();
            assert_eq!(doc["AccountId"], "123456789012", "{base}: {doc}");
            assert_eq!(doc["AccessKeyId"], raw["AccessKeyId"]);
        }

        let asked = emulator
            .calls_total()
            .get("GetCallerIdentity")
            .copied()
            .unwrap_or(0)
            - before;
        // Learned once when no role ARN says it; not asked at all when one does.
        assert_eq!(asked, u64::from(role_arn.is_none()), "{role_arn:?}");
        let (status, log) = daemon.stop();
        assert!(status.success(), "{log}");
    }
}
