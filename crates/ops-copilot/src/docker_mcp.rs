//! `ops-copilot docker-mcp`: wiring for the execution plane.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use docker_mcp::engine::{Engine, EngineAddress, EngineTimeouts};
use docker_mcp::server::{self, HostPolicy};
use docker_mcp::tools::ComposeCli;
use docker_mcp::{DockerTools, Limits, ToolsConfig};
use ops_core::bearer::ExpectedToken;
use tokio_util::sync::CancellationToken;

#[derive(clap::Args)]
pub struct Args {
    /// The compose file the tools are locked to (the guide's COMPOSE_FILE).
    #[arg(long, env = "COMPOSE_FILE")]
    compose_file: Option<PathBuf>,
    /// Compose project name, as `docker compose -p`; derived from the file when unset.
    #[arg(long, env = "COMPOSE_PROJECT_NAME")]
    project_name: Option<String>,
    /// Where to serve HTTP (MCP at /mcp, REST at /tools/{fn}, /health).
    #[arg(long, env = "DOCKER_MCP_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Serve MCP over stdin/stdout instead of HTTP.
    #[arg(long)]
    stdio: bool,
    /// The Engine: unix:///path or tcp://host:port (default: the local socket).
    #[arg(long, env = "DOCKER_HOST")]
    docker_host: Option<String>,
    /// Extra Host names the HTTP server answers, besides loopback (comma-separated).
    #[arg(
        long,
        env = "DOCKER_MCP_ALLOWED_HOSTS",
        value_delimiter = ',',
        default_value = "docker-mcp"
    )]
    allowed_host: Vec<String>,
    /// The compose CLI for compose_up, e.g. "docker compose" or "docker-compose" (default: detect).
    #[arg(long, env = "DOCKER_MCP_COMPOSE_COMMAND")]
    compose_command: Option<String>,
    /// Seconds compose_up may run before it is stopped.
    #[arg(long, default_value_t = 300)]
    up_timeout_secs: u64,
    /// Seconds compose_pull may take for all its images together.
    #[arg(long, default_value_t = 600)]
    pull_timeout_secs: u64,
    /// A file holding the bearer token every HTTP call but /health must carry
    /// (give the same file to the gateway's `bearer_token_file`).
    #[arg(long, env = "DOCKER_MCP_AUTH_TOKEN_FILE")]
    auth_token_file: Option<PathBuf>,
    /// Bytes of logs compose_logs returns at most.
    #[arg(long, default_value_t = 64 * 1024)]
    max_log_bytes: usize,
    /// Seconds a restarted or started container must stay running for the
    /// action to count as a success (at most 60: the gateway's timeout for
    /// these tools allows for that much).
    #[arg(long, default_value_t = docker_mcp::DEFAULT_STABILITY_WINDOW.as_secs(),
          value_parser = clap::value_parser!(u64).range(0..=docker_mcp::MAX_STABILITY_WINDOW.as_secs()))]
    stability_window_secs: u64,
    /// Hours compose_updates reuses a registry's answer before asking it again
    /// (registries limit how often they are asked; 0 asks every time).
    #[arg(long, env = "DOCKER_MCP_UPDATE_CHECK_HOURS", default_value_t = 6.0)]
    update_check_hours: f64,
    /// The Swarm stack the swarm_* tools are pinned to (its services' label
    /// com.docker.stack.namespace); give the policy's swarm_* schemas the same
    /// `const` (see docs/swarm.md).
    #[arg(long, env = "DOCKER_MCP_SWARM_STACK", default_value = docker_mcp::DEFAULT_SWARM_STACK)]
    swarm_stack: String,
}

/// What the tools need, whichever way they are served.
pub struct ToolSettings {
    pub compose_file: Option<PathBuf>,
    pub project_name: Option<String>,
    pub docker_host: Option<String>,
    pub compose_command: Option<String>,
    pub up_timeout: Duration,
    pub pull_timeout: Duration,
    pub max_log_bytes: usize,
    pub stability_window: Duration,
    pub update_check_ttl: Duration,
    /// The Swarm stack of the swarm_* tools (empty: none).
    pub swarm_stack: String,
}

