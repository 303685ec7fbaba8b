//! What a restart of pi-health must not lose: people stay signed in (the
//! sessions file holds no cookie, only its hash) and each person's chat history
//! is still there, their own only, with what they typed redacted. And what must
//! end at once: `user revoke`, a new password, a removed role end a person's
//! sessions in the running app.

use reqwest::Method;
use serde_json::Value;

use crate::gateway_support::{output_text, run_cli};
use crate::support::{ALICE, BOB, PiHealth, add_user, add_user_as};

/// A fake API key from the redaction corpus's shape, typed into the chat.
const TYPED_SECRET: &str = "0123456789abcdef0123456789abcdef";

fn compose_file(dir: &std::path::Path) -> std::path::PathBuf {
    let file = dir.join("docker-compose.yml");
    std::fs::copy(test_support::arr_compose_file(), &file).unwrap();
    file
}

fn entries(reply: &Value) -> &Vec<Value> {
    reply["entries"].as_array().expect("entries")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_keeps_sessions_and_chat_history_and_revoking_ends_sessions_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let compose = compose_file(dir.path());
    let mut app = PiHealth::start(&compose, None, &[], false).await;
    let alice = app.sign_in(ALICE).await;
    let bob = app.sign_in(BOB).await;
    alice.chat("hello").await;
    alice
        .chat(&format!("is my sonarr apikey={TYPED_SECRET} right?"))
        .await;
    bob.chat("what can you do?").await;

    let history = alice.get("/api/ops-copilot/history").await;
    let kept = entries(history.expect(200)).clone();
    assert_eq!(kept.len(), 2, "{kept:#?}");
    assert_eq!(kept[0]["message"], "hello");
    let typed = kept[1]["message"].as_str().unwrap();
    assert!(
        !typed.contains(TYPED_SECRET) && typed.contains("[REDACTED]"),
        "{typed}"
    );
    assert!(
        !kept[0]["replies"][0]["content"]
            .as_str()
            .unwrap()
            .is_empty()
    );

    // Started again on the same data directory.
    let data_dir = app.data_dir.clone();
    app.stop();
    let stored = std::fs::read_to_string(data_dir.join("pi-health-sessions.json")).unwrap();
    let alice_id = alice.cookie.split_once('=').unwrap().1;
    assert!(!stored.contains(alice_id), "the cookie's id is not stored");
    let chat_file = std::fs::read_to_string(data_dir.join("pi-health-chat/alice.json")).unwrap();
    assert!(!chat_file.contains(TYPED_SECRET), "{chat_file}");

    let app = PiHealth::start_in(&compose, &data_dir).await;
    let alice = alice.at(&app.base);
    let bob = bob.at(&app.base);
    let history = alice.get("/api/ops-copilot/history").await;
    assert_eq!(entries(history.expect(200)), &kept, "alice's chat survived");
    let bobs = bob.get("/api/ops-copilot/history").await;
    let bobs = entries(bobs.expect(200));
    assert_eq!(bobs.len(), 1, "bob sees only his own: {bobs:#?}");
    assert_eq!(bobs[0]["message"], "what can you do?");
    // A POST with the CSRF token from before the restart still works.
    alice.chat("status").await;

    // Clearing is a POST-like request: without the CSRF token it is refused.
    let no_token = alice
        .send(Method::DELETE, "/api/ops-copilot/history", None, None)
        .await;
    assert_eq!(no_token.status.as_u16(), 403);
    let csrf = alice.csrf.clone();
    let cleared = alice
        .send(
            Method::DELETE,
            "/api/ops-copilot/history",
            Some(&csrf),
            None,
        )
        .await;
    cleared.expect(200);
    let history = alice.get("/api/ops-copilot/history").await;
    assert!(entries(history.expect(200)).is_empty());
    let bobs = bob.get("/api/ops-copilot/history").await;
    assert_eq!(entries(bobs.expect(200)).len(), 1, "bob's is untouched");

    // `user revoke` signs alice out of the running app at once; bob stays.
    let data = data_dir.to_str().unwrap();
    let revoked = run_cli(&["pi-health", "user", "revoke", ALICE.0, "--data-dir", data]);
    assert!(revoked.status.success(), "{}", output_text(&revoked));
    let after = alice.get("/api/ops-copilot/history").await;
    assert_eq!(after.status.as_u16(), 401, "{:?}", after.body);
    bob.get("/api/ops-copilot/history").await.expect(200);
    let nobody = run_cli(&["pi-health", "user", "revoke", "nobody", "--data-dir", data]);
    assert!(!nobody.status.success());
    assert!(
        output_text(&nobody).contains("there is no user \"nobody\""),
        "{}",
        output_text(&nobody)
    );

    // Signing in again works; a new password or another role ends sessions too.
    let alice = app.sign_in(ALICE).await;
    alice.get("/api/ops-copilot/history").await.expect(200);
    let changed = add_user(&data_dir, ALICE.0, ALICE.1);
    assert!(changed.status.success(), "{}", output_text(&changed));
    let after = alice.get("/api/ops-copilot/history").await;
    assert_eq!(after.status.as_u16(), 401);
    let demoted = add_user_as(&data_dir, BOB.0, BOB.1, Some("viewer"));
    assert!(demoted.status.success(), "{}", output_text(&demoted));
    let after = bob.get("/api/ops-copilot/history").await;
    assert_eq!(after.status.as_u16(), 401);
}
