//! The gateway's configuration: the guide's `tool_registry.yaml` and
//! `policy.yaml`, checked together and resolved into one [`Config`].
//!
//! Precedence where the files overlap: a tool's cooldown in `policy.yaml`
//! (`cooldowns:`) wins over the one in `tool_registry.yaml`, and a warning is
//! given when they differ. Deny by default: every registered tool needs a
//! schema, and a mutating tool always needs approval.

pub mod autoheal;
pub mod hosts;
pub mod policy;
pub mod registry;
mod reload;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use serde_json::Value;
use serde_saphyr::Spanned;
use sha2::{Digest, Sha256};

pub use autoheal::{AUTOHEAL_TOOL, AutohealPolicy};
pub use hosts::{HOST_ARG, Host, Hosts, Route};
pub use policy::{Defaults, Guards, RoleDef};
pub use registry::{ApprovalMode, Auth, CooldownKey, ServiceDef, Transport};
pub use reload::ConfigHandle;

/// Bad configuration: which file, which line, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}{}: {reason}", line.map(|l| format!(":{l}")).unwrap_or_default())]
pub struct ConfigError {
    pub file: String,
    pub line: Option<u64>,
    pub reason: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Cooldown {
    pub seconds: u64,
    pub key: CooldownKey,
}

/// The longest a tool's `timeout_seconds` may be (an hour).
pub const MAX_TOOL_TIMEOUT_SECONDS: u64 = 3600;

/// Everything the gateway knows about one tool.
#[derive(Debug, Clone)]
pub struct ToolPolicy {
    pub name: String,
    pub service: String,
    pub function: String,
    pub mutating: bool,
    pub needs_approval: bool,
    /// Only these roles may call it, when set.
    pub roles: Option<Vec<String>>,
    pub cooldown: Option<Cooldown>,
    /// The registry's `timeout_seconds`, when set; else the policy's defaults.
    pub timeout: Option<std::time::Duration>,
    /// Opened with `POST /chat/stream`, not called with `/chat/tool`.
    pub stream: bool,
    pub summary: String,
    pub schema: Value,
    pub validator: Arc<jsonschema::Validator>,
}

/// The resolved configuration in force.
#[derive(Debug, Clone)]
pub struct Config {
    /// A digest of both files: approvals are bound to it.
    pub version: String,
    pub services: BTreeMap<String, ServiceDef>,
    pub tools: BTreeMap<String, ToolPolicy>,
    pub roles: BTreeMap<String, RoleDef>,
    pub defaults: Defaults,
    pub guards: Guards,
    /// The compose file the schemas pin `file` to.
    pub locked_compose_file: Option<String>,
    /// Restarts the gateway makes by itself, when the policy has the section.
    pub autoheal: Option<AutohealPolicy>,
    /// The Docker hosts; empty for the guide's single host.
    pub hosts: Hosts,
    pub warnings: Vec<String>,
}

/// A named YAML text, so errors can say where they come from.
pub struct Source<'a> {
    pub name: &'a str,
    pub text: &'a str,
}

impl Config {
    pub fn load(registry: &Path, policy: &Path) -> Result<Self, ConfigError> {
        let read = |path: &Path| {
            std::fs::read_to_string(path).map_err(|e| ConfigError {
                file: path.display().to_string(),
                line: None,
                reason: format!("cannot read: {e}"),
            })
        };
        let (registry_text, policy_text) = (read(registry)?, read(policy)?);
        Self::parse(
            Source {
                name: &registry.display().to_string(),
                text: &registry_text,
            },
            Source {
                name: &policy.display().to_string(),
                text: &policy_text,
            },
        )
    }

    pub fn parse(registry: Source<'_>, policy: Source<'_>) -> Result<Self, ConfigError> {
        let registry_file: registry::RegistryFile = parse_yaml(&registry)?;
        let policy_file: policy::PolicyFile = parse_yaml(&policy)?;
        let mut warnings = Vec::new();
        let at = |source: &Source<'_>, line: u64, reason: String| ConfigError {
            file: source.name.to_owned(),
            line: Some(line).filter(|l| *l > 0),
            reason,
        };

