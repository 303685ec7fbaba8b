//! The binary with the Engine missing, coming back, and behind a TCP proxy.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use test_support::{Forwarder, arr_compose_file, docker, require_docker, wait_for};

use test_support::mcp_http::{McpSession, text_content};

use crate::support::Server;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_socket_missing_the_server_starts_says_why_and_recovers_by_itself() {
    require_docker();
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("docker.sock");
    let address = format!("unix://{}", socket.display());
    let compose_file = arr_compose_file();
    let server = Server::start(Some(&compose_file), Some(&address)).await;

    let (status, health) = server.health().await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{health}");
    assert_eq!(health["status"], "unavailable");
    let reason = health["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains(&address),
        "the reason names the address: {reason}"
    );

    let (status, body) = server.rest("docker_ps", &json!({})).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], "engine_unavailable");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(&format!(
            "Docker is not reachable at {address}: is the Docker service running?"
        )) && !message.contains("os error"),
        "what to do, not the error chain: {message}"
    );

    let (mut mcp, _) = McpSession::open(&server.mcp_url(), &[], "2025-11-25").await;
    let reply = mcp.call_tool("docker_ps", json!({})).await;
    assert_eq!(reply["result"]["isError"], true, "{reply}");
    assert!(text_content(&reply["result"]).contains(&address), "{reply}");

    // The socket appears; the same server process recovers without a restart.
    let forwarder = Forwarder::unix(&socket).await;
    let server_ref = &server;
    wait_for(
        "/health to turn 200",
        Duration::from_secs(15),
        move || async move {
            match server_ref.health().await {
                (StatusCode::OK, _) => Ok(()),
                (status, body) => Err(format!("{status} {body}")),
            }
        },
    )
    .await;
    let (status, ps) = server.rest("docker_ps", &json!({})).await;
    assert_eq!(status, StatusCode::OK, "{ps}");
    assert!(ps["containers"].is_array());
    let reply = mcp.call_tool("docker_ps", json!({})).await;
    assert_eq!(reply["result"]["isError"], false, "{reply}");
    assert!(forwarder.connections() > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_host_tcp_through_a_proxy_serves_docker_ps() {
    require_docker();
    let forwarder = Forwarder::tcp().await;
    let server = Server::start(Some(&arr_compose_file()), Some(forwarder.address())).await;

    let (status, health) = server.health().await;
    assert_eq!(status, StatusCode::OK, "{health}\n{}", server.log());
    assert_eq!(health["engine"]["address"], forwarder.address());
    assert_eq!(
        health["engine"]["version"],
        docker(&["version", "-f", "{{.Server.Version}}"]),
        "the Engine behind the proxy answered"
    );
    let (status, ps) = server.rest("docker_ps", &json!({})).await;
    assert_eq!(status, StatusCode::OK, "{ps}");
    assert!(ps["containers"].is_array() && ps["count"].is_u64(), "{ps}");
    assert!(
        forwarder.connections() > 0,
        "the calls went through the proxy"
    );
}
