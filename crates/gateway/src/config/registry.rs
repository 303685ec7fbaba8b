//! `tool_registry.yaml`: which MCP service serves which tool, and how each
//! tool is treated (mutating, approval, roles, cooldown).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;
use serde_saphyr::Spanned;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryFile {
    pub services: BTreeMap<String, Spanned<ServiceDef>>,
    pub tools: BTreeMap<String, Spanned<ToolDef>>,
    /// Several Docker hosts, each one of the services (see [`super::hosts`]).
    #[serde(default)]
    pub hosts: Option<Spanned<BTreeMap<String, super::hosts::HostEntry>>>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ServiceDef {
    /// For `http` and `streamable-http`.
    #[serde(default)]
    pub base_url: Option<String>,
    pub transport: Transport,
    #[serde(default)]
    pub auth: Auth,
    /// For `stdio`: the program and its arguments.
    #[serde(default)]
    pub command: Vec<String>,
}

/// How a service is reached.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Transport {
    /// The guide's REST form: `POST {base_url}/tools/{fn}`.
    Http,
    /// MCP over Streamable HTTP at `{base_url}` (e.g. `http://docker-mcp:8080/mcp`).
    #[serde(alias = "mcp")]
    StreamableHttp,
    /// MCP over the stdio of a child process started from `command`.
    Stdio,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum Auth {
    #[default]
    #[serde(deserialize_with = "none_keyword")]
    None,
    Bearer {
        /// A file holding the token, so it never sits in the YAML or the environment.
        bearer_token_file: PathBuf,
    },
}

fn none_keyword<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<(), D::Error> {
    let word = String::deserialize(deserializer)?;
    if word == "none" {
        Ok(())
    } else {
        Err(serde::de::Error::custom(format!(
            "auth must be `none` or `{{ bearer_token_file: PATH }}`, not {word:?}"
        )))
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ToolDef {
    pub mcp: McpTarget,
    #[serde(default)]
    pub mutating: bool,
    #[serde(default)]
    pub approval: Option<ApprovalMode>,
    /// Only these roles may call the tool, when given.
    #[serde(default)]
    pub roles: Option<Vec<String>>,
    #[serde(default)]
    pub cooldown: Option<RegistryCooldown>,
    #[serde(default)]
    pub summary: Option<String>,
    /// How long the gateway waits for this tool's service, in seconds, instead of
    /// the policy's read or write timeout: set it above the service's own bound
    /// (docker-mcp's compose_up runs up to 300 s), so the timeouts nest.
    #[serde(default)]
    pub timeout_seconds: Option<u64>,
    /// A live stream (followed logs), opened with `POST /chat/stream` and
    /// served by the service's `POST {base_url}/streams/{fn}`; never mutating.
    #[serde(default)]
    pub stream: bool,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct McpTarget {
    pub service: String,
    #[serde(rename = "fn")]
    pub function: String,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ApprovalMode {
    Required,
    None,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RegistryCooldown {
    pub seconds: u64,
    #[serde(default)]
    pub key_by: Option<CooldownKey>,
}

/// Whether a cooldown is per service (the `service` argument) or per tool.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CooldownKey {
    Service,
    Global,
}
