//! The containers, kept in memory and current by the Engine's event stream,
//! so listing them costs no Engine round trip. A full resync happens on
//! start, after the stream reconnects, and every few minutes; there is no
//! polling loop. While the stream is down, reads go to the Engine directly.
//! The same events feed each container's recent history ([`EventHistory`]).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;

use ops_core::contract::diagnosis::{RECENT_WINDOW_SECONDS, RecentActivity};

use super::history::EventHistory;
use super::{Container, Engine, EngineError, age};

/// How long after an event its container is read a second time.
const SECOND_LOOK_AFTER: Duration = Duration::from_millis(250);
/// Looks at most after one event, each waiting twice as long as the one
/// before, while the Engine's list does not show what the event said
/// (a `die` still listed as running: under load the list lags for seconds).
const MAX_LOOKS: u32 = 5;
/// Second looks pending at most (a burst beyond this relies on the resync).
const MAX_SECOND_LOOKS: usize = 4096;
/// A full re-list this often, as a safety net against a missed event.
const RESYNC_EVERY: Duration = Duration::from_secs(300);
/// Waits between reconnection attempts, doubling up to the last.
const BACKOFF: [Duration; 4] = [
    Duration::from_millis(250),
    Duration::from_secs(1),
    Duration::from_secs(4),
    Duration::from_secs(15),
];

#[derive(Default)]
struct Snapshot {
    /// False until a resync succeeds, and again once the event stream breaks.
    fresh: bool,
    /// Each container and when it was read from the Engine.
    by_id: HashMap<String, (Container, Instant)>,
}

/// A container to read again at `at`, the `number`th time after its event.
struct Look {
    at: tokio::time::Instant,
    id: String,
    /// What the event says the list must show, when it says.
    expect_running: Option<bool>,
    number: u32,
}

/// Whether an event means the container now runs (`start`) or not (`die`).
fn implied_running(action: &str) -> Option<bool> {
    match action {
        "start" | "unpause" => Some(true),
        "die" => Some(false),
        _ => None,
    }
}

/// Queues a look, keeping the queue in time order and bounded.
fn schedule(looks: &mut VecDeque<Look>, look: Look) {
    if looks.len() < MAX_SECOND_LOOKS {
        let position = looks.partition_point(|queued| queued.at <= look.at);
        looks.insert(position, look);
    }
}

pub struct LiveContainers {
    engine: Arc<Engine>,
    snapshot: RwLock<Snapshot>,
    history: Mutex<EventHistory>,
    /// Unix seconds up to which the event stream was read (0: never), so the
    /// next subscription replays from there and a resync loses nothing.
    followed_until: AtomicI64,
    /// Whether the last subscription ended cleanly (a resync) rather than broke.
    ended_cleanly: AtomicBool,
    /// Bumped whenever what is known of a container may have changed, so that
    /// watchers (the service-events stream) look again instead of polling.
    changed: tokio::sync::watch::Sender<u64>,
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

impl LiveContainers {
    /// Starts following the Engine in the background.
    pub fn start(engine: Arc<Engine>) -> Arc<Self> {
        let live = Arc::new(Self::new(engine));
        let follower = Arc::downgrade(&live);
        tokio::spawn(async move {
            let mut failures = 0usize;
            // Stops when the last user of the cache is gone.
            while let Some(live) = follower.upgrade() {
                match live.follow().await {
                    Ok(()) => failures = 0,
                    Err(error) => {
                        tracing::debug!(%error, "container events interrupted");
                        failures += 1;
                    }
                }
                live.mark_stale();
                drop(live);
                tokio::time::sleep(BACKOFF[failures.min(BACKOFF.len() - 1)]).await;
            }
        });
        live
    }

    /// A cache that never follows events: every read goes to the Engine.
    pub fn direct(engine: Arc<Engine>) -> Arc<Self> {
        Arc::new(Self::new(engine))
    }

    fn new(engine: Arc<Engine>) -> Self {
        Self {
            engine,
            snapshot: RwLock::new(Snapshot::default()),
            history: Mutex::new(EventHistory::new()),
            followed_until: AtomicI64::new(0),
            ended_cleanly: AtomicBool::new(false),
            changed: tokio::sync::watch::Sender::new(0),
        }
    }

