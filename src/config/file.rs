//! The JSON config file (`-c`, or `$CREDENTIALS_DIRECTORY/config`): the original tool's three
//! objects `global`, `server` and `cognito`, read into raw serde structs and turned into a
//! [`Layer`].
//!
//! The raw structs reject unknown keys, so a misspelt key is an error instead of a silently
//! ignored setting. Their fields are JSON values, converted here rather than by serde, for three
//! reasons: a wrong type is then reported with its key path (`cognito.region`), which serde's own
//! message lacks; numbers that the original's config builder wrote as strings (`"port": "5500"`)
//! still load; and no message can quote a secret ("invalid type: integer `1234`").

use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use super::access::FileAccess;
use super::error::{one_line, ConfigError};
use super::layers::{put, Layer, Origin, Setting};
use super::values;

/// The whole file.
#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "an object with global, server and cognito"
)]
struct RawFile {
    global: Option<RawGlobal>,
    server: Option<RawServer>,
    cognito: Option<RawCognito>,
}

/// `global`: what to serve, and to whom.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, expecting = "global to be an object")]
struct RawGlobal {
    server_type: Option<Value>,
    credential_type: Option<Value>,
    user: Option<Value>,
    group: Option<Value>,
    /// The systemd unit's name: used by the installer, not by `serve`; accepted so that the
    /// original's files load.
    #[allow(dead_code)]
    service_name: Option<Value>,
    auth_secret: Option<Value>,
    auth_secret_file: Option<Value>,
    expose_refresh_token: Option<Value>,
    retries: Option<Value>,
    imds: Option<Value>,
    allow_no_secret: Option<Value>,
    /// Written by the original config builder; accepted so old files load, then ignored.
    log_path: Option<Value>,
    /// Written by the original config builder; accepted so old files load, then ignored.
    install_dir: Option<Value>,
}

/// `server`: where to listen.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, expecting = "server to be an object")]
struct RawServer {
    host: Option<Value>,
    port: Option<Value>,
    tcp_port: Option<Value>,
    http_port: Option<Value>,
    socket_path: Option<Value>,
    permissions: Option<Value>,
    allowed_hosts: Option<Value>,
    allowed_users: Option<Value>,
    allowed_groups: Option<Value>,
}

/// `cognito`: the user, the pools and the flows.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, expecting = "cognito to be an object")]
struct RawCognito {
    username: Option<Value>,
    password: Option<Value>,
    app_id: Option<Value>,
    client_secret: Option<Value>,
    totp_secret: Option<Value>,
    user_pool_id: Option<Value>,
    identity_pool_id: Option<Value>,
    region: Option<Value>,
    role_arn: Option<Value>,
    auth_type: Option<Value>,
    metadata: Option<Value>,
    role_session_name: Option<Value>,
    auth_flow: Option<Value>,
    role_expiry_time: Option<Value>,
}

/// Reads the config file at `path` into a layer. `named_by` says how it was chosen, for the error
/// when it cannot be read.
pub(super) fn load(
    path: &Path,
    named_by: &str,
    files: &FileAccess,
    warnings: &mut Vec<String>,
) -> Result<Layer, ConfigError> {
    let fix = format!("check the config file given by {named_by}");
    let contents = files.read(path, &fix)?.ok_or_else(|| {
        ConfigError::unreadable(path, std::io::ErrorKind::NotFound.into(), fix.clone())
    })?;
    let raw: RawFile =
        serde_json::from_str(&contents.text).map_err(|err| syntax_error(path, &err))?;
    let global = raw.global.unwrap_or_default();
    let server = raw.server.unwrap_or_default();
    let cognito = raw.cognito.unwrap_or_default();

    // Refused before any value is looked at: an exposed secret is the first thing to fix.
    let holds = [
        (cognito.password.is_some(), "a password"),
        (cognito.client_secret.is_some(), "a client secret"),
        (cognito.totp_secret.is_some(), "a TOTP seed"),
        (global.auth_secret.is_some(), "the shared secret"),
    ]
    .into_iter()
    .find_map(|(present, holds)| present.then_some(holds));
    if let Some(holds) = holds {
        files.refuse_if_exposed(path, &contents, holds)?;
    }

    let mut layer = Layer::default();
    let file = File { path };
    file.global(global, &mut layer, files, warnings)?;
    file.server(server, &mut layer)?;
    file.cognito(cognito, &mut layer)?;
    Ok(layer)
}

