//! The command line: clap derive types only. Turning them into a validated configuration is
//! `config`'s job, so every flag here is an `Option` that says "not given" apart from "default".

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::instance::Instance;
use crate::transport::Transport;

/// cognitod: turns a Cognito user into AWS credentials for the programs of one machine.
#[derive(Debug, Parser)]
#[command(name = "cognitod", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Sign in to Cognito and serve credentials to local clients.
    Serve(ServeArgs),
    /// Write the systemd units: one service, one socket unit per transport.
    Install(InstallArgs),
    /// Build a configuration interactively (or from flags with --non-interactive).
    Configure(ConfigureArgs),
    /// Validate a configuration and, with --login, sign in once.
    Check(CheckArgs),
    /// Print credentials from the daemon as credential_process JSON (for ~/.aws/config).
    Get(GetArgs),
}

/// What the daemon hands out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CredentialType {
    /// Temporary IAM credentials from the identity pool (credential_process JSON).
    Iam,
    /// The Cognito user pool tokens.
    Tokens,
}

impl CredentialType {
    /// The name the flags and the config file write.
    pub fn as_str(self) -> &'static str {
        match self {
            CredentialType::Iam => "iam",
            CredentialType::Tokens => "tokens",
        }
    }
}

/// A secret given as a flag's value: redacted in `Debug` (the arguments are a `Debug` struct),
/// zeroed when dropped. Not `crate::secret::Secret`, because build.rs compiles this file alone.
#[derive(Clone, Default)]
pub struct FlagSecret(String);

impl FlagSecret {
    /// The secret itself, for the configuration to check and keep.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for FlagSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FlagSecret([redacted])")
    }
}

impl From<&str> for FlagSecret {
    fn from(text: &str) -> Self {
        FlagSecret(text.to_owned())
    }
}

impl std::str::FromStr for FlagSecret {
    type Err = std::convert::Infallible;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Ok(text.into())
    }
}

impl Drop for FlagSecret {
    fn drop(&mut self) {
        // zeroize's job, by hand (no dependency here): `black_box` keeps the zeros from being
        // optimised away as stores to memory about to be freed.
        let mut bytes = std::mem::take(&mut self.0).into_bytes();
        bytes.fill(0);
        std::hint::black_box(&bytes);
    }
}

/// Flags of `cognitod serve`: the original `cognito-auth-server` flags, same short and long names.
#[derive(Debug, Default, Clone, Args)]
pub struct ServeArgs {
    /// Transport to serve on; repeat it (or separate with commas) for several at once.
    #[arg(short = 's', long = "server-type", value_enum, value_delimiter = ',')]
    pub server_type: Vec<Transport>,

    /// Whether to hand out IAM credentials or Cognito tokens.
    #[arg(short = 'C', long = "credential-type", value_enum)]
    pub credential_type: Option<CredentialType>,

    /// Profile to read from the Cognito credentials file.
    #[arg(short = 'p', long = "cognito-profile")]
    pub cognito_profile: Option<String>,

    /// Cognito credentials file (INI) [default: ~/.aws/cognito_credentials].
    #[arg(short = 'f', long = "cognito-credentials-file")]
    pub cognito_credentials_file: Option<PathBuf>,

    /// JSON configuration file [default: the one `cognitod configure` writes, when it exists:
    /// /etc/cognitod/config.json as root, else $XDG_CONFIG_HOME/cognitod/config.json; not with -e].
    #[arg(short = 'c', long = "config-file")]
    pub config_file: Option<PathBuf>,

    /// Where the tcp and http listeners bind.
    #[command(flatten)]
    pub tcp: TcpArgs,

    /// Owner and group of the unix socket.
    #[command(flatten)]
    pub owner: OwnerArgs,

    /// Mode of the unix socket, in octal digits (600, 0660).
    #[arg(long = "permissions")]
    pub permissions: Option<String>,

    /// Path of the unix socket.
    #[arg(short = 'S', long = "socket-path")]
    pub socket_path: Option<String>,

    /// Take the Cognito settings from COGNITO_* variables and insist that they are complete.
    #[arg(short = 'e', long = "use-env")]
    pub use_env: bool,

    /// Attempts of the first sign-in before it is reported as failed.
    #[arg(short = 'r', long = "retries")]
    pub retries: Option<u32>,

