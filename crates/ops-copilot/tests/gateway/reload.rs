//! Editing the files on disk: a valid change takes effect without a restart; an
//! invalid one is refused (with file, line and reason) and the last good one stays.

use std::time::Duration;

use test_support::wait_for;

use crate::support::{ADMIN, Env, Options, STANDARD, output_text, replace, run_cli};

/// A standard user's compose_logs call: its HTTP status.
async fn logs_status(env: &Env) -> u16 {
    env.call(STANDARD, "compose_logs", &env.logs_args("sonarr", 50))
        .await
        .status
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_edits_take_effect_live_and_bad_ones_are_refused() {
    let env = Env::start("gw-reload", &["sonarr"], Options::default()).await;
    assert_eq!(logs_status(&env).await, 200);
    let health = env.health().await;
    assert!(health["refused_config_change"].is_null(), "{health}");
    let first_version = health["config_version"].clone();

    // Deny compose_logs to standard: in force within about 2 s (the gateway looks at
    // the files at most every 0.5 s), without a restart.
    let good = env.policy_text();
    let denied = replace(
        &good,
        r#"deny_tools: ["compose_pull", "compose_up"]"#,
        r#"deny_tools: ["compose_pull", "compose_up", "compose_logs"]"#,
    );
    env.write_policy(&denied);
    wait_for(
        "compose_logs denied to standard",
        Duration::from_secs(3),
        || async {
            match logs_status(&env).await {
                403 => Ok(()),
                other => Err(format!("HTTP {other}")),
            }
        },
    )
    .await;
    // Only for standard: the admin still reads logs.
    env.call(ADMIN, "compose_logs", &env.logs_args("sonarr", 50))
        .await
        .expect(200);
    let health = env.health().await;
    assert_ne!(health["config_version"], first_version, "{health}");
    let good_version = health["config_version"].clone();
    // MCP clients see the new tool list as well.
    let mut session = env.mcp_session(STANDARD).await;
    let tools = session.tool_names().await;
    assert!(!tools.iter().any(|t| t == "compose_logs"), "{tools:?}");
    assert!(tools.iter().any(|t| t == "compose_ps"), "{tools:?}");

    // A broken policy.yaml: refused, the last good configuration stays in force.
    let broken = replace(&denied, "read_timeout_ms: 4000", "read_timeout_ms: soon");
    let line = broken
        .lines()
        .position(|l| l.contains("read_timeout_ms: soon"))
        .unwrap()
        + 1;
    env.write_policy(&broken);
    let refusal = wait_for(
        "the refused change in /health",
        Duration::from_secs(3),
        || async {
            let health = env.health().await;
            match health["refused_config_change"].as_str() {
                Some(reason) => Ok(reason.to_owned()),
                None => Err(health.to_string()),
            }
        },
    )
    .await;
    assert!(refusal.contains("policy.yaml"), "{refusal}");
    let health = env.health().await;
    assert_eq!(health["config_version"], good_version, "{health}");
    env.call(STANDARD, "compose_ps", &env.ps_args())
        .await
        .expect(200);
    assert_eq!(
        logs_status(&env).await,
        403,
        "the last good policy is not in force"
    );

    // `policy check` says which file, which line, and fails.
    let check = run_cli(&[
        "policy",
        "check",
        "--registry",
        env.registry.to_str().unwrap(),
        "--policy",
        env.policy.to_str().unwrap(),
    ]);
    let text = output_text(&check);
    assert!(!check.status.success(), "{text}");
    let place = format!("{}:{line}", env.policy.display());
    assert!(text.contains(&place), "does not name {place}: {text}");

    // Fixed again: taken, and the refusal is cleared.
    env.write_policy(&good);
    wait_for(
        "compose_logs allowed again",
        Duration::from_secs(3),
        || async {
            match logs_status(&env).await {
                200 => Ok(()),
                other => Err(format!("HTTP {other}")),
            }
        },
    )
    .await;
    let health = env.health().await;
    assert!(health["refused_config_change"].is_null(), "{health}");
}
