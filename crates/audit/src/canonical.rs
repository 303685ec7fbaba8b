//! Canonical JSON: one byte sequence per JSON value, defined here rather than by a
//! serializer's defaults, because the audit hashes must mean the same thing forever.
//!
//! Rules: no whitespace; object keys sorted by their UTF-8 bytes; strings escaped with
//! `\"`, `\\`, `\n`, `\r`, `\t`, `\b`, `\f` and `\u00xx` (lowercase hex) for the other
//! control characters below U+0020, everything else written as UTF-8; `null`, `true`,
//! `false`; numbers as serde_json prints them (integers in decimal, floats in their
//! shortest round-trip form).

use serde_json::Value;
use sha2::{Digest, Sha256};
use std::fmt::Write as _;

/// Canonical JSON text of `value`. Iterative, so no nesting depth can overflow the stack.
pub fn canonical_json(value: &Value) -> String {
    enum Token<'a> {
        Value(&'a Value),
        Key(&'a str),
        Raw(&'static str),
    }
    let mut out = String::new();
    let mut stack = vec![Token::Value(value)];
    while let Some(token) = stack.pop() {
        match token {
            Token::Raw(s) => out.push_str(s),
            Token::Key(k) => {
                write_string(&mut out, k);
                out.push(':');
            }
            Token::Value(Value::String(s)) => write_string(&mut out, s),
            Token::Value(Value::Array(items)) => {
                out.push('[');
                stack.push(Token::Raw("]"));
                for (i, item) in items.iter().enumerate().rev() {
                    stack.push(Token::Value(item));
                    if i > 0 {
                        stack.push(Token::Raw(","));
                    }
                }
            }
            Token::Value(Value::Object(map)) => {
                out.push('{');
                stack.push(Token::Raw("}"));
                let mut entries: Vec<(&String, &Value)> = map.iter().collect();
                entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
                for (i, (key, child)) in entries.into_iter().enumerate().rev() {
                    stack.push(Token::Value(child));
                    stack.push(Token::Key(key));
                    if i > 0 {
                        stack.push(Token::Raw(","));
                    }
                }
            }
            Token::Value(Value::Null) => out.push_str("null"),
            Token::Value(Value::Bool(b)) => out.push_str(if *b { "true" } else { "false" }),
            // Writing into a String cannot fail.
            Token::Value(Value::Number(n)) => {
                let _ = write!(out, "{n}");
            }
        }
    }
    out
}

/// Hex SHA-256 of the canonical JSON of `value`: what callers put in `result_digest`.
pub fn digest_json(value: &Value) -> String {
    sha256_hex(canonical_json(value).as_bytes())
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_are_sorted_at_every_level_and_nothing_is_spaced() {
        let v = json!({"b": 1, "a": {"z": [true, null], "y": "x"}, "A": -1.5});
        assert_eq!(
            canonical_json(&v),
            r#"{"A":-1.5,"a":{"y":"x","z":[true,null]},"b":1}"#
        );
    }

    #[test]
    fn insertion_order_does_not_matter() {
        let mut one = serde_json::Map::new();
        one.insert("x".into(), json!(1));
        one.insert("a".into(), json!(2));
        let mut two = serde_json::Map::new();
        two.insert("a".into(), json!(2));
        two.insert("x".into(), json!(1));
        assert_eq!(
            canonical_json(&Value::Object(one)),
            canonical_json(&Value::Object(two))
        );
    }

    #[test]
    fn strings_are_escaped_and_parse_back() {
        let s = "q\" b\\ n\n r\r t\t \u{8}\u{c}\u{0}\u{1f} é 𝄞 \u{7f}";
        let text = canonical_json(&json!(s));
        assert_eq!(
            text,
            "\"q\\\" b\\\\ n\\n r\\r t\\t \\b\\f\\u0000\\u001f é 𝄞 \u{7f}\""
        );
        let back: Value = serde_json::from_str(&text).unwrap_or_default();
        assert_eq!(back, json!(s));
    }

    #[test]
    fn parse_then_canonicalize_is_stable() {
        let v = json!({"n": [0, -1, 18446744073709551615u64, 0.1, 1e300], "s": "x"});
        let text = canonical_json(&v);
        let back: Value = serde_json::from_str(&text).unwrap_or_default();
        assert_eq!(canonical_json(&back), text);
    }

    #[test]
    fn deep_values_do_not_overflow() {
        let mut v = json!(1);
        for _ in 0..100_000 {
            v = Value::Array(vec![v]);
        }
        assert_eq!(canonical_json(&v).len(), 1 + 2 * 100_000);
        let mut cur = v;
        while let Value::Array(mut items) = cur {
            cur = items.pop().unwrap_or(Value::Null);
        }
    }

    #[test]
    fn digest_is_hex_sha256_of_the_canonical_text() {
        assert_eq!(
            digest_json(&json!({})),
            // sha256("{}")
            "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
    }
}