    /// Shared secret clients must send (visible to every local user in `ps`: prefer --auth-secret-file).
    #[arg(short = 'a', long = "auth-secret", alias = "auth_secret")]
    pub auth_secret: Option<FlagSecret>,

    /// File holding the shared secret clients must send.
    #[arg(long = "auth-secret-file")]
    pub auth_secret_file: Option<PathBuf>,

    /// File holding the user's TOTP seed (base32), for pools that require TOTP MFA.
    #[arg(long = "totp-secret-file")]
    pub totp_secret_file: Option<PathBuf>,

    /// Also answer as IMDSv2 on the http listener (for clients that cannot use /ecs).
    #[arg(long = "imds")]
    pub imds: bool,

    /// Serve credentials on tcp and http to clients that send no shared secret (any local process,
    /// or a forged request, can then get them): prefer --auth-secret-file.
    #[arg(long = "allow-no-secret")]
    pub allow_no_secret: bool,

    /// A Host header value the http listener accepts besides loopback and localhost (repeatable).
    #[arg(long = "allowed-host")]
    pub allowed_host: Vec<String>,
}

/// Owner and group of the unix socket: flags shared by `serve`, `install` and `configure`.
#[derive(Debug, Default, Clone, Args)]
pub struct OwnerArgs {
    /// Owner of the unix socket, user name or uid (SocketUser= when installed).
    #[arg(short = 'u', long = "user")]
    pub user: Option<String>,

    /// Group of the unix socket, group name or gid (SocketGroup= when installed): who may read
    /// credentials.
    #[arg(short = 'g', long = "group")]
    pub group: Option<String>,
}

/// Where the tcp and http listeners bind: flags shared by `serve`, `install` and `configure`
/// (which hands them to install).
#[derive(Debug, Default, Clone, Args)]
pub struct TcpArgs {
    /// Address of the tcp and http listeners; unset or localhost: 127.0.0.1 and ::1.
    #[arg(short = 'H', long = "host")]
    pub host: Option<String>,

    /// Port of the tcp or http listener (of both with -s tcp,http: give each its own with
    /// --tcp-port and --http-port).
    #[arg(short = 'P', long = "port")]
    pub port: Option<u16>,

    /// Port of the tcp listener (server.tcp_port), when both tcp and http run [default: 5500].
    #[arg(long = "tcp-port")]
    pub tcp_port: Option<u16>,

    /// Port of the http listener (server.http_port), when both tcp and http run [default: 8080].
    #[arg(long = "http-port")]
    pub http_port: Option<u16>,
}

/// Flags of `cognitod install`.
#[derive(Debug, Default, Clone, Args)]
pub struct InstallArgs {
    /// Unit name prefix: NAME.service, NAME.socket, NAME-tcp.socket, NAME-http.socket.
    #[arg(
        short = 'n',
        long = "server-name",
        alias = "server_name",
        default_value = "cognitod"
    )]
    pub server_name: String,

    /// Directory the unit files go to.
    #[arg(
        short = 'i',
        long = "install-dir",
        default_value = "/etc/systemd/system"
    )]
    pub install_dir: PathBuf,

    /// Transports to create socket units for; repeat it (or separate with commas).
    #[arg(
        short = 's',
        long = "server-type",
        value_enum,
        value_delimiter = ',',
        default_value = "unix"
    )]
    pub server_type: Vec<Transport>,

    /// Owner and group of the unix socket.
    #[command(flatten)]
    pub owner: OwnerArgs,

    /// Mode of the unix socket (SocketMode=), octal digits.
    #[arg(long = "permissions", default_value = "0660")]
    pub permissions: String,

    /// Path of the unix socket [default: /run/NAME.sock].
    #[arg(short = 'S', long = "socket-path")]
    pub socket_path: Option<PathBuf>,

    /// Where the tcp and http listeners bind.
    #[command(flatten)]
    pub tcp: TcpArgs,

    /// Configuration file the service loads (as the systemd credential `config`).
    #[arg(
        short = 'c',
        long = "config-file",
        default_value = "/etc/cognitod/config.json"
    )]
    pub config_file: PathBuf,

    /// A separate shared-secret file the service loads (as the credential `auth_secret`).
    #[arg(long = "auth-secret-file")]
    pub auth_secret_file: Option<PathBuf>,

    /// The cognitod binary the service runs [default: this one].
    #[arg(long = "bin")]
    pub binary: Option<PathBuf>,

    /// Print the unit files instead of writing them.
    #[arg(long = "dry-run")]
    pub dry_run: bool,

    /// Then run `systemctl daemon-reload` and `systemctl enable --now` on the sockets.
    #[arg(long = "enable")]
    pub enable: bool,

    /// Replace unit files that differ from what would be written.
    #[arg(long = "force")]
    pub force: bool,

    /// With tcp or http: do not generate a shared secret for them (without one in the
    /// configuration they then refuse credentials, unless it sets global.allow_no_secret).
    #[arg(long = "allow-no-secret")]
    pub allow_no_secret: bool,

    /// Install the template units (NAME@.service, NAME@.socket, and NAME-tcp@.socket,
    /// NAME-http@.socket with -s tcp,http) for instance INSTANCE: it loads
    /// /etc/cognitod/INSTANCE.json, listens on /run/cognitod/INSTANCE.sock and runs as its own
    /// user; its ports and secret go in drop-ins. With --remove: stop, disable and remove that
    /// instance (the template units stay, for the other instances).
    #[arg(
        long = "instance",
        value_name = "INSTANCE",
        value_parser = Instance::parse,
        conflicts_with_all = ["socket_path", "config_file"]
    )]
    pub instance: Option<Instance>,

    /// Undo an install: stop and disable the units, remove their files.
    #[arg(long = "remove", conflicts_with_all = ["dry_run", "enable", "force"])]
    pub remove: bool,
}

