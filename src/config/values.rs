//! One key's text to its typed value, with an error that names where the text came from. Each check
//! here looks at one value only (format, range); checks that relate several keys are in
//! `validate`. Every source goes through these same functions, so a key means the same thing in the
//! config file, the profile, the environment and on the command line.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::time::Duration;

use clap::ValueEnum;
use serde_json::Value;

use super::error::{ConfigError, Origin};
use super::{AuthType, CredentialType, IdentityFlow, Transport};
use crate::secret::Secret;

/// DurationSeconds that STS AssumeRoleWithWebIdentity accepts (15 minutes to 12 hours).
pub(super) const ROLE_EXPIRY_SECONDS: RangeInclusive<u64> = 900..=43_200;

/// Longest unix socket path: `sun_path` holds 108 bytes including the terminating NUL.
const MAX_SOCKET_PATH: usize = 107;

/// A socket owner or group: a number, or a name looked up on this system during validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Principal {
    /// A uid or gid.
    Id(u32),
    /// A user or group name.
    Name(String),
}

/// One of `T`'s names, in any case, as clap reads the same flag; `what` names the kind of value
/// in the error, `fix` lists the names.
fn choice<T: ValueEnum>(text: &str, at: &Origin, what: &str, fix: &str) -> Result<T, ConfigError> {
    T::from_str(text, true)
        .map_err(|_| ConfigError::invalid(at, format!("{text:?} is not {what}"), fix))
}

/// One transport name.
pub(super) fn server_type(text: &str, at: &Origin) -> Result<Transport, ConfigError> {
    let fix = "use unix, tcp or http (or a list of them for several listeners)";
    choice(text, at, "a server type", fix)
}

/// `iam` or `tokens`.
pub(super) fn credential_type(text: &str, at: &Origin) -> Result<CredentialType, ConfigError> {
    let fix = "use iam (AWS credentials) or tokens (Cognito tokens)";
    choice(text, at, "a credential type", fix)
}

/// `user_srp`, `user_password` or `user_auth`; Cognito's own names (`USER_SRP_AUTH`) are
/// accepted too.
pub(super) fn auth_type(text: &str, at: &Origin) -> Result<AuthType, ConfigError> {
    let fix = "use user_srp (the password never leaves the machine), user_password, or user_auth \
               (choice-based sign-in, for app clients with ALLOW_USER_AUTH)";
    choice(text, at, "a sign-in type", fix)
}

/// `enhanced` or `classic`.
pub(super) fn auth_flow(text: &str, at: &Origin) -> Result<IdentityFlow, ConfigError> {
    choice(text, at, "an identity pool flow", "use enhanced or classic")
}

/// A uid/gid in digits, or a name.
pub(super) fn principal(text: &str, at: &Origin) -> Result<Principal, ConfigError> {
    if text.is_empty() {
        return Err(ConfigError::invalid(
            at,
            "the value is empty",
            "give a name or a number, or remove it",
        ));
    }
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(Principal::Name(text.to_owned()));
    }
    text.parse().map(Principal::Id).map_err(|_| {
        ConfigError::invalid(
            at,
            format!("{text} is too large for an id"),
            "give an id below 4294967295, or a name",
        )
    })
}

/// Socket permission bits written as octal digits: "600" and "0660" (and the JSON number 600) are
/// 0o600 and 0o660, as chmod reads them.
pub(super) fn permissions(text: &str, at: &Origin) -> Result<u32, ConfigError> {
    let fix = "write it like 600 or 0660";
    let octal = !text.is_empty() && text.bytes().all(|b| (b'0'..=b'7').contains(&b));
    let mode = octal.then(|| u32::from_str_radix(text, 8).ok()).flatten();
    match mode {
        None => Err(ConfigError::invalid(at, format!("{text:?} is not octal digits"), fix)),
        Some(mode) if mode > 0o777 => Err(ConfigError::invalid(
            at,
            format!("{text:?} sets bits above 777 (setuid, setgid, sticky), which mean nothing on a socket"),
            fix,
        )),
        Some(mode) => Ok(mode),
    }
}

