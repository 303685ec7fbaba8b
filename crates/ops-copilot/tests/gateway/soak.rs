//! Load and soak: a legitimate caller's reads and approval round trips through the
//! gateway at a steady rate, while exhaustion attacks run beside it: idle and
//! byte-trickling connections up to the per-address cap (from other loopback
//! addresses), an MCP session flood and a pending-approval flood by the agent.
//!
//! Passes when the legitimate caller saw no error at all, the gateway's resident
//! memory stayed within [`RSS_GROWTH_BOUND`] of its level after warm-up, and the
//! audit verifies with every legitimate request in it. Loopback only; the length
//! comes from `OPS_SOAK_SECONDS` (default 60 s, as CI runs it; 30 s at least). A summary line
//! (`soak: ...`) is printed for the notes (docs/soak.md).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;
use test_support::mcp_http::{initialize_request, post_mcp};
use test_support::sockets;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpSocket, TcpStream};
use tokio::task::JoinSet;

use crate::support::{
    ADMIN, AGENT, Env, MCP_VERSION, Options, STANDARD, output_text, replace, run_cli,
};

/// How long the soak runs unless `OPS_SOAK_SECONDS` says otherwise.
const DEFAULT_SECONDS: u64 = 60;
/// Legitimate reads per second (compose_ps and compose_logs in turn).
const READS_PER_SECOND: u64 = 10;
/// The restart's cooldown, set short in the test's policy; each approval round
/// trip (request, approve, restart) waits it out after the previous one, plus a
/// second, so that a legitimate request never meets it whatever the load.
const COOLDOWN_SECONDS: u64 = 2;
const ROUND_TRIP_PAUSE: Duration = Duration::from_secs(COOLDOWN_SECONDS + 1);
/// Idle and trickling connections, each group from its own address: up to the
/// gateway's per-address cap (128) for the idle ones, half of it trickling, so
/// that the plane's total (256) keeps room for the legitimate caller.
const IDLE_CONNECTIONS: usize = 128;
const TRICKLING_CONNECTIONS: usize = 64;
/// After warm-up, the gateway's RSS may rise at most this much above its level then.
const RSS_GROWTH_BOUND_KIB: u64 = 32 * 1024;
const RSS_GROWTH_BOUND: &str = "32 MiB";

fn soak_duration() -> Duration {
    let seconds = std::env::var("OPS_SOAK_SECONDS")
        .ok()
        .map(|v| {
            v.trim()
                .parse::<u64>()
                .unwrap_or_else(|_| panic!("OPS_SOAK_SECONDS={v:?}: a number of seconds"))
        })
        .unwrap_or(DEFAULT_SECONDS);
    // Long enough for the header timeout (20 s) to cut the attackers off.
    Duration::from_secs(seconds.max(30))
}

/// VmRSS of a process, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("/proc/{pid}/status: {e}"));
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no VmRSS in /proc/{pid}/status"))
}

async fn connect_from(from: &str, port: u16) -> Option<TcpStream> {
    let socket = TcpSocket::new_v4().ok()?;
    socket.bind(format!("{from}:0").parse().ok()?).ok()?;
    socket
        .connect(format!("127.0.0.1:{port}").parse().ok()?)
        .await
        .ok()
}

/// What the legitimate caller did, and what went wrong for it.
#[derive(Default)]
struct Tally {
    reads: AtomicU64,
    round_trips: AtomicU64,
    errors: AtomicU64,
}

impl Tally {
    fn error(&self, what: String) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        eprintln!("soak: legitimate caller error: {what}");
    }
}

/// The legitimate reads, at a steady rate, until `stop`.
async fn reads(env: Arc<Env>, tally: Arc<Tally>, stop: Arc<AtomicBool>) {
    let mut tick = tokio::time::interval(Duration::from_millis(1000 / READS_PER_SECOND));
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        tick.tick().await;
        n += 1;
        let reply = if n.is_multiple_of(2) {
            env.call(STANDARD, "compose_ps", &env.ps_args()).await
        } else {
            env.call(STANDARD, "compose_logs", &env.logs_args("sonarr", 50))
                .await
        };
        tally.reads.fetch_add(1, Ordering::Relaxed);
        if reply.status != StatusCode::OK {
            tally.error(format!("read: {} {}", reply.status, reply.body));
        }
    }
}

/// One round trip: the request, listed for the admin despite the flood, approved,
/// and run.
async fn round_trip(env: &Env) -> Result<(), String> {
    let reply = env
        .call(STANDARD, "compose_restart", &env.restart_args("sonarr"))
        .await;
    let id = match reply.body["approval_id"].as_str() {
        Some(id) if reply.status == StatusCode::OK => id.to_owned(),
        _ => return Err(format!("request: {} {}", reply.status, reply.body)),
    };
    if !env
        .approvals(ADMIN)
        .await
        .iter()
        .any(|a| a["id"] == id.as_str())
    {
        return Err(format!("{id} is not listed for the admin"));
    }
    let reply = env.post(ADMIN, &format!("/approvals/{id}/approve")).await;
    if reply.status != StatusCode::OK || reply.body["ok"] != true {
        return Err(format!("approve: {} {}", reply.status, reply.body));
    }
    Ok(())
}

