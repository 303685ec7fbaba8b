//! pi-health's way to the ai-gateway: `POST {DOCKER_MCP_BASE_URL}/chat/tool` with
//! the app's own bearer token, and reads of the gateway's `/approvals` and `/audit`.
//! Every answer becomes a typed outcome; nothing the gateway sends can panic it,
//! and a failure to connect is never mistaken for a result.

use std::path::PathBuf;
use std::time::Duration;

use ops_core::contract::hosts::HOST_ARG;
use ops_core::contract::{
    ChatToolReply, ChatToolRequest, Hosts, NeedApproval, Refusal, RefusalCode, rules,
};
use serde_json::Value;

pub(crate) use ops_core::contract::AuditQuery;

/// The compose file the guide's policy pins (used when `DOCKER_MCP_COMPOSE_FILE` is unset).
const GUIDE_COMPOSE_FILE: &str = "/opt/stack/docker-compose.yml";
/// A readiness check waits at most this long for the gateway (which bounds its
/// own probes to 2 s).
const READINESS_TIMEOUT: Duration = Duration::from_secs(3);
/// The gateway's tool that follows a service's logs (`stream: true` in the
/// registry `all` writes and deploy/config).
pub(crate) const FOLLOW_TOOL: &str = "compose_logs_follow";
/// Gateway answers larger than this are refused (its own output cap is 120 kB).
const MAX_REPLY_BYTES: usize = 2 * 1024 * 1024;

/// The header that tells the gateway whom a call is made for.
const ON_BEHALF_OF: &str = rules::ON_BEHALF_OF_HEADER;
/// The header that tells the gateway the role asserted for that person.
const ON_BEHALF_ROLE: &str = rules::ON_BEHALF_ROLE_HEADER;

tokio::task_local! {
    /// The signed-in user the current web request works for, and their role;
    /// see [`on_behalf_of`].
    static USER: (String, String);
}

tokio::task_local! {
    /// The Docker host the current work is for; see [`on_host`].
    static HOST: HostScope;
}

/// The host a call goes to: its name (the `host` argument) and, when that
/// host's docker-mcp locks a compose file of its own, that file (the `file`
/// argument).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HostScope {
    pub(crate) name: String,
    pub(crate) compose_file: Option<String>,
    /// The gateway's default host (whose compose file pi-health may read).
    pub(crate) default: bool,
    /// The gateway's policy refuses every change there (`GET /hosts`).
    pub(crate) read_only: bool,
}

impl HostScope {
    pub(crate) fn of(host: &ops_core::contract::HostInfo) -> Self {
        Self {
            name: host.name.clone(),
            compose_file: host.compose_file.clone(),
            default: host.default,
            read_only: host.read_only,
        }
    }
}

/// Runs `work` for the Docker host `host` (none: the gateway's default, as
/// with a single host): every tool call it makes names it in `host`, and
/// takes its compose file as `file` when it has one of its own.
pub(crate) async fn on_host<F: Future>(host: Option<HostScope>, work: F) -> F::Output {
    match host {
        Some(host) => HOST.scope(host, work).await,
        None => work.await,
    }
}

/// The host the current work is for, when one was named ([`on_host`]).
pub(crate) fn current_host() -> Option<HostScope> {
    HOST.try_with(Clone::clone).ok()
}

/// `args` for the current host: `host` set, and `file` the host's own.
fn for_current_host(mut args: Value) -> Value {
    if let (Some(host), Some(object)) = (current_host(), args.as_object_mut()) {
        if let Some(file) = host.compose_file
            && object.contains_key("file")
        {
            object.insert("file".into(), Value::String(file));
        }
        object.insert(HOST_ARG.into(), Value::String(host.name));
    }
    args
}

