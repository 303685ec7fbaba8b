//! The Docker Engine, as docker-mcp sees it: a handful of allowlisted
//! operations with timeouts, typed errors and plain result types.

mod age;
pub mod allowlist;
pub mod history;
mod live;
mod log_tail;
pub mod stats;
pub mod swarm;
mod transport;

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bollard::Docker;
use bollard::container::LogOutput;
use bollard::errors::Error as BollardError;
use bollard::query_parameters::{
    CreateImageOptionsBuilder, EventsOptionsBuilder, ListContainersOptionsBuilder,
    LogsOptionsBuilder, StatsOptionsBuilder,
};
use futures_util::{Stream, StreamExt};
use ops_core::error_chain;
use serde::Serialize;

pub use history::ContainerEvent;
pub use live::LiveContainers;
pub use log_tail::LogTail;
pub use stats::Measured;
pub use swarm::{LABEL_STACK, SwarmNode, SwarmService, SwarmTask};
use transport::GuardedTransport;
pub use transport::{DEFAULT_SOCKET, EngineAddress};

/// How long one Engine call may take before it is reported as failed.
#[derive(Debug, Clone, Copy)]
pub struct EngineTimeouts {
    pub read: Duration,
    pub write: Duration,
}

impl Default for EngineTimeouts {
    fn default() -> Self {
        Self {
            read: Duration::from_secs(10),
            write: Duration::from_secs(60),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    /// What a person sees says what to do; the technical `reason` (the error
    /// chain: "hyper legacy client ... os error 2") goes to the log where it is made.
    #[error(
        "Docker is not reachable at {address}: is the Docker service running? (details in the server log)"
    )]
    Unavailable { address: String, reason: String },
    #[error("the Docker Engine did not answer within {0:?}")]
    Timeout(Duration),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("{0}")]
    Refused(String),
    #[error("the Docker Engine refused: {0}")]
    Failed(String),
    /// A Swarm endpoint on an Engine that is no Swarm manager: what to do, not
    /// the Engine's text.
    #[error("{0}")]
    NotSwarm(String),
}

/// A container as the tools report it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Container {
    pub id: String,
    pub name: String,
    pub image: String,
    /// created, running, paused, restarting, exited, removing, dead
    pub state: String,
    /// The Engine's human status, e.g. "Up 5 minutes (unhealthy)".
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i64>,
    #[serde(skip)]
    pub labels: HashMap<String, String>,
}

pub const LABEL_PROJECT: &str = "com.docker.compose.project";
pub const LABEL_SERVICE: &str = "com.docker.compose.service";
pub const LABEL_ONEOFF: &str = "com.docker.compose.oneoff";

impl Container {
    pub fn service(&self) -> Option<&str> {
        self.labels.get(LABEL_SERVICE).map(String::as_str)
    }
    pub fn project(&self) -> Option<&str> {
        self.labels.get(LABEL_PROJECT).map(String::as_str)
    }
    /// `docker compose run` containers are not part of the service.
    pub fn is_oneoff(&self) -> bool {
        self.labels
            .get(LABEL_ONEOFF)
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }
    pub fn is_running(&self) -> bool {
        self.state == "running"
    }

    fn from_summary(summary: bollard::models::ContainerSummary) -> Self {
        let status = summary.status.unwrap_or_default();
        let state = summary.state.map(|s| s.to_string()).unwrap_or_default();
        let health = summary
            .health
            .and_then(|h| h.status)
            .map(|s| s.to_string())
            .filter(|s| !s.is_empty() && s != "none")
            .or_else(|| health_from_status(&status));
        let exit_code = (state == "exited")
            .then(|| exit_code_from_status(&status))
            .flatten();
        let name = summary
            .names
            .unwrap_or_default()
            .into_iter()
            .next()
            .map(|n| n.trim_start_matches('/').to_owned())
            .unwrap_or_default();
        Self {
            id: short_id(&summary.id.unwrap_or_default()),
            name,
            image: summary.image.unwrap_or_default(),
            state,
            status,
            health,
            exit_code,
            labels: summary.labels.unwrap_or_default(),
        }
    }
}

