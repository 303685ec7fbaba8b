//! Guarded auto-heal, off unless `policy.yaml` has an `autoheal:` section.
//!
//! Fed by the service events the gateway follows ([`crate::service_watch`]):
//! a service it looks after that stays unhealthy for the section's time, or
//! that exits with an error, is restarted through the gateway's own pipeline
//! as the auto-heal principal on the section's standing approval, so the
//! role's rights, the tool's cooldown and the audit log apply as to anyone.
//! A crash loop is never restarted (it does not help; people are told of it).
//! At most `max_attempts` restarts per service per window, with a doubling
//! wait between them; past that it gives up on the service, says so once, and
//! waits for it to recover.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ops_core::contract::diagnosis::Verdict;
use ops_core::contract::service_events::ServiceChange;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::auth::Principal;
use crate::config::{AUTOHEAL_TOOL, AutohealPolicy};
use crate::decision::AUTOHEAL_PRINCIPAL;
use crate::notify::{Event, EventKind, Notifier};
use crate::pipeline::{Gateway, Reply};

/// How often the services are looked at (an unhealthy one's time runs out
/// between two events).
const TICK: Duration = Duration::from_secs(2);
/// After a refused restart (a cooldown, the role's rights), the next try waits this long.
const AFTER_REFUSAL: Duration = Duration::from_secs(60);
/// Services followed at most.
const MAX_SERVICES: usize = 1000;

/// What auto-heal knows of one service.
#[derive(Debug, Default)]
struct Watch {
    verdict: Option<Verdict>,
    labelled: bool,
    summary: String,
    /// Since when it is bad in a way a restart may mend.
    bad_since: Option<Instant>,
    /// Restarts made, oldest first (only those within the window matter).
    attempts: VecDeque<Instant>,
    not_before: Option<Instant>,
    gave_up: bool,
    restarting: bool,
}

/// What to do about one service now.
#[derive(Debug, PartialEq, Eq)]
enum Step {
    Nothing,
    Restart { because: String },
    GiveUp { attempts: usize },
}

impl Watch {
    fn observe(&mut self, change: &ServiceChange, now: Instant) {
        self.labelled = change.autoheal_label;
        self.summary = change.summary.clone();
        self.verdict = Some(change.verdict);
        match change.verdict {
            Verdict::UnhealthyProbe | Verdict::ExitedError => {
                self.bad_since.get_or_insert(now);
            }
            // Between a restart and the next verdict: the time still runs.
            Verdict::Starting | Verdict::Restarting => {}
            // Well again, stopped by someone, gone, or beyond a restart's help.
            _ => {
                self.bad_since = None;
                if matches!(change.verdict, Verdict::Healthy | Verdict::Finished) {
                    self.gave_up = false;
                }
            }
        }
    }

    fn step(&mut self, service: &str, policy: &AutohealPolicy, now: Instant) -> Step {
        let window = Duration::from_secs(policy.window_minutes * 60);
        while self
            .attempts
            .front()
            .is_some_and(|at| now.saturating_duration_since(*at) > window)
        {
            self.attempts.pop_front();
        }
        let (Some(verdict), Some(since)) = (self.verdict, self.bad_since) else {
            return Step::Nothing;
        };
        if self.restarting || !policy.covers(service, self.labelled) {
            return Step::Nothing;
        }
        let because = match verdict {
            Verdict::UnhealthyProbe
                if now.saturating_duration_since(since)
                    >= Duration::from_secs(policy.unhealthy_for_seconds) =>
            {
                format!("unhealthy for at least {} s", policy.unhealthy_for_seconds)
            }
            Verdict::ExitedError if policy.on_exit_error => "exited with an error".to_owned(),
            _ => return Step::Nothing,
        };
        if self.attempts.len() >= policy.max_attempts as usize {
            if self.gave_up {
                return Step::Nothing;
            }
            self.gave_up = true;
            return Step::GiveUp {
                attempts: self.attempts.len(),
            };
        }
        if self.not_before.is_some_and(|at| now < at) {
            return Step::Nothing;
        }
        Step::Restart { because }
    }

    /// A restart is on its way: counted, and the next one waits twice as long.
    fn restarted(&mut self, policy: &AutohealPolicy, now: Instant) {
        self.attempts.push_back(now);
        let doublings = (self.attempts.len() - 1).min(10) as u32;
        let wait = Duration::from_secs(policy.backoff_seconds) * 2u32.pow(doublings);
        self.not_before = Some(now + wait);
        // The healthcheck needs its time again after a restart.
        self.bad_since = Some(now);
        self.restarting = true;
    }
}

