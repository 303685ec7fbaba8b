//! Live logs in pi-health: `GET /api/logs/follow` relays the gateway's
//! stream as Server-Sent Events, opened as the signed-in person (the audit
//! names them), every line redacted; a gateway without the stream tool is a
//! `refused` event the page answers with a snapshot. In a real headless
//! Chromium the Containers page shows new lines as they are written, marks
//! errors, filters, pauses, and keeps no secret on the page.

use std::time::Duration;

use reqwest::header::{ACCEPT, CONTENT_TYPE, COOKIE};
use serde_json::Value;
use test_support::wait_for;

use crate::gateway_support::{ADMIN, Env, Options};
use crate::support::{ALICE, BOB, PiHealth, client, gateway_token};
use crate::webdriver::Browser;

const LOGS_STACK: &str = include_str!("../../../../testing/logs-stack/docker-compose.yml");

/// One Server-Sent Event: its name and its data as JSON.
type SseEvent = (String, Value);

/// Reads events from an open `text/event-stream` answer.
struct Sse {
    response: reqwest::Response,
    buffer: String,
}

impl Sse {
    async fn open(app: &PiHealth, cookie: &str, service: &str) -> Self {
        let response = client()
            .get(app.url(&format!("/api/logs/follow?service={service}&tail=50")))
            .header(COOKIE, cookie)
            .header(ACCEPT, "text/event-stream")
            .send()
            .await
            .expect("pi-health answers");
        assert_eq!(response.status(), 200);
        let kind = response.headers()[CONTENT_TYPE]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(kind.starts_with("text/event-stream"), "{kind}");
        Self {
            response,
            buffer: String::new(),
        }
    }

    /// The next event (keep-alive comments skipped), or None at the end.
    async fn next(&mut self, within: Duration) -> Option<SseEvent> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut name = String::from("message");
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(value) = line.strip_prefix("event:") {
                        name = value.trim().to_owned();
                    } else if let Some(value) = line.strip_prefix("data:") {
                        data.push_str(value.trim_start());
                    }
                }
                if data.is_empty() {
                    continue;
                }
                return Some((name, serde_json::from_str(&data).expect("JSON data")));
            }
            let chunk = tokio::time::timeout_at(deadline, self.response.chunk())
                .await
                .expect("an event in time")
                .expect("the stream reads")?;
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
}

/// Seconds since the epoch of `2026-12-01T10:00:00.123456789Z` (UTC, as the
/// Engine writes it).
fn epoch_seconds(time: &str) -> Option<f64> {
    let (date, clock) = time.strip_suffix('Z')?.split_once('T')?;
    let mut ymd = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, d) = (ymd.next()??, ymd.next()??, ymd.next()??);
    let mut hms = clock.split(':');
    let (h, min) = (
        hms.next()?.parse::<i64>().ok()?,
        hms.next()?.parse::<i64>().ok()?,
    );
    let sec: f64 = hms.next()?.parse().ok()?;
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((days * 86_400 + h * 3600 + min * 60) as f64 + sec)
}

fn now_seconds() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[test]
fn engine_times_are_read() {
    assert_eq!(epoch_seconds("1970-01-02T00:00:01.5Z"), Some(86_401.5));
    assert_eq!(epoch_seconds("2026-12-01T10:00:00Z"), Some(1_796_119_200.0));
    assert_eq!(epoch_seconds("yesterday"), None);
}

