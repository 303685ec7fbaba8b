//! Offline mode (no DOCKER_MCP_BASE_URL) and a gateway that goes away: the app
//! stays up, says so in every answer, and never reports an action as done.

use std::time::{Duration, Instant};

use crate::gateway_support::{Env, Options};
use crate::support::{ALICE, PiHealth, gateway_token};

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
    assert!(content.contains("The gateway is unreachable"), "{content}");
    assert!(!down.tools().contains(&"docker_status".to_owned()));

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
    assert!(
        again.content().contains("unreachable"),
        "{}",
        again.content()
    );
    let containers = alice.get("/api/containers").await;
    assert!(
        containers.expect(200)["warning"]
            .as_str()
            .unwrap()
            .contains("unreachable")
    );
    let approvals = alice.get("/api/approvals").await;
    assert!(approvals.expect(200)["warning"].as_str().is_some());
    let (status, _) = alice.page("/chat").await;
    assert_eq!(status.as_u16(), 200);
}
