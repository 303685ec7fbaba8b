//! Sequential latency of several targets, interleaved: round after round, one
//! request to each target in turn, so that a slow phase of the machine (another
//! build, a GC elsewhere) hits every target alike instead of one of them.
//!
//! A target is a plain HTTP request (the Engine's API, docker-mcp's REST form,
//! a gateway's `POST /chat/tool`), an MCP `tools/call` over Streamable HTTP
//! after the `initialize` handshake, or `fsync`: a 256-byte append to a file
//! in a directory and an fsync, the floor of one durable write there, timed in
//! the same rounds so that it sees the same disk. Each HTTP target has its own
//! keep-alive connection. A response counts as an error when its status is not 2xx, or,
//! for MCP, when it carries a JSON-RPC error or `isError: true`.
//!
//! A target may be timed `repeat` times per round (interleaved with the others:
//! the round makes `repeat` passes) and may send its requests with several
//! `header_sets` in turn (one cookie per person, say); `round_ms` makes every
//! round, warm-up included, start at least that long after the one before
//! (untimed sleep), for what a server keeps for a few seconds; `rotate` starts each
//! round one target further, so that no target always follows the same one.

use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::http::{Address, Connection, Response, build_request};

const MCP_PROTOCOL_VERSION: &str = "2025-06-18";

enum Kind {
    Http {
        /// One request per header set, sent in turn.
        requests: Vec<Vec<u8>>,
        next: usize,
    },
    Mcp {
        path: String,
        session: Option<String>,
        tool: String,
        args: Value,
        next_id: u64,
    },
    Fsync {
        path: PathBuf,
        file: File,
    },
}

struct Target {
    name: String,
    host: String,
    /// Requests timed per round.
    repeat: u64,
    connection: Connection,
    kind: Kind,
    samples: Vec<u64>,
    errors: u64,
    first_error: Option<String>,
    last_bytes: usize,
}

fn str_field<'a>(spec: &'a Value, key: &str) -> Result<&'a str, String> {
    spec[key]
        .as_str()
        .ok_or_else(|| format!("target {spec}: \"{key}\" must be a string"))
}

