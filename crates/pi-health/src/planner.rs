//! The built-in planner: recognises what people ask of a home media stack,
//! by the services that exist in the compose file, without any model.

use serde::Serialize;

/// A lifecycle action the chat may suggest (never run without approval).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Action {
    Restart,
    Start,
    Stop,
}

impl Action {
    /// The docker-mcp tool that performs it.
    pub(crate) fn tool(self) -> &'static str {
        match self {
            Self::Restart => "compose_restart",
            Self::Start => "compose_start",
            Self::Stop => "compose_stop",
        }
    }

    /// The button's label, as the guide shows it ("Approve Restart").
    pub(crate) fn cta_label(self) -> &'static str {
        match self {
            Self::Restart => "Approve Restart",
            Self::Start => "Approve Start",
            Self::Stop => "Approve Stop",
        }
    }
}

/// What the person asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "intent", rename_all = "snake_case")]
pub(crate) enum Intent {
    /// "What is the Docker status?", "check docker"
    DockerStatus,
    /// "Is anything unhealthy?"
    Unhealthy,
    /// "Show me sonarr's logs"
    Logs { service: String },
    /// "Sonarr queue looks stuck, can you restart it?", "start radarr"
    Suggest { action: Action, service: String },
    /// An action without a service the stack has: say which exist.
    UnknownService {
        action: Option<Action>,
        named: Option<String>,
    },
    /// "How hot is the pi?", CPU, memory, disk
    SystemHealth,
    /// Anything else: what the copilot can do.
    Help,
}

fn words(message: &str) -> Vec<String> {
    message
        .to_lowercase()
        .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-' || c == '\''))
        .map(|w| w.trim_matches('\'').trim_end_matches("'s").to_owned())
        .filter(|w| !w.is_empty())
        .collect()
}

fn has_any(words: &[String], candidates: &[&str]) -> bool {
    words.iter().any(|w| candidates.contains(&w.as_str()))
}

/// The first declared service the message names (case-insensitive, `sonarr's` too).
fn named_service(words: &[String], services: &[String]) -> Option<String> {
    words
        .iter()
        .find_map(|w| services.iter().find(|s| s.to_lowercase() == *w).cloned())
}

/// Words that look like they name a service the stack does not have.
fn unknown_name(words: &[String], after: &[&str]) -> Option<String> {
    words
        .windows(2)
        .find(|pair| after.contains(&pair[0].as_str()))
        .map(|pair| pair[1].clone())
        .filter(|w| {
            ![
                "it",
                "the",
                "a",
                "my",
                "this",
                "that",
                "container",
                "service",
            ]
            .contains(&w.as_str())
        })
}

const RESTART: &[&str] = &["restart", "reboot", "bounce", "kick", "reload"];
const START: &[&str] = &["start", "launch"];
const STOP: &[&str] = &["stop", "halt", "shutdown", "kill", "down"];
const STUCK: &[&str] = &[
    "stuck",
    "frozen",
    "hung",
    "hanging",
    "unresponsive",
    "broken",
    "crashed",
    "dead",
];
const LOGS: &[&str] = &["log", "logs", "logfile", "output", "errors"];
const HEALTH_WORDS: &[&str] = &[
    "hot",
    "temperature",
    "temp",
    "cpu",
    "memory",
    "ram",
    "disk",
    "disks",
    "storage",
    "load",
    "uptime",
];
const UNHEALTHY: &[&str] = &[
    "unhealthy",
    "failing",
    "problem",
    "problems",
    "wrong",
    "issue",
    "issues",
    "down",
];
const STATUS: &[&str] = &[
    "status",
    "running",
    "containers",
    "container",
    "docker",
    "stack",
    "services",
    "check",
    "ps",
];

