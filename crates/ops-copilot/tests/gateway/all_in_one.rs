//! `ops-copilot all`: both planes in one process on the embedded defaults,
//! still talking over HTTP, with docker-mcp answering only the gateway.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use test_support::{Process, Stack, free_port, http_client};

use crate::support::bin_command;
use crate::webhook::Webhook;

fn start(
    stack: &Stack,
    data: &std::path::Path,
    (web, gateway, mcp): (u16, u16, u16),
    log: &str,
) -> Process {
    let mut command = bin_command();
    command
        .current_dir(data.parent().unwrap())
        .arg("all")
        .arg("--compose-file")
        .arg(stack.file())
        .arg("--data-dir")
        .arg(data)
        .arg("--listen")
        .arg(format!("127.0.0.1:{web}"))
        .arg("--thermal-dir")
        .arg(data.parent().unwrap())
        .arg("--gateway-listen")
        .arg(format!("127.0.0.1:{gateway}"))
        .arg("--docker-mcp-listen")
        .arg(format!("127.0.0.1:{mcp}"));
    Process::spawn(
        "ops-copilot all",
        command,
        &data.parent().unwrap().join(log),
    )
}

fn admin_token(log: &str) -> Option<String> {
    log.split_whitespace()
        .find(|w| w.starts_with("oct_") && w.len() == 68)
        .map(str::to_owned)
}

