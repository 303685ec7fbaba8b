//! Signed-in sessions, in memory: an unguessable id in an HttpOnly cookie, the
//! user, a per-session CSRF token, an idle timeout and an absolute lifetime.
//!
//! Each user keeps at most `per_user` sessions (a new one pushes out that
//! user's least recently used), so that signing in again and again pushes out
//! only one's own; `max` bounds them all together, as a safety bound only
//! (the least recently used of all go), far above users times `per_user`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::ids;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Session {
    pub(crate) id: String,
    pub(crate) user: String,
    /// The gateway role pi-health asserts for the user (`X-On-Behalf-Role`),
    /// as the users file said at sign-in.
    pub(crate) role: String,
    /// Sent back in `X-CSRF-Token` with every POST.
    pub(crate) csrf: String,
    created: Instant,
    last_seen: Instant,
}

pub(crate) struct Sessions {
    map: Mutex<HashMap<String, Session>>,
    idle: Duration,
    lifetime: Duration,
    per_user: usize,
    max: usize,
}

impl Sessions {
    pub(crate) fn new(idle: Duration, lifetime: Duration, per_user: usize, max: usize) -> Self {
        Self {
            map: Mutex::default(),
            idle,
            lifetime,
            per_user: per_user.max(1),
            max: max.max(1),
        }
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

    /// A new session; none without randomness for its id and CSRF token.
    pub(crate) fn create(&self, user: &str, role: &str) -> Result<Session, ids::NoRandomness> {
        self.create_at(user, role, Instant::now())
    }

    fn create_at(
        &self,
        user: &str,
        role: &str,
        now: Instant,
    ) -> Result<Session, ids::NoRandomness> {
        let session = Session {
            id: ids::random_hex(32)?,
            user: user.to_owned(),
            role: role.to_owned(),
            csrf: ids::random_hex(32)?,
            created: now,
            last_seen: now,
        };
        let mut map = self.lock();
        map.retain(|_, s| self.alive(s, now));
        let mut own: Vec<(Instant, String)> = map
            .values()
            .filter(|s| s.user == user)
            .map(|s| (s.last_seen, s.id.clone()))
            .collect();
        if own.len() >= self.per_user {
            own.sort_unstable();
            for (_, id) in own.iter().take(own.len() + 1 - self.per_user) {
                map.remove(id);
            }
        }
        while map.len() >= self.max {
            let oldest = map
                .values()
                .min_by_key(|s| s.last_seen)
                .map(|s| s.id.clone());
            match oldest {
                Some(id) => map.remove(&id),
                None => break,
            };
        }
        map.insert(session.id.clone(), session.clone());
        Ok(session)
    }

    /// The live session with this id (its idle timer restarts), or `None`.
    pub(crate) fn get(&self, id: &str) -> Option<Session> {
        self.get_at(id, Instant::now())
    }

    fn get_at(&self, id: &str, now: Instant) -> Option<Session> {
        let mut map = self.lock();
        let alive = map.get(id).map(|s| self.alive(s, now))?;
        if !alive {
            map.remove(id);
            return None;
        }
        let session = map.get_mut(id)?;
        session.last_seen = now;
        Some(session.clone())
    }

    pub(crate) fn remove(&self, id: &str) {
        self.lock().remove(id);
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
        assert_eq!(s.id.len(), 64);
        assert_ne!(s.id, s.csrf);
        assert_eq!(
            sessions
                .get_at(&s.id, t0 + Duration::from_secs(50))
                .unwrap()
                .user,
            "alice"
        );
        // Activity keeps it alive past the idle timeout ...
        assert!(
            sessions
                .get_at(&s.id, t0 + Duration::from_secs(100))
                .is_some()
        );
        assert!(
            sessions
                .get_at(&s.id, t0 + Duration::from_secs(150))
                .is_some()
        );
        // ... but not past its lifetime.
        assert!(
            sessions
                .get_at(&s.id, t0 + Duration::from_secs(301))
                .is_none()
        );
        assert!(
            sessions
                .get_at(&s.id, t0 + Duration::from_secs(10))
                .is_none(),
            "removed"
        );

        let idle = sessions.create_at("bob", "standard", t0).unwrap();
        assert!(
            sessions
                .get_at(&idle.id, t0 + Duration::from_secs(61))
                .is_none()
        );
        assert!(sessions.get_at("made-up", t0).is_none());

        let gone = sessions.create_at("carol", "standard", t0).unwrap();
        sessions.remove(&gone.id);
        assert!(sessions.get_at(&gone.id, t0).is_none());
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
        assert!(sessions.get_at(&a1.id, at(4)).is_some());
        let a4 = sessions.create_at("alice", "standard", at(5)).unwrap();
        assert!(sessions.get_at(&a2.id, at(6)).is_none(), "alice's LRU went");
        for id in [&a1.id, &a3.id, &a4.id] {
            assert!(sessions.get_at(id, at(6)).is_some());
        }
        // Signing in again and again pushes out only alice's own sessions.
        for s in 10..200 {
            sessions.create_at("alice", "standard", at(s)).unwrap();
        }
        assert_eq!(sessions.get_at(&bob.id, at(200)).unwrap().user, "bob");
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
            sessions.get_at(&a.id, now).is_none(),
            "the least recently used goes"
        );
        assert!(sessions.get_at(&b.id, now).is_some());
        assert!(sessions.get_at(&c.id, now).is_some());
    }
}
