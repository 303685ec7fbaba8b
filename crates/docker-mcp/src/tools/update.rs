//! compose_update: bring one service to the newest image of its reference:
//! pull it, and only when the service's containers run another image,
//! recreate that service alone (`up -d --no-deps SERVICE`, the compose CLI as
//! compose_up runs it), then check that its containers run the new image and
//! stay running through the stability window. The answer says old -> new.

use serde::Serialize;

use super::DockerTools;
use super::pull::split_reference;
use super::up;
use crate::compose::ComposeProject;
use crate::engine::{EngineError, LocalImage};
use crate::error::ToolError;

#[derive(Debug, Serialize)]
pub struct ComposeUpdate {
    pub service: String,
    pub image: String,
    /// `updated` (recreated on a new image) or `unchanged` (it runs the newest).
    pub outcome: &'static str,
    pub previous_image_id: String,
    pub current_image_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_digest: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_digest: Option<String>,
    /// The service's containers after it, by name.
    pub containers: Vec<String>,
}

pub async fn compose_update(
    tools: &DockerTools,
    project: &ComposeProject,
    service: &str,
) -> Result<ComposeUpdate, ToolError> {
    let Some(Some(image)) = project.services.get(service) else {
        return Err(ToolError::Failed(format!(
            "{service} is built on this machine (build:), so there is no registry to update it from"
        )));
    };
    let containers = tools.service_containers(project, service).await?;
    let mut running_image = None;
    for container in &containers {
        running_image = Some(tools.engine.inspect(&container.id).await?.image_id);
    }
    let previous_image_id = running_image.unwrap_or_default();
    let before = tools.engine.local_image(image).await?;

    let (repository, tag) = split_reference(image);
    let limit = tools.limits.pull_timeout;
    tokio::time::timeout(limit, tools.engine.pull(&repository, &tag))
        .await
        .unwrap_or(Err(EngineError::Timeout(limit)))
        .map_err(|e| ToolError::Failed(format!("pulling {image} failed: {e}")))?;
    let after = tools.engine.local_image(image).await?.ok_or_else(|| {
        ToolError::Failed(format!("{image} is not on this machine after the pull"))
    })?;
    // The registry's answer changed: the update check asks it again.
    tools.updates.forget(image);

    let previous_digest = before.as_ref().and_then(|b| digest_of(b, &repository));
    let current_digest = digest_of(&after, &repository);
    if previous_image_id == after.id {
        return Ok(ComposeUpdate {
            service: service.to_owned(),
            image: image.clone(),
            outcome: "unchanged",
            previous_image_id,
            current_image_id: after.id,
            previous_digest,
            current_digest,
            containers: containers.into_iter().map(|c| c.name).collect(),
        });
    }

    up::run_up(tools, project, Some(service), true).await?;
    let recreated = tools.service_containers(project, service).await?;
    // On the new image, and still running once the stability window is over.
    for container in &recreated {
        let details = tools.engine.inspect(&container.id).await?;
        if details.image_id != after.id {
            return Err(ToolError::Failed(format!(
                "{service} was pulled ({}) but {} still runs {}",
                short(&after.id),
                container.name,
                short(&details.image_id)
            )));
        }
    }
    tokio::time::sleep(tools.limits.stability_window).await;
    for container in &recreated {
        let details = tools.engine.inspect(&container.id).await?;
        if !details.running {
            let code = details
                .exit_code
                .map(|c| format!(" with code {c}"))
                .unwrap_or_default();
            return Err(ToolError::Failed(format!(
                "{service} was recreated on the new image ({}), but {} stopped{code} within {} s: look at its logs; the previous image was {}",
                short(&after.id),
                container.name,
                tools.limits.stability_window.as_secs(),
                short(&previous_image_id)
            )));
        }
    }
    Ok(ComposeUpdate {
        service: service.to_owned(),
        image: image.clone(),
        outcome: "updated",
        previous_image_id,
        current_image_id: after.id,
        previous_digest,
        current_digest,
        containers: recreated.into_iter().map(|c| c.name).collect(),
    })
}

/// The digest `image` was pulled with from `repository`.
fn digest_of(image: &LocalImage, repository: &str) -> Option<String> {
    image
        .repo_digests
        .iter()
        .filter_map(|known| known.split_once('@'))
        .find(|(repo, _)| *repo == repository)
        .map(|(_, digest)| digest.to_owned())
}

/// `sha256:0123456789ab...` -> `0123456789ab`.
fn short(id: &str) -> String {
    id.strip_prefix("sha256:")
        .unwrap_or(id)
        .chars()
        .take(12)
        .collect()
}
