//! The guide's REST form: `POST {base_url}/tools/{fn}` with the arguments as
//! the JSON body, as its FastAPI adapter does.

use std::time::Duration;

use ops_core::error_chain;
use serde_json::Value;

use super::{CallFuture, Readiness, ReadinessFuture, StreamFuture, Upstream, UpstreamError};

/// Bytes of an upstream answer read at most; more is a failure, not a crash.
const MAX_RESPONSE_BYTES: usize = 8 * 1024 * 1024;
/// Idle keep-alive connections kept per service, and for how long. Each idle one
/// holds buffers on both ends (here and in the service), so they do not outlive a
/// burst by long: reconnecting to a local service costs a fraction of a millisecond.
/// The count is generous on purpose: under steady concurrency, a small cap closes
/// connections between two calls and opens new ones (measured: a quarter to a third
/// fewer calls per second at 64 concurrent clients with a cap of 8).
const MAX_IDLE_CONNECTIONS: usize = 64;
const IDLE_TIMEOUT: Duration = Duration::from_secs(10);

pub struct RestUpstream {
    service: String,
    base: String,
    token: Option<String>,
    client: reqwest::Client,
}

impl RestUpstream {
    pub fn new(service: &str, base_url: &str, token: Option<String>) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(3))
            .pool_max_idle_per_host(MAX_IDLE_CONNECTIONS)
            .pool_idle_timeout(IDLE_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("services.{service}: {e}"))?;
        Ok(Self {
            service: service.to_owned(),
            base: base_url.trim_end_matches('/').to_owned(),
            token,
            client,
        })
    }

    async fn call_inner(&self, function: &str, args: &Value) -> Result<Value, UpstreamError> {
        let url = format!("{}/tools/{function}", self.base);
        let mut request = self.client.post(&url).json(args);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let response = request
            .send()
            .await
            .map_err(|e| UpstreamError::Unreachable {
                service: self.service.clone(),
                reason: error_chain(&e),
            })?;
        let status = response.status();
        let body = read_bounded(response)
            .await
            .map_err(|reason| UpstreamError::Unreachable {
                service: self.service.clone(),
                reason,
            })?;
        if status.is_success() {
            serde_json::from_slice(&body).map_err(|e| UpstreamError::Failed {
                service: self.service.clone(),
                status: Some(status.as_u16()),
                message: format!("the answer is not JSON: {e}"),
            })
        } else {
            Err(UpstreamError::Failed {
                service: self.service.clone(),
                status: Some(status.as_u16()),
                message: error_message(&body),
            })
        }
    }
}

impl Upstream for RestUpstream {
    fn call<'a>(&'a self, function: &'a str, args: &'a Value, timeout: Duration) -> CallFuture<'a> {
        Box::pin(async move {
            tokio::time::timeout(timeout, self.call_inner(function, args))
                .await
                .unwrap_or_else(|_| {
                    Err(UpstreamError::Timeout {
                        service: self.service.clone(),
                        timeout,
                    })
                })
        })
    }

    /// No overall timeout on the request: it would cut the body too. The head
    /// must come within `timeout`; the reader bounds the rest.
    fn stream<'a>(
        &'a self,
        function: &'a str,
        args: &'a Value,
        timeout: Duration,
    ) -> StreamFuture<'a> {
        Box::pin(async move {
            let url = format!("{}/streams/{function}", self.base);
            let mut request = self.client.post(&url).json(args);
            if let Some(token) = &self.token {
                request = request.bearer_auth(token);
            }
            let response = match tokio::time::timeout(timeout, request.send()).await {
                Err(_) => {
                    return Err(UpstreamError::Timeout {
                        service: self.service.clone(),
                        timeout,
                    });
                }
                Ok(Err(e)) => {
                    return Err(UpstreamError::Unreachable {
                        service: self.service.clone(),
                        reason: error_chain(&e),
                    });
                }
                Ok(Ok(response)) => response,
            };
            let status = response.status();
            if status.is_success() {
                return Ok(response);
            }
            let body = tokio::time::timeout(timeout, read_bounded(response))
                .await
                .unwrap_or_else(|_| Err("no error body in time".into()))
                .unwrap_or_default();
            Err(UpstreamError::Failed {
                service: self.service.clone(),
                status: Some(status.as_u16()),
                message: error_message(&body),
            })
        })
    }

    /// `GET {base_url}/health` (docker-mcp's: 200 when the Engine answers, 503
    /// when not), with the token so it counts as the gateway's.
    fn readiness(&self, timeout: Duration) -> ReadinessFuture<'_> {
        Box::pin(async move {
            let mut request = self
                .client
                .get(format!("{}/health", self.base))
                .timeout(timeout);
            if let Some(token) = &self.token {
                request = request.bearer_auth(token);
            }
            match request.send().await {
                Ok(response) => match response.status().as_u16() {
                    200..=299 => Readiness::Ready,
                    // An adapter without /health (the guide's FastAPI one, say).
                    404 | 405 => Readiness::Unchecked,
                    status @ (401 | 403) => Readiness::Refused(status),
                    _ => Readiness::NotReady,
                },
                Err(error) => {
                    tracing::warn!(service = %self.service, error = %error_chain(&error), "health probe: no answer");
                    Readiness::NotAnswering
                }
            }
        })
    }
}

