// pi-health: the pages' behaviour. No framework, no build step, no inline
// script (the CSP forbids it). Values from the API are inserted with
// textContent; the only HTML inserted is the chat's `content`, which the server
// builds with every value escaped.
"use strict";

(function () {
  const meta = document.querySelector('meta[name="csrf-token"]');
  const csrf = meta ? meta.getAttribute("content") : "";
  const page = document.body.dataset.page;

  // ---- colour theme: the system's (prefers-color-scheme), or light or dark
  // as the person chose, remembered in this browser ----
  const THEME_KEY = "pi-health-theme";
  const THEMES = ["auto", "light", "dark"];

  function storedTheme() {
    try {
      const theme = window.localStorage.getItem(THEME_KEY);
      return THEMES.indexOf(theme) >= 0 ? theme : "auto";
    } catch (error) {
      return "auto";
    }
  }

  function applyTheme(theme) {
    if (theme === "auto") delete document.documentElement.dataset.theme;
    else document.documentElement.dataset.theme = theme;
    const toggle = document.getElementById("theme-toggle");
    if (toggle) toggle.textContent = "Theme: " + theme;
  }

  function nextTheme() {
    const theme = THEMES[(THEMES.indexOf(storedTheme()) + 1) % THEMES.length];
    try {
      window.localStorage.setItem(THEME_KEY, theme);
    } catch (error) {
      // Storage refused (private mode): the choice lasts for this page only.
    }
    applyTheme(theme);
  }

  applyTheme(storedTheme());
  const themeToggle = document.getElementById("theme-toggle");
  if (themeToggle) themeToggle.addEventListener("click", nextTheme);

  // ---- Docker hosts: the one the page shows (data-host, set by the server
  // from ?host= and checked there) goes with every call about its stack ----
  const HOST = document.body.dataset.host || "";
  const ON_HOST = ["/api/containers", "/api/containers/stats", "/api/logs/follow",
    "/api/ops-copilot/suggest", "/api/ops-copilot/diagnose", "/api/ops-copilot/actions"];

  function onHost(url) {
    if (!HOST || ON_HOST.indexOf(url.split("?")[0]) < 0) return url;
    return url + (url.indexOf("?") >= 0 ? "&" : "?") + "host=" + encodeURIComponent(HOST);
  }

  async function api(method, url, body) {
    url = onHost(url);
    const options = { method: method, headers: { Accept: "application/json" }, credentials: "same-origin" };
    if (method !== "GET") options.headers["X-CSRF-Token"] = csrf;
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(url, options);
    } catch (error) {
      return { ok: false, status: 0, data: { status: "error", result: "pi-health did not answer: " + error.message } };
    }
    if (response.status === 401) {
      window.location.assign("/login");
      return { ok: false, status: 401, data: null };
    }
    let data = null;
    try {
      data = await response.json();
    } catch (error) {
      data = null;
    }
    return { ok: response.ok, status: response.status, data: data };
  }

  function el(tag, text, className) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (className) node.className = className;
    return node;
  }

  function byId(id) {
    return document.getElementById(id);
  }

  function show(node, text) {
    if (!node) return;
    node.textContent = text || "";
    node.classList.toggle("hidden", !text);
  }

  function row(cells) {
    const tr = document.createElement("tr");
    for (const cell of cells) {
      const td = document.createElement("td");
      if (cell instanceof Node) td.appendChild(cell);
      else td.textContent = cell === null || cell === undefined ? "" : String(cell);
      tr.appendChild(td);
    }
    return tr;
  }

  function fill(tbody, rows) {
    tbody.replaceChildren.apply(tbody, rows);
    labelCells(tbody);
  }

  // Each cell carries its column's heading (data-label), which the narrow
  // layout shows before the value once the table becomes a list of cards.
  function labelCells(tbody) {
    const table = tbody.closest("table");
    const heads = table ? Array.from(table.querySelectorAll("thead th"), function (th) { return th.textContent; }) : [];
    for (const tr of Array.from(tbody.rows)) {
      Array.from(tr.cells).forEach(function (td, i) {
        if (!td.hasAttribute("data-label")) td.dataset.label = heads[i] || "";
      });
    }
  }

  function bytes(n) {
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let value = Number(n) || 0;
    let unit = 0;
    while (value >= 1024 && unit < units.length - 1) {
      value /= 1024;
      unit += 1;
    }
    return unit === 0 ? value + " B" : value.toFixed(1) + " " + units[unit];
  }

  function when(ms) {
    return ms ? new Date(ms).toLocaleString() : "";
  }

  function banner(node, success, text) {
    node.textContent = text;
    node.className = "banner " + (success ? "success" : "error");
  }

  // A confirmation in a modal <dialog>; resolves to true when confirmed.
  function confirmAction(title, text, command, impact) {
    const dialog = byId("confirm");
    if (!dialog || typeof dialog.showModal !== "function") {
      return Promise.resolve(window.confirm(title + "\n\n" + text + "\n\n" + (command || "")));
    }
    byId("confirm-title").textContent = title;
    byId("confirm-text").textContent = text;
    show(byId("confirm-command"), command);
    show(byId("confirm-impact"), impact);
    return new Promise(function (resolve) {
      dialog.addEventListener("close", function () {
        resolve(dialog.returnValue === "ok");
      }, { once: true });
      dialog.returnValue = "cancel";
      dialog.showModal();
    });
  }

  function every(ms, task) {
    let running = false;
    async function tick() {
      if (!running && !document.hidden) {
        running = true;
        try {
          await task();
        } finally {
          running = false;
        }
      }
    }
    tick();
    return window.setInterval(tick, ms);
  }

  // ---- containers summary (dashboard and containers page) ----
  function renderSummary(data) {
    const summary = byId("container-summary");
    show(byId("container-warning"), data && data.warning);
    if (!data || !data.summary) {
      summary.textContent = "The stack's status is not available.";
      return;
    }
    summary.textContent = data.summary.sentence + ".";
    // Newer images in the registries (the last background check; nothing pulled).
    const newer = updatesAvailable(data);
    if (newer.length) {
      summary.textContent += " \u2b06 " + newer.length + (newer.length === 1 ? " update" : " updates") +
        " available: " + newer.join(", ") + ".";
    }
    const problems = byId("container-problems");
    if (problems) {
      // Each problem in words with a warning sign, never by colour alone.
      const items = (data.summary.problems || []).map(function (p) { return el("li", "\u26a0 " + p, "bad"); });
      problems.replaceChildren.apply(problems, items);
    }
  }

  function updatesAvailable(data) {
    const services = data && data.updates && data.updates.services;
    if (!services) return [];
    return Object.keys(services).filter(function (name) { return services[name] === "update_available"; }).sort();
  }

  // ---- dashboard ----
  // When pi-health last answered: the figures on the page are from then.
  let lastAnswer = null;

  function clock(date, withSeconds) {
    const options = withSeconds ? {} : { hour: "2-digit", minute: "2-digit" };
    return date.toLocaleTimeString([], options);
  }

  // The "Updated" line says how fresh the figures are, and never looks fresh
  // when they are not: pi-health not answering greys the figures out and says
  // since when they date; the gateway not answering says the stack is unknown.
  function showFreshness(hostAnswered, stackAnswered) {
    const node = byId("updated");
    const now = new Date();
    if (hostAnswered) lastAnswer = now;
    const disconnected = !hostAnswered;
    document.body.classList.toggle("disconnected", disconnected);
    node.classList.toggle("stale", disconnected || !stackAnswered);
    node.dataset.state = disconnected ? "disconnected" : stackAnswered ? "connected" : "gateway-disconnected";
    if (disconnected) {
      node.textContent = "\u26a0 Disconnected: pi-health is not answering; " +
        (lastAnswer ? "data from " + clock(lastAnswer, false) + "." : "no data yet.");
    } else if (!stackAnswered) {
      node.textContent = "\u26a0 Disconnected from the gateway: the containers' status is unknown; " +
        (page === "dashboard" ? "host figures updated " : "asked again at ") + clock(now, true) + ".";
    } else {
      node.textContent = "Updated " + clock(now, true);
    }
  }

  function setStat(name, text) {
    const node = document.querySelector('[data-stat="' + name + '"]');
    if (node) node.textContent = text;
  }

  async function refreshDashboard() {
    const [stats, containers] = await Promise.all([api("GET", "/api/system-stats"), api("GET", "/api/containers")]);
    if (stats.ok && stats.data) {
      const s = stats.data;
      setStat("cpu", s.cpu.percent.toFixed(1) + " %");
      setStat("load", s.cpu.cores + " cores, load " + s.cpu.load.map(function (l) { return l.toFixed(2); }).join(" "));
      setStat("memory", s.memory.percent.toFixed(0) + " %");
      setStat("memory-text", s.memory.text);
      setStat("temperature", s.temperature.text);
      setStat("zones", s.temperature.zones.map(function (z) { return z.zone + " " + z.celsius.toFixed(1) + " °C"; }).join(", "));
      setStat("uptime", s.uptime);
      setStat("hostname", s.hostname + " · " + s.os);
      fill(document.querySelector("#disks tbody"), s.disks.map(function (d) {
        return row([d.mount, d.percent_used.toFixed(0) + " %", bytes(d.available_bytes) + " of " + bytes(d.total_bytes)]);
      }));
      fill(document.querySelector("#network tbody"), s.network.map(function (n) {
        return row([n.interface, bytes(n.rx_bytes_per_sec) + "/s (" + bytes(n.rx_bytes) + ")", bytes(n.tx_bytes_per_sec) + "/s (" + bytes(n.tx_bytes) + ")"]);
      }));
    }
    if (containers.data) renderSummary(containers.data);
    const stackAnswered = containers.ok && !!containers.data && !!containers.data.summary;
    showFreshness(stats.ok && !!stats.data, stackAnswered);
  }

  // ---- all hosts (dashboard, several Docker hosts): one line each ----
  function hostLinks(host) {
    const cell = document.createElement("span");
    const dashboard = el("a", host.name);
    dashboard.href = "/?host=" + encodeURIComponent(host.name);
    dashboard.setAttribute("aria-label", "Dashboard of " + host.name);
    const containers = el("a", "containers");
    containers.href = "/containers?host=" + encodeURIComponent(host.name);
    containers.setAttribute("aria-label", "Containers on " + host.name);
    const notes = [];
    if (host.default) notes.push("default");
    if (host.read_only) notes.push("read-only");
    cell.append(dashboard, notes.length ? " (" + notes.join(", ") + ") · " : " · ", containers);
    return cell;
  }

  async function refreshHosts() {
    const reply = await api("GET", "/api/hosts");
    const data = reply.data || {};
    show(byId("hosts-warning"), data.warning || (!reply.ok && data.detail) || "");
    const hosts = data.hosts || [];
    fill(document.querySelector("#hosts tbody"), hosts.map(function (h) {
      // Reachable or not in words, with a sign: never by colour alone.
      const reachable = h.reachable ? el("span", "✓ yes", "good") : el("span", "⚠ no: " + (h.reason || ""), "bad");
      const problems = h.problems && h.problems.length ? h.problems.join("; ") : (h.reachable ? "none" : "unknown");
      return row([hostLinks(h), reachable, h.reachable ? h.running + " of " + h.services + " running" : "", problems]);
    }));
  }

  // ---- containers ----
  // Live logs: the service's lines as they are written (Server-Sent Events
  // from /api/logs/follow), newest at the bottom. Scrolling up stops the
  // automatic scroll until the person comes back down; Pause holds new lines
  // aside; the filter hides what does not match; Download saves what is kept.
  // Without the live stream (a gateway without compose_logs_follow) a snapshot.
  const LOG_KEEP = 2000;
  const LOG_ERROR = /\b(error|fatal|panic|exception|traceback|failed|denied|refused|critical)\b|database is locked/i;
  const LOG_WARN = /\b(warn|warning)\b/i;
  const live = { source: null, service: "", kept: [], held: [], paused: false, unseen: 0 };

  function logStatus(text) {
    byId("log-status").textContent = text;
  }

  function atBottom(box) {
    return box.scrollHeight - box.scrollTop - box.clientHeight < 30;
  }

  function logFilter() {
    return byId("log-filter").value.trim().toLowerCase();
  }

  function lineNode(line) {
    const node = el("div", null, "log-line");
    if (line.level) node.classList.add(line.level);
    if (line.time) {
      const time = el("span", line.time.slice(11, 19), "log-time");
      time.title = line.time;
      node.appendChild(time);
    }
    node.appendChild(document.createTextNode(line.text));
    const filter = logFilter();
    if (filter && line.text.toLowerCase().indexOf(filter) < 0) node.classList.add("hidden");
    return node;
  }

  function appendLines(lines) {
    const box = byId("logs");
    const follow = atBottom(box);
    const fragment = document.createDocumentFragment();
    for (const line of lines) fragment.appendChild(lineNode(line));
    box.appendChild(fragment);
    while (box.childElementCount > LOG_KEEP) box.removeChild(box.firstElementChild);
    if (follow) {
      box.scrollTop = box.scrollHeight;
    } else {
      live.unseen += lines.length;
      show(byId("log-newest"), live.unseen + " new lines below: jump to the newest");
    }
  }

  function keepLine(line) {
    live.kept.push(line);
    if (live.kept.length > LOG_KEEP) live.kept.shift();
    if (live.paused) {
      live.held.push(line);
      if (live.held.length > LOG_KEEP) live.held.shift();
      logStatus("Paused: " + live.held.length + " new lines held.");
    } else {
      appendLines([line]);
    }
  }

  function logLine(data) {
    const level = LOG_ERROR.test(data.text) ? "log-error" : LOG_WARN.test(data.text) ? "log-warn" : "";
    return { time: data.time || "", text: data.text, stream: data.stream, level: level };
  }

  function stopFollowing(text) {
    if (live.source) live.source.close();
    live.source = null;
    logStatus(text);
    byId("log-pause").classList.add("hidden");
    byId("log-follow").classList.remove("hidden");
  }

  function parsed(event) {
    try {
      return JSON.parse(event.data);
    } catch (error) {
      return {};
    }
  }

  async function showSnapshot(service, why) {
    const reply = await api("GET", "/api/containers?logs=" + encodeURIComponent(service) + "&tail=200");
    const logs = reply.data && reply.data.logs;
    const warning = (logs && logs.warning) || (!reply.ok && reply.data && reply.data.detail) || "";
    show(byId("logs-warning"), warning || why);
    byId("logs").textContent = logs && typeof logs.logs === "string" ? logs.logs || "(no output)" : "";
    logStatus("A snapshot of the last 200 lines, not live.");
  }

  function followLogs(service) {
    if (live.source) live.source.close();
    live.service = service;
    live.kept = [];
    live.held = [];
    live.unseen = 0;
    live.paused = false;
    byId("logs").textContent = "";
    byId("log-pause").textContent = "Pause";
    byId("log-pause").classList.remove("hidden");
    byId("log-follow").classList.add("hidden");
    show(byId("log-newest"), "");
    show(byId("logs-warning"), "");
    logStatus("Connecting…");
    const source = new EventSource(onHost("/api/logs/follow?service=" + encodeURIComponent(service) + "&tail=200"));
    live.source = source;
    source.addEventListener("open", function () {
      if (live.source === source) logStatus("Following: new lines appear at the bottom.");
    });
    source.addEventListener("line", function (event) {
      if (live.source === source) keepLine(logLine(parsed(event)));
    });
    source.addEventListener("skipped", function (event) {
      const data = parsed(event);
      if (live.source === source) keepLine({ time: "", text: "… " + data.lines + " lines skipped (" + data.reason + ")", level: "log-warn" });
    });
    source.addEventListener("end", function (event) {
      if (live.source === source) stopFollowing("Stopped: " + (parsed(event).reason || "the stream ended."));
    });
    source.addEventListener("refused", function (event) {
      if (live.source !== source) return;
      stopFollowing("");
      byId("log-follow").classList.add("hidden");
      showSnapshot(service, parsed(event).detail || "");
    });
    source.addEventListener("error", function () {
      if (live.source !== source) return;
      // The browser retries by itself while the page is open; say so.
      if (source.readyState === EventSource.CLOSED) stopFollowing("Disconnected: pi-health did not answer.");
      else logStatus("Disconnected: trying again…");
    });
  }

  function showLogs(service) {
    const section = byId("logs-section");
    section.classList.remove("hidden");
    byId("logs-title").textContent = "Logs of " + service;
    followLogs(service);
    // On a phone the logs are far below the row: bring them into view.
    byId("logs-title").focus();
    section.scrollIntoView({ block: "start" });
  }

  function wireLogViewer() {
    const box = byId("logs");
    if (!box) return;
    box.addEventListener("scroll", function () {
      if (atBottom(box)) {
        live.unseen = 0;
        show(byId("log-newest"), "");
      }
    });
    byId("log-newest").addEventListener("click", function () {
      box.scrollTop = box.scrollHeight;
    });
    byId("log-pause").addEventListener("click", function () {
      live.paused = !live.paused;
      byId("log-pause").textContent = live.paused ? "Resume" : "Pause";
      if (!live.paused) {
        const held = live.held;
        live.held = [];
        appendLines(held);
        logStatus("Following: new lines appear at the bottom.");
      } else {
        logStatus("Paused: new lines are held until you resume.");
      }
    });
    byId("log-follow").addEventListener("click", function () {
      if (live.service) followLogs(live.service);
    });
    byId("log-filter").addEventListener("input", function () {
      const filter = logFilter();
      for (const node of box.children) {
        node.classList.toggle("hidden", !!filter && node.textContent.toLowerCase().indexOf(filter) < 0);
      }
    });
    byId("log-download").addEventListener("click", function () {
      const text = live.kept.map(function (l) { return (l.time ? l.time + " " : "") + l.text; }).join("\n");
      const link = el("a");
      link.href = URL.createObjectURL(new Blob([text || box.textContent], { type: "text/plain" }));
      link.download = (live.service || "service") + "-logs.txt";
      document.body.appendChild(link);
      link.click();
      link.remove();
      window.setTimeout(function () { URL.revokeObjectURL(link.href); }, 1000);
    });
    byId("log-close").addEventListener("click", function () {
      stopFollowing("");
      byId("logs-section").classList.add("hidden");
    });
    // A link to /containers?logs=SERVICE opens them at once.
    const wanted = new URLSearchParams(window.location.search).get("logs");
    if (wanted && /^[A-Za-z0-9_-]{1,32}$/.test(wanted)) showLogs(wanted);
  }

  async function refreshContainers() {
    const [reply] = await Promise.all([api("GET", "/api/containers"), refreshRights()]);
    // pi-health not answering: the rows stay, dimmed, and say since when.
    showFreshness(reply.status !== 0, reply.ok && !!reply.data && !!reply.data.summary);
    if (!reply.data || reply.status === 0) return;
    renderSummary(reply.data);
    const rows = (reply.data.services || []).filter(function (s) { return s.declared !== false; }).map(function (s) {
      const first = s.containers && s.containers.length ? s.containers[0] : null;
      let status = first ? first.status : "";
      if (first && first.exit_code !== undefined && first.exit_code !== null && s.state !== "running") {
        status += " \u2014 exited (" + first.exit_code + "): " + (first.exit_meaning || "");
      }
      const updates = reply.data.updates && reply.data.updates.services;
      s.update = updates ? updates[s.service] : undefined;
      if (s.update === "update_available") {
        status = (status ? status + " \u2014 " : "") + "\u2b06 update available";
      }
      const tr = row([s.service, stateCell(s), healthCell(s.health), status, rowActions(s)]);
      tr.dataset.service = s.service;
      if (s.problem) tr.className = "bad";
      return tr;
    });
    const focused = focusedRowButton();
    fill(document.querySelector("#services tbody"), withPanels(rows));
    refocusRowButton(focused);
  }

  // ---- containers: state in words and an icon, never by colour alone ----
  function iconText(icon, text) {
    const span = el("span", null, "state");
    const mark = el("span", icon, "icon");
    mark.setAttribute("aria-hidden", "true");
    span.appendChild(mark);
    span.appendChild(document.createTextNode(" " + text));
    return span;
  }

  function stateCell(s) {
    if (s.problem) return iconText("\u26a0", "problem: " + s.verdict_words + " (" + s.state + ")");
    const icons = { running: "\u2714", restarting: "\u21bb", paused: "\u2016", created: "\u25cb" };
    return iconText(icons[s.state] || "\u25a0", s.state || "unknown");
  }

  function healthCell(health) {
    if (!health) return "";
    const icons = { healthy: "\u2714", unhealthy: "\u2716", starting: "\u2026" };
    return iconText(icons[health] || "\u2022", health);
  }

  // ---- containers: row actions. Restart / Start / Stop ask for the chat's own
  // card (POST /api/ops-copilot/suggest) and Approve is the chat's; Diagnose is
  // the chat's "why is X ...?" read; Logs the logs below. Buttons the person
  // cannot use now are disabled with the reason in words (role, cooldown left).
  const ROW_BUTTONS = [
    { action: "restart", label: "Restart" },
    { action: "start", label: "Start" },
    { action: "stop", label: "Stop" },
    // Only on a row whose registry has a newer image (the last update check).
    { action: "update", label: "Update", onlyWhen: "update_available" },
    { action: "logs", label: "Logs" },
    { action: "diagnose", label: "Diagnose" },
  ];
  let rights = null; // GET /api/ops-copilot/actions's last answer
  let rightsAt = 0; // when it came (performance.now()): cooldowns count down from it
  const panels = new Map(); // service -> its open panel row, kept across refreshes

  async function refreshRights() {
    const reply = await api("GET", "/api/ops-copilot/actions");
    if (reply.data && reply.data.actions) {
      rights = reply.data;
      rightsAt = performance.now();
    }
    renderActionsNote();
  }

  function labelOf(action) {
    const button = ROW_BUTTONS.find(function (b) { return b.action === action; });
    return button ? button.label : action;
  }

  // What the person cannot do on any row, said once above the table.
  function renderActionsNote() {
    const note = byId("actions-note");
    if (!note) return;
    if (!rights) {
      show(note, "Cannot tell yet which actions you may use.");
      return;
    }
    const byReason = new Map();
    for (const b of ROW_BUTTONS) {
      const right = rights.actions[b.action];
      if (right && right.allowed) continue;
      const reason = (right && right.reason) || "Not available.";
      byReason.set(reason, (byReason.get(reason) || []).concat(b.label));
    }
    const lines = Array.from(byReason, function (entry) { return entry[1].join(", ") + " unavailable: " + entry[0]; });
    show(note, lines.length ? "Signed in as " + rights.role + ". " + lines.join(" ") : "");
  }

  function cooldownLeft(action, service) {
    if (!rights) return 0;
    const elapsed = (performance.now() - rightsAt) / 1000;
    let left = 0;
    for (const c of rights.cooldowns || []) {
      if (c.action === action && (c.service === service || c.service === null)) {
        left = Math.max(left, c.remaining_seconds - elapsed);
      }
    }
    return Math.max(0, Math.ceil(left));
  }

  function duration(seconds) {
    const minutes = Math.floor(seconds / 60);
    return minutes ? minutes + " min " + (seconds % 60) + " s" : seconds + " s";
  }

  function rowActions(s) {
    const box = el("div", null, "row-actions");
    box.dataset.service = s.service;
    box.dataset.state = s.state || "";
    for (const b of ROW_BUTTONS) {
      if (b.onlyWhen && s.update !== b.onlyWhen) continue;
      const button = el("button", b.label, "small");
      button.type = "button";
      button.dataset.action = b.action;
      // A name of its own for each row's button: "Logs for sonarr".
      button.setAttribute("aria-label", b.label + " " + (b.action === "logs" ? "for " : "") + s.service);
      button.addEventListener("click", function () { rowAction(b.action, s.service, button); });
      box.appendChild(button);
    }
    const why = el("p", "", "reason hidden");
    why.id = "why-" + s.service;
    box.appendChild(why);
    updateRowButtons(box);
    return box;
  }

  // Enables a row's buttons as the person's rights and the cooldowns allow,
  // saying why not: the role once in #actions-note, a cooldown in the row.
  function updateRowButtons(box) {
    const service = box.dataset.service;
    const why = box.querySelector(".reason");
    const cooling = [];
    for (const button of box.querySelectorAll("button[data-action]")) {
      if (button.dataset.busy) continue;
      const action = button.dataset.action;
      const right = rights && rights.actions[action];
      const allowed = !!(right && right.allowed);
      const left = allowed ? cooldownLeft(action, service) : 0;
      const pointless = allowed ? pointlessBecause(action, service, box.dataset.state) : "";
      button.disabled = !allowed || left > 0 || !!pointless;
      if (!allowed) {
        button.title = (right && right.reason) || "Not available.";
        button.setAttribute("aria-describedby", "actions-note");
      } else if (pointless) {
        button.title = pointless;
        button.removeAttribute("aria-describedby");
      } else if (left > 0) {
        button.title = "Cooling down: " + duration(left) + " left.";
        button.setAttribute("aria-describedby", why.id);
        cooling.push(labelOf(action) + " is cooling down: " + duration(left) + " left.");
      } else {
        button.removeAttribute("title");
        button.removeAttribute("aria-describedby");
      }
    }
    show(why, cooling.length ? cooling.join(" ") : "");
  }

  // Start on a running service, or Stop on one that is not running, would do
  // nothing: the button says so instead (the gateway would run it all the same).
  function pointlessBecause(action, service, state) {
    const up = state === "running" || state === "restarting" || state === "paused";
    if (action === "start" && up) return service + " is already running.";
    if (action === "stop" && state && !up) return service + " is not running.";
    return "";
  }

  function updateAllRowButtons() {
    for (const box of document.querySelectorAll("#services .row-actions")) updateRowButtons(box);
  }

  // The rows with each open panel right under its service's row.
  function withPanels(rows) {
    const all = [];
    for (const tr of rows) {
      all.push(tr);
      const panel = panels.get(tr.dataset.service);
      if (panel) all.push(panel);
    }
    return all;
  }

  function focusedRowButton() {
    const active = document.activeElement;
    if (!active || !active.dataset || !active.dataset.action) return null;
    const box = active.closest(".row-actions");
    return box ? { service: box.dataset.service, action: active.dataset.action } : null;
  }

  function refocusRowButton(focused) {
    if (!focused) return;
    const selector = '#services .row-actions[data-service="' + focused.service + '"] button[data-action="' + focused.action + '"]';
    const button = document.querySelector(selector);
    if (button) button.focus();
  }

  // A panel under the row of `service`, replacing one open there; closing it
  // gives the focus back to the `action` button that opened it.
  function openPanel(service, action, title) {
    const columns = document.querySelectorAll("#services thead th").length || 1;
    const tr = el("tr", null, "panel-row");
    tr.dataset.panelFor = service;
    const td = el("td");
    td.colSpan = columns;
    td.dataset.label = "";
    const panel = el("div", null, "panel");
    panel.tabIndex = -1;
    panel.setAttribute("role", "region");
    panel.setAttribute("aria-label", title);
    const head = el("div", null, "panel-head");
    head.appendChild(el("h2", title));
    const close = el("button", "Close", "small");
    close.type = "button";
    close.setAttribute("aria-label", "Close " + title);
    close.addEventListener("click", function () {
      panels.delete(service);
      tr.remove();
      refocusRowButton({ service: service, action: action });
    });
    head.appendChild(close);
    panel.appendChild(head);
    const body = el("div", null, "panel-body");
    body.appendChild(el("p", "Asking the Ops-Copilot\u2026", "sub"));
    panel.appendChild(body);
    td.appendChild(panel);
    tr.appendChild(td);
    const old = panels.get(service);
    if (old) old.remove();
    panels.set(service, tr);
    const row = document.querySelector('#services tbody tr[data-service="' + service + '"]');
    if (row) row.after(tr);
    panel.focus();
    panel.scrollIntoView({ block: "nearest" });
    return body;
  }

  // The chat's answer in a panel: its words, and its card to approve.
  function renderPanel(body, reply) {
    body.replaceChildren();
    if (!reply.ok || !reply.data || !reply.data.messages) {
      const detail = (reply.data && (reply.data.detail || reply.data.result)) || "HTTP " + reply.status;
      body.appendChild(el("p", "\u26a0 Not done: " + detail, "warning"));
      return;
    }
    for (const m of reply.data.messages) {
      const box = el("div", null, "message assistant");
      appendAnswer(box, m);
      body.appendChild(box);
    }
  }

  async function rowAction(action, service, button) {
    if (action === "logs") {
      showLogs(service);
      return;
    }
    const title = labelOf(action) + " " + service;
    const body = openPanel(service, action, title);
    button.dataset.busy = "1";
    button.disabled = true;
    const reply = action === "diagnose"
      ? await api("POST", "/api/ops-copilot/diagnose", { service: service })
      : await api("POST", "/api/ops-copilot/suggest", { action: action, service: service });
    delete button.dataset.busy;
    renderPanel(body, reply);
    updateAllRowButtons();
  }

  // ---- chat ----
  function addMessage(role, build) {
    const box = el("div", null, "message " + role);
    build(box);
    byId("messages").appendChild(box);
    box.scrollIntoView({ block: "end" });
    return box;
  }

  function suggestionCard(suggestion) {
    const card = el("div", null, "suggestion");
    card.dataset.actionId = suggestion.id;
    card.appendChild(el("p", suggestion.description, "description"));
    card.appendChild(el("pre", suggestion.command, "command"));
    card.appendChild(el("p", suggestion.impact, "impact"));
    const button = el("button", suggestion.ctaLabel, "primary approve");
    button.type = "button";
    button.addEventListener("click", async function () {
      const confirmed = await confirmAction(suggestion.ctaLabel + "?", suggestion.description, suggestion.command, suggestion.impact);
      if (!confirmed) return;
      button.disabled = true;
      button.textContent = "Running…";
      const reply = await api("POST", "/api/ops-copilot/approve", { action_id: suggestion.id });
      const data = reply.data || { status: "error", result: "No answer (HTTP " + reply.status + ")." };
      const success = data.status === "success";
      const text = (success ? "Success: " : "Failed: ") + (data.result || "") + (data.followup ? " " + data.followup : "");
      banner(byId("banner"), success, text);
      const outcome = el("p", text, success ? "outcome success" : "outcome error");
      card.appendChild(outcome);
      button.textContent = success ? "Done" : "Not executed";
      document.dispatchEvent(new CustomEvent("pi-health:approved", { detail: { success: success } }));
    });
    card.appendChild(button);
    return card;
  }

  // One message of the chat's answer: its content and its card, if any.
  function appendAnswer(box, m) {
    // Server-built HTML: every value in it is escaped on the server.
    const content = el("div", null, "content");
    content.innerHTML = m.content;
    box.appendChild(content);
    if (m.suggestion) box.appendChild(suggestionCard(m.suggestion));
  }

  async function sendChat(event) {
    event.preventDefault();
    const input = byId("chat-input");
    const send = byId("chat-send");
    const message = input.value.trim();
    if (!message) return;
    addMessage("user", function (box) { box.appendChild(el("p", message)); });
    input.value = "";
    send.disabled = true;
    const pending = addMessage("assistant pending", function (box) { box.appendChild(el("p", "Thinking…")); });
    try {
      const reply = await api("POST", "/api/ops-copilot/chat", { message: message });
      pending.remove();
      if (!reply.ok || !reply.data || !reply.data.messages) {
        addMessage("assistant", function (box) {
          box.appendChild(el("p", "Error: " + ((reply.data && (reply.data.detail || reply.data.result)) || "HTTP " + reply.status), "warning"));
        });
        return;
      }
      for (const m of reply.data.messages) {
        addMessage("assistant", function (box) { appendAnswer(box, m); });
      }
      byId("chat-meta").textContent = "model: " + reply.data.model + (reply.data.tools.length ? " · tools: " + reply.data.tools.join(", ") : "");
    } finally {
      send.disabled = false;
      input.focus();
    }
  }

  // ---- chat history (kept per person on the server: survives reload and restart) ----
  function historyTime(ms) {
    return new Date(ms).toLocaleString([], { dateStyle: "short", timeStyle: "short" });
  }

  function historyBox(role, build) {
    const box = el("div", null, "message history " + role);
    build(box);
    return box;
  }

  // Older messages go above whatever was typed while they loaded.
  async function showHistory() {
    const reply = await api("GET", "/api/ops-copilot/history");
    if (!reply.ok || !reply.data || !reply.data.entries) return;
    const boxes = document.createDocumentFragment();
    for (const entry of reply.data.entries) {
      if (entry.kind === "exchange") {
        boxes.appendChild(historyBox("user", function (box) {
          box.appendChild(el("p", entry.message));
          box.appendChild(el("p", historyTime(entry.at_ms), "sub"));
        }));
        for (const r of entry.replies) {
          boxes.appendChild(historyBox("assistant", function (box) {
            // Server-built HTML: every value in it is escaped on the server.
            const content = el("div", null, "content");
            content.innerHTML = r.content;
            box.appendChild(content);
            if (r.proposed) box.appendChild(el("p", "Suggested: " + r.proposed + " (ask again for a card to approve)", "sub"));
          }));
        }
      } else if (entry.kind === "outcome") {
        boxes.appendChild(historyBox("assistant", function (box) {
          box.appendChild(el("p", (entry.success ? "Success: " : "Failed: ") + entry.text, entry.success ? "outcome success" : "outcome error"));
        }));
      }
    }
    const messages = byId("messages");
    messages.insertBefore(boxes, messages.firstChild);
    if (messages.lastElementChild) messages.lastElementChild.scrollIntoView({ block: "end" });
  }

  async function clearHistory() {
    const reply = await api("DELETE", "/api/ops-copilot/history");
    if (reply.ok) {
      for (const old of document.querySelectorAll("#messages .history")) old.remove();
    } else {
      banner(byId("banner"), false, (reply.data && reply.data.detail) || "The history could not be cleared (HTTP " + reply.status + ").");
    }
  }

  // ---- approvals ----
  async function decide(approval, verb) {
    const confirmed = await confirmAction(
      (verb === "approve" ? "Approve " : "Deny ") + approval.tool + "?",
      "Requested by " + approval.principal + (approval.requested_for ? " for " + approval.requested_for : "") + ": " + approval.rationale,
      approval.tool + " " + JSON.stringify(approval.args),
      verb === "approve" ? "The call runs now, through the gateway." : "The request is refused."
    );
    if (!confirmed) return;
    const reply = await api("POST", "/api/approvals/" + encodeURIComponent(approval.id) + "/" + verb);
    const data = reply.data || { status: "error", result: "HTTP " + reply.status };
    banner(byId("banner"), data.status === "success", (data.status === "success" ? "Success: " : "Failed: ") + (data.result || data.detail || ""));
    refreshApprovals();
  }

  async function refreshApprovals() {
    const reply = await api("GET", "/api/approvals");
    const data = reply.data || {};
    show(byId("approvals-warning"), data.warning || (!reply.ok && data.detail) || "");
    const approvals = data.approvals || [];
    byId("approvals-empty").classList.toggle("hidden", approvals.length > 0 || !!data.warning);
    byId("approvals").classList.toggle("hidden", approvals.length === 0);
    fill(document.querySelector("#approvals tbody"), approvals.map(function (a) {
      const actions = el("span", null, "actions");
      for (const verb of ["approve", "deny"]) {
        const button = el("button", verb === "approve" ? "Approve" : "Deny", verb === "approve" ? "primary small" : "small");
        button.type = "button";
        button.disabled = verb === "approve" && a.can_approve === false;
        button.addEventListener("click", function () { decide(a, verb); });
        actions.appendChild(button);
      }
      const tr = row([a.principal + " (" + a.role + ")" + (a.requested_for ? " for " + a.requested_for : ""), a.tool, JSON.stringify(a.args), a.rationale, when(a.expires_at_ms), actions]);
      tr.dataset.approvalId = a.id;
      return tr;
    }));
  }

  // ---- audit ----
  function auditRow(r) {
    // on_behalf_of is whom the caller of the request said it acted for: the
    // approver when there is one, else the principal ("pi-health for alice").
    const forWhom = r.on_behalf_of ? " for " + r.on_behalf_of : "";
    const who = r.principal + " (" + r.role + ")" + (r.approver ? "" : forWhom);
    const approver = r.approver ? r.approver + forWhom : "";
    const tr = row([r.seq, r.time, who, r.tool, JSON.stringify(r.args), r.decision, r.reason || "", approver, r.latency_ms]);
    tr.className = "decision-" + r.decision;
    return tr;
  }

  // One approved action (request, approval, run) is one row, its newest record,
  // with a button that shows the others under it.
  function auditRows(records) {
    const groups = new Map();
    for (const r of records) {
      const key = r.approval_id ? "approval " + r.approval_id : "record " + r.seq;
      if (!groups.has(key)) groups.set(key, []);
      groups.get(key).push(r);
    }
    const rows = [];
    for (const group of groups.values()) {
      const head = auditRow(group[0]);
      rows.push(head);
      if (group.length === 1) continue;
      const earlier = group.slice(1).map(function (r) {
        const tr = auditRow(r);
        tr.classList.add("earlier", "hidden");
        return tr;
      });
      const toggle = el("button", "+" + earlier.length, "small");
      toggle.type = "button";
      toggle.setAttribute("aria-expanded", "false");
      toggle.setAttribute("aria-label", "Show the " + group.length + " records of " + group[0].tool + " #" + group[0].seq);
      toggle.addEventListener("click", function () {
        const open = toggle.getAttribute("aria-expanded") !== "true";
        toggle.setAttribute("aria-expanded", String(open));
        for (const tr of earlier) tr.classList.toggle("hidden", !open);
      });
      head.children[5].appendChild(document.createTextNode(" "));
      head.children[5].appendChild(toggle);
      rows.push.apply(rows, earlier);
    }
    return rows;
  }

  async function refreshAudit(event) {
    if (event) event.preventDefault();
    const params = new URLSearchParams();
    let showReads = false;
    for (const [key, value] of new FormData(byId("audit-filter"))) {
      if (key === "show_reads") showReads = true;
      else if (String(value).trim()) params.append(key, String(value).trim());
    }
    if (!showReads) params.append("hide_reads", "true");
    const reply = await api("GET", "/api/audit?" + params.toString());
    const data = reply.data || {};
    show(byId("audit-warning"), data.warning || (!reply.ok && data.detail) || "");
    const records = data.records || [];
    byId("audit-empty").classList.toggle("hidden", records.length > 0 || !!data.warning);
    byId("audit").classList.toggle("hidden", records.length === 0);
    fill(document.querySelector("#audit tbody"), auditRows(records));
  }

  // ---- container resources (containers page): CPU, memory, I/O, last hour ----
  // Self-contained on purpose: its own section, built here after the services
  // table, so the page's table and cards stay as they are. Charts are inline
  // SVG made with createElementNS (no library, no inline style).
  const SVG_NS = "http://www.w3.org/2000/svg";

  function percent(value) {
    return value === null || value === undefined ? "\u2014" : value.toFixed(1) + " %";
  }

  // A line per run of samples; a gap longer than two intervals (nobody was
  // looking) breaks it, so no trend is drawn where nothing was measured.
  function sparkline(history, key, windowSeconds, intervalSeconds, label) {
    const width = 120;
    const height = 28;
    const svg = document.createElementNS(SVG_NS, "svg");
    svg.setAttribute("viewBox", "0 0 " + width + " " + height);
    svg.setAttribute("width", String(width));
    svg.setAttribute("height", String(height));
    svg.setAttribute("class", "spark");
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", label);
    const title = document.createElementNS(SVG_NS, "title");
    title.textContent = label;
    svg.appendChild(title);
    const values = (history && history[key]) || [];
    const ago = (history && history.ago) || [];
    const known = values.filter(function (v) { return v !== null && v !== undefined; });
    const top = Math.max.apply(null, known.concat([0])) || 1;
    const runs = [];
    let run = [];
    let previous = null;
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (v === null || v === undefined || (previous !== null && previous - ago[i] > 2 * intervalSeconds + 1)) {
        if (run.length) runs.push(run);
        run = [];
      }
      if (v === null || v === undefined) { previous = null; continue; }
      const x = (windowSeconds - Math.min(ago[i], windowSeconds)) / windowSeconds * (width - 2) + 1;
      const y = height - 1 - (v / top) * (height - 2);
      run.push([x, y]);
      previous = ago[i];
    }
    if (run.length) runs.push(run);
    for (const points of runs) {
      if (points.length === 1) {
        const dot = document.createElementNS(SVG_NS, "circle");
        dot.setAttribute("cx", points[0][0].toFixed(1));
        dot.setAttribute("cy", points[0][1].toFixed(1));
        dot.setAttribute("r", "1.5");
        svg.appendChild(dot);
      } else {
        const line = document.createElementNS(SVG_NS, "polyline");
        line.setAttribute("points", points.map(function (p) { return p[0].toFixed(1) + "," + p[1].toFixed(1); }).join(" "));
        svg.appendChild(line);
      }
    }
    return svg;
  }

  function rangeWords(values, format) {
    const known = (values || []).filter(function (v) { return v !== null && v !== undefined; });
    if (!known.length) return "no samples yet";
    return format(Math.min.apply(null, known)) + " to " + format(Math.max.apply(null, known));
  }

  function resourcesSection() {
    let section = byId("resources");
    if (section) return section;
    section = el("section");
    section.id = "resources";
    section.setAttribute("aria-labelledby", "resources-title");
    const heading = el("h2", "Resources (last hour)");
    heading.id = "resources-title";
    section.appendChild(heading);
    for (const [id, className] of [["resources-hint", "warning hidden"], ["resources-warning", "warning hidden"], ["resources-note", "sub"]]) {
      const p = el("p", "", className);
      p.id = id;
      section.appendChild(p);
    }
    const table = el("table");
    table.id = "resources-table";
    const head = el("thead");
    const tr = el("tr");
    for (const name of ["Container", "CPU", "Memory", "Network (in / out)", "Disk (read / write)"]) tr.appendChild(el("th", name));
    head.appendChild(tr);
    table.appendChild(head);
    table.appendChild(el("tbody"));
    section.appendChild(table);
    const services = byId("services");
    if (services) services.insertAdjacentElement("afterend", section);
    else document.querySelector("main").appendChild(section);
    return section;
  }

  function resourceRow(c, data) {
    const span = data.window_seconds || 3600;
    const interval = data.interval_seconds || 15;
    const cpu = el("div", null, "figure");
    cpu.appendChild(el("span", percent(c.cpu_percent)));
    cpu.appendChild(sparkline(c.history, "cpu", span, interval, "CPU of " + c.name + " over the last hour: " + rangeWords(c.history && c.history.cpu, percent)));
    const memory = el("div", null, "figure");
    if (c.memory_used === undefined || c.memory_used === null) {
      memory.appendChild(el("span", data.memory_accounting_missing ? "not accounted (see above)" : "\u2014"));
    } else {
      memory.appendChild(el("span", bytes(c.memory_used) + (c.memory_limit ? " of " + bytes(c.memory_limit) + " (" + percent(c.memory_percent) + ")" : "")));
      memory.appendChild(sparkline(c.history, "memory", span, interval, "Memory of " + c.name + " over the last hour: " + rangeWords(c.history && c.history.memory, bytes)));
    }
    const tr = row([c.service + " \u00b7 " + c.name, cpu, memory, bytes(c.net_rx_bytes) + " / " + bytes(c.net_tx_bytes), bytes(c.block_read_bytes) + " / " + bytes(c.block_write_bytes)]);
    tr.dataset.container = c.name;
    return tr;
  }

  async function refreshResources() {
    const section = resourcesSection();
    const reply = await api("GET", "/api/containers/stats");
    const data = reply.data || {};
    show(byId("resources-hint"), data.memory_accounting_missing ? "\u26a0 " + (data.memory_hint || "Memory is not accounted per container.") : "");
    show(byId("resources-warning"), data.warning || (!reply.ok && (data.detail || "HTTP " + reply.status)) || "");
    const containers = (data.containers || []).slice().sort(function (a, b) { return (b.memory_used || 0) - (a.memory_used || 0) || (b.cpu_percent || 0) - (a.cpu_percent || 0); });
    let note = "";
    if (data.sampled_at) note = "Measured " + clock(new Date(data.sampled_at), true) + "; one sample every " + data.interval_seconds + " s while this page is open.";
    else if (data.online !== false) note = "Measuring\u2026";
    const unavailable = (data.unavailable || []).map(function (u) { return u.name + ": " + u.reason; });
    if (unavailable.length) note += " Not measured: " + unavailable.join("; ");
    byId("resources-note").textContent = note;
    fill(section.querySelector("tbody"), containers.map(function (c) { return resourceRow(c, data); }));
  }

  // ---- wiring ----
  if (page === "dashboard") every(5000, refreshDashboard);
  if (page === "dashboard" && document.body.dataset.hosts === "several") every(10000, refreshHosts);
  if (page === "containers") {
    wireLogViewer();
    every(10000, refreshContainers);
    // The cooldowns' time left counts down between refreshes.
    window.setInterval(updateAllRowButtons, 1000);
    document.addEventListener("pi-health:approved", function () { refreshContainers(); });
  }
  if (page === "chat") {
    byId("chat-form").addEventListener("submit", sendChat);
    byId("chat-clear").addEventListener("click", clearHistory);
    showHistory();
    byId("chat-input").focus();
  }
  if (page === "approvals") {
    every(10000, refreshApprovals);
    byId("approvals-refresh").addEventListener("click", refreshApprovals);
  }
  if (page === "audit") {
    // A phone shows fewer records at first: each is a card of several lines.
    if (window.matchMedia("(max-width: 640px)").matches) byId("audit-filter").elements.limit.value = "25";
    byId("audit-filter").addEventListener("submit", refreshAudit);
    refreshAudit();
  }
  // Container resources: own refresh, shared by every page on the server.
  if (page === "containers") every(15000, refreshResources);
})();
