//! Guarded auto-heal, off unless `policy.yaml` has an `autoheal:` section.
//!
//! Fed by the service events the gateway follows ([`crate::service_watch`]):
//! a service it looks after that stays unhealthy for the section's time, or
//! that exits with an error, is restarted through the gateway's own pipeline
//! as the auto-heal principal on the section's standing approval, so the
//! role's rights, the tool's cooldown and the audit log apply as to anyone.
//! A crash loop is never restarted (it does not help; people are told of it).
//! At most `max_attempts` restarts per service per window, with a doubling
//! wait between them (counted from the end of a restart), also across a
//! restart of the gateway (the window's restarts are read back from the audit
//! log); past that it gives up on the service, says so once, and waits for it
//! to recover.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use audit::{AuditFilter, Decision};
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
                if change.verdict.is_well() {
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

    /// A restart is on its way: counted; nothing more until it is done.
    fn restarted(&mut self, now: Instant) {
        self.attempts.push_back(now);
        self.restarting = true;
    }

    /// The restart is done (whatever its outcome): from now on, the service
    /// has the trigger's time again (a healthcheck needs its interval after a
    /// slow restart) and the next restart waits the backoff, doubled each time.
    fn restart_done(&mut self, policy: &AutohealPolicy, now: Instant) {
        self.restarting = false;
        let doublings = self.attempts.len().saturating_sub(1).min(10) as u32;
        let wait = Duration::from_secs(policy.backoff_seconds) * 2u32.pow(doublings);
        self.not_before = Some(now + wait);
        if self.bad_since.is_some() {
            self.bad_since = Some(now);
        }
    }

    /// The restart did not run (a cooldown, the role's rights): not counted;
    /// tried again once `wait` is over.
    fn restart_refused(&mut self, wait: Duration, now: Instant) {
        self.restarting = false;
        self.attempts.pop_back();
        self.not_before = Some(now + wait);
    }
}

