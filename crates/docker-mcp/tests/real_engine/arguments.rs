//! The locked compose file, unknown services and bad arguments: refused with a
//! message a person can act on, and nothing changes on the Engine.

use docker_mcp::{Limits, ToolError};
use serde_json::{Value, json};
use test_support::Stack;

use crate::support::{call_err, call_ok, local_engine, tools_for, tools_with};

#[tokio::test]
async fn a_different_compose_file_is_refused() {
    let stack = Stack::arr("lockedfile");
    let other = Stack::arr("lockedother");
    let tools = tools_for(&stack);
    let locked = stack.file_str();

    for (tool, args) in [
        ("compose_ps", json!({ "file": other.file_str() })),
        ("compose_ps", json!({ "file": "/etc/passwd" })),
        // The same file spelled differently is still a different argument.
        ("compose_ps", json!({ "file": "./docker-compose.yml" })),
        (
            "compose_ps",
            json!({ "file": format!("{}/../{}/docker-compose.yml", stack.dir().display(), stack.project()) }),
        ),
        (
            "compose_logs",
            json!({ "file": other.file_str(), "service": "sonarr" }),
        ),
        (
            "compose_restart",
            json!({ "file": other.file_str(), "service": "sonarr" }),
        ),
        ("compose_pull", json!({ "file": other.file_str() })),
        ("compose_up", json!({ "file": other.file_str() })),
        ("compose_up", json!({})),
    ] {
        let err = call_err(&tools, tool, args.clone()).await;
        assert!(
            matches!(err, ToolError::BadArguments(_)),
            "{tool} {args}: {err:?}"
        );
        assert_eq!(err.code(), "bad_arguments");
        assert_eq!(err.http_status(), 400);
        if args.get("file").is_some() {
            assert!(
                err.to_string().contains(locked),
                "{tool} {args}: the message should name the locked file {locked}: {err}"
            );
        }
    }
    // The locked file itself is accepted.
    let ok = call_ok(&tools, "compose_ps", json!({ "file": locked })).await;
    assert_eq!(ok["project"], stack.project());
}

#[tokio::test]
async fn without_a_compose_file_only_docker_ps_works() {
    let tools = tools_with(local_engine(), None, Limits::default());
    let ps = call_ok(&tools, "docker_ps", json!({})).await;
    assert!(ps["containers"].is_array() && ps["count"].is_u64(), "{ps}");

    let file = "/srv/arr/docker-compose.yml";
    for (tool, args) in [
        ("compose_ps", json!({ "file": file })),
        ("compose_stats", json!({ "file": file })),
        ("compose_logs", json!({ "file": file, "service": "sonarr" })),
        (
            "compose_restart",
            json!({ "file": file, "service": "sonarr" }),
        ),
        (
            "compose_start",
            json!({ "file": file, "service": "sonarr" }),
        ),
        ("compose_stop", json!({ "file": file, "service": "sonarr" })),
        ("compose_pull", json!({ "file": file })),
        ("compose_up", json!({ "file": file, "service": "sonarr" })),
    ] {
        let err = call_err(&tools, tool, args).await;
        assert!(
            matches!(err, ToolError::NotConfigured(_)),
            "{tool}: {err:?}"
        );
        assert_eq!(err.code(), "not_configured");
        let text = err.to_string();
        assert!(
            text.contains("without a compose file")
                && text.contains("--compose-file")
                && text.contains("COMPOSE_FILE"),
            "{tool}: {text}"
        );
    }
}

