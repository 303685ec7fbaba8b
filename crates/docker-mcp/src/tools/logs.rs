//! compose_logs: the last lines of one service, decoded, cleaned and capped.

use serde::Serialize;

use super::DockerTools;
use crate::compose::ComposeProject;
use crate::error::ToolError;
use crate::text::{clean_terminal_output, keep_tail};

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
    let containers = tools.service_containers(project, service).await?;
    let cap = tools.limits.max_log_bytes;
    let prefix_lines = containers.len() > 1;
    let mut text = String::new();
    let mut dropped = 0;
    for container in &containers {
        let (raw, cut) = tools.engine.logs(&container.id, tail, cap).await?;
        dropped += cut;
        let cleaned = clean_terminal_output(&raw);
        if prefix_lines {
            // As `docker compose logs` does when a service has several containers.
            for line in cleaned.lines() {
                text.push_str(&container.name);
                text.push_str("  | ");
                text.push_str(line);
                text.push('\n');
            }
        } else {
            text.push_str(&cleaned);
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
