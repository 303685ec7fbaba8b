//! The configuration in force, re-read when the files change on disk. A
//! broken edit is refused (and logged); the last good configuration stays.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{Config, ConfigError};

/// How often the files' modification times are looked at, at most.
const CHECK_EVERY: Duration = Duration::from_millis(500);

pub struct ConfigHandle {
    registry: PathBuf,
    policy: PathBuf,
    current: RwLock<Arc<Config>>,
    /// The modification times of the last load attempt, good or bad.
    seen: Mutex<(Option<SystemTime>, Option<SystemTime>)>,
    last_check_ms: AtomicU64,
    last_error: Mutex<Option<ConfigError>>,
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

impl ConfigHandle {
    /// Loads the files; fails when the first load fails.
    pub fn load(registry: &Path, policy: &Path) -> Result<Self, ConfigError> {
        let seen = (modified(registry), modified(policy));
        let config = Config::load(registry, policy)?;
        Ok(Self {
            registry: registry.to_path_buf(),
            policy: policy.to_path_buf(),
            current: RwLock::new(Arc::new(config)),
            seen: Mutex::new(seen),
            last_check_ms: AtomicU64::new(now_ms()),
            last_error: Mutex::new(None),
        })
    }

    /// The configuration in force, reloaded first if the files changed.
    pub fn current(&self) -> Arc<Config> {
        let now = now_ms();
        let last = self.last_check_ms.load(Ordering::Relaxed);
        if now.saturating_sub(last) >= CHECK_EVERY.as_millis() as u64
            && self
                .last_check_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.reload_if_changed();
        }
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Re-reads the files now if their modification times changed.
    pub fn reload_if_changed(&self) {
        let now_seen = (modified(&self.registry), modified(&self.policy));
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if *seen == now_seen {
            return;
        }
        *seen = now_seen;
        match Config::load(&self.registry, &self.policy) {
            Ok(config) => {
                tracing::info!(version = %config.version, "configuration reloaded");
                for warning in &config.warnings {
                    tracing::warn!("{warning}");
                }
                *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(config);
                *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = None;
            }
            Err(error) => {
                tracing::error!(%error, "configuration change refused; the last good one stays in force");
                *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(error);
            }
        }
    }

    /// Why the newest edit was refused, if it was.
    pub fn last_error(&self) -> Option<ConfigError> {
        self.last_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}
