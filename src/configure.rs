//! `cognitod configure`: the interactive configuration builder the original promised.
//!
//! Every question has a flag; a flag's answer is not asked again, and `--non-interactive` asks
//! nothing. Each answer is checked as it is typed by the rules the loader applies, the finished
//! configuration is validated by the loader itself, and it is written 0600 (never over an existing
//! file without asking). Whether its files can be written is checked before the questions, and so
//! before any sign-in. The password is typed hidden and never printed back.
//!
//! It can also enrol the user in TOTP MFA (`--enrol-totp`, or offered when the pool requires MFA
//! and the user has none): the sign-in that checks the password then registers a new
//! authenticator, whose seed is written as `cognito.totp_secret` beside the password. The seed
//! is shown once, as an `otpauth://` URI, on the person's terminal, and nowhere else. Should the
//! configuration still fail to be written after an enrolment, it is kept, seed and all, in a new
//! 0600 file in the person's home (or the current directory) that the error names.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context as _};
use dialoguer::{Confirm, Input, Password, Select};
use serde_json::{json, Map, Value};

use crate::cli::{
    ConfigureArgs, CredentialType, InstallArgs, OwnerArgs, ServeArgs, SharedSecretChoice,
};
use crate::cognito::auth::Enrolment;
use crate::cognito::UpstreamError;
use crate::config::{self, check_answer, Environment, Question};
use crate::secret::{generate_secret, write_private, zeroize_json, Secret, SecretFileError};
use crate::transport::Transport;

/// All answers, however they were given.
struct Answers {
    transports: Vec<Transport>,
    credential_type: CredentialType,
    user_pool_id: String,
    region: String,
    app_id: String,
    client_secret: Option<Secret>,
    identity_pool_id: Option<String>,
    role_arn: Option<String>,
    auth_flow: String,
    username: String,
    password: Secret,
    /// The user's TOTP seed: given, or from an enrolment.
    totp_secret: Option<Secret>,
    auth_type: String,
    shared_secret: SharedSecretChoice,
    /// tcp or http without a secret, explicitly allowed (`--allow-no-secret`).
    allow_no_secret: bool,
    socket_user: Option<String>,
    socket_group: Option<String>,
    permissions: String,
    socket_path: Option<PathBuf>,
}

