//! The socket-proxy variant, as compose resolves it (its image cannot be pulled
//! here, so it is not run): only docker-mcp has a way to the Engine.

use std::collections::BTreeMap;
use std::process::Command;

use serde_json::Value;
use test_support::{compose_command, repo_root};

/// `compose config` of deploy/docker-compose.yml plus `engine_file`, as JSON values.
fn resolved(engine_file: &str) -> BTreeMap<String, Value> {
    let deploy = repo_root().join("deploy");
    let cli = compose_command();
    let output = Command::new(&cli[0])
        .args(&cli[1..])
        .args(["-f", "docker-compose.yml", "-f", engine_file, "config"])
        .current_dir(&deploy)
        .env_remove("COMPOSE_FILE")
        .env("DOCKER_GID", "999")
        .output()
        .expect("run the compose CLI");
    assert!(
        output.status.success(),
        "compose config with {engine_file} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let config: Value = serde_saphyr::from_str(&String::from_utf8_lossy(&output.stdout))
        .expect("compose config prints YAML");
    config["services"]
        .as_object()
        .expect("services")
        .iter()
        .map(|(name, service)| (name.clone(), service.clone()))
        .collect()
}

/// Whether a service mounts the Engine's socket or is pointed at an Engine.
fn engine_access(service: &Value) -> Vec<String> {
    let mut found = Vec::new();
    for volume in service["volumes"].as_array().into_iter().flatten() {
        let text = volume.to_string();
        if text.contains("docker.sock") {
            found.push(format!("mounts {text}"));
        }
    }
    let environment = service["environment"].to_string();
    if environment.contains("DOCKER_HOST") {
        found.push(format!("environment {environment}"));
    }
    found
}

#[test]
fn in_both_variants_only_docker_mcp_and_the_proxy_reach_the_engine() {
    for engine_file in ["engine-socket-proxy.yml", "engine-direct-socket.yml"] {
        let services = resolved(engine_file);
        for (name, service) in &services {
            let access = engine_access(service);
            match name.as_str() {
                "docker-mcp" | "docker-socket-proxy" => {
                    assert!(
                        !access.is_empty(),
                        "{engine_file}: {name} has no Engine access"
                    )
                }
                _ => assert!(access.is_empty(), "{engine_file}: {name} {access:?}"),
            }
            for key in ["read_only", "security_opt", "restart", "healthcheck"] {
                if name != "docker-socket-proxy" || key != "healthcheck" {
                    assert!(!service[key].is_null(), "{engine_file}: {name} lacks {key}");
                }
            }
        }
    }
    let proxied = resolved("engine-socket-proxy.yml");
    let proxy = &proxied["docker-socket-proxy"];
    let setting = |key: &str| {
        let value = &proxy["environment"][key];
        value
            .as_str()
            .map_or_else(|| value.to_string(), str::to_owned)
    };
    // The guide's POST=0 denies every POST: restarts could never work.
    assert_eq!(setting("POST"), "1");
    // compose_updates asks the registry through the Engine's distribution endpoint.
    assert_eq!(setting("DISTRIBUTION"), "1");
    for closed in [
        "ALLOW_EXEC",
        "ALLOW_ATTACH",
        "ALLOW_ARCHIVE",
        "ALLOW_EXPORT",
    ] {
        assert_eq!(setting(closed), "0", "{closed} is open");
    }
    // The proxy's network is shared with docker-mcp alone.
    for (name, service) in &proxied {
        let networks = service["networks"].to_string();
        let on_engine_net = networks.contains("engine_net");
        let expected = name == "docker-mcp" || name == "docker-socket-proxy";
        assert_eq!(on_engine_net, expected, "{name} networks: {networks}");
    }
}

/// A service's mount as `compose config` prints it (v1: `source:target:mode`; v2:
/// the long syntax): source, target, whether it is a named volume, read-only.
struct Mount {
    source: String,
    target: String,
    named_volume: bool,
    read_only: bool,
}

fn mounts(service: &Value) -> Vec<Mount> {
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    service["volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|v| match v.as_str() {
            Some(short) => {
                let parts: Vec<&str> = short.split(':').collect();
                let source = parts.first().copied().unwrap_or_default().to_owned();
                Mount {
                    named_volume: !source.starts_with('/') && !source.starts_with('.'),
                    source,
                    target: parts.get(1).copied().unwrap_or_default().to_owned(),
                    read_only: parts
                        .get(2)
                        .is_some_and(|m| m.split(',').any(|o| o == "ro")),
                }
            }
            None => Mount {
                source: text(&v["source"]),
                target: text(&v["target"]),
                named_volume: v["type"] == "volume",
                read_only: v["read_only"] == true,
            },
        })
        .collect()
}

/// The mount of the directory holding `path` (the deepest one).
fn mount_holding(service: &Value, path: &str) -> Mount {
    mounts(service)
        .into_iter()
        .filter(|m| path.starts_with(&format!("{}/", m.target.trim_end_matches('/'))))
        .max_by_key(|m| m.target.len())
        .unwrap_or_else(|| panic!("no volume holds {path}: {}", service["volumes"]))
}

#[test]
fn the_gateway_seals_its_audit_with_a_key_on_a_volume_apart_from_the_audit_data() {
    let services = resolved("engine-direct-socket.yml");
    let gateway = &services["ai-gateway"];
    let setting = |key: &str| {
        gateway["environment"][key]
            .as_str()
            .unwrap_or_else(|| panic!("ai-gateway has no {key}: {}", gateway["environment"]))
            .to_owned()
    };
    // The image's data directory (OPS_COPILOT_DATA_DIR in deploy/Dockerfile).
    let data = mount_holding(gateway, "/data/audit.db");
    for key in [
        "OPS_COPILOT_AUDIT_KEY_FILE",
        "OPS_COPILOT_AUDIT_WITNESS_FILE",
    ] {
        let path = setting(key);
        let mount = mount_holding(gateway, &path);
        assert!(
            mount.named_volume && !mount.read_only,
            "{key}={path}: not on a writable named volume ({})",
            mount.source
        );
        assert_ne!(
            mount.source, data.source,
            "{key}={path} is on the audit data's volume"
        );
    }
}
