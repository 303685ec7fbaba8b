//! What the fuzz targets share: the repository's own configuration and secret
//! corpus, read at compile time so every target starts from the real thing.

use std::sync::LazyLock;

use gateway::config::{Config, Source};
use redact::Redactor;

/// `config/tool_registry.yaml` and `config/policy.yaml`, as shipped.
pub const REGISTRY_YAML: &str = include_str!("../../config/tool_registry.yaml");
pub const POLICY_YAML: &str = include_str!("../../config/policy.yaml");

/// The shipped configuration, parsed once. A fuzz target that cannot load it is
/// broken, not fuzzing, so this panics (at the first input) rather than skip.
pub static SHIPPED_CONFIG: LazyLock<Config> = LazyLock::new(|| {
    Config::parse(
        Source {
            name: "config/tool_registry.yaml",
            text: REGISTRY_YAML,
        },
        Source {
            name: "config/policy.yaml",
            text: POLICY_YAML,
        },
    )
    .expect("the shipped config/ files load")
});

/// The gateway's redactor for the shipped policy: its patterns plus the built-ins.
pub static SHIPPED_REDACTOR: LazyLock<Redactor> = LazyLock::new(|| {
    Redactor::new(&SHIPPED_CONFIG.defaults.redact_patterns).expect("the shipped patterns compile")
});

/// One planted secret of `crates/redact/tests/corpus/secrets.txt`.
pub struct Planted {
    pub kind: String,
    /// The pieces that must not survive redaction.
    pub secrets: Vec<String>,
    /// The log line an app would print it in.
    pub line: String,
    /// The JSON key an app would store it under, when the corpus names one.
    pub json_key: Option<String>,
}

/// Every case of the redaction corpus (the format is described at its top).
pub static PLANTED: LazyLock<Vec<Planted>> = LazyLock::new(|| {
    include_str!("../../crates/redact/tests/corpus/secrets.txt")
        .lines()
        .filter(|line| !line.trim().is_empty() && !line.starts_with('#'))
        .filter_map(|line| {
            let mut fields = line.split('\t');
            let kind = fields.next()?.to_owned();
            let secrets = fields.next()?.split("{AND}").map(str::to_owned).collect();
            let line = fields.next()?.replace("{NL}", "\n");
            let json_key = fields.next().map(str::to_owned);
            Some(Planted {
                kind,
                secrets,
                line,
                json_key,
            })
        })
        .collect()
});

/// Splits an input at its first `n - 1` newlines: the way targets take a few short
/// header-like fields before a body, so that seeds stay readable text.
pub fn split_fields(data: &[u8], n: usize) -> Vec<&[u8]> {
    data.splitn(n, |&b| b == b'\n').collect()
}
