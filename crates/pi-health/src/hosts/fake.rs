//! A stand-in gateway with several Docker hosts, for the unit tests of the
//! picker, the overview and the chat: `GET /hosts` as the gateway serves it,
//! `POST /chat/tool` answering per host (refusing a call without `host`, like
//! a strict gateway would be asked to), `POST /approvals/{id}/approve` and
//! `GET /capabilities`. Every call is recorded.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

/// What the fake serves.
#[derive(Clone)]
pub(crate) struct FakeHosts {
    /// `GET /hosts`' answer; `None`: 404, a gateway from before hosts.
    pub(crate) hosts: Option<Value>,
    /// Each host's services (the first one's is also the answer without `host`).
    pub(crate) stacks: Vec<(&'static str, Vec<(&'static str, &'static str)>)>,
    /// Hosts whose docker-mcp is down: an upstream refusal, at once.
    pub(crate) down: Vec<&'static str>,
    /// Hosts whose docker-mcp answers but whose Docker Engine is down: the
    /// gateway's refusal, naming the host as the gateway does ("host nas: ...").
    pub(crate) engine_down: Vec<&'static str>,
    /// Hosts that answer only after this long (a long delay: a hung docker-mcp,
    /// which the client's read timeout cuts).
    pub(crate) slow: HashMap<&'static str, Duration>,
    pub(crate) calls: Arc<Mutex<Vec<Value>>>,
    pub(crate) hosts_asked: Arc<Mutex<usize>>,
}

impl FakeHosts {
    /// pi (default: sonarr running, radarr unhealthy) and nas (read-only:
    /// sonarr and sabnzbd running).
    pub(crate) fn two() -> Self {
        Self {
            hosts: Some(json!({"hosts": [
                {"name": "nas", "default": false, "read_only": true},
                {"name": "pi", "default": true, "read_only": false}
            ]})),
            stacks: vec![
                ("pi", vec![("sonarr", "running"), ("radarr", "unhealthy")]),
                ("nas", vec![("sonarr", "running"), ("sabnzbd", "running")]),
            ],
            down: Vec::new(),
            engine_down: Vec::new(),
            slow: HashMap::new(),
            calls: Arc::default(),
            hosts_asked: Arc::default(),
        }
    }

    /// [`FakeHosts::two`] with nas writable too (cards for nas).
    pub(crate) fn writable() -> Self {
        Self {
            hosts: Some(json!({"hosts": [
                {"name": "nas", "default": false, "read_only": false},
                {"name": "pi", "default": true, "read_only": false}
            ]})),
            ..Self::two()
        }
    }

    /// The same stacks behind a gateway without hosts (404 on `/hosts`).
    pub(crate) fn none() -> Self {
        Self {
            hosts: None,
            ..Self::two()
        }
    }

    pub(crate) fn calls(&self) -> Vec<Value> {
        self.calls.lock().unwrap().clone()
    }

    /// The tool calls made, as (tool, host) pairs.
    pub(crate) fn tools(&self) -> Vec<(String, Option<String>)> {
        self.calls()
            .iter()
            .filter_map(|c| {
                Some((
                    c["tool"].as_str()?.to_owned(),
                    c["args"]["host"].as_str().map(str::to_owned),
                ))
            })
            .collect()
    }

    fn compose_ps(&self, host: &str) -> Value {
        let stack = self
            .stacks
            .iter()
            .find(|(name, _)| *name == host)
            .map(|(_, services)| services.clone())
            .unwrap_or_default();
        let services: Vec<Value> = stack
            .iter()
            .map(|(service, state)| match *state {
                "unhealthy" => json!({"service": service, "declared": true, "state": "running", "health": "unhealthy", "containers": [{"state": "running", "health": "unhealthy", "status": "Up 1 hour (unhealthy)"}]}),
                // Declared by the compose file, never brought up on this host.
                "not created" => json!({"service": service, "declared": true, "state": "not created", "containers": []}),
                state => json!({"service": service, "declared": true, "state": state, "containers": [{"state": state, "status": "Up 1 hour"}]}),
            })
            .collect();
        json!({"project": host, "services": services})
    }

