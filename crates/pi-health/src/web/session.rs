//! Signed-in sessions: an unguessable id in an HttpOnly cookie, the user, a
//! per-session CSRF token, an idle timeout and an absolute lifetime.
//!
//! Each user keeps at most `per_user` sessions (a new one pushes out that
//! user's least recently used), so that signing in again and again pushes out
//! only one's own; `max` bounds them all together, as a safety bound only
//! (the least recently used of all go), far above users times `per_user`.
//!
//! With a file ([`Sessions::with_file`]) they survive a restart of pi-health:
//! the file names each session by a SHA-256 of its cookie's id (a copy of the
//! file opens no session), is readable by its owner only, and is rewritten
//! whole at each sign-in and sign-out and at most once per [`TOUCH_EVERY`] of a
//! session's activity (an SD card is not worn by page refreshes). A session
//! seen less recently than the file says is only ever shorter-lived, never longer.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::users::{unix_ms_now, valid_name, valid_role};
use crate::{ids, private_file};

/// How stale the file's "last seen" of a session in use may get.
pub(crate) const TOUCH_EVERY: Duration = Duration::from_secs(5 * 60);
/// The sessions file is refused above this size.
const MAX_FILE_BYTES: u64 = 16 << 20;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Session {
    /// The SHA-256 of the cookie's id, in hex: the server's name for the
    /// session (pending actions are kept under it); the id itself lives only
    /// in the browser.
    pub(crate) key: String,
    pub(crate) user: String,
    /// The gateway role pi-health asserts for the user (`X-On-Behalf-Role`),
    /// as the users file said at sign-in.
    pub(crate) role: String,
    /// Sent back in `X-CSRF-Token` with every POST.
    pub(crate) csrf: String,
    /// When the user signed in, unix ms (checked against `user revoke`).
    pub(crate) signed_in_ms: u64,
    created: Instant,
    last_seen: Instant,
    /// The `last_seen` the file holds.
    stored_seen: Instant,
}

/// A new session and the id its cookie carries.
pub(crate) struct SignedIn {
    pub(crate) session: Session,
    pub(crate) cookie_id: String,
}

/// A session as the file keeps it.
#[derive(Serialize, Deserialize)]
struct Stored {
    key: String,
    user: String,
    role: String,
    csrf: String,
    created_ms: u64,
    last_seen_ms: u64,
}

#[derive(Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct StoredFile {
    sessions: Vec<Stored>,
}

/// Wall-clock time for the monotonic clock's instants (the file keeps unix ms).
#[derive(Clone, Copy)]
struct Epoch {
    instant: Instant,
    unix_ms: u64,
}

impl Epoch {
    fn now() -> Self {
        Self {
            instant: Instant::now(),
            unix_ms: unix_ms_now(),
        }
    }

    fn to_unix_ms(self, at: Instant) -> u64 {
        match at.checked_duration_since(self.instant) {
            Some(after) => self.unix_ms.saturating_add(millis(after)),
            None => self
                .unix_ms
                .saturating_sub(millis(self.instant.saturating_duration_since(at))),
        }
    }

