//! Pending approvals and running cooldowns survive a gateway restart (a crash, even).

use crate::support::{AGENT, Env, Options, STANDARD};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approvals_and_cooldowns_survive_a_gateway_restart() {
    let mut env = Env::start(
        "gw-restart",
        &["sonarr", "sabnzbd"],
        Options {
            agent: true,
            ..Options::default()
        },
    )
    .await;

    // Before: sabnzbd restarted (its cooldown starts), sonarr's restart pending.
    env.request_restart(STANDARD, "sabnzbd").await;
    env.call_approved(STANDARD, "compose_restart", &env.restart_args("sabnzbd"))
        .await
        .expect(200);
    let sabnzbd_restarted = env.stack.started_at("sabnzbd");
    env.call(STANDARD, "compose_restart", &env.restart_args("sabnzbd"))
        .await
        .expect(429);
    let id = env.request_restart(AGENT, "sonarr").await;
    let sonarr_before = env.stack.started_at("sonarr");

    // SIGKILL, then a new process on the same data directory.
    env.restart_gateway().await;

    let pending = env.approvals(STANDARD).await;
    let listed = pending
        .iter()
        .find(|a| a["id"] == id.as_str())
        .unwrap_or_else(|| panic!("{id} lost in the restart: {pending:?}"));
    assert_eq!(listed["principal"], AGENT);
    assert_eq!(listed["args"], env.restart_args("sonarr"));
    assert_eq!(listed["can_approve"], true);
    let reply = env
        .post(STANDARD, &format!("/approvals/{id}/approve"))
        .await;
    assert_eq!(reply.expect(200)["ok"], true, "{}", reply.body);
    assert_ne!(
        env.stack.started_at("sonarr"),
        sonarr_before,
        "sonarr did not restart"
    );

    // sabnzbd's cooldown still runs.
    let reply = env
        .call(STANDARD, "compose_restart", &env.restart_args("sabnzbd"))
        .await;
    reply.expect(429);
    let seconds = reply.body["retry_after_seconds"].as_u64().unwrap_or(0);
    assert!(
        (1..=300).contains(&seconds),
        "retry_after_seconds: {}",
        reply.body
    );
    assert!(reply.headers.contains_key("retry-after"), "{reply:?}");
    assert_eq!(env.stack.started_at("sabnzbd"), sabnzbd_restarted);
}
