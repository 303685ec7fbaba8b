//! `redact_json`, and inputs that must neither panic nor take super-linear time.

use redact::{REDACTED, Redactor};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

fn redactor() -> Redactor {
    match Redactor::new(&[r"(?i)apikey=\\w+".to_owned()]) {
        Ok(r) => r,
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn every_string_is_redacted_and_keys_are_kept() {
    let mut v = json!({
        "logs": "line 1\nGET /api?apikey=abc123\nline 3",
        "env": ["PUID=1000", "SONARR__AUTH__APIKEY=deadbeef"],
        "nested": {"deeper": [{"url": "http://admin:pw@sonarr:8989"}]},
        "apikey=abc123": 1,
        "count": 3,
        "ok": true,
    });
    let n = redactor().redact_json(&mut v);
    assert_eq!(n, 3);
    assert_eq!(v["logs"], format!("line 1\nGET /api?{REDACTED}\nline 3"));
    // The policy pattern `apikey=\w+` replaces its whole match, key included.
    assert_eq!(v["env"][1], format!("SONARR__AUTH__{REDACTED}"));
    assert_eq!(
        v["nested"]["deeper"][0]["url"],
        format!("http://admin:{REDACTED}@sonarr:8989")
    );
    // Keys are never rewritten.
    assert_eq!(v["apikey=abc123"], 1);
    assert_eq!(v["count"], 3);
}

#[test]
fn values_under_credential_keys_are_masked_whole() {
    let mut v = json!({
        "apiKey": "abc123",
        "environment": {"DB_PASSWORD": "hunter2", "TZ": "UTC"},
        "Authorization": "Bearer xyz",
        "passwordPolicy": "strict",
        "tokens": "5",
        "secret": "",
        "token": 42
    });
    let n = redactor().redact_json(&mut v);
    assert_eq!(n, 3);
    assert_eq!(v["apiKey"], REDACTED);
    assert_eq!(v["environment"]["DB_PASSWORD"], REDACTED);
    assert_eq!(v["environment"]["TZ"], "UTC");
    assert_eq!(v["Authorization"], REDACTED);
    assert_eq!(v["passwordPolicy"], "strict");
    assert_eq!(v["tokens"], "5");
    assert_eq!(v["secret"], "");
    assert_eq!(v["token"], 42);
    // Idempotent.
    assert_eq!(redactor().redact_json(&mut v), 0);
}

#[test]
fn name_value_objects_naming_a_credential_are_masked() {
    // Sonarr/Radarr provider fields and Kubernetes env entries.
    let mut v = json!({
        "fields": [
            {"order": 0, "name": "baseUrl", "value": "http://sonarr:8989"},
            {"order": 1, "name": "apiKey", "label": "API Key", "value": "0123abcd"},
            {"order": 2, "name": "password", "value": 42},
        ],
        "env": [{"name": "DB_PASSWORD", "value": "hunter2"}, {"name": "TZ", "value": "UTC"}],
        "tags": [{"Key": "api_token", "Value": "t0k"}],
    });
    let n = redactor().redact_json(&mut v);
    assert_eq!(n, 3);
    assert_eq!(v["fields"][0]["value"], "http://sonarr:8989");
    assert_eq!(v["fields"][1]["value"], REDACTED);
    assert_eq!(v["fields"][1]["name"], "apiKey");
    assert_eq!(v["fields"][2]["value"], 42);
    assert_eq!(v["env"][0]["value"], REDACTED);
    assert_eq!(v["env"][1]["value"], "UTC");
    assert_eq!(v["tags"][0]["Value"], REDACTED);
}

#[test]
fn policy_only_does_not_mask_by_key() -> Result<(), redact::PatternError> {
    let r = Redactor::policy_only(&[])?;
    let mut v = json!({"apiKey": "abc123"});
    assert_eq!(r.redact_json(&mut v), 0);
    assert_eq!(v["apiKey"], "abc123");
    Ok(())
}

#[test]
fn deeply_nested_json_does_not_overflow() {
    let mut v = json!("PASSWORD=x");
    for _ in 0..50_000 {
        v = Value::Array(vec![v]);
    }
    assert_eq!(redactor().redact_json(&mut v), 1);
    // Unwind iteratively: serde_json's Drop recurses.
    let mut cur = v;
    while let Value::Array(mut items) = cur {
        cur = items.pop().unwrap_or(Value::Null);
    }
    assert_eq!(cur, json!(format!("PASSWORD={REDACTED}")));
}

#[test]
fn is_send_sync_and_cheap_to_share() {
    fn assert_send_sync<T: Send + Sync + Clone>() {}
    assert_send_sync::<Redactor>();
    let r = redactor();
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let r = r.clone();
            std::thread::spawn(move || r.redact_str(&format!("?apikey=k{i}")).into_owned())
        })
        .collect();
    for h in handles {
        let out = h.join().unwrap_or_default();
        assert!(out.contains(REDACTED), "{out}");
    }
}

