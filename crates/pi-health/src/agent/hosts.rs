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

use futures_util::future::join_all;
use ops_core::contract::{HostInfo, Hosts};

use super::{Agent, Answer, BUILT_IN_MODEL, Chat};
use crate::gateway_client::on_host;
use crate::hosts::{no_such_host, scope};
use crate::planner::{self, hosts::HostMention};

/// One host's services, as far as they are known.
struct HostServices {
    host: HostInfo,
    /// What its compose file declares (the names the planner knows).
    services: Vec<String>,
    /// Those with a container there; all of `services` when its stack could
    /// not be read (they are known from an earlier read or the file).
    created: Vec<String>,
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
                on_host(scope(host), self.chat_here(&rest)).await
            }
            HostMention::Near { host, typed } => {
                let found = hosts.find(&host);
                let mut chat = on_host(scope(found), self.chat_here(&rest)).await;
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

    /// Each host's services, read at once (each bounded by the read timeout).
    async fn services_by_host(&self, hosts: &Hosts) -> Vec<HostServices> {
        let reads = hosts.hosts.iter().map(|host| async move {
            let mut answer = Answer::default();
            let (services, ps) = on_host(scope(Some(host)), self.services(&mut answer)).await;
            let created = ps
                .as_ref()
                .map(super::services::created)
                .unwrap_or_else(|| services.clone());
            HostServices {
                host: host.clone(),
                services,
                created,
            }
        });
        join_all(reads).await
    }

    /// A message that names no host: on the host its services run on.
    async fn chat_where_it_runs(&self, message: &str, hosts: &Arc<Hosts>) -> Chat {
        let by_host = self.services_by_host(hosts).await;
        let mut all: Vec<String> = Vec::new();
        for service in by_host.iter().flat_map(|h| &h.services) {
            if !all.contains(service) {
                all.push(service.clone());
            }
        }
        let named = planner::plan(message, &all).named_services();
        let fallback = hosts.default_host().or(hosts.hosts.first());
        let target = match where_they_run(&by_host, &named) {
            Where::Nowhere => fallback,
            Where::On(host) => Some(host),
            Where::Several(on) => {
                return self.say(&format!(
                    "{} runs on {}: which one? Say, for example, \u{201c}{} on {}\u{201d}.",
                    named.join(" and "),
                    and_list(&on),
                    message.trim().trim_end_matches(['?', '.', '!']),
                    on[0]
                ));
            }
            Where::Apart(apart) => {
                return self.say(&format!(
                    "{}: ask about one host at a time (\u{201c}... on {}\u{201d}).",
                    apart.join(", "),
                    by_host[0].host.name
                ));
            }
        };
        on_host(scope(target), self.chat_here(message)).await
    }

    /// An answer of one plain sentence, nothing read or run.
    fn say(&self, text: &str) -> Chat {
        let mut answer = Answer::default();
        answer.html.wrap("<p>", text, "</p>");
        self.finish(answer, BUILT_IN_MODEL)
    }
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
fn where_they_run<'a>(by_host: &'a [HostServices], named: &[String]) -> Where<'a> {
    match where_in(by_host, named, |h| &h.created) {
        Where::Nowhere => where_in(by_host, named, |h| &h.services),
        found => found,
    }
}

fn where_in<'a>(
    by_host: &'a [HostServices],
    named: &[String],
    of: impl Fn(&HostServices) -> &Vec<String>,
) -> Where<'a> {
    if named.is_empty() {
        return Where::Nowhere;
    }
    let runs = |h: &HostServices, s: &String| of(h).contains(s);
    let all_on: Vec<&HostServices> = by_host
        .iter()
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
                    (!on.is_empty()).then(|| format!("{s} runs on {}", and_list(&on)))
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

/// "nas", "nas and pi", "nas, pi and pi2".
fn and_list(names: &[String]) -> String {
    match names {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

#[cfg(test)]
mod tests;
