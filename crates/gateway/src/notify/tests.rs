use std::time::{Duration, Instant};

use super::config::NotifyConfig;
use super::filter::{Filter, RateLimiter};
use super::*;

fn parse(text: &str) -> Result<NotifyConfig, crate::config::ConfigError> {
    NotifyConfig::parse("notify.yaml", text)
}

fn secret_file(dir: &tempfile::TempDir, name: &str, text: &str) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// The error's place and that its reason says `needle` (what is wrong or what to do).
fn assert_refused(text: &str, line: u64, needles: &[&str]) {
    let error = parse(text).expect_err(needles[0]);
    assert_eq!(error.file, "notify.yaml", "{error}");
    assert_eq!(error.line, Some(line), "{error}");
    let shown = error.to_string();
    assert!(
        shown.starts_with(&format!("notify.yaml:{line}: ")),
        "{shown}"
    );
    for needle in needles {
        assert!(shown.contains(needle), "{shown:?} lacks {needle:?}");
    }
}

#[test]
fn a_full_file_loads_with_its_secrets_read_from_files() {
    let dir = tempfile::tempdir().unwrap();
    let ntfy = secret_file(&dir, "ntfy", "tk_abc\n");
    let gotify = secret_file(&dir, "gotify", "AppToken.1");
    let mqtt = secret_file(&dir, "mqtt", "pw");
    let text = format!(
        "link_base: http://pi.local:8080\n\
         events: [unhealthy, recovered]\n\
         repeat_after_minutes: 15\n\
         targets:\n\
         \x20 - ntfy: {{ url: http://ntfy.lan/ops, token_file: {ntfy}, priority: 4, tags: [whale, warning], click: false }}\n\
         \x20 - gotify: {{ url: http://gotify.lan, token_file: {gotify}, priority: 8 }}\n\
         \x20 - webhook: {{ url: http://hooks.lan/x, name: hooks, rate_per_minute: 5, timeout_seconds: 3 }}\n\
         \x20 - mqtt: {{ host: mqtt.lan, username: ha, password_file: {mqtt}, prefix: ops, discovery_prefix: homeassistant }}\n"
    );
    let config = parse(&text).unwrap();
    assert_eq!(
        config.link_base.as_ref().map(|u| u.as_str()),
        Some("http://pi.local:8080/")
    );
    assert_eq!(
        config.events.iter().copied().collect::<Vec<_>>(),
        vec![EventKind::Unhealthy, EventKind::Recovered]
    );
    assert_eq!(config.repeat_after, Duration::from_secs(15 * 60));
    let names: Vec<_> = config.targets.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["ntfy", "gotify", "hooks", "mqtt"]);
    match &config.targets[0].kind {
        TargetKind::Ntfy {
            token,
            priority,
            tags,
            click,
            ..
        } => {
            assert_eq!(token.as_deref(), Some("tk_abc"));
            assert_eq!(*priority, Some(4));
            assert_eq!(tags, &["whale", "warning"]);
            assert!(!click);
        }
        other => panic!("{other:?}", other = other.as_str()),
    }
    assert_eq!(config.targets[2].rate_per_minute, 5);
    assert_eq!(config.targets[2].timeout, Duration::from_secs(3));
    assert_eq!(config.targets[0].rate_per_minute, 30);
    match &config.targets[3].kind {
        TargetKind::Mqtt(m) => {
            assert_eq!((m.host.as_str(), m.port), ("mqtt.lan", 1883));
            assert_eq!(m.password.as_deref(), Some("pw"));
            assert_eq!(m.node_id, "ops");
        }
        other => panic!("{}", other.as_str()),
    }
    // Tokens over plain http to another host are worth a warning.
    assert!(
        config.warnings.iter().any(|w| w.contains("clear text")),
        "{:?}",
        config.warnings
    );
    // Debug never shows a secret.
    let shown = format!("{:?}", config.targets);
    assert!(
        !shown.contains("tk_abc") && !shown.contains("AppToken.1"),
        "{shown}"
    );
}

