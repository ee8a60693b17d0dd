//! The stacked layers to a [`Config`]: defaults, the rules that relate keys (listeners and their
//! ports, IMDS without a shared secret, what IAM credentials and the classic flow need, the
//! region), and user and group names looked up on this system. Checks of a single value were done
//! when it was read (`values`).

use std::time::Duration;

use nix::unistd::{Group, User};

use super::error::{ConfigError, Origin, Setting};
use super::keys::{key, Layer};
use super::values::{self, Principal};
use super::{
    AuthType, CognitoConfig, Config, CredentialType, IdentityFlow, ListenerConfig, PeerPolicy,
    TcpConfig, Transport, UnixSocketConfig, DEFAULT_HTTP_PORT, DEFAULT_RETRIES,
    DEFAULT_SOCKET_MODE, DEFAULT_SOCKET_PATH, DEFAULT_TCP_PORT,
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
    let credential_type = value(&layer.credential_type).unwrap_or(CredentialType::Iam);
    let listeners = listeners(&layer, &mut warnings)?;
    if let (Some(imds), Some(_)) = (&layer.imds, &layer.auth_secret) {
        if imds.value {
            let problem = "IMDS cannot be combined with a shared secret: SDKs send no secret to \
                           IMDS, so it would hand credentials to anyone who reaches the http port";
            let fix = "use the container endpoint /ecs (it takes the secret), or drop the shared \
                       secret";
            return Err(ConfigError::invalid(&imds.origin, problem, fix));
        }
    }
    let peers = peer_policy(&layer)?;
    Ok(Config {
        listeners,
        credential_type,
        auth_secret: owned(layer.auth_secret.take()),
        retries: value(&layer.retries).unwrap_or(DEFAULT_RETRIES),
        expose_refresh_token: value(&layer.expose_refresh_token).unwrap_or(false),
        imds: value(&layer.imds).unwrap_or(false),
        allow_no_secret: value(&layer.allow_no_secret).unwrap_or(false),
        allowed_hosts: owned(layer.allowed_hosts.take()).unwrap_or_default(),
        peers,
        cognito: cognito(layer, credential_type, fallback_region, &mut warnings)?,
        warnings,
    })
}

/// A copy of a setting's value.
fn value<T: Copy>(setting: &Option<Setting<T>>) -> Option<T> {
    setting.as_ref().map(|s| s.value)
}

/// A setting's value, without where it was set.
fn owned<T>(setting: Option<Setting<T>>) -> Option<T> {
    setting.map(|s| s.value)
}

/// The listeners, in the order their types were given, each once.
fn listeners(
    layer: &Layer,
    warnings: &mut Vec<String>,
) -> Result<Vec<ListenerConfig>, ConfigError> {
    let given = layer.server_type.as_ref();
    let mut types = Vec::new();
    for kind in given.map_or(&[Transport::Unix][..], |s| &s.value[..]) {
        if !types.contains(kind) {
            types.push(*kind);
        }
    }
    let has = |kind| types.contains(&kind);
    let (unix, tcp, http) = (
        has(Transport::Unix),
        has(Transport::Tcp),
        has(Transport::Http),
    );
    warn_unused(layer, [unix, tcp || http, tcp, http], warnings);

    let (tcp_port, http_port) = ports(layer, tcp && http)?;
    let addresses = layer.host.as_ref();
    let addresses = addresses.map_or_else(values::loopbacks, |s| s.value.clone());
    let on = |port| TcpConfig {
        addresses: addresses.clone(),
        port,
    };
    let listener = |kind: &Transport| match kind {
        Transport::Unix => Ok(ListenerConfig::Unix(unix_socket(layer)?)),
        Transport::Tcp => Ok(ListenerConfig::Tcp(on(tcp_port))),
        Transport::Http => Ok(ListenerConfig::Http(on(http_port))),
    };
    types.iter().map(listener).collect()
}

