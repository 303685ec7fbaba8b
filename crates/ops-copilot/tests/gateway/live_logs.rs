//! Live logs through the gateway (`POST /chat/stream`, compose_logs_follow in
//! the adapted files) from a real container (testing/logs-stack): every line
//! redacted, a private key block given line by line included; one audit record
//! when a stream opens and one when it closes; streams bounded per reader;
//! a stream is not a call and a call is not a stream.

use std::time::Duration;

use ops_core::contract::LogEvent;
use ops_core::contract::log_stream::{self, LineSplitter, Output};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use serde_json::{Value, json};
use test_support::{docker, http_client, wait_for};

use crate::support::{ADMIN, Env, Options, STANDARD, replace};

const LOGS_STACK: &str = include_str!("../../../../testing/logs-stack/docker-compose.yml");

/// An open stream, read event by event.
struct Follow {
    response: reqwest::Response,
    split: LineSplitter,
    pending: std::collections::VecDeque<LogEvent>,
}

impl Follow {
    async fn next(&mut self, within: Duration) -> Option<LogEvent> {
        let deadline = tokio::time::Instant::now() + within;
        while self.pending.is_empty() {
            let chunk = tokio::time::timeout_at(deadline, self.response.chunk())
                .await
                .expect("an event in time")
                .expect("the stream reads");
            let chunk = chunk?;
            for line in self.split.push(&chunk) {
                self.pending
                    .push_back(LogEvent::parse(&line).expect("a log event"));
            }
        }
        self.pending.pop_front()
    }
}

/// `POST /chat/stream` as `who` (acting for `person` when given).
async fn open(
    env: &Env,
    who: &str,
    person: Option<&str>,
    tool: &str,
    args: &Value,
) -> reqwest::Response {
    let mut request = http_client()
        .post(env.url("/chat/stream"))
        .header(AUTHORIZATION, env.bearer(who))
        .header(CONTENT_TYPE, "application/json")
        .body(json!({ "tool": tool, "args": args }).to_string());
    if let Some(person) = person {
        request = request.header("X-On-Behalf-Of", person);
    }
    request.send().await.expect("the gateway answers")
}

async fn follow(env: &Env, who: &str, person: Option<&str>, service: &str) -> Follow {
    let response = open(
        env,
        who,
        person,
        "compose_logs_follow",
        &env.logs_args(service, 50),
    )
    .await;
    assert_eq!(response.status(), 200, "{:?}", response.text().await);
    assert_eq!(response.headers()[CONTENT_TYPE], log_stream::CONTENT_TYPE);
    Follow {
        response,
        split: LineSplitter::new(log_stream::MAX_EVENT_BYTES),
        pending: Default::default(),
    }
}

async fn refusal(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    (status, response.json().await.expect("a JSON refusal"))
}

