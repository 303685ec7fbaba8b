use super::*;
use crate::suggestion;

fn stack() -> Vec<String> {
    ["sonarr", "radarr", "prowlarr"].map(String::from).to_vec()
}

fn check(name: &str, arguments: &str) -> Result<Proposal, Rejection> {
    Catalog::new(&stack()).check(name, &json!(arguments))
}

fn rejected(name: &str, arguments: &str) -> String {
    match check(name, arguments) {
        Ok(proposal) => panic!("{name} {arguments} accepted as {proposal:?}"),
        Err(rejection) => rejection.describe(),
    }
}

#[test]
fn the_four_tools_are_offered_with_the_stacks_services() {
    let catalog = Catalog::new(&stack());
    assert_eq!(
        catalog.names(),
        [
            DOCKER_STATUS,
            SYSTEM_HEALTH,
            COMPOSE_LOGS,
            COMPOSE_DIAGNOSE,
            DOCKER_ACTIONS
        ]
    );
    let definitions = catalog.definitions();
    let actions = definitions
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["function"]["name"] == DOCKER_ACTIONS)
        .unwrap();
    assert_eq!(actions["type"], "function");
    assert_eq!(
        actions["function"]["parameters"]["properties"]["service"]["enum"],
        json!(["sonarr", "radarr", "prowlarr"])
    );
    assert!(
        actions["function"]["description"]
            .as_str()
            .unwrap()
            .contains("does NOT run")
    );
}

