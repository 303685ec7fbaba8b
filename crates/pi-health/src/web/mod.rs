//! The pi-health web app: sign-in, the pages, and the JSON API behind them
//! (`/api/ops-copilot/chat` and `/approve` of the guide's contract,
//! `/api/system-stats`, `/api/containers`, `/api/containers/stats`, and the
//! gateway's approvals and audit).

mod actions;
mod api;
mod assets;
mod client_address;
mod cookies;
mod devices;
mod guard;
mod host_picker;
mod hosts;
mod live_logs;
mod login;
mod pages;
mod ratelimit;
mod readiness;
mod resources;
mod session;
mod status_reads;
mod update_checks;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::routing::{get, post};

use crate::agent::Agent;
use crate::chat_history::ChatHistory;
use crate::pending::PendingActions;
use crate::users::Users;
use devices::Devices;
use ratelimit::{Backoff, CheckSlots, Clock, Limits, LoginLimiter};
use session::Sessions;
use status_reads::StatusReads;

pub use client_address::TrustedProxies;

/// Request bodies larger than this are refused.
const MAX_BODY_BYTES: usize = 16 * 1024;
/// Signed-in sessions, in the data directory (they survive a restart).
const SESSIONS_FILE: &str = "pi-health-sessions.json";
/// Each person's recent chat, one file each, in the data directory.
const HISTORY_DIR: &str = "pi-health-chat";
/// Argon2 checks running at once: each takes ~19 MiB (Argon2id's default
/// parameters) and a core; two leave a Pi's other cores to the rest.
const CHECKS_RUNNING: usize = 2;
/// Sign-ins waiting for a check; beyond, one is refused at once (503).
const CHECKS_WAITING: usize = 8;
/// Throttled sign-in keys (address, address and name, name) kept at most.
const LIMITER_KEYS: usize = 10_000;
/// A browser that signed in is trusted this long after its last sign-in.
const DEVICE_LIFETIME: Duration = Duration::from_secs(30 * 24 * 3600);
/// Trusted browsers per user, and in all.
const DEVICES_PER_USER: usize = 10;
const DEVICES_MAX: usize = 10_000;

/// The app's knobs; [`WebConfig::default`] is what `ops-copilot pi-health` uses.
#[derive(Debug, Clone)]
pub struct WebConfig {
    /// Mark cookies `Secure` (and send HSTS): the app is reached over https.
    pub secure_cookies: bool,
    /// A session unused this long ends.
    pub session_idle: Duration,
    /// A session ends this long after sign-in, used or not.
    pub session_lifetime: Duration,
    /// Sessions one user keeps at most: a new one pushes out that user's
    /// least recently used.
    pub max_sessions_per_user: usize,
    /// Sessions kept at most, all users together: a safety bound (the least
    /// recently used go), well above the users times `max_sessions_per_user`.
    pub max_sessions: usize,
    /// How long a suggestion can be approved.
    pub suggestion_ttl: Duration,
    /// Failed sign-ins per client address and user name (and per browser
    /// that signed in as that user before) before each further attempt waits
    /// 1 s, 2 s, 4 s ...; a client address alone gets twice as many, a user
    /// name from anywhere as many.
    pub login_free_failures: u32,
    /// The longest such wait (for an address, an address and user name, a browser).
    pub login_max_backoff: Duration,
    /// The longest wait of a user name tried from anywhere (untrusted
    /// browsers only): short, so that guessing from many addresses slows the
    /// owner down rather than locking them out.
    pub login_name_max_backoff: Duration,
    /// Reverse proxies whose `X-Forwarded-For` names the client (for the
    /// sign-in back-off and the logs); none by default.
    pub trusted_proxies: TrustedProxies,
    /// The Containers page's CPU and memory are read at most once per this
    /// long (one `compose_stats` round shared by every open page), and only
    /// while a page asks.
    pub stats_interval: Duration,
}

impl Default for WebConfig {
    fn default() -> Self {
        Self {
            secure_cookies: false,
            session_idle: Duration::from_secs(30 * 60),
            session_lifetime: Duration::from_secs(12 * 3600),
            max_sessions_per_user: 10,
            max_sessions: 10_000,
            suggestion_ttl: Duration::from_secs(10 * 60),
            login_free_failures: 5,
            login_max_backoff: Duration::from_secs(15 * 60),
            login_name_max_backoff: Duration::from_secs(30),
            trusted_proxies: TrustedProxies::default(),
            stats_interval: crate::resources::DEFAULT_INTERVAL,
        }
    }
}

/// What the handlers share; they take it as [`Shared`] (the `Arc` inside
/// [`AppState`], which keeps it out of the crate's public API).
pub(crate) struct Inner {
    pub(crate) agent: Agent,
    pub(crate) users: Users,
    pub(crate) sessions: Sessions,
    pub(crate) pending: PendingActions,
    pub(crate) history: ChatHistory,
    pub(crate) status_reads: StatusReads,
    limiter: LoginLimiter,
    devices: Devices,
    cookies: cookies::Policy,
    check_slots: CheckSlots,
    clock: Clock,
    trusted_proxies: TrustedProxies,
    /// The last `/health/ready` answer, reused for a few seconds.
    readiness: ops_core::recent::Recent<readiness::Readiness>,
    /// The containers' CPU and memory of the last hour, shared by every page
    /// (the default Docker host's).
    resources: crate::resources::Resources,
    /// The same for each other Docker host a page asked about.
    host_resources:
        std::sync::Mutex<std::collections::HashMap<String, Arc<crate::resources::Resources>>>,
    /// How often the containers' figures are read.
    stats_interval: Duration,
    /// The last update check per role, for the pages' badges.
    pub(crate) update_checks: update_checks::UpdateChecks,
    /// Cancelled when the app stops: live log streams end (and say so) rather
    /// than hold the graceful stop open.
    streams_end: tokio_util::sync::CancellationToken,
}

