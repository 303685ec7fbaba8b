//! Several Docker hosts through the pipeline, with one recording fake per
//! host's service at the `Upstream` seam: where each call goes, what the tool
//! is sent, and the per-host rules, locks, cooldowns and approvals.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use audit::AuditLog;
use serde_json::{Value, json};

use super::tests::{approved, call, refused};
use super::*;
use crate::auth::Principal;
use crate::config::{Config, ConfigHandle};
use crate::state::StateStore;
use crate::upstream::{CallFuture, Upstream, Upstreams};

const REGISTRY: &str = include_str!("../../../../config/tool_registry.yaml");
const POLICY: &str = include_str!("../../../../config/policy.yaml");
const FILE: &str = "/opt/stack/docker-compose.yml";

/// Records each call's function and arguments; answers with its host's name.
struct Recorder {
    host: &'static str,
    seen: Mutex<Vec<(String, Value)>>,
}

impl Upstream for Recorder {
    fn call<'a>(&'a self, function: &'a str, args: &'a Value, _: Duration) -> CallFuture<'a> {
        Box::pin(async move {
            self.seen
                .lock()
                .unwrap()
                .push((function.to_owned(), args.clone()));
            Ok(json!({ "answered_by": self.host }))
        })
    }
}

struct Harness {
    gateway: Gateway,
    pi: Arc<Recorder>,
    nas: Arc<Recorder>,
    _dir: tempfile::TempDir,
}

/// The guide's files with a second docker-mcp for host `nas`, and `policy`'s
/// `hosts:` section appended to policy.yaml.
fn harness(policy_hosts: &str) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let registry = dir.path().join("tool_registry.yaml");
    let policy = dir.path().join("policy.yaml");
    let registry_text = REGISTRY.replacen(
        "services:\n",
        "services:\n  docker-mcp-nas:\n    base_url: http://nas:8080\n    transport: http\n    auth: none\n",
        1,
    ) + "\nhosts:\n  pi: { service: docker-mcp }\n  nas: { service: docker-mcp-nas }\n";
    std::fs::write(&registry, registry_text).unwrap();
    std::fs::write(&policy, format!("{POLICY}\n{policy_hosts}")).unwrap();
    let config = ConfigHandle::load(&registry, &policy).unwrap();
    let state = Arc::new(StateStore::open(&dir.path().join("state.db")).unwrap());
    let audit = Arc::new(AuditLog::open(&dir.path().join("audit.db")).unwrap());
    let recorder = |host| {
        Arc::new(Recorder {
            host,
            seen: Mutex::default(),
        })
    };
    let (pi, nas) = (recorder("pi"), recorder("nas"));
    let clients = (pi.clone(), nas.clone());
    let gateway = Gateway::new(config, state, audit, move |config: &Config| {
        let mut map: HashMap<String, Arc<dyn Upstream>> = HashMap::new();
        map.insert("docker-mcp".into(), clients.0.clone());
        map.insert("docker-mcp-nas".into(), clients.1.clone());
        Ok(Upstreams::from_clients(config.version.clone(), map))
    })
    .unwrap();
    Harness {
        gateway,
        pi,
        nas,
        _dir: dir,
    }
}

fn person(name: &str, role: &str) -> Principal {
    Principal {
        name: name.into(),
        role: role.into(),
        ..Principal::default()
    }
}

fn answered_by(reply: &Reply) -> &str {
    match reply {
        Reply::Executed(executed) => executed.result["answered_by"].as_str().unwrap(),
        other => panic!("expected execution, got {other:?}"),
    }
}

impl Harness {
    fn seen(&self, host: &Recorder) -> Vec<(String, Value)> {
        host.seen.lock().unwrap().clone()
    }

    /// A call by someone who may approve it: the request, then `approved`.
    async fn request_and_approve(&self, who: &Principal, tool: &str, args: Value) -> Reply {
        match self.gateway.call(who, call(tool, args.clone())).await {
            Reply::NeedApproval(_) => self.gateway.call(who, approved(tool, args)).await,
            other => other,
        }
    }
}

