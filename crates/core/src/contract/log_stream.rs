//! Live logs: what a followed log stream carries between the planes, one JSON
//! object per line (NDJSON), written by docker-mcp (`POST /streams/compose_logs`),
//! redacted, paced and passed on by the gateway (`POST /chat/stream`), read by
//! pi-health and turned into Server-Sent Events for the browser.
//!
//! The transport and its bounds are described in `docs/live-logs.md`.

use serde::{Deserialize, Serialize};

/// The NDJSON media type of a log stream.
pub const CONTENT_TYPE: &str = "application/x-ndjson";

/// A log line's text is cut to this many bytes (at a character boundary) and
/// marked; a longer line is almost always a dump nobody reads in a browser.
pub const MAX_LINE_BYTES: usize = 8 * 1024;

/// An encoded event is never longer than this: a reader refuses anything longer
/// (the line's text is bounded by [`MAX_LINE_BYTES`], the rest is small).
pub const MAX_EVENT_BYTES: usize = 4 * MAX_LINE_BYTES;

/// Which of the container's outputs a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Output {
    Stdout,
    Stderr,
}

/// One event of a followed log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LogEvent {
    /// A line a container wrote (the last `tail` lines first, then new ones).
    Line {
        /// The Engine's timestamp (RFC 3339, UTC), or empty when it gave none.
        time: String,
        /// The container's name (a service may have several).
        container: String,
        stream: Output,
        /// The line, without its newline, terminal escapes removed, at most
        /// [`MAX_LINE_BYTES`].
        text: String,
    },
    /// Lines that were not passed on (the stream went over its rate), how many.
    Skipped { lines: u64, reason: String },
    /// The stream ends, and why (the containers stopped, the time was up...).
    End { reason: String },
}

impl LogEvent {
    /// The event as one NDJSON line (with its newline).
    pub fn to_ndjson(&self) -> Vec<u8> {
        encode_line(self)
    }

    /// One NDJSON line (without its newline) back into an event.
    pub fn parse(line: &[u8]) -> Result<Self, String> {
        decode_line(line, MAX_EVENT_BYTES, "a log event")
    }
}

/// `event` as one NDJSON line (with its newline): how every stream between the
/// planes writes its events.
pub fn encode_line<T: Serialize>(event: &T) -> Vec<u8> {
    // The streams' events are strings, numbers, booleans and enums: serializing
    // them cannot fail.
    let mut line = serde_json::to_vec(event).unwrap_or_default();
    line.push(b'\n');
    line
}

/// One NDJSON line (without its newline) back into `what`, refused past `max_bytes`.
pub fn decode_line<T: serde::de::DeserializeOwned>(
    line: &[u8],
    max_bytes: usize,
    what: &str,
) -> Result<T, String> {
    if line.len() > max_bytes {
        return Err(format!("{what} is longer than {max_bytes} bytes"));
    }
    serde_json::from_slice(line).map_err(|e| format!("not {what}: {e}"))
}

/// An answer that streams `events` (each an encoded NDJSON line) as they come
/// and ends when their sender is dropped: how docker-mcp and the gateway send
/// a followed log.
pub fn ndjson_response(events: tokio::sync::mpsc::Receiver<Vec<u8>>) -> axum::response::Response {
    use axum::response::IntoResponse;
    let body = futures_util::stream::unfold(events, |mut events| async move {
        let event = events.recv().await?;
        Some((Ok::<_, std::convert::Infallible>(event), events))
    });
    (
        [
            (axum::http::header::CONTENT_TYPE, CONTENT_TYPE),
            (axum::http::header::CACHE_CONTROL, "no-store"),
        ],
        axum::body::Body::from_stream(body),
    )
        .into_response()
}

/// `text` cut to at most [`MAX_LINE_BYTES`] at a character boundary, with a
/// marker when it was cut.
pub fn bounded_line(text: &str) -> String {
    if text.len() <= MAX_LINE_BYTES {
        return text.to_owned();
    }
    const MARK: &str = " [line cut]";
    let mut end = MAX_LINE_BYTES - MARK.len();
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{MARK}", &text[..end])
}

/// Splits a byte stream into lines as its chunks arrive, refusing to hold a
/// line longer than `max` bytes (the rest of such a line is dropped and the
/// line is handed on cut).
#[derive(Debug)]
pub struct LineSplitter {
    pending: Vec<u8>,
    max: usize,
    overlong: bool,
}

impl LineSplitter {
    pub fn new(max: usize) -> Self {
        Self {
            pending: Vec::new(),
            max,
            overlong: false,
        }
    }

    /// Adds a chunk; returns the complete lines it finished (without newlines,
    /// a trailing `\r` removed).
    pub fn push(&mut self, chunk: &[u8]) -> Vec<Vec<u8>> {
        let mut lines = Vec::new();
        for piece in chunk.split_inclusive(|b| *b == b'\n') {
            let (body, complete) = match piece.strip_suffix(b"\n") {
                Some(body) => (body, true),
                None => (piece, false),
            };
            if !self.overlong {
                let room = self.max.saturating_sub(self.pending.len());
                self.pending
                    .extend_from_slice(&body[..body.len().min(room)]);
                self.overlong = body.len() > room;
            }
            if complete {
                let mut line = std::mem::take(&mut self.pending);
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                lines.push(line);
                self.overlong = false;
            }
        }
        lines
    }

    /// What is left once the stream ended: a last line without a newline.
    pub fn finish(self) -> Option<Vec<u8>> {
        (!self.pending.is_empty()).then_some(self.pending)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip_as_one_line_each() {
        let events = [
            LogEvent::Line {
                time: "2026-12-01T10:00:00.123456789Z".into(),
                container: "octest-sonarr-1".into(),
                stream: Output::Stderr,
                text: "error: \"quoted\"\nnot a newline here".into(),
            },
            LogEvent::Skipped {
                lines: 12,
                reason: "over 200 lines a second".into(),
            },
            LogEvent::End {
                reason: "the container stopped".into(),
            },
        ];
        for event in events {
            let line = event.to_ndjson();
            assert_eq!(line.iter().filter(|b| **b == b'\n').count(), 1);
            assert_eq!(LogEvent::parse(&line[..line.len() - 1]).unwrap(), event);
        }
        assert!(LogEvent::parse(br#"{"kind":"line"}"#).is_err());
        assert!(LogEvent::parse(&vec![b' '; MAX_EVENT_BYTES + 1]).is_err());
    }

    #[test]
    fn lines_are_bounded_at_a_character_boundary() {
        assert_eq!(bounded_line("short"), "short");
        let long = "é".repeat(MAX_LINE_BYTES);
        let cut = bounded_line(&long);
        assert!(cut.len() <= MAX_LINE_BYTES, "{}", cut.len());
        assert!(cut.ends_with(" [line cut]"));
    }

    #[test]
    fn the_splitter_joins_chunks_and_bounds_lines() {
        let mut split = LineSplitter::new(8);
        assert!(split.push(b"ab").is_empty());
        assert_eq!(
            split.push(b"c\r\nde\nf"),
            vec![b"abc".to_vec(), b"de".to_vec()]
        );
        assert_eq!(
            split.push(b"0123456789abcdef\nok\n"),
            vec![b"f0123456".to_vec(), b"ok".to_vec()]
        );
        assert!(split.push(b"tail").is_empty());
        assert_eq!(split.finish(), Some(b"tail".to_vec()));
    }
}
