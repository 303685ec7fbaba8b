//! The pages' own refreshes share one status read (`compose_ps`) per role and
//! interval, whatever the number of open tabs and people: one gateway call, and
//! one audit record in the name of the person whose refresh made it, instead of
//! one per tab every few seconds. Shared per role because the gateway decides a
//! read by role: a person only ever sees what their own role was allowed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ops_core::recent::Recent;

use super::session::Session;
use crate::agent::{Agent, Read};
use crate::gateway_client::{HostScope, on_behalf_of, on_host};

/// How long one read serves every page (the dashboard refreshes every 5 s).
pub(crate) const FRESH_FOR: Duration = Duration::from_secs(5);
/// Roles (times hosts) shared at most; a further one reads for itself (roles
/// come from the users file, hosts from the gateway: a handful each).
const MAX_ROLES: usize = 256;

pub(crate) struct StatusReads {
    by_role: Mutex<HashMap<String, Arc<Recent<Read>>>>,
}

impl StatusReads {
    pub(crate) fn new() -> Self {
        Self {
            by_role: Mutex::default(),
        }
    }

    fn slot(&self, key: &str) -> Option<Arc<Recent<Read>>> {
        let mut by_role = self.by_role.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(slot) = by_role.get(key) {
            return Some(slot.clone());
        }
        if by_role.len() >= MAX_ROLES {
            return None;
        }
        let slot = Arc::new(Recent::new(FRESH_FOR));
        by_role.insert(key.to_owned(), slot.clone());
        Some(slot)
    }

    /// The stack's `compose_ps` on `host` (none: the gateway's default), read
    /// on behalf of `session`'s person unless a read for the same role and
    /// host is younger than [`FRESH_FOR`].
    pub(crate) async fn compose_ps(
        &self,
        agent: &Agent,
        session: &Session,
        host: Option<HostScope>,
    ) -> Read {
        let key = match &host {
            Some(host) => format!("{}\n{}", session.role, host.name),
            None => session.role.clone(),
        };
        let read = || {
            on_behalf_of(
                &session.user,
                &session.role,
                on_host(host.clone(), agent.compose_ps()),
            )
        };
        match self.slot(&key) {
            Some(slot) => slot.get_or_make(read).await,
            None => read().await,
        }
    }
}
