//! compose_restart, compose_start and compose_stop, each verified afterwards:
//! success means the Engine shows the state the action promised, and for a
//! restart or start that the container is still running after the stability
//! window (or, for a one-shot job, that it ran and exited with 0).

use std::time::Duration;

use serde::Serialize;

use ops_core::contract::diagnosis::{MAX_ERROR_LINE_BYTES, exit_code_meaning};

use super::DockerTools;
use crate::compose::ComposeProject;
use crate::engine::{Container, ContainerDetails};
use crate::error::ToolError;
use crate::text::{clean_terminal_output, error_lines};

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
    /// restarted, started, stopped, already running, already stopped, or
    /// finished (a one-shot job that ran and exited with 0)
    pub outcome: &'static str,
    pub state: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub started_at: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub previous_started_at: String,
}

const POLL_INTERVAL: Duration = Duration::from_millis(200);
/// Log lines searched for the error a failed start ends with.
const ERROR_LOOKUP_LINES: u32 = 100;

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
    let after = match outcome {
        "restarted" | "started" => {
            return verify_started(tools, container, action, outcome, before).await;
        }
        "already running" => {
            wait_until(tools, &container.id, |now| now.running && !now.restarting).await?
        }
        _ => wait_until(tools, &container.id, |now| !now.running).await?,
    };
    if (action == Action::Stop) == after.running || after.restarting {
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
        previous_started_at: String::new(),
    })
}

/// A restart or start counts once the container has started anew and is
/// still running, with that same start, after the stability window. A one-shot
/// job (restart policy `no` or `on-failure`) that ran and exited with 0 has
/// finished: a success too, said as such.
async fn verify_started(
    tools: &DockerTools,
    container: &Container,
    action: Action,
    outcome: &'static str,
    before: ContainerDetails,
) -> Result<ContainerOutcome, ToolError> {
    let started = wait_until(tools, &container.id, |now| {
        now.started_at != before.started_at && !now.started_at.is_empty()
    })
    .await?;
    if started.started_at == before.started_at {
        return Err(ToolError::Failed(format!(
            "{} of {} did not take effect: {}",
            action.as_str(),
            container.name,
            describe(&started)
        )));
    }
    let seen_started = tokio::time::Instant::now();
    let run = started.started_at.clone();
    let deadline = seen_started + tools.limits.stability_window;
    let mut now = started;
    let (stable, ended) = loop {
        if !now.running || now.restarting || now.started_at != run {
            break (false, now);
        }
        if tokio::time::Instant::now() >= deadline {
            break (true, now);
        }
        tokio::time::sleep(POLL_INTERVAL).await;
        now = tools.engine.inspect(&container.id).await?;
    };
    let report = |outcome: &'static str, state: ContainerDetails| ContainerOutcome {
        name: container.name.clone(),
        id: container.id.clone(),
        outcome,
        state: state.status,
        started_at: state.started_at,
        previous_started_at: if action == Action::Restart {
            before.started_at.clone()
        } else {
            String::new()
        },
    };
    if stable {
        return Ok(report(outcome, ended));
    }
    let one_shot = matches!(ended.restart_policy.as_str(), "no" | "on-failure");
    if one_shot && !ended.running && ended.exit_code == Some(0) && ended.started_at == run {
        return Ok(report("finished", ended));
    }
    // Measured here rather than from the Engine's times: within a poll interval.
    let lasted = seen_started.elapsed().as_secs_f64();
    let last_error = last_error_line(tools, &container.id).await;
    Err(ToolError::Failed(format!(
        "{} {}, but {}",
        container.name,
        outcome,
        what_happened(&ended, &run, lasted, last_error.as_deref())
    )))
}

/// "it exited again with code 1 after 3 s (the program failed): <line>".
fn what_happened(
    ended: &ContainerDetails,
    run: &str,
    lasted: f64,
    last_error: Option<&str>,
) -> String {
    let after = format!("after {} s", lasted.round().max(0.0) as u64);
    let exit = ended
        .exit_code
        .map(|code| format!("with code {code} ({})", exit_code_meaning(code)))
        .unwrap_or_default();
    let mut text = if ended.oom_killed {
        format!("it ran out of memory and was killed {after} (exit code 137)")
    } else if (ended.running && ended.started_at != run) || ended.restarting {
        format!(
            "it died again {after} {exit} and the Engine restarted it: it keeps crashing, a restart will not help"
        )
    } else {
        format!("it exited again {exit} {after}")
    };
    if let Some(error) = &ended.error {
        text.push_str(&format!(" (the Engine says: {error})"));
    }
    match last_error {
        Some(line) => format!("{text}: {line}"),
        None => text,
    }
}

/// The last error-looking line of the container's recent logs, if any.
async fn last_error_line(tools: &DockerTools, id: &str) -> Option<String> {
    let (raw, _) = tools
        .engine
        .logs(id, ERROR_LOOKUP_LINES, tools.limits.max_log_bytes)
        .await
        .ok()?;
    error_lines(&clean_terminal_output(&raw), 1, MAX_ERROR_LINE_BYTES).pop()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn says_what_happened_after_the_start() {
        let exited = ContainerDetails {
            status: "exited".into(),
            started_at: "run".into(),
            exit_code: Some(1),
            restart_policy: "no".into(),
            ..ContainerDetails::default()
        };
        assert_eq!(
            what_happened(&exited, "run", 2.6, Some("FATAL: config missing")),
            "it exited again with code 1 (the program failed (a general error)) after 3 s: FATAL: config missing"
        );
        let looping = ContainerDetails {
            status: "restarting".into(),
            restarting: true,
            running: true,
            ..exited.clone()
        };
        let text = what_happened(&looping, "run", 2.0, None);
        assert!(
            text.contains("keeps crashing") && text.contains("will not help"),
            "{text}"
        );
        let oom = ContainerDetails {
            oom_killed: true,
            exit_code: Some(137),
            ..exited
        };
        assert!(what_happened(&oom, "run", 1.0, None).contains("out of memory"));
    }
}
