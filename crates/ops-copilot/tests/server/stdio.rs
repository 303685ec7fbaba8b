//! MCP over stdio: newline-delimited JSON-RPC on stdout, logs on stderr only.

use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use test_support::{arr_compose_file, require_docker};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{ChildStdin, ChildStdout};

use test_support::mcp_http::text_content;

use crate::support::server_command;

const REPLY_TIMEOUT: Duration = Duration::from_secs(30);

struct StdioClient {
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
    /// Every line read from stdout, to check afterwards that all were JSON-RPC.
    seen: Vec<String>,
}

impl StdioClient {
    async fn send(&mut self, message: Value) {
        let mut line = message.to_string();
        line.push('\n');
        self.stdin
            .write_all(line.as_bytes())
            .await
            .expect("write to the server's stdin");
        self.stdin.flush().await.unwrap();
    }

    /// Reads stdout lines until the reply to `id`.
    async fn reply(&mut self, id: i64) -> Value {
        loop {
            let line = tokio::time::timeout(REPLY_TIMEOUT, self.stdout.next_line())
                .await
                .unwrap_or_else(|_| panic!("no reply to {id} within {REPLY_TIMEOUT:?}"))
                .expect("read stdout")
                .unwrap_or_else(|| panic!("stdout closed before the reply to {id}"));
            self.seen.push(line.clone());
            let value: Value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {line:?}"));
            if value["id"] == id {
                return value;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdio_speaks_newline_delimited_json_rpc_and_nothing_else_on_stdout() {
    require_docker();
    let file = arr_compose_file();
    let stderr_log = tempfile::NamedTempFile::new().unwrap();
    let mut command: tokio::process::Command = server_command(Some(&file), None).into();
    let mut child = command
        .arg("--stdio")
        // Plenty of logging, all of which must go to stderr.
        .env("LOG_LEVEL", "debug")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(stderr_log.reopen().unwrap())
        .kill_on_drop(true)
        .spawn()
        .expect("start the server with --stdio");
    let mut io = StdioClient {
        stdin: child.stdin.take().unwrap(),
        stdout: BufReader::new(child.stdout.take().unwrap()).lines(),
        seen: Vec::new(),
    };

    io.send(json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": { "name": "ops-copilot-tests", "version": "0" }
        }
    }))
    .await;
    let init = io.reply(1).await;
    assert_eq!(init["result"]["protocolVersion"], "2025-06-18", "{init}");
    assert_eq!(init["result"]["serverInfo"]["name"], "docker-mcp");
    io.send(json!({ "jsonrpc": "2.0", "method": "notifications/initialized" }))
        .await;

    io.send(json!({ "jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {} }))
        .await;
    let list = io.reply(2).await;
    let tools = list["result"]["tools"].as_array().expect("tools");
    assert_eq!(tools.len(), docker_mcp::ToolName::ALL.len(), "{list}");
    assert_eq!(tools.len(), 19, "twelve compose tools, seven Swarm: {list}");
    for tool in tools {
        assert!(tool["inputSchema"].is_object() && tool["outputSchema"].is_object());
        assert!(tool["annotations"]["readOnlyHint"].is_boolean(), "{tool}");
    }

    io.send(json!({
        "jsonrpc": "2.0", "id": 3, "method": "tools/call",
        "params": { "name": "docker_ps", "arguments": {} }
    }))
    .await;
    let ps = io.reply(3).await;
    let result = &ps["result"];
    assert_eq!(result["isError"], false, "{ps}");
    let count = result["structuredContent"]["count"]
        .as_u64()
        .expect("count");
    assert_eq!(
        result["structuredContent"]["containers"]
            .as_array()
            .map(|c| c.len() as u64),
        Some(count)
    );
    let text: Value = serde_json::from_str(&text_content(result)).unwrap();
    assert_eq!(text, result["structuredContent"]);

    io.send(json!({
        "jsonrpc": "2.0", "id": 4, "method": "tools/call",
        "params": { "name": "compose_logs", "arguments": { "file": file, "service": "sonarr", "tail": 9000 } }
    }))
    .await;
    let bad = io.reply(4).await;
    assert_eq!(bad["result"]["isError"], true, "{bad}");
    assert!(text_content(&bad["result"]).contains("tail"));

    io.send(json!({
        "jsonrpc": "2.0", "id": 5, "method": "tools/call",
        "params": { "name": "docker_exec", "arguments": {} }
    }))
    .await;
    assert_eq!(io.reply(5).await["error"]["code"], -32602);

    // Closing stdin ends the session and the process.
    drop(io.stdin);
    let mut rest = String::new();
    let mut stdout = io.stdout.into_inner();
    tokio::time::timeout(REPLY_TIMEOUT, stdout.read_to_string(&mut rest))
        .await
        .expect("stdout closes after stdin")
        .unwrap();
    let status = tokio::time::timeout(REPLY_TIMEOUT, child.wait())
        .await
        .expect("the server exits after stdin closes")
        .unwrap();
    assert!(status.success(), "exit status {status}");

    let all: Vec<String> = io
        .seen
        .into_iter()
        .chain(rest.lines().map(str::to_owned))
        .collect();
    for line in &all {
        let value: Value = serde_json::from_str(line).unwrap_or_else(|e| {
            panic!("stdout carries something other than JSON-RPC ({e}): {line:?}")
        });
        assert_eq!(value["jsonrpc"], "2.0", "{line}");
    }
    let stderr = std::fs::read_to_string(stderr_log.path()).unwrap();
    // The server does log (at debug, a lot): all of it went to stderr.
    assert!(
        stderr.contains("INFO") || stderr.contains("DEBUG"),
        "no logs on stderr: {stderr:?}"
    );
}