fn answers_ok(status: StatusCode) -> bool {
    status == StatusCode::OK
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_runs_both_planes_and_docker_mcp_answers_only_the_gateway() {
    let stack = Stack::arr("all");
    stack.up(&["sonarr"]);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (web_port, gateway_port, mcp_port) = (free_port(), free_port(), free_port());
    let ports = (web_port, gateway_port, mcp_port);
    let mut all = start(&stack, &data, ports, "all-1.log");
    all.wait_until_http(
        &format!("http://127.0.0.1:{gateway_port}/health"),
        answers_ok,
        Duration::from_secs(30),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", all.log()));
    let token =
        admin_token(&all.log()).unwrap_or_else(|| panic!("no admin token printed:\n{}", all.log()));
    let client = http_client();
    let chat = |token: String| {
        let client = client.clone();
        let file = stack.file_str().to_owned();
        async move {
            client
                .post(format!("http://127.0.0.1:{gateway_port}/chat/tool"))
                .bearer_auth(token)
                .json(&json!({"tool": "compose_ps", "args": {"file": file}}))
                .send()
                .await
                .unwrap()
        }
    };
    let reply = chat(token.clone()).await;
    assert_eq!(reply.status(), StatusCode::OK);
    let body: serde_json::Value = reply.json().await.unwrap();
    assert_eq!(body["result"]["project"], stack.project(), "{body}");

    // It speaks first too: notify.yaml, added next to the policy `all` wrote, is
    // taken at once; a service that exits with an error and a disk over the
    // threshold are told (docker-mcp's service events reach the gateway in-process).
    let hook = Webhook::start().await;
    std::fs::write(
        data.join("config/notify.yaml"),
        format!(
            "host: {{ disk_percent: 1, temperature_celsius: off }}\ntargets:\n  - webhook: {{ url: {:?} }}\n",
            hook.url
        ),
    )
    .unwrap();
    hook.wait_for("host_disk", None, Duration::from_secs(90))
        .await;
    stack.up(&["recyclarr"]);
    let exited = hook
        .wait_for("exited_error", Some("recyclarr"), Duration::from_secs(60))
        .await;
    assert!(
        exited["message"]
            .as_str()
            .is_some_and(|m| m.contains("exit code 3")),
        "{exited:#}"
    );

    // The web app is up, with a sign-in made on first start.
    assert!(
        all.log()
            .contains("created the user admin with the password"),
        "{}",
        all.log()
    );
    let page = client
        .get(format!("http://127.0.0.1:{web_port}/login"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let chat_page = client
        .get(format!("http://127.0.0.1:{web_port}/api/system-stats"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        chat_page.status(),
        StatusCode::UNAUTHORIZED,
        "the app is protected"
    );

    // The commands the first start printed work as printed, from another directory.
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    let printed = |what: &str| {
        all.log()
            .lines()
            .find(|l| l.starts_with("  ") && l.contains(what))
            .map(|l| l.trim().to_owned())
            .unwrap_or_else(|| panic!("no `{what}` command printed:\n{}", all.log()))
    };
    let shell = |line: &str, stdin: &str| {
        let mut child = std::process::Command::new("sh")
            .arg("-c")
            .arg(line)
            .current_dir(&elsewhere)
            .env_remove("OPS_COPILOT_DATA_DIR")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), stdin.as_bytes()).unwrap();
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "{line}: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    };
    let token_add = printed(" gateway token add ");
    let alice = shell(&token_add, "");
    assert!(alice.starts_with("oct_"), "{token_add} printed {alice:?}");
    let user_add = printed(" pi-health user add ");
    shell(&user_add, "a-new-password-for-admin\n");
    let users = std::fs::read_to_string(data.join("pi-health-users.json")).unwrap();
    assert!(users.contains("\"admin\""), "{users}");

    // docker-mcp is there, but only for the gateway.
    let direct = client
        .post(format!("http://127.0.0.1:{mcp_port}/tools/docker_ps"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(direct.status(), StatusCode::UNAUTHORIZED);
    // Its /health says ok to anyone, and what it serves only to the token's holder.
    let health = |token: Option<String>| {
        let client = client.clone();
        async move {
            let mut request = client.get(format!("http://127.0.0.1:{mcp_port}/health"));
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            let reply = request.send().await.unwrap();
            let status = reply.status();
            (status, reply.json::<serde_json::Value>().await.unwrap())
        }
    };
    let (status, anyone) = health(None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(anyone, json!({"status": "ok"}), "told anyone: {anyone}");
    let internal = std::fs::read_to_string(data.join("docker-mcp.token")).unwrap();
    let (_, gateway_view) = health(Some(internal.trim().to_owned())).await;
    assert_eq!(
        gateway_view["compose"]["project"],
        stack.project(),
        "{gateway_view}"
    );

    // A graceful stop, then a second start on the same data: no new token, the old one works.
    let pid = all.id().to_string();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    let stopped =
        test_support::wait_for_sync("all to exit on SIGTERM", Duration::from_secs(10), || {
            all.exited().ok_or_else(|| "still running".to_owned())
        });
    assert!(stopped.success(), "{stopped:?}\n{}", all.log());
    let mut again = start(&stack, &data, ports, "all-2.log");
    again
        .wait_until_http(
            &format!("http://127.0.0.1:{gateway_port}/health"),
            answers_ok,
            Duration::from_secs(30),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", again.log()));
    assert_eq!(
        admin_token(&again.log()),
        None,
        "a second token was printed"
    );
    assert_eq!(chat(token).await.status(), StatusCode::OK);
    // Stopped gracefully: a kill could land between a record's commit and its
    // witness line, and a record after the newest witnessed head can be cut
    // undetected (the witness's documented limit), which is not what is tested here.
    let pid = again.id().to_string();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    let stopped = test_support::wait_for_sync(
        "all to exit on SIGTERM again",
        Duration::from_secs(10),
        || again.exited().ok_or_else(|| "still running".to_owned()),
    );
    assert!(stopped.success(), "{stopped:?}\n{}", again.log());

    // Nothing half-written: the audit log verifies.
    let verify = bin_command()
        .args(["audit", "verify", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );

    // Sealed and witnessed from beside the data directory, not in it; the initial key
    // was written once for the operator to move offline, and proves every seal.
    let key_file = dir.path().join("data.audit-key");
    assert!(
        key_file.is_file(),
        "no sealing key beside the data directory"
    );
    assert!(
        dir.path().join("data.audit-witness").is_file(),
        "no witness"
    );
    let initial = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().contains("data.audit-key.initial."))
        .expect("the initial key beside the key file");
    let verify = bin_command()
        .args(["audit", "verify", "--data-dir"])
        .arg(&data)
        .arg("--key-file")
        .arg(&initial)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&verify.stdout);
    assert!(verify.status.success(), "{text}");
    assert!(
        text.contains("proven: every sealed record checked"),
        "{text}"
    );
    assert!(text.contains("heads the witness"), "{text}");

    // Someone with write access to the data directory cuts the newest record (the
    // only one, here: then the log is wiped) and rewrites the head anchor to match: the chain and the anchor agree, every seal
    // left is genuine, and the witness beside the data directory still tells.
    let db = data.join("audit.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute(
        "DELETE FROM audit_log WHERE seq = (SELECT max(seq) FROM audit_log)",
        [],
    )
    .unwrap();
    let (seq, hash): (i64, String) = conn
        .query_row(
            "SELECT seq, hash FROM audit_log UNION ALL SELECT 0, ?1 ORDER BY 1 DESC LIMIT 1",
            [audit::GENESIS_HASH],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    drop(conn);
    std::fs::write(
        data.join("audit.db.head"),
        format!("ops-copilot-audit-head v1 {seq} {hash}\n"),
    )
    .unwrap();
    let verify = bin_command()
        .args(["audit", "verify", "--data-dir"])
        .arg(&data)
        .arg("--key-file")
        .arg(&initial)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&verify.stdout);
    assert!(!verify.status.success(), "a cut tail passed: {text}");
    assert!(
        text.contains("TAMPERED: ") && text.contains("heads recorded by the witness"),
        "{text}"
    );
}
