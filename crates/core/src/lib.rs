//! Small pieces every plane of Ops-Copilot shares.

pub mod bearer;
pub mod contract;
#[cfg(feature = "mcp")]
pub mod mcp_sessions;
pub mod net;
pub mod recent;
pub mod schema;
pub mod thermal;

/// An error and its causes on one line: "client error: connection refused".
/// Causes already contained in the text are not repeated.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// At most `max_chars` characters of `text`, with an ellipsis when cut; for
/// echoing input back in an error without letting it grow unbounded.
pub fn bounded(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        None => text.to_owned(),
        Some((cut, _)) => format!("{}…", &text[..cut]),
    }
}

/// A message for people: whole when it has at most `max_chars` characters,
/// else cut at the last space before the limit (never mid-word, unless the
/// first word alone is too long) with an ellipsis.
pub fn shortened(text: &str, max_chars: usize) -> String {
    let Some((cut, _)) = text.char_indices().nth(max_chars) else {
        return text.to_owned();
    };
    let head = &text[..cut];
    let ends_a_word = text[cut..].starts_with(char::is_whitespace);
    let at_word = match head.rfind(char::is_whitespace) {
        _ if ends_a_word => head.trim_end(),
        Some(space) if space > 0 => head[..space].trim_end(),
        _ => head,
    };
    format!("{at_word}…")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Layer(&'static str, Option<Box<Layer>>);
    impl std::fmt::Display for Layer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }
    impl std::error::Error for Layer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_deref().map(|l| l as _)
        }
    }

    #[test]
    fn chains_causes_without_repeating_them() {
        let error = Layer(
            "client error (Connect)",
            Some(Box::new(Layer(
                "Connect",
                Some(Box::new(Layer("No such file or directory", None))),
            ))),
        );
        assert_eq!(
            error_chain(&error),
            "client error (Connect): No such file or directory"
        );
    }

    #[test]
    fn bounds_text_on_character_boundaries() {
        assert_eq!(bounded("short", 10), "short");
        assert_eq!(bounded("ééééé", 2), "éé…");
        assert_eq!(bounded("abc", 3), "abc");
    }

    #[test]
    fn shortens_messages_at_a_word_boundary() {
        assert_eq!(shortened("line 12: bad indent", 40), "line 12: bad indent");
        assert_eq!(
            shortened("line 12: unexpected mapping", 20),
            "line 12: unexpected…"
        );
        assert_eq!(shortened("line 12:  unexpected", 10), "line 12:…");
        assert_eq!(shortened("abcdefghij", 4), "abcd…");
        assert_eq!(shortened("é é é", 3), "é é…");
        assert_eq!(shortened("é éé é", 4), "é éé…");
        assert_eq!(shortened("é ééé", 4), "é…");
    }
}
