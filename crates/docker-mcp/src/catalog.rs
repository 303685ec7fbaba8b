//! The nineteen tools (twelve for the compose stack, seven for a Swarm stack):
//! names, descriptions, annotations and schemas. One catalog
//! serves MCP and REST, so both validate and describe the tools identically.

use std::path::Path;

use serde_json::{Map, Value, json};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ToolName {
    DockerPs,
    ComposePs,
    ComposeLogs,
    ComposeDiagnose,
    ComposeStats,
    ComposeRestart,
    ComposeStart,
    ComposeStop,
    ComposeUpdates,
    ComposeUpdate,
    ComposePull,
    ComposeUp,
    SwarmServices,
    SwarmTasks,
    SwarmLogs,
    SwarmNodes,
    SwarmDiagnose,
    SwarmRestart,
    SwarmScale,
}

/// The MCP tool annotations; hints, but they must be true.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hints {
    pub read_only: bool,
    pub destructive: bool,
    pub idempotent: bool,
    pub open_world: bool,
}

/// The guide's service name pattern and `tail` bounds, as the contract states them.
pub use ops_core::contract::rules::{SERVICE_PATTERN, TAIL_DEFAULT, TAIL_MAX, TAIL_MIN};

/// The most replicas swarm_scale sets, whatever the policy allows: a Pi
/// cluster runs a handful of tasks per service, and a typo (200 for 20) must
/// not start a flood. The gateway's policy sets its own, lower or equal,
/// `maximum` in swarm_scale's schema.
pub const SWARM_MAX_REPLICAS: u32 = 20;

/// The Swarm stack the swarm_* tools are pinned to unless configured
/// (`--swarm-stack`): the stack a home media Swarm is deployed as
/// (`docker stack deploy -c docker-compose.yml media`).
pub const DEFAULT_SWARM_STACK: &str = "media";

