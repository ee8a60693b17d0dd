//! Nothing secret in the daemon's output, even at RUST_LOG=trace: not the password (right or
//! wrong), the client secret, the shared secret (right or wrong attempts), nor anything it serves
//! (secret key, session token, ID, access and refresh tokens).

mod common;

use std::io::{Read, Write};
use std::net::Shutdown;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use common::*;
use serde_json::Value;

const START: Duration = Duration::from_secs(20);

fn ask(socket: &Path, send: &[u8], close_write: bool) -> String {
    let mut s = UnixStream::connect(socket).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(send).unwrap();
    if close_write {
        s.shutdown(Shutdown::Write).unwrap();
    }
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn no_secret_reaches_the_output_at_trace_level() {
    let emulator = Emulator::shared();
    let options = SeedOptions {
        client_secret: true,
        ..Default::default()
    };
    let pool = Pool::seed(emulator, options);
    let client_secret = pool.client_secret.clone().unwrap();
    let dir = temp_dir();
    let shared_secret = "Shared-Secret-7d1f3a9c";
    let wrong_shared_secret = "Guessed-Secret-55e0b2";
    let wrong_password = "Wrong-Password-9c4e2f!";
    let secret_file = dir.path().join("secret");
    write_file(&secret_file, &format!("{shared_secret}\n"), 0o600);
    let secret_line = format!("{shared_secret}\n");
    let trace = |command: DaemonCommand| command.env("RUST_LOG", "trace");

    // 1. IAM credentials behind the shared secret; password and client secret from the environment.
    let iam_socket = dir.path().join("iam.sock");
    let iam = trace(DaemonCommand::serve(
        &emulator.url(),
        &[
            "-e",
            "-S",
            iam_socket.to_str().unwrap(),
            "--auth-secret-file",
            secret_file.to_str().unwrap(),
        ],
    ))
    .envs(pool.env())
    .start();

    // 2. A wrong password.
    let refused_socket = dir.path().join("refused.sock");
    let refused = trace(DaemonCommand::serve(
        &emulator.url(),
        &["-e", "-S", refused_socket.to_str().unwrap()],
    ))
    .envs(pool.env())
    .env("COGNITO_PASSWORD", wrong_password)
    .start();

    // 3. Tokens, refresh token included, from a config file holding every secret.
    let tokens_socket = dir.path().join("tokens.sock");
    let config = dir.path().join("cognitod.json");
    let text = serde_json::json!({
        "global": {
            "credential_type": "tokens",
            "expose_refresh_token": true,
            "auth_secret": shared_secret,
        },
        "server": { "socket_path": tokens_socket },
        "cognito": {
            "username": pool.username, "password": pool.password, "app_id": pool.client_id,
            "client_secret": client_secret, "user_pool_id": pool.user_pool_id,
            "region": pool.region,
        }
    });
    write_file(&config, &text.to_string(), 0o600);
    let tokens = trace(DaemonCommand::serve(
        &emulator.url(),
        &["-c", config.to_str().unwrap()],
    ))
    .start();

    // Success, and every kind of refusal, on each listener with a secret.
    let served = wait_for_credentials(&iam_socket, Some(secret_line.as_bytes()), START);
    assert_process_credentials(&served);
    let served_tokens = wait_for_credentials(&tokens_socket, Some(secret_line.as_bytes()), START);
    assert!(
        served_tokens["refresh_token"].is_string(),
        "{served_tokens}"
    );
    for socket in [&iam_socket, &tokens_socket] {
        let wrong = format!("{wrong_shared_secret}\n");
        assert!(ask(socket, wrong.as_bytes(), false).contains("not authorized"));
        assert!(ask(socket, wrong_shared_secret.as_bytes(), true).contains("not authorized"));
        assert!(ask(socket, b"", true).contains("not authorized"));
        let mut long = shared_secret.as_bytes().to_vec();
        long.resize(2048, b'x');
        assert!(ask(socket, &long, false).contains("not authorized"));
        assert!(!ask(socket, secret_line.as_bytes(), false).contains("error"));
    }
    refused.wait_for_log("NotAuthorizedException", START);
    wait_for_socket(&refused_socket, START);
    let answer: Value = serde_json::from_str(&ask(&refused_socket, b"", false)).unwrap();
    assert!(answer["error"]
        .as_str()
        .unwrap()
        .contains("NotAuthorizedException"));

    let mut output = String::new();
    for daemon in [iam, refused, tokens] {
        let (status, log) = daemon.stop();
        assert!(status.success(), "{log}");
        output.push_str(&log);
    }
    // The run was verbose: the daemon's debug lines (request outcomes) are there.
    let plain = strip_ansi(&output);
    assert!(plain.contains("DEBUG"), "{plain}");
    assert!(plain.contains("WrongSecret"), "{plain}");

    let mut secrets: Vec<(&str, String)> = vec![
        ("password", pool.password.clone()),
        ("wrong password", wrong_password.into()),
        ("client secret", client_secret.clone()),
        ("shared secret", shared_secret.into()),
        ("wrong shared secret", wrong_shared_secret.into()),
    ];
    // The access key id too: the signed GetCallerIdentity's trace once carried it.
    for key in ["AccessKeyId", "SecretAccessKey", "SessionToken"] {
        secrets.push((key, served[key].as_str().unwrap().to_owned()));
    }
    for key in ["id_token", "access_token", "refresh_token"] {
        let token = served_tokens[key].as_str().unwrap();
        secrets.push((key, token.to_owned()));
        // A JWT's claims or signature alone are as telling as the whole token.
        for part in token.split('.').skip(1) {
            if part.len() >= 16 {
                secrets.push((key, part.to_owned()));
            }
        }
    }
    for (what, value) in &secrets {
        assert!(!value.is_empty());
        assert!(
            !output.contains(value.as_str()) && !plain.contains(value.as_str()),
            "the {what} appears in the output"
        );
    }
}

/// Issue 15, point 3: the cap that keeps the AWS SDK's and HTTP crates at `warn` holds against
/// directives more specific than it and span directives. Before the fix,
/// `RUST_LOG=aws_smithy_runtime::client::orchestrator=trace` printed GetCredentialsForIdentity's
/// output, session token included.
#[test]
fn no_rust_log_directive_gets_a_secret_into_the_output() {
    let emulator = Emulator::shared();
    let pool = Pool::seed(emulator, SeedOptions::default());
    let dir = temp_dir();
    for (n, directives) in [
        "aws_smithy_runtime::client::orchestrator=trace",
        "aws_smithy_runtime::client=trace,aws_sdk_cognitoidentity::operation=trace,aws_sdk_cognitoidentityprovider::operation=trace",
        "[try_attempt]=trace,[invoke]=trace",
        "aws_smithy_runtime_api::client=trace,aws_smithy_http_client::hyper_legacy=trace,hyper::proto=trace,hyper_util::client=trace,aws_smithy_types::body=trace",
    ]
    .into_iter()
    .enumerate()
    {
        let socket = dir.path().join(format!("{n}.sock"));
        let daemon = DaemonCommand::serve(&emulator.url(), &["-e", "-S", socket.to_str().unwrap()])
            .envs(pool.env())
            .env("RUST_LOG", &format!("{directives},cognitod=trace"))
            .start();
        let served = wait_for_credentials(&socket, None, START);
        let (status, output) = daemon.stop();
        assert!(status.success(), "{output}");
        assert!(output.contains("TRACE") || output.contains("DEBUG"), "{output}");
        for key in ["SecretAccessKey", "SessionToken"] {
            let value = served[key].as_str().unwrap();
            assert!(!output.contains(value), "{directives}: the {key} appears in the output");
        }
        assert!(
            !output.contains(&pool.password),
            "{directives}: the password appears in the output"
        );
    }
}

/// Issue 15, point 9: the daemon's memory, where the secrets live, cannot be swapped out when it
/// may lock it (root, or CAP_IPC_LOCK): /proc/PID/status shows locked memory (VmLck), 0 before
/// the fix.
#[test]
fn the_daemons_memory_is_locked_out_of_swap() {
    let emulator = Emulator::shared();
    let pool = Pool::seed(emulator, SeedOptions::default());
    let dir = temp_dir();
    let socket = dir.path().join("c.sock");
    let daemon = DaemonCommand::serve(&emulator.url(), &["-e", "-S", socket.to_str().unwrap()])
        .envs(pool.env())
        .start();
    wait_for_credentials(&socket, None, START);
    let status = std::fs::read_to_string(format!("/proc/{}/status", daemon.pid())).unwrap();
    let capable = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .is_some_and(|caps| caps & (1 << 14) != 0);
    assert!(capable, "this test needs CAP_IPC_LOCK (run it as root)");
    let locked_kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmLck:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap();
    let rss_kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap();
    println!("VmLck {locked_kib} kB, VmRSS {rss_kib} kB");
    assert!(
        locked_kib >= rss_kib,
        "VmLck {locked_kib} kB < VmRSS {rss_kib} kB"
    );
}
