//! A read is answered before its audit record is written (the record follows in the
//! next group commit). A graceful stop (SIGTERM) stores every such record before the
//! process exits: nothing lost, nothing half-written.

use std::time::Duration;

use crate::support::{ADMIN, Env, Options, STANDARD, run_cli};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_do_not_wait_for_the_audit_log_and_sigterm_stores_their_records() {
    let mut env = Env::start("gw-shutdown", &["sonarr"], Options::default()).await;
    let db = env.data_dir.join("audit.db");

    // Another connection holds the audit database's write lock: nothing can be
    // committed (the gateway waits up to its 5 s busy timeout), yet reads are answered.
    let lock = rusqlite::Connection::open(&db).expect("audit db");
    lock.execute_batch("BEGIN IMMEDIATE")
        .expect("the write lock");
    const READS: i64 = 40;
    for _ in 0..READS {
        env.call(STANDARD, "compose_ps", &env.ps_args())
            .await
            .expect(200);
    }
    assert_eq!(executed_reads(&lock), 0, "stored while the lock was held?");

    // SIGTERM while the records are still queued; the lock goes a moment later.
    let (status, log) = env.terminate_gateway(|| {
        std::thread::sleep(Duration::from_millis(300));
        lock.execute_batch("ROLLBACK").expect("release the lock");
    });
    assert!(status.success(), "{status:?}\n{log}");
    assert!(log.contains("audit log closed"), "{log}");

    // Every answered read has its record, and the chain and its anchor agree.
    assert_eq!(executed_reads(&lock), READS);
    let data_dir = env.data_dir.to_string_lossy().into_owned();
    let verify = run_cli(&["audit", "verify", "--data-dir", &data_dir]);
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );

    // A new process on the same data lists them.
    env.start_gateway().await;
    let listed = env.audit(ADMIN, "tool=compose_ps&decision=executed").await;
    assert_eq!(listed.len() as i64, READS);
}

fn executed_reads(conn: &rusqlite::Connection) -> i64 {
    conn.query_row(
        "SELECT count(*) FROM audit_log WHERE tool = 'compose_ps' AND decision = 'executed'",
        [],
        |r| r.get(0),
    )
    .expect("count the records")
}

/// An MCP client holding the server-sent event stream open (GET /mcp) does not
/// hold the gateway up: SIGTERM ends the stream and the process exits at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_ends_open_mcp_event_streams() {
    let mut env = Env::start("gw-mcp-stop", &["sonarr"], Options::default()).await;
    let session = env.mcp_session(STANDARD).await;
    let stream = test_support::http_client()
        .get(env.url("/mcp"))
        .header("authorization", env.bearer(STANDARD))
        .header("accept", "text/event-stream")
        .header("mcp-session-id", &session.session_id)
        .header("mcp-protocol-version", &session.protocol_version)
        .send()
        .await
        .expect("GET /mcp");
    assert_eq!(stream.status(), reqwest::StatusCode::OK);

    let started = std::time::Instant::now();
    let (status, log) = env.terminate_gateway(|| {});
    assert!(status.success(), "{status:?}\n{log}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "SIGTERM waited {:?} for the open event stream\n{log}",
        started.elapsed()
    );
    drop(stream);
}