/// Flags of `cognitod check`: the configuration flags of `serve`, and `--login`.
#[derive(Debug, Default, Clone, Args)]
pub struct CheckArgs {
    /// The configuration to check, given as to `serve`.
    #[command(flatten)]
    pub serve: ServeArgs,

    /// Also sign in once and report who, which pools, and when the credentials expire.
    #[arg(long = "login")]
    pub login: bool,
}

/// Whether clients must present a shared secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SharedSecretChoice {
    /// No secret: access to the socket is access to the credentials.
    None,
    /// Generate a random secret and store it in its own 0600 file.
    Generate,
}

/// Flags of `cognitod configure`: one per question, so scripts can answer them all.
#[derive(Debug, Default, Clone, Args)]
pub struct ConfigureArgs {
    /// Ask nothing: every answer comes from the flags (missing required ones are listed).
    #[arg(long = "non-interactive")]
    pub non_interactive: bool,

    /// Where to write the configuration [default: /etc/cognitod/config.json as root, else
    /// $XDG_CONFIG_HOME/cognitod/config.json: where serve and check look without -c].
    #[arg(short = 'o', long = "output")]
    pub output: Option<PathBuf>,

    /// Configure template instance INSTANCE: write /etc/cognitod/INSTANCE.json (its shared
    /// secret, if any, in /etc/cognitod/INSTANCE.auth-secret), which cognitod@INSTANCE.service
    /// loads; with --install, install and start that instance.
    #[arg(
        long = "instance",
        value_name = "INSTANCE",
        value_parser = Instance::parse,
        conflicts_with = "output"
    )]
    pub instance: Option<Instance>,

    /// Replace an existing configuration without asking.
    #[arg(long = "force")]
    pub force: bool,

    /// Transports to serve on (comma separated, or repeated).
    #[arg(short = 's', long = "server-type", value_enum, value_delimiter = ',')]
    pub server_type: Vec<Transport>,

    /// IAM credentials or Cognito tokens.
    #[arg(short = 'C', long = "credential-type", value_enum)]
    pub credential_type: Option<CredentialType>,

    /// The Cognito user's login name.
    #[arg(long = "username")]
    pub username: Option<String>,

    /// File holding the user's password (or set COGNITO_PASSWORD); never a flag value.
    #[arg(long = "password-file")]
    pub password_file: Option<PathBuf>,

    /// App client id.
    #[arg(long = "app-id")]
    pub app_id: Option<String>,

    /// File holding the app client secret (or set COGNITO_CLIENT_SECRET), when it has one.
    #[arg(long = "client-secret-file")]
    pub client_secret_file: Option<PathBuf>,

    /// User pool id, `<region>_<id>`.
    #[arg(long = "user-pool-id")]
    pub user_pool_id: Option<String>,

    /// Identity pool id, `<region>:<uuid>` (IAM credentials only).
    #[arg(long = "identity-pool-id")]
    pub identity_pool_id: Option<String>,

    /// AWS region [default: the user pool id's].
    #[arg(long = "region")]
    pub region: Option<String>,

    /// Role to ask the identity pool for.
    #[arg(long = "role-arn")]
    pub role_arn: Option<String>,

    /// Sign-in flow: user_srp, user_password or user_auth (choice-based, ALLOW_USER_AUTH).
    #[arg(long = "auth-type")]
    pub auth_type: Option<String>,

    /// Identity pool flow: enhanced or classic.
    #[arg(long = "auth-flow")]
    pub auth_flow: Option<String>,

    /// Whether clients must send a shared secret [default: generate with tcp or http, else none].
    #[arg(long = "shared-secret", value_enum)]
    pub shared_secret: Option<SharedSecretChoice>,

    /// With tcp or http and `--shared-secret none`: let them serve clients without a secret
    /// (writes global.allow_no_secret: true; any local process, or a forged request, can then
    /// get the credentials).
    #[arg(long = "allow-no-secret")]
    pub allow_no_secret: bool,

    /// Where a generated shared secret is stored (mode 0600) [default: auth-secret beside the
    /// configuration].
    #[arg(long = "shared-secret-file")]
    pub shared_secret_file: Option<PathBuf>,

    /// Owner and group of the unix socket.
    #[command(flatten)]
    pub owner: OwnerArgs,

    /// Mode of the unix socket, octal digits.
    #[arg(long = "permissions")]
    pub permissions: Option<String>,

    /// Path of the unix socket.
    #[arg(short = 'S', long = "socket-path")]
    pub socket_path: Option<PathBuf>,

    /// Sign in once with the answers before writing them.
    #[arg(long = "login")]
    pub login: bool,

    /// Enrol a new TOTP authenticator for the user while signing in, and store its seed as
    /// cognito.totp_secret (0600, like the password); it replaces any authenticator the user
    /// has. Without the flag, configure offers this when the pool requires MFA and the user has
    /// none.
    #[arg(long = "enrol-totp", conflicts_with = "totp_secret_file")]
    pub enrol_totp: bool,

    /// File holding the user's TOTP seed (base32), for a user who already has TOTP MFA; stored
    /// as cognito.totp_secret.
    #[arg(long = "totp-secret-file")]
    pub totp_secret_file: Option<PathBuf>,

    /// Run `cognitod install` (with --enable) for these answers after writing. An instance with
    /// tcp or http needs a port of its own for each: --tcp-port, --http-port or -P (below).
    #[arg(long = "install")]
    pub install: bool,

    /// Directory for the units when installing.
    #[arg(long = "install-dir", default_value = "/etc/systemd/system")]
    pub install_dir: PathBuf,

    /// With --install: where the tcp and http sockets listen (not written into the
    /// configuration: systemd's sockets do the listening). An instance with tcp or http needs
    /// a port of its own.
    #[command(flatten, next_help_heading = "Sockets, with --install")]
    pub tcp: TcpArgs,
}

/// Flags of `cognitod get`.
#[derive(Debug, Default, Clone, Args)]
pub struct GetArgs {
    /// The daemon's unix socket [default: /run/cognitod.sock].
    #[arg(long = "socket", conflicts_with_all = ["tcp", "url"])]
    pub socket: Option<PathBuf>,

    /// The unix socket of template instance INSTANCE: /run/cognitod/INSTANCE.sock.
    #[arg(
        long = "instance",
        value_name = "INSTANCE",
        value_parser = Instance::parse,
        conflicts_with_all = ["socket", "tcp", "url"]
    )]
    pub instance: Option<Instance>,

    /// The daemon's raw TCP listener, HOST:PORT.
    #[arg(long = "tcp", conflicts_with = "url")]
    pub tcp: Option<String>,

    /// The daemon's HTTP listener, e.g. http://127.0.0.1:8080/.
    #[arg(long = "url")]
    pub url: Option<String>,

    /// File holding the shared secret (or set COGNITOD_SECRET); never given as an argument.
    #[arg(long = "secret-file")]
    pub secret_file: Option<PathBuf>,
}
