//! Offline mode (no DOCKER_MCP_BASE_URL) and a gateway that goes away: the app
//! stays up, says so in every answer, and never reports an action as done.

use std::time::{Duration, Instant};

use serde_json::Value;
use test_support::wait_for;

use crate::gateway_support::{Env, Options};
use crate::support::{ALICE, PiHealth, client, gateway_token};

/// `GET {base}{path}` with no session, as a monitor asks, until it answers
/// `status` (readiness answers are reused for 3 s): the body.
async fn health_until(base: &str, path: &str, status: u16) -> Value {
    let url = format!("{base}{path}");
    wait_for(
        &format!("{url} to answer {status}"),
        Duration::from_secs(20),
        || async {
            let response = client().get(&url).send().await.map_err(|e| e.to_string())?;
            let got = response.status().as_u16();
            let body: Value = response.json().await.map_err(|e| e.to_string())?;
            if got == status {
                Ok(body)
            } else {
                Err(format!("{got} {body}"))
            }
        },
    )
    .await
}

/// The plain words people see say nothing of the technical chain.
fn assert_no_chain(text: &str) {
    for technical in [
        "hyper",
        "os error",
        "client error",
        "tcp connect",
        "mcp_failed",
    ] {
        assert!(!text.contains(technical), "{technical:?} shown: {text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_mode_warns_answers_what_it_can_and_never_executes() {
    let dir = tempfile::tempdir().unwrap();
    let compose = dir.path().join("docker-compose.yml");
    std::fs::copy(test_support::arr_compose_file(), &compose).unwrap();
    let app = PiHealth::start(
        &compose,
        None,
        &[("PI_HEALTH_SUGGESTION_TTL_SECS", "2")],
        false,
    )
    .await;
    let alice = app.sign_in(ALICE).await;

    let status = alice.chat("What is the Docker status?").await;
    let content = status.content();
    assert!(content.contains("class=\"warning\""), "{content}");
    assert!(
        content.contains("DOCKER_MCP_BASE_URL is not set"),
        "{content}"
    );
    assert!(
        content.contains("System health"),
        "it answers what it can: {content}"
    );
    assert!(!status.tools().contains(&"docker_status".to_owned()));

    // The suggestion flow stays; approving it says it did not run.
    let restart = alice
        .chat("Sonarr queue looks stuck, can you restart it?")
        .await;
    let id = restart.suggestion()["id"].as_str().unwrap().to_owned();
    assert_eq!(restart.suggestion()["ctaLabel"], "Approve Restart");
    let approved = alice.approve(&id).await;
    assert_eq!(approved.status.as_u16(), 503);
    assert_eq!(approved.body["status"], "error");
    assert!(
        approved.body["result"]
            .as_str()
            .unwrap()
            .contains("Not executed"),
        "{:?}",
        approved.body
    );

    // An expired suggestion cannot be approved.
    let later = alice.chat("restart radarr").await;
    let id = later.suggestion()["id"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_millis(2300)).await;
    let expired = alice.approve(&id).await;
    assert_eq!(expired.status.as_u16(), 410, "{:?}", expired.body);
    assert_eq!(expired.body["status"], "error");

    let stats = alice.get("/api/system-stats").await;
    assert!(stats.expect(200)["memory"]["total_bytes"].as_u64().unwrap() > 0);
    for page in ["/", "/containers", "/chat", "/approvals", "/audit"] {
        let (status, html) = alice.page(page).await;
        assert_eq!(status.as_u16(), 200, "{page}");
        assert!(html.contains("Docker integration is offline"), "{page}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_gateway_down_answers_warn_quickly_and_approvals_do_not_run() {
    let mut env = Env::start("ph-down", &["sonarr"], Options::default()).await;
    let online = gateway_token(&env, "admin").await;
    let app = PiHealth::start(env.stack.file(), Some(&online), &[], false).await;
    let alice = app.sign_in(ALICE).await;
    let ready = health_until(&app.base, "/health/ready", 200).await;
    assert_eq!(ready["status"], "ready", "{ready}");
    assert_eq!(ready["gateway"], "ready", "{ready}");
    let up = alice.chat("What is the Docker status?").await;
    assert!(up.tools().contains(&"docker_status".to_owned()));
    let reply = alice.chat("restart sonarr").await;
    let id = reply.suggestion()["id"].as_str().unwrap().to_owned();
    let before = env.stack.started_at("sonarr");

    env.stop_gateway();

    let started = Instant::now();
    let down = alice.chat("What is the Docker status?").await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the page must stay responsive"
    );
    let content = down.content();
    assert!(
        content.contains(&format!(
            "The gateway is not answering at {}: is it running?",
            online.base
        )),
        "{content}"
    );
    assert_no_chain(content);
    assert!(!down.tools().contains(&"docker_status".to_owned()));

    // A monitor sees it: not ready, in plain words, no address; alive still.
    let not_ready = health_until(&app.base, "/health/ready", 503).await;
    assert_eq!(not_ready["status"], "not_ready", "{not_ready}");
    assert_eq!(not_ready["gateway"], "not_answering", "{not_ready}");
    assert_eq!(
        not_ready["problems"][0], "The gateway is not answering: is it running?",
        "{not_ready}"
    );
    assert!(!not_ready.to_string().contains("127.0.0.1"), "{not_ready}");
    health_until(&app.base, "/health", 200).await;
    // Hammered, it answers from its last probe: quickly, whatever the timeout.
    let started = Instant::now();
    for _ in 0..50 {
        let status = client()
            .get(app.url("/health/ready"))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status.as_u16(), 503);
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "50 readiness answers took {:?}",
        started.elapsed()
    );

    let approved = alice.approve(&id).await;
    assert_eq!(approved.body["status"], "error", "{:?}", approved.body);
    assert!(
        approved.body["result"]
            .as_str()
            .unwrap()
            .contains("Not executed"),
        "{:?}",
        approved.body
    );
    assert_eq!(env.stack.started_at("sonarr"), before);

    // Suggestions still work from the compose file; the pages still load.
    let again = alice.chat("restart sonarr").await;
    let content = again.content();
    assert!(
        content.contains("The gateway is not answering")
            && content.contains("Approving it now will not execute anything"),
        "{content}"
    );
    let containers = alice.get("/api/containers").await;
    let warning = containers.expect(200)["warning"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(warning.contains("is it running?"), "{warning}");
    assert_no_chain(&warning);
    let approvals = alice.get("/api/approvals").await;
    assert!(approvals.expect(200)["warning"].as_str().is_some());
    let (status, _) = alice.page("/chat").await;
    assert_eq!(status.as_u16(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_engine_readiness_fails_and_people_are_told_what_to_do() {
    let mut env = Env::start("ph-noengine", &["sonarr"], Options::default()).await;
    let online = gateway_token(&env, "admin").await;
    let app = PiHealth::start(env.stack.file(), Some(&online), &[], false).await;
    let gateway_ready = health_until(&env.url(""), "/health/ready", 200).await;
    assert_eq!(
        gateway_ready["services"]["docker-mcp"], "ready",
        "{gateway_ready}"
    );
    health_until(&app.base, "/health/ready", 200).await;

    // docker-mcp comes back pointed at a socket that does not exist.
    let missing = env.dir.join("no-such-docker.sock");
    env.mcp.stop();
    env.mcp.docker_host = Some(format!("unix://{}", missing.display()));
    env.mcp.start_again().await;

    let gateway_down = health_until(&env.url(""), "/health/ready", 503).await;
    assert_eq!(
        gateway_down["services"]["docker-mcp"], "not_ready",
        "{gateway_down}"
    );
    let expected = "docker-mcp cannot reach the Docker Engine: is the Docker service running?";
    assert_eq!(gateway_down["problems"][0], expected, "{gateway_down}");
    assert!(
        !gateway_down.to_string().contains("no-such-docker"),
        "no internal path: {gateway_down}"
    );
    let not_ready = health_until(&app.base, "/health/ready", 503).await;
    assert_eq!(not_ready["gateway"], "not_ready", "{not_ready}");
    assert_eq!(not_ready["problems"][0], expected, "{not_ready}");
    health_until(&app.base, "/health", 200).await;

    // What people see says what is wrong and what to do.
    let alice = app.sign_in(ALICE).await;
    let containers = alice.get("/api/containers").await;
    let warning = containers.expect(200)["warning"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        warning.contains("Docker is not reachable at unix://")
            && warning.contains("is the Docker service running? (details in the server log)"),
        "{warning}"
    );
    assert_no_chain(&warning);
    let chat = alice.chat("What is the Docker status?").await;
    let content = chat.content();
    assert!(content.contains("Docker is not reachable"), "{content}");
    assert_no_chain(content);
}
