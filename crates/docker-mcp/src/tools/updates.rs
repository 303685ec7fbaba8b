//! compose_updates: whether the registry holds a newer image for each service
//! than the one on this machine, by digest, without pulling: the local
//! image's repo digests against what the Engine's distribution endpoint says
//! the registry holds for the same reference. The registry's answers are kept
//! for a while ([`UpdateCache`]), so that looking often does not ask often.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use ops_core::contract::updates::{ServiceUpdate, StackUpdates, UpdateStatus};

use super::DockerTools;
use super::pull::split_reference;
use crate::compose::ComposeProject;
use crate::engine::EngineError;
use crate::error::ToolError;

/// How long a registry's digest is reused unless configured.
pub const DEFAULT_UPDATE_CHECK_TTL: Duration = Duration::from_secs(6 * 3600);
/// How long a failed question is not asked again (an unreachable registry).
const FAILURE_TTL: Duration = Duration::from_secs(10 * 60);
/// An image's registry is asked at most this often, even when a person asks
/// again (`refresh`).
pub const MIN_REFRESH: Duration = Duration::from_secs(10);
/// Registries asked at once.
const CONCURRENCY: usize = 4;
/// A check of the whole stack ends within this: the gateway waits longer
/// (`guide_config.rs`); an image not asked by then says so.
pub const UPDATES_ROUND: Duration = Duration::from_secs(60);
/// References remembered at most (a stack has a few dozen images).
const MAX_ENTRIES: usize = 512;

/// The registries' answers, by image reference.
#[derive(Debug)]
pub struct UpdateCache {
    ttl: Duration,
    entries: Mutex<HashMap<String, Answer>>,
}

#[derive(Debug, Clone)]
struct Answer {
    at: Instant,
    at_ms: u64,
    /// The digest, or why there is none in plain words.
    digest: Result<String, String>,
}

impl UpdateCache {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The kept answer for `reference`, unless it is too old (or, with
    /// `refresh`, older than [`MIN_REFRESH`]).
    fn fresh(&self, reference: &str, refresh: bool) -> Option<Answer> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let answer = entries.get(reference)?;
        let ttl = if answer.digest.is_ok() {
            self.ttl
        } else {
            FAILURE_TTL.min(self.ttl)
        };
        let ttl = if refresh { ttl.min(MIN_REFRESH) } else { ttl };
        (answer.at.elapsed() < ttl).then(|| answer.clone())
    }

    /// Drops what the registry said for `reference` (after a pull: the next
    /// check asks again).
    pub(super) fn forget(&self, reference: &str) {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(reference);
    }

    fn keep(&self, reference: &str, answer: Answer) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= MAX_ENTRIES && !entries.contains_key(reference) {
            // The oldest answer goes first.
            if let Some(oldest) = entries
                .iter()
                .min_by_key(|(_, a)| a.at)
                .map(|(k, _)| k.clone())
            {
                entries.remove(&oldest);
            }
        }
        entries.insert(reference.to_owned(), answer);
    }
}

pub async fn compose_updates(
    tools: &DockerTools,
    project: &ComposeProject,
    only: Option<&str>,
    refresh: bool,
) -> Result<StackUpdates, ToolError> {
    let services: Vec<(&String, &Option<String>)> = project
        .services
        .iter()
        .filter(|(service, _)| only.is_none_or(|o| o == service.as_str()))
        .collect();
    // Each image once, a few registries at a time.
    let mut references: Vec<String> = services
        .iter()
        .filter_map(|(_, image)| (*image).clone())
        .collect();
    references.sort_unstable();
    references.dedup();
    // Owned references: a borrowed one would tie each future to a lifetime the
    // server's Send bound cannot name.
    let deadline = tokio::time::Instant::now() + UPDATES_ROUND;
    let checked: Vec<(String, Result<Checked, EngineError>)> =
        futures_util::stream::iter(references)
            .map(|reference| async move {
                let result = tokio::time::timeout_at(deadline, check(tools, &reference, refresh))
                    .await
                    .unwrap_or_else(|_| {
                        Ok(Checked::cannot(format!(
                            "not checked: the check of the stack's images took its {} s; ask again (the answers found so far are kept)",
                            UPDATES_ROUND.as_secs()
                        )))
                    });
                (reference, result)
            })
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
    let mut by_reference = HashMap::new();
    for (reference, result) in checked {
        // The Engine itself not answering fails the call; a registry's trouble
        // is one service's answer.
        by_reference.insert(reference, result?);
    }
    let services = services
        .into_iter()
        .map(|(service, image)| match image {
            None => ServiceUpdate {
                service: service.clone(),
                image: None,
                status: UpdateStatus::CannotCheck,
                local_digest: None,
                remote_digest: None,
                reason: Some(
                    "it is built on this machine (build:), so no registry holds it".into(),
                ),
                checked_at_ms: None,
            },
            Some(image) => {
                let found = &by_reference[image.as_str()];
                ServiceUpdate {
                    service: service.clone(),
                    image: Some(image.clone()),
                    status: found.status,
                    local_digest: found.local.clone(),
                    remote_digest: found.remote.clone(),
                    reason: found.reason.clone(),
                    checked_at_ms: found.at_ms,
                }
            }
        })
        .collect();
    Ok(StackUpdates {
        project: project.name.clone(),
        services,
    })
}

/// What one image reference came to.
#[derive(Debug, Clone)]
struct Checked {
    status: UpdateStatus,
    local: Option<String>,
    remote: Option<String>,
    reason: Option<String>,
    at_ms: Option<u64>,
}

