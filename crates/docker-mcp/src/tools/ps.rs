//! docker_ps and compose_ps: from memory, with a verdict per service that the
//! event history makes honest (a crash loop shows even while it runs).

use std::collections::BTreeMap;

use ops_core::contract::diagnosis::{Verdict, exit_code_meaning};
use serde::Serialize;

use super::DockerTools;
use crate::compose::ComposeProject;
use crate::engine::Container;
use crate::error::ToolError;
use crate::verdict::{self, Facts};

/// A container as listed, with what the event history adds.
#[derive(Debug, Serialize)]
pub struct ListedContainer {
    #[serde(flatten)]
    pub container: Container,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_meaning: Option<String>,
    /// Deaths nobody asked for in the recent window.
    pub recent_deaths: u32,
    pub crash_loop: bool,
    #[serde(skip)]
    verdict: Verdict,
}

impl ListedContainer {
    fn new(tools: &DockerTools, container: Container) -> Self {
        let recent = tools.containers.recent_activity(
            &container.id,
            matches!(container.state.as_str(), "running" | "restarting"),
        );
        let verdict = verdict::container_verdict(&Facts {
            state: &container.state,
            health: container.health.as_deref(),
            exit_code: container.exit_code,
            oom_killed: false,
            restart_policy: None,
            recent: &recent,
        });
        Self {
            exit_meaning: container.exit_code.map(exit_code_meaning),
            recent_deaths: recent.deaths,
            crash_loop: recent.crash_loop,
            verdict,
            container,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct DockerPs {
    pub containers: Vec<ListedContainer>,
    pub count: usize,
    pub truncated: bool,
}

pub async fn docker_ps(tools: &DockerTools) -> Result<DockerPs, ToolError> {
    let mut containers = tools.containers.list(false, None).await?;
    let count = containers.len();
    let truncated = count > tools.limits.max_containers;
    containers.truncate(tools.limits.max_containers);
    Ok(DockerPs {
        containers: containers
            .into_iter()
            .map(|c| ListedContainer::new(tools, c))
            .collect(),
        count,
        truncated,
    })
}

#[derive(Debug, Serialize)]
pub struct ComposePs {
    pub project: String,
    pub file: String,
    pub services: Vec<ServiceState>,
}

#[derive(Debug, Serialize)]
pub struct ServiceState {
    pub service: String,
    /// False for containers of the project whose service the file no longer declares.
    pub declared: bool,
    /// "running", "partially running", "not created", or the containers' state.
    pub state: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<String>,
    /// The worst container's verdict ([`Verdict::NotCreated`] without one).
    pub verdict: Verdict,
    /// Whether a person should hear about it unasked ([`Verdict::is_problem`]).
    pub problem: bool,
    pub containers: Vec<ListedContainer>,
}

pub async fn compose_ps(
    tools: &DockerTools,
    project: &ComposeProject,
) -> Result<ComposePs, ToolError> {
    let containers = tools.containers.list(true, Some(&project.name)).await?;
    let mut by_service: BTreeMap<String, Vec<Container>> = project
        .services
        .keys()
        .map(|s| (s.clone(), Vec::new()))
        .collect();
    for container in containers.into_iter().filter(|c| !c.is_oneoff()) {
        let service = container.service().unwrap_or_default().to_owned();
        by_service.entry(service).or_default().push(container);
    }
    let services = by_service
        .into_iter()
        .map(|(service, containers)| {
            let state = summarize_state(&containers);
            let health = worst_health(&containers);
            let containers: Vec<ListedContainer> = containers
                .into_iter()
                .map(|c| ListedContainer::new(tools, c))
                .collect();
            let verdict = verdict::service_verdict(containers.iter().map(|c| c.verdict));
            ServiceState {
                declared: project.has_service(&service),
                state,
                health,
                verdict,
                problem: verdict.is_problem(),
                service,
                containers,
            }
        })
        .collect();
    Ok(ComposePs {
        project: project.name.clone(),
        file: project.file.display().to_string(),
        services,
    })
}

fn summarize_state(containers: &[Container]) -> String {
    let running = containers.iter().filter(|c| c.is_running()).count();
    match (containers.first(), running) {
        (None, _) => "not created".into(),
        (Some(_), n) if n == containers.len() => "running".into(),
        (Some(_), n) if n > 0 => "partially running".into(),
        (Some(first), _) => first.state.clone(),
    }
}

fn worst_health(containers: &[Container]) -> Option<String> {
    let rank = |h: &str| match h {
        "unhealthy" => 3,
        "starting" => 2,
        "healthy" => 1,
        _ => 0,
    };
    containers
        .iter()
        .filter_map(|c| c.health.as_deref())
        .max_by_key(|h| rank(h))
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(state: &str, health: Option<&str>) -> Container {
        Container {
            id: "abc".into(),
            name: "n".into(),
            image: "i".into(),
            state: state.into(),
            status: String::new(),
            health: health.map(str::to_owned),
            exit_code: None,
            labels: Default::default(),
        }
    }

    #[test]
    fn summarizes_service_state() {
        assert_eq!(summarize_state(&[]), "not created");
        assert_eq!(summarize_state(&[container("running", None)]), "running");
        assert_eq!(
            summarize_state(&[container("running", None), container("exited", None)]),
            "partially running"
        );
        assert_eq!(summarize_state(&[container("exited", None)]), "exited");
    }

    #[test]
    fn reports_the_worst_health() {
        let containers = [
            container("running", Some("healthy")),
            container("running", Some("unhealthy")),
            container("running", Some("starting")),
        ];
        assert_eq!(worst_health(&containers).as_deref(), Some("unhealthy"));
        assert_eq!(worst_health(&[container("running", None)]), None);
    }
}
