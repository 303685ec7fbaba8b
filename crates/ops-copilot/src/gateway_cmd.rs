//! `ops-copilot gateway`, `policy check` and `audit verify`: wiring for the
//! policy plane and its operator commands.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use gateway::api::{self, AppState};
use gateway::auth::{TokensHandle, add_token};
use gateway::autoheal::AutoHealer;
use gateway::config::{Config, ConfigHandle};
use gateway::head_shipper::{self, HeadShipping};
use gateway::mcp_facade::{ApprovalWait, DEFAULT_APPROVAL_WAIT};
use gateway::notify::{Notifier, NotifyConfig, NotifyConfigHandle};
use gateway::pipeline::Gateway;
use gateway::state::StateStore;
use gateway::upstream::Upstreams;
use gateway::{host_watch, service_watch};
use tokio_util::sync::CancellationToken;

/// Which tool_registry.yaml and policy.yaml: the ones given, else those in the data
/// directory's `config/` (what `ops-copilot all` writes on first start and serves)
/// when it has them, else the shipped `config/` of the working directory.
#[derive(clap::Args, Clone)]
pub struct ConfigArgs {
    /// The guide's tool_registry.yaml [default: <data-dir>/config/tool_registry.yaml
    /// when it exists, else config/tool_registry.yaml]
    #[arg(long, env = "GATEWAY_REGISTRY")]
    registry: Option<PathBuf>,
    /// The guide's policy.yaml [default: <data-dir>/config/policy.yaml when
    /// <data-dir>/config/tool_registry.yaml exists, else config/policy.yaml]
    #[arg(long, env = "GATEWAY_POLICY")]
    policy: Option<PathBuf>,
    /// Approvals, cooldowns, tokens and the audit log are kept here (and, after
    /// `ops-copilot all`, its configuration in config/).
    #[arg(long, env = "OPS_COPILOT_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,
}

impl ConfigArgs {
    /// The registry and the policy to use, or an error saying where none was found.
    pub fn files(&self) -> anyhow::Result<(PathBuf, PathBuf)> {
        if let (Some(registry), Some(policy)) = (&self.registry, &self.policy) {
            return Ok((registry.clone(), policy.clone()));
        }
        let written = self.data_dir.join("config");
        let dir = if written.join("tool_registry.yaml").is_file() {
            written
        } else {
            PathBuf::from("config")
        };
        let registry = self
            .registry
            .clone()
            .unwrap_or_else(|| dir.join("tool_registry.yaml"));
        let policy = self
            .policy
            .clone()
            .unwrap_or_else(|| dir.join("policy.yaml"));
        for (file, given) in [(&registry, &self.registry), (&policy, &self.policy)] {
            if given.is_some() || file.is_file() {
                continue;
            }
            let name = file.file_name().unwrap_or_default().to_string_lossy();
            if dir == Path::new("config") {
                anyhow::bail!(
                    "no {name}: neither {} (written by `ops-copilot all` on its first start) nor \
                     {} (the shipped file, in the repository's root) exists; give the data \
                     directory of `ops-copilot all` with --data-dir, or the files with \
                     --registry and --policy",
                    crate::absolute(&self.data_dir.join("config").join(&*name)).display(),
                    crate::absolute(file).display(),
                );
            }
            anyhow::bail!(
                "{} is missing while {} exists: restore it (e.g. from config/{name}), or give \
                 the files with --registry and --policy",
                file.display(),
                registry.display()
            );
        }
        Ok((registry, policy))
    }
}

/// The command line's [`Paths`].
#[derive(clap::Args, Clone)]
pub struct PathArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// Token hashes; default: <data-dir>/tokens.yaml.
    #[arg(long, env = "GATEWAY_TOKENS_FILE")]
    tokens: Option<PathBuf>,
    #[command(flatten)]
    audit: AuditArgs,
}

