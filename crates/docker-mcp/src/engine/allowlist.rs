//! The Engine endpoints docker-mcp may call, and nothing else.
//!
//! Every request the Engine client makes passes through [`check`] in the
//! transport, so a bug elsewhere in this crate (or a future tool) cannot reach
//! `POST /containers/create`, `/exec`, `/archive` and the like, whatever sits in
//! front of the socket.

use http::Method;

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub method: Method,
    pub path: String,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "docker-mcp does not call the Engine endpoint {} {}",
            self.method, self.path
        )
    }
}

/// Allows a request when its method and path (with or without the `/vX.Y`
/// prefix) name one of the endpoints the tools need.
pub fn check(method: &Method, path_and_query: &str) -> Result<(), Refused> {
    let refuse = || {
        Err(Refused {
            method: method.clone(),
            path: path_and_query
                .split('?')
                .next()
                .unwrap_or_default()
                .to_owned(),
        })
    };
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    let path = strip_version(path);
    // Reject anything that could be re-interpreted by a proxy or the Engine's router.
    if path.contains("..") || path.contains("//") || path.contains('%') {
        return refuse();
    }
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let allowed = match (method, segments.as_slice()) {
        (&Method::GET | &Method::HEAD, ["_ping"]) => true,
        (&Method::GET, ["version"]) => true,
        (&Method::GET, ["events"]) => true,
        (&Method::GET, ["containers", "json"]) => true,
        (&Method::GET, ["containers", id, "json"]) => is_object_id(id),
        (&Method::GET, ["containers", id, "logs"]) => is_object_id(id),
        // One sample and the connection closes: never a stream left open.
        (&Method::GET, ["containers", id, "stats"]) => {
            is_object_id(id) && is_one_stats_query(query)
        }
        (&Method::POST, ["containers", id, "start" | "stop" | "restart"]) => is_object_id(id),
        // Only pulls: `fromSrc` would import an arbitrary tarball as an image.
        (&Method::POST, ["images", "create"]) => is_pull_query(query),
        // Image references contain slashes (`registry:5000/arr/sonarr:tag`).
        (&Method::GET, ["images", name @ .., "json"]) => {
            !name.is_empty() && name.iter().all(|s| is_image_segment(s))
        }
        // What a registry holds for a reference (its manifest digest), asked
        // through the Engine: no pull, nothing stored (compose_updates).
        (&Method::GET, ["distribution", name @ .., "json"]) => {
            !name.is_empty() && query.is_empty() && name.iter().all(|s| is_image_segment(s))
        }
        // Swarm (the swarm_* tools): reads of services, tasks and nodes...
        (&Method::GET, ["services"]) => is_only(query, &["filters", "status"]),
        (&Method::GET, ["services", id]) => is_object_id(id) && query.is_empty(),
        (&Method::GET, ["services", id, "logs"]) => is_object_id(id),
        (&Method::GET, ["tasks"]) => is_only(query, &["filters"]),
        (&Method::GET, ["nodes"]) => is_only(query, &["filters"]),
        // ...and one write: a service's new spec (a forced update, a replica
        // count), only at the version it was read at, never a rollback. No
        // create or delete, nothing to /secrets, /configs, /nodes/{id}/update
        // or /swarm/*.
        (&Method::POST, ["services", id, "update"]) => is_object_id(id) && is_update_query(query),
        _ => false,
    };
    if allowed { Ok(()) } else { refuse() }
}

fn strip_version(path: &str) -> &str {
    if let Some(rest) = path.strip_prefix("/v")
        && let Some((version, tail)) = rest.split_once('/')
        && !version.is_empty()
        && version.chars().all(|c| c.is_ascii_digit() || c == '.')
    {
        return &path[path.len() - tail.len() - 1..];
    }
    path
}

/// Container ids and names: `[a-zA-Z0-9][a-zA-Z0-9_.-]*`.
fn is_object_id(id: &str) -> bool {
    let mut chars = id.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

fn is_image_segment(segment: &str) -> bool {
    !segment.is_empty()
        && segment
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | ':' | '@'))
}

/// `stream=false` (one sample), optionally `one-shot`, nothing else.
fn is_one_stats_query(query: &str) -> bool {
    let mut one_sample = false;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=').unwrap_or((pair, "")) {
            ("stream", "false" | "0") => one_sample = true,
            ("one-shot", "true" | "false" | "1" | "0") => {}
            _ => return false,
        }
    }
    one_sample
}

