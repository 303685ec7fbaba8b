//! The decision, in the order the guide's `/chat/tool` contract gives it:
//! unknown tool, bad arguments, role, cooldown, approval, execution (a malformed
//! `X-On-Behalf-Of` is refused before all of them). Every
//! request ends in an audit record; a mutating call runs only after a durable
//! record of its approval exists.
//!
//! Durability: every record of a mutating or approval-bound tool, and every
//! record about an approval, is durable before the caller gets an answer (and
//! before a mutating call runs). A call that changes nothing (a read, or a
//! refused read) hands its record to the group-commit writer and answers at
//! once; see [`crate::audit_writer`] for what that gives up and how a failing
//! store makes every call wait again.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use audit::{AuditLog, Decision, NewRecord};
use redact::Redactor;
use serde_json::Value;

mod record;
mod reply;

use record::Record;
pub use reply::{CallRequest, Executed, NeedApproval, Refusal, Reply};

use crate::audit_writer::AuditWriter;
use crate::auth::Principal;
use crate::canonical;
use crate::config::{Config, ConfigHandle, CooldownKey, ToolPolicy};
use crate::metrics::Metrics;
use crate::state::{Approval, ApprovalStatus, Binding, ConsumeError, StateStore};
use crate::upstream::{UpstreamError, Upstreams};

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

fn new_id() -> String {
    let mut bytes = [0u8; 12];
    // Ids only need to be unique and unguessable; fall back to time if randomness fails.
    if getrandom::fill(&mut bytes).is_err() {
        bytes[..8].copy_from_slice(&now_ms().to_be_bytes());
    }
    hex::encode(bytes)
}

/// The policy plane's state and its collaborators.
pub struct Gateway {
    config: ConfigHandle,
    state: Arc<StateStore>,
    audit: Arc<AuditLog>,
    audit_writer: AuditWriter,
    upstreams: RwLock<Arc<Upstreams>>,
    redactor: RwLock<(String, Arc<Redactor>)>,
    /// Targets (tool + service) with a mutating call in flight.
    running: Mutex<HashSet<String>>,
    metrics: Metrics,
    /// Tests swap in fake upstreams; production builds them from the registry.
    build_upstreams: Box<BuildUpstreams>,
}

/// Makes the service clients for a configuration.
type BuildUpstreams = dyn Fn(&Config) -> Result<Upstreams, String> + Send + Sync;

/// Releases a running target when the call ends, however it ends.
struct TargetGuard<'a> {
    running: &'a Mutex<HashSet<String>>,
    key: String,
}

