//! The MQTT target, with Home Assistant discovery. On every connection it
//! publishes, retained: `<prefix>/status` = `online` (the Last Will, set at
//! connect, makes it `offline` when the gateway goes away), a discovery config
//! for each known service's `running` binary sensor and `health` sensor, and
//! their states. Events go, not retained, to `<prefix>/events` as the webhook's
//! JSON. The connection is kept by rumqttc's event loop on its own task
//! (keep-alive, reconnection with a growing wait); this worker takes the queue.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rumqttc::{AsyncClient, LastWill, MqttOptions, QoS};
use serde_json::json;
use tokio::sync::{mpsc, watch};

use super::config::{MqttTarget, topic_segment};
use super::text::event_json;
use super::{Job, ServiceState, Shared, Tuning};

/// How long a graceful stop may take to say `offline` and disconnect.
pub(crate) const STOP_WITHIN: Duration = Duration::from_secs(3);

pub(crate) async fn run(
    name: String,
    target: MqttTarget,
    timeout: Duration,
    mut services: BTreeMap<String, ServiceState>,
    mut queue: mpsc::Receiver<Job>,
    shared: Arc<Shared>,
    tuning: Tuning,
) {
    let topics = Topics::new(&target);
    let mut options = MqttOptions::new(&target.client_id, &target.host, target.port);
    options.set_keep_alive(target.keep_alive);
    options.set_clean_session(true);
    options.set_last_will(LastWill::new(
        &topics.status,
        "offline",
        QoS::AtLeastOnce,
        true,
    ));
    if let Some(user) = &target.username {
        options.set_credentials(user, target.password.clone().unwrap_or_default());
    }
    let (client, eventloop) = AsyncClient::new(options, 64);
    let connected = Arc::new(AtomicBool::new(false));
    let stopping = Arc::new(AtomicBool::new(false));
    let (generation_tx, mut generation) = watch::channel(0u64);
    let poller = tokio::spawn(poll(
        name.clone(),
        target.clone(),
        eventloop,
        connected.clone(),
        stopping.clone(),
        generation_tx,
        tuning.mqtt_reconnect_max,
    ));

    loop {
        tokio::select! {
            changed = generation.changed() => {
                if changed.is_err() {
                    break;
                }
                announce(&client, &topics, &services, timeout).await;
            }
            job = queue.recv() => match job {
                None => break,
                Some(Job::State { service, state }) => {
                    if connected.load(Ordering::Relaxed) {
                        publish_service(&client, &topics, &service, &state, timeout).await;
                    }
                    services.insert(service, state);
                }
                Some(Job::Event(event)) => {
                    let result = if connected.load(Ordering::Relaxed) {
                        let payload = event_json(&event).to_string();
                        publish(&client, &topics.events, false, payload, timeout).await
                    } else {
                        Err("not connected to the broker".to_owned())
                    };
                    super::http::report(&shared, &name, &event, result, 1);
                }
            }
        }
    }

    // Stopped (the notifier dropped, or the target changed): say so, then leave.
    stopping.store(true, Ordering::Relaxed);
    if connected.load(Ordering::Relaxed) {
        let _ = publish(&client, &topics.status, true, "offline".into(), timeout).await;
        let _ = client.try_disconnect();
    }
    let mut poller = poller;
    if tokio::time::timeout(STOP_WITHIN, &mut poller)
        .await
        .is_err()
    {
        poller.abort();
    }
    tracing::info!(target_name = %name, "notification target stopped");
}

