//! The guide's REST form: `POST /tools/{fn}` and `GET /health`.

use reqwest::StatusCode;
use serde_json::json;
use test_support::Stack;

use test_support::http_client;
use test_support::mcp_http::McpSession;

use crate::support::{Server, without_status};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_tools_give_the_mcp_results_and_clear_http_errors() {
    let stack = Stack::arr("rest");
    stack.up(&["sonarr"]);
    let server = Server::start(Some(stack.file()), None).await;
    let file = stack.file_str();

    let (status, health) = server.health().await;
    assert_eq!(status, StatusCode::OK, "{health}");
    assert_eq!(health["status"], "ok");
    assert!(
        health["engine"]["api_version"]
            .as_str()
            .is_some_and(|v| !v.is_empty())
    );
    assert_eq!(health["compose"]["project"], stack.project());
    assert_eq!(
        health["compose"]["services"],
        json!(stack.declared_services())
    );

    // The same structured result as MCP's structuredContent.
    let (status, rest) = server.rest("compose_ps", &json!({ "file": file })).await;
    assert_eq!(status, StatusCode::OK, "{rest}");
    assert_eq!(rest["project"], stack.project());
    let sonarr = rest["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["service"] == "sonarr")
        .expect("sonarr listed");
    assert_eq!(sonarr["state"], "running");
    let (mut mcp, _) = McpSession::open(&server.mcp_url(), &[], "2025-06-18").await;
    let reply = mcp.call_tool("compose_ps", json!({ "file": file })).await;
    assert_eq!(reply["result"]["isError"], false, "{reply}");
    assert_eq!(
        without_status(reply["result"]["structuredContent"].clone()),
        without_status(rest),
        "REST and MCP disagree"
    );

    // An empty body is no arguments.
    let (status, ps) = server.rest_raw("docker_ps", String::new()).await;
    assert_eq!(status, StatusCode::OK, "{ps}");
    assert!(ps["count"].is_u64(), "{ps}");

    // A mutating call, verified by the Engine.
    let before = stack.started_at("sonarr");
    let (status, restarted) = server
        .rest(
            "compose_restart",
            &json!({ "file": file, "service": "sonarr" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{restarted}");
    assert_eq!(restarted["containers"][0]["outcome"], "restarted");
    assert_ne!(stack.started_at("sonarr"), before);

    // Bad arguments: 400 with a machine code and a readable message.
    for (tool, args, mentions) in [
        (
            "compose_logs",
            json!({ "file": file, "service": "sonarr", "tail": 10 }),
            "tail",
        ),
        (
            "compose_restart",
            json!({ "file": file, "service": "sonarr; rm -rf /" }),
            "service",
        ),
        (
            "compose_restart",
            json!({ "file": file, "service": "lidarr" }),
            "sonarr",
        ),
        ("compose_ps", json!({ "file": "/etc/passwd" }), file),
    ] {
        let (status, body) = server.rest(tool, &args).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{tool} {args}: {body}");
        assert_eq!(body["error"]["code"], "bad_arguments", "{body}");
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(mentions), "{tool}: {message}");
    }

    // Not JSON, or not an object.
    for body in ["not json", "{\"file\":", "[1, 2]"] {
        let (status, reply) = server.rest_raw("compose_ps", body.to_owned()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {reply}");
        assert_eq!(reply["error"]["code"], "bad_arguments", "{reply}");
    }

    // Unknown tool.
    let (status, body) = server.rest("docker_exec", &json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["error"]["code"], "unknown_tool");

    // Too large a body.
    let (status, _) = server
        .rest_raw(
            "compose_ps",
            format!("{{\"file\":\"{}\"}}", "x".repeat(100 * 1024)),
        )
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);

    // Browsers (any Origin) and unexpected Host headers are refused, on every route.
    let client = http_client();
    for (method, path) in [
        ("POST", "/tools/compose_ps"),
        ("GET", "/health"),
        ("POST", "/mcp"),
    ] {
        let request = match method {
            "GET" => client.get(server.url(path)),
            _ => client
                .post(server.url(path))
                .header("content-type", "application/json")
                .body(json!({ "file": file }).to_string()),
        };
        let status = request
            .header("origin", "http://evil.example")
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path} with Origin");
    }
    let status = client
        .post(server.url("/tools/compose_ps"))
        .header("host", "evil.example")
        .body(json!({ "file": file }).to_string())
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, StatusCode::FORBIDDEN, "unexpected Host");
    assert_eq!(server.health().await.0, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_compose_file_rest_serves_docker_ps_and_refuses_compose_tools() {
    let server = Server::start(None, None).await;
    let (status, health) = server.health().await;
    assert_eq!(status, StatusCode::OK, "{health}");
    assert!(
        health["compose"]["error"]
            .as_str()
            .is_some_and(|e| e.contains("without a compose file")),
        "{health}"
    );
    let (status, ps) = server.rest("docker_ps", &json!({})).await;
    assert_eq!(status, StatusCode::OK, "{ps}");
    let (status, body) = server
        .rest("compose_ps", &json!({ "file": "/srv/docker-compose.yml" }))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "not_configured");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("--compose-file")),
        "{body}"
    );
}
