//! The MCP facade's wait for a human decision, end to end in one process: the
//! gateway's real router (`/mcp`, `/approvals`) with a fake docker-mcp that
//! counts its calls, a raw MCP client (JSON-RPC over Streamable HTTP) as the
//! agent, and REST as the person deciding. The real docker-mcp and Engine are
//! exercised by the ops-copilot integration tests and testing/interop.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use test_support::mcp_http::{McpSession, text_content};
use tokio_util::sync::CancellationToken;

use super::ApprovalWait;
use crate::api::{AppState, router};
use crate::auth::{Principal, TokensHandle, add_token};
use crate::config::{Config, ConfigHandle};
use crate::pipeline::Gateway;
use crate::state::{ApprovalStatus, StateStore};
use crate::upstream::{CallFuture, Upstream, Upstreams};

const REGISTRY: &str = include_str!("../../../../config/tool_registry.yaml");
const POLICY: &str = include_str!("../../../../config/policy.yaml");
const FILE: &str = "/opt/stack/docker-compose.yml";
const MCP_VERSION: &str = "2025-06-18";

/// A docker-mcp that answers every call with its own count; while `held`, a
/// call waits for a permit before it answers.
#[derive(Default)]
struct CountingService {
    calls: AtomicUsize,
    held: Option<Arc<tokio::sync::Semaphore>>,
}

impl Upstream for CountingService {
    fn call<'a>(&'a self, function: &'a str, args: &'a Value, _: Duration) -> CallFuture<'a> {
        Box::pin(async move {
            let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
            if let Some(held) = &self.held {
                held.acquire().await.unwrap().forget();
            }
            Ok(json!({ "ran": function, "args": args, "run": n }))
        })
    }
}

struct World {
    base: String,
    gateway: Arc<Gateway>,
    service: Arc<CountingService>,
    /// The agent (may request, never approve) and the admin.
    robot: String,
    alice: String,
    shutdown: CancellationToken,
    _dir: tempfile::TempDir,
}

async fn world(wait: Duration) -> World {
    world_with(wait, CountingService::default()).await
}

