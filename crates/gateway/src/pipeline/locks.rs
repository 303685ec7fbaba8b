//! One mutating call per target at a time, where a target is one service or the
//! whole stack of one host: a stack-wide call (`compose_up`, `compose_pull`
//! without a `service`) excludes every per-service call on its host and the
//! other way round, whatever the tools (a restart and a stop of the same service
//! exclude each other too). Hosts never exclude each other.

use std::collections::HashSet;
use std::sync::Mutex;

use serde_json::Value;

/// What a mutating call touches, from its host and arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Target {
    /// The host's name; none for the guide's single host.
    host: Option<String>,
    /// One service, or the whole stack.
    service: Option<String>,
}

impl Target {
    pub(super) fn of(host: Option<&str>, args: &Value) -> Self {
        Self {
            host: host.map(str::to_owned),
            service: args
                .get("service")
                .and_then(Value::as_str)
                .map(str::to_owned),
        }
    }

    fn host_key(&self) -> String {
        self.host.clone().unwrap_or_default()
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.service {
            None => f.write_str("the stack")?,
            Some(service) => write!(f, "service {service}")?,
        }
        match &self.host {
            Some(host) => write!(f, " on {host}"),
            None => Ok(()),
        }
    }
}

/// What is held: whole stacks and single services, by host.
#[derive(Default)]
struct Held {
    stacks: HashSet<String>,
    services: HashSet<(String, String)>,
}

#[derive(Default)]
pub(super) struct Locks {
    held: Mutex<Held>,
}

/// Releases its target when dropped, however the call ends.
pub(super) struct LockGuard<'a> {
    locks: &'a Locks,
    target: Target,
}

impl Drop for LockGuard<'_> {
    fn drop(&mut self) {
        let mut held = self.locks.lock();
        let host = self.target.host_key();
        match &self.target.service {
            None => {
                held.stacks.remove(&host);
            }
            Some(service) => {
                held.services.remove(&(host, service.clone()));
            }
        }
    }
}

impl Locks {
    fn lock(&self) -> std::sync::MutexGuard<'_, Held> {
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The target, when nothing that overlaps it is running.
    pub(super) fn claim(&self, target: Target) -> Option<LockGuard<'_>> {
        let mut held = self.lock();
        let host = target.host_key();
        let free = !held.stacks.contains(&host)
            && match &target.service {
                None => !held.services.iter().any(|(h, _)| *h == host),
                Some(service) => !held.services.contains(&(host.clone(), service.clone())),
            };
        if !free {
            return None;
        }
        match &target.service {
            None => {
                held.stacks.insert(host);
            }
            Some(service) => {
                held.services.insert((host, service.clone()));
            }
        }
        Some(LockGuard {
            locks: self,
            target,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn service(name: &str) -> Target {
        Target::of(None, &json!({ "service": name }))
    }

    fn stack() -> Target {
        Target::of(None, &json!({}))
    }

    #[test]
    fn the_stack_and_its_services_exclude_each_other() {
        let locks = Locks::default();
        let sonarr = locks.claim(service("sonarr")).expect("free");
        assert!(locks.claim(service("sonarr")).is_none());
        assert!(locks.claim(stack()).is_none(), "a service is running");
        let radarr = locks
            .claim(service("radarr"))
            .expect("another service is free");
        drop(sonarr);
        assert!(locks.claim(stack()).is_none(), "radarr still runs");
        drop(radarr);
        let stack_lock = locks.claim(stack()).expect("nothing runs");
        assert!(locks.claim(service("sonarr")).is_none());
        assert!(locks.claim(stack()).is_none());
        drop(stack_lock);
        assert!(locks.claim(service("sonarr")).is_some());
    }

    #[test]
    fn hosts_do_not_exclude_each_other() {
        let locks = Locks::default();
        let on = |host: &str, args: serde_json::Value| Target::of(Some(host), &args);
        let pi_stack = locks.claim(on("pi", json!({}))).expect("free");
        let nas_sonarr = locks
            .claim(on("nas", json!({"service": "sonarr"})))
            .expect("another host's service is free while pi's stack is held");
        assert!(
            locks
                .claim(on("pi", json!({"service": "sonarr"})))
                .is_none()
        );
        assert!(
            locks
                .claim(on("nas", json!({"service": "sonarr"})))
                .is_none()
        );
        assert!(
            locks.claim(on("nas", json!({}))).is_none(),
            "nas's sonarr runs"
        );
        drop(pi_stack);
        drop(nas_sonarr);
        assert!(locks.claim(on("nas", json!({}))).is_some());
    }

    #[test]
    fn targets_come_from_the_host_and_the_service_argument() {
        assert_eq!(service("a").to_string(), "service a");
        assert_eq!(stack().to_string(), "the stack");
        assert_eq!(
            Target::of(Some("nas"), &json!({"service": "a", "file": "/f"})).to_string(),
            "service a on nas"
        );
    }
}
