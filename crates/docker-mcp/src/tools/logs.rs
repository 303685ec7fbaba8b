//! compose_logs: the last lines of one service, decoded, cleaned and capped.

use serde::Serialize;

use super::DockerTools;
use crate::compose::ComposeProject;
use crate::engine::{Container, EngineError};
use crate::error::ToolError;
use crate::text::{clean_terminal_output, drop_partial_first_line, keep_tail};

#[derive(Debug, Serialize)]
pub struct ComposeLogs {
    pub service: String,
    pub tail: u32,
    pub containers: Vec<String>,
    pub logs: String,
    pub truncated: bool,
}

pub async fn compose_logs(
    tools: &DockerTools,
    project: &ComposeProject,
    service: &str,
    tail: u32,
) -> Result<ComposeLogs, ToolError> {
    // The service's containers from memory (kept current by the Engine's events),
    // which saves an Engine round trip per call. A container created a moment ago
    // may not be there yet, and one removed a moment ago may still be: on a miss,
    // or when the Engine no longer knows a remembered container, the Engine's own
    // list decides, as before.
    let remembered: Vec<Container> = tools
        .containers()
        .list(true, Some(&project.name))
        .await?
        .into_iter()
        .filter(|c| c.service() == Some(service) && !c.is_oneoff())
        .collect();
    if !remembered.is_empty() {
        match read_logs(tools, service, tail, remembered).await {
            Err(ToolError::Engine(EngineError::NotFound(_))) => {}
            done => return done,
        }
    }
    let listed = tools.service_containers(project, service).await?;
    read_logs(tools, service, tail, listed).await
}

async fn read_logs(
    tools: &DockerTools,
    service: &str,
    tail: u32,
    containers: Vec<Container>,
) -> Result<ComposeLogs, ToolError> {
    let cap = tools.limits.max_log_bytes;
    let prefix_lines = containers.len() > 1;
    let mut text = String::new();
    let mut dropped = 0;
    for container in &containers {
        let (raw, cut) = tools.engine.logs(&container.id, tail, cap).await?;
        let (cleaned, cut) = cleaned_read(&raw, cut);
        dropped += cut;
        let cleaned = cleaned.as_str();
        if prefix_lines {
            // As `docker compose logs` does when a service has several containers.
            for line in cleaned.lines() {
                text.push_str(&container.name);
                text.push_str("  | ");
                text.push_str(line);
                text.push('\n');
            }
        } else {
            text.push_str(cleaned);
        }
    }
    let (logs, truncated) = keep_tail(&text, cap, dropped);
    Ok(ComposeLogs {
        service: service.to_owned(),
        tail,
        containers: containers.into_iter().map(|c| c.name).collect(),
        logs,
        truncated,
    })
}

/// One log read (a container's, or a Swarm service's) as text: terminal escapes
/// stripped, and when the Engine's bytes were cut (`cut` bytes dropped before
/// them), the partial first line dropped too (see `keep_tail`). Returns the
/// text and how many bytes were dropped in all.
pub(super) fn cleaned_read(raw: &[u8], cut: usize) -> (String, usize) {
    let cleaned = clean_terminal_output(raw);
    if cut == 0 {
        return (cleaned, 0);
    }
    let (rest, partial) = drop_partial_first_line(&cleaned);
    (rest.to_owned(), cut + partial)
}