/// `cognitod configure`.
pub fn run(args: &ConfigureArgs) -> anyhow::Result<ExitCode> {
    let output = match (&args.output, &args.instance) {
        (Some(path), _) => path.clone(),
        (None, Some(instance)) => instance.config_path(),
        (None, None) => config::default_config_path(
            &Environment::from_process(),
            nix::unistd::geteuid().is_root(),
        )
        .context("no place for the configuration: HOME is not set; give one with -o/--output")?,
    };
    // An instance's secret is its own: instances share /etc/cognitod.
    let secret_file = match (&args.shared_secret_file, &args.instance) {
        (Some(path), _) => path.clone(),
        (None, Some(instance)) => instance.secret_path(),
        (None, None) => output
            .parent()
            .unwrap_or(Path::new("."))
            .join("auth-secret"),
    };
    if args.install {
        // Early, before any question, when -s already says which sockets.
        if let Some(missing) = instance_port_missing(args, &args.server_type) {
            bail!("{missing}; nothing written");
        }
    }
    let interactive = !args.non_interactive;
    if interactive && !std::io::stdin().is_terminal() {
        bail!("cognitod configure asks its questions on a terminal; without one, give every answer as a flag with --non-interactive");
    }
    // Before the questions, and so before any sign-in: an enrolment replaces the user's
    // authenticator at Cognito, and its seed must then go into a file that can be written.
    let fix = match &args.instance {
        Some(instance) if args.output.is_none() => {
            format!("run it as root (cognitod@{instance} reads its configuration from there)")
        }
        _ => {
            "run it as a user who may write there, or give a file you can write with -o PATH".into()
        }
    };
    check_writable(&output, "configuration", &fix)?;
    let mut answers = if interactive {
        ask(args)?
    } else {
        from_flags(args)?
    };
    if let Some(instance) = &args.instance {
        // Where cognitod@NAME.socket listens: said in the configuration too, for `serve -c`
        // by hand and for the configuration the daemon logs.
        answers
            .socket_path
            .get_or_insert_with(|| instance.socket_path());
    }
    let port_missing = instance_port_missing(args, &answers.transports);
    if args.install {
        // What install would refuse, refused before anything is written.
        if let Some(missing) = &port_missing {
            bail!("{missing}; nothing written");
        }
        crate::install::plan_from_args(&install_args(args, &answers, &output, &secret_file))
            .context("--install")?;
    }
    let shared_secret =
        (answers.shared_secret == SharedSecretChoice::Generate).then(generate_secret);
    if shared_secret.is_some() {
        let fix = match &args.instance {
            Some(_) if args.shared_secret_file.is_none() => {
                "run it as root, or give a file you can write with --shared-secret-file PATH"
            }
            _ => {
                "run it as a user who may write there, or give a file you can write with \
                 --shared-secret-file PATH"
            }
        };
        check_writable(&secret_file, "shared secret's file", fix)?;
    }

    // Before any sign-in: an enrolment replaces the user's authenticator, and its seed must not
    // then be lost to a file that may not be replaced.
    if output.exists() && !args.force {
        let replace =
            interactive && yes_no(&format!("{} exists. Replace it?", output.display()), false)?;
        if !replace {
            bail!(
                "{} exists; nothing written (use --force to replace it)",
                output.display()
            );
        }
    }

    // Asked once the answers are known to make a valid configuration. Enrolling TOTP happens
    // during that sign-in, so asking for it is asking for the sign-in too.
    let mut login = (args.login || args.enrol_totp).then_some(true);
    let mut enrol = args.enrol_totp;
    // Set once Cognito holds a new authenticator whose seed only `answers` has.
    let mut enrolled = false;
    loop {
        // Validated with the new secret inline: its file is written only once everything checks
        // out.
        let mut candidate = render(&answers, &secret_file);
        if let Some(secret) = &shared_secret {
            let global = &mut candidate["global"];
            global
                .as_object_mut()
                .expect("render makes global an object")
                .remove("auth_secret_file");
            global["auth_secret"] = json!(secret.expose());
        }
        let config = validate(&candidate, &output);
        zeroize_json(&mut candidate);
        let config = config?;
        let wanted = match login {
            Some(wanted) => wanted,
            None => *login
                .insert(interactive && yes_no("Sign in once now to check these settings?", true)?),
        };
        if !wanted {
            break;
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let enrolment =
            enrol.then(|| Arc::new(totp_enrolment(interactive, &answers.username, &output)));
        let result = runtime.block_on(crate::check::sign_in_once_enrolling(
            &config,
            enrolment.clone(),
        ));
        if let Some(seed) = enrolment.as_ref().and_then(|e| e.seed()) {
            // From here on the user's authenticator is the new one: keep its seed, whatever
            // happens next.
            answers.totp_secret = Some(seed);
            enrol = false;
            enrolled = true;
            if let Err(err) = &result {
                save(
                    &answers,
                    &output,
                    &secret_file,
                    shared_secret.as_ref(),
                    enrolled,
                    interactive,
                )?;
                bail!(
                    "the TOTP authenticator was enrolled, then the sign-in failed: {err}; the \
                     configuration was written anyway, so the new authenticator's seed is not \
                     lost: fix the cause, then check with cognitod check -c {} --login",
                    output.display()
                );
            }
        }
        match result {
            Ok(summary) => {
                println!("{summary}");
                break;
            }
            Err(err) => after_failed_sign_in(err, interactive, &mut enrol, &mut answers)?,
        }
    }

    save(
        &answers,
        &output,
        &secret_file,
        shared_secret.as_ref(),
        enrolled,
        interactive,
    )?;

    if let (true, false, Some(missing)) = (interactive, args.install, &port_missing) {
        println!(
            "not offering to install: {missing}; `cognitod install --instance NAME -s \
             TRANSPORTS --enable` with that flag installs it"
        );
    }
    let install = args.install
        || (interactive
            && port_missing.is_none()
            && yes_no(
                "Install and start the systemd units now (cognitod install --enable)?",
                false,
            )?);
    if install {
        return crate::install::run(&install_args(args, &answers, &output, &secret_file));
    }
    Ok(ExitCode::SUCCESS)
}

/// What follows a failed sign-in: on a terminal, the answer that was wrong is asked again (the
/// password, a seed, a code) or TOTP enrolment offered, and the sign-in is tried again (`Ok`);
/// otherwise, or when the person gives up, the error that ends configure, nothing written.
fn after_failed_sign_in(
    err: UpstreamError,
    interactive: bool,
    enrol: &mut bool,
    answers: &mut Answers,
) -> anyhow::Result<()> {
    let challenge = match &err {
        UpstreamError::ChallengeRequired { challenge, .. } => challenge.as_str(),
        _ => "",
    };
    if challenge == "MFA_SETUP" && !*enrol {
        println!(
            "The user pool requires MFA and {} has none yet.",
            answers.username
        );
        if interactive
            && yes_no(
                "Enrol a TOTP authenticator now? (cognitod keeps its seed in the \
                 configuration and makes the codes itself; you can add it to an \
                 authenticator app too)",
                true,
            )?
        {
            *enrol = true;
            return Ok(());
        }
        bail!(
            "sign-in needs MFA set up, nothing written: run cognitod configure again with \
             --enrol-totp to enrol a TOTP authenticator whose seed is stored in the \
             configuration, or use a user or pool without required MFA"
        );
    }
    if matches!(challenge, "SOFTWARE_TOKEN_MFA" | "SELECT_MFA_TYPE") {
        let already = has_totp_message(&answers.username, *enrol);
        if !interactive {
            bail!("{already}; nothing written");
        }
        println!("{already}");
        match choose(
            "What now?",
            &[
                "type the present authenticator's seed (base32, hidden)",
                "enrol a new authenticator (replaces the present one; asks one code of it)",
                "stop, writing nothing",
            ],
            0,
        )? {
            0 => answers.totp_secret = Some(ask_seed()?),
            1 => *enrol = true,
            _ => bail!("stopped, nothing written"),
        }
        return Ok(());
    }
    if !interactive {
        bail!("sign-in failed, nothing written: {err}");
    }
    println!("sign-in failed: {err}");
    let mfa_code = matches!(&err, UpstreamError::Refused { code, .. }
        if code == "CodeMismatchException" || code == "EnableSoftwareTokenMFAException");
    if mfa_code && !*enrol && answers.totp_secret.is_some() {
        // The seed given does not make the user's codes (or the clock is off).
        if !yes_no("Type the seed again?", true)? {
            bail!("sign-in failed, nothing written: {err}");
        }
        answers.totp_secret = Some(ask_seed()?);
        return Ok(());
    }
    if mfa_code {
        // A mistyped code, or a clock off by more than a step.
        if !yes_no("Try again?", true)? {
            bail!("sign-in failed, nothing written: {err}");
        }
        return Ok(());
    }
    // A mistyped password is the usual cause: offer to type it again rather than answering
    // every question anew.
    if !yes_no("Type the password again?", true)? {
        bail!("sign-in failed, nothing written: {err}");
    }
    answers.password = Secret::new(
        Password::new()
            .with_prompt("Password (hidden)")
            .interact()?,
    );
    Ok(())
}

/// Refuses, naming the file, the cause and `fix`, a file configure could not write.
fn check_writable(path: &Path, what: &str, fix: &str) -> anyhow::Result<()> {
    crate::secret::check_writable(path).map_err(|err| {
        anyhow::anyhow!(
            "cannot write the {what} {}: {err}; nothing was asked of Cognito: {fix}",
            path.display()
        )
    })
}

/// Writes the configuration (and the shared secret's file). Should that fail once a new TOTP
/// authenticator is enrolled, the seed is nowhere else, and Cognito accepts no other: the whole
/// configuration is then kept in a private file of the person's own, the otpauth URI shown again
/// on a terminal, and the error says where the seed is and what to do.
fn save(
    answers: &Answers,
    output: &Path,
    secret_file: &Path,
    shared_secret: Option<&Secret>,
    enrolled: bool,
    interactive: bool,
) -> anyhow::Result<()> {
    let failed = match write_configuration(answers, output, secret_file, shared_secret) {
        Ok(()) => return Ok(()),
        Err(failed) if !enrolled => return Err(failed.cause),
        Err(failed) => failed,
    };
    let cause = format!("{:#}", failed.cause);
    let mut document = render(answers, secret_file);
    if let (Some(secret), false) = (shared_secret, failed.secret_file_written) {
        // Its own file was not written either: the secret goes inline, as validate has it.
        let global = &mut document["global"];
        global
            .as_object_mut()
            .expect("render makes global an object")
            .remove("auth_secret_file");
        global["auth_secret"] = json!(secret.expose());
    }
    let text = serde_json::to_string_pretty(&document).expect("a JSON value serializes") + "\n";
    let text = zeroize::Zeroizing::new(text);
    zeroize_json(&mut document);
    let kept = keep_aside(&text);
    // The URI only on the person's terminal: standard error may be a log.
    if interactive && std::io::stderr().is_terminal() {
        show_uri_again(answers);
    }
    let user = &answers.username;
    match kept {
        Some(kept) => bail!(
            "could not write {output}: {cause}. A new TOTP authenticator was enrolled for \
             {user}, and Cognito now accepts only its codes: the whole configuration, with its \
             seed (cognito.totp_secret), is kept in {kept} (mode 0600) instead. Put it in \
             place as a user who may write there (sudo install -m 600 {kept} {output}, then rm \
             {kept}), or use it where it is (cognitod serve -c {kept})",
            output = output.display(),
            kept = kept.display(),
        ),
        None => bail!(
            "could not write {output}: {cause}. A new TOTP authenticator was enrolled for \
             {user}, and no private file could be written in the home or the current directory \
             to keep its seed: {what}",
            output = output.display(),
            what = if interactive && std::io::stderr().is_terminal() {
                "add the otpauth URI shown above to an authenticator app, or save its secret \
                 in a 0600 file, then run cognitod configure again with --totp-secret-file FILE \
                 and -o a file you can write"
            } else {
                "the seed is lost: have an administrator remove the user's TOTP (aws \
                 cognito-idp admin-set-user-mfa-preference --software-token-mfa-settings \
                 Enabled=false ...), then run cognitod configure --enrol-totp again with -o a \
                 file you can write"
            }
        ),
    }
}

/// Keeps a configuration that could not be written where it belongs in a new 0600 file of the
/// invoking user's: in the home directory, else the current one, else the temporary one (the
/// file is private wherever it is). `None` when none of them takes it.
fn keep_aside(text: &str) -> Option<PathBuf> {
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from);
    let places = home
        .into_iter()
        .chain(std::env::current_dir().ok())
        .chain([std::env::temp_dir()]);
    places.into_iter().find_map(|dir| {
        crate::secret::write_private_new(&dir, "cognitod-config-with-new-totp-seed-", ".json", text)
            .ok()
            .map(|path| absolute(&path))
    })
}

