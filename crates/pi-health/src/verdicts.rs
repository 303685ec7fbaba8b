//! What `compose_ps` says of each service, honestly: its verdict (a crash loop
//! or `restarting` is a problem, not "running"), whether that is a problem, and
//! exit codes in words. The one place that reads these off `compose_ps`: the
//! fields docker-mcp reports (`verdict`, `problem`, `exit_meaning`,
//! `crash_loop`, `recent_deaths`) when present, else the contract's one rule
//! (`diagnosis::container_verdict`) applied to `state`, `health` and `exit_code`.

use ops_core::contract::diagnosis::{self, Facts, RecentActivity};
use ops_core::contract::{Verdict, exit_code_meaning};
use serde_json::Value;

fn text<'a>(value: &'a Value, key: &str) -> &'a str {
    value.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// The containers of one `compose_ps` service entry.
pub(crate) fn containers(service: &Value) -> &[Value] {
    service
        .get("containers")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

/// The verdict of one container, from what `compose_ps` gives without
/// docker-mcp's (the service's state when the container has none), by the
/// contract's rule: what `compose_ps` cannot know (the OOM flag, the restart
/// policy) is unknown.
fn container_verdict(container: &Value, service_state: &str) -> Verdict {
    let recent = RecentActivity {
        crash_loop: container.get("crash_loop").and_then(Value::as_bool) == Some(true),
        ..RecentActivity::default()
    };
    let state = match text(container, "state") {
        "" => service_state,
        state => state,
    };
    let health = Some(text(container, "health")).filter(|h| !h.is_empty());
    diagnosis::container_verdict(&Facts {
        state,
        health,
        exit_code: container.get("exit_code").and_then(Value::as_i64),
        oom_killed: false,
        restart_policy: None,
        recent: &recent,
    })
}

/// A service's verdict: docker-mcp's when it gave one, else its worst container's
/// (not created without containers).
pub(crate) fn service_verdict(service: &Value) -> Verdict {
    if let Some(verdict) = service
        .get("verdict")
        .and_then(|v| serde_json::from_value::<Verdict>(v.clone()).ok())
    {
        return verdict;
    }
    let state = text(service, "state");
    let containers = containers(service);
    if containers.is_empty() {
        // No container listed: the service entry's own state and health say it.
        return match state {
            "" | "not created" => Verdict::NotCreated,
            _ => container_verdict(service, state),
        };
    }
    diagnosis::service_verdict(containers.iter().map(|c| container_verdict(c, state)))
}

/// Whether a person should hear about this service unasked.
pub(crate) fn is_problem(service: &Value) -> bool {
    service
        .get("problem")
        .and_then(Value::as_bool)
        .unwrap_or_else(|| service_verdict(service).is_problem())
}

/// The first container's exit code and its meaning: docker-mcp's words, else the contract's.
pub(crate) fn exit(service: &Value) -> Option<(i64, String)> {
    let container = containers(service).first()?;
    let code = container.get("exit_code").and_then(Value::as_i64)?;
    let meaning = container
        .get("exit_meaning")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| exit_code_meaning(code));
    Some((code, meaning))
}

/// Deaths in the last minutes, when docker-mcp counted them.
pub(crate) fn recent_deaths(service: &Value) -> Option<u64> {
    containers(service)
        .iter()
        .filter_map(|c| c.get("recent_deaths").and_then(Value::as_u64))
        .max()
}

/// A `compose_ps` service entry with its verdict, whether it is a problem and
/// the verdict in words, and each container's exit code in words, filled in
/// where docker-mcp did not say (for the pages, which show them as text).
pub(crate) fn annotated(service: &Value) -> Value {
    let mut service = service.clone();
    let verdict = service_verdict(&service);
    let problem = is_problem(&service);
    if let Some(entry) = service.as_object_mut() {
        entry.insert("verdict".into(), Value::from(verdict.as_str()));
        entry.insert("problem".into(), Value::from(problem));
        entry.insert("verdict_words".into(), Value::from(words(verdict)));
        if let Some(containers) = entry.get_mut("containers").and_then(Value::as_array_mut) {
            for container in containers.iter_mut().filter_map(Value::as_object_mut) {
                let code = container.get("exit_code").and_then(Value::as_i64);
                if let Some(code) = code
                    && !container.contains_key("exit_meaning")
                {
                    container.insert("exit_meaning".into(), Value::from(exit_code_meaning(code)));
                }
            }
        }
    }
    service
}

