//! Which events go out: subscribed kinds, one alert per (service, kind) within
//! `repeat_after`, a recovery only when an alert for the service is open; and
//! each target's rate limit.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use super::{Event, EventKind, NotifyConfig};

/// How many dedupe keys are remembered at most (the oldest are forgotten).
const MAX_KEYS: usize = 4096;

#[derive(Default)]
pub(crate) struct Filter {
    /// When each (service, kind, detail) was last sent.
    last_sent: BTreeMap<(Option<String>, EventKind, String), Instant>,
}

impl Filter {
    /// Whether `event` is sent now; when it is, it is remembered. The error
    /// names why not (a metrics label).
    pub fn admit(
        &mut self,
        config: &NotifyConfig,
        event: &Event,
        now: Instant,
    ) -> Result<(), &'static str> {
        if !config.events.contains(&event.kind) {
            return Err("not_subscribed");
        }
        if event.kind == EventKind::Recovered {
            // Sent only to close an open alert about the same service; closing
            // it lets the next failure alert again at once.
            let open: Vec<_> = self
                .last_sent
                .keys()
                .filter(|(service, kind, _)| *service == event.service && kind.opens_alert())
                .cloned()
                .collect();
            if open.is_empty() {
                return Err("no_open_alert");
            }
            for key in open {
                self.last_sent.remove(&key);
            }
            return Ok(());
        }
        // Each approval is its own request (its message names its id): each is
        // told, not one per service; the per-target rate bounds a flood.
        let detail = if event.kind == EventKind::ApprovalWaiting {
            event.message.clone()
        } else {
            String::new()
        };
        let key = (event.service.clone(), event.kind, detail);
        if let Some(at) = self.last_sent.get(&key)
            && now.saturating_duration_since(*at) < config.repeat_after
        {
            return Err("repeat");
        }
        // Alerts stay remembered while open, whatever their age (a recovery
        // needs them); others only while they would still be deduplicated.
        let repeat_after = config.repeat_after;
        self.last_sent.retain(|(_, kind, _), at| {
            kind.opens_alert() || now.saturating_duration_since(*at) < repeat_after
        });
        if self.last_sent.len() >= MAX_KEYS
            && let Some(oldest) = self
                .last_sent
                .iter()
                .min_by_key(|(_, at)| **at)
                .map(|(k, _)| k.clone())
        {
            self.last_sent.remove(&oldest);
        }
        self.last_sent.insert(key, now);
        Ok(())
    }
}

/// At most `per_minute` in any 60 seconds (a sliding window).
pub(crate) struct RateLimiter {
    per_minute: usize,
    sent: VecDeque<Instant>,
}

impl RateLimiter {
    pub fn new(per_minute: u32) -> Self {
        Self {
            per_minute: per_minute.max(1) as usize,
            sent: VecDeque::new(),
        }
    }

    pub fn allow(&mut self, now: Instant) -> bool {
        const WINDOW: Duration = Duration::from_secs(60);
        while self
            .sent
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= WINDOW)
        {
            self.sent.pop_front();
        }
        if self.sent.len() >= self.per_minute {
            return false;
        }
        self.sent.push_back(now);
        true
    }
}
