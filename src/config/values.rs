//! One key's text to its typed value, with an error that names where the text came from. Each
//! check looks at one value only (format, range); checks that relate keys are in `validate`. Every
//! source goes through these same functions, so a key means the same thing everywhere.

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
    Id(u32),
    Name(String),
}

/// A value that passed its check, or why it did not.
pub(super) type Checked<T> = Result<T, ConfigError>;

/// The error for `text`, which is not `what`.
fn not_a(text: &str, at: &Origin, what: &str, fix: &str) -> ConfigError {
    ConfigError::invalid(at, format!("{text:?} is not {what}"), fix)
}

/// `text` itself when `ok`, else the error that it is not `what`.
fn text_if(ok: bool, text: &str, at: &Origin, what: &str, fix: &str) -> Checked<String> {
    ok.then(|| text.to_owned())
        .ok_or_else(|| not_a(text, at, what, fix))
}

/// One of `T`'s names, in any case, as clap reads the same flag.
fn choice<T: ValueEnum>(text: &str, at: &Origin, what: &str, fix: &str) -> Checked<T> {
    T::from_str(text, true).map_err(|_| not_a(text, at, what, fix))
}

pub(super) fn server_type(text: &str, at: &Origin) -> Checked<Transport> {
    let fix = "use unix, tcp or http (or a list of them for several listeners)";
    choice(text, at, "a server type", fix)
}

pub(super) fn credential_type(text: &str, at: &Origin) -> Checked<CredentialType> {
    let fix = "use iam (AWS credentials) or tokens (Cognito tokens)";
    choice(text, at, "a credential type", fix)
}

/// `user_srp`, `user_password` or `user_auth`, or Cognito's own names (`USER_SRP_AUTH`).
pub(super) fn auth_type(text: &str, at: &Origin) -> Checked<AuthType> {
    let fix = "use user_srp (the password never leaves the machine), user_password, or user_auth \
               (choice-based sign-in, for app clients with ALLOW_USER_AUTH)";
    choice(text, at, "a sign-in type", fix)
}

pub(super) fn auth_flow(text: &str, at: &Origin) -> Checked<IdentityFlow> {
    choice(text, at, "an identity pool flow", "use enhanced or classic")
}

/// A uid/gid in digits, or a name.
pub(super) fn principal(text: &str, at: &Origin) -> Checked<Principal> {
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(Principal::Name(text.to_owned()));
    }
    let (problem, fix) = match text.parse() {
        Ok(id) => return Ok(Principal::Id(id)),
        _ if text.is_empty() => (
            "the value is empty".into(),
            "give a name or a number, or remove it",
        ),
        _ => (
            format!("{text} is too large for an id"),
            "give an id below 4294967295, or a name",
        ),
    };
    Err(ConfigError::invalid(at, problem, fix))
}

/// Socket permission bits written as octal digits: "600" and "0660" (and the JSON number 600) are
/// 0o600 and 0o660, as chmod reads them.
pub(super) fn permissions(text: &str, at: &Origin) -> Checked<u32> {
    let fix = "write it like 600 or 0660";
    let octal = !text.is_empty() && text.bytes().all(|b| (b'0'..=b'7').contains(&b));
    let mode = octal.then(|| u32::from_str_radix(text, 8).ok()).flatten();
    let mode = mode.ok_or_else(|| not_a(text, at, "octal digits", fix))?;
    if mode > 0o777 {
        let problem = format!("{text:?} sets bits above 777 (setuid, setgid, sticky)");
        return Err(ConfigError::invalid(
            at,
            problem + ", which mean nothing on a socket",
            fix,
        ));
    }
    Ok(mode)
}

/// A TCP port: 0 would make the kernel pick one that no client can know.
pub(super) fn port(text: &str, at: &Origin) -> Checked<u16> {
    let fix = "use a number from 1 to 65535";
    match text.parse() {
        Ok(0) => {
            let problem = "port 0 would listen on a random port that no client knows";
            Err(ConfigError::invalid(at, problem, fix))
        }
        port => port.map_err(|_| not_a(text, at, "a port number", fix)),
    }
}

/// Attempts of the first sign-in: at least the one attempt itself.
pub(super) fn retries(text: &str, at: &Origin) -> Checked<u32> {
    match text.parse() {
        Ok(0) => Err(ConfigError::invalid(
            at,
            "0 attempts would never sign in",
            "use 1 or more",
        )),
        count => {
            let fix = "give the number of attempts, like 5";
            count.map_err(|_| not_a(text, at, "a whole number", fix))
        }
    }
}