impl ToolName {
    pub const ALL: [ToolName; 19] = [
        Self::DockerPs,
        Self::ComposePs,
        Self::ComposeLogs,
        Self::ComposeDiagnose,
        Self::ComposeStats,
        Self::ComposeRestart,
        Self::ComposeStart,
        Self::ComposeStop,
        Self::ComposeUpdates,
        Self::ComposeUpdate,
        Self::ComposePull,
        Self::ComposeUp,
        Self::SwarmServices,
        Self::SwarmTasks,
        Self::SwarmLogs,
        Self::SwarmNodes,
        Self::SwarmDiagnose,
        Self::SwarmRestart,
        Self::SwarmScale,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::DockerPs => "docker_ps",
            Self::ComposePs => "compose_ps",
            Self::ComposeLogs => "compose_logs",
            Self::ComposeDiagnose => "compose_diagnose",
            Self::ComposeStats => "compose_stats",
            Self::ComposeRestart => "compose_restart",
            Self::ComposeStart => "compose_start",
            Self::ComposeStop => "compose_stop",
            Self::ComposeUpdates => "compose_updates",
            Self::ComposeUpdate => "compose_update",
            Self::ComposePull => "compose_pull",
            Self::ComposeUp => "compose_up",
            Self::SwarmServices => "swarm_services",
            Self::SwarmTasks => "swarm_tasks",
            Self::SwarmLogs => "swarm_logs",
            Self::SwarmNodes => "swarm_nodes",
            Self::SwarmDiagnose => "swarm_diagnose",
            Self::SwarmRestart => "swarm_restart",
            Self::SwarmScale => "swarm_scale",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == name)
    }

    pub fn description(self) -> &'static str {
        match self {
            Self::DockerPs => "List running containers (name, image, status, health).",
            Self::ComposePs => {
                "Show the state and health of every service of the locked compose stack."
            }
            Self::ComposeLogs => "Tail bounded, ANSI-free lines of logs for one service.",
            Self::ComposeDiagnose => {
                "Say why one service is not well: per container its state, exit code in words, OOM kill, restarts and deaths in the last 10 minutes (crash loop), healthcheck probe outputs and last error lines, with a verdict and a next step."
            }
            Self::ComposeStats => {
                "CPU %, memory used and limit, network and block I/O of the stack's running containers (one sample each), and whether the kernel accounts memory per container at all."
            }
            Self::ComposeRestart => {
                "Restart a single service and confirm it is still running, with a new start time, after a stability window."
            }
            Self::ComposeStart => {
                "Start the stopped containers of a single service and confirm they stay running (a one-shot job that exits 0 is reported finished)."
            }
            Self::ComposeStop => "Stop the containers of a single service.",
            Self::ComposeUpdates => {
                "Say, per service, whether the registry holds a newer image than this machine has (by digest, asked through the Engine; nothing is pulled). Answers are reused for hours."
            }
            Self::ComposeUpdate => {
                "Update one service: pull its image and, only when its containers run another one, recreate that service alone (up -d --no-deps), then confirm it runs the new image and stays running; says old and new image."
            }
            Self::ComposePull => {
                "Pull the images of the stack (or one service) and report which changed."
            }
            Self::ComposeUp => {
                "Create or recreate the containers of the stack (or one service) with the compose CLI."
            }
            Self::SwarmServices => {
                "List the services of the Swarm stack: image, mode, desired and running replicas, the last update's state."
            }
            Self::SwarmTasks => {
                "List one Swarm service's tasks, newest first (bounded): node, desired and current state, error, exit code, times."
            }
            Self::SwarmLogs => {
                "Tail bounded, ANSI-free lines of logs for one Swarm service (all its tasks)."
            }
            Self::SwarmNodes => {
                "List the Swarm's nodes: hostname, role, availability, state, manager status."
            }
            Self::SwarmDiagnose => {
                "Say why one Swarm service is not well: desired against running replicas, the recent task errors in words (rejected, no such image, insufficient resources, exit codes), counts of failed tasks, a verdict and a next step."
            }
            Self::SwarmRestart => {
                "Restart one Swarm service with a forced rolling update and confirm its tasks were replaced by new running ones."
            }
            Self::SwarmScale => {
                "Set a replicated Swarm service's replica count (within docker-mcp's bound and the policy's) and confirm that many run."
            }
        }
    }

    pub fn hints(self) -> Hints {
        let (read_only, destructive, idempotent, open_world) = match self {
            Self::DockerPs
            | Self::ComposePs
            | Self::ComposeLogs
            | Self::ComposeDiagnose
            | Self::ComposeStats
            | Self::SwarmServices
            | Self::SwarmTasks
            | Self::SwarmLogs
            | Self::SwarmNodes
            | Self::SwarmDiagnose => (true, false, true, false),
            // Every call replaces the tasks again.
            Self::SwarmRestart => (false, false, false, false),
            // Scaling down stops tasks; the same count twice changes nothing.
            Self::SwarmScale => (false, true, true, false),
            // Reads; asks a registry (the open world) through the Engine.
            Self::ComposeUpdates => (true, false, true, true),
            // Recreating discards the container's writable layer; a second
            // call finds it on the newest image and does nothing.
            Self::ComposeUpdate => (false, true, true, true),
            Self::ComposeRestart => (false, false, false, false),
            Self::ComposeStart => (false, false, true, false),
            Self::ComposeStop => (false, true, true, false),
            // Reaches a registry; replacing a tag is not destructive to what runs.
            Self::ComposePull => (false, false, true, true),
            // Recreating a container discards its writable layer.
            Self::ComposeUp => (false, true, true, true),
        };
        Hints {
            read_only,
            destructive,
            idempotent,
            open_world,
        }
    }

    pub fn is_mutating(self) -> bool {
        !self.hints().read_only
    }

    /// Whether `service` is required, optional or absent.
    fn service_argument(self) -> Option<bool> {
        match self {
            Self::DockerPs | Self::ComposePs | Self::ComposeStats => None,
            Self::ComposeLogs
            | Self::ComposeDiagnose
            | Self::ComposeRestart
            | Self::ComposeStart
            | Self::ComposeStop
            | Self::ComposeUpdate => Some(true),
            Self::ComposePull | Self::ComposeUp | Self::ComposeUpdates => Some(false),
            Self::SwarmServices | Self::SwarmNodes => None,
            Self::SwarmTasks
            | Self::SwarmLogs
            | Self::SwarmDiagnose
            | Self::SwarmRestart
            | Self::SwarmScale => Some(true),
        }
    }

    /// Whether the tool works on a Swarm stack (`stack`, not `file`).
    pub fn is_swarm(self) -> bool {
        matches!(
            self,
            Self::SwarmServices
                | Self::SwarmTasks
                | Self::SwarmLogs
                | Self::SwarmNodes
                | Self::SwarmDiagnose
                | Self::SwarmRestart
                | Self::SwarmScale
        )
    }

    /// A Swarm tool's input schema: `stack` pinned to the configured stack.
    fn swarm_input_schema(self, stack: Option<&str>) -> Value {
        if self == Self::SwarmNodes {
            return json!({ "type": "object", "additionalProperties": false });
        }
        let mut stack_schema = json!({
            "type": "string",
            "pattern": SERVICE_PATTERN,
            "description": "The Swarm stack (its services' com.docker.stack.namespace label)."
        });
        if let Some(stack) = stack {
            stack_schema["const"] = json!(stack);
        }
        let mut properties = Map::new();
        properties.insert("stack".into(), stack_schema);
        let mut required = vec![json!("stack")];
        if self.service_argument().is_some() {
            properties.insert(
                "service".into(),
                json!({
                    "type": "string",
                    "pattern": SERVICE_PATTERN,
                    "description": "A service of the stack: its name in the stack (sonarr) or its full name (media_sonarr)."
                }),
            );
            required.push(json!("service"));
        }
        if self == Self::SwarmLogs {
            properties.insert(
                "tail".into(),
                json!({
                    "type": "integer",
                    "minimum": TAIL_MIN,
                    "maximum": TAIL_MAX,
                    "default": TAIL_DEFAULT,
                    "description": "How many of the last lines of each task to return."
                }),
            );
        }
        if self == Self::SwarmScale {
            properties.insert(
                "replicas".into(),
                json!({
                    "type": "integer",
                    "minimum": 0,
                    "maximum": SWARM_MAX_REPLICAS,
                    "description": "How many tasks the service should run."
                }),
            );
            required.push(json!("replicas"));
        }
        json!({
            "type": "object",
            "properties": properties,
            "required": required,
            "additionalProperties": false
        })
    }

    /// The input schema, equal in meaning to the guide's `policy.yaml` one, with
    /// `file` pinned to the locked compose file (and a Swarm tool's `stack` to
    /// the configured stack).
    pub fn input_schema(self, locked_file: Option<&Path>, stack: Option<&str>) -> Value {
        if self.is_swarm() {
            return self.swarm_input_schema(stack);
        }
        if self == Self::DockerPs {
            return json!({ "type": "object", "additionalProperties": false });
        }
        let mut file = json!({ "type": "string", "description": "The locked compose file." });
        if let Some(path) = locked_file {
            file["const"] = json!(path.to_string_lossy());
        }
        let mut properties = Map::new();
        properties.insert("file".into(), file);
        let mut required = vec![json!("file")];
        if let Some(is_required) = self.service_argument() {
            properties.insert(
                "service".into(),
                json!({
                    "type": "string",
                    "pattern": SERVICE_PATTERN,
                    "description": "A service declared in the compose file."
                }),
            );
            if is_required {
                required.push(json!("service"));
            }
        }
        if self == Self::ComposeUpdates {
            properties.insert(
                "refresh".into(),
                json!({
                    "type": "boolean",
                    "default": false,
                    "description": "Ask the registries again rather than reuse their answers (at most every 10 s per image)."
                }),
            );
        }
        if self == Self::ComposeLogs {
            properties.insert(
                "tail".into(),
                json!({
                    "type": "integer",
                    "minimum": TAIL_MIN,
                    "maximum": TAIL_MAX,
                    "default": TAIL_DEFAULT,
                    "description": "How many of the last lines to return."
                }),
            );
        }
        json!({
            "type": "object",
            "properties": properties,
            "required": required,
            "additionalProperties": false
        })
    }

    pub fn output_schema(self) -> Value {
        let container = json!({
            "type": "object",
            "properties": {
                "id": { "type": "string" },
                "name": { "type": "string" },
                "image": { "type": "string" },
                "state": { "type": "string" },
                "status": { "type": "string" },
                "health": { "type": "string" },
                "exit_code": { "type": "integer" },
                "exit_meaning": { "type": "string" },
                "recent_deaths": { "type": "integer", "minimum": 0 },
                "crash_loop": { "type": "boolean" }
            },
            "required": ["id", "name", "image", "state", "status", "recent_deaths", "crash_loop"]
        });
        let verdicts: Vec<&str> = ops_core::contract::diagnosis::Verdict::ALL
            .iter()
            .map(|v| v.as_str())
            .collect();
        let verdict = json!({ "enum": verdicts });
        match self {
            Self::DockerPs => json!({
                "type": "object",
                "properties": {
                    "containers": { "type": "array", "items": container },
                    "count": { "type": "integer" },
                    "truncated": { "type": "boolean" }
                },
                "required": ["containers", "count", "truncated"]
            }),
            Self::ComposePs => json!({
                "type": "object",
                "properties": {
                    "project": { "type": "string" },
                    "file": { "type": "string" },
                    "services": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "service": { "type": "string" },
                                "declared": { "type": "boolean" },
                                "state": { "type": "string" },
                                "health": { "type": "string" },
                                "verdict": verdict,
                                "problem": { "type": "boolean" },
                                "containers": { "type": "array", "items": container }
                            },
                            "required": ["service", "declared", "state", "verdict", "problem", "containers"]
                        }
                    }
                },
                "required": ["project", "file", "services"]
            }),
            Self::ComposeLogs => json!({
                "type": "object",
                "properties": {
                    "service": { "type": "string" },
                    "tail": { "type": "integer" },
                    "containers": { "type": "array", "items": { "type": "string" } },
                    "logs": { "type": "string" },
                    "truncated": { "type": "boolean" }
                },
                "required": ["service", "tail", "containers", "logs", "truncated"]
            }),
            Self::ComposeDiagnose => diagnosis_schema(verdict),
            Self::ComposeStats => stats_schema(),
            Self::ComposeUpdates => updates_schema(),
            Self::ComposeUpdate => json!({
                "type": "object",
                "properties": {
                    "service": { "type": "string" },
                    "image": { "type": "string" },
                    "outcome": { "enum": ["updated", "unchanged"] },
                    "previous_image_id": { "type": "string" },
                    "current_image_id": { "type": "string" },
                    "previous_digest": { "type": "string" },
                    "current_digest": { "type": "string" },
                    "containers": { "type": "array", "items": { "type": "string" } }
                },
                "required": ["service", "image", "outcome", "previous_image_id", "current_image_id", "containers"]
            }),
            Self::ComposeRestart | Self::ComposeStart | Self::ComposeStop => json!({
                "type": "object",
                "properties": {
                    "service": { "type": "string" },
                    "action": { "type": "string" },
                    "containers": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "name": { "type": "string" },
                                "id": { "type": "string" },
                                "outcome": { "type": "string" },
                                "state": { "type": "string" },
                                "started_at": { "type": "string" },
                                "previous_started_at": { "type": "string" }
                            },
                            "required": ["name", "id", "outcome", "state"]
                        }
                    }
                },
                "required": ["service", "action", "containers"]
            }),
            Self::ComposePull => json!({
                "type": "object",
                "properties": {
                    "services": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "service": { "type": "string" },
                                "image": { "type": "string" },
                                "outcome": { "enum": ["updated", "unchanged", "skipped"] },
                                "previous_id": { "type": "string" },
                                "current_id": { "type": "string" },
                                "reason": { "type": "string" }
                            },
                            "required": ["service", "outcome"]
                        }
                    }
                },
                "required": ["services"]
            }),
            Self::ComposeUp => json!({
                "type": "object",
                "properties": {
                    "command": { "type": "array", "items": { "type": "string" } },
                    "exit_code": { "type": "integer" },
                    "services": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "service": { "type": "string" },
                                "outcome": { "enum": ["created", "recreated", "started", "unchanged", "removed", "not running"] }
                            },
                            "required": ["service", "outcome"]
                        }
                    },
                    "output": { "type": "string" },
                    "truncated": { "type": "boolean" }
                },
                "required": ["command", "exit_code", "services", "output", "truncated"]
            }),
            Self::SwarmServices
            | Self::SwarmTasks
            | Self::SwarmLogs
            | Self::SwarmNodes
            | Self::SwarmDiagnose
            | Self::SwarmRestart
            | Self::SwarmScale => swarm_output_schema(self),
        }
    }
}

