//! A digest of arguments that does not depend on key order or whitespace,
//! so an approval binds to the meaning of the arguments, not their spelling.

use std::io::{self, Write};

use serde_json::Value;
use sha2::{Digest, Sha256};

/// Compact JSON with object keys sorted at every level.
pub fn canonical_json(value: &Value) -> String {
    let mut out = Vec::new();
    // Writing to a Vec cannot fail.
    let _ = write_canonical(value, &mut out);
    // serde_json writes valid UTF-8 only.
    String::from_utf8(out).unwrap_or_default()
}

/// Written piece by piece (keys and scalars escaped by serde_json, as it prints
/// them), so that a digest streams into the hash without building the text.
fn write_canonical<W: Write>(value: &Value, out: &mut W) -> io::Result<()> {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.write_all(b"{")?;
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.write_all(b",")?;
                }
                serde_json::to_writer(&mut *out, key)?;
                out.write_all(b":")?;
                write_canonical(item, out)?;
            }
            out.write_all(b"}")
        }
        Value::Array(items) => {
            out.write_all(b"[")?;
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.write_all(b",")?;
                }
                write_canonical(item, out)?;
            }
            out.write_all(b"]")
        }
        scalar => Ok(serde_json::to_writer(&mut *out, scalar)?),
    }
}

/// Hex SHA-256 of the canonical JSON.
pub fn digest(value: &Value) -> String {
    let mut hasher = Sha256::new();
    // Hashing cannot fail.
    let _ = write_canonical(value, &mut hasher);
    hex::encode(hasher.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn key_order_and_spacing_do_not_matter_but_values_do() {
        let a: Value =
            serde_json::from_str(r#"{"service":"sonarr","file":"/f","x":{"b":1,"a":[1,2]}}"#)
                .unwrap();
        let b: Value = serde_json::from_str(
            r#"{ "x": {"a": [1, 2], "b": 1}, "file": "/f", "service": "sonarr" }"#,
        )
        .unwrap();
        assert_eq!(digest(&a), digest(&b));
        assert_ne!(
            digest(&a),
            digest(&json!({"service": "radarr", "file": "/f", "x": {"b": 1, "a": [1, 2]}}))
        );
        assert_ne!(digest(&json!({"a": [1, 2]})), digest(&json!({"a": [2, 1]})));
        assert_eq!(
            canonical_json(&json!({"b": 1, "a": "x"})),
            r#"{"a":"x","b":1}"#
        );
    }

    #[test]
    fn the_encoding_and_digest_are_pinned() {
        // Approvals store this digest of their arguments: it must not change across
        // versions, or pending approvals stop matching their calls.
        let value: Value = serde_json::from_str(
            r#"{"z":[1,-2.5,1e300,true,null,"é\u0001\"\\/\n"],"a":{"y":{},"x":[],"\u00e9":"ü","":"empty","A":0}}"#,
        )
        .unwrap();
        assert_eq!(
            canonical_json(&value),
            r#"{"a":{"":"empty","A":0,"x":[],"y":{},"é":"ü"},"z":[1,-2.5,1e+300,true,null,"é\u0001\"\\/\n"]}"#
        );
        assert_eq!(
            digest(&value),
            "0b1365fe19a58dad34d2d3d4d31867455a3b330f011016e2756a8c70d4e4a5cc"
        );
    }
}
