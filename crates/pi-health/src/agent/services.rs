//! The compose services the planner grounds its answers on: from `compose_ps`
//! through the gateway (cached briefly, per Docker host), or, offline, from the
//! compose file itself.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::Value;

/// Hosts whose `compose_ps` is kept at most (a handful in a home lab).
const MAX_HOSTS: usize = 64;

/// The last `compose_ps` result and when it was read, per Docker host (the
/// host of the current work, `gateway_client::on_host`; "" for the gateway's
/// default).
pub(crate) struct ServiceCache {
    ttl: Duration,
    last: Mutex<HashMap<String, (Instant, Value)>>,
    /// Why a host could not be read lately (the chat's "where does it run"
    /// lookup does not wait for it again while this is young).
    failed: Mutex<HashMap<String, (Instant, String)>>,
}

/// The current work's host, as the cache keys it.
fn host_key() -> String {
    crate::gateway_client::current_host()
        .map(|h| h.name)
        .unwrap_or_default()
}

impl ServiceCache {
    pub(crate) fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            last: Mutex::default(),
            failed: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Instant, Value)>> {
        self.last.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The cached result when younger than `max_age` (the cache's ttl when `None`).
    pub(crate) fn fresh(&self, max_age: Option<Duration>) -> Option<Value> {
        let max_age = max_age.unwrap_or(self.ttl);
        self.lock()
            .get(&host_key())
            .filter(|(at, _)| at.elapsed() < max_age)
            .map(|(_, value)| value.clone())
    }

    /// Whatever was read last, however old.
    pub(crate) fn stale(&self) -> Option<Value> {
        self.lock().get(&host_key()).map(|(_, value)| value.clone())
    }

    /// Keeps why the current host could not be read.
    pub(crate) fn fail(&self, why: String) {
        let key = host_key();
        let mut failed = self.failed.lock().unwrap_or_else(|e| e.into_inner());
        if failed.len() >= MAX_HOSTS && !failed.contains_key(&key) {
            return;
        }
        failed.insert(key, (Instant::now(), why));
    }

    /// Why the current host could not be read, when that is younger than `max_age`.
    pub(crate) fn failed(&self, max_age: Duration) -> Option<String> {
        self.failed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&host_key())
            .filter(|(at, _)| at.elapsed() < max_age)
            .map(|(_, why)| why.clone())
    }

    pub(crate) fn store(&self, compose_ps: Value) {
        let key = host_key();
        self.failed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&key);
        let mut last = self.lock();
        if last.len() >= MAX_HOSTS && !last.contains_key(&key) {
            return;
        }
        last.insert(key, (Instant::now(), compose_ps));
    }

    /// After an action: the next read goes to the stack.
    pub(crate) fn expire(&self) {
        if let Some((at, _)) = self.lock().get_mut(&host_key()) {
            *at = Instant::now() - self.ttl - Duration::from_secs(1);
        }
    }
}