    /// Wakes up when a container may have changed (a live event, a re-read,
    /// a resync): what is known is then read again with [`Self::list`].
    pub fn watch_changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changed.subscribe()
    }

    fn mark_changed(&self) {
        self.changed.send_modify(|generation| *generation += 1);
    }

    fn history(&self) -> std::sync::MutexGuard<'_, EventHistory> {
        self.history.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// What the event stream saw of one container in the recent window;
    /// `up_again`: its state is `running` or `restarting` now.
    pub fn recent_activity(&self, id: &str, up_again: bool) -> RecentActivity {
        self.history().activity(id, up_again, now_secs())
    }

    fn mark_stale(&self) {
        self.snapshot
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .fresh = false;
    }

    /// Resyncs, then applies events until the stream ends or a resync is due.
    async fn follow(&self) -> Result<(), EngineError> {
        let result = self.follow_once().await;
        if result.is_err() {
            self.history().interrupted();
        }
        self.ended_cleanly.store(result.is_ok(), Ordering::Relaxed);
        result
    }

    async fn follow_once(&self) -> Result<(), EngineError> {
        let listed_at = now_secs();
        let all = self.engine.list_containers(true, None).await?;
        {
            let listed: HashSet<&str> = all.iter().map(|c| c.id.as_str()).collect();
            self.history().retain_only(|id| listed.contains(id));
        }
        {
            let mut snapshot = self.snapshot.write().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            snapshot.by_id = all.into_iter().map(|c| (c.id.clone(), (c, now))).collect();
            snapshot.fresh = true;
        }
        self.mark_changed();
        // Events from just before the resync are replayed, so nothing between
        // the list and the subscription is lost; re-applying one is harmless
        // (the history counts a replayed event once). The first subscription
        // replays what the Engine still holds of the window, for the history.
        let followed_until = self.followed_until.load(Ordering::Relaxed);
        let since = if followed_until > 0 {
            followed_until.min(listed_at) - 1
        } else {
            listed_at - RECENT_WINDOW_SECONDS as i64
        };
        let events = self.engine.container_events(since).await?;
        // Nothing was missed when the last subscription ended cleanly. Else the
        // history is whole only from now on: what the Engine replays may be cut
        // (it keeps a bounded buffer of past events).
        let covered = followed_until > 0 && self.ended_cleanly.load(Ordering::Relaxed);
        self.history().following_from(listed_at, covered);
        let mut events = std::pin::pin!(events);
        let resync = tokio::time::sleep(RESYNC_EVERY);
        let mut resync = std::pin::pin!(resync);
        // The Engine can log an event (`die`) a moment before its container list
        // shows the change, so each evented container is read again shortly after.
        let mut second_looks: VecDeque<Look> = VecDeque::new();
        loop {
            let next_look = second_looks.front().map(|look| look.at);
            tokio::select! {
                event = events.next() => match event {
                    Some(Ok(event)) if !event.id.is_empty() => {
                        let now = now_secs();
                        self.followed_until.store(now, Ordering::Relaxed);
                        self.history().record(&event, now);
                        // A replayed event older than the list changes nothing in it,
                        // nor does a healthcheck's exec (several a second with short
                        // intervals; the health change has its own event).
                        if event.at_nanos.div_euclid(1_000_000_000) >= listed_at - 1
                            && !event.action.starts_with("exec_")
                        {
                            self.refresh(&event.id).await?;
                            schedule(&mut second_looks, Look {
                                at: tokio::time::Instant::now() + SECOND_LOOK_AFTER,
                                expect_running: implied_running(&event.action),
                                id: event.id,
                                number: 1,
                            });
                        }
                    }
                    Some(Ok(_)) => {}
                    Some(Err(error)) => return Err(error),
                    None => return Err(EngineError::Unavailable {
                        address: self.engine.address().to_string(),
                        reason: "the event stream ended".into(),
                    }),
                },
                () = async {
                    match next_look {
                        Some(at) => tokio::time::sleep_until(at).await,
                        None => std::future::pending().await,
                    }
                } => {
                    if let Some(look) = second_looks.pop_front() {
                        let running = self.refresh(&look.id).await?;
                        let as_said = match (look.expect_running, running) {
                            (Some(expected), Some(running)) => expected == running,
                            _ => true,
                        };
                        if !as_said && look.number < MAX_LOOKS {
                            schedule(&mut second_looks, Look {
                                at: tokio::time::Instant::now() + SECOND_LOOK_AFTER * 2u32.pow(look.number),
                                number: look.number + 1,
                                ..look
                            });
                        }
                    }
                }
                () = &mut resync => {
                    self.followed_until.store(now_secs(), Ordering::Relaxed);
                    self.history().expire(now_secs());
                    return Ok(());
                }
            }
        }
    }

