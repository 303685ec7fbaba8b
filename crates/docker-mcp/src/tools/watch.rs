//! The stack's services as they change (`POST /streams/compose_events`), one
//! [`ServiceEvent`] per NDJSON line: every service's state first, then each
//! change of a verdict, of the running state or of the health.
//!
//! Driven by the Engine's event stream that [`crate::engine::LiveContainers`]
//! already follows: a change there wakes the watcher, which reads the services
//! from memory (compose_ps' own reading, no Engine call). A slow tick catches
//! what time alone changes (a crash loop ends when its deaths leave the
//! window). The gateway holds one such stream for its notifications.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use ops_core::contract::diagnosis::{RECENT_WINDOW_SECONDS, Verdict};
use ops_core::contract::service_events::{
    AUTOHEAL_LABEL, MAX_SUMMARY_BYTES, ServiceChange, ServiceEvent,
};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::DockerTools;
use super::ps::{ServiceState, compose_ps};
use crate::error::ToolError;
use crate::text::head_bytes;
use crate::verdict::exit_words;

/// Watchers at once (the gateway holds one; a few more for a restart overlap).
pub const MAX_WATCHERS: usize = 4;
/// Changes close together are read once: a restart is a die and a start.
const SETTLE: Duration = Duration::from_millis(500);
/// Read again this often even without an event: verdicts that age (a crash
/// loop whose deaths leave the window) change with time alone.
const TICK: Duration = Duration::from_secs(30);
/// Events waiting for the reader.
const EVENTS_BUFFERED: usize = 64;

/// What a change is measured on, per service.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    verdict: Verdict,
    running: bool,
    health: Option<String>,
}

impl DockerTools {
    /// Opens the stream; the stack must be configured (a refusal is an error,
    /// not an empty stream). Arguments: none, or the tool's `file`.
    pub async fn watch_services(
        self: &Arc<Self>,
        args: Value,
        shutdown: CancellationToken,
    ) -> Result<mpsc::Receiver<Vec<u8>>, ToolError> {
        match &args {
            Value::Null => {}
            Value::Object(map) if map.keys().all(|k| k == "file") => {}
            _ => {
                return Err(ToolError::BadArguments(
                    "compose_events takes no arguments but the stack's `file`".into(),
                ));
            }
        }
        let project = self.project()?;
        if let Some(file) = args.get("file").and_then(Value::as_str)
            && std::path::Path::new(file) != project.file
        {
            return Err(ToolError::BadArguments(format!(
                "file must be the stack's compose file, {}",
                project.file.display()
            )));
        }
        let permit = self
            .watchers
            .clone()
            .try_acquire_owned()
            .map_err(|_| ToolError::TooManyStreams(MAX_WATCHERS))?;
        // The opening states are read before the answer: an Engine that does
        // not answer is an error now, not a silent stream.
        let first = self.services_now().await?;
        let (events, receiver) = mpsc::channel(EVENTS_BUFFERED);
        let tools = Arc::clone(self);
        tokio::spawn(async move {
            pump(tools, first, events, shutdown).await;
            drop(permit);
        });
        Ok(receiver)
    }

    async fn services_now(&self) -> Result<Vec<ServiceState>, ToolError> {
        let project = self.project()?;
        Ok(compose_ps(self, &project)
            .await?
            .services
            .into_iter()
            .filter(|s| s.declared)
            .collect())
    }
}

