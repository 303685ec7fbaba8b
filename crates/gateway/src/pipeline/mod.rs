//! The decision pipeline of `/chat/tool`, the approvals and the MCP facade, by
//! stage:
//!
//! - [`call`]: a call, in the guide's order: unknown tool, bad arguments, role,
//!   cooldown, approval (a malformed `X-On-Behalf-Of` is refused first);
//! - [`approvals`]: requesting, approving, denying and listing approvals;
//! - [`run`]: running a call: the target's lock, the cooldown, consuming its
//!   approval, the durable `approved` record, the service call, output guards;
//! - [`conclude`]: every outcome into the audit log, refusals included;
//! - [`standing`]: auto-heal's restarts, on the policy's standing approval;
//! - [`waiting`]: a call waiting for the human decision on its approval (the
//!   MCP facade's), told it by whoever decides;
//! - [`stream`]: live streams (followed logs): admitted as a call, then paced,
//!   redacted line by line, bounded, audited when they open and close;
//! - who may do what is decided in [`crate::decision`], nowhere here.
//!
//! Durability: every record of a mutating or approval-bound tool, and every
//! record about an approval, is durable before the caller gets an answer (and
//! before a mutating call runs). A call that changes nothing (a read, or a
//! refused read) hands its record to the group-commit writer and answers at
//! once; see [`crate::audit_writer`] for what that gives up and how a failing
//! store makes every call wait again.

use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use audit::AuditLog;
use redact::Redactor;

mod approvals;
mod call;
mod conclude;
mod locks;
mod record;
mod reply;
mod run;
mod standing;
mod stream;
mod waiting;

pub use reply::{CallRequest, Executed, NeedApproval, Refusal, RefusalCode, Reply};
pub use stream::StreamLimits;
pub use waiting::{Decided, Waiter};

use crate::audit_writer::AuditWriter;
use crate::config::{Config, ConfigHandle};
use crate::metrics::Metrics;
use crate::state::StateStore;
use crate::upstream::{Readiness, Upstream, Upstreams};

/// How long one service's health probe may take: a readiness answer stays quick.
const READINESS_PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a readiness answer is reused: a monitor polling every second costs
/// one probe per service every few seconds.
const READINESS_FRESH_FOR: Duration = Duration::from_secs(3);

/// Each service's readiness, by name.
pub type ServicesReadiness = Vec<(String, Readiness)>;

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

/// A request or approval id; without randomness nothing is decided (fail closed).
fn new_id() -> Result<String, Refusal> {
    ops_core::contract::ids::new_id().map_err(|error| {
        tracing::error!(%error, "no id can be made; refusing the request");
        Refusal::new(
            RefusalCode::Internal,
            "internal error; see the gateway's log",
        )
    })
}

/// The policy plane's state and its collaborators.
pub struct Gateway {
    config: ConfigHandle,
    state: Arc<StateStore>,
    audit: Arc<AuditLog>,
    audit_writer: AuditWriter,
    upstreams: RwLock<Arc<Upstreams>>,
    redactor: RwLock<(String, Arc<Redactor>)>,
    /// Targets (the stack, or one service) with a mutating call in flight.
    locks: locks::Locks,
    metrics: Metrics,
    /// Tests swap in fake upstreams; production builds them from the registry.
    build_upstreams: Box<BuildUpstreams>,
    /// The last readiness probe of the services.
    readiness: ops_core::recent::Recent<ServicesReadiness>,
    /// Live streams open now, and their bounds (see [`stream`]).
    streams: stream::OpenStreams,
    stream_limits: StreamLimits,
    /// Where notifications go (`notify.yaml`), once attached.
    notifier: std::sync::OnceLock<crate::notify::Notifier>,
    /// Calls waiting for the decision on their approval (see [`waiting`]).
    waiters: waiting::Waiters,
}

/// Makes the service clients for a configuration.
type BuildUpstreams = dyn Fn(&Config) -> Result<Upstreams, String> + Send + Sync;

fn build_redactor(config: &Config) -> Result<Redactor, String> {
    Redactor::new(&config.defaults.redact_patterns).map_err(|e| e.to_string())
}

impl Gateway {
    pub fn new(
        config: ConfigHandle,
        state: Arc<StateStore>,
        audit: Arc<AuditLog>,
        build_upstreams: impl Fn(&Config) -> Result<Upstreams, String> + Send + Sync + 'static,
    ) -> Result<Self, String> {
        let current = config.current();
        let upstreams = build_upstreams(&current)?;
        let redactor = build_redactor(&current)?;
        let metrics = Metrics::default();
        Ok(Self {
            upstreams: RwLock::new(Arc::new(upstreams)),
            redactor: RwLock::new((current.version.clone(), Arc::new(redactor))),
            config,
            state,
            audit_writer: AuditWriter::start(audit.clone(), metrics.writer()),
            audit,
            locks: locks::Locks::default(),
            metrics,
            build_upstreams: Box::new(build_upstreams),
            readiness: ops_core::recent::Recent::new(READINESS_FRESH_FOR),
            streams: stream::OpenStreams::default(),
            stream_limits: StreamLimits::default(),
            notifier: std::sync::OnceLock::new(),
            waiters: waiting::Waiters::default(),
        })
    }

