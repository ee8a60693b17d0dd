//! botocore and the AWS CLI (v1, from PyPI) as clients: credential_process with `cognitod get`,
//! the container provider (token and token file), IMDSv2; the Host and Origin checks; IMDS token
//! rules. Each client must resolve exactly the daemon's credentials and sign an STS call with them.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

const SECRET: &str = "python-clients-secret";

fn private(dir: &Path, name: &str, content: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path.display().to_string()
}

/// boto3 resolves credentials with only `env` to go on, prints them, and signs
/// GetCallerIdentity against the emulator with them.
const BOTO3: &str = r#"
import boto3, json, os
session = boto3.Session(profile_name=os.environ.get("PROFILE"))
c = session.get_credentials().get_frozen_credentials()
sts = session.client("sts", endpoint_url=os.environ["EMULATOR"], region_name="us-east-1")
arn = sts.get_caller_identity()["Arn"]
print(json.dumps({"AccessKeyId": c.access_key, "SecretAccessKey": c.secret_key, "SessionToken": c.token, "Arn": arn}))
"#;

/// Runs boto3 with a clean environment: only what the provider under test needs.
fn boto3(dir: &Path, env: &[(&str, &str)]) -> Result<Value, String> {
    let config = dir.join("empty-config");
    std::fs::write(&config, "").unwrap();
    let out = Command::new(python())
        .args(["-c", BOTO3])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap())
        .env("HOME", dir)
        .env("AWS_CONFIG_FILE", &config)
        .env("AWS_SHARED_CREDENTIALS_FILE", &config)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(serde_json::from_slice(&out.stdout).unwrap())
}

fn assert_same(label: &str, got: &Value, expected: &Value) {
    for key in ["AccessKeyId", "SecretAccessKey", "SessionToken"] {
        assert_eq!(got[key], expected[key], "{label}: {key}");
    }
    assert!(
        got["Arn"].as_str().unwrap().starts_with("arn:aws:"),
        "{label}: {got}"
    );
}

fn raw_http(port: u16, request: &str) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out.split(' ').nth(1).unwrap_or("0").parse().unwrap_or(0);
    (status, out)
}

