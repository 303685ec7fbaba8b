//! The guide's own `redact_patterns`, exactly as serde delivers them from its YAML.

use redact::{REDACTED, Redactor, unescape_policy_pattern};
use std::borrow::Cow;

/// `'(?i)apikey=\\w+'` and `'(?i)authorization:\\s*bearer\\s+[a-z0-9\\._-]+'` from the
/// guide's policy.yaml: single-quoted YAML keeps both backslashes.
fn guide_patterns() -> Vec<String> {
    vec![
        r"(?i)apikey=\\w+".to_owned(),
        r"(?i)authorization:\\s*bearer\\s+[a-z0-9\\._-]+".to_owned(),
    ]
}

#[test]
fn guide_patterns_mask_what_their_author_meant() -> Result<(), redact::PatternError> {
    let r = Redactor::policy_only(&guide_patterns())?;
    let out = r.redact_str("GET /api/v3/series?apikey=abc123 HTTP/1.1");
    assert_eq!(out, format!("GET /api/v3/series?{REDACTED} HTTP/1.1"));
    assert!(!out.contains("abc123"));

    let out = r.redact_str("Authorization: Bearer abc.def-ghi_123\nnext line");
    assert_eq!(out, format!("{REDACTED}\nnext line"));
    assert!(!out.contains("abc.def-ghi_123"));
    Ok(())
}

#[test]
fn guide_patterns_with_builtins_still_mask_the_secret() -> Result<(), redact::PatternError> {
    let r = Redactor::new(&guide_patterns())?;
    for text in ["apikey=abc123", "Authorization: Bearer abc.def-ghi_123"] {
        let out = r.redact_str(text);
        assert!(out.contains(REDACTED), "{text} -> {out}");
        assert!(!out.contains("abc"), "{text} -> {out}");
    }
    Ok(())
}

#[test]
fn unescaping_is_reported_for_policy_check() {
    let changed: Vec<bool> = guide_patterns()
        .iter()
        .map(|p| unescape_policy_pattern(p).1)
        .collect();
    assert_eq!(changed, [true, true]);
}

#[test]
fn describe_shows_patterns_as_compiled() -> Result<(), redact::PatternError> {
    let r = Redactor::policy_only(&guide_patterns())?;
    assert_eq!(
        r.describe(),
        [
            r"policy[0] (?i)apikey=\w+",
            r"policy[1] (?i)authorization:\s*bearer\s+[a-z0-9\._-]+"
        ]
    );
    let with_builtins = Redactor::new(&guide_patterns())?.describe();
    assert!(with_builtins.len() > 2);
    assert!(
        with_builtins
            .iter()
            .any(|l| l.starts_with("builtin:bearer "))
    );
    Ok(())
}

#[test]
fn a_bad_pattern_is_refused_with_its_index() {
    let patterns = vec!["ok".to_owned(), "(?i)apikey=(\\\\w+".to_owned()];
    let err = Redactor::new(&patterns).err();
    assert_eq!(err.as_ref().map(|e| e.index), Some(1));
    let text = err.map(|e| e.to_string()).unwrap_or_default();
    assert!(text.starts_with("redact_patterns[1] "), "{text}");
}

#[test]
fn nothing_to_mask_borrows_the_input() -> Result<(), redact::PatternError> {
    let r = Redactor::new(&guide_patterns())?;
    let text = "2024-05-01 12:00:00 sonarr started, 42 series, password policy updated";
    assert!(matches!(r.redact_str(text), Cow::Borrowed(_)));
    assert!(matches!(r.redact_str(""), Cow::Borrowed(_)));
    Ok(())
}

#[test]
fn policy_only_has_no_builtins() -> Result<(), redact::PatternError> {
    let r = Redactor::policy_only(&guide_patterns())?;
    // The built-in would mask this; the guide's patterns do not.
    assert_eq!(r.redact_str("DB_PASSWORD=hunter2"), "DB_PASSWORD=hunter2");
    let empty = Redactor::policy_only(&[])?;
    assert_eq!(empty.redact_str("apikey=abc123"), "apikey=abc123");
    Ok(())
}
