//! `compose_diagnose`'s answer: read strictly into the contract's
//! [`Diagnosis`], said in a few sentences with its evidence, and the one
//! action that would help (or why none would).

use ops_core::contract::diagnosis::ContainerDiagnosis;
use ops_core::contract::{Diagnosis, Verdict};
use serde_json::Value;

use crate::html::Html;
use crate::planner::Action;
use crate::verdicts;

/// Error lines and probe outputs shown per container (the tool bounds them too).
const SHOWN_LINES: usize = 5;
/// Characters of one probe output shown.
const PROBE_CHARS: usize = 300;

/// The tool's result as the contract's type; anything else is an error in words.
pub(crate) fn read(result: &Value) -> Result<Diagnosis, String> {
    serde_json::from_value::<Diagnosis>(result.clone()).map_err(|e| {
        format!(
            "I could not read the diagnosis (compose_diagnose answered in a shape I do not know: {}).",
            ops_core::bounded(&e.to_string(), 200)
        )
    })
}

/// The action that would help, or why none would.
pub(crate) fn helpful_action(diagnosis: &Diagnosis) -> Result<Action, &'static str> {
    match diagnosis.verdict {
        Verdict::UnhealthyProbe => Ok(Action::Restart),
        Verdict::Stopped | Verdict::ExitedError => Ok(Action::Start),
        Verdict::CrashLoop => Err(
            "A restart will not help: it keeps dying the same way a few seconds after each start. Fix the cause in the error above first.",
        ),
        Verdict::OomKilled => Err(
            "A restart will not help for long: it ran out of memory and will again. Give it more memory (its mem_limit) or find what fills it.",
        ),
        Verdict::Restarting => {
            Err("The Engine is already restarting it: wait a moment and ask again.")
        }
        Verdict::NotCreated => Err(
            "It has no container to start: create it with docker compose up (outside the chat).",
        ),
        Verdict::Dead | Verdict::Paused => {
            Err("The chat's actions cannot fix this state; see the next step above.")
        }
        Verdict::Starting | Verdict::Finished | Verdict::Healthy => Err("Nothing needs doing."),
    }
}

fn container_evidence(html: &mut Html, container: &ContainerDiagnosis) {
    // A crash loop caught while it runs has no exit code of its own: its last
    // death's is the evidence.
    let last_death = || {
        container
            .recent
            .events
            .iter()
            .rev()
            .find(|e| e.kind == "die")
            .and_then(|e| e.exit_code)
    };
    match (container.exit_code, last_death()) {
        (Some(code), _) => {
            let meaning = container
                .exit_meaning
                .clone()
                .unwrap_or_else(|| ops_core::contract::exit_code_meaning(code));
            html.wrap("<li>", &format!("Exit code {code}: {meaning}."), "</li>");
        }
        (None, Some(code)) => {
            let meaning = ops_core::contract::exit_code_meaning(code);
            html.wrap(
                "<li>",
                &format!("Last exit code {code}: {meaning} (it was started again since)."),
                "</li>",
            );
        }
        (None, None) => {}
    }
    if container.oom_killed {
        html.raw("<li>The kernel killed it for running out of memory (OOMKilled).</li>");
    }
    let recent = &container.recent;
    let minutes = recent.window_seconds.max(60) / 60;
    let partial = if recent.complete {
        ""
    } else {
        " (counted since docker-mcp started watching, so maybe more)"
    };
    html.wrap(
        "<li>",
        &format!(
            "In the last {minutes} minutes: {} start{}, {} death{}{}{partial}; restarts by its policy in all: {}.",
            recent.starts,
            plural(recent.starts),
            recent.deaths,
            plural(recent.deaths),
            if recent.crash_loop { " (a crash loop)" } else { "" },
            container.restart_count
        ),
        "</li>",
    );
    if let Some(error) = &container.engine_error {
        html.wrap("<li>The Engine says: ", error, "</li>");
    }
    if let Some(health) = &container.health {
        html.wrap(
            "<li>",
            &format!(
                "Healthcheck {}: failing {} time{} in a row ({}).",
                health.status,
                health.failing_streak,
                plural(health.failing_streak),
                health.test.join(" ")
            ),
            "</li>",
        );
        if let Some(probe) = health.probes.iter().rev().find(|p| p.exit_code != 0) {
            let output = probe.output.trim();
            if output.is_empty() {
                html.raw("<li>The last failing probe printed nothing.</li>");
            } else {
                html.wrap(
                    "<li>Last failing probe output: <code>",
                    &ops_core::bounded(output, PROBE_CHARS),
                    "</code></li>",
                );
            }
        }
    }
    if !container.error_lines.is_empty() {
        let shown =
            &container.error_lines[container.error_lines.len().saturating_sub(SHOWN_LINES)..];
        html.raw("<li>Last error lines in its logs:<pre class=\"logs\">")
            .text(&shown.join("\n"))
            .raw("</pre></li>");
    }
}

fn plural(n: impl Into<u64>) -> &'static str {
    if n.into() == 1 { "" } else { "s" }
}

