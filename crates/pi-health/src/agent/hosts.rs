//! The chat with several Docker hosts behind the gateway: a message that names
//! a host ("restart sonarr on pi2", "@nas sonarr logs") is answered on it; one
//! that names none goes where its services run (a service on one host only:
//! there; on several: which one?; no service: the default host); a host that
//! does not exist is said so. With no hosts, the chat is what it always was.
//!
//! A service "runs" on a host when it has a container there: the same compose
//! file may declare it on every host (`compose_ps` lists it "not created" where
//! it was never brought up). Only for a service brought up on no host does the
//! compose file decide.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use ops_core::contract::{HostInfo, Hosts};

use super::{Agent, BUILT_IN_MODEL, Chat};
use crate::gateway_client::on_host;
use crate::hosts::{no_such_host, scope, without_host};
use crate::planner::{self, Intent, Order, Question, hosts::HostMention};

/// How long the chat waits for a host's services to find where a service
/// runs (the gateway's read timeout bounds it too): a host that does not
/// answer by then is said to be unreadable, not waited for.
const LOOKUP_BUDGET: Duration = Duration::from_secs(2);
/// How long a host that could not be read is not asked again by that lookup.
const UNREADABLE_FOR: Duration = Duration::from_secs(15);

/// One host's services, as far as they are known.
struct HostServices {
    host: HostInfo,
    /// What its compose file declares (the names the planner knows; from an
    /// earlier read when its stack cannot be read now).
    services: Vec<String>,
    /// Those with a container there (none known when it cannot be read).
    created: Vec<String>,
    /// Why its stack could not be read now.
    unreadable: Option<String>,
}

impl Agent {
    /// Answers one chat message, on the host it is about.
    pub(crate) async fn chat(&self, message: &str) -> Chat {
        let hosts = match self.hosts().await {
            Ok(hosts) if !hosts.is_empty() => hosts,
            // One host (or the list unreadable: the gateway's default answers).
            _ => return self.chat_here(message).await,
        };
        let names: Vec<String> = hosts.hosts.iter().map(|h| h.name.clone()).collect();
        let known = self.known_services(&hosts).await;
        let (mention, rest) = planner::hosts::mentioned(message, &names, &known);
        match mention {
            HostMention::Host(name) => {
                let host = hosts.find(&name);
                if let Some(said) = self.not_for(host, &rest, &known, &hosts).await {
                    return said;
                }
                on_host(scope(host), self.chat_here(&rest)).await
            }
            HostMention::Near { host, typed } => {
                let found = hosts.find(&host);
                let mut chat = match self.not_for(found, &rest, &known, &hosts).await {
                    Some(said) => said,
                    None => on_host(scope(found), self.chat_here(&rest)).await,
                };
                if let Some(first) = chat.reply.messages.first_mut() {
                    let mut said = crate::html::Html::new();
                    said.append(&super::render::note(&format!(
                        "\u{201c}{typed}\u{201d} taken as the host {host}."
                    )));
                    first.content = format!("{}{}", said.into_string(), first.content);
                }
                chat
            }
            HostMention::Unknown(typed) => self.say(&no_such_host(&typed, &hosts)),
            HostMention::None => self.chat_where_it_runs(message, &hosts).await,
        }
    }

    /// What a message naming `host` gets instead of an answer there, if
    /// anything: "how hot is the nas?" (pi-health sees only its own machine),
    /// an order on a read-only host, an order for a service that has no
    /// container there ("radarr is not running on pi (it runs on nas)").
    async fn not_for(
        &self,
        host: Option<&HostInfo>,
        rest: &str,
        known: &[String],
        hosts: &Hosts,
    ) -> Option<Chat> {
        let host = host?;
        let action = match planner::plan(rest, known) {
            Intent::Question(Question::SystemHealth) => {
                let machine = crate::host::this_machine();
                if machine.eq_ignore_ascii_case(&host.name) {
                    return None;
                }
                let said = format!(
                    "I cannot see the hardware of {}: pi-health sees only the machine it runs on ({machine}). \
                     Ask \u{201c}how hot is it?\u{201d} without a host for the figures of {machine}.",
                    host.name
                );
                return Some(on_host(scope(Some(host)), async { self.say(&said) }).await);
            }
            Intent::Order(
                Order::Services { action, .. }
                | Order::Everything { action }
                | Order::NoSuchService { action, .. }
                | Order::Which { action },
            ) => action,
            _ => return None,
        };
        let said = if host.read_only {
            read_only(&host.name, action)
        } else {
            // The services every host has now (a service first seen now too).
            let by_host = self.services_by_host(hosts).await;
            let all = union(&by_host);
            let Intent::Order(Order::Services { services, .. }) = planner::plan(rest, &all) else {
                return None;
            };
            not_there(host, &services, &by_host)?
        };
        Some(on_host(scope(Some(host)), async { self.say(&said) }).await)
    }

