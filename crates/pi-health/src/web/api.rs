//! The JSON API. Chat and approve follow the guide's contract; the rest feeds
//! the pages. Gateway failures degrade to a `warning`, never to a crash or a
//! made-up result.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use ops_core::contract::rules;
use serde::Deserialize;
use serde_json::{Value, json};

use super::Shared;
use super::guard::json_error;
use super::session::Session;
use crate::agent::ApproveReply;
use crate::agent::ApproveStatus;
use crate::agent::{MAX_MESSAGE_CHARS, Problem};
use crate::chat_history;
use crate::gateway_client::{AuditQuery, GatewayClient, ToolOutcome, on_behalf_of, on_host};
use crate::pending::TakeError;
use crate::summary;
use crate::verdicts;

pub(super) fn bad_request(detail: &str) -> Response {
    json_error(StatusCode::BAD_REQUEST, "bad_request", detail)
}

/// A body too large stays 413 and a wrong media type 415; anything else is 400.
fn rejection_status(status: StatusCode) -> StatusCode {
    match status {
        StatusCode::PAYLOAD_TOO_LARGE | StatusCode::UNSUPPORTED_MEDIA_TYPE => status,
        _ => StatusCode::BAD_REQUEST,
    }
}

pub(crate) async fn not_found() -> Response {
    json_error(StatusCode::NOT_FOUND, "not_found", "no such page")
}

pub(crate) async fn health(State(state): State<Shared>) -> Response {
    let mode = if state.agent.gateway().is_some() {
        "online"
    } else {
        "offline"
    };
    Json(json!({ "status": "ok", "docker_integration": mode })).into_response()
}

#[derive(Deserialize)]
pub(crate) struct ChatBody {
    message: String,
}

/// `POST /api/ops-copilot/chat {"message"}`.
pub(crate) async fn chat(
    State(state): State<Shared>,
    Extension(session): Extension<Session>,
    body: Result<Json<ChatBody>, JsonRejection>,
) -> Response {
    let message = match body {
        Ok(Json(body)) => body.message,
        Err(e) => {
            let detail = format!("send {{\"message\": \"...\"}}: {}", e.body_text());
            return json_error(rejection_status(e.status()), "bad_request", &detail);
        }
    };
    if message.trim().is_empty() {
        return bad_request("the message is empty");
    }
    if message.chars().count() > MAX_MESSAGE_CHARS {
        return bad_request(&format!(
            "the message is longer than {MAX_MESSAGE_CHARS} characters"
        ));
    }
    let chat = on_behalf_of(&session.user, &session.role, state.agent.chat(&message)).await;
    keep_suggestions(&state, &session, chat.planned, "the chat");
    state
        .history
        .record_exchange(&session.user, &message, &chat.reply);
    Json(chat.reply).into_response()
}

/// `GET /api/ops-copilot/history`: the person's own recent chat, oldest first.
pub(crate) async fn history(
    State(state): State<Shared>,
    Extension(session): Extension<Session>,
) -> Response {
    let entries = state.history.entries(&session.user);
    Json(json!({ "entries": entries, "kept": chat_history::MAX_ENTRIES })).into_response()
}

/// `DELETE /api/ops-copilot/history`: forgets the person's chat.
pub(crate) async fn clear_history(
    State(state): State<Shared>,
    Extension(session): Extension<Session>,
) -> Response {
    match state.history.clear(&session.user) {
        Ok(()) => Json(json!({ "entries": [] })).into_response(),
        Err(error) => {
            tracing::error!(%error, user = %session.user, "chat history: cannot clear");
            json_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "history_not_cleared",
                "The chat history could not be removed; see pi-health's log.",
            )
        }
    }
}

/// Keeps an answer's cards for this session (Approve takes them from there),
/// each one logged with where it was asked for.
pub(super) fn keep_suggestions(
    state: &Shared,
    session: &Session,
    planned: Vec<crate::suggestion::Planned>,
    asked_in: &str,
) {
    for planned in planned {
        tracing::info!(
            user = %session.user,
            action = ?planned.action,
            service = %planned.service,
            id = %planned.suggestion.id,
            asked_in,
            "pi-health: suggested an action"
        );
        state.pending.insert(&session.key, planned);
    }
}

#[derive(Deserialize)]
pub(crate) struct ApproveBody {
    action_id: String,
}

fn reply(status: StatusCode, reply: ApproveReply) -> Response {
    (status, Json(reply)).into_response()
}