async fn start(tag: &str, services: &[&str], adapted: bool) -> (Env, PiHealth) {
    let env = Env::start(
        tag,
        services,
        Options {
            stack_yaml: Some(LOGS_STACK),
            adapted_config: adapted,
            ..Options::default()
        },
    )
    .await;
    let online = gateway_token(&env, "admin").await;
    let app = PiHealth::start(env.stack.file(), Some(&online), &[], false).await;
    (env, app)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lines_reach_the_browser_as_events_redacted_and_read_as_the_person() {
    let (env, app) = start("ph-follow", &["talker"], true).await;
    let bob = app.sign_in(BOB).await;
    tokio::time::sleep(Duration::from_secs(1)).await;

    let mut events = Sse::open(&app, &bob.cookie, "talker").await;
    let mut texts = Vec::new();
    let mut delays = Vec::new();
    while texts
        .iter()
        .filter(|t: &&String| t.starts_with("line "))
        .count()
        < 12
    {
        let (name, data) = events
            .next(Duration::from_secs(10))
            .await
            .expect("lines before any end");
        assert_eq!(name, "line", "{data}");
        // How long after the container wrote it the line reached the browser
        // (same machine, same clock).
        let time = data["time"].as_str().unwrap_or_default();
        let written = epoch_seconds(time).unwrap_or_else(|| panic!("an RFC 3339 time: {data}"));
        delays.push(now_seconds() - written);
        assert!(
            data["container"]
                .as_str()
                .is_some_and(|c| c.contains("talker")),
            "{data}"
        );
        texts.push(data["text"].as_str().unwrap().to_owned());
    }
    let all = texts.join("\n");
    // Past the tail, lines arrive within a second of being written (the
    // median of the last five; none later than 3 s even on a loaded CI machine).
    let mut live = delays[delays.len() - 5..].to_vec();
    live.sort_by(f64::total_cmp);
    assert!(
        live[2] < 1.0 && live[0] >= -0.1 && live[4] < 3.0,
        "new lines within a second: {live:?} s"
    );
    assert!(
        !all.contains("FAKEfollowKEY") && !all.contains("FOLLOWkeyLINE"),
        "{all}"
    );
    assert!(all.contains("[REDACTED]"), "{all}");

    // The container stops: the page is told, with the reason, and the stream ends.
    test_support::docker(&["stop", "-t", "2", &env.stack.container("talker")]);
    let reason = loop {
        match events.next(Duration::from_secs(15)).await {
            Some((name, _)) if name == "line" => {}
            Some((name, data)) if name == "end" => break data["reason"].clone(),
            other => panic!("lines, then the end: {other:?}"),
        }
    };
    assert_eq!(reason, "the container stopped");
    assert!(events.next(Duration::from_secs(5)).await.is_none());

    // The gateway's audit names the person and their role for both records.
    let records = wait_for("the stream's records", Duration::from_secs(10), || async {
        let records = env.audit(ADMIN, "tool=compose_logs_follow").await;
        if records.len() >= 2 {
            Ok(records)
        } else {
            Err(format!("{records:?}"))
        }
    })
    .await;
    for record in &records {
        assert_eq!(record["on_behalf_of"], "bob", "{record}");
        assert_eq!(record["role"], "standard", "{record}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_stream_tool_the_page_is_told_and_bad_input_is_refused() {
    // The guide's own files: no compose_logs_follow.
    let (_env, app) = start("ph-follow-guide", &["quiet"], false).await;
    let alice = app.sign_in(ALICE).await;
    let mut events = Sse::open(&app, &alice.cookie, "quiet").await;
    let (name, data) = events
        .next(Duration::from_secs(10))
        .await
        .expect("an event");
    assert_eq!(name, "refused", "{data}");
    let detail = data["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("unknown_tool"), "{detail}");
    assert!(events.next(Duration::from_secs(5)).await.is_none());

    for bad in [
        "service=../etc",
        "service=quiet&tail=abc",
        "tail=50",
        "service=quiet&x=1",
    ] {
        let reply = alice.get(&format!("/api/logs/follow?{bad}")).await;
        assert_eq!(reply.status.as_u16(), 400, "{bad}: {}", reply.body);
    }
    // Not signed in: no stream.
    let response = client()
        .get(app.url("/api/logs/follow?service=quiet"))
        .send()
        .await
        .unwrap();
    assert!(
        response.status() == 401 || response.status().is_redirection(),
        "{}",
        response.status()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_containers_page_follows_marks_filters_and_pauses_live_lines() {
    let (env, app) = start("ph-follow-page", &["talker", "quiet"], true).await;
    let browser = Browser::start(&env.dir.join("logs")).await;
    browser.goto(&app.url("/login")).await;
    browser.type_into("#username", ALICE.0).await;
    browser.type_into("#password", ALICE.1).await;
    browser.click("#login-form button[type=submit]").await;
    browser
        .wait_text("#container-summary", "services running")
        .await;

    // A link opens the logs at once.
    browser.goto(&app.url("/containers?logs=talker")).await;
    browser.wait_text("#logs-title", "Logs of talker").await;
    browser.wait_text("#log-status", "Following").await;
    browser.wait_text("#logs", "line 3:").await;
    let newest = |text: String| {
        text.lines()
            .filter_map(|l| {
                l.split("line ")
                    .nth(1)?
                    .split(':')
                    .next()?
                    .parse::<u32>()
                    .ok()
            })
            .max()
            .unwrap_or(0)
    };
    let first = newest(browser.text("#logs").await);
    // Live: later lines arrive without a reload.
    wait_for(
        "newer lines on the page",
        Duration::from_secs(10),
        || async {
            let now = newest(browser.text("#logs").await);
            if now >= first + 3 {
                Ok(())
            } else {
                Err(format!("{now}"))
            }
        },
    )
    .await;
    let text = browser.text("#logs").await;
    assert!(
        !text.contains("FAKEfollowKEY") && !text.contains("FOLLOWkeyLINE"),
        "{text}"
    );
    // Error lines are marked (a bar and a colour, by class).
    let marked = browser
        .eval("return Array.from(document.querySelectorAll('#logs .log-line.log-error'), n => n.textContent);")
        .await;
    let marked: Vec<&str> = marked
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        !marked.is_empty() && marked.iter().all(|t| t.contains("error: ")),
        "{marked:?}"
    );

    // The filter hides what does not match, new lines included.
    browser.type_into("#log-filter", "error:").await;
    let visible = "return Array.from(document.querySelectorAll('#logs .log-line:not(.hidden)'), n => n.textContent);";
    tokio::time::sleep(Duration::from_secs(2)).await;
    let shown = browser.eval(visible).await;
    let shown: Vec<&str> = shown
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        !shown.is_empty() && shown.iter().all(|t| t.contains("error: ")),
        "{shown:?}"
    );

    // Pause holds new lines aside; Resume shows them.
    browser.click("#log-pause").await;
    browser.wait_text("#log-pause", "Resume").await;
    let count = "return document.querySelectorAll('#logs .log-line').length;";
    let paused_at = browser.eval(count).await.as_u64().unwrap();
    browser.wait_text("#log-status", "new lines held").await;
    assert_eq!(browser.eval(count).await.as_u64().unwrap(), paused_at);
    browser.click("#log-pause").await;
    let resumed = browser.eval(count).await.as_u64().unwrap();
    assert!(resumed > paused_at, "{resumed} > {paused_at}");

    // Close ends the stream, up to the gateway, which records why it closed.
    browser.click("#log-close").await;
    assert!(browser.find("#logs-section.hidden").await.is_some());
    let closed = wait_for(
        "the stream's closing record",
        Duration::from_secs(10),
        || async {
            let records = env.audit(ADMIN, "tool=compose_logs_follow").await;
            records
                .iter()
                .filter_map(|r| r["reason"].as_str())
                .find(|r| r.starts_with("stream closed"))
                .map(str::to_owned)
                .ok_or_else(|| format!("{records:?}"))
        },
    )
    .await;
    assert!(closed.ends_with("the reader went away"), "{closed}");
}
