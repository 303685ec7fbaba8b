//! Redaction measured end to end, per output channel (issue 11, item 1): the whole
//! redaction corpus (`redact::corpus`: planted secrets and ordinary lines) is printed
//! by real containers, then read back through every channel a person or a model sees:
//!
//! - `gateway`: the gateway's answer to `POST /chat/tool` compose_logs;
//! - `mcp_structured` / `mcp_text`: the gateway's `/mcp` tools/call compose_logs,
//!   its `structuredContent` and its text content;
//! - `web_api`: pi-health's `GET /api/containers?logs=SERVICE` (what the page shows);
//! - `chat`: pi-health's chat answer to "show me SERVICE's logs" (built-in planner);
//! - `model`: what pi-health sends an OpenAI-compatible model (a stand-in endpoint
//!   that records every request) after it asked for the logs;
//! - `model_answer`: the chat's answer when that model answers, whose own words
//!   repeat the batch's raw secrets (its text must be masked too);
//! - `audit`: `GET /audit` and the raw `audit.db` files, after every planted line was
//!   also sent to the gateway as a tool name, an argument key and an argument value.
//!
//! A kind leaks on a channel when any of its secret strings is there (raw, JSON- or
//! HTML-escaped). A benign line is a false positive when it came back changed. The
//! test prints a table (channel x caught/planted, items read back, false-positive
//! rate), and fails on any leak, on any planted line or case not read back (so it
//! cannot pass by reading nothing) and on a false-positive rate above the unit corpus
//! test's bound.
//! Run with `--nocapture` to see the table.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::routing::post;
use redact::corpus::{self, Case, MAX_FALSE_POSITIVE_RATE};
use serde_json::{Value, json};
use test_support::mcp_http::text_content;
use test_support::{Stack, arr_image};

use crate::gateway_support::{ADMIN, Env, Options};
use crate::support::{ALICE, Browser, PiHealth, gateway_token};

/// What pi-health gives a model of one tool's output is capped at 6 KiB of JSON
/// (`llm::untrusted`); a batch stays well under it, so every line is really sent.
const MAX_BATCH_BYTES: usize = 4 * 1024;
/// The chat shows the last 100 lines of a 100-line tail; a batch stays under it.
const MAX_BATCH_LINES: usize = 80;
/// Within docker-mcp's bounds (50..=500) and above any batch.
const TAIL: u64 = 500;
const MODEL: &str = "stand-in-model:1b";

/// One planted item: a secret case (one or more lines, then a line that marks its
/// end) or one ordinary line; by index into the corpus.
#[derive(Clone, Copy)]
enum Item {
    Secret(usize),
    Benign(usize),
}

/// The line printed after a secret case, so that a case is known to have been read
/// even when redaction joins its lines (a PEM block becomes one `[REDACTED]`). Its
/// words are base64, as most words are: a PEM block cut before its END line must
/// not take it (or the next case) with it.
fn case_end(case: &Case) -> String {
    format!("corpus case {} ends", case.line_no)
}

/// One service of the planted stack: what its container prints between two markers.
struct Batch {
    service: String,
    items: Vec<Item>,
}

impl Batch {
    fn begin(&self) -> String {
        format!("corpus {} begins", self.service)
    }

    fn end(&self) -> String {
        format!("corpus {} ends", self.service)
    }

    fn file_text(&self, cases: &[Case], benign: &[(usize, &str)]) -> String {
        let mut text = format!("{}\n", self.begin());
        for item in &self.items {
            text.push_str(&item_text(*item, cases, benign));
        }
        text.push_str(&self.end());
        text.push('\n');
        text
    }
}

/// The lines an item prints, each ending in a newline.
fn item_text(item: Item, cases: &[Case], benign: &[(usize, &str)]) -> String {
    match item {
        Item::Secret(i) => format!("{}\n{}\n", cases[i].text, case_end(&cases[i])),
        Item::Benign(i) => format!("{}\n", benign[i].1),
    }
}

