//! The one table of configuration keys, in the manner of ripgrep's flag definitions: each key is
//! written once, with its name in every source, the check its value passes and the field of
//! [`Layer`] it lands in. Every source is read by one loop over [`KEYS`]; a key not in the table is
//! unknown everywhere. Adding a key is one row here plus, if it is new, its check in `values` and
//! its use in `validate`.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use super::error::{ConfigError, Origin, Setting};
use super::values::{self, Checked, Principal};
use super::{AuthType, CredentialType, IdentityFlow, Transport};
use crate::cli::ServeArgs;
use crate::secret::Secret;

/// One value as a source gives it, before its key's check.
pub(super) enum Input<'a> {
    /// Text: a profile or environment value, or a flag's.
    Text(&'a str),
    /// A config file value (or a flag's typed value), whose JSON type the key's check looks at.
    Json(Value),
    /// A secret read from a file or the environment, kept in its one allocation.
    Secret(Secret),
}

/// A flag's typed value, checked as the config file's would be.
fn json<'a>(value: impl Into<Value>) -> Input<'a> {
    Input::Json(value.into())
}

/// A flag's text.
fn text(value: &str) -> Input<'_> {
    Input::Text(value)
}

/// A value check, as a function pointer so that checks of one type fit in one table.
pub(super) type Parse<T> = fn(&str, &Origin) -> Checked<T>;
/// Checks one input of a key and stores it in the key's field of a layer.
type Set = for<'a> fn(&mut Layer, Input<'a>, Origin) -> Result<(), ConfigError>;
/// A flag's spelling and how to take its value from the parsed command line.
type Flag = (&'static str, for<'a> fn(&'a ServeArgs) -> Option<Input<'a>>);
/// A flag naming a file that holds the value, and how to take the path from the command line.
type FlagPath = (&'static str, for<'a> fn(&'a ServeArgs) -> Option<&'a Path>);

/// One configuration key: where each source spells it, and where it lands.
pub(super) struct Key {
    /// The dotted key in the config file; its last part is its name in the profile, as a systemd
    /// credential and in the "missing" error (`cognito.password` is `password`).
    pub file: &'static str,
    /// A config file key naming a file that holds the value instead (`global.auth_secret_file`).
    pub file_path: Option<&'static str>,
    /// Environment variables that set it, the one that wins first.
    pub env: &'static [&'static str],
    /// Whether systemd may pass it as a credential file of its name.
    pub credential: bool,
    pub flag: Option<Flag>,
    pub flag_path: Option<FlagPath>,
    /// For a secret: what a file holding it holds, for the mode check's message.
    pub holds: Option<&'static str>,
    pub set: Set,
}

impl Key {
    /// Whether a profile may set it: a profile holds the config file's `cognito` object.
    pub(super) fn profile(&self) -> bool {
        self.file.starts_with("cognito.")
    }

    /// The key's name outside the config file (`password`).
    pub(super) fn name(&self) -> &'static str {
        self.file.rsplit('.').next().unwrap_or(self.file)
    }

    /// Where the key can be set, in the words of each source ("cognito.region in the config
    /// file, region in the profile or COGNITO_REGION").
    pub(super) fn places(&self) -> String {
        let name = self.name();
        let mut places = vec![format!("{} in the config file", self.file)];
        if self.profile() {
            places.push(format!("{name} in the profile"));
        }
        places.extend(self.env.iter().map(|env| env.to_string()));
        if self.credential {
            places.push(format!("the systemd credential {name}"));
        }
        let last = places.pop().unwrap_or_default();
        match places.is_empty() {
            true => last,
            false => format!("{} or {last}", places.join(", ")),
        }
    }
}

/// The row every key starts from: set nowhere but the config file.
const BLANK: Key = Key {
    file: "",
    file_path: None,
    env: &[],
    credential: false,
    flag: None,
    flag_path: None,
    holds: None,
    set: |_, _, _| Ok(()),
};