/// Runs `work` (a chat turn, an approval, a list) for the signed-in `user` with
/// `role`: every gateway call it makes says so in `X-On-Behalf-Of` and
/// `X-On-Behalf-Role`. The gateway records the person and decides with the role
/// when this app's token may assert it (`may_act_as`), and refuses otherwise: a
/// `standard` person can do what a `standard` token can, no more.
pub(crate) async fn on_behalf_of<F: Future>(user: &str, role: &str, work: F) -> F::Output {
    USER.scope((user.to_owned(), role.to_owned()), work).await
}

/// The current user and role, when there is one the gateway accepts (1 to 64
/// of `[A-Za-z0-9._@-]`; pi-health's user names always are).
fn current_user() -> Option<(String, String)> {
    USER.try_with(|(user, role)| rules::is_on_behalf_of(user).then(|| (user.clone(), role.clone())))
        .ok()
        .flatten()
}

/// The current person's role (see [`on_behalf_of`]), when there is one.
pub(crate) fn current_role() -> Option<String> {
    current_user().map(|(_, role)| role)
}

/// How pi-health reaches the gateway, from the guide's environment variables.
#[derive(Clone, PartialEq)]
pub struct GatewaySettings {
    /// `DOCKER_MCP_BASE_URL`: the gateway's URL; `None` is offline mode.
    pub base_url: Option<String>,
    /// From `PI_HEALTH_GATEWAY_TOKEN_FILE` (preferred) or `PI_HEALTH_GATEWAY_TOKEN`.
    pub token: Option<String>,
    /// `DOCKER_MCP_COMPOSE_FILE`: the `file` argument of the compose tools.
    pub compose_file: String,
    /// `MCP_READ_TIMEOUT` (seconds, default 5.0): reads.
    pub(crate) read_timeout: Duration,
    /// `MCP_WRITE_TIMEOUT` (seconds, default 30.0): approved actions.
    pub(crate) write_timeout: Duration,
}

/// Never prints the token.
impl std::fmt::Debug for GatewaySettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewaySettings")
            .field("base_url", &self.base_url)
            .field("token", &self.token.as_ref().map(|_| "[set]"))
            .field("compose_file", &self.compose_file)
            .field("read_timeout", &self.read_timeout)
            .field("write_timeout", &self.write_timeout)
            .finish()
    }
}

/// The token in `path`, checked.
fn token_from_file(path: &std::path::Path, setting: &str) -> Result<Option<String>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {setting} {}: {e}", path.display()))?;
    Ok(Some(text.trim().to_owned()).filter(|t| !t.is_empty()))
}

fn seconds(name: &str, value: Option<String>, default: f64) -> Result<Duration, String> {
    let Some(value) = value.filter(|v| !v.trim().is_empty()) else {
        return Ok(Duration::from_secs_f64(default));
    };
    match value.trim().parse::<f64>() {
        Ok(secs) if secs.is_finite() && secs > 0.0 && secs <= 3600.0 => {
            Ok(Duration::from_secs_f64(secs))
        }
        _ => Err(format!(
            "{name} must be a number of seconds between 0 and 3600, not {value:?}"
        )),
    }
}

impl GatewaySettings {
    /// From the process environment.
    pub fn from_env() -> Result<Self, String> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// For a gateway this process knows (`ops-copilot all`): its URL, the file
    /// with this app's token and the compose file the policy pins; the timeouts
    /// still come from `MCP_READ_TIMEOUT` / `MCP_WRITE_TIMEOUT`.
    pub fn for_gateway(
        base_url: &str,
        token_file: &std::path::Path,
        compose_file: Option<&str>,
    ) -> Result<Self, String> {
        let timeouts = Self::from_lookup(|name| match name {
            "MCP_READ_TIMEOUT" | "MCP_WRITE_TIMEOUT" => std::env::var(name).ok(),
            _ => None,
        })?;
        Ok(Self {
            base_url: Some(base_url.trim_end_matches('/').to_owned()),
            token: token_from_file(token_file, "the gateway token file")?,
            compose_file: compose_file.unwrap_or(GUIDE_COMPOSE_FILE).to_owned(),
            ..timeouts
        })
    }

