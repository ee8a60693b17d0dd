//! Where the configuration comes from, and [`load`], which stacks the sources in precedence order
//! (defaults < config file < profile < systemd credentials < environment < flags) and validates
//! the result.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use super::access::FileAccess;
use super::error::{ConfigError, Origin, Setting};
use super::keys::{key, Input, Layer, KEYS};
use super::{file, profile, validate, values, Config, CredentialType};
use crate::cli::ServeArgs;
use crate::secret::Secret;

/// The process environment, taken once and then passed around, so that tests need not touch the
/// real one.
#[derive(Clone, Default)]
pub struct Environment {
    /// Variables with UTF-8 values, but for the secrets.
    vars: BTreeMap<String, String>,
    /// The variables that hold a secret (COGNITO_PASSWORD, ...), held as the secret each becomes,
    /// so that the configuration and this snapshot (kept for reloads) share one copy.
    secrets: BTreeMap<String, Secret>,
    /// Variables whose value is not UTF-8, so that reading one is an error rather than "unset".
    not_unicode: BTreeSet<String>,
    /// Whether this is the process's own environment, whose block [`load`] then clears of the
    /// secrets it has read (it would otherwise keep a copy, shown in /proc/PID/environ).
    process: bool,
}

impl Environment {
    /// A snapshot of this process's environment.
    pub fn from_process() -> Self {
        let mut env = Environment {
            process: true,
            ..Environment::default()
        };
        for (name, value) in std::env::vars_os() {
            match (name.into_string(), value.into_string()) {
                (Ok(name), Ok(value)) => env.insert(name, value),
                (Ok(name), Err(_)) => drop(env.not_unicode.insert(name)),
                (Err(_), _) => {}
            }
        }
        env
    }

    /// An environment holding exactly these variables.
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        let mut env = Environment::default();
        for (name, value) in pairs {
            env.insert(name.into(), value.into());
        }
        env
    }

    /// Files a variable, a secret one (one of a key that holds a secret) as a [`Secret`].
    fn insert(&mut self, name: String, value: String) {
        let mut secret_keys = KEYS.iter().filter(|k| k.holds.is_some());
        if secret_keys.any(|k| k.env.contains(&name.as_str())) {
            self.secrets.insert(name, Secret::new(value));
        } else {
            self.vars.insert(name, value);
        }
    }

    /// The value of `name`, if it is set (and UTF-8).
    pub fn get(&self, name: &str) -> Option<&str> {
        match self.secrets.get(name) {
            Some(secret) => Some(secret.expose()),
            None => self.vars.get(name).map(String::as_str),
        }
    }

    /// The value of a configuration variable: an empty value counts as unset (`VAR=` is how a
    /// shell clears a variable), a value that is not UTF-8 is an error.
    fn setting(&self, name: &'static str) -> Result<Option<(Input<'_>, Origin)>, ConfigError> {
        let at = Origin::Env { name };
        if self.not_unicode.contains(name) {
            let (problem, fix) = (
                "the value is not valid UTF-8",
                "set it to UTF-8 text or unset it",
            );
            return Err(ConfigError::invalid(at, problem, fix));
        }
        let input = match self.secrets.get(name) {
            Some(secret) if secret.expose().is_empty() => None,
            Some(secret) => Some(Input::Secret(secret.clone())),
            None => self.get(name).filter(|v| !v.is_empty()).map(Input::Text),
        };
        Ok(input.map(|input| (input, at)))
    }
}

/// Names only: the values include passwords.
impl fmt::Debug for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = self.vars.keys().chain(self.secrets.keys());
        f.debug_set().entries(names).finish()
    }
}

