//! The last hour of each container's CPU and memory, for the Containers page.
//!
//! Sampled only when a signed-in page asks, and at most once per interval
//! whatever the number of tabs and people: the first request of an interval
//! runs one `compose_stats` round through the gateway (one Engine stats call
//! per running container, bounded by docker-mcp), the others get the history
//! as it is. With no page open, nothing runs at all.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ops_core::contract::stats::{ContainerStats, StackStats, Unavailable};
use serde::Serialize;

/// One sample per this long at most, shared by every page.
pub(crate) const DEFAULT_INTERVAL: Duration = Duration::from_secs(15);
/// How far back the history goes.
pub(crate) const WINDOW: Duration = Duration::from_secs(3600);
/// Containers followed at most (a Pi's stack has a few dozen).
const MAX_CONTAINERS: usize = 100;

/// One moment of one container.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Point {
    at_ms: i64,
    cpu: Option<f32>,
    memory: Option<u64>,
}

/// The figures of the last round and the history of each container in it.
#[derive(Debug, Default)]
struct History {
    /// When the last round ended (a failed one too: no retry before the interval).
    last_round: Option<Instant>,
    rounds: u64,
    sampled_at_ms: Option<i64>,
    latest: Option<StackStats>,
    /// Why the last round gave nothing, in plain words.
    warning: Option<String>,
    series: BTreeMap<String, VecDeque<Point>>,
}

impl History {
    fn due(&self, now: Instant, interval: Duration) -> bool {
        self.last_round
            .is_none_or(|last| now.saturating_duration_since(last) >= interval)
    }

    /// Adds a round's figures; containers not in it are dropped with their
    /// history (stopped or removed), points older than the window go.
    fn record(&mut self, at_ms: i64, stats: StackStats, points_per_container: usize) {
        let oldest = at_ms.saturating_sub(WINDOW.as_millis() as i64);
        self.series
            .retain(|name, _| stats.containers.iter().any(|c| &c.name == name));
        for container in stats.containers.iter() {
            if !self.series.contains_key(&container.name) && self.series.len() >= MAX_CONTAINERS {
                continue;
            }
            let points = self.series.entry(container.name.clone()).or_default();
            points.push_back(Point {
                at_ms,
                cpu: container.cpu_percent.map(|c| c as f32),
                memory: container.memory_used,
            });
            while points.len() > points_per_container
                || points.front().is_some_and(|p| p.at_ms < oldest)
            {
                points.pop_front();
            }
        }
        self.sampled_at_ms = Some(at_ms);
        self.latest = Some(stats);
        self.warning = None;
    }
}

/// The shared history and the rule of when to sample.
pub(crate) struct Resources {
    interval: Duration,
    history: Mutex<History>,
    /// Held while a round runs: one round at a time, whoever asks.
    round: tokio::sync::Mutex<()>,
}

/// What the page is given: the last figures and, per container, the history.
#[derive(Debug, Serialize)]
pub(crate) struct Snapshot {
    pub(crate) interval_seconds: u64,
    pub(crate) window_seconds: u64,
    /// Rounds run since pi-health started: one per interval at most.
    pub(crate) rounds: u64,
    /// When the figures were read (ms since the epoch), if ever.
    pub(crate) sampled_at: Option<i64>,
    /// A round is running for another page: figures come with the next refresh.
    pub(crate) measuring: bool,
    pub(crate) memory_accounting_missing: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) memory_hint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) warning: Option<String>,
    pub(crate) containers: Vec<ContainerView>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) unavailable: Vec<Unavailable>,
}

#[derive(Debug, Serialize)]
pub(crate) struct ContainerView {
    #[serde(flatten)]
    pub(crate) now: ContainerStats,
    pub(crate) history: Series,
}

/// A container's history as three arrays of one length, oldest first:
/// seconds before `sampled_at`, CPU % and memory bytes (null when unknown).
#[derive(Debug, Default, Serialize, PartialEq)]
pub(crate) struct Series {
    pub(crate) ago: Vec<u32>,
    pub(crate) cpu: Vec<Option<f32>>,
    pub(crate) memory: Vec<Option<u64>>,
}

impl Resources {
    pub(crate) fn new(interval: Duration) -> Self {
        Self {
            interval: interval.max(Duration::from_secs(1)),
            history: Mutex::new(History::default()),
            round: tokio::sync::Mutex::new(()),
        }
    }

