//! swarm_restart and swarm_scale: the change, then its new tasks watched until
//! they run and stay running through the stability window, or it is said why not.

use super::diagnosis::{bound_texts, task_error, task_errors};
use super::*;

/// How often a restart or scale looks at the tasks while it waits.
const POLL: Duration = Duration::from_millis(500);

#[derive(Debug, Serialize)]
pub struct SwarmRestart {
    pub stack: String,
    pub service: String,
    pub outcome: &'static str,
    pub previous_tasks: Vec<String>,
    pub current_tasks: Vec<String>,
    pub running_replicas: usize,
}

#[derive(Debug, Serialize)]
pub struct SwarmScale {
    pub stack: String,
    pub service: String,
    pub outcome: &'static str,
    pub previous_replicas: u64,
    pub replicas: u64,
    pub running_replicas: usize,
}

/// The ids of the tasks that run now (desired and current state `running`).
pub(super) fn running_ids(tasks: &[SwarmTask]) -> Vec<String> {
    tasks
        .iter()
        .filter(|t| t.is_running() && t.desired_state == "running")
        .map(|t| t.id.clone())
        .collect()
}

/// Rejected new tasks in one slot (none of its new tasks running) that make
/// swarm_restart and swarm_scale give up before their window ends: the Swarm
/// retries a rejected task (after the restart delay, 5 s by default), and a
/// second rejection says the first was no accident.
pub(super) const REJECTIONS_TO_GIVE_UP: usize = 2;

/// The slot a task fills (replicated), or its node (global): where the Swarm
/// replaces a task that failed or was rejected.
pub(super) fn task_place(task: &SwarmTask) -> String {
    match task.slot {
        Some(slot) => format!("slot {slot}"),
        None => format!("node {}", task.node_id),
    }
}

/// A slot whose new tasks (not in `known`) the Swarm keeps rejecting, none of
/// them running: its newest rejected task and how many were rejected there.
pub(super) fn hopeless_rejection<'a>(
    tasks: &'a [SwarmTask],
    known: &HashSet<String>,
) -> Option<(&'a SwarmTask, usize)> {
    // place -> (newest rejected task, rejections, one runs); tasks come newest first.
    let mut places: HashMap<String, (Option<&SwarmTask>, usize, bool)> = HashMap::new();
    for task in tasks.iter().filter(|t| !known.contains(&t.id)) {
        let place = places.entry(task_place(task)).or_default();
        match task.state.as_str() {
            "rejected" => {
                place.0.get_or_insert(task);
                place.1 += 1;
            }
            "running" => place.2 = true,
            _ => {}
        }
    }
    places
        .into_values()
        .filter(|(_, rejected, runs)| !runs && *rejected >= REJECTIONS_TO_GIVE_UP)
        .filter_map(|(task, rejected, _)| Some((task?, rejected)))
        .max_by(|a, b| a.0.created_at.cmp(&b.0.created_at))
}

/// "task rejected: No such image: x on node pi2 (2 times in slot 1)", with the
/// node's name when the node list answers.
pub(super) async fn rejection_words(
    tools: &DockerTools,
    service_id: &str,
    task: &SwarmTask,
    times: usize,
) -> String {
    let mut task = task.clone();
    if let Ok(named) = tools.tasks_with_nodes(service_id).await
        && let Some(same) = named.into_iter().find(|t| t.id == task.id)
    {
        task.node = same.node;
    }
    bound_texts(&mut task);
    let words = task_error(&task).unwrap_or_else(|| "task rejected".into());
    format!("{words} ({times} times in {})", task_place(&task))
}

/// Remembers when each of `ids` was first seen running.
pub(super) fn note_running(seen: &mut HashMap<String, Instant>, ids: &[String]) {
    for id in ids {
        seen.entry(id.clone()).or_insert_with(Instant::now);
    }
}

/// Watches the new tasks `ids`, all running now, through the stability window
/// (docker-mcp's `--stability-window-secs`, as compose_restart): the first one
/// that no longer runs by its end, with how long it ran since first seen
/// running; None when all still run.
pub(super) async fn first_to_stop(
    tools: &DockerTools,
    service_id: &str,
    ids: &[String],
    seen_running: &HashMap<String, Instant>,
) -> Result<Option<(SwarmTask, Duration)>, ToolError> {
    let deadline = Instant::now() + tools.limits.stability_window;
    loop {
        let now = tools.engine.swarm_tasks(service_id).await?;
        let stopped = ids.iter().find_map(|id| {
            let task = now.iter().find(|t| &t.id == id)?;
            (!(task.is_running() && task.desired_state == "running")).then(|| {
                let lasted = seen_running
                    .get(id)
                    .map(Instant::elapsed)
                    .unwrap_or_default();
                (task.clone(), lasted)
            })
        });
        if stopped.is_some() || Instant::now() >= deadline {
            return Ok(stopped);
        }
        tokio::time::sleep(POLL.min(deadline.saturating_duration_since(Instant::now()))).await;
    }
}

