//! compose_up: create or recreate containers. Compose's config hash cannot be
//! reproduced faithfully, so this one tool runs the compose CLI (no shell, with
//! a timeout) and reports what changed by comparing the project before and after.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::sync::Mutex;

use serde::Serialize;
use tokio::process::Command;

use super::DockerTools;
use crate::compose::ComposeProject;
use crate::engine::Container;
use crate::error::ToolError;
use crate::text::{clean_terminal_output, keep_tail};

/// The compose CLI to run: configured, or found on first use.
pub struct ComposeCli {
    configured: Option<Vec<String>>,
    detected: Mutex<Option<Vec<String>>>,
}

impl ComposeCli {
    /// `command` like "docker compose" or "docker-compose"; None to detect.
    pub fn new(command: Option<&str>) -> Self {
        Self {
            configured: command
                .map(|c| c.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
                .filter(|words| !words.is_empty()),
            detected: Mutex::new(None),
        }
    }

    async fn command(&self) -> Result<Vec<String>, ToolError> {
        if let Some(configured) = &self.configured {
            return Ok(configured.clone());
        }
        if let Some(found) = self
            .detected
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
        {
            return Ok(found);
        }
        for candidate in [&["docker", "compose"][..], &["docker-compose"][..]] {
            let works = Command::new(candidate[0])
                .args(&candidate[1..])
                .arg("version")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .kill_on_drop(true)
                .status()
                .await
                .is_ok_and(|s| s.success());
            if works {
                let found: Vec<String> = candidate.iter().map(|s| s.to_string()).collect();
                *self.detected.lock().unwrap_or_else(|p| p.into_inner()) = Some(found.clone());
                return Ok(found);
            }
        }
        Err(ToolError::NotConfigured(
            "no compose CLI found (tried `docker compose` and `docker-compose`); install one or set --compose-command".into(),
        ))
    }
}

#[derive(Debug, Serialize)]
pub struct ComposeUp {
    pub command: Vec<String>,
    pub exit_code: i32,
    pub services: Vec<ServiceChange>,
    pub output: String,
    pub truncated: bool,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct ServiceChange {
    pub service: String,
    /// created, recreated, started, unchanged, removed, not running
    pub outcome: &'static str,
}

pub async fn compose_up(
    tools: &DockerTools,
    project: &ComposeProject,
    only: Option<&str>,
) -> Result<ComposeUp, ToolError> {
    run_up(tools, project, only, false).await
}

/// `up -d [--no-deps] [SERVICE]`: with `no_deps`, the services it depends on
/// are left as they are (compose_update recreates one service alone).
pub(super) async fn run_up(
    tools: &DockerTools,
    project: &ComposeProject,
    only: Option<&str>,
    no_deps: bool,
) -> Result<ComposeUp, ToolError> {
    let before = snapshot(tools, project).await?;
    let cli = tools.compose_cli.command().await?;
    let mut args: Vec<String> = cli[1..].to_vec();
    args.extend([
        "-f".into(),
        project.file.display().to_string(),
        "-p".into(),
        project.name.clone(),
        "up".into(),
        "-d".into(),
        "--no-color".into(),
    ]);
    if no_deps {
        args.push("--no-deps".into());
    }
    args.extend(only.map(str::to_owned));
    let mut command = Command::new(&cli[0]);
    command
        .args(&args)
        .env("COMPOSE_ANSI", "never")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(dir) = project.file.parent() {
        command.current_dir(dir);
    }
    let shown: Vec<String> = std::iter::once(cli[0].clone()).chain(args).collect();
    let child = command
        .spawn()
        .map_err(|e| ToolError::Failed(format!("cannot run {}: {e}", shown.join(" "))))?;
    let limit = tools.limits.up_timeout;
    let output = match tokio::time::timeout(limit, child.wait_with_output()).await {
        Ok(Ok(output)) => output,
        Ok(Err(e)) => {
            return Err(ToolError::Failed(format!(
                "{} failed: {e}",
                shown.join(" ")
            )));
        }
        // Dropping the future kills the child (kill_on_drop).
        Err(_) => {
            return Err(ToolError::Failed(format!(
                "{} did not finish within {limit:?} and was stopped",
                shown.join(" ")
            )));
        }
    };
    let mut raw = output.stdout;
    raw.extend_from_slice(&output.stderr);
    let (text, truncated) = keep_tail(
        &clean_terminal_output(&raw),
        tools.limits.max_cli_output_bytes,
        0,
    );
    let exit_code = output.status.code().unwrap_or(-1);
    if !output.status.success() {
        return Err(ToolError::Failed(format!(
            "compose up exited with code {exit_code}: {}",
            last_lines(&text, 8)
        )));
    }
    let after = snapshot(tools, project).await?;
    let listed: Vec<Container> = after.values().flatten().cloned().collect();
    tools.containers.observe_project(&project.name, &listed);
    let services = project
        .services
        .keys()
        .filter(|s| only.is_none_or(|o| o == s.as_str()))
        .map(|service| ServiceChange {
            outcome: classify(before.get(service), after.get(service)),
            service: service.clone(),
        })
        .collect();
    Ok(ComposeUp {
        command: shown,
        exit_code,
        services,
        output: text,
        truncated,
    })
}

type Snapshot = BTreeMap<String, Vec<Container>>;

async fn snapshot(tools: &DockerTools, project: &ComposeProject) -> Result<Snapshot, ToolError> {
    let mut by_service = Snapshot::new();
    for container in tools
        .engine
        .list_containers(true, Some(&project.name))
        .await?
        .into_iter()
        .filter(|c| !c.is_oneoff())
    {
        if let Some(service) = container.service().map(str::to_owned) {
            by_service.entry(service).or_default().push(container);
        }
    }
    Ok(by_service)
}

fn classify(before: Option<&Vec<Container>>, after: Option<&Vec<Container>>) -> &'static str {
    let before = before.map(Vec::as_slice).unwrap_or_default();
    let after = after.map(Vec::as_slice).unwrap_or_default();
    if after.is_empty() {
        return if before.is_empty() {
            "not running"
        } else {
            "removed"
        };
    }
    if !after.iter().all(Container::is_running) {
        return "not running";
    }
    if before.is_empty() {
        return "created";
    }
    let same_ids =
        before.len() == after.len() && after.iter().all(|a| before.iter().any(|b| b.id == a.id));
    if !same_ids {
        "recreated"
    } else if before.iter().all(Container::is_running) {
        "unchanged"
    } else {
        "started"
    }
}

fn last_lines(text: &str, count: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(count)..].join(" | ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(id: &str, state: &str) -> Container {
        Container {
            id: id.into(),
            name: id.into(),
            image: "i".into(),
            state: state.into(),
            status: String::new(),
            health: None,
            exit_code: None,
            labels: Default::default(),
        }
    }

    #[test]
    fn classifies_what_up_did() {
        let running_a = vec![container("a", "running")];
        let exited_a = vec![container("a", "exited")];
        let running_b = vec![container("b", "running")];
        assert_eq!(classify(None, Some(&running_a)), "created");
        assert_eq!(classify(Some(&running_a), Some(&running_b)), "recreated");
        assert_eq!(classify(Some(&exited_a), Some(&running_a)), "started");
        assert_eq!(classify(Some(&running_a), Some(&running_a)), "unchanged");
        assert_eq!(classify(Some(&running_a), None), "removed");
        assert_eq!(classify(None, Some(&exited_a)), "not running");
    }

    #[test]
    fn configured_command_is_split_into_words() {
        let cli = ComposeCli::new(Some("docker  compose"));
        assert_eq!(
            cli.configured,
            Some(vec!["docker".into(), "compose".into()])
        );
        assert_eq!(ComposeCli::new(Some("  ")).configured, None);
    }
}
