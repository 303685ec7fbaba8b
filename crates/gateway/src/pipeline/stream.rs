//! `POST /chat/stream`: a live stream (followed logs), admitted like any call
//! (whom for, which role, the tool, its arguments, the role's right to it),
//! then passed on line by line: every line redacted, the rate bounded, the
//! stream's life bounded, and two audit records, one when it opens and one
//! when it closes with what it carried (never one per line).
//!
//! Bounds ([`StreamLimits`]): streams per reader (the person a principal acts
//! for, else the principal) and in all; no line for `idle` ends it; so does
//! `max_duration`, and the gateway shutting down. Over the line or byte rate,
//! lines are skipped and counted, and the reader is told how many.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use audit::Decision;
use ops_core::contract::LogEvent;
use ops_core::contract::log_stream::{self, LineSplitter};
use redact::LineRedactor;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::call::admit;
use super::record::Record;
use super::{CallRequest, Gateway, Refusal, RefusalCode, new_id};
use crate::auth::Principal;

/// The bounds on live streams.
#[derive(Debug, Clone, Copy)]
pub struct StreamLimits {
    pub per_reader: usize,
    pub total: usize,
    /// No line for this long ends a stream.
    pub idle: Duration,
    /// A stream ends after this long, whatever it carries; the reader reopens.
    pub max_duration: Duration,
    /// Lines a second a stream carries on average...
    pub lines_per_second: u32,
    /// ...and at once (the tail a stream opens with is up to 500 lines).
    pub line_burst: u32,
    /// Bytes a second on average, and at once.
    pub bytes_per_second: u32,
    pub byte_burst: u32,
}

impl Default for StreamLimits {
    fn default() -> Self {
        Self {
            per_reader: 4,
            total: 16,
            idle: Duration::from_secs(15 * 60),
            max_duration: Duration::from_secs(60 * 60),
            lines_per_second: 100,
            line_burst: 600,
            bytes_per_second: 64 * 1024,
            byte_burst: 512 * 1024,
        }
    }
}

/// Encoded events waiting for the reader.
const EVENTS_BUFFERED: usize = 64;

/// The open streams, by reader.
#[derive(Debug, Default)]
pub(super) struct OpenStreams {
    by_reader: Mutex<HashMap<String, usize>>,
}

/// One open stream's place; given back when dropped.
struct Slot {
    gateway: Arc<Gateway>,
    reader: String,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self
            .gateway
            .streams
            .by_reader
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(count) = open.get_mut(&self.reader) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.reader);
            }
        }
    }
}

impl Gateway {
    /// Opens a stream for `principal`: NDJSON [`LogEvent`]s on the receiver, or
    /// the refusal (audited) when it cannot open.
    pub async fn open_stream(
        self: &Arc<Self>,
        principal: &Principal,
        request: CallRequest,
        shutdown: CancellationToken,
    ) -> Result<mpsc::Receiver<Vec<u8>>, Refusal> {
        let started = Instant::now();
        let config = self.config.current();
        let request_id = new_id()?;
        let mut record = Record::new(&request_id, principal, &request.tool, &request.args);
        let admitted = admit(&config, principal, &request, &mut record).and_then(|(_, tool)| {
            if tool.stream {
                Ok(tool)
            } else {
                Err(Refusal::new(
                    RefusalCode::NotAStream,
                    format!(
                        "{} is not a stream: call it with POST /chat/tool",
                        tool.name
                    ),
                ))
            }
        });
        let tool = match admitted {
            Ok(tool) => tool,
            Err(refusal) => return Err(self.refused(&config, record, refusal, started).await),
        };
        let reader = record.on_behalf_of.clone().map_or_else(
            || principal.name.clone(),
            |person| format!("{}/{person}", principal.name),
        );
        let slot = match self.take_slot(&reader) {
            Ok(slot) => slot,
            Err(refusal) => return Err(self.refused(&config, record, refusal, started).await),
        };
        let service = match config.route(tool, &request.args) {
            Ok(route) => route.service,
            Err(detail) => {
                let refusal = Refusal::new(RefusalCode::BadArgs, format!("Bad args: {detail}"));
                return Err(self.failed(&config, record, refusal, started).await);
            }
        };
        let Some(upstream) = self.upstreams(&config).get(service) else {
            let refusal = Refusal::new(
                RefusalCode::McpUnavailable,
                format!("no client for service {service}"),
            );
            return Err(self.failed(&config, record, refusal, started).await);
        };
        let open_timeout = Duration::from_millis(config.defaults.read_timeout_ms);
        let response = match upstream
            .stream(
                &tool.function,
                &config.hosts.tool_args(&request.args),
                open_timeout,
            )
            .await
        {
            Ok(response) => response,
            Err(error) => {
                let refusal = self.upstream_refusal(&config, &tool.function, &error);
                return Err(self.failed(&config, record, refusal, started).await);
            }
        };
        let mut opened = record.clone();
        opened.reason = Some("stream opened".into());
        if let Err(detail) = self
            .write(&config, opened.finish(Decision::Executed, started))
            .await
        {
            // Nothing leaves unaudited.
            return Err(Refusal::new(RefusalCode::AuditUnavailable, detail));
        }
        let (events, receiver) = mpsc::channel(EVENTS_BUFFERED);
        let gateway = self.clone();
        let redact = config.guards.redact_output;
        tokio::spawn(async move {
            let carried = pump(&gateway, response, &events, redact, shutdown).await;
            let closed_at = Instant::now();
            record.reason = Some(carried.summary(closed_at - started));
            let config = gateway.config.current();
            if let Err(detail) = gateway
                .write(&config, record.finish(Decision::Executed, started))
                .await
            {
                tracing::error!(detail, "a stream's end could not be audited");
            }
            drop(slot);
        });
        Ok(receiver)
    }