async fn start_env(tag: &str, services: &[&str]) -> Env {
    Env::start(
        tag,
        services,
        Options {
            stack_yaml: Some(LOGS_STACK),
            adapted_config: true,
            ..Options::default()
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_followed_log_arrives_redacted_and_its_opening_and_closing_are_audited() {
    let env = start_env("gw-follow", &["talker"]).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut stream = follow(&env, STANDARD, None, "talker").await;

    let mut texts = Vec::new();
    let mut stderr_lines = 0;
    while texts
        .iter()
        .filter(|t: &&String| t.starts_with("line "))
        .count()
        < 8
    {
        match stream.next(Duration::from_secs(10)).await {
            Some(LogEvent::Line { text, stream, .. }) => {
                if stream == Output::Stderr {
                    stderr_lines += 1;
                }
                texts.push(text);
            }
            other => panic!("lines, not {other:?}"),
        }
    }
    let all = texts.join("\n");
    // The API key on every line and the key block's body (each line alone is
    // ordinary base64) are masked; the rest of the text stays readable.
    assert!(!all.contains("FAKEfollowKEY"), "{all}");
    assert!(!all.contains("FOLLOWkeyLINE"), "{all}");
    assert!(
        texts.contains(&"-----BEGIN RSA PRIVATE KEY-----".to_owned()),
        "{all}"
    );
    assert_eq!(texts[1], "[REDACTED]", "{all}");
    assert!(
        // The policy's own pattern masks `apikey=...` whole.
        texts.contains(&"line 3: polled the indexer, [REDACTED]".to_owned()),
        "{all}"
    );
    assert!(stderr_lines >= 1, "{all}");

    // The reader hangs up: the stream closes and says so in the audit log.
    drop(stream);
    let records = wait_for(
        "the stream's two records",
        Duration::from_secs(10),
        || async {
            let records = env.audit(ADMIN, "tool=compose_logs_follow").await;
            if records.len() >= 2 {
                Ok(records)
            } else {
                Err(format!("{records:?}"))
            }
        },
    )
    .await;
    assert_eq!(
        records.len(),
        2,
        "one when it opened, one when it closed: {records:#?}"
    );
    assert_eq!(records[0]["request_id"], records[1]["request_id"]);
    let reasons: Vec<&str> = records
        .iter()
        .filter_map(|r| r["reason"].as_str())
        .collect();
    assert!(reasons.contains(&"stream opened"), "{reasons:?}");
    let closed = reasons
        .iter()
        .find(|r| r.starts_with("stream closed after"))
        .unwrap_or_else(|| panic!("{reasons:?}"));
    assert!(closed.ends_with("the reader went away"), "{closed}");
    assert!(!closed.contains(" 0 secrets masked"), "{closed}");
    for record in &records {
        assert_eq!(record["principal"], STANDARD);
        assert_eq!(record["decision"], "executed");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_are_bounded_per_reader_end_with_their_container_and_are_not_calls() {
    let mut env = start_env("gw-follow-cap", &["talker", "quiet"]).await;

    // A stream is opened with /chat/stream, a call made with /chat/tool.
    let reply = env
        .call(ADMIN, "compose_logs_follow", &env.logs_args("quiet", 50))
        .await;
    assert_eq!(reply.body["code"], "not_a_stream", "{}", reply.body);
    reply.expect(400);
    let (status, body) = refusal(open(&env, ADMIN, None, "compose_ps", &env.ps_args()).await).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("not_a_stream")),
        "{body}"
    );
    // Arguments are checked as for any call.
    let (status, body) = refusal(
        open(
            &env,
            ADMIN,
            None,
            "compose_logs_follow",
            &json!({ "file": env.file(), "service": "../etc" }),
        )
        .await,
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("bad_args")),
        "{body}"
    );

    // Four at once per reader: the person a principal acts for, or the principal.
    let mut carol = Vec::new();
    for _ in 0..4 {
        carol.push(follow(&env, ADMIN, Some("carol"), "quiet").await);
    }
    let (status, body) = refusal(
        open(
            &env,
            ADMIN,
            Some("carol"),
            "compose_logs_follow",
            &env.logs_args("quiet", 50),
        )
        .await,
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (429, Some("too_many_streams")),
        "{body}"
    );
    let mut dave = follow(&env, ADMIN, Some("dave"), "talker").await;
    // One closed gives carol her place back.
    drop(carol.pop());
    wait_for(
        "carol's closed stream to give its place back",
        Duration::from_secs(5),
        || async {
            let response = open(
                &env,
                ADMIN,
                Some("carol"),
                "compose_logs_follow",
                &env.logs_args("quiet", 50),
            )
            .await;
            if response.status() == 200 {
                Ok(())
            } else {
                Err(response.status().to_string())
            }
        },
    )
    .await;

    // The container stops: the stream ends and says why.
    docker(&["stop", "-t", "2", &env.stack.container("talker")]);
    let reason = loop {
        match dave.next(Duration::from_secs(15)).await {
            Some(LogEvent::Line { .. } | LogEvent::Skipped { .. }) => {}
            Some(LogEvent::End { reason }) => break reason,
            None => panic!("the end is said before the stream closes"),
        }
    };
    assert_eq!(reason, "the container stopped");

    // A role the policy denies the tool gets nothing.
    let policy = replace(
        &env.policy_text(),
        "deny_tools: [\"compose_pull\", \"compose_up\"]",
        "deny_tools: [\"compose_pull\", \"compose_up\", \"compose_logs_follow\"]",
    );
    env.write_policy(&policy);
    env.restart_gateway().await;
    let (status, body) = refusal(
        open(
            &env,
            STANDARD,
            None,
            "compose_logs_follow",
            &env.logs_args("quiet", 50),
        )
        .await,
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("not_authorized")),
        "{body}"
    );
}
