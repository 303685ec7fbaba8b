//! The fixture of this suite: for one test, a throw-away ARR stack (only the services
//! it needs), a real `ops-copilot docker-mcp` locked to the stack's compose file, the
//! guide's `tool_registry.yaml` and `policy.yaml` (from `config/`, pointed at that file
//! and that docker-mcp), tokens made with the real CLI, and a real `ops-copilot
//! gateway`. Everything is killed and torn down when the [`Env`] is dropped.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tempfile::TempDir;
use test_support::mcp_http::McpSession;
use test_support::{
    Process, SecondEngine, Stack, compose_command, http_client, repo_root, require_docker,
};

pub const BIN: &str = env!("CARGO_BIN_EXE_ops-copilot");

/// The compose file path the guide's files pin; replaced by the stack's file.
pub const GUIDE_FILE: &str = "/opt/stack/docker-compose.yml";
/// The docker-mcp URL of the guide's registry; replaced by the real one.
const GUIDE_BASE_URL: &str = "http://docker-mcp:8080";
pub const MCP_VERSION: &str = "2025-06-18";

/// The principals every test gets: an admin, a standard user and (with
/// [`Options::agent`]) an AI agent that may request but never approve.
pub const ADMIN: &str = "alice";
pub const STANDARD: &str = "bob";
pub const AGENT: &str = "robot";

/// The binary with none of the caller's settings, the harness's compose CLI, and logs
/// at info (on stderr).
pub fn bin_command() -> Command {
    let mut command = Command::new(BIN);
    for var in [
        "COMPOSE_FILE",
        "COMPOSE_PROJECT_NAME",
        "DOCKER_MCP_LISTEN",
        "DOCKER_MCP_ALLOWED_HOSTS",
        "GATEWAY_REGISTRY",
        "GATEWAY_POLICY",
        "GATEWAY_TOKENS_FILE",
        "GATEWAY_LISTEN",
        "GATEWAY_ALLOWED_HOSTS",
        "OPS_COPILOT_DATA_DIR",
    ] {
        command.env_remove(var);
    }
    command
        .env("DOCKER_MCP_COMPOSE_COMMAND", compose_command().join(" "))
        .env("LOG_LEVEL", "info");
    command
}

/// Runs the binary to completion (an operator command).
pub fn run_cli(args: &[&str]) -> Output {
    bin_command()
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {BIN} {}: {e}", args.join(" ")))
}

/// stdout and stderr of a finished command, for messages and checks.
pub fn output_text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// A running `ops-copilot docker-mcp --compose-file FILE --listen 127.0.0.1:PORT`.
pub struct DockerMcp {
    process: Option<Process>,
    pub base: String,
    port: u16,
    compose_file: PathBuf,
    log_dir: PathBuf,
    /// Passed as `--auth-token-file` on the next [`Self::start_again`].
    pub token_file: Option<PathBuf>,
    /// Passed as `--docker-host` (the Engine) on the next [`Self::start_again`].
    pub docker_host: Option<String>,
}

fn docker_mcp_command(
    compose_file: &Path,
    port: u16,
    token_file: Option<&Path>,
    docker_host: Option<&str>,
) -> Command {
    let mut command = bin_command();
    command.arg("docker-mcp");
    if let Some(host) = docker_host {
        command.arg("--docker-host").arg(host);
    }
    command
        .arg("--compose-file")
        .arg(compose_file)
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"));
    if let Some(file) = token_file {
        command.arg("--auth-token-file").arg(file);
    }
    command
}

/// docker-mcp's /health says 503 while the Engine is away; both mean it is serving.
fn serving(status: StatusCode) -> bool {
    status == StatusCode::OK || status == StatusCode::SERVICE_UNAVAILABLE
}

impl DockerMcp {
    pub async fn start(compose_file: &Path, log_dir: &Path) -> Self {
        Self::start_on(compose_file, log_dir, None).await
    }

    /// [`Self::start`] against the Engine at `docker_host` (`--docker-host`).
    pub async fn start_on(compose_file: &Path, log_dir: &Path, docker_host: Option<&str>) -> Self {
        let (process, base) =
            Process::start_http("docker-mcp", log_dir, "/health", serving, |port| {
                docker_mcp_command(compose_file, port, None, docker_host)
            })
            .await;
        let port = base.rsplit(':').next().unwrap().parse().unwrap();
        Self {
            process: Some(process),
            base,
            port,
            compose_file: compose_file.to_path_buf(),
            log_dir: log_dir.to_path_buf(),
            token_file: None,
            docker_host: docker_host.map(str::to_owned),
        }
    }