    /// Every service any host was seen with, without asking (for telling a
    /// service from a host's name).
    async fn known_services(&self, hosts: &Hosts) -> Vec<String> {
        let mut known = Vec::new();
        for host in &hosts.hosts {
            let seen = on_host(scope(Some(host)), async { self.cache.stale() }).await;
            for service in seen
                .as_ref()
                .map(super::services::declared)
                .unwrap_or_default()
            {
                if !known.contains(&service) {
                    known.push(service);
                }
            }
        }
        known
    }

    /// Each host's services, read at once, each within [`LOOKUP_BUDGET`]
    /// (kept as long as the chat's services are; a host that could not be
    /// read is not asked again for [`UNREADABLE_FOR`]).
    async fn services_by_host(&self, hosts: &Hosts) -> Vec<HostServices> {
        let reads = hosts.hosts.iter().map(|host| {
            on_host(scope(Some(host)), async move {
                let known = || {
                    self.cache
                        .stale()
                        .as_ref()
                        .map(super::services::declared)
                        .unwrap_or_default()
                };
                let unreadable = |why: String| HostServices {
                    host: host.clone(),
                    services: known(),
                    created: Vec::new(),
                    unreadable: Some(why),
                };
                let read = |ps: &serde_json::Value| HostServices {
                    host: host.clone(),
                    services: super::services::declared(ps),
                    created: super::services::created(ps),
                    unreadable: None,
                };
                if let Some(ps) = self.cache.fresh(None) {
                    return read(&ps);
                }
                if let Some(why) = self.cache.failed(UNREADABLE_FOR) {
                    return unreadable(why);
                }
                let why = match tokio::time::timeout(LOOKUP_BUDGET, self.compose_ps()).await {
                    Ok(Ok(ps)) => return read(&ps),
                    Ok(Err(super::Problem::Unreachable(why))) => why,
                    Ok(Err(problem)) => without_host(&problem.warning(), &host.name),
                    Err(_) => format!("it did not answer within {} s", LOOKUP_BUDGET.as_secs_f64()),
                };
                self.cache.fail(why.clone());
                unreadable(why)
            })
        });
        join_all(reads).await
    }

    /// A message that names no host: on the host its services run on, among
    /// the hosts that could be read (one that could not is said, never
    /// counted as having every service).
    async fn chat_where_it_runs(&self, message: &str, hosts: &Arc<Hosts>) -> Chat {
        let by_host = self.services_by_host(hosts).await;
        let all = union(&by_host);
        let (readable, unreadable): (Vec<&HostServices>, Vec<&HostServices>) =
            by_host.iter().partition(|h| h.unreadable.is_none());
        let lines: Vec<String> = unreadable
            .iter()
            .map(|h| {
                format!(
                    "{} could not be read right now: {}.",
                    h.host.name,
                    h.unreadable
                        .as_deref()
                        .unwrap_or_default()
                        .trim_end_matches('.')
                )
            })
            .collect();
        let named = planner::plan(message, &all).named_services();
        let fallback = hosts.default_host().or(hosts.hosts.first());
        let found = if unreadable.is_empty() {
            where_they_run(&readable, &named)
        } else {
            // Never from the compose files alone: the unreadable host may run it.
            where_in(&readable, &named, |h| &h.created)
        };
        let target = match found {
            Where::Nowhere
                if !named.is_empty() && !unreadable.is_empty() && !readable.is_empty() =>
            {
                let on: Vec<String> = readable.iter().map(|h| h.host.name.clone()).collect();
                return self.say(&format!(
                    "{} not on {}; {}",
                    word_list(&named, "and") + if named.len() > 1 { " are" } else { " is" },
                    word_list(&on, "or"),
                    lines.join(" ")
                ));
            }
            Where::Nowhere => fallback,
            Where::On(host) => Some(host),
            Where::Several(on) => {
                let mut said = format!(
                    "{} runs on {}: which one? Say, for example, \u{201c}{} on {}\u{201d}.",
                    named.join(" and "),
                    word_list(&on, "and"),
                    message.trim().trim_end_matches(['?', '.', '!']),
                    on[0]
                );
                for line in &lines {
                    said.push(' ');
                    said.push_str(line);
                }
                return self.say(&said);
            }
            Where::Apart(apart) => {
                return self.say(&format!(
                    "{}: ask about one host at a time (\u{201c}... on {}\u{201d}).",
                    apart.join(", "),
                    by_host[0].host.name
                ));
            }
        };
        let mut chat = on_host(scope(target), self.chat_here(message)).await;
        if let Some(first) = chat.reply.messages.first_mut() {
            for line in lines
                .iter()
                .zip(&unreadable)
                .filter(|(_, h)| Some(&h.host) != target)
                .map(|(line, _)| line)
            {
                first
                    .content
                    .push_str(&super::render::warning(line).into_string());
            }
        }
        chat
    }