/// The corpus cut into batches small enough for every channel to carry whole.
fn batches(cases: &[Case], benign: &[(usize, &str)]) -> Vec<Batch> {
    let items = (0..cases.len())
        .map(Item::Secret)
        .chain((0..benign.len()).map(Item::Benign));
    let mut batches: Vec<Batch> = Vec::new();
    let (mut bytes, mut lines) = (0, 0);
    for item in items {
        let text = item_text(item, cases, benign);
        let item_lines = text.lines().count();
        let fits = !batches.is_empty()
            && bytes + text.len() <= MAX_BATCH_BYTES
            && lines + item_lines <= MAX_BATCH_LINES;
        if !fits {
            batches.push(Batch {
                service: format!("corpus{}", batches.len()),
                items: Vec::new(),
            });
            (bytes, lines) = (0, 0);
        }
        bytes += text.len();
        lines += item_lines;
        if let Some(batch) = batches.last_mut() {
            batch.items.push(item);
        }
    }
    batches
}

/// A compose file with one busybox container per batch that prints its file once.
fn compose_yaml(batches: &[Batch]) -> String {
    let image = arr_image("sonarr");
    let mut yaml = String::from("services:\n");
    for batch in batches {
        let service = &batch.service;
        yaml.push_str(&format!(
            r#"  {service}:
    image: {image}
    command: ["/bin/sh", "-c", "cat /corpus.txt; exec sleep 3600"]
    volumes: ["./{service}.txt:/corpus.txt:ro"]
    stop_grace_period: 1s
    labels:
      org.ops-copilot.test: "arr-stack"
      org.ops-copilot.test-run: "${{OPS_TEST_RUN_ID:-manual}}"
"#
        ));
    }
    yaml
}

/// What one channel gave back for one batch: the log text it carries (decoded from
/// its JSON or HTML), and everything it sent, as sent (searched for secrets).
struct Seen {
    logs: Option<String>,
    whole: String,
}

/// Per channel: the counts of the table, and what went wrong.
#[derive(Default)]
struct Tally {
    caught: usize,
    planted: usize,
    /// Secret cases and ordinary lines read back, and planted.
    items_read: usize,
    items_planted: usize,
    benign_changed: usize,
    benign_planted: usize,
    problems: Vec<String>,
}

impl Tally {
    /// Reads the items of `batch` back from `seen.logs`, in order between the
    /// markers: an ordinary line must come back as one line (a false positive when
    /// it differs), a secret case as at least one line before its end marker.
    fn read_back(
        &mut self,
        channel: &str,
        batch: &Batch,
        seen: &Seen,
        (cases, benign): (&[Case], &[(usize, &str)]),
    ) {
        let Some(logs) = &seen.logs else {
            self.problems
                .push(format!("{channel} {}: no logs came back", batch.service));
            return;
        };
        let lines: Vec<&str> = logs.lines().collect();
        let begin = lines.iter().position(|l| *l == batch.begin());
        let end = lines.iter().position(|l| *l == batch.end());
        let (Some(begin), Some(end)) = (begin, end) else {
            self.problems.push(format!(
                "{channel} {}: the batch markers are not in what came back:\n{logs}",
                batch.service
            ));
            return;
        };
        let back = lines.get(begin + 1..end).unwrap_or_default();
        self.items_planted += batch.items.len();
        let mut at = 0;
        for item in &batch.items {
            match *item {
                Item::Benign(i) => {
                    self.benign_planted += 1;
                    let Some(got) = back.get(at) else { break };
                    at += 1;
                    self.items_read += 1;
                    if *got != benign[i].1 {
                        self.benign_changed += 1;
                        self.problems.push(format!(
                            "{channel}: benign.txt:{} changed: {got:?}",
                            benign[i].0
                        ));
                    }
                }
                Item::Secret(i) => {
                    let marker = case_end(&cases[i]);
                    let Some(lines) = back[at..].iter().position(|l| *l == marker) else {
                        break;
                    };
                    at += lines + 1;
                    if lines > 0 {
                        self.items_read += 1;
                    }
                }
            }
        }
        if at != back.len() {
            self.problems.push(format!(
                "{channel} {}: {} lines came back; they do not read as the {} items planted:\n{}",
                batch.service,
                back.len(),
                batch.items.len(),
                back.join("\n")
            ));
        }
    }

