//! `cognitod configure` enrols a user in TOTP MFA (issue 17): on a terminal when the pool
//! requires MFA and the user has none (MFA_SETUP), with `--enrol-totp` for a user without MFA,
//! and again for a user who has TOTP (a code of the present authenticator typed once, a mistyped
//! one refused). The seed lands in the 0600 configuration and nowhere else but the otpauth URI
//! on the terminal; `cognitod serve` then signs in with TOTP from that file. A configuration
//! that cannot be written is refused before any call to Cognito, and one that fails to be
//! written after an enrolment all the same is kept, seed and all, where the error says.

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::*;

const START: Duration = Duration::from_secs(20);

fn password_file(dir: &Path, pool: &Pool) -> String {
    let path = dir.join("pw");
    write_file(&path, &format!("{}\n", pool.password), 0o600);
    path.display().to_string()
}

/// The arguments of `configure --non-interactive` for this pool, with `extra` flags.
fn configure_args(
    pool: &Pool,
    password_file: &str,
    socket: &Path,
    config: &Path,
    extra: &[&str],
) -> Vec<String> {
    let mut args = vec![
        "configure",
        "--non-interactive",
        "-o",
        config.to_str().unwrap(),
        "--username",
        &pool.username,
        "--password-file",
        password_file,
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
    args.into_iter().map(str::to_owned).collect()
}

/// `configure --non-interactive` for this pool, with `extra` flags.
fn configure(pool: &Pool, dir: &Path, config: &Path, extra: &[&str], url: &str) -> Output {
    let pw = password_file(dir, pool);
    let args = configure_args(pool, &pw, &dir.join("c.sock"), config, extra);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    cognitod_clean_env(&args, &[("AWS_ENDPOINT_URL", url)])
}

/// The unprivileged `nobody`, which the tests (run as root) become with setpriv.
const NOBODY: u32 = 65534;

/// A directory `nobody` owns.
fn nobodys(path: &Path) {
    std::fs::create_dir_all(path).unwrap();
    nix::unistd::chown(path, Some(NOBODY.into()), Some(NOBODY.into())).unwrap();
}

/// A home of nobody's own in DIR (made 0755, so nobody reaches it), holding its password file.
fn nobody_home(dir: &Path, pool: &Pool) -> PathBuf {
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let home = dir.join("home");
    nobodys(&home);
    let pw = home.join("pw");
    write_file(&pw, &format!("{}\n", pool.password), 0o600);
    nix::unistd::chown(&pw, Some(NOBODY.into()), Some(NOBODY.into())).unwrap();
    home
}

/// `configure --non-interactive` as nobody, with HOME its home and DIR (root's) the current
/// directory, ready to be run or spawned.
fn configure_as_nobody(
    pool: &Pool,
    dir: &Path,
    home: &Path,
    config: &Path,
    extra: &[&str],
    url: &str,
) -> Command {
    let pw = home.join("pw");
    let mut command = Command::new("setpriv");
    command
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(env!("CARGO_BIN_EXE_cognitod"))
        .args(configure_args(
            pool,
            pw.to_str().unwrap(),
            &dir.join("c.sock"),
            config,
            extra,
        ))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap())
        .env("HOME", home)
        .env("AWS_ENDPOINT_URL", url)
        .current_dir(dir);
    command
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

/// A fresh pool whose MFA setting is `mfa` (ON or OPTIONAL), its call counts from zero.
fn pool_with_mfa(emulator: &Emulator, mfa: &'static str) -> Pool {
    let pool = Pool::seed(
        emulator,
        SeedOptions {
            mfa: Some(mfa),
            ..Default::default()
        },
    );
    emulator.reset_calls(&pool.user_pool_id);
    pool
}

#[test]
fn a_user_of_a_pool_requiring_mfa_is_enrolled_on_a_terminal() {
    let emulator = Emulator::shared();
    let pool = pool_with_mfa(emulator, "ON");
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
    let pool = pool_with_mfa(emulator, "OPTIONAL");
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

/// A configuration (or shared secret's file) that this user cannot write, as under
/// /etc/cognitod for a user who is not root, is refused before the sign-in: no authenticator is
/// enrolled whose seed would have nowhere to go.
#[test]
fn a_file_that_cannot_be_written_is_refused_before_any_call_to_cognito() {
    let emulator = Emulator::shared();
    let pool = pool_with_mfa(emulator, "OPTIONAL");
    let dir = temp_dir();
    let home = nobody_home(dir.path(), &pool);
    // Root's, as /etc/cognitod is: nobody may not write in it.
    let etc = dir.path().join("etc");
    std::fs::create_dir(&etc).unwrap();
    std::fs::set_permissions(&etc, std::fs::Permissions::from_mode(0o755)).unwrap();
    let url = emulator.url();

    let config = etc.join("config.json");
    let out = configure_as_nobody(&pool, dir.path(), &home, &config, &["--enrol-totp"], &url)
        .output()
        .unwrap();
    let said = output_text(&out);
    assert!(!out.status.success(), "{said}");
    for needed in [
        format!(
            "cannot write the configuration {}: Permission denied",
            config.display()
        ),
        "nothing was asked of Cognito".into(),
        "-o PATH".into(),
    ] {
        assert!(said.contains(&needed), "{needed}: {said}");
    }

    let config = home.join("config.json");
    let secret = etc.join("auth-secret");
    let out = configure_as_nobody(
        &pool,
        dir.path(),
        &home,
        &config,
        &[
            "--enrol-totp",
            "--shared-secret",
            "generate",
            "--shared-secret-file",
            secret.to_str().unwrap(),
        ],
        &url,
    )
    .output()
    .unwrap();
    let said = output_text(&out);
    assert!(!out.status.success(), "{said}");
    for needed in [
        format!(
            "cannot write the shared secret's file {}: Permission denied",
            secret.display()
        ),
        "--shared-secret-file PATH".into(),
    ] {
        assert!(said.contains(&needed), "{needed}: {said}");
    }
    assert!(!config.exists());

    let calls = emulator.calls(&pool.user_pool_id);
    assert_eq!(calls.get("AssociateSoftwareToken"), None, "{calls:?}");
    assert!(calls.is_empty(), "no call at all: {calls:?}");
}

/// When the configuration fails to be written after all, once the new authenticator is
/// enrolled (here its directory turns read-only while Cognito is asked to make TOTP the user's
/// MFA, after VerifySoftwareToken accepted the seed), the whole configuration is kept in a 0600
/// file in the home, the error says where and what to do, the seed is not printed, and it is
/// the seed Cognito accepts.
#[test]
fn a_configuration_that_fails_to_be_written_after_an_enrolment_is_kept_with_its_seed() {
    let emulator = Emulator::shared();
    let pool = pool_with_mfa(emulator, "OPTIONAL");
    let dir = temp_dir();
    let home = nobody_home(dir.path(), &pool);
    let etc = dir.path().join("etc");
    nobodys(&etc);
    let config = etc.join("config.json");

    emulator.hold(&pool.user_pool_id, "SetUserMFAPreference");
    let child = configure_as_nobody(
        &pool,
        dir.path(),
        &home,
        &config,
        &["--enrol-totp"],
        &emulator.url(),
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    wait_until("SetUserMFAPreference", Duration::from_secs(30), || {
        emulator
            .calls(&pool.user_pool_id)
            .contains_key("SetUserMFAPreference")
    });
    assert_eq!(
        emulator
            .calls(&pool.user_pool_id)
            .get("VerifySoftwareToken"),
        Some(&1)
    );
    std::fs::set_permissions(&etc, std::fs::Permissions::from_mode(0o555)).unwrap();
    emulator.release(&pool.user_pool_id);
    let out = child.wait_with_output().unwrap();
    let said = output_text(&out);
    assert!(!out.status.success(), "{said}");
    assert!(!config.exists());

    let kept = said
        .split_once("is kept in ")
        .and_then(|(_, rest)| rest.split_once(" (mode 0600)"))
        .unwrap_or_else(|| panic!("where the seed is: {said}"))
        .0;
    let kept = PathBuf::from(kept);
    assert_eq!(kept.parent(), Some(home.as_path()), "{said}");
    assert!(
        said.contains(&format!(
            "sudo install -m 600 {} {}",
            kept.display(),
            config.display()
        )),
        "{said}"
    );
    assert!(said.contains("Permission denied"), "{said}");
    assert_eq!(std::fs::metadata(&kept).unwrap().uid(), NOBODY);
    let seed = written_seed(&kept);
    assert!(!said.contains(&seed), "the seed was printed: {said}");
    assert!(!said.contains("otpauth://totp/"), "{said}");

    // The kept configuration is whole, and its seed the one Cognito now accepts.
    let recovered = dir.path().join("recovered.json");
    std::fs::copy(&kept, &recovered).unwrap();
    serve_signs_in_with_totp(emulator, &pool, &recovered, &seed, false);
}
