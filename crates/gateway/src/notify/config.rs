//! `notify.yaml`: where notifications go. Its own file, next to `policy.yaml`
//! (an edit here must not invalidate pending approvals, as a policy edit does),
//! optional (absent: no notifications), re-read when it changes (a bad edit is
//! refused and the last good version stays). Secrets are never inline: tokens
//! and passwords are read from the files named, at load time.
//!
//! The format is documented in docs/notifications.md.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::EventKind;
use crate::config::ConfigError;
use crate::watched::Watched;

/// What the reasons end with, so a reader knows where the format is written.
const SEE_DOCS: &str = "see docs/notifications.md";

/// The longest `repeat_after_minutes` (a week).
pub const MAX_REPEAT_MINUTES: u64 = 7 * 24 * 60;
/// Messages a target gets per minute unless its `rate_per_minute` says otherwise.
pub const DEFAULT_RATE_PER_MINUTE: u32 = 30;
/// A send's timeout unless a target's `timeout_seconds` says otherwise.
pub const DEFAULT_TIMEOUT_SECONDS: u64 = 10;

/// The resolved `notify.yaml` (the default: no targets, nothing is sent).
#[derive(Debug, Clone, PartialEq)]
pub struct NotifyConfig {
    /// pi-health's address: relative links in events are resolved against it.
    pub link_base: Option<reqwest::Url>,
    /// The kinds of event that are sent at all.
    pub events: BTreeSet<EventKind>,
    /// The same alert (service, kind) is not sent again within this (0: always sent).
    pub repeat_after: std::time::Duration,
    pub targets: Vec<Target>,
    /// When the host's temperature and disks are worth telling.
    pub host: HostThresholds,
    /// Things that work but are worth a look (logged at load).
    pub warnings: Vec<String>,
}

/// `host:`: the host's temperature and disks are checked every `every` (the
/// gateway reads the thermal zones and the disks' sizes: no Engine call).
#[derive(Debug, Clone, PartialEq)]
pub struct HostThresholds {
    /// Told at or above this (°C); none: not checked.
    pub temperature_celsius: Option<f64>,
    /// Told when a disk is at least this full (%); none: not checked.
    pub disk_percent: Option<u8>,
    /// The disks checked, by a path on each.
    pub disks: Vec<PathBuf>,
    pub every: std::time::Duration,
}

/// The host checks unless `host:` says otherwise: a Raspberry Pi starts to
/// slow itself down at 80 °C, and a disk 90 % full is one download from full.
impl Default for HostThresholds {
    fn default() -> Self {
        Self {
            temperature_celsius: Some(80.0),
            disk_percent: Some(90),
            disks: vec![PathBuf::from("/")],
            every: std::time::Duration::from_secs(60),
        }
    }
}

impl Default for NotifyConfig {
    fn default() -> Self {
        Self {
            link_base: None,
            events: EventKind::ALL.iter().copied().collect(),
            repeat_after: std::time::Duration::from_secs(60 * 60),
            targets: Vec::new(),
            host: HostThresholds::default(),
            warnings: Vec::new(),
        }
    }
}

/// One place notifications go. Equal targets across reloads keep their worker
/// (its queue and, for MQTT, its connection); a changed one gets a new worker.
#[derive(Clone, PartialEq)]
pub struct Target {
    /// The label in metrics, logs and `recent()`: `name:` or the kind.
    pub name: String,
    /// At most this many messages a minute; the excess is dropped and counted.
    pub rate_per_minute: u32,
    /// For each attempt, connection included.
    pub timeout: std::time::Duration,
    pub kind: TargetKind,
}

#[derive(Clone, PartialEq)]
pub enum TargetKind {
    Ntfy {
        url: reqwest::Url,
        token: Option<String>,
        priority: Option<u8>,
        tags: Vec<String>,
        /// The link as the notification's click action (else appended to the text).
        click: bool,
    },
    Gotify {
        /// The server's base URL; messages go to `{url}/message`.
        url: reqwest::Url,
        token: String,
        priority: u8,
    },
    Webhook {
        url: reqwest::Url,
        token: Option<String>,
    },
    Mqtt(MqttTarget),
}

