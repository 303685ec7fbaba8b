//! Listening sockets and the HTTP server loop of every plane.
//!
//! Every plane serves through [`serve`], never `axum::serve`, so that none of
//! them can be held open forever or starve the others (`ops-copilot all` runs
//! the three in one process, sharing its file descriptors). Per listener:
//!
//! - **Connections are capped per plane and per client address**
//!   ([`Limits::max_connections`], [`Limits::max_connections_per_client`]; an
//!   IPv6 client counts by its /64, as one host usually holds a whole /64). A
//!   connection over either cap is answered 503 `too_many_connections` and
//!   closed as soon as it is accepted, without waiting for anything: what has
//!   arrived is drained and the answer written only if the socket takes it at
//!   once, so it costs a descriptor for a moment, never a task. Each plane has its own counts, so a flood on one port cannot take
//!   the connections of another; refusals are logged at most once a minute.
//! - **A request head must arrive within [`Limits::header_read_timeout`]**, and
//!   a keep-alive connection that does not start its next request within it is
//!   closed: hyper's `header_read_timeout` starts its timer as soon as a
//!   connection is idle (accepted, or after its last response), so one setting
//!   bounds slow headers and idle connections alike. It never runs while a
//!   request is handled or its response is being sent, so long calls and
//!   streamed responses (MCP's server-sent events) are not cut.
//! - **A request body must arrive whole within [`Limits::body_timeout`]** of its
//!   head: one deadline for the whole body, not per chunk (tower-http's
//!   `RequestBodyTimeout` restarts its timer at every frame, so a byte every few
//!   seconds would never trip it). The answer is then 408 and the connection
//!   is closed. Bodies are small everywhere (at most 64 KiB), so the deadline
//!   is generous for any real client.
//! - **A client that stops reading is dropped**: a write to it that makes no
//!   progress for [`Limits::write_timeout`] fails the connection (the time
//!   between two successful writes is bounded, as nginx's `send_timeout`).
//! - **Shutdown is graceful**: the listener closes, idle connections close,
//!   and requests in flight are answered before [`serve`] returns.
//!
//! Connections speak HTTP/1.1 (the planes' clients, browsers included, all do),
//! with `TCP_NODELAY`, and handlers see the client's address as
//! `ConnectInfo<SocketAddr>`.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderValue, Request, Response, StatusCode, header};
use axum::response::IntoResponse;
use hyper::body::{Bytes, Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::Sleep;
use tower::ServiceExt as _;

use crate::contract::{Refusal, RefusalCode};

/// What one listener allows. The constants are the planes' settings, sized for
/// a Raspberry Pi: together they stay under a process's usual 1024 open files
/// (`ops-copilot` raises its soft limit to the hard one at start as well).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The plane, for the logs.
    pub name: &'static str,
    /// Connections open at once on this listener.
    pub max_connections: usize,
    /// Connections open at once from one client address (IPv6: one /64).
    pub max_connections_per_client: usize,
    /// For a request head, and for the next request on an idle connection.
    pub header_read_timeout: Duration,
    /// For a whole request body, from its head.
    pub body_timeout: Duration,
    /// For a write to the client to make progress.
    pub write_timeout: Duration,
}

impl Limits {
    /// The web app (pi-health): people's browsers, six connections each at
    /// most, from a few devices; 32 per address leaves room for a reverse proxy
    /// (everything behind it shares its address) while a single flooding host
    /// takes at most an eighth of the plane.
    pub const WEB: Limits = Limits {
        name: "pi-health",
        max_connections: 256,
        max_connections_per_client: 32,
        ..Self::TIMEOUTS
    };
    /// The gateway: programs with connection pools (pi-health, agents, a
    /// benchmark's 64 connections), and on 127.0.0.1 they all share an
    /// address; one address may take half of the plane.
    pub const GATEWAY: Limits = Limits {
        name: "ai-gateway",
        max_connections: 256,
        max_connections_per_client: 128,
        ..Self::TIMEOUTS
    };
    /// docker-mcp: only the gateway calls it (one pooled connection per call in
    /// flight, 64 idle at most). A host other than the gateway's can hold at
    /// most 96 of the 128, so the gateway always has 32.
    pub const DOCKER_MCP: Limits = Limits {
        name: "docker-mcp",
        max_connections: 128,
        max_connections_per_client: 96,
        ..Self::TIMEOUTS
    };
    /// The timeouts every plane uses. The idle timeout (the header timeout) is
    /// twice the 10 s for which the planes' own clients keep a connection idle
    /// in their pools, so that a client never sends a request on a connection
    /// the server is closing.
    const TIMEOUTS: Limits = Limits {
        name: "",
        max_connections: 0,
        max_connections_per_client: 0,
        header_read_timeout: Duration::from_secs(20),
        body_timeout: Duration::from_secs(30),
        write_timeout: Duration::from_secs(30),
    };
}