    /// Its process id, while it runs.
    pub fn pid(&self) -> u32 {
        self.process.as_ref().expect("docker-mcp is running").id()
    }

    /// Kills it (SIGKILL).
    pub fn stop(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.kill();
        }
    }

    /// Starts it again on the same port (after [`Self::stop`]).
    pub async fn start_again(&mut self) {
        assert!(self.process.is_none(), "docker-mcp is still running");
        let log = self
            .log_dir
            .join(format!("docker-mcp-again-{}.log", self.port));
        let mut process = Process::spawn(
            "docker-mcp",
            docker_mcp_command(
                &self.compose_file,
                self.port,
                self.token_file.as_deref(),
                self.docker_host.as_deref(),
            ),
            &log,
        );
        if let Err(why) = process
            .wait_until_http(
                &format!("{}/health", self.base),
                serving,
                Duration::from_secs(20),
            )
            .await
        {
            panic!("docker-mcp did not start again: {why}\n{}", process.log());
        }
        self.process = Some(process);
    }

    /// `POST /tools/{name}` on docker-mcp itself, bypassing the gateway.
    pub async fn rest(&self, tool: &str, args: &Value) -> (StatusCode, Value) {
        let response = http_client()
            .post(format!("{}/tools/{tool}", self.base))
            .json(args)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST docker-mcp /tools/{tool}: {e}"));
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    fn log_tail(&self) -> String {
        self.process
            .as_ref()
            .map(|p| p.log_tail(40))
            .unwrap_or_else(|| "(stopped)".into())
    }
}

/// An HTTP answer of the gateway.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    /// Status, headers and body (JSON, or the text as a JSON string).
    pub async fn read(response: reqwest::Response) -> Self {
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Self {
            status,
            headers,
            body,
        }
    }

    /// The body, after checking the status; panics with the body otherwise.
    #[track_caller]
    pub fn expect(&self, status: u16) -> &Value {
        assert_eq!(
            self.status.as_u16(),
            status,
            "expected HTTP {status}, got {}: {}",
            self.status,
            self.body
        );
        &self.body
    }

    /// The refusal's text (`detail`), whatever the shape.
    pub fn detail(&self) -> &str {
        self.body["detail"].as_str().unwrap_or_default()
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Add the role `agent: { can_approve: [] }` and the principal [`AGENT`].
    pub agent: bool,
    /// Keep the tokens file outside the data directory (`--tokens`).
    pub tokens_outside_data_dir: bool,
    /// The services ignore their stop signal, so a restart takes their whole stop
    /// grace period ([`SLOW_STOP`]): long enough to break something in the middle.
    pub slow_stop: bool,
    /// This compose file's text instead of the ARR stack's.
    pub stack_yaml: Option<&'static str>,
    /// The adapted registry and policy (deploy/config/, what `all` writes:
    /// compose_diagnose, compose_stats, compose_start, compose_stop) instead of the guide's.
    pub adapted_config: bool,
    /// `--mcp-approval-wait-seconds` of every start of the gateway (none: its default).
    pub mcp_approval_wait_seconds: Option<u64>,
}

/// The adapted files' docker-mcp auth, replaced by none (the test's docker-mcp has no token).
const DEPLOY_AUTH: &str = "auth: { bearer_token_file: \"/run/secrets/docker_mcp_token\" }";

/// deploy/config/'s registry and policy (the adaptation of the guide's files).
pub fn adapted_files() -> (String, String) {
    let dir = repo_root().join("deploy/config");
    let read = |name: &str| {
        std::fs::read_to_string(dir.join(name))
            .unwrap_or_else(|e| panic!("cannot read deploy/config/{name}: {e}"))
    };
    let registry = replace(&read("tool_registry.yaml"), DEPLOY_AUTH, "auth: none");
    (registry, read("policy.yaml"))
}

/// How long a restart takes with [`Options::slow_stop`].
pub const SLOW_STOP: Duration = Duration::from_secs(4);

