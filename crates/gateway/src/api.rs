//! The gateway's HTTP API: the guide's `POST /chat/tool`, approvals, the
//! audit trail and health. Every route but `/health`, `/health/ready` and
//! `/metrics` needs a bearer token.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde_json::{Value, json};

use ops_core::contract::log_stream;
use ops_core::mcp_sessions::{SessionCaps, SessionLimiter};
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tokio_util::sync::CancellationToken;
use tower::Layer as _;

use crate::auth::{Principal, TokensHandle, bearer_token};
use crate::decision::{self, AuditScope};
use crate::mcp_facade::{ApprovalWait, GatewayMcp};
use ops_core::contract::{AuditQuery, ChatToolRequest, rules};

use crate::pipeline::{CallRequest, Gateway, Refusal, RefusalCode, Reply};

/// Request bodies larger than this are refused.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// MCP sessions on `/mcp` (see `ops_core::mcp_sessions`): each costs about
/// 50 KB, so 128 bound them to a few MB. The principals are a handful of
/// configured tokens, and an agent with parallel workers may hold several
/// sessions, so 16 each: one principal (a leaking or hostile agent) fills an
/// eighth, never the whole. A session unused for 5 minutes ends (rmcp's
/// default); a client then gets 404 and opens a new one, as MCP says.
pub const MCP_SESSIONS: SessionCaps = SessionCaps {
    per_owner: 16,
    total: 128,
    idle: Duration::from_secs(300),
};

#[derive(Clone)]
pub struct AppState {
    pub gateway: Arc<Gateway>,
    pub tokens: Arc<TokensHandle>,
    /// `Host` names the MCP endpoint answers besides loopback.
    pub allowed_hosts: Vec<String>,
    /// Cancelled when the server stops: open MCP event streams then end, so a
    /// graceful stop does not wait for MCP clients to hang up.
    pub shutdown: CancellationToken,
    /// How long an MCP call that needs an approval waits for the decision.
    pub mcp_approval_wait: ApprovalWait,
}

