//! The redaction corpus (`tests/corpus/`), parsed once for every test that measures
//! redaction against it: the redactor's own (`tests/corpus.rs`) and the end-to-end
//! one that plants it in a container's logs and reads it back through every output
//! channel (`crates/ops-copilot/tests/pi_health/redaction_channels.rs`).
//!
//! Test support only: compiled with the `corpus` feature, which no binary enables.

/// The planted secrets; the file's header describes its format.
pub const SECRETS: &str = include_str!("../tests/corpus/secrets.txt");
/// Ordinary log and config lines that must come out unchanged.
pub const BENIGN: &str = include_str!("../tests/corpus/benign.txt");

/// Highest acceptable share of benign lines changed by redaction, on any channel.
pub const MAX_FALSE_POSITIVE_RATE: f64 = 0.01;

/// One planted secret: a line as an app prints it, and the pieces that must vanish.
#[derive(Debug, Clone)]
pub struct Case {
    /// 1-based line number in `secrets.txt`.
    pub line_no: usize,
    /// `family.variant`.
    pub kind: String,
    /// The substrings that must disappear (at least one).
    pub secrets: Vec<String>,
    /// The text as an app would print it; may hold newlines.
    pub text: String,
    /// The JSON key an app would store the secret under, when there is one.
    pub json_key: Option<String>,
}

impl Case {
    /// The part of the kind before the first `.`, which reports group by.
    pub fn family(&self) -> &str {
        self.kind.split('.').next().unwrap_or_default()
    }

    /// The secrets of this case still visible in `out`, raw, JSON-escaped or
    /// HTML-escaped (the forms an answer, a page or a prompt carries text in).
    pub fn leaked_in(&self, out: &str) -> Vec<String> {
        self.secrets
            .iter()
            .filter(|s| {
                out.contains(s.as_str())
                    || out.contains(&json_escaped(s))
                    || out.contains(&html_escaped(s))
            })
            .cloned()
            .collect()
    }
}

/// Every case of `secrets.txt`, or which line is malformed and why.
pub fn cases() -> Result<Vec<Case>, String> {
    let mut cases = Vec::new();
    for (index, line) in SECRETS.lines().enumerate() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let line_no = index + 1;
        let fields: Vec<&str> = line.split('\t').collect();
        let (kind, secrets, text, json_key) = match fields.as_slice() {
            [kind, secrets, text] => (kind, secrets, text, None),
            [kind, secrets, text, key] => (kind, secrets, text, Some((*key).to_owned())),
            _ => {
                return Err(format!(
                    "secrets.txt:{line_no}: expected 3 or 4 tab-separated fields"
                ));
            }
        };
        let text = text.replace("{NL}", "\n");
        let secrets: Vec<String> = secrets.split("{AND}").map(str::to_owned).collect();
        if let Some(secret) = secrets
            .iter()
            .find(|s| s.len() < 6 || !text.contains(s.as_str()))
        {
            return Err(format!(
                "secrets.txt:{line_no}: the secret {secret:?} must be in the line (and not tiny)"
            ));
        }
        cases.push(Case {
            line_no,
            kind: (*kind).to_owned(),
            secrets,
            text,
            json_key,
        });
    }
    Ok(cases)
}

/// The ordinary lines of `benign.txt` with their 1-based line numbers.
pub fn benign_lines() -> Vec<(usize, &'static str)> {
    BENIGN
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.starts_with('#') && !l.trim().is_empty())
        .map(|(i, l)| (i + 1, l))
        .collect()
}

/// How text looks inside serialized JSON (quotes, backslashes and controls escaped).
pub fn json_escaped(text: &str) -> String {
    let quoted = serde_json::Value::from(text).to_string();
    quoted
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or_default()
        .to_owned()
}

/// How text looks in an HTML page (the five markup characters as entities).
pub fn html_escaped(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#x27;")
}
