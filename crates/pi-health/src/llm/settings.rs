//! Which language model the chat may ask, from the environment. No
//! `OPS_COPILOT_LLM_BASE_URL` means no model: the built-in planner answers alone.

use std::path::PathBuf;
use std::time::Duration;

/// `OPS_COPILOT_LLM_TIMEOUT`'s default: seconds the whole conversation with the
/// model may take for one chat message (a small model on a Pi 5 needs several).
const DEFAULT_TIMEOUT_SECS: f64 = 30.0;
/// The longest `OPS_COPILOT_LLM_TIMEOUT` accepted.
const MAX_TIMEOUT_SECS: f64 = 600.0;

/// How to reach an OpenAI-compatible chat-completions endpoint.
#[derive(Clone, PartialEq)]
pub struct ModelSettings {
    /// `OPS_COPILOT_LLM_BASE_URL` without a trailing `/` (nor `/chat/completions`),
    /// e.g. `http://127.0.0.1:11434/v1` for Ollama.
    pub(crate) base_url: String,
    /// `OPS_COPILOT_LLM_MODEL`, e.g. `qwen2.5:3b`.
    pub model: String,
    /// From `OPS_COPILOT_LLM_API_KEY_FILE` (preferred) or `OPS_COPILOT_LLM_API_KEY`.
    pub(crate) api_key: Option<String>,
    /// `OPS_COPILOT_LLM_TIMEOUT` (seconds): all rounds with the model together.
    pub timeout: Duration,
}

