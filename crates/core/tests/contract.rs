//! Pins the JSON of the contract between the planes, byte for byte where the
//! guide fixes it: a change here is a change for every client of the gateway.

use ops_core::contract::{
    AuditQuery, ChatToolReply, ChatToolRequest, Executed, NeedApproval, Refusal, RefusalCode,
};
use serde_json::{Value, json};

fn reply(status: u16, body: Value) -> ChatToolReply {
    ChatToolReply::from_wire(status, body.to_string().as_bytes(), None)
}

#[test]
fn the_guides_request_body() {
    let request: ChatToolRequest = serde_json::from_value(json!({
        "tool": "compose_restart", "args": {"service": "sonarr"},
        "approved": true, "approval_id": "ab12", "role": "admin"
    }))
    .unwrap();
    assert_eq!(request.tool, "compose_restart");
    assert!(request.approved);
    assert_eq!(
        serde_json::to_value(&request).unwrap(),
        json!({"tool": "compose_restart", "args": {"service": "sonarr"},
               "approved": true, "approval_id": "ab12", "role": "admin"})
    );
    // Defaults are left out, and nothing else is accepted.
    let plain = ChatToolRequest {
        tool: "docker_ps".into(),
        ..Default::default()
    };
    assert_eq!(
        serde_json::to_string(&plain).unwrap(),
        r#"{"tool":"docker_ps"}"#
    );
    let unknown = serde_json::from_value::<ChatToolRequest>(json!({"tool": "x", "as_admin": true}));
    assert!(unknown.is_err());
}

#[test]
fn executed_and_need_approval_bodies() {
    let executed = ChatToolReply::Executed(Executed {
        ok: true,
        tool: "docker_ps".into(),
        result: json!({"containers": []}),
    });
    assert_eq!(executed.status(), 200);
    assert_eq!(
        executed.body(),
        json!({"ok": true, "tool": "docker_ps", "result": {"containers": []}})
    );
    let need = NeedApproval {
        need_approval: true,
        tool: "compose_restart".into(),
        args: json!({"service": "sonarr"}),
        rationale: "Restart a service".into(),
        approval_id: "0123456789abcdef01234567".into(),
        expires_at_ms: 1_700_000_000_000,
        self_approval: false,
        how_to_approve: "POST /approvals/0123456789abcdef01234567/approve".into(),
    };
    let body = ChatToolReply::NeedApproval(need.clone()).body();
    assert_eq!(
        body,
        json!({"need_approval": true, "tool": "compose_restart", "args": {"service": "sonarr"},
               "rationale": "Restart a service", "approval_id": "0123456789abcdef01234567",
               "expires_at_ms": 1_700_000_000_000u64, "self_approval": false,
               "how_to_approve": "POST /approvals/0123456789abcdef01234567/approve"})
    );
    // Both read back as what they are.
    assert_eq!(reply(200, body.clone()), ChatToolReply::NeedApproval(need));
    assert_eq!(reply(200, executed.body()), executed);
}

#[test]
fn an_incomplete_need_approval_is_a_bad_reply_not_a_zero() {
    let mut body = ChatToolReply::NeedApproval(NeedApproval {
        need_approval: true,
        tool: "t".into(),
        args: json!({}),
        rationale: String::new(),
        approval_id: "a1".into(),
        expires_at_ms: 5,
        self_approval: true,
        how_to_approve: String::new(),
    })
    .body();
    body.as_object_mut().unwrap().remove("expires_at_ms");
    let ChatToolReply::Refused(refusal) = reply(200, body) else {
        panic!("accepted a need_approval without expires_at_ms");
    };
    assert_eq!(refusal.code, RefusalCode::BadReply);
    assert!(refusal.detail.contains("expires_at_ms"), "{refusal:?}");
    // Neither a result nor an approval.
    assert!(matches!(
        reply(200, json!({"ok": false})),
        ChatToolReply::Refused(r) if r.code == RefusalCode::BadReply
    ));
}

#[test]
fn refusals_carry_their_status_and_the_guides_error_shape() {
    let refusal =
        Refusal::new(RefusalCode::Cooldown, "compose_restart is cooling down").retry_after(42);
    let wire = ChatToolReply::Refused(refusal.clone());
    assert_eq!(wire.status(), 429);
    assert_eq!(
        wire.body(),
        json!({"detail": "compose_restart is cooling down", "code": "cooldown",
               "retry_after_seconds": 42})
    );
    assert_eq!(reply(429, wire.body()), wire);
    // The statuses the README documents.
    let expected = [
        (RefusalCode::Unauthenticated, 401),
        (RefusalCode::UnknownTool, 400),
        (RefusalCode::BadArgs, 400),
        (RefusalCode::RoleMismatch, 403),
        (RefusalCode::NotAuthorized, 403),
        (RefusalCode::Cooldown, 429),
        (RefusalCode::UnknownApproval, 404),
        (RefusalCode::ApprovalExpired, 410),
        (RefusalCode::ApprovalUsed, 409),
        (RefusalCode::McpFailed, 502),
        (RefusalCode::McpTimeout, 504),
        (RefusalCode::AuditUnavailable, 503),
        (RefusalCode::StateUnavailable, 503),
        (RefusalCode::TooManySessions, 429),
        (RefusalCode::SessionsFull, 503),
        (RefusalCode::RequestTimeout, 408),
        (RefusalCode::TooManyConnections, 503),
    ];
    for (code, status) in expected {
        assert_eq!(code.status(), status, "{code}");
    }
}

