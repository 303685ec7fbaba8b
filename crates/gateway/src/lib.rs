//! ai-gateway: the policy plane. Every tool call is authenticated, checked
//! against the registry and the policy, approved by a human where needed,
//! executed on an MCP service, guarded on the way out, and audited.

pub mod alerts;
pub mod api;
pub mod audit_writer;
pub mod auth;
pub mod autoheal;
pub mod config;
pub mod decision;
pub mod head_shipper;
pub mod host_watch;
pub mod mcp_facade;
pub mod metrics;
pub mod notify;
pub mod pipeline;
pub mod service_watch;
pub mod state;
pub mod upstream;
mod watched;
