//! docker-mcp killed (SIGKILL) while the Engine runs an approved restart for it,
//! then started again.

use std::time::Duration;

use super::{
    assert_audit_verifies, bounded, decisions_of, engine_time, sigkill, starts_since, wait_running,
};
use crate::support::{ADMIN, Env, Options, STANDARD};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_mcp_killed_mid_restart_is_a_clear_502_runs_once_at_most_and_recovers() {
    let mut env = Env::start(
        "gw-fault-mcpkill",
        &["sonarr"],
        Options {
            slow_stop: true,
            ..Options::default()
        },
    )
    .await;
    let since = engine_time();
    let id = env.request_restart(STANDARD, "sonarr").await;
    let pid = env.mcp.pid();
    let approve_path = format!("/approvals/{id}/approve");
    let (reply, ()) = bounded("the restart docker-mcp died in", async {
        tokio::join!(env.post(ADMIN, &approve_path), async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            sigkill(pid);
        })
    })
    .await;
    reply.expect(502);
    assert_eq!(reply.body["code"], "mcp_failed", "{}", reply.body);
    assert!(
        reply.detail().contains("compose_restart"),
        "the error names the call: {}",
        reply.body
    );
    assert_eq!(
        decisions_of(&env, &id).await,
        ["need_approval", "approved", "failed"],
        "the approval's records"
    );

    // While it is down, calls fail at once with 502 (nothing queued to run later).
    env.call(STANDARD, "compose_ps", &env.ps_args())
        .await
        .expect(502);

    // Started again: the gateway uses it without a restart of its own, and the
    // approval that was used stays used.
    env.mcp.stop();
    env.mcp.start_again().await;
    env.call(STANDARD, "compose_ps", &env.ps_args())
        .await
        .expect(200);
    let replay = env.post(ADMIN, &format!("/approvals/{id}/approve")).await;
    replay.expect(409);
    assert_eq!(replay.body["code"], "approval_used", "{}", replay.body);
    wait_running(&env, "sonarr").await;
    let starts = starts_since(&env, "sonarr", &since);
    assert!(starts <= 1, "sonarr started {starts} times");

    let since = engine_time();
    let id = env.request_restart(STANDARD, "sonarr").await;
    env.post(ADMIN, &format!("/approvals/{id}/approve"))
        .await
        .expect(200);
    wait_running(&env, "sonarr").await;
    assert_eq!(starts_since(&env, "sonarr", &since), 1);
    assert_audit_verifies(&env);
}