impl Drop for TargetGuard<'_> {
    fn drop(&mut self) {
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.key);
    }
}

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
            running: Mutex::new(HashSet::new()),
            metrics,
            build_upstreams: Box::new(build_upstreams),
        })
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

    /// `POST /chat/tool`.
    pub async fn call(&self, principal: &Principal, request: CallRequest) -> Reply {
        let started = Instant::now();
        let config = self.config.current();
        let request_id = new_id();
        let mut record = Record::new(&request_id, principal, &request.tool, &request.args);

        // Before anything else: a malformed statement of whom the call is for stops it.
        match check_on_behalf_of(request.on_behalf_of.as_deref()) {
            Ok(on_behalf_of) => record.on_behalf_of = on_behalf_of,
            Err(refusal) => return self.refuse(&config, record, refusal, started).await,
        }
        if let Some(claimed) = &request.claimed_role
            && claimed != &principal.role
        {
            let refusal = Refusal::new(
                403,
                "role_mismatch",
                format!(
                    "the role comes from your token ({}), not from the request",
                    principal.role
                ),
            );
            return self.refuse(&config, record, refusal, started).await;
        }
        let Some(tool) = config.tools.get(&request.tool) else {
            record.tool = ops_core::bounded(&request.tool, 64);
            return self
                .refuse(
                    &config,
                    record,
                    Refusal::new(400, "unknown_tool", "Unknown tool"),
                    started,
                )
                .await;
        };
        if let Err(detail) = validate(tool, &request.args) {
            let refusal = Refusal::new(400, "bad_args", format!("Bad args: {detail}"));
            return self.refuse(&config, record, refusal, started).await;
        }
        if let Err(refusal) = check_role(&config, tool, &principal.role) {
            return self.refuse(&config, record, refusal, started).await;
        }
        if let Err(refusal) = self.check_cooldown(tool, &request.args) {
            return self.refuse(&config, record, refusal, started).await;
        }
        if !tool.needs_approval {
            return self
                .execute(&config, tool, &request.args, record, started)
                .await;
        }

        let args_digest = canonical::digest(&request.args);
        let now = now_ms();
        if !request.approved {
            return self
                .request_approval(
                    &config,
                    tool,
                    principal,
                    &request.args,
                    &args_digest,
                    record,
                    started,
                )
                .await;
        }
        if !config.can_approve(&principal.role, &tool.name) {
            let refusal = Refusal::new(
                403,
                "cannot_self_approve",
                format!(
                    "role {} cannot approve {}: request it without `approved` and have a principal whose role can approve it use POST /approvals/{{id}}/approve",
                    principal.role, tool.name
                ),
            );
            return self.refuse(&config, record, refusal, started).await;
        }
        // Self-approval consumes the caller's own pending approval of this exact call.
        let pending = match &request.approval_id {
            Some(id) => Some(id.clone()),
            None => match self
                .state
                .find_pending(&principal.name, &tool.name, &args_digest, now)
            {
                Ok(found) => found.map(|a| a.id),
                Err(error) => {
                    return self
                        .internal(&config, record, error.to_string(), started)
                        .await;
                }
            },
        };
        let Some(approval_id) = pending else {
            return self
                .request_approval(
                    &config,
                    tool,
                    principal,
                    &request.args,
                    &args_digest,
                    record,
                    started,
                )
                .await;
        };
        record.approval_id = Some(approval_id.clone());
        let binding = Binding {
            tool: &tool.name,
            args_digest: &args_digest,
            policy_version: &config.version,
            requester: Some(&principal.name),
        };
        if let Err(error) = self.state.decide(
            &approval_id,
            Some(&binding),
            ApprovalStatus::Consumed,
            &principal.name,
            now,
        ) {
            return self
                .refuse(&config, record, consume_refusal(error), started)
                .await;
        }
        record.approver = Some(principal.name.clone());
        record.reason = Some("self-approval".into());
        self.execute(&config, tool, &request.args, record, started)
            .await
    }

    /// `POST /approvals/{id}/approve`: a principal whose role can approve the
    /// tool approves a pending request, and the call runs now, re-checked.
    /// `on_behalf_of` (`X-On-Behalf-Of`, unchecked) is recorded, never used to decide.
    pub async fn approve(
        &self,
        approver: &Principal,
        approval_id: &str,
        on_behalf_of: Option<&str>,
    ) -> Reply {
        let started = Instant::now();
        let config = self.config.current();
        let on_behalf_of = match check_on_behalf_of(on_behalf_of) {
            Ok(on_behalf_of) => on_behalf_of,
            Err(refusal) => {
                let record = Record::without_call(approver, None);
                return self.refuse(&config, record, refusal, started).await;
            }
        };
        let approval = match self.state.get(approval_id) {
            Ok(Some(approval)) => approval,
            Ok(None) => {
                let record = Record::without_call(approver, on_behalf_of);
                return self
                    .refuse(
                        &config,
                        record,
                        Refusal::new(404, "unknown_approval", "no such approval"),
                        started,
                    )
                    .await;
            }
            Err(error) => {
                let record = Record::without_call(approver, on_behalf_of);
                return self
                    .internal(&config, record, error.to_string(), started)
                    .await;
            }
        };
        let requester = Principal {
            name: approval.principal.clone(),
            role: approval.role.clone(),
        };
        let mut record = Record::new(&new_id(), &requester, &approval.tool, &approval.args);
        record.approval_id = Some(approval.id.clone());
        record.approver = Some(approver.name.clone());
        record.on_behalf_of = on_behalf_of;
        if !config.can_approve(&approver.role, &approval.tool) {
            let refusal = Refusal::new(
                403,
                "cannot_approve",
                format!("role {} cannot approve {}", approver.role, approval.tool),
            );
            return self.refuse(&config, record, refusal, started).await;
        }
        // Re-check everything against the policy in force now.
        let Some(tool) = config.tools.get(&approval.tool) else {
            return self
                .refuse(
                    &config,
                    record,
                    Refusal::new(409, "policy_changed", "the tool is no longer registered"),
                    started,
                )
                .await;
        };
        if let Err(detail) = validate(tool, &approval.args) {
            let refusal = Refusal::new(
                409,
                "policy_changed",
                format!("the arguments no longer pass the policy: {detail}"),
            );
            return self.refuse(&config, record, refusal, started).await;
        }
        if let Err(refusal) = check_role(&config, tool, &requester.role) {
            return self.refuse(&config, record, refusal, started).await;
        }
        if let Err(refusal) = self.check_cooldown(tool, &approval.args) {
            return self.refuse(&config, record, refusal, started).await;
        }
        let binding = Binding {
            tool: &tool.name,
            args_digest: &canonical::digest(&approval.args),
            policy_version: &config.version,
            requester: None,
        };
        if let Err(error) = self.state.decide(
            approval_id,
            Some(&binding),
            ApprovalStatus::Consumed,
            &approver.name,
            now_ms(),
        ) {
            return self
                .refuse(&config, record, consume_refusal(error), started)
                .await;
        }
        if approver.name == requester.name {
            record.reason = Some("self-approval".into());
        }
        self.execute(&config, tool, &approval.args, record, started)
            .await
    }

    /// `POST /approvals/{id}/deny`; `on_behalf_of` as for [`Gateway::approve`].
    pub async fn deny(
        &self,
        approver: &Principal,
        approval_id: &str,
        on_behalf_of: Option<&str>,
    ) -> Result<Approval, Refusal> {
        let started = Instant::now();
        let config = self.config.current();
        let on_behalf_of = match check_on_behalf_of(on_behalf_of) {
            Ok(on_behalf_of) => on_behalf_of,
            Err(refusal) => {
                let record = Record::without_call(approver, None);
                let _ = self.refuse(&config, record, refusal.clone(), started).await;
                return Err(refusal);
            }
        };
        let approval = match self.state.get(approval_id) {
            Ok(Some(approval)) => approval,
            Ok(None) => return Err(Refusal::new(404, "unknown_approval", "no such approval")),
            Err(error) => return Err(Refusal::new(500, "internal", error.to_string())),
        };
        let requester = Principal {
            name: approval.principal.clone(),
            role: approval.role.clone(),
        };
        let mut record = Record::new(&new_id(), &requester, &approval.tool, &approval.args);
        record.approval_id = Some(approval.id.clone());
        record.approver = Some(approver.name.clone());
        record.on_behalf_of = on_behalf_of;
        // The requester may withdraw its own request; others need the right to approve.
        if approver.name != requester.name && !config.can_approve(&approver.role, &approval.tool) {
            let refusal = Refusal::new(
                403,
                "cannot_approve",
                format!("role {} cannot decide on {}", approver.role, approval.tool),
            );
            let _ = self.refuse(&config, record, refusal.clone(), started).await;
            return Err(refusal);
        }
        match self.state.decide(
            approval_id,
            None,
            ApprovalStatus::Denied,
            &approver.name,
            now_ms(),
        ) {
            Ok(denied) => {
                record.reason = Some(format!("denied by {}", approver.name));
                self.write(&config, record.finish(Decision::Denied, started))
                    .await
                    .map_err(|detail| Refusal::new(503, "audit_unavailable", detail))?;
                Ok(denied)
            }
            Err(error) => {
                let refusal = consume_refusal(error);
                let _ = self.refuse(&config, record, refusal.clone(), started).await;
                Err(refusal)
            }
        }
    }

    /// Pending approvals `principal` may see: all it can decide on, and its own.
    pub fn pending_for(&self, principal: &Principal) -> Result<Vec<Approval>, Refusal> {
        let config = self.config.current();
        let all = self
            .state
            .pending(now_ms(), 500)
            .map_err(|e| Refusal::new(500, "internal", e.to_string()))?;
        Ok(all
            .into_iter()
            .filter(|a| {
                a.principal == principal.name || config.can_approve(&principal.role, &a.tool)
            })
            .collect())
    }

    #[allow(clippy::too_many_arguments)]
    async fn request_approval(
        &self,
        config: &Config,
        tool: &ToolPolicy,
        principal: &Principal,
        args: &Value,
        args_digest: &str,
        mut record: Record,
        started: Instant,
    ) -> Reply {
        let now = now_ms();
        let approval = Approval {
            id: new_id(),
            principal: principal.name.clone(),
            role: principal.role.clone(),
            tool: tool.name.clone(),
            args: args.clone(),
            args_digest: args_digest.to_owned(),
            policy_version: config.version.clone(),
            rationale: tool.summary.clone(),
            created_at_ms: now,
            expires_at_ms: now + config.defaults.approval_ttl_seconds * 1000,
            status: ApprovalStatus::Pending,
            decided_by: None,
        };
        if let Err(error) = self.state.create_approval(&approval) {
            return self
                .internal(config, record, error.to_string(), started)
                .await;
        }
        let self_approval = config.can_approve(&principal.role, &tool.name);
        record.approval_id = Some(approval.id.clone());
        record.reason = Some(tool.summary.clone());
        if let Err(detail) = self
            .write(config, record.finish(Decision::NeedApproval, started))
            .await
        {
            return Reply::Refused(Refusal::new(503, "audit_unavailable", detail));
        }
        let how_to_approve = if self_approval {
            "send the same call again with \"approved\": true, or POST /approvals/{id}/approve"
                .replace("{id}", &approval.id)
        } else {
            format!(
                "a principal whose role can approve {} must POST /approvals/{}/approve",
                tool.name, approval.id
            )
        };
        Reply::NeedApproval(NeedApproval {
            need_approval: true,
            tool: tool.name.clone(),
            args: args.clone(),
            rationale: tool.summary.clone(),
            approval_id: approval.id,
            expires_at_ms: approval.expires_at_ms,
            self_approval,
            how_to_approve,
        })
    }

    fn cooldown_key(tool: &ToolPolicy, args: &Value) -> Option<(String, u64)> {
        let cooldown = tool.cooldown?;
        let scope = match cooldown.key {
            CooldownKey::Service => args.get("service").and_then(Value::as_str).unwrap_or("*"),
            CooldownKey::Global => "*",
        };
        Some((format!("{}:{scope}", tool.name), cooldown.seconds))
    }

    fn check_cooldown(&self, tool: &ToolPolicy, args: &Value) -> Result<(), Refusal> {
        let Some((key, _)) = Self::cooldown_key(tool, args) else {
            return Ok(());
        };
        let now = now_ms();
        match self.state.cooldown_until(&key, now) {
            Ok(None) => Ok(()),
            Ok(Some(until)) => {
                let seconds = (until - now).div_ceil(1000);
                Err(Refusal {
                    retry_after_seconds: Some(seconds),
                    ..Refusal::new(
                        429,
                        "cooldown",
                        format!("{} is cooling down: {seconds} s left", tool.name),
                    )
                })
            }
            Err(error) => Err(Refusal::new(500, "internal", error.to_string())),
        }
    }

    async fn execute(
        &self,
        config: &Config,
        tool: &ToolPolicy,
        args: &Value,
        mut record: Record,
        started: Instant,
    ) -> Reply {
        let target = format!(
            "{}:{}",
            tool.name,
            args.get("service").and_then(Value::as_str).unwrap_or("*")
        );
        let _guard = if tool.mutating {
            let claimed = self
                .running
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(target.clone());
            if !claimed {
                let refusal = Refusal::new(
                    409,
                    "busy",
                    format!("another {} of the same target is running", tool.name),
                );
                return self.refuse(config, record, refusal, started).await;
            }
            Some(TargetGuard {
                running: &self.running,
                key: target,
            })
        } else {
            None
        };
        if tool.mutating {
            // Checked again under the target lock: a call that raced us may have just finished.
            if let Err(refusal) = self.check_cooldown(tool, args) {
                return self.refuse(config, record, refusal, started).await;
            }
            // Fail closed: the approval is durably recorded before anything changes.
            if let Err(detail) = self
                .write(config, record.clone().finish(Decision::Approved, started))
                .await
            {
                return Reply::Refused(Refusal::new(
                    503,
                    "audit_unavailable",
                    format!("not executed: {detail}"),
                ));
            }
        }
        let Some(upstream) = self.upstreams(config).get(&tool.service) else {
            let refusal = Refusal::new(
                502,
                "mcp_unavailable",
                format!("no client for service {}", tool.service),
            );
            return self.fail(config, record, refusal, started).await;
        };
        let timeout = Duration::from_millis(if tool.mutating {
            config.defaults.write_timeout_ms
        } else {
            config.defaults.read_timeout_ms
        });
        match upstream.call(&tool.function, args, timeout).await {
            Ok(result) => {
                if tool.mutating
                    && let Some((key, seconds)) = Self::cooldown_key(tool, args)
                    && let Err(error) = self.state.start_cooldown(&key, now_ms() + seconds * 1000)
                {
                    tracing::error!(%error, "cannot record the cooldown");
                }
                let result = self.guard_output(config, result);
                record.result_digest = Some(canonical::digest(&result));
                if let Err(detail) = self
                    .write(config, record.finish(Decision::Executed, started))
                    .await
                {
                    if !tool.mutating {
                        // Nothing leaves unaudited.
                        return Reply::Refused(Refusal::new(503, "audit_unavailable", detail));
                    }
                    tracing::error!(detail, "executed, but the outcome could not be audited");
                }
                Reply::Executed(Executed {
                    ok: true,
                    tool: tool.name.clone(),
                    result,
                })
            }
            Err(error) => {
                let detail = self
                    .redactor(config)
                    .redact_str(&format!("MCP {} -> {}", tool.function, describe(&error)))
                    .into_owned();
                let status = if matches!(error, UpstreamError::Timeout { .. }) {
                    504
                } else {
                    502
                };
                self.fail(
                    config,
                    record,
                    Refusal::new(status, "mcp_failed", detail),
                    started,
                )
                .await
            }
        }
    }

    /// Redaction, then the cap, as the guards say.
    pub fn guard_output(&self, config: &Config, mut result: Value) -> Value {
        if config.guards.redact_output {
            self.redactor(config).redact_json(&mut result);
        }
        if config.guards.trim_output {
            result = redact::cap_json(result, config.defaults.output_cap_bytes).value;
        }
        result
    }

    async fn refuse(
        &self,
        config: &Config,
        record: Record,
        refusal: Refusal,
        started: Instant,
    ) -> Reply {
        self.conclude(config, record, refusal, Decision::Denied, started)
            .await
    }

    async fn fail(
        &self,
        config: &Config,
        record: Record,
        refusal: Refusal,
        started: Instant,
    ) -> Reply {
        self.conclude(config, record, refusal, Decision::Failed, started)
            .await
    }

    /// Audits a request that ends without a result, then answers with the refusal.
    async fn conclude(
        &self,
        config: &Config,
        mut record: Record,
        refusal: Refusal,
        decision: Decision,
        started: Instant,
    ) -> Reply {
        record.reason = Some(format!("{}: {}", refusal.code, refusal.detail));
        if let Err(detail) = self.write(config, record.finish(decision, started)).await {
            tracing::error!(detail, %decision, "the outcome could not be audited");
        }
        Reply::Refused(refusal)
    }

    async fn internal(
        &self,
        config: &Config,
        record: Record,
        detail: String,
        started: Instant,
    ) -> Reply {
        tracing::error!(detail, "internal error");
        self.fail(
            config,
            record,
            Refusal::new(500, "internal", "internal error; see the gateway's log"),
            started,
        )
        .await
    }

    /// Appends to the audit log off the async threads. For a record that must be
    /// durable (see [`must_be_durable`], and every record while the store is
    /// failing), Ok means it is; for the others, Ok means it is queued for the next
    /// group commit. Err: not stored (fail closed).
    async fn write(&self, config: &Config, mut record: NewRecord) -> Result<(), String> {
        let durable = self.audit_writer.degraded() || must_be_durable(config, &record);
        let tool = if config.tools.contains_key(&record.tool) {
            record.tool.as_str()
        } else {
            "unknown"
        };
        self.metrics
            .record(tool, &record.decision.to_string(), record.latency_ms);
        let redactor = self.redactor(config);
        redactor.redact_json(&mut record.args);
        if let Some(reason) = &record.reason {
            record.reason = Some(redactor.redact_str(reason).into_owned());
        }
        if durable {
            self.audit_writer.write_durable(record).await
        } else {
            self.audit_writer.write_deferred(record).await
        }
    }
}

