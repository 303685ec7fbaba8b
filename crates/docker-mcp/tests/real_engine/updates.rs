//! compose_updates against real registries: the tests' local one (a pushed
//! new version is reported without pulling it: the local image id stays),
//! answers reused within their time to live, and the services that cannot be
//! checked (built here, tagged here, not on this machine, a registry gone),
//! each with its reason.

use std::time::Duration;

use docker_mcp::Limits;
use serde_json::{Value, json};
use test_support::{
    Stack, arr_image, docker, free_port, http_client, try_docker, unique_suffix, wait_for,
};

use crate::pull::PullFixture;
use crate::support::{call_ok, local_engine, tools_for, tools_with};

const REGISTRY: &str = "127.0.0.1:5000";

fn image_id(reference: &str) -> String {
    docker(&["image", "inspect", "-f", "{{.Id}}", reference])
}

fn service<'a>(result: &'a Value, name: &str) -> &'a Value {
    result["services"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["service"] == name))
        .unwrap_or_else(|| panic!("no {name} in {result:#}"))
}

/// A registry of this test's own (Debian's `docker-registry`), stopped on drop.
struct OwnRegistry {
    process: std::process::Child,
    address: String,
    _dir: tempfile::TempDir,
}

impl OwnRegistry {
    async fn start() -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let port = free_port();
        let address = format!("127.0.0.1:{port}");
        let config = dir.path().join("registry.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {address}\n",
                dir.path().join("data").display()
            ),
        )
        .unwrap();
        let process = std::process::Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("docker-registry runs (scripts/test.sh installs it)");
        let url = format!("http://{address}/v2/");
        wait_for("the test's own registry", Duration::from_secs(15), || {
            let url = url.clone();
            async move {
                let status = http_client()
                    .get(&url)
                    .send()
                    .await
                    .map_err(|e| e.to_string())?
                    .status();
                if status.is_success() {
                    Ok(())
                } else {
                    Err(status.to_string())
                }
            }
        })
        .await;
        Self {
            process,
            address,
            _dir: dir,
        }
    }

    fn stop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

