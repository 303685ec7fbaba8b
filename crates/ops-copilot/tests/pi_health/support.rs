//! The fixture of this suite: a real `ops-copilot pi-health` (users made with its
//! own `user add` command), online in front of the gateway suite's world (a
//! throw-away ARR stack, real docker-mcp, real gateway, with a `pi-health` token
//! made by the real CLI), or offline; and a cookie-keeping HTTP client that signs
//! in like a browser (sign-in form, session cookie, CSRF token from the page).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, COOKIE, HeaderMap, LOCATION, SET_COOKIE};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tempfile::TempDir;
use test_support::{Process, wait_for};

use crate::gateway_support::{BIN, Env, bin_command, output_text, run_cli};

/// The pi-health users every test gets (passwords need no URL encoding).
pub const ALICE: (&str, &str) = ("alice", "alice-secret-1");
pub const MALLORY: (&str, &str) = ("mallory", "mallory-secret-2");
/// A pi-health user with the role `standard` (ALICE and MALLORY are admins, as
/// every user acted before users had roles).
pub const BOB: (&str, &str) = ("bob", "bob-secret-3");
/// The gateway principal pi-health acts as.
pub const PRINCIPAL: &str = "pi-health";

/// `ops-copilot pi-health user add NAME --data-dir DIR`, the password on stdin.
pub fn add_user(data_dir: &Path, name: &str, password: &str) -> std::process::Output {
    add_user_as(data_dir, name, password, None)
}

/// [`add_user`] with `--role ROLE` when given.
pub fn add_user_as(
    data_dir: &Path,
    name: &str,
    password: &str,
    role: Option<&str>,
) -> std::process::Output {
    let mut command = bin_command();
    command.args(["pi-health", "user", "add", name]);
    if let Some(role) = role {
        command.args(["--role", role]);
    }
    let mut child = command
        .arg("--data-dir")
        .arg(data_dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {BIN}: {e}"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{password}\n").as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// Where pi-health finds the gateway, or nothing (offline mode).
pub struct Online {
    pub base: String,
    pub token_file: PathBuf,
}

/// Makes a gateway token for [`PRINCIPAL`] with `role` (real CLI), which may
/// assert the roles `admin` and `standard` for its users, writes it to a file,
/// and waits until the running gateway accepts it.
pub async fn gateway_token(env: &Env, role: &str) -> Online {
    let mut args = vec![
        "gateway",
        "token",
        "add",
        PRINCIPAL,
        "--role",
        role,
        "--may-act-as",
        "admin,standard",
    ];
    let paths = env.path_args();
    args.extend(paths.iter().map(String::as_str));
    let output = run_cli(&args);
    assert!(output.status.success(), "{}", output_text(&output));
    let token = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    let token_file = env.dir.join("pi-health.token");
    std::fs::write(&token_file, format!("{token}\n")).unwrap();
    let url = env.url("/approvals");
    wait_for(
        "the gateway to accept the new token",
        Duration::from_secs(10),
        || {
            let (url, token) = (url.clone(), token.clone());
            async move {
                let status = client()
                    .get(&url)
                    .bearer_auth(&token)
                    .send()
                    .await
                    .map_err(|e| e.to_string())?
                    .status();
                if status == StatusCode::OK {
                    Ok(())
                } else {
                    Err(format!("HTTP {status}"))
                }
            }
        },
    )
    .await;
    Online {
        base: env.url(""),
        token_file,
    }
}

pub struct PiHealth {
    process: Option<Process>,
    pub base: String,
    pub data_dir: PathBuf,
    _dir: TempDir,
}

/// An HTTP client that neither follows redirects nor uses a proxy.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(90))
        .build()
        .unwrap()
}

