//! Compact summaries of tool results, for the answer and for a model's prompt.

use serde::Serialize;
use serde_json::{Value, json};

/// The state of the compose stack, as `compose_ps` reported it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub(crate) struct StackSummary {
    pub(crate) running: usize,
    pub(crate) total: usize,
    pub(crate) unhealthy: Vec<String>,
    /// Service and exit code.
    pub(crate) exited: Vec<(String, Option<i64>)>,
    pub(crate) not_created: Vec<String>,
}

/// Reads `compose_ps`'s structured result; unknown shapes give an empty summary.
pub(crate) fn summarize(compose_ps: &Value) -> StackSummary {
    let mut summary = StackSummary::default();
    let services = compose_ps
        .get("services")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    for service in services
        .iter()
        .filter(|s| s.get("declared").and_then(Value::as_bool) != Some(false))
    {
        let name = service
            .get("service")
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_owned();
        let state = service
            .get("state")
            .and_then(Value::as_str)
            .unwrap_or_default();
        summary.total += 1;
        match state {
            "running" => summary.running += 1,
            "not created" => summary.not_created.push(name.clone()),
            "exited" | "dead" => {
                let code = service
                    .pointer("/containers/0/exit_code")
                    .and_then(Value::as_i64);
                summary.exited.push((name.clone(), code));
            }
            _ => {}
        }
        if service.get("health").and_then(Value::as_str) == Some("unhealthy") {
            summary.unhealthy.push(name);
        }
    }
    summary
}

/// What a model is told of `compose_ps`: the summary sentence and each
/// declared service's state, health and status (nothing else of the result).
pub(crate) fn for_model(compose_ps: &Value) -> Value {
    let services: Vec<Value> = compose_ps
        .get("services")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter(|s| s.get("declared").and_then(Value::as_bool) != Some(false))
        .map(|s| {
            let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or_default().to_owned();
            json!({
                "service": text(s.get("service")),
                "state": text(s.get("state")),
                "health": text(s.get("health")),
                "status": text(s.pointer("/containers/0/status")),
            })
        })
        .collect();
    json!({ "summary": summarize(compose_ps).sentence(), "services": services })
}

impl StackSummary {
    /// What is wrong, one phrase per kind: "unhealthy: prowlarr", "exited: ...".
    pub(crate) fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if !self.unhealthy.is_empty() {
            problems.push(format!("unhealthy: {}", self.unhealthy.join(", ")));
        }
        if !self.exited.is_empty() {
            let exited: Vec<String> = self
                .exited
                .iter()
                .map(|(name, code)| match code {
                    Some(code) => format!("{name} (exit code {code})"),
                    None => name.clone(),
                })
                .collect();
            problems.push(format!("exited: {}", exited.join(", ")));
        }
        if !self.not_created.is_empty() {
            problems.push(format!("not created: {}", self.not_created.join(", ")));
        }
        problems
    }

    /// One plain sentence (no markup): "4 of 6 services running; unhealthy: prowlarr; ..."
    pub(crate) fn sentence(&self) -> String {
        let mut parts = vec![format!(
            "{} of {} services running",
            self.running, self.total
        )];
        let problems = self.problems();
        if problems.is_empty() && self.total > 0 {
            parts.push("all healthy".into());
        }
        parts.extend(problems);
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
            "2 of 4 services running; unhealthy: prowlarr; exited: recyclarr (exit code 3); not created: bazarr"
        );
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
                {"service": "sonarr", "state": "running", "health": "healthy", "status": "Up 2 hours (healthy)"}
            ]})
        );
        assert_eq!(for_model(&json!(null))["services"], json!([]));
    }
}
