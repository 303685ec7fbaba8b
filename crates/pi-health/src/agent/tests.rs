//! The planner glue: which tools run for which question, what the answer says,
//! what becomes a suggestion, and the approval flow, against a stand-in gateway
//! (the real one is exercised by the binary's end-to-end tests).

use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

use super::*;
use crate::planner::Action;

pub(super) const FILE: &str = "/opt/stack/docker-compose.yml";

pub(super) fn compose_ps() -> Value {
    json!({"project": "arr", "file": FILE, "services": [
        {"service": "sonarr", "declared": true, "state": "running", "containers": [{"status": "Up 2 minutes", "state": "running"}]},
        {"service": "radarr", "declared": true, "state": "running", "health": "healthy", "containers": [{"status": "Up 2 minutes (healthy)"}]},
        {"service": "prowlarr", "declared": true, "state": "running", "health": "unhealthy", "containers": []},
        {"service": "recyclarr", "declared": true, "state": "exited", "containers": [{"exit_code": 3}]}
    ]})
}

/// What the fake `compose_diagnose` says: prowlarr's probe fails, recyclarr
/// exited, radarr crash-loops, and sonarr's answer is not the contract's.
fn diagnosis_of(service: &str) -> Value {
    use ops_core::contract::Verdict;
    let verdict = match service {
        "prowlarr" => Verdict::UnhealthyProbe,
        "recyclarr" => Verdict::ExitedError,
        "radarr" => Verdict::CrashLoop,
        _ => return json!({"service": service, "verdict": "fine, probably"}),
    };
    serde_json::to_value(super::diagnosis::sample(service, verdict)).unwrap()
}

#[derive(Clone, Default)]
pub(super) struct Fake {
    pub(super) calls: Arc<Mutex<Vec<Value>>>,
    /// What a mutating call answers once approved.
    pub(super) fail_execution: bool,
    pub(super) refuse_mutation: bool,
    /// What `compose_logs` answers, when not the default lines.
    pub(super) logs: Option<String>,
}

impl Fake {
    fn answer(&self, body: Value) -> Response {
        self.calls.lock().unwrap().push(body.clone());
        let tool = body["tool"].as_str().unwrap_or_default();
        match tool {
            "compose_ps" => Json(json!({"ok": true, "tool": tool, "result": compose_ps()})).into_response(),
            "docker_ps" => Json(json!({"ok": true, "tool": tool, "result": {"containers": [
                {"name": "a", "state": "running"}, {"name": "b", "state": "running"}
            ], "count": 2}})).into_response(),
            "compose_logs" => Json(json!({"ok": true, "tool": tool, "result": {
                "service": body["args"]["service"],
                "logs": self.logs.as_deref().unwrap_or("started\n<script>alert(1)</script>\napikey=[REDACTED]\n")
            }})).into_response(),
            "compose_diagnose" => {
                let service = body["args"]["service"].as_str().unwrap_or_default();
                Json(json!({"ok": true, "tool": tool, "result": diagnosis_of(service)})).into_response()
            }
            "compose_restart" | "compose_start" | "compose_stop" => {
                if self.refuse_mutation && body["approved"] == true {
                    return (StatusCode::TOO_MANY_REQUESTS, Json(json!({"detail": "cooldown: 120 s left", "code": "cooldown", "retry_after_seconds": 120}))).into_response();
                }
                if body["approved"] != true {
                    return Json(json!({"need_approval": true, "tool": tool, "args": body["args"], "approval_id": "appr-1", "expires_at_ms": 1, "self_approval": true, "rationale": "mutating", "how_to_approve": "..."})).into_response();
                }
                if self.fail_execution {
                    return (StatusCode::BAD_GATEWAY, Json(json!({"detail": "restarted, but it exited again with code 1 after 3 s: ERROR: database is locked", "code": "mcp_failed"}))).into_response();
                }
                Json(json!({"ok": true, "tool": tool, "result": {"service": body["args"]["service"], "containers": [
                    {"name": "arr-sonarr-1", "outcome": "restarted", "state": "running"}
                ]}})).into_response()
            }
            _ => (StatusCode::BAD_REQUEST, Json(json!({"detail": "Unknown tool", "code": "unknown_tool"}))).into_response(),
        }
    }

