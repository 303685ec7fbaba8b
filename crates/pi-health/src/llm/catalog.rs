//! The tools the copilot offers a model, and the check every proposal of the
//! model passes before anything happens: the tool is one of these five, its
//! arguments are JSON that passes the tool's schema, and a service is one the
//! compose file declares. The schemas are the gateway catalog's (the guide's
//! `policy.yaml`: service pattern, `tail` 50 to 500, no other properties)
//! narrowed to this stack's services; `file` is never the model's to choose.

use ops_core::contract::rules::{self, SERVICE_PATTERN};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::planner::Action;

pub(crate) const DOCKER_STATUS: &str = "docker_status";
const DOCKER_ACTIONS: &str = "docker_actions";
pub(crate) const COMPOSE_LOGS: &str = "compose_logs";
pub(crate) const COMPOSE_DIAGNOSE: &str = "compose_diagnose";
pub(crate) const SYSTEM_HEALTH: &str = "system_health";

// `compose_logs`' `tail` bounds (and the service name pattern, SERVICE_PATTERN): the contract's.
const TAIL_MIN: u64 = rules::TAIL_MIN as u64;
const TAIL_MAX: u64 = rules::TAIL_MAX as u64;
const TAIL_DEFAULT: u64 = rules::TAIL_DEFAULT as u64;
/// Arguments longer than this are not even parsed.
const MAX_ARGUMENT_BYTES: usize = 4096;
/// Services offered at most (a compose file rarely has more).
const MAX_SERVICES: usize = 100;

/// A proposal that passed the check.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Proposal {
    /// `docker_ps` and `compose_ps` through the gateway.
    DockerStatus,
    /// `compose_logs` through the gateway.
    Logs { service: String, tail: u64 },
    /// `compose_diagnose` through the gateway.
    Diagnose { service: String },
    /// The host's statistics.
    SystemHealth,
    /// A suggestion card, never run without the person's approval.
    Action { action: Action, service: String },
}

/// A proposal that was dropped, and why (plain text; tool names and reasons
/// may echo the model's words, so they are bounded and always escaped when shown).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Rejection {
    pub(crate) tool: String,
    pub(crate) reason: String,
}

impl Rejection {
    fn new(tool: &str, reason: impl Into<String>) -> Self {
        Self {
            tool: ops_core::bounded(tool, 64),
            reason: ops_core::bounded(&reason.into(), 400),
        }
    }

    /// "docker_actions: "plex" is not one of [...]".
    pub(crate) fn describe(&self) -> String {
        let tool = if self.tool.is_empty() {
            "(no tool name)"
        } else {
            &self.tool
        };
        format!("{tool}: {}", self.reason)
    }
}

struct Tool {
    name: &'static str,
    description: &'static str,
    schema: Value,
    validator: jsonschema::Validator,
}