    /// The history, after one round of `read` when a round is due and no
    /// other is running. `read` gives compose_stats' figures or a warning.
    pub(crate) async fn snapshot<F, Fut>(&self, read: F) -> Snapshot
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<StackStats, String>>,
    {
        let mut measuring = false;
        if self.lock().due(Instant::now(), self.interval) {
            match self.round.try_lock() {
                // Asked again now that the lock is ours: another page's round may just have ended.
                Ok(_running) if self.lock().due(Instant::now(), self.interval) => {
                    let result = read().await;
                    let at_ms = now_ms();
                    let mut history = self.lock();
                    history.rounds += 1;
                    history.last_round = Some(Instant::now());
                    match result {
                        Ok(stats) => history.record(at_ms, stats, self.points_per_container()),
                        Err(warning) => history.warning = Some(warning),
                    }
                }
                Ok(_) => {}
                Err(_) => measuring = true,
            }
        }
        self.view(measuring)
    }

    fn points_per_container(&self) -> usize {
        (WINDOW.as_secs() / self.interval.as_secs().max(1)) as usize + 1
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, History> {
        self.history.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn view(&self, measuring: bool) -> Snapshot {
        let history = self.lock();
        let sampled_at = history.sampled_at_ms.unwrap_or(0);
        let latest = history.latest.as_ref();
        let containers = latest
            .map(|stats| stats.containers.as_slice())
            .unwrap_or_default()
            .iter()
            .map(|now| {
                let mut series = Series::default();
                for point in history.series.get(&now.name).into_iter().flatten() {
                    let ago = sampled_at.saturating_sub(point.at_ms).max(0) / 1000;
                    series.ago.push(u32::try_from(ago).unwrap_or(u32::MAX));
                    series
                        .cpu
                        .push(point.cpu.map(|c| (c * 10.0).round() / 10.0));
                    series.memory.push(point.memory);
                }
                ContainerView {
                    now: now.clone(),
                    history: series,
                }
            })
            .collect();
        Snapshot {
            interval_seconds: self.interval.as_secs(),
            window_seconds: WINDOW.as_secs(),
            rounds: history.rounds,
            sampled_at: history.sampled_at_ms,
            measuring,
            memory_accounting_missing: latest.is_some_and(|s| s.memory_accounting_missing),
            memory_hint: latest.and_then(|s| s.memory_hint.clone()),
            warning: history.warning.clone(),
            containers,
            unavailable: latest.map(|s| s.unavailable.clone()).unwrap_or_default(),
        }
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn container(name: &str, cpu: f64, memory: Option<u64>) -> ContainerStats {
        ContainerStats {
            service: name.into(),
            name: name.into(),
            cpu_percent: Some(cpu),
            memory_used: memory,
            memory_limit: memory.map(|_| 1 << 30),
            memory_percent: None,
            net_rx_bytes: 0,
            net_tx_bytes: 0,
            block_read_bytes: 0,
            block_write_bytes: 0,
        }
    }

    fn stack(containers: Vec<ContainerStats>) -> StackStats {
        StackStats {
            project: "arr".into(),
            memory_accounting_missing: ops_core::contract::stats::memory_accounting_missing(
                &containers,
            ),
            memory_hint: None,
            containers,
            unavailable: Vec::new(),
        }
    }

    #[tokio::test]
    async fn pages_asking_within_the_interval_share_one_round() {
        let resources = Resources::new(Duration::from_secs(3600));
        let rounds = AtomicUsize::new(0);
        let read = || async {
            rounds.fetch_add(1, Ordering::SeqCst);
            Ok(stack(vec![container("sonarr", 2.0, Some(100))]))
        };
        let first = resources.snapshot(read).await;
        let second = resources.snapshot(read).await;
        let third = resources.snapshot(read).await;
        assert_eq!(rounds.load(Ordering::SeqCst), 1);
        assert_eq!((first.rounds, second.rounds, third.rounds), (1, 1, 1));
        assert_eq!(first.sampled_at, third.sampled_at);
        assert_eq!(third.containers.len(), 1);
        assert_eq!(third.containers[0].history.cpu, vec![Some(2.0)]);
    }

    #[tokio::test]
    async fn a_page_asking_while_a_round_runs_does_not_start_another() {
        let resources = Resources::new(Duration::from_secs(3600));
        let rounds = AtomicUsize::new(0);
        let (release, wait) = tokio::sync::oneshot::channel::<()>();
        let slow = resources.snapshot(|| async {
            rounds.fetch_add(1, Ordering::SeqCst);
            let _ = wait.await;
            Ok(stack(vec![container("sonarr", 1.0, Some(1))]))
        });
        let other = async {
            // Runs once the slow round holds the lock (it is polled first).
            let snapshot = resources
                .snapshot(|| async {
                    rounds.fetch_add(1, Ordering::SeqCst);
                    Ok(stack(Vec::new()))
                })
                .await;
            let _ = release.send(());
            snapshot
        };
        let (slow, other) = tokio::join!(slow, other);
        assert_eq!(rounds.load(Ordering::SeqCst), 1);
        assert!(other.measuring && other.containers.is_empty());
        assert_eq!(slow.containers.len(), 1);
    }

    #[tokio::test]
    async fn a_due_round_runs_again_and_a_failure_keeps_the_history() {
        // An interval of zero is raised to one second: a round is due only
        // when the last one is a second old, so mark it old by hand.
        let resources = Resources::new(Duration::ZERO);
        let age = |r: &Resources| {
            r.lock().last_round = Instant::now().checked_sub(Duration::from_secs(2));
        };
        resources
            .snapshot(|| async { Ok(stack(vec![container("a", 1.0, Some(10))])) })
            .await;
        age(&resources);
        let failed = resources
            .snapshot(|| async { Err("the gateway is not answering".to_owned()) })
            .await;
        assert_eq!(failed.rounds, 2);
        assert_eq!(
            failed.warning.as_deref(),
            Some("the gateway is not answering")
        );
        assert_eq!(failed.containers[0].history.memory, vec![Some(10)]);
        age(&resources);
        let back = resources
            .snapshot(|| async { Ok(stack(vec![container("a", 3.0, Some(20))])) })
            .await;
        assert_eq!(back.warning, None);
        assert_eq!(back.containers[0].history.memory, vec![Some(10), Some(20)]);
    }

    #[test]
    fn history_is_bounded_and_follows_the_containers_that_exist() {
        let mut history = History::default();
        let minute = 60_000;
        for i in 0..100 {
            history.record(
                i * minute,
                stack(vec![
                    container("a", 1.0, Some(1)),
                    container("b", 1.0, None),
                ]),
                10,
            );
        }
        // At most 10 points each.
        assert_eq!(history.series["a"].len(), 10);
        // b disappears: its history goes with it; c appears.
        history.record(
            100 * minute,
            stack(vec![
                container("a", 1.0, Some(1)),
                container("c", 1.0, Some(1)),
            ]),
            1000,
        );
        assert!(!history.series.contains_key("b"));
        assert_eq!(history.series["c"].len(), 1);
        // Points older than the window go, whatever the capacity.
        history.record(
            200 * minute,
            stack(vec![container("a", 1.0, Some(1))]),
            1000,
        );
        assert!(
            history.series["a"]
                .iter()
                .all(|p| p.at_ms >= 200 * minute - WINDOW.as_millis() as i64)
        );
        // No more containers than the cap.
        let many = (0..MAX_CONTAINERS + 20)
            .map(|i| container(&format!("c{i}"), 0.0, Some(1)))
            .collect();
        history.record(300 * minute, stack(many), 10);
        assert_eq!(history.series.len(), MAX_CONTAINERS);
    }

    #[tokio::test]
    async fn missing_memory_accounting_comes_with_the_hint_not_zeros() {
        let resources = Resources::new(DEFAULT_INTERVAL);
        let snapshot = resources
            .snapshot(|| async {
                let mut stats = stack(vec![container("sonarr", 1.0, None)]);
                stats.memory_hint = Some("add cgroup_enable=memory".into());
                Ok(stats)
            })
            .await;
        assert!(snapshot.memory_accounting_missing);
        assert!(
            snapshot
                .memory_hint
                .unwrap()
                .contains("cgroup_enable=memory")
        );
        let wire = serde_json::to_value(&snapshot.containers[0]).unwrap();
        assert!(wire.get("memory_used").is_none(), "{wire}");
        assert_eq!(wire["history"]["memory"], serde_json::json!([null]));
    }
}
