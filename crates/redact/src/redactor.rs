//! The [`Redactor`]: policy patterns plus built-in detectors, compiled once.

use crate::REDACTED;
use crate::detectors::{Filter, SECRET_GROUP, builtin_detectors, sensitive_key_pattern};
use crate::pattern::{PatternError, compile_policy_pattern};
use regex::{Regex, RegexSet, RegexSetBuilder};
use serde_json::Value;
use std::borrow::Cow;
use std::sync::Arc;

/// Size limit for the combined prefilter. If a large policy makes the set exceed it,
/// the redactor falls back to testing each rule on its own (slower, same result).
const PREFILTER_SIZE_LIMIT: usize = 64 * (1 << 20);

/// Masks secrets in text and JSON. Cheap to clone and share between threads.
#[derive(Debug, Clone)]
pub struct Redactor {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    rules: Vec<Rule>,
    /// One pass over the text that says whether any rule can match at all, so the
    /// common case (nothing secret) costs a single scan and no allocation. Only its
    /// yes/no answer is used: asking it *which* rules match makes its lazy DFA track
    /// every pattern at once, which on text full of secrets is ~20 times slower than
    /// running each rule on its own (measured on the corpus in `tests/corpus`).
    prefilter: Option<RegexSet>,
    /// JSON object keys whose string values are masked whole (built-ins only).
    sensitive_key: Option<Regex>,
}

#[derive(Debug)]
struct Rule {
    label: String,
    regex: Regex,
    mask: Mask,
    /// Vetoes a match whose secret is a placeholder or an ordinary word.
    filter: Filter,
}

#[derive(Debug, Clone, Copy)]
enum Mask {
    /// Policy patterns: the whole match is the secret.
    Whole,
    /// Built-in detectors: only this capture group is the secret.
    Group(usize),
}

impl Redactor {
    /// Policy patterns (the guide's `defaults.redact_patterns`, un-escaped with
    /// [`crate::unescape_policy_pattern`]) plus the built-in detectors.
    pub fn new(policy_patterns: &[String]) -> Result<Self, PatternError> {
        Self::build(policy_patterns, true)
    }

    /// Only the policy's own patterns, without the built-in detectors.
    pub fn policy_only(policy_patterns: &[String]) -> Result<Self, PatternError> {
        Self::build(policy_patterns, false)
    }

    fn build(policy_patterns: &[String], with_builtins: bool) -> Result<Self, PatternError> {
        let mut rules = Vec::new();
        for (index, pattern) in policy_patterns.iter().enumerate() {
            rules.push(Rule {
                label: format!("policy[{index}]"),
                regex: compile_policy_pattern(index, pattern)?,
                mask: Mask::Whole,
                filter: Filter::None,
            });
        }
        let mut sensitive_key = None;
        if with_builtins {
            for detector in builtin_detectors() {
                let regex = builtin_regex(detector.name, &detector.pattern)?;
                let group = secret_group_index(&regex)
                    .ok_or_else(|| builtin_error(detector.name, "has no `secret` group"))?;
                rules.push(Rule {
                    label: format!("builtin:{}", detector.name),
                    regex,
                    mask: Mask::Group(group),
                    filter: detector.filter,
                });
            }
            sensitive_key = Some(builtin_regex("sensitive_key", &sensitive_key_pattern())?);
        }
        // The set is only an optimisation: if it cannot be built, every rule is tried.
        let prefilter = RegexSetBuilder::new(rules.iter().map(|r| r.regex.as_str()))
            .size_limit(PREFILTER_SIZE_LIMIT)
            .build()
            .ok();
        Ok(Self {
            inner: Arc::new(Inner {
                rules,
                prefilter,
                sensitive_key,
            }),
        })
    }

    /// Whether the built-in detectors are on (not [`Redactor::policy_only`]).
    pub fn builtins_on(&self) -> bool {
        self.inner.sensitive_key.is_some()
    }

