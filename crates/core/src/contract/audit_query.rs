//! `GET /audit`'s filters, as the gateway reads them and pi-health forwards them.

use serde::{Deserialize, Serialize};

/// Records listed when no `limit` is given, and the most one request may ask for.
pub const AUDIT_DEFAULT_LIMIT: usize = 100;
pub const AUDIT_MAX_LIMIT: usize = 500;

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    /// One of denied, need_approval, approved, executed, failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_behalf_of: Option<String>,
    /// RFC 3339 times or dates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
    /// Only calls on this Docker host (several hosts); the default host's
    /// include the calls that named none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Records before this sequence number (paging back).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    /// Leave out the routine: reads that simply ran (a read refused, failed or
    /// waiting for approval still shows; every change shows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hide_reads: Option<bool>,
}

impl AuditQuery {
    /// Empty filters dropped (a form sends `tool=` for "any tool"), the limit
    /// within 1..=[`AUDIT_MAX_LIMIT`].
    pub fn normalized(self) -> Self {
        let keep = |v: Option<String>| v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
        Self {
            principal: keep(self.principal),
            tool: keep(self.tool),
            decision: keep(self.decision),
            on_behalf_of: keep(self.on_behalf_of),
            since: keep(self.since),
            until: keep(self.until),
            host: keep(self.host),
            before: self.before,
            limit: Some(
                self.limit
                    .unwrap_or(AUDIT_DEFAULT_LIMIT)
                    .clamp(1, AUDIT_MAX_LIMIT),
            ),
            hide_reads: self.hide_reads.filter(|hide| *hide),
        }
    }
}
