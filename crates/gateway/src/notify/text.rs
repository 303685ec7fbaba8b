//! An event's text as it leaves: redacted, bounded, its link resolved.

use redact::Redactor;

use super::{Event, MAX_MESSAGE_BYTES, MAX_TITLE_BYTES, Outgoing};

pub(crate) fn now_rfc3339() -> String {
    audit::now_rfc3339()
}

/// Redacts first (so a cut never leaves half a secret unrecognised), then bounds.
pub(crate) fn prepare(
    event: &Event,
    redactor: &Redactor,
    link_base: Option<&reqwest::Url>,
) -> Outgoing {
    let title = one_line(&redactor.redact_str(&event.title));
    let message = redactor.redact_str(&event.message);
    Outgoing {
        kind: event.kind,
        service: event.service.clone(),
        title: truncate(&title, MAX_TITLE_BYTES),
        message: truncate(&message, MAX_MESSAGE_BYTES),
        link: resolve_link(event.link.as_deref(), link_base),
        at: now_rfc3339(),
    }
}

/// Control characters (a newline in a title) become spaces.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_owned()
}

/// At most `max` bytes, cut on a character boundary, "…" marking a cut.
pub(crate) fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    const MARK: &str = "…";
    let mut end = max.saturating_sub(MARK.len());
    while end > 0 && !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{MARK}", &text[..end])
}

/// The longest link sent (a cut link would be a broken one: a longer one is left out).
pub(crate) const MAX_LINK_BYTES: usize = 1024;

/// An absolute http(s) link as is; a relative one joined to `link_base`; none:
/// `link_base` itself (pi-health's front page).
pub(crate) fn resolve_link(link: Option<&str>, base: Option<&reqwest::Url>) -> Option<String> {
    let link = link.map(str::trim).filter(|l| !l.is_empty());
    let resolved = match (link, base) {
        (Some(link), base) => match reqwest::Url::parse(link) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => Some(url.to_string()),
            Ok(_) => None,
            Err(_) => base.and_then(|b| b.join(link).ok()).map(|u| u.to_string()),
        },
        (None, Some(base)) => Some(base.to_string()),
        (None, None) => None,
    };
    resolved.filter(|l| l.len() <= MAX_LINK_BYTES)
}

/// One of the four health words Home Assistant's sensor shows.
pub(crate) fn health_word(health: &str) -> &'static str {
    match health.trim().to_ascii_lowercase().as_str() {
        "healthy" => "healthy",
        "unhealthy" => "unhealthy",
        "starting" => "starting",
        _ => "none",
    }
}

/// A header value: visible ASCII as is; anything else as an RFC 2047 encoded
/// word (`=?UTF-8?B?...?=`), which ntfy decodes.
pub(crate) fn header_text(text: &str) -> String {
    if text.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return text.to_owned();
    }
    format!("=?UTF-8?B?{}?=", base64(text.as_bytes()))
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> shift) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The webhook's (and MQTT's `<prefix>/events`) JSON.
pub(crate) fn event_json(event: &Outgoing) -> serde_json::Value {
    serde_json::json!({
        "event": event.kind.as_str(),
        "service": event.service,
        "title": event.title,
        "message": event.message,
        "link": event.link,
        "at": event.at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_rfc_vectors() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(plain.as_bytes()), encoded, "{plain}");
        }
        assert_eq!(header_text("plain title"), "plain title");
        assert_eq!(header_text("é"), "=?UTF-8?B?w6k=?=");
    }
}
