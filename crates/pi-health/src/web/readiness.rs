//! `GET /health/ready`, for a monitor such as Uptime Kuma: 200 only when the
//! gateway answers and says docker-mcp reaches the Docker Engine, else 503
//! naming what is down in plain words. `GET /health` stays the liveness
//! answer (the process serves), which container healthchecks use.
//!
//! Unauthenticated like `/health`, so it says only which part is down: no
//! address, path or error chain (those go to the log).

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::Shared;
use crate::agent::Agent;
use crate::gateway_client::GatewayReadiness;

/// How long an answer is reused: a monitor polling every second costs one
/// probe of the gateway every few seconds, whatever the number of monitors.
pub(crate) const FRESH_FOR: Duration = Duration::from_secs(3);

/// One readiness answer, kept for [`FRESH_FOR`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Readiness {
    ready: bool,
    body: Value,
}

/// `GET /health/ready`.
pub(crate) async fn ready(State(state): State<Shared>) -> Response {
    let readiness = state.readiness.get_or_make(|| probe(&state.agent)).await;
    let status = if readiness.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(readiness.body)).into_response()
}

/// Asks the gateway (bounded: see [`crate::gateway_client::GatewayClient::readiness`]).
async fn probe(agent: &Agent) -> Readiness {
    let Some(gateway) = agent.gateway() else {
        return answer(
            "offline",
            vec![
                "The Docker integration is offline (DOCKER_MCP_BASE_URL is not set): pi-health cannot see the containers.".into(),
            ],
        );
    };
    match gateway.readiness().await {
        GatewayReadiness::Ready => answer("ready", Vec::new()),
        GatewayReadiness::ServicesDown(problems) => answer("not_ready", problems),
        GatewayReadiness::NotAnswering(why) => {
            tracing::warn!(%why, "readiness: the gateway is not answering");
            answer(
                "not_answering",
                vec!["The gateway is not answering: is it running?".into()],
            )
        }
    }
}

/// Ready exactly when the gateway is and nothing is wrong.
fn answer(gateway: &str, problems: Vec<String>) -> Readiness {
    let ready = gateway == "ready" && problems.is_empty();
    Readiness {
        ready,
        body: json!({
            "status": if ready { "ready" } else { "not_ready" },
            "gateway": gateway,
            "problems": problems,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_only_when_the_gateway_is_and_nothing_is_down() {
        assert!(answer("ready", Vec::new()).ready);
        let down = answer(
            "not_ready",
            vec!["docker-mcp cannot reach the Docker Engine".into()],
        );
        assert!(!down.ready);
        assert_eq!(down.body["status"], "not_ready");
        assert_eq!(
            down.body["problems"][0],
            "docker-mcp cannot reach the Docker Engine"
        );
        assert!(!answer("ready", vec!["something".into()]).ready);
        assert!(!answer("offline", Vec::new()).ready);
    }
}
