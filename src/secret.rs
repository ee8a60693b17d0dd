//! Secret values: the only type that holds passwords, client secrets, the shared secret and
//! tokens. It redacts itself in `Debug`, has no `Display`, zeroes its memory on drop, and compares
//! in constant time, so a secret cannot leak through a log line or a timing difference by accident.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

/// A secret string. Cloning copies the secret into a second zero-on-drop allocation.
#[derive(Clone)]
pub struct Secret(SecretString);

impl Secret {
    /// Wraps a secret. The value is copied into an exact-size allocation and the original is
    /// zeroed, so no unzeroed copy is left behind (turning a `String` with spare capacity into a
    /// boxed `str` may otherwise reallocate and free the old buffer as it is).
    pub fn new(mut value: String) -> Self {
        let exact: Box<str> = Box::from(value.as_str());
        value.zeroize();
        Secret(SecretString::new(exact))
    }

    /// The secret itself, for the few places that must send it (upstream calls, answers).
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// Compares with what a client sent, in time independent of where they differ and of the
    /// length of either: both sides are hashed first, so only fixed-size digests are compared.
    /// A secret compared on every request should be a [`SharedSecret`], which hashes itself once.
    pub fn matches(&self, candidate: &[u8]) -> bool {
        SharedSecret::new(self).matches(candidate)
    }

    /// Whether the secret is empty (an empty shared secret would let everyone in).
    pub fn is_empty(&self) -> bool {
        self.expose().is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        self.matches(other.expose().as_bytes())
    }
}

/// The shared secret clients present, kept as its SHA-256 digest only. The digest is taken once,
/// when the configuration is loaded, so that checking a request costs one hash (of what the
/// client offered) instead of two; it is zeroed on drop, as a short secret could be found again
/// from its digest by trying candidates.
#[derive(Clone)]
pub struct SharedSecret(Zeroizing<[u8; 32]>);

impl SharedSecret {
    /// Digests the configured secret.
    pub fn new(secret: &Secret) -> Self {
        let mut digest = Zeroizing::new([0u8; 32]);
        digest.copy_from_slice(&Sha256::digest(secret.expose().as_bytes()));
        SharedSecret(digest)
    }

    /// Compares with what a client sent, in time independent of where they differ and of the
    /// length of either: the offered bytes are hashed, so only fixed-size digests are compared,
    /// and in constant time.
    pub fn matches(&self, candidate: &[u8]) -> bool {
        let offered = Sha256::digest(candidate);
        self.0.as_slice().ct_eq(offered.as_slice()).into()
    }
}

impl fmt::Debug for SharedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SharedSecret([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let secret = Secret::new("hunter2".into());
        assert_eq!(format!("{secret:?}"), "Secret([redacted])");
    }

    #[test]
    fn matches_only_the_exact_bytes() {
        let secret = Secret::new("hunter2".into());
        assert!(secret.matches(b"hunter2"));
        assert!(!secret.matches(b"hunter3"));
        assert!(!secret.matches(b"hunter2 "));
        assert!(!secret.matches(b""));
    }

    #[test]
    fn a_shared_secret_matches_as_the_secret_does() {
        let shared = SharedSecret::new(&Secret::new("hunter2".into()));
        assert!(shared.matches(b"hunter2"));
        for wrong in [&b"hunter3"[..], b"Hunter2", b"hunter2 ", b"hunter", b""] {
            assert!(!shared.matches(wrong), "{wrong:?}");
        }
        assert_eq!(format!("{shared:?}"), "SharedSecret([redacted])");
    }
}