#[test]
fn valid_proposals_pass() {
    assert_eq!(check(DOCKER_STATUS, "{}"), Ok(Proposal::DockerStatus));
    assert_eq!(check(DOCKER_STATUS, ""), Ok(Proposal::DockerStatus));
    assert_eq!(check(SYSTEM_HEALTH, "{}"), Ok(Proposal::SystemHealth));
    assert_eq!(
        check(COMPOSE_DIAGNOSE, r#"{"service": "prowlarr"}"#),
        Ok(Proposal::Diagnose {
            service: "prowlarr".into()
        })
    );
    assert_eq!(
        check(COMPOSE_LOGS, r#"{"service": "sonarr"}"#),
        Ok(Proposal::Logs {
            service: "sonarr".into(),
            tail: 100
        })
    );
    assert_eq!(
        check(COMPOSE_LOGS, r#"{"service": "radarr", "tail": 500}"#),
        Ok(Proposal::Logs {
            service: "radarr".into(),
            tail: 500
        })
    );
    assert_eq!(
        check(
            DOCKER_ACTIONS,
            r#"{"action": "restart", "service": "sonarr"}"#
        ),
        Ok(Proposal::Action {
            action: Action::Restart,
            service: "sonarr".into()
        })
    );
    // Some servers send the arguments as an object, not as a JSON text.
    let catalog = Catalog::new(&stack());
    assert_eq!(
        catalog.check(
            DOCKER_ACTIONS,
            &json!({"action": "stop", "service": "prowlarr"})
        ),
        Ok(Proposal::Action {
            action: Action::Stop,
            service: "prowlarr".into()
        })
    );
}

#[test]
fn unknown_tools_are_dropped() {
    for name in [
        "compose_restart",
        "compose_up",
        "shell",
        "docker_status ",
        "",
        "DOCKER_ACTIONS",
    ] {
        let why = rejected(name, "{}");
        assert!(why.contains("not a tool the copilot offers"), "{why}");
    }
    let long = "x".repeat(10_000);
    assert!(rejected(&long, "{}").len() < 400, "the name is bounded");
}

#[test]
fn unknown_services_are_dropped() {
    for args in [
        r#"{"action": "restart", "service": "plex"}"#,
        r#"{"action": "stop", "service": "all"}"#,
        r#"{"action": "stop", "service": "*"}"#,
        r#"{"action": "restart", "service": "sonarr; rm -rf /"}"#,
        r#"{"action": "restart", "service": "Sonarr"}"#,
        r#"{"action": "restart", "service": ""}"#,
    ] {
        let why = rejected(DOCKER_ACTIONS, args);
        assert!(why.contains("service"), "{args}: {why}");
    }
    assert!(rejected(COMPOSE_LOGS, r#"{"service": "../../etc"}"#).contains("service"));
    for args in [
        r#"{"service": "plex"}"#,
        r#"{"service": "sonarr", "file": "/etc/passwd"}"#,
        r#"{}"#,
    ] {
        let why = rejected(COMPOSE_DIAGNOSE, args);
        assert!(!why.is_empty(), "{args}");
    }
}

#[test]
fn bad_arguments_are_dropped() {
    for (name, args, says) in [
        (DOCKER_ACTIONS, r#"{"action": "restart", "#, "not JSON"),
        (DOCKER_ACTIONS, "restart sonarr", "not JSON"),
        (
            DOCKER_ACTIONS,
            r#"["restart", "sonarr"]"#,
            "not a JSON object",
        ),
        (DOCKER_ACTIONS, r#"{"service": "sonarr"}"#, "action"),
        (
            DOCKER_ACTIONS,
            r#"{"action": "remove", "service": "sonarr"}"#,
            "remove",
        ),
        (
            DOCKER_ACTIONS,
            r#"{"action": "restart", "service": "sonarr", "approved": true}"#,
            "approved",
        ),
        (
            DOCKER_ACTIONS,
            r#"{"action": "restart", "service": "sonarr", "file": "/etc/other.yml"}"#,
            "file",
        ),
        (
            COMPOSE_LOGS,
            r#"{"service": "sonarr", "tail": 100000}"#,
            "tail",
        ),
        (
            COMPOSE_LOGS,
            r#"{"service": "sonarr", "tail": "all"}"#,
            "tail",
        ),
        (DOCKER_STATUS, r#"{"verbose": true}"#, "verbose"),
    ] {
        let why = rejected(name, args);
        assert!(why.contains(says), "{args}: {why}");
    }
    let huge = format!(r#"{{"service": "{}"}}"#, "a".repeat(10_000));
    assert!(rejected(COMPOSE_LOGS, &huge).contains("longer than"));
    let catalog = Catalog::new(&stack());
    assert!(catalog.check(DOCKER_STATUS, &json!(42)).is_err());
}

#[test]
fn without_known_services_nothing_can_name_one() {
    let catalog = Catalog::new(&[]);
    assert_eq!(catalog.names(), [DOCKER_STATUS, SYSTEM_HEALTH]);
    let why = catalog
        .check(
            DOCKER_ACTIONS,
            &json!(r#"{"action": "restart", "service": "sonarr"}"#),
        )
        .unwrap_err()
        .describe();
    assert!(why.contains("services are not known"), "{why}");
    // Names the gateway would refuse are never offered.
    let odd = Catalog::new(&["ok".into(), "has space".into(), "a.b".into(), "ok".into()]);
    assert_eq!(odd.services(), ["ok"]);
}

/// Whatever passes the check becomes gateway arguments that pass the gateway
/// catalog's own schemas (the guide's `policy.yaml`, as shipped in `config/`).
#[test]
fn accepted_proposals_pass_the_gateways_schemas() {
    let policy: Value = serde_saphyr::from_str(include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../config/policy.yaml"
    )))
    .unwrap();
    let file = policy["schemas"]["compose_ps"]["properties"]["file"]["const"]
        .as_str()
        .unwrap()
        .to_owned();
    let validator = |tool: &str| jsonschema::validator_for(&policy["schemas"][tool]).unwrap();
    let catalog = Catalog::new(&stack());
    for service in stack() {
        for tail in ["", r#", "tail": 50"#, r#", "tail": 500"#] {
            let args = format!(r#"{{"service": "{service}"{tail}}}"#);
            let Ok(Proposal::Logs { service, tail }) = catalog.check(COMPOSE_LOGS, &json!(args))
            else {
                panic!("{args}");
            };
            let gateway_args = json!({"file": file, "service": service, "tail": tail});
            assert_eq!(
                ops_core::schema::check(&validator("compose_logs"), &gateway_args),
                Ok(())
            );
        }
        for action in ["restart", "start", "stop"] {
            let args = format!(r#"{{"action": "{action}", "service": "{service}"}}"#);
            let Ok(Proposal::Action { action, service }) =
                catalog.check(DOCKER_ACTIONS, &json!(args))
            else {
                panic!("{args}");
            };
            let (_, gateway_args) = suggestion::plan(action, &service, &file, None)
                .unwrap()
                .tool_call(&file);
            // The guide's policy has no compose_start/compose_stop schemas (README):
            // theirs are compose_restart's.
            assert_eq!(
                ops_core::schema::check(&validator("compose_restart"), &gateway_args),
                Ok(())
            );
        }
    }
}
