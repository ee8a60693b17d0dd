//! Configuration: every source the original tool had (JSON file, INI profile, COGNITO_* environment,
//! flags) plus systemd credentials, merged in a fixed precedence and validated into one [`Config`].
//!
//! Every key is one row of the table in `keys`; each source fills an all-`Option` layer by one loop
//! over it, and `validate` applies the rules that relate keys. Only the validated types below leave
//! this module, so the rest of the daemon never sees a half-checked value.

mod access;
mod answers;
mod error;
mod file;
mod keys;
mod profile;
mod sources;
mod validate;
mod values;

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::ValueEnum;

pub(crate) use answers::{check_answer, Question};
pub use error::ConfigError;
pub(crate) use sources::default_config_path;
pub use sources::{load, Environment};

pub use crate::cli::CredentialType;
pub(crate) use crate::protocol::DEFAULT_SOCKET_PATH;
use crate::secret::Secret;
pub use crate::serve::guard::PeerPolicy;
pub use crate::transport::Transport;

/// The original tool's default TCP port.
pub(crate) const DEFAULT_TCP_PORT: u16 = 5500;
/// The original tool's HTTP port.
pub(crate) const DEFAULT_HTTP_PORT: u16 = 8080;
/// Mode of a self-created unix socket: owner and group, so group membership grants access.
pub(crate) const DEFAULT_SOCKET_MODE: u32 = 0o660;
/// Attempts of the first sign-in before it is reported as failed.
pub(crate) const DEFAULT_RETRIES: u32 = 5;

/// The validated configuration of `cognitod serve`.
#[derive(Debug, Clone)]
pub struct Config {
    /// Listeners to bind when systemd passes none.
    pub listeners: Vec<ListenerConfig>,
    /// IAM credentials or Cognito tokens.
    pub credential_type: CredentialType,
    /// Shared secret clients must present; `None` means every client that reaches a socket is served.
    pub auth_secret: Option<Secret>,
    /// Attempts of the first sign-in before failure is reported (later ones go on, rate-limited).
    pub retries: u32,
    /// Whether tokens mode may hand out the refresh token (off: it outlives every other secret).
    pub expose_refresh_token: bool,
    /// Whether the http listener also answers as IMDSv2 (opt-in).
    pub imds: bool,
    /// Whether tcp and http serve clients that send no secret when none is configured (opt-in):
    /// any local process or a forged request (SSRF) could otherwise take the credentials.
    pub allow_no_secret: bool,
    /// Host header values the http listener accepts besides the local ones (DNS rebinding).
    pub allowed_hosts: Vec<String>,
    /// Who may use the unix socket; `None` leaves it to the socket's owner, group and mode.
    pub peers: Option<PeerPolicy>,
    /// How to sign in and where to get credentials.
    pub cognito: CognitoConfig,
    /// Warnings found while loading (e.g. a secret given on the command line), logged at start.
    pub warnings: Vec<String>,
}

/// One listener the daemon binds itself (standalone mode).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenerConfig {
    /// Raw protocol on a unix socket.
    Unix(UnixSocketConfig),
    /// Raw protocol on TCP.
    Tcp(TcpConfig),
    /// HTTP on TCP.
    Http(TcpConfig),
}

/// A self-created unix socket, with the owner and mode it gets before it accepts anyone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnixSocketConfig {
    /// Path of the socket file.
    pub path: PathBuf,
    /// Owner uid, when it should differ from the daemon's.
    pub owner: Option<u32>,
    /// Group gid, when it should differ from the daemon's.
    pub group: Option<u32>,
    /// Permission bits (e.g. 0o660).
    pub mode: u32,
}

/// Where a TCP listener binds: one port on one or more addresses (both loopbacks for `localhost`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpConfig {
    /// Addresses to bind, each on `port`.
    pub addresses: Vec<IpAddr>,
    /// The port.
    pub port: u16,
}