    /// `POST /approvals/{id}/approve`: the approval the fake made (`appr-1`, for
    /// the last action requested) runs as that call, approved.
    fn approve(&self, id: &str) -> Response {
        let requested = self
            .calls
            .lock()
            .unwrap()
            .iter()
            .rev()
            .find(|c| {
                c["tool"].as_str().is_some_and(|t| {
                    t.starts_with("compose_") && t != "compose_ps" && t != "compose_logs"
                })
            })
            .cloned();
        match requested {
            Some(call) if id == "appr-1" => self.answer(json!({
                "tool": call["tool"], "args": call["args"], "approved": true, "approval_id": id
            })),
            _ => (
                StatusCode::NOT_FOUND,
                Json(json!({"detail": "no such approval", "code": "unknown_approval"})),
            )
                .into_response(),
        }
    }

    pub(super) async fn serve(self) -> String {
        let approver = self.clone();
        let auditor = self.clone();
        let app = axum::Router::new()
            .route(
                "/chat/tool",
                post(move |Json(body): Json<Value>| {
                    let fake = self.clone();
                    async move { fake.answer(body) }
                }),
            )
            .route(
                "/audit",
                axum::routing::get(move |query: axum::extract::RawQuery| {
                    let fake = auditor.clone();
                    async move {
                        fake.calls.lock().unwrap().push(json!({"audit": query.0}));
                        Json(json!({"records": [
                            {"time": "2026-12-01T10:05:00.000Z", "principal": "pi-health", "on_behalf_of": "alice",
                             "tool": "compose_restart", "args": {"file": FILE, "service": "sonarr"},
                             "decision": "executed", "approver": "alice"},
                            {"time": "2026-12-01T10:04:00.000Z", "principal": "pi-health", "on_behalf_of": "alice",
                             "tool": "compose_ps", "args": {"file": FILE}, "decision": "executed"}
                        ]}))
                    }
                }),
            )
            .route(
                "/approvals/{id}/approve",
                post(move |Path(id): Path<String>| {
                    let fake = approver.clone();
                    async move { fake.approve(&id) }
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        base
    }

    /// The tools that ran: reads, and actions only once approved (a request for
    /// approval runs nothing).
    pub(super) fn tools_called(&self) -> Vec<String> {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|c| {
                let tool = c["tool"].as_str().unwrap_or_default();
                !["compose_restart", "compose_start", "compose_stop"].contains(&tool)
                    || c["approved"] == true
            })
            .map(|c| c["tool"].as_str().unwrap_or_default().to_owned())
            .collect()
    }
}

pub(super) fn settings(base: Option<String>, compose_file: &str) -> GatewaySettings {
    GatewaySettings {
        base_url: base,
        token: Some("t".into()),
        compose_file: compose_file.into(),
        read_timeout: Duration::from_secs(2),
        write_timeout: Duration::from_secs(5),
    }
}

pub(super) fn agent(base: Option<String>, compose_file: &str) -> Agent {
    let thermal = std::env::temp_dir().join("pi-health-tests-no-thermal");
    Agent::new(&settings(base, compose_file), HostProbe::new(thermal))
}

/// An agent in front of a default fake gateway, and the fake.
async fn served() -> (Fake, Agent) {
    let fake = Fake::default();
    let agent = agent(Some(fake.clone().serve().await), FILE);
    (fake, agent)
}

pub(super) fn content(chat: &Chat) -> &str {
    &chat.reply.messages[0].content
}

#[tokio::test]
async fn docker_status_runs_docker_ps_and_compose_ps_and_names_the_counts() {
    let (fake, agent) = served().await;
    let chat = agent.chat("What is the Docker status?").await;
    assert_eq!(chat.reply.tools, ["docker_status"]);
    assert_eq!(chat.reply.model, "built-in planner");
    assert_eq!(chat.reply.messages[0].role, "assistant");
    let text = content(&chat);
    assert!(text.contains("3 of 4 services running"), "{text}");
    assert!(text.contains("unhealthy: prowlarr"), "{text}");
    assert!(
        text.contains("2 containers are running on the host"),
        "{text}"
    );
    assert!(!text.contains("warning"), "{text}");
    assert!(chat.planned.is_empty());
    let called = fake.tools_called();
    assert!(called.contains(&"docker_ps".to_owned()), "{called:?}");
    assert!(called.contains(&"compose_ps".to_owned()), "{called:?}");
    assert!(
        fake.calls
            .lock()
            .unwrap()
            .iter()
            .all(|c| c.get("approved").is_none()),
        "a read is never approved"
    );
}

/// The tools called with approval requests (mutating calls not approved).
fn requested(fake: &Fake) -> Vec<(String, String)> {
    fake.calls
        .lock()
        .unwrap()
        .iter()
        .filter(|c| {
            ["compose_restart", "compose_start", "compose_stop"]
                .contains(&c["tool"].as_str().unwrap_or_default())
                && c["approved"] != true
        })
        .map(|c| {
            (
                c["tool"].as_str().unwrap_or_default().to_owned(),
                c["args"]["service"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn questions_about_a_service_answer_about_it_and_never_suggest() {
    let (fake, agent) = served().await;
    for message in [
        "is prowlarr down?",
        "did recyclarr stop?",
        "is radar running?",
    ] {
        let chat = agent.chat(message).await;
        assert!(chat.planned.is_empty(), "{message}: {:?}", chat.planned);
        assert!(chat.reply.messages.iter().all(|m| m.suggestion.is_none()));
    }
    assert!(requested(&fake).is_empty(), "{:?}", requested(&fake));
    let text = content(&agent.chat("is recyclarr down?").await).to_owned();
    assert!(
        text.contains("exited (3): the program failed with its own error code 3"),
        "{text}"
    );
    assert!(!text.contains("sonarr"), "about recyclarr only: {text}");
    let near = content(&agent.chat("is radar running?").await).to_owned();
    assert!(
        near.contains("I took \u{201c}radar\u{201d} to mean radarr."),
        "{near}"
    );
    let plex = content(&agent.chat("is plex running?").await).to_owned();
    assert!(plex.contains("There is no plex in this stack."), "{plex}");
}

#[tokio::test]
async fn why_runs_the_diagnosis_and_offers_only_the_action_that_helps() {
    let (_fake, agent) = served().await;
    let probe = agent.chat("why is prowlarr unhealthy?").await;
    assert!(probe.reply.tools.contains(&"compose_diagnose".to_owned()));
    let text = content(&probe);
    assert!(text.contains("prowlarr evidence summary."), "{text}");
    assert!(
        text.contains("ERROR: prowlarr cannot open its database"),
        "{text}"
    );
    assert_eq!(probe.planned.len(), 1);
    assert_eq!(probe.planned[0].action, Action::Restart);

    let looping = agent.chat("why does radarr keep restarting").await;
    assert!(
        looping.planned.is_empty(),
        "a crash loop gets no restart card"
    );
    assert!(content(&looping).contains("A restart will not help"));

    let malformed = agent.chat("what happened to sonarr?").await;
    assert!(malformed.planned.is_empty());
    let text = content(&malformed);
    assert!(text.contains("I could not read the diagnosis"), "{text}");
    assert!(
        text.contains("<strong>sonarr</strong>: running"),
        "compose_ps still answers: {text}"
    );

    let all = agent.chat("what's wrong?").await;
    let text = content(&all);
    assert!(text.contains("2 services with a problem"), "{text}");
    assert!(text.contains("prowlarr evidence summary."), "{text}");
    assert!(text.contains("recyclarr evidence summary."), "{text}");
    let actions: Vec<(Action, &str)> = all
        .planned
        .iter()
        .map(|p| (p.action, p.service.as_str()))
        .collect();
    assert_eq!(
        actions,
        [(Action::Restart, "prowlarr"), (Action::Start, "recyclarr")]
    );
}

#[tokio::test]
async fn several_services_get_one_card_each_and_everything_is_spelled_out() {
    let (fake, agent) = served().await;
    let two = agent.chat("restart sonarr and radarr").await;
    assert_eq!(two.planned.len(), 2);
    assert_eq!(two.reply.messages.len(), 2);
    assert!(two.reply.messages.iter().all(|m| m.suggestion.is_some()));
    assert_eq!(
        requested(&fake),
        [
            ("compose_restart".to_owned(), "sonarr".to_owned()),
            ("compose_restart".to_owned(), "radarr".to_owned())
        ]
    );

    let everything = agent.chat("restart everything").await;
    let services: Vec<&str> = everything
        .planned
        .iter()
        .map(|p| p.service.as_str())
        .collect();
    assert_eq!(
        services,
        ["sonarr", "radarr", "prowlarr"],
        "the running ones"
    );
    assert!(
        content(&everything).contains("would touch 3 of the 4 services"),
        "{}",
        content(&everything)
    );
    let start = agent.chat("start everything").await;
    assert_eq!(start.planned.len(), 1);
    assert_eq!(start.planned[0].service, "recyclarr");

    let near = agent.chat("restart radar").await;
    assert!(
        near.planned.is_empty(),
        "a near miss in an order is asked about"
    );
    assert!(content(&near).contains("Did you mean radarr?"));
}

#[tokio::test]
async fn history_tells_the_days_actions_from_the_audit_log() {
    let (fake, agent) = served().await;
    let chat = agent.chat("what did you do today?").await;
    assert_eq!(chat.reply.tools, ["audit"]);
    let text = content(&chat);
    assert!(text.contains("1 action today"), "{text}");
    assert!(text.contains("restart sonarr by alice: executed"), "{text}");
    let asked = fake
        .calls
        .lock()
        .unwrap()
        .iter()
        .find_map(|c| c.get("audit").cloned())
        .expect("GET /audit");
    assert!(
        asked.as_str().unwrap_or_default().contains("since="),
        "{asked}"
    );
    assert!(chat.planned.is_empty());
}

#[tokio::test]
async fn an_action_becomes_a_suggestion_and_nothing_runs() {
    let (fake, agent) = served().await;
    let chat = agent
        .chat("Sonarr queue looks stuck, can you restart it?")
        .await;
    let planned = chat.planned.first().cloned().expect("a suggestion");
    assert_eq!(planned.action, Action::Restart);
    assert_eq!(planned.service, "sonarr");
    let suggestion = chat.reply.messages[0].suggestion.as_ref().unwrap();
    assert_eq!(suggestion, &planned.suggestion);
    assert_eq!(suggestion.cta_label, "Approve Restart");
    assert_eq!(suggestion.action, "restart_container");
    assert_eq!(
        suggestion.command,
        format!("docker compose -f {FILE} restart sonarr")
    );
    assert!(suggestion.description.contains("running, Up 2 minutes"));
    assert_eq!(chat.reply.tools, ["docker_actions"]);
    assert!(
        !fake
            .tools_called()
            .iter()
            .any(|t| t.starts_with("compose_re")),
        "suggesting must not execute: {:?}",
        fake.tools_called()
    );

    // Only declared services: an unknown one is named back, escaped.
    let unknown = agent.chat("restart <b>plex</b>").await;
    assert!(unknown.planned.is_empty());
    assert!(content(&unknown).contains("sonarr, radarr, prowlarr, recyclarr"));
}

#[tokio::test]
async fn approval_runs_the_gateways_flow_and_reports_the_real_outcome() {
    let (fake, agent) = served().await;
    let planned = agent
        .chat("restart sonarr")
        .await
        .planned
        .into_iter()
        .next()
        .unwrap();
    let reply = agent.approve(&planned).await;
    assert!(reply.is_success(), "{reply:?}");
    assert!(
        reply.result.contains("compose_restart sonarr succeeded"),
        "{reply:?}"
    );
    assert_eq!(reply.approval_id.as_deref(), Some("appr-1"));
    assert_eq!(
        reply.followup.as_deref(),
        Some("sonarr is now running, Up 2 minutes.")
    );
    let calls = fake.calls.lock().unwrap().clone();
    let mutating: Vec<&Value> = calls
        .iter()
        .filter(|c| c["tool"] == "compose_restart")
        .collect();
    assert_eq!(mutating.len(), 2, "{calls:?}");
    assert_eq!(
        mutating[0]["args"],
        json!({"file": FILE, "service": "sonarr"})
    );
    // The request when suggested, then the approval of exactly that at the gateway.
    assert!(mutating[0].get("approved").is_none());
    assert_eq!(planned.approval_id.as_deref(), Some("appr-1"));
    assert_eq!(
        planned.suggestion.id, "appr-1",
        "the card carries the gateway's id"
    );
    assert_eq!(mutating[1]["approved"], true);
    assert_eq!(mutating[1]["approval_id"], "appr-1");
    assert_eq!(mutating[1]["args"], mutating[0]["args"]);

    let failing = Fake {
        fail_execution: true,
        ..Fake::default()
    };
    let agent2 = super::Agent::new(
        &settings(Some(failing.serve().await), FILE),
        HostProbe::default(),
    );
    let planned2 = agent2
        .chat("restart sonarr")
        .await
        .planned
        .into_iter()
        .next()
        .unwrap();
    let reply = agent2.approve(&planned2).await;
    assert_eq!(reply.status, approve::Status::Error, "{reply:?}");
    assert!(reply.result.contains("failed"), "{reply:?}");
    assert!(
        reply
            .result
            .contains("exited again with code 1 after 3 s: ERROR: database is locked"),
        "a verified restart's failure is said as it is: {reply:?}"
    );
    assert!(
        !reply.result.contains("mcp_failed"),
        "in words, not the gateway's code: {reply:?}"
    );

    let refusing = Fake {
        refuse_mutation: true,
        ..Fake::default()
    };
    let agent3 = super::Agent::new(
        &settings(Some(refusing.serve().await), FILE),
        HostProbe::default(),
    );
    let planned3 = agent3
        .chat("restart sonarr")
        .await
        .planned
        .into_iter()
        .next()
        .unwrap();
    let reply = agent3.approve(&planned3).await;
    assert_eq!(reply.status, approve::Status::Error);
    assert!(reply.result.starts_with("Not executed"), "{reply:?}");
    assert_eq!(reply.followup.as_deref(), Some("Try again in 120 seconds."));
}

#[tokio::test]
async fn logs_are_read_through_the_gateway_and_escaped() {
    let (fake, agent) = served().await;
    let chat = agent.chat("show me sonarr's logs").await;
    assert_eq!(chat.reply.tools, ["compose_logs"]);
    let text = content(&chat);
    assert!(
        text.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{text}"
    );
    assert!(!text.contains("<script>"), "{text}");
    let calls = fake.calls.lock().unwrap();
    let logs = calls.iter().find(|c| c["tool"] == "compose_logs").unwrap();
    assert_eq!(
        logs["args"],
        json!({"file": FILE, "service": "sonarr", "tail": 100})
    );
}

#[tokio::test]
async fn offline_the_chat_warns_answers_what_it_can_and_approval_does_not_execute() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("docker-compose.yml");
    std::fs::write(
        &file,
        "services:\n  sonarr:\n    image: a\n  radarr:\n    image: b\n",
    )
    .unwrap();
    let agent = agent(None, file.to_str().unwrap());

    let status = agent.chat("What is the Docker status?").await;
    let text = content(&status);
    assert!(text.contains("class=\"warning\""), "{text}");
    assert!(text.contains("DOCKER_MCP_BASE_URL is not set"), "{text}");
    assert!(text.contains("System health"), "{text}");
    assert_eq!(status.reply.tools, ["system_health"]);

    // The suggestion flow stays (services from the compose file), approvals never run.
    let restart = agent.chat("restart sonarr").await;
    let planned = restart
        .planned
        .first()
        .cloned()
        .expect("a suggestion offline too");
    assert!(content(&restart).contains("will not execute anything"));
    let reply = agent.approve(&planned).await;
    assert_eq!(reply.status, approve::Status::Error);
    assert!(reply.result.contains("Not executed"), "{reply:?}");

    let health = agent.chat("how hot is the pi").await;
    assert_eq!(health.reply.tools, ["system_health"]);
    assert!(content(&health).contains("Temperature: not available"));
}

#[tokio::test]
async fn an_unreachable_gateway_is_a_warning_not_a_crash() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let agent = agent(Some(format!("http://127.0.0.1:{port}")), FILE);
    let chat = agent.chat("check docker").await;
    let text = content(&chat);
    assert!(
        text.contains(&format!(
            "The gateway is not answering at http://127.0.0.1:{port}: is it running?"
        )),
        "{text}"
    );
    assert!(!text.contains("error"), "no error chain: {text}");
    assert_eq!(
        text.matches("class=\"warning\"").count(),
        1,
        "one warning, not one per call: {text}"
    );
    assert!(!chat.reply.tools.contains(&"docker_status".to_owned()));
    let planned = suggestion::plan(Action::Restart, "sonarr", FILE, None).unwrap();
    let reply = agent.approve(&planned).await;
    assert_eq!(reply.status, approve::Status::Error);
    assert!(reply.result.starts_with("Not executed"), "{reply:?}");
}

#[tokio::test]
async fn a_message_with_markup_is_escaped_in_the_answer() {
    let agent = agent(None, "/nonexistent/compose.yml");
    let chat = agent.chat("<script>alert('pwned')</script> hello").await;
    let text = content(&chat);
    assert!(!text.contains("<script>"), "{text}");
    assert!(
        text.contains("&lt;script&gt;alert(&#x27;pwned&#x27;)&lt;/script&gt;"),
        "{text}"
    );
    let long = "x".repeat(10_000);
    let chat = agent.chat(&long).await;
    assert!(content(&chat).len() < 5_000, "long messages are cut");
}

#[test]
fn a_failed_service_call_is_told_in_the_services_words_not_the_gateways_code() {
    let detail = "docker-mcp could not run compose_ps: Docker is not reachable at unix:///var/run/docker.sock: is the Docker service running? (details in the server log)";
    let failed = Problem::Refused {
        tool: "compose_ps".into(),
        refusal: ops_core::contract::Refusal::new(
            ops_core::contract::RefusalCode::McpFailed,
            detail,
        ),
    };
    assert_eq!(failed.warning(), detail);
    let refused = Problem::Refused {
        tool: "compose_ps".into(),
        refusal: ops_core::contract::Refusal::new(
            ops_core::contract::RefusalCode::NotAuthorized,
            "not for this role",
        ),
    };
    assert!(
        refused.warning().contains("not_authorized"),
        "{}",
        refused.warning()
    );
}
