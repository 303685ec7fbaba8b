//! The `ops-copilot docker-mcp` process under test, and its REST face. The MCP client
//! (raw JSON-RPC over Streamable HTTP) and process handling live in test-support.

use std::path::Path;
use std::process::Command;

use reqwest::StatusCode;
use reqwest::header::CONTENT_TYPE;
use serde_json::Value;
use tempfile::TempDir;
use test_support::{Process, compose_command, http_client};

pub const BIN: &str = env!("CARGO_BIN_EXE_ops-copilot");

/// `ops-copilot docker-mcp` with none of the caller's docker-mcp settings, the same
/// compose CLI as the harness, and logs at info (on stderr).
pub fn server_command(compose_file: Option<&Path>, docker_host: Option<&str>) -> Command {
    let mut command = Command::new(BIN);
    command.arg("docker-mcp");
    if let Some(file) = compose_file {
        command.arg("--compose-file").arg(file);
    }
    for var in [
        "COMPOSE_FILE",
        "COMPOSE_PROJECT_NAME",
        "DOCKER_MCP_LISTEN",
        "DOCKER_MCP_ALLOWED_HOSTS",
    ] {
        command.env_remove(var);
    }
    command
        .env("DOCKER_MCP_COMPOSE_COMMAND", compose_command().join(" "))
        .env("LOG_LEVEL", "info");
    if let Some(host) = docker_host {
        command.env("DOCKER_HOST", host);
    }
    command
}

/// A running `ops-copilot docker-mcp --listen 127.0.0.1:PORT`; killed when dropped.
pub struct Server {
    process: Process,
    pub base: String,
    _logs: TempDir,
}

impl Server {
    /// Starts the server and waits until `/health` answers (200, or 503 without an Engine).
    pub async fn start(compose_file: Option<&Path>, docker_host: Option<&str>) -> Self {
        test_support::require_docker();
        let logs = tempfile::tempdir().expect("a temporary directory");
        let (process, base) = Process::start_http(
            "docker-mcp",
            logs.path(),
            "/health",
            |status| status == StatusCode::OK || status == StatusCode::SERVICE_UNAVAILABLE,
            |port| {
                let mut command = server_command(compose_file, docker_host);
                command.arg("--listen").arg(format!("127.0.0.1:{port}"));
                command
            },
        )
        .await;
        Self {
            process,
            base,
            _logs: logs,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn mcp_url(&self) -> String {
        self.url("/mcp")
    }

    /// What the server wrote (stdout and stderr).
    pub fn log(&self) -> String {
        self.process.log()
    }

    /// `GET /health`: status and JSON body.
    pub async fn health(&self) -> (StatusCode, Value) {
        let response = http_client()
            .get(self.url("/health"))
            .send()
            .await
            .expect("GET /health");
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// `POST /tools/{name}` with a JSON body: status and JSON body.
    pub async fn rest(&self, name: &str, args: &Value) -> (StatusCode, Value) {
        self.rest_raw(name, args.to_string()).await
    }

    /// `POST /tools/{name}` with any body.
    pub async fn rest_raw(&self, name: &str, body: String) -> (StatusCode, Value) {
        let response = http_client()
            .post(self.url(&format!("/tools/{name}")))
            .header(CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST /tools/{name}: {e}"));
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }
}

/// Drops the fields that change from one moment to the next ("Up 3 seconds").
pub fn without_status(mut value: Value) -> Value {
    fn strip(value: &mut Value) {
        match value {
            Value::Object(map) => {
                map.remove("status");
                map.values_mut().for_each(strip);
            }
            Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    strip(&mut value);
    value
}
