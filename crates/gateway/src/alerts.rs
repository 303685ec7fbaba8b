//! What the gateway tells people unasked, and how it reads: a service that
//! turned bad or recovered (from docker-mcp's service events), an approval
//! that waits for someone else, a newer image in a registry. The notifier
//! decides where it goes, deduplicates, redacts and bounds it.

use ops_core::contract::diagnosis::Verdict;
use ops_core::contract::service_events::ServiceChange;
use ops_core::contract::updates::{StackUpdates, UpdateStatus};
use serde_json::Value;

use crate::notify::{Event, EventKind};
use crate::state::Approval;

/// The notification a change calls for, if any: a service that turned bad in
/// one of the ways people are told of, or one that is well again.
pub fn service_change(before: Option<Verdict>, change: &ServiceChange) -> Option<Event> {
    service_change_on(before, change, None)
}

/// [`service_change`] of a service on one of several hosts: the service is
/// named with its host ("sonarr on nas"), and the link opens that host's page.
pub fn service_change_on(
    before: Option<Verdict>,
    change: &ServiceChange,
    host: Option<&str>,
) -> Option<Event> {
    let before = before?;
    if before == change.verdict {
        return None;
    }
    let service = &change.service;
    let name = &match host {
        Some(host) => format!("{service} on {host}"),
        None => service.clone(),
    };
    let (kind, title) = match change.verdict {
        Verdict::CrashLoop => (EventKind::CrashLoop, format!("{name} keeps crashing")),
        Verdict::OomKilled => (EventKind::OomKilled, format!("{name} ran out of memory")),
        Verdict::ExitedError => (
            EventKind::ExitedError,
            format!("{name} exited with an error"),
        ),
        Verdict::UnhealthyProbe => (EventKind::Unhealthy, format!("{name} is unhealthy")),
        // Told only when an alert about it is open (the notifier knows which):
        // after a restart the verdict before is `starting`, not the alert's.
        verdict if verdict.is_well() && !before.is_well() => {
            (EventKind::Recovered, format!("{name} recovered"))
        }
        _ => return None,
    };
    Some(Event {
        kind,
        service: Some(name.clone()),
        title,
        message: change.summary.clone(),
        link: Some(match host {
            Some(host) => format!("/containers?host={host}&logs={service}"),
            None => format!("/containers?logs={service}"),
        }),
    })
}

/// The notification of an approval that waits for someone else's decision,
/// linking to the Approvals page.
pub fn approval_waiting(approval: &Approval) -> Event {
    // Who asked, as people read it: the person a client asked for, else the principal.
    let requester = approval
        .requested_for
        .as_deref()
        .unwrap_or(&approval.principal);
    let service = approval
        .args
        .get("service")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let on_host = approval
        .args
        .get(crate::config::HOST_ARG)
        .and_then(Value::as_str)
        .map(|host| format!(" on {host}"))
        .unwrap_or_default();
    let target = service
        .as_deref()
        .map(|s| format!(" {s}"))
        .unwrap_or_default()
        + &on_host;
    let minutes = approval
        .expires_at_ms
        .saturating_sub(approval.created_at_ms)
        .div_ceil(60_000);
    Event {
        kind: EventKind::ApprovalWaiting,
        service,
        title: format!("Approval waiting: {}{target}", approval.tool),
        message: format!(
            "{requester} asks to run {}{target} ({}). Approve or deny it in Ops-Copilot within {minutes} minutes (approval id {}).",
            approval.tool, approval.rationale, approval.id
        ),
        link: Some("/approvals".to_owned()),
    }
}