#[test]
fn an_absent_or_empty_file_is_no_notifications() {
    let dir = tempfile::tempdir().unwrap();
    let config = NotifyConfig::load(&dir.path().join("notify.yaml")).unwrap();
    assert!(config.targets.is_empty());
    assert!(parse("# nothing yet\n\n").unwrap().targets.is_empty());
}

#[test]
fn host_checks_are_on_by_default_and_can_be_set_or_turned_off() {
    let default = parse("targets: []\n").unwrap().host;
    assert_eq!(default.temperature_celsius, Some(80.0));
    assert_eq!(default.disk_percent, Some(90));
    assert_eq!(default.disks, [std::path::PathBuf::from("/")]);
    let set = parse(
        "host:\n  temperature_celsius: 75.5\n  disk_percent: off\n  disks: [/, /mnt/media]\n  check_every_seconds: 30\n",
    )
    .unwrap()
    .host;
    assert_eq!(set.temperature_celsius, Some(75.5));
    assert_eq!(set.disk_percent, None);
    assert_eq!(set.disks.len(), 2);
    assert_eq!(set.every, Duration::from_secs(30));
    assert_refused(
        "host:\n  temperature_celsius: 500\n",
        2,
        &["host.temperature_celsius", "between 30 and 120"],
    );
    assert_refused("host:\n  disk_percent: 90.5\n", 2, &["whole number"]);
    assert_refused("host:\n  disks: [media]\n", 2, &["absolute paths"]);
    assert_refused("host:\n  fan: on\n", 2, &["fan"]);
}

#[test]
fn a_password_in_a_url_is_refused_without_being_repeated() {
    for url in [
        "http://me:hunter2@hooks.lan/x",
        "http://me:hunter2@bad host/x",
        "ftp://me:hunter2@hooks.lan/x",
    ] {
        let error = parse(&format!("targets:\n  - webhook: {{ url: \"{url}\" }}\n"))
            .expect_err(url)
            .to_string();
        assert!(!error.contains("hunter2"), "{error}");
        assert!(error.contains("***@"), "{error}");
    }
}

