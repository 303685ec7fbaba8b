//! Approving a suggestion: `POST /approvals/{id}/approve` at the gateway, on
//! behalf of the signed-in person, for the approval the gateway made when the
//! card was suggested. One click is one gateway request: the gateway consumes
//! its approval once, under its lock, after its cooldown check, and records who
//! asked and who approved. Whatever goes wrong is an error, never a simulated
//! success.

use ops_core::contract::RefusalCode;
use serde::Serialize;
use serde_json::Value;

use crate::gateway_client::{GatewayClient, ToolOutcome};
use crate::suggestion::Planned;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Status {
    Success,
    Error,
}

/// `POST /api/ops-copilot/approve`'s answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct ApproveReply {
    pub(crate) status: Status,
    /// What happened, in one or two sentences (plain text).
    pub(crate) result: String,
    /// What to do or know next (plain text), if anything.
    pub(crate) followup: Option<String>,
    /// The gateway's approval id, when the gateway made one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) approval_id: Option<String>,
    /// The HTTP status the answer goes out with.
    #[serde(skip)]
    pub(crate) http_status: u16,
}

impl ApproveReply {
    pub(crate) fn error(
        http_status: u16,
        result: impl Into<String>,
        followup: Option<String>,
    ) -> Self {
        Self {
            status: Status::Error,
            result: result.into(),
            followup,
            approval_id: None,
            http_status,
        }
    }

    pub(crate) fn is_success(&self) -> bool {
        self.status == Status::Success
    }
}

