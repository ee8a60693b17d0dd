//! One source's settings before validation, and how the sources are stacked.
//!
//! Every source (config file, profile, systemd credentials, environment, flags) fills a [`Layer`]:
//! each key is either absent or a [`Setting`] that remembers where it was set, so the error about a
//! value found anywhere later can name its file and key, variable or flag. Stacking is key by key:
//! a higher layer replaces a key only when it sets that key.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::error::{one_line, ConfigError};
use super::values::Principal;
use super::{AuthType, CredentialType, IdentityFlow, ServerType};
use crate::secret::Secret;

/// Where a setting came from, with the key's name as that source spells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Origin {
    /// A key of the JSON config file, as a dotted path (`cognito.region`).
    File {
        /// The config file.
        path: PathBuf,
        /// The dotted key.
        key: &'static str,
    },
    /// A key of one section of the INI profile file.
    Profile {
        /// The profile file.
        path: PathBuf,
        /// The section header as written, without brackets (`profile dev`).
        section: String,
        /// The key.
        key: String,
    },
    /// A file in the systemd credentials directory.
    Credential {
        /// The credential file.
        path: PathBuf,
    },
    /// An environment variable.
    Env {
        /// Its name.
        name: &'static str,
    },
    /// A command-line flag.
    Flag {
        /// Its spelling, short and long (`-P/--port`).
        name: &'static str,
    },
}

impl Origin {
    /// Precedence of the source, higher wins. Only needed where two different keys compete for one
    /// value (`server.port` against `server.tcp_port`); elsewhere stacking order decides.
    pub(super) fn rank(&self) -> u8 {
        match self {
            Origin::File { .. } => 1,
            Origin::Profile { .. } => 2,
            Origin::Credential { .. } => 3,
            Origin::Env { .. } => 4,
            Origin::Flag { .. } => 5,
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File { path, key } => write!(f, "{}: {key}", path.display()),
            Origin::Profile { path, section, key } => {
                let (section, key) = (one_line(section), one_line(key));
                write!(f, "{}: [{section}] {key}", path.display())
            }
            Origin::Credential { path } => write!(f, "systemd credential {}", path.display()),
            Origin::Env { name } => write!(f, "environment variable {name}"),
            Origin::Flag { name } => write!(f, "flag {name}"),
        }
    }
}

/// A value and where it was set.
#[derive(Debug, Clone)]
pub(super) struct Setting<T> {
    /// The value, already checked on its own (format, range).
    pub value: T,
    /// Where it was set, for errors that only later checks find.
    pub origin: Origin,
}

/// Parses `text` with `parse` and stores it in `slot`, remembering `origin`: the one way every
/// text-based source (JSON strings, INI, environment) sets a key.
pub(super) fn put<T>(
    slot: &mut Option<Setting<T>>,
    text: &str,
    origin: Origin,
    parse: impl FnOnce(&str, &Origin) -> Result<T, ConfigError>,
) -> Result<(), ConfigError> {
    let value = parse(text, &origin)?;
    *slot = Some(Setting { value, origin });
    Ok(())
}

