//! HTML escaping: every string a tool, the gateway, a model or a person
//! supplied goes through [`html`] before it becomes part of an answer.

/// Escapes text for an HTML element body or a double- or single-quoted attribute.
pub(crate) fn html(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            // NUL and other C0 controls (but tab and newlines) have no place in a page.
            c if c.is_control() && !matches!(c, '\t' | '\n' | '\r') => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::html;

    #[test]
    fn script_payloads_become_text() {
        assert_eq!(
            html("<script>alert('x')</script>"),
            "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;"
        );
        assert_eq!(
            html(r#""><img src=x onerror=alert(1)>"#),
            "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;"
        );
        assert_eq!(html("a & b"), "a &amp; b");
        assert_eq!(
            html("&lt;"),
            "&amp;lt;",
            "already-escaped text is escaped again"
        );
        assert_eq!(html("tab\tnl\nnul\0"), "tab\tnl\nnul\u{FFFD}");
        assert_eq!(html("plain text ünïcode"), "plain text ünïcode");
    }

    #[test]
    fn no_markup_character_survives() {
        let nasty = "<>\"'&</script><svg/onload=alert(1)>`${x}`";
        let escaped = html(nasty);
        for c in ['<', '>', '"', '\''] {
            assert!(!escaped.contains(c), "{c} in {escaped}");
        }
    }
}
