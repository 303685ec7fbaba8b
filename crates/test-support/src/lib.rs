//! Fixtures for the integration tests that run against the real Docker Engine.
//!
//! - [`require_docker`] and [`ensure_images`]: the Engine must answer and the fake ARR
//!   images must exist; otherwise the tests FAIL with a clear message (never skip).
//! - [`Stack`]: a throw-away compose project in a fresh directory named `octest-...`,
//!   torn down (`down -v --remove-orphans`) when dropped, even when a test panics.
//! - [`docker`], [`try_docker`]: the docker CLI, for the harness's own checks (the code
//!   under test is what talks to the Engine API; the harness may use the CLI freely).
//! - [`wait_for`], [`wait_for_sync`]: poll a condition until a deadline.
//! - [`Forwarder`]: a unix-socket or TCP forwarder to the real Engine socket, to stand
//!   in for a socket that appears later or for `DOCKER_HOST=tcp://...`.
//! - [`Process`], [`free_port`], [`http_client`]: processes under test (output in a log
//!   file, killed on drop), HTTP servers started on a free loopback port.
//! - [`mcp_http`]: a raw JSON-RPC MCP client over Streamable HTTP.
//! - [`SecondEngine`]: a second `dockerd` of its own (directory, socket, bridge), for
//!   another host or a Swarm, never the machine's main Engine; gone when dropped.
//! - [`sockets`]: raw TCP clients that trickle a request or wait for the server to close.

mod engine2;
mod forward;
pub mod mcp_http;
mod process;
pub mod sockets;
mod stack;
mod wait;

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

pub use engine2::{SecondEngine, link_exists, mounts_under};
pub use forward::{Forwarder, engine_socket_upstream};
pub use process::{Process, free_port, http_client};
pub use stack::{Stack, compose_command};
pub use wait::{wait_for, wait_for_sync};

/// The workspace root. From the running test's own package (`cargo test` sets
/// `CARGO_MANIFEST_DIR` for it, `crates/NAME`), not this crate's compile-time
/// path: two clones sharing one target dir reuse each other's build of this
/// crate (cargo keys it by its path inside the workspace), and a compiled-in
/// path would point a test at the other clone's files.
pub fn repo_root() -> PathBuf {
    let package = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    package
        .join("../..")
        .canonicalize()
        .expect("the workspace root exists")
}

/// The test ARR stack's compose file (`OPS_TEST_ARR_COMPOSE`, set by scripts/test.sh,
/// or the one in this checkout).
pub fn arr_compose_file() -> PathBuf {
    std::env::var_os("OPS_TEST_ARR_COMPOSE")
        .map(PathBuf::from)
        .filter(|p| p.is_file())
        .unwrap_or_else(|| repo_root().join("testing/arr-stack/docker-compose.yml"))
}

/// The image the fake ARR services run (pushed to the local registry by build.sh).
pub fn arr_image(service: &str) -> String {
    format!("127.0.0.1:5000/arr/{service}:test")
}

/// A short random lowercase hex string, unique enough for names of throw-away things.
pub fn unique_suffix() -> String {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.write_u32(std::process::id());
    hasher.write_u128(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    format!("{:016x}", hasher.finish())[..10].to_owned()
}

/// Fails the calling test, loudly, when the Docker Engine does not answer.
/// The integration tests need a real Engine and are never skipped.
#[track_caller]
pub fn require_docker() {
    static CHECKED: OnceLock<Result<(), String>> = OnceLock::new();
    let result = CHECKED.get_or_init(|| match Command::new("docker").arg("info").output() {
        Ok(out) if out.status.success() => Ok(()),
        Ok(out) => Err(String::from_utf8_lossy(&out.stderr).trim().to_owned()),
        Err(e) => Err(format!("cannot run the docker CLI: {e}")),
    });
    if let Err(why) = result {
        panic!(
            "THE DOCKER ENGINE IS NOT REACHABLE (`docker info` failed): {why}\n\
             These integration tests run against a real Docker Engine and are never skipped. \
             Start the Engine (e.g. `service docker start`) or point DOCKER_HOST at it."
        );
    }
}

/// The services of the test ARR stack, each with its image `arr_image(service)`.
pub const ARR_SERVICES: [&str; 6] = [
    "sonarr",
    "radarr",
    "sabnzbd",
    "prowlarr",
    "recyclarr",
    "bazarr",
];

/// Makes sure the fake ARR images exist and the local registry answers: when they do
/// not, runs testing/images/build.sh (once per test process). It is not run when all
/// is there (scripts/test.sh runs it before the tests), because it also resets any
/// `--push-variant` that a concurrent test may be relying on.
#[track_caller]
pub fn ensure_images() {
    require_docker();
    static BUILT: OnceLock<Result<(), String>> = OnceLock::new();
    let result = BUILT.get_or_init(|| {
        let images: Vec<String> = ARR_SERVICES.iter().map(|s| arr_image(s)).collect();
        let mut inspect = vec!["image", "inspect", "-f", "{{.Id}}"];
        inspect.extend(images.iter().map(String::as_str));
        let have_images = try_docker(&inspect).is_ok();
        let have_registry = registry_answers();
        if have_images && have_registry {
            return Ok(());
        }
        eprintln!(
            "test-support: running build.sh (images present: {have_images}, registry answers: {have_registry})"
        );
        let script = std::env::var_os("OPS_TEST_IMAGES_BUILD")
            .map(PathBuf::from)
            .filter(|p| p.is_file())
            .unwrap_or_else(|| repo_root().join("testing/images/build.sh"));
        let out = Command::new("bash")
            .arg(&script)
            .output()
            .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{} failed ({}):\n{}",
                script.display(),
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    });
    if let Err(why) = result {
        panic!("the test images could not be built: {why}");
    }
}

/// Whether the local registry on 127.0.0.1:5000 answers `GET /v2/` with 200.
fn registry_answers() -> bool {
    use std::io::{Read, Write};
    use std::time::Duration;
    let Ok(mut stream) = std::net::TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], 5000)),
        Duration::from_secs(2),
    ) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let mut reply = [0u8; 16];
    stream
        .write_all(b"GET /v2/ HTTP/1.0\r\nHost: 127.0.0.1:5000\r\n\r\n")
        .is_ok()
        && stream.read(&mut reply).is_ok_and(|n| {
            let status = String::from_utf8_lossy(&reply[..n]);
            status.starts_with("HTTP/1.")
                && status
                    .get(8..)
                    .is_some_and(|rest| rest.trim_start().starts_with("200"))
        })
}

/// Runs the docker CLI and returns its trimmed stdout; panics with stderr on failure.
#[track_caller]
pub fn docker(args: &[&str]) -> String {
    match try_docker(args) {
        Ok(out) => out,
        Err(e) => panic!("{e}"),
    }
}

/// Runs the docker CLI: trimmed stdout, or a message with the command and its stderr.
pub fn try_docker(args: &[&str]) -> Result<String, String> {
    let out = Command::new("docker")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run docker {}: {e}", args.join(" ")))?;
    output_text(&format!("docker {}", args.join(" ")), out)
}

fn output_text(what: &str, out: Output) -> Result<String, String> {
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    } else {
        Err(format!(
            "`{what}` failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim(),
            String::from_utf8_lossy(&out.stdout).trim()
        ))
    }
}