/// The swarm_* tools' results (`tools/swarm.rs`), as JSON Schema.
fn swarm_output_schema(tool: ToolName) -> Value {
    let string = json!({ "type": "string" });
    let count = json!({ "type": "integer", "minimum": 0 });
    let service = json!({
        "type": "object",
        "properties": {
            "id": string, "name": string, "image": string,
            "mode": { "enum": ["replicated", "global", "replicated-job", "global-job"] },
            "desired_replicas": count, "running_replicas": count,
            "update_state": string, "update_message": string
        },
        "required": ["id", "name", "image", "mode", "desired_replicas", "running_replicas"]
    });
    let task = json!({
        "type": "object",
        "properties": {
            "id": string, "slot": { "type": "integer" }, "node_id": string, "node": string,
            "desired_state": string, "state": string, "message": string, "error": string,
            "exit_code": { "type": "integer" }, "created_at": string, "updated_at": string
        },
        "required": ["id", "node_id", "node", "desired_state", "state", "message", "created_at", "updated_at"]
    });
    let tasks = json!({ "type": "array", "items": task });
    let ids = json!({ "type": "array", "items": string });
    match tool {
        ToolName::SwarmServices => json!({
            "type": "object",
            "properties": { "stack": string, "services": { "type": "array", "items": service } },
            "required": ["stack", "services"]
        }),
        ToolName::SwarmTasks => json!({
            "type": "object",
            "properties": {
                "stack": string, "service": string, "tasks": tasks,
                "count": count, "truncated": { "type": "boolean" }
            },
            "required": ["stack", "service", "tasks", "count", "truncated"]
        }),
        ToolName::SwarmLogs => json!({
            "type": "object",
            "properties": {
                "stack": string, "service": string, "tail": count,
                "logs": string, "truncated": { "type": "boolean" }
            },
            "required": ["stack", "service", "tail", "logs", "truncated"]
        }),
        ToolName::SwarmNodes => json!({
            "type": "object",
            "properties": {
                "nodes": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "id": string, "hostname": string, "role": string,
                            "availability": string, "state": string, "address": string,
                            "manager_status": string, "engine_version": string
                        },
                        "required": ["id", "hostname", "role", "availability", "state"]
                    }
                }
            },
            "required": ["nodes"]
        }),
        ToolName::SwarmDiagnose => json!({
            "type": "object",
            "properties": {
                "stack": string, "service": string,
                "verdict": { "enum": crate::tools::SwarmVerdict::NAMES },
                "summary": string, "next_step": string,
                "desired_replicas": count, "running_replicas": count,
                "update_state": string,
                "recent": {
                    "type": "object",
                    "properties": {
                        "tasks": count, "running": count, "failed": count,
                        "rejected": count, "pending": count
                    },
                    "required": ["tasks", "running", "failed", "rejected", "pending"]
                },
                "errors": { "type": "array", "items": string },
                "tasks": tasks
            },
            "required": ["stack", "service", "verdict", "summary", "next_step", "desired_replicas", "running_replicas", "recent", "errors", "tasks"]
        }),
        ToolName::SwarmRestart => json!({
            "type": "object",
            "properties": {
                "stack": string, "service": string,
                "outcome": { "enum": ["replaced"] },
                "previous_tasks": ids, "current_tasks": ids, "running_replicas": count
            },
            "required": ["stack", "service", "outcome", "previous_tasks", "current_tasks", "running_replicas"]
        }),
        ToolName::SwarmScale => json!({
            "type": "object",
            "properties": {
                "stack": string, "service": string,
                "outcome": { "enum": ["scaled", "unchanged"] },
                "previous_replicas": count, "replicas": count, "running_replicas": count
            },
            "required": ["stack", "service", "outcome", "previous_replicas", "replicas", "running_replicas"]
        }),
        _ => unreachable!("only the swarm tools"),
    }
}

