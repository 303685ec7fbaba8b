//! compose_diagnose: for each container of one service, the evidence (inspect,
//! the event history, the last error-looking log lines) and what it adds up to.

use ops_core::contract::diagnosis::{
    ContainerDiagnosis, Diagnosis, HealthEvidence, MAX_ERROR_LINE_BYTES, MAX_ERROR_LINES,
    MAX_PROBES, Probe, exit_code_meaning,
};

use super::DockerTools;
use crate::compose::ComposeProject;
use crate::engine::{Container, ContainerDetails, EngineError};
use crate::error::ToolError;
use crate::text::{clean_terminal_output, error_lines, head_bytes};
use crate::verdict::{self, Facts};

/// Log lines read per container to find the error-looking ones.
const LOG_LINES_READ: u32 = 500;

pub async fn compose_diagnose(
    tools: &DockerTools,
    project: &ComposeProject,
    service: &str,
) -> Result<Diagnosis, ToolError> {
    // From memory when current (as compose_logs); a container the cache does
    // not know yet is looked for at the Engine before saying there is none.
    let of_service = |containers: Vec<Container>| -> Vec<Container> {
        containers
            .into_iter()
            .filter(|c| c.service() == Some(service) && !c.is_oneoff())
            .collect()
    };
    let mut containers = of_service(tools.containers.list(true, Some(&project.name)).await?);
    if containers.is_empty() {
        containers = of_service(
            tools
                .engine
                .list_containers(true, Some(&project.name))
                .await?,
        );
    }
    let mut diagnosed = Vec::with_capacity(containers.len());
    for container in containers.iter().take(tools.limits.max_containers) {
        // A container removed since it was listed is no longer part of the service.
        if let Some(one) = diagnose_container(tools, container).await? {
            diagnosed.push(one);
        }
    }
    let verdict = verdict::service_verdict(diagnosed.iter().map(|c| c.verdict));
    Ok(Diagnosis {
        service: service.to_owned(),
        verdict,
        summary: verdict::summary(service, verdict, &diagnosed),
        next_step: verdict::next_step(service, verdict, &diagnosed),
        containers: diagnosed,
    })
}

/// The evidence about one container; None when it no longer exists.
async fn diagnose_container(
    tools: &DockerTools,
    container: &Container,
) -> Result<Option<ContainerDiagnosis>, ToolError> {
    let engine = &tools.engine;
    // Both at once: the answer takes one round trip's time, not two.
    let (details, logs) = tokio::join!(
        engine.inspect(&container.id),
        engine.logs(&container.id, LOG_LINES_READ, tools.limits.max_log_bytes)
    );
    let (details, raw_logs) = match (details, logs) {
        (Err(EngineError::NotFound(_)), _) | (_, Err(EngineError::NotFound(_))) => {
            return Ok(None);
        }
        // The Engine refuses the logs of a container being removed ("marked
        // for removal", which the inspect made at the same time may not show)
        // or one whose logging driver keeps none: the rest is still evidence.
        (Ok(_), Err(EngineError::Failed(_))) => match engine.inspect(&container.id).await {
            Err(EngineError::NotFound(_)) => return Ok(None),
            now => (now?, Vec::new()),
        },
        (details, logs) => (details?, logs?.0),
    };
    let recent = tools
        .containers
        .recent_activity(&container.id, details.running || details.restarting);
    let errors = error_lines(
        &clean_terminal_output(&raw_logs),
        MAX_ERROR_LINES,
        MAX_ERROR_LINE_BYTES,
    );
    let health = health_evidence(&details);
    let verdict = verdict::container_verdict(&Facts {
        state: &details.status,
        health: health.as_ref().map(|h| h.status.as_str()),
        exit_code: details.exit_code,
        oom_killed: details.oom_killed,
        restart_policy: Some(&details.restart_policy),
        recent: &recent,
    });
    // A running (or never started) container's ExitCode is stale or zero: shown
    // only once it has exited, or while the Engine restarts it after a death.
    let exit_code = details
        .exit_code
        .filter(|_| matches!(details.status.as_str(), "exited" | "restarting" | "dead"));
    Ok(Some(ContainerDiagnosis {
        name: container.name.clone(),
        id: container.id.clone(),
        state: details.status.clone(),
        verdict,
        exit_meaning: exit_code.map(exit_code_meaning),
        exit_code,
        oom_killed: details.oom_killed,
        restart_count: details.restart_count,
        restart_policy: details.restart_policy.clone(),
        started_at: engine_time(&details.started_at),
        finished_at: engine_time(&details.finished_at),
        engine_error: details
            .error
            .as_deref()
            .map(|e| head_bytes(e, MAX_ERROR_LINE_BYTES)),
        recent,
        health,
        error_lines: errors,
    }))
}

fn health_evidence(details: &ContainerDetails) -> Option<HealthEvidence> {
    let health = details.health.as_ref()?;
    let skip = health.log.len().saturating_sub(MAX_PROBES);
    Some(HealthEvidence {
        status: health.status.clone(),
        failing_streak: health.failing_streak,
        test: health
            .test
            .iter()
            .map(|part| head_bytes(part, MAX_ERROR_LINE_BYTES))
            .collect(),
        probes: health
            .log
            .iter()
            .skip(skip)
            .map(|(at, exit_code, output)| Probe {
                at: at.clone(),
                exit_code: *exit_code,
                output: head_bytes(
                    clean_terminal_output(output.as_bytes()).trim(),
                    MAX_ERROR_LINE_BYTES,
                ),
            })
            .collect(),
    })
}

/// The Engine says "0001-01-01T00:00:00Z" for "never".
fn engine_time(value: &str) -> Option<String> {
    (!value.is_empty() && !value.starts_with("0001-")).then(|| value.to_owned())
}