#[derive(Clone, PartialEq)]
pub struct MqttTarget {
    pub host: String,
    pub port: u16,
    pub username: Option<String>,
    pub password: Option<String>,
    /// Topics are `<prefix>/status`, `<prefix>/events`, `<prefix>/<service>/...`.
    pub prefix: String,
    /// Home Assistant's discovery prefix (`homeassistant` by default).
    pub discovery_prefix: String,
    /// The device's id in discovery topics and unique ids.
    pub node_id: String,
    pub client_id: String,
    pub keep_alive: std::time::Duration,
}

impl TargetKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Ntfy { .. } => "ntfy",
            Self::Gotify { .. } => "gotify",
            Self::Webhook { .. } => "webhook",
            Self::Mqtt(_) => "mqtt",
        }
    }
}

/// Never shows a token or a password.
impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut s = f.debug_struct("Target");
        s.field("name", &self.name)
            .field("kind", &self.kind.as_str());
        match &self.kind {
            TargetKind::Ntfy { url, token, .. } | TargetKind::Webhook { url, token } => {
                s.field("url", &url.as_str())
                    .field("token", &token.as_ref().map(|_| "<set>"));
            }
            TargetKind::Gotify { url, .. } => {
                s.field("url", &url.as_str()).field("token", &"<set>");
            }
            TargetKind::Mqtt(m) => {
                s.field("host", &m.host)
                    .field("port", &m.port)
                    .field("password", &m.password.as_ref().map(|_| "<set>"));
            }
        }
        s.finish()
    }
}

// --- the file as written ------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NotifyFile {
    #[serde(default)]
    link_base: Option<Spanned<String>>,
    #[serde(default)]
    events: Option<Vec<EventKind>>,
    #[serde(default)]
    repeat_after_minutes: Option<Spanned<u64>>,
    #[serde(default)]
    targets: Vec<Spanned<TargetDef>>,
    #[serde(default)]
    host: Option<Spanned<HostDef>>,
}

/// `host:` as written; `off` turns a check off.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HostDef {
    #[serde(default)]
    temperature_celsius: Option<Threshold>,
    #[serde(default)]
    disk_percent: Option<Threshold>,
    #[serde(default)]
    disks: Option<Vec<PathBuf>>,
    #[serde(default)]
    check_every_seconds: Option<u64>,
}

/// A number, or `off` (which YAML may read as `false`).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Threshold {
    Value(f64),
    Flag(bool),
    Word(String),
}

