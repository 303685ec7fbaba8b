//! The swarm_* tools against a real Swarm: a second Docker Engine started by the test
//! (`SecondEngine`, never the machine's main Engine), made a Swarm manager, with
//! services created by the harness's CLI under the stack label. Each test has its own
//! engine(s), stopped and removed when it ends.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use docker_mcp::engine::{Engine, EngineAddress, EngineTimeouts};
use docker_mcp::tools::ComposeCli;
use docker_mcp::{DockerTools, Limits, ToolError, ToolsConfig};
use serde_json::{Value, json};
use test_support::{SecondEngine, arr_image, ensure_images, wait_for};

use crate::support::{call_err, call_ok};

const STACK: &str = "media";

/// Tools talking to `engine`, pinned to the Swarm stack `media`.
fn swarm_tools(engine: &SecondEngine, limits: Limits) -> DockerTools {
    DockerTools::new(ToolsConfig {
        engine: Arc::new(Engine::new(
            EngineAddress::Unix(engine.socket()),
            EngineTimeouts::default(),
        )),
        compose_file: None,
        project_name: None,
        compose_cli: ComposeCli::new(None),
        limits,
        swarm_stack: Some(STACK.into()),
    })
}

/// A second Engine, a single-node Swarm, with the test image loaded.
fn swarm_engine(name: &str) -> SecondEngine {
    ensure_images();
    let engine = SecondEngine::start(name);
    engine.load_images(&[&arr_image("sonarr")]);
    engine.swarm_init();
    engine
}

/// `docker service create --detach` of a replicated service, quick to stop
/// (busybox `sh` as PID 1 ignores SIGTERM).
fn create_service(engine: &SecondEngine, name: &str, in_stack: bool, extra: &[&str], cmd: &[&str]) {
    let image = arr_image("sonarr");
    let mut args = vec![
        "service",
        "create",
        "--detach",
        "--name",
        name,
        "--stop-grace-period",
        "1s",
        "--no-resolve-image",
    ];
    let label = format!("com.docker.stack.namespace={STACK}");
    if in_stack {
        args.extend(["--label", &label]);
    }
    args.extend(extra);
    args.push(&image);
    args.extend(cmd);
    engine.docker(&args);
}

/// The ids of the service's tasks that run now, as the CLI sees them.
fn running_tasks_cli(engine: &SecondEngine, service: &str) -> HashSet<String> {
    engine
        .docker(&[
            "service",
            "ps",
            "--no-trunc",
            "--filter",
            "desired-state=running",
            "--format",
            "{{.ID}} {{.CurrentState}}",
            service,
        ])
        .lines()
        .filter(|l| l.contains(" Running"))
        .map(|l| l.split(' ').next().unwrap_or_default().to_owned())
        .collect()
}

fn service_entry<'a>(result: &'a Value, name: &str) -> &'a Value {
    result["services"]
        .as_array()
        .expect("services")
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no service {name} in {result:#}"))
}

async fn wait_running(tools: &DockerTools, service: &str, replicas: u64) {
    wait_for(
        &format!("{service} to run {replicas} tasks (swarm_services)"),
        Duration::from_secs(60),
        || async {
            let r = call_ok(tools, "swarm_services", json!({"stack": STACK})).await;
            let s = service_entry(&r, service);
            if s["running_replicas"] == replicas && s["desired_replicas"] == replicas {
                Ok(())
            } else {
                Err(s.to_string())
            }
        },
    )
    .await;
}

