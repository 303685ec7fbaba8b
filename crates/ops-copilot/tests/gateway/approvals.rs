//! Approval by another principal: an agent may request but never approve; a
//! principal whose role can approve does, once; a denied request stays denied.

use crate::support::{ADMIN, AGENT, Env, Options, STANDARD};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agents_request_runs_only_when_someone_who_may_approve_it_does_so_once() {
    let env = Env::start(
        "gw-approve",
        &["sonarr", "sabnzbd"],
        Options {
            agent: true,
            ..Options::default()
        },
    )
    .await;
    let sonarr_before = env.stack.started_at("sonarr");
    let sabnzbd_before = env.stack.started_at("sabnzbd");
    let restart = env.restart_args("sonarr");

    // The agent asks; it may not approve its own request, in any form.
    let reply = env.call(AGENT, "compose_restart", &restart).await;
    let body = reply.expect(200).clone();
    assert_eq!(body["need_approval"], true, "{body}");
    assert_eq!(body["self_approval"], false, "{body}");
    let id = body["approval_id"]
        .as_str()
        .expect("an approval id")
        .to_owned();
    let reply = env.call_approved(AGENT, "compose_restart", &restart).await;
    reply.expect(403);
    let reply = env.post(AGENT, &format!("/approvals/{id}/approve")).await;
    reply.expect(403);

    // The agent sees its request; so does a standard principal, who can approve it.
    for who in [AGENT, STANDARD, ADMIN] {
        let pending = env.approvals(who).await;
        let mine = pending
            .iter()
            .find(|a| a["id"] == id.as_str())
            .unwrap_or_else(|| panic!("{who} does not see {id}: {pending:?}"));
        assert_eq!(mine["principal"], AGENT);
        assert_eq!(mine["tool"], "compose_restart");
        assert_eq!(mine["args"], restart);
        assert_eq!(mine["status"], "pending");
        assert_eq!(mine["can_approve"], who != AGENT, "{who}: {mine}");
    }
    assert_eq!(
        env.stack.started_at("sonarr"),
        sonarr_before,
        "ran before approval"
    );

    // The standard principal approves it: it runs now.
    let reply = env
        .post(STANDARD, &format!("/approvals/{id}/approve"))
        .await;
    let body = reply.expect(200);
    assert_eq!(body["ok"], true, "{body}");
    assert_eq!(body["tool"], "compose_restart", "{body}");
    let sonarr_after = env.stack.started_at("sonarr");
    assert_ne!(sonarr_after, sonarr_before, "sonarr did not restart");
    assert!(env.stack.is_running("sonarr"));
    assert!(
        !env.approvals(STANDARD)
            .await
            .iter()
            .any(|a| a["id"] == id.as_str()),
        "still pending after approval"
    );

    // Replayed, by the same approver or another: refused, nothing runs.
    for who in [STANDARD, ADMIN] {
        let reply = env.post(who, &format!("/approvals/{id}/approve")).await;
        assert!(
            [409, 429].contains(&reply.status.as_u16()),
            "replay by {who}: {reply:?}"
        );
    }
    // An approval that does not exist.
    env.post(ADMIN, "/approvals/0123456789abcdef01234567/approve")
        .await
        .expect(404);
    assert_eq!(
        env.stack.started_at("sonarr"),
        sonarr_after,
        "a replay restarted sonarr"
    );

    // Deny: the admin denies another request; approving it afterwards is refused.
    let sabnzbd = env.restart_args("sabnzbd");
    let id = env.request_restart(AGENT, "sabnzbd").await;
    let reply = env.post(ADMIN, &format!("/approvals/{id}/deny")).await;
    let body = reply.expect(200);
    assert_eq!(body["denied"], true, "{body}");
    assert_eq!(body["approval"]["status"], "denied", "{body}");
    assert_eq!(body["approval"]["decided_by"], ADMIN, "{body}");
    for who in [STANDARD, ADMIN] {
        let reply = env.post(who, &format!("/approvals/{id}/approve")).await;
        reply.expect(409);
    }
    // Nor can it be brought back by calling again with "approved": true.
    env.call_approved(AGENT, "compose_restart", &sabnzbd)
        .await
        .expect(403);
    assert!(
        !env.approvals(ADMIN)
            .await
            .iter()
            .any(|a| a["id"] == id.as_str()),
        "a denied approval is listed as pending"
    );
    assert_eq!(
        env.stack.started_at("sabnzbd"),
        sabnzbd_before,
        "a denied restart ran"
    );
}
