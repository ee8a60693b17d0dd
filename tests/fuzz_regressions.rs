//! Inputs the fuzz targets (fuzz/fuzz_targets/) found to break a promise, minimised, one test
//! each, so that the fix stays fixed without running the fuzzer.
//!
//! Every bug they name is fixed, so every test passes; a new finding comes with its fix, as a new
//! test here. The fuzz target that found each is named in its doc comment.

use std::path::PathBuf;

use cognitod::cli::ServeArgs;
use cognitod::client::{check, GetError};
use cognitod::config::{self, Environment};

/// Writes `contents` to `name` in a new private directory (mode 0600, as a file holding a
/// password must be) and returns the directory (kept alive by the caller) and the path.
fn private_file(name: &str, contents: &[u8]) -> (tempfile::TempDir, PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, contents).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    (dir, path)
}

/// The error of loading with these flags and an empty environment.
fn load_error(args: &ServeArgs) -> String {
    let env = Environment::from_pairs(std::iter::empty::<(String, String)>());
    config::load(args, &env)
        .expect_err("the configuration is refused")
        .to_string()
}

fn assert_one_line(message: &str) {
    assert!(
        !message.contains(['\n', '\r']),
        "not one line (the journal and a terminal show the rest as a line of its own): {message:?}"
    );
}

/// fuzz target config_json: serde's "unknown field" message quotes the key as it is, and
/// `config/file.rs` `syntax_error` passes it on, so a key holding a CR or LF splits the message.
#[test]
fn a_config_key_with_a_line_break_gives_a_one_line_error() {
    for file in [
        &br#"{"a\rb":0}"#[..],
        br#"{"global":{"cred\ntial_type":"iam"}}"#,
    ] {
        let (_dir, path) = private_file("config.json", file);
        let message = load_error(&ServeArgs {
            config_file: Some(path),
            ..ServeArgs::default()
        });
        assert!(message.contains("unknown field"), "{message}");
        assert_one_line(&message);
    }
}

/// fuzz target config_profile: rust-ini reads a line without `=` or `:` as the start of a key
/// that goes on over the next line (and an unclosed `[` as a section name that does), and the
/// errors printed those names as they were: over several lines, and (second finding) with the
/// lines they swallowed, a password among them, in the list of profiles. Such lines are refused
/// now, naming only the line.
#[test]
fn an_ini_name_spanning_lines_is_refused_by_its_line() {
    for (file, says) in [
        (&b"a\nb=c\n"[..], "line 1 column 1: the line is neither"),
        (
            b"[default]\na\nb=c\n",
            "line 2 column 1: the line is neither",
        ),
        (
            b"[a\nb]\nusername=u\n",
            "line 1 column 1: the section header is not closed",
        ),
        // Later findings: a lone CR ends a line for rust-ini; a second `[` after a closed header
        // opened another that ran on.
        (
            b"[default]\nusername = u\r[p\rpassword = canary\n",
            "line 2 column 1: the section header is not closed",
        ),
        (
            b"[default]\nusername=u\n[p][password\npassword = canary\n",
            "line 3 column 1: the section header is not [NAME] alone",
        ),
    ] {
        let (_dir, path) = private_file("cognito_credentials", file);
        let message = load_error(&ServeArgs {
            cognito_credentials_file: Some(path),
            ..ServeArgs::default()
        });
        assert!(message.contains(says), "{message}");
        assert_one_line(&message);
    }
}

#[test]
fn a_section_name_swallowing_a_password_line_does_not_show_it() {
    let file = b"[default]\nusername = u\n[w\nPassword: canary-Pa55\nclient_sec]\n";
    let (_dir, path) = private_file("cognito_credentials", file);
    let message = load_error(&ServeArgs {
        cognito_credentials_file: Some(path),
        cognito_profile: Some("work".into()),
        ..ServeArgs::default()
    });
    assert!(message.contains("line 3 column 1"), "{message}");
    assert!(!message.contains("canary"), "{message}");
}

/// fuzz target get_answer: `client::check` parses `answer.trim()` but passes on
/// `answer.trim_end()`; `str::trim` strips Unicode whitespace (U+2002, form feed...) that JSON
/// does not allow, so a document with it in front is checked and then handed to the AWS SDK,
/// which cannot parse it.
#[test]
fn get_passes_on_only_json_it_checked() {
    let document = r#"{"Version":1,"AccessKeyId":"A","SecretAccessKey":"S","SessionToken":"T","Expiration":"2030-01-01T00:00:00Z"}"#;
    for lead in ["\u{2002}", "\u{c}", "\u{a0}", "\u{2028}"] {
        match check(format!("{lead}{document}\n")) {
            Ok(passed) => {
                serde_json::from_str::<serde_json::Value>(&passed)
                    .unwrap_or_else(|e| panic!("{lead:?}: passed on {passed:?}, not JSON: {e}"));
            }
            Err(GetError::Malformed(_)) => {}
            Err(other) => panic!("{lead:?}: {other}"),
        }
    }
}

/// fuzz target get_answer (by its one-line check): the daemon's error text is printed as it came,
/// so a line break (or any control character) in it reaches the user's terminal as such, against
/// `GetError`'s "in one line".
#[test]
fn a_daemon_error_is_shown_on_one_line() {
    let err = check(r#"{"error":"credentials unavailable: a\nb\u001b[2J"}"#.into()).unwrap_err();
    let message = err.to_string();
    assert_one_line(&message);
    assert!(!message.contains('\u{1b}'), "{message:?}");
}

/// fuzz target config_profile (a later run): the fix of "there is no profile" repeated the name
/// given with -p as it was, so a carriage return in it split the message.
#[test]
fn a_profile_name_with_a_carriage_return_gives_a_one_line_error() {
    let (_dir, path) = private_file("cognito_credentials", b"[dev]\nauth_flow = b\n");
    let message = load_error(&ServeArgs {
        cognito_credentials_file: Some(path),
        cognito_profile: Some("de\r\rv".into()),
        ..ServeArgs::default()
    });
    assert!(message.contains("there is no profile"), "{message}");
    assert_one_line(&message);
}