/// What the tools need to know about one container right now
/// (`GET /containers/{id}/json`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ContainerDetails {
    pub running: bool,
    pub restarting: bool,
    /// created, running, paused, restarting, exited, removing, dead
    pub status: String,
    pub started_at: String,
    pub finished_at: String,
    pub exit_code: Option<i64>,
    pub oom_killed: bool,
    pub error: Option<String>,
    /// Restarts by the restart policy.
    pub restart_count: u64,
    /// `no`, `always`, `unless-stopped`, `on-failure` (`no` when unset).
    pub restart_policy: String,
    pub health: Option<HealthDetails>,
    /// The id of the image the container was created from.
    pub image_id: String,
}

/// `State.Health` and the probe command, when the container has a healthcheck.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HealthDetails {
    pub status: String,
    pub failing_streak: u64,
    pub test: Vec<String>,
    /// (start, exit code, output), oldest first, as the Engine keeps them (at most 5).
    pub log: Vec<(String, i64, String)>,
}

fn short_id(id: &str) -> String {
    id.chars().take(12).collect()
}

/// API < 1.52 only reports health inside the status text.
fn health_from_status(status: &str) -> Option<String> {
    if status.contains("(unhealthy)") {
        Some("unhealthy".into())
    } else if status.contains("(healthy)") {
        Some("healthy".into())
    } else if status.contains("(health: starting)") {
        Some("starting".into())
    } else {
        None
    }
}

/// "Exited (3) 5 seconds ago" -> 3
fn exit_code_from_status(status: &str) -> Option<i64> {
    let rest = status.strip_prefix("Exited (")?;
    rest.split(')').next()?.parse().ok()
}

/// The Engine behind the allowlisted transport. Connecting is lazy, so the
/// server starts (and reports why) when the Engine is down, and recovers by
/// itself when it returns.
pub struct Engine {
    docker: Docker,
    address: EngineAddress,
    /// The `/vX.Y` path prefix, set once the Engine has told us its API version.
    api_prefix: Arc<OnceLock<String>>,
    timeouts: EngineTimeouts,
}

/// A piece of a followed log: the bytes one write of the container produced
/// (a line or several, or part of one), by output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FollowedFrame {
    Stdout(bytes::Bytes),
    Stderr(bytes::Bytes),
}

/// A local image: its id and the digests it is known by in registries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalImage {
    pub id: String,
    /// `registry/repo@sha256:...`, one per repository it was pulled or pushed with.
    pub repo_digests: Vec<String>,
}

/// Version facts reported by `/health`.
#[derive(Debug, Clone, Serialize)]
pub struct EngineVersion {
    pub version: String,
    pub api_version: String,
}

impl Engine {
    pub fn new(address: EngineAddress, timeouts: EngineTimeouts) -> Self {
        let api_prefix = Arc::new(OnceLock::new());
        let transport = GuardedTransport::new(&address, api_prefix.clone());
        // bollard's own timeout covers the response headers; ours cover whole operations.
        let docker = Docker::connect_with_custom_transport(
            move |request| transport.send(request),
            Some("http://docker-engine"),
            timeouts.write.as_secs().max(1),
            bollard::API_DEFAULT_VERSION,
        )
        .expect("a custom transport needs no I/O to set up");
        Self {
            docker,
            address,
            api_prefix,
            timeouts,
        }
    }

    pub fn address(&self) -> &EngineAddress {
        &self.address
    }

    pub fn timeouts(&self) -> EngineTimeouts {
        self.timeouts
    }

    /// Speaks the highest API version both sides know: the Engine's, capped at
    /// bollard's. Retried on every call until it has worked once.
    async fn client(&self) -> Result<&Docker, EngineError> {
        if self.api_prefix.get().is_none() {
            let version = self
                .bounded(self.timeouts.read, self.docker.version())
                .await?;
            let prefix = negotiated_prefix(version.api_version.as_deref());
            tracing::debug!(%prefix, "engine API version negotiated");
            let _ = self.api_prefix.set(prefix);
        }
        Ok(&self.docker)
    }

    async fn bounded<T>(
        &self,
        limit: Duration,
        call: impl Future<Output = Result<T, BollardError>>,
    ) -> Result<T, EngineError> {
        match tokio::time::timeout(limit, call).await {
            Ok(result) => result.map_err(|e| self.classify(e)),
            Err(_) => Err(EngineError::Timeout(limit)),
        }
    }

