//! aws-sdk-rust as a client: aws-config's process, container and IMDS credential providers each
//! resolve exactly the daemon's credentials, and a signed STS GetCallerIdentity goes through with
//! them. One test in this file: it sets process environment variables (the container provider
//! reads them), which must not race with other tests.

mod common;

use std::time::Duration;

use aws_config::credential_process::CredentialProcessProvider;
use aws_config::ecs::EcsCredentialsProvider;
use aws_config::imds::credentials::ImdsCredentialsProvider;
use aws_config::provider_config::ProviderConfig;
use aws_config::{BehaviorVersion, Region};
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sdk_sts::config::SharedHttpClient;
use common::*;
use serde_json::Value;

/// The SDK's HTTP client for these tests: plain HTTP is all they need (the daemon and the emulator
/// listen on loopback), and the crate is built without a default client (see cognito::sdk_config).
fn http_client() -> SharedHttpClient {
    aws_smithy_http_client::Builder::new().build_http()
}

/// The providers' settings, with that client.
fn provider_config() -> ProviderConfig {
    ProviderConfig::default().with_http_client(http_client())
}

async fn caller_identity(emulator: &str, provider: SharedCredentialsProvider) -> String {
    let config = aws_sdk_sts::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .http_client(http_client())
        .region(Region::new("us-east-1"))
        .endpoint_url(emulator)
        .credentials_provider(provider)
        .build();
    let out = aws_sdk_sts::Client::from_conf(config)
        .get_caller_identity()
        .send()
        .await
        .expect("a signed GetCallerIdentity");
    out.arn().unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn aws_config_providers_resolve_the_daemons_credentials() {
    let emulator = Emulator::shared();
    let pool = Pool::seed(emulator, SeedOptions::default());
    let dir = temp_dir();
    let socket = dir.path().join("c.sock");
    let (http, imds_http) = (free_port(), free_port());
    // One daemon with a secret for the process and container providers; IMDS cannot check a
    // secret, so it runs on a second daemon without one.
    let secret = "rust-sdk-secret";
    let secret_file = dir.path().join("secret");
    std::fs::write(&secret_file, format!("{secret}\n")).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&secret_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
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
            secret_file.to_str().unwrap(),
        ],
    )
    .envs(pool.env())
    .start();
    let _imds_daemon = DaemonCommand::serve(
        &emulator.url(),
        &[
            "-e",
            "-s",
            "http",
            "-H",
            "127.0.0.1",
            "-P",
            &imds_http.to_string(),
            "--imds",
        ],
    )
    .envs(pool.env())
    .start();
    let expected: Value = wait_for_credentials(
        &socket,
        Some(format!("{secret}\n").as_bytes()),
        Duration::from_secs(20),
    );

    let check = |label: &str, creds: &aws_credential_types::Credentials| {
        assert_eq!(
            creds.access_key_id(),
            expected["AccessKeyId"].as_str().unwrap(),
            "{label}"
        );
        assert_eq!(
            creds.secret_access_key(),
            expected["SecretAccessKey"].as_str().unwrap(),
            "{label}"
        );
        assert_eq!(
            creds.session_token(),
            expected["SessionToken"].as_str(),
            "{label}"
        );
        assert!(creds.expiry().is_some(), "{label}: no expiry");
    };

    // credential_process = cognitod get (the secret from a file, never an argument).
    let command = format!(
        "{} get --socket {} --secret-file {}",
        env!("CARGO_BIN_EXE_cognitod"),
        socket.display(),
        secret_file.display()
    );
    let process = CredentialProcessProvider::new(command);
    check("process", &process.provide_credentials().await.unwrap());
    let arn = caller_identity(&emulator.url(), SharedCredentialsProvider::new(process)).await;
    assert!(arn.starts_with("arn:aws:"), "{arn}");

    // The container provider, with the secret as AWS_CONTAINER_AUTHORIZATION_TOKEN.
    // The only test in this binary: nothing else reads the environment meanwhile.
    std::env::set_var(
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        format!("http://127.0.0.1:{http}/ecs"),
    );
    std::env::set_var("AWS_CONTAINER_AUTHORIZATION_TOKEN", secret);
    let ecs = EcsCredentialsProvider::builder()
        .configure(&provider_config())
        .build();
    check("container", &ecs.provide_credentials().await.unwrap());
    let arn = caller_identity(&emulator.url(), SharedCredentialsProvider::new(ecs)).await;
    assert!(arn.starts_with("arn:aws:"), "{arn}");
    // A wrong token is refused for the SDK too.
    std::env::set_var("AWS_CONTAINER_AUTHORIZATION_TOKEN", "wrong");
    let refused = EcsCredentialsProvider::builder()
        .configure(&provider_config())
        .build()
        .provide_credentials()
        .await;
    assert!(refused.is_err(), "a wrong Authorization was accepted");
    std::env::remove_var("AWS_CONTAINER_CREDENTIALS_FULL_URI");
    std::env::remove_var("AWS_CONTAINER_AUTHORIZATION_TOKEN");

    // IMDSv2 (session token, then the role's credentials).
    let client = aws_config::imds::Client::builder()
        .configure(&provider_config())
        .endpoint(format!("http://127.0.0.1:{imds_http}/"))
        .unwrap()
        .build();
    let imds = ImdsCredentialsProvider::builder()
        .imds_client(client)
        .build();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let creds = loop {
        match imds.provide_credentials().await {
            Ok(creds) => break creds,
            Err(e) => {
                assert!(
                    std::time::Instant::now() < deadline,
                    "IMDS never answered: {e}"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    check("imds", &creds);
    let arn = caller_identity(&emulator.url(), SharedCredentialsProvider::new(imds)).await;
    assert!(arn.starts_with("arn:aws:"), "{arn}");
}
