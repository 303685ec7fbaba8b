//! Redaction of arbitrary text with the shipped policy's redactor, and of a planted
//! secret from the corpus (`crates/redact/tests/corpus/secrets.txt`) set among
//! arbitrary lines: the secret never survives.
//!
//! Input: one byte choosing the corpus case, then text; the text is split at its
//! first line that is exactly `SECRET`, and the case's line goes there.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ops_copilot_fuzz::{PLANTED, SHIPPED_REDACTOR};
use redact::REDACTED;
use std::borrow::Cow;

fuzz_target!(|data: &[u8]| {
    let Some((&choice, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let redactor = &*SHIPPED_REDACTOR;

    // Arbitrary text: borrowed back exactly when nothing was found; each mask
    // replaces at least one byte, so the output is bounded by the input.
    let (out, count) = redactor.redact_counted(&text);
    match &out {
        Cow::Borrowed(same) => {
            assert_eq!(count, 0);
            assert_eq!(*same, &*text);
        }
        Cow::Owned(_) => assert!(count > 0),
    }
    assert!(out.len() <= text.len() + count * REDACTED.len());

    // A planted secret, on its own lines between arbitrary ones.
    let planted = &PLANTED[usize::from(choice) % PLANTED.len()];
    let (before, after) = match text.split_once("\nSECRET\n") {
        Some((before, after)) => (before, after),
        None => (text.as_ref(), ""),
    };
    let document = format!("{before}\n{}\n{after}", planted.line);
    let masked = redactor.redact_str(&document);
    for secret in &planted.secrets {
        // The surrounding text may spell the secret itself; that copy is not planted.
        if before.contains(secret.as_str()) || after.contains(secret.as_str()) {
            continue;
        }
        assert!(
            !masked.contains(secret.as_str()),
            "{} leaked next to other lines:\n{masked}",
            planted.kind
        );
    }
});
