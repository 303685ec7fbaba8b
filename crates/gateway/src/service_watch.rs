//! The stack's services as they change, for the notifications: the gateway
//! holds one `compose_events` stream open to the docker-mcp that serves
//! `compose_ps` (docker-mcp derives it from the Engine's event stream; nothing
//! here polls), and turns each change into the state the notifier keeps (Home
//! Assistant's sensors) and, when a service turns bad or recovers, an event.
//!
//! Reconnects with a backoff when the stream breaks; what a service was before
//! is kept across reconnections, so a change while disconnected is still told.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use ops_core::contract::diagnosis::Verdict;
use ops_core::contract::log_stream::LineSplitter;
use ops_core::contract::service_events::{MAX_EVENT_BYTES, ServiceChange, ServiceEvent};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::alerts;
use crate::autoheal::AutoHealer;
use crate::notify::Notifier;
use crate::pipeline::Gateway;

/// The stream's answer must start within this.
const OPEN_TIMEOUT: Duration = Duration::from_secs(10);
/// docker-mcp says nothing for minutes on a quiet stack, but its stream stays
/// open; past this silence the connection is presumed dead and reopened.
const SILENCE: Duration = Duration::from_secs(15 * 60);
/// Waits between attempts to (re)open the stream, the last repeated.
const BACKOFF: [Duration; 5] = [
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(5),
    Duration::from_secs(15),
    Duration::from_secs(30),
];
/// The tool whose service is the stack's docker-mcp.
const STACK_TOOL: &str = "compose_ps";

/// Follows the services until `shutdown`, telling `notifier` and `healer`.
pub fn spawn(
    gateway: Arc<Gateway>,
    notifier: Notifier,
    healer: Arc<AutoHealer>,
    shutdown: CancellationToken,
) {
    tokio::spawn(async move {
        let mut known: HashMap<String, Verdict> = HashMap::new();
        let mut failures = 0usize;
        loop {
            let followed = tokio::select! {
                followed = follow(&gateway, &notifier, &healer, &mut known) => followed,
                () = shutdown.cancelled() => return,
            };
            match followed {
                Ok(()) => failures = 0,
                Err(error) => {
                    if failures == 0 {
                        tracing::warn!(%error, "service events: not following the stack's services; retrying");
                    } else {
                        tracing::debug!(%error, "service events: still not following");
                    }
                    failures += 1;
                }
            }
            let wait = BACKOFF[failures.min(BACKOFF.len() - 1)];
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = shutdown.cancelled() => return,
            }
        }
    });
}

/// One stream, from opening to its end.
async fn follow(
    gateway: &Gateway,
    notifier: &Notifier,
    healer: &AutoHealer,
    known: &mut HashMap<String, Verdict>,
) -> Result<(), String> {
    let config = gateway.config();
    let service = config
        .tools
        .get(STACK_TOOL)
        .map(|tool| tool.service.clone())
        .ok_or_else(|| format!("no {STACK_TOOL} is registered: nothing to follow"))?;
    let client = gateway
        .service_client(&config, &service)
        .ok_or_else(|| format!("the service {service} has no client"))?;
    let mut response = client
        .stream("compose_events", &json!({}), OPEN_TIMEOUT)
        .await
        .map_err(|e| e.to_string())?;
    let mut split = LineSplitter::new(MAX_EVENT_BYTES);
    loop {
        let chunk = match tokio::time::timeout(SILENCE, response.chunk()).await {
            Err(_) => return Err("no word from docker-mcp for 15 minutes".into()),
            Ok(Err(error)) => return Err(format!("the stream broke: {error}")),
            Ok(Ok(None)) => return Err("docker-mcp ended the stream".into()),
            Ok(Ok(Some(chunk))) => chunk,
        };
        for line in split.push(&chunk) {
            match ServiceEvent::parse(&line)? {
                ServiceEvent::State(change) => {
                    healer.observe(&change);
                    tell(notifier, known, change);
                }
                ServiceEvent::End { reason } => return Err(format!("docker-mcp: {reason}")),
            }
        }
    }
}

fn tell(notifier: &Notifier, known: &mut HashMap<String, Verdict>, change: ServiceChange) {
    notifier.service_state(
        &change.service,
        change.running,
        change.health.as_deref().unwrap_or("none"),
    );
    // An opening state is news against what was known before a reconnection;
    // at the first connection nothing was known: a problem there is told (the
    // gateway started with a service already in trouble), a good state is not.
    let before = if change.initial {
        Some(
            known
                .get(&change.service)
                .copied()
                .unwrap_or(Verdict::NotCreated),
        )
    } else {
        change
            .previous
            .or_else(|| known.get(&change.service).copied())
    };
    known.insert(change.service.clone(), change.verdict);
    if let Some(event) = alerts::service_change(before, &change) {
        notifier.send(event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(verdict: Verdict, initial: bool) -> ServiceChange {
        ServiceChange {
            service: "bazarr".into(),
            verdict,
            previous: None,
            running: true,
            health: None,
            summary: String::new(),
            initial,
            autoheal_label: false,
        }
    }

    #[test]
    fn a_problem_at_the_first_connection_is_news() {
        let first = change(Verdict::UnhealthyProbe, true);
        let before = Some(Verdict::NotCreated);
        assert_eq!(
            alerts::service_change(before, &first).map(|e| e.kind),
            Some(crate::notify::EventKind::Unhealthy)
        );
        // A good state is at most a recovery, which the notifier sends only
        // when an alert about the service is open (none at the first connection).
        assert_eq!(
            alerts::service_change(before, &change(Verdict::Healthy, true)).map(|e| e.kind),
            Some(crate::notify::EventKind::Recovered)
        );
    }

    #[test]
    fn what_was_known_before_a_reconnection_is_kept() {
        let notifier = Notifier::disabled();
        let mut known = HashMap::new();
        tell(&notifier, &mut known, change(Verdict::Healthy, true));
        assert_eq!(known["bazarr"], Verdict::Healthy);
        // The stream reopens: the opening state is compared with what was known.
        tell(&notifier, &mut known, change(Verdict::ExitedError, true));
        assert_eq!(known["bazarr"], Verdict::ExitedError);
    }
}
