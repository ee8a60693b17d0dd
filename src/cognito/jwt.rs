//! Reading the claims of a Cognito token the daemon has just received over TLS.
//!
//! The signature is not checked: the token comes straight from Cognito and is only read for its
//! expiry and the internal user name, never trusted for access decisions.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::Deserialize;

/// The claims the daemon uses.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Claims {
    /// Expiry, seconds since the epoch.
    pub exp: Option<i64>,
    /// The user's internal name (what SECRET_HASH is computed over on refresh).
    #[serde(rename = "cognito:username")]
    pub username: Option<String>,
}

/// The claims of a JWT's payload, or `None` when it is not a readable JWT.
pub(crate) fn claims(token: &str) -> Option<Claims> {
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    serde_json::from_slice(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_expiry_and_username() {
        let payload =
            URL_SAFE_NO_PAD.encode(br#"{"exp":1700000000,"cognito:username":"abc","sub":"s"}"#);
        let claims = claims(&format!("h.{payload}.sig")).unwrap();
        assert_eq!(claims.exp, Some(1_700_000_000));
        assert_eq!(claims.username.as_deref(), Some("abc"));
    }

    #[test]
    fn garbage_is_none() {
        assert!(claims("not a jwt").is_none());
        assert!(claims("a.!!!.c").is_none());
    }
}