        let defaults = policy_file.defaults.clone();
        if defaults.read_timeout_ms == 0 || defaults.write_timeout_ms == 0 {
            return Err(at(
                &policy,
                0,
                "defaults: timeouts must be above 0 ms".into(),
            ));
        }
        if defaults.output_cap_bytes < 1024 {
            return Err(at(
                &policy,
                0,
                "defaults.output_cap_bytes must be at least 1024".into(),
            ));
        }

        for (name, service) in &registry_file.services {
            check_service(name, &service.value).map_err(|reason| {
                at(
                    &registry,
                    service.referenced.line(),
                    format!("services.{name}: {reason}"),
                )
            })?;
        }

        let roles: BTreeMap<String, RoleDef> = policy_file
            .roles
            .iter()
            .map(|(name, role)| (name.clone(), role.value.clone()))
            .collect();

        let mut locked_files: Vec<String> = Vec::new();
        let mut tools = BTreeMap::new();
        for (name, spanned) in &registry_file.tools {
            let tool = &spanned.value;
            let line = spanned.referenced.line();
            if !registry_file.services.contains_key(&tool.mcp.service) {
                return Err(at(
                    &registry,
                    line,
                    format!("tools.{name}: unknown service {:?}", tool.mcp.service),
                ));
            }
            if tool.mutating && tool.approval == Some(ApprovalMode::None) {
                return Err(at(
                    &registry,
                    line,
                    format!("tools.{name}: a mutating tool always needs approval"),
                ));
            }
            if let Some(unknown) = tool
                .roles
                .iter()
                .flatten()
                .find(|r| !roles.contains_key(*r))
            {
                return Err(at(
                    &registry,
                    line,
                    format!("tools.{name}: role {unknown:?} is not defined in policy.yaml roles"),
                ));
            }
            let Some(schema) = policy_file.schemas.get(name) else {
                return Err(at(
                    &registry,
                    line,
                    format!(
                        "tools.{name}: policy.yaml has no schema for it (every tool needs one)"
                    ),
                ));
            };
            let validator = compile_schema(
                name,
                schema,
                policy_file.guards.lock_compose_file,
                &mut locked_files,
            )
            .map_err(|reason| at(&policy, schema.referenced.line(), reason))?;
            if let Some(seconds) = tool.timeout_seconds
                && !(1..=MAX_TOOL_TIMEOUT_SECONDS).contains(&seconds)
            {
                return Err(at(
                    &registry,
                    line,
                    format!(
                        "tools.{name}: timeout_seconds must be between 1 and {MAX_TOOL_TIMEOUT_SECONDS}, not {seconds}"
                    ),
                ));
            }
            if tool.stream && (tool.mutating || tool.approval == Some(ApprovalMode::Required)) {
                return Err(at(
                    &registry,
                    line,
                    format!(
                        "tools.{name}: a stream only reads: it cannot be mutating or need approval"
                    ),
                ));
            }
            let cooldown =
                resolve_cooldown(name, tool, policy_file.cooldowns.get(name), &mut warnings);
            tools.insert(
                name.clone(),
                ToolPolicy {
                    name: name.clone(),
                    service: tool.mcp.service.clone(),
                    function: tool.mcp.function.clone(),
                    mutating: tool.mutating,
                    needs_approval: tool.mutating || tool.approval == Some(ApprovalMode::Required),
                    roles: tool.roles.clone(),
                    cooldown,
                    timeout: tool.timeout_seconds.map(std::time::Duration::from_secs),
                    stream: tool.stream,
                    summary: tool.summary.clone().unwrap_or_else(|| {
                        if tool.mutating {
                            "Mutating action".into()
                        } else {
                            "Read-only action".into()
                        }
                    }),
                    schema: schema.value.clone(),
                    validator: Arc::new(validator),
                },
            );
        }