/// A TCP port: 0 would make the kernel pick one that no client can know.
pub(super) fn port(text: &str, at: &Origin) -> Result<u16, ConfigError> {
    let fix = "use a number from 1 to 65535";
    match text.parse() {
        Ok(0) => Err(ConfigError::invalid(
            at,
            "port 0 would listen on a random port that no client knows",
            fix,
        )),
        Ok(port) => Ok(port),
        Err(_) => Err(ConfigError::invalid(
            at,
            format!("{text:?} is not a port number"),
            fix,
        )),
    }
}

/// Attempts of the first sign-in: at least the one attempt itself.
pub(super) fn retries(text: &str, at: &Origin) -> Result<u32, ConfigError> {
    match text.parse() {
        Ok(0) => Err(ConfigError::invalid(
            at,
            "0 attempts would never sign in",
            "use 1 or more",
        )),
        Ok(count) => Ok(count),
        Err(_) => Err(ConfigError::invalid(
            at,
            format!("{text:?} is not a whole number"),
            "give the number of attempts, like 5",
        )),
    }
}

/// Where tcp and http listeners bind: `localhost` is both loopbacks, an IP literal is itself.
/// Other names are refused rather than resolved: a name can resolve to an address that is not
/// this machine's loopback, and the answer could change between restarts.
pub(super) fn host(text: &str, at: &Origin) -> Result<Vec<IpAddr>, ConfigError> {
    if text.eq_ignore_ascii_case("localhost") {
        return Ok(loopbacks());
    }
    let literal = text
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .unwrap_or(text);
    match literal.parse() {
        Ok(address) => Ok(vec![address]),
        Err(_) => Err(ConfigError::invalid(
            at,
            format!("{text:?} is neither localhost nor an IP address, and cognitod does not resolve host names"),
            "give an address such as 127.0.0.1, ::1 or 0.0.0.0, or localhost for both loopbacks",
        )),
    }
}

/// A host name the http listener accepts in Host headers: a name or address, without a port.
pub(super) fn allowed_host(text: &str, at: &Origin) -> Result<String, ConfigError> {
    let host = text.trim().to_ascii_lowercase();
    let valid = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-.:[]".contains(c));
    if !valid {
        return Err(ConfigError::invalid(
            at.clone(),
            format!("{text:?} is not a host name"),
            "give a name or address as clients write it in URLs, without a port",
        ));
    }
    Ok(host)
}

/// Both loopback addresses: what `localhost` means, and where tcp and http listen by default.
pub(super) fn loopbacks() -> Vec<IpAddr> {
    vec![
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(Ipv6Addr::LOCALHOST),
    ]
}

/// Path of the unix socket: it must fit in `sun_path`, or bind fails with a less helpful error.
pub(super) fn socket_path(text: &str, at: &Origin) -> Result<PathBuf, ConfigError> {
    let path = PathBuf::from(text);
    let len = path.as_os_str().len();
    if len == 0 {
        return Err(ConfigError::invalid(
            at,
            "the path is empty",
            "give a path like /run/cognitod.sock",
        ));
    }
    if len > MAX_SOCKET_PATH {
        return Err(ConfigError::invalid(
            at,
            format!(
                "the path is {len} bytes, longer than the {MAX_SOCKET_PATH} a unix socket allows"
            ),
            "choose a shorter path",
        ));
    }
    Ok(path)
}

/// Any non-empty text (user name, app client id).
pub(super) fn non_empty(text: &str, at: &Origin) -> Result<String, ConfigError> {
    filled(
        text,
        at,
        "the value is empty",
        "give a value or remove the setting",
    )
    .map(str::to_owned)
}

/// `text`, unless it is empty. No message shows the value, so this serves secrets too.
fn filled<'a>(
    text: &'a str,
    at: &Origin,
    problem: &str,
    fix: &str,
) -> Result<&'a str, ConfigError> {
    match text.is_empty() {
        true => Err(ConfigError::invalid(at, problem, fix)),
        false => Ok(text),
    }
}

