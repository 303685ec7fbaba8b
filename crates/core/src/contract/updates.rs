//! What `compose_updates` answers: for each service, whether the registry
//! holds a newer image than the one on this machine, found by comparing
//! digests (the registry asked through the Engine's distribution endpoint;
//! nothing is pulled). Written by docker-mcp, passed through the gateway,
//! read by pi-health.

use serde::{Deserialize, Serialize};

/// `compose_updates`' answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StackUpdates {
    /// The compose project checked.
    pub project: String,
    pub services: Vec<ServiceUpdate>,
}

/// One service's image, checked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceUpdate {
    pub service: String,
    /// The image the compose file names (absent for a service built locally).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    pub status: UpdateStatus,
    /// The digest the local image was pulled with (`sha256:...`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_digest: Option<String>,
    /// The digest the registry holds for the same reference now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_digest: Option<String>,
    /// Why it could not be checked, in plain words (with `cannot_check`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// When the registry was asked (ms since the epoch): answers are reused
    /// for a while, so that registries are not asked on every look.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checked_at_ms: Option<u64>,
}

/// What the check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpdateStatus {
    /// The registry holds another image for the reference than this machine.
    UpdateAvailable,
    /// The registry holds the image this machine has.
    UpToDate,
    /// No answer to compare: built locally, never pulled, the registry not
    /// reachable or wanting credentials the Engine lacks... (see `reason`).
    CannotCheck,
}

impl UpdateStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UpdateAvailable => "update_available",
            Self::UpToDate => "up_to_date",
            Self::CannotCheck => "cannot_check",
        }
    }
}
