//! Canonical JSON (`audit::canonical_json`, behind the audit chain and the gateway's
//! argument digest `audit::digest_json`): the text reads back as the same value,
//! canonicalising is idempotent, and the digest does not depend on key order or
//! on how the input was spelled.
#![no_main]

use audit::{canonical_json, digest_json};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};

/// The same value with every object's keys inserted in reverse order.
fn reversed_keys(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut out = Map::new();
            for (key, child) in map.iter().rev() {
                out.insert(key.clone(), reversed_keys(child));
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(reversed_keys).collect()),
        other => other.clone(),
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let canonical = canonical_json(&value);
    let back: Value = serde_json::from_str(&canonical).expect("canonical JSON is JSON");
    assert_eq!(back, value, "canonical text read back differs");
    assert_eq!(canonical_json(&back), canonical, "not idempotent");
    // Spelled differently (serde_json's own pretty form), same digest.
    let pretty = serde_json::to_string_pretty(&value).expect("a Value encodes");
    let respelled: Value = serde_json::from_str(&pretty).expect("pretty JSON is JSON");
    assert_eq!(digest_json(&respelled), digest_json(&value));
    assert_eq!(digest_json(&reversed_keys(&value)), digest_json(&value));
});
