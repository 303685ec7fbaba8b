//! `ops-copilot pi-health` end to end: the real binary, signed in like a browser,
//! in front of the real `ops-copilot gateway` and `ops-copilot docker-mcp` and a
//! throw-away fake ARR stack on the real Docker Engine (the gateway suite's
//! fixture); offline mode and a gateway that goes away; sign-in and CSRF; a
//! language model (a scripted stand-in endpoint) whose proposals become suggestions.
//! Containers really restart (checked with `docker inspect`). `browser` drives a real
//! headless Chromium through chromedriver and saves screenshots under the target directory.

mod auth;
mod browser;
mod chat;
mod continuity;
mod degraded;
#[allow(dead_code)]
#[path = "../gateway/support.rs"]
mod gateway_support;
mod hosts;
mod live_logs;
mod model;
mod pages;
mod redaction_channels;
mod resources;
mod roles;
mod rows;
mod support;
mod understanding;
mod updates;
mod webdriver;
