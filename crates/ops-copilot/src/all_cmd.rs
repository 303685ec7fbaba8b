//! `ops-copilot all`: the planes in one process, for a quick start. They are
//! wired through the same HTTP interfaces as when they run apart, and
//! docker-mcp only answers the gateway (a token made on first start), so the
//! policy cannot be bypassed in this mode either.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use docker_mcp::server::{self, HostPolicy};
use gateway::api::{self, AppState};
use ops_core::bearer::ExpectedToken;
use tokio_util::sync::CancellationToken;

use pi_health::GatewaySettings;

use crate::docker_mcp::{ToolSettings, build_tools};
use crate::gateway_cmd::{self, Paths};
use crate::guide_config;

#[derive(clap::Args)]
pub struct Args {
    /// The stack's compose file (the guide's DOCKER_MCP_COMPOSE_FILE; COMPOSE_FILE
    /// also works). Without one, the compose tools say so and docker_ps works.
    #[arg(long, env = "DOCKER_MCP_COMPOSE_FILE")]
    compose_file: Option<PathBuf>,
    /// Configuration (first start: the guide's files), tokens, approvals, audit.
    #[arg(long, env = "OPS_COPILOT_DATA_DIR", default_value = "data")]
    data_dir: PathBuf,
    /// The web app people open (pi-health).
    #[arg(long, env = "PI_HEALTH_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// The gateway's address.
    #[arg(long, env = "GATEWAY_LISTEN", default_value = "127.0.0.1:8090")]
    gateway_listen: SocketAddr,
    /// docker-mcp's address (it answers only the gateway).
    #[arg(long, env = "DOCKER_MCP_LISTEN", default_value = "127.0.0.1:8091")]
    docker_mcp_listen: SocketAddr,
    /// The Engine: unix:///path or tcp://host:port (default: the local socket).
    #[arg(long, env = "DOCKER_HOST")]
    docker_host: Option<String>,
    /// Where the Pi's thermal zones are.
    #[arg(
        long,
        env = "PI_HEALTH_THERMAL_DIR",
        default_value = "/sys/class/thermal"
    )]
    thermal_dir: PathBuf,
    /// The audit log's sealing key [default: <data-dir>.audit-key, beside the data
    /// directory, not in it] and witness [default: <data-dir>.audit-witness].
    #[command(flatten)]
    audit: gateway_cmd::AuditArgs,
    #[command(flatten)]
    web: crate::pi_health_cmd::WebArgs,
    #[command(flatten)]
    mcp: gateway_cmd::McpArgs,
}

