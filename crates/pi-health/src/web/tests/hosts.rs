//! The web app with several Docker hosts, against the stand-in gateway of
//! `hosts::fake`: pi (default: sonarr, radarr unhealthy) and nas (read-only:
//! sonarr, sabnzbd). Every call the pages make names the host they show; a
//! host that is none of them is refused, never passed on.

use super::*;
use crate::hosts::fake::{FakeHosts, settings};

async fn online(fake: &FakeHosts) -> App {
    let base = fake.clone().serve().await;
    let dir = tempfile::tempdir().unwrap();
    let users = crate::users::Users::in_data_dir(dir.path());
    users.add("alice", "alice-password", Some("admin")).unwrap();
    let agent = crate::agent::Agent::new(&settings(&base), HostProbe::new(dir.path().join("t")));
    let AppState(state) = AppState::new(agent, users, &WebConfig::default());
    App {
        router: router(AppState(state.clone())),
        state,
        _dir: dir,
    }
}

fn on(host: &str) -> Option<String> {
    Some(host.to_owned())
}

#[tokio::test]
async fn the_pages_show_a_labelled_picker_and_keep_the_host_in_their_links() {
    let fake = FakeHosts::two();
    let app = online(&fake).await;
    let browser = app.login("alice", "alice-password").await;
    let page = app.get("/containers?host=nas", Some(&browser.cookie)).await;
    assert_eq!(page.status, StatusCode::OK);
    let html = &page.text;
    assert!(html.contains("data-host=\"nas\""), "{html}");
    assert!(html.contains("<label for=\"host-select\">Docker host</label>"));
    assert!(html.contains("<option value=\"nas\" selected>nas (read-only)</option>"));
    assert!(
        html.contains("<a href=\"/?host=nas\""),
        "the dashboard link keeps it"
    );
    assert!(html.contains("<a href=\"/containers?host=nas\""));
    assert!(
        html.contains("<a href=\"/chat\""),
        "the chat is for every host"
    );
    assert!(!has_inline_handler(html));
    // The dashboard: the default host and the all-hosts overview.
    let dashboard = app.get("/", Some(&browser.cookie)).await;
    assert!(dashboard.text.contains("data-host=\"pi\""));
    assert!(dashboard.text.contains("id=\"hosts-section\""));
    assert!(dashboard.text.contains("data-hosts=\"several\""));
}

