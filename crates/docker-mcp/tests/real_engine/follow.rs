//! Followed logs (the stream form of compose_logs) against real containers
//! (testing/logs-stack): the tail first, then new lines as they are written,
//! with the Engine's timestamps and both outputs; the end when the container
//! stops; refusals before a stream starts; the cap on open streams.

use std::time::Duration;

use docker_mcp::{MAX_STREAMS, ToolError};
use ops_core::contract::LogEvent;
use ops_core::contract::log_stream::Output;
use serde_json::json;
use test_support::{Stack, docker};
use tokio::sync::mpsc::Receiver;
use tokio_util::sync::CancellationToken;

use crate::support::tools_for;

const LOGS_STACK: &str = include_str!("../../../../testing/logs-stack/docker-compose.yml");

async fn next_event(events: &mut Receiver<Vec<u8>>, within: Duration) -> Option<LogEvent> {
    let line = tokio::time::timeout(within, events.recv())
        .await
        .expect("an event (or the end) in time")?;
    assert_eq!(line.last(), Some(&b'\n'), "one event per line");
    Some(LogEvent::parse(&line[..line.len() - 1]).expect("a log event"))
}

/// The number in "line N: ..." of talker's stdout.
fn line_number(text: &str) -> Option<u32> {
    text.strip_prefix("line ")?.split(':').next()?.parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_lines_follow_the_tail_until_the_container_stops() {
    let stack = Stack::from_yaml("follow", LOGS_STACK);
    let tools = tools_for(&stack);
    stack.up(&["talker"]);
    // Let it write a few lines first, so the tail has something.
    tokio::time::sleep(Duration::from_secs(2)).await;

    let mut events = tools
        .follow_logs(
            json!({ "file": stack.file_str(), "service": "talker", "tail": 50 }),
            CancellationToken::new(),
        )
        .await
        .expect("the stream opens");
    let container = stack.container_name("talker");
    let mut numbers = Vec::new();
    let mut stderr_seen = false;
    let mut key_block_seen = false;
    // About 3 lines a second: 25 stdout lines take ~8 s, well past the tail.
    while numbers.len() < 25 {
        match next_event(&mut events, Duration::from_secs(10)).await {
            Some(LogEvent::Line {
                time,
                container: from,
                stream,
                text,
            }) => {
                assert_eq!(from, container);
                assert!(time.starts_with("20") && time.ends_with('Z'), "{time}");
                assert!(!text.contains('\n') && !text.contains('\r'), "{text:?}");
                key_block_seen |= text == "-----BEGIN RSA PRIVATE KEY-----";
                match stream {
                    Output::Stdout => numbers.extend(line_number(&text)),
                    Output::Stderr => {
                        assert!(text.starts_with("error: "), "{text}");
                        stderr_seen = true;
                    }
                }
            }
            other => panic!("a line, not {other:?}"),
        }
    }
    // The whole log so far (the tail covers it), then each new line once, in order.
    assert!(
        key_block_seen,
        "the tail starts at the beginning of this short log"
    );
    assert_eq!(numbers[0], 1, "{numbers:?}");
    assert!(
        numbers.windows(2).all(|w| w[1] == w[0] + 1),
        "in order, none twice, none missing: {numbers:?}"
    );
    assert!(stderr_seen);

    docker(&["stop", "-t", "2", &container]);
    let reason = loop {
        match next_event(&mut events, Duration::from_secs(15)).await {
            Some(LogEvent::Line { .. }) => {}
            Some(LogEvent::End { reason }) => break reason,
            other => panic!("lines then the end, not {other:?}"),
        }
    };
    assert_eq!(reason, "the container stopped");
    assert!(
        next_event(&mut events, Duration::from_secs(5))
            .await
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_come_before_a_stream_and_streams_are_capped() {
    let stack = Stack::from_yaml("follow-cap", LOGS_STACK);
    let tools = tools_for(&stack);
    stack.up(&["quiet"]);
    let file = stack.file_str();
    let open = |service: &str| {
        tools.follow_logs(
            json!({ "file": file, "service": service, "tail": 50 }),
            CancellationToken::new(),
        )
    };

    match open("plex").await {
        Err(ToolError::BadArguments(message)) => {
            assert!(message.contains("unknown service \"plex\""), "{message}")
        }
        other => panic!("unknown service refused, not {:?}", other.map(|_| ())),
    }
    match open("talker").await {
        Err(ToolError::Failed(message)) => assert!(message.contains("no container"), "{message}"),
        other => panic!(
            "a service never created is refused, not {:?}",
            other.map(|_| ())
        ),
    }
    let bad_tail = tools
        .follow_logs(
            json!({ "file": file, "service": "quiet", "tail": 100000 }),
            CancellationToken::new(),
        )
        .await;
    assert!(matches!(bad_tail, Err(ToolError::BadArguments(_))));

    // A quiet container: the streams stay open with nothing to say.
    let mut open_streams = Vec::new();
    for _ in 0..MAX_STREAMS {
        open_streams.push(open("quiet").await.expect("under the cap"));
    }
    match open("quiet").await {
        Err(error @ ToolError::TooManyStreams(_)) => {
            assert_eq!(error.http_status(), 503);
            assert_eq!(error.code(), "too_many_streams");
        }
        other => panic!("over the cap, not {:?}", other.map(|_| ())),
    }
    // A reader that goes away gives its place back.
    drop(open_streams.pop());
    let reopened = test_support::wait_for(
        "a closed stream's place to be free",
        Duration::from_secs(5),
        || async { open("quiet").await.map_err(|e| e.to_string()) },
    )
    .await;
    open_streams.push(reopened);

    // docker-mcp shutting down ends every stream, with the reason.
    let shutdown = CancellationToken::new();
    drop(open_streams);
    let mut events = test_support::wait_for(
        "room for one more stream",
        Duration::from_secs(5),
        || async {
            tools
                .follow_logs(
                    json!({ "file": file, "service": "quiet", "tail": 50 }),
                    shutdown.clone(),
                )
                .await
                .map_err(|e| e.to_string())
        },
    )
    .await;
    assert!(matches!(
        next_event(&mut events, Duration::from_secs(10)).await,
        Some(LogEvent::Line { text, .. }) if text == "started"
    ));
    shutdown.cancel();
    assert_eq!(
        next_event(&mut events, Duration::from_secs(5)).await,
        Some(LogEvent::End {
            reason: "docker-mcp is shutting down".into()
        })
    );
}
