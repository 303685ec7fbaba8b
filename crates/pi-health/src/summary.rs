//! Compact summaries of tool results, for the answer and for a model's prompt.

use ops_core::contract::Verdict;
use serde::Serialize;
use serde_json::{Value, json};

use crate::verdicts;

/// The state of the compose stack, as `compose_ps` reported it. Crash loops,
/// `restarting` and errors are problems even while a container happens to run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub(crate) struct StackSummary {
    pub(crate) running: usize,
    pub(crate) total: usize,
    pub(crate) crash_looping: Vec<String>,
    pub(crate) restarting: Vec<String>,
    pub(crate) unhealthy: Vec<String>,
    /// Exited with an error or killed (out of memory too): service, exit code
    /// and its meaning.
    pub(crate) exited: Vec<(String, Option<i64>, Option<String>)>,
    /// Dead or paused.
    pub(crate) stuck: Vec<String>,
    /// Stopped by someone (not a problem, but not running either).
    pub(crate) stopped: Vec<String>,
    pub(crate) not_created: Vec<String>,
}

/// The declared services of a `compose_ps` result.
pub(crate) fn declared(compose_ps: &Value) -> impl Iterator<Item = &Value> {
    compose_ps
        .get("services")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter(|s| s.get("declared").and_then(Value::as_bool) != Some(false))
}

/// Reads `compose_ps`'s structured result; unknown shapes give an empty summary.
pub(crate) fn summarize(compose_ps: &Value) -> StackSummary {
    let mut summary = StackSummary::default();
    for service in declared(compose_ps) {
        let name = service
            .get("service")
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_owned();
        summary.total += 1;
        if service.get("state").and_then(Value::as_str) == Some("running") {
            summary.running += 1;
        }
        match verdicts::service_verdict(service) {
            Verdict::CrashLoop => summary.crash_looping.push(name),
            Verdict::Restarting => summary.restarting.push(name),
            Verdict::UnhealthyProbe => summary.unhealthy.push(name),
            Verdict::ExitedError | Verdict::OomKilled => {
                let exit = verdicts::exit(service);
                summary.exited.push((
                    name,
                    exit.as_ref().map(|(code, _)| *code),
                    exit.map(|(_, meaning)| meaning),
                ));
            }
            Verdict::Dead | Verdict::Paused => summary.stuck.push(name),
            Verdict::Stopped => summary.stopped.push(name),
            Verdict::NotCreated => summary.not_created.push(name),
            Verdict::Starting | Verdict::Finished | Verdict::Healthy => {}
        }
    }
    summary
}

/// What a model is told of `compose_ps`: the summary sentence and each
/// declared service's state, health and status (nothing else of the result).
pub(crate) fn for_model(compose_ps: &Value) -> Value {
    let services: Vec<Value> = declared(compose_ps)
        .map(|s| {
            let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or_default().to_owned();
            json!({
                "service": text(s.get("service")),
                "state": text(s.get("state")),
                "health": text(s.get("health")),
                "status": text(s.pointer("/containers/0/status")),
                "verdict": verdicts::service_verdict(s).as_str(),
            })
        })
        .collect();
    json!({ "summary": summarize(compose_ps).sentence(), "services": services })
}

