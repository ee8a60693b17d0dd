//! What a restart needs, kept for the next process of the service by systemd's file descriptor
//! store: a sealed memfd named `state` (`FDSTORE=1`, `FDNAME=state`), never a file on disk.
//!
//! It holds the sign-in state (refresh token, device, identity id) and the current tokens and
//! credentials with their expiry, and the fingerprint of the configuration they belong to, so that
//! a restart or a package upgrade serves at once without a password sign-in, and a changed
//! configuration (another user, pool, client, role or credential type) never uses them.
//!
//! The blob is written once into a memfd and sealed against writing, growing, shrinking and
//! further sealing before systemd gets it: whoever holds the descriptor later (systemd, the next
//! process) can read it but not change it. The daemon's own copy is zeroed when dropped.

use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::time::Duration;

use nix::fcntl::{fcntl, FcntlArg, SealFlag};
use nix::sys::memfd::{memfd_create, MemFdCreateFlag};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::cognito::auth::Tokens;
use crate::cognito::device::Device;
use crate::cognito::identity::AwsCredentials;
use crate::expiry::Expiry;
use crate::secret::Secret;

/// The name systemd keeps the descriptor under (FDNAME=, and LISTEN_FDNAMES at the next start).
pub const FD_NAME: &str = "state";
/// The blob's format; a blob of another version is discarded.
const VERSION: u32 = 1;
/// Larger than any real state (tokens are a few KiB): a bigger descriptor is not ours.
const MAX_STATE_BYTES: u64 = 256 * 1024;
/// The seals a state descriptor carries.
fn seals() -> SealFlag {
    SealFlag::F_SEAL_WRITE | SealFlag::F_SEAL_GROW | SealFlag::F_SEAL_SHRINK | SealFlag::F_SEAL_SEAL
}

/// User-pool tokens as kept.
#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop, Clone, PartialEq, Eq)]
pub struct KeptTokens {
    /// The ID token.
    pub id_token: String,
    /// The access token.
    pub access_token: String,
    /// The refresh token, when there is one.
    pub refresh_token: Option<String>,
    /// Expiry, seconds since the epoch (Cognito's statement).
    pub expires_at: i64,
    /// Lifetime in seconds when received.
    pub lifetime_s: u64,
    /// The user's internal name.
    pub user_id: String,
}

/// Identity-pool credentials as kept.
#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop, Clone, PartialEq, Eq)]
pub struct KeptCredentials {
    /// AccessKeyId.
    pub access_key_id: String,
    /// SecretAccessKey.
    pub secret_access_key: String,
    /// SessionToken.
    pub session_token: String,
    /// Expiry, seconds since the epoch (Cognito's statement).
    pub expires_at: i64,
    /// Lifetime in seconds when received.
    pub lifetime_s: u64,
    /// The AWS account, when known.
    pub account_id: Option<String>,
}

/// A remembered device as kept.
#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop, Clone, PartialEq, Eq)]
pub struct KeptDevice {
    /// DeviceKey.
    pub key: String,
    /// DeviceGroupKey.
    pub group_key: String,
    /// The device password.
    pub password: String,
}

/// Everything a restart needs.
#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop, Clone, PartialEq, Eq)]
pub struct KeptState {
    /// The format.
    pub version: u32,
    /// The configuration it belongs to (see [`fingerprint`]).
    pub fingerprint: String,
    /// The identity id, once known.
    pub identity_id: Option<String>,
    /// The latest tokens.
    pub tokens: Option<KeptTokens>,
    /// The latest credentials (IAM mode).
    pub credentials: Option<KeptCredentials>,
    /// This host as a remembered device.
    pub device: Option<KeptDevice>,
}

impl std::fmt::Debug for KeptState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeptState").finish_non_exhaustive()
    }
}

/// Why a state descriptor was not used (said once in the log; the descriptor is dropped).
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// Not readable, too large, not sealed, or not a state blob of this version.
    #[error("the kept state is unreadable ({0}); signing in afresh")]
    Corrupt(String),
    /// Made for another configuration.
    #[error("the kept state belongs to another configuration (user, pools, app client, role, credential type or a secret changed); signing in afresh")]
    OtherConfiguration,
}

