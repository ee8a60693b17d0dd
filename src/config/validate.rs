//! The stacked layers to a [`Config`]: defaults, the checks that relate several keys (listeners and
//! their ports, what IAM credentials and the classic flow need, the region), and user and group
//! names looked up on this system. Checks of a single value were done when it was read (`values`).

use std::path::PathBuf;
use std::time::Duration;

use nix::unistd::{Group, User};

use super::error::{ConfigError, Origin, Setting};
use super::keys::{key, Layer};
use super::values::{self, Principal};
use super::PeerPolicy;
use super::{
    AuthType, CognitoConfig, Config, CredentialType, IdentityFlow, ListenerConfig, TcpConfig,
    Transport, UnixSocketConfig, DEFAULT_HTTP_PORT, DEFAULT_RETRIES, DEFAULT_SOCKET_MODE,
    DEFAULT_SOCKET_PATH, DEFAULT_TCP_PORT,
};

/// Session name of AssumeRoleWithWebIdentity when none is set; it shows up in CloudTrail.
const DEFAULT_ROLE_SESSION_NAME: &str = "cognitod";
/// Lifetime of classic-flow credentials when none is set (STS's own default).
const DEFAULT_ROLE_EXPIRY: Duration = Duration::from_secs(3600);

/// Checks the stacked layers and fills in defaults. `fallback_region` is AWS_REGION or
/// AWS_DEFAULT_REGION, used only when no source sets a region; `warnings` holds those found while
/// reading the sources.
pub(super) fn validate(
    mut layer: Layer,
    fallback_region: Option<Setting<String>>,
    mut warnings: Vec<String>,
) -> Result<Config, ConfigError> {
    let credential_type = layer
        .credential_type
        .as_ref()
        .map_or(CredentialType::Iam, |s| s.value);
    let listeners = listeners(&layer, &mut warnings)?;
    let auth_secret = layer.auth_secret.take().map(|s| s.value);
    let retries = layer.retries.take().map_or(DEFAULT_RETRIES, |s| s.value);
    let expose_refresh_token = layer.expose_refresh_token.take().is_some_and(|s| s.value);
    let imds = layer.imds.take();
    if let (Some(imds), Some(_)) = (&imds, &auth_secret) {
        if imds.value {
            return Err(ConfigError::invalid(
                imds.origin.clone(),
                "IMDS cannot be combined with a shared secret: SDKs send no secret to IMDS, so \
                 it would hand credentials to anyone who reaches the http port",
                "use the container endpoint /ecs (it takes the secret), or drop the shared secret",
            ));
        }
    }
    let imds = imds.is_some_and(|s| s.value);
    let allow_no_secret = layer.allow_no_secret.take().is_some_and(|s| s.value);
    let allowed_hosts = layer
        .allowed_hosts
        .take()
        .map(|s| s.value)
        .unwrap_or_default();
    let peers = peer_policy(&layer)?;
    let cognito = cognito(layer, credential_type, fallback_region, &mut warnings)?;
    Ok(Config {
        listeners,
        credential_type,
        auth_secret,
        retries,
        expose_refresh_token,
        imds,
        allow_no_secret,
        allowed_hosts,
        peers,
        cognito,
        warnings,
    })
}

/// The listeners, in the order their types were given, each once.
fn listeners(
    layer: &Layer,
    warnings: &mut Vec<String>,
) -> Result<Vec<ListenerConfig>, ConfigError> {
    let given = layer
        .server_types
        .as_ref()
        .map_or(&[Transport::Unix][..], |s| &s.value[..]);
    let mut types = Vec::new();
    for kind in given {
        if !types.contains(kind) {
            types.push(*kind);
        }
    }
    let has = |kind| types.contains(&kind);
    warn_unused(
        layer,
        has(Transport::Unix),
        has(Transport::Tcp),
        has(Transport::Http),
        warnings,
    );

    let (tcp_port, http_port) = ports(layer, has(Transport::Tcp) && has(Transport::Http))?;
    let addresses = layer
        .host
        .as_ref()
        .map_or_else(values::loopbacks, |s| s.value.clone());
    let tcp = |port, default| TcpConfig {
        addresses: addresses.clone(),
        port: port_or(port, default),
    };
    types
        .iter()
        .map(|kind| match kind {
            Transport::Unix => Ok(ListenerConfig::Unix(unix_socket(layer)?)),
            Transport::Tcp => Ok(ListenerConfig::Tcp(tcp(&tcp_port, DEFAULT_TCP_PORT))),
            Transport::Http => Ok(ListenerConfig::Http(tcp(&http_port, DEFAULT_HTTP_PORT))),
        })
        .collect()
}

