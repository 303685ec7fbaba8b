//! The optional language model: any OpenAI-compatible chat-completions endpoint
//! (Ollama or llama.cpp on the Pi, or a cloud one), configured by environment
//! ([`settings`]).
//!
//! The model only proposes. Each tool call it makes is checked against the
//! copilot's tool catalog and the stack's compose services ([`catalog`]); reads
//! then run through the gateway like the planner's, an action becomes a
//! suggestion card that runs only on approval, anything else is dropped. What
//! the model is given from tools is redacted, capped and marked as untrusted
//! data ([`untrusted`]). Every exchange is bounded in time, size and rounds
//! ([`client`]); when the model fails, the built-in planner answers and the
//! model is left alone for a while ([`backoff`]). The conversation itself is
//! the agent's (`agent::model`).

mod backoff;
pub(crate) mod catalog;
mod client;
pub(crate) mod prompt;
mod settings;
pub(crate) mod untrusted;
pub(crate) mod wire;

use std::time::Duration;

pub(crate) use client::{ModelClient, ModelError};
pub use settings::ModelSettings;

use backoff::Backoff;
use untrusted::Guard;

/// A configured model and what surrounds it.
#[derive(Debug)]
pub struct Model {
    pub(crate) client: ModelClient,
    pub(crate) guard: Guard,
    pub(crate) backoff: Backoff,
    /// The time one chat message's conversation with the model may take.
    pub(crate) timeout: Duration,
}

impl Model {
    /// The model `settings` describe (its HTTP client built, nothing sent yet).
    pub fn new(settings: &ModelSettings) -> Result<Self, String> {
        Ok(Self {
            client: ModelClient::new(settings)?,
            guard: Guard::new(untrusted::DEFAULT_MAX_BYTES)?,
            backoff: Backoff::new(backoff::DEFAULT_PAUSE),
            timeout: settings.timeout,
        })
    }

    /// The model's name, as the chat reports it.
    pub(crate) fn name(&self) -> &str {
        self.client.model()
    }
}
