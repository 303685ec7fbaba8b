//! The guide's plain REST form: `POST /tools/{fn}` with the arguments as the
//! JSON body, and `GET /health`.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::error::ToolError;
use crate::tools::DockerTools;

pub async fn call_tool(
    State(tools): State<Arc<DockerTools>>,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    let args = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        match serde_json::from_slice::<Value>(&body) {
            Ok(args) => args,
            Err(e) => {
                return error_response(&ToolError::BadArguments(format!(
                    "the body must be a JSON object of arguments: {e}"
                )));
            }
        }
    };
    match tools.call(&name, args).await {
        Ok(result) => Json(result).into_response(),
        Err(error) => error_response(&error),
    }
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
