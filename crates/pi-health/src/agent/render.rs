//! The chat's answers as HTML. Every value from a tool, the gateway or the
//! person is text to [`Html`], so none of it can become markup.

use serde_json::Value;

use crate::host::HostStats;
use crate::host::format;
use crate::html::Html;
use crate::planner::Action;
use crate::summary::StackSummary;

/// Lines of a log shown in the chat.
const LOG_LINES: usize = 100;
/// Characters of a log shown in the chat.
const LOG_CHARS: usize = 20_000;

/// Characters of a model's answer shown.
const MODEL_CHARS: usize = 4000;

/// Small print under an answer: which agent answered, what was dropped.
pub(crate) fn note(text: &str) -> Html {
    let mut html = Html::new();
    html.wrap("<p class=\"note\">", text, "</p>");
    html
}

/// `text` without its `<think>...</think>` blocks (reasoning models write them;
/// an unclosed one runs to the end).
fn without_thinking(text: &str) -> String {
    const OPEN: &str = "<think>";
    const CLOSE: &str = "</think>";
    let mut out = String::new();
    let mut rest = text;
    // ASCII lowercasing keeps every byte offset.
    while let Some(start) = rest.to_ascii_lowercase().find(OPEN) {
        out.push_str(&rest[..start]);
        rest = &rest[start..];
        rest = match rest.to_ascii_lowercase().find(CLOSE) {
            Some(end) => &rest[end + CLOSE.len()..],
            None => "",
        };
    }
    out.push_str(rest);
    out
}

/// A language model's words: text only (markup it wrote shows as text), its
/// thinking left out, bounded, in paragraphs.
pub(crate) fn model_text(text: &str) -> Html {
    let text = ops_core::bounded(without_thinking(text).trim(), MODEL_CHARS);
    let mut html = Html::new();
    for paragraph in text.split("\n\n").map(str::trim).filter(|p| !p.is_empty()) {
        html.raw("<p class=\"model\">");
        for (index, line) in paragraph.lines().enumerate() {
            if index > 0 {
                html.raw("<br>");
            }
            html.text(line);
        }
        html.raw("</p>");
    }
    html
}

pub(crate) fn warning(text: &str) -> Html {
    let mut html = Html::new();
    html.wrap("<p class=\"warning\">\u{26a0} ", text, "</p>");
    html
}

fn services(ps: &Value) -> &[Value] {
    ps.get("services")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

fn str_of<'a>(value: &'a Value, key: &str) -> &'a str {
    value.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// `docker_status`: the stack's summary, each service, and the host's container count.
pub(crate) fn status(summary: &StackSummary, ps: &Value, running_on_host: Option<usize>) -> Html {
    let mut html = Html::new();
    html.raw("<p><strong>Docker status:</strong> ")
        .text(&summary.sentence())
        .raw(".</p>");
    let declared: Vec<&Value> = services(ps)
        .iter()
        .filter(|s| s.get("declared").and_then(Value::as_bool) != Some(false))
        .collect();
    if !declared.is_empty() {
        html.raw("<ul class=\"services\">");
        for service in declared {
            html.wrap("<li><strong>", str_of(service, "service"), "</strong>: ")
                .text(str_of(service, "state"));
            let health = str_of(service, "health");
            if !health.is_empty() {
                html.text(&format!(" ({health})"));
            }
            if let Some(status) = service
                .pointer("/containers/0/status")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
            {
                html.text(&format!(" \u{2014} {status}"));
            }
            html.raw("</li>");
        }
        html.raw("</ul>");
    }
    if let Some(count) = running_on_host {
        html.wrap(
            "<p>",
            &format!(
                "{count} container{} running on the host in all (docker_ps).",
                if count == 1 { " is" } else { "s are" }
            ),
            "</p>",
        );
    }
    html
}

/// "Is anything unhealthy?": only what is wrong.
pub(crate) fn unhealthy(summary: &StackSummary) -> Html {
    let mut html = Html::new();
    let problems = summary.problems();
    if problems.is_empty() {
        html.wrap(
            "<p>",
            &format!(
                "Nothing is unhealthy: {} of {} services running.",
                summary.running, summary.total
            ),
            "</p>",
        );
    } else {
        html.wrap(
            "<p><strong>",
            &format!("{} of {} services running.", summary.running, summary.total),
            "</strong></p><ul>",
        );
        for problem in problems {
            html.wrap("<li>", &problem, "</li>");
        }
        html.raw("</ul>");
        if let Some(first) = summary.unhealthy.first() {
            html.wrap(
                "<p>",
                &format!("Ask me to restart {first} if it does not recover by itself."),
                "</p>",
            );
        }
    }
    html
}

