//! `ops-copilot pi-health` and `ops-copilot pi-health user add`: wiring for the
//! experience plane (the web app, its chat agent and optional language model,
//! host statistics).

use std::io::{BufRead, IsTerminal, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use pi_health::{
    Agent, AppState, GatewaySettings, HostProbe, Model, ModelSettings, TrustedProxies, Users,
    WebConfig,
};

#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    #[command(subcommand)]
    command: Option<PiHealthCommand>,
    /// Where to serve the web app (the guide's pi-health answers on port 8080).
    #[arg(long, env = "PI_HEALTH_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    #[command(flatten)]
    data: DataDir,
    #[command(flatten)]
    web: WebArgs,
    /// The thermal zones (the Raspberry Pi's is /sys/class/thermal/thermal_zone0).
    #[arg(
        long,
        env = "PI_HEALTH_THERMAL_DIR",
        default_value = "/sys/class/thermal"
    )]
    thermal_dir: PathBuf,
}

/// How the web app treats its visitors: `pi-health` and `all` take the same.
#[derive(clap::Args)]
pub struct WebArgs {
    /// Mark the session cookie Secure (and send HSTS): set it when users reach
    /// the app over https (directly or behind a TLS proxy).
    #[arg(long, env = "PI_HEALTH_SECURE_COOKIES")]
    secure_cookies: bool,
    /// How long a suggested action can be approved, in seconds.
    #[arg(long, env = "PI_HEALTH_SUGGESTION_TTL_SECS", default_value_t = 600)]
    suggestion_ttl_secs: u64,
    /// A reverse proxy (address or network, e.g. 172.16.0.0/12) whose
    /// X-Forwarded-For names the client; repeat it or separate with commas. Set
    /// it when pi-health is behind a proxy, so that sign-in back-off counts each
    /// client rather than the proxy.
    #[arg(
        long = "trusted-proxy",
        env = "PI_HEALTH_TRUSTED_PROXIES",
        value_delimiter = ','
    )]
    trusted_proxies: Vec<String>,
}

impl WebArgs {
    pub fn config(&self) -> anyhow::Result<WebConfig> {
        Ok(WebConfig {
            secure_cookies: self.secure_cookies,
            suggestion_ttl: Duration::from_secs(self.suggestion_ttl_secs.max(1)),
            trusted_proxies: TrustedProxies::parse(&self.trusted_proxies)
                .map_err(|problem| anyhow::anyhow!("--trusted-proxy: {problem}"))?,
            ..WebConfig::default()
        })
    }
}

#[derive(clap::Args, Clone)]
pub struct DataDir {
    /// The users file (pi-health-users.json) is kept here.
    #[arg(long, env = "OPS_COPILOT_DATA_DIR", default_value = "data")]
    data_dir: PathBuf,
}

#[derive(clap::Subcommand)]
enum PiHealthCommand {
    /// Manage the web app's users.
    #[command(subcommand)]
    User(UserCommand),
}

#[derive(clap::Subcommand)]
enum UserCommand {
    /// Add NAME, or set its password; the password is read from standard input.
    Add {
        name: String,
        /// The gateway role pi-health asserts for NAME (new users: standard;
        /// an existing user keeps theirs unless this is given). The gateway
        /// accepts it when pi-health's token may assert it (`may_act_as`).
        #[arg(long)]
        role: Option<String>,
        #[command(flatten)]
        data: DataDir,
    },
    /// Sign NAME out everywhere: their sessions end at their next request,
    /// in a running pi-health too.
    Revoke {
        name: String,
        #[command(flatten)]
        data: DataDir,
    },
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    match args.command {
        Some(PiHealthCommand::User(UserCommand::Add { name, role, data })) => {
            add_user(&data.data_dir, &name, role.as_deref())
        }
        Some(PiHealthCommand::User(UserCommand::Revoke { name, data })) => {
            let users = Users::in_data_dir(&data.data_dir);
            users.revoke_sessions(&name).map_err(anyhow::Error::msg)?;
            eprintln!("{name} is signed out everywhere");
            Ok(())
        }
        None => serve(args).await,
    }
}

