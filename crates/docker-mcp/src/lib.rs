//! docker-mcp: the execution plane of Ops-Copilot, and the only component that
//! talks to the Docker Engine. Ten compose-scoped tools over MCP (Streamable
//! HTTP and stdio) and the guide's REST form.

pub mod catalog;
pub mod compose;
pub mod engine;
pub mod error;
pub mod server;
pub mod text;
pub mod tools;
pub mod verdict;

pub use catalog::ToolName;
pub use error::ToolError;
pub use tools::{
    DEFAULT_STABILITY_WINDOW, DEFAULT_STATS_ROUND, DEFAULT_UPDATE_CHECK_TTL, DockerTools, Limits,
    MAX_STABILITY_WINDOW, MAX_STREAMS, MAX_WATCHERS, ToolsConfig, UPDATES_ROUND,
};
