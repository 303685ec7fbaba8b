//! The Containers page's row actions. Restart, Start and Stop ask the chat's
//! own order path for its card (`POST /api/ops-copilot/suggest`), Diagnose its
//! "why is X ...?" read (`POST /api/ops-copilot/diagnose`): the answers are
//! the chat's (`{"messages", "model", "tools"}`), their cards are kept for this
//! session like the chat's, and Approve is the chat's `POST
//! /api/ops-copilot/approve`. `GET /api/ops-copilot/actions` says which
//! buttons this person can use and why not, from the gateway's
//! `/capabilities` for the role of the session (never a role the browser names).
//! Each takes `?host=NAME` with several Docker hosts: the card is for that
//! host, and a host the policy makes read-only offers no action.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use ops_core::contract::rules;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::Shared;
use super::api::{gateway_problem, keep_suggestions};
use super::guard::json_error;
use super::hosts::{HostParam, picked_or_refused, scope};
use super::session::Session;
use crate::agent::{NotPlanned, Problem, RowRequest};
use crate::gateway_client::{on_behalf_of, on_host};

/// The row buttons that change something (refused on a read-only host).
const CHANGES: [&str; 4] = ["restart", "start", "stop", "update"];

/// The host a row request is for, or the answer that refuses it.
async fn row_host(
    state: &Shared,
    session: &Session,
    query: Result<Query<HostParam>, QueryRejection>,
) -> Result<Option<ops_core::contract::HostInfo>, Box<Response>> {
    let Ok(Query(query)) = query else {
        return Err(Box::new(json_error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "the parameter is host=NAME",
        )));
    };
    picked_or_refused(state, session, query.host.as_deref()).await
}