/// One notification per service whose registry holds a newer image, from a
/// `compose_updates` answer (whoever asked: pi-health checks every few minutes;
/// the notifier says each once within its repeat interval). Anything else: none.
pub fn updates(result: &Value) -> Vec<Event> {
    let Ok(updates) = serde_json::from_value::<StackUpdates>(result.clone()) else {
        return Vec::new();
    };
    updates
        .services
        .into_iter()
        .filter(|s| s.status == UpdateStatus::UpdateAvailable)
        .map(|s| {
            let image = s.image.unwrap_or_else(|| "its image".into());
            Event {
                kind: EventKind::UpdateAvailable,
                title: format!("Update available: {}", s.service),
                message: format!(
                    "The registry has a newer {image} than the one {} runs. Update it from the Containers page or say \"update {}\" in the chat (it asks for approval).",
                    s.service, s.service
                ),
                link: Some("/containers".to_owned()),
                service: Some(s.service),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn change(verdict: Verdict) -> ServiceChange {
        ServiceChange {
            service: "bazarr".into(),
            verdict,
            previous: None,
            running: true,
            health: None,
            summary: "what docker-mcp said".into(),
            initial: false,
            autoheal_label: false,
        }
    }

    #[test]
    fn a_service_on_one_of_several_hosts_is_named_with_its_host() {
        let alert = service_change_on(
            Some(Verdict::Healthy),
            &change(Verdict::UnhealthyProbe),
            Some("nas"),
        )
        .unwrap();
        assert_eq!(alert.title, "bazarr on nas is unhealthy");
        assert_eq!(alert.service.as_deref(), Some("bazarr on nas"));
        assert_eq!(
            alert.link.as_deref(),
            Some("/containers?host=nas&logs=bazarr")
        );
        let single = service_change(Some(Verdict::Healthy), &change(Verdict::UnhealthyProbe));
        assert_eq!(
            single.unwrap().link.as_deref(),
            Some("/containers?logs=bazarr")
        );
    }

    #[test]
    fn turning_bad_alerts_and_getting_well_recovers() {
        let alert = service_change(Some(Verdict::Healthy), &change(Verdict::CrashLoop)).unwrap();
        assert_eq!(alert.kind, EventKind::CrashLoop);
        assert_eq!(alert.title, "bazarr keeps crashing");
        assert_eq!(alert.message, "what docker-mcp said");
        for (verdict, kind) in [
            (Verdict::OomKilled, EventKind::OomKilled),
            (Verdict::ExitedError, EventKind::ExitedError),
            (Verdict::UnhealthyProbe, EventKind::Unhealthy),
        ] {
            assert_eq!(
                service_change(Some(Verdict::Starting), &change(verdict)).map(|e| e.kind),
                Some(kind)
            );
        }
        let well =
            service_change(Some(Verdict::UnhealthyProbe), &change(Verdict::Healthy)).unwrap();
        assert_eq!(well.kind, EventKind::Recovered);
        // After a restart the verdict before is `starting`: still a recovery
        // (the notifier sends it only when an alert about the service is open).
        let restarted = service_change(Some(Verdict::Starting), &change(Verdict::Healthy)).unwrap();
        assert_eq!(restarted.kind, EventKind::Recovered);
    }

    #[test]
    fn nothing_is_said_without_a_change_worth_telling() {
        // The first state ever seen is no change.
        assert!(service_change(None, &change(Verdict::CrashLoop)).is_none());
        // Same verdict, a person stopping a service, a service starting.
        assert!(service_change(Some(Verdict::CrashLoop), &change(Verdict::CrashLoop)).is_none());
        assert!(service_change(Some(Verdict::Healthy), &change(Verdict::Stopped)).is_none());
        assert!(service_change(Some(Verdict::Healthy), &change(Verdict::Finished)).is_none());
        assert!(service_change(Some(Verdict::ExitedError), &change(Verdict::Starting)).is_none());
    }

    #[test]
    fn only_newer_images_are_told() {
        let result = json!({
            "project": "arr",
            "services": [
                { "service": "sonarr", "image": "lscr.io/linuxserver/sonarr:latest", "status": "update_available" },
                { "service": "radarr", "image": "lscr.io/linuxserver/radarr:latest", "status": "up_to_date" },
                { "service": "local", "status": "cannot_check", "reason": "built locally" }
            ]
        });
        let events = updates(&result);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].kind, EventKind::UpdateAvailable);
        assert_eq!(events[0].service.as_deref(), Some("sonarr"));
        assert!(
            events[0]
                .message
                .contains("lscr.io/linuxserver/sonarr:latest")
        );
        assert!(updates(&json!({ "containers": [] })).is_empty());
    }
}
