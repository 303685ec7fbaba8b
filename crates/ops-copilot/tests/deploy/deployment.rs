//! The fixture: the deployment brought up as a user would (setup.sh, then
//! `docker compose -f docker-compose.yml -f engine-direct-socket.yml up -d`), its
//! published ports, and a teardown on drop.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use reqwest::Method;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use serde_json::{Value, json};
use tempfile::TempDir;
use test_support::{
    Stack, compose_command, docker, http_client, repo_root, try_docker, unique_suffix,
};

use crate::gateway_support::Reply;

/// The images deploy/build.sh made, under its tag (`OPS_IMAGE_TAG`, as build.sh and
/// the compose file take it; default `local`).
pub fn images() -> [String; 2] {
    let tag = std::env::var("OPS_IMAGE_TAG")
        .ok()
        .filter(|t| !t.trim().is_empty())
        .unwrap_or_else(|| "local".to_owned());
    [
        format!("ops-copilot:{tag}"),
        format!("ops-copilot-docker-mcp:{tag}"),
    ]
}
pub const SERVICES: [&str; 3] = ["docker-mcp", "ai-gateway", "pi-health"];
const PROJECT_LABEL: &str = "com.docker.compose.project";

/// Test-only additions: quick healthchecks (the shipped 30 s interval would make
/// the first check wait 30 s) and the label scripts/test.sh cleans up by.
const TEST_OVERRIDE: &str = r#"
x-test: &test
  healthcheck: { interval: 1s, timeout: 5s, retries: 3, start_period: 30s }
  labels: { org.ops-copilot.test-run: "${OPS_TEST_RUN_ID:-manual}" }
services:
  docker-mcp: *test
  ai-gateway: *test
  pi-health: *test
"#;

pub struct Deployment {
    pub project: String,
    pub admin_token: String,
    pub gateway: String,
    pub pi_health: String,
    /// The watched stack's directory (the deployment's `STACK_DIR`).
    stack_dir: PathBuf,
    dir: TempDir,
    torn_down: bool,
}

impl Deployment {
    /// Brings the deployment up for `stack` and waits until the three services are healthy.
    pub fn up(stack: &Stack) -> Self {
        for image in images() {
            if try_docker(&["image", "inspect", "-f", "{{.Id}}", &image]).is_err() {
                panic!(
                    "the image {image} is missing: build it with deploy/build.sh \
                     (scripts/test.sh does); this test is never skipped"
                );
            }
        }
        let dir = tempfile::Builder::new()
            .prefix("ops-deploy-test-")
            .tempdir()
            .unwrap();
        let config = dir.path().join("config");
        std::fs::create_dir(&config).unwrap();
        let shipped = repo_root().join("deploy/config");
        // As a user whose stack is not at /opt/stack would: the policy pins its file.
        std::fs::copy(
            shipped.join("tool_registry.yaml"),
            config.join("tool_registry.yaml"),
        )
        .unwrap();
        let policy = std::fs::read_to_string(shipped.join("policy.yaml")).unwrap();
        std::fs::write(
            config.join("policy.yaml"),
            policy.replace("/opt/stack/docker-compose.yml", stack.file_str()),
        )
        .unwrap();
        std::fs::write(dir.path().join("test-override.yml"), TEST_OVERRIDE).unwrap();

        let mut deployment = Self {
            project: format!("octest-ops-{}", unique_suffix()),
            admin_token: String::new(),
            gateway: String::new(),
            pi_health: String::new(),
            stack_dir: stack.dir().to_path_buf(),
            dir,
            torn_down: false,
        };
        deployment.admin_token = deployment.setup();
        deployment
            .compose(&["up", "-d"])
            .unwrap_or_else(|e| panic!("the deployment did not come up: {e}"));
        deployment.wait_healthy();
        deployment.gateway = deployment.published("ai-gateway", 8090);
        deployment.pi_health = deployment.published("pi-health", 8080);
        deployment
    }

    fn secrets(&self) -> PathBuf {
        self.dir.path().join("secrets")
    }

