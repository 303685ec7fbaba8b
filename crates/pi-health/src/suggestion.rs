//! Suggestions: the chat's proposed actions, in the contract's shape. A
//! suggestion is only ever built here, from a planner action and a service the
//! compose file declares; it runs only when the person approves it.

use serde::Serialize;
use serde_json::{Value, json};

use crate::gateway_client::HostScope;
use crate::ids;
use crate::planner::Action;

/// The tool id suggestions carry (the guide's `docker_actions`).
pub(crate) const TOOL_ID: &str = "docker_actions";

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Suggestion {
    pub(crate) id: String,
    pub(crate) description: String,
    pub(crate) command: String,
    pub(crate) impact: String,
    pub(crate) cta_label: String,
    tool_id: String,
    pub(crate) action: String,
    action_params: Value,
}

/// What a suggestion stands for: the action and its target (never client input),
/// and the gateway's approval of it once the gateway has been asked.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Planned {
    pub(crate) suggestion: Suggestion,
    pub(crate) action: Action,
    pub(crate) service: String,
    /// The gateway's approval id (then also the card's id); `None` while the
    /// gateway has not been asked or could not be reached.
    pub(crate) approval_id: Option<String>,
    /// The Docker host it is for, when the gateway serves several.
    pub(crate) host: Option<HostScope>,
}

impl Planned {
    /// The gateway call this action is: the compose tool and its arguments.
    /// (The `host` argument is added on the way out, in the host's scope:
    /// `gateway_client::on_host`.)
    pub(crate) fn tool_call(&self, compose_file: &str) -> (&'static str, Value) {
        (
            self.action.tool(),
            json!({ "file": compose_file, "service": self.service }),
        )
    }

    /// " on nas", or nothing with a single host.
    pub(crate) fn on_host(&self) -> String {
        on(self.host.as_ref())
    }
}

/// " on NAME" for a host, else nothing.
fn on(host: Option<&HostScope>) -> String {
    host.map(|h| format!(" on {}", h.name)).unwrap_or_default()
}

/// `restart_container`, as the contract names the methods of `docker_actions`.
pub(crate) fn method(action: Action) -> &'static str {
    match action {
        Action::Restart => "restart_container",
        Action::Start => "start_container",
        Action::Stop => "stop_container",
        Action::Update => "update_service",
    }
}

