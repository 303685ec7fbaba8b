//! The Engine's log frames as docker-mcp reads them: bollard's decoder (the
//! multiplexed 8-byte-header frames, or raw TTY lines) on an arbitrary response
//! body, served in process through bollard's custom transport, then what
//! `compose_logs` does with the frames: the bounded `LogTail`, `text.rs`'s
//! cleaning, the partial-first-line drop and the line-boundary cap.
//!
//! Input: one byte choosing the memory budget and the cap, then the body.
#![no_main]

use std::sync::LazyLock;

use bollard::container::LogOutput;
use bollard::errors::Error as BollardError;
use bollard::query_parameters::LogsOptionsBuilder;
use bollard::{API_DEFAULT_VERSION, BollardRequest, Docker};
use docker_mcp::engine::LogTail;
use docker_mcp::text::{clean_terminal_output, drop_partial_first_line, keep_head, keep_tail};
use futures_util::StreamExt;
use hyper::Response;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use libfuzzer_sys::fuzz_target;
use tokio::io::AsyncWriteExt;
use tokio::runtime::Runtime;

static RUNTIME: LazyLock<Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime")
});

/// Answers any request with `body` as a 200 log stream, over an in-memory pipe:
/// a real HTTP/1.1 exchange, so bollard decodes exactly as it does from the Engine.
async fn serve_logs(
    request: BollardRequest,
    body: Vec<u8>,
) -> Result<Response<Incoming>, BollardError> {
    let (client, mut engine) = tokio::io::duplex(64 * 1024);
    tokio::spawn(async move {
        // Answer once the request's head is in, as an Engine does (a GET has no body).
        let mut request_head = Vec::new();
        let mut byte = [0u8; 1];
        while !request_head.ends_with(b"\r\n\r\n") {
            match tokio::io::AsyncReadExt::read(&mut engine, &mut byte).await {
                Ok(1) => request_head.push(byte[0]),
                _ => return,
            }
        }
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.multiplexed-stream\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        let _ = engine.write_all(head.as_bytes()).await;
        let _ = engine.write_all(&body).await;
        let _ = engine.flush().await;
        // Keep the pipe open until the client has read everything and gone.
        let mut sink = Vec::new();
        let _ = tokio::io::AsyncReadExt::read_to_end(&mut engine, &mut sink).await;
    });
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(client)).await?;
    tokio::spawn(connection);
    Ok(sender.send_request(request).await?)
}

/// Every frame bollard decodes from `body`, or None if the stream failed.
fn decoded_frames(body: Vec<u8>) -> Vec<LogOutput> {
    RUNTIME.block_on(async move {
        let docker = Docker::connect_with_custom_transport(
            move |request| serve_logs(request, body.clone()),
            Some("http://fuzz-engine"),
            5,
            API_DEFAULT_VERSION,
        )
        .expect("a custom transport needs no I/O");
        let options = LogsOptionsBuilder::new().stdout(true).stderr(true).build();
        let mut stream = docker.logs("fuzz", Some(options));
        let mut frames = Vec::new();
        while let Some(frame) = stream.next().await {
            match frame {
                Ok(frame) => frames.push(frame),
                Err(e) => {
                    if std::env::var_os("FUZZ_DEBUG").is_some() {
                        eprintln!("stream error: {e}");
                    }
                    break;
                }
            }
        }
        frames
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&sizes, body)) = data.split_first() else {
        return;
    };
    // Small budgets, so the cutting paths run on small inputs.
    let keep_bytes = usize::from(sizes & 0x0f) * 16 + 1;
    let cap = usize::from(sizes >> 4) * 16 + 1;
    let frames = decoded_frames(body.to_vec());

    // LogTail keeps exactly the newest bytes of stdout, stderr and console output.
    let mut tail = LogTail::new(keep_bytes);
    let mut all = Vec::new();
    for frame in &frames {
        match frame {
            LogOutput::StdOut { message }
            | LogOutput::StdErr { message }
            | LogOutput::Console { message } => {
                tail.push(message);
                all.extend_from_slice(message);
            }
            LogOutput::StdIn { .. } => {}
        }
    }
    let (kept, dropped) = tail.finish();
    assert_eq!(dropped + kept.len(), all.len());
    assert_eq!(&all[dropped..], &kept[..]);
    assert!(kept.len() <= keep_bytes * 2);
    assert!(kept.len() >= keep_bytes.min(all.len()));

    // No terminal escape or stray control character survives cleaning.
    let cleaned = clean_terminal_output(&kept);
    assert!(
        !cleaned
            .chars()
            .any(|c| c == '\u{1b}' || c == '\u{7f}' || (c < ' ' && c != '\n' && c != '\t')),
        "control characters left in {cleaned:?}"
    );
    let (text, partial) = if dropped > 0 {
        drop_partial_first_line(&cleaned)
    } else {
        (cleaned.as_str(), 0)
    };
    assert_eq!(partial + text.len(), cleaned.len());
    assert!(cleaned.ends_with(text));

    // The cap cuts only at a line start and keeps at most `cap` bytes of the text.
    let (logs, truncated) = keep_tail(text, cap, dropped + partial);
    if truncated {
        let (marker, kept_text) = logs.split_once('\n').expect("a marker line");
        assert!(marker.contains("truncated by docker-mcp"), "{marker}");
        assert!(kept_text.len() <= cap);
        assert!(text.ends_with(kept_text));
        let start = text.len() - kept_text.len();
        // Empty when the last line alone is longer than the cap: it is dropped whole.
        assert!(kept_text.is_empty() || start == 0 || text.as_bytes()[start - 1] == b'\n');
    } else {
        assert_eq!(logs, text);
    }
    let (head, cut) = keep_head(text, cap);
    if cut {
        let kept_head = head.rsplit_once('\n').expect("a marker line").0;
        assert!(kept_head.len() <= cap && text.starts_with(kept_head));
    } else {
        assert_eq!(head, text);
    }
});