pub fn router(state: AppState) -> Router {
    let mcp_gateway = state.gateway.clone();
    let (approval_wait, mcp_shutdown) = (state.mcp_approval_wait, state.shutdown.clone());
    let hosts = ["localhost", "127.0.0.1", "::1"]
        .into_iter()
        .map(str::to_owned)
        .chain(state.allowed_hosts.iter().cloned());
    let sessions = SessionLimiter::new(MCP_SESSIONS);
    let mcp = StreamableHttpService::new(
        move || {
            Ok(GatewayMcp::new(
                mcp_gateway.clone(),
                approval_wait,
                mcp_shutdown.clone(),
            ))
        },
        sessions.manager(),
        StreamableHttpServerConfig::default()
            .with_allowed_hosts(hosts)
            .enforce_origin_validation()
            .with_max_request_body_bytes(MAX_BODY_BYTES)
            .with_cancellation_token(state.shutdown.child_token()),
    );
    let mcp = middleware::from_fn_with_state(sessions, cap_mcp_sessions).layer(mcp);
    let authenticated = Router::new()
        .route("/chat/tool", post(chat_tool))
        .route("/chat/stream", post(chat_stream))
        .route("/approvals", get(list_approvals))
        .route("/capabilities", get(capabilities))
        .route("/approvals/{id}/approve", post(approve))
        .route("/approvals/{id}/deny", post(deny))
        .route("/audit", get(list_audit))
        .route("/notifications", get(list_notifications))
        .route("/hosts", get(list_hosts))
        .nest_service("/mcp", mcp)
        .layer(middleware::from_fn_with_state(state.clone(), authenticate));
    Router::new()
        .route("/health", get(health))
        .route("/health/ready", get(ready))
        .route("/metrics", get(metrics))
        .merge(authenticated)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

/// A refusal made here rather than in the pipeline (malformed requests, reads).
fn refuse(code: RefusalCode, detail: impl Into<String>) -> Response {
    refusal_response(Refusal::new(code, detail))
}

/// The request header naming whom the principal acts for (see
/// [`rules::check_on_behalf_of`]).
pub const ON_BEHALF_OF: &str = rules::ON_BEHALF_OF_HEADER;

/// `X-On-Behalf-Of` as sent, unchecked. Sent more than once, the values are joined
/// with `,`, which the check refuses; bytes that are not UTF-8 are replaced, which
/// it refuses too.
fn on_behalf_of(headers: &HeaderMap) -> Option<String> {
    let values: Vec<String> = headers
        .get_all(ON_BEHALF_OF)
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .collect();
    (!values.is_empty()).then(|| values.join(","))
}

/// The request header naming the role asserted for that person (see
/// [`rules::check_on_behalf_role`]).
pub const ON_BEHALF_ROLE: &str = rules::ON_BEHALF_ROLE_HEADER;

/// `X-On-Behalf-Role` as sent, unchecked, read as [`on_behalf_of`] is (sent
/// twice, the joined value is no role anyone may assert).
fn on_behalf_role(headers: &HeaderMap) -> Option<String> {
    let values: Vec<String> = headers
        .get_all(ON_BEHALF_ROLE)
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .collect();
    (!values.is_empty()).then(|| values.join(","))
}

/// For the reads (`GET /approvals`, `GET /audit`): the principal, or the
/// principal acting for the person with the role it asserted. A refusal is
/// answered, not audited.
fn acting_principal(
    state: &AppState,
    principal: &Principal,
    headers: &HeaderMap,
) -> Result<Principal, Refusal> {
    let person = rules::check_on_behalf_of(on_behalf_of(headers).as_deref())?;
    let config = state.gateway.config();
    let role = rules::check_on_behalf_role(
        on_behalf_role(headers).as_deref(),
        person.as_deref(),
        &principal.may_act_as,
        |role| config.roles.contains_key(role),
    )?;
    Ok(match (person, role) {
        (Some(person), Some(role)) => principal.acting_for(&person, &role),
        _ => principal.clone(),
    })
}

/// Resolves the bearer token to a principal; the role comes from here only.
async fn authenticate(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer_token);
    let principal = token.and_then(|t| state.tokens.current().authenticate(t));
    match principal {
        Some(principal) => {
            request.extensions_mut().insert(principal);
            next.run(request).await
        }
        None => {
            let mut response = refuse(
                RefusalCode::Unauthenticated,
                "a valid bearer token is required",
            );
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            response
        }
    }
}

/// Sessions on `/mcp` are counted per principal (`authenticate` runs first).
/// A refusal here is not audited: no tool is called, and a client retrying in
/// a loop would otherwise fill the disk with records.
async fn cap_mcp_sessions(
    State(sessions): State<SessionLimiter>,
    Extension(principal): Extension<Principal>,
    request: Request,
    next: Next,
) -> Response {
    sessions.guard(Some(&principal.name), request, next).await
}

