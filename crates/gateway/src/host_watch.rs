//! The host's temperature and disks against `notify.yaml`'s `host:` thresholds
//! (on by default: 80 °C, disks 90 % full), checked every minute or as set:
//! the thermal zones and the disks' sizes are read here, nothing asks the
//! Engine. Over a threshold, the notifier is told; it says it again at most
//! once per `repeat_after_minutes`. In the container deployment the gateway
//! sees the host's thermal zones (`/sys` is the host's) and, as `/`, the disk
//! that holds Docker's data, the one that fills up on a Pi.

use std::path::{Path, PathBuf};

use ops_core::thermal;
use tokio_util::sync::CancellationToken;

use crate::notify::{Event, EventKind, HostThresholds, Notifier};

/// Where Linux keeps its thermal zones.
const THERMAL_ROOT: &str = "/sys/class/thermal";

/// One disk's fill, as read.
#[derive(Debug, Clone, PartialEq)]
pub struct DiskUse {
    /// The mount point holding the path asked about.
    pub mount: PathBuf,
    pub total_bytes: u64,
    pub available_bytes: u64,
}

impl DiskUse {
    pub fn percent_used(&self) -> f64 {
        if self.total_bytes == 0 {
            return 0.0;
        }
        let used = self.total_bytes.saturating_sub(self.available_bytes);
        used as f64 * 100.0 / self.total_bytes as f64
    }
}

/// Checks every `host.every` until `shutdown`.
pub fn spawn(notifier: Notifier, shutdown: CancellationToken) {
    tokio::spawn(async move {
        loop {
            let host = notifier.config().host.clone();
            let readings = tokio::task::spawn_blocking({
                let host = host.clone();
                move || read(Path::new(THERMAL_ROOT), &host)
            })
            .await;
            if let Ok((celsius, disks)) = readings {
                for event in over_thresholds(&host, celsius, &disks) {
                    notifier.send(event);
                }
            }
            tokio::select! {
                () = tokio::time::sleep(host.every) => {}
                () = shutdown.cancelled() => return,
            }
        }
    });
}

/// The temperature (when there is a thermal zone and it is checked) and the
/// checked disks' use.
fn read(thermal_root: &Path, host: &HostThresholds) -> (Option<f64>, Vec<DiskUse>) {
    let celsius = host
        .temperature_celsius
        .and_then(|_| thermal::headline(&thermal::read_zones(thermal_root)));
    let disks = if host.disk_percent.is_some() {
        disks_holding(&host.disks)
    } else {
        Vec::new()
    };
    (celsius, disks)
}

/// For each path, the mounted disk holding it (the longest mount point that
/// contains it), each disk once.
fn disks_holding(paths: &[PathBuf]) -> Vec<DiskUse> {
    let Ok(disks) = sysinfo::Disks::new_with_refreshed_list() else {
        return Vec::new();
    };
    let mounted: Vec<DiskUse> = disks
        .iter()
        .map(|d| DiskUse {
            mount: d.mount_point().to_path_buf(),
            total_bytes: d.total_space(),
            available_bytes: d.available_space(),
        })
        .collect();
    let mut found: Vec<DiskUse> = Vec::new();
    for path in paths {
        let holder = mounted
            .iter()
            .filter(|d| d.total_bytes > 0 && path.starts_with(&d.mount))
            .max_by_key(|d| d.mount.components().count());
        if let Some(disk) = holder
            && !found.iter().any(|f| f.mount == disk.mount)
        {
            found.push(disk.clone());
        }
    }
    found
}

/// What is over its threshold, as notifications.
pub fn over_thresholds(
    host: &HostThresholds,
    celsius: Option<f64>,
    disks: &[DiskUse],
) -> Vec<Event> {
    let mut events = Vec::new();
    if let (Some(limit), Some(celsius)) = (host.temperature_celsius, celsius)
        && celsius >= limit
    {
        events.push(Event {
            kind: EventKind::HostTemperature,
            service: None,
            title: format!("The host is hot: {celsius:.1} °C"),
            message: format!(
                "The host's CPU is at {celsius:.1} °C (told from {limit:.0} °C). A Raspberry Pi slows itself down when it is this hot: check its fan, its case and the air around it."
            ),
            link: Some("/".to_owned()),
        });
    }
    if let Some(limit) = host.disk_percent {
        for disk in disks
            .iter()
            .filter(|d| d.percent_used() >= f64::from(limit))
        {
            let free_gib = disk.available_bytes as f64 / (1u64 << 30) as f64;
            events.push(Event {
                kind: EventKind::HostDisk,
                service: None,
                title: format!("Disk {} is {:.0} % full", disk.mount.display(), disk.percent_used()),
                message: format!(
                    "The disk at {} is {:.0} % full ({free_gib:.1} GiB free; told from {limit} %). Downloads and databases fail when it is full: remove old downloads or unused images (docker image prune).",
                    disk.mount.display(),
                    disk.percent_used()
                ),
                link: Some("/".to_owned()),
            });
        }
    }
    events
}

#[cfg(test)]
mod tests {
    use super::*;

    fn disk(mount: &str, total: u64, available: u64) -> DiskUse {
        DiskUse {
            mount: mount.into(),
            total_bytes: total,
            available_bytes: available,
        }
    }

    #[test]
    fn only_what_is_over_its_threshold_is_told() {
        let host = HostThresholds::default();
        let disks = [disk("/", 100, 5), disk("/mnt/media", 100, 50)];
        let events = over_thresholds(&host, Some(81.04), &disks);
        let kinds: Vec<EventKind> = events.iter().map(|e| e.kind).collect();
        assert_eq!(kinds, [EventKind::HostTemperature, EventKind::HostDisk]);
        assert_eq!(events[0].title, "The host is hot: 81.0 °C");
        assert_eq!(events[1].title, "Disk / is 95 % full");
        assert!(events[1].message.contains("docker image prune"));
        // Below the thresholds, or without a thermal zone: nothing.
        assert!(over_thresholds(&host, Some(79.9), &disks[1..]).is_empty());
        assert!(over_thresholds(&host, None, &[]).is_empty());
        // A check turned off is not made.
        let off = HostThresholds {
            temperature_celsius: None,
            disk_percent: None,
            ..HostThresholds::default()
        };
        assert!(over_thresholds(&off, Some(99.0), &disks).is_empty());
    }

    #[test]
    fn the_temperature_comes_from_the_thermal_zones() {
        let root = tempfile::tempdir().unwrap();
        let zone = root.path().join("thermal_zone0");
        std::fs::create_dir_all(&zone).unwrap();
        std::fs::write(zone.join("type"), "cpu-thermal\n").unwrap();
        std::fs::write(zone.join("temp"), "83500\n").unwrap();
        let host = HostThresholds {
            disk_percent: None,
            ..HostThresholds::default()
        };
        let (celsius, disks) = read(root.path(), &host);
        assert_eq!(celsius, Some(83.5));
        assert!(disks.is_empty());
        assert_eq!(over_thresholds(&host, celsius, &disks).len(), 1);
    }

    #[test]
    fn each_path_is_measured_on_the_disk_that_holds_it() {
        // The root file system exists on every machine these tests run on.
        let disks = disks_holding(&[PathBuf::from("/"), PathBuf::from("/")]);
        assert_eq!(disks.len(), 1, "{disks:?}");
        assert!(disks[0].total_bytes > 0, "{disks:?}");
        let used = disks[0].percent_used();
        assert!((0.0..=100.0).contains(&used), "{used}");
        assert_eq!(disk("/", 0, 0).percent_used(), 0.0);
    }
}
