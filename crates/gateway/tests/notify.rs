//! The notifier against real receivers on 127.0.0.1: small HTTP servers that
//! check ntfy's, Gotify's and a webhook's documented requests (and play a target
//! that is down, slow or failing), and a real MQTT broker (Debian's mosquitto)
//! read back with an MQTT client. No Docker needed.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use gateway::metrics::Metrics;
use gateway::notify::{Event, EventKind, Notifier, NotifyConfig, Tuning};
use redact::Redactor;
use serde_json::Value;
use tokio::sync::mpsc;

// --- HTTP receivers -------------------------------------------------------------

#[derive(Debug, Clone)]
struct Received {
    method: Method,
    path: String,
    headers: HeaderMap,
    body: Bytes,
    at: Instant,
}

impl Received {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

#[derive(Clone, Copy)]
enum Behaviour {
    Ok,
    Status(u16),
    Slow(Duration),
}

struct Receiver {
    addr: SocketAddr,
    requests: mpsc::UnboundedReceiver<Received>,
    hits: Arc<AtomicU32>,
}

impl Receiver {
    async fn start(behaviour: Behaviour) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, requests) = mpsc::unbounded_channel();
        let hits = Arc::new(AtomicU32::new(0));
        let counted = hits.clone();
        let app = axum::Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let tx = tx.clone();
                let counted = counted.clone();
                async move {
                    counted.fetch_add(1, Ordering::SeqCst);
                    let _ = tx.send(Received {
                        method,
                        path: uri.to_string(),
                        headers,
                        body,
                        at: Instant::now(),
                    });
                    match behaviour {
                        Behaviour::Ok => StatusCode::OK,
                        Behaviour::Status(code) => StatusCode::from_u16(code).unwrap(),
                        Behaviour::Slow(wait) => {
                            tokio::time::sleep(wait).await;
                            StatusCode::OK
                        }
                    }
                }
            },
        );
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            addr,
            requests,
            hits,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    async fn next(&mut self, within: Duration) -> Received {
        tokio::time::timeout(within, self.requests.recv())
            .await
            .unwrap_or_else(|_| panic!("nothing reached {} within {within:?}", self.addr))
            .unwrap()
    }
}

/// A port nothing listens on.
async fn closed_port() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().port()
}

fn secret(dir: &Path, name: &str, value: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, format!("{value}\n")).unwrap();
    path.display().to_string()
}

fn config(text: &str) -> Arc<NotifyConfig> {
    Arc::new(NotifyConfig::parse("notify.yaml", text).unwrap_or_else(|e| panic!("{e}")))
}

fn start(config: Arc<NotifyConfig>, metrics: &Metrics, tuning: Tuning) -> Notifier {
    let redactor = Arc::new(Redactor::new(&["hunter[0-9]+".to_owned()]).unwrap());
    Notifier::start_with(
        move || config.clone(),
        move || redactor.clone(),
        metrics.notify(),
        tuning,
    )
}

fn fast() -> Tuning {
    Tuning {
        backoff: vec![Duration::from_millis(50), Duration::from_millis(100)],
        resync_every: Duration::from_millis(200),
        ..Tuning::default()
    }
}

fn unhealthy(service: &str) -> Event {
    Event {
        kind: EventKind::Unhealthy,
        service: Some(service.to_owned()),
        title: format!("{service} is unhealthy"),
        message: format!("{service}'s health check failed 3 times; password hunter2 in its log"),
        link: Some(format!("/containers?service={service}")),
    }
}