/// Sends the opening states, then each change, until the reader leaves or
/// docker-mcp shuts down.
async fn pump(
    tools: Arc<DockerTools>,
    first: Vec<ServiceState>,
    events: mpsc::Sender<Vec<u8>>,
    shutdown: CancellationToken,
) {
    let mut changes = tools.containers.watch_changes();
    changes.mark_unchanged();
    let mut seen: BTreeMap<String, Seen> = BTreeMap::new();
    for service in first {
        let event = change(&tools, &service, None, true);
        seen.insert(service.service.clone(), seen_of(&service));
        if events.send(event.to_ndjson()).await.is_err() {
            return;
        }
    }
    let reason = loop {
        tokio::select! {
            changed = changes.changed() => {
                if changed.is_err() {
                    break "docker-mcp stopped following the Engine".to_owned();
                }
                tokio::time::sleep(SETTLE).await;
                changes.mark_unchanged();
            }
            () = tokio::time::sleep(TICK) => {}
            () = events.closed() => return,
            () = shutdown.cancelled() => break "docker-mcp is shutting down".to_owned(),
        }
        let services = match tools.services_now().await {
            Ok(services) => services,
            Err(error) => {
                // The Engine went away: say nothing until it is back; the
                // gateway learns of an unreachable Engine from /health.
                tracing::debug!(%error, "compose_events: services not read");
                continue;
            }
        };
        for service in services {
            let now = seen_of(&service);
            let before = seen.get(&service.service).cloned();
            if before.as_ref() == Some(&now) {
                continue;
            }
            let event = change(&tools, &service, before.map(|b| b.verdict), false);
            seen.insert(service.service.clone(), now);
            if events.send(event.to_ndjson()).await.is_err() {
                return;
            }
        }
    };
    let _ = events.send(ServiceEvent::End { reason }.to_ndjson()).await;
}

fn seen_of(service: &ServiceState) -> Seen {
    Seen {
        verdict: service.verdict,
        running: service.containers.iter().any(|c| c.container.is_running()),
        health: service.health.clone(),
    }
}

fn change(
    tools: &DockerTools,
    service: &ServiceState,
    previous: Option<Verdict>,
    initial: bool,
) -> ServiceEvent {
    let seen = seen_of(service);
    ServiceEvent::State(ServiceChange {
        service: service.service.clone(),
        verdict: seen.verdict,
        previous,
        running: seen.running,
        health: seen.health,
        summary: head_bytes(&summary(tools, service), MAX_SUMMARY_BYTES),
        initial,
        autoheal_label: service
            .containers
            .iter()
            .any(|c| c.container.labels.get(AUTOHEAL_LABEL).map(String::as_str) == Some("true")),
    })
}

/// One sentence about the service from what is in memory (no logs: the
/// notification links to the diagnosis for the evidence).
fn summary(tools: &DockerTools, service: &ServiceState) -> String {
    let name = &service.service;
    let worst = service
        .containers
        .iter()
        .find(|c| c.crash_loop)
        .or_else(|| {
            service
                .containers
                .iter()
                .find(|c| c.container.exit_code.is_some_and(|code| code != 0))
        })
        .or(service.containers.first());
    // A crash-looper between two deaths runs: its last exit code is in the events.
    let recent = worst.map(|c| {
        tools
            .containers
            .recent_activity(&c.container.id, c.container.is_running())
    });
    let last_death = recent.as_ref().and_then(|r| {
        r.events
            .iter()
            .rev()
            .find_map(|e| e.exit_code.filter(|_| e.kind == "die"))
    });
    let exit = worst
        .and_then(|c| c.container.exit_code.filter(|_| !c.container.is_running()))
        .or(last_death)
        .map(exit_words);
    match service.verdict {
        Verdict::CrashLoop => format!(
            "{name} keeps crashing: it died {} times in the last {} minutes{}. A restart will not help.",
            recent.as_ref().map_or(0, |r| r.deaths),
            RECENT_WINDOW_SECONDS / 60,
            exit.map(|e| format!(", last with {e}")).unwrap_or_default()
        ),
        Verdict::OomKilled => format!(
            "{name} was killed because it ran out of memory ({}).",
            exit.unwrap_or_else(|| "exit code unknown".into())
        ),
        Verdict::ExitedError => format!(
            "{name} is not running: it exited with {}.",
            exit.unwrap_or_else(|| "an error".into())
        ),
        Verdict::UnhealthyProbe => format!("{name} is running but its healthcheck fails."),
        Verdict::Restarting => format!("{name} is being restarted by the Engine."),
        Verdict::Dead => format!("{name} is dead: the Engine could not stop or remove it cleanly."),
        Verdict::Paused => format!("{name} is paused."),
        Verdict::NotCreated => format!("{name} has no container."),
        Verdict::Stopped => format!("{name} is stopped."),
        Verdict::Starting => format!("{name} is starting; its healthcheck has not decided yet."),
        Verdict::Finished => format!("{name} ran and finished."),
        Verdict::Healthy if service.health.is_some() => {
            format!("{name} is running and healthy.")
        }
        Verdict::Healthy => format!("{name} is running."),
    }
}