/// The tools for one conversation, with this stack's services in their schemas.
pub(crate) struct Catalog {
    services: Vec<String>,
    tools: Vec<Tool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoArguments {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LogsArguments {
    service: String,
    tail: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ServiceArguments {
    service: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ActionArguments {
    action: String,
    service: String,
}

impl Catalog {
    /// The catalog for a stack with `services`; without any known service only
    /// the tools that need none are offered.
    pub(crate) fn new(services: &[String]) -> Self {
        let mut names: Vec<String> = Vec::new();
        for service in services {
            if rules::is_service_name(service)
                && !names.contains(service)
                && names.len() < MAX_SERVICES
            {
                names.push(service.clone());
            }
        }
        let empty = json!({ "type": "object", "properties": {}, "additionalProperties": false });
        let mut specs = vec![
            (
                DOCKER_STATUS,
                "Read the state and health of every service of the compose stack (docker_ps and compose_ps).",
                empty.clone(),
            ),
            (
                SYSTEM_HEALTH,
                "Read the Raspberry Pi's CPU, memory, temperature, disks and uptime.",
                empty,
            ),
        ];
        if !names.is_empty() {
            let service = json!({
                "type": "string",
                "enum": names,
                "pattern": SERVICE_PATTERN,
                "description": "A service of the compose stack."
            });
            specs.push((
                COMPOSE_LOGS,
                "Read the newest log lines of one service (secrets redacted).",
                json!({
                    "type": "object",
                    "properties": {
                        "service": service,
                        "tail": { "type": "integer", "minimum": TAIL_MIN, "maximum": TAIL_MAX,
                                  "description": "How many lines (default 100)." }
                    },
                    "required": ["service"],
                    "additionalProperties": false
                }),
            ));
            specs.push((
                COMPOSE_DIAGNOSE,
                "Diagnose one service: its state, exit code and what it means, restarts and deaths in the last 10 minutes (a crash loop?), its healthcheck's last outputs, the last error lines of its logs (secrets redacted), a verdict and a suggested next step.",
                json!({
                    "type": "object",
                    "properties": { "service": service },
                    "required": ["service"],
                    "additionalProperties": false
                }),
            ));
            specs.push((
                DOCKER_ACTIONS,
                "Propose restarting, starting or stopping one service. This does NOT run anything: the person sees a suggestion with an Approve button and decides. Propose at most one action, only when it helps with what the person asked.",
                json!({
                    "type": "object",
                    "properties": {
                        "action": { "type": "string", "enum": ["restart", "start", "stop"] },
                        "service": service
                    },
                    "required": ["action", "service"],
                    "additionalProperties": false
                }),
            ));
        }
        let tools = specs
            .into_iter()
            .filter_map(|(name, description, schema)| {
                // A schema that does not compile is a tool not offered.
                let validator = jsonschema::validator_for(&schema).ok()?;
                Some(Tool {
                    name,
                    description,
                    schema,
                    validator,
                })
            })
            .collect();
        Self {
            services: names,
            tools,
        }
    }

    pub(crate) fn services(&self) -> &[String] {
        &self.services
    }

    /// The names of the tools offered.
    pub(crate) fn names(&self) -> Vec<&'static str> {
        self.tools.iter().map(|t| t.name).collect()
    }

    /// The `tools` of a chat-completions request.
    pub(crate) fn definitions(&self) -> Value {
        Value::Array(
            self.tools
                .iter()
                .map(|tool| {
                    json!({
                        "type": "function",
                        "function": {
                            "name": tool.name,
                            "description": tool.description,
                            "parameters": tool.schema,
                        }
                    })
                })
                .collect(),
        )
    }

    /// Checks one tool call of the model: a proposal, or why it is dropped.
    pub(crate) fn check(&self, name: &str, arguments: &Value) -> Result<Proposal, Rejection> {
        let Some(tool) = self.tools.iter().find(|t| t.name == name) else {
            let reason = if [DOCKER_ACTIONS, COMPOSE_LOGS, COMPOSE_DIAGNOSE].contains(&name) {
                "the stack's services are not known right now".to_owned()
            } else {
                format!(
                    "not a tool the copilot offers (offered: {})",
                    self.names().join(", ")
                )
            };
            return Err(Rejection::new(name, reason));
        };
        let arguments = parse_arguments(arguments).map_err(|e| Rejection::new(name, e))?;
        ops_core::schema::check(&tool.validator, &arguments)
            .map_err(|problems| Rejection::new(name, format!("bad arguments: {problems}")))?;
        let typed = |e: serde_json::Error| Rejection::new(name, format!("bad arguments: {e}"));
        let proposal = match tool.name {
            DOCKER_STATUS => {
                NoArguments::deserialize(&arguments).map_err(typed)?;
                Proposal::DockerStatus
            }
            SYSTEM_HEALTH => {
                NoArguments::deserialize(&arguments).map_err(typed)?;
                Proposal::SystemHealth
            }
            COMPOSE_LOGS => {
                let args = LogsArguments::deserialize(&arguments).map_err(typed)?;
                Proposal::Logs {
                    service: self.service(name, &args.service)?,
                    tail: args.tail.unwrap_or(TAIL_DEFAULT).clamp(TAIL_MIN, TAIL_MAX),
                }
            }
            COMPOSE_DIAGNOSE => {
                let args = ServiceArguments::deserialize(&arguments).map_err(typed)?;
                Proposal::Diagnose {
                    service: self.service(name, &args.service)?,
                }
            }
            DOCKER_ACTIONS => {
                let args = ActionArguments::deserialize(&arguments).map_err(typed)?;
                let action = match args.action.as_str() {
                    "restart" => Action::Restart,
                    "start" => Action::Start,
                    "stop" => Action::Stop,
                    _ => return Err(Rejection::new(name, "unknown action")),
                };
                Proposal::Action {
                    action,
                    service: self.service(name, &args.service)?,
                }
            }
            _ => return Err(Rejection::new(name, "not a tool the copilot offers")),
        };
        Ok(proposal)
    }

    /// The declared service `name` (checked again, whatever the schema said).
    fn service(&self, tool: &str, name: &str) -> Result<String, Rejection> {
        self.services
            .iter()
            .find(|s| *s == name)
            .cloned()
            .ok_or_else(|| Rejection::new(tool, format!("{name:?} is not a service of this stack")))
    }
}

/// The arguments as a JSON object: a JSON text (OpenAI) or an object; empty is `{}`.
fn parse_arguments(arguments: &Value) -> Result<Value, String> {
    let value = match arguments {
        Value::Null => return Ok(json!({})),
        Value::String(text) if text.len() > MAX_ARGUMENT_BYTES => {
            return Err(format!(
                "the arguments are longer than {MAX_ARGUMENT_BYTES} bytes"
            ));
        }
        Value::String(text) if text.trim().is_empty() => return Ok(json!({})),
        Value::String(text) => {
            serde_json::from_str(text).map_err(|_| "the arguments are not JSON".to_owned())?
        }
        other => other.clone(),
    };
    if value.is_object() {
        Ok(value)
    } else {
        Err("the arguments are not a JSON object".into())
    }
}

#[cfg(test)]
mod tests;