async fn world_with(wait: Duration, service: CountingService) -> World {
    let dir = tempfile::tempdir().unwrap();
    let registry = dir.path().join("tool_registry.yaml");
    let policy = dir.path().join("policy.yaml");
    std::fs::write(&registry, REGISTRY).unwrap();
    std::fs::write(
        &policy,
        POLICY.replace("roles:\n", "roles:\n  agent:\n    can_approve: []\n"),
    )
    .unwrap();
    let tokens = dir.path().join("tokens.yaml");
    let robot = add_token(&tokens, "robot", "agent", &[]).unwrap();
    let alice = add_token(&tokens, "alice", "admin", &[]).unwrap();
    let config = ConfigHandle::load(&registry, &policy).unwrap();
    let state = Arc::new(StateStore::open(&dir.path().join("state.db")).unwrap());
    let audit = Arc::new(audit::AuditLog::open(&dir.path().join("audit.db")).unwrap());
    let service = Arc::new(service);
    let fake = service.clone();
    let gateway = Arc::new(
        Gateway::new(config, state, audit, move |config: &Config| {
            let mut clients: HashMap<String, Arc<dyn Upstream>> = HashMap::new();
            clients.insert("docker-mcp".into(), fake.clone());
            Ok(Upstreams::from_clients(config.version.clone(), clients))
        })
        .unwrap(),
    );
    let shutdown = CancellationToken::new();
    let app = router(AppState {
        gateway: gateway.clone(),
        tokens: Arc::new(TokensHandle::load(&tokens).unwrap()),
        allowed_hosts: Vec::new(),
        shutdown: shutdown.clone(),
        mcp_approval_wait: ApprovalWait {
            wait,
            progress_every: Duration::from_millis(200),
        },
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    World {
        base,
        gateway,
        service,
        robot,
        alice,
        shutdown,
        _dir: dir,
    }
}

fn restart() -> Value {
    json!({ "file": FILE, "service": "sonarr" })
}

fn admin() -> Principal {
    Principal {
        name: "alice".into(),
        role: "admin".into(),
        ..Principal::default()
    }
}

impl World {
    fn calls(&self) -> usize {
        self.service.calls.load(Ordering::SeqCst)
    }

    async fn session(&self, token: &str) -> McpSession {
        let headers = [("authorization".to_owned(), format!("Bearer {token}"))];
        McpSession::open(&format!("{}/mcp", self.base), &headers, MCP_VERSION)
            .await
            .0
    }

    /// The agent's `tools/call compose_restart` with `meta`, running on its own:
    /// the reply and the notifications before it.
    async fn agent_restarts(&self, meta: Value) -> tokio::task::JoinHandle<(Value, Vec<Value>)> {
        let mut agent = self.session(&self.robot).await;
        tokio::spawn(async move {
            agent
                .call_tool_with_meta("compose_restart", restart(), meta)
                .await
        })
    }

    /// The ids of the pending approvals, once there are `count` of them.
    async fn pending(&self, count: usize) -> Vec<String> {
        test_support::wait_for(
            "the agent's approval to be pending",
            Duration::from_secs(10),
            || async {
                let ids: Vec<String> = self
                    .gateway
                    .pending_for(&admin())
                    .map_err(|r| r.detail)?
                    .into_iter()
                    .map(|a| a.id)
                    .collect();
                if ids.len() == count {
                    Ok(ids)
                } else {
                    Err(format!("{} pending", ids.len()))
                }
            },
        )
        .await
    }

    /// `POST /approvals/{id}/{decision}` as alice: status and body.
    async fn decide(&self, id: &str, decision: &str) -> (u16, Value) {
        let response = reqwest::Client::new()
            .post(format!("{}/approvals/{id}/{decision}", self.base))
            .bearer_auth(&self.alice)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    fn status_of(&self, id: &str) -> ApprovalStatus {
        self.gateway.state().get(id).unwrap().unwrap().status
    }
}

fn progress_messages(notifications: &[Value], token: &str) -> Vec<String> {
    notifications
        .iter()
        .filter(|n| n["method"] == "notifications/progress")
        .filter(|n| n["params"]["progressToken"] == token)
        .filter_map(|n| n["params"]["message"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_while_waiting_returns_that_runs_result_and_it_ran_once() {
    let w = world(Duration::from_secs(60)).await;
    let call = w.agent_restarts(json!({ "progressToken": "p1" })).await;
    let id = w.pending(1).await.remove(0);
    // The approval's own run answers the approver...
    let (status, body) = w.decide(&id, "approve").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"]["run"], 1, "{body}");
    // ...and the waiting call gets that very result: the tool ran once.
    let (reply, notifications) = call.await.unwrap();
    let result = &reply["result"];
    assert_ne!(result["isError"], true, "{reply}");
    assert_eq!(result["structuredContent"], body["result"], "{reply}");
    assert_eq!(w.calls(), 1);
    assert_eq!(w.status_of(&id), ApprovalStatus::Consumed);
    // The client that sent a progress token heard what it waits for, at least
    // once (the first right away).
    let messages = progress_messages(&notifications, "p1");
    assert!(!messages.is_empty(), "no progress: {notifications:?}");
    for message in &messages {
        assert!(
            message.starts_with("waiting for a person to approve compose_restart")
                && message.contains(&id)
                && message.ends_with("of 60 s"),
            "{message}"
        );
    }
    // Audited once each by the paths that did it: the request, the approval, the run.
    w.gateway.flush_audit().await.unwrap();
    let records = w
        .gateway
        .audit_log()
        .list(&audit::AuditFilter {
            limit: 100,
            ..Default::default()
        })
        .unwrap();
    let mut decisions: Vec<String> = records
        .iter()
        .filter(|r| r.approval_id.as_deref() == Some(&id))
        .map(|r| r.decision.to_string())
        .collect();
    decisions.sort();
    assert_eq!(decisions, ["approved", "executed", "need_approval"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denial_while_waiting_says_who_denied_and_nothing_runs() {
    let w = world(Duration::from_secs(60)).await;
    let call = w.agent_restarts(json!({})).await;
    let id = w.pending(1).await.remove(0);
    let (status, body) = w.decide(&id, "deny").await;
    assert_eq!(status, 200, "{body}");
    let (reply, notifications) = call.await.unwrap();
    let result = &reply["result"];
    assert_eq!(result["isError"], true, "{reply}");
    assert_eq!(result["structuredContent"]["denied"], true, "{reply}");
    assert_eq!(result["structuredContent"]["denied_by"], "alice", "{reply}");
    assert_eq!(result["structuredContent"]["approval_id"], id.as_str());
    assert!(text_content(result).contains("denied by alice"), "{reply}");
    // No progress token, no progress.
    assert!(
        notifications
            .iter()
            .all(|n| n["method"] != "notifications/progress"),
        "{notifications:?}"
    );
    assert_eq!(w.calls(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wait_that_times_out_leaves_the_approval_pending_and_approvable() {
    let wait = Duration::from_secs(1);
    let w = world(wait).await;
    let started = Instant::now();
    let (reply, _) = w.agent_restarts(json!({})).await.await.unwrap();
    assert!(
        started.elapsed() >= wait,
        "answered before the wait was over"
    );
    let result = &reply["result"];
    assert_eq!(result["isError"], true, "{reply}");
    let body = &result["structuredContent"];
    assert_eq!(body["still_waiting"], true, "{reply}");
    let id = body["approval_id"].as_str().unwrap().to_owned();
    assert!(
        body["message"].as_str().unwrap().starts_with(&format!(
            "still waiting: approval id {id}, approve it in Ops-Copilot"
        )),
        "{reply}"
    );
    assert!(text_content(result).contains("this call did not run"));
    assert_eq!(w.calls(), 0);
    // Still pending, and a person can approve it afterwards: it runs then.
    assert_eq!(w.pending(1).await, std::slice::from_ref(&id));
    let (status, body) = w.decide(&id, "approve").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(w.calls(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_wait_the_answer_is_the_approval_id_at_once() {
    let w = world(Duration::ZERO).await;
    let mut agent = w.session(&w.robot).await;
    let (reply, notifications) = agent
        .call_tool_with_meta("compose_restart", restart(), json!({ "progressToken": 7 }))
        .await;
    let body = &reply["result"]["structuredContent"];
    assert_eq!(reply["result"]["isError"], true, "{reply}");
    assert_eq!(body["need_approval"], true, "{reply}");
    assert!(body.get("still_waiting").is_none(), "{reply}");
    let id = body["approval_id"].as_str().unwrap();
    assert_eq!(w.pending(1).await, [id.to_owned()]);
    assert!(notifications.is_empty(), "{notifications:?}");
    assert_eq!(w.calls(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_in_the_call_approves_it() {
    let w = world(Duration::from_millis(600)).await;
    // A pending approval of exactly this call exists already.
    let (first, _) = w.agent_restarts(json!({})).await.await.unwrap();
    let earlier = first["result"]["structuredContent"]["approval_id"]
        .as_str()
        .unwrap()
        .to_owned();
    // `_meta` saying it is approved, naming that approval: still a new request
    // that waits, and nothing runs.
    let (reply, _) = w
        .agent_restarts(json!({ "approved": true, "approval_id": earlier }))
        .await
        .await
        .unwrap();
    let body = &reply["result"]["structuredContent"];
    assert_eq!(body["still_waiting"], true, "{reply}");
    assert_ne!(body["approval_id"], earlier.as_str(), "{reply}");
    // In the arguments: not the tool's arguments, refused.
    let mut agent = w.session(&w.robot).await;
    let mut args = restart();
    args["approved"] = json!(true);
    args["approval_id"] = json!(earlier);
    let reply = agent.call_tool("compose_restart", args).await;
    assert_eq!(reply["result"]["isError"], true, "{reply}");
    assert!(
        text_content(&reply["result"]).contains("Bad args"),
        "{reply}"
    );
    assert_eq!(w.calls(), 0);
    assert_eq!(w.status_of(&earlier), ApprovalStatus::Pending);
    assert_eq!(w.pending(2).await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopping_gateway_ends_the_wait_at_once() {
    let w = world(Duration::from_secs(60)).await;
    let call = w.agent_restarts(json!({})).await;
    let id = w.pending(1).await.remove(0);
    let stopped = Instant::now();
    w.shutdown.cancel();
    // The session may end with the server: then there is no reply to read, but
    // the call must not have waited out its minute either way.
    let answered = tokio::time::timeout(Duration::from_secs(20), call).await;
    assert!(
        answered.is_ok(),
        "the waiting call did not end when the gateway stopped"
    );
    assert!(stopped.elapsed() < Duration::from_secs(20));
    if let Ok(Ok((reply, _))) = answered {
        assert_eq!(
            reply["result"]["structuredContent"]["still_waiting"], true,
            "{reply}"
        );
        assert_eq!(
            reply["result"]["structuredContent"]["stopped_because"], "the gateway is stopping",
            "{reply}"
        );
    }
    assert_eq!(w.status_of(&id), ApprovalStatus::Pending);
    assert_eq!(w.calls(), 0);
}

/// The wait itself, without a transport: a client's cancellation, or the server
/// stopping, ends it at once (the transport may end it too; this is the wait's
/// own promise); the approval stays pending.
#[tokio::test]
async fn a_cancelled_request_or_a_stopping_server_ends_the_wait_at_once() {
    let w = world(Duration::from_secs(600)).await;
    let robot = Principal {
        name: "robot".into(),
        role: "agent".into(),
        ..Principal::default()
    };
    for (stop_by_client, why) in [
        (true, "the request was cancelled"),
        (false, "the gateway is stopping"),
    ] {
        let request = crate::pipeline::CallRequest {
            tool: "compose_restart".into(),
            args: restart(),
            ..Default::default()
        };
        let (reply, waiter) = w.gateway.call_waiting(&robot, request).await;
        let crate::pipeline::Reply::NeedApproval(need) = reply else {
            panic!("expected need_approval, got {reply:?}");
        };
        let id = need.approval_id.clone();
        let (cancelled, shutdown) = (CancellationToken::new(), CancellationToken::new());
        let until = super::waiting::Until {
            wait: ApprovalWait::default(),
            shutdown: &shutdown,
            cancelled: &cancelled,
        };
        let wait = super::waiting::wait(&w.gateway, need, waiter.unwrap(), until, None);
        if stop_by_client {
            cancelled.cancel();
        } else {
            shutdown.cancel();
        }
        let result = tokio::time::timeout(Duration::from_secs(10), wait)
            .await
            .expect("the wait ends at once");
        let body = result.structured_content.unwrap();
        assert_eq!(body["still_waiting"], true, "{body}");
        assert_eq!(body["stopped_because"], why, "{body}");
        assert_eq!(body["approval_id"], id.as_str(), "{body}");
        assert_eq!(w.status_of(&id), ApprovalStatus::Pending);
    }
    assert_eq!(w.calls(), 0);
}

/// Approved before the wait ends, but still running when it does: the call
/// waits on for the run's answer rather than saying "still waiting".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_still_going_when_the_wait_ends_is_waited_for() {
    let held = Arc::new(tokio::sync::Semaphore::new(0));
    let wait = Duration::from_secs(3);
    let service = CountingService {
        held: Some(held.clone()),
        ..CountingService::default()
    };
    let w = world_with(wait, service).await;
    let call = w.agent_restarts(json!({ "progressToken": "p" })).await;
    let id = w.pending(1).await.remove(0);
    // The wait began before its approval could be seen: its end is before this + wait.
    let started = Instant::now();
    let base = w.base.clone();
    let alice = w.alice.clone();
    let approve = tokio::spawn(async move {
        reqwest::Client::new()
            .post(format!("{base}/approvals/{id}/approve"))
            .bearer_auth(alice)
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()
    });
    test_support::wait_for("the approved run to start", wait, || async {
        if w.calls() == 1 {
            Ok(())
        } else {
            Err("not yet".to_owned())
        }
    })
    .await;
    // Past the wait, with the run still held: then let it finish.
    tokio::time::sleep_until((started + wait + Duration::from_millis(500)).into()).await;
    held.add_permits(1);
    let approved = approve.await.unwrap();
    let (reply, notifications) = call.await.unwrap();
    assert_ne!(reply["result"]["isError"], true, "{reply}");
    assert_eq!(
        reply["result"]["structuredContent"], approved["result"],
        "{reply}"
    );
    assert_eq!(w.calls(), 1);
    let messages = progress_messages(&notifications, "p");
    assert!(
        messages
            .iter()
            .any(|m| m.contains("was approved") && m.contains("is running")),
        "{messages:?}"
    );
}
