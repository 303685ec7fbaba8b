//! What `/chat/tool` receives and what the gateway answers: the wire types are
//! the contract's ([`ops_core::contract`]); the request adds what the HTTP layer
//! read from the headers.

use serde_json::Value;

pub use ops_core::contract::{
    ChatToolReply as Reply, Executed, NeedApproval, Refusal, RefusalCode,
};

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
    /// `X-On-Behalf-Role` as received (not yet checked): the role the principal
    /// asserts for that person; when allowed, every decision uses it.
    pub on_behalf_role: Option<String>,
}
