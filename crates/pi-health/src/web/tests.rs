//! The web app in process (tower's `oneshot`), in offline mode: sign-in,
//! sessions, CSRF, secure headers, the chat and approve contracts' error paths.
//! The same contracts against the real gateway are in the binary's e2e tests.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use serde_json::{Value, json};
use tower::ServiceExt;

use super::*;
use crate::gateway_client::GatewaySettings;
use crate::host::HostProbe;

struct App {
    router: Router,
    state: Shared,
    _dir: tempfile::TempDir,
}

struct Reply {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    text: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|_| panic!("not JSON: {}", self.text))
    }

    fn cookies(&self) -> Vec<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    }

    fn cookie(&self, name: &str) -> Option<String> {
        self.cookies().into_iter().find_map(|c| {
            c.strip_prefix(&format!("{name}="))
                .map(|rest| rest.split(';').next().unwrap().to_owned())
        })
    }
}

/// The value of `name="NAME" value="..."` or `name="NAME" content="..."` in a page.
fn attribute_after(page: &str, marker: &str, attr: &str) -> String {
    let start = page
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} not in {page}"));
    let rest = &page[start..];
    let key = format!("{attr}=\"");
    let from = rest.find(&key).unwrap() + key.len();
    rest[from..from + rest[from..].find('"').unwrap()].to_owned()
}

/// `application/x-www-form-urlencoded`: everything but letters and digits as `%XX`.
fn form_encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The `Retry-After` of a reply, in seconds.
fn retry_after(reply: &Reply) -> Duration {
    let value = reply.headers[header::RETRY_AFTER].to_str().unwrap();
    Duration::from_secs(value.parse().unwrap())
}

/// ` onclick=`, ` onload=`...: an inline event handler attribute.
fn has_inline_handler(page: &str) -> bool {
    page.match_indices(" on").any(|(i, _)| {
        let rest = &page[i + 3..];
        let name_len = rest.chars().take_while(|c| c.is_ascii_lowercase()).count();
        name_len > 0 && rest[name_len..].starts_with('=')
    })
}

fn app_with(config: WebConfig) -> App {
    let dir = tempfile::tempdir().unwrap();
    let compose = dir.path().join("docker-compose.yml");
    std::fs::write(
        &compose,
        "services:\n  sonarr:\n    image: a\n  radarr:\n    image: b\n",
    )
    .unwrap();
    let users = crate::users::Users::in_data_dir(dir.path());
    users.add("alice", "alice-password", Some("admin")).unwrap();
    users.add("bob", "bob-password", Some("admin")).unwrap();
    let settings = GatewaySettings {
        base_url: None,
        token: None,
        compose_file: compose.to_str().unwrap().to_owned(),
        read_timeout: Duration::from_secs(1),
        write_timeout: Duration::from_secs(1),
    };
    let agent = crate::agent::Agent::new(&settings, HostProbe::new(dir.path().join("thermal")));
    let AppState(state) = AppState::new(agent, users, &config);
    App {
        router: router(AppState(state.clone())),
        state,
        _dir: dir,
    }
}

fn app() -> App {
    app_with(WebConfig::default())
}

/// A signed-in browser: its session cookie and CSRF token.
struct Browser {
    cookie: String,
    csrf: String,
}

