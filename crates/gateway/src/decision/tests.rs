//! The access rules, on the guide's policy plus an agent role that may request
//! but never approve.

use super::*;
use crate::config::{Config, Source};

const REGISTRY: &str = include_str!("../../../../config/tool_registry.yaml");
const POLICY: &str = include_str!("../../../../config/policy.yaml");

fn config() -> Config {
    let policy = POLICY.replace("roles:\n", "roles:\n  agent:\n    can_approve: []\n");
    Config::parse(
        Source {
            name: "tool_registry.yaml",
            text: REGISTRY,
        },
        Source {
            name: "policy.yaml",
            text: &policy,
        },
    )
    .expect("the guide's files load")
}

fn principal(name: &str, role: &str) -> Principal {
    Principal {
        name: name.into(),
        role: role.into(),
        ..Principal::default()
    }
}

fn pending(by: &str, tool: &str) -> Approval {
    Approval {
        id: "0123456789abcdef01234567".into(),
        principal: by.into(),
        role: "agent".into(),
        tool: tool.into(),
        args: serde_json::Value::Null,
        args_digest: String::new(),
        policy_version: String::new(),
        rationale: String::new(),
        created_at_ms: 0,
        expires_at_ms: 0,
        status: crate::state::ApprovalStatus::Pending,
        decided_by: None,
        requested_for: None,
    }
}

#[test]
fn roles_limit_tools() {
    let config = config();
    let tool = |name: &str| &config.tools[name];
    assert!(may_call(&config, tool("compose_up"), "admin").is_ok());
    for (role, name) in [
        ("standard", "compose_up"),
        ("standard", "compose_pull"),
        ("agent", "compose_up"),
    ] {
        let refusal = may_call(&config, tool(name), role).unwrap_err();
        assert_eq!(refusal.code, RefusalCode::NotAuthorized, "{role} {name}");
    }
    assert!(may_call(&config, tool("compose_restart"), "standard").is_ok());
    let undefined = may_call(&config, tool("docker_ps"), "root").unwrap_err();
    assert!(undefined.detail.contains("not defined"), "{undefined:?}");
}

#[test]
fn approval_rights_follow_can_approve() {
    let config = config();
    let (admin, standard, agent) = (
        principal("alice", "admin"),
        principal("bob", "standard"),
        principal("robot", "agent"),
    );
    assert!(may_self_approve(&config, &admin, "compose_up").is_ok());
    assert!(may_self_approve(&config, &standard, "compose_restart").is_ok());
    assert_eq!(
        may_self_approve(&config, &agent, "compose_restart")
            .unwrap_err()
            .code,
        RefusalCode::CannotSelfApprove
    );
    let restart = pending("robot", "compose_restart");
    let up = pending("robot", "compose_up");
    assert!(may_decide_approve(&config, &standard, &restart).is_ok());
    assert_eq!(
        may_decide_approve(&config, &standard, &up)
            .unwrap_err()
            .code,
        RefusalCode::CannotApprove
    );
    assert!(may_decide_approve(&config, &admin, &up).is_ok());
    // The requester may withdraw its own request, and sees it; others only what they may decide.
    assert!(may_deny(&config, &agent, &up).is_ok());
    assert!(may_deny(&config, &standard, &up).is_err());
    assert!(sees_approval(&config, &agent, &up));
    assert!(sees_approval(&config, &standard, &restart));
    assert!(!sees_approval(&config, &standard, &up));
}

#[test]
fn only_a_full_approver_reads_everyones_audit() {
    let config = config();
    assert_eq!(
        audit_scope(&config, &principal("alice", "admin")),
        AuditScope::Everyone
    );
    assert_eq!(
        audit_scope(&config, &principal("bob", "standard")),
        AuditScope::Own {
            principal: "bob".into(),
            person: None
        }
    );
    assert_eq!(
        audit_scope(&config, &principal("robot", "agent")),
        AuditScope::Own {
            principal: "robot".into(),
            person: None
        }
    );
}

/// pi-health's principal (role admin, may assert admin and standard) acting for
/// people with the roles it asserts for them.
fn web() -> Principal {
    Principal {
        may_act_as: vec!["admin".into(), "standard".into()],
        ..principal("pi-health", "admin")
    }
}

fn asked_for(by: &str, person: Option<&str>, tool: &str) -> Approval {
    Approval {
        requested_for: person.map(str::to_owned),
        ..pending(by, tool)
    }
}

#[test]
fn a_person_acts_with_the_asserted_role() {
    let config = config();
    let bob = web().acting_for("bob", "standard");
    let alice = web().acting_for("alice", "admin");
    assert_eq!(
        (bob.name.as_str(), bob.role.as_str()),
        ("pi-health", "standard")
    );
    assert!(bob.may_act_as.is_empty());
    // bob cannot approve an agent's compose_stop (nor self-approve one), as a
    // standard token cannot; alice can.
    let stop = asked_for("robot", None, "compose_stop");
    assert_eq!(
        may_decide_approve(&config, &bob, &stop).unwrap_err().code,
        RefusalCode::CannotApprove
    );
    assert!(may_self_approve(&config, &bob, "compose_stop").is_err());
    assert!(may_decide_approve(&config, &alice, &stop).is_ok());
    assert!(may_decide_approve(&config, &web(), &stop).is_ok());
    // bob sees his own requests and what a standard role may approve; not
    // another person's request through the same principal.
    let bobs = asked_for("pi-health", Some("bob"), "compose_stop");
    let carols = asked_for("pi-health", Some("carol"), "compose_stop");
    let restart = asked_for("robot", None, "compose_restart");
    assert!(sees_approval(&config, &bob, &bobs));
    assert!(!sees_approval(&config, &bob, &carols));
    assert!(!sees_approval(&config, &bob, &stop));
    assert!(sees_approval(&config, &bob, &restart));
    assert!(may_deny(&config, &bob, &bobs).is_ok());
    assert!(may_deny(&config, &bob, &carols).is_err());
    for approval in [&bobs, &carols, &stop, &restart] {
        assert!(sees_approval(&config, &alice, approval));
    }
    // bob reads pi-health's records made for him; alice everyone's.
    assert_eq!(
        audit_scope(&config, &bob),
        AuditScope::Own {
            principal: "pi-health".into(),
            person: Some("bob".into())
        }
    );
    assert_eq!(audit_scope(&config, &alice), AuditScope::Everyone);
}
