//! Where the Engine is: a socket that is missing (then appears), and DOCKER_HOST=tcp://
//! through a proxy.

use std::sync::Arc;
use std::time::Duration;

use docker_mcp::Limits;
use docker_mcp::ToolError;
use docker_mcp::engine::{Engine, EngineAddress, EngineError, EngineTimeouts};
use serde_json::json;
use test_support::{Forwarder, Stack, arr_compose_file, wait_for};

use crate::support::{call_err, call_ok, service, tools_with};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_socket_is_a_clear_error_and_the_tools_recover_when_it_appears() {
    test_support::require_docker();
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("docker.sock");
    let engine = Arc::new(Engine::new(
        EngineAddress::Unix(socket.clone()),
        EngineTimeouts::default(),
    ));
    let compose_file = arr_compose_file();
    let tools = tools_with(engine.clone(), Some(&compose_file), Limits::default());
    let shown = socket.display().to_string();

    let err = call_err(&tools, "docker_ps", json!({})).await;
    match &err {
        ToolError::Engine(EngineError::Unavailable { address, reason }) => {
            assert_eq!(address, &format!("unix://{shown}"));
            assert!(!reason.is_empty());
        }
        other => panic!("expected the Engine to be unavailable, got {other:?}"),
    }
    assert_eq!(err.code(), "engine_unavailable");
    assert_eq!(err.http_status(), 503);
    assert!(err.to_string().contains(&shown), "{err}");
    let err = call_err(
        &tools,
        "compose_ps",
        json!({ "file": compose_file.to_str().unwrap() }),
    )
    .await;
    assert_eq!(err.code(), "engine_unavailable", "{err}");
    assert!(err.to_string().contains(&shown), "{err}");
    // What /health reports.
    let err = engine
        .version()
        .await
        .expect_err("no Engine behind the socket");
    assert!(err.to_string().contains(&shown), "{err}");

    // The socket appears (a forwarder to the real one): the same tools work again.
    let forwarder = Forwarder::unix(&socket).await;
    let tools_ref = &tools;
    let ps = wait_for(
        "docker_ps through the new socket",
        Duration::from_secs(15),
        move || async move {
            tools_ref
                .call("docker_ps", json!({}))
                .await
                .map_err(|e| e.to_string())
        },
    )
    .await;
    assert!(ps["containers"].is_array(), "{ps}");
    assert!(forwarder.connections() > 0);
    let version = engine.version().await.expect("the Engine answers");
    assert!(!version.api_version.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_host_tcp_through_a_proxy_works() {
    let stack = Stack::arr("tcphost");
    stack.up(&["sonarr"]);
    let forwarder = Forwarder::tcp().await;
    let address = EngineAddress::parse(forwarder.address()).expect("a tcp:// address");
    assert!(matches!(address, EngineAddress::Tcp(_)));
    let engine = Arc::new(Engine::new(address, EngineTimeouts::default()));
    let tools = tools_with(engine, Some(stack.file()), Limits::default());

    let ps = call_ok(&tools, "docker_ps", json!({})).await;
    let name = stack.container_name("sonarr");
    assert!(
        ps["containers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == name.as_str() && c["state"] == "running"),
        "{name} not listed: {ps:#}"
    );
    let ps = call_ok(&tools, "compose_ps", json!({ "file": stack.file_str() })).await;
    assert_eq!(service(&ps, "sonarr")["state"], "running");
    let logs = call_ok(
        &tools,
        "compose_logs",
        json!({ "file": stack.file_str(), "service": "sonarr", "tail": 50 }),
    )
    .await;
    assert!(logs["logs"].as_str().unwrap().lines().count() > 0, "{logs}");
    assert!(
        forwarder.connections() > 0,
        "the calls went through the proxy"
    );
}
