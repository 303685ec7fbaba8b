//! A small MCP client over Streamable HTTP, speaking raw JSON-RPC as written in the
//! protocol texts (no SDK): `initialize`, then requests carrying `mcp-session-id` and
//! `MCP-Protocol-Version`, with answers as a JSON body or as server-sent events.
//! Extra headers (e.g. `Authorization`) go on every request.

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, HeaderMap};
use serde_json::{Value, json};

use crate::process::http_client;

const REPLY_TIMEOUT: Duration = Duration::from_secs(60);

/// The JSON-RPC messages of one HTTP response: a JSON body, or the `data:` of each
/// server-sent event.
#[derive(Debug)]
pub struct RpcResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub messages: Vec<Value>,
}

impl RpcResponse {
    /// The reply to request `id`; panics when there is none.
    pub fn reply_to(&self, id: i64) -> Value {
        self.messages
            .iter()
            .find(|m| m["id"] == id)
            .cloned()
            .unwrap_or_else(|| {
                panic!(
                    "no reply to request {id} (HTTP {}) in {:?}",
                    self.status, self.messages
                )
            })
    }
}

/// POSTs one JSON-RPC message to an MCP endpoint as a client must (accepting both
/// answer forms) and collects the JSON-RPC messages of the answer.
pub async fn post_mcp(url: &str, headers: &[(String, String)], message: &Value) -> RpcResponse {
    let mut request = http_client()
        .post(url)
        .header(CONTENT_TYPE, "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(message.to_string());
    for (name, value) in headers {
        request = request.header(name.as_str(), value.as_str());
    }
    let mut response = request
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {url}: {e}"));
    let status = response.status();
    let headers = response.headers().clone();
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let wanted = message.get("id").cloned();
    let mut messages = Vec::new();
    if content_type.starts_with("text/event-stream") {
        // Read events until the reply to our request arrives (the stream may stay open).
        let mut buffer = String::new();
        let read = async {
            while let Some(chunk) = response.chunk().await.expect("the event stream") {
                buffer.push_str(&String::from_utf8_lossy(&chunk));
                buffer = buffer.replace("\r\n", "\n");
                while let Some(end) = buffer.find("\n\n") {
                    let event: String = buffer.drain(..end + 2).collect();
                    let data: Vec<&str> = event
                        .lines()
                        .filter_map(|l| l.strip_prefix("data:"))
                        .map(|d| d.strip_prefix(' ').unwrap_or(d))
                        .collect();
                    if data.is_empty() || data.iter().all(|d| d.trim().is_empty()) {
                        continue; // priming or keep-alive event
                    }
                    let value: Value = serde_json::from_str(&data.join("\n")).unwrap_or_else(|e| {
                        panic!("an SSE event that is not JSON ({e}): {event:?}")
                    });
                    let done = wanted.is_some() && value.get("id") == wanted.as_ref();
                    messages.push(value);
                    if done {
                        return;
                    }
                }
            }
        };
        tokio::time::timeout(REPLY_TIMEOUT, read)
            .await
            .expect("the reply arrives on the event stream");
    } else {
        let text = response.text().await.unwrap_or_default();
        if !text.trim().is_empty() {
            match serde_json::from_str::<Value>(&text) {
                Ok(Value::Array(batch)) => messages.extend(batch),
                Ok(value) => messages.push(value),
                Err(_) => messages.push(Value::String(text)),
            }
        }
    }
    RpcResponse {
        status,
        headers,
        messages,
    }
}

/// The `initialize` request for `version`.
pub fn initialize_request(id: i64, version: &str) -> Value {
    json!({
        "jsonrpc": "2.0",
        "id": id,
        "method": "initialize",
        "params": {
            "protocolVersion": version,
            "capabilities": {},
            "clientInfo": { "name": "ops-copilot-tests", "version": "0" }
        }
    })
}

/// One MCP session over Streamable HTTP.
pub struct McpSession {
    url: String,
    extra_headers: Vec<(String, String)>,
    pub session_id: String,
    pub protocol_version: String,
    next_id: i64,
}

impl McpSession {
    /// `initialize` with this protocol version (and `extra_headers` on this and every
    /// later request), then `notifications/initialized`; returns the session and the
    /// `initialize` result.
    pub async fn open(
        url: &str,
        extra_headers: &[(String, String)],
        version: &str,
    ) -> (Self, Value) {
        let response = post_mcp(url, extra_headers, &initialize_request(1, version)).await;
        assert_eq!(
            response.status,
            StatusCode::OK,
            "initialize: {:?}",
            response.messages
        );
        let session_id = response
            .headers
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("no mcp-session-id header: {:?}", response.headers))
            .to_owned();
        let reply = response.reply_to(1);
        let result = reply
            .get("result")
            .cloned()
            .unwrap_or_else(|| panic!("initialize failed: {reply}"));
        let session = Self {
            url: url.to_owned(),
            extra_headers: extra_headers.to_vec(),
            session_id,
            protocol_version: version.to_owned(),
            next_id: 2,
        };
        let status = session.notify("notifications/initialized").await;
        assert!(
            status.is_success(),
            "notifications/initialized answered {status}"
        );
        (session, result)
    }

    fn headers(&self) -> Vec<(String, String)> {
        let mut headers = self.extra_headers.clone();
        headers.push(("mcp-session-id".into(), self.session_id.clone()));
        headers.push(("mcp-protocol-version".into(), self.protocol_version.clone()));
        headers
    }

    /// Sends a notification; returns the HTTP status.
    pub async fn notify(&self, method: &str) -> StatusCode {
        let message = json!({ "jsonrpc": "2.0", "method": method });
        post_mcp(&self.url, &self.headers(), &message).await.status
    }

    /// Sends a request; returns the JSON-RPC response object.
    pub async fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let message = json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params });
        let response = post_mcp(&self.url, &self.headers(), &message).await;
        assert_eq!(
            response.status,
            StatusCode::OK,
            "{method}: {:?}",
            response.messages
        );
        response.reply_to(id)
    }

    /// `tools/call` with this `_meta` (e.g. `{"progressToken": "p1"}`): the JSON-RPC
    /// response object, and the messages that came before it on the same answer
    /// (notifications: progress, logs), in order.
    pub async fn call_tool_with_meta(
        &mut self,
        name: &str,
        arguments: Value,
        meta: Value,
    ) -> (Value, Vec<Value>) {
        let id = self.next_id;
        self.next_id += 1;
        let message = json!({
            "jsonrpc": "2.0",
            "id": id,
            "method": "tools/call",
            "params": { "name": name, "arguments": arguments, "_meta": meta },
        });
        let response = post_mcp(&self.url, &self.headers(), &message).await;
        assert_eq!(
            response.status,
            StatusCode::OK,
            "tools/call: {:?}",
            response.messages
        );
        let reply = response.reply_to(id);
        let before = response
            .messages
            .into_iter()
            .filter(|m| m.get("id").is_none())
            .collect();
        (reply, before)
    }

    /// `tools/call`; returns the JSON-RPC response object.
    pub async fn call_tool(&mut self, name: &str, arguments: Value) -> Value {
        self.request(
            "tools/call",
            json!({ "name": name, "arguments": arguments }),
        )
        .await
    }

    /// The names from `tools/list` (one page).
    pub async fn tool_names(&mut self) -> Vec<String> {
        let reply = self.request("tools/list", json!({})).await;
        reply["result"]["tools"]
            .as_array()
            .unwrap_or_else(|| panic!("tools/list: {reply}"))
            .iter()
            .filter_map(|t| t["name"].as_str().map(str::to_owned))
            .collect()
    }
}

/// The text of every text block of a `tools/call` result, joined by newlines.
pub fn text_content(result: &Value) -> String {
    result["content"]
        .as_array()
        .map(|blocks| {
            blocks
                .iter()
                .filter(|b| b["type"] == "text")
                .filter_map(|b| b["text"].as_str())
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}