/// A password or client secret: not empty.
pub(super) fn secret(secret: &Secret, at: &Origin) -> Result<(), ConfigError> {
    let fix = "give the secret or remove the setting";
    filled(secret.expose(), at, "the value is empty", fix).map(drop)
}

/// A TOTP seed: the base32 `SecretCode` of AssociateSoftwareToken (spaces and lower case, as
/// authenticator apps show it, are accepted). The value is never repeated in an error.
pub(super) fn totp_secret(seed: &Secret, at: &Origin) -> Result<(), ConfigError> {
    secret(seed, at)?;
    if crate::cognito::totp::Totp::new(seed).is_err() {
        return Err(ConfigError::invalid(
            at,
            "the value is not a base32 TOTP seed",
            "give the SecretCode that AssociateSoftwareToken returned when the user enrolled \
             TOTP (letters A-Z and digits 2-7)",
        ));
    }
    Ok(())
}

/// The shared secret clients must send: empty is refused because it would let everyone in.
pub(super) fn shared_secret(secret: &Secret, at: &Origin) -> Result<(), ConfigError> {
    let problem = "the value is empty, which would let every client in";
    let fix = "give a secret, or remove the setting to run without one";
    filled(secret.expose(), at, problem, fix).map(drop)
}

/// A region name: lower-case letters, digits and dashes (`us-east-1`, `eu-central-2`).
pub(super) fn region(text: &str, at: &Origin) -> Result<String, ConfigError> {
    if !is_region(text) {
        return Err(ConfigError::invalid(
            at,
            format!("{text:?} is not a region name"),
            "write it like us-east-1",
        ));
    }
    Ok(text.to_owned())
}

fn is_region(text: &str) -> bool {
    text.starts_with(|c: char| c.is_ascii_lowercase())
        && !text.ends_with('-')
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// A user pool id: `<region>_<alphanumeric name>`.
pub(super) fn user_pool_id(text: &str, at: &Origin) -> Result<String, ConfigError> {
    match text.split_once('_') {
        Some((region, name))
            if is_region(region)
                && !name.is_empty()
                && name.bytes().all(|b| b.is_ascii_alphanumeric()) =>
        {
            Ok(text.to_owned())
        }
        _ => Err(ConfigError::invalid(
            at,
            format!("{text:?} is not a user pool id"),
            "copy it from the Cognito console; it looks like us-east-1_AbC123xyz",
        )),
    }
}

/// The region part of a well-formed user or identity pool id.
pub(super) fn pool_region(id: &str) -> &str {
    id.split(['_', ':']).next().unwrap_or(id)
}

/// An identity pool id: `<region>:<uuid>`.
pub(super) fn identity_pool_id(text: &str, at: &Origin) -> Result<String, ConfigError> {
    match text.split_once(':') {
        Some((region, uuid)) if is_region(region) && is_uuid(uuid) => Ok(text.to_owned()),
        _ => Err(ConfigError::invalid(
            at,
            format!("{text:?} is not an identity pool id"),
            "copy it from the Cognito console; it looks like us-east-1:0e4b1c9a-2f4d-4a8b-9c3d-5e6f7a8b9c0d",
        )),
    }
}

fn is_uuid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(group, len)| group.len() == len && group.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// A role ARN; only the prefix is checked, IAM checks the rest when it is used.
pub(super) fn role_arn(text: &str, at: &Origin) -> Result<String, ConfigError> {
    if !text.starts_with("arn:") {
        return Err(ConfigError::invalid(
            at,
            format!("{text:?} is not an ARN"),
            "write it like arn:aws:iam::123456789012:role/NAME",
        ));
    }
    Ok(text.to_owned())
}

/// A session name as STS accepts it, checked here so the mistake shows at start-up, not at the
/// first refresh.
pub(super) fn role_session_name(text: &str, at: &Origin) -> Result<String, ConfigError> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c);
    if !(2..=64).contains(&text.len()) || !text.chars().all(allowed) {
        return Err(ConfigError::invalid(
            at,
            format!("{text:?} is not a valid role session name"),
            "use 2 to 64 letters, digits or _+=,.@-",
        ));
    }
    Ok(text.to_owned())
}

