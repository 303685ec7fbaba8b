//! Connection and session limits of the real binaries (the mechanics, with small
//! limits, are tested in `crates/core/tests/`): MCP sessions on the gateway's
//! `/mcp` are capped per principal; in `ops-copilot all`, a flood of connections
//! on the web port is refused there while the gateway and docker-mcp go on
//! answering; a client trickling its headers is cut off.
//!
//! No timing is asserted: each outcome is waited for, generously bounded.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use test_support::mcp_http::{initialize_request, post_mcp};
use test_support::{Process, free_port, http_client, sockets};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpSocket, TcpStream};

use crate::support::{ADMIN, Env, MCP_VERSION, Options, STANDARD, bin_command};

/// The planes' limits (`ops_core::net::Limits`, `gateway::api::MCP_SESSIONS`).
const SESSIONS_PER_PRINCIPAL: usize = 16;
const WEB_CONNECTIONS: usize = 256;
const WEB_CONNECTIONS_PER_ADDRESS: usize = 32;
/// The servers' header (and idle) timeout is 20 s: a cut-off connection is waited
/// for this long at most.
const CUT_OFF_BOUND: Duration = Duration::from_secs(90);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_sessions_are_capped_per_principal() {
    let env = Env::start("gw-sessions", &["sonarr"], Options::default()).await;
    let url = env.url("/mcp");
    let as_who = |who: &str| vec![("authorization".to_owned(), env.bearer(who))];

    let mut held = Vec::new();
    for _ in 0..SESSIONS_PER_PRINCIPAL {
        held.push(env.mcp_session(STANDARD).await);
    }
    let refused = post_mcp(&url, &as_who(STANDARD), &initialize_request(1, MCP_VERSION)).await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS, "{refused:?}");
    assert!(refused.headers.get("mcp-session-id").is_none());
    let body = &refused.messages[0];
    assert_eq!(body["code"], "too_many_sessions", "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains(STANDARD),
        "{body}"
    );

    // Another principal is not affected, and its session works.
    let mut admin = env.mcp_session(ADMIN).await;
    assert!(
        admin.tool_names().await.iter().any(|t| t == "compose_ps"),
        "the admin's session works"
    );
    // The sessions already open keep working.
    assert!(!held[0].tool_names().await.is_empty());

    // Closing one (DELETE, as a client does when done) makes room again.
    let closed = http_client()
        .delete(&url)
        .header("authorization", env.bearer(STANDARD))
        .header("mcp-session-id", &held[0].session_id)
        .header("mcp-protocol-version", MCP_VERSION)
        .send()
        .await
        .unwrap();
    assert!(closed.status().is_success(), "DELETE: {}", closed.status());
    held.remove(0);
    held.push(env.mcp_session(STANDARD).await);
}

/// A connection from `from` (any 127.0.0.0/8 address is loopback on Linux).
async fn connect_from(from: &str, port: u16) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(format!("{from}:0").parse().unwrap()).unwrap();
    socket
        .connect(format!("127.0.0.1:{port}").parse().unwrap())
        .await
        .unwrap_or_else(|e| panic!("connect from {from} to port {port}: {e}"))
}

/// Sends `GET /health` on `stream` and reads until the server closes it;
/// panics if it is still open after [`CUT_OFF_BOUND`]. What was read.
async fn health_then_close(stream: &mut TcpStream) -> String {
    let _ = stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .await;
    read_until_closed(stream).await
}

async fn read_until_closed(stream: &mut TcpStream) -> String {
    sockets::read_until_closed(stream, CUT_OFF_BOUND)
        .await
        .unwrap_or_else(|text| panic!("still open after {CUT_OFF_BOUND:?}: {text:?}"))
}

/// Over a cap, a connection is told so (503 too_many_connections) and closed,
/// never served.
fn assert_turned_away(answer: &str, cap: &str) {
    assert!(
        answer.starts_with("HTTP/1.1 503 ") && answer.contains("\"too_many_connections\""),
        "a connection over {cap} was not turned away with a 503: {answer:?}"
    );
}