    /// deploy/setup.sh; returns the admin token it prints.
    fn setup(&self) -> String {
        let output = Command::new("bash")
            .arg(repo_root().join("deploy/setup.sh"))
            .env("OPS_SECRETS_DIR", self.secrets())
            .env("OPS_CONFIG_DIR", self.dir.path().join("config"))
            .stdin(Stdio::null())
            .output()
            .expect("run deploy/setup.sh");
        assert!(
            output.status.success(),
            "deploy/setup.sh failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let stdout = String::from_utf8_lossy(&output.stdout);
        let token = stdout.trim().to_owned();
        assert!(
            token.len() >= 32 && !token.contains(char::is_whitespace),
            "setup.sh printed no token: {stdout:?}"
        );
        token
    }

    /// The compose CLI on deploy/'s files, the direct-socket variant, as a user runs it.
    pub fn compose(&self, args: &[&str]) -> Result<String, String> {
        let deploy = repo_root().join("deploy");
        let cli = compose_command();
        // No panic here (Drop calls this): without the socket, compose itself
        // refuses the empty DOCKER_GID with engine-direct-socket.yml's message.
        let socket_gid = std::fs::metadata("/var/run/docker.sock")
            .map(|m| std::os::unix::fs::MetadataExt::gid(&m).to_string())
            .unwrap_or_default();
        let output = Command::new(&cli[0])
            .args(&cli[1..])
            .args(["-p", &self.project, "-f"])
            .arg(deploy.join("docker-compose.yml"))
            .arg("-f")
            .arg(deploy.join("engine-direct-socket.yml"))
            .arg("-f")
            .arg(self.dir.path().join("test-override.yml"))
            .args(args)
            .current_dir(&deploy)
            .env_remove("COMPOSE_FILE")
            .env_remove("COMPOSE_PROJECT_NAME")
            .env("COMPOSE_ANSI", "never")
            .env("STACK_DIR", &self.stack_dir)
            .env("OPS_CONFIG_DIR", self.dir.path().join("config"))
            .env("OPS_SECRETS_DIR", self.secrets())
            .env("DOCKER_GID", socket_gid)
            .env("GATEWAY_PUBLISH", "127.0.0.1:")
            .env("PI_HEALTH_PUBLISH", "127.0.0.1:")
            .env("LOG_LEVEL", "info")
            .output()
            .map_err(|e| format!("cannot run {}: {e}", cli.join(" ")))?;
        let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).trim().to_owned();
        if output.status.success() {
            Ok(text(&output.stdout))
        } else {
            Err(format!(
                "compose {args:?} failed: {}\n{}",
                text(&output.stderr),
                text(&output.stdout)
            ))
        }
    }

    /// The id of a service's container.
    pub fn container(&self, service: &str) -> String {
        docker(&[
            "ps",
            "-aq",
            "--no-trunc",
            "--filter",
            &format!("label={PROJECT_LABEL}={}", self.project),
            "--filter",
            &format!("label=com.docker.compose.service={service}"),
        ])
    }

