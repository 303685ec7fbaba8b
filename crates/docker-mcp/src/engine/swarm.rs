//! The Swarm, as the swarm_* tools see it: a stack's services, their tasks, the
//! nodes, a service's logs, and the two updates docker-mcp makes to a service
//! (a forced rolling update and a replica count). Read from a manager node.

use std::collections::HashMap;

use bollard::models::{ServiceSpec, Task};
use bollard::query_parameters::{
    ListNodesOptions, ListServicesOptionsBuilder, ListTasksOptionsBuilder,
    UpdateServiceOptionsBuilder,
};
use serde::Serialize;

use super::{Engine, EngineError, collect_log_frames};

/// The label `docker stack deploy` puts on a stack's services.
pub const LABEL_STACK: &str = "com.docker.stack.namespace";

/// A service as the tools report it, with what an update needs kept aside.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SwarmService {
    pub id: String,
    pub name: String,
    pub image: String,
    /// `replicated`, `global`, `replicated-job` or `global-job`.
    pub mode: String,
    /// What the spec asks (replicated: its replica count; otherwise what the
    /// Engine counts as desired).
    pub desired_replicas: u64,
    pub running_replicas: u64,
    /// The last update's state (`updating`, `completed`, `paused`,
    /// `rollback_started`...), when the service was ever updated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub update_state: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub update_message: Option<String>,
    #[serde(skip)]
    pub stack: Option<String>,
    #[serde(skip)]
    pub version: u64,
    #[serde(skip)]
    pub spec: ServiceSpec,
}

/// One task of a service.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SwarmTask {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slot: Option<i64>,
    pub node_id: String,
    /// The node's hostname (filled in by the tool from the node list).
    pub node: String,
    pub desired_state: String,
    pub state: String,
    /// What the Swarm says about the state ("started", "No such image: ...").
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i64>,
    pub created_at: String,
    pub updated_at: String,
}

/// One node of the Swarm.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SwarmNode {
    pub id: String,
    pub hostname: String,
    /// `manager` or `worker`.
    pub role: String,
    /// `active`, `pause` or `drain`.
    pub availability: String,
    /// `ready`, `down`, `unknown`, `disconnected`.
    pub state: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Managers only: `leader`, `reachable` or `unreachable`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manager_status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub engine_version: Option<String>,
}

impl SwarmService {
    fn from_model(service: bollard::models::Service) -> Self {
        let spec = service.spec.unwrap_or_default();
        let status = service.service_status.unwrap_or_default();
        let mode = spec.mode.clone().unwrap_or_default();
        let (mode_name, replicas) = if let Some(replicated) = &mode.replicated {
            ("replicated", replicated.replicas.map(|r| r.max(0) as u64))
        } else if mode.global.is_some() {
            ("global", None)
        } else if mode.replicated_job.is_some() {
            ("replicated-job", None)
        } else if mode.global_job.is_some() {
            ("global-job", None)
        } else {
            ("replicated", Some(1))
        };
        let image = spec
            .task_template
            .as_ref()
            .and_then(|t| t.container_spec.as_ref())
            .and_then(|c| c.image.clone())
            .unwrap_or_default();
        // "repo:tag@sha256:..." as the Swarm pins it: the digest says nothing to a person.
        let image = image.split('@').next().unwrap_or_default().to_owned();
        let update = service.update_status.unwrap_or_default();
        Self {
            id: service.id.unwrap_or_default(),
            name: spec.name.clone().unwrap_or_default(),
            image,
            mode: mode_name.to_owned(),
            desired_replicas: replicas.or(status.desired_tasks).unwrap_or_default(),
            running_replicas: status.running_tasks.unwrap_or_default(),
            update_state: update
                .state
                .map(|s| s.to_string())
                .filter(|s| !s.is_empty()),
            update_message: update.message.filter(|m| !m.is_empty()),
            stack: spec
                .labels
                .as_ref()
                .and_then(|l| l.get(LABEL_STACK).cloned()),
            version: service.version.and_then(|v| v.index).unwrap_or_default(),
            spec,
        }
    }

    /// The short name in its stack (`media_sonarr` in stack `media` is `sonarr`).
    pub fn short_name(&self) -> &str {
        self.stack
            .as_deref()
            .and_then(|stack| self.name.strip_prefix(stack))
            .and_then(|rest| rest.strip_prefix('_'))
            .unwrap_or(&self.name)
    }

    pub fn is_replicated(&self) -> bool {
        self.mode == "replicated"
    }

    /// The spec's `ForceUpdate` counter.
    pub fn force_update(&self) -> u64 {
        self.spec
            .task_template
            .as_ref()
            .and_then(|t| t.force_update)
            .unwrap_or_default()
    }
}