/// Plans an answer to `message` given the services the compose file declares.
pub(crate) fn plan(message: &str, services: &[String]) -> Intent {
    let words = words(message);
    let service = named_service(&words, services);
    let action = if has_any(&words, RESTART) || (has_any(&words, STUCK) && service.is_some()) {
        Some(Action::Restart)
    } else if has_any(&words, STOP) && !has_any(&words, &["anything", "any"]) {
        Some(Action::Stop)
    } else if has_any(&words, START) {
        Some(Action::Start)
    } else {
        None
    };
    if let Some(action) = action {
        return match service {
            Some(service) => Intent::Suggest { action, service },
            None => Intent::UnknownService {
                action: Some(action),
                named: unknown_name(&words, &[RESTART, START, STOP].concat()),
            },
        };
    }
    if has_any(&words, LOGS) {
        return match service {
            Some(service) => Intent::Logs { service },
            None => Intent::UnknownService {
                action: None,
                named: unknown_name(&words, &["for", "of"]),
            },
        };
    }
    if has_any(&words, HEALTH_WORDS)
        || (has_any(&words, &["pi", "raspberry", "host", "system"])
            && !has_any(&words, &["docker", "container", "containers"]))
    {
        return Intent::SystemHealth;
    }
    if has_any(&words, &["unhealthy", "failing"])
        || (has_any(&words, UNHEALTHY) && has_any(&words, &["anything", "any", "something"]))
    {
        return Intent::Unhealthy;
    }
    if has_any(&words, STATUS) || service.is_some() {
        return Intent::DockerStatus;
    }
    Intent::Help
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stack() -> Vec<String> {
        ["sonarr", "radarr", "sabnzbd", "prowlarr", "jellyfin"]
            .map(String::from)
            .to_vec()
    }

    fn suggest(action: Action, service: &str) -> Intent {
        Intent::Suggest {
            action,
            service: service.into(),
        }
    }

    #[test]
    fn recognises_what_people_ask_of_the_stack() {
        let s = stack();
        for (message, expected) in [
            ("What is the Docker status?", Intent::DockerStatus),
            ("check docker", Intent::DockerStatus),
            ("what's running?", Intent::DockerStatus),
            (
                "show me sonarr's logs",
                Intent::Logs {
                    service: "sonarr".into(),
                },
            ),
            (
                "logs for Radarr please",
                Intent::Logs {
                    service: "radarr".into(),
                },
            ),
            (
                "Sonarr queue looks stuck, can you restart it?",
                suggest(Action::Restart, "sonarr"),
            ),
            ("sabnzbd is frozen", suggest(Action::Restart, "sabnzbd")),
            ("start radarr", suggest(Action::Start, "radarr")),
            ("please stop jellyfin", suggest(Action::Stop, "jellyfin")),
            ("is anything unhealthy?", Intent::Unhealthy),
            ("how hot is the pi", Intent::SystemHealth),
            ("how much memory is free", Intent::SystemHealth),
            ("hello", Intent::Help),
        ] {
            assert_eq!(plan(message, &s), expected, "{message}");
        }
    }

    #[test]
    fn actions_only_name_services_the_file_declares() {
        let s = stack();
        assert_eq!(
            plan("restart plex", &s),
            Intent::UnknownService {
                action: Some(Action::Restart),
                named: Some("plex".into())
            }
        );
        assert_eq!(
            plan("restart sonarr; rm -rf /", &s),
            suggest(Action::Restart, "sonarr"),
            "only the declared name is taken, never the rest of the text"
        );
        assert_eq!(
            plan("show me the logs", &s),
            Intent::UnknownService {
                action: None,
                named: None
            }
        );
        // A service is matched whole, not as a substring.
        assert_eq!(
            plan("restart sonarrx", &s),
            Intent::UnknownService {
                action: Some(Action::Restart),
                named: Some("sonarrx".into())
            }
        );
    }

    #[test]
    fn actions_map_to_tools_and_labels() {
        assert_eq!(Action::Restart.tool(), "compose_restart");
        assert_eq!(Action::Restart.cta_label(), "Approve Restart");
        assert_eq!(Action::Stop.tool(), "compose_stop");
        assert_eq!(Action::Start.cta_label(), "Approve Start");
    }
}