/// The ports of the tcp and the http listener. A listener's own key (`tcp_port`) wins over `port`
/// from the same source, but a higher source's `port` (-P) wins over a lower source's `tcp_port`,
/// as precedence promises. With both listeners, they must not end up on one port.
fn ports(layer: &Layer, both: bool) -> Result<(u16, u16), ConfigError> {
    let pick = |own: &Option<Setting<u16>>, default, kind| {
        match (own, &layer.port) {
            (Some(own), Some(port)) if port.origin.rank() > own.origin.rank() => Some(port),
            (Some(own), _) | (None, Some(own)) => Some(own),
            (None, None) => None,
        }
        .map_or((default, format!("the default {kind} port")), |s| {
            (s.value, s.origin.to_string())
        })
    };
    let (tcp, tcp_from) = pick(&layer.tcp_port, DEFAULT_TCP_PORT, "tcp");
    let (http, http_from) = pick(&layer.http_port, DEFAULT_HTTP_PORT, "http");
    if !both || tcp != http {
        return Ok((tcp, http));
    }
    let at = match tcp_from == http_from {
        true => tcp_from,
        false => format!("{tcp_from} and {http_from}"),
    };
    let problem = format!("the tcp and the http listener would both use port {tcp}");
    let fix = "give each its own port with --tcp-port and --http-port, or server.tcp_port and \
               server.http_port in the config file (server.port and -P/--port set the port of both)";
    Err(ConfigError::invalid(at, problem, fix))
}

fn unix_socket(layer: &Layer) -> Result<UnixSocketConfig, ConfigError> {
    let id = |s: &Option<Setting<Principal>>, kind| {
        let lookup = |s: &Setting<Principal>| lookup(&s.value, &s.origin, kind);
        s.as_ref().map(lookup).transpose()
    };
    let path = layer.socket_path.as_ref();
    Ok(UnixSocketConfig {
        path: path.map_or_else(|| DEFAULT_SOCKET_PATH.into(), |s| s.value.clone()),
        owner: id(&layer.user, Kind::User)?,
        group: id(&layer.group, Kind::Group)?,
        mode: value(&layer.permissions).unwrap_or(DEFAULT_SOCKET_MODE),
    })
}

