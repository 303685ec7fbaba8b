//! One mutating call per target at a time, where a target is one service or the
//! whole stack: a stack-wide call (`compose_up`, `compose_pull` without a
//! `service`) excludes every per-service call and the other way round, whatever
//! the tools (a restart and a stop of the same service exclude each other too).

use std::collections::HashSet;
use std::sync::Mutex;

use serde_json::Value;

/// What a mutating call touches, from its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Target {
    Stack,
    Service(String),
}

impl Target {
    pub(super) fn of(args: &Value) -> Self {
        match args.get("service").and_then(Value::as_str) {
            Some(service) => Self::Service(service.to_owned()),
            None => Self::Stack,
        }
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Stack => f.write_str("the stack"),
            Self::Service(service) => write!(f, "service {service}"),
        }
    }
}

#[derive(Default)]
struct Held {
    stack: bool,
    services: HashSet<String>,
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
        match &self.target {
            Target::Stack => held.stack = false,
            Target::Service(service) => {
                held.services.remove(service);
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
        let free = match &target {
            Target::Stack => !held.stack && held.services.is_empty(),
            Target::Service(service) => !held.stack && !held.services.contains(service),
        };
        if !free {
            return None;
        }
        match &target {
            Target::Stack => held.stack = true,
            Target::Service(service) => {
                held.services.insert(service.clone());
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

    fn service(name: &str) -> Target {
        Target::Service(name.into())
    }

    #[test]
    fn the_stack_and_its_services_exclude_each_other() {
        let locks = Locks::default();
        let sonarr = locks.claim(service("sonarr")).expect("free");
        assert!(locks.claim(service("sonarr")).is_none());
        assert!(locks.claim(Target::Stack).is_none(), "a service is running");
        let radarr = locks
            .claim(service("radarr"))
            .expect("another service is free");
        drop(sonarr);
        assert!(locks.claim(Target::Stack).is_none(), "radarr still runs");
        drop(radarr);
        let stack = locks.claim(Target::Stack).expect("nothing runs");
        assert!(locks.claim(service("sonarr")).is_none());
        assert!(locks.claim(Target::Stack).is_none());
        drop(stack);
        assert!(locks.claim(service("sonarr")).is_some());
    }

    #[test]
    fn targets_come_from_the_service_argument() {
        assert_eq!(
            Target::of(&serde_json::json!({"service": "a"})),
            service("a")
        );
        assert_eq!(
            Target::of(&serde_json::json!({"file": "/f"})),
            Target::Stack
        );
    }
}
