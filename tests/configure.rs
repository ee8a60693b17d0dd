//! `cognitod configure --non-interactive` and `cognitod check`, against the emulator: what
//! configure writes is what serve accepts, secrets land in 0600 files and nowhere else, and check
//! tells success by its exit status.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::*;

fn private_file(dir: &Path, name: &str, content: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path.display().to_string()
}

#[test]
fn non_interactive_configure_writes_a_config_serve_accepts() {
    let emulator = Emulator::shared();
    let pool = Pool::seed(emulator, SeedOptions::default());
    let dir = temp_dir();
    let password_file = private_file(dir.path(), "pw", &format!("{}\n", pool.password));
    let config = dir.path().join("etc/config.json");
    let secret = dir.path().join("etc/auth-secret");
    let socket = dir.path().join("c.sock");
    let url = emulator.url();
    let out = cognitod_clean_env(
        &[
            "configure",
            "--non-interactive",
            "-o",
            config.to_str().unwrap(),
            "--username",
            &pool.username,
            "--password-file",
            &password_file,
            "--app-id",
            &pool.client_id,
            "--user-pool-id",
            &pool.user_pool_id,
            "--identity-pool-id",
            &pool.identity_pool_id,
            "--shared-secret",
            "generate",
            "--shared-secret-file",
            secret.to_str().unwrap(),
            "-S",
            socket.to_str().unwrap(),
            "--permissions",
            "0600",
            "--login",
        ],
        &[("AWS_ENDPOINT_URL", &url)],
    );
    let said = output_text(&out);
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains(&format!("signed in as {}", pool.username)),
        "{said}"
    );
    assert!(
        !said.contains(&pool.password),
        "configure printed the password"
    );
    assert_eq!(permission_bits(&config), 0o600);
    assert_eq!(permission_bits(&secret), 0o600);
    let shared = std::fs::read_to_string(&secret).unwrap().trim().to_owned();
    assert!(shared.len() >= 40, "weak generated secret");
    assert!(
        !said.contains(&shared),
        "configure printed the shared secret"
    );

    // check agrees, and --login signs in.
    let checked = cognitod_clean_env(
        &["check", "-c", config.to_str().unwrap(), "--login"],
        &[("AWS_ENDPOINT_URL", &url)],
    );
    let said = output_text(&checked);
    assert!(checked.status.success(), "{said}");
    assert!(
        said.contains("configuration is valid") && said.contains("valid until"),
        "{said}"
    );
    for secret_value in [&pool.password, &shared] {
        assert!(
            !said.contains(secret_value.as_str()),
            "check printed a secret"
        );
    }

    // serve takes the file as it is and serves behind the generated secret.
    let daemon = DaemonCommand::serve(&url, &["-c", config.to_str().unwrap()]).start();
    let doc = wait_for_credentials(
        &socket,
        Some(format!("{shared}\n").as_bytes()),
        Duration::from_secs(20),
    );
    assert_eq!(doc["Version"], 1);
    assert_eq!(
        unix_request(&socket, Some(b"wrong\n")),
        "{\"error\":\"not authorized\"}\n"
    );
    drop(daemon);

    // An existing configuration is not replaced without --force.
    let again = cognitod_clean_env(
        &[
            "configure",
            "--non-interactive",
            "-o",
            config.to_str().unwrap(),
            "--username",
            "x",
            "--password-file",
            &password_file,
            "--app-id",
            "a",
            "--user-pool-id",
            &pool.user_pool_id,
            "-C",
            "tokens",
        ],
        &[],
    );
    assert!(!again.status.success());
    assert!(
        output_text(&again).contains("--force"),
        "{}",
        output_text(&again)
    );
    assert!(std::fs::read_to_string(&config)
        .unwrap()
        .contains(&pool.username));
}

