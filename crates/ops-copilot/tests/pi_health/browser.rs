//! The browser test: a real headless Chromium (Debian's chromium and
//! chromium-driver) against pi-health, the gateway, docker-mcp and the Engine.
//! Sign in, ask for the Docker status, ask for a restart, click "Approve
//! Restart", confirm, see the success banner, check that sonarr really
//! restarted; ask why prowlarr is unhealthy and see the evidence; then the same
//! with the gateway stopped: a warning, no crash.
//! A screenshot of each page is saved under the target directory.

use std::path::PathBuf;

use crate::gateway_support::{Env, Options};
use crate::support::{ALICE, PiHealth, gateway_token};
use crate::webdriver::Browser;

fn screenshots() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("pi-health-screenshots")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_asks_approves_a_restart_and_sees_the_real_outcome() {
    // The adapted files, as `all` and the deployment run: compose_diagnose too.
    let mut env = Env::start(
        "ph-browser",
        &["sonarr", "radarr", "prowlarr"],
        Options {
            adapted_config: true,
            ..Options::default()
        },
    )
    .await;
    let online = gateway_token(&env, "admin").await;
    let mut app = PiHealth::start(env.stack.file(), Some(&online), &[], false).await;
    let shots = screenshots();
    let browser = Browser::start(&env.dir.join("logs")).await;

    // Sign in.
    browser.goto(&app.url("/chat")).await;
    assert!(
        browser.url().await.ends_with("/login"),
        "not redirected to sign in"
    );
    browser.wait_element("#login-form").await;
    browser.screenshot(&shots, "01-sign-in").await;
    browser.type_into("#username", ALICE.0).await;
    browser.type_into("#password", ALICE.1).await;
    browser.click("#login-form button[type=submit]").await;

    // The dashboard fills itself from the API.
    browser
        .wait_text("#container-summary", "services running")
        .await;
    let cpu = browser.wait_text("[data-stat=\"cpu\"]", "%").await;
    assert!(cpu.ends_with('%'), "{cpu}");
    let temperature = browser.text("[data-stat=\"temperature\"]").await;
    assert!(
        temperature == "not available" || temperature.ends_with("°C"),
        "{temperature}"
    );
    browser.screenshot(&shots, "02-dashboard").await;

    // Containers, with logs on demand.
    browser.goto(&app.url("/containers")).await;
    browser
        .wait_element("#services tbody tr[data-service=\"sonarr\"]")
        .await;
    browser
        .click("#services tbody tr[data-service=\"sonarr\"] button[data-action=\"logs\"]")
        .await;
    browser.wait_text("#logs", "sonarr").await;
    browser.screenshot(&shots, "03-containers").await;

    // The chat: the Docker status.
    browser.goto(&app.url("/chat")).await;
    browser
        .type_into("#chat-input", "What is the Docker status?")
        .await;
    browser.click("#chat-send").await;
    let total = env.stack.declared_services().len();
    browser
        .wait_text(
            ".message.assistant:not(.history) .content",
            &format!("3 of {total} services running"),
        )
        .await;
    browser.wait_text("#chat-meta", "docker_status").await;

    // Markup typed by a person stays text.
    browser
        .type_into(
            "#chat-input",
            "<img src=x onerror=\"document.title='pwned'\"> hi",
        )
        .await;
    browser.click("#chat-send").await;
    browser
        .wait_text(".message.assistant:last-child .content", "<img src=x")
        .await;
    let title = browser.eval("return document.title;").await;
    assert_ne!(title, "pwned", "markup from the chat ran");
    let images = browser
        .eval("return document.querySelectorAll('.messages img').length;")
        .await;
    assert_eq!(images, 0);

    // The restart: a card, a confirmation, the real outcome.
    let before = env.stack.started_at("sonarr");
    browser
        .type_into(
            "#chat-input",
            "Sonarr queue looks stuck, can you restart it?",
        )
        .await;
    browser.click("#chat-send").await;
    let label = browser
        .wait_text(".suggestion button.approve", "Approve Restart")
        .await;
    assert_eq!(label, "Approve Restart");
    let card = browser.text(".suggestion").await;
    assert!(card.contains("restart sonarr"), "{card}");
    browser.screenshot(&shots, "04-chat-suggestion").await;
    assert_eq!(
        env.stack.started_at("sonarr"),
        before,
        "ran before approval"
    );
    browser.click(".suggestion button.approve").await;
    browser.wait_text("#confirm-title", "Approve Restart").await;
    browser.screenshot(&shots, "05-confirm").await;
    browser.click("#confirm-ok").await;
    let banner = browser.wait_text("#banner", "Success").await;
    assert!(
        banner.contains("compose_restart sonarr succeeded"),
        "{banner}"
    );
    let class = browser
        .eval("return document.getElementById('banner').className;")
        .await;
    assert_eq!(class, "banner success");
    browser.screenshot(&shots, "06-chat-success").await;
    assert_ne!(
        env.stack.started_at("sonarr"),
        before,
        "sonarr did not restart"
    );
    assert!(env.stack.is_running("sonarr"));

    // Why: prowlarr's failing healthcheck, said with its evidence.
    browser
        .type_into("#chat-input", "why is prowlarr unhealthy?")
        .await;
    browser.click("#chat-send").await;
    let why = browser
        .wait_text(
            ".message.assistant:last-child .content",
            "its healthcheck fails",
        )
        .await;
    assert!(why.contains("Healthcheck unhealthy: failing"), "{why}");
    browser.screenshot(&shots, "06b-chat-diagnosis").await;

    // Approvals and audit pages.
    browser.goto(&app.url("/approvals")).await;
    browser.wait_element("#approvals").await;
    browser.screenshot(&shots, "07-approvals").await;
    browser.goto(&app.url("/audit")).await;
    browser.wait_text("#audit tbody", "compose_restart").await;
    browser.screenshot(&shots, "08-audit").await;

    // The gateway goes away: a warning, the page stays responsive.
    env.stop_gateway();
    browser.goto(&app.url("/chat")).await;
    browser
        .type_into("#chat-input", "What is the Docker status?")
        .await;
    browser.click("#chat-send").await;
    browser
        .wait_text(
            ".message.assistant:not(.history) .content",
            "The gateway is not answering at http://",
        )
        .await;
    browser.type_into("#chat-input", "restart sonarr").await;
    browser.click("#chat-send").await;
    browser
        .wait_text(".suggestion button.approve", "Approve Restart")
        .await;
    let after = env.stack.started_at("sonarr");
    browser.click(".suggestion button.approve").await;
    browser.wait_text("#confirm-title", "Approve Restart").await;
    browser.click("#confirm-ok").await;
    let banner = browser.wait_text("#banner", "Failed").await;
    assert!(banner.contains("Not executed"), "{banner}");
    browser.screenshot(&shots, "09-chat-gateway-down").await;
    assert_eq!(env.stack.started_at("sonarr"), after);
    // The Containers page says so too, rather than a fresh time.
    browser.goto(&app.url("/containers")).await;
    browser
        .wait_text("#updated", "Disconnected from the gateway")
        .await;
    browser.goto(&app.url("/")).await;
    browser
        .wait_text("#container-warning", "is it running?")
        .await;
    browser.wait_text("[data-stat=\"cpu\"]", "%").await;
    // The stack's figures are not shown as fresh.
    browser
        .wait_text("#updated", "Disconnected from the gateway")
        .await;
    browser
        .screenshot(&shots, "10-dashboard-gateway-down")
        .await;

    // pi-health itself stops: the page keeps its figures, but says since when
    // they date and dims them, rather than a fresh "Updated" time.
    app.stop();
    let stale = browser
        .wait_text(
            "#updated",
            "Disconnected: pi-health is not answering; data from ",
        )
        .await;
    let time = stale
        .rsplit("data from ")
        .next()
        .unwrap_or_default()
        .trim_end_matches('.');
    assert!(
        time.chars().any(|c| c.is_ascii_digit()) && time.contains(':'),
        "the time of the last data, HH:MM: {stale}"
    );
    let dimmed = browser
        .eval("return document.body.classList.contains('disconnected');")
        .await;
    assert_eq!(
        dimmed,
        serde_json::Value::Bool(true),
        "the figures are dimmed"
    );
    let cpu = browser.text("[data-stat=\"cpu\"]").await;
    assert!(cpu.ends_with('%'), "the last figures stay visible: {cpu}");
    browser
        .screenshot(&shots, "11-dashboard-disconnected")
        .await;
    eprintln!("screenshots in {}", shots.display());
}
