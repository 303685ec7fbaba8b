//! The pages, rendered on the server: a shared layout and each page's skeleton.
//! `static/app.js` fills them from the JSON API (no inline script: the CSP
//! forbids it); values are only ever inserted as text.

use axum::Extension;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html as HtmlResponse, IntoResponse, Response};

use super::Shared;
use super::host_picker::{self, PageHosts};
use super::hosts::HostParam;
use super::session::Session;
use crate::html::Html;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Page {
    Dashboard,
    Containers,
    Chat,
    Approvals,
    Audit,
}

impl Page {
    fn id(self) -> &'static str {
        match self {
            Self::Dashboard => "dashboard",
            Self::Containers => "containers",
            Self::Chat => "chat",
            Self::Approvals => "approvals",
            Self::Audit => "audit",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Self::Dashboard => "Dashboard",
            Self::Containers => "Containers",
            Self::Chat => "Ops-Copilot",
            Self::Approvals => "Approvals",
            Self::Audit => "Audit",
        }
    }

    /// Whether the page shows one Docker host's stack (and takes `?host=`).
    fn per_host(self) -> bool {
        matches!(self, Self::Dashboard | Self::Containers)
    }

    fn path(self) -> &'static str {
        match self {
            Self::Dashboard => "/",
            Self::Containers => "/containers",
            Self::Chat => "/chat",
            Self::Approvals => "/approvals",
            Self::Audit => "/audit",
        }
    }
}

const PAGES: [Page; 5] = [
    Page::Dashboard,
    Page::Containers,
    Page::Chat,
    Page::Approvals,
    Page::Audit,
];