impl Checked {
    fn cannot(reason: impl Into<String>) -> Self {
        Self {
            status: UpdateStatus::CannotCheck,
            local: None,
            remote: None,
            reason: Some(reason.into()),
            at_ms: None,
        }
    }
}

async fn check(
    tools: &DockerTools,
    reference: &str,
    refresh: bool,
) -> Result<Checked, EngineError> {
    let Some(local) = tools.engine.local_image(reference).await? else {
        return Ok(Checked::cannot(
            "the image is not on this machine yet: start the service (or pull it) first",
        ));
    };
    let (repository, _) = split_reference(reference);
    let repository = canonical_repository(&repository);
    let local_digests: Vec<&str> = local
        .repo_digests
        .iter()
        .filter_map(|known| known.split_once('@'))
        .filter(|(repo, _)| canonical_repository(repo) == repository)
        .map(|(_, digest)| digest)
        .collect();
    if local_digests.is_empty() {
        return Ok(Checked::cannot(
            "the image was built or loaded on this machine, not pulled from a registry: there is nothing to compare it with",
        ));
    }
    let answer = match tools.updates.fresh(reference, refresh) {
        Some(answer) => answer,
        None => {
            let digest = match tools.engine.registry_digest(reference).await {
                Ok(digest) => Ok(digest),
                Err(EngineError::Unavailable { address, reason }) => {
                    return Err(EngineError::Unavailable { address, reason });
                }
                Err(error) => Err(registry_trouble(&error)),
            };
            let answer = Answer {
                at: Instant::now(),
                at_ms: now_ms(),
                digest,
            };
            tools.updates.keep(reference, answer.clone());
            answer
        }
    };
    let local = local_digests.first().map(|d| (*d).to_owned());
    Ok(match answer.digest {
        Ok(remote) => Checked {
            status: if local_digests.contains(&remote.as_str()) {
                UpdateStatus::UpToDate
            } else {
                UpdateStatus::UpdateAvailable
            },
            local,
            remote: Some(remote),
            reason: None,
            at_ms: Some(answer.at_ms),
        },
        Err(reason) => Checked {
            local,
            at_ms: Some(answer.at_ms),
            ..Checked::cannot(reason)
        },
    })
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

/// `docker.io/library/nginx`, `library/nginx` and `nginx` are one repository.
fn canonical_repository(repository: &str) -> &str {
    let short = repository
        .strip_prefix("docker.io/")
        .or_else(|| repository.strip_prefix("index.docker.io/"))
        .unwrap_or(repository);
    short.strip_prefix("library/").unwrap_or(short)
}

/// A registry's refusal or silence, in plain words.
fn registry_trouble(error: &EngineError) -> String {
    let text = error.to_string();
    let lower = text.to_ascii_lowercase();
    let short = ops_core::shortened(&text, 200);
    if lower.contains("unauthorized")
        || lower.contains("authentication required")
        || lower.contains("denied")
    {
        "the registry wants credentials the Docker Engine does not have for it (docker login on this machine)".into()
    } else if matches!(error, EngineError::NotFound(_)) || lower.contains("manifest unknown") {
        format!("the registry does not have this image or tag: {short}")
    } else if matches!(error, EngineError::Timeout(_)) {
        "the registry did not answer in time; it is asked again in 10 minutes".into()
    } else {
        format!("the registry could not be asked: {short}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_hub_names_are_one_repository() {
        for name in ["nginx", "library/nginx", "docker.io/library/nginx"] {
            assert_eq!(canonical_repository(name), "nginx");
        }
        assert_eq!(
            canonical_repository("docker.io/linuxserver/sonarr"),
            "linuxserver/sonarr"
        );
        assert_eq!(
            canonical_repository("127.0.0.1:5000/arr/sonarr"),
            "127.0.0.1:5000/arr/sonarr"
        );
    }

    #[test]
    fn registry_trouble_is_said_plainly() {
        let auth = registry_trouble(&EngineError::Failed(
            "Head https://r/v2/x/manifests/1: unauthorized: authentication required".into(),
        ));
        assert!(auth.contains("credentials"), "{auth}");
        let missing = registry_trouble(&EngineError::NotFound("manifest unknown".into()));
        assert!(missing.contains("does not have"), "{missing}");
        let down = registry_trouble(&EngineError::Failed(
            "Get http://127.0.0.1:5999/v2/: dial tcp: connection refused".into(),
        ));
        assert!(
            down.starts_with("the registry could not be asked"),
            "{down}"
        );
    }

    #[test]
    fn failures_are_kept_for_less_time_than_digests() {
        let cache = UpdateCache::new(Duration::from_secs(3600));
        let old = Instant::now() - FAILURE_TTL - Duration::from_secs(1);
        cache.keep(
            "a",
            Answer {
                at: old,
                at_ms: 0,
                digest: Err("down".into()),
            },
        );
        cache.keep(
            "b",
            Answer {
                at: old,
                at_ms: 0,
                digest: Ok("sha256:1".into()),
            },
        );
        assert!(
            cache.fresh("a", false).is_none(),
            "a failure is asked again"
        );
        assert!(cache.fresh("b", false).is_some(), "a digest is reused");
        assert!(cache.fresh("b", true).is_none(), "unless asked to refresh");
        cache.keep(
            "c",
            Answer {
                at: Instant::now(),
                at_ms: 0,
                digest: Ok("sha256:2".into()),
            },
        );
        assert!(cache.fresh("c", true).is_some(), "not more than every 10 s");
    }
}