    /// An answer of one plain sentence, nothing read or run.
    fn say(&self, text: &str) -> Chat {
        let mut answer = super::Answer::default();
        answer.html.wrap("<p>", text, "</p>");
        self.finish(answer, BUILT_IN_MODEL)
    }
}

/// "radarr is not running on pi (it runs on nas)." for the services of an
/// order that `host` declares but has no container for (the gateway
/// would refuse the action there); `None` when each has one.
fn not_there(host: &HostInfo, services: &[String], by_host: &[HostServices]) -> Option<String> {
    let here = by_host.iter().find(|h| h.host.name == host.name)?;
    if here.unreadable.is_some() {
        return None;
    }
    let missing: Vec<&String> = services
        .iter()
        .filter(|s| here.services.contains(s) && !here.created.contains(s))
        .collect();
    if missing.is_empty() {
        return None;
    }
    let mut said: Vec<String> = missing
        .iter()
        .map(|service| {
            let on: Vec<String> = by_host
                .iter()
                .filter(|h| h.created.contains(service))
                .map(|h| h.host.name.clone())
                .collect();
            if on.is_empty() {
                format!(
                    "{service} is not running on {}: it has no container there (it was never brought up).",
                    host.name
                )
            } else {
                format!(
                    "{service} is not running on {} (it runs on {}).",
                    host.name,
                    word_list(&on, "and")
                )
            }
        })
        .collect();
    let others: Vec<&String> = services.iter().filter(|s| !missing.contains(s)).collect();
    if !others.is_empty() {
        said.push(format!(
            "Nothing was suggested: ask for {} alone.",
            others
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(" and ")
        ));
    }
    Some(said.join(" "))
}

/// Every service any host declares, once each.
fn union(by_host: &[HostServices]) -> Vec<String> {
    let mut all: Vec<String> = Vec::new();
    for service in by_host.iter().flat_map(|h| &h.services) {
        if !all.contains(service) {
            all.push(service.clone());
        }
    }
    all
}

/// "nas is read-only: Ops-Copilot does not restart anything there."
pub(super) fn read_only(host: &str, action: planner::Action) -> String {
    format!(
        "{host} is read-only: Ops-Copilot does not {} anything there.",
        action.verb()
    )
}

/// Where the services a message names run.
#[derive(Debug, PartialEq)]
enum Where<'a> {
    /// No service named (or none any host has).
    Nowhere,
    On(&'a HostInfo),
    /// Every one of them runs on each of these hosts.
    Several(Vec<String>),
    /// No host runs them all: "sonarr runs on pi", "jellyfin runs on nas".
    Apart(Vec<String>),
}

/// Where the `named` services have containers; where they are declared when
/// they have none anywhere.
fn where_they_run<'a>(by_host: &[&'a HostServices], named: &[String]) -> Where<'a> {
    match where_in(by_host, named, |h| &h.created) {
        Where::Nowhere => where_in(by_host, named, |h| &h.services),
        found => found,
    }
}

fn where_in<'a>(
    by_host: &[&'a HostServices],
    named: &[String],
    of: impl Fn(&HostServices) -> &Vec<String>,
) -> Where<'a> {
    if named.is_empty() {
        return Where::Nowhere;
    }
    let runs = |h: &HostServices, s: &String| of(h).contains(s);
    let all_on: Vec<&HostServices> = by_host
        .iter()
        .copied()
        .filter(|h| named.iter().all(|s| runs(h, s)))
        .collect();
    match all_on.as_slice() {
        [one] => Where::On(&one.host),
        [] => {
            let apart: Vec<String> = named
                .iter()
                .filter_map(|s| {
                    let on: Vec<String> = by_host
                        .iter()
                        .filter(|h| runs(h, s))
                        .map(|h| h.host.name.clone())
                        .collect();
                    (!on.is_empty()).then(|| format!("{s} runs on {}", word_list(&on, "and")))
                })
                .collect();
            if apart.len() < 2 {
                Where::Nowhere
            } else {
                Where::Apart(apart)
            }
        }
        several => Where::Several(several.iter().map(|h| h.host.name.clone()).collect()),
    }
}

/// "nas", "nas and pi", "nas, pi and pi2" (or `or` for `conjunction`).
fn word_list(names: &[String], conjunction: &str) -> String {
    match names {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} {conjunction} {last}", init.join(", ")),
    }
}

#[cfg(test)]
mod tests;