/// Records of calls that can change something, or that concern an approval, are
/// durable before the answer; a record of a registered tool that is neither
/// mutating nor needs approval (or of an unknown tool, refused) may follow it.
fn must_be_durable(config: &Config, record: &NewRecord) -> bool {
    record.approval_id.is_some()
        || record.approver.is_some()
        || config
            .tools
            .get(&record.tool)
            .is_some_and(|tool| tool.mutating || tool.needs_approval)
}

/// Longest `X-On-Behalf-Of` accepted.
pub const MAX_ON_BEHALF_OF: usize = 64;

/// Checks an `X-On-Behalf-Of` value: absent, or 1..=[`MAX_ON_BEHALF_OF`] characters of
/// `[A-Za-z0-9._@-]`. It is only a statement of the authenticated principal about
/// whom it acts for (a person signed in to it, say): recorded in the audit log, never
/// used for roles, approvals or cooldowns.
pub fn check_on_behalf_of(value: Option<&str>) -> Result<Option<String>, Refusal> {
    let Some(value) = value else {
        return Ok(None);
    };
    let valid = (1..=MAX_ON_BEHALF_OF).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._@-".contains(&b));
    if valid {
        Ok(Some(value.to_owned()))
    } else {
        Err(Refusal::new(
            400,
            "bad_on_behalf_of",
            format!(
                "X-On-Behalf-Of must be 1 to {MAX_ON_BEHALF_OF} characters of A-Z, a-z, 0-9, \
                 '.', '_', '@' and '-' (sent once); nothing was done"
            ),
        ))
    }
}