    /// From any variable lookup (the environment, or a test's map).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let non_empty = |name: &str| get(name).filter(|v| !v.trim().is_empty());
        let base_url =
            non_empty("DOCKER_MCP_BASE_URL").map(|url| url.trim().trim_end_matches('/').to_owned());
        if let Some(url) = &base_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(format!(
                "DOCKER_MCP_BASE_URL must be an http:// or https:// URL, not {url:?}"
            ));
        }
        let token = match non_empty("PI_HEALTH_GATEWAY_TOKEN_FILE") {
            Some(file) => {
                token_from_file(&PathBuf::from(file.trim()), "PI_HEALTH_GATEWAY_TOKEN_FILE")?
            }
            None => non_empty("PI_HEALTH_GATEWAY_TOKEN").map(|t| t.trim().to_owned()),
        };
        if let Some(token) = &token
            && token.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err("the gateway token must not contain spaces or control characters".into());
        }
        Ok(Self {
            base_url,
            token,
            compose_file: non_empty("DOCKER_MCP_COMPOSE_FILE")
                .map(|f| f.trim().to_owned())
                .unwrap_or_else(|| GUIDE_COMPOSE_FILE.to_owned()),
            read_timeout: seconds("MCP_READ_TIMEOUT", get("MCP_READ_TIMEOUT"), 5.0)?,
            write_timeout: seconds("MCP_WRITE_TIMEOUT", get("MCP_WRITE_TIMEOUT"), 30.0)?,
        })
    }
}

/// What became of a call through the gateway.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ToolOutcome {
    /// `{"ok": true, "result"}`: the tool ran; this is its (redacted) result.
    Executed(Value),
    /// It needs approval first.
    NeedApproval(NeedApproval),
    /// The gateway answered with an error (refusal, failed tool, timeout upstream).
    Refused(Refusal),
    /// No answer from the gateway after the request may have reached it: what
    /// became of it is unknown.
    Unreachable(String),
    /// The gateway could not even be connected to: nothing was sent, nothing ran.
    NotSent(String),
}

/// Why a read of `/approvals` or `/audit` (or a deny) gave no data.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum GatewayError {
    Refused(Refusal),
    Unreachable(String),
}

impl std::fmt::Display for GatewayError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Refused(r) => write!(f, "the gateway refused ({}): {}", r.status(), r.detail),
            Self::Unreachable(why) => write!(f, "{why}"),
        }
    }
}

/// Whether a call reads (read timeout) or changes something (write timeout).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Read,
    Write,
    /// A read that takes seconds by design (compose_stats: each container's
    /// sample waits for the Engine's next collection; compose_updates asks
    /// registries): [`SLOW_READ_TIMEOUT`],
    /// longer than the gateway waits for it, so its own timeout is what is said.
    SlowRead,
}

/// How long a [`Kind::SlowRead`] may take, at least: longer than the gateway
/// waits for any of them (compose_stats 50 s, docker-mcp bounding a round to
/// 20 s; compose_updates 90 s, its round bounded to 60 s), so the timeouts nest.
pub(crate) const SLOW_READ_TIMEOUT: Duration = Duration::from_secs(95);

/// The client. `None` from [`GatewayClient::new`] means offline mode.
#[derive(Debug, Clone)]
pub(crate) struct GatewayClient {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
    compose_file: String,
    read_timeout: Duration,
    write_timeout: Duration,
}

impl GatewayClient {
    pub(crate) fn new(settings: &GatewaySettings) -> Option<Self> {
        let base = settings.base_url.clone()?;
        let http = reqwest::Client::builder()
            .no_proxy()
            .connect_timeout(settings.read_timeout.min(Duration::from_secs(5)))
            // Shorter than the gateway's idle timeout (20 s, ops_core::net), so a
            // request never goes out on a connection the gateway is closing.
            .pool_idle_timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .ok()?;
        Some(Self {
            http,
            base,
            token: settings.token.clone(),
            compose_file: settings.compose_file.clone(),
            read_timeout: settings.read_timeout,
            write_timeout: settings.write_timeout,
        })
    }

