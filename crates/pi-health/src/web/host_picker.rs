//! The pages' host markup, with several Docker hosts: the picker (a plain GET
//! form: no script needed, one labelled select and its button), the line that
//! says which host a page shows, the dashboard's all-hosts overview table
//! (filled by `app.js` from `GET /api/hosts`) and the message for a host that
//! does not exist. With one host, none of it is drawn.

use ops_core::contract::{HostInfo, Hosts};

use crate::html::Html;

/// The hosts a page knows of, and the one it shows.
pub(crate) struct PageHosts {
    pub(crate) list: std::sync::Arc<Hosts>,
    pub(crate) picked: Option<HostInfo>,
}

impl PageHosts {
    /// One Docker host (or none known): pages as they always were.
    pub(crate) fn none() -> Self {
        Self {
            list: std::sync::Arc::default(),
            picked: None,
        }
    }

    pub(crate) fn several(&self) -> bool {
        !self.list.is_empty()
    }
}

/// `?host=NAME` for the page's links, when a host is picked.
pub(crate) fn query(hosts: &PageHosts) -> Option<&str> {
    hosts.picked.as_ref().map(|h| h.name.as_str())
}

/// The picker, posting back to `path` (the page itself), and what it shows.
pub(crate) fn picker(path: &'static str, hosts: &PageHosts) -> Html {
    let mut html = Html::new();
    if !hosts.several() {
        return html;
    }
    html.raw("<form method=\"get\" action=\"")
        .raw(path)
        .raw("\" class=\"host-picker\" id=\"host-picker\"><label for=\"host-select\">Docker host</label><select id=\"host-select\" name=\"host\">");
    for host in &hosts.list.hosts {
        html.raw("<option value=\"").text(&host.name).raw("\"");
        if hosts.picked.as_ref().is_some_and(|p| p.name == host.name) {
            html.raw(" selected");
        }
        html.raw(">").text(&label(host)).raw("</option>");
    }
    html.raw("</select><button type=\"submit\">Show this host</button></form>");
    if let Some(picked) = &hosts.picked {
        html.raw("<p class=\"sub host-shown\" id=\"host-shown\">Showing <strong>")
            .text(&picked.name)
            .raw("</strong>");
        if picked.read_only {
            html.raw(": read-only, the gateway's policy refuses every change there");
        }
        html.raw(".</p>");
    }
    html
}

/// "pi (default)", "nas (read-only)".
fn label(host: &HostInfo) -> String {
    let mut notes = Vec::new();
    if host.default {
        notes.push("default");
    }
    if host.read_only {
        notes.push("read-only");
    }
    if notes.is_empty() {
        host.name.clone()
    } else {
        format!("{} ({})", host.name, notes.join(", "))
    }
}

/// The dashboard's all-hosts overview, filled by `app.js`.
pub(crate) fn overview(hosts: &PageHosts) -> Html {
    let mut html = Html::new();
    if hosts.several() {
        html.raw("<section id=\"hosts-section\" aria-labelledby=\"hosts-title\"><h2 id=\"hosts-title\">All hosts</h2>")
            .raw("<p class=\"warning hidden\" id=\"hosts-warning\"></p>")
            .raw("<table id=\"hosts\" class=\"responsive\"><thead><tr><th>Host</th><th>Reachable</th><th>Services</th><th>Problems</th></tr></thead><tbody><tr id=\"hosts-loading\"><td colspan=\"4\">Loading\u{2026} every host is being read.</td></tr></tbody></table></section>");
    }
    html
}

/// The page for a `?host=` that names none of the hosts: the message and the picker.
pub(crate) fn unknown(why: &str, path: &'static str, hosts: &PageHosts) -> Html {
    let mut html = Html::new();
    html.wrap(
        "<p class=\"banner error\" id=\"host-error\" role=\"alert\">",
        why,
        "</p>",
    );
    html.append(&picker(path, hosts));
    html.raw("<p><a href=\"")
        .raw(path)
        .raw("\">Show the default host</a></p>");
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts() -> PageHosts {
        let list: Hosts = serde_json::from_value(serde_json::json!({"hosts": [
            {"name": "nas", "default": false, "read_only": true},
            {"name": "pi", "default": true, "read_only": false}
        ]}))
        .unwrap();
        PageHosts {
            picked: list.find("nas").cloned(),
            list: std::sync::Arc::new(list),
        }
    }

    #[test]
    fn the_picker_is_a_labelled_select_with_the_host_shown() {
        let html = picker("/containers", &hosts()).into_string();
        assert!(html.contains("<label for=\"host-select\">Docker host</label><select id=\"host-select\" name=\"host\">"), "{html}");
        assert!(html.contains("<option value=\"nas\" selected>nas (read-only)</option>"));
        assert!(html.contains("<option value=\"pi\">pi (default)</option>"));
        assert!(html.contains("action=\"/containers\""));
        assert!(html.contains("Showing <strong>nas</strong>: read-only"));
        assert_eq!(query(&hosts()), Some("nas"));
    }

    #[test]
    fn the_overview_says_it_is_loading_until_the_hosts_answer() {
        let html = overview(&hosts()).into_string();
        assert!(
            html.contains("<tbody><tr id=\"hosts-loading\"><td colspan=\"4\">Loading\u{2026} every host is being read.</td></tr></tbody>"),
            "{html}"
        );
    }

    #[test]
    fn one_host_draws_nothing() {
        let none = PageHosts::none();
        assert!(picker("/", &none).is_empty());
        assert!(overview(&none).is_empty());
        assert_eq!(query(&none), None);
    }

    #[test]
    fn an_unknown_host_is_said_as_text() {
        let html = unknown(
            "There is no host called <b>x</b>; the hosts are: nas, pi.",
            "/",
            &hosts(),
        )
        .into_string();
        assert!(
            html.contains("There is no host called &lt;b&gt;x&lt;/b&gt;"),
            "{html}"
        );
        assert!(html.contains("role=\"alert\""));
    }
}