/// Drives the connection: reconnects with a growing wait, and bumps
/// `generation` on each new connection so the worker announces again.
async fn poll(
    name: String,
    target: MqttTarget,
    mut eventloop: rumqttc::EventLoop,
    connected: Arc<AtomicBool>,
    stopping: Arc<AtomicBool>,
    generation: watch::Sender<u64>,
    max_wait: Duration,
) {
    use rumqttc::{Event, Outgoing, Packet};
    let mut wait = Duration::from_secs(1).min(max_wait);
    loop {
        match eventloop.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                if ack.code == rumqttc::ConnectReturnCode::Success {
                    tracing::info!(target_name = %name, host = %target.host, port = target.port, "connected to the MQTT broker");
                    connected.store(true, Ordering::Relaxed);
                    wait = Duration::from_secs(1).min(max_wait);
                    generation.send_modify(|g| *g += 1);
                }
            }
            Ok(Event::Outgoing(Outgoing::Disconnect)) => {
                connected.store(false, Ordering::Relaxed);
                if stopping.load(Ordering::Relaxed) {
                    // Let the DISCONNECT reach the broker (so no Last Will).
                    let _ =
                        tokio::time::timeout(Duration::from_millis(500), eventloop.poll()).await;
                    return;
                }
            }
            Ok(_) => {}
            Err(error) => {
                connected.store(false, Ordering::Relaxed);
                if stopping.load(Ordering::Relaxed) {
                    return;
                }
                tracing::warn!(target_name = %name, host = %target.host, port = target.port, %error, retry_in_secs = wait.as_secs_f32(), "MQTT broker unreachable");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(max_wait);
            }
        }
    }
}

struct Topics {
    prefix: String,
    status: String,
    events: String,
    discovery: String,
    node: String,
}

impl Topics {
    fn new(target: &MqttTarget) -> Self {
        Self {
            prefix: target.prefix.clone(),
            status: format!("{}/status", target.prefix),
            events: format!("{}/events", target.prefix),
            discovery: target.discovery_prefix.clone(),
            node: target.node_id.clone(),
        }
    }
}

async fn publish(
    client: &AsyncClient,
    topic: &str,
    retain: bool,
    payload: String,
    timeout: Duration,
) -> Result<(), String> {
    match tokio::time::timeout(
        timeout,
        client.publish(topic, QoS::AtLeastOnce, retain, payload),
    )
    .await
    {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => Err(format!("cannot publish: {error}")),
        Err(_) => Err(format!(
            "the MQTT client took more than {} s",
            timeout.as_secs()
        )),
    }
}

/// After each (re)connection: online, then every known service's discovery and state.
async fn announce(
    client: &AsyncClient,
    topics: &Topics,
    services: &BTreeMap<String, ServiceState>,
    timeout: Duration,
) {
    let _ = publish(client, &topics.status, true, "online".into(), timeout).await;
    for (service, state) in services {
        publish_service(client, topics, service, state, timeout).await;
    }
}

/// A service's discovery configs (retained) and its states (retained).
async fn publish_service(
    client: &AsyncClient,
    topics: &Topics,
    service: &str,
    state: &ServiceState,
    timeout: Duration,
) {
    let segment = topic_segment(service);
    let running_topic = format!("{}/{segment}/running", topics.prefix);
    let health_topic = format!("{}/{segment}/health", topics.prefix);
    let device = json!({
        "identifiers": [topics.node],
        "name": format!("Ops-Copilot ({})", topics.node),
        "manufacturer": "Ops-Copilot",
    });
    let running_config = json!({
        "name": format!("{service} running"),
        "unique_id": format!("{}_{segment}_running", topics.node),
        "device_class": "running",
        "state_topic": running_topic,
        "payload_on": "ON",
        "payload_off": "OFF",
        "availability_topic": topics.status,
        "payload_available": "online",
        "payload_not_available": "offline",
        "device": device,
    });
    let health_config = json!({
        "name": format!("{service} health"),
        "unique_id": format!("{}_{segment}_health", topics.node),
        "icon": "mdi:heart-pulse",
        "state_topic": health_topic,
        "availability_topic": topics.status,
        "payload_available": "online",
        "payload_not_available": "offline",
        "device": device,
    });
    let messages = [
        (
            format!(
                "{}/binary_sensor/{}/{segment}_running/config",
                topics.discovery, topics.node
            ),
            running_config.to_string(),
        ),
        (
            format!(
                "{}/sensor/{}/{segment}_health/config",
                topics.discovery, topics.node
            ),
            health_config.to_string(),
        ),
        (
            running_topic,
            if state.running { "ON" } else { "OFF" }.to_owned(),
        ),
        (health_topic, state.health.clone()),
    ];
    for (topic, payload) in messages {
        if let Err(error) = publish(client, &topic, true, payload, timeout).await {
            tracing::warn!(%topic, %error, "MQTT state not published");
        }
    }
}
