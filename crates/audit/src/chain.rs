//! The hash chain: what exactly is hashed (see the crate docs for the rationale).

use crate::canonical::{canonical_json, sha256_hex};
use serde_json::{Value, json};

/// `prev_hash` of the first record.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Versions the encoding: a future change of fields hashes differently by construction.
/// A record without `on_behalf_of` is hashed exactly as before that field existed.
const DOMAIN: &str = "ops-copilot-audit/v1";
/// A record with `on_behalf_of`: the v1 fields, then `on_behalf_of`.
const DOMAIN_V2: &str = "ops-copilot-audit/v2";

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
    pub on_behalf_of: Option<&'a str>,
}

/// `hex(sha256(canonical_json([DOMAIN, prev_hash, seq, time, ..., latency_ms])))`, or
/// with `on_behalf_of`, `[DOMAIN_V2, prev_hash, ..., latency_ms, on_behalf_of]`.
pub(crate) fn record_hash(r: &HashInput<'_>) -> String {
    let domain = if r.on_behalf_of.is_some() {
        DOMAIN_V2
    } else {
        DOMAIN
    };
    let mut encoding: Value = json!([
        domain,
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
    if let (Some(on_behalf_of), Value::Array(fields)) = (r.on_behalf_of, &mut encoding) {
        fields.push(Value::from(on_behalf_of));
    }
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
            on_behalf_of: None,
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
            HashInput {
                on_behalf_of: Some("alice"),
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

    #[test]
    fn on_behalf_of_is_a_v2_encoding_with_the_field_last() {
        let with = HashInput {
            on_behalf_of: Some("carol"),
            ..input()
        };
        let encoding = canonical_json(&json!([
            "ops-copilot-audit/v2",
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
            1234,
            "carol"
        ]));
        assert_eq!(record_hash(&with), sha256_hex(encoding.as_bytes()));
        // Each value is its own hash, and none equals the record without the field.
        let other = HashInput {
            on_behalf_of: Some("dave"),
            ..input()
        };
        let empty = HashInput {
            on_behalf_of: Some(""),
            ..input()
        };
        let hashes = [
            record_hash(&input()),
            record_hash(&with),
            record_hash(&other),
            record_hash(&empty),
        ];
        for (i, a) in hashes.iter().enumerate() {
            for b in &hashes[i + 1..] {
                assert_ne!(a, b);
            }
        }
    }
}