#[tokio::test]
async fn a_host_that_is_none_of_them_is_an_error_never_passed_on() {
    let fake = FakeHosts::two();
    let app = online(&fake).await;
    let browser = app.login("alice", "alice-password").await;
    let page = app.get("/?host=pi3", Some(&browser.cookie)).await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(
        page.text
            .contains("There is no host called pi3; the hosts are: nas, pi."),
        "{}",
        page.text
    );
    assert!(
        !page.text.contains("data-host="),
        "no host taken from the request"
    );
    let page = app
        .get("/containers?host=%3Cb%3E", Some(&browser.cookie))
        .await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(
        page.text.contains("no host called &lt;b&gt;"),
        "{}",
        page.text
    );
    for path in [
        "/api/containers?host=pi3",
        "/api/containers/stats?host=pi3",
        "/api/ops-copilot/actions?host=pi3",
    ] {
        let reply = app.get(path, Some(&browser.cookie)).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(reply.json()["code"], "unknown_host", "{path}");
    }
    let reply = app
        .post_json(
            "/api/ops-copilot/suggest?host=pi3",
            Some(&browser),
            Some(&browser.csrf),
            &json!({"action": "restart", "service": "sonarr"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert!(
        fake.tools()
            .iter()
            .all(|(_, host)| host.as_deref() != Some("pi3")),
        "{:?}",
        fake.tools()
    );
}

#[tokio::test]
async fn every_call_of_a_page_names_its_host() {
    let fake = FakeHosts::two();
    let app = online(&fake).await;
    let browser = app.login("alice", "alice-password").await;
    let reply = app
        .get(
            "/api/containers?host=nas&logs=sabnzbd",
            Some(&browser.cookie),
        )
        .await;
    let body = reply.json();
    assert_eq!(
        body["host"],
        json!({"name": "nas", "default": false, "read_only": true})
    );
    assert_eq!(body["summary"]["total"], 2);
    assert_eq!(body["logs"]["logs"], "logs of sabnzbd on nas\n");
    // The row buttons: the chat's answer, for nas: read-only, so no card
    // (the gateway would refuse it), but said.
    let reply = app
        .post_json(
            "/api/ops-copilot/suggest?host=nas",
            Some(&browser),
            Some(&browser.csrf),
            &json!({"action": "restart", "service": "sabnzbd"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let message = &reply.json()["messages"][0];
    assert!(message.get("suggestion").is_none(), "{message}");
    assert!(
        message["content"]
            .as_str()
            .unwrap()
            .contains("nas is read-only: Ops-Copilot does not restart anything there."),
        "{message}"
    );
    assert!(
        fake.tools()
            .iter()
            .all(|(tool, _)| tool != "compose_restart"),
        "nothing asked of the gateway: {:?}",
        fake.tools()
    );
    // On a writable host: the chat's card, for that host.
    let writable = FakeHosts::writable();
    let other = online(&writable).await;
    let browser2 = other.login("alice", "alice-password").await;
    let reply = other
        .post_json(
            "/api/ops-copilot/suggest?host=nas",
            Some(&browser2),
            Some(&browser2.csrf),
            &json!({"action": "restart", "service": "sabnzbd"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let card = &reply.json()["messages"][0]["suggestion"];
    assert_eq!(
        card["description"],
        "Restart the sabnzbd service on nas (now: running, Up 1 hour)."
    );
    assert_eq!(
        card["actionParams"],
        json!({"service": "sabnzbd", "host": "nas"})
    );
    // A service nas does not have: said with the host.
    let reply = app
        .post_json(
            "/api/ops-copilot/diagnose?host=nas",
            Some(&browser),
            Some(&browser.csrf),
            &json!({"service": "radarr"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert!(
        reply.json()["detail"]
            .as_str()
            .unwrap()
            .contains("the stack on nas has no service named radarr")
    );
    // nas is read-only: no button that changes something.
    let rights = app
        .get("/api/ops-copilot/actions?host=nas", Some(&browser.cookie))
        .await
        .json();
    assert_eq!(rights["actions"]["restart"]["allowed"], false);
    assert_eq!(rights["actions"]["logs"]["allowed"], true);
    let rights = app
        .get("/api/ops-copilot/actions?host=pi", Some(&browser.cookie))
        .await
        .json();
    assert_eq!(rights["actions"]["restart"]["allowed"], true);
    // The resources of nas.
    let stats = app
        .get("/api/containers/stats?host=nas", Some(&browser.cookie))
        .await;
    assert_eq!(stats.status, StatusCode::OK, "{}", stats.text);
    let tools = fake.tools();
    assert!(tools.iter().all(|(_, host)| host.is_some()), "{tools:?}");
    for tool in ["compose_ps", "compose_logs", "compose_stats"] {
        assert!(
            tools.contains(&(tool.to_owned(), on("nas"))),
            "{tool}: {tools:?}"
        );
    }
}

#[tokio::test]
async fn the_overview_says_each_host_reachable_or_why_not() {
    let mut fake = FakeHosts::two();
    fake.down = vec!["nas"];
    let app = online(&fake).await;
    let browser = app.login("alice", "alice-password").await;
    let reply = app.get("/api/hosts", Some(&browser.cookie)).await;
    assert_eq!(reply.status, StatusCode::OK);
    let hosts = reply.json()["hosts"].clone();
    assert_eq!(hosts[0]["name"], "nas");
    assert_eq!(hosts[0]["reachable"], false);
    assert_eq!(hosts[0]["read_only"], true);
    assert!(
        hosts[0]["reason"]
            .as_str()
            .unwrap()
            .contains("docker-mcp of host nas is not answering"),
        "{hosts}"
    );
    assert_eq!(hosts[1]["name"], "pi");
    assert_eq!(hosts[1]["reachable"], true);
    assert_eq!(hosts[1]["services"], 2);
    assert_eq!(hosts[1]["running"], 2);
    assert_eq!(hosts[1]["problems"], json!(["unhealthy: radarr"]));
}

#[tokio::test]
async fn with_one_host_the_pages_are_as_they_were() {
    let fake = FakeHosts::none();
    let app = online(&fake).await;
    let browser = app.login("alice", "alice-password").await;
    for path in ["/", "/containers"] {
        let page = app.get(path, Some(&browser.cookie)).await;
        assert_eq!(page.status, StatusCode::OK);
        for absent in ["host-select", "data-host", "hosts-section", "?host="] {
            assert!(!page.text.contains(absent), "{path}: {absent}");
        }
    }
    assert_eq!(
        app.get("/api/hosts", Some(&browser.cookie)).await.json(),
        json!({"hosts": []})
    );
    let containers = app
        .get("/api/containers", Some(&browser.cookie))
        .await
        .json();
    assert!(containers.get("host").is_none());
    let page = app.get("/containers?host=nas", Some(&browser.cookie)).await;
    assert_eq!(
        page.status,
        StatusCode::NOT_FOUND,
        "a host is refused, not passed on"
    );
    assert!(fake.tools().iter().all(|(_, host)| host.is_none()));
}

#[tokio::test]
async fn another_hosts_dashboard_does_not_pass_this_machines_figures_off_as_its() {
    let fake = FakeHosts::two();
    let app = online(&fake).await;
    let browser = app.login("alice", "alice-password").await;
    let machine = crate::host::this_machine();
    let page = app.get("/?host=nas", Some(&browser.cookie)).await;
    assert_eq!(page.status, StatusCode::OK);
    let html = &page.text;
    let title = format!(
        "<h2 id=\"machine-title\">This machine ({})</h2>",
        crate::escape::html(&machine)
    );
    assert!(html.contains(&title), "{html}");
    assert!(
        html.contains("pi-health sees only the hardware of the machine it runs on"),
        "{html}"
    );
    // nas's containers come first, this machine's figures after its title.
    let containers = html.find("<h2>Containers</h2>").unwrap();
    let machine_at = html.find(&title).unwrap();
    let cpu = html.find("<h2>CPU</h2>").unwrap();
    let disks = html.find("<h2>Disks</h2>").unwrap();
    assert!(containers < machine_at && machine_at < cpu && cpu < disks);
    assert!(html.contains("Loading\u{2026} every host is being read."));
    // The default host's dashboard: as it always was.
    let page = app.get("/", Some(&browser.cookie)).await;
    assert!(!page.text.contains("machine-title"), "{}", page.text);
    assert!(page.text.contains("<h2>CPU</h2>"));
}