/// Where the audit log's sealing key and witness live: outside the data directory,
/// so that whoever can write the data directory cannot re-seal the log or erase the
/// heads it reported (see the audit crate's threat model).
#[derive(clap::Args, Clone, Default)]
pub struct AuditArgs {
    /// The audit log's sealing key file, outside the data directory (created on first
    /// start, with its initial key written beside it once for you to move offline).
    /// Without one, records are not sealed.
    #[arg(long, env = "OPS_COPILOT_AUDIT_KEY_FILE")]
    pub audit_key_file: Option<PathBuf>,
    /// An append-only file, outside the data directory, that receives the audit log's
    /// head after every write (`ops-copilot audit verify --witness` checks the log
    /// against it).
    #[arg(long, env = "OPS_COPILOT_AUDIT_WITNESS_FILE")]
    pub audit_witness_file: Option<PathBuf>,
    /// A URL off this machine that receives the audit log's head (its newest
    /// record's witness line, POSTed as text) whenever the log has grown: an ntfy
    /// topic, a webhook, a log collector. The lines it receives, saved to a file,
    /// are a witness for `ops-copilot audit verify --witness`.
    #[arg(long, env = "OPS_COPILOT_AUDIT_HEAD_URL")]
    pub audit_head_url: Option<String>,
    /// A file holding the bearer token for --audit-head-url (an ntfy access token, say).
    #[arg(long, env = "OPS_COPILOT_AUDIT_HEAD_TOKEN_FILE")]
    pub audit_head_token_file: Option<PathBuf>,
    /// How often the head is sent, when the log has grown, in seconds.
    #[arg(
        long,
        env = "OPS_COPILOT_AUDIT_HEAD_INTERVAL_SECS",
        default_value_t = 60
    )]
    pub audit_head_interval_secs: u64,
}

/// How long one POST of the audit head may take.
const HEAD_SEND_TIMEOUT: Duration = Duration::from_secs(10);

impl AuditArgs {
    /// Where the audit head goes, if anywhere (the token file read now): called
    /// before anything starts, so a bad setting stops the start with the reason.
    pub fn head_shipping(&self) -> anyhow::Result<Option<HeadShipping>> {
        let Some(url) = self
            .audit_head_url
            .as_deref()
            .filter(|u| !u.trim().is_empty())
        else {
            if self.audit_head_token_file.is_some() {
                anyhow::bail!("--audit-head-token-file is set but --audit-head-url is not");
            }
            return Ok(None);
        };
        let token = match &self.audit_head_token_file {
            Some(file) => {
                let text = std::fs::read_to_string(file).with_context(|| {
                    format!("cannot read the audit head token file {}", file.display())
                })?;
                Some(text.trim().to_owned()).filter(|t| !t.is_empty())
            }
            None => None,
        };
        HeadShipping::new(
            url.trim(),
            token,
            Duration::from_secs(self.audit_head_interval_secs),
            HEAD_SEND_TIMEOUT,
        )
        .map(Some)
        .map_err(anyhow::Error::msg)
    }
}

/// The audit head shipper while it runs; [`HeadShipper::finish`] sends the last head.
pub struct HeadShipper(Option<(CancellationToken, tokio::task::JoinHandle<()>)>);

impl HeadShipper {
    /// Starts sending the head of `gateway`'s audit log, when there is somewhere to.
    pub fn start(gateway: &Gateway, shipping: Option<HeadShipping>) -> Self {
        let Some(shipping) = shipping else {
            return Self(None);
        };
        tracing::info!(url = %shipping.url, every_secs = shipping.every.as_secs(), "sending the audit log's head off the machine");
        let stop = CancellationToken::new();
        let task = head_shipper::spawn(
            gateway.audit_log().clone(),
            shipping,
            gateway.metrics().shipper(),
            stop.clone(),
        );
        Self(Some((stop, task)))
    }

    /// After the audit log is closed: one last send, so the head after the last
    /// calls leaves the machine too (bounded by the send timeout).
    pub async fn finish(self) {
        if let Some((stop, task)) = self.0 {
            stop.cancel();
            let _ = tokio::time::timeout(HEAD_SEND_TIMEOUT * 2, task).await;
        }
    }
}

