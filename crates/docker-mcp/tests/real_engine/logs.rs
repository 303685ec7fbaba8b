//! compose_logs: tail, both streams, ANSI removed, TTY services, exited services,
//! and the byte cap with its visible marker.

use std::time::Duration;

use docker_mcp::Limits;
use serde_json::{Value, json};
use test_support::{Stack, wait_for, wait_for_sync};

use crate::support::{
    call_ok, local_engine, raw_docker_logs, starts_with_timestamp, tools_for, tools_with,
};

fn logs_text(result: &Value) -> &str {
    result["logs"].as_str().expect("logs is a string")
}

/// No terminal escapes and no control characters but newline and tab.
fn assert_clean(service: &str, text: &str) {
    if let Some(bad) = text
        .chars()
        .find(|c| c.is_control() && *c != '\n' && *c != '\t')
    {
        let at = text.find(bad).unwrap_or(0);
        let context: String = text
            .get(at.saturating_sub(40)..)
            .unwrap_or(&text[at..])
            .chars()
            .take(80)
            .collect();
        panic!("{service} logs contain control character {bad:?} near {context:?}");
    }
}

#[tokio::test]
async fn compose_logs_honours_tail_and_returns_clean_lines_from_both_streams() {
    let stack = Stack::arr("logs");
    stack.up(&["sonarr", "bazarr", "recyclarr"]);
    let tools = tools_for(&stack);
    let file = stack.file_str().to_owned();

    // Each serving app writes a 600-line burst, then "startup complete".
    for svc in ["sonarr", "bazarr"] {
        let (tools, file) = (&tools, &file);
        wait_for(
            &format!("{svc} to finish its start-up burst"),
            Duration::from_secs(30),
            move || async move {
                let r = call_ok(
                    tools,
                    "compose_logs",
                    json!({ "file": file, "service": svc, "tail": 500 }),
                )
                .await;
                let text = logs_text(&r);
                if text.contains("startup complete") || text.contains("(tick ") {
                    Ok(())
                } else {
                    Err(format!("{} lines so far", text.lines().count()))
                }
            },
        )
        .await;
    }

    // sonarr: multiplexed stdout + stderr frames, ANSI colours at the source.
    let sonarr_id = stack.container("sonarr");
    let raw = raw_docker_logs(&sonarr_id, 500);
    assert!(
        raw.contains(&0x1b),
        "the fixture should print ANSI escapes; the CLI shows none"
    );
    for tail in [50u32, 137, 500] {
        let r = call_ok(
            &tools,
            "compose_logs",
            json!({ "file": file, "service": "sonarr", "tail": tail }),
        )
        .await;
        let text = logs_text(&r);
        let lines = text.lines().count();
        // More than 600 lines exist, so exactly `tail` come back.
        assert_eq!(lines, tail as usize, "tail {tail}: got {lines} lines");
        assert_eq!(r["tail"], tail);
        assert_eq!(r["service"], "sonarr");
        assert_eq!(r["truncated"], false);
        assert_eq!(r["containers"], json!([stack.container_name("sonarr")]));
        assert_clean("sonarr", text);
        for line in text.lines() {
            assert!(starts_with_timestamp(line), "sonarr tail {tail}: {line:?}");
        }
    }
    let r = call_ok(
        &tools,
        "compose_logs",
        json!({ "file": file, "service": "sonarr", "tail": 500 }),
    )
    .await;
    let text = logs_text(&r);
    // The coloured lines, with their colours gone.
    assert!(text.contains("Housekeeping: cleaned"), "{text}");
    // (stderr lines are checked with recyclarr below: with two streams copied side by
    // side, where a running app's stderr lines land in the log is not fixed.)
    // The fake secrets are still there: redaction is the gateway's job.
    for secret in [
        "apikey=0123456789abcdef0123456789abcdef",
        "Authorization: Bearer abc.def-ghi_123",
        "PASSWORD=hunter2",
    ] {
        assert!(text.contains(secret), "{secret} missing");
    }
    // The default tail is 100.
    let r = call_ok(
        &tools,
        "compose_logs",
        json!({ "file": file, "service": "sonarr" }),
    )
    .await;
    assert_eq!(r["tail"], 100);
    assert_eq!(logs_text(&r).lines().count(), 100);

    // bazarr has a TTY: the Engine sends a raw stream (no frame headers, CRLF).
    assert_eq!(stack.inspect("bazarr", "{{.Config.Tty}}"), "true");
    let raw = raw_docker_logs(&stack.container("bazarr"), 150);
    assert!(
        raw.windows(2).any(|w| w == b"\r\n"),
        "a TTY's log should have CRLF line ends"
    );
    let r = call_ok(
        &tools,
        "compose_logs",
        json!({ "file": file, "service": "bazarr", "tail": 150 }),
    )
    .await;
    let text = logs_text(&r);
    assert_eq!(text.lines().count(), 150, "bazarr");
    assert_clean("bazarr", text);
    for line in text.lines() {
        assert!(starts_with_timestamp(line), "bazarr: {line:?}");
    }
    assert!(text.contains("Housekeeping: cleaned"));

    // recyclarr has exited (code 3); its logs are still there.
    wait_for_sync("recyclarr to exit", Duration::from_secs(30), || match stack
        .inspect("recyclarr", "{{.State.Status}}")
        .as_str()
    {
        "exited" => Ok(()),
        other => Err(other.to_owned()),
    });
    let r = call_ok(
        &tools,
        "compose_logs",
        json!({ "file": file, "service": "recyclarr", "tail": 50 }),
    )
    .await;
    let text = logs_text(&r);
    // stdout and stderr lines both.
    assert!(text.contains("starting one-shot sync"), "{text}");
    assert!(text.contains("sync failed, exiting with code 3"), "{text}");
    // The same lines as `docker logs` shows (order between the streams aside).
    let raw = raw_docker_logs(&stack.container("recyclarr"), 50);
    let mut expected: Vec<String> = String::from_utf8_lossy(&raw)
        .lines()
        .map(str::to_owned)
        .collect();
    let mut got: Vec<String> = text.lines().map(str::to_owned).collect();
    expected.sort();
    got.sort();
    assert!(!got.is_empty());
    assert_eq!(got, expected);
    assert_clean("recyclarr", text);
}

