//! `cognitod serve`: configuration, listeners (systemd's or its own), the credential refresher,
//! the accept loops, and the service-manager conversation (readiness, status, reload, watchdog,
//! stop), wired together.

use std::os::fd::OwnedFd;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{error, info, warn};

use crate::activation;
use crate::cli::ServeArgs;
use crate::cognito::{self, auth::UserPool, identity::IdentityPool};
use crate::config::{self, Config, CredentialType, Environment, ListenerConfig, PeerPolicy};
use crate::credentials::{self, CognitoUpstream, RefreshPolicy};
use crate::fd_state::{self, StateKeeper};
use crate::listeners::{self, Bound};
use crate::notify;
use crate::secret::SharedSecret;
use crate::serve::guard::HttpPolicy;
use crate::serve::imds::Imds;
use crate::serve::{self, Context};
use crate::transport::Transport;

/// How long a reload waits for the new configuration's first sign-in before switching anyway.
const RELOAD_SIGN_IN_WAIT: Duration = Duration::from_secs(10);

/// Runs the daemon until SIGTERM or SIGINT.
pub fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    // First, while the process has a single thread: take systemd's sockets and clear LISTEN_*.
    let activated = activation::take_from_environment()?;
    // The secrets in the environment block are overwritten through /proc/self/mem, which an
    // undumpable process that is not root cannot open: dumpable again for that one open (one
    // thread, no secret read yet), and only now that systemd's descriptors are taken, so that
    // this one cannot take a number LISTEN_FDS promised.
    let _ = nix::sys::prctl::set_dumpable(true);
    crate::secret::open_own_memory();
    let _ = nix::sys::prctl::set_dumpable(false);
    let destination = crate::logging::init();
    // The process holds passwords and credentials: no core dumps of it, and no ptrace attach by
    // other processes of the same user (only root can still look). main() set it first thing.
    if nix::sys::prctl::get_dumpable().unwrap_or(true) {
        warn!("could not mark the process undumpable: core dumps and ptrace by this user are possible");
    }
    raise_descriptor_limit();
    lock_memory();
    let env = Environment::from_process();
    let config = match config::load(&args, &env) {
        Ok(config) => config,
        Err(e) => {
            notify::status(&format!("configuration error: {e}"));
            return Err(e.into());
        }
    };
    info!(logging_to = ?destination, "cognitod {} starting", env!("CARGO_PKG_VERSION"));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(run(args, env, config, activated))?;
    Ok(ExitCode::SUCCESS)
}

/// Raises the soft limit on open files to the hard limit, as many servers do: the common soft
/// limit of 1,024 is what a few hundred idle connections on the tcp or http port, which every
/// local user can reach, would exhaust (the connection caps are then sized from what is there,
/// see serve::connection_cap).
fn raise_descriptor_limit() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) if soft < hard => match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
            Ok(()) => info!(from = soft, to = hard, "raised the limit on open files"),
            Err(e) => warn!(soft, hard, error = %e, "could not raise the limit on open files"),
        },
        Ok(_) => {}
        Err(e) => warn!(error = %e, "could not read the limit on open files"),
    }
}

/// Keeps the process's memory, where the passwords, tokens and credentials live, out of swap:
/// every page is locked as it is first touched (MCL_ONFAULT: nothing is faulted in for it, so
/// memory use does not change). Only where locking cannot run out: with CAP_IPC_LOCK (root,
/// usually) or no RLIMIT_MEMLOCK; under a finite limit, locking future mappings would make
/// allocations fail once the daemon outgrew it. Otherwise the log says how to get it.
fn lock_memory() {
    use nix::sys::mman::{mlockall, MlockAllFlags};
    use nix::sys::resource::{getrlimit, Resource, RLIM_INFINITY};
    /// CAP_IPC_LOCK's bit in the capability sets (linux/capability.h).
    const CAP_IPC_LOCK: u32 = 14;
    let capable = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let hex = status.lines().find_map(|l| l.strip_prefix("CapEff:"))?;
            u64::from_str_radix(hex.trim(), 16).ok()
        })
        .is_some_and(|effective| effective & (1 << CAP_IPC_LOCK) != 0);
    let unlimited =
        getrlimit(Resource::RLIMIT_MEMLOCK).is_ok_and(|(soft, _)| soft == RLIM_INFINITY);
    if !(capable || unlimited) {
        info!(
            "memory not locked: secrets could reach swap (give the service CAP_IPC_LOCK or \
             LimitMEMLOCK=infinity, or use encrypted swap)"
        );
        return;
    }
    let flags = MlockAllFlags::MCL_CURRENT
        | MlockAllFlags::MCL_FUTURE
        | MlockAllFlags::from_bits_retain(nix::libc::MCL_ONFAULT);
    if let Err(e) = mlockall(flags) {
        warn!(error = %e, "could not lock the memory: secrets could reach swap");
    }
}

