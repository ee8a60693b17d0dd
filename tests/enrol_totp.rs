//! `cognitod configure` enrols a user in TOTP MFA (issue 17): on a terminal when the pool
//! requires MFA and the user has none (MFA_SETUP), with `--enrol-totp` for a user without MFA,
//! and again for a user who has TOTP (a code of the present authenticator typed once, a mistyped
//! one refused). The seed lands in the 0600 configuration and nowhere else but the otpauth URI
//! on the terminal; `cognitod serve` then signs in with TOTP from that file.

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use common::*;

const START: Duration = Duration::from_secs(20);

fn password_file(dir: &Path, pool: &Pool) -> String {
    let path = dir.join("pw");
    write_file(&path, &format!("{}\n", pool.password), 0o600);
    path.display().to_string()
}

/// `configure --non-interactive` for this pool, with `extra` flags.
fn configure(pool: &Pool, dir: &Path, config: &Path, extra: &[&str], url: &str) -> Output {
    let pw = password_file(dir, pool);
    let socket = dir.join("c.sock");
    let mut args = vec![
        "configure",
        "--non-interactive",
        "-o",
        config.to_str().unwrap(),
        "--username",
        &pool.username,
        "--password-file",
        &pw,
        "--app-id",
        &pool.client_id,
        "--user-pool-id",
        &pool.user_pool_id,
        "--region",
        &pool.region,
        "--identity-pool-id",
        &pool.identity_pool_id,
        "-S",
        socket.to_str().unwrap(),
        "--permissions",
        "0600",
    ];
    args.extend_from_slice(extra);
    cognitod_clean_env(&args, &[("AWS_ENDPOINT_URL", url)])
}

/// The seed configure wrote, after checking the file is private.
fn written_seed(config: &Path) -> String {
    assert_eq!(
        permission_bits(config),
        0o600,
        "the configuration holds the seed"
    );
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(config).unwrap()).unwrap();
    let seed = doc["cognito"]["totp_secret"]
        .as_str()
        .unwrap_or_else(|| panic!("no cognito.totp_secret in {doc}"))
        .to_owned();
    assert!(seed.len() >= 16, "{seed}");
    seed
}

/// `cognitod serve -c CONFIG` signs in with the seed from the file (answering
/// SOFTWARE_TOKEN_MFA) and serves credentials; the seed is not in its log. When configure's own
/// sign-in used this 30 s step's code (a seed given rather than enrolled), the daemon's first
/// code is refused as used and the next step's follows: up to 30 s more, two answers.
fn serve_signs_in_with_totp(
    emulator: &Emulator,
    pool: &Pool,
    config: &Path,
    seed: &str,
    configure_signed_in_with_it: bool,
) {
    emulator.reset_calls(&pool.user_pool_id);
    let socket = config.parent().unwrap().join("c.sock");
    let daemon = DaemonCommand::serve(&emulator.url(), &["-c", config.to_str().unwrap()]).start();
    let doc = wait_for_credentials(&socket, None, START + Duration::from_secs(31));
    assert_process_credentials(&doc);
    let calls = emulator.calls(&pool.user_pool_id);
    let answers = calls
        .get("RespondToAuthChallenge:SOFTWARE_TOKEN_MFA")
        .copied()
        .unwrap_or(0);
    let most = if configure_signed_in_with_it { 2 } else { 1 };
    assert!((1..=most).contains(&answers), "{calls:?}");
    let (status, log) = daemon.stop();
    assert!(status.success(), "{log}");
    assert!(!log.contains(seed), "the seed is never logged");
}

fn run_pty(scenario: &str, emulator: &Emulator, pool: &Pool, dir: &Path) -> String {
    let pool_json = serde_json::json!({
        "region": pool.region,
        "user_pool_id": pool.user_pool_id,
        "client_id": pool.client_id,
        "identity_pool_id": pool.identity_pool_id,
        "username": pool.username,
        "totp_secret": pool.totp_secret,
    })
    .to_string();
    let out = Command::new(python())
        .arg(repo().join("tests/pty/enrol_totp.py"))
        .args([
            scenario,
            env!("CARGO_BIN_EXE_cognitod"),
            dir.join("config.json").to_str().unwrap(),
            &password_file(dir, pool),
            dir.join("c.sock").to_str().unwrap(),
            &pool_json,
        ])
        .env("AWS_ENDPOINT_URL", emulator.url())
        .output()
        .unwrap();
    let transcript = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{scenario} failed:\n{transcript}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !transcript.contains(&pool.password),
        "the password was shown"
    );
    transcript
}