#[test]
fn bad_files_are_refused_with_the_line_and_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let token = secret_file(&dir, "token", "t");
    let empty = secret_file(&dir, "empty", " \n");
    // Unknown keys, at the top and inside a target.
    assert_refused(
        "link_base: http://pi.local\nrepeat_minutes: 5\n",
        2,
        &["repeat_minutes", "docs/notifications.md"],
    );
    assert_refused(
        "targets:\n  - ntfy: { url: http://n.lan/t, prio: 3 }\n",
        2,
        &["prio"],
    );
    assert_refused(
        "targets:\n  - pushover: { url: http://n.lan/t }\n",
        2,
        &["pushover"],
    );
    // URLs: http(s) only, with a host, no credentials in them.
    assert_refused(
        "targets:\n  - webhook: { url: ftp://hooks.lan/x }\n",
        2,
        &["http:// or https://"],
    );
    assert_refused(
        "\nlink_base: pi.local\n",
        2,
        &["link_base", "not a URL", "give e.g."],
    );
    assert_refused(
        "targets:\n  - webhook: { url: 'http://me:pw@hooks.lan/x' }\n",
        2,
        &["token_file"],
    );
    assert_refused(
        "targets:\n  - ntfy: { url: 'http://ntfy.lan/' }\n",
        2,
        &["no topic"],
    );
    // Priorities in range.
    assert_refused(
        "targets:\n  - ntfy: { url: http://n.lan/t, priority: 7 }\n",
        2,
        &["between 1 (min) and 5 (max)"],
    );
    assert_refused(
        &format!(
            "targets:\n  - webhook: {{ url: http://h.lan/x }}\n  - gotify: {{ url: http://g.lan, token_file: {token}, priority: 11 }}\n"
        ),
        3,
        &["targets[1] (gotify)", "between 0 and 10"],
    );
    // Secrets: unreadable or empty files.
    assert_refused(
        "targets:\n\n  - gotify: { url: http://g.lan, token_file: /nonexistent/gotify-token }\n",
        3,
        &["cannot read /nonexistent/gotify-token", "create it"],
    );
    assert_refused(
        &format!("targets:\n  - webhook: {{ url: http://h.lan/x, token_file: {empty} }}\n"),
        2,
        &["is empty", "write the secret"],
    );
    assert_refused(
        "targets:\n  - gotify: { url: http://g.lan }\n",
        2,
        &["token_file"],
    );
    // Two targets of a kind need names.
    assert_refused(
        "targets:\n  - webhook: { url: http://a.lan/x }\n  - webhook: { url: http://b.lan/x }\n",
        3,
        &["own `name:`"],
    );
    // Ranges.
    assert_refused("repeat_after_minutes: 20000\n", 1, &["between 0 and 10080"]);
    assert_refused(
        "targets:\n  - webhook: { url: http://a.lan/x, rate_per_minute: 0 }\n",
        2,
        &["rate_per_minute", "between 1 and 600"],
    );
    assert_refused("events: [unhealthy, on_fire]\n", 1, &["on_fire"]);
    // MQTT.
    assert_refused(
        "targets:\n  - mqtt: { host: 'mqtt.lan:1883' }\n",
        2,
        &["port:"],
    );
    assert_refused(
        "targets:\n  - mqtt: { host: mqtt.lan, prefix: 'ops/#' }\n",
        2,
        &["prefix", "'#'"],
    );
    assert_refused(
        "targets:\n  - mqtt: { host: mqtt.lan, password_file: /x }\n",
        2,
        &["needs a username"],
    );
}

#[cfg(not(feature = "https"))]
#[test]
fn https_needs_a_build_with_tls() {
    assert_refused(
        "targets:\n  - ntfy: { url: https://ntfy.sh/t }\n",
        2,
        &["no TLS", "--features gateway/https"],
    );
}

fn event(kind: EventKind, service: Option<&str>) -> Event {
    Event {
        kind,
        service: service.map(str::to_owned),
        title: format!("{} {}", service.unwrap_or("host"), kind.as_str()),
        message: "details".into(),
        link: None,
    }
}

#[test]
fn the_same_alert_is_sent_once_within_repeat_after() {
    let config = NotifyConfig::default(); // an hour
    let mut filter = Filter::default();
    let t0 = Instant::now();
    let unhealthy = event(EventKind::Unhealthy, Some("sonarr"));
    assert_eq!(filter.admit(&config, &unhealthy, t0), Ok(()));
    assert_eq!(
        filter.admit(&config, &unhealthy, t0 + Duration::from_secs(59 * 60)),
        Err("repeat")
    );
    // Another service, or another kind, is another alert.
    assert_eq!(
        filter.admit(&config, &event(EventKind::Unhealthy, Some("radarr")), t0),
        Ok(())
    );
    assert_eq!(
        filter.admit(&config, &event(EventKind::CrashLoop, Some("sonarr")), t0),
        Ok(())
    );
    // After repeat_after it is sent again.
    assert_eq!(
        filter.admit(&config, &unhealthy, t0 + Duration::from_secs(61 * 60)),
        Ok(())
    );
    // With 0, always.
    let always = NotifyConfig {
        repeat_after: Duration::ZERO,
        ..NotifyConfig::default()
    };
    let disk = event(EventKind::HostDisk, None);
    assert_eq!(filter.admit(&always, &disk, t0), Ok(()));
    assert_eq!(filter.admit(&always, &disk, t0), Ok(()));
}

