//! The stream form of compose_logs: one service's logs followed as its
//! containers write them, one [`LogEvent`] per NDJSON line
//! (`POST /streams/compose_logs`, same arguments as the tool).
//!
//! Bounded: at most [`MAX_STREAMS`] at once, a few events buffered (a reader
//! that does not read holds the Engine back, not docker-mcp's memory), lines
//! cut at [`log_stream::MAX_LINE_BYTES`]. A stream ends when the containers
//! stop, when its reader goes away, or when docker-mcp shuts down. Rates and
//! durations are the gateway's to bound: it is the one that knows who reads.

use std::collections::HashMap;

use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use ops_core::contract::log_stream::{self, LineSplitter, LogEvent, Output};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{Arguments, DockerTools, checked_service};
use crate::catalog::{TAIL_DEFAULT, ToolName};
use crate::engine::{EngineError, FollowedFrame};
use crate::error::ToolError;
use crate::text::clean_terminal_output;

/// Followed logs at once, over all callers (each holds an Engine connection).
pub const MAX_STREAMS: usize = 32;
/// Containers of one service followed at once (compose's `scale` can be large).
const MAX_CONTAINERS: usize = 16;
/// Encoded events waiting for the reader.
const EVENTS_BUFFERED: usize = 64;
/// A raw line (before terminal escapes are removed) is held up to this long.
const MAX_RAW_LINE_BYTES: usize = 2 * log_stream::MAX_LINE_BYTES;

type Frames = BoxStream<'static, (String, Result<FollowedFrame, EngineError>)>;

impl DockerTools {
    /// Opens the stream: the arguments are checked and every container's log
    /// opened before it starts, so a refusal is an error, not an empty stream.
    pub async fn follow_logs(
        &self,
        args: Value,
        shutdown: CancellationToken,
    ) -> Result<mpsc::Receiver<Vec<u8>>, ToolError> {
        let args = if args.is_null() {
            Value::Object(Default::default())
        } else {
            args
        };
        self.catalog
            .validate(ToolName::ComposeLogs, &args)
            .map_err(ToolError::BadArguments)?;
        let args: Arguments =
            serde_json::from_value(args).map_err(|e| ToolError::BadArguments(e.to_string()))?;
        let project = self.project()?;
        let service = args
            .service
            .ok_or_else(|| ToolError::BadArguments("compose_logs needs a service".into()))?;
        let service = checked_service(&project, service)?;
        let permit = self
            .streams
            .clone()
            .try_acquire_owned()
            .map_err(|_| ToolError::TooManyStreams(MAX_STREAMS))?;
        let tail = args.tail.unwrap_or(TAIL_DEFAULT);
        let containers = self.service_containers(&project, &service).await?;
        let mut streams: Vec<Frames> = Vec::new();
        for container in containers.into_iter().take(MAX_CONTAINERS) {
            let name = container.name.clone();
            let frames = self.engine.follow_logs(&container.id, tail).await?;
            streams.push(frames.map(move |frame| (name.clone(), frame)).boxed());
        }
        let (events, receiver) = mpsc::channel(EVENTS_BUFFERED);
        tokio::spawn(async move {
            pump(streams, events, shutdown).await;
            drop(permit);
        });
        Ok(receiver)
    }
}

