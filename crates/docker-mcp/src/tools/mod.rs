//! The nineteen tools (twelve compose, seven Swarm) behind one entry point, [`DockerTools::call`], shared by the
//! MCP and REST front ends: same validation, same results.

mod diagnose;
mod follow;
mod lifecycle;
mod logs;
mod ps;
mod pull;
mod stats;
mod swarm;
mod up;
mod update;
mod updates;
mod watch;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use crate::catalog::{Catalog, TAIL_DEFAULT, ToolName};
use crate::compose::{ComposeProject, LockedComposeFile};
use crate::engine::{Container, Engine, LiveContainers};
use crate::error::ToolError;

pub use follow::MAX_STREAMS;
pub use lifecycle::Action;
pub use swarm::{MAX_TASKS as SWARM_MAX_TASKS, SwarmVerdict};
pub use up::ComposeCli;
pub use updates::{DEFAULT_UPDATE_CHECK_TTL, UPDATES_ROUND};
pub use watch::MAX_WATCHERS;

/// Bounds on what a call may return or take.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_log_bytes: usize,
    pub max_containers: usize,
    pub max_cli_output_bytes: usize,
    /// The encoded result of any tool, at most.
    pub max_result_bytes: usize,
    pub up_timeout: Duration,
    /// How long compose_pull may take for all its images together.
    pub pull_timeout: Duration,
    /// How long a restarted or started container has to be seen started.
    pub verify_window: Duration,
    /// compose_stats: Engine stats calls at once (each waits about a second
    /// for the Engine's next collection)...
    pub stats_concurrency: usize,
    /// ...and how long one round may take in all; containers not measured
    /// by then are reported as such.
    pub stats_round: Duration,
    /// How long it must then stay running (with the same start time) to count
    /// as a success: a process that dies a few seconds in has not recovered.
    /// At most [`MAX_STABILITY_WINDOW`].
    pub stability_window: Duration,
    /// How long compose_updates reuses a registry's answer.
    pub update_check_ttl: Duration,
    /// How long swarm_restart and swarm_scale wait for the tasks to be
    /// replaced, or to reach the count.
    pub swarm_verify_window: Duration,
}

/// swarm_restart's and swarm_scale's wait, unless configured: a rolling
/// update replaces one task at a time, each given its stop grace period.
pub const DEFAULT_SWARM_VERIFY_WINDOW: Duration = Duration::from_secs(120);

/// The longest stability window docker-mcp accepts, so that the gateway's
/// timeout for a restart or start can stay longer than docker-mcp can take.
pub const MAX_STABILITY_WINDOW: Duration = Duration::from_secs(60);
/// How long a compose_stats round may take, unless configured: the gateway
/// waits longer (`guide_config.rs`).
pub const DEFAULT_STATS_ROUND: Duration = Duration::from_secs(20);
/// The stability window unless configured (`--stability-window-secs`).
pub const DEFAULT_STABILITY_WINDOW: Duration = Duration::from_secs(5);

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_log_bytes: 64 * 1024,
            max_containers: 500,
            max_cli_output_bytes: 16 * 1024,
            max_result_bytes: 1024 * 1024,
            up_timeout: Duration::from_secs(300),
            pull_timeout: Duration::from_secs(600),
            verify_window: Duration::from_secs(10),
            stats_concurrency: 8,
            stats_round: DEFAULT_STATS_ROUND,
            stability_window: DEFAULT_STABILITY_WINDOW,
            update_check_ttl: DEFAULT_UPDATE_CHECK_TTL,
            swarm_verify_window: DEFAULT_SWARM_VERIFY_WINDOW,
        }
    }
}

pub struct ToolsConfig {
    pub engine: Arc<Engine>,
    pub compose_file: Option<PathBuf>,
    pub project_name: Option<String>,
    pub compose_cli: ComposeCli,
    pub limits: Limits,
    /// The Swarm stack the swarm_* tools are pinned to (None: not available).
    pub swarm_stack: Option<String>,
}

pub struct DockerTools {
    engine: Arc<Engine>,
    /// docker_ps and compose_ps read from here: no Engine round trip.
    containers: Arc<LiveContainers>,
    compose: Option<LockedComposeFile>,
    catalog: Catalog,
    compose_cli: ComposeCli,
    limits: Limits,
    /// One mutating call per service at a time, so a stop cannot interleave a restart.
    service_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// The registries' answers for compose_updates.
    updates: updates::UpdateCache,
    /// Followed logs open now (see [`follow`]).
    streams: Arc<tokio::sync::Semaphore>,
    /// Service-event streams open now (see [`watch`]).
    watchers: Arc<tokio::sync::Semaphore>,
}

