//! Listening sockets for the planes' HTTP servers.

use std::net::SocketAddr;

use axum::serve::{ListenerExt, TapIo};
use tokio::net::{TcpListener, TcpStream};

/// A TCP listener whose connections have Nagle's algorithm off: answers that
/// leave in several writes (MCP's SSE frames) are not held back waiting for
/// the client's delayed ACK, which cost ~40 ms per MCP call.
pub type Listener = TapIo<TcpListener, fn(&mut TcpStream)>;

fn no_delay(stream: &mut TcpStream) {
    if let Err(error) = stream.set_nodelay(true) {
        tracing::debug!(%error, "cannot set TCP_NODELAY");
    }
}

pub async fn bind(address: SocketAddr) -> std::io::Result<Listener> {
    let listener = TcpListener::bind(address).await?;
    Ok(listener.tap_io(no_delay as fn(&mut TcpStream)))
}
