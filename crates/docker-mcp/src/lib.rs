//! docker-mcp: the execution plane of Ops-Copilot, and the only component that
//! talks to the Docker Engine. Eight compose-scoped tools over MCP (Streamable
//! HTTP and stdio) and the guide's REST form.

pub mod catalog;
pub mod compose;
pub mod engine;
pub mod error;
pub mod server;
pub mod text;
pub mod tools;

pub use catalog::ToolName;
pub use error::ToolError;
pub use tools::{DockerTools, Limits, ToolsConfig};