impl Drop for OwnRegistry {
    fn drop(&mut self) {
        self.stop();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_image_in_the_registry_is_reported_without_pulling_it() {
    let suffix = unique_suffix();
    let repository = format!("arr/octest-updates-{suffix}");
    let reference = format!("{REGISTRY}/{repository}:test");
    let homemade = format!("octest-homemade-{suffix}:built");
    let absent = format!("{REGISTRY}/arr/octest-absent-{suffix}:test");
    let stack = Stack::from_yaml(
        "updates",
        &format!(
            "services:\n  app:\n    image: {reference}\n  homemade:\n    image: {homemade}\n  built:\n    build: .\n  absent:\n    image: {absent}\n"
        ),
    );
    let mut fixture = PullFixture {
        reference: reference.clone(),
        repository,
        builder: format!("octest-updates-builder-{suffix}"),
        images: vec![homemade.clone()],
    };
    let file = stack.file_str();
    // One that reuses the registry's answers (as docker-mcp runs), one that always asks.
    let cached = tools_for(&stack);
    let asking = tools_with(
        local_engine(),
        Some(stack.file()),
        Limits {
            update_check_ttl: Duration::ZERO,
            ..Limits::default()
        },
    );

    // The registry and this machine hold the same image.
    let base = arr_image("sonarr");
    let base_id = image_id(&base);
    docker(&["tag", &base, &reference]);
    docker(&["push", "--quiet", &reference]);
    docker(&["tag", &base, &homemade]);
    let all = json!({ "file": file });
    let result = call_ok(&cached, "compose_updates", all.clone()).await;
    let app = service(&result, "app");
    assert_eq!(app["status"], "up_to_date", "{result:#}");
    assert_eq!(app["image"], reference.as_str());
    assert!(
        app["local_digest"]
            .as_str()
            .is_some_and(|d| d.starts_with("sha256:"))
    );
    assert_eq!(app["local_digest"], app["remote_digest"], "{app:#}");
    let first_check = app["checked_at_ms"]
        .as_u64()
        .expect("when the registry was asked");

    // The others say why they cannot be checked.
    let why = |name: &str| {
        service(&result, name)["reason"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(service(&result, "built")["status"], "cannot_check");
    assert!(
        why("built").contains("built on this machine"),
        "{}",
        why("built")
    );
    assert_eq!(service(&result, "homemade")["status"], "cannot_check");
    assert!(
        why("homemade").contains("not pulled from a registry"),
        "{}",
        why("homemade")
    );
    assert_eq!(service(&result, "absent")["status"], "cannot_check");
    assert!(
        why("absent").contains("not on this machine"),
        "{}",
        why("absent")
    );

    // A new version reaches the registry only: the local tag keeps the old image.
    fixture.push_new_version(&base, &suffix);
    assert_eq!(image_id(&reference), base_id);

    let result = call_ok(
        &asking,
        "compose_updates",
        json!({ "file": file, "service": "app" }),
    )
    .await;
    assert_eq!(
        result["services"].as_array().map(Vec::len),
        Some(1),
        "{result:#}"
    );
    let app = service(&result, "app");
    assert_eq!(app["status"], "update_available", "{result:#}");
    assert_ne!(app["local_digest"], app["remote_digest"], "{app:#}");
    assert_eq!(image_id(&reference), base_id, "nothing was pulled");

    // Within its time to live the registry's first answer is reused: not asked again.
    let again = call_ok(&cached, "compose_updates", all).await;
    let app = service(&again, "app");
    assert_eq!(app["status"], "up_to_date", "the cached answer: {again:#}");
    assert_eq!(app["checked_at_ms"].as_u64(), Some(first_check));
    // A person asking again (`refresh`) gets the registry's answer now, once
    // the last question is at least 10 s old.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let refreshed = call_ok(
        &cached,
        "compose_updates",
        json!({ "file": file, "service": "app", "refresh": true }),
    )
    .await;
    let app = service(&refreshed, "app");
    assert_eq!(app["status"], "update_available", "{refreshed:#}");
    assert!(app["checked_at_ms"].as_u64() > Some(first_check));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_that_is_gone_is_said_and_the_rest_still_answers() {
    let suffix = unique_suffix();
    let mut registry = OwnRegistry::start().await;
    let gone = format!("{}/arr/octest-gone-{suffix}:test", registry.address);
    let stack = Stack::from_yaml(
        "updates-gone",
        &format!(
            "services:\n  gone:\n    image: {gone}\n  sonarr:\n    image: {}\n",
            arr_image("sonarr")
        ),
    );
    let tools = tools_for(&stack);
    // Pushed there, so this machine knows the image by that registry's digest.
    docker(&["tag", &arr_image("sonarr"), &gone]);
    docker(&["push", "--quiet", &gone]);
    registry.stop();

    let result = call_ok(
        &tools,
        "compose_updates",
        json!({ "file": stack.file_str() }),
    )
    .await;
    let gone_answer = service(&result, "gone");
    assert_eq!(gone_answer["status"], "cannot_check", "{result:#}");
    let reason = gone_answer["reason"].as_str().unwrap_or_default();
    assert!(
        reason.starts_with("the registry could not be asked"),
        "{reason}"
    );
    assert!(
        gone_answer["local_digest"].as_str().is_some(),
        "{gone_answer:#}"
    );
    // The tests' registry still answers for the other service.
    assert_ne!(
        service(&result, "sonarr")["status"],
        "cannot_check",
        "{result:#}"
    );

    let _ = try_docker(&["rmi", &gone]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compose_update_moves_one_service_to_the_new_image_then_has_nothing_to_do() {
    let suffix = unique_suffix();
    let repository = format!("arr/octest-update-{suffix}");
    let reference = format!("{REGISTRY}/{repository}:test");
    let stack = Stack::from_yaml(
        "update",
        &format!(
            "services:\n  app:\n    image: {reference}\n    stop_grace_period: 1s\n    command: [\"/bin/sh\", \"-c\", \"trap 'exit 0' TERM; while true; do sleep 1; done\"]\n    labels: {{ org.ops-copilot.test: \"arr-stack\", org.ops-copilot.test-run: \"${{OPS_TEST_RUN_ID:-manual}}\" }}\n  other:\n    image: {}\n    command: [\"/bin/sh\", \"-c\", \"trap 'exit 0' TERM; while true; do sleep 1; done\"]\n",
            arr_image("radarr")
        ),
    );
    let mut fixture = PullFixture {
        reference: reference.clone(),
        repository,
        builder: format!("octest-update-builder-{suffix}"),
        images: Vec::new(),
    };
    let tools = tools_with(
        local_engine(),
        Some(stack.file()),
        Limits {
            stability_window: Duration::from_secs(1),
            ..Limits::default()
        },
    );
    let base = arr_image("sonarr");
    let base_id = image_id(&base);
    docker(&["tag", &base, &reference]);
    docker(&["push", "--quiet", &reference]);
    stack.up(&["app", "other"]);
    let other_before = stack.started_at("other");

    // A new version in the registry only.
    let variant_id = fixture.push_new_version(&base, &suffix);
    let app = json!({ "file": stack.file_str(), "service": "app" });
    let checked = call_ok(&tools, "compose_updates", app.clone()).await;
    assert_eq!(
        service(&checked, "app")["status"],
        "update_available",
        "{checked:#}"
    );

    let updated = call_ok(&tools, "compose_update", app.clone()).await;
    assert_eq!(updated["outcome"], "updated", "{updated:#}");
    assert_eq!(
        updated["previous_image_id"],
        base_id.as_str(),
        "{updated:#}"
    );
    assert_eq!(
        updated["current_image_id"],
        variant_id.as_str(),
        "{updated:#}"
    );
    assert_ne!(
        updated["previous_digest"], updated["current_digest"],
        "{updated:#}"
    );
    let container = stack.container("app");
    assert_eq!(
        docker(&["inspect", "-f", "{{.Image}}", &container]),
        variant_id,
        "the service runs the new image"
    );
    assert!(stack.is_running("app"));
    assert_eq!(
        stack.started_at("other"),
        other_before,
        "only that service was recreated"
    );

    // Nothing left to do, and the check says so (it asked the registry again).
    let again = call_ok(&tools, "compose_update", app.clone()).await;
    assert_eq!(again["outcome"], "unchanged", "{again:#}");
    let checked = call_ok(&tools, "compose_updates", app).await;
    assert_eq!(
        service(&checked, "app")["status"],
        "up_to_date",
        "{checked:#}"
    );
}
