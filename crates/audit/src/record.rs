//! Record types and the limits applied before a record is hashed and stored.

use crate::canonical::{canonical_json, sha256_hex};
use crate::error::AuditError;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::fmt;
use std::str::FromStr;

/// Largest canonical `args` kept verbatim. Larger args are replaced by a stub holding
/// their size and SHA-256, so the request is still recorded (refusing the record would
/// block the request, fail-closed, for no security gain); the gateway's schemas keep
/// real tool arguments far below this.
pub const MAX_ARGS_BYTES: usize = 64 * 1024;
/// Longest identifier kept (request id, principal, role, tool, approval id, approver,
/// on behalf of).
/// Longer values are cut at a char boundary and end in `…`. A request id may come from
/// a client header: it must not be able to bloat the log.
pub const MAX_ID_BYTES: usize = 256;
/// Longest `reason` kept; longer reasons are cut and end in `…`.
pub const MAX_REASON_BYTES: usize = 2048;

/// What happened to a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Denied,
    NeedApproval,
    Approved,
    Executed,
    Failed,
}

impl Decision {
    pub const ALL: [Decision; 5] = [
        Decision::Denied,
        Decision::NeedApproval,
        Decision::Approved,
        Decision::Executed,
        Decision::Failed,
    ];

    /// The stored (and serialized) name: `denied`, `need_approval`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Denied => "denied",
            Decision::NeedApproval => "need_approval",
            Decision::Approved => "approved",
            Decision::Executed => "executed",
            Decision::Failed => "failed",
        }
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown decision {0:?} (expected denied, need_approval, approved, executed or failed)")]
pub struct ParseDecisionError(pub String);

impl FromStr for Decision {
    type Err = ParseDecisionError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Decision::ALL
            .into_iter()
            .find(|d| d.as_str() == s)
            .ok_or_else(|| ParseDecisionError(s.to_owned()))
    }
}

/// A record to append. `seq`, `time` and the hashes are assigned by the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewRecord {
    pub request_id: String,
    pub principal: String,
    pub role: String,
    pub tool: String,
    /// Already redacted by the caller.
    pub args: Value,
    pub decision: Decision,
    pub reason: Option<String>,
    pub approval_id: Option<String>,
    pub approver: Option<String>,
    /// Hex SHA-256 of the (redacted) result, see [`crate::digest_json`].
    pub result_digest: Option<String>,
    pub latency_ms: u64,
    /// Whom the principal that made the request (the approver, when there is one)
    /// said it acted for: a statement, recorded, never used to decide anything.
    #[serde(default)]
    pub on_behalf_of: Option<String>,
}

/// A stored record, as listed and verified.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub seq: i64,
    /// RFC 3339, UTC, milliseconds: `2024-05-01T12:00:00.123Z`.
    pub time: String,
    pub request_id: String,
    pub principal: String,
    pub role: String,
    pub tool: String,
    pub args: Value,
    pub decision: Decision,
    pub reason: Option<String>,
    pub approval_id: Option<String>,
    pub approver: Option<String>,
    pub result_digest: Option<String>,
    pub latency_ms: u64,
    pub prev_hash: String,
    pub hash: String,
    /// See [`NewRecord::on_behalf_of`]; left out of the JSON when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_behalf_of: Option<String>,
    /// `hex(HMAC(k_e, ... hash))` with `e` the epoch of `seq`, for a record written
    /// with a key (schema version 3; see the crate docs); left out of the JSON when
    /// absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seal: Option<String>,
}

impl AuditRecord {
    /// Recomputes this record's hash from its fields and `prev_hash` (the stored `hash`
    /// is not an input). Equal to `hash` for every record the log wrote.
    pub fn compute_hash(&self) -> String {
        crate::chain::record_hash(&crate::chain::HashInput {
            prev_hash: &self.prev_hash,
            seq: self.seq,
            time: &self.time,
            request_id: &self.request_id,
            principal: &self.principal,
            role: &self.role,
            tool: &self.tool,
            args: &canonical_json(&self.args),
            decision: self.decision.as_str(),
            reason: self.reason.as_deref(),
            approval_id: self.approval_id.as_deref(),
            approver: self.approver.as_deref(),
            result_digest: self.result_digest.as_deref(),
            latency_ms: i64::try_from(self.latency_ms).unwrap_or(i64::MAX),
            on_behalf_of: self.on_behalf_of.as_deref(),
        })
    }
}

/// A [`NewRecord`] after limits: exactly what is hashed and stored.
pub(crate) struct Prepared {
    pub request_id: String,
    pub principal: String,
    pub role: String,
    pub tool: String,
    pub args: Value,
    pub args_text: String,
    pub decision: Decision,
    pub reason: Option<String>,
    pub approval_id: Option<String>,
    pub approver: Option<String>,
    pub result_digest: Option<String>,
    pub latency_ms: i64,
    pub on_behalf_of: Option<String>,
}

