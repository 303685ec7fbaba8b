//! The only way docker-mcp reaches the Engine: a bollard custom transport that
//! checks every request against the allowlist before it leaves the process.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};

use bollard::BollardRequest;
use bollard::errors::Error as BollardError;
use http::Uri;
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use hyperlocal::UnixConnector;

use super::allowlist;

/// Where the Engine listens, parsed from `DOCKER_HOST`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EngineAddress {
    Unix(PathBuf),
    /// `host:port`, reached over plain HTTP (a socket proxy or `tcp://`).
    Tcp(String),
}

pub const DEFAULT_SOCKET: &str = "/var/run/docker.sock";

impl EngineAddress {
    /// Parses `unix:///path`, `tcp://host:port` or `http://host:port`.
    pub fn parse(docker_host: &str) -> Result<Self, String> {
        let docker_host = docker_host.trim();
        if let Some(path) = docker_host.strip_prefix("unix://") {
            if path.is_empty() {
                return Err("DOCKER_HOST unix:// needs a socket path".into());
            }
            return Ok(Self::Unix(PathBuf::from(path)));
        }
        let authority = docker_host
            .strip_prefix("tcp://")
            .or_else(|| docker_host.strip_prefix("http://"))
            .ok_or_else(|| {
                format!(
                    "unsupported DOCKER_HOST {docker_host:?}: use unix:///path/to/docker.sock or tcp://host:port (TLS and ssh are not supported)"
                )
            })?
            .trim_end_matches('/');
        let valid = authority.parse::<http::uri::Authority>().ok().filter(|a| {
            a.port_u16().is_some() && a.as_str() == authority && !authority.contains('@')
        });
        match valid {
            Some(_) => Ok(Self::Tcp(authority.to_owned())),
            None => Err(format!(
                "DOCKER_HOST {docker_host:?} must be tcp://host:port, with a port"
            )),
        }
    }

    /// `DOCKER_HOST` when set, else the default socket.
    pub fn from_env_value(value: Option<&str>) -> Result<Self, String> {
        match value.filter(|v| !v.trim().is_empty()) {
            Some(v) => Self::parse(v),
            None => Ok(Self::Unix(PathBuf::from(DEFAULT_SOCKET))),
        }
    }
}

impl std::fmt::Display for EngineAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unix(path) => write!(f, "unix://{}", path.display()),
            Self::Tcp(authority) => write!(f, "tcp://{authority}"),
        }
    }
}

/// Names bollard's request body type, which bollard does not export by name.
trait HasBody {
    type Body;
}
impl<B> HasBody for http::Request<B> {
    type Body = B;
}
type Body = <BollardRequest as HasBody>::Body;

type ResponseFuture =
    Pin<Box<dyn Future<Output = Result<http::Response<Incoming>, BollardError>> + Send>>;

enum Connection {
    Unix {
        socket: PathBuf,
        client: Client<UnixConnector, Body>,
    },
    Tcp {
        authority: String,
        client: Client<HttpConnector, Body>,
    },
}

/// Sends allowlisted requests to the Engine; refuses the rest with a 403-like error.
pub struct GuardedTransport {
    connection: Connection,
    /// `/v1.41`-style prefix once the API version is negotiated. bollard's own
    /// prefix does not survive its URL join, so the transport adds it.
    api_prefix: Arc<OnceLock<String>>,
}

impl GuardedTransport {
    pub fn new(address: &EngineAddress, api_prefix: Arc<OnceLock<String>>) -> Self {
        let builder = Client::builder(TokioExecutor::new());
        let connection = match address {
            EngineAddress::Unix(socket) => Connection::Unix {
                socket: socket.clone(),
                client: builder.build(UnixConnector),
            },
            EngineAddress::Tcp(authority) => Connection::Tcp {
                authority: authority.clone(),
                client: builder.build(HttpConnector::new()),
            },
        };
        Self {
            connection,
            api_prefix,
        }
    }