    fn classify(&self, error: BollardError) -> EngineError {
        match error {
            BollardError::DockerResponseServerError {
                status_code,
                message,
            } => match status_code {
                404 => EngineError::NotFound(message),
                503 if message.contains("not a swarm manager")
                    || message.contains("not part of a swarm") =>
                {
                    EngineError::NotSwarm(not_swarm_words(&message))
                }
                403 if message.starts_with("docker-mcp does not call") => {
                    EngineError::Refused(message)
                }
                _ => EngineError::Failed(message),
            },
            BollardError::RequestTimeoutError => EngineError::Timeout(self.timeouts.write),
            BollardError::DockerStreamError { error } => EngineError::Failed(error),
            other @ (BollardError::HyperLegacyError { .. }
            | BollardError::IOError { .. }
            | BollardError::SocketNotFoundError(_)
            | BollardError::HyperResponseError { .. }) => {
                let reason = error_chain(&other);
                tracing::warn!(address = %self.address, %reason, "the Docker Engine is not reachable");
                EngineError::Unavailable {
                    address: self.address.to_string(),
                    reason,
                }
            }
            other => EngineError::Failed(error_chain(&other)),
        }
    }

    pub async fn version(&self) -> Result<EngineVersion, EngineError> {
        let docker = self.client().await?;
        let version = self.bounded(self.timeouts.read, docker.version()).await?;
        Ok(EngineVersion {
            version: version.version.unwrap_or_default(),
            api_version: version.api_version.unwrap_or_default(),
        })
    }

    /// Containers, optionally stopped ones too, optionally of one compose project.
    pub async fn list_containers(
        &self,
        include_stopped: bool,
        project: Option<&str>,
    ) -> Result<Vec<Container>, EngineError> {
        let docker = self.client().await?;
        let mut filters: HashMap<&str, Vec<String>> = HashMap::new();
        if let Some(project) = project {
            filters.insert("label", vec![format!("{LABEL_PROJECT}={project}")]);
        }
        let options = ListContainersOptionsBuilder::new()
            .all(include_stopped)
            .filters(&filters)
            .build();
        let summaries = self
            .bounded(self.timeouts.read, docker.list_containers(Some(options)))
            .await?;
        let mut containers: Vec<Container> =
            summaries.into_iter().map(Container::from_summary).collect();
        containers.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(containers)
    }

    /// One container by id (any state), or None when it no longer exists.
    pub async fn find_container(&self, id: &str) -> Result<Option<Container>, EngineError> {
        let docker = self.client().await?;
        let filters = HashMap::from([("id", vec![id.to_owned()])]);
        let options = ListContainersOptionsBuilder::new()
            .all(true)
            .filters(&filters)
            .build();
        let found = self
            .bounded(self.timeouts.read, docker.list_containers(Some(options)))
            .await?;
        Ok(found.into_iter().next().map(Container::from_summary))
    }

