//! What happened to each container lately, from the Engine's event stream:
//! starts, deaths (with their exit codes), OOM kills, health changes. Bounded
//! by time ([`RECENT_WINDOW_SECONDS`]) and by count per container and in total,
//! dropped when the container is destroyed, so it never grows with uptime.

use std::collections::{HashMap, VecDeque};

use ops_core::contract::diagnosis::{
    CRASH_LOOP_DEATHS, RECENT_WINDOW_SECONDS, RecentActivity, RecentEvent,
};

/// Events kept per container at most (a crash loop at one death a second
/// still shows dozens of deaths; older ones add nothing).
pub const MAX_EVENTS_PER_CONTAINER: usize = 64;
/// Containers with a history at most; beyond, the one quietest longest goes.
pub const MAX_CONTAINERS: usize = 4096;

/// One container event as the Engine reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerEvent {
    /// The short (12 character) id.
    pub id: String,
    /// The Engine's action: `start`, `die`, `kill`, `oom`, `destroy`,
    /// `health_status: unhealthy`, ...
    pub action: String,
    /// Unix nanoseconds.
    pub at_nanos: i64,
    /// For `die`: the `exitCode` attribute.
    pub exit_code: Option<i64>,
}

impl ContainerEvent {
    fn at_secs(&self) -> i64 {
        self.at_nanos.div_euclid(1_000_000_000)
    }
}

/// Whether an action is kept: the ones that say how a container is doing.
fn is_kept(action: &str) -> bool {
    matches!(action, "start" | "die" | "kill" | "oom" | "restart")
        || action.starts_with("health_status")
}

#[derive(Default)]
struct Timeline {
    /// Oldest first; (unix nanoseconds, action, exit code).
    events: VecDeque<(i64, String, Option<i64>)>,
}

pub struct EventHistory {
    by_id: HashMap<String, Timeline>,
    /// Unix seconds since which events were followed without a break, if they are now.
    covered_since: Option<i64>,
}

impl Default for EventHistory {
    fn default() -> Self {
        Self::new()
    }
}

impl EventHistory {
    pub fn new() -> Self {
        Self {
            by_id: HashMap::new(),
            covered_since: None,
        }
    }

    /// The stream is (re)subscribed at `since` (unix seconds), so every event
    /// from then on will arrive. When the previous subscription ended cleanly
    /// (and this one replays from where it stopped), the coverage goes on.
    pub fn following_from(&mut self, since: i64, still_covered: bool) {
        if !still_covered || self.covered_since.is_none() {
            self.covered_since = Some(since);
        }
    }

    /// The stream broke: what comes next may have a gap before it.
    pub fn interrupted(&mut self) {
        self.covered_since = None;
    }

    /// Whether events were followed from `at` (unix seconds) on.
    pub fn covers(&self, at: i64) -> bool {
        self.covered_since.is_some_and(|since| since <= at)
    }

    pub fn record(&mut self, event: &ContainerEvent, now: i64) {
        if event.action == "destroy" {
            self.by_id.remove(&event.id);
            return;
        }
        if !is_kept(&event.action) || event.at_secs() < now - RECENT_WINDOW_SECONDS as i64 {
            return;
        }
        if !self.by_id.contains_key(&event.id) && self.by_id.len() >= MAX_CONTAINERS {
            self.forget_quietest();
        }
        let timeline = self.by_id.entry(event.id.clone()).or_default();
        let entry = (event.at_nanos, event.action.clone(), event.exit_code);
        // A resubscription replays the last second: an event seen twice counts once.
        if timeline.events.iter().rev().any(|e| *e == entry) {
            return;
        }
        // A healthcheck that keeps failing says so at every probe: keep the change only.
        if entry.1.starts_with("health_status")
            && timeline
                .events
                .iter()
                .rev()
                .find(|(_, a, _)| a.starts_with("health_status"))
                .is_some_and(|(_, a, _)| *a == entry.1)
        {
            return;
        }
        let position = timeline
            .events
            .iter()
            .rposition(|(at, _, _)| *at <= entry.0)
            .map_or(0, |p| p + 1);
        timeline.events.insert(position, entry);
        let oldest = (now - RECENT_WINDOW_SECONDS as i64).saturating_mul(1_000_000_000);
        while timeline.events.len() > MAX_EVENTS_PER_CONTAINER
            || timeline
                .events
                .front()
                .is_some_and(|(at, _, _)| *at < oldest)
        {
            timeline.events.pop_front();
        }
    }

