//! The guide's section 5 smoke tests, through the gateway.

use reqwest::StatusCode;

use crate::support::{Env, Options, STANDARD};

/// The FAKE secrets the fake ARR apps print (testing/images/fake-arr).
const SECRETS: [&str; 3] = [
    "0123456789abcdef0123456789abcdef",
    "hunter2",
    "abc.def-ghi_123",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_guides_three_smoke_tests_pass_through_the_gateway() {
    let env = Env::start("gw-smoke", &["sonarr", "sabnzbd"], Options::default()).await;

    // 1. compose_ps, no approval.
    let reply = env.call(STANDARD, "compose_ps", &env.ps_args()).await;
    let body = reply.expect(200);
    assert_eq!(body["ok"], true, "{body}");
    assert_eq!(body["tool"], "compose_ps", "{body}");
    env.assert_ps_result(&body["result"], &["sonarr", "sabnzbd"]);

    // 2. compose_logs sabnzbd tail 150, no approval; the secrets in the logs are masked.
    // docker-mcp itself returns them (so the masking below is the gateway's doing).
    let (status, raw) = env
        .mcp
        .rest("compose_logs", &env.logs_args("sabnzbd", 150))
        .await;
    assert_eq!(status, StatusCode::OK, "{raw}");
    let raw = raw.to_string();
    for secret in SECRETS {
        assert!(
            raw.contains(secret),
            "docker-mcp's raw logs lack {secret:?}"
        );
    }
    let reply = env
        .call(STANDARD, "compose_logs", &env.logs_args("sabnzbd", 150))
        .await;
    let body = reply.expect(200);
    assert_eq!(body["ok"], true, "{body}");
    assert_eq!(body["tool"], "compose_logs", "{body}");
    let text = body["result"].to_string();
    assert!(text.contains("sabnzbd"), "not sabnzbd's logs: {text}");
    for secret in SECRETS {
        assert!(
            !text.contains(secret),
            "{secret:?} leaked through the gateway: {text}"
        );
    }
    assert!(text.contains("[REDACTED]"), "no redaction marker: {text}");

    // 3. compose_restart: need_approval, then "approved": true executes it.
    let before = env.stack.started_at("sonarr");
    let approval_id = env.request_restart(STANDARD, "sonarr").await;
    assert_eq!(
        env.stack.started_at("sonarr"),
        before,
        "restarted before approval"
    );
    let reply = env
        .call_approved(STANDARD, "compose_restart", &env.restart_args("sonarr"))
        .await;
    let body = reply.expect(200);
    assert_eq!(body["ok"], true, "{body}");
    assert_eq!(body["tool"], "compose_restart", "{body}");
    assert!(body["result"].is_object(), "{body}");
    let after = env.stack.started_at("sonarr");
    assert_ne!(after, before, "sonarr did not really restart: {body}");
    assert!(env.stack.is_running("sonarr"));
    // The approval was used up.
    let pending = env.approvals(STANDARD).await;
    assert!(
        !pending.iter().any(|a| a["id"] == approval_id.as_str()),
        "the approval is still pending: {pending:?}"
    );

    // Every decision above is counted in the Prometheus metrics.
    let metrics = env.get(STANDARD, "/metrics").await;
    assert_eq!(metrics.status, 200);
    let text = metrics.body.as_str().unwrap_or_default().to_owned();
    for line in [
        r#"ops_copilot_gateway_decisions_total{tool="compose_ps",decision="executed"} 1"#,
        r#"ops_copilot_gateway_decisions_total{tool="compose_restart",decision="need_approval"} 1"#,
        r#"ops_copilot_gateway_decisions_total{tool="compose_restart",decision="executed"} 1"#,
    ] {
        assert!(text.contains(line), "missing {line} in:\n{text}");
    }
    assert!(
        text.contains("ops_copilot_gateway_decision_latency_seconds_bucket{"),
        "{text}"
    );
}
