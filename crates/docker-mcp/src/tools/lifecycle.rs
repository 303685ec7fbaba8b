//! compose_restart, compose_start and compose_stop, each verified afterwards:
//! success means the Engine shows the state the action promised.

use std::time::Duration;

use serde::Serialize;

use super::DockerTools;
use crate::compose::ComposeProject;
use crate::engine::{Container, ContainerDetails};
use crate::error::ToolError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Restart,
    Start,
    Stop,
}

impl Action {
    fn as_str(self) -> &'static str {
        match self {
            Self::Restart => "restart",
            Self::Start => "start",
            Self::Stop => "stop",
        }
    }
}

#[derive(Debug, Serialize)]
pub struct LifecycleReport {
    pub service: String,
    pub action: &'static str,
    pub containers: Vec<ContainerOutcome>,
}

#[derive(Debug, Serialize)]
pub struct ContainerOutcome {
    pub name: String,
    pub id: String,
    /// restarted, started, stopped, already running, already stopped
    pub outcome: &'static str,
    pub state: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub started_at: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub previous_started_at: String,
}

const POLL_INTERVAL: Duration = Duration::from_millis(200);

pub async fn run(
    tools: &DockerTools,
    project: &ComposeProject,
    service: &str,
    action: Action,
) -> Result<LifecycleReport, ToolError> {
    let containers = tools.service_containers(project, service).await?;
    let mut outcomes = Vec::with_capacity(containers.len());
    for container in containers {
        let acted = act_on(tools, &container, action).await;
        // docker_ps and compose_ps right after this call must show its effect.
        tools.containers.observe(&container.id).await;
        match acted {
            Ok(outcome) => outcomes.push(outcome),
            Err(error) => {
                let done: Vec<String> = outcomes
                    .iter()
                    .map(|o| format!("{} {}", o.name, o.outcome))
                    .collect();
                let also = if done.is_empty() {
                    String::new()
                } else {
                    format!(" (before that: {})", done.join(", "))
                };
                return Err(match error {
                    ToolError::Engine(engine) => ToolError::Failed(format!(
                        "{} of {service} failed on {}: {engine}{also}",
                        action.as_str(),
                        container.name
                    )),
                    other => ToolError::Failed(format!("{other}{also}")),
                });
            }
        }
    }
    Ok(LifecycleReport {
        service: service.to_owned(),
        action: action.as_str(),
        containers: outcomes,
    })
}

async fn act_on(
    tools: &DockerTools,
    container: &Container,
    action: Action,
) -> Result<ContainerOutcome, ToolError> {
    let engine = &tools.engine;
    let before = engine.inspect(&container.id).await?;
    let outcome = match action {
        Action::Restart => {
            engine.restart(&container.id).await?;
            "restarted"
        }
        Action::Start if before.running => "already running",
        Action::Start => {
            engine.start(&container.id).await?;
            "started"
        }
        Action::Stop if !before.running => "already stopped",
        Action::Stop => {
            engine.stop(&container.id).await?;
            "stopped"
        }
    };
    let must_be_new = matches!(outcome, "restarted" | "started");
    let reached = |now: &ContainerDetails| match action {
        Action::Stop => !now.running,
        Action::Restart | Action::Start => {
            now.running && !now.restarting && (!must_be_new || now.started_at != before.started_at)
        }
    };
    let mut after = wait_until(tools, &container.id, &reached).await?;
    if reached(&after) && must_be_new {
        // A process that dies right after starting is not a successful start:
        // look again once it had a moment to fail.
        tokio::time::sleep(tools.limits.settle).await;
        let settled = tools.engine.inspect(&container.id).await?;
        if !settled.running || settled.started_at != after.started_at {
            let then = if settled.running {
                "the Engine restarted it again: it keeps crashing".to_owned()
            } else {
                describe(&settled)
            };
            return Err(ToolError::Failed(format!(
                "{} of {} did not hold: it started, then {then}",
                action.as_str(),
                container.name,
            )));
        }
        after = settled;
    }
    if !reached(&after) {
        return Err(ToolError::Failed(format!(
            "{} of {} did not take effect: {}",
            action.as_str(),
            container.name,
            describe(&after)
        )));
    }
    Ok(ContainerOutcome {
        name: container.name.clone(),
        id: container.id.clone(),
        outcome,
        state: after.status,
        started_at: after.started_at,
        previous_started_at: if action == Action::Restart {
            before.started_at
        } else {
            String::new()
        },
    })
}

/// Polls the container until `done` holds or the verify window closes; returns
/// the last state seen either way.
async fn wait_until(
    tools: &DockerTools,
    id: &str,
    done: impl Fn(&ContainerDetails) -> bool,
) -> Result<ContainerDetails, ToolError> {
    let deadline = tokio::time::Instant::now() + tools.limits.verify_window;
    loop {
        let now = tools.engine.inspect(id).await?;
        if done(&now) || tokio::time::Instant::now() >= deadline {
            return Ok(now);
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

fn describe(details: &ContainerDetails) -> String {
    let mut text = format!("the container is {}", details.status);
    if let Some(code) = details.exit_code.filter(|_| !details.running) {
        text.push_str(&format!(" (exit code {code})"));
    }
    if let Some(error) = &details.error {
        text.push_str(&format!(": {error}"));
    }
    text
}
