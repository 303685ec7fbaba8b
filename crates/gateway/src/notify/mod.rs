//! Notifications: events about the stack (a service unhealthy, crash-looping,
//! recovered; an approval waiting; ...) sent to ntfy, Gotify, a webhook or an
//! MQTT broker (with Home Assistant discovery), as `notify.yaml` says.
//!
//! [`Notifier::send`] never blocks and never fails its caller: it filters
//! (subscribed kinds, one alert per (service, kind) within `repeat_after`, a
//! recovery only for an open alert), redacts and bounds the text, rate-limits
//! per target, and queues per target (bounded: a full queue drops and counts).
//! Each target has its own worker, so a slow or down target never delays
//! another; every attempt has a timeout, and failures are retried a bounded
//! number of times with backoff. What happened is counted in the gateway's
//! `/metrics`, logged (never a token), and kept in [`Notifier::recent`].

pub mod config;
mod filter;
mod http;
mod mqtt;
mod text;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use redact::Redactor;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

pub use config::{
    HostThresholds, NotifyConfig, NotifyConfigHandle, Target, TargetKind, topic_segment,
};

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Unhealthy,
    ExitedError,
    CrashLoop,
    OomKilled,
    Recovered,
    ApprovalWaiting,
    UpdateAvailable,
    HostTemperature,
    HostDisk,
    /// Auto-heal gave up on a service.
    GaveUp,
}

impl EventKind {
    pub const ALL: &'static [EventKind] = &[
        Self::Unhealthy,
        Self::ExitedError,
        Self::CrashLoop,
        Self::OomKilled,
        Self::Recovered,
        Self::ApprovalWaiting,
        Self::UpdateAvailable,
        Self::HostTemperature,
        Self::HostDisk,
        Self::GaveUp,
    ];

    /// The name on the wire and in `notify.yaml`'s `events:`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unhealthy => "unhealthy",
            Self::ExitedError => "exited_error",
            Self::CrashLoop => "crash_loop",
            Self::OomKilled => "oom_killed",
            Self::Recovered => "recovered",
            Self::ApprovalWaiting => "approval_waiting",
            Self::UpdateAvailable => "update_available",
            Self::HostTemperature => "host_temperature",
            Self::HostDisk => "host_disk",
            Self::GaveUp => "gave_up",
        }
    }

    /// An alert about a service stays open until a `Recovered` for it.
    pub fn opens_alert(self) -> bool {
        matches!(
            self,
            Self::Unhealthy | Self::ExitedError | Self::CrashLoop | Self::OomKilled | Self::GaveUp
        )
    }
}

/// One thing to tell people about.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub kind: EventKind,
    pub service: Option<String>,
    pub title: String,
    pub message: String,
    /// Absolute (http/https), or a path resolved against `link_base` (pi-health).
    pub link: Option<String>,
}

/// The outcome of one event at one target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Delivery {
    pub target: String,
    pub kind: EventKind,
    pub service: Option<String>,
    pub ok: bool,
    /// Why it failed or was dropped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Attempts made (0: dropped before sending).
    pub attempts: u32,
    /// RFC 3339, UTC.
    pub at: String,
}

