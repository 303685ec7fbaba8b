//! The gateway's size cap (`redact::cap_json`) on arbitrary JSON: a value that fits
//! comes back unchanged; otherwise the result fits the cap (for any cap of at least
//! `MIN_CAP_BYTES`), says it was cut, and its size is what `compact_json_len` says.
//!
//! Input: two bytes for the cap (little-endian, in bytes), then the JSON value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use redact::{MIN_CAP_BYTES, cap_json, compact_json_len};
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let [low, high, rest @ ..] = data else {
        return;
    };
    let cap = usize::from(u16::from_le_bytes([*low, *high]));
    let Ok(value) = serde_json::from_slice::<Value>(rest) else {
        return;
    };
    let text = serde_json::to_string(&value).expect("a Value encodes");
    assert_eq!(compact_json_len(&value), text.len());

    let capped = cap_json(value.clone(), cap);
    assert_eq!(capped.original_bytes, text.len());
    let out = serde_json::to_string(&capped.value).expect("a Value encodes");
    assert_eq!(compact_json_len(&capped.value), out.len());
    // What goes out is JSON that reads back as the same value.
    let back: Value = serde_json::from_str(&out).expect("the capped value is valid JSON");
    assert_eq!(compact_json_len(&back), out.len());
    if text.len() <= cap {
        assert!(!capped.truncated);
        assert_eq!(capped.value, value);
    } else {
        assert!(capped.truncated);
        if cap >= MIN_CAP_BYTES {
            assert!(out.len() <= cap, "{} bytes over a cap of {cap}", out.len());
        }
    }
});
