//! An MCP call waiting for the human decision on its approval: the decision
//! arrives through its [`Waiter`] (see [`crate::pipeline::Waiter`]: no polling,
//! no race), bounded by the configured wait and the approval's expiry, and cut
//! short when the client cancels or the server stops. A client that sent a
//! progress token hears how long it has waited every few seconds.
//!
//! Nothing is audited here: the decision and the run were recorded where they
//! were made (`approve`, `deny`).

use std::time::Duration;

use rmcp::model::{CallToolResult, ProgressNotificationParam, ProgressToken};
use rmcp::{Peer, RoleServer};
use serde_json::{Value, json};
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use super::ApprovalWait;
use crate::pipeline::{Decided, Gateway, NeedApproval, Reply, Waiter, now_ms};
use crate::state::ApprovalStatus;

/// Where progress goes: the client's token, on its session.
pub(super) struct Progress {
    pub(super) token: ProgressToken,
    pub(super) peer: Peer<RoleServer>,
}

/// What ends a wait besides the decision.
pub(super) struct Until<'a> {
    pub(super) wait: ApprovalWait,
    /// The server stopping.
    pub(super) shutdown: &'a CancellationToken,
    /// The client cancelling its request.
    pub(super) cancelled: &'a CancellationToken,
}

/// Waits for the decision on `need`'s approval; the call's result.
pub(super) async fn wait(
    gateway: &Gateway,
    need: NeedApproval,
    mut waiter: Waiter,
    until: Until<'_>,
    progress: Option<Progress>,
) -> CallToolResult {
    let started = Instant::now();
    // Never past the approval's expiry: it cannot be approved after that.
    let to_expiry = Duration::from_millis(need.expires_at_ms.saturating_sub(now_ms()));
    let wait = until.wait.wait.min(to_expiry);
    let mut deadline = started + wait;
    let mut running = false;
    let mut ticks = tokio::time::interval(until.wait.progress_every.max(MIN_PROGRESS_EVERY));
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            // The decision first, should it come at the same time as the deadline.
            biased;
            decided = waiter.decided() => {
                return match decided {
                    Some(decided) => decided_result(&need, decided),
                    None => not_decided(gateway, &need, wait, "the gateway is stopping"),
                };
            }
            () = until.cancelled.cancelled() => {
                return not_decided(gateway, &need, started.elapsed(), "the request was cancelled");
            }
            () = until.shutdown.cancelled() => {
                return not_decided(gateway, &need, started.elapsed(), "the gateway is stopping");
            }
            () = tokio::time::sleep_until(deadline) => {
                // Approved just before the end, and running: its answer is near.
                if !running && consumed(gateway, &need.approval_id) {
                    running = true;
                    deadline = Instant::now() + RUN_GRACE;
                    continue;
                }
                return not_decided(gateway, &need, wait, "nobody decided in time");
            }
            _ = ticks.tick(), if progress.is_some() => {
                if let Some(progress) = &progress {
                    notify(progress, &need, started.elapsed(), wait, running).await;
                }
            }
        }
    }
}

/// Progress is never sent more often than this, whatever the setting.
const MIN_PROGRESS_EVERY: Duration = Duration::from_millis(200);

/// How much longer a call waits when its wait ends while the approved run is
/// under way (a service call's own timeouts are shorter, 30 s by default).
const RUN_GRACE: Duration = Duration::from_secs(300);

/// Whether the approval has been used (its run is under way or over).
fn consumed(gateway: &Gateway, id: &str) -> bool {
    matches!(
        gateway.state().get(id),
        Ok(Some(approval)) if approval.status == ApprovalStatus::Consumed
    )
}

/// "waiting for a person to approve compose_restart (approval id X), 20 s of 120 s";
/// once `running` past the wait, that the approved run is awaited.
async fn notify(
    progress: &Progress,
    need: &NeedApproval,
    waited: Duration,
    wait: Duration,
    running: bool,
) {
    let (tool, id, secs) = (&need.tool, &need.approval_id, waited.as_secs());
    let param = ProgressNotificationParam::new(progress.token.clone(), waited.as_secs_f64());
    let param = if running {
        param.with_message(format!(
            "{tool} was approved (approval id {id}) and is running, {secs} s"
        ))
    } else {
        param.with_total(wait.as_secs_f64()).with_message(format!(
            "waiting for a person to approve {tool} (approval id {id}), {secs} s of {} s",
            wait.as_secs()
        ))
    };
    if let Err(error) = progress.peer.notify_progress(param).await {
        // The client went away, most likely; its cancellation ends the wait.
        tracing::debug!(%error, "a progress notification could not be sent");
    }
}

