use super::*;

const REGISTRY: &str = include_str!("../../../../config/tool_registry.yaml");
const POLICY: &str = include_str!("../../../../config/policy.yaml");

fn parse(registry: &str, policy: &str) -> Result<Config, ConfigError> {
    Config::parse(
        Source {
            name: "tool_registry.yaml",
            text: registry,
        },
        Source {
            name: "policy.yaml",
            text: policy,
        },
    )
}

#[test]
fn loads_the_guides_files_as_printed() {
    let config = parse(REGISTRY, POLICY).unwrap();
    assert_eq!(config.tools.len(), 6);
    let restart = &config.tools["compose_restart"];
    assert!(restart.mutating && restart.needs_approval);
    assert_eq!(
        restart.cooldown,
        Some(Cooldown {
            seconds: 300,
            key: CooldownKey::Service
        })
    );
    assert_eq!(
        config.tools["compose_pull"].roles,
        Some(vec!["admin".into()])
    );
    assert!(!config.tools["docker_ps"].needs_approval);
    assert_eq!(
        config.locked_compose_file.as_deref(),
        Some("/opt/stack/docker-compose.yml")
    );
    assert_eq!(config.defaults.output_cap_bytes, 120000);
    assert!(config.can_approve("admin", "compose_up"));
    assert!(config.can_approve("standard", "compose_restart"));
    assert!(!config.can_approve("standard", "compose_pull"));
    assert!(!config.can_approve("nobody", "compose_restart"));
    // The guide's two files agree on cooldowns: nothing to warn about.
    assert!(config.warnings.is_empty(), "{:?}", config.warnings);
}

#[test]
fn a_different_cooldown_warns_and_policy_wins() {
    let policy = POLICY.replace(
        "compose_restart: { seconds: 300, key: \"service\" }",
        "compose_restart: { seconds: 60, key: \"service\" }",
    );
    let config = parse(REGISTRY, &policy).unwrap();
    assert_eq!(
        config.tools["compose_restart"].cooldown.unwrap().seconds,
        60
    );
    assert!(
        config
            .warnings
            .iter()
            .any(|w| w.contains("policy.yaml wins")),
        "{:?}",
        config.warnings
    );
}

#[test]
fn the_version_changes_with_the_files() {
    let a = parse(REGISTRY, POLICY).unwrap();
    let b = parse(REGISTRY, &POLICY.replace("300", "301")).unwrap();
    assert_ne!(a.version, b.version);
}

fn assert_refused(registry: &str, policy: &str, file: &str, line: Option<u64>, needle: &str) {
    let error = parse(registry, policy).expect_err(needle);
    assert_eq!(error.file, file, "{error}");
    if line.is_some() {
        assert_eq!(error.line, line, "{error}");
    }
    assert!(error.reason.contains(needle), "{error}");
}

#[test]
fn bad_configuration_is_refused_with_file_line_and_reason() {
    // YAML syntax.
    assert_refused("services: [", POLICY, "tool_registry.yaml", Some(1), "");
    // Unknown service, on the tool's line.
    let registry = REGISTRY.replace(
        "mcp: { service: docker-mcp, fn: compose_ps }",
        "mcp: { service: nope, fn: compose_ps }",
    );
    let line = REGISTRY
        .lines()
        .position(|l| l.starts_with("  compose_ps:"))
        .unwrap() as u64
        + 1;
    let error = parse(&registry, POLICY).unwrap_err();
    assert_eq!(error.file, "tool_registry.yaml");
    assert!(error.reason.contains("unknown service \"nope\""), "{error}");
    assert!(
        error.line.is_some_and(|l| l >= line && l <= line + 1),
        "{error} vs {line}"
    );
    // A mutating tool that says it needs no approval.
    let registry = REGISTRY.replacen("approval: required", "approval: none", 1);
    assert_refused(
        &registry,
        POLICY,
        "tool_registry.yaml",
        None,
        "always needs approval",
    );
    // A tool without a schema.
    let policy = POLICY.replace(
        "  docker_ps:\n    type: object\n    additionalProperties: false\n",
        "",
    );
    assert_refused(REGISTRY, &policy, "tool_registry.yaml", None, "no schema");
    // A role that does not exist.
    let registry = REGISTRY.replacen("roles: [admin]", "roles: [root]", 1);
    assert_refused(&registry, POLICY, "tool_registry.yaml", None, "\"root\"");
    // An unknown key (typo) is an error, not silently ignored.
    let policy = POLICY.replace("guards:\n", "guardz:\n");
    assert_refused(REGISTRY, &policy, "policy.yaml", None, "guardz");
    // An invalid JSON Schema.
    let policy = POLICY.replacen("type: object\n", "type: objekt\n", 1);
    assert_refused(REGISTRY, &policy, "policy.yaml", None, "");
    // The lock needs `file` pinned.
    let policy = POLICY.replacen(
        "file: { type: string, const: \"/opt/stack/docker-compose.yml\" }",
        "file: { type: string }",
        1,
    );
    assert_refused(REGISTRY, &policy, "policy.yaml", None, "const");
    // Two different locked files.
    let policy = POLICY.replacen(
        "const: \"/opt/stack/docker-compose.yml\"",
        "const: \"/srv/other.yml\"",
        1,
    );
    assert_refused(REGISTRY, &policy, "policy.yaml", None, "different paths");
    // A transport that needs a URL.
    let registry = REGISTRY.replace(
        "    base_url: http://docker-mcp:8080     # adjust per image docs\n",
        "",
    );
    assert_refused(&registry, POLICY, "tool_registry.yaml", None, "base_url");
}