async fn status_of(url: &str) -> StatusCode {
    http_client()
        .get(url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
        .status()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_on_the_web_port_leaves_the_gateway_and_docker_mcp_answering() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (web, gateway, mcp) = (free_port(), free_port(), free_port());
    let mut command = bin_command();
    command
        .current_dir(dir.path())
        .arg("all")
        .arg("--data-dir")
        .arg(&data)
        .arg("--thermal-dir")
        .arg(dir.path())
        .arg("--listen")
        .arg(format!("127.0.0.1:{web}"))
        .arg("--gateway-listen")
        .arg(format!("127.0.0.1:{gateway}"))
        .arg("--docker-mcp-listen")
        .arg(format!("127.0.0.1:{mcp}"));
    let mut all = Process::spawn("ops-copilot all", command, &dir.path().join("all.log"));
    let web_health = format!("http://127.0.0.1:{web}/health");
    let gateway_health = format!("http://127.0.0.1:{gateway}/health");
    let mcp_health = format!("http://127.0.0.1:{mcp}/health");
    all.wait_until_http(
        &web_health,
        |s| s == StatusCode::OK,
        Duration::from_secs(60),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", all.log()));

    // One address fills its share of the web plane; its next connection is
    // turned away at once with a 503 (before it sends anything), while another
    // address still gets in.
    let mut flood = Vec::new();
    for _ in 0..WEB_CONNECTIONS_PER_ADDRESS {
        flood.push(connect_from("127.0.0.10", web).await);
    }
    let mut over = connect_from("127.0.0.10", web).await;
    assert_turned_away(&read_until_closed(&mut over).await, "the per-address cap");
    let mut other = connect_from("127.0.0.2", web).await;
    let answer = health_then_close(&mut other).await;
    assert!(
        answer.starts_with("HTTP/1.1 200"),
        "{answer}\n{}",
        all.log()
    );

    // More addresses fill the whole plane: the web port refuses everyone...
    for host in 11..(10 + WEB_CONNECTIONS / WEB_CONNECTIONS_PER_ADDRESS) {
        for _ in 0..WEB_CONNECTIONS_PER_ADDRESS {
            flood.push(connect_from(&format!("127.0.0.{host}"), web).await);
        }
    }
    assert_eq!(flood.len(), WEB_CONNECTIONS);
    let mut late = connect_from("127.0.0.3", web).await;
    assert_turned_away(&read_until_closed(&mut late).await, "the plane's cap");
    // ...while the gateway and docker-mcp, in the same process, answer.
    assert_eq!(status_of(&gateway_health).await, StatusCode::OK);
    let status = status_of(&mcp_health).await;
    assert!(
        status == StatusCode::OK || status == StatusCode::SERVICE_UNAVAILABLE,
        "docker-mcp /health: {status}"
    );

    // Once the flood is gone, the web app answers again.
    drop(flood);
    let back = tokio::time::timeout(CUT_OFF_BOUND, async {
        loop {
            if let Ok(response) = http_client().get(&web_health).send().await
                && response.status() == StatusCode::OK
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    assert!(back.is_ok(), "the web app does not recover:\n{}", all.log());

    // A client trickling its headers to the gateway is cut off (header timeout).
    let mut slow = connect_from("127.0.0.1", gateway).await;
    slow.write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .await
        .unwrap();
    let (mut reader, writer) = slow.into_split();
    let trickle = sockets::trickle(writer, Duration::from_secs(1), |i| {
        Some(format!("X-Slow-{i}: y\r\n").into_bytes())
    });
    let cut = sockets::read_until_closed(&mut reader, CUT_OFF_BOUND).await;
    trickle.abort();
    assert!(
        cut.is_ok(),
        "a trickling client is still connected to the gateway"
    );
    // The gateway itself is fine.
    assert_eq!(status_of(&gateway_health).await, StatusCode::OK);
    let health: Value = http_client()
        .get(&gateway_health)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");
}