#[test]
fn non_interactive_configure_lists_every_missing_answer_and_checks_values() {
    let dir = temp_dir();
    let out = cognitod_clean_env(
        &[
            "configure",
            "--non-interactive",
            "-o",
            dir.path().join("c.json").to_str().unwrap(),
        ],
        &[],
    );
    assert!(!out.status.success());
    let said = output_text(&out);
    for flag in [
        "--username",
        "--password-file",
        "--app-id",
        "--user-pool-id",
        "--identity-pool-id",
    ] {
        assert!(said.contains(flag), "{flag} not listed: {said}");
    }
    let pw = private_file(dir.path(), "pw", "pw\n");
    let out = cognitod_clean_env(
        &[
            "configure",
            "--non-interactive",
            "-o",
            dir.path().join("c.json").to_str().unwrap(),
            "--username",
            "u",
            "--password-file",
            &pw,
            "--app-id",
            "a",
            "--user-pool-id",
            "nounderscore",
            "-C",
            "tokens",
        ],
        &[],
    );
    assert!(!out.status.success());
    assert!(
        output_text(&out).contains("--user-pool-id"),
        "{}",
        output_text(&out)
    );
    assert!(
        !dir.path().join("c.json").exists(),
        "wrote a config despite the error"
    );
}

#[test]
fn configure_without_a_terminal_says_to_use_non_interactive() {
    let out = cognitod_clean_env(&["configure", "-o", "/nonexistent/c.json"], &[]);
    assert!(!out.status.success());
    assert!(
        output_text(&out).contains("--non-interactive"),
        "{}",
        output_text(&out)
    );
}

#[test]
fn check_login_fails_with_a_clear_cause_and_exit_status() {
    let emulator = Emulator::shared();
    let pool = Pool::seed(emulator, SeedOptions::default());
    let url = emulator.url();
    let mut env: Vec<(String, String)> = pool.env();
    env.retain(|(k, _)| k != "COGNITO_PASSWORD");
    env.push(("COGNITO_PASSWORD".into(), "Not-The-Password-9".into()));
    env.push(("AWS_ENDPOINT_URL".into(), url));
    let env_refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let out = cognitod_clean_env(&["check", "-e", "--login"], &env_refs);
    assert!(!out.status.success());
    let said = output_text(&out);
    assert!(said.contains("NotAuthorizedException"), "{said}");
    assert!(!said.contains("Not-The-Password-9"), "{said}");
    // Without --login the same configuration is valid.
    let out = cognitod_clean_env(&["check", "-e"], &env_refs);
    assert!(out.status.success(), "{}", output_text(&out));
}

/// A person at a terminal: `cognitod configure` on a pty (driven by pexpect), answering each
/// question, mistyping the pool id once, typing the password hidden. Issue 14, point 5: y/n
/// answers wait for Enter, a socket group that does not exist is refused as it is typed, a failed
/// sign-in offers to type the password again, and the output directory is created 0750.
#[test]
fn interactive_configure_on_a_terminal() {
    let emulator = Emulator::shared();
    let pool = Pool::seed(emulator, SeedOptions::default());
    let dir = temp_dir();
    // A directory configure creates itself, as /etc/cognitod on a machine without the package.
    let config = dir.path().join("etc/cognitod/config.json");
    let secret = dir.path().join("auth-secret");
    let socket = dir.path().join("c.sock");
    let pool_json = serde_json::json!({
        "user_pool_id": pool.user_pool_id,
        "client_id": pool.client_id,
        "identity_pool_id": pool.identity_pool_id,
        "username": pool.username,
        "password": pool.password,
    })
    .to_string();
    let out = Command::new(python())
        .arg(repo().join("tests/pty/configure_walkthrough.py"))
        .args([
            env!("CARGO_BIN_EXE_cognitod"),
            config.to_str().unwrap(),
            secret.to_str().unwrap(),
            socket.to_str().unwrap(),
            &pool_json,
        ])
        .env("AWS_ENDPOINT_URL", emulator.url())
        .output()
        .unwrap();
    let transcript = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "walkthrough failed:\n{transcript}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !transcript.contains(&pool.password),
        "the password was echoed"
    );
    assert!(
        transcript.contains("is not a user pool id"),
        "a bad answer was not refused as typed"
    );
    assert!(transcript.contains(&format!("signed in as {}", pool.username)));
    // The Enter after "n" did not answer the identity pool question empty.
    assert!(
        !transcript.contains("is not an identity pool id"),
        "an Enter answered the next question:\n{transcript}"
    );
    assert!(
        transcript.contains("no group named \"no-such-group-x9\""),
        "{transcript}"
    );
    assert!(
        transcript.contains("Type the password again?"),
        "{transcript}"
    );
    assert!(
        !transcript.contains("Mistyped-Password-1"),
        "the password was echoed"
    );
    assert!(
        !transcript.contains("cognitod-configure-"),
        "a temporary name was shown"
    );
    assert_eq!(permission_bits(config.parent().unwrap()), 0o750);
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&config).unwrap()).unwrap();
    assert_eq!(written["global"]["group"], "root");
    assert_eq!(written["cognito"]["password"], pool.password.as_str());
    assert_eq!(permission_bits(&config), 0o600);
    assert_eq!(permission_bits(&secret), 0o600);
    let shared = std::fs::read_to_string(&secret).unwrap().trim().to_owned();
    assert!(
        !transcript.contains(&shared),
        "the shared secret was printed"
    );

    let daemon = DaemonCommand::serve(&emulator.url(), &["-c", config.to_str().unwrap()]).start();
    let doc = wait_for_credentials(
        &socket,
        Some(format!("{shared}\n").as_bytes()),
        Duration::from_secs(20),
    );
    assert_eq!(doc["Version"], 1);
    assert_eq!(permission_bits(&socket), 0o600);
    drop(daemon);
}

