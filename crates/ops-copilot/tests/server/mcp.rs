//! MCP over Streamable HTTP at /mcp, as raw JSON-RPC.

use std::collections::BTreeSet;

use reqwest::StatusCode;
use serde_json::{Value, json};
use test_support::Stack;

use test_support::mcp_http::{McpSession, initialize_request, post_mcp, text_content};

use crate::support::Server;

const TOOLS: [&str; 19] = [
    "docker_ps",
    "compose_ps",
    "compose_logs",
    "compose_diagnose",
    "compose_stats",
    "compose_restart",
    "compose_start",
    "compose_stop",
    "compose_updates",
    "compose_update",
    "compose_pull",
    "compose_up",
    "swarm_services",
    "swarm_tasks",
    "swarm_logs",
    "swarm_nodes",
    "swarm_diagnose",
    "swarm_restart",
    "swarm_scale",
];

/// The annotations each tool must carry: (read-only, destructive, idempotent).
fn expected_hints(tool: &str) -> (bool, bool, bool) {
    match tool {
        "docker_ps" | "compose_ps" | "compose_logs" | "compose_diagnose" | "compose_stats"
        | "compose_updates" => (true, false, true),
        "compose_restart" => (false, false, false),
        "compose_start" => (false, false, true),
        "compose_stop" => (false, true, true),
        "compose_pull" => (false, false, true),
        "compose_up" | "compose_update" => (false, true, true),
        "swarm_services" | "swarm_tasks" | "swarm_logs" | "swarm_nodes" | "swarm_diagnose" => {
            (true, false, true)
        }
        "swarm_restart" => (false, false, false),
        "swarm_scale" => (false, true, true),
        other => panic!("unexpected tool {other}"),
    }
}

