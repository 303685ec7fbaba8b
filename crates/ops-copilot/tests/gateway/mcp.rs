//! The gateway as an MCP server at `/mcp` (Streamable HTTP, raw JSON-RPC): per-role
//! tool lists, the same decision as `/chat/tool`, and no way to approve from MCP.

use reqwest::StatusCode;
use serde_json::{Value, json};
use test_support::mcp_http::{initialize_request, post_mcp, text_content};

use crate::support::{ADMIN, Env, MCP_VERSION, Options, STANDARD};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_clients_get_the_same_policy_and_cannot_approve() {
    let env = Env::start("gw-mcp", &["sonarr"], Options::default()).await;
    let before = env.stack.started_at("sonarr");

    // Without a token, or with a wrong one: 401 before any MCP happens.
    for headers in [
        vec![],
        vec![("authorization".to_owned(), "Bearer oct_nope".to_owned())],
    ] {
        let response = post_mcp(
            &env.url("/mcp"),
            &headers,
            &initialize_request(1, MCP_VERSION),
        )
        .await;
        assert_eq!(response.status, StatusCode::UNAUTHORIZED, "{response:?}");
        assert!(response.headers.get("mcp-session-id").is_none());
    }

    // tools/list: each role sees only what it may use.
    let mut admin = env.mcp_session(ADMIN).await;
    let mut standard = env.mcp_session(STANDARD).await;
    let admin_tools = admin.tool_names().await;
    let standard_tools = standard.tool_names().await;
    for tool in ["compose_ps", "compose_logs", "compose_restart", "docker_ps"] {
        assert!(
            standard_tools.iter().any(|t| t == tool),
            "standard lacks {tool}: {standard_tools:?}"
        );
        assert!(
            admin_tools.iter().any(|t| t == tool),
            "admin lacks {tool}: {admin_tools:?}"
        );
    }
    for tool in ["compose_pull", "compose_up"] {
        assert!(
            !standard_tools.iter().any(|t| t == tool),
            "standard sees {tool}: {standard_tools:?}"
        );
        assert!(
            admin_tools.iter().any(|t| t == tool),
            "admin lacks {tool}: {admin_tools:?}"
        );
    }
    // The tools carry the policy's schemas (the locked compose file).
    let reply = standard.request("tools/list", json!({})).await;
    let restart = reply["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "compose_restart")
        .cloned()
        .unwrap();
    assert_eq!(
        restart["inputSchema"]["properties"]["file"]["const"],
        env.file(),
        "{restart}"
    );

    // tools/call compose_ps: the result as structuredContent.
    let reply = standard.call_tool("compose_ps", env.ps_args()).await;
    let result = &reply["result"];
    assert_ne!(result["isError"], true, "{reply}");
    env.assert_ps_result(&result["structuredContent"], &["sonarr"]);

    // Refusals arrive as error results, with the gateway's reason.
    let reply = standard.call_tool("compose_pull", env.ps_args()).await;
    assert_eq!(reply["result"]["isError"], true, "{reply}");
    let reply = standard
        .call_tool(
            "compose_restart",
            json!({ "file": env.file(), "service": "sonarr; rm -rf /" }),
        )
        .await;
    assert_eq!(reply["result"]["isError"], true, "{reply}");
    assert!(
        text_content(&reply["result"]).contains("Bad args"),
        "{reply}"
    );
    // An unknown tool is a protocol error.
    let reply = standard.call_tool("docker_exec", json!({})).await;
    assert!(
        reply.get("error").is_some() || reply["result"]["isError"] == true,
        "{reply}"
    );

    // tools/call compose_restart: an error result with the approval id; nothing runs,
    // even for a role that could approve it over HTTP.
    for session in [&mut standard, &mut admin] {
        let reply = session
            .call_tool("compose_restart", env.restart_args("sonarr"))
            .await;
        let result = &reply["result"];
        assert_eq!(result["isError"], true, "{reply}");
        let text = text_content(result);
        let id = approval_id(result).unwrap_or_else(|| panic!("no approval id in {reply}"));
        assert!(
            text.contains(&id),
            "the text does not name the approval {id}: {text}"
        );
        let pending = env.approvals(ADMIN).await;
        assert!(
            pending
                .iter()
                .any(|a| a["id"] == id.as_str() && a["tool"] == "compose_restart"),
            "{id} is not a pending approval: {pending:?}"
        );
    }
    // Calling again (as an agent would retry) does not run it either.
    let reply = standard
        .call_tool("compose_restart", env.restart_args("sonarr"))
        .await;
    assert_eq!(reply["result"]["isError"], true, "{reply}");
    assert_eq!(
        env.stack.started_at("sonarr"),
        before,
        "an MCP call restarted sonarr"
    );

    // Every request needs the token: a session id alone is not enough.
    let response = post_mcp(
        &env.url("/mcp"),
        &[
            ("mcp-session-id".to_owned(), standard.session_id.clone()),
            ("mcp-protocol-version".to_owned(), MCP_VERSION.to_owned()),
        ],
        &json!({ "jsonrpc": "2.0", "id": 99, "method": "tools/list", "params": {} }),
    )
    .await;
    assert_eq!(response.status, StatusCode::UNAUTHORIZED, "{response:?}");
}

/// The approval id of a `need_approval` error result: in structuredContent, or in the
/// text as JSON.
fn approval_id(result: &Value) -> Option<String> {
    let from = |value: &Value| value["approval_id"].as_str().map(str::to_owned);
    from(&result["structuredContent"]).or_else(|| {
        serde_json::from_str::<Value>(&text_content(result))
            .ok()
            .and_then(|v| from(&v))
    })
}