/// The explicit ports of the tcp and the http listener. A listener's own key (`tcp_port`) wins
/// over `port` from the same source, but a higher source's `port` (-P) wins over a lower source's
/// `tcp_port`, as precedence promises. With both listeners, they must not end up on one port.
fn ports(layer: &Layer, both: bool) -> Result<(Port, Port), ConfigError> {
    let pick = |own: &Port| match (own, &layer.port) {
        (Some(own), Some(port)) if port.origin.rank() > own.origin.rank() => Some(port.clone()),
        (Some(own), _) => Some(own.clone()),
        (None, port) => port.clone(),
    };
    let (tcp, http) = (pick(&layer.tcp_port), pick(&layer.http_port));
    let port = port_or(&tcp, DEFAULT_TCP_PORT);
    if !both || port != port_or(&http, DEFAULT_HTTP_PORT) {
        return Ok((tcp, http));
    }
    let describe = |s: &Port, kind| {
        s.as_ref()
            .map_or(format!("the default {kind} port"), |s| s.origin.to_string())
    };
    let (tcp_from, http_from) = (describe(&tcp, "tcp"), describe(&http, "http"));
    let at = if tcp_from == http_from {
        tcp_from
    } else {
        format!("{tcp_from} and {http_from}")
    };
    Err(ConfigError::invalid(
        at,
        format!("the tcp and the http listener would both use port {port}"),
        "give each its own port with --tcp-port and --http-port, or server.tcp_port and \
         server.http_port in the config file (server.port and -P/--port set the port of both)",
    ))
}

/// An explicit port and where it was set, or `None` for the listener's default.
type Port = Option<Setting<u16>>;

fn port_or(port: &Port, default: u16) -> u16 {
    port.as_ref().map_or(default, |s| s.value)
}

fn unix_socket(layer: &Layer) -> Result<UnixSocketConfig, ConfigError> {
    Ok(UnixSocketConfig {
        path: layer
            .socket_path
            .as_ref()
            .map_or_else(|| PathBuf::from(DEFAULT_SOCKET_PATH), |s| s.value.clone()),
        owner: layer
            .user
            .as_ref()
            .map(|s| lookup(&s.value, &s.origin, Kind::User))
            .transpose()?,
        group: layer
            .group
            .as_ref()
            .map(|s| lookup(&s.value, &s.origin, Kind::Group))
            .transpose()?,
        mode: layer
            .permissions
            .as_ref()
            .map_or(DEFAULT_SOCKET_MODE, |s| s.value),
    })
}

/// Settings of listeners that are not configured do nothing; say so, since the original's
/// `-c tcp.json` starting a unix socket shows how easily that goes unnoticed.
fn warn_unused(layer: &Layer, unix: bool, tcp: bool, http: bool, warnings: &mut Vec<String>) {
    let groups = [
        (
            unix,
            "unix",
            vec![
                origin(&layer.socket_path),
                origin(&layer.permissions),
                origin(&layer.user),
                origin(&layer.group),
            ],
        ),
        (
            tcp || http,
            "tcp or http",
            vec![origin(&layer.host), origin(&layer.port)],
        ),
        (tcp, "tcp", vec![origin(&layer.tcp_port)]),
        (http, "http", vec![origin(&layer.http_port)]),
    ];
    for (used, listener, origins) in groups {
        for origin in origins.into_iter().flatten().filter(|_| !used) {
            warnings.push(format!(
                "{origin} is ignored: no {listener} listener is configured \
                 (see server_type, -s/--server-type)"
            ));
        }
    }
}

/// Where a key was set, if it was.
fn origin<T>(setting: &Option<Setting<T>>) -> Option<&Origin> {
    setting.as_ref().map(|s| &s.origin)
}