/// Settings of listeners that are not configured do nothing; say so, since the original's
/// `-c tcp.json` starting a unix socket shows how easily that goes unnoticed. `used` says which
/// of unix, tcp or http, tcp, http run.
fn warn_unused(l: &Layer, used: [bool; 4], warnings: &mut Vec<String>) {
    let unix = [
        origin(&l.socket_path),
        origin(&l.permissions),
        origin(&l.user),
        origin(&l.group),
    ];
    let groups: [(&str, &[Option<&Origin>]); 4] = [
        ("unix", &unix),
        ("tcp or http", &[origin(&l.host), origin(&l.port)]),
        ("tcp", &[origin(&l.tcp_port)]),
        ("http", &[origin(&l.http_port)]),
    ];
    for ((listener, origins), _) in groups.iter().zip(used).filter(|(_, used)| !used) {
        for origin in origins.iter().flatten() {
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
    let resolve = |setting: &Option<Setting<Vec<Principal>>>, kind| match setting {
        Some(Setting { value, origin }) => value.iter().map(|p| lookup(p, origin, kind)).collect(),
        None => Ok(Vec::new()),
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
        Kind::User => ("user", User::from_name(name).map(|u| Some(u?.uid.as_raw()))),
        Kind::Group => (
            "group",
            Group::from_name(name).map(|g| Some(g?.gid.as_raw())),
        ),
    };
    let (problem, fix) = match found {
        Ok(Some(id)) => return Ok(id),
        Ok(None) => (
            format!("there is no {what} named {name:?} on this system"),
            format!("create the {what}, correct the name, or give a numeric id"),
        ),
        Err(errno) => (
            format!("looking up {what} {name:?} failed ({errno})"),
            "check the system's user database (NSS), or give a numeric id".to_owned(),
        ),
    };
    Err(ConfigError::invalid(at, problem, fix))
}

/// The Cognito settings: required keys, region, flows, defaults.
fn cognito(
    layer: Layer,
    credential_type: CredentialType,
    fallback_region: Option<Setting<String>>,
    warnings: &mut Vec<String>,
) -> Result<CognitoConfig, ConfigError> {
    let iam = credential_type == CredentialType::Iam;
    let auth_flow = value(&layer.auth_flow).unwrap_or(IdentityFlow::Enhanced);
    let from = |origin: Option<&Origin>| origin.map(|o| o.to_string());

    // Every required key that no source set, and why it is required when that is not obvious.
    let types = from(origin(&layer.credential_type)).unwrap_or("the default".into());
    let flow = from(origin(&layer.auth_flow)).unwrap_or_default();
    let missing: Vec<(&str, String)> = [
        ("username", layer.username.is_none(), String::new()),
        ("password", layer.password.is_none(), String::new()),
        ("app_id", layer.app_id.is_none(), String::new()),
        ("user_pool_id", layer.user_pool_id.is_none(), String::new()),
        (
            "identity_pool_id",
            iam && layer.identity_pool_id.is_none(),
            format!(
                " (credential type iam, from {types}, needs an identity pool; tokens does not)"
            ),
        ),
        (
            "role_arn",
            iam && auth_flow == IdentityFlow::Classic && layer.role_arn.is_none(),
            format!(" (auth_flow classic, from {flow}, needs a role to assume; enhanced does not)"),
        ),
    ]
    .into_iter()
    .filter_map(|(key, unset, why)| unset.then_some((key, why)))
    .collect();
    let (Some(username), Some(password), Some(app_id), Some(user_pool_id), true) = (
        layer.username,
        layer.password,
        layer.app_id,
        layer.user_pool_id,
        missing.is_empty(),
    ) else {
        return Err(missing_error(&missing));
    };

    let region = match layer.region.or(fallback_region) {
        // A region that differs from the pools' own makes every Cognito call fail with "not
        // found"; a warning rather than an error, because local emulators do not always care.
        Some(region) => {
            for pool in std::iter::once(&user_pool_id).chain(layer.identity_pool_id.as_ref()) {
                let pool_region = values::pool_region(&pool.value);
                if pool_region != region.value {
                    warnings.push(format!(
                        "{}: {} is in region {pool_region}, but the region is {} (from {}); \
                         Cognito will not find the pool unless they agree",
                        pool.origin, pool.value, region.value, region.origin
                    ));
                }
            }
            region.value
        }
        // Well-formed user pool ids start with their region, so this is the last resort.
        None => values::pool_region(&user_pool_id.value).to_owned(),
    };

    Ok(CognitoConfig {
        username: username.value,
        password: password.value,
        app_id: app_id.value,
        client_secret: owned(layer.client_secret),
        totp_secret: owned(layer.totp_secret),
        user_pool_id: user_pool_id.value,
        identity_pool_id: owned(layer.identity_pool_id),
        region,
        role_arn: owned(layer.role_arn),
        auth_type: value(&layer.auth_type).unwrap_or(AuthType::UserSrp),
        metadata: owned(layer.metadata).unwrap_or_default(),
        auth_flow,
        role_session_name: owned(layer.role_session_name)
            .unwrap_or_else(|| DEFAULT_ROLE_SESSION_NAME.to_owned()),
        role_expiry_time: value(&layer.role_expiry_time).unwrap_or(DEFAULT_ROLE_EXPIRY),
    })
}

/// One error for every missing key, each with the places it can be set.
fn missing_error(missing: &[(&str, String)]) -> ConfigError {
    let keys: Vec<String> = missing
        .iter()
        .map(|(key, why)| format!("{key}{why}"))
        .collect();
    let place = |(name, _): &(&str, _)| {
        let places = key(&format!("cognito.{name}")).places();
        format!("set {name} as {places}")
    };
    let places: Vec<String> = missing.iter().map(place).collect();
    ConfigError::missing(format!("missing {}", keys.join(", ")), places.join("; "))
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
