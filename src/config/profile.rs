//! The INI profile file (`-f`, default `~/.aws/cognito_credentials`): one section per profile,
//! `[default]`, `[profile NAME]` or `[NAME]`, with the keys of the config file's `cognito` object.
//!
//! It is read as Python's configparser read it, because that is what wrote the existing files:
//! `key = value` and `key: value`, key names in any case, values taken literally (no quotes or
//! escapes, so a password may contain `"` or `\`), comments on their own lines.

use std::collections::BTreeSet;
use std::path::Path;

use ini::{Ini, ParseOption};
use zeroize::Zeroize;

use super::access::FileAccess;
use super::error::{one_line, ConfigError, Origin};
use super::keys::{Input, Key, Layer, KEYS};

/// The fix for a line that is not INI.
const SHAPE: &str = "write sections like [profile NAME] and lines like key = value";

/// Which profile to read, and whether the user asked for it (with `-p` or `-f`: then a missing
/// file or profile is an error, not "no profile").
pub(super) struct Request<'a> {
    pub path: &'a Path,
    pub name: &'a str,
    pub explicit: bool,
}

/// Reads the requested profile into a layer; an empty layer when the default file or the default
/// profile does not exist and nothing asked for them.
pub(super) fn load(request: &Request<'_>, files: &FileAccess) -> Result<Layer, ConfigError> {
    let Request { path, name, .. } = *request;
    let fix = "check the profile file (-f/--cognito-credentials-file)";
    let Some(contents) = files.read(path, fix)? else {
        if request.explicit {
            let problem = format!("profile {name:?} was asked for");
            let problem = format!("the profile file does not exist ({problem})");
            let fix = "create it, or correct -f/--cognito-credentials-file";
            return Err(ConfigError::invalid(path.display(), problem, fix));
        }
        return Ok(Layer::default());
    };

    refuse_names_over_line_breaks(path, &contents.text)?;
    let options = ParseOption {
        enabled_quote: false,
        enabled_escape: false,
        ..ParseOption::default()
    };
    let ini = Ini::load_from_str_opt(&contents.text, options).map_err(|err| {
        let problem = err.msg.trim_end_matches('.');
        ConfigError::syntax(path, (err.line, err.col), problem, SHAPE)
    })?;
    let ini = &Zeroed(ini).0;

    if let Some((key, _)) = ini.general_section().iter().next() {
        let at = format!("{}: {}", path.display(), one_line(key));
        let (problem, fix) = (
            "the key comes before any section",
            "put it under [default] or [profile NAME]",
        );
        return Err(ConfigError::invalid(at, problem, fix));
    }

    // The whole file, not just the chosen profile: another profile's password is exposed too.
    let names = ini.iter().flat_map(|(_, properties)| properties.iter());
    if let Some(holds) = names
        .filter_map(|(name, _)| profile_key(name)?.holds)
        .next()
    {
        files.refuse_if_exposed(path, &contents, holds)?;
    }

    match find_section(ini, request)? {
        Some(section) => section_layer(ini, path, &section),
        None => Ok(Layer::default()),
    }
}

/// The row of a key a profile may set; configparser read key names in any case.
fn profile_key(name: &str) -> Option<&'static Key> {
    KEYS.iter()
        .find(|k| k.profile() && k.name().eq_ignore_ascii_case(name))
}

/// The parsed file, its values zeroed when dropped: among them are passwords.
struct Zeroed(Ini);

impl Drop for Zeroed {
    fn drop(&mut self) {
        for (_, properties) in self.0.iter_mut() {
            properties.iter_mut().for_each(|(_, value)| value.zeroize());
        }
    }
}

/// rust-ini reads a `[` not closed on its line as a section name, and a line without `=` or `:` as
/// a key name, that go on over the following lines, swallowing them (and whatever secret they
/// hold) into a name that later messages would print. configparser refused both; so do we, naming
/// only the line.
fn refuse_names_over_line_breaks(path: &Path, text: &str) -> Result<(), ConfigError> {
    // rust-ini also ends a line at a lone CR: check every piece it will read as a line, while
    // numbering the lines as an editor shows them.
    let lines = text.split('\n').enumerate();
    for (index, line) in lines.flat_map(|(index, line)| line.split('\r').map(move |l| (index, l))) {
        let line = line.trim();
        let problem = match line.strip_prefix('[').map(|header| header.split_once(']')) {
            _ if line.is_empty() || line.starts_with([';', '#']) => continue,
            Some(None) => "the section header is not closed by ] on its line",
            // rust-ini reads on from a second `[` (`[a][b`) as a new header, over lines.
            Some(Some((name, rest))) => {
                let rest = rest.trim();
                match name.contains('[') || !(rest.is_empty() || rest.starts_with([';', '#'])) {
                    true => "the section header is not [NAME] alone on its line",
                    false => continue,
                }
            }
            None if line.contains(['=', ':']) => continue,
            None => "the line is neither [section] nor key = value",
        };
        return Err(ConfigError::syntax(path, (index + 1, 1), problem, SHAPE));
    }
    Ok(())
}