pub struct AutoHealer {
    gateway: Arc<Gateway>,
    notifier: Notifier,
    services: Mutex<HashMap<String, Watch>>,
}

impl AutoHealer {
    /// Starts looking at the services every [`TICK`] until `shutdown`; it
    /// acts only while the policy in force has an `autoheal:` section.
    pub fn start(
        gateway: Arc<Gateway>,
        notifier: Notifier,
        shutdown: CancellationToken,
    ) -> Arc<Self> {
        let healer = Arc::new(Self {
            gateway,
            notifier,
            services: Mutex::new(HashMap::new()),
        });
        let ticking = Arc::clone(&healer);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(TICK);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => ticking.look(),
                    () = shutdown.cancelled() => return,
                }
            }
        });
        healer
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Watch>> {
        self.services.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A service's new state, from the service events.
    pub fn observe(&self, change: &ServiceChange) {
        let mut services = self.lock();
        if !services.contains_key(&change.service) && services.len() >= MAX_SERVICES {
            return;
        }
        services
            .entry(change.service.clone())
            .or_default()
            .observe(change, Instant::now());
    }

    fn look(self: &Arc<Self>) {
        let config = self.gateway.config();
        let Some(policy) = config.autoheal.clone() else {
            return;
        };
        let now = Instant::now();
        let mut steps = Vec::new();
        {
            let mut services = self.lock();
            for (service, watch) in services.iter_mut() {
                match watch.step(service, &policy, now) {
                    Step::Nothing => {}
                    Step::Restart { because } => {
                        watch.restarted(&policy, now);
                        steps.push((service.clone(), watch.labelled, because, watch.attempts.len()));
                    }
                    Step::GiveUp { attempts } => self.notifier.send(Event {
                        kind: EventKind::GaveUp,
                        service: Some(service.clone()),
                        title: format!("Auto-heal gave up on {service}"),
                        message: format!(
                            "Gave up on {service} after {attempts} restarts in {} minutes: {} It needs a person now.",
                            policy.window_minutes, watch.summary
                        ),
                        link: Some(format!("/containers?logs={service}")),
                    }),
                }
            }
        }
        for (service, labelled, because, attempt) in steps {
            let healer = Arc::clone(self);
            let args = restart_args(config.locked_compose_file.as_deref(), &service);
            let principal = Principal {
                name: AUTOHEAL_PRINCIPAL.to_owned(),
                role: policy.role.clone(),
                may_act_as: Vec::new(),
                person: None,
            };
            tokio::spawn(async move {
                let why = format!("{service} {because} (attempt {attempt})");
                tracing::info!(%service, attempt, "auto-heal restarts {service}: {because}");
                let reply = healer
                    .gateway
                    .call_standing(&principal, AUTOHEAL_TOOL, args, &service, labelled, &why)
                    .await;
                healer.finished(&service, &reply);
            });
        }
    }

    fn finished(&self, service: &str, reply: &Reply) {
        let mut services = self.lock();
        let Some(watch) = services.get_mut(service) else {
            return;
        };
        watch.restarting = false;
        match reply {
            Reply::Executed(_) => tracing::info!(%service, "auto-heal: restart done"),
            Reply::Refused(refusal) => {
                tracing::warn!(%service, code = ?refusal.code, detail = %refusal.detail, "auto-heal: restart refused or failed");
                // Not done: not counted, and not tried again at once.
                if !refusal.code.may_have_run() {
                    watch.attempts.pop_back();
                    watch.not_before = Some(Instant::now() + AFTER_REFUSAL);
                }
            }
            Reply::NeedApproval(_) => {
                tracing::error!(%service, "auto-heal: a restart asked for an approval; it should run on the standing one");
            }
        }
    }
}

