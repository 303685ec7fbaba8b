//! The Containers page's row actions in a real headless Chromium: Restart on
//! a row brings the chat's approval card under the row; the container is not
//! restarted before Approve (its StartedAt, by `docker inspect`) and is after
//! Approve and the confirmation; the restart's cooldown then disables the
//! button with the time left. Diagnose says what the chat's "why is X ...?"
//! says, Logs opens in view, each button has a name of its own, and a person
//! with the `standard` role sees Stop disabled with the reason.

use std::path::PathBuf;

use serde_json::Value;

use crate::gateway_support::{Env, Options};
use crate::support::{ALICE, BOB, PiHealth, gateway_token};
use crate::webdriver::Browser;

fn screenshots() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("pi-health-screenshots")
}

async fn sign_in(browser: &Browser, app: &PiHealth, (user, password): (&str, &str)) {
    browser.goto(&app.url("/login")).await;
    browser.type_into("#username", user).await;
    browser.type_into("#password", password).await;
    browser.click("#login-form button[type=submit]").await;
    browser
        .wait_text("#container-summary", "services running")
        .await;
}

fn button(service: &str, action: &str) -> String {
    format!("#services tbody tr[data-service=\"{service}\"] button[data-action=\"{action}\"]")
}

async fn disabled(browser: &Browser, css: &str) -> bool {
    let script = format!(
        "const b = document.querySelector({}); return b ? b.disabled : null;",
        Value::String(css.to_owned())
    );
    let value = browser.eval(&script).await;
    value
        .as_bool()
        .unwrap_or_else(|| panic!("no {css}: {value}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rows_restart_runs_only_after_approval_and_a_standard_person_sees_stop_disabled() {
    let env = Env::start(
        "ph-rows",
        &["sonarr", "radarr"],
        Options {
            adapted_config: true,
            ..Options::default()
        },
    )
    .await;
    let online = gateway_token(&env, "admin").await;
    let app = PiHealth::start(env.stack.file(), Some(&online), &[], false).await;
    let shots = screenshots();
    let browser = Browser::start(&env.dir.join("logs")).await;
    sign_in(&browser, &app, ALICE).await;

    browser.goto(&app.url("/containers")).await;
    let restart = button("sonarr", "restart");
    browser.wait_element(&format!("{restart}:enabled")).await;
    // Every button has a name of its own: "Logs for sonarr", "Restart radarr".
    let names = browser
        .eval(
            "return Array.from(document.querySelectorAll('#services button'), b => b.getAttribute('aria-label'));",
        )
        .await;
    let names: Vec<&str> = names
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap_or_default())
        .collect();
    assert!(names.contains(&"Logs for sonarr"), "{names:?}");
    assert!(names.contains(&"Restart radarr"), "{names:?}");
    let mut unique = names.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), names.len(), "names shared: {names:?}");

    // Restart: the chat's card under the row; nothing ran yet.
    let before = env.stack.started_at("sonarr");
    browser.click(&restart).await;
    let panel = "#services tr.panel-row[data-panel-for=\"sonarr\"]";
    browser
        .wait_text(
            &format!("{panel} .suggestion button.approve"),
            "Approve Restart",
        )
        .await;
    let card = browser.text(&format!("{panel} .suggestion")).await;
    assert!(card.contains("restart sonarr"), "{card}");
    browser.screenshot(&shots, "rows-01-restart-card").await;
    assert_eq!(
        env.stack.started_at("sonarr"),
        before,
        "sonarr restarted before approval"
    );
    // The page refreshes itself: the card stays where it is, still unapproved.
    browser.goto(&app.url("/containers")).await;
    browser.wait_element(&format!("{restart}:enabled")).await;
    browser.click(&restart).await;
    browser
        .wait_text(
            &format!("{panel} .suggestion button.approve"),
            "Approve Restart",
        )
        .await;
    assert_eq!(env.stack.started_at("sonarr"), before);

    // Approve and confirm: it runs, through the gateway, for real.
    browser
        .click(&format!("{panel} .suggestion button.approve"))
        .await;
    browser.wait_text("#confirm-title", "Approve Restart").await;
    browser.click("#confirm-ok").await;
    let banner = browser.wait_text("#banner", "Success").await;
    assert!(
        banner.contains("compose_restart sonarr succeeded"),
        "{banner}"
    );
    assert_ne!(
        env.stack.started_at("sonarr"),
        before,
        "sonarr did not restart"
    );
    assert!(env.stack.is_running("sonarr"));

    // The restart's cooldown: Restart disabled, the time left in words.
    let why = browser
        .wait_text("#why-sonarr", "Restart is cooling down")
        .await;
    assert!(why.contains(" left"), "{why}");
    assert!(disabled(&browser, &restart).await);
    assert!(!disabled(&browser, &button("radarr", "restart")).await);
    browser.screenshot(&shots, "rows-02-cooldown").await;

    // Diagnose: the chat's read, in a panel under radarr's row.
    browser.click(&button("radarr", "diagnose")).await;
    let diagnosis = browser
        .wait_text(
            "#services tr.panel-row[data-panel-for=\"radarr\"] .content",
            "radarr",
        )
        .await;
    assert!(!diagnosis.contains("Not done"), "{diagnosis}");

    // Start on a running service would do nothing: disabled, saying why;
    // Stop is there for an admin.
    assert!(disabled(&browser, &button("radarr", "start")).await);
    let title = browser
        .eval(&format!(
            "return document.querySelector({}).title;",
            Value::String(button("radarr", "start"))
        ))
        .await;
    assert_eq!(title, Value::String("radarr is already running.".into()));
    assert!(!disabled(&browser, &button("radarr", "stop")).await);

    // Logs: below the table, brought into view.
    browser.set_viewport(390, 844, true).await;
    browser.click(&button("radarr", "logs")).await;
    browser.wait_text("#logs-title", "Logs of radarr").await;
    browser.wait_text("#logs", "radarr").await;
    let in_view = browser
        .eval("const r = document.getElementById('logs-title').getBoundingClientRect(); return r.top >= 0 && r.bottom <= window.innerHeight;")
        .await;
    assert_eq!(in_view, Value::Bool(true), "the logs opened off-screen");
    browser.screenshot(&shots, "rows-03-phone-logs").await;

    // bob (standard) may restart but not stop: Stop disabled, the reason shown.
    // (Signed out from the desktop layout, where the nav's button is in view.)
    browser.set_viewport(1400, 900, false).await;
    browser.click("nav form.logout button").await;
    browser.wait_element("#login-form").await;
    sign_in(&browser, &app, BOB).await;
    browser.goto(&app.url("/containers")).await;
    let note = browser
        .wait_text("#actions-note", "may not approve compose_stop")
        .await;
    assert!(note.contains("Stop"), "{note}");
    assert!(disabled(&browser, &button("radarr", "stop")).await);
    assert!(!disabled(&browser, &button("radarr", "restart")).await);
    let described = browser
        .eval(&format!(
            "return document.querySelector({}).getAttribute('aria-describedby');",
            Value::String(button("radarr", "stop"))
        ))
        .await;
    assert_eq!(described, Value::String("actions-note".into()));
    browser.screenshot(&shots, "rows-04-standard-person").await;
    assert!(env.stack.is_running("radarr"));
}