/// `compose_logs`: the newest lines, as text in a `<pre>`.
pub(crate) fn logs(service: &str, result: &Value) -> Html {
    let text = str_of(result, "logs");
    let lines: Vec<&str> = text.lines().collect();
    let shown = &lines[lines.len().saturating_sub(LOG_LINES)..];
    let mut body = shown.join("\n");
    if body.len() > LOG_CHARS {
        let cut = body.len() - LOG_CHARS;
        let cut = (cut..body.len())
            .find(|i| body.is_char_boundary(*i))
            .unwrap_or(body.len());
        body = format!("[... older output cut ...]\n{}", &body[cut..]);
    }
    let mut html = Html::new();
    html.wrap(
        "<p><strong>",
        &format!("The last {} log lines of {service}", shown.len()),
        "</strong> (secrets redacted by the gateway):</p>",
    );
    if body.trim().is_empty() {
        html.raw("<p>(no output)</p>");
    } else {
        html.wrap("<pre class=\"logs\">", &body, "</pre>");
    }
    html
}

/// The host: CPU, memory, temperature, disks, uptime.
pub(crate) fn system_health(stats: &HostStats) -> Html {
    let mut html = Html::new();
    html.wrap(
        "<p><strong>System health</strong> of ",
        &stats.hostname,
        ":</p><ul>",
    );
    let load = stats.cpu.load;
    html.wrap(
        "<li>CPU: ",
        &format!(
            "{:.1} % ({} cores, load {:.2} {:.2} {:.2})",
            stats.cpu.percent, stats.cpu.cores, load[0], load[1], load[2]
        ),
        "</li>",
    );
    html.wrap(
        "<li>Memory: ",
        &format!("{} ({:.0} %)", stats.memory.text, stats.memory.percent),
        "</li>",
    );
    html.wrap("<li>Temperature: ", &stats.temperature.text, "</li>");
    for disk in stats.disks.iter().take(4) {
        html.wrap(
            "<li>Disk ",
            &format!(
                "{}: {} ({:.0} % used)",
                disk.mount, disk.text, disk.percent_used
            ),
            "</li>",
        );
    }
    html.wrap(
        "<li>Uptime: ",
        &format::duration(stats.uptime_seconds),
        "</li>",
    );
    html.raw("</ul>");
    if let Some(c) = stats.temperature.celsius
        && c >= 80.0
    {
        html.append(&warning(
            "The Pi is hot: it throttles at 85 °C. Check its cooling.",
        ));
    }
    html
}

fn verb(action: Action) -> &'static str {
    match action {
        Action::Restart => "restart",
        Action::Start => "start",
        Action::Stop => "stop",
    }
}

/// The text that goes with a suggestion card.
pub(crate) fn suggest(action: Action, service: &str, state: Option<&str>) -> Html {
    let mut html = Html::new();
    html.raw("<p>I can ")
        .text(verb(action))
        .raw(" <strong>")
        .text(service)
        .raw("</strong> for you");
    if let Some(state) = state {
        html.text(&format!(" (now: {state})"));
    }
    html.raw(". Nothing happens until you approve it below.</p>");
    html
}

pub(crate) fn unknown_service(
    action: Option<Action>,
    named: Option<&str>,
    services: &[String],
) -> Html {
    let mut html = Html::new();
    match (action, named) {
        (_, Some(name)) => {
            html.wrap(
                "<p>",
                &format!("The stack has no service named \u{201c}{name}\u{201d}."),
                "</p>",
            );
        }
        (Some(action), None) => {
            html.wrap(
                "<p>",
                &format!("Which service should I {}?", verb(action)),
                "</p>",
            );
        }
        (None, None) => {
            html.raw("<p>Which service do you mean?</p>");
        }
    }
    if services.is_empty() {
        html.raw("<p>I do not know the stack's services right now.</p>");
    } else {
        html.wrap(
            "<p>",
            &format!("The services are: {}.", services.join(", ")),
            "</p>",
        );
    }
    html
}

