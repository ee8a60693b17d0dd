//! The identity id, kept across restarts and reboots in the service's state directory
//! (`StateDirectory=cognitod`, which systemd passes as `$STATE_DIRECTORY`).
//!
//! An identity pool gives a user the same identity id forever, and looking it up again (GetId)
//! is the call a fleet's cold start queues on: 25 requests/s per account by default, against
//! 120/s for sign-ins (see `cargo bench --bench fleet`). Keeping it is not keeping a secret: an
//! identity id grants nothing without the user's tokens. It is stored with the settings it
//! belongs to and used only when they still match.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use tracing::{debug, warn};

use crate::config::CognitoConfig;

/// Where the identity id is kept, and for which user and pools.
pub(crate) struct KeptIdentity {
    /// `$STATE_DIRECTORY/identity-id.json`; none without a state directory (nothing is kept).
    path: Option<PathBuf>,
    /// The user and pools the identity id belongs to.
    belongs_to: BelongsTo,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct BelongsTo {
    region: String,
    user_pool_id: String,
    username: String,
    identity_pool_id: String,
}

#[derive(Serialize, Deserialize)]
struct Kept {
    #[serde(flatten)]
    belongs_to: BelongsTo,
    identity_id: String,
}

impl KeptIdentity {
    /// For the configured user, in `$STATE_DIRECTORY` (the first one, when systemd lists several).
    pub(crate) fn for_settings(settings: &CognitoConfig) -> KeptIdentity {
        let path = std::env::var_os("STATE_DIRECTORY")
            .and_then(|dirs| std::env::split_paths(&dirs).next())
            .filter(|dir| dir.is_absolute())
            .map(|dir| dir.join("identity-id.json"));
        KeptIdentity {
            path,
            belongs_to: BelongsTo {
                region: settings.region.clone(),
                user_pool_id: settings.user_pool_id.clone(),
                username: settings.username.clone(),
                identity_pool_id: settings.identity_pool_id.clone().unwrap_or_default(),
            },
        }
    }

    /// The kept identity id, when there is one for this user and these pools.
    pub(crate) fn load(&self) -> Option<String> {
        let path = self.path.as_ref()?;
        let text = std::fs::read_to_string(path).ok()?;
        match serde_json::from_str::<Kept>(&text) {
            Ok(kept) if kept.belongs_to == self.belongs_to => {
                debug!(path = %path.display(), "using the kept identity id");
                Some(kept.identity_id)
            }
            Ok(_) => {
                debug!("the kept identity id belongs to another user or pool; looking it up");
                None
            }
            Err(e) => {
                warn!(path = %path.display(), error = %e, "ignoring an unreadable kept identity id");
                None
            }
        }
    }

    /// Keeps the identity id (written whole and renamed into place, so a crash leaves the old
    /// file or the new one). Failing to keep it costs a GetId at the next start, nothing more.
    pub(crate) fn store(&self, identity_id: &str) {
        let Some(path) = &self.path else { return };
        let kept = Kept {
            belongs_to: self.belongs_to.clone(),
            identity_id: identity_id.to_owned(),
        };
        let written = (|| {
            let dir = path.parent().ok_or(std::io::ErrorKind::NotFound)?;
            let mut file = tempfile::NamedTempFile::new_in(dir)?;
            serde_json::to_writer(&mut file, &kept)?;
            file.persist(path).map_err(|e| e.error)?;
            Ok::<_, std::io::Error>(())
        })();
        if let Err(e) = written {
            warn!(path = %path.display(), error = %e, "could not keep the identity id for the next start");
        }
    }

    /// Forgets it (the identity pool no longer knows it).
    pub(crate) fn forget(&self) {
        if let Some(path) = &self.path {
            let _ = std::fs::remove_file(path);
        }
    }
}