/// `ops_core::contract::updates::StackUpdates`, as JSON Schema.
fn updates_schema() -> Value {
    let string = json!({ "type": "string" });
    json!({
        "type": "object",
        "properties": {
            "project": string,
            "services": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "service": string,
                        "image": string,
                        "status": { "enum": ["update_available", "up_to_date", "cannot_check"] },
                        "local_digest": string,
                        "remote_digest": string,
                        "reason": string,
                        "checked_at_ms": { "type": "integer", "minimum": 0 }
                    },
                    "required": ["service", "status"]
                }
            }
        },
        "required": ["project", "services"]
    })
}

/// `ops_core::contract::stats::StackStats`, as JSON Schema.
fn stats_schema() -> Value {
    let string = json!({ "type": "string" });
    let bytes = json!({ "type": "integer", "minimum": 0 });
    let percent = json!({ "type": "number", "minimum": 0 });
    json!({
        "type": "object",
        "properties": {
            "project": string,
            "containers": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "service": string,
                        "name": string,
                        "cpu_percent": percent,
                        "memory_used": bytes,
                        "memory_limit": bytes,
                        "memory_percent": percent,
                        "net_rx_bytes": bytes,
                        "net_tx_bytes": bytes,
                        "block_read_bytes": bytes,
                        "block_write_bytes": bytes
                    },
                    "required": ["service", "name", "net_rx_bytes", "net_tx_bytes", "block_read_bytes", "block_write_bytes"]
                }
            },
            "memory_accounting_missing": { "type": "boolean" },
            "memory_hint": string,
            "unavailable": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": { "service": string, "name": string, "reason": string },
                    "required": ["service", "name", "reason"]
                }
            }
        },
        "required": ["project", "containers", "memory_accounting_missing"]
    })
}

