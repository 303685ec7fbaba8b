//! pi-health's Ops-Copilot: the built-in planner, the optional language model,
//! the summaries they answer with, the way to the ai-gateway, the chat agent,
//! host statistics and the web app.
//!
//! The public API is the facade the `ops-copilot` binary needs to wire the
//! plane (`ops-copilot pi-health` and `ops-copilot all`); everything else is
//! `pub(crate)`, and the lints below keep it that way.
//!
//! - [`GatewaySettings`] (`from_env`, or `from_lookup` for `all`, which points
//!   it at its own gateway): how the app reaches the ai-gateway; the binary
//!   logs its `base_url`, `compose_file` and whether there is a `token`.
//! - [`ModelSettings`] (`from_env`) and [`Model`]: the optional language model;
//!   the binary logs the settings (`model`, `endpoint`, `timeout`,
//!   `plain_http_key_warning`) before making the model.
//! - [`HostProbe`] and [`Agent`] (`new`, `with_model`): the chat agent, on the
//!   host's statistics and the gateway.
//! - [`Users`] (`in_data_dir`, `ensure_initial`, `add`, `path`): the users
//!   file; the binary makes the first user and runs `pi-health user add`.
//! - [`WebConfig`], [`AppState`] (`new`) and [`serve`]: the web app, served on
//!   the binary's listener until shutdown.
#![warn(unreachable_pub, missing_docs)]

mod agent;
mod chat_history;
mod escape;
mod gateway_client;
mod host;
mod hosts;
mod html;
mod ids;
mod llm;
mod pending;
mod planner;
mod private_file;
mod resources;
mod suggestion;
mod summary;
mod users;
mod verdicts;
mod web;

pub use agent::Agent;
pub use gateway_client::GatewaySettings;
pub use host::HostProbe;
pub use llm::{Model, ModelSettings};
pub use users::Users;
pub use web::{AppState, TrustedProxies, WebConfig, serve};