/// A bound TCP listener, for [`serve`].
#[derive(Debug)]
pub struct Listener {
    inner: TcpListener,
}

impl Listener {
    /// The address it listens on (the port the kernel chose for port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

/// Whether a URL's host (`localhost`, `127.0.0.1`, `[::1]`...) is this
/// machine: a secret sent there over plain http stays on it.
pub fn is_loopback_host(host: &str) -> bool {
    host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Listens on `address`.
pub async fn bind(address: SocketAddr) -> io::Result<Listener> {
    Ok(Listener {
        inner: TcpListener::bind(address).await?,
    })
}

/// Serves `app` on `listener` within `limits` until `shutdown` completes, then
/// stops accepting, closes idle connections and returns once every request in
/// flight is answered. Errors accepting a connection (out of descriptors, say)
/// are logged and retried; they never end the loop.
pub async fn serve(
    listener: Listener,
    app: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send,
) -> io::Result<()> {
    let plane = Arc::new(Semaphore::new(limits.max_connections));
    let clients = Arc::new(Clients::default());
    let refusals = RefusalLog::new(limits.name);
    let over_cap = over_cap_answer();
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.inner.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    accept_failed(limits.name, &error).await;
                    continue;
                }
            },
        };
        let Ok(plane_permit) = plane.clone().try_acquire_owned() else {
            refusals.note(Refused::Plane, peer);
            turn_away(&stream, &over_cap);
            continue;
        };
        let Some(client_permit) = clients.try_acquire(peer.ip(), limits) else {
            refusals.note(Refused::Client, peer);
            turn_away(&stream, &over_cap);
            continue;
        };
        if let Err(error) = stream.set_nodelay(true) {
            // Answers that leave in several writes (MCP's SSE frames) would wait
            // for the client's delayed ACK: ~40 ms per MCP call.
            tracing::debug!(%error, "cannot set TCP_NODELAY");
        }
        let service = RequestService {
            app: app.clone(),
            peer,
            body_timeout: limits.body_timeout,
        };
        let io = TokioIo::new(StallGuard::new(stream, limits.write_timeout));
        let connection = graceful.watch(http.serve_connection(io, service));
        let name = limits.name;
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(plane = name, %peer, error = %crate::error_chain(&error), "connection ended");
            }
            drop((plane_permit, client_permit));
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// Failing to accept: a connection gone before it was taken is nothing; any
/// other error (descriptors exhausted) is logged and waited out briefly rather
/// than retried in a busy loop.
async fn accept_failed(name: &str, error: &io::Error) {
    if matches!(
        error.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
    ) {
        return;
    }
    tracing::error!(plane = name, %error, "cannot accept a connection");
    tokio::time::sleep(Duration::from_millis(250)).await;
}

/// Each request of a connection: the client's address as `ConnectInfo`, the
/// body under its deadline, then `app`.
#[derive(Clone)]
struct RequestService {
    app: Router,
    peer: SocketAddr,
    body_timeout: Duration,
}

impl hyper::service::Service<Request<Incoming>> for RequestService {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        let expired = Arc::new(AtomicBool::new(false));
        let deadline = tokio::time::Instant::now() + self.body_timeout;
        let mut request = request.map(|body| {
            Body::new(Deadline {
                body,
                deadline,
                sleep: None,
                expired: expired.clone(),
            })
        });
        request.extensions_mut().insert(ConnectInfo(self.peer));
        let app = self.app.clone();
        let body_timeout = self.body_timeout;
        Box::pin(async move {
            let response = app.oneshot(request).await?;
            if expired.load(Ordering::Relaxed) {
                return Ok(body_too_slow(body_timeout));
            }
            Ok(response)
        })
    }
}