/// The task's container's exit code, only when a container ran and ended: a
/// task the Swarm rejected, or one not started yet, or one still running, has
/// none (the Engine reports 0 for them, which would read as a clean exit).
fn exit_code(status: &bollard::models::TaskStatus) -> Option<i64> {
    use bollard::models::TaskState;
    let ran_and_ended = matches!(
        status.state,
        Some(TaskState::COMPLETE | TaskState::FAILED | TaskState::SHUTDOWN | TaskState::ORPHANED)
    );
    let container = status.container_status.as_ref()?;
    let has_container = container
        .container_id
        .as_deref()
        .is_some_and(|id| !id.is_empty());
    container
        .exit_code
        .filter(|_| ran_and_ended && has_container)
}

impl SwarmTask {
    fn from_model(task: Task) -> Self {
        let status = task.status.unwrap_or_default();
        let state =
            |s: Option<bollard::models::TaskState>| s.map(|s| s.to_string()).unwrap_or_default();
        let exit_code = exit_code(&status);
        Self {
            id: task.id.unwrap_or_default(),
            slot: task.slot,
            node_id: task.node_id.unwrap_or_default(),
            node: String::new(),
            desired_state: state(task.desired_state),
            state: state(status.state),
            message: status.message.unwrap_or_default(),
            error: status.err.filter(|e| !e.is_empty()),
            exit_code,
            created_at: task.created_at.unwrap_or_default(),
            updated_at: status.timestamp.or(task.updated_at).unwrap_or_default(),
        }
    }

    pub fn is_running(&self) -> bool {
        self.state == "running"
    }
}

impl Engine {
    /// The services labelled as `stack`'s, or every service named exactly `name`
    /// (whatever its labels: to say why it is refused), with their task counts.
    pub async fn swarm_services(
        &self,
        stack: Option<&str>,
        name: Option<&str>,
    ) -> Result<Vec<SwarmService>, EngineError> {
        let docker = self.client().await?;
        let mut filters: HashMap<&str, Vec<String>> = HashMap::new();
        if let Some(stack) = stack {
            filters.insert("label", vec![format!("{LABEL_STACK}={stack}")]);
        }
        if let Some(name) = name {
            filters.insert("name", vec![name.to_owned()]);
        }
        let options = ListServicesOptionsBuilder::new()
            .filters(&filters)
            .status(true)
            .build();
        let services = self
            .bounded(self.timeouts.read, docker.list_services(Some(options)))
            .await?;
        let mut services: Vec<SwarmService> = services
            .into_iter()
            .map(SwarmService::from_model)
            // The name filter matches prefixes.
            .filter(|s| name.is_none_or(|n| s.name == n))
            .collect();
        services.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(services)
    }

    /// One service by id, as it is now (its current version).
    pub async fn swarm_service(&self, id: &str) -> Result<SwarmService, EngineError> {
        let docker = self.client().await?;
        let service = self
            .bounded(self.timeouts.read, docker.inspect_service(id, None))
            .await?;
        Ok(SwarmService::from_model(service))
    }

    /// The tasks of one service the Swarm still keeps, newest first.
    pub async fn swarm_tasks(&self, service_id: &str) -> Result<Vec<SwarmTask>, EngineError> {
        let docker = self.client().await?;
        let filters = HashMap::from([("service", vec![service_id.to_owned()])]);
        let options = ListTasksOptionsBuilder::new().filters(&filters).build();
        let tasks = self
            .bounded(self.timeouts.read, docker.list_tasks(Some(options)))
            .await?;
        let mut tasks: Vec<SwarmTask> = tasks.into_iter().map(SwarmTask::from_model).collect();
        tasks.sort_by(|a, b| {
            b.created_at
                .cmp(&a.created_at)
                .then_with(|| a.id.cmp(&b.id))
        });
        Ok(tasks)
    }

    pub async fn swarm_nodes(&self) -> Result<Vec<SwarmNode>, EngineError> {
        let docker = self.client().await?;
        let nodes = self
            .bounded(
                self.timeouts.read,
                docker.list_nodes(None::<ListNodesOptions>),
            )
            .await?;
        let mut nodes: Vec<SwarmNode> = nodes
            .into_iter()
            .map(|node| {
                let spec = node.spec.unwrap_or_default();
                let description = node.description.unwrap_or_default();
                let status = node.status.unwrap_or_default();
                let manager_status = node.manager_status.map(|m| {
                    if m.leader == Some(true) {
                        "leader".to_owned()
                    } else {
                        m.reachability
                            .map(|r| r.to_string())
                            .unwrap_or_else(|| "unknown".into())
                    }
                });
                SwarmNode {
                    id: node.id.unwrap_or_default(),
                    hostname: description.hostname.unwrap_or_default(),
                    role: spec.role.map(|r| r.to_string()).unwrap_or_default(),
                    availability: spec.availability.map(|a| a.to_string()).unwrap_or_default(),
                    state: status.state.map(|s| s.to_string()).unwrap_or_default(),
                    address: status.addr.filter(|a| !a.is_empty()),
                    manager_status,
                    engine_version: description.engine.and_then(|e| e.engine_version),
                }
            })
            .collect();
        nodes.sort_by(|a, b| a.hostname.cmp(&b.hostname).then_with(|| a.id.cmp(&b.id)));
        Ok(nodes)
    }