/// serde_json's message, moved behind the path and position, with a fix.
fn syntax_error(path: &Path, err: &serde_json::Error) -> ConfigError {
    let message = err.to_string();
    // serde_json appends " at line L column C"; the position is shown in front instead.
    // A key may hold CR or LF; the message stays one line.
    let problem = one_line(message.split(" at line ").next().unwrap_or(&message)).into_owned();
    let fix = if problem.starts_with("unknown field") {
        "remove the key or correct its spelling (the keys it may be are listed)"
    } else if err.is_data() {
        "give it the shape named"
    } else {
        "correct the JSON there"
    };
    ConfigError::Syntax {
        path: path.to_owned(),
        line: err.line(),
        column: err.column(),
        problem,
        fix: fix.to_owned(),
    }
}

/// A value parser, as a plain function pointer so parsers of one type fit in one array.
type Parse<T> = fn(&str, &Origin) -> Result<T, ConfigError>;

/// Which JSON types a key takes.
#[derive(Clone, Copy)]
enum Shape {
    /// A string.
    Text,
    /// A number, or a string of one (the original's config builder wrote either).
    Number,
}

/// The file being converted, to build origins from.
struct File<'a> {
    path: &'a Path,
}

impl File<'_> {
    fn at(&self, key: &'static str) -> Origin {
        Origin::File {
            path: self.path.to_owned(),
            key,
        }
    }

    /// Converts a string `value` of `key`, if present, and stores it in `slot`.
    fn text<T>(
        &self,
        slot: &mut Option<Setting<T>>,
        value: Option<Value>,
        key: &'static str,
        parse: Parse<T>,
    ) -> Result<(), ConfigError> {
        self.set(slot, value, key, Shape::Text, parse)
    }

    /// Converts a number (or numeric string) `value` of `key`, if present, and stores it in `slot`.
    fn number<T>(
        &self,
        slot: &mut Option<Setting<T>>,
        value: Option<Value>,
        key: &'static str,
        parse: Parse<T>,
    ) -> Result<(), ConfigError> {
        self.set(slot, value, key, Shape::Number, parse)
    }

    fn set<T>(
        &self,
        slot: &mut Option<Setting<T>>,
        value: Option<Value>,
        key: &'static str,
        shape: Shape,
        parse: Parse<T>,
    ) -> Result<(), ConfigError> {
        let Some(value) = value else { return Ok(()) };
        let at = self.at(key);
        let text = match (shape, value) {
            (_, Value::String(text)) => text,
            (Shape::Number, Value::Number(number)) => number.to_string(),
            (Shape::Text, other) => return Err(wrong_type(&at, &other, "a string")),
            (Shape::Number, other) => return Err(wrong_type(&at, &other, "a number")),
        };
        put(slot, &text, at, parse)
    }

    fn global(
        &self,
        raw: RawGlobal,
        layer: &mut Layer,
        files: &FileAccess,
        warnings: &mut Vec<String>,
    ) -> Result<(), ConfigError> {
        // Destructured in full so a key added to RawGlobal cannot be forgotten here.
        let RawGlobal {
            server_type,
            credential_type,
            user,
            group,
            service_name: _,
            auth_secret,
            auth_secret_file,
            expose_refresh_token,
            retries,
            imds,
            allow_no_secret,
            log_path,
            install_dir,
        } = raw;

        if let Some(value) = server_type {
            let at = self.at("global.server_type");
            let list = r#"a string, or a list like ["unix", "http"]"#;
            let types = match value {
                Value::String(text) => vec![values::server_type(&text, &at)?],
                Value::Array(items) if !items.is_empty() => items
                    .iter()
                    .map(|item| match item {
                        Value::String(text) => values::server_type(text, &at),
                        other => Err(wrong_type(&at, other, list)),
                    })
                    .collect::<Result<_, _>>()?,
                other => return Err(wrong_type(&at, &other, list)),
            };
            layer.server_types = Some(Setting {
                value: types,
                origin: at,
            });
        }
        let key = "global.credential_type";
        self.text(
            &mut layer.credential_type,
            credential_type,
            key,
            values::credential_type,
        )?;
        // A uid or gid is a number, a name is a string: `number` takes both.
        self.number(&mut layer.user, user, "global.user", values::principal)?;
        self.number(&mut layer.group, group, "global.group", values::principal)?;
        match (auth_secret, auth_secret_file) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::invalid(
                    format!(
                        "{}: global.auth_secret and global.auth_secret_file",
                        self.path.display()
                    ),
                    "both are set, so it is unclear which secret clients must send",
                    "keep one of them (auth_secret_file keeps the secret out of this file)",
                ))
            }
            (secret, None) => {
                let key = "global.auth_secret";
                self.text(&mut layer.auth_secret, secret, key, values::shared_secret)?;
            }
            // Under systemd the secret file is passed as the credential auth_secret, which wins
            // over this key; the file itself is not readable by the unprivileged service.
            (None, Some(_)) if files.has_credential("auth_secret") => {}
            (None, Some(value)) => {
                let at = self.at("global.auth_secret_file");
                let Value::String(secret_path) = value else {
                    return Err(wrong_type(&at, &value, "a path as a string"));
                };
                let secret =
                    files.require_secret(Path::new(&secret_path), &at, "the shared secret")?;
                layer.auth_secret = Some(Setting {
                    value: secret,
                    origin: at,
                });
            }
        }
        for (slot, value, key) in [
            (
                &mut layer.expose_refresh_token,
                expose_refresh_token,
                "global.expose_refresh_token",
            ),
            (&mut layer.imds, imds, "global.imds"),
            (
                &mut layer.allow_no_secret,
                allow_no_secret,
                "global.allow_no_secret",
            ),
        ] {
            if let Some(value) = value {
                let at = self.at(key);
                let Value::Bool(flag) = value else {
                    return Err(wrong_type(&at, &value, "true or false"));
                };
                *slot = Some(Setting {
                    value: flag,
                    origin: at,
                });
            }
        }
        self.number(
            &mut layer.retries,
            retries,
            "global.retries",
            values::retries,
        )?;
        for (key, value) in [
            ("global.log_path", log_path),
            ("global.install_dir", install_dir),
        ] {
            if value.is_some() {
                warnings.push(format!(
                    "{}: {key} is ignored: cognitod logs to the journal (or stderr) and is \
                     installed by its package; remove the key",
                    self.path.display()
                ));
            }
        }
        Ok(())
    }

    fn server(&self, raw: RawServer, layer: &mut Layer) -> Result<(), ConfigError> {
        let RawServer {
            host,
            port,
            tcp_port,
            http_port,
            socket_path,
            permissions,
            allowed_hosts,
            allowed_users,
            allowed_groups,
        } = raw;
        for (slot, value, key) in [
            (
                &mut layer.allowed_users,
                allowed_users,
                "server.allowed_users",
            ),
            (
                &mut layer.allowed_groups,
                allowed_groups,
                "server.allowed_groups",
            ),
        ] {
            let Some(value) = value else { continue };
            let at = self.at(key);
            let Value::Array(items) = value else {
                return Err(wrong_type(
                    &at,
                    &value,
                    r#"a list of names or ids, like ["alice", 1001]"#,
                ));
            };
            let principals = items
                .into_iter()
                .map(|item| match item {
                    Value::String(name) => values::principal(&name, &at),
                    Value::Number(n) => values::principal(&n.to_string(), &at),
                    other => Err(wrong_type(&at, &other, "a name or a number")),
                })
                .collect::<Result<Vec<_>, _>>()?;
            *slot = Some(Setting {
                value: principals,
                origin: at,
            });
        }
        if let Some(value) = allowed_hosts {
            let at = self.at("server.allowed_hosts");
            let hosts = match value {
                Value::Array(items) => items
                    .into_iter()
                    .map(|item| match item {
                        Value::String(host) => values::allowed_host(&host, &at),
                        other => Err(wrong_type(&at, &other, "a list of host names")),
                    })
                    .collect::<Result<Vec<_>, _>>()?,
                other => return Err(wrong_type(&at, &other, r#"a list like ["creds.internal"]"#)),
            };
            layer.allowed_hosts = Some(Setting {
                value: hosts,
                origin: at,
            });
        }
        self.text(&mut layer.host, host, "server.host", values::host)?;
        self.number(&mut layer.port, port, "server.port", values::port)?;
        self.number(
            &mut layer.tcp_port,
            tcp_port,
            "server.tcp_port",
            values::port,
        )?;
        self.number(
            &mut layer.http_port,
            http_port,
            "server.http_port",
            values::port,
        )?;
        let key = "server.socket_path";
        self.text(
            &mut layer.socket_path,
            socket_path,
            key,
            values::socket_path,
        )?;
        // The original wrote octal digits as a JSON number (600): its decimal digits are the
        // octal mode, exactly as if they had been quoted.
        let key = "server.permissions";
        self.number(
            &mut layer.permissions,
            permissions,
            key,
            values::permissions,
        )
    }

    fn cognito(&self, raw: RawCognito, layer: &mut Layer) -> Result<(), ConfigError> {
        let RawCognito {
            username,
            password,
            app_id,
            client_secret,
            totp_secret,
            user_pool_id,
            identity_pool_id,
            region,
            role_arn,
            auth_type,
            metadata,
            role_session_name,
            auth_flow,
            role_expiry_time,
        } = raw;
        self.text(
            &mut layer.username,
            username,
            "cognito.username",
            values::non_empty,
        )?;
        self.text(
            &mut layer.password,
            password,
            "cognito.password",
            values::secret,
        )?;
        self.text(
            &mut layer.app_id,
            app_id,
            "cognito.app_id",
            values::non_empty,
        )?;
        let key = "cognito.client_secret";
        self.text(&mut layer.client_secret, client_secret, key, values::secret)?;
        let key = "cognito.totp_secret";
        self.text(
            &mut layer.totp_secret,
            totp_secret,
            key,
            values::totp_secret,
        )?;
        let key = "cognito.user_pool_id";
        self.text(
            &mut layer.user_pool_id,
            user_pool_id,
            key,
            values::user_pool_id,
        )?;
        let key = "cognito.identity_pool_id";
        self.text(
            &mut layer.identity_pool_id,
            identity_pool_id,
            key,
            values::identity_pool_id,
        )?;
        self.text(&mut layer.region, region, "cognito.region", values::region)?;
        self.text(
            &mut layer.role_arn,
            role_arn,
            "cognito.role_arn",
            values::role_arn,
        )?;
        self.text(
            &mut layer.auth_type,
            auth_type,
            "cognito.auth_type",
            values::auth_type,
        )?;
        self.text(
            &mut layer.auth_flow,
            auth_flow,
            "cognito.auth_flow",
            values::auth_flow,
        )?;
        let key = "cognito.role_session_name";
        let name = role_session_name;
        self.text(
            &mut layer.role_session_name,
            name,
            key,
            values::role_session_name,
        )?;
        let key = "cognito.role_expiry_time";
        let expiry = role_expiry_time;
        self.number(
            &mut layer.role_expiry_time,
            expiry,
            key,
            values::role_expiry_time,
        )?;
        if let Some(value) = metadata {
            // An object here; the profile and the environment write the same object as text.
            let at = self.at("cognito.metadata");
            layer.metadata = Some(Setting {
                value: values::metadata_value(value, &at)?,
                origin: at,
            });
        }
        Ok(())
    }
}

/// The error for a value of the wrong JSON type; it names the type found, never the value.
fn wrong_type(at: &Origin, found: &Value, expected: &str) -> ConfigError {
    ConfigError::invalid(
        at,
        format!("the value is {}", values::json_kind(found)),
        format!("write {expected}"),
    )
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::os::unix::fs::PermissionsExt;
    use std::path::PathBuf;

    use super::*;
    use crate::cli::{CredentialType, ServerType};

    fn load_text(
        text: &str,
        mode: u32,
    ) -> (
        tempfile::TempDir,
        PathBuf,
        Result<Layer, ConfigError>,
        Vec<String>,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        fs::write(&path, text).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
        let mut warnings = Vec::new();
        let result = load(
            &path,
            "-c/--config-file",
            &FileAccess::default(),
            &mut warnings,
        );
        (dir, path, result, warnings)
    }

    #[test]
    fn reads_the_original_example() {
        let (_dir, _path, layer, warnings) = load_text(
            r#"{
                "global": {"user": 501, "group": 20, "server_type": "tcp", "credential_type": "iam",
                           "service_name": "cognitod", "auth_secret": "mysupermadeupsecret"},
                "cognito": {"username": "foo@bar.com", "password": "ubersecurepwd", "app_id": "abcdef123456",
                            "user_pool_id": "us-east-1_1a2b3c4b", "region": "us-east-1", "auth_type": "user_srp",
                            "metadata": {"k": "v"}},
                "server": {"port": 5500, "host": "127.0.0.1"}
            }"#,
            0o600,
        );
        let layer = layer.unwrap();
        assert!(warnings.is_empty());
        assert_eq!(layer.server_types.unwrap().value, vec![ServerType::Tcp]);
        assert_eq!(layer.credential_type.unwrap().value, CredentialType::Iam);
        assert_eq!(layer.user.unwrap().value, values::Principal::Id(501));
        assert_eq!(layer.port.unwrap().value, 5500);
        assert_eq!(
            layer.auth_secret.unwrap().value.expose(),
            "mysupermadeupsecret"
        );
        assert_eq!(layer.password.unwrap().value.expose(), "ubersecurepwd");
        assert_eq!(
            layer.metadata.unwrap().value.get("k").map(String::as_str),
            Some("v")
        );
    }

    #[test]
    fn permissions_number_and_string_are_octal() {
        let (_d, _p, layer, _) = load_text(r#"{"server": {"permissions": 600}}"#, 0o644);
        assert_eq!(layer.unwrap().permissions.unwrap().value, 0o600);
        let (_d, _p, layer, _) = load_text(r#"{"server": {"permissions": "0660"}}"#, 0o644);
        assert_eq!(layer.unwrap().permissions.unwrap().value, 0o660);
        let (_d, path, layer, _) = load_text(r#"{"server": {"permissions": "69x"}}"#, 0o644);
        let err = layer.unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                r#"{}: server.permissions: "69x" is not octal digits; write it like 600 or 0660"#,
                path.display()
            )
        );
    }

    #[test]
    fn server_type_may_be_a_list() {
        let (_d, _p, layer, _) =
            load_text(r#"{"global": {"server_type": ["unix", "http"]}}"#, 0o644);
        assert_eq!(
            layer.unwrap().server_types.unwrap().value,
            vec![ServerType::Unix, ServerType::Http]
        );
        let (_d, _p, layer, _) = load_text(r#"{"global": {"server_type": "ftp"}}"#, 0o644);
        let err = layer.unwrap_err().to_string();
        assert!(
            err.contains("global.server_type")
                && err.contains("\"ftp\"")
                && err.contains("unix, tcp or http"),
            "{err}"
        );
    }

    #[test]
    fn unknown_key_is_named_with_the_file() {
        let (_d, path, layer, _) =
            load_text("{\"global\": {\n  \"logpath\": \"/var/log/x\"\n}}", 0o644);
        let err = layer.unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("{}: line 2 column", path.display())),
            "{err}"
        );
        assert!(err.contains("unknown field `logpath`"), "{err}");
        assert!(
            err.contains("remove the key or correct its spelling"),
            "{err}"
        );
        assert!(!err.contains('\n'));
    }

    #[test]
    fn invalid_json_gives_line_and_column() {
        let (_d, path, layer, _) = load_text("{\"server\": {\n \"port\": 5500,\n}}", 0o644);
        let err = layer.unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("{}: line 3 column 1:", path.display())),
            "{err}"
        );
        assert!(err.contains("correct the JSON"), "{err}");
    }

    #[test]
    fn missing_file_is_an_error_naming_it() {
        let mut warnings = Vec::new();
        let err = load(
            Path::new("/nonexistent/c.json"),
            "-c/--config-file",
            &FileAccess::default(),
            &mut warnings,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("/nonexistent/c.json: cannot read it"),
            "{err}"
        );
        assert!(err.contains("-c/--config-file"), "{err}");
    }

    #[test]
    fn group_readable_file_with_a_password_is_refused() {
        let (_d, path, layer, _) = load_text(r#"{"cognito": {"password": "hunter2"}}"#, 0o640);
        let err = layer.unwrap_err().to_string();
        assert!(
            err.contains(&format!("chmod 600 {}", path.display())),
            "{err}"
        );
        assert!(err.contains("a password"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
        // Without a secret the same mode is fine.
        let (_d, _p, layer, _) = load_text(r#"{"cognito": {"username": "u"}}"#, 0o644);
        assert!(layer.is_ok());
        // The shared secret counts too.
        let (_d, _p, layer, _) = load_text(r#"{"global": {"auth_secret": "s"}}"#, 0o604);
        assert!(layer.unwrap_err().to_string().contains("the shared secret"));
    }

    #[test]
    fn wrongly_typed_secret_is_not_quoted() {
        let (_d, _p, layer, _) = load_text(r#"{"cognito": {"password": 12345678}}"#, 0o600);
        let err = layer.unwrap_err().to_string();
        assert!(
            err.contains("cognito.password: the value is a number"),
            "{err}"
        );
        assert!(!err.contains("12345678"), "{err}");
    }

    #[test]
    fn log_path_and_install_dir_are_ignored_with_a_warning() {
        let (_d, _p, layer, warnings) = load_text(
            r#"{"global": {"log_path": "/var/log/c.log", "install_dir": "/opt/c"}}"#,
            0o644,
        );
        assert!(layer.is_ok());
        assert_eq!(warnings.len(), 2);
        assert!(
            warnings[0].contains("global.log_path is ignored") && warnings[0].contains("journal")
        );
        assert!(warnings[1].contains("global.install_dir is ignored"));
    }

    #[test]
    fn auth_secret_and_its_file_together_are_refused() {
        let (_d, _p, layer, _) = load_text(
            r#"{"global": {"auth_secret": "s", "auth_secret_file": "/x"}}"#,
            0o600,
        );
        let err = layer.unwrap_err().to_string();
        assert!(
            err.contains("global.auth_secret and global.auth_secret_file")
                && err.contains("keep one"),
            "{err}"
        );
        assert!(!err.contains(": s;"));
    }

    #[test]
    fn numbers_written_as_strings_are_accepted() {
        let (_d, _p, layer, _) = load_text(
            r#"{"server": {"port": "5501"}, "global": {"retries": "3", "group": "20"},
                "cognito": {"role_expiry_time": "1800"}}"#,
            0o644,
        );
        let layer = layer.unwrap();
        assert_eq!(layer.port.unwrap().value, 5501);
        assert_eq!(layer.retries.unwrap().value, 3);
        assert_eq!(layer.group.unwrap().value, values::Principal::Id(20));
        assert_eq!(layer.role_expiry_time.unwrap().value.as_secs(), 1800);
    }
}
