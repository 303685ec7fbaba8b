//! Prometheus metrics: decisions by tool and outcome, and their latency.
//! Fed from the audit write, which every decision passes through; and the
//! audit writer's own health (failed batches, lost records, degraded); and the
//! notifications sent, failed and dropped per target.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::audit_writer::WriterMetrics;
use crate::head_shipper::ShipperMetrics;
use crate::notify::NotifyMetrics;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DecisionLabels {
    pub tool: String,
    pub decision: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ToolLabels {
    pub tool: String,
}

pub struct Metrics {
    registry: Registry,
    decisions: Family<DecisionLabels, Counter>,
    latency: Family<ToolLabels, Histogram>,
    writer: WriterMetrics,
    shipper: ShipperMetrics,
    notify: NotifyMetrics,
}

fn latency_histogram() -> Histogram {
    // 0.5 ms .. ~30 s
    Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
        0.0005, 3.0, 11,
    ))
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("ops_copilot_gateway");
        let decisions = Family::<DecisionLabels, Counter>::default();
        let latency = Family::<ToolLabels, Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        registry.register(
            "decisions",
            "Decisions by tool and outcome",
            decisions.clone(),
        );
        registry.register(
            "decision_latency_seconds",
            "Time from request to decision",
            latency.clone(),
        );
        let writer = WriterMetrics::default();
        registry.register(
            "audit_failed_batches",
            "Group commits of audit records that could not be stored",
            writer.failed_batches.clone(),
        );
        registry.register(
            "audit_lost_records",
            "Audit records of answered calls that could never be stored",
            writer.lost_records.clone(),
        );
        registry.register(
            "audit_degraded",
            "1 while the audit log cannot be written (every call then waits for its record)",
            writer.degraded.clone(),
        );
        let shipper = ShipperMetrics::default();
        registry.register(
            "audit_heads_sent",
            "Audit log heads a receiver accepted (--audit-head-url)",
            shipper.sent.clone(),
        );
        registry.register(
            "audit_head_send_failures",
            "Attempts to send the audit log's head that failed",
            shipper.failed.clone(),
        );
        registry.register(
            "audit_head_last_sent_seq",
            "The seq of the newest audit head a receiver accepted",
            shipper.last_sent_seq.clone(),
        );
        let notify = NotifyMetrics::default();
        registry.register(
            "notifications_sent",
            "Notifications a target accepted, by target (notify.yaml)",
            notify.sent.clone(),
        );
        registry.register(
            "notifications_failed",
            "Notifications that failed after their retries, by target",
            notify.failed.clone(),
        );
        registry.register(
            "notifications_dropped",
            "Notifications dropped before sending, by target and reason (rate_limited, queue_full)",
            notify.dropped.clone(),
        );
        registry.register(
            "notifications_suppressed",
            "Events sent to no target, by reason (repeat, no_open_alert, not_subscribed)",
            notify.suppressed.clone(),
        );
        Self {
            registry,
            decisions,
            latency,
            writer,
            shipper,
            notify,
        }
    }
}

impl Metrics {
    pub fn record(&self, tool: &str, decision: &str, latency_ms: u64) {
        // Unknown tool names are caller input: fold them into one label value.
        self.decisions
            .get_or_create(&DecisionLabels {
                tool: tool.to_owned(),
                decision: decision.to_owned(),
            })
            .inc();
        self.latency
            .get_or_create(&ToolLabels {
                tool: tool.to_owned(),
            })
            .observe(latency_ms as f64 / 1000.0);
    }

    /// The counters the audit writer reports to.
    pub fn writer(&self) -> WriterMetrics {
        self.writer.clone()
    }

    /// The counters the audit head shipper reports to.
    pub fn shipper(&self) -> ShipperMetrics {
        self.shipper.clone()
    }

    /// The counters the notifier reports to.
    pub fn notify(&self) -> NotifyMetrics {
        self.notify.clone()
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut text = String::new();
        if prometheus_client::encoding::text::encode(&mut text, &self.registry).is_err() {
            text.clear();
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_decisions_by_tool_and_outcome() {
        let metrics = Metrics::default();
        metrics.record("compose_ps", "executed", 2);
        metrics.record("compose_ps", "executed", 3);
        metrics.record("compose_restart", "need_approval", 1);
        let text = metrics.render();
        assert!(
            text.contains(
                r#"ops_copilot_gateway_decisions_total{tool="compose_ps",decision="executed"} 2"#
            ),
            "{text}"
        );
        assert!(text.contains(r#"decision="need_approval"} 1"#), "{text}");
        assert!(
            text.contains("ops_copilot_gateway_decision_latency_seconds_bucket"),
            "{text}"
        );
    }
}
