//! Making Engine and CLI output safe to hand to a person or a model: no
//! terminal escapes, valid UTF-8, and a byte cap with a visible marker.

use std::sync::LazyLock;

use regex::Regex;

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

/// Keeps the end of `text` within `max_bytes`, cutting at a line boundary where
/// possible, and says how much was dropped. `already_dropped` counts bytes cut
/// before `text` reached us.
pub fn keep_tail(text: &str, max_bytes: usize, already_dropped: usize) -> (String, bool) {
    if text.len() <= max_bytes && already_dropped == 0 {
        return (text.to_owned(), false);
    }
    let mut start = text.len().saturating_sub(max_bytes);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    // Start on a whole line unless that would drop everything.
    if start > 0
        && let Some(newline) = text[start..].find('\n')
        && start + newline + 1 < text.len()
    {
        start += newline + 1;
    }
    let dropped = already_dropped + start;
    let marker = format!("[… {dropped} earlier bytes truncated by docker-mcp …]\n");
    (format!("{marker}{}", &text[start..]), true)
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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn keep_tail_never_splits_a_character() {
        let text = "ééééé";
        let (kept, _) = keep_tail(text, 3, 0);
        assert!(kept.ends_with('é'));
    }

    #[test]
    fn keep_head_marks_the_cut() {
        let (kept, truncated) = keep_head("abcdef", 3);
        assert!(truncated);
        assert!(kept.starts_with("abc\n[… 3 more bytes"), "{kept}");
    }
}
