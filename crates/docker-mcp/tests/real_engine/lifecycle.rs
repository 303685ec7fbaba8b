//! compose_restart, compose_stop and compose_start, checked against what the Engine
//! says before and after (`docker inspect`).

use docker_mcp::ToolError;
use serde_json::{Value, json};
use test_support::{Stack, arr_image};

use crate::support::{call_err, call_ok, service, tools_for};

fn only_container(result: &Value) -> &Value {
    let containers = result["containers"].as_array().expect("containers array");
    assert_eq!(containers.len(), 1, "{result:#}");
    &containers[0]
}

#[tokio::test]
async fn compose_restart_succeeds_only_with_a_new_start_time_and_the_container_running() {
    let stack = Stack::arr("restart");
    stack.up(&["sonarr"]);
    let tools = tools_for(&stack);
    let id = stack.container("sonarr");
    let before = stack.started_at("sonarr");
    assert!(stack.is_running("sonarr"));

    let result = call_ok(
        &tools,
        "compose_restart",
        json!({ "file": stack.file_str(), "service": "sonarr" }),
    )
    .await;
    assert_eq!(result["service"], "sonarr");
    assert_eq!(result["action"], "restart");
    let c = only_container(&result);
    assert_eq!(c["outcome"], "restarted", "{c}");
    assert_eq!(c["state"], "running", "{c}");
    assert_eq!(c["name"], stack.container_name("sonarr"));
    assert!(id.starts_with(c["id"].as_str().unwrap_or("-")), "{c}");
    assert_eq!(c["previous_started_at"], before.as_str(), "{c}");

    // The Engine agrees: same container, running, started again.
    let after = stack.started_at("sonarr");
    assert_ne!(after, before, "StartedAt did not change");
    assert_eq!(c["started_at"], after.as_str(), "{c}");
    assert!(stack.is_running("sonarr"));
    assert_eq!(stack.container("sonarr"), id);
}

/// A service whose container cannot run: its command does not exist in the image.
const BROKEN_STACK: &str = r#"
services:
  broken:
    image: IMAGE
    command: ["/nonexistent/arr-binary"]
    restart: "no"
    stop_grace_period: 1s
    labels:
      org.ops-copilot.test: "arr-stack"
      org.ops-copilot.test-run: "${OPS_TEST_RUN_ID:-manual}"
  flaky:
    image: IMAGE
    command: ["/bin/sh", "-c", "sleep 0.3; exit 1"]
    restart: "no"
    labels:
      org.ops-copilot.test: "arr-stack"
      org.ops-copilot.test-run: "${OPS_TEST_RUN_ID:-manual}"
  never:
    image: IMAGE
    labels:
      org.ops-copilot.test: "arr-stack"
      org.ops-copilot.test-run: "${OPS_TEST_RUN_ID:-manual}"
"#;

#[tokio::test]
async fn compose_restart_of_a_container_that_cannot_run_is_a_failure_with_the_reason() {
    let stack = Stack::from_yaml(
        "restartfail",
        &BROKEN_STACK.replace("IMAGE", &arr_image("sonarr")),
    );
    stack.create(&["broken"]);
    let tools = tools_for(&stack);
    let args = json!({ "file": stack.file_str(), "service": "broken" });
    let name = stack.container_name("broken");

    for tool in ["compose_restart", "compose_start"] {
        let err = call_err(&tools, tool, args.clone()).await;
        assert!(matches!(err, ToolError::Failed(_)), "{tool}: {err:?}");
        assert_eq!(err.code(), "failed");
        let text = err.to_string();
        assert!(text.contains("broken"), "{tool} names the service: {text}");
        assert!(text.contains(&name), "{tool} names the container: {text}");
        assert!(
            text.contains("/nonexistent/arr-binary"),
            "{tool} gives the Engine's reason: {text}"
        );
        assert_eq!(stack.inspect("broken", "{{.State.Running}}"), "false");
    }

    // One that starts and dies a moment later did not restart either.
    stack.create(&["flaky"]);
    let flaky = json!({ "file": stack.file_str(), "service": "flaky" });
    for tool in ["compose_restart", "compose_start"] {
        let err = call_err(&tools, tool, flaky.clone()).await;
        let text = err.to_string();
        assert!(matches!(err, ToolError::Failed(_)), "{tool}: {text}");
        assert!(
            text.contains(", but it exited again with code 1 (")
                && text
                    .split(" after ")
                    .nth(1)
                    .and_then(|rest| rest.strip_suffix(" s").or(rest.split(" s:").next()))
                    .is_some_and(|seconds| seconds.parse::<u64>().is_ok()),
            "{tool}: {text}"
        );
    }

    // A declared service without a container cannot be restarted either.
    let err = call_err(
        &tools,
        "compose_restart",
        json!({ "file": stack.file_str(), "service": "never" }),
    )
    .await;
    assert!(matches!(err, ToolError::Failed(_)), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("never") && text.contains("no container") && text.contains("compose_up"),
        "{text}"
    );
    assert!(stack.container_ids("never").is_empty());
}

#[tokio::test]
async fn compose_stop_and_start_round_trip_and_are_idempotent() {
    let stack = Stack::arr("stopstart");
    stack.up(&["sonarr"]);
    let tools = tools_for(&stack);
    let args = json!({ "file": stack.file_str(), "service": "sonarr" });
    let first_start = stack.started_at("sonarr");

    let stopped = call_ok(&tools, "compose_stop", args.clone()).await;
    assert_eq!(stopped["action"], "stop");
    let c = only_container(&stopped);
    assert_eq!(c["outcome"], "stopped", "{c}");
    assert_eq!(c["state"], "exited", "{c}");
    assert_eq!(stack.inspect("sonarr", "{{.State.Status}}"), "exited");

    // Read your writes: the listing tools agree with the stop that just returned.
    let name = stack.container_name("sonarr");
    assert_listing(&tools, &stack, &name, "exited").await;

    let again = call_ok(&tools, "compose_stop", args.clone()).await;
    assert_eq!(
        only_container(&again)["outcome"],
        "already stopped",
        "{again}"
    );
    assert_eq!(stack.inspect("sonarr", "{{.State.Status}}"), "exited");

    let started = call_ok(&tools, "compose_start", args.clone()).await;
    assert_eq!(started["action"], "start");
    let c = only_container(&started);
    assert_eq!(c["outcome"], "started", "{c}");
    assert_eq!(c["state"], "running", "{c}");
    let second_start = stack.started_at("sonarr");
    assert_ne!(second_start, first_start);
    assert_eq!(c["started_at"], second_start.as_str());
    assert!(stack.is_running("sonarr"));
    assert_listing(&tools, &stack, &name, "running").await;

    let again = call_ok(&tools, "compose_start", args).await;
    let c = only_container(&again);
    assert_eq!(c["outcome"], "already running", "{again}");
    assert_eq!(c["started_at"], second_start.as_str());
    assert_eq!(stack.started_at("sonarr"), second_start, "not restarted");
}

/// compose_ps and docker_ps, called right after a lifecycle call, show its effect.
async fn assert_listing(tools: &docker_mcp::DockerTools, stack: &Stack, name: &str, state: &str) {
    let ps = call_ok(tools, "compose_ps", json!({ "file": stack.file_str() })).await;
    let sonarr = service(&ps, "sonarr");
    assert_eq!(
        sonarr["containers"][0]["state"], state,
        "compose_ps: {sonarr}"
    );
    let ps = call_ok(tools, "docker_ps", json!({})).await;
    let listed = ps["containers"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["name"] == name);
    assert_eq!(
        listed,
        state == "running",
        "docker_ps lists {name}: {listed}"
    );
}