/// The header of the requested profile's section, accepting `[NAME]` and `[profile NAME]`.
fn find_section(ini: &Ini, request: &Request<'_>) -> Result<Option<String>, ConfigError> {
    let name = request.name;
    let prefixed = format!("profile {name}");
    let headers: BTreeSet<&str> = ini.sections().flatten().collect();
    let (problem, fix) = match (headers.contains(name), headers.contains(prefixed.as_str())) {
        (true, true) => (
            format!(
                "both [{}] and [{}] exist, so profile {name:?} is ambiguous",
                one_line(name),
                one_line(&prefixed)
            ),
            "merge them into one section".to_owned(),
        ),
        (true, false) => return Ok(Some(name.to_owned())),
        (false, true) => return Ok(Some(prefixed)),
        (false, false) if !request.explicit => return Ok(None),
        (false, false) => {
            let names = headers
                .iter()
                .map(|h| h.strip_prefix("profile ").unwrap_or(h).trim());
            let names: BTreeSet<_> = names.map(one_line).collect();
            let known = match names.is_empty() {
                true => "it has no profiles".to_owned(),
                false => format!("its profiles are {}", Vec::from_iter(names).join(", ")),
            };
            let fix = "use -p/--cognito-profile with one of them, or add [profile";
            (
                format!("there is no profile {name:?} ({known})"),
                format!("{fix} {}]", one_line(name)),
            )
        }
    };
    Err(ConfigError::invalid(request.path.display(), problem, fix))
}

