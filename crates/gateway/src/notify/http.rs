//! The HTTP targets: ntfy, Gotify and a webhook. One worker per target takes
//! its queue in order; each attempt has the target's timeout, a failure is
//! retried after the tuning's backoff, except a 4xx other than 429 (the request
//! itself is wrong: sending it again cannot help).

use std::sync::Arc;

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use serde_json::json;
use tokio::sync::mpsc;

use super::config::{Target, TargetKind};
use super::text::{event_json, header_text};
use super::{Delivery, Job, Outgoing, Shared, TargetLabels, Tuning};

pub(crate) async fn run(
    target: Target,
    mut queue: mpsc::Receiver<Job>,
    shared: Arc<Shared>,
    tuning: Tuning,
) {
    let client = match reqwest::Client::builder()
        .timeout(target.timeout)
        .connect_timeout(target.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
    {
        Ok(client) => client,
        Err(error) => {
            tracing::error!(target_name = %target.name, error = %ops_core::error_chain(&error), "cannot make the notification client: this target gets nothing");
            return;
        }
    };
    while let Some(job) = queue.recv().await {
        let Job::Event(event) = job else { continue };
        let (result, attempts) = deliver(&client, &target, &event, &tuning).await;
        report(&shared, &target.name, &event, result, attempts);
    }
}

/// Sends with retries: the outcome and the attempts made.
async fn deliver(
    client: &reqwest::Client,
    target: &Target,
    event: &Outgoing,
    tuning: &Tuning,
) -> (Result<(), String>, u32) {
    let mut attempts = 0;
    loop {
        attempts += 1;
        let outcome = attempt(client, target, event).await;
        match outcome {
            Ok(()) => return (Ok(()), attempts),
            Err(failure) => {
                let wait = tuning.backoff.get(attempts as usize - 1);
                match wait {
                    Some(wait) if failure.retry => {
                        tracing::debug!(target_name = %target.name, attempt = attempts, reason = %failure.reason, "notification attempt failed; retrying");
                        tokio::time::sleep(*wait).await;
                    }
                    _ => return (Err(failure.reason), attempts),
                }
            }
        }
    }
}

struct Failure {
    reason: String,
    retry: bool,
}

async fn attempt(
    client: &reqwest::Client,
    target: &Target,
    event: &Outgoing,
) -> Result<(), Failure> {
    let request = build(client, target, event).map_err(|reason| Failure {
        reason,
        retry: false,
    })?;
    let response = request.send().await.map_err(|error| Failure {
        // Without the URL: an ntfy topic is as good as a password.
        reason: if error.is_timeout() {
            format!("no answer within {} s", target.timeout.as_secs())
        } else {
            ops_core::error_chain(&error.without_url())
        },
        retry: true,
    })?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let retry = status.is_server_error() || status.as_u16() == 429;
    Err(Failure {
        reason: format!("answered {status}"),
        retry,
    })
}

/// The request a target's documented API wants.
pub(crate) fn build(
    client: &reqwest::Client,
    target: &Target,
    event: &Outgoing,
) -> Result<reqwest::RequestBuilder, String> {
    let bearer = |token: &str| {
        let mut value = HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| "the token holds characters a header cannot carry".to_owned())?;
        value.set_sensitive(true);
        Ok::<_, String>(value)
    };
    match &target.kind {
        TargetKind::Ntfy {
            url,
            token,
            priority,
            tags,
            click,
        } => {
            // POST to the topic URL; the body is the message; the rest in headers.
            let mut headers = HeaderMap::new();
            let mut put = |name: &'static str, value: String| {
                if let Ok(value) = HeaderValue::from_str(&value) {
                    headers.insert(HeaderName::from_static(name), value);
                }
            };
            if !event.title.is_empty() {
                put("title", header_text(&event.title));
            }
            if let Some(priority) = priority {
                put("priority", priority.to_string());
            }
            if !tags.is_empty() {
                put("tags", tags.join(","));
            }
            let mut body = event.message.clone();
            match (&event.link, click) {
                (Some(link), true) => put("click", link.clone()),
                (Some(link), false) => body = with_link(&body, link),
                (None, _) => {}
            }
            if let Some(token) = token {
                headers.insert(AUTHORIZATION, bearer(token)?);
            }
            headers.insert(
                CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            );
            Ok(client.post(url.clone()).headers(headers).body(body))
        }
        TargetKind::Gotify {
            url,
            token,
            priority,
        } => {
            // POST {url}/message, the app token in X-Gotify-Key, a JSON message.
            let endpoint = join_path(url, "message");
            let mut key = HeaderValue::from_str(token)
                .map_err(|_| "the token holds characters a header cannot carry".to_owned())?;
            key.set_sensitive(true);
            let mut body = json!({
                "title": event.title,
                "message": match &event.link {
                    Some(link) => with_link(&event.message, link),
                    None => event.message.clone(),
                },
                "priority": priority,
            });
            if let Some(link) = &event.link {
                body["extras"] = json!({ "client::notification": { "click": { "url": link } } });
            }
            Ok(client
                .post(endpoint)
                .header(HeaderName::from_static("x-gotify-key"), key)
                .json(&body))
        }
        TargetKind::Webhook { url, token } => {
            let mut request = client.post(url.clone()).json(&event_json(event));
            if let Some(token) = token {
                request = request.header(AUTHORIZATION, bearer(token)?);
            }
            Ok(request)
        }
        TargetKind::Mqtt(_) => Err("not an HTTP target".into()),
    }
}

fn with_link(message: &str, link: &str) -> String {
    if message.is_empty() {
        link.to_owned()
    } else {
        format!("{message}\n\n{link}")
    }
}

/// `base` with `segment` appended to its path (`http://g.lan/sub` → `.../sub/message`).
fn join_path(base: &reqwest::Url, segment: &str) -> reqwest::Url {
    let mut url = base.clone();
    let path = format!("{}/{segment}", base.path().trim_end_matches('/'));
    url.set_path(&path);
    url
}

/// Counts, logs (never a token) and remembers one delivery's outcome.
pub(crate) fn report(
    shared: &Shared,
    target: &str,
    event: &Outgoing,
    result: Result<(), String>,
    attempts: u32,
) {
    let labels = TargetLabels {
        target: target.to_owned(),
    };
    let ok = result.is_ok();
    match &result {
        Ok(()) => {
            shared.metrics.sent.get_or_create(&labels).inc();
            tracing::info!(target_name = target, kind = event.kind.as_str(), service = ?event.service, attempts, "notification sent");
        }
        Err(reason) => {
            shared.metrics.failed.get_or_create(&labels).inc();
            tracing::warn!(target_name = target, kind = event.kind.as_str(), service = ?event.service, attempts, reason = %reason, "notification failed");
        }
    }
    shared.record(Delivery {
        target: target.to_owned(),
        kind: event.kind,
        service: event.service.clone(),
        ok,
        reason: result.err(),
        attempts,
        at: super::text::now_rfc3339(),
    });
}