/// One test's world. Drop order: the gateway, docker-mcp, then the stack.
pub struct Env {
    gateway: Option<Process>,
    base: String,
    pub mcp: DockerMcp,
    pub stack: Stack,
    tokens: BTreeMap<&'static str, String>,
    pub registry: PathBuf,
    pub policy: PathBuf,
    pub data_dir: PathBuf,
    tokens_file: Option<PathBuf>,
    /// Given to every start of the gateway (from [`Options`]).
    gateway_args: Vec<String>,
    pub dir: PathBuf,
    _dir: TempDir,
}

/// The guide's files as shipped in `config/`.
pub fn guide_files() -> (String, String) {
    let dir = repo_root().join("config");
    let read = |name: &str| {
        std::fs::read_to_string(dir.join(name))
            .unwrap_or_else(|e| panic!("cannot read config/{name}: {e}"))
    };
    (read("tool_registry.yaml"), read("policy.yaml"))
}

/// `text` with `from` replaced by `to`; panics when `from` is not there, so that a
/// change in `config/` cannot silently make a test meaningless.
#[track_caller]
pub fn replace(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "{from:?} not found in:\n{text}");
    text.replace(from, to)
}

/// The guide's registry with its `services:` block replaced by `services`.
pub fn registry_with_services(services: &str) -> String {
    let (registry, _) = guide_files();
    let start = registry.find("services:\n").expect("a services block");
    let end = registry.find("\ntools:").expect("a tools block");
    format!(
        "{}{}\n{}",
        &registry[..start],
        services.trim_end(),
        &registry[end..]
    )
}

/// A YAML double-quoted string (paths from temp dirs are plain, but be safe).
pub fn yaml_str(text: &str) -> String {
    Value::String(text.to_owned()).to_string()
}

impl Env {
    /// Brings up `services` of a fresh ARR stack, docker-mcp and the gateway.
    pub async fn start(tag: &str, services: &[&str], options: Options) -> Self {
        require_docker();
        assert!(
            !(options.slow_stop && options.stack_yaml.is_some()),
            "slow_stop changes the ARR stack; give it the stack_yaml's own stop settings instead"
        );
        let stack = if options.slow_stop {
            // PID 1 of the fake services traps TERM but not USR2, which it then
            // ignores: the Engine waits the grace period, then kills it.
            let compose = std::fs::read_to_string(test_support::arr_compose_file())
                .expect("the test stack's compose file");
            let compose = replace(&compose, "stop_signal: SIGTERM", "stop_signal: SIGUSR2");
            let compose = replace(
                &compose,
                "stop_grace_period: 3s",
                &format!("stop_grace_period: {}s", SLOW_STOP.as_secs()),
            );
            Stack::from_yaml(tag, &compose)
        } else if let Some(yaml) = options.stack_yaml {
            Stack::from_yaml(tag, yaml)
        } else {
            Stack::arr(tag)
        };
        Self::start_on(stack, services, options).await
    }

    /// Brings up `services` of `stack` (any compose file), docker-mcp and the gateway.
    pub async fn start_on(stack: Stack, services: &[&str], options: Options) -> Self {
        require_docker();
        stack.up(services);
        let dir = tempfile::Builder::new()
            .prefix("ops-gateway-test-")
            .tempdir()
            .expect("a temporary directory");
        let root = dir.path().canonicalize().unwrap();
        for sub in ["config", "logs"] {
            std::fs::create_dir(root.join(sub)).unwrap();
        }
        let mcp = DockerMcp::start(stack.file(), &root.join("logs")).await;

        let (registry, policy) = if options.adapted_config {
            adapted_files()
        } else {
            guide_files()
        };
        let registry = replace(&registry, GUIDE_BASE_URL, &mcp.base);
        let mut policy = replace(&policy, GUIDE_FILE, stack.file_str());
        if options.agent {
            policy = replace(
                &policy,
                "\nroles:\n",
                "\nroles:\n  agent:\n    can_approve: []\n",
            );
        }
        let mut env = Self {
            gateway: None,
            base: String::new(),
            mcp,
            stack,
            tokens: BTreeMap::new(),
            registry: root.join("config/tool_registry.yaml"),
            policy: root.join("config/policy.yaml"),
            data_dir: root.join("data"),
            tokens_file: options
                .tokens_outside_data_dir
                .then(|| root.join("config/tokens.yaml")),
            gateway_args: options
                .mcp_approval_wait_seconds
                .map(|seconds| {
                    vec![
                        "--mcp-approval-wait-seconds".to_owned(),
                        seconds.to_string(),
                    ]
                })
                .unwrap_or_default(),
            dir: root,
            _dir: dir,
        };
        env.write_registry(&registry);
        env.write_policy(&policy);
        env.add_token(ADMIN, "admin");
        env.add_token(STANDARD, "standard");
        if options.agent {
            env.add_token(AGENT, "agent");
        }
        env.start_gateway().await;
        env
    }

