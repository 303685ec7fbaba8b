//! The Engine cut off in the middle of an approved restart: docker-mcp reaches the
//! Engine through a socket proxy the test runs, and the proxy goes away while the
//! Engine is stopping the container.

use std::time::Duration;

use test_support::Forwarder;

use super::{
    assert_audit_verifies, bounded, decisions_of, engine_time, starts_since, wait_running,
};
use crate::support::{ADMIN, Env, Options, STANDARD};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_engine_cut_off_mid_restart_is_a_clear_502_runs_once_at_most_and_recovers() {
    let mut env = Env::start(
        "gw-fault-engine",
        &["sonarr"],
        Options {
            slow_stop: true,
            ..Options::default()
        },
    )
    .await;
    let socket = env.dir.join("engine.sock");
    let proxy = Forwarder::unix(&socket).await;
    env.mcp.stop();
    env.mcp.docker_host = Some(proxy.address().to_owned());
    env.mcp.start_again().await;
    env.call(STANDARD, "compose_ps", &env.ps_args())
        .await
        .expect(200);
    assert!(proxy.connections() > 0, "docker-mcp does not use the proxy");

    let since = engine_time();
    let id = env.request_restart(STANDARD, "sonarr").await;
    let approve_path = format!("/approvals/{id}/approve");
    let (reply, ()) = bounded("the cut-off restart", async {
        tokio::join!(env.post(ADMIN, &approve_path), async move {
            // The restart is under way (it takes SLOW_STOP): cut the Engine off.
            tokio::time::sleep(Duration::from_secs(1)).await;
            drop(proxy);
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
    // Whatever the Engine did on its own, the container started once at most.
    assert!(starts_since(&env, "sonarr", &since) <= 1);

    // The Engine back (a new proxy on the same socket): docker-mcp serves again by
    // itself, and the approval that was used stays used.
    let _proxy = Forwarder::unix(&socket).await;
    env.call(STANDARD, "compose_ps", &env.ps_args())
        .await
        .expect(200);
    let replay = env.post(ADMIN, &format!("/approvals/{id}/approve")).await;
    replay.expect(409);
    assert_eq!(replay.body["code"], "approval_used", "{}", replay.body);
    wait_running(&env, "sonarr").await;
    let after_cut = starts_since(&env, "sonarr", &since);
    assert!(after_cut <= 1, "sonarr started {after_cut} times");

    // A failed call starts no cooldown: a new approval restarts it, once.
    let since = engine_time();
    let id = env.request_restart(STANDARD, "sonarr").await;
    env.post(ADMIN, &format!("/approvals/{id}/approve"))
        .await
        .expect(200);
    wait_running(&env, "sonarr").await;
    assert_eq!(starts_since(&env, "sonarr", &since), 1);
    assert_audit_verifies(&env);
}
