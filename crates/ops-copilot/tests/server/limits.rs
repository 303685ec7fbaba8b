//! docker-mcp's MCP sessions are capped in total (`docker_mcp::server::MCP_SESSIONS`):
//! over the cap, `initialize` gets the contract's 503, and a closed session makes room.

use reqwest::StatusCode;
use test_support::http_client;
use test_support::mcp_http::{initialize_request, post_mcp};

use crate::support::Server;

const MCP_VERSION: &str = "2025-06-18";
const SESSIONS: usize = 64;

#[tokio::test]
async fn mcp_sessions_are_capped_in_total() {
    let server = Server::start(None, None).await;
    let url = server.mcp_url();
    let mut sessions = Vec::new();
    for id in 0..SESSIONS {
        let response = post_mcp(&url, &[], &initialize_request(id as i64, MCP_VERSION)).await;
        assert_eq!(
            response.status,
            StatusCode::OK,
            "session {id}: {response:?}"
        );
        let session = response.headers["mcp-session-id"]
            .to_str()
            .unwrap()
            .to_owned();
        sessions.push(session);
    }
    let refused = post_mcp(&url, &[], &initialize_request(0, MCP_VERSION)).await;
    assert_eq!(
        refused.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{refused:?}"
    );
    assert_eq!(
        refused.messages[0]["code"], "too_many_sessions",
        "{refused:?}"
    );
    assert!(refused.headers.get("mcp-session-id").is_none());

    let closed = http_client()
        .delete(&url)
        .header("mcp-session-id", &sessions[0])
        .header("mcp-protocol-version", MCP_VERSION)
        .send()
        .await
        .unwrap();
    assert!(closed.status().is_success(), "DELETE: {}", closed.status());
    let again = post_mcp(&url, &[], &initialize_request(1, MCP_VERSION)).await;
    assert_eq!(again.status, StatusCode::OK, "{again:?}\n{}", server.log());
}
