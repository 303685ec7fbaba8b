//! The chat's answers as HTML. Every value from a tool, the gateway or the
//! person is text to [`Html`], so none of it can become markup.

use serde_json::Value;

use crate::host::HostStats;
use crate::host::format;
use crate::html::Html;
use crate::planner::{Action, Named, NoSuchService};
use crate::summary::StackSummary;
use crate::verdicts;

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
            html.wrap("<li><strong>", str_of(service, "service"), "</strong>: ");
            state_words(&mut html, service);
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

/// One service's state in words: its state and health, a problem flagged in
/// words (not by colour alone), the exit code's meaning, since when.
fn state_words(html: &mut Html, service: &Value) {
    let verdict = verdicts::service_verdict(service);
    if verdicts::is_problem(service) {
        html.text(&format!("\u{26a0} problem: {}", verdicts::words(verdict)));
        html.text(&format!(" (state {})", str_of(service, "state")));
    } else {
        html.text(str_of(service, "state"));
        let health = str_of(service, "health");
        if !health.is_empty() {
            html.text(&format!(" ({health})"));
        }
    }
    if let Some((code, meaning)) = verdicts::exit(service) {
        html.text(&format!("; exited ({code}): {meaning}"));
    }
    if let Some(deaths) = verdicts::recent_deaths(service).filter(|d| *d > 0) {
        html.text(&format!(
            "; died {deaths} time{} in the last {} minutes",
            if deaths == 1 { "" } else { "s" },
            ops_core::contract::diagnosis::RECENT_WINDOW_SECONDS / 60
        ));
    }
    if let Some(status) = service
        .pointer("/containers/0/status")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
    {
        html.text(&format!(" \u{2014} {status}"));
    }
}

/// "is jellyfin down?": that service's state (`entry` is its `compose_ps` entry).
pub(crate) fn service_status(service: &str, entry: Option<&Value>) -> Html {
    let mut html = Html::new();
    match entry {
        Some(entry) => {
            html.wrap("<p><strong>", service, "</strong>: ");
            state_words(&mut html, entry);
            html.raw(".</p>");
        }
        None => {
            html.wrap(
                "<p>",
                &format!("{service} is declared but compose_ps did not list it."),
                "</p>",
            );
        }
    }
    html
}

/// The note for a name taken from a near miss ("I took 'radar' to mean radarr.").
pub(crate) fn taken(named: &Named) -> Html {
    let mut html = Html::new();
    if let Some(typed) = &named.typed {
        html.wrap(
            "<p class=\"note\">",
            &format!("I took \u{201c}{typed}\u{201d} to mean {}.", named.service),
            "</p>",
        );
    }
    html
}

/// "what's wrong?": how many services have a problem (each is diagnosed after).
pub(crate) fn problems_head(summary: &StackSummary, problems: usize) -> Html {
    let mut html = Html::new();
    if problems == 0 {
        html.wrap(
            "<p>",
            &format!("Nothing is wrong: {}.", summary.sentence()),
            "</p>",
        );
    } else {
        html.wrap(
            "<p><strong>",
            &format!(
                "{problems} service{} with a problem: {}.",
                if problems == 1 { "" } else { "s" },
                summary.problems().join("; ")
            ),
            "</strong></p>",
        );
    }
    html
}

/// "restart everything": what it would touch, and that each is its own card.
pub(crate) fn everything(
    action: Action,
    services: &[String],
    applies: &[String],
    max_cards: usize,
) -> Html {
    let mut html = Html::new();
    let verb = verb(action);
    if applies.is_empty() {
        html.wrap(
            "<p>",
            &format!(
                "There is nothing to {verb}: none of the {} services is {}.",
                services.len(),
                if action == Action::Start {
                    "stopped"
                } else {
                    "running"
                }
            ),
            "</p>",
        );
        return html;
    }
    html.wrap(
        "<p>",
        &format!(
            "To {verb} everything would touch {} of the {} services: {}. I will not do that as one action: here is one card per service, so you approve each one you mean.",
            applies.len(),
            services.len(),
            applies.join(", ")
        ),
        "</p>",
    );
    if applies.len() > max_cards {
        html.wrap(
            "<p>",
            &format!("Cards for the first {max_cards}; ask again for the others."),
            "</p>",
        );
    }
    html
}

/// A name the stack has no service for; a near miss is asked about.
pub(crate) fn no_such_service(
    name: &NoSuchService,
    action: Option<Action>,
    services: &[String],
) -> Html {
    let mut html = Html::new();
    html.wrap(
        "<p>",
        &format!("There is no {} in this stack.", name.typed),
        "</p>",
    );
    if let Some(near) = &name.near {
        let ask = match action {
            Some(action) => format!(
                "Did you mean {near}? Say \u{201c}{} {near}\u{201d} and I will suggest it.",
                verb(action)
            ),
            None => format!("Did you mean {near}?"),
        };
        html.wrap("<p>", &ask, "</p>");
    }
    services_list(&mut html, services);
    html
}

/// A name listed beside real services that the stack does not have.
pub(crate) fn left_out(name: &NoSuchService) -> Html {
    let mut html = Html::new();
    html.wrap(
        "<p>",
        &format!(
            "There is no {} in this stack, so I left it out.",
            name.typed
        ),
        "</p>",
    );
    html
}