/// `{"Name": "value", ...}` as pairs: a target's `headers`, or one of its `header_sets`.
fn headers_of(headers: &Value) -> Vec<(String, String)> {
    headers
        .as_object()
        .map(|h| {
            h.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

impl Target {
    fn new(spec: &Value, timeout: Duration) -> Result<Self, String> {
        let name = str_field(spec, "name")?.to_owned();
        let address = Address::parse(spec["addr"].as_str().unwrap_or_default());
        let host = address.host_header().to_owned();
        let kind = match spec["kind"].as_str().unwrap_or("http") {
            "http" => {
                let method = spec["method"].as_str().unwrap_or("GET");
                let path = str_field(spec, "path")?;
                let body = match &spec["body"] {
                    Value::Null => None,
                    Value::String(raw) => Some(raw.clone().into_bytes()),
                    other => Some(other.to_string().into_bytes()),
                };
                let header_sets = match spec["header_sets"].as_array() {
                    Some(sets) if !sets.is_empty() => sets.iter().map(headers_of).collect(),
                    Some(_) => return Err(format!("target {name}: \"header_sets\" is empty")),
                    None => vec![headers_of(&spec["headers"])],
                };
                Kind::Http {
                    requests: header_sets
                        .iter()
                        .map(|headers| build_request(method, path, &host, headers, body.as_deref()))
                        .collect(),
                    next: 0,
                }
            }
            "fsync" => {
                let dir = PathBuf::from(str_field(spec, "dir")?);
                let path = dir.join(format!(".ops-bench-fsync-{}", std::process::id()));
                let file =
                    File::create(&path).map_err(|e| format!("{name}: {}: {e}", path.display()))?;
                Kind::Fsync { path, file }
            }
            "mcp" => Kind::Mcp {
                path: spec["path"].as_str().unwrap_or("/mcp").to_owned(),
                session: None,
                tool: str_field(spec, "tool")?.to_owned(),
                args: spec["args"].clone(),
                next_id: 1,
            },
            other => return Err(format!("target {name}: unknown kind {other:?}")),
        };
        let repeat = spec["repeat"].as_u64().unwrap_or(1).max(1);
        Ok(Self {
            name,
            host,
            repeat,
            connection: Connection::new(address, timeout),
            kind,
            samples: Vec::new(),
            errors: 0,
            first_error: None,
            last_bytes: 0,
        })
    }

    /// The MCP handshake (not timed).
    fn prepare(&mut self) -> Result<(), String> {
        let Kind::Mcp { path, session, .. } = &mut self.kind else {
            return Ok(());
        };
        let initialize = json!({
            "jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": {
                "protocolVersion": MCP_PROTOCOL_VERSION,
                "capabilities": {},
                "clientInfo": { "name": "ops-bench", "version": "0.1.0" }
            }
        });
        let response = self
            .connection
            .send(&mcp_request(path, &self.host, None, &initialize))
            .map_err(|e| format!("{}: initialize: {e}", self.name))?;
        if response.status != 200 {
            return Err(format!(
                "{}: initialize answered HTTP {}: {}",
                self.name,
                response.status,
                String::from_utf8_lossy(&response.body)
            ));
        }
        *session = response.header("mcp-session-id").map(str::to_owned);
        let initialized = json!({ "jsonrpc": "2.0", "method": "notifications/initialized" });
        let response = self
            .connection
            .send(&mcp_request(
                path,
                &self.host,
                session.as_deref(),
                &initialized,
            ))
            .map_err(|e| format!("{}: notifications/initialized: {e}", self.name))?;
        if !(200..300).contains(&response.status) {
            return Err(format!(
                "{}: notifications/initialized answered HTTP {}",
                self.name, response.status
            ));
        }
        Ok(())
    }

    /// One timed request; the check of the answer is not timed.
    fn once(&mut self, record: bool) {
        let (request, mcp_id) = match &mut self.kind {
            Kind::Fsync { file, .. } => {
                let started = Instant::now();
                let result = file.write_all(&[b'x'; 256]).and_then(|()| file.sync_all());
                let elapsed = started.elapsed();
                self.tally(record, elapsed, result.map_err(|e| format!("I/O: {e}")));
                return;
            }
            Kind::Http { requests, next } => {
                let request = requests[*next % requests.len()].clone();
                *next += 1;
                (request, None)
            }
            Kind::Mcp {
                path,
                session,
                tool,
                args,
                next_id,
            } => {
                let id = *next_id;
                *next_id += 1;
                let call = json!({
                    "jsonrpc": "2.0", "id": id, "method": "tools/call",
                    "params": { "name": tool, "arguments": args }
                });
                (
                    mcp_request(path, &self.host, session.as_deref(), &call),
                    Some(id),
                )
            }
        };
        let started = Instant::now();
        let result = self.connection.send(&request);
        let elapsed = started.elapsed();
        let verdict = match result {
            Ok(response) => {
                self.last_bytes = response.body.len();
                check(&response, mcp_id)
            }
            Err(error) => Err(format!("I/O: {error}")),
        };
        self.tally(record, elapsed, verdict);
    }

    fn tally(&mut self, record: bool, elapsed: Duration, verdict: Result<(), String>) {
        if !record {
            return;
        }
        match verdict {
            Ok(()) => self.samples.push(elapsed.as_nanos() as u64),
            Err(why) => {
                self.errors += 1;
                if self.first_error.is_none() {
                    self.first_error = Some(why);
                }
            }
        }
    }

    fn report(&mut self) -> Value {
        if let Kind::Fsync { path, .. } = &self.kind {
            let _ = std::fs::remove_file(path);
        }
        self.samples.sort_unstable();
        let s = &self.samples;
        let us = |ns: u64| (ns as f64 / 1000.0 * 10.0).round() / 10.0;
        let pct = |p: f64| {
            if s.is_empty() {
                Value::Null
            } else {
                // Nearest rank.
                let rank = ((p / 100.0) * s.len() as f64).ceil() as usize;
                json!(us(s[rank.clamp(1, s.len()) - 1]))
            }
        };
        let mean = if s.is_empty() {
            Value::Null
        } else {
            json!(us(s.iter().sum::<u64>() / s.len() as u64))
        };
        json!({
            "name": self.name,
            "n": s.len(),
            "errors": self.errors,
            "first_error": self.first_error,
            "p50_us": pct(50.0),
            "p90_us": pct(90.0),
            "p99_us": pct(99.0),
            "min_us": s.first().map(|&v| us(v)),
            "max_us": s.last().map(|&v| us(v)),
            "mean_us": mean,
            "response_bytes": self.last_bytes,
            "connects": self.connection.connects,
        })
    }
}

fn mcp_request(path: &str, host: &str, session: Option<&str>, message: &Value) -> Vec<u8> {
    let mut headers = vec![(
        "Accept".to_owned(),
        "application/json, text/event-stream".to_owned(),
    )];
    if let Some(session) = session {
        headers.push(("Mcp-Session-Id".to_owned(), session.to_owned()));
        headers.push((
            "MCP-Protocol-Version".to_owned(),
            MCP_PROTOCOL_VERSION.to_owned(),
        ));
    }
    let body = message.to_string();
    build_request("POST", path, host, &headers, Some(body.as_bytes()))
}

/// The JSON-RPC messages of an MCP answer: a JSON body or SSE `data:` events.
fn mcp_messages(response: &Response) -> Vec<Value> {
    let text = String::from_utf8_lossy(&response.body);
    let is_sse = response
        .header("content-type")
        .is_some_and(|t| t.starts_with("text/event-stream"));
    if !is_sse {
        return serde_json::from_str(&text).into_iter().collect();
    }
    let mut messages = Vec::new();
    let mut data = String::new();
    for line in text.lines().chain(std::iter::once("")) {
        if line.is_empty() {
            if let Ok(value) = serde_json::from_str::<Value>(&data) {
                messages.push(value);
            }
            data.clear();
        } else if let Some(rest) = line.strip_prefix("data:") {
            if !data.is_empty() {
                data.push('\n');
            }
            data.push_str(rest.strip_prefix(' ').unwrap_or(rest));
        }
    }
    messages
}

fn check(response: &Response, mcp_id: Option<u64>) -> Result<(), String> {
    let snippet =
        || String::from_utf8_lossy(&response.body[..response.body.len().min(300)]).into_owned();
    if !(200..300).contains(&response.status) {
        return Err(format!("HTTP {}: {}", response.status, snippet()));
    }
    let Some(id) = mcp_id else {
        return Ok(());
    };
    let messages = mcp_messages(response);
    let Some(answer) = messages.iter().find(|m| m["id"] == json!(id)) else {
        return Err(format!("no JSON-RPC answer with id {id}: {}", snippet()));
    };
    if !answer["error"].is_null() {
        return Err(format!("JSON-RPC error: {}", answer["error"]));
    }
    if answer["result"]["isError"] == json!(true) {
        return Err(format!("tool error: {}", answer["result"]["content"]));
    }
    Ok(())
}

/// One round: `repeat` passes, each target timed in the passes up to its own
/// `repeat`, starting with the target at `first` (rotated rounds: no target always
/// follows the same one).
fn round(targets: &mut [Target], record: bool, first: usize) {
    let passes = targets.iter().map(|t| t.repeat).max().unwrap_or(1);
    let count = targets.len();
    for pass in 0..passes {
        for i in 0..count {
            let target = &mut targets[(first + i) % count];
            if target.repeat > pass {
                target.once(record);
            }
        }
    }
}

/// Sleeps until `period` after `round_started` (nothing when `period` is zero).
fn pace(round_started: Instant, period: Duration) {
    if let Some(left) = period.checked_sub(round_started.elapsed()) {
        std::thread::sleep(left);
    }
}

/// Runs the spec: `{"requests", "warmup", "max_seconds", "timeout_ms", "round_ms",
/// "rotate", "targets": [...]}` (`requests` and `warmup` count rounds; with `rotate`
/// each round starts one target further).
pub fn run(spec: &Value) -> Result<Value, String> {
    let requests = spec["requests"].as_u64().unwrap_or(1000);
    let warmup = spec["warmup"].as_u64().unwrap_or(50);
    let max_seconds = spec["max_seconds"].as_f64().unwrap_or(60.0);
    let period = Duration::from_millis(spec["round_ms"].as_u64().unwrap_or(0));
    let rotate = spec["rotate"].as_bool().unwrap_or(false);
    let timeout = Duration::from_millis(spec["timeout_ms"].as_u64().unwrap_or(10_000));
    let mut targets = spec["targets"]
        .as_array()
        .ok_or("the spec needs a \"targets\" array")?
        .iter()
        .map(|t| Target::new(t, timeout))
        .collect::<Result<Vec<_>, _>>()?;
    for target in &mut targets {
        target.prepare()?;
    }
    let first = |round: u64| if rotate { round as usize } else { 0 };
    for n in 0..warmup {
        let round_started = Instant::now();
        round(&mut targets, false, first(n));
        pace(round_started, period);
    }
    let started = Instant::now();
    let deadline = Duration::from_secs_f64(max_seconds);
    let mut rounds = 0;
    while rounds < requests && started.elapsed() < deadline {
        let round_started = Instant::now();
        round(&mut targets, true, first(rounds));
        rounds += 1;
        if rounds < requests {
            pace(round_started, period);
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    Ok(json!({
        "rounds": rounds,
        "requested_rounds": requests,
        "time_capped": rounds < requests,
        "seconds": (elapsed * 1000.0).round() / 1000.0,
        "targets": targets.iter_mut().map(Target::report).collect::<Vec<_>>(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(content_type: &str, body: &str) -> Response {
        Response {
            status: 200,
            headers: vec![("content-type".into(), content_type.into())],
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn finds_the_answer_in_sse_and_json() {
        let sse = response(
            "text/event-stream",
            "id: 0\nretry: 3000\ndata: \n\ndata: {\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{\"isError\":false}}\n\n",
        );
        assert_eq!(check(&sse, Some(7)), Ok(()));
        assert!(check(&sse, Some(8)).is_err());
        let failed = response(
            "application/json",
            "{\"jsonrpc\":\"2.0\",\"id\":3,\"result\":{\"isError\":true,\"content\":[]}}",
        );
        assert!(
            check(&failed, Some(3))
                .unwrap_err()
                .starts_with("tool error")
        );
        let rpc_error = response(
            "application/json",
            "{\"jsonrpc\":\"2.0\",\"id\":3,\"error\":{\"code\":-32602}}",
        );
        assert!(check(&rpc_error, Some(3)).is_err());
    }

    #[test]
    fn times_fsync_targets() {
        let dir = tempfile_dir();
        let spec = json!({
            "requests": 3, "warmup": 1,
            "targets": [{ "name": "disk", "kind": "fsync", "dir": dir.to_str().unwrap() }]
        });
        let report = run(&spec).unwrap();
        let disk = &report["targets"][0];
        assert_eq!(disk["n"], 3, "{report}");
        assert_eq!(disk["errors"], 0, "{report}");
        assert_eq!(
            std::fs::read_dir(&dir).unwrap().count(),
            0,
            "the file is removed"
        );
        std::fs::remove_dir(&dir).unwrap();
    }

    #[test]
    fn repeats_targets_within_a_round_and_paces_rounds() {
        let dir = std::env::temp_dir().join(format!("ops-bench-paced-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let spec = json!({
            "requests": 3, "warmup": 1, "round_ms": 40,
            "targets": [
                { "name": "once", "kind": "fsync", "dir": dir.to_str().unwrap() },
                { "name": "thrice", "kind": "fsync", "dir": dir.to_str().unwrap(), "repeat": 3 }
            ]
        });
        let started = Instant::now();
        let report = run(&spec).unwrap();
        // Warm-up and two paced rounds wait; the last round does not.
        assert!(started.elapsed() >= Duration::from_millis(120), "{report}");
        assert_eq!(report["targets"][0]["n"], 3, "{report}");
        assert_eq!(report["targets"][1]["n"], 9, "{report}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn tempfile_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("ops-bench-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn non_2xx_is_an_error() {
        let mut r = response("application/json", "{}");
        r.status = 502;
        assert!(check(&r, None).is_err());
        r.status = 200;
        assert_eq!(check(&r, None), Ok(()));
    }
}
