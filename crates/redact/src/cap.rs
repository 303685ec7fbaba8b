//! `cap_json`: bound a JSON result's size, leaving visible markers where it was cut.
//!
//! Strategy, cheapest loss of information first:
//! 1. Shorten the longest strings, all to one common "water level", so that no string is
//!    cut while a longer one is left whole. Logs (strings with newlines) keep their END,
//!    where the newest lines are, starting at a line boundary when one is near; other
//!    strings keep their START. A marker `[… N bytes truncated by ai-gateway …]` replaces
//!    what was cut.
//! 2. If strings alone cannot get under the cap, truncate the largest array (keep its
//!    first items, append `"[… N items truncated by ai-gateway …]"`), then try again.
//! 3. If that still fails (say, an object with a huge number of small keys), return a
//!    small stub object. So the result always fits when `max_bytes >= MIN_CAP_BYTES`.
//!
//! All sizes are in bytes of the compact serialization, computed exactly by
//! [`compact_json_len`], including JSON escaping.

use crate::size::{compact_json_len, escaped_char_len, string_len};
use serde_json::{Value, json};

/// Below this cap a meaningful truncated value cannot be guaranteed to fit, so
/// `cap_json` returns a stub instead.
pub const MIN_CAP_BYTES: usize = 256;

/// Each round either fits, or removes at least one array item; this bounds the work
/// on pathological shapes (thousands of tiny arrays), which end in the stub instead.
const MAX_ROUNDS: usize = 256;

const MARKER_OPEN: &str = "[… ";
const BYTES_TAIL: &str = " bytes truncated by ai-gateway …]";
const ITEMS_TAIL: &str = " items truncated by ai-gateway …]";

/// The outcome of [`cap_json`].
#[derive(Debug, Clone, PartialEq)]
pub struct Capped {
    /// The value, unchanged if it fit, otherwise shrunk (or the stub).
    pub value: Value,
    /// Whether anything was cut.
    pub truncated: bool,
    /// Size of the input's compact serialization.
    pub original_bytes: usize,
}

/// Caps `value` so that its compact serialization fits in `max_bytes`.
///
/// A value that already fits is returned unchanged. Otherwise the result fits whenever
/// `max_bytes >= MIN_CAP_BYTES`; below that the result is the stub
/// `{"truncated": true, "original_bytes": N, "note": "[… …]"}`.
pub fn cap_json(value: Value, max_bytes: usize) -> Capped {
    let original_bytes = compact_json_len(&value);
    if original_bytes <= max_bytes {
        return Capped {
            value,
            truncated: false,
            original_bytes,
        };
    }
    if max_bytes < MIN_CAP_BYTES {
        return stub(original_bytes);
    }
    let mut value = value;
    for _ in 0..MAX_ROUNDS {
        let size = compact_json_len(&value);
        if size <= max_bytes {
            return Capped {
                value,
                truncated: true,
                original_bytes,
            };
        }
        let excess = size - max_bytes;
        if shrink_strings(&mut value, excess) {
            continue;
        }
        if !shrink_largest_array(&mut value, excess) {
            break;
        }
    }
    stub(original_bytes)
}

fn stub(original_bytes: usize) -> Capped {
    Capped {
        value: json!({
            "truncated": true,
            "original_bytes": original_bytes,
            "note": format!("{MARKER_OPEN}{original_bytes}{BYTES_TAIL}"),
        }),
        truncated: true,
        original_bytes,
    }
}

fn bytes_marker(removed: usize) -> String {
    format!("{MARKER_OPEN}{removed}{BYTES_TAIL}")
}

fn items_marker(removed: usize) -> String {
    format!("{MARKER_OPEN}{removed}{ITEMS_TAIL}")
}

// ---------------------------------------------------------------------------------
// Strings
// ---------------------------------------------------------------------------------