impl Threshold {
    /// The number; none for `off`; an error for anything else.
    fn resolve(&self, key: &str, low: f64, high: f64) -> Result<Option<f64>, String> {
        match self {
            Self::Value(v) if (low..=high).contains(v) => Ok(Some(*v)),
            Self::Flag(false) => Ok(None),
            Self::Word(w) if w.eq_ignore_ascii_case("off") => Ok(None),
            Self::Value(v) => Err(format!(
                "{key} must be between {low} and {high} (or off), not {v}"
            )),
            Self::Flag(true) | Self::Word(_) => Err(format!("{key} must be a number or off")),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
enum TargetDef {
    Ntfy(NtfyDef),
    Gotify(GotifyDef),
    Webhook(WebhookDef),
    Mqtt(MqttDef),
}

/// Settings every target has.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Common {
    name: Option<String>,
    rate_per_minute: Option<u32>,
    timeout_seconds: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NtfyDef {
    url: String,
    token_file: Option<PathBuf>,
    priority: Option<u8>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default = "yes")]
    click: bool,
    name: Option<String>,
    rate_per_minute: Option<u32>,
    timeout_seconds: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GotifyDef {
    url: String,
    token_file: PathBuf,
    #[serde(default = "gotify_priority")]
    priority: u8,
    name: Option<String>,
    rate_per_minute: Option<u32>,
    timeout_seconds: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WebhookDef {
    url: String,
    token_file: Option<PathBuf>,
    name: Option<String>,
    rate_per_minute: Option<u32>,
    timeout_seconds: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MqttDef {
    host: String,
    #[serde(default = "mqtt_port")]
    port: u16,
    username: Option<String>,
    password_file: Option<PathBuf>,
    #[serde(default = "mqtt_prefix")]
    prefix: String,
    #[serde(default = "discovery_prefix")]
    discovery_prefix: String,
    node_id: Option<String>,
    client_id: Option<String>,
    #[serde(default = "keep_alive")]
    keep_alive_seconds: u64,
    name: Option<String>,
    rate_per_minute: Option<u32>,
    timeout_seconds: Option<u64>,
}

fn yes() -> bool {
    true
}
fn gotify_priority() -> u8 {
    5
}
fn mqtt_port() -> u16 {
    1883
}
fn mqtt_prefix() -> String {
    "ops-copilot".into()
}
fn discovery_prefix() -> String {
    "homeassistant".into()
}
fn keep_alive() -> u64 {
    30
}

// --- loading and checking -----------------------------------------------------

impl NotifyConfig {
    /// Reads `path`; a file that does not exist means no notifications.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => {
                return Err(ConfigError {
                    file: path.display().to_string(),
                    line: None,
                    reason: format!(
                        "cannot read: {e}; make it readable by the gateway, or remove it to send no notifications"
                    ),
                });
            }
        };
        Self::parse(&path.display().to_string(), &text)
    }

    /// Parses and checks the text of a `notify.yaml` named `file` (for errors).
    pub fn parse(file: &str, text: &str) -> Result<Self, ConfigError> {
        let at = |line: u64, reason: String| ConfigError {
            file: file.to_owned(),
            line: Some(line).filter(|l| *l > 0),
            reason,
        };
        // An empty file (or one holding only comments) is no notifications.
        if text
            .lines()
            .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
        {
            return Ok(Self::default());
        }
        let parsed: NotifyFile = serde_saphyr::from_str(text).map_err(|e| {
            let first = e.to_string();
            let first = first.lines().next().unwrap_or_default().trim().to_owned();
            at(
                e.location().map(|l| l.line()).unwrap_or(0),
                format!("{first}; {SEE_DOCS}"),
            )
        })?;
        let mut config = Self::default();
        if let Some(base) = &parsed.link_base {
            let line = base.referenced.line();
            config.link_base = Some(
                http_url(&base.value).map_err(|reason| at(line, format!("link_base: {reason}")))?,
            );
        }
        if let Some(events) = parsed.events {
            config.events = events.into_iter().collect();
            if config.events.is_empty() {
                config.warnings.push(format!(
                    "{file}: events is empty: no notification is sent (remove the line for all of them)"
                ));
            }
        }
        if let Some(minutes) = &parsed.repeat_after_minutes {
            if minutes.value > MAX_REPEAT_MINUTES {
                return Err(at(
                    minutes.referenced.line(),
                    format!(
                        "repeat_after_minutes must be between 0 and {MAX_REPEAT_MINUTES} (a week), not {}",
                        minutes.value
                    ),
                ));
            }
            config.repeat_after = std::time::Duration::from_secs(minutes.value * 60);
        }
        if let Some(host) = &parsed.host {
            config.host = resolve_host(&host.value)
                .map_err(|reason| at(host.referenced.line(), format!("host.{reason}")))?;
        }
        let mut names = BTreeSet::new();
        for (index, target) in parsed.targets.iter().enumerate() {
            let line = target.referenced.line();
            let where_ = |what: &str| format!("targets[{index}] ({what})");
            let resolved =
                resolve_target(&target.value, &mut config.warnings).map_err(|reason| {
                    at(
                        line,
                        format!("{}: {reason}", where_(kind_of(&target.value))),
                    )
                })?;
            if !names.insert(resolved.name.clone()) {
                return Err(at(
                    line,
                    format!(
                        "{}: a second target named {:?}: give each target of the same kind its own `name:`",
                        where_(kind_of(&target.value)),
                        resolved.name
                    ),
                ));
            }
            config.targets.push(resolved);
        }
        Ok(config)
    }
}

fn resolve_host(def: &HostDef) -> Result<HostThresholds, String> {
    let mut host = HostThresholds::default();
    if let Some(threshold) = &def.temperature_celsius {
        host.temperature_celsius = threshold.resolve("temperature_celsius", 30.0, 120.0)?;
    }
    if let Some(threshold) = &def.disk_percent {
        host.disk_percent = match threshold.resolve("disk_percent", 1.0, 100.0)? {
            Some(p) if p.fract() != 0.0 => {
                return Err(format!("disk_percent must be a whole number, not {p}"));
            }
            percent => percent.map(|p| p as u8),
        };
    }
    if let Some(disks) = &def.disks {
        if disks.is_empty() || disks.len() > 16 || disks.iter().any(|d| !d.is_absolute()) {
            return Err(
                "disks must list 1 to 16 absolute paths, one on each disk to check (e.g. [/, /mnt/media])"
                    .into(),
            );
        }
        host.disks = disks.clone();
    }
    if let Some(seconds) = def.check_every_seconds {
        if !(1..=3600).contains(&seconds) {
            return Err(format!(
                "check_every_seconds must be between 1 and 3600, not {seconds}"
            ));
        }
        host.every = std::time::Duration::from_secs(seconds);
    }
    Ok(host)
}

fn kind_of(def: &TargetDef) -> &'static str {
    match def {
        TargetDef::Ntfy(_) => "ntfy",
        TargetDef::Gotify(_) => "gotify",
        TargetDef::Webhook(_) => "webhook",
        TargetDef::Mqtt(_) => "mqtt",
    }
}