/// Every answer of the pipeline becomes a response here, refusals included.
pub fn reply_response(reply: Reply) -> Response {
    let status = StatusCode::from_u16(reply.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let retry = match &reply {
        Reply::Refused(refusal) => refusal.retry_after_seconds,
        _ => None,
    };
    let mut response = (status, Json(reply.body())).into_response();
    if let Some(seconds) = retry
        && let Ok(value) = HeaderValue::from_str(&seconds.to_string())
    {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

pub fn refusal_response(refusal: Refusal) -> Response {
    reply_response(Reply::Refused(refusal))
}

async fn chat_tool(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match call_request(&headers, &body) {
        Ok(request) => reply_response(state.gateway.call(&principal, request).await),
        Err(refusal) => refusal,
    }
}

/// `POST /chat/stream`: the body and headers of `/chat/tool`, for a tool the
/// registry marks `stream: true`; the answer is NDJSON log events
/// ([`ops_core::contract::log_stream`]) until the stream ends.
async fn chat_stream(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request = match call_request(&headers, &body) {
        Ok(request) => request,
        Err(refusal) => return refusal,
    };
    match state
        .gateway
        .open_stream(&principal, request, state.shutdown.child_token())
        .await
    {
        Ok(events) => log_stream::ndjson_response(events),
        Err(refusal) => refusal_response(refusal),
    }
}

/// The request `/chat/tool` and `/chat/stream` take, or the answer refusing it.
#[allow(clippy::result_large_err)]
fn call_request(headers: &HeaderMap, body: &[u8]) -> Result<CallRequest, Response> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|v| v.starts_with("application/json"));
    if !is_json {
        return Err(refuse(
            RefusalCode::UnsupportedMediaType,
            "send application/json",
        ));
    }
    let body: ChatToolRequest = serde_json::from_slice(body).map_err(|e| {
        refuse(
            RefusalCode::BadRequest,
            format!("the body must be {{\"tool\", \"args\", \"approved\"?}}: {e}"),
        )
    })?;
    Ok(CallRequest {
        tool: body.tool,
        args: body.args.unwrap_or_else(|| json!({})),
        approved: body.approved,
        approval_id: body.approval_id,
        claimed_role: body.role,
        on_behalf_of: on_behalf_of(headers),
        on_behalf_role: on_behalf_role(headers),
    })
}

async fn list_approvals(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
) -> Response {
    let principal = match acting_principal(&state, &principal, &headers) {
        Ok(principal) => principal,
        Err(refusal) => return refusal_response(refusal),
    };
    match state.gateway.pending_for(&principal) {
        Ok(pending) => {
            let config = state.gateway.config();
            let items: Vec<Value> = pending
                .into_iter()
                .map(|a| {
                    let can_decide = decision::may_approve_request(&config, &principal.role, &a);
                    let mut value = serde_json::to_value(&a).unwrap_or(Value::Null);
                    value["can_approve"] = json!(can_decide);
                    value
                })
                .collect();
            Json(json!({ "approvals": items })).into_response()
        }
        Err(refusal) => refusal_response(refusal),
    }
}

/// Running cooldowns listed at most: a few per service of a home stack.
const MAX_COOLDOWNS_LISTED: usize = 500;

/// `GET /capabilities`: what the principal (or the person it acts for, with
/// the asserted role) may do with each tool, and the cooldowns running now.
/// A hint for a face to grey out a button with the reason; every call is
/// still decided in full. Not audited, like the other reads of the gateway's
/// own state (`/approvals`): nothing reaches a service.
async fn capabilities(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
) -> Response {
    let principal = match acting_principal(&state, &principal, &headers) {
        Ok(principal) => principal,
        Err(refusal) => return refusal_response(refusal),
    };
    let config = state.gateway.config();
    let tools: serde_json::Map<String, Value> = decision::rights(&config, &principal)
        .into_iter()
        .map(|rights| {
            let value = json!({
                "mutating": rights.mutating,
                "may_call": rights.refused.is_none(),
                "refused": rights.refused,
                "may_approve": rights.may_approve,
                "cooldown_seconds": rights.cooldown_seconds,
            });
            (rights.tool, value)
        })
        .collect();
    let now = crate::pipeline::now_ms();
    let running = match state
        .gateway
        .state()
        .running_cooldowns(now, MAX_COOLDOWNS_LISTED)
    {
        Ok(running) => running,
        Err(error) => {
            tracing::error!(%error, "cannot read the cooldowns");
            return refuse(
                RefusalCode::StateUnavailable,
                "the cooldowns cannot be read right now",
            );
        }
    };
    // Keys are "tool:service" or "tool:*" (a stack-wide cooldown).
    let cooldowns: Vec<Value> = running
        .into_iter()
        .filter_map(|(key, until)| {
            let (tool, scope) = key.split_once(':')?;
            Some(json!({
                "tool": tool,
                "service": (scope != "*").then_some(scope),
                "remaining_seconds": until.saturating_sub(now).div_ceil(1000),
            }))
        })
        .collect();
    Json(json!({
        "role": principal.role,
        "person": principal.person,
        "tools": tools,
        "cooldowns": cooldowns,
    }))
    .into_response()
}

async fn approve(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let on_behalf_of = on_behalf_of(&headers);
    let on_behalf_role = on_behalf_role(&headers);
    reply_response(
        state
            .gateway
            .approve_as(
                &principal,
                &id,
                on_behalf_of.as_deref(),
                on_behalf_role.as_deref(),
            )
            .await,
    )
}

async fn deny(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let on_behalf_of = on_behalf_of(&headers);
    let on_behalf_role = on_behalf_role(&headers);
    match state
        .gateway
        .deny_as(
            &principal,
            &id,
            on_behalf_of.as_deref(),
            on_behalf_role.as_deref(),
        )
        .await
    {
        Ok(approval) => Json(json!({ "denied": true, "approval": approval })).into_response(),
        Err(refusal) => refusal_response(refusal),
    }
}

async fn list_audit(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    query: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let principal = match acting_principal(&state, &principal, &headers) {
        Ok(principal) => principal,
        Err(refusal) => return refusal_response(refusal),
    };
    let Query(query) = match query {
        Ok(query) => query,
        Err(e) => return refuse(RefusalCode::BadRequest, e.body_text()),
    };
    let decision = match query.decision.as_deref().map(str::parse::<audit::Decision>) {
        None => None,
        Some(Ok(decision)) => Some(decision),
        Some(Err(_)) => {
            return refuse(
                RefusalCode::BadRequest,
                "decision is one of denied, need_approval, approved, executed, failed",
            );
        }
    };
    let (principal_filter, person_filter) =
        match decision::audit_scope(&state.gateway.config(), &principal) {
            AuditScope::Everyone => (query.principal, query.on_behalf_of),
            AuditScope::Own {
                principal,
                person: None,
            } => (Some(principal), query.on_behalf_of),
            AuditScope::Own {
                principal,
                person: Some(person),
            } => (Some(principal), Some(person)),
        };
    let config = state.gateway.config();
    let host_is_default = match query.host.as_deref() {
        None => false,
        Some(name) => match config.hosts.get(name) {
            Some(host) => Some(host.service.as_str()) == config.default_host_service(),
            None => {
                return refuse(
                    RefusalCode::BadRequest,
                    "host is one of the hosts GET /hosts lists",
                );
            }
        },
    };
    let filter = audit::AuditFilter {
        principal: principal_filter,
        tool: query.tool,
        decision,
        on_behalf_of: person_filter,
        since: query.since,
        until: query.until,
        before_seq: query.before,
        host: query.host,
        host_is_default,
        limit: query.limit.unwrap_or(100),
        hide_executed_tools: if query.hide_reads == Some(true) {
            reads(&config)
        } else {
            Vec::new()
        },
    };
    // Reads' records are stored just after their answers: wait for those, so the
    // list includes every call answered before this request.
    if let Err(error) = state.gateway.flush_audit().await {
        tracing::error!(%error, "audit records are still waiting to be stored");
    }
    let log = state.gateway.audit_log().clone();
    match tokio::task::spawn_blocking(move || log.list(&filter)).await {
        Ok(Ok(records)) => Json(json!({ "records": records })).into_response(),
        Ok(Err(error)) => {
            tracing::error!(%error, "audit read failed");
            refuse(
                RefusalCode::AuditUnavailable,
                "the audit log cannot be read",
            )
        }
        Err(_) => refuse(RefusalCode::Internal, "internal error"),
    }
}

/// `GET /hosts`: the Docker hosts the caller's role may use, sorted by name;
/// empty for the guide's single host.
async fn list_hosts(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
) -> Response {
    let principal = match acting_principal(&state, &principal, &headers) {
        Ok(principal) => principal,
        Err(refusal) => return refusal_response(refusal),
    };
    let config = state.gateway.config();
    Json(
        config
            .hosts
            .listed(config.default_host_service(), &principal.role),
    )
    .into_response()
}

/// `GET /notifications`: the last deliveries of notifications (`notify.yaml`),
/// newest first, for the roles that see every principal's audit records (those
/// that may approve everything: admins); refused for the others. Not audited,
/// like the other reads.
async fn list_notifications(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
) -> Response {
    let principal = match acting_principal(&state, &principal, &headers) {
        Ok(principal) => principal,
        Err(refusal) => return refusal_response(refusal),
    };
    if !matches!(
        decision::audit_scope(&state.gateway.config(), &principal),
        AuditScope::Everyone
    ) {
        return refuse(
            RefusalCode::NotAuthorized,
            "notification deliveries are shown to admins only",
        );
    }
    let notifier = state.gateway.notifier();
    let deliveries = notifier.map(|n| n.recent()).unwrap_or_default();
    // The targets of the notify.yaml in force: none (or no file) means nothing is sent.
    let targets: Vec<String> = notifier
        .map(|n| n.config().targets.iter().map(|t| t.name.clone()).collect())
        .unwrap_or_default();
    Json(json!({
        "enabled": !targets.is_empty(),
        "targets": targets,
        "deliveries": deliveries,
    }))
    .into_response()
}

/// The registry's tools that change nothing.
fn reads(config: &crate::config::Config) -> Vec<String> {
    config
        .tools
        .iter()
        .filter(|(_, tool)| !tool.mutating)
        .map(|(name, _)| name.clone())
        .collect()
}

async fn health(State(state): State<AppState>) -> Response {
    let config = state.gateway.config();
    // The policy's files first, then notify.yaml: each keeps its last good version.
    let refused_edit = state
        .gateway
        .config_handle()
        .last_error()
        .map(|e| e.to_string())
        .or_else(|| state.gateway.notifier().and_then(|n| n.refused_edit()));
    Json(json!({
        "status": "ok",
        "config_version": config.version,
        "tools": config.tools.keys().collect::<Vec<_>>(),
        "refused_config_change": refused_edit,
    }))
    .into_response()
}

/// `GET /health/ready`: 200 when every service the registry names answers its
/// health probe (docker-mcp: and reaches the Engine), else 503 naming what is
/// down in plain words. No token needed, like `/health`: it says no more than
/// which service is down.
async fn ready(State(state): State<AppState>) -> Response {
    let services = state.gateway.readiness().await;
    let problems: Vec<String> = services
        .iter()
        .filter_map(|(name, readiness)| readiness.problem(name))
        .collect();
    // Another host being down fails only that host's calls, not the gateway.
    let config = state.gateway.config();
    let counts = |service: &str| {
        config
            .hosts
            .serving(service)
            .is_none_or(|_| Some(service) == config.default_host_service())
    };
    let ready = services
        .iter()
        .all(|(name, readiness)| readiness.is_ready() || !counts(name));
    let body = json!({
        "status": if ready { "ready" } else { "not_ready" },
        "services": services
            .iter()
            .map(|(name, readiness)| (name.clone(), json!(readiness.as_str())))
            .collect::<serde_json::Map<_, _>>(),
        "problems": problems,
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.gateway.metrics().render(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::config::ConfigHandle;
    use crate::state::StateStore;
    use crate::upstream::Upstreams;

    const REGISTRY: &str = include_str!("../../../config/tool_registry.yaml");
    const POLICY: &str = include_str!("../../../config/policy.yaml");

    /// The API on a loopback port, with a `standard` and an `admin` token, and no
    /// service clients (nothing can execute).
    async fn serve() -> (tempfile::TempDir, String, String, String) {
        let dir = tempfile::tempdir().unwrap();
        let registry = dir.path().join("tool_registry.yaml");
        let policy = dir.path().join("policy.yaml");
        std::fs::write(&registry, REGISTRY).unwrap();
        std::fs::write(&policy, POLICY).unwrap();
        let tokens = dir.path().join("tokens.yaml");
        let standard = crate::auth::add_token(&tokens, "pi-health", "standard", &[]).unwrap();
        let admin = crate::auth::add_token(&tokens, "root", "admin", &[]).unwrap();
        let config = ConfigHandle::load(&registry, &policy).unwrap();
        let state = Arc::new(StateStore::open(&dir.path().join("state.db")).unwrap());
        let audit = Arc::new(audit::AuditLog::open(&dir.path().join("audit.db")).unwrap());
        let gateway = Gateway::new(config, state, audit, |config: &crate::config::Config| {
            Ok(Upstreams::from_clients(
                config.version.clone(),
                HashMap::new(),
            ))
        })
        .unwrap();
        let _ = gateway.attach_notifier(crate::notify::Notifier::disabled());
        let app = router(AppState {
            gateway: Arc::new(gateway),
            tokens: Arc::new(crate::auth::TokensHandle::load(&tokens).unwrap()),
            allowed_hosts: Vec::new(),
            shutdown: CancellationToken::new(),
            mcp_approval_wait: ApprovalWait::default(),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (dir, base, standard, admin)
    }

    fn restart() -> Value {
        json!({"tool": "compose_restart", "args": {
            "file": "/opt/stack/docker-compose.yml", "service": "sonarr"}})
    }

    #[tokio::test]
    async fn capabilities_say_what_a_role_may_do_and_which_cooldowns_run() {
        let (dir, base, standard, admin) = serve().await;
        let http = reqwest::Client::new();
        let get = |token: &str| {
            http.get(format!("{base}/capabilities"))
                .bearer_auth(token)
                .send()
        };
        let r = http
            .get(format!("{base}/capabilities"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "a token is needed");

        let body: Value = get(&standard).await.unwrap().json().await.unwrap();
        assert_eq!(body["role"], "standard", "{body}");
        let restart = &body["tools"]["compose_restart"];
        assert_eq!(restart["may_call"], true, "{body}");
        assert_eq!(restart["may_approve"], true, "{body}");
        assert_eq!(restart["cooldown_seconds"], 300, "{body}");
        let pull = &body["tools"]["compose_pull"];
        assert_eq!(pull["may_call"], false, "{body}");
        assert!(
            pull["refused"]
                .as_str()
                .unwrap()
                .starts_with("Not authorized"),
            "{body}"
        );
        assert_eq!(body["cooldowns"], json!([]));

        // A cooldown started by a run shows with its time left, for everyone.
        let state = StateStore::open(&dir.path().join("state.db")).unwrap();
        let until = crate::pipeline::now_ms() + 120_000;
        state
            .start_cooldown("compose_restart:sonarr", until)
            .unwrap();
        let body: Value = get(&admin).await.unwrap().json().await.unwrap();
        assert_eq!(body["role"], "admin");
        assert_eq!(body["tools"]["compose_pull"]["may_approve"], true);
        let cooldowns = body["cooldowns"].as_array().unwrap();
        assert_eq!(cooldowns.len(), 1, "{body}");
        assert_eq!(cooldowns[0]["tool"], "compose_restart");
        assert_eq!(cooldowns[0]["service"], "sonarr");
        let left = cooldowns[0]["remaining_seconds"].as_u64().unwrap();
        assert!((1..=120).contains(&left), "{left}");

        // A role the token may not assert is refused, as for every read.
        let r = http
            .get(format!("{base}/capabilities"))
            .bearer_auth(&standard)
            .header("X-On-Behalf-Of", "bob")
            .header("X-On-Behalf-Role", "admin")
            .send()
            .await
            .unwrap();
        assert!(r.status().is_client_error(), "{}", r.status());
    }

    #[tokio::test]
    async fn notification_deliveries_are_shown_to_admins_only() {
        let (_dir, base, standard, admin) = serve().await;
        let http = reqwest::Client::new();
        let get = |token: Option<&str>, role: Option<&str>| {
            let mut request = http.get(format!("{base}/notifications"));
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            if let Some(role) = role {
                request = request
                    .header("X-On-Behalf-Of", "bob")
                    .header("X-On-Behalf-Role", role);
            }
            request.send()
        };
        assert_eq!(get(None, None).await.unwrap().status(), 401);
        let r = get(Some(&standard), None).await.unwrap();
        assert_eq!(r.status(), 403);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["code"], "not_authorized", "{body}");
        let r = get(Some(&admin), None).await.unwrap();
        assert_eq!(r.status(), 200);
        let body: Value = r.json().await.unwrap();
        // No notify.yaml target: nothing is sent, and it says so.
        assert_eq!(body["enabled"], false, "{body}");
        assert_eq!(body["targets"], json!([]), "{body}");
        assert_eq!(body["deliveries"], json!([]), "{body}");
        // A principal that may not assert a role gets no further by asserting one.
        assert!(
            get(Some(&standard), Some("admin"))
                .await
                .unwrap()
                .status()
                .is_client_error()
        );
    }

    #[tokio::test]
    async fn x_on_behalf_of_is_checked_recorded_and_listed() {
        let (_dir, base, standard, admin) = serve().await;
        let http = reqwest::Client::new();
        let post = |path: &str, token: &str| {
            http.post(format!("{base}{path}"))
                .bearer_auth(token)
                .json(&restart())
        };

        // Malformed, sent twice, or not UTF-8: 400, and no approval is created.
        let bad: [&[&[u8]]; 4] = [
            &[b"alice bob"],
            &[b"alice", b"bob"],
            &[b"al\xffice"],
            &[b""],
        ];
        for values in bad {
            let mut request = post("/chat/tool", &standard);
            for v in values {
                request = request.header(ON_BEHALF_OF, HeaderValue::from_bytes(v).unwrap());
            }
            let r = request.send().await.unwrap();
            assert_eq!(r.status(), 400, "{values:?}");
            let body: Value = r.json().await.unwrap();
            assert_eq!(body["code"], "bad_on_behalf_of", "{body}");
        }

        let r = post("/chat/tool", &standard)
            .header("X-On-Behalf-Of", "alice")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let need: Value = r.json().await.unwrap();
        let id = need["approval_id"].as_str().unwrap().to_owned();

        // The approvals routes check it too, before touching the approval.
        let r = post(&format!("/approvals/{id}/deny"), &admin)
            .header("X-On-Behalf-Of", "bob/../admin")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
        let r = post(&format!("/approvals/{id}/deny"), &admin)
            .header("X-On-Behalf-Of", "bob")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);

        let audit: Value = http
            .get(format!("{base}/audit?on_behalf_of=alice"))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let records = audit["records"].as_array().unwrap();
        assert_eq!(records.len(), 1, "{audit}");
        assert_eq!(records[0]["decision"], "need_approval");
        assert_eq!(records[0]["principal"], "pi-health");
        assert_eq!(records[0]["on_behalf_of"], "alice");

        let audit: Value = http
            .get(format!("{base}/audit"))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let trail: Vec<(String, Value, Value)> = audit["records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["decision"].as_str().unwrap_or_default().to_owned(),
                    r["approver"].clone(),
                    r.get("on_behalf_of").cloned().unwrap_or(Value::Null),
                )
            })
            .collect();
        assert_eq!(
            trail[..2],
            [
                ("denied".to_owned(), json!("root"), json!("bob")),
                ("denied".to_owned(), Value::Null, Value::Null),
            ]
        );
        assert!(
            audit["records"]
                .as_array()
                .unwrap()
                .iter()
                .all(|r| r["on_behalf_of"] != "bob/../admin"),
            "an unchecked value is never recorded"
        );
    }
}