/// Where tcp and http listeners bind: `localhost` is both loopbacks, an IP literal is itself.
/// Other names are refused rather than resolved: a name can resolve to an address that is not
/// this machine's loopback, and the answer could change between restarts.
pub(super) fn host(text: &str, at: &Origin) -> Checked<Vec<IpAddr>> {
    if text.eq_ignore_ascii_case("localhost") {
        return Ok(loopbacks());
    }
    let bracketed = text.strip_prefix('[').and_then(|t| t.strip_suffix(']'));
    let address = bracketed.unwrap_or(text).parse().ok();
    let Some(address) = address else {
        let problem = format!("{text:?} is neither localhost nor an IP address");
        let problem = problem + ", and cognitod does not resolve host names";
        let fix =
            "give an address such as 127.0.0.1, ::1 or 0.0.0.0, or localhost for both loopbacks";
        return Err(ConfigError::invalid(at, problem, fix));
    };
    Ok(vec![address])
}

/// A host name the http listener accepts in Host headers: a name or address, without a port.
pub(super) fn allowed_host(text: &str, at: &Origin) -> Checked<String> {
    let host = text.trim().to_ascii_lowercase();
    let allowed = |c: char| c.is_ascii_alphanumeric() || "-.:[]".contains(c);
    let fix = "give a name or address as clients write it in URLs, without a port";
    match !host.is_empty() && host.chars().all(allowed) {
        true => Ok(host),
        false => Err(not_a(text, at, "a host name", fix)),
    }
}

/// Both loopback addresses: what `localhost` means, and where tcp and http listen by default.
pub(super) fn loopbacks() -> Vec<IpAddr> {
    vec![
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(Ipv6Addr::LOCALHOST),
    ]
}

/// Path of the unix socket: it must fit in `sun_path`, or bind fails with a less helpful error.
pub(super) fn socket_path(text: &str, at: &Origin) -> Checked<PathBuf> {
    let (problem, fix) = match text.len() {
        0 => (
            "the path is empty".into(),
            "give a path like /run/cognitod.sock",
        ),
        1..=MAX_SOCKET_PATH => return Ok(PathBuf::from(text)),
        len => {
            let problem = format!("the path is {len} bytes, longer than the {MAX_SOCKET_PATH}");
            (problem + " a unix socket allows", "choose a shorter path")
        }
    };
    Err(ConfigError::invalid(at, problem, fix))
}

/// Any non-empty text (user name, app client id).
pub(super) fn non_empty(text: &str, at: &Origin) -> Checked<String> {
    let fix = "give a value or remove the setting";
    filled(text, at, "the value is empty", fix).map(str::to_owned)
}

/// `text`, unless it is empty. No message shows the value, so this serves secrets too.
fn filled<'a>(text: &'a str, at: &Origin, problem: &str, fix: &str) -> Checked<&'a str> {
    match text.is_empty() {
        true => Err(ConfigError::invalid(at, problem, fix)),
        false => Ok(text),
    }
}

/// A password or client secret: not empty.
pub(super) fn secret(secret: &Secret, at: &Origin) -> Checked<()> {
    let fix = "give the secret or remove the setting";
    filled(secret.expose(), at, "the value is empty", fix).map(drop)
}

/// A TOTP seed: the base32 `SecretCode` of AssociateSoftwareToken (spaces and lower case, as
/// authenticator apps show it, are accepted).
pub(super) fn totp_secret(seed: &Secret, at: &Origin) -> Checked<()> {
    secret(seed, at)?;
    let problem = "the value is not a base32 TOTP seed";
    let fix = "give the SecretCode that AssociateSoftwareToken returned when the user enrolled \
               TOTP (letters A-Z and digits 2-7)";
    match crate::cognito::totp::Totp::new(seed) {
        Ok(_) => Ok(()),
        Err(_) => Err(ConfigError::invalid(at, problem, fix)),
    }
}

/// The shared secret clients must send: empty is refused because it would let everyone in.
pub(super) fn shared_secret(secret: &Secret, at: &Origin) -> Checked<()> {
    let problem = "the value is empty, which would let every client in";
    let fix = "give a secret, or remove the setting to run without one";
    filled(secret.expose(), at, problem, fix).map(drop)
}

/// A region name: lower-case letters, digits and dashes (`us-east-1`, `eu-central-2`).
pub(super) fn region(text: &str, at: &Origin) -> Checked<String> {
    let fix = "write it like us-east-1";
    text_if(is_region(text), text, at, "a region name", fix)
}