/// `<dir>` with `suffix` appended to its last component: a file beside the data
/// directory, not in it, where whoever can write only the data directory cannot.
pub fn sibling(dir: &Path, suffix: &str) -> PathBuf {
    let dir = std::fs::canonicalize(dir)
        .or_else(|_| std::path::absolute(dir))
        .unwrap_or_else(|_| dir.to_owned());
    let dir = dir.components().collect::<PathBuf>();
    let mut name = dir.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Writes `text` unless the file exists, readable by the owner only.
fn write_new(path: &Path, text: &str) -> anyhow::Result<bool> {
    if path.exists() {
        return Ok(false);
    }
    gateway_cmd::write_secret(path, text)?;
    Ok(true)
}

/// First start: the internal token and the guide's files, adapted to this machine.
fn prepare(args: &Args, compose_file: Option<&Path>) -> anyhow::Result<Paths> {
    let config_dir = args.data_dir.join("config");
    std::fs::create_dir_all(&config_dir)
        .with_context(|| format!("cannot create {}", config_dir.display()))?;
    let data_dir = std::path::absolute(&args.data_dir)?;
    let token_file = data_dir.join("docker-mcp.token");
    write_new(&token_file, &ops_core::contract::ids::random_hex(32)?)?;
    let registry = config_dir.join("tool_registry.yaml");
    let policy = config_dir.join("policy.yaml");
    let upstream = guide_config::Upstream {
        base_url: &format!("http://{}", args.docker_mcp_listen),
        bearer_token_file: &token_file.display().to_string(),
    };
    write_new(&registry, &guide_config::registry(&upstream)?)?;
    let locked = compose_file.map_or(guide_config::GUIDE_COMPOSE_FILE.to_owned(), |f| {
        f.display().to_string()
    });
    write_new(&policy, &guide_config::policy(&locked))?;
    Ok(Paths {
        registry,
        policy,
        audit_key: Some(
            args.audit
                .audit_key_file
                .clone()
                .unwrap_or_else(|| sibling(&data_dir, ".audit-key")),
        ),
        audit_witness: Some(
            args.audit
                .audit_witness_file
                .clone()
                .unwrap_or_else(|| sibling(&data_dir, ".audit-witness")),
        ),
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
    let head_shipping = args.audit.head_shipping()?;
    let paths = prepare(&args, compose_file.as_deref())?;

    let tools = build_tools(ToolSettings {
        compose_file: compose_file.clone(),
        project_name: None,
        docker_host: args.docker_host.clone(),
        compose_command: None,
        up_timeout: Duration::from_secs(guide_config::UP_TIMEOUT_SECS),
        pull_timeout: Duration::from_secs(guide_config::PULL_TIMEOUT_SECS),
        max_log_bytes: 64 * 1024,
        stability_window: docker_mcp::DEFAULT_STABILITY_WINDOW,
        update_check_ttl: docker_mcp::DEFAULT_UPDATE_CHECK_TTL,
        // The stack guide_config::policy pins the swarm_* schemas to.
        swarm_stack: docker_mcp::DEFAULT_SWARM_STACK.to_owned(),
    })?;
    let internal = ExpectedToken::from_file(&paths.data_dir.join("docker-mcp.token"))
        .map_err(anyhow::Error::msg)?;
    let tokens_file = paths.tokens_file();
    if gateway::auth::Tokens::load(&tokens_file)?.is_empty() {
        let token = gateway::auth::add_token(&tokens_file, "admin", "admin", &[])?;
        let word = std::ffi::OsStr::new;
        let add_another = crate::printable_command([
            word("gateway"),
            word("token"),
            word("add"),
            word("alice"),
            word("--role"),
            word("standard"),
            word("--data-dir"),
            paths.data_dir.as_os_str(),
        ]);
        println!(
            "First start: made the gateway principal `admin` (role admin). Its token, shown only now:\n{token}\n\
             Use it as `Authorization: Bearer <token>` on http://{}. Add another principal, e.g. alice with the role standard (the token is printed on standard output):\n  {add_another}",
            args.gateway_listen
        );
    }
    let pi_health_token = paths.data_dir.join("pi-health.token");
    if !pi_health_token.exists() {
        // pi-health asserts each person's role (X-On-Behalf-Role): any role the
        // policy defines now.
        let policy_roles: Vec<String> =
            gateway::config::Config::load(&paths.registry, &paths.policy)?
                .roles
                .keys()
                .cloned()
                .collect();
        let token = gateway::auth::add_token(&tokens_file, "pi-health", "admin", &policy_roles)
            .with_context(|| {
                format!(
                    "{} is missing: remove the pi-health entry from {} to make a new one",
                    pi_health_token.display(),
                    tokens_file.display()
                )
            })?;
        write_new(&pi_health_token, &token)?;
    }
    let (gateway, tokens) = gateway_cmd::open(&paths)?;
    let head_shipper = gateway_cmd::HeadShipper::start(&gateway, head_shipping);
    let gateway_url = format!("http://{}", args.gateway_listen);
    // The configuration is loaded once, by the gateway; pi-health's `file`
    // argument is the compose file its policy pins.
    let pinned = gateway.config().locked_compose_file.clone();
    if let Some(given) = &compose_file
        && pinned.as_deref() != Some(given.display().to_string().as_str())
    {
        tracing::warn!(
            policy = %paths.policy.display(),
            pinned = ?pinned,
            compose_file = %given.display(),
            "policy.yaml pins another compose file than the one given: compose tools will refuse it; edit the policy"
        );
    }
    let settings = GatewaySettings::for_gateway(&gateway_url, &pi_health_token, pinned.as_deref())
        .map_err(anyhow::Error::msg)?;
    let web_state = crate::pi_health_cmd::prepare(
        &settings,
        &paths.data_dir,
        &args.thermal_dir,
        &args.web.config()?,
    )?;

    let shutdown = CancellationToken::new();
    gateway_cmd::speak_first(&gateway, &shutdown);
    let mcp_app = server::router(
        tools,
        HostPolicy::new(&[]),
        Some(internal),
        shutdown.clone(),
    );
    let gateway_app = api::router(AppState {
        gateway: gateway.clone(),
        tokens,
        allowed_hosts: Vec::new(),
        shutdown: shutdown.clone(),
        mcp_approval_wait: args.mcp.approval_wait(),
    });
    let bind = |address: SocketAddr, setting: &'static str| async move {
        ops_core::net::bind(address).await.with_context(|| {
            format!(
                "cannot listen on {address}: is Ops-Copilot (or another server) already running there? \
                 Stop it, or choose another address with {setting}"
            )
        })
    };
    let mcp_listener = bind(
        args.docker_mcp_listen,
        "--docker-mcp-listen (DOCKER_MCP_LISTEN)",
    )
    .await?;
    let gateway_listener = bind(args.gateway_listen, "--gateway-listen (GATEWAY_LISTEN)").await?;
    let web_listener = bind(args.listen, "--listen (PI_HEALTH_LISTEN)").await?;
    println!(
        "Ops-Copilot is running: open http://{} (sign in as admin). The gateway is at http://{} (POST /chat/tool, /approvals, /audit, /mcp); docker-mcp at http://{} answers only the gateway (and holders of {}). Data: {}. Ctrl-C stops it.",
        web_listener.local_addr()?,
        gateway_listener.local_addr()?,
        mcp_listener.local_addr()?,
        paths.data_dir.join("docker-mcp.token").display(),
        paths.data_dir.display(),
    );
    let stop = shutdown.clone();
    tokio::spawn(async move {
        crate::signals::shutdown().await;
        stop.cancel();
    });
    // Each plane has its own connection limits (ops_core::net): a flood on
    // one port cannot take the others' connections.
    let mcp = ops_core::net::serve(
        mcp_listener,
        mcp_app,
        ops_core::net::Limits::DOCKER_MCP,
        shutdown.clone().cancelled_owned(),
    );
    let gateway_server = ops_core::net::serve(
        gateway_listener,
        gateway_app,
        ops_core::net::Limits::GATEWAY,
        shutdown.clone().cancelled_owned(),
    );
    let web = pi_health::serve(web_listener, web_state, shutdown.clone().cancelled_owned());
    let served = tokio::try_join!(mcp, gateway_server, web);
    gateway_cmd::close_audit(&gateway).await?;
    head_shipper.finish().await;
    served?;
    Ok(())
}