fn resolve_target(def: &TargetDef, warnings: &mut Vec<String>) -> Result<Target, String> {
    let (common, kind) = match def {
        TargetDef::Ntfy(d) => {
            let url = http_url(&d.url).map_err(|r| format!("url: {r}"))?;
            if url.path().trim_matches('/').is_empty() {
                return Err(format!(
                    "url {:?} names no topic: give the topic's URL, e.g. https://ntfy.sh/my-topic",
                    d.url
                ));
            }
            if let Some(p) = d.priority
                && !(1..=5).contains(&p)
            {
                return Err(format!(
                    "priority must be between 1 (min) and 5 (max), not {p}"
                ));
            }
            for tag in &d.tags {
                if tag.trim().is_empty()
                    || tag.contains(',')
                    || tag.chars().any(|c| c.is_control() || !c.is_ascii())
                {
                    return Err(format!(
                        "tag {tag:?}: a tag is a non-empty ASCII word without commas (e.g. whale, warning)"
                    ));
                }
            }
            let token = d.token_file.as_deref().map(read_secret).transpose()?;
            clear_text_warning(&url, token.is_some(), "ntfy", warnings);
            (
                Common {
                    name: d.name.clone(),
                    rate_per_minute: d.rate_per_minute,
                    timeout_seconds: d.timeout_seconds,
                },
                TargetKind::Ntfy {
                    url,
                    token,
                    priority: d.priority,
                    tags: d.tags.clone(),
                    click: d.click,
                },
            )
        }
        TargetDef::Gotify(d) => {
            let url = http_url(&d.url).map_err(|r| format!("url: {r}"))?;
            if d.priority > 10 {
                return Err(format!(
                    "priority must be between 0 and 10, not {}",
                    d.priority
                ));
            }
            let token = read_secret(&d.token_file)?;
            clear_text_warning(&url, true, "gotify", warnings);
            (
                Common {
                    name: d.name.clone(),
                    rate_per_minute: d.rate_per_minute,
                    timeout_seconds: d.timeout_seconds,
                },
                TargetKind::Gotify {
                    url,
                    token,
                    priority: d.priority,
                },
            )
        }
        TargetDef::Webhook(d) => {
            let url = http_url(&d.url).map_err(|r| format!("url: {r}"))?;
            let token = d.token_file.as_deref().map(read_secret).transpose()?;
            clear_text_warning(&url, token.is_some(), "webhook", warnings);
            (
                Common {
                    name: d.name.clone(),
                    rate_per_minute: d.rate_per_minute,
                    timeout_seconds: d.timeout_seconds,
                },
                TargetKind::Webhook { url, token },
            )
        }
        TargetDef::Mqtt(d) => {
            let host = d.host.trim();
            if host.is_empty() || host.contains(['/', ' ', ':']) && !host.starts_with('[') {
                return Err(format!(
                    "host {:?}: give the broker's host name or IP address alone (the port goes in `port:`)",
                    d.host
                ));
            }
            if d.port == 0 {
                return Err("port must be between 1 and 65535 (1883 is MQTT's)".into());
            }
            for (what, topic) in [
                ("prefix", &d.prefix),
                ("discovery_prefix", &d.discovery_prefix),
            ] {
                check_topic_prefix(topic).map_err(|r| format!("{what} {topic:?}: {r}"))?;
            }
            if d.password_file.is_some() && d.username.is_none() {
                return Err("password_file needs a username".into());
            }
            if !(5..=3600).contains(&d.keep_alive_seconds) {
                return Err(format!(
                    "keep_alive_seconds must be between 5 and 3600, not {}",
                    d.keep_alive_seconds
                ));
            }
            let password = d.password_file.as_deref().map(read_secret).transpose()?;
            let node_id = match &d.node_id {
                Some(id) => {
                    if id.is_empty()
                        || !id
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                    {
                        return Err(format!(
                            "node_id {id:?}: letters, digits, '_' and '-' only (it is part of Home Assistant's topics)"
                        ));
                    }
                    id.clone()
                }
                None => topic_segment(&d.prefix),
            };
            let client_id = d.client_id.clone().unwrap_or_else(|| node_id.clone());
            if client_id.is_empty() || client_id.len() > 64 {
                return Err("client_id must be 1 to 64 characters".into());
            }
            (
                Common {
                    name: d.name.clone(),
                    rate_per_minute: d.rate_per_minute,
                    timeout_seconds: d.timeout_seconds,
                },
                TargetKind::Mqtt(MqttTarget {
                    host: host.to_owned(),
                    port: d.port,
                    username: d.username.clone(),
                    password,
                    prefix: d.prefix.clone(),
                    discovery_prefix: d.discovery_prefix.clone(),
                    node_id,
                    client_id,
                    keep_alive: std::time::Duration::from_secs(d.keep_alive_seconds),
                }),
            )
        }
    };
    let name = common.name.unwrap_or_else(|| kind.as_str().to_owned());
    if name.is_empty()
        || name.len() > 64
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    {
        return Err(format!(
            "name {name:?}: letters, digits, '.', '_' and '-' (1 to 64); it labels metrics"
        ));
    }
    let rate_per_minute = common.rate_per_minute.unwrap_or(DEFAULT_RATE_PER_MINUTE);
    if !(1..=600).contains(&rate_per_minute) {
        return Err(format!(
            "rate_per_minute must be between 1 and 600, not {rate_per_minute}"
        ));
    }
    let timeout = common.timeout_seconds.unwrap_or(DEFAULT_TIMEOUT_SECONDS);
    if !(1..=60).contains(&timeout) {
        return Err(format!(
            "timeout_seconds must be between 1 and 60, not {timeout}"
        ));
    }
    Ok(Target {
        name,
        rate_per_minute,
        timeout: std::time::Duration::from_secs(timeout),
        kind,
    })
}

