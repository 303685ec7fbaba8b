//! compose_diagnose through the gateway, registered as `all` and the
//! deployment register it (deploy/config/): a read every role may call without
//! approval, whose probe outputs and error lines are redacted on the way out.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use test_support::wait_for;

use crate::support::{ADMIN, Env, Options, STANDARD};

const DIAGNOSIS_STACK: &str =
    include_str!("../../../../testing/diagnosis-stack/docker-compose.yml");
/// The FAKE secrets the diagnosis stack plants: an API key in the crash-looper's
/// error line, a bearer token in the failing probe's output.
const API_KEY: &str = "0123456789abcdef0123456789abcdef";
const BEARER: &str = "abc.def-ghi_123";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compose_diagnose_runs_through_the_gateway_without_approval_and_redacted() {
    let env = Env::start(
        "gw-diagnose",
        &["crashloop", "unhealthy"],
        Options {
            stack_yaml: Some(DIAGNOSIS_STACK),
            adapted_config: true,
            ..Options::default()
        },
    )
    .await;
    let args = |service: &str| json!({ "file": env.stack.file_str(), "service": service });

    // docker-mcp itself returns the secrets once the states are reached, so the
    // masking below is the gateway's doing.
    let raw = wait_for(
        "docker-mcp's raw diagnoses showing the planted secrets",
        Duration::from_secs(45),
        || async {
            let (_, crash) = env.mcp.rest("compose_diagnose", &args("crashloop")).await;
            let (_, probe) = env.mcp.rest("compose_diagnose", &args("unhealthy")).await;
            let text = format!("{crash}{probe}");
            if text.contains(API_KEY) && text.contains(BEARER) {
                Ok(text)
            } else {
                Err(text)
            }
        },
    )
    .await;
    assert!(raw.contains("database is locked"), "{raw}");

    for who in [STANDARD, ADMIN] {
        for (service, verdict, evidence) in [
            ("crashloop", "crash_loop", "database is locked"),
            ("unhealthy", "unhealthy_probe", "indexer search failed"),
        ] {
            let body: Value = wait_for(
                &format!("{service} diagnosed as {verdict} through the gateway"),
                Duration::from_secs(45),
                || async {
                    let reply = env.call(who, "compose_diagnose", &args(service)).await;
                    let body = reply.expect(200).clone();
                    if body["result"]["verdict"] == verdict {
                        Ok(body)
                    } else {
                        Err(body.to_string())
                    }
                },
            )
            .await;
            assert_eq!(body["ok"], true, "{body}");
            assert_eq!(body["tool"], "compose_diagnose", "{body}");
            let text = body["result"].to_string();
            assert!(text.contains(evidence), "{who} {service}: {text}");
            for secret in [API_KEY, BEARER] {
                assert!(!text.contains(secret), "{secret} leaked: {text}");
            }
            assert!(text.contains("[REDACTED]"), "no redaction marker: {text}");
        }
    }

    // Bad input: the policy's schema, then docker-mcp's declared-service check.
    let reply = env
        .call(
            STANDARD,
            "compose_diagnose",
            &args("crashloop; docker rm -f x"),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{:?}", reply.body);
    let reply = env
        .call(
            STANDARD,
            "compose_diagnose",
            &json!({ "file": "/etc/passwd", "service": "crashloop" }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{:?}", reply.body);
    let reply = env.call(STANDARD, "compose_diagnose", &args("plex")).await;
    assert!(!reply.status.is_success(), "{:?}", reply.body);
    assert!(reply.detail().contains("plex"), "{:?}", reply.body);
    // None of it needed or made an approval.
    assert!(env.approvals(ADMIN).await.is_empty());
}