#[tokio::test]
async fn a_call_goes_to_the_host_it_names_and_the_tool_never_sees_host() {
    let h = harness("");
    let alice = person("alice", "admin");
    let to_nas = h
        .gateway
        .call(
            &alice,
            call("compose_ps", json!({"file": FILE, "host": "nas"})),
        )
        .await;
    assert_eq!(answered_by(&to_nas), "nas");
    let to_default = h
        .gateway
        .call(&alice, call("compose_ps", json!({"file": FILE})))
        .await;
    assert_eq!(answered_by(&to_default), "pi", "no host: the default host");
    let to_pi = h
        .gateway
        .call(
            &alice,
            call("compose_ps", json!({"file": FILE, "host": "pi"})),
        )
        .await;
    assert_eq!(answered_by(&to_pi), "pi");
    assert_eq!(
        h.seen(&h.nas),
        vec![("compose_ps".to_owned(), json!({"file": FILE}))],
        "the tool is sent its own arguments, without the gateway's host"
    );
    assert_eq!(h.seen(&h.pi).len(), 2);
}

#[tokio::test]
async fn an_unknown_or_malformed_host_is_refused_before_any_call() {
    let h = harness("");
    let alice = person("alice", "admin");
    for (host, said) in [
        (
            json!("attic"),
            "unknown host \"attic\"; the hosts are: nas, pi",
        ),
        (json!("../etc"), "not a host name; the hosts are: nas, pi"),
        (json!(7), "must be a host name"),
    ] {
        let reply = h
            .gateway
            .call(
                &alice,
                call("compose_ps", json!({"file": FILE, "host": host})),
            )
            .await;
        let refused = refused(&reply);
        assert_eq!(refused.code, RefusalCode::BadArgs, "{refused:?}");
        assert!(refused.detail.contains(said), "{}", refused.detail);
    }
    // The tool's own schema still applies to the rest.
    let reply = h
        .gateway
        .call(
            &alice,
            call("compose_ps", json!({"file": "/etc/passwd", "host": "nas"})),
        )
        .await;
    assert_eq!(refused(&reply).code, RefusalCode::BadArgs);
    assert!(h.seen(&h.pi).is_empty() && h.seen(&h.nas).is_empty());
}

#[tokio::test]
async fn a_read_only_host_refuses_every_mutating_tool_and_still_answers_reads() {
    let h = harness("hosts:\n  nas: { read_only: true }\n");
    let alice = person("alice", "admin");
    let restart = h
        .gateway
        .call(
            &alice,
            approved(
                "compose_restart",
                json!({"file": FILE, "service": "sonarr", "host": "nas"}),
            ),
        )
        .await;
    let refused = refused(&restart);
    assert_eq!(refused.code, RefusalCode::NotAuthorized);
    assert!(
        refused.detail.contains("host nas is read-only"),
        "{}",
        refused.detail
    );
    let read = h
        .gateway
        .call(
            &alice,
            call("compose_ps", json!({"file": FILE, "host": "nas"})),
        )
        .await;
    assert_eq!(answered_by(&read), "nas");
    // The same restart on the other host asks for approval as usual.
    let on_pi = h
        .gateway
        .call(
            &alice,
            call(
                "compose_restart",
                json!({"file": FILE, "service": "sonarr", "host": "pi"}),
            ),
        )
        .await;
    assert!(matches!(on_pi, Reply::NeedApproval(_)), "{on_pi:?}");
    assert!(h.seen(&h.nas).iter().all(|(f, _)| f == "compose_ps"));
}