/// An http(s) URL with a host; https only where this build has TLS.
fn http_url(text: &str) -> Result<reqwest::Url, String> {
    // Errors quote the URL as written, but never a password in it: they go to
    // the log and to whoever runs `policy check`.
    let shown = without_userinfo(text.trim());
    let url = reqwest::Url::parse(text.trim()).map_err(|e| {
        format!(
            "{shown:?} is not a URL ({e}); give e.g. http://gotify.lan or https://ntfy.sh/my-topic"
        )
    })?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!(
            "{shown:?} holds credentials: put the token in a file and name it with token_file"
        ));
    }
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err(format!(
            "{shown:?} must be an http:// or https:// URL with a host"
        ));
    }
    if url.scheme() == "https" && !cfg!(feature = "https") {
        return Err(format!(
            "{shown:?}: this build of the gateway has no TLS; use an http:// address on your network, or build with `--features gateway/https`"
        ));
    }
    Ok(url)
}

/// `text` with whatever stands between `scheme://` and an `@` before the path
/// masked (`http://me:secret@host/x` -> `http://***@host/x`).
fn without_userinfo(text: &str) -> String {
    let Some(start) = text.find("://").map(|i| i + 3) else {
        return text.to_owned();
    };
    let authority_end = text[start..]
        .find(['/', '?', '#'])
        .map_or(text.len(), |i| start + i);
    match text[start..authority_end].rfind('@') {
        Some(at) => format!("{}***{}", &text[..start], &text[start + at..]),
        None => text.to_owned(),
    }
}

