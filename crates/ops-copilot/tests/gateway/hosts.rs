//! Two Docker hosts behind one gateway: the machine's Engine ("pi") and a
//! second dockerd of the test's own ("nas"), each with its own docker-mcp and
//! the same compose project. A call reaches the Engine of the host it names;
//! the policy differs per host; a host that goes down fails only its own calls,
//! at once and with the reason.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use test_support::wait_for;

use crate::support::{ADMIN, STANDARD, TwoHosts, replace, yaml_str};

/// The services of each host's stack: radarr runs on nas only.
const ON_PI: &[&str] = &["sonarr"];
const ON_NAS: &[&str] = &["sonarr", "radarr"];

fn services_of(reply: &Value) -> Vec<String> {
    let mut names: Vec<String> = reply["result"]["services"]
        .as_array()
        .unwrap_or_else(|| panic!("a compose_ps answer: {reply}"))
        .iter()
        .filter(|s| s["state"] == "running")
        .map(|s| s["service"].as_str().unwrap_or_default().to_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_call_reaches_the_engine_of_its_host_under_that_hosts_policy() {
    let h = TwoHosts::start(
        "hosts",
        ON_PI,
        ON_NAS,
        "hosts:\n  nas: { roles: [admin] }\n",
    )
    .await;
    let env = &h.env;

    // GET /hosts: both for an admin, the default marked; standard sees only pi.
    let listed = env.get(ADMIN, "/hosts").await;
    assert_eq!(
        listed.expect(200)["hosts"],
        json!([
            {"name": "nas", "default": false, "read_only": false},
            {"name": "pi", "default": true, "read_only": false},
        ])
    );
    let for_bob = env.get(STANDARD, "/hosts").await;
    assert_eq!(for_bob.expect(200)["hosts"].as_array().unwrap().len(), 1);

    // Reads: each host's own Engine answers (radarr runs on nas only).
    assert_eq!(
        services_of(h.ps(ADMIN, Some("nas")).await.expect(200)),
        ["radarr", "sonarr"]
    );
    assert_eq!(
        services_of(h.ps(ADMIN, Some("pi")).await.expect(200)),
        ["sonarr"]
    );
    assert_eq!(services_of(h.ps(ADMIN, None).await.expect(200)), ["sonarr"]);
    // nas is for admins: standard is refused there, served on pi.
    let refused = h.ps(STANDARD, Some("nas")).await;
    assert_eq!(refused.expect(403)["code"], "not_authorized", "{refused:?}");
    assert!(
        refused.detail().contains("host nas"),
        "{}",
        refused.detail()
    );
    h.ps(STANDARD, Some("pi")).await.expect(200);
    let unknown = h.ps(ADMIN, Some("attic")).await;
    assert!(
        unknown.detail().contains("unknown host \"attic\""),
        "{}",
        unknown.detail()
    );

    // A restart on nas restarts nas's sonarr, not pi's; its record names the host.
    let pi_before = env.stack.started_at("sonarr");
    let nas_before = h.started_on_nas("sonarr");
    let args = json!({"file": env.file(), "service": "sonarr", "host": "nas"});
    let asked = env.call(ADMIN, "compose_restart", &args).await;
    assert_eq!(asked.expect(200)["need_approval"], true, "{asked:?}");
    let done = env.call_approved(ADMIN, "compose_restart", &args).await;
    assert_eq!(done.expect(200)["ok"], true, "{done:?}");
    assert_ne!(
        h.started_on_nas("sonarr"),
        nas_before,
        "nas's sonarr restarted"
    );
    assert_eq!(
        env.stack.started_at("sonarr"),
        pi_before,
        "pi's sonarr did not"
    );
    let records = env.audit(ADMIN, "tool=compose_restart").await;
    assert!(
        records
            .iter()
            .any(|r| r["decision"] == "executed" && r["args"]["host"] == "nas"),
        "{records:?}"
    );
    // The audit lists one host's calls: nas's name it; pi's (the default) are
    // those naming pi or no host.
    let on_nas = env.audit(ADMIN, "host=nas").await;
    assert!(!on_nas.is_empty() && on_nas.iter().all(|r| r["args"]["host"] == "nas"));
    let on_pi = env.audit(ADMIN, "host=pi").await;
    assert!(
        on_pi.iter().any(|r| r["args"].get("host").is_none())
            && on_pi.iter().all(|r| r["args"]["host"] != "nas"),
        "{on_pi:?}"
    );
    assert_eq!(env.get(ADMIN, "/audit?host=attic").await.status, 400);

    // The policy made read-only for nas (hot reload): reads still work, actions not.
    let policy = replace(
        &env.policy_text(),
        "nas: { roles: [admin] }",
        "nas: { read_only: true }",
    );
    env.write_policy(&policy);
    wait_for("nas read-only in force", Duration::from_secs(5), || async {
        let reply = env
            .call(
                ADMIN,
                "compose_restart",
                &json!({"file": env.file(), "service": "radarr", "host": "nas"}),
            )
            .await;
        if reply.detail().contains("read-only") {
            Ok(())
        } else {
            Err(format!("{reply:?}"))
        }
    })
    .await;
    h.ps(STANDARD, Some("nas")).await.expect(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_that_goes_down_fails_only_its_own_calls_at_once() {
    let mut h = TwoHosts::start("hosts", ON_PI, ON_NAS, "").await;
    h.ps(ADMIN, Some("nas")).await.expect(200);

    // nas's Engine stops: its docker-mcp says so at once; pi is unaffected.
    h.nas.stop();
    let started = Instant::now();
    let down = h.ps(ADMIN, Some("nas")).await;
    let took = started.elapsed();
    assert_ne!(down.status, 200, "{down:?}");
    assert!(
        down.detail().starts_with("host nas: ")
            && down.detail().contains("Docker is not reachable"),
        "the host and the reason are said: {}",
        down.detail()
    );
    // Bounded by docker-mcp's own Engine check, far under the read timeout (4 s):
    // not a hang until the gateway gives up.
    assert!(took < Duration::from_secs(4), "took {took:?}");
    assert_eq!(
        services_of(h.ps(ADMIN, Some("pi")).await.expect(200)),
        ["sonarr"]
    );

    // nas's docker-mcp itself goes: refused connection, said as such, at once.
    h.nas_mcp.stop();
    let started = Instant::now();
    let gone = h.ps(ADMIN, Some("nas")).await;
    assert_ne!(gone.status, 200, "{gone:?}");
    assert!(started.elapsed() < Duration::from_secs(4));
    assert!(
        gone.detail().starts_with("host nas: ") && gone.detail().contains("did not answer"),
        "{}",
        gone.detail()
    );
    assert_eq!(services_of(h.ps(ADMIN, None).await.expect(200)), ["sonarr"]);
    // The gateway stays ready: another host being down is not its own fault.
    let ready = h
        .env
        .send(reqwest::Method::GET, "/health/ready", None, None)
        .await;
    assert_eq!(ready.status, 200, "{ready:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_that_hangs_holds_up_none_of_the_others_calls() {
    let h = TwoHosts::start("hosts", ON_PI, ON_NAS, "").await;
    // nas becomes a black hole: connections are accepted and never answered.
    let hole = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let hole_url = format!("http://{}", hole.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in hole.incoming().flatten() {
            held.push(stream);
        }
    });
    let before = h.env.health().await["config_version"].clone();
    let registry = std::fs::read_to_string(&h.env.registry).unwrap();
    h.env.write_registry(&replace(
        &registry,
        &yaml_str(&h.nas_mcp.base),
        &yaml_str(&hole_url),
    ));
    wait_for(
        "the registry with the hung nas in force",
        Duration::from_secs(5),
        || async {
            let now = h.env.health().await["config_version"].clone();
            if now != before {
                Ok(())
            } else {
                Err(format!("still {now}"))
            }
        },
    )
    .await;

    // A call to nas waits for its answer until the read timeout; meanwhile ten
    // calls to pi each get theirs: all of them before nas's call ends.
    let nas_call = async {
        let reply = h.ps(ADMIN, Some("nas")).await;
        (reply, Instant::now())
    };
    let pi_calls = async {
        for _ in 0..10 {
            assert_eq!(
                services_of(h.ps(ADMIN, Some("pi")).await.expect(200)),
                ["sonarr"]
            );
        }
        Instant::now()
    };
    let ((hung, nas_done), pi_done) = tokio::join!(nas_call, pi_calls);
    assert!(pi_done < nas_done, "pi's calls waited for nas's");
    assert_eq!(hung.body["code"], "mcp_timeout", "{hung:?}");
    assert!(hung.detail().starts_with("host nas: "), "{}", hung.detail());
}
