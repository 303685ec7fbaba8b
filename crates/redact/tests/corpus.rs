//! The redaction corpus: every planted secret in `corpus/secrets.txt` must be masked,
//! and the ordinary lines of `corpus/benign.txt` must come out unchanged.
//!
//! Each secret line goes through the redactor the ways the gateway's outputs carry text:
//! - `text`: the line as a string (`redact_str`), as in a log or a chat answer;
//! - `json_value`: the line as a JSON string value (`redact_json`), as in a tool result;
//! - `json_text`: that JSON serialized, then redacted as text, as when a JSON answer is
//!   quoted inside a prompt or a page (every quote in the line is now `\"`);
//! - `json_key`: `{"<key>": "<secret>"}` through `redact_json`, for the lines whose
//!   secret an app would store under a JSON key (the optional fourth column).
//!
//! The test prints a report (kinds caught / planted per channel, the false-positive rate
//! on the benign lines) and fails on any leak or on more than 1% false positives.
//! Run with `cargo test -p redact --test corpus -- --nocapture` to see it.

use redact::corpus::{self, Case, MAX_FALSE_POSITIVE_RATE};
use redact::{REDACTED, Redactor};
use serde_json::{Value, json};
use std::collections::BTreeMap;

fn redactor() -> Redactor {
    match Redactor::new(&[]) {
        Ok(r) => r,
        Err(e) => panic!("built-in detectors must compile: {e}"),
    }
}

fn parse_cases() -> Vec<Case> {
    corpus::cases().unwrap_or_else(|e| panic!("{e}"))
}

/// The secrets still visible in `out`. Empty if all are gone and something was masked.
fn leaks(out: &str, case: &Case) -> Vec<String> {
    let mut leaked = case.leaked_in(out);
    if leaked.is_empty() && !out.contains(REDACTED) {
        leaked.push("(nothing was masked)".to_owned());
    }
    leaked
}

fn log_object(text: &str) -> Value {
    json!({ "container": "sonarr", "log": text })
}

const CHANNELS: [&str; 4] = ["text", "json_value", "json_text", "json_key"];

/// Runs one case through one channel; `None` when the channel does not apply.
fn run_channel(r: &Redactor, channel: &str, case: &Case) -> Option<(String, Vec<String>)> {
    let out = match channel {
        "text" => r.redact_str(&case.text).into_owned(),
        "json_value" => {
            let mut v = log_object(&case.text);
            r.redact_json(&mut v);
            v["log"].as_str().unwrap_or_default().to_owned()
        }
        "json_text" => {
            let serialized = log_object(&case.text).to_string();
            r.redact_str(&serialized).into_owned()
        }
        "json_key" => {
            let key = case.json_key.as_ref()?;
            let secret = case.secrets.first()?;
            let mut v = Value::Object(
                [(key.clone(), Value::String(secret.clone()))]
                    .into_iter()
                    .collect(),
            );
            r.redact_json(&mut v);
            v.to_string()
        }
        _ => return None,
    };
    let leaked = leaks(&out, case);
    Some((out, leaked))
}

