//! The JSON config file: the fuzz bytes are the file given with `-c`, loaded by
//! `cognitod::config::load` exactly as `cognitod serve -c FILE` loads it (raw serde layer, value
//! parsers, merge, validation), with an empty environment.
//!
//! Checked: no panic; every error is one line; a secret value (`cognito.password`,
//! `cognito.client_secret`, `global.auth_secret`) holding the canary never shows in an error, a
//! warning, or the configuration's `Display`/`Debug`.

#![no_main]

use cognitod::cli::ServeArgs;
use cognitod_fuzz::config_support::{load_and_check, private_file, CANARY};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

/// Where in the file the secrets are.
const SECRETS: &[(&str, &str)] = &[
    ("cognito", "password"),
    ("cognito", "client_secret"),
    ("global", "auth_secret"),
];

/// Counts the canary in the keys and string values of `value` (found at `path`), as inside a
/// secret's value or outside one.
fn canaries(value: &Value, path: &[&str], inside: &mut usize, outside: &mut usize) {
    let count = |s: &str| s.matches(CANARY).count();
    match value {
        Value::String(s) => {
            let secret = path.len() == 2 && SECRETS.iter().any(|(o, k)| path == [*o, *k]);
            *if secret { &mut *inside } else { &mut *outside } += count(s);
        }
        Value::Array(items) => {
            for item in items {
                // A list is never a secret's value: mark the path as leaving the secret.
                canaries(item, &["[]"], inside, outside);
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                *outside += count(key);
                let mut deeper = path.to_vec();
                deeper.push(key);
                canaries(item, &deeper, inside, outside);
            }
        }
        _ => {}
    }
}

/// Whether the file names a secret file that reading could block on or that never ends (a FIFO,
/// a terminal, /dev/zero, /proc/kmsg): the daemon reads whatever file the administrator names,
/// which is not what is tested here.
fn names_a_special_file(document: &Value) -> bool {
    let Some(path) = document
        .get("global")
        .and_then(|g| g.get("auth_secret_file"))
        .and_then(Value::as_str)
    else {
        return false;
    };
    let Ok(real) = std::fs::canonicalize(path) else {
        return false;
    };
    ["/proc", "/sys", "/dev"]
        .iter()
        .any(|p| real.starts_with(p))
        || std::fs::metadata(&real).is_ok_and(|m| !m.is_file())
}

fuzz_target!(|data: &[u8]| {
    let document: Option<Value> = serde_json::from_slice(data).ok();
    if document.as_ref().is_some_and(names_a_special_file) {
        return;
    }
    let only_in_secrets = document.as_ref().is_some_and(|doc| {
        let (mut inside, mut outside) = (0, 0);
        canaries(doc, &[], &mut inside, &mut outside);
        let raw = data
            .windows(CANARY.len())
            .filter(|w| *w == CANARY.as_bytes())
            .count();
        inside > 0 && outside == 0 && raw == inside
    });
    let path = private_file("config.json", data);
    let args = ServeArgs {
        config_file: Some(path),
        ..ServeArgs::default()
    };
    load_and_check(&args, only_in_secrets);
});
