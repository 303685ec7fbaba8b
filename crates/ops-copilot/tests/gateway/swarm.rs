//! The swarm_* tools through the gateway, on the adapted files (deploy/config/, what
//! `all` writes): docker-mcp points at a second Docker Engine made a Swarm (never
//! the main Engine). swarm_scale beyond the policy's `maximum` is bad args at the
//! gateway (docker-mcp would allow it); swarm_restart needs an approval and runs
//! once approved; swarm_logs comes back redacted.

use std::time::Duration;

use serde_json::{Value, json};
use test_support::{SecondEngine, arr_image, ensure_images, wait_for};

use crate::support::{ADMIN, Env, Options, STANDARD};

const STACK: &str = "media";
const API_KEY: &str = "0123456789abcdef0123456789abcdef";

/// One trivial compose service: the Env wants a compose stack on the main Engine.
const PLACEHOLDER_STACK: &str = "services:
  idle:
    image: 127.0.0.1:5000/arr/sonarr:test
    command: [\"sleep\", \"600\"]
    stop_grace_period: 1s
";

#[tokio::test]
async fn swarm_scale_is_bounded_by_the_policy_and_swarm_restart_needs_an_approval() {
    ensure_images();
    let engine = SecondEngine::start("gw-swarm");
    engine.load_images(&[&arr_image("sonarr")]);
    engine.swarm_init();
    let image = arr_image("sonarr");
    let script = format!(
        "echo 'apikey={API_KEY} password=hunter2'; i=0; while true; do echo \"tick $i\"; i=$((i+1)); sleep 1; done"
    );
    engine.docker(&[
        "service",
        "create",
        "--detach",
        "--name",
        "media_web",
        "--label",
        "com.docker.stack.namespace=media",
        "--replicas",
        "1",
        "--stop-grace-period",
        "1s",
        "--no-resolve-image",
        &image,
        "sh",
        "-c",
        &script,
    ]);

    let mut env = Env::start(
        "gwswarm",
        &["idle"],
        Options {
            adapted_config: true,
            stack_yaml: Some(PLACEHOLDER_STACK),
            ..Options::default()
        },
    )
    .await;
    // docker-mcp again, on the Swarm's Engine (its default stack is the policy's).
    env.mcp.stop();
    env.mcp.docker_host = Some(engine.docker_host());
    env.mcp.start_again().await;

    let args = json!({"stack": STACK, "service": "web"});
    wait_for(
        "media_web running, through the gateway",
        Duration::from_secs(60),
        || async {
            let reply = env
                .call(STANDARD, "swarm_services", &json!({"stack": STACK}))
                .await;
            let body = reply.expect(200).clone();
            let running = &body["result"]["services"][0]["running_replicas"];
            if *running == 1 {
                Ok(())
            } else {
                Err(body.to_string())
            }
        },
    )
    .await;

    // Logs: the gateway redacts what docker-mcp returns.
    let logs: Value = wait_for(
        "the secret line in the logs",
        Duration::from_secs(30),
        || async {
            let reply = env.call(STANDARD, "swarm_logs", &args).await;
            let body = reply.expect(200).clone();
            let text = body["result"]["logs"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            if text.contains("password=") {
                Ok(body)
            } else {
                Err(body.to_string())
            }
        },
    )
    .await;
    let text = logs["result"]["logs"].as_str().unwrap();
    assert!(!text.contains(API_KEY), "the API key leaked: {text}");
    assert!(!text.contains("hunter2"), "the password leaked: {text}");
    assert!(text.contains("[REDACTED]"), "{text}");

    // The stack is pinned by the policy: another one is bad args.
    let reply = env
        .call(ADMIN, "swarm_services", &json!({"stack": "other"}))
        .await;
    reply.expect(400);
    assert!(reply.detail().starts_with("Bad args"), "{}", reply.body);

    // Scale: beyond the policy's maximum (5, below docker-mcp's 20) refused as bad
    // args by the gateway, approved or not; the service untouched.
    let max: u64 = env
        .policy_text()
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("replicas: { type: integer, minimum: 0, maximum: ")?
                .trim_end_matches(" }")
                .parse()
                .ok()
        })
        .expect("the policy bounds replicas");
    assert_eq!(max, 5);
    for approved in [false, true] {
        let reply = env
            .chat_tool(
                ADMIN,
                &json!({"tool": "swarm_scale", "args": {"stack": STACK, "service": "web", "replicas": max + 1}, "approved": approved}),
            )
            .await;
        reply.expect(400);
        assert!(reply.detail().starts_with("Bad args"), "{}", reply.body);
    }
    // The standard role may not scale at all.
    let scale = json!({"stack": STACK, "service": "web", "replicas": 2});
    env.call(STANDARD, "swarm_scale", &scale).await.expect(403);
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
    // Within the bound, asked and then approved by an admin (self-approval): it runs.
    let asked = env.call(ADMIN, "swarm_scale", &scale).await;
    assert_eq!(asked.expect(200)["need_approval"], true, "{}", asked.body);
    let reply = env.call_approved(ADMIN, "swarm_scale", &scale).await;
    let body = reply.expect(200);
    assert_eq!(body["result"]["running_replicas"], 2, "{body}");

    // Restart: an approval first; nothing runs before it is approved.
    let force_before = engine.docker(&[
        "service",
        "inspect",
        "-f",
        "{{.Spec.TaskTemplate.ForceUpdate}}",
        "media_web",
    ]);
    let reply = env.call(STANDARD, "swarm_restart", &args).await;
    let body = reply.expect(200).clone();
    assert_eq!(body["need_approval"], true, "{body}");
    let id = body["approval_id"]
        .as_str()
        .expect("an approval id")
        .to_owned();
    assert_eq!(
        engine.docker(&[
            "service",
            "inspect",
            "-f",
            "{{.Spec.TaskTemplate.ForceUpdate}}",
            "media_web"
        ]),
        force_before,
        "ran before approval"
    );
    let reply = env.post(ADMIN, &format!("/approvals/{id}/approve")).await;
    let body = reply.expect(200);
    assert_eq!(body["ok"], true, "{body}");
    assert_eq!(body["result"]["outcome"], "replaced", "{body}");
    assert_eq!(
        body["result"]["current_tasks"].as_array().unwrap().len(),
        2,
        "{body}"
    );
    assert_ne!(
        engine.docker(&[
            "service",
            "inspect",
            "-f",
            "{{.Spec.TaskTemplate.ForceUpdate}}",
            "media_web"
        ]),
        force_before
    );
    drop(env);
}