    /// Masks every secret in `text`. Borrows the input unchanged when nothing matched.
    pub fn redact_str<'a>(&self, text: &'a str) -> Cow<'a, str> {
        self.redact_counted(text).0
    }

    /// Like [`Redactor::redact_str`], also returning how many secrets were masked
    /// (overlapping matches of several rules count once).
    pub fn redact_counted<'a>(&self, text: &'a str) -> (Cow<'a, str>, usize) {
        let spans = self.secret_spans(text);
        if spans.is_empty() {
            return (Cow::Borrowed(text), 0);
        }
        let mut out = String::with_capacity(text.len());
        let mut last = 0;
        for &(start, end) in &spans {
            // Spans come from regex matches on `text`, so they are on char boundaries;
            // `get` keeps this panic-free even if that ever stopped being true.
            out.push_str(text.get(last..start).unwrap_or_default());
            out.push_str(REDACTED);
            last = end;
        }
        out.push_str(text.get(last..).unwrap_or_default());
        (Cow::Owned(out), spans.len())
    }

    /// Masks every string in `value`, recursively. Object keys are never changed, but a
    /// string value under a credential-like key (`"apiKey"`, `"DB_PASSWORD"`,
    /// `"authorization"`) is masked whole when the built-ins are on, and so is the
    /// `"value"` of a name/value object naming a credential (`{"name": "apiKey",
    /// "value": "..."}` as in Sonarr's provider fields, or a Kubernetes env entry).
    /// Returns how many replacements were made.
    pub fn redact_json(&self, value: &mut Value) -> usize {
        let mut count = 0;
        // Iterative walk: a deeply nested value cannot overflow the stack.
        let mut stack: Vec<&mut Value> = vec![value];
        while let Some(v) = stack.pop() {
            match v {
                Value::String(s) => count += self.redact_string_in_place(s),
                Value::Array(items) => stack.extend(items.iter_mut()),
                Value::Object(map) => {
                    let named_secret = self.names_a_secret(map);
                    for (key, child) in map.iter_mut() {
                        let sensitive = self.is_sensitive_key(key)
                            || named_secret && key.eq_ignore_ascii_case("value");
                        match child {
                            Value::String(s) if sensitive => {
                                if !s.is_empty() && s != REDACTED {
                                    *s = REDACTED.to_owned();
                                    count += 1;
                                }
                            }
                            other => stack.push(other),
                        }
                    }
                }
                Value::Null | Value::Bool(_) | Value::Number(_) => {}
            }
        }
        count
    }

    /// Patterns as compiled (policy patterns after un-escaping), one per line, labelled
    /// `policy[i] <regex>` or `builtin:<name> <regex>`, for `policy check` to print.
    pub fn describe(&self) -> Vec<String> {
        let mut lines: Vec<String> = self
            .inner
            .rules
            .iter()
            .map(|r| format!("{} {}", r.label, r.regex.as_str()))
            .collect();
        if let Some(key) = &self.inner.sensitive_key {
            lines.push(format!("builtin:json_key {}", key.as_str()));
        }
        lines
    }

    fn redact_string_in_place(&self, s: &mut String) -> usize {
        let (replacement, count) = match self.redact_counted(s) {
            (Cow::Owned(new), count) => (Some(new), count),
            (Cow::Borrowed(_), _) => (None, 0),
        };
        if let Some(new) = replacement {
            *s = new;
        }
        count
    }

    /// `{"name": "apiKey", "value": ...}`, `{"Key": "DB_PASSWORD", "Value": ...}`.
    fn names_a_secret(&self, map: &serde_json::Map<String, Value>) -> bool {
        map.iter().any(|(key, name)| {
            (key.eq_ignore_ascii_case("name") || key.eq_ignore_ascii_case("key"))
                && name
                    .as_str()
                    .is_some_and(|name| self.is_sensitive_key(name))
        })
    }

    fn is_sensitive_key(&self, key: &str) -> bool {
        self.inner
            .sensitive_key
            .as_ref()
            .is_some_and(|re| re.is_match(key))
    }

    /// Byte ranges to mask, sorted and merged (overlapping or touching matches of
    /// several rules become one mask). Ranges that already read `[REDACTED]` are
    /// skipped so redacting twice changes nothing.
    fn secret_spans(&self, text: &str) -> Vec<(usize, usize)> {
        if let Some(set) = &self.inner.prefilter
            && !set.is_match(text)
        {
            return Vec::new();
        }
        let mut spans = Vec::new();
        for rule in &self.inner.rules {
            rule.collect_spans(text, &mut spans);
        }
        spans.retain(|&(start, end)| start < end && text.get(start..end) != Some(REDACTED));
        merge_spans(spans)
    }
}

impl Rule {
    fn collect_spans(&self, text: &str, spans: &mut Vec<(usize, usize)>) {
        match self.mask {
            Mask::Whole => spans.extend(self.regex.find_iter(text).map(|m| (m.start(), m.end()))),
            Mask::Group(group) => spans.extend(
                self.regex
                    .captures_iter(text)
                    .filter_map(|caps| caps.get(group))
                    .filter(|m| self.filter.accepts(m.as_str()))
                    .map(|m| (m.start(), m.end())),
            ),
        }
    }
}

fn merge_spans(mut spans: Vec<(usize, usize)>) -> Vec<(usize, usize)> {
    spans.sort_unstable();
    let mut merged: Vec<(usize, usize)> = Vec::with_capacity(spans.len());
    for (start, end) in spans {
        match merged.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => merged.push((start, end)),
        }
    }
    merged
}

fn secret_group_index(regex: &Regex) -> Option<usize> {
    regex
        .capture_names()
        .position(|name| name == Some(SECRET_GROUP))
}

fn builtin_regex(name: &str, pattern: &str) -> Result<Regex, PatternError> {
    Regex::new(pattern).map_err(|e| builtin_error(name, &e.to_string()))
}

/// A built-in detector failing to compile is a bug in this crate (the tests compile
/// them all), but it is reported as an error rather than a panic, and never skipped:
/// silently dropping a detector would leak secrets.
fn builtin_error(name: &str, reason: &str) -> PatternError {
    PatternError {
        index: usize::MAX,
        pattern: format!("built-in detector {name}"),
        reason: reason.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prefilter_is_built_for_the_guides_policy() -> Result<(), PatternError> {
        let r = Redactor::new(&[
            r"(?i)apikey=\\w+".to_owned(),
            r"(?i)authorization:\\s*bearer\\s+[a-z0-9\\._-]+".to_owned(),
        ])?;
        // Without it every rule would scan every string: correct but slow.
        assert!(r.inner.prefilter.is_some());
        assert!(r.inner.sensitive_key.is_some());
        Ok(())
    }

    #[test]
    fn spans_merge_when_overlapping_or_touching() {
        assert_eq!(
            merge_spans(vec![(10, 12), (0, 3), (2, 5), (5, 6), (8, 9)]),
            vec![(0, 6), (8, 9), (10, 12)]
        );
        assert_eq!(merge_spans(vec![(0, 10), (2, 3)]), vec![(0, 10)]);
        assert!(merge_spans(Vec::new()).is_empty());
    }
}
