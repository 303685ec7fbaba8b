//! Several Docker hosts behind one gateway. Each host is one docker-mcp service
//! (the only thing touching that host's Engine, with its own token); a call names
//! its host with the `host` argument, and a tool keeps the name the guide gives it.
//!
//! `tool_registry.yaml` says which service is which host; `policy.yaml` may set
//! rules per host (read-only, limited to some roles). Without a `hosts:` section
//! nothing changes: the guide's single-host files work as written.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::ToolPolicy;

/// The argument naming a call's host; the gateway's own, never the tool's: it is
/// taken off before the tool's schema checks the rest and before the call is
/// forwarded.
pub use ops_core::contract::hosts::HOST_ARG;
use ops_core::contract::hosts::{HostInfo, is_host_name};

/// `tool_registry.yaml` `hosts.NAME`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HostEntry {
    /// The docker-mcp service (in `services:`) that serves this host.
    pub service: String,
}

/// `policy.yaml` `hosts.NAME`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HostRules {
    /// Every mutating tool is refused on this host, for every role.
    #[serde(default)]
    pub read_only: bool,
    /// Only these roles may use this host at all (read, request, approve).
    #[serde(default)]
    pub roles: Option<Vec<String>>,
}

/// One host, resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Host {
    pub name: String,
    pub service: String,
    pub read_only: bool,
    pub roles: Option<Vec<String>>,
}

impl Host {
    pub fn admits(&self, role: &str) -> bool {
        self.roles
            .as_ref()
            .is_none_or(|roles| roles.iter().any(|r| r == role))
    }
}

/// The hosts in force; empty without a `hosts:` section.
#[derive(Debug, Clone, Default)]
pub struct Hosts {
    by_name: BTreeMap<String, Host>,
}

/// Where a call goes: the service, and the host it stands for (none when the
/// registry names no hosts or the tool is not served by one).
#[derive(Debug, Clone, Copy)]
pub struct Route<'c> {
    pub host: Option<&'c Host>,
    pub service: &'c str,
}

/// Which file a fault in the hosts sections is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultIn {
    Registry,
    Policy,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub file: FaultIn,
    pub reason: String,
}

impl Hosts {
    /// Checks the two sections against each other, the services and the roles;
    /// the fault names the entry at fault.
    pub fn resolve(
        entries: &BTreeMap<String, HostEntry>,
        rules: &BTreeMap<String, HostRules>,
        services: impl Fn(&str) -> bool,
        roles: impl Fn(&str) -> bool,
    ) -> Result<Self, Fault> {
        let in_registry = |reason: String| Fault {
            file: FaultIn::Registry,
            reason,
        };
        let in_policy = |reason: String| Fault {
            file: FaultIn::Policy,
            reason,
        };
        let mut by_name = BTreeMap::new();
        let mut served: BTreeMap<&str, &str> = BTreeMap::new();
        for (name, entry) in entries {
            if !is_host_name(name) {
                return Err(in_registry(format!(
                    "hosts.{name}: a host name is 1 to 32 letters, digits, '-' or '_', starting with a letter or digit"
                )));
            }
            if !services(&entry.service) {
                return Err(in_registry(format!(
                    "hosts.{name}: unknown service {:?} (it must be in services:)",
                    entry.service
                )));
            }
            if let Some(other) = served.insert(&entry.service, name) {
                return Err(in_registry(format!(
                    "hosts.{name}: service {:?} already serves host {other}; each host has its own docker-mcp",
                    entry.service
                )));
            }
            let rule = rules.get(name).cloned().unwrap_or_default();
            by_name.insert(
                name.clone(),
                Host {
                    name: name.clone(),
                    service: entry.service.clone(),
                    read_only: rule.read_only,
                    roles: rule.roles,
                },
            );
        }
        for (name, rule) in rules {
            if !by_name.contains_key(name) {
                return Err(in_policy(format!(
                    "hosts.{name}: no such host in tool_registry.yaml hosts: (the hosts are: {})",
                    list_or_none(entries.keys())
                )));
            }
            if let Some(unknown) = rule.roles.iter().flatten().find(|r| !roles(r)) {
                return Err(in_policy(format!(
                    "hosts.{name}.roles: role {unknown:?} is not defined in roles"
                )));
            }
        }
        Ok(Self { by_name })
    }

    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    /// By name, sorted.
    pub fn iter(&self) -> impl Iterator<Item = &Host> {
        self.by_name.values()
    }

