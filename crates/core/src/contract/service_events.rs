//! Service changes as they happen: what docker-mcp's `POST /streams/compose_events`
//! carries to the gateway (which turns them into notifications), one JSON
//! object per line (NDJSON), like a followed log.
//!
//! The stream opens with the state of every service of the stack
//! (`initial: true`), then sends a service again each time its verdict, its
//! running state or its health changes. docker-mcp derives them from the
//! Engine's event stream it already follows, never by polling the Engine.

use serde::{Deserialize, Serialize};

use super::diagnosis::Verdict;
use super::log_stream;

/// An encoded event is never longer than this (a service name, a verdict and a
/// sentence of at most [`MAX_SUMMARY_BYTES`]).
pub const MAX_EVENT_BYTES: usize = 4 * 1024;
/// A change's sentence is cut to this many bytes.
pub const MAX_SUMMARY_BYTES: usize = 1024;
/// The compose label that puts a service under auto-heal (with the value
/// `true`), when the policy's `autoheal:` section lets labels choose.
pub const AUTOHEAL_LABEL: &str = "org.ops-copilot.autoheal";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ServiceEvent {
    /// A service as it is now.
    State(ServiceChange),
    /// The stream ends, and why (docker-mcp shuts down...).
    End { reason: String },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceChange {
    pub service: String,
    pub verdict: Verdict,
    /// The verdict before this change; none in the opening states.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<Verdict>,
    /// Whether a container of the service runs.
    pub running: bool,
    /// starting, healthy, unhealthy; none without a healthcheck.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<String>,
    /// What is the matter, in one plain sentence (exit codes in words).
    pub summary: String,
    /// One of the opening states, not a change.
    #[serde(default)]
    pub initial: bool,
    /// Its containers carry [`AUTOHEAL_LABEL`]`: "true"`.
    #[serde(default)]
    pub autoheal_label: bool,
}

impl ServiceEvent {
    /// The event as one NDJSON line (with its newline).
    pub fn to_ndjson(&self) -> Vec<u8> {
        log_stream::encode_line(self)
    }

    /// One NDJSON line (without its newline) back into an event.
    pub fn parse(line: &[u8]) -> Result<Self, String> {
        log_stream::decode_line(line, MAX_EVENT_BYTES, "a service event")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_round_trips_and_oversized_lines_are_refused() {
        let event = ServiceEvent::State(ServiceChange {
            service: "bazarr".into(),
            verdict: Verdict::CrashLoop,
            previous: Some(Verdict::Healthy),
            running: false,
            health: None,
            summary: "bazarr keeps crashing".into(),
            initial: false,
            autoheal_label: true,
        });
        let line = event.to_ndjson();
        assert_eq!(line.last(), Some(&b'\n'));
        let text = String::from_utf8(line.clone()).unwrap();
        assert!(text.contains(r#""kind":"state""#), "{text}");
        assert!(text.contains(r#""verdict":"crash_loop""#), "{text}");
        assert_eq!(ServiceEvent::parse(&line[..line.len() - 1]).unwrap(), event);
        assert!(ServiceEvent::parse(&vec![b' '; MAX_EVENT_BYTES + 1]).is_err());
        assert!(ServiceEvent::parse(b"{\"kind\":\"nope\"}").is_err());
    }
}