/// `ops_core::contract::diagnosis::Diagnosis`, as JSON Schema.
fn diagnosis_schema(verdict: Value) -> Value {
    let string = json!({ "type": "string" });
    let count = json!({ "type": "integer", "minimum": 0 });
    let recent = json!({
        "type": "object",
        "properties": {
            "window_seconds": count,
            "starts": count,
            "deaths": count,
            "oom_kills": count,
            "crash_loop": { "type": "boolean" },
            "events": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "at": { "type": "integer" },
                        "kind": string,
                        "exit_code": { "type": "integer" }
                    },
                    "required": ["at", "kind"]
                }
            },
            "complete": { "type": "boolean" }
        },
        "required": ["window_seconds", "starts", "deaths", "oom_kills", "crash_loop", "events", "complete"]
    });
    let health = json!({
        "type": "object",
        "properties": {
            "status": string,
            "failing_streak": count,
            "test": { "type": "array", "items": string },
            "probes": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "at": string,
                        "exit_code": { "type": "integer" },
                        "output": string
                    },
                    "required": ["at", "exit_code", "output"]
                }
            }
        },
        "required": ["status", "failing_streak", "test", "probes"]
    });
    json!({
        "type": "object",
        "properties": {
            "service": string,
            "verdict": verdict,
            "summary": string,
            "next_step": string,
            "containers": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "name": string,
                        "id": string,
                        "state": string,
                        "verdict": verdict,
                        "exit_code": { "type": "integer" },
                        "exit_meaning": string,
                        "oom_killed": { "type": "boolean" },
                        "restart_count": count,
                        "restart_policy": string,
                        "started_at": string,
                        "finished_at": string,
                        "engine_error": string,
                        "recent": recent,
                        "health": health,
                        "error_lines": { "type": "array", "items": string }
                    },
                    "required": ["name", "id", "state", "verdict", "oom_killed", "restart_count", "restart_policy", "recent", "error_lines"]
                }
            }
        },
        "required": ["service", "verdict", "summary", "next_step", "containers"]
    })
}