/// Every parameter is one of `keys` (each at most once).
fn is_only(query: &str, keys: &[&str]) -> bool {
    let mut seen = Vec::new();
    query.split('&').filter(|p| !p.is_empty()).all(|pair| {
        let key = pair.split('=').next().unwrap_or_default();
        let fresh = !seen.contains(&key);
        seen.push(key);
        fresh && keys.contains(&key)
    })
}

/// `version=N` (required: the Engine then refuses an update made on a stale
/// read) and `registryAuthFrom=spec|previous-spec`; never `rollback`.
fn is_update_query(query: &str) -> bool {
    let mut version = false;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=').unwrap_or((pair, "")) {
            ("version", n)
                if !version && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) =>
            {
                version = true
            }
            ("registryAuthFrom", "spec" | "previous-spec") => {}
            _ => return false,
        }
    }
    version
}

fn is_pull_query(query: &str) -> bool {
    let mut has_from_image = false;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let key = pair.split('=').next().unwrap_or_default();
        match key {
            "fromImage" => has_from_image = true,
            "tag" | "platform" => {}
            _ => return false,
        }
    }
    has_from_image
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(method: Method, path: &str) -> bool {
        check(&method, path).is_ok()
    }

    #[test]
    fn allows_the_endpoints_the_tools_need() {
        for (method, path) in [
            (Method::GET, "/_ping"),
            (Method::HEAD, "/_ping"),
            (Method::GET, "/version"),
            (
                Method::GET,
                "/v1.41/containers/json?all=true&filters=%7B%7D",
            ),
            (Method::GET, "/v1.41/containers/abc123/json"),
            (Method::GET, "/v1.47/containers/arr_sonarr_1/logs?tail=100"),
            (
                Method::GET,
                "/v1.47/containers/abc123/stats?stream=false&one-shot=false",
            ),
            (Method::GET, "/v1.41/containers/abc123/stats?stream=false"),
            (Method::POST, "/v1.41/containers/abc123/start"),
            (Method::POST, "/v1.41/containers/abc123/stop?t=10"),
            (Method::POST, "/v1.41/containers/abc123/restart"),
            (
                Method::POST,
                "/v1.41/images/create?fromImage=127.0.0.1%3A5000%2Farr&tag=test",
            ),
            (
                Method::GET,
                "/v1.41/images/127.0.0.1:5000/arr/sonarr:test/json",
            ),
            (Method::GET, "/v1.41/events?filters=%7B%7D"),
            (
                Method::GET,
                "/v1.41/distribution/127.0.0.1:5000/arr/sonarr:test/json",
            ),
            (Method::GET, "/v1.41/distribution/nginx:latest/json"),
            // Swarm: what the swarm_* tools read and the one update they make.
            (
                Method::GET,
                "/v1.41/services?filters=%7B%22label%22%3A%5B%5D%7D&status=true",
            ),
            (Method::GET, "/v1.41/services"),
            (Method::GET, "/v1.41/services/kq3nk2d9vx8w"),
            (
                Method::GET,
                "/v1.41/services/kq3nk2d9vx8w/logs?stdout=true&stderr=true&tail=100",
            ),
            (Method::GET, "/v1.41/tasks?filters=%7B%7D"),
            (Method::GET, "/v1.41/nodes"),
            (
                Method::POST,
                "/v1.41/services/kq3nk2d9vx8w/update?version=42&registryAuthFrom=spec",
            ),
            (
                Method::POST,
                "/v1.41/services/media_sonarr/update?version=7",
            ),
        ] {
            assert!(
                allowed(method.clone(), path),
                "{method} {path} should be allowed"
            );
        }
    }

    #[test]
    fn refuses_everything_else() {
        for (method, path) in [
            (Method::POST, "/v1.41/containers/create"),
            (Method::POST, "/v1.41/containers/abc/exec"),
            (Method::POST, "/v1.41/exec/abc/start"),
            (Method::GET, "/v1.41/containers/abc/archive?path=/etc"),
            (Method::GET, "/v1.41/containers/abc/export"),
            // Stats only as one sample: a stream would hold a connection open.
            (Method::GET, "/v1.41/containers/abc/stats"),
            (Method::GET, "/v1.41/containers/abc/stats?stream=true"),
            (
                Method::GET,
                "/v1.41/containers/abc/stats?stream=false&stream=true",
            ),
            (Method::GET, "/v1.41/containers/abc/stats?stream=false&x=1"),
            (Method::POST, "/v1.41/containers/abc/stats?stream=false"),
            (Method::DELETE, "/v1.41/containers/abc"),
            (Method::POST, "/v1.41/containers/abc/kill"),
            (Method::POST, "/v1.41/containers/abc/update"),
            (Method::POST, "/v1.41/images/create?fromSrc=-"),
            (
                Method::POST,
                "/v1.41/images/create?fromImage=x&fromSrc=http%3A%2F%2Fevil",
            ),
            (Method::POST, "/v1.41/images/create"),
            (Method::DELETE, "/v1.41/images/x"),
            (Method::POST, "/v1.41/build"),
            (Method::GET, "/v1.41/info"),
            (Method::POST, "/v1.41/volumes/create"),
            (Method::GET, "/v1.41/containers/../exec/json"),
            (Method::GET, "/v1.41/containers/a%2F..%2Fb/json"),
            (Method::POST, "/v1.41/containers/-rf/start"),
            (Method::GET, "/v1.41/images/json"),
            (Method::POST, "/swarm/init"),
            (Method::POST, "/_ping"),
            // The registry asked, never written to or listed.
            (Method::POST, "/v1.41/distribution/nginx:latest/json"),
            (Method::GET, "/v1.41/distribution/json"),
            (Method::GET, "/v1.41/distribution/nginx/json?x=1"),
            (Method::POST, "/v1.41/images/nginx/push"),
            // Swarm: the writes docker-mcp never makes, and reads it does not need.
            (Method::POST, "/v1.41/services/create"),
            (Method::DELETE, "/v1.41/services/abc"),
            (Method::POST, "/v1.41/services/abc/update"),
            (
                Method::POST,
                "/v1.41/services/abc/update?registryAuthFrom=spec",
            ),
            (
                Method::POST,
                "/v1.41/services/abc/update?version=3&rollback=previous",
            ),
            (
                Method::POST,
                "/v1.41/services/abc/update?version=3&version=4",
            ),
            (Method::POST, "/v1.41/services/abc/update?version=x"),
            (Method::POST, "/v1.41/services/abc/update?version="),
            (Method::POST, "/v1.41/services/abc/rollback"),
            (Method::GET, "/v1.41/services?filters=%7B%7D&x=1"),
            (Method::GET, "/v1.41/services/abc?insertDefaults=true"),
            (Method::POST, "/v1.41/services/abc/logs"),
            (Method::GET, "/v1.41/tasks/abc"),
            (Method::GET, "/v1.41/tasks/abc/logs"),
            (Method::POST, "/v1.41/tasks"),
            (Method::GET, "/v1.41/nodes/abc"),
            (Method::POST, "/v1.41/nodes/abc/update?version=3"),
            (Method::DELETE, "/v1.41/nodes/abc"),
            (Method::GET, "/v1.41/swarm"),
            (Method::POST, "/v1.41/swarm/init"),
            (Method::POST, "/v1.41/swarm/join"),
            (Method::POST, "/v1.41/swarm/leave?force=true"),
            (Method::POST, "/v1.41/swarm/update?version=1"),
            (Method::GET, "/v1.41/swarm/unlockkey"),
            (Method::POST, "/v1.41/swarm/unlock"),
            (Method::GET, "/v1.41/secrets"),
            (Method::POST, "/v1.41/secrets/create"),
            (Method::POST, "/v1.41/secrets/abc/update?version=1"),
            (Method::DELETE, "/v1.41/secrets/abc"),
            (Method::GET, "/v1.41/configs"),
            (Method::POST, "/v1.41/configs/create"),
            (Method::POST, "/v1.41/configs/abc/update?version=1"),
            (Method::POST, "/v1.41/networks/create"),
            (Method::GET, "/v1.41/services/../secrets"),
        ] {
            let refused = check(&method, path).expect_err(path);
            assert_eq!(refused.method, method);
            assert!(!refused.path.contains('?'), "query kept out of the message");
        }
    }

    #[test]
    fn version_prefix_must_be_numeric() {
        assert!(!allowed(Method::GET, "/vx/containers/json"));
        assert!(allowed(Method::GET, "/v1.52/containers/json"));
    }
}
