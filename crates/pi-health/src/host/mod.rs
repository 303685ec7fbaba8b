//! Host statistics for the dashboard and the chat's system health: CPU, memory,
//! temperature, disks, network and uptime (`sysinfo`, plus the thermal zones).

pub(crate) mod format;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use sysinfo::{Disks, Networks, System};

use ops_core::thermal::{self, Zone};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct HostStats {
    pub(crate) hostname: String,
    pub(crate) os: String,
    pub(crate) uptime_seconds: u64,
    pub(crate) uptime: String,
    pub(crate) cpu: Cpu,
    pub(crate) memory: Memory,
    swap: Memory,
    pub(crate) temperature: Temperature,
    pub(crate) disks: Vec<Disk>,
    pub(crate) network: Vec<Interface>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Cpu {
    pub(crate) percent: f64,
    pub(crate) cores: usize,
    /// Load averages over 1, 5 and 15 minutes.
    pub(crate) load: [f64; 3],
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Memory {
    pub(crate) total_bytes: u64,
    used_bytes: u64,
    pub(crate) percent: f64,
    pub(crate) text: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Temperature {
    /// The CPU zone's temperature (or the hottest zone's); `None` when the host has none.
    pub(crate) celsius: Option<f64>,
    /// "48.3 °C" or "not available".
    pub(crate) text: String,
    pub(crate) zones: Vec<Zone>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Disk {
    pub(crate) mount: String,
    filesystem: String,
    pub(crate) total_bytes: u64,
    available_bytes: u64,
    pub(crate) percent_used: f64,
    pub(crate) text: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Interface {
    interface: String,
    rx_bytes: u64,
    tx_bytes: u64,
    rx_bytes_per_sec: u64,
    tx_bytes_per_sec: u64,
}

/// The name of the machine pi-health runs on (the only one whose hardware it sees).
pub(crate) fn this_machine() -> String {
    System::host_name().unwrap_or_else(|_| "unknown".into())
}

/// What a model is told of the host: the figures the chat shows, as JSON.
pub(crate) fn for_model(stats: &HostStats) -> serde_json::Value {
    serde_json::json!({
        "hostname": stats.hostname,
        "uptime": stats.uptime,
        "cpu_percent": (stats.cpu.percent * 10.0).round() / 10.0,
        "cpu_cores": stats.cpu.cores,
        "load_average": stats.cpu.load,
        "memory": stats.memory.text,
        "temperature": stats.temperature.text,
        "disks": stats.disks.iter().take(4).map(|d| serde_json::json!({
            "mount": d.mount, "usage": d.text, "percent_used": d.percent_used.round(),
        })).collect::<Vec<_>>(),
    })
}

/// Keeps the samplers between calls: CPU usage and network rates are differences
/// between two samples.
#[derive(Clone)]
pub struct HostProbe {
    inner: Arc<Mutex<Samplers>>,
    thermal_root: PathBuf,
}

struct Samplers {
    system: Option<System>,
    networks: Option<Networks>,
    last: Option<Instant>,
}

const MAX_DISKS: usize = 16;
const MAX_INTERFACES: usize = 16;
/// Filesystems that are not storage a person cares about.
const PSEUDO_FS: &[&str] = &[
    "overlay",
    "tmpfs",
    "devtmpfs",
    "squashfs",
    "proc",
    "sysfs",
    "cgroup",
    "cgroup2",
    "nsfs",
    "ramfs",
    "autofs",
    "devpts",
    "mqueue",
    "fuse.lxcfs",
    "efivarfs",
    "tracefs",
    "debugfs",
];

impl Default for HostProbe {
    fn default() -> Self {
        Self::new("/sys/class/thermal")
    }
}

fn percent(part: u64, total: u64) -> f64 {
    if total == 0 {
        0.0
    } else {
        (part as f64 * 1000.0 / total as f64).round() / 10.0
    }
}

fn memory(used: u64, total: u64) -> Memory {
    Memory {
        total_bytes: total,
        used_bytes: used,
        percent: percent(used, total),
        text: format!("{} of {} used", format::bytes(used), format::bytes(total)),
    }
}

impl HostProbe {
    /// `thermal_root` is normally `/sys/class/thermal`.
    pub fn new(thermal_root: impl Into<PathBuf>) -> Self {
        Self {
            inner: Arc::new(Mutex::new(Samplers {
                system: System::new().ok(),
                networks: Networks::new_with_refreshed_list().ok(),
                last: None,
            })),
            thermal_root: thermal_root.into(),
        }
    }

    /// Samples the host now (blocking for ~0.2 s on the first call, for CPU usage).
    fn sample(&self) -> HostStats {
        let mut samplers = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let first = samplers.last.is_none();
        if let Some(system) = samplers.system.as_mut() {
            system.refresh_cpu_usage();
            if first {
                std::thread::sleep(
                    sysinfo::MINIMUM_CPU_UPDATE_INTERVAL.max(Duration::from_millis(200)),
                );
                system.refresh_cpu_usage();
            }
            system.refresh_memory();
        }
        let now = Instant::now();
        let elapsed = samplers
            .last
            .map(|t| now.duration_since(t).as_secs_f64())
            .filter(|s| *s > 0.05);
        samplers.last = Some(now);
        let (cpu, memory_, swap) = match &samplers.system {
            Some(s) => (
                Cpu {
                    percent: (f64::from(s.global_cpu_usage()) * 10.0).round() / 10.0,
                    cores: s.cpus().len(),
                    load: System::load_average()
                        .map(|l| [l.one, l.five, l.fifteen])
                        .unwrap_or_default(),
                },
                memory(s.used_memory(), s.total_memory()),
                memory(s.used_swap(), s.total_swap()),
            ),
            None => (
                Cpu {
                    percent: 0.0,
                    cores: 0,
                    load: [0.0; 3],
                },
                memory(0, 0),
                memory(0, 0),
            ),
        };
        let network = samplers
            .networks
            .as_mut()
            .map(|n| interfaces(n, elapsed))
            .unwrap_or_default();
        drop(samplers);

        let zones = thermal::read_zones(&self.thermal_root);
        let celsius = thermal::headline(&zones);
        let uptime_seconds = System::uptime().unwrap_or_default();
        HostStats {
            hostname: System::host_name().unwrap_or_else(|_| "unknown".into()),
            os: System::long_os_version().unwrap_or_else(|_| "unknown".into()),
            uptime_seconds,
            uptime: format::duration(uptime_seconds),
            cpu,
            memory: memory_,
            swap,
            temperature: Temperature {
                celsius,
                text: celsius
                    .map(|c| format!("{c:.1} °C"))
                    .unwrap_or_else(|| "not available".into()),
                zones,
            },
            disks: disks(),
            network,
        }
    }

    /// [`Self::sample`] off the async runtime.
    pub(crate) async fn sample_async(&self) -> HostStats {
        let probe = self.clone();
        match tokio::task::spawn_blocking(move || probe.sample()).await {
            Ok(stats) => stats,
            Err(_) => self.sample(),
        }
    }
}

fn disks() -> Vec<Disk> {
    let Ok(disks) = Disks::new_with_refreshed_list() else {
        return Vec::new();
    };
    let mut seen = std::collections::HashSet::new();
    let mut out: Vec<Disk> = disks
        .iter()
        .filter(|d| {
            let fs = d.file_system().to_string_lossy();
            let mount = d.mount_point().to_string_lossy();
            d.total_space() > 0
                && !PSEUDO_FS.contains(&fs.as_ref())
                && fs != "fuse.fuse-overlayfs"
                && !["/proc", "/sys", "/dev", "/run", "/snap", "/etc/"]
                    .iter()
                    .any(|p| mount.starts_with(p))
                // Container layers, not storage.
                && !["/var/lib/docker/", "/var/lib/containerd/"]
                    .iter()
                    .any(|p| mount.contains(p))
        })
        // One line per device (bind mounts repeat it).
        .filter(|d| seen.insert(d.name().to_os_string()))
        .map(|d| {
            let used = d.total_space().saturating_sub(d.available_space());
            Disk {
                mount: d.mount_point().to_string_lossy().into_owned(),
                filesystem: d.file_system().to_string_lossy().into_owned(),
                total_bytes: d.total_space(),
                available_bytes: d.available_space(),
                percent_used: percent(used, d.total_space()),
                text: format!(
                    "{} free of {}",
                    format::bytes(d.available_space()),
                    format::bytes(d.total_space())
                ),
            }
        })
        .collect();
    out.sort_by(|a, b| a.mount.cmp(&b.mount));
    out.truncate(MAX_DISKS);
    out
}

fn interfaces(networks: &mut Networks, elapsed: Option<f64>) -> Vec<Interface> {
    networks.refresh(true);
    let mut out: Vec<Interface> = networks
        .iter()
        .map(|(name, data)| (name.to_string_lossy().into_owned(), data))
        .filter(|(name, _)| {
            name != "lo"
                && !["veth", "br-", "docker"]
                    .iter()
                    .any(|p| name.starts_with(p))
        })
        .map(|(interface, data)| {
            let rate = |delta: u64| elapsed.map(|s| (delta as f64 / s) as u64).unwrap_or(0);
            Interface {
                interface,
                rx_bytes: data.total_received(),
                tx_bytes: data.total_transmitted(),
                rx_bytes_per_sec: rate(data.received()),
                tx_bytes_per_sec: rate(data.transmitted()),
            }
        })
        .collect();
    out.sort_by(|a, b| a.interface.cmp(&b.interface));
    out.truncate(MAX_INTERFACES);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_this_host() {
        let thermal = tempfile::tempdir().unwrap();
        let probe = HostProbe::new(thermal.path());
        let stats = probe.sample();
        assert!(stats.memory.total_bytes > 0, "{stats:?}");
        assert!(stats.cpu.cores > 0);
        assert!((0.0..=100.0).contains(&stats.cpu.percent));
        assert!(stats.uptime_seconds > 0);
        assert_eq!(stats.temperature.text, "not available");
        assert_eq!(stats.temperature.celsius, None);
        let again = probe.sample();
        assert!(again.memory.total_bytes > 0);
        assert!(stats.disks.iter().all(|d| d.percent_used <= 100.0));
    }

    #[test]
    fn a_thermal_zone_gives_a_temperature() {
        let thermal = tempfile::tempdir().unwrap();
        let zone = thermal.path().join("thermal_zone0");
        std::fs::create_dir(&zone).unwrap();
        std::fs::write(zone.join("temp"), "51234").unwrap();
        std::fs::write(zone.join("type"), "cpu-thermal").unwrap();
        let stats = HostProbe::new(thermal.path()).sample();
        assert_eq!(stats.temperature.celsius, Some(51.2));
        assert_eq!(stats.temperature.text, "51.2 °C");
    }
}