    /// Container events as they happen, from `since` (seconds since the
    /// epoch) on. The stream ends when the connection does.
    pub async fn container_events(
        &self,
        since: i64,
    ) -> Result<impl Stream<Item = Result<ContainerEvent, EngineError>> + '_, EngineError> {
        let docker = self.client().await?;
        let filters = HashMap::from([("type", vec!["container".to_owned()])]);
        let options = EventsOptionsBuilder::new()
            .since(&since.to_string())
            .filters(&filters)
            .build();
        Ok(docker.events(Some(options)).map(move |event| {
            event
                .map(|e| {
                    let (id, attributes) = e
                        .actor
                        .map(|a| (a.id.unwrap_or_default(), a.attributes.unwrap_or_default()))
                        .unwrap_or_default();
                    ContainerEvent {
                        id: short_id(&id),
                        action: e.action.unwrap_or_default(),
                        at_nanos: e
                            .time_nano
                            .or_else(|| e.time.map(|t| t.saturating_mul(1_000_000_000)))
                            .unwrap_or_default(),
                        exit_code: attributes.get("exitCode").and_then(|c| c.parse().ok()),
                    }
                })
                .map_err(|e| self.classify(e))
        }))
    }

    pub async fn inspect(&self, id: &str) -> Result<ContainerDetails, EngineError> {
        let docker = self.client().await?;
        let response = self
            .bounded(self.timeouts.read, docker.inspect_container(id, None))
            .await?;
        let state = response.state.unwrap_or_default();
        let health_test = response
            .config
            .and_then(|c| c.healthcheck)
            .and_then(|h| h.test)
            .unwrap_or_default();
        let health = state
            .health
            .filter(|h| {
                h.status
                    .is_some_and(|s| !matches!(s.to_string().as_str(), "" | "none"))
            })
            .map(|h| HealthDetails {
                status: h.status.map(|s| s.to_string()).unwrap_or_default(),
                failing_streak: h.failing_streak.unwrap_or_default().max(0) as u64,
                test: health_test,
                log: h
                    .log
                    .unwrap_or_default()
                    .into_iter()
                    .map(|probe| {
                        (
                            probe.start.map(|s| s.to_string()).unwrap_or_default(),
                            probe.exit_code.unwrap_or_default(),
                            probe.output.unwrap_or_default(),
                        )
                    })
                    .collect(),
            });
        Ok(ContainerDetails {
            running: state.running.unwrap_or(false),
            restarting: state.restarting.unwrap_or(false),
            status: state.status.map(|s| s.to_string()).unwrap_or_default(),
            started_at: state.started_at.unwrap_or_default(),
            finished_at: state.finished_at.unwrap_or_default(),
            exit_code: state.exit_code,
            oom_killed: state.oom_killed.unwrap_or(false),
            error: state.error.filter(|e| !e.is_empty()),
            restart_count: response.restart_count.unwrap_or_default().max(0) as u64,
            restart_policy: response
                .host_config
                .and_then(|h| h.restart_policy)
                .and_then(|p| p.name)
                .map(|n| n.to_string())
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| "no".to_owned()),
            health,
            image_id: response.image.unwrap_or_default(),
        })
    }

    pub async fn start(&self, id: &str) -> Result<(), EngineError> {
        let docker = self.client().await?;
        self.bounded(self.timeouts.write, docker.start_container(id, None))
            .await
    }

    /// Stops with the container's own stop timeout (compose's `stop_grace_period`).
    pub async fn stop(&self, id: &str) -> Result<(), EngineError> {
        let docker = self.client().await?;
        self.bounded(self.timeouts.write, docker.stop_container(id, None))
            .await
    }

    pub async fn restart(&self, id: &str) -> Result<(), EngineError> {
        let docker = self.client().await?;
        self.bounded(self.timeouts.write, docker.restart_container(id, None))
            .await
    }

    /// The last `tail` lines of stdout and stderr, decoded from the Engine's
    /// multiplexed frames or raw TTY stream. At most `keep_bytes` of the end
    /// are kept in memory; the number of bytes dropped before them is returned.
    pub async fn logs(
        &self,
        id: &str,
        tail: u32,
        keep_bytes: usize,
    ) -> Result<(Vec<u8>, usize), EngineError> {
        let docker = self.client().await?;
        let frames = docker.logs(id, Some(last_lines(tail)));
        self.bounded(self.timeouts.read, collect_log_frames(frames, keep_bytes))
            .await
    }

    /// Follows one container's stdout and stderr from its last `tail` lines, each
    /// prefixed by the Engine's timestamp, until the container stops (the Engine
    /// ends the stream) or the stream is dropped. Opening waits at most the read
    /// timeout for the Engine's answer; after that the stream has no time limit:
    /// whoever reads it bounds it.
    pub async fn follow_logs(
        self: &Arc<Self>,
        id: &str,
        tail: u32,
    ) -> Result<
        futures_util::stream::BoxStream<'static, Result<FollowedFrame, EngineError>>,
        EngineError,
    > {
        let docker = self.client().await?.clone();
        let options = LogsOptionsBuilder::new()
            .stdout(true)
            .stderr(true)
            .follow(true)
            .timestamps(true)
            .tail(&tail.to_string())
            .build();
        let mut frames = docker.logs(id, Some(options)).peekable();
        // The first frame, or the end, or the Engine's refusal: an unknown
        // container is a 404 here, not a stream that ends at once. A quiet
        // container sends nothing yet: that is an open stream.
        let opened =
            tokio::time::timeout(self.timeouts.read, std::pin::Pin::new(&mut frames).peek()).await;
        if let Ok(Some(Err(_))) = opened {
            let error = frames.next().await.and_then(Result::err);
            if let Some(error) = error {
                return Err(self.classify(error));
            }
        }
        let engine = self.clone();
        Ok(frames
            .filter_map(move |frame| {
                let item = match frame {
                    Ok(LogOutput::StdOut { message } | LogOutput::Console { message }) => {
                        Some(Ok(FollowedFrame::Stdout(message)))
                    }
                    Ok(LogOutput::StdErr { message }) => Some(Ok(FollowedFrame::Stderr(message))),
                    Ok(LogOutput::StdIn { .. }) => None,
                    Err(error) => Some(Err(engine.classify(error))),
                };
                std::future::ready(item)
            })
            .boxed())
    }

    /// One container's figures (`GET /containers/{id}/stats?stream=false`),
    /// or None when it is not running. Not `one-shot`: that answers at once but
    /// without the earlier sample a CPU percentage needs; this one waits for
    /// the Engine's next collection (about a second) and gives both.
    pub async fn stats(&self, id: &str) -> Result<Option<Measured>, EngineError> {
        let docker = self.client().await?;
        let options = StatsOptionsBuilder::new()
            .stream(false)
            .one_shot(false)
            .build();
        let first = async {
            let mut samples = docker.stats(id, Some(options));
            samples.next().await.transpose()
        };
        let sample = self.bounded(self.timeouts.read, first).await?;
        Ok(sample.as_ref().and_then(stats::measure))
    }

    /// The local image id for a reference, or None when the image is absent.
    pub async fn image_id(&self, reference: &str) -> Result<Option<String>, EngineError> {
        let docker = self.client().await?;
        match self
            .bounded(self.timeouts.read, docker.inspect_image(reference))
            .await
        {
            Ok(image) => Ok(image.id),
            Err(EngineError::NotFound(_)) => Ok(None),
            Err(other) => Err(other),
        }
    }

    /// The local image a reference names: its id and the `repo@digest`s it was
    /// pulled or pushed with (none for an image built or loaded here), or None
    /// when there is no such image.
    pub async fn local_image(&self, reference: &str) -> Result<Option<LocalImage>, EngineError> {
        let docker = self.client().await?;
        match self
            .bounded(self.timeouts.read, docker.inspect_image(reference))
            .await
        {
            Ok(image) => Ok(Some(LocalImage {
                id: image.id.unwrap_or_default(),
                repo_digests: image.repo_digests.unwrap_or_default(),
            })),
            Err(EngineError::NotFound(_)) => Ok(None),
            Err(other) => Err(other),
        }
    }

    /// The digest the registry holds for `reference` now (`GET
    /// /distribution/{name}/json`: the Engine asks the registry with its own
    /// credentials; nothing is pulled or stored).
    pub async fn registry_digest(&self, reference: &str) -> Result<String, EngineError> {
        let docker = self.client().await?;
        let inspect = self
            .bounded(
                self.timeouts.read,
                docker.inspect_registry_image(reference, None),
            )
            .await?;
        inspect
            .descriptor
            .digest
            .filter(|d| d.starts_with("sha256:"))
            .ok_or_else(|| EngineError::Failed("the registry answered without a digest".into()))
    }

    /// Pulls `repository:tag`; an error inside the Engine's 200 stream is a failure.
    pub async fn pull(&self, repository: &str, tag: &str) -> Result<(), EngineError> {
        let docker = self.client().await?;
        let options = CreateImageOptionsBuilder::new()
            .from_image(repository)
            .tag(tag)
            .build();
        let pull = async {
            let mut stream = docker.create_image(Some(options), None, None);
            while let Some(progress) = stream.next().await {
                let progress = progress?;
                if let Some(detail) = progress.error_detail {
                    return Err(BollardError::DockerStreamError {
                        error: detail.message.unwrap_or_else(|| "pull failed".into()),
                    });
                }
            }
            Ok(())
        };
        self.bounded(self.timeouts.write, pull).await
    }
}

