//! One container's figures from the Engine's stats (`GET /containers/{id}/stats`),
//! computed the way the docker CLI's `docker stats` computes them, so that both
//! show the same numbers.

use bollard::models::{ContainerCpuStats, ContainerMemoryStats, ContainerStatsResponse};

/// One container's figures at one moment; a figure the Engine did not give is None.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Measured {
    pub cpu_percent: Option<f64>,
    pub memory_used: Option<u64>,
    pub memory_limit: Option<u64>,
    pub memory_percent: Option<f64>,
    pub net_rx_bytes: u64,
    pub net_tx_bytes: u64,
    pub block_read_bytes: u64,
    pub block_write_bytes: u64,
}

/// The figures of one stats sample; None when the sample is empty: the Engine
/// answers a container that is not running (any more) with a sample without
/// CPU figures, and that container is not measured.
pub fn measure(sample: &ContainerStatsResponse) -> Option<Measured> {
    let cpu = sample.cpu_stats.as_ref()?;
    // Every real sample on Linux carries the host's CPU time; an empty one has none.
    cpu.system_cpu_usage.filter(|&t| t > 0)?;
    let memory = sample.memory_stats.as_ref();
    let memory_used = memory.and_then(memory_used);
    let memory_limit = memory.and_then(|m| m.limit).filter(|&l| l > 0);
    let memory_percent = match (memory_used, memory_limit) {
        (Some(used), Some(limit)) => Some(used as f64 / limit as f64 * 100.0),
        _ => None,
    };
    let (net_rx_bytes, net_tx_bytes) =
        sample
            .networks
            .iter()
            .flatten()
            .fold((0u64, 0u64), |(rx, tx), (_, n)| {
                (
                    rx.saturating_add(n.rx_bytes.unwrap_or(0)),
                    tx.saturating_add(n.tx_bytes.unwrap_or(0)),
                )
            });
    let (block_read_bytes, block_write_bytes) = block_io(sample);
    Some(Measured {
        cpu_percent: cpu_percent(cpu, sample.precpu_stats.as_ref()),
        memory_used,
        memory_limit,
        memory_percent,
        net_rx_bytes,
        net_tx_bytes,
        block_read_bytes,
        block_write_bytes,
    })
}

/// The container's CPU time over the host's between the Engine's two samples,
/// times the online CPUs: 100 is one core busy. None without an earlier sample
/// (a `one-shot` request leaves it empty).
fn cpu_percent(now: &ContainerCpuStats, before: Option<&ContainerCpuStats>) -> Option<f64> {
    let before = before?;
    let system_before = before.system_cpu_usage.filter(|&t| t > 0)?;
    let system_now = now.system_cpu_usage?;
    let total = |cpu: &ContainerCpuStats| cpu.cpu_usage.as_ref().and_then(|u| u.total_usage);
    let (total_now, total_before) = (total(now)?, total(before).unwrap_or(0));
    let cpus = match now.online_cpus.filter(|&n| n > 0) {
        Some(n) => f64::from(n),
        // Engines before API 1.27 only list the cores (cgroup v1).
        None => now
            .cpu_usage
            .as_ref()
            .and_then(|u| u.percpu_usage.as_ref())
            .map_or(0, Vec::len) as f64,
    };
    let cpu_delta = total_now.saturating_sub(total_before);
    let system_delta = system_now.saturating_sub(system_before);
    // As the CLI: a counter that went backwards (a restart between samples) is 0 %.
    if cpu_delta == 0 || system_delta == 0 {
        return Some(0.0);
    }
    Some(cpu_delta as f64 / system_delta as f64 * cpus * 100.0)
}

/// Memory in use without the inactive page cache, as the docker CLI counts it:
/// `total_inactive_file` on cgroup v1, `inactive_file` on cgroup v2. None when
/// the Engine reports no usage: a running process always uses some, so zero
/// means the kernel does not account it.
fn memory_used(memory: &ContainerMemoryStats) -> Option<u64> {
    let usage = memory.usage.filter(|&u| u > 0)?;
    let stat = |key: &str| memory.stats.as_ref().and_then(|s| s.get(key)).copied();
    let cache = match stat("total_inactive_file") {
        Some(v1) if v1 < usage => v1,
        _ => stat("inactive_file").filter(|&v2| v2 < usage).unwrap_or(0),
    };
    Some(usage - cache)
}

