//! `cognitod serve`: configuration, listeners, the credential refresher and the accept loops, wired
//! together; the binary, the tests and (later) socket activation share this one entry point.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use tokio::signal::unix::{signal, SignalKind};
use tracing::{info, warn};

use crate::cli::ServeArgs;
use crate::cognito::{self, auth::UserPool, identity::IdentityPool};
use crate::config::{self, Config, CredentialType, Environment};
use crate::credentials::{self, CognitoUpstream, RefreshPolicy};
use crate::listeners;
use crate::serve;

/// Runs the daemon until SIGTERM or SIGINT.
pub fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    crate::logging::init();
    let config = config::load(&args, &Environment::from_process())?;
    for warning in &config.warnings {
        warn!("{warning}");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(run(config))?;
    Ok(ExitCode::SUCCESS)
}

async fn run(config: Config) -> anyhow::Result<()> {
    info!(
        version = env!("CARGO_PKG_VERSION"),
        "starting with {}",
        config.to_string().replace('\n', "; ")
    );
    let bound = listeners::bind_all(&config.listeners)?;
    let owned_paths: Vec<_> = bound.iter().filter_map(|b| b.owned_path.clone()).collect();

    let settings = Arc::new(config.cognito.clone());
    let sdk = cognito::sdk_config(&settings.region).await;
    let pool = UserPool::new(&sdk, settings.clone());
    let identity = match config.credential_type {
        CredentialType::Iam => Some(IdentityPool::new(&sdk, settings.clone())),
        CredentialType::Tokens => None,
    };
    let (store, refresher) = credentials::start(
        CognitoUpstream::new(pool, identity),
        RefreshPolicy {
            first_attempts: config.retries,
            expose_refresh_token: config.expose_refresh_token,
        },
    );
    let context = Arc::new(serve::Context {
        store,
        secret: config.auth_secret.clone(),
    });
    serve::run(bound, context, stop_requested()).await;
    refresher.abort();
    for path in owned_paths {
        if let Err(e) = std::fs::remove_file(&path) {
            warn!(path = %path.display(), error = %e, "could not remove the socket file");
        }
    }
    info!("stopped");
    Ok(())
}

/// Completes on SIGTERM or SIGINT.
async fn stop_requested() {
    let mut term = signal(SignalKind::terminate()).expect("installing a SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("installing a SIGINT handler");
    let name = tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    };
    info!(signal = name, "stopping: no new connections, finishing those in flight");
}