async fn read_bounded(mut response: reqwest::Response) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| error_chain(&e))? {
        if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(format!(
                "the answer is larger than {MAX_RESPONSE_BYTES} bytes"
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// docker-mcp says `{"error": {"message"}}`; FastAPI says `{"detail"}`; else the text.
fn error_message(body: &[u8]) -> String {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let message = parsed.as_ref().and_then(|v| {
        v.pointer("/error/message")
            .or_else(|| v.get("detail"))
            .and_then(Value::as_str)
            .map(str::to_owned)
    });
    let text = message.unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
    // Cut at a word: a long message (a compose file's parse error) stays readable.
    ops_core::shortened(&text, 300)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_messages_come_from_known_shapes() {
        assert_eq!(
            error_message(br#"{"error":{"code":"bad_arguments","message":"unknown service"}}"#),
            "unknown service"
        );
        assert_eq!(
            error_message(br#"{"detail":"Not authorized"}"#),
            "Not authorized"
        );
        assert_eq!(error_message(b"plain"), "plain");
        let long = error_message(&[b'x'; 1000]);
        assert_eq!(long.chars().count(), 301, "300 and an ellipsis");
        assert!(long.ends_with('…'));
        let words = error_message("word ".repeat(100).as_bytes());
        assert!(words.ends_with("word…"), "cut at a word: {words}");
    }

    /// A service answering `GET /health` with `status`; its base URL.
    async fn service_with_health(status: u16) -> String {
        let status = axum::http::StatusCode::from_u16(status).unwrap();
        let app =
            axum::Router::new().route("/health", axum::routing::get(move || async move { status }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        base
    }

    #[tokio::test]
    async fn readiness_follows_the_services_health() {
        let second = Duration::from_secs(1);
        for (status, expected) in [
            (200, Readiness::Ready),
            (503, Readiness::NotReady),
            (500, Readiness::NotReady),
            (404, Readiness::Unchecked),
            (403, Readiness::Refused(403)),
            (401, Readiness::Refused(401)),
        ] {
            let base = service_with_health(status).await;
            let upstream = RestUpstream::new("docker-mcp", &base, Some("t".into())).unwrap();
            assert_eq!(upstream.readiness(second).await, expected, "{status}");
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let gone =
            RestUpstream::new("docker-mcp", &format!("http://127.0.0.1:{port}"), None).unwrap();
        assert_eq!(gone.readiness(second).await, Readiness::NotAnswering);
        assert_eq!(
            Readiness::NotAnswering.problem("docker-mcp").as_deref(),
            Some("docker-mcp is not answering: is it running?")
        );
        assert!(Readiness::Unchecked.is_ready() && !Readiness::NotReady.is_ready());
        assert!(!Readiness::Refused(403).is_ready());
        assert!(
            Readiness::Refused(403)
                .problem("docker-mcp-nas")
                .is_some_and(|p| p.contains("--allowed-host") && p.contains("HTTP 403"))
        );
    }
}
