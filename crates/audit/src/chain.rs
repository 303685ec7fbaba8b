//! The hash chain: what exactly is hashed (see the crate docs for the rationale).

use crate::canonical::{canonical_json, sha256_hex};
use serde_json::{Value, json};

/// `prev_hash` of the first record.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Versions the encoding: a future change of fields hashes differently by construction.
const DOMAIN: &str = "ops-copilot-audit/v1";

/// Every hashed field, as stored (text columns verbatim, `args` as its canonical text).
pub(crate) struct HashInput<'a> {
    pub prev_hash: &'a str,
    pub seq: i64,
    pub time: &'a str,
    pub request_id: &'a str,
    pub principal: &'a str,
    pub role: &'a str,
    pub tool: &'a str,
    pub args: &'a str,
    pub decision: &'a str,
    pub reason: Option<&'a str>,
    pub approval_id: Option<&'a str>,
    pub approver: Option<&'a str>,
    pub result_digest: Option<&'a str>,
    pub latency_ms: i64,
}

/// `hex(sha256(canonical_json([DOMAIN, prev_hash, seq, time, ..., latency_ms])))`.
pub(crate) fn record_hash(r: &HashInput<'_>) -> String {
    let encoding: Value = json!([
        DOMAIN,
        r.prev_hash,
        r.seq,
        r.time,
        r.request_id,
        r.principal,
        r.role,
        r.tool,
        r.args,
        r.decision,
        r.reason,
        r.approval_id,
        r.approver,
        r.result_digest,
        r.latency_ms,
    ]);
    sha256_hex(canonical_json(&encoding).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> HashInput<'static> {
        HashInput {
            prev_hash: GENESIS_HASH,
            seq: 1,
            time: "2024-05-01T12:00:00.000Z",
            request_id: "req-1",
            principal: "alice",
            role: "admin",
            tool: "compose_restart",
            args: r#"{"file":"/opt/stack/docker-compose.yml","service":"sonarr"}"#,
            decision: "executed",
            reason: None,
            approval_id: Some("ap-1"),
            approver: Some("bob"),
            result_digest: None,
            latency_ms: 1234,
        }
    }

    #[test]
    fn the_encoding_is_pinned() {
        // If this changes, every existing log stops verifying: bump DOMAIN instead.
        let encoding = canonical_json(&json!([
            DOMAIN,
            GENESIS_HASH,
            1,
            "2024-05-01T12:00:00.000Z",
            "req-1",
            "alice",
            "admin",
            "compose_restart",
            r#"{"file":"/opt/stack/docker-compose.yml","service":"sonarr"}"#,
            "executed",
            null,
            "ap-1",
            "bob",
            null,
            1234
        ]));
        assert!(encoding.starts_with(r#"["ops-copilot-audit/v1","0000"#));
        assert!(encoding.contains(r#""{\"file\":\"/opt/stack/docker-compose.yml\""#));
        assert_eq!(record_hash(&input()), sha256_hex(encoding.as_bytes()));
    }

    #[test]
    fn every_field_changes_the_hash() {
        let base = record_hash(&input());
        let variants: Vec<HashInput<'static>> = vec![
            HashInput {
                prev_hash: "1",
                ..input()
            },
            HashInput { seq: 2, ..input() },
            HashInput {
                time: "2024-05-01T12:00:00.001Z",
                ..input()
            },
            HashInput {
                request_id: "req-2",
                ..input()
            },
            HashInput {
                principal: "mallory",
                ..input()
            },
            HashInput {
                role: "standard",
                ..input()
            },
            HashInput {
                tool: "compose_up",
                ..input()
            },
            HashInput {
                args: "{}",
                ..input()
            },
            HashInput {
                decision: "denied",
                ..input()
            },
            HashInput {
                reason: Some(""),
                ..input()
            },
            HashInput {
                approval_id: None,
                ..input()
            },
            HashInput {
                approver: Some("mallory"),
                ..input()
            },
            HashInput {
                result_digest: Some(GENESIS_HASH),
                ..input()
            },
            HashInput {
                latency_ms: 1,
                ..input()
            },
        ];
        for (i, v) in variants.iter().enumerate() {
            assert_ne!(record_hash(v), base, "field {i} is not hashed");
        }
    }

    #[test]
    fn field_boundaries_cannot_be_shifted() {
        // Moving text from one field to the next must not produce the same hash, which
        // it would with naive concatenation.
        let a = HashInput {
            principal: "ab",
            role: "c",
            ..input()
        };
        let b = HashInput {
            principal: "a",
            role: "bc",
            ..input()
        };
        assert_ne!(record_hash(&a), record_hash(&b));
    }
}