impl PiHealth {
    /// Starts pi-health for `compose_file`, online when `online` is given, with
    /// the users [`ALICE`] and [`MALLORY`] (unless `no_users`) and extra `env`.
    pub async fn start(
        compose_file: &Path,
        online: Option<&Online>,
        env: &[(&str, &str)],
        no_users: bool,
    ) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("ops-pi-health-test-")
            .tempdir()
            .unwrap();
        let data_dir = dir.path().join("data");
        if !no_users {
            for ((name, password), role) in
                [(ALICE, "admin"), (MALLORY, "admin"), (BOB, "standard")]
            {
                let output = add_user_as(&data_dir, name, password, Some(role));
                assert!(output.status.success(), "{}", output_text(&output));
            }
        }
        Self::spawn(compose_file, online, env, data_dir, dir).await
    }

    /// Starts pi-health offline on an existing data directory.
    pub async fn start_in(compose_file: &Path, data_dir: &Path) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("ops-pi-health-test-")
            .tempdir()
            .unwrap();
        Self::spawn(compose_file, None, &[], data_dir.to_path_buf(), dir).await
    }

    async fn spawn(
        compose_file: &Path,
        online: Option<&Online>,
        env: &[(&str, &str)],
        data_dir: PathBuf,
        dir: TempDir,
    ) -> Self {
        let (process, base) = {
            let data_dir = data_dir.clone();
            let command = move |port: u16| -> Command {
                let mut command = bin_command();
                for var in [
                    "DOCKER_MCP_BASE_URL",
                    "DOCKER_MCP_COMPOSE_FILE",
                    "MCP_READ_TIMEOUT",
                    "MCP_WRITE_TIMEOUT",
                    "OPS_COPILOT_LLM_API_KEY",
                    "OPS_COPILOT_LLM_API_KEY_FILE",
                    "OPS_COPILOT_LLM_BASE_URL",
                    "OPS_COPILOT_LLM_MODEL",
                    "OPS_COPILOT_LLM_TIMEOUT",
                    "PI_HEALTH_GATEWAY_TOKEN",
                    "PI_HEALTH_GATEWAY_TOKEN_FILE",
                    "PI_HEALTH_LISTEN",
                    "PI_HEALTH_SECURE_COOKIES",
                    "PI_HEALTH_SUGGESTION_TTL_SECS",
                    "PI_HEALTH_THERMAL_DIR",
                ] {
                    command.env_remove(var);
                }
                command
                    .args(["pi-health", "--listen", &format!("127.0.0.1:{port}")])
                    .arg("--data-dir")
                    .arg(&data_dir)
                    .env("DOCKER_MCP_COMPOSE_FILE", compose_file)
                    .env("MCP_READ_TIMEOUT", "5");
                if let Some(online) = online {
                    command
                        .env("DOCKER_MCP_BASE_URL", &online.base)
                        .env("PI_HEALTH_GATEWAY_TOKEN_FILE", &online.token_file);
                }
                for (key, value) in env {
                    command.env(key, value);
                }
                command
            };
            Process::start_http(
                "pi-health",
                dir.path(),
                "/health",
                |s| s == StatusCode::OK,
                command,
            )
            .await
        };
        Self {
            process: Some(process),
            base,
            data_dir,
            _dir: dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn log(&self) -> String {
        self.process.as_ref().map(|p| p.log()).unwrap_or_default()
    }

    pub fn stop(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.kill();
        }
    }

    /// Signs in as `user` like a browser; panics when that fails.
    pub async fn sign_in(&self, credentials: (&str, &str)) -> Browser {
        sign_in(&self.base, credentials).await
    }

    /// The sign-in form's GET and POST; the POST's answer.
    pub async fn try_sign_in(&self, user: &str, password: &str) -> Reply {
        try_sign_in(&self.base, user, password).await
    }
}

/// Signs in as `user` to the app at `base` like a browser; panics when that fails.
pub async fn sign_in(base: &str, (user, password): (&str, &str)) -> Browser {
    let reply = try_sign_in(base, user, password).await;
    assert_eq!(
        reply.status,
        StatusCode::SEE_OTHER,
        "sign-in as {user} failed: {}",
        reply.body
    );
    let session = cookie(&reply.headers, "pi_health_session").expect("a session cookie");
    let cookie = format!("pi_health_session={session}");
    let page = client()
        .get(format!("{base}/chat"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let page = page.text().await.unwrap();
    let csrf = attribute(&page, "name=\"csrf-token\"", "content");
    Browser {
        base: base.to_owned(),
        cookie,
        csrf,
    }
}

/// The sign-in form's GET and POST at `base`; the POST's answer.
pub async fn try_sign_in(base: &str, user: &str, password: &str) -> Reply {
    let form = client().get(format!("{base}/login")).send().await.unwrap();
    let login_cookie = cookie(form.headers(), "pi_health_login").expect("a form cookie");
    let token = attribute(&form.text().await.unwrap(), "name=\"csrf_token\"", "value");
    let response = client()
        .post(format!("{base}/login"))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(COOKIE, format!("pi_health_login={login_cookie}"))
        .body(format!(
            "username={user}&password={password}&csrf_token={token}"
        ))
        .send()
        .await
        .unwrap();
    Reply::read(response).await
}

impl Drop for PiHealth {
    fn drop(&mut self) {
        if std::thread::panicking()
            && let Some(process) = &self.process
        {
            eprintln!(
                "--- pi-health log (last lines) ---\n{}",
                process.log_tail(60)
            );
        }
    }
}

/// A cookie's value from `Set-Cookie` headers.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| {
            c.strip_prefix(&format!("{name}="))
                .map(|rest| rest.split(';').next().unwrap_or_default().to_owned())
        })
}