impl PathArgs {
    pub fn resolve(self) -> anyhow::Result<Paths> {
        let (registry, policy) = self.config.files()?;
        Ok(Paths {
            registry,
            policy,
            data_dir: self.config.data_dir,
            tokens: self.tokens,
            audit_key: self.audit.audit_key_file,
            audit_witness: self.audit.audit_witness_file,
        })
    }
}

/// Where the configuration and the state live.
#[derive(Clone)]
pub struct Paths {
    /// The guide's tool_registry.yaml.
    pub registry: PathBuf,
    /// The guide's policy.yaml.
    pub policy: PathBuf,
    /// Approvals, cooldowns and the audit log are kept here.
    pub data_dir: PathBuf,
    /// Token hashes; default: <data-dir>/tokens.yaml.
    pub tokens: Option<PathBuf>,
    /// The audit log's sealing key file (none: records are not sealed).
    pub audit_key: Option<PathBuf>,
    /// The audit log's witness file (none: no witness).
    pub audit_witness: Option<PathBuf>,
}

impl Paths {
    pub fn tokens_file(&self) -> PathBuf {
        self.tokens
            .clone()
            .unwrap_or_else(|| self.data_dir.join("tokens.yaml"))
    }
    pub fn audit_db(&self) -> PathBuf {
        self.data_dir.join("audit.db")
    }
    pub fn state_db(&self) -> PathBuf {
        self.data_dir.join("state.db")
    }
    /// Where notifications go: `notify.yaml` next to policy.yaml (optional).
    pub fn notify_file(&self) -> PathBuf {
        notify_file(&self.policy)
    }
}

/// `notify.yaml` in the policy's directory.
pub fn notify_file(policy: &Path) -> PathBuf {
    policy.with_file_name("notify.yaml")
}

/// How the MCP endpoint `/mcp` answers a call that needs a person's approval.
#[derive(clap::Args, Clone)]
pub struct McpArgs {
    /// How long an MCP call that needs a person's approval waits for the decision,
    /// in seconds (telling a client that asks for progress how long it has waited),
    /// then answers with the tool's result, the denial, or, when nobody decided in
    /// time, the approval id (left pending). 0: it answers at once with the id.
    #[arg(
        long,
        env = "GATEWAY_MCP_APPROVAL_WAIT_SECONDS",
        default_value_t = DEFAULT_APPROVAL_WAIT.as_secs(),
        value_parser = clap::value_parser!(u64).range(0..=MAX_APPROVAL_WAIT_SECONDS),
    )]
    pub mcp_approval_wait_seconds: u64,
}

/// An MCP client's request should not stay open longer than this (an approval
/// lasts 15 minutes by default).
const MAX_APPROVAL_WAIT_SECONDS: u64 = 3600;

impl McpArgs {
    pub fn approval_wait(&self) -> ApprovalWait {
        ApprovalWait {
            wait: Duration::from_secs(self.mcp_approval_wait_seconds),
            ..ApprovalWait::default()
        }
    }
}

#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    #[command(subcommand)]
    command: Option<GatewayCommand>,
    #[command(flatten)]
    paths: PathArgs,
    /// Where to serve the gateway's HTTP API.
    #[arg(long, env = "GATEWAY_LISTEN", default_value = "127.0.0.1:8090")]
    listen: SocketAddr,
    /// Host names the MCP endpoint answers besides loopback (comma-separated).
    #[arg(
        long,
        env = "GATEWAY_ALLOWED_HOSTS",
        value_delimiter = ',',
        default_value = "ai-gateway"
    )]
    allowed_host: Vec<String>,
    #[command(flatten)]
    mcp: McpArgs,
}

#[derive(clap::Subcommand)]
enum GatewayCommand {
    /// Manage bearer tokens.
    #[command(subcommand)]
    Token(TokenCommand),
}