#[test]
fn the_audit_query_has_every_filter() {
    let query: AuditQuery = serde_json::from_value(json!({
        "principal": "pi-health", "tool": "", "decision": "executed",
        "on_behalf_of": "alice", "since": "2026-01-01", "limit": 9999
    }))
    .unwrap();
    let query = query.normalized();
    assert_eq!(query.tool, None);
    assert_eq!(query.on_behalf_of.as_deref(), Some("alice"));
    assert_eq!(
        query.limit,
        Some(ops_core::contract::audit_query::AUDIT_MAX_LIMIT)
    );
    assert!(serde_json::from_value::<AuditQuery>(json!({"principle": "x"})).is_err());
}

#[test]
fn compose_stats_answer_on_the_wire() {
    use ops_core::contract::stats::{ContainerStats, StackStats};
    let wire = json!({
        "project": "arr",
        "containers": [{
            "service": "sonarr", "name": "arr-sonarr-1",
            "cpu_percent": 12.5, "memory_used": 83886080, "memory_limit": 268435456,
            "memory_percent": 31.25,
            "net_rx_bytes": 1, "net_tx_bytes": 2, "block_read_bytes": 3, "block_write_bytes": 4
        }, {
            "service": "radarr", "name": "arr-radarr-1",
            "net_rx_bytes": 0, "net_tx_bytes": 0, "block_read_bytes": 0, "block_write_bytes": 0
        }],
        "memory_accounting_missing": false
    });
    let stats: StackStats = serde_json::from_value(wire.clone()).unwrap();
    assert_eq!(stats.containers[0].memory_limit, Some(268_435_456));
    // Unknown figures stay unknown both ways: absent, not 0.
    let radarr: &ContainerStats = &stats.containers[1];
    assert_eq!((radarr.cpu_percent, radarr.memory_used), (None, None));
    assert_eq!(serde_json::to_value(&stats).unwrap(), wire);
}

#[test]
fn log_stream_events_on_the_wire() {
    use ops_core::contract::LogEvent;
    use ops_core::contract::log_stream::Output;
    let line = LogEvent::Line {
        time: "2026-12-01T10:00:00.5Z".into(),
        container: "stack-sonarr-1".into(),
        stream: Output::Stderr,
        text: "error: x".into(),
    };
    assert_eq!(
        String::from_utf8(line.to_ndjson()).unwrap(),
        "{\"kind\":\"line\",\"time\":\"2026-12-01T10:00:00.5Z\",\"container\":\"stack-sonarr-1\",\"stream\":\"stderr\",\"text\":\"error: x\"}\n"
    );
    assert_eq!(
        serde_json::to_value(LogEvent::Skipped {
            lines: 3,
            reason: "r".into()
        })
        .unwrap(),
        json!({"kind": "skipped", "lines": 3, "reason": "r"})
    );
    assert_eq!(
        serde_json::to_value(LogEvent::End {
            reason: "the container stopped".into()
        })
        .unwrap(),
        json!({"kind": "end", "reason": "the container stopped"})
    );
    // The stream refusals: one wire code, two statuses, like the sessions'.
    assert_eq!(RefusalCode::TooManyStreams.status(), 429);
    assert_eq!(RefusalCode::StreamsFull.status(), 503);
    assert_eq!(
        RefusalCode::parse("too_many_streams", 503),
        Some(RefusalCode::StreamsFull)
    );
    assert_eq!(RefusalCode::NotAStream.as_str(), "not_a_stream");
}

#[test]
fn hosts_on_the_wire() {
    use ops_core::contract::hosts::{HOST_ARG, is_host_name};
    use ops_core::contract::{HostInfo, Hosts};
    let wire = json!({"hosts": [
        {"name": "nas", "default": false, "read_only": true},
        {"name": "pi", "default": true, "read_only": false}
    ]});
    let hosts: Hosts = serde_json::from_value(wire.clone()).unwrap();
    assert_eq!(serde_json::to_value(&hosts).unwrap(), wire);
    assert_eq!(hosts.names(), "nas, pi");
    assert_eq!(hosts.default_host().map(|h| h.name.as_str()), Some("pi"));
    assert!(hosts.find("NAS").is_some_and(|h| h.read_only));
    assert!(hosts.find("pi2").is_none());
    // No hosts: the single-host files.
    let none: Hosts = serde_json::from_value(json!({"hosts": []})).unwrap();
    assert!(none.is_empty());
    assert_eq!(none.default_host(), None);
    // A host's own compose file, when there is one; flags default to false.
    let own: HostInfo =
        serde_json::from_value(json!({"name": "nas", "compose_file": "/srv/nas.yml"})).unwrap();
    assert_eq!(own.compose_file.as_deref(), Some("/srv/nas.yml"));
    assert!(!own.default && !own.read_only);
    assert_eq!(HOST_ARG, "host");
    for good in ["pi", "nas", "pi2", "media-box", "n_1"] {
        assert!(is_host_name(good), "{good}");
    }
    for bad in ["", "-pi", "the nas", "nas!", "é", &"x".repeat(33)] {
        assert!(!is_host_name(bad), "{bad}");
    }
}