/// Declares [`Layer`] and [`KEYS`] from one list, so that a key's field and its row are one entry:
/// `SECTION NAME: TYPE = KIND(ARGS) { COLUMNS }`, the field named as the key is in the config
/// file's object SECTION.
macro_rules! keys {
    ($(
        $(#[$doc:meta])*
        $section:ident $field:ident: $ty:ty = $how:ident($($arg:expr),*) { $($col:tt)* }
    )*) => {
        /// The settings of one source; `None` means the source does not set the key.
        #[derive(Debug, Default)]
        pub(super) struct Layer {
            $($(#[$doc])* pub $field: Option<Setting<$ty>>,)*
        }

        impl Layer {
            /// This layer with every key that `higher` sets replaced by `higher`'s value.
            pub(super) fn overlay(self, higher: Layer) -> Layer {
                Layer { $($field: higher.$field.or(self.$field),)* }
            }
        }

        /// Every key, in the order the sources are read (which decides the first error found).
        pub(super) const KEYS: &[Key] = &[$(Key {
            set: |layer, input, origin| {
                let value = $how(input, &origin $(, $arg)*)?;
                layer.$field = Some(Setting { value, origin });
                Ok(())
            },
            file: concat!(stringify!($section), ".", stringify!($field)),
            $($col)*
            ..BLANK
        },)*];
    };
}

keys! {
    /// Transports to listen on, in order.
    global server_type: Vec<Transport> = list(values::server_type, &TRANSPORTS) {
        flag: Some(("-s/--server-type", |a| (!a.server_type.is_empty())
            .then(|| json(a.server_type.iter().map(|t| t.as_str()).collect::<Value>())))),
    }
    global credential_type: CredentialType = string(values::credential_type) {
        flag: Some(("-C/--credential-type", |a| a.credential_type.map(|t| text(t.as_str())))),
    }
    /// Owner of the unix socket: a uid is a number, a name a string, so it is read as a number.
    global user: Principal = number(values::principal) {
        flag: Some(("-u/--user", |a| a.owner.user.as_deref().map(text))),
    }
    global group: Principal = number(values::principal) {
        flag: Some(("-g/--group", |a| a.owner.group.as_deref().map(text))),
    }
    /// The shared secret, already read when it was given as a file: a secret and a secret file
    /// are one key, so a higher layer's file replaces a lower layer's value and the other way
    /// round. Not read from the environment: the fewer places a secret can hide in, the better.
    global auth_secret: Secret = secret(values::shared_secret) {
        file_path: Some("global.auth_secret_file"), credential: true,
        flag: Some(("-a/--auth-secret", |a| a.auth_secret.as_ref().map(|s| text(s.expose())))),
        flag_path: Some(("--auth-secret-file", |a| a.auth_secret_file.as_deref())),
        holds: Some("the shared secret"),
    }
    global expose_refresh_token: bool = boolean() {}
    global retries: u32 = number(values::retries) {
        flag: Some(("-r/--retries", |a| a.retries.map(json))),
    }
    global imds: bool = boolean() { flag: Some(("--imds", |a| a.imds.then(|| json(true)))), }
    global allow_no_secret: bool = boolean() {
        flag: Some(("--allow-no-secret", |a| a.allow_no_secret.then(|| json(true)))),
    }
    server allowed_hosts: Vec<String> = list(values::allowed_host, &HOSTS) {
        flag: Some(("--allowed-host", |a| (!a.allowed_host.is_empty())
            .then(|| json(a.allowed_host.clone())))),
    }
    server allowed_users: Vec<Principal> = list(values::principal, &IDS) {}
    server allowed_groups: Vec<Principal> = list(values::principal, &IDS) {}
    server host: Vec<IpAddr> = string(values::host) {
        flag: Some(("-H/--host", |a| a.tcp.host.as_deref().map(text))),
    }
    /// Port of whichever tcp or http listener has no port of its own.
    server port: u16 = number(values::port) { flag: Some(("-P/--port", |a| a.tcp.port.map(json))), }
    server tcp_port: u16 = number(values::port) {
        flag: Some(("--tcp-port", |a| a.tcp.tcp_port.map(json))),
    }
    server http_port: u16 = number(values::port) {
        flag: Some(("--http-port", |a| a.tcp.http_port.map(json))),
    }
    server socket_path: PathBuf = string(values::socket_path) {
        flag: Some(("-S/--socket-path", |a| a.socket_path.as_deref().map(text))),
    }
    /// Mode of the unix socket. The original wrote octal digits as a JSON number (600): its
    /// decimal digits are the octal mode, exactly as if they had been quoted.
    server permissions: u32 = number(values::permissions) {
        flag: Some(("--permissions", |a| a.permissions.as_deref().map(text))),
    }
    cognito username: String = string(values::non_empty) { env: &["COGNITO_USERNAME"], }
    cognito password: Secret = secret(values::secret) {
        env: &["COGNITO_PASSWORD"], credential: true, holds: Some("a password"),
    }
    cognito app_id: String = string(values::non_empty) { env: &["COGNITO_APP_ID"], }
    cognito client_secret: Secret = secret(values::secret) {
        env: &["COGNITO_CLIENT_SECRET"], credential: true, holds: Some("a client secret"),
    }
    /// TOTP seed, for SOFTWARE_TOKEN_MFA.
    cognito totp_secret: Secret = secret(values::totp_secret) {
        env: &["COGNITO_TOTP_SECRET"], credential: true, holds: Some("a TOTP seed"),
        flag_path: Some(("--totp-secret-file", |a| a.totp_secret_file.as_deref())),
    }
    cognito user_pool_id: String = string(values::user_pool_id) { env: &["COGNITO_USER_POOL_ID"], }
    cognito identity_pool_id: String = string(values::identity_pool_id) {
        env: &["COGNITO_IDENTITY_POOL_ID"],
    }
    /// Region set explicitly (not the AWS_REGION fallback, which ranks below every source).
    cognito region: String = string(values::region) { env: &["COGNITO_REGION"], }
    /// Role to ask the identity pool or STS for; AWS_ROLE_ARN because the original's README
    /// promised it, below the specific name.
    cognito role_arn: String = string(values::role_arn) {
        env: &["COGNITO_ROLE_ARN", "AWS_ROLE_ARN"],
    }
    cognito auth_type: AuthType = string(values::auth_type) { env: &["COGNITO_AUTH_TYPE"], }
    /// ClientMetadata: an object in the config file, the same object as JSON text elsewhere.
    cognito metadata: BTreeMap<String, String> = object() { env: &["COGNITO_METADATA"], }
    cognito role_session_name: String = string(values::role_session_name) {
        env: &["COGNITO_ROLE_SESSION_NAME"],
    }
    cognito auth_flow: IdentityFlow = string(values::auth_flow) { env: &["COGNITO_AUTH_FLOW"], }
    cognito role_expiry_time: Duration = number(values::role_expiry_time) {
        env: &["COGNITO_ROLE_EXPIRY_TIME"],
    }
}

/// The row of a key by its config file name.
pub(super) fn key(file: &str) -> &'static Key {
    let row = KEYS.iter().find(|k| k.file == file);
    row.unwrap_or_else(|| panic!("{file} is not in KEYS"))
}

/// A string in the config file, text elsewhere, checked by `parse`.
fn string<T>(input: Input, at: &Origin, parse: Parse<T>) -> Checked<T> {
    match input {
        Input::Json(Value::String(text)) => parse(&text, at),
        Input::Json(other) => Err(wrong_type(at, &other, "a string")),
        Input::Text(text) => parse(text, at),
        Input::Secret(secret) => parse(secret.expose(), at),
    }
}

/// A number, or a string of one: the original's config builder wrote either.
fn number<T>(input: Input, at: &Origin, parse: Parse<T>) -> Checked<T> {
    match input {
        Input::Json(Value::Number(n)) => parse(&n.to_string(), at),
        Input::Json(other) if !other.is_string() => Err(wrong_type(at, &other, "a number")),
        input => string(input, at, parse),
    }
}

/// A secret, checked by `check` (whose messages never show it). One that came as a [`Secret`]
/// is kept as it is, sharing its one allocation; text is moved into a new one and zeroed.
fn secret(
    input: Input,
    at: &Origin,
    check: fn(&Secret, &Origin) -> Checked<()>,
) -> Checked<Secret> {
    let secret = match input {
        Input::Secret(secret) => secret,
        Input::Text(text) => Secret::new(text.to_owned()),
        Input::Json(Value::String(text)) => Secret::new(text),
        Input::Json(other) => return Err(wrong_type(at, &other, "a string")),
    };
    check(&secret, at).map(|()| secret)
}

/// `true` or `false`.
fn boolean(input: Input, at: &Origin) -> Checked<bool> {
    let found = match input {
        Input::Json(Value::Bool(flag)) => return Ok(flag),
        Input::Json(other) => other,
        Input::Text(text) => Value::from(text),
        Input::Secret(_) => Value::from(""),
    };
    Err(wrong_type(at, &found, "true or false"))
}

/// An object in the config file; the profile and the environment write the same object as text.
fn object(input: Input, at: &Origin) -> Checked<BTreeMap<String, String>> {
    match input {
        Input::Text(text) => values::metadata(text, at),
        Input::Secret(secret) => values::metadata(secret.expose(), at),
        Input::Json(value) => values::metadata_value(value, at),
    }
}

/// What a list key takes, for its messages.
pub(super) struct ListOf {
    /// Whether a single string is a one-item list (and an empty list is refused).
    one: bool,
    /// Whether items may be numbers as well as strings.
    numbers: bool,
    /// What to write instead of a wrongly typed item, and instead of a value that is no list.
    item: &'static str,
    whole: &'static str,
}

const TRANSPORTS: ListOf = ListOf {
    one: true,
    numbers: false,
    item: r#"a string, or a list like ["unix", "http"]"#,
    whole: r#"a string, or a list like ["unix", "http"]"#,
};
const HOSTS: ListOf = ListOf {
    one: false,
    numbers: false,
    item: "a list of host names",
    whole: r#"a list like ["creds.internal"]"#,
};
const IDS: ListOf = ListOf {
    one: false,
    numbers: true,
    item: "a name or a number",
    whole: r#"a list of names or ids, like ["alice", 1001]"#,
};

/// A list of items each checked by `parse`.
fn list<T>(input: Input, at: &Origin, parse: Parse<T>, of: &ListOf) -> Checked<Vec<T>> {
    let items = match input {
        Input::Json(Value::String(text)) if of.one => vec![Value::String(text)],
        Input::Json(Value::Array(items)) if !(of.one && items.is_empty()) => items,
        Input::Json(other) => return Err(wrong_type(at, &other, of.whole)),
        Input::Text(text) => vec![Value::from(text)],
        Input::Secret(_) => return Err(wrong_type(at, &Value::from(""), of.whole)),
    };
    let item = |item| match item {
        Value::String(text) => parse(&text, at),
        Value::Number(n) if of.numbers => parse(&n.to_string(), at),
        other => Err(wrong_type(at, &other, of.item)),
    };
    items.into_iter().map(item).collect()
}

/// The error for a value of the wrong JSON type; it names the type found, never the value.
pub(super) fn wrong_type(at: &Origin, found: &Value, expected: &str) -> ConfigError {
    let problem = format!("the value is {}", values::json_kind(found));
    ConfigError::invalid(at, problem, format!("write {expected}"))
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

    #[test]
    fn every_name_in_the_table_names_one_key() {
        let mut names = std::collections::BTreeSet::new();
        for key in KEYS {
            let spellings = [Some(key.file), key.file_path]
                .into_iter()
                .flatten()
                .chain(key.env.iter().copied())
                .chain(key.flag.map(|(name, _)| name))
                .chain(key.flag_path.map(|(name, _)| name));
            for name in spellings {
                assert!(names.insert(name), "{name} names two keys");
            }
            assert_eq!(
                key.credential || key.file_path.is_some() || key.flag_path.is_some(),
                key.holds.is_some(),
                "{}: a key read from a secret file says what it holds",
                key.file
            );
        }
        assert_eq!(
            key("cognito.role_arn").places(),
            "cognito.role_arn in the config file, role_arn in the profile, COGNITO_ROLE_ARN or \
             AWS_ROLE_ARN"
        );
    }
}