#[test]
fn services_speak_three_transports_with_two_kinds_of_auth() {
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "s3cret\n").unwrap();
    let registry = format!(
        "services:\n  a:\n    base_url: http://a:8080\n    transport: http\n    auth: none\n  b:\n    base_url: http://b:8080/mcp\n    transport: streamable-http\n    auth: {{ bearer_token_file: {} }}\n  c:\n    transport: stdio\n    command: [ops-copilot, docker-mcp, --stdio]\ntools:\n  docker_ps:\n    mcp: {{ service: c, fn: docker_ps }}\n",
        token.display()
    );
    let config = parse(&registry, POLICY).unwrap();
    assert_eq!(config.services["a"].transport, Transport::Http);
    assert_eq!(config.services["b"].transport, Transport::StreamableHttp);
    assert!(matches!(config.services["b"].auth, Auth::Bearer { .. }));
    assert_eq!(config.services["c"].command[0], "ops-copilot");
    assert_eq!(config.tools["docker_ps"].service, "c");
    // Unused schemas are only a warning.
    assert!(
        config
            .warnings
            .iter()
            .any(|w| w.contains("schemas.compose_ps"))
    );

    let missing = registry.replace(&token.display().to_string(), "/nonexistent/token");
    assert_refused(
        &missing,
        POLICY,
        "tool_registry.yaml",
        None,
        "bearer_token_file",
    );
    let sse = registry.replace("transport: http\n", "transport: sse\n");
    assert_refused(&sse, POLICY, "tool_registry.yaml", None, "");
}

#[test]
fn a_broken_edit_keeps_the_last_good_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let registry = dir.path().join("tool_registry.yaml");
    let policy = dir.path().join("policy.yaml");
    std::fs::write(&registry, REGISTRY).unwrap();
    std::fs::write(&policy, POLICY).unwrap();
    let handle = ConfigHandle::load(&registry, &policy).unwrap();
    let first = handle.current().version.clone();

    let bump = |path: &std::path::Path, text: &str, secs: u64| {
        std::fs::write(path, text).unwrap();
        let when = std::time::SystemTime::now() + std::time::Duration::from_secs(secs);
        std::fs::File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_modified(when)
            .unwrap();
    };
    bump(&policy, "defaults: [broken", 5);
    handle.reload_if_changed();
    assert_eq!(handle.current().version, first);
    assert!(handle.last_error().is_some());

    bump(&policy, &POLICY.replace("300", "120"), 10);
    handle.reload_if_changed();
    let now = handle.current();
    assert_ne!(now.version, first);
    assert_eq!(now.tools["compose_restart"].cooldown.unwrap().seconds, 120);
    assert!(handle.last_error().is_none());
}

