//! `ops_core::net::serve` against real sockets, with small limits: slow and idle
//! clients are dropped, streamed answers are not, connections are capped per
//! address and per listener, and shutdown lets answers in flight finish.
//!
//! No test asserts how fast something happens: each waits, generously bounded,
//! for an outcome (a closed connection, a complete answer).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::routing::{get, post};
use ops_core::net::{self, Limits};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::oneshot;

use test_support::sockets;

/// The longest any outcome is waited for.
const BOUND: Duration = Duration::from_secs(30);
/// A timeout that the tests never reach.
const LONG: Duration = Duration::from_secs(600);

fn limits() -> Limits {
    Limits {
        name: "test",
        max_connections: 64,
        max_connections_per_client: 64,
        header_read_timeout: LONG,
        body_timeout: LONG,
        write_timeout: LONG,
    }
}

struct Server {
    address: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    served: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Server {
    async fn start(app: Router, limits: Limits) -> Self {
        let listener = net::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let address = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let served = tokio::spawn(net::serve(listener, app, limits, async move {
            let _ = stopped.await;
        }));
        Self {
            address,
            stop: Some(stop),
            served,
        }
    }

    /// A connection from `from` (any 127.0.0.0/8 address is loopback on Linux).
    async fn connect_from(&self, from: &str) -> TcpStream {
        let socket = TcpSocket::new_v4().unwrap();
        socket.bind(format!("{from}:0").parse().unwrap()).unwrap();
        socket.connect(self.address).await.unwrap()
    }

    async fn connect(&self) -> TcpStream {
        self.connect_from("127.0.0.1").await
    }

    async fn stop(mut self) -> std::io::Result<()> {
        self.stop.take().unwrap().send(()).unwrap();
        tokio::time::timeout(BOUND, self.served)
            .await
            .expect("serve returns once the answers in flight are sent")
            .unwrap()
    }
}

fn app() -> Router {
    Router::new()
        .route("/", get(|| async { "hello" }))
        .route(
            "/peer",
            get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.ip().to_string() }),
        )
        .route("/echo", post(|body: Bytes| async move { body }))
}

/// Reads until the server closes the connection (end of stream or reset);
/// panics if it is still open after [`BOUND`]. Returns what was read.
async fn read_until_closed(stream: &mut TcpStream) -> String {
    sockets::read_until_closed(stream, BOUND)
        .await
        .unwrap_or_else(|text| {
            panic!("the connection is still open after {BOUND:?}; read so far: {text:?}")
        })
}

/// Sends a GET and reads one whole answer (its body has a Content-Length).
async fn get_on(stream: &mut TcpStream, path: &str) -> String {
    stream
        .write_all(format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let read = async {
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = stream.read(&mut buf).await.unwrap();
            assert!(n > 0, "closed before a whole answer: {seen:?}");
            seen.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&seen).into_owned();
            if let Some(end) = text.find("\r\n\r\n") {
                let length: usize = text[..end]
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse().unwrap())
                    })
                    .expect("a Content-Length");
                if seen.len() >= end + 4 + length {
                    return text;
                }
            }
        }
    };
    tokio::time::timeout(BOUND, read).await.expect("an answer")
}

#[tokio::test]
async fn a_client_trickling_its_headers_is_disconnected() {
    let server = Server::start(
        app(),
        Limits {
            header_read_timeout: Duration::from_millis(500),
            ..limits()
        },
    )
    .await;
    let mut stream = server.connect().await;
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: test\r\n")
        .await
        .unwrap();
    let (mut reader, writer) = stream.into_split();
    // A header line every 100 ms, for ever: the head is never complete.
    let trickle = sockets::trickle(writer, Duration::from_millis(100), |i| {
        Some(format!("X-{i}: y\r\n").into_bytes())
    });
    let closed = sockets::read_until_closed(&mut reader, BOUND).await;
    trickle.abort();
    assert!(closed.is_ok(), "a trickling client is still connected");
    // The server goes on serving.
    let mut other = server.connect().await;
    assert!(get_on(&mut other, "/").await.starts_with("HTTP/1.1 200"));
}