fn check_tool_list(tools: &[Value], file: &str) {
    let names: BTreeSet<&str> = tools.iter().filter_map(|t| t["name"].as_str()).collect();
    assert_eq!(
        names,
        TOOLS.into_iter().collect(),
        "the nineteen tools (twelve compose, seven Swarm)"
    );
    assert_eq!(tools.len(), TOOLS.len());
    for tool in tools {
        let name = tool["name"].as_str().unwrap();
        let description = tool["description"].as_str().unwrap_or_default();
        assert!(
            !description.is_empty() && !description.contains('\n'),
            "{name}: a one-line description"
        );
        let input = &tool["inputSchema"];
        assert_eq!(input["type"], "object", "{name}");
        assert_eq!(input["additionalProperties"], false, "{name}");
        if name == "swarm_nodes" {
            assert!(input["properties"].is_null(), "{name}: no arguments");
        } else if name.starts_with("swarm_") {
            // Pinned to docker-mcp's default stack, as the adapted policy pins it.
            assert_eq!(input["properties"]["stack"]["const"], "media", "{name}");
            assert!(input["properties"]["file"].is_null(), "{name}");
        } else if name != "docker_ps" {
            assert_eq!(input["properties"]["file"]["const"], file, "{name}");
            assert!(
                input["required"]
                    .as_array()
                    .is_some_and(|r| r.contains(&json!("file"))),
                "{name}"
            );
        }
        if [
            "compose_logs",
            "compose_diagnose",
            "compose_restart",
            "compose_start",
            "compose_stop",
        ]
        .contains(&name)
        {
            assert_eq!(
                input["properties"]["service"]["pattern"], "^[a-zA-Z0-9_-]{1,32}$",
                "{name}"
            );
            assert!(
                input["required"]
                    .as_array()
                    .unwrap()
                    .contains(&json!("service"))
            );
        }
        if name == "swarm_scale" {
            assert_eq!(input["properties"]["replicas"]["minimum"], 0);
            assert_eq!(
                input["properties"]["replicas"]["maximum"],
                docker_mcp::SWARM_MAX_REPLICAS
            );
        }
        if name == "compose_logs" || name == "swarm_logs" {
            assert_eq!(input["properties"]["tail"]["minimum"], 50);
            assert_eq!(input["properties"]["tail"]["maximum"], 500);
        }
        assert_eq!(tool["outputSchema"]["type"], "object", "{name}");
        let (read_only, destructive, idempotent) = expected_hints(name);
        let hints = &tool["annotations"];
        assert_eq!(hints["readOnlyHint"], read_only, "{name}: {hints}");
        assert_eq!(hints["destructiveHint"], destructive, "{name}: {hints}");
        assert_eq!(hints["idempotentHint"], idempotent, "{name}: {hints}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_over_streamable_http_negotiates_lists_and_calls_tools() {
    let stack = Stack::arr("mcp");
    stack.up(&["sonarr"]);
    let server = Server::start(Some(stack.file()), None).await;
    let file = stack.file_str();

    for version in ["2025-06-18", "2025-11-25"] {
        // The handshake by hand: the session id comes back in a header, and the
        // notification that completes the handshake is accepted with 202.
        let init = post_mcp(&server.mcp_url(), &[], &initialize_request(1, version)).await;
        assert_eq!(init.status, StatusCode::OK, "{:?}", init.messages);
        let session = init
            .headers
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .expect("an mcp-session-id header")
            .to_owned();
        let result = &init.reply_to(1)["result"];
        assert_eq!(result["protocolVersion"], version, "{result}");
        assert_eq!(result["serverInfo"]["name"], "docker-mcp", "{result}");
        assert!(result["capabilities"]["tools"].is_object(), "{result}");
        let initialized = post_mcp(
            &server.mcp_url(),
            &[
                ("mcp-session-id".to_owned(), session),
                ("mcp-protocol-version".to_owned(), version.to_owned()),
            ],
            &json!({ "jsonrpc": "2.0", "method": "notifications/initialized" }),
        )
        .await;
        assert_eq!(initialized.status, StatusCode::ACCEPTED, "{version}");

        // The rest through a session opened the same way.
        let (mut mcp, init) = McpSession::open(&server.mcp_url(), &[], version).await;
        assert_eq!(init["protocolVersion"], version, "{init}");
        assert!(!mcp.session_id.is_empty());

        let reply = mcp.request("tools/list", json!({})).await;
        let tools = reply["result"]["tools"]
            .as_array()
            .unwrap_or_else(|| panic!("{version} tools/list: {reply}"));
        check_tool_list(tools, file);

        let reply = mcp.call_tool("compose_ps", json!({ "file": file })).await;
        let result = &reply["result"];
        assert_eq!(result["isError"], false, "{version}: {reply}");
        let structured = &result["structuredContent"];
        assert_eq!(structured["project"], stack.project());
        let sonarr = structured["services"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["service"] == "sonarr")
            .unwrap_or_else(|| panic!("{structured}"));
        assert_eq!(sonarr["state"], "running");
        assert_eq!(
            sonarr["containers"][0]["name"],
            stack.container_name("sonarr")
        );
        // The text content carries the same result for clients without structuredContent.
        let text: Value = serde_json::from_str(&text_content(result)).expect("JSON text content");
        assert_eq!(&text, structured);

        // Bad arguments: a tool result with isError and a text a person can act on.
        let reply = mcp
            .call_tool(
                "compose_logs",
                json!({ "file": file, "service": "sonarr", "tail": 10 }),
            )
            .await;
        let result = &reply["result"];
        assert_eq!(result["isError"], true, "{reply}");
        let text = text_content(result);
        assert!(
            text.contains("bad arguments") && text.contains("tail"),
            "{text}"
        );
        let reply = mcp
            .call_tool(
                "compose_restart",
                json!({ "file": file, "service": "lidarr" }),
            )
            .await;
        assert_eq!(reply["result"]["isError"], true, "{reply}");
        assert!(text_content(&reply["result"]).contains("sonarr"));

        // Unknown tool: a JSON-RPC error, invalid params.
        let reply = mcp.call_tool("docker_exec", json!({ "cmd": "sh" })).await;
        assert_eq!(reply["error"]["code"], -32602, "{reply}");
        assert!(reply.get("result").is_none(), "{reply}");
    }

    // A request without the session it belongs to is refused.
    let response = post_mcp(
        &server.mcp_url(),
        &[("mcp-protocol-version".to_owned(), "2025-06-18".to_owned())],
        &json!({ "jsonrpc": "2.0", "id": 7, "method": "tools/list", "params": {} }),
    )
    .await;
    assert!(
        response.status.is_client_error(),
        "tools/list without a session: {} {:?}",
        response.status,
        response.messages
    );
}