/// `POST /api/ops-copilot/approve {"action_id"}`: only an action this app
/// suggested to this session, pending and unexpired, once.
pub(crate) async fn approve(
    State(state): State<Shared>,
    Extension(session): Extension<Session>,
    body: Result<Json<ApproveBody>, JsonRejection>,
) -> Response {
    let id = match body {
        Ok(Json(body)) => body.action_id,
        Err(e) => {
            let detail = format!("send {{\"action_id\": \"...\"}}: {}", e.body_text());
            return json_error(rejection_status(e.status()), "bad_request", &detail);
        }
    };
    let planned = match state.pending.take(&session.key, &id) {
        Ok(planned) => planned,
        Err(error) => {
            let status = match error {
                TakeError::Unknown => StatusCode::NOT_FOUND,
                TakeError::Expired => StatusCode::GONE,
                TakeError::AlreadyUsed => StatusCode::CONFLICT,
            };
            return reply(
                status,
                ApproveReply::error(
                    status.as_u16(),
                    format!("Not executed: {}.", error.text()),
                    None,
                ),
            );
        }
    };
    tracing::info!(
        user = %session.user,
        action = ?planned.action,
        service = %planned.service,
        id = %id,
        "pi-health: action approved by the user; running it through the gateway"
    );
    let outcome = on_behalf_of(&session.user, &session.role, state.agent.approve(&planned)).await;
    tracing::info!(user = %session.user, id = %id, status = ?outcome.status, result = %outcome.result, "pi-health: action outcome");
    let said = match &outcome.followup {
        Some(followup) => format!("{} {followup}", outcome.result),
        None => outcome.result.clone(),
    };
    state.history.record_outcome(
        &session.user,
        outcome.status == ApproveStatus::Success,
        &said,
    );
    let status = StatusCode::from_u16(outcome.http_status).unwrap_or(StatusCode::BAD_GATEWAY);
    reply(status, outcome)
}

/// `GET /api/system-stats`.
pub(crate) async fn system_stats(State(state): State<Shared>) -> Response {
    Json(state.agent.host().sample_async().await).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ContainersQuery {
    logs: Option<String>,
    tail: Option<u64>,
    /// One of the gateway's Docker hosts (`GET /hosts`); none: the default.
    host: Option<String>,
}

fn online(state: &Shared) -> bool {
    state.agent.gateway().is_some()
}

/// `GET /api/containers[?logs=SERVICE&tail=N][&host=NAME]`: the stack through
/// `compose_ps`, and one service's recent logs (redacted by the gateway) on
/// request, both read as the signed-in person, on one of the gateway's Docker
/// hosts when it has several.
pub(crate) async fn containers(
    State(state): State<Shared>,
    Extension(session): Extension<Session>,
    query: Result<Query<ContainersQuery>, QueryRejection>,
) -> Response {
    let Ok(Query(query)) = query else {
        return bad_request("the parameters are logs=SERVICE, tail=N and host=NAME");
    };
    let host = match super::hosts::picked_or_refused(&state, &session, query.host.as_deref()).await
    {
        Ok(host) => host,
        Err(refused) => return *refused,
    };
    let scope = super::hosts::scope(&host);
    if let Some(service) = &query.logs
        && !rules::is_service_name(service)
    {
        return bad_request("a service name is 1 to 32 letters, digits, '_' or '-'");
    }
    let mut body = json!({
        "online": online(&state),
        "compose_file": host.as_ref().and_then(|h| h.compose_file.as_deref()).unwrap_or(state.agent.compose_file()),
        "services": [],
    });
    if let Some(host) = &host {
        body["host"] =
            json!({ "name": host.name, "default": host.default, "read_only": host.read_only });
    }
    // As the person (their role decides), shared with the pages of others of that role.
    match state
        .status_reads
        .compose_ps(&state.agent, &session, scope.clone())
        .await
    {
        Ok(ps) => {
            let stack = summary::summarize(&ps);
            body["summary"] = json!({
                "running": stack.running,
                "total": stack.total,
                "crash_loop": stack.crash_looping,
                "restarting": stack.restarting,
                "unhealthy": stack.unhealthy,
                "stuck": stack.stuck,
                "stopped": stack.stopped,
                "not_created": stack.not_created,
                "exited": stack.exited.iter().map(|(name, code, meaning)| json!({"service": name, "exit_code": code, "exit_meaning": meaning})).collect::<Vec<_>>(),
                "problems": stack.problems(),
                "sentence": stack.sentence(),
            });
            body["services"] = summary::declared(&ps).map(verdicts::annotated).collect();
        }
        Err(problem) => body["warning"] = json!(problem.warning()),
    }
    // Newer images, from the last background check for the person's role.
    let updates = state.update_checks.latest(&state, &session, scope.clone());
    body["updates"] = super::update_checks::summary(updates.as_deref());
    if let Some(service) = query.logs {
        let tail = query.tail.unwrap_or(100);
        let logs = on_behalf_of(
            &session.user,
            &session.role,
            on_host(scope, state.agent.logs(&service, tail)),
        );
        body["logs"] = match logs.await {
            Ok(result) => json!({
                "service": service,
                "logs": result.get("logs").cloned().unwrap_or(Value::Null),
                "truncated": result.get("truncated").cloned().unwrap_or(Value::Bool(false)),
            }),
            Err(problem) => json!({ "service": service, "warning": problem.warning() }),
        };
    }
    Json(body).into_response()
}

pub(super) fn gateway_problem(problem: &crate::gateway_client::GatewayError) -> String {
    use crate::gateway_client::GatewayError;
    match problem {
        GatewayError::Unreachable(why) => Problem::Unreachable(why.clone()).warning(),
        GatewayError::Refused(refusal) => format!(
            "The gateway refused ({} {}): {}",
            refusal.status(),
            refusal.code,
            refusal.detail
        ),
    }
}

/// `GET /api/approvals`: the gateway's pending approvals this app may see.
pub(crate) async fn approvals(
    State(state): State<Shared>,
    Extension(session): Extension<Session>,
) -> Response {
    let Some(gateway) = state.agent.gateway() else {
        return Json(
            json!({ "online": false, "approvals": [], "warning": Problem::Offline.warning() }),
        )
        .into_response();
    };
    match on_behalf_of(&session.user, &session.role, gateway.approvals()).await {
        Ok(body) => Json(json!({
            "online": true,
            "approvals": body.get("approvals").cloned().unwrap_or_else(|| json!([])),
        }))
        .into_response(),
        Err(problem) => Json(json!({
            "online": true, "approvals": [], "warning": gateway_problem(&problem),
        }))
        .into_response(),
    }
}

fn decision(status: StatusCode, success: bool, result: String) -> Response {
    let label = if success { "success" } else { "error" };
    (status, Json(json!({ "status": label, "result": result }))).into_response()
}

/// The gateway to decide on approval `id` at, or the answer when there is none
/// (a malformed id, offline mode): nothing was done.
fn decision_target<'a>(state: &'a Shared, id: &str) -> Result<&'a GatewayClient, Box<Response>> {
    if !rules::is_approval_id(id) {
        return Err(Box::new(bad_request("not an approval id")));
    }
    state.agent.gateway().ok_or_else(|| {
        Box::new(decision(
            StatusCode::SERVICE_UNAVAILABLE,
            false,
            format!("Not executed: {}", Problem::Offline.warning()),
        ))
    })
}

