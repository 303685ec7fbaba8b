//! The chat with a language model. The model proposes tool calls and each is
//! checked against the catalog ([`crate::llm::catalog`]): reads run through the
//! gateway (or on the host) like the planner's and are shown in the answer as
//! the tools returned them, so the answer stays grounded whatever the model
//! writes; the model is given them redacted, capped and marked as untrusted
//! data. An action becomes the answer's suggestion card (one at most) and never
//! runs here. A dropped proposal is said so in the answer. Any failure of the
//! model is an error, and the built-in planner answers instead.

use std::collections::HashMap;
use std::time::Instant;

use serde_json::Value;

use super::{Agent, Answer, render};
use crate::llm::catalog::{self, Catalog, Proposal};
use crate::llm::wire::{self, ToolChoice};
use crate::llm::{Model, ModelError, prompt};

/// Requests to the model for one chat message: tool rounds, then the answer.
pub(super) const MAX_REQUESTS: usize = 3;
/// Tool calls run per turn of the model; more are answered "not run".
pub(super) const MAX_CALLS_PER_TURN: usize = 4;

/// Asks `model` about `message`, on top of what `base` already holds (the
/// services' warnings). `Err` when the model cannot be used for this message.
pub(super) async fn converse(
    agent: &Agent,
    model: &Model,
    message: &str,
    services: &[String],
    ps: Option<&Value>,
    base: &Answer,
) -> Result<Answer, ModelError> {
    if let Err(left) = model.backoff.ready() {
        return Err(ModelError::Paused(left));
    }
    let result = conversation(agent, model, message, services, ps, base).await;
    match &result {
        Ok(_) => model.backoff.succeeded(),
        Err(error) => {
            tracing::warn!(model = %model.name(), endpoint = %model.client.endpoint(), %error, "pi-health: the language model did not answer; the built-in planner answers");
            model.backoff.failed();
        }
    }
    result
}

async fn conversation(
    agent: &Agent,
    model: &Model,
    message: &str,
    services: &[String],
    ps: Option<&Value>,
    base: &Answer,
) -> Result<Answer, ModelError> {
    let deadline = Instant::now() + model.timeout;
    let catalog = Catalog::new(services);
    let tools = catalog.definitions();
    let mut answer = base.clone();
    let mut messages = vec![
        wire::system(&prompt::system(catalog.services())),
        wire::user(&model.guard.redact_text(message)),
    ];
    let mut done: HashMap<Proposal, String> = HashMap::new();
    let mut text = None;
    for round in 1..=MAX_REQUESTS {
        let last = round == MAX_REQUESTS;
        let choice = if last {
            ToolChoice::None
        } else {
            ToolChoice::Auto
        };
        let body = wire::request(model.name(), &messages, &tools, choice);
        let time_left = deadline.saturating_duration_since(Instant::now());
        let turn = model.client.complete(&body, time_left).await?;
        if turn.tool_calls.is_empty() || last {
            if !turn.tool_calls.is_empty() {
                answer.notes.push(format!(
                    "The model asked for more tools than one message allows ({} rounds); they were not run.",
                    MAX_REQUESTS - 1
                ));
            }
            text = turn.content;
            break;
        }
        messages.push(wire::assistant(&turn));
        for (index, call) in turn.tool_calls.iter().enumerate() {
            let reply = if index >= MAX_CALLS_PER_TURN {
                dropped(
                    &mut answer,
                    &format!(
                        "{}: more than {MAX_CALLS_PER_TURN} tool calls at once",
                        ops_core::bounded(&call.name, 64)
                    ),
                );
                format!("Not run: at most {MAX_CALLS_PER_TURN} tool calls per turn.")
            } else {
                match catalog.check(&call.name, &call.arguments) {
                    Ok(proposal) => run(agent, model, proposal, ps, &mut answer, &mut done).await,
                    Err(rejection) => {
                        dropped(&mut answer, &rejection.describe());
                        format!(
                            "Rejected, nothing was done: {}. Use only the tools offered, with the stack's services.",
                            rejection.reason
                        )
                    }
                }
            };
            messages.push(wire::tool_result(&call.id, &reply));
        }
    }
    if let Some(text) = &text {
        // The model may repeat a secret it was given or made up: its words are
        // redacted like any tool output before they reach the browser.
        answer.lead = render::model_text(&model.guard.redact_text(text));
    }
    if answer.lead.is_empty() && answer.html.is_empty() {
        return Err(ModelError::Garbage(
            "an answer without text or tool results".into(),
        ));
    }
    answer.notes.push(format!(
        "Written by the language model {}; the tool results shown are the tools' own.",
        model.name()
    ));
    Ok(answer)
}

/// Notes a dropped proposal in the answer (and the log).
fn dropped(answer: &mut Answer, what: &str) {
    tracing::info!(proposal = %what, "pi-health: dropped a proposal of the language model");
    answer
        .notes
        .push(format!("Dropped a proposal of the model: {what}."));
}

/// Carries out a checked proposal; returns the tool message for the model.
async fn run(
    agent: &Agent,
    model: &Model,
    proposal: Proposal,
    ps: Option<&Value>,
    answer: &mut Answer,
    done: &mut HashMap<Proposal, String>,
) -> String {
    // The same read twice: the same data, shown once.
    if let Some(reply) = done.get(&proposal) {
        return reply.clone();
    }
    let reply = match &proposal {
        Proposal::DockerStatus => {
            let data = agent.docker_status(answer).await;
            model.guard.tool_output(catalog::DOCKER_STATUS, data)
        }
        Proposal::Logs { service, tail } => {
            let data = agent.service_logs(answer, service, *tail).await;
            model.guard.tool_output(catalog::COMPOSE_LOGS, data)
        }
        Proposal::Diagnose { service } => {
            let named = crate::planner::Named {
                service: service.clone(),
                typed: None,
            };
            let data = agent.diagnose(answer, &named).await;
            model.guard.tool_output(catalog::COMPOSE_DIAGNOSE, data)
        }
        Proposal::SystemHealth => {
            let data = agent.system_health(answer).await;
            model.guard.tool_output(catalog::SYSTEM_HEALTH, data)
        }
        Proposal::Action { action, service } => {
            if let Some(card) = answer.cards.first() {
                let already = card.planned.suggestion.description.clone();
                dropped(
                    answer,
                    &format!(
                        "{} {service}: one action per answer (already suggested: {already})",
                        action.cta_label()
                    ),
                );
                return "Not proposed: one action per answer, and one is already proposed.".into();
            }
            agent.suggest(answer, *action, service, ps);
            format!(
                "Proposed to the person as a suggestion card (\"{}\" {service}). It has NOT run: it runs only if they approve it. Do not say that it was done.",
                action.cta_label()
            )
        }
    };
    done.insert(proposal, reply.clone());
    reply
}

#[cfg(test)]
mod tests;