    pub fn write_registry(&self, text: &str) {
        std::fs::write(&self.registry, text).expect("write tool_registry.yaml");
    }

    pub fn write_policy(&self, text: &str) {
        std::fs::write(&self.policy, text).expect("write policy.yaml");
    }

    pub fn policy_text(&self) -> String {
        std::fs::read_to_string(&self.policy).expect("read policy.yaml")
    }

    /// `--registry R --policy P --data-dir D [--tokens T]`.
    pub fn path_args(&self) -> Vec<String> {
        let mut args = vec![
            "--registry".to_owned(),
            self.registry.display().to_string(),
            "--policy".to_owned(),
            self.policy.display().to_string(),
            "--data-dir".to_owned(),
            self.data_dir.display().to_string(),
        ];
        if let Some(tokens) = &self.tokens_file {
            args.extend(["--tokens".to_owned(), tokens.display().to_string()]);
        }
        args
    }

    /// `ops-copilot gateway token add NAME --role ROLE ...`: stdout is the token.
    fn add_token(&mut self, name: &'static str, role: &str) {
        let mut args = vec!["gateway", "token", "add", name, "--role", role];
        let paths = self.path_args();
        args.extend(paths.iter().map(String::as_str));
        let output = run_cli(&args);
        assert!(
            output.status.success(),
            "token add {name} failed: {}",
            output_text(&output)
        );
        let token = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        assert!(
            !token.is_empty() && !token.contains(char::is_whitespace),
            "token add printed {token:?}"
        );
        self.tokens.insert(name, token);
    }

    pub async fn start_gateway(&mut self) {
        self.start_gateway_with(&[]).await;
    }

    /// Starts the gateway with `extra` arguments after the usual ones.
    pub async fn start_gateway_with(&mut self, extra: &[String]) {
        assert!(self.gateway.is_none(), "the gateway is already running");
        let mut paths = self.path_args();
        paths.extend(self.gateway_args.iter().cloned());
        paths.extend(extra.iter().cloned());
        let (process, base) = Process::start_http(
            "gateway",
            &self.dir.join("logs"),
            "/health",
            |status| status == StatusCode::OK,
            |port| {
                let mut command = bin_command();
                command
                    .arg("gateway")
                    .args(&paths)
                    .arg("--listen")
                    .arg(format!("127.0.0.1:{port}"));
                command
            },
        )
        .await;
        self.gateway = Some(process);
        self.base = base;
    }

    /// Kills the gateway (SIGKILL, as in a crash).
    pub fn stop_gateway(&mut self) {
        if let Some(mut process) = self.gateway.take() {
            process.kill();
        }
    }

    /// Stops the gateway gracefully (SIGTERM), runs `meanwhile`, and waits for it to
    /// exit: its exit status and its log.
    pub fn terminate_gateway(
        &mut self,
        meanwhile: impl FnOnce(),
    ) -> (std::process::ExitStatus, String) {
        let mut process = self.gateway.take().expect("the gateway is running");
        let pid = process.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status();
        assert!(sent.is_ok_and(|s| s.success()), "kill -TERM {pid}");
        meanwhile();
        let status = test_support::wait_for_sync(
            "the gateway to exit on SIGTERM",
            Duration::from_secs(20),
            || process.exited().ok_or_else(|| "still running".to_owned()),
        );
        (status, process.log())
    }

    pub async fn restart_gateway(&mut self) {
        self.stop_gateway();
        self.start_gateway().await;
    }

    /// The gateway's process id (for /proc).
    pub fn gateway_pid(&self) -> u32 {
        self.gateway.as_ref().expect("the gateway is running").id()
    }