/// One configuration's running parts: the connection context and the refresher behind it.
struct Engine {
    context: Arc<Context>,
    refresher: JoinHandle<()>,
}

impl Engine {
    /// Starts the engine for `config`; `kept` is the state a previous process of the service left
    /// in systemd's FD store (used only when it belongs to this configuration).
    async fn start(config: &Config, kept: Option<OwnedFd>) -> Engine {
        for warning in &config.warnings {
            warn!("{warning}");
        }
        info!("configuration: {}", config.to_string().replace('\n', "; "));
        if config.auth_secret.is_none() && config.allow_no_secret {
            warn!(
                "allow_no_secret: tcp and http hand credentials to any client without a shared \
                 secret, a request forged through a local application (SSRF) included; set a \
                 secret file (--auth-secret-file, global.auth_secret_file) instead"
            );
        }
        let settings = Arc::new(config.cognito.clone());
        let sdk = cognito::sdk(&settings.region).await;
        let pool = UserPool::new(&sdk, settings.clone());
        let identity = match config.credential_type {
            CredentialType::Iam => Some(IdentityPool::new(&sdk, settings.clone())),
            CredentialType::Tokens => None,
        };
        let upstream = CognitoUpstream::new(pool, identity).keeping_state(
            StateKeeper::under_service_manager(state_fingerprint(config)),
            kept,
            settings.role_arn.as_deref(),
        );
        let (store, refresher) = credentials::start(
            upstream,
            RefreshPolicy {
                first_attempts: config.retries,
                expose_refresh_token: config.expose_refresh_token,
            },
        );
        Engine {
            context: Arc::new(Context {
                store,
                secret: config.auth_secret.as_ref().map(SharedSecret::new),
                allow_no_secret: config.allow_no_secret,
                http: HttpPolicy {
                    allowed_hosts: config.allowed_hosts.clone(),
                    imds: config.imds.then(|| {
                        Imds::new(config.cognito.role_arn.as_deref(), &config.cognito.region)
                    }),
                },
                peers: config.peers.clone().map(|mut peers| {
                    peers.unmapped = PeerPolicy::unmapped_ids_of_this_namespace();
                    if let Some((uid, gid)) = peers.unmapped {
                        tracing::warn!(
                            overflow_uid = uid,
                            overflow_gid = gid,
                            "running in a user namespace that does not map every user \
                             (PrivateUsers=?): unix-socket peers from outside it cannot be told \
                             apart and are refused by allowed_users/allowed_groups"
                        );
                    }
                    peers
                }),
            }),
            refresher,
        }
    }
}

/// What the kept state belongs to: every setting the sign-in depends on. The user, pools, app
/// client, region, role, credential type and identity flow decide whose tokens and credentials
/// they are; the password, client secret and TOTP seed are in too, so that changing one in the
/// configuration (a leaked password, say) makes the next start sign in with it rather than carry
/// on with the old session. Only a digest is kept; whoever could read it can read the
/// configuration anyway (root, or the service's own user). The endpoint is in because tokens of
/// another Cognito (an emulator, a proxy) mean nothing to this one.
fn state_fingerprint(config: &Config) -> String {
    let c = &config.cognito;
    let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap_or_default();
    fn secret(s: &Option<crate::secret::Secret>) -> &str {
        s.as_ref().map_or("", |s| s.expose())
    }
    fd_state::fingerprint(&[
        &c.username,
        &c.user_pool_id,
        &c.app_id,
        c.identity_pool_id.as_deref().unwrap_or(""),
        &c.region,
        c.role_arn.as_deref().unwrap_or(""),
        &format!("{:?}", config.credential_type),
        &format!("{:?}", c.auth_flow),
        &c.role_session_name,
        &endpoint,
        c.password.expose(),
        secret(&c.client_secret),
        secret(&c.totp_secret),
    ])
}

