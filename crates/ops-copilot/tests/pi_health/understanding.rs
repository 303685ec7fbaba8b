//! Issue 12's chat through pi-health's API, against the real gateway, docker-mcp
//! and Engine: a question about a service never gives a card, several services
//! give one card each, a name the stack lacks is said so, exit codes come in
//! words, and "what did you do today?" tells a restart that really ran.

use std::time::Duration;

use serde_json::Value;
use test_support::wait_for;

use crate::gateway_support::{Env, Options};
use crate::support::{ALICE, Browser, PiHealth, Reply, gateway_token};

/// Services that really crash-loop, fail their healthcheck, exit 1 (docker-mcp's
/// diagnosis tests' stack).
const DIAGNOSIS_STACK: &str =
    include_str!("../../../../testing/diagnosis-stack/docker-compose.yml");
/// The FAKE secrets in that stack's error line and probe output.
const DIAGNOSIS_SECRETS: [&str; 2] = ["0123456789abcdef0123456789abcdef", "abc.def-ghi_123"];

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
            .contains("I took \u{201c}sonar\u{201d} to mean sonarr.")
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

/// Waits until the Containers page's data count `service` among the problems as
/// `kind` (a list of names, or of `{"service", ...}` for `exited`).
async fn problem_seen(alice: &Browser, kind: &str, service: &str) -> Value {
    let what = format!("{service} counted as {kind}");
    wait_for(&what, Duration::from_secs(60), || async {
        let reply = alice.get("/api/containers").await;
        let summary = reply.body["summary"].clone();
        let listed = summary[kind].as_array().is_some_and(|names| {
            names
                .iter()
                .any(|n| n == service || n["service"] == service)
        });
        if listed {
            Ok(reply.body.clone())
        } else {
            Err(summary.to_string())
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn why_answers_with_the_evidence_of_really_failing_services() {
    let env = Env::start(
        "ph-why",
        &["crashloop", "unhealthy", "failed", "healthy"],
        Options {
            stack_yaml: Some(DIAGNOSIS_STACK),
            adapted_config: true,
            ..Options::default()
        },
    )
    .await;
    let online = gateway_token(&env, "admin").await;
    let app = PiHealth::start(env.stack.file(), Some(&online), &[], false).await;
    let alice = app.sign_in(ALICE).await;

    // The pages' data count a crash loop and a failing probe as problems.
    problem_seen(&alice, "crash_loop", "crashloop").await;
    problem_seen(&alice, "unhealthy", "unhealthy").await;
    let containers = problem_seen(&alice, "exited", "failed").await;
    let sentence = containers["summary"]["sentence"]
        .as_str()
        .unwrap_or_default();
    assert!(sentence.contains("crash loop: crashloop"), "{sentence}");
    assert!(
        sentence.contains("failed (exit code 1: the program failed (a general error))"),
        "{sentence}"
    );

    // A status question about the crash loop: the truth, and no card.
    let down = alice.chat("is crashloop down?").await;
    assert!(cards(&down).is_empty(), "{}", down.body);
    assert!(down.content().contains("crash loop"), "{}", down.content());

    // Why: the diagnosis's evidence, redacted; a restart will not help, so no card.
    let looping = alice.chat("why does crashloop keep restarting?").await;
    assert!(looping.tools().contains(&"compose_diagnose".to_owned()));
    let text = looping.content();
    for evidence in [
        "crash loop",
        // "Exit code 1: ..." when caught exited, "Last exit code 1: ..." while it runs.
        "xit code 1: the program failed (a general error)",
        "database is locked",
        "A restart will not help",
    ] {
        assert!(text.contains(evidence), "{evidence:?} in {text}");
    }
    assert!(
        cards(&looping).is_empty(),
        "no restart for a crash loop: {}",
        looping.body
    );

    // A failing healthcheck: its probe output, and a restart card.
    let probe = alice.chat("why is unhealthy unhealthy?").await;
    let text = probe.content();
    assert!(text.contains("indexer search failed: 503"), "{text}");
    let card = cards(&probe);
    assert_eq!(card.len(), 1, "{}", probe.body);
    assert_eq!(card[0]["action"], "restart_container");
    assert_eq!(card[0]["actionParams"]["service"], "unhealthy");

    // An exit with 1: the code in words and a start card.
    let failed = alice.chat("what happened to failed?").await;
    assert!(
        failed
            .content()
            .contains("Exit code 1: the program failed (a general error)."),
        "{}",
        failed.content()
    );
    assert_eq!(
        cards(&failed)[0]["action"],
        "start_container",
        "{}",
        failed.body
    );

    // "what's wrong?": each service with a problem, diagnosed; the healthy one not.
    let all = alice.chat("what's wrong?").await;
    let text = all.content();
    assert!(text.contains("3 services with a problem"), "{text}");
    for service in ["crashloop", "unhealthy", "failed"] {
        assert!(
            text.contains(&format!("<strong>{service}</strong>")),
            "{service}: {text}"
        );
    }
    assert!(!text.contains("<strong>healthy</strong>"), "{text}");

    // Nothing the gateway returned carried a secret.
    for reply in [&looping, &probe, &failed, &all] {
        for secret in DIAGNOSIS_SECRETS {
            assert!(!reply.body.to_string().contains(secret), "{secret} leaked");
        }
    }
}