#[test]
fn a_recovery_is_sent_only_for_an_open_alert_and_closes_it() {
    let config = NotifyConfig::default();
    let mut filter = Filter::default();
    let t0 = Instant::now();
    let recovered = event(EventKind::Recovered, Some("sonarr"));
    let unhealthy = event(EventKind::Unhealthy, Some("sonarr"));
    assert_eq!(filter.admit(&config, &recovered, t0), Err("no_open_alert"));
    assert_eq!(filter.admit(&config, &unhealthy, t0), Ok(()));
    // Another service's alert does not open one for sonarr.
    assert_eq!(
        filter.admit(&config, &event(EventKind::Recovered, Some("radarr")), t0),
        Err("no_open_alert")
    );
    assert_eq!(filter.admit(&config, &recovered, t0), Ok(()));
    // Closed: a second recovery is not sent, the next failure alerts at once.
    assert_eq!(filter.admit(&config, &recovered, t0), Err("no_open_alert"));
    assert_eq!(
        filter.admit(&config, &unhealthy, t0 + Duration::from_secs(1)),
        Ok(())
    );
    // An update notice opens no alert.
    let update = event(EventKind::UpdateAvailable, Some("lidarr"));
    assert_eq!(filter.admit(&config, &update, t0), Ok(()));
    assert_eq!(
        filter.admit(&config, &event(EventKind::Recovered, Some("lidarr")), t0),
        Err("no_open_alert")
    );
}

#[test]
fn each_approval_is_told_once_and_kinds_can_be_switched_off() {
    let mut config = NotifyConfig::default();
    let mut filter = Filter::default();
    let t0 = Instant::now();
    // Same title (same tool and service), two approvals: their messages name them.
    let mut first = event(EventKind::ApprovalWaiting, Some("sonarr"));
    first.title = "Approval waiting: compose_restart sonarr".into();
    first.message = "robot asks ... (approval id a1).".into();
    let mut second = first.clone();
    second.message = "robot asks ... (approval id a2).".into();
    assert_eq!(filter.admit(&config, &first, t0), Ok(()));
    assert_eq!(filter.admit(&config, &first, t0), Err("repeat"));
    assert_eq!(filter.admit(&config, &second, t0), Ok(()));
    config.events.remove(&EventKind::HostTemperature);
    assert_eq!(
        filter.admit(&config, &event(EventKind::HostTemperature, None), t0),
        Err("not_subscribed")
    );
}

#[test]
fn the_rate_limit_allows_so_many_a_minute() {
    let mut limiter = RateLimiter::new(30);
    let t0 = Instant::now();
    let allowed = (0..40)
        .filter(|i| limiter.allow(t0 + Duration::from_millis(i * 100)))
        .count();
    assert_eq!(allowed, 30);
    assert!(!limiter.allow(t0 + Duration::from_secs(59)));
    // A minute after the first, room again.
    assert!(limiter.allow(t0 + Duration::from_secs(60)));
}

#[test]
fn texts_are_cut_on_a_character_boundary() {
    assert_eq!(text::truncate("short", 200), "short");
    // 'é' is 2 bytes: a cut inside it moves back to the boundary before.
    let long = "é".repeat(150); // 300 bytes
    let cut = text::truncate(&long, MAX_TITLE_BYTES);
    assert!(cut.len() <= MAX_TITLE_BYTES, "{}", cut.len());
    assert!(cut.ends_with('…'));
    assert_eq!(cut.trim_end_matches('…').chars().count(), 98);
    let message = "x".repeat(5000);
    let event = Event {
        message,
        title: "t\nwith a newline".into(),
        ..event(EventKind::Unhealthy, Some("sonarr"))
    };
    let redactor = Redactor::new(&[]).unwrap();
    let out = text::prepare(&event, &redactor, None);
    assert_eq!(out.message.len(), MAX_MESSAGE_BYTES);
    assert_eq!(out.title, "t with a newline");
}