#[tokio::test]
async fn a_host_limited_to_a_role_refuses_the_others_for_reads_requests_and_approvals() {
    let h = harness("hosts:\n  nas: { roles: [admin] }\n");
    let (alice, bob) = (person("alice", "admin"), person("bob", "standard"));
    let read = h
        .gateway
        .call(
            &bob,
            call("compose_ps", json!({"file": FILE, "host": "nas"})),
        )
        .await;
    assert!(
        refused(&read)
            .detail
            .contains("host nas is limited to other roles"),
        "{read:?}"
    );
    assert_eq!(
        answered_by(
            &h.gateway
                .call(&bob, call("compose_ps", json!({"file": FILE})))
                .await
        ),
        "pi"
    );
    // An admin's request on nas cannot be approved by a standard user (who may
    // approve restarts elsewhere), nor does bob see it.
    let args = json!({"file": FILE, "service": "sonarr", "host": "nas"});
    let Reply::NeedApproval(need) = h.gateway.call(&alice, call("compose_restart", args)).await
    else {
        panic!("an admin's restart on nas needs approval");
    };
    assert!(h.gateway.pending_for(&bob).unwrap().is_empty());
    let by_bob = h.gateway.approve(&bob, &need.approval_id, None).await;
    assert_eq!(refused(&by_bob).code, RefusalCode::CannotApprove);
    let by_alice = h.gateway.approve(&alice, &need.approval_id, None).await;
    assert_eq!(answered_by(&by_alice), "nas");
    assert_eq!(h.seen(&h.nas).len(), 1);
}

#[tokio::test]
async fn cooldowns_locks_and_audit_records_are_per_host() {
    let h = harness("");
    let alice = person("alice", "admin");
    let restart = |host: &str| json!({"file": FILE, "service": "sonarr", "host": host});
    let on_nas = h
        .request_and_approve(&alice, "compose_restart", restart("nas"))
        .await;
    assert_eq!(answered_by(&on_nas), "nas");
    let again = h
        .request_and_approve(&alice, "compose_restart", restart("nas"))
        .await;
    assert_eq!(refused(&again).code, RefusalCode::Cooldown, "{again:?}");
    // sonarr on pi has its own cooldown, with or without the host named.
    let on_pi = h
        .request_and_approve(
            &alice,
            "compose_restart",
            json!({"file": FILE, "service": "sonarr"}),
        )
        .await;
    assert_eq!(answered_by(&on_pi), "pi");
    let pi_again = h
        .request_and_approve(&alice, "compose_restart", restart("pi"))
        .await;
    assert_eq!(refused(&pi_again).code, RefusalCode::Cooldown);
    // Records name the host the call was for.
    h.gateway.flush_audit().await.unwrap();
    let records = h
        .gateway
        .audit_log()
        .list(&audit::AuditFilter {
            limit: 100,
            ..Default::default()
        })
        .unwrap();
    assert!(
        records
            .iter()
            .any(|r| r.decision == audit::Decision::Executed && r.args["host"] == "nas"),
        "{records:?}"
    );
}

#[tokio::test]
async fn without_hosts_a_host_argument_is_the_schemas_to_refuse() {
    // The guide's files: nothing about hosts changes a call.
    let dir = tempfile::tempdir().unwrap();
    let (registry, policy) = (dir.path().join("r.yaml"), dir.path().join("p.yaml"));
    std::fs::write(&registry, REGISTRY).unwrap();
    std::fs::write(&policy, POLICY).unwrap();
    let config = ConfigHandle::load(&registry, &policy).unwrap();
    assert!(config.current().hosts.is_empty());
    let state = Arc::new(StateStore::open(&dir.path().join("state.db")).unwrap());
    let audit = Arc::new(AuditLog::open(&dir.path().join("audit.db")).unwrap());
    let pi = Arc::new(Recorder {
        host: "pi",
        seen: Mutex::default(),
    });
    let client = pi.clone();
    let gateway = Gateway::new(config, state, audit, move |config: &Config| {
        let mut map: HashMap<String, Arc<dyn Upstream>> = HashMap::new();
        map.insert("docker-mcp".into(), client.clone());
        Ok(Upstreams::from_clients(config.version.clone(), map))
    })
    .unwrap();
    let alice = person("alice", "admin");
    let reply = gateway
        .call(
            &alice,
            call("compose_ps", json!({"file": FILE, "host": "nas"})),
        )
        .await;
    assert_eq!(refused(&reply).code, RefusalCode::BadArgs);
    assert!(pi.seen.lock().unwrap().is_empty());
}