/// "sonarr-1: restarted (running)" per container of a lifecycle report.
fn describe_result(result: &Value) -> String {
    // compose_update: which image it runs now.
    if let Some(current) = result.get("current_image_id").and_then(Value::as_str) {
        let short = |id: &str| {
            id.strip_prefix("sha256:")
                .unwrap_or(id)
                .chars()
                .take(12)
                .collect::<String>()
        };
        let previous = result
            .get("previous_image_id")
            .and_then(Value::as_str)
            .unwrap_or_default();
        return match result.get("outcome").and_then(Value::as_str) {
            Some("updated") => format!(
                " Now on the new image {} (was {}), running.",
                short(current),
                short(previous)
            ),
            _ => format!(
                " It already ran the newest image ({}): nothing was recreated.",
                short(current)
            ),
        };
    }
    let containers: Vec<String> = result
        .get("containers")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .map(|c| {
                    let text = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or_default();
                    match text("outcome") {
                        // A one-shot service that ran and exited 0: done, not "not running".
                        "finished" => {
                            format!("{}: ran and finished normally (exit code 0)", text("name"))
                        }
                        outcome => format!("{}: {outcome} ({})", text("name"), text("state")),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    if containers.is_empty() {
        String::new()
    } else {
        format!(" {}.", containers.join("; "))
    }
}

/// The HTTP status for a refusal of the approval itself, else 502.
fn status_of(code: RefusalCode) -> u16 {
    match code {
        RefusalCode::UnknownApproval => 404,
        RefusalCode::ApprovalExpired => 410,
        RefusalCode::ApprovalUsed => 409,
        _ => 502,
    }
}

/// Approves `planned`'s gateway approval.
pub(crate) async fn run(gateway: Option<&GatewayClient>, planned: &Planned) -> ApproveReply {
    let service = &planned.service;
    let Some(gateway) = gateway else {
        return ApproveReply::error(
            503,
            format!(
                "Not executed: the Docker integration is offline (DOCKER_MCP_BASE_URL is not set), so {service} was not touched."
            ),
            Some("Set DOCKER_MCP_BASE_URL to the ai-gateway's URL to enable actions.".into()),
        );
    };
    let (tool, _) = planned.tool_call(gateway.compose_file());
    let what = format!("{tool} {service}{}", planned.on_host());
    let Some(id) = planned.approval_id.clone() else {
        return ApproveReply::error(
            503,
            format!(
                "Not executed: the gateway could not be reached when this was suggested, so there is no approval to give and {service} was not touched."
            ),
            Some("Ask the Ops-Copilot again once the gateway is back.".into()),
        );
    };
    let with_id = |mut reply: ApproveReply| {
        reply.approval_id = Some(id.clone());
        reply
    };
    match gateway.approve(&id).await {
        ToolOutcome::Executed(result) => with_id(ApproveReply {
            status: Status::Success,
            result: format!("{what} succeeded.{}", describe_result(&result)),
            followup: None,
            approval_id: None,
            http_status: 200,
        }),
        ToolOutcome::Refused(r) => {
            let head = if r.code.may_have_run() {
                format!("{what} failed")
            } else {
                format!("Not executed: the gateway refused {what}")
            };
            let followup = match r.code {
                RefusalCode::ApprovalUsed => {
                    "This suggestion was already approved once.".to_owned()
                }
                RefusalCode::ApprovalExpired | RefusalCode::UnknownApproval => {
                    "This suggestion has expired: ask the Ops-Copilot again.".to_owned()
                }
                _ => match r.retry_after_seconds {
                    Some(seconds) => format!("Try again in {seconds} seconds."),
                    None => "Check the Containers page and the Audit log.".to_owned(),
                },
            };
            // A failed service call is said in the service's words (what is
            // wrong and what to do); a refusal keeps the gateway's code.
            let result = if r.code.may_have_run() {
                format!("{head}: {}", r.detail)
            } else {
                format!("{head} ({} {}): {}", r.status(), r.code, r.detail)
            };
            with_id(ApproveReply::error(status_of(r.code), result, Some(followup)))
        }
        ToolOutcome::NotSent(why) => with_id(ApproveReply::error(
            502,
            format!("Not executed: {why}, so {service} was not touched."),
            Some("Check that the ai-gateway is running (details in the server log), then approve again.".into()),
        )),
        ToolOutcome::Unreachable(why) => with_id(ApproveReply::error(
            502,
            format!("No confirmation: {why}. The outcome of {what} is unknown."),
            Some("Check the Containers page and the gateway's Audit log.".into()),
        )),
        ToolOutcome::NeedApproval(_) => with_id(ApproveReply::error(
            502,
            format!("Not executed: the gateway asked for approval of {what} again."),
            None,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planner::Action;
    use crate::suggestion;
    use serde_json::json;

    #[tokio::test]
    async fn offline_is_never_a_success() {
        let planned = suggestion::plan(Action::Restart, "sonarr", "/f.yml", None).unwrap();
        let reply = run(None, &planned).await;
        assert_eq!(reply.status, Status::Error);
        assert_eq!(reply.http_status, 503);
        assert!(reply.result.starts_with("Not executed"), "{reply:?}");
        let json = serde_json::to_value(&reply).unwrap();
        assert_eq!(json["status"], "error");
        assert!(json.get("http_status").is_none());
    }

    #[test]
    fn results_are_described_per_container() {
        let text = describe_result(&json!({"containers": [
            {"name": "stack-sonarr-1", "outcome": "restarted", "state": "running"}
        ]}));
        assert_eq!(text, " stack-sonarr-1: restarted (running).");
        let one_shot = describe_result(&json!({"containers": [
            {"name": "stack-recyclarr-1", "outcome": "finished", "state": "exited"}
        ]}));
        assert_eq!(
            one_shot,
            " stack-recyclarr-1: ran and finished normally (exit code 0)."
        );
        assert_eq!(describe_result(&json!({})), "");
        let updated = describe_result(&json!({
            "outcome": "updated", "previous_image_id": "sha256:aaaaaaaaaaaaaaaa",
            "current_image_id": "sha256:bbbbbbbbbbbbbbbb", "containers": ["stack-sonarr-1"]
        }));
        assert_eq!(
            updated,
            " Now on the new image bbbbbbbbbbbb (was aaaaaaaaaaaa), running."
        );
    }

    #[test]
    fn a_refused_approval_keeps_its_meaning_in_the_status() {
        assert_eq!(status_of(RefusalCode::ApprovalUsed), 409);
        assert_eq!(status_of(RefusalCode::ApprovalExpired), 410);
        assert_eq!(status_of(RefusalCode::UnknownApproval), 404);
        assert_eq!(status_of(RefusalCode::Cooldown), 502);
    }
}
