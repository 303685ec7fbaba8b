//! Exact size of a value's compact JSON serialization, computed without serializing.
//!
//! `cap_json` plans its cuts in serialized bytes, so it needs the cost of every string
//! and of the whole tree. Computing it here (rather than with `serde_json::to_vec`)
//! avoids allocating a copy of a possibly large result, and the walk is iterative so a
//! deeply nested value cannot overflow the stack.

use serde_json::Value;
use std::fmt::Write as _;

/// Bytes that `serde_json::to_vec(value)` would produce (compact form).
pub fn compact_json_len(value: &Value) -> usize {
    let mut total = 0usize;
    let mut stack: Vec<&Value> = vec![value];
    while let Some(v) = stack.pop() {
        total = total.saturating_add(match v {
            Value::Null => 4,
            Value::Bool(true) => 4,
            Value::Bool(false) => 5,
            Value::Number(n) => number_len(n),
            Value::String(s) => string_len(s),
            Value::Array(items) => {
                stack.extend(items.iter());
                // Brackets plus one comma between items.
                2 + items.len().saturating_sub(1)
            }
            Value::Object(map) => {
                let mut own = 2 + map.len().saturating_sub(1);
                for (key, child) in map {
                    // "key": — the key as a JSON string, then a colon.
                    own = own.saturating_add(string_len(key) + 1);
                    stack.push(child);
                }
                own
            }
        });
    }
    total
}

/// Serialized length of a JSON string, quotes included.
pub(crate) fn string_len(s: &str) -> usize {
    2usize.saturating_add(s.chars().map(escaped_char_len).sum())
}

/// Bytes serde_json emits for one character inside a string: it escapes `"`, `\` and
/// control characters below U+0020 (short forms for the common ones, `\u00XX` for the
/// rest) and writes everything else as UTF-8.
pub(crate) fn escaped_char_len(c: char) -> usize {
    match c {
        '"' | '\\' | '\n' | '\r' | '\t' | '\u{08}' | '\u{0c}' => 2,
        c if (c as u32) < 0x20 => 6,
        c => c.len_utf8(),
    }
}

/// serde_json's `Display` for numbers uses the same formatter (itoa/ryu) as its
/// serializer, so counting the displayed characters gives the serialized length.
fn number_len(n: &serde_json::Number) -> usize {
    struct Counter(usize);
    impl std::fmt::Write for Counter {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            self.0 += s.len();
            Ok(())
        }
    }
    let mut counter = Counter(0);
    // Writing to a counter cannot fail; if it somehow did, the count so far is a
    // lower bound and the caller re-measures after every change anyway.
    let _ = write!(counter, "{n}");
    counter.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn serde_len(v: &Value) -> usize {
        serde_json::to_vec(v).map(|b| b.len()).unwrap_or(usize::MAX)
    }

    #[test]
    fn matches_serde_json_on_every_kind_of_value() {
        let samples = [
            json!(null),
            json!(true),
            json!(false),
            json!(0),
            json!(-12345678901234i64),
            json!(u64::MAX),
            json!(1.5e300),
            json!(-0.001),
            json!(""),
            json!("plain ascii"),
            json!("quotes \" and \\ backslash"),
            json!("control \u{0} \u{1f} \n \r \t \u{8} \u{c} \u{7f}"),
            json!("unicode é ✓ 𝄞 …"),
            json!([]),
            json!({}),
            json!([1, "two", [3, [4, {}]], {"k": null}]),
            json!({"a\"b": {"nested": [true, false, "x"]}, "z": 1}),
        ];
        for v in samples {
            assert_eq!(compact_json_len(&v), serde_len(&v), "{v}");
        }
    }

    #[test]
    fn deep_nesting_does_not_overflow_the_stack() {
        let mut v = json!("leaf");
        for _ in 0..100_000 {
            v = Value::Array(vec![v]);
        }
        assert_eq!(compact_json_len(&v), 6 + 2 * 100_000);
        // serde_json's own Drop is recursive; unwind the tower iteratively.
        let mut cur = v;
        while let Value::Array(mut items) = cur {
            cur = items.pop().unwrap_or(Value::Null);
        }
    }
}