/// The handlers' state.
pub(crate) type Shared = Arc<Inner>;

/// The web app's state, made once with [`AppState::new`] and given to [`serve`].
pub struct AppState(Shared);

impl AppState {
    /// The app's state: `agent` answers the chat, `users` sign in, `config`
    /// sets the sessions, sign-in limits and suggestion lifetime.
    pub fn new(agent: Agent, users: Users, config: &WebConfig) -> Self {
        // Beside the users file: the data directory.
        let sessions_file = users.path().with_file_name(SESSIONS_FILE);
        let history_file = users.path().with_file_name(HISTORY_DIR);
        Self(Arc::new(Inner {
            agent,
            users,
            sessions: Sessions::new(
                config.session_idle,
                config.session_lifetime,
                config.max_sessions_per_user,
                config.max_sessions,
            )
            .with_file(sessions_file),
            history: ChatHistory::new(history_file),
            status_reads: StatusReads::new(),
            pending: PendingActions::new(config.suggestion_ttl, 20, 10_000),
            limiter: LoginLimiter::new(
                Limits {
                    free: config.login_free_failures,
                    max_backoff: config.login_max_backoff,
                    name_max_backoff: config.login_name_max_backoff,
                },
                LIMITER_KEYS,
            ),
            devices: Devices::new(
                Backoff {
                    free: config.login_free_failures.max(1),
                    cap: config.login_max_backoff,
                },
                DEVICE_LIFETIME,
                DEVICES_PER_USER,
                DEVICES_MAX,
            ),
            cookies: cookies::Policy {
                secure: config.secure_cookies,
            },
            check_slots: CheckSlots::new(CHECKS_RUNNING, CHECKS_WAITING),
            clock: Clock::default(),
            trusted_proxies: config.trusted_proxies.clone(),
            readiness: ops_core::recent::Recent::new(readiness::FRESH_FOR),
            resources: crate::resources::Resources::new(config.stats_interval),
            host_resources: std::sync::Mutex::default(),
            stats_interval: config.stats_interval,
            streams_end: tokio_util::sync::CancellationToken::new(),
            update_checks: update_checks::UpdateChecks::default(),
        }))
    }
}

fn router(AppState(state): AppState) -> Router {
    let api = Router::new()
        .route("/api/ops-copilot/chat", post(api::chat))
        .route("/api/ops-copilot/approve", post(api::approve))
        .route(
            "/api/ops-copilot/history",
            get(api::history).delete(api::clear_history),
        )
        .route("/api/ops-copilot/suggest", post(actions::suggest))
        .route("/api/ops-copilot/diagnose", post(actions::diagnose))
        .route("/api/ops-copilot/actions", get(actions::rights))
        .route("/api/system-stats", get(api::system_stats))
        .route("/api/containers", get(api::containers))
        .route("/api/containers/stats", get(resources::stats))
        .route("/api/hosts", get(hosts::overview))
        .route("/api/logs/follow", get(live_logs::follow))
        .route("/api/approvals", get(api::approvals))
        .route("/api/approvals/{id}/approve", post(api::approve_gateway))
        .route("/api/approvals/{id}/deny", post(api::deny_gateway))
        .route("/api/audit", get(api::audit))
        .layer(middleware::from_fn(guard::require_csrf));
    let pages = Router::new()
        .route("/", get(pages::dashboard))
        .route("/containers", get(pages::containers))
        .route("/chat", get(pages::chat))
        .route("/approvals", get(pages::approvals))
        .route("/audit", get(pages::audit))
        .route("/logout", post(login::logout));
    let signed_in = api.merge(pages).layer(middleware::from_fn_with_state(
        state.clone(),
        guard::require_session,
    ));
    Router::new()
        .route("/login", get(login::form).post(login::submit))
        .route("/static/app.js", get(assets::js))
        .route("/static/app.css", get(assets::css))
        .route("/health", get(api::health))
        .route("/health/ready", get(readiness::ready))
        .merge(signed_in)
        .fallback(api::not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            guard::security_headers,
        ))
        .with_state(state)
}

/// Serves the app until `shutdown` completes, within the web plane's
/// connection limits and timeouts ([`ops_core::net::Limits::WEB`]); handlers
/// see the client's address as `ConnectInfo<SocketAddr>`.
pub async fn serve(
    listener: ops_core::net::Listener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let streams_end = state.0.streams_end.clone();
    let shutdown = async move {
        shutdown.await;
        streams_end.cancel();
    };
    ops_core::net::serve(
        listener,
        router(state),
        ops_core::net::Limits::WEB,
        shutdown,
    )
    .await
}

#[cfg(test)]
mod tests;
