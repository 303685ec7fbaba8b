//! A minimal blocking HTTP/1.1 client over TCP or a unix socket, with
//! keep-alive: one request in flight, the whole body read before returning.
//! Small on purpose, so that the client adds microseconds, not a runtime, to
//! what is measured.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::time::Duration;

/// Where to connect: `unix:/path` or `host:port` (optionally `tcp:host:port`).
#[derive(Debug, Clone)]
pub enum Address {
    Tcp(String),
    Unix(String),
}

impl Address {
    pub fn parse(text: &str) -> Self {
        if let Some(path) = text.strip_prefix("unix:") {
            Self::Unix(path.trim_start_matches("//").to_owned())
        } else {
            Self::Tcp(text.strip_prefix("tcp:").unwrap_or(text).to_owned())
        }
    }

    /// The `Host` header to send.
    pub fn host_header(&self) -> &str {
        match self {
            Self::Tcp(authority) => authority,
            Self::Unix(_) => "localhost",
        }
    }
}

enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::Tcp(s) => s.read(buf),
            Self::Unix(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Self::Tcp(s) => s.write(buf),
            Self::Unix(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Self::Tcp(s) => s.flush(),
            Self::Unix(s) => s.flush(),
        }
    }
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    /// Header names in lowercase.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One keep-alive connection, reopened when the server closes it.
pub struct Connection {
    address: Address,
    timeout: Duration,
    stream: Option<BufReader<Stream>>,
    /// How many times a connection was (re)opened.
    pub connects: u64,
}

fn invalid(text: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, text.into())
}

impl Connection {
    pub fn new(address: Address, timeout: Duration) -> Self {
        Self {
            address,
            timeout,
            stream: None,
            connects: 0,
        }
    }

    fn open(&mut self) -> io::Result<&mut BufReader<Stream>> {
        if self.stream.is_none() {
            let stream = match &self.address {
                Address::Tcp(authority) => {
                    let s = TcpStream::connect(authority)?;
                    s.set_nodelay(true)?;
                    s.set_read_timeout(Some(self.timeout))?;
                    s.set_write_timeout(Some(self.timeout))?;
                    Stream::Tcp(s)
                }
                Address::Unix(path) => {
                    let s = UnixStream::connect(path)?;
                    s.set_read_timeout(Some(self.timeout))?;
                    s.set_write_timeout(Some(self.timeout))?;
                    Stream::Unix(s)
                }
            };
            self.connects += 1;
            self.stream = Some(BufReader::with_capacity(64 * 1024, stream));
        }
        Ok(self.stream.as_mut().expect("just opened"))
    }

    /// Sends one request and reads the whole response. A keep-alive connection
    /// the server closed meanwhile is reopened once.
    pub fn send(&mut self, raw_request: &[u8]) -> io::Result<Response> {
        let reused = self.stream.is_some();
        match self.try_send(raw_request) {
            Ok(response) => Ok(response),
            Err(error) if reused && is_stale(&error) => {
                self.stream = None;
                self.try_send(raw_request)
            }
            Err(error) => {
                self.stream = None;
                Err(error)
            }
        }
    }

    fn try_send(&mut self, raw_request: &[u8]) -> io::Result<Response> {
        let reader = self.open()?;
        reader.get_mut().write_all(raw_request)?;
        let (response, keep_alive) = read_response(reader)?;
        if !keep_alive {
            self.stream = None;
        }
        Ok(response)
    }
}

fn is_stale(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::UnexpectedEof
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
    )
}

/// Builds a request; `body` is sent with `Content-Type: application/json`.
pub fn build_request(
    method: &str,
    path: &str,
    host: &str,
    headers: &[(String, String)],
    body: Option<&[u8]>,
) -> Vec<u8> {
    let mut out = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: ops-bench\r\n");
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    if let Some(body) = body {
        if !headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("content-type"))
        {
            out.push_str("Content-Type: application/json\r\n");
        }
        out.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    if let Some(body) = body {
        bytes.extend_from_slice(body);
    }
    bytes
}

fn read_line(reader: &mut impl BufRead) -> io::Result<String> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed",
        ));
    }
    while line.ends_with('\n') || line.ends_with('\r') {
        line.pop();
    }
    Ok(line)
}

/// Reads a response; returns it and whether the connection may be reused.
fn read_response(reader: &mut impl BufRead) -> io::Result<(Response, bool)> {
    let status_line = read_line(reader)?;
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default().to_owned();
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| invalid(format!("bad status line {status_line:?}")))?;
    let mut headers = Vec::new();
    loop {
        let line = read_line(reader)?;
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    let find = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.to_ascii_lowercase())
    };
    let mut keep_alive = match find("connection") {
        Some(c) if c.contains("close") => false,
        Some(c) if c.contains("keep-alive") => true,
        _ => version != "HTTP/1.0",
    };
    let chunked = find("transfer-encoding").is_some_and(|t| t.contains("chunked"));
    let length = find("content-length").and_then(|l| l.parse::<usize>().ok());
    let mut body = Vec::new();
    if status == 204 || status == 304 || (100..200).contains(&status) {
        // No body.
    } else if chunked {
        loop {
            let size_line = read_line(reader)?;
            let size_hex = size_line.split(';').next().unwrap_or_default().trim();
            let size = usize::from_str_radix(size_hex, 16)
                .map_err(|_| invalid(format!("bad chunk size {size_line:?}")))?;
            if size == 0 {
                // Trailers, then the empty line.
                while !read_line(reader)?.is_empty() {}
                break;
            }
            let start = body.len();
            body.resize(start + size, 0);
            reader.read_exact(&mut body[start..])?;
            let mut crlf = [0u8; 2];
            reader.read_exact(&mut crlf)?;
        }
    } else if let Some(length) = length {
        body.resize(length, 0);
        reader.read_exact(&mut body)?;
    } else {
        reader.read_to_end(&mut body)?;
        keep_alive = false;
    }
    let response = Response {
        status,
        headers,
        body,
    };
    Ok((response, keep_alive))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_content_length_and_chunked_bodies() {
        let raw = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: b\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\nHTTP/1.1 202 Accepted\r\nConnection: close\r\n\r\n";
        let mut reader = BufReader::new(&raw[..]);
        let (first, keep) = read_response(&mut reader).unwrap();
        assert_eq!(
            (first.status, first.body.as_slice(), keep),
            (200, &b"hello"[..], true)
        );
        let (second, keep) = read_response(&mut reader).unwrap();
        assert_eq!(second.body, b"abcde");
        assert_eq!(second.header("x-a"), Some("b"));
        assert!(keep);
        let (third, keep) = read_response(&mut reader).unwrap();
        assert_eq!((third.status, third.body.len(), keep), (202, 0, false));
    }

    #[test]
    fn builds_requests_with_a_json_body() {
        let request = build_request("POST", "/x", "h:1", &[], Some(b"{}"));
        let text = String::from_utf8(request).unwrap();
        assert!(text.starts_with("POST /x HTTP/1.1\r\nHost: h:1\r\n"));
        assert!(text.contains("Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"));
    }
}