/// The key stays out of logs and test output.
impl std::fmt::Debug for ModelSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelSettings")
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "[set]"))
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl ModelSettings {
    /// From the process environment; `None` when no model is configured.
    pub fn from_env() -> Result<Option<Self>, String> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// From any variable lookup (the environment, or a test's map).
    pub(crate) fn from_lookup(
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Self>, String> {
        let non_empty = |name: &str| {
            get(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let Some(url) = non_empty("OPS_COPILOT_LLM_BASE_URL") else {
            return Ok(None);
        };
        let base_url = base_url(&url)?;
        let model = non_empty("OPS_COPILOT_LLM_MODEL").ok_or(
            "OPS_COPILOT_LLM_MODEL must name the model when OPS_COPILOT_LLM_BASE_URL is set (e.g. qwen2.5:3b)",
        )?;
        if model.chars().count() > 200 || model.chars().any(char::is_control) {
            return Err(
                "OPS_COPILOT_LLM_MODEL must be a model name of at most 200 characters".into(),
            );
        }
        let api_key = match non_empty("OPS_COPILOT_LLM_API_KEY_FILE") {
            Some(file) => {
                let path = PathBuf::from(file);
                let text = std::fs::read_to_string(&path).map_err(|e| {
                    format!(
                        "cannot read OPS_COPILOT_LLM_API_KEY_FILE {}: {e}",
                        path.display()
                    )
                })?;
                Some(text.trim().to_owned()).filter(|k| !k.is_empty())
            }
            None => non_empty("OPS_COPILOT_LLM_API_KEY"),
        };
        if let Some(key) = &api_key
            && key.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err("the model's API key must not contain spaces or control characters".into());
        }
        Ok(Some(Self {
            base_url,
            model,
            api_key,
            timeout: timeout(non_empty("OPS_COPILOT_LLM_TIMEOUT"))?,
        }))
    }

    /// `POST` here: `{base}/chat/completions`.
    pub fn endpoint(&self) -> String {
        format!("{}/chat/completions", self.base_url)
    }

    /// A warning when the API key would cross the network unencrypted.
    pub fn plain_http_key_warning(&self) -> Option<String> {
        let host = self.base_url.strip_prefix("http://")?;
        let host = host.split(['/', '?', '#']).next().unwrap_or_default();
        let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
        let loopback =
            host.starts_with("localhost") || host.starts_with("127.") || host.starts_with("[::1]");
        (self.api_key.is_some() && !loopback).then(|| {
            format!(
                "the language model's API key is sent to {host} over plain http: use https, or keep the model on this machine"
            )
        })
    }
}

/// Checks and normalises the base URL: http(s), no trailing `/`, and a full
/// `.../chat/completions` URL is taken as its base.
fn base_url(url: &str) -> Result<String, String> {
    let https = url.starts_with("https://");
    if !(https || url.starts_with("http://")) {
        return Err(format!(
            "OPS_COPILOT_LLM_BASE_URL must be an http:// or https:// URL, not {url:?}"
        ));
    }
    if https && !cfg!(feature = "https") {
        return Err(
            "OPS_COPILOT_LLM_BASE_URL is https://, but this build has no TLS: build with `cargo build --release --features pi-health/https`, or use a model reached over http (Ollama or llama.cpp on this machine or the LAN)".into(),
        );
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("OPS_COPILOT_LLM_BASE_URL must not contain spaces".into());
    }
    let trimmed = url.trim_end_matches('/');
    let trimmed = trimmed
        .strip_suffix("/chat/completions")
        .unwrap_or(trimmed)
        .trim_end_matches('/');
    Ok(trimmed.to_owned())
}

fn timeout(value: Option<String>) -> Result<Duration, String> {
    let Some(value) = value else {
        return Ok(Duration::from_secs_f64(DEFAULT_TIMEOUT_SECS));
    };
    match value.parse::<f64>() {
        Ok(secs) if secs.is_finite() && secs > 0.0 && secs <= MAX_TIMEOUT_SECS => {
            Ok(Duration::from_secs_f64(secs))
        }
        _ => Err(format!(
            "OPS_COPILOT_LLM_TIMEOUT must be a number of seconds between 0 and {MAX_TIMEOUT_SECS}, not {value:?}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn no_base_url_is_no_model() {
        assert_eq!(ModelSettings::from_lookup(lookup(&[])), Ok(None));
        assert_eq!(
            ModelSettings::from_lookup(lookup(&[
                ("OPS_COPILOT_LLM_BASE_URL", "  "),
                ("OPS_COPILOT_LLM_MODEL", "m"),
            ])),
            Ok(None)
        );
    }

    #[test]
    fn reads_the_variables() {
        let dir = tempfile::tempdir().unwrap();
        let key_file = dir.path().join("key");
        std::fs::write(&key_file, "sk-from-file\n").unwrap();
        let settings = ModelSettings::from_lookup(lookup(&[
            ("OPS_COPILOT_LLM_BASE_URL", "http://127.0.0.1:11434/v1/"),
            ("OPS_COPILOT_LLM_MODEL", " qwen2.5:3b "),
            ("OPS_COPILOT_LLM_API_KEY", "sk-from-env"),
            ("OPS_COPILOT_LLM_API_KEY_FILE", key_file.to_str().unwrap()),
            ("OPS_COPILOT_LLM_TIMEOUT", "12.5"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(settings.base_url, "http://127.0.0.1:11434/v1");
        assert_eq!(
            settings.endpoint(),
            "http://127.0.0.1:11434/v1/chat/completions"
        );
        assert_eq!(settings.model, "qwen2.5:3b");
        assert_eq!(settings.api_key.as_deref(), Some("sk-from-file"));
        assert_eq!(settings.timeout, Duration::from_millis(12_500));
        assert!(!format!("{settings:?}").contains("sk-from-file"));

        let defaults = ModelSettings::from_lookup(lookup(&[
            (
                "OPS_COPILOT_LLM_BASE_URL",
                "http://pi.lan:8080/v1/chat/completions",
            ),
            ("OPS_COPILOT_LLM_MODEL", "m"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(defaults.base_url, "http://pi.lan:8080/v1");
        assert_eq!(defaults.api_key, None);
        assert_eq!(defaults.timeout, Duration::from_secs(30));
        assert_eq!(
            defaults.plain_http_key_warning(),
            None,
            "no key, no warning"
        );
    }

    #[test]
    fn refuses_what_cannot_work() {
        let url = ("OPS_COPILOT_LLM_BASE_URL", "http://127.0.0.1:11434/v1");
        let model = ("OPS_COPILOT_LLM_MODEL", "m");
        for bad in [
            vec![url],
            vec![("OPS_COPILOT_LLM_BASE_URL", "127.0.0.1:11434"), model],
            vec![url, model, ("OPS_COPILOT_LLM_TIMEOUT", "soon")],
            vec![url, model, ("OPS_COPILOT_LLM_TIMEOUT", "0")],
            vec![url, model, ("OPS_COPILOT_LLM_TIMEOUT", "9999")],
            vec![url, model, ("OPS_COPILOT_LLM_API_KEY", "two words")],
            vec![
                url,
                model,
                ("OPS_COPILOT_LLM_API_KEY_FILE", "/nonexistent/key"),
            ],
        ] {
            assert!(
                ModelSettings::from_lookup(lookup(&bad)).is_err(),
                "{bad:?} accepted"
            );
        }
    }

    #[test]
    fn https_needs_the_tls_feature() {
        let result = ModelSettings::from_lookup(lookup(&[
            ("OPS_COPILOT_LLM_BASE_URL", "https://api.example.com/v1"),
            ("OPS_COPILOT_LLM_MODEL", "m"),
        ]));
        if cfg!(feature = "https") {
            assert!(result.unwrap().is_some());
        } else {
            let error = result.unwrap_err();
            assert!(error.contains("--features pi-health/https"), "{error}");
        }
    }

    #[test]
    fn warns_about_a_key_over_plain_http() {
        let settings = |url: &str| ModelSettings {
            base_url: url.into(),
            model: "m".into(),
            api_key: Some("k".into()),
            timeout: Duration::from_secs(1),
        };
        assert!(
            settings("http://192.168.1.5:8080/v1")
                .plain_http_key_warning()
                .unwrap()
                .contains("192.168.1.5:8080")
        );
        assert_eq!(
            settings("http://127.0.0.1:8080/v1").plain_http_key_warning(),
            None
        );
        assert_eq!(
            settings("http://localhost:11434/v1").plain_http_key_warning(),
            None
        );
    }
}