pub struct AutoHealer {
    gateway: Arc<Gateway>,
    notifier: Notifier,
    services: Mutex<HashMap<String, Watch>>,
    /// Whether the restarts of the window before this start were read back
    /// from the audit log (once a policy with a section is in force).
    remembered: std::sync::atomic::AtomicBool,
    /// Services the section names that the stack does not have, already said.
    named_unknown: Mutex<std::collections::BTreeSet<String>>,
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
            remembered: std::sync::atomic::AtomicBool::new(false),
            named_unknown: Mutex::new(Default::default()),
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
        if !self
            .remembered
            .swap(true, std::sync::atomic::Ordering::Relaxed)
        {
            self.remember_past_restarts(&policy);
        }
        let now = Instant::now();
        let mut steps = Vec::new();
        {
            let mut services = self.lock();
            self.say_unknown_services(&policy, &services);
            for (service, watch) in services.iter_mut() {
                match watch.step(service, &policy, now) {
                    Step::Nothing => {}
                    Step::Restart { because } => {
                        watch.restarted(now);
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

    /// A name in `services:` that the stack does not have is most likely a
    /// typo: said once in the log (the gateway cannot know the stack's
    /// services when the policy is checked, docker-mcp does).
    fn say_unknown_services(&self, policy: &AutohealPolicy, services: &HashMap<String, Watch>) {
        // Known once the service events have told the stack's services.
        if !services.values().any(|w| w.verdict.is_some()) {
            return;
        }
        let mut said = self.named_unknown.lock().unwrap_or_else(|p| p.into_inner());
        for name in &policy.services {
            let known = services.get(name).is_some_and(|w| w.verdict.is_some());
            if !known && said.insert(name.clone()) {
                tracing::warn!(service = %name, "policy.yaml autoheal.services names {name}, which this stack does not have (a typo?): nothing to look after there");
            }
        }
    }

    /// The limits hold across a restart of the gateway: the restarts auto-heal
    /// made within the window before it started are read back from the audit
    /// log (their durable `approved` records), each at its own time.
    fn remember_past_restarts(&self, policy: &AutohealPolicy) {
        let window_ms = policy.window_minutes.saturating_mul(60_000) as i64;
        let now_ms = crate::pipeline::now_ms() as i64;
        let filter = AuditFilter {
            principal: Some(AUTOHEAL_PRINCIPAL.to_owned()),
            tool: Some(AUTOHEAL_TOOL.to_owned()),
            decision: Some(Decision::Approved),
            since: Some(audit::format_millis(now_ms - window_ms)),
            limit: audit::MAX_LIMIT,
            ..AuditFilter::default()
        };
        let records = match self.gateway.audit_log().list(&filter) {
            Ok(records) => records,
            Err(error) => {
                tracing::warn!(%error, "auto-heal: its past restarts could not be read; counting from now");
                return;
            }
        };
        let now = Instant::now();
        let mut services = self.lock();
        // Oldest first, as a service's attempts are kept.
        for record in records.iter().rev() {
            let (Some(service), Ok(at_ms)) = (
                record.args.get("service").and_then(Value::as_str),
                audit::parse_rfc3339(&record.time),
            ) else {
                continue;
            };
            let age = Duration::from_millis(now_ms.saturating_sub(at_ms).max(0) as u64);
            if let Some(at) = now.checked_sub(age)
                && (services.contains_key(service) || services.len() < MAX_SERVICES)
            {
                services
                    .entry(service.to_owned())
                    .or_default()
                    .attempts
                    .push_back(at);
            }
        }
        if !records.is_empty() {
            tracing::info!(
                restarts = records.len(),
                "auto-heal: counting its restarts of the last {} minutes",
                policy.window_minutes
            );
        }
    }

    fn finished(&self, service: &str, reply: &Reply) {
        let Some(policy) = self.gateway.config().autoheal.clone() else {
            return;
        };
        let mut services = self.lock();
        let Some(watch) = services.get_mut(service) else {
            return;
        };
        let now = Instant::now();
        match reply {
            Reply::Executed(_) => {
                tracing::info!(%service, "auto-heal: restart done");
                watch.restart_done(&policy, now);
            }
            Reply::Refused(refusal) if !refusal.code.may_have_run() => {
                // A cooldown says when it ends: the restart waits until then.
                let wait = refusal
                    .retry_after_seconds
                    .map_or(AFTER_REFUSAL, Duration::from_secs);
                tracing::warn!(%service, code = %refusal.code, detail = %refusal.detail, "auto-heal: restart not run; trying again in {} s", wait.as_secs());
                watch.restart_refused(wait, now);
            }
            Reply::Refused(refusal) => {
                tracing::warn!(%service, code = %refusal.code, detail = %refusal.detail, "auto-heal: restart failed");
                watch.restart_done(&policy, now);
            }
            Reply::NeedApproval(_) => {
                tracing::error!(%service, "auto-heal: a restart asked for an approval; it should run on the standing one");
                watch.restart_refused(AFTER_REFUSAL, now);
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
        watch.restarted(at);
        // Restarting: nothing more until it is done.
        assert_eq!(
            watch.step("sonarr", &policy, at + Duration::from_secs(60)),
            Step::Nothing
        );
        // Done 20 s later, still unhealthy: the 30 s count again from there,
        // not from the decision (a slow restart leaves the healthcheck its time).
        let done = at + Duration::from_secs(20);
        watch.restart_done(&policy, done);
        assert_eq!(
            watch.step("sonarr", &policy, done + Duration::from_secs(29)),
            Step::Nothing
        );
        assert!(matches!(
            watch.step("sonarr", &policy, done + Duration::from_secs(30)),
            Step::Restart { .. }
        ));
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
            watch.restarted(now);
            watch.restart_done(&policy, now);
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
        watch.restarted(now);
        watch.restart_done(&policy, now);
        assert_eq!(
            watch.step("sonarr", &policy, now + Duration::from_secs(5)),
            Step::Nothing
        );
        assert!(matches!(
            watch.step("sonarr", &policy, now + Duration::from_secs(10)),
            Step::Restart { .. }
        ));
        // A restart refused by a cooldown is not counted and waits for its end.
        let later = now + Duration::from_secs(10);
        watch.restarted(later);
        watch.restart_refused(Duration::from_secs(100), later);
        assert_eq!(watch.attempts.len(), 1);
        assert_eq!(
            watch.step("sonarr", &policy, later + Duration::from_secs(99)),
            Step::Nothing
        );
        assert!(matches!(
            watch.step("sonarr", &policy, later + Duration::from_secs(100)),
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