    /// The client of one service of `config`, for the gateway's own reads (the
    /// service events behind the notifications), outside any caller's call.
    pub fn service_client(&self, config: &Config, service: &str) -> Option<Arc<dyn Upstream>> {
        self.upstreams(config).get(service)
    }

    /// Other bounds for live streams (tests use small ones).
    pub fn with_stream_limits(mut self, limits: StreamLimits) -> Self {
        self.stream_limits = limits;
        self
    }

    /// Whether each service of the configuration in force answers its health
    /// probe (all at once, each within [`READINESS_PROBE_TIMEOUT`]); reused for
    /// [`READINESS_FRESH_FOR`].
    pub async fn readiness(&self) -> ServicesReadiness {
        self.readiness
            .get_or_make(|| async {
                let upstreams = self.upstreams(&self.config());
                let mut probes = tokio::task::JoinSet::new();
                for (name, client) in upstreams.all() {
                    let (name, client) = (name.to_owned(), client.clone());
                    probes.spawn(
                        async move { (name, client.readiness(READINESS_PROBE_TIMEOUT).await) },
                    );
                }
                let mut found = Vec::new();
                while let Some(probed) = probes.join_next().await {
                    // A probe cannot panic; if one did, its service goes unreported.
                    found.extend(probed.ok());
                }
                found.sort_by(|a, b| a.0.cmp(&b.0));
                found
            })
            .await
    }

    /// Waits until every audit record handed over so far is stored (a read's
    /// record is written just after its answer): what `GET /audit` lists then
    /// includes every call answered before it.
    pub async fn flush_audit(&self) -> Result<(), String> {
        self.audit_writer.flush().await
    }

    /// On shutdown, after the servers stopped: stores every queued audit record,
    /// then refuses new ones (a call arriving later is refused, not left unaudited).
    pub async fn close_audit(&self) -> Result<(), String> {
        self.audit_writer.close().await
    }

    pub fn config(&self) -> Arc<Config> {
        self.config.current()
    }

    pub fn config_handle(&self) -> &ConfigHandle {
        &self.config
    }

    pub fn audit_log(&self) -> &Arc<AuditLog> {
        &self.audit
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Attaches the notifier (once; a second one is refused and returned).
    pub fn attach_notifier(
        &self,
        notifier: crate::notify::Notifier,
    ) -> Result<(), crate::notify::Notifier> {
        self.notifier.set(notifier)
    }

    /// Tells the attached notifier, if any (never blocks, never fails).
    pub(crate) fn notify(&self, event: crate::notify::Event) {
        if let Some(notifier) = self.notifier.get() {
            notifier.send(event);
        }
    }

    /// The notifier, when one is attached (`GET /notifications` reads it).
    pub fn notifier(&self) -> Option<&crate::notify::Notifier> {
        self.notifier.get()
    }

    pub fn state(&self) -> &Arc<StateStore> {
        &self.state
    }

    /// The redactor of the configuration in force.
    pub fn redactor(&self, config: &Config) -> Arc<Redactor> {
        {
            let current = self.redactor.read().unwrap_or_else(|p| p.into_inner());
            if current.0 == config.version {
                return current.1.clone();
            }
        }
        match build_redactor(config) {
            Ok(redactor) => {
                let redactor = Arc::new(redactor);
                *self.redactor.write().unwrap_or_else(|p| p.into_inner()) =
                    (config.version.clone(), redactor.clone());
                redactor
            }
            // A pattern that does not compile keeps the previous (stricter or equal) redactor.
            Err(error) => {
                tracing::error!(%error, "redact_patterns refused; keeping the previous ones");
                self.redactor
                    .read()
                    .unwrap_or_else(|p| p.into_inner())
                    .1
                    .clone()
            }
        }
    }

    fn upstreams(&self, config: &Config) -> Arc<Upstreams> {
        {
            let current = self.upstreams.read().unwrap_or_else(|p| p.into_inner());
            if current.config_version == config.version {
                return current.clone();
            }
        }
        match (self.build_upstreams)(config) {
            Ok(fresh) => {
                let fresh = Arc::new(fresh);
                *self.upstreams.write().unwrap_or_else(|p| p.into_inner()) = fresh.clone();
                fresh
            }
            Err(error) => {
                tracing::error!(%error, "cannot connect the services of the new configuration; keeping the old clients");
                self.upstreams
                    .read()
                    .unwrap_or_else(|p| p.into_inner())
                    .clone()
            }
        }
    }
}

#[cfg(test)]
mod hosts_tests;
#[cfg(test)]
mod tests;
