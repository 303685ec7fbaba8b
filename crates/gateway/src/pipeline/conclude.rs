//! Every outcome into the audit log: refusals and failures are recorded here,
//! then answered; the records of calls that ran are written by [`super::run`]
//! through [`Gateway::write`].

use std::time::Instant;

use audit::{Decision, NewRecord};

use super::record::Record;
use super::{Gateway, Refusal, RefusalCode, Reply};
use crate::config::Config;

impl Gateway {
    /// A request refused before anything ran: audited as `denied`.
    pub(super) async fn refuse(
        &self,
        config: &Config,
        record: Record,
        refusal: Refusal,
        started: Instant,
    ) -> Reply {
        self.conclude(config, record, refusal, Decision::Denied, started)
            .await
    }

    /// A request that failed (its service failed, or the gateway did): `failed`.
    pub(super) async fn fail(
        &self,
        config: &Config,
        record: Record,
        refusal: Refusal,
        started: Instant,
    ) -> Reply {
        self.conclude(config, record, refusal, Decision::Failed, started)
            .await
    }

    /// [`Gateway::refuse`] for a caller that answers with the refusal alone.
    pub(super) async fn refused(
        &self,
        config: &Config,
        record: Record,
        refusal: Refusal,
        started: Instant,
    ) -> Refusal {
        into_refusal(self.refuse(config, record, refusal, started).await)
    }

    /// [`Gateway::fail`] for a caller that answers with the refusal alone.
    pub(super) async fn failed(
        &self,
        config: &Config,
        record: Record,
        refusal: Refusal,
        started: Instant,
    ) -> Refusal {
        into_refusal(self.fail(config, record, refusal, started).await)
    }

    /// An internal error: the detail goes to the log, the caller gets a plain 500.
    pub(super) async fn internal(
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
            Refusal::new(
                RefusalCode::Internal,
                "internal error; see the gateway's log",
            ),
            started,
        )
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

    /// Appends to the audit log off the async threads. For a record that must be
    /// durable (see [`must_be_durable`], and every record while the store is
    /// failing), Ok means it is; for the others, Ok means it is queued for the next
    /// group commit. Err: not stored (fail closed).
    pub(super) async fn write(&self, config: &Config, mut record: NewRecord) -> Result<(), String> {
        let durable = self.audit_writer.degraded() || must_be_durable(config, &record);
        let tool = if config.tools.contains_key(&record.tool) {
            record.tool.as_str()
        } else {
            "unknown"
        };
        self.metrics
            .record(tool, &record.decision.to_string(), record.latency_ms);
        let redactor = self.redactor(config);
        // What a client sent is masked everywhere it lands: values, key names,
        // an unknown tool's name and an approval id it made up. Masked whole, then
        // cut to size: a cut first could split a secret from the key that marks it
        // (`...%3AHunt3rTwo%21%40` without its host), and nothing would match.
        redactor.redact_json(&mut record.args);
        redact_keys(&redactor, &mut record.args);
        if !config.tools.contains_key(&record.tool) {
            record.tool =
                ops_core::bounded(&redactor.redact_str(&record.tool), MAX_UNKNOWN_TOOL_CHARS);
        }
        if let Some(id) = record
            .approval_id
            .as_ref()
            .filter(|id| !ops_core::contract::rules::is_approval_id(id))
        {
            record.approval_id = Some(ops_core::bounded(
                &redactor.redact_str(id),
                MAX_UNKNOWN_APPROVAL_ID_CHARS,
            ));
        }
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

/// `refuse` and `fail` answer only with refusals.
pub(super) fn into_refusal(reply: Reply) -> Refusal {
    match reply {
        Reply::Refused(refusal) => refusal,
        _ => Refusal::new(
            RefusalCode::Internal,
            "internal error; see the gateway's log",
        ),
    }
}

/// How much of an unknown tool's name, and of an approval id a client made up, the
/// audit keeps (after masking).
const MAX_UNKNOWN_TOOL_CHARS: usize = 64;
const MAX_UNKNOWN_APPROVAL_ID_CHARS: usize = 32;

/// Object keys with a secret in them are masked too (a client chooses them).
fn redact_keys(redactor: &redact::Redactor, value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, mut item) in std::mem::take(map) {
                redact_keys(redactor, &mut item);
                map.insert(redactor.redact_str(&key).into_owned(), item);
            }
        }
        serde_json::Value::Array(items) => {
            for item in items {
                redact_keys(redactor, item);
            }
        }
        _ => {}
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
