//! MCP services behind the gateway, over Streamable HTTP or the stdio of a
//! child process, through rmcp's client. One session per service, opened on
//! first use and re-opened after it breaks.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::{RoleClient, RunningService, ServiceError};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use serde_json::{Value, json};

use super::{CallFuture, Upstream, UpstreamError};

type Session = RunningService<RoleClient, ()>;
type Connecting = Pin<Box<dyn Future<Output = Result<Session, String>> + Send>>;

/// How the session is (re)opened.
enum Endpoint {
    Http { url: String, token: Option<String> },
    Stdio { command: Vec<String> },
}

pub struct McpUpstream {
    service: String,
    endpoint: Endpoint,
    session: tokio::sync::Mutex<Option<Session>>,
}

impl McpUpstream {
    pub fn http(service: &str, url: &str, token: Option<String>) -> Self {
        Self::new(
            service,
            Endpoint::Http {
                url: url.to_owned(),
                token,
            },
        )
    }

    pub fn stdio(service: &str, command: Vec<String>) -> Self {
        Self::new(service, Endpoint::Stdio { command })
    }

    fn new(service: &str, endpoint: Endpoint) -> Self {
        Self {
            service: service.to_owned(),
            endpoint,
            session: tokio::sync::Mutex::new(None),
        }
    }

    fn connect(&self) -> Connecting {
        match &self.endpoint {
            Endpoint::Http { url, token } => {
                let mut config = StreamableHttpClientTransportConfig::with_uri(url.as_str());
                if let Some(token) = token {
                    config = config.auth_header(token.clone());
                }
                Box::pin(async move {
                    let client = reqwest::Client::builder()
                        .connect_timeout(Duration::from_secs(3))
                        // Shorter than docker-mcp's idle timeout (20 s,
                        // ops_core::net): never reuse a connection it is closing.
                        .pool_idle_timeout(Duration::from_secs(10))
                        .build()
                        .map_err(|e| e.to_string())?;
                    let transport = StreamableHttpClientTransport::with_client(client, config);
                    ().serve(transport)
                        .await
                        .map_err(|e| ops_core::error_chain(&e))
                })
            }
            Endpoint::Stdio { command } => {
                let mut child = tokio::process::Command::new(&command[0]);
                child.args(&command[1..]).kill_on_drop(true);
                Box::pin(async move {
                    let transport = TokioChildProcess::new(child).map_err(|e| e.to_string())?;
                    ().serve(transport)
                        .await
                        .map_err(|e| ops_core::error_chain(&e))
                })
            }
        }
    }

    async fn peer(&self, timeout: Duration) -> Result<rmcp::Peer<RoleClient>, UpstreamError> {
        let mut session = self.session.lock().await;
        if let Some(open) = session.as_ref()
            && !open.is_closed()
        {
            return Ok(open.peer().clone());
        }
        let opened = tokio::time::timeout(timeout, self.connect())
            .await
            .map_err(|_| UpstreamError::Timeout {
                service: self.service.clone(),
                timeout,
            })?
            .map_err(|reason| UpstreamError::Unreachable {
                service: self.service.clone(),
                reason,
            })?;
        let peer = opened.peer().clone();
        *session = Some(opened);
        Ok(peer)
    }

    async fn forget_session(&self) {
        self.session.lock().await.take();
    }

    async fn call_inner(
        &self,
        function: &str,
        args: &Value,
        timeout: Duration,
    ) -> Result<Value, UpstreamError> {
        let peer = self.peer(timeout).await?;
        let mut params = CallToolRequestParams::new(function.to_owned());
        if let Value::Object(map) = args {
            params = params.with_arguments(map.clone());
        }
        match peer.call_tool(params).await {
            Ok(result) => self.result_value(result),
            Err(ServiceError::McpError(error)) => Err(UpstreamError::Failed {
                service: self.service.clone(),
                status: None,
                message: error.message.to_string(),
            }),
            Err(other) => {
                // The session is likely broken: open a fresh one next time.
                self.forget_session().await;
                Err(UpstreamError::Unreachable {
                    service: self.service.clone(),
                    reason: ops_core::error_chain(&other),
                })
            }
        }
    }

    fn result_value(&self, result: CallToolResult) -> Result<Value, UpstreamError> {
        let text: Vec<String> = result
            .content
            .iter()
            .filter_map(|block| block.as_text().map(|t| t.text.clone()))
            .collect();
        if result.is_error == Some(true) {
            return Err(UpstreamError::Failed {
                service: self.service.clone(),
                status: None,
                message: text.join("\n"),
            });
        }
        Ok(result
            .structured_content
            .unwrap_or_else(|| json!({ "content": text.join("\n") })))
    }
}

impl Upstream for McpUpstream {
    fn call<'a>(&'a self, function: &'a str, args: &'a Value, timeout: Duration) -> CallFuture<'a> {
        Box::pin(async move {
            match tokio::time::timeout(timeout, self.call_inner(function, args, timeout)).await {
                Ok(result) => result,
                Err(_) => Err(UpstreamError::Timeout {
                    service: self.service.clone(),
                    timeout,
                }),
            }
        })
    }
}
