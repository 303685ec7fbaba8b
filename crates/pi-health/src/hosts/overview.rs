//! The dashboard's all-hosts overview: per host, whether its stack could be
//! read (and why not, in plain words), how many services it has, how many
//! run, and its problems, said by the same code as a single host's dashboard
//! (`summary.rs`, `verdicts.rs`). Every host is read at once, each within its
//! own time: the overview costs the slowest host, and a host that is down
//! costs at most its timeout.

use std::future::Future;
use std::time::Duration;

use futures_util::future::join_all;
use ops_core::contract::{HostInfo, Hosts};
use serde::Serialize;

use crate::agent::Read;
use crate::summary;

/// One host's line of the overview.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct HostStatus {
    pub(crate) name: String,
    pub(crate) default: bool,
    pub(crate) read_only: bool,
    pub(crate) reachable: bool,
    /// Why its stack could not be read, when it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) reason: Option<String>,
    pub(crate) services: usize,
    pub(crate) running: usize,
    /// One line per problem ("radarr keeps crashing ..."), as the dashboard says them.
    pub(crate) problems: Vec<String>,
    /// The stack in one sentence, or the reason.
    pub(crate) sentence: String,
}

/// Every host's status, read with `read` (its `compose_ps`) all at once, each
/// bounded by `timeout`; in the hosts' order.
pub(crate) async fn overview<F, Fut>(hosts: &Hosts, timeout: Duration, read: F) -> Vec<HostStatus>
where
    F: Fn(HostInfo) -> Fut,
    Fut: Future<Output = Read>,
{
    let reads = hosts.hosts.iter().map(|host| {
        let read = read(host.clone());
        async move {
            let result = tokio::time::timeout(timeout, read)
                .await
                .unwrap_or_else(|_| {
                    Err(crate::agent::Problem::Unreachable(format!(
                        "the host {} did not answer within {:.1} s",
                        host.name,
                        timeout.as_secs_f64()
                    )))
                });
            status(host, &result)
        }
    });
    join_all(reads).await
}

/// One host's line from its `compose_ps` read.
pub(crate) fn status(host: &HostInfo, read: &Read) -> HostStatus {
    let mut line = HostStatus {
        name: host.name.clone(),
        default: host.default,
        read_only: host.read_only,
        reachable: false,
        reason: None,
        services: 0,
        running: 0,
        problems: Vec::new(),
        sentence: String::new(),
    };
    match read {
        Ok(ps) => {
            let stack = summary::summarize(ps);
            line.reachable = true;
            line.services = stack.total;
            line.running = stack.running;
            line.problems = stack.problems();
            line.sentence = stack.sentence();
        }
        Err(problem) => {
            let why = crate::hosts::without_host(&problem.warning(), &host.name);
            line.sentence = format!("{} cannot be read: {why}", host.name);
            line.reason = Some(why);
        }
    }
    line
}
