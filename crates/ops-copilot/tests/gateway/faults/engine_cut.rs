//! The Engine cut off in the middle of an approved restart: docker-mcp reaches the
//! Engine through a socket proxy the test runs, and the proxy goes away while the
//! Engine is stopping the container.

use test_support::Forwarder;

use super::{
    approve_while, assert_failed_cleanly, assert_recovered, engine_time, slow_restart_env,
    starts_since,
};
use crate::support::STANDARD;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_engine_cut_off_mid_restart_is_a_clear_502_runs_once_at_most_and_recovers() {
    let mut env = slow_restart_env("gw-fault-engine").await;
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
    let reply = approve_while(&env, &id, move || drop(proxy)).await;
    assert_failed_cleanly(&env, &id, &reply).await;
    // Whatever the Engine did on its own, the container started once at most.
    assert!(starts_since(&env, "sonarr", &since) <= 1);

    // The Engine back (a new proxy on the same socket): docker-mcp serves again by
    // itself, and the approval that was used stays used.
    let _proxy = Forwarder::unix(&socket).await;
    assert_recovered(&env, &id, &since).await;
}