    fn take_slot(self: &Arc<Self>, reader: &str) -> Result<Slot, Refusal> {
        let limits = self.stream_limits;
        let mut open = self
            .streams
            .by_reader
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if open.values().sum::<usize>() >= limits.total {
            return Err(Refusal::new(
                RefusalCode::StreamsFull,
                format!(
                    "the gateway has {} live streams open, as many as it keeps; try again when one closes",
                    limits.total
                ),
            ));
        }
        let count = open.entry(reader.to_owned()).or_default();
        if *count >= limits.per_reader {
            return Err(Refusal::new(
                RefusalCode::TooManyStreams,
                format!(
                    "you have {} live streams open, as many as you may; close one (a browser tab) first",
                    limits.per_reader
                ),
            ));
        }
        *count += 1;
        Ok(Slot {
            gateway: self.clone(),
            reader: reader.to_owned(),
        })
    }
}

/// What a stream carried, for its closing audit record.
#[derive(Debug, Default)]
struct Carried {
    lines: u64,
    bytes: u64,
    skipped: u64,
    masked: u64,
    ended: String,
}

impl Carried {
    fn summary(&self, lasted: Duration) -> String {
        format!(
            "stream closed after {} s: {} lines ({} bytes) passed, {} skipped over the rate, {} secrets masked; {}",
            lasted.as_secs(),
            self.lines,
            self.bytes,
            self.skipped,
            self.masked,
            self.ended
        )
    }
}

