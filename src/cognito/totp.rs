//! TOTP codes for SOFTWARE_TOKEN_MFA: RFC 6238 as Cognito uses it (HMAC-SHA1, 6 digits, 30 s
//! steps), computed by the totp-rs crate from the seed Cognito gave at enrolment (the base32
//! `SecretCode` of AssociateSoftwareToken). Cognito refuses a code already used in its step, so a
//! code is never handed out twice: the caller waits for the next step instead.

use std::sync::Mutex;
use std::time::Duration;

use crate::secret::Secret;

/// Cognito's TOTP step.
const STEP_S: u64 = 30;

/// The step whose code this process last handed out. One for the whole process, not one per
/// seed: a reload builds a new `Totp` from the same seed moments after the last sign-in, and it
/// must not send that step's code again. (One user per process, so it never delays another.)
static LAST_STEP: Mutex<Option<u64>> = Mutex::new(None);

/// Makes codes from one seed, never one already handed out by this process.
pub(crate) struct Totp {
    totp: totp_rs::Totp,
}

impl std::fmt::Debug for Totp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Totp(..)")
    }
}

/// The seed is not base32.
#[derive(Debug, thiserror::Error)]
#[error("the TOTP seed is not base32 (letters A-Z and digits 2-7)")]
pub(crate) struct NotBase32;

impl Totp {
    /// From a base32 seed; spaces, lower case and `=` padding are accepted, as apps show seeds.
    pub(crate) fn new(seed: &Secret) -> Result<Totp, NotBase32> {
        let secret = parse_seed(seed)?;
        // Noncompliant: RFC 4226 asks for 128-bit seeds and the crate refuses shorter ones, but
        // the seed is whatever the user pool issued (Cognito's are 160 bits; test pools' shorter).
        let totp = totp_rs::Builder::new()
            .with_secret(secret)
            .with_step_duration(STEP_S)
            .build_noncompliant();
        Ok(Totp { totp })
    }

    /// The code at `unix_s` (seconds since the epoch, on Cognito's clock), or how long to wait
    /// for the next step because this step's code was already handed out.
    pub(crate) fn code_at(&self, unix_s: u64) -> Result<String, Duration> {
        let step = unix_s / STEP_S;
        let mut last = LAST_STEP.lock().unwrap_or_else(|e| e.into_inner());
        if *last == Some(step) {
            return Err(Duration::from_secs((step + 1) * STEP_S - unix_s));
        }
        *last = Some(step);
        Ok(self.code(unix_s))
    }

    /// The code at `unix_s`, whether or not it was handed out before.
    fn code(&self, unix_s: u64) -> String {
        self.totp.generate(unix_s).to_string()
    }

    /// How long the step of `unix_s` still lasts.
    pub(crate) fn step_left(unix_s: u64) -> Duration {
        Duration::from_secs(STEP_S - unix_s % STEP_S)
    }
}

/// The seed's bytes; spaces, lower case and `=` padding are accepted, as apps show seeds.
fn parse_seed(seed: &Secret) -> Result<totp_rs::Secret, NotBase32> {
    let normalised = zeroize::Zeroizing::new(
        seed.expose()
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '=')
            .map(|c| c.to_ascii_uppercase())
            .collect::<String>(),
    );
    let secret = totp_rs::Secret::try_from_base32(normalised.as_str()).map_err(|_| NotBase32)?;
    if secret.is_empty() {
        return Err(NotBase32);
    }
    Ok(secret)
}

/// The `otpauth://totp/ISSUER:ACCOUNT?secret=SEED&issuer=ISSUER` URI that authenticator apps
/// take (typed, pasted or as a QR code), built by totp-rs; it holds the seed, so it is a secret
/// too. A colon, which the URI format reserves as the label's separator, becomes a dot.
pub(crate) fn otpauth_uri(seed: &Secret, account: &str, issuer: &str) -> Result<Secret, NotBase32> {
    let secret = parse_seed(seed)?;
    let totp = totp_rs::Builder::new()
        .with_secret(secret)
        .with_step_duration(STEP_S)
        .with_account_name(account.replace(':', "."))
        .with_issuer(Some(issuer.replace(':', ".")))
        .build_noncompliant();
    // The account name is set and has no colon, the only ways to_url fails.
    totp.to_url().map(Secret::new).map_err(|_| NotBase32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed(text: &str) -> Secret {
        Secret::new(text.to_owned())
    }

    #[test]
    fn matches_the_rfc_6238_vectors() {
        // RFC 6238 appendix B, SHA-1: the seed "12345678901234567890", 8 digits there; Cognito
        // uses the last 6 of the same truncation.
        let totp = Totp::new(&seed("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ")).unwrap();
        for (time, eight) in [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
        ] {
            assert_eq!(totp.code(time), eight[2..], "at {time}");
        }
    }

    #[test]
    fn a_code_is_handed_out_once_then_the_next_step_is_awaited() {
        let totp = Totp::new(&seed("gezd gnbv gy3t qojq gezd gnbv gy3t qojq")).unwrap();
        // The only test that hands codes out: the last step is shared by the whole process.
        assert_eq!(totp.code_at(1_234_567_890).unwrap(), "005924");
        // 1,234,567,890 is 0 s into its step, which ends at 1,234,567,920.
        assert_eq!(totp.code_at(1_234_567_891), Err(Duration::from_secs(29)));
        // Another Totp (a reload) does not send the same step's code either.
        let again = Totp::new(&seed("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ")).unwrap();
        assert!(again.code_at(1_234_567_919).is_err());
        assert!(totp.code_at(1_234_567_920).is_ok());
    }

    #[test]
    fn the_otpauth_uri_carries_seed_account_and_issuer() {
        let uri = otpauth_uri(
            &seed("gezd gnbv gy3t qojq gezd gnbv gy3t qojq"),
            "alice@example.com",
            "Cognito eu-west-1_AbC",
        )
        .unwrap();
        assert_eq!(
            uri.expose(),
            "otpauth://totp/Cognito%20eu-west-1_AbC:alice%40example.com\
             ?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Cognito%20eu-west-1_AbC"
        );
        assert!(otpauth_uri(&seed("a:b"), "x", "y").is_err());
        // A colon in the account name would end the issuer early.
        assert!(otpauth_uri(&seed("GEZDGNBV"), "a:b", "y")
            .unwrap()
            .expose()
            .contains(":a.b?"));
        assert_eq!(Totp::step_left(1_234_567_890), Duration::from_secs(30));
        assert_eq!(Totp::step_left(1_234_567_919), Duration::from_secs(1));
    }

    #[test]
    fn a_seed_that_is_not_base32_is_refused() {
        assert!(Totp::new(&seed("not base32 at all: 0189!")).is_err());
        assert!(Totp::new(&seed("")).is_err());
        // moto's fixed test seed is short but valid base32.
        assert!(Totp::new(&seed("asdfasdfasdf")).is_ok());
    }
}