impl App {
    async fn send(&self, request: Request<Body>) -> Reply {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        Reply {
            status,
            headers,
            text: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    async fn get(&self, path: &str, cookie: Option<&str>) -> Reply {
        let mut request = Request::get(path);
        if let Some(cookie) = cookie {
            request = request.header(header::COOKIE, cookie);
        }
        self.send(request.body(Body::empty()).unwrap()).await
    }

    async fn post_json(
        &self,
        path: &str,
        browser: Option<&Browser>,
        csrf: Option<&str>,
        body: &Value,
    ) -> Reply {
        let mut request = Request::post(path).header(header::CONTENT_TYPE, "application/json");
        if let Some(browser) = browser {
            request = request.header(header::COOKIE, &browser.cookie);
        }
        if let Some(csrf) = csrf {
            request = request.header("x-csrf-token", csrf);
        }
        self.send(request.body(Body::from(body.to_string())).unwrap())
            .await
    }

    async fn try_login(&self, user: &str, password: &str) -> Reply {
        self.try_login_from(None, None, user, password).await
    }

    /// Signs in from the client address `from` (none: unknown), with the
    /// trusted-browser cookie `device` when given.
    async fn try_login_from(
        &self,
        from: Option<&str>,
        device: Option<&str>,
        user: &str,
        password: &str,
    ) -> Reply {
        self.try_login_forwarded(from, None, device, user, password)
            .await
    }

    /// As [`Self::try_login_from`], through a proxy that says it forwarded for
    /// `forwarded_for` (`X-Forwarded-For`).
    async fn try_login_forwarded(
        &self,
        from: Option<&str>,
        forwarded_for: Option<&str>,
        device: Option<&str>,
        user: &str,
        password: &str,
    ) -> Reply {
        let form = self.get("/login", None).await;
        assert_eq!(form.status, StatusCode::OK);
        let token = attribute_after(&form.text, "name=\"csrf_token\"", "value");
        let login_cookie = form.cookie("pi_health_login").expect("a login cookie");
        assert_eq!(token, login_cookie);
        let body = format!(
            "username={}&password={}&csrf_token={token}",
            form_encode(user),
            form_encode(password)
        );
        let mut cookie = format!("pi_health_login={login_cookie}");
        if let Some(device) = device {
            cookie.push_str(&format!("; pi_health_device={device}"));
        }
        let mut request = Request::post("/login")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::COOKIE, cookie)
            .header("x-forwarded-for", forwarded_for.unwrap_or_default())
            .body(Body::from(body))
            .unwrap();
        if let Some(ip) = from {
            let addr = std::net::SocketAddr::new(ip.parse().unwrap(), 40_000);
            request
                .extensions_mut()
                .insert(axum::extract::ConnectInfo(addr));
        }
        self.send(request).await
    }

    async fn login(&self, user: &str, password: &str) -> Browser {
        let reply = self.try_login(user, password).await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.text);
        assert_eq!(reply.headers[header::LOCATION], "/");
        let session = reply.cookie("pi_health_session").expect("a session cookie");
        let cookie = format!("pi_health_session={session}");
        let page = self.get("/", Some(&cookie)).await;
        assert_eq!(page.status, StatusCode::OK);
        let csrf = attribute_after(&page.text, "name=\"csrf-token\"", "content");
        Browser { cookie, csrf }
    }

    async fn chat(&self, browser: &Browser, message: &str) -> Reply {
        self.post_json(
            "/api/ops-copilot/chat",
            Some(browser),
            Some(&browser.csrf),
            &json!({ "message": message }),
        )
        .await
    }

    async fn approve(&self, browser: &Browser, id: &str) -> Reply {
        self.post_json(
            "/api/ops-copilot/approve",
            Some(browser),
            Some(&browser.csrf),
            &json!({ "action_id": id }),
        )
        .await
    }
}

#[tokio::test]
async fn nothing_but_sign_in_answers_without_a_session() {
    let app = app();
    for path in [
        "/api/system-stats",
        "/api/containers",
        "/api/approvals",
        "/api/audit",
    ] {
        let reply = app.get(path, None).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(reply.json()["code"], "unauthenticated");
    }
    for path in ["/", "/containers", "/chat", "/approvals", "/audit"] {
        let reply = app.get(path, None).await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(reply.headers[header::LOCATION], "/login");
    }
    let chat = app
        .post_json(
            "/api/ops-copilot/chat",
            None,
            Some("x"),
            &json!({"message": "hi"}),
        )
        .await;
    assert_eq!(chat.status, StatusCode::UNAUTHORIZED);
    let forged = app
        .get(
            "/api/system-stats",
            Some("pi_health_session=0123456789abcdef"),
        )
        .await;
    assert_eq!(forged.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.get("/health", None).await.json()["docker_integration"],
        "offline"
    );
}

