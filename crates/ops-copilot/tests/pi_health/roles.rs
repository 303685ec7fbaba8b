//! People have roles: pi-health asserts each user's role (`X-On-Behalf-Role`)
//! and the gateway decides with it, so a `standard` person can do what a
//! `standard` token can and reads only their own audit records.

use std::time::Duration;

use test_support::wait_for;

use crate::gateway_support::{ADMIN, Env, Options};
use crate::support::{ALICE, BOB, PRINCIPAL, PiHealth, gateway_token};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standard_person_cannot_approve_a_stop_and_reads_only_their_own_audit() {
    let env = Env::start("ph-roles", &["sonarr", "radarr"], Options::default()).await;
    // compose_stop as deploy/config has it (the guide's files have none): a
    // standard role may request it, only an admin may approve it.
    let first = env.health().await["config_version"].clone();
    let registry = std::fs::read_to_string(&env.registry).unwrap().replacen(
        "  compose_pull:\n",
        "  compose_stop:\n    mcp: { service: docker-mcp, fn: compose_stop }\n    mutating: true\n    approval: required\n    cooldown: { seconds: 60, key_by: service }\n    summary: \"Stop a single service.\"\n\n  compose_pull:\n",
        1,
    );
    let policy = env.policy_text().replacen(
        "  compose_pull:\n",
        &format!(
            "  compose_stop:\n    type: object\n    properties:\n      file:    {{ type: string, const: \"{}\" }}\n      service: {{ type: string, pattern: \"^[a-zA-Z0-9_-]{{1,32}}$\" }}\n    required: [file, service]\n    additionalProperties: false\n\n  compose_pull:\n",
            env.file()
        ),
        1,
    );
    env.write_policy(&policy);
    env.write_registry(&registry);
    wait_for(
        "the gateway to take compose_stop",
        Duration::from_secs(5),
        || async {
            let health = env.health().await;
            if health["config_version"] != first && health["refused_config_change"].is_null() {
                Ok(())
            } else {
                Err(health.to_string())
            }
        },
    )
    .await;

    let online = gateway_token(&env, "admin").await;
    let app = PiHealth::start(env.stack.file(), Some(&online), &[], false).await;
    let bob = app.sign_in(BOB).await;
    let alice = app.sign_in(ALICE).await;

    // bob asks to stop sonarr: a card may appear (a standard role may request
    // the stop), but approving it is refused as for a standard token.
    let reply = bob.chat("please stop sonarr").await;
    let suggestion = &reply.body["messages"][0]["suggestion"];
    if let Some(id) = suggestion["id"].as_str() {
        let approved = bob.approve(id).await;
        assert_eq!(approved.body["status"], "error", "{:?}", approved.body);
        let result = approved.body["result"].as_str().unwrap_or_default();
        assert!(
            result.contains("Not executed") && result.contains("cannot_approve"),
            "{result}"
        );
    }
    let carded = suggestion["id"].is_string();
    assert!(
        env.stack.is_running("sonarr"),
        "a standard person stopped sonarr"
    );

    // bob's audit: pi-health's records made for him, whatever he asks for.
    for query in ["", "?on_behalf_of=alice", "?principal=admin"] {
        let reply = bob.get(&format!("/api/audit{query}")).await;
        let audit = reply.expect(200);
        let records = audit["records"]
            .as_array()
            .unwrap_or_else(|| panic!("{audit}"));
        assert!(
            records
                .iter()
                .all(|r| r["principal"] == PRINCIPAL && r["on_behalf_of"] == "bob"),
            "{query}: {records:?}"
        );
        if query.is_empty() {
            assert!(!records.is_empty(), "{audit}");
            // The refused approval is on his record, with his role.
            assert!(
                !carded
                    || records.iter().any(|r| r["reason"]
                        .as_str()
                        .is_some_and(|t| t.starts_with("cannot_approve"))),
                "{records:?}"
            );
            assert!(
                records.iter().all(|r| r["role"] == "standard"),
                "{records:?}"
            );
        }
    }
    // alice (admin) reads everyone's, bob's included.
    let reply = alice.get("/api/audit").await;
    let audit = reply.expect(200);
    let records = audit["records"].as_array().unwrap();
    assert!(
        records.iter().any(|r| r["on_behalf_of"] == "bob"),
        "{audit}"
    );
}

/// The pages' refreshes read the stack as the person (their role decides, the
/// audit names them), and share one read per role and interval: many tabs and
/// people of one role make one `compose_ps` call, not one each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_refreshes_read_as_the_person_and_share_one_read_per_role() {
    let env = Env::start("ph-shared", &["sonarr"], Options::default()).await;
    let online = gateway_token(&env, "admin").await;
    let app = PiHealth::start(env.stack.file(), Some(&online), &[], false).await;
    let alice = app.sign_in(ALICE).await;
    let mallory = app.sign_in(crate::support::MALLORY).await;
    let bob = app.sign_in(BOB).await;

    let ps_records = || async { env.audit(ADMIN, "tool=compose_ps").await };
    let before = ps_records().await.len();
    // Three refreshes by two admins, then two by a standard person, within the interval.
    for browser in [&alice, &mallory, &alice] {
        let reply = browser.get("/api/containers").await;
        let services = reply.expect(200)["services"].as_array().unwrap();
        let sonarr = services.iter().find(|s| s["service"] == "sonarr");
        assert_eq!(sonarr.unwrap()["verdict"], "healthy", "{:?}", reply.body);
    }
    for _ in 0..2 {
        bob.get("/api/containers").await.expect(200);
    }
    // A person's request for logs is theirs alone, in their name. Made after the
    // refreshes: once its record is in the audit, theirs are too (one chain, in order).
    bob.get("/api/containers?logs=sonarr&tail=50")
        .await
        .expect(200);
    wait_for(
        "bob's compose_logs in the audit",
        Duration::from_secs(10),
        || async {
            let logs = env.audit(ADMIN, "tool=compose_logs").await;
            match logs.first() {
                Some(record) if record["on_behalf_of"] == "bob" => Ok(()),
                _ => Err(format!("{logs:#?}")),
            }
        },
    )
    .await;

    let records = ps_records().await;
    let new: Vec<&serde_json::Value> = records.iter().take(records.len() - before).collect();
    assert_eq!(new.len(), 2, "one read per role: {new:#?}");
    let mut people: Vec<&str> = new
        .iter()
        .map(|r| r["on_behalf_of"].as_str().unwrap_or("(pi-health itself)"))
        .collect();
    people.sort_unstable();
    assert_eq!(people, ["alice", "bob"], "{new:#?}");
}
