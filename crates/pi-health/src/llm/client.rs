//! `POST {base}/chat/completions`, bounded: a deadline for the whole exchange,
//! a cap on the answer's size, no redirects (the key goes to the configured
//! host only). Every failure is a [`ModelError`]; the agent then lets the
//! built-in planner answer.

use std::time::Duration;

use serde_json::Value;

use super::settings::ModelSettings;
use super::wire::{self, Turn};

/// Answers larger than this are refused (a turn is a few kB).
pub(crate) const MAX_REPLY_BYTES: usize = 256 * 1024;

/// Why the model gave no usable turn.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ModelError {
    /// Nothing came back: connection refused, reset, DNS...
    Unreachable(String),
    /// No (complete) answer within the time left.
    Timeout(Duration),
    /// An HTTP error status.
    Status(u16),
    TooLarge,
    /// An answer that is not a chat completion.
    Garbage(String),
    /// Not asked: it failed a moment ago, and is left alone this much longer.
    Paused(Duration),
}

impl std::fmt::Display for ModelError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unreachable(why) => write!(f, "unreachable: {why}"),
            Self::Timeout(after) => write!(f, "no answer within {:.1} s", after.as_secs_f64()),
            Self::Status(status) => write!(f, "HTTP {status}"),
            Self::TooLarge => write!(f, "an answer over {} kB", MAX_REPLY_BYTES / 1024),
            Self::Garbage(why) => write!(f, "{why}"),
            Self::Paused(left) => write!(
                f,
                "it failed a moment ago and is asked again in {} s",
                left.as_secs().max(1)
            ),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct ModelClient {
    http: reqwest::Client,
    endpoint: String,
    model: String,
    api_key: Option<String>,
}

impl ModelClient {
    pub(crate) fn new(settings: &ModelSettings) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .no_proxy()
            .connect_timeout(settings.timeout.min(Duration::from_secs(5)))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("cannot make the model's HTTP client: {e}"))?;
        Ok(Self {
            http,
            endpoint: settings.endpoint(),
            model: settings.model.clone(),
            api_key: settings.api_key.clone(),
        })
    }

    pub(crate) fn model(&self) -> &str {
        &self.model
    }

    pub(crate) fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Sends one request body and reads the assistant's turn, within `time_left`.
    pub(crate) async fn complete(
        &self,
        body: &Value,
        time_left: Duration,
    ) -> Result<Turn, ModelError> {
        if time_left.is_zero() {
            return Err(ModelError::Timeout(time_left));
        }
        match tokio::time::timeout(time_left, self.exchange(body, time_left)).await {
            Ok(result) => result,
            Err(_) => Err(ModelError::Timeout(time_left)),
        }
    }

    async fn exchange(&self, body: &Value, time_left: Duration) -> Result<Turn, ModelError> {
        let mut request = self.http.post(&self.endpoint).timeout(time_left).json(body);
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(key);
        }
        let mut response = request.send().await.map_err(|e| describe(&e, time_left))?;
        let status = response.status();
        let mut bytes = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| describe(&e, time_left))?
        {
            if bytes.len() + chunk.len() > MAX_REPLY_BYTES {
                return Err(ModelError::TooLarge);
            }
            bytes.extend_from_slice(&chunk);
        }
        if !status.is_success() {
            return Err(ModelError::Status(status.as_u16()));
        }
        wire::parse_turn(&bytes).map_err(ModelError::Garbage)
    }
}

fn describe(error: &reqwest::Error, time_left: Duration) -> ModelError {
    if error.is_timeout() {
        ModelError::Timeout(time_left)
    } else if error.is_connect() {
        ModelError::Unreachable("cannot connect".into())
    } else {
        ModelError::Unreachable(ops_core::bounded(&ops_core::error_chain(error), 200))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use axum::Json;
    use axum::http::{HeaderMap, StatusCode};
    use axum::response::{IntoResponse, Response};
    use axum::routing::post;
    use serde_json::json;

    use super::*;

    /// A stand-in endpoint answering every request with `answer`.
    async fn serve(
        answer: impl Fn() -> Response + Clone + Send + Sync + 'static,
        delay: Duration,
    ) -> (String, Arc<Mutex<Vec<(HeaderMap, Value)>>>) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let app = axum::Router::new().route(
            "/v1/chat/completions",
            post(move |headers: HeaderMap, Json(body): Json<Value>| {
                let answer = answer.clone();
                let log = log.clone();
                async move {
                    log.lock().unwrap().push((headers, body));
                    tokio::time::sleep(delay).await;
                    answer()
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}/v1", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (base, seen)
    }

    fn client(base: &str, key: Option<&str>) -> ModelClient {
        ModelClient::new(&ModelSettings {
            base_url: base.into(),
            model: "test-model".into(),
            api_key: key.map(str::to_owned),
            timeout: Duration::from_secs(5),
        })
        .unwrap()
    }

    const SECOND: Duration = Duration::from_secs(1);

    #[tokio::test]
    async fn a_turn_is_read_and_the_key_sent() {
        let (base, seen) = serve(
            || {
                Json(json!({"choices": [{"message": {"role": "assistant", "content": "hi"}}]}))
                    .into_response()
            },
            Duration::ZERO,
        )
        .await;
        let turn = client(&base, Some("sk-test"))
            .complete(&json!({"model": "test-model"}), SECOND * 5)
            .await
            .unwrap();
        assert_eq!(turn.content.as_deref(), Some("hi"));
        let seen = seen.lock().unwrap();
        assert_eq!(seen[0].0["authorization"], "Bearer sk-test");
        assert_eq!(seen[0].1["model"], "test-model");
    }

    #[tokio::test]
    async fn failures_are_errors() {
        let (base, _) = serve(
            || (StatusCode::INTERNAL_SERVER_ERROR, "model crashed").into_response(),
            Duration::ZERO,
        )
        .await;
        let error = client(&base, None).complete(&json!({}), SECOND).await;
        assert_eq!(error, Err(ModelError::Status(500)));

        let (base, _) = serve(|| "<html>not an API</html>".into_response(), Duration::ZERO).await;
        let error = client(&base, None).complete(&json!({}), SECOND).await;
        assert!(matches!(error, Err(ModelError::Garbage(_))), "{error:?}");

        let (base, _) = serve(
            || "x".repeat(MAX_REPLY_BYTES + 10).into_response(),
            Duration::ZERO,
        )
        .await;
        let error = client(&base, None).complete(&json!({}), SECOND).await;
        assert_eq!(error, Err(ModelError::TooLarge));

        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let error = client(&format!("http://127.0.0.1:{port}/v1"), None)
            .complete(&json!({}), SECOND)
            .await;
        assert!(
            matches!(error, Err(ModelError::Unreachable(_))),
            "{error:?}"
        );

        let error = client(&base, None)
            .complete(&json!({}), Duration::ZERO)
            .await;
        assert!(matches!(error, Err(ModelError::Timeout(_))), "{error:?}");
    }

    #[tokio::test]
    async fn a_slow_model_times_out_in_time() {
        let (base, _) = serve(
            || Json(json!({"choices": [{"message": {"content": "late"}}]})).into_response(),
            Duration::from_secs(30),
        )
        .await;
        let started = std::time::Instant::now();
        let error = client(&base, None)
            .complete(&json!({}), Duration::from_millis(300))
            .await;
        assert!(matches!(error, Err(ModelError::Timeout(_))), "{error:?}");
        assert!(started.elapsed() < Duration::from_secs(3));
    }
}
