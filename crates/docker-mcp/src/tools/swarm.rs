//! The swarm_* tools: one Swarm stack's services (those labelled
//! `com.docker.stack.namespace=<stack>`, and no other), their tasks, logs and
//! nodes, a diagnosis of a service whose tasks keep failing, a forced rolling
//! update verified by its new tasks, and a bounded scale.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use ops_core::contract::diagnosis::{MAX_ERROR_LINE_BYTES, exit_code_meaning};
use serde::Serialize;

use super::DockerTools;
use super::follow::split_timestamp;
use super::logs::cleaned_read;
use crate::catalog::SWARM_MAX_REPLICAS;
use crate::engine::{LABEL_STACK, SwarmNode, SwarmService, SwarmTask};
use crate::error::ToolError;
use crate::text::{head_bytes, keep_tail};

/// swarm_tasks returns at most this many tasks, the newest.
pub const MAX_TASKS: usize = 50;
/// swarm_diagnose quotes at most this many distinct task errors...
const MAX_ERRORS: usize = 5;
/// ...and lists this many of the newest tasks.
const DIAGNOSE_TASKS: usize = 10;
/// Failed or rejected tasks in the kept history that make a service whose
/// replicas all run now a flapping one.
const FLAPPING_FAILURES: usize = 3;
/// swarm_logs reads at most this many times its byte cap from the Engine: the
/// timestamps and task details are dropped from each line before the cap.
const RAW_LOG_FACTOR: usize = 4;
/// swarm_logs names a task by its slot and this many characters of its id (as
/// `docker service ps` shows them).
const TASK_ID_CHARS: usize = 12;
/// How often a restart or scale looks at the tasks while it waits.
const POLL: Duration = Duration::from_millis(500);

#[derive(Debug, Serialize)]
pub struct SwarmServices {
    pub stack: String,
    pub services: Vec<SwarmService>,
}

#[derive(Debug, Serialize)]
pub struct SwarmTasks {
    pub stack: String,
    pub service: String,
    pub tasks: Vec<SwarmTask>,
    pub count: usize,
    pub truncated: bool,
}

#[derive(Debug, Serialize)]
pub struct SwarmLogs {
    pub stack: String,
    pub service: String,
    pub tail: u32,
    pub logs: String,
    pub truncated: bool,
}

#[derive(Debug, Serialize)]
pub struct SwarmNodes {
    pub nodes: Vec<SwarmNode>,
}

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

impl DockerTools {
    /// The stack the swarm_* tools are pinned to, checked against the call's.
    pub(super) fn swarm_stack(&self, asked: Option<&str>) -> Result<String, ToolError> {
        let stack = self.catalog.swarm_stack().ok_or_else(|| {
            ToolError::NotConfigured(
                "docker-mcp was started without a Swarm stack (--swarm-stack), so the swarm_* tools are not available".into(),
            )
        })?;
        match asked {
            Some(asked) if asked == stack => Ok(stack.to_owned()),
            // The schema pins it; this is the second lock.
            Some(other) => Err(ToolError::BadArguments(format!(
                "docker-mcp is pinned to the Swarm stack {stack:?}, not {other:?}"
            ))),
            None => Ok(stack.to_owned()),
        }
    }

