//! Issue 12's chat through pi-health's API, against the real gateway, docker-mcp
//! and Engine: a question about a service never gives a card, several services
//! give one card each, a name the stack lacks is said so, exit codes come in
//! words, and "what did you do today?" tells a restart that really ran.

use serde_json::Value;

use crate::gateway_support::{Env, Options};
use crate::support::{ALICE, PiHealth, Reply, gateway_token};

/// Every suggestion card in a chat answer (one per message at most).
fn cards(reply: &Reply) -> Vec<Value> {
    reply.body["messages"]
        .as_array()
        .unwrap_or_else(|| panic!("no messages: {}", reply.body))
        .iter()
        .map(|m| m["suggestion"].clone())
        .filter(Value::is_object)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn questions_stay_questions_orders_get_a_card_per_service_and_the_day_is_told() {
    let env = Env::start(
        "ph-understand",
        &["sonarr", "radarr", "recyclarr"],
        Options::default(),
    )
    .await;
    let online = gateway_token(&env, "admin").await;
    let app = PiHealth::start(env.stack.file(), Some(&online), &[], false).await;
    let alice = app.sign_in(ALICE).await;
    let sonarr = env.stack.started_at("sonarr");
    let radarr = env.stack.started_at("radarr");

    // Questions, with words of action in them: answers, never cards.
    for question in [
        "is sonarr down?",
        "did radarr stop?",
        "is sonarr dead or alive?",
        "is sonar up?",
    ] {
        let reply = alice.chat(question).await;
        assert!(cards(&reply).is_empty(), "{question}: {}", reply.body);
        assert!(reply.content().contains("sonarr") || reply.content().contains("radarr"));
    }
    let down = alice.chat("is sonarr down?").await;
    assert!(
        down.content().contains("<strong>sonarr</strong>: running"),
        "{}",
        down.content()
    );
    assert!(
        !down.content().contains("radarr"),
        "about sonarr only: {}",
        down.content()
    );
    assert!(
        alice
            .chat("is sonar up?")
            .await
            .content()
            .contains("I took \u{201c}sonar\u{201d} to mean sonarr."),
    );

    // A one-shot that exited with 3: a problem, its exit code in words.
    let recyclarr = alice.chat("is recyclarr running?").await;
    assert!(cards(&recyclarr).is_empty());
    assert!(
        recyclarr
            .content()
            .contains("exited (3): the program failed with its own error code 3"),
        "{}",
        recyclarr.content()
    );
    let containers = alice.get("/api/containers").await.expect(200).clone();
    let problems = containers["summary"]["problems"].to_string();
    assert!(
        problems.contains("recyclarr (exit code 3: the program failed with its own error code 3)"),
        "{containers}"
    );
    let entry = containers["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["service"] == "recyclarr")
        .cloned()
        .unwrap_or_else(|| panic!("{containers}"));
    assert_eq!(entry["problem"], true, "{entry}");

    // A name the stack does not have.
    let plex = alice.chat("is plex running?").await;
    assert!(cards(&plex).is_empty());
    assert!(
        plex.content().contains("There is no plex in this stack."),
        "{}",
        plex.content()
    );
    let near = alice.chat("restart radar").await;
    assert!(
        cards(&near).is_empty(),
        "a near miss is asked about, never acted on"
    );
    assert!(
        near.content().contains("Did you mean radarr?"),
        "{}",
        near.content()
    );

    // Two services in one order: two cards, each the gateway's own approval.
    let two = alice.chat("please restart sonarr and radarr").await;
    let both = cards(&two);
    assert_eq!(both.len(), 2, "{}", two.body);
    assert_eq!(both[0]["actionParams"]["service"], "sonarr");
    assert_eq!(both[1]["actionParams"]["service"], "radarr");
    assert_ne!(both[0]["id"], both[1]["id"]);
    let approvals = alice.get("/api/approvals").await.expect(200).clone();
    for card in &both {
        assert!(
            approvals["approvals"]
                .as_array()
                .unwrap()
                .iter()
                .any(|a| a["id"] == card["id"]),
            "{card} is pending at the gateway: {approvals}"
        );
    }
    assert_eq!(env.stack.started_at("sonarr"), sonarr, "a card ran");
    assert_eq!(env.stack.started_at("radarr"), radarr, "a card ran");

    // Nothing done yet today by alice's hand.
    let before = alice.chat("what did you do today?").await;
    assert!(
        !before
            .content()
            .contains("restart sonarr by alice: executed"),
        "{}",
        before.content()
    );

    // Approve sonarr's card only: sonarr restarts, radarr does not.
    let approved = alice
        .approve(both[0]["id"].as_str().unwrap())
        .await
        .expect(200)
        .clone();
    assert_eq!(approved["status"], "success", "{approved}");
    assert_ne!(
        env.stack.started_at("sonarr"),
        sonarr,
        "sonarr did not restart"
    );
    assert_eq!(
        env.stack.started_at("radarr"),
        radarr,
        "radarr ran unapproved"
    );

    // The day's actions, from the gateway's audit log.
    let today = alice.chat("what did you do today?").await;
    assert_eq!(today.tools(), ["audit"], "{}", today.body);
    assert!(cards(&today).is_empty());
    let text = today.content();
    assert!(text.contains("1 action today"), "{text}");
    assert!(text.contains("restart sonarr by alice: executed"), "{text}");
    assert!(!text.contains("compose_ps"), "reads are skipped: {text}");
    let who = alice.chat("who restarted radarr?").await;
    assert!(
        who.content()
            .contains("Nothing was restarted, started or stopped on radarr today"),
        "{}",
        who.content()
    );
}