#[derive(clap::Subcommand)]
enum TokenCommand {
    /// Make a token for NAME with ROLE; prints it once (only its hash is stored).
    Add {
        name: String,
        #[arg(long)]
        role: String,
        /// Roles NAME may assert for a person it acts for (`X-On-Behalf-Role`
        /// with `X-On-Behalf-Of`), e.g. `admin,standard` for pi-health.
        #[arg(long, value_delimiter = ',')]
        may_act_as: Vec<String>,
        #[command(flatten)]
        paths: PathArgs,
    },
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    match args.command {
        Some(GatewayCommand::Token(TokenCommand::Add {
            name,
            role,
            may_act_as,
            paths,
        })) => {
            let paths = paths.resolve()?;
            let config = Config::load(&paths.registry, &paths.policy)?;
            for role in std::iter::once(&role).chain(&may_act_as) {
                if !config.roles.contains_key(role) {
                    anyhow::bail!(
                        "role {role} is not defined in {} (roles: {})",
                        paths.policy.display(),
                        config.roles.keys().cloned().collect::<Vec<_>>().join(", ")
                    );
                }
            }
            let file = paths.tokens_file();
            let token = add_token(&file, &name, &role, &may_act_as)?;
            eprintln!(
                "token for {name} ({role}) added to {}; it is shown only now:",
                file.display()
            );
            println!("{token}");
            Ok(())
        }
        None => {
            let audit = args.paths.audit.clone();
            serve(
                args.paths.resolve()?,
                &audit,
                args.listen,
                args.allowed_host,
                args.mcp.approval_wait(),
            )
            .await
        }
    }
}

/// Opens everything the gateway needs, refusing to start on bad configuration.
pub fn open(paths: &Paths) -> anyhow::Result<(Arc<Gateway>, Arc<TokensHandle>)> {
    let config = ConfigHandle::load(&paths.registry, &paths.policy)?;
    for warning in &config.current().warnings {
        tracing::warn!("{warning}");
    }
    std::fs::create_dir_all(&paths.data_dir).with_context(|| {
        format!(
            "cannot create the data directory {}",
            paths.data_dir.display()
        )
    })?;
    let state = Arc::new(StateStore::open(&paths.state_db())?);
    let audit = Arc::new(open_audit(paths)?);
    let tokens = Arc::new(TokensHandle::load(&paths.tokens_file())?);
    if tokens.current().is_empty() {
        let add = crate::printable_command([
            std::ffi::OsStr::new("gateway"),
            "token".as_ref(),
            "add".as_ref(),
            "NAME".as_ref(),
            "--role".as_ref(),
            "admin".as_ref(),
            "--data-dir".as_ref(),
            crate::absolute(&paths.data_dir).as_os_str(),
        ]);
        tracing::warn!(
            file = %paths.tokens_file().display(),
            "no tokens yet: add one with `{add}`"
        );
    }
    let gateway = Arc::new(
        Gateway::new(config, state, audit, Upstreams::for_config).map_err(anyhow::Error::msg)?,
    );
    start_notifier(&gateway, &paths.notify_file())?;
    Ok((gateway, tokens))
}

/// Loads `notify.yaml` (absent: nothing is sent; a bad one stops the start with
/// its file:line) and attaches a notifier that follows its edits. Texts are
/// redacted with the gateway's redactor in force.
fn start_notifier(gateway: &Arc<Gateway>, file: &Path) -> anyhow::Result<()> {
    let handle = NotifyConfigHandle::load_notify(file)?;
    let targets: Vec<String> = handle
        .current()
        .targets
        .iter()
        .map(|t| t.name.clone())
        .collect();
    if targets.is_empty() {
        tracing::info!(file = %file.display(), "no notification targets (see docs/notifications.md)");
    } else {
        tracing::info!(file = %file.display(), targets = %targets.join(", "), "notifications on");
    }
    // Weak: the gateway holds the notifier, which must not keep the gateway alive.
    let weak = Arc::downgrade(gateway);
    let fallback = Arc::new(redact::Redactor::new(&[])?);
    let refused = handle.clone();
    let notifier = Notifier::start(
        move || handle.current(),
        move || {
            weak.upgrade()
                .map(|g| g.redactor(&g.config()))
                .unwrap_or_else(|| fallback.clone())
        },
        gateway.metrics().notify(),
    );
    notifier.report_refused_edits(move || refused.last_error().map(|e| e.to_string()));
    if gateway.attach_notifier(notifier).is_err() {
        anyhow::bail!("a notifier was already attached");
    }
    Ok(())
}

