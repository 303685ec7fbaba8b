//! Several Docker hosts behind the gateway: the list it serves at `GET /hosts`
//! (the hosts the person's role may use: kept per role for [`FRESH_FOR`], so
//! that pages do not ask each time), which one a
//! page or a request picked (`?host=NAME`, checked against that list, never
//! passed through unchecked), and the all-hosts overview ([`overview`]).
//!
//! With no hosts (the guide's single-host files, an older gateway, offline
//! mode) nothing here shows: no picker, no host words, calls as before.

#[cfg(test)]
pub(crate) mod fake;
pub(crate) mod overview;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ops_core::contract::hosts::is_host_name;
use ops_core::contract::{HostInfo, Hosts};

use crate::gateway_client::{GatewayClient, HostScope};

/// How long the list of hosts is trusted.
pub(crate) const FRESH_FOR: Duration = Duration::from_secs(30);
/// How long a failure to read it is kept before asking again.
const FAILURE_FRESH_FOR: Duration = Duration::from_secs(5);
/// Roles whose lists are kept at most (roles come from the users file: a handful).
const MAX_ROLES: usize = 32;

/// The list of hosts, or why it could not be read (plain words).
pub(crate) type HostList = Result<Arc<Hosts>, String>;

/// The gateway's last `GET /hosts` answer per role (the gateway lists the
/// hosts a role may use).
#[derive(Default)]
pub(crate) struct KnownHosts {
    last: tokio::sync::Mutex<HashMap<String, (Instant, HostList)>>,
}

impl KnownHosts {
    /// The hosts the current person's role may use (`on_behalf_of`; none:
    /// this app's own token's), read from `gateway` unless read lately;
    /// offline: none.
    pub(crate) async fn get(&self, gateway: Option<&GatewayClient>) -> HostList {
        let Some(gateway) = gateway else {
            return Ok(Arc::default());
        };
        let role = crate::gateway_client::current_role().unwrap_or_default();
        let mut last = self.last.lock().await;
        if let Some((at, list)) = last.get(&role) {
            let fresh_for = if list.is_ok() {
                FRESH_FOR
            } else {
                FAILURE_FRESH_FOR
            };
            if at.elapsed() < fresh_for {
                return list.clone();
            }
        }
        let list = match gateway.hosts().await {
            Ok(hosts) => Ok(Arc::new(sorted(hosts))),
            Err(error) => {
                tracing::warn!(%error, "pi-health: cannot read the gateway's hosts");
                Err(format!("The list of Docker hosts cannot be read: {error}."))
            }
        };
        if last.len() < MAX_ROLES || last.contains_key(&role) {
            last.insert(role, (Instant::now(), list.clone()));
        }
        list
    }
}

/// Hosts by name, without names a `host` argument could not carry.
fn sorted(mut hosts: Hosts) -> Hosts {
    hosts.hosts.retain(|h| is_host_name(&h.name));
    hosts.hosts.sort_by(|a, b| a.name.cmp(&b.name));
    hosts
        .hosts
        .dedup_by(|a, b| a.name.eq_ignore_ascii_case(&b.name));
    hosts
}

/// "There is no host called x; the hosts are: nas, pi."
pub(crate) fn no_such_host(name: &str, hosts: &Hosts) -> String {
    format!(
        "There is no host called {}; the hosts are: {}.",
        ops_core::shortened(name, 40),
        hosts.names()
    )
}

/// The host `asked` (a page's `?host=`) names, checked against `hosts`:
/// `Ok(None)` with no hosts at all (one Docker host, calls as before); the
/// default host when none is asked for; an error to show for a name that is
/// not one of them.
pub(crate) fn pick(hosts: &Hosts, asked: Option<&str>) -> Result<Option<HostInfo>, String> {
    let asked = asked.map(str::trim).filter(|a| !a.is_empty());
    match asked {
        None => Ok(hosts.default_host().cloned()),
        Some(name) if hosts.is_empty() => Err(format!(
            "There is no host called {}: this gateway serves one Docker host, so there is no host to choose.",
            ops_core::shortened(name, 40)
        )),
        Some(name) if !is_host_name(name) => Err(no_such_host(name, hosts)),
        Some(name) => match hosts.find(name) {
            Some(host) => Ok(Some(host.clone())),
            None => Err(no_such_host(name, hosts)),
        },
    }
}

/// The gateway's reason without the "host NAME: " it starts with when it
/// names the host (pi-health names it already: "nas cannot be read: ...").
pub(crate) fn without_host(reason: &str, host: &str) -> String {
    let prefix = format!("host {host}: ");
    match reason.get(..prefix.len()) {
        Some(start) if start.eq_ignore_ascii_case(&prefix) => {
            let rest = &reason[prefix.len()..];
            if reason.starts_with('H') {
                crate::agent::sentence_start(rest)
            } else {
                rest.to_owned()
            }
        }
        _ => reason.to_owned(),
    }
}

/// The scope calls for `host` run in.
pub(crate) fn scope(host: Option<&HostInfo>) -> Option<HostScope> {
    host.map(HostScope::of)
}

#[cfg(test)]
mod tests;