/// Lifetime of classic-flow credentials, in seconds.
pub(super) fn role_expiry_time(text: &str, at: &Origin) -> Result<Duration, ConfigError> {
    let range = format!(
        "{} to {}",
        ROLE_EXPIRY_SECONDS.start(),
        ROLE_EXPIRY_SECONDS.end()
    );
    match text.parse::<u64>() {
        Ok(seconds) if ROLE_EXPIRY_SECONDS.contains(&seconds) => Ok(Duration::from_secs(seconds)),
        Ok(seconds) => Err(ConfigError::invalid(
            at,
            format!("{seconds} seconds is outside what STS accepts"),
            format!("use {range} seconds (and no more than the role's maximum session duration)"),
        )),
        Err(_) => Err(ConfigError::invalid(
            at,
            format!("{text:?} is not a number of seconds"),
            format!("use a whole number from {range}"),
        )),
    }
}

/// ClientMetadata written as a JSON object (profile and environment).
pub(super) fn metadata(text: &str, at: &Origin) -> Result<BTreeMap<String, String>, ConfigError> {
    let value = serde_json::from_str(text).map_err(|err| {
        ConfigError::invalid(
            at,
            format!("the value is not JSON ({err})"),
            r#"write it as a JSON object like {"key": "value"}"#,
        )
    })?;
    metadata_value(value, at)
}

/// ClientMetadata as a JSON value: an object whose values are all strings, as Cognito requires.
pub(super) fn metadata_value(
    value: Value,
    at: &Origin,
) -> Result<BTreeMap<String, String>, ConfigError> {
    let Value::Object(object) = value else {
        return Err(ConfigError::invalid(
            at,
            format!("the value is {}, not an object", json_kind(&value)),
            r#"write it as a JSON object like {"key": "value"}"#,
        ));
    };
    object
        .into_iter()
        .map(|(key, value)| match value {
            Value::String(text) => Ok((key, text)),
            other => Err(ConfigError::invalid(
                at,
                format!(
                    "metadata key {key:?} holds {}, but Cognito takes only strings",
                    json_kind(&other)
                ),
                "quote the value",
            )),
        })
        .collect()
}