/// The call's result once the approval was decided.
fn decided_result(need: &NeedApproval, decided: Decided) -> CallToolResult {
    let (tool, id) = (&need.tool, &need.approval_id);
    match decided {
        Decided::Ran {
            reply: Reply::Executed(executed),
            ..
        } => CallToolResult::structured(executed.result),
        Decided::Ran {
            approver,
            reply: Reply::Refused(refusal),
        } => CallToolResult::structured_error(json!({
            "approval_id": id,
            "tool": tool,
            "approved_by": approver,
            "code": refusal.code.as_str(),
            "message": format!(
                "{tool} was approved by {approver} (approval id {id}), but running it failed: {} ({})",
                refusal.detail, refusal.code
            ),
        })),
        // A run answers with a result or a refusal, never with another request.
        Decided::Ran {
            approver,
            reply: Reply::NeedApproval(_),
        } => CallToolResult::structured_error(json!({
            "approval_id": id,
            "tool": tool,
            "approved_by": approver,
            "message": format!("{tool} was approved by {approver} (approval id {id}), but did not run"),
        })),
        Decided::Unusable { approver, refusal } => CallToolResult::structured_error(json!({
            "approval_id": id,
            "tool": tool,
            "approved_by": approver,
            "code": refusal.code.as_str(),
            "message": format!(
                "{tool} was approved by {approver} (approval id {id}), but it can no longer run: {} ({}). This call did not run.",
                refusal.detail, refusal.code
            ),
        })),
        Decided::Denied { by, withdrawn } => {
            let verb = if withdrawn { "withdrawn" } else { "denied" };
            CallToolResult::structured_error(json!({
                "denied": true,
                "withdrawn": withdrawn,
                "denied_by": by,
                "approval_id": id,
                "tool": tool,
                "message": format!("{tool} was {verb} by {by} (approval id {id}). This call did not run."),
            }))
        }
    }
}

/// The call's result when it stops waiting without a decision (`why`): what the
/// state store says of the approval now (a decision this wait missed, e.g. an
/// approver whose request was cut off mid-run, is told as such), else "still
/// waiting" with the id, the approval left pending.
fn not_decided(
    gateway: &Gateway,
    need: &NeedApproval,
    waited: Duration,
    why: &str,
) -> CallToolResult {
    let (tool, id) = (&need.tool, &need.approval_id);
    let stored = gateway.state().get(id).unwrap_or_else(|error| {
        tracing::error!(%error, "cannot read an approval after waiting for it");
        None
    });
    let by = |approval: &crate::state::Approval| {
        approval
            .decided_by
            .clone()
            .unwrap_or_else(|| "someone".into())
    };
    let base = |message: String| -> Value {
        json!({
            "approval_id": id,
            "tool": tool,
            "args": need.args,
            "waited_seconds": waited.as_secs(),
            "message": message,
        })
    };
    let mut body = match &stored {
        Some(approval) if approval.status == ApprovalStatus::Consumed => base(format!(
            "{tool} was approved by {} (approval id {id}) and run by that approval; its result is not here: see the audit log",
            by(approval)
        )),
        Some(approval) if approval.status == ApprovalStatus::Denied => {
            let mut body = base(format!(
                "{tool} was denied by {} (approval id {id}). This call did not run.",
                by(approval)
            ));
            body["denied"] = json!(true);
            body["denied_by"] = json!(by(approval));
            body
        }
        Some(approval) if approval.expires_at_ms <= now_ms() => base(format!(
            "approval id {id} expired before anyone decided on {tool}. This call did not run."
        )),
        _ => {
            let mut body = base(format!(
                "still waiting: approval id {id}, approve it in Ops-Copilot (its Approvals page, or POST /approvals/{id}/approve); this call did not run ({why} after {} s). once approved, it runs then (calling again would ask for another approval).",
                waited.as_secs()
            ));
            body["still_waiting"] = json!(true);
            body["need_approval"] = json!(true);
            body
        }
    };
    body["stopped_because"] = json!(why);
    CallToolResult::structured_error(body)
}
