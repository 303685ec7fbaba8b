//! pi-health with two real Docker hosts behind the real gateway (the gateway
//! suite's `TwoHosts`: the machine's Engine "pi", the default, and a second
//! dockerd "nas" of the test's own, each with its own docker-mcp and the same
//! compose project). The all-hosts overview reads each real host; the
//! Containers page's row restart with `?host=nas` and the chat's "restart X
//! on nas" restart the container on nas's Engine only, after approval; a
//! message that names no host goes where its service runs, or asks which one;
//! an order naming a host where the service has no container says where it
//! runs; a host limited to admins is not shown to a standard person; a host
//! that goes down is said, with the gateway's reason (without its repeated
//! "host nas: "), while the others still load, and the chat answers from pi
//! naming nas as unreadable; the Dashboard with hosts in a real Chromium
//! (nas's page labels this machine's figures as this machine's), checked by
//! axe-core.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use test_support::wait_for;

use crate::gateway_support::TwoHosts;
use crate::support::{ALICE, BOB, Browser, PiHealth, gateway_token};

/// pi runs sonarr; nas runs sonarr, radarr (only there) and prowlarr (only
/// there; its healthcheck always fails: nas has a problem, pi none).
const ON_PI: &[&str] = &["sonarr"];
const ON_NAS: &[&str] = &["sonarr", "radarr", "prowlarr"];

/// Two hosts with `policy_hosts` (the gateway policy's `hosts:`), and
/// pi-health in front of the gateway.
async fn start(tag: &str, policy_hosts: &str) -> (TwoHosts, PiHealth) {
    let hosts = TwoHosts::start(tag, ON_PI, ON_NAS, policy_hosts).await;
    let online = gateway_token(&hosts.env, "admin").await;
    let app = PiHealth::start(hosts.env.stack.file(), Some(&online), &[], false).await;
    (hosts, app)
}

/// `GET /api/hosts`' lines, by name.
async fn overview(browser: &Browser) -> Vec<Value> {
    let reply = browser.get("/api/hosts").await;
    let body = reply.expect(200);
    assert!(body.get("warning").is_none(), "{body}");
    body["hosts"]
        .as_array()
        .unwrap_or_else(|| panic!("no hosts: {body}"))
        .clone()
}

fn names(lines: &[Value]) -> Vec<&str> {
    lines.iter().map(|h| h["name"].as_str().unwrap()).collect()
}

fn line<'a>(lines: &'a [Value], host: &str) -> &'a Value {
    lines
        .iter()
        .find(|h| h["name"] == host)
        .unwrap_or_else(|| panic!("no {host} in {lines:?}"))
}

/// The overview once prowlarr's failing healthcheck has made it unhealthy on nas.
async fn overview_with_nas_unhealthy(browser: &Browser) -> Vec<Value> {
    wait_for(
        "prowlarr unhealthy in nas's line of /api/hosts",
        Duration::from_secs(30),
        || async {
            let lines = overview(browser).await;
            if line(&lines, "nas")["problems"] == json!(["unhealthy: prowlarr"]) {
                Ok(lines)
            } else {
                Err(format!("{lines:#?}"))
            }
        },
    )
    .await
}