/// How the user pool sign-in is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum AuthType {
    /// USER_SRP_AUTH: the password never leaves the machine.
    #[value(alias = "user_srp_auth")]
    UserSrp,
    /// USER_PASSWORD_AUTH: the password is sent to Cognito over TLS.
    #[value(alias = "user_password_auth")]
    UserPassword,
    /// USER_AUTH, choice-based sign-in: PASSWORD_SRP when the pool offers it, else PASSWORD.
    UserAuth,
}

/// How identity-pool credentials are obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum IdentityFlow {
    /// GetId + GetCredentialsForIdentity.
    Enhanced,
    /// GetId + GetOpenIdToken + STS AssumeRoleWithWebIdentity.
    Classic,
}

/// The Cognito side: user, pools, and flows.
#[derive(Debug, Clone)]
pub struct CognitoConfig {
    /// Login name (user name, or an alias such as the e-mail address).
    pub username: String,
    /// The user's password.
    pub password: Secret,
    /// App client id.
    pub app_id: String,
    /// App client secret, when the app client has one (SECRET_HASH is then sent on every call).
    pub client_secret: Option<Secret>,
    /// The TOTP seed that answers SOFTWARE_TOKEN_MFA, when the user has TOTP MFA.
    pub totp_secret: Option<Secret>,
    /// User pool id, `<region>_<name>`.
    pub user_pool_id: String,
    /// Identity pool id; required for IAM credentials.
    pub identity_pool_id: Option<String>,
    /// AWS region of the pools.
    pub region: String,
    /// Role to ask for (CustomRoleArn in the enhanced flow, RoleArn in the classic flow).
    pub role_arn: Option<String>,
    /// SRP or plain password sign-in.
    pub auth_type: AuthType,
    /// ClientMetadata passed to every user-pool call.
    pub metadata: BTreeMap<String, String>,
    /// Enhanced or classic identity-pool flow.
    pub auth_flow: IdentityFlow,
    /// Session name for AssumeRoleWithWebIdentity (classic flow).
    pub role_session_name: String,
    /// Lifetime asked of AssumeRoleWithWebIdentity (classic flow).
    pub role_expiry_time: Duration,
}

impl fmt::Display for Config {
    /// A summary for `cognitod check` and the start-up log: no secret, only whether one is set.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.cognito;
        writeln!(f, "credential type: {:?}", self.credential_type)?;
        for listener in &self.listeners {
            writeln!(f, "listener: {listener}")?;
        }
        let secret = match (self.auth_secret.is_some(), self.allow_no_secret) {
            (true, _) => "required",
            (false, true) => "none (allow_no_secret: tcp and http serve anyone)",
            (false, false) => "none (tcp and http refuse credentials; the unix socket serves)",
        };
        writeln!(f, "shared secret: {secret}")?;
        writeln!(f, "user: {} (sign-in {:?})", c.username, c.auth_type)?;
        writeln!(f, "user pool: {} app client: {}", c.user_pool_id, c.app_id)?;
        let client_secret = if c.client_secret.is_some() {
            "set"
        } else {
            "none"
        };
        writeln!(f, "client secret: {client_secret}")?;
        let identity_pool = c.identity_pool_id.as_deref().unwrap_or("none");
        writeln!(f, "identity pool: {identity_pool} ({:?} flow)", c.auth_flow)?;
        writeln!(f, "region: {}", c.region)?;
        let role = c.role_arn.as_deref().unwrap_or("pool default");
        write!(f, "role: {role}")
    }
}

impl fmt::Display for ListenerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let id = |id: Option<u32>| id.map_or("unchanged".into(), |v| v.to_string());
        let addresses = |t: &TcpConfig| {
            let each = t
                .addresses
                .iter()
                .map(|a| SocketAddr::new(*a, t.port).to_string());
            each.collect::<Vec<_>>().join(", ")
        };
        match self {
            ListenerConfig::Unix(u) => {
                let (path, mode) = (u.path.display(), u.mode);
                let (owner, group) = (id(u.owner), id(u.group));
                write!(
                    f,
                    "unix {path} (mode {mode:04o}, owner {owner}, group {group})"
                )
            }
            ListenerConfig::Tcp(t) => write!(f, "tcp {}", addresses(t)),
            ListenerConfig::Http(t) => write!(f, "http {}", addresses(t)),
        }
    }
}
