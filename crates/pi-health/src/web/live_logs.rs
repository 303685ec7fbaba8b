//! `GET /api/logs/follow?service=NAME[&tail=N][&host=NAME]`: one service's logs live, as
//! Server-Sent Events for the browser's `EventSource`, relayed from the
//! gateway's `POST /chat/stream` (compose_logs_follow) opened as the
//! signed-in person: their role decides, the gateway redacts every line,
//! paces the stream, bounds how many each person has open and audits its
//! opening and closing (docs/live-logs.md).
//!
//! Events: `line` `{time, container, stream, text}`, `skipped` `{lines,
//! reason}`, `end` `{reason}` (the stream is over: the page must not
//! reconnect by itself), `refused` `{detail}` (it never opened; the page
//! falls back to a snapshot of the logs). Comments every 15 s keep proxies
//! from closing a quiet stream.

use std::convert::Infallible;

use axum::Extension;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use ops_core::contract::LogEvent;
use ops_core::contract::log_stream::{self, LineSplitter};
use ops_core::contract::rules;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::Shared;
use super::api::{bad_request, gateway_problem};
use super::session::Session;
use crate::gateway_client::{on_behalf_of, on_host};

/// Events waiting for the browser.
const EVENTS_BUFFERED: usize = 64;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FollowQuery {
    service: String,
    tail: Option<u64>,
    /// One of the gateway's Docker hosts; none: the default.
    host: Option<String>,
}

pub(crate) async fn follow(
    State(state): State<Shared>,
    Extension(session): Extension<Session>,
    query: Result<Query<FollowQuery>, QueryRejection>,
) -> Response {
    let Ok(Query(query)) = query else {
        return bad_request("the parameters are service=NAME, tail=N and host=NAME");
    };
    if !rules::is_service_name(&query.service) {
        return bad_request("a service name is 1 to 32 letters, digits, '_' or '-'");
    }
    let tail = rules::clamp_tail(query.tail);
    let Some(gateway) = state.agent.gateway() else {
        return once(
            "refused",
            "Live logs need the gateway, and this app runs without one (offline).",
        );
    };
    let host = match super::hosts::picked(&state, &session, query.host.as_deref()).await {
        Ok(host) => host,
        Err(why) => return once("refused", &why),
    };
    let opened = on_behalf_of(
        &session.user,
        &session.role,
        on_host(
            super::hosts::scope(&host),
            gateway.follow_logs(&query.service, tail),
        ),
    )
    .await;
    let response = match opened {
        Ok(response) => response,
        Err(problem) => return once("refused", &gateway_problem(&problem)),
    };
    let (events, receiver) = mpsc::channel(EVENTS_BUFFERED);
    tokio::spawn(relay(response, events, state.streams_end.clone()));
    let stream = futures_util::stream::unfold(receiver, |mut receiver| async move {
        let event = receiver.recv().await?;
        Some((Ok::<_, Infallible>(event), receiver))
    });
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// A stream of one event: what the page shows instead of lines.
fn once(kind: &str, detail: &str) -> Response {
    let event = Event::default()
        .event(kind)
        .data(json!({ "detail": detail }).to_string());
    Sse::new(futures_util::stream::iter([Ok::<_, Infallible>(event)])).into_response()
}

/// The gateway's NDJSON events to the browser, until either side ends or the
/// app shuts down.
async fn relay(
    mut response: reqwest::Response,
    events: mpsc::Sender<Event>,
    shutdown: CancellationToken,
) {
    let mut split = LineSplitter::new(log_stream::MAX_EVENT_BYTES);
    let reason = 'relay: loop {
        let chunk = tokio::select! {
            chunk = response.chunk() => chunk,
            () = events.closed() => return,
            () = shutdown.cancelled() => break "pi-health is shutting down; reload the page when it is back.".to_owned(),
        };
        let chunk = match chunk {
            Ok(Some(chunk)) => chunk,
            Ok(None) | Err(_) => {
                break "The connection to the gateway ended; follow again to go on.".to_owned();
            }
        };
        for line in split.push(&chunk) {
            let event = match LogEvent::parse(&line) {
                Ok(LogEvent::End { reason }) => break 'relay reason,
                Ok(event) => browser_event(&event),
                Err(error) => {
                    tracing::warn!(%error, "the gateway sent something that is not a log event");
                    break 'relay "The gateway sent something unexpected; follow again to go on."
                        .to_owned();
                }
            };
            if events.send(event).await.is_err() {
                return;
            }
        }
    };
    let end = Event::default()
        .event("end")
        .data(json!({ "reason": reason }).to_string());
    let _ = events.send(end).await;
}

fn browser_event(event: &LogEvent) -> Event {
    let (kind, data) = match event {
        LogEvent::Line {
            time,
            container,
            stream,
            text,
        } => (
            "line",
            json!({ "time": time, "container": container, "stream": stream, "text": text }),
        ),
        LogEvent::Skipped { lines, reason } => {
            ("skipped", json!({ "lines": lines, "reason": reason }))
        }
        LogEvent::End { reason } => ("end", json!({ "reason": reason })),
    };
    Event::default().event(kind).data(data.to_string())
}
