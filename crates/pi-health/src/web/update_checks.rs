//! The pages' update badges: `compose_updates` read per role at most every
//! [`FRESH_FOR`], in the background, so a page never waits for registries
//! (a first check can take up to a minute). A page gets what the last check
//! found (nothing before the first one ends) and starts the next one when it
//! is due. Shared per role like the status reads (`status_reads.rs`): the
//! gateway decides a read by role, so a person sees only what their role got.
//! With several Docker hosts, per role and host.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ops_core::contract::updates::{StackUpdates, UpdateStatus};
use serde_json::{Map, Value, json};

use super::Shared;
use super::session::Session;
use crate::gateway_client::{HostScope, on_behalf_of, on_host};

/// How long a check serves the pages (docker-mcp keeps a registry's answer
/// for hours; this bounds the local image reads behind each check).
pub(crate) const FRESH_FOR: Duration = Duration::from_secs(10 * 60);
/// A failed check is tried again after this.
const RETRY_AFTER: Duration = Duration::from_secs(60);
/// Roles (times hosts) kept at most (roles come from the users file, hosts
/// from the gateway: a handful each).
const MAX_ROLES: usize = 256;

#[derive(Default)]
pub(crate) struct UpdateChecks {
    by_role: Mutex<HashMap<String, Slot>>,
}

#[derive(Default)]
struct Slot {
    found: Option<Arc<StackUpdates>>,
    /// When the last check ended, and whether it worked.
    checked: Option<(Instant, bool)>,
    running: bool,
}

impl Slot {
    fn due(&self, now: Instant) -> bool {
        !self.running
            && self.checked.is_none_or(|(at, worked)| {
                now.duration_since(at) >= if worked { FRESH_FOR } else { RETRY_AFTER }
            })
    }
}

impl UpdateChecks {
    /// What the last check for `session`'s role on `host` (none: the
    /// gateway's default) found, starting the next check (as the person) when
    /// one is due.
    pub(crate) fn latest(
        &self,
        state: &Shared,
        session: &Session,
        host: Option<HostScope>,
    ) -> Option<Arc<StackUpdates>> {
        let key = match &host {
            Some(host) => format!("{}\n{}", session.role, host.name),
            None => session.role.clone(),
        };
        let mut by_role = self.by_role.lock().unwrap_or_else(|p| p.into_inner());
        if !by_role.contains_key(&key) && by_role.len() >= MAX_ROLES {
            return None;
        }
        let slot = by_role.entry(key.clone()).or_default();
        if slot.due(Instant::now()) && state.agent.gateway().is_some() {
            slot.running = true;
            let (state, user, role) = (state.clone(), session.user.clone(), session.role.clone());
            tokio::spawn(async move {
                let check = on_host(host, state.agent.compose_updates());
                let result = on_behalf_of(&user, &role, check).await;
                state.update_checks.store(&key, result.ok());
            });
        }
        slot.found.clone()
    }

    fn store(&self, key: &str, found: Option<StackUpdates>) {
        let mut by_role = self.by_role.lock().unwrap_or_else(|p| p.into_inner());
        let slot = by_role.entry(key.to_owned()).or_default();
        slot.running = false;
        slot.checked = Some((Instant::now(), found.is_some()));
        if let Some(found) = found {
            slot.found = Some(Arc::new(found));
        }
    }
}

/// For `/api/containers`: `{"SERVICE": "update_available" | "up_to_date" |
/// "cannot_check"}` and how many have an update, or nothing yet.
pub(crate) fn summary(found: Option<&StackUpdates>) -> Value {
    let Some(found) = found else {
        return Value::Null;
    };
    let by_service: Map<String, Value> = found
        .services
        .iter()
        .map(|s| (s.service.clone(), json!(s.status.as_str())))
        .collect();
    let available = found
        .services
        .iter()
        .filter(|s| s.status == UpdateStatus::UpdateAvailable)
        .count();
    json!({ "services": by_service, "available": available })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ops_core::contract::updates::ServiceUpdate;

    #[test]
    fn a_slot_is_due_when_never_checked_stale_or_failed_a_while_ago() {
        let now = Instant::now();
        let mut slot = Slot::default();
        assert!(slot.due(now));
        slot.running = true;
        assert!(!slot.due(now), "one check at a time");
        slot.running = false;
        slot.checked = Some((now, true));
        assert!(!slot.due(now));
        assert!(slot.due(now + FRESH_FOR));
        slot.checked = Some((now, false));
        assert!(!slot.due(now + Duration::from_secs(1)));
        assert!(slot.due(now + RETRY_AFTER));
    }

    #[test]
    fn the_summary_counts_updates() {
        assert_eq!(summary(None), Value::Null);
        let update = |service: &str, status| ServiceUpdate {
            service: service.into(),
            image: None,
            status,
            local_digest: None,
            remote_digest: None,
            reason: None,
            checked_at_ms: None,
        };
        let found = StackUpdates {
            project: "p".into(),
            services: vec![
                update("sonarr", UpdateStatus::UpdateAvailable),
                update("radarr", UpdateStatus::UpToDate),
            ],
        };
        assert_eq!(
            summary(Some(&found)),
            json!({"services": {"sonarr": "update_available", "radarr": "up_to_date"}, "available": 1})
        );
    }
}