/// "the new task media_sonarr.1 (k3b9x0q1w2e3) failed after 5 s: task:
/// non-zero exit (1) (exit code 1: ...); ..." as compose_restart words a
/// container that exited again.
pub(super) fn stopped_words(service: &str, task: &SwarmTask, lasted: Duration) -> String {
    let short = task.id.get(..TASK_ID_CHARS).unwrap_or(&task.id);
    let who = match task.slot {
        Some(slot) => format!("{service}.{slot} ({short})"),
        None => short.to_owned(),
    };
    let after = format!("after {} s", lasted.as_secs_f64().round() as u64);
    let what = task
        .error
        .clone()
        .or_else(|| (!task.message.is_empty()).then(|| task.message.clone()))
        .unwrap_or_else(|| "no reason given".into());
    let what = head_bytes(&what, MAX_ERROR_LINE_BYTES);
    let exit = task
        .exit_code
        .filter(|c| *c != 0)
        .map(|c| format!(" (exit code {c}: {})", exit_code_meaning(c)))
        .unwrap_or_default();
    let how = match task.state.as_str() {
        "failed" | "rejected" => format!("failed {after}"),
        other => format!("stopped ({other}) {after}"),
    };
    format!(
        "the new task {who} {how}: {what}{exit}; the Swarm replaces it, but the cause remains: swarm_diagnose and swarm_logs say more"
    )
}

pub async fn swarm_restart(
    tools: &DockerTools,
    stack: &str,
    service: &str,
) -> Result<SwarmRestart, ToolError> {
    let found = tools.stack_service(stack, service).await?;
    let before = tools.engine.swarm_tasks(&found.id).await?;
    let previous = running_ids(&before);
    let known: HashSet<String> = before.iter().map(|t| t.id.clone()).collect();
    let expected = if found.is_replicated() {
        found.desired_replicas as usize
    } else {
        previous.len()
    };
    if expected == 0 {
        return Err(ToolError::Failed(format!(
            "{} runs no task: there is nothing to restart (scale it up with swarm_scale)",
            found.name
        )));
    }
    let mut spec = found.spec.clone();
    let template = spec.task_template.get_or_insert_with(Default::default);
    template.force_update = Some(found.force_update().wrapping_add(1));
    let warnings = tools
        .engine
        .swarm_update_service(&found.id, found.version, spec)
        .await?;
    if !warnings.is_empty() {
        tracing::info!(service = %found.name, ?warnings, "forced update warnings");
    }
    // Replaced: as many new tasks run as the service wants, and none of the old
    // ones runs any more.
    let window = tools.limits.swarm_verify_window;
    let deadline = Instant::now() + window;
    let mut seen_running = HashMap::new();
    loop {
        let now = tools.engine.swarm_tasks(&found.id).await?;
        let new_running: Vec<String> = running_ids(&now)
            .into_iter()
            .filter(|id| !known.contains(id))
            .collect();
        note_running(&mut seen_running, &new_running);
        let old_still_running = now
            .iter()
            .filter(|t| previous.contains(&t.id) && t.is_running())
            .count();
        if new_running.len() >= expected && old_still_running == 0 {
            // ...and they still run at the end of the stability window.
            if let Some((task, lasted)) =
                first_to_stop(tools, &found.id, &new_running, &seen_running).await?
            {
                return Err(ToolError::Failed(format!(
                    "{} restarted, but {}",
                    found.name,
                    stopped_words(&found.name, &task, lasted)
                )));
            }
            return Ok(SwarmRestart {
                stack: stack.to_owned(),
                service: found.name,
                outcome: "replaced",
                previous_tasks: previous,
                running_replicas: new_running.len(),
                current_tasks: new_running,
            });
        }
        if let Some((task, times)) = hopeless_rejection(&now, &known) {
            let why = rejection_words(tools, &found.id, task, times).await;
            return Err(ToolError::Failed(format!(
                "the forced update of {} cannot replace its tasks: the Swarm rejects the new ones before they run, so waiting will not help: {why}; {} of {expected} new tasks running",
                found.name,
                new_running.len()
            )));
        }
        let current = tools.engine.swarm_service(&found.id).await?;
        if matches!(
            current.update_state.as_deref(),
            Some("paused" | "rollback_started" | "rollback_paused" | "rollback_completed")
        ) {
            let why = task_errors(&now)
                .first()
                .map(|e| format!("; last task error: {e}"))
                .unwrap_or_default();
            return Err(ToolError::Failed(format!(
                "the forced update of {} stopped ({}): {}{why}",
                found.name,
                current.update_state.unwrap_or_default(),
                current.update_message.unwrap_or_default()
            )));
        }
        if Instant::now() >= deadline {
            let why = task_errors(&now)
                .first()
                .map(|e| format!("; last task error: {e}"))
                .unwrap_or_default();
            return Err(ToolError::Failed(format!(
                "the forced update of {} did not replace its tasks within {} s: {} of {expected} new tasks running, {old_still_running} old ones still running{why}",
                found.name,
                window.as_secs(),
                new_running.len()
            )));
        }
        tokio::time::sleep(POLL).await;
    }
}

