//! Building the tools the way both front ends do, against the real Engine.

use std::path::Path;
use std::sync::Arc;

use docker_mcp::engine::{Engine, EngineAddress, EngineTimeouts};
use docker_mcp::tools::ComposeCli;
use docker_mcp::{DockerTools, Limits, ToolError, ToolsConfig};
use serde_json::Value;
use test_support::{Stack, compose_command};

/// The Engine the harness's docker CLI uses (`DOCKER_HOST`, else the default socket).
pub fn local_engine() -> Arc<Engine> {
    test_support::require_docker();
    let address = EngineAddress::from_env_value(std::env::var("DOCKER_HOST").ok().as_deref())
        .expect("DOCKER_HOST is one docker-mcp supports");
    Arc::new(Engine::new(address, EngineTimeouts::default()))
}

/// Tools locked to the stack's compose file, with default limits.
pub fn tools_for(stack: &Stack) -> DockerTools {
    tools_with(local_engine(), Some(stack.file()), Limits::default())
}

pub fn tools_with(engine: Arc<Engine>, file: Option<&Path>, limits: Limits) -> DockerTools {
    DockerTools::new(ToolsConfig {
        engine,
        compose_file: file.map(Path::to_path_buf),
        project_name: None,
        // The same compose CLI as the harness, so both agree on config hashes.
        compose_cli: ComposeCli::new(Some(&compose_command().join(" "))),
        limits,
        swarm_stack: None,
    })
}

/// Calls a tool and expects success.
pub async fn call_ok(tools: &DockerTools, name: &str, args: Value) -> Value {
    match tools.call(name, args.clone()).await {
        Ok(value) => value,
        Err(e) => panic!("{name} {args} failed: [{}] {e}", e.code()),
    }
}

/// Calls a tool and expects an error.
pub async fn call_err(tools: &DockerTools, name: &str, args: Value) -> ToolError {
    match tools.call(name, args.clone()).await {
        Ok(value) => panic!("{name} {args} should have failed, but returned {value}"),
        Err(e) => e,
    }
}

/// The service entry of a compose_ps result.
pub fn service<'a>(compose_ps: &'a Value, name: &str) -> &'a Value {
    compose_ps["services"]
        .as_array()
        .expect("services is an array")
        .iter()
        .find(|s| s["service"] == name)
        .unwrap_or_else(|| panic!("compose_ps has no service {name}: {compose_ps:#}"))
}

/// Whether a log line starts like the fake ARR apps' lines: `YYYY-MM-DD HH:MM:SS `,
/// possibly after the `[Info] ` left over from a coloured prefix. Frame headers or
/// escape bytes that were not removed would break this.
pub fn starts_with_timestamp(line: &str) -> bool {
    let line = line.strip_prefix("[Info] ").unwrap_or(line);
    let bytes = line.as_bytes();
    let shape = b"dddd-dd-dd dd:dd:dd ";
    bytes.len() > shape.len()
        && shape.iter().zip(bytes).all(|(s, b)| match s {
            b'd' => b.is_ascii_digit(),
            other => other == b,
        })
}

/// The raw bytes `docker logs --tail N` prints (stdout and stderr), from the CLI.
pub fn raw_docker_logs(container: &str, tail: u32) -> Vec<u8> {
    let out = std::process::Command::new("docker")
        .args(["logs", "--tail", &tail.to_string(), container])
        .output()
        .expect("docker logs runs");
    assert!(out.status.success(), "docker logs {container} failed");
    let mut raw = out.stdout;
    raw.extend_from_slice(&out.stderr);
    raw
}