/// A path as one shell word: quoted when it has anything but plain characters.
fn shell_word(text: &str) -> String {
    if !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+=:,@".contains(c))
    {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// Builds the suggestion for `action` on `service`; `state` is what the stack
/// says of it now (e.g. "running, Up 2 hours"), when known.
/// The card's id is random until the gateway's approval id replaces it; without
/// randomness there is no card (`None`).
#[cfg(test)]
pub(crate) fn plan(
    action: Action,
    service: &str,
    compose_file: &str,
    state: Option<&str>,
) -> Option<Planned> {
    plan_on(None, action, service, compose_file, state)
}

/// [`plan`] for a service of `host` (none: the only one): the card says
/// which host, and the command uses the host's compose file when it has its own.
pub(crate) fn plan_on(
    host: Option<&HostScope>,
    action: Action,
    service: &str,
    compose_file: &str,
    state: Option<&str>,
) -> Option<Planned> {
    let id = ids::random_hex(16).ok()?;
    let now = state.map(|s| format!(" (now: {s})")).unwrap_or_default();
    let at = on(host);
    let compose_file = host
        .and_then(|h| h.compose_file.as_deref())
        .unwrap_or(compose_file);
    let (description, impact) = match action {
        Action::Restart => (
            format!("Restart the {service} service{at}{now}."),
            format!(
                "{service} stops and starts again: a few seconds of downtime, and work in progress (queue, downloads) is interrupted and resumes afterwards."
            ),
        ),
        Action::Start => (
            format!("Start the {service} service{at}{now}."),
            format!("{service}'s containers start; nothing else changes."),
        ),
        Action::Stop => (
            format!("Stop the {service} service{at}{now}."),
            format!(
                "{service} stays down until it is started again; whatever depends on it stops working."
            ),
        ),
        Action::Update => (
            format!("Update the {service} service{at} to its registry's newest image{now}."),
            format!(
                "{service}'s image is pulled; if it changed, {service} alone is recreated on it: a few seconds of downtime; its volumes are kept, anything written inside the container outside a volume is lost."
            ),
        ),
    };
    let file = shell_word(compose_file);
    let command = match action {
        Action::Update => format!(
            "docker compose -f {file} pull {service} && docker compose -f {file} up -d --no-deps {service}"
        ),
        _ => format!("docker compose -f {file} {} {service}", action.verb()),
    };
    Some(Planned {
        suggestion: Suggestion {
            id,
            description,
            command,
            impact,
            cta_label: action.cta_label().to_owned(),
            tool_id: TOOL_ID.to_owned(),
            action: method(action).to_owned(),
            action_params: match host {
                Some(host) => json!({ "service": service, "host": host.name }),
                None => json!({ "service": service }),
            },
        },
        action,
        service: service.to_owned(),
        approval_id: None,
        host: host.cloned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_restart_suggestion_has_the_contracts_shape() {
        let planned = plan(
            Action::Restart,
            "sonarr",
            "/opt/stack/docker-compose.yml",
            Some("running"),
        )
        .unwrap();
        let value = serde_json::to_value(&planned.suggestion).unwrap();
        assert_eq!(value["ctaLabel"], "Approve Restart");
        assert_eq!(value["toolId"], "docker_actions");
        assert_eq!(value["action"], "restart_container");
        assert_eq!(value["actionParams"], json!({"service": "sonarr"}));
        assert_eq!(
            value["command"],
            "docker compose -f /opt/stack/docker-compose.yml restart sonarr"
        );
        assert!(
            value["description"]
                .as_str()
                .unwrap()
                .contains("(now: running)")
        );
        assert_eq!(value["id"].as_str().unwrap().len(), 32);
        for key in ["description", "impact"] {
            assert!(!value[key].as_str().unwrap().is_empty());
        }
        let (tool, args) = planned.tool_call("/f.yml");
        assert_eq!(tool, "compose_restart");
        assert_eq!(args, json!({"file": "/f.yml", "service": "sonarr"}));
    }

    #[test]
    fn a_card_for_another_host_names_it() {
        let nas = HostScope {
            name: "nas".into(),
            compose_file: Some("/srv/nas.yml".into()),
            default: false,
            read_only: false,
        };
        let planned = plan_on(Some(&nas), Action::Restart, "sonarr", "/f.yml", None).unwrap();
        assert_eq!(
            planned.suggestion.description,
            "Restart the sonarr service on nas."
        );
        assert_eq!(
            planned.suggestion.command,
            "docker compose -f /srv/nas.yml restart sonarr"
        );
        assert_eq!(
            planned.suggestion.action_params,
            json!({"service": "sonarr", "host": "nas"})
        );
        assert_eq!(planned.on_host(), " on nas");
        let single = plan(Action::Restart, "sonarr", "/f.yml", None).unwrap();
        assert_eq!(single.on_host(), "");
        assert_eq!(single.host, None);
    }

    #[test]
    fn start_and_stop_map_to_their_methods() {
        let start = plan(Action::Start, "radarr", "/s/c.yml", None).unwrap();
        assert_eq!(start.suggestion.action, "start_container");
        assert_eq!(start.suggestion.cta_label, "Approve Start");
        assert_eq!(
            start.suggestion.command,
            "docker compose -f /s/c.yml start radarr"
        );
        let stop = plan(Action::Stop, "radarr", "/my stack/it's.yml", None).unwrap();
        assert_eq!(stop.suggestion.action, "stop_container");
        assert_eq!(
            stop.suggestion.command,
            r"docker compose -f '/my stack/it'\''s.yml' stop radarr"
        );
    }
}