/// What a person is told when the Engine is no Swarm manager.
fn not_swarm_words(engine_message: &str) -> String {
    if engine_message.contains("Worker nodes") {
        "this Docker Engine is a Swarm worker, not a manager: the swarm_* tools need docker-mcp pointed at a manager node's Engine".into()
    } else {
        "this Docker Engine is not part of a Swarm (`docker swarm init` or `docker swarm join` makes it one); the swarm_* tools need a Swarm manager".into()
    }
}

/// Reads a log's frames (a container's or a Swarm service's) into a [`LogTail`]:
/// memory stays bounded while the result still ends with the newest lines.
async fn collect_log_frames(
    frames: impl Stream<Item = Result<LogOutput, BollardError>>,
    keep_bytes: usize,
) -> Result<(Vec<u8>, usize), BollardError> {
    let mut frames = std::pin::pin!(frames);
    let mut tail = LogTail::new(keep_bytes);
    while let Some(frame) = frames.next().await {
        match frame? {
            LogOutput::StdOut { message }
            | LogOutput::StdErr { message }
            | LogOutput::Console { message } => tail.push(&message),
            LogOutput::StdIn { .. } => {}
        }
    }
    Ok(tail.finish())
}

/// `/v1.41` for an Engine speaking 1.41; never above what bollard's models know.
fn negotiated_prefix(engine_api: Option<&str>) -> String {
    let ours = bollard::API_DEFAULT_VERSION;
    let ours = (ours.major_version, ours.minor_version);
    let theirs = engine_api.and_then(|v| {
        let (major, minor) = v.split_once('.')?;
        Some((major.parse::<usize>().ok()?, minor.parse::<usize>().ok()?))
    });
    let (major, minor) = theirs.map_or(ours, |t| t.min(ours));
    format!("/v{major}.{minor}")
}