/// The whole `Set-Cookie` line of cookie `name`.
pub fn set_cookie_line(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with(&format!("{name}=")))
        .map(str::to_owned)
}

/// The value of attribute `attr` after `marker` in a page.
pub fn attribute(page: &str, marker: &str, attr: &str) -> String {
    let start = page
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} not in the page: {page}"));
    let rest = &page[start..];
    let key = format!("{attr}=\"");
    let from = rest.find(&key).expect("the attribute") + key.len();
    rest[from..from + rest[from..].find('"').unwrap()].to_owned()
}

pub use crate::gateway_support::Reply;

/// What the chat API's answers hold.
impl Reply {
    /// The first message's HTML content.
    pub fn content(&self) -> &str {
        self.body["messages"][0]["content"]
            .as_str()
            .unwrap_or_else(|| panic!("no content: {}", self.body))
    }

    pub fn tools(&self) -> Vec<String> {
        self.body["tools"]
            .as_array()
            .unwrap_or_else(|| panic!("no tools: {}", self.body))
            .iter()
            .map(|t| t.as_str().unwrap().to_owned())
            .collect()
    }

    pub fn suggestion(&self) -> &Value {
        let suggestion = &self.body["messages"][0]["suggestion"];
        assert!(suggestion.is_object(), "no suggestion: {}", self.body);
        suggestion
    }
}

/// A signed-in browser: session cookie and CSRF token.
pub struct Browser {
    base: String,
    pub cookie: String,
    pub csrf: String,
}

impl Browser {
    /// The same browser (cookie and CSRF token) talking to the app at `base`
    /// (pi-health started again listens on another port).
    pub fn at(&self, base: &str) -> Browser {
        Browser {
            base: base.to_owned(),
            cookie: self.cookie.clone(),
            csrf: self.csrf.clone(),
        }
    }

    /// A request with the session cookie, the CSRF token given (if any) and a JSON body.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        csrf: Option<&str>,
        body: Option<&Value>,
    ) -> Reply {
        let mut request = client()
            .request(method, format!("{}{path}", self.base))
            .header(COOKIE, &self.cookie);
        if let Some(csrf) = csrf {
            request = request.header("x-csrf-token", csrf);
        }
        if let Some(body) = body {
            request = request
                .header(CONTENT_TYPE, "application/json")
                .body(body.to_string());
        }
        Reply::read(request.send().await.unwrap()).await
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(Method::GET, path, None, None).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Reply {
        self.send(Method::POST, path, Some(&self.csrf.clone()), Some(body))
            .await
    }

    pub async fn chat(&self, message: &str) -> Reply {
        let reply = self
            .post("/api/ops-copilot/chat", &json!({ "message": message }))
            .await;
        reply.expect(200);
        reply
    }

    pub async fn approve(&self, action_id: &str) -> Reply {
        self.post(
            "/api/ops-copilot/approve",
            &json!({ "action_id": action_id }),
        )
        .await
    }

    /// A page (HTML) and its status.
    pub async fn page(&self, path: &str) -> (StatusCode, String) {
        let response = client()
            .get(format!("{}{path}", self.base))
            .header(COOKIE, &self.cookie)
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.text().await.unwrap_or_default())
    }
}

/// Whether a redirect points at the sign-in page.
pub fn redirects_to_login(reply: &Reply) -> bool {
    reply.status == StatusCode::SEE_OTHER
        && reply
            .headers
            .get(LOCATION)
            .is_some_and(|l| l.to_str().unwrap_or_default() == "/login")
}
