//! The MCP service is down: 502 with the reason, nothing executed, no cooldown.

use crate::support::{ADMIN, Env, Options, STANDARD};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_that_is_down_gives_502_and_nothing_runs() {
    let mut env = Env::start("gw-down", &["sonarr"], Options::default()).await;
    env.call(STANDARD, "compose_ps", &env.ps_args())
        .await
        .expect(200);
    let before = env.stack.started_at("sonarr");

    env.mcp.stop();
    let reply = env.call(STANDARD, "compose_ps", &env.ps_args()).await;
    reply.expect(502);
    let detail = reply.detail();
    assert!(
        detail.contains("compose_ps") && detail.contains("docker-mcp"),
        "the reason names the call and the service: {}",
        reply.body
    );

    // Requested and approved while the service is down: 502, and no restart.
    env.request_restart(STANDARD, "sonarr").await;
    let reply = env
        .call_approved(STANDARD, "compose_restart", &env.restart_args("sonarr"))
        .await;
    reply.expect(502);
    assert!(!reply.detail().is_empty(), "{}", reply.body);
    assert_eq!(env.stack.started_at("sonarr"), before, "sonarr restarted");

    // Audited as failed, with the reason.
    let failed = env
        .audit(ADMIN, "tool=compose_restart&decision=failed")
        .await;
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert!(
        failed[0]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("mcp")),
        "{failed:?}"
    );

    // Back up: a failed call started no cooldown, so the restart can be asked again
    // and now runs.
    env.mcp.start_again().await;
    env.request_restart(STANDARD, "sonarr").await;
    env.call_approved(STANDARD, "compose_restart", &env.restart_args("sonarr"))
        .await
        .expect(200);
    assert_ne!(
        env.stack.started_at("sonarr"),
        before,
        "sonarr did not restart"
    );
}