    pub(crate) fn compose_file(&self) -> &str {
        &self.compose_file
    }

    /// How long a read may take.
    pub(crate) fn read_timeout(&self) -> Duration {
        self.read_timeout
    }

    fn timeout(&self, kind: Kind) -> Duration {
        match kind {
            Kind::Read => self.read_timeout,
            Kind::Write => self.write_timeout,
            Kind::SlowRead => self.read_timeout.max(SLOW_READ_TIMEOUT),
        }
    }

    fn request(&self, method: reqwest::Method, path: &str, kind: Kind) -> reqwest::RequestBuilder {
        self.authorized(
            self.http
                .request(method, format!("{}{path}", self.base))
                .timeout(self.timeout(kind)),
        )
    }

    /// The app's token, and whom it acts for (the current user and role).
    fn authorized(&self, mut request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some((user, role)) = current_user() {
            request = request
                .header(ON_BEHALF_OF, user)
                .header(ON_BEHALF_ROLE, role);
        }
        request
    }

    /// `POST /chat/tool {"tool", "args"}`: a read runs; an action comes back as
    /// a request for approval, owned by the gateway.
    pub(crate) async fn call(&self, tool: &str, args: Value, kind: Kind) -> ToolOutcome {
        let body = ChatToolRequest {
            tool: tool.to_owned(),
            args: Some(for_current_host(args)),
            ..ChatToolRequest::default()
        };
        let request = self
            .request(reqwest::Method::POST, "/chat/tool", kind)
            .json(&body);
        self.outcome(request, kind).await
    }

    /// `POST /approvals/{id}/approve`, for the signed-in user: the call runs now
    /// when the gateway agrees.
    pub(crate) async fn approve(&self, approval_id: &str) -> ToolOutcome {
        let path = format!("/approvals/{}/approve", path_segment(approval_id));
        let request = self.request(reqwest::Method::POST, &path, Kind::Write);
        self.outcome(request, Kind::Write).await
    }

    async fn outcome(&self, request: reqwest::RequestBuilder, kind: Kind) -> ToolOutcome {
        match self.exchange(request, kind).await {
            Err(NoAnswer { why, sent: false }) => ToolOutcome::NotSent(why),
            Err(NoAnswer { why, sent: true }) => ToolOutcome::Unreachable(why),
            Ok(answer) => {
                match ChatToolReply::from_wire(answer.status, &answer.body, answer.retry_after) {
                    ChatToolReply::Executed(executed) => ToolOutcome::Executed(executed.result),
                    ChatToolReply::NeedApproval(need) => ToolOutcome::NeedApproval(need),
                    ChatToolReply::Refused(refusal) => ToolOutcome::Refused(refusal),
                }
            }
        }
    }

    /// `POST /approvals/{id}/deny`.
    pub(crate) async fn deny(&self, approval_id: &str) -> Result<Value, GatewayError> {
        let path = format!("/approvals/{}/deny", path_segment(approval_id));
        let request = self.request(reqwest::Method::POST, &path, Kind::Read);
        self.send(request, Kind::Read).await
    }

    /// `GET /approvals`: the pending approvals this app's principal may see.
    pub(crate) async fn approvals(&self) -> Result<Value, GatewayError> {
        let request = self.request(reqwest::Method::GET, "/approvals", Kind::Read);
        self.send(request, Kind::Read).await
    }

    /// `GET /capabilities`: what the person's role may call and approve, and
    /// the cooldowns running (a hint for the buttons; the gateway decides each call).
    pub(crate) async fn capabilities(&self) -> Result<Value, GatewayError> {
        let request = self.request(reqwest::Method::GET, "/capabilities", Kind::Read);
        self.send(request, Kind::Read).await
    }

