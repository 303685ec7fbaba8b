//! The audit record being built for one request, finished with its decision.

use std::time::Instant;

use audit::{Decision, NewRecord};
use serde_json::Value;

use crate::auth::Principal;

/// The audit record being built for one request.
#[derive(Debug, Clone)]
pub(super) struct Record {
    pub(super) request_id: String,
    pub(super) principal: String,
    pub(super) role: String,
    pub(super) tool: String,
    pub(super) args: Value,
    pub(super) reason: Option<String>,
    pub(super) approval_id: Option<String>,
    pub(super) approver: Option<String>,
    pub(super) result_digest: Option<String>,
    /// Checked `X-On-Behalf-Of` of the request (see [`ops_core::contract::rules::check_on_behalf_of`]).
    pub(super) on_behalf_of: Option<String>,
}

impl Record {
    pub(super) fn new(request_id: &str, principal: &Principal, tool: &str, args: &Value) -> Self {
        Self {
            request_id: request_id.to_owned(),
            principal: principal.name.clone(),
            role: principal.role.clone(),
            tool: tool.to_owned(),
            args: args.clone(),
            reason: None,
            approval_id: None,
            approver: None,
            result_digest: None,
            on_behalf_of: None,
        }
    }

    /// A record of a decision on an approval that could not be looked up (a bad
    /// id or header): no tool, no arguments, a request id of its own.
    pub(super) fn without_call(
        request_id: &str,
        approver: &Principal,
        on_behalf_of: Option<String>,
    ) -> Self {
        let mut record = Self::new(request_id, approver, "", &Value::Null);
        record.on_behalf_of = on_behalf_of;
        record
    }

    pub(super) fn finish(self, decision: Decision, started: Instant) -> NewRecord {
        NewRecord {
            request_id: self.request_id,
            principal: self.principal,
            role: self.role,
            tool: self.tool,
            args: self.args,
            decision,
            reason: self.reason,
            approval_id: self.approval_id,
            approver: self.approver,
            result_digest: self.result_digest,
            latency_ms: started.elapsed().as_millis() as u64,
            on_behalf_of: self.on_behalf_of,
        }
    }
}
