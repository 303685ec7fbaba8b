//! A slow and a deaf docker-mcp (a relay in front of it that delays its answers or
//! swallows the requests): the gateway's timeout answers the caller with 504
//! `mcp_timeout`, a mutating call is recorded `failed` with that reason (its
//! outcome unknown), and its target's lock is released.

use std::time::{Duration, Instant};

use super::relay::{Mode, Relay};
use super::{
    assert_audit_verifies, bounded, decisions_of, engine_time, starts_since, wait_running,
};
use crate::support::{ADMIN, Env, Options, Reply, STANDARD, replace};

/// The test's policy: reads time out after this...
const READ_TIMEOUT: Duration = Duration::from_millis(1500);
/// ...and mutating calls after this.
const WRITE_TIMEOUT: Duration = Duration::from_secs(3);

/// A 504 `mcp_timeout` naming the call, given after about `timeout`.
#[track_caller]
fn assert_timed_out(reply: &Reply, took: Duration, timeout: Duration, tool: &str) {
    assert_eq!(reply.status.as_u16(), 504, "{tool}: {}", reply.body);
    assert_eq!(reply.body["code"], "mcp_timeout", "{}", reply.body);
    assert!(
        reply.detail().contains(tool),
        "the error names the call: {}",
        reply.body
    );
    assert!(
        took >= timeout && took < timeout + Duration::from_secs(10),
        "{tool} answered after {took:?}, its timeout being {timeout:?}"
    );
}

/// Approves `id` as the admin: the reply and how long it took.
async fn approve(env: &Env, id: &str) -> (Reply, Duration) {
    let started = Instant::now();
    let reply = bounded(
        "an approval",
        env.post(ADMIN, &format!("/approvals/{id}/approve")),
    )
    .await;
    (reply, started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_or_deaf_docker_mcp_times_out_clearly_and_frees_the_lock() {
    let mut env = Env::start("gw-fault-slow", &["sonarr"], Options::default()).await;
    let relay = Relay::start(&env.mcp.base).await;
    let registry = std::fs::read_to_string(&env.registry).expect("the registry");
    env.write_registry(&replace(&registry, &env.mcp.base, &relay.base));
    let policy = env.policy_text();
    let policy = replace(
        &policy,
        "read_timeout_ms: 4000",
        &format!("read_timeout_ms: {}", READ_TIMEOUT.as_millis()),
    );
    let policy = replace(
        &policy,
        "write_timeout_ms: 30000",
        &format!("write_timeout_ms: {}", WRITE_TIMEOUT.as_millis()),
    );
    env.write_policy(&policy);
    env.restart_gateway().await;
    env.call(STANDARD, "compose_ps", &env.ps_args())
        .await
        .expect(200);

    // Slow, within the timeout: answered.
    relay.set(Mode::Delay(READ_TIMEOUT / 3));
    env.call(STANDARD, "compose_ps", &env.ps_args())
        .await
        .expect(200);

    // Deaf: a read times out.
    relay.set(Mode::Hang);
    let started = Instant::now();
    let reply = bounded("a read", env.call(STANDARD, "compose_ps", &env.ps_args())).await;
    assert_timed_out(&reply, started.elapsed(), READ_TIMEOUT, "compose_ps");

    // Deaf: an approved restart times out, is recorded failed, and never ran.
    let since = engine_time();
    let id = env.request_restart(STANDARD, "sonarr").await;
    let (reply, took) = approve(&env, &id).await;
    assert_timed_out(&reply, took, WRITE_TIMEOUT, "compose_restart");
    assert_eq!(
        decisions_of(&env, &id).await,
        ["need_approval", "approved", "failed"]
    );
    let failed = env
        .audit(ADMIN, "tool=compose_restart&decision=failed")
        .await;
    assert!(
        failed[0]["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("mcp_timeout")),
        "{failed:?}"
    );
    // The lock is free again: the next approved restart of the same target runs
    // into the same timeout, not into `busy`.
    let id = env.request_restart(STANDARD, "sonarr").await;
    let (reply, took) = approve(&env, &id).await;
    assert_timed_out(&reply, took, WRITE_TIMEOUT, "compose_restart");
    assert_eq!(starts_since(&env, "sonarr", &since), 0, "sonarr restarted");

    // Slow beyond the timeout: docker-mcp restarts it, the answer comes too late.
    relay.set(Mode::Delay(WRITE_TIMEOUT + Duration::from_secs(2)));
    let id = env.request_restart(STANDARD, "sonarr").await;
    let (reply, took) = approve(&env, &id).await;
    assert_timed_out(&reply, took, WRITE_TIMEOUT, "compose_restart");
    wait_running(&env, "sonarr").await;
    assert_eq!(starts_since(&env, "sonarr", &since), 1, "one restart ran");

    // Back to normal, without restarting anything.
    relay.set(Mode::Forward);
    env.call(STANDARD, "compose_ps", &env.ps_args())
        .await
        .expect(200);
    assert_audit_verifies(&env);
}