fn head(html: &mut Html, title: &str) {
    html.raw("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">")
        .raw("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">")
        .wrap("<title>", title, " \u{b7} pi-health</title>")
        .raw("<link rel=\"stylesheet\" href=\"/static/app.css\">");
}

fn layout(
    state: &Shared,
    session: &Session,
    page: Page,
    body: &'static str,
) -> HtmlResponse<String> {
    let mut main = Html::new();
    main.raw(body);
    layout_with(state, session, page, &main, &PageHosts::none())
}

/// The layout around `main`; with several Docker hosts, the page's host in
/// `data-host` (app.js passes it on to the API) and in the links of the
/// pages that show one host.
fn layout_with(
    state: &Shared,
    session: &Session,
    page: Page,
    main: &Html,
    hosts: &PageHosts,
) -> HtmlResponse<String> {
    let mut html = Html::new();
    head(&mut html, page.title());
    html.raw("<meta name=\"csrf-token\" content=\"")
        .text(&session.csrf)
        .raw("\"><script src=\"/static/app.js\" defer></script></head>")
        .raw("<body data-page=\"")
        .text(page.id())
        .raw("\"");
    if let Some(host) = host_picker::query(hosts) {
        html.raw(" data-host=\"").text(host).raw("\"");
    }
    if hosts.several() {
        html.raw(" data-hosts=\"several\"");
    }
    html.raw("><header><nav><span class=\"brand\">pi-health</span>");
    for item in PAGES {
        html.raw("<a href=\"").text(item.path());
        if let Some(host) = host_picker::query(hosts).filter(|_| item.per_host()) {
            html.raw("?host=").text(host);
        }
        html.raw("\"");
        if item == page {
            html.raw(" class=\"active\" aria-current=\"page\"");
        }
        html.raw(">").text(item.title()).raw("</a>");
    }
    // The colour theme's switch (app.js: the system's, light or dark, remembered).
    html.raw("<span class=\"spacer\"></span><button type=\"button\" id=\"theme-toggle\" class=\"theme-toggle\">Theme: auto</button><span class=\"user\">")
        .text(&session.user)
        .raw("</span><form method=\"post\" action=\"/logout\" class=\"logout\">")
        .raw("<input type=\"hidden\" name=\"csrf_token\" value=\"")
        .text(&session.csrf)
        .raw("\"><button type=\"submit\">Sign out</button></form></nav></header>");
    if state.agent.gateway().is_none() {
        html.raw("<div class=\"banner warning\" id=\"offline\">Docker integration is offline: DOCKER_MCP_BASE_URL is not set. Host statistics work; containers cannot be read or changed.</div>");
    }
    html.raw("<main>").append(main).raw("</main></body></html>");
    HtmlResponse(html.into_string())
}

/// A page that shows one Docker host: its picker above `body` when the
/// gateway has several, or, for a `?host=` that names none of them, the
/// message (404) instead of the page.
async fn per_host(
    state: &Shared,
    session: &Session,
    page: Page,
    query: Option<Query<HostParam>>,
    body: fn(&PageHosts) -> Html,
    extra: fn(&PageHosts) -> Html,
) -> Response {
    let asked = query.and_then(|Query(q)| q.host);
    let list = super::hosts::of(state, session).await.unwrap_or_default();
    let picked = super::hosts::picked(state, session, asked.as_deref()).await;
    let hosts = PageHosts {
        list,
        picked: picked.as_ref().ok().cloned().flatten(),
    };
    let mut main = Html::new();
    match picked {
        Err(why) => {
            main.wrap("<h1>", page.title(), "</h1>");
            main.append(&host_picker::unknown(&why, page.path(), &hosts));
            let page = layout_with(state, session, page, &main, &PageHosts::none());
            (StatusCode::NOT_FOUND, page).into_response()
        }
        Ok(_) => {
            main.append(&host_picker::picker(page.path(), &hosts));
            main.append(&body(&hosts));
            main.append(&extra(&hosts));
            layout_with(state, session, page, &main, &hosts).into_response()
        }
    }
}

/// The confirmation before an approval runs: the chat's cards and the
/// Containers page's (the same cards) use it. A macro, for `concat!`.
macro_rules! confirm_dialog {
    () => {
        r#"<dialog id="confirm" aria-labelledby="confirm-title"><form method="dialog"><h2 id="confirm-title">Confirm</h2><p id="confirm-text"></p><pre id="confirm-command"></pre>
<p id="confirm-impact"></p><div class="dialog-buttons"><button value="cancel" id="confirm-cancel">Cancel</button><button value="ok" id="confirm-ok" class="primary">Confirm</button></div></form></dialog>"#
    };
}

/// The dashboard's parts: this machine's figures (cards, disks, network) and
/// the stack's (containers). Macros, for `concat!`.
macro_rules! dashboard_cards {
    () => {
        r#"<section class="cards">
  <div class="card"><h2>CPU</h2><p class="big" data-stat="cpu">&hellip;</p><p class="sub" data-stat="load"></p></div>
  <div class="card"><h2>Memory</h2><p class="big" data-stat="memory">&hellip;</p><p class="sub" data-stat="memory-text"></p></div>
  <div class="card"><h2>Temperature</h2><p class="big" data-stat="temperature">&hellip;</p><p class="sub" data-stat="zones"></p></div>
  <div class="card"><h2>Uptime</h2><p class="big" data-stat="uptime">&hellip;</p><p class="sub" data-stat="hostname"></p></div>
</section>
"#
    };
}

macro_rules! dashboard_containers {
    () => {
        r#"<section><h2>Containers</h2><p id="container-summary">&hellip;</p><p class="warning hidden" id="container-warning"></p>
<ul id="container-problems" class="plain"></ul></section>
"#
    };
}

macro_rules! dashboard_disks {
    () => {
        r#"<section class="two"><div><h2>Disks</h2><table id="disks" class="responsive"><thead><tr><th>Mount</th><th>Used</th><th>Free</th></tr></thead><tbody></tbody></table></div>
<div><h2>Network</h2><table id="network" class="responsive"><thead><tr><th>Interface</th><th>Receive</th><th>Send</th></tr></thead><tbody></tbody></table></div></section>
"#
    };
}

const DASHBOARD: &str = concat!(
    "<h1>Dashboard</h1>\n",
    dashboard_cards!(),
    dashboard_containers!(),
    dashboard_disks!(),
    r#"<p class="updated" id="updated"></p>"#
);

/// The dashboard: as it always was for the default host (or one host); for
/// another host, that host's containers, then this machine's figures under
/// its own name (pi-health sees only the hardware of the machine it runs on,
/// never another host's).
fn dashboard_body(hosts: &PageHosts) -> Html {
    let mut html = Html::new();
    let Some(host) = hosts.picked.as_ref().filter(|h| !h.default) else {
        html.raw(DASHBOARD);
        return html;
    };
    let machine = crate::host::this_machine();
    html.raw(concat!("<h1>Dashboard</h1>\n", dashboard_containers!()))
        .raw("<section id=\"this-machine\" aria-labelledby=\"machine-title\"><h2 id=\"machine-title\">This machine (")
        .text(&machine)
        .raw(")</h2><p class=\"note\" id=\"machine-note\">pi-health sees only the hardware of the machine it runs on (")
        .text(&machine)
        .raw("), not of ")
        .text(&host.name)
        .raw(": the CPU, memory, temperature, uptime, disks and network below are this machine\u{2019}s.</p>\n")
        .raw(concat!(dashboard_cards!(), dashboard_disks!(), "</section>\n"))
        .raw(r#"<p class="updated" id="updated"></p>"#);
    html
}

const CONTAINERS: &str = concat!(
    r#"<h1>Containers</h1>
<div id="banner" class="banner hidden" role="status" aria-live="polite"></div>
<p id="container-summary">&hellip;</p><p class="warning hidden" id="container-warning"></p>
<p class="note hidden" id="actions-note"></p>
<table id="services" class="responsive"><thead><tr><th>Service</th><th>State</th><th>Health</th><th>Status</th><th>Actions</th></tr></thead><tbody></tbody></table>
<p class="updated" id="updated"></p>
<section id="logs-section" class="hidden" aria-labelledby="logs-title"><h2 id="logs-title" tabindex="-1">Logs</h2>
<div class="log-toolbar"><label for="log-filter">Filter</label><input id="log-filter" type="search" placeholder="text to look for">
<button type="button" id="log-pause">Pause</button><button type="button" id="log-follow" class="hidden">Follow again</button>
<button type="button" id="log-download">Download</button><button type="button" id="log-close">Close</button></div>
<p class="note" id="log-status" role="status" aria-live="polite"></p><p class="warning hidden" id="logs-warning"></p>
<div id="logs" class="logs" role="log" aria-label="Log lines" tabindex="0"></div>
<button type="button" id="log-newest" class="hidden">New lines below</button></section>"#,
    confirm_dialog!()
);

const CHAT: &str = concat!(
    r#"<h1>Ops-Copilot</h1>
<div id="banner" class="banner hidden" role="status" aria-live="polite"></div>
<div id="messages" class="messages" aria-live="polite"></div>
<form id="chat-form" class="chat-form" autocomplete="off">
  <label for="chat-input" class="chat-label">Message</label>
  <input id="chat-input" name="message" maxlength="2000" placeholder="Ask about the Pi or the stack, e.g. What is the Docker status?" required>
  <button type="submit" id="chat-send">Send</button>
</form>
<p class="sub"><span id="chat-meta"></span> <button type="button" id="chat-clear" class="small">Clear history</button></p>
"#,
    confirm_dialog!()
);

const APPROVALS: &str = r#"<h1>Approvals</h1>
<p>Requests waiting for a human in the ai-gateway, including ones an agent made through its MCP endpoint.</p>
<div id="banner" class="banner hidden" role="status" aria-live="polite"></div>
<p class="warning hidden" id="approvals-warning"></p>
<table id="approvals" class="responsive"><thead><tr><th>Requested by</th><th>Tool</th><th>Arguments</th><th>Why</th><th>Expires</th><th>Actions</th></tr></thead><tbody></tbody></table>
<p id="approvals-empty" class="hidden">Nothing is waiting for approval.</p>
<p><button type="button" id="approvals-refresh">Refresh</button></p>"#;

const AUDIT: &str = r#"<h1>Audit</h1>
<form id="audit-filter" class="filters">
  <label>Principal <input name="principal" maxlength="64"></label>
  <label>For (person) <input name="on_behalf_of" maxlength="64"></label>
  <label>Tool <input name="tool" maxlength="64"></label>
  <label>Decision <select name="decision"><option value="">any</option><option>denied</option><option>need_approval</option><option>approved</option><option>executed</option><option>failed</option></select></label>
  <label>Since <input name="since" placeholder="2025-01-01T00:00:00Z" maxlength="40"></label>
  <label>Until <input name="until" maxlength="40"></label>
  <label>Limit <input name="limit" type="number" min="1" max="500" value="100"></label>
  <label><input type="checkbox" name="show_reads" value="1"> Show reads</label>
  <button type="submit">Filter</button>
</form>
<p class="warning hidden" id="audit-warning"></p>
<table id="audit" class="responsive"><thead><tr><th>#</th><th>Time</th><th>Principal</th><th>Tool</th><th>Arguments</th><th>Decision</th><th>Reason</th><th>Approver</th><th>ms</th></tr></thead><tbody></tbody></table>
<p id="audit-empty" class="hidden">No records match.</p>
<p class="sub">Decisions and changes are shown; reads that simply ran are hidden unless "Show reads" is ticked. The records of one approved action are one row: open it to see each.</p>"#;

pub(crate) async fn dashboard(
    State(state): State<Shared>,
    Extension(session): Extension<Session>,
    query: Result<Query<HostParam>, QueryRejection>,
) -> Response {
    let page = Page::Dashboard;
    per_host(
        &state,
        &session,
        page,
        query.ok(),
        dashboard_body,
        host_picker::overview,
    )
    .await
}

pub(crate) async fn containers(
    State(state): State<Shared>,
    Extension(session): Extension<Session>,
    query: Result<Query<HostParam>, QueryRejection>,
) -> Response {
    let page = Page::Containers;
    per_host(
        &state,
        &session,
        page,
        query.ok(),
        |_| {
            let mut html = Html::new();
            html.raw(CONTAINERS);
            html
        },
        |_| Html::new(),
    )
    .await
}

pub(crate) async fn chat(
    State(state): State<Shared>,
    Extension(session): Extension<Session>,
) -> HtmlResponse<String> {
    layout(&state, &session, Page::Chat, CHAT)
}

pub(crate) async fn approvals(
    State(state): State<Shared>,
    Extension(session): Extension<Session>,
) -> HtmlResponse<String> {
    layout(&state, &session, Page::Approvals, APPROVALS)
}

pub(crate) async fn audit(
    State(state): State<Shared>,
    Extension(session): Extension<Session>,
) -> HtmlResponse<String> {
    layout(&state, &session, Page::Audit, AUDIT)
}

/// The sign-in page (no script at all).
pub(crate) fn login(token: &str, error: Option<&str>) -> HtmlResponse<String> {
    let mut html = Html::new();
    head(&mut html, "Sign in");
    html.raw("</head><body data-page=\"login\"><main class=\"login\"><h1>pi-health</h1>");
    if let Some(error) = error {
        html.wrap(
            "<p class=\"banner error\" id=\"login-error\">",
            error,
            "</p>",
        );
    }
    html.raw("<form method=\"post\" action=\"/login\" id=\"login-form\">")
        .raw("<input type=\"hidden\" name=\"csrf_token\" value=\"")
        .text(token)
        .raw("\"><label>User <input name=\"username\" id=\"username\" autocomplete=\"username\" required maxlength=\"64\"></label>")
        .raw("<label>Password <input name=\"password\" id=\"password\" type=\"password\" autocomplete=\"current-password\" required maxlength=\"1024\"></label>")
        .raw("<button type=\"submit\" class=\"primary\">Sign in</button></form></main></body></html>");
    HtmlResponse(html.into_string())
}