/// compose_restart's arguments: the service, and the compose file when the
/// policy pins it.
fn restart_args(file: Option<&str>, service: &str) -> Value {
    match file {
        Some(file) => json!({ "file": file, "service": service }),
        None => json!({ "service": service }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> AutohealPolicy {
        serde_saphyr::from_str(
            "role: operator\nservices: [sonarr]\nunhealthy_for_seconds: 30\nmax_attempts: 2\nwindow_minutes: 60\nbackoff_seconds: 10\n",
        )
        .unwrap()
    }

    fn change(verdict: Verdict) -> ServiceChange {
        ServiceChange {
            service: "sonarr".into(),
            verdict,
            previous: None,
            running: true,
            health: None,
            summary: "sonarr is running but its healthcheck fails.".into(),
            initial: false,
            autoheal_label: false,
        }
    }

    #[test]
    fn unhealthy_long_enough_gets_a_restart_then_waits() {
        let policy = policy();
        let start = Instant::now();
        let mut watch = Watch::default();
        watch.observe(&change(Verdict::UnhealthyProbe), start);
        assert_eq!(
            watch.step("sonarr", &policy, start + Duration::from_secs(29)),
            Step::Nothing
        );
        let at = start + Duration::from_secs(30);
        assert!(matches!(
            watch.step("sonarr", &policy, at),
            Step::Restart { .. }
        ));
        watch.restarted(&policy, at);
        // Restarting: nothing more until it is done.
        assert_eq!(
            watch.step("sonarr", &policy, at + Duration::from_secs(60)),
            Step::Nothing
        );
        watch.restarting = false;
        // Recovered: nothing to do, and the time is reset.
        watch.observe(&change(Verdict::Healthy), at + Duration::from_secs(5));
        assert_eq!(watch.bad_since, None);
        assert_eq!(
            watch.step("sonarr", &policy, at + Duration::from_secs(100)),
            Step::Nothing
        );
    }

    #[test]
    fn after_the_limit_it_gives_up_once_and_a_recovery_resets_that() {
        let policy = policy();
        let mut now = Instant::now();
        let mut watch = Watch::default();
        watch.observe(&change(Verdict::ExitedError), now);
        for _ in 0..2 {
            assert!(matches!(
                watch.step("sonarr", &policy, now),
                Step::Restart { .. }
            ));
            watch.restarted(&policy, now);
            watch.restarting = false;
            // The wait doubles: 10 s, then 20 s.
            now += Duration::from_secs(25);
        }
        assert_eq!(
            watch.step("sonarr", &policy, now),
            Step::GiveUp { attempts: 2 }
        );
        assert_eq!(watch.step("sonarr", &policy, now), Step::Nothing);
        watch.observe(&change(Verdict::Healthy), now);
        assert!(!watch.gave_up);
        // Past the window, the old attempts no longer count.
        let later = now + Duration::from_secs(61 * 60);
        watch.observe(&change(Verdict::ExitedError), later);
        assert!(matches!(
            watch.step("sonarr", &policy, later),
            Step::Restart { .. }
        ));
    }

    #[test]
    fn crash_loops_others_and_the_backoff_get_no_restart() {
        let policy = policy();
        let now = Instant::now();
        let mut looping = Watch::default();
        looping.observe(&change(Verdict::CrashLoop), now);
        assert_eq!(
            looping.step("sonarr", &policy, now + Duration::from_secs(999)),
            Step::Nothing
        );
        // A service the section does not name, unless labelled and by_label is on.
        let mut other = Watch::default();
        other.observe(&change(Verdict::ExitedError), now);
        assert_eq!(other.step("radarr", &policy, now), Step::Nothing);
        let mut by_label = policy.clone();
        by_label.by_label = true;
        let mut labelled = change(Verdict::ExitedError);
        labelled.autoheal_label = true;
        other.observe(&labelled, now);
        assert!(matches!(
            other.step("radarr", &by_label, now),
            Step::Restart { .. }
        ));
        // Within the backoff after a restart: wait.
        let mut watch = Watch::default();
        watch.observe(&change(Verdict::ExitedError), now);
        watch.restarted(&policy, now);
        watch.restarting = false;
        assert_eq!(
            watch.step("sonarr", &policy, now + Duration::from_secs(5)),
            Step::Nothing
        );
        assert!(matches!(
            watch.step("sonarr", &policy, now + Duration::from_secs(10)),
            Step::Restart { .. }
        ));
        // Exits are left alone when the section says so.
        let mut no_exits = policy.clone();
        no_exits.on_exit_error = false;
        let mut exited = Watch::default();
        exited.observe(&change(Verdict::ExitedError), now);
        assert_eq!(exited.step("sonarr", &no_exits, now), Step::Nothing);
    }
}
