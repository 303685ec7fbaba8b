//! The decision pipeline with a fake MCP service at the `Upstream` seam; the
//! real docker-mcp and Engine are exercised by the integration tests.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::json;

use std::sync::Arc;
use std::time::{Duration, Instant};

use audit::{AuditLog, Decision};
use ops_core::contract::rules::ON_BEHALF_OF_MAX_LEN as MAX_ON_BEHALF_OF;
use serde_json::Value;

use super::*;

const PENDING_CAPS_PER_PRINCIPAL: usize = 100;
use crate::auth::Principal;
use crate::config::{Config, ConfigHandle};
use crate::state::{ApprovalStatus, StateStore};
use crate::upstream::{CallFuture, Upstream};
use crate::upstream::{UpstreamError, Upstreams};

const REGISTRY: &str = include_str!("../../../../config/tool_registry.yaml");
const POLICY: &str = include_str!("../../../../config/policy.yaml");
const FILE: &str = "/opt/stack/docker-compose.yml";

/// Answers every call with `answer` after `delay`, counting calls.
struct FakeService {
    calls: AtomicUsize,
    delay: Duration,
    answer: Result<Value, UpstreamError>,
}

impl Upstream for FakeService {
    fn call<'a>(
        &'a self,
        _function: &'a str,
        _args: &'a Value,
        timeout: Duration,
    ) -> CallFuture<'a> {
        Box::pin(async move {
            self.calls.fetch_add(1, Ordering::SeqCst);
            if self.delay > timeout {
                tokio::time::sleep(timeout).await;
                return Err(UpstreamError::Timeout {
                    service: "docker-mcp".into(),
                    timeout,
                });
            }
            tokio::time::sleep(self.delay).await;
            self.answer.clone()
        })
    }
}

struct Harness {
    gateway: Gateway,
    service: Arc<FakeService>,
    dir: tempfile::TempDir,
}

fn principal(name: &str, role: &str) -> Principal {
    Principal {
        name: name.into(),
        role: role.into(),
        ..Principal::default()
    }
}

fn admin() -> Principal {
    principal("alice", "admin")
}

fn standard() -> Principal {
    principal("bob", "standard")
}

fn agent() -> Principal {
    principal("robot", "agent")
}

/// The guide's files plus an `agent` role that may request but never approve.
fn policy_text(extra_defaults: &str) -> String {
    POLICY
        .replace("roles:\n", "roles:\n  agent:\n    can_approve: []\n")
        .replace("defaults:\n", &format!("defaults:\n{extra_defaults}"))
}

fn harness_with(
    answer: Result<Value, UpstreamError>,
    delay: Duration,
    extra_defaults: &str,
) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    open_harness(dir, answer, delay, extra_defaults)
}

fn open_harness(
    dir: tempfile::TempDir,
    answer: Result<Value, UpstreamError>,
    delay: Duration,
    extra_defaults: &str,
) -> Harness {
    let registry = dir.path().join("tool_registry.yaml");
    let policy = dir.path().join("policy.yaml");
    if !registry.exists() {
        std::fs::write(&registry, REGISTRY).unwrap();
        std::fs::write(&policy, policy_text(extra_defaults)).unwrap();
    }
    let config = ConfigHandle::load(&registry, &policy).unwrap();
    let state = Arc::new(StateStore::open(&dir.path().join("state.db")).unwrap());
    let audit = Arc::new(AuditLog::open(&dir.path().join("audit.db")).unwrap());
    let service = Arc::new(FakeService {
        calls: AtomicUsize::new(0),
        delay,
        answer,
    });
    let fake = service.clone();
    let gateway = Gateway::new(config, state, audit, move |config: &Config| {
        let mut clients: HashMap<String, Arc<dyn Upstream>> = HashMap::new();
        clients.insert("docker-mcp".into(), fake.clone());
        Ok(Upstreams::from_clients(config.version.clone(), clients))
    })
    .unwrap();
    Harness {
        gateway,
        service,
        dir,
    }
}

fn harness() -> Harness {
    harness_with(
        Ok(json!({"services": [{"service": "sonarr", "state": "running"}]})),
        Duration::ZERO,
        "",
    )
}

pub(super) fn call(tool: &str, args: Value) -> CallRequest {
    CallRequest {
        tool: tool.into(),
        args,
        ..CallRequest::default()
    }
}

pub(super) fn approved(tool: &str, args: Value) -> CallRequest {
    CallRequest {
        approved: true,
        ..call(tool, args)
    }
}

fn restart(service: &str) -> Value {
    json!({"file": FILE, "service": service})
}