/// The counters in the gateway's `/metrics` (see [`crate::metrics`]).
#[derive(Clone, Default)]
pub struct NotifyMetrics {
    pub sent: Family<TargetLabels, Counter>,
    pub failed: Family<TargetLabels, Counter>,
    pub dropped: Family<DropLabels, Counter>,
    /// Events not sent anywhere: a repeat within repeat_after, a recovery
    /// with no open alert, a kind not in `events:`.
    pub suppressed: Family<ReasonLabels, Counter>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TargetLabels {
    pub target: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DropLabels {
    pub target: String,
    /// `rate_limited` or `queue_full`.
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    pub reason: String,
}

/// Bounds and timings; [`Tuning::default`] is what the gateway uses.
#[derive(Debug, Clone)]
pub struct Tuning {
    /// The waits before the 2nd, 3rd, ... attempt (so attempts = len + 1).
    pub backoff: Vec<Duration>,
    /// Events waiting per target.
    pub queue: usize,
    /// Deliveries kept for [`Notifier::recent`].
    pub recent: usize,
    /// MQTT: the waits between reconnection attempts grow up to this.
    pub mqtt_reconnect_max: Duration,
    /// Besides at every event, the configuration is looked at this often, so an
    /// edit that adds or removes a target applies without waiting for an event.
    pub resync_every: Duration,
}

impl Default for Tuning {
    fn default() -> Self {
        Self {
            backoff: vec![Duration::from_secs(1), Duration::from_secs(4)],
            queue: 64,
            recent: 200,
            mqtt_reconnect_max: Duration::from_secs(60),
            resync_every: Duration::from_secs(5),
        }
    }
}

/// Title and message bounds, in bytes (cut on a character boundary).
pub const MAX_TITLE_BYTES: usize = 200;
pub const MAX_MESSAGE_BYTES: usize = 2048;

type ConfigSource = Box<dyn Fn() -> Arc<NotifyConfig> + Send + Sync>;
type RedactorSource = Box<dyn Fn() -> Arc<Redactor> + Send + Sync>;
type RefusedSource = Box<dyn Fn() -> Option<String> + Send + Sync>;

/// Sends notifications; cheap to clone (one shared state).
#[derive(Clone)]
pub struct Notifier {
    inner: Arc<Inner>,
}

struct Inner {
    config: ConfigSource,
    /// Why the last edit of notify.yaml was refused, when it was (for `/health`).
    refused_edit: std::sync::OnceLock<RefusedSource>,
    redactor: RedactorSource,
    tuning: Tuning,
    shared: Arc<Shared>,
    state: Mutex<FrontState>,
    runtime: Option<tokio::runtime::Handle>,
}

/// What the workers write to.
struct Shared {
    metrics: NotifyMetrics,
    recent: Mutex<VecDeque<Delivery>>,
    recent_cap: usize,
}

impl Shared {
    fn record(&self, delivery: Delivery) {
        let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        recent.push_front(delivery);
        recent.truncate(self.recent_cap);
    }
}

struct FrontState {
    filter: filter::Filter,
    workers: Vec<Worker>,
    /// The last state of each service, for MQTT workers started later.
    services: std::collections::BTreeMap<String, ServiceState>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ServiceState {
    pub running: bool,
    pub health: String,
}

/// An event ready to go: redacted, bounded, its link resolved.
#[derive(Debug, Clone)]
pub(crate) struct Outgoing {
    pub kind: EventKind,
    pub service: Option<String>,
    pub title: String,
    pub message: String,
    pub link: Option<String>,
    pub at: String,
}

pub(crate) enum Job {
    Event(Outgoing),
    State {
        service: String,
        state: ServiceState,
    },
}

struct Worker {
    target: Target,
    queue: mpsc::Sender<Job>,
    limiter: filter::RateLimiter,
    /// MQTT: the task, so a replacement waits for it to say `offline` and leave
    /// before it says `online` (else the old `offline` could come last).
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Notifier {
    /// Starts the delivery workers (on the current Tokio runtime). `config` is
    /// called on every event, so a reloaded `notify.yaml` takes effect at the
    /// next one (pass `move || handle.current()` for a [`NotifyConfigHandle`]);
    /// `redactor` likewise (the gateway's, which follows its policy).
    pub fn start(
        config: impl Fn() -> Arc<NotifyConfig> + Send + Sync + 'static,
        redactor: impl Fn() -> Arc<Redactor> + Send + Sync + 'static,
        metrics: NotifyMetrics,
    ) -> Self {
        Self::start_with(config, redactor, metrics, Tuning::default())
    }

    /// [`Notifier::start`] with other bounds and timings (tests use short ones).
    pub fn start_with(
        config: impl Fn() -> Arc<NotifyConfig> + Send + Sync + 'static,
        redactor: impl Fn() -> Arc<Redactor> + Send + Sync + 'static,
        metrics: NotifyMetrics,
        tuning: Tuning,
    ) -> Self {
        let shared = Arc::new(Shared {
            metrics,
            recent: Mutex::new(VecDeque::new()),
            recent_cap: tuning.recent.max(1),
        });
        let notifier = Self {
            inner: Arc::new(Inner {
                config: Box::new(config),
                refused_edit: std::sync::OnceLock::new(),
                redactor: Box::new(redactor),
                tuning,
                shared,
                state: Mutex::new(FrontState {
                    filter: filter::Filter::default(),
                    workers: Vec::new(),
                    services: Default::default(),
                }),
                runtime: tokio::runtime::Handle::try_current().ok(),
            }),
        };
        // Start the workers now: MQTT connects and announces itself at once.
        let config = (notifier.inner.config)();
        notifier.lock().sync_workers(&notifier.inner, &config);
        if let Some(runtime) = &notifier.inner.runtime {
            let inner = Arc::downgrade(&notifier.inner);
            let every = notifier
                .inner
                .tuning
                .resync_every
                .max(Duration::from_millis(10));
            runtime.spawn(async move {
                let mut tick = tokio::time::interval(every);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                tick.tick().await;
                loop {
                    tick.tick().await;
                    // Ends with the notifier.
                    let Some(inner) = inner.upgrade() else { break };
                    let config = (inner.config)();
                    inner
                        .state
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .sync_workers(&inner, &config);
                }
            });
        }
        notifier
    }

    /// A notifier that sends nothing (no `notify.yaml`).
    pub fn disabled() -> Self {
        Self::start(
            || Arc::new(NotifyConfig::default()),
            || Arc::new(Redactor::policy_only(&[]).unwrap_or_else(|_| unreachable!("no patterns"))),
            NotifyMetrics::default(),
        )
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, FrontState> {
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Never blocks, never fails the caller: filters (subscribed kinds, repeats,
    /// recoveries without an alert), redacts and bounds the text, rate-limits per
    /// target, then queues per target (a full queue drops and counts).
    pub fn send(&self, event: Event) {
        let inner = &self.inner;
        let config = (inner.config)();
        let now = std::time::Instant::now();
        let mut state = self.lock();
        state.sync_workers(inner, &config);
        // Without a target nothing is sent, so nothing is remembered as sent
        // either: a target added later still hears of an alert that is open.
        if state.workers.is_empty() {
            return;
        }
        if let Err(reason) = state.filter.admit(&config, &event, now) {
            tracing::debug!(kind = event.kind.as_str(), service = ?event.service, reason, "notification not sent");
            inner
                .shared
                .metrics
                .suppressed
                .get_or_create(&ReasonLabels {
                    reason: reason.to_owned(),
                })
                .inc();
            return;
        }
        let redactor = (inner.redactor)();
        let outgoing = text::prepare(&event, &redactor, config.link_base.as_ref());
        for worker in &mut state.workers {
            let target = &worker.target.name;
            if !worker.limiter.allow(now) {
                drop_event(
                    &inner.shared,
                    target,
                    &outgoing,
                    "rate_limited",
                    format!(
                        "dropped: over {} a minute for this target",
                        worker.target.rate_per_minute
                    ),
                );
                continue;
            }
            match worker.queue.try_send(Job::Event(outgoing.clone())) {
                Ok(()) => {}
                Err(_) => drop_event(
                    &inner.shared,
                    target,
                    &outgoing,
                    "queue_full",
                    "dropped: the target's queue is full (it is slow or down)".into(),
                ),
            }
        }
    }

    /// The current state of a service, for MQTT / Home Assistant (retained
    /// states and discovery); nothing for the other targets. `health` is
    /// healthy, unhealthy, starting or none.
    pub fn service_state(&self, service: &str, running: bool, health: &str) {
        let inner = &self.inner;
        let config = (inner.config)();
        let mut state = self.lock();
        state.sync_workers(inner, &config);
        let new = ServiceState {
            running,
            health: text::health_word(health).to_owned(),
        };
        if state.services.get(service) == Some(&new) {
            return;
        }
        state.services.insert(service.to_owned(), new.clone());
        for worker in &state.workers {
            if matches!(worker.target.kind, TargetKind::Mqtt(_)) {
                // States are small and the newest wins: a full queue only loses
                // one that a later state (or the reconnect's resend) replaces.
                let _ = worker.queue.try_send(Job::State {
                    service: service.to_owned(),
                    state: new.clone(),
                });
            }
        }
    }

    /// Says where to learn why an edit of notify.yaml was refused (the last
    /// good version stays in force meanwhile); set once.
    pub fn report_refused_edits(
        &self,
        source: impl Fn() -> Option<String> + Send + Sync + 'static,
    ) {
        let _ = self.inner.refused_edit.set(Box::new(source));
    }

    /// Why the last edit of notify.yaml was refused, if it was.
    pub fn refused_edit(&self) -> Option<String> {
        self.inner.refused_edit.get().and_then(|source| source())
    }

    /// The configuration in force (the host checks read their thresholds here).
    pub fn config(&self) -> Arc<NotifyConfig> {
        (self.inner.config)()
    }

    /// The last deliveries (bounded), newest first.
    pub fn recent(&self) -> Vec<Delivery> {
        self.inner
            .shared
            .recent
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .cloned()
            .collect()
    }
}

fn drop_event(shared: &Shared, target: &str, event: &Outgoing, why: &str, reason: String) {
    tracing::warn!(
        target_name = target,
        kind = event.kind.as_str(),
        service = ?event.service,
        "notification {reason}"
    );
    shared
        .metrics
        .dropped
        .get_or_create(&DropLabels {
            target: target.to_owned(),
            reason: why.to_owned(),
        })
        .inc();
    shared.record(Delivery {
        target: target.to_owned(),
        kind: event.kind,
        service: event.service.clone(),
        ok: false,
        reason: Some(reason),
        attempts: 0,
        at: text::now_rfc3339(),
    });
}

impl FrontState {
    /// Makes the workers match the configuration's targets: an unchanged target
    /// keeps its worker; a new or changed one gets a new worker; a worker whose
    /// target is gone ends once its queue is empty (its sender dropped).
    fn sync_workers(&mut self, inner: &Inner, config: &NotifyConfig) {
        if self.workers.len() == config.targets.len()
            && self
                .workers
                .iter()
                .zip(&config.targets)
                .all(|(w, t)| w.target == *t)
        {
            return;
        }
        let mut old = std::mem::take(&mut self.workers);
        // Workers whose target is gone or changed: their queues close when `old`
        // is dropped below; new MQTT workers wait for the old ones to end.
        let mut leaving: Vec<tokio::task::JoinHandle<()>> = Vec::new();
        old.retain_mut(|w| {
            let stays = config.targets.contains(&w.target);
            if !stays && let Some(task) = w.task.take() {
                leaving.push(task);
            }
            stays
        });
        let leaving = Arc::new(tokio::sync::Mutex::new(leaving));
        for target in &config.targets {
            if let Some(i) = old.iter().position(|w| w.target == *target) {
                self.workers.push(old.swap_remove(i));
                continue;
            }
            let Some(runtime) = inner.runtime.clone() else {
                tracing::error!(
                    "notifications cannot start: the notifier was made outside a Tokio runtime"
                );
                return;
            };
            let (tx, rx) = mpsc::channel(inner.tuning.queue.max(1));
            let shared = inner.shared.clone();
            let tuning = inner.tuning.clone();
            let task = match &target.kind {
                TargetKind::Mqtt(mqtt) => {
                    let services = self.services.clone();
                    let run = mqtt::run(
                        target.name.clone(),
                        mqtt.clone(),
                        target.timeout,
                        services,
                        rx,
                        shared,
                        tuning,
                    );
                    let leaving = leaving.clone();
                    Some(runtime.spawn(async move {
                        for task in leaving.lock().await.iter_mut() {
                            let _ = tokio::time::timeout(mqtt::STOP_WITHIN * 2, task).await;
                        }
                        run.await;
                    }))
                }
                _ => {
                    runtime.spawn(http::run(target.clone(), rx, shared, tuning));
                    None
                }
            };
            tracing::info!(target_name = %target.name, kind = target.kind.as_str(), "notification target started");
            self.workers.push(Worker {
                target: target.clone(),
                queue: tx,
                limiter: filter::RateLimiter::new(target.rate_per_minute),
                task,
            });
        }
    }
}

#[cfg(test)]
mod tests;