async fn run(
    args: ServeArgs,
    env: Environment,
    config: Config,
    passed: activation::Passed,
) -> anyhow::Result<()> {
    let stop = stop_requested()?;
    let hangups = signal(SignalKind::hangup()).context("installing a SIGHUP handler")?;
    let listeners = match passed.sockets {
        Some(sockets) => {
            info!(
                sockets = %labels(&sockets),
                "socket-activated: serving on the sockets systemd passed; listener settings of the configuration and flags are ignored"
            );
            sockets
        }
        None => {
            if let Some(problem) = socket_directory_problem(&config.listeners) {
                anyhow::bail!(problem.message);
            }
            listeners::bind_all(&config.listeners).map_err(explain_bind_error)?
        }
    };
    let mut listeners = listeners;
    let transports = transports(listeners.iter().map(|b| b.transport));
    let mut self_bound = Vec::new();
    for bound in &mut listeners {
        if let Some(from) = bound.from.clone() {
            let (retire, retirement) = listeners::Retirement::channel();
            bound.retirement = retirement;
            self_bound.push(SelfBound {
                config: from,
                transport: bound.transport,
                label: bound.label.clone(),
                owned_path: bound.owned_path.clone(),
                retire,
            });
        }
    }
    let self_bound = Arc::new(Mutex::new(self_bound));
    warn_of_refusing_listeners(&listeners, &config);

    let engine = Engine::start(&config, passed.kept_state).await;
    let (contexts, context_updates) = watch::channel(engine.context.clone());
    let status = tokio::spawn(notify::follow(
        engine.context.store.clone(),
        transports.clone(),
        false,
    ));
    let current = Arc::new(Mutex::new((engine.refresher, status)));

    if let Some(period) = notify::watchdog_period() {
        tokio::spawn(watchdog(period, current.clone()));
    }
    let reloads = tokio::spawn(reload_on_sighup(
        hangups,
        args,
        env,
        contexts,
        current.clone(),
        transports,
        self_bound.clone(),
    ));

    // A refresher that stopped (it returns only when nothing reads its credentials, so this is a
    // panic) would leave the daemon answering "unavailable" forever: exit with a failure instead,
    // which systemd's Restart=on-failure answers at once and a person running it sees.
    let refresher_died = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop = {
        let (current, died) = (current.clone(), refresher_died.clone());
        async move {
            tokio::select! {
                _ = stop => {}
                _ = refresher_stopped(current, Duration::from_secs(1)) => {
                    died.store(true, std::sync::atomic::Ordering::SeqCst);
                    notify::stopping();
                    error!("the credential refresher has stopped (see the panic above): exiting");
                }
            }
        }
    };
    serve::run(listeners, context_updates, stop).await;
    reloads.abort();
    let (refresher, status) = &*current.lock().expect("engine lock");
    refresher.abort();
    status.abort();
    let owned_paths: Vec<_> = (self_bound.lock().expect("listeners lock").iter())
        .filter_map(|b| b.owned_path.clone())
        .collect();
    for path in owned_paths {
        if let Err(e) = std::fs::remove_file(&path) {
            warn!(path = %path.display(), error = %e, "could not remove the socket file");
        }
    }
    if refresher_died.load(std::sync::atomic::Ordering::SeqCst) {
        anyhow::bail!("the credential refresher stopped: a bug; the log above holds its panic");
    }
    info!("stopped");
    Ok(())
}

/// Completes once the current credential refresher (the one in `current`, which a reload
/// replaces) has stopped, looking every `period`.
async fn refresher_stopped(current: Running, period: Duration) {
    let mut ticks = tokio::time::interval(period);
    loop {
        ticks.tick().await;
        if current.lock().expect("engine lock").0.is_finished() {
            return;
        }
    }
}