/// Moves events from the service to the reader until one side ends, a bound is
/// reached or the gateway shuts down. Returns what it carried.
async fn pump(
    gateway: &Gateway,
    mut response: reqwest::Response,
    events: &mpsc::Sender<Vec<u8>>,
    redact: bool,
    shutdown: CancellationToken,
) -> Carried {
    let limits = gateway.stream_limits;
    let config = gateway.config.current();
    let redactor = gateway.redactor(&config);
    let mut lines = LineRedactor::new(&redactor);
    let mut split = LineSplitter::new(log_stream::MAX_EVENT_BYTES);
    let mut rate = Rate::new(&limits);
    let mut carried = Carried::default();
    let deadline = tokio::time::Instant::now() + limits.max_duration;
    let mut told_skipped = 0;
    carried.ended = 'stream: loop {
        let chunk = tokio::select! {
            chunk = tokio::time::timeout(limits.idle, response.chunk()) => chunk,
            () = events.closed() => break "the reader went away".into(),
            () = tokio::time::sleep_until(deadline) => {
                break format!("it was open for {} minutes, the most a stream stays open: open it again", limits.max_duration.as_secs() / 60);
            }
            () = shutdown.cancelled() => break "the gateway is shutting down".into(),
        };
        let chunk = match chunk {
            Err(_) => {
                break format!(
                    "no new line for {} minutes: open it again to go on",
                    limits.idle.as_secs() / 60
                );
            }
            Ok(Err(error)) => {
                tracing::warn!(error = %ops_core::error_chain(&error), "a stream from a service broke");
                break "the service's stream broke off".into();
            }
            Ok(Ok(None)) => break "the service ended the stream".into(),
            Ok(Ok(Some(chunk))) => chunk,
        };
        for raw in split.push(&chunk) {
            let event = match LogEvent::parse(&raw) {
                Ok(event) => event,
                Err(error) => {
                    tracing::warn!(%error, "a service sent something that is not a log event");
                    break 'stream "the service sent something that is not a log event".into();
                }
            };
            let event = match event {
                LogEvent::Line {
                    time,
                    container,
                    stream,
                    text,
                } => {
                    // Redacted before the rate decides, so a masked block's state
                    // follows every line, passed on or not.
                    let text = if redact {
                        let (masked, count) = lines.line(&text);
                        carried.masked += count as u64;
                        masked.into_owned()
                    } else {
                        text
                    };
                    let text = log_stream::bounded_line(&text);
                    if !rate.allows(text.len()) {
                        carried.skipped += 1;
                        continue;
                    }
                    carried.lines += 1;
                    carried.bytes += text.len() as u64;
                    LogEvent::Line {
                        time,
                        container,
                        stream,
                        text,
                    }
                }
                LogEvent::Skipped { lines, .. } => {
                    carried.skipped += lines;
                    continue;
                }
                LogEvent::End { reason } => {
                    break 'stream redactor
                        .redact_str(&ops_core::shortened(&reason, 300))
                        .into_owned();
                }
            };
            if carried.skipped > told_skipped {
                let skipped = LogEvent::Skipped {
                    lines: carried.skipped - told_skipped,
                    reason: format!(
                        "more than {} lines or {} KiB a second",
                        limits.lines_per_second,
                        limits.bytes_per_second / 1024
                    ),
                };
                told_skipped = carried.skipped;
                if events.send(skipped.to_ndjson()).await.is_err() {
                    break 'stream "the reader went away".into();
                }
            }
            if events.send(event.to_ndjson()).await.is_err() {
                break 'stream "the reader went away".into();
            }
        }
    };
    let _ = events
        .send(
            LogEvent::End {
                reason: carried.ended.clone(),
            }
            .to_ndjson(),
        )
        .await;
    carried
}

/// Two token buckets: lines and bytes.
struct Rate {
    lines: Bucket,
    bytes: Bucket,
}

impl Rate {
    fn new(limits: &StreamLimits) -> Self {
        Self {
            lines: Bucket::new(limits.lines_per_second, limits.line_burst),
            bytes: Bucket::new(limits.bytes_per_second, limits.byte_burst),
        }
    }

    fn allows(&mut self, bytes: usize) -> bool {
        let now = Instant::now();
        self.lines.refill(now);
        self.bytes.refill(now);
        if self.lines.tokens >= 1.0 && self.bytes.tokens >= bytes as f64 {
            self.lines.tokens -= 1.0;
            self.bytes.tokens -= bytes as f64;
            true
        } else {
            false
        }
    }
}

struct Bucket {
    tokens: f64,
    per_second: f64,
    burst: f64,
    at: Instant,
}

impl Bucket {
    fn new(per_second: u32, burst: u32) -> Self {
        Self {
            tokens: f64::from(burst),
            per_second: f64::from(per_second),
            burst: f64::from(burst),
            at: Instant::now(),
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.burst);
        self.at = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_allows_a_burst_then_the_average() {
        let limits = StreamLimits {
            lines_per_second: 10,
            line_burst: 5,
            bytes_per_second: 1000,
            byte_burst: 10_000,
            ..StreamLimits::default()
        };
        let mut rate = Rate::new(&limits);
        assert!((0..5).all(|_| rate.allows(10)), "the burst passes");
        assert!(!rate.allows(10), "then it is spent");
        std::thread::sleep(Duration::from_millis(250));
        assert!(rate.allows(10), "refilled at 10 a second");
        // Bytes bound too: a line larger than what is left waits.
        let mut rate = Rate::new(&limits);
        assert!(rate.allows(9_000));
        assert!(!rate.allows(2_000));
    }
}
