//! The registry's `transport` and `auth`: the guide's REST form, MCP over Streamable
//! HTTP, MCP over the stdio of a child process, and a bearer token read from a file.

use std::time::Duration;

use test_support::wait_for_sync;

use crate::support::{
    BIN, Env, Options, STANDARD, output_text, registry_with_services, run_cli, yaml_str,
};

async fn compose_ps_works(env: &Env, how: &str) {
    let reply = env.call(STANDARD, "compose_ps", &env.ps_args()).await;
    assert_eq!(
        reply.status,
        200,
        "{how}: {}\n{}",
        reply.body,
        env.gateway_log()
    );
    assert_eq!(reply.body["ok"], true, "{how}: {}", reply.body);
    env.assert_ps_result(&reply.body["result"], &["sonarr"]);
}

fn policy_check(env: &Env) -> std::process::Output {
    run_cli(&[
        "policy",
        "check",
        "--registry",
        env.registry.to_str().unwrap(),
        "--policy",
        env.policy.to_str().unwrap(),
    ])
}

/// Processes whose command line holds all of `needles`.
fn processes_with(needles: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if needles.iter().all(|n| cmdline.contains(n)) {
            found.push(format!(
                "{}: {cmdline}",
                entry.file_name().to_string_lossy()
            ));
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_call_works_over_rest_streamable_http_and_stdio() {
    let mut env = Env::start("gw-transport", &["sonarr"], Options::default()).await;

    // The guide's registry: `transport: http` (REST, POST /tools/{fn}).
    compose_ps_works(&env, "http").await;

    // `auth: { bearer_token_file }`, with docker-mcp checking the same token.
    let token_file = env.dir.join("config/docker-mcp.token");
    std::fs::write(&token_file, "s3cret-token-for-docker-mcp\n").unwrap();
    let base = env.mcp.base.clone();
    let bearer = |token_file: &std::path::Path| {
        registry_with_services(&format!(
            "services:\n  docker-mcp:\n    base_url: {base}\n    transport: http\n    auth: {{ bearer_token_file: {} }}\n",
            yaml_str(token_file.to_str().unwrap())
        ))
    };
    env.stop_gateway();
    env.write_registry(&bearer(&token_file));
    let check = policy_check(&env);
    assert!(check.status.success(), "{}", output_text(&check));
    env.mcp.stop();
    env.mcp.token_file = Some(token_file.clone());
    env.mcp.start_again().await;
    env.start_gateway().await;
    compose_ps_works(&env, "http with a bearer token file").await;
    // Without the token nobody gets past docker-mcp: not a direct caller...
    let direct = test_support::http_client()
        .post(format!("{base}/tools/compose_ps"))
        .json(&env.ps_args())
        .send()
        .await
        .unwrap();
    assert_eq!(direct.status(), reqwest::StatusCode::UNAUTHORIZED);
    let mcp = test_support::http_client()
        .post(format!("{base}/mcp"))
        .header("Accept", "application/json, text/event-stream")
        .json(&serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
        .send()
        .await
        .unwrap();
    assert_eq!(mcp.status(), reqwest::StatusCode::UNAUTHORIZED);
    // Health stays open, for the container's healthcheck.
    let health = test_support::http_client()
        .get(format!("{base}/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), reqwest::StatusCode::OK);
    // ...nor a gateway whose registry does not send it.
    env.stop_gateway();
    env.write_registry(&registry_with_services(&format!(
        "services:\n  docker-mcp:\n    base_url: {base}\n    transport: http\n    auth: none\n"
    )));
    env.start_gateway().await;
    let reply = env.call(STANDARD, "compose_ps", &env.ps_args()).await;
    assert_eq!(reply.status, 502, "{}", reply.body);
    assert!(
        reply.body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("401"),
        "{}",
        reply.body
    );
    env.mcp.stop();
    env.mcp.token_file = None;
    env.mcp.start_again().await;
    // A token file that is missing is refused, naming the file, before anything starts.
    env.stop_gateway();
    let missing = env.dir.join("config/no-such.token");
    env.write_registry(&bearer(&missing));
    let check = policy_check(&env);
    let text = output_text(&check);
    assert!(!check.status.success(), "{text}");
    assert!(
        text.contains("no-such.token") && text.contains("tool_registry.yaml"),
        "{text}"
    );

    // MCP over Streamable HTTP, at docker-mcp's /mcp.
    env.write_registry(&registry_with_services(&format!(
        "services:\n  docker-mcp:\n    base_url: {}/mcp\n    transport: streamable-http\n    auth: none\n",
        env.mcp.base
    )));
    env.start_gateway().await;
    compose_ps_works(&env, "streamable-http").await;
    // Twice: the MCP session is kept and reused.
    compose_ps_works(&env, "streamable-http, again").await;

    // MCP over stdio: the gateway runs docker-mcp as its child. The HTTP docker-mcp is
    // stopped first, so only the child can be answering.
    env.stop_gateway();
    env.mcp.stop();
    let command = [BIN, "docker-mcp", "--stdio", "--compose-file", env.file()]
        .map(yaml_str)
        .join(", ");
    env.write_registry(&registry_with_services(&format!(
        "services:\n  docker-mcp:\n    transport: stdio\n    command: [{command}]\n    auth: none\n"
    )));
    env.start_gateway().await;
    compose_ps_works(&env, "stdio").await;
    compose_ps_works(&env, "stdio, again").await;
    let file = env.file().to_owned();
    assert_eq!(
        processes_with(&["docker-mcp", "--stdio", &file]).len(),
        1,
        "one stdio child for the service"
    );
    // The child does not outlive the gateway, even one that is killed.
    env.stop_gateway();
    wait_for_sync("the stdio child to exit", Duration::from_secs(10), || {
        let left = processes_with(&["docker-mcp", "--stdio", &file]);
        if left.is_empty() {
            Ok(())
        } else {
            Err(format!("{left:?}"))
        }
    });
}
