//! Sends the audit log's head off the machine: every so often, when the log has
//! grown, the newest record's witness line is POSTed to a URL the operator
//! chose (an ntfy topic, a webhook, a log collector). Whoever can rewrite the
//! data directory cannot take back what was sent, so a log cut short or wiped
//! is detected: saved to a file, the lines received are a witness file for
//! `ops-copilot audit verify --witness`.
//!
//! Never in the way of a call: it runs on its own task, reads the head with one
//! query per tick, and a slow or absent receiver only delays the next attempt.
//! Each line witnesses every record before it, so a lost send is made good by
//! the next one; what is sent and what failed is counted in `/metrics`.

use std::sync::Arc;
use std::time::Duration;

use audit::AuditLog;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use tokio_util::sync::CancellationToken;

/// Where and how often the head goes.
#[derive(Clone)]
pub struct HeadShipping {
    pub url: reqwest::Url,
    /// Sent as `Authorization: Bearer` (an ntfy access token, say).
    pub token: Option<String>,
    pub every: Duration,
    /// For each POST, connection included.
    pub timeout: Duration,
}

/// Never shows the token.
impl std::fmt::Debug for HeadShipping {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeadShipping")
            .field("url", &self.url.as_str())
            .field("token", &self.token.as_ref().map(|_| "<set>"))
            .field("every", &self.every)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl HeadShipping {
    /// Checks the URL: http(s) only; a token over plain http leaves loopback
    /// readable by anyone on the way, which is refused rather than warned about.
    pub fn new(
        url: &str,
        token: Option<String>,
        every: Duration,
        timeout: Duration,
    ) -> Result<Self, String> {
        let url = reqwest::Url::parse(url).map_err(|error| {
            format!("the audit head URL {url:?} is not a URL ({error}); give e.g. https://ntfy.sh/my-topic")
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!(
                "the audit head URL must be http or https, not {:?}",
                url.scheme()
            ));
        }
        let loopback = ops_core::net::is_loopback_host(url.host_str().unwrap_or_default());
        if token.is_some() && url.scheme() == "http" && !loopback {
            return Err(
                "the audit head token would travel in clear text: use an https URL".to_owned(),
            );
        }
        if every.is_zero() || timeout.is_zero() {
            return Err("the audit head interval and timeout must be above zero".to_owned());
        }
        Ok(Self {
            url,
            token,
            every,
            timeout,
        })
    }
}

/// What the shipper has done, for `/metrics`.
#[derive(Clone, Default)]
pub struct ShipperMetrics {
    /// Heads the receiver accepted.
    pub sent: Counter,
    /// Attempts that failed (no answer in time, refused, not 2xx).
    pub failed: Counter,
    /// The seq of the newest head the receiver accepted (0: none yet).
    pub last_sent_seq: Gauge,
}

/// Starts shipping; the task ends after one last attempt once `shutdown` is
/// cancelled (so the head after the last calls goes out too).
pub fn spawn(
    log: Arc<AuditLog>,
    shipping: HeadShipping,
    metrics: ShipperMetrics,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let client = match reqwest::Client::builder()
            .timeout(shipping.timeout)
            .connect_timeout(shipping.timeout)
            .build()
        {
            Ok(client) => client,
            Err(error) => {
                tracing::error!(error = %ops_core::error_chain(&error), "cannot make the audit head client: heads are not sent");
                return;
            }
        };
        let mut shipper = Shipper {
            log,
            shipping,
            metrics,
            client,
            last_sent: 0,
            failures: 0,
        };
        let mut ticks = tokio::time::interval(shipper.shipping.every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                _ = ticks.tick() => shipper.ship_if_grown().await,
            }
        }
        shipper.ship_if_grown().await;
    })
}

struct Shipper {
    log: Arc<AuditLog>,
    shipping: HeadShipping,
    metrics: ShipperMetrics,
    client: reqwest::Client,
    last_sent: i64,
    /// Failures in a row, to log the first and then only every tenth.
    failures: u64,
}

impl Shipper {
    async fn ship_if_grown(&mut self) {
        let log = self.log.clone();
        let head = match tokio::task::spawn_blocking(move || log.head_witness()).await {
            Ok(Ok(head)) => head,
            Ok(Err(error)) => {
                tracing::warn!(%error, "cannot read the audit head to send it");
                return;
            }
            Err(_) => return,
        };
        let Some((seq, line)) = head.filter(|(seq, _)| *seq > self.last_sent) else {
            return;
        };
        match self.send(line).await {
            Ok(()) => {
                if self.failures > 0 {
                    tracing::info!(
                        seq,
                        "audit head sent again after {} failed attempts",
                        self.failures
                    );
                }
                self.failures = 0;
                self.last_sent = seq;
                self.metrics.sent.inc();
                self.metrics.last_sent_seq.set(seq);
            }
            Err(problem) => {
                self.metrics.failed.inc();
                if self.failures.is_multiple_of(10) {
                    tracing::warn!(
                        url = %self.shipping.url,
                        %problem,
                        "the audit head could not be sent; retrying every {} s",
                        self.shipping.every.as_secs()
                    );
                }
                self.failures += 1;
            }
        }
    }

    async fn send(&self, line: String) -> Result<(), String> {
        let mut request = self
            .client
            .post(self.shipping.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "text/plain; charset=utf-8")
            .body(line);
        if let Some(token) = &self.shipping.token {
            request = request.bearer_auth(token);
        }
        let response = request
            .send()
            .await
            .map_err(|error| ops_core::error_chain(&error))?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("the receiver answered {status}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new(url: &str, token: Option<&str>) -> Result<HeadShipping, String> {
        HeadShipping::new(
            url,
            token.map(str::to_owned),
            Duration::from_secs(60),
            Duration::from_secs(10),
        )
    }

    #[test]
    fn urls_are_checked() {
        assert!(new("https://ntfy.sh/topic", Some("tk_x")).is_ok());
        assert!(new("http://127.0.0.1:9/heads", Some("t")).is_ok());
        assert!(new("http://[::1]:9/heads", Some("t")).is_ok());
        assert!(new("http://localhost/heads", None).is_ok());
        assert!(new("http://logs.lan/heads", None).is_ok());
        let clear = new("http://logs.lan/heads", Some("t")).unwrap_err();
        assert!(clear.contains("clear text"), "{clear}");
        assert!(
            new("ftp://logs.lan/heads", None)
                .unwrap_err()
                .contains("http")
        );
        assert!(new("not a url", None).unwrap_err().contains("not a URL"));
        let zero = HeadShipping::new("https://x.y/", None, Duration::ZERO, Duration::from_secs(1));
        assert!(zero.is_err());
    }
}