#[derive(Debug, Deserialize)]
struct Arguments {
    #[serde(default)]
    service: Option<String>,
    #[serde(default)]
    tail: Option<u32>,
    /// compose_updates: ask the registries again (a person asked).
    #[serde(default)]
    refresh: bool,
    /// The swarm_* tools' stack.
    #[serde(default)]
    stack: Option<String>,
    /// swarm_scale.
    #[serde(default)]
    replicas: Option<u32>,
}

impl DockerTools {
    /// Starts following the Engine's events when a Tokio runtime is running.
    pub fn new(config: ToolsConfig) -> Self {
        let containers = if tokio::runtime::Handle::try_current().is_ok() {
            LiveContainers::start(config.engine.clone())
        } else {
            LiveContainers::direct(config.engine.clone())
        };
        Self {
            updates: updates::UpdateCache::new(config.limits.update_check_ttl),
            containers,
            catalog: Catalog::new(
                config.compose_file.as_deref(),
                config.swarm_stack.as_deref(),
            ),
            compose: config
                .compose_file
                .map(|file| LockedComposeFile::new(file, config.project_name)),
            engine: config.engine,
            compose_cli: config.compose_cli,
            limits: config.limits,
            service_locks: Mutex::new(HashMap::new()),
            streams: Arc::new(tokio::sync::Semaphore::new(follow::MAX_STREAMS)),
            watchers: Arc::new(tokio::sync::Semaphore::new(watch::MAX_WATCHERS)),
        }
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn containers(&self) -> &LiveContainers {
        &self.containers
    }

    /// The compose project, when a compose file is configured and readable.
    pub fn project(&self) -> Result<ComposeProject, ToolError> {
        let compose = self.compose.as_ref().ok_or_else(|| {
            ToolError::NotConfigured(
                "docker-mcp was started without a compose file (--compose-file or COMPOSE_FILE), so only docker_ps is available".into(),
            )
        })?;
        compose.project().map_err(ToolError::NotConfigured)
    }

    /// Validates and runs one tool call. Whatever the tool, the encoded result
    /// stays within `Limits::max_result_bytes`.
    pub async fn call(&self, name: &str, args: Value) -> Result<Value, ToolError> {
        let result = self.run(name, args).await?;
        let size = encoded_len(&result);
        if size > self.limits.max_result_bytes {
            return Err(ToolError::Failed(format!(
                "the result of {} is {size} bytes, more than the {} bytes docker-mcp returns",
                ops_core::bounded(name, 64),
                self.limits.max_result_bytes
            )));
        }
        Ok(result)
    }

    async fn run(&self, name: &str, args: Value) -> Result<Value, ToolError> {
        let tool = ToolName::parse(name)
            .ok_or_else(|| ToolError::UnknownTool(ops_core::bounded(name, 64)))?;
        let args = if args.is_null() {
            Value::Object(Default::default())
        } else {
            args
        };
        self.catalog
            .validate(tool, &args)
            .map_err(ToolError::BadArguments)?;
        let args: Arguments =
            serde_json::from_value(args).map_err(|e| ToolError::BadArguments(e.to_string()))?;
        if tool == ToolName::DockerPs {
            return to_value(ps::docker_ps(self).await?);
        }
        if tool.is_swarm() {
            return self.run_swarm(tool, args).await;
        }
        let project = self.project()?;
        let service = args
            .service
            .map(|s| checked_service(&project, s))
            .transpose()?;
        match (tool, service) {
            (ToolName::ComposePs, _) => to_value(ps::compose_ps(self, &project).await?),
            (ToolName::ComposeStats, _) => to_value(stats::compose_stats(self, &project).await?),
            (ToolName::ComposeLogs, Some(service)) => to_value(
                logs::compose_logs(self, &project, &service, args.tail.unwrap_or(TAIL_DEFAULT))
                    .await?,
            ),
            (ToolName::ComposeDiagnose, Some(service)) => {
                to_value(diagnose::compose_diagnose(self, &project, &service).await?)
            }
            (
                ToolName::ComposeRestart | ToolName::ComposeStart | ToolName::ComposeStop,
                Some(service),
            ) => {
                let action = match tool {
                    ToolName::ComposeRestart => Action::Restart,
                    ToolName::ComposeStart => Action::Start,
                    _ => Action::Stop,
                };
                let _guard = self.lock_service(&service).await;
                to_value(lifecycle::run(self, &project, &service, action).await?)
            }
            (ToolName::ComposeUpdate, Some(service)) => {
                let _guard = self.lock_service(&service).await;
                to_value(update::compose_update(self, &project, &service).await?)
            }
            (ToolName::ComposeUpdates, service) => to_value(
                updates::compose_updates(self, &project, service.as_deref(), args.refresh).await?,
            ),
            (ToolName::ComposePull, service) => {
                to_value(pull::compose_pull(self, &project, service.as_deref()).await?)
            }
            (ToolName::ComposeUp, service) => {
                let _guard = self.lock_service(service.as_deref().unwrap_or("")).await;
                to_value(up::compose_up(self, &project, service.as_deref()).await?)
            }
            (tool, None) => Err(ToolError::BadArguments(format!("{tool} needs a service"))),
            (ToolName::DockerPs, _) => unreachable!("handled above"),
            (tool, _) => unreachable!("{tool} is handled by run_swarm"),
        }
    }

    /// The swarm_* tools: pinned to one stack, no compose file needed.
    async fn run_swarm(&self, tool: ToolName, args: Arguments) -> Result<Value, ToolError> {
        let stack = self.swarm_stack(args.stack.as_deref())?;
        if tool == ToolName::SwarmNodes {
            return to_value(swarm::swarm_nodes(self).await?);
        }
        if tool == ToolName::SwarmServices {
            return to_value(swarm::swarm_services(self, &stack).await?);
        }
        let service = args
            .service
            .ok_or_else(|| ToolError::BadArguments(format!("{tool} needs a service")))?;
        match tool {
            ToolName::SwarmTasks => to_value(swarm::swarm_tasks(self, &stack, &service).await?),
            ToolName::SwarmLogs => to_value(
                swarm::swarm_logs(self, &stack, &service, args.tail.unwrap_or(TAIL_DEFAULT))
                    .await?,
            ),
            ToolName::SwarmDiagnose => {
                to_value(swarm::swarm_diagnose(self, &stack, &service).await?)
            }
            ToolName::SwarmRestart => {
                let _guard = self.lock_service(&format!("swarm:{service}")).await;
                to_value(swarm::swarm_restart(self, &stack, &service).await?)
            }
            ToolName::SwarmScale => {
                let replicas = args
                    .replicas
                    .ok_or_else(|| ToolError::BadArguments("swarm_scale needs replicas".into()))?;
                let _guard = self.lock_service(&format!("swarm:{service}")).await;
                to_value(swarm::swarm_scale(self, &stack, &service, replicas).await?)
            }
            other => unreachable!("{other} is not a swarm tool with a service"),
        }
    }

    async fn lock_service(&self, service: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = {
            let mut locks = self.service_locks.lock().unwrap_or_else(|p| p.into_inner());
            locks.entry(service.to_owned()).or_default().clone()
        };
        lock.lock_owned().await
    }

    /// The containers compose considers part of `service` (not `run` one-offs).
    async fn service_containers(
        &self,
        project: &ComposeProject,
        service: &str,
    ) -> Result<Vec<Container>, ToolError> {
        let containers = self
            .engine
            .list_containers(true, Some(&project.name))
            .await?;
        let found: Vec<Container> = containers
            .into_iter()
            .filter(|c| c.service() == Some(service) && !c.is_oneoff())
            .collect();
        if found.is_empty() {
            return Err(ToolError::Failed(format!(
                "service {service} has no container in compose project {}; create it with compose_up",
                project.name
            )));
        }
        Ok(found)
    }
}

fn checked_service(project: &ComposeProject, service: String) -> Result<String, ToolError> {
    if project.has_service(&service) {
        Ok(service)
    } else {
        Err(ToolError::BadArguments(format!(
            "unknown service {service:?}: {} declares {}",
            project.file.display(),
            project.service_names().join(", ")
        )))
    }
}

/// The size of the compact JSON encoding, counted without building it.
fn encoded_len(value: &Value) -> usize {
    struct Counter(usize);
    impl std::io::Write for Counter {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0 += bytes.len();
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter(0);
    // Writing a Value to a counter cannot fail.
    let _ = serde_json::to_writer(&mut counter, value);
    counter.0
}

fn to_value(result: impl serde::Serialize) -> Result<Value, ToolError> {
    serde_json::to_value(result)
        .map_err(|e| ToolError::Failed(format!("cannot encode result: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_the_encoded_size() {
        let value = serde_json::json!({"a": "é\n", "b": [1, 2]});
        assert_eq!(encoded_len(&value), value.to_string().len());
    }
}
