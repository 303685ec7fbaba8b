//! `policy.yaml`'s `autoheal:` section (off when absent): which services the
//! gateway restarts by itself, on what trigger, how often at most. The section
//! is the standing approval for exactly that: `compose_restart` of those
//! services, by the role it names, within its limits. Nothing else is approved
//! by it, and nobody can claim it from outside (see [`crate::autoheal`]).

use serde::Deserialize;

/// The tool auto-heal runs: a restart, the only action it takes.
pub const AUTOHEAL_TOOL: &str = "compose_restart";

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AutohealPolicy {
    /// The role auto-heal acts with: its rights to `compose_restart` and the
    /// tool's cooldown are checked as for anyone with that role.
    pub role: String,
    /// Services auto-heal looks after, by name.
    #[serde(default)]
    pub services: Vec<String>,
    /// Also the services whose containers carry the compose label
    /// `org.ops-copilot.autoheal: "true"`.
    #[serde(default)]
    pub by_label: bool,
    /// Restart a service whose healthcheck has failed for at least this long.
    #[serde(default = "default_unhealthy_for")]
    pub unhealthy_for_seconds: u64,
    /// Restart a service that exited with an error (not a crash loop: a
    /// restart does not help there; people are told instead).
    #[serde(default = "yes")]
    pub on_exit_error: bool,
    /// At most this many restarts of one service per window; then auto-heal
    /// gives up on it (and says so) until it recovers.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    #[serde(default = "default_window")]
    pub window_minutes: u64,
    /// The wait after a restart before the next one, doubled each time.
    #[serde(default = "default_backoff")]
    pub backoff_seconds: u64,
}

fn yes() -> bool {
    true
}
fn default_unhealthy_for() -> u64 {
    60
}
fn default_max_attempts() -> u32 {
    3
}
fn default_window() -> u64 {
    60
}
fn default_backoff() -> u64 {
    30
}

impl AutohealPolicy {
    /// What is wrong with the section, in the words of its fields; the rights
    /// of `role` are checked with the tools (in [`super::Config::parse`]).
    pub fn check(&self) -> Result<(), String> {
        if self.services.is_empty() && !self.by_label {
            return Err(
                "autoheal: name the services it looks after (`services: [...]`) or set `by_label: true`"
                    .into(),
            );
        }
        if let Some(bad) = self
            .services
            .iter()
            .find(|s| !ops_core::contract::rules::is_service_name(s))
        {
            return Err(format!("autoheal.services: {bad:?} is not a service name"));
        }
        let within = |name: &str, value: u64, low: u64, high: u64| {
            if (low..=high).contains(&value) {
                Ok(())
            } else {
                Err(format!(
                    "autoheal.{name} must be between {low} and {high}, not {value}"
                ))
            }
        };
        within(
            "unhealthy_for_seconds",
            self.unhealthy_for_seconds,
            5,
            86_400,
        )?;
        within("max_attempts", u64::from(self.max_attempts), 1, 20)?;
        within("window_minutes", self.window_minutes, 1, 1440)?;
        within("backoff_seconds", self.backoff_seconds, 0, 3600)
    }

    /// Whether auto-heal looks after `service` (`labelled`: its containers
    /// carry the auto-heal label).
    pub fn covers(&self, service: &str, labelled: bool) -> bool {
        self.services.iter().any(|s| s == service) || (self.by_label && labelled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> AutohealPolicy {
        serde_saphyr::from_str("role: operator\nservices: [sonarr]\n").unwrap()
    }

    #[test]
    fn defaults_are_sensible_and_checked() {
        let policy = policy();
        assert_eq!(policy.unhealthy_for_seconds, 60);
        assert_eq!(policy.max_attempts, 3);
        assert!(policy.on_exit_error && !policy.by_label);
        assert_eq!(policy.check(), Ok(()));
        assert!(policy.covers("sonarr", false));
        assert!(!policy.covers("radarr", true));
    }

    #[test]
    fn bad_sections_say_what_to_fix() {
        let mut empty = policy();
        empty.services.clear();
        assert!(empty.check().unwrap_err().contains("by_label"));
        empty.by_label = true;
        assert!(empty.check().is_ok());
        assert!(empty.covers("radarr", true));
        let mut bad = policy();
        bad.max_attempts = 0;
        assert!(bad.check().unwrap_err().contains("max_attempts"));
        let mut bad = policy();
        bad.services = vec!["../etc".into()];
        assert!(bad.check().unwrap_err().contains("not a service name"));
        assert!(
            serde_saphyr::from_str::<AutohealPolicy>("role: x\nservices: [a]\nrestart_all: true\n")
                .is_err()
        );
    }
}