    pub fn gateway_log(&self) -> String {
        self.gateway.as_ref().map(|p| p.log()).unwrap_or_default()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn token(&self, who: &str) -> &str {
        self.tokens
            .get(who)
            .unwrap_or_else(|| panic!("no token for {who}"))
    }

    pub fn bearer(&self, who: &str) -> String {
        format!("Bearer {}", self.token(who))
    }

    /// Any request, with an optional `Authorization` value and JSON body.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        authorization: Option<&str>,
        body: Option<&Value>,
    ) -> Reply {
        let mut request = http_client().request(method.clone(), self.url(path));
        if let Some(value) = authorization {
            request = request.header(AUTHORIZATION, value);
        }
        if let Some(body) = body {
            request = request
                .header(CONTENT_TYPE, "application/json")
                .body(body.to_string());
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        Reply::read(response).await
    }

    /// `POST /chat/tool` with this body, as `who`.
    pub async fn chat_tool(&self, who: &str, body: &Value) -> Reply {
        self.send(
            Method::POST,
            "/chat/tool",
            Some(&self.bearer(who)),
            Some(body),
        )
        .await
    }

    /// `{"tool", "args"}` as `who`.
    pub async fn call(&self, who: &str, tool: &str, args: &Value) -> Reply {
        self.chat_tool(who, &json!({ "tool": tool, "args": args }))
            .await
    }

    /// `{"tool", "args", "approved": true}` as `who`.
    pub async fn call_approved(&self, who: &str, tool: &str, args: &Value) -> Reply {
        self.chat_tool(
            who,
            &json!({ "tool": tool, "args": args, "approved": true }),
        )
        .await
    }

    pub async fn get(&self, who: &str, path: &str) -> Reply {
        self.send(Method::GET, path, Some(&self.bearer(who)), None)
            .await
    }

    pub async fn post(&self, who: &str, path: &str) -> Reply {
        self.send(Method::POST, path, Some(&self.bearer(who)), None)
            .await
    }

    pub async fn health(&self) -> Value {
        self.send(Method::GET, "/health", None, None)
            .await
            .expect(200)
            .clone()
    }

    /// The pending approvals `who` sees.
    pub async fn approvals(&self, who: &str) -> Vec<Value> {
        let reply = self.get(who, "/approvals").await;
        reply.expect(200)["approvals"]
            .as_array()
            .unwrap_or_else(|| panic!("GET /approvals: {}", reply.body))
            .clone()
    }

    /// `GET /audit?QUERY` as `who`: the records.
    pub async fn audit(&self, who: &str, query: &str) -> Vec<Value> {
        let path = if query.is_empty() {
            "/audit?limit=500".to_owned()
        } else {
            format!("/audit?limit=500&{query}")
        };
        let reply = self.get(who, &path).await;
        reply.expect(200)["records"]
            .as_array()
            .unwrap_or_else(|| panic!("GET {path}: {}", reply.body))
            .clone()
    }

    /// An MCP session with the gateway's `/mcp`, authenticated as `who`.
    pub async fn mcp_session(&self, who: &str) -> McpSession {
        let headers = [("authorization".to_owned(), self.bearer(who))];
        McpSession::open(&self.url("/mcp"), &headers, MCP_VERSION)
            .await
            .0
    }

    pub fn file(&self) -> &str {
        self.stack.file_str()
    }

    pub fn ps_args(&self) -> Value {
        json!({ "file": self.file() })
    }

    pub fn logs_args(&self, service: &str, tail: u64) -> Value {
        json!({ "file": self.file(), "service": service, "tail": tail })
    }

    pub fn restart_args(&self, service: &str) -> Value {
        json!({ "file": self.file(), "service": service })
    }

    /// Requests a restart as `who` (expects `need_approval`); returns the approval id.
    pub async fn request_restart(&self, who: &str, service: &str) -> String {
        let reply = self
            .call(who, "compose_restart", &self.restart_args(service))
            .await;
        let body = reply.expect(200);
        assert_eq!(body["need_approval"], true, "{body}");
        assert_eq!(body["tool"], "compose_restart", "{body}");
        assert_eq!(body["args"], self.restart_args(service), "{body}");
        body["approval_id"]
            .as_str()
            .filter(|id| !id.is_empty())
            .unwrap_or_else(|| panic!("no approval_id: {body}"))
            .to_owned()
    }

    /// Checks a `compose_ps` result: this stack's project, every declared service,
    /// `running` ones running and the others not created.
    #[track_caller]
    pub fn assert_ps_result(&self, result: &Value, running: &[&str]) {
        assert_eq!(result["project"], self.stack.project(), "{result}");
        let services = result["services"]
            .as_array()
            .unwrap_or_else(|| panic!("no services in {result}"));
        let mut names: Vec<String> = services
            .iter()
            .filter_map(|s| s["service"].as_str().map(str::to_owned))
            .collect();
        names.sort();
        assert_eq!(names, self.stack.declared_services(), "{result}");
        for service in services {
            let name = service["service"].as_str().unwrap();
            let expected = if running.contains(&name) {
                "running"
            } else {
                "not created"
            };
            assert_eq!(service["state"], expected, "{name}: {service}");
        }
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let gateway = self
                .gateway
                .as_ref()
                .map(|p| p.log_tail(60))
                .unwrap_or_else(|| "(stopped)".into());
            eprintln!(
                "--- gateway log (last lines) ---\n{gateway}\n--- docker-mcp log (last lines) ---\n{}",
                self.mcp.log_tail()
            );
        }
    }
}