async fn round_trips(env: Arc<Env>, tally: Arc<Tally>, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Relaxed) {
        tokio::time::sleep(ROUND_TRIP_PAUSE).await;
        tally.round_trips.fetch_add(1, Ordering::Relaxed);
        if let Err(what) = round_trip(&env).await {
            tally.error(format!("round trip: {what}"));
        }
    }
}

/// `count` connections from the address `from`, each reopened when the server
/// closes it; `hold` does what the attacker does on one until it is closed, and
/// says whether the server closed it (counted in `cut`).
async fn hold_connections<F, Fut>(
    from: &'static str,
    port: u16,
    count: usize,
    cut: Arc<AtomicU64>,
    hold: F,
) where
    F: Fn(TcpStream) -> Fut + Copy + Send + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let mut open = JoinSet::new();
    for _ in 0..count {
        let cut = cut.clone();
        open.spawn(async move {
            loop {
                if let Some(stream) = connect_from(from, port).await
                    && hold(stream).await
                {
                    cut.fetch_add(1, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        });
    }
    open.join_all().await;
}

/// Idle connections: nothing sent, held until the server closes them.
async fn idle_connections(port: u16, cut: Arc<AtomicU64>) {
    hold_connections(
        "127.0.0.20",
        port,
        IDLE_CONNECTIONS,
        cut,
        |mut stream| async move {
            sockets::read_until_closed(&mut stream, Duration::from_secs(3600))
                .await
                .is_ok()
        },
    )
    .await;
}

/// Connections that send a header a byte every half second, forever.
async fn trickling_connections(port: u16, cut: Arc<AtomicU64>) {
    hold_connections(
        "127.0.0.21",
        port,
        TRICKLING_CONNECTIONS,
        cut,
        |mut stream| async move {
            let _ = stream.write_all(b"GET /health HTTP/1.1\r\nX-Slow: ").await;
            let (mut reader, writer) = stream.into_split();
            let trickle =
                sockets::trickle(writer, Duration::from_millis(500), |_| Some(b"a".to_vec()));
            let closed = sockets::read_until_closed(&mut reader, Duration::from_secs(3600)).await;
            trickle.abort();
            closed.is_ok()
        },
    )
    .await;
}

/// The agent opens MCP sessions without end (the cap answers 429 past 16).
async fn session_flood(env: Arc<Env>, refused: Arc<AtomicU64>) {
    let url = env.url("/mcp");
    let headers = [("authorization".to_owned(), env.bearer(AGENT))];
    loop {
        let response = post_mcp(&url, &headers, &initialize_request(1, MCP_VERSION)).await;
        if response.status == StatusCode::TOO_MANY_REQUESTS {
            refused.fetch_add(1, Ordering::Relaxed);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The agent requests restarts of ever new (made-up) services without end: the
/// pending cap answers 429 past 100.
async fn approval_flood(env: Arc<Env>, refused: Arc<AtomicU64>) {
    for i in 0u64.. {
        let args = json!({ "file": env.file(), "service": format!("flood-{i}") });
        let reply = env.call(AGENT, "compose_restart", &args).await;
        if reply.status == StatusCode::TOO_MANY_REQUESTS {
            refused.fetch_add(1, Ordering::Relaxed);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Audit records of the legitimate caller, by tool and decision.
fn audited(env: &Env, tool_like: &str, decision: &str) -> u64 {
    let db = rusqlite::Connection::open(env.data_dir.join("audit.db")).expect("open audit.db");
    db.query_row(
        "SELECT COUNT(*) FROM audit_log WHERE principal = ?1 AND tool LIKE ?2 AND decision = ?3",
        (STANDARD, tool_like, decision),
        |row| row.get::<_, i64>(0),
    )
    .map(|n| n as u64)
    .expect("count audit records")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legitimate_calls_stay_error_free_and_memory_flat_under_exhaustion_attacks() {
    let duration = soak_duration();
    let mut env = Env::start(
        "gw-soak",
        &["sonarr"],
        Options {
            agent: true,
            ..Options::default()
        },
    )
    .await;
    let registry = std::fs::read_to_string(&env.registry).expect("the registry");
    env.write_registry(&replace(
        &registry,
        "cooldown: { seconds: 300, key_by: service }",
        &format!("cooldown: {{ seconds: {COOLDOWN_SECONDS}, key_by: service }}"),
    ));
    env.write_policy(&replace(
        &env.policy_text(),
        "compose_restart: { seconds: 300, key: \"service\" }",
        &format!("compose_restart: {{ seconds: {COOLDOWN_SECONDS}, key: \"service\" }}"),
    ));
    env.restart_gateway().await;
    let pid = env.gateway_pid();
    let port: u16 = env
        .url("")
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("the gateway's port");

    let env = Arc::new(env);
    let tally = Arc::new(Tally::default());
    let stop = Arc::new(AtomicBool::new(false));
    let sessions_refused = Arc::new(AtomicU64::new(0));
    let approvals_refused = Arc::new(AtomicU64::new(0));
    let mut attacks = JoinSet::new();
    let idle_cut = Arc::new(AtomicU64::new(0));
    let trickling_cut = Arc::new(AtomicU64::new(0));
    attacks.spawn(idle_connections(port, idle_cut.clone()));
    attacks.spawn(trickling_connections(port, trickling_cut.clone()));
    attacks.spawn(session_flood(env.clone(), sessions_refused.clone()));
    attacks.spawn(approval_flood(env.clone(), approvals_refused.clone()));
    let mut legitimate = JoinSet::new();
    legitimate.spawn(reads(env.clone(), tally.clone(), stop.clone()));
    legitimate.spawn(round_trips(env.clone(), tally.clone(), stop.clone()));

    // Memory, once a second; the level after warm-up (a fifth of the run, at least
    // 10 s: the floods reach their caps and the allocator its working set) is the
    // reference.
    let started = Instant::now();
    let warm_up = (duration / 5).max(Duration::from_secs(10));
    let rss_start = rss_kib(pid);
    let mut rss_warm = None;
    let mut rss_max = rss_start;
    while started.elapsed() < duration {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let rss = rss_kib(pid);
        rss_max = rss_max.max(rss);
        if rss_warm.is_none() && started.elapsed() >= warm_up {
            rss_warm = Some(rss);
        }
        if let Some(warm) = rss_warm {
            assert!(
                rss <= warm + RSS_GROWTH_BOUND_KIB,
                "the gateway's RSS grew from {warm} KiB after warm-up to {rss} KiB, more than {RSS_GROWTH_BOUND}"
            );
        }
    }
    let rss_end = rss_kib(pid);
    stop.store(true, Ordering::Relaxed);
    tokio::time::timeout(Duration::from_secs(60), legitimate.join_all())
        .await
        .expect("the legitimate caller stops within a minute");
    attacks.abort_all();
    while attacks.join_next().await.is_some() {}

    let (reads, round_trips, errors) = (
        tally.reads.load(Ordering::Relaxed),
        tally.round_trips.load(Ordering::Relaxed),
        tally.errors.load(Ordering::Relaxed),
    );
    let mut env = Arc::into_inner(env).expect("no task holds the env any more");
    // SIGTERM: the gateway stores every record still queued before it exits.
    let (status, log) = env.terminate_gateway(|| {});
    assert!(status.success(), "the gateway's exit: {status}\n{log}");
    let data_dir = env.data_dir.display().to_string();
    let verify = run_cli(&["audit", "verify", "--data-dir", &data_dir]);
    let records = rusqlite::Connection::open(env.data_dir.join("audit.db"))
        .and_then(|db| db.query_row("SELECT COUNT(*) FROM audit_log", [], |r| r.get::<_, i64>(0)))
        .expect("count the audit records");
    println!(
        "soak: {}s, legitimate reads {reads}, approval round trips {round_trips}, errors {errors}; \
         RSS start {rss_start} KiB, after warm-up {} KiB, end {rss_end} KiB, max {rss_max} KiB; \
         connections cut: {} idle, {} trickling; sessions refused {}, approvals refused {}; \
         audit records {records}",
        duration.as_secs(),
        rss_warm.unwrap_or_default(),
        idle_cut.load(Ordering::Relaxed),
        trickling_cut.load(Ordering::Relaxed),
        sessions_refused.load(Ordering::Relaxed),
        approvals_refused.load(Ordering::Relaxed),
    );

    assert_eq!(errors, 0, "the legitimate caller saw errors (above)");
    assert!(reads > 0 && round_trips > 0, "nothing legitimate ran");
    assert!(
        sessions_refused.load(Ordering::Relaxed) > 0
            && approvals_refused.load(Ordering::Relaxed) > 0,
        "the floods never reached their caps"
    );
    // The servers' header timeout (20 s) cuts both kinds off: proof they were held.
    assert!(
        idle_cut.load(Ordering::Relaxed) > 0 && trickling_cut.load(Ordering::Relaxed) > 0,
        "the gateway never cut an idle or a trickling connection off"
    );
    assert!(
        verify.status.success(),
        "audit verify: {}",
        output_text(&verify)
    );
    assert_eq!(
        audited(&env, "compose_ps", "executed") + audited(&env, "compose_logs", "executed"),
        reads,
        "every legitimate read is audited"
    );
    for decision in ["need_approval", "approved", "executed"] {
        assert_eq!(
            audited(&env, "compose_restart", decision),
            round_trips,
            "every round trip has its {decision} record"
        );
    }
}