fn services_list(html: &mut Html, services: &[String]) {
    if services.is_empty() {
        html.raw("<p>I do not know the stack's services right now.</p>");
    } else {
        html.wrap(
            "<p>",
            &format!("The services are: {}.", services.join(", ")),
            "</p>",
        );
    }
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
    action.verb()
}

/// The text that goes with a suggestion card.
/// The line that opens an answer about one of several Docker hosts.
pub(crate) fn on_host(host: &str) -> Html {
    let mut html = Html::new();
    html.raw("<p class=\"host-line\">On <strong>")
        .text(host)
        .raw("</strong>:</p>");
    html
}

pub(crate) fn suggest(
    action: Action,
    service: &str,
    host: Option<&str>,
    state: Option<&str>,
) -> Html {
    let mut html = Html::new();
    html.raw("<p>I can ")
        .text(verb(action))
        .raw(" <strong>")
        .text(service)
        .raw("</strong>");
    if let Some(host) = host {
        html.raw(" on <strong>").text(host).raw("</strong>");
    }
    html.raw(" for you");
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
    services_list(&mut html, services);
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
         <li>What is the Docker status? / Is jellyfin up?</li>\
         <li>What's wrong? / Why is prowlarr unhealthy?</li>\
         <li>Show me sonarr's logs</li>\
         <li>Restart sonarr and radarr / start radarr / stop jellyfin</li>\
         <li>What did you do today?</li>\
         <li>Any updates? / Is there a new version of sonarr?</li>\
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
        assert_inert(&suggest(Action::Restart, XSS, Some(XSS), Some(XSS)));
        assert_inert(&warning(XSS));
        assert_inert(&note(XSS));
        assert_inert(&model_text(XSS));
        let summary = summarize(&json!({"services": [
            {"service": XSS, "state": "running", "health": "unhealthy"}
        ]}));
        assert_inert(&problems_head(&summary, 1));
        assert_inert(&service_status(
            XSS,
            Some(
                &json!({"state": XSS, "containers": [{"status": XSS, "exit_code": 1, "exit_meaning": XSS}]}),
            ),
        ));
        assert_inert(&no_such_service(
            &NoSuchService {
                typed: XSS.into(),
                near: Some(XSS.into()),
            },
            Some(Action::Stop),
            &[],
        ));
        assert_inert(&taken(&Named {
            service: XSS.into(),
            typed: Some(XSS.into()),
        }));
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
    fn problems_are_counted_and_said_in_words_not_colour() {
        let ps = json!({"services": [
            {"service": "prowlarr", "state": "running", "health": "unhealthy", "containers": []},
            {"service": "bazarr", "state": "restarting", "containers": [{"state": "restarting", "exit_code": 1, "recent_deaths": 4}]},
            {"service": "jellyfin", "state": "exited", "containers": [{"state": "exited", "exit_code": 139, "status": "Exited (139) 2 minutes ago"}]}
        ]});
        let summary = summarize(&ps);
        let head = problems_head(&summary, 3).into_string();
        assert!(head.contains("3 services with a problem"), "{head}");
        assert!(head.contains("restarting: bazarr"), "{head}");
        let text = status(&summary, &ps, None).into_string();
        assert!(
            text.contains("bazarr</strong>: \u{26a0} problem: restarting (state restarting); exited (1): the program failed (a general error); died 4 times in the last 10 minutes"),
            "{text}"
        );
        assert!(
            text.contains("exited (139): crashed with a segmentation fault (SIGSEGV) \u{2014} Exited (139) 2 minutes ago"),
            "{text}"
        );
        let one = service_status("jellyfin", ps["services"].get(2)).into_string();
        assert!(
            one.contains("\u{26a0} problem: exited with an error"),
            "{one}"
        );
        let good = summarize(&json!({"services": [{"service": "a", "state": "running"}]}));
        assert!(
            problems_head(&good, 0)
                .as_str()
                .contains("Nothing is wrong")
        );
    }

    #[test]
    fn unknown_names_are_said_with_the_near_miss_and_the_list() {
        let services = vec!["sonarr".to_owned(), "radarr".to_owned()];
        let plex = NoSuchService {
            typed: "plex".into(),
            near: None,
        };
        let text = no_such_service(&plex, None, &services).into_string();
        assert!(text.contains("There is no plex in this stack."), "{text}");
        assert!(text.contains("The services are: sonarr, radarr."), "{text}");
        assert!(!text.contains("Did you mean"), "{text}");
        let radar = NoSuchService {
            typed: "radar".into(),
            near: Some("radarr".into()),
        };
        let asked = no_such_service(&radar, Some(Action::Restart), &services).into_string();
        assert!(
            asked.contains("Did you mean radarr? Say \u{201c}restart radarr\u{201d}"),
            "{asked}"
        );
        let all = everything(Action::Restart, &services, &services[..1], 10).into_string();
        assert!(
            all.contains("would touch 1 of the 2 services: sonarr"),
            "{all}"
        );
        assert!(
            everything(Action::Start, &services, &[], 10)
                .as_str()
                .contains("nothing to start")
        );
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
