//! compose_diagnose, compose_ps's verdicts and the stability window, against
//! services that really crash-loop, fail their healthcheck, exit 1, get
//! OOM-killed and finish as one-shots (testing/diagnosis-stack).

use std::sync::Arc;
use std::time::Duration;

use docker_mcp::engine::{Engine, EngineAddress, EngineTimeouts};
use docker_mcp::{DockerTools, Limits, ToolError};
use serde_json::{Value, json};
use test_support::{Stack, docker, wait_for};

use crate::support::{call_err, call_ok, service, tools_for, tools_with};

const DIAGNOSIS_STACK: &str =
    include_str!("../../../../testing/diagnosis-stack/docker-compose.yml");

fn diagnosis_stack(tag: &str) -> Stack {
    Stack::from_yaml(tag, DIAGNOSIS_STACK)
}

async fn diagnose(tools: &DockerTools, stack: &Stack, name: &str) -> Value {
    call_ok(
        tools,
        "compose_diagnose",
        json!({ "file": stack.file_str(), "service": name }),
    )
    .await
}

/// Diagnoses `name` until its verdict is `verdict` (the states take seconds to happen).
async fn diagnosed_as(tools: &DockerTools, stack: &Stack, name: &str, verdict: &str) -> Value {
    let what = format!("{name} diagnosed as {verdict}");
    wait_for(&what, Duration::from_secs(45), || async {
        let diagnosis = diagnose(tools, stack, name).await;
        if diagnosis["verdict"] == verdict {
            Ok(diagnosis)
        } else {
            Err(format!("{diagnosis:#}"))
        }
    })
    .await
}

fn only_container(diagnosis: &Value) -> &Value {
    let containers = diagnosis["containers"].as_array().expect("containers");
    assert_eq!(containers.len(), 1, "{diagnosis:#}");
    &containers[0]
}

