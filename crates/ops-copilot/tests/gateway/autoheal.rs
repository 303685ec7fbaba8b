//! Guarded auto-heal on the real Engine (testing/autoheal-stack), through the
//! real gateway and docker-mcp: the gateway follows docker-mcp's service events
//! and restarts, as its own principal on the policy's standing approval, a
//! service that stays unhealthy (or exited with an error): one whose healthcheck
//! passes after a restart gets exactly one; one that always fails gets the
//! policy's number, then people are told it gave up; a crash loop gets none
//! (people are told of it). Every restart is in the audit log as auto-heal's.

use std::time::Duration;

use serde_json::Value;
use test_support::wait_for;

use crate::support::{ADMIN, Env, Options, STANDARD, replace};
use crate::webhook::Webhook;

const AUTOHEAL_STACK: &str = include_str!("../../../../testing/autoheal-stack/docker-compose.yml");
const MAX_ATTEMPTS: usize = 2;

/// The policy's autoheal section for this test: short times, two attempts.
fn autoheal_section() -> String {
    format!(
        "\nautoheal:\n  role: admin\n  services: [mends, broken, crashloop]\n  by_label: true\n  unhealthy_for_seconds: 5\n  max_attempts: {MAX_ATTEMPTS}\n  window_minutes: 30\n  backoff_seconds: 2\n"
    )
}