#[tokio::test]
async fn sign_in_sets_a_strict_http_only_cookie_and_secure_headers() {
    let app = app();
    let reply = app.try_login("alice", "alice-password").await;
    let set = reply
        .cookies()
        .into_iter()
        .find(|c| c.starts_with("pi_health_session="))
        .unwrap();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set.contains(attribute), "{set}");
    }
    assert!(!set.contains("Secure"), "plain http by default: {set}");

    let login = app.get("/login", None).await;
    let headers = &login.headers;
    assert!(
        headers[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .starts_with("default-src 'self'")
    );
    assert_eq!(headers[header::X_FRAME_OPTIONS], "DENY");
    assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    assert_eq!(headers[header::REFERRER_POLICY], "same-origin");
    assert_eq!(headers[header::CACHE_CONTROL], "no-store");

    let secure = app_with(WebConfig {
        secure_cookies: true,
        ..WebConfig::default()
    });
    let reply = secure.try_login("alice", "alice-password").await;
    let set = reply
        .cookies()
        .into_iter()
        .find(|c| c.starts_with("__Host-pi_health_session="))
        .expect("a __Host- cookie");
    assert!(set.contains("; Secure"), "{set}");
    assert!(
        reply
            .headers
            .contains_key(header::STRICT_TRANSPORT_SECURITY)
    );
}

#[tokio::test]
async fn wrong_passwords_forged_forms_and_too_many_failures_are_refused() {
    let app = app_with(WebConfig {
        login_free_failures: 3,
        ..WebConfig::default()
    });
    app.state.clock.stop();
    let wrong = app.try_login("alice", "nope").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.cookie("pi_health_session").is_none());
    assert!(wrong.text.contains("Wrong user name or password"));
    let unknown = app.try_login("mallory", "alice-password").await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);

    // A form posted without the matching cookie (another site's form).
    let forged = app
        .send(
            Request::post("/login")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(
                    "username=alice&password=alice-password&csrf_token=abc",
                ))
                .unwrap(),
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);

    app.try_login("alice", "x").await;
    app.try_login("alice", "y").await;
    let limited = app.try_login("alice", "alice-password").await;
    assert_eq!(
        limited.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        limited.text
    );
    assert_eq!(retry_after(&limited), Duration::from_secs(1));
    // A back-off, not a lockout: once it has passed, the password works.
    app.state.clock.advance(Duration::from_secs(1));
    let ok = app.try_login("alice", "alice-password").await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.text);
}

/// Behind a reverse proxy, the back-off is per client only when the proxy is
/// trusted: otherwise everyone shares the proxy's address (and a client that
/// is not the proxy cannot pick an address by sending `X-Forwarded-For`).
#[tokio::test]
async fn behind_a_trusted_proxy_each_client_has_its_own_back_off() {
    let proxy = Some("10.0.0.5");
    for trusted in [true, false] {
        let trusted_proxies = if trusted {
            crate::web::TrustedProxies::parse(&["10.0.0.0/8"]).unwrap()
        } else {
            crate::web::TrustedProxies::default()
        };
        let app = app_with(WebConfig {
            trusted_proxies,
            ..WebConfig::default()
        });
        app.state.clock.stop();
        // One client guesses user names until its address has to wait.
        let mut attempts = 0;
        loop {
            let name = format!("nobody{attempts}");
            let reply = app
                .try_login_forwarded(proxy, Some("203.0.113.9"), None, &name, "guess")
                .await;
            if reply.status == StatusCode::TOO_MANY_REQUESTS {
                break;
            }
            assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.text);
            attempts += 1;
            assert!(attempts < 50, "the address never had to wait");
        }
        // Another client, through the same proxy, signs in at once only when
        // the proxy is trusted.
        let other = app
            .try_login_forwarded(proxy, Some("198.51.100.7"), None, "bob", "bob-password")
            .await;
        let expected = if trusted {
            StatusCode::SEE_OTHER
        } else {
            StatusCode::TOO_MANY_REQUESTS
        };
        assert_eq!(other.status, expected, "trusted: {trusted}; {}", other.text);
        // A client that is not the proxy cannot claim another address.
        let direct = app
            .try_login_forwarded(Some("203.0.113.9"), Some("192.0.2.1"), None, "bob", "x")
            .await;
        let expected = if trusted {
            StatusCode::TOO_MANY_REQUESTS
        } else {
            StatusCode::UNAUTHORIZED
        };
        assert_eq!(
            direct.status, expected,
            "trusted: {trusted}; {}",
            direct.text
        );
    }
}