#[test]
fn botocore_and_the_aws_cli_through_credential_process_and_the_container_provider() {
    let emulator = Emulator::shared();
    let pool = Pool::seed(emulator, SeedOptions::default());
    let dir = temp_dir();
    let secret_file = private(dir.path(), "secret", &format!("{SECRET}\n"));
    let socket = dir.path().join("c.sock");
    let http = free_port();
    let config = dir.path().join("config.json");
    std::fs::write(
        &config,
        format!(r#"{{"server": {{"host": "127.0.0.1", "http_port": {http}}}}}"#),
    )
    .unwrap();
    let _daemon = DaemonCommand::serve(
        &emulator.url(),
        &[
            "-e",
            "-c",
            config.to_str().unwrap(),
            "-s",
            "unix,http",
            "-S",
            socket.to_str().unwrap(),
            "--auth-secret-file",
            &secret_file,
        ],
    )
    .envs(pool.env())
    .start();
    let expected = wait_for_credentials(
        &socket,
        Some(format!("{SECRET}\n").as_bytes()),
        Duration::from_secs(20),
    );
    let url = emulator.url();

    // credential_process = cognitod get, in a profile; boto3 reads the same profile.
    let profile = dir.path().join("aws-config");
    std::fs::write(
        &profile,
        format!(
            "[profile cognitod]\ncredential_process = {} get --socket {} --secret-file {}\n",
            env!("CARGO_BIN_EXE_cognitod"),
            socket.display(),
            secret_file
        ),
    )
    .unwrap();
    let profile_path = profile.display().to_string();
    let got = boto3(
        dir.path(),
        &[
            ("AWS_CONFIG_FILE", &profile_path),
            ("PROFILE", "cognitod"),
            ("EMULATOR", &url),
        ],
    )
    .unwrap();
    assert_same("boto3 credential_process", &got, &expected);

    // The AWS CLI v1 with the same profile: a signed sts get-caller-identity.
    let aws = python().with_file_name("aws");
    let cli = Command::new(&aws)
        .args([
            "sts",
            "get-caller-identity",
            "--profile",
            "cognitod",
            "--endpoint-url",
            &url,
            "--region",
            "us-east-1",
            "--output",
            "json",
        ])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap())
        .env("HOME", dir.path())
        .env("AWS_CONFIG_FILE", &profile_path)
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .output()
        .unwrap();
    assert!(
        cli.status.success(),
        "aws sts get-caller-identity: {}",
        String::from_utf8_lossy(&cli.stderr)
    );
    let identity: Value = serde_json::from_slice(&cli.stdout).unwrap();
    assert!(
        identity["Arn"].as_str().unwrap().starts_with("arn:aws:"),
        "{identity}"
    );

    // The container provider: the secret as AWS_CONTAINER_AUTHORIZATION_TOKEN, then as _FILE.
    let full_uri = format!("http://127.0.0.1:{http}/ecs");
    let got = boto3(
        dir.path(),
        &[
            ("AWS_CONTAINER_CREDENTIALS_FULL_URI", &full_uri),
            ("AWS_CONTAINER_AUTHORIZATION_TOKEN", SECRET),
            ("EMULATOR", &url),
        ],
    )
    .unwrap();
    assert_same("boto3 container token", &got, &expected);
    // botocore sends the file verbatim and refuses a trailing newline: write it without one.
    let token_file = private(dir.path(), "container-token", SECRET);
    let got = boto3(
        dir.path(),
        &[
            ("AWS_CONTAINER_CREDENTIALS_FULL_URI", &full_uri),
            ("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", &token_file),
            ("EMULATOR", &url),
        ],
    )
    .unwrap();
    assert_same("boto3 container token file", &got, &expected);

    // A wrong Authorization: 401 for the SDK too, with the container provider's error shape.
    let err = boto3(
        dir.path(),
        &[
            ("AWS_CONTAINER_CREDENTIALS_FULL_URI", &full_uri),
            ("AWS_CONTAINER_AUTHORIZATION_TOKEN", "wrong"),
            ("EMULATOR", &url),
        ],
    )
    .unwrap_err();
    assert!(
        err.contains("401")
            || err.contains("AccessDenied")
            || err.contains("Unable to locate credentials"),
        "{err}"
    );
    let (status, response) = raw_http(
        http,
        "GET /ecs HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: wrong\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status, 401, "{response}");
    let body: Value = serde_json::from_str(response.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    // `Code` and `Message`, which the JS SDK copies into its error (lower-case keys it reads as
    // undefined), and a newline at the end, as every JSON answer has.
    assert_eq!(body["Code"], "AccessDenied", "{response}");
    assert!(body["Message"].is_string(), "{response}");
    assert!(body.get("code").is_none() && body.get("message").is_none());
    assert!(response.ends_with("}\n"), "{response:?}");
}

#[test]
fn botocore_through_imdsv2_and_the_token_rules() {
    let emulator = Emulator::shared();
    let pool = Pool::seed(emulator, SeedOptions::default());
    let dir = temp_dir();
    let port = free_port();
    let socket = dir.path().join("c.sock");
    // No shared secret and no --allow-no-secret: IMDSv2 needs neither (its PUT token is its
    // defence), while `GET /` and `/ecs` refuse.
    let _daemon = DaemonCommand::serve(
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
        ],
    )
    .envs(pool.env())
    .start();
    let expected = wait_for_credentials(&socket, None, Duration::from_secs(20));
    for path in ["/", "/ecs"] {
        let (status, response) = raw_http(
            port,
            &format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"),
        );
        assert_eq!(status, 401, "{path}: {response}");
        assert!(!response.contains("AccessKeyId"), "{path}: {response}");
    }
    let endpoint = format!("http://127.0.0.1:{port}/");
    let url = emulator.url();
    let got = boto3(
        dir.path(),
        &[
            ("AWS_EC2_METADATA_DISABLED", "false"),
            ("AWS_EC2_METADATA_SERVICE_ENDPOINT", &endpoint),
            ("EMULATOR", &url),
        ],
    )
    .unwrap();
    assert_same("boto3 IMDSv2", &got, &expected);

    // IMDSv1 (no token) is refused; X-Forwarded-For is refused; TTL bounds; the TTL is echoed.
    let get_creds = |token: &str| {
        raw_http(port, &format!("GET /latest/meta-data/iam/security-credentials/ HTTP/1.1\r\nHost: 169.254.169.254\r\n{token}Connection: close\r\n\r\n")).0
    };
    assert_eq!(get_creds(""), 401);
    let put = |ttl: &str, extra: &str| {
        raw_http(port, &format!("PUT /latest/api/token HTTP/1.1\r\nHost: 169.254.169.254\r\nX-aws-ec2-metadata-token-ttl-seconds: {ttl}\r\n{extra}Content-Length: 0\r\nConnection: close\r\n\r\n"))
    };
    assert_eq!(put("0", "").0, 400);
    assert_eq!(put("21601", "").0, 400);
    assert_eq!(put("60", "X-Forwarded-For: 10.0.0.1\r\n").0, 403);
    let (status, response) = put("1", "");
    assert_eq!(status, 200, "{response}");
    assert!(
        response
            .to_ascii_lowercase()
            .contains("x-aws-ec2-metadata-token-ttl-seconds: 1\r\n"),
        "TTL not echoed: {response}"
    );
    let token = response.split("\r\n\r\n").nth(1).unwrap().to_owned();
    assert_eq!(
        get_creds(&format!("X-aws-ec2-metadata-token: {token}\r\n")),
        200
    );
    std::thread::sleep(Duration::from_millis(2100));
    assert_eq!(
        get_creds(&format!("X-aws-ec2-metadata-token: {token}\r\n")),
        401,
        "an expired token was accepted"
    );
    // The role list, then the role's credentials on both the classic and the -extended path.
    let token = put("60", "").1.split("\r\n\r\n").nth(1).unwrap().to_owned();
    let imds_get = |path: &str| {
        raw_http(port, &format!("GET {path} HTTP/1.1\r\nHost: 169.254.169.254\r\nX-aws-ec2-metadata-token: {token}\r\nConnection: close\r\n\r\n"))
    };
    let (status, roles) = imds_get("/latest/meta-data/iam/security-credentials/");
    assert_eq!(status, 200);
    let role = roles.split("\r\n\r\n").nth(1).unwrap().to_owned();
    for base in [
        "/latest/meta-data/iam/security-credentials/",
        "/latest/meta-data/iam/security-credentials-extended/",
    ] {
        let (status, response) = imds_get(&format!("{base}{role}"));
        assert_eq!(status, 200, "{base}: {response}");
        let doc: Value = serde_json::from_str(response.split("\r\n\r\n").nth(1).unwrap()).unwrap();
        assert_eq!(doc["Code"], "Success");
        assert_eq!(doc["Type"], "AWS-HMAC");
        assert_eq!(doc["AccessKeyId"], expected["AccessKeyId"]);
        assert_eq!(doc["Token"], expected["SessionToken"]);
        assert!(doc["LastUpdated"].is_string() && doc["Expiration"].is_string());
    }
    assert_eq!(
        imds_get(&format!(
            "/latest/meta-data/iam/security-credentials/{role}x"
        ))
        .0,
        404
    );
    let (status, document) = imds_get("/latest/dynamic/instance-identity/document");
    assert_eq!(status, 200);
    assert!(
        document.contains(&format!("\"region\":\"{}\"", pool.region)),
        "{document}"
    );
    let (status, region) = raw_http(port, &format!("GET /latest/meta-data/placement/region HTTP/1.1\r\nHost: 169.254.169.254\r\nX-aws-ec2-metadata-token: {}\r\nConnection: close\r\n\r\n", put("60", "").1.split("\r\n\r\n").nth(1).unwrap()));
    assert_eq!(status, 200);
    assert!(region.ends_with(&pool.region), "{region}");
}

#[test]
fn host_and_origin_checks_stop_dns_rebinding_and_cross_site_requests() {
    let emulator = Emulator::shared();
    let pool = Pool::seed(emulator, SeedOptions::default());
    let port = free_port();
    let _daemon = DaemonCommand::serve(
        &emulator.url(),
        &[
            "-e",
            "-s",
            "http",
            "-H",
            "127.0.0.1",
            "-P",
            &port.to_string(),
            "--allowed-host",
            "creds.internal",
        ],
    )
    .envs(pool.env())
    .start();
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(50));
    }
    let request = |headers: &str, path: &str| {
        raw_http(
            port,
            &format!("GET {path} HTTP/1.1\r\n{headers}Connection: close\r\n\r\n"),
        )
    };
    for path in ["/", "/ecs", "/healthz"] {
        // A rebinding page: the name resolves to 127.0.0.1, the browser still says the name.
        let (status, body) = request("Host: evil.example:8080\r\n", path);
        assert_eq!(status, 403, "{path}: {body}");
        assert!(!body.contains("AccessKeyId"));
        // A cross-site request from a page on another origin.
        let (status, _) = request("Host: 127.0.0.1\r\nOrigin: http://evil.example\r\n", path);
        assert_eq!(status, 403, "{path}");
    }
    for host in ["127.0.0.1", "localhost", "169.254.170.2", "creds.internal"] {
        let (status, body) = request(&format!("Host: {host}:{port}\r\n"), "/healthz");
        assert!(status == 200 || status == 503, "{host}: {body}");
    }
    // IMDS is off unless asked for.
    let (status, _) = request("Host: 127.0.0.1\r\n", "/latest/meta-data/");
    assert_eq!(status, 404);
}