impl Prepared {
    pub(crate) fn new(r: NewRecord) -> Result<Self, AuditError> {
        let result_digest = r.result_digest.map(check_digest).transpose()?;
        let (args, args_text) = bounded_args(r.args);
        Ok(Self {
            request_id: clip(r.request_id, MAX_ID_BYTES),
            principal: clip(r.principal, MAX_ID_BYTES),
            role: clip(r.role, MAX_ID_BYTES),
            tool: clip(r.tool, MAX_ID_BYTES),
            args,
            args_text,
            decision: r.decision,
            reason: r.reason.map(|s| clip(s, MAX_REASON_BYTES)),
            approval_id: r.approval_id.map(|s| clip(s, MAX_ID_BYTES)),
            approver: r.approver.map(|s| clip(s, MAX_ID_BYTES)),
            result_digest,
            // SQLite integers are i64; no real latency comes near the clamp.
            latency_ms: i64::try_from(r.latency_ms).unwrap_or(i64::MAX),
            on_behalf_of: r.on_behalf_of.map(|s| clip(s, MAX_ID_BYTES)),
        })
    }
}

/// A digest is produced by the gateway itself, so a malformed one is a bug worth an
/// error, not something to store.
fn check_digest(d: String) -> Result<String, AuditError> {
    let d = d.to_ascii_lowercase();
    if d.len() == 64 && d.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(d)
    } else {
        Err(AuditError::InvalidRecord(format!(
            "result_digest must be 64 hex digits (sha256), got {:?}",
            clip(d, 80)
        )))
    }
}

fn bounded_args(args: Value) -> (Value, String) {
    let text = canonical_json(&args);
    if text.len() <= MAX_ARGS_BYTES {
        return (args, text);
    }
    let stub = json!({
        "omitted": format!("args of {} bytes exceed the audit limit of {MAX_ARGS_BYTES}", text.len()),
        "bytes": text.len(),
        "sha256": sha256_hex(text.as_bytes()),
    });
    let stub_text = canonical_json(&stub);
    (stub, stub_text)
}

/// Cuts `s` to at most `max` bytes at a char boundary, ending in `…` when cut.
fn clip(mut s: String, max: usize) -> String {
    if s.len() <= max {
        return s;
    }
    let ellipsis = '…';
    let mut end = max.saturating_sub(ellipsis.len_utf8());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.truncate(end);
    s.push(ellipsis);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> NewRecord {
        NewRecord {
            request_id: "r".into(),
            principal: "p".into(),
            role: "admin".into(),
            tool: "docker_ps".into(),
            args: json!({}),
            decision: Decision::Executed,
            reason: None,
            approval_id: None,
            approver: None,
            result_digest: None,
            latency_ms: u64::MAX,
            on_behalf_of: None,
        }
    }

    #[test]
    fn decisions_round_trip_as_snake_case() {
        for d in Decision::ALL {
            assert_eq!(d.as_str().parse(), Ok(d));
            assert_eq!(serde_json::to_value(d).ok(), Some(json!(d.as_str())));
        }
        assert_eq!(
            serde_json::from_value::<Decision>(json!("need_approval")).ok(),
            Some(Decision::NeedApproval)
        );
        assert!("NeedApproval".parse::<Decision>().is_err());
        assert!("".parse::<Decision>().is_err());
    }

    #[test]
    fn long_fields_are_clipped_on_char_boundaries() {
        let mut r = record();
        r.request_id = "é".repeat(1000);
        r.reason = Some("x".repeat(10_000));
        r.on_behalf_of = Some("b".repeat(1000));
        let p = Prepared::new(r).map_err(|e| e.to_string());
        let p = p.as_ref().ok();
        let id = p.map(|p| p.request_id.clone()).unwrap_or_default();
        assert!(
            id.len() <= MAX_ID_BYTES && id.ends_with('…'),
            "{}",
            id.len()
        );
        let reason = p.and_then(|p| p.reason.clone()).unwrap_or_default();
        assert_eq!(reason.len(), MAX_REASON_BYTES);
        let on_behalf_of = p.and_then(|p| p.on_behalf_of.clone()).unwrap_or_default();
        assert!(on_behalf_of.len() <= MAX_ID_BYTES && on_behalf_of.ends_with('…'));
        assert_eq!(p.map(|p| p.latency_ms), Some(i64::MAX));
    }

    #[test]
    fn oversized_args_become_a_digest_stub() {
        let mut r = record();
        r.args = json!({"blob": "x".repeat(MAX_ARGS_BYTES)});
        let p = Prepared::new(r).ok();
        let args = p.as_ref().map(|p| p.args.clone()).unwrap_or_default();
        assert_eq!(args["bytes"], json!(MAX_ARGS_BYTES + 11));
        assert_eq!(args["sha256"].as_str().map(str::len), Some(64));
        assert!(p.is_some_and(|p| p.args_text.len() < 1024));
    }

    #[test]
    fn malformed_digest_is_refused() {
        let mut r = record();
        r.result_digest = Some("not-a-digest".into());
        assert!(matches!(
            Prepared::new(r),
            Err(AuditError::InvalidRecord(_))
        ));
        let mut r = record();
        r.result_digest = Some("AB".repeat(32));
        let p = Prepared::new(r).ok();
        assert_eq!(p.and_then(|p| p.result_digest), Some("ab".repeat(32)));
    }
}