/// The services `compose_ps` says the compose file declares.
pub(crate) fn declared(compose_ps: &Value) -> Vec<String> {
    compose_ps
        .get("services")
        .and_then(Value::as_array)
        .map(|services| {
            services
                .iter()
                .filter(|s| s.get("declared").and_then(Value::as_bool) != Some(false))
                .filter_map(|s| s.get("service").and_then(Value::as_str))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// The declared services that have a container on the host (running,
/// stopped or exited): the ones that are there. A service the compose file
/// declares but `compose_ps` says is "not created" was never brought up there.
pub(crate) fn created(compose_ps: &Value) -> Vec<String> {
    declared(compose_ps)
        .into_iter()
        .filter(|service| {
            entry(compose_ps, service)
                .and_then(|e| e.get("containers"))
                .and_then(Value::as_array)
                .is_some_and(|containers| !containers.is_empty())
        })
        .collect()
}

/// One service's entry in `compose_ps`.
pub(crate) fn entry<'a>(compose_ps: &'a Value, service: &str) -> Option<&'a Value> {
    compose_ps
        .get("services")?
        .as_array()?
        .iter()
        .find(|s| s.get("service").and_then(Value::as_str) == Some(service))
}

/// Whether `compose_ps` says the service runs.
pub(crate) fn is_running(compose_ps: &Value, service: &str) -> bool {
    entry(compose_ps, service)
        .and_then(|e| e.get("state"))
        .and_then(Value::as_str)
        == Some("running")
}

/// The declared services with a problem (crash loops and `restarting` too), in order.
pub(crate) fn with_problems(compose_ps: &Value) -> Vec<String> {
    crate::summary::declared(compose_ps)
        .filter(|s| crate::verdicts::is_problem(s))
        .filter_map(|s| s.get("service").and_then(Value::as_str))
        .map(str::to_owned)
        .collect()
}

/// "running, Up 5 minutes (healthy)" for one service, from `compose_ps`.
pub(crate) fn state_of(compose_ps: &Value, service: &str) -> Option<String> {
    let entry = entry(compose_ps, service)?;
    let state = entry.get("state").and_then(Value::as_str)?;
    let status = entry
        .pointer("/containers/0/status")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty());
    Some(match status {
        Some(status) => format!("{state}, {status}"),
        None => state.to_owned(),
    })
}

#[derive(Deserialize)]
struct ComposeFile {
    #[serde(default)]
    services: BTreeMap<String, IgnoredAny>,
}

/// The services a compose file declares, when this process can read it.
pub(crate) fn from_file(path: &Path) -> Option<Vec<String>> {
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_file() || meta.len() > 1024 * 1024 {
        return None;
    }
    let text = std::fs::read_to_string(path).ok()?;
    let file: ComposeFile = serde_saphyr::from_str(&text).ok()?;
    Some(file.services.into_keys().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_services_and_states_from_compose_ps() {
        let ps = json!({"services": [
            {"service": "sonarr", "declared": true, "state": "running",
             "containers": [{"status": "Up 5 minutes"}]},
            {"service": "bazarr", "declared": true, "state": "not created", "containers": []},
            {"service": "orphan", "declared": false, "state": "exited"}
        ]});
        assert_eq!(declared(&ps), ["sonarr", "bazarr"]);
        assert_eq!(
            state_of(&ps, "sonarr").as_deref(),
            Some("running, Up 5 minutes")
        );
        assert_eq!(state_of(&ps, "bazarr").as_deref(), Some("not created"));
        assert_eq!(state_of(&ps, "plex"), None);
        assert!(declared(&json!("garbage")).is_empty());
    }

    #[test]
    fn reads_services_from_a_compose_file_with_anchors() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("docker-compose.yml");
        std::fs::write(
            &file,
            "x-common: &common\n  restart: unless-stopped\nservices:\n  sonarr:\n    <<: *common\n    image: a\n  radarr:\n    image: b\n",
        )
        .unwrap();
        assert_eq!(from_file(&file).unwrap(), ["radarr", "sonarr"]);
        assert_eq!(from_file(&dir.path().join("missing.yml")), None);
        std::fs::write(&file, ": not yaml [").unwrap();
        assert_eq!(from_file(&file), None);
    }

    #[test]
    fn the_cache_is_fresh_then_stale() {
        let cache = ServiceCache::new(Duration::from_secs(60));
        assert_eq!(cache.fresh(None), None);
        cache.store(json!({"services": []}));
        assert!(cache.fresh(None).is_some());
        assert!(cache.fresh(Some(Duration::ZERO)).is_none());
        cache.expire();
        assert!(cache.fresh(None).is_none());
        assert!(cache.stale().is_some());
        cache.fail("no answer".into());
        assert_eq!(
            cache.failed(Duration::from_secs(10)).as_deref(),
            Some("no answer")
        );
        assert_eq!(cache.failed(Duration::ZERO), None);
        cache.store(json!({"services": []}));
        assert_eq!(
            cache.failed(Duration::from_secs(10)),
            None,
            "a read clears it"
        );
    }
}