/// What the gateway does unasked, until `shutdown`: it follows the stack's
/// service events for the notifications and auto-heal (which acts only while
/// the policy has an `autoheal:` section), and checks the host. Started by
/// `gateway` and by `all` alike.
pub fn speak_first(gateway: &Arc<Gateway>, shutdown: &CancellationToken) {
    let notifier = gateway
        .notifier()
        .cloned()
        .unwrap_or_else(Notifier::disabled);
    let healer = AutoHealer::start(gateway.clone(), notifier.clone(), shutdown.clone());
    host_watch::spawn(notifier.clone(), shutdown.clone());
    service_watch::spawn(gateway.clone(), notifier, healer, shutdown.clone());
}

async fn serve(
    paths: Paths,
    audit: &AuditArgs,
    listen: SocketAddr,
    allowed_hosts: Vec<String>,
    mcp_approval_wait: ApprovalWait,
) -> anyhow::Result<()> {
    let head_shipping = audit.head_shipping()?;
    let (gateway, tokens) = open(&paths)?;
    let head_shipper = HeadShipper::start(&gateway, head_shipping);
    let shutdown = CancellationToken::new();
    speak_first(&gateway, &shutdown);
    let app = api::router(AppState {
        gateway: gateway.clone(),
        tokens,
        allowed_hosts,
        shutdown: shutdown.clone(),
        mcp_approval_wait,
    });
    let listener = ops_core::net::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    tracing::info!(listen = %listener.local_addr()?, "ai-gateway serving /chat/tool, /approvals, /audit, /health");
    let served = ops_core::net::serve(listener, app, ops_core::net::Limits::GATEWAY, async move {
        crate::signals::shutdown().await;
        shutdown.cancel();
    })
    .await;
    close_audit(&gateway).await?;
    head_shipper.finish().await;
    Ok(served?)
}

/// After the servers stopped: stores every audit record still queued (a read is
/// answered before its record is written), then refuses new ones, so that a call
/// still running somewhere is refused rather than answered unaudited.
pub async fn close_audit(gateway: &Gateway) -> anyhow::Result<()> {
    gateway
        .close_audit()
        .await
        .map_err(|error| anyhow::anyhow!("closing the audit log: {error}"))?;
    tracing::info!("audit log closed: every record is stored");
    Ok(())
}

/// `ops-copilot policy check`: validates the files without starting anything.
pub fn policy_check(registry: &Path, policy: &Path) -> anyhow::Result<()> {
    let config = Config::load(registry, policy)?;
    let redactor = redact::Redactor::new(&config.defaults.redact_patterns)
        .with_context(|| format!("{}: defaults.redact_patterns", policy.display()))?;
    for (index, pattern) in config.defaults.redact_patterns.iter().enumerate() {
        let (unescaped, changed) = redact::unescape_policy_pattern(pattern);
        if changed {
            println!("note: redact_patterns[{index}] is double-escaped; used as {unescaped}");
        }
    }
    for warning in &config.warnings {
        println!("warning: {warning}");
    }
    let notify = notify_file(policy);
    if notify.exists() {
        let notify_config = NotifyConfig::load(&notify)?;
        for warning in &notify_config.warnings {
            println!("warning: {warning}");
        }
        let count = notify_config.targets.len();
        println!(
            "ok: {}: {count} notification target{}",
            notify.display(),
            if count == 1 { "" } else { "s" }
        );
    }
    println!(
        "ok: {} and {}: {} tools on {} services, {} roles, {} redaction patterns from the policy plus {} built-in detectors, version {}",
        registry.display(),
        policy.display(),
        config.tools.len(),
        config.services.len(),
        config.roles.len(),
        config.defaults.redact_patterns.len(),
        redactor
            .describe()
            .len()
            .saturating_sub(config.defaults.redact_patterns.len()),
        config.version
    );
    Ok(())
}