#[test]
fn secrets_in_a_message_are_redacted() {
    let redactor = Redactor::new(&["hunter[0-9]+".to_owned()]).unwrap();
    let event = Event {
        title: "sonarr failed: hunter22 leaked".into(),
        message: "sonarr exited: API_KEY=9f8e7d6c5b4a39281706f5e4d3c2b1a0 and hunter42".into(),
        ..event(EventKind::ExitedError, Some("sonarr"))
    };
    let out = text::prepare(&event, &redactor, None);
    for secret in ["hunter22", "hunter42", "9f8e7d6c5b4a39281706f5e4d3c2b1a0"] {
        assert!(
            !out.title.contains(secret) && !out.message.contains(secret),
            "{secret}: {out:?}"
        );
    }
    assert!(out.message.contains(redact::REDACTED), "{out:?}");
    assert!(out.message.starts_with("sonarr exited: "), "{out:?}");
}

#[test]
fn links_are_resolved_against_link_base() {
    let base = reqwest::Url::parse("http://pi.local:8080").unwrap();
    assert_eq!(
        text::resolve_link(Some("/containers?service=sonarr"), Some(&base)).as_deref(),
        Some("http://pi.local:8080/containers?service=sonarr")
    );
    assert_eq!(
        text::resolve_link(Some("https://other.lan/x"), Some(&base)).as_deref(),
        Some("https://other.lan/x")
    );
    assert_eq!(
        text::resolve_link(None, Some(&base)).as_deref(),
        Some("http://pi.local:8080/")
    );
    assert_eq!(
        text::resolve_link(Some("javascript:alert(1)"), Some(&base)),
        None
    );
    assert_eq!(text::resolve_link(Some("/x"), None), None);
    let long = format!("/{}", "x".repeat(text::MAX_LINK_BYTES));
    assert_eq!(text::resolve_link(Some(&long), Some(&base)), None);
}

#[test]
fn topic_segments_are_sanitised() {
    assert_eq!(topic_segment("Sonarr"), "sonarr");
    assert_eq!(topic_segment("my app/+#"), "my_app___");
    assert_eq!(topic_segment(""), "_");
}

#[test]
fn the_shipped_example_loads() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["ntfy-token", "gotify-token", "mqtt-password"] {
        secret_file(&dir, name, "s3cret");
    }
    let text = include_str!("../../../../deploy/config/notify.example.yaml")
        .replace("/run/secrets/", &format!("{}/", dir.path().display()));
    let config = parse(&text).unwrap_or_else(|e| panic!("{e}"));
    let kinds: Vec<_> = config.targets.iter().map(|t| t.kind.as_str()).collect();
    assert_eq!(kinds, ["ntfy", "gotify", "webhook", "mqtt"]);
    assert_eq!(config.events.len(), EventKind::ALL.len());
}

#[test]
fn an_edit_is_taken_a_bad_edit_refused_and_a_removal_turns_notifications_off() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notify.yaml");
    let handle = NotifyConfigHandle::load_notify(&path).unwrap();
    assert!(handle.current().targets.is_empty(), "absent: nothing");

    let write = |text: &str| {
        std::fs::write(&path, text).unwrap();
        // A different modification time even on a coarse clock.
        let later = std::time::SystemTime::now() + Duration::from_secs(2);
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(later)
            .unwrap();
    };
    write("targets:\n  - webhook: { url: http://hooks.lan/a }\n");
    assert!(handle.reload_if_changed());
    assert_eq!(handle.current().targets.len(), 1);

    write("targets:\n  - webhook: { url: ftp://hooks.lan/a }\n");
    assert!(!handle.reload_if_changed());
    let error = handle.last_error().expect("refused");
    assert_eq!(error.line, Some(2), "{error}");
    assert_eq!(handle.current().targets.len(), 1, "the last good one stays");

    std::fs::remove_file(&path).unwrap();
    assert!(handle.reload_if_changed());
    assert!(handle.current().targets.is_empty());
    assert!(handle.last_error().is_none());
}
