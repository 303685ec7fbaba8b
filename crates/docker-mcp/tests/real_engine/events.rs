//! The services as they change (`POST /streams/compose_events`), against real
//! containers (testing/diagnosis-stack): every service's state first, then a
//! service that exits with 1, one that turns into a crash loop and one that a
//! person stops, each told once it happens; the end on shutdown; refusals.

use std::sync::Arc;
use std::time::Duration;

use docker_mcp::{MAX_WATCHERS, ToolError};
use ops_core::contract::Verdict;
use ops_core::contract::service_events::{ServiceChange, ServiceEvent};
use serde_json::json;
use test_support::Stack;
use tokio::sync::mpsc::Receiver;
use tokio_util::sync::CancellationToken;

use crate::support::tools_for;

const DIAGNOSIS_STACK: &str =
    include_str!("../../../../testing/diagnosis-stack/docker-compose.yml");

async fn next_event(events: &mut Receiver<Vec<u8>>, within: Duration) -> ServiceEvent {
    let line = tokio::time::timeout(within, events.recv())
        .await
        .expect("an event in time")
        .expect("the stream still open");
    assert_eq!(line.last(), Some(&b'\n'), "one event per line");
    ServiceEvent::parse(&line[..line.len() - 1]).expect("a service event")
}

/// The changes until `service` has `verdict`, within `within`.
async fn until(
    events: &mut Receiver<Vec<u8>>,
    service: &str,
    verdict: Verdict,
    within: Duration,
) -> (ServiceChange, Vec<ServiceChange>) {
    let deadline = tokio::time::Instant::now() + within;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        assert!(
            !left.is_zero(),
            "no {verdict:?} for {service} within {within:?}; seen {seen:#?}"
        );
        match next_event(events, left).await {
            ServiceEvent::State(change)
                if change.service == service && change.verdict == verdict =>
            {
                return (change, seen);
            }
            ServiceEvent::State(change) => seen.push(change),
            ServiceEvent::End { reason } => panic!("the stream ended: {reason}; seen {seen:#?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_come_as_they_happen_after_every_service_once() {
    let stack = Stack::from_yaml("events", DIAGNOSIS_STACK);
    let tools = Arc::new(tools_for(&stack));
    stack.up(&["healthy"]);
    let shutdown = CancellationToken::new();
    let mut events = tools
        .watch_services(json!({ "file": stack.file_str() }), shutdown.clone())
        .await
        .expect("the stream opens");

    // Every declared service once, as it is now.
    let mut opening = Vec::new();
    for _ in 0..7 {
        match next_event(&mut events, Duration::from_secs(10)).await {
            ServiceEvent::State(change) => {
                assert!(change.initial, "{change:?}");
                assert_eq!(change.previous, None);
                opening.push(change);
            }
            other => panic!("an opening state, not {other:?}"),
        }
    }
    let mut names: Vec<&str> = opening.iter().map(|c| c.service.as_str()).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "crashloop",
            "failed",
            "healthy",
            "oneshot",
            "oom",
            "spare",
            "unhealthy"
        ]
    );
    let failed = opening.iter().find(|c| c.service == "failed").unwrap();
    assert_eq!(failed.verdict, Verdict::NotCreated);
    assert!(
        opening
            .iter()
            .find(|c| c.service == "healthy")
            .unwrap()
            .running
    );

    // A one-shot that exits with 1: told with the exit code in words.
    stack.up(&["failed"]);
    let (exited, _) = until(
        &mut events,
        "failed",
        Verdict::ExitedError,
        Duration::from_secs(30),
    )
    .await;
    assert!(!exited.initial && !exited.running, "{exited:?}");
    assert!(exited.previous.is_some(), "{exited:?}");
    assert!(
        exited.summary.contains("exit code 1 (the program failed"),
        "{}",
        exited.summary
    );

    // A crash loop: told as one, with the advice that a restart will not help.
    stack.up(&["crashloop"]);
    let (looping, _) = until(
        &mut events,
        "crashloop",
        Verdict::CrashLoop,
        Duration::from_secs(60),
    )
    .await;
    assert!(
        looping.summary.contains("keeps crashing"),
        "{}",
        looping.summary
    );
    assert!(
        looping.summary.contains("A restart will not help"),
        "{}",
        looping.summary
    );

    // A person stops a service: its state goes to stopped, not running.
    stack.compose(&["stop", "healthy"]).expect("compose stop");
    let (stopped, _) = until(
        &mut events,
        "healthy",
        Verdict::Stopped,
        Duration::from_secs(30),
    )
    .await;
    assert!(!stopped.running);
    assert_eq!(stopped.previous, Some(Verdict::Healthy));

    // docker-mcp shutting down ends the stream with the reason.
    shutdown.cancel();
    loop {
        match next_event(&mut events, Duration::from_secs(10)).await {
            ServiceEvent::End { reason } => {
                assert!(reason.contains("shutting down"), "{reason}");
                break;
            }
            ServiceEvent::State(_) => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_arguments_and_too_many_watchers_are_refused_before_a_stream() {
    let stack = Stack::from_yaml("eventsbad", DIAGNOSIS_STACK);
    let tools = Arc::new(tools_for(&stack));
    for args in [
        json!({ "service": "healthy" }),
        json!({ "file": "/etc/passwd" }),
        json!(["file"]),
    ] {
        match tools
            .watch_services(args.clone(), CancellationToken::new())
            .await
        {
            Err(ToolError::BadArguments(detail)) => assert!(!detail.is_empty()),
            Err(other) => panic!("{args}: bad arguments, not {other}"),
            Ok(_) => panic!("{args}: refused, not a stream"),
        }
    }
    let mut open = Vec::new();
    for _ in 0..MAX_WATCHERS {
        open.push(
            tools
                .watch_services(json!({}), CancellationToken::new())
                .await
                .expect("within the cap"),
        );
    }
    match tools
        .watch_services(json!({}), CancellationToken::new())
        .await
    {
        Err(ToolError::TooManyStreams(cap)) => assert_eq!(cap, MAX_WATCHERS),
        Err(other) => panic!("too many streams, not {other}"),
        Ok(_) => panic!("over the cap"),
    }
    // A reader that leaves frees its place.
    drop(open.pop());
    test_support::wait_for(
        "a watcher's place freed",
        Duration::from_secs(40),
        || async {
            tools
                .watch_services(json!({}), CancellationToken::new())
                .await
                .map(drop)
                .map_err(|e| e.to_string())
        },
    )
    .await;
}