fn text(value: &Value) -> &str {
    value.as_str().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_verdict_comes_with_its_evidence() {
    let stack = diagnosis_stack("diagnose");
    let tools = tools_for(&stack);
    stack.up(&[
        "crashloop",
        "unhealthy",
        "failed",
        "oom",
        "oneshot",
        "healthy",
    ]);

    // A crash loop, seen in the Engine's events: deaths with restarts after them.
    let crash = diagnosed_as(&tools, &stack, "crashloop", "crash_loop").await;
    let c = only_container(&crash);
    assert_eq!(c["verdict"], "crash_loop", "{crash:#}");
    assert!(c["recent"]["crash_loop"].as_bool().unwrap(), "{crash:#}");
    assert!(c["recent"]["deaths"].as_u64().unwrap() >= 3, "{crash:#}");
    assert!(c["recent"]["starts"].as_u64().unwrap() >= 3, "{crash:#}");
    // docker-mcp has followed the events for less than the window: it says so.
    assert_eq!(c["recent"]["complete"], false, "{crash:#}");
    assert_eq!(c["recent"]["window_seconds"], 600);
    let deaths_with_code_1 = c["recent"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "die" && e["exit_code"] == 1)
        .count();
    assert!(deaths_with_code_1 >= 3, "{crash:#}");
    assert_eq!(c["restart_policy"], "always", "{crash:#}");
    assert!(c["restart_count"].as_u64().unwrap() >= 2, "{crash:#}");
    let errors = c["error_lines"].as_array().unwrap();
    assert!(
        errors
            .iter()
            .any(|l| text(l).contains("database is locked")),
        "{crash:#}"
    );
    assert!(
        !errors.iter().any(|l| text(l).contains("starting")),
        "{crash:#}"
    );
    let summary = text(&crash["summary"]);
    assert!(
        summary.starts_with("crashloop keeps crashing: it died "),
        "{summary}"
    );
    assert!(
        summary.contains("exit code 1 (the program failed"),
        "{summary}"
    );
    assert!(summary.contains("database is locked"), "{summary}");
    let next = text(&crash["next_step"]);
    assert!(next.contains("A restart will not help"), "{next}");

    // A failing healthcheck, with the probe's own words.
    let unhealthy = diagnosed_as(&tools, &stack, "unhealthy", "unhealthy_probe").await;
    let c = only_container(&unhealthy);
    let health = &c["health"];
    assert_eq!(health["status"], "unhealthy", "{unhealthy:#}");
    assert!(health["failing_streak"].as_u64().unwrap() >= 1);
    assert_eq!(health["test"][0], "CMD-SHELL", "{unhealthy:#}");
    let probes = health["probes"].as_array().unwrap();
    assert!(!probes.is_empty() && probes.len() <= 5, "{unhealthy:#}");
    assert_eq!(probes.last().unwrap()["exit_code"], 1);
    assert!(
        text(&probes.last().unwrap()["output"]).starts_with("indexer search failed: 503"),
        "{unhealthy:#}"
    );
    assert!(text(&unhealthy["summary"]).contains("indexer search failed"));
    assert!(text(&unhealthy["next_step"]).contains("restart may help"));

    // Exited with 1 once, not restarted.
    let failed = diagnosed_as(&tools, &stack, "failed", "exited_error").await;
    let c = only_container(&failed);
    assert_eq!(c["exit_code"], 1, "{failed:#}");
    assert_eq!(c["state"], "exited");
    assert!(text(&c["exit_meaning"]).contains("failed"), "{failed:#}");
    assert_eq!(c["restart_policy"], "no");
    assert!(
        c["error_lines"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| text(l).contains("sync failed, exiting with code 1")),
        "{failed:#}"
    );
    assert!(text(&failed["next_step"]).contains("start failed"));

    // Killed by the kernel for lack of memory.
    let oom = diagnosed_as(&tools, &stack, "oom", "oom_killed").await;
    let c = only_container(&oom);
    assert_eq!(c["oom_killed"], true, "{oom:#}");
    assert_eq!(c["exit_code"], 137, "{oom:#}");
    assert!(text(&c["exit_meaning"]).contains("out of memory"));
    assert!(text(&oom["next_step"]).contains("memory limit"));

    // A one-shot that ran and finished; a healthy one; one never created.
    let oneshot = diagnosed_as(&tools, &stack, "oneshot", "finished").await;
    assert_eq!(only_container(&oneshot)["exit_code"], 0, "{oneshot:#}");
    let healthy = diagnosed_as(&tools, &stack, "healthy", "healthy").await;
    let c = only_container(&healthy);
    assert_eq!(c["health"]["status"], "healthy", "{healthy:#}");
    assert_eq!(c["recent"]["deaths"], 0, "{healthy:#}");
    assert!(c.get("exit_code").is_none(), "{healthy:#}");
    let spare = diagnose(&tools, &stack, "spare").await;
    assert_eq!(spare["verdict"], "not_created", "{spare:#}");
    assert!(spare["containers"].as_array().unwrap().is_empty());
    assert!(text(&spare["next_step"]).contains("compose_up"));

    // Stopped by someone: not a problem, and said so.
    stack.compose(&["stop", "healthy"]).unwrap();
    let stopped = diagnosed_as(&tools, &stack, "healthy", "stopped").await;
    assert!(text(&stopped["next_step"]).contains("Start healthy"));

    // compose_ps says the same, from memory: verdicts, problems, crash loop, exit codes in words.
    let ps = call_ok(&tools, "compose_ps", json!({ "file": stack.file_str() })).await;
    for (name, verdict, problem) in [
        ("crashloop", "crash_loop", true),
        ("unhealthy", "unhealthy_probe", true),
        ("failed", "exited_error", true),
        ("oom", "oom_killed", true),
        ("healthy", "stopped", false),
        ("spare", "not_created", false),
    ] {
        let entry = service(&ps, name);
        assert_eq!(entry["verdict"], verdict, "{name}: {entry:#}");
        assert_eq!(entry["problem"], problem, "{name}: {entry:#}");
    }
    // Without inspect, a one-shot that exited 0 is not a problem either way.
    assert_eq!(service(&ps, "oneshot")["problem"], false);
    let looping = &service(&ps, "crashloop")["containers"][0];
    assert_eq!(looping["crash_loop"], true, "{looping:#}");
    assert!(
        looping["recent_deaths"].as_u64().unwrap() >= 3,
        "{looping:#}"
    );
    let failed = &service(&ps, "failed")["containers"][0];
    assert_eq!(failed["exit_code"], 1);
    assert!(
        text(&failed["exit_meaning"]).contains("failed"),
        "{failed:#}"
    );
    assert_eq!(failed["crash_loop"], false);
    // The guide's fields are still there.
    let entry = service(&ps, "unhealthy");
    assert_eq!(entry["health"], "unhealthy");
    assert_eq!(entry["state"], "running");
    assert!(entry["declared"].as_bool().unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_loop_shows_in_compose_ps_even_while_it_runs() {
    let stack = diagnosis_stack("psloop");
    let tools = tools_for(&stack);
    stack.up(&["crashloop"]);
    let file = stack.file_str().to_owned();
    // Catch it in the seconds it runs between two deaths.
    let running = wait_for(
        "the crash-looper seen running after three deaths",
        Duration::from_secs(60),
        || async {
            let ps = call_ok(&tools, "compose_ps", json!({ "file": file })).await;
            let entry = service(&ps, "crashloop").clone();
            let deaths = entry["containers"][0]["recent_deaths"]
                .as_u64()
                .unwrap_or(0);
            if entry["state"] == "running" && deaths >= 3 {
                Ok(entry)
            } else {
                Err(format!("{entry:#}"))
            }
        },
    )
    .await;
    assert_eq!(running["verdict"], "crash_loop", "{running:#}");
    assert_eq!(running["problem"], true);
    assert_eq!(running["containers"][0]["crash_loop"], true);
    // docker_ps (running containers) says it too.
    let ps = call_ok(&tools, "docker_ps", json!({})).await;
    let listed = ps["containers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == stack.container_name("crashloop"));
    if let Some(listed) = listed {
        assert_eq!(listed["crash_loop"], true, "{listed:#}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarts_and_starts_count_only_when_the_container_stays_up() {
    let stack = diagnosis_stack("stability");
    let tools = tools_for(&stack);
    stack.up(&["crashloop", "healthy", "oneshot"]);
    let file = stack.file_str().to_owned();
    diagnosed_as(&tools, &stack, "healthy", "healthy").await;

    // The crash-looper: the restart "works", then it dies again within the window.
    let err = call_err(
        &tools,
        "compose_restart",
        json!({ "file": file, "service": "crashloop" }),
    )
    .await;
    assert!(matches!(err, ToolError::Failed(_)), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("restarted, but it "), "{message}");
    assert!(
        message.contains("exited again with code 1") || message.contains("keeps crashing"),
        "{message}"
    );
    assert!(
        message.contains("after 2 s") || message.contains("after 3 s"),
        "{message}"
    );
    assert!(message.contains("database is locked"), "{message}");

    // A healthy service: restarted, and still running after the window.
    let before = stack.started_at("healthy");
    let began = std::time::Instant::now();
    let result = call_ok(
        &tools,
        "compose_restart",
        json!({ "file": file, "service": "healthy" }),
    )
    .await;
    assert!(
        began.elapsed() >= Limits::default().stability_window,
        "the stability window was not waited out"
    );
    let c = &result["containers"][0];
    assert_eq!(c["outcome"], "restarted", "{result:#}");
    assert_eq!(c["state"], "running", "{result:#}");
    assert_ne!(stack.started_at("healthy"), before);
    assert!(stack.is_running("healthy"));

    // A one-shot job: it ran and finished, a success said as such.
    let oneshot_before = stack.started_at("oneshot");
    for tool in ["compose_start", "compose_restart"] {
        let result = call_ok(&tools, tool, json!({ "file": file, "service": "oneshot" })).await;
        let c = &result["containers"][0];
        assert_eq!(c["outcome"], "finished", "{tool}: {result:#}");
        assert_eq!(c["state"], "exited", "{tool}: {result:#}");
    }
    assert_ne!(stack.started_at("oneshot"), oneshot_before, "it did run");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_to_compose_diagnose_is_a_clear_error_and_changes_nothing() {
    let stack = diagnosis_stack("diagbad");
    stack.up(&["healthy"]);
    let tools = tools_for(&stack);
    let file = stack.file_str().to_owned();
    let started = stack.started_at("healthy");

    let err = call_err(
        &tools,
        "compose_diagnose",
        json!({ "file": file, "service": "plex" }),
    )
    .await;
    assert!(matches!(err, ToolError::BadArguments(_)), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("unknown service \"plex\""), "{message}");
    assert!(
        message.contains("crashloop") && message.contains("healthy"),
        "{message}"
    );
    for args in [
        json!({ "file": file, "service": "healthy; docker rm -f x" }),
        json!({ "file": file, "service": "../healthy" }),
        json!({ "file": file, "service": "healthy", "tail": 100 }),
        json!({ "file": "/etc/passwd", "service": "healthy" }),
        json!({ "file": file }),
    ] {
        let err = call_err(&tools, "compose_diagnose", args.clone()).await;
        assert_eq!(err.code(), "bad_arguments", "{args}: {err}");
    }
    assert_eq!(stack.started_at("healthy"), started, "nothing changed");
    assert!(stack.is_running("healthy"));

    // A container removed while it is being diagnosed is no longer part of the
    // service: no error, just what is left (here nothing).
    let id = stack.container("healthy");
    let removal = tokio::task::spawn_blocking(move || docker(&["rm", "-f", &id]));
    let mut answers = Vec::new();
    while !removal.is_finished() {
        answers.push(
            tools
                .call(
                    "compose_diagnose",
                    json!({ "file": file, "service": "healthy" }),
                )
                .await,
        );
    }
    removal.await.unwrap();
    answers.push(
        tools
            .call(
                "compose_diagnose",
                json!({ "file": file, "service": "healthy" }),
            )
            .await,
    );
    for answer in &answers {
        let diagnosis = answer
            .as_ref()
            .expect("no error while the container goes away");
        assert!(
            ["healthy", "starting", "not_created", "dead", "stopped"]
                .contains(&text(&diagnosis["verdict"])),
            "{diagnosis:#}"
        );
    }
    let last = answers.last().unwrap().as_ref().unwrap();
    assert_eq!(last["verdict"], "not_created", "{last:#}");

    // The Engine away: the same clear error the other tools give.
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("docker.sock");
    let away = Arc::new(Engine::new(
        EngineAddress::Unix(socket.clone()),
        EngineTimeouts::default(),
    ));
    let tools = tools_with(away, Some(stack.file()), Limits::default());
    let err = call_err(
        &tools,
        "compose_diagnose",
        json!({ "file": file, "service": "healthy" }),
    )
    .await;
    assert_eq!(err.code(), "engine_unavailable", "{err}");
    assert!(
        err.to_string().contains(&socket.display().to_string()),
        "{err}"
    );
}
