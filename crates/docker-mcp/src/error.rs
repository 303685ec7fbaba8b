//! Tool failures, with messages a person can act on and a status for REST.

use crate::engine::EngineError;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ToolError {
    #[error(
        "unknown tool {0:?}; the tools are docker_ps, compose_ps, compose_logs, compose_diagnose, compose_stats, compose_restart, compose_start, compose_stop, compose_updates, compose_update, compose_pull, compose_up, swarm_services, swarm_tasks, swarm_logs, swarm_nodes, swarm_diagnose, swarm_restart, swarm_scale"
    )]
    UnknownTool(String),
    #[error("bad arguments: {0}")]
    BadArguments(String),
    #[error("{0}")]
    NotConfigured(String),
    #[error("{0}")]
    Engine(#[from] EngineError),
    #[error("docker-mcp follows {0} logs at once already; close one (or wait) and try again")]
    TooManyStreams(usize),
    /// The operation ran but did not reach its goal.
    #[error("{0}")]
    Failed(String),
}

impl ToolError {
    /// The REST status for this error.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::UnknownTool(_) => 404,
            Self::BadArguments(_) => 400,
            Self::NotConfigured(_) => 409,
            Self::Engine(EngineError::Unavailable { .. }) => 503,
            Self::Engine(EngineError::Timeout(_)) => 504,
            Self::Engine(EngineError::Refused(_)) => 403,
            Self::Engine(EngineError::NotFound(_)) => 404,
            Self::Engine(EngineError::NotSwarm(_)) => 409,
            Self::Engine(EngineError::Failed(_)) | Self::Failed(_) => 502,
            Self::TooManyStreams(_) => 503,
        }
    }

    /// A stable code for machines, beside the message for people.
    pub fn code(&self) -> &'static str {
        match self {
            Self::UnknownTool(_) => "unknown_tool",
            Self::BadArguments(_) => "bad_arguments",
            Self::NotConfigured(_) => "not_configured",
            Self::Engine(EngineError::Unavailable { .. }) => "engine_unavailable",
            Self::Engine(EngineError::Timeout(_)) => "engine_timeout",
            Self::Engine(EngineError::Refused(_)) => "engine_endpoint_refused",
            Self::Engine(EngineError::NotFound(_)) => "not_found",
            Self::Engine(EngineError::NotSwarm(_)) => "not_swarm",
            Self::Engine(EngineError::Failed(_)) => "engine_failed",
            Self::Failed(_) => "failed",
            Self::TooManyStreams(_) => "too_many_streams",
        }
    }
}
