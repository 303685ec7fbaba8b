//! docker-mcp killed (SIGKILL) while the Engine runs an approved restart for it,
//! then started again.

use super::{
    approve_while, assert_failed_cleanly, assert_recovered, engine_time, sigkill, slow_restart_env,
};
use crate::support::STANDARD;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_mcp_killed_mid_restart_is_a_clear_502_runs_once_at_most_and_recovers() {
    let mut env = slow_restart_env("gw-fault-mcpkill").await;
    let since = engine_time();
    let id = env.request_restart(STANDARD, "sonarr").await;
    let pid = env.mcp.pid();
    let reply = approve_while(&env, &id, || sigkill(pid)).await;
    assert_failed_cleanly(&env, &id, &reply).await;

    // While it is down, calls fail at once with 502 (nothing queued to run later).
    env.call(STANDARD, "compose_ps", &env.ps_args())
        .await
        .expect(502);

    // Started again: the gateway uses it without a restart of its own, and the
    // approval that was used stays used.
    env.mcp.stop();
    env.mcp.start_again().await;
    assert_recovered(&env, &id, &since).await;
}
