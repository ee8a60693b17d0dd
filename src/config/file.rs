//! The JSON config file (`-c`, or `$CREDENTIALS_DIRECTORY/config`): the original tool's three
//! objects `global`, `server` and `cognito`, whose keys are those of the table in `keys`.
//!
//! Keys are checked against the table while the file is parsed, so a misspelt key is an error at
//! its line and column instead of a silently ignored setting. Values stay JSON values until their
//! key's check converts them, for three reasons: a wrong type is then reported with its key path
//! (`cognito.region`), which serde's own message lacks; numbers that the original's config builder
//! wrote as strings (`"port": "5500"`) still load; and no message can quote a secret ("invalid
//! type: integer `1234`").

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde_json::Value;

use super::access::FileAccess;
use super::error::{ConfigError, Origin};
use super::keys::{wrong_type, Input, Key, Layer, KEYS};
use crate::secret::zeroize_json;

/// The file's objects.
const SECTIONS: &[&str] = &["global", "server", "cognito"];

/// Keys accepted so that the original's files load, but not used by `serve`; `true` warns that
/// they are ignored. `service_name` is the installer's.
const IGNORED: &[(&str, bool)] = &[
    ("global.service_name", false),
    ("global.log_path", true),
    ("global.install_dir", true),
];

/// Reads the config file at `path` into a layer. `named_by` says how it was chosen, for the error
/// when it cannot be read.
pub(super) fn load(
    path: &Path,
    named_by: &str,
    files: &FileAccess,
    warnings: &mut Vec<String>,
) -> Result<Layer, ConfigError> {
    let fix = format!("check the config file given by {named_by}");
    let not_found = || ConfigError::unreadable(path, std::io::ErrorKind::NotFound.into(), &fix);
    let contents = files.read(path, &fix)?.ok_or_else(not_found)?;
    let mut parser = serde_json::Deserializer::from_str(&contents.text);
    let values = Section(None).deserialize(&mut parser);
    let values = values.and_then(|values| parser.end().map(|()| values));
    let mut values = Values(values.map_err(|err| syntax_error(path, &err))?);
    let values = &mut values.0;

    // Refused before any value is looked at: an exposed secret is the first thing to fix.
    // The user's own secrets are named first: a password, a client secret, a TOTP seed.
    let present = |k: &&Key| k.holds.is_some() && values.contains_key(k.file);
    let first = KEYS
        .iter()
        .filter(present)
        .min_by_key(|k| !k.file.starts_with("cognito."));
    if let Some(holds) = first.and_then(|k| k.holds) {
        files.refuse_if_exposed(path, &contents, holds)?;
    }

    let at = |key| Origin::File {
        path: path.to_owned(),
        key,
    };
    let mut layer = Layer::default();
    for key in KEYS {
        let value = values.remove(key.file);
        match (
            value,
            key.file_path.and_then(|k| Some((k, values.remove(k)?))),
        ) {
            (Some(_), Some((file_key, _))) => {
                let at = format!("{}: {} and {file_key}", path.display(), key.file);
                let fix = "keep one of them (auth_secret_file keeps the secret out of this file)";
                return Err(both(at, "set", fix));
            }
            (Some(value), None) => (key.set)(&mut layer, Input::Json(value), at(key.file))?,
            // Under systemd the secret file is passed as the credential of the key's name,
            // which wins over this key; the file itself is not readable by the service.
            (None, Some(_)) if key.credential && files.has_credential(key.name()) => {}
            (None, Some((file_key, value))) => {
                let at = at(file_key);
                let Value::String(secret_path) = value else {
                    return Err(wrong_type(&at, &value, "a path as a string"));
                };
                let holds = key.holds.unwrap_or("a secret");
                let secret = files.require_secret(Path::new(&secret_path), &at, holds)?;
                (key.set)(&mut layer, Input::Secret(secret), at)?;
            }
            (None, None) => {}
        }
    }
    let ignored = IGNORED
        .iter()
        .filter(|(key, warn)| *warn && values.contains_key(key));
    for (key, _) in ignored {
        warnings.push(format!(
            "{}: {key} is ignored: cognitod logs to the journal (or stderr) and is installed by \
             its package; remove the key",
            path.display()
        ));
    }
    Ok(layer)
}