/// The unix socket's allow-lists, names resolved; `None` when neither list is set.
fn peer_policy(layer: &Layer) -> Result<Option<PeerPolicy>, ConfigError> {
    if layer.allowed_users.is_none() && layer.allowed_groups.is_none() {
        return Ok(None);
    }
    let resolve = |setting: &Option<Setting<Vec<Principal>>>, kind| {
        let Some(Setting { value, origin }) = setting else {
            return Ok(Vec::new());
        };
        value.iter().map(|p| lookup(p, origin, kind)).collect()
    };
    Ok(Some(PeerPolicy {
        uids: resolve(&layer.allowed_users, Kind::User)?,
        gids: resolve(&layer.allowed_groups, Kind::Group)?,
        unmapped: None,
    }))
}

/// Which database a name is looked up in.
#[derive(Clone, Copy)]
pub(super) enum Kind {
    User,
    Group,
}

/// A uid or gid as given, or a name looked up in the system's user or group database.
pub(super) fn lookup(value: &Principal, at: &Origin, kind: Kind) -> Result<u32, ConfigError> {
    let name = match value {
        Principal::Id(id) => return Ok(*id),
        Principal::Name(name) => name,
    };
    let (what, found) = match kind {
        Kind::User => (
            "user",
            User::from_name(name).map(|u| u.map(|u| u.uid.as_raw())),
        ),
        Kind::Group => (
            "group",
            Group::from_name(name).map(|g| g.map(|g| g.gid.as_raw())),
        ),
    };
    match found {
        Ok(Some(id)) => Ok(id),
        Ok(None) => Err(ConfigError::invalid(
            at,
            format!("there is no {what} named {name:?} on this system"),
            format!("create the {what}, correct the name, or give a numeric id"),
        )),
        Err(errno) => Err(ConfigError::invalid(
            at,
            format!("looking up {what} {name:?} failed ({errno})"),
            "check the system's user database (NSS), or give a numeric id",
        )),
    }
}

/// The Cognito settings: required keys, region, flows, defaults.
fn cognito(
    layer: Layer,
    credential_type: CredentialType,
    fallback_region: Option<Setting<String>>,
    warnings: &mut Vec<String>,
) -> Result<CognitoConfig, ConfigError> {
    let iam = credential_type == CredentialType::Iam;
    let auth_flow = layer
        .auth_flow
        .as_ref()
        .map_or(IdentityFlow::Enhanced, |s| s.value);

    let mut missing = Vec::new();
    for (key, unset) in [
        ("username", layer.username.is_none()),
        ("password", layer.password.is_none()),
        ("app_id", layer.app_id.is_none()),
        ("user_pool_id", layer.user_pool_id.is_none()),
    ] {
        if unset {
            missing.push(Missing {
                key,
                why: String::new(),
            });
        }
    }
    if iam && layer.identity_pool_id.is_none() {
        let from = layer
            .credential_type
            .as_ref()
            .map_or("the default".to_owned(), |s| s.origin.to_string());
        missing.push(Missing {
            key: "identity_pool_id",
            why: format!(
                " (credential type iam, from {from}, needs an identity pool; tokens does not)"
            ),
        });
    }
    if iam && auth_flow == IdentityFlow::Classic && layer.role_arn.is_none() {
        let from = layer
            .auth_flow
            .as_ref()
            .map(|s| s.origin.to_string())
            .unwrap_or_default();
        missing.push(Missing {
            key: "role_arn",
            why: format!(
                " (auth_flow classic, from {from}, needs a role to assume; enhanced does not)"
            ),
        });
    }
    if !missing.is_empty() {
        return Err(missing_error(&missing));
    }
    let (Some(username), Some(password), Some(app_id), Some(user_pool_id)) = (
        layer.username,
        layer.password,
        layer.app_id,
        layer.user_pool_id,
    ) else {
        unreachable!("missing required keys were reported above");
    };

    let region = match layer.region.or(fallback_region) {
        Some(region) => {
            warn_region_mismatch(
                &region,
                &user_pool_id,
                layer.identity_pool_id.as_ref(),
                warnings,
            );
            region.value
        }
        // Well-formed user pool ids start with their region, so this is the last resort.
        None => values::pool_region(&user_pool_id.value).to_owned(),
    };

    Ok(CognitoConfig {
        username: username.value,
        password: password.value,
        app_id: app_id.value,
        client_secret: layer.client_secret.map(|s| s.value),
        totp_secret: layer.totp_secret.map(|s| s.value),
        user_pool_id: user_pool_id.value,
        identity_pool_id: layer.identity_pool_id.map(|s| s.value),
        region,
        role_arn: layer.role_arn.map(|s| s.value),
        auth_type: layer.auth_type.map_or(AuthType::UserSrp, |s| s.value),
        metadata: layer.metadata.map(|s| s.value).unwrap_or_default(),
        auth_flow,
        role_session_name: layer
            .role_session_name
            .map_or_else(|| DEFAULT_ROLE_SESSION_NAME.to_owned(), |s| s.value),
        role_expiry_time: layer
            .role_expiry_time
            .map_or(DEFAULT_ROLE_EXPIRY, |s| s.value),
    })
}