#[tokio::test]
async fn a_connection_that_sends_nothing_is_disconnected() {
    let server = Server::start(
        app(),
        Limits {
            header_read_timeout: Duration::from_millis(500),
            ..limits()
        },
    )
    .await;
    let mut silent = server.connect().await;
    read_until_closed(&mut silent).await;
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_header_timeout() {
    let server = Server::start(
        app(),
        Limits {
            header_read_timeout: Duration::from_millis(500),
            ..limits()
        },
    )
    .await;
    let mut stream = server.connect().await;
    // Keep-alive works: two requests on one connection.
    assert!(get_on(&mut stream, "/").await.starts_with("HTTP/1.1 200"));
    assert!(get_on(&mut stream, "/").await.ends_with("hello"));
    // Then, idle, it is closed.
    assert_eq!(read_until_closed(&mut stream).await, "");
}

/// A response that sends a chunk every `gap`, `count` times.
fn slow_stream(gap: Duration, count: usize) -> Body {
    Body::from_stream(futures_util::stream::unfold(0, move |sent| async move {
        if sent == count {
            return None;
        }
        tokio::time::sleep(gap).await;
        Some((
            Ok::<_, std::io::Error>(Bytes::from_static(b"tick\n")),
            sent + 1,
        ))
    }))
}

#[tokio::test]
async fn a_streamed_answer_and_a_slow_handler_outlive_the_idle_timeout() {
    let timeout = Duration::from_millis(300);
    let app = app()
        .route(
            "/stream",
            get(move || async move { slow_stream(timeout * 3, 4) }),
        )
        .route(
            "/slow",
            get(move || async move {
                tokio::time::sleep(timeout * 5).await;
                "done"
            }),
        );
    let server = Server::start(
        app,
        Limits {
            header_read_timeout: timeout,
            ..limits()
        },
    )
    .await;
    let mut stream = server.connect().await;
    stream
        .write_all(b"GET /stream HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let answer = read_until_closed(&mut stream).await;
    assert_eq!(answer.matches("tick").count(), 4, "{answer}");
    let mut stream = server.connect().await;
    assert!(get_on(&mut stream, "/slow").await.ends_with("done"));
}

#[tokio::test]
async fn a_trickled_body_gets_408_and_the_connection_closes() {
    let server = Server::start(
        app(),
        Limits {
            body_timeout: Duration::from_millis(500),
            ..limits()
        },
    )
    .await;
    let mut stream = server.connect().await;
    stream
        .write_all(b"POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: 1000\r\n\r\n0123456789")
        .await
        .unwrap();
    let (mut reader, writer) = stream.into_split();
    let trickle = sockets::trickle(writer, Duration::from_millis(100), |i| {
        (i < 990).then(|| b"x".to_vec())
    });
    let closed = sockets::read_until_closed(&mut reader, BOUND).await;
    trickle.abort();
    let text = closed.unwrap_or_else(|text| panic!("still open; read {text:?}"));
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("\"code\":\"request_timeout\""), "{text}");
    // A body sent at once is unaffected.
    let mut stream = server.connect().await;
    stream
        .write_all(b"POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello")
        .await
        .unwrap();
    let answer = read_until_closed(&mut stream).await;
    assert!(
        answer.starts_with("HTTP/1.1 200") && answer.ends_with("hello"),
        "{answer}"
    );
}

#[tokio::test]
async fn a_client_that_stops_reading_is_dropped() {
    let dropped = Arc::new(AtomicBool::new(false));
    let flag = dropped.clone();
    let app = app().route(
        "/endless",
        get(move || {
            let flag = flag.clone();
            async move {
                // 64 KiB chunks for ever, until the server drops the answer.
                let chunk = Bytes::from(vec![b'z'; 64 * 1024]);
                let flag = DropFlag(flag);
                Body::from_stream(futures_util::stream::repeat_with(move || {
                    let _held = &flag;
                    Ok::<_, std::io::Error>(chunk.clone())
                }))
            }
        }),
    );
    let server = Server::start(
        app,
        Limits {
            write_timeout: Duration::from_millis(500),
            ..limits()
        },
    )
    .await;
    let mut stream = server.connect().await;
    stream
        .write_all(b"GET /endless HTTP/1.1\r\nHost: test\r\n\r\n")
        .await
        .unwrap();
    // Never read: the buffers fill, the server's writes stall, and it lets go.
    let released = tokio::time::timeout(BOUND, async {
        while !dropped.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(
        released.is_ok(),
        "the server still writes to a client that does not read"
    );
    drop(stream);
}

struct DropFlag(Arc<AtomicBool>);
impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[tokio::test]
async fn handlers_see_the_clients_address() {
    let server = Server::start(app(), limits()).await;
    let mut stream = server.connect_from("127.0.0.2").await;
    assert!(get_on(&mut stream, "/peer").await.ends_with("127.0.0.2"));
}

/// A connection over a cap gets a whole 503 `too_many_connections` answer,
/// asking to close, with nothing after it.
fn assert_turned_away(answer: &str) {
    let (head, body) = answer
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("not an HTTP answer: {answer:?}"));
    assert!(head.starts_with("HTTP/1.1 503 "), "{head}");
    assert!(head.contains("connection: close"), "{head}");
    assert!(
        head.contains(&format!("content-length: {}", body.len())),
        "{head}"
    );
    let refusal: serde_json::Value = serde_json::from_str(body).expect("a JSON body");
    assert_eq!(refusal["code"], "too_many_connections", "{body}");
}

#[tokio::test]
async fn connections_are_capped_per_address_and_per_listener() {
    let server = Server::start(
        app(),
        Limits {
            max_connections: 6,
            max_connections_per_client: 3,
            ..limits()
        },
    )
    .await;
    // Three from 127.0.0.1, each answered (so each is counted), then held.
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut stream = server.connect_from("127.0.0.1").await;
        assert!(get_on(&mut stream, "/").await.starts_with("HTTP/1.1 200"));
        held.push(stream);
    }
    // The fourth from the same address is told why and closed at once.
    let mut fourth = server.connect_from("127.0.0.1").await;
    assert_turned_away(&read_until_closed(&mut fourth).await);
    // Another address still gets in, up to the listener's six.
    for from in ["127.0.0.2", "127.0.0.3", "127.0.0.3"] {
        let mut stream = server.connect_from(from).await;
        assert!(get_on(&mut stream, "/").await.starts_with("HTTP/1.1 200"));
        held.push(stream);
    }
    let mut seventh = server.connect_from("127.0.0.4").await;
    assert_turned_away(&read_until_closed(&mut seventh).await);
    // The held ones still work; once one closes, there is room again.
    assert!(get_on(&mut held[0], "/").await.ends_with("hello"));
    drop(held.remove(0));
    let admitted = tokio::time::timeout(BOUND, async {
        loop {
            let mut stream = server.connect_from("127.0.0.4").await;
            if stream
                .write_all(b"GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
                .await
                .is_ok()
                && read_until_closed(&mut stream)
                    .await
                    .starts_with("HTTP/1.1 200")
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(admitted.is_ok(), "a freed connection is never given back");
}

#[tokio::test]
async fn shutdown_answers_requests_in_flight_and_closes_idle_connections() {
    let (started, on_started) = oneshot::channel::<()>();
    let started = Arc::new(std::sync::Mutex::new(Some(started)));
    let app = app().route(
        "/slow",
        get(move || {
            let started = started.clone();
            async move {
                if let Some(started) = started.lock().unwrap().take() {
                    let _ = started.send(());
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
                "finished"
            }
        }),
    );
    let server = Server::start(app, limits()).await;
    let address = server.address;
    // An idle connection (its header timeout is far away) must not hold up shutdown.
    let _idle = server.connect().await;
    let mut busy = server.connect().await;
    busy.write_all(b"GET /slow HTTP/1.1\r\nHost: test\r\n\r\n")
        .await
        .unwrap();
    on_started.await.unwrap();
    let stopping = tokio::spawn(server.stop());
    let answer = read_until_closed(&mut busy).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("finished"), "{answer}");
    stopping.await.unwrap().unwrap();
    assert!(
        TcpStream::connect(address).await.is_err(),
        "still accepting after shutdown"
    );
}