    /// Re-reads one container; whether it runs (None: it is gone).
    async fn refresh(&self, full_id: &str) -> Result<Option<bool>, EngineError> {
        let id: String = full_id.chars().take(12).collect();
        let current = self.engine.find_container(&id).await?;
        let running = current.as_ref().map(Container::is_running);
        let mut snapshot = self.snapshot.write().unwrap_or_else(|p| p.into_inner());
        match current {
            Some(container) => snapshot.by_id.insert(id, (container, Instant::now())),
            None => snapshot.by_id.remove(&id),
        };
        drop(snapshot);
        self.mark_changed();
        Ok(running)
    }

    /// Re-reads one container after this process changed it, so that a read
    /// right after the change shows it (the event may not be applied yet).
    /// When that fails, reads go to the Engine until the next resync.
    pub(crate) async fn observe(&self, id: &str) {
        if self.refresh(id).await.is_err() {
            self.mark_stale();
        }
    }

    /// Replaces what is known about the service containers (not one-offs) of
    /// one compose project with `containers`, freshly listed from the Engine.
    pub(crate) fn observe_project(&self, project: &str, containers: &[Container]) {
        let mut snapshot = self.snapshot.write().unwrap_or_else(|p| p.into_inner());
        snapshot.by_id.retain(|_, (c, _)| {
            c.project() != Some(project) || c.is_oneoff() || c.service().is_none()
        });
        let now = Instant::now();
        for container in containers {
            snapshot
                .by_id
                .insert(container.id.clone(), (container.clone(), now));
        }
        drop(snapshot);
        self.mark_changed();
    }

    /// Containers, optionally stopped ones too, optionally of one compose
    /// project, sorted by name: from memory when current, else from the Engine.
    pub async fn list(
        &self,
        include_stopped: bool,
        project: Option<&str>,
    ) -> Result<Vec<Container>, EngineError> {
        {
            let snapshot = self.snapshot.read().unwrap_or_else(|p| p.into_inner());
            if snapshot.fresh {
                let mut containers: Vec<Container> = snapshot
                    .by_id
                    .values()
                    .filter(|(c, _)| include_stopped || c.is_running())
                    .filter(|(c, _)| project.is_none() || c.project() == project)
                    .map(|(c, seen)| Container {
                        // "Up 5 seconds" read a minute ago is "Up About a minute" now.
                        status: age::reaged(&c.status, seen.elapsed()),
                        ..c.clone()
                    })
                    .collect();
                containers.sort_by(|a, b| a.name.cmp(&b.name));
                return Ok(containers);
            }
        }
        self.engine.list_containers(include_stopped, project).await
    }

    /// Whether reads are currently served from memory.
    pub fn is_current(&self) -> bool {
        self.snapshot
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .fresh
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn look(id: &str, after_ms: u64, base: tokio::time::Instant) -> Look {
        Look {
            at: base + Duration::from_millis(after_ms),
            id: id.into(),
            expect_running: implied_running("die"),
            number: 1,
        }
    }

    #[test]
    fn looks_stay_in_time_order_and_bounded() {
        let base = tokio::time::Instant::now();
        let mut looks = VecDeque::new();
        for (id, after) in [("a", 250), ("b", 1000), ("c", 500), ("d", 250)] {
            schedule(&mut looks, look(id, after, base));
        }
        let order: Vec<&str> = looks.iter().map(|l| l.id.as_str()).collect();
        assert_eq!(order, ["a", "d", "c", "b"]);
        for n in 0..MAX_SECOND_LOOKS {
            schedule(&mut looks, look(&n.to_string(), 10, base));
        }
        assert_eq!(looks.len(), MAX_SECOND_LOOKS);
        assert_eq!(implied_running("start"), Some(true));
        assert_eq!(implied_running("die"), Some(false));
        assert_eq!(implied_running("health_status: healthy"), None);
    }
}
