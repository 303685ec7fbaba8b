//! The guide's tool_registry.yaml and policy.yaml, adapted to where the planes
//! run: `all` writes them on first start, and deploy/config/ holds them as the
//! container deployment uses them (a test keeps the two the same).

/// The guide's files, embedded.
const REGISTRY: &str = include_str!("../../../config/tool_registry.yaml");
const POLICY: &str = include_str!("../../../config/policy.yaml");
/// What the guide's files say that an adaptation replaces.
pub const GUIDE_COMPOSE_FILE: &str = "/opt/stack/docker-compose.yml";
const GUIDE_UPSTREAM: &str = "base_url: http://docker-mcp:8080     # adjust per image docs\n    transport: http                      # or sse/stdio if supported\n    auth: none";

/// The chat starts and stops services too: the guide's registry has only
/// restart, so these two are added (the shipped `config/` stays the guide's);
/// and it asks why a service is not well (compose_diagnose) and what each
/// container uses (compose_stats), both reads; and follows a service's logs
/// live (compose_logs_follow, the stream form of compose_logs: docker-mcp's
/// `POST /streams/compose_logs`, opened with the gateway's `POST /chat/stream`).
const ADDED_TOOLS: &str = "
  compose_logs_follow:
    mcp: { service: docker-mcp, fn: compose_logs }
    mutating: false
    stream: true
    summary: \"Follow one service's logs live (bounded, redacted).\"

  compose_diagnose:
    mcp: { service: docker-mcp, fn: compose_diagnose }
    mutating: false
    summary: \"Say why one service is not well: verdict, evidence, next step.\"

  compose_stats:
    mcp: { service: docker-mcp, fn: compose_stats }
    mutating: false
    summary: \"CPU, memory, network and disk I/O of each running container.\"

  compose_updates:
    mcp: { service: docker-mcp, fn: compose_updates }
    mutating: false
    summary: \"Which services have a newer image in their registry (no pull).\"

  compose_update:
    mcp: { service: docker-mcp, fn: compose_update }
    mutating: true
    approval: required
    roles: [admin]
    cooldown: { seconds: 300, key_by: service }
    summary: \"Update one service: pull its image, recreate it if the image changed.\"

  compose_start:
    mcp: { service: docker-mcp, fn: compose_start }
    mutating: true
    approval: required
    cooldown: { seconds: 60, key_by: service }
    summary: \"Start a single stopped service.\"

  compose_stop:
    mcp: { service: docker-mcp, fn: compose_stop }
    mutating: true
    approval: required
    cooldown: { seconds: 60, key_by: service }
    summary: \"Stop a single service.\"

  swarm_services:
    mcp: { service: docker-mcp, fn: swarm_services }
    mutating: false
    summary: \"The Swarm stack's services: desired and running replicas, last update.\"

  swarm_tasks:
    mcp: { service: docker-mcp, fn: swarm_tasks }
    mutating: false
    summary: \"One Swarm service's tasks: node, state, error, exit code.\"

  swarm_logs:
    mcp: { service: docker-mcp, fn: swarm_logs }
    mutating: false
    summary: \"Tail bounded lines of logs for one Swarm service.\"

  swarm_nodes:
    mcp: { service: docker-mcp, fn: swarm_nodes }
    mutating: false
    summary: \"The Swarm's nodes: role, availability, state.\"

  swarm_diagnose:
    mcp: { service: docker-mcp, fn: swarm_diagnose }
    mutating: false
    summary: \"Say why one Swarm service's tasks fail: verdict, task errors, next step.\"

  swarm_restart:
    mcp: { service: docker-mcp, fn: swarm_restart }
    mutating: true
    approval: required
    cooldown: { seconds: 300, key_by: service }
    summary: \"Restart one Swarm service (a forced rolling update).\"

  swarm_scale:
    mcp: { service: docker-mcp, fn: swarm_scale }
    mutating: true
    approval: required
    roles: [admin]
    cooldown: { seconds: 60, key_by: service }
    summary: \"Set a replicated Swarm service's replica count.\"
";

/// The most replicas the policy lets swarm_scale set (its schema's
/// `maximum`); docker-mcp's own bound, [`docker_mcp::SWARM_MAX_REPLICAS`], is
/// the ceiling an edited policy cannot raise.
pub const SWARM_POLICY_MAX_REPLICAS: u32 = 5;