        locked_files.sort();
        locked_files.dedup();
        if locked_files.len() > 1 {
            return Err(at(
                &policy,
                0,
                format!(
                    "schemas pin `file` to different paths: {}",
                    locked_files.join(", ")
                ),
            ));
        }
        for name in policy_file
            .schemas
            .keys()
            .filter(|n| !tools.contains_key(*n))
        {
            warnings.push(format!(
                "policy.yaml schemas.{name}: no such tool in the registry; ignored"
            ));
        }
        for name in policy_file
            .cooldowns
            .keys()
            .filter(|n| !tools.contains_key(*n))
        {
            warnings.push(format!(
                "policy.yaml cooldowns.{name}: no such tool in the registry; ignored"
            ));
        }
        for (role, def) in &roles {
            for tool in def.can_approve.iter().chain(&def.deny_tools) {
                if tool != "*" && !tools.contains_key(tool) {
                    warnings.push(format!(
                        "policy.yaml roles.{role}: names unknown tool {tool:?}"
                    ));
                }
            }
        }

        let autoheal = match &policy_file.autoheal {
            None => None,
            Some(section) => {
                let line = section.referenced.line();
                let autoheal = section.value.clone();
                autoheal
                    .check()
                    .map_err(|reason| at(&policy, line, reason))?;
                let Some(restart) = tools.get(AUTOHEAL_TOOL) else {
                    return Err(at(
                        &policy,
                        line,
                        format!(
                            "autoheal: it restarts with {AUTOHEAL_TOOL}, which the registry does not have"
                        ),
                    ));
                };
                if !roles.contains_key(&autoheal.role) {
                    return Err(at(
                        &policy,
                        line,
                        format!("autoheal.role: {:?} is not defined in roles", autoheal.role),
                    ));
                }
                if let Some(only) = restart
                    .roles
                    .as_ref()
                    .filter(|r| !r.contains(&autoheal.role))
                {
                    return Err(at(
                        &policy,
                        line,
                        format!(
                            "autoheal.role: {AUTOHEAL_TOOL} is limited to {}: give auto-heal one of those roles",
                            only.join(", ")
                        ),
                    ));
                }
                if roles[&autoheal.role]
                    .deny_tools
                    .iter()
                    .any(|t| t == AUTOHEAL_TOOL || t == "*")
                {
                    return Err(at(
                        &policy,
                        line,
                        format!(
                            "autoheal.role: role {} may not use {AUTOHEAL_TOOL}",
                            autoheal.role
                        ),
                    ));
                }
                Some(autoheal)
            }
        };

        let (no_entries, no_rules) = (BTreeMap::new(), BTreeMap::new());
        let hosts = hosts::Hosts::resolve(
            registry_file
                .hosts
                .as_ref()
                .map_or(&no_entries, |h| &h.value),
            policy_file.hosts.as_ref().map_or(&no_rules, |h| &h.value),
            |service| registry_file.services.contains_key(service),
            |role| roles.contains_key(role),
        )
        .map_err(|fault| match fault.file {
            hosts::FaultIn::Registry => {
                let line = registry_file
                    .hosts
                    .as_ref()
                    .map_or(0, |h| h.referenced.line());
                at(&registry, line, fault.reason)
            }
            hosts::FaultIn::Policy => {
                let line = policy_file
                    .hosts
                    .as_ref()
                    .map_or(0, |h| h.referenced.line());
                at(&policy, line, fault.reason)
            }
        })?;

        let mut digest = Sha256::new();
        digest.update(registry.text.as_bytes());
        digest.update([0u8]);
        digest.update(policy.text.as_bytes());
        let version = hex::encode(&digest.finalize()[..8]);

        Ok(Self {
            version,
            services: registry_file
                .services
                .into_iter()
                .map(|(name, service)| (name, service.value))
                .collect(),
            tools,
            roles,
            defaults,
            guards: policy_file.guards,
            locked_compose_file: locked_files.pop(),
            autoheal,
            hosts,
            warnings,
        })
    }

    /// Where a call goes (see [`Hosts::route`]).
    pub fn route<'c>(&'c self, tool: &'c ToolPolicy, args: &Value) -> Result<Route<'c>, String> {
        self.hosts.route(tool, args)
    }

    /// The service a call without `host` goes to: compose_ps's (the stack's own
    /// docker-mcp), else the first tool's.
    pub fn default_host_service(&self) -> Option<&str> {
        self.tools
            .get("compose_ps")
            .or_else(|| self.tools.values().next())
            .map(|tool| tool.service.as_str())
    }

    /// Whether `role` may approve `tool`.
    pub fn can_approve(&self, role: &str, tool: &str) -> bool {
        self.roles
            .get(role)
            .is_some_and(|r| r.can_approve.iter().any(|t| t == "*" || t == tool))
    }
}

