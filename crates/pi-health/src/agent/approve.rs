//! Running an approved suggestion through the gateway's approval flow: the call,
//! its `need_approval`, then the same call with `"approved": true` and the
//! approval id. Whatever goes wrong is an error, never a simulated success.

use serde::Serialize;
use serde_json::Value;

use crate::gateway_client::{GatewayClient, Kind, ToolOutcome};
use crate::suggestion::Planned;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Success,
    Error,
}

/// `POST /api/ops-copilot/approve`'s answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApproveReply {
    pub status: Status,
    /// What happened, in one or two sentences (plain text).
    pub result: String,
    /// What to do or know next (plain text), if anything.
    pub followup: Option<String>,
    /// The gateway's approval id, when the gateway made one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approval_id: Option<String>,
}

impl ApproveReply {
    pub fn error(result: impl Into<String>, followup: Option<String>) -> Self {
        Self {
            status: Status::Error,
            result: result.into(),
            followup,
            approval_id: None,
        }
    }

    pub fn is_success(&self) -> bool {
        self.status == Status::Success
    }
}

/// "sonarr-1: restarted (running)" per container of a lifecycle report.
fn describe_result(result: &Value) -> String {
    let containers: Vec<String> = result
        .get("containers")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .map(|c| {
                    let text = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or_default();
                    format!("{}: {} ({})", text("name"), text("outcome"), text("state"))
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

/// Runs `planned` as `tool(args)` through the gateway.
pub async fn run(gateway: Option<&GatewayClient>, planned: &Planned) -> ApproveReply {
    let service = &planned.service;
    let Some(gateway) = gateway else {
        return ApproveReply::error(
            format!(
                "Not executed: the Docker integration is offline (DOCKER_MCP_BASE_URL is not set), so {service} was not touched."
            ),
            Some("Set DOCKER_MCP_BASE_URL to the ai-gateway's URL to enable actions.".into()),
        );
    };
    let (tool, args) = planned.tool_call(gateway.compose_file());
    let what = format!("{tool} {service}");
    let approval = match gateway.call(tool, args.clone(), Kind::Write).await {
        ToolOutcome::NeedApproval(approval) => approval,
        // A policy that lets it run without approval: it ran.
        ToolOutcome::Executed(result) => return success(&what, &result, None),
        ToolOutcome::Refused(r) => {
            return ApproveReply::error(
                format!(
                    "Not executed: the gateway refused {what} ({} {}): {}",
                    r.status, r.code, r.detail
                ),
                r.retry_after_seconds
                    .map(|s| format!("Try again in {s} seconds.")),
            );
        }
        ToolOutcome::Unreachable(why) => {
            return ApproveReply::error(
                format!("Not executed: {why}."),
                Some("Check that the ai-gateway is running, then ask again.".into()),
            );
        }
    };
    if !approval.self_approval {
        return ApproveReply {
            status: Status::Error,
            result: format!("Not executed: this app's gateway role may not approve {tool}."),
            followup: Some(format!(
                "The request is pending in the gateway as approval {}: a principal whose role can approve {tool} can approve it there.",
                approval.approval_id
            )),
            approval_id: Some(approval.approval_id),
        };
    }
    let id = approval.approval_id;
    match gateway.call_approved(tool, args, &id).await {
        ToolOutcome::Executed(result) => success(&what, &result, Some(id)),
        ToolOutcome::Refused(r) => {
            let ran = matches!(r.status, 502 | 504);
            let head = if ran {
                format!("{what} failed")
            } else {
                format!("Not executed: the gateway refused {what}")
            };
            ApproveReply {
                status: Status::Error,
                result: format!("{head} ({} {}): {}", r.status, r.code, r.detail),
                followup: Some("Check the Containers page and the Audit log.".into()),
                approval_id: Some(id),
            }
        }
        ToolOutcome::Unreachable(why) => ApproveReply {
            status: Status::Error,
            result: format!("No confirmation: {why}. The outcome of {what} is unknown."),
            followup: Some("Check the Containers page and the gateway's Audit log.".into()),
            approval_id: Some(id),
        },
        ToolOutcome::NeedApproval(_) => ApproveReply {
            status: Status::Error,
            result: format!("Not executed: the gateway asked for approval of {what} again."),
            followup: None,
            approval_id: Some(id),
        },
    }
}

fn success(what: &str, result: &Value, approval_id: Option<String>) -> ApproveReply {
    ApproveReply {
        status: Status::Success,
        result: format!("{what} succeeded.{}", describe_result(result)),
        followup: None,
        approval_id,
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
        let planned = suggestion::plan(Action::Restart, "sonarr", "/f.yml", None);
        let reply = run(None, &planned).await;
        assert_eq!(reply.status, Status::Error);
        assert!(reply.result.starts_with("Not executed"), "{reply:?}");
        let json = serde_json::to_value(&reply).unwrap();
        assert_eq!(json["status"], "error");
    }

    #[test]
    fn results_are_described_per_container() {
        let text = describe_result(&json!({"containers": [
            {"name": "stack-sonarr-1", "outcome": "restarted", "state": "running"}
        ]}));
        assert_eq!(text, " stack-sonarr-1: restarted (running).");
        assert_eq!(describe_result(&json!({})), "");
    }
}