/// docker-mcp's own bounds, as `all` and the deployment run it.
pub const UP_TIMEOUT_SECS: u64 = 300;
pub const PULL_TIMEOUT_SECS: u64 = 600;
/// How much longer the gateway waits than docker-mcp may take.
const NESTING_MARGIN_SECS: u64 = 30;

/// How long the gateway waits for each mutating tool, and for compose_stats (a
/// read slower than the default read timeout: each container's sample waits
/// for the Engine's next collection): longer than docker-mcp can take for it,
/// so that the gateway never gives up on a call that is still running (the
/// timeouts nest). A restart, start or stop is bounded by an inspect, the
/// Engine's write timeout, the wait for the new start, the longest stability
/// window docker-mcp accepts, and the read of the last error line when it fails.
fn tool_timeouts() -> [(&'static str, u64); 10] {
    let engine = docker_mcp::engine::EngineTimeouts::default();
    let limits = docker_mcp::Limits::default();
    let lifecycle = (engine.read
        + engine.write
        + limits.verify_window
        + docker_mcp::MAX_STABILITY_WINDOW
        + engine.read)
        .as_secs()
        + NESTING_MARGIN_SECS;
    // Reads of the service and its tasks, the update, the wait for the new
    // tasks (polling the tasks and the service), the stability window they
    // must then run through, and the reads that word a failure.
    let swarm = (4 * engine.read
        + engine.write
        + limits.swarm_verify_window
        + docker_mcp::MAX_STABILITY_WINDOW
        + 3 * engine.read)
        .as_secs()
        + NESTING_MARGIN_SECS;
    [
        ("swarm_restart", swarm),
        ("swarm_scale", swarm),
        ("compose_restart", lifecycle),
        ("compose_start", lifecycle),
        ("compose_stop", lifecycle),
        ("compose_pull", PULL_TIMEOUT_SECS + NESTING_MARGIN_SECS),
        ("compose_up", UP_TIMEOUT_SECS + NESTING_MARGIN_SECS),
        (
            "compose_stats",
            limits.stats_round.as_secs() + NESTING_MARGIN_SECS,
        ),
        (
            "compose_updates",
            docker_mcp::UPDATES_ROUND.as_secs() + NESTING_MARGIN_SECS,
        ),
        // Inspects, the pull, `up --no-deps` and the stability window.
        (
            "compose_update",
            PULL_TIMEOUT_SECS
                + UP_TIMEOUT_SECS
                + docker_mcp::MAX_STABILITY_WINDOW.as_secs()
                + 2 * engine.read.as_secs()
                + NESTING_MARGIN_SECS,
        ),
    ]
}

/// Adds each tool's `timeout_seconds` after its `mcp:` line.
fn with_timeouts(registry: &str) -> String {
    tool_timeouts()
        .iter()
        .fold(registry.to_owned(), |text, (tool, seconds)| {
            let target = format!("fn: {tool} }}\n");
            text.replacen(
                &target,
                &format!("{target}    timeout_seconds: {seconds}\n"),
                1,
            )
        })
}

/// Where docker-mcp answers and how the gateway proves who it is.
pub struct Upstream<'a> {
    pub base_url: &'a str,
    pub bearer_token_file: &'a str,
}

/// The registry: docker-mcp's address and token, plus compose_start/stop.
pub fn registry(upstream: &Upstream) -> anyhow::Result<String> {
    let wired = REGISTRY.replacen(
        GUIDE_UPSTREAM,
        &format!(
            "base_url: {}\n    transport: http\n    auth: {{ bearer_token_file: \"{}\" }}",
            upstream.base_url, upstream.bearer_token_file
        ),
        1,
    );
    // The embedded file is ours: a mismatch is a bug to catch here, not a broken start.
    anyhow::ensure!(
        !wired.contains("auth: none"),
        "the embedded registry did not take the docker-mcp address"
    );
    let adapted = with_timeouts(&format!("{wired}{ADDED_TOOLS}"));
    anyhow::ensure!(
        adapted.matches("timeout_seconds:").count() == tool_timeouts().len(),
        "the embedded registry did not take every tool's timeout"
    );
    Ok(adapted)
}

