//! Sign-in, sessions and CSRF at the binary: nothing without a session, every
//! POST with the session's CSRF token, the cookie's attributes, the first-start
//! admin and `pi-health user add`.

use reqwest::Method;
use serde_json::json;

use crate::support::{
    ALICE, PiHealth, add_user, attribute, client, cookie, redirects_to_login, set_cookie_line,
};

fn compose_file(dir: &std::path::Path) -> std::path::PathBuf {
    let file = dir.join("docker-compose.yml");
    std::fs::copy(test_support::arr_compose_file(), &file).unwrap();
    file
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_without_a_session_and_no_post_without_its_csrf_token() {
    let dir = tempfile::tempdir().unwrap();
    let app = PiHealth::start(&compose_file(dir.path()), None, &[], false).await;

    for path in [
        "/api/containers",
        "/api/system-stats",
        "/api/approvals",
        "/api/audit",
    ] {
        let response = client().get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 401, "{path}");
    }
    let response = client()
        .post(app.url("/api/ops-copilot/chat"))
        .header("content-type", "application/json")
        .body(json!({"message": "check docker"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
    let page = client().get(app.url("/chat")).send().await.unwrap();
    assert_eq!(page.status().as_u16(), 303);
    assert_eq!(page.headers()["location"], "/login");

    // The session cookie: HttpOnly, SameSite=Strict.
    let reply = app.try_sign_in(ALICE.0, ALICE.1).await;
    let line = set_cookie_line(&reply.headers, "pi_health_session").expect("a session cookie");
    assert!(
        line.contains("HttpOnly") && line.contains("SameSite=Strict"),
        "{line}"
    );
    let wrong = app.try_sign_in(ALICE.0, "not-the-password").await;
    assert_eq!(wrong.status.as_u16(), 401);
    assert!(cookie(&wrong.headers, "pi_health_session").is_none());

    let alice = app.sign_in(ALICE).await;
    let body = json!({"message": "check docker"});
    let missing = alice
        .send(Method::POST, "/api/ops-copilot/chat", None, Some(&body))
        .await;
    assert_eq!(missing.status.as_u16(), 403, "{:?}", missing.body);
    let wrong = alice
        .send(
            Method::POST,
            "/api/ops-copilot/chat",
            Some("f00d"),
            Some(&body),
        )
        .await;
    assert_eq!(wrong.status.as_u16(), 403);
    let approve = alice
        .send(
            Method::POST,
            "/api/ops-copilot/approve",
            None,
            Some(&json!({"action_id": "x"})),
        )
        .await;
    assert_eq!(approve.status.as_u16(), 403);
    let ok = alice.chat("check docker").await;
    assert_eq!(ok.status.as_u16(), 200);

    // Secure headers on the app's answers.
    let response = client().get(app.url("/login")).send().await.unwrap();
    let headers = response.headers();
    assert!(
        headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'self'")
    );
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["x-content-type-options"], "nosniff");

    // Signing out ends the session.
    let signed_out = client()
        .post(app.url("/logout"))
        .header("cookie", &alice.cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf_token={}", alice.csrf))
        .send()
        .await
        .unwrap();
    assert_eq!(signed_out.status().as_u16(), 303);
    let after = alice.get("/api/containers").await;
    assert_eq!(after.status.as_u16(), 401);
    let page = alice.send(Method::GET, "/", None, None).await;
    assert!(redirects_to_login(&page));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_start_creates_an_admin_once_and_user_add_sets_passwords() {
    let dir = tempfile::tempdir().unwrap();
    let compose = compose_file(dir.path());
    let mut app = PiHealth::start(&compose, None, &[], true).await;
    let log = app.log();
    let line = log
        .lines()
        .find(|l| l.contains("created the user admin with the password"))
        .unwrap_or_else(|| panic!("no first-start password in:\n{log}"));
    let password = line.rsplit(' ').next().unwrap().to_owned();
    app.sign_in(("admin", &password)).await;
    let data_dir = app.data_dir.clone();
    app.stop();

    // A short password is refused; a good one works at once, the old one no more.
    let short = add_user(&data_dir, "admin", "short");
    assert!(!short.status.success());
    let changed = add_user(&data_dir, "admin", "a-much-better-password");
    assert!(changed.status.success());
    let users = std::fs::read_to_string(data_dir.join("pi-health-users.json")).unwrap();
    assert!(!users.contains("a-much-better-password") && users.contains("$argon2id$"));

    // Started again on the same data directory: no new admin, the new password works.
    let app = PiHealth::start_in(&compose, &data_dir).await;
    assert!(!app.log().contains("created the user"), "{}", app.log());
    app.sign_in(("admin", "a-much-better-password")).await;
    let old = app.try_sign_in("admin", &password).await;
    assert_eq!(old.status.as_u16(), 401);
    let form = client().get(app.url("/login")).send().await.unwrap();
    let html = form.text().await.unwrap();
    assert!(!attribute(&html, "name=\"csrf_token\"", "value").is_empty());
}