/// The otpauth URI of the enrolled seed, on the person's terminal, once more: the file it was
/// meant for was not written.
fn show_uri_again(answers: &Answers) {
    let Some(seed) = &answers.totp_secret else {
        return;
    };
    let issuer = format!("Cognito {}", answers.user_pool_id);
    if let Ok(uri) = crate::cognito::totp::otpauth_uri(seed, &answers.username, &issuer) {
        eprintln!(
            "\nThe new TOTP authenticator's URI, once more (it holds the seed: keep it \
             private):\n\n  {}\n",
            uri.expose()
        );
    }
}

/// Why [`write_configuration`] failed, and whether the shared secret's file was written first.
struct WriteFailed {
    cause: anyhow::Error,
    secret_file_written: bool,
}

/// Writes the shared secret's file, when one was generated, and the configuration, both 0600.
fn write_configuration(
    answers: &Answers,
    output: &Path,
    secret_file: &Path,
    shared_secret: Option<&Secret>,
) -> Result<(), WriteFailed> {
    let failed = |secret_file_written| {
        move |cause| WriteFailed {
            cause,
            secret_file_written,
        }
    };
    if let Some(secret) = shared_secret {
        // No newline: the SDKs send a token file verbatim and refuse one, and the raw protocol
        // answers as soon as the secret's bytes are in, so `nc -U sock < file` works too.
        write_private(secret_file, secret.expose()).map_err(failed(false))?;
        println!(
            "wrote a new shared secret to {} (mode 0600); clients send it: cognitod get \
             --secret-file FILE, nc -U SOCKET < FILE, AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=FILE",
            secret_file.display()
        );
    }
    let mut document = render(answers, secret_file);
    let text = serde_json::to_string_pretty(&document).expect("a JSON value serializes") + "\n";
    let text = zeroize::Zeroizing::new(text);
    zeroize_json(&mut document);
    write_private(output, &text).map_err(failed(shared_secret.is_some()))?;
    println!("wrote {} (mode 0600)", output.display());
    Ok(())
}

