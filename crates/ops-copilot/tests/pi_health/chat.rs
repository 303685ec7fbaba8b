//! The guide's section 0.1 through pi-health's API, against the real gateway,
//! docker-mcp and Engine: the Docker status, a suggested restart approved and
//! really run, approvals that must fail, the pages' data, the gateway's approvals
//! and audit.

use reqwest::Method;
use serde_json::json;

use crate::gateway_support::{Env, Options, STANDARD};
use crate::support::{ALICE, MALLORY, PRINCIPAL, PiHealth, gateway_token};

/// The FAKE secrets the fake ARR apps print (testing/images/fake-arr).
const SECRETS: [&str; 2] = ["0123456789abcdef0123456789abcdef", "hunter2"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chat_answers_from_the_stack_and_an_approved_restart_really_runs() {
    let env = Env::start(
        "ph-chat",
        &["sonarr", "radarr", "prowlarr"],
        Options::default(),
    )
    .await;
    let online = gateway_token(&env, "admin").await;
    let app = PiHealth::start(env.stack.file(), Some(&online), &[], false).await;
    let alice = app.sign_in(ALICE).await;
    let mallory = app.sign_in(MALLORY).await;

    // "What is the Docker status?": docker_status ran, the counts are named.
    let status = alice.chat("What is the Docker status?").await;
    assert!(
        status.tools().contains(&"docker_status".to_owned()),
        "{:?}",
        status.body
    );
    assert_eq!(status.body["model"], "built-in planner");
    assert_eq!(status.body["messages"][0]["role"], "assistant");
    let content = status.content();
    let total = env.stack.declared_services().len();
    assert!(
        content.contains(&format!("3 of {total} services running")),
        "{content}"
    );
    assert!(
        content.contains("unhealthy: prowlarr") || content.contains("prowlarr"),
        "{content}"
    );
    assert!(!content.contains("class=\"warning\""), "{content}");

    // The guide's `check docker` too.
    let check = alice.chat("check docker").await;
    assert!(check.tools().contains(&"docker_status".to_owned()));

    // Logs through the gateway: redacted.
    let logs = alice.chat("show me sonarr's logs").await;
    assert_eq!(logs.tools(), ["compose_logs"]);
    for secret in SECRETS {
        assert!(!logs.content().contains(secret), "{secret} leaked");
    }
    let containers = alice.get("/api/containers?logs=sonarr&tail=200").await;
    let body = containers.expect(200);
    assert_eq!(body["online"], true);
    assert_eq!(body["summary"]["running"], 3, "{body}");
    assert_eq!(body["summary"]["total"], total, "{body}");
    let text = body["logs"]["logs"]
        .as_str()
        .unwrap_or_else(|| panic!("{body}"));
    assert!(text.contains("sonarr"), "{text}");
    for secret in SECRETS {
        assert!(!text.contains(secret), "{secret} leaked: {text}");
    }

    // "Sonarr queue looks stuck, can you restart it?": a suggestion, nothing run yet.
    let before = env.stack.started_at("sonarr");
    let reply = alice
        .chat("Sonarr queue looks stuck, can you restart it?")
        .await;
    let suggestion = reply.suggestion().clone();
    assert_eq!(suggestion["ctaLabel"], "Approve Restart", "{suggestion}");
    assert_eq!(suggestion["toolId"], "docker_actions");
    assert_eq!(suggestion["action"], "restart_container");
    assert_eq!(suggestion["actionParams"], json!({"service": "sonarr"}));
    assert_eq!(
        suggestion["command"],
        format!("docker compose -f {} restart sonarr", env.file())
    );
    for key in ["description", "impact"] {
        assert!(
            !suggestion[key].as_str().unwrap().is_empty(),
            "{suggestion}"
        );
    }
    assert!(reply.tools().contains(&"docker_actions".to_owned()));
    let id = suggestion["id"].as_str().unwrap().to_owned();
    assert_eq!(env.stack.started_at("sonarr"), before, "a suggestion ran");

    // Another user, an unknown id: errors, and nothing runs.
    let foreign = mallory.approve(&id).await;
    assert_eq!(foreign.body["status"], "error", "{:?}", foreign.body);
    assert_eq!(foreign.status.as_u16(), 404);
    let unknown = alice.approve("00000000000000000000000000000000").await;
    assert_eq!(unknown.body["status"], "error");
    assert_eq!(
        env.stack.started_at("sonarr"),
        before,
        "ran without approval"
    );

    // Approved: the gateway's flow runs compose_restart; sonarr really restarted.
    let approved = alice.approve(&id).await;
    let body = approved.expect(200);
    assert_eq!(body["status"], "success", "{body}");
    assert!(
        body["result"]
            .as_str()
            .unwrap()
            .contains("compose_restart sonarr succeeded"),
        "{body}"
    );
    assert!(body.get("followup").is_some(), "{body}");
    let after = env.stack.started_at("sonarr");
    assert_ne!(after, before, "sonarr did not restart");
    assert!(env.stack.is_running("sonarr"));

    // Once only.
    let again = alice.approve(&id).await;
    assert_eq!(again.body["status"], "error");
    assert_eq!(again.status.as_u16(), 409);
    assert_eq!(env.stack.started_at("sonarr"), after, "ran twice");

    // The card carried the gateway's own approval id.
    assert!(
        body["approval_id"] == json!(id),
        "the card's id is the gateway's approval: {body}"
    );

    // Within its cooldown the gateway will not even take the request: no card,
    // and the answer says why, with the time left.
    let reply = alice.chat("restart sonarr").await;
    assert!(
        reply.body["messages"][0]["suggestion"].is_null(),
        "{}",
        reply.body
    );
    let content = reply.content();
    assert!(
        content.contains("cooldown") && content.contains("Try again in"),
        "{content}"
    );
    assert_eq!(
        env.stack.started_at("sonarr"),
        after,
        "ran within the cooldown"
    );

    // The gateway audited it as the pi-health principal.
    let audit = alice.get("/api/audit?tool=compose_restart&limit=50").await;
    let records = audit.expect(200)["records"].as_array().unwrap().clone();
    assert!(
        records
            .iter()
            .any(|r| r["principal"] == PRINCIPAL && r["decision"] == "executed"),
        "{records:?}"
    );
    assert!(
        records
            .iter()
            .any(|r| r["principal"] == PRINCIPAL && r["decision"] == "denied"),
        "the cooldown refusal: {records:?}"
    );
    // ... acting for alice, who approved: every record of her approvals names her.
    for decision in ["need_approval", "approved", "executed", "denied"] {
        assert!(
            records.iter().any(|r| r["decision"] == decision
                && r["principal"] == PRINCIPAL
                && r["on_behalf_of"] == ALICE.0),
            "{decision} for {}: {records:?}",
            ALICE.0
        );
    }
    assert!(
        records.iter().all(|r| r["on_behalf_of"] == ALICE.0),
        "only alice approved restarts: {records:?}"
    );
    // The audit filter passes whom a record was for through to the gateway.
    let mine = alice
        .get(&format!("/api/audit?on_behalf_of={}", ALICE.0))
        .await;
    let mine = mine.expect(200)["records"].as_array().unwrap().len();
    assert!(mine >= records.len(), "{mine}");
    let nobody = alice.get("/api/audit?on_behalf_of=nobody").await;
    assert_eq!(nobody.expect(200)["records"], json!([]));

    // Markup in a message comes back as text.
    let xss = alice.chat("<script>alert(document.cookie)</script>").await;
    assert!(!xss.content().contains("<script>"), "{}", xss.content());
    assert!(
        xss.content().contains("&lt;script&gt;"),
        "{}",
        xss.content()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_approvals_page_decides_on_requests_made_elsewhere() {
    let env = Env::start("ph-approvals", &["radarr", "sabnzbd"], Options::default()).await;
    let online = gateway_token(&env, "admin").await;
    let app = PiHealth::start(env.stack.file(), Some(&online), &[], false).await;
    let alice = app.sign_in(ALICE).await;

    // Two requests from another principal, pending in the gateway.
    let approve_id = env.request_restart(STANDARD, "radarr").await;
    let deny_id = env.request_restart(STANDARD, "sabnzbd").await;
    let listed = alice.get("/api/approvals").await;
    let approvals = listed.expect(200)["approvals"].as_array().unwrap().clone();
    for id in [&approve_id, &deny_id] {
        let item = approvals
            .iter()
            .find(|a| a["id"] == id.as_str())
            .unwrap_or_else(|| panic!("{id} not listed: {approvals:?}"));
        assert_eq!(item["can_approve"], true);
        assert_eq!(item["principal"], STANDARD);
    }

    // Both need the CSRF token.
    let forged = alice
        .send(
            Method::POST,
            &format!("/api/approvals/{approve_id}/approve"),
            None,
            None,
        )
        .await;
    assert_eq!(forged.status.as_u16(), 403);

    let radarr = env.stack.started_at("radarr");
    let sabnzbd = env.stack.started_at("sabnzbd");
    let approved = alice
        .post(&format!("/api/approvals/{approve_id}/approve"), &json!({}))
        .await;
    assert_eq!(approved.expect(200)["status"], "success");
    assert_ne!(
        env.stack.started_at("radarr"),
        radarr,
        "radarr did not restart"
    );
    let denied = alice
        .post(&format!("/api/approvals/{deny_id}/deny"), &json!({}))
        .await;
    assert_eq!(denied.expect(200)["status"], "success");
    assert_eq!(
        env.stack.started_at("sabnzbd"),
        sabnzbd,
        "a denied request ran"
    );
    let again = alice
        .post(&format!("/api/approvals/{approve_id}/approve"), &json!({}))
        .await;
    assert_eq!(again.body["status"], "error", "{:?}", again.body);
    let left = alice.get("/api/approvals").await;
    assert!(
        !left.body["approvals"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["id"] == approve_id.as_str() || a["id"] == deny_id.as_str()),
        "{:?}",
        left.body
    );

    // The audit page's filters reach the gateway.
    let denied_records = alice
        .get("/api/audit?decision=denied&tool=compose_restart")
        .await;
    let records = denied_records.expect(200)["records"]
        .as_array()
        .unwrap()
        .clone();
    assert!(
        records.iter().all(|r| r["decision"] == "denied"),
        "{records:?}"
    );
    assert!(
        records.iter().any(|r| r["approval_id"] == deny_id.as_str()),
        "{records:?}"
    );
}