fn is_region(text: &str) -> bool {
    let allowed = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-';
    text.starts_with(|c: char| c.is_ascii_lowercase())
        && !text.ends_with('-')
        && text.bytes().all(allowed)
}

/// A user pool id: `<region>_<alphanumeric name>`.
pub(super) fn user_pool_id(text: &str, at: &Origin) -> Checked<String> {
    let ok = text.split_once('_').is_some_and(|(region, name)| {
        is_region(region) && !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric())
    });
    let fix = "copy it from the Cognito console; it looks like us-east-1_AbC123xyz";
    text_if(ok, text, at, "a user pool id", fix)
}

/// The region part of a well-formed user or identity pool id.
pub(super) fn pool_region(id: &str) -> &str {
    id.split(['_', ':']).next().unwrap_or(id)
}

/// An identity pool id: `<region>:<uuid>`.
pub(super) fn identity_pool_id(text: &str, at: &Origin) -> Checked<String> {
    let hex = |(group, len): (&str, usize)| {
        group.len() == len && group.bytes().all(|b| b.is_ascii_hexdigit())
    };
    let uuid = |text: &str| {
        let groups: Vec<&str> = text.split('-').collect();
        groups.len() == 5 && groups.into_iter().zip([8, 4, 4, 4, 12]).all(hex)
    };
    let ok = text
        .split_once(':')
        .is_some_and(|(r, id)| is_region(r) && uuid(id));
    let fix = "copy it from the Cognito console; it looks like \
               us-east-1:0e4b1c9a-2f4d-4a8b-9c3d-5e6f7a8b9c0d";
    text_if(ok, text, at, "an identity pool id", fix)
}

/// A role ARN; only the prefix is checked, IAM checks the rest when it is used.
pub(super) fn role_arn(text: &str, at: &Origin) -> Checked<String> {
    let fix = "write it like arn:aws:iam::123456789012:role/NAME";
    text_if(text.starts_with("arn:"), text, at, "an ARN", fix)
}

/// A session name as STS accepts it, checked here so the mistake shows at start-up, not at the
/// first refresh.
pub(super) fn role_session_name(text: &str, at: &Origin) -> Checked<String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c);
    let ok = (2..=64).contains(&text.len()) && text.chars().all(allowed);
    let fix = "use 2 to 64 letters, digits or _+=,.@-";
    text_if(ok, text, at, "a valid role session name", fix)
}

/// Lifetime of classic-flow credentials, in seconds.
pub(super) fn role_expiry_time(text: &str, at: &Origin) -> Checked<Duration> {
    let (low, high) = ROLE_EXPIRY_SECONDS.into_inner();
    let range = format!("{low} to {high}");
    let Ok(seconds) = text.parse::<u64>() else {
        let fix = format!("use a whole number from {range}");
        return Err(not_a(text, at, "a number of seconds", &fix));
    };
    if !ROLE_EXPIRY_SECONDS.contains(&seconds) {
        let problem = format!("{seconds} seconds is outside what STS accepts");
        let fix =
            format!("use {range} seconds (and no more than the role's maximum session duration)");
        return Err(ConfigError::invalid(at, problem, fix));
    }
    Ok(Duration::from_secs(seconds))
}

/// The fix for metadata that is not an object.
const OBJECT: &str = r#"write it as a JSON object like {"key": "value"}"#;

/// ClientMetadata written as a JSON object (profile and environment).
pub(super) fn metadata(text: &str, at: &Origin) -> Checked<BTreeMap<String, String>> {
    let value = serde_json::from_str(text).map_err(|err| {
        ConfigError::invalid(at, format!("the value is not JSON ({err})"), OBJECT)
    })?;
    metadata_value(value, at)
}

/// ClientMetadata as a JSON value: an object whose values are all strings, as Cognito requires.
pub(super) fn metadata_value(value: Value, at: &Origin) -> Checked<BTreeMap<String, String>> {
    let Value::Object(object) = value else {
        let problem = format!("the value is {}, not an object", json_kind(&value));
        return Err(ConfigError::invalid(at, problem, OBJECT));
    };
    let string = |(key, value)| match value {
        Value::String(text) => Ok((key, text)),
        other => {
            let holds = json_kind(&other);
            let problem =
                format!("metadata key {key:?} holds {holds}, but Cognito takes only strings");
            Err(ConfigError::invalid(at, problem, "quote the value"))
        }
    };
    object.into_iter().map(string).collect()
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
