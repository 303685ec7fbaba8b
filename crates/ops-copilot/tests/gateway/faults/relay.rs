//! A TCP relay in front of docker-mcp that the test can make slow or deaf: it
//! forwards bytes both ways, delays docker-mcp's answers, or swallows requests and
//! never answers, as [`Mode`] says at the moment each chunk passes.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Bytes pass as they come.
    Forward,
    /// docker-mcp's answers are held this long before they are passed on.
    Delay(Duration),
    /// A request is swallowed: it never reaches docker-mcp, nothing is answered,
    /// and the connection stays open until the client gives up.
    Hang,
}

pub struct Relay {
    /// `http://127.0.0.1:PORT`, for the registry's `base_url`.
    pub base: String,
    mode: Arc<Mutex<Mode>>,
    task: JoinHandle<()>,
}

impl Relay {
    /// Listens on a free loopback port and relays to `upstream` (`http://host:port`).
    pub async fn start(upstream: &str) -> Self {
        let upstream = upstream
            .strip_prefix("http://")
            .expect("an http:// upstream")
            .to_owned();
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a free loopback port");
        let port = listener.local_addr().expect("a bound address").port();
        let mode = Arc::new(Mutex::new(Mode::Forward));
        let shared = mode.clone();
        let task = tokio::spawn(async move {
            // Dropped with the accept loop: aborts every open connection.
            let mut open = JoinSet::new();
            while let Ok((client, _)) = listener.accept().await {
                open.spawn(relay(client, upstream.clone(), shared.clone()));
            }
        });
        Self {
            base: format!("http://127.0.0.1:{port}"),
            mode,
            task,
        }
    }

    pub fn set(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn mode_now(mode: &Mutex<Mode>) -> Mode {
    *mode.lock().unwrap()
}

async fn relay(client: TcpStream, upstream: String, mode: Arc<Mutex<Mode>>) {
    let Ok(server) = TcpStream::connect(&upstream).await else {
        return;
    };
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    // Whichever direction ends first ends the connection.
    tokio::select! {
        () = pump(client_read, server_write, &mode, Direction::Requests) => {}
        () = pump(server_read, client_write, &mode, Direction::Answers) => {}
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    /// Client to docker-mcp: in [`Mode::Hang`], the rest of the connection is read
    /// and dropped until the client closes it.
    Requests,
    /// docker-mcp to the client: each chunk delayed in [`Mode::Delay`].
    Answers,
}

async fn pump(
    mut from: impl AsyncRead + Unpin,
    mut to: impl AsyncWrite + Unpin,
    mode: &Mutex<Mode>,
    direction: Direction,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        match (mode_now(mode), direction) {
            (Mode::Hang, Direction::Requests) => {
                while from.read(&mut buf).await.is_ok_and(|n| n > 0) {}
                return;
            }
            (Mode::Delay(delay), Direction::Answers) => tokio::time::sleep(delay).await,
            _ => {}
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}