#[tokio::test]
async fn compose_logs_caps_the_bytes_with_a_visible_marker() {
    const CAP: usize = 2048;
    let stack = Stack::arr("logcap");
    stack.up(&["sonarr"]);
    let file = stack.file_str().to_owned();
    let tools = tools_with(
        local_engine(),
        Some(stack.file()),
        Limits {
            max_log_bytes: CAP,
            ..Limits::default()
        },
    );
    let args = json!({ "file": file, "service": "sonarr", "tail": 500 });
    // 500 lines of the burst are far more than 2 KiB.
    let raw_id = stack.container("sonarr");
    wait_for_sync("sonarr to log 500 lines", Duration::from_secs(30), || {
        let raw = raw_docker_logs(&raw_id, 500);
        match String::from_utf8_lossy(&raw).lines().count() {
            500 => Ok(raw.len()),
            n => Err(format!("{n} lines")),
        }
    });

    let r = call_ok(&tools, "compose_logs", args.clone()).await;
    let text = logs_text(&r);
    assert_eq!(r["truncated"], true, "{r:#}");
    let (marker, body) = text.split_once('\n').expect("a marker line");
    assert!(
        marker.starts_with("[… ") && marker.contains("truncated by docker-mcp"),
        "the output starts with a visible marker: {marker:?}"
    );
    let dropped: usize = marker
        .trim_start_matches("[… ")
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("the marker says how much was cut: {marker:?}"));
    assert!(dropped > 0, "{marker}");
    assert!(
        body.len() <= CAP,
        "{} bytes after the marker, cap {CAP}",
        body.len()
    );
    assert!(text.len() <= CAP + marker.len() + 1);
    assert!(!body.is_empty());
    // Cut at a line boundary: what is kept is whole, recent lines.
    for line in body.lines() {
        assert!(starts_with_timestamp(line), "partial line kept: {line:?}");
    }
    assert_clean("sonarr", text);

    // With the default cap the same call is not cut.
    let full = call_ok(&tools_for(&stack), "compose_logs", args).await;
    assert_eq!(full["truncated"], false);
    assert!(logs_text(&full).len() > CAP);
}