pub(super) fn refused(reply: &Reply) -> &Refusal {
    match reply {
        Reply::Refused(refusal) => refusal,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn need(reply: &Reply) -> &NeedApproval {
    match reply {
        Reply::NeedApproval(need) => need,
        other => panic!("expected need_approval, got {other:?}"),
    }
}

fn executed(reply: &Reply) -> &Executed {
    match reply {
        Reply::Executed(executed) => executed,
        other => panic!("expected execution, got {other:?}"),
    }
}

impl Harness {
    fn calls(&self) -> usize {
        self.service.calls.load(Ordering::SeqCst)
    }

    /// The stored records, newest first, once every record handed over is stored.
    async fn audit(&self) -> Vec<audit::AuditRecord> {
        self.gateway.flush_audit().await.unwrap();
        self.gateway
            .audit_log()
            .list(&audit::AuditFilter {
                limit: 1000,
                ..Default::default()
            })
            .unwrap()
    }

    async fn last_decision(&self) -> (Decision, Option<String>) {
        let newest = self
            .audit()
            .await
            .into_iter()
            .next()
            .expect("an audit record");
        (newest.decision, newest.reason)
    }
}

#[tokio::test]
async fn the_guides_smoke_tests_pass() {
    let h = harness();
    let ps = h
        .gateway
        .call(&standard(), call("compose_ps", json!({"file": FILE})))
        .await;
    assert_eq!(executed(&ps).tool, "compose_ps");
    let logs = h
        .gateway
        .call(
            &standard(),
            call(
                "compose_logs",
                json!({"file": FILE, "service": "sabnzbd", "tail": 150}),
            ),
        )
        .await;
    assert!(executed(&logs).ok);
    // Restart: need_approval first, then approved: true executes (standard can approve restarts).
    let first = h
        .gateway
        .call(&standard(), call("compose_restart", restart("sonarr")))
        .await;
    assert!(need(&first).self_approval);
    assert_eq!(h.calls(), 2);
    let second = h
        .gateway
        .call(&standard(), approved("compose_restart", restart("sonarr")))
        .await;
    assert!(executed(&second).ok);
    assert_eq!(h.calls(), 3);
    let decisions: Vec<Decision> = h.audit().await.iter().rev().map(|r| r.decision).collect();
    assert_eq!(
        decisions,
        [
            Decision::Executed,
            Decision::Executed,
            Decision::NeedApproval,
            Decision::Approved,
            Decision::Executed
        ]
    );
    assert!(h.gateway.audit_log().verify().unwrap().ok);
}

#[tokio::test]
async fn refusals_come_in_the_guides_order_and_are_audited() {
    let h = harness();
    let r = h
        .gateway
        .call(&admin(), call("docker_exec", json!({})))
        .await;
    assert_eq!(
        (refused(&r).status(), refused(&r).detail.as_str()),
        (400, "Unknown tool")
    );
    let r = h
        .gateway
        .call(&admin(), call("compose_ps", json!({"file": "/etc/passwd"})))
        .await;
    assert_eq!(refused(&r).status(), 400);
    assert!(
        refused(&r).detail.starts_with("Bad args: "),
        "{:?}",
        refused(&r)
    );
    // Schema before role: bad args for a tool the role may not use is still 400.
    let r = h
        .gateway
        .call(&standard(), call("compose_pull", json!({})))
        .await;
    assert_eq!(refused(&r).status(), 400);
    let r = h
        .gateway
        .call(&standard(), call("compose_pull", json!({"file": FILE})))
        .await;
    assert_eq!(refused(&r).status(), 403);
    let r = h
        .gateway
        .call(
            &principal("eve", "ghost"),
            call("compose_ps", json!({"file": FILE})),
        )
        .await;
    assert_eq!(refused(&r).status(), 403);
    assert_eq!(h.calls(), 0);
    assert_eq!(h.audit().await.len(), 5);
    assert!(
        h.audit()
            .await
            .iter()
            .all(|r| r.decision == Decision::Denied)
    );
}

#[tokio::test]
async fn injection_and_lookalike_service_names_are_bad_args() {
    let h = harness();
    for service in [
        "sonarr; rm -rf /",
        "../etc",
        "sоnarr",
        "sonarr\n",
        "",
        "$(reboot)",
        &"a".repeat(33),
    ] {
        let r = h
            .gateway
            .call(&admin(), approved("compose_restart", restart(service)))
            .await;
        assert_eq!(refused(&r).status(), 400, "{service:?}");
    }
    let r = h
        .gateway
        .call(
            &admin(),
            approved(
                "compose_restart",
                json!({"file": "/opt/stack/../stack/docker-compose.yml", "service": "sonarr"}),
            ),
        )
        .await;
    assert_eq!(refused(&r).status(), 400);
    assert_eq!(h.calls(), 0);
}

#[tokio::test]
async fn a_role_in_the_body_is_never_trusted() {
    let h = harness();
    let escalate = CallRequest {
        claimed_role: Some("admin".into()),
        ..approved("compose_pull", json!({"file": FILE}))
    };
    let r = h.gateway.call(&standard(), escalate).await;
    assert_eq!(
        (refused(&r).status(), refused(&r).code.as_str()),
        (403, "role_mismatch")
    );
    // The same role as the token's is fine (the guide's client sends one).
    let same = CallRequest {
        claimed_role: Some("standard".into()),
        ..call("compose_ps", json!({"file": FILE}))
    };
    executed(&h.gateway.call(&standard(), same).await);
}

#[tokio::test]
async fn a_role_that_cannot_approve_cannot_say_approved() {
    let h = harness();
    let first = h
        .gateway
        .call(&agent(), call("compose_restart", restart("sonarr")))
        .await;
    assert!(!need(&first).self_approval);
    let r = h
        .gateway
        .call(&agent(), approved("compose_restart", restart("sonarr")))
        .await;
    assert_eq!(
        (refused(&r).status(), refused(&r).code.as_str()),
        (403, "cannot_self_approve")
    );
    let with_id = CallRequest {
        approval_id: Some(need(&first).approval_id.clone()),
        ..approved("compose_restart", restart("sonarr"))
    };
    assert_eq!(
        refused(&h.gateway.call(&agent(), with_id).await).status(),
        403
    );
    // The agent cannot approve through the approvals route either.
    let r = h
        .gateway
        .approve(&agent(), &need(&first).approval_id, None)
        .await;
    assert_eq!(refused(&r).code, "cannot_approve");
    assert_eq!(h.calls(), 0);
    // A human whose role can approve it does, and the call runs once.
    assert!(
        executed(
            &h.gateway
                .approve(&standard(), &need(&first).approval_id, None)
                .await
        )
        .ok
    );
    assert_eq!(h.calls(), 1);
    let newest = h.audit().await.into_iter().next().unwrap();
    assert_eq!(
        (newest.principal.as_str(), newest.approver.as_deref()),
        ("robot", Some("bob"))
    );
    // Replay: refused (the cooldown now running is checked first) and audited.
    let r = h
        .gateway
        .approve(&standard(), &need(&first).approval_id, None)
        .await;
    assert!(matches!(refused(&r).status(), 409 | 429), "{r:?}");
    assert_eq!(h.calls(), 1);
    assert_eq!(h.last_decision().await.0, Decision::Denied);
}

/// Rewrites a policy file and makes sure the change is picked up.
fn edit_policy(h: &Harness, text: String) {
    let policy = h.dir.path().join("policy.yaml");
    std::fs::write(&policy, text).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&policy)
        .unwrap()
        .set_modified(SystemTime::now() + Duration::from_secs(5))
        .unwrap();
    assert!(h.gateway.config_handle().reload_if_changed());
}

#[tokio::test]
async fn a_replayed_approval_is_refused() {
    let h = harness();
    // Without cooldowns, so that only the approval stands in the way of a replay.
    std::fs::write(
        h.dir.path().join("tool_registry.yaml"),
        REGISTRY.replace("    cooldown: { seconds: 300, key_by: service }\n", ""),
    )
    .unwrap();
    edit_policy(
        &h,
        policy_text("").replace(
            "  compose_restart: { seconds: 300, key: \"service\" }\n",
            "",
        ),
    );
    assert_eq!(h.gateway.config().tools["compose_restart"].cooldown, None);
    let first = h
        .gateway
        .call(&agent(), call("compose_restart", restart("sonarr")))
        .await;
    let id = need(&first).approval_id.clone();
    executed(&h.gateway.approve(&admin(), &id, None).await);
    let r = h.gateway.approve(&admin(), &id, None).await;
    assert_eq!(
        (refused(&r).status(), refused(&r).code.as_str()),
        (409, "approval_used")
    );
    let mine = h
        .gateway
        .call(&admin(), call("compose_restart", restart("radarr")))
        .await;
    let reuse = CallRequest {
        approval_id: Some(need(&mine).approval_id.clone()),
        ..approved("compose_restart", restart("radarr"))
    };
    executed(&h.gateway.call(&admin(), reuse.clone()).await);
    assert_eq!(
        refused(&h.gateway.call(&admin(), reuse).await).code,
        "approval_used"
    );
    assert_eq!(h.calls(), 2);
}

#[tokio::test]
async fn arguments_swapped_after_approval_are_refused() {
    let h = harness();
    let first = h
        .gateway
        .call(&standard(), call("compose_restart", restart("sonarr")))
        .await;
    let id = need(&first).approval_id.clone();
    let swapped = CallRequest {
        approval_id: Some(id.clone()),
        ..approved("compose_restart", restart("radarr"))
    };
    let r = h.gateway.call(&standard(), swapped).await;
    assert_eq!(refused(&r).code, "approval_mismatch");
    // Someone else's approval cannot be borrowed either.
    let other = CallRequest {
        approval_id: Some(id.clone()),
        ..approved("compose_restart", restart("sonarr"))
    };
    assert_eq!(
        refused(&h.gateway.call(&admin(), other).await).code,
        "approval_mismatch"
    );
    assert_eq!(h.calls(), 0);
    // The genuine call still works, once.
    let genuine = CallRequest {
        approval_id: Some(id),
        ..approved("compose_restart", restart("sonarr"))
    };
    executed(&h.gateway.call(&standard(), genuine.clone()).await);
    assert_eq!(
        refused(&h.gateway.call(&standard(), genuine).await).status(),
        429
    );
}

#[tokio::test]
async fn an_expired_approval_is_refused() {
    let h = harness_with(Ok(json!({})), Duration::ZERO, "  approval_ttl_seconds: 1\n");
    let first = h
        .gateway
        .call(&agent(), call("compose_restart", restart("sonarr")))
        .await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let r = h
        .gateway
        .approve(&admin(), &need(&first).approval_id, None)
        .await;
    assert_eq!(
        (refused(&r).status(), refused(&r).code.as_str()),
        (410, "approval_expired")
    );
    assert_eq!(h.calls(), 0);
}

#[tokio::test]
async fn a_denied_approval_cannot_run() {
    let h = harness();
    let first = h
        .gateway
        .call(&agent(), call("compose_restart", restart("sonarr")))
        .await;
    let id = need(&first).approval_id.clone();
    assert!(h.gateway.deny(&agent(), "nope", None).await.is_err());
    assert_eq!(
        h.gateway
            .deny(&principal("mallory", "agent"), &id, None)
            .await
            .unwrap_err()
            .code,
        "cannot_approve"
    );
    h.gateway.deny(&admin(), &id, None).await.unwrap();
    assert_eq!(
        refused(&h.gateway.approve(&admin(), &id, None).await).code,
        "approval_used"
    );
    assert_eq!(h.calls(), 0);
    assert!(h.gateway.pending_for(&admin()).unwrap().is_empty());
}

#[tokio::test]
async fn cooldowns_are_per_service_and_survive_a_restart() {
    let h = harness();
    let run = |who: Principal, service: &'static str| {
        let gateway = &h.gateway;
        async move {
            gateway
                .call(&who, call("compose_restart", restart(service)))
                .await;
            gateway
                .call(&who, approved("compose_restart", restart(service)))
                .await
        }
    };
    executed(&run(standard(), "sonarr").await);
    let r = run(standard(), "sonarr").await;
    assert_eq!(refused(&r).status(), 429);
    let left = refused(&r).retry_after_seconds.unwrap();
    assert!((295..=300).contains(&left), "{left}");
    executed(&run(standard(), "radarr").await);

    // A new gateway on the same files: the cooldown is still running.
    let Harness { dir, .. } = h;
    let again = open_harness(dir, Ok(json!({})), Duration::ZERO, "");
    let r = again
        .gateway
        .call(&standard(), call("compose_restart", restart("sonarr")))
        .await;
    assert_eq!(refused(&r).status(), 429);
}