pub async fn swarm_scale(
    tools: &DockerTools,
    stack: &str,
    service: &str,
    replicas: u32,
) -> Result<SwarmScale, ToolError> {
    if replicas > SWARM_MAX_REPLICAS {
        return Err(ToolError::BadArguments(format!(
            "replicas {replicas} is more than docker-mcp sets ({SWARM_MAX_REPLICAS} at most)"
        )));
    }
    let found = tools.stack_service(stack, service).await?;
    if !found.is_replicated() {
        return Err(ToolError::BadArguments(format!(
            "{} is a {} service: only replicated services have a replica count to scale",
            found.name, found.mode
        )));
    }
    let target = u64::from(replicas);
    let previous = found.desired_replicas;
    let known: HashSet<String> = tools
        .engine
        .swarm_tasks(&found.id)
        .await?
        .into_iter()
        .map(|t| t.id)
        .collect();
    if previous != target {
        let mut spec = found.spec.clone();
        let mode = spec.mode.get_or_insert_with(Default::default);
        mode.replicated
            .get_or_insert_with(Default::default)
            .replicas = Some(i64::from(replicas));
        tools
            .engine
            .swarm_update_service(&found.id, found.version, spec)
            .await?;
    }
    let window = tools.limits.swarm_verify_window;
    let deadline = Instant::now() + window;
    let mut seen_running = HashMap::new();
    loop {
        let now = tools.engine.swarm_tasks(&found.id).await?;
        let running_now = running_ids(&now);
        let running = running_now.len();
        let new_running: Vec<String> = running_now
            .into_iter()
            .filter(|id| !known.contains(id))
            .collect();
        note_running(&mut seen_running, &new_running);
        if running == replicas as usize {
            // The tasks it started still run at the end of the stability window.
            if let Some((task, lasted)) =
                first_to_stop(tools, &found.id, &new_running, &seen_running).await?
            {
                return Err(ToolError::Failed(format!(
                    "{} was scaled to {replicas}, but {}",
                    found.name,
                    stopped_words(&found.name, &task, lasted)
                )));
            }
            return Ok(SwarmScale {
                stack: stack.to_owned(),
                service: found.name,
                outcome: if previous == target {
                    "unchanged"
                } else {
                    "scaled"
                },
                previous_replicas: previous,
                replicas: target,
                running_replicas: running,
            });
        }
        if running < replicas as usize
            && let Some((task, times)) = hopeless_rejection(&now, &known)
        {
            let why = rejection_words(tools, &found.id, task, times).await;
            return Err(ToolError::Failed(format!(
                "{} was scaled to {replicas}, but the Swarm rejects its tasks before they run, so waiting will not help: {why}; {running} of {replicas} tasks running",
                found.name
            )));
        }
        if Instant::now() >= deadline {
            let why = task_errors(&now)
                .first()
                .map(|e| format!("; last task error: {e}"))
                .unwrap_or_default();
            return Err(ToolError::Failed(format!(
                "{} was scaled to {replicas} but {running} tasks run after {} s{why}",
                found.name,
                window.as_secs()
            )));
        }
        tokio::time::sleep(POLL).await;
    }
}