/// Turns one section (all its occurrences, if the header repeats) into a layer.
fn section_layer(ini: &Ini, path: &Path, section: &str) -> Result<Layer, ConfigError> {
    let mut layer = Layer::default();
    let mut seen = BTreeSet::new();
    for (key, value) in ini
        .section_all(Some(section))
        .flat_map(|props| props.iter())
    {
        // configparser folds key names to lower case; so do we.
        let key = key.to_ascii_lowercase();
        let at = Origin::Profile {
            path: path.to_owned(),
            section: section.to_owned(),
            key: key.clone(),
        };
        let Some(row) = profile_key(&key) else {
            let keys: Vec<&str> = KEYS
                .iter()
                .filter(|k| k.profile())
                .map(|k| k.name())
                .collect();
            let fix = "remove it or correct its spelling; the keys are";
            return Err(ConfigError::invalid(
                at,
                "unknown key",
                format!("{fix} {}", keys.join(", ")),
            ));
        };
        if !seen.insert(key) {
            return Err(ConfigError::invalid(
                at,
                "the key is set twice",
                "keep one of them",
            ));
        }
        (row.set)(&mut layer, Input::Text(value), at)?;
    }
    Ok(layer)
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::os::unix::fs::PermissionsExt;
    use std::path::PathBuf;

    use super::*;

    fn write(text: &str, mode: u32) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cognito_credentials");
        fs::write(&path, text).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
        (dir, path)
    }

    fn read(path: &Path, name: &str, explicit: bool) -> Result<Layer, ConfigError> {
        load(
            &Request {
                path,
                name,
                explicit,
            },
            &FileAccess::default(),
        )
    }

    #[test]
    fn both_section_styles_and_separators() {
        let (_d, path) = write(
            "[default]\nusername = d\n\n[profile dev]\nusername: dev-user\nRegion=eu-west-1\n\
             # a comment\n[ops]\nusername = ops-user\nmetadata = {\"team\": \"ops\"}\n",
            0o600,
        );
        assert_eq!(
            read(&path, "default", false)
                .unwrap()
                .username
                .unwrap()
                .value,
            "d"
        );
        let dev = read(&path, "dev", true).unwrap();
        assert_eq!(dev.username.unwrap().value, "dev-user");
        assert_eq!(dev.region.unwrap().value, "eu-west-1");
        let ops = read(&path, "ops", true).unwrap();
        assert_eq!(ops.username.unwrap().value, "ops-user");
        assert_eq!(
            ops.metadata.unwrap().value.get("team").map(String::as_str),
            Some("ops")
        );
    }

    #[test]
    fn values_are_literal() {
        let (_d, path) = write("[default]\npassword = \"a;b#c\\d\"\n", 0o600);
        let layer = read(&path, "default", false).unwrap();
        assert_eq!(layer.password.unwrap().value.expose(), "\"a;b#c\\d\"");
    }

    #[test]
    fn both_spellings_of_one_profile_are_ambiguous() {
        let (_d, path) = write("[dev]\nusername = a\n[profile dev]\nusername = b\n", 0o600);
        let err = read(&path, "dev", true).unwrap_err().to_string();
        assert!(
            err.contains("[dev]") && err.contains("[profile dev]") && err.contains("merge them"),
            "{err}"
        );
    }

    #[test]
    fn unknown_key_names_file_section_and_key() {
        let (_d, path) = write("[profile dev]\nusrname = a\n", 0o600);
        let err = read(&path, "dev", true).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!(
                "{}: [profile dev] usrname: unknown key",
                path.display()
            )),
            "{err}"
        );
        assert!(err.contains("the keys are username, password"), "{err}");
    }

    #[test]
    fn missing_default_file_is_fine_unless_asked_for() {
        let path = Path::new("/nonexistent/cognito_credentials");
        assert!(read(path, "default", false).unwrap().username.is_none());
        let err = read(path, "dev", true).unwrap_err().to_string();
        assert!(
            err.starts_with("/nonexistent/cognito_credentials: the profile file does not exist"),
            "{err}"
        );
        assert!(err.contains("\"dev\""), "{err}");
    }

    #[test]
    fn missing_profile_lists_the_existing_ones() {
        let (_d, path) = write(
            "[default]\nusername = a\n[profile dev]\nusername = b\n[ops]\n",
            0o600,
        );
        let err = read(&path, "prod", true).unwrap_err().to_string();
        assert!(
            err.contains("no profile \"prod\" (its profiles are default, dev, ops)"),
            "{err}"
        );
        assert!(err.contains("-p/--cognito-profile"), "{err}");
        // The default profile may be absent when nobody asked for it.
        let (_d, path) = write("[profile dev]\nusername = b\n", 0o600);
        assert!(read(&path, "default", false).unwrap().username.is_none());
    }

    #[test]
    fn group_readable_file_with_a_password_is_refused() {
        let (_d, path) = write(
            "[other]\npassword = hunter2\n[default]\nusername = u\n",
            0o644,
        );
        let err = read(&path, "default", false).unwrap_err().to_string();
        assert!(
            err.contains(&format!("chmod 600 {}", path.display())),
            "{err}"
        );
        assert!(!err.contains("hunter2"), "{err}");
        let (_d, path) = write("[default]\nusername = u\n", 0o644);
        assert!(read(&path, "default", false).is_ok());
    }

    #[test]
    fn key_set_twice_and_key_outside_a_section_are_errors() {
        let (_d, path) = write("[default]\nregion = us-east-1\nREGION = eu-west-1\n", 0o600);
        let err = read(&path, "default", false).unwrap_err().to_string();
        assert!(
            err.contains("[default] region: the key is set twice"),
            "{err}"
        );
        let (_d, path) = write("region = us-east-1\n[default]\n", 0o600);
        let err = read(&path, "default", false).unwrap_err().to_string();
        assert!(
            err.contains("region: the key comes before any section"),
            "{err}"
        );
    }

    #[test]
    fn bad_value_names_the_section_and_key() {
        let (_d, path) = write("[default]\nauth_flow = fancy\n", 0o600);
        let err = read(&path, "default", false).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!(
                "{}: [default] auth_flow: \"fancy\"",
                path.display()
            )),
            "{err}"
        );
        assert!(err.contains("use enhanced or classic"), "{err}");
    }

    #[test]
    fn colons_in_values_survive_either_separator() {
        let (_d, path) = write(
            "[default]\nrole_arn: arn:aws:iam::123456789012:role/a\n[b]\nrole_arn = arn:aws:iam::1:role/b\n",
            0o600,
        );
        let arn = read(&path, "default", false)
            .unwrap()
            .role_arn
            .unwrap()
            .value;
        assert_eq!(arn, "arn:aws:iam::123456789012:role/a");
        let arn = read(&path, "b", true).unwrap().role_arn.unwrap().value;
        assert_eq!(arn, "arn:aws:iam::1:role/b");
    }

    #[test]
    fn malformed_file_gives_line_and_column() {
        // An unclosed header: refused by its own line (rust-ini would read on to the end of the
        // file looking for the `]`, and report the end).
        let (_d, path) = write("[default]\nusername = u\n[profile dev\n", 0o600);
        let err = read(&path, "default", false).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!(
                "{}: line 3 column 1: the section header is not closed",
                path.display()
            )),
            "{err}"
        );
        assert!(err.contains("write sections like [profile NAME]"), "{err}");
        assert!(!err.contains('\n'), "{err}");
    }

    #[test]
    fn empty_password_is_refused_without_showing_anything() {
        let (_d, path) = write("[default]\npassword =\n", 0o600);
        let err = read(&path, "default", false).unwrap_err().to_string();
        assert!(
            err.contains("[default] password: the value is empty"),
            "{err}"
        );
    }
}
