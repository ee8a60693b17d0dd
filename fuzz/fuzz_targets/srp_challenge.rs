//! The PASSWORD_VERIFIER challenge of USER_SRP_AUTH, as Cognito (or whoever answers in its place)
//! sends it: `cognitod::cognito::srp::SrpClient::password_claim_signature` on fuzzed SALT, SRP_B,
//! SECRET_BLOCK and USER_ID_FOR_SRP.
//!
//! Input: UTF-8, the four values on four lines in that order (the last takes the rest).
//!
//! Checked: no panic, whatever the numbers (zero, N, multiples of N, huge, odd-length hex); an
//! answer is a base64 HMAC-SHA256 and the same for the same challenge; a refusal names a field
//! or the degenerate B or u.

#![no_main]

use std::sync::OnceLock;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use cognitod::cognito::srp::{Challenge, SrpClient, SrpError};
use libfuzzer_sys::fuzz_target;
use num_bigint::BigUint;

const POOL_ID: &str = "eu-west-1_FuzzPool1";
const PASSWORD: &str = "fuzz-Passw0rd!";
const TIMESTAMP: &str = "Mon Jan 5 09:03:07 UTC 2026";

/// One client for the whole run: a fixed private value keeps runs reproducible, and the
/// exponentiation that makes SRP_A is done once.
fn client() -> &'static SrpClient {
    static CLIENT: OnceLock<SrpClient> = OnceLock::new();
    CLIENT.get_or_init(|| SrpClient::with_private_value(BigUint::from(0x5eed_f00d_u64).pow(12)))
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut fields = text.splitn(4, '\n');
    let mut next = || fields.next().unwrap_or("");
    let challenge = Challenge {
        salt_hex: next(),
        b_hex: next(),
        secret_block_b64: next(),
        user_id_for_srp: next(),
    };
    let answer = client().password_claim_signature(POOL_ID, &challenge, PASSWORD, TIMESTAMP);
    if cognitod_fuzz::debug() {
        eprintln!("{answer:?}");
    }
    match answer {
        Ok(signature) => {
            let mac = STANDARD
                .decode(&signature)
                .expect("the signature is base64");
            assert_eq!(mac.len(), 32, "an HMAC-SHA256");
            let again = client()
                .password_claim_signature(POOL_ID, &challenge, PASSWORD, TIMESTAMP)
                .expect("the same challenge is answered again");
            assert_eq!(signature, again);
        }
        Err(SrpError::Malformed { field }) => {
            assert!(
                ["SALT", "SRP_B", "SECRET_BLOCK"].contains(&field),
                "{field}"
            );
        }
        Err(SrpError::ZeroB | SrpError::ZeroU) => {}
    }
});