/// Bytes read and written, summed over the devices (`io_service_bytes_recursive`,
/// the one list cgroup v2 fills too).
fn block_io(sample: &ContainerStatsResponse) -> (u64, u64) {
    let entries = sample
        .blkio_stats
        .as_ref()
        .and_then(|b| b.io_service_bytes_recursive.as_ref());
    let mut read = 0u64;
    let mut write = 0u64;
    for entry in entries.into_iter().flatten() {
        let value = entry.value.unwrap_or(0);
        match entry.op.as_deref().and_then(|op| op.chars().next()) {
            Some('r' | 'R') => read = read.saturating_add(value),
            Some('w' | 'W') => write = write.saturating_add(value),
            _ => {}
        }
    }
    (read, write)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use bollard::models::{
        ContainerBlkioStatEntry, ContainerBlkioStats, ContainerCpuUsage, ContainerNetworkStats,
    };

    use super::*;

    fn cpu(total: u64, system: u64, online: u32) -> ContainerCpuStats {
        ContainerCpuStats {
            cpu_usage: Some(ContainerCpuUsage {
                total_usage: Some(total),
                ..Default::default()
            }),
            system_cpu_usage: Some(system),
            online_cpus: Some(online),
            ..Default::default()
        }
    }

    fn sample(
        now: ContainerCpuStats,
        before: ContainerCpuStats,
        memory: ContainerMemoryStats,
    ) -> ContainerStatsResponse {
        ContainerStatsResponse {
            cpu_stats: Some(now),
            precpu_stats: Some(before),
            memory_stats: Some(memory),
            ..Default::default()
        }
    }

    fn memory(usage: u64, limit: u64, stats: &[(&str, u64)]) -> ContainerMemoryStats {
        ContainerMemoryStats {
            usage: Some(usage),
            limit: Some(limit),
            stats: Some(
                stats
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), *v))
                    .collect::<HashMap<_, _>>(),
            ),
            ..Default::default()
        }
    }

    #[test]
    fn cpu_is_the_share_of_host_time_times_the_online_cpus() {
        // 0.2 s of container time in 4 s of host time (1 s on each of 4 CPUs):
        // 5 % of the host, 20 % of one core.
        let s = sample(
            cpu(1_200_000_000, 14_000_000_000, 4),
            cpu(1_000_000_000, 10_000_000_000, 4),
            memory(1, 1, &[]),
        );
        let percent = measure(&s).unwrap().cpu_percent.unwrap();
        assert!((percent - 20.0).abs() < 1e-9, "{percent}");
        // Two cores busy on a 4-CPU host.
        let s = sample(
            cpu(3_000_000_000, 14_000_000_000, 4),
            cpu(1_000_000_000, 10_000_000_000, 4),
            memory(1, 1, &[]),
        );
        assert!((measure(&s).unwrap().cpu_percent.unwrap() - 200.0).abs() < 1e-9);
        // Without online_cpus (old Engines), the per-core list counts them.
        let mut now = cpu(1_100_000_000, 12_000_000_000, 0);
        now.online_cpus = None;
        now.cpu_usage.as_mut().unwrap().percpu_usage = Some(vec![1, 2]);
        let s = sample(
            now,
            cpu(1_000_000_000, 10_000_000_000, 2),
            memory(1, 1, &[]),
        );
        assert!((measure(&s).unwrap().cpu_percent.unwrap() - 10.0).abs() < 1e-9);
    }

    #[test]
    fn cpu_without_an_earlier_sample_is_unknown_and_counters_going_back_are_zero() {
        // A one-shot sample: precpu is empty.
        let s = sample(
            cpu(5_000, 10_000, 4),
            ContainerCpuStats::default(),
            memory(1, 1, &[]),
        );
        assert_eq!(measure(&s).unwrap().cpu_percent, None);
        // Idle, or a container restarted between the two samples.
        let s = sample(
            cpu(5_000, 20_000, 4),
            cpu(5_000, 10_000, 4),
            memory(1, 1, &[]),
        );
        assert_eq!(measure(&s).unwrap().cpu_percent, Some(0.0));
        let s = sample(
            cpu(1_000, 20_000, 4),
            cpu(5_000, 10_000, 4),
            memory(1, 1, &[]),
        );
        assert_eq!(measure(&s).unwrap().cpu_percent, Some(0.0));
    }

    #[test]
    fn memory_leaves_out_the_inactive_page_cache_as_the_cli_does() {
        let before = cpu(1, 1, 1);
        // cgroup v2: inactive_file.
        let s = sample(
            cpu(2, 2, 1),
            before.clone(),
            memory(100 << 20, 400 << 20, &[("inactive_file", 20 << 20)]),
        );
        let m = measure(&s).unwrap();
        assert_eq!(m.memory_used, Some(80 << 20));
        assert_eq!(m.memory_limit, Some(400 << 20));
        assert!((m.memory_percent.unwrap() - 20.0).abs() < 1e-9);
        // cgroup v1: total_inactive_file wins over inactive_file.
        let s = sample(
            cpu(2, 2, 1),
            before.clone(),
            memory(
                100,
                1000,
                &[("total_inactive_file", 30), ("inactive_file", 10)],
            ),
        );
        assert_eq!(measure(&s).unwrap().memory_used, Some(70));
        // A cache figure not below the usage is not subtracted.
        let s = sample(
            cpu(2, 2, 1),
            before,
            memory(100, 1000, &[("inactive_file", 100)]),
        );
        assert_eq!(measure(&s).unwrap().memory_used, Some(100));
    }

    #[test]
    fn zero_memory_is_unknown_memory_not_an_empty_container() {
        // A Raspberry Pi without cgroup_enable=memory: CPU figures, memory all zero.
        let s = sample(cpu(2, 2, 4), cpu(1, 1, 4), ContainerMemoryStats::default());
        let m = measure(&s).unwrap();
        assert_eq!(
            (m.memory_used, m.memory_limit, m.memory_percent),
            (None, None, None)
        );
        let s = sample(cpu(2, 2, 4), cpu(1, 1, 4), memory(0, 0, &[]));
        let m = measure(&s).unwrap();
        assert_eq!((m.memory_used, m.memory_limit), (None, None));
        assert!(m.cpu_percent.is_some());
    }

    #[test]
    fn a_stopped_containers_empty_sample_is_not_measured() {
        // What the Engine answers for a container that is not running.
        let empty: ContainerStatsResponse = serde_json::from_value(serde_json::json!({
            "name": "/x", "id": "abc", "read": "0001-01-01T00:00:00Z",
            "cpu_stats": {"cpu_usage": {"total_usage": 0}, "throttling_data": {}},
            "precpu_stats": {"cpu_usage": {"total_usage": 0}, "throttling_data": {}},
            "memory_stats": {}, "blkio_stats": {}, "pids_stats": {}
        }))
        .unwrap();
        assert_eq!(measure(&empty), None);
        assert_eq!(measure(&ContainerStatsResponse::default()), None);
    }

    #[test]
    fn network_and_block_io_are_summed_over_interfaces_and_devices() {
        let mut s = sample(cpu(2, 2, 1), cpu(1, 1, 1), memory(1, 1, &[]));
        let net = |rx, tx| ContainerNetworkStats {
            rx_bytes: Some(rx),
            tx_bytes: Some(tx),
            ..Default::default()
        };
        s.networks = Some(HashMap::from([
            ("eth0".to_owned(), net(100, 10)),
            ("eth1".to_owned(), net(5, 1)),
        ]));
        let entry = |op: &str, value| ContainerBlkioStatEntry {
            op: Some(op.to_owned()),
            value: Some(value),
            ..Default::default()
        };
        s.blkio_stats = Some(ContainerBlkioStats {
            io_service_bytes_recursive: Some(vec![
                entry("read", 4096),
                entry("Write", 512),
                entry("Read", 4),
                entry("total", 9999),
            ]),
            ..Default::default()
        });
        let m = measure(&s).unwrap();
        assert_eq!((m.net_rx_bytes, m.net_tx_bytes), (105, 11));
        assert_eq!((m.block_read_bytes, m.block_write_bytes), (4100, 512));
    }
}
