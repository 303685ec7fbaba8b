//! Every refusal of `/chat/tool`, each bypass attempt, and that none of them changes
//! anything on the Engine.

use reqwest::Method;
use reqwest::header::RETRY_AFTER;
use serde_json::json;

use crate::support::{ADMIN, Env, GUIDE_FILE, Options, STANDARD};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_are_the_guides_and_change_nothing() {
    let env = Env::start("gw-refuse", &["sonarr"], Options::default()).await;
    let before = env.stack.started_at("sonarr");
    let restart = env.restart_args("sonarr");
    let body = json!({ "tool": "compose_restart", "args": restart, "approved": true });

    // Who is calling.
    let reply = env
        .send(Method::POST, "/chat/tool", None, Some(&body))
        .await;
    reply.expect(401);
    assert!(reply.headers.contains_key("www-authenticate"), "{reply:?}");
    let wrong = format!("{}x", env.token(STANDARD));
    for authorization in [
        "Bearer oct_0000000000000000000000000000000000000000000000000000000000000000",
        &format!("Bearer {wrong}"),
        &format!("Basic {}", env.token(STANDARD)),
        env.token(STANDARD),
    ] {
        env.send(Method::POST, "/chat/tool", Some(authorization), Some(&body))
            .await
            .expect(401);
    }
    for path in ["/approvals", "/audit"] {
        env.send(Method::GET, path, None, None).await.expect(401);
    }

    // Unknown tool.
    for tool in ["docker_exec", "compose_restart ", "COMPOSE_RESTART", ""] {
        let reply = env.call(STANDARD, tool, &restart).await;
        reply.expect(400);
        assert_eq!(reply.detail(), "Unknown tool", "{tool:?}: {}", reply.body);
    }

    // Bad args: the compose file is locked, names are plain, the tail is bounded.
    let file = env.file();
    let dir = env.stack.dir().display().to_string();
    let bad_restarts = [
        json!({ "file": GUIDE_FILE, "service": "sonarr" }),
        json!({ "file": "/etc/passwd", "service": "sonarr" }),
        json!({ "file": format!("{dir}/../{}/docker-compose.yml", env.stack.project()), "service": "sonarr" }),
        json!({ "file": format!("{file} "), "service": "sonarr" }),
        json!({ "file": file, "service": "sonarr; rm -rf /" }),
        json!({ "file": file, "service": "../sonarr" }),
        json!({ "file": file, "service": "../../etc" }),
        // A Cyrillic "о" (U+043E) in place of the Latin "o".
        json!({ "file": file, "service": "s\u{043e}narr" }),
        json!({ "file": file, "service": "sonarr\n" }),
        json!({ "file": file, "service": "" }),
        json!({ "file": file, "service": ["sonarr"] }),
        json!({ "file": file }),
        json!({ "service": "sonarr" }),
        json!({ "file": file, "service": "sonarr", "force": true }),
        json!("sonarr"),
    ];
    for args in &bad_restarts {
        for approved in [false, true] {
            let reply = env
                .chat_tool(
                    STANDARD,
                    &json!({ "tool": "compose_restart", "args": args, "approved": approved }),
                )
                .await;
            reply.expect(400);
            assert!(
                reply.detail().starts_with("Bad args"),
                "{args}: {}",
                reply.body
            );
        }
    }
    for args in [
        env.logs_args("sabnzbd", 10),
        env.logs_args("sabnzbd", 501),
        json!({ "file": file, "service": "sabnzbd", "tail": "150" }),
        json!({ "file": file, "service": "sab/../nzbd", "tail": 150 }),
        json!({ "file": GUIDE_FILE, "service": "sabnzbd", "tail": 150 }),
    ] {
        let reply = env.call(STANDARD, "compose_logs", &args).await;
        reply.expect(400);
        assert!(
            reply.detail().starts_with("Bad args"),
            "{args}: {}",
            reply.body
        );
    }

    // Role: compose_pull and compose_up are admin-only, and denied to standard.
    for tool in ["compose_pull", "compose_up"] {
        for approved in [false, true] {
            let reply = env
                .chat_tool(
                    STANDARD,
                    &json!({ "tool": tool, "args": env.ps_args(), "approved": approved }),
                )
                .await;
            reply.expect(403);
        }
    }
    // The role comes from the token, never from the body.
    for (tool, args) in [
        ("compose_ps", env.ps_args()),
        ("compose_pull", env.ps_args()),
        ("compose_restart", restart.clone()),
    ] {
        let reply = env
            .chat_tool(
                STANDARD,
                &json!({ "tool": tool, "args": args, "role": "admin", "approved": true }),
            )
            .await;
        reply.expect(403);
    }
    // A role in the body that matches the token is harmless.
    env.chat_tool(
        STANDARD,
        &json!({ "tool": "compose_ps", "args": env.ps_args(), "role": "standard" }),
    )
    .await
    .expect(200);
    // Not JSON, or not the contract's shape.
    let reply = env
        .send(
            Method::POST,
            "/chat/tool",
            Some(&env.bearer(STANDARD)),
            Some(&json!({ "tool": "compose_ps", "args": env.ps_args(), "extra": 1 })),
        )
        .await;
    reply.expect(400);

    assert_eq!(
        env.stack.started_at("sonarr"),
        before,
        "a refused call restarted sonarr"
    );
    // No refusal left an approval behind.
    assert!(env.approvals(ADMIN).await.is_empty());

    // An approval is bound to the exact arguments and to who asked: swapping the
    // service, or borrowing someone else's approval, is refused.
    let radarr = env.restart_args("radarr");
    let radarr_id = env.request_restart(STANDARD, "radarr").await;
    let reply = env
        .chat_tool(
            STANDARD,
            &json!({ "tool": "compose_restart", "args": restart, "approved": true, "approval_id": radarr_id }),
        )
        .await;
    reply.expect(409);
    let reply = env
        .chat_tool(
            ADMIN,
            &json!({ "tool": "compose_restart", "args": radarr, "approved": true, "approval_id": radarr_id }),
        )
        .await;
    reply.expect(403);
    let pending = env.approvals(ADMIN).await;
    assert!(
        pending.iter().any(|a| a["id"] == radarr_id.as_str()),
        "a refused use consumed the approval: {pending:?}"
    );

    // Cooldown: a restart that ran starts it; another one right after is refused.
    env.request_restart(STANDARD, "sonarr").await;
    env.call_approved(STANDARD, "compose_restart", &restart)
        .await
        .expect(200);
    let restarted = env.stack.started_at("sonarr");
    assert_ne!(restarted, before, "the approved restart did not run");
    for approved in [false, true] {
        let reply = env
            .chat_tool(
                STANDARD,
                &json!({ "tool": "compose_restart", "args": restart, "approved": approved }),
            )
            .await;
        reply.expect(429);
        let seconds = reply.body["retry_after_seconds"]
            .as_u64()
            .unwrap_or_else(|| panic!("no retry_after_seconds: {}", reply.body));
        assert!(
            (290..=300).contains(&seconds),
            "the guide's 300 s cooldown: {seconds}"
        );
        let header: u64 = reply
            .headers
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no Retry-After header: {reply:?}"));
        assert_eq!(header, seconds);
    }
    // The admin is held by the same cooldown (it is per service, not per principal).
    env.call_approved(ADMIN, "compose_restart", &restart)
        .await
        .expect(429);
    assert_eq!(
        env.stack.started_at("sonarr"),
        restarted,
        "a refused restart ran"
    );
}
