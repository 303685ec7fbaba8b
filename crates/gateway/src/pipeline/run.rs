//! Running a call: the target's lock, the cooldown, the approval consumed, the
//! durable `approved` record, the service call with its timeout, and the output
//! guards (redaction, then the cap) on the way back.

use std::time::{Duration, Instant};

use audit::Decision;
use serde_json::Value;

use super::approvals::who;
use super::locks::Target;
use super::record::Record;
use super::{Decided, Executed, Gateway, Refusal, RefusalCode, Reply, now_ms};
use crate::alerts;
use crate::config::{Config, CooldownKey, ToolPolicy};
use crate::state::{ApprovalStatus, Binding, ConsumeError};
use crate::upstream::UpstreamError;

/// The approval a call runs on, consumed under the target's lock.
pub(super) struct UseApproval<'a> {
    pub(super) id: &'a str,
    pub(super) args_digest: &'a str,
    /// For a self-approval: the approval must be this principal's own.
    pub(super) requester: Option<&'a str>,
    pub(super) approver: &'a str,
}

impl Gateway {
    /// Runs a call that passed the checks of its stage: claims its target
    /// (mutating calls), checks the cooldown, consumes its approval, writes the
    /// durable `approved` record, all under the target's lock and in that order,
    /// so one action is one approval, one lock and one cooldown check at run time.
    pub(super) async fn run(
        &self,
        config: &Config,
        tool: &ToolPolicy,
        args: &Value,
        record: Record,
        started: Instant,
        approval: Option<UseApproval<'_>>,
    ) -> Reply {
        let _lock = if tool.mutating {
            let target = Target::of(host_of(config, tool, args), args);
            let described = target.to_string();
            match self.locks.claim(target) {
                Some(lock) => Some(lock),
                None => {
                    let refusal = Refusal::new(
                        RefusalCode::Busy,
                        format!(
                            "an action that touches {described} is already running; try again when it has finished"
                        ),
                    );
                    return self.refuse(config, record, refusal, started).await;
                }
            }
        } else {
            None
        };
        if (tool.mutating || approval.is_some())
            && let Err(refusal) = self.check_cooldown(config, tool, args)
        {
            return self.refuse(config, record, refusal, started).await;
        }
        let consumed = if let Some(approval) = approval {
            let binding = Binding {
                tool: &tool.name,
                args_digest: approval.args_digest,
                policy_version: &config.version,
                requester: approval.requester,
            };
            if let Err(error) = self.state.decide(
                approval.id,
                Some(&binding),
                ApprovalStatus::Consumed,
                approval.approver,
                now_ms(),
            ) {
                return self
                    .refuse(config, record, consume_refusal(error), started)
                    .await;
            }
            Some((
                approval.id,
                who(approval.approver, record.on_behalf_of.as_deref()),
            ))
        } else {
            None
        };
        let reply = self.execute(config, tool, args, record, started).await;
        if let Some((id, approver)) = consumed {
            // This run is the approval's one use: its answer is what a call waiting
            // on the approval gets (never a run of its own).
            self.waiters.settle(id, || Decided::Ran {
                approver,
                reply: reply.clone(),
            });
        }
        reply
    }