/// Why the unix socket cannot be created where it is configured.
pub(crate) struct SocketDirectoryProblem {
    /// The cause and the fix, in one line.
    pub message: String,
    /// The directory is missing or not a directory: wrong for every user. Otherwise only this
    /// user may not create the socket there (`check` run by someone other than the service).
    pub for_everyone: bool,
}

/// Why the unix socket cannot be created where it is configured, with the fix: its directory does
/// not exist, is not a directory, or this user cannot create files in it. `None` when it can (as
/// far as can be told before trying), or when no unix socket is configured. Also run by
/// `cognitod check`.
pub(crate) fn socket_directory_problem(
    listeners: &[ListenerConfig],
) -> Option<SocketDirectoryProblem> {
    use nix::unistd::{access, AccessFlags};
    listeners.iter().find_map(|listener| {
        let ListenerConfig::Unix(unix) = listener else {
            return None;
        };
        let dir = match unix.path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => std::path::Path::new("."),
        };
        let (why, for_everyone) = match std::fs::metadata(dir) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => ("does not exist".into(), true),
            Err(e) => (format!("cannot be reached ({e})"), false),
            Ok(m) if !m.is_dir() => ("is not a directory".into(), true),
            Ok(_) => match access(dir, AccessFlags::W_OK | AccessFlags::X_OK) {
                Ok(()) => return None,
                Err(e) => (
                    format!(
                        "does not let this user create the socket in it ({})",
                        e.desc()
                    ),
                    false,
                ),
            },
        };
        let fix = if for_everyone {
            format!("create it (mkdir -p {})", dir.display())
        } else {
            "run as a user who may write there".to_owned()
        };
        Some(SocketDirectoryProblem {
            message: format!(
                "the unix socket {}: its directory {} {why}; {fix}, or choose another path with \
                 -S/--socket-path or server.socket_path",
                unix.path.display(),
                dir.display(),
            ),
            for_everyone,
        })
    })
}

/// A bind failure as one line with its fix: the listener error's own text (without its cause
/// repeated after it, as the error chain would print it), plus for a port in use the flags and
/// keys that choose another.
fn explain_bind_error(err: listeners::ListenError) -> anyhow::Error {
    if let listeners::ListenError::Io { target, source, .. } = &err {
        if source.kind() == std::io::ErrorKind::AddrInUse {
            return anyhow::anyhow!(
                "{target} is already in use by another process (`ss -ltnp` shows which); choose \
                 another port with -P/--port, or --tcp-port/--http-port when both run, or \
                 server.port / server.tcp_port / server.http_port in the configuration"
            );
        }
    }
    anyhow::Error::msg(err.to_string())
}

/// Says at start-up that tcp and http listeners will refuse every client, and why, when no
/// shared secret is configured and the operator did not opt in (see `serve::NO_SECRET_REFUSAL`).
fn warn_of_refusing_listeners(listeners: &[Bound], config: &Config) {
    if config.auth_secret.is_some() || config.allow_no_secret {
        return;
    }
    for bound in listeners
        .iter()
        .filter(|b| matches!(b.transport, Transport::Tcp | Transport::Http))
    {
        warn!(
            listener = %bound.label,
            transport = bound.transport.as_str(),
            "no shared secret is configured: this listener refuses credentials to every client \
             (IMDSv2 excepted); set a secret file (--auth-secret-file, global.auth_secret_file), \
             or accept the risk with --allow-no-secret (global.allow_no_secret: true)"
        );
    }
}