/// The URI shown on the terminal, whole (the terminal may wrap it; the pty is 400 wide).
fn shown_uri(transcript: &str) -> String {
    let start = transcript.find("otpauth://totp/").expect("no otpauth URI");
    transcript[start..]
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

/// Each of CALLS reached the pool exactly once.
fn assert_called_once(emulator: &Emulator, pool: &Pool, calls: &[&str]) {
    let made = emulator.calls(&pool.user_pool_id);
    for call in calls {
        assert_eq!(made.get(*call), Some(&1), "{call}: {made:?}");
    }
}

#[test]
fn a_user_of_a_pool_requiring_mfa_is_enrolled_on_a_terminal() {
    let emulator = Emulator::shared();
    let pool = Pool::seed(
        emulator,
        SeedOptions {
            mfa: Some("ON"),
            ..Default::default()
        },
    );
    emulator.reset_calls(&pool.user_pool_id);
    let dir = temp_dir();
    let transcript = run_pty("mfa-setup", emulator, &pool, dir.path());
    let config = dir.path().join("config.json");
    let seed = written_seed(&config);
    // Shown once, as the URI an authenticator app takes, naming the pool and the user.
    let uri = shown_uri(&transcript);
    assert_eq!(
        uri,
        format!(
            "otpauth://totp/Cognito%20{pool_id}:{user}?secret={seed}&issuer=Cognito%20{pool_id}",
            pool_id = pool.user_pool_id,
            user = pool.username
        )
    );
    assert_eq!(transcript.matches(&seed).count(), 1, "{transcript}");
    assert!(
        transcript.contains(&format!("signed in as {}", pool.username)),
        "{transcript}"
    );
    assert_called_once(
        emulator,
        &pool,
        &[
            "AssociateSoftwareToken",
            "VerifySoftwareToken",
            "RespondToAuthChallenge:MFA_SETUP",
        ],
    );
    serve_signs_in_with_totp(emulator, &pool, &config, &seed, false);
}

#[test]
fn the_flag_enrols_a_user_without_mfa_and_says_where_the_seed_is_written() {
    let emulator = Emulator::shared();
    let pool = Pool::seed(
        emulator,
        SeedOptions {
            mfa: Some("OPTIONAL"),
            ..Default::default()
        },
    );
    emulator.reset_calls(&pool.user_pool_id);
    let dir = temp_dir();
    let config = dir.path().join("config.json");
    let out = configure(
        &pool,
        dir.path(),
        &config,
        &["--enrol-totp"],
        &emulator.url(),
    );
    let said = output_text(&out);
    assert!(out.status.success(), "{said}");
    let seed = written_seed(&config);
    assert!(!said.contains(&seed), "the seed was printed: {said}");
    assert!(!said.contains("otpauth://totp/"), "{said}");
    assert!(
        said.contains(&format!(
            "its seed is written to {} as cognito.totp_secret (mode 0600)",
            config.display()
        )),
        "{said}"
    );
    assert_called_once(
        emulator,
        &pool,
        &[
            "AssociateSoftwareToken",
            "VerifySoftwareToken",
            "SetUserMFAPreference",
        ],
    );
    serve_signs_in_with_totp(emulator, &pool, &config, &seed, false);
}

#[test]
fn a_user_with_totp_and_no_seed_is_told_what_to_do_and_a_given_seed_is_stored() {
    let emulator = Emulator::shared();
    let pool = Pool::seed(
        emulator,
        SeedOptions {
            mfa_totp: true,
            ..Default::default()
        },
    );
    let seed = pool.totp_secret.clone().unwrap();
    let dir = temp_dir();
    let config = dir.path().join("config.json");
    let url = emulator.url();

    let out = configure(&pool, dir.path(), &config, &["--login"], &url);
    let said = output_text(&out);
    assert!(!out.status.success(), "{said}");
    for needed in [
        "already has a TOTP authenticator",
        "cannot read it",
        "--totp-secret-file",
        "--enrol-totp",
        "nothing written",
    ] {
        assert!(said.contains(needed), "{needed}: {said}");
    }
    assert!(!config.exists());

    // Re-enrolling needs a code of the present authenticator, which only a person can type.
    let out = configure(&pool, dir.path(), &config, &["--enrol-totp"], &url);
    let said = output_text(&out);
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("on a terminal"), "{said}");
    assert!(!config.exists());

    // Given, the seed is checked by the sign-in and stored.
    let seed_file = dir.path().join("seed");
    write_file(&seed_file, &format!("{seed}\n"), 0o600);
    let out = configure(
        &pool,
        dir.path(),
        &config,
        &["--login", "--totp-secret-file", seed_file.to_str().unwrap()],
        &url,
    );
    let said = output_text(&out);
    assert!(out.status.success(), "{said}");
    assert!(!said.contains(&seed), "{said}");
    assert_eq!(written_seed(&config), seed);
}