/// The enrolment configure runs: on a terminal it shows the new seed as an otpauth URI (the
/// only place the seed is ever shown) and can ask for a code of the user's present
/// authenticator; without one it says where the seed goes, and asks nothing.
fn totp_enrolment(interactive: bool, username: &str, output: &Path) -> Enrolment {
    let user = username.to_owned();
    let written = output.display().to_string();
    // Where dialoguer asks its questions: the person's terminal even when stdout is redirected.
    let on_terminal = interactive && std::io::stderr().is_terminal();
    let show = move |uri: &Secret| {
        if on_terminal {
            eprintln!(
                "\nNew TOTP authenticator for {user}, accepted by Cognito. cognitod makes the \
                 codes itself; to have them in an authenticator app as well, add this URI to it \
                 (paste it, or scan a QR code of it: qrencode -t ansiutf8 reads it from standard \
                 input, which keeps it out of the shell's history). It holds the seed: keep it \
                 private.\n\n  {}\n\nThe seed goes into {written} as cognito.totp_secret \
                 (mode 0600), beside the password.\n",
                uri.expose()
            );
        } else {
            println!(
                "enrolled a new TOTP authenticator for {user}: its seed is written to \
                 {written} as cognito.totp_secret (mode 0600) and shown nowhere (run cognitod \
                 configure on a terminal to be shown it as an otpauth:// URI for an \
                 authenticator app)"
            );
        }
    };
    let ask_code: Option<Box<dyn Fn() -> Option<String> + Send + Sync>> = interactive.then(|| {
        Box::new(|| {
            Input::<String>::new()
                .with_prompt("A current code of the user's present authenticator app (6 digits)")
                .validate_with(|code: &String| {
                    if code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()) {
                        Ok(())
                    } else {
                        Err("six digits")
                    }
                })
                .interact_text()
                .ok()
        }) as Box<dyn Fn() -> Option<String> + Send + Sync>
    });
    Enrolment::new(show, ask_code)
}

/// Why configure cannot go on by itself for a user who already has TOTP and no seed is given.
fn has_totp_message(username: &str, enrolling: bool) -> String {
    let present = format!(
        "{username} already has a TOTP authenticator, and Cognito never hands out the seed of \
         one, so configure cannot read it"
    );
    if enrolling {
        format!(
            "{present}; enrolling a new one needs one sign-in with a current code of the \
             present one, which a person types: run cognitod configure --enrol-totp on a \
             terminal, give the present seed with --totp-secret-file, or have an administrator \
             remove the user's TOTP (aws cognito-idp admin-set-user-mfa-preference \
             --software-token-mfa-settings Enabled=false ...) and run this again"
        )
    } else {
        format!(
            "{present}: give its seed with --totp-secret-file (or COGNITO_TOTP_SECRET), or \
             enrol a new one with --enrol-totp, which replaces the present one (on a terminal; \
             one current code of the present one is asked)"
        )
    }
}

/// The seed of the user's present authenticator, typed hidden and checked as base32.
fn ask_seed() -> anyhow::Result<Secret> {
    let text = Password::new()
        .with_prompt("TOTP seed (base32, hidden)")
        .validate_with(|text: &String| {
            crate::cognito::totp::Totp::new(&Secret::new(text.clone()))
                .map(drop)
                .map_err(|e| e.to_string())
        })
        .interact()?;
    Ok(Secret::new(text))
}

/// The matching `cognitod install` flags.
fn install_args(
    args: &ConfigureArgs,
    answers: &Answers,
    output: &Path,
    secret_file: &Path,
) -> InstallArgs {
    InstallArgs {
        server_name: crate::install::DEFAULT_NAME.into(),
        install_dir: args.install_dir.clone(),
        server_type: answers.transports.clone(),
        owner: OwnerArgs {
            user: answers.socket_user.clone(),
            group: answers.socket_group.clone(),
        },
        permissions: answers.permissions.clone(),
        socket_path: answers.socket_path.clone(),
        // With an instance, install finds its configuration by its name (it is `output`).
        config_file: absolute(output),
        instance: args.instance.clone(),
        auth_secret_file: (answers.shared_secret == SharedSecretChoice::Generate)
            .then(|| absolute(secret_file)),
        allow_no_secret: answers.allow_no_secret,
        tcp: args.tcp.clone(),
        enable: true,
        ..InstallArgs::default()
    }
}