    /// `GET /hosts`: the Docker hosts behind the gateway (none: one host, as
    /// the guide's files have it). A gateway that predates hosts answers 404:
    /// none either.
    pub(crate) async fn hosts(&self) -> Result<Hosts, GatewayError> {
        let request = self.request(reqwest::Method::GET, "/hosts", Kind::Read);
        let answer = self
            .exchange(request, Kind::Read)
            .await
            .map_err(|no_answer| GatewayError::Unreachable(no_answer.why))?;
        match answer.status {
            404 => Ok(Hosts::default()),
            200..=299 => serde_json::from_slice(&answer.body).map_err(|_| {
                GatewayError::Refused(Refusal::new(
                    RefusalCode::BadReply,
                    "the gateway's list of hosts is not what this pi-health reads: are both the same version?",
                ))
            }),
            status => Err(GatewayError::Refused(Refusal::from_wire(
                status,
                &answer.body,
                answer.retry_after,
            ))),
        }
    }

    /// `GET /audit?...`.
    pub(crate) async fn audit(&self, query: &AuditQuery) -> Result<Value, GatewayError> {
        let request = self
            .request(reqwest::Method::GET, "/audit", Kind::Read)
            .query(query);
        self.send(request, Kind::Read).await
    }

    /// `POST /chat/stream` for compose_logs_follow: the open stream (NDJSON log
    /// events, read by the caller) once its head came within the read timeout,
    /// or why not. No overall timeout: it would cut the stream; the gateway
    /// bounds a stream's life, and the reader stops reading when it goes.
    pub(crate) async fn follow_logs(
        &self,
        service: &str,
        tail: u32,
    ) -> Result<reqwest::Response, GatewayError> {
        let body = ChatToolRequest {
            tool: FOLLOW_TOOL.to_owned(),
            args: Some(for_current_host(serde_json::json!({
                "file": self.compose_file,
                "service": service,
                "tail": tail,
            }))),
            ..ChatToolRequest::default()
        };
        let request = self.authorized(
            self.http
                .post(format!("{}/chat/stream", self.base))
                .json(&body),
        );
        let response = match tokio::time::timeout(self.read_timeout, request.send()).await {
            Err(_) => {
                return Err(GatewayError::Unreachable(format!(
                    "The gateway did not open the stream within {} s.",
                    self.read_timeout.as_secs_f64()
                )));
            }
            Ok(Err(error)) => {
                return Err(GatewayError::Unreachable(self.describe(&error, Kind::Read)));
            }
            Ok(Ok(response)) => response,
        };
        let status = response.status().as_u16();
        if response.status().is_success() {
            return Ok(response);
        }
        let mut body = Vec::new();
        let mut response = response;
        while let Ok(Ok(Some(chunk))) =
            tokio::time::timeout(self.read_timeout, response.chunk()).await
        {
            if body.len() + chunk.len() > MAX_REPLY_BYTES {
                break;
            }
            body.extend_from_slice(&chunk);
        }
        match ChatToolReply::from_wire(status, &body, None) {
            ChatToolReply::Refused(refusal) => Err(GatewayError::Refused(refusal)),
            _ => Err(GatewayError::Refused(Refusal::new(
                RefusalCode::BadReply,
                format!("the gateway answered HTTP {status} without a refusal"),
            ))),
        }
    }