/// Auto-heal's executed restarts of `service`, from the audit log.
async fn heals(env: &Env, service: &str) -> Vec<Value> {
    env.audit(ADMIN, "tool=compose_restart")
        .await
        .into_iter()
        .filter(|r| {
            r["principal"] == "policy:autoheal"
                && r["decision"] == "executed"
                && r["args"]["service"] == service
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autoheal_mends_what_a_restart_mends_gives_up_on_the_rest_and_never_restarts_a_crash_loop()
{
    let hook = Webhook::start().await;
    let mut env = Env::start(
        "gw-autoheal",
        &["mends", "broken", "crashloop", "labelled"],
        Options {
            stack_yaml: Some(AUTOHEAL_STACK),
            adapted_config: true,
            ..Options::default()
        },
    )
    .await;
    let policy = replace(
        &env.policy_text(),
        "compose_restart: { seconds: 300, key: \"service\" }",
        "compose_restart: { seconds: 1, key: \"service\" }",
    );
    env.write_policy(&format!("{policy}{}", autoheal_section()));
    std::fs::write(
        env.dir.join("config/notify.yaml"),
        format!(
            "link_base: http://pi.test:8080\ntargets:\n  - webhook: {{ url: {:?} }}\n",
            hook.url
        ),
    )
    .unwrap();
    env.restart_gateway().await;

    // mends: unhealthy until restarted once; then healthy, and left alone.
    let mended = wait_for(
        "mends restarted by auto-heal and healthy again",
        Duration::from_secs(90),
        || async {
            let heals = heals(&env, "mends").await;
            let health = env.stack.inspect("mends", "{{.State.Health.Status}}");
            if heals.len() == 1 && health.trim() == "healthy" {
                Ok(heals)
            } else {
                Err(format!("{} restarts, health {health:?}", heals.len()))
            }
        },
    )
    .await;
    let record = &mended[0];
    assert_eq!(record["approver"], "policy.yaml autoheal", "{record:#}");
    assert!(
        record["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("standing approval (auto-heal): mends unhealthy")),
        "{record:#}"
    );
    assert_eq!(record["role"], "admin", "{record:#}");
    // People heard of it, then of the recovery, with a link to the page.
    let unhealthy = hook
        .wait_for("unhealthy", Some("mends"), Duration::from_secs(10))
        .await;
    assert_eq!(
        unhealthy["link"], "http://pi.test:8080/containers?logs=mends",
        "{unhealthy:#}"
    );
    hook.wait_for("recovered", Some("mends"), Duration::from_secs(30))
        .await;

    // labelled: exited with 1, looked after through its compose label.
    wait_for(
        "labelled restarted by auto-heal and running",
        Duration::from_secs(60),
        || async {
            let heals = heals(&env, "labelled").await.len();
            if heals == 1 && env.stack.is_running("labelled") {
                Ok(())
            } else {
                Err(format!("{heals} restarts"))
            }
        },
    )
    .await;

    // broken: the policy's attempts, then "gave up", told once.
    let gave_up = hook
        .wait_for("gave_up", Some("broken"), Duration::from_secs(120))
        .await;
    assert!(
        gave_up["message"]
            .as_str()
            .is_some_and(|m| m.contains(&format!("after {MAX_ATTEMPTS} restarts"))),
        "{gave_up:#}"
    );
    assert_eq!(heals(&env, "broken").await.len(), MAX_ATTEMPTS);

    // crashloop: told as a crash loop, never restarted by auto-heal.
    let looping = hook
        .wait_for("crash_loop", Some("crashloop"), Duration::from_secs(60))
        .await;
    assert!(
        looping["message"]
            .as_str()
            .is_some_and(|m| m.contains("A restart will not help")),
        "{looping:#}"
    );

    // Some time later: nothing more was restarted, nothing said twice.
    tokio::time::sleep(Duration::from_secs(12)).await;
    assert_eq!(heals(&env, "mends").await.len(), 1);
    assert_eq!(heals(&env, "broken").await.len(), MAX_ATTEMPTS);
    assert!(heals(&env, "crashloop").await.is_empty());
    assert_eq!(hook.count("gave_up", "broken"), 1);
    assert_eq!(hook.count("crash_loop", "crashloop"), 1);

    // The limits hold across a restart of the gateway: auto-heal reads its
    // restarts of the window back from the audit log, so `broken`, still
    // unhealthy, is not restarted again.
    env.restart_gateway().await;
    tokio::time::sleep(Duration::from_secs(12)).await;
    assert_eq!(heals(&env, "broken").await.len(), MAX_ATTEMPTS);

    // The deliveries are visible to an admin, and to nobody else.
    let deliveries = env.get(ADMIN, "/notifications").await;
    let deliveries = deliveries.expect(200)["deliveries"].clone();
    assert!(
        deliveries
            .as_array()
            .is_some_and(|d| d.iter().any(|d| d["kind"] == "gave_up" && d["ok"] == true)),
        "{deliveries:#}"
    );
    env.get(STANDARD, "/notifications").await.expect(403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_autoheal_section_that_cannot_work_is_refused_with_the_reason() {
    let env = Env::start(
        "gw-autoheal-bad",
        &[],
        Options {
            stack_yaml: Some(AUTOHEAL_STACK),
            adapted_config: true,
            ..Options::default()
        },
    )
    .await;
    let policy = env.policy_text();
    for (section, reason) in [
        (
            "\nautoheal:\n  role: nobody\n  services: [mends]\n",
            "not defined in roles",
        ),
        ("\nautoheal:\n  role: admin\n", "by_label"),
        (
            "\nautoheal:\n  role: admin\n  services: [mends]\n  max_attempts: 0\n",
            "max_attempts",
        ),
        (
            "\nautoheal:\n  role: admin\n  services: [mends]\n  restart_everything: true\n",
            "restart_everything",
        ),
    ] {
        let file = env.dir.join("config/bad-policy.yaml");
        std::fs::write(&file, format!("{policy}{section}")).unwrap();
        let output = crate::support::run_cli(&[
            "policy",
            "check",
            "--registry",
            &env.registry.display().to_string(),
            "--policy",
            &file.display().to_string(),
        ]);
        let text = crate::support::output_text(&output);
        assert!(!output.status.success(), "{section}: {text}");
        assert!(text.contains(reason), "{section}: {text}");
        assert!(text.contains("bad-policy.yaml"), "{section}: {text}");
    }
}