#[tokio::test]
async fn approvals_survive_a_restart() {
    let h = harness();
    let first = h
        .gateway
        .call(&agent(), call("compose_restart", restart("sonarr")))
        .await;
    let id = need(&first).approval_id.clone();
    let Harness { dir, .. } = h;
    let again = open_harness(dir, Ok(json!({"ok": 1})), Duration::ZERO, "");
    assert_eq!(again.gateway.pending_for(&admin()).unwrap().len(), 1);
    executed(&again.gateway.approve(&admin(), &id, None).await);
    assert_eq!(again.calls(), 1);
}

#[tokio::test]
async fn a_policy_change_invalidates_pending_approvals_and_is_rechecked() {
    let h = harness();
    let first = h
        .gateway
        .call(&agent(), call("compose_restart", restart("sonarr")))
        .await;
    edit_policy(&h, format!("{}\n# edited\n", policy_text("")));
    let r = h
        .gateway
        .approve(&admin(), &need(&first).approval_id, None)
        .await;
    assert_eq!(refused(&r).code, "policy_changed");
    assert_eq!(h.calls(), 0);
}

#[tokio::test]
async fn one_mutating_call_per_target_at_a_time() {
    let h = harness_with(Ok(json!({})), Duration::from_millis(300), "");
    h.gateway
        .call(&standard(), call("compose_restart", restart("sonarr")))
        .await;
    h.gateway
        .call(&admin(), call("compose_restart", restart("sonarr")))
        .await;
    let (bob, alice) = (standard(), admin());
    let (a, b) = tokio::join!(
        h.gateway
            .call(&bob, approved("compose_restart", restart("sonarr"))),
        h.gateway
            .call(&alice, approved("compose_restart", restart("sonarr"))),
    );
    let outcomes = [&a, &b].map(|r| match r {
        Reply::Executed(_) => 200,
        Reply::Refused(refusal) => refusal.status(),
        Reply::NeedApproval(_) => 0,
    });
    assert!(
        outcomes.contains(&200) && (outcomes.contains(&409) || outcomes.contains(&429)),
        "{outcomes:?}"
    );
    assert_eq!(h.calls(), 1);
}

#[tokio::test]
async fn a_slow_service_times_out_with_the_read_timeout() {
    let h = harness_with(Ok(json!({})), Duration::from_secs(10), "");
    // The guide's read timeout is 4000 ms; use a tighter policy for the test.
    edit_policy(
        &h,
        policy_text("").replace("read_timeout_ms: 4000", "read_timeout_ms: 200"),
    );
    let started = Instant::now();
    let r = h
        .gateway
        .call(&admin(), call("compose_ps", json!({"file": FILE})))
        .await;
    assert_eq!(refused(&r).status(), 504);
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(h.last_decision().await.0, Decision::Failed);
}

