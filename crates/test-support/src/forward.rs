//! Byte-for-byte forwarders to the real Engine socket: a unix socket that appears when
//! a test wants it to, or a TCP port standing in for a socket proxy.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use tokio::task::{JoinHandle, JoinSet};

/// Where the real Engine listens.
#[derive(Debug, Clone)]
pub enum Upstream {
    Unix(PathBuf),
    Tcp(String),
}

/// The Engine the harness uses: `DOCKER_HOST` (unix:// or tcp://), else the default socket.
pub fn engine_socket_upstream() -> Upstream {
    match std::env::var("DOCKER_HOST")
        .ok()
        .filter(|v| !v.trim().is_empty())
    {
        Some(host) => {
            if let Some(path) = host.strip_prefix("unix://") {
                Upstream::Unix(path.into())
            } else if let Some(authority) = host
                .strip_prefix("tcp://")
                .or_else(|| host.strip_prefix("http://"))
            {
                Upstream::Tcp(authority.trim_end_matches('/').to_owned())
            } else {
                panic!("test-support cannot forward to DOCKER_HOST={host}")
            }
        }
        None => Upstream::Unix("/var/run/docker.sock".into()),
    }
}

/// A running forwarder; stops (and removes its unix socket) when dropped.
pub struct Forwarder {
    address: String,
    socket: Option<PathBuf>,
    connections: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl Forwarder {
    /// Listens on a new unix socket at `path` and forwards to the Engine.
    pub async fn unix(path: &Path) -> Self {
        let listener = UnixListener::bind(path)
            .unwrap_or_else(|e| panic!("cannot listen on {}: {e}", path.display()));
        let connections = Arc::new(AtomicUsize::new(0));
        let counter = connections.clone();
        let upstream = engine_socket_upstream();
        let task = tokio::spawn(async move {
            let mut open = JoinSet::new();
            while let Ok((client, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::Relaxed);
                open.spawn(pipe(client, upstream.clone()));
            }
        });
        Self {
            address: format!("unix://{}", path.display()),
            socket: Some(path.to_path_buf()),
            connections,
            task,
        }
    }

    /// Listens on 127.0.0.1 (a free port) and forwards to the Engine.
    pub async fn tcp() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a free loopback port");
        let port = listener.local_addr().expect("a bound address").port();
        let connections = Arc::new(AtomicUsize::new(0));
        let counter = connections.clone();
        let upstream = engine_socket_upstream();
        let task = tokio::spawn(async move {
            let mut open = JoinSet::new();
            while let Ok((client, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::Relaxed);
                open.spawn(pipe(client, upstream.clone()));
            }
        });
        Self {
            address: format!("tcp://127.0.0.1:{port}"),
            socket: None,
            connections,
            task,
        }
    }

    /// `unix:///path` or `tcp://127.0.0.1:PORT`, as for `DOCKER_HOST`.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// How many client connections it has accepted.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::Relaxed)
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        // Aborting the accept loop drops its JoinSet, which aborts open connections.
        self.task.abort();
        if let Some(socket) = &self.socket {
            let _ = std::fs::remove_file(socket);
        }
    }
}

async fn pipe<S: AsyncRead + AsyncWrite + Unpin>(mut client: S, upstream: Upstream) {
    let result = match upstream {
        Upstream::Unix(path) => match UnixStream::connect(&path).await {
            Ok(mut engine) => tokio::io::copy_bidirectional(&mut client, &mut engine).await,
            Err(e) => Err(e),
        },
        Upstream::Tcp(authority) => match TcpStream::connect(&authority).await {
            Ok(mut engine) => tokio::io::copy_bidirectional(&mut client, &mut engine).await,
            Err(e) => Err(e),
        },
    };
    if let Err(e) = result {
        // Resets at the end of a connection are normal; only say so for debugging.
        if e.kind() != std::io::ErrorKind::ConnectionReset {
            eprintln!("test-support forwarder: {e}");
        }
    }
}