    /// The rest of [`Gateway::run`], its target claimed and its approval used:
    /// the durable `approved` record of a mutating call, the service call, the
    /// output guards, the outcome's record.
    async fn execute(
        &self,
        config: &Config,
        tool: &ToolPolicy,
        args: &Value,
        mut record: Record,
        started: Instant,
    ) -> Reply {
        if tool.mutating {
            // Fail closed: the approval is durably recorded before anything changes.
            if let Err(detail) = self
                .write(config, record.clone().finish(Decision::Approved, started))
                .await
            {
                return Reply::Refused(Refusal::new(
                    RefusalCode::AuditUnavailable,
                    format!("not executed: {detail}"),
                ));
            }
        }
        let service = match config.route(tool, args) {
            Ok(route) => route.service,
            Err(detail) => {
                let refusal = Refusal::new(RefusalCode::BadArgs, format!("Bad args: {detail}"));
                return self.fail(config, record, refusal, started).await;
            }
        };
        let Some(upstream) = self.upstreams(config).get(service) else {
            let refusal = Refusal::new(
                RefusalCode::McpUnavailable,
                format!("no client for service {service}"),
            );
            return self.fail(config, record, refusal, started).await;
        };
        let timeout = tool
            .timeout
            .unwrap_or(Duration::from_millis(if tool.mutating {
                config.defaults.write_timeout_ms
            } else {
                config.defaults.read_timeout_ms
            }));
        let tool_args = config.hosts.tool_args(args);
        match upstream.call(&tool.function, &tool_args, timeout).await {
            Ok(result) => {
                if tool.mutating
                    && let Some((key, seconds)) = Self::cooldown_key(config, tool, args)
                    && let Err(error) = self.state.start_cooldown(&key, now_ms() + seconds * 1000)
                {
                    tracing::error!(%error, "cannot record the cooldown");
                }
                let result = self.guard_output(config, result);
                if tool.function == "compose_updates" {
                    for event in alerts::updates(&result) {
                        self.notify(event);
                    }
                }
                record.result_digest = Some(audit::digest_json(&result));
                if let Err(detail) = self
                    .write(config, record.finish(Decision::Executed, started))
                    .await
                {
                    if !tool.mutating {
                        // Nothing leaves unaudited.
                        return Reply::Refused(Refusal::new(RefusalCode::AuditUnavailable, detail));
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
                let refusal = self.upstream_refusal(config, &tool.function, &error);
                self.fail(config, record, refusal, started).await
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

    /// The cooldown's key and length: per tool, per service when keyed so, and
    /// per host when the registry names hosts.
    pub(super) fn cooldown_key(
        config: &Config,
        tool: &ToolPolicy,
        args: &Value,
    ) -> Option<(String, u64)> {
        let cooldown = tool.cooldown?;
        let scope = match cooldown.key {
            CooldownKey::Service => args.get("service").and_then(Value::as_str).unwrap_or("*"),
            CooldownKey::Global => "*",
        };
        let key = match host_of(config, tool, args) {
            Some(host) => format!("{}@{host}:{scope}", tool.name),
            None => format!("{}:{scope}", tool.name),
        };
        Some((key, cooldown.seconds))
    }

    pub(super) fn check_cooldown(
        &self,
        config: &Config,
        tool: &ToolPolicy,
        args: &Value,
    ) -> Result<(), Refusal> {
        let Some((key, _)) = Self::cooldown_key(config, tool, args) else {
            return Ok(());
        };
        let now = now_ms();
        match self.state.cooldown_until(&key, now) {
            Ok(None) => Ok(()),
            Ok(Some(until)) => {
                let seconds = (until - now).div_ceil(1000);
                Err(Refusal::new(
                    RefusalCode::Cooldown,
                    format!("{} is cooling down: {seconds} s left", tool.name),
                )
                .retry_after(seconds))
            }
            Err(error) => {
                tracing::error!(%error, "cannot read the cooldowns");
                Err(Refusal::new(
                    RefusalCode::Internal,
                    "internal error; see the gateway's log",
                ))
            }
        }
    }
}

/// The name of the host a call runs on (it passed [`super::call::validate`]);
/// none for the guide's single host.
pub(super) fn host_of<'c>(
    config: &'c Config,
    tool: &'c ToolPolicy,
    args: &Value,
) -> Option<&'c str> {
    config
        .route(tool, args)
        .ok()
        .and_then(|route| route.host)
        .map(|host| host.name.as_str())
}

/// What the caller is told of a failed service call, in plain words naming the
/// call: the service's own message (docker-mcp's say what to do), or that the
/// service is not answering; the technical chain of a connection failure goes
/// to the log.
impl Gateway {
    /// A service's failure as the caller is told it: in words, redacted; a
    /// timeout is its own code (the outcome is unknown).
    pub(super) fn upstream_refusal(
        &self,
        config: &Config,
        function: &str,
        error: &UpstreamError,
    ) -> Refusal {
        let mut detail = describe(function, error);
        // With several hosts, people know a host by its name, not its service's.
        let service = match error {
            UpstreamError::Failed { service, .. }
            | UpstreamError::Unreachable { service, .. }
            | UpstreamError::Timeout { service, .. } => service,
        };
        if let Some(host) = config.hosts.serving(service) {
            detail = format!("host {}: {detail}", host.name);
        }
        let detail = self.redactor(config).redact_str(&detail).into_owned();
        let code = if matches!(error, UpstreamError::Timeout { .. }) {
            RefusalCode::McpTimeout
        } else {
            RefusalCode::McpFailed
        };
        Refusal::new(code, detail)
    }
}

fn describe(function: &str, error: &UpstreamError) -> String {
    match error {
        UpstreamError::Failed {
            service,
            status: Some(401),
            message,
        } => format!(
            "{service} refused the gateway's credentials for {function} (HTTP 401: {message}): check the service's auth in tool_registry.yaml"
        ),
        UpstreamError::Failed {
            service, message, ..
        } => format!("{service} could not run {function}: {message}"),
        UpstreamError::Unreachable { service, reason } => {
            tracing::warn!(%service, %function, %reason, "a service is not answering");
            format!(
                "{service} did not answer {function}: is it running? (details in the gateway's log)"
            )
        }
        UpstreamError::Timeout { service, timeout } => format!(
            "{service} did not finish {function} within {} s",
            timeout.as_secs_f64()
        ),
    }
}

/// Why an approval could not be used, as the caller is told.
pub(super) fn consume_refusal(error: ConsumeError) -> Refusal {
    let code = match &error {
        ConsumeError::NotFound => RefusalCode::UnknownApproval,
        ConsumeError::NotPending(_) => RefusalCode::ApprovalUsed,
        ConsumeError::Expired => RefusalCode::ApprovalExpired,
        ConsumeError::OtherTool(_) | ConsumeError::ArgumentsChanged => {
            RefusalCode::ApprovalMismatch
        }
        ConsumeError::PolicyChanged => RefusalCode::PolicyChanged,
        ConsumeError::OtherPrincipal => RefusalCode::ApprovalNotYours,
        // Its disk full or read-only, most likely: told plainly, as for the audit log.
        ConsumeError::Store(reason) => {
            return Refusal::new(
                RefusalCode::StateUnavailable,
                format!(
                    "not executed: the approval could not be marked used ({reason}); free space on the gateway's data directory or make it writable, then approve again"
                ),
            );
        }
    };
    Refusal::new(code, error.to_string())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn failed(status: u16, message: &str) -> UpstreamError {
        UpstreamError::Failed {
            service: "docker-mcp".into(),
            status: Some(status),
            message: message.into(),
        }
    }

    #[test]
    fn a_failed_call_is_said_with_the_service_the_call_and_what_to_do() {
        assert_eq!(
            describe(
                "compose_ps",
                &failed(
                    503,
                    "Docker is not reachable at unix:///var/run/docker.sock: is the Docker service running? (details in the server log)"
                )
            ),
            "docker-mcp could not run compose_ps: Docker is not reachable at unix:///var/run/docker.sock: is the Docker service running? (details in the server log)"
        );
        let credentials = describe(
            "compose_ps",
            &failed(401, "a valid bearer token is required"),
        );
        assert!(
            credentials.contains("HTTP 401") && credentials.contains("check the service's auth"),
            "{credentials}"
        );
        let unreachable = UpstreamError::Unreachable {
            service: "docker-mcp".into(),
            reason: "error sending request: tcp connect error: Connection refused (os error 111)"
                .into(),
        };
        assert_eq!(
            describe("compose_restart", &unreachable),
            "docker-mcp did not answer compose_restart: is it running? (details in the gateway's log)"
        );
        let timeout = UpstreamError::Timeout {
            service: "docker-mcp".into(),
            timeout: Duration::from_secs(5),
        };
        assert_eq!(
            describe("compose_ps", &timeout),
            "docker-mcp did not finish compose_ps within 5 s"
        );
    }
}
