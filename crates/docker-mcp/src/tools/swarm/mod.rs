//! The swarm_* tools: one Swarm stack's services (those labelled
//! `com.docker.stack.namespace=<stack>`, and no other), their tasks, logs and
//! nodes (here), a diagnosis of a service whose tasks keep failing
//! ([`diagnosis`]), a forced rolling update verified by its new tasks and a
//! bounded scale ([`changes`]), and the service's logs by task ([`logs`]).

mod changes;
mod diagnosis;
mod logs;

pub use changes::{swarm_restart, swarm_scale};
use diagnosis::bound_texts;
pub use diagnosis::{SwarmVerdict, swarm_diagnose};
pub use logs::swarm_logs;

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use ops_core::contract::diagnosis::{MAX_ERROR_LINE_BYTES, exit_code_meaning};
use serde::Serialize;

use super::DockerTools;
use super::follow::split_timestamp;
use super::logs::cleaned_read;
use crate::catalog::SWARM_MAX_REPLICAS;
use crate::engine::{LABEL_STACK, SwarmNode, SwarmService, SwarmTask};
use crate::error::ToolError;
use crate::text::{head_bytes, keep_tail};

/// swarm_tasks returns at most this many tasks, the newest.
pub const MAX_TASKS: usize = 50;
/// swarm_logs and the changes' failures name a task by its slot and this many
/// characters of its id (as `docker service ps` shows them).
const TASK_ID_CHARS: usize = 12;

#[derive(Debug, Serialize)]
pub struct SwarmServices {
    pub stack: String,
    pub services: Vec<SwarmService>,
}

#[derive(Debug, Serialize)]
pub struct SwarmTasks {
    pub stack: String,
    pub service: String,
    pub tasks: Vec<SwarmTask>,
    pub count: usize,
    pub truncated: bool,
}

#[derive(Debug, Serialize)]
pub struct SwarmLogs {
    pub stack: String,
    pub service: String,
    pub tail: u32,
    pub logs: String,
    pub truncated: bool,
}

#[derive(Debug, Serialize)]
pub struct SwarmNodes {
    pub nodes: Vec<SwarmNode>,
}

impl DockerTools {
    /// The stack the swarm_* tools are pinned to, checked against the call's.
    pub(super) fn swarm_stack(&self, asked: Option<&str>) -> Result<String, ToolError> {
        let stack = self.catalog.swarm_stack().ok_or_else(|| {
            ToolError::NotConfigured(
                "docker-mcp was started without a Swarm stack (--swarm-stack), so the swarm_* tools are not available".into(),
            )
        })?;
        match asked {
            Some(asked) if asked == stack => Ok(stack.to_owned()),
            // The schema pins it; this is the second lock.
            Some(other) => Err(ToolError::BadArguments(format!(
                "docker-mcp is pinned to the Swarm stack {stack:?}, not {other:?}"
            ))),
            None => Ok(stack.to_owned()),
        }
    }

    /// `service` of `stack`: its name in the stack (`sonarr`) or its full name
    /// (`media_sonarr`). A service without the stack's label is refused, with
    /// the reason.
    pub(super) async fn stack_service(
        &self,
        stack: &str,
        service: &str,
    ) -> Result<SwarmService, ToolError> {
        let services = self.engine.swarm_services(Some(stack), None).await?;
        let full = format!("{stack}_{service}");
        if let Some(found) = services
            .iter()
            .find(|s| s.name == full)
            .or_else(|| services.iter().find(|s| s.name == service))
        {
            return Ok(found.clone());
        }
        // Say why: a service by that name outside the stack is refused as such.
        for name in [service, full.as_str()] {
            if let Some(outside) = self
                .engine
                .swarm_services(None, Some(name))
                .await?
                .into_iter()
                .next()
            {
                let label = match &outside.stack {
                    Some(other) => format!("its {LABEL_STACK} label says {other:?}"),
                    None => format!("it has no {LABEL_STACK} label"),
                };
                return Err(ToolError::BadArguments(format!(
                    "service {:?} is not part of the Swarm stack {stack:?} ({label}); docker-mcp only touches the services of {stack:?}",
                    outside.name
                )));
            }
        }
        let names: Vec<&str> = services.iter().map(|s| s.short_name()).collect();
        Err(ToolError::BadArguments(format!(
            "unknown service {service:?} in the Swarm stack {stack:?}: it has {}",
            if names.is_empty() {
                "no service".to_owned()
            } else {
                names.join(", ")
            }
        )))
    }

    /// The service's tasks, newest first, each with its node's hostname.
    async fn tasks_with_nodes(&self, service_id: &str) -> Result<Vec<SwarmTask>, ToolError> {
        let (tasks, nodes) = tokio::join!(
            self.engine.swarm_tasks(service_id),
            self.engine.swarm_nodes()
        );
        let hostnames: HashMap<String, String> =
            nodes?.into_iter().map(|n| (n.id, n.hostname)).collect();
        Ok(tasks?
            .into_iter()
            .map(|mut task| {
                task.node = hostnames.get(&task.node_id).cloned().unwrap_or_default();
                task
            })
            .collect())
    }
}

pub async fn swarm_services(tools: &DockerTools, stack: &str) -> Result<SwarmServices, ToolError> {
    let services = tools.engine.swarm_services(Some(stack), None).await?;
    Ok(SwarmServices {
        stack: stack.to_owned(),
        services: services
            .into_iter()
            .take(tools.limits.max_containers)
            .collect(),
    })
}

pub async fn swarm_tasks(
    tools: &DockerTools,
    stack: &str,
    service: &str,
) -> Result<SwarmTasks, ToolError> {
    let found = tools.stack_service(stack, service).await?;
    let mut tasks = tools.tasks_with_nodes(&found.id).await?;
    let count = tasks.len();
    tasks.truncate(MAX_TASKS);
    for task in &mut tasks {
        bound_texts(task);
    }
    Ok(SwarmTasks {
        stack: stack.to_owned(),
        service: found.name,
        truncated: count > tasks.len(),
        count,
        tasks,
    })
}

pub async fn swarm_nodes(tools: &DockerTools) -> Result<SwarmNodes, ToolError> {
    let mut nodes = tools.engine.swarm_nodes().await?;
    nodes.truncate(tools.limits.max_containers);
    Ok(SwarmNodes { nodes })
}

#[cfg(test)]
mod tests;
