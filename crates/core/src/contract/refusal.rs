//! Refusals: a code that carries its HTTP status, and the `{"detail", "code"}`
//! body every plane answers an error with.

use serde::{Deserialize, Serialize};

macro_rules! codes {
    ($($variant:ident = ($status:literal, $code:literal): $doc:literal,)*) => {
        /// Why a request was refused or failed. Each code has one HTTP status.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum RefusalCode {
            $(#[doc = $doc] $variant,)*
        }

        impl RefusalCode {
            /// Every code, for tests and documentation.
            pub const ALL: &'static [RefusalCode] = &[$(RefusalCode::$variant,)*];

            /// The HTTP status this refusal is answered with.
            pub fn status(self) -> u16 {
                match self { $(Self::$variant => $status,)* }
            }

            /// The `code` on the wire.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $code,)* }
            }

            /// The code named `code` on the wire, if there is one: a few wire codes
            /// belong to two variants (same meaning, different status); `status`
            /// tells them apart.
            pub fn parse(code: &str, status: u16) -> Option<Self> {
                let mut found = None;
                $(if code == $code {
                    if $status == status { return Some(Self::$variant); }
                    found.get_or_insert(Self::$variant);
                })*
                found
            }
        }
    };
}

codes! {
    Unauthenticated = (401, "unauthenticated"): "No valid bearer token (or session).",
    BadRequest = (400, "bad_request"): "A body or query that is not what the endpoint takes.",
    UnsupportedMediaType = (415, "bad_request"): "A body that is not JSON.",
    BadOnBehalfOf = (400, "bad_on_behalf_of"): "A malformed `X-On-Behalf-Of`.",
    RoleMismatch = (403, "role_mismatch"): "A `role` in the body that is not the token's.",
    RoleNotAssertable = (403, "role_not_assertable"): "An `X-On-Behalf-Role` the principal may not assert (or without `X-On-Behalf-Of`).",
    UnknownTool = (400, "unknown_tool"): "A tool the registry does not have.",
    BadArgs = (400, "bad_args"): "Arguments that fail the tool's JSON Schema.",
    NotAuthorized = (403, "not_authorized"): "A tool outside the caller's role.",
    Cooldown = (429, "cooldown"): "The tool (or its service) is cooling down.",
    TooManyPending = (429, "too_many_pending"): "The requester has too many pending approvals.",
    CannotSelfApprove = (403, "cannot_self_approve"): "`approved: true` from a role that may not approve the tool.",
    CannotApprove = (403, "cannot_approve"): "An approver whose role may not approve (or deny) the tool.",
    UnknownApproval = (404, "unknown_approval"): "No such approval.",
    ApprovalUsed = (409, "approval_used"): "The approval was already approved, denied or used.",
    ApprovalExpired = (410, "approval_expired"): "The approval expired.",
    ApprovalMismatch = (409, "approval_mismatch"): "The approval was for another tool or other arguments.",
    ApprovalNotYours = (403, "approval_mismatch"): "The approval was requested by another principal.",
    PolicyChanged = (409, "policy_changed"): "The policy changed since the approval was requested.",
    Busy = (409, "busy"): "A mutating call on the same target is running.",
    TooManySessions = (429, "too_many_sessions"): "The principal has as many MCP sessions open as it may.",
    SessionsFull = (503, "too_many_sessions"): "The server has as many MCP sessions open as it keeps.",
    TooManyStreams = (429, "too_many_streams"): "The caller (or the person it acts for) has as many log streams open as it may.",
    StreamsFull = (503, "too_many_streams"): "The server has as many log streams open as it keeps.",
    NotAStream = (400, "not_a_stream"): "`/chat/stream` names a tool that is not a stream, or `/chat/tool` one that is.",
    RequestTimeout = (408, "request_timeout"): "The request body did not arrive in time.",
    TooManyConnections = (503, "too_many_connections"): "The listener (or the caller's address) has as many connections open as it takes.",
    McpUnavailable = (502, "mcp_unavailable"): "No client for the tool's service.",
    McpFailed = (502, "mcp_failed"): "The tool ran (or was sent) and failed.",
    McpTimeout = (504, "mcp_timeout"): "The tool did not answer in time; its outcome is unknown.",
    AuditUnavailable = (503, "audit_unavailable"): "The audit record could not be stored: nothing ran.",
    StateUnavailable = (503, "state_unavailable"): "The approval (or its use) could not be stored: nothing ran.",
    Internal = (500, "internal"): "An internal error; the details are in the log.",
    BadReply = (502, "bad_reply"): "(client side) The gateway's answer is not what the contract says.",
    ReplyTooLarge = (502, "reply_too_large"): "(client side) The gateway's answer is too large.",
}