#[tokio::test]
async fn unknown_services_and_bad_arguments_are_refused_and_change_nothing() {
    let stack = Stack::arr("badargs");
    stack.up(&["sonarr"]);
    let tools = tools_for(&stack);
    let file = stack.file_str();
    let id_before = stack.container("sonarr");
    let started_before = stack.started_at("sonarr");
    assert!(stack.is_running("sonarr"));

    // A service that matches the pattern but is not declared: the message names the
    // services that exist.
    let declared = stack.declared_services();
    for tool in [
        "compose_restart",
        "compose_stop",
        "compose_start",
        "compose_logs",
        "compose_up",
        "compose_pull",
    ] {
        let err = call_err(&tools, tool, json!({ "file": file, "service": "lidarr" })).await;
        assert!(matches!(err, ToolError::BadArguments(_)), "{tool}: {err:?}");
        let text = err.to_string();
        assert!(text.contains("lidarr"), "{tool}: {text}");
        for name in &declared {
            assert!(text.contains(name.as_str()), "{tool}: {text} lacks {name}");
        }
    }

    let lookalike = "s\u{043e}narr"; // Cyrillic о
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "compose_logs",
            json!({ "file": file, "service": "sonarr", "tail": 49 }),
            "tail",
        ),
        (
            "compose_logs",
            json!({ "file": file, "service": "sonarr", "tail": 501 }),
            "tail",
        ),
        (
            "compose_logs",
            json!({ "file": file, "service": "sonarr", "tail": "100" }),
            "tail",
        ),
        (
            "compose_logs",
            json!({ "file": file, "service": "sonarr", "tail": 100.5 }),
            "tail",
        ),
        (
            "compose_logs",
            json!({ "file": file, "service": "sonarr", "follow": true }),
            "follow",
        ),
        (
            "compose_restart",
            json!({ "file": file, "service": "sonarr; rm -rf /" }),
            "service",
        ),
        (
            "compose_restart",
            json!({ "file": file, "service": "../etc" }),
            "service",
        ),
        (
            "compose_restart",
            json!({ "file": file, "service": lookalike }),
            "service",
        ),
        (
            "compose_restart",
            json!({ "file": file, "service": "a".repeat(33) }),
            "service",
        ),
        (
            "compose_restart",
            json!({ "file": file, "service": "" }),
            "service",
        ),
        (
            "compose_restart",
            json!({ "file": file, "service": ["sonarr"] }),
            "service",
        ),
        ("compose_restart", json!({ "file": file }), "service"),
        (
            "compose_restart",
            json!({ "file": file, "service": "sonarr", "force": true }),
            "force",
        ),
        (
            "compose_stop",
            json!({ "file": file, "service": "sonarr", "timeout": 0 }),
            "timeout",
        ),
        (
            "compose_stop",
            json!({ "file": file, "service": "sonarr\n" }),
            "service",
        ),
        ("compose_restart", json!(["sonarr"]), ""),
        ("compose_restart", json!("sonarr"), ""),
        ("compose_ps", json!({ "file": file, "all": true }), "all"),
        (
            "compose_stats",
            json!({ "file": file, "service": "sonarr" }),
            "service",
        ),
        (
            "compose_stats",
            json!({ "file": file, "stream": true }),
            "stream",
        ),
        ("compose_stats", json!({}), "file"),
        ("docker_ps", json!({ "all": true }), "all"),
    ];
    for (tool, args, mentions) in cases {
        let err = call_err(&tools, tool, args.clone()).await;
        assert!(
            matches!(err, ToolError::BadArguments(_)),
            "{tool} {args}: {err:?}"
        );
        let text = err.to_string();
        assert!(
            text.starts_with("bad arguments: ") && text.len() > "bad arguments: ".len(),
            "{tool} {args}: {text}"
        );
        assert!(
            text.contains(mentions),
            "{tool} {args}: {text} should mention {mentions}"
        );
        assert!(text.len() < 2000, "the message stays readable: {text}");
    }

    let err = call_err(&tools, "docker_exec", json!({ "cmd": "sh" })).await;
    assert!(matches!(err, ToolError::UnknownTool(_)), "{err:?}");
    assert_eq!(err.http_status(), 404);

    // Nothing happened to the service: same container, same start, still running.
    assert_eq!(stack.container("sonarr"), id_before);
    assert_eq!(stack.started_at("sonarr"), started_before);
    assert!(stack.is_running("sonarr"));
    assert_eq!(stack.container_ids("lidarr"), Vec::<String>::new());
}