/// A verdict in a few words, for people.
pub(crate) fn words(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::CrashLoop => "crash loop: it keeps dying and being restarted",
        Verdict::OomKilled => "killed for running out of memory",
        Verdict::ExitedError => "exited with an error",
        Verdict::UnhealthyProbe => "unhealthy: its healthcheck fails",
        Verdict::Restarting => "restarting",
        Verdict::Dead => "dead: the Engine could not stop or remove it cleanly",
        Verdict::Paused => "paused",
        Verdict::NotCreated => "not created",
        Verdict::Stopped => "stopped",
        Verdict::Starting => "starting (the healthcheck has not decided yet)",
        Verdict::Finished => "finished (a one-shot job that ran and exited normally)",
        Verdict::Healthy => "running",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn docker_mcps_fields_win_and_the_fallback_computes_the_same_rule() {
        let reported = json!({"state": "running", "verdict": "crash_loop", "problem": true,
            "containers": [{"state": "running", "exit_code": 1, "exit_meaning": "its words"}]});
        assert_eq!(service_verdict(&reported), Verdict::CrashLoop);
        assert!(is_problem(&reported));
        assert_eq!(exit(&reported), Some((1, "its words".into())));

        let restarting =
            json!({"state": "restarting", "containers": [{"state": "restarting", "exit_code": 1}]});
        assert_eq!(service_verdict(&restarting), Verdict::Restarting);
        assert!(is_problem(&restarting), "restarting is a problem");

        let looping = json!({"state": "running", "containers": [{"state": "running", "crash_loop": true, "recent_deaths": 4}]});
        assert_eq!(service_verdict(&looping), Verdict::CrashLoop);
        assert_eq!(recent_deaths(&looping), Some(4));

        // The contract's rule: 137 without the OOM flag is a forced stop.
        let killed =
            json!({"state": "exited", "containers": [{"state": "exited", "exit_code": 137}]});
        assert_eq!(service_verdict(&killed), Verdict::Stopped);
        assert_eq!(
            exit(&killed).unwrap().1,
            "killed (SIGKILL): stopped forcibly or out of memory"
        );
        let failed =
            json!({"state": "exited", "containers": [{"state": "exited", "exit_code": 1}]});
        assert_eq!(service_verdict(&failed), Verdict::ExitedError);

        let stopped =
            json!({"state": "exited", "containers": [{"state": "exited", "exit_code": 0}]});
        assert_eq!(service_verdict(&stopped), Verdict::Stopped);
        assert!(!is_problem(&stopped));

        let unhealthy = json!({"state": "running", "health": "unhealthy", "containers": []});
        assert_eq!(service_verdict(&unhealthy), Verdict::UnhealthyProbe);
        assert_eq!(
            service_verdict(&json!({"state": "not created", "containers": []})),
            Verdict::NotCreated
        );
        let shown = annotated(&failed);
        assert_eq!(shown["verdict"], "exited_error");
        assert_eq!(shown["problem"], true);
        assert_eq!(shown["verdict_words"], "exited with an error");
        assert_eq!(
            shown["containers"][0]["exit_meaning"],
            "the program failed (a general error)"
        );
        assert_eq!(
            annotated(&reported)["containers"][0]["exit_meaning"],
            "its words"
        );
        assert_eq!(
            service_verdict(&json!({"verdict": "no such verdict", "state": "running"})),
            Verdict::Healthy,
            "an unknown wire name falls back to the rule"
        );
    }
}
