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