    /// `service` of `stack`: its name in the stack (`sonarr`) or its full name
    /// (`media_sonarr`). A service without the stack's label is refused, with
    /// the reason.
    pub(super) async fn stack_service(
        &self,
        stack: &str,
        service: &str,
    ) -> Result<SwarmService, ToolError> {
        let services = self.engine.swarm_services(Some(stack), None).await?;
        let full = format!("{stack}_{service}");
        if let Some(found) = services
            .iter()
            .find(|s| s.name == full)
            .or_else(|| services.iter().find(|s| s.name == service))
        {
            return Ok(found.clone());
        }
        // Say why: a service by that name outside the stack is refused as such.
        for name in [service, full.as_str()] {
            if let Some(outside) = self
                .engine
                .swarm_services(None, Some(name))
                .await?
                .into_iter()
                .next()
            {
                let label = match &outside.stack {
                    Some(other) => format!("its {LABEL_STACK} label says {other:?}"),
                    None => format!("it has no {LABEL_STACK} label"),
                };
                return Err(ToolError::BadArguments(format!(
                    "service {:?} is not part of the Swarm stack {stack:?} ({label}); docker-mcp only touches the services of {stack:?}",
                    outside.name
                )));
            }
        }
        let names: Vec<&str> = services.iter().map(|s| s.short_name()).collect();
        Err(ToolError::BadArguments(format!(
            "unknown service {service:?} in the Swarm stack {stack:?}: it has {}",
            if names.is_empty() {
                "no service".to_owned()
            } else {
                names.join(", ")
            }
        )))
    }

    /// The service's tasks, newest first, each with its node's hostname.
    async fn tasks_with_nodes(&self, service_id: &str) -> Result<Vec<SwarmTask>, ToolError> {
        let (tasks, nodes) = tokio::join!(
            self.engine.swarm_tasks(service_id),
            self.engine.swarm_nodes()
        );
        let hostnames: HashMap<String, String> =
            nodes?.into_iter().map(|n| (n.id, n.hostname)).collect();
        Ok(tasks?
            .into_iter()
            .map(|mut task| {
                task.node = hostnames.get(&task.node_id).cloned().unwrap_or_default();
                task
            })
            .collect())
    }
}

pub async fn swarm_services(tools: &DockerTools, stack: &str) -> Result<SwarmServices, ToolError> {
    let services = tools.engine.swarm_services(Some(stack), None).await?;
    Ok(SwarmServices {
        stack: stack.to_owned(),
        services: services
            .into_iter()
            .take(tools.limits.max_containers)
            .collect(),
    })
}

pub async fn swarm_tasks(
    tools: &DockerTools,
    stack: &str,
    service: &str,
) -> Result<SwarmTasks, ToolError> {
    let found = tools.stack_service(stack, service).await?;
    let mut tasks = tools.tasks_with_nodes(&found.id).await?;
    let count = tasks.len();
    tasks.truncate(MAX_TASKS);
    for task in &mut tasks {
        bound_texts(task);
    }
    Ok(SwarmTasks {
        stack: stack.to_owned(),
        service: found.name,
        truncated: count > tasks.len(),
        count,
        tasks,
    })
}

pub async fn swarm_logs(
    tools: &DockerTools,
    stack: &str,
    service: &str,
    tail: u32,
) -> Result<SwarmLogs, ToolError> {
    let found = tools.stack_service(stack, service).await?;
    let cap = tools.limits.max_log_bytes;
    // Each line comes with its timestamp and task details (about 200 bytes
    // more than its text), dropped once the lines are ordered: read more than
    // the cap so that the cap, not the details, decides how much is returned.
    let (read, tasks) = tokio::join!(
        tools
            .engine
            .swarm_service_logs(&found.id, tail, cap.saturating_mul(RAW_LOG_FACTOR)),
        tools.engine.swarm_tasks(&found.id)
    );
    let (raw, cut) = read?;
    let slots: HashMap<String, Option<i64>> = tasks?.into_iter().map(|t| (t.id, t.slot)).collect();
    let (text, dropped) = cleaned_read(&raw, cut);
    let ordered = order_task_lines(&text, &found.name, &slots);
    let (logs, truncated) = keep_tail(&ordered, cap, dropped);
    Ok(SwarmLogs {
        stack: stack.to_owned(),
        service: found.name,
        tail,
        logs,
        truncated,
    })
}