    /// `None` for a time so long ago that the monotonic clock cannot say it.
    fn to_instant(self, unix_ms: u64) -> Option<Instant> {
        if unix_ms >= self.unix_ms {
            // From the future (the clock was set back): now, not later.
            Some(self.instant)
        } else {
            self.instant
                .checked_sub(Duration::from_millis(self.unix_ms - unix_ms))
        }
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// The key a cookie's id stands for.
fn key_of(cookie_id: &str) -> String {
    hex::encode(Sha256::digest(cookie_id.as_bytes()))
}

fn is_hex64(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

pub(crate) struct Sessions {
    map: Mutex<HashMap<String, Session>>,
    idle: Duration,
    lifetime: Duration,
    per_user: usize,
    max: usize,
    file: Option<PathBuf>,
    epoch: Epoch,
}

impl Sessions {
    pub(crate) fn new(idle: Duration, lifetime: Duration, per_user: usize, max: usize) -> Self {
        Self {
            map: Mutex::default(),
            idle,
            lifetime,
            per_user: per_user.max(1),
            max: max.max(1),
            file: None,
            epoch: Epoch::now(),
        }
    }

    /// Kept in `path` too, starting with the live sessions it holds. A file
    /// that cannot be read is logged and replaced: everyone signs in again.
    pub(crate) fn with_file(mut self, path: PathBuf) -> Self {
        let now = Instant::now();
        match private_file::read_bounded(&path, MAX_FILE_BYTES).and_then(|text| match text {
            Some(text) => serde_json::from_str::<StoredFile>(&text)
                .map_err(|e| format!("{} is not a sessions file: {e}", path.display())),
            None => Ok(StoredFile::default()),
        }) {
            Ok(stored) => {
                let mut map = self.lock();
                for session in stored.sessions.into_iter().filter_map(|s| self.restore(s)) {
                    if self.alive(&session, now) && map.len() < self.max {
                        map.insert(session.key.clone(), session);
                    }
                }
                drop(map);
                tracing::info!(sessions = self.lock().len(), file = %path.display(), "pi-health: sessions restored");
            }
            Err(error) => {
                tracing::warn!(%error, "pi-health: the stored sessions cannot be read; everyone signs in again");
            }
        }
        self.file = Some(path);
        self
    }

    fn restore(&self, stored: Stored) -> Option<Session> {
        let well_formed = is_hex64(&stored.key)
            && is_hex64(&stored.csrf)
            && valid_name(&stored.user)
            && valid_role(&stored.role);
        if !well_formed {
            return None;
        }
        let created = self.epoch.to_instant(stored.created_ms)?;
        let last_seen = self.epoch.to_instant(stored.last_seen_ms)?.max(created);
        Some(Session {
            key: stored.key,
            user: stored.user,
            role: stored.role,
            csrf: stored.csrf,
            signed_in_ms: stored.created_ms,
            created,
            last_seen,
            stored_seen: last_seen,
        })
    }

    pub(crate) fn lifetime(&self) -> Duration {
        self.lifetime
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn alive(&self, session: &Session, now: Instant) -> bool {
        now.saturating_duration_since(session.last_seen) < self.idle
            && now.saturating_duration_since(session.created) < self.lifetime
    }

    /// Writes the sessions to the file, if there is one. A failure is logged:
    /// the sessions still work, they would only not survive a restart.
    fn store(&self, map: &HashMap<String, Session>) {
        let Some(path) = &self.file else { return };
        let mut sessions: Vec<Stored> = map
            .values()
            .map(|s| Stored {
                key: s.key.clone(),
                user: s.user.clone(),
                role: s.role.clone(),
                csrf: s.csrf.clone(),
                created_ms: self.epoch.to_unix_ms(s.created),
                last_seen_ms: self.epoch.to_unix_ms(s.stored_seen),
            })
            .collect();
        sessions.sort_by(|a, b| a.key.cmp(&b.key));
        let written = serde_json::to_vec(&StoredFile { sessions })
            .map_err(|e| e.to_string())
            .and_then(|bytes| private_file::write_atomic(path, &bytes));
        if let Err(error) = written {
            tracing::warn!(%error, "pi-health: cannot store the sessions (they will not survive a restart)");
        }
    }

    /// A new session; none without randomness for its id and CSRF token.
    pub(crate) fn create(&self, user: &str, role: &str) -> Result<SignedIn, ids::NoRandomness> {
        self.create_at(user, role, Instant::now())
    }

    fn create_at(
        &self,
        user: &str,
        role: &str,
        now: Instant,
    ) -> Result<SignedIn, ids::NoRandomness> {
        let cookie_id = ids::random_hex(32)?;
        let session = Session {
            key: key_of(&cookie_id),
            user: user.to_owned(),
            role: role.to_owned(),
            csrf: ids::random_hex(32)?,
            signed_in_ms: self.epoch.to_unix_ms(now),
            created: now,
            last_seen: now,
            stored_seen: now,
        };
        let mut map = self.lock();
        map.retain(|_, s| self.alive(s, now));
        let mut own: Vec<(Instant, String)> = map
            .values()
            .filter(|s| s.user == user)
            .map(|s| (s.last_seen, s.key.clone()))
            .collect();
        if own.len() >= self.per_user {
            own.sort_unstable();
            for (_, key) in own.iter().take(own.len() + 1 - self.per_user) {
                map.remove(key);
            }
        }
        while map.len() >= self.max {
            let oldest = map
                .values()
                .min_by_key(|s| s.last_seen)
                .map(|s| s.key.clone());
            match oldest {
                Some(key) => map.remove(&key),
                None => break,
            };
        }
        map.insert(session.key.clone(), session.clone());
        self.store(&map);
        Ok(SignedIn { session, cookie_id })
    }

    /// The live session the cookie's id opens (its idle timer restarts), or `None`.
    pub(crate) fn get(&self, cookie_id: &str) -> Option<Session> {
        self.get_at(cookie_id, Instant::now())
    }

    fn get_at(&self, cookie_id: &str, now: Instant) -> Option<Session> {
        let key = key_of(cookie_id);
        let mut map = self.lock();
        let alive = map.get(&key).map(|s| self.alive(s, now))?;
        if !alive {
            map.remove(&key);
            self.store(&map);
            return None;
        }
        let session = map.get_mut(&key)?;
        session.last_seen = now;
        let stale = now.saturating_duration_since(session.stored_seen) >= TOUCH_EVERY;
        if stale {
            session.stored_seen = now;
        }
        let session = session.clone();
        if stale {
            self.store(&map);
        }
        Some(session)
    }

    pub(crate) fn remove(&self, key: &str) {
        let mut map = self.lock();
        if map.remove(key).is_some() {
            self.store(&map);
        }
    }

    /// The file the sessions are kept in, if any.
    #[cfg(test)]
    pub(crate) fn file(&self) -> Option<&std::path::Path> {
        self.file.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_expire_when_idle_and_after_their_lifetime() {
        let sessions = Sessions::new(Duration::from_secs(60), Duration::from_secs(300), 10, 100);
        let t0 = Instant::now();
        let s = sessions.create_at("alice", "standard", t0).unwrap();
        assert_eq!(s.cookie_id.len(), 64);
        assert_ne!(s.cookie_id, s.session.csrf);
        assert_eq!(
            sessions
                .get_at(&s.cookie_id, t0 + Duration::from_secs(50))
                .unwrap()
                .user,
            "alice"
        );
        // Activity keeps it alive past the idle timeout ...
        assert!(
            sessions
                .get_at(&s.cookie_id, t0 + Duration::from_secs(100))
                .is_some()
        );
        assert!(
            sessions
                .get_at(&s.cookie_id, t0 + Duration::from_secs(150))
                .is_some()
        );
        // ... but not past its lifetime.
        assert!(
            sessions
                .get_at(&s.cookie_id, t0 + Duration::from_secs(301))
                .is_none()
        );
        assert!(
            sessions
                .get_at(&s.cookie_id, t0 + Duration::from_secs(10))
                .is_none(),
            "removed"
        );

        let idle = sessions.create_at("bob", "standard", t0).unwrap();
        assert!(
            sessions
                .get_at(&idle.cookie_id, t0 + Duration::from_secs(61))
                .is_none()
        );
        assert!(sessions.get_at("made-up", t0).is_none());

        let gone = sessions.create_at("carol", "standard", t0).unwrap();
        sessions.remove(&gone.session.key);
        assert!(sessions.get_at(&gone.cookie_id, t0).is_none());
    }

    #[test]
    fn a_user_keeps_their_most_recently_used_sessions_and_cannot_push_out_anothers() {
        let sessions = Sessions::new(Duration::from_secs(600), Duration::from_secs(3600), 3, 100);
        let t0 = Instant::now();
        let at = |s| t0 + Duration::from_secs(s);
        let bob = sessions.create_at("bob", "standard", at(0)).unwrap();
        let a1 = sessions.create_at("alice", "standard", at(1)).unwrap();
        let a2 = sessions.create_at("alice", "standard", at(2)).unwrap();
        let a3 = sessions.create_at("alice", "standard", at(3)).unwrap();
        // a1 is in use: a2 is now alice's least recently used.
        assert!(sessions.get_at(&a1.cookie_id, at(4)).is_some());
        let a4 = sessions.create_at("alice", "standard", at(5)).unwrap();
        assert!(
            sessions.get_at(&a2.cookie_id, at(6)).is_none(),
            "alice's LRU went"
        );
        for id in [&a1.cookie_id, &a3.cookie_id, &a4.cookie_id] {
            assert!(sessions.get_at(id, at(6)).is_some());
        }
        // Signing in again and again pushes out only alice's own sessions.
        for s in 10..200 {
            sessions.create_at("alice", "standard", at(s)).unwrap();
        }
        assert_eq!(
            sessions.get_at(&bob.cookie_id, at(200)).unwrap().user,
            "bob"
        );
        assert_eq!(sessions.lock().len(), 4);
    }

    #[test]
    fn the_number_of_sessions_is_bounded() {
        let sessions = Sessions::new(Duration::from_secs(60), Duration::from_secs(300), 10, 2);
        let t0 = Instant::now();
        let a = sessions.create_at("a", "standard", t0).unwrap();
        let b = sessions
            .create_at("b", "standard", t0 + Duration::from_secs(1))
            .unwrap();
        let c = sessions
            .create_at("c", "standard", t0 + Duration::from_secs(2))
            .unwrap();
        let now = t0 + Duration::from_secs(3);
        assert!(
            sessions.get_at(&a.cookie_id, now).is_none(),
            "the least recently used goes"
        );
        assert!(sessions.get_at(&b.cookie_id, now).is_some());
        assert!(sessions.get_at(&c.cookie_id, now).is_some());
    }
}

#[cfg(test)]
mod stored {
    use super::*;

    fn sessions(path: &std::path::Path) -> Sessions {
        Sessions::new(Duration::from_secs(600), Duration::from_secs(3600), 10, 100)
            .with_file(path.to_path_buf())
    }

    #[test]
    fn sessions_survive_a_restart_and_the_file_holds_no_cookie_id() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pi-health-sessions.json");
        let first = sessions(&path);
        let alice = first.create("alice", "standard").unwrap();
        let bob = first.create("bob", "admin").unwrap();
        first.remove(&bob.session.key);
        let text = std::fs::read_to_string(first.file().unwrap()).unwrap();
        assert!(!text.contains(&alice.cookie_id), "{text}");
        assert!(text.contains(&alice.session.key), "{text}");
        assert!(
            !text.contains(&bob.session.key),
            "signed out: gone from the file"
        );
        drop(first);

        let second = sessions(&path);
        let restored = second.get(&alice.cookie_id).expect("still signed in");
        assert_eq!(restored.user, "alice");
        assert_eq!(restored.role, "standard");
        assert_eq!(restored.csrf, alice.session.csrf);
        assert_eq!(restored.signed_in_ms, alice.session.signed_in_ms);
        assert!(second.get(&bob.cookie_id).is_none());
        // The key is not a cookie: presenting it opens nothing.
        assert!(second.get(&alice.session.key).is_none());
    }

    #[test]
    fn expired_malformed_and_unreadable_stored_sessions_open_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pi-health-sessions.json");
        let now = unix_ms_now();
        let record = |key: &str, user: &str, created_ms: u64, last_seen_ms: u64| {
            serde_json::json!({
                "key": key, "user": user, "role": "admin", "csrf": "c".repeat(64),
                "created_ms": created_ms, "last_seen_ms": last_seen_ms,
            })
        };
        let file = serde_json::json!({ "sessions": [
            record(&key_of("live-cookie"), "alice", now - 1000, now - 1000),
            // Idle for longer than 600 s, and older than the 3600 s lifetime.
            record(&key_of("idle-cookie"), "bob", now - 700_000, now - 700_000),
            record(&key_of("old-cookie"), "carol", now - 4_000_000, now - 1000),
            // A name with a line break, a key that is not a hash.
            record(&key_of("bad-name"), "eve\nforged", now, now),
            record("not-hex", "dave", now, now),
        ]});
        std::fs::write(&path, file.to_string()).unwrap();
        let restored = sessions(&path);
        assert_eq!(restored.get("live-cookie").unwrap().user, "alice");
        for cookie in ["idle-cookie", "old-cookie", "bad-name", "not-hex"] {
            assert!(restored.get(cookie).is_none(), "{cookie}");
        }

        std::fs::write(&path, "{ not json").unwrap();
        let fresh = sessions(&path);
        assert!(fresh.get("live-cookie").is_none());
        // The broken file is replaced at the next sign-in.
        let signed_in = fresh.create("alice", "admin").unwrap();
        assert!(sessions(&path).get(&signed_in.cookie_id).is_some());
    }
}