/// Reads every source, stacks them and validates the result. The error is the first problem
/// found, naming its source, key and fix; loading again without fixing it fails the same way.
pub fn load(args: &ServeArgs, env: &Environment) -> Result<Config, ConfigError> {
    let mut warnings = Vec::new();
    let credentials = env.get("CREDENTIALS_DIRECTORY").filter(|d| !d.is_empty());
    let credentials = credentials.map(Path::new);
    let files = FileAccess::new(credentials);

    let file_layer = match config_file(args, env, credentials) {
        Some((path, named_by)) => file::load(&path, named_by, &files, &mut warnings)?,
        None => Layer::default(),
    };
    let profile_layer = profile_layer(args, env, &files)?;
    let credentials_layer = match credentials {
        Some(dir) => credentials_layer(dir, &files)?,
        None => Layer::default(),
    };
    let env_layer = env_layer(env)?;
    if env.process {
        // Read into `env`, which the configuration shares: the block's copy is one too many.
        let names: Vec<&str> = env.secrets.keys().map(String::as_str).collect();
        crate::secret::overwrite_in_environment_block(&names);
    }
    let flag_layer = flag_layer(args, &files, &mut warnings)?;

    let merged = file_layer
        .overlay(profile_layer)
        .overlay(credentials_layer)
        .overlay(env_layer)
        .overlay(flag_layer);
    if args.use_env {
        require_complete_env(env, &merged)?;
    }
    validate::validate(merged, fallback_region(env)?, warnings)
}

/// The config file and what named it: `-c`, else systemd's `config` credential if there is one,
/// else the file `cognitod configure` writes by default if it exists, unless `-e` says the
/// environment is the whole configuration.
fn config_file(
    args: &ServeArgs,
    env: &Environment,
    credentials: Option<&Path>,
) -> Option<(PathBuf, &'static str)> {
    if let Some(path) = &args.config_file {
        return Some((path.clone(), "-c/--config-file"));
    }
    let credential = credentials.map(|d| d.join("config")).filter(|c| c.exists());
    if let Some(credential) = credential {
        return Some((credential, "the systemd credential config"));
    }
    if args.use_env {
        return None;
    }
    let default = default_config_path(env, nix::unistd::geteuid().is_root())?;
    let named_by = "the default config file (cognitod configure's)";
    default.exists().then_some((default, named_by))
}

/// Where `cognitod configure` writes the configuration, and `serve` and `check` read it, when no
/// path is given: /etc/cognitod/config.json for root, else `$XDG_CONFIG_HOME/cognitod/config.json`
/// (`~/.config/cognitod/config.json` when XDG_CONFIG_HOME is unset), as the XDG base directory
/// specification says. `None` for a user with neither variable set.
pub(crate) fn default_config_path(env: &Environment, root: bool) -> Option<PathBuf> {
    if root {
        return Some(PathBuf::from("/etc/cognitod/config.json"));
    }
    let base = match env.get("XDG_CONFIG_HOME").filter(|d| d.starts_with('/')) {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env.get("HOME").filter(|h| !h.is_empty())?).join(".config"),
    };
    Some(base.join("cognitod/config.json"))
}

/// The profile layer: `-f` or `~/.aws/cognito_credentials`, profile `-p` or `default`.
fn profile_layer(
    args: &ServeArgs,
    env: &Environment,
    files: &FileAccess,
) -> Result<Layer, ConfigError> {
    let explicit = args.cognito_profile.is_some() || args.cognito_credentials_file.is_some();
    let name = args.cognito_profile.as_deref().unwrap_or("default");
    let home = env.get("HOME").filter(|h| !h.is_empty());
    let path = match (&args.cognito_credentials_file, home) {
        (Some(path), _) => path.clone(),
        (None, Some(home)) => Path::new(home).join(".aws/cognito_credentials"),
        (None, None) if explicit => {
            let name = format!("profile {name:?} was asked for");
            let problem = name + ", but HOME is not set to find ~/.aws/cognito_credentials";
            let fix = "name the file with -f/--cognito-credentials-file";
            return Err(ConfigError::invalid(
                "flag -p/--cognito-profile",
                problem,
                fix,
            ));
        }
        (None, None) => return Ok(Layer::default()),
    };
    let path = &path;
    profile::load(
        &profile::Request {
            path,
            name,
            explicit,
        },
        files,
    )
}

