//! How a diagnosis is said: the summary and the next step for a verdict. The
//! verdict itself comes from the contract's one rule ([`container_verdict`]),
//! applied here to state, health, exit code, OOM flag and recent events.
//! Pure: no Engine, no clock.

use ops_core::contract::diagnosis::{ContainerDiagnosis, Verdict, exit_code_meaning};

// The rule itself is the contract's, so that pi-health reads a `compose_ps`
// from an older docker-mcp the same way.
pub use ops_core::contract::diagnosis::{Facts, container_verdict, service_verdict};

/// How an exit code reads in a sentence: "exit code 1 (the program failed ...)".
pub fn exit_words(code: i64) -> String {
    format!("exit code {code} ({})", exit_code_meaning(code))
}

fn minutes(seconds: u64) -> u64 {
    seconds.div_ceil(60).max(1)
}

/// One or two plain sentences: what is wrong with `service` and the evidence.
/// `containers` are the service's diagnosed containers; the worst speaks.
pub fn summary(service: &str, verdict: Verdict, containers: &[ContainerDiagnosis]) -> String {
    let Some(worst) = containers.iter().find(|c| c.verdict == verdict) else {
        return format!("{service} is declared in the compose file but has no container.");
    };
    let exit = worst.exit_code.map(exit_words);
    let last_error = worst
        .error_lines
        .last()
        .or(worst.engine_error.as_ref())
        .map(|line| format!(" Last error: {line}"))
        .unwrap_or_default();
    let several = if containers.len() > 1 {
        format!(" ({} of {} containers)", worst.name, containers.len())
    } else {
        String::new()
    };
    let head = match verdict {
        Verdict::CrashLoop => {
            let recent = &worst.recent;
            let last_exit = recent
                .events
                .iter()
                .rev()
                .find_map(|e| e.exit_code.filter(|_| e.kind == "die"))
                .map(|code| format!(", last with {}", exit_words(code)))
                .unwrap_or_default();
            format!(
                "{service}{several} keeps crashing: it died {} times in the last {} minutes{last_exit}.",
                recent.deaths,
                minutes(recent.window_seconds)
            )
        }
        Verdict::OomKilled => format!(
            "{service}{several} was killed because it ran out of memory ({}).",
            exit.unwrap_or_else(|| "exit code unknown".into())
        ),
        Verdict::ExitedError => format!(
            "{service}{several} is not running: it exited with {}.",
            exit.unwrap_or_else(|| "an error".into())
        ),
        Verdict::UnhealthyProbe => {
            let health = worst.health.as_ref();
            let streak = health.map_or(0, |h| h.failing_streak);
            let probe = health
                .and_then(|h| h.probes.last())
                .map(|p| format!(" Last probe (exit code {}): {}", p.exit_code, p.output))
                .unwrap_or_default();
            return format!(
                "{service}{several} is running but its healthcheck fails ({streak} times in a row).{probe}"
            );
        }
        Verdict::Restarting => format!(
            "{service}{several} is being restarted by the Engine (it restarted {} times so far).",
            worst.restart_count
        ),
        Verdict::Dead => format!(
            "{service}{several} is dead: the Engine could not stop or remove its container cleanly."
        ),
        Verdict::Paused => {
            format!("{service}{several} is paused: it holds its memory but does nothing.")
        }
        Verdict::NotCreated => {
            format!("{service} is declared in the compose file but has no container.")
        }
        Verdict::Stopped => match exit {
            Some(exit) => format!("{service}{several} is stopped ({exit})."),
            None => format!("{service}{several} is stopped (it has not been started)."),
        },
        Verdict::Starting => {
            return format!("{service}{several} is running; its healthcheck has not decided yet.");
        }
        Verdict::Finished => {
            return format!(
                "{service}{several} ran and finished normally (exit code 0): it is a one-shot job."
            );
        }
        Verdict::Healthy => {
            let healthy = if worst.health.is_some() {
                " and its healthcheck passes"
            } else {
                ""
            };
            return format!("{service} is running{healthy}.");
        }
    };
    format!("{head}{last_error}")
}