/// The Engine's service log (each line `TIMESTAMP DETAILS text`, the tasks'
/// lines in the order they arrived) as one log in time order, each line
/// prefixed with its task (`[media_sonarr.2 k3b9x0q1w2e3] text`) when the
/// lines come from more than one task, as `compose_logs` prefixes a service's
/// containers; the timestamps and details are dropped, as `compose_logs` has
/// none. The sort is stable: lines with the same timestamp, or without one (a
/// cut line), keep their order.
fn order_task_lines(text: &str, service: &str, slots: &HashMap<String, Option<i64>>) -> String {
    let mut lines: Vec<(&str, &str, &str)> = Vec::new();
    let mut last_time = "";
    for line in text.lines() {
        let (time, rest) = split_timestamp(line.as_bytes());
        // Split at an ASCII space: both halves are UTF-8.
        let rest = &line[line.len() - rest.len()..];
        let time = if time.is_empty() { last_time } else { time };
        last_time = time;
        let (task, text) = split_task_details(rest);
        lines.push((time, task, text));
    }
    // RFC 3339 with nanoseconds, fixed width, UTC: in time order as text.
    lines.sort_by(|a, b| a.0.cmp(b.0));
    let tasks: HashSet<&str> = lines
        .iter()
        .map(|l| l.1)
        .filter(|t| !t.is_empty())
        .collect();
    let prefix = tasks.len() > 1;
    let mut out = String::with_capacity(text.len());
    for (_, task, line) in lines {
        if prefix && !task.is_empty() {
            let short = task.get(..TASK_ID_CHARS).unwrap_or(task);
            match slots.get(task).copied().flatten() {
                Some(slot) => out.push_str(&format!("[{service}.{slot} {short}] ")),
                None => out.push_str(&format!("[{service} {short}] ")),
            }
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// `com.docker.swarm.node.id=n,com.docker.swarm.service.id=s,com.docker.swarm.task.id=t text`
/// -> (`t`, `text`). The Engine writes the details (sorted `key=value` pairs,
/// query-escaped, so without spaces) then one space; a line without them keeps
/// its text, with no task.
fn split_task_details(rest: &str) -> (&str, &str) {
    let Some((details, text)) = rest.split_once(' ') else {
        return ("", rest);
    };
    if details.is_empty() {
        return ("", text);
    }
    if !details.contains("com.docker.swarm.") {
        return ("", rest);
    }
    let task = details
        .split(',')
        .find_map(|pair| pair.strip_prefix("com.docker.swarm.task.id="))
        .unwrap_or_default();
    (task, text)
}

pub async fn swarm_nodes(tools: &DockerTools) -> Result<SwarmNodes, ToolError> {
    let mut nodes = tools.engine.swarm_nodes().await?;
    nodes.truncate(tools.limits.max_containers);
    Ok(SwarmNodes { nodes })
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
fn diagnose(stack: &str, service: &SwarmService, mut tasks: Vec<SwarmTask>) -> SwarmDiagnosis {
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
fn task_errors(tasks: &[SwarmTask]) -> Vec<String> {
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

fn task_error(task: &SwarmTask) -> Option<String> {
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

fn words(
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
fn bound_texts(task: &mut SwarmTask) {
    task.message = head_bytes(&task.message, MAX_ERROR_LINE_BYTES);
    if let Some(error) = &mut task.error {
        *error = head_bytes(error, MAX_ERROR_LINE_BYTES);
    }
}

/// The ids of the tasks that run now (desired and current state `running`).
fn running_ids(tasks: &[SwarmTask]) -> Vec<String> {
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
const REJECTIONS_TO_GIVE_UP: usize = 2;

/// The slot a task fills (replicated), or its node (global): where the Swarm
/// replaces a task that failed or was rejected.
fn task_place(task: &SwarmTask) -> String {
    match task.slot {
        Some(slot) => format!("slot {slot}"),
        None => format!("node {}", task.node_id),
    }
}

/// A slot whose new tasks (not in `known`) the Swarm keeps rejecting, none of
/// them running: its newest rejected task and how many were rejected there.
fn hopeless_rejection<'a>(
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
async fn rejection_words(
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
fn note_running(seen: &mut HashMap<String, Instant>, ids: &[String]) {
    for id in ids {
        seen.entry(id.clone()).or_insert_with(Instant::now);
    }
}

/// Watches the new tasks `ids`, all running now, through the stability window
/// (docker-mcp's `--stability-window-secs`, as compose_restart): the first one
/// that no longer runs by its end, with how long it ran since first seen
/// running; None when all still run.
async fn first_to_stop(
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
fn stopped_words(service: &str, task: &SwarmTask, lasted: Duration) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn service(desired: u64, running: u64) -> SwarmService {
        SwarmService {
            id: "s1".into(),
            name: "media_sonarr".into(),
            image: "arr/sonarr:test".into(),
            mode: "replicated".into(),
            desired_replicas: desired,
            running_replicas: running,
            update_state: None,
            update_message: None,
            stack: Some("media".into()),
            version: 1,
            spec: Default::default(),
        }
    }

    fn task(id: &str, desired: &str, state: &str, error: Option<&str>) -> SwarmTask {
        SwarmTask {
            id: id.into(),
            slot: Some(1),
            node_id: "n1".into(),
            node: "pi2".into(),
            desired_state: desired.into(),
            state: state.into(),
            message: state.into(),
            error: error.map(str::to_owned),
            exit_code: None,
            created_at: String::new(),
            updated_at: String::new(),
        }
    }

    #[test]
    fn a_rejected_image_is_said_with_its_node() {
        let tasks = vec![
            task("t3", "running", "rejected", Some("No such image: nope:1")),
            task("t2", "shutdown", "rejected", Some("No such image: nope:1")),
        ];
        let d = diagnose("media", &service(1, 0), tasks);
        assert_eq!(d.verdict, SwarmVerdict::Rejected);
        assert_eq!(
            d.errors,
            ["task rejected: No such image: nope:1 on node pi2 (2 times)"]
        );
        assert!(d.next_step.contains("registry"), "{}", d.next_step);
        assert_eq!(d.recent.rejected, 2);
    }

    #[test]
    fn failing_tasks_with_exit_codes_and_a_flapping_service() {
        let mut failed = task("t2", "shutdown", "failed", Some("task: non-zero exit (1)"));
        failed.exit_code = Some(1);
        let d = diagnose(
            "media",
            &service(1, 0),
            vec![task("t3", "running", "starting", None), failed.clone()],
        );
        assert_eq!(d.verdict, SwarmVerdict::TasksFailing);
        assert!(d.errors[0].contains("exit code 1"), "{:?}", d.errors);
        assert!(d.next_step.starts_with("A restart will not help"));
        // All desired run now, but three died lately.
        let tasks = vec![
            task("t9", "running", "running", None),
            failed.clone(),
            failed.clone(),
            failed,
        ];
        assert_eq!(
            diagnose("media", &service(1, 1), tasks).verdict,
            SwarmVerdict::TasksFailing
        );
    }

    #[test]
    fn healthy_converging_unschedulable_and_scaled_to_zero() {
        let running = task("t1", "running", "running", None);
        assert_eq!(
            diagnose("media", &service(1, 1), vec![running.clone()]).verdict,
            SwarmVerdict::Healthy
        );
        assert_eq!(
            diagnose(
                "media",
                &service(2, 1),
                vec![running.clone(), task("t2", "running", "preparing", None)]
            )
            .verdict,
            SwarmVerdict::Converging
        );
        let mut pending = task("t3", "running", "pending", None);
        pending.error = Some("no suitable node (insufficient resources on 1 node)".into());
        let d = diagnose("media", &service(1, 0), vec![pending]);
        assert_eq!(d.verdict, SwarmVerdict::Unschedulable);
        assert!(d.errors[0].contains("insufficient resources"));
        assert_eq!(
            diagnose("media", &service(0, 0), vec![]).verdict,
            SwarmVerdict::ScaledToZero
        );
    }

    #[test]
    fn service_logs_in_time_order_with_their_tasks() {
        let details = |task: &str| {
            format!(
                "com.docker.swarm.node.id=n1,com.docker.swarm.service.id=s1,com.docker.swarm.task.id={task}"
            )
        };
        let text = format!(
            "2026-12-01T10:00:00.100000000Z {a} one\n\
             2026-12-01T10:00:00.300000000Z {a} three: a=b c\n\
             2026-12-01T10:00:00.200000000Z {b} two\n\
             2026-12-01T10:00:00.400000000Z {b} four\n",
            a = details("aaaaaaaaaaaaaaaaaaaaaaaaa"),
            b = details("bbbbbbbbbbbbbbbbbbbbbbbbb"),
        );
        let slots = HashMap::from([("aaaaaaaaaaaaaaaaaaaaaaaaa".to_owned(), Some(1))]);
        assert_eq!(
            order_task_lines(&text, "media_web", &slots),
            "[media_web.1 aaaaaaaaaaaa] one\n\
             [media_web bbbbbbbbbbbb] two\n\
             [media_web.1 aaaaaaaaaaaa] three: a=b c\n\
             [media_web bbbbbbbbbbbb] four\n"
        );
        // One task: no prefix, as compose_logs for one container.
        let one = format!(
            "2026-12-01T10:00:00.100000000Z {} one\n2026-12-01T10:00:00.200000000Z  two\n",
            details("aaaaaaaaaaaaaaaaaaaaaaaaa")
        );
        assert_eq!(order_task_lines(&one, "media_web", &slots), "one\ntwo\n");
        assert_eq!(split_task_details("plain text"), ("", "plain text"));
    }

    #[test]
    fn gives_up_on_a_slot_whose_new_tasks_are_rejected_again() {
        let rejected = |id: &str, slot, created: &str| SwarmTask {
            slot: Some(slot),
            created_at: created.into(),
            ..task(id, "shutdown", "rejected", Some("No such image: nope:1"))
        };
        let known = HashSet::from(["old".to_owned()]);
        let old = rejected("old", 1, "1");
        // One rejection, or old ones: the Swarm may still place it.
        let once = vec![rejected("n1", 2, "2"), old.clone()];
        assert!(hopeless_rejection(&once, &known).is_none());
        let twice = vec![rejected("n2", 2, "3"), rejected("n1", 2, "2"), old.clone()];
        let (newest, times) = hopeless_rejection(&twice, &known).unwrap();
        assert_eq!((newest.id.as_str(), times), ("n2", 2));
        // A new task of that slot runs: not hopeless.
        let mut runs = twice.clone();
        runs.insert(
            0,
            SwarmTask {
                slot: Some(2),
                ..task("n3", "running", "running", None)
            },
        );
        assert!(hopeless_rejection(&runs, &known).is_none());
    }

    #[test]
    fn a_new_task_that_stopped_is_said_like_compose_restart() {
        let mut failed = task(
            "rmvqlq0123456789abcdefghi",
            "shutdown",
            "failed",
            Some("task: non-zero exit (1)"),
        );
        failed.exit_code = Some(1);
        let words = stopped_words("media_recyclarr", &failed, Duration::from_millis(4600));
        assert!(
            words.starts_with(
                "the new task media_recyclarr.1 (rmvqlq012345) failed after 5 s: task: non-zero exit (1) (exit code 1: "
            ),
            "{words}"
        );
    }

    #[test]
    fn verdict_names_match() {
        for (i, name) in SwarmVerdict::NAMES.iter().enumerate() {
            let verdict = [
                SwarmVerdict::Healthy,
                SwarmVerdict::Converging,
                SwarmVerdict::TasksFailing,
                SwarmVerdict::Rejected,
                SwarmVerdict::Unschedulable,
                SwarmVerdict::NoRunningTasks,
                SwarmVerdict::ScaledToZero,
                SwarmVerdict::UpdatePaused,
            ][i];
            assert_eq!(verdict.as_str(), *name);
            assert_eq!(serde_json::to_value(verdict).unwrap(), *name);
        }
    }
}