/// Waits until `recent()` holds `count` deliveries.
async fn recent_reaches(notifier: &Notifier, count: usize, within: Duration) {
    let deadline = Instant::now() + within;
    while notifier.recent().len() < count {
        assert!(
            Instant::now() < deadline,
            "recent() has {:?}, waited for {count}",
            notifier.recent()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn metric(metrics: &Metrics, line_start: &str) -> Option<f64> {
    metrics
        .render()
        .lines()
        .find(|l| l.starts_with(line_start))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ntfy_gotify_and_the_webhook_get_their_documented_requests() {
    let dir = tempfile::tempdir().unwrap();
    let mut ntfy = Receiver::start(Behaviour::Ok).await;
    let mut gotify = Receiver::start(Behaviour::Ok).await;
    let mut hook = Receiver::start(Behaviour::Ok).await;
    let text = format!(
        "link_base: http://pi.local:8080\n\
         targets:\n\
         \x20 - ntfy: {{ url: '{}', token_file: {}, priority: 4, tags: [whale, warning] }}\n\
         \x20 - gotify: {{ url: '{}', token_file: {}, priority: 8 }}\n\
         \x20 - webhook: {{ url: '{}', token_file: {} }}\n",
        ntfy.url("/ops-alerts"),
        secret(dir.path(), "ntfy", "tk_ntfy123"),
        gotify.url("/gotify"),
        secret(dir.path(), "gotify", "AbCgotify.9"),
        hook.url("/hooks/ops"),
        secret(dir.path(), "hook", "hook-secret"),
    );
    let metrics = Metrics::default();
    let notifier = start(config(&text), &metrics, fast());
    notifier.send(unhealthy("sonarr"));
    let link = "http://pi.local:8080/containers?service=sonarr";
    let redacted = "sonarr's health check failed 3 times; password [REDACTED] in its log";

    // ntfy: POST to the topic URL, the message as the body, the rest in headers.
    let got = ntfy.next(Duration::from_secs(5)).await;
    assert_eq!(got.method, Method::POST);
    assert_eq!(got.path, "/ops-alerts");
    assert_eq!(std::str::from_utf8(&got.body).unwrap(), redacted);
    assert_eq!(got.header("title"), Some("sonarr is unhealthy"));
    assert_eq!(got.header("priority"), Some("4"));
    assert_eq!(got.header("tags"), Some("whale,warning"));
    assert_eq!(got.header("click"), Some(link));
    assert_eq!(got.header("authorization"), Some("Bearer tk_ntfy123"));

    // Gotify: POST {url}/message, X-Gotify-Key, JSON with the click extra.
    let got = gotify.next(Duration::from_secs(5)).await;
    assert_eq!(got.method, Method::POST);
    assert_eq!(got.path, "/gotify/message");
    assert_eq!(got.header("x-gotify-key"), Some("AbCgotify.9"));
    assert_eq!(got.header("authorization"), None);
    assert!(
        got.header("content-type")
            .is_some_and(|c| c.starts_with("application/json")),
        "{:?}",
        got.headers
    );
    let body = got.json();
    assert_eq!(body["title"], "sonarr is unhealthy");
    assert_eq!(body["message"], format!("{redacted}\n\n{link}"));
    assert_eq!(body["priority"], 8);
    assert_eq!(body["extras"]["client::notification"]["click"]["url"], link);

    // The webhook: the event as JSON, a bearer token.
    let got = hook.next(Duration::from_secs(5)).await;
    assert_eq!(got.method, Method::POST);
    assert_eq!(got.path, "/hooks/ops");
    assert_eq!(got.header("authorization"), Some("Bearer hook-secret"));
    let body = got.json();
    let mut keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, ["at", "event", "link", "message", "service", "title"]);
    assert_eq!(body["event"], "unhealthy");
    assert_eq!(body["service"], "sonarr");
    assert_eq!(body["title"], "sonarr is unhealthy");
    assert_eq!(body["message"], redacted);
    assert_eq!(body["link"], link);
    let at = body["at"].as_str().unwrap();
    assert!(
        at.len() == 24 && at.ends_with('Z') && at.as_bytes()[10] == b'T',
        "{at}"
    );

    recent_reaches(&notifier, 3, Duration::from_secs(5)).await;
    let recent = notifier.recent();
    assert!(recent.iter().all(|d| d.ok && d.attempts == 1), "{recent:?}");
    let mut targets: Vec<_> = recent.iter().map(|d| d.target.as_str()).collect();
    targets.sort_unstable();
    assert_eq!(targets, ["gotify", "ntfy", "webhook"]);
    for target in ["ntfy", "gotify", "webhook"] {
        assert_eq!(
            metric(
                &metrics,
                &format!("ops_copilot_gateway_notifications_sent_total{{target=\"{target}\"}}")
            ),
            Some(1.0),
            "{}",
            metrics.render()
        );
    }

    // The same alert again within repeat_after: nothing is sent.
    notifier.send(unhealthy("sonarr"));
    // A recovery closes it and is sent; the webhook says so.
    notifier.send(Event {
        kind: EventKind::Recovered,
        service: Some("sonarr".into()),
        title: "sonarr recovered".into(),
        message: "healthy again".into(),
        link: None,
    });
    let got = hook.next(Duration::from_secs(5)).await;
    assert_eq!(got.json()["event"], "recovered");
    assert_eq!(got.json()["link"], "http://pi.local:8080/");
    assert_eq!(
        metric(
            &metrics,
            "ops_copilot_gateway_notifications_suppressed_total{reason=\"repeat\"}"
        ),
        Some(1.0)
    );
    // Never a token in what recent() says.
    let shown = serde_json::to_string(&notifier.recent()).unwrap();
    assert!(!shown.contains("tk_ntfy123") && !shown.contains("hook-secret"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_down_slow_or_failing_target_delays_and_loses_nothing_elsewhere() {
    let mut good = Receiver::start(Behaviour::Ok).await;
    let slow = Receiver::start(Behaviour::Slow(Duration::from_secs(5))).await;
    let failing = Receiver::start(Behaviour::Status(500)).await;
    let refusing = Receiver::start(Behaviour::Status(404)).await;
    let down = closed_port().await;
    let text = format!(
        "targets:\n\
         \x20 - webhook: {{ name: down, url: 'http://127.0.0.1:{down}/x' }}\n\
         \x20 - webhook: {{ name: slow, url: '{}', timeout_seconds: 2 }}\n\
         \x20 - webhook: {{ name: failing, url: '{}' }}\n\
         \x20 - webhook: {{ name: refusing, url: '{}' }}\n\
         \x20 - webhook: {{ name: good, url: '{}' }}\n",
        slow.url("/x"),
        failing.url("/x"),
        refusing.url("/x"),
        good.url("/x"),
    );
    let metrics = Metrics::default();
    let notifier = start(config(&text), &metrics, fast());

    let sent_at = Instant::now();
    notifier.send(unhealthy("sonarr"));
    // Had it waited for the others, at least the slow one's 3 timeouts (6 s).
    let got = good.next(Duration::from_secs(3)).await;
    assert!(
        got.at.duration_since(sent_at) < Duration::from_secs(2),
        "the good target waited {:?}",
        got.at.duration_since(sent_at)
    );
    // A second event while the others are still retrying reaches it too, on time.
    let second_at = Instant::now();
    notifier.send(unhealthy("radarr"));
    let got = good.next(Duration::from_secs(3)).await;
    assert_eq!(got.json()["service"], "radarr");
    assert!(got.at.duration_since(second_at) < Duration::from_secs(2));

    // 5 targets x 2 events: all reported within the retries' time.
    recent_reaches(&notifier, 10, Duration::from_secs(30)).await;
    let recent = notifier.recent();
    let of = |target: &str| -> Vec<_> { recent.iter().filter(|d| d.target == target).collect() };
    for delivery in of("good") {
        assert!(delivery.ok && delivery.attempts == 1, "{delivery:?}");
    }
    for delivery in of("down") {
        assert!(!delivery.ok && delivery.attempts == 3, "{delivery:?}");
        assert!(
            delivery.reason.as_deref().unwrap().contains("onnect"),
            "{delivery:?}"
        );
    }
    for delivery in of("slow") {
        assert!(!delivery.ok && delivery.attempts == 3, "{delivery:?}");
        assert_eq!(delivery.reason.as_deref(), Some("no answer within 2 s"));
    }
    for delivery in of("failing") {
        assert!(!delivery.ok && delivery.attempts == 3, "{delivery:?}");
        assert_eq!(
            delivery.reason.as_deref(),
            Some("answered 500 Internal Server Error")
        );
    }
    // A 404 is the request's fault: not retried.
    for delivery in of("refusing") {
        assert!(!delivery.ok && delivery.attempts == 1, "{delivery:?}");
    }
    assert_eq!(failing.hits.load(Ordering::SeqCst), 6);
    assert_eq!(refusing.hits.load(Ordering::SeqCst), 2);
    for (target, sent, failed) in [
        ("good", Some(2.0), None),
        ("down", None, Some(2.0)),
        ("slow", None, Some(2.0)),
        ("failing", None, Some(2.0)),
        ("refusing", None, Some(2.0)),
    ] {
        let labels = format!("{{target=\"{target}\"}}");
        assert_eq!(
            metric(
                &metrics,
                &format!("ops_copilot_gateway_notifications_sent_total{labels}")
            ),
            sent,
            "{target}"
        );
        assert_eq!(
            metric(
                &metrics,
                &format!("ops_copilot_gateway_notifications_failed_total{labels}")
            ),
            failed,
            "{target}: {}",
            metrics.render()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_excess_over_a_targets_rate_is_dropped_and_counted() {
    let mut hook = Receiver::start(Behaviour::Ok).await;
    let text = format!(
        "targets:\n  - webhook: {{ url: '{}', rate_per_minute: 2 }}\n",
        hook.url("/x")
    );
    let metrics = Metrics::default();
    let notifier = start(config(&text), &metrics, fast());
    for service in ["a", "b", "c", "d"] {
        notifier.send(unhealthy(service));
    }
    let first = hook.next(Duration::from_secs(5)).await.json();
    let second = hook.next(Duration::from_secs(5)).await.json();
    assert_eq!(first["service"], "a");
    assert_eq!(second["service"], "b");
    assert!(
        tokio::time::timeout(Duration::from_millis(300), hook.requests.recv())
            .await
            .is_err(),
        "a third one was sent"
    );
    assert_eq!(
        metric(
            &metrics,
            "ops_copilot_gateway_notifications_dropped_total{target=\"webhook\",reason=\"rate_limited\"}"
        ),
        Some(2.0),
        "{}",
        metrics.render()
    );
    let dropped: Vec<_> = notifier.recent().into_iter().filter(|d| !d.ok).collect();
    assert_eq!(dropped.len(), 2, "{dropped:?}");
    assert!(dropped.iter().all(|d| d.attempts == 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_drops_and_counts_without_blocking_the_caller() {
    let slow = Receiver::start(Behaviour::Slow(Duration::from_millis(1500))).await;
    let text = format!(
        "targets:\n  - webhook: {{ name: slow, url: '{}', timeout_seconds: 5 }}\n",
        slow.url("/x")
    );
    let metrics = Metrics::default();
    let notifier = start(config(&text), &metrics, Tuning { queue: 1, ..fast() });
    notifier.send(unhealthy("a"));
    // The worker takes the first; wait until it is in flight.
    let deadline = Instant::now() + Duration::from_secs(5);
    while slow.hits.load(Ordering::SeqCst) == 0 {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let sending = Instant::now();
    for service in ["b", "c", "d"] {
        notifier.send(unhealthy(service));
    }
    // The first answer takes 1.5 s: a send that waited for room would take that long.
    assert!(
        sending.elapsed() < Duration::from_millis(700),
        "send waited"
    );
    assert_eq!(
        metric(
            &metrics,
            "ops_copilot_gateway_notifications_dropped_total{target=\"slow\",reason=\"queue_full\"}"
        ),
        Some(2.0),
        "{}",
        metrics.render()
    );
    // The one queued is still delivered.
    recent_reaches(&notifier, 4, Duration::from_secs(10)).await;
    let delivered: Vec<_> = notifier
        .recent()
        .into_iter()
        .filter(|d| d.ok)
        .map(|d| d.service.unwrap())
        .collect();
    assert_eq!(delivered, ["b", "a"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_configuration_takes_effect_at_the_next_event() {
    let mut first = Receiver::start(Behaviour::Ok).await;
    let mut second = Receiver::start(Behaviour::Ok).await;
    let current = Arc::new(Mutex::new(config(&format!(
        "targets:\n  - webhook: {{ url: '{}' }}\n",
        first.url("/x")
    ))));
    let source = current.clone();
    let notifier = Notifier::start_with(
        move || source.lock().unwrap().clone(),
        || Arc::new(Redactor::new(&[]).unwrap()),
        Metrics::default().notify(),
        fast(),
    );
    notifier.send(unhealthy("a"));
    first.next(Duration::from_secs(5)).await;
    *current.lock().unwrap() = config(&format!(
        "targets:\n  - webhook: {{ url: '{}' }}\n",
        second.url("/x")
    ));
    notifier.send(unhealthy("b"));
    assert_eq!(
        second.next(Duration::from_secs(5)).await.json()["service"],
        "b"
    );
    assert!(
        tokio::time::timeout(Duration::from_millis(300), first.requests.recv())
            .await
            .is_err()
    );
}

// --- MQTT -------------------------------------------------------------------------

/// Debian's mosquitto on a free loopback port, stopped when dropped.
struct Broker {
    port: u16,
    child: std::process::Child,
    _dir: tempfile::TempDir,
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn mosquitto_binary() -> Option<std::path::PathBuf> {
    [
        "/usr/sbin/mosquitto",
        "/usr/bin/mosquitto",
        "/usr/local/sbin/mosquitto",
    ]
    .iter()
    .map(std::path::PathBuf::from)
    .find(|p| p.is_file())
}

/// The broker, or None (a skip, said loudly) outside CI; in CI a missing broker fails.
async fn broker() -> Option<Broker> {
    let Some(binary) = mosquitto_binary() else {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!(
                "mosquitto is not installed, and CI=true: this test needs it \
                 (scripts/test.sh installs it: apt-get install -y mosquitto mosquitto-clients)"
            );
        }
        eprintln!(
            "\n#### SKIPPED: mosquitto is not installed (apt-get install -y mosquitto mosquitto-clients) ####\n"
        );
        return None;
    };
    let dir = tempfile::tempdir().unwrap();
    let port = closed_port().await;
    let conf = dir.path().join("mosquitto.conf");
    std::fs::write(
        &conf,
        format!("listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"),
    )
    .unwrap();
    let child = std::process::Command::new(binary)
        .arg("-c")
        .arg(&conf)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("mosquitto starts");
    let broker = Broker {
        port,
        child,
        _dir: dir,
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(
            Instant::now() < deadline,
            "mosquitto did not listen on {port}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Some(broker)
}

#[derive(Debug, Clone, PartialEq)]
struct Message {
    payload: String,
    retain: bool,
}

/// Subscribes to everything; collects what arrives, by topic (the newest last).
struct Watcher {
    seen: Arc<Mutex<BTreeMap<String, Vec<Message>>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Watcher {
    async fn start(port: u16, id: &str) -> Self {
        let mut options = rumqttc::MqttOptions::new(id, "127.0.0.1", port);
        options.set_keep_alive(Duration::from_secs(5));
        let (client, mut eventloop) = rumqttc::AsyncClient::new(options, 16);
        client
            .subscribe("#", rumqttc::QoS::AtLeastOnce)
            .await
            .unwrap();
        let seen = Arc::new(Mutex::new(BTreeMap::<String, Vec<Message>>::new()));
        let sink = seen.clone();
        let task = tokio::spawn(async move {
            let _client = client;
            loop {
                match eventloop.poll().await {
                    Ok(rumqttc::Event::Incoming(rumqttc::Packet::Publish(p))) => {
                        sink.lock()
                            .unwrap()
                            .entry(p.topic.clone())
                            .or_default()
                            .push(Message {
                                payload: String::from_utf8_lossy(&p.payload).into_owned(),
                                retain: p.retain,
                            });
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        });
        Self { seen, task }
    }

    /// Waits for the newest message on `topic` to be `payload`; returns it.
    async fn wait_for(&self, topic: &str, payload: &str) -> Message {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(last) = self.seen.lock().unwrap().get(topic).and_then(|m| m.last())
                && last.payload == payload
            {
                return last.clone();
            }
            assert!(
                Instant::now() < deadline,
                "{topic} never became {payload:?}; seen: {:#?}",
                self.seen.lock().unwrap()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn last(&self, topic: &str) -> Option<Message> {
        self.seen
            .lock()
            .unwrap()
            .get(topic)
            .and_then(|m| m.last().cloned())
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn mqtt_config(port: u16) -> Arc<NotifyConfig> {
    config(&format!(
        "targets:\n  - mqtt: {{ host: 127.0.0.1, port: {port}, prefix: opstest, discovery_prefix: homeassistant, keep_alive_seconds: 5 }}\n"
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtt_publishes_home_assistant_discovery_states_events_and_availability() {
    let Some(broker) = broker().await else { return };
    let port = broker.port;
    let metrics = Metrics::default();
    let notifier = start(mqtt_config(port), &metrics, fast());
    // A service name that is no topic level as it is.
    notifier.service_state("Sonarr v4", true, "healthy");

    let live = Watcher::start(port, "watcher-live").await;
    live.wait_for("opstest/status", "online").await;
    live.wait_for("opstest/sonarr_v4/running", "ON").await;
    live.wait_for("opstest/sonarr_v4/health", "healthy").await;

    // What a newcomer (Home Assistant starting later) gets: the retained messages.
    let late = Watcher::start(port, "watcher-late").await;
    let status = late.wait_for("opstest/status", "online").await;
    assert!(status.retain);
    assert!(
        late.wait_for("opstest/sonarr_v4/running", "ON")
            .await
            .retain
    );
    assert!(
        late.wait_for("opstest/sonarr_v4/health", "healthy")
            .await
            .retain
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    let running_topic = "homeassistant/binary_sensor/opstest/sonarr_v4_running/config";
    let health_topic = "homeassistant/sensor/opstest/sonarr_v4_health/config";
    while late.last(running_topic).is_none() || late.last(health_topic).is_none() {
        assert!(Instant::now() < deadline, "no discovery configs");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let running = late.last(running_topic).unwrap();
    assert!(running.retain);
    let running: Value = serde_json::from_str(&running.payload).unwrap();
    assert_eq!(running["device_class"], "running");
    assert_eq!(running["state_topic"], "opstest/sonarr_v4/running");
    assert_eq!(running["availability_topic"], "opstest/status");
    assert_eq!(running["payload_on"], "ON");
    assert_eq!(running["payload_off"], "OFF");
    assert_eq!(running["unique_id"], "opstest_sonarr_v4_running");
    assert_eq!(running["device"]["identifiers"][0], "opstest");
    assert!(running["device"]["name"].is_string());
    let health = late.last(health_topic).unwrap();
    assert!(health.retain);
    let health: Value = serde_json::from_str(&health.payload).unwrap();
    assert_eq!(health["state_topic"], "opstest/sonarr_v4/health");
    assert_eq!(health["availability_topic"], "opstest/status");
    assert_eq!(health["unique_id"], "opstest_sonarr_v4_health");
    assert_eq!(health["device"]["identifiers"][0], "opstest");

    // A state change is retained too.
    notifier.service_state("Sonarr v4", false, "unhealthy");
    live.wait_for("opstest/sonarr_v4/running", "OFF").await;
    live.wait_for("opstest/sonarr_v4/health", "unhealthy").await;
    drop(late);
    let late = Watcher::start(port, "watcher-late-2").await;
    assert!(
        late.wait_for("opstest/sonarr_v4/running", "OFF")
            .await
            .retain
    );
    drop(late);

    // Events: the webhook's JSON on <prefix>/events, not retained.
    notifier.send(unhealthy("Sonarr v4"));
    let deadline = Instant::now() + Duration::from_secs(5);
    let event = loop {
        if let Some(m) = live.last("opstest/events") {
            break m;
        }
        assert!(Instant::now() < deadline, "no event published");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(!event.retain);
    let body: Value = serde_json::from_str(&event.payload).unwrap();
    assert_eq!(body["event"], "unhealthy");
    assert_eq!(body["service"], "Sonarr v4");
    assert!(body["message"].as_str().unwrap().contains("[REDACTED]"));
    recent_reaches(&notifier, 1, Duration::from_secs(5)).await;
    assert!(notifier.recent()[0].ok, "{:?}", notifier.recent());
    let late = Watcher::start(port, "watcher-late-3").await;
    late.wait_for("opstest/status", "online").await;
    assert_eq!(late.last("opstest/events"), None, "an event was retained");
    drop(late);

    // The notifier goes away: offline, retained.
    drop(notifier);
    live.wait_for("opstest/status", "offline").await;
    let late = Watcher::start(port, "watcher-late-4").await;
    assert!(late.wait_for("opstest/status", "offline").await.retain);
    drop(late);

    // Killed without a goodbye (its runtime shut down): the Last Will says offline.
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let config = mqtt_config(port);
    let killed = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let notifier = runtime.block_on(async {
            let notifier = start(config, &Metrics::default(), fast());
            notifier.service_state("radarr", true, "healthy");
            while go_rx.try_recv().is_err() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            notifier
        });
        runtime.shutdown_background();
        drop(notifier);
    });
    live.wait_for("opstest/status", "online").await;
    live.wait_for("opstest/radarr/running", "ON").await;
    go_tx.send(()).unwrap();
    killed.join().unwrap();
    let offline = live.wait_for("opstest/status", "offline").await;
    assert!(!offline.payload.is_empty());
    let late = Watcher::start(port, "watcher-late-5").await;
    assert!(late.wait_for("opstest/status", "offline").await.retain);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtt_reconnects_when_the_broker_comes_back() {
    let Some(first) = broker().await else { return };
    let port = first.port;
    let notifier = start(
        mqtt_config(port),
        &Metrics::default(),
        Tuning {
            mqtt_reconnect_max: Duration::from_millis(500),
            ..fast()
        },
    );
    notifier.service_state("lidarr", true, "healthy");
    {
        let watcher = Watcher::start(port, "watcher-a").await;
        watcher.wait_for("opstest/lidarr/running", "ON").await;
    }
    // The broker restarts on the same port, without persistence: it forgot
    // everything retained; the notifier announces it all again.
    let dir = tempfile::tempdir().unwrap();
    drop(first);
    let conf = dir.path().join("mosquitto.conf");
    std::fs::write(
        &conf,
        format!("listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"),
    )
    .unwrap();
    let child = std::process::Command::new(mosquitto_binary().unwrap())
        .arg("-c")
        .arg(&conf)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let _second = Broker {
        port,
        child,
        _dir: dir,
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let watcher = Watcher::start(port, "watcher-b").await;
    watcher.wait_for("opstest/status", "online").await;
    watcher.wait_for("opstest/lidarr/running", "ON").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_mqtt_target_reconnects_and_ends_online() {
    let Some(broker) = broker().await else { return };
    let port = broker.port;
    let live = Watcher::start(port, "watcher-swap").await;
    let current = Arc::new(Mutex::new(mqtt_config(port)));
    let source = current.clone();
    let notifier = Notifier::start_with(
        move || source.lock().unwrap().clone(),
        || Arc::new(Redactor::new(&[]).unwrap()),
        Metrics::default().notify(),
        fast(),
    );
    notifier.service_state("bazarr", true, "starting");
    live.wait_for("opstest/bazarr/health", "starting").await;
    live.wait_for("opstest/status", "online").await;
    // Another keep-alive: a new connection replaces the old one (same client id).
    *current.lock().unwrap() = config(&format!(
        "targets:\n  - mqtt: {{ host: 127.0.0.1, port: {port}, prefix: opstest, keep_alive_seconds: 7 }}\n"
    ));
    notifier.service_state("bazarr", true, "healthy");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let statuses: Vec<String> = live
            .seen
            .lock()
            .unwrap()
            .get("opstest/status")
            .map(|m| m.iter().map(|m| m.payload.clone()).collect())
            .unwrap_or_default();
        // online (old), offline (old leaving), online (new): in that order.
        if statuses.ends_with(&["online".into(), "offline".into(), "online".into()]) {
            break;
        }
        assert!(Instant::now() < deadline, "status went {statuses:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    live.wait_for("opstest/bazarr/health", "healthy").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(live.last("opstest/status").unwrap().payload, "online");

    // The target removed from the file: it leaves (offline) without waiting for an event.
    *current.lock().unwrap() = Arc::new(NotifyConfig::default());
    live.wait_for("opstest/status", "offline").await;
    // And added back: it comes (online, its states announced again).
    *current.lock().unwrap() = mqtt_config(port);
    live.wait_for("opstest/status", "online").await;
    drop(notifier);
}