/// Two Docker hosts behind one gateway: the machine's Engine ("pi", the
/// default, with [`Env`]'s stack and docker-mcp) and a second dockerd of the
/// test's own ("nas"), running the same compose project with its own
/// docker-mcp; the registry's `hosts:` names both, and `policy_hosts` (the
/// policy's `hosts:` section, or "") is added to the policy. Used by the
/// gateway's and pi-health's multi-host tests.
pub struct TwoHosts {
    pub env: Env,
    pub nas: SecondEngine,
    pub nas_mcp: DockerMcp,
}

impl TwoHosts {
    /// `on_pi` up on the machine's Engine, `on_nas` on nas's; the gateway
    /// restarted with both hosts (the registry's services are read at start).
    pub async fn start(tag: &str, on_pi: &[&str], on_nas: &[&str], policy_hosts: &str) -> Self {
        let env = Env::start(tag, on_pi, Options::default()).await;
        let nas = SecondEngine::start("nas");
        let images: Vec<String> = on_nas
            .iter()
            .map(|s| format!("127.0.0.1:5000/arr/{s}:test"))
            .collect();
        nas.load_images(&images.iter().map(String::as_str).collect::<Vec<_>>());
        let mut up = vec!["up", "-d"];
        up.extend_from_slice(on_nas);
        if let Err(why) = env.stack.compose_on(Some(&nas.docker_host()), &up) {
            panic!("the stack does not come up on nas: {why}");
        }
        let nas_mcp = DockerMcp::start_on(
            env.stack.file(),
            &env.dir.join("logs"),
            Some(&nas.docker_host()),
        )
        .await;
        let registry = std::fs::read_to_string(&env.registry).unwrap();
        let registry = replace(
            &registry,
            "services:\n",
            &format!(
                "services:\n  docker-mcp-nas:\n    base_url: {}\n    transport: http\n    auth: none\n",
                yaml_str(&nas_mcp.base)
            ),
        ) + "\nhosts:\n  pi: { service: docker-mcp }\n  nas: { service: docker-mcp-nas }\n";
        env.write_registry(&registry);
        env.write_policy(&format!("{}\n{policy_hosts}", env.policy_text()));
        let mut hosts = Self { env, nas, nas_mcp };
        hosts.env.restart_gateway().await;
        hosts
    }

    /// `compose_ps` as `who`, on `host` (none: the gateway's default).
    pub async fn ps(&self, who: &str, host: Option<&str>) -> Reply {
        let mut args = self.env.ps_args();
        if let Some(host) = host {
            args["host"] = json!(host);
        }
        self.env.call(who, "compose_ps", &args).await
    }

    /// When `service`'s container on nas started (`docker inspect`).
    pub fn started_on_nas(&self, service: &str) -> String {
        started_on(&self.nas, service)
    }
}

/// When `service`'s container on `engine` started; panics when it has none running.
pub fn started_on(engine: &SecondEngine, service: &str) -> String {
    let id = engine.docker(&[
        "ps",
        "-q",
        "--filter",
        &format!("label=com.docker.compose.service={service}"),
    ]);
    assert!(!id.is_empty(), "{service} runs on {}", engine.docker_host());
    engine.docker(&["inspect", "-f", "{{.State.StartedAt}}", &id])
}