/// The fingerprint of what a state belongs to: a digest over the settings the sign-in depends
/// on (the caller chooses them), each part length-prefixed so that parts cannot run together.
pub fn fingerprint(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl KeptState {
    /// An empty state for a configuration.
    pub fn new(fingerprint: String) -> KeptState {
        KeptState {
            version: VERSION,
            fingerprint,
            identity_id: None,
            tokens: None,
            credentials: None,
            device: None,
        }
    }

    /// Writes the state into a new memfd and seals it.
    pub fn seal(&self) -> std::io::Result<OwnedFd> {
        let fd = memfd_create(
            c"cognitod-state",
            MemFdCreateFlag::MFD_CLOEXEC | MemFdCreateFlag::MFD_ALLOW_SEALING,
        )?;
        let blob = Zeroizing::new(serde_json::to_vec(self).map_err(std::io::Error::other)?);
        let mut file = std::fs::File::from(fd);
        file.write_all(&blob)?;
        fcntl(file.as_raw_fd(), FcntlArg::F_ADD_SEALS(seals()))?;
        Ok(OwnedFd::from(file))
    }

    /// Reads a state descriptor, for the configuration with `fingerprint`.
    pub fn unseal(fd: OwnedFd, fingerprint: &str) -> Result<KeptState, StateError> {
        let corrupt = |what: &str| StateError::Corrupt(what.to_owned());
        let present = fcntl(fd.as_raw_fd(), FcntlArg::F_GET_SEALS)
            .map_err(|e| StateError::Corrupt(format!("not a sealed memfd: {e}")))?;
        if SealFlag::from_bits_truncate(present) & seals() != seals() {
            return Err(corrupt("not sealed against changes"));
        }
        let mut file = std::fs::File::from(fd);
        file.seek(SeekFrom::Start(0))
            .map_err(|e| StateError::Corrupt(e.to_string()))?;
        let mut blob = Zeroizing::new(Vec::new());
        file.take(MAX_STATE_BYTES + 1)
            .read_to_end(&mut blob)
            .map_err(|e| StateError::Corrupt(e.to_string()))?;
        if blob.len() as u64 > MAX_STATE_BYTES {
            return Err(corrupt("larger than any state"));
        }
        let state: KeptState =
            serde_json::from_slice(&blob).map_err(|_| corrupt("not a state blob"))?;
        if state.version != VERSION {
            return Err(corrupt("another format version"));
        }
        if state.fingerprint != fingerprint {
            return Err(StateError::OtherConfiguration);
        }
        Ok(state)
    }

    /// Hands the state to systemd's FD store in place of the previous one. A failure (no
    /// NOTIFY_SOCKET, or FileDescriptorStoreMax=0) costs a sign-in at the next start, nothing more.
    pub fn hand_to_systemd(&self) -> std::io::Result<()> {
        use sd_notify::NotifyState;
        let fd = self.seal()?;
        sd_notify::notify(&[NotifyState::FdStoreRemove, NotifyState::FdName(FD_NAME)])?;
        sd_notify::notify_with_fds(
            &[NotifyState::FdStore, NotifyState::FdName(FD_NAME)],
            &[fd.as_fd()],
        )
    }
}

/// Seconds since the epoch of an expiry (what the blob keeps).
fn epoch_seconds(expiry: &Expiry) -> i64 {
    expiry.at.unix_timestamp()
}

/// The expiry a kept one stands for, on this process's clocks.
fn expiry_of(expires_at: i64, lifetime_s: u64) -> Option<Expiry> {
    let at = OffsetDateTime::from_unix_timestamp(expires_at).ok()?;
    Some(Expiry::restored(at, Duration::from_secs(lifetime_s)))
}

impl KeptTokens {
    fn of(tokens: &Tokens) -> KeptTokens {
        KeptTokens {
            id_token: tokens.id_token.expose().to_owned(),
            access_token: tokens.access_token.expose().to_owned(),
            refresh_token: tokens.refresh_token.as_ref().map(|r| r.expose().to_owned()),
            expires_at: epoch_seconds(&tokens.expiry),
            lifetime_s: tokens.expiry.lifetime.as_secs(),
            user_id: tokens.user_id.clone(),
        }
    }

    fn tokens(&self) -> Option<Tokens> {
        Some(Tokens {
            id_token: Secret::new(self.id_token.clone()),
            access_token: Secret::new(self.access_token.clone()),
            refresh_token: self.refresh_token.clone().map(Secret::new),
            expiry: expiry_of(self.expires_at, self.lifetime_s)?,
            user_id: self.user_id.clone(),
        })
    }
}

impl KeptCredentials {
    fn of(credentials: &AwsCredentials) -> KeptCredentials {
        KeptCredentials {
            access_key_id: credentials.access_key_id.clone(),
            secret_access_key: credentials.secret_access_key.expose().to_owned(),
            session_token: credentials.session_token.expose().to_owned(),
            expires_at: epoch_seconds(&credentials.expiry),
            lifetime_s: credentials.expiry.lifetime.as_secs(),
            account_id: credentials.account_id.clone(),
        }
    }

    fn credentials(&self, role_arn: Option<&str>) -> Option<AwsCredentials> {
        Some(AwsCredentials {
            access_key_id: self.access_key_id.clone(),
            secret_access_key: Secret::new(self.secret_access_key.clone()),
            session_token: Secret::new(self.session_token.clone()),
            expiry: expiry_of(self.expires_at, self.lifetime_s)?,
            account_id: self.account_id.clone(),
            role_arn: role_arn.map(str::to_owned),
        })
    }
}

impl KeptDevice {
    fn of(device: &Device) -> KeptDevice {
        KeptDevice {
            key: device.key.clone(),
            group_key: device.group_key.clone(),
            password: device.password.expose().to_owned(),
        }
    }

    fn device(&self) -> Device {
        Device {
            key: self.key.clone(),
            group_key: self.group_key.clone(),
            password: Secret::new(self.password.clone()),
        }
    }
}

/// What the engine's sign-in state is at one moment, borrowed from where it lives.
pub struct SignInState<'a> {
    /// The identity id, once known.
    pub identity_id: Option<String>,
    /// The current user-pool tokens.
    pub tokens: Option<&'a Tokens>,
    /// The current credentials (IAM mode).
    pub credentials: Option<&'a AwsCredentials>,
    /// This host as a remembered device.
    pub device: Option<Device>,
}