    fn wait_healthy(&self) {
        let deadline = std::time::Instant::now() + Duration::from_secs(120);
        loop {
            let states: Vec<String> = SERVICES
                .iter()
                .map(|service| {
                    let id = self.container(service);
                    let health = try_docker(&["inspect", "-f", "{{.State.Health.Status}}", &id])
                        .unwrap_or_else(|e| e);
                    format!("{service}: {health}")
                })
                .collect();
            if states.iter().all(|s| s.ends_with(": healthy")) {
                return;
            }
            if std::time::Instant::now() >= deadline {
                panic!(
                    "the deployment did not become healthy ({states:?}):\n{}",
                    self.logs()
                );
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// `127.0.0.1:PORT`, the host side of a published port, as a URL.
    fn published(&self, service: &str, port: u16) -> String {
        let address = self
            .compose(&["port", service, &port.to_string()])
            .unwrap_or_else(|e| panic!("{e}"));
        format!(
            "http://{}",
            address.lines().last().unwrap_or_default().trim()
        )
    }

    pub fn logs(&self) -> String {
        self.compose(&["logs", "--no-color", "--tail", "80"])
            .unwrap_or_else(|e| e)
    }

    /// `POST /chat/tool` as the admin principal.
    pub async fn call(&self, tool: &str, args: &Value, approved: bool) -> Reply {
        let mut body = json!({ "tool": tool, "args": args });
        if approved {
            body["approved"] = json!(true);
        }
        self.gateway_request(Method::POST, "/chat/tool", Some(&body))
            .await
    }

    /// A mutating call the guide's way: without approval it must be refused with
    /// `need_approval`; then `"approved": true` runs it. Returns the second answer.
    pub async fn call_with_approval(&self, tool: &str, args: &Value) -> Reply {
        let first = self.call(tool, args, false).await;
        let body = first.expect(200);
        assert_eq!(body["need_approval"], true, "{tool} ran unapproved: {body}");
        self.call(tool, args, true).await
    }

    pub async fn gateway_request(&self, method: Method, path: &str, body: Option<&Value>) -> Reply {
        let mut request = http_client()
            .request(method, format!("{}{path}", self.gateway))
            .header(AUTHORIZATION, format!("Bearer {}", self.admin_token));
        if let Some(body) = body {
            request = request
                .header(CONTENT_TYPE, "application/json")
                .body(body.to_string());
        }
        Reply::read(request.send().await.expect("the gateway answers")).await
    }

    /// pi-health's first sign-in, as it printed it once (on stdout, in its log).
    pub fn initial_credentials(&self) -> (String, String) {
        let log = docker(&["logs", &self.container("pi-health")]);
        let line = log
            .lines()
            .find(|l| l.contains("created the user"))
            .unwrap_or_else(|| panic!("pi-health printed no first sign-in:\n{log}"));
        let words: Vec<&str> = line.split_whitespace().collect();
        let after = |word: &str| {
            words
                .iter()
                .position(|w| *w == word)
                .and_then(|i| words.get(i + 1))
                .map(|w| w.to_string())
                .unwrap_or_else(|| panic!("no {word} in {line:?}"))
        };
        (after("user"), after("password"))
    }

    /// Stops the services (SIGTERM) and checks each exited cleanly, not killed after
    /// the grace period; then checks the gateway's audit log in its volume.
    pub fn stop_cleanly(&self) {
        self.compose(&["stop", "-t", "20"])
            .unwrap_or_else(|e| panic!("{e}"));
        for service in SERVICES {
            let code = docker(&[
                "inspect",
                "-f",
                "{{.State.ExitCode}}",
                &self.container(service),
            ]);
            assert_eq!(
                code, "0",
                "{service} did not stop cleanly on SIGTERM (exit code {code})"
            );
        }
        // `audit verify` opens the store as the gateway does (it may set up the schema
        // of an empty one), so the volumes are mounted writable. With the initial key
        // the gateway left in its seal volume, and the witness beside it: every seal
        // and every witnessed head checked.
        let data = format!("{}_gateway-data", self.project);
        let seal = format!("{}_gateway-audit-seal", self.project);
        let verify = docker(&[
            "run",
            "--rm",
            "--network",
            "none",
            "--read-only",
            "-v",
            &format!("{data}:/data"),
            "-v",
            &format!("{seal}:/audit-seal"),
            "-e",
            "OPS_COPILOT_AUDIT_WITNESS_FILE=/audit-seal/audit.witness",
            &images()[0],
            "audit",
            "verify",
            "--key-file",
            "/audit-seal/audit.key.initial.1",
        ]);
        assert!(verify.starts_with("ok:"), "after the stop: {verify}");
        assert_every_record_sealed(&verify);
        assert!(
            verify.contains("valid seal from the key chain")
                && verify.contains("heads the witness /audit-seal/audit.witness recorded"),
            "the seals and the witness were not checked: {verify}"
        );
    }

    /// `docker compose down -v` and a check that nothing of the project remains.
    pub fn tear_down(&mut self) -> Vec<String> {
        self.torn_down = true;
        if let Err(e) = self.compose(&["down", "-v", "--remove-orphans", "-t", "5"]) {
            panic!("{e}");
        }
        let label = format!("label={PROJECT_LABEL}={}", self.project);
        let mut left = Vec::new();
        for (what, args) in [
            ("container", vec!["ps", "-aq", "--filter", &label]),
            ("network", vec!["network", "ls", "-q", "--filter", &label]),
            ("volume", vec!["volume", "ls", "-q", "--filter", &label]),
        ] {
            for id in docker(&args).lines().filter(|l| !l.is_empty()) {
                left.push(format!("{what} {id}"));
            }
        }
        left
    }
}

impl Drop for Deployment {
    fn drop(&mut self) {
        if !self.torn_down {
            let _ = self.compose(&["down", "-v", "--remove-orphans", "-t", "2"]);
        }
    }
}

/// `ok: N records (M sealed), ...` with N = M > 0.
#[track_caller]
fn assert_every_record_sealed(verify: &str) {
    let counts: Vec<u64> = verify
        .lines()
        .next()
        .unwrap_or_default()
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .take(2)
        .collect();
    assert!(
        counts.len() == 2 && counts[0] > 0 && counts[0] == counts[1],
        "not every record is sealed: {verify}"
    );
}