/// A logs request for the last `tail` lines of stdout and stderr (a
/// container's or a Swarm service's).
pub(crate) fn last_lines(tail: u32) -> bollard::query_parameters::LogsOptions {
    LogsOptionsBuilder::new()
        .stdout(true)
        .stderr(true)
        .tail(&tail.to_string())
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_health_and_exit_code_from_status_text() {
        assert_eq!(
            health_from_status("Up 3 minutes (unhealthy)").as_deref(),
            Some("unhealthy")
        );
        assert_eq!(
            health_from_status("Up 1 second (health: starting)").as_deref(),
            Some("starting")
        );
        assert_eq!(health_from_status("Up 2 hours").as_deref(), None);
        assert_eq!(exit_code_from_status("Exited (3) 5 seconds ago"), Some(3));
        assert_eq!(exit_code_from_status("Up 2 hours"), None);
    }

    #[test]
    fn negotiates_down_to_the_engine_and_never_above_bollard() {
        assert_eq!(negotiated_prefix(Some("1.41")), "/v1.41");
        assert_eq!(negotiated_prefix(Some("9.99")), {
            let v = bollard::API_DEFAULT_VERSION;
            format!("/v{}.{}", v.major_version, v.minor_version)
        });
        assert!(negotiated_prefix(Some("garbage")).starts_with("/v1."));
    }

    #[tokio::test]
    async fn refuses_an_endpoint_outside_the_allowlist_without_sending_it() {
        // A socket that does not exist: an allowlisted call reports the engine as
        // unreachable, a refused one never gets that far.
        let engine = Engine::new(
            EngineAddress::Unix("/nonexistent/docker.sock".into()),
            EngineTimeouts::default(),
        );
        engine.api_prefix.set("/v1.41".into()).unwrap();
        let refused = engine
            .docker
            .remove_container("sonarr", None)
            .await
            .map_err(|e| engine.classify(e));
        assert!(
            matches!(&refused, Err(EngineError::Refused(m)) if m.contains("DELETE /v1.41/containers/sonarr")),
            "{refused:?}"
        );
        let unreachable = engine.list_containers(true, None).await;
        assert!(
            matches!(&unreachable, Err(EngineError::Unavailable { reason, .. }) if reason.contains("No such file")),
            "{unreachable:?}"
        );
    }
}