/// Moves lines from the Engine to the reader until one side ends.
async fn pump(streams: Vec<Frames>, events: mpsc::Sender<Vec<u8>>, shutdown: CancellationToken) {
    let containers = streams.len();
    let mut merged = futures_util::stream::select_all(streams);
    let mut splitters: HashMap<(String, Output), LineSplitter> = HashMap::new();
    let reason = loop {
        let next = tokio::select! {
            next = merged.next() => next,
            () = events.closed() => return,
            () = shutdown.cancelled() => break "docker-mcp is shutting down".to_owned(),
        };
        let Some((container, frame)) = next else {
            break if containers == 1 {
                "the container stopped".to_owned()
            } else {
                "the containers stopped".to_owned()
            };
        };
        let (output, bytes) = match frame {
            Ok(FollowedFrame::Stdout(bytes)) => (Output::Stdout, bytes),
            Ok(FollowedFrame::Stderr(bytes)) => (Output::Stderr, bytes),
            Err(error) => break format!("the Docker Engine ended the stream: {error}"),
        };
        let lines = splitters
            .entry((container.clone(), output))
            .or_insert_with(|| LineSplitter::new(MAX_RAW_LINE_BYTES))
            .push(&bytes);
        for line in lines {
            if events
                .send(line_event(&container, output, &line).to_ndjson())
                .await
                .is_err()
            {
                return;
            }
        }
    };
    for ((container, output), splitter) in splitters {
        if let Some(line) = splitter.finish() {
            let _ = events
                .send(line_event(&container, output, &line).to_ndjson())
                .await;
        }
    }
    let _ = events.send(LogEvent::End { reason }.to_ndjson()).await;
}

/// One raw line (`TIMESTAMP text`, as the Engine writes it with
/// `timestamps=true`) as an event.
fn line_event(container: &str, stream: Output, raw: &[u8]) -> LogEvent {
    let (time, text) = split_timestamp(raw);
    let text = clean_terminal_output(text);
    LogEvent::Line {
        time: time.to_owned(),
        container: container.to_owned(),
        stream,
        text: log_stream::bounded_line(text.trim_end_matches('\r')),
    }
}

/// `2026-12-01T10:00:00.123456789Z rest` -> (timestamp, rest); a line without
/// one (the Engine always adds it, but a cut line may lack it) keeps its text.
pub(super) fn split_timestamp(raw: &[u8]) -> (&str, &[u8]) {
    let Some(space) = raw.iter().position(|b| *b == b' ') else {
        return ("", raw);
    };
    match std::str::from_utf8(&raw[..space]) {
        Ok(time) if looks_like_timestamp(time) => (time, &raw[space + 1..]),
        _ => ("", raw),
    }
}

fn looks_like_timestamp(text: &str) -> bool {
    let bytes = text.as_bytes();
    (20..=40).contains(&bytes.len())
        && bytes[..4].iter().all(u8::is_ascii_digit)
        && bytes[4] == b'-'
        && bytes[10] == b'T'
        && bytes
            .iter()
            .all(|b| b.is_ascii_digit() || matches!(b, b'-' | b':' | b'.' | b'T' | b'Z' | b'+'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_engine_timestamp_is_split_from_the_text() {
        let (time, text) = split_timestamp(b"2026-12-01T10:00:00.123456789Z hello world");
        assert_eq!(time, "2026-12-01T10:00:00.123456789Z");
        assert_eq!(text, b"hello world");
        assert_eq!(
            split_timestamp(b"no timestamp here"),
            ("", &b"no timestamp here"[..])
        );
        assert_eq!(split_timestamp(b"nospace"), ("", &b"nospace"[..]));
    }

    #[test]
    fn a_line_event_is_cleaned_and_bounded() {
        let raw = format!(
            "2026-12-01T10:00:00Z \x1b[31mred\x1b[0m {}\r",
            "x".repeat(log_stream::MAX_LINE_BYTES)
        );
        let LogEvent::Line {
            time,
            text,
            stream,
            container,
        } = line_event("octest-sonarr-1", Output::Stderr, raw.as_bytes())
        else {
            panic!("a line");
        };
        assert_eq!(time, "2026-12-01T10:00:00Z");
        assert_eq!(container, "octest-sonarr-1");
        assert_eq!(stream, Output::Stderr);
        assert!(text.starts_with("red x"), "{text:.20}");
        assert!(text.len() <= log_stream::MAX_LINE_BYTES);
        assert!(text.ends_with("[line cut]"));
    }
}
