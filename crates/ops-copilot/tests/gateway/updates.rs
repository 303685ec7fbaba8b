//! compose_updates and compose_update through the gateway, registered as `all`
//! and the deployment register them (deploy/config/): the check is a read
//! every role may call; the update is an admin's, and only with an approval.

use serde_json::json;

use crate::support::{ADMIN, Env, Options, STANDARD};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_check_is_a_read_for_everyone_and_the_update_an_approved_admin_action() {
    let env = Env::start(
        "gw-updates",
        &["sonarr"],
        Options {
            adapted_config: true,
            ..Options::default()
        },
    )
    .await;
    let file = env.stack.file_str();

    // A read: executed at once for either role, with the contract's fields.
    for who in [STANDARD, ADMIN] {
        let reply = env
            .call(
                who,
                "compose_updates",
                &json!({ "file": file, "service": "sonarr" }),
            )
            .await;
        let body = reply.expect(200);
        let sonarr = &body["result"]["services"][0];
        assert_eq!(sonarr["service"], "sonarr", "{body}");
        // The test images were pushed from this machine: what the registry holds.
        assert_eq!(sonarr["status"], "up_to_date", "{body}");
    }
    // Its schema holds: no other argument, no other file.
    let reply = env
        .call(
            STANDARD,
            "compose_updates",
            &json!({ "file": file, "pull": true }),
        )
        .await;
    assert_eq!(reply.body["code"], "bad_args", "{}", reply.body);

    // The update: refused for the standard role, a request for approval for an admin.
    let args = json!({ "file": file, "service": "sonarr" });
    let refused = env.call(STANDARD, "compose_update", &args).await;
    assert_eq!(refused.body["code"], "not_authorized", "{}", refused.body);
    refused.expect(403);
    let requested = env.call(ADMIN, "compose_update", &args).await;
    let body = requested.expect(200);
    assert_eq!(body["need_approval"], true, "{body}");
    assert!(
        body["approval_id"]
            .as_str()
            .is_some_and(|id| !id.is_empty()),
        "{body}"
    );
}