fn parse_yaml<T: serde::de::DeserializeOwned>(source: &Source<'_>) -> Result<T, ConfigError> {
    serde_saphyr::from_str(source.text).map_err(|e| ConfigError {
        file: source.name.to_owned(),
        line: e.location().map(|l| l.line()).filter(|l| *l > 0),
        reason: first_line(&e.to_string()),
    })
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().trim().to_owned()
}

fn check_service(name: &str, service: &ServiceDef) -> Result<(), String> {
    let _ = name;
    match service.transport {
        Transport::Http | Transport::StreamableHttp => {
            let url = service
                .base_url
                .as_deref()
                .ok_or("needs a base_url for this transport")?;
            let parsed: http::Uri = url.parse().map_err(|e| format!("base_url {url:?}: {e}"))?;
            if !matches!(parsed.scheme_str(), Some("http" | "https")) || parsed.host().is_none() {
                return Err(format!(
                    "base_url {url:?} must be an http:// or https:// URL"
                ));
            }
        }
        Transport::Stdio => {
            if service.command.is_empty() {
                return Err("a stdio service needs `command: [program, args...]`".into());
            }
        }
    }
    if let Auth::Bearer { bearer_token_file } = &service.auth {
        let text = std::fs::read_to_string(bearer_token_file).map_err(|e| {
            format!(
                "cannot read bearer_token_file {}: {e}",
                bearer_token_file.display()
            )
        })?;
        if text.trim().is_empty() {
            return Err(format!(
                "bearer_token_file {} is empty",
                bearer_token_file.display()
            ));
        }
    }
    Ok(())
}

/// Compiles a tool's schema; with the compose-file lock on, `file` must be a const.
fn compile_schema(
    tool: &str,
    schema: &Spanned<Value>,
    lock_compose_file: bool,
    locked_files: &mut Vec<String>,
) -> Result<jsonschema::Validator, String> {
    let value = &schema.value;
    if value.get("type").and_then(Value::as_str) != Some("object") {
        return Err(format!("schemas.{tool}: must be `type: object`"));
    }
    if let Some(file) = value.pointer("/properties/file") {
        match file.get("const").and_then(Value::as_str) {
            Some(path) => locked_files.push(path.to_owned()),
            None if lock_compose_file => {
                return Err(format!(
                    "schemas.{tool}: guards.lock_compose_file is on, so `file` needs a `const` path"
                ));
            }
            None => {}
        }
    }
    jsonschema::validator_for(value)
        .map_err(|e| format!("schemas.{tool}: not a valid JSON Schema: {e}"))
}

fn resolve_cooldown(
    tool: &str,
    def: &registry::ToolDef,
    from_policy: Option<&Spanned<policy::PolicyCooldown>>,
    warnings: &mut Vec<String>,
) -> Option<Cooldown> {
    let from_registry = def.cooldown.as_ref().map(|c| Cooldown {
        seconds: c.seconds,
        key: c.key_by.unwrap_or(CooldownKey::Global),
    });
    let from_policy = from_policy.map(|c| Cooldown {
        seconds: c.value.seconds,
        key: c.value.key.unwrap_or(CooldownKey::Global),
    });
    if let (Some(r), Some(p)) = (from_registry, from_policy)
        && r != p
    {
        warnings.push(format!(
            "{tool}: cooldown differs between tool_registry.yaml ({}s, {:?}) and policy.yaml ({}s, {:?}); policy.yaml wins",
            r.seconds, r.key, p.seconds, p.key
        ));
    }
    from_policy.or(from_registry).filter(|c| c.seconds > 0)
}

#[cfg(test)]
mod tests;