    /// A service's last `tail` lines (each task's), at most `keep_bytes` of the
    /// end kept; as [`Engine::logs`] for a container. Each line starts with the
    /// Engine's timestamp and the details naming its task
    /// (`2026-12-01T10:00:00.123456789Z com.docker.swarm.node.id=...,com.docker.swarm.service.id=...,com.docker.swarm.task.id=... text`;
    /// the transport asks for the details, see `transport.rs`).
    pub async fn swarm_service_logs(
        &self,
        id: &str,
        tail: u32,
        keep_bytes: usize,
    ) -> Result<(Vec<u8>, usize), EngineError> {
        let docker = self.client().await?;
        let mut options = super::last_lines(tail);
        options.timestamps = true;
        let frames = docker.service_logs(id, Some(options));
        self.bounded(self.timeouts.read, collect_log_frames(frames, keep_bytes))
            .await
    }

    /// Posts `spec` as the service's new spec, at the `version` it was read at
    /// (the Engine refuses it when the service changed in between).
    pub async fn swarm_update_service(
        &self,
        id: &str,
        version: u64,
        spec: ServiceSpec,
    ) -> Result<Vec<String>, EngineError> {
        let docker = self.client().await?;
        let version = i32::try_from(version)
            .map_err(|_| EngineError::Failed(format!("service version {version} is too large")))?;
        let options = UpdateServiceOptionsBuilder::new().version(version).build();
        let response = self
            .bounded(
                self.timeouts.write,
                docker.update_service(id, spec, options, None),
            )
            .await?;
        Ok(response.warnings.unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::{ServiceSpecMode, ServiceSpecModeReplicated, TaskSpec};

    #[test]
    fn reads_a_replicated_stack_service() {
        let service = bollard::models::Service {
            id: Some("abc".into()),
            version: Some(bollard::models::ObjectVersion { index: Some(42) }),
            spec: Some(ServiceSpec {
                name: Some("media_sonarr".into()),
                labels: Some(HashMap::from([(LABEL_STACK.into(), "media".into())])),
                mode: Some(ServiceSpecMode {
                    replicated: Some(ServiceSpecModeReplicated { replicas: Some(3) }),
                    ..Default::default()
                }),
                task_template: Some(TaskSpec {
                    force_update: Some(2),
                    container_spec: Some(bollard::models::TaskSpecContainerSpec {
                        image: Some("arr/sonarr:test@sha256:0123".into()),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            service_status: Some(bollard::models::ServiceServiceStatus {
                running_tasks: Some(2),
                desired_tasks: Some(3),
                completed_tasks: None,
            }),
            ..Default::default()
        };
        let s = SwarmService::from_model(service);
        assert_eq!(s.name, "media_sonarr");
        assert_eq!(s.short_name(), "sonarr");
        assert_eq!(s.image, "arr/sonarr:test");
        assert_eq!((s.desired_replicas, s.running_replicas), (3, 2));
        assert!(s.is_replicated());
        assert_eq!(s.version, 42);
        assert_eq!(s.force_update(), 2);
        assert_eq!(s.stack.as_deref(), Some("media"));
    }

    #[test]
    fn a_task_that_never_ran_has_no_exit_code() {
        use bollard::models::{ContainerStatus, TaskState, TaskStatus};
        let task = |state, container_id: Option<&str>, exit_code| Task {
            id: Some("t1".into()),
            status: Some(TaskStatus {
                state: Some(state),
                err: Some("No such image: nope:1".into()),
                container_status: Some(ContainerStatus {
                    container_id: container_id.map(str::to_owned),
                    pid: None,
                    exit_code: Some(exit_code),
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let exit = |t| SwarmTask::from_model(t).exit_code;
        assert_eq!(exit(task(TaskState::REJECTED, None, 0)), None);
        assert_eq!(exit(task(TaskState::REJECTED, Some(""), 0)), None);
        assert_eq!(exit(task(TaskState::PENDING, None, 0)), None);
        assert_eq!(exit(task(TaskState::RUNNING, Some("c1"), 0)), None);
        assert_eq!(exit(task(TaskState::FAILED, Some("c1"), 1)), Some(1));
        assert_eq!(exit(task(TaskState::COMPLETE, Some("c1"), 0)), Some(0));
    }
}