pub(crate) fn help(message: &str, services: &[String]) -> Html {
    let mut html = Html::new();
    if !message.trim().is_empty() {
        html.wrap(
            "<p>I am not sure what to do with \u{201c}",
            message,
            "\u{201d}.</p>",
        );
    }
    html.raw(
        "<p>I can answer questions like these:</p><ul>\
         <li>What is the Docker status?</li>\
         <li>Is anything unhealthy?</li>\
         <li>Show me sonarr's logs</li>\
         <li>Sonarr queue looks stuck, can you restart it?</li>\
         <li>Start radarr / stop jellyfin</li>\
         <li>How hot is the Pi?</li></ul>",
    );
    if !services.is_empty() {
        html.wrap(
            "<p>",
            &format!("Services in this stack: {}.", services.join(", ")),
            "</p>",
        );
    }
    html
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::summary::summarize;
    use serde_json::json;

    const XSS: &str = "<script>alert(1)</script><img src=x onerror=alert(2)>";

    fn assert_inert(html: &Html) {
        let text = html.as_str();
        assert!(!text.contains("<script"), "{text}");
        assert!(!text.contains("<img"), "{text}");
        assert!(text.contains("&lt;script&gt;"), "{text}");
    }

    #[test]
    fn tool_output_is_escaped_everywhere() {
        let ps = json!({"services": [
            {"service": XSS, "declared": true, "state": XSS, "health": XSS,
             "containers": [{"status": XSS}]}
        ]});
        assert_inert(&status(&summarize(&ps), &ps, Some(3)));
        assert_inert(&logs(
            "sonarr",
            &json!({"logs": format!("line 1\n{XSS}\n")}),
        ));
        assert_inert(&help(XSS, &[XSS.to_owned()]));
        assert_inert(&unknown_service(None, Some(XSS), &[]));
        assert_inert(&suggest(Action::Restart, XSS, Some(XSS)));
        assert_inert(&warning(XSS));
        assert_inert(&note(XSS));
        assert_inert(&model_text(XSS));
        let summary = summarize(&json!({"services": [
            {"service": XSS, "state": "running", "health": "unhealthy"}
        ]}));
        assert_inert(&unhealthy(&summary));
    }

    #[test]
    fn status_names_the_counts_and_services() {
        let ps = json!({"services": [
            {"service": "sonarr", "declared": true, "state": "running", "containers": [{"status": "Up 3 minutes"}]},
            {"service": "prowlarr", "declared": true, "state": "running", "health": "unhealthy", "containers": []},
            {"service": "bazarr", "declared": true, "state": "not created", "containers": []}
        ]});
        let html = status(&summarize(&ps), &ps, Some(7));
        let text = html.as_str();
        assert!(text.contains("2 of 3 services running"), "{text}");
        assert!(text.contains("unhealthy: prowlarr"), "{text}");
        assert!(
            text.contains("<strong>sonarr</strong>: running \u{2014} Up 3 minutes"),
            "{text}"
        );
        assert!(
            text.contains("7 containers are running on the host"),
            "{text}"
        );
    }

    #[test]
    fn logs_show_only_the_newest_lines() {
        let many: Vec<String> = (0..300).map(|i| format!("line {i}")).collect();
        let html = logs("sonarr", &json!({"logs": many.join("\n")}));
        assert!(html.as_str().contains("The last 100 log lines of sonarr"));
        assert!(html.as_str().contains("line 299"));
        assert!(!html.as_str().contains("line 199\n"));
        assert!(
            logs("x", &json!({"logs": ""}))
                .as_str()
                .contains("(no output)")
        );
    }

    #[test]
    fn unhealthy_lists_problems_or_says_all_is_well() {
        let bad = summarize(&json!({"services": [
            {"service": "prowlarr", "state": "running", "health": "unhealthy"},
            {"service": "recyclarr", "state": "exited", "containers": [{"exit_code": 3}]}
        ]}));
        let text = unhealthy(&bad).into_string();
        assert!(text.contains("unhealthy: prowlarr"), "{text}");
        assert!(text.contains("recyclarr (exit code 3)"), "{text}");
        let good = summarize(&json!({"services": [{"service": "a", "state": "running"}]}));
        assert!(unhealthy(&good).as_str().contains("Nothing is unhealthy"));
    }

    #[test]
    fn a_models_words_are_text_in_paragraphs_without_its_thinking() {
        let html = model_text(
            "<think>The user wants <b>sonarr</b>.</think>Sonarr is <b>running</b>.\nIt looks fine.\n\nI suggest a restart.",
        );
        assert_eq!(
            html.as_str(),
            "<p class=\"model\">Sonarr is &lt;b&gt;running&lt;/b&gt;.<br>It looks fine.</p><p class=\"model\">I suggest a restart.</p>"
        );
        assert_eq!(model_text("<THINK>unfinished").as_str(), "");
        assert_eq!(
            model_text("a<think>x</think>b<think>y</think>c").as_str(),
            "<p class=\"model\">abc</p>"
        );
        let long = "word ".repeat(5000);
        assert!(model_text(&long).as_str().len() < 4100);
    }
}