/// The whole HTTP answer a connection over a cap gets: made once per listener.
fn over_cap_answer() -> Vec<u8> {
    let refusal = Refusal::new(
        RefusalCode::TooManyConnections,
        "the server has too many open connections (or too many from your address); \
         try again in a moment",
    );
    let body = serde_json::to_string(&refusal).unwrap_or_default();
    format!(
        "HTTP/1.1 {} Service Unavailable\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n{body}",
        refusal.status(),
        body.len()
    )
    .into_bytes()
}

/// Says 503 to a connection over a cap without ever waiting on it: reads what
/// has already arrived (so that closing sends a FIN, not a reset that would
/// discard the answer), writes the answer if the socket takes it now, and
/// leaves the closing to the caller's drop.
fn turn_away(stream: &TcpStream, answer: &[u8]) {
    let mut arrived = [0u8; 4096];
    let _ = stream.try_read(&mut arrived);
    let _ = stream.try_write(answer);
}

/// 408 `request_timeout` for a body that did not arrive in time, closing the
/// connection.
fn body_too_slow(body_timeout: Duration) -> Response<Body> {
    let refusal = Refusal::new(
        RefusalCode::RequestTimeout,
        format!(
            "the request body did not arrive within {} s",
            body_timeout.as_secs()
        ),
    );
    let status = StatusCode::from_u16(refusal.status()).unwrap_or(StatusCode::REQUEST_TIMEOUT);
    let mut response = (status, axum::Json(refusal)).into_response();
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// A request body that fails once its deadline has passed, and says so in
/// `expired` (the handler's error answer is then replaced with a 408).
struct Deadline {
    body: Incoming,
    deadline: tokio::time::Instant,
    /// Made only when the body has to be waited for.
    sleep: Option<Pin<Box<Sleep>>>,
    expired: Arc<AtomicBool>,
}

/// The body did not arrive before its deadline.
#[derive(Debug)]
struct BodyTimedOut;

impl std::fmt::Display for BodyTimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the request body did not arrive in time")
    }
}

impl std::error::Error for BodyTimedOut {}

impl hyper::body::Body for Deadline {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        if let Poll::Ready(frame) = Pin::new(&mut this.body).poll_frame(cx) {
            return Poll::Ready(frame.map(|frame| frame.map_err(Into::into)));
        }
        let deadline = this.deadline;
        let sleep = this
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if sleep.as_mut().poll(cx).is_ready() {
            this.expired.store(true, Ordering::Relaxed);
            return Poll::Ready(Some(Err(Box::new(BodyTimedOut))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// A TCP stream whose writes fail once one has made no progress for `timeout`.
struct StallGuard {
    stream: TcpStream,
    timeout: Duration,
    /// Running while a write waits for room in the socket's buffer.
    stalled: Option<Pin<Box<Sleep>>>,
}

impl StallGuard {
    fn new(stream: TcpStream, timeout: Duration) -> Self {
        Self {
            stream,
            timeout,
            stalled: None,
        }
    }

    fn watch<T>(&mut self, cx: &mut Context<'_>, poll: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        if poll.is_ready() {
            self.stalled = None;
            return poll;
        }
        let timeout = self.timeout;
        let stalled = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        if stalled.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client stopped reading",
            )));
        }
        Poll::Pending
    }
}

impl AsyncRead for StallGuard {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for StallGuard {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.stream).poll_write(cx, buf);
        self.watch(cx, poll)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        self.watch(cx, poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.stream).poll_flush(cx);
        self.watch(cx, poll)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// Open connections per client address.
#[derive(Default)]
struct Clients {
    open: Mutex<HashMap<IpAddr, usize>>,
}

impl Clients {
    fn try_acquire(self: &Arc<Self>, ip: IpAddr, limits: Limits) -> Option<ClientPermit> {
        let key = client_key(ip);
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let count = open.entry(key).or_default();
        if *count >= limits.max_connections_per_client {
            return None;
        }
        *count += 1;
        Some(ClientPermit {
            clients: self.clone(),
            key,
        })
    }
}

/// One connection counted for its client; uncounted when dropped.
struct ClientPermit {
    clients: Arc<Clients>,
    key: IpAddr,
}

impl Drop for ClientPermit {
    fn drop(&mut self) {
        let mut open = self
            .clients
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = open.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.key);
            }
        }
    }
}