    /// Drops events older than the window, and containers left with none.
    pub fn expire(&mut self, now: i64) {
        let oldest = (now - RECENT_WINDOW_SECONDS as i64).saturating_mul(1_000_000_000);
        self.by_id.retain(|_, timeline| {
            while timeline
                .events
                .front()
                .is_some_and(|(at, _, _)| *at < oldest)
            {
                timeline.events.pop_front();
            }
            !timeline.events.is_empty()
        });
    }

    /// Forgets containers that no longer exist (after a full re-list, which
    /// catches a `destroy` missed while the stream was down).
    pub fn retain_only(&mut self, exists: impl Fn(&str) -> bool) {
        self.by_id.retain(|id, _| exists(id));
    }

    fn forget_quietest(&mut self) {
        let quietest = self
            .by_id
            .iter()
            .min_by_key(|(_, t)| t.events.back().map_or(i64::MIN, |(at, _, _)| *at))
            .map(|(id, _)| id.clone());
        if let Some(id) = quietest {
            self.by_id.remove(&id);
        }
    }

    pub fn tracked_containers(&self) -> usize {
        self.by_id.len()
    }

    /// What the window holds for one container. `up_again` is the
    /// container's current state being `restarting` or `running`: between a
    /// death and the Engine's next start, or before that start's event is
    /// read, a loop's last death has no start after it yet.
    pub fn activity(&self, id: &str, up_again: bool, now: i64) -> RecentActivity {
        let window = RECENT_WINDOW_SECONDS as i64;
        let oldest = (now - window).saturating_mul(1_000_000_000);
        let events: Vec<&(i64, String, Option<i64>)> = self
            .by_id
            .get(short(id))
            .map(|t| t.events.iter().filter(|(at, _, _)| *at >= oldest).collect())
            .unwrap_or_default();
        let mut activity = RecentActivity {
            window_seconds: RECENT_WINDOW_SECONDS,
            complete: self.covers(now - window),
            ..RecentActivity::default()
        };
        // A death someone asked for (stop, restart: a `kill` since the last
        // start) is not a crash.
        let mut asked_to_die = false;
        let mut deaths_restarted = 0u32;
        let mut death_pending_restart = false;
        for (_, action, exit_code) in &events {
            match action.as_str() {
                "start" => {
                    activity.starts += 1;
                    if death_pending_restart {
                        deaths_restarted += 1;
                    }
                    death_pending_restart = false;
                    asked_to_die = false;
                }
                "kill" => asked_to_die = true,
                "oom" => activity.oom_kills += 1,
                "die" if !asked_to_die || exit_code.is_some_and(|c| c != 137 && c != 143) => {
                    activity.deaths += 1;
                    death_pending_restart = true;
                }
                _ => {}
            }
        }
        let in_progress = u32::from(up_again && death_pending_restart);
        activity.crash_loop = activity.deaths >= CRASH_LOOP_DEATHS
            && deaths_restarted + in_progress >= CRASH_LOOP_DEATHS;
        activity.events = events
            .into_iter()
            .map(|(at, action, exit_code)| RecentEvent {
                at: at.div_euclid(1_000_000_000),
                kind: action.clone(),
                exit_code: *exit_code,
            })
            .collect();
        activity
    }
}