/// Declares [`Layer`] and its key-by-key stacking from one list, so a new key cannot be added to
/// the struct and forgotten in `overlay`.
macro_rules! layer {
    ($($(#[$doc:meta])* $key:ident: $ty:ty,)*) => {
        /// The settings of one source; `None` means the source does not set the key.
        #[derive(Debug, Default)]
        pub(super) struct Layer {
            $($(#[$doc])* pub $key: Option<Setting<$ty>>,)*
        }

        impl Layer {
            /// This layer with every key that `higher` sets replaced by `higher`'s value.
            pub(super) fn overlay(self, higher: Layer) -> Layer {
                Layer { $($key: higher.$key.or(self.$key),)* }
            }
        }
    };
}

layer! {
    /// Transports to listen on, in order (`global.server_type`, `-s`).
    server_types: Vec<ServerType>,
    /// IAM credentials or tokens (`global.credential_type`, `-C`).
    credential_type: CredentialType,
    /// Owner of the unix socket (`global.user`, `-u`).
    user: Principal,
    /// Group of the unix socket (`global.group`, `-g`).
    group: Principal,
    /// The shared secret, already read when it was given as a file: a secret and a secret file are
    /// one key, so a higher layer's file replaces a lower layer's value and the other way round.
    auth_secret: Secret,
    /// Whether tokens mode hands out the refresh token (`global.expose_refresh_token`).
    expose_refresh_token: bool,
    /// Attempts of the first sign-in (`global.retries`, `-r`).
    retries: u32,
    /// Whether the http listener also answers as IMDSv2 (`global.imds`, `--imds`).
    imds: bool,
    /// Whether tcp and http serve credentials without a shared secret (`global.allow_no_secret`,
    /// `--allow-no-secret`).
    allow_no_secret: bool,
    /// Extra Host header values the http listener accepts (`server.allowed_hosts`, `--allowed-host`).
    allowed_hosts: Vec<String>,
    /// Users whose processes may use the unix socket (`server.allowed_users`).
    allowed_users: Vec<Principal>,
    /// Primary groups whose processes may use the unix socket (`server.allowed_groups`).
    allowed_groups: Vec<Principal>,
    /// Addresses of the tcp and http listeners (`server.host`, `-H`).
    host: Vec<IpAddr>,
    /// Port of whichever tcp or http listener has no port of its own (`server.port`, `-P`).
    port: u16,
    /// Port of the tcp listener (`server.tcp_port`).
    tcp_port: u16,
    /// Port of the http listener (`server.http_port`).
    http_port: u16,
    /// Path of the unix socket (`server.socket_path`, `-S`).
    socket_path: PathBuf,
    /// Mode of the unix socket (`server.permissions`, `--permissions`).
    permissions: u32,
    /// Cognito user name.
    username: String,
    /// Cognito password.
    password: Secret,
    /// App client id.
    app_id: String,
    /// App client secret.
    client_secret: Secret,
    /// TOTP seed, for SOFTWARE_TOKEN_MFA.
    totp_secret: Secret,
    /// User pool id.
    user_pool_id: String,
    /// Identity pool id.
    identity_pool_id: String,
    /// Region set explicitly (not the AWS_REGION fallback, which ranks below every source).
    region: String,
    /// Role to ask the identity pool or STS for.
    role_arn: String,
    /// SRP or plain password sign-in.
    auth_type: AuthType,
    /// ClientMetadata.
    metadata: BTreeMap<String, String>,
    /// Session name of AssumeRoleWithWebIdentity.
    role_session_name: String,
    /// Enhanced or classic identity-pool flow.
    auth_flow: IdentityFlow,
    /// DurationSeconds of AssumeRoleWithWebIdentity.
    role_expiry_time: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flag(name: &'static str) -> Origin {
        Origin::Flag { name }
    }

    #[test]
    fn overlay_replaces_only_the_keys_the_higher_layer_sets() {
        let setting = |value: &str, origin| {
            Some(Setting {
                value: value.to_owned(),
                origin,
            })
        };
        let low = Layer {
            username: setting("low", Origin::Env { name: "A" }),
            app_id: setting("low-app", Origin::Env { name: "B" }),
            ..Layer::default()
        };
        let high = Layer {
            username: setting("high", flag("-x")),
            ..Layer::default()
        };

        let merged = low.overlay(high);
        assert_eq!(merged.username.unwrap().value, "high");
        assert_eq!(merged.app_id.unwrap().value, "low-app");
        assert!(merged.region.is_none());
    }

    #[test]
    fn origins_name_their_source_and_key() {
        let file = Origin::File {
            path: "/etc/c.json".into(),
            key: "cognito.region",
        };
        assert_eq!(file.to_string(), "/etc/c.json: cognito.region");
        let profile = Origin::Profile {
            path: "/h/.aws/cognito_credentials".into(),
            section: "profile dev".into(),
            key: "region".into(),
        };
        assert_eq!(
            profile.to_string(),
            "/h/.aws/cognito_credentials: [profile dev] region"
        );
        assert_eq!(
            Origin::Env {
                name: "COGNITO_REGION"
            }
            .to_string(),
            "environment variable COGNITO_REGION"
        );
        assert_eq!(flag("--permissions").to_string(), "flag --permissions");
        assert!(file.rank() < profile.rank() && profile.rank() < flag("-P").rank());
    }
}
