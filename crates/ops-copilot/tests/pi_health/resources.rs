//! The Containers page's resources: compose_stats from the real Engine through
//! the gateway into pi-health's shared history, where pages asking within the
//! interval share one round (counted by pi-health and in the gateway's audit);
//! then the Containers page in a real headless Chromium draws them.

use std::time::Duration;

use serde_json::Value;
use test_support::wait_for;

use crate::gateway_support::{ADMIN, Env, Options};
use crate::support::{ALICE, BOB, PiHealth, gateway_token};
use crate::webdriver::Browser;

const STATS_STACK: &str = include_str!("../../../../testing/stats-stack/docker-compose.yml");
/// `mem_limit: 48m` of the stack's `limited` service.
const LIMITED_BYTES: u64 = 48 * 1024 * 1024;

fn container<'a>(stats: &'a Value, service: &str) -> &'a Value {
    stats["containers"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["service"] == service))
        .unwrap_or_else(|| panic!("no {service} in {stats:#}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_flow_through_the_gateway_and_pages_share_one_round() {
    // The adapted files, as `all` and the deployment run: compose_stats is a read there.
    let env = Env::start(
        "ph-stats",
        &["limited", "busy"],
        Options {
            stack_yaml: Some(STATS_STACK),
            adapted_config: true,
            ..Options::default()
        },
    )
    .await;
    let online = gateway_token(&env, "admin").await;
    let app = PiHealth::start(env.stack.file(), Some(&online), &[], false).await;
    let alice = app.sign_in(ALICE).await;
    let bob = app.sign_in(BOB).await;

    // Two people's pages ask, one right after the other (within the 15 s interval).
    let first = alice.get("/api/containers/stats").await;
    let first = first.expect(200).clone();
    let second = bob.get("/api/containers/stats").await;
    let second = second.expect(200).clone();
    assert_eq!(first["online"], true, "{first:#}");
    assert_eq!(first["rounds"], 1, "{first:#}");
    assert_eq!(second["rounds"], 1, "one round for both pages: {second:#}");
    assert_eq!(first["sampled_at"], second["sampled_at"]);
    assert!(
        first["sampled_at"].as_i64().is_some_and(|t| t > 0),
        "{first:#}"
    );
    assert_eq!(first["interval_seconds"], 15);

    // The figures, as docker-mcp read them from the Engine.
    assert_eq!(second["memory_accounting_missing"], false, "{second:#}");
    let limited = container(&second, "limited");
    assert_eq!(limited["memory_limit"], LIMITED_BYTES, "{limited:#}");
    assert!(
        limited["memory_used"].as_u64().is_some_and(|m| m > 0),
        "{limited:#}"
    );
    assert!(
        limited["cpu_percent"].as_f64().is_some_and(|c| c >= 0.0),
        "{limited:#}"
    );
    // Its history: the one sample so far.
    assert_eq!(
        limited["history"]["memory"],
        serde_json::json!([limited["memory_used"]])
    );
    assert_eq!(limited["history"]["ago"], serde_json::json!([0]));
    let busy = container(&second, "busy");
    assert!(
        busy["cpu_percent"].as_f64().is_some_and(|c| c > 1.0),
        "{busy:#}"
    );

    // The gateway ran compose_stats once. A read made afterwards (compose_ps,
    // the page's status) is recorded after it: once that record is in, a second
    // compose_stats would be too.
    alice.get("/api/containers").await.expect(200);
    let records = wait_for(
        "the gateway to record the page's compose_ps",
        Duration::from_secs(10),
        || async {
            let records = env.audit(ADMIN, "").await;
            if records.iter().any(|r| r["tool"] == "compose_ps") {
                Ok(records)
            } else {
                Err(format!("{records:#?}"))
            }
        },
    )
    .await;
    let stats: Vec<&Value> = records
        .iter()
        .filter(|r| r["tool"] == "compose_stats")
        .collect();
    assert_eq!(stats.len(), 1, "{records:#?}");
    assert_eq!(stats[0]["decision"], "executed", "{:#}", stats[0]);
    // A shared round is pi-health's own, not made for either person.
    assert!(stats[0]["on_behalf_of"].is_null(), "{:#}", stats[0]);

    // The page: a row per running container, CPU and memory in words with an
    // inline SVG chart each (named for screen readers), the stack's memory limit said.
    let browser = Browser::start(&env.dir.join("logs")).await;
    browser.goto(&app.url("/containers")).await;
    browser.type_into("#username", ALICE.0).await;
    browser.type_into("#password", ALICE.1).await;
    browser.click("#login-form button[type=submit]").await;
    // Signed in once the page behind the form has drawn: going on before that
    // raced the sign-in (Argon2 takes a while under load) and landed on the form.
    browser
        .wait_text("#container-summary", "services running")
        .await;
    browser.goto(&app.url("/containers")).await;
    let limited_name = env.stack.container_name("limited");
    let row = format!("#resources-table tbody tr[data-container=\"{limited_name}\"]");
    browser.wait_text(&row, "of 48.0 MiB").await;
    let charts = browser
        .eval(&format!(
            "return Array.from(document.querySelectorAll({:?} + ' svg.spark')).map(s => s.getAttribute('aria-label'));",
            row
        ))
        .await;
    let labels: Vec<&str> = charts
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    assert_eq!(labels.len(), 2, "a CPU and a memory chart: {charts}");
    assert!(
        labels[0].starts_with("CPU of ") && labels[1].starts_with("Memory of "),
        "{labels:?}"
    );
    assert!(
        browser.text("#resources-hint").await.is_empty(),
        "no hint where memory is accounted"
    );
    let shots = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("pi-health-screenshots");
    browser.screenshot(&shots, "10-container-resources").await;
}