/// Connects (lazily) to the Engine and locks the compose file.
pub fn build_tools(settings: ToolSettings) -> anyhow::Result<Arc<DockerTools>> {
    let address = EngineAddress::from_env_value(settings.docker_host.as_deref())
        .map_err(anyhow::Error::msg)?;
    let compose_file = settings
        .compose_file
        .filter(|f| !f.as_os_str().is_empty())
        .map(|f| std::path::absolute(&f).unwrap_or(f));
    let engine = Arc::new(Engine::new(address.clone(), EngineTimeouts::default()));
    let tools = Arc::new(DockerTools::new(ToolsConfig {
        engine,
        compose_file: compose_file.clone(),
        project_name: settings.project_name.filter(|p| !p.trim().is_empty()),
        compose_cli: ComposeCli::new(settings.compose_command.as_deref()),
        limits: Limits {
            max_log_bytes: settings.max_log_bytes.max(1024),
            up_timeout: settings.up_timeout.max(Duration::from_secs(1)),
            pull_timeout: settings.pull_timeout.max(Duration::from_secs(1)),
            stability_window: settings
                .stability_window
                .min(docker_mcp::MAX_STABILITY_WINDOW),
            update_check_ttl: settings.update_check_ttl,
            ..Limits::default()
        },
        swarm_stack: Some(settings.swarm_stack.trim().to_owned()).filter(|s| !s.is_empty()),
    }));
    match (&compose_file, tools.project()) {
        (None, _) => tracing::warn!("no compose file: only docker_ps is available"),
        (Some(_), Ok(project)) => tracing::info!(
            file = %project.file.display(),
            project = %project.name,
            services = ?project.service_names(),
            "compose file locked"
        ),
        // Still start: /health and the tool errors say what is wrong, and a fix on disk is picked up.
        (Some(file), Err(error)) => {
            tracing::error!(file = %file.display(), %error, "compose file unusable")
        }
    }
    tracing::info!(engine = %address, "docker engine");
    Ok(tools)
}

/// A number of hours as a duration: 0 to 168 (a week).
fn hours(value: f64) -> anyhow::Result<Duration> {
    anyhow::ensure!(
        value.is_finite() && (0.0..=168.0).contains(&value),
        "--update-check-hours must be between 0 and 168, not {value}"
    );
    Ok(Duration::from_secs_f64(value * 3600.0))
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let tools = build_tools(ToolSettings {
        compose_file: args.compose_file,
        project_name: args.project_name,
        docker_host: args.docker_host,
        compose_command: args.compose_command,
        up_timeout: Duration::from_secs(args.up_timeout_secs),
        pull_timeout: Duration::from_secs(args.pull_timeout_secs),
        max_log_bytes: args.max_log_bytes,
        stability_window: Duration::from_secs(args.stability_window_secs),
        update_check_ttl: hours(args.update_check_hours)?,
        swarm_stack: args.swarm_stack,
    })?;

    if args.stdio {
        return server::serve_stdio(tools).await;
    }
    let token = match &args.auth_token_file {
        Some(file) => Some(ExpectedToken::from_file(file).map_err(anyhow::Error::msg)?),
        None => {
            tracing::warn!(
                "no --auth-token-file: anything that reaches this port can call the tools directly"
            );
            None
        }
    };
    let shutdown = CancellationToken::new();
    let app = server::router(
        tools,
        HostPolicy::new(&args.allowed_host),
        token,
        shutdown.clone(),
    );
    let listener = ops_core::net::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    tracing::info!(listen = %listener.local_addr()?, "docker-mcp serving MCP at /mcp, REST at /tools/{{fn}}, /health");
    ops_core::net::serve(
        listener,
        app,
        ops_core::net::Limits::DOCKER_MCP,
        async move {
            crate::signals::shutdown().await;
            shutdown.cancel();
        },
    )
    .await?;
    Ok(())
}