impl std::fmt::Display for ToolName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One compiled input validator per tool, built once at start-up.
pub struct Catalog {
    locked_file: Option<std::path::PathBuf>,
    swarm_stack: Option<String>,
    validators: Vec<(ToolName, jsonschema::Validator)>,
}

impl Catalog {
    pub fn new(locked_file: Option<&Path>, swarm_stack: Option<&str>) -> Self {
        let validators = ToolName::ALL
            .into_iter()
            .map(|tool| {
                let validator =
                    jsonschema::validator_for(&tool.input_schema(locked_file, swarm_stack))
                        .expect("the built-in schemas are valid JSON Schema");
                (tool, validator)
            })
            .collect();
        Self {
            locked_file: locked_file.map(Path::to_path_buf),
            swarm_stack: swarm_stack.map(str::to_owned),
            validators,
        }
    }

    pub fn locked_file(&self) -> Option<&Path> {
        self.locked_file.as_deref()
    }

    /// The Swarm stack the swarm_* tools are pinned to.
    pub fn swarm_stack(&self) -> Option<&str> {
        self.swarm_stack.as_deref()
    }

    /// A tool's input schema, pinned as this catalog is.
    pub fn input_schema(&self, tool: ToolName) -> Value {
        tool.input_schema(self.locked_file(), self.swarm_stack())
    }

