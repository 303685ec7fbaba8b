//! One deployment, checked the way a user and an attacker would see it.

use std::process::Stdio;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use test_support::{Stack, docker, wait_for};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::deployment::Deployment;
use crate::pi_support::sign_in;

/// The FAKE secrets the fake ARR apps print (testing/images/fake-arr).
const LOGGED_SECRETS: [&str; 2] = ["0123456789abcdef0123456789abcdef", "hunter2"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_container_deployment_works_end_to_end_and_leaves_nothing_behind() {
    let stack = Stack::arr("deploy");
    stack.up(&[]);
    let mut deployment = Deployment::up(&stack);
    let file = stack.file_str();

    only_docker_mcp_reaches_the_engine(&deployment).await;

    // The guide's section 5 smoke tests, through the gateway.
    let ps = deployment
        .call("compose_ps", &json!({ "file": file }), false)
        .await;
    let body = ps.expect(200);
    assert_eq!(body["ok"], true, "{body}");
    for service in ["sonarr", "radarr", "sabnzbd", "prowlarr", "bazarr"] {
        assert!(
            body["result"].to_string().contains(service),
            "{service} missing: {body}"
        );
    }
    let logs = deployment
        .call(
            "compose_logs",
            &json!({ "file": file, "service": "sabnzbd", "tail": 150 }),
            false,
        )
        .await;
    let text = logs.expect(200)["result"].to_string();
    assert!(text.contains("sabnzbd"), "not sabnzbd's logs: {text}");
    for secret in LOGGED_SECRETS {
        assert!(!text.contains(secret), "{secret} leaked: {text}");
    }
    let before = stack.started_at("sabnzbd");
    let restart = deployment
        .call_with_approval(
            "compose_restart",
            &json!({ "file": file, "service": "sabnzbd" }),
        )
        .await;
    assert_eq!(restart.expect(200)["ok"], true, "{}", restart.body);
    assert_ne!(
        stack.started_at("sabnzbd"),
        before,
        "sabnzbd did not restart"
    );
    assert!(stack.is_running("sabnzbd"));

    // The other tools work in this deployment too.
    let docker_ps = deployment.call("docker_ps", &json!({}), false).await;
    assert!(
        docker_ps.expect(200)["result"]
            .to_string()
            .contains(&stack.container_name("sonarr")),
        "docker_ps lacks sonarr: {}",
        docker_ps.body
    );
    let stop = deployment
        .call_with_approval(
            "compose_stop",
            &json!({ "file": file, "service": "radarr" }),
        )
        .await;
    assert_eq!(stop.expect(200)["ok"], true, "{}", stop.body);
    assert!(!stack.is_running("radarr"), "radarr still runs");
    let start = deployment
        .call_with_approval(
            "compose_start",
            &json!({ "file": file, "service": "radarr" }),
        )
        .await;
    assert_eq!(start.expect(200)["ok"], true, "{}", start.body);
    assert!(stack.is_running("radarr"), "radarr did not start");

    chat_restarts_sonarr(&deployment, &stack).await;

    // Pull (the Engine pulls from the local registry) and up (the compose CLI
    // inside the docker-mcp image): bazarr, stopped behind docker-mcp's back,
    // must run again afterwards.
    let pull = deployment
        .call_with_approval("compose_pull", &json!({ "file": file }))
        .await;
    assert_eq!(pull.expect(200)["ok"], true, "{}", pull.body);
    docker(&["stop", "-t", "2", &stack.container("bazarr")]);
    let up = deployment
        .call_with_approval("compose_up", &json!({ "file": file }))
        .await;
    assert_eq!(up.expect(200)["ok"], true, "{}", up.body);
    assert!(
        stack.is_running("bazarr"),
        "compose_up did not bring bazarr back: {}",
        up.body
    );
    assert!(stack.is_running("sonarr"));

    // Everything above is in the audit log, whose chain verifies inside the container.
    let audit = deployment
        .gateway_request(Method::GET, "/audit?limit=500", None)
        .await;
    let records = audit.expect(200)["records"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for tool in [
        "compose_restart",
        "compose_stop",
        "compose_start",
        "compose_pull",
        "compose_up",
    ] {
        assert!(
            records
                .iter()
                .any(|r| r["tool"] == tool && r["decision"] == "executed"),
            "no executed {tool} in the audit log: {records:?}"
        );
    }
    let verify = docker(&[
        "exec",
        &deployment.container("ai-gateway"),
        "/usr/local/bin/ops-copilot",
        "audit",
        "verify",
    ]);
    assert!(verify.starts_with("ok:"), "{verify}");

    deployment.stop_cleanly();
    let left = deployment.tear_down();
    assert!(left.is_empty(), "the deployment left {left:?}");
}

/// The gateway and pi-health have no socket, no DOCKER_HOST, and a docker-mcp run
/// inside them cannot reach the Engine; the same run in docker-mcp's container can
/// (so the check can fail).
async fn only_docker_mcp_reaches_the_engine(deployment: &Deployment) {
    for service in ["ai-gateway", "pi-health"] {
        let id = deployment.container(service);
        let mounts = docker(&["inspect", "-f", "{{range .Mounts}}{{.Source}} {{end}}", &id]);
        assert!(!mounts.contains("docker.sock"), "{service} mounts {mounts}");
        let env = docker(&["inspect", "-f", "{{range .Config.Env}}{{.}} {{end}}", &id]);
        assert!(!env.contains("DOCKER_HOST"), "{service} has {env}");
        let answer = docker_ps_inside(&id).await;
        assert_eq!(
            answer["isError"], true,
            "{service} reached the Engine: {answer}"
        );
    }
    let answer = docker_ps_inside(&deployment.container("docker-mcp")).await;
    assert_ne!(
        answer["isError"], true,
        "docker-mcp cannot reach the Engine: {answer}"
    );
}

/// `docker_ps` over MCP stdio from `ops-copilot docker-mcp` run inside a container.
async fn docker_ps_inside(container: &str) -> Value {
    let mut child = tokio::process::Command::new("docker")
        .args([
            "exec",
            "-i",
            container,
            "/usr/local/bin/ops-copilot",
            "docker-mcp",
            "--stdio",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("docker exec");
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    for message in [
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": { "name": "ops-copilot-deploy-test", "version": "0" }}}),
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
            "params": { "name": "docker_ps", "arguments": {} }}),
    ] {
        stdin
            .write_all(format!("{message}\n").as_bytes())
            .await
            .unwrap();
    }
    stdin.flush().await.unwrap();
    let reply = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            let value: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
            if value["id"] == 2 {
                return value;
            }
        }
        panic!("stdout closed before the docker_ps answer in {container}");
    })
    .await
    .unwrap_or_else(|_| panic!("no docker_ps answer within 60 s in {container}"));
    drop(stdin);
    let _ = child.kill().await;
    reply["result"].clone()
}

