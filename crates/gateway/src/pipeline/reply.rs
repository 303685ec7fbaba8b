//! What `/chat/tool` receives and what the gateway answers.

use serde::Serialize;
use serde_json::Value;

/// A tool call as `/chat/tool` receives it.
#[derive(Debug, Clone, Default)]
pub struct CallRequest {
    pub tool: String,
    pub args: Value,
    pub approved: bool,
    pub approval_id: Option<String>,
    /// A `role` sent in the body: never trusted, refused when it differs.
    pub claimed_role: Option<String>,
    /// `X-On-Behalf-Of` as received (not yet checked): whom the principal says it
    /// acts for. Recorded in the audit log, never used to decide anything.
    pub on_behalf_of: Option<String>,
}

/// What the gateway answers.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Reply {
    Executed(Executed),
    NeedApproval(NeedApproval),
    Refused(Refusal),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Executed {
    pub ok: bool,
    pub tool: String,
    pub result: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NeedApproval {
    pub need_approval: bool,
    pub tool: String,
    pub args: Value,
    pub rationale: String,
    pub approval_id: String,
    pub expires_at_ms: u64,
    /// Whether the caller may approve it itself (`approved: true`).
    pub self_approval: bool,
    pub how_to_approve: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Refusal {
    #[serde(skip)]
    pub status: u16,
    pub code: &'static str,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_seconds: Option<u64>,
}

impl Refusal {
    pub(crate) fn new(status: u16, code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            code,
            detail: detail.into(),
            retry_after_seconds: None,
        }
    }
}
