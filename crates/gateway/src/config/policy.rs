//! `policy.yaml`: defaults, roles, cooldowns, argument schemas and guards.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::registry::CooldownKey;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyFile {
    pub defaults: Defaults,
    pub roles: BTreeMap<String, Spanned<RoleDef>>,
    #[serde(default)]
    pub cooldowns: BTreeMap<String, Spanned<PolicyCooldown>>,
    pub schemas: BTreeMap<String, Spanned<serde_json::Value>>,
    #[serde(default)]
    pub guards: Guards,
    /// Off when absent (see [`super::autoheal`]).
    #[serde(default)]
    pub autoheal: Option<Spanned<super::autoheal::AutohealPolicy>>,
    /// Rules per host (see [`super::hosts`]).
    #[serde(default)]
    pub hosts: Option<Spanned<BTreeMap<String, super::hosts::HostRules>>>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    pub read_timeout_ms: u64,
    pub write_timeout_ms: u64,
    pub output_cap_bytes: usize,
    #[serde(default)]
    pub redact_patterns: Vec<String>,
    /// Not in the guide: how long a pending approval stays valid.
    #[serde(default = "default_approval_ttl")]
    pub approval_ttl_seconds: u64,
}

fn default_approval_ttl() -> u64 {
    900
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RoleDef {
    /// Tools this role may approve (`"*"` for all). Empty: may request, never approve.
    #[serde(default)]
    pub can_approve: Vec<String>,
    #[serde(default)]
    pub deny_tools: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PolicyCooldown {
    pub seconds: u64,
    /// The guide writes `key: "service"` here and `key_by: service` in the registry.
    #[serde(default, alias = "key_by")]
    pub key: Option<CooldownKey>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Guards {
    #[serde(default = "yes")]
    pub lock_compose_file: bool,
    #[serde(default = "yes")]
    pub trim_output: bool,
    #[serde(default = "yes")]
    pub redact_output: bool,
}

impl Default for Guards {
    fn default() -> Self {
        Self {
            lock_compose_file: true,
            trim_output: true,
            redact_output: true,
        }
    }
}

fn yes() -> bool {
    true
}