/// Reads one line from stdin (without echo on a terminal).
fn read_password(name: &str) -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    let terminal = stdin.is_terminal();
    if terminal {
        eprint!("password for {name}: ");
        std::io::stderr().flush().ok();
        set_echo(false);
    }
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    if terminal {
        set_echo(true);
        eprintln!();
    }
    read.context("cannot read the password from standard input")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

fn set_echo(on: bool) {
    let _ = std::process::Command::new("stty")
        .arg(if on { "echo" } else { "-echo" })
        .stdin(std::process::Stdio::inherit())
        .status();
}

fn add_user(data_dir: &Path, name: &str, role: Option<&str>) -> anyhow::Result<()> {
    let password = read_password(name)?;
    let users = Users::in_data_dir(data_dir);
    users
        .add(name, &password, role)
        .map_err(anyhow::Error::msg)?;
    eprintln!("user {name} saved in {}", users.path().display());
    Ok(())
}

/// The app's state: the gateway settings checked, the first user made (its
/// password printed once), the agent ready. Shared by `pi-health` and `all`.
pub fn prepare(
    settings: &GatewaySettings,
    data_dir: &Path,
    thermal_dir: &Path,
    config: &WebConfig,
) -> anyhow::Result<AppState> {
    match &settings.base_url {
        None => tracing::warn!(
            "DOCKER_MCP_BASE_URL is not set: offline mode (host statistics only; containers can be neither read nor changed)"
        ),
        Some(url) => {
            tracing::info!(gateway = %url, compose_file = %settings.compose_file, "Docker integration through the ai-gateway");
            if settings.token.is_none() {
                tracing::warn!(
                    "no gateway token: set PI_HEALTH_GATEWAY_TOKEN_FILE (or PI_HEALTH_GATEWAY_TOKEN) to a token made with `ops-copilot gateway token add pi-health --role admin --may-act-as admin,standard`"
                );
            }
        }
    }
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create the data directory {}", data_dir.display()))?;
    let users = Users::in_data_dir(data_dir);
    if let Some((name, password)) = users.ensure_initial().map_err(anyhow::Error::msg)? {
        let data_dir = crate::absolute(data_dir);
        let word = std::ffi::OsStr::new;
        let change = crate::printable_command([
            word("pi-health"),
            word("user"),
            word("add"),
            word(&name),
            word("--data-dir"),
            data_dir.as_os_str(),
        ]);
        println!(
            "pi-health: created the user {name} with the password {password}\n\
             pi-health: it is shown only now; change it with (the new password on standard input):\n  {change}"
        );
    }
    let agent = Agent::new(settings, HostProbe::new(thermal_dir)).with_model(language_model()?);
    Ok(AppState::new(agent, users, config))
}

/// The chat's optional language model, from `OPS_COPILOT_LLM_*` (for `pi-health`
/// and `all` alike); `None` when `OPS_COPILOT_LLM_BASE_URL` is unset.
fn language_model() -> anyhow::Result<Option<Model>> {
    let Some(settings) = ModelSettings::from_env().map_err(anyhow::Error::msg)? else {
        tracing::info!(
            "OPS_COPILOT_LLM_BASE_URL is not set: the built-in planner answers the chat"
        );
        return Ok(None);
    };
    tracing::info!(
        model = %settings.model,
        endpoint = %settings.endpoint(),
        timeout_seconds = settings.timeout.as_secs_f64(),
        "language model for the chat: it proposes, pi-health checks; the built-in planner answers when it cannot"
    );
    if let Some(warning) = settings.plain_http_key_warning() {
        tracing::warn!("{warning}");
    }
    Ok(Some(Model::new(&settings).map_err(anyhow::Error::msg)?))
}

async fn serve(args: Args) -> anyhow::Result<()> {
    let settings = GatewaySettings::from_env().map_err(anyhow::Error::msg)?;
    let config = args.web.config()?;
    let state = prepare(&settings, &args.data.data_dir, &args.thermal_dir, &config)?;
    let listener = ops_core::net::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    tracing::info!(url = %format!("http://{}", listener.local_addr()?), "pi-health serving");
    pi_health::serve(listener, state, crate::signals::shutdown()).await?;
    Ok(())
}
