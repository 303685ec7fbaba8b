//! `GET /api/containers/stats`: each running container's CPU, memory, network
//! and disk figures with the last hour of CPU and memory (`crate::resources`:
//! one round per interval for every page together, and only while asked;
//! per Docker host with `?host=NAME`).

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::{Value, json};

use super::Shared;
use super::api::gateway_problem;
use super::guard::json_error;
use super::session::Session;
use crate::agent::Problem;
use crate::gateway_client::{on_behalf_of, on_host};
use crate::resources::Resources;

/// Hosts whose figures are kept at most besides the default's.
const MAX_HOSTS: usize = 64;

/// The history of `host`'s containers (none: the default host's).
fn resources_of(state: &Shared, host: Option<&str>) -> Option<Arc<Resources>> {
    let host = host?;
    let mut by_host = state
        .host_resources
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(resources) = by_host.get(host) {
        return Some(resources.clone());
    }
    if by_host.len() >= MAX_HOSTS {
        return None;
    }
    let resources = Arc::new(Resources::new(state.stats_interval));
    by_host.insert(host.to_owned(), resources.clone());
    Some(resources)
}

pub(crate) async fn stats(
    State(state): State<Shared>,
    Extension(session): Extension<Session>,
    query: Result<Query<super::hosts::HostParam>, QueryRejection>,
) -> Response {
    let Ok(Query(query)) = query else {
        return super::api::bad_request("the parameter is host=NAME");
    };
    let host = match super::hosts::picked_or_refused(&state, &session, query.host.as_deref()).await
    {
        Ok(host) => host,
        Err(refused) => return *refused,
    };
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
    // The default host's history is the app's own; another host's is kept
    // beside it (the default's when the hosts are too many to keep apart).
    let scope = super::hosts::scope(&host);
    let of_host = resources_of(
        &state,
        host.as_ref()
            .filter(|h| !h.default)
            .map(|h| h.name.as_str()),
    );
    let resources = of_host.as_deref().unwrap_or(&state.resources);
    let snapshot = resources
        .snapshot(|| async {
            on_host(scope, state.agent.compose_stats())
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
