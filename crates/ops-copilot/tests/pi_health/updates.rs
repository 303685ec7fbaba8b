//! "any updates?" in the chat, through the real gateway and docker-mcp against
//! the tests' registry: the stack's images are what the registry holds (the
//! test images were pushed from this machine), a service built here cannot be
//! checked and says why, nothing is pulled, and no card is made. With the
//! guide's own files (no compose_updates) the answer says the gateway refused.

use std::time::Duration;

use test_support::wait_for;

use crate::gateway_support::{Env, Options};
use crate::support::{ALICE, PiHealth, gateway_token};

const STACK: &str = "services:
  sonarr:
    image: 127.0.0.1:5000/arr/sonarr:test
    command: [\"/bin/sh\", \"-c\", \"while true; do sleep 1; done\"]
    labels: { org.ops-copilot.test: \"arr-stack\", org.ops-copilot.test-run: \"${OPS_TEST_RUN_ID:-manual}\" }
  homebrew:
    build: .
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_updates_answers_from_the_registry_without_pulling_or_a_card() {
    let env = Env::start(
        "ph-updates",
        &["sonarr"],
        Options {
            stack_yaml: Some(STACK),
            adapted_config: true,
            ..Options::default()
        },
    )
    .await;
    let online = gateway_token(&env, "admin").await;
    let app = PiHealth::start(env.stack.file(), Some(&online), &[], false).await;
    let alice = app.sign_in(ALICE).await;

    let reply = alice.chat("any updates?").await;
    let content = reply.content();
    assert!(
        reply.tools().contains(&"compose_updates".to_owned()),
        "{}",
        reply.body
    );
    assert!(content.contains("No updates"), "{content}");
    assert!(content.contains("sonarr"), "{content}");
    assert!(
        content.contains("homebrew: it is built on this machine"),
        "{content}"
    );
    assert!(
        reply.body["messages"][0]["suggestion"].is_null(),
        "no card for a read: {}",
        reply.body
    );

    let one = alice.chat("is there a new version of sonarr?").await;
    assert!(
        one.content().contains("sonarr is up to date"),
        "{}",
        one.content()
    );

    // The pages' badges: the first look starts a background check, a later one has it.
    let containers = wait_for(
        "the pages' update check",
        Duration::from_secs(30),
        || async {
            let reply = alice.get("/api/containers").await;
            let body = reply.body.clone();
            if body["updates"].is_object() {
                Ok(body)
            } else {
                Err(body.to_string())
            }
        },
    )
    .await;
    let updates = &containers["updates"];
    assert_eq!(updates["services"]["sonarr"], "up_to_date", "{updates}");
    assert_eq!(updates["services"]["homebrew"], "cannot_check", "{updates}");
    assert_eq!(updates["available"], 0, "{updates}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_guides_files_the_gateway_refuses_and_the_chat_says_so() {
    let env = Env::start(
        "ph-updates-guide",
        &["sonarr"],
        Options {
            stack_yaml: Some(STACK),
            ..Options::default()
        },
    )
    .await;
    let online = gateway_token(&env, "admin").await;
    let app = PiHealth::start(env.stack.file(), Some(&online), &[], false).await;
    let alice = app.sign_in(ALICE).await;
    let reply = alice.chat("any updates?").await;
    assert!(
        reply
            .content()
            .contains("I cannot check for newer images right now"),
        "{}",
        reply.body
    );
}

fn docker_text(args: &[&str]) -> String {
    test_support::docker(args)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_makes_a_card_only_for_a_newer_image_and_approving_it_moves_the_service() {
    let suffix = test_support::unique_suffix();
    let reference = format!("127.0.0.1:5000/arr/octest-chat-update-{suffix}:test");
    let base = test_support::arr_image("sonarr");
    docker_text(&["tag", &base, &reference]);
    docker_text(&["push", "--quiet", &reference]);
    let stack = format!(
        "services:\n  app:\n    image: {reference}\n    stop_grace_period: 1s\n    command: [\"/bin/sh\", \"-c\", \"trap 'exit 0' TERM; while true; do sleep 1; done\"]\n    labels: {{ org.ops-copilot.test: \"arr-stack\", org.ops-copilot.test-run: \"${{OPS_TEST_RUN_ID:-manual}}\" }}\n  sonarr:\n    image: {base}\n    command: [\"/bin/sh\", \"-c\", \"trap 'exit 0' TERM; while true; do sleep 1; done\"]\n"
    );
    let env = Env::start(
        "ph-update-card",
        &["app", "sonarr"],
        Options {
            stack_yaml: Some(Box::leak(stack.into_boxed_str())),
            adapted_config: true,
            ..Options::default()
        },
    )
    .await;
    let online = gateway_token(&env, "admin").await;
    let app = PiHealth::start(env.stack.file(), Some(&online), &[], false).await;
    let alice = app.sign_in(ALICE).await;

    // A new version reaches the registry only.
    let builder = format!("octest-chat-update-builder-{suffix}");
    docker_text(&["create", "--name", &builder, &reference]);
    let variant = docker_text(&[
        "commit",
        "--change",
        &format!("LABEL org.ops-copilot.chat-update-test={suffix}"),
        &builder,
        &reference,
    ]);
    docker_text(&["rm", &builder]);
    docker_text(&["push", "--quiet", &reference]);
    docker_text(&["tag", &base, &reference]);
    let image_of = |service: &str| {
        docker_text(&["inspect", "-f", "{{.Image}}", &env.stack.container(service)])
    };
    let before = image_of("app");
    assert_ne!(before, variant);

    // "update everything": one card, for app only (sonarr has nothing newer).
    let reply = alice.chat("update everything").await;
    let cards: Vec<&serde_json::Value> = reply.body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m.get("suggestion").filter(|s| s.is_object()))
        .collect();
    assert_eq!(cards.len(), 1, "{}", reply.body);
    let card = cards[0];
    assert_eq!(card["ctaLabel"], "Approve Update", "{card}");
    assert_eq!(card["action"], "update_service", "{card}");
    assert_eq!(card["actionParams"]["service"], "app", "{card}");
    assert_eq!(image_of("app"), before, "nothing ran before approval");

    let approved = alice.approve(card["id"].as_str().unwrap()).await;
    let body = approved.expect(200);
    assert_eq!(body["status"], "success", "{body}");
    let result = body["result"].as_str().unwrap_or_default();
    assert!(result.contains("Now on the new image"), "{result}");
    assert_eq!(image_of("app"), variant, "the service runs the new image");
    assert!(env.stack.is_running("app"));

    // The Containers page's Update button (the same path): now nothing to do, no card.
    let row = alice
        .post(
            "/api/ops-copilot/suggest",
            &serde_json::json!({ "action": "update", "service": "app" }),
        )
        .await;
    let row = row.expect(200);
    assert!(row["messages"][0]["suggestion"].is_null(), "{row}");
    let said = row["messages"][0]["content"].as_str().unwrap_or_default();
    assert!(said.contains("app is up to date"), "{said}");

    let _ = test_support::try_docker(&["rmi", "-f", &variant]);
}
