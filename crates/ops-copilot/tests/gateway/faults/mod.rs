//! The fault suite: the gateway and docker-mcp against the real Engine while
//! something breaks under them (the Engine cut off, docker-mcp or the gateway
//! killed, the audit disk full or read-only, docker-mcp slow or deaf). Each
//! scenario checks what the caller is told (a clear error and status, within a
//! bound, never a hang), that nothing ran twice or without its durable `approved`
//! record (the audit log, and the Engine's own `start` events for the container),
//! and that the next call works again without restarting anything else.

mod audit_disk;
mod docker_mcp_killed;
mod engine_cut;
mod gateway_killed;
mod relay;
mod slow_upstream;

use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use test_support::docker;

use crate::support::{ADMIN, Env, Options, Reply, STANDARD, output_text, run_cli};

/// A world whose sonarr takes [`crate::support::SLOW_STOP`] to restart: time to
/// break something while it does.
async fn slow_restart_env(tag: &str) -> Env {
    Env::start(
        tag,
        &["sonarr"],
        Options {
            slow_stop: true,
            ..Options::default()
        },
    )
    .await
}

/// The admin approves `id` (a restart of sonarr, which then runs), and one second
/// in, while the restart is under way, `fault` strikes. The approval's answer.
async fn approve_while(env: &Env, id: &str, fault: impl FnOnce()) -> Reply {
    let path = format!("/approvals/{id}/approve");
    let (reply, ()) = bounded("the approval the fault struck", async {
        tokio::join!(env.post(ADMIN, &path), async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            fault();
        })
    })
    .await;
    reply
}

/// A 502 `mcp_failed` naming the call, the approval recorded as approved then
/// failed.
async fn assert_failed_cleanly(env: &Env, id: &str, reply: &Reply) {
    reply.expect(502);
    assert_eq!(reply.body["code"], "mcp_failed", "{}", reply.body);
    assert!(
        reply.detail().contains("compose_restart"),
        "the error names the call: {}",
        reply.body
    );
    assert_eq!(
        decisions_of(env, id).await,
        ["need_approval", "approved", "failed"],
        "the approval's records"
    );
}

/// The used approval cannot be approved (run) again: 409 `approval_used`.
async fn assert_replay_refused(env: &Env, id: &str) {
    let replay = env.post(ADMIN, &format!("/approvals/{id}/approve")).await;
    replay.expect(409);
    assert_eq!(replay.body["code"], "approval_used", "{}", replay.body);
}

/// sonarr runs, started once at most since `since`: a fault never makes an
/// approval run twice.
async fn assert_ran_once_at_most(env: &Env, since: &str) {
    wait_running(env, "sonarr").await;
    let starts = starts_since(env, "sonarr", since);
    assert!(starts <= 1, "sonarr started {starts} times");
}

/// Once the fault is gone: a read works, the approval the fault struck stays
/// spent, it ran once at most, and a new one runs.
async fn assert_recovered(env: &Env, id: &str, since: &str) {
    env.call(STANDARD, "compose_ps", &env.ps_args())
        .await
        .expect(200);
    assert_replay_refused(env, id).await;
    assert_ran_once_at_most(env, since).await;
    assert_restarts_once(env).await;
}

/// A new restart of sonarr, requested and approved, runs once (a failed call
/// started no cooldown), and the audit log verifies. The approval's id.
async fn assert_restarts_once(env: &Env) -> String {
    let since = engine_time();
    let id = env.request_restart(STANDARD, "sonarr").await;
    env.post(ADMIN, &format!("/approvals/{id}/approve"))
        .await
        .expect(200);
    wait_running(env, "sonarr").await;
    assert_eq!(starts_since(env, "sonarr", &since), 1);
    assert_audit_verifies(env);
    id
}

/// Longer than any answer a scenario waits for: past it, the call hangs.
const CALL_BOUND: Duration = Duration::from_secs(60);

/// Runs `call`, failing the test when it takes longer than [`CALL_BOUND`].
async fn bounded<T>(what: &str, call: impl Future<Output = T>) -> T {
    tokio::time::timeout(CALL_BOUND, call)
        .await
        .unwrap_or_else(|_| panic!("{what} did not answer within {CALL_BOUND:?}: it hangs"))
}

/// Now, as `docker events --since` takes it (seconds since the epoch).
fn engine_time() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("a clock after 1970");
    format!("{}.{:09}", now.as_secs(), now.subsec_nanos())
}

/// How many times the Engine started the service's container since `since`
/// ([`engine_time`]): a restart is one start, whoever asked for it.
fn starts_since(env: &Env, service: &str, since: &str) -> usize {
    let container = env.stack.container(service);
    let until = engine_time();
    docker(&[
        "events",
        "--since",
        since,
        "--until",
        &until,
        "--filter",
        &format!("container={container}"),
        "--filter",
        "event=start",
        "--format",
        "{{.Action}}",
    ])
    .lines()
    .filter(|line| !line.trim().is_empty())
    .count()
}

/// Waits until the service's container runs again (a restart ends with it running).
async fn wait_running(env: &Env, service: &str) {
    test_support::wait_for(
        &format!("{service} to run"),
        Duration::from_secs(30),
        || async {
            if env.stack.is_running(service) {
                Ok(())
            } else {
                Err(env.stack.inspect(service, "{{.State.Status}}"))
            }
        },
    )
    .await;
}

/// The decisions recorded for this approval, oldest first (as the admin sees them).
async fn decisions_of(env: &Env, approval_id: &str) -> Vec<String> {
    let mut records: Vec<Value> = env
        .audit(ADMIN, "")
        .await
        .into_iter()
        .filter(|r| r["approval_id"] == approval_id)
        .collect();
    records.sort_by_key(|r| r["seq"].as_u64());
    records
        .iter()
        .map(|r| r["decision"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// `ops-copilot audit verify` on the env's data directory: must say ok.
#[track_caller]
fn assert_audit_verifies(env: &Env) -> String {
    let data_dir = env.data_dir.display().to_string();
    let output = run_cli(&["audit", "verify", "--data-dir", &data_dir]);
    let text = output_text(&output);
    assert!(output.status.success(), "audit verify failed: {text}");
    text
}

/// Sends `kill -KILL pid` (the process is reaped by its owner afterwards).
fn sigkill(pid: u32) {
    let sent = std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status();
    assert!(sent.is_ok_and(|s| s.success()), "kill -KILL {pid}");
}