fn labels(sockets: &[Bound]) -> String {
    sockets
        .iter()
        .map(|b| format!("{}={}", b.transport.as_str(), b.label))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The transports served, in a fixed order whatever order systemd passed the sockets in.
fn transports(served: impl Iterator<Item = Transport> + Clone) -> String {
    Transport::ALL
        .into_iter()
        .filter(|t| served.clone().any(|b| b == *t))
        .map(Transport::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A listener the daemon bound itself, as reloads see it.
struct SelfBound {
    /// The configured listener it serves (updated when a reload changes a socket's owner or mode).
    config: ListenerConfig,
    /// What it speaks.
    transport: Transport,
    /// Where it listens, for logs.
    label: String,
    /// Its socket file, removed when it closes; `None` once a reload closed it.
    owned_path: Option<std::path::PathBuf>,
    /// Closes it (a reload that removed it).
    retire: watch::Sender<bool>,
}

/// Brings the self-bound listeners in line with a reloaded configuration as far as that can be
/// done in place: a unix socket's new owner and mode are applied, listeners the configuration no
/// longer has are closed. Returns what only a restart applies (new or moved listeners), each
/// described once. Socket-activated sockets are systemd's: nothing to do.
fn apply_listeners(wanted: &[ListenerConfig], running: &mut Vec<SelfBound>) -> Vec<String> {
    let same_kind = |a: &ListenerConfig, b: &ListenerConfig| {
        std::mem::discriminant(a) == std::mem::discriminant(b)
    };
    let mut restart: Vec<String> = Vec::new();
    let mut note = |what: String| {
        if !restart.contains(&what) {
            restart.push(what);
        }
    };
    if running.is_empty() {
        return restart;
    }
    let mut closed = Vec::new();
    for (index, entry) in running.iter_mut().enumerate() {
        if wanted.contains(&entry.config) {
            continue;
        }
        match (
            &entry.config,
            wanted.iter().find(|w| same_kind(w, &entry.config)),
        ) {
            (ListenerConfig::Unix(old), Some(ListenerConfig::Unix(new)))
                if new.path == old.path =>
            {
                match listeners::set_owner_and_mode(new) {
                    Ok(()) => {
                        info!(socket = %new.path.display(), "applied the socket's new owner and mode: {}", ListenerConfig::Unix(new.clone()));
                        entry.config = ListenerConfig::Unix(new.clone());
                    }
                    Err(e) => {
                        error!(error = %e, "could not apply the socket's new owner and mode");
                        note(format!(
                            "{} (could not apply in place: {e})",
                            ListenerConfig::Unix(new.clone())
                        ));
                    }
                }
            }
            (_, None) => {
                entry.retire.send_replace(true);
                info!(listener = %entry.label, "the configuration no longer has this listener: closing it");
                if let Some(path) = entry.owned_path.take() {
                    if let Err(e) = std::fs::remove_file(&path) {
                        warn!(path = %path.display(), error = %e, "could not remove the socket file");
                    }
                }
                closed.push(index);
            }
            (_, Some(other)) => note(other.to_string()),
        }
    }
    for index in closed.into_iter().rev() {
        running.remove(index);
    }
    for new in wanted {
        if !running.iter().any(|r| same_kind(&r.config, new)) {
            note(new.to_string());
        }
    }
    restart
}

type Running = Arc<Mutex<(JoinHandle<()>, JoinHandle<()>)>>;

/// SIGHUP: load the configuration again; switch to it once its first sign-in settles, or keep the
/// old one and say why when the new one is invalid.
async fn reload_on_sighup(
    mut hangups: tokio::signal::unix::Signal,
    args: ServeArgs,
    env: Environment,
    contexts: watch::Sender<Arc<Context>>,
    current: Running,
    transports: String,
    self_bound: Arc<Mutex<Vec<SelfBound>>>,
) {
    let mut transports = transports;
    while hangups.recv().await.is_some() {
        notify::reloading();
        info!("SIGHUP: reloading the configuration");
        let config = match config::load(&args, &env) {
            Ok(config) => config,
            Err(e) => {
                error!(error = %e, "reload refused, keeping the previous configuration");
                notify::ready(&format!(
                    "reload failed, still serving the previous configuration: {e}"
                ));
                continue;
            }
        };
        let engine = Engine::start(&config, None).await;
        let _ = tokio::time::timeout(RELOAD_SIGN_IN_WAIT, engine.context.store.settled()).await;
        contexts.send_replace(engine.context.clone());
        let (restart, served) = {
            let mut running = self_bound.lock().expect("listeners lock");
            let restart = apply_listeners(&config.listeners, &mut running);
            let served = (!running.is_empty())
                .then(|| self::transports(running.iter().map(|r| r.transport)));
            (restart, served)
        };
        if let Some(served) = served {
            transports = served;
        }
        let mut status_transports = transports.clone();
        if !restart.is_empty() {
            let pending = restart.join("; ");
            warn!(
                "these listener settings apply only after a restart (systemctl restart cognitod): {pending}"
            );
            status_transports = format!("{transports} (restart to apply: {pending})");
        }
        let status = tokio::spawn(notify::follow(
            engine.context.store.clone(),
            status_transports,
            false,
        ));
        let (old_refresher, old_status) = std::mem::replace(
            &mut *current.lock().expect("engine lock"),
            (engine.refresher, status),
        );
        old_refresher.abort();
        old_status.abort();
        info!("configuration reloaded");
    }
}

/// WATCHDOG=1 at half systemd's interval, but only while the refresher is alive: a stuck runtime
/// sends nothing, a dead refresher stops the pings, and systemd restarts the service.
async fn watchdog(period: Duration, current: Running) {
    watchdog_loop(period, current, notify::watchdog).await;
}

/// The watchdog's loop, with the ping as a parameter so a test can count pings.
async fn watchdog_loop(period: Duration, current: Running, ping: impl Fn()) {
    let mut ticks = tokio::time::interval(period);
    loop {
        ticks.tick().await;
        let alive = !current.lock().expect("engine lock").0.is_finished();
        if alive {
            ping();
        } else {
            error!("the credential refresher has stopped; withholding the watchdog ping");
        }
    }
}

/// A future that completes on SIGTERM or SIGINT, after telling the service manager. The handlers
/// are installed at once, so a stop asked for during start-up is not lost.
fn stop_requested() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    let mut term = signal(SignalKind::terminate()).context("installing a SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing a SIGINT handler")?;
    Ok(async move {
        let name = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        };
        notify::stopping();
        info!(
            signal = name,
            "stopping: no new connections, finishing those in flight"
        );
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test(start_paused = true)]
    async fn a_stopped_refresher_is_noticed_and_a_replaced_one_is_followed() {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let first = tokio::spawn(async move {
            let _ = stopped.await;
            panic!("the refresher died");
        });
        let status = tokio::spawn(std::future::pending::<()>());
        let current: Running = Arc::new(Mutex::new((first, status)));
        let watcher = tokio::spawn(refresher_stopped(current.clone(), Duration::from_secs(1)));
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert!(
            !watcher.is_finished(),
            "a live refresher was taken for a dead one"
        );
        // A reload replaces the refresher and aborts the old one: the new one is followed.
        let replaced = tokio::spawn(std::future::pending::<()>());
        let old = std::mem::replace(&mut current.lock().unwrap().0, replaced);
        old.abort();
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert!(!watcher.is_finished(), "the replaced refresher was watched");
        let (dies, died) = tokio::sync::oneshot::channel::<()>();
        let dying = tokio::spawn(async move {
            let _ = died.await;
            panic!("the refresher died");
        });
        std::mem::replace(&mut current.lock().unwrap().0, dying).abort();
        drop(stop);
        dies.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(3), watcher)
            .await
            .expect("the stopped refresher was noticed within the period")
            .unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn the_watchdog_pings_only_while_the_refresher_lives() {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let refresher = tokio::spawn(async move {
            let _ = stopped.await;
            panic!("the refresher died");
        });
        let status = tokio::spawn(std::future::pending::<()>());
        let current: Running = Arc::new(Mutex::new((refresher, status)));
        let pings = Arc::new(AtomicU32::new(0));
        let counted = pings.clone();
        tokio::spawn(watchdog_loop(Duration::from_secs(5), current, move || {
            counted.fetch_add(1, Ordering::SeqCst);
        }));
        tokio::time::sleep(Duration::from_secs(12)).await;
        let while_alive = pings.load(Ordering::SeqCst);
        assert_eq!(while_alive, 3, "pings at 0, 5 and 10 s");
        let _ = stop.send(());
        tokio::time::sleep(Duration::from_secs(30)).await;
        assert_eq!(
            pings.load(Ordering::SeqCst),
            while_alive,
            "pinged for a dead refresher"
        );
    }
}
