//! A value loaded from files and re-loaded when they change on disk. A load
//! that fails is refused (and logged); the last good value stays in force.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How often the files' modification times are looked at, at most.
const CHECK_EVERY: Duration = Duration::from_millis(500);

type Loader<T, E> = Box<dyn Fn() -> Result<T, E> + Send + Sync>;

pub struct Watched<T, E> {
    what: &'static str,
    paths: Vec<PathBuf>,
    load: Loader<T, E>,
    current: RwLock<Arc<T>>,
    /// Modification times at the last load attempt, good or bad.
    seen: Mutex<Vec<Option<SystemTime>>>,
    last_check_ms: AtomicU64,
    last_error: Mutex<Option<E>>,
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

impl<T, E: Clone + std::fmt::Display> Watched<T, E> {
    /// Loads now; fails when this first load fails.
    pub fn new(
        what: &'static str,
        paths: Vec<PathBuf>,
        load: impl Fn() -> Result<T, E> + Send + Sync + 'static,
    ) -> Result<Self, E> {
        let seen = paths.iter().map(|p| modified(p)).collect();
        let value = load()?;
        Ok(Self {
            what,
            paths,
            load: Box::new(load),
            current: RwLock::new(Arc::new(value)),
            seen: Mutex::new(seen),
            last_check_ms: AtomicU64::new(now_ms()),
            last_error: Mutex::new(None),
        })
    }

    /// The value in force, re-loaded first if the files changed.
    pub fn current(&self) -> Arc<T> {
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

    /// Re-loads now if any file's modification time changed; returns whether
    /// a new value was taken.
    pub fn reload_if_changed(&self) -> bool {
        let now_seen: Vec<_> = self.paths.iter().map(|p| modified(p)).collect();
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if *seen == now_seen {
            return false;
        }
        *seen = now_seen;
        match (self.load)() {
            Ok(value) => {
                tracing::info!(what = self.what, "reloaded after a change on disk");
                *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(value);
                *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = None;
                true
            }
            Err(error) => {
                tracing::error!(what = self.what, %error, "change refused; the last good version stays in force");
                *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(error);
                false
            }
        }
    }

    /// Why the newest change was refused, if it was.
    pub fn last_error(&self) -> Option<E> {
        self.last_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}
