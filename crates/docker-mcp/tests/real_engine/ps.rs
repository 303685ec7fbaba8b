//! docker_ps and compose_ps.

use std::time::Duration;

use docker_mcp::Limits;
use serde_json::{Value, json};
use test_support::{Stack, arr_image, wait_for, wait_for_sync};

use crate::support::{call_ok, local_engine, service, tools_for, tools_with};

fn find_by_name<'a>(containers: &'a [Value], name: &str) -> Option<&'a Value> {
    containers.iter().find(|c| c["name"] == name)
}

#[tokio::test]
async fn docker_ps_lists_the_running_containers_with_name_image_state_and_status() {
    let stack = Stack::arr("dockerps");
    stack.up(&["sonarr", "sabnzbd", "recyclarr"]);
    wait_for_sync("recyclarr to exit", Duration::from_secs(30), || match stack
        .inspect("recyclarr", "{{.State.Status}}")
        .as_str()
    {
        "exited" => Ok(()),
        other => Err(other.to_owned()),
    });
    let tools = tools_for(&stack);

    let result = call_ok(&tools, "docker_ps", json!({})).await;
    let containers = result["containers"].as_array().expect("containers array");
    assert_eq!(result["truncated"], false, "{result:#}");
    assert_eq!(
        result["count"].as_u64(),
        Some(containers.len() as u64),
        "count is the number of containers listed when nothing is cut: {result:#}"
    );
    for svc in ["sonarr", "sabnzbd"] {
        let name = stack.container_name(svc);
        let full_id = stack.container(svc);
        let c = find_by_name(containers, &name)
            .unwrap_or_else(|| panic!("docker_ps does not list {name}: {result:#}"));
        assert_eq!(c["image"], arr_image(svc), "{c}");
        assert_eq!(c["state"], "running", "{c}");
        let status = c["status"].as_str().unwrap_or_default();
        assert!(status.starts_with("Up"), "status {status:?}");
        let id = c["id"].as_str().unwrap_or_default();
        assert!(
            id.len() >= 12 && full_id.starts_with(id),
            "id {id} is not a prefix of {full_id}"
        );
    }
    // Only running containers: the exited one-shot is not listed.
    let exited = stack.container_name("recyclarr");
    assert!(
        find_by_name(containers, &exited).is_none(),
        "docker_ps lists the exited {exited}: {result:#}"
    );

    // The container cap: the count stays true, the list is cut and says so.
    let capped = tools_with(
        local_engine(),
        Some(stack.file()),
        Limits {
            max_containers: 1,
            ..Limits::default()
        },
    );
    let result = call_ok(&capped, "docker_ps", json!({})).await;
    assert_eq!(result["containers"].as_array().map(Vec::len), Some(1));
    assert!(result["count"].as_u64().unwrap_or(0) >= 2, "{result:#}");
    assert_eq!(result["truncated"], true, "{result:#}");
}