#[tokio::test]
async fn a_service_failure_is_a_502_and_nothing_more_is_tried() {
    let down = UpstreamError::Unreachable {
        service: "docker-mcp".into(),
        reason: "connection refused".into(),
    };
    let h = harness_with(Err(down), Duration::ZERO, "");
    let r = h
        .gateway
        .call(&standard(), call("compose_ps", json!({"file": FILE})))
        .await;
    assert_eq!(refused(&r).status(), 502);
    let detail = &refused(&r).detail;
    assert!(
        detail.contains("docker-mcp did not answer compose_ps: is it running?")
            && !detail.contains("connection refused"),
        "plain words, the chain in the log: {detail}"
    );
    h.gateway
        .call(&standard(), call("compose_restart", restart("sonarr")))
        .await;
    let r = h
        .gateway
        .call(&standard(), approved("compose_restart", restart("sonarr")))
        .await;
    assert_eq!(refused(&r).status(), 502);
    // A failed restart starts no cooldown.
    let again = h
        .gateway
        .call(&standard(), call("compose_restart", restart("sonarr")))
        .await;
    need(&again);
}

#[tokio::test]
async fn results_and_errors_are_redacted_and_capped() {
    // Secrets at the end, where a cap that keeps the newest lines keeps them.
    let logs = format!(
        "{}\nGET /api/v3/queue?apikey=abc123 200\nAuthorization: Bearer abc.def-ghi_123\n",
        "x".repeat(200_000)
    );
    let h = harness_with(Ok(json!({"logs": logs})), Duration::ZERO, "");
    let r = h
        .gateway
        .call(
            &admin(),
            call(
                "compose_logs",
                json!({"file": FILE, "service": "sonarr", "tail": 100}),
            ),
        )
        .await;
    let text = executed(&r).result.to_string();
    assert!(
        !text.contains("abc123") && !text.contains("abc.def-ghi_123"),
        "secret leaked"
    );
    assert!(text.len() <= 120_000, "{}", text.len());
    assert!(text.contains("truncated"), "no visible marker");

    let leak = UpstreamError::Failed {
        service: "docker-mcp".into(),
        status: Some(502),
        message: "failed: PASSWORD=hunter2".into(),
    };
    let h = harness_with(Err(leak), Duration::ZERO, "");
    let r = h
        .gateway
        .call(&admin(), call("compose_ps", json!({"file": FILE})))
        .await;
    assert!(!refused(&r).detail.contains("hunter2"), "{:?}", refused(&r));
    assert!(
        h.audit()
            .await
            .iter()
            .all(|r| !r.reason.clone().unwrap_or_default().contains("hunter2"))
    );
}

#[tokio::test]
async fn each_tool_goes_to_the_service_the_registry_names() {
    let dir = tempfile::tempdir().unwrap();
    let registry = dir.path().join("tool_registry.yaml");
    let policy = dir.path().join("policy.yaml");
    // A second MCP server (the guide's FAQ) serving compose_logs.
    let two_services = REGISTRY
        .replace(
            "tools:\n",
            "  logs-mcp:\n    base_url: http://logs-mcp:8080\n    transport: http\n    auth: none\n\ntools:\n",
        )
        .replace("mcp: { service: docker-mcp, fn: compose_logs }", "mcp: { service: logs-mcp, fn: tail_logs }");
    std::fs::write(&registry, two_services).unwrap();
    std::fs::write(&policy, policy_text("")).unwrap();
    let config = ConfigHandle::load(&registry, &policy).unwrap();
    let fake = |answer: Value| {
        Arc::new(FakeService {
            calls: AtomicUsize::new(0),
            delay: Duration::ZERO,
            answer: Ok(answer),
        })
    };
    let (docker, logs) = (
        fake(json!({"from": "docker-mcp"})),
        fake(json!({"from": "logs-mcp"})),
    );
    let (d, l) = (docker.clone(), logs.clone());
    let gateway = Gateway::new(
        config,
        Arc::new(StateStore::open(&dir.path().join("state.db")).unwrap()),
        Arc::new(AuditLog::open(&dir.path().join("audit.db")).unwrap()),
        move |config: &Config| {
            let mut clients: HashMap<String, Arc<dyn Upstream>> = HashMap::new();
            clients.insert("docker-mcp".into(), d.clone());
            clients.insert("logs-mcp".into(), l.clone());
            Ok(Upstreams::from_clients(config.version.clone(), clients))
        },
    )
    .unwrap();
    let reply = gateway
        .call(
            &admin(),
            call("compose_logs", json!({"file": FILE, "service": "sonarr"})),
        )
        .await;
    assert_eq!(executed(&reply).result, json!({"from": "logs-mcp"}));
    let reply = gateway
        .call(&admin(), call("compose_ps", json!({"file": FILE})))
        .await;
    assert_eq!(executed(&reply).result, json!({"from": "docker-mcp"}));
    assert_eq!(
        (
            docker.calls.load(Ordering::SeqCst),
            logs.calls.load(Ordering::SeqCst)
        ),
        (1, 1)
    );
}

/// Another connection holding the audit database's write lock: the gateway's
/// appends wait behind it (up to the busy timeout), readers do not (WAL).
fn hold_audit_lock(h: &Harness) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(h.dir.path().join("audit.db")).unwrap();
    conn.execute_batch("BEGIN IMMEDIATE").unwrap();
    conn
}

/// What is stored right now, without waiting for queued records.
fn stored_now(h: &Harness) -> Vec<audit::AuditRecord> {
    h.gateway
        .audit_log()
        .list(&audit::AuditFilter::default())
        .unwrap()
}

#[tokio::test]
async fn a_read_is_answered_before_its_record_is_durable_and_stored_by_close() {
    let h = harness();
    let lock = hold_audit_lock(&h);
    let r = h
        .gateway
        .call(&standard(), call("compose_ps", json!({"file": FILE})))
        .await;
    executed(&r);
    assert!(stored_now(&h).is_empty(), "nothing can be committed yet");
    drop(lock);
    h.gateway.close_audit().await.unwrap();
    let records = stored_now(&h);
    assert_eq!(records.len(), 1);
    assert_eq!(
        (records[0].tool.as_str(), records[0].decision),
        ("compose_ps", Decision::Executed)
    );
    assert!(records[0].result_digest.is_some());
    assert!(h.gateway.audit_log().verify().unwrap().ok);

    // After the close nothing is answered unaudited: reads are refused, nothing runs.
    let calls = h.calls();
    let after = h
        .gateway
        .call(&standard(), call("compose_ps", json!({"file": FILE})))
        .await;
    assert_eq!(refused(&after).code, "audit_unavailable");
    let restart = h
        .gateway
        .call(&admin(), approved("compose_restart", restart("sonarr")))
        .await;
    assert_eq!(refused(&restart).status(), 503);
    assert_eq!(
        h.calls(),
        calls + 1,
        "only the refused read reached the service"
    );
}

