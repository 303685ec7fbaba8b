//! "any updates?": `compose_updates`' answer (newer images in the registries,
//! by digest, nothing pulled) in words, for the services asked about or all.

use ops_core::contract::updates::{ServiceUpdate, StackUpdates, UpdateStatus};

use crate::html::Html;

/// The answer, for `asked` (empty: every service).
pub(crate) fn render(updates: &StackUpdates, asked: &[String]) -> Html {
    let wanted = |s: &&ServiceUpdate| asked.is_empty() || asked.contains(&s.service);
    let of = |status: UpdateStatus| -> Vec<&ServiceUpdate> {
        updates
            .services
            .iter()
            .filter(wanted)
            .filter(|s| s.status == status)
            .collect()
    };
    let (newer, current, unknown) = (
        of(UpdateStatus::UpdateAvailable),
        of(UpdateStatus::UpToDate),
        of(UpdateStatus::CannotCheck),
    );
    let mut html = Html::new();
    if newer.is_empty() {
        let sentence = if current.is_empty() {
            "I could not compare any image with its registry.".to_owned()
        } else if asked.len() == 1 {
            format!(
                "{} is up to date: its registry has the image it runs.",
                asked[0]
            )
        } else {
            format!(
                "No updates: the registries have the images these run ({}).",
                names(&current)
            )
        };
        html.wrap("<p>", &sentence, "</p>");
    } else {
        html.wrap(
            "<p>",
            &format!(
                "{} {} a newer image in {} registry:",
                newer.len(),
                if newer.len() == 1 {
                    "service has"
                } else {
                    "services have"
                },
                if newer.len() == 1 { "its" } else { "their" }
            ),
            "</p>",
        );
        html.raw("<ul>");
        for service in &newer {
            html.wrap(
                "<li>",
                &format!(
                    "{} ({}): {} here, {} in the registry",
                    service.service,
                    service.image.as_deref().unwrap_or("?"),
                    short(service.local_digest.as_deref()),
                    short(service.remote_digest.as_deref())
                ),
                "</li>",
            );
        }
        html.raw("</ul>");
        if !current.is_empty() {
            html.wrap("<p>", &format!("Up to date: {}.", names(&current)), "</p>");
        }
        html.wrap(
            "<p class=\"note\">",
            "Nothing was pulled. Say \u{201c}update SERVICE\u{201d} (or \u{201c}update everything\u{201d}) for a card to approve.",
            "</p>",
        );
    }
    if !unknown.is_empty() {
        html.raw("<p>Could not check:</p><ul>");
        for service in &unknown {
            html.wrap(
                "<li>",
                &format!(
                    "{}: {}",
                    service.service,
                    service.reason.as_deref().unwrap_or("no reason given")
                ),
                "</li>",
            );
        }
        html.raw("</ul>");
    }
    html
}

fn names(services: &[&ServiceUpdate]) -> String {
    services
        .iter()
        .map(|s| s.service.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// `sha256:0123456789ab...` -> `0123456789ab`.
fn short(digest: Option<&str>) -> String {
    digest
        .map(|d| {
            d.strip_prefix("sha256:")
                .unwrap_or(d)
                .chars()
                .take(12)
                .collect()
        })
        .unwrap_or_else(|| "?".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(name: &str, status: UpdateStatus, reason: Option<&str>) -> ServiceUpdate {
        ServiceUpdate {
            service: name.into(),
            image: Some(format!("reg/{name}:1")),
            status,
            local_digest: Some("sha256:aaaaaaaaaaaaaaaa".into()),
            remote_digest: Some("sha256:bbbbbbbbbbbbbbbb".into()),
            reason: reason.map(str::to_owned),
            checked_at_ms: Some(1),
        }
    }

    fn stack() -> StackUpdates {
        StackUpdates {
            project: "stack".into(),
            services: vec![
                service("sonarr", UpdateStatus::UpdateAvailable, None),
                service("radarr", UpdateStatus::UpToDate, None),
                service(
                    "bazarr",
                    UpdateStatus::CannotCheck,
                    Some("it is built on this machine (build:), so no registry holds it"),
                ),
            ],
        }
    }

    #[test]
    fn updates_are_listed_with_their_digests_and_what_could_not_be_checked() {
        let text = render(&stack(), &[]).into_string();
        assert!(
            text.contains("1 service has a newer image in its registry"),
            "{text}"
        );
        assert!(
            text.contains("sonarr (reg/sonarr:1): aaaaaaaaaaaa here, bbbbbbbbbbbb in the registry"),
            "{text}"
        );
        assert!(text.contains("Up to date: radarr."), "{text}");
        assert!(
            text.contains("bazarr: it is built on this machine"),
            "{text}"
        );
        assert!(text.contains("Nothing was pulled"), "{text}");
    }

    #[test]
    fn one_service_asked_about_gets_its_own_answer() {
        let text = render(&stack(), &["radarr".into()]).into_string();
        assert!(text.contains("radarr is up to date"), "{text}");
        assert!(
            !text.contains("sonarr") && !text.contains("bazarr"),
            "{text}"
        );
    }

    #[test]
    fn names_and_reasons_are_escaped() {
        let mut updates = stack();
        updates.services[2].reason = Some("<script>x</script>".into());
        let text = render(&updates, &[]).into_string();
        assert!(!text.contains("<script>"), "{text}");
    }
}
