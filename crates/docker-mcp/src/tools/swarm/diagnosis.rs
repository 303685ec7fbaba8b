//! swarm_diagnose: what a Swarm service's tasks add up to, in words.

use super::*;

/// swarm_diagnose quotes at most this many distinct task errors...
const MAX_ERRORS: usize = 5;
/// ...and lists this many of the newest tasks.
const DIAGNOSE_TASKS: usize = 10;
/// Failed or rejected tasks in the kept history that make a service whose
/// replicas all run now a flapping one.
const FLAPPING_FAILURES: usize = 3;

/// What a Swarm service's state adds up to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SwarmVerdict {
    /// Every desired task runs, and few failed lately.
    Healthy,
    /// Fewer run than desired, nothing failed: the Swarm is starting them.
    Converging,
    /// Tasks fail (exit, or die) and are replaced, again and again.
    TasksFailing,
    /// The Swarm rejects the tasks before they run (no such image...).
    Rejected,
    /// No node can take the tasks (insufficient resources, constraints).
    Unschedulable,
    /// None runs and there is no error to say why.
    NoRunningTasks,
    /// Zero replicas desired.
    ScaledToZero,
    /// The last update paused or rolled back.
    UpdatePaused,
}

impl SwarmVerdict {
    pub const NAMES: [&'static str; 8] = [
        "healthy",
        "converging",
        "tasks_failing",
        "rejected",
        "unschedulable",
        "no_running_tasks",
        "scaled_to_zero",
        "update_paused",
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Healthy => "healthy",
            Self::Converging => "converging",
            Self::TasksFailing => "tasks_failing",
            Self::Rejected => "rejected",
            Self::Unschedulable => "unschedulable",
            Self::NoRunningTasks => "no_running_tasks",
            Self::ScaledToZero => "scaled_to_zero",
            Self::UpdatePaused => "update_paused",
        }
    }
}

/// Counts over the tasks the Swarm keeps for a service (by default the last 5
/// per slot: its recent history).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TaskCounts {
    pub tasks: usize,
    pub running: usize,
    pub failed: usize,
    pub rejected: usize,
    pub pending: usize,
}

#[derive(Debug, Serialize)]
pub struct SwarmDiagnosis {
    pub stack: String,
    pub service: String,
    pub verdict: SwarmVerdict,
    pub summary: String,
    pub next_step: String,
    pub desired_replicas: u64,
    pub running_replicas: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub update_state: Option<String>,
    pub recent: TaskCounts,
    /// The recent task errors in words, newest first, each once.
    pub errors: Vec<String>,
    /// The newest tasks.
    pub tasks: Vec<SwarmTask>,
}

pub async fn swarm_diagnose(
    tools: &DockerTools,
    stack: &str,
    service: &str,
) -> Result<SwarmDiagnosis, ToolError> {
    let found = tools.stack_service(stack, service).await?;
    let mut tasks = tools.tasks_with_nodes(&found.id).await?;
    for task in &mut tasks {
        bound_texts(task);
    }
    Ok(diagnose(stack, &found, tasks))
}

/// The diagnosis from a service and its tasks (newest first). Pure.
pub(super) fn diagnose(
    stack: &str,
    service: &SwarmService,
    mut tasks: Vec<SwarmTask>,
) -> SwarmDiagnosis {
    let counts = TaskCounts {
        tasks: tasks.len(),
        running: tasks
            .iter()
            .filter(|t| t.is_running() && t.desired_state == "running")
            .count(),
        failed: tasks.iter().filter(|t| t.state == "failed").count(),
        rejected: tasks.iter().filter(|t| t.state == "rejected").count(),
        pending: tasks
            .iter()
            .filter(|t| t.state == "pending" && t.desired_state == "running")
            .count(),
    };
    let errors = task_errors(&tasks);
    let desired = service.desired_replicas;
    let running = counts.running as u64;
    let update_state = service.update_state.as_deref().unwrap_or_default();
    // The newest task that did not get to run, or stopped running, says most.
    let newest_trouble = tasks.iter().find(|t| {
        matches!(t.state.as_str(), "failed" | "rejected")
            || (t.state == "pending" && t.desired_state == "running")
    });
    let verdict = if matches!(
        update_state,
        "paused" | "rollback_started" | "rollback_paused" | "rollback_completed"
    ) {
        SwarmVerdict::UpdatePaused
    } else if desired == 0 {
        SwarmVerdict::ScaledToZero
    } else if running >= desired {
        if counts.failed + counts.rejected >= FLAPPING_FAILURES {
            // Enough run at this moment, but the history says they keep dying.
            SwarmVerdict::TasksFailing
        } else {
            SwarmVerdict::Healthy
        }
    } else {
        match newest_trouble.map(|t| t.state.as_str()) {
            Some("rejected") => SwarmVerdict::Rejected,
            Some("failed") => SwarmVerdict::TasksFailing,
            Some("pending")
                if newest_trouble.is_some_and(|t| {
                    t.error
                        .as_deref()
                        .unwrap_or(&t.message)
                        .contains("no suitable node")
                }) =>
            {
                SwarmVerdict::Unschedulable
            }
            _ if running == 0 && counts.pending == 0 && errors.is_empty() => {
                // Being started (new, assigned, preparing...) or nothing at all.
                if tasks.iter().any(|t| t.desired_state == "running") {
                    SwarmVerdict::Converging
                } else {
                    SwarmVerdict::NoRunningTasks
                }
            }
            _ if running == 0 && !errors.is_empty() => SwarmVerdict::NoRunningTasks,
            _ => SwarmVerdict::Converging,
        }
    };
    let name = service.short_name().to_owned();
    let last_error = errors.first().cloned();
    let (summary, next_step) = words(
        &name,
        service,
        verdict,
        &counts,
        running,
        last_error.as_deref(),
    );
    tasks.truncate(DIAGNOSE_TASKS);
    SwarmDiagnosis {
        stack: stack.to_owned(),
        service: service.name.clone(),
        verdict,
        summary,
        next_step,
        desired_replicas: desired,
        running_replicas: running,
        update_state: service.update_state.clone(),
        recent: counts,
        errors,
        tasks,
    }
}