impl StackSummary {
    /// What is wrong, one phrase per kind: "crash loop: bazarr", "unhealthy: prowlarr", ...
    pub(crate) fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let mut kind = |label: &str, names: &[String]| {
            if !names.is_empty() {
                problems.push(format!("{label}: {}", names.join(", ")));
            }
        };
        kind("crash loop", &self.crash_looping);
        kind("restarting", &self.restarting);
        kind("unhealthy", &self.unhealthy);
        if !self.exited.is_empty() {
            let exited: Vec<String> = self
                .exited
                .iter()
                .map(|(name, code, meaning)| match (code, meaning) {
                    (Some(code), Some(meaning)) => format!("{name} (exit code {code}: {meaning})"),
                    (Some(code), None) => format!("{name} (exit code {code})"),
                    _ => name.clone(),
                })
                .collect();
            problems.push(format!("exited: {}", exited.join(", ")));
        }
        let mut kind = |label: &str, names: &[String]| {
            if !names.is_empty() {
                problems.push(format!("{label}: {}", names.join(", ")));
            }
        };
        kind("dead or paused", &self.stuck);
        problems
    }

    /// One plain sentence (no markup): "4 of 6 services running; crash loop: bazarr; ..."
    pub(crate) fn sentence(&self) -> String {
        let mut parts = vec![format!(
            "{} of {} services running",
            self.running, self.total
        )];
        let problems = self.problems();
        if problems.is_empty()
            && self.total > 0
            && self.stopped.is_empty()
            && self.not_created.is_empty()
        {
            parts.push("all healthy".into());
        }
        parts.extend(problems);
        if !self.stopped.is_empty() {
            parts.push(format!("stopped: {}", self.stopped.join(", ")));
        }
        if !self.not_created.is_empty() {
            parts.push(format!("not created: {}", self.not_created.join(", ")));
        }
        parts.join("; ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn summarizes_compose_ps() {
        let result = json!({
            "project": "arr", "file": "/opt/stack/docker-compose.yml",
            "services": [
                {"service": "sonarr", "declared": true, "state": "running", "containers": []},
                {"service": "prowlarr", "declared": true, "state": "running", "health": "unhealthy", "containers": []},
                {"service": "recyclarr", "declared": true, "state": "exited", "containers": [{"exit_code": 3}]},
                {"service": "bazarr", "declared": true, "state": "not created", "containers": []},
                {"service": "old", "declared": false, "state": "exited", "containers": []}
            ]
        });
        let summary = summarize(&result);
        assert_eq!((summary.running, summary.total), (2, 4));
        assert_eq!(
            summary.sentence(),
            "2 of 4 services running; unhealthy: prowlarr; exited: recyclarr (exit code 3: the program failed with its own error code 3); not created: bazarr"
        );
        let looping = summarize(&json!({"services": [
            {"service": "bazarr", "state": "running", "containers": [{"state": "running", "crash_loop": true}]},
            {"service": "lidarr", "state": "restarting", "containers": [{"state": "restarting"}]},
            {"service": "jellyfin", "state": "exited", "containers": [{"state": "exited", "exit_code": 139}]},
            {"service": "sonarr", "state": "exited", "containers": [{"state": "exited", "exit_code": 0}]}
        ]}));
        assert_eq!(
            looping.sentence(),
            "1 of 4 services running; crash loop: bazarr; restarting: lidarr; exited: jellyfin (exit code 139: crashed with a segmentation fault (SIGSEGV)); stopped: sonarr",
            "a crash loop running for a moment is still a problem"
        );
        assert_eq!(looping.problems().len(), 3);
        let healthy = summarize(&json!({"services": [{"service": "a", "state": "running"}]}));
        assert_eq!(healthy.sentence(), "1 of 1 services running; all healthy");
        assert_eq!(summarize(&json!("garbage")), StackSummary::default());
    }

    #[test]
    fn a_model_is_told_states_not_the_whole_result() {
        let told = for_model(
            &json!({"project": "arr", "file": "/secret/path.yml", "services": [
                {"service": "sonarr", "declared": true, "state": "running", "health": "healthy",
                 "containers": [{"status": "Up 2 hours (healthy)", "id": "abc", "image": "x"}]},
                {"service": "old", "declared": false, "state": "exited"}
            ]}),
        );
        assert_eq!(
            told,
            json!({"summary": "1 of 1 services running; all healthy", "services": [
                {"service": "sonarr", "state": "running", "health": "healthy", "status": "Up 2 hours (healthy)", "verdict": "healthy"}
            ]})
        );
        assert_eq!(for_model(&json!(null))["services"], json!([]));
    }
}
