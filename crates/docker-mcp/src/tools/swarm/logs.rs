//! swarm_logs: a Swarm service's last lines, by task, in time order.

use super::*;

/// swarm_logs reads at most this many times its byte cap from the Engine: the
/// timestamps and task details are dropped from each line before the cap.
const RAW_LOG_FACTOR: usize = 4;

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
pub(super) fn order_task_lines(
    text: &str,
    service: &str,
    slots: &HashMap<String, Option<i64>>,
) -> String {
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
pub(super) fn split_task_details(rest: &str) -> (&str, &str) {
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
