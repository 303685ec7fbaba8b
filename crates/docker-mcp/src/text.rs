//! Making Engine and CLI output safe to hand to a person or a model: no
//! terminal escapes, valid UTF-8, and a byte cap with a visible marker.

use std::collections::VecDeque;
use std::sync::LazyLock;

use regex::{Regex, RegexBuilder};

/// CSI and OSC sequences, other ESC sequences, and control characters other
/// than newline and tab.
static TERMINAL_ESCAPES: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-Z\\-_]|[\x00-\x08\x0b-\x1f\x7f]",
    )
    .expect("static regex")
});

/// Decodes bytes as UTF-8 (lossily), drops terminal escapes and normalises CRLF.
pub fn clean_terminal_output(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw).replace("\r\n", "\n");
    TERMINAL_ESCAPES.replace_all(&text, "").into_owned()
}

/// Keeps the end of `text` within `max_bytes`, and says how much was dropped.
/// `already_dropped` counts bytes cut before `text` reached us; `text` itself must
/// start at a line start (see [`drop_partial_first_line`]).
///
/// The cut is always at a line boundary: the gateway redacts what docker-mcp returns,
/// and a line cut in the middle can keep a secret without the key that makes it
/// recognisable (`key=SECRET` left of `apikey=SECRET`). So a last line longer than
/// `max_bytes` is dropped whole, leaving only the marker.
pub fn keep_tail(text: &str, max_bytes: usize, already_dropped: usize) -> (String, bool) {
    if text.len() <= max_bytes && already_dropped == 0 {
        return (text.to_owned(), false);
    }
    let mut start = text.len().saturating_sub(max_bytes);
    if start > 0 && text.as_bytes()[start - 1] != b'\n' {
        // After the next newline (a char boundary), or nothing left.
        start = text.as_bytes()[start..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(text.len(), |newline| start + newline + 1);
    }
    let dropped = already_dropped + start;
    let marker = format!("[… {dropped} earlier bytes truncated by docker-mcp …]\n");
    (format!("{marker}{}", &text[start..]), true)
}

/// Drops what is left of the first line of `text` after bytes before it were cut (the
/// Engine's own cap drops the oldest bytes wherever they end), for the reason given in
/// [`keep_tail`]. Returns the rest and how many bytes were dropped. The first line may
/// have been whole, but that cannot be known: it is dropped all the same.
pub fn drop_partial_first_line(text: &str) -> (&str, usize) {
    match text.find('\n') {
        Some(newline) => (&text[newline + 1..], newline + 1),
        None => ("", text.len()),
    }
}

/// Keeps the start of `text` within `max_bytes`.
pub fn keep_head(text: &str, max_bytes: usize) -> (String, bool) {
    if text.len() <= max_bytes {
        return (text.to_owned(), false);
    }
    let mut end = max_bytes;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let dropped = text.len() - end;
    (
        format!(
            "{}\n[… {dropped} more bytes truncated by docker-mcp …]",
            &text[..end]
        ),
        true,
    )
}

/// At most `max_bytes` of the start of `text`, cut at a character boundary,
/// with `…` when cut (the marker counts against the bound).
pub fn head_bytes(text: &str, max_bytes: usize) -> String {
    if text.len() <= max_bytes {
        return text.to_owned();
    }
    let mut end = max_bytes.saturating_sub('…'.len_utf8());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// Words that make a log line look like an error, lower case.
const ERROR_WORDS: [&str; 22] = [
    "error",
    "fatal",
    "exception",
    "panic",
    "traceback",
    "failed",
    "failure",
    "denied",
    "refused",
    "database is locked",
    "permission denied",
    "no such file",
    "not found",
    "out of memory",
    "killed",
    "cannot",
    "can't",
    "unable to",
    "timed out",
    "segmentation fault",
    "critical",
    "crash",
];

/// [`ERROR_WORDS`] as one case-insensitive pattern: one pass over the text instead
/// of every word searched in every lower-cased line (diagnosis reads 500 lines).
static ERROR_PATTERN: LazyLock<Regex> = LazyLock::new(|| {
    let words: Vec<String> = ERROR_WORDS.iter().map(|w| regex::escape(w)).collect();
    RegexBuilder::new(&words.join("|"))
        .case_insensitive(true)
        // The words are ASCII: no Unicode case folding (the Kelvin sign is not a K).
        .unicode(false)
        .build()
        .expect("static regex")
});

/// The last `max_lines` lines of `text` that look like errors, oldest first,
/// each at most `max_bytes` (see [`head_bytes`]).
pub fn error_lines(text: &str, max_lines: usize, max_bytes: usize) -> Vec<String> {
    if max_lines == 0 {
        return Vec::new();
    }
    let mut found: VecDeque<&str> = VecDeque::with_capacity(max_lines.min(64));
    let mut from = 0;
    while let Some(hit) = ERROR_PATTERN.find_at(text, from) {
        let start = text[..hit.start()]
            .rfind('\n')
            .map_or(0, |newline| newline + 1);
        let end = text[hit.end()..]
            .find('\n')
            .map_or(text.len(), |newline| hit.end() + newline);
        if found.len() == max_lines {
            found.pop_front();
        }
        found.push_back(text[start..end].trim_end());
        // One entry per line, however many words it has.
        from = end;
    }
    found
        .into_iter()
        .map(|line| head_bytes(line, max_bytes))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_last_error_looking_lines_bounded() {
        let log = "starting\nERROR: database is locked\nall good\nPermission Denied: /config\n\
                   Traceback (most recent call last):\nok\n";
        assert_eq!(
            error_lines(log, 10, 300),
            [
                "ERROR: database is locked",
                "Permission Denied: /config",
                "Traceback (most recent call last):"
            ]
        );
        assert_eq!(
            error_lines(log, 1, 300),
            ["Traceback (most recent call last):"]
        );
        let long = format!("fatal: {}\n", "é".repeat(400));
        let cut = &error_lines(&long, 10, 300)[0];
        assert!(cut.len() <= 300 && cut.ends_with('…'), "{}", cut.len());
        assert!(error_lines("all fine\nstill fine\n", 10, 300).is_empty());
        // A line with several words is one line; case does not matter; no newline at the end.
        assert_eq!(
            error_lines("FATAL error: Failed\nok\nlast ERRor", 10, 300),
            ["FATAL error: Failed", "last ERRor"]
        );
        assert!(error_lines("error\n", 0, 300).is_empty());
    }

    #[test]
    fn strips_colours_and_control_characters() {
        let raw = b"\x1b[32m[Info]\x1b[0m ok\r\n\x1b]0;title\x07bell\x07\x00x\ttab\n";
        assert_eq!(clean_terminal_output(raw), "[Info] ok\nbellx\ttab\n");
    }

    #[test]
    fn invalid_utf8_is_replaced_not_fatal() {
        assert_eq!(clean_terminal_output(b"a\xffb"), "a\u{fffd}b");
    }

    #[test]
    fn keep_tail_keeps_whole_recent_lines_and_marks_the_cut() {
        let text = "line-1\nline-2\nline-3\n";
        assert_eq!(keep_tail(text, 100, 0), (text.to_owned(), false));
        let (kept, truncated) = keep_tail(text, 10, 0);
        assert!(truncated);
        assert!(kept.starts_with("[… 14 earlier bytes truncated"), "{kept}");
        assert!(kept.ends_with("line-3\n"));
        let (kept, truncated) = keep_tail("short\n", 100, 42);
        assert!(truncated && kept.contains("42 earlier bytes"), "{kept}");
    }

    #[test]
    fn keep_tail_never_splits_a_line() {
        // A cut inside `apikey=` would leave `key=SECRET`, which redaction misses.
        let text = "old line\nGET /api?apikey=SECRET\n";
        let (kept, truncated) = keep_tail(text, 20, 0);
        assert!(truncated);
        assert_eq!(
            kept,
            format!(
                "[… {} earlier bytes truncated by docker-mcp …]\n",
                text.len()
            )
        );
        let (kept, _) = keep_tail(text, 30, 0);
        assert!(kept.ends_with("]\nGET /api?apikey=SECRET\n"), "{kept}");
        // Without a final newline, a too long last line goes whole too.
        let (kept, _) = keep_tail("a\nzzzzzzzz", 4, 0);
        assert!(!kept.contains('z'), "{kept}");
        // A cut that falls right after a newline keeps that line.
        let (kept, _) = keep_tail("aaa\nbbb\n", 4, 0);
        assert!(kept.ends_with("]\nbbb\n"), "{kept}");
    }

    #[test]
    fn keep_tail_never_splits_a_character() {
        let text = "é\nééééé\néé";
        let (kept, _) = keep_tail(text, 5, 0);
        assert!(kept.ends_with("]\néé"), "{kept}");
        let (kept, _) = keep_tail("ééééé", 3, 0);
        assert!(!kept.contains('é'), "{kept}");
    }

    #[test]
    fn a_partial_first_line_is_dropped() {
        assert_eq!(
            drop_partial_first_line("key=SECRET\nnext\n"),
            ("next\n", 11)
        );
        assert_eq!(drop_partial_first_line("key=SECRET"), ("", 10));
        assert_eq!(drop_partial_first_line(""), ("", 0));
    }

    #[test]
    fn keep_head_marks_the_cut() {
        let (kept, truncated) = keep_head("abcdef", 3);
        assert!(truncated);
        assert!(kept.starts_with("abc\n[… 3 more bytes"), "{kept}");
    }
}
