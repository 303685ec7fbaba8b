//! The audit log's head, sent off the machine (`--audit-head-url`): a local
//! receiver stands in for ntfy or a webhook and checks the wire format (a
//! text/plain POST of one witness line, the bearer token). While the receiver
//! is down the gateway keeps answering and counts the failures; once it is
//! back, the newest head arrives, the last one on SIGTERM too, and the lines
//! received are a witness file that `audit verify` accepts.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;

use crate::support::{Env, Options, STANDARD, output_text, run_cli};

const TOKEN: &str = "tk_heads_receiver_token";

#[derive(Clone, Default)]
struct Receiver {
    up: Arc<AtomicBool>,
    /// (authorization, content type, body) of every POST that was accepted.
    accepted: Arc<Mutex<Vec<(String, String, String)>>>,
    refused: Arc<Mutex<u32>>,
}

impl Receiver {
    async fn start(&self) -> String {
        let me = self.clone();
        let app = Router::new().route(
            "/heads",
            post(move |headers: HeaderMap, body: String| {
                let me = me.clone();
                async move {
                    if !me.up.load(Ordering::SeqCst) {
                        *me.refused.lock().unwrap() += 1;
                        return StatusCode::SERVICE_UNAVAILABLE;
                    }
                    let header = |name: &str| {
                        headers
                            .get(name)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_owned()
                    };
                    me.accepted.lock().unwrap().push((
                        header("authorization"),
                        header("content-type"),
                        body,
                    ));
                    StatusCode::OK
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/heads", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        url
    }

    fn bodies(&self) -> Vec<String> {
        self.accepted
            .lock()
            .unwrap()
            .iter()
            .map(|(_, _, body)| body.clone())
            .collect()
    }
}

/// The seq a witness line names (`ops-copilot-audit-witness v1 <time> <seq> <hash> <seal>`).
fn seq_of(line: &str) -> i64 {
    let fields: Vec<&str> = line.trim_end().split(' ').collect();
    assert_eq!(fields.len(), 6, "not a witness line: {line:?}");
    assert_eq!(
        &fields[..2],
        ["ops-copilot-audit-witness", "v1"],
        "{line:?}"
    );
    assert_eq!(fields[4].len(), 64, "{line:?}");
    fields[3]
        .parse()
        .unwrap_or_else(|_| panic!("no seq in {line:?}"))
}

fn head_seq(env: &Env) -> i64 {
    let conn = rusqlite::Connection::open(env.data_dir.join("audit.db")).unwrap();
    conn.query_row("SELECT max(seq) FROM audit_log", [], |r| r.get(0))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_head_leaves_the_machine_and_is_a_witness() {
    let receiver = Receiver::default();
    let url = receiver.start().await;
    let mut env = Env::start("gw-heads", &["sonarr"], Options::default()).await;
    let token_file = env.dir.join("heads.token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    env.stop_gateway();
    env.start_gateway_with(&[
        "--audit-head-url".into(),
        url,
        "--audit-head-token-file".into(),
        token_file.display().to_string(),
        "--audit-head-interval-secs".into(),
        "1".into(),
    ])
    .await;

    // The receiver is down: calls are answered all the same, failures counted.
    for _ in 0..3 {
        env.call(STANDARD, "compose_ps", &env.ps_args())
            .await
            .expect(200);
    }
    test_support::wait_for(
        "a failed send to be counted",
        Duration::from_secs(15),
        || async {
            let metrics = env.get(STANDARD, "/metrics").await;
            let text = metrics.body.as_str().unwrap_or_default().to_owned();
            if text.contains("ops_copilot_gateway_audit_head_send_failures_total 0") {
                Err(text)
            } else if text.contains("ops_copilot_gateway_audit_head_send_failures_total") {
                Ok(())
            } else {
                Err(format!("no failure counter in {text}"))
            }
        },
    )
    .await;
    assert!(*receiver.refused.lock().unwrap() >= 1);
    assert!(receiver.bodies().is_empty());

    // Back up: the newest head arrives, as one witness line with the token.
    receiver.up.store(true, Ordering::SeqCst);
    test_support::wait_for(
        "the newest head to arrive",
        Duration::from_secs(15),
        || async {
            let newest = receiver.bodies().last().map(|line| seq_of(line));
            let head = head_seq(&env);
            if newest == Some(head) {
                Ok(())
            } else {
                Err(format!("received {newest:?}, head {head}"))
            }
        },
    )
    .await;
    for (authorization, content_type, body) in receiver.accepted.lock().unwrap().iter() {
        assert_eq!(authorization, &format!("Bearer {TOKEN}"));
        assert!(content_type.starts_with("text/plain"), "{content_type}");
        assert_eq!(body.lines().count(), 1, "{body:?}");
    }

    // More calls, then a graceful stop: the head after them is sent on the way out.
    for _ in 0..2 {
        env.call(STANDARD, "compose_ps", &env.ps_args())
            .await
            .expect(200);
    }
    let (status, log) = env.terminate_gateway(|| {});
    assert!(status.success(), "{status:?}\n{log}");
    let bodies = receiver.bodies();
    let last = bodies.last().map(|line| seq_of(line));
    assert_eq!(last, Some(head_seq(&env)), "{bodies:?}\n{log}");
    let seqs: Vec<i64> = bodies.iter().map(|line| seq_of(line)).collect();
    assert!(seqs.windows(2).all(|pair| pair[0] < pair[1]), "{seqs:?}");

    // What the receiver kept is a witness file for `audit verify`.
    let received = env.dir.join("received.witness");
    std::fs::write(&received, bodies.concat()).unwrap();
    let data_dir = env.data_dir.display().to_string();
    let received_arg = received.display().to_string();
    let verify = run_cli(&[
        "audit",
        "verify",
        "--data-dir",
        &data_dir,
        "--witness",
        &received_arg,
    ]);
    assert!(verify.status.success(), "{}", output_text(&verify));
    assert!(
        output_text(&verify).contains("proven"),
        "{}",
        output_text(&verify)
    );
}

#[test]
fn a_token_in_clear_text_off_loopback_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("t");
    std::fs::write(&token_file, TOKEN).unwrap();
    let data_dir = dir.path().join("data").display().to_string();
    let token_arg = token_file.display().to_string();
    let config = test_support::repo_root().join("config");
    let registry = config.join("tool_registry.yaml").display().to_string();
    let policy = config.join("policy.yaml").display().to_string();
    let output = run_cli(&[
        "gateway",
        "--registry",
        &registry,
        "--policy",
        &policy,
        "--data-dir",
        &data_dir,
        "--listen",
        "127.0.0.1:0",
        "--audit-head-url",
        "http://logs.example.net/heads",
        "--audit-head-token-file",
        &token_arg,
    ]);
    assert!(!output.status.success());
    let text = output_text(&output);
    assert!(
        text.contains("clear text") && text.contains("https"),
        "{text}"
    );
    assert!(!text.contains(TOKEN), "{text}");
}