    async fn tool(&self, body: Value) -> Response {
        self.calls.lock().unwrap().push(body.clone());
        let tool = body["tool"].as_str().unwrap_or_default().to_owned();
        let args = &body["args"];
        let host = match args.get("host").and_then(Value::as_str) {
            Some(host) => host.to_owned(),
            None if self.hosts.is_some() => {
                return refuse(
                    400,
                    "bad_args",
                    "this fake wants every call to name its host",
                );
            }
            None => self.stacks[0].0.to_owned(),
        };
        if let Some(delay) = self.slow.get(host.as_str()) {
            tokio::time::sleep(*delay).await;
        }
        if self.down.contains(&host.as_str()) {
            return refuse(
                502,
                "upstream_unavailable",
                &format!("docker-mcp of host {host} is not answering at http://{host}:8080"),
            );
        }
        if self.engine_down.contains(&host.as_str()) {
            return refuse(
                502,
                "mcp_failed",
                &format!(
                    "host {host}: docker-mcp-{host} could not run {tool}: Docker is not reachable at unix:///var/run/docker.sock: is the Docker service running? (details in the server log)"
                ),
            );
        }
        if !self.stacks.iter().any(|(name, _)| *name == host) {
            return refuse(400, "bad_args", &format!("unknown host '{host}'"));
        }
        let ok = |result: Value| {
            Json(json!({"ok": true, "tool": tool, "result": result})).into_response()
        };
        match tool.as_str() {
            "compose_ps" => ok(self.compose_ps(&host)),
            "compose_logs" => ok(json!({"service": args["service"], "logs": format!("logs of {} on {host}\n", args["service"].as_str().unwrap_or_default())})),
            "compose_updates" => ok(json!({"project": host, "services": []})),
            "compose_stats" => ok(json!({"project": host, "containers": [], "memory_accounting_missing": false})),
            "compose_restart" | "compose_start" | "compose_stop" | "compose_update" if body["approved"] == true => {
                ok(json!({"service": args["service"], "containers": [{"name": format!("{host}-{}-1", args["service"].as_str().unwrap_or_default()), "outcome": "restarted", "state": "running"}]}))
            }
            "compose_restart" | "compose_start" | "compose_stop" | "compose_update" => Json(json!({
                "need_approval": true, "tool": tool, "args": args, "approval_id": "appr-1",
                "expires_at_ms": 1, "self_approval": true, "rationale": "mutating", "how_to_approve": "..."
            }))
            .into_response(),
            _ => refuse(404, "unknown_tool", "Unknown tool"),
        }
    }

    /// Approving `appr-1` runs the last action requested, approved.
    async fn approve(&self, id: &str) -> Response {
        let last = self.calls().into_iter().rev().find(|c| {
            ["compose_restart", "compose_start", "compose_stop"]
                .contains(&c["tool"].as_str().unwrap_or_default())
        });
        match last {
            Some(call) if id == "appr-1" => {
                Box::pin(
                    self.tool(
                        json!({"tool": call["tool"], "args": call["args"], "approved": true}),
                    ),
                )
                .await
            }
            _ => refuse(404, "unknown_approval", "no such approval"),
        }
    }

    /// Serves it on a local port; the base URL.
    pub(crate) async fn serve(self) -> String {
        let (hosts, tools, approvals) = (self.clone(), self.clone(), self.clone());
        let app = axum::Router::new()
            .route(
                "/hosts",
                get(move || {
                    let fake = hosts.clone();
                    async move {
                        *fake.hosts_asked.lock().unwrap() += 1;
                        match &fake.hosts {
                            Some(list) => Json(list.clone()).into_response(),
                            None => refuse(404, "not_found", "no such endpoint"),
                        }
                    }
                }),
            )
            .route(
                "/chat/tool",
                post(move |Json(body): Json<Value>| {
                    let fake = tools.clone();
                    async move { fake.tool(body).await }
                }),
            )
            .route(
                "/approvals/{id}/approve",
                post(move |Path(id): Path<String>| {
                    let fake = approvals.clone();
                    async move { fake.approve(&id).await }
                }),
            )
            .route(
                "/capabilities",
                get(|| async {
                    let tool = json!({"mutating": true, "may_call": true, "may_approve": true});
                    Json(json!({"role": "admin", "tools": {
                        "compose_restart": tool, "compose_start": tool, "compose_stop": tool, "compose_update": tool,
                        "compose_diagnose": {"mutating": false, "may_call": true},
                        "compose_logs": {"mutating": false, "may_call": true},
                        "compose_stats": {"mutating": false, "may_call": true}
                    }, "cooldowns": []}))
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        base
    }
}

fn refuse(status: u16, code: &str, detail: &str) -> Response {
    (
        StatusCode::from_u16(status).unwrap(),
        Json(json!({"detail": detail, "code": code})),
    )
        .into_response()
}

/// Settings for a pi-health that reaches `base`.
pub(crate) fn settings(base: &str) -> crate::gateway_client::GatewaySettings {
    crate::gateway_client::GatewaySettings {
        base_url: Some(base.to_owned()),
        token: Some("t".into()),
        compose_file: "/opt/stack/docker-compose.yml".into(),
        read_timeout: Duration::from_secs(2),
        write_timeout: Duration::from_secs(5),
    }
}