    /// Checks arguments against the tool's schema; the message names every problem.
    pub fn validate(&self, tool: ToolName, args: &Value) -> Result<(), String> {
        let (_, validator) = self
            .validators
            .iter()
            .find(|(t, _)| *t == tool)
            .expect("every tool has a validator");
        ops_core::schema::check(validator, args)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "/opt/stack/docker-compose.yml";

    fn catalog() -> Catalog {
        Catalog::new(Some(Path::new(FILE)), Some("media"))
    }

    #[test]
    fn names_round_trip() {
        for tool in ToolName::ALL {
            assert_eq!(ToolName::parse(tool.as_str()), Some(tool));
        }
        assert_eq!(ToolName::parse("docker_exec"), None);
    }

    #[test]
    fn annotations_are_truthful() {
        let reads = [
            ToolName::DockerPs,
            ToolName::ComposePs,
            ToolName::ComposeLogs,
            ToolName::ComposeDiagnose,
            ToolName::ComposeStats,
            ToolName::ComposeUpdates,
            ToolName::SwarmServices,
            ToolName::SwarmTasks,
            ToolName::SwarmLogs,
            ToolName::SwarmNodes,
            ToolName::SwarmDiagnose,
        ];
        for tool in ToolName::ALL {
            assert_eq!(tool.hints().read_only, reads.contains(&tool), "{tool}");
        }
        assert!(ToolName::ComposeStop.hints().destructive);
        assert!(ToolName::ComposeUp.hints().destructive);
        assert!(!ToolName::ComposeRestart.hints().idempotent);
        assert!(ToolName::ComposeStart.hints().idempotent);
        // It asks a registry: the open world, read-only all the same.
        assert!(ToolName::ComposeUpdates.hints().open_world);
        assert!(ToolName::ComposeUpdate.hints().destructive);
        assert!(ToolName::SwarmRestart.is_mutating());
        assert!(ToolName::SwarmScale.is_mutating());
        assert!(ToolName::SwarmScale.hints().destructive);
    }

    #[test]
    fn swarm_schemas_pin_the_stack_and_bound_the_replicas() {
        let c = catalog();
        for (tool, args) in [
            (ToolName::SwarmServices, json!({"stack": "media"})),
            (ToolName::SwarmNodes, json!({})),
            (
                ToolName::SwarmTasks,
                json!({"stack": "media", "service": "sonarr"}),
            ),
            (
                ToolName::SwarmLogs,
                json!({"stack": "media", "service": "media_sonarr", "tail": 50}),
            ),
            (
                ToolName::SwarmDiagnose,
                json!({"stack": "media", "service": "sonarr"}),
            ),
            (
                ToolName::SwarmRestart,
                json!({"stack": "media", "service": "sonarr"}),
            ),
            (
                ToolName::SwarmScale,
                json!({"stack": "media", "service": "sonarr", "replicas": 0}),
            ),
            (
                ToolName::SwarmScale,
                json!({"stack": "media", "service": "sonarr", "replicas": SWARM_MAX_REPLICAS}),
            ),
        ] {
            c.validate(tool, &args)
                .unwrap_or_else(|e| panic!("{tool} {args}: {e}"));
        }
        for (tool, args) in [
            (ToolName::SwarmServices, json!({})),
            (ToolName::SwarmServices, json!({"stack": "other"})),
            (
                ToolName::SwarmServices,
                json!({"stack": "media", "file": FILE}),
            ),
            (ToolName::SwarmNodes, json!({"stack": "media"})),
            (ToolName::SwarmTasks, json!({"stack": "media"})),
            (
                ToolName::SwarmTasks,
                json!({"stack": "media", "service": "a b"}),
            ),
            (
                ToolName::SwarmLogs,
                json!({"stack": "media", "service": "sonarr", "tail": 501}),
            ),
            (
                ToolName::SwarmScale,
                json!({"stack": "media", "service": "sonarr", "replicas": SWARM_MAX_REPLICAS + 1}),
            ),
            (
                ToolName::SwarmScale,
                json!({"stack": "media", "service": "sonarr", "replicas": -1}),
            ),
            (
                ToolName::SwarmScale,
                json!({"stack": "media", "service": "sonarr", "replicas": 1.5}),
            ),
            (
                ToolName::SwarmScale,
                json!({"stack": "media", "service": "sonarr"}),
            ),
            (
                ToolName::SwarmRestart,
                json!({"stack": "media", "service": "sonarr", "force": true}),
            ),
        ] {
            assert!(c.validate(tool, &args).is_err(), "{tool} {args}");
        }
        // Unpinned (no stack configured), a stack is still a name, never a path.
        let unpinned = Catalog::new(None, None);
        unpinned
            .validate(ToolName::SwarmServices, &json!({"stack": "other"}))
            .unwrap();
        assert!(
            unpinned
                .validate(ToolName::SwarmServices, &json!({"stack": "../x"}))
                .is_err()
        );
    }

    #[test]
    fn accepts_the_guides_smoke_test_arguments() {
        let c = catalog();
        c.validate(ToolName::ComposePs, &json!({"file": FILE}))
            .unwrap();
        c.validate(
            ToolName::ComposeLogs,
            &json!({"file": FILE, "service": "sabnzbd", "tail": 150}),
        )
        .unwrap();
        c.validate(
            ToolName::ComposeRestart,
            &json!({"file": FILE, "service": "sonarr"}),
        )
        .unwrap();
        c.validate(ToolName::DockerPs, &json!({})).unwrap();
        c.validate(ToolName::ComposePull, &json!({"file": FILE}))
            .unwrap();
    }

    #[test]
    fn refuses_what_the_guides_schemas_refuse() {
        let c = catalog();
        for (tool, args) in [
            (ToolName::DockerPs, json!({"all": true})),
            (ToolName::ComposePs, json!({})),
            (ToolName::ComposePs, json!({"file": "/etc/passwd"})),
            (
                ToolName::ComposeLogs,
                json!({"file": FILE, "service": "sonarr", "tail": 49}),
            ),
            (
                ToolName::ComposeLogs,
                json!({"file": FILE, "service": "sonarr", "tail": 501}),
            ),
            (
                ToolName::ComposeLogs,
                json!({"file": FILE, "service": "sonarr", "tail": "100"}),
            ),
            (
                ToolName::ComposeRestart,
                json!({"file": FILE, "service": "sonarr; rm -rf /"}),
            ),
            (
                ToolName::ComposeRestart,
                json!({"file": FILE, "service": "../etc"}),
            ),
            (
                ToolName::ComposeRestart,
                json!({"file": FILE, "service": "sоnarr"}),
            ),
            (
                ToolName::ComposeRestart,
                json!({"file": FILE, "service": "a".repeat(33)}),
            ),
            (ToolName::ComposeRestart, json!({"file": FILE})),
            (
                ToolName::ComposeStop,
                json!({"file": FILE, "service": "sonarr", "force": true}),
            ),
            (ToolName::ComposeUp, json!([FILE])),
        ] {
            let err = c
                .validate(tool, &args)
                .expect_err(&format!("{tool} {args}"));
            assert!(!err.is_empty());
        }
    }

    #[test]
    fn the_diagnosis_schema_describes_the_contract_type() {
        use ops_core::contract::diagnosis::*;
        let diagnosis = Diagnosis {
            service: "bazarr".into(),
            verdict: Verdict::CrashLoop,
            summary: "s".into(),
            next_step: "n".into(),
            containers: vec![ContainerDiagnosis {
                name: "n".into(),
                id: "i".into(),
                state: "running".into(),
                verdict: Verdict::CrashLoop,
                exit_code: Some(1),
                exit_meaning: Some(exit_code_meaning(1)),
                oom_killed: false,
                restart_count: 3,
                restart_policy: "always".into(),
                started_at: Some("t".into()),
                finished_at: None,
                engine_error: None,
                recent: RecentActivity {
                    window_seconds: 600,
                    deaths: 3,
                    events: vec![RecentEvent {
                        at: 1,
                        kind: "die".into(),
                        exit_code: Some(1),
                    }],
                    ..RecentActivity::default()
                },
                health: Some(HealthEvidence {
                    status: "unhealthy".into(),
                    failing_streak: 2,
                    test: vec!["CMD".into()],
                    probes: vec![Probe {
                        at: "t".into(),
                        exit_code: 1,
                        output: "o".into(),
                    }],
                }),
                error_lines: vec!["e".into()],
            }],
        };
        let schema = ToolName::ComposeDiagnose.output_schema();
        let validator = jsonschema::validator_for(&schema).unwrap();
        let wire = serde_json::to_value(&diagnosis).unwrap();
        ops_core::schema::check(&validator, &wire).unwrap();
        let mut wrong = wire.clone();
        wrong["verdict"] = json!("fine");
        assert!(ops_core::schema::check(&validator, &wrong).is_err());
        catalog()
            .validate(
                ToolName::ComposeDiagnose,
                &json!({"file": FILE, "service": "bazarr"}),
            )
            .unwrap();
        for bad in [
            json!({"file": FILE, "service": "bazarr", "tail": 100}),
            json!({"file": FILE, "service": "x; rm -rf /"}),
            json!({"file": FILE}),
        ] {
            assert!(catalog().validate(ToolName::ComposeDiagnose, &bad).is_err());
        }
    }

    #[test]
    fn the_stats_schema_describes_the_contract_type() {
        use ops_core::contract::stats::*;
        let stats = StackStats {
            project: "arr".into(),
            containers: vec![ContainerStats {
                service: "sonarr".into(),
                name: "arr-sonarr-1".into(),
                cpu_percent: Some(12.5),
                memory_used: Some(80 << 20),
                memory_limit: Some(256 << 20),
                memory_percent: Some(31.25),
                net_rx_bytes: 1,
                net_tx_bytes: 2,
                block_read_bytes: 3,
                block_write_bytes: 4,
            }],
            memory_accounting_missing: true,
            memory_hint: Some(MEMORY_ACCOUNTING_HINT.into()),
            unavailable: vec![Unavailable {
                service: "radarr".into(),
                name: "arr-radarr-1".into(),
                reason: "slow".into(),
            }],
        };
        let validator = jsonschema::validator_for(&ToolName::ComposeStats.output_schema()).unwrap();
        let wire = serde_json::to_value(&stats).unwrap();
        ops_core::schema::check(&validator, &wire).unwrap();
        let mut wrong = wire.clone();
        wrong["containers"][0]["cpu_percent"] = json!("12 %");
        assert!(ops_core::schema::check(&validator, &wrong).is_err());
        // The same arguments as compose_ps: the locked file, nothing else.
        let c = catalog();
        c.validate(ToolName::ComposeStats, &json!({"file": FILE}))
            .unwrap();
        for bad in [
            json!({}),
            json!({"file": "/etc/passwd"}),
            json!({"file": FILE, "service": "sonarr"}),
            json!({"file": FILE, "stream": true}),
        ] {
            assert!(c.validate(ToolName::ComposeStats, &bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn error_messages_name_the_problem() {
        let err = catalog()
            .validate(
                ToolName::ComposeLogs,
                &json!({"file": FILE, "service": "x", "tail": 9}),
            )
            .unwrap_err();
        assert!(err.contains("/tail"), "{err}");
        let err = catalog()
            .validate(ToolName::ComposePs, &json!({"file": "/tmp/other.yml"}))
            .unwrap_err();
        assert!(err.contains(FILE), "{err}");
    }
}
