//! A local webhook receiver for the notification tests: it stands in for the
//! generic webhook target and keeps every JSON body it was sent, in order.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::post;
use serde_json::Value;
use test_support::wait_for;

#[derive(Clone, Default)]
pub struct Webhook {
    received: Arc<Mutex<Vec<Value>>>,
    pub url: String,
}

impl Webhook {
    pub async fn start() -> Self {
        let mut hook = Self::default();
        let received = hook.received.clone();
        let app = Router::new().route(
            "/hook",
            post(move |body: String| {
                let received = received.clone();
                async move {
                    match serde_json::from_str::<Value>(&body) {
                        Ok(json) => {
                            received.lock().unwrap().push(json);
                            StatusCode::OK
                        }
                        Err(_) => StatusCode::BAD_REQUEST,
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        hook.url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        hook
    }

    /// Everything received so far, oldest first.
    pub fn received(&self) -> Vec<Value> {
        self.received.lock().unwrap().clone()
    }

    /// The first event of `kind` about `service` (any service: `None`), waiting
    /// up to `within` for it.
    pub async fn wait_for(&self, kind: &str, service: Option<&str>, within: Duration) -> Value {
        let what = format!("a {kind} notification about {service:?}");
        wait_for(&what, within, || async {
            self.received()
                .into_iter()
                .find(|e| e["event"] == kind && service.is_none_or(|s| e["service"] == s))
                .ok_or_else(|| format!("{:#?}", self.received()))
        })
        .await
    }

    /// How many events of `kind` about `service` arrived.
    pub fn count(&self, kind: &str, service: &str) -> usize {
        self.received()
            .iter()
            .filter(|e| e["event"] == kind && e["service"] == service)
            .count()
    }
}