    pub fn send(&self, request: BollardRequest) -> ResponseFuture {
        let mut path_and_query = request
            .uri()
            .path_and_query()
            .map(|pq| pq.as_str().to_owned())
            .unwrap_or_else(|| "/".to_owned());
        if let Some(prefix) = self.api_prefix.get()
            && !path_and_query.starts_with("/v")
        {
            path_and_query.insert_str(0, prefix);
        }
        let path_and_query = with_engine_only_options(request.method(), path_and_query);
        if let Err(refused) = allowlist::check(request.method(), &path_and_query) {
            tracing::warn!(%refused, "engine request refused");
            return Box::pin(std::future::ready(Err(
                BollardError::DockerResponseServerError {
                    status_code: 403,
                    message: refused.to_string(),
                },
            )));
        }
        let (mut parts, body) = request.into_parts();
        match &self.connection {
            Connection::Unix { socket, client } => {
                parts.uri = hyperlocal::Uri::new(socket, &path_and_query).into();
                let response = client.request(http::Request::from_parts(parts, body));
                Box::pin(async move { Ok(response.await?) })
            }
            Connection::Tcp { authority, client } => {
                match Uri::builder()
                    .scheme("http")
                    .authority(authority.as_str())
                    .path_and_query(path_and_query)
                    .build()
                {
                    Ok(uri) => {
                        parts.uri = uri;
                        let response = client.request(http::Request::from_parts(parts, body));
                        Box::pin(async move { Ok(response.await?) })
                    }
                    Err(err) => Box::pin(std::future::ready(Err(BollardError::from(err)))),
                }
            }
        }
    }
}

/// Query options bollard's option types cannot say: a Swarm service's logs are
/// asked with `details=true`, so that the Engine starts each line with the
/// task it came from (`com.docker.swarm.task.id=...`); swarm_logs needs it to
/// tell the tasks' lines apart.
fn with_engine_only_options(method: &http::Method, path_and_query: String) -> String {
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query.as_str(), ""));
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let service_logs = method == http::Method::GET
        && matches!(
            segments.as_slice(),
            [_, "services", _, "logs"] | ["services", _, "logs"]
        );
    if !service_logs || query.split('&').any(|p| p.starts_with("details=")) {
        return path_and_query;
    }
    if query.is_empty() {
        format!("{path}?details=true")
    } else {
        format!("{path_and_query}&details=true")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_logs_are_asked_with_their_details() {
        let get = http::Method::GET;
        assert_eq!(
            with_engine_only_options(&get, "/v1.41/services/abc/logs?tail=10".into()),
            "/v1.41/services/abc/logs?tail=10&details=true"
        );
        assert_eq!(
            with_engine_only_options(&get, "/services/abc/logs".into()),
            "/services/abc/logs?details=true"
        );
        for unchanged in [
            "/v1.41/services/abc/logs?details=false",
            "/v1.41/containers/abc/logs?tail=10",
            "/v1.41/services/abc",
        ] {
            assert_eq!(with_engine_only_options(&get, unchanged.into()), unchanged);
        }
        assert_eq!(
            with_engine_only_options(&http::Method::POST, "/v1.41/services/abc/logs".into()),
            "/v1.41/services/abc/logs"
        );
    }

    #[test]
    fn parses_docker_host_forms() {
        assert_eq!(
            EngineAddress::parse("unix:///run/docker.sock"),
            Ok(EngineAddress::Unix("/run/docker.sock".into()))
        );
        assert_eq!(
            EngineAddress::parse("tcp://docker-socket-proxy:2375"),
            Ok(EngineAddress::Tcp("docker-socket-proxy:2375".into()))
        );
        assert_eq!(
            EngineAddress::parse("http://127.0.0.1:2375/"),
            Ok(EngineAddress::Tcp("127.0.0.1:2375".into()))
        );
        assert_eq!(
            EngineAddress::from_env_value(None),
            Ok(EngineAddress::Unix(DEFAULT_SOCKET.into()))
        );
        assert_eq!(
            EngineAddress::from_env_value(Some("  ")),
            Ok(EngineAddress::Unix(DEFAULT_SOCKET.into()))
        );
    }

    #[test]
    fn rejects_unsupported_docker_hosts() {
        for bad in [
            "ssh://me@host",
            "https://host:2376",
            "tcp://host",
            "tcp://host:2375/path",
            "unix://",
            "npipe:////./pipe/docker_engine",
            "tcp://user@host:2375",
        ] {
            assert!(
                EngineAddress::parse(bad).is_err(),
                "{bad} should be rejected"
            );
        }
    }
}