/// The guide's section 0.1 through the deployed web app: the status, then a
/// suggested restart approved by the signed-in person, really executed.
async fn chat_restarts_sonarr(deployment: &Deployment, stack: &Stack) {
    let (user, password) = deployment.initial_credentials();
    let browser = sign_in(&deployment.pi_health, (&user, &password)).await;
    let status = browser.chat("What is the Docker status?").await;
    assert!(
        status.tools().contains(&"docker_status".to_owned()),
        "{}",
        status.body
    );
    assert!(status.content().contains("running"), "{}", status.body);

    let before = stack.started_at("sonarr");
    let reply = browser
        .chat("Sonarr queue looks stuck, can you restart it?")
        .await;
    let suggestion = reply.suggestion();
    assert_eq!(suggestion["ctaLabel"], "Approve Restart", "{suggestion}");
    let id = suggestion["id"].as_str().unwrap().to_owned();
    let approved = browser.approve(&id).await;
    assert_eq!(
        approved.expect(200)["status"],
        "success",
        "{}",
        approved.body
    );
    wait_for("sonarr's restart", Duration::from_secs(10), || {
        let now = stack.started_at("sonarr");
        let before = before.clone();
        async move {
            if now != before {
                Ok(())
            } else {
                Err(format!("StartedAt still {now}"))
            }
        }
    })
    .await;
}