#[tokio::test]
async fn compose_ps_shows_every_declared_service_with_state_health_and_exit_code() {
    let stack = Stack::arr("composeps");
    // radarr, sabnzbd and bazarr are declared but never created.
    stack.up(&["sonarr", "prowlarr", "recyclarr"]);
    let tools = tools_for(&stack);
    let args = json!({ "file": stack.file_str() });

    // prowlarr's healthcheck always fails; the Engine marks it unhealthy after a few s.
    let (tools_ref, args_ref) = (&tools, &args);
    let result = wait_for(
        "compose_ps to show prowlarr unhealthy and recyclarr exited",
        Duration::from_secs(45),
        move || async move {
            let r = call_ok(tools_ref, "compose_ps", args_ref.clone()).await;
            let prowlarr = service(&r, "prowlarr");
            let recyclarr = service(&r, "recyclarr");
            if prowlarr["health"] == "unhealthy" && recyclarr["state"] == "exited" {
                Ok(r)
            } else {
                Err(format!(
                    "prowlarr health {}, recyclarr state {}",
                    prowlarr["health"], recyclarr["state"]
                ))
            }
        },
    )
    .await;

    assert_eq!(result["project"], stack.project());
    assert_eq!(result["file"], stack.file_str());
    let listed: Vec<&str> = result["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["service"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(listed, stack.declared_services(), "{result:#}");
    for s in result["services"].as_array().unwrap() {
        assert_eq!(s["declared"], true, "{s}");
    }

    let sonarr = service(&result, "sonarr");
    assert_eq!(sonarr["state"], "running", "{sonarr}");
    let containers = sonarr["containers"].as_array().unwrap();
    assert_eq!(containers.len(), 1, "{sonarr}");
    assert_eq!(containers[0]["name"], stack.container_name("sonarr"));
    assert_eq!(containers[0]["image"], arr_image("sonarr"));
    assert_eq!(containers[0]["state"], "running");

    let prowlarr = service(&result, "prowlarr");
    assert_eq!(prowlarr["state"], "running", "{prowlarr}");
    assert_eq!(prowlarr["containers"][0]["health"], "unhealthy");
    assert_eq!(
        stack.inspect("prowlarr", "{{.State.Health.Status}}"),
        "unhealthy",
        "the Engine agrees"
    );

    let recyclarr = service(&result, "recyclarr");
    assert_eq!(recyclarr["containers"][0]["state"], "exited", "{recyclarr}");
    assert_eq!(recyclarr["containers"][0]["exit_code"], 3, "{recyclarr}");
    assert_eq!(stack.inspect("recyclarr", "{{.State.ExitCode}}"), "3");

    for missing in ["radarr", "sabnzbd", "bazarr"] {
        let s = service(&result, missing);
        assert_eq!(s["state"], "not created", "{s}");
        assert_eq!(s["containers"], json!([]), "{s}");
        assert!(s.get("health").is_none(), "{s}");
        assert!(stack.container_ids(missing).is_empty());
    }

    // The file is edited and no longer declares sonarr: its container is still part of
    // the project, and shown as not declared (the edit is picked up without a restart).
    let text = std::fs::read_to_string(stack.file()).unwrap();
    let edited = text.replacen("  sonarr:\n", "  sonarr-renamed:\n", 1);
    assert_ne!(
        edited, text,
        "the fixture declares sonarr at the usual indent"
    );
    std::fs::write(stack.file(), edited).unwrap();
    let result = call_ok(&tools, "compose_ps", args.clone()).await;
    let orphan = service(&result, "sonarr");
    assert_eq!(orphan["declared"], false, "{orphan}");
    assert_eq!(orphan["state"], "running", "{orphan}");
    let renamed = service(&result, "sonarr-renamed");
    assert_eq!(renamed["declared"], true);
    assert_eq!(renamed["state"], "not created");
}

/// Changes made outside docker-mcp reach docker_ps and compose_ps through the
/// Engine's event stream, from memory, within a second.
#[tokio::test]
async fn changes_made_elsewhere_show_within_a_second_from_memory() {
    let stack = Stack::arr("events");
    stack.up(&["sonarr", "radarr"]);
    let tools = tools_for(&stack);
    let name = stack.container_name("sonarr");
    wait_for(
        "the event cache to be current",
        Duration::from_secs(10),
        || async {
            let listed = call_ok(&tools, "docker_ps", json!({})).await;
            let current = tools.containers().is_current();
            let has = find_by_name(listed["containers"].as_array().unwrap(), &name).is_some();
            if current && has {
                Ok(())
            } else {
                Err(format!("current={current} listed={has}"))
            }
        },
    )
    .await;

    // Stopped with the CLI, not through docker-mcp.
    test_support::docker(&["stop", "-t", "1", &name]);
    let stopped_at = std::time::Instant::now();
    wait_for(
        "docker_ps to drop the stopped container",
        Duration::from_secs(1),
        || async {
            let listed = call_ok(&tools, "docker_ps", json!({})).await;
            match find_by_name(listed["containers"].as_array().unwrap(), &name) {
                None => Ok(()),
                Some(c) => Err(c.to_string()),
            }
        },
    )
    .await;
    let ps = call_ok(&tools, "compose_ps", json!({ "file": stack.file_str() })).await;
    assert_eq!(service(&ps, "sonarr")["state"], "exited", "{ps:#}");
    assert!(stopped_at.elapsed() < Duration::from_secs(2));
    assert!(
        tools.containers().is_current(),
        "served from memory, not a fallback"
    );

    // Started again with the CLI: back within a second.
    test_support::docker(&["start", &name]);
    wait_for(
        "compose_ps to see sonarr running",
        Duration::from_secs(1),
        || async {
            let ps = call_ok(&tools, "compose_ps", json!({ "file": stack.file_str() })).await;
            match service(&ps, "sonarr")["state"].as_str() {
                Some("running") => Ok(()),
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await;
}

/// Whatever a tool would return, the encoded result stays within the cap.
#[tokio::test]
async fn no_result_is_larger_than_the_result_cap() {
    let stack = Stack::arr("resultcap");
    stack.up(&["sonarr"]);
    let limits = Limits {
        max_result_bytes: 512,
        ..Limits::default()
    };
    let tools = tools_with(local_engine(), Some(stack.file()), limits);
    let args = json!({ "file": stack.file_str() });
    let err = tools
        .call("compose_ps", args)
        .await
        .expect_err("compose_ps of six services is more than 512 bytes");
    let text = err.to_string();
    assert!(matches!(err, docker_mcp::ToolError::Failed(_)), "{text}");
    assert!(text.contains("512 bytes"), "{text}");
    // The same call under the default cap passes, and fits in it.
    let tools = tools_with(local_engine(), Some(stack.file()), Limits::default());
    let result = call_ok(&tools, "compose_ps", json!({ "file": stack.file_str() })).await;
    let size = result.to_string().len();
    assert!(
        size > 512 && size <= Limits::default().max_result_bytes,
        "{size}"
    );
}