    /// Counts the cases whose secrets are absent from `whole`.
    fn check_secrets<'a>(
        &mut self,
        channel: &str,
        cases: impl Iterator<Item = &'a Case>,
        whole: &str,
    ) {
        for case in cases {
            self.planted += 1;
            let leaked = case.leaked_in(whole);
            if leaked.is_empty() {
                self.caught += 1;
            } else {
                self.problems.push(format!(
                    "{channel}: secrets.txt:{} {} leaked {leaked:?}",
                    case.line_no, case.kind
                ));
            }
        }
    }

    fn false_positive_rate(&self) -> f64 {
        if self.benign_planted == 0 {
            return 0.0;
        }
        self.benign_changed as f64 / self.benign_planted as f64
    }
}

/// The cases planted in `batch`.
fn cases_of<'a>(batch: &Batch, cases: &'a [Case]) -> Vec<&'a Case> {
    batch
        .items
        .iter()
        .filter_map(|item| match item {
            Item::Secret(i) => Some(&cases[*i]),
            Item::Benign(_) => None,
        })
        .collect()
}

/// The text of the chat's `<pre class="logs">` block, its HTML entities decoded.
fn chat_logs(content: &str) -> Option<String> {
    let start = content.find("<pre class=\"logs\">")? + "<pre class=\"logs\">".len();
    let end = start + content[start..].find("</pre>")?;
    let decoded = content[start..end]
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&amp;", "&");
    Some(decoded)
}

/// The JSON a model was given between the untrusted-output markers, its `logs`.
fn model_logs(tool_message: &str) -> Option<String> {
    let start = tool_message.find(">>>\n")? + ">>>\n".len();
    let end = start + tool_message[start..].find("\n<<<END UNTRUSTED TOOL OUTPUT")?;
    let data: Value = serde_json::from_str(&tool_message[start..end]).ok()?;
    data["logs"].as_str().map(str::to_owned)
}

type ModelRequests = Arc<Mutex<Vec<Value>>>;