/// A chat answer's card: it must have one.
fn card(reply: &crate::support::Reply) -> Value {
    reply.suggestion().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_overview_rows_and_chat_reach_each_real_host_and_a_standard_person_sees_only_theirs() {
    let (h, app) = start("ph-hosts", "hosts:\n  nas: { roles: [admin] }\n").await;
    let env = &h.env;
    let alice = app.sign_in(ALICE).await;
    let bob = app.sign_in(BOB).await;
    let declared = env.stack.declared_services().len();

    // 1. The overview (an admin): both hosts, each read from its own Engine.
    let lines = overview_with_nas_unhealthy(&alice).await;
    assert_eq!(names(&lines), ["nas", "pi"], "{lines:#?}");
    let nas = line(&lines, "nas");
    assert_eq!(nas["reachable"], true, "{nas}");
    assert_eq!(nas["default"], false, "{nas}");
    assert_eq!(nas["services"], declared, "{nas}");
    assert_eq!(nas["running"], ON_NAS.len(), "{nas}");
    let pi = line(&lines, "pi");
    assert_eq!(pi["reachable"], true, "{pi}");
    assert_eq!(pi["default"], true, "{pi}");
    assert_eq!(pi["services"], declared, "{pi}");
    assert_eq!(pi["running"], ON_PI.len(), "{pi}");
    assert_eq!(
        pi["problems"],
        json!([]),
        "pi's prowlarr is not created: {pi}"
    );
    // Each host's Containers data is its own Engine's.
    let on_nas = alice.get("/api/containers?host=nas").await;
    let body = on_nas.expect(200);
    assert_eq!(body["host"]["name"], "nas", "{body}");
    assert_eq!(body["summary"]["running"], ON_NAS.len(), "{body}");
    let on_pi = alice.get("/api/containers").await;
    assert_eq!(on_pi.expect(200)["summary"]["running"], ON_PI.len());

    // 4. bob (standard): nas is for admins; he is not shown it, nor may pick it.
    let lines = overview(&bob).await;
    assert_eq!(names(&lines), ["pi"], "{lines:#?}");
    let (status, page) = bob.page("/").await;
    assert_eq!(status, 200);
    assert!(page.contains("<option value=\"pi\""), "{page}");
    assert!(
        !page.contains("value=\"nas\""),
        "nas in bob's picker: {page}"
    );
    let (status, page) = bob.page("/containers?host=nas").await;
    assert_eq!(status, 404, "{page}");
    assert!(
        page.contains("There is no host called nas; the hosts are: pi."),
        "{page}"
    );
    let refused = bob.get("/api/containers?host=nas").await;
    assert_eq!(refused.expect(404)["code"], "unknown_host", "{refused:?}");
    // alice's picker has both.
    let (_, page) = alice.page("/?host=nas").await;
    assert!(
        page.contains("<option value=\"nas\" selected>nas</option>"),
        "{page}"
    );
    assert!(page.contains("<option value=\"pi\">pi (default)</option>"));

    // 3. The chat. A service on both hosts, no host named: which one? (no card).
    let asked = alice.chat("restart sonarr").await;
    assert!(
        asked
            .content()
            .contains("sonarr runs on nas and pi: which one?"),
        "{}",
        asked.content()
    );
    assert!(
        asked.body["messages"][0]["suggestion"].is_null(),
        "a card without a host: {}",
        asked.body
    );
    // Named: a card for nas.
    let named = alice.chat("restart sonarr on nas").await;
    let sonarr_card = card(&named);
    assert_eq!(
        sonarr_card["actionParams"],
        json!({"service": "sonarr", "host": "nas"}),
        "{sonarr_card}"
    );
    let description = sonarr_card["description"].as_str().unwrap();
    assert!(
        description.starts_with("Restart the sonarr service on nas"),
        "{description}"
    );
    // radarr runs on nas only: the card is nas's, with no host named.
    let nas_radarr = h.started_on_nas("radarr");
    let reply = alice.chat("restart radarr").await;
    let radarr_card = card(&reply);
    assert_eq!(
        radarr_card["actionParams"],
        json!({"service": "radarr", "host": "nas"}),
        "{}",
        reply.body
    );
    assert_eq!(
        h.started_on_nas("radarr"),
        nas_radarr,
        "ran without approval"
    );
    let approved = alice.approve(radarr_card["id"].as_str().unwrap()).await;
    let body = approved.expect(200);
    assert_eq!(body["status"], "success", "{body}");
    assert!(
        body["result"]
            .as_str()
            .unwrap()
            .contains("compose_restart radarr on nas succeeded"),
        "{body}"
    );
    assert_ne!(
        h.started_on_nas("radarr"),
        nas_radarr,
        "nas's radarr restarted"
    );
    assert_eq!(
        env.stack.container_ids("radarr"),
        Vec::<String>::new(),
        "radarr was brought up on pi's Engine"
    );

    // Named on a host where it has no container: said where it runs, no card
    // (the gateway would refuse it there).
    let reply = alice.chat("restart radarr on pi").await;
    assert!(
        reply
            .content()
            .contains("radarr is not running on pi (it runs on nas)."),
        "{}",
        reply.content()
    );
    assert!(
        reply.body["messages"][0]["suggestion"].is_null(),
        "{}",
        reply.body
    );

    // 2. The Containers page's row restart on nas: the card, then Approve.
    let pi_sonarr = env.stack.started_at("sonarr");
    let nas_sonarr = h.started_on_nas("sonarr");
    let rights = alice.get("/api/ops-copilot/actions?host=nas").await;
    assert_eq!(
        rights.expect(200)["actions"]["restart"]["allowed"],
        true,
        "{rights:?}"
    );
    let row = alice
        .post(
            "/api/ops-copilot/suggest?host=nas",
            &json!({"action": "restart", "service": "sonarr"}),
        )
        .await;
    row.expect(200);
    let row_card = card(&row);
    assert_eq!(
        row_card["actionParams"],
        json!({"service": "sonarr", "host": "nas"}),
        "{row_card}"
    );
    assert_eq!(row_card["ctaLabel"], "Approve Restart", "{row_card}");
    assert_eq!(
        h.started_on_nas("sonarr"),
        nas_sonarr,
        "ran without approval"
    );
    // The gateway holds it as an approval for nas.
    let pending = env.approvals(crate::gateway_support::ADMIN).await;
    assert!(
        pending.iter().any(|a| a["tool"] == "compose_restart"
            && a["args"]["service"] == "sonarr"
            && a["args"]["host"] == "nas"),
        "{pending:#?}"
    );
    let approved = alice.approve(row_card["id"].as_str().unwrap()).await;
    let body = approved.expect(200);
    assert_eq!(body["status"], "success", "{body}");
    assert!(
        body["result"]
            .as_str()
            .unwrap()
            .contains("compose_restart sonarr on nas succeeded"),
        "{body}"
    );
    assert_ne!(
        h.started_on_nas("sonarr"),
        nas_sonarr,
        "nas's sonarr restarted"
    );
    assert_eq!(
        env.stack.started_at("sonarr"),
        pi_sonarr,
        "pi's sonarr was restarted instead"
    );
    // The gateway's record names the host and the person.
    let records = env
        .audit(crate::gateway_support::ADMIN, "tool=compose_restart")
        .await;
    assert!(
        records.iter().any(|r| r["decision"] == "executed"
            && r["args"]["host"] == "nas"
            && r["args"]["service"] == "sonarr"
            && r["on_behalf_of"] == "alice"),
        "{records:#?}"
    );
}

fn screenshots() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("pi-health-screenshots")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_every_host_and_one_that_goes_down_is_said_while_the_others_load() {
    let axe = crate::pages::axe_script();
    let (mut h, app) = start("ph-hosts-down", "").await;
    let alice = app.sign_in(ALICE).await;
    overview_with_nas_unhealthy(&alice).await;

    // 6. The Dashboard in Chromium: the picker, the overview, no serious axe violation.
    let browser = crate::webdriver::Browser::start(&h.env.dir.join("logs")).await;
    let shots = screenshots();
    browser.goto(&app.url("/login")).await;
    browser.type_into("#username", ALICE.0).await;
    browser.type_into("#password", ALICE.1).await;
    browser.click("#login-form button[type=submit]").await;
    browser
        .wait_text("#container-summary", "services running")
        .await;
    let options = browser
        .eval("return Array.from(document.querySelectorAll('#host-select option'), o => o.textContent);")
        .await;
    assert_eq!(options, json!(["nas", "pi (default)"]));
    browser.wait_text("#host-shown", "Showing pi").await;
    let table = browser
        .wait_text("#hosts tbody", "unhealthy: prowlarr")
        .await;
    assert!(table.contains("3 of 6 running"), "{table}");
    assert!(table.contains("1 of 6 running"), "{table}");
    // The picker, by hand: nas's dashboard.
    browser
        .eval("document.getElementById('host-select').value = 'nas'; return null;")
        .await;
    browser.click("#host-picker button[type=submit]").await;
    browser.wait_text("#host-shown", "Showing nas").await;
    assert!(browser.url().await.ends_with("/?host=nas"));
    browser
        .wait_text("#container-summary", "3 of 6 services running")
        .await;
    browser.wait_text("#hosts tbody", "prowlarr").await;
    // This machine's figures are not said to be nas's.
    browser.wait_text("#machine-title", "This machine (").await;
    browser
        .wait_text(
            "#machine-note",
            "sees only the hardware of the machine it runs on",
        )
        .await;
    browser.screenshot(&shots, "hosts-01-dashboard-nas").await;
    if let Some(axe) = &axe {
        let violations = browser.axe_serious(axe).await;
        assert!(
            violations.is_empty(),
            "axe-core: serious or critical violations:\n{}",
            violations.join("\n")
        );
    }

    // 5. nas's Engine goes down: its line says so with the gateway's reason,
    // at once; pi's still loads.
    h.nas.stop();
    let lines = wait_for(
        "nas unreachable in /api/hosts",
        Duration::from_secs(20),
        || async {
            let started = Instant::now();
            let lines = overview(&alice).await;
            let took = started.elapsed();
            if line(&lines, "nas")["reachable"] == false {
                Ok((lines, took))
            } else {
                Err(format!("{lines:#?}"))
            }
        },
    )
    .await;
    let (lines, took) = lines;
    // Bounded by docker-mcp's own Engine check, not the read timeout.
    assert!(took < Duration::from_secs(4), "the overview took {took:?}");
    let nas = line(&lines, "nas");
    let reason = nas["reason"].as_str().unwrap_or_default();
    // The line names nas: the gateway's "host nas: " is not repeated.
    assert!(
        !reason.starts_with("host nas: ") && reason.contains("Docker is not reachable"),
        "{nas}"
    );
    assert_eq!(nas["problems"], json!([]), "{nas}");
    let pi = line(&lines, "pi");
    assert_eq!(pi["reachable"], true, "{pi}");
    assert_eq!(pi["running"], ON_PI.len(), "{pi}");
    let containers = alice.get("/api/containers").await;
    let body = containers.expect(200);
    assert_eq!(body["summary"]["running"], ON_PI.len(), "{body}");
    assert!(
        body["services"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["service"] == "sonarr" && s["verdict"] == "healthy"),
        "{body}"
    );
    // The chat: answered from pi, nas named as unreadable, never counted.
    let reply = alice.chat("is sonarr up?").await;
    let said = reply.content();
    assert!(said.contains("On <strong>pi</strong>"), "{said}");
    assert!(!said.contains("which one"), "{said}");
    assert!(
        said.contains("nas could not be read right now: ")
            && said.contains("Docker is not reachable")
            && !said.contains("host nas:"),
        "{said}"
    );
    let reply = alice.chat("restart radarr").await;
    let said = reply.content();
    assert!(
        said.contains("radarr is not on pi; nas could not be read right now: "),
        "{said}"
    );
    assert!(
        reply.body["messages"][0]["suggestion"].is_null(),
        "{}",
        reply.body
    );
    let reply = alice.chat("what's wrong?").await;
    assert!(
        reply
            .content()
            .contains("nas could not be read right now: "),
        "{}",
        reply.content()
    );

    // The Dashboard says it too, and still shows pi.
    browser.goto(&app.url("/")).await;
    browser
        .wait_text("#container-summary", "1 of 6 services running")
        .await;
    let table = browser
        .wait_text("#hosts tbody", "Docker is not reachable")
        .await;
    assert!(table.contains("⚠ no"), "{table}");
    browser.screenshot(&shots, "hosts-02-nas-down").await;

    // nas's docker-mcp goes too: "did not answer", and pi still loads.
    h.nas_mcp.stop();
    wait_for(
        "nas's docker-mcp gone in /api/hosts",
        Duration::from_secs(20),
        || async {
            let lines = overview(&alice).await;
            let nas = line(&lines, "nas");
            let pi = line(&lines, "pi");
            if nas["reason"]
                .as_str()
                .is_some_and(|r| !r.starts_with("host nas: ") && r.contains("did not answer"))
                && pi["reachable"] == true
            {
                Ok(())
            } else {
                Err(format!("{lines:#?}"))
            }
        },
    )
    .await;
}
