use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde_json::json;

use super::*;

fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |name| map.get(name).cloned()
}

#[test]
fn settings_follow_the_guides_variables() {
    let offline = GatewaySettings::from_lookup(lookup(&[])).unwrap();
    assert_eq!(offline.base_url, None);
    assert_eq!(offline.compose_file, GUIDE_COMPOSE_FILE);
    assert_eq!(offline.read_timeout, Duration::from_secs(5));
    assert_eq!(offline.write_timeout, Duration::from_secs(30));
    assert!(GatewayClient::new(&offline).is_none(), "no URL: offline");

    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "from-file\n").unwrap();
    let online = GatewaySettings::from_lookup(lookup(&[
        ("DOCKER_MCP_BASE_URL", "http://gw:8090/"),
        ("DOCKER_MCP_COMPOSE_FILE", "/srv/stack.yml"),
        ("MCP_READ_TIMEOUT", "2.5"),
        ("MCP_WRITE_TIMEOUT", "60"),
        ("PI_HEALTH_GATEWAY_TOKEN", "from-env"),
        ("PI_HEALTH_GATEWAY_TOKEN_FILE", token_file.to_str().unwrap()),
    ]))
    .unwrap();
    assert_eq!(online.base_url.as_deref(), Some("http://gw:8090"));
    assert_eq!(online.compose_file, "/srv/stack.yml");
    assert_eq!(online.read_timeout, Duration::from_millis(2500));
    assert_eq!(online.write_timeout, Duration::from_secs(60));
    assert_eq!(online.token.as_deref(), Some("from-file"), "the file wins");

    let env_token =
        GatewaySettings::from_lookup(lookup(&[("PI_HEALTH_GATEWAY_TOKEN", " t0k ")])).unwrap();
    assert_eq!(env_token.token.as_deref(), Some("t0k"));

    for bad in [
        ("MCP_READ_TIMEOUT", "fast"),
        ("MCP_READ_TIMEOUT", "-1"),
        ("MCP_WRITE_TIMEOUT", "0"),
        ("MCP_WRITE_TIMEOUT", "NaN"),
        ("DOCKER_MCP_BASE_URL", "gw:8090"),
        ("PI_HEALTH_GATEWAY_TOKEN_FILE", "/nonexistent/token"),
        ("PI_HEALTH_GATEWAY_TOKEN", "two words"),
    ] {
        assert!(
            GatewaySettings::from_lookup(lookup(&[bad])).is_err(),
            "{bad:?} accepted"
        );
    }
}

#[test]
fn approval_ids_are_one_path_segment() {
    // How answers are read is the contract's (ops-core's tests/contract.rs).
    assert_eq!(path_segment("ab/../c d"), "ab%2F%2E%2E%2Fc%20d");
}

type Seen = Arc<Mutex<Vec<(Option<String>, Value)>>>;

/// A stand-in for the gateway: records what it is sent and answers by tool name.
async fn fake_gateway(seen: Seen) -> String {
    let app = axum::Router::new()
        .route(
            "/chat/tool",
            post(move |headers: HeaderMap, Json(body): Json<Value>| {
                let seen = seen.clone();
                async move {
                    let auth = headers
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned);
                    seen.lock().unwrap().push((auth, body.clone()));
                    match body["tool"].as_str().unwrap_or_default() {
                        "compose_ps" => Json(json!({"ok": true, "tool": "compose_ps", "result": {"services": []}})).into_response(),
                        "slow" => {
                            tokio::time::sleep(Duration::from_secs(3)).await;
                            Json(json!({"ok": true})).into_response()
                        }
                        "compose_restart" if body["approved"] == true => Json(json!({"ok": true, "tool": "compose_restart", "result": {"service": "sonarr"}})).into_response(),
                        "compose_restart" => Json(json!({"need_approval": true, "tool": "compose_restart", "args": body["args"], "approval_id": "a1", "expires_at_ms": 1, "self_approval": true, "rationale": "r", "how_to_approve": "h"})).into_response(),
                        _ => (StatusCode::BAD_REQUEST, Json(json!({"detail": "Unknown tool", "code": "unknown_tool"}))).into_response(),
                    }
                }
            }),
        )
        .route(
            "/approvals",
            get(|| async { Json(json!({"approvals": []})) }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    base
}

fn client(base: &str, read_timeout: Duration) -> GatewayClient {
    GatewayClient::new(&GatewaySettings {
        base_url: Some(base.to_owned()),
        token: Some("secret-token".into()),
        compose_file: "/opt/stack/docker-compose.yml".into(),
        read_timeout,
        write_timeout: Duration::from_secs(10),
    })
    .unwrap()
}

#[tokio::test]
async fn calls_carry_the_token_and_come_back_typed() {
    let seen: Seen = Arc::default();
    let base = fake_gateway(seen.clone()).await;
    let gateway = client(&base, Duration::from_secs(1));

    let ps = gateway
        .call("compose_ps", json!({"file": "/f"}), Kind::Read)
        .await;
    assert_eq!(ps, ToolOutcome::Executed(json!({"services": []})));
    let need = gateway
        .call("compose_restart", json!({"service": "sonarr"}), Kind::Write)
        .await;
    assert!(matches!(need, ToolOutcome::NeedApproval(ref p) if p.approval_id == "a1"));
    let unknown = gateway.call("nope", json!({}), Kind::Read).await;
    assert!(
        matches!(unknown, ToolOutcome::Refused(ref r) if r.status() == 400 && r.detail == "Unknown tool")
    );
    let slow = gateway.call("slow", json!({}), Kind::Read).await;
    assert!(
        matches!(slow, ToolOutcome::Unreachable(ref why) if why.contains("within 1.0 s")),
        "{slow:?}"
    );
    assert_eq!(gateway.approvals().await.unwrap(), json!({"approvals": []}));

    let seen = seen.lock().unwrap();
    assert!(
        seen.iter()
            .all(|(auth, _)| auth.as_deref() == Some("Bearer secret-token"))
    );
    assert_eq!(
        seen[1].1,
        json!({"tool": "compose_restart", "args": {"service": "sonarr"}})
    );
}

#[tokio::test]
async fn a_gateway_that_is_not_there_is_unreachable_not_an_error_answer() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let gateway = client(&base, Duration::from_secs(1));
    let reply = gateway.call("compose_ps", json!({}), Kind::Read).await;
    let plain = format!("the gateway is not answering at {base}");
    assert!(
        matches!(reply, ToolOutcome::NotSent(ref why) if *why == plain),
        "plain words, the error chain in the log: {reply:?}"
    );
    assert!(matches!(
        gateway.approvals().await,
        Err(GatewayError::Unreachable(_))
    ));
    assert!(
        matches!(gateway.readiness().await, GatewayReadiness::NotAnswering(ref why) if *why == plain),
        "not ready"
    );
}