fn short(id: &str) -> &str {
    match id.char_indices().nth(12) {
        Some((cut, _)) => &id[..cut],
        None => id,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    fn event(id: &str, action: &str, at: i64, exit_code: Option<i64>) -> ContainerEvent {
        ContainerEvent {
            id: id.into(),
            action: action.into(),
            at_nanos: at * 1_000_000_000,
            exit_code,
        }
    }

    fn crash(history: &mut EventHistory, id: &str, at: i64) {
        history.record(&event(id, "die", at, Some(1)), NOW);
        history.record(&event(id, "start", at + 1, None), NOW);
    }

    #[test]
    fn deaths_with_restarts_after_them_are_a_crash_loop() {
        let mut history = EventHistory::new();
        history.record(&event("a", "start", NOW - 100, None), NOW);
        crash(&mut history, "a", NOW - 90);
        crash(&mut history, "a", NOW - 60);
        let two = history.activity("a", false, NOW);
        assert_eq!((two.deaths, two.starts, two.crash_loop), (2, 3, false));
        crash(&mut history, "a", NOW - 30);
        let three = history.activity("a", false, NOW);
        assert_eq!((three.deaths, three.starts), (3, 4));
        assert!(three.crash_loop);
        assert_eq!(three.events.last().map(|e| e.kind.as_str()), Some("start"));
        assert_eq!(three.events[1].exit_code, Some(1));
    }

    #[test]
    fn the_last_death_counts_while_the_engine_is_restarting_it() {
        let mut history = EventHistory::new();
        crash(&mut history, "a", NOW - 50);
        crash(&mut history, "a", NOW - 40);
        history.record(&event("a", "die", NOW - 30, Some(1)), NOW);
        assert!(!history.activity("a", false, NOW).crash_loop);
        assert!(history.activity("a", true, NOW).crash_loop);
    }

    #[test]
    fn stops_and_restarts_someone_asked_for_are_not_crashes() {
        let mut history = EventHistory::new();
        for at in [NOW - 50, NOW - 40, NOW - 30, NOW - 20] {
            history.record(&event("a", "kill", at, None), NOW);
            history.record(&event("a", "die", at, Some(143)), NOW);
            history.record(&event("a", "start", at + 1, None), NOW);
        }
        let activity = history.activity("a", false, NOW);
        assert_eq!((activity.deaths, activity.starts), (0, 4));
        assert!(!activity.crash_loop);
    }

    #[test]
    fn only_the_window_counts_and_old_events_go() {
        let mut history = EventHistory::new();
        let old = NOW - RECENT_WINDOW_SECONDS as i64 - 5;
        crash(&mut history, "a", old - 20);
        crash(&mut history, "a", old - 10);
        crash(&mut history, "a", NOW - 10);
        // Recorded before they aged out; a later look no longer counts them.
        let activity = history.activity("a", false, NOW);
        assert_eq!(activity.deaths, 1);
        assert!(!activity.crash_loop);
        history.expire(NOW + RECENT_WINDOW_SECONDS as i64);
        assert_eq!(history.tracked_containers(), 0);
    }

    #[test]
    fn the_history_is_bounded_per_container_in_total_and_dropped_on_destroy() {
        let mut history = EventHistory::new();
        // A container dying every second for the whole window.
        for at in (NOW - 599)..NOW {
            crash(&mut history, "a", at);
        }
        let activity = history.activity("a", false, NOW);
        assert_eq!(activity.events.len(), MAX_EVENTS_PER_CONTAINER);
        assert!(activity.crash_loop);
        // Many containers: never more than the cap.
        for n in 0..(MAX_CONTAINERS + 50) {
            history.record(&event(&format!("c{n}"), "start", NOW - 1, None), NOW);
        }
        assert_eq!(history.tracked_containers(), MAX_CONTAINERS);
        history.record(&event("c10", "destroy", NOW, None), NOW);
        assert_eq!(history.tracked_containers(), MAX_CONTAINERS - 1);
        assert_eq!(history.activity("c10", false, NOW).events.len(), 0);
    }

    #[test]
    fn replayed_events_and_repeated_health_reports_count_once() {
        let mut history = EventHistory::new();
        history.record(&event("a", "start", NOW - 10, None), NOW);
        history.record(&event("a", "start", NOW - 10, None), NOW);
        for at in [NOW - 9, NOW - 6, NOW - 3] {
            history.record(&event("a", "health_status: unhealthy", at, None), NOW);
        }
        history.record(&event("a", "exec_start: sh -c true", NOW - 2, None), NOW);
        let kinds: Vec<String> = history
            .activity("a", false, NOW)
            .events
            .into_iter()
            .map(|e| e.kind)
            .collect();
        assert_eq!(kinds, ["start", "health_status: unhealthy"]);
    }

    #[test]
    fn complete_only_when_followed_for_the_whole_window() {
        let mut history = EventHistory::new();
        assert!(!history.activity("a", false, NOW).complete);
        history.following_from(NOW - 700, false);
        assert!(history.activity("a", false, NOW).complete);
        // A resubscription that overlaps keeps the coverage...
        history.following_from(NOW - 1, true);
        assert!(history.activity("a", false, NOW).complete);
        // ...a break does not.
        history.interrupted();
        history.following_from(NOW - 1, false);
        assert!(!history.activity("a", false, NOW).complete);
    }
}
