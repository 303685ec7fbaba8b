use std::time::Duration;

use serde_json::json;

use super::fake::{FakeHosts, settings};
use super::overview::overview;
use super::*;
use crate::agent::Problem;
use crate::gateway_client::{GatewayClient, on_host};

fn two() -> Hosts {
    serde_json::from_value(json!({"hosts": [
        {"name": "nas", "default": false, "read_only": true},
        {"name": "pi", "default": true, "read_only": false}
    ]}))
    .unwrap()
}

#[test]
fn a_page_picks_the_default_a_known_host_or_is_told_the_hosts() {
    let hosts = two();
    assert_eq!(pick(&hosts, None).unwrap().unwrap().name, "pi");
    assert_eq!(pick(&hosts, Some("")).unwrap().unwrap().name, "pi");
    assert_eq!(pick(&hosts, Some("NAS")).unwrap().unwrap().name, "nas");
    assert_eq!(
        pick(&hosts, Some("pi2")).unwrap_err(),
        "There is no host called pi2; the hosts are: nas, pi."
    );
    let odd = pick(&hosts, Some("<b>x")).unwrap_err();
    assert!(odd.starts_with("There is no host called <b>x;"), "{odd}");
    // One host: nothing to pick, and a name is an error, never passed on.
    let none = Hosts::default();
    assert_eq!(pick(&none, None).unwrap(), None);
    let asked = pick(&none, Some("nas")).unwrap_err();
    assert!(asked.contains("serves one Docker host"), "{asked}");
}

#[test]
fn the_list_is_sorted_and_only_names_a_call_can_carry() {
    let hosts: Hosts = serde_json::from_value(json!({"hosts": [
        {"name": "pi"}, {"name": "bad name"}, {"name": "nas"}, {"name": "NAS"}
    ]}))
    .unwrap();
    assert_eq!(sorted(hosts).names(), "NAS, pi", "one of two names alike");
}

#[tokio::test]
async fn the_gateways_hosts_are_read_once_in_a_while_and_a_404_is_none() {
    let fake = FakeHosts::two();
    let base = fake.clone().serve().await;
    let gateway = GatewayClient::new(&settings(&base)).unwrap();
    let known = KnownHosts::default();
    let first = known.get(Some(&gateway)).await.unwrap();
    assert_eq!(first.names(), "nas, pi");
    assert!(first.find("nas").unwrap().read_only);
    let again = known.get(Some(&gateway)).await.unwrap();
    assert_eq!(again, first);
    assert_eq!(
        *fake.hosts_asked.lock().unwrap(),
        1,
        "kept, not asked again"
    );
    // Offline: no hosts, nothing asked.
    assert!(known.get(None).await.unwrap().is_empty());

    let old = FakeHosts::none();
    let base = old.clone().serve().await;
    let gateway = GatewayClient::new(&settings(&base)).unwrap();
    assert!(
        gateway.hosts().await.unwrap().is_empty(),
        "a 404 is no hosts"
    );

    // A gateway not answering: said, in words.
    let gone = GatewayClient::new(&settings("http://127.0.0.1:9")).unwrap();
    let why = KnownHosts::default().get(Some(&gone)).await.unwrap_err();
    assert!(
        why.starts_with("The list of Docker hosts cannot be read"),
        "{why}"
    );
}

#[tokio::test]
async fn every_call_in_a_hosts_scope_names_it() {
    let fake = FakeHosts::two();
    let base = fake.clone().serve().await;
    let gateway = GatewayClient::new(&settings(&base)).unwrap();
    let nas = HostScope {
        name: "nas".into(),
        compose_file: Some("/srv/nas/docker-compose.yml".into()),
        default: false,
        read_only: false,
    };
    let args = json!({"file": "/opt/stack/docker-compose.yml"});
    let outcome = on_host(
        Some(nas),
        gateway.call(
            "compose_ps",
            args.clone(),
            crate::gateway_client::Kind::Read,
        ),
    )
    .await;
    assert!(matches!(
        outcome,
        crate::gateway_client::ToolOutcome::Executed(_)
    ));
    let call = &fake.calls()[0];
    assert_eq!(call["args"]["host"], "nas");
    assert_eq!(
        call["args"]["file"], "/srv/nas/docker-compose.yml",
        "the host's own file"
    );
    // Outside a scope: as with one host.
    gateway
        .call("compose_ps", args, crate::gateway_client::Kind::Read)
        .await;
    assert!(fake.calls()[1]["args"].get("host").is_none());
}

#[tokio::test]
async fn the_overview_costs_the_slowest_host_not_the_sum() {
    let hosts = two();
    let started = std::time::Instant::now();
    let lines = overview(&hosts, Duration::from_secs(2), |host| async move {
        tokio::time::sleep(Duration::from_millis(400)).await;
        if host.name == "nas" {
            Err(Problem::Unreachable(
                "the gateway at http://gw did not answer within 2.0 s".into(),
            ))
        } else {
            Ok(json!({"services": [
                {"service": "sonarr", "declared": true, "state": "running"},
                {"service": "radarr", "declared": true, "state": "exited", "containers": [{"exit_code": 1}]}
            ]}))
        }
    })
    .await;
    assert!(
        started.elapsed() < Duration::from_millis(750),
        "concurrent: {:?}",
        started.elapsed()
    );
    assert_eq!(lines.len(), 2);
    let (nas, pi) = (&lines[0], &lines[1]);
    assert_eq!(nas.name, "nas");
    assert!(!nas.reachable && nas.read_only);
    let reason = nas.reason.as_deref().unwrap();
    assert!(
        reason.starts_with("The gateway at http://gw did not answer"),
        "{reason}"
    );
    assert!(pi.reachable && pi.default);
    assert_eq!((pi.services, pi.running), (2, 1));
    assert_eq!(pi.problems.len(), 1, "{:?}", pi.problems);
    assert!(
        pi.problems[0].starts_with("exited: radarr"),
        "{:?}",
        pi.problems
    );
}

#[tokio::test]
async fn a_host_that_hangs_costs_its_timeout_only() {
    let hosts = two();
    let started = std::time::Instant::now();
    let lines = overview(&hosts, Duration::from_millis(300), |host| async move {
        if host.name == "nas" {
            tokio::time::sleep(Duration::from_secs(30)).await;
        }
        Ok(json!({"services": []}))
    })
    .await;
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(!lines[0].reachable);
    assert!(
        lines[0]
            .reason
            .as_deref()
            .unwrap()
            .contains("nas did not answer within"),
        "{:?}",
        lines[0]
    );
    assert!(lines[1].reachable);
}

#[test]
fn the_gateways_host_prefix_is_not_said_twice() {
    let hosts = two();
    let refusal = ops_core::contract::Refusal::new(
        ops_core::contract::RefusalCode::McpFailed,
        "host nas: docker-mcp-nas could not run compose_ps: Docker is not reachable",
    );
    let line = overview::status(
        &hosts.hosts[0],
        &Err(Problem::Refused {
            tool: "compose_ps".into(),
            refusal,
        }),
    );
    assert_eq!(
        line.sentence,
        "nas cannot be read: docker-mcp-nas could not run compose_ps: Docker is not reachable"
    );
    assert_eq!(without_host("Host NAS: it failed", "nas"), "It failed");
    assert_eq!(
        without_host("host pi: it failed", "nas"),
        "host pi: it failed"
    );
    assert_eq!(without_host("host", "nas"), "host");
}