/// A stand-in OpenAI-compatible model: asked about `corpusN`, it calls compose_logs
/// for it; given the logs, it answers in words that repeat `own_words[corpusN]` (the
/// batch's raw secrets: a model may know or guess a secret, and its own text must be
/// masked too). Records every request.
async fn stand_in_model(own_words: BTreeMap<String, String>) -> (String, ModelRequests) {
    let own_words = Arc::new(own_words);
    let seen: ModelRequests = Arc::default();
    let log = seen.clone();
    let app = axum::Router::new().route(
        "/v1/chat/completions",
        post(move |Json(body): Json<Value>| {
            let (log, own_words) = (log.clone(), own_words.clone());
            async move {
                let messages = body["messages"].as_array().cloned().unwrap_or_default();
                let asked = messages
                    .iter()
                    .rev()
                    .find(|m| m["role"] == "user")
                    .and_then(|m| m["content"].as_str())
                    .and_then(|c| c.split_whitespace().find(|w| w.starts_with("corpus")))
                    .map(|w| w.trim_end_matches("'s").to_owned())
                    .unwrap_or_default();
                let has_tool_output = messages.iter().any(|m| m["role"] == "tool");
                log.lock().unwrap().push(body);
                let message = if has_tool_output {
                    let words = own_words.get(&asked).cloned().unwrap_or_default();
                    json!({"role": "assistant", "content": format!("Those are the corpus lines.\n{words}")})
                } else {
                    json!({"role": "assistant", "content": null, "tool_calls": [{
                        "id": "call_logs", "type": "function",
                        "function": {"name": "compose_logs",
                            "arguments": json!({"service": asked, "tail": TAIL}).to_string()}
                    }]})
                };
                Json(
                    json!({"id": "chatcmpl-1", "object": "chat.completion", "model": MODEL,
                    "choices": [{"index": 0, "message": message, "finish_reason": "stop"}]}),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/v1", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, seen)
}

/// Every column of every row of the audit store, and the raw bytes of its files
/// (the database and any write-ahead log), as text.
fn audit_store_text(data_dir: &std::path::Path) -> String {
    let path = data_dir.join("audit.db");
    let db = rusqlite::Connection::open(&path).unwrap();
    let mut statement = db.prepare("SELECT * FROM audit_log").unwrap();
    let columns = statement.column_count();
    let mut text = String::new();
    let mut rows = statement.query([]).unwrap();
    while let Some(row) = rows.next().unwrap() {
        for i in 0..columns {
            let value = row.get_ref(i).unwrap();
            match value {
                rusqlite::types::ValueRef::Text(t) | rusqlite::types::ValueRef::Blob(t) => {
                    text.push_str(&String::from_utf8_lossy(t))
                }
                other => text.push_str(&format!("{other:?}")),
            }
            text.push('\t');
        }
        text.push('\n');
    }
    for entry in std::fs::read_dir(data_dir).unwrap().flatten() {
        if entry.file_name().to_string_lossy().starts_with("audit.db") {
            let bytes = std::fs::read(entry.path()).unwrap_or_default();
            text.push_str(&String::from_utf8_lossy(&bytes));
        }
    }
    text
}

/// The logs (and whole answer) of one batch through each channel but the audit.
struct Channels<'a> {
    env: &'a Env,
    mcp: test_support::mcp_http::McpSession,
    web: Browser,
    model_chat: Browser,
    model_seen: ModelRequests,
}

impl Channels<'_> {
    async fn read(&mut self, channel: &str, service: &str) -> Seen {
        let args = self.env.logs_args(service, TAIL);
        match channel {
            "gateway" => {
                let reply = self.env.call(ADMIN, "compose_logs", &args).await;
                let body = reply.expect(200);
                Seen {
                    logs: body["result"]["logs"].as_str().map(str::to_owned),
                    whole: body.to_string(),
                }
            }
            "mcp_structured" => {
                let reply = self.mcp.call_tool("compose_logs", args).await;
                let structured = &reply["result"]["structuredContent"];
                Seen {
                    logs: structured["logs"].as_str().map(str::to_owned),
                    whole: structured.to_string(),
                }
            }
            "mcp_text" => {
                let reply = self.mcp.call_tool("compose_logs", args).await;
                let text = text_content(&reply["result"]);
                let parsed: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                Seen {
                    logs: parsed["logs"].as_str().map(str::to_owned),
                    whole: text,
                }
            }
            "web_api" => {
                let reply = self
                    .web
                    .get(&format!("/api/containers?logs={service}&tail={TAIL}"))
                    .await;
                let body = reply.expect(200);
                Seen {
                    logs: body["logs"]["logs"].as_str().map(str::to_owned),
                    whole: body.to_string(),
                }
            }
            "chat" => {
                let reply = self.web.chat(&format!("show me {service}'s logs")).await;
                Seen {
                    logs: chat_logs(reply.content()),
                    whole: reply.body.to_string(),
                }
            }
            "model" => {
                self.model_seen.lock().unwrap().clear();
                let reply = self
                    .model_chat
                    .chat(&format!("show me {service}'s logs"))
                    .await;
                let requests = self.model_seen.lock().unwrap().clone();
                let tool_output = requests
                    .iter()
                    .flat_map(|r| r["messages"].as_array().cloned().unwrap_or_default())
                    .filter(|m| m["role"] == "tool")
                    .filter_map(|m| m["content"].as_str().map(str::to_owned))
                    .next()
                    .unwrap_or_else(|| {
                        panic!(
                            "the model was given no tool output: {requests:?}\n{}",
                            reply.body
                        )
                    });
                Seen {
                    logs: model_logs(&tool_output),
                    whole: Value::from(requests).to_string(),
                }
            }
            "model_answer" => {
                let reply = self
                    .model_chat
                    .chat(&format!("show me {service}'s logs"))
                    .await;
                // The model's own words reached the page (masked), or this proves nothing.
                assert!(
                    reply.content().contains("Those are the corpus lines."),
                    "{}",
                    reply.body
                );
                Seen {
                    logs: chat_logs(reply.content()),
                    whole: reply.body.to_string(),
                }
            }
            other => panic!("no channel {other}"),
        }
    }
}

const READ_CHANNELS: [&str; 7] = [
    "gateway",
    "mcp_structured",
    "mcp_text",
    "web_api",
    "chat",
    "model",
    "model_answer",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_output_channel_masks_the_whole_corpus_and_keeps_ordinary_lines() {
    let cases = corpus::cases().unwrap_or_else(|e| panic!("{e}"));
    let benign = corpus::benign_lines();
    assert!(
        cases.len() >= 100 && benign.len() >= 300,
        "the corpus shrank"
    );
    let batches = batches(&cases, &benign);

    // The planted stack: one container per batch, each printing its file once.
    let stack = Stack::from_yaml("redaction", &compose_yaml(&batches));
    for batch in &batches {
        std::fs::write(
            stack.dir().join(format!("{}.txt", batch.service)),
            batch.file_text(&cases, &benign),
        )
        .unwrap();
    }
    let env = Env::start_on(stack, &[], Options::default()).await;
    let online = gateway_token(&env, "admin").await;
    let web_app = PiHealth::start(env.stack.file(), Some(&online), &[], false).await;
    let own_words = batches
        .iter()
        .map(|b| {
            let texts: Vec<&str> = cases_of(b, &cases)
                .iter()
                .map(|c| c.text.as_str())
                .collect();
            (b.service.clone(), texts.join("\n"))
        })
        .collect();
    let (model_base, model_seen) = stand_in_model(own_words).await;
    let model_app = PiHealth::start(
        env.stack.file(),
        Some(&online),
        &[
            ("OPS_COPILOT_LLM_BASE_URL", model_base.as_str()),
            ("OPS_COPILOT_LLM_MODEL", MODEL),
            ("OPS_COPILOT_LLM_TIMEOUT", "30"),
        ],
        false,
    )
    .await;
    let mut channels = Channels {
        env: &env,
        mcp: env.mcp_session(ADMIN).await,
        web: web_app.sign_in(ALICE).await,
        model_chat: model_app.sign_in(ALICE).await,
        model_seen,
    };

    // Every container has printed its whole file before anything is measured.
    for batch in &batches {
        let service = batch.service.clone();
        let end = batch.end();
        let env = &env;
        test_support::wait_for(
            &format!("{service} to print its corpus"),
            std::time::Duration::from_secs(30),
            || {
                let (service, end) = (service.clone(), end.clone());
                async move {
                    let reply = env
                        .call(ADMIN, "compose_logs", &env.logs_args(&service, TAIL))
                        .await;
                    let logs = reply.body["result"]["logs"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned();
                    if logs.contains(&end) {
                        Ok(())
                    } else {
                        Err(reply.body.to_string())
                    }
                }
            },
        )
        .await;
    }

    let mut tallies: BTreeMap<&str, Tally> = BTreeMap::new();
    for batch in &batches {
        let planted = cases_of(batch, &cases);
        for channel in READ_CHANNELS {
            let seen = channels.read(channel, &batch.service).await;
            let tally = tallies.entry(channel).or_default();
            tally.read_back(channel, batch, &seen, (&cases, &benign));
            let everything = format!(
                "{}\n{}",
                seen.whole,
                seen.logs.as_deref().unwrap_or_default()
            );
            tally.check_secrets(channel, planted.iter().copied(), &everything);
        }
    }

    // The audit: every planted line also went to the gateway as a tool name, an
    // argument key and an argument value (refused: no such tool), then every
    // record is read back through the API and straight from the store's files.
    let newest_seq = |records: &[Value]| records.iter().filter_map(|r| r["seq"].as_u64()).max();
    let before = newest_seq(&env.audit(ADMIN, "").await).unwrap_or(0);
    for case in &cases {
        let reply = env
            .chat_tool(
                ADMIN,
                &json!({"tool": case.text, "args": {case.text.clone(): case.text}}),
            )
            .await;
        assert!(reply.status.is_client_error(), "{:?}", reply.body);
    }
    // Every record, page by page (newest first, `before` the oldest seen).
    let mut records: Vec<Value> = Vec::new();
    let mut query = String::new();
    loop {
        let page = env.audit(ADMIN, &query).await;
        let oldest = page.iter().filter_map(|r| r["seq"].as_u64()).min();
        records.extend(page);
        match oldest {
            Some(seq) if seq > 1 => query = format!("before={seq}"),
            _ => break,
        }
    }
    let audit_text = format!(
        "{}\n{}",
        Value::from(records.clone()),
        audit_store_text(&env.data_dir)
    );
    let audit = tallies.entry("audit").or_default();
    audit.items_planted = cases.len();
    let planted_records = records
        .iter()
        .filter(|r| r["seq"].as_u64().is_some_and(|seq| seq > before))
        .count();
    audit.items_read = planted_records.min(cases.len());
    if planted_records < cases.len() {
        audit.problems.push(format!(
            "audit: {planted_records} records for {} planted requests",
            cases.len()
        ));
    }
    audit.check_secrets("audit", cases.iter(), &audit_text);

    eprintln!(
        "\nredaction end to end: {} cases ({} kinds) and {} ordinary lines in {} containers",
        cases.len(),
        {
            let mut kinds: Vec<&str> = cases.iter().map(|c| c.kind.as_str()).collect();
            kinds.sort_unstable();
            kinds.dedup();
            kinds.len()
        },
        benign.len(),
        batches.len()
    );
    eprintln!(
        "{:<15} {:>15} {:>13} {:>18}",
        "channel", "caught/planted", "read back", "false positives"
    );
    let mut failures = Vec::new();
    for channel in READ_CHANNELS.iter().chain(["audit"].iter()) {
        let Some(t) = tallies.get(channel) else {
            continue;
        };
        let fp = if *channel == "audit" {
            "-".to_owned()
        } else {
            format!(
                "{}/{} ({:.2}%)",
                t.benign_changed,
                t.benign_planted,
                t.false_positive_rate() * 100.0
            )
        };
        eprintln!(
            "{channel:<15} {:>15} {:>13} {fp:>18}",
            format!("{}/{}", t.caught, t.planted),
            format!("{}/{}", t.items_read, t.items_planted),
        );
        let over = t.false_positive_rate() > MAX_FALSE_POSITIVE_RATE;
        let fatal = t.caught != t.planted || t.items_read != t.items_planted || over;
        if fatal || !t.problems.is_empty() {
            for problem in &t.problems {
                eprintln!("    {problem}");
            }
        }
        if fatal {
            failures.push(*channel);
        }
        assert!(
            t.planted >= cases.len(),
            "{channel}: {} cases checked",
            t.planted
        );
    }
    assert!(
        failures.is_empty(),
        "leaks, unread lines or too many false positives (over {:.0}%) on {failures:?}",
        MAX_FALSE_POSITIVE_RATE * 100.0
    );
}