/// Whom a connection counts against: its IPv4 address (an IPv4-mapped IPv6
/// address included), or the /64 of its IPv6 address.
fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !(u64::MAX as u128))),
        },
    }
}

#[derive(Clone, Copy)]
enum Refused {
    Plane,
    Client,
}

/// Refused connections, reported at most once a minute.
struct RefusalLog {
    name: &'static str,
    state: Mutex<RefusalCounts>,
}

#[derive(Default)]
struct RefusalCounts {
    last_report: Option<Instant>,
    plane: u64,
    client: u64,
}

impl RefusalLog {
    const EVERY: Duration = Duration::from_secs(60);

    fn new(name: &'static str) -> Self {
        Self {
            name,
            state: Mutex::new(RefusalCounts::default()),
        }
    }

    fn note(&self, why: Refused, peer: SocketAddr) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        match why {
            Refused::Plane => state.plane += 1,
            Refused::Client => state.client += 1,
        }
        let now = Instant::now();
        if state
            .last_report
            .is_some_and(|last| now.duration_since(last) < Self::EVERY)
        {
            return;
        }
        tracing::warn!(
            plane = self.name,
            at_the_plane_limit = state.plane,
            at_the_address_limit = state.client,
            last = %peer,
            "connections refused (closed at once) since the last report: too many open"
        );
        *state = RefusalCounts {
            last_report: Some(now),
            ..RefusalCounts::default()
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts_are_this_machine_and_nothing_else() {
        for host in ["localhost", "127.0.0.1", "127.1.2.3", "[::1]", "::1"] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in [
            "",
            "pi.local",
            "192.168.1.2",
            "[2001:db8::1]",
            "localhost.evil.example",
        ] {
            assert!(!is_loopback_host(host), "{host}");
        }
    }

    #[test]
    fn clients_count_by_address_and_ipv6_by_its_64() {
        let v4: IpAddr = "192.0.2.7".parse().unwrap();
        assert_eq!(client_key(v4), v4);
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(client_key(mapped), v4);
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(client_key(a), client_key(b));
        assert_eq!(client_key(a), "2001:db8:1:2::".parse::<IpAddr>().unwrap());
        assert_ne!(client_key(a), client_key(other));
    }

    #[test]
    fn permits_are_returned_when_dropped() {
        let clients = Arc::new(Clients::default());
        let limits = Limits {
            max_connections_per_client: 2,
            ..Limits::WEB
        };
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let first = clients.try_acquire(ip, limits).unwrap();
        let _second = clients.try_acquire(ip, limits).unwrap();
        assert!(clients.try_acquire(ip, limits).is_none());
        assert!(
            clients
                .try_acquire("127.0.0.2".parse().unwrap(), limits)
                .is_some()
        );
        drop(first);
        assert!(clients.try_acquire(ip, limits).is_some());
    }

    #[test]
    fn the_planes_fit_in_a_thousand_descriptors() {
        let planes = [Limits::WEB, Limits::GATEWAY, Limits::DOCKER_MCP];
        let inbound: usize = planes.iter().map(|l| l.max_connections).sum();
        // In `all`, pi-health's calls to the gateway and the gateway's to
        // docker-mcp hold a descriptor at both ends.
        let internal = Limits::GATEWAY.max_connections_per_client
            + Limits::DOCKER_MCP.max_connections_per_client;
        assert!(inbound + internal <= 1024 - 64, "{inbound} + {internal}");
        for limits in planes {
            assert!(limits.max_connections_per_client <= limits.max_connections);
            // Longer than the 10 s the planes' clients keep idle connections.
            assert!(limits.header_read_timeout > Duration::from_secs(10));
        }
    }
}
