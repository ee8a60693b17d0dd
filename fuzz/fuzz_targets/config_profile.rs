//! The INI profile file (`-f`, as `~/.aws/cognito_credentials`): the fuzz bytes are the file,
//! loaded by `cognitod::config::load` as `cognitod serve -f FILE [-p NAME]` loads it, with an
//! empty environment. A first line `#p NAME` (a comment to the INI parser) asks for profile NAME
//! with `-p`; otherwise the default profile is read as when nobody asked.
//!
//! Checked: no panic; every error is one line; a `password` or `client_secret` value holding the
//! canary never shows in an error, a warning, or the configuration's `Display`/`Debug`.

#![no_main]

use cognitod::cli::ServeArgs;
use cognitod_fuzz::config_support::{load_and_check, private_file, CANARY};
use libfuzzer_sys::fuzz_target;

/// Whether the canary appears only on lines that set a secret key (as `key = value` or
/// `key: value`). Lenient: a line the INI parser reads otherwise only disables the check.
fn canary_only_in_secrets(text: &str) -> bool {
    let mut inside = 0;
    for line in text.split('\n') {
        let count = line.matches(CANARY).count();
        if count == 0 {
            continue;
        }
        let Some(split) = line.find(['=', ':']) else {
            return false;
        };
        let (key, value) = line.split_at(split);
        let key = key.trim().to_ascii_lowercase();
        if !(key == "password" || key == "client_secret") || key.contains(CANARY) {
            return false;
        }
        inside += value.matches(CANARY).count();
    }
    inside > 0
}

fuzz_target!(|data: &[u8]| {
    let profile = std::str::from_utf8(data)
        .ok()
        .and_then(|text| text.strip_prefix("#p "))
        .map(|rest| {
            rest.split('\n')
                .next()
                .unwrap_or("")
                .trim_end_matches('\r')
                .to_owned()
        });
    let only_in_secrets = std::str::from_utf8(data).is_ok_and(canary_only_in_secrets);
    let path = private_file("cognito_credentials", data);
    let args = ServeArgs {
        cognito_credentials_file: Some(path),
        cognito_profile: profile,
        ..ServeArgs::default()
    };
    load_and_check(&args, only_in_secrets);
});
