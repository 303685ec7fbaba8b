//! Redaction of JSON: an arbitrary value, with corpus secrets planted under their
//! keys (`{"apiKey": "..."}`) and as a named setting (`{"name": "apiKey", "value":
//! "..."}`, as the ARR apps store provider fields). The planted values are always
//! masked, every other string is masked as `redact_str` masks it, and the keys and
//! shape are untouched.
//!
//! Input: one byte choosing the corpus case, then the JSON value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ops_copilot_fuzz::{PLANTED, SHIPPED_REDACTOR};
use redact::REDACTED;
use serde_json::{Value, json};

/// Walks two values of the same shape side by side.
fn assert_masked_like_text(original: &Value, redacted: &Value) {
    match (original, redacted) {
        (Value::String(before), Value::String(after)) => {
            // A string under a credential-like key is masked whole; any other as text.
            let as_text = SHIPPED_REDACTOR.redact_str(before);
            assert!(
                after == &as_text || after == REDACTED,
                "{before:?} became {after:?}, as text {as_text:?}"
            );
        }
        (Value::Array(before), Value::Array(after)) => {
            assert_eq!(before.len(), after.len());
            for (b, a) in before.iter().zip(after) {
                assert_masked_like_text(b, a);
            }
        }
        (Value::Object(before), Value::Object(after)) => {
            assert!(before.keys().eq(after.keys()), "keys changed");
            for (b, a) in before.values().zip(after.values()) {
                assert_masked_like_text(b, a);
            }
        }
        (before, after) => assert_eq!(before, after),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&choice, rest)) = data.split_first() else {
        return;
    };
    let Ok(payload) = serde_json::from_slice::<Value>(rest) else {
        return;
    };
    let redactor = &*SHIPPED_REDACTOR;

    let mut redacted = payload.clone();
    redactor.redact_json(&mut redacted);
    assert_masked_like_text(&payload, &redacted);

    let planted = &PLANTED[usize::from(choice) % PLANTED.len()];
    let Some(key) = &planted.json_key else {
        return;
    };
    let secret = planted.secrets.join("");
    let mut document = json!({
        "payload": payload,
        "settings": [{ "name": key, "value": secret }],
    });
    document[key.as_str()] = json!(secret);
    redactor.redact_json(&mut document);
    assert_eq!(
        document[key.as_str()],
        REDACTED,
        "{}: {key} kept",
        planted.kind
    );
    assert_eq!(
        document["settings"][0]["value"], REDACTED,
        "{}",
        planted.kind
    );
});
