//! The stack's services as they change, for the notifications: the gateway
//! holds one `compose_events` stream open to the docker-mcp that serves
//! `compose_ps` (docker-mcp derives it from the Engine's event stream; nothing
//! here polls), and turns each change into the state the notifier keeps (Home
//! Assistant's sensors) and, when a service turns bad or recovers, an event.
//!
//! Reconnects with a backoff when the stream breaks; what a service was before
//! is kept across reconnections, so a change while disconnected is still told.
//!
//! With several hosts (`hosts:` in the registry, as it stands at start) it
//! follows each host's docker-mcp, and every service is named with its host
//! ("sonarr on nas"); auto-heal watches the default host only, the one its
//! restarts go to.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use ops_core::contract::diagnosis::Verdict;
use ops_core::contract::log_stream::LineSplitter;
use ops_core::contract::service_events::{MAX_EVENT_BYTES, ServiceChange, ServiceEvent};
use serde_json::json;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::alerts;
use crate::autoheal::AutoHealer;
use crate::notify::{Event, EventKind, Notifier};
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
/// A recovery is told once the service has stayed well this long.
const RECOVERY_SETTLE: Duration = Duration::from_secs(15);
/// The tool whose service is the stack's docker-mcp.
const STACK_TOOL: &str = "compose_ps";

/// Follows the services until `shutdown`, telling `notifier` and `healer`.
pub fn spawn(
    gateway: Arc<Gateway>,
    notifier: Notifier,
    healer: Arc<AutoHealer>,
    shutdown: CancellationToken,
) {
    let config = gateway.config();
    if config.hosts.is_empty() {
        spawn_one(gateway, notifier, Some(healer), None, shutdown);
        return;
    }
    let default = config.default_host_service();
    for host in config.hosts.iter() {
        let heals = Some(host.service.as_str()) == default;
        spawn_one(
            gateway.clone(),
            notifier.clone(),
            heals.then(|| healer.clone()),
            Some(host.name.clone()),
            shutdown.clone(),
        );
    }
}