/// The policy: the compose file locked to `compose_file`, and the schemas of
/// compose_diagnose, compose_start and compose_stop (like compose_restart's)
/// and compose_stats (like compose_ps'), and compose_logs_follow (like
/// compose_logs'); and the swarm_* tools', `stack` pinned to
/// [`docker_mcp::DEFAULT_SWARM_STACK`] (what `all` runs docker-mcp with) as
/// `file` is to the compose file, swarm_scale's `replicas` bounded by
/// [`SWARM_POLICY_MAX_REPLICAS`].
pub fn policy(compose_file: &str) -> String {
    let pattern = ops_core::contract::rules::SERVICE_PATTERN;
    let stack_schema = format!(
        "
  compose_logs_follow:
    type: object
    properties:
      file:    {{ type: string, const: \"{compose_file}\" }}
      service: {{ type: string, pattern: \"{pattern}\" }}
      tail:    {{ type: integer, minimum: 50, maximum: 500 }}
    required: [file, service]
    additionalProperties: false

  compose_stats:
    type: object
    properties:
      file: {{ type: string, const: \"{compose_file}\" }}
    required: [file]
    additionalProperties: false

  compose_updates:
    type: object
    properties:
      file:    {{ type: string, const: \"{compose_file}\" }}
      service: {{ type: string, pattern: \"{pattern}\" }}
      refresh: {{ type: boolean }}
    required: [file]
    additionalProperties: false
"
    );
    let service_schemas: String = [
        "compose_diagnose",
        "compose_start",
        "compose_stop",
        "compose_update",
    ]
    .iter()
    .map(|tool| {
        format!(
            "
  {tool}:
    type: object
    properties:
      file:    {{ type: string, const: \"{compose_file}\" }}
      service: {{ type: string, pattern: \"{pattern}\" }}
    required: [file, service]
    additionalProperties: false
"
        )
    })
    .collect();
    let stack = docker_mcp::DEFAULT_SWARM_STACK;
    let max_replicas = SWARM_POLICY_MAX_REPLICAS;
    let swarm_service_schemas: String = [
        ("swarm_tasks", ""),
        ("swarm_diagnose", ""),
        ("swarm_restart", ""),
        (
            "swarm_logs",
            "\n      tail:    { type: integer, minimum: 50, maximum: 500 }",
        ),
    ]
    .iter()
    .map(|(tool, extra)| {
        format!(
            "
  {tool}:
    type: object
    properties:
      stack:   {{ type: string, const: \"{stack}\" }}
      service: {{ type: string, pattern: \"{pattern}\" }}{extra}
    required: [stack, service]
    additionalProperties: false
"
        )
    })
    .collect();
    let swarm_schemas = format!(
        "
  swarm_services:
    type: object
    properties:
      stack: {{ type: string, const: \"{stack}\" }}
    required: [stack]
    additionalProperties: false

  swarm_nodes:
    type: object
    additionalProperties: false
{swarm_service_schemas}
  swarm_scale:
    type: object
    properties:
      stack:    {{ type: string, const: \"{stack}\" }}
      service:  {{ type: string, pattern: \"{pattern}\" }}
      replicas: {{ type: integer, minimum: 0, maximum: {max_replicas} }}
    required: [stack, service, replicas]
    additionalProperties: false
"
    );
    let schemas = format!("{service_schemas}{stack_schema}{swarm_schemas}");
    POLICY.replace(GUIDE_COMPOSE_FILE, compose_file).replacen(
        "\nguards:",
        &format!("{schemas}\nguards:"),
        1,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// deploy/config/ is what these functions make for the containers: edit
    /// here (or the guide's files) and regenerate, never by hand.
    #[test]
    fn deploy_config_matches_the_adaptation() {
        let upstream = Upstream {
            base_url: "http://docker-mcp:8080",
            bearer_token_file: "/run/secrets/docker_mcp_token",
        };
        let deploy = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/config");
        let registry_text = registry(&upstream).unwrap();
        let policy_text = policy(GUIDE_COMPOSE_FILE);
        if std::env::var_os("OPS_REGENERATE_DEPLOY_CONFIG").is_some() {
            std::fs::write(deploy.join("tool_registry.yaml"), &registry_text).unwrap();
            std::fs::write(deploy.join("policy.yaml"), &policy_text).unwrap();
        }
        for (name, expected) in [
            ("tool_registry.yaml", registry_text),
            ("policy.yaml", policy_text),
        ] {
            let shipped = std::fs::read_to_string(deploy.join(name)).unwrap();
            assert!(
                shipped == expected,
                "deploy/config/{name} differs from the adaptation; regenerate it with \
                 OPS_REGENERATE_DEPLOY_CONFIG=1 cargo test -p ops-copilot --bin ops-copilot deploy_config"
            );
        }
    }

    #[test]
    fn the_adapted_files_load_and_lock_the_compose_file() {
        let dir = tempfile::tempdir().unwrap();
        let registry_path = dir.path().join("tool_registry.yaml");
        let policy_path = dir.path().join("policy.yaml");
        let token_file = dir.path().join("token");
        std::fs::write(&token_file, "0123456789abcdef0123456789abcdef").unwrap();
        let token_file = token_file.display().to_string();
        let upstream = Upstream {
            base_url: "http://127.0.0.1:8091",
            bearer_token_file: &token_file,
        };
        std::fs::write(&registry_path, registry(&upstream).unwrap()).unwrap();
        std::fs::write(&policy_path, policy("/srv/arr/compose.yaml")).unwrap();
        let config = gateway::config::Config::load(&registry_path, &policy_path).unwrap();
        assert_eq!(
            config.locked_compose_file.as_deref(),
            Some("/srv/arr/compose.yaml")
        );
        for tool in [
            "compose_diagnose",
            "compose_stats",
            "compose_restart",
            "compose_start",
            "compose_stop",
        ] {
            assert!(config.tools.contains_key(tool), "{tool} missing");
        }
        // A read like compose_logs: no approval, and every role that may
        // read the logs may diagnose.
        let diagnose = &config.tools["compose_diagnose"];
        assert!(!diagnose.mutating, "compose_diagnose is a read");
        let may_call = |role: &str, tool: &str| {
            gateway::decision::may_call(&config, &config.tools[tool], role).is_ok()
        };
        for role in config.roles.keys() {
            assert_eq!(
                may_call(role, "compose_diagnose"),
                may_call(role, "compose_logs"),
                "{role}"
            );
            // compose_stats too: a read of the stack, as compose_ps.
            assert_eq!(
                may_call(role, "compose_stats"),
                may_call(role, "compose_ps"),
                "{role}"
            );
        }
        assert!(
            !config.tools["compose_stats"].mutating,
            "compose_stats is a read"
        );
        // A stats round may take longer than the default read timeout; the
        // gateway waits longer than docker-mcp's deadline for it.
        let stats = config.tools["compose_stats"].timeout.unwrap();
        assert!(stats > docker_mcp::DEFAULT_STATS_ROUND, "{stats:?}");
        // The gateway waits longer than docker-mcp may take, for every mutating tool.
        let up = config.tools["compose_up"].timeout.unwrap();
        assert!(
            up > std::time::Duration::from_secs(UP_TIMEOUT_SECS),
            "{up:?}"
        );
        let pull = config.tools["compose_pull"].timeout.unwrap();
        assert!(
            pull > std::time::Duration::from_secs(PULL_TIMEOUT_SECS),
            "{pull:?}"
        );
        // The Swarm tools: reads without approval, the two writes with it, the
        // stack pinned, scale bounded by the policy below docker-mcp's own bound.
        for tool in [
            "swarm_services",
            "swarm_tasks",
            "swarm_logs",
            "swarm_nodes",
            "swarm_diagnose",
        ] {
            assert!(!config.tools[tool].mutating, "{tool} is a read");
        }
        for tool in ["swarm_restart", "swarm_scale"] {
            assert!(config.tools[tool].mutating, "{tool} mutates");
            let verify = docker_mcp::DEFAULT_SWARM_VERIFY_WINDOW + docker_mcp::MAX_STABILITY_WINDOW;
            assert!(config.tools[tool].timeout.unwrap() > verify, "{tool}");
        }
        for role in config.roles.keys() {
            assert_eq!(
                may_call(role, "swarm_logs"),
                may_call(role, "compose_logs"),
                "{role}"
            );
        }
        const { assert!(SWARM_POLICY_MAX_REPLICAS <= docker_mcp::SWARM_MAX_REPLICAS) };
        // A restart may wait out the longest stability window docker-mcp accepts.
        let engine = docker_mcp::engine::EngineTimeouts::default().write;
        for tool in ["compose_restart", "compose_start", "compose_stop"] {
            assert!(
                config.tools[tool].timeout.unwrap() > engine + docker_mcp::MAX_STABILITY_WINDOW,
                "{tool}"
            );
        }
    }
}
