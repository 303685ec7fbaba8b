//! `GET /api/containers/stats`: each running container's CPU, memory, network
//! and disk figures with the last hour of CPU and memory (`crate::resources`:
//! one round per interval for every page together, and only while asked).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::{Value, json};

use super::Shared;
use super::api::gateway_problem;
use super::guard::json_error;
use super::session::Session;
use crate::agent::Problem;
use crate::gateway_client::on_behalf_of;

pub(crate) async fn stats(
    State(state): State<Shared>,
    Extension(session): Extension<Session>,
) -> Response {
    let Some(gateway) = state.agent.gateway() else {
        return Json(json!({
            "online": false,
            "containers": [],
            "warning": Problem::Offline.warning(),
        }))
        .into_response();
    };
    // The round is shared by every page, whoever's; whether this person may
    // see it is the gateway's decision for their role, asked each time.
    let allowed = match on_behalf_of(&session.user, &session.role, gateway.capabilities()).await {
        Ok(capabilities) => capabilities["tools"]
            .get("compose_stats")
            .map(|tool| tool["may_call"] == Value::Bool(true)),
        Err(problem) => return no_figures(&gateway_problem(&problem)),
    };
    match allowed {
        Some(true) => {}
        Some(false) => {
            return json_error(
                StatusCode::FORBIDDEN,
                "not_allowed",
                &format!(
                    "Your role ({}) may not read the containers' resources.",
                    session.role
                ),
            );
        }
        // Not listed: the round's own call says what the gateway thinks of it.
        None => {}
    }
    // The app's own read, for no one in particular: it is shared by every
    // page, so no X-On-Behalf-Of.
    let snapshot = state
        .resources
        .snapshot(|| async {
            state
                .agent
                .compose_stats()
                .await
                .map_err(|problem| problem.warning())
        })
        .await;
    let mut body = serde_json::to_value(&snapshot).unwrap_or_else(|_| json!({}));
    body["online"] = json!(true);
    Json(body).into_response()
}

/// No figures, and why (shown on the page instead of the charts).
fn no_figures(why: &str) -> Response {
    Json(json!({ "online": true, "containers": [], "warning": why })).into_response()
}