#[tokio::test]
async fn swarm_lists_logs_restarts_scales_and_keeps_to_its_stack() {
    let engine = swarm_engine("swarm-main");
    // Writes a secret, colours and a line every 50 ms.
    create_service(
        &engine,
        "media_web",
        true,
        &["--replicas", "2"],
        &[
            "sh",
            "-c",
            "printf '\\033[31mred\\033[0m password=hunter2 apikey=abcdef0123456789\\n'; i=0; while true; do echo \"line $i\"; i=$((i+1)); sleep 0.05; done",
        ],
    );
    create_service(
        &engine,
        "outside",
        false,
        &["--replicas", "1"],
        &["sleep", "600"],
    );
    let tools = swarm_tools(&engine, Limits::default());
    wait_running(&tools, "media_web", 2).await;

    // Nodes: one ready, active manager, the leader.
    let nodes = call_ok(&tools, "swarm_nodes", json!({})).await;
    let node = &nodes["nodes"][0];
    assert_eq!(nodes["nodes"].as_array().unwrap().len(), 1, "{nodes:#}");
    assert_eq!(node["role"], "manager");
    assert_eq!(node["availability"], "active");
    assert_eq!(node["state"], "ready");
    assert_eq!(node["manager_status"], "leader");
    assert_eq!(node["address"], engine.address().to_string());

    // Services: only the stack's, with real values.
    let services = call_ok(&tools, "swarm_services", json!({"stack": STACK})).await;
    let names: Vec<&str> = services["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["media_web"], "outside is not the stack's");
    let web = service_entry(&services, "media_web");
    assert_eq!(web["mode"], "replicated");
    assert_eq!(web["image"], arr_image("sonarr"));

    // Tasks: the two running, on the node, by its name in the stack or full name.
    let tasks = call_ok(
        &tools,
        "swarm_tasks",
        json!({"stack": STACK, "service": "web"}),
    )
    .await;
    assert_eq!(tasks["service"], "media_web");
    let running: HashSet<String> = tasks["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["state"] == "running")
        .map(|t| {
            assert_eq!(t["node"], node["hostname"], "{t}");
            assert_eq!(t["node_id"], node["id"], "{t}");
            assert_eq!(t["desired_state"], "running");
            t["id"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(running, running_tasks_cli(&engine, "media_web"));
    assert_eq!(running.len(), 2);

    // Logs: escape-free, bounded with the marker; docker-mcp does not redact (the
    // gateway does: crates/ops-copilot/tests/gateway/swarm.rs).
    let logs = call_ok(
        &tools,
        "swarm_logs",
        json!({"stack": STACK, "service": "media_web", "tail": 500}),
    )
    .await;
    let text = logs["logs"].as_str().unwrap();
    assert!(text.contains("red password=hunter2"), "{text:.300}");
    assert!(!text.contains('\u{1b}'), "ANSI stripped");
    assert!(text.contains("line "), "{text:.300}");
    wait_for(
        "more than 4 KiB of media_web's logs",
        Duration::from_secs(30),
        || async {
            let r = call_ok(
                &tools,
                "swarm_logs",
                json!({"stack": STACK, "service": "web", "tail": 500}),
            )
            .await;
            let n = r["logs"].as_str().unwrap_or_default().len();
            if n > 4096 {
                Ok(())
            } else {
                Err(format!("{n} bytes"))
            }
        },
    )
    .await;
    // Several tasks: each line says its task (slot and short id, a running
    // task's), without the Engine's timestamp, and the lines are in time order:
    // the two tasks' lines interleave, each task's numbers rising.
    let logs = call_ok(
        &tools,
        "swarm_logs",
        json!({"stack": STACK, "service": "web", "tail": 500}),
    )
    .await;
    let text = logs["logs"].as_str().unwrap();
    let mut last_task = "";
    let mut switches = 0;
    let mut last_number: std::collections::HashMap<&str, u64> = Default::default();
    for line in text.lines() {
        let (task, rest) = line
            .strip_prefix("[media_web.")
            .and_then(|l| l.split_once("] "))
            .unwrap_or_else(|| panic!("no task prefix: {line:?} in {text:.500}"));
        let (slot, short) = task.split_once(' ').unwrap();
        assert!(["1", "2"].contains(&slot), "{line}");
        assert_eq!(short.len(), 12, "{line}");
        assert!(running.iter().any(|id| id.starts_with(short)), "{line}");
        assert!(
            rest.starts_with("line ") || rest.starts_with("red "),
            "no timestamp or details left: {line}"
        );
        if let Some(n) = rest.strip_prefix("line ").and_then(|n| n.parse().ok())
            && let Some(previous) = last_number.insert(task, n)
        {
            assert!(n > previous, "{task}: {n} after {previous}");
        }
        if task != last_task {
            switches += 1;
            last_task = task;
        }
    }
    assert_eq!(last_number.len(), 2, "both tasks' lines: {text:.500}");
    assert!(
        switches > 20,
        "in time order, not task by task: {switches} switches"
    );
    let small = swarm_tools(
        &engine,
        Limits {
            max_log_bytes: 1024,
            ..Limits::default()
        },
    );
    let bounded = call_ok(
        &small,
        "swarm_logs",
        json!({"stack": STACK, "service": "web", "tail": 500}),
    )
    .await;
    let text = bounded["logs"].as_str().unwrap();
    assert_eq!(bounded["truncated"], true);
    assert!(text.len() <= 1024 + 100, "{} bytes", text.len());
    assert!(text.starts_with("[… "), "{text:.100}");

    // Forced restart: the running tasks are replaced by new ones.
    let restarted = call_ok(
        &tools,
        "swarm_restart",
        json!({"stack": STACK, "service": "web"}),
    )
    .await;
    assert_eq!(restarted["outcome"], "replaced");
    let before: HashSet<String> = restarted["previous_tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    let after: HashSet<String> = restarted["current_tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(before, running);
    assert_eq!(after.len(), 2);
    assert!(before.is_disjoint(&after), "{before:?} {after:?}");
    assert_eq!(running_tasks_cli(&engine, "media_web"), after);

    // Scale within bounds: the tasks follow; beyond docker-mcp's bound: refused.
    let scaled = call_ok(
        &tools,
        "swarm_scale",
        json!({"stack": STACK, "service": "web", "replicas": 3}),
    )
    .await;
    assert_eq!(scaled["outcome"], "scaled");
    assert_eq!(scaled["previous_replicas"], 2);
    assert_eq!(scaled["running_replicas"], 3);
    assert_eq!(running_tasks_cli(&engine, "media_web").len(), 3);
    let scaled = call_ok(
        &tools,
        "swarm_scale",
        json!({"stack": STACK, "service": "web", "replicas": 1}),
    )
    .await;
    assert_eq!(scaled["running_replicas"], 1);
    let over = call_err(
        &tools,
        "swarm_scale",
        json!({"stack": STACK, "service": "web", "replicas": docker_mcp::SWARM_MAX_REPLICAS + 1}),
    )
    .await;
    assert!(matches!(over, ToolError::BadArguments(_)), "{over}");
    assert_eq!(
        engine.docker(&[
            "service",
            "inspect",
            "-f",
            "{{.Spec.Mode.Replicated.Replicas}}",
            "media_web"
        ]),
        "1"
    );

    // Outside the stack: refused, untouched.
    for tool in ["swarm_restart", "swarm_tasks", "swarm_logs"] {
        let err = call_err(&tools, tool, json!({"stack": STACK, "service": "outside"})).await;
        assert!(
            matches!(&err, ToolError::BadArguments(m) if m.contains("not part of the Swarm stack \"media\"")),
            "{tool}: {err}"
        );
    }
    let err = call_err(
        &tools,
        "swarm_scale",
        json!({"stack": STACK, "service": "outside", "replicas": 3}),
    )
    .await;
    assert!(matches!(err, ToolError::BadArguments(_)), "{err}");
    assert_eq!(
        engine.docker(&[
            "service",
            "inspect",
            "-f",
            "{{.Spec.Mode.Replicated.Replicas}} {{.Spec.TaskTemplate.ForceUpdate}}",
            "outside"
        ]),
        "1 0"
    );
    let err = call_err(&tools, "swarm_services", json!({"stack": "other"})).await;
    assert!(matches!(err, ToolError::BadArguments(_)), "{err}");
    let err = call_err(
        &tools,
        "swarm_tasks",
        json!({"stack": STACK, "service": "nope"}),
    )
    .await;
    assert!(
        matches!(&err, ToolError::BadArguments(m) if m.contains("unknown service") && m.contains("web")),
        "{err}"
    );
}

#[tokio::test]
async fn swarm_diagnose_says_why_tasks_fail_and_a_plain_engine_is_no_swarm() {
    ensure_images();
    let engine = SecondEngine::start("swarm-diag");
    let tools = swarm_tools(&engine, Limits::default());
    // Before `swarm init`: a clear word, not the Engine's error.
    let err = call_err(&tools, "swarm_services", json!({"stack": STACK})).await;
    assert_eq!(err.code(), "not_swarm", "{err}");
    assert!(err.to_string().contains("not part of a Swarm"), "{err}");
    engine.load_images(&[&arr_image("sonarr")]);
    engine.swarm_init();

    // An image no node has (and no registry answers for): rejected.
    let missing = "127.0.0.1:5999/nowhere/missing:1";
    engine.docker(&[
        "service",
        "create",
        "--detach",
        "--name",
        "media_ghost",
        "--label",
        &format!("com.docker.stack.namespace={STACK}"),
        "--no-resolve-image",
        missing,
    ]);
    // A command that exits 1 at once: the Swarm replaces it again and again.
    create_service(
        &engine,
        "media_crash",
        true,
        &["--replicas", "1", "--restart-delay", "1s"],
        &["sh", "-c", "echo 'fatal: database is locked' >&2; exit 1"],
    );
    create_service(
        &engine,
        "media_fine",
        true,
        &["--replicas", "1"],
        &["sleep", "600"],
    );
    // Runs 2 s, then exits 1: a restart or a scale sees its new tasks run, and fail.
    create_service(
        &engine,
        "media_flaky",
        true,
        &["--replicas", "1", "--restart-delay", "1s"],
        &[
            "sh",
            "-c",
            "echo starting; sleep 2; echo 'fatal: lost the database' >&2; exit 1",
        ],
    );
    wait_running(&tools, "media_fine", 1).await;

    let ghost = wait_for(
        "media_ghost's tasks to be rejected",
        Duration::from_secs(60),
        || async {
            let d = call_ok(
                &tools,
                "swarm_diagnose",
                json!({"stack": STACK, "service": "ghost"}),
            )
            .await;
            if d["verdict"] == "rejected" {
                Ok(d)
            } else {
                Err(d.to_string())
            }
        },
    )
    .await;
    let error = ghost["errors"][0].as_str().unwrap();
    assert!(error.starts_with("task rejected: "), "{ghost:#}");
    assert!(
        error.contains("No such image") || error.contains(missing),
        "{error}"
    );
    assert!(error.contains(" on node "), "{error}");
    assert!(
        ghost["next_step"].as_str().unwrap().contains(missing),
        "{ghost:#}"
    );
    assert_eq!(ghost["running_replicas"], 0);
    // A rejected task never ran: it has no exit code (not a clean 0).
    let tasks = call_ok(
        &tools,
        "swarm_tasks",
        json!({"stack": STACK, "service": "ghost"}),
    )
    .await;
    let rejected: Vec<&Value> = tasks["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .chain(ghost["tasks"].as_array().unwrap())
        .filter(|t| t["state"] == "rejected")
        .collect();
    assert!(!rejected.is_empty(), "{tasks:#}");
    for task in rejected {
        assert!(task.get("exit_code").is_none(), "{task}");
    }
    // Scaling a service whose every new task is rejected: a failure with the
    // rejection as soon as a new slot is rejected twice, not after the window.
    let patient = swarm_tools(
        &engine,
        Limits {
            swarm_verify_window: Duration::from_secs(60),
            ..Limits::default()
        },
    );
    let began = Instant::now();
    let err = call_err(
        &patient,
        "swarm_scale",
        json!({"stack": STACK, "service": "ghost", "replicas": 2}),
    )
    .await;
    let took = began.elapsed();
    assert!(took < Duration::from_secs(30), "{took:?}: {err}");
    assert!(
        matches!(&err, ToolError::Failed(m) if m.contains("rejects its tasks before they run")
            && (m.contains("No such image") || m.contains(missing))
            && m.contains(" times in slot ")),
        "{err}"
    );

    let crash = wait_for(
        "media_crash to fail a few times",
        Duration::from_secs(60),
        || async {
            let d = call_ok(
                &tools,
                "swarm_diagnose",
                json!({"stack": STACK, "service": "crash"}),
            )
            .await;
            if d["verdict"] == "tasks_failing" && d["recent"]["failed"].as_u64() >= Some(2) {
                Ok(d)
            } else {
                Err(d.to_string())
            }
        },
    )
    .await;
    let error = crash["errors"][0].as_str().unwrap();
    assert!(error.starts_with("task failed: "), "{crash:#}");
    assert!(error.contains("exit code 1"), "{error}");
    assert!(
        crash["next_step"]
            .as_str()
            .unwrap()
            .starts_with("A restart will not help"),
        "{crash:#}"
    );
    // The failing task's own words are in its logs.
    let logs = call_ok(
        &tools,
        "swarm_logs",
        json!({"stack": STACK, "service": "crash"}),
    )
    .await;
    assert!(
        logs["logs"]
            .as_str()
            .unwrap()
            .contains("database is locked"),
        "{logs:#}"
    );

    let fine = call_ok(
        &tools,
        "swarm_diagnose",
        json!({"stack": STACK, "service": "fine"}),
    )
    .await;
    assert_eq!(fine["verdict"], "healthy", "{fine:#}");
    assert_eq!(fine["errors"], json!([]));

    // A restart whose new task runs, then fails within the stability window: a
    // failure that says so, as compose_restart says it; the same for the new
    // tasks of a scale.
    let began = Instant::now();
    let err = call_err(
        &patient,
        "swarm_restart",
        json!({"stack": STACK, "service": "flaky"}),
    )
    .await;
    assert!(
        matches!(&err, ToolError::Failed(m) if m.starts_with("media_flaky restarted, but the new task media_flaky.1 (")
            && m.contains(" failed after ")
            && m.contains("non-zero exit (1)")
            && m.contains("exit code 1")),
        "{err}"
    );
    assert!(
        began.elapsed() < Duration::from_secs(30),
        "{:?}",
        began.elapsed()
    );
    let err = call_err(
        &patient,
        "swarm_scale",
        json!({"stack": STACK, "service": "flaky", "replicas": 2}),
    )
    .await;
    assert!(
        matches!(&err, ToolError::Failed(m) if m.starts_with("media_flaky was scaled to 2, but the new task media_flaky.")
            && m.contains(" failed after ")
            && m.contains("non-zero exit (1)")),
        "{err}"
    );

    // A restart that cannot replace the tasks is a failure, with the reason,
    // and does not wait out its window when every new task is rejected.
    let began = Instant::now();
    let err = call_err(
        &patient,
        "swarm_restart",
        json!({"stack": STACK, "service": "ghost"}),
    )
    .await;
    assert!(
        matches!(&err, ToolError::Failed(m) if (m.contains("cannot replace its tasks") || m.contains("forced update of media_ghost stopped"))
            && (m.contains("No such image") || m.contains(missing))),
        "{err}"
    );
    assert!(
        began.elapsed() < Duration::from_secs(30),
        "{:?}",
        began.elapsed()
    );
}

#[tokio::test]
async fn a_task_moves_off_a_drained_node_of_a_two_node_swarm() {
    ensure_images();
    let manager = SecondEngine::start("swarm-mgr");
    let worker = SecondEngine::start("swarm-wrk");
    for engine in [&manager, &worker] {
        engine.load_images(&[&arr_image("sonarr")]);
    }
    let token = manager.swarm_init();
    worker.swarm_join(&manager, &token);
    let tools = swarm_tools(&manager, Limits::default());
    let worker_id = worker.docker(&["info", "--format", "{{.Swarm.NodeID}}"]);
    let nodes = wait_for("both nodes ready", Duration::from_secs(60), || async {
        let n = call_ok(&tools, "swarm_nodes", json!({})).await;
        let ready = n["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|n| n["state"] == "ready")
            .count();
        if ready == 2 {
            Ok(n)
        } else {
            Err(n.to_string())
        }
    })
    .await;
    let on_worker = nodes["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"] == worker_id.as_str())
        .unwrap_or_else(|| panic!("the worker {worker_id} is listed: {nodes:#}"));
    assert_eq!(on_worker["role"], "worker");
    assert!(on_worker.get("manager_status").is_none());

    create_service(
        &manager,
        "media_spread",
        true,
        &["--replicas", "2"],
        &["sleep", "600"],
    );
    let running_on = |tasks: &Value| -> Vec<String> {
        tasks["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["state"] == "running" && t["desired_state"] == "running")
            .map(|t| t["node_id"].as_str().unwrap().to_owned())
            .collect()
    };
    wait_for(
        "a task running on each node",
        Duration::from_secs(60),
        || async {
            let t = call_ok(
                &tools,
                "swarm_tasks",
                json!({"stack": STACK, "service": "spread"}),
            )
            .await;
            let nodes = running_on(&t);
            if nodes.len() == 2 && nodes.contains(&worker_id) {
                Ok(())
            } else {
                Err(t.to_string())
            }
        },
    )
    .await;

    // Drained by the harness (docker-mcp never writes to a node).
    manager.docker(&["node", "update", "--availability", "drain", &worker_id]);
    let tasks = wait_for(
        "the worker's task to move to the manager",
        Duration::from_secs(60),
        || async {
            let t = call_ok(
                &tools,
                "swarm_tasks",
                json!({"stack": STACK, "service": "spread"}),
            )
            .await;
            let nodes = running_on(&t);
            if nodes.len() == 2 && !nodes.contains(&worker_id) {
                Ok(t)
            } else {
                Err(t.to_string())
            }
        },
    )
    .await;
    let moved_off = tasks["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["node_id"] == worker_id.as_str())
        .expect("the worker's old task is still listed");
    assert_eq!(moved_off["desired_state"], "shutdown", "{moved_off}");
    let nodes = call_ok(&tools, "swarm_nodes", json!({})).await;
    let drained = nodes["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"] == worker_id.as_str())
        .unwrap();
    assert_eq!(drained["availability"], "drain");
    let diagnosis = call_ok(
        &tools,
        "swarm_diagnose",
        json!({"stack": STACK, "service": "spread"}),
    )
    .await;
    assert_eq!(diagnosis["verdict"], "healthy", "{diagnosis:#}");
    drop(worker);
    drop(manager);
}
