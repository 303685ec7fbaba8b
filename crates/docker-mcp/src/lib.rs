//! docker-mcp: the execution plane of Ops-Copilot, and the only component that
//! talks to the Docker Engine. Twelve compose-scoped tools and seven for one
//! Swarm stack, over MCP (Streamable HTTP and stdio) and the guide's REST form.

pub mod catalog;
pub mod compose;
pub mod engine;
pub mod error;
pub mod server;
pub mod text;
pub mod tools;
pub mod verdict;

pub use catalog::{DEFAULT_SWARM_STACK, SWARM_MAX_REPLICAS, ToolName};
pub use error::ToolError;
pub use tools::{
    DEFAULT_STABILITY_WINDOW, DEFAULT_STATS_ROUND, DEFAULT_SWARM_VERIFY_WINDOW,
    DEFAULT_UPDATE_CHECK_TTL, DockerTools, Limits, MAX_STABILITY_WINDOW, MAX_STREAMS, MAX_WATCHERS,
    ToolsConfig, UPDATES_ROUND,
};