#[tokio::test]
async fn an_attacker_slows_the_owner_down_but_does_not_lock_them_out() {
    let app = app();
    app.state.clock.stop();
    let attacker = Some("203.0.113.9");
    let owner = Some("192.168.1.20");
    // The attacker guesses alice's password as fast as the back-off allows:
    // its waits double, up to 15 minutes.
    let mut waits = Vec::new();
    let mut failures = 0;
    while failures < 12 {
        let reply = app.try_login_from(attacker, None, "alice", "guess").await;
        if reply.status == StatusCode::TOO_MANY_REQUESTS {
            let wait = retry_after(&reply);
            waits.push(wait.as_secs());
            app.state.clock.advance(wait);
        } else {
            assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
            failures += 1;
        }
    }
    assert_eq!(waits, [1, 2, 4, 8, 16, 32, 64]);
    let reply = app.try_login_from(attacker, None, "alice", "guess").await;
    assert_eq!(retry_after(&reply), Duration::from_secs(128));

    // alice, from her own address, waits at most the name's 30 s ...
    let first = app
        .try_login_from(owner, None, "alice", "alice-password")
        .await;
    assert_eq!(first.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(retry_after(&first) <= Duration::from_secs(30));
    app.state.clock.advance(retry_after(&first));
    let signed_in = app
        .try_login_from(owner, None, "alice", "alice-password")
        .await;
    assert_eq!(
        signed_in.status,
        StatusCode::SEE_OTHER,
        "{}",
        signed_in.text
    );
    // ... and her browser is trusted from then on.
    let device = signed_in
        .cookie("pi_health_device")
        .expect("a device cookie");
    assert!(
        signed_in
            .cookies()
            .iter()
            .any(|c| c.starts_with("pi_health_device=") && c.contains("HttpOnly"))
    );

    // The attacker goes on (the name is throttled again); alice's browser
    // signs in at once, even from the attacker's address (a shared proxy).
    app.state.clock.advance(Duration::from_secs(128));
    let guess = app.try_login_from(attacker, None, "alice", "guess").await;
    assert_eq!(guess.status, StatusCode::UNAUTHORIZED);
    let untrusted = app
        .try_login_from(owner, None, "alice", "alice-password")
        .await;
    assert_eq!(untrusted.status, StatusCode::TOO_MANY_REQUESTS);
    for from in [owner, attacker] {
        let reply = app
            .try_login_from(from, Some(&device), "alice", "alice-password")
            .await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.text);
        assert_eq!(reply.cookie("pi_health_device").as_deref(), Some(&*device));
    }
    // The cookie is alice's only, and a made-up one is worth nothing.
    let as_bob = app
        .try_login_from(attacker, Some(&device), "bob", "bob-password")
        .await;
    assert_eq!(as_bob.status, StatusCode::TOO_MANY_REQUESTS);
    let made_up = app
        .try_login_from(attacker, Some("0123abcd"), "alice", "alice-password")
        .await;
    assert_eq!(made_up.status, StatusCode::TOO_MANY_REQUESTS);
    // Guessing with alice's cookie has its own back-off.
    let mut refused = false;
    for _ in 0..6 {
        let reply = app
            .try_login_from(attacker, Some(&device), "alice", "guess")
            .await;
        refused |= reply.status == StatusCode::TOO_MANY_REQUESTS;
    }
    assert!(refused);
}

