//! Several Docker hosts in the web app: the `?host=NAME` every host-aware page
//! and API call takes (checked against the gateway's list, never passed on
//! unchecked: an unknown name is an error naming the hosts there are), and
//! `GET /api/hosts`, the dashboard's all-hosts overview.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use ops_core::contract::HostInfo;
use serde::Deserialize;
use serde_json::json;

use super::Shared;
use super::guard::json_error;
use super::session::Session;
use crate::gateway_client::{HostScope, on_behalf_of};
use crate::hosts::{self, overview};

/// `?host=NAME`, alone (the pages and the row actions' query).
#[derive(Deserialize, Default)]
pub(crate) struct HostParam {
    pub(crate) host: Option<String>,
}

/// The hosts the signed-in person's role may use.
pub(crate) async fn of(state: &Shared, session: &Session) -> crate::hosts::HostList {
    on_behalf_of(&session.user, &session.role, state.agent.hosts()).await
}

/// The host a request picked among those the person's role may use, or why
/// it cannot have it (a message for a person).
pub(crate) async fn picked(
    state: &Shared,
    session: &Session,
    asked: Option<&str>,
) -> Result<Option<HostInfo>, String> {
    let asked = asked.filter(|a| !a.trim().is_empty());
    match of(state, session).await {
        Ok(list) => hosts::pick(&list, asked),
        // Nothing asked: the gateway's default answers, as with one host.
        Err(_) if asked.is_none() => Ok(None),
        Err(why) => Err(why),
    }
}

/// [`picked`] for the JSON API: 404 `unknown_host` for a name that is none of
/// the hosts (503 when the list cannot be read).
pub(crate) async fn picked_or_refused(
    state: &Shared,
    session: &Session,
    asked: Option<&str>,
) -> Result<Option<HostInfo>, Box<Response>> {
    picked(state, session, asked).await.map_err(|why| {
        let status = if why.starts_with("There is no host") {
            StatusCode::NOT_FOUND
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        };
        Box::new(json_error(status, "unknown_host", &why))
    })
}

/// The scope the calls for `host` run in.
pub(crate) fn scope(host: &Option<HostInfo>) -> Option<HostScope> {
    hosts::scope(host.as_ref())
}

/// `GET /api/hosts`: every host's stack in a line (reachable or why not,
/// services, running, problems), read at once as the signed-in person;
/// `{"hosts": []}` with one Docker host.
pub(crate) async fn overview(
    State(state): State<Shared>,
    Extension(session): Extension<Session>,
    query: Result<Query<HostParam>, QueryRejection>,
) -> Response {
    if query.is_err() {
        return super::api::bad_request("this takes no parameters");
    }
    let list = match of(&state, &session).await {
        Ok(list) => list,
        Err(why) => return Json(json!({ "hosts": [], "warning": why })).into_response(),
    };
    if list.is_empty() {
        return Json(json!({ "hosts": [] })).into_response();
    }
    // Each host within the gateway's read time (its own timeout) and a second.
    let timeout = state
        .agent
        .gateway()
        .map(|g| g.read_timeout())
        .unwrap_or_default()
        + std::time::Duration::from_secs(1);
    let lines = overview::overview(&list, timeout, |host| {
        let state = state.clone();
        let session = session.clone();
        async move {
            let scope = hosts::scope(Some(&host));
            state
                .status_reads
                .compose_ps(&state.agent, &session, scope)
                .await
        }
    })
    .await;
    Json(json!({ "hosts": lines })).into_response()
}