/// The tasks' errors in words ("task rejected: No such image: x on node pi2"),
/// newest first, each text once with how often it happened.
pub(super) fn task_errors(tasks: &[SwarmTask]) -> Vec<String> {
    let mut seen: Vec<(String, usize)> = Vec::new();
    for task in tasks {
        let Some(text) = task_error(task) else {
            continue;
        };
        match seen.iter_mut().find(|(t, _)| *t == text) {
            Some((_, n)) => *n += 1,
            None => seen.push((text, 1)),
        }
    }
    seen.into_iter()
        .take(MAX_ERRORS)
        .map(|(text, n)| {
            if n > 1 {
                format!("{text} ({n} times)")
            } else {
                text
            }
        })
        .collect()
}

pub(super) fn task_error(task: &SwarmTask) -> Option<String> {
    let node = if task.node.is_empty() {
        String::new()
    } else {
        format!(" on node {}", task.node)
    };
    match task.state.as_str() {
        "failed" | "rejected" => {
            let what = task
                .error
                .clone()
                .or_else(|| (!task.message.is_empty()).then(|| task.message.clone()))
                .unwrap_or_else(|| "no reason given".into());
            let exit = task
                .exit_code
                .filter(|c| *c != 0)
                .map(|c| format!(" (exit code {c}: {})", exit_code_meaning(c)))
                .unwrap_or_default();
            Some(format!("task {}: {what}{exit}{node}", task.state))
        }
        "pending" if task.desired_state == "running" => {
            let why = task.error.as_deref().unwrap_or(&task.message);
            (!why.is_empty() && why != "pending task scheduling")
                .then(|| format!("task pending: {why}"))
        }
        _ => None,
    }
}

pub(super) fn words(
    name: &str,
    service: &SwarmService,
    verdict: SwarmVerdict,
    counts: &TaskCounts,
    running: u64,
    last_error: Option<&str>,
) -> (String, String) {
    let desired = service.desired_replicas;
    let error = last_error
        .map(|e| format!(" Last error: {e}."))
        .unwrap_or_default();
    match verdict {
        SwarmVerdict::Healthy => (
            format!("{name} runs {running} of {desired} tasks."),
            "Nothing to do.".into(),
        ),
        SwarmVerdict::Converging => (
            format!("{name} runs {running} of {desired} tasks; the Swarm is starting the others."),
            format!(
                "Wait a little and diagnose {name} again; if the count does not rise, look at swarm_tasks."
            ),
        ),
        SwarmVerdict::TasksFailing => (
            format!(
                "{name}'s tasks keep failing: {} failed and {} rejected among its last {} tasks, {running} of {desired} running.{error}",
                counts.failed, counts.rejected, counts.tasks
            ),
            format!(
                "A restart will not help: the Swarm already replaces the failing tasks. Read swarm_logs for {name}, fix the cause (the image, its command, environment or secrets) and deploy the stack again."
            ),
        ),
        SwarmVerdict::Rejected => {
            let next = if last_error.is_some_and(|e| e.contains("No such image")) {
                format!(
                    "The node cannot get the image {}: push it to a registry every node can pull from (or load it on that node), then restart {name}.",
                    service.image
                )
            } else {
                format!("Fix what the error names, then restart {name}.")
            };
            (
                format!(
                    "The Swarm rejects {name}'s tasks before they run: {running} of {desired} running.{error}"
                ),
                next,
            )
        }
        SwarmVerdict::Unschedulable => (
            format!("No node can take {name}'s tasks: {running} of {desired} running.{error}"),
            format!(
                "Free memory or CPU on a node, add a node, or lower {name}'s resource reservations or placement constraints in the stack file, then deploy it again."
            ),
        ),
        SwarmVerdict::NoRunningTasks => (
            format!("{name} runs none of its {desired} tasks.{error}"),
            format!(
                "Look at swarm_tasks and swarm_nodes for {name}: are the nodes ready and active?"
            ),
        ),
        SwarmVerdict::ScaledToZero => (
            format!("{name} is scaled to 0 replicas: nothing runs, on purpose."),
            format!("Scale {name} up with swarm_scale if it should run."),
        ),
        SwarmVerdict::UpdatePaused => (
            format!(
                "{name}'s last update did not finish ({}): {}",
                service.update_state.as_deref().unwrap_or_default(),
                service.update_message.as_deref().unwrap_or("no message")
            ),
            format!(
                "Read swarm_tasks and swarm_logs for {name} to see why the new tasks failed, fix it and deploy the stack again."
            ),
        ),
    }
}

/// A task's free texts bounded, so a result stays readable and small.
pub(super) fn bound_texts(task: &mut SwarmTask) {
    task.message = head_bytes(&task.message, MAX_ERROR_LINE_BYTES);
    if let Some(error) = &mut task.error {
        *error = head_bytes(error, MAX_ERROR_LINE_BYTES);
    }
}