/// A required key that no source set, and why it is required when that is not obvious.
struct Missing {
    key: &'static str,
    why: String,
}

/// One error for every missing key, each with the places it can be set.
fn missing_error(missing: &[Missing]) -> ConfigError {
    let keys: Vec<String> = missing
        .iter()
        .map(|m| format!("{}{}", m.key, m.why))
        .collect();
    let places: Vec<String> = missing
        .iter()
        .map(|m| {
            format!(
                "set {} as {}",
                m.key,
                key(&format!("cognito.{}", m.key)).places()
            )
        })
        .collect();
    ConfigError::missing(format!("missing {}", keys.join(", ")), places.join("; "))
}

/// A region that differs from the pools' own makes every Cognito call fail with "not found"; a
/// warning rather than an error, because local emulators do not always care.
fn warn_region_mismatch(
    region: &Setting<String>,
    user_pool_id: &Setting<String>,
    identity_pool_id: Option<&Setting<String>>,
    warnings: &mut Vec<String>,
) {
    for pool in std::iter::once(user_pool_id).chain(identity_pool_id) {
        let pool_region = values::pool_region(&pool.value);
        if pool_region != region.value {
            warnings.push(format!(
                "{}: {} is in region {pool_region}, but the region is {} (from {}); \
                 Cognito will not find the pool unless they agree",
                pool.origin, pool.value, region.value, region.origin
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::cli::{OwnerArgs, TcpArgs};
    use std::collections::BTreeMap;

    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

    use super::*;
    use crate::cli::ServeArgs;
    use crate::config::{load, Environment};

    const PASSWORD: &str = "hunter2-SECRET";

    fn env(extra: &[(&'static str, &'static str)], without: &[&str]) -> Environment {
        let mut pairs = BTreeMap::from([
            ("COGNITO_USERNAME", "alice"),
            ("COGNITO_PASSWORD", PASSWORD),
            ("COGNITO_APP_ID", "app123"),
            ("COGNITO_USER_POOL_ID", "us-east-1_AbC123"),
            (
                "COGNITO_IDENTITY_POOL_ID",
                "us-east-1:0e4b1c9a-2f4d-4a8b-9c3d-5e6f7a8b9c0d",
            ),
        ]);
        pairs.extend(extra.iter().copied());
        pairs.retain(|k, _| !without.contains(k));
        Environment::from_pairs(pairs)
    }

    fn with_flags(args: ServeArgs) -> Result<Config, ConfigError> {
        load(&args, &env(&[], &[]))
    }

    fn loopbacks() -> Vec<IpAddr> {
        vec![
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(Ipv6Addr::LOCALHOST),
        ]
    }

    #[test]
    fn defaults() {
        let c = with_flags(ServeArgs::default()).unwrap();
        assert_eq!(
            c.listeners,
            [ListenerConfig::Unix(UnixSocketConfig {
                path: DEFAULT_SOCKET_PATH.into(),
                owner: None,
                group: None,
                mode: DEFAULT_SOCKET_MODE,
            })]
        );
        assert_eq!(c.credential_type, CredentialType::Iam);
        assert!(c.auth_secret.is_none());
        assert_eq!(c.retries, DEFAULT_RETRIES);
        assert!(!c.expose_refresh_token);
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
        let g = c.cognito;
        assert_eq!(g.region, "us-east-1");
        assert_eq!(g.auth_type, AuthType::UserSrp);
        assert_eq!(g.auth_flow, IdentityFlow::Enhanced);
        assert_eq!(g.role_session_name, "cognitod");
        assert_eq!(g.role_expiry_time, Duration::from_secs(3600));
        assert!(g.metadata.is_empty() && g.role_arn.is_none() && g.client_secret.is_none());
    }

    #[test]
    fn localhost_means_both_loopbacks() {
        let args = ServeArgs {
            server_type: vec![Transport::Tcp],
            ..Default::default()
        };
        let c = with_flags(args.clone()).unwrap();
        assert_eq!(
            c.listeners,
            [ListenerConfig::Tcp(TcpConfig {
                addresses: loopbacks(),
                port: DEFAULT_TCP_PORT
            })]
        );
        let c = with_flags(ServeArgs {
            tcp: TcpArgs {
                host: Some("localhost".into()),
                ..Default::default()
            },
            ..args.clone()
        })
        .unwrap();
        assert_eq!(
            c.listeners,
            [ListenerConfig::Tcp(TcpConfig {
                addresses: loopbacks(),
                port: DEFAULT_TCP_PORT
            })]
        );
        let c = with_flags(ServeArgs {
            tcp: TcpArgs {
                host: Some("::".into()),
                ..Default::default()
            },
            ..args.clone()
        })
        .unwrap();
        assert_eq!(
            c.listeners,
            [ListenerConfig::Tcp(TcpConfig {
                addresses: vec![Ipv6Addr::UNSPECIFIED.into()],
                port: DEFAULT_TCP_PORT
            })]
        );
        let err = with_flags(ServeArgs {
            tcp: TcpArgs {
                host: Some("myhost".into()),
                ..Default::default()
            },
            ..args
        })
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("flag -H/--host: \"myhost\" is neither localhost nor an IP address"),
            "{err}"
        );
    }

    #[test]
    fn server_types_are_deduplicated_in_order() {
        let types = vec![Transport::Http, Transport::Unix, Transport::Http];
        let c = with_flags(ServeArgs {
            server_type: types,
            ..Default::default()
        })
        .unwrap();
        assert!(
            matches!(c.listeners[..], [ListenerConfig::Http(ref h), ListenerConfig::Unix(_)] if h.port == DEFAULT_HTTP_PORT)
        );
    }

    #[test]
    fn one_port_for_tcp_and_http_is_refused() {
        let both = vec![Transport::Tcp, Transport::Http];
        let c = with_flags(ServeArgs {
            server_type: both.clone(),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(c.listeners.len(), 2);
        let err = with_flags(ServeArgs {
            server_type: both.clone(),
            tcp: TcpArgs {
                port: Some(9000),
                ..Default::default()
            },
            ..Default::default()
        })
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with(
                "flag -P/--port: the tcp and the http listener would both use port 9000"
            ),
            "{err}"
        );
        assert!(
            err.contains("server.tcp_port and server.http_port"),
            "{err}"
        );
        let err = with_flags(ServeArgs {
            server_type: both,
            tcp: TcpArgs {
                port: Some(DEFAULT_HTTP_PORT),
                ..Default::default()
            },
            ..Default::default()
        })
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("flag -P/--port: the tcp"), "{err}");
    }

    #[test]
    fn unix_socket_settings_and_names() {
        let args = ServeArgs {
            socket_path: Some("/tmp/c.sock".into()),
            permissions: Some("0600".into()),
            owner: OwnerArgs {
                user: Some("root".into()),
                group: Some("0".into()),
            },
            ..Default::default()
        };
        let c = with_flags(args.clone()).unwrap();
        assert_eq!(
            c.listeners,
            [ListenerConfig::Unix(UnixSocketConfig {
                path: "/tmp/c.sock".into(),
                owner: Some(0),
                group: Some(0),
                mode: 0o600
            })]
        );
        let err = with_flags(ServeArgs {
            owner: OwnerArgs {
                user: Some("no-such-user-cognitod".into()),
                ..args.owner.clone()
            },
            ..args.clone()
        })
        .unwrap_err()
        .to_string();
        assert_eq!(
            err,
            "flag -u/--user: there is no user named \"no-such-user-cognitod\" on this system; create the user, \
             correct the name, or give a numeric id"
        );
        let err = with_flags(ServeArgs {
            owner: OwnerArgs {
                group: Some("no-such-group-cognitod".into()),
                ..args.owner.clone()
            },
            ..args.clone()
        })
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("flag -g/--group: there is no group named"),
            "{err}"
        );
        let err = with_flags(ServeArgs {
            permissions: Some("69x".into()),
            ..args
        })
        .unwrap_err()
        .to_string();
        assert_eq!(
            err,
            "flag --permissions: \"69x\" is not octal digits; write it like 600 or 0660"
        );
    }

    #[test]
    fn settings_of_absent_listeners_are_ignored_with_a_warning() {
        let c = with_flags(ServeArgs {
            tcp: TcpArgs {
                port: Some(5501),
                ..Default::default()
            },
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            c.warnings,
            ["flag -P/--port is ignored: no tcp or http listener is configured (see server_type, -s/--server-type)"]
        );
        // Not even looked up: an unknown owner of a socket that is not created is no error.
        let tcp_only = ServeArgs {
            server_type: vec![Transport::Tcp],
            socket_path: Some("/x".into()),
            owner: OwnerArgs {
                user: Some("no-such-user-cognitod".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        let c = with_flags(tcp_only).unwrap();
        assert!(
            c.warnings[0].starts_with("flag -S/--socket-path is ignored: no unix listener"),
            "{:?}",
            c.warnings
        );
        assert!(
            c.warnings[1].starts_with("flag -u/--user is ignored"),
            "{:?}",
            c.warnings
        );
    }

    #[test]
    fn missing_keys_are_listed_with_where_to_set_them() {
        let err = load(
            &ServeArgs::default(),
            &env(&[], &["COGNITO_PASSWORD", "COGNITO_IDENTITY_POOL_ID"]),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with(
                "missing password, identity_pool_id (credential type iam, from the default,"
            ),
            "{err}"
        );
        assert!(err.contains("set password as cognito.password in the config file, password in the profile, COGNITO_PASSWORD or the systemd credential password"), "{err}");
        assert!(err.contains("set identity_pool_id as cognito.identity_pool_id in the config file, identity_pool_id in the profile or COGNITO_IDENTITY_POOL_ID"), "{err}");
        let err = load(&ServeArgs::default(), &Environment::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("missing username, password, app_id, user_pool_id, identity_pool_id"),
            "{err}"
        );
        assert!(
            err.contains("COGNITO_USERNAME")
                && err.contains("COGNITO_APP_ID")
                && err.contains("COGNITO_USER_POOL_ID")
        );
    }

    #[test]
    fn tokens_need_no_identity_pool() {
        let args = ServeArgs {
            credential_type: Some(CredentialType::Tokens),
            ..Default::default()
        };
        let c = load(&args, &env(&[], &["COGNITO_IDENTITY_POOL_ID"])).unwrap();
        assert_eq!(c.credential_type, CredentialType::Tokens);
        assert!(c.cognito.identity_pool_id.is_none());
    }

    #[test]
    fn classic_flow_needs_a_role() {
        let err = load(
            &ServeArgs::default(),
            &env(&[("COGNITO_AUTH_FLOW", "classic")], &[]),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("missing role_arn (auth_flow classic, from environment variable COGNITO_AUTH_FLOW, needs a role"),
            "{err}"
        );
        assert!(err.contains("COGNITO_ROLE_ARN or AWS_ROLE_ARN"), "{err}");
        let c = load(
            &ServeArgs::default(),
            &env(
                &[
                    ("COGNITO_AUTH_FLOW", "classic"),
                    ("AWS_ROLE_ARN", "arn:aws:iam::1:role/r"),
                ],
                &[],
            ),
        );
        assert_eq!(c.unwrap().cognito.auth_flow, IdentityFlow::Classic);
    }

    #[test]
    fn retries_must_be_at_least_one() {
        let err = with_flags(ServeArgs {
            retries: Some(0),
            ..Default::default()
        })
        .unwrap_err()
        .to_string();
        assert_eq!(
            err,
            "flag -r/--retries: 0 attempts would never sign in; use 1 or more"
        );
    }

    #[test]
    fn summary_shows_no_secret() {
        let c = with_flags(ServeArgs {
            auth_secret: Some("shared-SECRET".into()),
            ..Default::default()
        })
        .unwrap();
        let summary = c.to_string();
        assert!(
            !summary.contains(PASSWORD) && !summary.contains("shared-SECRET"),
            "{summary}"
        );
        assert!(!format!("{c:?}").contains(PASSWORD));
    }
}