fn clear_text_warning(url: &reqwest::Url, secret: bool, what: &str, warnings: &mut Vec<String>) {
    let loopback = ops_core::net::is_loopback_host(url.host_str().unwrap_or_default());
    if secret && url.scheme() == "http" && !loopback {
        warnings.push(format!(
            "{what} target {url}: its token travels in clear text over http (fine on a trusted LAN; use https otherwise)"
        ));
    }
}

/// A secret file's text, trimmed; refused when unreadable or empty.
fn read_secret(path: &Path) -> Result<String, String> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        format!(
            "cannot read {}: {e}; create it (readable by the gateway only) holding the secret, or fix the path",
            path.display()
        )
    })?;
    let text = text.trim();
    if text.is_empty() {
        return Err(format!(
            "{} is empty: write the secret into it",
            path.display()
        ));
    }
    if text.contains(['\r', '\n']) {
        return Err(format!(
            "{} holds more than one line: keep only the secret in it",
            path.display()
        ));
    }
    Ok(text.to_owned())
}

fn check_topic_prefix(topic: &str) -> Result<(), String> {
    if topic.is_empty() || topic.starts_with('/') || topic.ends_with('/') {
        return Err("must be non-empty, without a leading or trailing '/'".into());
    }
    if topic.contains(['+', '#', '\0']) || topic.chars().any(char::is_control) {
        return Err("must not hold '+', '#' or control characters".into());
    }
    Ok(())
}

/// A service (or any) name as one topic level and id: lowercase ASCII letters,
/// digits, '_' and '-'; anything else becomes '_'.
pub fn topic_segment(name: &str) -> String {
    let segment: String = name
        .chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    if segment.is_empty() {
        "_".to_owned()
    } else {
        segment
    }
}

/// `notify.yaml` in force, re-read when it changes on disk (or appears, or goes:
/// gone, nothing is sent). A bad edit is refused; the last good version stays.
pub type NotifyConfigHandle = Watched<NotifyConfig, ConfigError>;

impl NotifyConfigHandle {
    /// Loads `path` now (absent: no notifications); fails when this first load fails.
    pub fn load_notify(path: &Path) -> Result<Arc<Self>, ConfigError> {
        let path = path.to_path_buf();
        let watched = vec![path.clone()];
        Watched::new("notify.yaml", watched, move || {
            let config = NotifyConfig::load(&path)?;
            for warning in &config.warnings {
                tracing::warn!("{warning}");
            }
            Ok(config)
        })
        .map(Arc::new)
    }
}