#[tokio::test]
async fn sign_ins_beyond_the_argon2_checks_at_once_are_refused_quickly() {
    let app = app();
    app.state.clock.stop();
    let line: Vec<_> = (0..CHECKS_RUNNING + CHECKS_WAITING)
        .map(|_| app.state.check_slots.ticket().expect("a place"))
        .collect();
    // More attempts than the free failures: not checked, so not counted.
    for _ in 0..12 {
        let busy = app.try_login("alice", "alice-password").await;
        assert_eq!(
            busy.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{}",
            busy.text
        );
        assert!(busy.text.contains("Too many sign-ins at once"));
        assert_eq!(retry_after(&busy), Duration::from_secs(2));
        assert!(busy.cookie("pi_health_session").is_none());
    }
    drop(line);
    let ok = app.try_login("alice", "alice-password").await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.text);
}

/// Every event's fields, as a log line would show them (`%` and `&str`
/// values as they are, `?` values escaped).
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

struct Fields(String);

impl tracing::field::Visit for Fields {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.0.push_str(&format!("{}={value} ", field.name()));
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.push_str(&format!("{}={value:?} ", field.name()));
    }
}

impl tracing::Subscriber for Captured {
    fn register_callsite(
        &self,
        _: &'static tracing::Metadata<'static>,
    ) -> tracing::subscriber::Interest {
        tracing::subscriber::Interest::sometimes()
    }
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut fields = Fields(String::new());
        event.record(&mut fields);
        self.0.lock().unwrap().push(fields.0);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[tokio::test]
async fn user_names_that_could_forge_log_lines_are_refused_and_logged_escaped() {
    let captured = Captured::default();
    let _guard = tracing::subscriber::set_default(captured.clone());
    let app = app();
    for name in [
        "alice\n2026-01-01T00:00:00Z INFO pi-health: signed in user=admin",
        "\u{1b}[2J\u{1b}[31madmin",
        "ad\rmin",
        "al ice",
        &"a".repeat(65),
    ] {
        let reply = app.try_login(name, "alice-password").await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{name:?}");
        assert!(reply.text.contains("Wrong user name"), "{}", reply.text);
        assert!(reply.cookie("pi_health_session").is_none());
    }
    // Spaces around a name are no part of it.
    let trimmed = app.try_login(" alice\n", "alice-password").await;
    assert_eq!(trimmed.status, StatusCode::SEE_OTHER);

    let lines = captured.0.lock().unwrap().clone();
    assert!(
        lines.iter().any(|l| l.contains("invalid user name")),
        "{lines:?}"
    );
    assert!(
        lines.iter().any(|l| l.contains("\\n2026")),
        "escaped: {lines:?}"
    );
    for line in &lines {
        assert!(
            !line.contains(['\n', '\r', '\u{1b}']),
            "a raw control character: {line:?}"
        );
    }
}

#[tokio::test]
async fn signing_in_again_and_again_pushes_out_only_ones_own_sessions() {
    let app = app_with(WebConfig {
        max_sessions_per_user: 2,
        ..WebConfig::default()
    });
    let bob = app.login("bob", "bob-password").await;
    let first = app.login("alice", "alice-password").await;
    let _second = app.login("alice", "alice-password").await;
    let _third = app.login("alice", "alice-password").await;
    let gone = app.get("/api/system-stats", Some(&first.cookie)).await;
    assert_eq!(gone.status, StatusCode::UNAUTHORIZED, "alice's oldest went");
    let kept = app.get("/api/system-stats", Some(&bob.cookie)).await;
    assert_eq!(kept.status, StatusCode::OK, "bob's stays");
}

#[tokio::test]
async fn every_post_needs_the_sessions_csrf_token() {
    let app = app();
    let alice = app.login("alice", "alice-password").await;
    let body = json!({"message": "how hot is the pi"});
    let missing = app
        .post_json("/api/ops-copilot/chat", Some(&alice), None, &body)
        .await;
    assert_eq!(missing.status, StatusCode::FORBIDDEN);
    assert_eq!(missing.json()["code"], "csrf");
    let wrong = app
        .post_json("/api/ops-copilot/chat", Some(&alice), Some("0000"), &body)
        .await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    let bob = app.login("bob", "bob-password").await;
    let others = app
        .post_json(
            "/api/ops-copilot/chat",
            Some(&alice),
            Some(&bob.csrf),
            &body,
        )
        .await;
    assert_eq!(
        others.status,
        StatusCode::FORBIDDEN,
        "another session's token"
    );
    for path in [
        "/api/ops-copilot/approve",
        "/api/approvals/abc/approve",
        "/api/approvals/abc/deny",
    ] {
        let reply = app
            .post_json(path, Some(&alice), None, &json!({"action_id": "x"}))
            .await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{path}");
    }
    let cross = app
        .send(
            Request::post("/api/ops-copilot/chat")
                .header(header::CONTENT_TYPE, "application/json")
                .header(header::COOKIE, &alice.cookie)
                .header("x-csrf-token", &alice.csrf)
                .header(header::HOST, "pi:8080")
                .header(header::ORIGIN, "http://evil.example")
                .body(Body::from(body.to_string()))
                .unwrap(),
        )
        .await;
    assert_eq!(cross.status, StatusCode::FORBIDDEN, "cross-site origin");
    let ok = app.chat(&alice, "how hot is the pi").await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
    assert_eq!(ok.json()["tools"], json!(["system_health"]));

    // Logging out needs the token too, then the session is gone.
    let logout_without = app
        .send(
            Request::post("/logout")
                .header(header::COOKIE, &alice.cookie)
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from("csrf_token=bad"))
                .unwrap(),
        )
        .await;
    assert_eq!(logout_without.status, StatusCode::FORBIDDEN);
    let logout = app
        .send(
            Request::post("/logout")
                .header(header::COOKIE, &alice.cookie)
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(format!("csrf_token={}", alice.csrf)))
                .unwrap(),
        )
        .await;
    assert_eq!(logout.status, StatusCode::SEE_OTHER);
    assert_eq!(
        app.get("/api/system-stats", Some(&alice.cookie))
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn the_chat_contract_offline() {
    let app = app();
    let alice = app.login("alice", "alice-password").await;
    let reply = app.chat(&alice, "What is the Docker status?").await;
    assert_eq!(reply.status, StatusCode::OK);
    let body = reply.json();
    assert_eq!(body["model"], "built-in planner");
    let message = &body["messages"][0];
    assert_eq!(message["role"], "assistant");
    assert!(message["id"].as_str().is_some_and(|id| !id.is_empty()));
    let content = message["content"].as_str().unwrap();
    assert!(
        content.contains("DOCKER_MCP_BASE_URL is not set"),
        "{content}"
    );
    assert!(message.get("suggestion").is_none());
    assert!(body["tools"].as_array().is_some());

    let xss = app
        .chat(&alice, "<script>alert(document.cookie)</script>")
        .await;
    let content = xss.json()["messages"][0]["content"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(!content.contains("<script>"), "{content}");
    assert!(
        content.contains("&lt;script&gt;alert(document.cookie)&lt;/script&gt;"),
        "{content}"
    );

    for bad in [json!({}), json!({"message": ""}), json!({"message": 5})] {
        let reply = app
            .post_json(
                "/api/ops-copilot/chat",
                Some(&alice),
                Some(&alice.csrf),
                &bad,
            )
            .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{bad}");
    }
    let huge = json!({"message": "x".repeat(40_000)});
    let reply = app
        .post_json(
            "/api/ops-copilot/chat",
            Some(&alice),
            Some(&alice.csrf),
            &huge,
        )
        .await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn only_this_sessions_pending_unexpired_suggestions_are_approvable_once() {
    let app = app_with(WebConfig {
        suggestion_ttl: Duration::from_millis(800),
        ..WebConfig::default()
    });
    let alice = app.login("alice", "alice-password").await;
    let bob = app.login("bob", "bob-password").await;

    let reply = app
        .chat(&alice, "Sonarr queue looks stuck, can you restart it?")
        .await;
    let body = reply.json();
    let suggestion = &body["messages"][0]["suggestion"];
    assert_eq!(suggestion["ctaLabel"], "Approve Restart", "{body}");
    assert_eq!(suggestion["toolId"], "docker_actions");
    assert_eq!(suggestion["action"], "restart_container");
    assert_eq!(suggestion["actionParams"], json!({"service": "sonarr"}));
    let id = suggestion["id"].as_str().unwrap().to_owned();

    // Another user cannot approve it; nor can anyone approve a made-up id.
    let foreign = app.approve(&bob, &id).await;
    assert_eq!(foreign.status, StatusCode::NOT_FOUND);
    assert_eq!(foreign.json()["status"], "error");
    let unknown = app.approve(&alice, "0123456789abcdef").await;
    assert_eq!(unknown.json()["status"], "error");

    // Offline: the approval is an error that says nothing ran.
    let offline = app.approve(&alice, &id).await;
    assert_eq!(offline.status, StatusCode::SERVICE_UNAVAILABLE);
    let answer = offline.json();
    assert_eq!(answer["status"], "error");
    assert!(
        answer["result"].as_str().unwrap().contains("Not executed"),
        "{answer}"
    );
    assert!(answer.get("followup").is_some());

    // Once only.
    let again = app.approve(&alice, &id).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert!(
        again.json()["result"]
            .as_str()
            .unwrap()
            .contains("already approved")
    );

    // Expired.
    let reply = app.chat(&alice, "restart radarr").await;
    let late = reply.json()["messages"][0]["suggestion"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    tokio::time::sleep(Duration::from_millis(900)).await;
    let expired = app.approve(&alice, &late).await;
    assert_eq!(expired.status, StatusCode::GONE);
    assert!(
        expired.json()["result"]
            .as_str()
            .unwrap()
            .contains("expired")
    );
}

#[tokio::test]
async fn pages_have_no_inline_script_and_assets_are_embedded() {
    let app = app();
    let alice = app.login("alice", "alice-password").await;
    for path in ["/", "/containers", "/chat", "/approvals", "/audit"] {
        let page = app.get(path, Some(&alice.cookie)).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        assert!(
            page.headers[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        let scripts = page.text.matches("<script").count();
        let external = page
            .text
            .matches("<script src=\"/static/app.js\" defer></script>")
            .count();
        assert_eq!(scripts, external, "{path}: inline script");
        assert!(
            !has_inline_handler(&page.text),
            "{path}: no inline handlers"
        );
        assert!(page.text.contains("alice"), "{path}");
        assert!(
            page.text.contains("Docker integration is offline"),
            "{path}"
        );
    }
    let js = app.get("/static/app.js", None).await;
    assert_eq!(js.status, StatusCode::OK);
    assert!(
        js.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    assert!(js.text.contains("X-CSRF-Token"));
    let css = app.get("/static/app.css", None).await;
    assert!(
        css.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
    assert_eq!(app.get("/nope", None).await.status, StatusCode::NOT_FOUND);

    let stats = app
        .get("/api/system-stats", Some(&alice.cookie))
        .await
        .json();
    assert!(stats["memory"]["total_bytes"].as_u64().unwrap() > 0);
    assert_eq!(stats["temperature"]["text"], "not available");
    let containers = app.get("/api/containers", Some(&alice.cookie)).await.json();
    assert_eq!(containers["online"], false);
    assert!(containers["warning"].as_str().unwrap().contains("offline"));
    let bad = app
        .get("/api/containers?logs=../etc", Some(&alice.cookie))
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let approvals = app.get("/api/approvals", Some(&alice.cookie)).await.json();
    assert_eq!(approvals["online"], false);
    let audit = app
        .get("/api/audit?tool=compose_restart", Some(&alice.cookie))
        .await
        .json();
    assert_eq!(audit["records"], json!([]));
}

#[tokio::test]
async fn row_buttons_make_the_chats_card_and_refuse_what_they_cannot_plan() {
    let app = app();
    let alice = app.login("alice", "alice-password").await;
    let suggest = |body: Value, csrf: Option<String>| {
        let (app, alice) = (&app, &alice);
        async move {
            app.post_json(
                "/api/ops-copilot/suggest",
                Some(alice),
                csrf.as_deref(),
                &body,
            )
            .await
        }
    };
    let csrf = Some(alice.csrf.clone());

    // The session's CSRF token, as for every POST.
    let body = json!({"action": "restart", "service": "sonarr"});
    assert_eq!(
        suggest(body.clone(), None).await.status,
        StatusCode::FORBIDDEN
    );
    let diagnose = app
        .post_json(
            "/api/ops-copilot/diagnose",
            Some(&alice),
            None,
            &json!({"service": "sonarr"}),
        )
        .await;
    assert_eq!(diagnose.status, StatusCode::FORBIDDEN);

    // Bad requests are clear 4xx, and nothing is kept for approval.
    for (bad, status, code) in [
        (
            json!({"action": "reboot", "service": "sonarr"}),
            400,
            "bad_action",
        ),
        (
            json!({"action": "diagnose", "service": "sonarr"}),
            400,
            "bad_action",
        ),
        (
            json!({"action": "restart", "service": "../etc"}),
            400,
            "bad_service",
        ),
        (json!({"action": "restart"}), 400, "bad_request"),
        (
            json!({"action": "restart", "service": "sonarr", "role": "admin"}),
            400,
            "bad_request",
        ),
        (
            json!({"action": "restart", "service": "plex"}),
            404,
            "unknown_service",
        ),
    ] {
        let reply = suggest(bad.clone(), csrf.clone()).await;
        assert_eq!(reply.status.as_u16(), status, "{bad}: {}", reply.text);
        let answer = reply.json();
        assert_eq!(answer["code"], code, "{bad}: {answer}");
        assert!(!answer["detail"].as_str().unwrap_or_default().is_empty());
    }
    let unknown = suggest(json!({"action": "stop", "service": "plex"}), csrf.clone()).await;
    let detail = unknown.json()["detail"].as_str().unwrap().to_owned();
    assert!(
        detail.contains("no service named plex") && detail.contains("sonarr"),
        "{detail}"
    );
    let unknown = app
        .post_json(
            "/api/ops-copilot/diagnose",
            Some(&alice),
            csrf.as_deref(),
            &json!({"service": "plex"}),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(app.state.pending.len(), 0, "nothing queued");

    // A declared service: the chat's card for "restart sonarr", kept for this
    // session, and the chat's Approve (offline: nothing ran, said so).
    let reply = suggest(body, csrf.clone()).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let answer = reply.json();
    let chat = app.chat(&alice, "restart sonarr").await.json();
    let card = &answer["messages"][0]["suggestion"];
    let chat_card = &chat["messages"][0]["suggestion"];
    for key in [
        "description",
        "command",
        "impact",
        "ctaLabel",
        "toolId",
        "action",
        "actionParams",
    ] {
        assert_eq!(card[key], chat_card[key], "{key}: {answer} vs {chat}");
    }
    assert_eq!(card["ctaLabel"], "Approve Restart");
    assert_eq!(app.state.pending.len(), 2, "the row's card and the chat's");
    let approved = app.approve(&alice, card["id"].as_str().unwrap()).await;
    assert_eq!(approved.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        approved.json()["result"]
            .as_str()
            .unwrap()
            .starts_with("Not executed")
    );

    // Diagnose: the chat's read, said offline.
    let reply = app
        .post_json(
            "/api/ops-copilot/diagnose",
            Some(&alice),
            csrf.as_deref(),
            &json!({"service": "radarr"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let content = reply.json()["messages"][0]["content"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(content.contains("offline"), "{content}");

    // Offline, the buttons say why they cannot be used.
    let rights = app
        .get("/api/ops-copilot/actions", Some(&alice.cookie))
        .await
        .json();
    assert_eq!(rights["online"], false);
    for action in ["restart", "start", "stop", "update", "diagnose", "logs"] {
        assert_eq!(rights["actions"][action]["allowed"], false, "{rights}");
        let reason = rights["actions"][action]["reason"].as_str().unwrap();
        assert!(reason.contains("offline"), "{reason}");
    }
}

/// Several Docker hosts: the picker, the overview, `?host=` on every call.
mod hosts;
