//! The chat with several hosts, against the stand-in gateway of `hosts::fake`:
//! pi (sonarr, radarr unhealthy; the default) and nas (sonarr, sabnzbd; read-only).

use super::*;
use crate::gateway_client::GatewaySettings;
use crate::host::HostProbe;
use crate::hosts::fake::{FakeHosts, settings};

async fn agent(fake: &FakeHosts) -> Agent {
    let base = fake.clone().serve().await;
    // pi-health's own read timeout, as it ships (5 s): longer than the lookup's.
    let mut settings = settings(&base);
    settings.read_timeout = std::time::Duration::from_secs(5);
    agent_at(&settings)
}

fn agent_at(settings: &GatewaySettings) -> Agent {
    let dir = std::env::temp_dir().join("pi-health-hosts-test-thermal");
    Agent::new(settings, HostProbe::new(dir))
}

fn text(chat: &Chat) -> String {
    chat.reply
        .messages
        .iter()
        .map(|m| m.content.as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The tool calls other than the compose_ps reads of every host.
fn acts(fake: &FakeHosts) -> Vec<(String, Option<String>)> {
    fake.tools()
        .into_iter()
        .filter(|(tool, _)| tool != "compose_ps")
        .collect()
}

fn on(host: &str) -> Option<String> {
    Some(host.to_owned())
}

#[tokio::test]
async fn an_order_naming_a_host_goes_there_and_its_card_says_so() {
    let fake = FakeHosts::writable();
    let agent = agent(&fake).await;
    let chat = agent.chat("restart sonarr on the nas").await;
    let said = text(&chat);
    assert!(said.contains("On <strong>nas</strong>"), "{said}");
    assert!(
        said.contains("I can restart <strong>sonarr</strong> on <strong>nas</strong> for you"),
        "{said}"
    );
    assert_eq!(acts(&fake), vec![("compose_restart".into(), on("nas"))]);
    let card = chat.reply.messages[0].suggestion.as_ref().unwrap();
    assert_eq!(
        card.description,
        "Restart the sonarr service on nas (now: running, Up 1 hour)."
    );
    assert_eq!(card.id, "appr-1", "the gateway's approval");
    // Every call of the turn named a host.
    assert!(
        fake.tools().iter().all(|(_, host)| host.is_some()),
        "{:?}",
        fake.tools()
    );

    // Approving it: the gateway runs it; what pi-health reads after is nas's.
    let reply = agent.approve(&chat.planned[0]).await;
    assert!(reply.is_success(), "{reply:?}");
    assert!(
        reply
            .result
            .starts_with("compose_restart sonarr on nas succeeded."),
        "{}",
        reply.result
    );
    assert_eq!(
        reply.followup.as_deref(),
        Some("sonarr is now running, Up 1 hour on nas.")
    );
    let (last, host) = fake.tools().pop().unwrap();
    assert_eq!((last.as_str(), host), ("compose_ps", on("nas")));
}

#[tokio::test]
async fn a_service_on_several_hosts_without_one_named_is_asked_about() {
    let fake = FakeHosts::two();
    let agent = agent(&fake).await;
    for message in ["is sonarr up?", "restart sonarr", "sonarr logs"] {
        let said = text(&agent.chat(message).await);
        assert!(
            said.contains("sonarr runs on nas and pi: which one?"),
            "{message}: {said}"
        );
        assert!(said.contains(" on nas\u{201d}"), "{said}");
    }
    assert_eq!(acts(&fake), vec![], "nothing but each host's services read");
}

#[tokio::test]
async fn a_service_on_one_host_only_goes_there() {
    let fake = FakeHosts::two();
    let agent = agent(&fake).await;
    let said = text(&agent.chat("sabnzbd logs").await);
    assert!(said.contains("logs of sabnzbd on nas"), "{said}");
    let said = text(&agent.chat("why is radarr unhealthy?").await);
    assert!(said.contains("On <strong>pi</strong>"), "{said}");
    let said = text(&agent.chat("radar logs").await);
    assert!(
        said.contains("logs of radarr on pi"),
        "a near miss too: {said}"
    );
    assert_eq!(
        acts(&fake),
        vec![
            ("compose_logs".into(), on("nas")),
            ("compose_diagnose".into(), on("pi")),
            ("compose_logs".into(), on("pi")),
        ]
    );
}

#[tokio::test]
async fn a_service_declared_on_every_host_goes_where_it_was_brought_up() {
    let mut fake = FakeHosts::two();
    // One compose file on both hosts: compose_ps lists every service it
    // declares, "not created" where it was never brought up.
    fake.stacks[0].1.push(("sabnzbd", "not created"));
    fake.stacks[0].1.push(("bazarr", "not created"));
    fake.stacks[1].1.push(("radarr", "not created"));
    fake.stacks[1].1.push(("bazarr", "not created"));
    let agent = agent(&fake).await;
    let said = text(&agent.chat("sabnzbd logs").await);
    assert!(said.contains("logs of sabnzbd on nas"), "{said}");
    let said = text(&agent.chat("radarr logs").await);
    assert!(said.contains("logs of radarr on pi"), "{said}");
    // Brought up nowhere: the compose files say where it could be.
    let said = text(&agent.chat("bazarr logs").await);
    assert!(
        said.contains("bazarr runs on nas and pi: which one?"),
        "{said}"
    );
    // Up on both: still asked.
    let said = text(&agent.chat("sonarr logs").await);
    assert!(
        said.contains("sonarr runs on nas and pi: which one?"),
        "{said}"
    );
    assert_eq!(
        acts(&fake),
        vec![
            ("compose_logs".into(), on("nas")),
            ("compose_logs".into(), on("pi")),
        ]
    );
}

#[tokio::test]
async fn naming_the_host_answers_on_it_whatever_the_phrasing() {
    let fake = FakeHosts::writable();
    let agent = agent(&fake).await;
    for (message, host) in [
        ("is sonarr up on nas?", "nas"),
        ("sonarr logs on the nas", "nas"),
        ("@pi sonarr logs", "pi"),
        ("sonarr logs on the NSA", "nas"),
        ("what's wrong on the nas?", "nas"),
    ] {
        let said = text(&agent.chat(message).await);
        let line = format!("On <strong>{host}</strong>");
        assert!(said.contains(&line), "{message}: {said}");
    }
    let said = text(&agent.chat("restart sonarr on the nsa").await);
    assert!(
        said.contains("\u{201c}nsa\u{201d} taken as the host nas."),
        "{said}"
    );
    assert!(said.contains("on <strong>nas</strong> for you"), "{said}");
    let logs: Vec<_> = acts(&fake)
        .into_iter()
        .filter(|(t, _)| t == "compose_logs")
        .collect();
    assert_eq!(
        logs,
        vec![
            ("compose_logs".into(), on("nas")),
            ("compose_logs".into(), on("pi")),
            ("compose_logs".into(), on("nas")),
        ]
    );
}

#[tokio::test]
async fn a_host_that_does_not_exist_is_said_and_nothing_is_asked() {
    let fake = FakeHosts::two();
    let agent = agent(&fake).await;
    let chat = agent.chat("restart sonarr on pi2").await;
    assert!(
        text(&chat).contains("There is no host called pi2; the hosts are: nas, pi."),
        "{}",
        text(&chat)
    );
    assert!(chat.planned.is_empty());
    assert_eq!(acts(&fake), vec![]);
}

#[tokio::test]
async fn a_question_about_no_service_is_the_default_hosts() {
    let fake = FakeHosts::two();
    let agent = agent(&fake).await;
    let said = text(&agent.chat("what's wrong?").await);
    assert!(said.contains("On <strong>pi</strong>"), "{said}");
    assert!(said.contains("radarr"), "{said}");
}

#[tokio::test]
async fn a_host_that_is_down_fails_alone() {
    let mut fake = FakeHosts::two();
    fake.down = vec!["nas"];
    let agent = agent(&fake).await;
    let said = text(&agent.chat("is sonarr up on the nas?").await);
    assert!(
        said.contains("docker-mcp of host nas is not answering"),
        "{said}"
    );
    // sonarr is only known on pi now: the question goes there.
    let said = text(&agent.chat("is sonarr up?").await);
    assert!(said.contains("On <strong>pi</strong>"), "{said}");
}

#[tokio::test]
async fn with_one_host_the_chat_is_as_it_always_was() {
    let fake = FakeHosts::none();
    let agent = agent(&fake).await;
    let chat = agent.chat("restart sonarr on the nas").await;
    let said = text(&chat);
    assert!(!said.contains("On <strong>"), "{said}");
    assert!(!said.contains("no host called"), "{said}");
    assert_eq!(
        chat.reply.messages[0]
            .suggestion
            .as_ref()
            .unwrap()
            .description,
        "Restart the sonarr service (now: running, Up 1 hour)."
    );
    assert!(
        fake.tools().iter().all(|(_, host)| host.is_none()),
        "{:?}",
        fake.tools()
    );
}

/// nas's docker-mcp hung (stopped: connections taken, never answered).
fn nas_hung() -> FakeHosts {
    let mut fake = FakeHosts::two();
    fake.stacks[0].1.push(("bazarr", "running"));
    fake.stacks[0].1.push(("sabnzbd", "not created"));
    fake.slow.insert("nas", std::time::Duration::from_secs(60));
    fake
}

#[tokio::test]
async fn a_hung_host_is_named_not_counted_and_not_waited_for_twice() {
    let fake = nas_hung();
    let agent = agent(&fake).await;
    let started = std::time::Instant::now();
    let said = text(&agent.chat("is bazarr up?").await);
    let first = started.elapsed();
    assert!(said.contains("On <strong>pi</strong>"), "{said}");
    assert!(!said.contains("which one"), "{said}");
    assert!(
        said.contains("nas could not be read right now: it did not answer within 2 s."),
        "{said}"
    );
    assert!(
        first < std::time::Duration::from_millis(2800),
        "the lookup's budget bounds it: {first:?}"
    );
    // Known on both, readable on pi only: pi's, never "which one?".
    let started = std::time::Instant::now();
    let said = text(&agent.chat("is sonarr up?").await);
    assert!(said.contains("On <strong>pi</strong>"), "{said}");
    assert!(!said.contains("which one"), "{said}");
    let chat = agent.chat("restart radarr").await;
    assert_eq!(
        chat.reply.messages[0]
            .suggestion
            .as_ref()
            .unwrap()
            .description,
        "Restart the radarr service on pi (now: running, Up 1 hour (unhealthy))."
    );
    assert!(
        started.elapsed() < std::time::Duration::from_millis(1000),
        "nas, unreadable a moment ago, is not waited for again: {:?}",
        started.elapsed()
    );
    // Declared on pi but never brought up there: maybe nas's, which cannot be read.
    let said = text(&agent.chat("sabnzbd logs").await);
    assert!(
        said.contains(
            "sabnzbd is not on pi; nas could not be read right now: it did not answer within 2 s."
        ),
        "{said}"
    );
    assert!(!said.contains("On <strong>"), "{said}");
}

#[tokio::test]
async fn whats_wrong_names_the_host_that_cannot_be_read() {
    let mut fake = FakeHosts::two();
    fake.engine_down = vec!["nas"];
    let agent = agent(&fake).await;
    let said = text(&agent.chat("what's wrong?").await);
    assert!(said.contains("On <strong>pi</strong>"), "{said}");
    assert!(said.contains("radarr"), "{said}");
    assert!(
        said.contains("nas could not be read right now: docker-mcp-nas could not run compose_ps: Docker is not reachable"),
        "{said}"
    );
    assert!(
        !said.contains("host nas:"),
        "the host is named once: {said}"
    );
}

#[tokio::test]
async fn a_read_only_host_gets_no_card_and_a_down_host_is_not_the_gateway() {
    let mut fake = FakeHosts::two();
    fake.engine_down = vec!["nas"];
    let read_only = agent(&fake).await;
    for message in ["restart sabnzbd on nas", "stop sonarr on the nas"] {
        let chat = read_only.chat(message).await;
        let said = text(&chat);
        assert!(chat.planned.is_empty(), "{message}: {said}");
        assert!(
            chat.reply.messages.iter().all(|m| m.suggestion.is_none()),
            "{said}"
        );
        assert!(
            said.contains("nas is read-only: Ops-Copilot does not"),
            "{said}"
        );
        assert!(!said.contains("gateway cannot be used"), "{said}");
    }
    // Writable but unreadable: the card (if any) names the host, not the gateway.
    let mut fake = FakeHosts::writable();
    fake.engine_down = vec!["nas"];
    let writable = agent(&fake).await;
    // nas was read a while ago (its services are known), and cannot be now.
    let nas = crate::gateway_client::HostScope {
        name: "nas".into(),
        compose_file: None,
        default: false,
        read_only: false,
    };
    on_host(Some(nas), async {
        writable.cache.store(serde_json::json!({"services": [
            {"service": "sabnzbd", "declared": true, "state": "running", "containers": [{"state": "running"}]}
        ]}));
        writable.cache.expire();
    })
    .await;
    let said = text(&writable.chat("restart sabnzbd on nas").await);
    assert!(!said.contains("The gateway cannot be used"), "{said}");
    assert!(said.contains("nas cannot be read right now."), "{said}");
    assert!(!said.contains("host nas:"), "{said}");
}

#[tokio::test]
async fn an_order_on_a_host_where_the_service_has_no_container_says_where_it_runs() {
    let mut fake = FakeHosts::writable();
    fake.stacks[0].1.push(("sabnzbd", "not created"));
    let agent = agent(&fake).await;
    let chat = agent.chat("restart sabnzbd on pi").await;
    let said = text(&chat);
    assert!(
        said.contains("sabnzbd is not running on pi (it runs on nas)."),
        "{said}"
    );
    assert!(chat.planned.is_empty(), "{said}");
    assert_eq!(acts(&fake), vec![], "nothing asked of the gateway");
    // Naming no host: the card is for where it runs.
    let chat = agent.chat("restart sabnzbd").await;
    assert_eq!(
        chat.reply.messages[0]
            .suggestion
            .as_ref()
            .unwrap()
            .description,
        "Restart the sabnzbd service on nas (now: running, Up 1 hour)."
    );
}

#[tokio::test]
async fn the_chat_does_not_pass_this_machines_hardware_off_as_a_hosts() {
    let fake = FakeHosts::two();
    let agent = agent(&fake).await;
    let said = text(&agent.chat("how hot is the nas?").await);
    assert!(said.contains("I cannot see the hardware of nas"), "{said}");
    assert!(!said.contains("System health"), "{said}");
    // Asked about this machine: its figures, not said to be a Docker host's.
    let said = text(&agent.chat("how hot is it?").await);
    assert!(said.contains("System health"), "{said}");
    assert!(!said.contains("On <strong>"), "{said}");
}

#[tokio::test]
async fn an_order_that_goes_to_a_read_only_host_by_itself_gets_no_card_either() {
    let fake = FakeHosts::two();
    let agent = agent(&fake).await;
    // sabnzbd runs on nas only, which the policy makes read-only.
    let chat = agent.chat("restart sabnzbd").await;
    let said = text(&chat);
    assert!(said.contains("On <strong>nas</strong>"), "{said}");
    assert!(
        said.contains("nas is read-only: Ops-Copilot does not restart anything there."),
        "{said}"
    );
    assert!(chat.planned.is_empty(), "{said}");
    assert_eq!(acts(&fake), vec![], "nothing asked of the gateway");
}
