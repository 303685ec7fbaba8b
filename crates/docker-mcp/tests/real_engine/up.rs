//! compose_up: runs the compose CLI and reports what changed.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use test_support::Stack;

use crate::support::{call_ok, service, tools_for};

fn outcomes(result: &Value) -> BTreeMap<String, String> {
    result["services"]
        .as_array()
        .expect("services array")
        .iter()
        .map(|s| {
            (
                s["service"].as_str().unwrap_or_default().to_owned(),
                s["outcome"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn compose_up_creates_a_missing_service_and_leaves_running_ones_unchanged() {
    let stack = Stack::arr("up");
    let running = ["sonarr", "sabnzbd", "prowlarr", "bazarr"];
    stack.up(&running);
    assert!(stack.container_ids("radarr").is_empty());
    let tools = tools_for(&stack);

    // One service without a container: created.
    let result = call_ok(
        &tools,
        "compose_up",
        json!({ "file": stack.file_str(), "service": "radarr" }),
    )
    .await;
    assert_eq!(result["exit_code"], 0, "{result:#}");
    assert_eq!(
        outcomes(&result),
        BTreeMap::from([("radarr".to_owned(), "created".to_owned())]),
        "{result:#}"
    );
    let command: Vec<&str> = result["command"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        command.contains(&"up") && command.last() == Some(&"radarr"),
        "{command:?}"
    );
    assert!(stack.is_running("radarr"), "radarr runs after compose_up");
    // Read your writes: compose_ps and docker_ps right after show the new container.
    let ps = call_ok(&tools, "compose_ps", json!({ "file": stack.file_str() })).await;
    let radarr = service(&ps, "radarr");
    assert_eq!(radarr["state"], "running", "{radarr}");
    assert_eq!(
        radarr["containers"][0]["name"],
        stack.container_name("radarr")
    );
    let ps = call_ok(&tools, "docker_ps", json!({})).await;
    let name = stack.container_name("radarr");
    assert!(
        ps["containers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == name.as_str()),
        "docker_ps lists {name}"
    );
    assert!(
        stack.container_ids("recyclarr").is_empty(),
        "only radarr was created"
    );

    // The whole stack, with everything that serves already running: nothing to do for
    // those (the one-shot recyclarr is created, runs and exits with code 3).
    let mut ids: BTreeMap<&str, String> = BTreeMap::new();
    for svc in running.iter().chain(&["radarr"]) {
        ids.insert(svc, stack.container(svc));
    }
    let result = call_ok(&tools, "compose_up", json!({ "file": stack.file_str() })).await;
    assert_eq!(result["exit_code"], 0, "{result:#}");
    let outcomes = outcomes(&result);
    let declared = stack.declared_services();
    assert_eq!(
        outcomes.keys().cloned().collect::<Vec<_>>(),
        declared,
        "{result:#}"
    );
    for (svc, id) in &ids {
        assert_eq!(outcomes[*svc], "unchanged", "{svc}: {result:#}");
        assert_eq!(&stack.container(svc), id, "{svc} was not recreated");
        assert!(stack.is_running(svc));
    }
    // recyclarr had no container: it is created and, as it exits at once, reported
    // either as created (if seen running) or as not running.
    assert!(
        ["created", "not running"].contains(&outcomes["recyclarr"].as_str()),
        "{result:#}"
    );
    assert_eq!(stack.container_ids("recyclarr").len(), 1);
}