#[tokio::test]
async fn a_mutating_call_waits_for_its_approved_record() {
    let h = harness();
    let request = h
        .gateway
        .call(&admin(), call("compose_restart", restart("sonarr")))
        .await;
    need(&request);
    // The approved record must be committed before the restart runs, so it waits
    // for the lock; it is stored before the executed record, under one request id.
    let lock = hold_audit_lock(&h);
    let running = {
        let gateway = &h.gateway;
        async move {
            gateway
                .call(&admin(), approved("compose_restart", restart("sonarr")))
                .await
        }
    };
    let (reply, ()) = tokio::join!(running, async {
        tokio::task::yield_now().await;
        assert_eq!(h.calls(), 0, "ran before its approval was durable");
        drop(lock);
    });
    executed(&reply);
    assert_eq!(h.calls(), 1);
    let records = h.audit().await;
    let decisions: Vec<Decision> = records.iter().rev().map(|r| r.decision).collect();
    assert_eq!(
        decisions,
        [
            Decision::NeedApproval,
            Decision::Approved,
            Decision::Executed
        ]
    );
    assert_eq!(records[0].request_id, records[1].request_id);
}

#[tokio::test]
async fn a_broken_audit_store_blocks_mutations_then_reads_until_it_works_again() {
    let h = harness();
    let request = h
        .gateway
        .call(&admin(), call("compose_restart", restart("sonarr")))
        .await;
    need(&request);
    let db = h.dir.path().join("audit.db");
    let moved = h.dir.path().join("audit.db.moved");
    std::fs::rename(&db, &moved).unwrap();

    // A read answered before any write failed is answered; its record waits.
    executed(
        &h.gateway
            .call(&standard(), call("compose_ps", json!({"file": FILE})))
            .await,
    );
    assert!(h.gateway.flush_audit().await.is_err());
    assert!(
        h.gateway
            .metrics()
            .render()
            .contains("ops_copilot_gateway_audit_degraded 1")
    );
    // Fail closed: the approved restart does not run...
    let r = h
        .gateway
        .call(&admin(), approved("compose_restart", restart("sonarr")))
        .await;
    assert_eq!(refused(&r).code, "audit_unavailable");
    // ... and while the store is failing, reads wait for their record and are refused.
    let read = h
        .gateway
        .call(&standard(), call("compose_ps", json!({"file": FILE})))
        .await;
    assert_eq!(refused(&read).code, "audit_unavailable");
    assert_eq!(h.calls(), 2, "the two reads; never the restart");

    // The store is back: calls are answered again, and the first read's record,
    // kept through the failures, is stored before the new one.
    std::fs::rename(&moved, &db).unwrap();
    executed(
        &h.gateway
            .call(&carol(), call("compose_ps", json!({"file": FILE})))
            .await,
    );
    let records = h.audit().await;
    let summary: Vec<(&str, &str, Decision)> = records
        .iter()
        .rev()
        .map(|r| (r.principal.as_str(), r.tool.as_str(), r.decision))
        .collect();
    assert_eq!(
        summary,
        [
            ("alice", "compose_restart", Decision::NeedApproval),
            ("bob", "compose_ps", Decision::Executed),
            ("carol", "compose_ps", Decision::Executed),
        ]
    );
    assert!(h.gateway.audit_log().verify().unwrap().ok);
    assert!(
        h.gateway
            .metrics()
            .render()
            .contains("ops_copilot_gateway_audit_degraded 0")
    );
}

fn carol() -> Principal {
    principal("carol", "standard")
}

fn for_(name: &str, request: CallRequest) -> CallRequest {
    CallRequest {
        on_behalf_of: Some(name.into()),
        ..request
    }
}

/// (decision, principal, approver, on_behalf_of) of every stored record, oldest first.
async fn trail(h: &Harness) -> Vec<(Decision, String, Option<String>, Option<String>)> {
    let mut records: Vec<_> = h
        .audit()
        .await
        .into_iter()
        .map(|r| (r.decision, r.principal, r.approver, r.on_behalf_of))
        .collect();
    records.reverse();
    records
}

#[tokio::test]
async fn on_behalf_of_is_recorded_in_every_record_of_its_request() {
    let h = harness();
    let first = h
        .gateway
        .call(
            &agent(),
            for_("carol", call("compose_restart", restart("sonarr"))),
        )
        .await;
    let id = need(&first).approval_id.clone();
    executed(&h.gateway.approve(&standard(), &id, Some("dave")).await);
    let second = h
        .gateway
        .call(&agent(), call("compose_restart", restart("radarr")))
        .await;
    let second = need(&second).approval_id.clone();
    h.gateway
        .deny(&admin(), &second, Some("erin@example.org"))
        .await
        .unwrap();
    let s = |v: &str| Some(v.to_owned());
    assert_eq!(
        trail(&h).await,
        vec![
            (Decision::NeedApproval, "robot".into(), None, s("carol")),
            (Decision::Approved, "robot".into(), s("bob"), s("dave")),
            (Decision::Executed, "robot".into(), s("bob"), s("dave")),
            (Decision::NeedApproval, "robot".into(), None, None),
            (
                Decision::Denied,
                "robot".into(),
                s("alice"),
                s("erin@example.org")
            ),
        ]
    );
    assert!(h.gateway.audit_log().verify().unwrap().ok);

    // A failed call carries it too.
    let down = UpstreamError::Unreachable {
        service: "docker-mcp".into(),
        reason: "connection refused".into(),
    };
    let h = harness_with(Err(down), Duration::ZERO, "");
    let r = h
        .gateway
        .call(
            &standard(),
            for_("Frank_1.x", call("compose_ps", json!({"file": FILE}))),
        )
        .await;
    assert_eq!(refused(&r).status(), 502);
    assert_eq!(
        trail(&h).await,
        vec![(Decision::Failed, "bob".into(), None, s("Frank_1.x"))]
    );
}

#[tokio::test]
async fn a_malformed_on_behalf_of_is_refused_before_anything_runs() {
    let h = harness();
    let long = "a".repeat(MAX_ON_BEHALF_OF + 1);
    let bad = [
        "",
        "al ice",
        "alice,bob",
        "alicé",
        "al\nice",
        "a/b",
        long.as_str(),
    ];
    for value in bad {
        let r = h
            .gateway
            .call(
                &admin(),
                for_(value, approved("compose_restart", restart("sonarr"))),
            )
            .await;
        assert_eq!(
            (refused(&r).status(), refused(&r).code.as_str()),
            (400, "bad_on_behalf_of"),
            "{value:?}"
        );
        let newest = h.audit().await.into_iter().next().unwrap();
        assert_eq!(newest.decision, Decision::Denied);
        assert_eq!(
            newest.on_behalf_of, None,
            "an unchecked value is not recorded"
        );
        assert!(newest.reason.unwrap().starts_with("bad_on_behalf_of"));
    }
    assert_eq!(h.calls(), 0);
    // The longest accepted value passes.
    let max = "b".repeat(MAX_ON_BEHALF_OF);
    let r = h
        .gateway
        .call(
            &admin(),
            for_(&max, call("compose_ps", json!({"file": FILE}))),
        )
        .await;
    executed(&r);

    // On the approval routes: refused, and the approval stays pending.
    let first = h
        .gateway
        .call(&agent(), call("compose_restart", restart("sonarr")))
        .await;
    let id = need(&first).approval_id.clone();
    let r = h.gateway.approve(&admin(), &id, Some("no way")).await;
    assert_eq!(refused(&r).code, "bad_on_behalf_of");
    let r = h.gateway.deny(&admin(), &id, Some("")).await;
    assert_eq!(r.map(|_| ()).unwrap_err().code, "bad_on_behalf_of");
    assert_eq!(h.calls(), 1);
    let state = h.gateway.state().get(&id).unwrap().unwrap();
    assert_eq!(state.status, ApprovalStatus::Pending);
    executed(&h.gateway.approve(&admin(), &id, Some("alice")).await);
    assert!(h.gateway.audit_log().verify().unwrap().ok);
}