/// The diagnosis in a few sentences with its evidence (all of it came
/// redacted through the gateway, and is text here).
pub(crate) fn render(diagnosis: &Diagnosis, typed: Option<&str>) -> Html {
    let mut html = Html::new();
    if let Some(typed) = typed {
        html.wrap(
            "<p class=\"note\">",
            &format!(
                "I took \u{201c}{typed}\u{201d} to mean {}.",
                diagnosis.service
            ),
            "</p>",
        );
    }
    let flag = if diagnosis.verdict.is_problem() {
        "\u{26a0} "
    } else {
        ""
    };
    html.raw("<p><strong>")
        .text(&diagnosis.service)
        .raw("</strong>: ")
        .text(&format!("{flag}{}. ", verdicts::words(diagnosis.verdict)))
        .text(&diagnosis.summary)
        .raw("</p>");
    for container in &diagnosis.containers {
        if diagnosis.containers.len() > 1 {
            html.wrap("<p>", &container.name, ":</p>");
        }
        html.raw("<ul class=\"evidence\">");
        container_evidence(&mut html, container);
        html.raw("</ul>");
    }
    if diagnosis.verdict.is_problem() && !diagnosis.next_step.is_empty() {
        html.wrap(
            "<p><strong>Next step:</strong> ",
            &diagnosis.next_step,
            "</p>",
        );
    }
    if let Err(why) = helpful_action(diagnosis)
        && diagnosis.verdict.is_problem()
    {
        html.wrap("<p>", why, "</p>");
    }
    html
}

/// A diagnosis of `service` with `verdict` and every kind of evidence (markup
/// in it, to show it stays text), for the tests here and the agent's.
#[cfg(test)]
pub(crate) fn sample(service: &str, verdict: Verdict) -> Diagnosis {
    use ops_core::contract::diagnosis::{HealthEvidence, Probe, RecentActivity};
    Diagnosis {
        service: service.into(),
        verdict,
        summary: format!("{service} evidence summary."),
        next_step: format!("{service} next step."),
        containers: vec![ContainerDiagnosis {
            name: format!("arr-{service}-1"),
            id: "abc".into(),
            state: "restarting".into(),
            verdict,
            exit_code: Some(1),
            exit_meaning: Some("the program failed (a general error)".into()),
            oom_killed: false,
            restart_count: 7,
            restart_policy: "always".into(),
            started_at: None,
            finished_at: None,
            engine_error: None,
            recent: RecentActivity {
                window_seconds: 600,
                starts: 4,
                deaths: 4,
                oom_kills: 0,
                crash_loop: verdict == Verdict::CrashLoop,
                events: vec![],
                complete: true,
            },
            health: Some(HealthEvidence {
                status: "unhealthy".into(),
                failing_streak: 3,
                test: vec!["CMD-SHELL".into(), "wget -q localhost".into()],
                probes: vec![Probe {
                    at: "2026-01-01T00:00:00Z".into(),
                    exit_code: 1,
                    output: "<b>connection refused</b>".into(),
                }],
            }),
            error_lines: vec![format!(
                "ERROR: {service} cannot open its database <script>"
            )],
        }],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_the_contract_strictly_and_says_so_when_it_cannot() {
        let wire = serde_json::to_value(sample("bazarr", Verdict::CrashLoop)).unwrap();
        assert_eq!(read(&wire).unwrap(), sample("bazarr", Verdict::CrashLoop));
        for bad in [
            json!({"service": "x"}),
            json!("text"),
            json!(null),
            json!({"service": "x", "verdict": "exploded", "summary": "", "next_step": "", "containers": []}),
        ] {
            let error = read(&bad).unwrap_err();
            assert!(
                error.starts_with("I could not read the diagnosis"),
                "{error}"
            );
        }
    }

    #[test]
    fn the_evidence_is_said_and_a_crash_loop_gets_no_restart() {
        let looping = sample("bazarr", Verdict::CrashLoop);
        let text = render(&looping, Some("bazar")).into_string();
        for expected in [
            "I took \u{201c}bazar\u{201d} to mean bazarr.",
            "crash loop",
            "bazarr evidence summary.",
            "Exit code 1: the program failed (a general error).",
            "4 starts, 4 deaths (a crash loop)",
            "&lt;b&gt;connection refused&lt;/b&gt;",
            "ERROR: bazarr cannot open its database &lt;script&gt;",
            "A restart will not help",
        ] {
            assert!(text.contains(expected), "{expected:?} in {text}");
        }
        assert!(helpful_action(&looping).is_err());
        assert!(helpful_action(&sample("bazarr", Verdict::OomKilled)).is_err());
        assert_eq!(
            helpful_action(&sample("bazarr", Verdict::UnhealthyProbe)),
            Ok(Action::Restart)
        );
        assert_eq!(
            helpful_action(&sample("bazarr", Verdict::Stopped)),
            Ok(Action::Start)
        );
        // Caught running between two deaths: the last death's exit code is said.
        let mut running = sample("bazarr", Verdict::CrashLoop);
        running.containers[0].exit_code = None;
        running.containers[0].recent.events = vec![
            ops_core::contract::diagnosis::RecentEvent {
                at: 1,
                kind: "die".into(),
                exit_code: Some(2),
            },
            ops_core::contract::diagnosis::RecentEvent {
                at: 2,
                kind: "start".into(),
                exit_code: None,
            },
        ];
        let text = render(&running, None).into_string();
        assert!(
            text.contains("Last exit code 2: the program was started with wrong arguments"),
            "{text}"
        );
        let healthy = render(&sample("bazarr", Verdict::Healthy), None).into_string();
        assert!(!healthy.contains("Next step"), "{healthy}");
        assert!(!healthy.contains("\u{26a0}"), "{healthy}");
    }
}
