//! HTTP serving: MCP Streamable HTTP at `/mcp`, REST at `/tools/{fn}`, followed
//! logs at `/streams/compose_logs`, `/health`; and MCP over stdio.

mod mcp;
mod rest;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use ops_core::bearer::ExpectedToken;
use ops_core::mcp_sessions::{SessionCaps, SessionLimiter};
use rmcp::ServiceExt;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tokio_util::sync::CancellationToken;
use tower::Layer as _;

pub use mcp::{McpHandler, tool_definitions};

use crate::tools::DockerTools;

/// Request bodies larger than this are refused (arguments are tiny).
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;

/// MCP sessions on `/mcp`, in total (see `ops_core::mcp_sessions`): the gateway
/// holds one per service and opens another only when it loses it, and any
/// other MCP client (an operator's, a test's) needs a few; 64 leave room for
/// them while bounding what sessions can cost (about 50 KB each). A session
/// unused for 5 minutes ends.
pub const MCP_SESSIONS: SessionCaps = SessionCaps {
    per_owner: 64,
    total: 64,
    idle: Duration::from_secs(300),
};

/// Over [`MCP_SESSIONS`], `initialize` is refused with 503 (one count for all:
/// every caller holds the same token).
async fn cap_mcp_sessions(
    State(sessions): State<SessionLimiter>,
    request: Request,
    next: Next,
) -> Response {
    sessions.guard(None, request, next).await
}

/// Which `Host` headers the HTTP server answers (DNS-rebinding protection).
#[derive(Debug, Clone)]
pub struct HostPolicy {
    allowed: Arc<Vec<String>>,
}

impl HostPolicy {
    /// Loopback names plus `extra` (e.g. `docker-mcp`, the service name in compose).
    pub fn new(extra: &[String]) -> Self {
        let mut allowed: Vec<String> = ["localhost", "127.0.0.1", "::1", "[::1]"]
            .into_iter()
            .map(str::to_owned)
            .collect();
        allowed.extend(extra.iter().map(|h| h.trim().to_ascii_lowercase()));
        Self {
            allowed: Arc::new(allowed),
        }
    }

    /// Accepts `host` or `host:port` when the host part is allowed.
    pub fn allows(&self, host_header: &str) -> bool {
        let host = host_header.trim().to_ascii_lowercase();
        let name = if host.starts_with('[') {
            host.split(']')
                .next()
                .map(|h| format!("{h}]"))
                .unwrap_or_default()
        } else {
            host.rsplit_once(':')
                .filter(|(_, port)| port.chars().all(|c| c.is_ascii_digit()))
                .map_or(host.clone(), |(name, _)| name.to_owned())
        };
        self.allowed.iter().any(|a| *a == name || *a == host)
    }
}

/// Refuses browsers (any `Origin`) and unexpected `Host` headers on every route.
async fn guard_origin_and_host(
    State(hosts): State<HostPolicy>,
    request: Request,
    next: Next,
) -> Response {
    if request.headers().contains_key(header::ORIGIN) {
        return (
            StatusCode::FORBIDDEN,
            "docker-mcp does not accept browser requests",
        )
            .into_response();
    }
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    if !hosts.allows(host) {
        return (
            StatusCode::FORBIDDEN,
            "unexpected Host header; add the name with --allowed-host",
        )
            .into_response();
    }
    next.run(request).await
}

/// Whether `/health` may say more than ok / not ok: with a token configured,
/// only to a caller that sends it (the compose path, the services and the
/// Engine's version are no one else's business).
#[derive(Debug, Clone, Copy)]
pub(crate) struct HealthDetail(pub(crate) bool);

/// With a token configured, every route but `/health` needs it: then only
/// the gateway, which holds it, can call the tools, not whatever else shares
/// the network.
async fn require_token(
    State(expected): State<Option<ExpectedToken>>,
    mut request: Request,
    next: Next,
) -> Response {
    let Some(expected) = expected else {
        request.extensions_mut().insert(HealthDetail(true));
        return next.run(request).await;
    };
    let header = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok());
    let authenticated = expected.accepts_header(header);
    if request.uri().path() == "/health" {
        request.extensions_mut().insert(HealthDetail(authenticated));
        return next.run(request).await;
    }
    if authenticated {
        next.run(request).await
    } else {
        (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "a valid bearer token is required",
        )
            .into_response()
    }
}

/// The whole HTTP application.
pub fn router(
    tools: Arc<DockerTools>,
    hosts: HostPolicy,
    token: Option<ExpectedToken>,
    shutdown: CancellationToken,
) -> Router {
    let mcp_tools = tools.clone();
    let config = StreamableHttpServerConfig::default()
        // Our middleware checks Host for every route; rmcp checks again for /mcp.
        .with_allowed_hosts(hosts.allowed.iter().cloned())
        .enforce_origin_validation()
        .with_max_request_body_bytes(MAX_REQUEST_BYTES)
        .with_cancellation_token(shutdown.child_token());
    let sessions = SessionLimiter::new(MCP_SESSIONS);
    let mcp = StreamableHttpService::new(
        move || Ok(McpHandler::new(mcp_tools.clone())),
        sessions.manager(),
        config,
    );
    let mcp = middleware::from_fn_with_state(sessions, cap_mcp_sessions).layer(mcp);
    let streams = Router::new()
        .route("/streams/{name}", post(rest::follow))
        .with_state((tools.clone(), shutdown));
    Router::new()
        .route("/health", get(rest::health))
        .route("/tools/{name}", post(rest::call_tool))
        .with_state(tools)
        .merge(streams)
        .nest_service("/mcp", mcp)
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BYTES))
        .layer(middleware::from_fn_with_state(token, require_token))
        .layer(middleware::from_fn_with_state(hosts, guard_origin_and_host))
}

/// Serves MCP over stdin/stdout until the client closes stdin.
pub async fn serve_stdio(tools: Arc<DockerTools>) -> anyhow::Result<()> {
    let running = McpHandler::new(tools)
        .serve(rmcp::transport::stdio())
        .await?;
    running.waiting().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_policy_accepts_loopback_and_named_hosts_only() {
        let hosts = HostPolicy::new(&["docker-mcp".into()]);
        for ok in [
            "localhost",
            "127.0.0.1:8080",
            "[::1]:8080",
            "docker-mcp:8080",
            "LOCALHOST",
        ] {
            assert!(hosts.allows(ok), "{ok}");
        }
        for bad in [
            "evil.example",
            "evil.example:8080",
            "",
            "127.0.0.2",
            "docker-mcp.evil:80",
        ] {
            assert!(!hosts.allows(bad), "{bad}");
        }
    }
}
