//! "What did you do today?": the day's actions from the gateway's audit log
//! (`GET /audit`, which the gateway scopes to the person's own records, or all
//! of them for an admin). Reads are left out; each action is told once, by
//! its outcome (executed, failed or denied), with who asked and who approved.

use std::time::{SystemTime, UNIX_EPOCH};

use ops_core::contract::AuditQuery;
use ops_core::contract::audit_query::AUDIT_MAX_LIMIT;
use serde_json::Value;

use crate::html::Html;

/// The tools that change the stack.
const MUTATING: &[&str] = &[
    "compose_restart",
    "compose_start",
    "compose_stop",
    "compose_pull",
    "compose_up",
];
/// The decisions that end an action's story (the others are steps on the way).
const OUTCOMES: &[&str] = &["executed", "failed", "denied"];
/// Actions listed at most (the count says how many there were).
const LISTED: usize = 20;

/// One action of the day.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Done {
    /// `HH:MM` UTC.
    pub(crate) time: String,
    pub(crate) who: String,
    pub(crate) approver: Option<String>,
    pub(crate) tool: String,
    pub(crate) service: Option<String>,
    pub(crate) outcome: String,
}

/// Today (UTC) as `YYYY-MM-DD`, from the system clock.
pub(crate) fn today_utc() -> String {
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    date_of_day(i64::try_from(seconds / 86_400).unwrap_or(0))
}

/// A day number since 1970-01-01 as a civil date (Hinnant's algorithm).
fn date_of_day(days: i64) -> String {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

/// The gateway query for today's records (the gateway narrows it to whom it may show).
pub(crate) fn query_for_today() -> AuditQuery {
    AuditQuery {
        since: Some(today_utc()),
        limit: Some(AUDIT_MAX_LIMIT),
        ..AuditQuery::default()
    }
}

/// The actions among `GET /audit`'s records, oldest first, for `services` (all when empty).
pub(crate) fn actions(audit: &Value, services: &[String]) -> Vec<Done> {
    let records = audit
        .get("records")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let text = |r: &Value, k: &str| r.get(k).and_then(Value::as_str).map(str::to_owned);
    let mut done: Vec<Done> = records
        .iter()
        .filter(|r| {
            let tool = r.get("tool").and_then(Value::as_str).unwrap_or_default();
            let decision = r
                .get("decision")
                .and_then(Value::as_str)
                .unwrap_or_default();
            MUTATING.contains(&tool) && OUTCOMES.contains(&decision)
        })
        .map(|r| Done {
            time: text(r, "time")
                .and_then(|t| t.get(11..16).map(str::to_owned))
                .unwrap_or_default(),
            who: text(r, "on_behalf_of")
                .or_else(|| text(r, "principal"))
                .unwrap_or_else(|| "someone".into()),
            // An app that approves for its signed-in person (pi-health for
            // alice) records itself as the approver: the person is `who`.
            approver: text(r, "approver").filter(|a| Some(a) != text(r, "principal").as_ref()),
            tool: text(r, "tool").unwrap_or_default(),
            service: r
                .pointer("/args/service")
                .and_then(Value::as_str)
                .map(str::to_owned),
            outcome: text(r, "decision").unwrap_or_default(),
        })
        .filter(|d| services.is_empty() || d.service.as_ref().is_some_and(|s| services.contains(s)))
        .collect();
    // The gateway lists newest first; a day reads better in order.
    done.reverse();
    done
}

fn verb(tool: &str) -> &str {
    match tool {
        "compose_restart" => "restart",
        "compose_start" => "start",
        "compose_stop" => "stop",
        "compose_pull" => "pull",
        "compose_up" => "up",
        other => other,
    }
}

/// The day's actions, counted and listed.
pub(crate) fn render(done: &[Done], services: &[String]) -> Html {
    let mut html = Html::new();
    let about = if services.is_empty() {
        String::new()
    } else {
        format!(" on {}", services.join(", "))
    };
    if done.is_empty() {
        html.wrap(
            "<p>",
            &format!("Nothing was restarted, started or stopped{about} today (UTC) in the records you may see."),
            "</p>",
        );
        return html;
    }
    html.wrap(
        "<p>",
        &format!(
            "{} action{}{about} today (UTC), from the gateway's audit log:",
            done.len(),
            if done.len() == 1 { "" } else { "s" }
        ),
        "</p><ul class=\"history\">",
    );
    for action in done.iter().take(LISTED) {
        let target = action
            .service
            .as_deref()
            .map(|s| format!(" {s}"))
            .unwrap_or_else(|| " the stack".into());
        let approved = match &action.approver {
            Some(approver) if approver != &action.who => format!(", approved by {approver}"),
            _ => String::new(),
        };
        html.wrap(
            "<li>",
            &format!(
                "{} \u{2014} {}{target} by {}{approved}: {}",
                action.time,
                verb(&action.tool),
                action.who,
                action.outcome
            ),
            "</li>",
        );
    }
    html.raw("</ul>");
    if done.len() > LISTED {
        html.wrap(
            "<p>",
            &format!("...and {} more on the Audit page.", done.len() - LISTED),
            "</p>",
        );
    }
    html
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn civil_dates_from_day_numbers() {
        assert_eq!(date_of_day(0), "1970-01-01");
        assert_eq!(date_of_day(19_723), "2024-01-01");
        assert_eq!(date_of_day(19_782), "2024-02-29");
        assert_eq!(today_utc().len(), 10);
        assert_eq!(query_for_today().since, Some(today_utc()));
    }

    #[test]
    fn only_the_outcomes_of_mutating_calls_are_told_in_order() {
        let audit = json!({"records": [
            {"time": "2026-12-01T10:05:00.000Z", "principal": "pi-health", "on_behalf_of": "alice", "tool": "compose_restart",
             "args": {"service": "sonarr"}, "decision": "executed", "approver": "pi-health"},
            {"time": "2026-12-01T10:04:59.000Z", "principal": "pi-health", "tool": "compose_restart",
             "args": {"service": "sonarr"}, "decision": "approved"},
            {"time": "2026-12-01T10:04:00.000Z", "principal": "pi-health", "tool": "compose_ps",
             "args": {}, "decision": "executed"},
            {"time": "2026-12-01T09:00:00.000Z", "principal": "agent", "tool": "compose_stop",
             "args": {"service": "<b>radarr</b>"}, "decision": "failed", "approver": "bob"}
        ]});
        let all = actions(&audit, &[]);
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].tool, "compose_stop");
        assert_eq!(all[1].who, "alice");
        let text = render(&all, &[]).into_string();
        assert!(text.contains("2 actions today"), "{text}");
        assert!(
            text.contains("10:05 \u{2014} restart sonarr by alice: executed"),
            "{text}"
        );
        assert!(
            text.contains("stop &lt;b&gt;radarr&lt;/b&gt; by agent, approved by bob: failed"),
            "{text}"
        );
        let sonarr = actions(&audit, &["sonarr".into()]);
        assert_eq!(sonarr.len(), 1);
        assert!(
            render(&[], &["sonarr".into()])
                .as_str()
                .contains("Nothing was restarted, started or stopped on sonarr today")
        );
    }
}