/// Why an instance's tcp or http socket cannot be installed with these flags: without a port
/// of its own it would get the template's, which `cognitod-tcp.socket`/`cognitod-http.socket`
/// and every other instance have too. `None` when there is no instance, no such socket, or a
/// port for each.
fn instance_port_missing(args: &ConfigureArgs, transports: &[Transport]) -> Option<String> {
    let instance = args.instance.as_ref()?;
    let tcp = &args.tcp;
    [
        (Transport::Tcp, "--tcp-port", tcp.tcp_port.or(tcp.port)),
        (Transport::Http, "--http-port", tcp.http_port.or(tcp.port)),
    ]
    .into_iter()
    .find(|(transport, _, port)| transports.contains(transport) && port.is_none())
    .map(|(transport, flag, _)| {
        format!(
            "--instance {instance} with {transport}: give its {transport} socket a port of its \
             own with {flag} PORT (or -P PORT); the template's is cognitod-{transport}.socket's \
             and every other instance's"
        )
    })
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// A yes/no question answered with y or n and Enter: a key alone does not answer it, so the
/// Enter that follows cannot answer the next question too.
fn yes_no(prompt: &str, default: bool) -> anyhow::Result<bool> {
    Ok(Confirm::new()
        .with_prompt(prompt)
        .default(default)
        .wait_for_newline(true)
        .interact()?)
}

/// The original tool's JSON layout: `global`, `server`, `cognito`.
fn render(a: &Answers, shared_secret_file: &Path) -> Value {
    let mut global = Map::new();
    global.insert(
        "server_type".into(),
        json!(a.transports.iter().map(|t| t.as_str()).collect::<Vec<_>>()),
    );
    global.insert(
        "credential_type".into(),
        json!(match a.credential_type {
            CredentialType::Iam => "iam",
            CredentialType::Tokens => "tokens",
        }),
    );
    if let Some(user) = &a.socket_user {
        global.insert("user".into(), json!(user));
    }
    if let Some(group) = &a.socket_group {
        global.insert("group".into(), json!(group));
    }
    if a.shared_secret == SharedSecretChoice::Generate {
        global.insert(
            "auth_secret_file".into(),
            json!(absolute(shared_secret_file).display().to_string()),
        );
    } else if a.allow_no_secret {
        global.insert("allow_no_secret".into(), json!(true));
    }
    let mut server = Map::new();
    server.insert("permissions".into(), json!(a.permissions));
    if let Some(path) = &a.socket_path {
        server.insert("socket_path".into(), json!(path.display().to_string()));
    }
    let mut cognito = Map::new();
    cognito.insert("username".into(), json!(a.username));
    cognito.insert("password".into(), json!(a.password.expose()));
    cognito.insert("app_id".into(), json!(a.app_id));
    if let Some(seed) = &a.totp_secret {
        cognito.insert("totp_secret".into(), json!(seed.expose()));
    }
    if let Some(secret) = &a.client_secret {
        cognito.insert("client_secret".into(), json!(secret.expose()));
    }
    cognito.insert("user_pool_id".into(), json!(a.user_pool_id));
    if let Some(id) = &a.identity_pool_id {
        cognito.insert("identity_pool_id".into(), json!(id));
    }
    cognito.insert("region".into(), json!(a.region));
    if let Some(arn) = &a.role_arn {
        cognito.insert("role_arn".into(), json!(arn));
    }
    cognito.insert("auth_type".into(), json!(a.auth_type));
    cognito.insert("auth_flow".into(), json!(a.auth_flow));
    json!({ "global": global, "server": server, "cognito": cognito })
}

/// Runs the finished document through the configuration loader (from a private temporary file),
/// so what configure writes is exactly what serve accepts. An error names `output`, the file the
/// user asked for, not the temporary one they never saw.
fn validate(document: &Value, output: &Path) -> anyhow::Result<config::Config> {
    let dir = tempfile::Builder::new()
        .prefix("cognitod-configure-")
        .tempdir()?;
    let path = dir.path().join("config.json");
    write_private(&path, &zeroize::Zeroizing::new(document.to_string()))?;
    let args = ServeArgs {
        config_file: Some(path.clone()),
        ..ServeArgs::default()
    };
    config::load(
        &args,
        &Environment::from_pairs(Vec::<(String, String)>::new()),
    )
    .map_err(|e| {
        anyhow::anyhow!(
            "the answers do not make a valid configuration: {}",
            e.to_string()
                .replace(&path.display().to_string(), &output.display().to_string())
        )
    })
}

fn read_secret_file(path: &Path, what: &str) -> anyhow::Result<Secret> {
    match crate::secret::read_file(path, crate::secret::Readers::OwnerOnly) {
        Ok(secret) => Ok(secret),
        Err(SecretFileError::Empty) => bail!("{}: the {what} file is empty", path.display()),
        Err(err) => Err(err).with_context(|| format!("reading the {what} from {}", path.display())),
    }
}

fn checked(question: Question, value: Option<&String>) -> anyhow::Result<Option<String>> {
    if let Some(v) = value {
        check_answer(question, v)?;
    }
    Ok(value.cloned())
}

/// Answers from flags alone; lists every missing required one at once.
fn from_flags(args: &ConfigureArgs) -> anyhow::Result<Answers> {
    let credential_type = args.credential_type.unwrap_or(CredentialType::Iam);
    let password = match &args.password_file {
        Some(path) => Some(read_secret_file(path, "password")?),
        None => std::env::var("COGNITO_PASSWORD")
            .ok()
            .filter(|p| !p.is_empty())
            .map(Secret::new),
    };
    let client_secret = match &args.client_secret_file {
        Some(path) => Some(read_secret_file(path, "client secret")?),
        None => std::env::var("COGNITO_CLIENT_SECRET")
            .ok()
            .filter(|p| !p.is_empty())
            .map(Secret::new),
    };
    let totp_secret = match &args.totp_secret_file {
        Some(path) => Some(read_secret_file(path, "TOTP seed")?),
        None => std::env::var("COGNITO_TOTP_SECRET")
            .ok()
            .filter(|p| !p.is_empty() && !args.enrol_totp)
            .map(Secret::new),
    };
    let mut missing = Vec::new();
    if args.username.is_none() {
        missing.push("--username");
    }
    if password.is_none() {
        missing.push("--password-file (or COGNITO_PASSWORD)");
    }
    if args.app_id.is_none() {
        missing.push("--app-id");
    }
    if args.user_pool_id.is_none() {
        missing.push("--user-pool-id");
    }
    if credential_type == CredentialType::Iam && args.identity_pool_id.is_none() {
        missing.push("--identity-pool-id (IAM credentials need an identity pool)");
    }
    if !missing.is_empty() {
        bail!("--non-interactive needs: {}", missing.join(", "));
    }
    let user_pool_id =
        checked(Question::UserPoolId, args.user_pool_id.as_ref())?.unwrap_or_default();
    let region = match checked(Question::Region, args.region.as_ref())? {
        Some(region) => region,
        None => pool_region(&user_pool_id),
    };
    if let Some(p) = &args.permissions {
        check_answer(Question::Permissions, p)?;
    }
    let transports = if args.server_type.is_empty() {
        vec![Transport::Unix]
    } else {
        args.server_type.clone()
    };
    Ok(Answers {
        credential_type,
        region,
        user_pool_id,
        app_id: checked(Question::Required("--app-id"), args.app_id.as_ref())?.unwrap_or_default(),
        client_secret,
        identity_pool_id: checked(Question::IdentityPoolId, args.identity_pool_id.as_ref())?,
        role_arn: checked(Question::RoleArn, args.role_arn.as_ref())?,
        auth_flow: args.auth_flow.clone().unwrap_or_else(|| "enhanced".into()),
        username: checked(Question::Required("--username"), args.username.as_ref())?
            .unwrap_or_default(),
        password: password.expect("checked above"),
        totp_secret,
        auth_type: args.auth_type.clone().unwrap_or_else(|| "user_srp".into()),
        shared_secret: secret_choice(args, &transports)?,
        allow_no_secret: args.allow_no_secret,
        socket_user: checked(Question::SocketUser, args.owner.user.as_ref())?,
        socket_group: checked(Question::SocketGroup, args.owner.group.as_ref())?,
        permissions: args.permissions.clone().unwrap_or_else(|| "0660".into()),
        socket_path: args.socket_path.clone(),
        transports,
    })
}

/// Whether tcp or http is among the transports: they need a shared secret (or the opt-in).
fn network_transport(transports: &[Transport]) -> bool {
    transports
        .iter()
        .any(|t| matches!(t, Transport::Tcp | Transport::Http))
}

/// The shared-secret answer from the flags: given, or generated whenever tcp or http is chosen
/// (without one they refuse credentials); `none` with tcp or http needs `--allow-no-secret`.
fn secret_choice(
    args: &ConfigureArgs,
    transports: &[Transport],
) -> anyhow::Result<SharedSecretChoice> {
    let network = network_transport(transports);
    match args.shared_secret {
        Some(SharedSecretChoice::None) if network && !args.allow_no_secret => bail!(
            "--shared-secret none with tcp or http: without a secret any local process, or a \
             request forged through a local application, gets the credentials; drop \
             --shared-secret (one is generated), or add --allow-no-secret to accept that"
        ),
        Some(choice) => Ok(choice),
        None if network && !args.allow_no_secret => Ok(SharedSecretChoice::Generate),
        None => Ok(SharedSecretChoice::None),
    }
}

fn pool_region(user_pool_id: &str) -> String {
    user_pool_id
        .split_once('_')
        .map_or("", |(r, _)| r)
        .to_owned()
}

/// A text question, checked as it is typed; skipped when its flag gave the answer.
fn ask_text(
    prompt: &str,
    given: Option<&String>,
    default: Option<&str>,
    question: Question,
) -> anyhow::Result<String> {
    if let Some(value) = given {
        check_answer(question, value)?;
        return Ok(value.clone());
    }
    let mut input = Input::<String>::new().with_prompt(prompt);
    if let Some(default) = default {
        input = input.default(default.to_owned());
    }
    Ok(input
        .validate_with(move |text: &String| check_answer(question, text).map_err(|e| e.to_string()))
        .interact_text()?)
}

/// An optional text question: empty means none.
fn ask_optional(
    prompt: &str,
    given: Option<&String>,
    question: Question,
) -> anyhow::Result<Option<String>> {
    if let Some(value) = given {
        check_answer(question, value)?;
        return Ok(Some(value.clone()));
    }
    let text: String = Input::new()
        .with_prompt(format!("{prompt} (empty for none)"))
        .allow_empty(true)
        .validate_with(move |text: &String| {
            if text.is_empty() {
                Ok(())
            } else {
                check_answer(question, text).map_err(|e| e.to_string())
            }
        })
        .interact_text()?;
    Ok((!text.is_empty()).then_some(text))
}

fn choose(prompt: &str, items: &[&str], default: usize) -> anyhow::Result<usize> {
    Ok(Select::new()
        .with_prompt(prompt)
        .items(items)
        .default(default)
        .interact()?)
}

/// Asks what the flags did not answer.
fn ask(args: &ConfigureArgs) -> anyhow::Result<Answers> {
    let transports = if args.server_type.is_empty() {
        let text: String = Input::new()
            .with_prompt("Transports, comma separated (unix, tcp, http)")
            .default("unix".into())
            .validate_with(|text: &String| parse_transports(text).map(drop))
            .interact_text()?;
        parse_transports(&text).map_err(anyhow::Error::msg)?
    } else {
        args.server_type.clone()
    };
    let credential_type = match args.credential_type {
        Some(t) => t,
        None => match choose(
            "Hand out",
            &["IAM credentials (identity pool)", "Cognito tokens"],
            0,
        )? {
            0 => CredentialType::Iam,
            _ => CredentialType::Tokens,
        },
    };
    let user_pool_id = ask_text(
        "User pool id (region_id)",
        args.user_pool_id.as_ref(),
        None,
        Question::UserPoolId,
    )?;
    let region = ask_text(
        "Region",
        args.region.as_ref(),
        Some(&pool_region(&user_pool_id)),
        Question::Region,
    )?;
    let app_id = ask_text(
        "App client id",
        args.app_id.as_ref(),
        None,
        Question::Required("--app-id"),
    )?;
    let client_secret = match &args.client_secret_file {
        Some(path) => Some(read_secret_file(path, "client secret")?),
        None => {
            if yes_no("Does the app client have a client secret?", false)? {
                Some(Secret::new(
                    Password::new()
                        .with_prompt("App client secret (hidden)")
                        .interact()?,
                ))
            } else {
                None
            }
        }
    };
    let (identity_pool_id, role_arn, auth_flow) = if credential_type == CredentialType::Iam {
        let id = ask_text(
            "Identity pool id (region:uuid)",
            args.identity_pool_id.as_ref(),
            None,
            Question::IdentityPoolId,
        )?;
        let role = ask_optional(
            "Role ARN to ask for",
            args.role_arn.as_ref(),
            Question::RoleArn,
        )?;
        let flow = match &args.auth_flow {
            Some(flow) => flow.clone(),
            None if role.is_some() => ["enhanced", "classic"]
                [choose("Identity pool flow", &["enhanced", "classic"], 0)?]
            .into(),
            None => "enhanced".into(),
        };
        (Some(id), role, flow)
    } else {
        (None, None, "enhanced".into())
    };
    let username = ask_text(
        "Username",
        args.username.as_ref(),
        None,
        Question::Required("--username"),
    )?;
    let password = match &args.password_file {
        Some(path) => read_secret_file(path, "password")?,
        None => Secret::new(
            Password::new()
                .with_prompt("Password (hidden)")
                .interact()?,
        ),
    };
    let totp_secret = match &args.totp_secret_file {
        Some(path) => Some(read_secret_file(path, "TOTP seed")?),
        None => None,
    };
    let auth_type = match &args.auth_type {
        Some(t) => t.clone(),
        None => ["user_srp", "user_password"][choose(
            "Sign-in flow",
            &[
                "SRP (the password never leaves this machine)",
                "plain password over TLS",
            ],
            0,
        )?]
        .into(),
    };
    let shared_secret = match args.shared_secret {
        _ if network_transport(&transports) => {
            let choice = secret_choice(args, &transports)?;
            if choice == SharedSecretChoice::Generate {
                println!(
                    "tcp and http need a shared secret (anything that can make a local request \
                     could otherwise take the credentials): one will be generated"
                );
            }
            choice
        }
        Some(choice) => choice,
        None => match choose(
            "Require clients to send a shared secret?",
            &[
                "no: access to the socket is access to the credentials",
                "yes: generate one and store it in its own 0600 file",
            ],
            0,
        )? {
            0 => SharedSecretChoice::None,
            _ => SharedSecretChoice::Generate,
        },
    };
    let (socket_user, socket_group, permissions, socket_path) =
        if transports.contains(&Transport::Unix) {
            let user = ask_optional(
                "Socket owner (user name or uid)",
                args.owner.user.as_ref(),
                Question::SocketUser,
            )?;
            let group = ask_optional(
                "Socket group (who may read credentials)",
                args.owner.group.as_ref(),
                Question::SocketGroup,
            )?;
            let mode = ask_text(
                "Socket mode",
                args.permissions.as_ref(),
                Some("0660"),
                Question::Permissions,
            )?;
            let path = args.socket_path.clone();
            (user, group, mode, path)
        } else {
            (None, None, "0660".into(), None)
        };
    Ok(Answers {
        transports,
        credential_type,
        user_pool_id,
        region,
        app_id,
        client_secret,
        identity_pool_id,
        role_arn,
        auth_flow,
        username,
        password,
        totp_secret,
        auth_type,
        shared_secret,
        allow_no_secret: args.allow_no_secret,
        socket_user,
        socket_group,
        permissions,
        socket_path,
    })
}

fn parse_transports(text: &str) -> Result<Vec<Transport>, String> {
    let mut out = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Ok(t) = part.parse() else {
            return Err(format!(
                "{part:?} is not a transport; choose from unix, tcp, http"
            ));
        };
        if !out.contains(&t) {
            out.push(t);
        }
    }
    if out.is_empty() {
        return Err("choose at least one of unix, tcp, http".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transports_parse_and_refuse_unknown_names() {
        assert_eq!(
            parse_transports("unix, http").unwrap(),
            [Transport::Unix, Transport::Http]
        );
        assert!(parse_transports("ftp")
            .unwrap_err()
            .contains("unix, tcp, http"));
        assert!(parse_transports(" , ").is_err());
    }

    fn configure_args(flags: &[&str]) -> ConfigureArgs {
        use clap::Parser;
        let mut argv = vec!["cognitod", "configure", "--non-interactive"];
        argv.extend_from_slice(flags);
        match crate::cli::Cli::try_parse_from(argv).unwrap().command {
            crate::cli::Command::Configure(args) => args,
            other => panic!("{other:?}"),
        }
    }

    fn answers(transports: Vec<Transport>) -> Answers {
        Answers {
            transports,
            credential_type: CredentialType::Iam,
            user_pool_id: "eu-west-1_abc".into(),
            region: "eu-west-1".into(),
            app_id: "app".into(),
            client_secret: None,
            identity_pool_id: None,
            role_arn: None,
            auth_flow: "enhanced".into(),
            username: "alice".into(),
            password: Secret::new("pw".into()),
            totp_secret: None,
            auth_type: "user_srp".into(),
            shared_secret: SharedSecretChoice::Generate,
            allow_no_secret: false,
            socket_user: None,
            socket_group: None,
            permissions: "0660".into(),
            socket_path: None,
        }
    }

    #[test]
    fn an_instance_installed_with_tcp_or_http_needs_a_port_of_its_own() {
        let (unix, tcp, http) = (Transport::Unix, Transport::Tcp, Transport::Http);
        for (flags, transports, names) in [
            (&[][..], vec![unix, tcp], Some("--tcp-port PORT")),
            (&[][..], vec![unix, http], Some("--http-port PORT")),
            (
                &["--tcp-port", "5501"][..],
                vec![unix, tcp, http],
                Some("--http-port"),
            ),
            (&["--tcp-port", "5501"][..], vec![unix, tcp], None),
            (&["-P", "8081"][..], vec![unix, http], None),
            (
                &["--tcp-port", "5501", "--http-port", "8081"][..],
                vec![tcp, http],
                None,
            ),
            (&[][..], vec![unix], None),
        ] {
            let mut argv = vec!["--instance", "alice", "--install"];
            argv.extend_from_slice(flags);
            let missing = instance_port_missing(&configure_args(&argv), &transports);
            match (names, &missing) {
                (Some(flag), Some(said)) => assert!(
                    said.contains(flag) && said.contains("--instance alice"),
                    "{said}"
                ),
                (None, None) => {}
                _ => panic!("{flags:?} {transports:?}: {missing:?}"),
            }
        }
        // The plain service's sockets are its own: no port needed.
        let plain = configure_args(&["--install", "-s", "unix,tcp"]);
        assert_eq!(instance_port_missing(&plain, &[unix, tcp]), None);

        // Refused before a question is asked or a file written.
        let args = configure_args(&["--instance", "alice", "--install", "-s", "unix,http"]);
        let err = format!("{:#}", run(&args).unwrap_err());
        assert!(
            err.contains("--http-port PORT") && err.contains("nothing written"),
            "{err}"
        );
    }

    #[test]
    fn configure_hands_its_ports_to_install() {
        let args = configure_args(&[
            "--instance",
            "alice",
            "--install",
            "-H",
            "127.0.0.1",
            "--tcp-port",
            "5501",
            "--http-port",
            "8081",
        ]);
        let answers = answers(vec![Transport::Unix, Transport::Tcp, Transport::Http]);
        let output = args.instance.as_ref().unwrap().config_path();
        let install = install_args(&args, &answers, &output, Path::new("/etc/cognitod/a"));
        let plan = crate::install::plan_from_args(&install).unwrap();
        assert_eq!((plan.tcp_port, plan.http_port), (5501, 8081));
        assert_eq!(plan.hosts, ["127.0.0.1"]);
        let dropins = crate::install::render_instance(&plan, args.instance.as_ref().unwrap(), None);
        let listen: Vec<_> = dropins
            .iter()
            .filter(|u| u.name.ends_with("listen.conf"))
            .map(|u| u.text.as_str())
            .collect();
        assert_eq!(listen.len(), 2);
        assert!(listen[0].ends_with("ListenStream=\nListenStream=127.0.0.1:5501\n"));
        assert!(listen[1].ends_with("ListenStream=\nListenStream=127.0.0.1:8081\n"));

        // What install would refuse is refused before writing: -P with both tcp and http.
        let both = configure_args(&["--instance", "alice", "--install", "-P", "5501"]);
        let err = crate::install::plan_from_args(&install_args(
            &both,
            &answers,
            &output,
            Path::new("/etc/cognitod/a"),
        ))
        .unwrap_err();
        assert!(err.to_string().contains("ambiguous"), "{err}");
    }
}
