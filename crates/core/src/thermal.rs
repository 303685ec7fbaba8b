//! Temperatures from the Linux thermal zones (`/sys/class/thermal/thermal_zone*/temp`,
//! millidegrees Celsius): the Raspberry Pi's `cpu-thermal` zone, or whatever the host has.
//! pi-health shows them; the gateway compares them with `notify.yaml`'s threshold.

use std::path::Path;

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Zone {
    /// The zone's `type` (e.g. `cpu-thermal`), or its directory name.
    pub zone: String,
    pub celsius: f64,
}

/// Every readable zone under `root` (normally `/sys/class/thermal`), sorted by name;
/// empty when the host has none (a VM, a container without /sys).
pub fn read_zones(root: &Path) -> Vec<Zone> {
    let Ok(entries) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    let mut zones: Vec<(String, Zone)> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("thermal_zone"))
        .filter_map(|entry| {
            let dir = entry.path();
            let raw = std::fs::read_to_string(dir.join("temp")).ok()?;
            let milli: f64 = raw.trim().parse().ok()?;
            let celsius = milli / 1000.0;
            // Sensors report nonsense (-273, 0 on some boards' idle zones); keep plausible ones.
            if !(-40.0..=150.0).contains(&celsius) || milli == 0.0 {
                return None;
            }
            let dir_name = entry.file_name().to_string_lossy().into_owned();
            let zone = std::fs::read_to_string(dir.join("type"))
                .map(|t| t.trim().to_owned())
                .ok()
                .filter(|t| !t.is_empty())
                .unwrap_or_else(|| dir_name.clone());
            Some((dir_name, Zone { zone, celsius }))
        })
        .collect();
    zones.sort_by_key(|(name, _)| natural(name));
    zones.into_iter().map(|(_, zone)| zone).collect()
}

/// `thermal_zone10` after `thermal_zone9`.
fn natural(name: &str) -> (usize, String) {
    let digits = name.trim_start_matches(|c: char| !c.is_ascii_digit());
    (digits.parse().unwrap_or(usize::MAX), name.to_owned())
}

/// The temperature to show: the CPU zone when there is one, else the hottest.
pub fn headline(zones: &[Zone]) -> Option<f64> {
    zones
        .iter()
        .find(|z| z.zone.to_lowercase().contains("cpu"))
        .or_else(|| zones.iter().max_by(|a, b| a.celsius.total_cmp(&b.celsius)))
        .map(|z| (z.celsius * 10.0).round() / 10.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zone(root: &Path, n: usize, kind: Option<&str>, temp: &str) {
        let dir = root.join(format!("thermal_zone{n}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("temp"), temp).unwrap();
        if let Some(kind) = kind {
            std::fs::write(dir.join("type"), format!("{kind}\n")).unwrap();
        }
    }

    #[test]
    fn reads_a_raspberry_pi_style_zone() {
        let dir = tempfile::tempdir().unwrap();
        zone(dir.path(), 0, Some("cpu-thermal"), "48312\n");
        zone(dir.path(), 10, Some("gpu"), "51000\n");
        zone(dir.path(), 2, None, "39000");
        zone(dir.path(), 3, Some("broken"), "garbage");
        zone(dir.path(), 4, Some("absent"), "-273000");
        std::fs::create_dir_all(dir.path().join("cooling_device0")).unwrap();
        let zones = read_zones(dir.path());
        let names: Vec<&str> = zones.iter().map(|z| z.zone.as_str()).collect();
        assert_eq!(names, ["cpu-thermal", "thermal_zone2", "gpu"]);
        assert_eq!(headline(&zones), Some(48.3));
        assert_eq!(
            headline(&zones[1..]),
            Some(51.0),
            "no CPU zone: the hottest"
        );
    }

    #[test]
    fn no_zones_means_not_available() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read_zones(dir.path()).is_empty());
        assert!(read_zones(&dir.path().join("missing")).is_empty());
        assert_eq!(headline(&[]), None);
    }
}