/// Cuts strings to a common level if that can remove `excess` bytes; returns false
/// (and changes nothing) if even cutting every string to its marker is not enough.
fn shrink_strings(value: &mut Value, excess: usize) -> bool {
    let mut strings = collect_strings(value);
    // (content cost, worst-case cost of marker + separator) for each string. The saving
    // from cutting a string to `level` is at least `cost - level - overhead`.
    let plans: Vec<(usize, usize)> = strings
        .iter()
        .map(|s| (string_len(s) - 2, marker_overhead(s)))
        .collect();
    let savings = |level: usize| -> usize {
        plans
            .iter()
            .map(|&(cost, overhead)| cost.saturating_sub(level.saturating_add(overhead)))
            .fold(0usize, usize::saturating_add)
    };
    if savings(0) < excess {
        return false;
    }
    // Highest level that still saves enough; `savings` is non-increasing in `level`.
    let (mut lo, mut hi) = (0usize, plans.iter().map(|p| p.0).max().unwrap_or(0));
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        if savings(mid) >= excess {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    for (s, &(cost, overhead)) in strings.iter_mut().zip(&plans) {
        if cost > lo.saturating_add(overhead) {
            cut_string(s, lo);
        }
    }
    true
}

fn collect_strings(value: &mut Value) -> Vec<&mut String> {
    let mut out = Vec::new();
    let mut stack: Vec<&mut Value> = vec![value];
    while let Some(v) = stack.pop() {
        match v {
            Value::String(s) => out.push(s),
            Value::Array(items) => stack.extend(items.iter_mut()),
            Value::Object(map) => stack.extend(map.values_mut()),
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }
    out
}

/// Logs are strings with a newline: they keep their end, other strings their start.
fn is_log(s: &str) -> bool {
    s.contains('\n')
}

/// Upper bound on what a cut adds: the marker (its count can be at most the bytes
/// already removed plus the whole current string) and the separator (`\n` escapes to
/// two bytes, a space is one).
fn marker_overhead(s: &str) -> usize {
    let log = is_log(s);
    let (prior, _) = strip_bytes_marker(s, log);
    let separator = if log { 2 } else { 1 };
    bytes_marker(prior.saturating_add(s.len())).len() + separator
}

/// Cuts `s` so that what is kept costs at most `keep_cost` serialized bytes, and adds
/// the marker. A marker left by an earlier cut is folded into the new one, so the count
/// always refers to the original string.
fn cut_string(s: &mut String, keep_cost: usize) {
    let log = is_log(s);
    let (prior, body) = strip_bytes_marker(s, log);
    let cut = if log {
        let start = keep_tail(body, keep_cost);
        let kept = body.get(start..).unwrap_or_default();
        format!("{}\n{kept}", bytes_marker(prior + start))
    } else {
        let end = keep_head(body, keep_cost);
        let kept = body.get(..end).unwrap_or_default();
        format!("{kept} {}", bytes_marker(prior + (body.len() - end)))
    };
    *s = cut;
}

/// Byte index where the kept start of `body` ends (a char boundary).
fn keep_head(body: &str, keep_cost: usize) -> usize {
    let mut cost = 0usize;
    for (i, c) in body.char_indices() {
        cost += escaped_char_len(c);
        if cost > keep_cost {
            return i;
        }
    }
    body.len()
}

/// Byte index where the kept end of `body` starts: a char boundary, moved forward to
/// the start of a line when one begins in the first half of what is kept, so the
/// reader sees whole lines rather than half of the oldest one.
fn keep_tail(body: &str, keep_cost: usize) -> usize {
    let mut cost = 0usize;
    let mut start = body.len();
    for (i, c) in body.char_indices().rev() {
        cost += escaped_char_len(c);
        if cost > keep_cost {
            break;
        }
        start = i;
    }
    let at_line_start = start == 0 || body[..start].ends_with('\n');
    if !at_line_start {
        let kept = &body[start..];
        if let Some(newline) = kept.find('\n')
            && newline < kept.len() / 2
        {
            start += newline + 1;
        }
    }
    start
}

/// Splits off a marker left by an earlier cut: `(bytes it says were removed, rest)`.
fn strip_bytes_marker(s: &str, log: bool) -> (usize, &str) {
    if log {
        // "[… N bytes truncated by ai-gateway …]\n<kept tail>"
        if let Some(rest) = s.strip_prefix(MARKER_OPEN) {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if let (Ok(n), Some(after)) = (rest[..digits].parse::<usize>(), rest.get(digits..))
                && let Some(body) = after
                    .strip_prefix(BYTES_TAIL)
                    .and_then(|b| b.strip_prefix('\n'))
            {
                return (n, body);
            }
        }
    } else if let Some(head) = s.strip_suffix(BYTES_TAIL) {
        // "<kept head> [… N bytes truncated by ai-gateway …]"
        let digits = head.bytes().rev().take_while(u8::is_ascii_digit).count();
        let split = head.len() - digits;
        if let (Ok(n), Some(before)) = (head[split..].parse::<usize>(), head.get(..split))
            && let Some(body) = before
                .strip_suffix(MARKER_OPEN)
                .and_then(|b| b.strip_suffix(' '))
        {
            return (n, body);
        }
    }
    (0, s)
}

// ---------------------------------------------------------------------------------
// Arrays
// ---------------------------------------------------------------------------------

/// One step from a value to a child, borrowed while searching.
enum Step<'a> {
    Index(usize),
    Key(&'a str),
}

/// Truncates the largest array that still has items to drop; false if there is none.
fn shrink_largest_array(value: &mut Value, excess: usize) -> bool {
    let Some(path) = largest_array_path(value) else {
        return false;
    };
    let mut target = value;
    for step in &path {
        let next = match (target, step) {
            (Value::Array(items), OwnedStep::Index(i)) => items.get_mut(*i),
            (Value::Object(map), OwnedStep::Key(k)) => map.get_mut(k.as_str()),
            _ => None,
        };
        match next {
            Some(child) => target = child,
            None => return false,
        }
    }
    match target {
        Value::Array(items) => {
            truncate_array(items, excess);
            true
        }
        _ => false,
    }
}

enum OwnedStep {
    Index(usize),
    Key(String),
}

/// Path to the array with the largest serialization among those with at least one
/// real (non-marker) item. An outer array is always larger than the arrays inside it,
/// so the outermost list is cut first, keeping its first items whole.
fn largest_array_path(value: &Value) -> Option<Vec<OwnedStep>> {
    let mut best: Option<(usize, Vec<Step<'_>>)> = None;
    let mut stack: Vec<(&Value, Vec<Step<'_>>)> = vec![(value, Vec::new())];
    while let Some((v, path)) = stack.pop() {
        match v {
            Value::Array(items) => {
                if real_items(items) > 0 {
                    let cost = compact_json_len(v);
                    if best.as_ref().is_none_or(|(c, _)| cost > *c) {
                        best = Some((cost, clone_path(&path)));
                    }
                }
                for (i, child) in items.iter().enumerate() {
                    if matches!(child, Value::Array(_) | Value::Object(_)) {
                        let mut p = clone_path(&path);
                        p.push(Step::Index(i));
                        stack.push((child, p));
                    }
                }
            }
            Value::Object(map) => {
                for (key, child) in map {
                    if matches!(child, Value::Array(_) | Value::Object(_)) {
                        let mut p = clone_path(&path);
                        p.push(Step::Key(key));
                        stack.push((child, p));
                    }
                }
            }
            _ => {}
        }
    }
    best.map(|(_, path)| {
        path.into_iter()
            .map(|s| match s {
                Step::Index(i) => OwnedStep::Index(i),
                Step::Key(k) => OwnedStep::Key(k.to_owned()),
            })
            .collect()
    })
}

fn clone_path<'a>(path: &[Step<'a>]) -> Vec<Step<'a>> {
    path.iter()
        .map(|s| match s {
            Step::Index(i) => Step::Index(*i),
            Step::Key(k) => Step::Key(k),
        })
        .collect()
}

/// Items before a trailing marker left by an earlier truncation.
fn real_items(items: &[Value]) -> usize {
    match items.last() {
        Some(Value::String(s)) if parse_items_marker(s).is_some() => items.len() - 1,
        _ => items.len(),
    }
}

fn parse_items_marker(s: &str) -> Option<usize> {
    s.strip_prefix(MARKER_OPEN)?
        .strip_suffix(ITEMS_TAIL)?
        .parse()
        .ok()
}

/// Keeps the longest prefix of `items` such that the array, with its marker, is at
/// least `excess` bytes smaller; if no prefix is small enough, keeps none. Always
/// removes at least one item (callers only pass arrays with real items).
fn truncate_array(items: &mut Vec<Value>, excess: usize) {
    let before = compact_json_len(&Value::Array(Vec::new()))
        + items.len().saturating_sub(1)
        + items.iter().map(compact_json_len).sum::<usize>();
    let prior = match items.last() {
        Some(Value::String(s)) => parse_items_marker(s),
        _ => None,
    };
    if prior.is_some() {
        items.pop();
    }
    let prior = prior.unwrap_or(0);
    let n = items.len();
    let target = before.saturating_sub(excess);
    // Worst-case marker size: the count can be at most prior + n.
    let marker_cost = string_len(&items_marker(prior + n));
    let mut keep = 0;
    // Cost with `k` kept items: brackets, k items, k commas (the marker is last), marker.
    let mut cost = 2 + marker_cost;
    for (k, item) in items.iter().enumerate() {
        cost += compact_json_len(item) + 1;
        if cost > target || k + 1 >= n {
            break;
        }
        keep = k + 1;
    }
    items.truncate(keep);
    items.push(Value::String(items_marker(prior + (n - keep))));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_round_trip() {
        assert_eq!(parse_items_marker(&items_marker(42)), Some(42));
        assert_eq!(
            parse_items_marker("[… x items truncated by ai-gateway …]"),
            None
        );
        let log = format!("{}\ntail", bytes_marker(17));
        assert_eq!(strip_bytes_marker(&log, true), (17, "tail"));
        let head = format!("head {}", bytes_marker(9));
        assert_eq!(strip_bytes_marker(&head, false), (9, "head"));
        assert_eq!(strip_bytes_marker("plain", false), (0, "plain"));
    }

    #[test]
    fn keep_tail_prefers_a_line_start() {
        let body = "aaaa\nbbbb\ncccc\n";
        // 10 serialized bytes from the end ("\n" costs two) start inside "bbbb"; the
        // kept part is moved to the next line start.
        let start = keep_tail(body, 10);
        assert_eq!(&body[start..], "cccc\n");
        // Ending exactly at a line start: nothing moves.
        assert_eq!(&body[keep_tail(body, 12)..], "bbbb\ncccc\n");
        // Whole body fits: nothing moves.
        assert_eq!(keep_tail(body, 100), 0);
    }

    #[test]
    fn keep_head_respects_escaping_and_char_boundaries() {
        // "é" is two bytes; a quote costs two when escaped.
        assert_eq!(keep_head("éé", 3), 2);
        assert_eq!(keep_head("\"\"", 3), 1);
        assert_eq!(keep_head("abc", 0), 0);
    }
}