/// What kind of JSON value this is, for messages that must not show the value itself.
pub(super) fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at() -> Origin {
        Origin::File {
            path: "/etc/cognitod/config.json".into(),
            key: "server.permissions",
        }
    }

    #[test]
    fn permissions_are_octal_digits() {
        assert_eq!(permissions("600", &at()).unwrap(), 0o600);
        assert_eq!(permissions("0660", &at()).unwrap(), 0o660);
        assert_eq!(permissions("7", &at()).unwrap(), 0o7);
        let err = permissions("69x", &at()).unwrap_err().to_string();
        assert_eq!(
            err,
            r#"/etc/cognitod/config.json: server.permissions: "69x" is not octal digits; write it like 600 or 0660"#
        );
        assert!(permissions("680", &at()).is_err());
        assert!(permissions("", &at()).is_err());
        assert!(permissions("4755", &at())
            .unwrap_err()
            .to_string()
            .contains("above 777"));
    }

    #[test]
    fn localhost_is_both_loopbacks_and_names_are_refused() {
        let both = host("localhost", &at()).unwrap();
        assert_eq!(
            both,
            vec![
                IpAddr::from([127, 0, 0, 1]),
                IpAddr::V6(Ipv6Addr::LOCALHOST)
            ]
        );
        assert_eq!(
            host("0.0.0.0", &at()).unwrap(),
            vec![IpAddr::from([0, 0, 0, 0])]
        );
        assert_eq!(
            host("[::1]", &at()).unwrap(),
            vec![IpAddr::V6(Ipv6Addr::LOCALHOST)]
        );
        let err = host("example.com", &at()).unwrap_err().to_string();
        assert!(err.contains("does not resolve host names"), "{err}");
        assert!(err.contains("127.0.0.1"), "{err}");
    }

    #[test]
    fn pool_ids_have_their_shapes() {
        assert!(user_pool_id("us-east-1_AbC123", &at()).is_ok());
        assert!(user_pool_id("us-east-1-AbC123", &at()).is_err());
        assert!(user_pool_id("us-east-1_", &at()).is_err());
        assert!(user_pool_id("US-EAST-1_abc", &at()).is_err());
        assert_eq!(pool_region("eu-west-1_abc"), "eu-west-1");
        let id = "us-east-1:0e4b1c9a-2f4d-4a8b-9c3d-5e6f7a8b9c0d";
        assert!(identity_pool_id(id, &at()).is_ok());
        assert_eq!(pool_region(id), "us-east-1");
        // The original README's example is not a real id: the UUID part is malformed.
        let err = identity_pool_id("us-east-1:bbbb-aaaa-3333-111-222222222", &at()).unwrap_err();
        assert!(err.to_string().contains("looks like us-east-1:"), "{err}");
    }

    #[test]
    fn auth_type_accepts_both_spellings() {
        assert_eq!(auth_type("user_srp", &at()).unwrap(), AuthType::UserSrp);
        assert_eq!(
            auth_type("USER_SRP_AUTH", &at()).unwrap(),
            AuthType::UserSrp
        );
        assert_eq!(
            auth_type("User_Password_Auth", &at()).unwrap(),
            AuthType::UserPassword
        );
        assert_eq!(auth_type("USER_AUTH", &at()).unwrap(), AuthType::UserAuth);
        assert!(auth_type("custom", &at()).is_err());
    }

    #[test]
    fn role_expiry_time_is_within_what_sts_accepts() {
        assert_eq!(
            role_expiry_time("900", &at()).unwrap(),
            Duration::from_secs(900)
        );
        assert_eq!(
            role_expiry_time("43200", &at()).unwrap(),
            Duration::from_secs(43_200)
        );
        assert!(role_expiry_time("899", &at())
            .unwrap_err()
            .to_string()
            .contains("900 to 43200"));
        assert!(role_expiry_time("43201", &at()).is_err());
        assert!(role_expiry_time("1h", &at()).is_err());
    }

    #[test]
    fn metadata_values_must_be_strings() {
        let map = metadata(r#"{"a": "1", "b": "x"}"#, &at()).unwrap();
        assert_eq!(map.get("a").map(String::as_str), Some("1"));
        let err = metadata(r#"{"a": 1}"#, &at()).unwrap_err().to_string();
        assert!(err.contains(r#"metadata key "a" holds a number"#), "{err}");
        assert!(metadata("[1]", &at()).is_err());
        assert!(metadata("{", &at()).is_err());
    }

    #[test]
    fn small_checks() {
        assert_eq!(principal("0", &at()).unwrap(), Principal::Id(0));
        assert_eq!(
            principal("www-data", &at()).unwrap(),
            Principal::Name("www-data".into())
        );
        assert!(principal("99999999999", &at()).is_err());
        assert!(port("0", &at()).is_err());
        assert_eq!(port("5500", &at()).unwrap(), 5500);
        assert!(retries("0", &at()).is_err());
        assert!(role_arn("role/x", &at()).is_err());
        assert!(role_session_name("a", &at()).is_err());
        assert!(role_session_name("cognitod@host", &at()).is_ok());
        assert!(region("us_east_1", &at()).is_err());
        assert!(socket_path(&"x".repeat(200), &at()).is_err());
        assert!(shared_secret(&Secret::new(String::new()), &at())
            .unwrap_err()
            .to_string()
            .contains("every client"));
    }
}
