//! Several Docker hosts behind one gateway: `GET /hosts`' answer, and the
//! `host` argument a call names its host with. Written by the gateway from its
//! registry's `hosts:` section and policy, read by pi-health (the picker, the
//! all-hosts overview, the chat's "on the nas").
//!
//! Without a `hosts:` section the list is empty and every call goes where it
//! always went: the guide's single-host files are unchanged.

use serde::{Deserialize, Serialize};

/// The argument that names the host a call is for (`"host": "nas"`); without
/// it, a call goes to the default host.
pub const HOST_ARG: &str = "host";

/// The longest host name.
pub const MAX_HOST_NAME: usize = 32;

/// `GET /hosts`' answer: every host, sorted by name; empty when the registry
/// names none.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hosts {
    pub hosts: Vec<HostInfo>,
}

/// One host: one docker-mcp, on its own Docker Engine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostInfo {
    /// As the registry names it (`pi`, `nas`); what `host` takes.
    pub name: String,
    /// The host a call without `host` goes to.
    #[serde(default)]
    pub default: bool,
    /// The policy refuses every mutating tool on this host.
    #[serde(default)]
    pub read_only: bool,
    /// The compose file this host's tools take as `file`, when it is not the
    /// one the default host's take (each docker-mcp locks its own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compose_file: Option<String>,
}

impl Hosts {
    /// The host named `name`, matched case-insensitively.
    pub fn find(&self, name: &str) -> Option<&HostInfo> {
        self.hosts
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
    }

    /// The default host, when there is one.
    pub fn default_host(&self) -> Option<&HostInfo> {
        self.hosts.iter().find(|h| h.default)
    }

    /// The names, in order ("nas, pi"), for messages.
    pub fn names(&self) -> String {
        self.hosts
            .iter()
            .map(|h| h.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    pub fn is_empty(&self) -> bool {
        self.hosts.is_empty()
    }
}

/// A host name: 1 to [`MAX_HOST_NAME`] ASCII letters, digits, `_` or `-`,
/// starting with a letter or digit.
pub fn is_host_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_HOST_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        && name.as_bytes()[0].is_ascii_alphanumeric()
}
