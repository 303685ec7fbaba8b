//! `ops-copilot all`: the planes in one process, for a quick start. They are
//! wired through the same HTTP interfaces as when they run apart, and
//! docker-mcp only answers the gateway (a token made on first start), so the
//! policy cannot be bypassed in this mode either.

use std::future::IntoFuture;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use docker_mcp::server::{self, HostPolicy};
use gateway::api::{self, AppState};
use ops_core::bearer::ExpectedToken;
use tokio_util::sync::CancellationToken;

use crate::docker_mcp::{ToolSettings, build_tools};
use crate::gateway_cmd::{self, Paths};

/// The guide's files, the defaults of a first start.
const REGISTRY: &str = include_str!("../../../config/tool_registry.yaml");
const POLICY: &str = include_str!("../../../config/policy.yaml");
/// What the guide's files say that a first start replaces.
const GUIDE_COMPOSE_FILE: &str = "/opt/stack/docker-compose.yml";
const GUIDE_BASE_URL: &str = "base_url: http://docker-mcp:8080";

#[derive(clap::Args)]
pub struct Args {
    /// The stack's compose file (the guide's DOCKER_MCP_COMPOSE_FILE; COMPOSE_FILE
    /// also works). Without one, the compose tools say so and docker_ps works.
    #[arg(long, env = "DOCKER_MCP_COMPOSE_FILE")]
    compose_file: Option<PathBuf>,
    /// Configuration (first start: the guide's files), tokens, approvals, audit.
    #[arg(long, env = "OPS_COPILOT_DATA_DIR", default_value = "data")]
    data_dir: PathBuf,
    /// The gateway's address.
    #[arg(long, env = "GATEWAY_LISTEN", default_value = "127.0.0.1:8090")]
    gateway_listen: SocketAddr,
    /// docker-mcp's address (it answers only the gateway).
    #[arg(long, env = "DOCKER_MCP_LISTEN", default_value = "127.0.0.1:8091")]
    docker_mcp_listen: SocketAddr,
    /// The Engine: unix:///path or tcp://host:port (default: the local socket).
    #[arg(long, env = "DOCKER_HOST")]
    docker_host: Option<String>,
}

/// Writes `text` unless the file exists, readable by the owner only.
fn write_new(path: &Path, text: &str) -> anyhow::Result<bool> {
    if path.exists() {
        return Ok(false);
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(true)
}

fn random_hex() -> anyhow::Result<String> {
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    Ok(secret.iter().map(|b| format!("{b:02x}")).collect())
}

/// First start: the internal token and the guide's files, adapted to this machine.
fn prepare(args: &Args, compose_file: Option<&Path>) -> anyhow::Result<Paths> {
    let config_dir = args.data_dir.join("config");
    std::fs::create_dir_all(&config_dir)
        .with_context(|| format!("cannot create {}", config_dir.display()))?;
    let data_dir = std::path::absolute(&args.data_dir)?;
    let token_file = data_dir.join("docker-mcp.token");
    write_new(&token_file, &random_hex()?)?;
    let registry = config_dir.join("tool_registry.yaml");
    let policy = config_dir.join("policy.yaml");
    let wired = REGISTRY.replacen(
            &format!("{GUIDE_BASE_URL}     # adjust per image docs\n    transport: http                      # or sse/stdio if supported\n    auth: none"),
            &format!(
                "base_url: http://{}\n    transport: http\n    auth: {{ bearer_token_file: \"{}\" }}",
                args.docker_mcp_listen,
                token_file.display()
            ),
            1,
        );
    // The embedded file is ours: a mismatch is a bug to catch here, not a broken start.
    anyhow::ensure!(
        !wired.contains("docker-mcp:8080"),
        "the embedded registry did not take the docker-mcp address"
    );
    write_new(&registry, &wired)?;
    let locked = compose_file.map_or(GUIDE_COMPOSE_FILE.to_owned(), |f| f.display().to_string());
    write_new(&policy, &POLICY.replace(GUIDE_COMPOSE_FILE, &locked))?;
    let config = gateway::config::Config::load(&registry, &policy)?;
    if config.locked_compose_file.as_deref() != Some(locked.as_str()) {
        tracing::warn!(
            policy = %policy.display(),
            pinned = ?config.locked_compose_file,
            compose_file = %locked,
            "policy.yaml pins another compose file than the one given: compose tools will refuse it; edit the policy"
        );
    }
    Ok(Paths {
        registry,
        policy,
        data_dir,
        tokens: None,
    })
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let compose_file = args
        .compose_file
        .clone()
        .or_else(|| std::env::var_os("COMPOSE_FILE").map(PathBuf::from))
        .filter(|f| !f.as_os_str().is_empty())
        .map(|f| std::path::absolute(&f).unwrap_or(f));
    let paths = prepare(&args, compose_file.as_deref())?;

    let tools = build_tools(ToolSettings {
        compose_file,
        project_name: None,
        docker_host: args.docker_host.clone(),
        compose_command: None,
        up_timeout: Duration::from_secs(300),
        max_log_bytes: 64 * 1024,
    })?;
    let internal = ExpectedToken::from_file(&paths.data_dir.join("docker-mcp.token"))
        .map_err(anyhow::Error::msg)?;
    let tokens_file = paths.tokens_file();
    if gateway::auth::Tokens::load(&tokens_file)?.is_empty() {
        let token = gateway::auth::add_token(&tokens_file, "admin", "admin")?;
        println!(
            "First start: made the principal `admin` (role admin). Its token, shown only now:\n{token}\nUse it as `Authorization: Bearer <token>`; add others with `ops-copilot gateway token add NAME --role ROLE --data-dir {}`.",
            paths.data_dir.display()
        );
    }
    let (gateway, tokens) = gateway_cmd::open(&paths)?;

    let shutdown = CancellationToken::new();
    let mcp_app = server::router(
        tools,
        HostPolicy::new(&[]),
        Some(internal),
        shutdown.clone(),
    );
    let gateway_app = api::router(AppState {
        gateway,
        tokens,
        allowed_hosts: Vec::new(),
    });
    let bind = |address: SocketAddr| async move {
        tokio::net::TcpListener::bind(address)
            .await
            .with_context(|| format!("cannot listen on {address}"))
    };
    let mcp_listener = bind(args.docker_mcp_listen).await?;
    let gateway_listener = bind(args.gateway_listen).await?;
    println!(
        "Ops-Copilot is running: the gateway at http://{} (POST /chat/tool, /approvals, /audit, /mcp); docker-mcp at http://{} answers only the gateway.",
        gateway_listener.local_addr()?,
        mcp_listener.local_addr()?
    );
    let stop = shutdown.clone();
    tokio::spawn(async move {
        crate::signals::shutdown().await;
        stop.cancel();
    });
    let mcp = axum::serve(mcp_listener, mcp_app)
        .with_graceful_shutdown(shutdown.clone().cancelled_owned())
        .into_future();
    let gateway = axum::serve(gateway_listener, gateway_app)
        .with_graceful_shutdown(shutdown.clone().cancelled_owned())
        .into_future();
    tokio::try_join!(mcp, gateway)?;
    Ok(())
}