/// What a person could do next. A crash loop's is never "restart".
pub fn next_step(service: &str, verdict: Verdict, containers: &[ContainerDiagnosis]) -> String {
    let worst = containers.iter().find(|c| c.verdict == verdict);
    let error = worst
        .and_then(|c| c.error_lines.last().or(c.engine_error.as_ref()))
        .map(|line| format!(" (\"{line}\")"))
        .unwrap_or_default();
    match verdict {
        Verdict::CrashLoop => format!(
            "A restart will not help: it dies again within seconds. Look at the error{error} and at {service}'s configuration (environment, volumes, the image's version) in the compose file; start it again once that is fixed."
        ),
        Verdict::OomKilled => format!(
            "Raise {service}'s memory limit (mem_limit, or deploy.resources.limits.memory, in the compose file) or find what makes it use so much memory, then start it."
        ),
        Verdict::ExitedError => {
            format!("Look at the error{error} and fix its cause, then start {service}.")
        }
        Verdict::UnhealthyProbe => {
            let output = worst
                .and_then(|c| c.health.as_ref())
                .and_then(|h| h.probes.last())
                .map(|p| format!(" The probe says: {}.", p.output))
                .unwrap_or_default();
            format!(
                "Check what the healthcheck tests.{output} A restart may help if {service} is stuck; if the probe keeps failing after one, the cause is elsewhere."
            )
        }
        Verdict::Restarting => format!(
            "Wait a few seconds and diagnose {service} again: if it keeps dying, it is a crash loop and a restart will not help."
        ),
        Verdict::Dead => format!(
            "Recreate {service} (compose_up); if that fails too, the Docker Engine itself needs attention."
        ),
        Verdict::Paused => {
            format!("Unpause {service} (docker unpause): docker-mcp does not pause or unpause.")
        }
        Verdict::NotCreated => format!("Create {service} with compose_up."),
        Verdict::Stopped => format!("Start {service} (compose_start) if it should be running."),
        Verdict::Starting => {
            format!("Wait for {service}'s healthcheck to decide, then ask again.")
        }
        Verdict::Finished => {
            format!("Nothing to do: {service} ran and finished. Start it to run it once more.")
        }
        Verdict::Healthy => "Nothing to do.".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ops_core::contract::diagnosis::{HealthEvidence, Probe, RecentActivity, RecentEvent};

    fn quiet() -> RecentActivity {
        RecentActivity {
            window_seconds: 600,
            ..RecentActivity::default()
        }
    }

    fn facts<'a>(state: &'a str, recent: &'a RecentActivity) -> Facts<'a> {
        Facts {
            state,
            health: None,
            exit_code: None,
            oom_killed: false,
            restart_policy: None,
            recent,
        }
    }

    fn looping() -> RecentActivity {
        let mut recent = quiet();
        recent.deaths = 4;
        recent.starts = 5;
        recent.crash_loop = true;
        recent.events = vec![
            RecentEvent {
                at: 1,
                kind: "die".into(),
                exit_code: Some(1),
            },
            RecentEvent {
                at: 2,
                kind: "start".into(),
                exit_code: None,
            },
        ];
        recent
    }

    fn diagnosed(verdict: Verdict) -> ContainerDiagnosis {
        ContainerDiagnosis {
            name: "stack-bazarr-1".into(),
            id: "abc".into(),
            state: "exited".into(),
            verdict,
            exit_code: Some(1),
            exit_meaning: Some(exit_code_meaning(1)),
            oom_killed: false,
            restart_count: 4,
            restart_policy: "always".into(),
            started_at: None,
            finished_at: None,
            engine_error: None,
            recent: looping(),
            health: Some(HealthEvidence {
                status: "unhealthy".into(),
                failing_streak: 3,
                test: vec!["CMD-SHELL".into(), "check".into()],
                probes: vec![Probe {
                    at: "t".into(),
                    exit_code: 1,
                    output: "indexer search failed: 503".into(),
                }],
            }),
            error_lines: vec!["FATAL: database is locked".into()],
        }
    }

    #[test]
    fn a_crash_loop_shows_even_while_running() {
        let recent = looping();
        for state in ["running", "restarting", "exited"] {
            assert_eq!(
                container_verdict(&facts(state, &recent)),
                Verdict::CrashLoop
            );
        }
    }

    #[test]
    fn every_state_has_its_verdict() {
        let recent = quiet();
        let with = |f: Facts| container_verdict(&f);
        let base = facts("running", &recent);
        assert_eq!(with(base), Verdict::Healthy);
        assert_eq!(
            with(Facts {
                health: Some("unhealthy"),
                ..base
            }),
            Verdict::UnhealthyProbe
        );
        assert_eq!(
            with(Facts {
                health: Some("starting"),
                ..base
            }),
            Verdict::Starting
        );
        assert_eq!(
            with(Facts {
                health: Some("healthy"),
                ..base
            }),
            Verdict::Healthy
        );
        assert_eq!(with(facts("restarting", &recent)), Verdict::Restarting);
        assert_eq!(with(facts("paused", &recent)), Verdict::Paused);
        assert_eq!(with(facts("dead", &recent)), Verdict::Dead);
        assert_eq!(with(facts("removing", &recent)), Verdict::Dead);
        assert_eq!(with(facts("created", &recent)), Verdict::Stopped);
        let exited = facts("exited", &recent);
        assert_eq!(
            with(Facts {
                exit_code: Some(1),
                ..exited
            }),
            Verdict::ExitedError
        );
        assert_eq!(
            with(Facts {
                exit_code: Some(137),
                oom_killed: true,
                ..exited
            }),
            Verdict::OomKilled
        );
        assert_eq!(
            with(Facts {
                exit_code: Some(137),
                ..exited
            }),
            Verdict::Stopped
        );
        assert_eq!(
            with(Facts {
                exit_code: Some(143),
                ..exited
            }),
            Verdict::Stopped
        );
        assert_eq!(
            with(Facts {
                exit_code: Some(0),
                restart_policy: Some("no"),
                ..exited
            }),
            Verdict::Finished
        );
        assert_eq!(
            with(Facts {
                exit_code: Some(0),
                restart_policy: Some("unless-stopped"),
                ..exited
            }),
            Verdict::Stopped
        );
        // Without inspect, an `oom` event since the last start says it.
        let mut oom = quiet();
        oom.events = vec![RecentEvent {
            at: 1,
            kind: "oom".into(),
            exit_code: None,
        }];
        assert_eq!(
            with(Facts {
                exit_code: Some(137),
                ..facts("exited", &oom)
            }),
            Verdict::OomKilled
        );
    }

    #[test]
    fn the_service_is_its_worst_container() {
        assert_eq!(service_verdict([]), Verdict::NotCreated);
        assert_eq!(
            service_verdict([Verdict::Healthy, Verdict::CrashLoop, Verdict::Stopped]),
            Verdict::CrashLoop
        );
    }

    #[test]
    fn summaries_carry_the_evidence() {
        let crash = [diagnosed(Verdict::CrashLoop)];
        let text = summary("bazarr", Verdict::CrashLoop, &crash);
        assert_eq!(
            text,
            "bazarr keeps crashing: it died 4 times in the last 10 minutes, last with exit code 1 \
             (the program failed (a general error)). Last error: FATAL: database is locked"
        );
        let unhealthy = [diagnosed(Verdict::UnhealthyProbe)];
        let text = summary("prowlarr", Verdict::UnhealthyProbe, &unhealthy);
        assert!(text.contains("3 times in a row"), "{text}");
        assert!(text.contains("indexer search failed: 503"), "{text}");
        let text = summary("x", Verdict::OomKilled, &[diagnosed(Verdict::OomKilled)]);
        assert!(text.contains("ran out of memory"), "{text}");
        let text = summary(
            "x",
            Verdict::ExitedError,
            &[diagnosed(Verdict::ExitedError)],
        );
        assert!(text.contains("exit code 1"), "{text}");
        assert!(text.contains("database is locked"), "{text}");
        assert!(summary("x", Verdict::NotCreated, &[]).contains("no container"));
        for verdict in [
            Verdict::Restarting,
            Verdict::Dead,
            Verdict::Paused,
            Verdict::Stopped,
            Verdict::Starting,
            Verdict::Finished,
            Verdict::Healthy,
        ] {
            let text = summary("x", verdict, &[diagnosed(verdict)]);
            assert!(text.starts_with("x "), "{verdict:?}: {text}");
        }
    }

    #[test]
    fn next_steps_fit_the_verdict() {
        let step = |v: Verdict| next_step("bazarr", v, &[diagnosed(v)]);
        let crash = step(Verdict::CrashLoop);
        assert!(crash.contains("A restart will not help"), "{crash}");
        assert!(crash.contains("database is locked"), "{crash}");
        assert!(step(Verdict::OomKilled).contains("memory limit"));
        assert!(step(Verdict::UnhealthyProbe).contains("indexer search failed"));
        assert!(step(Verdict::UnhealthyProbe).contains("restart may help"));
        assert!(step(Verdict::Stopped).contains("Start bazarr"));
        let exited = step(Verdict::ExitedError);
        assert!(exited.contains("database is locked") && exited.contains("start bazarr"));
        assert!(step(Verdict::NotCreated).contains("compose_up"));
        assert_eq!(step(Verdict::Healthy), "Nothing to do.");
    }
}