#[tokio::test]
async fn on_behalf_of_grants_nothing() {
    let h = harness();
    // The agent role claims to act for the admin, by name and by role name: nothing changes.
    for claim in ["alice", "admin"] {
        let r = h
            .gateway
            .call(
                &agent(),
                for_(claim, approved("compose_restart", restart("sonarr"))),
            )
            .await;
        assert_eq!(refused(&r).code, "cannot_self_approve");
    }
    // A standard token cannot reach a tool its role is denied.
    let r = h
        .gateway
        .call(
            &standard(),
            for_("admin", call("compose_pull", json!({"file": FILE}))),
        )
        .await;
    assert_eq!(refused(&r).code, "not_authorized");
    // Nor approve on the approvals route, nor use someone else's approval.
    let first = h
        .gateway
        .call(
            &agent(),
            for_("alice", call("compose_restart", restart("sonarr"))),
        )
        .await;
    let id = need(&first).approval_id.clone();
    let r = h.gateway.approve(&agent(), &id, Some("admin")).await;
    assert_eq!(refused(&r).code, "cannot_approve");
    let with_id = CallRequest {
        approval_id: Some(id.clone()),
        ..for_("robot", approved("compose_restart", restart("sonarr")))
    };
    let r = h.gateway.call(&admin(), with_id).await;
    assert_eq!(refused(&r).status(), 403);
    assert_eq!(h.calls(), 0);
    // The records name the token's principal and role, whatever was claimed.
    for r in h.audit().await {
        assert!(
            ["robot", "bob", "alice"].contains(&r.principal.as_str()),
            "{r:?}"
        );
        assert_ne!(r.decision, Decision::Executed);
    }
}

#[tokio::test]
async fn a_stack_wide_call_and_a_service_call_exclude_each_other_and_keep_the_approval() {
    let h = harness_with(Ok(json!({"ok": 1})), Duration::from_millis(400), "");
    let up = json!({"file": FILE});
    need(
        &h.gateway
            .call(&admin(), call("compose_up", up.clone()))
            .await,
    );
    let restart_id = need(
        &h.gateway
            .call(&agent(), call("compose_restart", restart("sonarr")))
            .await,
    )
    .approval_id
    .clone();
    let alice = admin();
    let stack_wide = h.gateway.call(&alice, approved("compose_up", up));
    let service = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        h.gateway.approve(&admin(), &restart_id, None).await
    };
    let (up_reply, restart_reply) = tokio::join!(stack_wide, service);
    executed(&up_reply);
    let busy = refused(&restart_reply);
    assert_eq!((busy.status(), busy.code), (409, RefusalCode::Busy));
    assert!(busy.detail.contains("already running"), "{busy:?}");
    // Refused before it was consumed: the same approval runs once the stack is free.
    executed(&h.gateway.approve(&admin(), &restart_id, None).await);
    assert_eq!(h.calls(), 2);
}

#[tokio::test]
async fn a_deny_of_an_unknown_approval_is_audited() {
    let h = harness();
    for id in ["0123456789abcdef01234567", "../../etc/passwd"] {
        let refusal = h.gateway.deny(&admin(), id, None).await.unwrap_err();
        assert_eq!(refusal.code, RefusalCode::UnknownApproval);
    }
    let records = h.audit().await;
    assert_eq!(records.len(), 2, "{records:?}");
    assert!(records.iter().all(|r| {
        r.decision == Decision::Denied
            && r.reason
                .as_deref()
                .is_some_and(|t| t.starts_with("unknown_approval"))
    }));
}

#[tokio::test]
async fn an_approval_for_people_says_who_asked_and_who_approved() {
    let h = harness();
    let web = principal("pi-health", "admin");
    let asked = CallRequest {
        on_behalf_of: Some("alice".into()),
        ..call("compose_restart", restart("sonarr"))
    };
    let id = need(&h.gateway.call(&web, asked).await).approval_id.clone();
    let pending = h.gateway.pending_for(&admin()).unwrap();
    assert_eq!(pending[0].requested_for.as_deref(), Some("alice"));
    executed(&h.gateway.approve(&web, &id, Some("bob")).await);
    let records = h.audit().await;
    let executed_record = records
        .iter()
        .find(|r| r.decision == Decision::Executed)
        .unwrap();
    assert_eq!(executed_record.on_behalf_of.as_deref(), Some("bob"));
    assert_eq!(
        executed_record.reason.as_deref(),
        Some("requested by alice via pi-health; approved by bob via pi-health")
    );
    // One approval, used once: one approved and one executed record, one call.
    let decisions: Vec<Decision> = records.iter().rev().map(|r| r.decision).collect();
    assert_eq!(
        decisions,
        [
            Decision::NeedApproval,
            Decision::Approved,
            Decision::Executed
        ]
    );
    assert_eq!(h.calls(), 1);
}

#[tokio::test]
async fn a_tools_own_timeout_replaces_the_write_timeout() {
    // The fake takes 300 ms; the policy's write timeout is 100 ms.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("tool_registry.yaml"), REGISTRY).unwrap();
    let policy = policy_text("").replace("write_timeout_ms: 30000", "write_timeout_ms: 100");
    std::fs::write(dir.path().join("policy.yaml"), policy).unwrap();
    let h = open_harness(dir, Ok(json!({"ok": 1})), Duration::from_millis(300), "");
    let up = json!({"file": FILE});
    need(
        &h.gateway
            .call(&admin(), call("compose_up", up.clone()))
            .await,
    );
    let r = h
        .gateway
        .call(&admin(), approved("compose_up", up.clone()))
        .await;
    assert_eq!(refused(&r).code, RefusalCode::McpTimeout);
    assert_eq!(refused(&r).status(), 504);

    // With a timeout of its own (a second), it is waited for.
    let registry = h.dir.path().join("tool_registry.yaml");
    let text = std::fs::read_to_string(&registry).unwrap().replacen(
        "fn: compose_up }\n",
        "fn: compose_up }\n    timeout_seconds: 1\n",
        1,
    );
    std::fs::write(&registry, text).unwrap();
    let Harness { dir, .. } = h;
    let again = open_harness(dir, Ok(json!({"ok": 1})), Duration::from_millis(300), "");
    let policy = again.dir.path().join("policy.yaml");
    assert!(
        std::fs::read_to_string(policy)
            .unwrap()
            .contains("write_timeout_ms: 100")
    );
    // The cooldown started by nothing: the timed-out call did not succeed.
    need(
        &again
            .gateway
            .call(&admin(), call("compose_up", up.clone()))
            .await,
    );
    executed(
        &again
            .gateway
            .call(&admin(), approved("compose_up", up))
            .await,
    );
}