/// The row buttons that reach the gateway, and the tool each one is.
const ROW_TOOLS: [(&str, &str); 6] = [
    ("restart", "compose_restart"),
    ("start", "compose_start"),
    ("stop", "compose_stop"),
    ("update", "compose_update"),
    ("diagnose", "compose_diagnose"),
    ("logs", "compose_logs"),
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SuggestBody {
    action: String,
    service: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DiagnoseBody {
    service: String,
}

fn bad_body(example: &str, rejection: &JsonRejection) -> Response {
    let status = match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE | StatusCode::UNSUPPORTED_MEDIA_TYPE => rejection.status(),
        _ => StatusCode::BAD_REQUEST,
    };
    let detail = format!("send {example}: {}", rejection.body_text());
    json_error(status, "bad_request", &detail)
}

/// `POST /api/ops-copilot/suggest {"action": "restart"|"start"|"stop"|"update", "service"}`
/// (update: a card only when the service's registry has a newer image).
pub(crate) async fn suggest(
    State(state): State<Shared>,
    Extension(session): Extension<Session>,
    query: Result<Query<HostParam>, QueryRejection>,
    body: Result<Json<SuggestBody>, JsonRejection>,
) -> Response {
    let body = match body {
        Ok(Json(body)) => body,
        Err(e) => return bad_body("{\"action\": \"restart\", \"service\": \"...\"}", &e),
    };
    let host = match row_host(&state, &session, query).await {
        Ok(host) => host,
        Err(refused) => return *refused,
    };
    match RowRequest::parse(&body.action) {
        Some(request @ RowRequest::Act(_)) => {
            row(&state, &session, &host, request, &body.service).await
        }
        _ => json_error(
            StatusCode::BAD_REQUEST,
            "bad_action",
            "the action is restart, start, stop or update",
        ),
    }
}

/// `POST /api/ops-copilot/diagnose {"service"}`.
pub(crate) async fn diagnose(
    State(state): State<Shared>,
    Extension(session): Extension<Session>,
    query: Result<Query<HostParam>, QueryRejection>,
    body: Result<Json<DiagnoseBody>, JsonRejection>,
) -> Response {
    let body = match body {
        Ok(Json(body)) => body,
        Err(e) => return bad_body("{\"service\": \"...\"}", &e),
    };
    match row_host(&state, &session, query).await {
        Ok(host) => row(&state, &session, &host, RowRequest::Diagnose, &body.service).await,
        Err(refused) => *refused,
    }
}

/// The chat's answer to a row button, its cards kept for this session.
async fn row(
    state: &Shared,
    session: &Session,
    host: &Option<ops_core::contract::HostInfo>,
    request: RowRequest,
    service: &str,
) -> Response {
    if !rules::is_service_name(service) {
        return json_error(
            StatusCode::BAD_REQUEST,
            "bad_service",
            "a service name is 1 to 32 letters, digits, '_' or '-'",
        );
    }
    let work = on_host(scope(host), state.agent.row_request(request, service));
    match on_behalf_of(&session.user, &session.role, work).await {
        Ok(chat) => {
            keep_suggestions(state, session, chat.planned, "the Containers page");
            Json(chat.reply).into_response()
        }
        Err(NotPlanned::UnknownService(known)) => {
            let known = if known.is_empty() {
                "none".to_owned()
            } else {
                known.join(", ")
            };
            let on = host
                .as_ref()
                .map(|h| format!(" on {}", h.name))
                .unwrap_or_default();
            json_error(
                StatusCode::NOT_FOUND,
                "unknown_service",
                &format!("the stack{on} has no service named {service} (it has: {known})"),
            )
        }
        Err(NotPlanned::StackUnknown(why)) => {
            json_error(StatusCode::SERVICE_UNAVAILABLE, "stack_unknown", &why)
        }
    }
}

/// `GET /api/ops-copilot/actions`: which row buttons this person can use, why
/// not, and the cooldowns running (`remaining_seconds`, per service or for all).
pub(crate) async fn rights(
    State(state): State<Shared>,
    Extension(session): Extension<Session>,
    query: Result<Query<HostParam>, QueryRejection>,
) -> Response {
    let host = match row_host(&state, &session, query).await {
        Ok(host) => host,
        Err(refused) => return *refused,
    };
    let Some(gateway) = state.agent.gateway() else {
        return Json(unavailable(
            &session.role,
            &Problem::Offline.warning(),
            false,
        ))
        .into_response();
    };
    match on_behalf_of(&session.user, &session.role, gateway.capabilities()).await {
        Ok(capabilities) => {
            let mut view = from_capabilities(&session.role, &capabilities);
            if let Some(host) = host.filter(|h| h.read_only) {
                read_only(&mut view, &host.name);
            }
            Json(view).into_response()
        }
        Err(problem) => {
            let why = gateway_problem(&problem);
            Json(unavailable(&session.role, &why, true)).into_response()
        }
    }
}

/// On a host the policy makes read-only, no button that changes something.
fn read_only(view: &mut Value, host: &str) {
    let reason = format!("{host} is read-only: the gateway's policy refuses every change there.");
    for action in CHANGES {
        view["actions"][action] = json!({ "allowed": false, "reason": reason });
    }
    view["read_only"] = json!(true);
}

/// Every button unusable for one reason (offline, the gateway not answering):
/// deny by default, with the reason shown.
fn unavailable(role: &str, why: &str, online: bool) -> Value {
    let reason = format!("Unavailable: {why}");
    let actions: Map<String, Value> = ROW_TOOLS
        .iter()
        .map(|(action, _)| {
            (
                (*action).to_owned(),
                json!({"allowed": false, "reason": reason}),
            )
        })
        .collect();
    json!({ "online": online, "role": role, "actions": actions, "cooldowns": [], "warning": why })
}

/// Whether `role` can use the button of `tool`, and why not: it may call the
/// tool and, when the tool changes something, approve it (or the card could
/// never run on this person's Approve).
fn right(role: &str, tool: &str, tools: &Value) -> Result<(), String> {
    let Some(rights) = tools.get(tool) else {
        return Err(format!("This gateway has no {tool} tool."));
    };
    if rights.get("may_call") != Some(&Value::Bool(true)) {
        let refused = rights.get("refused").and_then(Value::as_str);
        return Err(refused.map_or_else(
            || format!("Your role ({role}) may not use {tool}."),
            |why| format!("{why}."),
        ));
    }
    let mutating = rights.get("mutating") != Some(&Value::Bool(false));
    if mutating && rights.get("may_approve") != Some(&Value::Bool(true)) {
        return Err(format!(
            "Your role ({role}) may not approve {tool}: ask someone whose role may."
        ));
    }
    Ok(())
}

/// The page's view of the gateway's `/capabilities` answer.
fn from_capabilities(session_role: &str, capabilities: &Value) -> Value {
    // The role the gateway decided with; the session's when it does not say.
    let role = capabilities
        .get("role")
        .and_then(Value::as_str)
        .unwrap_or(session_role);
    let tools = capabilities.get("tools").cloned().unwrap_or(Value::Null);
    let actions: Map<String, Value> = ROW_TOOLS
        .iter()
        .map(|(action, tool)| {
            let value = match right(role, tool, &tools) {
                Ok(()) => json!({ "allowed": true }),
                Err(reason) => json!({ "allowed": false, "reason": reason }),
            };
            ((*action).to_owned(), value)
        })
        .collect();
    let cooldowns: Vec<Value> = capabilities
        .get("cooldowns")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|cooldown| {
            let tool = cooldown.get("tool").and_then(Value::as_str)?;
            let (action, _) = ROW_TOOLS.iter().find(|(_, t)| *t == tool)?;
            Some(json!({
                "action": action,
                "service": cooldown.get("service").and_then(Value::as_str),
                "remaining_seconds": cooldown.get("remaining_seconds").and_then(Value::as_u64).unwrap_or(0),
            }))
        })
        .collect();
    json!({ "online": true, "role": role, "actions": actions, "cooldowns": cooldowns })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn capabilities() -> Value {
        json!({
            "role": "standard",
            "tools": {
                "compose_restart": {"mutating": true, "may_call": true, "may_approve": true},
                "compose_stop": {"mutating": true, "may_call": true, "may_approve": false},
                "compose_diagnose": {"mutating": false, "may_call": true, "may_approve": false},
                "compose_logs": {"mutating": false, "may_call": false,
                                 "refused": "Not authorized: role standard may not use compose_logs"}
            },
            "cooldowns": [
                {"tool": "compose_restart", "service": "sonarr", "remaining_seconds": 280},
                {"tool": "compose_pull", "service": null, "remaining_seconds": 3000}
            ]
        })
    }

    #[test]
    fn a_button_needs_the_call_and_for_an_action_the_approval() {
        let view = from_capabilities("admin", &capabilities());
        assert_eq!(view["role"], "standard", "the gateway's word wins");
        let actions = &view["actions"];
        assert_eq!(actions["restart"], json!({"allowed": true}));
        assert_eq!(actions["diagnose"], json!({"allowed": true}));
        assert_eq!(actions["stop"]["allowed"], false);
        let stop = actions["stop"]["reason"].as_str().unwrap();
        assert!(stop.contains("may not approve compose_stop"), "{stop}");
        // A tool the gateway does not have: unusable, said so.
        assert_eq!(actions["start"]["allowed"], false);
        assert!(
            actions["start"]["reason"]
                .as_str()
                .unwrap()
                .contains("no compose_start")
        );
        assert_eq!(
            actions["logs"]["reason"],
            "Not authorized: role standard may not use compose_logs."
        );
        // Only the row's tools' cooldowns, with their time left.
        assert_eq!(
            view["cooldowns"],
            json!([{"action": "restart", "service": "sonarr", "remaining_seconds": 280}])
        );
    }

    #[test]
    fn a_read_only_host_offers_reads_only() {
        let mut view = from_capabilities("admin", &capabilities());
        read_only(&mut view, "nas");
        for action in CHANGES {
            assert_eq!(view["actions"][action]["allowed"], false, "{action}");
        }
        assert_eq!(
            view["actions"]["restart"]["reason"],
            "nas is read-only: the gateway's policy refuses every change there."
        );
        assert_eq!(view["actions"]["diagnose"], json!({"allowed": true}));
        assert_eq!(view["read_only"], true);
    }

    #[test]
    fn an_unreadable_answer_allows_nothing() {
        for answer in [
            json!(null),
            json!({"tools": "x"}),
            json!({"tools": {"compose_restart": {}}}),
        ] {
            let view = from_capabilities("admin", &answer);
            for (action, _) in ROW_TOOLS {
                assert_eq!(
                    view["actions"][action]["allowed"], false,
                    "{action} {answer}"
                );
            }
        }
        let view = unavailable("admin", "The gateway is not answering.", true);
        assert_eq!(view["actions"]["restart"]["allowed"], false);
        assert!(
            view["actions"]["restart"]["reason"]
                .as_str()
                .unwrap()
                .contains("not answering")
        );
    }
}