#[test]
fn a_tool_may_wait_longer_than_the_default_within_bounds() {
    let guide = parse(REGISTRY, POLICY).unwrap();
    assert_eq!(
        guide.tools["compose_up"].timeout, None,
        "the guide's files set none"
    );
    let registry = REGISTRY.replacen(
        "fn: compose_up }\n",
        "fn: compose_up }\n    timeout_seconds: 330\n",
        1,
    );
    let config = parse(&registry, POLICY).unwrap();
    assert_eq!(
        config.tools["compose_up"].timeout,
        Some(std::time::Duration::from_secs(330))
    );
    for bad in ["0", "3601"] {
        let registry = REGISTRY.replacen(
            "fn: compose_up }\n",
            &format!("fn: compose_up }}\n    timeout_seconds: {bad}\n"),
            1,
        );
        assert_refused(
            &registry,
            POLICY,
            "tool_registry.yaml",
            None,
            "timeout_seconds must be between 1 and 3600",
        );
    }
}

/// The guide's registry with a second docker-mcp and a `hosts:` section.
fn with_hosts(hosts: &str) -> String {
    REGISTRY.replacen(
        "services:\n",
        "services:\n  docker-mcp-nas:\n    base_url: http://nas:8080\n    transport: http\n    auth: none\n",
        1,
    ) + "\nhosts:\n"
        + hosts
}

#[test]
fn hosts_are_services_and_their_rules_name_known_hosts_and_roles() {
    let two = with_hosts("  pi: { service: docker-mcp }\n  nas: { service: docker-mcp-nas }\n");
    let policy = format!("{POLICY}\nhosts:\n  nas: {{ read_only: true, roles: [admin] }}\n");
    let config = parse(&two, &policy).unwrap();
    let names: Vec<&str> = config.hosts.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(names, ["nas", "pi"]);
    let nas = config.hosts.get("nas").unwrap();
    assert!(nas.read_only && nas.admits("admin") && !nas.admits("standard"));
    assert!(!config.hosts.get("pi").unwrap().read_only);
    let listed = config.hosts.listed(config.default_host_service(), "admin");
    assert_eq!(
        serde_json::to_value(&listed).unwrap(),
        serde_json::json!({"hosts": [
            {"name": "nas", "default": false, "read_only": true},
            {"name": "pi", "default": true, "read_only": false},
        ]})
    );
    assert_eq!(
        config
            .hosts
            .listed(config.default_host_service(), "standard")
            .hosts
            .len(),
        1,
        "a host limited to admins is not listed to others"
    );
    // The advertised schema offers the hosts; the tool's own schema is unchanged.
    let ps = &config.tools["compose_ps"];
    let shown = config.hosts.advertised_schema(ps, "admin");
    assert_eq!(
        shown["properties"]["host"]["enum"],
        serde_json::json!(["nas", "pi"])
    );
    assert!(ps.schema["properties"].get("host").is_none());
    // A tool without arguments runs on a host too.
    let docker_ps = config
        .hosts
        .advertised_schema(&config.tools["docker_ps"], "admin");
    assert_eq!(
        docker_ps["properties"]["host"]["enum"],
        serde_json::json!(["nas", "pi"])
    );
    assert_eq!(docker_ps["additionalProperties"], false);

    for (registry, policy, file, said) in [
        (
            with_hosts("  pi: { service: nope }\n"),
            POLICY.to_owned(),
            "tool_registry.yaml",
            "hosts.pi: unknown service \"nope\"",
        ),
        (
            with_hosts("  pi: { service: docker-mcp }\n  pi2: { service: docker-mcp }\n"),
            POLICY.to_owned(),
            "tool_registry.yaml",
            "already serves host pi",
        ),
        (
            with_hosts("  \"my host\": { service: docker-mcp }\n"),
            POLICY.to_owned(),
            "tool_registry.yaml",
            "a host name is",
        ),
        (
            with_hosts("  pi: { service: docker-mcp, sevrice: x }\n"),
            POLICY.to_owned(),
            "tool_registry.yaml",
            "sevrice",
        ),
        (
            two.clone(),
            format!("{POLICY}\nhosts:\n  attic: {{ read_only: true }}\n"),
            "policy.yaml",
            "hosts.attic: no such host",
        ),
        (
            two.clone(),
            format!("{POLICY}\nhosts:\n  nas: {{ roles: [root] }}\n"),
            "policy.yaml",
            "role \"root\" is not defined",
        ),
        (
            two.clone(),
            format!("{POLICY}\nhosts:\n  nas: {{ readonly: true }}\n"),
            "policy.yaml",
            "readonly",
        ),
    ] {
        let error = parse(&registry, &policy).unwrap_err();
        assert_eq!(error.file, file, "{error}");
        assert!(error.reason.contains(said), "{error} should say {said}");
        assert!(error.line.is_some(), "{error} has a line");
    }
}
