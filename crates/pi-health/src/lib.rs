//! pi-health's Ops-Copilot: the built-in planner, the optional language model,
//! the summaries they answer with, the way to the ai-gateway, the chat agent,
//! host statistics and the web app.

pub mod agent;
pub mod escape;
pub mod gateway_client;
pub mod host;
pub mod html;
pub mod ids;
pub mod llm;
pub mod pending;
pub mod planner;
pub mod suggestion;
pub mod summary;
pub mod users;
pub mod web;

pub use agent::Agent;
pub use gateway_client::GatewaySettings;
pub use host::HostProbe;
pub use llm::{Model, ModelSettings};
pub use users::Users;
pub use web::{AppState, WebConfig, serve};