/// Secrets that systemd passes as files (`LoadCredential=`, `SetCredentialEncrypted=`), named as
/// their keys.
fn credentials_layer(dir: &Path, files: &FileAccess) -> Result<Layer, ConfigError> {
    let mut layer = Layer::default();
    for key in KEYS.iter().filter(|k| k.credential) {
        let path = dir.join(key.name());
        let origin = Origin::Credential { path: path.clone() };
        let holds = key.holds.unwrap_or("a secret");
        if let Some(secret) = files.read_secret(&path, &origin, holds)? {
            (key.set)(&mut layer, Input::Secret(secret), origin)?;
        }
    }
    Ok(layer)
}

/// The COGNITO_* variables (and AWS_ROLE_ARN, which the original's README promised).
fn env_layer(env: &Environment) -> Result<Layer, ConfigError> {
    let mut layer = Layer::default();
    for key in KEYS {
        // Lowest first, so that the specific name beats the generic AWS one.
        for name in key.env.iter().rev() {
            if let Some((input, origin)) = env.setting(name)? {
                (key.set)(&mut layer, input, origin)?;
            }
        }
    }
    Ok(layer)
}

/// The region AWS tools would use, which ranks below an explicit region from any source.
fn fallback_region(env: &Environment) -> Result<Option<Setting<String>>, ConfigError> {
    for name in ["AWS_REGION", "AWS_DEFAULT_REGION"] {
        if let Some((Input::Text(text), origin)) = env.setting(name)? {
            let value = values::region(text, &origin)?;
            return Ok(Some(Setting { value, origin }));
        }
    }
    Ok(None)
}

/// `-e`: the environment alone must be enough to sign in. All missing variables are listed at once
/// so one attempt is enough to fix them.
fn require_complete_env(env: &Environment, merged: &Layer) -> Result<(), ConfigError> {
    let iam = merged.credential_type.as_ref();
    let iam = iam.map_or(true, |s| s.value == CredentialType::Iam);
    let mut needed = vec!["username", "password", "user_pool_id", "app_id"];
    needed.extend(iam.then_some("identity_pool_id"));
    let variable = |name: &str| key(&format!("cognito.{name}")).env[0];
    let unset = |name: &&str| env.get(name).map_or(true, str::is_empty);
    let missing: Vec<&str> = needed.into_iter().map(variable).filter(unset).collect();
    let verb = match missing.len() {
        0 => return Ok(()),
        1 => "is",
        _ => "are",
    };
    let problem = "the environment must hold every sign-in setting, but";
    let problem = format!("{problem} {} {verb} not set", missing.join(", "));
    let fix = "export them, or drop -e to take them from the config file, the profile or systemd \
               credentials";
    let at = Origin::Flag {
        name: "-e/--use-env",
    };
    Err(ConfigError::invalid(at, problem, fix))
}

/// The command line, the highest layer.
fn flag_layer(
    args: &ServeArgs,
    files: &FileAccess,
    warnings: &mut Vec<String>,
) -> Result<Layer, ConfigError> {
    let mut layer = Layer::default();
    for key in KEYS {
        let value = key.flag.and_then(|(name, get)| Some((name, get(args)?)));
        let path = key
            .flag_path
            .and_then(|(name, get)| Some((name, get(args)?)));
        match (value, path) {
            (Some((name, _)), Some((path_flag, _))) => {
                let at = format!("flags {name} and {path_flag}");
                return Err(file::both(at, "given", &format!("keep {path_flag}")));
            }
            (Some((name, input)), None) => {
                if let (Some(holds), Some((path_flag, _))) = (key.holds, key.flag_path) {
                    warnings.push(format!(
                        "{holds} given with {name} is visible to every local user (ps, /proc); \
                         use {path_flag} or the systemd credential {}",
                        key.name()
                    ));
                }
                (key.set)(&mut layer, input, Origin::Flag { name })?;
            }
            (None, Some((name, path))) => {
                let origin = Origin::Flag { name };
                let holds = key.holds.unwrap_or("a secret");
                let secret = files.require_secret(path, &origin, holds)?;
                (key.set)(&mut layer, Input::Secret(secret), origin)?;
            }
            (None, None) => {}
        }
    }
    Ok(layer)
}

#[cfg(test)]
mod tests {
    use crate::cli::TcpArgs;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    use super::*;
    use crate::config::{ListenerConfig, DEFAULT_TCP_PORT};
    use crate::transport::Transport;