    /// Sends and reads a bounded answer; Err is no answer at all.
    async fn exchange(
        &self,
        request: reqwest::RequestBuilder,
        kind: Kind,
    ) -> Result<Answer, NoAnswer> {
        let mut response = request.send().await.map_err(|e| NoAnswer {
            why: self.describe(&e, kind),
            sent: !e.is_connect(),
        })?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let mut body = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if body.len() + chunk.len() > MAX_REPLY_BYTES {
                        return Ok(Answer {
                            status: 502,
                            body: too_large(),
                            retry_after: None,
                        });
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(error) => {
                    return Err(NoAnswer {
                        why: self.describe(&error, kind),
                        sent: true,
                    });
                }
            }
        }
        Ok(Answer {
            status,
            body,
            retry_after,
        })
    }

    /// A read of `/approvals` or `/audit` (or a deny): JSON data or an error.
    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        kind: Kind,
    ) -> Result<Value, GatewayError> {
        let answer = self
            .exchange(request, kind)
            .await
            .map_err(|no_answer| GatewayError::Unreachable(no_answer.why))?;
        if !(200..300).contains(&answer.status) {
            return Err(GatewayError::Refused(Refusal::from_wire(
                answer.status,
                &answer.body,
                answer.retry_after,
            )));
        }
        serde_json::from_slice(&answer.body).map_err(|_| {
            GatewayError::Refused(Refusal::new(
                RefusalCode::BadReply,
                "the gateway's answer is not JSON",
            ))
        })
    }

    /// Why there is no answer, in plain words that start "the gateway ..." and
    /// fit in a sentence ("Not executed: {why}, so ..."); the technical chain
    /// ("hyper legacy client ... os error 111") goes to the log only.
    fn describe(&self, error: &reqwest::Error, kind: Kind) -> String {
        tracing::warn!(gateway = %self.base, error = %ops_core::error_chain(error), "no answer from the gateway");
        if error.is_timeout() {
            format!(
                "the gateway at {} did not answer within {:.1} s",
                self.base,
                self.timeout(kind).as_secs_f64()
            )
        } else if error.is_connect() {
            format!("the gateway is not answering at {}", self.base)
        } else {
            format!("the gateway at {} stopped answering mid-way", self.base)
        }
    }

    /// `GET /health/ready`: whether the gateway answers and says each of its
    /// services (docker-mcp, and through it the Engine) is ready; bounded by
    /// the read timeout, at most [`READINESS_TIMEOUT`].
    pub(crate) async fn readiness(&self) -> GatewayReadiness {
        let request = self
            .http
            .get(format!("{}/health/ready", self.base))
            .timeout(self.read_timeout.min(READINESS_TIMEOUT));
        let answer = match self.exchange(request, Kind::Read).await {
            Ok(answer) => answer,
            Err(no_answer) => return GatewayReadiness::NotAnswering(no_answer.why),
        };
        let body: Value = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
        match answer.status {
            200 => GatewayReadiness::Ready,
            503 => GatewayReadiness::ServicesDown(
                body.get("problems")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .take(8)
                    .map(|problem| ops_core::shortened(problem, 200))
                    .collect(),
            ),
            status => GatewayReadiness::ServicesDown(vec![format!(
                "the gateway at {} answered its readiness check with HTTP {status}: is it the same version as pi-health?",
                self.base
            )]),
        }
    }
}

/// The gateway's answer to `GET /health/ready`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum GatewayReadiness {
    Ready,
    /// The gateway answers, but these of its services are not ready (plain words).
    ServicesDown(Vec<String>),
    /// No answer: why, as [`GatewayClient::describe`] says it.
    NotAnswering(String),
}

/// An approval id as one URL path segment (ids are hex; anything else is encoded).
fn path_segment(id: &str) -> String {
    id.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Why there is no answer, and whether the request may have reached the gateway.
struct NoAnswer {
    why: String,
    sent: bool,
}

/// What the gateway answered, before it is read.
struct Answer {
    status: u16,
    body: Vec<u8>,
    retry_after: Option<u64>,
}

/// The refusal body for an answer over [`MAX_REPLY_BYTES`].
fn too_large() -> Vec<u8> {
    let refusal = Refusal::new(
        RefusalCode::ReplyTooLarge,
        "the gateway's answer is too large",
    );
    serde_json::to_vec(&refusal).unwrap_or_default()
}

#[cfg(test)]
mod tests;
