//! compose_stats: CPU, memory, network and block I/O of the stack's running
//! containers, one Engine stats call each, a few at a time, within one deadline.

use futures_util::StreamExt;
use ops_core::contract::stats::{
    ContainerStats, MAX_REASON_BYTES, MAX_UNAVAILABLE, MEMORY_ACCOUNTING_HINT, StackStats,
    Unavailable, memory_accounting_missing,
};

use super::DockerTools;
use crate::compose::ComposeProject;
use crate::engine::{Container, EngineError, Measured};
use crate::error::ToolError;
use crate::text::head_bytes;

pub async fn compose_stats(
    tools: &DockerTools,
    project: &ComposeProject,
) -> Result<StackStats, ToolError> {
    // Running ones only (a stopped container has no figures), from the Engine
    // rather than from memory: one list next to a call per container costs
    // nothing, and a container started a moment ago is measured too.
    let mut running: Vec<Container> = tools
        .engine
        .list_containers(false, Some(&project.name))
        .await?
        .into_iter()
        .filter(|c| c.is_running() && !c.is_oneoff())
        .collect();
    running.truncate(tools.limits.max_containers);
    // Each call waits for the Engine's next collection (about a second): a
    // few at a time keep a round of 30 containers to a few seconds without
    // opening 30 connections at once; past the deadline the rest are listed
    // as not measured rather than holding the answer up.
    let deadline = tokio::time::Instant::now() + tools.limits.stats_round;
    let round = tools.limits.stats_round;
    let engine = &tools.engine;
    let measured: Vec<(Container, Result<Option<Measured>, EngineError>)> =
        futures_util::stream::iter(running.into_iter().map(|container| async move {
            let result = tokio::time::timeout_at(deadline, engine.stats(&container.id))
                .await
                .unwrap_or(Err(EngineError::Timeout(round)));
            (container, result)
        }))
        .buffered(tools.limits.stats_concurrency.max(1))
        .collect()
        .await;
    let mut containers = Vec::with_capacity(measured.len());
    let mut unavailable = Vec::new();
    for (container, result) in measured {
        let service = container.service().unwrap_or_default().to_owned();
        match result {
            Ok(Some(m)) => containers.push(ContainerStats {
                service,
                name: container.name.clone(),
                cpu_percent: m.cpu_percent,
                memory_used: m.memory_used,
                memory_limit: m.memory_limit,
                memory_percent: m.memory_percent,
                net_rx_bytes: m.net_rx_bytes,
                net_tx_bytes: m.net_tx_bytes,
                block_read_bytes: m.block_read_bytes,
                block_write_bytes: m.block_write_bytes,
            }),
            // Stopped or removed since it was listed: no longer a running container.
            Ok(None) | Err(EngineError::NotFound(_)) => {}
            // The Engine is gone, or a bug asked for an endpoint it may not:
            // no figure of this round can be trusted to be complete.
            Err(error @ (EngineError::Unavailable { .. } | EngineError::Refused(_))) => {
                return Err(error.into());
            }
            Err(error) => {
                tracing::warn!(container = %container.name, %error, "compose_stats: no figures");
                if unavailable.len() < MAX_UNAVAILABLE {
                    unavailable.push(Unavailable {
                        service,
                        name: container.name.clone(),
                        reason: head_bytes(&error.to_string(), MAX_REASON_BYTES),
                    });
                }
            }
        }
    }
    let missing = memory_accounting_missing(&containers);
    Ok(StackStats {
        project: project.name.clone(),
        containers,
        memory_accounting_missing: missing,
        memory_hint: missing.then(|| MEMORY_ACCOUNTING_HINT.to_owned()),
        unavailable,
    })
}