    const POOL: &str = "us-east-1_AbC123";
    const IDENTITY_POOL: &str = "us-east-1:0e4b1c9a-2f4d-4a8b-9c3d-5e6f7a8b9c0d";

    fn write(path: &Path, text: &str, mode: u32) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    }

    /// A config file, a profile, a systemd credentials directory and an environment that each set
    /// some of the same keys, so tests can drop layers one by one.
    struct Stack {
        dir: tempfile::TempDir,
        env: BTreeMap<String, String>,
        args: ServeArgs,
    }

    impl Stack {
        fn new() -> Self {
            let dir = tempfile::tempdir().unwrap();
            let root = dir.path();
            write(
                &root.join("config.json"),
                &format!(
                    r#"{{"global": {{"auth_secret": "sec-file", "retries": 2}},
                        "server": {{"port": 1111}},
                        "cognito": {{"username": "file-user", "password": "pw-file", "app_id": "file-app",
                                     "region": "us-west-1", "user_pool_id": "{POOL}",
                                     "identity_pool_id": "{IDENTITY_POOL}", "role_session_name": "file-session"}}}}"#
                ),
                0o600,
            );
            write(
                &root.join("home/.aws/cognito_credentials"),
                "[default]\nusername = profile-user\npassword = pw-profile\nregion = us-west-2\n\
                 role_session_name = profile-session\n",
                0o600,
            );
            write(&root.join("creds/password"), "pw-cred\n", 0o400);
            write(&root.join("creds/auth_secret"), "sec-cred\n", 0o400);
            let env = BTreeMap::from([
                ("HOME".to_owned(), root.join("home").display().to_string()),
                (
                    "CREDENTIALS_DIRECTORY".to_owned(),
                    root.join("creds").display().to_string(),
                ),
                ("COGNITO_PASSWORD".to_owned(), "pw-env".to_owned()),
                ("COGNITO_REGION".to_owned(), "eu-west-1".to_owned()),
                (
                    "COGNITO_ROLE_SESSION_NAME".to_owned(),
                    "env-session".to_owned(),
                ),
            ]);
            let args = ServeArgs {
                config_file: Some(root.join("config.json")),
                auth_secret: Some("sec-flag".into()),
                tcp: TcpArgs {
                    port: Some(2222),
                    ..Default::default()
                },
                server_type: vec![Transport::Tcp],
                retries: Some(7),
                ..ServeArgs::default()
            };
            Stack { dir, env, args }
        }

        fn load(&self) -> Config {
            load(&self.args, &Environment::from_pairs(self.env.clone())).unwrap()
        }

        fn drop_flags(&mut self) {
            let config_file = self.args.config_file.take();
            self.args = ServeArgs {
                config_file,
                server_type: vec![Transport::Tcp],
                ..ServeArgs::default()
            };
        }

        fn drop_env(&mut self) {
            self.env.retain(|k, _| !k.starts_with("COGNITO_"));
        }

        fn drop_credentials(&mut self) {
            self.env.remove("CREDENTIALS_DIRECTORY");
        }

        fn drop_profile(&mut self) {
            self.env.remove("HOME");
        }
    }

    fn tcp_port(config: &Config) -> u16 {
        match &config.listeners[..] {
            [ListenerConfig::Tcp(tcp)] => tcp.port,
            other => panic!("expected one tcp listener, got {other:?}"),
        }
    }

    fn secret(config: &Config) -> &str {
        config.auth_secret.as_ref().unwrap().expose()
    }

    #[test]
    fn precedence_is_key_by_key_across_all_layers() {
        let mut stack = Stack::new();
        let c = stack.load();
        assert_eq!(c.cognito.password.expose(), "pw-env");
        assert_eq!(c.cognito.region, "eu-west-1");
        assert_eq!(c.cognito.role_session_name, "env-session");
        assert_eq!(secret(&c), "sec-flag");
        assert_eq!(tcp_port(&c), 2222);
        assert_eq!(c.retries, 7);
        // Keys no higher layer sets come from where they are set.
        assert_eq!(c.cognito.username, "profile-user");
        assert_eq!(c.cognito.app_id, "file-app");

        stack.drop_flags();
        let c = stack.load();
        assert_eq!(secret(&c), "sec-cred");
        assert_eq!(tcp_port(&c), 1111);
        assert_eq!(c.retries, 2);
        assert_eq!(c.cognito.password.expose(), "pw-env");

        stack.drop_env();
        let c = stack.load();
        assert_eq!(c.cognito.password.expose(), "pw-cred");
        assert_eq!(c.cognito.region, "us-west-2");
        assert_eq!(c.cognito.role_session_name, "profile-session");

        stack.drop_credentials();
        let c = stack.load();
        assert_eq!(c.cognito.password.expose(), "pw-profile");
        assert_eq!(secret(&c), "sec-file");

        stack.drop_profile();
        let c = stack.load();
        assert_eq!(c.cognito.password.expose(), "pw-file");
        assert_eq!(c.cognito.region, "us-west-1");
        assert_eq!(c.cognito.username, "file-user");
        assert_eq!(c.cognito.role_session_name, "file-session");

        stack.args.config_file = None;
        let err = load(&stack.args, &Environment::from_pairs(stack.env.clone())).unwrap_err();
        assert!(
            err.to_string().starts_with("missing username, password"),
            "{err}"
        );
        drop(stack.dir);
    }

    #[test]
    fn a_higher_sources_port_beats_a_lower_sources_tcp_port() {
        let stack = Stack::new();
        let path = stack.dir.path().join("config.json");
        write(
            &path,
            r#"{"server": {"tcp_port": 3333, "port": 1111}}"#,
            0o600,
        );
        let mut args = ServeArgs {
            config_file: Some(path),
            server_type: vec![Transport::Tcp],
            ..Default::default()
        };
        let env = Environment::from_pairs([
            ("COGNITO_USERNAME", "u"),
            ("COGNITO_PASSWORD", "p"),
            ("COGNITO_APP_ID", "a"),
            ("COGNITO_USER_POOL_ID", POOL),
            ("COGNITO_IDENTITY_POOL_ID", IDENTITY_POOL),
        ]);
        // Within one source the specific key wins...
        assert_eq!(tcp_port(&load(&args, &env).unwrap()), 3333);
        // ...and a flag beats the file.
        args.tcp.port = Some(4444);
        assert_eq!(tcp_port(&load(&args, &env).unwrap()), 4444);
        args.config_file = None;
        args.tcp.port = None;
        assert_eq!(tcp_port(&load(&args, &env).unwrap()), DEFAULT_TCP_PORT);
    }

    fn base_env() -> Vec<(&'static str, &'static str)> {
        vec![
            ("COGNITO_USERNAME", "alice"),
            ("COGNITO_PASSWORD", "hunter2-SECRET"),
            ("COGNITO_APP_ID", "app123"),
            ("COGNITO_USER_POOL_ID", POOL),
            ("COGNITO_IDENTITY_POOL_ID", IDENTITY_POOL),
        ]
    }

    fn load_env(extra: &[(&'static str, &'static str)]) -> Result<Config, ConfigError> {
        let mut pairs: BTreeMap<&str, &str> = base_env().into_iter().collect();
        pairs.extend(extra.iter().copied());
        load(&ServeArgs::default(), &Environment::from_pairs(pairs))
    }

    #[test]
    fn region_falls_back_to_aws_variables_then_the_pool() {
        assert_eq!(load_env(&[]).unwrap().cognito.region, "us-east-1");
        let c = load_env(&[("AWS_DEFAULT_REGION", "eu-west-3")]).unwrap();
        assert_eq!(c.cognito.region, "eu-west-3");
        assert!(c
            .warnings
            .iter()
            .any(|w| w.contains("is in region us-east-1, but the region is eu-west-3")));
        let c = load_env(&[
            ("AWS_DEFAULT_REGION", "eu-west-3"),
            ("AWS_REGION", "eu-west-2"),
        ])
        .unwrap();
        assert_eq!(c.cognito.region, "eu-west-2");
        let c = load_env(&[("AWS_REGION", "eu-west-2"), ("COGNITO_REGION", "us-east-1")]).unwrap();
        assert_eq!(c.cognito.region, "us-east-1");
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
        let err = load_env(&[("AWS_REGION", "Mars")]).unwrap_err().to_string();
        assert!(
            err.starts_with("environment variable AWS_REGION: \"Mars\" is not a region name"),
            "{err}"
        );
    }

    #[test]
    fn cognito_role_arn_beats_aws_role_arn() {
        let c = load_env(&[("AWS_ROLE_ARN", "arn:aws:iam::1:role/aws")]).unwrap();
        assert_eq!(
            c.cognito.role_arn.as_deref(),
            Some("arn:aws:iam::1:role/aws")
        );
        let c = load_env(&[
            ("AWS_ROLE_ARN", "arn:aws:iam::1:role/aws"),
            ("COGNITO_ROLE_ARN", "arn:aws:iam::1:role/c"),
        ])
        .unwrap();
        assert_eq!(c.cognito.role_arn.as_deref(), Some("arn:aws:iam::1:role/c"));
    }

    #[test]
    fn every_cognito_variable_is_read() {
        let c = load_env(&[
            ("COGNITO_CLIENT_SECRET", "cs"),
            ("COGNITO_METADATA", r#"{"a": "b"}"#),
            ("COGNITO_AUTH_TYPE", "USER_PASSWORD_AUTH"),
            ("COGNITO_AUTH_FLOW", "classic"),
            ("COGNITO_ROLE_ARN", "arn:aws:iam::1:role/r"),
            ("COGNITO_ROLE_EXPIRY_TIME", "900"),
            ("COGNITO_ROLE_SESSION_NAME", "s1"),
        ])
        .unwrap()
        .cognito;
        assert_eq!(c.client_secret.unwrap().expose(), "cs");
        assert_eq!(c.metadata.get("a").map(String::as_str), Some("b"));
        assert_eq!(c.auth_type, crate::config::AuthType::UserPassword);
        assert_eq!(c.auth_flow, crate::config::IdentityFlow::Classic);
        assert_eq!(c.role_expiry_time.as_secs(), 900);
        assert_eq!(c.role_session_name, "s1");
        let err = load_env(&[("COGNITO_METADATA", "{oops")])
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("environment variable COGNITO_METADATA: the value is not JSON"),
            "{err}"
        );
    }

    #[test]
    fn auth_secret_is_not_read_from_the_environment() {
        assert!(
            load_env(&[("COGNITOD_AUTH_SECRET", "x"), ("COGNITO_AUTH_SECRET", "x")])
                .unwrap()
                .auth_secret
                .is_none()
        );
    }

    #[test]
    fn empty_variables_count_as_unset() {
        let err = load_env(&[("COGNITO_PASSWORD", "")])
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("missing password;"), "{err}");
    }

    #[test]
    fn use_env_lists_every_missing_variable() {
        let args = ServeArgs {
            use_env: true,
            ..Default::default()
        };
        let env = Environment::from_pairs([("COGNITO_USERNAME", "alice"), ("COGNITO_APP_ID", "")]);
        let err = load(&args, &env).unwrap_err().to_string();
        assert_eq!(
            err,
            "flag -e/--use-env: the environment must hold every sign-in setting, but COGNITO_PASSWORD, \
             COGNITO_USER_POOL_ID, COGNITO_APP_ID, COGNITO_IDENTITY_POOL_ID are not set; export them, or \
             drop -e to take them from the config file, the profile or systemd credentials"
        );
        // Tokens need no identity pool.
        let args = ServeArgs {
            use_env: true,
            credential_type: Some(CredentialType::Tokens),
            ..Default::default()
        };
        let env = Environment::from_pairs(
            base_env()
                .into_iter()
                .filter(|(k, _)| *k != "COGNITO_IDENTITY_POOL_ID"),
        );
        assert!(load(&args, &env).is_ok());
        let env = Environment::from_pairs([("COGNITO_USERNAME", "alice")]);
        let err = load(&args, &env).unwrap_err().to_string();
        assert!(
            err.contains("COGNITO_APP_ID are not set") && !err.contains("IDENTITY"),
            "{err}"
        );
    }

    #[test]
    fn credentials_directory_supplies_the_config_file_and_secrets() {
        let dir = tempfile::tempdir().unwrap();
        let creds = dir.path().join("creds");
        // Mode 0440: systemd may grant access through an ACL, which shows as group bits.
        write(
            &creds.join("config"),
            &format!(
                r#"{{"cognito": {{"username": "u", "password": "pw-file", "app_id": "a",
                     "user_pool_id": "{POOL}", "identity_pool_id": "{IDENTITY_POOL}"}},
                    "global": {{"server_type": "http"}}}}"#
            ),
            0o440,
        );
        write(&creds.join("password"), "pw-cred\n", 0o440);
        write(&creds.join("client_secret"), "cs-cred", 0o400);
        let env = Environment::from_pairs([("CREDENTIALS_DIRECTORY", creds.display().to_string())]);
        let c = load(&ServeArgs::default(), &env).unwrap();
        assert!(matches!(c.listeners[..], [ListenerConfig::Http(_)]));
        assert_eq!(c.cognito.password.expose(), "pw-cred");
        assert_eq!(c.cognito.client_secret.unwrap().expose(), "cs-cred");

        write(&creds.join("auth_secret"), "\n", 0o400);
        let err = load(&ServeArgs::default(), &env).unwrap_err().to_string();
        let path = creds.join("auth_secret");
        assert!(
            err.starts_with(&format!(
                "{} (named by systemd credential {})",
                path.display(),
                path.display()
            )),
            "{err}"
        );
        assert!(err.contains("the file is empty"), "{err}");
    }

    #[test]
    fn the_auth_secret_credential_stands_in_for_an_unreadable_secret_file() {
        // Under systemd the config names the root-only secret file; the service reads the copy
        // systemd passes as the credential auth_secret instead.
        let dir = tempfile::tempdir().unwrap();
        let creds = dir.path().join("creds");
        write(
            &creds.join("config"),
            &format!(
                r#"{{"cognito": {{"username": "u", "password": "pw", "app_id": "a",
                     "user_pool_id": "{POOL}", "identity_pool_id": "{IDENTITY_POOL}"}},
                    "global": {{"auth_secret_file": "/nonexistent/auth-secret"}}}}"#
            ),
            0o400,
        );
        let env = Environment::from_pairs([("CREDENTIALS_DIRECTORY", creds.display().to_string())]);
        let err = load(&ServeArgs::default(), &env).unwrap_err().to_string();
        assert!(err.contains("/nonexistent/auth-secret"), "{err}");
        write(&creds.join("auth_secret"), "from-credential\n", 0o400);
        let c = load(&ServeArgs::default(), &env).unwrap();
        assert_eq!(c.auth_secret.unwrap().expose(), "from-credential");
    }

    #[test]
    fn auth_secret_flag_warns_and_conflicts_with_the_file_flag() {
        let args = ServeArgs {
            auth_secret: Some("s3cr3t-flag".into()),
            ..Default::default()
        };
        let env = Environment::from_pairs(base_env());
        let c = load(&args, &env).unwrap();
        assert_eq!(
            c.warnings,
            ["the shared secret given with -a/--auth-secret is visible to every local user (ps, /proc); \
              use --auth-secret-file or the systemd credential auth_secret"]
        );
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("secret");
        write(&file, "from-file\n", 0o600);
        let both = ServeArgs {
            auth_secret_file: Some(file.clone()),
            ..args
        };
        let err = load(&both, &env).unwrap_err().to_string();
        assert!(
            err.contains("-a/--auth-secret and --auth-secret-file")
                && err.contains("keep --auth-secret-file")
        );
        assert!(!err.contains("s3cr3t-flag"));
        let file_only = ServeArgs {
            auth_secret_file: Some(file.clone()),
            ..Default::default()
        };
        assert_eq!(
            load(&file_only, &env)
                .unwrap()
                .auth_secret
                .unwrap()
                .expose(),
            "from-file"
        );
        write(&file, "from-file\n", 0o640);
        let err = load(&file_only, &env).unwrap_err().to_string();
        assert!(
            err.contains(&format!("chmod 600 {}", file.display())),
            "{err}"
        );
        let empty = ServeArgs {
            auth_secret: Some("".into()),
            ..Default::default()
        };
        let err = load(&empty, &env).unwrap_err().to_string();
        assert!(
            err.starts_with("flag -a/--auth-secret: the value is empty"),
            "{err}"
        );
    }

    #[test]
    fn explicit_profile_must_exist() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("creds.ini");
        write(
            &file,
            "[default]\nusername = d\n[profile dev]\nusername = e\n",
            0o600,
        );
        let args = ServeArgs {
            cognito_credentials_file: Some(file.clone()),
            cognito_profile: Some("prod".into()),
            ..Default::default()
        };
        let err = load(&args, &Environment::from_pairs(base_env()))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with(&file.display().to_string()), "{err}");
        assert!(
            err.contains("no profile \"prod\" (its profiles are default, dev)"),
            "{err}"
        );
        // No HOME and no -f: nowhere to look.
        let args = ServeArgs {
            cognito_profile: Some("dev".into()),
            ..Default::default()
        };
        let err = load(&args, &Environment::from_pairs(base_env()))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("HOME is not set") && err.contains("-f/--cognito-credentials-file"),
            "{err}"
        );
        // The default file under HOME, profile chosen with -p; the environment still wins.
        write(
            &dir.path().join(".aws/cognito_credentials"),
            "[profile dev]\nusername = e\napp_id = p\n",
            0o600,
        );
        let env = Environment::from_pairs(
            base_env()
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .chain([("HOME".to_owned(), dir.path().display().to_string())]),
        );
        let c = load(&args, &env).unwrap();
        assert_eq!(c.cognito.username, "alice");
    }

    #[test]
    fn no_error_shows_a_secret() {
        let secret = "hunter2-SECRET";
        let dir = tempfile::tempdir().unwrap();
        let json = |name: &str, text: String, mode| {
            let path = dir.path().join(name);
            write(&path, &text, mode);
            ServeArgs {
                config_file: Some(path),
                ..Default::default()
            }
        };
        let cases = [
            json(
                "exposed.json",
                format!(r#"{{"cognito": {{"password": "{secret}"}}}}"#),
                0o644,
            ),
            json(
                "bad-mode.json",
                format!(
                    r#"{{"cognito": {{"password": "{secret}"}}, "server": {{"permissions": "9"}}}}"#
                ),
                0o600,
            ),
            json(
                "typo.json",
                format!(r#"{{"cognito": {{"password": "{secret}", "pasword": "{secret}"}}}}"#),
                0o600,
            ),
            json(
                "syntax.json",
                format!(r#"{{"cognito": {{"password": "{secret}" "x": 1}}}}"#),
                0o600,
            ),
            json(
                "type.json",
                format!(r#"{{"global": {{"auth_secret": ["{secret}"]}}}}"#),
                0o600,
            ),
            json(
                "both.json",
                format!(r#"{{"global": {{"auth_secret": "{secret}", "auth_secret_file": "/x"}}}}"#),
                0o600,
            ),
            json(
                "missing.json",
                format!(r#"{{"cognito": {{"client_secret": "{secret}"}}}}"#),
                0o600,
            ),
        ];
        for args in cases {
            let err = load(&args, &Environment::default())
                .unwrap_err()
                .to_string();
            assert!(!err.contains(secret), "{err}");
            assert!(!err.contains('\n'), "{err}");
        }
        let ini = dir.path().join("p.ini");
        write(
            &ini,
            &format!("[default]\npassword = {secret}\nbad key = {secret}\n"),
            0o600,
        );
        let args = ServeArgs {
            cognito_credentials_file: Some(ini),
            ..Default::default()
        };
        let err = load(&args, &Environment::default())
            .unwrap_err()
            .to_string();
        assert!(!err.contains(secret), "{err}");
        let env = Environment::from_pairs([("COGNITO_PASSWORD", secret)]);
        let err = load(&ServeArgs::default(), &env).unwrap_err().to_string();
        assert!(!err.contains(secret), "{err}");
        assert!(!format!("{env:?}").contains(secret));
    }
}
