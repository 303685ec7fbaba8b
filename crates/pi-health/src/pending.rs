//! Which suggestion cards this app showed to which signed-in session, until they
//! expire or are pushed out: only the session a card was shown to can approve
//! it, and the client names an id, never an action or a target.
//!
//! This is not an approval store. A card made while the gateway answered carries
//! the gateway's approval id, and the gateway alone decides whether it is still
//! pending, expired or used, and holds the lock and the cooldown. Only a card made
//! while the gateway was unreachable (no approval id: approving it says nothing
//! ran) is marked used here, so that it answers "already approved" the second time.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::suggestion::Planned;

/// Why an action id cannot be approved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TakeError {
    /// Never suggested, suggested to another session, or forgotten.
    Unknown,
    Expired,
    AlreadyUsed,
}

impl TakeError {
    pub(crate) fn text(self) -> &'static str {
        match self {
            Self::Unknown => "no such suggested action for you: ask the Ops-Copilot again",
            Self::Expired => "this suggestion has expired: ask the Ops-Copilot again",
            Self::AlreadyUsed => "this suggestion was already approved once",
        }
    }
}

struct Entry {
    session: String,
    planned: Planned,
    created: Instant,
    used: bool,
}

pub(crate) struct PendingActions {
    entries: Mutex<HashMap<String, Entry>>,
    ttl: Duration,
    per_session: usize,
    total: usize,
}

impl PendingActions {
    /// Suggestions live `ttl`; a session keeps its newest `per_session`, all
    /// sessions together at most `total`.
    pub(crate) fn new(ttl: Duration, per_session: usize, total: usize) -> Self {
        Self {
            entries: Mutex::default(),
            ttl,
            per_session: per_session.max(1),
            total: total.max(1),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn insert(&self, session: &str, planned: Planned) {
        self.insert_at(session, planned, Instant::now());
    }

    fn insert_at(&self, session: &str, planned: Planned, now: Instant) {
        let mut entries = self.lock();
        // Expired entries (used or not) are dropped first.
        entries.retain(|_, e| now.saturating_duration_since(e.created) < self.ttl);
        let evict_oldest = |entries: &mut HashMap<String, Entry>, of_session: Option<&str>| {
            let oldest = entries
                .iter()
                .filter(|(_, e)| of_session.is_none_or(|s| e.session == s))
                .min_by_key(|(_, e)| e.created)
                .map(|(id, _)| id.clone());
            if let Some(id) = oldest {
                entries.remove(&id);
            }
        };
        while entries.values().filter(|e| e.session == session).count() >= self.per_session {
            evict_oldest(&mut entries, Some(session));
        }
        while entries.len() >= self.total {
            evict_oldest(&mut entries, None);
        }
        entries.insert(
            planned.suggestion.id.clone(),
            Entry {
                session: session.to_owned(),
                planned,
                created: now,
                used: false,
            },
        );
    }

    /// The card `id` for approval by `session` (a card without an approval id: once).
    pub(crate) fn take(&self, session: &str, id: &str) -> Result<Planned, TakeError> {
        self.take_at(session, id, Instant::now())
    }

    fn take_at(&self, session: &str, id: &str, now: Instant) -> Result<Planned, TakeError> {
        let mut entries = self.lock();
        let entry = entries
            .get_mut(id)
            .filter(|e| e.session == session)
            .ok_or(TakeError::Unknown)?;
        if now.saturating_duration_since(entry.created) >= self.ttl {
            return Err(TakeError::Expired);
        }
        if entry.planned.approval_id.is_none() {
            if entry.used {
                return Err(TakeError::AlreadyUsed);
            }
            entry.used = true;
        }
        Ok(entry.planned.clone())
    }

    /// Sign-out: the session's suggestions go with it.
    pub(crate) fn forget_session(&self, session: &str) {
        self.lock().retain(|_, e| e.session != session);
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planner::Action;
    use crate::suggestion;

    fn planned(service: &str) -> Planned {
        suggestion::plan(Action::Restart, service, "/f.yml", None).unwrap()
    }

    #[test]
    fn an_action_is_approvable_once_by_its_session_until_it_expires() {
        let store = PendingActions::new(Duration::from_secs(600), 10, 100);
        let t0 = Instant::now();
        let a = planned("sonarr");
        let id = a.suggestion.id.clone();
        store.insert_at("s1", a.clone(), t0);

        assert_eq!(
            store.take_at("s2", &id, t0),
            Err(TakeError::Unknown),
            "another session"
        );
        assert_eq!(store.take_at("s1", "nope", t0), Err(TakeError::Unknown));
        assert_eq!(store.take_at("s1", &id, t0 + Duration::from_secs(5)), Ok(a));
        assert_eq!(
            store.take_at("s1", &id, t0 + Duration::from_secs(6)),
            Err(TakeError::AlreadyUsed)
        );

        let b = planned("radarr");
        let id = b.suggestion.id.clone();
        store.insert_at("s1", b, t0);
        assert_eq!(
            store.take_at("s1", &id, t0 + Duration::from_secs(600)),
            Err(TakeError::Expired)
        );
    }

    #[test]
    fn a_card_with_a_gateway_approval_is_left_to_the_gateway_to_use_once() {
        let store = PendingActions::new(Duration::from_secs(600), 10, 100);
        let t0 = Instant::now();
        let mut card = planned("sonarr");
        card.approval_id = Some(card.suggestion.id.clone());
        let id = card.suggestion.id.clone();
        store.insert_at("s1", card.clone(), t0);
        // A click refused for now (busy, cooling down) can be tried again.
        assert_eq!(store.take_at("s1", &id, t0), Ok(card.clone()));
        assert_eq!(store.take_at("s1", &id, t0), Ok(card));
        assert_eq!(store.take_at("s2", &id, t0), Err(TakeError::Unknown));
    }

    #[test]
    fn the_store_is_bounded_and_forgets_signed_out_sessions() {
        let store = PendingActions::new(Duration::from_secs(600), 3, 5);
        let t0 = Instant::now();
        let mut ids = Vec::new();
        for i in 0..5u64 {
            let p = planned("sonarr");
            ids.push(p.suggestion.id.clone());
            store.insert_at("s1", p, t0 + Duration::from_secs(i));
        }
        assert_eq!(store.len(), 3);
        assert_eq!(
            store.take_at("s1", &ids[0], t0 + Duration::from_secs(9)),
            Err(TakeError::Unknown),
            "the oldest was pushed out"
        );
        assert!(
            store
                .take_at("s1", &ids[4], t0 + Duration::from_secs(9))
                .is_ok()
        );
        for i in 0..3u64 {
            store.insert_at(
                &format!("other{i}"),
                planned("radarr"),
                t0 + Duration::from_secs(10 + i),
            );
        }
        assert_eq!(store.len(), 5, "bounded overall");
        store.forget_session("s1");
        assert!(
            store.len() <= 3,
            "s1's suggestions are gone: {}",
            store.len()
        );
        // Expired entries are dropped on the next insert.
        store.insert_at("x", planned("a"), t0 + Duration::from_secs(10_000));
        assert_eq!(store.len(), 1);
    }
}
