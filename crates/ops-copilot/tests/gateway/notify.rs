//! Notifications end to end, with a local webhook receiver standing in for the
//! target: the real gateway follows the real docker-mcp's service events (from
//! the Engine's event stream) and tells of a service that exits with an error,
//! and of an approval an agent asked for that waits for someone else, with a
//! link to pi-health's page. A request its requester may approve itself (a
//! person at the chat, who sees the card) is not told. A disk over the
//! threshold `host:` sets is told once.

use std::time::Duration;

use serde_json::json;

use crate::support::{ADMIN, AGENT, Env, Options};
use crate::webhook::Webhook;

const DIAGNOSIS_STACK: &str =
    include_str!("../../../../testing/diagnosis-stack/docker-compose.yml");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_trouble_and_waiting_approvals_reach_the_webhook_with_links() {
    let hook = Webhook::start().await;
    let mut env = Env::start(
        "gw-notify",
        &["healthy"],
        Options {
            stack_yaml: Some(DIAGNOSIS_STACK),
            adapted_config: true,
            agent: true,
            ..Options::default()
        },
    )
    .await;
    std::fs::write(
        env.dir.join("config/notify.yaml"),
        format!(
            "link_base: http://pi.test:8080/\nhost: {{ disk_percent: 1, temperature_celsius: off }}\ntargets:\n  - webhook: {{ url: {:?} }}\n",
            hook.url
        ),
    )
    .unwrap();
    env.restart_gateway().await;

    // The host's disk, over a threshold set low enough for any machine: told
    // once (the same alert is not repeated within repeat_after_minutes).
    let disk = hook
        .wait_for("host_disk", None, Duration::from_secs(20))
        .await;
    assert!(
        disk["title"]
            .as_str()
            .is_some_and(|t| t.starts_with("Disk / is ") && t.ends_with(" % full")),
        "{disk:#}"
    );
    assert!(disk["service"].is_null(), "{disk:#}");

    // An admin's own request: it may approve it itself, nobody is told.
    env.request_restart(ADMIN, "healthy").await;
    // The agent's: it may not approve it; the people who may are told.
    let approval_id = env.request_restart(AGENT, "healthy").await;
    let waiting = hook
        .wait_for("approval_waiting", Some("healthy"), Duration::from_secs(20))
        .await;
    assert_eq!(
        waiting["title"],
        "Approval waiting: compose_restart healthy"
    );
    assert_eq!(
        waiting["link"], "http://pi.test:8080/approvals",
        "{waiting:#}"
    );
    let message = waiting["message"].as_str().unwrap_or_default();
    assert!(message.contains(AGENT), "{message}");
    assert!(message.contains(&approval_id), "{message}");

    // A one-shot that exits with 1: told from docker-mcp's service events.
    env.stack.up(&["failed"]);
    let exited = hook
        .wait_for("exited_error", Some("failed"), Duration::from_secs(30))
        .await;
    assert_eq!(exited["title"], "failed exited with an error");
    assert!(
        exited["message"]
            .as_str()
            .is_some_and(|m| m.contains("exit code 1 (the program failed")),
        "{exited:#}"
    );
    assert_eq!(
        exited["link"], "http://pi.test:8080/containers?logs=failed",
        "{exited:#}"
    );
    assert!(
        exited["at"].as_str().is_some_and(|t| t.ends_with('Z')),
        "{exited:#}"
    );

    // One worker per target keeps the order: everything the admin's request
    // could have caused would have arrived before this. One waiting approval only.
    let waiting: Vec<_> = hook
        .received()
        .into_iter()
        .filter(|e| e["event"] == "approval_waiting")
        .collect();
    assert_eq!(waiting.len(), 1, "{waiting:#?}");
    assert_eq!(json!(hook.count("exited_error", "failed")), json!(1));
    let disks = hook
        .received()
        .into_iter()
        .filter(|e| e["event"] == "host_disk")
        .count();
    assert_eq!(disks, 1, "{:#?}", hook.received());

    // A bad edit of notify.yaml is refused and said by /health (the last good
    // version stays in force); the gateway goes on answering.
    std::fs::write(
        env.dir.join("config/notify.yaml"),
        "targets:\n  - webhok: { url: http://hooks.lan/x }\n",
    )
    .unwrap();
    let refused = test_support::wait_for(
        "/health to say notify.yaml's edit was refused",
        Duration::from_secs(30),
        || async {
            let health = env.health().await;
            health["refused_config_change"]
                .as_str()
                .filter(|t| t.contains("notify.yaml:2"))
                .map(str::to_owned)
                .ok_or_else(|| health.to_string())
        },
    )
    .await;
    assert!(refused.contains("webhok"), "{refused}");
    let listed = env.get(ADMIN, "/notifications").await;
    assert_eq!(
        listed.expect(200)["enabled"],
        true,
        "the last good one stays"
    );
}
