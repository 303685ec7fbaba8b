//! Raw TCP clients for the listener tests: a client that trickles its request,
//! and a reader that waits for the server to close the connection.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::task::JoinHandle;

/// Reads until the server closes the connection (end of stream or reset).
/// `Ok` with what was read, or `Err` with what was read so far when it is still
/// open after `bound`.
pub async fn read_until_closed<R: AsyncRead + Unpin>(
    reader: &mut R,
    bound: Duration,
) -> Result<String, String> {
    let mut seen = Vec::new();
    let closed = tokio::time::timeout(bound, async {
        let mut buf = [0u8; 4096];
        loop {
            match reader.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    let text = String::from_utf8_lossy(&seen).into_owned();
    match closed {
        Ok(()) => Ok(text),
        Err(_) => Err(text),
    }
}

/// Writes `piece(i)` every `every`, for i = 0, 1, ..., until `piece` says
/// `None`, the server stops taking it, or the task is aborted.
pub fn trickle<W: AsyncWrite + Unpin + Send + 'static>(
    mut writer: W,
    every: Duration,
    mut piece: impl FnMut(u64) -> Option<Vec<u8>> + Send + 'static,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        for i in 0.. {
            tokio::time::sleep(every).await;
            let Some(bytes) = piece(i) else { return };
            if writer.write_all(&bytes).await.is_err() {
                return;
            }
        }
    })
}
