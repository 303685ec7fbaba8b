//! The gateway killed (SIGKILL) after its durable `approved` record, while
//! docker-mcp is restarting the container: the record stays without an outcome,
//! the approval is spent, and a replay after the restart is refused.

use std::time::Duration;

use reqwest::header::AUTHORIZATION;
use test_support::http_client;

use super::{
    assert_audit_verifies, assert_ran_once_at_most, assert_replay_refused, bounded, decisions_of,
    engine_time, sigkill, slow_restart_env,
};
use crate::support::{ADMIN, STANDARD};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_killed_after_approved_leaves_the_approval_spent_and_the_log_valid() {
    let mut env = slow_restart_env("gw-fault-gwkill").await;
    let since = engine_time();
    let id = env.request_restart(STANDARD, "sonarr").await;
    let pid = env.gateway_pid();
    let approve = http_client()
        .post(env.url(&format!("/approvals/{id}/approve")))
        .header(AUTHORIZATION, env.bearer(ADMIN))
        .send();
    let (answer, ()) = bounded("the approval the gateway died in", async {
        tokio::join!(approve, async {
            // Once `approved` is durable, the restart (SLOW_STOP long) is running.
            test_support::wait_for("the approved record", Duration::from_secs(20), || async {
                let decisions = decisions_of(&env, &id).await;
                if decisions.iter().any(|d| d == "approved") {
                    Ok(())
                } else {
                    Err(format!("{decisions:?}"))
                }
            })
            .await;
            sigkill(pid);
        })
    })
    .await;
    // The caller's connection is cut: no answer at all rather than a false one.
    assert!(
        answer.is_err(),
        "an answer from a killed gateway: {answer:?}"
    );

    env.stop_gateway();
    env.start_gateway().await;
    // The approval is spent: it cannot be approved (run) again.
    assert_replay_refused(&env, &id).await;
    assert!(
        env.approvals(ADMIN)
            .await
            .iter()
            .all(|a| a["id"] != id.as_str()),
        "the spent approval is listed as pending"
    );
    // The log verifies and shows the approval without an outcome, then the replay refused.
    let text = assert_audit_verifies(&env);
    assert_eq!(
        decisions_of(&env, &id).await,
        ["need_approval", "approved", "denied"],
        "the approval's records ({text})"
    );
    // docker-mcp finished the restart it was given, once.
    assert_ran_once_at_most(&env, &since).await;
    env.call(STANDARD, "compose_ps", &env.ps_args())
        .await
        .expect(200);
}