/// What a kept state gives back to the engine.
pub struct Restored {
    /// The identity id.
    pub identity_id: Option<String>,
    /// The tokens (with the refresh token that renews them without the password).
    pub tokens: Option<Tokens>,
    /// The credentials (IAM mode), servable at once when still valid.
    pub credentials: Option<AwsCredentials>,
    /// The remembered device.
    pub device: Option<Device>,
}

/// Keeps the sign-in state in systemd's FD store for one configuration, and takes back what a
/// previous process of the service kept. Only under a service manager (NOTIFY_SOCKET set).
pub struct StateKeeper {
    fingerprint: String,
    /// Whether a handover failed already (said once, not on every renewal).
    failed_once: std::sync::atomic::AtomicBool,
}

impl StateKeeper {
    /// A keeper for the configuration with this fingerprint, when systemd is listening.
    pub fn under_service_manager(fingerprint: String) -> Option<StateKeeper> {
        std::env::var_os("NOTIFY_SOCKET").map(|_| StateKeeper {
            fingerprint,
            failed_once: Default::default(),
        })
    }

    /// The state in a descriptor systemd passed, when it belongs to this configuration. Anything
    /// else is logged in one line and removed from the store, so another configuration's tokens
    /// do not stay there.
    pub fn take_back(&self, fd: OwnedFd, role_arn: Option<&str>) -> Option<Restored> {
        match KeptState::unseal(fd, &self.fingerprint) {
            Ok(state) => Some(Restored {
                identity_id: state.identity_id.clone(),
                tokens: state.tokens.as_ref().and_then(KeptTokens::tokens),
                credentials: (state.credentials.as_ref()).and_then(|c| c.credentials(role_arn)),
                device: state.device.as_ref().map(KeptDevice::device),
            }),
            Err(e) => {
                tracing::warn!(event = "kept_state_discarded", "{e}");
                forget_in_systemd();
                None
            }
        }
    }

