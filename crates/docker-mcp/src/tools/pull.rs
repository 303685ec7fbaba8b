//! compose_pull: pull each service's image through the Engine API and say
//! whether the local image changed.

use std::collections::HashMap;

use serde::Serialize;

use super::DockerTools;
use crate::compose::ComposeProject;
use crate::engine::EngineError;
use crate::error::ToolError;

#[derive(Debug, Serialize)]
pub struct ComposePull {
    pub services: Vec<PullOutcome>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PullOutcome {
    pub service: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// updated, unchanged, skipped
    pub outcome: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// `registry:5000/org/app:tag` -> (`registry:5000/org/app`, `tag`); digests kept whole.
pub fn split_reference(image: &str) -> (String, String) {
    if let Some((repository, digest)) = image.split_once('@') {
        return (repository.to_owned(), digest.to_owned());
    }
    let name_start = image.rfind('/').map_or(0, |i| i + 1);
    match image[name_start..].rfind(':') {
        Some(colon) => {
            let at = name_start + colon;
            (image[..at].to_owned(), image[at + 1..].to_owned())
        }
        None => (image.to_owned(), "latest".to_owned()),
    }
}

fn reference(repository: &str, tag: &str) -> String {
    if tag.contains(':') {
        format!("{repository}@{tag}")
    } else {
        format!("{repository}:{tag}")
    }
}

pub async fn compose_pull(
    tools: &DockerTools,
    project: &ComposeProject,
    only: Option<&str>,
) -> Result<ComposePull, ToolError> {
    let mut outcomes = Vec::new();
    let mut failures = Vec::new();
    // The whole pull is bounded, so that the gateway's wait (longer) covers it.
    let deadline = tokio::time::Instant::now() + tools.limits.pull_timeout;
    // Services sharing an image are pulled once.
    let mut pulled: HashMap<String, Result<ImageChange, EngineError>> = HashMap::new();
    for (service, image) in &project.services {
        if only.is_some_and(|o| o != service) {
            continue;
        }
        let Some(image) = image else {
            outcomes.push(PullOutcome {
                service: service.clone(),
                image: None,
                outcome: "skipped",
                previous_id: None,
                current_id: None,
                reason: Some("no image: the service is built locally".into()),
            });
            continue;
        };
        let (repository, tag) = split_reference(image);
        let full = reference(&repository, &tag);
        if !pulled.contains_key(&full) {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let result = tokio::time::timeout(left, pull_one(tools, &repository, &tag, &full))
                .await
                .unwrap_or(Err(EngineError::Timeout(tools.limits.pull_timeout)));
            pulled.insert(full.clone(), result);
        }
        match &pulled[&full] {
            Ok((previous_id, current_id)) => outcomes.push(PullOutcome {
                service: service.clone(),
                image: Some(image.clone()),
                outcome: if previous_id == current_id {
                    "unchanged"
                } else {
                    "updated"
                },
                previous_id: previous_id.clone(),
                current_id: current_id.clone(),
                reason: None,
            }),
            Err(error) => failures.push(format!("{service} ({image}): {error}")),
        }
    }
    if !failures.is_empty() {
        let done: Vec<String> = outcomes
            .iter()
            .map(|o| format!("{} {}", o.service, o.outcome))
            .collect();
        let mut message = format!("pull failed for {}", failures.join("; "));
        if !done.is_empty() {
            message.push_str(&format!(" (the others: {})", done.join(", ")));
        }
        return Err(ToolError::Failed(message));
    }
    Ok(ComposePull { services: outcomes })
}

/// The local image id before and after a pull.
type ImageChange = (Option<String>, Option<String>);

async fn pull_one(
    tools: &DockerTools,
    repository: &str,
    tag: &str,
    full: &str,
) -> Result<ImageChange, EngineError> {
    let before = tools.engine.image_id(full).await?;
    tools.engine.pull(repository, tag).await?;
    let after = tools.engine.image_id(full).await?;
    Ok((before, after))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_image_references() {
        let cases = [
            ("sonarr", ("sonarr", "latest")),
            (
                "lscr.io/linuxserver/sonarr:4.0",
                ("lscr.io/linuxserver/sonarr", "4.0"),
            ),
            (
                "127.0.0.1:5000/arr/sonarr",
                ("127.0.0.1:5000/arr/sonarr", "latest"),
            ),
            (
                "127.0.0.1:5000/arr/sonarr:test",
                ("127.0.0.1:5000/arr/sonarr", "test"),
            ),
            ("app@sha256:abcd", ("app", "sha256:abcd")),
        ];
        for (image, (repository, tag)) in cases {
            assert_eq!(
                split_reference(image),
                (repository.into(), tag.into()),
                "{image}"
            );
        }
        assert_eq!(reference("app", "sha256:abcd"), "app@sha256:abcd");
        assert_eq!(reference("app", "1"), "app:1");
    }
}