impl RefusalCode {
    /// Whether a mutating call may have run (or partly run) despite the refusal:
    /// it was handed to its service, which failed or did not answer in time.
    pub fn may_have_run(self) -> bool {
        matches!(self, Self::McpFailed | Self::McpTimeout)
    }
}

impl std::fmt::Display for RefusalCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for RefusalCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl Serialize for RefusalCode {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// A refusal as every plane answers it: HTTP status from the code, body
/// `{"detail", "code", "retry_after_seconds"?}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Refusal {
    pub code: RefusalCode,
    /// What is wrong and what to do, in plain words; never internals.
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_seconds: Option<u64>,
}

impl Refusal {
    pub fn new(code: RefusalCode, detail: impl Into<String>) -> Self {
        Self {
            code,
            detail: detail.into(),
            retry_after_seconds: None,
        }
    }

    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after_seconds = Some(seconds);
        self
    }

    pub fn status(&self) -> u16 {
        self.code.status()
    }

    /// Reads an error answer: its HTTP status and body. A body that is not the
    /// contract's is a [`RefusalCode::BadReply`] quoting it, bounded.
    pub fn from_wire(status: u16, body: &[u8], retry_after_header: Option<u64>) -> Self {
        #[derive(Deserialize)]
        struct Wire {
            code: String,
            detail: String,
            #[serde(default)]
            retry_after_seconds: Option<u64>,
        }
        match serde_json::from_slice::<Wire>(body) {
            Ok(wire) => match RefusalCode::parse(&wire.code, status) {
                Some(code) => Self {
                    code,
                    detail: crate::bounded(&wire.detail, 500),
                    retry_after_seconds: retry_after_header.or(wire.retry_after_seconds),
                },
                None => Self::new(
                    RefusalCode::BadReply,
                    format!(
                        "the gateway answered {status} with an unknown code {:?}: {}",
                        crate::bounded(&wire.code, 40),
                        crate::bounded(&wire.detail, 400)
                    ),
                ),
            },
            Err(_) => {
                let raw = String::from_utf8_lossy(body);
                let raw = raw.trim();
                Self::new(
                    RefusalCode::BadReply,
                    if raw.is_empty() {
                        format!("the gateway answered {status} without a reason")
                    } else {
                        format!(
                            "the gateway answered {status}: {}",
                            crate::bounded(raw, 400)
                        )
                    },
                )
            }
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status(), self.code, self.detail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_parses_back_to_itself() {
        for &code in RefusalCode::ALL {
            assert_eq!(RefusalCode::parse(code.as_str(), code.status()), Some(code));
        }
        assert_eq!(RefusalCode::parse("nope", 400), None);
    }

    #[test]
    fn a_shared_wire_code_is_told_apart_by_status() {
        assert_eq!(
            RefusalCode::parse("approval_mismatch", 403),
            Some(RefusalCode::ApprovalNotYours)
        );
        assert_eq!(
            RefusalCode::parse("approval_mismatch", 409),
            Some(RefusalCode::ApprovalMismatch)
        );
    }

    #[test]
    fn reads_error_bodies_and_refuses_strangers() {
        let r = Refusal::from_wire(
            429,
            br#"{"detail":"wait","code":"cooldown","retry_after_seconds":7}"#,
            None,
        );
        assert_eq!(r.code, RefusalCode::Cooldown);
        assert_eq!(r.retry_after_seconds, Some(7));
        let r = Refusal::from_wire(502, b"<html>Bad Gateway</html>", None);
        assert_eq!(r.code, RefusalCode::BadReply);
        assert!(r.detail.contains("Bad Gateway"), "{r:?}");
        let r = Refusal::from_wire(418, br#"{"detail":"x","code":"teapot"}"#, None);
        assert_eq!(r.code, RefusalCode::BadReply);
        assert!(r.detail.contains("teapot"), "{r:?}");
    }
}
