//! `cognitod check`: validates a configuration and, with `--login`, signs in once and prints a
//! summary with no secret in it. The exit status tells success.

use std::process::ExitCode;
use std::sync::Arc;

use crate::cli::CheckArgs;
use crate::cognito::auth::{Enrolment, UserPool};
use crate::cognito::{self, identity::IdentityPool, UpstreamError};
use crate::config::{self, Config, CredentialType, Environment};
use crate::credentials::{CognitoUpstream, Material, Upstream};

/// `cognitod check`.
pub fn run(args: &CheckArgs) -> anyhow::Result<ExitCode> {
    let config = config::load(&args.serve, &Environment::from_process())?;
    // Valid as a configuration, but serve would fail at once (unless systemd passes the sockets).
    let socket_dir = crate::daemon::socket_directory_problem(&config.listeners);
    if let Some(problem) = socket_dir.as_ref().filter(|p| p.for_everyone) {
        eprintln!("cognitod: {}", problem.message);
        return Ok(ExitCode::FAILURE);
    }
    println!("configuration is valid\n{config}");
    // Only this user cannot create the socket: the service's user may (or systemd does).
    if let Some(problem) = socket_dir {
        println!("warning: {}", problem.message);
    }
    for warning in &config.warnings {
        println!("warning: {warning}");
    }
    if args.login {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        match runtime.block_on(sign_in_once(&config)) {
            Ok(summary) => println!("{summary}"),
            Err(err) => {
                eprintln!("cognitod: sign-in failed: {err}");
                return Ok(ExitCode::FAILURE);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Signs in once as the daemon would and describes the result: who, which pools, and when what
/// was obtained expires. Nothing secret is in it.
pub(crate) async fn sign_in_once(config: &Config) -> Result<String, UpstreamError> {
    sign_in_once_enrolling(config, None).await
}

/// `sign_in_once`, enrolling TOTP along the way when `enrolment` is given (configure): by
/// answering MFA_SETUP, or, when the sign-in needed no set-up, with the tokens it gave. The new
/// seed is then in the enrolment. The tokens of that sign-in go on to the identity pool: a
/// second sign-in would need a TOTP code, and the code of this 30 s step may not be used twice.
pub(crate) async fn sign_in_once_enrolling(
    config: &Config,
    enrolment: Option<Arc<Enrolment>>,
) -> Result<String, UpstreamError> {
    let settings = Arc::new(config.cognito.clone());
    let sdk = cognito::sdk(&settings.region).await;
    let identity = match config.credential_type {
        CredentialType::Iam => Some(IdentityPool::new(&sdk, settings.clone())),
        CredentialType::Tokens => None,
    };
    let mut pool = UserPool::new(&sdk, settings.clone());
    let mut upstream = match enrolment {
        Some(enrolment) => {
            pool = pool.with_enrolment(enrolment.clone());
            let tokens = pool.sign_in().await?;
            if enrolment.seed().is_none() {
                pool.enrol_totp(&tokens).await?;
            }
            CognitoUpstream::new(pool, identity).with_tokens(tokens)
        }
        None => CognitoUpstream::new(pool, identity),
    };
    let material = upstream.obtain().await?;
    let who = format!(
        "signed in as {} to user pool {} (region {})",
        settings.username, settings.user_pool_id, settings.region
    );
    Ok(match material {
        Material::Iam(credentials) => format!(
            "{who}\nidentity pool {} gave IAM credentials (access key {}…) valid until {}",
            settings.identity_pool_id.as_deref().unwrap_or("?"),
            credentials
                .access_key_id
                .chars()
                .take(8)
                .collect::<String>(),
            credentials.expiry.rfc3339()
        ),
        Material::Tokens(tokens) => {
            format!("{who}\ntokens valid until {}", tokens.expiry.rfc3339())
        }
    })
}