fn describe(error: &UpstreamError) -> String {
    match error {
        UpstreamError::Failed {
            status, message, ..
        } => match status {
            Some(status) => format!("{status}: {message}"),
            None => message.clone(),
        },
        other => other.to_string(),
    }
}

fn validate(tool: &ToolPolicy, args: &Value) -> Result<(), String> {
    ops_core::schema::check(&tool.validator, args)
}

pub(crate) fn check_role(config: &Config, tool: &ToolPolicy, role: &str) -> Result<(), Refusal> {
    let Some(definition) = config.roles.get(role) else {
        return Err(Refusal::new(
            403,
            "not_authorized",
            format!("Not authorized: role {role} is not defined in the policy"),
        ));
    };
    if tool
        .roles
        .as_ref()
        .is_some_and(|roles| !roles.iter().any(|r| r == role))
    {
        return Err(Refusal::new(
            403,
            "not_authorized",
            format!("Not authorized: {} is limited to other roles", tool.name),
        ));
    }
    if definition
        .deny_tools
        .iter()
        .any(|t| t == &tool.name || t == "*")
    {
        return Err(Refusal::new(
            403,
            "not_authorized",
            format!("Not authorized: role {role} may not use {}", tool.name),
        ));
    }
    Ok(())
}

fn consume_refusal(error: ConsumeError) -> Refusal {
    let (status, code) = match &error {
        ConsumeError::NotFound => (404, "unknown_approval"),
        ConsumeError::NotPending(_) => (409, "approval_used"),
        ConsumeError::Expired => (410, "approval_expired"),
        ConsumeError::OtherTool(_) | ConsumeError::ArgumentsChanged => (409, "approval_mismatch"),
        ConsumeError::PolicyChanged => (409, "policy_changed"),
        ConsumeError::OtherPrincipal => (403, "approval_mismatch"),
        ConsumeError::Store(_) => (500, "internal"),
    };
    Refusal::new(status, code, error.to_string())
}

#[cfg(test)]
mod tests;