    pub fn get(&self, name: &str) -> Option<&Host> {
        self.by_name.get(name)
    }

    /// The host a service stands for.
    pub fn serving(&self, service: &str) -> Option<&Host> {
        self.by_name.values().find(|h| h.service == service)
    }

    /// Where a call of `tool` with `args` goes: the host its `host` argument
    /// names, else the host of the tool's own service (the default host).
    pub fn route<'c>(&'c self, tool: &'c ToolPolicy, args: &Value) -> Result<Route<'c>, String> {
        let default = self.serving(&tool.service);
        let Some(named) = args.get(HOST_ARG) else {
            return Ok(Route {
                host: default,
                service: &tool.service,
            });
        };
        if self.is_empty() {
            // The guide's files: `host` is just another argument, for the schema to refuse.
            return Ok(Route {
                host: None,
                service: &tool.service,
            });
        }
        let Some(name) = named.as_str() else {
            return Err(format!("`{HOST_ARG}` must be a host name (a string)"));
        };
        if default.is_none() {
            return Err(format!(
                "{} does not run on a Docker host: call it without `{HOST_ARG}`",
                tool.name
            ));
        }
        match self.by_name.get(name) {
            Some(host) => Ok(Route {
                host: Some(host),
                service: &host.service,
            }),
            // A name is repeated only when it could be one (bounded, plain).
            None if is_host_name(name) => Err(format!(
                "unknown host {name:?}; the hosts are: {}",
                list_or_none(self.by_name.keys())
            )),
            None => Err(format!(
                "`{HOST_ARG}` is not a host name; the hosts are: {}",
                list_or_none(self.by_name.keys())
            )),
        }
    }

    /// `GET /hosts`: the hosts `role` may use, the default one marked (the
    /// host of the tools' own service).
    pub fn listed(&self, default_service: Option<&str>, role: &str) -> ops_core::contract::Hosts {
        ops_core::contract::Hosts {
            hosts: self
                .iter()
                .filter(|host| host.admits(role))
                .map(|host| HostInfo {
                    name: host.name.clone(),
                    default: Some(host.service.as_str()) == default_service,
                    read_only: host.read_only,
                    compose_file: None,
                })
                .collect(),
        }
    }

    /// The tool's schema as clients are shown it: with the gateway's `host`
    /// among the properties when the tool runs on a host (the hosts `role` may
    /// use; the description names the default).
    pub fn advertised_schema(&self, tool: &ToolPolicy, role: &str) -> Value {
        let mut schema = tool.schema.clone();
        let Some(default) = self.serving(&tool.service) else {
            return schema;
        };
        let names: Vec<&str> = self
            .iter()
            .filter(|h| h.admits(role))
            .map(|h| h.name.as_str())
            .collect();
        // A tool without arguments (docker_ps) still runs on a host: it gets
        // `properties` with just `host`.
        if let Some(object) = schema.as_object_mut()
            && let Some(properties) = object
                .entry("properties")
                .or_insert_with(|| Value::Object(serde_json::Map::new()))
                .as_object_mut()
        {
            properties.insert(
                HOST_ARG.to_owned(),
                serde_json::json!({
                    "type": "string",
                    "enum": names,
                    "description": format!("The Docker host; without it, {}.", default.name),
                }),
            );
        }
        schema
    }

    /// The arguments the tool itself sees: without the gateway's `host`.
    pub fn tool_args<'a>(&self, args: &'a Value) -> Cow<'a, Value> {
        match args.as_object() {
            Some(map) if !self.is_empty() && map.contains_key(HOST_ARG) => {
                let mut map = map.clone();
                map.remove(HOST_ARG);
                Cow::Owned(Value::Object(map))
            }
            _ => Cow::Borrowed(args),
        }
    }
}

fn list_or_none<'a>(names: impl Iterator<Item = &'a String>) -> String {
    let names: Vec<&str> = names.map(String::as_str).collect();
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}