/// Generous bound: linear-time matching of a few MB takes well under a second even in
/// a debug build; a backtracking engine would take minutes on these inputs.
const SLOW: Duration = Duration::from_secs(20);

#[test]
fn one_megabyte_line_without_secrets() {
    let line = "abcdefgh =:@/?&\"' ".repeat(1 << 16);
    let start = Instant::now();
    let out = redactor().redact_str(&line);
    assert!(start.elapsed() < SLOW);
    assert_eq!(out.len(), line.len());
}

#[test]
fn many_matches_in_one_string() {
    let text = "?apikey=abc123&token=t PASSWORD=x\n".repeat(20_000);
    let start = Instant::now();
    let (out, count) = redactor().redact_counted(&text);
    assert!(start.elapsed() < SLOW);
    assert_eq!(count, 60_000);
    assert!(!out.contains("abc123"));
    assert!(!out.contains("PASSWORD=x"));
}

#[test]
fn adversarial_shapes_stay_linear() {
    let r = redactor();
    let inputs = [
        // Keys that almost complete, over and over.
        "PASSWORD".repeat(100_000),
        "_token_token_token".repeat(50_000),
        "apikey=".repeat(100_000),
        "http://a:".repeat(100_000),
        "bearer ".repeat(100_000),
        "\"password\":\"".repeat(50_000),
        "<ApiKey>".repeat(100_000),
        format!("PASSWORD={}", "a".repeat(1 << 20)),
    ];
    for input in &inputs {
        let start = Instant::now();
        let out = r.redact_str(input);
        assert!(start.elapsed() < SLOW, "slow on {:?}", &input[..20]);
        assert!(out.len() <= input.len() + REDACTED.len() * 200_000);
    }
}

/// Shapes that nearly complete the newer detectors (PEM blocks, escaped JSON, prose,
/// cookies, command lines), each about 250 KB. No time bound here: a super-linear
/// detector would show as a test that does not finish.
#[test]
fn near_misses_of_every_detector_are_handled() {
    let r = redactor();
    let inputs = [
        "-----BEGIN PRIVATE KEY-----\n".repeat(10_000),
        format!("-----BEGIN PRIVATE KEY-----{}", "\nAAAA".repeat(50_000)),
        "curl -u a".repeat(25_000),
        "mysql mysql -x ".repeat(25_000),
        "%3Aabc".repeat(37_500),
        "password%3D".repeat(25_000),
        "\\\"password\\\":\\\"".repeat(12_500),
        "\"name\":\"password\" ".repeat(12_500),
        "eyJabcd.".repeat(25_000),
        "the password is ".repeat(15_000),
        "apikey ".repeat(37_500),
        "Cookie: a=b;".repeat(20_000),
        "a:1:b:c:".repeat(25_000),
        "<auth-user-pass>".repeat(15_000),
        "tgram://".repeat(25_000),
        "1234567:AA".repeat(25_000),
        "\\\\\\\"".repeat(25_000),
        format!("PASSWORD={}", "\\x".repeat(125_000)),
        "token: token: ".repeat(17_500),
    ];
    for input in &inputs {
        let out = r.redact_str(input);
        assert!(out.len() <= input.len() + REDACTED.len() * 100_000);
    }
}

#[test]
fn odd_unicode_and_control_characters() {
    // Built-ins only, so that each mask keeps its key.
    let r = match Redactor::new(&[]) {
        Ok(r) => r,
        Err(e) => panic!("{e}"),
    };
    // Replacement characters, combining marks, RTL overrides, NULs, emoji, and a
    // secret next to multi-byte characters: masks land on char boundaries. An env
    // value runs to the next whitespace or quote, control characters included.
    let text = "\u{FFFD}\u{0301}\u{202E}\0é PASSWORD=pé𝄞ss\u{0}\u{7f} 🦀 ?apikey=ключ&x=1";
    let out = r.redact_str(text);
    assert_eq!(
        out,
        format!("\u{FFFD}\u{0301}\u{202E}\0é PASSWORD={REDACTED} 🦀 ?apikey={REDACTED}&x=1")
    );
    // Lossy-decoded invalid UTF-8 is still just a string.
    let lossy =
        String::from_utf8_lossy(&[0xff, 0xfe, b'T', b'O', b'K', b'E', b'N', b'=', 0xc3, b'x']);
    let out = r.redact_str(&lossy);
    assert!(out.ends_with(REDACTED), "{out}");
}