/// One follower: of `host`'s docker-mcp, or of the single host's.
fn spawn_one(
    gateway: Arc<Gateway>,
    notifier: Notifier,
    healer: Option<Arc<AutoHealer>>,
    host: Option<String>,
    shutdown: CancellationToken,
) {
    tokio::spawn(async move {
        let mut known: HashMap<String, Verdict> = HashMap::new();
        let mut failures = 0usize;
        let on = host
            .as_deref()
            .map(|h| format!(" on {h}"))
            .unwrap_or_default();
        loop {
            let follower = Follower {
                gateway: &gateway,
                notifier: &notifier,
                healer: healer.as_deref(),
                host: host.as_deref(),
            };
            let followed = tokio::select! {
                followed = follow(&follower, &mut known) => followed,
                () = shutdown.cancelled() => return,
            };
            match followed {
                Ok(()) => failures = 0,
                Err(error) => {
                    if failures == 0 {
                        tracing::warn!(%error, "service events: not following the stack's services{on}; retrying");
                    } else {
                        tracing::debug!(%error, "service events: still not following{on}");
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

/// What one stream tells, and whom.
struct Follower<'a> {
    gateway: &'a Gateway,
    notifier: &'a Notifier,
    healer: Option<&'a AutoHealer>,
    /// Named when there are several hosts.
    host: Option<&'a str>,
}

/// One stream, from opening to its end.
async fn follow(
    follower: &Follower<'_>,
    known: &mut HashMap<String, Verdict>,
) -> Result<(), String> {
    let Follower {
        gateway,
        notifier,
        healer,
        host,
    } = *follower;
    let config = gateway.config();
    let service = match host {
        Some(name) => config
            .hosts
            .get(name)
            .map(|host| host.service.clone())
            .ok_or_else(|| format!("host {name} is no longer in the registry"))?,
        None => config
            .tools
            .get(STACK_TOOL)
            .map(|tool| tool.service.clone())
            .ok_or_else(|| format!("no {STACK_TOOL} is registered: nothing to follow"))?,
    };
    let client = gateway
        .service_client(&config, &service)
        .ok_or_else(|| format!("the service {service} has no client"))?;
    let mut response = client
        .stream("compose_events", &json!({}), OPEN_TIMEOUT)
        .await
        .map_err(|e| e.to_string())?;
    // Said at each (re)connection: a warning about a failed attempt is followed by this.
    match host {
        Some(host) => tracing::info!(%host, "service events: following the stack's services"),
        None => tracing::info!("service events: following the stack's services"),
    }
    let mut split = LineSplitter::new(MAX_EVENT_BYTES);
    let mut recoveries = Recoveries::default();
    loop {
        let next = tokio::select! {
            next = tokio::time::timeout(SILENCE, response.chunk()) => next,
            () = recoveries.next_due() => {
                for event in recoveries.take_due(Instant::now()) {
                    notifier.send(event);
                }
                continue;
            }
        };
        let chunk = match next {
            Err(_) => return Err("no word from docker-mcp for 15 minutes".into()),
            Ok(Err(error)) => return Err(format!("the stream broke: {error}")),
            Ok(Ok(None)) => return Err("docker-mcp ended the stream".into()),
            Ok(Ok(Some(chunk))) => chunk,
        };
        for line in split.push(&chunk) {
            match ServiceEvent::parse(&line)? {
                ServiceEvent::State(change) => {
                    if let Some(healer) = healer {
                        healer.observe(&change);
                    }
                    let well = change.verdict.is_well();
                    let service = change.service.clone();
                    match tell(notifier, known, change, host) {
                        Some(event) if event.kind == EventKind::Recovered => {
                            recoveries.hold(service, event, Instant::now());
                        }
                        Some(event) => {
                            recoveries.drop_for(&service);
                            notifier.send(event);
                        }
                        None if !well => recoveries.drop_for(&service),
                        None => {}
                    }
                }
                ServiceEvent::End { reason } => return Err(format!("docker-mcp: {reason}")),
            }
        }
    }
}

/// Recoveries held for [`RECOVERY_SETTLE`] before they are told: a service
/// that dies again within it (a flapping one) never "recovered", and its
/// alert stays open.
#[derive(Default)]
struct Recoveries {
    held: HashMap<String, (Instant, Event)>,
}

impl Recoveries {
    fn hold(&mut self, service: String, event: Event, now: Instant) {
        self.held.insert(service, (now + RECOVERY_SETTLE, event));
    }

    fn drop_for(&mut self, service: &str) {
        self.held.remove(service);
    }

    /// Waits until the first held recovery is due (forever without one).
    async fn next_due(&self) {
        match self.held.values().map(|(due, _)| *due).min() {
            Some(due) => tokio::time::sleep_until(due).await,
            None => std::future::pending().await,
        }
    }

    fn take_due(&mut self, now: Instant) -> Vec<Event> {
        let due: Vec<String> = self
            .held
            .iter()
            .filter(|(_, (at, _))| *at <= now)
            .map(|(service, _)| service.clone())
            .collect();
        due.into_iter()
            .filter_map(|service| self.held.remove(&service).map(|(_, event)| event))
            .collect()
    }
}

/// Keeps the state for Home Assistant and what is known; the notification the
/// change calls for, if any.
fn tell(
    notifier: &Notifier,
    known: &mut HashMap<String, Verdict>,
    change: ServiceChange,
    host: Option<&str>,
) -> Option<Event> {
    // Home Assistant's sensor of a service on one of several hosts is "sonarr on nas".
    let shown = match host {
        Some(host) => std::borrow::Cow::Owned(format!("{} on {host}", change.service)),
        None => std::borrow::Cow::Borrowed(change.service.as_str()),
    };
    notifier.service_state(
        &shown,
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
    alerts::service_change_on(before, &change, host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_recovery_is_told_only_once_it_held() {
        let event = |service: &str| Event {
            kind: EventKind::Recovered,
            service: Some(service.into()),
            title: format!("{service} recovered"),
            message: String::new(),
            link: None,
        };
        let mut held = Recoveries::default();
        let start = Instant::now();
        held.hold("sonarr".into(), event("sonarr"), start);
        held.hold("bazarr".into(), event("bazarr"), start);
        // bazarr dies again within the settle time: its recovery is dropped.
        held.drop_for("bazarr");
        assert!(held.take_due(start + RECOVERY_SETTLE / 2).is_empty());
        held.next_due().await;
        let told = held.take_due(Instant::now());
        assert_eq!(told.len(), 1);
        assert_eq!(told[0].title, "sonarr recovered");
        assert!(Instant::now() >= start + RECOVERY_SETTLE);
        assert!(held.take_due(Instant::now()).is_empty());
    }

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
        let _ = tell(&notifier, &mut known, change(Verdict::Healthy, true), None);
        assert_eq!(known["bazarr"], Verdict::Healthy);
        // The stream reopens: the opening state is compared with what was known.
        let told = tell(
            &notifier,
            &mut known,
            change(Verdict::ExitedError, true),
            None,
        );
        assert_eq!(told.map(|e| e.kind), Some(EventKind::ExitedError));
        assert_eq!(known["bazarr"], Verdict::ExitedError);
    }
}