#[tokio::test]
async fn a_used_approval_says_so_even_while_its_cooldown_runs() {
    let h = harness();
    let id = need(
        &h.gateway
            .call(&agent(), call("compose_restart", restart("sonarr")))
            .await,
    )
    .approval_id
    .clone();
    executed(&h.gateway.approve(&admin(), &id, None).await);
    let again = h.gateway.approve(&admin(), &id, None).await;
    assert_eq!(
        (refused(&again).status(), refused(&again).code),
        (409, RefusalCode::ApprovalUsed)
    );
    assert_eq!(h.calls(), 1);
}

#[tokio::test]
async fn a_flood_of_requests_is_capped_and_hides_nobody_elses() {
    let h = harness();
    for _ in 0..PENDING_CAPS_PER_PRINCIPAL {
        need(
            &h.gateway
                .call(&agent(), call("compose_restart", restart("sonarr")))
                .await,
        );
    }
    let flood = h
        .gateway
        .call(&agent(), call("compose_restart", restart("sonarr")))
        .await;
    assert_eq!(
        (refused(&flood).status(), refused(&flood).code),
        (429, RefusalCode::TooManyPending)
    );
    // Someone else's request still gets in, and is listed first.
    let bob = need(
        &h.gateway
            .call(&standard(), call("compose_restart", restart("radarr")))
            .await,
    )
    .approval_id
    .clone();
    let listed = h.gateway.pending_for(&admin()).unwrap();
    assert_eq!(listed[0].id, bob, "newest first");
    assert!(
        listed.len() <= 51,
        "one requester shows at most 50: {}",
        listed.len()
    );
    assert!(
        listed
            .windows(2)
            .all(|w| w[0].created_at_ms >= w[1].created_at_ms)
    );

    // For one person a client acts for, a smaller cap; other people are not affected.
    let web = principal("pi-health", "admin");
    let for_person = |who: &str| CallRequest {
        on_behalf_of: Some(who.into()),
        ..call("compose_restart", restart("bazarr"))
    };
    for _ in 0..20 {
        need(&h.gateway.call(&web, for_person("alice")).await);
    }
    let more = h.gateway.call(&web, for_person("alice")).await;
    assert_eq!(refused(&more).code, RefusalCode::TooManyPending);
    need(&h.gateway.call(&web, for_person("carol")).await);
    assert_eq!(h.calls(), 0, "nothing ran");
}

#[tokio::test]
async fn what_a_client_makes_up_is_redacted_in_the_audit_too() {
    let h = harness();
    let secret = "0123456789abcdef0123456789abcdef";
    h.gateway
        .call(&admin(), call(&format!("apikey={secret}"), json!({})))
        .await;
    h.gateway
        .call(
            &admin(),
            call(
                "compose_ps",
                json!({"file": FILE, format!("apikey={secret}"): 1}),
            ),
        )
        .await;
    let _ = h
        .gateway
        .deny(&admin(), &format!("apikey={secret}"), None)
        .await;
    let records = h.audit().await;
    assert_eq!(records.len(), 3);
    let stored = serde_json::to_string(&records).unwrap();
    assert!(!stored.contains(secret), "{stored}");
    assert!(stored.contains("[REDACTED]"), "{stored}");
}

#[tokio::test]
async fn a_long_made_up_name_or_id_is_masked_before_it_is_cut_to_size() {
    // The credential ends past the 64 (tool) and 32 (approval id) characters kept:
    // cut first, `%3AHunt3rTwo%21%40` would lose the host that marks it a password.
    let h = harness();
    let secret = "Hunt3rTwo%21";
    let tool =
        format!("[Error] Download client: url=http%3A%2F%2Fadmin%3A{secret}%40sabnzbd%3A8080");
    assert!(tool.find(secret).unwrap() < 64 && tool.len() > 64);
    h.gateway.call(&admin(), call(&tool, json!({}))).await;
    let id = format!("u=a%3A{secret}%40nas%3A80%2Fapi%2Fqueue");
    assert!(id.find(secret).unwrap() < 32 && id.len() > 32);
    let _ = h.gateway.deny(&admin(), &id, None).await;
    let records = h.audit().await;
    assert_eq!(records.len(), 2);
    let stored = serde_json::to_string(&records).unwrap();
    assert!(!stored.contains(secret), "{stored}");
    assert_eq!(stored.matches("[REDACTED]").count(), 2, "{stored}");
}

/// pi-health's principal: role admin, and may assert admin or standard for the
/// people it acts for (`X-On-Behalf-Role`).
fn web_acting() -> Principal {
    Principal {
        may_act_as: vec!["admin".into(), "standard".into()],
        ..principal("pi-health", "admin")
    }
}

fn as_person(person: &str, role: &str, request: CallRequest) -> CallRequest {
    CallRequest {
        on_behalf_of: Some(person.into()),
        on_behalf_role: Some(role.into()),
        ..request
    }
}

#[tokio::test]
async fn a_role_the_principal_may_not_assert_is_refused_and_audited() {
    let h = harness();
    let ps = || call("compose_ps", json!({"file": FILE}));
    // Not in may_act_as, not defined, or without a person: 403, nothing run.
    for (principal, request) in [
        (web_acting(), as_person("bob", "agent", ps())),
        (web_acting(), as_person("bob", "root", ps())),
        (
            web_acting(),
            CallRequest {
                on_behalf_role: Some("standard".into()),
                ..ps()
            },
        ),
        (standard(), as_person("bob", "admin", ps())),
    ] {
        let reply = h.gateway.call(&principal, request).await;
        assert_eq!(refused(&reply).code, RefusalCode::RoleNotAssertable);
        assert_eq!(refused(&reply).status(), 403);
        assert_eq!(refused(&reply).code.as_str(), "role_not_assertable");
    }
    assert_eq!(h.calls(), 0);
    let records = h.audit().await;
    assert_eq!(records.len(), 4);
    assert!(records.iter().all(|r| {
        r.decision == Decision::Denied
            && r.reason
                .as_deref()
                .is_some_and(|t| t.starts_with("role_not_assertable"))
    }));
    // An approval decision with a role it may not assert: refused and audited too.
    let id = need(
        &h.gateway
            .call(&admin(), call("compose_up", json!({"file": FILE})))
            .await,
    )
    .approval_id
    .clone();
    let reply = h
        .gateway
        .approve_as(&web_acting(), &id, Some("bob"), Some("agent"))
        .await;
    assert_eq!(refused(&reply).code, RefusalCode::RoleNotAssertable);
    let denied = h
        .gateway
        .deny_as(&web_acting(), &id, None, Some("standard"))
        .await
        .unwrap_err();
    assert_eq!(denied.code, RefusalCode::RoleNotAssertable);
    let (decision, reason) = h.last_decision().await;
    assert_eq!(decision, Decision::Denied);
    assert!(reason.unwrap().starts_with("role_not_assertable"));
    assert_eq!(h.audit().await.len(), 4 + 1 + 2);
    assert_eq!(h.calls(), 0);
}

