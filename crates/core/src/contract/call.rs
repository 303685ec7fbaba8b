//! `POST /chat/tool`: the guide's request, and the gateway's three answers.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::refusal::{Refusal, RefusalCode};

/// The request body. Unknown fields are refused. `role` is what the guide's
/// client sends: compared with the token's role, never trusted.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ChatToolRequest {
    pub tool: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<Value>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub approved: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
}

/// `{"ok": true, "tool", "result"}`: the tool ran; its result, redacted and capped.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Executed {
    pub ok: bool,
    pub tool: String,
    pub result: Value,
}

/// The tool needs a human's approval first. Every field is required on the wire:
/// a reply without, say, `expires_at_ms` is not this answer.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct NeedApproval {
    pub need_approval: bool,
    pub tool: String,
    pub args: Value,
    pub rationale: String,
    pub approval_id: String,
    pub expires_at_ms: u64,
    /// Whether the caller's role may approve it itself.
    pub self_approval: bool,
    pub how_to_approve: String,
}

/// What the gateway answers to a call (and to `POST /approvals/{id}/approve`).
#[derive(Debug, Clone, PartialEq)]
pub enum ChatToolReply {
    Executed(Executed),
    NeedApproval(NeedApproval),
    Refused(Refusal),
}

impl ChatToolReply {
    /// The HTTP status this answer goes out with.
    pub fn status(&self) -> u16 {
        match self {
            Self::Executed(_) | Self::NeedApproval(_) => 200,
            Self::Refused(refusal) => refusal.status(),
        }
    }

    /// The JSON body this answer goes out with.
    pub fn body(&self) -> Value {
        let encoded = match self {
            Self::Executed(executed) => serde_json::to_value(executed),
            Self::NeedApproval(need) => serde_json::to_value(need),
            Self::Refused(refusal) => serde_json::to_value(refusal),
        };
        // These types have string keys and no maps that could fail to encode.
        encoded.unwrap_or(Value::Null)
    }

    /// Reads an answer off the wire: a 2xx body must be exactly one of the two
    /// successes, an error body a refusal; anything else is
    /// [`RefusalCode::BadReply`], never a guess.
    pub fn from_wire(status: u16, body: &[u8], retry_after_header: Option<u64>) -> Self {
        if !(200..300).contains(&status) {
            return Self::Refused(Refusal::from_wire(status, body, retry_after_header));
        }
        let bad = |why: &str| Self::Refused(Refusal::new(RefusalCode::BadReply, why.to_owned()));
        let Ok(value) = serde_json::from_slice::<Value>(body) else {
            return bad("the gateway's answer is not JSON");
        };
        if value.get("need_approval").is_some() {
            return match serde_json::from_value::<NeedApproval>(value) {
                Ok(need) if need.need_approval && !need.approval_id.is_empty() => {
                    Self::NeedApproval(need)
                }
                Ok(_) => bad("the gateway asked for approval without an approval id"),
                Err(e) => Self::Refused(Refusal::new(
                    RefusalCode::BadReply,
                    format!("the gateway's request for approval is incomplete: {e}"),
                )),
            };
        }
        match serde_json::from_value::<Executed>(value) {
            Ok(executed) if executed.ok => Self::Executed(executed),
            _ => bad("the gateway's answer is neither a result nor a request for approval"),
        }
    }
}