/// `POST /api/approvals/{id}/approve`: approve a pending gateway approval (an
/// agent's request, say); the call runs in the gateway now.
pub(crate) async fn approve_gateway(
    State(state): State<Shared>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
) -> Response {
    let gateway = match decision_target(&state, &id) {
        Ok(gateway) => gateway,
        Err(refused) => return *refused,
    };
    tracing::info!(user = %session.user, approval = %id, "pi-health: approving a gateway approval");
    match on_behalf_of(&session.user, &session.role, gateway.approve(&id)).await {
        ToolOutcome::Executed(_) => decision(
            StatusCode::OK,
            true,
            format!("Approval {id} approved: the call ran and succeeded."),
        ),
        // A failed service call in the service's words; a refusal with its code.
        ToolOutcome::Refused(r) if r.code.may_have_run() => decision(
            StatusCode::BAD_GATEWAY,
            false,
            format!("Approval {id} was used, but the call failed: {}", r.detail),
        ),
        ToolOutcome::Refused(r) => decision(
            StatusCode::BAD_GATEWAY,
            false,
            format!("Refused ({} {}): {}", r.status(), r.code, r.detail),
        ),
        ToolOutcome::NotSent(why) => decision(
            StatusCode::BAD_GATEWAY,
            false,
            format!("Not executed: {why}: is it running? (details in the server log)"),
        ),
        ToolOutcome::Unreachable(why) => decision(
            StatusCode::BAD_GATEWAY,
            false,
            format!(
                "No confirmation: {why}. Whether approval {id} ran is unknown: check the Audit page."
            ),
        ),
        ToolOutcome::NeedApproval(_) => decision(
            StatusCode::BAD_GATEWAY,
            false,
            "Not executed: the gateway asked for another approval.".into(),
        ),
    }
}

/// `POST /api/approvals/{id}/deny`.
pub(crate) async fn deny_gateway(
    State(state): State<Shared>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
) -> Response {
    let gateway = match decision_target(&state, &id) {
        Ok(gateway) => gateway,
        Err(refused) => return *refused,
    };
    tracing::info!(user = %session.user, approval = %id, "pi-health: denying a gateway approval");
    match on_behalf_of(&session.user, &session.role, gateway.deny(&id)).await {
        Ok(_) => decision(StatusCode::OK, true, format!("Approval {id} denied.")),
        Err(problem) => decision(StatusCode::BAD_GATEWAY, false, gateway_problem(&problem)),
    }
}

/// `GET /api/audit?principal=&tool=&decision=&on_behalf_of=&since=&until=&before=&limit=`.
pub(crate) async fn audit(
    State(state): State<Shared>,
    Extension(session): Extension<Session>,
    query: Result<Query<AuditQuery>, QueryRejection>,
) -> Response {
    let Ok(Query(query)) = query else {
        return bad_request(
            "the filters are principal, tool, decision, on_behalf_of, since, until, before and limit",
        );
    };
    let Some(gateway) = state.agent.gateway() else {
        return Json(
            json!({ "online": false, "records": [], "warning": Problem::Offline.warning() }),
        )
        .into_response();
    };
    let query = query.normalized();
    match on_behalf_of(&session.user, &session.role, gateway.audit(&query)).await {
        Ok(body) => Json(json!({
            "online": true,
            "records": body.get("records").cloned().unwrap_or_else(|| json!([])),
        }))
        .into_response(),
        Err(problem) => Json(json!({
            "online": true, "records": [], "warning": gateway_problem(&problem),
        }))
        .into_response(),
    }
}