/// Issue 14, point 1: choosing tcp or http makes configure generate a shared secret (written
/// without a newline, so one file serves every client); `--shared-secret none` with them is
/// refused unless `--allow-no-secret` says so, which the configuration then records.
#[test]
fn tcp_or_http_get_a_generated_secret_unless_explicitly_allowed_without() {
    let dir = temp_dir();
    let pw = private_file(dir.path(), "pw", "Some-Password-1\n");
    let configure = |name: &str, extra: &[&str]| {
        let config = dir.path().join(format!("{name}.json"));
        let secret = dir.path().join(format!("{name}-secret"));
        let mut args = vec![
            "configure",
            "--non-interactive",
            "-o",
            config.to_str().unwrap(),
            "--shared-secret-file",
            secret.to_str().unwrap(),
            "--username",
            "u",
            "--password-file",
            &pw,
            "--app-id",
            "a",
            "--user-pool-id",
            "eu-west-1_AbC",
            "-C",
            "tokens",
        ];
        args.extend_from_slice(extra);
        let out = cognitod_clean_env(&args, &[]);
        (out, config, secret)
    };

    for transports in ["tcp", "http", "unix,http"] {
        let (out, config, secret) = configure(transports, &["-s", transports]);
        assert!(out.status.success(), "{transports}: {}", output_text(&out));
        let written = std::fs::read(&secret).unwrap();
        assert!(written.len() >= 40, "{transports}: no generated secret");
        assert!(
            !written.ends_with(b"\n"),
            "{transports}: a trailing newline"
        );
        assert_eq!(permission_bits(&secret), 0o600);
        let doc: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&config).unwrap()).unwrap();
        assert_eq!(
            doc["global"]["auth_secret_file"],
            secret.display().to_string()
        );
    }

    // unix alone: no secret unless asked for (the socket's mode is its access control).
    let (out, config, secret) = configure("unix", &["-s", "unix"]);
    assert!(out.status.success(), "{}", output_text(&out));
    assert!(!secret.exists());
    assert!(!std::fs::read_to_string(&config)
        .unwrap()
        .contains("auth_secret"));

    // none with tcp: refused, naming the opt-in; with it, recorded in the configuration.
    let (out, config, _) = configure("none", &["-s", "tcp", "--shared-secret", "none"]);
    assert!(!out.status.success());
    assert!(
        output_text(&out).contains("--allow-no-secret"),
        "{}",
        output_text(&out)
    );
    assert!(!config.exists());
    let (out, config, secret) = configure(
        "allowed",
        &["-s", "tcp", "--shared-secret", "none", "--allow-no-secret"],
    );
    assert!(out.status.success(), "{}", output_text(&out));
    assert!(!secret.exists());
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&config).unwrap()).unwrap();
    assert_eq!(doc["global"]["allow_no_secret"], true);
}
