//! What `compose_stats` answers: each running container's CPU, memory,
//! network and block I/O, written by docker-mcp from the Engine's one-shot
//! stats, passed through the gateway, read by pi-health.
//!
//! A figure the Engine did not give is absent (`None`), never a zero: a zero
//! would say "idle" or "empty" where the truth is "unknown".

use serde::{Deserialize, Serialize};

/// What to do when the kernel does not account memory per container (the
/// Raspberry Pi OS default): the Engine then reports 0 used of 0.
pub const MEMORY_ACCOUNTING_HINT: &str = "The kernel does not account memory per container, so Docker reports 0 bytes for every container. On a Raspberry Pi, add cgroup_enable=memory cgroup_memory=1 to the single line of /boot/firmware/cmdline.txt (/boot/cmdline.txt on older systems) and reboot.";

/// At most this many containers whose figures could not be read are listed.
pub const MAX_UNAVAILABLE: usize = 50;
/// Each reason at most this long (bytes).
pub const MAX_REASON_BYTES: usize = 300;

/// `compose_stats`' answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StackStats {
    /// The compose project measured.
    pub project: String,
    /// The running containers of the project, by name.
    pub containers: Vec<ContainerStats>,
    /// Every running container reported no memory at all: the kernel does not
    /// account memory per container (see [`MEMORY_ACCOUNTING_HINT`]).
    pub memory_accounting_missing: bool,
    /// What to do about it, in plain words, when `memory_accounting_missing`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_hint: Option<String>,
    /// Running containers whose figures could not be read this time, and why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unavailable: Vec<Unavailable>,
}

/// One running container's figures at one moment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContainerStats {
    pub service: String,
    pub name: String,
    /// Of one CPU: 250 is two and a half cores busy (as `docker stats` says it).
    /// Absent when the Engine gave no earlier sample to measure against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_percent: Option<f64>,
    /// Bytes in use, the page cache that can be dropped left out (as `docker stats`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_used: Option<u64>,
    /// The container's limit, or the host's memory when it has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_limit: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_percent: Option<f64>,
    /// Totals since the container started.
    pub net_rx_bytes: u64,
    pub net_tx_bytes: u64,
    pub block_read_bytes: u64,
    pub block_write_bytes: u64,
}

/// A running container whose figures could not be read (the Engine was slow, say).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Unavailable {
    pub service: String,
    pub name: String,
    pub reason: String,
}

/// Whether the figures say the kernel does not account memory: there are
/// running containers, and none has any memory in use (a running process
/// always has some), nor a limit.
pub fn memory_accounting_missing(containers: &[ContainerStats]) -> bool {
    !containers.is_empty()
        && containers
            .iter()
            .all(|c| c.memory_used.unwrap_or(0) == 0 && c.memory_limit.unwrap_or(0) == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(used: Option<u64>, limit: Option<u64>) -> ContainerStats {
        ContainerStats {
            service: "sonarr".into(),
            name: "arr-sonarr-1".into(),
            cpu_percent: Some(1.5),
            memory_used: used,
            memory_limit: limit,
            memory_percent: None,
            net_rx_bytes: 0,
            net_tx_bytes: 0,
            block_read_bytes: 0,
            block_write_bytes: 0,
        }
    }

    #[test]
    fn memory_accounting_is_missing_only_when_every_running_container_reports_none() {
        assert!(
            !memory_accounting_missing(&[]),
            "nothing runs: nothing to say"
        );
        assert!(memory_accounting_missing(&[
            container(None, None),
            container(Some(0), Some(0))
        ]));
        assert!(!memory_accounting_missing(&[
            container(None, None),
            container(Some(4096), Some(1 << 30))
        ]));
        assert!(MEMORY_ACCOUNTING_HINT.contains("cgroup_enable=memory cgroup_memory=1"));
    }

    #[test]
    fn unknown_figures_are_absent_on_the_wire_not_zero() {
        let wire = serde_json::to_value(container(None, None)).unwrap();
        assert!(wire.get("memory_used").is_none(), "{wire}");
        assert!(wire.get("memory_percent").is_none(), "{wire}");
        let back: ContainerStats = serde_json::from_value(wire).unwrap();
        assert_eq!(back, container(None, None));
    }
}
