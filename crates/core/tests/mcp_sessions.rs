//! `ops_core::mcp_sessions` in front of rmcp's real Streamable HTTP service:
//! sessions are capped per owner and in total, refused with the contract's
//! JSON, and given back when closed or idle.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::Response;
use ops_core::mcp_sessions::{SessionCaps, SessionLimiter};
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use serde_json::{Value, json};
use tower::{Layer as _, ServiceExt as _};

/// A server with no tools: sessions are what is tested.
#[derive(Clone)]
struct Nothing;
impl rmcp::ServerHandler for Nothing {}

/// The caller's name comes from `X-Owner` here (the gateway: its principal).
async fn by_owner(State(limiter): State<SessionLimiter>, request: Request, next: Next) -> Response {
    let owner = request
        .headers()
        .get("x-owner")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    limiter.guard(owner.as_deref(), request, next).await
}

fn app(caps: SessionCaps) -> (Router, SessionLimiter) {
    let limiter = SessionLimiter::new(caps);
    let service = StreamableHttpService::new(
        || Ok(Nothing),
        limiter.manager(),
        StreamableHttpServerConfig::default(),
    );
    let guarded = middleware::from_fn_with_state(limiter.clone(), by_owner).layer(service);
    (Router::new().nest_service("/mcp", guarded), limiter)
}

fn post(owner: Option<&str>, session: Option<&str>, message: &Value) -> Request {
    let mut request = axum::http::Request::post("http://localhost/mcp")
        .header("host", "localhost")
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream");
    if let Some(owner) = owner {
        request = request.header("x-owner", owner);
    }
    if let Some(session) = session {
        request = request
            .header("mcp-session-id", session)
            .header("mcp-protocol-version", "2025-06-18");
    }
    request.body(Body::from(message.to_string())).unwrap()
}

fn initialize() -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "test", "version": "0"}}})
}

/// `initialize` as `owner`: the session id, or the refusal's status and body.
async fn open(app: &Router, owner: Option<&str>) -> Result<String, (StatusCode, Value)> {
    let response = app
        .clone()
        .oneshot(post(owner, None, &initialize()))
        .await
        .unwrap();
    let status = response.status();
    if let Some(id) = response.headers().get("mcp-session-id") {
        assert_eq!(status, StatusCode::OK);
        return Ok(id.to_str().unwrap().to_owned());
    }
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    Err((
        status,
        serde_json::from_slice(&body).unwrap_or_else(|_| json!(String::from_utf8_lossy(&body))),
    ))
}

async fn delete(app: &Router, session: &str) -> StatusCode {
    let request = axum::http::Request::delete("http://localhost/mcp")
        .header("host", "localhost")
        .header("mcp-session-id", session)
        .header("mcp-protocol-version", "2025-06-18")
        .body(Body::empty())
        .unwrap();
    app.clone().oneshot(request).await.unwrap().status()
}

#[tokio::test]
async fn sessions_are_capped_per_owner_and_in_total_and_closing_one_frees_it() {
    let (app, limiter) = app(SessionCaps {
        per_owner: 2,
        total: 3,
        idle: Duration::from_secs(600),
    });
    let first = open(&app, Some("alice")).await.unwrap();
    open(&app, Some("alice")).await.unwrap();
    let (status, body) = open(&app, Some("alice")).await.unwrap_err();
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["code"], "too_many_sessions", "{body}");
    assert!(body["detail"].as_str().unwrap().contains("alice"), "{body}");

    // Someone else still gets one, up to the total.
    open(&app, Some("bob")).await.unwrap();
    assert_eq!(limiter.open(), 3);
    let (status, body) = open(&app, Some("carol")).await.unwrap_err();
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["code"], "too_many_sessions", "{body}");
    let (status, _) = open(&app, None).await.unwrap_err();
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);

    // A session closed by its client gives its place back.
    assert!(delete(&app, &first).await.is_success());
    assert_eq!(limiter.open(), 2);
    open(&app, Some("alice")).await.unwrap();
    assert_eq!(limiter.open(), 3);
}

#[tokio::test]
async fn a_request_that_opens_no_session_holds_no_place() {
    let (app, limiter) = app(SessionCaps {
        per_owner: 1,
        total: 1,
        idle: Duration::from_secs(600),
    });
    let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"});
    for _ in 0..3 {
        let response = app
            .clone()
            .oneshot(post(Some("alice"), None, &list))
            .await
            .unwrap();
        assert!(response.status().is_client_error(), "{}", response.status());
    }
    assert_eq!(limiter.open(), 0);
    let session = open(&app, Some("alice")).await.unwrap();
    // Requests within the session are not admissions.
    let response = app
        .clone()
        .oneshot(post(Some("alice"), Some(&session), &list))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(limiter.open(), 1);
}

#[tokio::test]
async fn an_idle_session_ends_and_gives_its_place_back() {
    let (app, limiter) = app(SessionCaps {
        per_owner: 1,
        total: 1,
        idle: Duration::from_millis(300),
    });
    let session = open(&app, Some("alice")).await.unwrap();
    assert!(open(&app, Some("alice")).await.is_err());
    let freed = tokio::time::timeout(Duration::from_secs(30), async {
        while limiter.open() > 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(freed.is_ok(), "an idle session is never ended");
    open(&app, Some("alice")).await.unwrap();
    // The ended session is gone for its client.
    let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"});
    let response = app
        .oneshot(post(Some("alice"), Some(&session), &list))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}
