//! compose_pull against the local registry, with an image name of its own (the
//! shared `arr/*:test` images are used by other tests at the same time).

use docker_mcp::ToolError;
use serde_json::json;
use test_support::{Stack, arr_image, docker, try_docker, unique_suffix};

use crate::support::{call_err, call_ok, tools_for};

const REGISTRY: &str = "127.0.0.1:5000";

/// Removes what the test put in the local image store and the registry.
pub(crate) struct PullFixture {
    pub(crate) reference: String,
    pub(crate) repository: String,
    pub(crate) builder: String,
    pub(crate) images: Vec<String>,
}

impl Drop for PullFixture {
    fn drop(&mut self) {
        let _ = try_docker(&["rm", "-f", &self.builder]);
        let _ = try_docker(&["rmi", &self.reference]);
        for image in &self.images {
            let _ = try_docker(&["rmi", image]);
        }
        // Pushing and pulling left `repository@digest` references on local images.
        let repository = format!("{REGISTRY}/{}", self.repository);
        let digests = try_docker(&[
            "images",
            "--digests",
            "--format",
            "{{.Repository}}@{{.Digest}}",
            &repository,
        ])
        .unwrap_or_default();
        for reference in digests.lines().filter(|l| !l.ends_with("<none>")) {
            let _ = try_docker(&["rmi", reference]);
        }
        // Best effort: drop the tag from the registry (delete is enabled there).
        let head = std::process::Command::new("curl")
            .args([
                "-s",
                "-I",
                "-m",
                "5",
                "-H",
                "Accept: application/vnd.docker.distribution.manifest.v2+json",
                &format!("http://{REGISTRY}/v2/{}/manifests/test", self.repository),
            ])
            .output();
        let digest = head.ok().and_then(|out| {
            String::from_utf8_lossy(&out.stdout).lines().find_map(|l| {
                let (key, value) = l.split_once(':')?;
                key.eq_ignore_ascii_case("docker-content-digest")
                    .then(|| value.trim().to_owned())
            })
        });
        if let Some(digest) = digest {
            let _ = std::process::Command::new("curl")
                .args([
                    "-s",
                    "-m",
                    "5",
                    "-X",
                    "DELETE",
                    &format!(
                        "http://{REGISTRY}/v2/{}/manifests/{digest}",
                        self.repository
                    ),
                ])
                .output();
        }
    }
}

impl PullFixture {
    /// Puts a changed image in the registry under the fixture's reference while
    /// the local tag keeps `base` (a new version there, not yet here); its id.
    pub(crate) fn push_new_version(&mut self, base: &str, label: &str) -> String {
        docker(&["create", "--name", &self.builder, &self.reference]);
        let variant_id = docker(&[
            "commit",
            "--change",
            &format!("LABEL org.ops-copilot.test-version={label}"),
            &self.builder,
            &self.reference,
        ]);
        self.images.push(variant_id.clone());
        docker(&["rm", &self.builder]);
        docker(&["push", "--quiet", &self.reference]);
        docker(&["tag", base, &self.reference]);
        variant_id
    }
}

fn image_id(reference: &str) -> String {
    docker(&["image", "inspect", "-f", "{{.Id}}", reference])
}

#[tokio::test]
async fn compose_pull_reports_updated_then_unchanged_and_fails_for_a_missing_image() {
    let suffix = unique_suffix();
    let repository = format!("arr/octest-pull-{suffix}");
    let reference = format!("{REGISTRY}/{repository}:test");
    let missing = format!("{REGISTRY}/arr/octest-missing-{suffix}:test");
    let stack = Stack::from_yaml(
        "pull",
        &format!("services:\n  app:\n    image: {reference}\n  missing:\n    image: {missing}\n"),
    );
    let mut fixture = PullFixture {
        reference: reference.clone(),
        repository,
        builder: format!("octest-pull-builder-{suffix}"),
        images: Vec::new(),
    };
    let tools = tools_for(&stack);
    let file = stack.file_str();
    let app = json!({ "file": file, "service": "app" });

    // The registry holds the base image under this name; so does the local store.
    let base = arr_image("sonarr");
    let base_id = image_id(&base);
    docker(&["tag", &base, &reference]);
    docker(&["push", "--quiet", &reference]);

    let result = call_ok(&tools, "compose_pull", app.clone()).await;
    assert_eq!(
        result,
        json!({ "services": [{
            "service": "app",
            "image": reference,
            "outcome": "unchanged",
            "previous_id": base_id,
            "current_id": base_id,
        }]}),
    );

    // Push a changed image to the registry only: the local tag keeps the old one.
    let variant_id = fixture.push_new_version(&base, &suffix);
    docker(&["rmi", &variant_id]);
    assert_ne!(variant_id, base_id);
    assert_eq!(image_id(&reference), base_id);

    let result = call_ok(&tools, "compose_pull", app.clone()).await;
    let pulled = &result["services"][0];
    assert_eq!(pulled["service"], "app", "{result:#}");
    assert_eq!(pulled["outcome"], "updated", "{result:#}");
    assert_eq!(pulled["previous_id"], base_id.as_str(), "{result:#}");
    assert_eq!(pulled["current_id"], variant_id.as_str(), "{result:#}");
    assert_eq!(
        image_id(&reference),
        variant_id,
        "the Engine has the new image"
    );

    let result = call_ok(&tools, "compose_pull", app).await;
    let pulled = &result["services"][0];
    assert_eq!(pulled["outcome"], "unchanged", "{result:#}");
    assert_eq!(pulled["previous_id"], variant_id.as_str());
    assert_eq!(pulled["current_id"], variant_id.as_str());

    // An image the registry does not have: an error naming the service and image.
    let err = call_err(
        &tools,
        "compose_pull",
        json!({ "file": file, "service": "missing" }),
    )
    .await;
    assert!(matches!(err, ToolError::Failed(_)), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("missing (") && text.contains(&missing),
        "names the service and the image: {text}"
    );
    // The whole file: the failure, and what happened to the others.
    let err = call_err(&tools, "compose_pull", json!({ "file": file })).await;
    let text = err.to_string();
    assert!(
        text.contains(&missing) && text.contains("app unchanged"),
        "{text}"
    );
    assert!(
        try_docker(&["image", "inspect", &missing]).is_err(),
        "nothing was pulled for the missing image"
    );
}