#[test]
fn a_user_with_totp_is_re_enrolled_on_a_terminal_after_a_mistyped_code() {
    let emulator = Emulator::shared();
    let pool = Pool::seed(
        emulator,
        SeedOptions {
            mfa_totp: true,
            ..Default::default()
        },
    );
    let old_seed = pool.totp_secret.clone().unwrap();
    let dir = temp_dir();
    let transcript = run_pty("re-enrol", emulator, &pool, dir.path());
    // The mistyped code is refused with a message naming the MFA code.
    assert!(transcript.contains("CodeMismatchException"), "{transcript}");
    assert!(
        transcript.contains("the MFA code was refused"),
        "{transcript}"
    );
    let config = dir.path().join("config.json");
    let seed = written_seed(&config);
    assert_ne!(
        seed, old_seed,
        "a new authenticator replaces the present one"
    );
    assert!(shown_uri(&transcript).contains(&format!("secret={seed}&")));
    serve_signs_in_with_totp(emulator, &pool, &config, &seed, false);
}

#[test]
fn a_user_with_totp_can_type_the_seed_on_a_terminal() {
    let emulator = Emulator::shared();
    let pool = Pool::seed(
        emulator,
        SeedOptions {
            mfa_totp: true,
            ..Default::default()
        },
    );
    let seed = pool.totp_secret.clone().unwrap();
    let dir = temp_dir();
    let transcript = run_pty("give-seed", emulator, &pool, dir.path());
    assert!(
        transcript.contains("Cognito never hands out the seed"),
        "{transcript}"
    );
    // Typed hidden (in lower case, as some apps show it), never echoed, stored as typed.
    assert!(
        !transcript.to_lowercase().contains(&seed.to_lowercase()),
        "{transcript}"
    );
    assert!(!transcript.contains("otpauth://totp/"), "{transcript}");
    let config = dir.path().join("config.json");
    assert_eq!(written_seed(&config), seed.to_lowercase());
    serve_signs_in_with_totp(emulator, &pool, &config, &seed.to_lowercase(), true);
}

/// MFA_SETUP through USER_PASSWORD_AUTH, on an app client with a secret (SECRET_HASH on every
/// answer, over the internal name of an e-mail login), enrolled without a terminal.
#[test]
fn the_flag_answers_mfa_setup_for_password_sign_in_with_a_client_secret() {
    let emulator = Emulator::shared();
    let pool = Pool::seed(
        emulator,
        SeedOptions {
            mfa: Some("ON"),
            client_secret: true,
            email_login: true,
            ..Default::default()
        },
    );
    emulator.reset_calls(&pool.user_pool_id);
    let dir = temp_dir();
    let config = dir.path().join("config.json");
    let secret_file = dir.path().join("client-secret");
    write_file(&secret_file, pool.client_secret.as_deref().unwrap(), 0o600);
    let out = configure(
        &pool,
        dir.path(),
        &config,
        &[
            "--enrol-totp",
            "--auth-type",
            "user_password",
            "--client-secret-file",
            secret_file.to_str().unwrap(),
        ],
        &emulator.url(),
    );
    let said = output_text(&out);
    assert!(out.status.success(), "{said}");
    let seed = written_seed(&config);
    assert!(!said.contains(&seed), "{said}");
    let calls = emulator.calls(&pool.user_pool_id);
    assert_eq!(
        calls.get("InitiateAuth:USER_PASSWORD_AUTH"),
        Some(&1),
        "{calls:?}"
    );
    assert_eq!(
        calls.get("RespondToAuthChallenge:MFA_SETUP"),
        Some(&1),
        "{calls:?}"
    );
    assert_eq!(calls.get("SetUserMFAPreference"), None, "{calls:?}");
    serve_signs_in_with_totp(emulator, &pool, &config, &seed, false);
}