/// The audit log, sealed and witnessed when `paths` say so. On the first start with
/// a key file, its initial key is written once to `<key file>.initial.<first seq>`
/// (owner-only) for the operator to move offline: it is what `audit verify
/// --key-file` needs, and nothing else keeps it.
fn open_audit(paths: &Paths) -> anyhow::Result<audit::AuditLog> {
    let options = audit::AuditOptions {
        key_file: paths.audit_key.clone(),
        witness_file: paths.audit_witness.clone(),
        create_key: true,
        ..audit::AuditOptions::default()
    };
    let log = audit::AuditLog::open_with(&paths.audit_db(), options)?;
    match (&paths.audit_key, log.take_initial_key()) {
        (Some(key_file), Some(initial)) => {
            let mut copy = key_file.as_os_str().to_owned();
            copy.push(format!(".initial.{}", initial.first_seq()));
            let copy = PathBuf::from(copy);
            if let Err(error) = write_secret(&copy, &initial.file_text()) {
                // Without the copy nobody could ever check these seals: start over
                // with a new key next time rather than seal with this one.
                let _ = std::fs::remove_file(key_file);
                return Err(error.context("saving the audit log's initial sealing key"));
            }
            let verify = crate::printable_command([
                std::ffi::OsStr::new("audit"),
                "verify".as_ref(),
                "--data-dir".as_ref(),
                crate::absolute(&paths.data_dir).as_os_str(),
                "--key-file".as_ref(),
                "INITIAL-KEY-FILE".as_ref(),
            ]);
            tracing::warn!(
                initial_key = %crate::absolute(&copy).display(),
                key_file = %crate::absolute(key_file).display(),
                "the audit log is sealed with a new key: MOVE the initial key file off this \
                 machine and delete it here; it is the only way to prove the audit log \
                 untouched later (`{verify}`)"
            );
        }
        (None, _) => tracing::warn!(
            "the audit log is not sealed (no --audit-key-file): whoever can write the data \
             directory can rewrite it undetected"
        ),
        (Some(_), None) => {}
    }
    Ok(log)
}

/// Writes `text` to a new file readable by the owner only (never over an existing one).
pub fn write_secret(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))
}

/// `ops-copilot audit verify`: checks the hash chain of the audit log and its head
/// anchor; with the initial key also every seal, with the witness every head it
/// recorded. Prints what that proves and what it does not.
pub fn audit_verify(
    data_dir: &Path,
    key_file: Option<&Path>,
    witness: Option<&Path>,
) -> anyhow::Result<()> {
    let path = data_dir.join("audit.db");
    if !path.exists() {
        anyhow::bail!("no audit log at {}", path.display());
    }
    let key = key_file.map(audit::SealKey::read_file).transpose()?;
    let log = audit::AuditLog::open(&path)?;
    let report = log.verify_with(&audit::VerifyOptions {
        key,
        witness_file: witness.map(Path::to_owned),
    })?;
    if report.ok {
        println!(
            "ok: {} records ({} sealed), head {} {}",
            report.records, report.sealed, report.head_seq, report.head
        );
        for line in &report.proven {
            println!("proven: {line}");
        }
    } else {
        for problem in &report.problems {
            println!("TAMPERED: {problem}");
        }
    }
    for line in &report.not_proven {
        println!("not proven: {line}");
    }
    if report.ok {
        Ok(())
    } else {
        anyhow::bail!("the audit log at {} fails verification", path.display())
    }
}
