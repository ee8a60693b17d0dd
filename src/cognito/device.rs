//! A remembered device: what Cognito's device tracking asks a client to keep after a sign-in
//! that returned `NewDeviceMetadata`, so that later sign-ins from this host prove the device
//! (DEVICE_SRP_AUTH) instead of answering MFA again.

use base64::Engine as _;
use rand::RngCore;

use super::srp::{device_verifier, DeviceVerifier};
use crate::secret::Secret;

/// This host as a device of the user pool. Held in the engine's memory with the other secrets.
#[derive(Debug, Clone)]
pub(crate) struct Device {
    /// DeviceKey, sent as DEVICE_KEY on every sign-in and refresh.
    pub key: String,
    /// DeviceGroupKey: the device's SRP "realm".
    pub group_key: String,
    /// The random password only this host knows; Cognito keeps its verifier.
    pub password: Secret,
}

impl Device {
    /// A new device for the metadata Cognito returned, with a random password (40 random bytes,
    /// base64, as amazon-cognito-identity-js makes it) and the verifier ConfirmDevice takes.
    pub(crate) fn new(key: String, group_key: String) -> (Device, DeviceVerifier) {
        let mut rng = rand::thread_rng();
        let mut password = zeroize::Zeroizing::new([0u8; 40]);
        rng.fill_bytes(password.as_mut());
        let password =
            Secret::new(base64::engine::general_purpose::STANDARD.encode(password.as_ref()));
        let mut salt = [0u8; 16];
        rng.fill_bytes(&mut salt);
        let verifier = device_verifier(&group_key, &key, password.expose(), &salt);
        (
            Device {
                key,
                group_key,
                password,
            },
            verifier,
        )
    }
}

/// The name ConfirmDevice gives the device in the user pool's console: this host's name.
pub(crate) fn device_name() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|name| name.into_string().ok())
        .filter(|name| !name.is_empty())
        .map_or_else(
            || "cognitod".to_owned(),
            |name| format!("cognitod on {name}"),
        )
}