    /// Hands the current sign-in state to systemd in place of the previous one.
    pub fn keep(&self, now: SignInState<'_>) {
        let mut state = KeptState::new(self.fingerprint.clone());
        state.identity_id = now.identity_id;
        state.tokens = now.tokens.map(KeptTokens::of);
        state.credentials = now.credentials.map(KeptCredentials::of);
        state.device = now.device.as_ref().map(KeptDevice::of);
        if let Err(e) = state.hand_to_systemd() {
            if !self
                .failed_once
                .swap(true, std::sync::atomic::Ordering::Relaxed)
            {
                tracing::warn!(
                    error = %e,
                    "could not hand the sign-in state to systemd's file descriptor store: a \
                     restart will sign in again (the unit needs FileDescriptorStoreMax=)"
                );
            }
        }
    }
}

/// Removes the kept state from systemd's store.
fn forget_in_systemd() {
    use sd_notify::NotifyState;
    if let Err(e) = sd_notify::notify(&[NotifyState::FdStoreRemove, NotifyState::FdName(FD_NAME)]) {
        tracing::debug!(error = %e, "could not remove the kept state from the store");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> KeptState {
        let mut state = KeptState::new(fingerprint(&["alice", "eu-west-1_Pool", "client"]));
        state.identity_id = Some("eu-west-1:0000".into());
        state.tokens = Some(KeptTokens {
            id_token: "id.jwt".into(),
            access_token: "access.jwt".into(),
            refresh_token: Some("refresh".into()),
            expires_at: 1_800_000_000,
            lifetime_s: 3600,
            user_id: "alice".into(),
        });
        state.credentials = Some(KeptCredentials {
            access_key_id: "ASIA".into(),
            secret_access_key: "secret".into(),
            session_token: "session".into(),
            expires_at: 1_800_000_000,
            lifetime_s: 3600,
            account_id: Some("123456789012".into()),
        });
        state.device = Some(KeptDevice {
            key: "eu-west-1_dev".into(),
            group_key: "-grp".into(),
            password: "devpw".into(),
        });
        state
    }

    #[test]
    fn a_sealed_state_reads_back_whole_and_cannot_be_changed() {
        let state = sample();
        let fd = state.seal().unwrap();
        // Sealed: writing, growing and shrinking are refused.
        let mut file = std::fs::File::from(fd.try_clone().unwrap());
        assert!(file.write_all(b"x").is_err());
        assert!(file.set_len(1).is_err());
        assert!(fcntl(
            fd.as_raw_fd(),
            FcntlArg::F_ADD_SEALS(SealFlag::F_SEAL_WRITE)
        )
        .is_err());
        let back = KeptState::unseal(fd, &state.fingerprint).unwrap();
        assert!(back == state);
    }

    #[test]
    fn another_configuration_or_a_foreign_descriptor_is_refused() {
        let state = sample();
        let other = fingerprint(&["bob", "eu-west-1_Pool", "client"]);
        assert!(matches!(
            KeptState::unseal(state.seal().unwrap(), &other),
            Err(StateError::OtherConfiguration)
        ));
        // An unsealed descriptor with the right text is not taken either.
        let fd = memfd_create(c"x", MemFdCreateFlag::MFD_CLOEXEC).unwrap();
        let mut file = std::fs::File::from(fd);
        file.write_all(&serde_json::to_vec(&state).unwrap())
            .unwrap();
        assert!(matches!(
            KeptState::unseal(OwnedFd::from(file), &state.fingerprint),
            Err(StateError::Corrupt(_))
        ));
    }

    #[test]
    fn the_fingerprint_separates_its_parts() {
        assert_ne!(fingerprint(&["ab", "c"]), fingerprint(&["a", "bc"]));
        assert_eq!(fingerprint(&["a", "b"]), fingerprint(&["a", "b"]));
    }

    #[test]
    fn debug_shows_no_secret() {
        let text = format!("{:?}", sample());
        assert!(!text.contains("refresh") && !text.contains("secret") && !text.contains("devpw"));
    }
}
