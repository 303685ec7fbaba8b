//! Reaching the MCP services the registry names. Each transport implements
//! [`Upstream`]; the gateway picks the one its registry entry says.

mod mcp;
mod rest;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::config::{Auth, Config, ServiceDef, Transport};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum UpstreamError {
    #[error("{service} is unreachable: {reason}")]
    Unreachable { service: String, reason: String },
    #[error("{service} did not answer within {0:?}", .timeout)]
    Timeout { service: String, timeout: Duration },
    /// The service answered with an error (HTTP status or an MCP error result).
    #[error("{service} -> {status}: {message}", status = .status.map(|s| s.to_string()).unwrap_or_else(|| "error".into()))]
    Failed {
        service: String,
        status: Option<u16>,
        message: String,
    },
}

pub type CallFuture<'a> = Pin<Box<dyn Future<Output = Result<Value, UpstreamError>> + Send + 'a>>;

/// Whether a service can do its work now, as its `/health` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readiness {
    /// It answers 200: for docker-mcp, the Engine answers too.
    Ready,
    /// It answers, but not ready (docker-mcp's 503: the Engine is not reachable).
    NotReady,
    /// It answers, but refuses the gateway (401 or 403: its token, or docker-mcp's
    /// check of the `Host` it is reached by).
    Refused(u16),
    /// No answer within the probe's time.
    NotAnswering,
    /// This transport has no health probe (MCP over stdio or Streamable HTTP),
    /// or the service serves no `/health`: not counted against readiness.
    Unchecked,
}

impl Readiness {
    /// Whether the gateway can count on the service.
    pub fn is_ready(self) -> bool {
        matches!(self, Self::Ready | Self::Unchecked)
    }

    /// A short word for machines (`/health/ready`'s `services`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ready => "ready",
            Self::NotReady => "not_ready",
            Self::Refused(_) => "refused",
            Self::NotAnswering => "not_answering",
            Self::Unchecked => "unchecked",
        }
    }

    /// What is wrong and what to do, in plain words, or nothing.
    pub fn problem(self, service: &str) -> Option<String> {
        match self {
            Self::Ready | Self::Unchecked => None,
            // The registry's services are Docker MCP servers: not ready means no Engine.
            Self::NotReady => Some(format!(
                "{service} cannot reach the Docker Engine: is the Docker service running?"
            )),
            Self::NotAnswering => Some(format!("{service} is not answering: is it running?")),
            Self::Refused(status) => Some(format!(
                "{service} refuses the gateway (HTTP {status}): check the token in its auth in tool_registry.yaml and, for a docker-mcp reached by a name or address other than localhost, that it was started with --allowed-host for that name"
            )),
        }
    }
}

pub type ReadinessFuture<'a> = Pin<Box<dyn Future<Output = Readiness> + Send + 'a>>;

pub type StreamFuture<'a> =
    Pin<Box<dyn Future<Output = Result<reqwest::Response, UpstreamError>> + Send + 'a>>;

/// One MCP service: call a function with arguments, within a time limit.
pub trait Upstream: Send + Sync {
    fn call<'a>(&'a self, function: &'a str, args: &'a Value, timeout: Duration) -> CallFuture<'a>;

    /// Opens a live stream (`POST {base_url}/streams/{fn}`, NDJSON): the answer
    /// once its head arrived within `timeout`, a success, its body still to read.
    /// Only the REST transport streams.
    fn stream<'a>(
        &'a self,
        _function: &'a str,
        _args: &'a Value,
        _timeout: Duration,
    ) -> StreamFuture<'a> {
        Box::pin(async {
            Err(UpstreamError::Failed {
                service: "this service".into(),
                status: None,
                message: "its transport cannot stream: register it with `transport: http`".into(),
            })
        })
    }

    /// Asks the service whether it is ready, within `timeout`.
    fn readiness(&self, _timeout: Duration) -> ReadinessFuture<'_> {
        Box::pin(async { Readiness::Unchecked })
    }
}

/// The clients for every service of one configuration.
pub struct Upstreams {
    pub config_version: String,
    by_service: HashMap<String, Arc<dyn Upstream>>,
}

impl Upstreams {
    pub fn for_config(config: &Config) -> Result<Self, String> {
        let mut by_service = HashMap::new();
        for (name, service) in &config.services {
            by_service.insert(name.clone(), build(name, service)?);
        }
        Ok(Self {
            config_version: config.version.clone(),
            by_service,
        })
    }

    /// For tests: explicit clients.
    pub fn from_clients(
        config_version: String,
        clients: HashMap<String, Arc<dyn Upstream>>,
    ) -> Self {
        Self {
            config_version,
            by_service: clients,
        }
    }

    pub fn get(&self, service: &str) -> Option<Arc<dyn Upstream>> {
        self.by_service.get(service).cloned()
    }

    /// Every service, by name.
    pub fn all(&self) -> impl Iterator<Item = (&str, &Arc<dyn Upstream>)> {
        self.by_service
            .iter()
            .map(|(name, client)| (name.as_str(), client))
    }
}

fn bearer(auth: &Auth) -> Result<Option<String>, String> {
    match auth {
        Auth::None => Ok(None),
        Auth::Bearer { bearer_token_file } => std::fs::read_to_string(bearer_token_file)
            .map(|t| Some(t.trim().to_owned()))
            .map_err(|e| format!("cannot read {}: {e}", bearer_token_file.display())),
    }
}

fn build(name: &str, service: &ServiceDef) -> Result<Arc<dyn Upstream>, String> {
    let token = bearer(&service.auth)?;
    let base = service.base_url.clone().unwrap_or_default();
    match service.transport {
        Transport::Http => Ok(Arc::new(rest::RestUpstream::new(name, &base, token)?)),
        Transport::StreamableHttp => Ok(Arc::new(mcp::McpUpstream::http(name, &base, token))),
        Transport::Stdio => Ok(Arc::new(mcp::McpUpstream::stdio(
            name,
            service.command.clone(),
        ))),
    }
}