/// The file's values by key, zeroed when dropped: among them are the secrets' text.
struct Values(BTreeMap<&'static str, Value>);

impl Drop for Values {
    fn drop(&mut self) {
        self.0.values_mut().for_each(zeroize_json);
    }
}

/// The error for the shared secret given both as a value and as a file in one source (the one
/// key that has both forms).
pub(super) fn both(at: String, verb: &str, fix: &str) -> ConfigError {
    let problem = format!("both are {verb}, so it is unclear which secret clients must send");
    ConfigError::invalid(at, problem, fix)
}

/// The whole file (`None`) or one of its objects: a map whose keys are checked against the table
/// as they are read, so that serde_json reports an unknown key with its position.
struct Section(Option<&'static str>);

impl<'de> DeserializeSeed<'de> for Section {
    type Value = BTreeMap<&'static str, Value>;

    fn deserialize<D: Deserializer<'de>>(self, parser: D) -> Result<Self::Value, D::Error> {
        match self.0 {
            // `any`, not `map`: serde_json then reports another type where it ends, not at
            // column 0.
            None => parser.deserialize_any(self),
            // `"global": null` is no global object, as serde's Option read it.
            Some(_) => parser.deserialize_option(self),
        }
    }
}

impl<'de> Visitor<'de> for Section {
    type Value = BTreeMap<&'static str, Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            None => f.write_str("an object with global, server and cognito"),
            Some(section) => write!(f, "{section} to be an object"),
        }
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(BTreeMap::new())
    }

    fn visit_some<D: Deserializer<'de>>(self, parser: D) -> Result<Self::Value, D::Error> {
        parser.deserialize_map(self)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        // The dotted keys this object may hold, and their names in it.
        let listed = KEYS
            .iter()
            .flat_map(|k| std::iter::once(k.file).chain(k.file_path));
        let keys: Vec<(&str, &str)> = match self.0 {
            None => SECTIONS.iter().map(|s| (*s, *s)).collect(),
            Some(section) => listed
                .chain(IGNORED.iter().map(|(key, _)| *key))
                .filter_map(|key| Some((key, key.strip_prefix(section)?.strip_prefix('.')?)))
                .collect(),
        };
        let mut values = BTreeMap::new();
        let mut seen = Vec::new();
        while let Some(name) = map.next_key::<String>()? {
            let Some(&(key, name)) = keys.iter().find(|(_, known)| *known == name) else {
                let known: Vec<String> = keys.iter().map(|(_, k)| format!("`{k}`")).collect();
                let expected = known.join(", ");
                let message = format_args!("unknown field `{name}`, expected one of {expected}");
                return Err(de::Error::custom(message));
            };
            if seen.contains(&key) {
                return Err(de::Error::duplicate_field(name));
            }
            seen.push(key);
            match self.0 {
                None => values.extend(map.next_value_seed(Section(Some(key)))?),
                Some(_) => drop(values.insert(key, map.next_value()?)),
            }
        }
        Ok(values)
    }
}

/// serde_json's message, moved behind the path and position, with a fix.
fn syntax_error(path: &Path, err: &serde_json::Error) -> ConfigError {
    let message = err.to_string();
    // serde_json appends " at line L column C"; the position is shown in front instead.
    let problem = message.split(" at line ").next().unwrap_or(&message);
    let fix = if problem.starts_with("unknown field") {
        "remove the key or correct its spelling (the keys it may be are listed)"
    } else if err.is_data() {
        "give it the shape named"
    } else {
        "correct the JSON there"
    };
    ConfigError::syntax(path, (err.line(), err.column()), problem, fix)
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::os::unix::fs::PermissionsExt;
    use std::path::PathBuf;

    use super::*;
    use crate::cli::CredentialType;
    use crate::config::values;
    use crate::transport::Transport;

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
        assert_eq!(layer.server_type.unwrap().value, vec![Transport::Tcp]);
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
            layer.unwrap().server_type.unwrap().value,
            vec![Transport::Unix, Transport::Http]
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
