//! The answer `cognitod get` reads from the daemon before printing it for credential_process:
//! `cognitod::client::check` on whatever came back (it has been read as UTF-8 by then).
//!
//! Checked: no panic; a document passed on is JSON with `"Version": 1` and the four string keys
//! the AWS SDKs require, and is the answer itself with the JSON whitespace around it replaced by
//! one trailing newline;
//! the daemon's refusal becomes `NotAuthorized`.

#![no_main]

use cognitod::client::{check, GetError};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(answer) = std::str::from_utf8(data) else {
        return;
    };
    match check(answer.to_owned()) {
        Ok(document) => {
            assert_eq!(
                document,
                format!("{}\n", answer.trim_matches([' ', '\t', '\n', '\r']))
            );
            let value: Value = serde_json::from_str(&document).expect("passed-on JSON parses");
            assert_eq!(value["Version"].as_u64(), Some(1));
            for key in [
                "AccessKeyId",
                "SecretAccessKey",
                "SessionToken",
                "Expiration",
            ] {
                assert!(value[key].is_string(), "{key} in {document:?}");
            }
            assert!(value.get("error").and_then(Value::as_str).is_none());
        }
        Err(GetError::NotAuthorized) => {
            let value: Value = serde_json::from_str(answer.trim()).expect("a refusal is JSON");
            assert_eq!(value["error"], "not authorized");
        }
        Err(err) => {
            // Printed to the user's terminal by `cognitod get`: one line.
            let message = err.to_string();
            assert!(!message.contains('\n'), "{message:?}");
        }
    }
});