/// A stand-in gateway answering only `GET /health/ready`, with `status` and `body`.
async fn fake_readiness(status: StatusCode, body: Value) -> String {
    let app = axum::Router::new().route(
        "/health/ready",
        get(move || {
            let body = body.clone();
            async move { (status, Json(body)).into_response() }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    base
}

#[tokio::test]
async fn readiness_reads_the_gateways_answer() {
    let ready = fake_readiness(StatusCode::OK, json!({"status": "ready", "problems": []})).await;
    assert_eq!(
        client(&ready, Duration::from_secs(1)).readiness().await,
        GatewayReadiness::Ready
    );
    let down = fake_readiness(
        StatusCode::SERVICE_UNAVAILABLE,
        json!({"status": "not_ready", "problems": ["docker-mcp cannot reach the Docker Engine: is the Docker service running?"]}),
    )
    .await;
    assert_eq!(
        client(&down, Duration::from_secs(1)).readiness().await,
        GatewayReadiness::ServicesDown(vec![
            "docker-mcp cannot reach the Docker Engine: is the Docker service running?".into()
        ])
    );
    // An older gateway without /health/ready is not taken as ready.
    let old = fake_readiness(StatusCode::NOT_FOUND, json!({"detail": "no such page"})).await;
    assert!(matches!(
        client(&old, Duration::from_secs(1)).readiness().await,
        GatewayReadiness::ServicesDown(ref problems) if problems[0].contains("HTTP 404")
    ));
}

#[tokio::test]
async fn calls_made_for_a_user_say_so_and_others_do_not() {
    // (path, X-On-Behalf-Of, X-On-Behalf-Role) of every request.
    type Sent = Vec<(String, Option<String>, Option<String>)>;
    let seen: Arc<Mutex<Sent>> = Arc::default();
    let record = seen.clone();
    let app = axum::Router::new().fallback(move |uri: axum::http::Uri, headers: HeaderMap| {
        let record = record.clone();
        async move {
            let header = |name: &str| {
                headers
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            };
            let (user, role) = (header("x-on-behalf-of"), header("x-on-behalf-role"));
            record
                .lock()
                .unwrap()
                .push((uri.path().to_owned(), user, role));
            Json(json!({"ok": true, "tool": "compose_ps", "result": {}}))
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let gateway = client(&base, Duration::from_secs(1));

    on_behalf_of("alice", "admin", async {
        gateway.call("compose_ps", json!({}), Kind::Read).await;
        gateway.approve("a1").await;
    })
    .await;
    on_behalf_of("bob", "standard", async {
        gateway.approve("a2").await;
        gateway.deny("a3").await.unwrap();
        gateway.approvals().await.unwrap();
    })
    .await;
    gateway.call("compose_ps", json!({}), Kind::Read).await;
    // A name the gateway would refuse is not sent (the call still goes out).
    on_behalf_of(
        "no way",
        "admin",
        gateway.call("compose_ps", json!({}), Kind::Read),
    )
    .await;

    let s = |p: &str, u: Option<&str>, r: Option<&str>| {
        (p.to_owned(), u.map(str::to_owned), r.map(str::to_owned))
    };
    assert_eq!(
        *seen.lock().unwrap(),
        vec![
            s("/chat/tool", Some("alice"), Some("admin")),
            s("/approvals/a1/approve", Some("alice"), Some("admin")),
            s("/approvals/a2/approve", Some("bob"), Some("standard")),
            s("/approvals/a3/deny", Some("bob"), Some("standard")),
            s("/approvals", Some("bob"), Some("standard")),
            s("/chat/tool", None, None),
            s("/chat/tool", None, None),
        ]
    );
}

#[test]
fn settings_never_print_the_token_and_a_known_gateway_needs_no_fake_environment() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pi-health.token");
    std::fs::write(&file, "oct_secret-token\n").unwrap();
    let settings =
        GatewaySettings::for_gateway("http://127.0.0.1:8090/", &file, Some("/srv/c.yml")).unwrap();
    assert_eq!(settings.base_url.as_deref(), Some("http://127.0.0.1:8090"));
    assert_eq!(settings.token.as_deref(), Some("oct_secret-token"));
    assert_eq!(settings.compose_file, "/srv/c.yml");
    let shown = format!("{settings:?}");
    assert!(!shown.contains("secret-token"), "{shown}");
    assert!(shown.contains("[set]"), "{shown}");
    let missing = GatewaySettings::for_gateway("http://x", &dir.path().join("nope"), None);
    assert!(missing.unwrap_err().contains("cannot read"));
}