#[test]
fn every_planted_secret_is_masked_in_every_channel() {
    let r = redactor();
    let cases = parse_cases();
    assert!(
        cases.len() >= 100,
        "the corpus shrank: {} cases",
        cases.len()
    );

    // kind family -> channel -> (caught, planted)
    let mut table: BTreeMap<String, BTreeMap<&str, (usize, usize)>> = BTreeMap::new();
    let mut totals: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    let mut failures = Vec::new();
    for case in &cases {
        let family = case.family().to_owned();
        for channel in CHANNELS {
            let Some((out, leaked)) = run_channel(&r, channel, case) else {
                continue;
            };
            let caught = leaked.is_empty();
            for counts in [
                table
                    .entry(family.clone())
                    .or_default()
                    .entry(channel)
                    .or_default(),
                totals.entry(channel).or_default(),
            ] {
                counts.1 += 1;
                counts.0 += usize::from(caught);
            }
            if !caught {
                failures.push(format!(
                    "secrets.txt:{} {} [{channel}] leaked {leaked:?}\n    out: {out:?}",
                    case.line_no, case.kind
                ));
            }
            // Redacting again changes nothing.
            if channel == "text" {
                assert_eq!(r.redact_str(&out), out, "not idempotent on {}", case.kind);
            }
        }
    }

    eprintln!("\nredaction corpus: kinds caught / planted, per channel");
    eprintln!(
        "{:<14} {:>10} {:>10} {:>10} {:>10}",
        "kind", CHANNELS[0], CHANNELS[1], CHANNELS[2], CHANNELS[3]
    );
    let cell = |counts: Option<&(usize, usize)>| match counts {
        Some((caught, planted)) => format!("{caught}/{planted}"),
        None => "-".to_owned(),
    };
    for (family, row) in &table {
        eprintln!(
            "{family:<14} {:>10} {:>10} {:>10} {:>10}",
            cell(row.get(CHANNELS[0])),
            cell(row.get(CHANNELS[1])),
            cell(row.get(CHANNELS[2])),
            cell(row.get(CHANNELS[3])),
        );
    }
    eprintln!(
        "{:<14} {:>10} {:>10} {:>10} {:>10}",
        "TOTAL",
        cell(totals.get(CHANNELS[0])),
        cell(totals.get(CHANNELS[1])),
        cell(totals.get(CHANNELS[2])),
        cell(totals.get(CHANNELS[3])),
    );
    eprintln!("({} planted cases, {} kinds)", cases.len(), {
        let mut kinds: Vec<&str> = cases.iter().map(|c| c.kind.as_str()).collect();
        kinds.sort_unstable();
        kinds.dedup();
        kinds.len()
    });
    assert!(
        failures.is_empty(),
        "{} leaks:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn ordinary_lines_come_out_unchanged() {
    let r = redactor();
    let lines = corpus::benign_lines();
    assert!(
        lines.len() >= 300,
        "the corpus shrank: {} lines",
        lines.len()
    );

    let mut changed: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for &(line_no, line) in &lines {
        let text = r.redact_str(line);
        if text != line {
            changed
                .entry("text")
                .or_default()
                .push(format!("benign.txt:{line_no}: {text}"));
        }
        let original = log_object(line);
        let mut value = original.clone();
        r.redact_json(&mut value);
        if value != original {
            changed
                .entry("json_value")
                .or_default()
                .push(format!("benign.txt:{line_no}: {}", value["log"]));
        }
        let serialized = original.to_string();
        let out = r.redact_str(&serialized);
        if out != serialized {
            changed
                .entry("json_text")
                .or_default()
                .push(format!("benign.txt:{line_no}: {out}"));
        }
    }

    eprintln!(
        "\nredaction corpus: false positives on {} ordinary lines",
        lines.len()
    );
    let mut worst = 0.0f64;
    for channel in &CHANNELS[..3] {
        let hits = changed.get(channel).map_or(&[][..], Vec::as_slice);
        let rate = hits.len() as f64 / lines.len() as f64;
        worst = worst.max(rate);
        eprintln!(
            "{channel:<10} {:>3} changed ({:.2}%)",
            hits.len(),
            rate * 100.0
        );
        for hit in hits {
            eprintln!("    {hit}");
        }
    }
    assert!(
        worst <= MAX_FALSE_POSITIVE_RATE,
        "false-positive rate {:.2}% is over {:.2}%",
        worst * 100.0,
        MAX_FALSE_POSITIVE_RATE * 100.0
    );
}

/// Not a timing assertion: prints how long the corpus takes at the size of one tool
/// result (docker-mcp's 64 KiB log cap), so a slow detector shows up in the output.
#[test]
fn a_64_kib_log_of_the_corpus_is_redacted_in_one_pass() {
    let r = redactor();
    let mut log = String::new();
    let cases = parse_cases();
    let benign = corpus::benign_lines();
    let mut i = 0usize;
    while log.len() < 64 * 1024 {
        // Mostly ordinary lines, a secret now and then, as in a real log.
        if i.is_multiple_of(20) {
            log.push_str(&cases[(i / 20) % cases.len()].text);
        } else {
            log.push_str(benign[i % benign.len()].1);
        }
        log.push('\n');
        i += 1;
    }
    let start = std::time::Instant::now();
    let (out, masked) = r.redact_counted(&log);
    let elapsed = start.elapsed();
    eprintln!(
        "\nredaction corpus: {} bytes, {} lines, {masked} masks in {elapsed:?} (debug builds are ~10x slower)",
        log.len(),
        i
    );
    assert!(masked > 0 && out.contains(REDACTED));
}