#[tokio::test]
async fn a_standard_person_decides_as_a_standard_token() {
    let h = harness();
    // An admin token asks to bring the stack up (the guide's policy has no
    // compose_stop; compose_up is as far out of a standard role's reach); bob
    // (standard, via pi-health) may not approve it, as a standard token may not.
    let id = need(
        &h.gateway
            .call(&admin(), call("compose_up", json!({"file": FILE})))
            .await,
    )
    .approval_id
    .clone();
    assert!(
        h.gateway
            .pending_for(&web_acting().acting_for("bob", "standard"))
            .unwrap()
            .is_empty()
    );
    let reply = h
        .gateway
        .approve_as(&web_acting(), &id, Some("bob"), Some("standard"))
        .await;
    assert_eq!(refused(&reply).code, RefusalCode::CannotApprove);
    assert_eq!(h.calls(), 0);
    let (decision, reason) = h.last_decision().await;
    assert_eq!(decision, Decision::Denied);
    assert!(reason.unwrap().starts_with("cannot_approve"));
    // Nor may he call it himself, as pi-health's own role (admin) could; his
    // request is recorded with his role.
    let reply = h
        .gateway
        .call(
            &web_acting(),
            as_person(
                "bob",
                "standard",
                approved("compose_up", json!({"file": FILE})),
            ),
        )
        .await;
    assert_eq!(refused(&reply).code, RefusalCode::NotAuthorized);
    let asked = need(
        &h.gateway
            .call(
                &web_acting(),
                as_person(
                    "bob",
                    "standard",
                    call("compose_restart", restart("radarr")),
                ),
            )
            .await,
    )
    .approval_id
    .clone();
    let records = h.audit().await;
    let newest = &records[0];
    assert_eq!(newest.decision, Decision::NeedApproval);
    assert_eq!(
        (newest.principal.as_str(), newest.role.as_str()),
        ("pi-health", "standard")
    );
    assert_eq!(newest.on_behalf_of.as_deref(), Some("bob"));
    // The approval keeps the asserted role; bob sees his own request (not the
    // admin's), carol what a standard role may approve, alice (admin, via
    // pi-health) everything.
    let bobs = h
        .gateway
        .pending_for(&web_acting().acting_for("bob", "standard"))
        .unwrap();
    assert_eq!(bobs.len(), 1);
    assert_eq!(
        (bobs[0].id.as_str(), bobs[0].role.as_str()),
        (asked.as_str(), "standard")
    );
    let carols = h
        .gateway
        .pending_for(&web_acting().acting_for("carol", "standard"))
        .unwrap();
    assert_eq!(carols.len(), 1);
    assert_eq!(carols[0].id, asked);
    assert_eq!(
        h.gateway
            .pending_for(&web_acting().acting_for("alice", "admin"))
            .unwrap()
            .len(),
        2
    );
    executed(
        &h.gateway
            .approve_as(&web_acting(), &id, Some("alice"), Some("admin"))
            .await,
    );
    assert_eq!(h.calls(), 1);
}

/// A call waiting on its approval (the MCP facade's) hears the decision that
/// settles it: the approved run's very answer, a withdrawal, an approval the
/// policy no longer allows; an approve refused to someone who may not approve
/// settles nothing. No entry outlives its waiter.
#[tokio::test]
async fn a_waiting_call_hears_the_decision_on_its_approval() {
    let h = harness();
    let wait_for = |service: &str| {
        let request = call("compose_restart", restart(service));
        let gateway = &h.gateway;
        async move {
            let (reply, waiter) = gateway.call_waiting(&agent(), request).await;
            let waiter = waiter.expect("a waiter for the approval");
            assert_eq!(waiter.approval_id(), need(&reply).approval_id);
            waiter
        }
    };

    // Approved: the waiter gets the answer of the run the approval made.
    let mut waiter = wait_for("sonarr").await;
    let id = waiter.approval_id().to_owned();
    // The agent cannot approve: refused, and the wait goes on.
    let r = h.gateway.approve(&agent(), &id, None).await;
    assert_eq!(refused(&r).code, RefusalCode::CannotApprove);
    let approved = h.gateway.approve(&admin(), &id, None).await;
    executed(&approved);
    assert_eq!(
        decided(&mut waiter).await,
        Some(Decided::Ran {
            approver: "alice".into(),
            reply: approved,
        })
    );
    assert_eq!(h.calls(), 1);

    // Withdrawn by the requester itself.
    let mut waiter = wait_for("radarr").await;
    let id = waiter.approval_id().to_owned();
    h.gateway.deny(&agent(), &id, None).await.unwrap();
    assert_eq!(
        decided(&mut waiter).await,
        Some(Decided::Denied {
            by: "robot".into(),
            withdrawn: true,
        })
    );

    // Approved, but the policy changed since: nothing runs, and the waiter knows.
    let mut waiter = wait_for("prowlarr").await;
    let id = waiter.approval_id().to_owned();
    edit_policy(&h, format!("{}\n# edited\n", policy_text("")));
    let r = h.gateway.approve(&admin(), &id, None).await;
    let refusal = refused(&r).clone();
    assert_eq!(
        decided(&mut waiter).await,
        Some(Decided::Unusable {
            approver: "alice".into(),
            refusal,
        })
    );
    assert_eq!(h.calls(), 1);

    // A waiter dropped before any decision leaves nothing behind; the approval
    // stays pending.
    let waiter = wait_for("sabnzbd").await;
    let id = waiter.approval_id().to_owned();
    assert_eq!(h.gateway.waiters.len(), 1);
    drop(waiter);
    assert_eq!(h.gateway.waiters.len(), 0);
    let pending = h.gateway.pending_for(&admin()).unwrap();
    assert!(pending.iter().any(|a| a.id == id), "{pending:?}");

    // A call that needs no approval gets no waiter.
    let (reply, waiter) = h
        .gateway
        .call_waiting(&agent(), call("compose_ps", json!({"file": FILE})))
        .await;
    executed(&reply);
    assert!(waiter.is_none());
}

/// The decision a waiter hears; a test fails rather than hang when none comes.
async fn decided(waiter: &mut Waiter) -> Option<Decided> {
    tokio::time::timeout(Duration::from_secs(10), waiter.decided())
        .await
        .expect("the decision reaches the waiter")
}
