//! `GET /api/containers/stats`: each running container's CPU, memory, network
//! and disk figures with the last hour of CPU and memory (`crate::resources`:
//! one round per interval for every page together, and only while asked).

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::Shared;
use crate::agent::Problem;

pub(crate) async fn stats(State(state): State<Shared>) -> Response {
    if state.agent.gateway().is_none() {
        return Json(json!({
            "online": false,
            "containers": [],
            "warning": Problem::Offline.warning(),
        }))
        .into_response();
    }
    // The app's own read, for no one in particular: it is shared by every
    // page, so no X-On-Behalf-Of (as the pages' status refresh).
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
