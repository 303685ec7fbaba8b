//! The gateway as an MCP server at `/mcp` (Streamable HTTP, raw JSON-RPC): per-role
//! tool lists, the same decision as `/chat/tool`, no way to approve from MCP, and a
//! call that waits for a person's decision (made over REST) and returns its outcome.

use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

use test_support::mcp_http::{initialize_request, post_mcp, text_content};

use crate::support::{ADMIN, AGENT, Env, MCP_VERSION, Options, STANDARD};

/// With `--mcp-approval-wait-seconds 0`, an MCP call that needs an approval answers
/// at once with its id (the waiting is in the test below).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_clients_get_the_same_policy_and_cannot_approve() {
    let env = Env::start(
        "gw-mcp",
        &["sonarr"],
        Options {
            mcp_approval_wait_seconds: Some(0),
            ..Options::default()
        },
    )
    .await;
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

/// An agent's MCP call waits while a person decides over REST: approved, it returns
/// the result of the run the approval made (the container really restarted, once);
/// denied, an error naming who denied it (nothing restarted).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_mcp_call_waits_for_the_persons_decision() {
    let env = Env::start(
        "gw-mcp-wait",
        &["sonarr", "radarr"],
        Options {
            agent: true,
            ..Options::default()
        },
    )
    .await;
    let sonarr = env.stack.started_at("sonarr");
    let radarr = env.stack.started_at("radarr");

    // Approved while the call waits.
    let mut agent = env.mcp_session(AGENT).await;
    let args = env.restart_args("sonarr");
    let call = tokio::spawn(async move {
        agent
            .call_tool_with_meta(
                "compose_restart",
                args,
                json!({ "progressToken": "wait-1" }),
            )
            .await
    });
    let id = pending_one(&env).await;
    let approved = env.post(ADMIN, &format!("/approvals/{id}/approve")).await;
    let approved = approved.expect(200).clone();
    let (reply, notifications) = tokio::time::timeout(Duration::from_secs(30), call)
        .await
        .expect("the waiting call answers once approved")
        .unwrap();
    let result = &reply["result"];
    assert_ne!(result["isError"], true, "{reply}");
    assert_eq!(result["structuredContent"], approved["result"], "{reply}");
    assert_ne!(
        env.stack.started_at("sonarr"),
        sonarr,
        "sonarr did not restart"
    );
    let progress: Vec<&Value> = notifications
        .iter()
        .filter(|n| n["method"] == "notifications/progress")
        .collect();
    assert!(!progress.is_empty(), "no progress: {notifications:?}");
    assert_eq!(progress[0]["params"]["progressToken"], "wait-1");
    let message = progress[0]["params"]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(
        message.contains("compose_restart") && message.contains(&id),
        "{message}"
    );
    // Run once: one executed record for this approval, by the approval.
    let runs: Vec<Value> = env
        .audit(ADMIN, "tool=compose_restart")
        .await
        .into_iter()
        .filter(|r| r["approval_id"] == id.as_str() && r["decision"] == "executed")
        .collect();
    assert_eq!(runs.len(), 1, "{runs:?}");

    // Denied while the call waits.
    let mut agent = env.mcp_session(AGENT).await;
    let args = env.restart_args("radarr");
    let call = tokio::spawn(async move { agent.call_tool("compose_restart", args).await });
    let id = pending_one(&env).await;
    env.post(ADMIN, &format!("/approvals/{id}/deny"))
        .await
        .expect(200);
    let reply = tokio::time::timeout(Duration::from_secs(30), call)
        .await
        .expect("the waiting call answers once denied")
        .unwrap();
    let result = &reply["result"];
    assert_eq!(result["isError"], true, "{reply}");
    assert_eq!(result["structuredContent"]["denied_by"], ADMIN, "{reply}");
    assert!(
        text_content(result).contains(&format!("denied by {ADMIN}")),
        "{reply}"
    );
    assert_eq!(env.stack.started_at("radarr"), radarr, "radarr restarted");
}

/// The id of the one pending approval, once there is one.
async fn pending_one(env: &Env) -> String {
    test_support::wait_for("one pending approval", Duration::from_secs(20), || async {
        match env.approvals(ADMIN).await.as_slice() {
            [one] => Ok(one["id"].as_str().unwrap_or_default().to_owned()),
            other => Err(format!("{} pending", other.len())),
        }
    })
    .await
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
