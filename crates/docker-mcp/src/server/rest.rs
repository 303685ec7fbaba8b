//! The guide's plain REST form: `POST /tools/{fn}` with the arguments as the
//! JSON body, `POST /streams/compose_logs` (its followed form),
//! `POST /streams/compose_events` (the services as they change), and `GET /health`.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ops_core::contract::log_stream;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::error::ToolError;
use crate::tools::DockerTools;

pub async fn call_tool(
    State(tools): State<Arc<DockerTools>>,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    let args = match arguments(&body) {
        Ok(args) => args,
        Err(error) => return error_response(&error),
    };
    match tools.call(&name, args).await {
        Ok(result) => Json(result).into_response(),
        Err(error) => error_response(&error),
    }
}

/// `POST /streams/compose_logs`: the service's logs followed, NDJSON
/// ([`ops_core::contract::log_stream`]); the same arguments as the tool.
/// `POST /streams/compose_events`: the stack's services as they change
/// ([`ops_core::contract::service_events`]).
pub async fn follow(
    State((tools, shutdown)): State<(Arc<DockerTools>, CancellationToken)>,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    if name != "compose_logs" && name != "compose_events" {
        let body = json!({ "error": { "code": "unknown_stream", "message": "only compose_logs and compose_events can be followed: POST /streams/compose_logs or /streams/compose_events" } });
        return (StatusCode::NOT_FOUND, Json(body)).into_response();
    }
    let args = match arguments(&body) {
        Ok(args) => args,
        Err(error) => return error_response(&error),
    };
    let opened = if name == "compose_logs" {
        tools.follow_logs(args, shutdown).await
    } else {
        tools.watch_services(args, shutdown).await
    };
    match opened {
        Ok(events) => log_stream::ndjson_response(events),
        Err(error) => error_response(&error),
    }
}

fn arguments(body: &[u8]) -> Result<Value, ToolError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    serde_json::from_slice::<Value>(body).map_err(|e| {
        ToolError::BadArguments(format!("the body must be a JSON object of arguments: {e}"))
    })
}

fn error_response(error: &ToolError) -> Response {
    let status =
        StatusCode::from_u16(error.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = json!({ "error": { "code": error.code(), "message": error.to_string() } });
    (status, Json(body)).into_response()
}

/// 200 when the Engine answers, 503 otherwise; the details (the reason, the
/// Engine, the compose project) only for a caller allowed to see them.
pub async fn health(
    State(tools): State<Arc<DockerTools>>,
    detail: Option<axum::Extension<super::HealthDetail>>,
) -> Response {
    let engine = tools.engine();
    if !detail.is_some_and(|axum::Extension(d)| d.0) {
        return match engine.version().await {
            Ok(_) => Json(json!({ "status": "ok" })).into_response(),
            Err(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "unavailable" })),
            )
                .into_response(),
        };
    }
    let compose = match tools.project() {
        Ok(project) => json!({
            "file": project.file.display().to_string(),
            "project": project.name,
            "services": project.service_names(),
        }),
        Err(error) => json!({ "error": error.to_string() }),
    };
    match engine.version().await {
        Ok(version) => Json(json!({
            "status": "ok",
            "engine": { "address": engine.address().to_string(), "version": version.version, "api_version": version.api_version },
            "compose": compose,
        }))
        .into_response(),
        Err(error) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({
                "status": "unavailable",
                "reason": error.to_string(),
                "engine": { "address": engine.address().to_string() },
                "compose": compose,
            })),
        )
            .into_response(),
    }
}
